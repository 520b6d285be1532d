/*
 * test_eventtime.c — timestamp assigners and watermark strategies: a custom
 * generator's per-record watermarks arrive in order with the data; the
 * built-in strategies with per-record emission give max - bound - 1 right
 * after each record (also with an idle input, also with periodic emission
 * off), and refuse a custom generator; bounded out-of-orderness emits
 * periodically and never ahead of the data; an idle input stops holding the
 * watermark back only with idleness configured; a source's strategy runs
 * per parallel instance.
 */
#include "test_main.h"
#include "test_util.h"

#include <spate/spate.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a process function recording, per row, its timestamp and the watermark it saw ---- */

typedef struct seen {
    pthread_mutex_t mu;
    int64_t ts[4096], wm[4096];
    int n;
    int64_t max_wm; /* largest non-final watermark seen */
    int64_t ahead;  /* watermarks that were >= a timestamp already... (see check) */
    atomic_int rows;
} seen_t;

static void seen_init(seen_t *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->max_wm = INT64_MIN;
}

static int record(void *state, const spate_row_t *in, spate_context_t *c, spate_collector_t *out)
{
    seen_t *s = state;
    int64_t wm = spate_context_watermark(c);
    pthread_mutex_lock(&s->mu);
    if (s->n < 4096) {
        s->ts[s->n] = spate_row_event_time(in);
        s->wm[s->n] = wm;
        s->n++;
    }
    if (wm != INT64_MAX && wm > s->max_wm) s->max_wm = wm;
    pthread_mutex_unlock(&s->mu);
    atomic_fetch_add(&s->rows, 1);
    return spate_out_emit_row(out, in);
}

static const char *const ROWS[] = { "a,1000", "b,1500", "a,1200", "c,3000", "b,2000", "a,2500",
                                    "c,5000", "a,4000", "b,7000", "c,6500", "a,9000", "b,8000" };
#define NROWS ((int)(sizeof ROWS / sizeof ROWS[0]))

/* A punctuated generator: a watermark of ts - 1 right after each row of key "c" only. */
static void punct_on_event(void *state, int64_t ts, const spate_row_t *row, spate_watermark_output_t *out)
{
    (void)state;
    spate_str_t k = spate_row_get_string(row, 0);
    if (k.len == 1 && k.ptr[0] == 'c') spate_watermark_output_emit(out, ts - 1);
}

/* Runs ROWS (timestamps from "ts") through ws into a recording process function. */
static void run_rows(spate_watermark_strategy_t *ws, const char *interval, seen_t *seen)
{
    seen_init(seen);
    spate_env_t *env = spate_env_create();
    if (interval) spate_env_set_config(env, "pipeline.auto-watermark-interval", interval);
    spate_schema_t *schema = spate_schema_of("k STRING, ts BIGINT");
    spate_stream_t *s =
        spate_env_add_source_with_watermarks(env, spate_collection_source(schema, ROWS, NROWS),
                                             spate_watermark_with_timestamp_field(ws, "ts"), "rows");
    spate_process_function_t pf = { .ctx = seen, .process = record };
    spate_stream_sink(spate_stream_process(s, "record", &pf, NULL), spate_blackhole_sink(), "out");
    assert_int_equal(spate_env_execute(env, "rows"), SPATE_OK);
    assert_int_equal(seen->n, NROWS);
    for (int i = 0; i < NROWS; i++) assert_int_equal(seen->ts[i], atoll(strchr(ROWS[i], ',') + 1));
    spate_schema_release(schema);
    spate_env_destroy(env);
}

static void custom_generator_watermarks_follow_their_record(void **state)
{
    (void)state;
    seen_t seen;
    spate_watermark_generator_t g = { .on_event = punct_on_event };
    run_rows(spate_watermark_for_generator(&g), NULL, &seen);
    int64_t want = INT64_MIN; /* the watermark after the previous row */
    for (int i = 0; i < NROWS; i++) {
        assert_int_equal(seen.wm[i], want);
        if (ROWS[i][0] == 'c' && seen.ts[i] - 1 > want) want = seen.ts[i] - 1;
    }
}

/* Each row saw the watermark its predecessors made: their largest timestamp - bound - 1. */
static void assert_per_record(const seen_t *seen, int64_t bound)
{
    int64_t max = INT64_MIN;
    for (int i = 0; i < seen->n; i++) {
        assert_int_equal(seen->wm[i], i == 0 ? INT64_MIN : max - bound - 1);
        if (seen->ts[i] > max) max = seen->ts[i];
    }
}

static void per_record_emission_follows_each_record(void **state)
{
    (void)state;
    seen_t seen;
    /* bounded, with the default periodic interval: the per-record watermarks are all there is */
    run_rows(spate_watermark_with_per_record_emission(spate_watermark_for_bounded_out_of_orderness(500)),
             NULL, &seen);
    assert_per_record(&seen, 500);
    /* monotonous, also with periodic emission off */
    run_rows(spate_watermark_with_per_record_emission(spate_watermark_for_monotonous_timestamps()), "0 ms",
             &seen);
    assert_per_record(&seen, 0);
    /* a tiny interval changes nothing: periodic emission could only repeat the value */
    run_rows(spate_watermark_with_per_record_emission(spate_watermark_for_bounded_out_of_orderness(1000)),
             "1 ms", &seen);
    assert_per_record(&seen, 1000);
}

static void per_record_emission_needs_a_built_in_strategy(void **state)
{
    (void)state;
    spate_env_t *env = spate_env_create();
    spate_schema_t *schema = spate_schema_of("k STRING, ts BIGINT");
    spate_watermark_generator_t g = { .on_event = punct_on_event };
    spate_stream_t *s = spate_env_add_source_with_watermarks(
        env, spate_collection_source(schema, ROWS, NROWS),
        spate_watermark_with_per_record_emission(spate_watermark_for_generator(&g)), "rows");
    assert_null(s);
    assert_non_null(strstr(spate_env_error(env), "per-record emission needs a built-in strategy"));
    assert_null(spate_watermark_with_per_record_emission(NULL));
    spate_schema_release(schema);
    spate_env_destroy(env);
}

static void bounded_out_of_orderness_is_periodic_and_behind_the_data(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    char path[512];
    snprintf(path, sizeof path, "%s/in.csv", dir);
    FILE *f = fopen(path, "w");
    for (int i = 0; i < 600; i++)
        fprintf(f, "k%d,%d\n", i % 3, 10000 + i * 10 - (i % 4) * 25); /* out of order */
    fclose(f);
    seen_t seen;
    seen_init(&seen);
    spate_env_t *env = spate_env_create();
    spate_env_set_config(env, "pipeline.auto-watermark-interval", "20 ms");
    spate_schema_t *schema = spate_schema_of("k STRING, ts BIGINT");
    spate_csv_options_t o;
    spate_csv_options_init(&o);
    o.rows_per_second = 2000; /* 0.3 s: several periodic emissions */
    spate_watermark_strategy_t *ws =
        spate_watermark_with_timestamp_field(spate_watermark_for_bounded_out_of_orderness(100), "ts");
    spate_stream_t *s =
        spate_env_add_source_with_watermarks(env, spate_file_csv_source(path, schema, &o), ws, "csv");
    spate_process_function_t pf = { .ctx = &seen, .process = record };
    spate_stream_sink(spate_stream_process(s, "record", &pf, NULL), spate_blackhole_sink(), "out");
    assert_int_equal(spate_env_execute(env, "bounded"), SPATE_OK);
    assert_int_equal(seen.n, 600);
    int64_t max = INT64_MIN, last = INT64_MIN;
    int advances = 0;
    for (int i = 0; i < 600; i++) {
        /* the watermark a row sees was made from rows before it: at most their max - 100 - 1 */
        if (seen.wm[i] != INT64_MIN) assert_true(seen.wm[i] <= max - 101);
        assert_true(seen.wm[i] >= last); /* never goes back */
        if (seen.wm[i] > last) advances++;
        last = seen.wm[i];
        if (seen.ts[i] > max) max = seen.ts[i];
    }
    print_message("%d watermark advances over 600 rows\n", advances);
    assert_true(advances >= 3);
    spate_schema_release(schema);
    spate_env_destroy(env);
    tu_rm_rf(dir);
    free(dir);
}

/* One active rate-limited input (rows v = 1000 + i, in order) and one that never sends anything,
 * unioned. Periodic: both monotonous. Per record: the active one bounded by 5, the silent one
 * monotonous, both with per-record emission. The silent one declares itself idle after idle_ms
 * (0: never). */
#define IDLE_ROWS 600
static void union_with_idle_input(int64_t idle_ms, bool per_record, seen_t *seen)
{
    char *dir = tu_mkdtemp();
    char path[512];
    snprintf(path, sizeof path, "%s/in.csv", dir);
    FILE *f = fopen(path, "w");
    for (int i = 0; i < IDLE_ROWS; i++) fprintf(f, "%d,%d\n", i, 1000 + i);
    fclose(f);
    seen_init(seen);
    spate_env_t *env = spate_env_create();
    spate_env_set_config(env, "pipeline.auto-watermark-interval", "10 ms");
    spate_schema_t *schema = spate_schema_of("k BIGINT NOT NULL, v BIGINT NOT NULL");
    spate_csv_options_t o;
    spate_csv_options_init(&o);
    o.rows_per_second = 2000;
    spate_watermark_strategy_t *aws = per_record ? spate_watermark_for_bounded_out_of_orderness(5)
                                                 : spate_watermark_for_monotonous_timestamps();
    spate_watermark_strategy_t *iws = spate_watermark_for_monotonous_timestamps();
    if (per_record) {
        spate_watermark_with_per_record_emission(aws);
        spate_watermark_with_per_record_emission(iws);
    }
    spate_stream_t *active =
        spate_env_add_source_with_watermarks(env, spate_file_csv_source(path, schema, &o),
                                             spate_watermark_with_timestamp_field(aws, "v"), "active");
    spate_stream_t *idle = spate_env_add_source_with_watermarks(
        env, tu_idle_source(),
        spate_watermark_with_idleness(spate_watermark_with_timestamp_field(iws, "v"), idle_ms), "idle");
    spate_process_function_t pf = { .ctx = seen, .process = record };
    spate_stream_sink(spate_stream_process(spate_stream_union(active, idle), "record", &pf, NULL),
                      spate_blackhole_sink(), "out");
    spate_job_t *job;
    assert_int_equal(spate_env_start(env, "idle", &job), SPATE_OK);
    for (int i = 0; i < 500 && atomic_load(&seen->rows) < IDLE_ROWS; i++) sp_sleep_ms(10); /* bounded: 5 s */
    assert_int_equal(atomic_load(&seen->rows), IDLE_ROWS);
    sp_sleep_ms(50);
    spate_job_cancel(job);
    assert_int_equal(spate_job_wait(job), SPATE_ECANCELED);
    spate_job_destroy(job);
    spate_env_destroy(env);
    spate_schema_release(schema);
    tu_rm_rf(dir);
    free(dir);
}

static void an_idle_input_holds_back_the_watermark_unless_declared_idle(void **state)
{
    (void)state;
    seen_t seen;
    union_with_idle_input(0, false, &seen);
    assert_int_equal(seen.max_wm, INT64_MIN); /* waits for the silent input */
    union_with_idle_input(50, false, &seen);
    print_message("watermark with idleness: %lld\n", (long long)seen.max_wm);
    assert_true(seen.max_wm >= 1000 &&
                seen.max_wm <= 1000 + IDLE_ROWS - 1); /* the active input's went through */
}

static void per_record_emission_with_an_idle_input(void **state)
{
    (void)state;
    seen_t seen;
    union_with_idle_input(0, true, &seen);
    assert_int_equal(seen.max_wm, INT64_MIN); /* per record or not, it waits for the silent input */
    union_with_idle_input(50, true, &seen);
    /* until the silent input is idle, nothing; from then on each row sees the one before it - 5 - 1 */
    assert_int_equal(seen.n, IDLE_ROWS);
    int first = 0;
    while (first < seen.n && seen.wm[first] == INT64_MIN) first++;
    print_message("first row with a watermark: %d of %d\n", first, seen.n);
    assert_true(first > 0 && first < seen.n);
    for (int i = first; i < seen.n; i++) {
        assert_int_equal(seen.ts[i], 1000 + i);
        assert_int_equal(seen.wm[i], seen.ts[i - 1] - 5 - 1);
    }
}

static void timestamp_field_must_exist_and_be_a_time(void **state)
{
    (void)state;
    spate_schema_t *schema = spate_schema_of("k STRING, ts BIGINT, d DOUBLE");
    const char *rows[] = { "a,1,0.5" };
    const char *fields[] = { "nope", "d" };
    const char *want[] = { "'nope' does not exist", "'d' is not BIGINT or TIMESTAMP" };
    for (int i = 0; i < 2; i++) {
        spate_env_t *env = spate_env_create();
        spate_stream_t *s = spate_env_add_source(env, spate_collection_source(schema, rows, 1), "rows");
        s = spate_stream_assign_timestamps_and_watermarks(
            s, spate_watermark_with_timestamp_field(spate_watermark_for_monotonous_timestamps(), fields[i]));
        assert_null(s);
        assert_non_null(strstr(spate_env_error(env), want[i]));
        spate_env_destroy(env);
    }
    assert_null(spate_watermark_for_bounded_out_of_orderness(-1));
    spate_watermark_generator_t none = { 0 };
    assert_null(spate_watermark_for_generator(&none));
    spate_schema_release(schema);
}

static int64_t double_v(void *ctx, const spate_row_t *row)
{
    (void)ctx;
    return 2 * spate_row_get_bigint(row, 1);
}

/* A parallel source's strategy runs in every source instance, chained to it. */
static void source_strategy_runs_per_parallel_instance(void **state)
{
    (void)state;
    seen_t seen;
    seen_init(&seen);
    spate_env_t *env = spate_env_create();
    spate_env_set_parallelism(env, 2);
    tu_seq_opts_t o = { .n = 1000, .keys = 1, .parallel = true };
    spate_stream_t *s = spate_env_add_source_with_watermarks(
        env, tu_seq_source(&o),
        spate_watermark_with_timestamp_assigner(spate_watermark_for_monotonous_timestamps(), double_v, NULL),
        "seq");
    spate_process_function_t pf = { .ctx = &seen, .process = record };
    spate_stream_sink(spate_stream_process(s, "record", &pf, NULL), spate_blackhole_sink(), "out");
    spate_job_t *job;
    assert_int_equal(spate_env_start(env, "per-split", &job), SPATE_OK);
    assert_int_equal(spate_job_wait(job), SPATE_OK);
    char plan[4096];
    spate_env_describe(env, plan, sizeof plan);
    assert_non_null(strstr(plan, "kind=timestamps-watermarks parallelism=2"));
    assert_non_null(strstr(plan, "0 -> 1.0 DEFAULT")); /* forward, hence chained */
    spate_job_destroy(job);
    assert_int_equal(seen.n, 1000);
    for (int i = 0; i < seen.n; i++) assert_int_equal(seen.ts[i] % 2, 0); /* the assigner's timestamps */
    spate_env_destroy(env);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(custom_generator_watermarks_follow_their_record),
    cmocka_unit_test(per_record_emission_follows_each_record),
    cmocka_unit_test(per_record_emission_needs_a_built_in_strategy),
    cmocka_unit_test(bounded_out_of_orderness_is_periodic_and_behind_the_data),
    cmocka_unit_test(an_idle_input_holds_back_the_watermark_unless_declared_idle),
    cmocka_unit_test(per_record_emission_with_an_idle_input),
    cmocka_unit_test(timestamp_field_must_exist_and_be_a_time),
    cmocka_unit_test(source_strategy_runs_per_parallel_instance),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "api_eventtime");
}
