/* connector.c — source/sink wrappers and the rows-per-second limit shared by the connectors. */
#include "connectors/connector.h"

#include <math.h>
#include <string.h>

spate_source_t *sp_source_new(const sp_source_vtable_t *vt, void *spec, const spate_schema_t *schema,
                              bool bounded, bool parallel)
{
    spate_source_t *s = sp_xcalloc(1, sizeof *s);
    s->vt = vt;
    s->spec = spec;
    s->schema = spate_schema_acquire(schema);
    s->bounded = bounded;
    s->parallel = parallel;
    return s;
}

spate_sink_t *sp_sink_new(const sp_sink_vtable_t *vt, void *spec)
{
    spate_sink_t *s = sp_xcalloc(1, sizeof *s);
    s->vt = vt;
    s->spec = spec;
    return s;
}

void spate_source_destroy(spate_source_t *s)
{
    if (!s) return;
    if (s->vt->destroy) s->vt->destroy(s->spec);
    spate_schema_release(s->schema);
    free(s);
}

void spate_sink_destroy(spate_sink_t *s)
{
    if (!s) return;
    if (s->vt->destroy) s->vt->destroy(s->spec);
    free(s);
}

const spate_schema_t *spate_source_schema(const spate_source_t *s)
{
    return s ? s->schema : NULL;
}

/* ---- rows-per-second limit ---- */

void sp_rate_limit_init(sp_rate_limit_t *l, double rows_per_second)
{
    l->per_sec = rows_per_second > 0 ? rows_per_second : 0;
    l->t0_ns = 0;
    l->sent = 0;
}

int64_t sp_rate_limit_budget(sp_rate_limit_t *l, int64_t *wait_ms)
{
    if (l->per_sec <= 0) return INT64_MAX;
    int64_t now = sp_clock_mono_ns();
    if (l->t0_ns == 0) l->t0_ns = now;
    double elapsed = (double)(now - l->t0_ns) / 1e9;
    int64_t allowed = (int64_t)floor(elapsed * l->per_sec) + 1; /* the first row goes at once */
    if (allowed > l->sent) return allowed - l->sent;
    double next = (double)l->sent / l->per_sec; /* seconds after t0 when row `sent` may go */
    int64_t ms = (int64_t)ceil((next - elapsed) * 1000.0);
    *wait_ms = SP_MAX(1, SP_MIN(ms, 100));
    return 0;
}

void sp_rate_limit_sent(sp_rate_limit_t *l, int64_t n)
{
    l->sent += n;
}

uint8_t *sp_source_pos_encode(int kind, const uint64_t *v, int n, size_t *len)
{
    *len = 2 + 8 * (size_t)n;
    uint8_t *b = sp_xmalloc(*len);
    b[0] = 1;
    b[1] = (uint8_t)kind;
    for (int i = 0; i < n; i++) sp_put_le(b + 2 + 8 * i, v[i], 8);
    return b;
}

int sp_source_pos_decode(const uint8_t *bytes, size_t len, int kind, uint64_t *v, int n, const char *name,
                         sp_error_t *err)
{
    if (!bytes || len != 2 + 8 * (size_t)n || bytes[0] != 1 || bytes[1] != (uint8_t)kind)
        return sp_error_set(err, SPATE_EPARSE, "%s: bad checkpointed position (%zu bytes)", name, len);
    for (int i = 0; i < n; i++) v[i] = sp_get_le(bytes + 2 + 8 * i, 8);
    return SPATE_OK;
}

/* ---- split positions (connector.h) ---- */

uint8_t *sp_source_splits_encode(int kind, uint64_t count, const uint64_t *v, int n, int m, size_t *len)
{
    size_t words = 2 + (size_t)n * (size_t)(1 + m);
    *len = 2 + 8 * words;
    uint8_t *b = sp_xmalloc(*len);
    b[0] = 2;
    b[1] = (uint8_t)kind;
    sp_put_le(b + 2, count, 8);
    sp_put_le(b + 10, (uint64_t)n, 8);
    for (size_t i = 0; i < (size_t)n * (size_t)(1 + m); i++) sp_put_le(b + 18 + 8 * i, v[i], 8);
    return b;
}

static int by_split(const void *a, const void *b)
{
    uint32_t x = ((const sp_split_pos_t *)a)->split, y = ((const sp_split_pos_t *)b)->split;
    return x < y ? -1 : x > y;
}

int sp_source_splits_decode(const uint8_t *const *positions, const size_t *lens, int npos, int kind, int m,
                            uint32_t v1_first, uint32_t v1_count, bool complete, const char *name,
                            sp_split_pos_t **out, int *nout, uint32_t *count, sp_error_t *err)
{
    *out = NULL;
    *nout = 0;
    *count = 0;
    sp_split_pos_t *all = NULL;
    int n = 0, cap = 0, rc = SPATE_OK;
    uint64_t have = 0; /* the split count, 0 until the first position */
    for (int i = 0; rc == SPATE_OK && i < npos; i++) {
        const uint8_t *b = positions[i];
        size_t len = lens[i];
        if (!b) continue;
        uint64_t c, k;
        const uint8_t *p;
        if (len == 2 + 8 * (size_t)m && b[0] == 1 && b[1] == (uint8_t)kind) { /* version 1: one split */
            c = v1_count;
            k = 1;
            p = NULL;
        } else if (len >= 18 && b[0] == 2 && b[1] == (uint8_t)kind) {
            c = sp_get_le(b + 2, 8);
            k = sp_get_le(b + 10, 8);
            p = b + 18;
            if (c == 0 || c > INT32_MAX || k > c || len != 18 + 8 * (size_t)k * (size_t)(1 + m)) {
                rc = sp_error_set(err, SPATE_EPARSE, "%s: bad checkpointed position (%zu bytes)", name, len);
                break;
            }
        } else {
            rc = sp_error_set(err, SPATE_EPARSE, "%s: bad checkpointed position (%zu bytes)", name, len);
            break;
        }
        if (have && c != have) {
            rc = sp_error_set(err, SPATE_EPARSE,
                              "%s: bad checkpointed position: split counts differ (%llu and %llu)", name,
                              (unsigned long long)have, (unsigned long long)c);
            break;
        }
        have = c;
        for (uint64_t j = 0; j < k; j++) {
            if (n == cap) all = sp_xrealloc(all, sizeof *all * (size_t)(cap = cap ? 2 * cap : 8));
            sp_split_pos_t *sp = &all[n];
            memset(sp, 0, sizeof *sp);
            uint64_t s;
            if (p) {
                const uint8_t *w = p + 8 * j * (uint64_t)(1 + m);
                s = sp_get_le(w, 8);
                for (int x = 0; x < m; x++) sp->v[x] = sp_get_le(w + 8 + 8 * x, 8);
            } else {
                s = (uint64_t)v1_first + (uint64_t)i;
                for (int x = 0; x < m; x++) sp->v[x] = sp_get_le(b + 2 + 8 * x, 8);
            }
            if (s >= c) {
                rc = sp_error_set(err, SPATE_EPARSE, "%s: bad checkpointed position: split %llu of %llu",
                                  name, (unsigned long long)s, (unsigned long long)c);
                break;
            }
            sp->split = (uint32_t)s;
            n++;
        }
    }
    if (rc == SPATE_OK && n > 1) {
        qsort(all, (size_t)n, sizeof *all, by_split);
        for (int i = 1; rc == SPATE_OK && i < n; i++)
            if (all[i].split == all[i - 1].split)
                rc = sp_error_set(err, SPATE_EPARSE, "%s: bad checkpointed position: split %u given twice",
                                  name, all[i].split);
    }
    if (rc == SPATE_OK && complete && have && (uint64_t)n != have) {
        uint32_t missing = 0;
        for (int i = 0; i < n && all[i].split == missing; i++) missing++;
        rc =
            sp_error_set(err, SPATE_EPARSE, "%s: bad checkpointed position: no position for split %u of %llu",
                         name, missing, (unsigned long long)have);
    }
    if (rc != SPATE_OK) {
        free(all);
        return rc;
    }
    *out = all;
    *nout = n;
    *count = (uint32_t)have;
    return SPATE_OK;
}
