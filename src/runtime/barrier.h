/*
 * barrier.h — checkpoint barrier handling of one task over its N input
 * channels: which channels may be read, when a checkpoint is aligned (its
 * barrier passes down the chain), when one is aborted, and what alignment
 * cost.  A pure state machine: no threads, no clock of its own (callers
 * pass the time), no I/O, so every case can be unit-tested
 * (tests/unit/runtime/test_barrier.c).
 *
 * Two modes, as Flink's `execution.checkpointing.mode`:
 *
 *   EXACTLY_ONCE (Flink's SingleCheckpointBarrierHandler, aligned)
 *     A channel that delivered barrier n is BLOCKED: the caller must not
 *     read it, so the data behind the barrier stays in the channel (and a
 *     full channel back-pressures its producer).  When every channel has
 *     delivered n or ended, n is COMPLETE and every channel is unblocked.
 *     One checkpoint aligns at a time: a barrier newer than the one being
 *     aligned ABORTS it (the newer one wins) and starts its own alignment.
 *
 *   EXACTLY_ONCE, unaligned (sp_barrier_set_unaligned; Flink's unaligned
 *   checkpoints, execution.checkpointing.unaligned.enabled)
 *     The FIRST barrier of n on any channel makes the task snapshot at once
 *     (SNAPSHOT: the barrier passes the chain, its data behind it is read on)
 *     unless it is the last one missing anyway (then COMPLETE, as aligned).
 *     Nothing is blocked.  From then on the batches read from a channel that
 *     has not delivered n yet are in-flight data of n (sp_barrier_records):
 *     the task keeps them with the snapshot.  When every channel delivered
 *     n or ended, n is COMPLETE with `unaligned` set: its in-flight data is
 *     whole.  Several unaligned checkpoints may record at once (a fast
 *     channel delivers n+1 while a slow one still carries data before n).
 *     With an aligned-checkpoint timeout > 0 a checkpoint starts aligned
 *     (channels block as above) and switches to unaligned (SNAPSHOT, blocked
 *     channels read again: what they hold is after the barrier) once its
 *     alignment has lasted the timeout: at a barrier or END arriving that
 *     late, or at sp_barrier_on_time (the caller asks by
 *     sp_barrier_deadline).  Unaligned is ignored in AT_LEAST_ONCE (Flink).
 *
 *   AT_LEAST_ONCE (Flink's CheckpointBarrierTracker)
 *     Nothing is ever blocked.  Barrier n is COMPLETE when the last channel
 *     delivers it (or ends).  Up to SP_BARRIER_MAX_PENDING checkpoints are
 *     tracked at once, so a fast channel delivering n+1 does not abort n.
 *
 * Rules common to both:
 *   - ids are positive and increase on every channel; a barrier whose id is
 *     not newer than the newest checkpoint seen, and that is not pending
 *     (completed, aborted, cancelled), is ignored;
 *   - a channel that ends counts as having delivered every pending and
 *     later barrier (Flink with checkpoints after tasks finish);
 *   - a channel that delivers n+k while n is pending and it never delivered
 *     n aborts n: n can no longer be aligned here;
 *   - when a checkpoint completes, older pending ones are subsumed
 *     (reported as aborted): only the newest goes down;
 *   - cancel(n) (the coordinator gave n up) aborts every pending checkpoint
 *     up to n, and barriers of n that arrive later are ignored.
 *
 * Use: after each event call (on_barrier / on_end / on_cancel) take every
 * action with sp_barrier_next before the next event.  Actions come in the
 * order they happen (aborts of older checkpoints before a completion).
 *
 * Alignment statistics: per checkpoint, the time its first barrier arrived,
 * the time it completed or was aborted, and the batches, rows and bytes the
 * task processed in between (the data of channels not yet aligned: Flink's
 * "processed during alignment"); data held back in blocked channels is not
 * read, so it costs no memory here.  sp_barrier_count feeds the counters.
 *
 * Threads: one handler belongs to one task and is touched only by the task's
 * thread.
 */
#ifndef SP_BARRIER_H
#define SP_BARRIER_H

#include "common/common.h"

#define SP_BARRIER_MAX_PENDING 16 /* AT_LEAST_ONCE: checkpoints tracked at once (Flink: 50) */

typedef enum sp_barrier_mode { SP_BARRIER_EXACTLY_ONCE = 0, SP_BARRIER_AT_LEAST_ONCE } sp_barrier_mode_t;

typedef enum sp_barrier_action_kind {
    SP_BARRIER_COMPLETE = 1, /* aligned: pass the barrier down (process_barrier, then the writers);
                              * unaligned: the in-flight data is whole (the barrier passed at SNAPSHOT) */
    SP_BARRIER_ABORT,   /* this checkpoint will not pass this task (unaligned: drop its in-flight data) */
    SP_BARRIER_SNAPSHOT /* unaligned: pass the barrier down now, start keeping in-flight data */
} sp_barrier_action_kind_t;

typedef struct sp_barrier_stats {
    int64_t checkpoint_id;
    int64_t start_ns;             /* the first barrier of the checkpoint arrived (caller's clock) */
    int64_t end_ns;               /* it completed or was aborted */
    int64_t batches, rows, bytes; /* processed between start and end (sp_barrier_count) */
} sp_barrier_stats_t;

typedef struct sp_barrier_action {
    sp_barrier_action_kind_t kind;
    int64_t checkpoint_id;
    bool unaligned;           /* COMPLETE, ABORT: the checkpoint went unaligned (SNAPSHOT came before) */
    sp_barrier_stats_t stats; /* alignment duration = stats.end_ns - stats.start_ns */
} sp_barrier_action_t;

typedef struct sp_barrier_pending {
    int64_t id;
    int count;      /* channels that delivered it or ended */
    bool unaligned; /* snapshot taken (SNAPSHOT queued): channels not delivered yet carry in-flight data */
    int64_t start_ns, batches0, rows0, bytes0;
} sp_barrier_pending_t;

typedef struct sp_barrier {
    sp_barrier_mode_t mode;
    bool unaligned;             /* EXACTLY_ONCE: unaligned checkpoints allowed (sp_barrier_set_unaligned) */
    int64_t aligned_timeout_ns; /* unaligned: align this long first (0: unaligned at the first barrier) */
    int64_t aligned_only;       /* a checkpoint id that stays aligned however unaligned is set: a savepoint */
    int n;                      /* input channels */
    int nended;                 /* channels ended */
    int nblocked;               /* EXACTLY_ONCE: channels blocked */
    uint8_t *blocked;           /* per channel: must not be read (EXACTLY_ONCE only) */
    uint8_t *ended;             /* per channel */
    int64_t *last;              /* per channel: id of the last barrier it delivered (0: none) */
    int64_t latest;             /* newest checkpoint id seen: started, completed, aborted or cancelled */
    sp_barrier_pending_t pending[SP_BARRIER_MAX_PENDING]; /* oldest first */
    int npending;
    int64_t batches, rows, bytes;                            /* running totals of sp_barrier_count */
    sp_barrier_action_t act[2 * SP_BARRIER_MAX_PENDING + 2]; /* each pending ends once, plus a SNAPSHOT */
    int nact, next_act;
    sp_barrier_stats_t last_complete; /* of the newest snapshot: aligned COMPLETE or SNAPSHOT (id 0: none) */
} sp_barrier_t;

/* Prepares h (caller's storage) for `nchannels` (>= 1) open channels. Free with sp_barrier_fini. */
void sp_barrier_init(sp_barrier_t *h, int nchannels, sp_barrier_mode_t mode);
void sp_barrier_fini(sp_barrier_t *h);

/* Unaligned checkpoints (EXACTLY_ONCE only; ignored in AT_LEAST_ONCE): with aligned_timeout_ns 0 every
 * checkpoint is unaligned from its first barrier, with > 0 it starts aligned and switches after that long. */
void sp_barrier_set_unaligned(sp_barrier_t *h, bool unaligned, int64_t aligned_timeout_ns);

/* Parses the value of `execution.checkpointing.mode` (any case); false if it is neither name. */
bool sp_barrier_parse_mode(const char *s, sp_barrier_mode_t *mode);
const char *sp_barrier_mode_name(sp_barrier_mode_t mode);

/* Events.  Each returns the number of actions it queued (take them with sp_barrier_next before the
 * next event).  `channel` must be open (not ended) and, for a barrier, not blocked: reading a
 * blocked channel is the caller's error.  now_ns: the caller's monotonic clock. */
int sp_barrier_on_barrier(sp_barrier_t *h, int channel, int64_t id, int64_t now_ns);
int sp_barrier_on_end(sp_barrier_t *h, int channel, int64_t now_ns);
/* Barrier `id` overtook data on channel c (a priority barrier, channel.h): c delivers it later, when
 * that data has been read (then sp_barrier_on_barrier).  Unaligned with no timeout, this starts the
 * checkpoint at once (SNAPSHOT) if it is new; otherwise it means nothing.  c keeps recording meanwhile. */
int sp_barrier_on_announce(sp_barrier_t *h, int channel, int64_t id, int64_t now_ns);
/* The checkpoint was given up (coordinator abort, timeout, decline elsewhere). */
int sp_barrier_on_cancel(sp_barrier_t *h, int64_t id, int64_t now_ns);

/* Time passed (unaligned with a timeout): an alignment that lasted the timeout switches to unaligned. */
int sp_barrier_on_time(sp_barrier_t *h, int64_t now_ns);
/* When sp_barrier_on_time has something to do (the aligning checkpoint's switch); INT64_MAX: never. */
int64_t sp_barrier_deadline(const sp_barrier_t *h);

/* Takes the next queued action; false when there is none. */
bool sp_barrier_next(sp_barrier_t *h, sp_barrier_action_t *a);

/* Whether channel c must not be read now. */
static inline bool sp_barrier_blocked(const sp_barrier_t *h, int c)
{
    return h->blocked[c] != 0;
}

/* Whether a batch read now from channel c is in-flight data of pending checkpoint i (0 <= i <
 * sp_barrier_pending_count): i went unaligned and c has neither delivered it nor ended. */
static inline bool sp_barrier_records(const sp_barrier_t *h, int i, int c)
{
    return h->pending[i].unaligned && h->last[c] < h->pending[i].id && !h->ended[c];
}

/* Counts a batch the task processed (alignment statistics). */
static inline void sp_barrier_count(sp_barrier_t *h, uint32_t rows, size_t bytes)
{
    h->batches++;
    h->rows += rows;
    h->bytes += (int64_t)bytes;
}

/* Checkpoints being aligned or recorded, oldest first (h->pending[i].id; at most SP_BARRIER_MAX_PENDING;
 * EXACTLY_ONCE: 0 or 1 aligning, before it any unaligned ones still recording). */
static inline int sp_barrier_pending_count(const sp_barrier_t *h)
{
    return h->npending;
}

#endif
