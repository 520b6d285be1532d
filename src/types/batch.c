/*
 * batch.c — columnar batches: allocation, pooling, projection, row copy.
 * Layout and lifetime rules are in types.h.
 */
#include "types/types.h"

#include <stdio.h>
#include <stddef.h>
#include <string.h>
#include <sys/types.h>

#define POOL_MAX      32 /* batches kept per schema; bounds pooled memory */
#define ALIGN8(n)     (((n) + 7u) & ~(size_t)7u)
#define INIT_DATA_PER 16 /* initial var-len arena bytes per row */

/* The public heads (include/spate/types.h) must describe the first members exactly. */
#define SAME_MEMBER(a, b, m) (offsetof(a, m) == offsetof(b, m) && sizeof(((a *)0)->m) == sizeof(((b *)0)->m))
_Static_assert(SAME_MEMBER(sp_batch_t, spate_batch_head_t, cols) &&
                   SAME_MEMBER(sp_batch_t, spate_batch_head_t, timestamps) &&
                   SAME_MEMBER(sp_batch_t, spate_batch_head_t, kinds) &&
                   SAME_MEMBER(sp_batch_t, spate_batch_head_t, count) &&
                   SAME_MEMBER(sp_batch_t, spate_batch_head_t, capacity),
               "sp_batch_t must begin with spate_batch_head_t");
_Static_assert(SAME_MEMBER(spate_collector_t, spate_collector_head_t, batch) &&
                   SAME_MEMBER(spate_collector_t, spate_collector_head_t, set_mask) &&
                   SAME_MEMBER(spate_collector_t, spate_collector_head_t, null_mask) &&
                   SAME_MEMBER(spate_collector_t, spate_collector_head_t, set_hi),
               "spate_collector_t must begin with spate_collector_head_t");
_Static_assert(sizeof(spate_decimal_t) == 16, "decimal values are 16 bytes");

static atomic_llong live_bytes;

int64_t sp_batch_live_bytes(void)
{
    return (int64_t)atomic_load_explicit(&live_bytes, memory_order_relaxed);
}

static void account(ssize_t delta)
{
    atomic_fetch_add_explicit(&live_bytes, (long long)delta, memory_order_relaxed);
}

static size_t values_size(const sp_field_t *f, uint32_t cap)
{
    if (f->type == SPATE_TYPE_BOOLEAN) return ALIGN8((cap + 7) / 8);
    if (sp_type_is_varlen(f->type)) return ALIGN8(4 * ((size_t)cap + 1));
    return ALIGN8((size_t)f->width * cap);
}

/* Prepares a fresh or pooled batch for writing: no rows, all NULL. */
static void batch_reset(sp_batch_t *b)
{
    const spate_schema_t *s = b->schema;
    b->count = 0;
    b->scratch = false;
    for (int i = 0; i < s->nfields; i++) {
        memset(b->cols[i].validity, 0xFF, (b->capacity + 7) / 8); /* the collector clears NULLs */
        if (sp_type_is_varlen(s->fields[i].type)) ((int32_t *)b->cols[i].values)[0] = 0;
    }
}

/*
 * Per-thread batch cache.  A task thread installs one (sp_batch_cache_begin)
 * and its batches are then recycled on that thread: a batch stays in the
 * core's caches instead of wandering to the other task through the shared
 * schema pool (measured on Nexmark q0 at parallelism 2: the shared LIFO pool
 * handed each thread batches last written by the other core).  Cached
 * batches keep their schema reference; sp_batch_cache_end returns them to
 * their schemas' pools.
 */
static _Thread_local sp_batch_cache_t *tl_cache;

void sp_batch_cache_begin(sp_batch_cache_t *c)
{
    memset(c, 0, sizeof *c);
    tl_cache = c;
}

static void pool_put(sp_batch_t *b);

void sp_batch_cache_end(sp_batch_cache_t *c)
{
    if (tl_cache == c) tl_cache = NULL;
    for (int i = 0; i < c->n; i++) pool_put(c->b[i]);
    c->n = 0;
}

sp_batch_t *sp_batch_create(const spate_schema_t *schema, uint32_t capacity)
{
    spate_schema_t *s = (spate_schema_t *)schema;
    if (capacity == 0) capacity = SP_BATCH_CAPACITY;
    sp_batch_t *b = NULL;
    sp_batch_cache_t *tc = tl_cache;
    if (tc && capacity == SP_BATCH_CAPACITY)
        for (int i = tc->n - 1; i >= 0; i--)
            if (tc->b[i]->schema == s) {
                b = tc->b[i];
                tc->b[i] = tc->b[--tc->n];
                atomic_store_explicit(&b->refs, 1, memory_order_relaxed);
                batch_reset(b); /* keeps the schema reference it was cached with */
                return b;
            }
    if (capacity == SP_BATCH_CAPACITY) {
        pthread_mutex_lock(&s->pool_mu);
        if (s->pool) {
            b = s->pool;
            s->pool = b->next;
            s->pool_len--;
        }
        pthread_mutex_unlock(&s->pool_mu);
    }
    if (b) {
        b->next = NULL;
        atomic_store_explicit(&b->refs, 1, memory_order_relaxed);
        spate_schema_acquire(s);
        batch_reset(b);
        return b;
    }
    size_t size = ALIGN8(sizeof *b) + 2 * ALIGN8(sizeof(sp_column_t) * (size_t)s->nfields) +
                  ALIGN8(capacity) + 8 * (size_t)capacity;
    for (int i = 0; i < s->nfields; i++)
        size += ALIGN8((capacity + 7) / 8) + values_size(&s->fields[i], capacity);
    char *mem = sp_xmalloc(size);
    b = (sp_batch_t *)mem;
    memset(b, 0, sizeof *b);
    char *p = mem + ALIGN8(sizeof *b);
    b->cols = (sp_column_t *)p;
    p += ALIGN8(sizeof(sp_column_t) * (size_t)s->nfields);
    b->own_cols = (sp_column_t *)p;
    memset(b->own_cols, 0, sizeof(sp_column_t) * (size_t)s->nfields);
    p += ALIGN8(sizeof(sp_column_t) * (size_t)s->nfields);
    b->timestamps = (int64_t *)p;
    p += 8 * (size_t)capacity;
    b->kinds = (uint8_t *)p;
    p += ALIGN8(capacity);
    b->bytes = size;
    for (int i = 0; i < s->nfields; i++) {
        sp_column_t *c = &b->cols[i];
        c->validity = (uint8_t *)p;
        p += ALIGN8((capacity + 7) / 8);
        c->values = p;
        p += values_size(&s->fields[i], capacity);
        c->data = NULL;
        c->data_cap = 0;
        if (sp_type_is_varlen(s->fields[i].type)) {
            c->data_cap = INIT_DATA_PER * capacity;
            c->data = sp_xmalloc(c->data_cap);
            b->bytes += c->data_cap;
        }
    }
    atomic_init(&b->refs, 1);
    b->capacity = capacity;
    b->schema = spate_schema_acquire(s);
    account((ssize_t)b->bytes);
    batch_reset(b);
    return b;
}

/* Gives borrowed columns their own buffers back and drops the reference to their owner. */
static void unborrow(sp_batch_t *b)
{
    if (!b->dep) return;
    for (int c = 0; c < b->schema->nfields; c++)
        if (b->own_cols[c].values) {
            b->cols[c].values = b->own_cols[c].values;
            b->cols[c].data = b->own_cols[c].data;
            b->own_cols[c].values = NULL;
        }
    sp_batch_release(b->dep);
    b->dep = NULL;
}

void sp_batch_borrow_column(sp_batch_t *b, int c, sp_batch_t *src, int from)
{
    if (!b->dep) b->dep = sp_batch_acquire(src);
    b->own_cols[c] = b->cols[c];
    b->cols[c].values = src->cols[from].values;
    b->cols[c].data = src->cols[from].data;
}

static void batch_free(sp_batch_t *b, const spate_schema_t *s)
{
    for (int i = 0; i < s->nfields; i++) free(b->cols[i].data);
    account(-(ssize_t)b->bytes);
    free(b);
}

void sp_batch_pool_drain(spate_schema_t *s)
{
    sp_batch_t *b = s->pool;
    s->pool = NULL;
    s->pool_len = 0;
    while (b) {
        sp_batch_t *next = b->next;
        batch_free(b, s);
        b = next;
    }
}

void sp_batch_release(sp_batch_t *b)
{
    if (!b || atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1) return;
    spate_schema_t *s = b->schema;
    if (b->parent) { /* projection: only the header is ours */
        sp_batch_release(b->parent);
        account(-(ssize_t)b->bytes);
        free(b);
        spate_schema_release(s);
        return;
    }
    unborrow(b);
    sp_batch_cache_t *tc = tl_cache;
    if (tc && b->capacity == SP_BATCH_CAPACITY && tc->n < SP_BATCH_CACHE_MAX) {
        tc->b[tc->n++] = b; /* keeps its schema reference */
        return;
    }
    pool_put(b);
}

/* Returns an unreferenced batch (holding a schema reference) to its schema's pool, or frees it. */
static void pool_put(sp_batch_t *b)
{
    spate_schema_t *s = b->schema;
    bool pooled = false;
    if (b->capacity == SP_BATCH_CAPACITY) {
        pthread_mutex_lock(&s->pool_mu);
        if (s->pool_len < POOL_MAX) {
            b->next = s->pool;
            s->pool = b;
            s->pool_len++;
            pooled = true;
        }
        pthread_mutex_unlock(&s->pool_mu);
    }
    if (!pooled) batch_free(b, s);
    spate_schema_release(s);
}

sp_batch_t *sp_batch_retime(sp_batch_t *src)
{
    int n = src->schema->nfields;
    size_t ts_off = ALIGN8(sizeof(sp_batch_t)) + ALIGN8(sizeof(sp_column_t) * (size_t)n);
    size_t size = ts_off + 8 * (size_t)(src->count ? src->count : 1);
    sp_batch_t *b = sp_xmalloc(size);
    memset(b, 0, sizeof *b);
    b->cols = (sp_column_t *)((char *)b + ALIGN8(sizeof(sp_batch_t)));
    memcpy(b->cols, src->cols, sizeof(sp_column_t) * (size_t)n);
    b->timestamps = (int64_t *)((char *)b + ts_off);
    memcpy(b->timestamps, src->timestamps, 8 * (size_t)src->count);
    atomic_init(&b->refs, 1);
    b->schema = spate_schema_acquire(src->schema);
    b->count = src->count;
    b->capacity = src->count;
    b->kinds = src->kinds;
    b->parent = sp_batch_acquire(src);
    b->bytes = size;
    account((ssize_t)size);
    return b;
}

sp_batch_t *sp_batch_project(sp_batch_t *src, const spate_schema_t *schema, const int *idx, int n)
{
    size_t size = ALIGN8(sizeof(sp_batch_t)) + sizeof(sp_column_t) * (size_t)n;
    sp_batch_t *b = sp_xmalloc(size);
    memset(b, 0, sizeof *b);
    b->cols = (sp_column_t *)((char *)b + ALIGN8(sizeof(sp_batch_t)));
    for (int i = 0; i < n; i++) b->cols[i] = src->cols[idx[i]];
    atomic_init(&b->refs, 1);
    b->schema = spate_schema_acquire(schema);
    b->count = src->count;
    b->capacity = src->count;
    b->kinds = src->kinds;
    b->timestamps = src->timestamps;
    b->parent = sp_batch_acquire(src);
    b->bytes = size;
    account((ssize_t)size);
    return b;
}

void sp_batch_reserve_data(sp_batch_t *b, int c, size_t extra)
{
    sp_column_t *col = &b->cols[c];
    size_t used = (size_t)((int32_t *)col->values)[b->count];
    if (used + extra <= col->data_cap) return;
    size_t cap = col->data_cap ? col->data_cap : 256;
    while (cap < used + extra) cap *= 2;
    if (cap > INT32_MAX && used + extra <= INT32_MAX) cap = INT32_MAX; /* doubling overshot: still fits */
    if (cap > INT32_MAX) {
        /* Offsets are int32 (Arrow's non-large layout): a batch's column holds < 2 GiB. */
        fprintf(stderr, "spate: batch column data over 2 GiB\n");
        abort();
    }
    col->data = sp_xrealloc(col->data, cap);
    account((ssize_t)(cap - col->data_cap));
    b->bytes += cap - col->data_cap;
    col->data_cap = (uint32_t)cap;
}

void sp_batch_append_row(sp_batch_t *dst, const sp_batch_t *src, uint32_t r)
{
    sp_batch_append_rows(dst, src, &r, 1);
}

void sp_batch_append_rows(sp_batch_t *dst, const sp_batch_t *src, const uint32_t *sel, uint32_t n)
{
    const spate_schema_t *s = dst->schema;
    uint32_t at = dst->count;
    for (int c = 0; c < s->nfields; c++) { /* column by column: each loop is short and predictable */
        const sp_field_t *f = &s->fields[c];
        const sp_column_t *sc = &src->cols[c];
        sp_column_t *dc = &dst->cols[c];
        const uint8_t *svalid = sc->validity;
        uint8_t *dvalid = dc->validity;
        for (uint32_t k = 0; k < n; k++) sp_bit_set(dvalid, at + k, sp_bit_get(svalid, sel[k]));
        if (sp_type_is_varlen(f->type)) {
            const int32_t *so = sc->values;
            size_t total = 0;
            for (uint32_t k = 0; k < n; k++)
                if (sp_bit_get(svalid, sel[k])) total += (size_t)(so[sel[k] + 1] - so[sel[k]]);
            sp_batch_reserve_data(dst, c, total);
            int32_t *dof = dc->values, off = dof[at];
            for (uint32_t k = 0; k < n; k++) {
                uint32_t r = sel[k];
                int32_t len = sp_bit_get(svalid, r) ? so[r + 1] - so[r] : 0;
                memcpy(dc->data + off, sc->data + so[r], (size_t)len);
                dof[at + k + 1] = off += len;
            }
        } else if (f->type == SPATE_TYPE_BOOLEAN) {
            for (uint32_t k = 0; k < n; k++) sp_bit_set(dc->values, at + k, sp_bit_get(sc->values, sel[k]));
        } else if (f->width == 8) {
            const uint64_t *sv = sc->values;
            uint64_t *dv = (uint64_t *)dc->values + at;
            for (uint32_t k = 0; k < n; k++) dv[k] = sv[sel[k]];
        } else {
            size_t wd = f->width;
            for (uint32_t k = 0; k < n; k++)
                memcpy((char *)dc->values + wd * (at + k), (const char *)sc->values + wd * sel[k], wd);
        }
    }
    /* through locals: stores through dst's arrays could otherwise change the pointers, which the
     * compiler then loads again for every row */
    const uint8_t *sk = src->kinds;
    const int64_t *st = src->timestamps;
    uint8_t *dk = dst->kinds + at;
    int64_t *dt = dst->timestamps + at;
    for (uint32_t k = 0; k < n; k++) {
        dk[k] = sk[sel[k]];
        dt[k] = st[sel[k]];
    }
    dst->count = at + n;
}
