/*
 * inflight.h — the in-flight data of an unaligned checkpoint in one input
 * task: the batches it read from each input channel after its snapshot and
 * before that channel's barrier (barrier.h, sp_barrier_records), kept by
 * reference until the checkpoint's in-flight data is whole, then encoded
 * into a state handle of kind SP_CKPT_HANDLE_IN_FLIGHT of the chain's head
 * operator; on restore, decoded and replayed into the head operator before
 * the task reads its channels (at another parallelism: of every old
 * subtask's data, the rows this subtask would have received, by its input's
 * partitioning: sp_task_ckpt_replay_in_flight).
 *
 * Format, version 1 (little-endian):
 *   4   magic "SPIF"
 *   4   version (u32) = 1
 *   4   entry count N (u32)
 *   N entries, in the order the task read them:
 *       4 input channel (u32), 4 operator input (u32: 0 or 1),
 *       8 length L (u64), L bytes: the batch encoding (encoding.h)
 * Untrusted on decode: truncation, bad magic or version, an input out of
 * range, trailing bytes and bad batches are SPATE_EPARSE.
 *
 * Threads: one record belongs to one task thread.
 */
#ifndef SP_RUNTIME_INFLIGHT_H
#define SP_RUNTIME_INFLIGHT_H

#include "types/types.h"

typedef struct sp_inflight_entry {
    int channel, input;
    sp_batch_t *batch; /* a reference */
} sp_inflight_entry_t;

typedef struct sp_inflight {
    int64_t id;
    sp_inflight_entry_t *e;
    size_t n, cap;
    uint64_t rows;
    /* the head operator's snapshot, taken at the barrier and acknowledged with the in-flight data once
     * it is whole (checkpointing.c) */
    uint8_t *state;
    size_t statelen;
    bool held;            /* state holds the snapshot (false: it was declined) */
    int64_t alignment_ms; /* reported with the acknowledgement */
    struct sp_inflight *next;
} sp_inflight_t;

sp_inflight_t *sp_inflight_create(int64_t id);
/* Keeps batch b (a reference is taken) read from `channel` for operator input `input`. */
void sp_inflight_add(sp_inflight_t *f, int channel, int input, sp_batch_t *b);
/* Releases the batches and the held snapshot.  NULL is fine. */
void sp_inflight_free(sp_inflight_t *f);

/* The encoding of f's batches: *data malloc'd (also for no batch: a header). */
int sp_inflight_encode(const sp_inflight_t *f, uint8_t **data, size_t *len, sp_error_t *err);

/* Whether an encoding holds no batch (a header, or less). */
static inline bool sp_inflight_empty(const uint8_t *data, size_t len)
{
    return len < 12 || sp_get_le(data + 8, 4) == 0;
}

/* Decodes untrusted bytes; for each entry, in order, calls fn with a new batch of schemas[input]
 * (a reference fn takes over).  A non-zero return of fn stops and is returned. */
typedef int (*sp_inflight_fn)(void *ctx, int channel, int input, sp_batch_t *b);
int sp_inflight_decode(const uint8_t *data, size_t len, const spate_schema_t *const *schemas, int ninputs,
                       sp_inflight_fn fn, void *ctx, sp_error_t *err);

#endif
