/*
 * timers.h — the timer service of a keyed operator instance: timers per
 * (timestamp, key), deduplicated (registering one twice keeps one), ordered
 * by timestamp (ties in registration order), deletable, with the key group
 * kept per timer (for snapshots by key-group range later).  One service per
 * time domain.  Touched only by the task's thread.
 */
#ifndef SP_TIMERS_H
#define SP_TIMERS_H

#include <stdbool.h>

#include "state/heap_map.h"

typedef struct sp_timer {
    int64_t ts;
    uint64_t seq; /* registration order, for ties */
    int key_group;
    uint8_t *key; /* owned */
    uint32_t klen;
} sp_timer_t;

typedef struct sp_timer_service {
    sp_timer_t *heap; /* binary min-heap on (ts, seq) */
    size_t n, cap;
    sp_hmap_t index; /* (ts, key) -> present: dedup and deletion */
    uint64_t seq;
    uint8_t *buf;
    size_t bufcap;
} sp_timer_service_t;

void sp_timers_init(sp_timer_service_t *s);
void sp_timers_fini(sp_timer_service_t *s);
/* Adds a timer unless one with the same (ts, key) exists. */
void sp_timers_register(sp_timer_service_t *s, int64_t ts, int key_group, const uint8_t *key, size_t klen);
/* Deletes the timer (ts, key) if there is one. */
void sp_timers_delete(sp_timer_service_t *s, int64_t ts, const uint8_t *key, size_t klen);
/* Earliest live timer's timestamp, or INT64_MAX. */
int64_t sp_timers_next(sp_timer_service_t *s);
/* Removes the earliest live timer with ts <= limit into *out (caller frees out->key); false if none. */
bool sp_timers_pop(sp_timer_service_t *s, int64_t limit, sp_timer_t *out);
size_t sp_timers_count(const sp_timer_service_t *s);

#endif
