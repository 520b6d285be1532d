/*
 * timers.c — see timers.h.  A timer lives in its timestamp's bucket (an
 * append-only log read from the front) and in the index; deleting removes it
 * from the index only, and popping a timer removes its index entry — a timer
 * whose entry is already gone was deleted and is skipped.
 */
#include "state/timers.h"

#include <string.h>

#include "state/snapshot.h"

#define ENTRY_HEAD 8 /* [u32 klen | UNIQUE][i32 key group] */
#define UNIQUE     0x80000000u

void sp_timers_init(sp_timer_service_t *s)
{
    memset(s, 0, sizeof *s);
    sp_hmap_init(&s->buckets);
    sp_hmap_init(&s->index);
}

static void bucket_free(sp_timer_bucket_t *b)
{
    free(b->buf);
    free(b);
}

void sp_timers_fini(sp_timer_service_t *s)
{
    for (size_t i = 0; i < s->n; i++) bucket_free(s->heap[i]);
    free(s->heap);
    sp_hmap_fini(&s->buckets);
    sp_hmap_fini(&s->index);
    free(s->buf);
    free(s->popped);
    memset(s, 0, sizeof *s);
}

/* The index key: [ts: 8 bytes][key]. */
static size_t index_key(sp_timer_service_t *s, int64_t ts, const uint8_t *key, size_t klen)
{
    size_t n = 8 + klen;
    if (n > s->bufcap) {
        s->bufcap = n * 2;
        s->buf = sp_xrealloc(s->buf, s->bufcap);
    }
    memcpy(s->buf, &ts, 8);
    if (klen) memcpy(s->buf + 8, key, klen);
    return n;
}

static void sift_up(sp_timer_bucket_t **h, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p]->ts <= h[i]->ts) break;
        sp_timer_bucket_t *t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

static void sift_down(sp_timer_bucket_t **h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && h[l]->ts < h[m]->ts) m = l;
        if (r < n && h[r]->ts < h[m]->ts) m = r;
        if (m == i) break;
        sp_timer_bucket_t *t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

/* The bucket of timestamp ts, created when there is none. */
static sp_timer_bucket_t *bucket_for(sp_timer_service_t *s, int64_t ts)
{
    if (s->last && s->last->ts == ts) return s->last;
    uint64_t h = sp_hash_bytes(&ts, 8);
    sp_hmap_entry_t *e = sp_hmap_get(&s->buckets, (const uint8_t *)&ts, 8, h);
    sp_timer_bucket_t *b;
    if (e) {
        memcpy(&b, sp_hmap_value(e), sizeof b);
    } else {
        b = sp_xcalloc(1, sizeof *b);
        b->ts = ts;
        sp_hmap_put(&s->buckets, (const uint8_t *)&ts, 8, h, 0, (const uint8_t *)&b, sizeof b);
        if (s->n == s->cap) {
            s->cap = s->cap ? 2 * s->cap : 16;
            s->heap = sp_xrealloc(s->heap, sizeof *s->heap * s->cap);
        }
        s->heap[s->n] = b;
        sift_up(s->heap, s->n++);
    }
    return s->last = b;
}

static void append(sp_timer_service_t *s, int64_t ts, int key_group, const uint8_t *key, size_t klen,
                   bool unique)
{
    sp_timer_bucket_t *b = bucket_for(s, ts);
    size_t need = b->len + ENTRY_HEAD + klen;
    if (need > b->cap) {
        b->cap = need > 2 * b->cap ? need + 64 : 2 * b->cap;
        b->buf = sp_xrealloc(b->buf, b->cap);
    }
    uint32_t l = (uint32_t)klen | (unique ? UNIQUE : 0);
    int32_t kg = key_group;
    memcpy(b->buf + b->len, &l, 4);
    memcpy(b->buf + b->len + 4, &kg, 4);
    if (klen) memcpy(b->buf + b->len + ENTRY_HEAD, key, klen);
    b->len = need;
}

void sp_timers_register(sp_timer_service_t *s, int64_t ts, int key_group, const uint8_t *key, size_t klen)
{
    size_t n = index_key(s, ts, key, klen);
    if (sp_hmap_put_new(&s->index, s->buf, n, sp_hash_bytes(s->buf, n), key_group, NULL, 0))
        append(s, ts, key_group, key, klen, false);
}

void sp_timers_register_unique(sp_timer_service_t *s, int64_t ts, int key_group, const uint8_t *key,
                               size_t klen)
{
    append(s, ts, key_group, key, klen, true);
    s->nunique++;
}

void sp_timers_delete(sp_timer_service_t *s, int64_t ts, const uint8_t *key, size_t klen)
{
    size_t n = index_key(s, ts, key, klen);
    sp_hmap_remove(&s->index, s->buf, n, sp_hash_bytes(s->buf, n));
}

/* Removes the earliest bucket (drained). */
static void drop_top(sp_timer_service_t *s)
{
    sp_timer_bucket_t *b = s->heap[0];
    sp_hmap_remove(&s->buckets, (const uint8_t *)&b->ts, 8, sp_hash_bytes(&b->ts, 8));
    if (s->last == b) s->last = NULL;
    bucket_free(b);
    s->heap[0] = s->heap[--s->n];
    sift_down(s->heap, s->n, 0);
}

int64_t sp_timers_next(sp_timer_service_t *s)
{
    while (s->n && s->heap[0]->next == s->heap[0]->len) drop_top(s);
    return s->n ? s->heap[0]->ts : INT64_MAX;
}

bool sp_timers_pop(sp_timer_service_t *s, int64_t limit, sp_timer_t *out)
{
    while (s->n && s->heap[0]->ts <= limit) {
        sp_timer_bucket_t *b = s->heap[0];
        if (b->next == b->len) {
            drop_top(s);
            continue;
        }
        uint32_t klen;
        int32_t kg;
        const uint8_t *e = b->buf + b->next;
        memcpy(&klen, e, 4);
        memcpy(&kg, e + 4, 4);
        bool unique = klen & UNIQUE;
        klen &= ~UNIQUE;
        b->next += ENTRY_HEAD + klen;
        if (unique) {
            s->nunique--;
        } else {
            size_t n = index_key(s, b->ts, e + ENTRY_HEAD, klen);
            if (!sp_hmap_remove(&s->index, s->buf, n, sp_hash_bytes(s->buf, n))) continue; /* deleted */
        }
        if (klen > s->poppedcap) {
            s->poppedcap = 2 * (size_t)klen;
            s->popped = sp_xrealloc(s->popped, s->poppedcap);
        }
        if (klen) memcpy(s->popped, e + ENTRY_HEAD, klen);
        out->ts = b->ts;
        out->key_group = kg;
        out->key = s->popped;
        out->klen = klen;
        return true;
    }
    return false;
}

size_t sp_timers_count(const sp_timer_service_t *s)
{
    return s->index.count + s->nunique;
}

/* ---- snapshot and restore (format: snapshot.h) ---- */

typedef struct live {
    const uint8_t *entry; /* in its bucket's log */
    int64_t ts;
} live_t;

static int by_ts(const void *a, const void *b)
{
    int64_t x = (*(const sp_timer_bucket_t *const *)a)->ts, y = (*(const sp_timer_bucket_t *const *)b)->ts;
    return x < y ? -1 : x > y;
}

/* The live timers in firing order: buckets by timestamp, each log from its first unpopped entry,
 * skipping deleted timers and the later copies of a timer deleted and registered again (the pop
 * skips those too).  *n of them; the array is malloc'd. */
static live_t *live_timers(sp_timer_service_t *s, size_t *n)
{
    sp_timer_bucket_t **order = sp_xmalloc(sizeof *order * (s->n + 1));
    if (s->n) memcpy(order, s->heap, sizeof *order * s->n);
    qsort(order, s->n, sizeof *order, by_ts);
    size_t cap = sp_timers_count(s) + 1, k = 0;
    live_t *v = sp_xmalloc(sizeof *v * cap);
    sp_hmap_t seen; /* index keys of the (non-unique) timers taken */
    sp_hmap_init(&seen);
    for (size_t i = 0; i < s->n; i++) {
        const sp_timer_bucket_t *b = order[i];
        for (size_t off = b->next; off < b->len;) {
            const uint8_t *e = b->buf + off;
            uint32_t klen;
            memcpy(&klen, e, 4);
            bool unique = klen & UNIQUE;
            klen &= ~UNIQUE;
            off += ENTRY_HEAD + klen;
            if (!unique) {
                size_t kn = index_key(s, b->ts, e + ENTRY_HEAD, klen);
                uint64_t h = sp_hash_bytes(s->buf, kn);
                if (!sp_hmap_get(&s->index, s->buf, kn, h) ||
                    !sp_hmap_put_new(&seen, s->buf, kn, h, 0, NULL, 0))
                    continue;
            }
            if (k == cap) { /* not expected: the count covers every live timer */
                cap *= 2;
                v = sp_xrealloc(v, sizeof *v * cap);
            }
            v[k++] = (live_t){ e, b->ts };
        }
    }
    sp_hmap_fini(&seen);
    free(order);
    *n = k;
    return v;
}

int sp_timers_snapshot(sp_timer_service_t *s, int kg_first, int kg_last, sp_snapshot_t **out, sp_error_t *err)
{
    sp_snapshot_t *snap;
    int rc = sp_snapshot_create(SP_SNAPSHOT_TIMERS, kg_first, kg_last, NULL, 0, &snap, err);
    if (rc) return rc;
    size_t n;
    live_t *v = live_timers(s, &n);
    size_t *bytes = sp_xcalloc((size_t)(kg_last - kg_first + 1), sizeof *bytes);
    for (size_t i = 0; i < n && rc == SPATE_OK; i++) {
        uint32_t klen;
        int32_t kg;
        memcpy(&klen, v[i].entry, 4);
        memcpy(&kg, v[i].entry + 4, 4);
        klen &= ~UNIQUE;
        if (kg < kg_first || kg > kg_last)
            rc = sp_error_set(err, SPATE_EINVAL,
                              "timer snapshot of key groups [%d, %d]: a timer of key group %d", kg_first,
                              kg_last, kg);
        else
            bytes[kg - kg_first] +=
                9 + sp_snapshot_varint_size((uint32_t)i) + sp_snapshot_varint_size(klen) + klen;
    }
    if (n > UINT32_MAX)
        rc = sp_error_set(err, SPATE_EINVAL, "timer snapshot of %zu timers (at most %u)", n, UINT32_MAX);
    if (rc == SPATE_OK) rc = sp_snapshot_reserve(snap, bytes, err);
    free(bytes);
    for (size_t i = 0; i < n && rc == SPATE_OK; i++) {
        uint32_t klen;
        int32_t kg;
        memcpy(&klen, v[i].entry, 4);
        memcpy(&kg, v[i].entry + 4, 4);
        uint8_t *start = sp_snapshot_cursor(snap, kg), *p = start;
        sp_snapshot_put_u64(p, (uint64_t)v[i].ts);
        p[8] = (klen & UNIQUE) ? 1 : 0;
        klen &= ~UNIQUE;
        p += 9;
        p += sp_snapshot_put_varint(p, (uint32_t)i);
        p += sp_snapshot_put_varint(p, klen);
        memcpy(p, v[i].entry + ENTRY_HEAD, klen);
        p += klen;
        sp_snapshot_block_t *b = &snap->blocks[kg - kg_first];
        b->len += (size_t)(p - start);
        b->count++;
    }
    free(v);
    if (rc) {
        sp_snapshot_destroy(snap);
        return rc;
    }
    snap->entries = n;
    *out = snap;
    return SPATE_OK;
}

int sp_timers_restore(sp_timer_service_t *s, const uint8_t *data, size_t len, int kg_first, int kg_last,
                      sp_error_t *err)
{
    sp_snapshot_reader_t r;
    int a = 0, b = -1,
        rc = sp_snapshot_reader_open_range(&r, data, len, SP_SNAPSHOT_TIMERS, kg_first, kg_last, &a, &b, err);
    if (rc || a > b || r.entries == 0) return rc;
    /* Check every entry of the range first and place it by sequence number; then register in that
     * order (nothing can fail any more, so the service changes only on success). */
    uint64_t *at = sp_xcalloc((size_t)r.entries, sizeof *at); /* entry offset + 1, 0 = none */
    uint16_t *kgs = sp_xmalloc(sizeof *kgs * (size_t)r.entries);
    for (int kg = a; kg <= b && rc == SPATE_OK; kg++) {
        const uint8_t *blk;
        size_t blen, pos = 0;
        uint64_t count, prev = 0;
        rc = sp_snapshot_reader_block(&r, kg, &blk, &blen, &count, err);
        for (uint64_t c = 0; c < count && rc == SPATE_OK; c++) {
            sp_snapshot_entry_t e;
            size_t epos = pos;
            rc = sp_snapshot_reader_entry(&r, kg, blk, blen, &pos, &e, err);
            if (rc == SPATE_OK && (at[e.seq] || (c && e.seq <= prev)))
                rc = sp_error_set(
                    err, SPATE_EPARSE,
                    "malformed timer snapshot: key group %d, entry at byte %zu: sequence number %llu "
                    "%s",
                    kg, (size_t)(blk - data) + epos, (unsigned long long)e.seq,
                    at[e.seq] ? "appears twice" : "out of order");
            if (rc == SPATE_OK) {
                at[e.seq] = (uint64_t)(blk - data) + epos + 1;
                kgs[e.seq] = (uint16_t)kg;
                prev = e.seq;
            }
        }
        if (rc == SPATE_OK && pos != blen)
            rc = sp_error_set(err, SPATE_EPARSE,
                              "malformed timer snapshot: key group %d's block holds %zu bytes after its %llu "
                              "timers",
                              kg, blen - pos, (unsigned long long)count);
    }
    for (uint64_t q = 0; q < r.entries && rc == SPATE_OK; q++) {
        if (!at[q]) continue;
        sp_snapshot_entry_t e;
        size_t pos = (size_t)(at[q] - 1);
        sp_snapshot_reader_entry(&r, kgs[q], data, len, &pos, &e, NULL); /* checked above */
        if (e.unique)
            sp_timers_register_unique(s, e.ts, kgs[q], e.key, e.klen);
        else
            sp_timers_register(s, e.ts, kgs[q], e.key, e.klen);
    }
    free(at);
    free(kgs);
    return rc;
}
