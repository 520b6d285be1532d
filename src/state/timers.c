/*
 * timers.c — see timers.h.  Deletion is lazy: the index forgets the timer
 * and the heap entry is dropped when it surfaces.
 */
#include "state/timers.h"

#include <string.h>

void sp_timers_init(sp_timer_service_t *s)
{
    memset(s, 0, sizeof *s);
    sp_hmap_init(&s->index);
}

void sp_timers_fini(sp_timer_service_t *s)
{
    for (size_t i = 0; i < s->n; i++) free(s->heap[i].key);
    free(s->heap);
    sp_hmap_fini(&s->index);
    free(s->buf);
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

static bool before(const sp_timer_t *a, const sp_timer_t *b)
{
    return a->ts < b->ts || (a->ts == b->ts && a->seq < b->seq);
}

static void sift_up(sp_timer_t *h, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!before(&h[i], &h[p])) break;
        sp_timer_t t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

static void sift_down(sp_timer_t *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && before(&h[l], &h[m])) m = l;
        if (r < n && before(&h[r], &h[m])) m = r;
        if (m == i) break;
        sp_timer_t t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

void sp_timers_register(sp_timer_service_t *s, int64_t ts, int key_group, const uint8_t *key, size_t klen)
{
    size_t n = index_key(s, ts, key, klen);
    uint64_t h = sp_hash_bytes(s->buf, n);
    if (sp_hmap_get(&s->index, s->buf, n, h)) return;
    uint8_t one = 1;
    sp_hmap_put(&s->index, s->buf, n, h, key_group, &one, 1);
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->heap = sp_xrealloc(s->heap, sizeof *s->heap * s->cap);
    }
    sp_timer_t *t = &s->heap[s->n];
    t->ts = ts;
    t->seq = s->seq++;
    t->key_group = key_group;
    t->key = sp_xmalloc(klen ? klen : 1);
    if (klen) memcpy(t->key, key, klen);
    t->klen = (uint32_t)klen;
    sift_up(s->heap, s->n++);
}

void sp_timers_delete(sp_timer_service_t *s, int64_t ts, const uint8_t *key, size_t klen)
{
    size_t n = index_key(s, ts, key, klen);
    sp_hmap_remove(&s->index, s->buf, n, sp_hash_bytes(s->buf, n));
}

/* Drops deleted timers from the top of the heap. */
static void skip_deleted(sp_timer_service_t *s)
{
    while (s->n > 0) {
        sp_timer_t *t = &s->heap[0];
        size_t n = index_key(s, t->ts, t->key, t->klen);
        if (sp_hmap_get(&s->index, s->buf, n, sp_hash_bytes(s->buf, n))) return;
        free(t->key);
        s->heap[0] = s->heap[--s->n];
        sift_down(s->heap, s->n, 0);
    }
}

int64_t sp_timers_next(sp_timer_service_t *s)
{
    skip_deleted(s);
    return s->n ? s->heap[0].ts : INT64_MAX;
}

bool sp_timers_pop(sp_timer_service_t *s, int64_t limit, sp_timer_t *out)
{
    skip_deleted(s);
    if (s->n == 0 || s->heap[0].ts > limit) return false;
    *out = s->heap[0];
    size_t n = index_key(s, out->ts, out->key, out->klen);
    sp_hmap_remove(&s->index, s->buf, n, sp_hash_bytes(s->buf, n));
    s->heap[0] = s->heap[--s->n];
    sift_down(s->heap, s->n, 0);
    return true;
}

size_t sp_timers_count(const sp_timer_service_t *s)
{
    return s->index.count;
}
