/*
 * test_window.c — event-time windows with known expected results: window
 * boundaries, offsets, sliding windows, session merging (also when a late
 * record bridges two sessions), allowed lateness (late firings update the
 * result), late data to the side output, results at any parallelism.
 */
#include "test_main.h"
#include "test_util.h"

#include <spate/spate.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Timestamps from "ts", a watermark right after each row: the largest ts so far - ooo - 1. */
static spate_watermark_strategy_t *per_record(int64_t ooo)
{
    spate_watermark_strategy_t *ws = spate_watermark_for_bounded_out_of_orderness(ooo);
    spate_watermark_with_timestamp_field(ws, "ts");
    return spate_watermark_with_per_record_emission(ws);
}

/* Runs rows "key,ts" (in this order, watermark after each: max - ooo - 1) through windows at
 * parallelism p; returns the sorted results and, in *late, the sorted late records. */
static char *run_windows(const char *const *rows, size_t n, spate_window_assigner_t a, int64_t lateness,
                         int64_t ooo, int p, char **late)
{
    tu_capture_t cap, lcap;
    tu_capture_init(&cap);
    tu_capture_init(&lcap);
    spate_env_t *env = spate_env_create();
    spate_env_set_parallelism(env, p);
    spate_schema_t *in = spate_schema_of("k STRING NOT NULL, ts BIGINT NOT NULL");
    spate_schema_t *out = spate_schema_of("k STRING, start BIGINT, end_ BIGINT, n BIGINT");
    spate_stream_t *s = spate_env_add_source_with_watermarks(
        env, spate_collection_source(in, (const char *const *)rows, n), per_record(ooo), "rows");
    spate_windowed_t *w =
        spate_windowed_allowed_lateness(spate_keyed_window(spate_stream_key_by_field(s, "k"), a), lateness);
    spate_aggregate_function_t fn = tu_window_count();
    spate_stream_t *r = spate_windowed_aggregate(w, "count", &fn, out);
    spate_stream_sink(r, tu_capture_sink(&cap), "results");
    spate_stream_sink(spate_window_late_data(r), tu_capture_sink(&lcap), "late");
    assert_int_equal(spate_env_execute(env, "windows"), SPATE_OK);
    char *got = tu_capture_sorted(&cap, true);
    *late = tu_capture_sorted(&lcap, true);
    spate_schema_release(in);
    spate_schema_release(out);
    spate_env_destroy(env);
    tu_capture_fini(&cap);
    tu_capture_fini(&lcap);
    return got;
}

static void check(const char *const *rows, size_t n, spate_window_assigner_t a, int64_t lateness, int64_t ooo,
                  const char *want, const char *want_late)
{
    for (int p = 1; p <= 4; p *= 2) {
        char *late;
        char *got = run_windows(rows, n, a, lateness, ooo, p, &late);
        assert_string_equal(got, want);
        assert_string_equal(late, want_late);
        free(got);
        free(late);
    }
}

static void tumbling_windows_at_their_boundaries(void **state)
{
    (void)state;
    const char *rows[] = { "a,0", "a,999", "a,1000", "b,1999", "a,2000", "b,2000", "a,-1" };
    /* -1 falls in [-1000, 0); it arrives when the watermark is 1999: late for lateness 0 */
    check(rows, 7, spate_tumbling_windows(1000, 0), 0, 0,
          "a,0,1000,2\na,1000,2000,1\na,2000,3000,1\nb,1000,2000,1\nb,2000,3000,1\n", "a,-1\n");
    /* with an offset of 300 ms the windows are [-700, 300), [300, 1300), ... */
    check(rows, 7, spate_tumbling_windows(1000, 300), 0, 5000,
          "a,-700,300,2\na,1300,2300,1\na,300,1300,2\nb,1300,2300,2\n", "");
}

static void sliding_windows_count_each_record_in_every_window(void **state)
{
    (void)state;
    const char *rows[] = { "a,100", "a,600", "a,1100" };
    check(rows, 3, spate_sliding_windows(1000, 500, 0), 0, 0,
          "a,-500,500,1\na,0,1000,2\na,1000,2000,1\na,500,1500,2\n", "");
}

static void sessions_merge_also_when_a_late_record_bridges_two(void **state)
{
    (void)state;
    /* gap 100: a@0 and a@180 are separate sessions until a@90 arrives out of order (within the
     * out-of-orderness of 200) and touches both: [0,100) + [90,190) + [180,280) = [0,280) */
    const char *rows[] = { "a,0", "a,180", "a,90", "b,10", "b,500" };
    check(rows, 5, spate_session_windows(100), 0, 200, "a,0,280,3\nb,10,110,1\nb,500,600,1\n", "");
    /* without the bridge: two sessions */
    const char *rows2[] = { "a,0", "a,180" };
    check(rows2, 2, spate_session_windows(100), 0, 200, "a,0,100,1\na,180,280,1\n", "");
}

static void allowed_lateness_refires_and_later_records_go_to_late_data(void **state)
{
    (void)state;
    /* window [0,1000) fires at watermark >= 999 (after a,1000); a,500 (wm 999) refires with 2;
     * a,3200 moves the watermark to 3199 > 999 + 2000: a,600 is then too late */
    const char *rows[] = { "a,100", "a,1000", "a,500", "a,3200", "a,600" };
    check(rows, 5, spate_tumbling_windows(1000, 0), 2000, 0,
          "a,0,1000,1\na,0,1000,2\na,1000,2000,1\na,3000,4000,1\n", "a,600\n");
    /* a window first opened by a record after its end (within the lateness) fires once, at once */
    const char *late_open[] = { "a,100", "a,3000", "b,500", "a,4000" };
    check(late_open, 4, spate_tumbling_windows(1000, 0), 2500, 0,
          "a,0,1000,1\na,3000,4000,1\na,4000,5000,1\nb,0,1000,1\n", "");
}

/* A process window function sees every row of the window at once. */
static int summarize(void *ctx, const spate_window_t *w, const spate_row_t *rows, size_t n,
                     spate_collector_t *out)
{
    (void)ctx;
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++) sum += spate_row_get_bigint(&rows[i], 1);
    spate_out_copy_field(out, 0, &rows[0], 0);
    spate_out_set_bigint(out, 1, w->start);
    spate_out_set_bigint(out, 2, (int64_t)n);
    spate_out_set_bigint(out, 3, sum);
    return spate_out_emit(out);
}

/* As summarize, for rows (k BIGINT, v BIGINT): key, start, row count, sum of v. */
static int summarize_v(void *ctx, const spate_window_t *w, const spate_row_t *rows, size_t n,
                       spate_collector_t *out)
{
    (void)ctx;
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++) sum += spate_row_get_bigint(&rows[i], 1);
    spate_out_copy_field(out, 0, &rows[0], 0);
    spate_out_set_bigint(out, 1, w->start);
    spate_out_set_bigint(out, 2, (int64_t)n);
    spate_out_set_bigint(out, 3, sum);
    return spate_out_emit(out);
}

static char *run_process_windows(const char *const *rows, size_t n, spate_window_assigner_t a, int p)
{
    tu_capture_t cap;
    tu_capture_init(&cap);
    spate_env_t *env = spate_env_create();
    spate_env_set_parallelism(env, p);
    spate_schema_t *in = spate_schema_of("k STRING NOT NULL, ts BIGINT NOT NULL");
    spate_schema_t *out = spate_schema_of("k STRING, start BIGINT, n BIGINT, sum BIGINT");
    spate_stream_t *s = spate_env_add_source_with_watermarks(env, spate_collection_source(in, rows, n),
                                                             per_record(0), "rows");
    s = spate_windowed_process(spate_keyed_window(spate_stream_key_by_field(s, "k"), a), "summary", summarize,
                               NULL, out);
    spate_stream_sink(s, tu_capture_sink(&cap), "results");
    assert_int_equal(spate_env_execute(env, "process"), SPATE_OK);
    char *got = tu_capture_sorted(&cap, true);
    spate_schema_release(in);
    spate_schema_release(out);
    spate_env_destroy(env);
    tu_capture_fini(&cap);
    return got;
}

static void process_window_functions_see_all_rows(void **state)
{
    (void)state;
    const char *rows[] = { "a,10", "b,20", "a,30", "a,1010", "b,1500", "b,1600" };
    for (int p = 1; p <= 2; p++) {
        char *got = run_process_windows(rows, 6, spate_tumbling_windows(1000, 0), p);
        assert_string_equal(got, "a,0,2,40\na,1000,1,1010\nb,0,1,20\nb,1000,2,3100\n");
        free(got);
        got = run_process_windows(rows, 6, spate_session_windows(1000), p); /* a: 10..1010 one session */
        assert_string_equal(got, "a,10,3,1050\nb,1500,2,3100\nb,20,1,20\n");
        free(got);
    }
}

/* Count windows need no timestamps: tumbling (aggregate, purged) and sliding (process, last n rows). */
static void count_windows_fire_by_count(void **state)
{
    (void)state;
    for (int p = 1; p <= 2; p++) {
        tu_capture_t cap, slide;
        tu_capture_init(&cap);
        tu_capture_init(&slide);
        spate_env_t *env = spate_env_create();
        spate_env_set_parallelism(env, p);
        tu_seq_opts_t o = { .n = 23, .keys = 2, .parallel = false }; /* k=0: 12 rows, k=1: 11 rows */
        spate_stream_t *s = spate_env_add_source(env, tu_seq_source(&o), "seq");
        spate_schema_t *out = spate_schema_of("k BIGINT, start BIGINT, end_ BIGINT, n BIGINT");
        spate_schema_t *sum = spate_schema_of("k BIGINT, start BIGINT, n BIGINT, sum BIGINT");
        spate_aggregate_function_t fn = tu_window_count();
        spate_keyed_t *k = spate_stream_key_by_field(s, "k");
        spate_stream_sink(
            spate_windowed_aggregate(spate_keyed_window(k, spate_count_windows(5, 0)), "c", &fn, out),
            tu_capture_sink(&cap), "tumbling");
        spate_stream_sink(spate_windowed_process(spate_keyed_window(k, spate_count_windows(3, 2)), "s",
                                                 summarize_v, NULL, sum),
                          tu_capture_sink(&slide), "sliding");
        assert_int_equal(spate_env_execute(env, "count"), SPATE_OK);
        /* tumbling 5: k=0 fires twice (rows 10 left over, not fired), k=1 twice */
        char *got = tu_capture_sorted(&cap, true);
        assert_string_equal(got, "0,-9223372036854775808,9223372036854775807,5\n"
                                 "0,-9223372036854775808,9223372036854775807,5\n"
                                 "1,-9223372036854775808,9223372036854775807,5\n"
                                 "1,-9223372036854775808,9223372036854775807,5\n");
        free(got);
        /* sliding 3 every 2 for k=1 (v = 1, 3, 5, ...): after 2 rows [1,3], after 4 [3,5,7], ... */
        size_t k1 = 0;
        for (size_t i = 0; i < slide.n; i++) {
            long long kk, start, n, total;
            assert_int_equal(
                sscanf(strchr(slide.rows[i], '|') + 1, "%lld,%lld,%lld,%lld", &kk, &start, &n, &total), 4);
            if (kk != 1) continue;
            k1++;
            if (n == 2)
                assert_int_equal(total, 1 + 3);
            else
                assert_int_equal(n, 3);
        }
        assert_int_equal(k1, 5); /* 11 rows: fires after 2, 4, 6, 8, 10 */
        spate_schema_release(out);
        spate_schema_release(sum);
        spate_env_destroy(env);
        tu_capture_fini(&cap);
        tu_capture_fini(&slide);
    }
}

/* Processing-time windows fire when the (manual) clock passes their end. */
static void processing_time_windows_fire_on_the_clock(void **state)
{
    (void)state;
    spate_clock_t *clock = spate_manual_clock_create(1000000);
    tu_capture_t cap;
    tu_capture_init(&cap);
    spate_env_t *env = spate_env_create();
    spate_env_set_clock(env, clock);
    tu_seq_opts_t o = { .n = 40, .keys = 4, .parallel = false };
    spate_stream_t *s =
        spate_stream_union(spate_env_add_source(env, tu_seq_source(&o), "rows"),
                           spate_env_add_source(env, tu_idle_source(), "idle")); /* keeps running */
    spate_schema_t *out = spate_schema_of("k BIGINT, start BIGINT, end_ BIGINT, n BIGINT");
    spate_aggregate_function_t fn = tu_window_count();
    s = spate_windowed_aggregate(spate_keyed_window(spate_stream_key_by_field(s, "k"),
                                                    spate_tumbling_processing_time_windows(1000, 0)),
                                 "w", &fn, out);
    spate_stream_sink(s, tu_capture_sink(&cap), "capture");
    spate_job_t *job;
    assert_int_equal(spate_env_start(env, "proc-windows", &job), SPATE_OK);
    sp_sleep_ms(200); /* the rows arrive while the clock stands at 1,000,000: window [1000000, 1001000) */
    pthread_mutex_lock(&cap.mu);
    assert_int_equal(cap.n, 0); /* nothing fires before the clock moves */
    pthread_mutex_unlock(&cap.mu);
    spate_manual_clock_advance(clock, 1000);
    size_t n = 0;
    for (int i = 0; i < 300 && n < 4; i++) { /* bounded: 3 s */
        sp_sleep_ms(10);
        pthread_mutex_lock(&cap.mu);
        n = cap.n;
        pthread_mutex_unlock(&cap.mu);
    }
    spate_job_cancel(job);
    assert_int_equal(spate_job_wait(job), SPATE_ECANCELED);
    spate_job_destroy(job);
    char *got = tu_capture_sorted(&cap, true);
    assert_string_equal(got, "0,1000000,1001000,10\n1,1000000,1001000,10\n2,1000000,1001000,10\n"
                             "3,1000000,1001000,10\n");
    free(got);
    spate_schema_release(out);
    spate_env_destroy(env);
    tu_capture_fini(&cap);
    spate_clock_destroy(clock);
}

/* ---- interval join ---- */

static int join_pair(void *ctx, const spate_row_t *l, const spate_row_t *r, spate_collector_t *out)
{
    (void)ctx;
    spate_out_copy_field(out, 0, l, 0);
    spate_out_copy_field(out, 1, l, 1);
    spate_out_copy_field(out, 2, r, 1);
    return spate_out_emit(out);
}

static spate_keyed_t *timed(spate_env_t *env, const char *const *rows, size_t n, const char *name)
{
    spate_schema_t *in = spate_schema_of("k STRING NOT NULL, ts BIGINT NOT NULL");
    /* a bound of 1 s: nothing in these inputs is late */
    spate_stream_t *s = spate_env_add_source_with_watermarks(env, spate_collection_source(in, rows, n),
                                                             per_record(1000), name);
    spate_schema_release(in);
    return spate_stream_key_by_field(s, "k");
}

static void interval_join_pairs_rows_within_the_bounds(void **state)
{
    (void)state;
    const char *left[] = { "a,100", "a,200", "b,100", "c,500" };
    const char *right[] = { "a,90", "a,110", "a,125", "a,215", "b,130", "c,480", "c,490", "c,521" };
    for (int p = 1; p <= 2; p++) {
        tu_capture_t cap;
        tu_capture_init(&cap);
        spate_env_t *env = spate_env_create();
        spate_env_set_parallelism(env, p);
        spate_schema_t *out = spate_schema_of("k STRING, lt BIGINT, rt BIGINT");
        spate_stream_t *j =
            spate_keyed_interval_join(timed(env, left, 4, "left"), timed(env, right, 8, "right"), -10, 20,
                                      "join", join_pair, NULL, out);
        spate_stream_sink(j, tu_capture_sink(&cap), "capture");
        assert_int_equal(spate_env_execute(env, "join"), SPATE_OK);
        /* r.ts in [l.ts - 10, l.ts + 20], both bounds inclusive: c,490 in, c,521 out */
        char *got = tu_capture_sorted(&cap, true);
        assert_string_equal(got, "a,100,110\na,100,90\na,200,215\nc,500,490\n");
        free(got);
        spate_schema_release(out);
        spate_env_destroy(env);
        tu_capture_fini(&cap);
    }
}

static char *run_window_join(spate_window_assigner_t a, int p)
{
    const char *left[] = { "a,100", "a,1200", "b,300", "c,2500" };
    const char *right[] = { "a,150", "a,900", "a,1100", "b,1999", "c,2600", "d,100" };
    tu_capture_t cap;
    tu_capture_init(&cap);
    spate_env_t *env = spate_env_create();
    spate_env_set_parallelism(env, p);
    spate_schema_t *out = spate_schema_of("k STRING, lt BIGINT, rt BIGINT");
    spate_windowed_t *w =
        spate_keyed_window_join(timed(env, left, 4, "left"), timed(env, right, 6, "right"), a);
    spate_stream_sink(spate_windowed_join(w, "join", join_pair, NULL, out), tu_capture_sink(&cap), "capture");
    assert_int_equal(spate_env_execute(env, "window-join"), SPATE_OK);
    char *got = tu_capture_sorted(&cap, true);
    spate_schema_release(out);
    spate_env_destroy(env);
    tu_capture_fini(&cap);
    return got;
}

/* Window joins pair every left and right row of a key in the same window. */
static void window_joins_pair_rows_of_the_same_window(void **state)
{
    (void)state;
    for (int p = 1; p <= 2; p++) {
        char *got = run_window_join(spate_tumbling_windows(1000, 0), p);
        assert_string_equal(got, "a,100,150\na,100,900\na,1200,1100\nc,2500,2600\n");
        free(got);
        /* [-1000,1000): 1x2 pairs, [0,2000): 2x3, [1000,3000): 1x1; b meets in [0,2000); c twice */
        got = run_window_join(spate_sliding_windows(2000, 1000, 0), p);
        assert_string_equal(got,
                            "a,100,1100\na,100,150\na,100,150\na,100,900\na,100,900\na,1200,1100\n"
                            "a,1200,1100\na,1200,150\na,1200,900\nb,300,1999\nc,2500,2600\nc,2500,2600\n");
        free(got);
        /* sessions of gap 500: a [100,650) and [900,1700) */
        got = run_window_join(spate_session_windows(500), p);
        assert_string_equal(got, "a,100,150\na,1200,1100\na,1200,900\nc,2500,2600\n");
        free(got);
    }
    spate_env_t *env = spate_env_create();
    const char *rows[] = { "a,1" };
    spate_windowed_t *w = spate_keyed_window_join(timed(env, rows, 1, "l"), timed(env, rows, 1, "r"),
                                                  spate_tumbling_windows(10, 0));
    spate_aggregate_function_t fn = tu_window_count();
    assert_null(spate_windowed_aggregate(w, "agg", &fn, NULL));
    assert_non_null(strstr(spate_env_error(env), "windows of a window join need spate_windowed_join"));
    spate_env_destroy(env);
}

/* ---- a batch's rows grouped by key and window ----
 * Big batches keyed by a BIGINT or a STRING column (NULL too), in and out of order, with watermarks from a
 * custom generator at chosen rows only (so batches stay big and some rows meet windows due or gone),
 * allowed lateness and late data; an order-sensitive aggregate shows each window's rows were added
 * in their order.  Expected: Flink's semantics computed row by row below. */

typedef struct ord_acc {
    int64_t n;
    uint64_t h; /* over the rows' timestamps, in the order added */
} ord_acc_t;

static uint64_t ord_step(uint64_t h, int64_t ts)
{
    return h * 1000003u + (uint64_t)ts + 1;
}

static void ord_create(void *ctx, void *acc)
{
    (void)ctx;
    memset(acc, 0, sizeof(ord_acc_t));
}

static int ord_add(void *ctx, void *acc, const spate_row_t *in)
{
    (void)ctx;
    ord_acc_t a;
    memcpy(&a, acc, sizeof a);
    a.n++;
    a.h = ord_step(a.h, spate_row_get_bigint(in, 1));
    memcpy(acc, &a, sizeof a);
    return SPATE_OK;
}

static int ord_emit(void *ctx, const void *acc, const spate_window_t *w, const spate_row_t *key_row,
                    spate_collector_t *out)
{
    (void)ctx;
    ord_acc_t a;
    memcpy(&a, acc, sizeof a);
    spate_out_copy_field(out, 0, key_row, 0);
    spate_out_set_bigint(out, 1, w->start);
    spate_out_set_bigint(out, 2, w->end);
    spate_out_set_bigint(out, 3, a.n);
    spate_out_set_bigint(out, 4, (int64_t)a.h);
    return spate_out_emit(out);
}

/* The generator: the watermark a row carries in field 2, when it is not NULL. */
static void wm_field(void *state, int64_t ts, const spate_row_t *row, spate_watermark_output_t *out)
{
    (void)state;
    (void)ts;
    if (!spate_row_is_null(row, 2)) spate_watermark_output_emit(out, spate_row_get_bigint(row, 2));
}

typedef struct gw_row {
    bool null;
    int64_t k, ts, wm; /* wm: INT64_MIN = none */
} gw_row_t;

typedef struct gw_win {
    bool null, timer, live;
    int64_t k, start;
    ord_acc_t acc;
} gw_win_t;

typedef struct text {
    char **v;
    size_t n;
} text_t;

static void text_add(text_t *t, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    t->v = realloc(t->v, sizeof *t->v * (t->n + 1));
    t->v[t->n++] = strdup(buf);
}

static int by_text(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *text_sorted(text_t *t)
{
    if (t->n) qsort(t->v, t->n, sizeof *t->v, by_text);
    size_t len = 1;
    for (size_t i = 0; i < t->n; i++) len += strlen(t->v[i]) + 1;
    char *s = calloc(1, len), *p = s;
    for (size_t i = 0; i < t->n; i++) {
        p += sprintf(p, "%s\n", t->v[i]);
        free(t->v[i]);
    }
    free(t->v);
    return s;
}

static void gw_emit(text_t *out, const gw_win_t *w, int64_t size)
{
    char k[24] = "";
    if (!w->null) snprintf(k, sizeof k, "%lld", (long long)w->k);
    text_add(out, "%s,%lld,%lld,%lld,%lld", k, (long long)w->start, (long long)(w->start + size),
             (long long)w->acc.n, (long long)(int64_t)w->acc.h);
}

/* Flink's sliding (tumbling: slide = size) event-time windows with the event-time trigger and
 * allowed lateness, row by row: a row goes to each of its windows that is not past its lateness;
 * when there is none, to the late data if the row itself is late (a row between the windows of a
 * slide longer than the size, that is not, is dropped). */
static void gw_reference(const gw_row_t *rows, char *const *line, size_t n, int64_t size, int64_t slide,
                         int64_t lateness, char **want, char **want_late)
{
    text_t out = { 0 }, late = { 0 };
    size_t cap = 64, nwins = 0;
    gw_win_t *wins = calloc(cap, sizeof *wins);
    int64_t wm = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        const gw_row_t *r = &rows[i];
        bool added = false;
        for (int64_t start = r->ts - ((r->ts % slide) + slide) % slide; start > r->ts - size;
             start -= slide) {
            int64_t max_ts = start + size - 1;
            if (max_ts + lateness <= wm) continue;
            added = true;
            gw_win_t *w = NULL;
            for (size_t j = 0; j < nwins && !w; j++)
                if (wins[j].live && wins[j].null == r->null && wins[j].k == r->k && wins[j].start == start)
                    w = &wins[j];
            if (!w) {
                if (nwins == cap) wins = realloc(wins, sizeof *wins * (cap *= 2));
                w = &wins[nwins++];
                *w = (gw_win_t){ r->null, false, true, r->k, start, { 0, 0 } };
            }
            w->acc.n++;
            w->acc.h = ord_step(w->acc.h, r->ts);
            if (max_ts <= wm)
                gw_emit(&out, w, size); /* a late firing */
            else
                w->timer = true;
        }
        if (!added && r->ts + lateness <= wm) text_add(&late, "%s", line[i]); /* the row as it came */
        if (r->wm > wm) {
            wm = r->wm;
            for (size_t j = 0; j < nwins; j++) {
                gw_win_t *w = &wins[j];
                if (!w->live) continue;
                if (w->timer && w->start + size - 1 <= wm) gw_emit(&out, w, size), w->timer = false;
                if (w->start + size - 1 + lateness <= wm) w->live = false;
            }
        }
    }
    for (size_t j = 0; j < nwins; j++)
        if (wins[j].live && wins[j].timer) gw_emit(&out, &wins[j], size); /* the end of input */
    free(wins);
    *want = text_sorted(&out);
    *want_late = text_sorted(&late);
}

static void windows_add_a_batchs_rows_per_key_in_order(void **state)
{
    (void)state;
    enum { N = 6000 };
    gw_row_t *rows = calloc(N, sizeof *rows);
    char **text = calloc(N, sizeof *text);
    uint64_t x = 42;
    int64_t max_ts = 0, gap = 0;
    for (size_t i = 0; i < N; i++) {
        x = x * 6364136223846793005u + 1442695040888963407u;
        uint32_t r = (uint32_t)(x >> 33);
        gw_row_t *g = &rows[i];
        g->null = r % 10 == 0;
        g->k = g->null ? 0 : r % 2 ? 7 : (int64_t)(r >> 8) % 60 - 10; /* a hot key, negative ones too */
        g->ts =
            (int64_t)i * 4 + (int64_t)((r >> 16) % 400) - 100 - ((r >> 12) % 20 ? 0 : 1500); /* 5 %: late */
        max_ts = g->ts > max_ts ? g->ts : max_ts;
        g->wm = INT64_MIN;
        if (gap-- <= 0) { /* a watermark after this row; the next one 0..299 rows on */
            static const int64_t bound[] = { 50, 300, 1000, 120 };
            g->wm = max_ts - bound[(r >> 4) % 4];
            gap = (int64_t)((r >> 20) % 300);
        }
        char k[24] = "", wm[24] = "";
        if (!g->null) snprintf(k, sizeof k, "%lld", (long long)g->k);
        if (g->wm != INT64_MIN) snprintf(wm, sizeof wm, "%lld", (long long)g->wm);
        text[i] = malloc(80);
        snprintf(text[i], 80, "%s,%lld,%s", k, (long long)g->ts, wm);
    }
    /* tumbling with lateness; sliding without (unique timers), with a slide that does not divide the
     * size (rows in 3 or 4 windows), and with a slide longer than the size (rows between windows);
     * each with a BIGINT key column (read from the column) and a
     * STRING one (keys compared by their bytes), at parallelism 1 and 4 */
    static const int64_t shapes[][3] = {
        { 1000, 1000, 200 }, { 2000, 500, 0 }, { 1000, 300, 200 }, { 300, 1000, 200 }
    };
    for (int shape = 0; shape < 4; shape++) {
        int64_t size = shapes[shape][0], slide = shapes[shape][1], lateness = shapes[shape][2];
        char *want, *want_late;
        gw_reference(rows, text, N, size, slide, lateness, &want, &want_late);
        assert_true(strlen(want) > 0);
        assert_true(strlen(want_late) > 0);
        for (int run = 0; run < 4; run++) {
            int p = run % 2 ? 4 : 1;
            const char *type = run < 2 ? "BIGINT" : "STRING";
            char schema[128];
            snprintf(schema, sizeof schema, "k %s, ts BIGINT NOT NULL, wm BIGINT", type);
            spate_schema_t *in = spate_schema_of(schema);
            snprintf(schema, sizeof schema, "k %s, start BIGINT, end_ BIGINT, n BIGINT, h BIGINT", type);
            spate_schema_t *out = spate_schema_of(schema);
            tu_capture_t cap, lcap;
            tu_capture_init(&cap);
            tu_capture_init(&lcap);
            spate_env_t *env = spate_env_create();
            spate_env_set_parallelism(env, p);
            spate_watermark_generator_t gen = { .on_event = wm_field };
            spate_watermark_strategy_t *ws =
                spate_watermark_with_timestamp_field(spate_watermark_for_generator(&gen), "ts");
            spate_stream_t *s = spate_env_add_source_with_watermarks(
                env, spate_collection_source(in, (const char *const *)text, N), ws, "rows");
            spate_window_assigner_t a =
                slide == size ? spate_tumbling_windows(size, 0) : spate_sliding_windows(size, slide, 0);
            spate_windowed_t *w = spate_windowed_allowed_lateness(
                spate_keyed_window(spate_stream_key_by_field(s, "k"), a), lateness);
            spate_aggregate_function_t fn = {
                .acc_size = sizeof(ord_acc_t), .create = ord_create, .add = ord_add, .emit = ord_emit
            };
            spate_stream_t *r = spate_windowed_aggregate(w, "ordered", &fn, out);
            spate_stream_sink(r, tu_capture_sink(&cap), "results");
            spate_stream_sink(spate_window_late_data(r), tu_capture_sink(&lcap), "late");
            assert_int_equal(spate_env_execute(env, "grouped"), SPATE_OK);
            char *got = tu_capture_sorted(&cap, true), *got_late = tu_capture_sorted(&lcap, true);
            if (strcmp(got, want) || strcmp(got_late, want_late))
                fail_msg("windows of %lld ms every %lld ms, lateness %lld, %s key, p=%d: results differ",
                         (long long)size, (long long)slide, (long long)lateness, type, p);
            free(got);
            free(got_late);
            spate_env_destroy(env);
            tu_capture_fini(&cap);
            tu_capture_fini(&lcap);
            spate_schema_release(in);
            spate_schema_release(out);
        }
        free(want);
        free(want_late);
    }
    for (size_t i = 0; i < N; i++) free(text[i]);
    free(text);
    free(rows);
}

/* key_only: the window keeps the key fields of its first row only; the others read as NULL, or as
 * zero / empty when NOT NULL.  A stream keyed by a function has no key fields to keep. */
static int key_row_emit(void *ctx, const void *acc, const spate_window_t *w, const spate_row_t *key_row,
                        spate_collector_t *out)
{
    (void)ctx;
    for (int f = 0; f < 5; f++) spate_out_copy_field(out, f, key_row, f);
    spate_out_set_bigint(out, 5, w->start);
    spate_out_set_bigint(out, 6, *(const int64_t *)acc);
    return spate_out_emit(out);
}

static int key_of_a(void *ctx, const spate_row_t *in, spate_key_t *key)
{
    (void)ctx;
    spate_str_t a = spate_row_get_string(in, 0);
    spate_key_append_bytes(key, (const uint8_t *)a.ptr, a.len);
    return SPATE_OK;
}

static void key_only_keeps_the_key_fields_of_the_first_row(void **state)
{
    (void)state;
    const char *rows[] = { "a,1,x,note,5", "b,2,y,,6", "a,1,z,more,7", "a,1,w,last,1500" };
    spate_schema_t *in = spate_schema_of("a STRING NOT NULL, b BIGINT NOT NULL, s STRING NOT NULL, n STRING, "
                                         "ts BIGINT NOT NULL");
    spate_schema_t *out =
        spate_schema_of("a STRING NOT NULL, b BIGINT NOT NULL, s STRING NOT NULL, n STRING, "
                        "ts BIGINT NOT NULL, start BIGINT, c BIGINT");
    for (int key_only = 0; key_only <= 1; key_only++) {
        tu_capture_t cap;
        tu_capture_init(&cap);
        spate_env_t *env = spate_env_create();
        spate_stream_t *s = spate_env_add_source_with_watermarks(env, spate_collection_source(in, rows, 4),
                                                                 per_record(0), "rows");
        spate_aggregate_function_t fn = tu_window_count();
        fn.emit = key_row_emit;
        fn.key_only = key_only;
        spate_stream_t *r = spate_windowed_aggregate(
            spate_keyed_window(spate_stream_key_by_field(s, "a, b"), spate_tumbling_windows(1000, 0)), "w",
            &fn, out);
        spate_stream_sink(r, tu_capture_sink(&cap), "out");
        assert_int_equal(spate_env_execute(env, "key-only"), SPATE_OK);
        char *got = tu_capture_sorted(&cap, true);
        assert_string_equal(got, key_only ? "a,1,\"\",,0,0,2\na,1,\"\",,0,1000,1\nb,2,\"\",,0,0,1\n"
                                          : "a,1,w,last,1500,1000,1\na,1,x,note,5,0,2\nb,2,y,,6,0,1\n");
        free(got);
        spate_env_destroy(env);
        tu_capture_fini(&cap);
    }
    spate_env_t *env = spate_env_create();
    spate_stream_t *s = spate_env_add_source_with_watermarks(env, spate_collection_source(in, rows, 4),
                                                             per_record(0), "rows");
    spate_aggregate_function_t fn = tu_window_count();
    fn.key_only = true;
    assert_null(spate_windowed_aggregate(
        spate_keyed_window(spate_stream_key_by(s, key_of_a, NULL), spate_tumbling_windows(1000, 0)), "w", &fn,
        out));
    assert_non_null(strstr(spate_env_error(env), "key_only needs a stream keyed by fields"));
    spate_env_destroy(env);
    spate_schema_release(in);
    spate_schema_release(out);
}

static void windows_need_event_timestamps(void **state)
{
    (void)state;
    spate_env_t *env = tu_env_create();
    tu_seq_opts_t o = { .n = 10, .keys = 2, .parallel = true };
    spate_stream_t *s = spate_env_add_source(env, tu_seq_source(&o), "seq"); /* no event time */
    spate_schema_t *out = spate_schema_of("k BIGINT, start BIGINT, end_ BIGINT, n BIGINT");
    spate_aggregate_function_t fn = tu_window_count();
    spate_stream_t *r = spate_windowed_aggregate(
        spate_keyed_window(spate_stream_key_by_field(s, "k"), spate_tumbling_windows(100, 0)), "w", &fn, out);
    spate_stream_sink(r, spate_blackhole_sink(), "out");
    assert_int_equal(spate_env_execute(env, "no-time"), SPATE_EINVAL);
    assert_non_null(strstr(spate_env_error(env), "without an event timestamp"));
    spate_env_destroy(env);
    env = tu_env_create();
    assert_null(
        spate_keyed_window(spate_stream_key_by_field(spate_env_add_source(env, tu_seq_source(&o), "s"), "k"),
                           spate_tumbling_windows(0, 0)));
    assert_non_null(strstr(spate_env_error(env), "must be > 0"));
    spate_env_destroy(env);
    spate_schema_release(out);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(tumbling_windows_at_their_boundaries),
    cmocka_unit_test(sliding_windows_count_each_record_in_every_window),
    cmocka_unit_test(sessions_merge_also_when_a_late_record_bridges_two),
    cmocka_unit_test(allowed_lateness_refires_and_later_records_go_to_late_data),
    cmocka_unit_test(process_window_functions_see_all_rows),
    cmocka_unit_test(count_windows_fire_by_count),
    cmocka_unit_test(processing_time_windows_fire_on_the_clock),
    cmocka_unit_test(interval_join_pairs_rows_within_the_bounds),
    cmocka_unit_test(window_joins_pair_rows_of_the_same_window),
    cmocka_unit_test(windows_need_event_timestamps),
    cmocka_unit_test(windows_add_a_batchs_rows_per_key_in_order),
    cmocka_unit_test(key_only_keeps_the_key_fields_of_the_first_row),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "api_window");
}
