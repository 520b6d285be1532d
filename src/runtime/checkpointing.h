/*
 * checkpointing.h — a job's checkpoints, between the runtime (job.c, task.c)
 * and src/checkpoint (coordinator, store, storage) and the operators'
 * snapshot hooks (runtime.h, state/opsnap.h).  Private to src/runtime.
 *
 * Checkpoints are on when execution.checkpointing.interval > 0 and the job
 * runs in STREAMING mode (as Flink, none in BATCH).  They go to
 * state.checkpoints.dir, or, without one, to storage in memory (Flink's
 * JobManagerCheckpointStorage).  Each (operator, subtask) acknowledges
 * checkpoint n when barrier n passes it: its snapshot container, inline in
 * the _metadata when small, else a file in chk-<n>/.  A source's container
 * holds its reader's position (section "source").  A subtask whose input
 * ended hands over its final state, which stands for it in every later
 * checkpoint.  When n completes every task hears of it
 * (notify_checkpoint_complete: sinks commit).
 *
 * Unaligned checkpoints (task.c, inflight.h): the head operator of an
 * input task that snapshotted at the first barrier holds its container
 * until the in-flight data is whole, then acknowledges both (handle kinds
 * OPERATOR and IN_FLIGHT; "op<node>-<subtask>" and
 * "inflight<node>-<subtask>" in chk-<n>/ when too large to go inline).  On
 * restore the in-flight data is replayed into the head operator before
 * the task reads its channels, only at the parallelism it was taken at.
 *
 * Restore: execution.savepoint.path names a checkpoint (a chk-<n>
 * directory or its _metadata), or "latest": the newest complete checkpoint
 * of this job's name in state.checkpoints.dir (none: a fresh start).
 * Operators match by uid; each new instance gets the containers of all old
 * instances of its operator (opsnap.h).  Sources restore at the parallelism
 * they had.  State of an operator the job no longer has fails the start
 * unless execution.savepoint.ignore-unclaimed-state is true.
 */
#ifndef SP_RUNTIME_CHECKPOINTING_H
#define SP_RUNTIME_CHECKPOINTING_H

#include <stdio.h>

#include "checkpoint/storage.h"
#include "runtime/task.h"

/* Before the tasks start: checkpointing on or off, the restore (containers loaded). */
int sp_job_ckpt_setup(sp_job_t *job, const char *name, sp_error_t *err);
/* Checkpoints are taken (so a failed attempt can restart from them). */
bool sp_job_ckpt_on(const sp_job_t *job);
/* Tells the current attempt's operators whether checkpoints are taken (op ctx.checkpointing). */
void sp_job_ckpt_mark_tasks(sp_job_t *job);
/* Before a new attempt's tasks start (the last one's ended, sp_job_ckpt_stop): restore from the latest
 * completed checkpoint (none: afresh) and a new coordinator. */
int sp_job_ckpt_restart(sp_job_t *job, sp_error_t *err);
/* After the tasks started: the periodic trigger. */
int sp_job_ckpt_start(sp_job_t *job, sp_error_t *err);
/* Once every task ended: stops the coordinator (pending checkpoints are aborted). */
void sp_job_ckpt_stop(sp_job_t *job);
void sp_job_ckpt_free(sp_job_t *job);

/*
 * `spate savepoint check`: whether the savepoint or checkpoint at `path`
 * restores into the job of graph g with configuration cfg (its parallelism
 * and max parallelism, execution.savepoint.ignore-unclaimed-state), as
 * the restore decides it: operators matched by uid, what state each holds
 * (state names, entry counts), sources at their parallelism, key groups
 * under the same max parallelism, state without an operator; then every
 * operator opens and restores as at a start (sp_job_dry_restore: state
 * types as declared, formats), reading no record.  Prints a
 * report to out; SPATE_OK when it restores, SPATE_ESTATE (err says why)
 * when not, another code when the savepoint cannot be read.
 */
int sp_savepoint_check(const sp_graph_t *g, const sp_config_t *cfg, const char *path, FILE *out,
                       sp_error_t *err);

/* Task side (the task's thread). */
/* After the chain opened: restores every operator and the source reader, when restoring. */
int sp_task_ckpt_restore(sp_task_t *t);
/* Barrier `id` passed op (after its process_barrier): its snapshot, acknowledged. */
int sp_task_ckpt_snapshot(sp_task_t *t, sp_opinst_t *op, int64_t id);
/* Unaligned checkpoints (inflight.h).  The barrier passed the head operator op: its snapshot, held in f
 * (nothing when checkpoints are off; a failure declines the checkpoint). */
int sp_task_ckpt_hold(sp_task_t *t, sp_opinst_t *op, int64_t id, struct sp_inflight *f);
/* f's in-flight data is whole: the held snapshot and the in-flight data, acknowledged together. */
void sp_task_ckpt_ack_in_flight(sp_task_t *t, struct sp_inflight *f);
/* After sp_task_ckpt_restore: the in-flight data restored for the head operator, replayed into it (in the
 * order it was read) before the task reads its channels.  At another parallelism: an error. */
int sp_task_ckpt_replay_in_flight(sp_task_t *t);
/* The chain finished its input: every operator's final state, handed to the coordinator. */
void sp_task_ckpt_finished(sp_task_t *t);

/* For tests: every job set up after this call uses wrap(ctx, storage) as its checkpoint storage (e.g. the
 * faulty wrapper of checkpoint/storage.h); the job destroys the wrapper, then the storage it wraps.  NULL:
 * no wrapper.  Not thread-safe: call it before starting jobs. */
void sp_job_ckpt_wrap_storage(sp_ckpt_storage_t *(*wrap)(void *ctx, sp_ckpt_storage_t *inner), void *ctx);

#endif
