/*
 * timers.c — see timers.h.  A timer lives in its timestamp's bucket (an
 * append-only log read from the front) and in the index; deleting removes it
 * from the index only, and popping a timer removes its index entry — a timer
 * whose entry is already gone was deleted and is skipped.
 */
#include "state/timers.h"

#include <string.h>

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
    if (sp_hmap_put_if_absent(&s->index, s->buf, n, sp_hash_bytes(s->buf, n), key_group))
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
