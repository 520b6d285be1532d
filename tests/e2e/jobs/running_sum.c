/* running_sum — a keyed running reduce in STREAMING mode: CSV "key,value" in, every update "key,sum" out. */
#include <spate/spate.h>

#include <stdio.h>

int spate_job_main(spate_env_t *env, int argc, char **argv)
{
    const char *in = spate_arg(argc, argv, "--input"), *out = spate_arg(argc, argv, "--output");
    if (!in || !out) {
        fprintf(stderr, "usage: running_sum.so --input FILE --output DIR\n");
        return SPATE_EINVAL;
    }
    spate_schema_t *schema = spate_schema_of("key STRING NOT NULL, value BIGINT NOT NULL");
    spate_stream_t *s = spate_env_add_source(env, spate_file_csv_source(in, schema, NULL), "csv");
    s = spate_keyed_sum(spate_stream_key_by_field(s, "key"), "value");
    spate_stream_sink(s, spate_file_sink(out, NULL), "out");
    spate_schema_release(schema);
    return SPATE_OK;
}
