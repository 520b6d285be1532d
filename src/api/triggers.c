/*
 * triggers.c — the built-in window triggers and evictors (include/spate/window.h):
 * event time, processing time, count, continuous event / processing time,
 * never, purging; count, time and delta evictors.  They use only the public
 * trigger context, as a custom trigger would; the window operator (window.c)
 * asks the sp_trigger_* / sp_evictor_* helpers below about them.
 */
#include "api/api.h"

/* ---- built-in triggers ---- */

static spate_trigger_result_t et_on_element(const spate_trigger_t *self, const spate_row_t *row, int64_t ts,
                                            const spate_window_t *w, spate_trigger_context_t *tc)
{
    SP_UNUSED(self);
    SP_UNUSED(row);
    SP_UNUSED(ts);
    if (sp_window_max_ts(w) <= spate_trigger_context_watermark(tc))
        return SPATE_TRIGGER_FIRE; /* a late firing */
    spate_trigger_register_event_time(tc, sp_window_max_ts(w));
    return SPATE_TRIGGER_CONTINUE;
}

static spate_trigger_result_t et_on_event_time(const spate_trigger_t *self, int64_t time,
                                               const spate_window_t *w, spate_trigger_context_t *tc)
{
    SP_UNUSED(self);
    SP_UNUSED(tc);
    return time == sp_window_max_ts(w) ? SPATE_TRIGGER_FIRE : SPATE_TRIGGER_CONTINUE;
}

static void et_on_merge(const spate_trigger_t *self, const spate_window_t *w, const spate_window_t *merged,
                        size_t n, spate_trigger_context_t *tc)
{
    SP_UNUSED(self);
    SP_UNUSED(merged);
    SP_UNUSED(n);
    if (sp_window_max_ts(w) > spate_trigger_context_watermark(tc))
        spate_trigger_register_event_time(tc, sp_window_max_ts(w));
}

static void et_clear(const spate_trigger_t *self, const spate_window_t *w, spate_trigger_context_t *tc)
{
    SP_UNUSED(self);
    spate_trigger_delete_event_time(tc, sp_window_max_ts(w));
}

spate_trigger_t spate_event_time_trigger(void)
{
    spate_trigger_t t = { .on_element = et_on_element,
                          .on_event_time = et_on_event_time,
                          .on_merge = et_on_merge,
                          .clear = et_clear };
    return t;
}

static spate_trigger_result_t pt_on_element(const spate_trigger_t *self, const spate_row_t *row, int64_t ts,
                                            const spate_window_t *w, spate_trigger_context_t *tc)
{
    SP_UNUSED(self);
    SP_UNUSED(row);
    SP_UNUSED(ts);
    spate_trigger_register_processing_time(tc, sp_window_max_ts(w));
    return SPATE_TRIGGER_CONTINUE;
}

static spate_trigger_result_t pt_on_processing_time(const spate_trigger_t *self, int64_t time,
                                                    const spate_window_t *w, spate_trigger_context_t *tc)
{
    SP_UNUSED(self);
    SP_UNUSED(tc);
    return time == sp_window_max_ts(w) ? SPATE_TRIGGER_FIRE : SPATE_TRIGGER_CONTINUE;
}

static void pt_on_merge(const spate_trigger_t *self, const spate_window_t *w, const spate_window_t *merged,
                        size_t n, spate_trigger_context_t *tc)
{
    SP_UNUSED(self);
    SP_UNUSED(merged);
    SP_UNUSED(n);
    if (sp_window_max_ts(w) > spate_trigger_context_processing_time(tc))
        spate_trigger_register_processing_time(tc, sp_window_max_ts(w));
}

static void pt_clear(const spate_trigger_t *self, const spate_window_t *w, spate_trigger_context_t *tc)
{
    SP_UNUSED(self);
    spate_trigger_delete_processing_time(tc, sp_window_max_ts(w));
}

spate_trigger_t spate_processing_time_trigger(void)
{
    spate_trigger_t t = { .on_element = pt_on_element,
                          .on_processing_time = pt_on_processing_time,
                          .on_merge = pt_on_merge,
                          .clear = pt_clear };
    return t;
}

/* A trigger's int64 state (fallback when unset). */
static int64_t state_i64(spate_trigger_context_t *tc, const spate_window_t *w, const char *name,
                         int64_t fallback)
{
    int64_t v;
    return spate_trigger_state_get_in(tc, w, name, &v, 8) == 8 ? v : fallback;
}

static void put_i64(spate_trigger_context_t *tc, const char *name, int64_t v)
{
    spate_trigger_state_put(tc, name, &v, 8);
}

static spate_trigger_result_t count_on_element(const spate_trigger_t *self, const spate_row_t *row,
                                               int64_t ts, const spate_window_t *w,
                                               spate_trigger_context_t *tc)
{
    SP_UNUSED(row);
    SP_UNUSED(ts);
    int64_t c = state_i64(tc, w, "count", 0) + 1;
    if (c >= self->n) {
        spate_trigger_state_clear(tc, "count");
        return SPATE_TRIGGER_FIRE;
    }
    put_i64(tc, "count", c);
    return SPATE_TRIGGER_CONTINUE;
}

static void count_on_merge(const spate_trigger_t *self, const spate_window_t *w, const spate_window_t *merged,
                           size_t n, spate_trigger_context_t *tc)
{
    SP_UNUSED(self);
    int64_t c = state_i64(tc, w, "count", 0);
    for (size_t i = 0; i < n; i++) c += state_i64(tc, &merged[i], "count", 0);
    if (c) put_i64(tc, "count", c);
}

static void count_clear(const spate_trigger_t *self, const spate_window_t *w, spate_trigger_context_t *tc)
{
    SP_UNUSED(self);
    SP_UNUSED(w);
    spate_trigger_state_clear(tc, "count");
}

spate_trigger_t spate_count_trigger(int64_t count)
{
    spate_trigger_t t = {
        .n = count, .on_element = count_on_element, .on_merge = count_on_merge, .clear = count_clear
    };
    return t;
}

/* Continuous triggers keep their next firing time in "fire-time"; the next is one interval on,
 * at most the window's end - 1. */
static void next_fire(const spate_trigger_t *self, const spate_window_t *w, spate_trigger_context_t *tc,
                      int64_t from, bool processing)
{
    int64_t next = sp_add_sat(from, self->n);
    if (next > sp_window_max_ts(w)) next = sp_window_max_ts(w);
    put_i64(tc, "fire-time", next);
    if (processing)
        spate_trigger_register_processing_time(tc, next);
    else
        spate_trigger_register_event_time(tc, next);
}

static spate_trigger_result_t cet_on_element(const spate_trigger_t *self, const spate_row_t *row, int64_t ts,
                                             const spate_window_t *w, spate_trigger_context_t *tc)
{
    SP_UNUSED(row);
    if (sp_window_max_ts(w) <= spate_trigger_context_watermark(tc)) return SPATE_TRIGGER_FIRE;
    spate_trigger_register_event_time(tc, sp_window_max_ts(w));
    if (state_i64(tc, w, "fire-time", INT64_MIN) == INT64_MIN)
        next_fire(self, w, tc, sp_floor_to(ts, self->n), false);
    return SPATE_TRIGGER_CONTINUE;
}

static spate_trigger_result_t cet_on_event_time(const spate_trigger_t *self, int64_t time,
                                                const spate_window_t *w, spate_trigger_context_t *tc)
{
    if (time == sp_window_max_ts(w)) return SPATE_TRIGGER_FIRE;
    if (state_i64(tc, w, "fire-time", INT64_MIN) != time) return SPATE_TRIGGER_CONTINUE;
    next_fire(self, w, tc, time, false);
    return SPATE_TRIGGER_FIRE;
}

/* Continuous triggers merge to the earliest next firing. */
static void continuous_merge(const spate_trigger_t *self, const spate_window_t *w,
                             const spate_window_t *merged, size_t n, spate_trigger_context_t *tc,
                             bool processing)
{
    SP_UNUSED(self);
    int64_t next = state_i64(tc, w, "fire-time", INT64_MAX);
    for (size_t i = 0; i < n; i++) {
        int64_t t = state_i64(tc, &merged[i], "fire-time", INT64_MAX);
        if (t < next) next = t;
    }
    if (!processing && sp_window_max_ts(w) > spate_trigger_context_watermark(tc))
        spate_trigger_register_event_time(tc, sp_window_max_ts(w));
    if (next == INT64_MAX) return;
    put_i64(tc, "fire-time", next);
    if (processing)
        spate_trigger_register_processing_time(tc, next);
    else
        spate_trigger_register_event_time(tc, next);
}

static void cet_on_merge(const spate_trigger_t *self, const spate_window_t *w, const spate_window_t *merged,
                         size_t n, spate_trigger_context_t *tc)
{
    continuous_merge(self, w, merged, n, tc, false);
}

static void continuous_clear(const spate_trigger_t *self, const spate_window_t *w,
                             spate_trigger_context_t *tc, bool processing)
{
    SP_UNUSED(self);
    int64_t next = state_i64(tc, w, "fire-time", INT64_MIN);
    if (next != INT64_MIN) {
        if (processing)
            spate_trigger_delete_processing_time(tc, next);
        else
            spate_trigger_delete_event_time(tc, next);
    }
    if (!processing) spate_trigger_delete_event_time(tc, sp_window_max_ts(w));
    spate_trigger_state_clear(tc, "fire-time");
}

static void cet_clear(const spate_trigger_t *self, const spate_window_t *w, spate_trigger_context_t *tc)
{
    continuous_clear(self, w, tc, false);
}

spate_trigger_t spate_continuous_event_time_trigger(int64_t interval_ms)
{
    spate_trigger_t t = { .n = interval_ms,
                          .on_element = cet_on_element,
                          .on_event_time = cet_on_event_time,
                          .on_merge = cet_on_merge,
                          .clear = cet_clear };
    return t;
}

static spate_trigger_result_t cpt_on_element(const spate_trigger_t *self, const spate_row_t *row, int64_t ts,
                                             const spate_window_t *w, spate_trigger_context_t *tc)
{
    SP_UNUSED(row);
    SP_UNUSED(ts);
    if (state_i64(tc, w, "fire-time", INT64_MIN) == INT64_MIN)
        next_fire(self, w, tc, sp_floor_to(spate_trigger_context_processing_time(tc), self->n), true);
    return SPATE_TRIGGER_CONTINUE;
}

static spate_trigger_result_t cpt_on_processing_time(const spate_trigger_t *self, int64_t time,
                                                     const spate_window_t *w, spate_trigger_context_t *tc)
{
    if (state_i64(tc, w, "fire-time", INT64_MIN) != time) return SPATE_TRIGGER_CONTINUE;
    if (time < sp_window_max_ts(w))
        next_fire(self, w, tc, time, true);
    else
        spate_trigger_state_clear(tc, "fire-time");
    return SPATE_TRIGGER_FIRE;
}

static void cpt_on_merge(const spate_trigger_t *self, const spate_window_t *w, const spate_window_t *merged,
                         size_t n, spate_trigger_context_t *tc)
{
    continuous_merge(self, w, merged, n, tc, true);
}

static void cpt_clear(const spate_trigger_t *self, const spate_window_t *w, spate_trigger_context_t *tc)
{
    continuous_clear(self, w, tc, true);
}

spate_trigger_t spate_continuous_processing_time_trigger(int64_t interval_ms)
{
    spate_trigger_t t = { .n = interval_ms,
                          .on_element = cpt_on_element,
                          .on_processing_time = cpt_on_processing_time,
                          .on_merge = cpt_on_merge,
                          .clear = cpt_clear };
    return t;
}

static void never_on_merge(const spate_trigger_t *self, const spate_window_t *w, const spate_window_t *merged,
                           size_t n, spate_trigger_context_t *tc)
{
    SP_UNUSED(self);
    SP_UNUSED(w);
    SP_UNUSED(merged);
    SP_UNUSED(n);
    SP_UNUSED(tc);
}

spate_trigger_t spate_never_trigger(void)
{
    spate_trigger_t t = { .on_merge = never_on_merge };
    return t;
}

spate_trigger_t spate_purging_trigger(spate_trigger_t nested)
{
    nested.purging = true;
    return nested;
}

/* ---- built-in evictors ---- */

static size_t kept(const bool *keep, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += keep[i];
    return k;
}

static void count_evict(const spate_evictor_t *self, const spate_row_t *rows, size_t n, bool *keep,
                        const spate_window_t *w)
{
    SP_UNUSED(rows);
    SP_UNUSED(w);
    size_t have = kept(keep, n);
    for (size_t i = 0; i < n && have > (size_t)self->n; i++)
        if (keep[i]) keep[i] = false, have--;
}

static void time_evict(const spate_evictor_t *self, const spate_row_t *rows, size_t n, bool *keep,
                       const spate_window_t *w)
{
    SP_UNUSED(w);
    int64_t latest = SPATE_NO_TIMESTAMP;
    for (size_t i = 0; i < n; i++) {
        int64_t t = spate_row_event_time(&rows[i]);
        if (t != SPATE_NO_TIMESTAMP && (latest == SPATE_NO_TIMESTAMP || t > latest)) latest = t;
    }
    if (latest == SPATE_NO_TIMESTAMP) return; /* rows without event time: nothing to go by */
    int64_t cutoff = latest - self->n;
    for (size_t i = 0; i < n; i++)
        if (spate_row_event_time(&rows[i]) <= cutoff) keep[i] = false;
}

static void delta_evict(const spate_evictor_t *self, const spate_row_t *rows, size_t n, bool *keep,
                        const spate_window_t *w)
{
    SP_UNUSED(w);
    if (n == 0) return;
    for (size_t i = 0; i < n; i++)
        if (self->delta(self->ctx, &rows[i], &rows[n - 1]) >= self->threshold) keep[i] = false;
}

static spate_evictor_t evictor(void (*fn)(const spate_evictor_t *, const spate_row_t *, size_t, bool *,
                                          const spate_window_t *),
                               bool after)
{
    spate_evictor_t e = { 0 };
    if (after)
        e.evict_after = fn;
    else
        e.evict_before = fn;
    return e;
}

spate_evictor_t spate_count_evictor(int64_t count, bool after)
{
    spate_evictor_t e = evictor(count_evict, after);
    e.n = count;
    return e;
}

spate_evictor_t spate_time_evictor(int64_t size_ms, bool after)
{
    spate_evictor_t e = evictor(time_evict, after);
    e.n = size_ms;
    return e;
}

spate_evictor_t spate_delta_evictor(double threshold, spate_delta_fn delta, void *ctx, bool after)
{
    spate_evictor_t e = evictor(delta_evict, after);
    e.threshold = threshold;
    e.delta = delta;
    e.ctx = ctx;
    return e;
}

bool sp_trigger_is_event_time(const spate_trigger_t *t)
{
    return t->on_element == et_on_element;
}

bool sp_trigger_needs_positive_n(const spate_trigger_t *t)
{
    return t->on_element == count_on_element || t->on_element == cet_on_element ||
           t->on_element == cpt_on_element;
}

const char *sp_evictor_check(const spate_evictor_t *e)
{
    bool sized = e->evict_before == count_evict || e->evict_after == count_evict ||
                 e->evict_before == time_evict || e->evict_after == time_evict;
    bool delta = e->evict_before == delta_evict || e->evict_after == delta_evict;
    if (sized && e->n < 0) return "a negative count or size";
    if (delta && !e->delta) return "a delta evictor without a delta function";
    return NULL;
}
