/*
 * test_trigger.c — triggers, evictors, global windows, the reduce window
 * function and processing-time session windows, with known expected results:
 * count, purging, continuous event-time and custom triggers (with trigger
 * state, timers and merging), count / time / delta evictors before and after
 * the window function, at parallelism 1 and 2.
 */
#include "test_main.h"
#include "test_util.h"

#include <spate/spate.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Rows "k,ts,v"; results "k,start,end,n,sum" (aggregate and process) or "k,ts,v" (reduce). */
typedef struct acc {
    int64_t n, sum;
} acc_t;

static int acc_add(void *ctx, void *acc, const spate_row_t *in)
{
    (void)ctx;
    acc_t *a = acc;
    a->n++;
    a->sum += spate_row_get_bigint(in, 2);
    return SPATE_OK;
}

static void acc_merge(void *ctx, void *acc, const void *other)
{
    (void)ctx;
    acc_t *a = acc;
    const acc_t *o = other;
    a->n += o->n;
    a->sum += o->sum;
}

static int emit_result(spate_collector_t *out, const spate_row_t *key_row, const spate_window_t *w, int64_t n,
                       int64_t sum)
{
    spate_out_copy_field(out, 0, key_row, 0);
    spate_out_set_bigint(out, 1, w->start);
    spate_out_set_bigint(out, 2, w->end);
    spate_out_set_bigint(out, 3, n);
    spate_out_set_bigint(out, 4, sum);
    return spate_out_emit(out);
}

static int acc_emit(void *ctx, const void *acc, const spate_window_t *w, const spate_row_t *key_row,
                    spate_collector_t *out)
{
    (void)ctx;
    const acc_t *a = acc;
    return emit_result(out, key_row, w, a->n, a->sum);
}

/* Process window function: count and sum of v (field *ctx, default 2). */
static int summarize(void *ctx, const spate_window_t *w, const spate_row_t *rows, size_t n,
                     spate_collector_t *out)
{
    int v = ctx ? *(const int *)ctx : 2;
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++) sum += spate_row_get_bigint(&rows[i], v);
    return emit_result(out, &rows[0], w, (int64_t)n, sum);
}

static int sum_v(void *ctx, const spate_row_t *acc, const spate_row_t *in, spate_collector_t *out)
{
    (void)ctx;
    spate_out_copy_field(out, 0, acc, 0);
    spate_out_copy_field(out, 1, acc, 1);
    spate_out_set_bigint(out, 2, spate_row_get_bigint(acc, 2) + spate_row_get_bigint(in, 2));
    return spate_out_emit(out);
}

typedef enum fn_kind { AGGREGATE, PROCESS, REDUCE } fn_kind_t;
typedef void (*setup_fn)(spate_windowed_t *w);

/* Runs rows (in order, watermark max ts - 1 after each) through the windows at parallelism p;
 * returns the sorted results, or NULL when building failed (*err: the environment's error). */
static char *run(const char *const *rows, size_t n, spate_window_assigner_t a, setup_fn setup, fn_kind_t kind,
                 int p, char *err, size_t errcap)
{
    tu_capture_t cap;
    tu_capture_init(&cap);
    spate_env_t *env = spate_env_create();
    spate_env_set_parallelism(env, p);
    spate_schema_t *in = spate_schema_of("k STRING NOT NULL, ts BIGINT NOT NULL, v BIGINT NOT NULL");
    spate_schema_t *out = spate_schema_of("k STRING, start BIGINT, end_ BIGINT, n BIGINT, sum BIGINT");
    spate_watermark_strategy_t *ws = spate_watermark_with_per_record_emission(
        spate_watermark_with_timestamp_field(spate_watermark_for_bounded_out_of_orderness(0), "ts"));
    spate_stream_t *s =
        spate_env_add_source_with_watermarks(env, spate_collection_source(in, rows, n), ws, "rows");
    spate_windowed_t *w = spate_keyed_window(spate_stream_key_by_field(s, "k"), a);
    if (setup) setup(w);
    spate_aggregate_function_t fn = {
        .acc_size = sizeof(acc_t), .add = acc_add, .merge = acc_merge, .emit = acc_emit
    };
    spate_stream_t *r = kind == AGGREGATE ? spate_windowed_aggregate(w, "agg", &fn, out)
                        : kind == PROCESS ? spate_windowed_process(w, "process", summarize, NULL, out)
                                          : spate_windowed_reduce(w, "reduce", sum_v, NULL);
    spate_stream_sink(r, tu_capture_sink(&cap), "results");
    char *got = NULL;
    int rc = spate_env_execute(env, "triggers");
    if (rc == SPATE_OK)
        got = tu_capture_sorted(&cap, true);
    else if (err)
        snprintf(err, errcap, "%s", spate_env_error(env));
    spate_schema_release(in);
    spate_schema_release(out);
    spate_env_destroy(env);
    tu_capture_fini(&cap);
    return got;
}

static void check(const char *const *rows, size_t n, spate_window_assigner_t a, setup_fn setup,
                  fn_kind_t kind, const char *want)
{
    for (int p = 1; p <= 2; p++) {
        char err[256] = "";
        char *got = run(rows, n, a, setup, kind, p, err, sizeof err);
        if (!got) fail_msg("job failed: %s", err);
        assert_string_equal(got, want);
        free(got);
    }
}

/* ---- count and purging triggers ---- */

static void count_2(spate_windowed_t *w)
{
    spate_windowed_trigger(w, spate_count_trigger(2));
}

/* Sessions stay open long enough for a late row to bridge two. */
static void count_2_lateness(spate_windowed_t *w)
{
    spate_windowed_allowed_lateness(spate_windowed_trigger(w, spate_count_trigger(2)), 2000);
}

static void purging_count_2(spate_windowed_t *w)
{
    spate_windowed_trigger(w, spate_purging_trigger(spate_count_trigger(2)));
}

static void count_trigger_fires_every_n_rows_and_purging_empties_the_window(void **state)
{
    (void)state;
    const char *rows[] = { "a,0,1", "a,1,2", "b,5,7", "a,2,3", "a,3,4", "a,1500,5" };
    /* the count trigger replaces the event-time trigger: nothing fires at the windows' ends */
    check(rows, 6, spate_tumbling_windows(1000, 0), count_2, AGGREGATE, "a,0,1000,2,3\na,0,1000,4,10\n");
    check(rows, 6, spate_tumbling_windows(1000, 0), purging_count_2, AGGREGATE,
          "a,0,1000,2,3\na,0,1000,2,7\n");
    check(rows, 6, spate_tumbling_windows(1000, 0), purging_count_2, PROCESS, "a,0,1000,2,3\na,0,1000,2,7\n");
}

/* Session windows merge their count trigger state: 1 + 1 from two sessions, then the bridging row. */
static void count_trigger_state_merges_with_sessions(void **state)
{
    (void)state;
    const char *rows[] = { "a,0,1", "a,1500,2", "a,700,3" };
    check(rows, 3, spate_session_windows(1000), count_2_lateness, AGGREGATE, "a,0,2500,3,6\n");
    const char *three[] = { "a,0,1", "a,1500,2", "a,700,3", "a,800,4" };
    check(three, 4, spate_session_windows(1000), count_2_lateness, PROCESS, "a,0,2500,3,6\n");
}

/* ---- continuous event-time trigger ---- */

static void continuous_2s(spate_windowed_t *w)
{
    spate_windowed_trigger(w, spate_continuous_event_time_trigger(2000));
}

static void continuous_event_time_trigger_fires_every_interval_and_at_the_end(void **state)
{
    (void)state;
    const char *rows[] = { "a,100,1", "a,2500,2", "a,4100,3", "a,12000,4" };
    /* [0,10000): at 2000 (2 rows: the watermark follows 2500), 4000, 6000, 8000, and 9999;
     * [10000,20000): at 14000, 16000, 18000 and 19999 (the final watermark) */
    check(rows, 4, spate_tumbling_windows(10000, 0), continuous_2s, AGGREGATE,
          "a,0,10000,2,3\na,0,10000,3,6\na,0,10000,3,6\na,0,10000,3,6\na,0,10000,3,6\n"
          "a,10000,20000,1,4\na,10000,20000,1,4\na,10000,20000,1,4\na,10000,20000,1,4\n");
}

/* ---- global windows and reduce ---- */

static void purging_count_3(spate_windowed_t *w)
{
    spate_windowed_trigger(w, spate_purging_trigger(spate_count_trigger(3)));
}

static void global_windows_fire_only_by_their_trigger(void **state)
{
    (void)state;
    const char *rows[] = { "a,0,1", "a,10,2", "b,20,5", "a,30,3", "a,40,4", "b,50,6", "b,60,7", "a,70,5" };
    /* reduce: the first row's key and time, the sum of v; 'a' has 5 rows: one firing, 2 left */
    check(rows, 8, spate_global_windows(), purging_count_3, REDUCE, "a,0,6\nb,20,18\n");
    check(
        rows, 8, spate_global_windows(), purging_count_3, AGGREGATE,
        "a,-9223372036854775808,9223372036854775807,3,6\nb,-9223372036854775808,9223372036854775807,3,18\n");
    check(rows, 8, spate_global_windows(), NULL, AGGREGATE, ""); /* the default trigger never fires */
}

static void reduce_window_function_per_tumbling_window(void **state)
{
    (void)state;
    const char *rows[] = { "a,0,1", "a,999,2", "b,500,10", "a,1000,4", "b,1999,20", "b,2000,40" };
    check(rows, 6, spate_tumbling_windows(1000, 0), NULL, REDUCE,
          "a,0,3\na,1000,4\nb,1999,20\nb,2000,40\nb,500,10\n");
    /* a: [0,600) alone, [999,1600) from two rows; b: [500,1100), [1999,2600) */
    check(rows, 6, spate_session_windows(600), NULL, REDUCE, "a,0,1\na,999,6\nb,1999,60\nb,500,10\n");
}

/* ---- evictors ---- */

static void count_evictor_2(spate_windowed_t *w)
{
    spate_windowed_evictor(w, spate_count_evictor(2, false));
}

static void time_evictor_500(spate_windowed_t *w)
{
    spate_windowed_evictor(w, spate_time_evictor(500, false));
}

static double v_delta(void *ctx, const spate_row_t *a, const spate_row_t *b)
{
    (void)ctx;
    return fabs((double)(spate_row_get_bigint(a, 2) - spate_row_get_bigint(b, 2)));
}

static void delta_evictor_5(spate_windowed_t *w)
{
    spate_windowed_evictor(w, spate_delta_evictor(5.0, v_delta, NULL, false));
}

/* Count trigger 3 without purging and a count evictor of 2 after the function: each firing sees
 * the 2 rows kept from the last one plus the 3 new ones. */
static void evict_after(spate_windowed_t *w)
{
    spate_windowed_trigger(w, spate_count_trigger(3));
    spate_windowed_evictor(w, spate_count_evictor(2, true));
}

static void evictors_remove_rows_before_or_after_the_function(void **state)
{
    (void)state;
    const char *rows[] = { "a,0,1", "a,100,2", "a,600,3", "a,900,20", "b,10,5" };
    check(rows, 5, spate_tumbling_windows(1000, 0), count_evictor_2, PROCESS,
          "a,0,1000,2,23\nb,0,1000,1,5\n");
    check(rows, 5, spate_tumbling_windows(1000, 0), count_evictor_2, AGGREGATE,
          "a,0,1000,2,23\nb,0,1000,1,5\n");
    check(rows, 5, spate_tumbling_windows(1000, 0), count_evictor_2, REDUCE, "a,600,23\nb,10,5\n");
    /* time: latest 900, rows at or before 400 go */
    check(rows, 5, spate_tumbling_windows(1000, 0), time_evictor_500, PROCESS,
          "a,0,1000,2,23\nb,0,1000,1,5\n");
    /* delta to the last row (v = 20): only rows within 5 of it stay — it alone */
    check(rows, 5, spate_tumbling_windows(1000, 0), delta_evictor_5, PROCESS,
          "a,0,1000,1,20\nb,0,1000,1,5\n");
    const char *seq[] = { "a,0,1", "a,1,2", "a,2,3", "a,3,4", "a,4,5", "a,5,6" };
    check(
        seq, 6, spate_global_windows(), evict_after, PROCESS,
        "a,-9223372036854775808,9223372036854775807,3,6\na,-9223372036854775808,9223372036854775807,5,20\n");
}

/* Sliding count windows with an aggregate function (a count evictor keeps the last `size` rows). */
static void sliding_count_windows_with_an_aggregate(void **state)
{
    (void)state;
    const char *rows[] = { "a,0,1", "a,1,2", "a,2,3", "a,3,4", "a,4,5" };
    check(rows, 5, spate_count_windows(3, 2), NULL, AGGREGATE,
          "a,-9223372036854775808,9223372036854775807,2,3\na,-9223372036854775808,9223372036854775807,3,9\n");
}

/* ---- a custom trigger ---- */

/* Fires and purges once the window's sum of v reaches self->n (kept in trigger state); fires what
 * is left when the watermark passes the window's end. */
static spate_trigger_result_t sum_on_element(const spate_trigger_t *self, const spate_row_t *row, int64_t ts,
                                             const spate_window_t *w, spate_trigger_context_t *tc)
{
    (void)ts;
    int64_t sum = 0;
    spate_trigger_state_get(tc, "sum", &sum, sizeof sum);
    sum += spate_row_get_bigint(row, 2);
    spate_trigger_register_event_time(tc, w->end - 1);
    if (sum >= self->n) {
        spate_trigger_state_clear(tc, "sum");
        return SPATE_TRIGGER_FIRE_AND_PURGE;
    }
    spate_trigger_state_put(tc, "sum", &sum, sizeof sum);
    return SPATE_TRIGGER_CONTINUE;
}

static spate_trigger_result_t sum_on_event_time(const spate_trigger_t *self, int64_t time,
                                                const spate_window_t *w, spate_trigger_context_t *tc)
{
    (void)self;
    (void)tc;
    return time == w->end - 1 ? SPATE_TRIGGER_FIRE : SPATE_TRIGGER_CONTINUE;
}

static void sum_clear(const spate_trigger_t *self, const spate_window_t *w, spate_trigger_context_t *tc)
{
    (void)self;
    spate_trigger_delete_event_time(tc, w->end - 1);
    spate_trigger_state_clear(tc, "sum");
}

static const spate_trigger_t sum_trigger = {
    .n = 10, .on_element = sum_on_element, .on_event_time = sum_on_event_time, .clear = sum_clear
};

static void custom_sum(spate_windowed_t *w)
{
    spate_windowed_trigger(w, sum_trigger);
}

static void custom_triggers_keep_state_and_timers_per_window(void **state)
{
    (void)state;
    const char *rows[] = { "a,0,4", "a,100,7", "a,200,1", "b,300,2", "a,1200,3" };
    check(rows, 5, spate_tumbling_windows(1000, 0), custom_sum, AGGREGATE,
          "a,0,1000,1,1\na,0,1000,2,11\na,1000,2000,1,3\nb,0,1000,1,2\n");
    /* no on_merge: not usable with session windows */
    char err[256] = "";
    char *got = run(rows, 5, spate_session_windows(100), custom_sum, AGGREGATE, 1, err, sizeof err);
    assert_null(got);
    assert_non_null(strstr(err, "session windows merge, and this trigger has no on_merge"));
}

static void bad_trigger_and_evictor_settings_fail_the_build(void **state)
{
    (void)state;
    spate_env_t *env = spate_env_create();
    spate_schema_t *in = spate_schema_of("k BIGINT");
    const char *rows[] = { "1" };
    spate_keyed_t *k =
        spate_stream_key_by_field(spate_env_add_source(env, spate_collection_source(in, rows, 1), "r"), "k");
    assert_null(
        spate_windowed_trigger(spate_keyed_window(k, spate_global_windows()), spate_count_trigger(0)));
    assert_non_null(strstr(spate_env_error(env), "counts and intervals must be > 0"));
    spate_env_destroy(env);
    env = spate_env_create();
    k = spate_stream_key_by_field(spate_env_add_source(env, spate_collection_source(in, rows, 1), "r"), "k");
    assert_null(spate_windowed_evictor(spate_keyed_window(k, spate_global_windows()),
                                       spate_delta_evictor(1.0, NULL, NULL, false)));
    assert_non_null(strstr(spate_env_error(env), "delta evictor without a delta function"));
    spate_env_destroy(env);
    spate_schema_release(in);
}

/* ---- processing time ---- */

typedef struct clocked {
    spate_clock_t *clock;
    tu_capture_t cap;
    spate_env_t *env;
    spate_schema_t *out;
    spate_job_t *job;
} clocked_t;

/* Starts seq rows (k = v % 2, v = 0..19) through windows `a` (set up by setup) on a manual clock
 * at 1,000,000; the job keeps running (an idle source) until clocked_stop. */
static void clocked_start(clocked_t *c, spate_window_assigner_t a, setup_fn setup)
{
    static const int v_field = 1; /* seq rows: (k, v) */
    c->clock = spate_manual_clock_create(1000000);
    tu_capture_init(&c->cap);
    c->env = spate_env_create();
    spate_env_set_clock(c->env, c->clock);
    tu_seq_opts_t o = { .n = 20, .keys = 2, .parallel = false };
    spate_stream_t *s = spate_stream_union(spate_env_add_source(c->env, tu_seq_source(&o), "rows"),
                                           spate_env_add_source(c->env, tu_idle_source(), "idle"));
    c->out = spate_schema_of("k BIGINT, start BIGINT, end_ BIGINT, n BIGINT, sum BIGINT");
    spate_windowed_t *w = spate_keyed_window(spate_stream_key_by_field(s, "k"), a);
    if (setup) setup(w);
    s = spate_windowed_process(w, "windows", summarize, (void *)&v_field, c->out);
    spate_stream_sink(s, tu_capture_sink(&c->cap), "capture");
    assert_int_equal(spate_env_start(c->env, "clocked", &c->job), SPATE_OK);
    sp_sleep_ms(200); /* every row arrives while the clock stands at 1,000,000 */
}

/* Waits (at most 3 s) for n results; returns how many there are. */
static size_t clocked_wait(clocked_t *c, size_t n, int max_ms)
{
    size_t have = 0;
    for (int i = 0; i <= max_ms / 10; i++) {
        pthread_mutex_lock(&c->cap.mu);
        have = c->cap.n;
        pthread_mutex_unlock(&c->cap.mu);
        if (have >= n) break;
        sp_sleep_ms(10);
    }
    return have;
}

static char *clocked_stop(clocked_t *c)
{
    spate_job_cancel(c->job);
    assert_int_equal(spate_job_wait(c->job), SPATE_ECANCELED);
    spate_job_destroy(c->job);
    char *got = tu_capture_sorted(&c->cap, true);
    spate_schema_release(c->out);
    spate_env_destroy(c->env);
    tu_capture_fini(&c->cap);
    spate_clock_destroy(c->clock);
    return got;
}

static void processing_time_sessions_fire_after_the_gap(void **state)
{
    (void)state;
    clocked_t c;
    clocked_start(&c, spate_processing_time_session_windows(500), NULL);
    assert_int_equal(clocked_wait(&c, 1, 0), 0);
    spate_manual_clock_advance(c.clock, 498); /* the sessions [1000000, 1000500) fire at 1000499 */
    assert_int_equal(clocked_wait(&c, 1, 100), 0);
    spate_manual_clock_advance(c.clock, 1);
    assert_int_equal(clocked_wait(&c, 2, 3000), 2);
    char *got = clocked_stop(&c);
    assert_string_equal(got, "0,1000000,1000500,10,90\n1,1000000,1000500,10,100\n");
    free(got);
}

static void continuous_1s(spate_windowed_t *w)
{
    spate_windowed_trigger(w, spate_continuous_processing_time_trigger(1000));
}

static void continuous_processing_time_trigger_fires_every_interval(void **state)
{
    (void)state;
    clocked_t c;
    clocked_start(&c, spate_tumbling_processing_time_windows(10000, 0), continuous_1s);
    spate_manual_clock_advance(c.clock, 999);
    assert_int_equal(clocked_wait(&c, 1, 100), 0);
    spate_manual_clock_advance(c.clock, 1); /* 1001000: the first interval */
    assert_int_equal(clocked_wait(&c, 2, 3000), 2);
    spate_manual_clock_advance(c.clock, 1000); /* 1002000: again, the same rows */
    assert_int_equal(clocked_wait(&c, 4, 3000), 4);
    char *got = clocked_stop(&c);
    assert_string_equal(got, "0,1000000,1010000,10,90\n0,1000000,1010000,10,90\n"
                             "1,1000000,1010000,10,100\n1,1000000,1010000,10,100\n");
    free(got);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(count_trigger_fires_every_n_rows_and_purging_empties_the_window),
    cmocka_unit_test(count_trigger_state_merges_with_sessions),
    cmocka_unit_test(continuous_event_time_trigger_fires_every_interval_and_at_the_end),
    cmocka_unit_test(global_windows_fire_only_by_their_trigger),
    cmocka_unit_test(reduce_window_function_per_tumbling_window),
    cmocka_unit_test(evictors_remove_rows_before_or_after_the_function),
    cmocka_unit_test(sliding_count_windows_with_an_aggregate),
    cmocka_unit_test(custom_triggers_keep_state_and_timers_per_window),
    cmocka_unit_test(bad_trigger_and_evictor_settings_fail_the_build),
    cmocka_unit_test(processing_time_sessions_fire_after_the_gap),
    cmocka_unit_test(continuous_processing_time_trigger_fires_every_interval),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "api_trigger");
}
