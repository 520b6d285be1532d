/*
 * coordinator.h — the checkpoint coordinator of one job (Flink's
 * CheckpointCoordinator): triggers checkpoints, collects the tasks'
 * acknowledgements, completes a checkpoint by writing its _metadata through
 * the store, tells the job, and keeps statistics.
 *
 * A checkpoint's life:
 *   trigger   periodic (every `interval_ms` after the previous trigger, at
 *             least `min_pause_ms` after the previous checkpoint ended, at
 *             most `max_concurrent` pending) or on request
 *             (sp_ckpt_coord_trigger).  The store begins chk-<n>/, then
 *             hooks.trigger(n) injects barrier n at the sources.
 *   ack       each (operator, subtask) of the job acknowledges n once with
 *             its state handles (sp_ckpt_coord_ack), after its snapshot is
 *             written; or declines (sp_ckpt_coord_decline).
 *   complete  when every expected acknowledgement is in, the _metadata is
 *             written (sp_ckpt_store_complete): only then is n complete,
 *             and hooks.complete(n) lets two-phase-commit sinks commit.
 *   fail      a decline, the timeout (`timeout_ms` after the trigger), a
 *             store error, or a newer checkpoint completing first: the
 *             store aborts n and hooks.abort(n) tells the job.  Failures in
 *             a row beyond `tolerable_failures` call hooks.fail_job (a
 *             success resets the count), as Flink's
 *             execution.checkpointing.tolerable-failed-checkpoints.
 *
 * Threads: sp_ckpt_coord_start runs the periodic trigger and the timeouts
 * on a thread of the coordinator; ack, decline, trigger and stats are safe
 * from any thread.  Hooks run on the coordinator's thread, or on the thread
 * of the ack or trigger call that caused them, never under its lock.
 */
#ifndef SP_CHECKPOINT_COORDINATOR_H
#define SP_CHECKPOINT_COORDINATOR_H

#include "checkpoint/store.h"

typedef struct sp_ckpt_coord sp_ckpt_coord_t;

/* The execution.checkpointing.* settings. */
typedef struct sp_ckpt_coord_opts {
    int64_t interval_ms;    /* periodic trigger; 0: only on request */
    int64_t timeout_ms;     /* a pending checkpoint fails after this; 0: never */
    int64_t min_pause_ms;   /* between the end of one checkpoint and the next trigger */
    int max_concurrent;     /* pending checkpoints at most (min 1) */
    int tolerable_failures; /* failures in a row tolerated before the job fails */
} sp_ckpt_coord_opts_t;

typedef struct sp_ckpt_coord_hooks {
    void *ctx;
    /* Inject barrier `id` at every source; non-OK fails checkpoint id. */
    int (*trigger)(void *ctx, uint64_t id);
    /* Checkpoint `id` is complete and durable (commit what was pre-committed for it). */
    void (*complete)(void *ctx, uint64_t id);
    /* Checkpoint `id` failed (discard what was prepared for it). May be NULL. */
    void (*abort)(void *ctx, uint64_t id, const char *why);
    /* Too many checkpoints failed in a row: the job must fail with `why`. */
    void (*fail_job)(void *ctx, const char *why);
    /* Optional, for sp_ckpt_coord_trigger_savepoint.  trigger_savepoint injects its barrier
     * (NULL: trigger does).  savepoint(id, m) runs once its _metadata is durable, before it counts
     * as complete and before `complete`: m (borrowed) holds the handles, to copy into the savepoint. */
    int (*trigger_savepoint)(void *ctx, uint64_t id);
    void (*savepoint)(void *ctx, uint64_t id, const sp_ckpt_meta_t *m);
} sp_ckpt_coord_hooks_t;

typedef enum sp_ckpt_status { SP_CKPT_IN_PROGRESS = 0, SP_CKPT_COMPLETED, SP_CKPT_FAILED } sp_ckpt_status_t;

/* Statistics of one operator (all its subtasks) in one checkpoint. */
typedef struct sp_ckpt_op_stats {
    int64_t ack_ms;       /* the last acknowledgement's clock time, 0 = none yet */
    int acks;             /* subtasks that acknowledged */
    uint64_t state_bytes; /* sum of their handles' lengths */
} sp_ckpt_op_stats_t;

/* Statistics of one checkpoint (a plain value; `failure` and `ops` owned by the coordinator). */
typedef struct sp_ckpt_stats {
    uint64_t id;
    sp_ckpt_status_t status;
    int64_t trigger_ms;       /* clock time of the trigger */
    int64_t end_ms;           /* completion or failure (0 while in progress) */
    uint64_t state_bytes;     /* sum of the acknowledged handles' lengths */
    uint64_t persisted_bytes; /* of them, in-flight data (handles of kind IN_FLIGHT: unaligned checkpoints) */
    int64_t alignment_ms;     /* the longest alignment any subtask reported */
    sp_ckpt_op_stats_t *ops;  /* per operator (nops, the template's order) */
    int nops;
    int acks, expected;
    bool savepoint;
    char failure[256];
} sp_ckpt_stats_t;

/* What a subtask reports with its acknowledgement. */
typedef struct sp_ckpt_ack_info {
    int64_t alignment_ms;
    int64_t sync_ms, async_ms;
} sp_ckpt_ack_info_t;

/*
 * A coordinator for the job `tmpl` describes: job id, name and max
 * parallelism, and its operators (uid, name, parallelism, max parallelism;
 * no handles), copied.  Every subtask of every operator in it must
 * acknowledge a checkpoint.  `store` and `clock` (NULL: wall clock) are
 * borrowed and must outlive the coordinator.
 */
sp_ckpt_coord_t *sp_ckpt_coord_create(const sp_ckpt_coord_opts_t *opts, const sp_ckpt_meta_t *tmpl,
                                      sp_ckpt_store_t *store, const struct spate_clock *clock,
                                      const sp_ckpt_coord_hooks_t *hooks);
/* Starts the periodic trigger and timeout thread. */
int sp_ckpt_coord_start(sp_ckpt_coord_t *c, sp_error_t *err);
/* Stops the thread (pending checkpoints are aborted) and frees everything. NULL is fine. */
void sp_ckpt_coord_destroy(sp_ckpt_coord_t *c);

/* Triggers a checkpoint now (still within max_concurrent): *id receives its id. SPATE_ESTATE when
 * too many are pending or the coordinator stopped; a store error otherwise. */
int sp_ckpt_coord_trigger(sp_ckpt_coord_t *c, uint64_t *id, sp_error_t *err);

/* The same, for a savepoint: a checkpoint like any other (it completes in the store, sinks commit on
 * it), whose barrier goes through hooks.trigger_savepoint and whose handles go to hooks.savepoint. */
int sp_ckpt_coord_trigger_savepoint(sp_ckpt_coord_t *c, uint64_t *id, sp_error_t *err);
/* Subtask `subtask` of operator `op` (index in the template) acknowledges checkpoint id with its
 * handles (copied).  Acks for unknown or finished checkpoints are ignored (returns false). */
bool sp_ckpt_coord_ack(sp_ckpt_coord_t *c, uint64_t id, int op, int subtask, const sp_ckpt_handle_t *handles,
                       size_t n, const sp_ckpt_ack_info_t *info);
/* Subtask `subtask` of operator `op` finished (its input ended): `handles` (copied) are its final state,
 * which acknowledges every pending and later checkpoint on its behalf. */
bool sp_ckpt_coord_finish(sp_ckpt_coord_t *c, int op, int subtask, const sp_ckpt_handle_t *handles, size_t n);
/* (sp_ckpt_coord_finish returns true when this made every subtask of the job finished.) */
/* The subtask could not take its snapshot: checkpoint id fails with `why`. */
void sp_ckpt_coord_decline(sp_ckpt_coord_t *c, uint64_t id, int op, int subtask, const char *why);

/* Statistics: the number of checkpoints tracked (the last SP_CKPT_STATS_KEPT), and a copy of the
 * i-th, oldest first (its `ops` is the caller's to free). */
#define SP_CKPT_STATS_KEPT 64
size_t sp_ckpt_coord_stats_count(sp_ckpt_coord_t *c);
bool sp_ckpt_coord_stats_at(sp_ckpt_coord_t *c, size_t i, sp_ckpt_stats_t *out);
/* The latest completed checkpoint's id (0: none). */
uint64_t sp_ckpt_coord_latest(sp_ckpt_coord_t *c);

#endif
