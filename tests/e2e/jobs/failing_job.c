/* failing_job — a job whose flat_map fails on the row number given by --fail-at (default 100). */
#include <spate/spate.h>

#include <stdlib.h>

static int fail_at(void *ctx, const spate_row_t *in, spate_collector_t *out)
{
    int64_t *n = ctx;
    if (spate_row_get_bigint(in, 0) == *n) return spate_out_fail(out, "row %lld is cursed", (long long)*n);
    return spate_out_emit_row(out, in);
}

static int64_t limit = 100;

int spate_job_main(spate_env_t *env, int argc, char **argv)
{
    const char *at = spate_arg(argc, argv, "--fail-at");
    if (at) limit = atoll(at);
    spate_datagen_field_t f = { .kind = SPATE_DATAGEN_SEQUENCE, .start = 0, .end = 99999 };
    spate_datagen_options_t o;
    spate_datagen_options_init(&o);
    o.fields = &f;
    spate_schema_t *schema = spate_schema_of("n BIGINT");
    spate_stream_t *s = spate_env_add_source(env, spate_datagen_source(schema, &o), "numbers");
    s = spate_stream_flat_map(s, "fail-on-row", fail_at, &limit, NULL);
    spate_stream_sink(s, spate_blackhole_sink(), "discard");
    spate_schema_release(schema);
    return SPATE_OK;
}
