/*
 * fraud_detection — Flink's fraud-detection walkthrough in event time.
 *
 *   spate run build/examples/fraud_detection.so [--parallelism N] -- --input FILE --output DIR [--rate N]
 *
 * --rate N: the file source emits at most N records per second (a run can be
 * interrupted part-way).
 *
 * Input: CSV "account_id,timestamp_ms,amount" in timestamp order, read by one
 * source instance (watermark = largest timestamp - 1, monotonous).  Keyed by
 * account, at the job's parallelism, a keyed process function keeps the
 * time of the account's last small transaction (under 1.00) in value state:
 * a transaction over 500.00 at most 60,000 ms after it raises an alert; any
 * other transaction clears the flag; an event-time timer clears it one
 * minute after the small transaction, so idle accounts keep no state.
 * Output: one "account_id,timestamp_ms" line per alert (the large
 * transaction's timestamp), in part files in DIR.
 */
#include <spate/spate.h>

#include <stdio.h>
#include <stdlib.h>

#define WINDOW_MS 60000

typedef struct detector {
    spate_value_state_t *small_at; /* int64: timestamp of the last transaction under 1.00 */
} detector_t;

static int open_fn(void *ctx, spate_keyed_context_t *kc, void **state)
{
    (void)ctx;
    detector_t *d = calloc(1, sizeof *d);
    if (!d) return SPATE_ENOMEM;
    d->small_at = spate_keyed_value_state(kc, "small-transaction-time");
    *state = d;
    return SPATE_OK;
}

static int process_fn(void *state, const spate_row_t *in, spate_keyed_context_t *kc, spate_collector_t *out)
{
    detector_t *d = state;
    int64_t ts = spate_row_get_bigint(in, 1);
    bool ok;
    int64_t cents = spate_decimal_to_i64(spate_row_get_decimal(in, 2), &ok); /* DECIMAL(12,2): cents */
    int64_t small_at;
    bool flagged = spate_value_state_get(kc, d->small_at, &small_at, sizeof small_at) == sizeof small_at;
    if (flagged && cents > 50000 && ts - small_at <= WINDOW_MS) {
        spate_out_set_bigint(out, 0, spate_row_get_bigint(in, 0));
        spate_out_set_bigint(out, 1, ts);
        int rc = spate_out_emit(out);
        if (rc) return rc;
    }
    if (flagged) { /* the flag describes only the immediately preceding transaction */
        spate_timer_delete_event_time(kc, small_at + WINDOW_MS);
        spate_value_state_clear(kc, d->small_at);
    }
    if (cents < 100) {
        spate_value_state_set(kc, d->small_at, &ts, sizeof ts);
        spate_timer_register_event_time(kc, ts + WINDOW_MS);
    }
    return SPATE_OK;
}

static int on_timer_fn(void *state, int64_t timestamp, spate_time_domain_t domain, spate_keyed_context_t *kc,
                       spate_collector_t *out)
{
    detector_t *d = state;
    (void)timestamp;
    (void)domain;
    (void)out;
    spate_value_state_clear(kc, d->small_at); /* a minute has passed: forget the small transaction */
    return SPATE_OK;
}

int spate_job_main(spate_env_t *env, int argc, char **argv)
{
    const char *in = spate_arg(argc, argv, "--input"), *out = spate_arg(argc, argv, "--output");
    if (!in || !out) {
        fprintf(stderr, "usage: fraud_detection.so --input FILE --output DIR [--rate N]\n");
        return SPATE_EINVAL;
    }
    spate_schema_t *tx = spate_schema_of("account_id BIGINT NOT NULL, timestamp_ms BIGINT NOT NULL, "
                                         "amount DECIMAL(12, 2) NOT NULL");
    spate_schema_t *alerts = spate_schema_of("account_id BIGINT NOT NULL, timestamp_ms BIGINT NOT NULL");
    spate_csv_options_t csv;
    spate_csv_options_init(&csv);
    const char *rate = spate_arg(argc, argv, "--rate"); /* records per second, to interrupt a run part-way */
    csv.rows_per_second = rate ? atoll(rate) : 0;
    spate_watermark_strategy_t *ws =
        spate_watermark_with_timestamp_field(spate_watermark_for_monotonous_timestamps(), "timestamp_ms");
    spate_stream_t *s =
        spate_env_add_source_with_watermarks(env, spate_file_csv_source(in, tx, &csv), ws, "transactions");
    spate_keyed_process_function_t fn = {
        .open = open_fn, .process = process_fn, .on_timer = on_timer_fn, .close = free
    };
    s = spate_keyed_process(spate_stream_key_by_field(s, "account_id"), "fraud-detector", &fn, alerts);
    spate_file_sink_options_t o;
    spate_file_sink_options_init(&o);
    spate_stream_sink(s, spate_file_sink(out, &o), "alerts");
    spate_schema_release(tx);
    spate_schema_release(alerts);
    return SPATE_OK;
}
