/*
 * heap_map.h — an in-memory hash map from key bytes to value bytes, with the
 * key group of each entry kept alongside: the storage of the heap state
 * backend (heap_backend.c), the timer services' index, and the keyed
 * reduce operator's state.
 *
 * Open addressing with linear probing on a power-of-two table; the hash is
 * stored per slot so growing never rehashes key bytes.  One allocation per
 * entry (key and value bytes together), none per lookup.
 *
 * Not thread-safe: owned by one task.
 */
#ifndef SP_HEAP_MAP_H
#define SP_HEAP_MAP_H

#include <stdbool.h>

#include "common/common.h"

typedef struct sp_hmap_entry {
    uint64_t hash;
    uint8_t *kv; /* key bytes, padding to 8, value bytes (8-aligned: updatable in place); NULL = empty */
    uint32_t klen, vlen;
    int32_t key_group;
} sp_hmap_entry_t;

typedef struct sp_hmap {
    sp_hmap_entry_t *slots;
    size_t mask, count;
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
static inline size_t sp_hmap_value_offset(size_t klen)
{
    return (klen + 7) & ~(size_t)7;
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
/* Removes the entry for key; returns whether there was one.  Entries returned earlier may move. */
bool sp_hmap_remove(sp_hmap_t *m, const uint8_t *key, size_t klen, uint64_t hash);
/* Iteration: for (size_t i = 0; (e = sp_hmap_next(m, &i)); ) */
sp_hmap_entry_t *sp_hmap_next(const sp_hmap_t *m, size_t *pos);

#endif
