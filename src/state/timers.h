/*
 * timers.h — the timer service of a keyed operator instance: timers per
 * (timestamp, key), deduplicated (registering one twice keeps one), ordered
 * by timestamp (ties in registration order), deletable, with the key group
 * kept per timer (for snapshots by key-group range later).  One service per
 * time domain.  Touched only by the task's thread.
 *
 * Timers are kept in buckets, one per distinct timestamp, each a byte log of
 * its timers in registration order, and a heap orders the buckets: windows
 * register thousands of timers at the same time (a window's end), which then
 * cost an append each and no heap work.  Deletion is lazy: the index forgets
 * the timer, and the pop that meets it skips it (a timer deleted and
 * registered again fires once, in its first place among its timestamp's).
 */
#ifndef SP_TIMERS_H
#define SP_TIMERS_H

#include <stdbool.h>

#include "state/heap_map.h"

typedef struct sp_timer {
    int64_t ts;
    int key_group;
    const uint8_t *key; /* borrowed: valid until the next pop */
    uint32_t klen;
} sp_timer_t;

/* The timers of one timestamp, in registration order: entries [u32 klen | unique << 31][i32 key
 * group][key] (unique: registered without an index entry). */
typedef struct sp_timer_bucket {
    int64_t ts;
    uint8_t *buf;
    size_t len, cap, next; /* next: offset of the first entry not yet popped */
} sp_timer_bucket_t;

typedef struct sp_timer_service {
    sp_timer_bucket_t **heap; /* binary min-heap of buckets on ts (one per distinct timestamp) */
    size_t n, cap;
    sp_hmap_t buckets;       /* ts -> bucket */
    sp_hmap_t index;         /* (ts, key) -> present: dedup and deletion */
    size_t nunique;          /* timers registered unique (not in the index) */
    sp_timer_bucket_t *last; /* the bucket registered into last (most timers share a timestamp) */
    uint8_t *buf;            /* index key scratch */
    size_t bufcap;
    uint8_t *popped; /* the key of the last timer popped */
    size_t poppedcap;
} sp_timer_service_t;

void sp_timers_init(sp_timer_service_t *s);
void sp_timers_fini(sp_timer_service_t *s);
/* Adds a timer unless one with the same (ts, key) exists. */
void sp_timers_register(sp_timer_service_t *s, int64_t ts, int key_group, const uint8_t *key, size_t klen);
/* Adds a timer the caller knows is not registered and will never delete (a window's single
 * timer when its state is created): no deduplication, no index entry. */
void sp_timers_register_unique(sp_timer_service_t *s, int64_t ts, int key_group, const uint8_t *key,
                               size_t klen);
/* Deletes the timer (ts, key) if there is one. */
void sp_timers_delete(sp_timer_service_t *s, int64_t ts, const uint8_t *key, size_t klen);
/* Earliest timer's timestamp, or INT64_MAX (may be a deleted timer's: a pop then finds nothing). */
int64_t sp_timers_next(sp_timer_service_t *s);
/* Removes the earliest live timer with ts <= limit into *out (out->key is borrowed until the next
 * pop); false if none. */
bool sp_timers_pop(sp_timer_service_t *s, int64_t limit, sp_timer_t *out);
size_t sp_timers_count(const sp_timer_service_t *s);

/*
 * Snapshot and restore by key-group range, in the format of snapshot.h
 * (kind timers), with the split of backend.h: sp_timers_snapshot is the
 * synchronous part (the live timers copied, encoded and grouped by key group,
 * into a new sp_snapshot_t, *out transferred; the service is untouched and
 * independent of it), sp_snapshot_write & co. the asynchronous part.
 * Deleted timers are left out; unique timers keep their flag; each timer
 * carries its rank in the firing order, so a restore registers them in the
 * order they would have fired (ties in their timestamp included).  A timer
 * outside [kg_first, kg_last] is SPATE_EINVAL.
 *
 * sp_timers_restore registers the timers of key groups [kg_first, kg_last]
 * of an encoding (borrowed), in their firing order; several snapshots may be
 * restored one after another (then the earlier restore's timers come first
 * among equal timestamps).  Untrusted input: SPATE_EPARSE with a message on
 * anything malformed, and then the service is as before.  A non-unique timer
 * that is registered already stays one timer (as sp_timers_register does).
 */
typedef struct sp_snapshot sp_snapshot_t;
int sp_timers_snapshot(sp_timer_service_t *s, int kg_first, int kg_last, sp_snapshot_t **out,
                       sp_error_t *err);
int sp_timers_restore(sp_timer_service_t *s, const uint8_t *data, size_t len, int kg_first, int kg_last,
                      sp_error_t *err);

#endif
