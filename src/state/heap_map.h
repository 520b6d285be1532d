/*
 * heap_map.h — an in-memory hash map from key bytes to value bytes, with the
 * key group of each entry kept alongside: the storage of the heap state
 * backend (heap_backend.c), the timer services' index, and the keyed
 * reduce operator's state.
 *
 * Open addressing with linear probing on a power-of-two table; the low 32 bits
 * of the hash are stored per slot so growing never rehashes key bytes (tables
 * up to 2^32 slots).  One allocation per entry (lengths, key and value bytes
 * together; a restore carves its entries from one block), none per lookup.
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
#include <string.h>

#include "common/common.h"

/* A slot: 16 bytes, so that a table of 2^24 slots (10 M entries) is 256 MiB; the lengths live with
 * the bytes they measure. */
typedef struct sp_hmap_entry {
    uint8_t *kv;        /* the entry's bytes (sp_hmap_key, sp_hmap_value), NULL = empty: a head of 8 bytes
                         * (key and value lengths, u32 each), key bytes, padding to 8, value bytes
                         * (8-aligned: updatable in place) */
    uint32_t hash;      /* the low 32 bits of the hash given: the home slot, also after the table grows */
    uint16_t key_group; /* 0..32767 (Flink's bound of max parallelism) */
    uint16_t epoch;     /* the map's epoch when kv was allocated */
} sp_hmap_entry_t;

typedef struct sp_hmap_view sp_hmap_view_t;
typedef struct sp_hmap_slab sp_hmap_slab_t;

#define SP_HMAP_SMALL     256    /* entries of up to this many bytes are kept for reuse ... */
#define SP_HMAP_REUSE_MAX 65536u /* ... this many at most */
typedef struct sp_hmap {
    sp_hmap_entry_t *slots;
    size_t mask, count;
    uint16_t epoch;         /* stamped on new entries; a freeze moves it on */
    sp_hmap_view_t *view;   /* the frozen view alive, or NULL */
    sp_hmap_entry_t *spare; /* the last view's slot array, for the next freeze (no page faults) */
    size_t spare_slots;
    sp_hmap_slab_t *slabs;   /* blocks restored entries were carved from, while they hold any */
    sp_hmap_slab_t *carve;   /* the block sp_hmap_put_new carves from now, or NULL */
    sp_prefault_t *prefault; /* while carving: the thread faulting in the table and the block */
    /* entries of up to SP_HMAP_SMALL bytes let go, kept for reuse, by size in steps of 16 (a list
     * through their first bytes): a window's entries are all dropped when it fires and made anew for
     * the next, and malloc's own caches hold a few only */
    uint8_t *reuse[SP_HMAP_SMALL / 16];
    size_t nreuse;
    /* moves on whenever an entry's bytes may have moved or gone (a remove, a put that changes a
     * value's length, a copy-on-write) or become shared with a view (a freeze): pointers into values
     * taken earlier stay good while it stays the same */
    uint64_t moves;
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
 * (10 M entries: a malloc each was a third of the restore.)  Meanwhile, when they are big, a
 * thread of their own faults in the table and the first `likely` bytes of the block
 * (sp_prefault_start) ahead of the inserts. */
void sp_hmap_carve_begin(sp_hmap_t *m, size_t bytes, size_t likely);
void sp_hmap_carve_end(sp_hmap_t *m);
#define SP_HMAP_HEAD 8 /* the key and value lengths ahead of the key bytes */
static inline size_t sp_hmap_value_offset(size_t klen)
{
    return (SP_HMAP_HEAD + klen + 7) & ~(size_t)7;
}
/* What an entry of a key of klen bytes and a value of vlen bytes takes in a carved block. */
static inline size_t sp_hmap_entry_bytes(size_t klen, size_t vlen)
{
    return (sp_hmap_value_offset(klen) + vlen + 7) & ~(size_t)7;
}
/* An entry's lengths, key and value, from its bytes (kv) or from its slot. */
static inline uint32_t sp_hmap_kv_klen(const uint8_t *kv)
{
    uint32_t n;
    memcpy(&n, kv, 4);
    return n;
}
static inline uint32_t sp_hmap_kv_vlen(const uint8_t *kv)
{
    uint32_t n;
    memcpy(&n, kv + 4, 4);
    return n;
}
static inline const uint8_t *sp_hmap_kv_value(const uint8_t *kv)
{
    return kv + sp_hmap_value_offset(sp_hmap_kv_klen(kv));
}
static inline uint32_t sp_hmap_klen(const sp_hmap_entry_t *e)
{
    return sp_hmap_kv_klen(e->kv);
}
static inline uint32_t sp_hmap_vlen(const sp_hmap_entry_t *e)
{
    return sp_hmap_kv_vlen(e->kv);
}
static inline const uint8_t *sp_hmap_key(const sp_hmap_entry_t *e)
{
    return e->kv + SP_HMAP_HEAD;
}
static inline const uint8_t *sp_hmap_value(const sp_hmap_entry_t *e)
{
    return sp_hmap_kv_value(e->kv);
}
/* The entry of this hash whose key eq(ctx, key bytes, klen) accepts, or NULL: for callers that hold
 * a key in pieces and compare them without assembling it.  Borrowed until the next put. */
static inline sp_hmap_entry_t *sp_hmap_find(const sp_hmap_t *m, uint64_t hash,
                                            bool (*eq)(const void *ctx, const uint8_t *key, size_t klen),
                                            const void *ctx)
{
    for (size_t i = (uint32_t)hash & m->mask;; i = (i + 1) & m->mask) {
        sp_hmap_entry_t *e = &m->slots[i];
        if (!e->kv) return NULL;
        if (e->hash == (uint32_t)hash && eq(ctx, sp_hmap_key(e), sp_hmap_klen(e))) return e;
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
    uint16_t epoch;   /* entries of this epoch or before are shared */
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
