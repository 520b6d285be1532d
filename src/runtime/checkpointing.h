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

/* Task side (the task's thread). */
/* After the chain opened: restores every operator and the source reader, when restoring. */
int sp_task_ckpt_restore(sp_task_t *t);
/* Barrier `id` passed op (after its process_barrier): its snapshot, acknowledged. */
int sp_task_ckpt_snapshot(sp_task_t *t, sp_opinst_t *op, int64_t id);
/* The chain finished its input: every operator's final state, handed to the coordinator. */
void sp_task_ckpt_finished(sp_task_t *t);

/* For tests: every job set up after this call uses wrap(ctx, storage) as its checkpoint storage (e.g. the
 * faulty wrapper of checkpoint/storage.h); the job destroys the wrapper, then the storage it wraps.  NULL:
 * no wrapper.  Not thread-safe: call it before starting jobs. */
void sp_job_ckpt_wrap_storage(sp_ckpt_storage_t *(*wrap)(void *ctx, sp_ckpt_storage_t *inner), void *ctx);

#endif
