/*
 * test_runtime.c — the parallel runtime end to end through the DataStream
 * API: partitioners, chaining, keyed reduce at several parallelisms,
 * streaming vs batch mode, failure and cancellation, back-pressure.
 * These are the tests `make tsan` runs under ThreadSanitizer.
 */
#include "test_main.h"
#include "test_util.h"

#include <spate/spate.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/runtime.h"
#include "types/types.h"

static spate_stream_t *seq(spate_env_t *env, int64_t n, int64_t keys, bool parallel)
{
    tu_seq_opts_t o = { .n = n, .keys = keys, .parallel = parallel };
    return spate_env_add_source(env, tu_seq_source(&o), "seq");
}

/* Expected "k,sum" lines of a keyed sum over seq(n, keys), sorted. */
static char *expected_sums(int64_t n, int64_t keys)
{
    char *buf = sp_xmalloc((size_t)keys * 48 + 1), *p = buf;
    for (int64_t k = 0; k < keys; k++) {
        int64_t sum = 0;
        for (int64_t v = k; v < n; v += keys) sum += v;
        p += sprintf(p, "%lld,%lld\n", (long long)k, (long long)sum);
    }
    char *sorted = tu_sort_lines(buf);
    free(buf);
    return sorted;
}

static int64_t live_at_start;

static int setup(void **state)
{
    (void)state;
    live_at_start = sp_batch_live_bytes();
    return 0;
}

/* The final row per key of a running (streaming) sum: keep the max v-sum seen per key. */
static char *last_per_key(tu_capture_t *c)
{
    char *sorted = tu_capture_sorted(c, true);
    /* rows are "k,sum"; per key keep the largest sum (sums only grow: values are >= 0) */
    int64_t best[1024];
    bool seen[1024] = { false };
    int64_t maxk = -1;
    for (char *save = NULL, *l = strtok_r(sorted, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        long long k, s;
        if (sscanf(l, "%lld,%lld", &k, &s) != 2 || k < 0 || k >= 1024) continue;
        if (!seen[k] || s > best[k]) best[k] = s;
        seen[k] = true;
        if (k > maxk) maxk = k;
    }
    free(sorted);
    char *buf = sp_xmalloc(1024 * 48), *p = buf;
    *p = '\0';
    for (int64_t k = 0; k <= maxk; k++)
        if (seen[k]) p += sprintf(p, "%lld,%lld\n", (long long)k, (long long)best[k]);
    char *out = tu_sort_lines(buf);
    free(buf);
    return out;
}

static void run_keyed_sum(int source_p, int p, const char *mode, char **result, size_t *rows)
{
    tu_capture_t cap;
    tu_capture_init(&cap);
    spate_env_t *env = spate_env_create();
    assert_int_equal(spate_env_set_parallelism(env, p), SPATE_OK);
    if (mode) assert_int_equal(spate_env_set_config(env, "execution.runtime-mode", mode), SPATE_OK);
    spate_stream_t *s = spate_stream_set_parallelism(seq(env, 20000, 37, true), source_p);
    spate_stream_t *sums = spate_keyed_sum(spate_stream_key_by_field(s, "k"), "v");
    spate_stream_sink(sums, tu_capture_sink(&cap), "capture");
    int rc = spate_env_execute(env, "keyed-sum");
    assert_int_equal(rc, SPATE_OK);
    assert_true(cap.finished);
    *rows = cap.n;
    *result = last_per_key(&cap);
    spate_env_destroy(env);
    tu_capture_fini(&cap);
}

static void keyed_sum_same_at_every_parallelism(void **state)
{
    (void)state;
    char *expected = expected_sums(20000, 37);
    int ps[] = { 1, 2, 4 };
    for (size_t i = 0; i < 3; i++) {
        char *got;
        size_t rows;
        run_keyed_sum(ps[i], ps[i], NULL, &got, &rows);
        assert_string_equal(got, expected);
        assert_int_equal(rows, 20000); /* STREAMING: one update per input row */
        free(got);
    }
    /* source parallelism differs from the keyed operator's */
    char *got;
    size_t rows;
    run_keyed_sum(3, 2, NULL, &got, &rows);
    assert_string_equal(got, expected);
    free(got);
    free(expected);
    assert_int_equal(sp_batch_live_bytes(), live_at_start);
}

static void batch_mode_emits_final_values_only(void **state)
{
    (void)state;
    char *expected = expected_sums(20000, 37);
    const char *modes[] = { "BATCH", "AUTOMATIC" };
    for (int m = 0; m < 2; m++)
        for (int p = 1; p <= 4; p *= 2) {
            char *got;
            size_t rows;
            run_keyed_sum(p, p, modes[m], &got, &rows);
            assert_string_equal(got, expected);
            assert_int_equal(rows, 37);
            free(got);
        }
    free(expected);
}

static void batch_mode_rejects_unbounded_sources(void **state)
{
    (void)state;
    tu_capture_t cap;
    tu_capture_init(&cap);
    spate_env_t *env = spate_env_create();
    spate_env_set_config(env, "execution.runtime-mode", "BATCH");
    spate_stream_sink(seq(env, 0, 1, true), tu_capture_sink(&cap), "capture");
    assert_int_equal(spate_env_execute(env, "j"), SPATE_EINVAL);
    assert_non_null(strstr(spate_env_error(env), "BATCH"));
    spate_env_destroy(env);
    tu_capture_fini(&cap);
}

static int double_v(void *ctx, const spate_row_t *in, spate_collector_t *out)
{
    (void)ctx;
    spate_out_set_bigint(out, 0, spate_row_get_bigint(in, 0));
    spate_out_set_bigint(out, 1, 2 * spate_row_get_bigint(in, 1));
    return spate_out_emit(out);
}

static int odd_only(void *ctx, const spate_row_t *in)
{
    (void)ctx;
    return spate_row_get_bigint(in, 1) % 2 == 1;
}

static int twice(void *ctx, const spate_row_t *in, spate_collector_t *out)
{
    (void)ctx;
    for (int i = 0; i < 2; i++) {
        int rc = spate_out_emit_row(out, in);
        if (rc) return rc;
    }
    return SPATE_OK;
}

static void map_filter_flat_map_chain(void **state)
{
    (void)state;
    for (int p = 1; p <= 4; p *= 2) {
        tu_capture_t cap;
        tu_capture_init(&cap);
        spate_env_t *env = spate_env_create();
        spate_env_set_parallelism(env, p);
        spate_stream_t *s = seq(env, 1000, 1, true);
        s = spate_stream_map(s, "double", double_v, NULL, NULL);
        s = spate_stream_filter(s, "never", odd_only, NULL); /* doubled values are even: all dropped */
        spate_stream_sink(s, tu_capture_sink(&cap), "capture");
        spate_stream_t *t = spate_stream_filter(seq(env, 1000, 1, true), "odd", odd_only, NULL);
        t = spate_stream_flat_map(t, "twice", twice, NULL, NULL);
        spate_stream_sink(t, tu_capture_sink(&cap), "capture2");
        assert_int_equal(spate_env_execute(env, "chain"), SPATE_OK);
        assert_int_equal(cap.n, 1000); /* 500 odd values, twice each */
        char *rows = tu_capture_sorted(&cap, true);
        assert_non_null(strstr(rows, "0,1\n0,1\n"));
        assert_non_null(strstr(rows, "\n0,999\n0,999\n"));
        assert_null(strstr(rows, "0,2\n"));
        free(rows);
        spate_env_destroy(env);
        tu_capture_fini(&cap);
    }
}

static int count_subtasks(tu_capture_t *c, int *per_subtask, int max)
{
    int distinct = 0;
    memset(per_subtask, 0, sizeof(int) * (size_t)max);
    for (size_t i = 0; i < c->n; i++) {
        int st = atoi(c->rows[i]);
        if (st >= 0 && st < max && per_subtask[st]++ == 0) distinct++;
    }
    return distinct;
}

static void partitioners_route_rows(void **state)
{
    (void)state;
    int per[8];
    /* rebalance from one source subtask spreads over all 4 sink subtasks */
    {
        tu_capture_t cap;
        tu_capture_init(&cap);
        spate_env_t *env = spate_env_create();
        spate_env_set_parallelism(env, 4);
        tu_seq_opts_t o = { .n = 40000, .keys = 1, .parallel = false, .rows_per_poll = 100 };
        spate_stream_t *s = spate_env_add_source(env, tu_seq_source(&o), "single");
        spate_stream_sink(spate_stream_rebalance(s), tu_capture_sink(&cap), "capture");
        assert_int_equal(spate_env_execute(env, "rebalance"), SPATE_OK);
        assert_int_equal(cap.n, 40000);
        assert_int_equal(count_subtasks(&cap, per, 8), 4);
        for (int i = 0; i < 4; i++) assert_true(per[i] >= 5000);
        spate_env_destroy(env);
        tu_capture_fini(&cap);
    }
    /* broadcast: every sink subtask sees every row */
    {
        tu_capture_t cap;
        tu_capture_init(&cap);
        spate_env_t *env = spate_env_create();
        spate_env_set_parallelism(env, 3);
        spate_stream_t *s = spate_stream_set_parallelism(seq(env, 1000, 1, true), 2);
        spate_stream_sink(spate_stream_broadcast(s), tu_capture_sink(&cap), "capture");
        assert_int_equal(spate_env_execute(env, "broadcast"), SPATE_OK);
        assert_int_equal(cap.n, 3000);
        assert_int_equal(count_subtasks(&cap, per, 8), 3);
        for (int i = 0; i < 3; i++) assert_int_equal(per[i], 1000);
        spate_env_destroy(env);
        tu_capture_fini(&cap);
    }
    /* rescale 2 -> 4: each sink subtask is fed by exactly one source subtask */
    {
        tu_capture_t cap;
        tu_capture_init(&cap);
        spate_env_t *env = spate_env_create();
        spate_env_set_parallelism(env, 4);
        spate_stream_t *s = spate_stream_set_parallelism(seq(env, 4000, 1, true), 2);
        spate_stream_sink(spate_stream_rescale(s), tu_capture_sink(&cap), "capture");
        assert_int_equal(spate_env_execute(env, "rescale"), SPATE_OK);
        assert_int_equal(cap.n, 4000);
        for (size_t i = 0; i < cap.n; i++) {
            int st = atoi(cap.rows[i]);
            long long v = atoll(strrchr(cap.rows[i], ',') + 1);
            assert_int_equal(st / 2, v % 2); /* source subtask v%2 feeds sink subtasks 2*(v%2), 2*(v%2)+1 */
        }
        spate_env_destroy(env);
        tu_capture_fini(&cap);
    }
}

static int by_value_mod(void *ctx, const spate_row_t *in, int n)
{
    (void)ctx;
    return (int)(spate_row_get_bigint(in, 1) % n);
}

static int bad_partition(void *ctx, const spate_row_t *in, int n)
{
    (void)ctx;
    (void)in;
    return n; /* out of range */
}

static void custom_and_hash_partitioning(void **state)
{
    (void)state;
    tu_capture_t cap;
    tu_capture_init(&cap);
    spate_env_t *env = tu_env_create();
    spate_env_set_parallelism(env, 3);
    spate_stream_t *s = seq(env, 3000, 10, true);
    spate_stream_sink(spate_stream_partition_custom(s, by_value_mod, NULL), tu_capture_sink(&cap), "custom");
    assert_int_equal(spate_env_execute(env, "custom"), SPATE_OK);
    assert_int_equal(cap.n, 3000);
    for (size_t i = 0; i < cap.n; i++) {
        long long v = atoll(strrchr(cap.rows[i], ',') + 1);
        assert_int_equal(atoi(cap.rows[i]), v % 3);
    }
    spate_env_destroy(env);
    tu_capture_fini(&cap);

    /* hash: every row of one key lands on one subtask */
    tu_capture_init(&cap);
    env = tu_env_create();
    spate_env_set_parallelism(env, 4);
    spate_stream_t *keyed = (spate_stream_t *)spate_stream_key_by_field(seq(env, 5000, 50, true), "k");
    spate_stream_sink(keyed, tu_capture_sink(&cap), "hash");
    assert_int_equal(spate_env_execute(env, "hash"), SPATE_OK);
    int owner[50];
    for (int k = 0; k < 50; k++) owner[k] = -1;
    for (size_t i = 0; i < cap.n; i++) {
        int st = atoi(cap.rows[i]);
        int k = atoi(strchr(cap.rows[i], '|') + 1);
        if (owner[k] < 0) owner[k] = st;
        assert_int_equal(owner[k], st);
    }
    int used[8];
    assert_true(count_subtasks(&cap, used, 8) >= 3); /* 50 keys spread over 4 subtasks */
    spate_env_destroy(env);
    tu_capture_fini(&cap);

    /* a custom partitioner returning an out-of-range index fails the job */
    tu_capture_init(&cap);
    env = tu_env_create();
    spate_env_set_parallelism(env, 2);
    spate_stream_sink(spate_stream_partition_custom(seq(env, 100, 1, true), bad_partition, NULL),
                      tu_capture_sink(&cap), "bad");
    assert_int_equal(spate_env_execute(env, "bad"), SPATE_EUSER);
    assert_non_null(strstr(spate_env_error(env), "custom partitioner returned 2"));
    spate_env_destroy(env);
    tu_capture_fini(&cap);
}

static int tag_left(void *ctx, const spate_row_t *in, spate_collector_t *out)
{
    (void)ctx;
    spate_out_set_string(out, 0, "L", 1);
    spate_out_set_bigint(out, 1, spate_row_get_bigint(in, 1));
    return spate_out_emit(out);
}

static int tag_right(void *ctx, const spate_row_t *in, spate_collector_t *out)
{
    (void)ctx;
    spate_out_set_string(out, 0, "R", 1);
    spate_out_set_bigint(out, 1, spate_row_get_bigint(in, 1));
    return spate_out_emit(out);
}

static void union_and_connect(void **state)
{
    (void)state;
    tu_capture_t cap;
    tu_capture_init(&cap);
    spate_env_t *env = spate_env_create();
    spate_env_set_parallelism(env, 2);
    spate_stream_t *u = spate_stream_union(seq(env, 100, 1, true), seq(env, 50, 1, true));
    spate_stream_sink(u, tu_capture_sink(&cap), "union");
    spate_schema_t *tagged = spate_schema_of("side STRING, v BIGINT");
    spate_connected_t *c = spate_stream_connect(seq(env, 10, 1, false), seq(env, 20, 1, true));
    spate_stream_t *m = spate_connected_map(c, "tag", tag_left, tag_right, NULL, tagged);
    spate_stream_sink(m, tu_capture_sink(&cap), "co");
    spate_schema_release(tagged);
    assert_int_equal(spate_env_execute(env, "union"), SPATE_OK);
    assert_int_equal(cap.n, 150 + 30);
    int l = 0, r = 0;
    for (size_t i = 0; i < cap.n; i++) {
        const char *row = strchr(cap.rows[i], '|') + 1;
        l += row[0] == 'L';
        r += row[0] == 'R';
    }
    assert_int_equal(l, 10);
    assert_int_equal(r, 20);
    spate_env_destroy(env);
    tu_capture_fini(&cap);
}

typedef struct fail_ctx {
    int64_t fail_at;
} fail_ctx_t;

static int fail_on(void *ctx, const spate_row_t *in, spate_collector_t *out)
{
    const fail_ctx_t *f = ctx;
    if (spate_row_get_bigint(in, 1) == f->fail_at)
        return spate_out_fail(out, "boom at %lld", (long long)f->fail_at);
    return spate_out_emit_row(out, in);
}

static void failing_function_fails_the_job(void **state)
{
    (void)state;
    int64_t at[] = { 0, 1, 999, 5000, 19999 };
    for (size_t i = 0; i < SP_ARRAY_LEN(at); i++)
        for (int p = 1; p <= 4; p *= 2) {
            tu_capture_t cap;
            tu_capture_init(&cap);
            fail_ctx_t f = { at[i] };
            spate_env_t *env = tu_env_create();
            spate_env_set_parallelism(env, p);
            spate_stream_t *s = spate_stream_flat_map(seq(env, 20000, 7, true), "explode", fail_on, &f, NULL);
            s = spate_keyed_sum(spate_stream_key_by_field(s, "k"), "v");
            spate_stream_sink(s, tu_capture_sink(&cap), "capture");
            spate_job_t *job;
            assert_int_equal(spate_env_start(env, "failing", &job), SPATE_OK);
            assert_int_equal(spate_job_wait(job), SPATE_EUSER);
            assert_int_equal(spate_job_status(job), SPATE_JOB_FAILED);
            char expect[64];
            snprintf(expect, sizeof expect, "boom at %lld", (long long)at[i]);
            assert_non_null(strstr(spate_job_error(job), "operator 'explode'"));
            assert_non_null(strstr(spate_job_error(job), expect));
            spate_job_destroy(job);
            spate_env_destroy(env);
            tu_capture_fini(&cap);
        }
    assert_int_equal(sp_batch_live_bytes(), live_at_start);
}

static void cancel_from_another_thread(void **state)
{
    (void)state;
    for (int p = 1; p <= 2; p++) {
        tu_capture_t cap;
        tu_capture_init(&cap);
        spate_env_t *env = spate_env_create();
        spate_env_set_parallelism(env, p);
        spate_stream_t *s = spate_keyed_sum(spate_stream_key_by_field(seq(env, 0, 100, true), "k"), "v");
        spate_stream_sink(s, tu_capture_sink(&cap), "capture");
        spate_job_t *job;
        assert_int_equal(spate_env_start(env, "forever", &job), SPATE_OK);
        int rc;
        assert_int_equal(spate_job_wait_for(job, 200, &rc), 0); /* unbounded: still running */
        assert_int_equal(spate_job_status(job), SPATE_JOB_RUNNING);
        spate_job_cancel(job);
        assert_int_equal(spate_job_wait(job), SPATE_ECANCELED);
        assert_int_equal(spate_job_status(job), SPATE_JOB_CANCELED);
        assert_true(cap.n > 0);
        spate_job_destroy(job);
        spate_env_destroy(env);
        tu_capture_fini(&cap);
    }
    assert_int_equal(sp_batch_live_bytes(), live_at_start);
}

static void slow_sink_backpressures_source(void **state)
{
    (void)state;
    tu_capture_t cap;
    tu_capture_init(&cap);
    cap.sleep_ms_per_batch = 2;
    spate_env_t *env = spate_env_create();
    spate_env_set_parallelism(env, 2);
    spate_stream_t *s = spate_stream_map(seq(env, 0, 10, true), "double", double_v, NULL, NULL);
    spate_stream_sink(spate_stream_rebalance(s), tu_capture_sink(&cap), "slow");
    spate_job_t *job;
    int64_t before = sp_batch_live_bytes();
    assert_int_equal(spate_env_start(env, "backpressure", &job), SPATE_OK);
    int64_t peak = 0;
    for (int i = 0; i < 50; i++) { /* 5 s */
        int rc;
        assert_int_equal(spate_job_wait_for(job, 100, &rc), 0);
        int64_t live = sp_batch_live_bytes() - before;
        if (live > peak) peak = live;
    }
    /* 2x2 channels x 8 batches + batches in flight + pools: a few MB; an unbounded queue would hold GBs */
    pthread_mutex_lock(&cap.mu);
    size_t delivered = cap.n;
    pthread_mutex_unlock(&cap.mu);
    print_message("peak batch memory %lld bytes, %zu rows delivered\n", (long long)peak, delivered);
    assert_true(peak < 64ll * 1024 * 1024);
    assert_true(delivered > 0);
    spate_job_cancel(job);
    assert_int_equal(spate_job_wait(job), SPATE_ECANCELED);
    spate_job_destroy(job);
    spate_env_destroy(env);
    tu_capture_fini(&cap);
    assert_int_equal(sp_batch_live_bytes(), live_at_start);
}

typedef struct wm_state {
    int64_t last;
    bool ordered;
} wm_state_t;

static int wm_process(void *state, const spate_row_t *in, spate_context_t *c, spate_collector_t *out)
{
    wm_state_t *w = state;
    int64_t wm = spate_context_watermark(c);
    if (wm < w->last) w->ordered = false;
    w->last = wm;
    return spate_out_emit_row(out, in);
}

static int wm_open(void *ctx, const spate_task_info_t *info, void **state)
{
    (void)ctx;
    (void)info;
    wm_state_t *w = calloc(1, sizeof *w);
    w->last = INT64_MIN;
    w->ordered = true;
    *state = w;
    return SPATE_OK;
}

static int wm_end(void *state, spate_context_t *c, spate_collector_t *out)
{
    wm_state_t *w = state;
    (void)out;
    /* end of input arrives after the final watermark */
    if (spate_context_watermark(c) != INT64_MAX || !w->ordered)
        return spate_out_fail(out, "watermark out of order");
    return SPATE_OK;
}

static void wm_close(void *state)
{
    free(state);
}

static void end_of_input_sends_max_watermark(void **state)
{
    (void)state;
    tu_capture_t cap;
    tu_capture_init(&cap);
    spate_env_t *env = spate_env_create();
    spate_env_set_parallelism(env, 2);
    spate_process_function_t pf = {
        .open = wm_open, .process = wm_process, .end_input = wm_end, .close = wm_close
    };
    spate_stream_t *s =
        spate_stream_process(spate_stream_rebalance(seq(env, 5000, 1, true)), "wm", &pf, NULL);
    spate_stream_sink(s, tu_capture_sink(&cap), "capture");
    assert_int_equal(spate_env_execute(env, "wm"), SPATE_OK);
    assert_int_equal(cap.n, 5000);
    spate_env_destroy(env);
    tu_capture_fini(&cap);
}

static int no_row_after_final_watermark(void *state, const spate_row_t *in, spate_context_t *c,
                                        spate_collector_t *out)
{
    (void)state;
    if (spate_context_watermark(c) == INT64_MAX)
        return spate_out_fail(out, "a row arrived after the final watermark");
    return spate_out_emit_row(out, in);
}

/* Rows a BATCH reduce emits at end of input reach the operators after it before their final watermark. */
static void end_of_input_rows_precede_the_final_watermark(void **state)
{
    (void)state;
    for (int chained = 0; chained < 2; chained++) {
        tu_capture_t cap;
        tu_capture_init(&cap);
        spate_env_t *env = spate_env_create();
        spate_env_set_parallelism(env, 2);
        spate_env_set_config(env, "execution.runtime-mode", "BATCH");
        spate_stream_t *s = spate_keyed_sum(spate_stream_key_by_field(seq(env, 1000, 10, true), "k"), "v");
        if (!chained) s = spate_stream_rebalance(s);
        spate_process_function_t pf = { .process = no_row_after_final_watermark };
        s = spate_stream_process(s, "check", &pf, NULL);
        spate_stream_sink(s, tu_capture_sink(&cap), "capture");
        assert_int_equal(spate_env_execute(env, "order"), SPATE_OK);
        assert_int_equal(cap.n, 10);
        spate_env_destroy(env);
        tu_capture_fini(&cap);
    }
}

static void graph_is_deterministic(void **state)
{
    (void)state;
    char a[4096], b[4096];
    for (int round = 0; round < 2; round++) {
        spate_env_t *env = spate_env_create();
        spate_stream_t *s = spate_stream_map(seq(env, 10, 1, true), "double", double_v, NULL, NULL);
        s = spate_keyed_sum(spate_stream_key_by_field(s, "k"), "v");
        spate_stream_set_uid(s, "the-sum");
        spate_sink_destroy(spate_blackhole_sink()); /* constructing and dropping a sink must not affect ids */
        spate_stream_sink(s, spate_blackhole_sink(), "out");
        spate_env_describe(env, round ? b : a, 4096);
        spate_env_destroy(env);
    }
    assert_string_equal(a, b);
    assert_non_null(strstr(a, "uid=the-sum"));
    assert_non_null(strstr(a, "-> 2.0 HASH"));
}

static void configuration_errors_name_the_key(void **state)
{
    (void)state;
    spate_env_t *env = spate_env_create();
    assert_int_equal(spate_env_set_config(env, "no.such.key", "1"), SPATE_ECONFIG);
    assert_non_null(strstr(spate_last_error(), "'no.such.key'"));
    assert_int_equal(spate_env_set_config(env, "parallelism.default", "zero"), SPATE_ECONFIG);
    assert_non_null(strstr(spate_last_error(), "'parallelism.default'"));
    assert_int_equal(spate_env_set_config(env, "execution.runtime-mode", "sometimes"), SPATE_ECONFIG);
    assert_int_equal(spate_env_set_config(env, "pipeline.auto-watermark-interval", "1 fortnight"),
                     SPATE_ECONFIG);
    spate_env_destroy(env);

    env = spate_env_create();
    assert_int_equal(spate_env_set_config(env, "execution.runtime-mode", "batch"), SPATE_OK);
    assert_string_equal(spate_env_get_config(env, "execution.runtime-mode"), "BATCH");
    assert_string_equal(spate_env_get_config(env, "pipeline.max-parallelism"), "128");
    assert_null(spate_env_get_config(env, "no.such.key"));
    spate_env_destroy(env);
}

static void invalid_graphs_are_rejected(void **state)
{
    (void)state;
    /* forward between different parallelism */
    spate_env_t *env = spate_env_create();
    spate_stream_t *s = spate_stream_set_parallelism(seq(env, 10, 1, true), 2);
    spate_stream_sink(spate_stream_forward(s), spate_blackhole_sink(), "out");
    assert_int_equal(spate_env_execute(env, "j"), SPATE_EINVAL);
    assert_non_null(strstr(spate_env_error(env), "forward partitioning"));
    spate_env_destroy(env);
    /* a non-parallel source cannot get parallelism 2 */
    env = spate_env_create();
    assert_null(spate_stream_set_parallelism(seq(env, 10, 1, false), 2));
    assert_non_null(strstr(spate_env_error(env), "not parallel"));
    spate_env_destroy(env);
    /* no sink */
    env = spate_env_create();
    seq(env, 10, 1, true);
    assert_int_equal(spate_env_execute(env, "j"), SPATE_EINVAL);
    assert_non_null(strstr(spate_env_error(env), "no sink"));
    spate_env_destroy(env);
    /* an unknown key field: the error is kept and reported by execute */
    env = spate_env_create();
    spate_keyed_t *k = spate_stream_key_by_field(seq(env, 10, 1, true), "nope");
    assert_null(k);
    assert_null(spate_keyed_sum(k, "v"));
    assert_int_equal(spate_env_execute(env, "j"), SPATE_EINVAL);
    assert_non_null(strstr(spate_env_error(env), "'nope'"));
    spate_env_destroy(env);
}

/* Barriers injected at the source arrive at every sink subtask, in id order and in order with the data. */
static void run_barriers(bool through_two_channels)
{
    tu_capture_t cap;
    tu_capture_init(&cap);
    cap.record_barriers = true;
    spate_env_t *env = spate_env_create();
    spate_env_set_parallelism(env, 2);
    tu_seq_opts_t o = { .n = 0, .keys = 1, .parallel = false, .rows_per_poll = 50 };
    spate_stream_t *s = spate_env_add_source(env, tu_seq_source(&o), "single");
    /* one channel into each sink subtask makes the order of a channel observable; with a
     * parallel map between, each sink subtask has two input channels to gather the barrier from */
    s = spate_stream_map(s, "double", double_v, NULL, NULL);
    if (!through_two_channels) spate_stream_set_parallelism(s, 1);
    spate_stream_sink(spate_stream_rebalance(s), tu_capture_sink(&cap), "capture");
    spate_job_t *job;
    assert_int_equal(spate_env_start(env, "barriers", &job), SPATE_OK);
    for (int64_t id = 1; id <= 5; id++) {
        int rc;
        assert_int_equal(spate_job_wait_for(job, 30, &rc), 0);
        assert_int_equal(sp_job_trigger_barrier(job, id), SPATE_OK);
    }
    /* wait until both sink subtasks saw barrier 5 (bounded: 10 s) */
    for (int i = 0; i < 1000; i++) {
        int seen = 0;
        pthread_mutex_lock(&cap.mu);
        for (size_t r = 0; r < cap.n; r++) seen += strstr(cap.rows[r], "BARRIER 5") != NULL;
        pthread_mutex_unlock(&cap.mu);
        if (seen == 2) break;
        sp_sleep_ms(10);
    }
    spate_job_cancel(job);
    assert_int_equal(spate_job_wait(job), SPATE_ECANCELED);
    for (int st = 0; st < 2; st++) {
        int64_t next_barrier = 1, max_v = -1, max_v_at_barrier = -1;
        for (size_t r = 0; r < cap.n; r++) {
            if (atoi(cap.rows[r]) != st) continue;
            const char *b = strstr(cap.rows[r], "BARRIER ");
            if (b) {
                assert_int_equal(atoll(b + 8), next_barrier); /* each id once, in order */
                next_barrier++;
                max_v_at_barrier = max_v;
            } else {
                long long v = atoll(strrchr(cap.rows[r], ',') + 1);
                if (!through_two_channels)
                    assert_true(v > max_v_at_barrier); /* no row from before a barrier arrives after it */
                if (v > max_v) max_v = v;
            }
        }
        assert_int_equal(next_barrier, 6);
    }
    spate_job_destroy(job);
    spate_env_destroy(env);
    tu_capture_fini(&cap);
}

static void barriers_travel_in_band(void **state)
{
    (void)state;
    run_barriers(false);
    run_barriers(true);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup(barriers_travel_in_band, setup),
    cmocka_unit_test_setup(keyed_sum_same_at_every_parallelism, setup),
    cmocka_unit_test_setup(batch_mode_emits_final_values_only, setup),
    cmocka_unit_test_setup(batch_mode_rejects_unbounded_sources, setup),
    cmocka_unit_test_setup(map_filter_flat_map_chain, setup),
    cmocka_unit_test_setup(partitioners_route_rows, setup),
    cmocka_unit_test_setup(custom_and_hash_partitioning, setup),
    cmocka_unit_test_setup(union_and_connect, setup),
    cmocka_unit_test_setup(failing_function_fails_the_job, setup),
    cmocka_unit_test_setup(cancel_from_another_thread, setup),
    cmocka_unit_test_setup(slow_sink_backpressures_source, setup),
    cmocka_unit_test_setup(end_of_input_sends_max_watermark, setup),
    cmocka_unit_test_setup(end_of_input_rows_precede_the_final_watermark, setup),
    cmocka_unit_test_setup(graph_is_deterministic, setup),
    cmocka_unit_test_setup(configuration_errors_name_the_key, setup),
    cmocka_unit_test_setup(invalid_graphs_are_rejected, setup),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "runtime");
}
