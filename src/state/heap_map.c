/* heap_map.c — see heap_map.h. */
#include "state/heap_map.h"

#include <string.h>

void sp_hmap_init(sp_hmap_t *m)
{
    m->mask = 63;
    m->count = 0;
    m->slots = sp_xcalloc(m->mask + 1, sizeof *m->slots);
}

void sp_hmap_fini(sp_hmap_t *m)
{
    for (size_t i = 0; m->slots && i <= m->mask; i++) free(m->slots[i].kv);
    free(m->slots);
    m->slots = NULL;
    m->count = 0;
}

static size_t find_slot(const sp_hmap_t *m, const uint8_t *key, size_t klen, uint64_t hash)
{
    size_t i = (size_t)hash & m->mask;
    for (;;) {
        const sp_hmap_entry_t *e = &m->slots[i];
        if (!e->kv || (e->hash == hash && e->klen == klen && memcmp(e->kv, key, klen) == 0)) return i;
        i = (i + 1) & m->mask;
    }
}

sp_hmap_entry_t *sp_hmap_get(const sp_hmap_t *m, const uint8_t *key, size_t klen, uint64_t hash)
{
    sp_hmap_entry_t *e = &m->slots[find_slot(m, key, klen, hash)];
    return e->kv ? e : NULL;
}

/* Moves the entries into a table of `slots` (a power of two, more than count); `huge`: ask for
 * huge pages. */
static void resize(sp_hmap_t *m, size_t slots, bool huge)
{
    sp_hmap_entry_t *old = m->slots;
    size_t n = m->mask + 1;
    m->mask = slots - 1;
    m->slots = sp_xcalloc(slots, sizeof *m->slots);
    if (huge) sp_advise_huge_pages(m->slots, slots * sizeof *m->slots);
    for (size_t i = 0; i < n; i++) {
        if (!old[i].kv) continue;
        size_t j = (size_t)old[i].hash & m->mask;
        while (m->slots[j].kv) j = (j + 1) & m->mask;
        m->slots[j] = old[i];
    }
    free(old);
}

static void grow(sp_hmap_t *m)
{
    resize(m, 2 * (m->mask + 1), false);
}

void sp_hmap_reserve(sp_hmap_t *m, size_t n)
{
    size_t slots = m->mask + 1;
    while (n * 4 > slots * 3) slots *= 2;
    /* a restore fills the table at random: huge pages save a page fault and a TLB miss per insert
     * (10 M entries: the restore took 4.4 s of CPU with 4 KiB pages, see bench/state_snapshot.c) */
    if (slots != m->mask + 1) resize(m, slots, true);
}

sp_hmap_entry_t *sp_hmap_put(sp_hmap_t *m, const uint8_t *key, size_t klen, uint64_t hash, int key_group,
                             const uint8_t *val, size_t vlen)
{
    if ((m->count + 1) * 4 > (m->mask + 1) * 3) grow(m);
    sp_hmap_entry_t *e = &m->slots[find_slot(m, key, klen, hash)];
    size_t voff = sp_hmap_value_offset(klen);
    if (!e->kv) {
        e->kv = sp_xmalloc(voff + vlen);
        memcpy(e->kv, key, klen);
        e->klen = (uint32_t)klen;
        e->hash = hash;
        e->key_group = key_group;
        m->count++;
    } else if (e->vlen != vlen) {
        e->kv = sp_xrealloc(e->kv, voff + vlen);
    }
    if (vlen) memcpy(e->kv + voff, val, vlen);
    e->vlen = (uint32_t)vlen;
    return e;
}

sp_hmap_entry_t *sp_hmap_put_new(sp_hmap_t *m, const uint8_t *key, size_t klen, uint64_t hash, int key_group,
                                 const uint8_t *val, size_t vlen)
{
    if ((m->count + 1) * 4 > (m->mask + 1) * 3) grow(m);
    sp_hmap_entry_t *e = &m->slots[find_slot(m, key, klen, hash)];
    if (e->kv) return NULL;
    size_t voff = sp_hmap_value_offset(klen);
    e->kv = sp_xmalloc(voff + vlen ? voff + vlen : 1);
    if (klen) memcpy(e->kv, key, klen);
    if (vlen) memcpy(e->kv + voff, val, vlen);
    e->klen = (uint32_t)klen;
    e->vlen = (uint32_t)vlen;
    e->hash = hash;
    e->key_group = key_group;
    m->count++;
    return e;
}

bool sp_hmap_remove(sp_hmap_t *m, const uint8_t *key, size_t klen, uint64_t hash)
{
    size_t i = find_slot(m, key, klen, hash);
    if (!m->slots[i].kv) return false;
    free(m->slots[i].kv);
    m->slots[i].kv = NULL;
    m->count--;
    /* Backward-shift deletion: move later entries of the probe run into the hole, so lookups
     * never stop early at it (no tombstones). */
    size_t hole = i, j = i;
    for (;;) {
        j = (j + 1) & m->mask;
        sp_hmap_entry_t *e = &m->slots[j];
        if (!e->kv) break;
        size_t home = (size_t)e->hash & m->mask;
        /* e may move to the hole when its home is not within (hole, j] cyclically */
        bool between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!between) {
            m->slots[hole] = *e;
            e->kv = NULL;
            hole = j;
        }
    }
    return true;
}

sp_hmap_entry_t *sp_hmap_next(const sp_hmap_t *m, size_t *pos)
{
    while (*pos <= m->mask) {
        sp_hmap_entry_t *e = &m->slots[(*pos)++];
        if (e->kv) return e;
    }
    return NULL;
}
