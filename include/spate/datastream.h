/*
 * spate/datastream.h — the DataStream API: environment, streams,
 * transformations, jobs.
 *
 * A program builds a job graph through an environment, then executes it:
 *
 *     spate_env_t *env = spate_env_create();
 *     spate_stream_t *s = spate_env_add_source(env, spate_file_text_source(path), "lines");
 *     s = spate_stream_flat_map(s, "tokenize", tokenize, NULL, spate_schema_of("word STRING, n BIGINT"));
 *     s = spate_keyed_sum(spate_stream_key_by_field(s, "word"), "n");
 *     spate_stream_sink(s, spate_print_sink(NULL), "print");
 *     int rc = spate_env_execute(env, "wordcount");
 *
 * Building never fails loudly: a call given a NULL stream or bad argument
 * returns NULL, and the first such error is kept by the environment and
 * returned by spate_env_execute() (text in spate_env_error()).  So a job can
 * chain calls without checking each one.
 *
 * Graph construction is deterministic: the same calls in the same order
 * give the same operator ids (see spate_env_describe()).
 *
 * User functions are called from task threads, one thread per parallel
 * subtask.  The `ctx` pointer given with a function is shared by all
 * subtasks: treat it as read-only, or use the open/close hooks of a process
 * function for per-subtask state.  A function returns SPATE_OK, or an error
 * code (usually spate_out_fail(out, "...")) to fail the job with a message.
 */
#ifndef SPATE_DATASTREAM_H
#define SPATE_DATASTREAM_H

#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct spate_env spate_env_t;
typedef struct spate_stream spate_stream_t;
typedef struct spate_keyed spate_keyed_t;
typedef struct spate_connected spate_connected_t;
typedef struct spate_job spate_job_t;
typedef struct spate_source spate_source_t; /* spate/connectors.h */
typedef struct spate_sink spate_sink_t;     /* spate/connectors.h */
typedef struct spate_key spate_key_t;
typedef struct spate_context spate_context_t;

/* Where a parallel instance of an operator runs (plain value, borrowed). */
typedef struct spate_task_info {
    const char *operator_name;
    int subtask_index; /* 0 .. parallelism-1 */
    int parallelism;
    int max_parallelism;
    int attempt; /* 0 on the first run */
} spate_task_info_t;

/* ---- user function types ---- */

/* map: emits exactly one row per input row. flat_map: any number. */
typedef int (*spate_map_fn)(void *ctx, const spate_row_t *in, spate_collector_t *out);
typedef spate_map_fn spate_flat_map_fn;
/* filter: > 0 keeps the row, 0 drops it, < 0 fails the job. */
typedef int (*spate_filter_fn)(void *ctx, const spate_row_t *in);
/* key selector: appends the key's bytes with spate_key_append_*(). */
typedef int (*spate_key_fn)(void *ctx, const spate_row_t *in, spate_key_t *key);
/* reduce: combines the accumulated row and a new row into one emitted row of the same schema. */
typedef int (*spate_reduce_fn)(void *ctx, const spate_row_t *acc, const spate_row_t *in,
                               spate_collector_t *out);
/* custom partitioner: returns the target partition 0..num_partitions-1 (or < 0 to fail). */
typedef int (*spate_partition_fn)(void *ctx, const spate_row_t *in, int num_partitions);

/*
 * A process function: the lowest-level row function, with per-subtask
 * state.  open() (optional) runs once per subtask before the first row and
 * returns the instance state in *state (default: ctx); initialize_state()
 * (optional) runs after open() and a restore, with a context, to declare
 * operator state (below); process() sees each row; end_input() (optional) runs when
 * a bounded input is exhausted and may still emit; close() (optional)
 * releases the state, also after a failure.
 */
typedef struct spate_process_function {
    void *ctx;
    int (*open)(void *ctx, const spate_task_info_t *info, void **state);
    int (*process)(void *state, const spate_row_t *in, spate_context_t *c, spate_collector_t *out);
    int (*end_input)(void *state, spate_context_t *c, spate_collector_t *out);
    void (*close)(void *state);
    /* CoProcessFunction: rows of a connected stream's second input (spate_connected_process) */
    int (*process2)(void *state, const spate_row_t *in, spate_context_t *c, spate_collector_t *out);
    /* Flink's CheckpointedFunction.initializeState: once per subtask, after open() (which makes
     * `state`) and after a restore from a checkpoint, before the first row.  Declare operator
     * state here and read what a restore put in it.  A non-OK return fails the job; close()
     * still runs. */
    int (*initialize_state)(void *state, spate_context_t *c);
} spate_process_function_t;

/* Side outputs (Flink's OutputTag): a process function emits rows of another schema to side
 * output `tag` (1..8) through this collector; spate_stream_side_output declares the tag's schema
 * and gives the stream of those rows.  NULL (and the job fails) for an undeclared tag. */
spate_collector_t *spate_context_side_output(spate_context_t *c, int tag);
spate_stream_t *spate_stream_side_output(spate_stream_t *s, int tag, const spate_schema_t *schema);

/* Context of a process function call (borrowed for the call). */
const spate_task_info_t *spate_context_task(const spate_context_t *c);
/* The operator's current watermark (INT64_MIN before the first one). */
int64_t spate_context_watermark(const spate_context_t *c);

/* ---- operator state (Flink's OperatorStateStore) ----
 * Non-keyed state of one parallel instance of a process function: named lists of byte
 * elements.  Declare a list from the context of any hook that has one (initialize_state,
 * process, process2, end_input); declaring a name again gives the same handle.  The two
 * kinds differ in how a restore at another parallelism hands the elements out (a restore at
 * the same parallelism gives each instance its own list back):
 *   list state (Flink's getListState): the elements of all old instances are divided evenly
 *     among the new instances;
 *   union list state (getUnionListState): every new instance gets all elements of all old
 *     instances.
 * A name has one kind: asking for a list state's name as union list state (or the reverse)
 * returns NULL and fails the job ("operator state 'x' is a list state; it cannot also be a
 * union list state").  Handles belong to the instance, valid until close(); the calls below
 * ignore a NULL handle. */
typedef struct spate_operator_list_state spate_operator_list_state_t;
/* Visits one element (borrowed for the call); non-zero stops the visit. */
typedef int (*spate_state_visit_fn)(void *ctx, const void *value, size_t len);
spate_operator_list_state_t *spate_context_list_state(spate_context_t *c, const char *name);
spate_operator_list_state_t *spate_context_union_list_state(spate_context_t *c, const char *name);
/* Appends a copy of value (len bytes, less than 4 GiB; more fails the job). */
void spate_operator_list_state_add(spate_operator_list_state_t *st, const void *value, size_t len);
/* Calls fn for each element in insertion order (stops at a non-zero return, which it returns);
 * returns SPATE_OK, or fn's value.  fn sees the elements as they were at the call, so it may
 * change the list. */
int spate_operator_list_state_get(spate_operator_list_state_t *st, spate_state_visit_fn fn, void *ctx);
size_t spate_operator_list_state_size(const spate_operator_list_state_t *st);
void spate_operator_list_state_clear(spate_operator_list_state_t *st);
/* Replaces every element with values[0..n-1] (lens[i] bytes each, copied); n 0 clears. */
void spate_operator_list_state_update(spate_operator_list_state_t *st, const void *const *values,
                                      const size_t *lens, size_t n);

/* ---- keys ---- */
/* Appenders use Spate's order-preserving key encoding (docs/architecture.md). */
void spate_key_append_bytes(spate_key_t *key, const void *bytes, size_t len);
void spate_key_append_bigint(spate_key_t *key, int64_t v);
void spate_key_append_string(spate_key_t *key, const char *s, size_t len);

/* ---- environment ---- */
spate_env_t *spate_env_create(void);
void spate_env_destroy(spate_env_t *env);
/* Default parallelism of operators (config parallelism.default, default 1). */
int spate_env_set_parallelism(spate_env_t *env, int parallelism);
/* Number of key groups (config pipeline.max-parallelism, default 128). */
int spate_env_set_max_parallelism(spate_env_t *env, int max_parallelism);
/* Sets a configuration key by its Flink name ("execution.runtime-mode" = "BATCH").
 * Unknown keys and bad values fail with SPATE_ECONFIG and a message naming the key. */
int spate_env_set_config(spate_env_t *env, const char *key, const char *value);
/* The effective value of a key (set or default), or NULL for an unknown key. Borrowed. */
const char *spate_env_get_config(const spate_env_t *env, const char *key);
/* First error met while building or running, or "" . Borrowed. */
const char *spate_env_error(const spate_env_t *env);
/* Writes a description of the logical graph (operators, ids, parallelism, edges). */
size_t spate_env_describe(spate_env_t *env, char *buf, size_t cap);

/* Runs the job to completion on this process (bounded sources) or until it fails. */
int spate_env_execute(spate_env_t *env, const char *job_name);
/* Starts the job on background threads; *job receives the handle. */
int spate_env_start(spate_env_t *env, const char *job_name, spate_job_t **job);

/* ---- processing-time clock ----
 * Processing time (timers, idleness, state TTL) comes from the wall clock, or from a manual
 * clock that tests advance by hand, so processing-time behaviour is deterministic. */
typedef struct spate_clock spate_clock_t;
spate_clock_t *spate_manual_clock_create(int64_t start_ms);
void spate_manual_clock_advance(spate_clock_t *clock, int64_t ms);
int64_t spate_clock_now(const spate_clock_t *clock);
void spate_clock_destroy(spate_clock_t *clock);
/* Jobs started from env use `clock` (borrowed: it must outlive them); NULL = the wall clock. */
void spate_env_set_clock(spate_env_t *env, spate_clock_t *clock);

/* ---- jobs ---- */
typedef enum spate_job_status {
    SPATE_JOB_RUNNING = 1,
    SPATE_JOB_FINISHED,
    SPATE_JOB_FAILED,
    SPATE_JOB_CANCELED
} spate_job_status_t;

/* Blocks until the job ends: SPATE_OK when finished, SPATE_ECANCELED, or the failure's code. */
int spate_job_wait(spate_job_t *job);
/* Like wait, with a timeout: returns 1 when ended (*rc set), 0 on timeout. */
int spate_job_wait_for(spate_job_t *job, int64_t timeout_ms, int *rc);
/* Asks every task to stop; returns at once (use wait). Safe from any thread. */
void spate_job_cancel(spate_job_t *job);
spate_job_status_t spate_job_status(spate_job_t *job);
/* Malformed records the job's sources skipped under SPATE_ON_ERROR_SKIP (counted as source
 * subtasks finish, so final once the job has ended). */
int64_t spate_job_records_skipped(spate_job_t *job);

/* Statistics of the job's checkpoints (the last 64 per attempt), oldest first. */
typedef enum spate_checkpoint_status {
    SPATE_CHECKPOINT_IN_PROGRESS = 0,
    SPATE_CHECKPOINT_COMPLETED,
    SPATE_CHECKPOINT_FAILED
} spate_checkpoint_status_t;
typedef struct spate_checkpoint_stats {
    int64_t id;
    spate_checkpoint_status_t status;
    int64_t trigger_ms;   /* processing time of the trigger */
    int64_t duration_ms;  /* trigger to completion or failure (so far, while in progress) */
    uint64_t state_bytes; /* of all acknowledged snapshots */
    int64_t alignment_ms; /* the longest barrier alignment a subtask reported */
    int acks, expected;   /* subtasks that acknowledged, of all */
    int64_t last_ack_ms;  /* processing time of the last acknowledgement (0: none) */
    char failure[256];    /* why it failed ("" otherwise) */
    /* in-flight data in state_bytes (unaligned checkpoints; Flink's "persisted data") */
    uint64_t persisted_bytes;
    bool savepoint; /* taken for a savepoint (spate_job_savepoint, stop-with-savepoint) */
} spate_checkpoint_stats_t;
/* Number of checkpoints with statistics, and the i-th (returns 0 past the end). */
size_t spate_job_checkpoint_count(spate_job_t *job);
int spate_job_checkpoint_stats(spate_job_t *job, size_t i, spate_checkpoint_stats_t *out);
/* One operator's part of a checkpoint: its subtasks' acknowledgements and snapshots. */
typedef struct spate_checkpoint_operator_stats {
    const char *uid;       /* spate_stream_set_uid, else derived; borrowed until destroy */
    const char *name;      /* borrowed until destroy */
    int acks, parallelism; /* subtasks that acknowledged, of all */
    int64_t ack_ms;        /* the last of them acknowledged this many ms after the trigger (-1: none yet) */
    uint64_t state_bytes;  /* of their snapshots (the checkpoint's state_bytes is their sum) */
} spate_checkpoint_operator_stats_t;
/* Operator `op` (0, 1, ...: every operator of the job, sources and sinks too, in the order they were
 * added) of the i-th checkpoint of spate_job_checkpoint_stats.  Returns 0 past the end of either: loop
 * op = 0, 1, ... until it returns 0. */
int spate_job_checkpoint_operator_stats(spate_job_t *job, size_t i, size_t op,
                                        spate_checkpoint_operator_stats_t *out);

/* ---- savepoints ----
 * A savepoint is a checkpoint taken on request whose state is then copied into a new directory
 * savepoint-<job id prefix>-<random>/ under `dir` (NULL or "": state.savepoints.dir):
 * self-contained, in the canonical format, owned by the user.  A job restores from it with
 * execution.savepoint.path (spate run --from-savepoint), also at another parallelism.  Savepoints
 * need checkpointing (STREAMING mode, execution.checkpointing.interval > 0).
 * Both calls block until the savepoint is written (or failed) and put its directory in `path`
 * (cap bytes; may be NULL).  Errors: SPATE_ESTATE (no checkpointing, the job not running, another
 * savepoint in progress), SPATE_ECONFIG (no directory), or why the checkpoint failed; with
 * spate_last_error() saying what happened. */
int spate_job_savepoint(spate_job_t *job, const char *dir, char *path, size_t cap);
/* Stop-with-savepoint: after the savepoint's barrier the sources emit nothing more; once it is
 * written and the sinks committed, every task stops and the job ends FINISHED.  With `drain` the
 * maximum watermark goes ahead of the barrier (every event-time timer and window fires first) and
 * the job then ends as at the end of its input.  If the savepoint fails, the job goes on. */
int spate_job_stop_with_savepoint(spate_job_t *job, const char *dir, bool drain, char *path, size_t cap);

/* Failure message ("operator 'tokenize' (2/4) failed: ..."), or "". Borrowed until destroy. */
const char *spate_job_error(spate_job_t *job);
/* Cancels if still running, waits, releases everything. */
void spate_job_destroy(spate_job_t *job);

/* ---- streams ---- */
/* The schema of the rows a stream carries (borrowed: valid while the environment lives);
 * NULL for a sink's handle. */
const spate_schema_t *spate_stream_schema(const spate_stream_t *s);

/* Adds a source (ownership of `source` passes to the environment). */
spate_stream_t *spate_env_add_source(spate_env_t *env, spate_source_t *source, const char *name);

/* `out_schema` is borrowed (the graph keeps its own reference); NULL means "same as input". */
spate_stream_t *spate_stream_map(spate_stream_t *s, const char *name, spate_map_fn fn, void *ctx,
                                 const spate_schema_t *out_schema);
spate_stream_t *spate_stream_flat_map(spate_stream_t *s, const char *name, spate_flat_map_fn fn, void *ctx,
                                      const spate_schema_t *out_schema);
spate_stream_t *spate_stream_filter(spate_stream_t *s, const char *name, spate_filter_fn fn, void *ctx);
spate_stream_t *spate_stream_process(spate_stream_t *s, const char *name, const spate_process_function_t *fn,
                                     const spate_schema_t *out_schema);
/* Keeps the named fields, in the given order ("auction, price"); no per-row call. */
spate_stream_t *spate_stream_project(spate_stream_t *s, const char *fields);

spate_keyed_t *spate_stream_key_by(spate_stream_t *s, spate_key_fn fn, void *ctx);
/* Key by one or more fields, comma separated ("word" or "user, page"). */
spate_keyed_t *spate_stream_key_by_field(spate_stream_t *s, const char *fields);
/* Running reduce per key: in STREAMING mode emits the new value on every row,
 * in BATCH mode only the final value per key at end of input. */
spate_stream_t *spate_keyed_reduce(spate_keyed_t *k, const char *name, spate_reduce_fn fn, void *ctx);
/* Running sum of a numeric field (INT, BIGINT, DOUBLE, DECIMAL); other fields from the first row of the key. */
spate_stream_t *spate_keyed_sum(spate_keyed_t *k, const char *field);

/* All streams must have equal schemas. */
spate_stream_t *spate_stream_union(spate_stream_t *a, spate_stream_t *b);
spate_connected_t *spate_stream_connect(spate_stream_t *a, spate_stream_t *b);
spate_stream_t *spate_connected_map(spate_connected_t *c, const char *name, spate_map_fn fn1,
                                    spate_map_fn fn2, void *ctx, const spate_schema_t *out_schema);
/* Flink's CoProcessFunction: fn->process sees the first input's rows, fn->process2 the second's. */
spate_stream_t *spate_connected_process(spate_connected_t *c, const char *name,
                                        const spate_process_function_t *fn, const spate_schema_t *out_schema);
spate_stream_t *spate_connected_flat_map(spate_connected_t *c, const char *name, spate_flat_map_fn fn1,
                                         spate_flat_map_fn fn2, void *ctx, const spate_schema_t *out_schema);

/* Partitioning of the edge to the next operator. */
spate_stream_t *spate_stream_forward(spate_stream_t *s);
spate_stream_t *spate_stream_rebalance(spate_stream_t *s);
spate_stream_t *spate_stream_rescale(spate_stream_t *s);
spate_stream_t *spate_stream_broadcast(spate_stream_t *s);
spate_stream_t *spate_stream_partition_custom(spate_stream_t *s, spate_partition_fn fn, void *ctx);

/* Operator settings; each returns s. */
spate_stream_t *spate_stream_set_parallelism(spate_stream_t *s, int parallelism);
spate_stream_t *spate_stream_set_uid(spate_stream_t *s, const char *uid);
spate_stream_t *spate_stream_disable_chaining(spate_stream_t *s);

/* Adds a sink (ownership of `sink` passes to the environment). Returns the sink's
 * stream handle, usable only with the set_* calls above. */
spate_stream_t *spate_stream_sink(spate_stream_t *s, spate_sink_t *sink, const char *name);

/* ---- job programs ---- */
/* A job compiled as a shared object exports this entry point; `spate run` calls it
 * with the job's own arguments and then executes the graph it built (unless the
 * program executed it itself). */
typedef int (*spate_job_main_fn)(spate_env_t *env, int argc, char **argv);
int spate_job_main(spate_env_t *env, int argc, char **argv);

/* Value following "--name" in argv, or NULL. */
const char *spate_arg(int argc, char **argv, const char *name);

#ifdef __cplusplus
}
#endif
#endif
