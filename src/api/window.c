/*
 * window.c — the window operator for event-time windows on keyed streams
 * (tumbling, sliding, session), incremental aggregation, allowed lateness,
 * late data to side output 1.  Semantics in include/spate/window.h.
 *
 * State (in the state backend, namespace = the window as 16 bytes):
 *   "acc"      per key and window: [accumulator][the window's first row, row-encoded], or for a
 *              process window function all its rows: ([u32 length][row-encoded row])...
 *   "sessions" per key (no namespace): the key's open session windows, (start, end) pairs
 * Timers (event time) per key and window, on the timer service with the
 * window appended to the key: at end - 1 the window fires, at end - 1 +
 * allowed lateness its state goes (one timer when the lateness is 0).
 */
#include "api/api.h"

#include <string.h>

#include "state/backend.h"
#include "state/timers.h"
#include "types/encoding.h"

#define LATE_TAG 1

struct spate_windowed {
    spate_keyed_t *keyed;
    spate_window_assigner_t assigner;
    int64_t lateness;
};

spate_window_assigner_t spate_tumbling_windows(int64_t size_ms, int64_t offset_ms)
{
    spate_window_assigner_t a = { SPATE_WINDOW_TUMBLING, size_ms, size_ms, offset_ms, 0, false };
    return a;
}

spate_window_assigner_t spate_sliding_windows(int64_t size_ms, int64_t slide_ms, int64_t offset_ms)
{
    spate_window_assigner_t a = { SPATE_WINDOW_SLIDING, size_ms, slide_ms, offset_ms, 0, false };
    return a;
}

spate_window_assigner_t spate_count_windows(int64_t size, int64_t slide)
{
    spate_window_assigner_t a = { SPATE_WINDOW_COUNT, size, slide > 0 ? slide : size, 0, 0, false };
    return a;
}

spate_window_assigner_t spate_session_windows(int64_t gap_ms)
{
    spate_window_assigner_t a = { SPATE_WINDOW_SESSION, 0, 0, 0, gap_ms, false };
    return a;
}

spate_window_assigner_t spate_tumbling_processing_time_windows(int64_t size_ms, int64_t offset_ms)
{
    spate_window_assigner_t a = spate_tumbling_windows(size_ms, offset_ms);
    a.processing_time = true;
    return a;
}

spate_window_assigner_t spate_sliding_processing_time_windows(int64_t size_ms, int64_t slide_ms,
                                                              int64_t offset_ms)
{
    spate_window_assigner_t a = spate_sliding_windows(size_ms, slide_ms, offset_ms);
    a.processing_time = true;
    return a;
}

typedef struct win_spec {
    sp_key_selector_t key;
    spate_window_assigner_t assigner;
    int64_t lateness;
    spate_aggregate_function_t fn; /* acc_size 0 when process is set */
    spate_window_process_fn process;
    void *process_ctx;
} win_spec_t;

typedef struct win_op {
    const win_spec_t *spec;
    sp_op_ctx_t *ctx;
    sp_state_backend_t *be;
    int acc_state, sessions_state, count_state;
    sp_timer_service_t timers;  /* event time */
    sp_timer_service_t ptimers; /* processing time (processing-time windows) */
    spate_collector_t out, late;
    spate_key_t key;
    int key_group;
    int64_t watermark;
    uint8_t *val; /* value scratch: accumulator + encoded first row */
    size_t valcap;
    uint8_t *acc2; /* merge scratch */
    uint8_t *tkey; /* timer key scratch */
    size_t tkeycap;
    sp_batch_t *first; /* decoded first row of the window being emitted */
} win_op_t;

static int late_sink(void *target, sp_batch_t *b)
{
    return sp_output_push_side(target, LATE_TAG, b);
}

static int win_open(const void *spec, sp_op_ctx_t *ctx, void **inst)
{
    const win_spec_t *s = spec;
    win_op_t *w = sp_xcalloc_aligned(sizeof *w);
    w->spec = s;
    w->ctx = ctx;
    w->be = sp_heap_backend_create();
    w->acc_state = sp_state_id(w->be, "acc");
    w->sessions_state = sp_state_id(w->be, "sessions");
    w->count_state = sp_state_id(w->be, "count");
    sp_timers_init(&w->timers);
    sp_timers_init(&w->ptimers);
    sp_collector_init(&w->out, ctx->out_schema, SP_BATCH_CAPACITY, sp_output_sink_fn, ctx->out, ctx->error);
    sp_collector_init(&w->late, ctx->in_schema[0], SP_BATCH_CAPACITY, late_sink, ctx->out, ctx->error);
    sp_key_init(&w->key);
    w->watermark = SP_WATERMARK_MIN;
    w->valcap = 256 + s->fn.acc_size;
    w->val = sp_xmalloc(w->valcap);
    w->acc2 = sp_xmalloc(s->fn.acc_size ? s->fn.acc_size : 1);
    w->first = sp_batch_create(ctx->in_schema[0], 2);
    w->first->scratch = true; /* rewritten for every window emitted */
    *inst = w;
    return SPATE_OK;
}

static void win_close(void *inst)
{
    win_op_t *w = inst;
    sp_state_backend_destroy(w->be);
    sp_timers_fini(&w->timers);
    sp_timers_fini(&w->ptimers);
    sp_collector_fini(&w->out);
    sp_collector_fini(&w->late);
    sp_key_fini(&w->key);
    free(w->val);
    free(w->acc2);
    free(w->tkey);
    sp_batch_release(w->first);
    free(w);
}

static void put_window(uint8_t *ns, const spate_window_t *win)
{
    memcpy(ns, &win->start, 8);
    memcpy(ns + 8, &win->end, 8);
}

/* Timer key: [key][window]. */
static const uint8_t *timer_key(win_op_t *w, const spate_window_t *win, size_t *len)
{
    size_t n = w->key.len + 16;
    if (n > w->tkeycap) {
        w->tkeycap = 2 * n;
        w->tkey = sp_xrealloc(w->tkey, w->tkeycap);
    }
    memcpy(w->tkey, w->key.buf, w->key.len);
    put_window(w->tkey + w->key.len, win);
    *len = n;
    return w->tkey;
}

static void register_timers(win_op_t *w, const spate_window_t *win)
{
    size_t n;
    const uint8_t *tk = timer_key(w, win, &n);
    if (w->spec->assigner.processing_time) {
        sp_timers_register(&w->ptimers, win->end - 1, w->key_group, tk, n);
        if (win->end - 1 < w->ctx->timer_at) w->ctx->timer_at = win->end - 1;
        return;
    }
    /* a window opened after its end (within the lateness) fires at once, not again by timer */
    if (win->end - 1 > w->watermark || w->spec->lateness == 0)
        sp_timers_register(&w->timers, win->end - 1, w->key_group, tk, n);
    if (w->spec->lateness > 0)
        sp_timers_register(&w->timers, win->end - 1 + w->spec->lateness, w->key_group, tk, n);
}

static void delete_timers(win_op_t *w, const spate_window_t *win)
{
    size_t n;
    const uint8_t *tk = timer_key(w, win, &n);
    sp_timers_delete(&w->timers, win->end - 1, tk, n);
    if (w->spec->lateness > 0) sp_timers_delete(&w->timers, win->end - 1 + w->spec->lateness, tk, n);
}

/* The window's stored value: accumulator then the first row. NULL when none. */
static const uint8_t *load(win_op_t *w, const spate_window_t *win, size_t *len)
{
    uint8_t ns[16];
    put_window(ns, win);
    return sp_state_get(w->be, w->acc_state, w->key_group, w->key.buf, w->key.len, ns, 16, len);
}

static void store(win_op_t *w, const spate_window_t *win, const void *value, size_t len)
{
    uint8_t ns[16];
    put_window(ns, win);
    sp_state_put(w->be, w->acc_state, w->key_group, w->key.buf, w->key.len, ns, 16, value, len);
}

static void drop(win_op_t *w, const spate_window_t *win)
{
    uint8_t ns[16];
    put_window(ns, win);
    sp_state_remove(w->be, w->acc_state, w->key_group, w->key.buf, w->key.len, ns, 16);
}

static void reserve_val(win_op_t *w, size_t n)
{
    if (n <= w->valcap) return;
    while (w->valcap < n) w->valcap *= 2;
    w->val = sp_xrealloc(w->val, w->valcap);
}

/* Copies a stored row list (old, len; NULL = none) into w->val with `row` appended as
 * [u32 length][row-encoded row]; returns the new length. */
static size_t append_row(win_op_t *w, const uint8_t *old, size_t len, const spate_row_t *row)
{
    size_t rl = sp_row_encode(row, NULL, 0), have = old ? len : 0;
    reserve_val(w, have + 4 + rl);
    if (old) memcpy(w->val, old, len);
    uint32_t l = (uint32_t)rl;
    memcpy(w->val + have, &l, 4);
    sp_row_encode(row, w->val + have + 4, rl);
    return have + 4 + rl;
}

/* Process window function: decodes the window's rows and hands them over at once. */
static int emit_all(win_op_t *w, const spate_window_t *win, const uint8_t *value, size_t len)
{
    size_t n = 0;
    for (size_t at = 0; at + 4 <= len; n++) {
        uint32_t l;
        memcpy(&l, value + at, 4);
        at += 4 + l;
    }
    sp_batch_t *b = sp_batch_create(w->ctx->in_schema[0], (uint32_t)(n ? n : 1));
    b->scratch = true;
    spate_row_t *rows = sp_xmalloc(sizeof *rows * (n ? n : 1));
    int rc = SPATE_OK;
    size_t i = 0;
    for (size_t at = 0; rc == SPATE_OK && at + 4 <= len; i++) {
        uint32_t l;
        memcpy(&l, value + at, 4);
        rc = sp_row_decode_append(b, value + at + 4, l, w->ctx->error);
        rows[i] = (spate_row_t){ b, (uint32_t)i };
        at += 4 + l;
    }
    if (rc == SPATE_OK) {
        w->out.default_time = win->end - 1;
        rc = w->spec->process(w->spec->process_ctx, win, rows, n, &w->out);
        w->out.default_time = SPATE_NO_TIMESTAMP;
        if (rc && !w->ctx->error->code)
            sp_error_set(w->ctx->error, rc > 0 ? SPATE_EUSER : rc, "process window function returned %d", rc);
        if (rc) rc = w->ctx->error->code;
    }
    sp_collector_settle(&w->out); /* rows of the scratch batch may not be borrowed */
    free(rows);
    sp_batch_release(b);
    return rc;
}

/* Emits the result of window `win` of the current key from its stored value. */
static int emit(win_op_t *w, const spate_window_t *win, const uint8_t *value, size_t len)
{
    const spate_aggregate_function_t *fn = &w->spec->fn;
    if (w->spec->process) return emit_all(w, win, value, len);
    w->first->count = 0;
    int rc = sp_row_decode_append(w->first, value + fn->acc_size, len - fn->acc_size, w->ctx->error);
    if (rc) return rc;
    spate_row_t key_row = { w->first, 0 };
    w->out.default_time = win->end - 1; /* a window's result carries its last millisecond */
    rc = fn->emit(fn->ctx, value, win, &key_row, &w->out);
    w->out.default_time = SPATE_NO_TIMESTAMP;
    if (rc && !w->ctx->error->code)
        sp_error_set(w->ctx->error, rc > 0 ? SPATE_EUSER : rc, "window emit returned %d", rc);
    return rc ? w->ctx->error->code : SPATE_OK;
}

/* Adds row to window `win` of the current key (creating its state), fires at once when the
 * window is already complete (a late firing within the allowed lateness). */
static int add_to_window(win_op_t *w, const spate_window_t *win, const spate_row_t *row)
{
    const spate_aggregate_function_t *fn = &w->spec->fn;
    size_t len, n;
    if (w->spec->process) { /* keep the row */
        const uint8_t *old = load(w, win, &len);
        n = append_row(w, old, len, row);
        if (!old) register_timers(w, win);
        store(w, win, w->val, n);
        if (!w->spec->assigner.processing_time && win->end - 1 <= w->watermark)
            return emit(w, win, w->val, n);
        return SPATE_OK;
    }
    uint8_t ns[16];
    put_window(ns, win);
    uint8_t *acc = sp_state_get_mut(w->be, w->acc_state, w->key_group, w->key.buf, w->key.len, ns, 16, &len);
    int rc;
    if (acc) { /* the common case: fold the row into the stored accumulator in place (one lookup) */
        if ((rc = fn->add(fn->ctx, acc, row)) != SPATE_OK)
            return w->ctx->error->code
                       ? w->ctx->error->code
                       : sp_error_set(w->ctx->error, SPATE_EUSER, "window add returned %d", rc);
        if (w->spec->assigner.processing_time || win->end - 1 > w->watermark) return SPATE_OK;
        reserve_val(w, len);
        memcpy(w->val, acc, len); /* a late firing: emit may not keep a backend pointer across calls */
        return emit(w, win, w->val, len);
    }
    size_t rl = sp_row_encode(row, NULL, 0);
    reserve_val(w, fn->acc_size + rl);
    if (fn->create)
        fn->create(fn->ctx, w->val);
    else
        memset(w->val, 0, fn->acc_size);
    sp_row_encode(row, w->val + fn->acc_size, rl);
    n = fn->acc_size + rl;
    if (w->spec->assigner.kind != SPATE_WINDOW_COUNT) register_timers(w, win); /* count windows: by count */
    if ((rc = fn->add(fn->ctx, w->val, row)) != SPATE_OK)
        return w->ctx->error->code ? w->ctx->error->code
                                   : sp_error_set(w->ctx->error, SPATE_EUSER, "window add returned %d", rc);
    store(w, win, w->val, n);
    if (!w->spec->assigner.processing_time && win->end - 1 <= w->watermark) return emit(w, win, w->val, n);
    return SPATE_OK;
}

static bool is_late(const win_op_t *w, const spate_window_t *win)
{
    return !w->spec->assigner.processing_time && win->end - 1 + w->spec->lateness <= w->watermark;
}

/* Session windows: merges [ts, ts + gap) with the key's sessions it overlaps or touches. */
static int add_to_session(win_op_t *w, int64_t ts, const spate_row_t *row, bool *late)
{
    const spate_aggregate_function_t *fn = &w->spec->fn;
    spate_window_t m = { ts, ts + w->spec->assigner.gap };
    size_t len;
    const uint8_t *raw =
        sp_state_get(w->be, w->sessions_state, w->key_group, w->key.buf, w->key.len, NULL, 0, &len);
    int nwin = (int)(len / sizeof(spate_window_t));
    spate_window_t *wins = sp_xmalloc(sizeof *wins * (size_t)(nwin + 1));
    if (nwin) memcpy(wins, raw, sizeof *wins * (size_t)nwin);
    for (int i = 0; i < nwin; i++)
        if (wins[i].start <= m.end && m.start <= wins[i].end) {
            if (wins[i].start < m.start) m.start = wins[i].start;
            if (wins[i].end > m.end) m.end = wins[i].end;
        }
    if (is_late(w, &m)) {
        free(wins);
        *late = true;
        return SPATE_OK;
    }
    *late = false;
    /* fold the merged sessions' accumulators into m's, keeping the earliest first row */
    uint8_t *merged = NULL;
    size_t mlen = 0;
    int64_t first_start = INT64_MAX;
    int kept = 0;
    for (int i = 0; i < nwin; i++) {
        if (!(wins[i].start <= m.end && m.start <= wins[i].end)) {
            wins[kept++] = wins[i];
            continue;
        }
        const uint8_t *v = load(w, &wins[i], &len);
        if (v) {
            if (!merged) {
                merged = sp_xmalloc(len);
                memcpy(merged, v, len);
                mlen = len;
                first_start = wins[i].start;
            } else if (w->spec->process) { /* all rows of both sessions */
                merged = sp_xrealloc(merged, mlen + len);
                memcpy(merged + mlen, v, len);
                mlen += len;
            } else {
                memcpy(w->acc2, v, fn->acc_size);
                if (fn->merge) fn->merge(fn->ctx, merged, w->acc2);
                if (wins[i].start < first_start) { /* the earlier session's first row is the key row */
                    uint8_t *keep = sp_xmalloc(len);
                    memcpy(keep, merged, fn->acc_size);
                    memcpy(keep + fn->acc_size, v + fn->acc_size, len - fn->acc_size);
                    free(merged);
                    merged = keep;
                    mlen = len;
                    first_start = wins[i].start;
                }
            }
        }
        drop(w, &wins[i]);
        delete_timers(w, &wins[i]);
    }
    wins[kept++] = m;
    sp_state_put(w->be, w->sessions_state, w->key_group, w->key.buf, w->key.len, NULL, 0, wins,
                 sizeof *wins * (size_t)kept);
    free(wins);
    if (merged) {
        store(w, &m, merged, mlen);
        register_timers(w, &m);
        free(merged);
    }
    return add_to_window(w, &m, row);
}

/* Count windows: one global window per key; "count" holds the rows seen since the last purge. */
static int add_to_count(win_op_t *w, const spate_row_t *row)
{
    const spate_window_assigner_t *a = &w->spec->assigner;
    const spate_window_t g = { INT64_MIN, INT64_MAX };
    size_t len;
    int64_t seen = 0;
    const uint8_t *c =
        sp_state_get(w->be, w->count_state, w->key_group, w->key.buf, w->key.len, NULL, 0, &len);
    if (c) memcpy(&seen, c, 8);
    seen++;
    int rc = SPATE_OK;
    if (w->spec->process) {
        /* append the row, then evict from the front beyond `size` rows */
        const uint8_t *old = load(w, &g, &len);
        size_t n = append_row(w, old, len, row), from = 0, rows = 0;
        uint32_t l;
        for (size_t at = 0; at + 4 <= n; rows++) {
            memcpy(&l, w->val + at, 4);
            at += 4 + l;
        }
        for (; rows > (size_t)a->size; rows--) {
            memcpy(&l, w->val + from, 4);
            from += 4 + l;
        }
        memmove(w->val, w->val + from, n - from);
        n -= from;
        store(w, &g, w->val, n);
        if (seen % a->slide == 0) rc = emit(w, &g, w->val, n);
    } else {
        rc = add_to_window(w, &g, row); /* fires only by count, below */
    }
    if (rc) return rc;
    if (a->slide == a->size && seen == a->size) { /* tumbling: fire (aggregates) and purge */
        if (!w->spec->process) {
            const uint8_t *v = load(w, &g, &len);
            if (v) {
                reserve_val(w, len);
                memcpy(w->val, v, len);
                rc = emit(w, &g, w->val, len);
            }
        }
        drop(w, &g);
        seen = 0;
    }
    sp_state_put(w->be, w->count_state, w->key_group, w->key.buf, w->key.len, NULL, 0, &seen, 8);
    return rc;
}

static int win_process_batch(void *inst, int input, sp_batch_t *b)
{
    win_op_t *w = inst;
    const win_spec_t *s = w->spec;
    const spate_window_assigner_t *a = &s->assigner;
    int maxp = w->ctx->info.max_parallelism;
    SP_UNUSED(input);
    spate_row_t row = { b, 0 };
    for (uint32_t i = 0; i < b->count; i++) {
        row.index = i;
        int64_t ts = b->timestamps[i];
        if (a->kind == SPATE_WINDOW_COUNT) {
            int rc = sp_key_compute(&s->key, &row, &w->key, w->ctx->error);
            if (rc == SPATE_OK) {
                w->key_group = sp_key_group(w->key.buf, w->key.len, maxp);
                rc = add_to_count(w, &row);
            }
            if (rc) return rc;
            continue;
        }
        if (a->processing_time) ts = sp_op_ctx_now(w->ctx);
        if (ts == SPATE_NO_TIMESTAMP)
            return sp_error_set(w->ctx->error, SPATE_EINVAL,
                                "a record without an event timestamp reached an event-time window: assign "
                                "timestamps and watermarks first");
        int rc = sp_key_compute(&s->key, &row, &w->key, w->ctx->error);
        if (rc) return rc;
        w->key_group = sp_key_group(w->key.buf, w->key.len, maxp);
        bool late = true;
        if (a->kind == SPATE_WINDOW_SESSION) {
            rc = add_to_session(w, ts, &row, &late);
        } else {
            int64_t slide = a->kind == SPATE_WINDOW_TUMBLING ? a->size : a->slide;
            int64_t rem = (ts - a->offset) % slide;
            if (rem < 0) rem += slide;
            for (int64_t start = ts - rem; rc == SPATE_OK && start > ts - a->size; start -= slide) {
                spate_window_t win = { start, start + a->size };
                if (is_late(w, &win)) continue;
                late = false;
                rc = add_to_window(w, &win, &row);
            }
        }
        if (rc) return rc;
        if (late && (rc = spate_out_emit_row(&w->late, &row)) != SPATE_OK) return rc;
    }
    int rc = sp_collector_flush(&w->out);
    return rc ? rc : sp_collector_flush(&w->late);
}

/* A timer: the window fires at end - 1, its state goes at end - 1 + lateness. */
static int on_window_timer(win_op_t *w, const sp_timer_t *t)
{
    spate_window_t win;
    memcpy(&win.start, t->key + t->klen - 16, 8);
    memcpy(&win.end, t->key + t->klen - 8, 8);
    sp_key_reset(&w->key);
    spate_key_append_bytes(&w->key, t->key, t->klen - 16);
    w->key_group = t->key_group;
    int rc = SPATE_OK;
    size_t len;
    if (t->ts == win.end - 1) {
        const uint8_t *v = load(w, &win, &len);
        if (v) {
            reserve_val(w, len);
            memcpy(w->val, v, len); /* emit may not keep a backend pointer across calls */
            rc = emit(w, &win, w->val, len);
        }
    }
    int64_t lateness =
        w->spec->assigner.processing_time ? 0 : w->spec->lateness; /* none in processing time */
    if (rc == SPATE_OK && t->ts == win.end - 1 + lateness) {
        drop(w, &win);
        if (w->spec->assigner.kind == SPATE_WINDOW_SESSION) {
            const uint8_t *raw =
                sp_state_get(w->be, w->sessions_state, w->key_group, w->key.buf, w->key.len, NULL, 0, &len);
            int n = (int)(len / sizeof(spate_window_t)), kept = 0;
            spate_window_t *wins = sp_xmalloc(sizeof *wins * (size_t)(n ? n : 1));
            if (n) memcpy(wins, raw, sizeof *wins * (size_t)n);
            for (int i = 0; i < n; i++)
                if (wins[i].start != win.start || wins[i].end != win.end) wins[kept++] = wins[i];
            if (kept)
                sp_state_put(w->be, w->sessions_state, w->key_group, w->key.buf, w->key.len, NULL, 0, wins,
                             sizeof *wins * (size_t)kept);
            else
                sp_state_remove(w->be, w->sessions_state, w->key_group, w->key.buf, w->key.len, NULL, 0);
            free(wins);
        }
    }
    return rc;
}

static int win_process_watermark(void *inst, int64_t wm)
{
    win_op_t *w = inst;
    w->watermark = wm;
    sp_timer_t t;
    while (sp_timers_pop(&w->timers, wm, &t)) {
        int rc = on_window_timer(w, &t);
        free(t.key);
        if (rc) return rc;
    }
    int rc = sp_collector_flush(&w->out);
    if (rc == SPATE_OK) rc = sp_collector_flush(&w->late);
    return rc ? rc : sp_output_push_watermark(w->ctx->out, wm);
}

static int win_on_timer(void *inst, int64_t now)
{
    win_op_t *w = inst;
    sp_timer_t t;
    int rc = SPATE_OK;
    while (rc == SPATE_OK && sp_timers_pop(&w->ptimers, now, &t)) {
        rc = on_window_timer(w, &t);
        free(t.key);
    }
    w->ctx->timer_at = sp_timers_next(&w->ptimers);
    if (rc == SPATE_OK) rc = sp_collector_flush(&w->out);
    return rc;
}

static int win_end_input(void *inst)
{
    win_op_t *w = inst;
    int rc = sp_collector_flush(&w->out);
    return rc ? rc : sp_collector_flush(&w->late);
}

static void win_destroy(void *spec)
{
    free(spec);
}

static const sp_op_vtable_t win_vt = { .kind = "window",
                                       .open = win_open,
                                       .process_batch = win_process_batch,
                                       .process_watermark = win_process_watermark,
                                       .end_input = win_end_input,
                                       .close = win_close,
                                       .destroy_spec = win_destroy,
                                       .on_timer = win_on_timer };

/* ---- API ---- */

spate_windowed_t *spate_keyed_window(spate_keyed_t *k, spate_window_assigner_t assigner)
{
    if (!k) return NULL;
    bool ok = assigner.kind == SPATE_WINDOW_COUNT     ? assigner.size > 0 && assigner.slide > 0
              : assigner.kind == SPATE_WINDOW_SESSION ? assigner.gap > 0
              : assigner.kind == SPATE_WINDOW_TUMBLING
                  ? assigner.size > 0
                  : assigner.kind == SPATE_WINDOW_SLIDING && assigner.size > 0 && assigner.slide > 0;
    if (!ok) {
        sp_api_fail(k->s.env, SPATE_EINVAL, "window: sizes, slides and gaps must be > 0");
        return NULL;
    }
    spate_windowed_t *w = sp_xcalloc(1, sizeof *w);
    w->keyed = k;
    w->assigner = assigner;
    sp_api_own(k->s.env, w);
    return w;
}

spate_windowed_t *spate_windowed_allowed_lateness(spate_windowed_t *w, int64_t ms)
{
    if (w) w->lateness = ms > 0 ? ms : 0;
    return w;
}

spate_stream_t *spate_windowed_aggregate(spate_windowed_t *w, const char *name,
                                         const spate_aggregate_function_t *fn,
                                         const spate_schema_t *out_schema)
{
    if (!w) return NULL;
    spate_env_t *env = w->keyed->s.env;
    if (!fn || !fn->add || !fn->emit || !out_schema) {
        sp_api_fail(env, SPATE_EINVAL, "window aggregate '%s': needs add, emit and an output schema",
                    name ? name : "");
        return NULL;
    }
    if (w->assigner.kind == SPATE_WINDOW_COUNT && w->assigner.slide != w->assigner.size) {
        sp_api_fail(env, SPATE_EINVAL,
                    "window aggregate '%s': sliding count windows need a process window function",
                    name ? name : "");
        return NULL;
    }
    win_spec_t *spec = sp_xcalloc(1, sizeof *spec);
    spec->key = w->keyed->s.inputs[0].key;
    spec->assigner = w->assigner;
    spec->lateness = w->lateness;
    spec->fn = *fn;
    return sp_api_add_operator(&w->keyed->s, name, "Window", &win_vt, spec, out_schema);
}

spate_stream_t *spate_windowed_process(spate_windowed_t *w, const char *name, spate_window_process_fn fn,
                                       void *ctx, const spate_schema_t *out_schema)
{
    if (!w) return NULL;
    if (!fn || !out_schema) {
        sp_api_fail(w->keyed->s.env, SPATE_EINVAL,
                    "process window '%s': needs a function and an output schema", name ? name : "");
        return NULL;
    }
    win_spec_t *spec = sp_xcalloc(1, sizeof *spec);
    spec->key = w->keyed->s.inputs[0].key;
    spec->assigner = w->assigner;
    spec->lateness = w->lateness;
    spec->process = fn;
    spec->process_ctx = ctx;
    return sp_api_add_operator(&w->keyed->s, name, "ProcessWindow", &win_vt, spec, out_schema);
}

spate_stream_t *spate_window_late_data(spate_stream_t *windowed)
{
    if (!windowed) return NULL;
    sp_node_t *n = windowed->env->graph.nodes[windowed->self];
    if (n->vt != &win_vt) {
        sp_api_fail(windowed->env, SPATE_EINVAL, "late data: '%s' is not a window operator", n->name);
        return NULL;
    }
    /* the window's input schema: the node feeding it */
    const sp_graph_t *g = &windowed->env->graph;
    const spate_schema_t *in = NULL;
    for (int i = 0; i < g->nedges; i++)
        if (g->edges[i].to == n->id) in = g->nodes[g->edges[i].from]->out_schema;
    return sp_api_side_output(windowed, LATE_TAG, in);
}
