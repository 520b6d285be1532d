/*
 * connector.h — the interface between the runtime and connectors (sources
 * and sinks).  The public constructors in include/spate/connectors.h return
 * a spate_source_t / spate_sink_t: an immutable spec plus a vtable.  The
 * runtime opens one reader / writer per parallel subtask, on that subtask's
 * thread, and calls it only from that thread.
 *
 * Sources: poll() emits rows through ctx->out (a collector whose full
 * batches go downstream) and returns a flow value, not an error:
 *   SP_FLOW_MORE  call again soon (it produced something, or may at once);
 *   SP_FLOW_IDLE  nothing to emit now: the task sleeps up to *wait_ms
 *                 (rate limit, no data on a socket) while still serving its
 *                 mailbox, then polls again;
 *   SP_FLOW_END   this subtask's part of the source is exhausted;
 * or a negative SPATE_E* code with the message in ctx->error.  A poll does
 * bounded work (at most about one batch) so cancellation is prompt; it must
 * not block longer than ~100 ms.  After each poll the runtime flushes the
 * collector, so a slow source's rows do not wait for a full batch.
 *
 * Sinks: write() receives each batch (borrowed for the call); finish() runs
 * at end of input (flush and close files); close() releases everything and
 * runs exactly once after open() succeeded, also after a failure.
 *
 * Checkpoints (optional sink hooks; the sink operator, src/api/operators.c,
 * maps the operator's checkpoint hooks of runtime.h onto them):
 *   on_barrier                  barrier n reached the sink after every row
 *                               before it: a two-phase-commit sink
 *                               pre-commits its current transaction;
 *   snapshot                    right after on_barrier(n): put what must
 *                               survive a failure into the operator-state
 *                               store (state/operator_state.h), which the
 *                               checkpoint stores; may run without a prior
 *                               on_barrier(n), then it does its work first;
 *   restore                     after open, before any other call: the
 *                               store restored from a checkpoint (lists as
 *                               sp_opstate_redistribute handed them out);
 *   notify_checkpoint_complete  checkpoint n is complete (its metadata is
 *                               durable): commit what was pre-committed at
 *                               barriers <= n.
 * Two-phase-commit sinks get all of them from the driver in twophase.c:
 * sp_twophase_sink_new wraps a spate_twophase_sink_function_t (the public
 * interface, spate/connectors.h) into an sp_sink_vtable_t.  The driver keeps
 * the list of pre-committed transactions (checkpoint id, subtask,
 * description) and records it in the snapshot as the UNION list
 * SP_TWOPHASE_STATE_NAME, so every subtask of a restore sees every pending
 * transaction (the layout is in twophase.c).
 */
#ifndef SP_CONNECTOR_H
#define SP_CONNECTOR_H

#include <spate/connectors.h>

#include "types/types.h"

typedef enum sp_flow { SP_FLOW_MORE = 0, SP_FLOW_IDLE = 1, SP_FLOW_END = 2 } sp_flow_t;

typedef struct sp_source_ctx {
    spate_task_info_t info;
    spate_collector_t *out; /* schema = the source's schema */
    sp_error_t *error;
} sp_source_ctx_t;

typedef struct sp_source_vtable {
    const char *kind; /* "file", "datagen", ... (shown in plans) */
    int (*open)(const void *spec, const sp_source_ctx_t *ctx, void **reader);
    int (*poll)(void *reader, const sp_source_ctx_t *ctx, int64_t *wait_ms);
    void (*close)(void *reader);
    void (*destroy)(void *spec);
    /* records skipped under SPATE_ON_ERROR_SKIP so far (may be NULL) */
    int64_t (*skipped)(void *reader);
    /* Projection push-down (optional): a new spec that produces only fields idx[0..n) of this
     * spec's schema, in that order, or NULL when the connector cannot. */
    void *(*project)(const void *spec, const int *idx, int n);
    /* Checkpointing (both optional: a source without them cannot be replayed, as a socket).
     * snapshot: the reader's position after every row it emitted so far, as a new byte string (its
     * operator state; *bytes is the caller's to free), taken between polls.  restore: go back to
     * such a position, after open and before the first poll; the rows that follow are those an
     * uninterrupted run emitted after it.  Without restore_splits, positions are per subtask:
     * restore them at the same parallelism (the non-parallel sources run at 1 anyway). */
    int (*snapshot)(void *reader, uint8_t **bytes, size_t *len, sp_error_t *err);
    int (*restore)(void *reader, const uint8_t *bytes, size_t len, sp_error_t *err);
    /* Splits (optional; the parallel sources datagen and Nexmark, as Flink's FLIP-27 splits).  A
     * parallel source's data is cut into splits, as many as the parallelism of the run that first
     * read it (never changed by a restore); a position records every split its reader owns, with
     * the split's index and the split count (sp_source_splits_encode).  restore_splits replaces
     * restore on a checkpoint restore, at any parallelism: positions[i] (lens[i] bytes) is old
     * subtask i's position (NULL: it recorded none), n the old parallelism; the reader keeps the
     * splits assigned to it — split s goes to subtask s mod parallelism — so it may own several
     * (it emits from all of them) or none.  idle: true when the reader owns no split of an
     * unbounded source, so it will never emit: the runtime then marks its output idle, so that it
     * holds back no watermark downstream (a bounded reader without splits just ends). */
    int (*restore_splits)(void *reader, const uint8_t *const *positions, const size_t *lens, int n,
                          sp_error_t *err);
    bool (*idle)(void *reader);
} sp_source_vtable_t;

struct spate_source {
    const sp_source_vtable_t *vt;
    void *spec;
    spate_schema_t *schema; /* reference */
    bool bounded;
    bool parallel; /* false: the source runs with parallelism 1 */
};

struct sp_opstate; /* state/operator_state.h */

typedef struct sp_sink_vtable {
    const char *kind;
    int (*open)(const void *spec, const spate_task_info_t *info, sp_error_t *err, void **writer);
    int (*write)(void *writer, const sp_batch_t *batch, sp_error_t *err);
    int (*finish)(void *writer, sp_error_t *err);
    /* End of input when the job takes checkpoints (optional; a two-phase-commit sink): pre-commit
     * the last transaction (id INT64_MAX) without committing it; the job's final checkpoint commits
     * it (notify_checkpoint_complete with INT64_MAX), so that a restore from an earlier checkpoint
     * cannot publish its rows twice.  Without it, finish runs. */
    int (*prepare_finish)(void *writer, sp_error_t *err);
    void (*close)(void *writer);
    void (*destroy)(void *spec);
    /* A checkpoint barrier reached the sink after all rows before it (optional): the place
     * where a two-phase-commit sink pre-commits. */
    int (*on_barrier)(void *writer, int64_t checkpoint_id, sp_error_t *err);
    /* Checkpoint hooks (optional; see the file header).  `state` is borrowed for the call. */
    int (*snapshot)(void *writer, int64_t checkpoint_id, struct sp_opstate *state, sp_error_t *err);
    int (*restore)(void *writer, const struct sp_opstate *state, sp_error_t *err);
    int (*notify_checkpoint_complete)(void *writer, int64_t checkpoint_id, sp_error_t *err);
} sp_sink_vtable_t;

struct spate_sink {
    const sp_sink_vtable_t *vt;
    void *spec;
};

/* ---- two-phase-commit sinks (twophase.c) ---- */

/* The operator-state list in which the driver records pending transactions. */
#define SP_TWOPHASE_STATE_NAME "spate.twophase.pending"

/* What a two-phase-commit call gets (spate_sink_context_t): the subtask and the task's error
 * record.  Connectors in this folder may set c->err directly (sp_error_set). */
struct spate_sink_context {
    spate_task_info_t info;
    sp_error_t *err;
};

/* A pre-commit's description being written (spate_txn_t; malloc'd bytes). */
struct spate_txn {
    uint8_t *data;
    size_t len, cap;
};

/* Wraps fn (copied; fn->ctx passes to the sink) as a sink; built-in connectors use it as
 * spate_twophase_sink does, without the argument checks (fn must be complete). */
spate_sink_t *sp_twophase_sink_new(const spate_twophase_sink_function_t *fn);
/* The function table of a sink made by sp_twophase_sink_new (borrowed from the sink), or NULL
 * for another sink: tests drive a writer through it directly. */
const spate_twophase_sink_function_t *sp_twophase_sink_function(const spate_sink_t *sink);

/* Helpers for connector constructors: wrap a spec (ownership of spec and a new
 * reference to schema pass to the result). */
spate_source_t *sp_source_new(const sp_source_vtable_t *vt, void *spec, const spate_schema_t *schema,
                              bool bounded, bool parallel);
spate_sink_t *sp_sink_new(const sp_sink_vtable_t *vt, void *spec);

/*
 * Rows-per-second limit for sources (file, datagen, Nexmark).  The n-th row
 * (counted from 0) may go at t0 + n / rate, where t0 is the first call of
 * sp_rate_limit_budget: the first row goes at once, and a source that fell
 * behind (a slow downstream) catches up in bursts bounded by its per-poll
 * cap.  Lives in the reader (caller's storage, nothing to release); used
 * only from the reader's task thread.
 *
 * A poll asks for its budget, emits at most that many rows and reports
 * them; with no budget it returns SP_FLOW_IDLE with the *wait_ms given:
 *
 *     int64_t n = sp_rate_limit_budget(&r->rate, wait_ms);
 *     if (n == 0) return SP_FLOW_IDLE;
 *     ... emit at most SP_MIN(n, SP_BATCH_CAPACITY) rows ...
 *     sp_rate_limit_sent(&r->rate, emitted);
 */
/*
 * Source positions as bytes: [u8 version = 1][u8 source kind][n × u64 little-endian].  encode
 * returns a new buffer (*len bytes); decode checks version, kind and length and fills v[0..n),
 * failing with SPATE_EPARSE "NAME: bad checkpointed position" otherwise.
 */
enum { SP_POS_COLLECTION = 1, SP_POS_FILE = 2, SP_POS_DATAGEN = 3, SP_POS_NEXMARK = 4 };
uint8_t *sp_source_pos_encode(int kind, const uint64_t *v, int n, size_t *len);
int sp_source_pos_decode(const uint8_t *bytes, size_t len, int kind, uint64_t *v, int n, const char *name,
                         sp_error_t *err);

/*
 * Split positions (parallel sources), version 2, every number a u64 little-endian:
 *   [u8 version = 2][u8 source kind][u64 split count P][u64 splits here n]
 *   then n times [u64 split index s < P][m words of that split's position]
 * (n may be 0: a reader without splits).  encode takes v = n rows of 1 + m words (the split
 * index first).  decode reads positions[0..npos) (NULL entries are skipped) into a new array
 * *out (caller frees) of *nout splits, sorted by split index, and the split count *count; a
 * version-1 position (sp_source_pos_encode, m words: one split) at index i is split v1_first + i
 * of v1_count.  It fails with SPATE_EPARSE "NAME: bad checkpointed position ..." on a wrong
 * version, kind or length, a split index >= its count, split counts that differ or a split given
 * twice, and, with `complete`, when a split 0..P-1 is missing.
 */
#define SP_SPLIT_MAX_WORDS 4
typedef struct sp_split_pos {
    uint32_t split;
    uint64_t v[SP_SPLIT_MAX_WORDS];
} sp_split_pos_t;
uint8_t *sp_source_splits_encode(int kind, uint64_t count, const uint64_t *v, int n, int m, size_t *len);
int sp_source_splits_decode(const uint8_t *const *positions, const size_t *lens, int npos, int kind, int m,
                            uint32_t v1_first, uint32_t v1_count, bool complete, const char *name,
                            sp_split_pos_t **out, int *nout, uint32_t *count, sp_error_t *err);

typedef struct sp_rate_limit {
    double per_sec; /* <= 0: unlimited */
    int64_t t0_ns;  /* monotonic time of the first budget call; 0 before it */
    int64_t sent;   /* rows reported through sp_rate_limit_sent */
} sp_rate_limit_t;

/* Sets up a limit of rows_per_second (may be fractional; <= 0 means unlimited). */
void sp_rate_limit_init(sp_rate_limit_t *l, double rows_per_second);
/* How many rows may go now: INT64_MAX when unlimited; 0 when ahead of schedule, with *wait_ms set
 * to the time until the next row may go, clamped to 1..100 (otherwise *wait_ms is untouched). */
int64_t sp_rate_limit_budget(sp_rate_limit_t *l, int64_t *wait_ms);
/* Counts n rows as sent. */
void sp_rate_limit_sent(sp_rate_limit_t *l, int64_t n);

#endif
