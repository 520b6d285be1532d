/*
 * operators.c — the built-in operators behind the DataStream API:
 * row functions (map, flat_map, filter, process, co_map, co_flat_map),
 * projection, keyed reduce / sum, and the sink wrapper.  Process functions
 * also get operator state (list and union list) through their context.
 *
 * Row functions run the user function once per row of the input batch and
 * emit through a collector that writes the output batch in place; the
 * partial output batch is handed on at the end of each input batch so rows
 * never wait for a batch to fill.  Filter passes the input batch through
 * untouched when every row is kept.
 */
#include "api/api.h"

#include <string.h>

#include "connectors/connector.h"
#include "state/heap_map.h"
#include "state/operator_state.h"
#include "state/opsnap.h"
#include "types/encoding.h"

/* A user's handle on one operator state list: the list plus where its misuse is reported. */
struct spate_operator_list_state {
    sp_opstate_list_t *list;
    sp_error_t *err;
    spate_operator_list_state_t *next;
};

struct spate_context {
    const spate_task_info_t *info;
    int64_t watermark;
    sp_op_ctx_t *op;
    sp_side_outputs_t *side;
    sp_opstate_t *opstate;                /* operator state: made on the first declaration */
    spate_operator_list_state_t *handles; /* one per declared list */
};

spate_collector_t *spate_context_side_output(spate_context_t *c, int tag)
{
    return sp_side_output(c->side, c->op, tag);
}

const spate_task_info_t *spate_context_task(const spate_context_t *c)
{
    return c->info;
}

int64_t spate_context_watermark(const spate_context_t *c)
{
    return c->watermark;
}

/* ---- operator state ---- */

static spate_operator_list_state_t *declare_list(spate_context_t *c, const char *name, sp_opstate_mode_t mode)
{
    if (!c) return NULL;
    if (!c->opstate) c->opstate = sp_opstate_create();
    sp_opstate_list_t *l = sp_opstate_declare(c->opstate, name, mode, c->op->error);
    if (!l) return NULL;
    spate_operator_list_state_t *h;
    for (h = c->handles; h; h = h->next)
        if (h->list == l) return h;
    h = sp_xcalloc(1, sizeof *h);
    h->list = l;
    h->err = c->op->error;
    h->next = c->handles;
    c->handles = h;
    return h;
}

static void opstate_fini(spate_context_t *c)
{
    for (spate_operator_list_state_t *h = c->handles; h;) {
        spate_operator_list_state_t *next = h->next;
        free(h);
        h = next;
    }
    c->handles = NULL;
    sp_opstate_destroy(c->opstate);
    c->opstate = NULL;
}

spate_operator_list_state_t *spate_context_list_state(spate_context_t *c, const char *name)
{
    return declare_list(c, name, SP_OPSTATE_SPLIT);
}

spate_operator_list_state_t *spate_context_union_list_state(spate_context_t *c, const char *name)
{
    return declare_list(c, name, SP_OPSTATE_UNION);
}

/* An element the list can hold (its length is stored in 32 bits); else fails the job. */
static bool element_ok(spate_operator_list_state_t *st, const void *value, size_t len)
{
    const char *name = sp_opstate_list_name(st->list);
    if (len > UINT32_MAX) {
        sp_error_set(st->err, SPATE_EINVAL, "operator state '%s': an element of %zu bytes (at most %u)", name,
                     len, UINT32_MAX);
        return false;
    }
    if (!value && len) {
        sp_error_set(st->err, SPATE_EINVAL, "operator state '%s': a NULL element of %zu bytes", name, len);
        return false;
    }
    return true;
}

void spate_operator_list_state_add(spate_operator_list_state_t *st, const void *value, size_t len)
{
    if (st && element_ok(st, value, len)) sp_opstate_list_add(st->list, value, len);
}

int spate_operator_list_state_get(spate_operator_list_state_t *st, spate_state_visit_fn fn, void *ctx)
{
    return st && fn ? sp_opstate_list_get(st->list, fn, ctx) : SPATE_OK;
}

size_t spate_operator_list_state_size(const spate_operator_list_state_t *st)
{
    return st ? sp_opstate_list_size(st->list) : 0;
}

void spate_operator_list_state_clear(spate_operator_list_state_t *st)
{
    if (st) sp_opstate_list_clear(st->list);
}

void spate_operator_list_state_update(spate_operator_list_state_t *st, const void *const *values,
                                      const size_t *lens, size_t n)
{
    if (!st) return;
    if (n && (!values || !lens)) {
        sp_error_set(st->err, SPATE_EINVAL, "operator state '%s': update of %zu elements without values",
                     sp_opstate_list_name(st->list), n);
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (!element_ok(st, values[i], lens[i])) return; /* all or nothing */
    sp_opstate_list_update(st->list, values, lens, n);
}

/* A user function's non-OK return without a message still fails with a clear one. */
static int user_failed(sp_error_t *err, int rc, const char *what)
{
    if (rc > 0) rc = SPATE_EUSER;
    return sp_error_set(err, rc, "%s returned %d (%s)", what, rc, spate_strerror(rc));
}

/* ---- row functions ---- */

typedef struct rowfn {
    const sp_rowfn_spec_t *spec;
    sp_op_ctx_t *ctx;
    spate_collector_t out;
    void *state; /* process function instance state */
    spate_context_t pctx;
    sp_side_outputs_t side;
    uint32_t *keep;
    bool initialized; /* initialize_state has run (or there is none) */
} rowfn_t;

static void rowfn_close(void *inst);

static int rowfn_open(const void *spec, sp_op_ctx_t *ctx, void **inst)
{
    const sp_rowfn_spec_t *s = spec;
    rowfn_t *r = sp_xcalloc_aligned(sizeof *r); /* written per row: own cache lines */
    r->spec = s;
    r->ctx = ctx;
    r->pctx.info = &ctx->info;
    r->pctx.watermark = SP_WATERMARK_MIN;
    r->pctx.op = ctx;
    r->pctx.side = &r->side;
    const spate_schema_t *schema = ctx->out_schema ? ctx->out_schema : ctx->in_schema[0];
    sp_collector_init(&r->out, schema, SP_BATCH_CAPACITY, sp_output_sink_fn, ctx->out, ctx->error);
    r->state = s->process.ctx;
    *inst = r;
    if (s->kind == SP_ROWFN_PROCESS && s->process.open) {
        int rc = s->process.open(s->process.ctx, &ctx->info, &r->state);
        if (rc) {
            sp_collector_fini(&r->out);
            free(r);
            *inst = NULL;
            return ctx->error->code ? ctx->error->code : user_failed(ctx->error, rc, "process function open");
        }
    }
    r->initialized = s->kind != SP_ROWFN_PROCESS || !s->process.initialize_state;
    return SPATE_OK;
}

/* initialize_state (Flink's initializeState) runs once, after open and after a restore (whose
 * lists it must see), before anything else reaches the function: the restore hook runs it, else
 * the first of process_batch, end_input and snapshot does.  (Open cannot: the runtime calls
 * restore after open, and a store that has lists cannot take a restore.) */
static int rowfn_initialize(rowfn_t *r)
{
    if (r->initialized) return SPATE_OK;
    r->initialized = true;
    sp_error_t *err = r->ctx->error;
    int rc = r->spec->process.initialize_state(r->state, &r->pctx);
    if (rc == SPATE_OK) rc = err->code; /* e.g. a misused operator state */
    if (rc) return err->code ? err->code : user_failed(err, rc, "initialize_state");
    return SPATE_OK;
}

static void rowfn_close(void *inst)
{
    rowfn_t *r = inst;
    if (r->spec->kind == SP_ROWFN_PROCESS && r->spec->process.close) r->spec->process.close(r->state);
    sp_collector_fini(&r->out);
    sp_side_outputs_fini(&r->side);
    opstate_fini(&r->pctx);
    free(r->keep);
    free(r);
}

static int filter_batch(rowfn_t *r, sp_batch_t *b)
{
    if (!r->keep) r->keep = sp_xmalloc(sizeof(uint32_t) * SP_BATCH_CAPACITY);
    sp_error_t *err = r->ctx->error;
    uint32_t kept = 0;
    spate_row_t row = { b, 0 };
    for (uint32_t i = 0; i < b->count; i++) {
        row.index = i;
        int k = r->spec->filter(r->spec->ctx, &row);
        if (k < 0) return err->code ? err->code : user_failed(err, k, "filter function");
        if (k > 0) {
            if (kept == SP_BATCH_CAPACITY) { /* larger input batch: flush what we have */
                sp_batch_t *o = sp_batch_create(b->schema, SP_BATCH_CAPACITY);
                for (uint32_t j = 0; j < kept; j++) sp_batch_append_row(o, b, r->keep[j]);
                int rc = sp_output_push_batch(r->ctx->out, o);
                if (rc) return rc;
                kept = 0;
            }
            r->keep[kept++] = i;
        }
    }
    if (kept == b->count) return sp_output_push_batch(r->ctx->out, sp_batch_acquire(b));
    if (kept == 0) return SPATE_OK;
    sp_batch_t *o = sp_batch_create(b->schema, SP_BATCH_CAPACITY);
    for (uint32_t j = 0; j < kept; j++) sp_batch_append_row(o, b, r->keep[j]);
    return sp_output_push_batch(r->ctx->out, o);
}

static int rowfn_process_batch(void *inst, int input, sp_batch_t *b)
{
    rowfn_t *r = inst;
    const sp_rowfn_spec_t *s = r->spec;
    sp_error_t *err = r->ctx->error;
    if (s->kind == SP_ROWFN_FILTER) return filter_batch(r, b);
    if (!r->initialized) {
        int rc = rowfn_initialize(r);
        if (rc) return rc;
    }
    spate_row_t row = { b, 0 };
    r->out.input = &row;
    r->side.input = &row;
    int rc = SPATE_OK;
    for (uint32_t i = 0; i < b->count && rc == SPATE_OK; i++) {
        row.index = i;
        uint64_t before = r->out.emitted;
        switch (s->kind) {
        case SP_ROWFN_MAP:
            rc = s->fn[input](s->ctx, &row, &r->out);
            if (rc == SPATE_OK && r->out.emitted != before + 1)
                rc = sp_error_set(err, SPATE_EUSER,
                                  "a map function must emit exactly one row per input row (emitted %llu)",
                                  (unsigned long long)(r->out.emitted - before));
            break;
        case SP_ROWFN_FLAT_MAP: rc = s->fn[input](s->ctx, &row, &r->out); break;
        case SP_ROWFN_PROCESS:
            rc = input == 1 ? s->process.process2(r->state, &row, &r->pctx, &r->out)
                            : s->process.process(r->state, &row, &r->pctx, &r->out);
            if (rc == SPATE_OK) rc = err->code; /* e.g. a misused operator state */
            break;
        case SP_ROWFN_FILTER: break;
        }
        if (rc && !err->code) user_failed(err, rc, "user function");
    }
    r->out.input = NULL;
    r->side.input = NULL;
    if (rc) return err->code ? err->code : rc;
    rc = sp_collector_flush(&r->out);
    return rc ? rc : sp_side_outputs_flush(&r->side);
}

static int rowfn_watermark(void *inst, int64_t wm)
{
    rowfn_t *r = inst;
    r->pctx.watermark = wm;
    int rc = sp_collector_flush(&r->out);
    if (rc == SPATE_OK) rc = sp_side_outputs_flush(&r->side);
    return rc ? rc : sp_output_push_watermark(r->ctx->out, wm);
}

static int rowfn_end_input(void *inst)
{
    rowfn_t *r = inst;
    int rc0 = rowfn_initialize(r);
    if (rc0) return rc0;
    if (r->spec->kind == SP_ROWFN_PROCESS && r->spec->process.end_input) {
        int rc = r->spec->process.end_input(r->state, &r->pctx, &r->out);
        if (rc == SPATE_OK) rc = r->ctx->error->code;
        if (rc)
            return r->ctx->error->code ? r->ctx->error->code : user_failed(r->ctx->error, rc, "end_input");
    }
    int rc = sp_collector_flush(&r->out);
    return rc ? rc : sp_side_outputs_flush(&r->side);
}

static void rowfn_destroy(void *spec)
{
    free(spec);
}

/* Checkpoint hooks: the process function's operator state (its lists, split and union) as the
 * OPERATOR section "user"; a restore takes this instance's share (sp_opsnap_operator_share:
 * split lists divided, union lists whole), then runs initialize_state, which sees it. */
static int rowfn_snapshot(void *inst, int64_t checkpoint_id, uint8_t **data, size_t *len)
{
    rowfn_t *r = inst;
    SP_UNUSED(checkpoint_id);
    *data = NULL;
    *len = 0;
    int rc = rowfn_initialize(r); /* its declarations belong in the snapshot */
    if (rc || !r->pctx.opstate) return rc;
    sp_opstate_bytes_t b;
    sp_opstate_snapshot(r->pctx.opstate, &b);
    sp_opsnap_t c;
    sp_opsnap_init(&c);
    sp_opsnap_add(&c, SP_OPSNAP_OPERATOR, "user", b.data, b.len);
    sp_opsnap_finish(&c, data, len);
    sp_opstate_bytes_free(&b);
    return SPATE_OK;
}

static int rowfn_restore(void *inst, const sp_opsnap_restore_t *rs)
{
    rowfn_t *r = inst;
    if (r->pctx.opstate) /* restore comes first: nothing declared a list yet */
        return sp_error_set(r->ctx->error, SPATE_ESTATE,
                            "process function: restore after operator state use");
    uint8_t *share;
    size_t len;
    int rc = sp_opsnap_operator_share(rs, "user", &share, &len, r->ctx->error);
    if (rc) return rc;
    r->pctx.opstate = sp_opstate_create();
    rc = sp_opstate_restore(r->pctx.opstate, share, len, r->ctx->error);
    free(share);
    return rc ? rc : rowfn_initialize(r);
}

const sp_op_vtable_t sp_rowfn_op = { .kind = "process",
                                     .open = rowfn_open,
                                     .process_batch = rowfn_process_batch,
                                     .process_watermark = rowfn_watermark,
                                     .end_input = rowfn_end_input,
                                     .close = rowfn_close,
                                     .destroy_spec = rowfn_destroy,
                                     .snapshot = rowfn_snapshot,
                                     .restore = rowfn_restore };

/* ---- projection: zero-copy, the output shares the input's column buffers ---- */

typedef struct project {
    const sp_project_spec_t *spec;
    sp_op_ctx_t *ctx;
} project_t;

static int project_open(const void *spec, sp_op_ctx_t *ctx, void **inst)
{
    project_t *p = sp_xmalloc(sizeof *p);
    p->spec = spec;
    p->ctx = ctx;
    *inst = p;
    return SPATE_OK;
}

static int project_process_batch(void *inst, int input, sp_batch_t *b)
{
    project_t *p = inst;
    SP_UNUSED(input);
    if (p->spec->pushed_down)
        return sp_output_push_batch(p->ctx->out, sp_batch_acquire(b)); /* source did it */
    return sp_output_push_batch(p->ctx->out, sp_batch_project(b, p->spec->schema, p->spec->idx, p->spec->n));
}

static void project_close(void *inst)
{
    free(inst);
}

static void project_destroy(void *spec)
{
    sp_project_spec_t *s = spec;
    spate_schema_release(s->schema);
    free(s);
}

const sp_op_vtable_t sp_project_op = { .kind = "project",
                                       .open = project_open,
                                       .process_batch = project_process_batch,
                                       .close = project_close,
                                       .destroy_spec = project_destroy };

/* ---- keyed reduce ----
 * State: key bytes -> [int64 event time][encoded row] in a heap map, with the
 * key group kept per entry (snapshots by key-group range, for rescaling).  STREAMING emits each new
 * accumulated row; BATCH emits every key's final row at end of input. */

typedef struct reduce {
    const sp_reduce_spec_t *spec;
    sp_op_ctx_t *ctx;
    sp_hmap_t map;
    spate_key_t key;
    spate_collector_t out;
    spate_collector_t res; /* the reduce function's output: one row in res_batch */
    sp_batch_t *acc_batch, *res_batch;
    uint8_t *enc;
    size_t enc_cap;
} reduce_t;

static int no_sink(void *target, sp_batch_t *b)
{
    SP_UNUSED(target);
    SP_UNUSED(b);
    return SPATE_EINTERNAL; /* never reached: res_batch has room for two rows and is reset per call */
}

static int reduce_open(const void *spec, sp_op_ctx_t *ctx, void **inst)
{
    reduce_t *r = sp_xcalloc_aligned(sizeof *r);
    const spate_schema_t *schema = ctx->in_schema[0];
    r->spec = spec;
    r->ctx = ctx;
    sp_hmap_init(&r->map);
    sp_key_init(&r->key);
    sp_collector_init(&r->out, schema, SP_BATCH_CAPACITY, sp_output_sink_fn, ctx->out, ctx->error);
    sp_collector_init(&r->res, schema, 2, no_sink, NULL, ctx->error);
    r->acc_batch = sp_batch_create(schema, 2);
    r->res_batch = sp_batch_create(schema, 2);
    r->acc_batch->scratch = r->res_batch->scratch = true; /* rewritten per row */
    r->res.batch = r->res_batch;
    sp_batch_acquire(r->res_batch); /* one reference for the collector, one ours */
    r->enc_cap = 256;
    r->enc = sp_xmalloc(r->enc_cap);
    *inst = r;
    return SPATE_OK;
}

static void reduce_close(void *inst)
{
    reduce_t *r = inst;
    sp_hmap_fini(&r->map);
    sp_key_fini(&r->key);
    sp_collector_fini(&r->out);
    sp_collector_fini(&r->res);
    sp_batch_release(r->acc_batch);
    sp_batch_release(r->res_batch);
    free(r->enc);
    free(r);
}

/* Encodes row as [event time][row bytes] into r->enc; returns the length. */
static size_t encode_state(reduce_t *r, const spate_row_t *row)
{
    for (;;) {
        size_t need = 8 + sp_row_encode(row, r->enc + 8, r->enc_cap > 8 ? r->enc_cap - 8 : 0);
        if (need <= r->enc_cap) {
            int64_t ts = spate_row_event_time(row);
            memcpy(r->enc, &ts, 8);
            return need;
        }
        while (r->enc_cap < need) r->enc_cap *= 2;
        r->enc = sp_xrealloc(r->enc, r->enc_cap);
    }
}

/* Decodes a state value into acc_batch row 0. */
static int decode_state(reduce_t *r, const uint8_t *v, size_t len)
{
    r->acc_batch->count = 0;
    int rc = sp_row_decode_append(r->acc_batch, v + 8, len - 8, r->ctx->error);
    if (rc) return rc;
    memcpy(&r->acc_batch->timestamps[0], v, 8);
    return SPATE_OK;
}

static int reduce_process_batch(void *inst, int input, sp_batch_t *b)
{
    reduce_t *r = inst;
    const sp_reduce_spec_t *s = r->spec;
    sp_error_t *err = r->ctx->error;
    int maxp = r->ctx->info.max_parallelism;
    SP_UNUSED(input);
    spate_row_t row = { b, 0 };
    for (uint32_t i = 0; i < b->count; i++) {
        row.index = i;
        int rc = sp_key_compute(&s->key, &row, &r->key, err);
        if (rc) return rc;
        uint64_t h = sp_hash_bytes(r->key.buf, r->key.len);
        sp_hmap_entry_t *e = sp_hmap_get(&r->map, r->key.buf, r->key.len, h);
        const spate_row_t *result = &row;
        spate_row_t res_row = { r->res_batch, 0 };
        if (e) {
            rc = decode_state(r, sp_hmap_value(e), sp_hmap_vlen(e));
            if (rc) return rc;
            spate_row_t acc = { r->acc_batch, 0 };
            sp_collector_rewind(&r->res);
            r->res.input = &row;
            uint64_t before = r->res.emitted;
            rc = s->fn(s->sum_field >= 0 ? (void *)s : s->ctx, &acc, &row, &r->res);
            if (rc) return err->code ? err->code : user_failed(err, rc, "reduce function");
            if (r->res.emitted != before + 1)
                return sp_error_set(err, SPATE_EUSER,
                                    "a reduce function must emit exactly one row (emitted %llu)",
                                    (unsigned long long)(r->res.emitted - before));
            sp_collector_settle(&r->res); /* res_batch is read directly below */
            result = &res_row;
        }
        size_t n = encode_state(r, result);
        sp_hmap_put(&r->map, r->key.buf, r->key.len, h, sp_key_group(r->key.buf, r->key.len, maxp), r->enc,
                    n);
        if (!r->ctx->batch_mode) {
            rc = spate_out_emit_row(&r->out, result);
            if (rc) return rc;
        }
    }
    return sp_collector_flush(&r->out);
}

static int reduce_end_input(void *inst)
{
    reduce_t *r = inst;
    if (r->ctx->batch_mode) {
        sp_hmap_entry_t *e;
        for (size_t pos = 0; (e = sp_hmap_next(&r->map, &pos));) {
            int rc = decode_state(r, sp_hmap_value(e), sp_hmap_vlen(e));
            if (rc) return rc;
            spate_row_t acc = { r->acc_batch, 0 };
            rc = spate_out_emit_row(&r->out, &acc);
            if (rc) return rc;
        }
    }
    return sp_collector_flush(&r->out);
}

static void reduce_destroy(void *spec)
{
    free(spec);
}

/* Checkpoint hooks: the map (key -> [event time][accumulated row]) as the KEYED section "reduce",
 * in the keyed-state format (sp_hmap_snapshot); a restore takes the entries of its key groups. */
static int reduce_snapshot(void *inst, int64_t checkpoint_id, uint8_t **data, size_t *len)
{
    reduce_t *r = inst;
    SP_UNUSED(checkpoint_id);
    int first, last;
    sp_api_key_groups(r->ctx, &first, &last);
    sp_opsnap_t c;
    sp_opsnap_init(&c);
    int rc = sp_api_snapshot_map(&c, "reduce", &r->map, first, last, r->ctx->error);
    if (rc) {
        sp_opsnap_fini(&c);
        return rc;
    }
    sp_opsnap_finish(&c, data, len);
    return SPATE_OK;
}

static int reduce_restore(void *inst, const sp_opsnap_restore_t *rs)
{
    reduce_t *r = inst;
    return sp_api_restore_map(rs, "reduce", &r->map, r->ctx->error);
}

const sp_op_vtable_t sp_reduce_op = { .kind = "reduce",
                                      .open = reduce_open,
                                      .process_batch = reduce_process_batch,
                                      .end_input = reduce_end_input,
                                      .close = reduce_close,
                                      .destroy_spec = reduce_destroy,
                                      .snapshot = reduce_snapshot,
                                      .restore = reduce_restore };

int sp_sum_reduce_fn(void *ctx, const spate_row_t *acc, const spate_row_t *in, spate_collector_t *out)
{
    const sp_reduce_spec_t *s = ctx;
    int f = s->sum_field;
    int nf = spate_schema_field_count(spate_out_schema(out));
    for (int i = 0; i < nf; i++)
        if (i != f) spate_out_copy_field(out, i, acc, i);
    if (spate_row_is_null(in, f)) {
        spate_out_copy_field(out, f, acc, f);
    } else if (spate_row_is_null(acc, f)) {
        spate_out_copy_field(out, f, in, f);
    } else {
        switch (spate_schema_field_type(spate_out_schema(out), f)) {
        case SPATE_TYPE_INT:
            spate_out_set_int(
                out, f, (int32_t)((uint32_t)spate_row_get_int(acc, f) + (uint32_t)spate_row_get_int(in, f)));
            break;
        case SPATE_TYPE_BIGINT:
            spate_out_set_bigint(
                out, f,
                (int64_t)((uint64_t)spate_row_get_bigint(acc, f) + (uint64_t)spate_row_get_bigint(in, f)));
            break;
        case SPATE_TYPE_DOUBLE:
            spate_out_set_double(out, f, spate_row_get_double(acc, f) + spate_row_get_double(in, f));
            break;
        case SPATE_TYPE_DECIMAL: {
            spate_decimal_t a = spate_row_get_decimal(acc, f), b = spate_row_get_decimal(in, f), c;
            c.lo = a.lo + b.lo;
            c.hi = (int64_t)((uint64_t)a.hi + (uint64_t)b.hi + (c.lo < a.lo));
            spate_out_set_decimal(out, f, c);
            break;
        }
        default: return spate_out_fail(out, "sum over a field of a non-numeric type");
        }
    }
    return spate_out_emit(out);
}

/* ---- sinks ---- */

typedef struct sink_op {
    const spate_sink_t *sink;
    sp_op_ctx_t *ctx;
    void *writer;
} sink_op_t;

static int sink_open(const void *spec, sp_op_ctx_t *ctx, void **inst)
{
    sink_op_t *s = sp_xcalloc(1, sizeof *s);
    s->sink = spec;
    s->ctx = ctx;
    int rc = s->sink->vt->open(s->sink->spec, &ctx->info, ctx->error, &s->writer);
    if (rc) {
        free(s);
        return rc;
    }
    *inst = s;
    return SPATE_OK;
}

static int sink_process_batch(void *inst, int input, sp_batch_t *b)
{
    sink_op_t *s = inst;
    SP_UNUSED(input);
    return s->sink->vt->write(s->writer, b, s->ctx->error);
}

static int sink_watermark(void *inst, int64_t wm)
{
    SP_UNUSED(inst);
    SP_UNUSED(wm);
    return SPATE_OK;
}

static int sink_end_input(void *inst)
{
    sink_op_t *s = inst;
    if (s->ctx->checkpointing && s->sink->vt->prepare_finish) { /* committed by the final checkpoint */
        s->ctx->final_commit_pending = true;
        return s->sink->vt->prepare_finish(s->writer, s->ctx->error);
    }
    return s->sink->vt->finish ? s->sink->vt->finish(s->writer, s->ctx->error) : SPATE_OK;
}

static void sink_close(void *inst)
{
    sink_op_t *s = inst;
    if (s->sink->vt->close) s->sink->vt->close(s->writer);
    free(s);
}

static void sink_destroy(void *spec)
{
    spate_sink_destroy(spec);
}

static int sink_barrier(void *inst, int64_t id)
{
    sink_op_t *s = inst;
    return s->sink->vt->on_barrier ? s->sink->vt->on_barrier(s->writer, id, s->ctx->error) : SPATE_OK;
}

/* The sink's snapshot goes into a fresh operator-state store, encoded as the section "sink" of
 * the instance's container (state/opsnap.h). */
static int sink_snapshot(void *inst, int64_t id, uint8_t **data, size_t *len)
{
    sink_op_t *s = inst;
    *data = NULL;
    *len = 0;
    if (!s->sink->vt->snapshot) return SPATE_OK;
    sp_opstate_t *st = sp_opstate_create();
    int rc = s->sink->vt->snapshot(s->writer, id, st, s->ctx->error);
    if (rc == SPATE_OK && sp_opstate_count(st) > 0) {
        sp_opstate_bytes_t b;
        sp_opstate_snapshot(st, &b);
        sp_opsnap_t c;
        sp_opsnap_init(&c);
        sp_opsnap_add(&c, SP_OPSNAP_OPERATOR, "sink", b.data, b.len);
        sp_opsnap_finish(&c, data, len);
        sp_opstate_bytes_free(&b);
    }
    sp_opstate_destroy(st);
    return rc;
}

static int sink_restore(void *inst, const sp_opsnap_restore_t *r)
{
    sink_op_t *s = inst;
    if (!s->sink->vt->restore) return SPATE_OK;
    uint8_t *share;
    size_t len;
    int rc = sp_opsnap_operator_share(r, "sink", &share, &len, s->ctx->error);
    if (rc) return rc;
    sp_opstate_t *st = sp_opstate_create();
    rc = sp_opstate_restore(st, share, len, s->ctx->error);
    if (rc == SPATE_OK && !s->ctx->dry_restore) rc = s->sink->vt->restore(s->writer, st, s->ctx->error);
    sp_opstate_destroy(st);
    free(share);
    return rc;
}

static int sink_notify_complete(void *inst, int64_t id)
{
    sink_op_t *s = inst;
    return s->sink->vt->notify_checkpoint_complete
               ? s->sink->vt->notify_checkpoint_complete(s->writer, id, s->ctx->error)
               : SPATE_OK;
}

const sp_op_vtable_t sp_sink_op = { .kind = "sink",
                                    .open = sink_open,
                                    .process_batch = sink_process_batch,
                                    .process_watermark = sink_watermark,
                                    .end_input = sink_end_input,
                                    .close = sink_close,
                                    .destroy_spec = sink_destroy,
                                    .process_barrier = sink_barrier,
                                    .snapshot = sink_snapshot,
                                    .restore = sink_restore,
                                    .notify_checkpoint_complete = sink_notify_complete };
