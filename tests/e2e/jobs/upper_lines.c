/*
 * upper_lines — a test job for checkpoints: the lines of --input, at most
 * --rate per second, upper-cased into the exactly-once file sink in
 * --output (STREAMING, so checkpoints are taken).
 */
#include <spate/spate.h>

#include <stdio.h>
#include <stdlib.h>

static int upper(void *ctx, const spate_row_t *in, spate_collector_t *out)
{
    (void)ctx;
    spate_str_t s = spate_row_get_string(in, 0);
    char buf[256];
    size_t n = s.len < sizeof buf ? s.len : sizeof buf - 1;
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)(s.ptr[i] >= 'a' && s.ptr[i] <= 'z' ? s.ptr[i] - 32 : s.ptr[i]);
    spate_out_set_string(out, 0, buf, n);
    return spate_out_emit(out);
}

int spate_job_main(spate_env_t *env, int argc, char **argv)
{
    const char *in = spate_arg(argc, argv, "--input"), *out = spate_arg(argc, argv, "--output"),
               *rate = spate_arg(argc, argv, "--rate");
    if (!in || !out) {
        fprintf(stderr, "usage: upper_lines.so --input FILE --output DIR [--rate N]\n");
        return SPATE_EINVAL;
    }
    spate_stream_t *s =
        spate_env_add_source(env, spate_file_text_source_rate(in, rate ? atoll(rate) : 0), "lines");
    s = spate_stream_map(s, "upper", upper, NULL, NULL);
    spate_file_sink_options_t o;
    spate_file_sink_options_init(&o);
    o.format = SPATE_FORMAT_TEXT;
    spate_stream_sink(s, spate_file_sink(out, &o), "parts");
    return SPATE_OK;
}
