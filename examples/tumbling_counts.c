/*
 * tumbling_counts — counts per key per tumbling event-time window, with
 * allowed lateness and late records to a side output.
 *
 *   spate run build/examples/tumbling_counts.so [-p N] -- --input FILE --output DIR --window-ms W
 *       --out-of-orderness-ms D [--allowed-lateness-ms L] [--late-output DIR] [--rate N]
 *
 * --rate N: the file source emits at most N records per second (a run can be
 * interrupted part-way).
 *
 * Input: CSV "key,timestamp_ms", read in order by one source instance that
 * emits a watermark after every record: the largest timestamp seen - D - 1,
 * as Flink's bounded-out-of-orderness generator computes it (the built-in
 * strategy with per-record emission), so the output is the same at any
 * parallelism.  Output: "key,window_start,window_end,count" (end
 * exclusive) each time a window fires: when the watermark passes it, and
 * again for each record that arrives within the allowed lateness after it
 * fired.  Records later than that go, as their input line, to --late-output
 * (dropped without it).
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
    const char *w = spate_arg(argc, argv, "--window-ms"), *d = spate_arg(argc, argv, "--out-of-orderness-ms");
    const char *l = spate_arg(argc, argv, "--allowed-lateness-ms"),
               *late = spate_arg(argc, argv, "--late-output");
    if (!in || !out || !w || !d) {
        fprintf(stderr,
                "usage: tumbling_counts.so --input FILE --output DIR --window-ms W --out-of-orderness-ms D "
                "[--allowed-lateness-ms L] [--late-output DIR] [--rate N]\n");
        return SPATE_EINVAL;
    }
    int64_t ooo = atoll(d);
    spate_schema_t *rows = spate_schema_of("key STRING NOT NULL, timestamp_ms BIGINT NOT NULL");
    spate_csv_options_t csv;
    spate_csv_options_init(&csv);
    const char *rate = spate_arg(argc, argv, "--rate"); /* records per second, to interrupt a run part-way */
    csv.rows_per_second = rate ? atoll(rate) : 0;
    spate_schema_t *counts =
        spate_schema_of("key STRING NOT NULL, window_start BIGINT, window_end BIGINT, count BIGINT");
    spate_watermark_strategy_t *ws = spate_watermark_for_bounded_out_of_orderness(ooo);
    spate_watermark_with_timestamp_field(ws, "timestamp_ms");
    spate_watermark_with_per_record_emission(ws); /* after every record, not periodically */
    spate_stream_t *s =
        spate_env_add_source_with_watermarks(env, spate_file_csv_source(in, rows, &csv), ws, "records");
    spate_windowed_t *win =
        spate_keyed_window(spate_stream_key_by_field(s, "key"), spate_tumbling_windows(atoll(w), 0));
    if (l) spate_windowed_allowed_lateness(win, atoll(l));
    spate_aggregate_function_t count = {
        .acc_size = sizeof(int64_t), .create = count_create, .add = count_add, .emit = count_emit
    };
    spate_stream_t *result = spate_windowed_aggregate(win, "count", &count, counts);
    spate_stream_sink(result, spate_file_sink(out, NULL), "counts");
    if (late) spate_stream_sink(spate_window_late_data(result), spate_file_sink(late, NULL), "late");
    spate_schema_release(rows);
    spate_schema_release(counts);
    return SPATE_OK;
}
