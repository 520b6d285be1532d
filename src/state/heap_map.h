/*
 * heap_map.h — an in-memory hash map from key bytes to value bytes, with the
 * key group of each entry kept alongside: the storage of the heap state
 * backend (heap_backend.c), the timer services' index, and the keyed
 * reduce operator's state.
 *
 * Open addressing with linear probing on a power-of-two table; the hash is
 * stored per slot so growing never rehashes key bytes.  One allocation per
 * entry (key and value bytes together; a restore carves its entries from one
 * block), none per lookup.
 *
 * Not thread-safe: owned by one task.  One exception, for checkpoints: a
 * frozen view (sp_hmap_freeze) of the entries at one moment may be read on
 * another thread while the owner goes on changing the map.  While a view is
 * alive the map copies an entry before changing it (copy-on-write) and keeps
 * the bytes it replaces or removes for the view; the last of the two to let
 * go frees them.  Entries carry the map's epoch at their allocation, so an
 * entry is shared with the view exactly when its epoch is not after the
 * view's.
 */
#ifndef SP_HEAP_MAP_H
#define SP_HEAP_MAP_H

#include <pthread.h>
#include <stdbool.h>

#include "common/common.h"

typedef struct sp_hmap_entry {
    uint64_t hash;
    uint8_t *kv; /* key bytes, padding to 8, value bytes (8-aligned: updatable in place); NULL = empty */
    uint32_t klen, vlen;
    int32_t key_group;
    uint32_t epoch; /* the map's epoch when kv was allocated (in what was padding) */
} sp_hmap_entry_t;

typedef struct sp_hmap_view sp_hmap_view_t;
typedef struct sp_hmap_slab sp_hmap_slab_t;

typedef struct sp_hmap {
    sp_hmap_entry_t *slots;
    size_t mask, count;
    uint32_t epoch;         /* stamped on new entries; a freeze moves it on */
    sp_hmap_view_t *view;   /* the frozen view alive, or NULL */
    sp_hmap_entry_t *spare; /* the last view's slot array, for the next freeze (no page faults) */
    size_t spare_slots;
    sp_hmap_slab_t *slabs; /* blocks restored entries were carved from, while they hold any */
    sp_hmap_slab_t *carve; /* the block sp_hmap_put_new carves from now, or NULL */
} sp_hmap_t;

void sp_hmap_init(sp_hmap_t *m);
void sp_hmap_fini(sp_hmap_t *m);
/* The entry for key, or NULL. Borrowed until the next put. */
sp_hmap_entry_t *sp_hmap_get(const sp_hmap_t *m, const uint8_t *key, size_t klen, uint64_t hash);
/* Inserts or replaces the value of key. Returns the entry (borrowed until the next put). */
sp_hmap_entry_t *sp_hmap_put(sp_hmap_t *m, const uint8_t *key, size_t klen, uint64_t hash, int key_group,
                             const uint8_t *val, size_t vlen);
/* Inserts key with its value unless present: the new entry (borrowed until the next put), or NULL
 * when the key is there already (then nothing changes): restores, which must not overwrite, and
 * the timer index, which deduplicates. */
sp_hmap_entry_t *sp_hmap_put_new(sp_hmap_t *m, const uint8_t *key, size_t klen, uint64_t hash, int key_group,
                                 const uint8_t *val, size_t vlen);
/* Grows the table now so that n entries in all fit without growing (a restore knows its count). */
void sp_hmap_reserve(sp_hmap_t *m, size_t n);
/* Restores: between sp_hmap_carve_begin(m, bytes) and sp_hmap_carve_end(m), sp_hmap_put_new takes
 * its entries from one block of `bytes` (sp_hmap_entry_bytes each; beyond it, malloc as usual)
 * instead of one allocation per entry, and the block is freed when the last of its entries is gone.
 * (10 M entries: a malloc each was a third of the restore.) */
void sp_hmap_carve_begin(sp_hmap_t *m, size_t bytes);
void sp_hmap_carve_end(sp_hmap_t *m);
static inline size_t sp_hmap_value_offset(size_t klen)
{
    return (klen + 7) & ~(size_t)7;
}
/* What an entry of a key of klen bytes and a value of vlen bytes takes in a carved block. */
static inline size_t sp_hmap_entry_bytes(size_t klen, size_t vlen)
{
    return (sp_hmap_value_offset(klen) + vlen + 7) & ~(size_t)7;
}
static inline const uint8_t *sp_hmap_value(const sp_hmap_entry_t *e)
{
    return e->kv + sp_hmap_value_offset(e->klen);
}
/* The entry of this hash whose key eq(ctx, key bytes, klen) accepts, or NULL: for callers that hold
 * a key in pieces and compare them without assembling it.  Borrowed until the next put. */
static inline sp_hmap_entry_t *sp_hmap_find(const sp_hmap_t *m, uint64_t hash,
                                            bool (*eq)(const void *ctx, const uint8_t *key, size_t klen),
                                            const void *ctx)
{
    for (size_t i = (size_t)hash & m->mask;; i = (i + 1) & m->mask) {
        sp_hmap_entry_t *e = &m->slots[i];
        if (!e->kv) return NULL;
        if (e->hash == hash && eq(ctx, e->kv, e->klen)) return e;
    }
}
/* The entry e of m (from a get, find or next), made safe to change in place: when a frozen view
 * shares its bytes, they are copied first (e->kv changes).  Callers that write into a value call it
 * before writing. */
sp_hmap_entry_t *sp_hmap_unshare(sp_hmap_t *m, sp_hmap_entry_t *e);
static inline sp_hmap_entry_t *sp_hmap_writable(sp_hmap_t *m, sp_hmap_entry_t *e)
{
    return __builtin_expect(m->view != NULL, 0) && e ? sp_hmap_unshare(m, e) : e;
}
/* Removes the entry for key; returns whether there was one.  Entries returned earlier may move. */
bool sp_hmap_remove(sp_hmap_t *m, const uint8_t *key, size_t klen, uint64_t hash);
/* Iteration: for (size_t i = 0; (e = sp_hmap_next(m, &i)); ) */
sp_hmap_entry_t *sp_hmap_next(const sp_hmap_t *m, size_t *pos);

/* ---- frozen views (the synchronous part of a checkpoint, made short) ----
 *
 * sp_hmap_freeze: a view of the entries as they are now, at the cost of a copy of the slot array
 * (no entry is copied); NULL when the previous view is still being read (one view at a time: the
 * caller then copies the entries itself).  The view's slots and the entries they point to stay
 * unchanged until sp_hmap_view_release, whatever the owner does to the map meanwhile; the view
 * may be read and released on any thread (one at a time), and may outlive the map. */
struct sp_hmap_view {
    const sp_hmap_entry_t *slots; /* nslots slots, empty ones with kv NULL */
    size_t nslots, count;
    /* private: */
    _Atomic int refs; /* the map's and the reader's */
    uint32_t epoch;   /* entries of this epoch or before are shared */
    /* bytes the map replaced or removed meanwhile: the reader frees them when it releases the view
     * (off the task thread); the lock orders the map's additions with that */
    pthread_mutex_t mu;
    uint8_t **retired;
    size_t nretired, cap;
    sp_hmap_slab_t **pinned; /* carved blocks kept alive for the view (their entries are not retired) */
    size_t npinned;
};
sp_hmap_view_t *sp_hmap_freeze(sp_hmap_t *m);
void sp_hmap_view_release(sp_hmap_view_t *v);
/* The reader's: the bytes the map replaced or removed so far (n of them, malloc'd, the caller
 * frees each and the array): to free them later than the release, e.g. after an upload. */
uint8_t **sp_hmap_view_take_retired(sp_hmap_view_t *v, size_t *n);

#endif
