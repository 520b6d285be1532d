/*
 * test_op_snapshot.c — the checkpoint hooks of the stateful built-in
 * operators: snapshot, then restore into new instances (at the same and at
 * another parallelism), then continue; the rows that come out after the
 * restore must be those of a run that was never interrupted.
 *
 * The harness builds the operator with the public API (so the spec is the
 * real one), takes its node from the environment's graph and drives its
 * vtable directly, as a task would: rows routed to the instances by the
 * input edge's partitioning (key groups of max parallelism 128 for keyed
 * edges), watermarks to every instance, snapshot after the barrier, close;
 * then new instances, tu_op_restore with every old container, and the rest
 * of the input.  Each instance's output goes into a capture operator
 * chained to it (rows formatted "event time|csv").
 */
#include "test_main.h"
#include "test_util.h"

#include <spate/spate.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "runtime/task.h"
#include "state/opsnap.h"

#define MAXP 128
#define MAXI 4

/* ---- the harness ---- */

typedef struct rows {
    char **v;
    size_t n, cap;
} rows_t;

static void rows_add(rows_t *r, const char *s)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 64;
        r->v = realloc(r->v, r->cap * sizeof *r->v);
    }
    r->v[r->n++] = strdup(s);
}

static void rows_clear(rows_t *r)
{
    for (size_t i = 0; i < r->n; i++) free(r->v[i]);
    free(r->v);
    memset(r, 0, sizeof *r);
}

/* One operator instance with its context, a task to hang the output on, and the capture. */
typedef struct inst {
    sp_op_ctx_t ctx;
    sp_error_t err;
    sp_task_t *task;
    sp_opinst_t cap;
    sp_opinst_t *chained[1];
    int chained_input[1], chained_tag[1];
    sp_output_t out;
    void *op;
    rows_t rows;
} inst_t;

static int cap_batch(void *inst, int input, sp_batch_t *b)
{
    inst_t *i = inst;
    (void)input;
    for (uint32_t r = 0; r < b->count; r++) {
        spate_row_t row = { b, r };
        char buf[256];
        int k = snprintf(buf, sizeof buf, "%lld|", (long long)spate_row_event_time(&row));
        spate_row_format(&row, buf + k, sizeof buf - (size_t)k);
        rows_add(&i->rows, buf);
    }
    return SPATE_OK;
}

static int cap_watermark(void *inst, int64_t wm)
{
    (void)inst;
    (void)wm;
    return SPATE_OK;
}

static const sp_op_vtable_t cap_vt = { .kind = "capture",
                                       .process_batch = cap_batch,
                                       .process_watermark = cap_watermark };

typedef struct harness {
    spate_env_t *env;
    spate_clock_t *clock;
    const sp_node_t *node;
    const sp_op_vtable_t *vt;
    const sp_edge_t *edge[2]; /* by input */
    int p;
    inst_t *i[MAXI];
    int64_t rr; /* round-robin position for unkeyed edges */
} harness_t;

typedef spate_stream_t *(*build_fn)(spate_env_t *env);

static void h_init(harness_t *h, build_fn build)
{
    memset(h, 0, sizeof *h);
    h->env = spate_env_create();
    h->clock = spate_manual_clock_create(1000);
    spate_stream_t *s = build(h->env);
    assert_non_null(s);
    h->node = h->env->graph.nodes[s->self];
    h->vt = h->node->vt;
    assert_non_null(h->vt->snapshot);
    assert_non_null(h->vt->restore);
    for (int e = 0; e < h->env->graph.nedges; e++)
        if (h->env->graph.edges[e].to == s->self)
            h->edge[h->env->graph.edges[e].input] = &h->env->graph.edges[e];
}

static void h_fini(harness_t *h)
{
    spate_env_destroy(h->env);
    spate_clock_destroy(h->clock);
}

static void h_open(harness_t *h, int p)
{
    h->p = p;
    h->rr = 0;
    for (int k = 0; k < p; k++) {
        inst_t *i = calloc(1, sizeof *i);
        i->task = sp_xcalloc_aligned(sizeof *i->task);
        i->cap.vt = &cap_vt;
        i->cap.inst = i;
        i->cap.node = h->node;
        i->chained[0] = &i->cap;
        i->out = (sp_output_t){ .task = i->task,
                                .chained = i->chained,
                                .chained_input = i->chained_input,
                                .chained_tag = i->chained_tag,
                                .nchained = 1 };
        i->ctx.info = (spate_task_info_t){ "op", k, p, MAXP, 0 };
        i->ctx.out = &i->out;
        i->ctx.error = &i->err;
        i->ctx.config = h->env->config;
        for (int in = 0; in < 2; in++)
            if (h->edge[in]) i->ctx.in_schema[in] = h->env->graph.nodes[h->edge[in]->from]->out_schema;
        i->ctx.out_schema = h->node->out_schema;
        i->ctx.timer_at = INT64_MAX;
        i->ctx.clock = h->clock;
        i->ctx.side_schema = h->node->side_schema;
        int rc = h->vt->open(h->node->spec, &i->ctx, &i->op);
        if (rc) fail_msg("open: %s", i->err.message);
        h->i[k] = i;
    }
}

static void h_close(harness_t *h)
{
    for (int k = 0; k < h->p; k++) {
        h->vt->close(h->i[k]->op);
        rows_clear(&h->i[k]->rows);
        free(h->i[k]->task);
        free(h->i[k]);
        h->i[k] = NULL;
    }
    h->p = 0;
}

static void check(inst_t *i, int rc)
{
    if (rc) fail_msg("hook failed: %d %s", rc, i->err.message);
}

/* Rows (k, v) with event time ts, given as triples, into input `input`. */
static void h_rows(harness_t *h, int input, const int64_t *kvts, size_t n)
{
    const sp_edge_t *e = h->edge[input];
    const spate_schema_t *schema = h->env->graph.nodes[e->from]->out_schema; /* the operator's input */
    sp_batch_t *sub[MAXI];
    for (int k = 0; k < h->p; k++) sub[k] = sp_batch_create(schema, (uint32_t)n);
    spate_key_t key;
    sp_key_init(&key);
    for (size_t r = 0; r < n; r++) {
        sp_batch_t *one = NULL;
        sp_error_t err = { 0 };
        spate_collector_t c;
        sp_collector_init(&c, schema, 1, tu_keep_batch, &one, &err);
        spate_out_set_bigint(&c, 0, kvts[3 * r]);
        spate_out_set_bigint(&c, 1, kvts[3 * r + 1]);
        spate_out_set_event_time(&c, kvts[3 * r + 2]);
        assert_int_equal(spate_out_emit(&c), SPATE_OK);
        sp_collector_flush(&c);
        sp_collector_fini(&c);
        if (e->part == SP_PART_HASH) {
            spate_row_t row = { one, 0 };
            assert_int_equal(sp_key_compute(&e->key, &row, &key, &err), SPATE_OK);
            int kg = sp_key_group(key.buf, key.len, MAXP);
            sp_batch_append_row(sub[sp_key_group_owner(kg, h->p, MAXP)], one, 0);
        } else if (e->part == SP_PART_BROADCAST) {
            for (int k = 0; k < h->p; k++) sp_batch_append_row(sub[k], one, 0);
        } else {
            sp_batch_append_row(sub[h->rr++ % h->p], one, 0);
        }
        sp_batch_release(one);
    }
    for (int k = 0; k < h->p; k++) {
        if (sub[k]->count) check(h->i[k], h->vt->process_batch(h->i[k]->op, input, sub[k]));
        sp_batch_release(sub[k]);
    }
    sp_key_fini(&key);
}

static void h_watermark(harness_t *h, int64_t wm)
{
    for (int k = 0; k < h->p; k++)
        if (h->vt->process_watermark) check(h->i[k], h->vt->process_watermark(h->i[k]->op, wm));
}

static void h_end(harness_t *h)
{
    h_watermark(h, SP_WATERMARK_MAX);
    for (int k = 0; k < h->p; k++)
        if (h->vt->end_input) check(h->i[k], h->vt->end_input(h->i[k]->op));
}

/* Snapshots every instance (after its barrier) into old[0..p-1] (caller frees). */
static void h_snapshot(harness_t *h, int64_t id, sp_opstate_bytes_t *old)
{
    for (int k = 0; k < h->p; k++) {
        inst_t *i = h->i[k];
        if (h->vt->process_barrier) check(i, h->vt->process_barrier(i->op, id));
        old[k] = (sp_opstate_bytes_t){ 0 };
        check(i, h->vt->snapshot(i->op, id, &old[k].data, &old[k].len));
    }
}

static void h_restore(harness_t *h, const sp_opstate_bytes_t *old, int nold)
{
    for (int k = 0; k < h->p; k++) check(h->i[k], tu_op_restore(h->vt, h->i[k]->op, old, nold, k, h->p));
}

static void h_forget_rows(harness_t *h)
{
    for (int k = 0; k < h->p; k++) rows_clear(&h->i[k]->rows);
}

static int by_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every instance's rows: sorted over all of them, or "instance:row" in the order each came. */
static char *h_output(harness_t *h, bool sorted)
{
    rows_t all = { 0 };
    for (int k = 0; k < h->p; k++)
        for (size_t r = 0; r < h->i[k]->rows.n; r++) {
            char buf[300];
            snprintf(buf, sizeof buf, "%d:%s", k, h->i[k]->rows.v[r]);
            rows_add(&all, sorted ? h->i[k]->rows.v[r] : buf);
        }
    if (sorted && all.n) qsort(all.v, all.n, sizeof *all.v, by_str);
    size_t len = 1;
    for (size_t r = 0; r < all.n; r++) len += strlen(all.v[r]) + 1;
    char *s = calloc(1, len), *p = s;
    for (size_t r = 0; r < all.n; r++) p += sprintf(p, "%s\n", all.v[r]);
    rows_clear(&all);
    return s;
}

/* A test's input in two phases: 0 before the checkpoint, 1 after it. */
typedef void (*script_fn)(harness_t *h, int phase);

/* Runs phase 0 at parallelism p0; then either continues (p1 == 0) or snapshots, closes and restores
 * into p1 new instances; then phase 1 and the end of input.  Returns phase 1's output (h_output). */
static char *run(build_fn build, script_fn script, int p0, int p1, bool sorted)
{
    harness_t h;
    h_init(&h, build);
    h_open(&h, p0);
    script(&h, 0);
    if (p1) {
        sp_opstate_bytes_t old[MAXI];
        h_snapshot(&h, 1, old);
        h_close(&h);
        h_open(&h, p1);
        h_restore(&h, old, p0);
        for (int k = 0; k < p0; k++) free(old[k].data);
    } else {
        h_forget_rows(&h);
    }
    script(&h, 1);
    h_end(&h);
    char *out = h_output(&h, sorted);
    h_close(&h);
    h_fini(&h);
    return out;
}

/* The restored runs' output equals the uninterrupted run's: exactly (instance by instance, in
 * order) at the same parallelism, as a multiset when rescaled (2 -> 1, 1 -> 3, 3 -> 2). */
static void assert_continues(build_fn build, script_fn script)
{
    char *ref = run(build, script, 1, 0, true);
    assert_true(strlen(ref) > 0);
    static const int rescale[][2] = { { 2, 1 }, { 1, 3 }, { 3, 2 }, { 2, 2 } };
    for (size_t c = 0; c < sizeof rescale / sizeof rescale[0]; c++) {
        char *got = run(build, script, rescale[c][0], rescale[c][1], true);
        if (strcmp(got, ref) != 0)
            fail_msg("%d -> %d:\n--- got\n%s--- want\n%s", rescale[c][0], rescale[c][1], got, ref);
        free(got);
    }
    free(ref);
    for (int p = 1; p <= 2; p++) {
        char *want = run(build, script, p, 0, false), *got = run(build, script, p, p, false);
        assert_string_equal(got, want);
        free(want);
        free(got);
    }
}

/* Restoring from `bytes` (one old container) fails with SPATE_EPARSE and a message. */
static void assert_rejects(build_fn build, const uint8_t *bytes, size_t len)
{
    harness_t h;
    h_init(&h, build);
    h_open(&h, 1);
    sp_opstate_bytes_t old = { (uint8_t *)bytes, len };
    int rc = tu_op_restore(h.vt, h.i[0]->op, &old, 1, 0, 1);
    assert_int_equal(rc, SPATE_EPARSE);
    assert_true(strlen(h.i[0]->err.message) > 0);
    h_close(&h);
    h_fini(&h);
}

/* A snapshot of phase 0 at parallelism 1 damaged: garbage, a truncated container and (when its
 * last section is checksummed: keyed state and timers, not operator state) a flipped byte in
 * that section's payload: each is rejected. */
static void assert_rejects_corrupt(build_fn build, script_fn script, bool checksummed)
{
    static const uint8_t garbage[] = "not a snapshot at all";
    assert_rejects(build, garbage, sizeof garbage);
    harness_t h;
    h_init(&h, build);
    h_open(&h, 1);
    script(&h, 0);
    sp_opstate_bytes_t old;
    h_snapshot(&h, 1, &old);
    h_close(&h);
    h_fini(&h);
    assert_true(old.len > 40);
    assert_rejects(build, old.data, old.len - 3);
    old.data[old.len - 2] ^= 0x5a;
    if (checksummed) assert_rejects(build, old.data, old.len);
    free(old.data);
}

/* Rows v = from .. to-1 with k = v % keys and ts = step v into input `input`, in batches of 25,
 * each batch followed by a watermark of its last ts - lag. */
static void rows_and_watermarks_at(harness_t *h, int input, int64_t from, int64_t to, int64_t keys,
                                   int64_t step, int64_t lag)
{
    int64_t t[3 * 25];
    for (int64_t v = from; v < to;) {
        size_t n = 0;
        for (; n < 25 && v < to; n++, v++) {
            t[3 * n] = v % keys;
            t[3 * n + 1] = v;
            t[3 * n + 2] = step * v;
        }
        h_rows(h, input, t, n);
        h_watermark(h, step * (v - 1) - lag);
    }
}

static void rows_and_watermarks(harness_t *h, int input, int64_t from, int64_t to, int64_t keys, int64_t lag)
{
    rows_and_watermarks_at(h, input, from, to, keys, 10, lag);
}

static spate_stream_t *seq(spate_env_t *env, const char *name)
{
    tu_seq_opts_t o = { .n = 1, .keys = 1 };
    return spate_env_add_source(env, tu_seq_source(&o), name);
}

/* ---- keyed process: value, list and map state, event-time timers ---- */

typedef struct kp_states {
    spate_value_state_t *count;
    spate_list_state_t *seen;
    spate_map_state_t *by_rest;
} kp_states_t;

static int kp_open(void *ctx, spate_keyed_context_t *kc, void **state)
{
    (void)ctx;
    kp_states_t *s = calloc(1, sizeof *s);
    s->count = spate_keyed_value_state(kc, "count");
    s->seen = spate_keyed_list_state(kc, "seen");
    s->by_rest = spate_keyed_map_state(kc, "by_rest");
    *state = s;
    return SPATE_OK;
}

static void kp_close(void *state)
{
    free(state);
}

/* Per row: count it, list it, map v % 3 -> v; a timer at the end of the row's 300 ms period. */
static int kp_process(void *state, const spate_row_t *in, spate_keyed_context_t *kc, spate_collector_t *out)
{
    kp_states_t *s = state;
    int64_t n = 0, v = spate_row_get_bigint(in, 1), rest = v % 3;
    spate_value_state_get(kc, s->count, &n, sizeof n);
    n++;
    spate_value_state_set(kc, s->count, &n, sizeof n);
    spate_list_state_add(kc, s->seen, &v, sizeof v);
    spate_map_state_put(kc, s->by_rest, &rest, sizeof rest, &v, sizeof v);
    spate_timer_register_event_time(kc, spate_row_event_time(in) / 300 * 300 + 299);
    spate_out_copy_field(out, 0, in, 0);
    spate_out_set_bigint(out, 1, n);
    spate_out_set_bigint(out, 2, v);
    spate_out_set_bigint(out, 3, -1);
    return spate_out_emit(out);
}

static int sum_visit(void *ctx, const void *value, size_t len)
{
    int64_t v;
    memcpy(&v, value, len);
    *(int64_t *)ctx += v;
    return SPATE_OK;
}

static int map_visit(void *ctx, const void *key, size_t klen, const void *value, size_t vlen)
{
    int64_t k, v;
    memcpy(&k, key, klen);
    memcpy(&v, value, vlen);
    *(int64_t *)ctx += 1000 * k + v;
    return SPATE_OK;
}

/* The timer: emits the key's count, list sum and map digest, then empties the list. */
static int kp_on_timer(void *state, int64_t ts, spate_time_domain_t domain, spate_keyed_context_t *kc,
                       spate_collector_t *out)
{
    kp_states_t *s = state;
    (void)domain;
    int64_t n = 0, sum = 0, digest = 0;
    spate_value_state_get(kc, s->count, &n, sizeof n);
    spate_list_state_get(kc, s->seen, sum_visit, &sum);
    spate_map_state_entries(kc, s->by_rest, map_visit, &digest);
    spate_list_state_clear(kc, s->seen);
    spate_out_set_bigint(out, 0, ts);
    spate_out_set_bigint(out, 1, n);
    spate_out_set_bigint(out, 2, sum);
    spate_out_set_bigint(out, 3, digest);
    return spate_out_emit(out);
}

static spate_stream_t *build_keyed(spate_env_t *env)
{
    spate_keyed_process_function_t fn = {
        .open = kp_open, .process = kp_process, .on_timer = kp_on_timer, .close = kp_close
    };
    spate_schema_t *out = spate_schema_of("a BIGINT, b BIGINT, c BIGINT, d BIGINT");
    spate_stream_t *s = spate_keyed_process(spate_stream_key_by_field(seq(env, "in"), "k"), "kp", &fn, out);
    spate_schema_release(out);
    return s;
}

/* The checkpoint falls while timers are pending: the watermark is 100 ms behind the rows. */
static void keyed_script(harness_t *h, int phase)
{
    if (phase == 0)
        rows_and_watermarks(h, 0, 0, 130, 7, 100);
    else
        rows_and_watermarks(h, 0, 130, 300, 7, 100);
}

static void keyed_process_state_and_timers_survive_a_restore(void **state)
{
    (void)state;
    assert_continues(build_keyed, keyed_script);
}

static void keyed_process_rejects_corrupt_snapshots(void **state)
{
    (void)state;
    assert_rejects_corrupt(build_keyed, keyed_script, true);
}

/* ---- keyed co-process: one state fed by both inputs ---- */

static int co_add(spate_keyed_context_t *kc, const spate_row_t *in, spate_collector_t *out, int64_t weight)
{
    spate_value_state_t *st = spate_keyed_value_state(kc, "total");
    int64_t t = 0;
    spate_value_state_get(kc, st, &t, sizeof t);
    t += weight * spate_row_get_bigint(in, 1);
    spate_value_state_set(kc, st, &t, sizeof t);
    spate_out_copy_field(out, 0, in, 0);
    spate_out_set_bigint(out, 1, t);
    return spate_out_emit(out);
}

static int co_process1(void *state, const spate_row_t *in, spate_keyed_context_t *kc, spate_collector_t *out)
{
    (void)state;
    return co_add(kc, in, out, 1);
}

static int co_process2(void *state, const spate_row_t *in, spate_keyed_context_t *kc, spate_collector_t *out)
{
    (void)state;
    return co_add(kc, in, out, -2);
}

static spate_stream_t *build_co(spate_env_t *env)
{
    spate_keyed_co_process_function_t fn = { .process = co_process1, .process2 = co_process2 };
    spate_schema_t *out = spate_schema_of("k BIGINT, total BIGINT");
    spate_connected_t *c = spate_keyed_connect(spate_stream_key_by_field(seq(env, "a"), "k"),
                                               spate_stream_key_by_field(seq(env, "b"), "k"));
    spate_stream_t *s = spate_connected_keyed_process(c, "co", &fn, out);
    spate_schema_release(out);
    return s;
}

static void co_script(harness_t *h, int phase)
{
    int64_t from = phase ? 60 : 0, to = phase ? 140 : 60;
    for (int64_t v = from; v < to; v += 20) {
        rows_and_watermarks(h, 0, v, v + 20, 6, 0);
        rows_and_watermarks(h, 1, v + 3, v + 13, 6, 0);
    }
}

static void keyed_co_process_state_survives_a_restore(void **state)
{
    (void)state;
    assert_continues(build_co, co_script);
}

/* ---- processing-time timers: restored, and due at once ---- */

static int pt_process(void *state, const spate_row_t *in, spate_keyed_context_t *kc, spate_collector_t *out)
{
    (void)state;
    (void)out;
    int64_t v = spate_row_get_bigint(in, 1);
    spate_value_state_set(kc, spate_keyed_value_state(kc, "v"), &v, sizeof v);
    spate_timer_register_processing_time(kc, spate_keyed_context_processing_time(kc) + 500);
    return SPATE_OK;
}

static int pt_on_timer(void *state, int64_t ts, spate_time_domain_t domain, spate_keyed_context_t *kc,
                       spate_collector_t *out)
{
    (void)state;
    int64_t v = 0;
    spate_value_state_get(kc, spate_keyed_value_state(kc, "v"), &v, sizeof v);
    spate_out_set_bigint(out, 0, v);
    spate_out_set_bigint(out, 1, ts + (domain == SPATE_PROCESSING_TIME ? 0 : 1000000));
    return spate_out_emit(out);
}

static spate_stream_t *build_pt(spate_env_t *env)
{
    spate_keyed_process_function_t fn = { .process = pt_process, .on_timer = pt_on_timer };
    return spate_keyed_process(spate_stream_key_by_field(seq(env, "in"), "k"), "pt", &fn, NULL);
}

static void keyed_process_time_timers_survive_a_restore(void **state)
{
    (void)state;
    harness_t h;
    h_init(&h, build_pt);
    h_open(&h, 2);
    int64_t rows[] = { 1, 10, 0, 2, 20, 0, 3, 30, 0 };
    h_rows(&h, 0, rows, 3);
    sp_opstate_bytes_t old[2];
    h_snapshot(&h, 1, old);
    h_close(&h);
    h_open(&h, 1);
    h_restore(&h, old, 2);
    free(old[0].data);
    free(old[1].data);
    inst_t *i = h.i[0];
    assert_int_equal(i->ctx.timer_at, 1500); /* the restored timers' time on the task's clock */
    spate_manual_clock_advance(h.clock, 500);
    check(i, h.vt->on_timer(i->op, spate_clock_now(h.clock)));
    char *out = h_output(&h, true);
    assert_string_equal(out, "-9223372036854775808|10,1500\n-9223372036854775808|20,1500\n"
                             "-9223372036854775808|30,1500\n");
    free(out);
    assert_int_equal(i->ctx.timer_at, INT64_MAX);
    h_close(&h);
    h_fini(&h);
}

/* ---- keyed co-process and keyed broadcast: state of both inputs, broadcast state ---- */

static int kb_process(void *state, const spate_row_t *in, spate_keyed_context_t *kc, spate_collector_t *out)
{
    (void)state;
    spate_broadcast_context_t *bc = spate_keyed_context_broadcast(kc);
    int64_t factor = 1, zero = 0;
    spate_broadcast_state_get(bc, "f", &zero, sizeof zero, &factor, sizeof factor);
    spate_value_state_t *sum = spate_keyed_value_state(kc, "sum");
    int64_t s = 0;
    spate_value_state_get(kc, sum, &s, sizeof s);
    s += factor * spate_row_get_bigint(in, 1);
    spate_value_state_set(kc, sum, &s, sizeof s);
    spate_out_copy_field(out, 0, in, 0);
    spate_out_set_bigint(out, 1, s);
    return spate_out_emit(out);
}

static int kb_process_broadcast(void *state, const spate_row_t *in, spate_keyed_context_t *kc,
                                spate_collector_t *out)
{
    (void)state;
    (void)out;
    int64_t zero = 0, f = spate_row_get_bigint(in, 1);
    spate_broadcast_state_put(spate_keyed_context_broadcast(kc), "f", &zero, sizeof zero, &f, sizeof f);
    return SPATE_OK;
}

static spate_stream_t *build_kb(spate_env_t *env)
{
    spate_keyed_broadcast_process_function_t fn = { .process = kb_process,
                                                    .process_broadcast = kb_process_broadcast };
    return spate_keyed_process_with_broadcast(spate_stream_key_by_field(seq(env, "in"), "k"),
                                              seq(env, "rules"), "kb", &fn, NULL);
}

static void kb_script(harness_t *h, int phase)
{
    int64_t rule[] = { 0, phase ? 3 : 2, 0 };
    if (phase == 0) {
        h_rows(h, 1, rule, 1); /* factor 2, only before the checkpoint: the restore must keep it */
        rows_and_watermarks(h, 0, 0, 100, 5, 0);
    } else {
        rows_and_watermarks(h, 0, 100, 150, 5, 0);
        h_rows(h, 1, rule, 1); /* then 3 */
        rows_and_watermarks(h, 0, 150, 200, 5, 0);
    }
}

static void keyed_broadcast_state_survives_a_restore(void **state)
{
    (void)state;
    assert_continues(build_kb, kb_script);
    assert_rejects_corrupt(build_kb, kb_script, true);
}

/* ---- broadcast process (not keyed): its broadcast state ---- */

static int bp_process(void *state, const spate_row_t *in, spate_broadcast_context_t *bc,
                      spate_collector_t *out)
{
    (void)state;
    int64_t f = 0, zero = 0;
    spate_broadcast_state_get(bc, "f", &zero, sizeof zero, &f, sizeof f);
    spate_out_copy_field(out, 0, in, 1);
    spate_out_set_bigint(out, 1, f * spate_row_get_bigint(in, 1));
    return spate_out_emit(out);
}

static int bp_process_broadcast(void *state, const spate_row_t *in, spate_broadcast_context_t *bc,
                                spate_collector_t *out)
{
    (void)state;
    (void)out;
    int64_t zero = 0, f = spate_row_get_bigint(in, 1);
    spate_broadcast_state_put(bc, "f", &zero, sizeof zero, &f, sizeof f);
    return SPATE_OK;
}

static spate_stream_t *build_bp(spate_env_t *env)
{
    spate_broadcast_process_function_t fn = { .process = bp_process,
                                              .process_broadcast = bp_process_broadcast };
    spate_schema_t *out = spate_schema_of("v BIGINT, w BIGINT");
    spate_stream_t *s =
        spate_stream_process_with_broadcast(seq(env, "in"), seq(env, "rules"), "bp", &fn, out);
    spate_schema_release(out);
    return s;
}

static void broadcast_state_survives_a_restore(void **state)
{
    (void)state;
    assert_continues(build_bp, kb_script);
}

/* ---- windows: tumbling (unique timers, look-ahead), sessions ---- */

static void count_create(void *ctx, void *acc)
{
    (void)ctx;
    *(int64_t *)acc = 0;
}

static int count_add(void *ctx, void *acc, const spate_row_t *in)
{
    (void)ctx;
    *(int64_t *)acc += 1 + 1000 * spate_row_get_bigint(in, 1);
    return SPATE_OK;
}

static void count_merge(void *ctx, void *acc, const void *other)
{
    (void)ctx;
    *(int64_t *)acc += *(const int64_t *)other;
}

static int count_emit(void *ctx, const void *acc, const spate_window_t *w, const spate_row_t *key_row,
                      spate_collector_t *out)
{
    (void)ctx;
    spate_out_copy_field(out, 0, key_row, 0);
    spate_out_set_bigint(out, 1, w->start);
    spate_out_set_bigint(out, 2, w->end);
    spate_out_set_bigint(out, 3, *(const int64_t *)acc);
    return spate_out_emit(out);
}

static spate_stream_t *window_of(spate_env_t *env, spate_window_assigner_t a)
{
    spate_windowed_t *w = spate_keyed_window(spate_stream_key_by_field(seq(env, "in"), "k"), a);
    spate_aggregate_function_t fn = { .acc_size = sizeof(int64_t),
                                      .create = count_create,
                                      .add = count_add,
                                      .merge = count_merge,
                                      .emit = count_emit };
    spate_schema_t *out = spate_schema_of("k BIGINT, start BIGINT, end_ BIGINT, n BIGINT");
    spate_stream_t *s = spate_windowed_aggregate(w, "count", &fn, out);
    spate_schema_release(out);
    return s;
}

static spate_stream_t *build_tumbling(spate_env_t *env)
{
    return window_of(env, spate_tumbling_windows(200, 0));
}

static void window_script(harness_t *h, int phase)
{
    if (phase == 0)
        rows_and_watermarks(h, 0, 0, 240, 11, 150);
    else
        rows_and_watermarks(h, 0, 240, 500, 11, 150);
}

static void tumbling_window_with_unique_timers_survives_a_restore(void **state)
{
    (void)state;
    assert_continues(build_tumbling, window_script);
    assert_rejects_corrupt(build_tumbling, window_script, true);
}

static spate_stream_t *build_sliding(spate_env_t *env)
{
    return window_of(env, spate_sliding_windows(200, 50, 0));
}

/* Sliding windows (rows grouped by key and window, unique timers) too. */
static void sliding_window_survives_a_restore(void **state)
{
    (void)state;
    assert_continues(build_sliding, window_script);
}

/* Each window fires once after the restore: its unique timer came back, and no second one was
 * registered for the window whose state came back. */
static void restored_window_fires_once(void **state)
{
    (void)state;
    char *out = run(build_tumbling, window_script, 2, 1, true);
    size_t n = 0;
    for (const char *p = out; *p; p++) n += *p == '\n';
    /* windows of 200 ms over ts 2400 .. 4990, those that had not fired at the checkpoint
     * (watermark 2240): [2200, 2400) onwards, 14 windows, 11 keys each */
    assert_int_equal(n, 14 * 11);
    free(out);
}

/* ---- a snapshot made later, on another thread, as checkpoints make them ---- */

static spate_stream_t *build_tumbling_long(spate_env_t *env)
{
    return window_of(env, spate_tumbling_windows(10000, 0));
}

/* One window of 10 s.  Phase 0: one row each of FREEZE_KEYS keys (k >= 5), so that the state is
 * big enough to be frozen at the barrier rather than copied (sp_api_snapshot_keyed_later), in
 * batches of 1,024; then both phases: rows v with k = v % 5 and ts = v ms, many of each key per
 * batch and batch after batch.  The watermark stays behind the window's end. */
#define FREEZE_KEYS 270000
static void long_window_script(harness_t *h, int phase)
{
    if (phase == 0) {
        int64_t *t = malloc(sizeof *t * 3 * 1024);
        for (int64_t k = 0; k < FREEZE_KEYS;) {
            size_t n = 0;
            for (; n < 1024 && k < FREEZE_KEYS; n++, k++) {
                t[3 * n] = 5 + k;
                t[3 * n + 1] = 0;
                t[3 * n + 2] = 0;
            }
            h_rows(h, 0, t, n);
        }
        free(t);
    }
    rows_and_watermarks_at(h, 0, phase ? 100 : 0, phase ? 300 : 100, 5, 1, 5000);
}

/* sp_opsnap_later_t made at the barrier (the state frozen), turned into bytes only after the rows
 * that follow it went in: those rows change the same accumulators, which the window operator knows
 * from the batches before, and none of that may reach the snapshot.  Restored, the rest of the input
 * gives what an uninterrupted run gives. */
static void window_snapshot_made_later_holds_the_state_at_its_barrier(void **state)
{
    (void)state;
    char *want = run(build_tumbling_long, long_window_script, 1, 0, true);
    assert_true(strlen(want) > 0);
    harness_t h;
    h_init(&h, build_tumbling_long);
    h_open(&h, 1);
    long_window_script(&h, 0);
    inst_t *i = h.i[0];
    sp_opsnap_later_t *later = NULL;
    check(i, h.vt->process_barrier ? h.vt->process_barrier(i->op, 1) : SPATE_OK);
    assert_non_null(h.vt->snapshot_later);
    check(i, h.vt->snapshot_later(i->op, 1, &later));
    long_window_script(&h, 1); /* on the frozen state */
    sp_opstate_bytes_t old = { 0 };
    check(i, sp_opsnap_later_encode(later, &old.data, &old.len, &i->err));
    sp_opsnap_later_destroy(later);
    h_close(&h);
    h_open(&h, 1);
    h_restore(&h, &old, 1);
    free(old.data);
    long_window_script(&h, 1);
    h_end(&h);
    char *got = h_output(&h, true);
    assert_string_equal(got, want);
    free(got);
    free(want);
    h_close(&h);
    h_fini(&h);
}

static spate_stream_t *build_session(spate_env_t *env)
{
    return window_of(env, spate_session_windows(100));
}

/* Sessions of each key grow across the checkpoint: key k has rows every 10 v, keys 3 apart, with a
 * pause of 200 ms after v = 150 and 320 that closes them. */
static void session_script(harness_t *h, int phase)
{
    int64_t t[3 * 200];
    size_t n = 0;
    int64_t lo = phase ? 150 : 0, hi = phase ? 400 : 150;
    for (int64_t v = lo; v < hi; v++) {
        if (v % 7 == 0) continue;
        int64_t ts = 10 * v + (v >= 150 ? 200 : 0) + (v >= 320 ? 200 : 0);
        t[3 * n] = v % 3;
        t[3 * n + 1] = v;
        t[3 * n + 2] = ts;
        if (++n == 40 || v == hi - 1) {
            h_rows(h, 0, t, n);
            h_watermark(h, ts - 120);
            n = 0;
        }
    }
}

static void session_window_survives_a_restore(void **state)
{
    (void)state;
    assert_continues(build_session, session_script);
}

/* ---- keyed reduce (its state in a heap map) ---- */

static spate_stream_t *build_sum(spate_env_t *env)
{
    return spate_keyed_sum(spate_stream_key_by_field(seq(env, "in"), "k"), "v");
}

static void sum_script(harness_t *h, int phase)
{
    if (phase == 0)
        rows_and_watermarks(h, 0, 0, 120, 13, 0);
    else
        rows_and_watermarks(h, 0, 120, 260, 13, 0);
}

static void keyed_reduce_survives_a_restore(void **state)
{
    (void)state;
    assert_continues(build_sum, sum_script);
    assert_rejects_corrupt(build_sum, sum_script, true);
}

/* ---- interval join ---- */

static int join_rows(void *ctx, const spate_row_t *l, const spate_row_t *r, spate_collector_t *out)
{
    (void)ctx;
    spate_out_copy_field(out, 0, l, 0);
    spate_out_copy_field(out, 1, l, 1);
    spate_out_copy_field(out, 2, r, 1);
    return spate_out_emit(out);
}

static spate_stream_t *build_join(spate_env_t *env)
{
    spate_keyed_t *l = spate_stream_key_by_field(seq(env, "left"), "k");
    spate_keyed_t *r = spate_stream_key_by_field(seq(env, "right"), "k");
    spate_schema_t *out = spate_schema_of("k BIGINT, lv BIGINT, rv BIGINT");
    spate_stream_t *s = spate_keyed_interval_join(l, r, -30, 20, "join", join_rows, NULL, out);
    spate_schema_release(out);
    return s;
}

static void join_script(harness_t *h, int phase)
{
    int64_t from = phase ? 80 : 0, to = phase ? 200 : 80;
    for (int64_t v = from; v < to; v += 10) {
        rows_and_watermarks(h, 0, v, v + 10, 4, 60);
        rows_and_watermarks(h, 1, v + 1, v + 11, 4, 60);
    }
}

static void interval_join_survives_a_restore(void **state)
{
    (void)state;
    assert_continues(build_join, join_script);
    assert_rejects_corrupt(build_join, join_script, true);
}

/* ---- process function: operator list state, split and union ---- */

typedef struct ls {
    spate_operator_list_state_t *split, *uni;
    int64_t restored_split, restored_union; /* what initialize_state found */
} ls_t;

static int ls_open(void *ctx, const spate_task_info_t *info, void **state)
{
    (void)ctx;
    (void)info;
    *state = calloc(1, sizeof(ls_t));
    return SPATE_OK;
}

static int ls_init(void *state, spate_context_t *c)
{
    ls_t *s = state;
    s->split = spate_context_list_state(c, "pending");
    s->uni = spate_context_union_list_state(c, "seen");
    s->restored_split = (int64_t)spate_operator_list_state_size(s->split);
    s->restored_union = (int64_t)spate_operator_list_state_size(s->uni);
    return SPATE_OK;
}

static int ls_process(void *state, const spate_row_t *in, spate_context_t *c, spate_collector_t *out)
{
    ls_t *s = state;
    (void)c;
    (void)out;
    int64_t v = spate_row_get_bigint(in, 1);
    spate_operator_list_state_add(s->split, &v, sizeof v);
    if (v % 2 == 0) spate_operator_list_state_add(s->uni, &v, sizeof v);
    return SPATE_OK;
}

typedef struct emit_ctx {
    spate_collector_t *out;
    int64_t tag;
} emit_ctx_t;

static int emit_elem(void *ctx, const void *value, size_t len)
{
    emit_ctx_t *e = ctx;
    int64_t v;
    memcpy(&v, value, len);
    spate_out_set_bigint(e->out, 0, e->tag);
    spate_out_set_bigint(e->out, 1, v);
    return spate_out_emit(e->out);
}

/* At the end: what initialize_state saw, then both lists (tag 0 split, 1 union). */
static int ls_end(void *state, spate_context_t *c, spate_collector_t *out)
{
    ls_t *s = state;
    (void)c;
    spate_out_set_bigint(out, 0, -1);
    spate_out_set_bigint(out, 1, 1000 * s->restored_split + s->restored_union);
    int rc = spate_out_emit(out);
    emit_ctx_t e = { out, 0 };
    if (rc == SPATE_OK) rc = spate_operator_list_state_get(s->split, emit_elem, &e);
    e.tag = 1;
    return rc ? rc : spate_operator_list_state_get(s->uni, emit_elem, &e);
}

static spate_stream_t *build_ls(spate_env_t *env)
{
    spate_process_function_t fn = { .open = ls_open,
                                    .initialize_state = ls_init,
                                    .process = ls_process,
                                    .end_input = ls_end,
                                    .close = free };
    return spate_stream_process(seq(env, "in"), "ls", &fn, NULL);
}

/* Rows v = 0..9 before the checkpoint (round robin over the instances), none after. */
static void ls_script(harness_t *h, int phase)
{
    if (phase == 0) rows_and_watermarks(h, 0, 0, 10, 1, 0);
}

static void operator_list_state_split_and_union(void **state)
{
    (void)state;
    /* 2 -> 3: the split elements of old 0 (0 2 4 6 8) and old 1 (1 3 5 7 9) are cut into runs
     * of 4, 3 and 3; every instance gets the union (0 2 4 6 8); initialize_state saw both */
    char *got = run(build_ls, ls_script, 2, 3, false);
    assert_string_equal(got, "0:-9223372036854775808|-1,4005\n"
                             "0:-9223372036854775808|0,0\n0:-9223372036854775808|0,2\n"
                             "0:-9223372036854775808|0,4\n0:-9223372036854775808|0,6\n"
                             "0:-9223372036854775808|1,0\n0:-9223372036854775808|1,2\n"
                             "0:-9223372036854775808|1,4\n0:-9223372036854775808|1,6\n"
                             "0:-9223372036854775808|1,8\n"
                             "1:-9223372036854775808|-1,3005\n"
                             "1:-9223372036854775808|0,8\n1:-9223372036854775808|0,1\n"
                             "1:-9223372036854775808|0,3\n"
                             "1:-9223372036854775808|1,0\n1:-9223372036854775808|1,2\n"
                             "1:-9223372036854775808|1,4\n1:-9223372036854775808|1,6\n"
                             "1:-9223372036854775808|1,8\n"
                             "2:-9223372036854775808|-1,3005\n"
                             "2:-9223372036854775808|0,5\n2:-9223372036854775808|0,7\n"
                             "2:-9223372036854775808|0,9\n"
                             "2:-9223372036854775808|1,0\n2:-9223372036854775808|1,2\n"
                             "2:-9223372036854775808|1,4\n2:-9223372036854775808|1,6\n"
                             "2:-9223372036854775808|1,8\n");
    free(got);
    /* 2 -> 2: each instance gets its own split list back, and the union of both */
    got = run(build_ls, ls_script, 2, 2, false);
    assert_non_null(strstr(got, "0:-9223372036854775808|-1,5005\n0:-9223372036854775808|0,0\n"
                                "0:-9223372036854775808|0,2\n0:-9223372036854775808|0,4\n"
                                "0:-9223372036854775808|0,6\n0:-9223372036854775808|0,8\n"));
    assert_non_null(strstr(got, "1:-9223372036854775808|-1,5005\n1:-9223372036854775808|0,1\n"));
    free(got);
    /* no restore: initialize_state saw empty lists */
    got = run(build_ls, ls_script, 1, 0, false);
    assert_non_null(strstr(got, "0:-9223372036854775808|-1,0\n"));
    free(got);
    assert_rejects_corrupt(build_ls, ls_script, false);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(keyed_process_state_and_timers_survive_a_restore),
    cmocka_unit_test(keyed_process_rejects_corrupt_snapshots),
    cmocka_unit_test(keyed_process_time_timers_survive_a_restore),
    cmocka_unit_test(keyed_co_process_state_survives_a_restore),
    cmocka_unit_test(keyed_broadcast_state_survives_a_restore),
    cmocka_unit_test(broadcast_state_survives_a_restore),
    cmocka_unit_test(tumbling_window_with_unique_timers_survives_a_restore),
    cmocka_unit_test(restored_window_fires_once),
    cmocka_unit_test(sliding_window_survives_a_restore),
    cmocka_unit_test(window_snapshot_made_later_holds_the_state_at_its_barrier),
    cmocka_unit_test(session_window_survives_a_restore),
    cmocka_unit_test(keyed_reduce_survives_a_restore),
    cmocka_unit_test(interval_join_survives_a_restore),
    cmocka_unit_test(operator_list_state_split_and_union),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "api_op_snapshot");
}
