/*
 * runtime.h — the parallel runtime: operators, chains, tasks, channels,
 * partitioners and jobs.
 *
 * Shape (docs/architecture.md tells the whole story):
 *
 *   logical graph (sp_graph_t, built by src/api)      nodes = operators, edges = partitioning
 *        │  sp_job_start: resolve parallelism, chain forward edges of equal parallelism
 *        ▼
 *   execution graph: one task per (chain, subtask), each on its own thread
 *        task = input gate (channels from upstream tasks) → chained operator instances
 *               → writers (partitioner + channels to downstream tasks)
 *
 * Everything a task does happens on its thread, in its mailbox loop: input
 * batches, control events (watermark, checkpoint barrier, end of input),
 * mails posted by other threads (barrier triggers; checkpoint
 * acknowledgements later), operators' processing-time timers, source polls.  Channels are bounded single-producer/single-consumer
 * queues of elements; a full channel blocks its producer (back-pressure).
 * Control events travel in the same queues as batches, so order is kept.
 *
 * Threads: operator instances are touched only by their task's thread.  The
 * job object is shared: its status, error and cancel flag are guarded by
 * its mutex / atomics.
 */
#ifndef SP_RUNTIME_H
#define SP_RUNTIME_H

#include <spate/datastream.h>

#include <pthread.h>
#include <stdatomic.h>

#include "common/config.h"
#include "types/types.h"

#define SP_WATERMARK_MIN    INT64_MIN
#define SP_WATERMARK_MAX    INT64_MAX
#define SP_MAX_SIDE_OUTPUTS 8 /* user side output tags 1..8 per operator */

/* ---- operators ---- */

typedef struct sp_output sp_output_t;

/* What an operator instance gets at open (borrowed; lives as long as the instance). */
typedef struct sp_op_ctx {
    spate_task_info_t info;
    sp_output_t *out;  /* where the operator emits */
    sp_error_t *error; /* the task's error record */
    bool batch_mode;   /* execution.runtime-mode resolved to BATCH */
    const sp_config_t *config;
    const spate_schema_t *in_schema[2];
    const spate_schema_t *out_schema;
    /* Processing-time timer: the operator sets timer_at (ms on the task's clock,
     * sp_op_ctx_now) and its on_timer hook runs on the task's thread once that time has come
     * (then timer_at is reset to INT64_MAX; the hook may set it again). */
    int64_t timer_at;
    bool checkpointing;         /* the job takes checkpoints (checkpointing.c) */
    bool final_commit_pending;  /* set by an operator at end of input: it waits for the final checkpoint */
    bool dry_restore;           /* sp_job_dry_restore: restore state, touch nothing outside (no commits) */
    const spate_clock_t *clock; /* processing time; NULL = wall clock */
    spate_schema_t *const *side_schema; /* the node's declared side outputs, by tag */
} sp_op_ctx_t;

/* The task's processing-time clock, in milliseconds. */
int64_t sp_op_ctx_now(const sp_op_ctx_t *ctx);

/*
 * Operator vtable.  An operator is an immutable spec (built by the API) plus
 * per-subtask instances created by open().  Hooks return SPATE_OK or an
 * error (message in ctx->error).  process_batch borrows the batch (the
 * caller releases it).  process_watermark receives the combined watermark of
 * all inputs, in order with the data; NULL forwards it.  end_input runs once
 * when every input has ended (after the final watermark); NULL does nothing.
 * close runs once after a successful open, also after failures.
 */
struct sp_opsnap_restore; /* state/opsnap.h */
struct sp_opsnap_later;   /* state/opsnap.h */

typedef struct sp_op_vtable {
    const char *kind;
    int (*open)(const void *spec, sp_op_ctx_t *ctx, void **inst);
    int (*process_batch)(void *inst, int input, sp_batch_t *batch);
    int (*process_watermark)(void *inst, int64_t watermark);
    int (*end_input)(void *inst);
    void (*close)(void *inst);
    void (*destroy_spec)(void *spec);
    /* A checkpoint barrier passes this operator, after all data before it on every input and, in
     * EXACTLY_ONCE (barrier.h), before any data after it; NULL = nothing to do.
     * Snapshots hang here in the checkpoint issue; sinks pre-commit here. */
    int (*process_barrier)(void *inst, int64_t checkpoint_id);
    /* The operator's processing-time timer fired (see sp_op_ctx_t.timer_at); NULL = none. */
    int (*on_timer)(void *inst, int64_t now_ms);
    /* The watermark status of the operator's inputs changed: idle = every input idle (it sends
     * no watermarks and must not hold back others); NULL forwards it. */
    int (*process_status)(void *inst, bool idle);

    /* ---- checkpoint hooks: optional (NULL: nothing to store / do) ----
     * Called by the checkpoint machinery on the instance's task thread (a hook for another
     * thread's event, such as a completed checkpoint, runs from a mail), never during another
     * hook.  Errors fail the task like any hook's (message in ctx->error).  The sink operator
     * (src/api/operators.c) drives two-phase-commit sinks with them.
     *
     * snapshot: the instance's state for checkpoint `checkpoint_id`, called right after
     *   process_barrier(inst, checkpoint_id) and before any later element (if it comes without that
     *   call, the operator does the barrier's work first).  *data / *len: a container of
     *   state/opsnap.h (operator state, keyed state and timers of its key-group range, broadcast
     *   state), malloc'd and transferred to the caller; *data NULL and *len 0 when there is nothing
     *   to store.  The checkpoint stores it per instance.
     * restore: once, after open and before any other hook, with the containers of every old
     *   instance of this operator (sp_opsnap_restore_t: borrowed for the call, untrusted:
     *   SPATE_EPARSE on a malformed one) and this instance's place and key-group range; it takes
     *   what is its own (its key groups, its share of operator state).  Not called on a fresh
     *   start.  A sink commits the restored transactions here, so the call may do I/O.
     * notify_checkpoint_complete: checkpoint `checkpoint_id` is complete (its _metadata is
     *   durable).  Notifications may be skipped or arrive late: completing n covers every
     *   checkpoint <= n (a sink commits everything pre-committed at barriers <= n).  May do
     *   I/O (renames, fsync). */
    int (*snapshot)(void *inst, int64_t checkpoint_id, uint8_t **data, size_t *len);
    /* snapshot_later (optional, beside snapshot): the same container, finished off the task
     *   thread: *out (transferred) holds what the barrier fixed (state/opsnap.h: frozen views of
     *   keyed state, other sections as bytes), and the checkpoint's uploader makes and writes it
     *   while the task goes on.  Used for periodic checkpoints when present; snapshot otherwise. */
    int (*snapshot_later)(void *inst, int64_t checkpoint_id, struct sp_opsnap_later **out);
    int (*restore)(void *inst, const struct sp_opsnap_restore *r);
    int (*notify_checkpoint_complete)(void *inst, int64_t checkpoint_id);
} sp_op_vtable_t;

/* Emitting from an operator: each takes over the batch reference. */
int sp_output_push_batch(sp_output_t *out, sp_batch_t *batch);
int sp_output_push_watermark(sp_output_t *out, int64_t watermark);
/* Watermark status: idle (no watermarks for now: downstream ignores this output in its
 * minimum) or active again. */
int sp_output_push_status(sp_output_t *out, bool idle);
/* Rows for side output `tag` (> 0; Flink's OutputTag): only consumers of that side output get
 * them.  Watermarks, statuses, barriers and end of input go to every consumer. */
int sp_output_push_side(sp_output_t *out, int tag, sp_batch_t *batch);
/* An operator's collectors for user side outputs, created on first use (tag 1..SP_MAX_SIDE_OUTPUTS,
 * schema declared on the node with spate_stream_side_output). */
typedef struct sp_side_outputs {
    const spate_row_t *input; /* the row being processed: side rows get its event time by default */
    spate_collector_t *c[SP_MAX_SIDE_OUTPUTS + 1];
    int tag[SP_MAX_SIDE_OUTPUTS + 1];
    struct sp_side_sink {
        sp_output_t *out;
        int tag;
    } sink[SP_MAX_SIDE_OUTPUTS + 1];
} sp_side_outputs_t;
/* The collector of side output `tag`, or NULL (with an error in ctx->error) when undeclared. */
spate_collector_t *sp_side_output(sp_side_outputs_t *s, sp_op_ctx_t *ctx, int tag);
int sp_side_outputs_flush(sp_side_outputs_t *s);
void sp_side_outputs_fini(sp_side_outputs_t *s);
/* A collector sink (sp_batch_sink_fn) that pushes to an sp_output_t target. */
int sp_output_sink_fn(void *out, sp_batch_t *batch);

/* ---- partitioning ---- */

typedef enum sp_part_kind {
    SP_PART_DEFAULT = 0, /* forward when parallelism is equal, else rebalance (as Flink) */
    SP_PART_FORWARD,
    SP_PART_REBALANCE,
    SP_PART_RESCALE,
    SP_PART_HASH,
    SP_PART_BROADCAST,
    SP_PART_CUSTOM
} sp_part_kind_t;

const char *sp_part_name(sp_part_kind_t k);

/* Key selector: user function or built-in field key (key.c). */
typedef struct sp_key_selector {
    spate_key_fn fn;
    void *ctx;
} sp_key_selector_t;

struct spate_key {
    uint8_t *buf;
    size_t len, cap;
};
void sp_key_init(spate_key_t *k);
void sp_key_fini(spate_key_t *k);
static inline void sp_key_reset(spate_key_t *k)
{
    k->len = 0;
}
/* Key group of a key (0..max_parallelism-1) and the subtask owning a key group (Flink's formulas):
 * the top half of the key's hash (sp_hash_bytes) scaled to [0, max_parallelism). */
static inline int sp_key_group_of_hash(uint64_t key_hash, int max_parallelism)
{
    return (int)(((key_hash >> 32) * (uint64_t)max_parallelism) >> 32);
}
/* The hash of key bytes that key groups and state locations come from: sp_hash_bytes, with a BIGINT
 * key's 9 bytes hashed by xxh3 specialised for that length, inline (the per-row callers). */
static inline uint64_t sp_key_hash(const uint8_t *key, size_t len)
{
    return len == 9 ? sp_hash_bytes(key, 9) : sp_hash_bytes(key, len);
}
int sp_key_group(const uint8_t *key, size_t len, int max_parallelism);
static inline int sp_key_group_owner(int key_group, int parallelism, int max_parallelism)
{
    return (int)((int64_t)key_group * parallelism / max_parallelism);
}
/* The key groups [*first, *last] of subtask `subtask` of `parallelism` (1 <= parallelism <=
 * max_parallelism): exactly those whose sp_key_group_owner is `subtask`, as Flink's
 * KeyGroupRangeAssignment.computeKeyGroupRangeForOperatorIndex computes them.  A restore at a new
 * parallelism gives subtask i the state of this range from every old subtask whose range meets it. */
void sp_key_group_range(int subtask, int parallelism, int max_parallelism, int *first, int *last);
/* Built-in selector over fields: ctx is an sp_field_key_t. */
typedef struct sp_field_key {
    int n;
    int fields[16];
} sp_field_key_t;
int sp_field_key_fn(void *ctx, const spate_row_t *row, spate_key_t *key);
/* The field of a selector that keys by one BIGINT or TIMESTAMP field of `schema` (the common key),
 * else -1: an operator keying a whole batch reads that column itself (sp_key_put_bigint_field). */
int sp_key_bigint_field(const sp_key_selector_t *sel, const spate_schema_t *schema);
/* Appends such a field's key bytes, as sp_field_key_fn does: 0x00 for NULL, else 0x01 and the value
 * in 8 order-preserving bytes (key.c).  The key has room for 9 more bytes. */
static inline void sp_key_put_bigint_field(spate_key_t *k, bool null, int64_t v)
{
    if (null) {
        k->buf[k->len++] = 0;
        return;
    }
    uint64_t u = __builtin_bswap64((uint64_t)v ^ (1ull << 63));
    k->buf[k->len] = 1;
    memcpy(k->buf + k->len + 1, &u, 8);
    k->len += 9;
}
int sp_key_compute(const sp_key_selector_t *sel, const spate_row_t *row, spate_key_t *key, sp_error_t *err);

/* ---- logical graph ---- */

typedef struct sp_edge {
    int from, to, input; /* input: 0 or 1 on the `to` node */
    int tag;             /* 0: from the main output of `from`; > 0: from its side output `tag` */
    sp_part_kind_t part;
    sp_key_selector_t key;        /* SP_PART_HASH */
    spate_partition_fn custom_fn; /* SP_PART_CUSTOM */
    void *custom_ctx;
} sp_edge_t;

typedef struct sp_node {
    int id;
    char *name;
    char *uid;           /* stable id: user-given, else derived from name and position */
    int parallelism;     /* 0 = job default */
    int max_parallelism; /* 1 for non-parallel sources */
    bool chaining_disabled;
    spate_source_t *source;   /* source nodes */
    const sp_op_vtable_t *vt; /* other nodes */
    void *spec;
    spate_schema_t *out_schema;                           /* NULL for sinks */
    spate_schema_t *side_schema[SP_MAX_SIDE_OUTPUTS + 1]; /* declared user side outputs (tag 1..) */
    int ninputs;
    bool is_sink;
} sp_node_t;

typedef struct sp_graph {
    sp_node_t **nodes;
    int nnodes, cap_nodes;
    sp_edge_t *edges;
    int nedges, cap_edges;
} sp_graph_t;

void sp_graph_init(sp_graph_t *g);
void sp_graph_fini(sp_graph_t *g);
sp_node_t *sp_graph_add_node(sp_graph_t *g, const char *name);
sp_edge_t *sp_graph_add_edge(sp_graph_t *g, int from, int to, int input);
size_t sp_graph_describe(const sp_graph_t *g, int default_parallelism, char *buf, size_t cap);

/* ---- jobs ---- */

typedef struct spate_job sp_job_t;

/* Injects checkpoint barrier `id` at every source task (through their mailboxes); the barrier
 * travels in-band to the sinks.  Ids must increase.  Safe from any thread. */
int sp_job_trigger_barrier(sp_job_t *job, int64_t id);

/* Opens every operator of the job and restores it from execution.savepoint.path, as a start would,
 * then ends without reading a record: SPATE_OK when the restore would succeed, else why not (err).
 * Sinks parse their restored transactions but commit nothing. */
int sp_job_dry_restore(const sp_graph_t *g, const sp_config_t *config, const char *name, sp_error_t *err);

/* Starts a job running graph g with config (both borrowed: they must outlive the job). */
int sp_job_start(const sp_graph_t *g, const sp_config_t *config, const spate_clock_t *clock, const char *name,
                 sp_job_t **out, sp_error_t *err);

#endif
