/*
 * snapshot.c — the key-grouped snapshot: building (the buffer the sync part
 * fills), writing (the async part), reading (restore).  Format and rules:
 * snapshot.h.
 */
#include "state/snapshot.h"

#include <pthread.h>
#include <stdio.h>

#include "checkpoint/storage.h"
#include "state/heap_map.h"

#define MAGIC     "SPKG"
#define FIXED     36 /* header bytes before the name table */
#define INDEX_ROW 24
#define MIN_TIMER 11 /* timestamp, flags, two 1-byte varints */
#define MIN_KEYED 4  /* four 1-byte varints */

static void put_u32(uint8_t *p, uint32_t v)
{
    sp_put_le(p, v, 4);
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)sp_get_le(p, 4);
}

static uint64_t get_u64(const uint8_t *p)
{
    return sp_get_le(p, 8);
}

static const char *kind_name(sp_snapshot_kind_t kind)
{
    return kind == SP_SNAPSHOT_TIMERS ? "timer snapshot" : "keyed state snapshot";
}

/* ---- building ---- */

int sp_snapshot_create(sp_snapshot_kind_t kind, int first, int last, const char *const *names, uint32_t n,
                       sp_snapshot_t **out, sp_error_t *err)
{
    *out = NULL;
    if (first < 0 || first > last || last >= SP_SNAPSHOT_MAX_KEY_GROUPS)
        return sp_error_set(err, SPATE_EINVAL, "%s of key groups [%d, %d]: not a key-group range",
                            kind_name(kind), first, last);
    if (n > SP_SNAPSHOT_MAX_NAMES)
        return sp_error_set(err, SPATE_EINVAL, "%s of %u states (at most %d)", kind_name(kind), n,
                            SP_SNAPSHOT_MAX_NAMES);
    for (uint32_t i = 0; i < n; i++) {
        size_t len = strlen(names[i]);
        if (len == 0 || len > SP_SNAPSHOT_NAME_MAX)
            return sp_error_set(err, SPATE_EINVAL, "%s: state name of %zu bytes (1 to %d)", kind_name(kind),
                                len, SP_SNAPSHOT_NAME_MAX);
    }
    sp_snapshot_t *s = sp_xcalloc(1, sizeof *s);
    s->kind = kind;
    s->first = first;
    s->last = last;
    s->nnames = n;
    s->names = sp_xcalloc(n + 1, sizeof *s->names);
    for (uint32_t i = 0; i < n; i++) s->names[i] = sp_xstrdup(names[i]);
    s->blocks = sp_xcalloc((size_t)(last - first + 1), sizeof *s->blocks);
    *out = s;
    return SPATE_OK;
}

/* The buffer of the last big snapshot let go, kept (any thread, one at a time) for the next of
 * about its size: the checkpoints of a big keyed state encode hundreds of MB each, and a fresh
 * buffer is zeroed by the kernel page by page anew each time (11 % of the uploader's CPU at 10 M
 * keys).  It stays allocated between checkpoints.  A big buffer is made half as large again as
 * asked, for a state that grows (only what is touched is backed by memory), and
 * sp_snapshot_spare_warm, between checkpoints, pages the whole spare in, or replaces it by a larger one
 * when the last snapshot took more than two thirds of it. */
#define SPARE_MIN ((size_t)64 << 20)
static pthread_mutex_t spare_mu = PTHREAD_MUTEX_INITIALIZER;
static uint8_t *spare;
static size_t spare_cap;
static size_t spare_want; /* the last big snapshot's bytes */

/* The spare buffer when it holds `total` bytes and is no more than twice as large, else NULL. */
static uint8_t *take_spare(size_t total, size_t *cap)
{
    uint8_t *data = NULL;
    if (total < SPARE_MIN) return NULL;
    pthread_mutex_lock(&spare_mu);
    if (spare && spare_cap >= total && spare_cap - total <= spare_cap / 2) {
        data = spare;
        *cap = spare_cap;
        spare = NULL;
        spare_cap = 0;
    }
    pthread_mutex_unlock(&spare_mu);
    return data;
}

/* Frees data, or keeps it as the spare (the larger of the two is kept). */
static void give_spare(uint8_t *data, size_t cap)
{
    if (data && cap >= SPARE_MIN) {
        pthread_mutex_lock(&spare_mu);
        if (cap > spare_cap) {
            uint8_t *old = spare;
            spare = data;
            spare_cap = cap;
            data = old;
        }
        pthread_mutex_unlock(&spare_mu);
    }
    free(data);
}

void sp_snapshot_spare_warm(const atomic_bool *stop)
{
    pthread_mutex_lock(&spare_mu);
    uint8_t *data = spare;
    size_t cap = spare_cap, want = sp_with_headroom(spare_want);
    spare = NULL;
    spare_cap = 0;
    pthread_mutex_unlock(&spare_mu);
    if (want && cap < want) { /* grown too close to its end: a larger one, made now */
        free(data);
        cap = want;
        if (!(data = malloc(cap))) return;
        sp_advise_huge_pages(data, cap);
    }
    if (!data) return;
    (void)sp_populate(data, cap, stop); /* not the spare meanwhile: nobody writes it */
    give_spare(data, cap);
}

int sp_snapshot_reserve(sp_snapshot_t *s, const size_t *bytes, sp_error_t *err)
{
    size_t total = 0, nkg = (size_t)(s->last - s->first + 1), cap = 0;
    for (size_t i = 0; i < nkg; i++) total += bytes[i];
    if (total >= SPARE_MIN) {
        pthread_mutex_lock(&spare_mu);
        spare_want = total;
        pthread_mutex_unlock(&spare_mu);
    }
    uint8_t *data = take_spare(total, &cap);
    if (!data) {
        cap = total >= SPARE_MIN ? sp_with_headroom(total) : total ? total : 1;
        if (!(data = malloc(cap)))
            return sp_error_set(err, SPATE_ENOMEM, "%s: cannot allocate %zu bytes", kind_name(s->kind),
                                total);
        sp_advise_huge_pages(data, cap); /* written at 128 places at once: fewer faults, fewer TLB misses */
    }
    give_spare(s->data, s->cap);
    s->data = data;
    s->cap = cap;
    for (size_t i = 0, at = 0; i < nkg; at += bytes[i++]) s->blocks[i] = (sp_snapshot_block_t){ .start = at };
    s->entries = 0;
    s->sealed = false;
    return SPATE_OK;
}

void sp_snapshot_destroy(sp_snapshot_t *s)
{
    if (!s) return;
    for (uint32_t i = 0; i < s->nnames; i++) free(s->names[i]);
    free(s->names);
    give_spare(s->data, s->cap);
    free(s->blocks);
    free(s);
}

/* ---- writing ---- */

static size_t header_size(const sp_snapshot_t *s)
{
    size_t n = FIXED + INDEX_ROW * (size_t)(s->last - s->first + 1) + 8;
    for (uint32_t i = 0; i < s->nnames; i++) n += 4 + strlen(s->names[i]);
    return n;
}

size_t sp_snapshot_size(const sp_snapshot_t *s)
{
    size_t n = header_size(s);
    for (int g = 0; g <= s->last - s->first; g++) n += s->blocks[g].len;
    return n;
}

/* Block checksums (once), then the header, name table, index and header checksum into a new buffer. */
static uint8_t *header(sp_snapshot_t *s, size_t *hlen)
{
    size_t nkg = (size_t)(s->last - s->first + 1);
    if (!s->sealed) {
        for (size_t g = 0; g < nkg; g++)
            s->blocks[g].checksum = sp_hash_bytes(s->data + s->blocks[g].start, s->blocks[g].len);
        s->sealed = true;
    }
    size_t n = header_size(s);
    uint8_t *h = sp_xmalloc(n), *p = h;
    memcpy(p, MAGIC, 4);
    p[4] = SP_SNAPSHOT_VERSION;
    p[5] = (uint8_t)s->kind;
    p[6] = p[7] = 0;
    put_u32(p + 8, (uint32_t)s->first);
    put_u32(p + 12, (uint32_t)s->last);
    sp_snapshot_put_u64(p + 16, sp_snapshot_size(s));
    sp_snapshot_put_u64(p + 24, s->entries);
    put_u32(p + 32, s->nnames);
    p += FIXED;
    for (uint32_t i = 0; i < s->nnames; i++) {
        size_t len = strlen(s->names[i]);
        put_u32(p, (uint32_t)len);
        memcpy(p + 4, s->names[i], len);
        p += 4 + len;
    }
    uint64_t off = n;
    for (size_t g = 0; g < nkg; g++, p += INDEX_ROW) {
        sp_snapshot_put_u64(p, off);
        sp_snapshot_put_u64(p + 8, s->blocks[g].count);
        sp_snapshot_put_u64(p + 16, s->blocks[g].checksum);
        off += s->blocks[g].len;
    }
    sp_snapshot_put_u64(p, sp_hash_bytes(h, (size_t)(p - h)));
    *hlen = n;
    return h;
}

int sp_snapshot_write(sp_snapshot_t *s, sp_snapshot_write_fn write, void *ctx, sp_error_t *err)
{
    size_t hlen;
    uint8_t *h = header(s, &hlen);
    int rc = write(ctx, h, hlen, err);
    free(h);
    for (int g = 0; rc == SPATE_OK && g <= s->last - s->first; g++)
        if (s->blocks[g].len) rc = write(ctx, s->data + s->blocks[g].start, s->blocks[g].len, err);
    return rc;
}

int sp_membuf_write(void *ctx, const void *p, size_t n, sp_error_t *err)
{
    SP_UNUSED(err);
    sp_membuf_t *m = ctx;
    memcpy(m->p + m->len, p, n);
    m->len += n;
    return SPATE_OK;
}

int sp_snapshot_encode(sp_snapshot_t *s, uint8_t **out, size_t *len, sp_error_t *err)
{
    size_t n = sp_snapshot_size(s);
    sp_membuf_t m = { malloc(n), 0 };
    *out = NULL;
    *len = 0;
    if (!m.p) return sp_error_set(err, SPATE_ENOMEM, "%s: cannot allocate %zu bytes", kind_name(s->kind), n);
    sp_snapshot_write(s, sp_membuf_write, &m, err);
    *out = m.p;
    *len = m.len;
    return SPATE_OK;
}

typedef struct file_ctx {
    sp_ckpt_storage_t *st;
    sp_ckpt_file_t *f;
} file_ctx_t;

static int to_file(void *ctx, const void *p, size_t n, sp_error_t *err)
{
    file_ctx_t *fc = ctx;
    return sp_ckpt_file_write(fc->st, fc->f, p, n, err);
}

int sp_snapshot_write_file(sp_snapshot_t *s, sp_ckpt_storage_t *st, sp_ckpt_file_t *f, sp_error_t *err)
{
    file_ctx_t fc = { st, f };
    return sp_snapshot_write(s, to_file, &fc, err);
}

/* ---- reading: the bytes are untrusted ---- */

static int bad(sp_error_t *err, sp_snapshot_kind_t kind, size_t at, const char *what)
{
    return sp_error_set(err, SPATE_EPARSE, "malformed %s at byte %zu: %s", kind_name(kind), at, what);
}

int sp_snapshot_reader_open(sp_snapshot_reader_t *r, const uint8_t *data, size_t len, sp_snapshot_kind_t kind,
                            sp_error_t *err)
{
    memset(r, 0, sizeof *r);
    if (!data || len < FIXED) return bad(err, kind, 0, "shorter than its header");
    if (memcmp(data, MAGIC, 4) != 0)
        return sp_error_set(err, SPATE_EPARSE, "not a key-grouped snapshot (bad magic)");
    if (data[4] != SP_SNAPSHOT_VERSION)
        return sp_error_set(err, SPATE_EPARSE, "%s of format version %u (this build reads %d)",
                            kind_name(kind), data[4], SP_SNAPSHOT_VERSION);
    if (data[5] != (uint8_t)kind)
        return sp_error_set(err, SPATE_EPARSE, "%s expected, but the snapshot holds %s", kind_name(kind),
                            data[5] == SP_SNAPSHOT_KEYED    ? "keyed state"
                            : data[5] == SP_SNAPSHOT_TIMERS ? "timers"
                                                            : "an unknown kind");
    if (data[6] || data[7]) return bad(err, kind, 6, "reserved bytes not 0");
    uint32_t first = get_u32(data + 8), last = get_u32(data + 12);
    if (first > last || last >= SP_SNAPSHOT_MAX_KEY_GROUPS)
        return bad(err, kind, 8, "key-group range out of range");
    uint64_t total = get_u64(data + 16), entries = get_u64(data + 24);
    if (total != len) {
        char what[128];
        snprintf(what, sizeof what, "length %llu in the header, %zu bytes given%s", (unsigned long long)total,
                 len, total > len ? " (truncated)" : "");
        return bad(err, kind, 16, what);
    }
    uint32_t nnames = get_u32(data + 32);
    if (nnames > SP_SNAPSHOT_MAX_NAMES || (kind == SP_SNAPSHOT_TIMERS && nnames))
        return bad(err, kind, 32, "name count out of range");
    size_t at = FIXED;
    for (uint32_t i = 0; i < nnames; i++) {
        if (len - at < 4) return bad(err, kind, at, "truncated name table");
        uint32_t n = get_u32(data + at);
        if (n == 0 || n > SP_SNAPSHOT_NAME_MAX) return bad(err, kind, at, "name length out of range");
        if (len - at - 4 < n) return bad(err, kind, at, "truncated name");
        const uint8_t *name = data + at + 4;
        if (memchr(name, 0, n)) return bad(err, kind, at, "NUL byte in a name");
        for (size_t o = FIXED; o < at; o += 4 + get_u32(data + o))
            if (get_u32(data + o) == n && memcmp(data + o + 4, name, n) == 0)
                return bad(err, kind, at, "name appears twice");
        at += 4 + n;
    }
    size_t nkg = (size_t)(last - first + 1);
    if ((len - at) / INDEX_ROW < nkg || len - at - INDEX_ROW * nkg < 8)
        return bad(err, kind, at, "truncated key-group index");
    const uint8_t *index = data + at;
    size_t data_start = at + INDEX_ROW * nkg + 8;
    if (get_u64(data + data_start - 8) != sp_hash_bytes(data, data_start - 8))
        return bad(err, kind, data_start - 8, "header checksum mismatch");
    uint64_t prev = data_start, sum = 0;
    size_t min_entry = kind == SP_SNAPSHOT_TIMERS ? MIN_TIMER : MIN_KEYED;
    for (size_t g = 0; g < nkg; g++) {
        const uint8_t *row = index + INDEX_ROW * g;
        uint64_t off = get_u64(row), count = get_u64(row + 8);
        uint64_t end = g + 1 < nkg ? get_u64(row + INDEX_ROW) : total;
        char what[160];
        if (g == 0 && off != data_start) {
            snprintf(what, sizeof what, "key group %zu's block at %llu, not right after the header (%zu)",
                     first + g, (unsigned long long)off, data_start);
            return bad(err, kind, (size_t)(row - data), what);
        }
        if (off < prev || end < off || end > total) {
            snprintf(what, sizeof what, "key group %zu's block [%llu, %llu) out of order or out of bounds",
                     first + g, (unsigned long long)off, (unsigned long long)end);
            return bad(err, kind, (size_t)(row - data), what);
        }
        if (count > (end - off) / min_entry) {
            snprintf(what, sizeof what, "key group %zu: %llu entries cannot fit in %llu bytes", first + g,
                     (unsigned long long)count, (unsigned long long)(end - off));
            return bad(err, kind, (size_t)(row - data) + 8, what);
        }
        prev = off;
        sum += count;
    }
    if (sum != entries) return bad(err, kind, 24, "entry count differs from the key-group index's");
    r->data = data;
    r->len = len;
    r->kind = kind;
    r->first = (int)first;
    r->last = (int)last;
    r->entries = entries;
    r->nnames = nnames;
    r->names_at = data + FIXED;
    r->index = index;
    return SPATE_OK;
}

int sp_snapshot_reader_open_range(sp_snapshot_reader_t *r, const uint8_t *data, size_t len,
                                  sp_snapshot_kind_t kind, int kg_first, int kg_last, int *a, int *b,
                                  sp_error_t *err)
{
    if (kg_first < 0 || kg_first > kg_last)
        return sp_error_set(err, SPATE_EINVAL, "%s restore of key groups [%d, %d]",
                            kind == SP_SNAPSHOT_TIMERS ? "timer" : "keyed state", kg_first, kg_last);
    int rc = sp_snapshot_reader_open(r, data, len, kind, err);
    if (rc) return rc;
    *a = SP_MAX(kg_first, r->first);
    *b = SP_MIN(kg_last, r->last);
    return SPATE_OK;
}

const uint8_t *sp_snapshot_reader_name(const sp_snapshot_reader_t *r, uint32_t i, size_t *len)
{
    const uint8_t *p = r->names_at;
    for (; i; i--) p += 4 + get_u32(p);
    *len = get_u32(p);
    return p + 4;
}

int sp_snapshot_reader_block(const sp_snapshot_reader_t *r, int kg, const uint8_t **at, size_t *len,
                             uint64_t *count, sp_error_t *err)
{
    size_t g = (size_t)(kg - r->first);
    const uint8_t *row = r->index + INDEX_ROW * g;
    uint64_t off = get_u64(row), end = kg < r->last ? get_u64(row + INDEX_ROW) : r->len;
    *at = r->data + off;
    *len = (size_t)(end - off);
    *count = get_u64(row + 8);
    if (sp_hash_bytes(*at, *len) != get_u64(row + 16))
        return sp_error_set(err, SPATE_EPARSE, "malformed %s: checksum mismatch in the block of key group %d",
                            kind_name(r->kind), kg);
    return SPATE_OK;
}

uint64_t sp_snapshot_reader_count(const sp_snapshot_reader_t *r, int a, int b)
{
    uint64_t n = 0;
    for (int kg = a; kg <= b; kg++) n += get_u64(r->index + INDEX_ROW * (size_t)(kg - r->first) + 8);
    return n;
}

static bool get_varint(const uint8_t *at, size_t len, size_t *pos, uint32_t *v)
{
    uint64_t x = 0;
    for (int i = 0; i < SP_SNAPSHOT_VARINT_MAX; i++) {
        if (*pos >= len) return false;
        uint8_t b = at[(*pos)++];
        x |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            if (x > UINT32_MAX) return false;
            *v = (uint32_t)x;
            return true;
        }
    }
    return false;
}

static int bad_entry(sp_error_t *err, const sp_snapshot_reader_t *r, int kg, const uint8_t *at, size_t pos,
                     const char *what)
{
    return sp_error_set(err, SPATE_EPARSE, "malformed %s: key group %d, entry at byte %zu: %s",
                        kind_name(r->kind), kg, (size_t)(at - r->data) + pos, what);
}

int sp_snapshot_reader_entry(const sp_snapshot_reader_t *r, int kg, const uint8_t *at, size_t len,
                             size_t *pos, sp_snapshot_entry_t *e, sp_error_t *err)
{
    size_t p = *pos;
    uint32_t seq;
    if (r->kind == SP_SNAPSHOT_TIMERS) {
        if (len - p < 9) return bad_entry(err, r, kg, at, p, "truncated timer");
        e->ts = (int64_t)get_u64(at + p);
        if (at[p + 8] & ~1u) return bad_entry(err, r, kg, at, p, "unknown timer flags");
        e->unique = at[p + 8] & 1;
        p += 9;
        if (!get_varint(at, len, &p, &seq) || !get_varint(at, len, &p, &e->klen))
            return bad_entry(err, r, kg, at, *pos, "truncated or overlong varint");
        if (seq >= r->entries) return bad_entry(err, r, kg, at, *pos, "sequence number out of range");
        e->seq = seq;
        e->state = 0;
        e->nslen = e->vlen = 0;
    } else {
        if (!get_varint(at, len, &p, &e->state) || !get_varint(at, len, &p, &e->klen) ||
            !get_varint(at, len, &p, &e->nslen) || !get_varint(at, len, &p, &e->vlen))
            return bad_entry(err, r, kg, at, *pos, "truncated or overlong varint");
        if (e->state >= r->nnames) return bad_entry(err, r, kg, at, *pos, "state index out of range");
        e->ts = 0;
        e->seq = 0;
        e->unique = false;
    }
    if ((uint64_t)e->klen + e->nslen + e->vlen > len - p)
        return bad_entry(err, r, kg, at, *pos, "key, namespace or value runs past the block");
    e->key = at + p;
    e->ns = e->key + e->klen;
    e->value = e->ns + e->nslen;
    *pos = p + e->klen + e->nslen + e->vlen;
    return SPATE_OK;
}

/* ---- a raw heap map as keyed state ---- */

int sp_hmap_snapshot(const sp_hmap_t *m, const char *name, int kg_first, int kg_last, sp_snapshot_t **out,
                     sp_error_t *err)
{
    sp_snapshot_t *s;
    int rc = sp_snapshot_create(SP_SNAPSHOT_KEYED, kg_first, kg_last, &name, 1, &s, err);
    if (rc) return rc;
    size_t nkg = (size_t)(kg_last - kg_first + 1);
    size_t *bytes = sp_xcalloc(nkg, sizeof *bytes);
    const sp_hmap_entry_t *e;
    for (size_t pos = 0; rc == SPATE_OK && (e = sp_hmap_next(m, &pos));) {
        if (e->key_group < kg_first || e->key_group > kg_last)
            rc = sp_error_set(err, SPATE_EINVAL,
                              "keyed state snapshot of key groups [%d, %d]: an entry of key group %d",
                              kg_first, kg_last, e->key_group);
        else
            bytes[e->key_group - kg_first] += 2 + sp_snapshot_varint_size(sp_hmap_klen(e)) +
                                              sp_snapshot_varint_size(sp_hmap_vlen(e)) + sp_hmap_klen(e) +
                                              sp_hmap_vlen(e);
    }
    if (rc == SPATE_OK) rc = sp_snapshot_reserve(s, bytes, err);
    free(bytes);
    if (rc) {
        sp_snapshot_destroy(s);
        return rc;
    }
    for (size_t pos = 0; (e = sp_hmap_next(m, &pos));) {
        uint8_t *start = sp_snapshot_cursor(s, e->key_group), *p = start;
        p += sp_snapshot_put_varint(p, 0); /* the one state */
        uint32_t klen = sp_hmap_klen(e), vlen = sp_hmap_vlen(e);
        p += sp_snapshot_put_varint(p, klen);
        p += sp_snapshot_put_varint(p, 0); /* no namespace */
        p += sp_snapshot_put_varint(p, vlen);
        memcpy(p, sp_hmap_key(e), klen);
        if (vlen) memcpy(p + klen, sp_hmap_value(e), vlen);
        p += klen + vlen;
        sp_snapshot_block_t *b = &s->blocks[e->key_group - kg_first];
        b->len += (size_t)(p - start);
        b->count++;
    }
    s->entries = m->count;
    *out = s;
    return SPATE_OK;
}

/* Visits the entries of key groups [a, b] of r: checks them all (undo false, insert NULL) or
 * inserts the first `limit` into m (insert) or removes them (undo).  *done counts those handled. */
static int hmap_walk(sp_hmap_t *m, const sp_snapshot_reader_t *r, int a, int b, bool insert, bool undo,
                     uint64_t limit, uint64_t *done, sp_error_t *err)
{
    for (int kg = a; kg <= b && *done < limit; kg++) {
        const uint8_t *at;
        size_t len, pos = 0;
        uint64_t count;
        int rc = sp_snapshot_reader_block(r, kg, &at, &len, &count, err);
        if (rc) return rc;
        for (uint64_t c = 0; c < count && *done < limit; c++) {
            size_t was = pos;
            sp_snapshot_entry_t e;
            if ((rc = sp_snapshot_reader_entry(r, kg, at, len, &pos, &e, err))) return rc;
            if (e.nslen) return bad_entry(err, r, kg, at, was, "a namespace in a map's snapshot");
            uint64_t h = sp_hash_bytes(e.key, e.klen);
            if (undo)
                sp_hmap_remove(m, e.key, e.klen, h);
            else if (insert && !sp_hmap_put_new(m, e.key, e.klen, h, kg, e.value, e.vlen))
                return bad_entry(err, r, kg, at, was, "this key is there already");
            (*done)++;
        }
        if (!insert && !undo && pos != len)
            return bad_entry(err, r, kg, at, pos, "bytes after the last entry");
    }
    return SPATE_OK;
}

int sp_hmap_restore(sp_hmap_t *m, const uint8_t *data, size_t len, int kg_first, int kg_last, sp_error_t *err)
{
    sp_snapshot_reader_t r;
    int a = 0, b = -1,
        rc = sp_snapshot_reader_open_range(&r, data, len, SP_SNAPSHOT_KEYED, kg_first, kg_last, &a, &b, err);
    if (rc || a > b) return rc;
    uint64_t checked = 0, done = 0, undone = 0;
    rc = hmap_walk(m, &r, a, b, false, false, UINT64_MAX, &checked, err); /* all well-formed first */
    if (rc) return rc;
    sp_hmap_reserve(m, m->count + checked);
    rc = hmap_walk(m, &r, a, b, true, false, UINT64_MAX, &done, err);
    if (rc) hmap_walk(m, &r, a, b, false, true, done, &undone, NULL); /* a duplicate: take back the rest */
    return rc;
}
