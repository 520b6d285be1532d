/* connector.c — source/sink wrappers and the rows-per-second limit shared by the connectors. */
#include "connectors/connector.h"

#include <math.h>

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
