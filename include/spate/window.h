/*
 * spate/window.h — windows on keyed streams (Flink's WindowedStream):
 * tumbling, sliding, session, global and count windows in event or
 * processing time; reduce, aggregate and process window functions;
 * triggers and evictors; allowed lateness and late data as a side output.
 *
 *     spate_windowed_t *w = spate_keyed_window(keyed, spate_tumbling_windows(10000, 0));
 *     spate_windowed_allowed_lateness(w, 2000);
 *     spate_stream_t *counts = spate_windowed_aggregate(w, "count", &count_fn, out_schema);
 *     spate_stream_t *late = spate_window_late_data(counts);   // records too late for any window
 *
 * Semantics (Flink's default event-time trigger): a window fires when the
 * watermark passes its last millisecond (end - 1); a record for a window
 * that already fired, within the allowed lateness, updates the window and
 * fires it again at once; a record whose window ended more than the allowed
 * lateness before the watermark is late: dropped, or sent to the late-data
 * side output.  Windows' state is removed once the watermark passes end - 1
 * + allowed lateness.  Session windows ([t, t + gap) per record) merge when
 * they overlap or touch.  At end of input the final watermark fires every
 * window.
 *
 * A trigger (spate_windowed_trigger) replaces the assigner's default one
 * (event time: fire at end - 1; processing time: fire when the clock passes
 * end - 1; global windows: never): it sees every row added to a window and
 * the timers it registered, and answers CONTINUE, FIRE (run the window
 * function over the window's contents, keep them), PURGE (drop the contents)
 * or FIRE_AND_PURGE.  An evictor (spate_windowed_evictor) removes rows from a
 * window's contents before or after the function runs; with an evictor the
 * operator keeps every row of every window, whatever the function.
 * Whatever the trigger, a window's state goes once the watermark (or, in
 * processing time, the clock) passes its end - 1 + allowed lateness.
 */
#ifndef SPATE_WINDOW_H
#define SPATE_WINDOW_H

#include "datastream.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct spate_window {
    int64_t start, end; /* [start, end) in event-time milliseconds */
} spate_window_t;

typedef enum spate_window_kind {
    SPATE_WINDOW_TUMBLING = 1,
    SPATE_WINDOW_SLIDING,
    SPATE_WINDOW_SESSION,
    SPATE_WINDOW_COUNT,
    SPATE_WINDOW_GLOBAL
} spate_window_kind_t;

/* A window assigner (plain value). */
typedef struct spate_window_assigner {
    spate_window_kind_t kind;
    int64_t size, slide, offset, gap;
    bool processing_time; /* windows on the processing-time clock instead of event time */
} spate_window_assigner_t;

spate_window_assigner_t spate_tumbling_windows(int64_t size_ms, int64_t offset_ms);
spate_window_assigner_t spate_sliding_windows(int64_t size_ms, int64_t slide_ms, int64_t offset_ms);
spate_window_assigner_t spate_session_windows(int64_t gap_ms);
/* Processing-time session windows: [arrival, arrival + gap) per row, merged as in event time. */
spate_window_assigner_t spate_processing_time_session_windows(int64_t gap_ms);
/* Global windows (Flink's GlobalWindows): one window per key, [INT64_MIN, INT64_MAX), whose
 * default trigger never fires: give it a trigger (e.g. a count trigger). */
spate_window_assigner_t spate_global_windows(void);
/* Processing-time windows: a row belongs to the window of the time it arrives (the job's clock,
 * see spate_env_set_clock); a window fires when the clock passes its end - 1.  No lateness.  As
 * in Flink, windows still open when the input ends do not fire. */
spate_window_assigner_t spate_tumbling_processing_time_windows(int64_t size_ms, int64_t offset_ms);
spate_window_assigner_t spate_sliding_processing_time_windows(int64_t size_ms, int64_t slide_ms,
                                                              int64_t offset_ms);
/* Count windows (Flink's countWindow): per key, fire every `slide` rows over the last `size` rows
 * (slide 0 = size: tumbling, the rows are then purged).  No timestamps needed; the window passed
 * to functions is the global one [INT64_MIN, INT64_MAX); rows left over at end of input do not
 * fire, as in Flink.  As there: global windows with a purging count trigger (tumbling), or a
 * count trigger of `slide` and a count evictor of `size` (sliding). */
spate_window_assigner_t spate_count_windows(int64_t size, int64_t slide);

/*
 * Incremental aggregation (Flink's AggregateFunction with a window function
 * for the result): the accumulator is acc_size bytes the operator keeps per
 * key and window.  create initialises one, add folds a row into it, merge
 * folds `other` into acc (session windows merging), emit writes the
 * window's result row(s): `key_row` is the first row the window saw (read
 * the key fields from it), `w` the window.
 *
 * key_only (a window keyed by fields, without evictor): emit reads only the
 * key fields of key_row, as Flink's window function gets only the key.  The
 * window then keeps those fields of its first row, not the whole row: less
 * state, and faster.  The other fields of key_row read as NULL, or as zero,
 * false or empty when NOT NULL.
 */
typedef struct spate_aggregate_function {
    void *ctx;
    size_t acc_size;
    void (*create)(void *ctx, void *acc);
    int (*add)(void *ctx, void *acc, const spate_row_t *in);
    void (*merge)(void *ctx, void *acc, const void *other);
    int (*emit)(void *ctx, const void *acc, const spate_window_t *w, const spate_row_t *key_row,
                spate_collector_t *out);
    bool key_only;
} spate_aggregate_function_t;

/*
 * A process window function (Flink's ProcessWindowFunction): called once per firing with all the
 * window's rows (borrowed for the call, in arrival order per merged session) and the window.
 * The operator keeps every row of every open window, so prefer an aggregate function where one fits.
 */
typedef int (*spate_window_process_fn)(void *ctx, const spate_window_t *w, const spate_row_t *rows, size_t n,
                                       spate_collector_t *out);

typedef struct spate_windowed spate_windowed_t;

/* ---- triggers (Flink's Trigger) ---- */
typedef enum spate_trigger_result {
    SPATE_TRIGGER_CONTINUE = 0,
    SPATE_TRIGGER_FIRE = 1,          /* run the window function over the window's contents */
    SPATE_TRIGGER_PURGE = 2,         /* drop the window's contents (not its trigger state) */
    SPATE_TRIGGER_FIRE_AND_PURGE = 3 /* both */
} spate_trigger_result_t;

/* The context of a trigger call (borrowed for the call): the current key and window. */
typedef struct spate_trigger_context spate_trigger_context_t;
typedef struct spate_trigger spate_trigger_t;

/*
 * A trigger: a plain value (the built-ins below, or your callbacks; NULL callbacks answer
 * CONTINUE or do nothing).  `self` is the trigger given to spate_windowed_trigger, so a custom
 * trigger reads its settings from self->ctx (shared by all subtasks: keep per-window data in
 * trigger state).  Timers a trigger registers are per key and window; each fires once, calling
 * on_event_time or on_processing_time.  on_merge (session windows) runs when windows merge into
 * w: re-register timers for w and fold the merged windows' trigger state into w's; clear() then
 * runs for each merged window.  A trigger without on_merge cannot be used with session windows.
 * clear() runs when a window goes: delete its timers and trigger state.
 */
struct spate_trigger {
    void *ctx;
    int64_t n;    /* the built-ins' parameter (count, interval) */
    bool purging; /* turns FIRE into FIRE_AND_PURGE (spate_purging_trigger) */
    spate_trigger_result_t (*on_element)(const spate_trigger_t *self, const spate_row_t *row,
                                         int64_t timestamp, const spate_window_t *w,
                                         spate_trigger_context_t *tc);
    spate_trigger_result_t (*on_event_time)(const spate_trigger_t *self, int64_t time,
                                            const spate_window_t *w, spate_trigger_context_t *tc);
    spate_trigger_result_t (*on_processing_time)(const spate_trigger_t *self, int64_t time,
                                                 const spate_window_t *w, spate_trigger_context_t *tc);
    void (*on_merge)(const spate_trigger_t *self, const spate_window_t *w, const spate_window_t *merged,
                     size_t n, spate_trigger_context_t *tc);
    void (*clear)(const spate_trigger_t *self, const spate_window_t *w, spate_trigger_context_t *tc);
};

/* Fires when the watermark passes the window's end - 1; at once for a row added to a window that
 * already fired (a late firing, within the allowed lateness).  Default of event-time windows. */
spate_trigger_t spate_event_time_trigger(void);
/* Fires when the processing-time clock passes the window's end - 1. Default of processing-time windows. */
spate_trigger_t spate_processing_time_trigger(void);
/* Fires when the window has seen `count` rows since its last firing (Flink's CountTrigger). */
spate_trigger_t spate_count_trigger(int64_t count);
/* Fires every `interval_ms` of event time (at multiples of it, while the window has rows), and at the
 * window's end (Flink's ContinuousEventTimeTrigger). */
spate_trigger_t spate_continuous_event_time_trigger(int64_t interval_ms);
/* Fires every `interval_ms` of processing time while the window has rows (ContinuousProcessingTimeTrigger). */
spate_trigger_t spate_continuous_processing_time_trigger(int64_t interval_ms);
/* Never fires (the default of global windows). */
spate_trigger_t spate_never_trigger(void);
/* `nested`, whose every firing also purges the window (Flink's PurgingTrigger). */
spate_trigger_t spate_purging_trigger(spate_trigger_t nested);

int64_t spate_trigger_context_watermark(const spate_trigger_context_t *tc);
int64_t spate_trigger_context_processing_time(const spate_trigger_context_t *tc);
/* Timers for the current key and window. */
void spate_trigger_register_event_time(spate_trigger_context_t *tc, int64_t time);
void spate_trigger_delete_event_time(spate_trigger_context_t *tc, int64_t time);
void spate_trigger_register_processing_time(spate_trigger_context_t *tc, int64_t time);
void spate_trigger_delete_processing_time(spate_trigger_context_t *tc, int64_t time);
/* Trigger state: named byte values per key and window (names up to 64 bytes), in the state
 * backend.  get copies at most cap bytes into buf and returns the length, or -1 when unset. */
int64_t spate_trigger_state_get(spate_trigger_context_t *tc, const char *name, void *buf, size_t cap);
void spate_trigger_state_put(spate_trigger_context_t *tc, const char *name, const void *value, size_t len);
void spate_trigger_state_clear(spate_trigger_context_t *tc, const char *name);
/* In on_merge: the state `name` of window w (one of the merged windows). */
int64_t spate_trigger_state_get_in(spate_trigger_context_t *tc, const spate_window_t *w, const char *name,
                                   void *buf, size_t cap);

/* ---- evictors (Flink's Evictor) ----
 * Called when a window fires, with its rows (in arrival order, each with its event time:
 * spate_row_event_time) and keep[i] preset to true: set keep[i] = false to remove row i.
 * evict_before runs before the window function (which then sees the kept rows), evict_after
 * after it; the window keeps the rows left. */
typedef struct spate_evictor spate_evictor_t;
typedef double (*spate_delta_fn)(void *ctx, const spate_row_t *a, const spate_row_t *b);
struct spate_evictor {
    void *ctx;
    int64_t n;            /* count / time evictor: the count or window size */
    double threshold;     /* delta evictor */
    spate_delta_fn delta; /* delta evictor: delta(ctx, row, last row) */
    void (*evict_before)(const spate_evictor_t *self, const spate_row_t *rows, size_t n, bool *keep,
                         const spate_window_t *w);
    void (*evict_after)(const spate_evictor_t *self, const spate_row_t *rows, size_t n, bool *keep,
                        const spate_window_t *w);
};
/* Keeps the last `count` rows. `after`: evict after the window function instead of before. */
spate_evictor_t spate_count_evictor(int64_t count, bool after);
/* Keeps the rows whose event time is within `size_ms` of the window's latest: evicts those with
 * time <= max time - size_ms. */
spate_evictor_t spate_time_evictor(int64_t size_ms, bool after);
/* Evicts the rows whose delta to the window's last row is >= threshold. */
spate_evictor_t spate_delta_evictor(double threshold, spate_delta_fn delta, void *ctx, bool after);

spate_windowed_t *spate_keyed_window(spate_keyed_t *k, spate_window_assigner_t assigner);
spate_windowed_t *spate_windowed_allowed_lateness(spate_windowed_t *w, int64_t allowed_lateness_ms);
/* Replaces the assigner's default trigger. Each returns w. */
spate_windowed_t *spate_windowed_trigger(spate_windowed_t *w, spate_trigger_t trigger);
spate_windowed_t *spate_windowed_evictor(spate_windowed_t *w, spate_evictor_t evictor);
/* Flink's reduce: fn folds each row into the window's accumulated row (the first row as it
 * came), emitting exactly one row of the input's schema; the window emits its accumulated row. */
spate_stream_t *spate_windowed_reduce(spate_windowed_t *w, const char *name, spate_reduce_fn fn, void *ctx);
spate_stream_t *spate_windowed_aggregate(spate_windowed_t *w, const char *name,
                                         const spate_aggregate_function_t *fn,
                                         const spate_schema_t *out_schema);
spate_stream_t *spate_windowed_process(spate_windowed_t *w, const char *name, spate_window_process_fn fn,
                                       void *ctx, const spate_schema_t *out_schema);
/* A join function: emits the joined row(s) of a left and a right row (both borrowed for the call). */
typedef int (*spate_join_fn)(void *ctx, const spate_row_t *left, const spate_row_t *right,
                             spate_collector_t *out);
/*
 * Interval join (Flink's KeyedStream.intervalJoin): joins each row l of `left` with every row r
 * of `right` of the same key whose event time lies in [l.time + lower, l.time + upper]; fn
 * emits the joined row(s), which carry max(l.time, r.time).  Rows are buffered per key until
 * the watermark shows no partner can come any more; rows behind the watermark are dropped.
 */
spate_stream_t *spate_keyed_interval_join(spate_keyed_t *left, spate_keyed_t *right, int64_t lower_ms,
                                          int64_t upper_ms, const char *name, spate_join_fn fn, void *ctx,
                                          const spate_schema_t *out_schema);
/*
 * Window join (Flink's a.join(b).where(..).equalTo(..).window(assigner).apply(fn)): the rows of
 * `left` and `right` with the same key in the same window meet when the window fires: fn runs
 * for every (left row, right row) pair, left rows in the outer loop, both in arrival order; a
 * window with rows of one side only emits nothing.  Results carry the window's end - 1.  The
 * windows take triggers, evictors and allowed lateness as any; late rows are dropped.  Both
 * keys must encode alike (the same key fields' types).
 */
spate_windowed_t *spate_keyed_window_join(spate_keyed_t *left, spate_keyed_t *right,
                                          spate_window_assigner_t assigner);
spate_stream_t *spate_windowed_join(spate_windowed_t *w, const char *name, spate_join_fn fn, void *ctx,
                                    const spate_schema_t *out_schema);

/* The late records of a windowed aggregation (its input's schema), as Flink's sideOutputLateData. */
spate_stream_t *spate_window_late_data(spate_stream_t *windowed);

#ifdef __cplusplus
}
#endif
#endif
