/*
 * heap_backend.c — the in-memory state backend: one hash map whose keys are
 * the composite [state id: 2 bytes][namespace length: 4][namespace][key],
 * hashed from the key's own hash (the one its key group comes from), the
 * state id and the namespace, so a caller that has the key's hash need not
 * hash the key again (sp_state_locate).  See backend.h.
 */
#include "state/backend.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "state/heap_map.h"
#include "state/snapshot.h"

struct sp_state_backend {
    sp_hmap_t map;
    uint8_t memo_ns[16]; /* the last namespace of up to 16 bytes hashed, and its hash: operators */
    size_t memo_len;     /* look up many entries of one namespace (a window) in a row */
    uint64_t memo_hash;
    char **names;
    int nnames;
    uint8_t *buf; /* composite key scratch */
    size_t cap;
};

sp_state_backend_t *sp_heap_backend_create(void)
{
    sp_state_backend_t *be = sp_xcalloc_aligned(sizeof *be);
    sp_hmap_init(&be->map);
    be->cap = 256;
    be->buf = sp_xmalloc(be->cap);
    return be;
}

void sp_state_backend_destroy(sp_state_backend_t *be)
{
    if (!be) return;
    sp_hmap_fini(&be->map);
    for (int i = 0; i < be->nnames; i++) free(be->names[i]);
    free(be->names);
    free(be->buf);
    free(be);
}

int sp_state_id(sp_state_backend_t *be, const char *name)
{
    for (int i = 0; i < be->nnames; i++)
        if (strcmp(be->names[i], name) == 0) return i;
    be->names = sp_xrealloc(be->names, sizeof *be->names * (size_t)(be->nnames + 1));
    be->names[be->nnames] = sp_xstrdup(name);
    return be->nnames++;
}

/* An entry's hash: the key's hash mixed with the state id and the namespace's hash. */
/* Equal bytes, for the short keys and namespaces compared on every lookup: word by word, inline
 * (a memcmp call costs more than the comparison of 16 bytes). */
static inline bool same_bytes(const uint8_t *a, const uint8_t *b, size_t n)
{
    for (; n >= 8; a += 8, b += 8, n -= 8) {
        uint64_t x, y;
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        if (x != y) return false;
    }
    for (; n; n--)
        if (*a++ != *b++) return false;
    return true;
}

static uint64_t ns_hash(sp_state_backend_t *be, const uint8_t *ns, size_t nslen)
{
    if (nslen > sizeof be->memo_ns) return sp_hash_bytes(ns, nslen);
    if (nslen != be->memo_len || !same_bytes(ns, be->memo_ns, nslen)) {
        memcpy(be->memo_ns, ns, nslen);
        be->memo_len = nslen;
        be->memo_hash = sp_hash_bytes(ns, nslen);
    }
    return be->memo_hash;
}

/* The entry's hash from its key's and its namespace's (0: no namespace). */
static uint64_t entry_hash_of(int state, uint64_t key_hash, uint64_t nsh)
{
    uint64_t h = key_hash ^ ((uint64_t)(state + 1) * 0x9E3779B97F4A7C15ull);
    h ^= nsh * 0xC2B2AE3D27D4EB4Full;
    h ^= h >> 29; /* finalise (splitmix64's): every input bit reaches the low bits the table uses */
    h *= 0xBF58476D1CE4E5B9ull;
    return h ^ (h >> 32);
}

static uint64_t entry_hash(sp_state_backend_t *be, int state, uint64_t key_hash, const uint8_t *ns,
                           size_t nslen)
{
    return entry_hash_of(state, key_hash, nslen ? ns_hash(be, ns, nslen) : 0);
}

static uint64_t hash_of(sp_state_backend_t *be, int state, const uint8_t *key, size_t klen, const uint8_t *ns,
                        size_t nslen)
{
    return entry_hash(be, state, sp_hash_bytes(key, klen), ns, nslen);
}

static size_t composite(sp_state_backend_t *be, int state, const uint8_t *key, size_t klen, const uint8_t *ns,
                        size_t nslen)
{
    size_t n = 6 + nslen + klen;
    if (n > be->cap) {
        while (be->cap < n) be->cap *= 2;
        be->buf = sp_xrealloc(be->buf, be->cap);
    }
    be->buf[0] = (uint8_t)(state >> 8);
    be->buf[1] = (uint8_t)state;
    uint32_t l = (uint32_t)nslen;
    memcpy(be->buf + 2, &l, 4);
    if (nslen) memcpy(be->buf + 6, ns, nslen);
    if (klen) memcpy(be->buf + 6 + nslen, key, klen);
    return n;
}

/* An entry address in pieces, compared with a composite key as stored. */
typedef struct parts {
    int state;
    const uint8_t *key, *ns;
    size_t klen, nslen;
} parts_t;

static bool parts_eq(const void *ctx, const uint8_t *k, size_t klen)
{
    const parts_t *p = ctx;
    uint32_t nslen;
    memcpy(&nslen, k + 2, 4);
    return klen == 6 + p->nslen + p->klen && k[0] == (uint8_t)(p->state >> 8) && k[1] == (uint8_t)p->state &&
           nslen == p->nslen && same_bytes(k + 6, p->ns, p->nslen) &&
           same_bytes(k + 6 + p->nslen, p->key, p->klen);
}

/* The entry at (state, key, ns) whose hash is `where`, or NULL. */
static sp_hmap_entry_t *find_at(sp_state_backend_t *be, int state, const uint8_t *key, size_t klen,
                                const uint8_t *ns, size_t nslen, uint64_t where)
{
    parts_t p = { state, key, ns, klen, nslen };
    return sp_hmap_find(&be->map, where, parts_eq, &p);
}

const uint8_t *sp_state_get(sp_state_backend_t *be, int state, int key_group, const uint8_t *key, size_t klen,
                            const uint8_t *ns, size_t nslen, size_t *len)
{
    SP_UNUSED(key_group);
    const sp_hmap_entry_t *e =
        find_at(be, state, key, klen, ns, nslen, hash_of(be, state, key, klen, ns, nslen));
    *len = e ? sp_hmap_vlen(e) : 0;
    return e ? sp_hmap_value(e) : NULL;
}

uint8_t *sp_state_get_mut(sp_state_backend_t *be, int state, int key_group, const uint8_t *key, size_t klen,
                          const uint8_t *ns, size_t nslen, size_t *len)
{
    return sp_state_get_mut_at(be, state, key_group, key, klen, ns, nslen,
                               hash_of(be, state, key, klen, ns, nslen), len);
}

uint64_t sp_state_locate(sp_state_backend_t *be, int state, uint64_t key_hash, const uint8_t *ns,
                         size_t nslen)
{
    return sp_state_locate_in(be, state, key_hash, nslen ? ns_hash(be, ns, nslen) : 0);
}

uint64_t sp_state_locate_in(sp_state_backend_t *be, int state, uint64_t key_hash, uint64_t nsh)
{
    uint64_t h = entry_hash_of(state, key_hash, nsh);
    __builtin_prefetch(&be->map.slots[(uint32_t)h & be->map.mask]);
    return h;
}

void sp_state_prefetch_value(const sp_state_backend_t *be, uint64_t where)
{
    /* the entry of that hash among the first slots of its probe: linear probing moves many entries
     * a slot or two past their home, and the home slot's entry is then another's */
    const sp_hmap_t *m = &be->map;
    for (size_t i = (uint32_t)where & m->mask, n = 0; n < 4; i = (i + 1) & m->mask, n++) {
        const sp_hmap_entry_t *e = &m->slots[i];
        if (!e->kv) return;
        if (e->hash == (uint32_t)where) {
            __builtin_prefetch(e->kv);
            return;
        }
    }
}

uint8_t *sp_state_get_mut_at(sp_state_backend_t *be, int state, int key_group, const uint8_t *key,
                             size_t klen, const uint8_t *ns, size_t nslen, uint64_t where, size_t *len)
{
    SP_UNUSED(key_group);
    /* the caller writes into the value: a copy first when a frozen view shares it */
    sp_hmap_entry_t *e = sp_hmap_writable(&be->map, find_at(be, state, key, klen, ns, nslen, where));
    *len = e ? sp_hmap_vlen(e) : 0;
    return e ? (uint8_t *)sp_hmap_value(e) : NULL;
}

uint8_t *sp_state_put(sp_state_backend_t *be, int state, int key_group, const uint8_t *key, size_t klen,
                      const uint8_t *ns, size_t nslen, const void *value, size_t len)
{
    return sp_state_put_at(be, state, key_group, key, klen, ns, nslen,
                           hash_of(be, state, key, klen, ns, nslen), value, len);
}

uint8_t *sp_state_put_at(sp_state_backend_t *be, int state, int key_group, const uint8_t *key, size_t klen,
                         const uint8_t *ns, size_t nslen, uint64_t where, const void *value, size_t len)
{
    size_t n = composite(be, state, key, klen, ns, nslen);
    return (uint8_t *)sp_hmap_value(sp_hmap_put(&be->map, be->buf, n, where, key_group, value, len));
}

void sp_state_remove(sp_state_backend_t *be, int state, int key_group, const uint8_t *key, size_t klen,
                     const uint8_t *ns, size_t nslen)
{
    sp_state_remove_at(be, state, key_group, key, klen, ns, nslen, hash_of(be, state, key, klen, ns, nslen));
}

void sp_state_remove_at(sp_state_backend_t *be, int state, int key_group, const uint8_t *key, size_t klen,
                        const uint8_t *ns, size_t nslen, uint64_t where)
{
    SP_UNUSED(key_group);
    size_t n = composite(be, state, key, klen, ns, nslen);
    sp_hmap_remove(&be->map, be->buf, n, where);
}

void sp_state_scan(sp_state_backend_t *be, size_t *cursor, size_t n,
                   bool (*drop)(void *ctx, int state, const uint8_t *value, size_t len), void *ctx)
{
    sp_hmap_t *m = &be->map;
    size_t slots = m->mask + 1, pos = *cursor & m->mask;
    for (size_t visited = 0, steps = 0; visited < n && steps < slots && m->count; steps++) {
        sp_hmap_entry_t *e = &m->slots[pos];
        if (e->kv) {
            visited++;
            const uint8_t *k = sp_hmap_key(e);
            if (drop(ctx, (k[0] << 8) | k[1], sp_hmap_value(e), sp_hmap_vlen(e))) {
                sp_hmap_remove(m, k, sp_hmap_klen(e), e->hash);
                continue; /* the slot may now hold an entry moved back: look at it again */
            }
        }
        pos = (pos + 1) & m->mask;
    }
    *cursor = pos;
}

void sp_state_keys(sp_state_backend_t *be, int state, const uint8_t *ns, size_t nslen,
                   void (*fn)(void *ctx, int key_group, const uint8_t *key, size_t klen), void *ctx)
{
    size_t pre = composite(be, state, NULL, 0, ns, nslen); /* [state id][nslen][ns]: the prefix to match */
    sp_hmap_entry_t *e;
    for (size_t i = 0; (e = sp_hmap_next(&be->map, &i));)
        if (sp_hmap_klen(e) >= pre && memcmp(sp_hmap_key(e), be->buf, pre) == 0)
            fn(ctx, e->key_group, sp_hmap_key(e) + pre, sp_hmap_klen(e) - pre);
}

uint64_t sp_state_moves(const sp_state_backend_t *be)
{
    return be->map.moves;
}

size_t sp_state_count(const sp_state_backend_t *be)
{
    return be->map.count;
}

/* ---- snapshot and restore (format: snapshot.h) ---- */

/* Entries ahead whose bytes the encoding loop starts loading. */
#define PREFETCH_AHEAD 16
/* Entries are encoded in the order of their address, not of their slot: the slots are a random
 * permutation of the heap, and in a VM a TLB miss per entry made the slot order cost 1.5 s for
 * 10 M entries.  A counting sort by address bucket (one pass to count, one to place) is enough:
 * within a bucket of ORDER_SPAN bytes the accesses stay within a few pages. */
#define ORDER_SPAN_BITS 16
#define ORDER_BUCKETS   65536
#define ORDER_MIN       4096 /* fewer entries: slot order */

/* What encoding an entry needs from its slot. */
typedef struct ref {
    const uint8_t *kv;
    int32_t key_group;
} ref_t;

/* The array of refs is scratch of the encoding thread, kept between encodings (freed when the
 * thread ends): the uploader encodes one checkpoint after another, and a fresh array of hundreds
 * of MB would be paged in again each time (on this VM, about as long as the encoding itself). */
typedef struct refs_scratch {
    ref_t *p;
    size_t cap;
    size_t want; /* refs the last encoding took */
} refs_scratch_t;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *p)
{
    refs_scratch_t *c = p;
    free(c->p);
    free(c);
}

static void scratch_key_init(void)
{
    (void)pthread_key_create(&scratch_key, scratch_free);
}

static refs_scratch_t *my_scratch(void)
{
    pthread_once(&scratch_once, scratch_key_init);
    refs_scratch_t *c = pthread_getspecific(scratch_key);
    if (!c) {
        c = sp_xcalloc(1, sizeof *c);
        pthread_setspecific(scratch_key, c);
    }
    return c;
}

/* Replaces c's array by one of cap refs (only what is touched is backed by memory). */
static void scratch_resize(refs_scratch_t *c, size_t cap)
{
    free(c->p);
    c->cap = cap;
    c->p = sp_xmalloc(cap * sizeof *c->p);
}

static ref_t *refs_scratch(size_t n)
{
    refs_scratch_t *c = my_scratch();
    if (c->cap < n) scratch_resize(c, sp_with_headroom(n));
    c->want = n;
    return c->p;
}

void sp_state_encoder_warm(const atomic_bool *stop)
{
    refs_scratch_t *c = my_scratch();
    size_t want = sp_with_headroom(c->want);
    if (c->cap < want) scratch_resize(c, want); /* the last took over two thirds: a larger one, now */
    if (c->p) (void)sp_populate(c->p, c->cap * sizeof *c->p, stop);
    sp_snapshot_spare_warm(stop);
}

/* The occupied slots as refs in address order (n of them, their addresses within [lo, hi]), in the
 * thread's scratch; NULL when there are too few to bother. */
static ref_t *refs_by_address(const sp_hmap_entry_t *slots, size_t nslots, size_t n, uintptr_t lo,
                              uintptr_t hi)
{
    if (n < ORDER_MIN) return NULL;
    unsigned shift = ORDER_SPAN_BITS;
    while (((hi - lo) >> shift) >= ORDER_BUCKETS) shift++;
    size_t *at = sp_xcalloc(ORDER_BUCKETS + 1, sizeof *at);
    for (size_t i = 0; i < nslots; i++)
        if (slots[i].kv) at[(((uintptr_t)slots[i].kv - lo) >> shift) + 1]++;
    for (size_t b = 1; b <= ORDER_BUCKETS; b++) at[b] += at[b - 1];
    ref_t *r = refs_scratch(n);
    for (size_t i = 0; i < nslots; i++) {
        const sp_hmap_entry_t *e = &slots[i];
        if (e->kv) r[at[((uintptr_t)e->kv - lo) >> shift]++] = (ref_t){ e->kv, e->key_group };
    }
    free(at);
    return r;
}

/* A bound of what entry r takes encoded (key and namespace lengths are both at most the
 * composite's length less its 6-byte head); svar: the size of the largest state id's varint. */
static size_t encoded_bound(const ref_t *r, size_t svar)
{
    uint32_t kn = sp_hmap_kv_klen(r->kv) - 6, vlen = sp_hmap_kv_vlen(r->kv);
    return svar + 2 * sp_snapshot_varint_size(kn) + sp_snapshot_varint_size(vlen) + kn + vlen;
}

/* memcpy of a few bytes, inline: keys, namespaces and values are mostly 8 or 16 bytes, and a call
 * to memcpy for each was 9 % of the encoding's CPU at 10 M keys. */
static inline void copy_few(uint8_t *d, const uint8_t *src, size_t n)
{
    if (n >= 8 && n <= 16) { /* two 8-byte moves, overlapping when n < 16 */
        uint64_t a, b;
        memcpy(&a, src, 8);
        memcpy(&b, src + n - 8, 8);
        memcpy(d, &a, 8);
        memcpy(d + n - 8, &b, 8);
    } else if (n > 16) {
        memcpy(d, src, n);
    } else {
        for (size_t i = 0; i < n; i++) d[i] = src[i];
    }
}

/* Writes entry r into its key group's region of s. */
static void encode_entry(sp_snapshot_t *s, const ref_t *r)
{
    const uint8_t *key = r->kv + SP_HMAP_HEAD;
    uint32_t nslen, vlen = sp_hmap_kv_vlen(r->kv);
    memcpy(&nslen, key + 2, 4);
    uint32_t klen = sp_hmap_kv_klen(r->kv) - 6 - nslen;
    uint8_t *start = sp_snapshot_cursor(s, r->key_group), *p = start;
    p += sp_snapshot_put_varint(p, (uint32_t)(key[0] << 8 | key[1]));
    p += sp_snapshot_put_varint(p, klen);
    p += sp_snapshot_put_varint(p, nslen);
    p += sp_snapshot_put_varint(p, vlen);
    copy_few(p, key + 6 + nslen, klen);
    copy_few(p + klen, key + 6, nslen);
    copy_few(p + klen + nslen, sp_hmap_kv_value(r->kv), vlen);
    p += klen + nslen + vlen;
    sp_snapshot_block_t *b = &s->blocks[r->key_group - s->first];
    b->len += (size_t)(p - start);
    b->count++;
}

/* Encodes the entries of `slots` (a map's slot array, or a frozen view's) into a new snapshot of
 * key groups [kg_first, kg_last] with the state names given. */
static int encode_slots(const sp_hmap_entry_t *slots, size_t nslots, size_t count, char *const *names,
                        int nnames, int kg_first, int kg_last, sp_snapshot_t **out, sp_error_t *err)
{
    sp_snapshot_t *s;
    int rc = sp_snapshot_create(SP_SNAPSHOT_KEYED, kg_first, kg_last, (const char *const *)names,
                                (uint32_t)nnames, &s, err);
    if (rc) return rc;
    size_t nkg = (size_t)(kg_last - kg_first + 1);
    size_t *bytes = sp_xcalloc(nkg, sizeof *bytes);
    size_t svar = sp_snapshot_varint_size(nnames ? (uint32_t)nnames - 1 : 0);
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    /* Pass 1, over the slots only: the key groups are in range, and the entries' address range. */
    for (size_t i = 0; i < nslots; i++) {
        const sp_hmap_entry_t *e = &slots[i];
        if (!e->kv) continue;
        lo = SP_MIN(lo, (uintptr_t)e->kv);
        hi = SP_MAX(hi, (uintptr_t)e->kv);
        if (e->key_group < kg_first || e->key_group > kg_last) {
            rc = sp_error_set(err, SPATE_EINVAL,
                              "keyed state snapshot of key groups [%d, %d]: an entry of key group %d",
                              kg_first, kg_last, e->key_group);
            break;
        }
    }
    /* Pass 2, over the entries in address order when it pays: a bound of each key group's bytes.
     * Pass 3, the same way: each entry encoded into its key group's region. */
    ref_t *r = rc == SPATE_OK ? refs_by_address(slots, nslots, count, lo, hi) : NULL;
    if (r) {
        for (size_t i = 0; i < count; i++) {
            if (i + PREFETCH_AHEAD < count) __builtin_prefetch(r[i + PREFETCH_AHEAD].kv);
            bytes[r[i].key_group - kg_first] += encoded_bound(&r[i], svar);
        }
    } else {
        for (size_t i = 0; rc == SPATE_OK && i < nslots; i++)
            if (slots[i].kv)
                bytes[slots[i].key_group - kg_first] +=
                    encoded_bound(&(ref_t){ slots[i].kv, slots[i].key_group }, svar);
    }
    if (rc == SPATE_OK) rc = sp_snapshot_reserve(s, bytes, err);
    free(bytes);
    if (rc) {
        sp_snapshot_destroy(s);
        return rc;
    }
    if (r) {
        for (size_t i = 0; i < count; i++) {
            if (i + PREFETCH_AHEAD < count) __builtin_prefetch(r[i + PREFETCH_AHEAD].kv);
            encode_entry(s, &r[i]);
        }
    } else {
        for (size_t i = 0; i < nslots; i++)
            if (slots[i].kv) encode_entry(s, &(ref_t){ slots[i].kv, slots[i].key_group });
    }
    s->entries = count;
    *out = s;
    return SPATE_OK;
}

int sp_state_snapshot(sp_state_backend_t *be, int kg_first, int kg_last, sp_snapshot_t **out, sp_error_t *err)
{
    const sp_hmap_t *m = &be->map;
    return encode_slots(m->slots, m->mask + 1, m->count, be->names, be->nnames, kg_first, kg_last, out, err);
}

/* The state of a backend at a barrier, to be encoded later: a frozen view of its map, or (when the
 * previous view is still being read) a snapshot copied at once. */
struct sp_state_frozen {
    sp_hmap_view_t *view;
    sp_snapshot_t *done;
    uint8_t **garbage; /* the view's retired entries, freed by release (after the upload) */
    size_t ngarbage;
    char **names;
    int nnames, first, last;
};

int sp_state_freeze(sp_state_backend_t *be, int kg_first, int kg_last, sp_state_frozen_t **out,
                    sp_error_t *err)
{
    sp_state_frozen_t *f = sp_xcalloc(1, sizeof *f);
    f->first = kg_first;
    f->last = kg_last;
    f->view = sp_hmap_freeze(&be->map);
    if (!f->view) {
        int rc = sp_state_snapshot(be, kg_first, kg_last, &f->done, err);
        if (rc) {
            free(f);
            *out = NULL;
            return rc;
        }
    }
    f->names = sp_xcalloc((size_t)be->nnames + 1, sizeof *f->names);
    for (int i = 0; i < be->nnames; i++) f->names[i] = sp_xstrdup(be->names[i]);
    f->nnames = be->nnames;
    *out = f;
    return SPATE_OK;
}

int sp_state_frozen_snapshot(sp_state_frozen_t *f, sp_snapshot_t **out, sp_error_t *err)
{
    if (f->done) {
        *out = f->done;
        f->done = NULL;
        return SPATE_OK;
    }
    if (!f->view) return sp_error_set(err, SPATE_EINVAL, "keyed state snapshot: taken already");
    const sp_hmap_view_t *v = f->view;
    int rc = encode_slots(v->slots, v->nslots, v->count, f->names, f->nnames, f->first, f->last, out, err);
    /* the map may write in place again; freeing what it replaced meanwhile can wait until the
     * snapshot is written (release) */
    f->garbage = sp_hmap_view_take_retired(f->view, &f->ngarbage);
    sp_hmap_view_release(f->view);
    f->view = NULL;
    return rc;
}

void sp_state_frozen_release(sp_state_frozen_t *f)
{
    if (!f) return;
    sp_hmap_view_release(f->view);
    sp_snapshot_destroy(f->done);
    for (size_t i = 0; i < f->ngarbage; i++) free(f->garbage[i]);
    free(f->garbage);
    for (int i = 0; i < f->nnames; i++) free(f->names[i]);
    free(f->names);
    free(f);
}

/* Entries a restore decodes and hashes ahead of inserting them, their slots prefetched: inserts
 * land on random slots of a large table, and waiting for each slot in turn dominated the restore
 * (measured with bench/state_snapshot.c). */
#define RESTORE_AHEAD 16

typedef struct pending {
    sp_snapshot_entry_t e;
    uint64_t hash;
    size_t at; /* byte offset of the entry, for messages */
    int kg, id;
} pending_t;

static int insert_pending(sp_state_backend_t *be, const pending_t *p, sp_error_t *err)
{
    size_t n = composite(be, p->id, p->e.key, p->e.klen, p->e.ns, p->e.nslen);
    if (sp_hmap_put_new(&be->map, be->buf, n, p->hash, p->kg, p->e.value, p->e.vlen)) return SPATE_OK;
    return sp_error_set(
        err, SPATE_EPARSE,
        "malformed keyed state snapshot: key group %d, entry at byte %zu: state '%s', this key "
        "and namespace are there already",
        p->kg, p->at, be->names[p->id]);
}

/* Inserts (or, undoing, removes) the first `limit` entries of key groups [a, b] of r, in order;
 * *done counts the entries handled.  Stops at the first malformed entry or duplicate.  The table
 * must not grow meanwhile (sp_hmap_reserve first): slots are prefetched by position. */
static int restore_walk(sp_state_backend_t *be, const sp_snapshot_reader_t *r, const int *ids, int a, int b,
                        uint64_t limit, bool undo, uint64_t *done, sp_error_t *err)
{
    pending_t ring[RESTORE_AHEAD];
    size_t head = 0, queued = 0; /* ring[head] is the oldest of `queued` */
    int rc = SPATE_OK;
    uint64_t parsed = *done;
    for (int kg = a; kg <= b && parsed < limit && rc == SPATE_OK; kg++) {
        const uint8_t *at;
        size_t len, pos = 0;
        uint64_t count;
        if ((rc = sp_snapshot_reader_block(r, kg, &at, &len, &count, err))) break;
        for (uint64_t c = 0; c < count && parsed < limit; c++) {
            pending_t *p = &ring[(head + queued) % RESTORE_AHEAD];
            p->at = (size_t)(at - r->data) + pos;
            if ((rc = sp_snapshot_reader_entry(r, kg, at, len, &pos, &p->e, err))) break;
            p->kg = kg;
            p->id = ids[p->e.state];
            p->hash = hash_of(be, p->id, p->e.key, p->e.klen, p->e.ns, p->e.nslen);
            parsed++;
            if (undo) {
                size_t n = composite(be, p->id, p->e.key, p->e.klen, p->e.ns, p->e.nslen);
                sp_hmap_remove(&be->map, be->buf, n, p->hash);
                (*done)++;
                continue;
            }
            __builtin_prefetch(&be->map.slots[p->hash & be->map.mask]);
            if (++queued == RESTORE_AHEAD) {
                if ((rc = insert_pending(be, &ring[head], err))) break;
                (*done)++;
                head = (head + 1) % RESTORE_AHEAD;
                queued--;
            }
        }
        if (rc == SPATE_OK && !undo && pos != len)
            rc =
                sp_error_set(err, SPATE_EPARSE,
                             "malformed keyed state snapshot: key group %d's block holds %zu bytes after its "
                             "%llu entries",
                             kg, len - pos, (unsigned long long)count);
    }
    for (; rc == SPATE_OK && queued; queued--, head = (head + 1) % RESTORE_AHEAD) {
        if ((rc = insert_pending(be, &ring[head], err))) break;
        (*done)++;
    }
    return rc;
}

/* The encoded bytes of key groups [a, b] of r (from the index; checked by the reader's open). */
static size_t restore_bytes(const sp_snapshot_reader_t *r, int a, int b)
{
    const uint8_t *first = r->index + 24 * (size_t)(a - r->first);
    uint64_t from = sp_get_le(first, 8),
             to = b < r->last ? sp_get_le(first + 24 * (size_t)(b - a + 1), 8) : r->len;
    return (size_t)(to - from);
}

int sp_state_restore(sp_state_backend_t *be, const uint8_t *data, size_t len, int kg_first, int kg_last,
                     sp_error_t *err)
{
    be->map.moves++; /* nothing moves, but what callers hold from before is stale news */
    sp_snapshot_reader_t r;
    int a = 0, b = -1,
        rc = sp_snapshot_reader_open_range(&r, data, len, SP_SNAPSHOT_KEYED, kg_first, kg_last, &a, &b, err);
    if (rc || a > b) return rc;
    int *ids = sp_xcalloc(r.nnames + 1, sizeof *ids);
    for (uint32_t i = 0; i < r.nnames; i++) {
        size_t n;
        const uint8_t *name = sp_snapshot_reader_name(&r, i, &n);
        char *z = sp_xstrndup((const char *)name, n);
        ids[i] = sp_state_id(be, z);
        free(z);
    }
    uint64_t n = sp_snapshot_reader_count(&r, a, b);
    sp_hmap_reserve(&be->map, be->map.count + n);
    /* the entries in one block: an entry takes at most 24 bytes more in the map than encoded (the
     * map's 8-byte head, the composite's 6-byte head and two paddings to 8, less 4 bytes of varints
     * at least); 12 more is likely (8-byte keys and values: 21 bytes encoded, 32 in the map) */
    size_t encoded = restore_bytes(&r, a, b);
    sp_hmap_carve_begin(&be->map, encoded + 24 * n, encoded + 12 * n);
    uint64_t done = 0;
    rc = restore_walk(be, &r, ids, a, b, UINT64_MAX, false, &done, err);
    if (rc) { /* take back what this call inserted: the backend is as it was */
        uint64_t undone = 0;
        restore_walk(be, &r, ids, a, b, done, true, &undone, NULL);
    }
    sp_hmap_carve_end(&be->map);
    free(ids);
    return rc;
}
