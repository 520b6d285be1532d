/* heap_map.c — see heap_map.h. */
#include "state/heap_map.h"

#include <stdatomic.h>
#include <string.h>

/* A block restored entries are carved from.  `live` counts the map's entries in it (the map's
 * thread only); `refs` is 1 while live > 0 plus one per view that pins it (any thread). */
struct sp_hmap_slab {
    uint8_t *base, *end, *cursor;
    size_t live;
    _Atomic int refs;
    struct sp_hmap_slab *next;
};

static void slab_unref(sp_hmap_slab_t *s)
{
    if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1) {
        free(s->base);
        free(s);
    }
}

static sp_hmap_slab_t *slab_of(const sp_hmap_t *m, const uint8_t *kv)
{
    for (sp_hmap_slab_t *s = m->slabs; s; s = s->next)
        if (kv >= s->base && kv < s->end) return s;
    return NULL;
}

/* The map's last entry of s is gone: s leaves the map (views may still pin it). */
static void slab_empty(sp_hmap_t *m, sp_hmap_slab_t *s)
{
    sp_hmap_slab_t **p = &m->slabs;
    while (*p != s) p = &(*p)->next;
    *p = s->next;
    slab_unref(s);
}

/* The bytes an entry's memory holds: n rounded up to the 16-byte step of the reuse lists when small. */
static size_t kv_capacity(size_t n)
{
    return n <= SP_HMAP_SMALL ? (n + 15) & ~(size_t)15 : n;
}

/* Memory for an entry of n bytes (sp_hmap_entry_bytes): one let go earlier, else malloc'd. */
static uint8_t *kv_new(sp_hmap_t *m, size_t n)
{
    size_t cap = kv_capacity(n ? n : 1);
    if (cap <= SP_HMAP_SMALL) {
        uint8_t **head = &m->reuse[cap / 16 - 1], *kv = *head;
        if (kv) {
            memcpy(head, kv, sizeof kv);
            m->nreuse--;
            return kv;
        }
    }
    return sp_xmalloc(cap);
}

/* Bytes of the entry at kv, from its lengths. */
static size_t kv_size(const uint8_t *kv)
{
    return sp_hmap_entry_bytes(sp_hmap_kv_klen(kv), sp_hmap_kv_vlen(kv));
}

/* The map lets go of kv: kept for reuse or freed, or counted off its block. */
static void kv_release(sp_hmap_t *m, uint8_t *kv)
{
    sp_hmap_slab_t *s = m->slabs ? slab_of(m, kv) : NULL;
    if (s) {
        if (--s->live == 0 && s != m->carve) slab_empty(m, s);
        return;
    }
    size_t cap = kv_capacity(kv_size(kv));
    if (cap <= SP_HMAP_SMALL && m->nreuse < SP_HMAP_REUSE_MAX) {
        uint8_t **head = &m->reuse[cap / 16 - 1];
        memcpy(kv, head, sizeof *head);
        *head = kv;
        m->nreuse++;
    } else {
        free(kv);
    }
}

static void reuse_free(sp_hmap_t *m)
{
    for (size_t c = 0; c < SP_HMAP_SMALL / 16; c++)
        while (m->reuse[c]) {
            uint8_t *kv = m->reuse[c];
            memcpy(&m->reuse[c], kv, sizeof kv);
            free(kv);
        }
    m->nreuse = 0;
}

void sp_hmap_carve_begin(sp_hmap_t *m, size_t bytes, size_t likely)
{
    sp_hmap_carve_end(m);
    uint8_t *base = bytes ? malloc(bytes) : NULL;
    void *at[2] = { m->slots, base };
    size_t len[2] = { (m->mask + 1) * sizeof *m->slots, SP_MIN(likely, bytes) };
    m->prefault = sp_prefault_start(at, len, 2);
    if (!base) return; /* no block: one allocation per entry, as ever */
    sp_hmap_slab_t *s = sp_xcalloc(1, sizeof *s);
    s->base = s->cursor = base;
    s->end = base + bytes;
    atomic_init(&s->refs, 1);
    s->next = m->slabs;
    m->slabs = m->carve = s;
}

void sp_hmap_carve_end(sp_hmap_t *m)
{
    sp_hmap_slab_t *s = m->carve;
    sp_prefault_join(m->prefault);
    m->prefault = NULL;
    m->carve = NULL;
    if (s && s->live == 0) slab_empty(m, s);
}

static void set_lengths(uint8_t *kv, size_t klen, size_t vlen)
{
    uint32_t k = (uint32_t)klen, v = (uint32_t)vlen;
    memcpy(kv, &k, 4);
    memcpy(kv + 4, &v, 4);
}

/* Memory for a new entry, its lengths and key set: carved when a block has room, else malloc'd. */
static uint8_t *kv_alloc(sp_hmap_t *m, const uint8_t *key, size_t klen, size_t vlen)
{
    sp_hmap_slab_t *s = m->carve;
    size_t n = sp_hmap_entry_bytes(klen, vlen);
    uint8_t *kv;
    if (s && (size_t)(s->end - s->cursor) >= n) {
        kv = s->cursor;
        s->cursor += n;
        s->live++;
    } else {
        kv = kv_new(m, n);
    }
    set_lengths(kv, klen, vlen);
    if (klen) memcpy(kv + SP_HMAP_HEAD, key, klen);
    return kv;
}

void sp_hmap_init(sp_hmap_t *m)
{
    m->mask = 63;
    m->count = 0;
    m->epoch = 0;
    m->view = NULL;
    m->spare = NULL;
    m->spare_slots = 0;
    m->slabs = m->carve = NULL;
    m->prefault = NULL;
    memset(m->reuse, 0, sizeof m->reuse);
    m->nreuse = 0;
    m->slots = sp_xcalloc(m->mask + 1, sizeof *m->slots);
}

/* ---- frozen views ---- */

static void free_all(uint8_t **kv, size_t n)
{
    for (size_t i = 0; i < n; i++) free(kv[i]);
    free(kv);
}

static void view_free(sp_hmap_view_t *v)
{
    free_all(v->retired, v->nretired);
    for (size_t i = 0; i < v->npinned; i++) slab_unref(v->pinned[i]);
    free(v->pinned);
    pthread_mutex_destroy(&v->mu);
    free((void *)v->slots);
    free(v);
}

/* Drops one reference; the last one frees the view and the bytes retired into it.  acq_rel: the
 * owner's retirements happen before the reader's free, and the reader's reads before the owner's. */
static void view_unref(sp_hmap_view_t *v)
{
    if (atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) == 1) view_free(v);
}

uint8_t **sp_hmap_view_take_retired(sp_hmap_view_t *v, size_t *n)
{
    pthread_mutex_lock(&v->mu);
    uint8_t **kv = v->retired;
    *n = v->nretired;
    v->retired = NULL;
    v->nretired = v->cap = 0;
    pthread_mutex_unlock(&v->mu);
    return kv;
}

void sp_hmap_view_release(sp_hmap_view_t *v)
{
    if (!v) return;
    size_t n;
    uint8_t **kv = sp_hmap_view_take_retired(v, &n); /* freed here, not on the task thread */
    free_all(kv, n);
    view_unref(v);
}

/* Lets go of the map's view once its reader is done with it: then nothing is shared any more.  Its
 * slot array is kept for the next freeze. */
static bool view_done(sp_hmap_t *m)
{
    sp_hmap_view_t *v = m->view;
    if (v && atomic_load_explicit(&v->refs, memory_order_acquire) == 1) {
        free(m->spare);
        m->spare = (sp_hmap_entry_t *)v->slots;
        m->spare_slots = v->nslots;
        v->slots = NULL;
        view_free(v); /* the last reference */
        m->view = NULL;
    }
    return m->view == NULL;
}

static bool shared(const sp_hmap_t *m, const sp_hmap_entry_t *e)
{
    return m->view && e->epoch <= m->view->epoch;
}

static void retire(sp_hmap_view_t *v, uint8_t *kv)
{
    pthread_mutex_lock(&v->mu);
    if (v->nretired == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 1024;
        v->retired = sp_xrealloc(v->retired, v->cap * sizeof *v->retired);
    }
    v->retired[v->nretired++] = kv;
    pthread_mutex_unlock(&v->mu);
}

/* The map is done with kv, which the view may still read: kept for it (a carved entry's block is
 * pinned by the view already). */
static void retire_kv(sp_hmap_t *m, uint8_t *kv)
{
    if (m->slabs && slab_of(m, kv))
        kv_release(m, kv);
    else
        retire(m->view, kv);
}

/* Frees an entry's bytes, or keeps them for the view that still reads them. */
static void drop_kv(sp_hmap_t *m, sp_hmap_entry_t *e)
{
    if (shared(m, e) && !view_done(m))
        retire_kv(m, e->kv);
    else
        kv_release(m, e->kv);
}

sp_hmap_view_t *sp_hmap_freeze(sp_hmap_t *m)
{
    if (!view_done(m)) return NULL;
    if (m->epoch == UINT16_MAX) { /* after 2^16 freezes: restamp (nothing is shared now) */
        for (size_t i = 0; i <= m->mask; i++) m->slots[i].epoch = 0;
        m->epoch = 0;
    }
    sp_hmap_view_t *v = sp_xcalloc(1, sizeof *v);
    size_t bytes = (m->mask + 1) * sizeof *m->slots;
    sp_hmap_entry_t *slots = m->spare;
    if (m->spare_slots != m->mask + 1) { /* the table grew since: a new array */
        free(m->spare);
        slots = sp_xmalloc(bytes);
    }
    m->spare = NULL;
    m->spare_slots = 0;
    memcpy(slots, m->slots, bytes);
    pthread_mutex_init(&v->mu, NULL);
    for (sp_hmap_slab_t *b = m->slabs; b; b = b->next) {
        v->pinned = sp_xrealloc(v->pinned, sizeof *v->pinned * (v->npinned + 1));
        v->pinned[v->npinned++] = b;
        atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    }
    v->slots = slots;
    v->nslots = m->mask + 1;
    v->count = m->count;
    v->epoch = m->epoch++;
    m->moves++;
    atomic_init(&v->refs, 2);
    m->view = v;
    return v;
}

sp_hmap_entry_t *sp_hmap_unshare(sp_hmap_t *m, sp_hmap_entry_t *e)
{
    if (!shared(m, e) || view_done(m)) return e;
    m->moves++;
    size_t n = sp_hmap_value_offset(sp_hmap_klen(e)) + sp_hmap_vlen(e);
    uint8_t *kv = kv_new(m, sp_hmap_entry_bytes(sp_hmap_klen(e), sp_hmap_vlen(e)));
    memcpy(kv, e->kv, n);
    retire_kv(m, e->kv);
    e->kv = kv;
    e->epoch = m->epoch;
    return e;
}

void sp_hmap_fini(sp_hmap_t *m)
{
    m->moves++;
    for (size_t i = 0; m->slots && i <= m->mask; i++)
        if (m->slots[i].kv) drop_kv(m, &m->slots[i]);
    sp_hmap_carve_end(m);
    if (m->view) view_unref(m->view); /* the reader, if still reading, frees the view */
    m->view = NULL;
    free(m->spare);
    m->spare = NULL;
    m->spare_slots = 0;
    free(m->slots);
    m->slots = NULL;
    m->count = 0;
    reuse_free(m);
}

static size_t find_slot(const sp_hmap_t *m, const uint8_t *key, size_t klen, uint64_t hash)
{
    size_t i = (uint32_t)hash & m->mask;
    for (;;) {
        const sp_hmap_entry_t *e = &m->slots[i];
        if (!e->kv ||
            (e->hash == (uint32_t)hash && sp_hmap_klen(e) == klen && memcmp(sp_hmap_key(e), key, klen) == 0))
            return i;
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
    sp_prefault_join(m->prefault); /* it may be faulting in the old table */
    m->prefault = NULL;
    m->mask = slots - 1;
    m->slots = sp_xcalloc(slots, sizeof *m->slots);
    if (huge) sp_advise_huge_pages(m->slots, slots * sizeof *m->slots);
    for (size_t i = 0; i < n; i++) {
        if (!old[i].kv) continue;
        size_t j = old[i].hash & m->mask;
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

/* Fills empty slot e with a new entry. */
static sp_hmap_entry_t *fill(sp_hmap_t *m, sp_hmap_entry_t *e, const uint8_t *key, size_t klen, uint64_t hash,
                             int key_group, const uint8_t *val, size_t vlen)
{
    e->kv = kv_alloc(m, key, klen, vlen);
    if (vlen) memcpy(e->kv + sp_hmap_value_offset(klen), val, vlen);
    e->hash = (uint32_t)hash;
    e->key_group = (uint16_t)key_group;
    e->epoch = m->epoch;
    m->count++;
    return e;
}

sp_hmap_entry_t *sp_hmap_put(sp_hmap_t *m, const uint8_t *key, size_t klen, uint64_t hash, int key_group,
                             const uint8_t *val, size_t vlen)
{
    if ((m->count + 1) * 4 > (m->mask + 1) * 3) grow(m);
    sp_hmap_entry_t *e = &m->slots[find_slot(m, key, klen, hash)];
    if (!e->kv) return fill(m, e, key, klen, hash, key_group, val, vlen);
    size_t voff = sp_hmap_value_offset(klen), was = sp_hmap_vlen(e);
    m->moves += was != vlen;
    if (was != vlen && shared(m, e) && !view_done(m)) { /* the view keeps the old bytes */
        uint8_t *kv = kv_new(m, sp_hmap_entry_bytes(klen, vlen));
        memcpy(kv, e->kv, SP_HMAP_HEAD + klen);
        retire_kv(m, e->kv);
        e->kv = kv;
        e->epoch = m->epoch;
    } else if (was != vlen) {
        bool carved = m->slabs && slab_of(m, e->kv);
        size_t had = kv_capacity(sp_hmap_entry_bytes(klen, was)),
               need = kv_capacity(sp_hmap_entry_bytes(klen, vlen));
        if (!carved && had > SP_HMAP_SMALL && need > SP_HMAP_SMALL) { /* large both times: malloc's */
            e->kv = sp_xrealloc(e->kv, need);
        } else if (carved || need > had) { /* a block cannot grow in place; a small one holds `had` */
            uint8_t *kv = kv_new(m, need);
            memcpy(kv, e->kv, SP_HMAP_HEAD + klen);
            kv_release(m, e->kv);
            e->kv = kv;
        } /* else it fits in what it has */
    } else {
        sp_hmap_writable(m, e);
    }
    if (vlen) memcpy(e->kv + voff, val, vlen);
    set_lengths(e->kv, klen, vlen);
    return e;
}

sp_hmap_entry_t *sp_hmap_put_new(sp_hmap_t *m, const uint8_t *key, size_t klen, uint64_t hash, int key_group,
                                 const uint8_t *val, size_t vlen)
{
    if ((m->count + 1) * 4 > (m->mask + 1) * 3) grow(m);
    sp_hmap_entry_t *e = &m->slots[find_slot(m, key, klen, hash)];
    return e->kv ? NULL : fill(m, e, key, klen, hash, key_group, val, vlen);
}

bool sp_hmap_remove(sp_hmap_t *m, const uint8_t *key, size_t klen, uint64_t hash)
{
    size_t i = find_slot(m, key, klen, hash);
    if (!m->slots[i].kv) return false;
    m->moves++;
    drop_kv(m, &m->slots[i]);
    m->slots[i].kv = NULL;
    m->count--;
    /* Backward-shift deletion: move later entries of the probe run into the hole, so lookups
     * never stop early at it (no tombstones). */
    size_t hole = i, j = i;
    for (;;) {
        j = (j + 1) & m->mask;
        sp_hmap_entry_t *e = &m->slots[j];
        if (!e->kv) break;
        size_t home = e->hash & m->mask;
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
