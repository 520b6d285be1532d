/*
 * nexmark_demo — the job `make demo` runs: bids per channel over a bounded
 * Nexmark stream, with the number of bids, their average and top price.
 *
 *   spate run build/examples/nexmark_demo.so [--parallelism N] [-- --events N]
 *
 * Bids on the four hot channels (Google, Facebook, Baidu, Apple) keep their
 * channel; the 10,000 others count as "other".  The source is bounded
 * (events.num, default 2,000,000), so in AUTOMATIC mode the job runs as a
 * batch job and prints one final line per channel, as Flink's print sink
 * does ("+I[channel, bids, avg_price, max_price]").
 */
#include <spate/spate.h>

#include <stdlib.h>
#include <string.h>

/* bids -> (channel, bids, volume, max_price) */
static int to_stats(void *ctx, const spate_row_t *bid, spate_collector_t *out)
{
    (void)ctx;
    static const char *const hot[] = { "Google", "Facebook", "Baidu", "Apple" };
    spate_str_t ch = spate_row_get_string(bid, 3);
    const char *name = "other";
    for (int i = 0; i < 4; i++)
        if (ch.len == strlen(hot[i]) && memcmp(ch.ptr, hot[i], ch.len) == 0) name = hot[i];
    int64_t price = spate_row_get_bigint(bid, 2);
    spate_out_set_string(out, 0, name, strlen(name));
    spate_out_set_bigint(out, 1, 1);
    spate_out_set_bigint(out, 2, price);
    spate_out_set_bigint(out, 3, price);
    return spate_out_emit(out);
}

static int combine(void *ctx, const spate_row_t *acc, const spate_row_t *in, spate_collector_t *out)
{
    (void)ctx;
    spate_out_copy_field(out, 0, acc, 0);
    spate_out_set_bigint(out, 1, spate_row_get_bigint(acc, 1) + spate_row_get_bigint(in, 1));
    spate_out_set_bigint(out, 2, spate_row_get_bigint(acc, 2) + spate_row_get_bigint(in, 2));
    int64_t a = spate_row_get_bigint(acc, 3), b = spate_row_get_bigint(in, 3);
    spate_out_set_bigint(out, 3, a > b ? a : b);
    return spate_out_emit(out);
}

/* (channel, bids, volume, max) -> (channel, bids, avg_price, max_price) */
static int to_report(void *ctx, const spate_row_t *s, spate_collector_t *out)
{
    (void)ctx;
    int64_t bids = spate_row_get_bigint(s, 1);
    spate_out_copy_field(out, 0, s, 0);
    spate_out_set_bigint(out, 1, bids);
    spate_out_set_double(out, 2, bids ? (double)(spate_row_get_bigint(s, 2) / bids) : 0);
    spate_out_copy_field(out, 3, s, 3);
    return spate_out_emit(out);
}

int spate_job_main(spate_env_t *env, int argc, char **argv)
{
    const char *events = spate_arg(argc, argv, "--events");
    spate_nexmark_options_t opts;
    spate_nexmark_options_init(&opts);
    opts.events_num = events ? strtoull(events, NULL, 10) : 2000000;
    spate_env_set_config(env, "execution.runtime-mode", "AUTOMATIC");

    spate_schema_t *stats = spate_schema_of("channel STRING, bids BIGINT, volume BIGINT, max_price BIGINT");
    spate_schema_t *report =
        spate_schema_of("channel STRING, bids BIGINT, avg_price DOUBLE, max_price BIGINT");
    spate_stream_t *bids =
        spate_env_add_source(env, spate_nexmark_source(&opts, SPATE_NEXMARK_BIDS), "nexmark-bids");
    spate_stream_t *s = spate_stream_map(bids, "per-channel", to_stats, NULL, stats);
    s = spate_keyed_reduce(spate_stream_key_by_field(s, "channel"), "combine", combine, NULL);
    s = spate_stream_map(s, "report", to_report, NULL, report);
    spate_print_options_t print = { .to_stderr = false, .prefix = "bids per channel" };
    spate_stream_sink(s, spate_print_sink(&print), "print");
    spate_schema_release(stats);
    spate_schema_release(report);
    return SPATE_OK;
}
