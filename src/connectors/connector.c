/* connector.c — source/sink wrappers shared by every connector. */
#include "connectors/connector.h"

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
