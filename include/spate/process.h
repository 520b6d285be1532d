/*
 * spate/process.h — keyed process functions with keyed state and timers
 * (Flink's KeyedProcessFunction, ValueState, TimerService).
 *
 *     static int open_fn(void *ctx, spate_keyed_context_t *kc, void **state)
 *     {   my_t *m = calloc(1, sizeof *m);
 *         m->flag = spate_keyed_value_state(kc, "flag");      // declare states in open
 *         *state = m; return SPATE_OK; }
 *     static int process_fn(void *state, const spate_row_t *in, spate_keyed_context_t *kc,
 *                           spate_collector_t *out)
 *     {   ... spate_value_state_get(kc, m->flag, &v, sizeof v) ...
 *         spate_timer_register_event_time(kc, spate_keyed_context_timestamp(kc) + 60000); ... }
 *
 * State is scoped to the current key (the key of the row being processed,
 * or of the timer firing) and lives behind the state backend (heap now,
 * RocksDB later), partitioned by key group.  Timers are per (key,
 * timestamp) and deduplicated: registering the same one twice fires once.
 * Event-time timers fire when the operator's watermark reaches their time,
 * before the watermark is passed on; processing-time timers fire when the
 * task's clock does.  Timers fire in timestamp order.  At end of input the
 * final watermark fires every event-time timer.
 */
#ifndef SPATE_PROCESS_H
#define SPATE_PROCESS_H

#include "datastream.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct spate_keyed_context spate_keyed_context_t;
typedef struct spate_value_state spate_value_state_t;

typedef enum spate_time_domain { SPATE_EVENT_TIME = 0, SPATE_PROCESSING_TIME = 1 } spate_time_domain_t;

typedef struct spate_keyed_process_function {
    void *ctx;
    /* once per parallel instance, before any row: declare states; *state is passed to the others (default ctx) */
    int (*open)(void *ctx, spate_keyed_context_t *kc, void **state);
    int (*process)(void *state, const spate_row_t *in, spate_keyed_context_t *kc, spate_collector_t *out);
    int (*on_timer)(void *state, int64_t timestamp, spate_time_domain_t domain, spate_keyed_context_t *kc,
                    spate_collector_t *out);
    void (*close)(void *state);
} spate_keyed_process_function_t;

/* Flink's KeyedCoProcessFunction: two keyed streams (spate_keyed_connect) share the keyed
 * state and timers of the current key; process sees the first input's rows, process2 the
 * second's.  Both inputs must be keyed by keys that mean the same (same encoding). */
typedef struct spate_keyed_co_process_function {
    void *ctx;
    int (*open)(void *ctx, spate_keyed_context_t *kc, void **state);
    int (*process)(void *state, const spate_row_t *in, spate_keyed_context_t *kc, spate_collector_t *out);
    int (*process2)(void *state, const spate_row_t *in, spate_keyed_context_t *kc, spate_collector_t *out);
    int (*on_timer)(void *state, int64_t timestamp, spate_time_domain_t domain, spate_keyed_context_t *kc,
                    spate_collector_t *out);
    void (*close)(void *state);
} spate_keyed_co_process_function_t;

spate_connected_t *spate_keyed_connect(spate_keyed_t *a, spate_keyed_t *b);
spate_stream_t *spate_connected_keyed_process(spate_connected_t *c, const char *name,
                                              const spate_keyed_co_process_function_t *fn,
                                              const spate_schema_t *out_schema);

/* A keyed stream through a keyed process function (out_schema NULL: the input's). */
spate_stream_t *spate_keyed_process(spate_keyed_t *k, const char *name,
                                    const spate_keyed_process_function_t *fn,
                                    const spate_schema_t *out_schema);

/* ---- broadcast state (Flink's BroadcastProcessFunction) ----
 * A stream connected with a broadcast stream: every parallel instance sees all broadcast rows
 * (process_broadcast, which may change the broadcast state) and its share of the other stream
 * (process, which reads it).  Broadcast state is a map of byte keys to byte values per
 * instance, named; every instance applies the same broadcast rows, so they hold the same
 * state.  Pattern: dynamic rules or thresholds broadcast to all instances. */
typedef struct spate_broadcast_context spate_broadcast_context_t;
typedef struct spate_broadcast_process_function {
    void *ctx;
    int (*open)(void *ctx, const spate_task_info_t *info, void **state);
    int (*process)(void *state, const spate_row_t *in, spate_broadcast_context_t *bc, spate_collector_t *out);
    int (*process_broadcast)(void *state, const spate_row_t *in, spate_broadcast_context_t *bc,
                             spate_collector_t *out);
    void (*close)(void *state);
} spate_broadcast_process_function_t;

/* s through fn, with `broadcast` sent to every instance (takes neither stream). */
spate_stream_t *spate_stream_process_with_broadcast(spate_stream_t *s, spate_stream_t *broadcast,
                                                    const char *name,
                                                    const spate_broadcast_process_function_t *fn,
                                                    const spate_schema_t *out_schema);
/* Broadcast state `state` (a name): like map state, but per instance instead of per key. */
int64_t spate_broadcast_state_get(spate_broadcast_context_t *bc, const char *state, const void *key,
                                  size_t klen, void *buf, size_t cap);
/* Only in process_broadcast (elsewhere: ignored, and the job fails). */
void spate_broadcast_state_put(spate_broadcast_context_t *bc, const char *state, const void *key, size_t klen,
                               const void *value, size_t vlen);
void spate_broadcast_state_remove(spate_broadcast_context_t *bc, const char *state, const void *key,
                                  size_t klen);

/* ---- keyed broadcast state (Flink's KeyedBroadcastProcessFunction) ----
 * A keyed stream connected with a broadcast stream.  process and on_timer run with a current key
 * (the row's, the timer's) and use keyed state and timers with the usual calls on kc; they read
 * the broadcast state through spate_keyed_context_broadcast(kc) and may not change it.
 * process_broadcast sees every broadcast row on every instance, with no current key: it may
 * change the broadcast state, and reach keyed state only through
 * spate_keyed_broadcast_apply_to_keyed_state (keyed state or timer calls there without it fail
 * the job).  There is no order between the two inputs. */
typedef struct spate_keyed_broadcast_process_function {
    void *ctx;
    /* once per parallel instance, before any row: declare keyed states (*state starts as ctx) */
    int (*open)(void *ctx, spate_keyed_context_t *kc, void **state);
    int (*process)(void *state, const spate_row_t *in, spate_keyed_context_t *kc, spate_collector_t *out);
    int (*process_broadcast)(void *state, const spate_row_t *in, spate_keyed_context_t *kc,
                             spate_collector_t *out);
    int (*on_timer)(void *state, int64_t timestamp, spate_time_domain_t domain, spate_keyed_context_t *kc,
                    spate_collector_t *out);
    void (*close)(void *state);
} spate_keyed_broadcast_process_function_t;

/* k through fn, with `broadcast` sent to every instance (takes neither stream).  process and
 * process_broadcast are required; out_schema NULL: k's schema.  Default name
 * "KeyedBroadcastProcess". */
spate_stream_t *spate_keyed_process_with_broadcast(spate_keyed_t *k, spate_stream_t *broadcast,
                                                   const char *name,
                                                   const spate_keyed_broadcast_process_function_t *fn,
                                                   const spate_schema_t *out_schema);
/* The broadcast state of a keyed broadcast process function, for the spate_broadcast_state_*
 * calls: writable in process_broadcast, read-only elsewhere.  Borrowed for the call.  NULL in
 * other keyed functions (the calls then read nothing and write nothing). */
spate_broadcast_context_t *spate_keyed_context_broadcast(spate_keyed_context_t *kc);

/* Called with each visited key current in kc: the usual state calls on kc read, change or clear
 * that key's state (and timers register for it).  A non-zero return stops the visit. */
typedef int (*spate_keyed_state_fn)(void *ctx, spate_keyed_context_t *kc);
/* Flink's applyToKeyedState: calls fn once for every key of this instance that has a value in
 * the keyed state named `state` (declared in open), in no particular order.  Only in
 * process_broadcast; keys whose value has expired (TTL) are skipped.  Returns SPATE_OK, fn's
 * non-zero value, or SPATE_EINVAL (and the job fails) outside process_broadcast or for a name
 * no state was declared with. */
int spate_keyed_broadcast_apply_to_keyed_state(spate_keyed_context_t *kc, const char *state,
                                               spate_keyed_state_fn fn, void *ctx);

/* ---- the context (borrowed for the call) ---- */
const spate_task_info_t *spate_keyed_context_task(const spate_keyed_context_t *kc);
/* Event timestamp of the row being processed, or of the firing event-time timer. */
int64_t spate_keyed_context_timestamp(const spate_keyed_context_t *kc);
int64_t spate_keyed_context_watermark(const spate_keyed_context_t *kc);
int64_t spate_keyed_context_processing_time(const spate_keyed_context_t *kc);
/* The current key's bytes (Spate's key encoding), borrowed for the call. */
const void *spate_keyed_context_key(const spate_keyed_context_t *kc, size_t *len);

/* Side output `tag` (see spate_context_side_output in datastream.h). */
spate_collector_t *spate_keyed_context_side_output(spate_keyed_context_t *kc, int tag);

void spate_timer_register_event_time(spate_keyed_context_t *kc, int64_t timestamp);
void spate_timer_delete_event_time(spate_keyed_context_t *kc, int64_t timestamp);
void spate_timer_register_processing_time(spate_keyed_context_t *kc, int64_t timestamp);
void spate_timer_delete_processing_time(spate_keyed_context_t *kc, int64_t timestamp);

/* ---- state time-to-live (Flink's StateTtlConfig) ----
 * Set in open() before declaring states: it applies to the states declared after it (NULL
 * turns it off again).  An entry expires ttl_ms after its last write (or last read too, with
 * SPATE_TTL_ON_READ_AND_WRITE), on the processing-time clock.  Expired entries are removed
 * when read (or returned once more, with SPATE_TTL_RETURN_EXPIRED_IF_NOT_CLEANED_UP) and
 * incrementally: each write of a TTL state, and each read that finds an expired entry, also
 * checks `cleanup_per_access` other entries. */
typedef enum spate_ttl_update {
    SPATE_TTL_ON_CREATE_AND_WRITE = 0,
    SPATE_TTL_ON_READ_AND_WRITE = 1
} spate_ttl_update_t;
typedef enum spate_ttl_visibility {
    SPATE_TTL_NEVER_RETURN_EXPIRED = 0,
    SPATE_TTL_RETURN_EXPIRED_IF_NOT_CLEANED_UP = 1
} spate_ttl_visibility_t;
typedef struct spate_state_ttl {
    int64_t ttl_ms;
    spate_ttl_update_t update;
    spate_ttl_visibility_t visibility;
    int cleanup_per_access; /* other entries checked per access (incremental cleanup); 0: none */
} spate_state_ttl_t;
void spate_keyed_state_ttl(spate_keyed_context_t *kc, const spate_state_ttl_t *ttl);

/* ---- value state: bytes per key ---- */
/* Declares (in open) the value state `name` of this operator. */
spate_value_state_t *spate_keyed_value_state(spate_keyed_context_t *kc, const char *name);
/* Copies the current key's value into buf (at most cap bytes); returns its length, or -1 when unset. */
int64_t spate_value_state_get(spate_keyed_context_t *kc, spate_value_state_t *st, void *buf, size_t cap);
void spate_value_state_set(spate_keyed_context_t *kc, spate_value_state_t *st, const void *value, size_t len);
void spate_value_state_clear(spate_keyed_context_t *kc, spate_value_state_t *st);

/* ---- list state: a list of byte values per key ---- */
typedef struct spate_list_state spate_list_state_t;
/* spate_state_visit_fn (an element's visitor) is in datastream.h, shared with operator state. */
spate_list_state_t *spate_keyed_list_state(spate_keyed_context_t *kc, const char *name);
void spate_list_state_add(spate_keyed_context_t *kc, spate_list_state_t *st, const void *value, size_t len);
/* Calls fn for each element in insertion order (stops at a non-zero return, which it returns);
 * returns SPATE_OK, or fn's value. */
int spate_list_state_get(spate_keyed_context_t *kc, spate_list_state_t *st, spate_state_visit_fn fn,
                         void *ctx);
size_t spate_list_state_size(spate_keyed_context_t *kc, spate_list_state_t *st);
void spate_list_state_clear(spate_keyed_context_t *kc, spate_list_state_t *st);

/* ---- map state: byte keys to byte values per key ---- */
typedef struct spate_map_state spate_map_state_t;
typedef int (*spate_map_visit_fn)(void *ctx, const void *key, size_t klen, const void *value, size_t vlen);
spate_map_state_t *spate_keyed_map_state(spate_keyed_context_t *kc, const char *name);
/* Copies the value of `key` into buf (at most cap bytes); returns its length, or -1 when absent. */
int64_t spate_map_state_get(spate_keyed_context_t *kc, spate_map_state_t *st, const void *key, size_t klen,
                            void *buf, size_t cap);
void spate_map_state_put(spate_keyed_context_t *kc, spate_map_state_t *st, const void *key, size_t klen,
                         const void *value, size_t vlen);
void spate_map_state_remove(spate_keyed_context_t *kc, spate_map_state_t *st, const void *key, size_t klen);
/* Calls fn for each entry (in no particular order); stops at a non-zero return, which it returns. */
int spate_map_state_entries(spate_keyed_context_t *kc, spate_map_state_t *st, spate_map_visit_fn fn,
                            void *ctx);
void spate_map_state_clear(spate_keyed_context_t *kc, spate_map_state_t *st);

/* ---- reducing and aggregating state: one fixed-size accumulator per key ---- */
typedef struct spate_aggregating_state spate_aggregating_state_t;
/* add folds `in` (in_len bytes) into acc (acc_size bytes, made by create on the key's first add). */
typedef struct spate_aggregating_descriptor {
    const char *name;
    size_t acc_size;
    void *ctx;
    void (*create)(void *ctx, void *acc);
    void (*add)(void *ctx, void *acc, const void *in, size_t in_len);
} spate_aggregating_descriptor_t;
spate_aggregating_state_t *spate_keyed_aggregating_state(spate_keyed_context_t *kc,
                                                         const spate_aggregating_descriptor_t *d);
/* Reducing state: values of value_size bytes; the first value is kept, each later one is
 * folded in with reduce(ctx, acc, value). (An aggregating state whose input is its value.) */
spate_aggregating_state_t *spate_keyed_reducing_state(spate_keyed_context_t *kc, const char *name,
                                                      size_t value_size,
                                                      void (*reduce)(void *ctx, void *acc, const void *value),
                                                      void *ctx);
void spate_aggregating_state_add(spate_keyed_context_t *kc, spate_aggregating_state_t *st, const void *in,
                                 size_t in_len);
/* Copies the accumulator into acc (acc_size bytes); returns 1, or 0 when the key has none. */
int spate_aggregating_state_get(spate_keyed_context_t *kc, spate_aggregating_state_t *st, void *acc);
void spate_aggregating_state_clear(spate_keyed_context_t *kc, spate_aggregating_state_t *st);

#ifdef __cplusplus
}
#endif
#endif
