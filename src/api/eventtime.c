/*
 * eventtime.c — watermark strategies and the operator that assigns event
 * timestamps and generates watermarks (Flink's TimestampsAndWatermarksOperator).
 *
 * Per batch the operator makes a view of the batch with its own timestamp
 * vector (no column is copied), computes each row's timestamp and feeds the
 * generator.  Built-in strategies (bounded out-of-orderness; monotonous is
 * the bound 0) track the largest timestamp and emit max - bound - 1: from
 * the periodic timer, or, with per-record emission, after each record that
 * raises it (then there is no periodic emission: it could only repeat that
 * value).  A custom generator may emit on a record.  A watermark emitted on
 * a record follows it in order: the rows up to that record go out first,
 * then the watermark (the batch is cut there).  Idleness: the operator
 * timer marks the instance idle after the timeout without records; the
 * next batch marks it active again.  Upstream watermarks and statuses are
 * not passed on, except the final MAX at end of input and an idle input of
 * an instance that has seen no record (a source reader without splits).
 */
#include "api/api.h"

#include <stdio.h>
#include <string.h>

#include "connectors/connector.h"

typedef enum wm_kind { WM_BOUNDED = 0, WM_GENERATOR = 1 } wm_kind_t;

struct spate_watermark_strategy {
    wm_kind_t kind;
    int64_t bound;
    spate_watermark_generator_t gen;
    char *ts_field; /* resolved against the input schema when the strategy is used */
    spate_timestamp_fn ts_fn;
    void *ts_ctx;
    int64_t idle_ms;
    bool per_record; /* built-in only: emit after each record instead of periodically */
};

struct spate_watermark_output {
    int64_t watermark;
    bool idle;
};

void spate_watermark_output_emit(spate_watermark_output_t *out, int64_t watermark)
{
    if (watermark > out->watermark) out->watermark = watermark;
}

void spate_watermark_output_mark_idle(spate_watermark_output_t *out)
{
    out->idle = true;
}

static spate_watermark_strategy_t *strategy_new(wm_kind_t kind)
{
    spate_watermark_strategy_t *ws = sp_xcalloc(1, sizeof *ws);
    ws->kind = kind;
    return ws;
}

spate_watermark_strategy_t *spate_watermark_for_monotonous_timestamps(void)
{
    return strategy_new(WM_BOUNDED);
}

spate_watermark_strategy_t *spate_watermark_for_bounded_out_of_orderness(int64_t max_out_of_orderness_ms)
{
    if (max_out_of_orderness_ms < 0) {
        sp_set_error(SPATE_EINVAL, "watermark strategy: out-of-orderness must be >= 0, not %lld",
                     (long long)max_out_of_orderness_ms);
        return NULL;
    }
    spate_watermark_strategy_t *ws = strategy_new(WM_BOUNDED);
    ws->bound = max_out_of_orderness_ms;
    return ws;
}

spate_watermark_strategy_t *spate_watermark_for_generator(const spate_watermark_generator_t *generator)
{
    if (!generator || (!generator->on_event && !generator->on_periodic_emit)) {
        sp_set_error(SPATE_EINVAL, "watermark strategy: a generator needs on_event or on_periodic_emit");
        return NULL;
    }
    spate_watermark_strategy_t *ws = strategy_new(WM_GENERATOR);
    ws->gen = *generator;
    return ws;
}

void spate_watermark_strategy_destroy(spate_watermark_strategy_t *ws)
{
    if (!ws) return;
    free(ws->ts_field);
    free(ws);
}

spate_watermark_strategy_t *spate_watermark_with_timestamp_field(spate_watermark_strategy_t *ws,
                                                                 const char *field)
{
    if (!ws) return NULL;
    free(ws->ts_field);
    ws->ts_field = field ? sp_xstrdup(field) : NULL;
    ws->ts_fn = NULL;
    return ws;
}

spate_watermark_strategy_t *spate_watermark_with_timestamp_assigner(spate_watermark_strategy_t *ws,
                                                                    spate_timestamp_fn fn, void *ctx)
{
    if (!ws) return NULL;
    free(ws->ts_field);
    ws->ts_field = NULL;
    ws->ts_fn = fn;
    ws->ts_ctx = ctx;
    return ws;
}

spate_watermark_strategy_t *spate_watermark_with_idleness(spate_watermark_strategy_t *ws,
                                                          int64_t idle_timeout_ms)
{
    if (ws) ws->idle_ms = idle_timeout_ms > 0 ? idle_timeout_ms : 0;
    return ws;
}

spate_watermark_strategy_t *spate_watermark_with_per_record_emission(spate_watermark_strategy_t *ws)
{
    if (ws) ws->per_record = true; /* checked against the kind when the strategy is used */
    return ws;
}

/* ---- the operator ---- */

typedef struct wm_spec {
    spate_watermark_strategy_t *ws;
    int ts_field; /* resolved index, or -1 */
} wm_spec_t;

typedef struct wm_op {
    const wm_spec_t *spec;
    sp_op_ctx_t *ctx;
    void *gen_state;
    int64_t max_ts;
    int64_t watermark; /* last emitted */
    int64_t interval_ms;
    int64_t last_activity;
    bool idle;
} wm_op_t;

static void arm(wm_op_t *w, int64_t now)
{
    int64_t next = INT64_MAX;
    if (w->interval_ms > 0) next = now + w->interval_ms;
    if (w->spec->ws->idle_ms > 0 && !w->idle) {
        int64_t idle_at = w->last_activity + w->spec->ws->idle_ms;
        if (idle_at < next) next = idle_at > now ? idle_at : now + 1;
    }
    w->ctx->timer_at = next;
}

static int wm_open(const void *spec, sp_op_ctx_t *ctx, void **inst)
{
    const wm_spec_t *s = spec;
    wm_op_t *w = sp_xcalloc_aligned(sizeof *w);
    w->spec = s;
    w->ctx = ctx;
    w->max_ts = INT64_MIN;
    w->watermark = INT64_MIN;
    /* per-record emission has already sent anything a periodic one would */
    w->interval_ms =
        s->ws->per_record ? 0 : sp_config_get_duration_ms(ctx->config, "pipeline.auto-watermark-interval");
    const spate_watermark_generator_t *g = &s->ws->gen;
    w->gen_state = s->ws->kind == WM_GENERATOR && g->create ? g->create(g->ctx) : g->ctx;
    w->last_activity = sp_op_ctx_now(ctx);
    arm(w, w->last_activity);
    *inst = w;
    return SPATE_OK;
}

static void wm_close(void *inst)
{
    wm_op_t *w = inst;
    const spate_watermark_generator_t *g = &w->spec->ws->gen;
    if (w->spec->ws->kind == WM_GENERATOR && g->create && g->destroy) g->destroy(w->gen_state);
    free(w);
}

static int emit_watermark(wm_op_t *w, int64_t wm)
{
    if (wm <= w->watermark) return SPATE_OK;
    w->watermark = wm;
    return sp_output_push_watermark(w->ctx->out, wm);
}

/* A built-in strategy's watermark: max - bound - 1, INT64_MIN before any timestamp (or where it
 * would overflow: timestamps within the bound of INT64_MIN). */
static int64_t bounded_watermark(const wm_op_t *w)
{
    int64_t bound = w->spec->ws->bound;
    return w->max_ts < INT64_MIN + bound + 1 ? INT64_MIN : w->max_ts - bound - 1;
}

static int set_idle(wm_op_t *w, bool idle)
{
    if (w->idle == idle) return SPATE_OK;
    w->idle = idle;
    return sp_output_push_status(w->ctx->out, idle);
}

/* Sends rows [a, e) of o on: o itself when that is all of it, else a copy of those rows. */
static int push_rows(wm_op_t *w, sp_batch_t *o, uint32_t a, uint32_t e)
{
    if (a == 0 && e == o->count) return sp_output_push_batch(w->ctx->out, sp_batch_acquire(o));
    sp_batch_t *part = sp_batch_create(o->schema, e - a);
    for (uint32_t i = a; i < e; i++) sp_batch_append_row(part, o, i);
    return sp_output_push_batch(w->ctx->out, part);
}

static int wm_process_batch(void *inst, int input, sp_batch_t *b)
{
    wm_op_t *w = inst;
    const wm_spec_t *s = w->spec;
    const spate_watermark_strategy_t *ws = s->ws;
    SP_UNUSED(input);
    if (b->count == 0) return SPATE_OK;
    int rc = set_idle(w, false);
    if (rc) return rc;
    if (ws->idle_ms > 0) w->last_activity = sp_op_ctx_now(w->ctx);
    if (ws->kind == WM_BOUNDED && !ws->per_record && s->ts_field < 0 && !ws->ts_fn) {
        /* the records keep their timestamps and the watermark is periodic: only the maximum is
         * needed, and the batch goes on as it is */
        int64_t max = w->max_ts;
        for (uint32_t i = 0; i < b->count; i++) max = b->timestamps[i] > max ? b->timestamps[i] : max;
        w->max_ts = max;
        return sp_output_push_batch(w->ctx->out, sp_batch_acquire(b));
    }
    sp_batch_t *o = sp_batch_retime(b);
    uint32_t from = 0;
    spate_row_t row = { b, 0 };
    for (uint32_t i = 0; i < b->count && rc == SPATE_OK; i++) {
        row.index = i;
        int64_t ts;
        if (s->ts_field >= 0) {
            if (spate_row_is_null(&row, s->ts_field)) {
                rc = sp_error_set(w->ctx->error, SPATE_EINVAL, "timestamp field '%s' is NULL", ws->ts_field);
                break;
            }
            ts = spate_row_get_bigint(&row, s->ts_field);
        } else if (ws->ts_fn) {
            ts = ws->ts_fn(ws->ts_ctx, &row);
        } else {
            ts = b->timestamps[i];
        }
        o->timestamps[i] = ts;
        if (ts > w->max_ts) w->max_ts = ts;
        spate_watermark_output_t out = { w->watermark, false };
        if (ws->kind == WM_GENERATOR && ws->gen.on_event)
            ws->gen.on_event(w->gen_state, ts, &row, &out);
        else if (ws->kind == WM_BOUNDED && ws->per_record)
            spate_watermark_output_emit(&out, bounded_watermark(w));
        if (out.watermark > w->watermark) { /* the rows so far, then the watermark */
            rc = push_rows(w, o, from, i + 1);
            from = i + 1;
            if (rc == SPATE_OK) rc = emit_watermark(w, out.watermark);
        }
        if (rc == SPATE_OK && out.idle) rc = set_idle(w, true);
    }
    if (rc == SPATE_OK && from < b->count) rc = push_rows(w, o, from, b->count);
    sp_batch_release(o);
    return rc;
}

static int wm_on_timer(void *inst, int64_t now)
{
    wm_op_t *w = inst;
    const spate_watermark_strategy_t *ws = w->spec->ws;
    int rc = SPATE_OK;
    if (w->interval_ms > 0) {
        if (ws->kind == WM_BOUNDED) {
            rc = emit_watermark(w, bounded_watermark(w));
        } else if (ws->gen.on_periodic_emit) {
            spate_watermark_output_t out = { w->watermark, false };
            ws->gen.on_periodic_emit(w->gen_state, &out);
            rc = emit_watermark(w, out.watermark);
            if (rc == SPATE_OK && out.idle) rc = set_idle(w, true);
        }
    }
    if (rc == SPATE_OK && ws->idle_ms > 0 && !w->idle && now - w->last_activity >= ws->idle_ms)
        rc = set_idle(w, true);
    arm(w, now);
    return rc;
}

/* Only the final watermark from upstream passes (the strategy makes the others). */
static int wm_process_watermark(void *inst, int64_t wm)
{
    wm_op_t *w = inst;
    if (wm != SP_WATERMARK_MAX) return SPATE_OK;
    w->watermark = wm;
    return sp_output_push_watermark(w->ctx->out, wm);
}

/* This operator's own idleness is what counts downstream, except that an instance that has seen
 * no record yet passes an idle input on: a source reader without splits (a source restored at a
 * higher parallelism than its splits, connector.h) never emits, and would otherwise hold every
 * watermark downstream back.  Its next record makes it active again. */
static int wm_process_status(void *inst, bool idle)
{
    wm_op_t *w = inst;
    if (idle && w->max_ts == INT64_MIN) return set_idle(w, true);
    return SPATE_OK;
}

static void wm_destroy(void *spec)
{
    wm_spec_t *s = spec;
    spate_watermark_strategy_destroy(s->ws);
    free(s);
}

static const sp_op_vtable_t wm_op = { .kind = "timestamps-watermarks",
                                      .open = wm_open,
                                      .process_batch = wm_process_batch,
                                      .process_watermark = wm_process_watermark,
                                      .close = wm_close,
                                      .destroy_spec = wm_destroy,
                                      .on_timer = wm_on_timer,
                                      .process_status = wm_process_status };

/* Adds the operator after s; `follow_source` pins it to the source's parallelism (chained). */
static spate_stream_t *assign(spate_stream_t *s, spate_watermark_strategy_t *ws, const char *name)
{
    if (!s) {
        spate_watermark_strategy_destroy(ws);
        return NULL;
    }
    if (!ws) {
        const char *why = spate_last_error();
        sp_api_fail(s->env, SPATE_EINVAL, "%s",
                    strncmp(why, "watermark strategy:", 19) == 0 ? why : "watermark strategy: NULL strategy");
        return NULL;
    }
    wm_spec_t *spec = sp_xcalloc(1, sizeof *spec);
    spec->ws = ws;
    spec->ts_field = -1;
    if (ws->ts_field) {
        int f = spate_schema_field_index(s->schema, ws->ts_field);
        spate_type_id_t t = spate_schema_field_type(s->schema, f);
        if (f < 0 || (t != SPATE_TYPE_BIGINT && t != SPATE_TYPE_TIMESTAMP)) {
            sp_api_fail(s->env, SPATE_EINVAL, "watermark strategy: timestamp field '%s' %s", ws->ts_field,
                        f < 0 ? "does not exist" : "is not BIGINT or TIMESTAMP");
            wm_destroy(spec);
            return NULL;
        }
        spec->ts_field = f;
    }
    if (ws->per_record && ws->kind != WM_BOUNDED) {
        sp_api_fail(s->env, SPATE_EINVAL,
                    "watermark strategy: per-record emission needs a built-in strategy (monotonous or "
                    "bounded out-of-orderness); a custom generator emits per record from on_event");
        wm_destroy(spec);
        return NULL;
    }
    return sp_api_add_operator(s, name, "Timestamps/Watermarks", &wm_op, spec, NULL);
}

spate_stream_t *spate_stream_assign_timestamps_and_watermarks(spate_stream_t *s,
                                                              spate_watermark_strategy_t *ws)
{
    return assign(s, ws, NULL);
}

spate_stream_t *spate_env_add_source_with_watermarks(spate_env_t *env, spate_source_t *source,
                                                     spate_watermark_strategy_t *ws, const char *name)
{
    bool parallel = source && source->parallel;
    spate_stream_t *s = spate_env_add_source(env, source, name);
    char opname[256];
    snprintf(opname, sizeof opname, "%s: Timestamps/Watermarks", name ? name : "Source");
    spate_stream_t *t = assign(s, ws, opname);
    /* one generator per source instance (split): same parallelism, chained to it */
    if (t && parallel)
        sp_api_same_parallelism(t, s);
    else if (t)
        spate_stream_set_parallelism(t, 1);
    return t;
}
