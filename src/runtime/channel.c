/* channel.c — see channel.h. */
#include "runtime/channel.h"

#include <errno.h>
#include <time.h>

void sp_notifier_init(sp_notifier_t *n)
{
    pthread_mutex_init(&n->mu, NULL);
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&n->cv, &a);
    pthread_condattr_destroy(&a);
    n->seq = 0;
}

void sp_notifier_fini(sp_notifier_t *n)
{
    pthread_cond_destroy(&n->cv);
    pthread_mutex_destroy(&n->mu);
}

uint64_t sp_notifier_seq(sp_notifier_t *n)
{
    pthread_mutex_lock(&n->mu);
    uint64_t s = n->seq;
    pthread_mutex_unlock(&n->mu);
    return s;
}

/* Signals go after the unlock: a waiter woken while the lock is still held would wake only to
 * sleep on the lock, and be woken once more by the unlock (two futex wake-ups instead of one; a
 * waiter checks its condition under the lock, so none is lost). */
void sp_notifier_notify(sp_notifier_t *n)
{
    pthread_mutex_lock(&n->mu);
    n->seq++;
    pthread_mutex_unlock(&n->mu);
    pthread_cond_signal(&n->cv);
}

void sp_notifier_wait(sp_notifier_t *n, uint64_t seen, const atomic_bool *stop, int64_t timeout_ms)
{
    struct timespec deadline = { 0, 0 };
    if (timeout_ms >= 0) deadline = sp_clock_deadline(timeout_ms);
    pthread_mutex_lock(&n->mu);
    while (n->seq == seen && !atomic_load(stop)) {
        if (timeout_ms < 0)
            pthread_cond_wait(&n->cv, &n->mu);
        else if (pthread_cond_timedwait(&n->cv, &n->mu, &deadline) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&n->mu);
}

void sp_channel_init(sp_channel_t *ch, uint32_t capacity, sp_notifier_t *consumer, atomic_bool *stop)
{
    pthread_mutex_init(&ch->mu, NULL);
    pthread_cond_init(&ch->not_full, NULL);
    ch->cap = capacity ? capacity : 1;
    ch->size = ch->cap + SP_CHANNEL_PRIORITY_SLOTS;
    ch->ring = sp_xcalloc(ch->size, sizeof *ch->ring);
    ch->head = ch->count = ch->nprio = 0;
    ch->consumer = consumer;
    ch->stop = stop;
}

void sp_channel_fini(sp_channel_t *ch)
{
    sp_elem_t e;
    while (sp_channel_pop(ch, &e))
        if (e.kind == SP_ELEM_BATCH) sp_batch_release(e.batch);
    free(ch->ring);
    pthread_cond_destroy(&ch->not_full);
    pthread_mutex_destroy(&ch->mu);
}

int sp_channel_push(sp_channel_t *ch, sp_elem_t e)
{
    pthread_mutex_lock(&ch->mu);
    while (ch->count >= ch->cap && !atomic_load(ch->stop)) pthread_cond_wait(&ch->not_full, &ch->mu);
    if (atomic_load(ch->stop)) {
        pthread_mutex_unlock(&ch->mu);
        if (e.kind == SP_ELEM_BATCH) sp_batch_release(e.batch);
        return SPATE_ECANCELED;
    }
    ch->ring[(ch->head + ch->count) % ch->size] = e;
    ch->count++;
    pthread_mutex_unlock(&ch->mu);
    sp_notifier_notify(ch->consumer);
    return SPATE_OK;
}

int sp_channel_push_priority(sp_channel_t *ch, sp_elem_t e)
{
    pthread_mutex_lock(&ch->mu);
    while (ch->count >= ch->size && !atomic_load(ch->stop)) pthread_cond_wait(&ch->not_full, &ch->mu);
    if (atomic_load(ch->stop)) {
        pthread_mutex_unlock(&ch->mu);
        if (e.kind == SP_ELEM_BATCH) sp_batch_release(e.batch);
        return SPATE_ECANCELED;
    }
    /* one slot earlier for the head, the priority elements move up by one, e goes in after them */
    ch->head = (ch->head + ch->size - 1) % ch->size;
    for (uint32_t i = 0; i < ch->nprio; i++)
        ch->ring[(ch->head + i) % ch->size] = ch->ring[(ch->head + i + 1) % ch->size];
    e.behind = ch->count - ch->nprio;
    ch->ring[(ch->head + ch->nprio) % ch->size] = e;
    ch->nprio++;
    ch->count++;
    pthread_mutex_unlock(&ch->mu);
    sp_notifier_notify(ch->consumer);
    return SPATE_OK;
}

bool sp_channel_pop(sp_channel_t *ch, sp_elem_t *e)
{
    pthread_mutex_lock(&ch->mu);
    if (ch->count == 0) {
        pthread_mutex_unlock(&ch->mu);
        return false;
    }
    *e = ch->ring[ch->head];
    ch->head = (ch->head + 1) % ch->size;
    ch->count--;
    if (ch->nprio > 0) ch->nprio--;
    /* A producer blocked on a full ring is woken once it is half empty, not at the first free
     * slot: one wake-up per cap/2 batches instead of one per batch (measured: the Nexmark window
     * job switched context once per batch with a fast source). */
    bool wake = ch->count == ch->cap / 2;
    pthread_mutex_unlock(&ch->mu);
    if (wake) pthread_cond_signal(&ch->not_full); /* after the unlock, as in sp_notifier_notify */
    return true;
}

void sp_channel_wake(sp_channel_t *ch)
{
    pthread_mutex_lock(&ch->mu);
    pthread_cond_broadcast(&ch->not_full);
    pthread_mutex_unlock(&ch->mu);
}
