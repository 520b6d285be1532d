/*
 * join.c — the interval join of two keyed streams (Flink's IntervalJoinOperator).
 *
 * State per key and side: the buffered rows as one value ([i64 time][u32 length][row-encoded
 * row])...  A row arriving on one side is matched against the other side's buffer, then
 * buffered itself with a cleanup timer: a left row at t can meet right rows up to t + upper,
 * so it is dropped when the watermark passes t + upper; a right row at t meets left rows from
 * t - upper to t - lower, so it goes when the watermark passes t - lower.  The timer key is
 * [side][key]; cleanup removes every buffered row of that side that can no longer match.
 */
#include "api/api.h"

#include <string.h>

#include "state/backend.h"
#include "state/timers.h"
#include "types/encoding.h"

typedef struct join_spec {
    sp_key_selector_t key[2];
    int64_t lower, upper;
    spate_join_fn fn;
    void *ctx;
} join_spec_t;

typedef struct join_op {
    const join_spec_t *spec;
    sp_op_ctx_t *ctx;
    sp_state_backend_t *be;
    int buf_state[2];
    sp_timer_service_t timers;
    spate_collector_t out;
    spate_key_t key;
    int key_group;
    int64_t watermark;
    sp_batch_t *other[2]; /* decode scratch per side */
    uint8_t *val;
    size_t valcap;
    uint8_t *tkey;
    size_t tkeycap;
} join_op_t;

static int join_open(const void *spec, sp_op_ctx_t *ctx, void **inst)
{
    join_op_t *j = sp_xcalloc_aligned(sizeof *j);
    j->spec = spec;
    j->ctx = ctx;
    j->be = sp_heap_backend_create();
    j->buf_state[0] = sp_state_id(j->be, "left");
    j->buf_state[1] = sp_state_id(j->be, "right");
    sp_timers_init(&j->timers);
    sp_collector_init(&j->out, ctx->out_schema, SP_BATCH_CAPACITY, sp_output_sink_fn, ctx->out, ctx->error);
    sp_key_init(&j->key);
    j->watermark = SP_WATERMARK_MIN;
    for (int s = 0; s < 2; s++) {
        j->other[s] = sp_batch_create(ctx->in_schema[s], 2);
        j->other[s]->scratch = true;
    }
    j->valcap = 1024;
    j->val = sp_xmalloc(j->valcap);
    *inst = j;
    return SPATE_OK;
}

static void join_close(void *inst)
{
    join_op_t *j = inst;
    sp_state_backend_destroy(j->be);
    sp_timers_fini(&j->timers);
    sp_collector_fini(&j->out);
    sp_key_fini(&j->key);
    for (int s = 0; s < 2; s++) sp_batch_release(j->other[s]);
    free(j->val);
    free(j->tkey);
    free(j);
}

static void reserve(join_op_t *j, size_t n)
{
    if (n <= j->valcap) return;
    while (j->valcap < n) j->valcap *= 2;
    j->val = sp_xrealloc(j->val, j->valcap);
}

/* Calls fn for the row `row` of side `side` with each buffered row of the other side in range. */
static int match(join_op_t *j, int side, const spate_row_t *row, int64_t t)
{
    int other = 1 - side;
    size_t len;
    const uint8_t *v =
        sp_state_get(j->be, j->buf_state[other], j->key_group, j->key.buf, j->key.len, NULL, 0, &len);
    if (!v) return SPATE_OK;
    reserve(j, len);
    memcpy(j->val, v, len); /* fn may emit: do not hold a backend pointer */
    int64_t lo = side == 0 ? t + j->spec->lower : t - j->spec->upper;
    int64_t hi = side == 0 ? t + j->spec->upper : t - j->spec->lower;
    for (size_t at = 0; at + 12 <= len;) {
        int64_t ot;
        uint32_t l;
        memcpy(&ot, j->val + at, 8);
        memcpy(&l, j->val + at + 8, 4);
        if (ot >= lo && ot <= hi) {
            sp_batch_t *b = j->other[other];
            b->count = 0;
            int rc = sp_row_decode_append(b, j->val + at + 12, l, j->ctx->error);
            if (rc) return rc;
            b->timestamps[0] = ot;
            spate_row_t orow = { b, 0 };
            spate_out_set_event_time(&j->out, ot > t ? ot : t);
            rc = side == 0 ? j->spec->fn(j->spec->ctx, row, &orow, &j->out)
                           : j->spec->fn(j->spec->ctx, &orow, row, &j->out);
            sp_collector_settle(&j->out);
            if (rc)
                return j->ctx->error->code
                           ? j->ctx->error->code
                           : sp_error_set(j->ctx->error, SPATE_EUSER, "join function returned %d", rc);
        }
        at += 12 + l;
    }
    return SPATE_OK;
}

static int join_process_batch(void *inst, int input, sp_batch_t *b)
{
    join_op_t *j = inst;
    int maxp = j->ctx->info.max_parallelism;
    spate_row_t row = { b, 0 };
    for (uint32_t i = 0; i < b->count; i++) {
        row.index = i;
        int64_t t = b->timestamps[i];
        if (t == SPATE_NO_TIMESTAMP)
            return sp_error_set(
                j->ctx->error, SPATE_EINVAL,
                "a record without an event timestamp reached an interval join: assign timestamps first");
        if (t < j->watermark) continue; /* late: Flink drops it */
        int rc = sp_key_compute(&j->spec->key[input], &row, &j->key, j->ctx->error);
        if (rc) return rc;
        j->key_group = sp_key_group(j->key.buf, j->key.len, maxp);
        if ((rc = match(j, input, &row, t)) != SPATE_OK) return rc;
        /* buffer it */
        size_t len;
        const uint8_t *v =
            sp_state_get(j->be, j->buf_state[input], j->key_group, j->key.buf, j->key.len, NULL, 0, &len);
        size_t rl = sp_row_encode(&row, NULL, 0), have = v ? len : 0;
        reserve(j, have + 12 + rl);
        if (v) memcpy(j->val, v, len);
        uint32_t l = (uint32_t)rl;
        memcpy(j->val + have, &t, 8);
        memcpy(j->val + have + 8, &l, 4);
        sp_row_encode(&row, j->val + have + 12, rl);
        sp_state_put(j->be, j->buf_state[input], j->key_group, j->key.buf, j->key.len, NULL, 0, j->val,
                     have + 12 + rl);
        /* cleanup timer: [side][key] at the time after which this row cannot match any more */
        size_t tn = 1 + j->key.len;
        if (tn > j->tkeycap) {
            j->tkeycap = 2 * tn;
            j->tkey = sp_xrealloc(j->tkey, j->tkeycap);
        }
        j->tkey[0] = (uint8_t)input;
        memcpy(j->tkey + 1, j->key.buf, j->key.len);
        int64_t until = input == 0 ? t + j->spec->upper : t - j->spec->lower;
        sp_timers_register(&j->timers, until, j->key_group, j->tkey, tn);
    }
    return sp_collector_flush(&j->out);
}

/* Drops the rows of one side and key that the watermark put out of reach. */
static void cleanup(join_op_t *j, const sp_timer_t *t)
{
    int side = t->key[0];
    sp_key_reset(&j->key);
    spate_key_append_bytes(&j->key, t->key + 1, t->klen - 1);
    size_t len;
    const uint8_t *v =
        sp_state_get(j->be, j->buf_state[side], t->key_group, j->key.buf, j->key.len, NULL, 0, &len);
    if (!v) return;
    reserve(j, len);
    size_t kept = 0;
    for (size_t at = 0; at + 12 <= len;) {
        int64_t rt;
        uint32_t l;
        memcpy(&rt, v + at, 8);
        memcpy(&l, v + at + 8, 4);
        int64_t until = side == 0 ? rt + j->spec->upper : rt - j->spec->lower;
        if (until > j->watermark) { /* can still match */
            memcpy(j->val + kept, v + at, 12 + l);
            kept += 12 + l;
        }
        at += 12 + l;
    }
    if (kept)
        sp_state_put(j->be, j->buf_state[side], t->key_group, j->key.buf, j->key.len, NULL, 0, j->val, kept);
    else
        sp_state_remove(j->be, j->buf_state[side], t->key_group, j->key.buf, j->key.len, NULL, 0);
}

static int join_process_watermark(void *inst, int64_t wm)
{
    join_op_t *j = inst;
    j->watermark = wm;
    sp_timer_t t;
    while (sp_timers_pop(&j->timers, wm, &t)) {
        cleanup(j, &t);
    }
    int rc = sp_collector_flush(&j->out);
    return rc ? rc : sp_output_push_watermark(j->ctx->out, wm);
}

static void join_destroy(void *spec)
{
    free(spec);
}

/* ---- checkpoint hooks ----
 * The container: KEYED "keyed" (both sides' buffers) and TIMERS "event" (the cleanup timers).  The
 * watermark is not stored (as Flink: INT64_MIN after a restore, so no row counts as late until
 * the first watermark comes). */

static int join_snapshot(void *inst, int64_t checkpoint_id, uint8_t **data, size_t *len)
{
    join_op_t *j = inst;
    sp_error_t *err = j->ctx->error;
    SP_UNUSED(checkpoint_id);
    int first, last;
    sp_api_key_groups(j->ctx, &first, &last);
    sp_opsnap_t c;
    sp_opsnap_init(&c);
    int rc = sp_api_snapshot_keyed(&c, SP_OPSNAP_KEYED, "keyed", j->be, first, last, err);
    if (rc == SPATE_OK) rc = sp_api_snapshot_timers(&c, "event", &j->timers, first, last, err);
    if (rc) {
        sp_opsnap_fini(&c);
        return rc;
    }
    sp_opsnap_finish(&c, data, len);
    return SPATE_OK;
}

static int join_restore(void *inst, const sp_opsnap_restore_t *r)
{
    join_op_t *j = inst;
    int rc = sp_api_restore_keyed(r, "keyed", j->be, j->ctx->error);
    return rc ? rc : sp_api_restore_timers(r, "event", &j->timers, j->ctx->error);
}

static const sp_op_vtable_t join_vt = { .kind = "interval-join",
                                        .open = join_open,
                                        .process_batch = join_process_batch,
                                        .process_watermark = join_process_watermark,
                                        .close = join_close,
                                        .destroy_spec = join_destroy,
                                        .snapshot = join_snapshot,
                                        .restore = join_restore };

spate_stream_t *spate_keyed_interval_join(spate_keyed_t *left, spate_keyed_t *right, int64_t lower_ms,
                                          int64_t upper_ms, const char *name, spate_join_fn fn, void *ctx,
                                          const spate_schema_t *out_schema)
{
    if (!left || !right) return NULL;
    spate_env_t *env = left->s.env;
    if (!fn || !out_schema || lower_ms > upper_ms) {
        sp_api_fail(env, SPATE_EINVAL,
                    "interval join '%s': needs a function, an output schema and lower <= upper",
                    name ? name : "");
        return NULL;
    }
    join_spec_t *spec = sp_xcalloc(1, sizeof *spec);
    spec->key[0] = left->s.inputs[0].key;
    spec->key[1] = right->s.inputs[0].key;
    spec->lower = lower_ms;
    spec->upper = upper_ms;
    spec->fn = fn;
    spec->ctx = ctx;
    return sp_api_two_input(spate_keyed_connect(left, right), name, "IntervalJoin", &join_vt, spec,
                            out_schema);
}
