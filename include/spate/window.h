/*
 * spate/window.h — event-time windows on keyed streams (Flink's
 * WindowedStream): tumbling, sliding and session windows, incremental
 * aggregation, allowed lateness and late data as a side output.
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
    SPATE_WINDOW_COUNT
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
/* Processing-time windows: a row belongs to the window of the time it arrives (the job's clock,
 * see spate_env_set_clock); a window fires when the clock passes its end - 1.  No lateness.  As
 * in Flink, windows still open when the input ends do not fire. */
spate_window_assigner_t spate_tumbling_processing_time_windows(int64_t size_ms, int64_t offset_ms);
spate_window_assigner_t spate_sliding_processing_time_windows(int64_t size_ms, int64_t slide_ms,
                                                              int64_t offset_ms);
/* Count windows (Flink's countWindow): per key, fire every `slide` rows over the last `size` rows
 * (slide 0 = size: tumbling, the rows are then purged).  No timestamps needed; the window passed
 * to functions is the global one [INT64_MIN, INT64_MAX); rows left over at end of input do not
 * fire, as in Flink.  Sliding count windows need a process window function. */
spate_window_assigner_t spate_count_windows(int64_t size, int64_t slide);

/*
 * Incremental aggregation (Flink's AggregateFunction with a window function
 * for the result): the accumulator is acc_size bytes the operator keeps per
 * key and window.  create initialises one, add folds a row into it, merge
 * folds `other` into acc (session windows merging), emit writes the
 * window's result row(s): `key_row` is the first row the window saw (read
 * the key fields from it), `w` the window.
 */
typedef struct spate_aggregate_function {
    void *ctx;
    size_t acc_size;
    void (*create)(void *ctx, void *acc);
    int (*add)(void *ctx, void *acc, const spate_row_t *in);
    void (*merge)(void *ctx, void *acc, const void *other);
    int (*emit)(void *ctx, const void *acc, const spate_window_t *w, const spate_row_t *key_row,
                spate_collector_t *out);
} spate_aggregate_function_t;

/*
 * A process window function (Flink's ProcessWindowFunction): called once per firing with all the
 * window's rows (borrowed for the call, in arrival order per merged session) and the window.
 * The operator keeps every row of every open window, so prefer an aggregate function where one fits.
 */
typedef int (*spate_window_process_fn)(void *ctx, const spate_window_t *w, const spate_row_t *rows, size_t n,
                                       spate_collector_t *out);

typedef struct spate_windowed spate_windowed_t;

spate_windowed_t *spate_keyed_window(spate_keyed_t *k, spate_window_assigner_t assigner);
spate_windowed_t *spate_windowed_allowed_lateness(spate_windowed_t *w, int64_t allowed_lateness_ms);
spate_stream_t *spate_windowed_aggregate(spate_windowed_t *w, const char *name,
                                         const spate_aggregate_function_t *fn,
                                         const spate_schema_t *out_schema);
spate_stream_t *spate_windowed_process(spate_windowed_t *w, const char *name, spate_window_process_fn fn,
                                       void *ctx, const spate_schema_t *out_schema);
/*
 * Interval join (Flink's KeyedStream.intervalJoin): joins each row l of `left` with every row r
 * of `right` of the same key whose event time lies in [l.time + lower, l.time + upper]; fn
 * emits the joined row(s), which carry max(l.time, r.time).  Rows are buffered per key until
 * the watermark shows no partner can come any more; rows behind the watermark are dropped.
 */
typedef int (*spate_join_fn)(void *ctx, const spate_row_t *left, const spate_row_t *right,
                             spate_collector_t *out);
spate_stream_t *spate_keyed_interval_join(spate_keyed_t *left, spate_keyed_t *right, int64_t lower_ms,
                                          int64_t upper_ms, const char *name, spate_join_fn fn, void *ctx,
                                          const spate_schema_t *out_schema);

/* The late records of a windowed aggregation (its input's schema), as Flink's sideOutputLateData. */
spate_stream_t *spate_window_late_data(spate_stream_t *windowed);

#ifdef __cplusplus
}
#endif
#endif
