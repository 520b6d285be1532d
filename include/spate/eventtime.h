/*
 * spate/eventtime.h — event time: timestamp assigners and watermark
 * strategies, as Flink's WatermarkStrategy.
 *
 *     spate_watermark_strategy_t *ws = spate_watermark_for_bounded_out_of_orderness(5000);
 *     spate_watermark_with_timestamp_field(ws, "ts");
 *     spate_watermark_with_idleness(ws, 60000);
 *     s = spate_stream_assign_timestamps_and_watermarks(s, ws);   (or spate_env_add_source_with_watermarks)
 *
 * A strategy gives every record its event timestamp (a field, a function,
 * or the timestamp the record already has) and generates watermarks per
 * parallel instance: built-in strategies emit periodically, every
 * `pipeline.auto-watermark-interval` (default 200 ms; 0 disables periodic
 * emission), the largest timestamp seen minus the bound minus 1; a custom
 * generator may also emit on any record, and the watermark then follows
 * that record in order.  With idleness, an instance that sees no records for
 * the timeout declares itself idle, so downstream operators do not wait for
 * its watermark; its next record makes it active again.  Watermarks from
 * upstream are not passed on (only the final one at end of input).
 *
 * Per-record emission (spate_watermark_with_per_record_emission) makes a
 * built-in strategy emit the same value right after each record that
 * raises it, in order with the data, instead of periodically: the interval
 * no longer matters, and which records are late depends only on the input
 * order, not on timing.  Idleness works as without it.  It applies only to
 * the built-in strategies: a custom generator emits per record from its
 * on_event, and using a generator strategy with this option fails the
 * stream call ("watermark strategy: per-record emission needs a built-in
 * strategy ...").
 */
#ifndef SPATE_EVENTTIME_H
#define SPATE_EVENTTIME_H

#include "datastream.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct spate_watermark_strategy spate_watermark_strategy_t;
typedef struct spate_watermark_output spate_watermark_output_t;

/* Returns the event timestamp (ms) of a row. */
typedef int64_t (*spate_timestamp_fn)(void *ctx, const spate_row_t *row);

/* A custom watermark generator (Flink's WatermarkGenerator). Every callback is optional. */
typedef struct spate_watermark_generator {
    void *ctx;
    void *(*create)(void *ctx); /* per parallel instance; the result is `state` below (default ctx) */
    void (*destroy)(void *state);
    /* each record, after its timestamp is assigned */
    void (*on_event)(void *state, int64_t timestamp, const spate_row_t *row, spate_watermark_output_t *out);
    /* every pipeline.auto-watermark-interval */
    void (*on_periodic_emit)(void *state, spate_watermark_output_t *out);
} spate_watermark_generator_t;

/* Emits a watermark (ignored unless larger than the last one). */
void spate_watermark_output_emit(spate_watermark_output_t *out, int64_t watermark);
/* Declares this instance idle until its next record. */
void spate_watermark_output_mark_idle(spate_watermark_output_t *out);

/* Strategies (new objects; ownership passes to the stream call that uses them). */
spate_watermark_strategy_t *spate_watermark_for_monotonous_timestamps(void);
spate_watermark_strategy_t *spate_watermark_for_bounded_out_of_orderness(int64_t max_out_of_orderness_ms);
spate_watermark_strategy_t *spate_watermark_for_generator(const spate_watermark_generator_t *generator);
void spate_watermark_strategy_destroy(spate_watermark_strategy_t *ws);

/* Timestamp from a BIGINT or TIMESTAMP field (a NULL there fails the job), or from a function.
 * Without either, records keep the timestamp they have (e.g. from the source). Each returns ws. */
spate_watermark_strategy_t *spate_watermark_with_timestamp_field(spate_watermark_strategy_t *ws,
                                                                 const char *field);
spate_watermark_strategy_t *spate_watermark_with_timestamp_assigner(spate_watermark_strategy_t *ws,
                                                                    spate_timestamp_fn fn, void *ctx);
spate_watermark_strategy_t *spate_watermark_with_idleness(spate_watermark_strategy_t *ws,
                                                          int64_t idle_timeout_ms);
/* Built-in strategies only: emit the watermark (largest timestamp - bound - 1) right after every
 * record that raises it, instead of every pipeline.auto-watermark-interval. Returns ws; on a
 * generator strategy the stream call that uses ws fails. */
spate_watermark_strategy_t *spate_watermark_with_per_record_emission(spate_watermark_strategy_t *ws);

/* Assigns timestamps and generates watermarks anywhere in a stream (takes ws). */
spate_stream_t *spate_stream_assign_timestamps_and_watermarks(spate_stream_t *s,
                                                              spate_watermark_strategy_t *ws);
/* A source with its watermark strategy, as Flink's env.fromSource(source, strategy, name): each
 * parallel instance (split) generates its own watermarks (takes source and ws). */
spate_stream_t *spate_env_add_source_with_watermarks(spate_env_t *env, spate_source_t *source,
                                                     spate_watermark_strategy_t *ws, const char *name);

#ifdef __cplusplus
}
#endif
#endif
