/*
 * channel.h — bounded in-memory channels between tasks, and the notifier a
 * task sleeps on.
 *
 * A channel is a single-producer single-consumer ring of elements (a batch
 * or a control event), guarded by a mutex: one lock per batch, never per
 * record.  push() blocks while the ring is full — that is back-pressure —
 * until the consumer pops or the job is cancelled.  The consumer never
 * blocks in the channel: it polls all its input channels and sleeps on its
 * task's notifier, which every push to any of its channels bumps.
 *
 * A barrier of an unaligned checkpoint may be pushed with priority
 * (sp_channel_push_priority): it goes ahead of the elements queued, behind
 * the priority elements already there, and carries how many it overtook
 * (`behind`), so that the consumer knows where it stood in the stream: it
 * hears of the barrier at once and takes it as delivered after that many
 * more elements (task.c).  A few slots beyond the capacity are kept for
 * them, so a full ring does not hold a priority barrier back.
 *
 * Threads: push from the producer task's thread, pop from the consumer's;
 * sp_channel_wake from any thread (cancellation).
 */
#ifndef SP_CHANNEL_H
#define SP_CHANNEL_H

#include "runtime/runtime.h"

/* In-band elements: data and the control events that must stay in order with it. */
typedef enum sp_elem_kind {
    SP_ELEM_BATCH = 0,
    SP_ELEM_WATERMARK,
    SP_ELEM_STATUS, /* watermark status: value 1 = idle, 0 = active */
    SP_ELEM_BARRIER,
    SP_ELEM_END
} sp_elem_kind_t;

typedef struct sp_elem {
    sp_elem_kind_t kind;
    sp_batch_t *batch; /* SP_ELEM_BATCH: a reference owned by the element */
    int64_t value;     /* SP_ELEM_WATERMARK: the watermark; SP_ELEM_BARRIER: the checkpoint id */
    uint32_t behind;   /* a priority barrier: the elements it overtook (0: in-band) */
} sp_elem_t;

#define SP_CHANNEL_PRIORITY_SLOTS 8 /* ring slots beyond the capacity, for priority barriers */

typedef struct sp_notifier {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t seq;
} sp_notifier_t;

void sp_notifier_init(sp_notifier_t *n);
void sp_notifier_fini(sp_notifier_t *n);
uint64_t sp_notifier_seq(sp_notifier_t *n);
void sp_notifier_notify(sp_notifier_t *n);
/* Sleeps until seq differs from `seen`, *stop is set, or timeout_ms passes (< 0 = no timeout). */
void sp_notifier_wait(sp_notifier_t *n, uint64_t seen, const atomic_bool *stop, int64_t timeout_ms);

typedef struct sp_channel {
    pthread_mutex_t mu;
    pthread_cond_t not_full;
    sp_elem_t *ring;
    uint32_t cap, head, count;
    uint32_t size;           /* ring slots: cap + SP_CHANNEL_PRIORITY_SLOTS */
    uint32_t nprio;          /* priority elements at the head */
    sp_notifier_t *consumer; /* the consuming task's notifier */
    atomic_bool *stop;       /* the job's cancel flag */
} sp_channel_t;

void sp_channel_init(sp_channel_t *ch, uint32_t capacity, sp_notifier_t *consumer, atomic_bool *stop);
/* Releases any batches still queued. */
void sp_channel_fini(sp_channel_t *ch);
/* Blocks while full. On cancellation returns SPATE_ECANCELED and releases the element's batch. */
int sp_channel_push(sp_channel_t *ch, sp_elem_t e);
/* Pushes barrier e ahead of the queued elements (behind earlier priority ones), setting e.behind to the
 * number it overtook.  Blocks only when even the priority slots are taken. */
int sp_channel_push_priority(sp_channel_t *ch, sp_elem_t e);
/* Non-blocking: true and *e filled when an element was there. */
bool sp_channel_pop(sp_channel_t *ch, sp_elem_t *e);
/* Wakes a producer blocked in push (after the stop flag was set). */
void sp_channel_wake(sp_channel_t *ch);

#endif
