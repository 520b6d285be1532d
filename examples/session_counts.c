/*
 * session_counts — counts per key per event-time session window.
 *
 *   spate run build/examples/session_counts.so [-p N] -- --input FILE --output DIR --gap-ms G
 *       [--out-of-orderness-ms D] [--rate N]
 *
 * --rate N: the file source emits at most N records per second (a run can be
 * interrupted part-way).
 *
 * Input: CSV "key,timestamp_ms", read in order by one source instance with
 * a watermark after every record (largest timestamp - D - 1; D defaults to
 * 0).  Each record opens [t, t + G); sessions of a key that overlap or touch
 * merge.  Output: "key,session_start,session_end,count", session_start the
 * first timestamp, session_end the last timestamp + G.
 */
#include <spate/spate.h>

#include <stdio.h>
#include <stdlib.h>

static void count_create(void *ctx, void *acc)
{
    (void)ctx;
    *(int64_t *)acc = 0;
}

static int count_add(void *ctx, void *acc, const spate_row_t *in)
{
    (void)ctx;
    (void)in;
    ++*(int64_t *)acc;
    return SPATE_OK;
}

static void count_merge(void *ctx, void *acc, const void *other)
{
    (void)ctx;
    *(int64_t *)acc += *(const int64_t *)other;
}

static int count_emit(void *ctx, const void *acc, const spate_window_t *w, const spate_row_t *key_row,
                      spate_collector_t *out)
{
    (void)ctx;
    spate_out_copy_field(out, 0, key_row, 0);
    spate_out_set_bigint(out, 1, w->start);
    spate_out_set_bigint(out, 2, w->end);
    spate_out_set_bigint(out, 3, *(const int64_t *)acc);
    return spate_out_emit(out);
}

int spate_job_main(spate_env_t *env, int argc, char **argv)
{
    const char *in = spate_arg(argc, argv, "--input"), *out = spate_arg(argc, argv, "--output");
    const char *gap = spate_arg(argc, argv, "--gap-ms"), *d = spate_arg(argc, argv, "--out-of-orderness-ms");
    if (!in || !out || !gap) {
        fprintf(stderr, "usage: session_counts.so --input FILE --output DIR --gap-ms G "
                        "[--out-of-orderness-ms D] [--rate N]\n");
        return SPATE_EINVAL;
    }
    int64_t ooo = d ? atoll(d) : 0;
    spate_schema_t *rows = spate_schema_of("key STRING NOT NULL, timestamp_ms BIGINT NOT NULL");
    spate_csv_options_t csv;
    spate_csv_options_init(&csv);
    const char *rate = spate_arg(argc, argv, "--rate"); /* records per second, to interrupt a run part-way */
    csv.rows_per_second = rate ? atoll(rate) : 0;
    spate_schema_t *counts =
        spate_schema_of("key STRING NOT NULL, session_start BIGINT, session_end BIGINT, count BIGINT");
    spate_watermark_strategy_t *ws = spate_watermark_for_bounded_out_of_orderness(ooo);
    spate_watermark_with_timestamp_field(ws, "timestamp_ms");
    spate_watermark_with_per_record_emission(ws); /* after every record, not periodically */
    spate_stream_t *s =
        spate_env_add_source_with_watermarks(env, spate_file_csv_source(in, rows, &csv), ws, "records");
    spate_windowed_t *win =
        spate_keyed_window(spate_stream_key_by_field(s, "key"), spate_session_windows(atoll(gap)));
    spate_aggregate_function_t count = { .acc_size = sizeof(int64_t),
                                         .create = count_create,
                                         .add = count_add,
                                         .merge = count_merge,
                                         .emit = count_emit };
    spate_stream_sink(spate_windowed_aggregate(win, "sessions", &count, counts), spate_file_sink(out, NULL),
                      "sessions");
    spate_schema_release(rows);
    spate_schema_release(counts);
    return SPATE_OK;
}
