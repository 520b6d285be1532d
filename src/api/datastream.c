/*
 * datastream.c — the environment and the transformations of the DataStream
 * API: each call adds a node (and its input edges) to the environment's
 * logical graph.  Errors are sticky: the first one is kept in env->error and
 * every later call on a NULL handle just returns NULL (see datastream.h).
 */
#include "api/api.h"

#include <stdio.h>
#include <string.h>

#include "connectors/connector.h"

int sp_api_fail(spate_env_t *env, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (env->error.code == 0) sp_error_setv(&env->error, code, fmt, ap);
    va_end(ap);
    va_start(ap, fmt);
    char msg[SP_ERROR_MSG_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sp_set_error(code, "%s", msg);
    return code;
}

spate_env_t *spate_env_create(void)
{
    spate_env_t *env = sp_xcalloc(1, sizeof *env);
    sp_graph_init(&env->graph);
    env->config = sp_config_create();
    return env;
}

void spate_env_destroy(spate_env_t *env)
{
    if (!env) return;
    for (spate_stream_t *h = env->handles; h;) {
        spate_stream_t *next = h->next_handle;
        free(h->inputs);
        free(h);
        h = next;
    }
    for (int i = 0; i < env->nconnected; i++) free(env->connected[i]);
    free(env->connected);
    for (int i = 0; i < env->nfield_keys; i++) free(env->field_keys[i]);
    free(env->field_keys);
    for (int i = 0; i < env->nretired; i++) spate_schema_release(env->retired[i]);
    free(env->retired);
    for (int i = 0; i < env->nowned; i++) free(env->owned[i]);
    free(env->owned);
    sp_graph_fini(&env->graph);
    sp_config_destroy(env->config);
    free(env);
}

void spate_env_set_clock(spate_env_t *env, spate_clock_t *clock)
{
    env->clock = clock;
}

int spate_env_set_parallelism(spate_env_t *env, int p)
{
    char v[16];
    snprintf(v, sizeof v, "%d", p);
    return spate_env_set_config(env, "parallelism.default", v);
}

int spate_env_set_max_parallelism(spate_env_t *env, int p)
{
    char v[16];
    snprintf(v, sizeof v, "%d", p);
    return spate_env_set_config(env, "pipeline.max-parallelism", v);
}

int spate_env_set_config(spate_env_t *env, const char *key, const char *value)
{
    int rc = sp_config_set(env->config, key, value);
    if (rc) sp_api_fail(env, rc, "%s", spate_last_error());
    return rc;
}

const char *spate_env_get_config(const spate_env_t *env, const char *key)
{
    return sp_config_get(env->config, key);
}

const char *spate_env_error(const spate_env_t *env)
{
    return env->error.code ? env->error.message : "";
}

/* Effective parallelism of a node, as the runtime resolves it. */
static int node_parallelism(const spate_env_t *env, const sp_node_t *n)
{
    if (n->source && !n->source->parallel) return 1;
    return n->parallelism ? n->parallelism : (int)sp_config_get_int(env->config, "parallelism.default");
}

/*
 * Projection push-down, as Flink's SupportsProjectionPushDown: a projection
 * that directly follows a source (its only consumer, same parallelism, a
 * forward edge) is handed to the source when the connector supports it, so
 * the source produces only those columns.  The projection node stays in the
 * graph (ids and uids do not change) and passes batches on untouched.
 */
static void push_projections(spate_env_t *env)
{
    sp_graph_t *g = &env->graph;
    for (int i = 0; i < g->nedges; i++) {
        sp_edge_t *e = &g->edges[i];
        sp_node_t *src = g->nodes[e->from], *p = g->nodes[e->to];
        if (p->vt != &sp_project_op || ((sp_project_spec_t *)p->spec)->pushed_down || !src->source ||
            !src->source->vt->project)
            continue;
        if (e->part != SP_PART_DEFAULT && e->part != SP_PART_FORWARD) continue;
        if (node_parallelism(env, src) != node_parallelism(env, p) || src->chaining_disabled ||
            p->chaining_disabled)
            continue;
        int outs = 0, ins = 0;
        for (int k = 0; k < g->nedges; k++) {
            outs += g->edges[k].from == src->id;
            ins += g->edges[k].to == p->id;
        }
        if (outs != 1 || ins != 1) continue;
        sp_project_spec_t *ps = p->spec;
        void *spec = src->source->vt->project(src->source->spec, ps->idx, ps->n);
        if (!spec) continue;
        if (src->source->vt->destroy) src->source->vt->destroy(src->source->spec);
        src->source->spec = spec;
        /* handles may still point at the old schema: keep it alive with the environment */
        env->retired = sp_xrealloc(env->retired, sizeof *env->retired * (size_t)(env->nretired + 2));
        env->retired[env->nretired++] = src->source->schema;
        env->retired[env->nretired++] = src->out_schema;
        src->source->schema = spate_schema_acquire(ps->schema);
        src->out_schema = spate_schema_acquire(ps->schema);
        for (int k = 0; k < ps->n; k++) ps->idx[k] = k;
        ps->pushed_down = true;
        char *name = sp_xasprintf("%s (pushed into %s)", p->name, src->name);
        free(p->name);
        p->name = name;
    }
}

size_t spate_env_describe(spate_env_t *env, char *buf, size_t cap)
{
    return sp_graph_describe(&env->graph, (int)sp_config_get_int(env->config, "parallelism.default"), buf,
                             cap);
}

/* ---- handles ---- */

static spate_stream_t *new_handle(spate_env_t *env, int self, const spate_schema_t *schema, size_t size)
{
    spate_stream_t *h = sp_xcalloc(1, size);
    h->env = env;
    h->self = self;
    h->schema = schema;
    h->ninputs = 1;
    h->inputs = sp_xcalloc(1, sizeof *h->inputs);
    h->inputs[0].node = self;
    h->inputs[0].part = SP_PART_DEFAULT;
    h->next_handle = env->handles;
    env->handles = h;
    return h;
}

static spate_stream_t *copy_handle(const spate_stream_t *s, size_t size)
{
    spate_stream_t *h = new_handle(s->env, s->self, s->schema, size);
    h->ninputs = s->ninputs;
    h->inputs = sp_xrealloc(h->inputs, sizeof *h->inputs * (size_t)s->ninputs);
    memcpy(h->inputs, s->inputs, sizeof *h->inputs * (size_t)s->ninputs);
    return h;
}

/* Derives a stable uid from the node's name and position (overridable with spate_stream_set_uid). */
static void default_uid(sp_node_t *n)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%016llx",
             (unsigned long long)(sp_hash_bytes(n->name, strlen(n->name)) ^
                                  (uint64_t)n->id * 0x9E3779B97F4A7C15ull));
    n->uid = sp_xstrdup(buf);
}

static sp_node_t *add_node(spate_env_t *env, const char *name, const char *fallback)
{
    sp_node_t *n = sp_graph_add_node(&env->graph, name && *name ? name : fallback);
    default_uid(n);
    return n;
}

/* Connects every input of handle s to node `to` at logical input `input`. */
static void connect_inputs(spate_env_t *env, const spate_stream_t *s, int to, int input)
{
    for (int i = 0; i < s->ninputs; i++) {
        const sp_stream_input_t *in = &s->inputs[i];
        sp_edge_t *e = sp_graph_add_edge(&env->graph, in->node, to, input);
        e->tag = in->tag;
        e->part = in->part;
        e->key = in->key;
        e->custom_fn = in->custom_fn;
        e->custom_ctx = in->custom_ctx;
    }
}

static bool usable(const spate_stream_t *s)
{
    return s && s->env && !s->env->graph.nodes[s->self]->is_sink;
}

#define CHECK_STREAM(s, what)                                                                                \
    do {                                                                                                     \
        if (!(s)) {                                                                                          \
            sp_set_error(SPATE_EINVAL, "%s: NULL stream (an earlier call failed)", what);                    \
            return NULL;                                                                                     \
        }                                                                                                    \
        if (!usable(s)) {                                                                                    \
            sp_api_fail((s)->env, SPATE_EINVAL, "%s: a sink has no output stream", what);                    \
            return NULL;                                                                                     \
        }                                                                                                    \
    } while (0)

const spate_schema_t *spate_stream_schema(const spate_stream_t *s)
{
    if (!s || s->env->graph.nodes[s->self]->is_sink) return NULL; /* a sink carries no rows on */
    return s->schema;
}

spate_stream_t *spate_env_add_source(spate_env_t *env, spate_source_t *source, const char *name)
{
    if (!env) {
        spate_source_destroy(source);
        return NULL;
    }
    if (!source) {
        sp_api_fail(env, SPATE_EINVAL, "source '%s': %s", name ? name : "?",
                    *spate_last_error() ? spate_last_error() : "NULL source");
        return NULL;
    }
    sp_node_t *n = add_node(env, name, "Source");
    n->source = source;
    n->out_schema = spate_schema_acquire(source->schema);
    if (!source->parallel) n->max_parallelism = 1;
    return new_handle(env, n->id, n->out_schema, sizeof(spate_stream_t));
}

spate_stream_t *sp_api_add_operator(spate_stream_t *s, const char *name, const char *fallback,
                                    const sp_op_vtable_t *vt, void *spec, const spate_schema_t *out_schema)
{
    spate_env_t *env = s->env;
    sp_node_t *n = add_node(env, name, fallback);
    n->vt = vt;
    n->spec = spec;
    n->ninputs = 1;
    n->out_schema = spate_schema_acquire(out_schema ? out_schema : s->schema);
    connect_inputs(env, s, n->id, 0);
    return new_handle(env, n->id, n->out_schema, sizeof(spate_stream_t));
}

static spate_stream_t *rowfn(spate_stream_t *s, const char *name, const char *fallback, sp_rowfn_kind_t kind,
                             spate_map_fn fn, void *ctx, const spate_schema_t *out_schema)
{
    CHECK_STREAM(s, fallback);
    if (!fn) {
        sp_api_fail(s->env, SPATE_EINVAL, "%s '%s': NULL function", fallback, name ? name : "");
        return NULL;
    }
    sp_rowfn_spec_t *spec = sp_xcalloc(1, sizeof *spec);
    spec->kind = kind;
    spec->fn[0] = fn;
    spec->ctx = ctx;
    return sp_api_add_operator(s, name, fallback, &sp_rowfn_op, spec, out_schema);
}

spate_stream_t *spate_stream_map(spate_stream_t *s, const char *name, spate_map_fn fn, void *ctx,
                                 const spate_schema_t *out_schema)
{
    return rowfn(s, name, "Map", SP_ROWFN_MAP, fn, ctx, out_schema);
}

spate_stream_t *spate_stream_flat_map(spate_stream_t *s, const char *name, spate_flat_map_fn fn, void *ctx,
                                      const spate_schema_t *out_schema)
{
    return rowfn(s, name, "FlatMap", SP_ROWFN_FLAT_MAP, fn, ctx, out_schema);
}

spate_stream_t *spate_stream_filter(spate_stream_t *s, const char *name, spate_filter_fn fn, void *ctx)
{
    CHECK_STREAM(s, "Filter");
    if (!fn) {
        sp_api_fail(s->env, SPATE_EINVAL, "filter '%s': NULL function", name ? name : "");
        return NULL;
    }
    sp_rowfn_spec_t *spec = sp_xcalloc(1, sizeof *spec);
    spec->kind = SP_ROWFN_FILTER;
    spec->filter = fn;
    spec->ctx = ctx;
    return sp_api_add_operator(s, name, "Filter", &sp_rowfn_op, spec, NULL);
}

spate_stream_t *spate_stream_process(spate_stream_t *s, const char *name, const spate_process_function_t *fn,
                                     const spate_schema_t *out_schema)
{
    CHECK_STREAM(s, "Process");
    if (!fn || !fn->process) {
        sp_api_fail(s->env, SPATE_EINVAL, "process '%s': NULL process function", name ? name : "");
        return NULL;
    }
    sp_rowfn_spec_t *spec = sp_xcalloc(1, sizeof *spec);
    spec->kind = SP_ROWFN_PROCESS;
    spec->process = *fn;
    return sp_api_add_operator(s, name, "Process", &sp_rowfn_op, spec, out_schema);
}

spate_stream_t *spate_stream_project(spate_stream_t *s, const char *fields)
{
    CHECK_STREAM(s, "Project");
    sp_project_spec_t *spec = sp_xcalloc(1, sizeof *spec);
    int n = sp_schema_project(s->schema, fields ? fields : "", &spec->schema, spec->idx,
                              (int)SP_ARRAY_LEN(spec->idx));
    if (n < 0) {
        free(spec);
        sp_api_fail(s->env, SPATE_EINVAL, "project: %s", spate_last_error());
        return NULL;
    }
    spec->n = n;
    char name[256];
    snprintf(name, sizeof name, "Project(%s)", fields);
    return sp_api_add_operator(s, name, "Project", &sp_project_op, spec, spec->schema);
}

/* ---- keys and keyed operations ---- */

static spate_keyed_t *keyed(spate_stream_t *s, spate_key_fn fn, void *ctx)
{
    spate_keyed_t *k = (spate_keyed_t *)copy_handle(s, sizeof(spate_keyed_t));
    for (int i = 0; i < k->s.ninputs; i++) {
        k->s.inputs[i].part = SP_PART_HASH;
        k->s.inputs[i].key.fn = fn;
        k->s.inputs[i].key.ctx = ctx;
    }
    return k;
}

spate_keyed_t *spate_stream_key_by(spate_stream_t *s, spate_key_fn fn, void *ctx)
{
    CHECK_STREAM(s, "key_by");
    if (!fn) {
        sp_api_fail(s->env, SPATE_EINVAL, "key_by: NULL key selector");
        return NULL;
    }
    return keyed(s, fn, ctx);
}

spate_keyed_t *spate_stream_key_by_field(spate_stream_t *s, const char *fields)
{
    CHECK_STREAM(s, "key_by");
    sp_field_key_t *fk = sp_xcalloc(1, sizeof *fk);
    int n =
        sp_schema_project(s->schema, fields ? fields : "", NULL, fk->fields, (int)SP_ARRAY_LEN(fk->fields));
    if (n < 0) {
        free(fk);
        sp_api_fail(s->env, SPATE_EINVAL, "key_by: %s", spate_last_error());
        return NULL;
    }
    fk->n = n;
    spate_env_t *env = s->env;
    env->field_keys = sp_xrealloc(env->field_keys, sizeof *env->field_keys * (size_t)(env->nfield_keys + 1));
    env->field_keys[env->nfield_keys++] = fk;
    return keyed(s, sp_field_key_fn, fk);
}

static spate_stream_t *reduce_node(spate_keyed_t *k, const char *name, spate_reduce_fn fn, void *ctx,
                                   int sum_field)
{
    sp_reduce_spec_t *spec = sp_xcalloc(1, sizeof *spec);
    spec->key = k->s.inputs[0].key;
    spec->fn = fn;
    spec->ctx = ctx;
    spec->sum_field = sum_field;
    return sp_api_add_operator(&k->s, name, "Reduce", &sp_reduce_op, spec, NULL);
}

spate_stream_t *spate_keyed_reduce(spate_keyed_t *k, const char *name, spate_reduce_fn fn, void *ctx)
{
    if (!k) return NULL;
    CHECK_STREAM(&k->s, "reduce");
    if (!fn) {
        sp_api_fail(k->s.env, SPATE_EINVAL, "reduce '%s': NULL function", name ? name : "");
        return NULL;
    }
    return reduce_node(k, name, fn, ctx, -1);
}

spate_stream_t *spate_keyed_sum(spate_keyed_t *k, const char *field)
{
    if (!k) return NULL;
    CHECK_STREAM(&k->s, "sum");
    int f = spate_schema_field_index(k->s.schema, field ? field : "");
    if (f < 0) {
        sp_api_fail(k->s.env, SPATE_EINVAL, "sum: no field named '%s'", field ? field : "(null)");
        return NULL;
    }
    spate_type_id_t t = spate_schema_field_type(k->s.schema, f);
    if (t != SPATE_TYPE_INT && t != SPATE_TYPE_BIGINT && t != SPATE_TYPE_DOUBLE && t != SPATE_TYPE_DECIMAL) {
        sp_api_fail(k->s.env, SPATE_EINVAL, "sum: field '%s' is %s, not numeric", field, sp_type_name(t));
        return NULL;
    }
    char name[128];
    snprintf(name, sizeof name, "Sum(%s)", field);
    return reduce_node(k, name, sp_sum_reduce_fn, NULL, f);
}

/* ---- union and connect ---- */

spate_stream_t *spate_stream_union(spate_stream_t *a, spate_stream_t *b)
{
    CHECK_STREAM(a, "union");
    CHECK_STREAM(b, "union");
    if (a->env != b->env) {
        sp_api_fail(a->env, SPATE_EINVAL, "union: streams of different environments");
        return NULL;
    }
    if (!spate_schema_equal(a->schema, b->schema)) {
        sp_api_fail(a->env, SPATE_EINVAL, "union: the streams' schemas differ");
        return NULL;
    }
    spate_stream_t *h = copy_handle(a, sizeof(spate_stream_t));
    h->inputs = sp_xrealloc(h->inputs, sizeof *h->inputs * (size_t)(a->ninputs + b->ninputs));
    memcpy(h->inputs + a->ninputs, b->inputs, sizeof *h->inputs * (size_t)b->ninputs);
    h->ninputs = a->ninputs + b->ninputs;
    return h;
}

spate_connected_t *spate_stream_connect(spate_stream_t *a, spate_stream_t *b)
{
    CHECK_STREAM(a, "connect");
    CHECK_STREAM(b, "connect");
    spate_env_t *env = a->env;
    spate_connected_t *c = sp_xcalloc(1, sizeof *c);
    c->a = a;
    c->b = b;
    env->connected = sp_xrealloc(env->connected, sizeof *env->connected * (size_t)(env->nconnected + 1));
    env->connected[env->nconnected++] = c;
    return c;
}

/* A node fed by both inputs of a connected stream (input 0 and 1). */
spate_stream_t *sp_api_two_input(spate_connected_t *c, const char *name, const char *fallback,
                                 const sp_op_vtable_t *vt, void *spec, const spate_schema_t *out_schema)
{
    spate_env_t *env = c->a->env;
    sp_node_t *n = add_node(env, name, fallback);
    n->vt = vt;
    n->spec = spec;
    n->ninputs = 2;
    n->out_schema = spate_schema_acquire(out_schema);
    connect_inputs(env, c->a, n->id, 0);
    connect_inputs(env, c->b, n->id, 1);
    return new_handle(env, n->id, n->out_schema, sizeof(spate_stream_t));
}

static spate_stream_t *co_rowfn(spate_connected_t *c, const char *name, sp_rowfn_kind_t kind, spate_map_fn f1,
                                spate_map_fn f2, void *ctx, const spate_schema_t *out_schema)
{
    if (!c) return NULL;
    spate_env_t *env = c->a->env;
    if (!f1 || !f2 || !out_schema) {
        sp_api_fail(env, SPATE_EINVAL, "co-function '%s': needs two functions and an output schema",
                    name ? name : "");
        return NULL;
    }
    sp_rowfn_spec_t *spec = sp_xcalloc(1, sizeof *spec);
    spec->kind = kind;
    spec->fn[0] = f1;
    spec->fn[1] = f2;
    spec->ctx = ctx;
    return sp_api_two_input(c, name, kind == SP_ROWFN_MAP ? "CoMap" : "CoFlatMap", &sp_rowfn_op, spec,
                            out_schema);
}

spate_stream_t *spate_connected_process(spate_connected_t *c, const char *name,
                                        const spate_process_function_t *fn, const spate_schema_t *out_schema)
{
    if (!c) return NULL;
    spate_env_t *env = c->a->env;
    if (!fn || !fn->process || !fn->process2 || !out_schema) {
        sp_api_fail(env, SPATE_EINVAL, "co-process '%s': needs process, process2 and an output schema",
                    name ? name : "");
        return NULL;
    }
    sp_rowfn_spec_t *spec = sp_xcalloc(1, sizeof *spec);
    spec->kind = SP_ROWFN_PROCESS;
    spec->process = *fn;
    return sp_api_two_input(c, name, "CoProcess", &sp_rowfn_op, spec, out_schema);
}

spate_stream_t *spate_connected_map(spate_connected_t *c, const char *name, spate_map_fn fn1,
                                    spate_map_fn fn2, void *ctx, const spate_schema_t *out_schema)
{
    return co_rowfn(c, name, SP_ROWFN_MAP, fn1, fn2, ctx, out_schema);
}

spate_stream_t *spate_connected_flat_map(spate_connected_t *c, const char *name, spate_flat_map_fn fn1,
                                         spate_flat_map_fn fn2, void *ctx, const spate_schema_t *out_schema)
{
    return co_rowfn(c, name, SP_ROWFN_FLAT_MAP, fn1, fn2, ctx, out_schema);
}

/* ---- partitioning ---- */

static spate_stream_t *partitioned(spate_stream_t *s, sp_part_kind_t kind, spate_partition_fn fn, void *ctx)
{
    CHECK_STREAM(s, sp_part_name(kind));
    spate_stream_t *h = copy_handle(s, sizeof(spate_stream_t));
    for (int i = 0; i < h->ninputs; i++) {
        h->inputs[i].part = kind;
        h->inputs[i].custom_fn = fn;
        h->inputs[i].custom_ctx = ctx;
    }
    return h;
}

spate_stream_t *spate_stream_forward(spate_stream_t *s)
{
    return partitioned(s, SP_PART_FORWARD, NULL, NULL);
}

spate_stream_t *spate_stream_rebalance(spate_stream_t *s)
{
    return partitioned(s, SP_PART_REBALANCE, NULL, NULL);
}

spate_stream_t *spate_stream_rescale(spate_stream_t *s)
{
    return partitioned(s, SP_PART_RESCALE, NULL, NULL);
}

spate_stream_t *spate_stream_broadcast(spate_stream_t *s)
{
    return partitioned(s, SP_PART_BROADCAST, NULL, NULL);
}

spate_stream_t *spate_stream_partition_custom(spate_stream_t *s, spate_partition_fn fn, void *ctx)
{
    if (s && !fn) {
        sp_api_fail(s->env, SPATE_EINVAL, "partition_custom: NULL partition function");
        return NULL;
    }
    return partitioned(s, SP_PART_CUSTOM, fn, ctx);
}

/* ---- settings ---- */

void sp_api_own(spate_env_t *env, void *p)
{
    env->owned = sp_xrealloc(env->owned, sizeof *env->owned * (size_t)(env->nowned + 1));
    env->owned[env->nowned++] = p;
}

spate_stream_t *sp_api_side_output(spate_stream_t *s, int tag, const spate_schema_t *schema)
{
    spate_stream_t *h = new_handle(s->env, s->self, schema, sizeof(spate_stream_t));
    h->inputs[0].tag = tag;
    return h;
}

spate_stream_t *spate_stream_side_output(spate_stream_t *s, int tag, const spate_schema_t *schema)
{
    CHECK_STREAM(s, "side output");
    sp_node_t *n = s->env->graph.nodes[s->self];
    if (tag < 1 || tag > SP_MAX_SIDE_OUTPUTS || !schema) {
        sp_api_fail(s->env, SPATE_EINVAL, "side output of '%s': tag must be 1..%d and the schema given",
                    n->name, SP_MAX_SIDE_OUTPUTS);
        return NULL;
    }
    if (n->side_schema[tag] && !spate_schema_equal(n->side_schema[tag], schema)) {
        sp_api_fail(s->env, SPATE_EINVAL, "side output %d of '%s' was declared with another schema", tag,
                    n->name);
        return NULL;
    }
    if (!n->side_schema[tag]) n->side_schema[tag] = spate_schema_acquire(schema);
    return sp_api_side_output(s, tag, n->side_schema[tag]);
}

void sp_api_same_parallelism(spate_stream_t *s, const spate_stream_t *like)
{
    s->env->graph.nodes[s->self]->parallelism = like->env->graph.nodes[like->self]->parallelism;
}

spate_stream_t *spate_stream_set_parallelism(spate_stream_t *s, int p)
{
    if (!s) return NULL;
    sp_node_t *n = s->env->graph.nodes[s->self];
    if (p < 1) {
        sp_api_fail(s->env, SPATE_EINVAL, "operator '%s': parallelism must be >= 1, not %d", n->name, p);
        return NULL;
    }
    if (n->max_parallelism == 1 && p > 1) {
        sp_api_fail(s->env, SPATE_EINVAL, "operator '%s' is not parallel: parallelism must be 1", n->name);
        return NULL;
    }
    n->parallelism = p;
    return s;
}

spate_stream_t *spate_stream_set_uid(spate_stream_t *s, const char *uid)
{
    if (!s) return NULL;
    if (!uid || !*uid) {
        sp_api_fail(s->env, SPATE_EINVAL, "set_uid: empty uid");
        return NULL;
    }
    sp_graph_t *g = &s->env->graph;
    for (int i = 0; i < g->nnodes; i++)
        if (i != s->self && g->nodes[i]->uid && strcmp(g->nodes[i]->uid, uid) == 0) {
            sp_api_fail(s->env, SPATE_EINVAL, "uid '%s' is used by two operators", uid);
            return NULL;
        }
    sp_node_t *n = g->nodes[s->self];
    free(n->uid);
    n->uid = sp_xstrdup(uid);
    return s;
}

spate_stream_t *spate_stream_disable_chaining(spate_stream_t *s)
{
    if (!s) return NULL;
    s->env->graph.nodes[s->self]->chaining_disabled = true;
    return s;
}

spate_stream_t *spate_stream_sink(spate_stream_t *s, spate_sink_t *sink, const char *name)
{
    if (!s) {
        spate_sink_destroy(sink);
        return NULL;
    }
    if (!sink) {
        sp_api_fail(s->env, SPATE_EINVAL, "sink '%s': %s", name ? name : "?",
                    *spate_last_error() ? spate_last_error() : "NULL sink");
        return NULL;
    }
    if (!usable(s)) {
        spate_sink_destroy(sink);
        sp_api_fail(s->env, SPATE_EINVAL, "sink: a sink has no output stream");
        return NULL;
    }
    spate_stream_t *h = sp_api_add_operator(s, name, "Sink", &sp_sink_op, sink, NULL);
    sp_node_t *n = s->env->graph.nodes[h->self];
    spate_schema_release(n->out_schema);
    n->out_schema = NULL;
    n->is_sink = true;
    return h;
}

/* ---- execution ---- */

int spate_env_start(spate_env_t *env, const char *job_name, spate_job_t **job)
{
    *job = NULL;
    if (env->error.code) return env->error.code;
    if (env->executed) return sp_api_fail(env, SPATE_ESTATE, "this environment already ran its job");
    push_projections(env);
    const char *name = sp_config_get(env->config, "pipeline.name");
    if (!*name) name = job_name ? job_name : "job";
    int rc = sp_job_start(&env->graph, env->config, env->clock, name, job, &env->error);
    if (rc) return rc;
    env->executed = true;
    return SPATE_OK;
}

int spate_env_execute(spate_env_t *env, const char *job_name)
{
    spate_job_t *job;
    int rc = spate_env_start(env, job_name, &job);
    if (rc) return rc;
    rc = spate_job_wait(job);
    if (rc && env->error.code == 0) sp_error_set(&env->error, rc, "%s", spate_job_error(job));
    spate_job_destroy(job);
    return rc;
}

const char *spate_arg(int argc, char **argv, const char *name)
{
    for (int i = 0; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0) return argv[i + 1];
    return NULL;
}
