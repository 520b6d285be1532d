/*
 * test_savepoint.c — savepoints of whole jobs: keyed tumbling-window counts
 * (as examples/tumbling_counts) from a rate-limited CSV source at
 * parallelism 2 into the exactly-once file sink.  Stop-with-savepoint
 * part-way, then restore the savepoint (after deleting the job's
 * checkpoints: it must stand alone) at parallelism 1 and 4: the output
 * equals a run without the stop.  Also: a savepoint of a running job,
 * --drain, and the errors.
 */
#include "test_main.h"
#include "test_util.h"

#include <spate/spate.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/api.h"
#include "checkpoint/metadata.h"
#include "runtime/checkpointing.h"

#define RECORDS 6000

static atomic_long consumed; /* rows past the source */

static int pass(void *ctx, const spate_row_t *in, spate_collector_t *out)
{
    (void)ctx;
    atomic_fetch_add(&consumed, 1);
    spate_out_copy_field(out, 0, in, 0);
    spate_out_copy_field(out, 1, in, 1);
    return spate_out_emit(out);
}

/* "k<i % 40>,<timestamp>": timestamps 10 ms apart, a little out of order */
static void write_input(const char *path)
{
    FILE *f = fopen(path, "w");
    for (int i = 0; i < RECORDS; i++) fprintf(f, "k%d,%d\n", i % 40, i * 10 - (i % 3) * 7);
    fclose(f);
}

/* Counts per key per 1 s tumbling window, at parallelism p, from `from` (NULL: afresh). */
static spate_env_t *build(const char *in, const char *out, const char *ck, int p, int64_t rate,
                          const char *from)
{
    spate_env_t *env = spate_env_create();
    spate_env_set_parallelism(env, p);
    assert_int_equal(spate_env_set_config(env, "execution.checkpointing.interval", "100 ms"), SPATE_OK);
    assert_int_equal(spate_env_set_config(env, "state.checkpoints.dir", ck), SPATE_OK);
    if (from) assert_int_equal(spate_env_set_config(env, "execution.savepoint.path", from), SPATE_OK);
    spate_schema_t *rows = spate_schema_of("key STRING NOT NULL, timestamp_ms BIGINT NOT NULL");
    spate_schema_t *counts =
        spate_schema_of("key STRING NOT NULL, window_start BIGINT, window_end BIGINT, count BIGINT");
    spate_csv_options_t csv;
    spate_csv_options_init(&csv);
    csv.rows_per_second = rate;
    spate_watermark_strategy_t *ws = spate_watermark_for_bounded_out_of_orderness(20);
    spate_watermark_with_timestamp_field(ws, "timestamp_ms");
    spate_watermark_with_per_record_emission(ws);
    spate_stream_t *s =
        spate_env_add_source_with_watermarks(env, spate_file_csv_source(in, rows, &csv), ws, "records");
    spate_stream_set_parallelism(s, 1); /* the file in order */
    s = spate_stream_set_parallelism(spate_stream_map(s, "pass", pass, NULL, NULL), 1);
    spate_windowed_t *win =
        spate_keyed_window(spate_stream_key_by_field(s, "key"), spate_tumbling_windows(1000, 0));
    spate_aggregate_function_t count = tu_window_count();
    spate_stream_sink(spate_windowed_aggregate(win, "count", &count, counts), spate_file_sink(out, NULL),
                      "counts");
    spate_schema_release(rows);
    spate_schema_release(counts);
    return env;
}

/* A savepoint call that must succeed; says why when it does not. */
static void expect_ok(int rc)
{
    if (rc != SPATE_OK) print_message("savepoint call failed: %s\n", spate_last_error());
    assert_int_equal(rc, SPATE_OK);
}

typedef struct windows_job {
    const char *in, *ck;
} windows_job_t;

static spate_env_t *windows_job(void *ctx, const char *out, int p, const char *from)
{
    const windows_job_t *w = ctx;
    return build(w->in, out, w->ck, p, 0, from);
}

static char *sorted_dir(const char *dir)
{
    char *all = tu_read_dir(dir), *sorted = tu_sort_lines(all);
    free(all);
    return sorted;
}

static int lines(const char *s)
{
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* Starts the job, waits until a checkpoint completed, and returns it running. */
static spate_job_t *start_and_run_a_while(spate_env_t *env)
{
    spate_job_t *job;
    assert_int_equal(spate_env_start(env, "windows", &job), SPATE_OK);
    bool completed = false;
    for (int i = 0; i < 500 && !completed; i++) { /* bounded: 5 s */
        sp_sleep_ms(10);
        for (size_t c = 0; c < spate_job_checkpoint_count(job) && !completed; c++) {
            spate_checkpoint_stats_t st;
            completed = spate_job_checkpoint_stats(job, c, &st) && st.status == SPATE_CHECKPOINT_COMPLETED;
        }
    }
    assert_true(completed);
    return job;
}

static void copy_dir(const char *from, const char *to)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cp -a '%s' '%s'", from, to);
    assert_int_equal(system(cmd), 0);
}

/* A job of a test, writing to out at parallelism p, restored from `from` (NULL: afresh). */
typedef spate_env_t *(*job_fn)(void *ctx, const char *out, int p, const char *from);

/* With the job's checkpoints under ck deleted (the savepoint stands alone), restores savepoint sp at
 * parallelism 1 and 4, each into a copy of `out` (what committed before the stop): the output then
 * equals `want`, an uninterrupted run's. */
static void restores_at_1_and_4(const char *dir, const char *out, const char *ck, const char *sp,
                                const char *want, job_fn job, void *ctx)
{
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", ck);
    assert_int_equal(system(cmd), 0);
    for (int par = 1; par <= 4; par *= 4) {
        char copy[600];
        snprintf(copy, sizeof copy, "%s/restored%d", dir, par);
        copy_dir(out, copy);
        spate_env_t *env = job(ctx, copy, par, sp);
        int rc = spate_env_execute(env, "windows");
        if (rc) print_message("restore at %d failed: %s\n", par, spate_env_error(env));
        assert_int_equal(rc, SPATE_OK);
        spate_env_destroy(env);
        char *got = sorted_dir(copy);
        assert_string_equal(got, want); /* every window once: none lost, none twice */
        free(got);
    }
}

/* The savepoint's _metadata: kind savepoint, every handle inline or a file inside the directory. */
static void check_self_contained(const char *sp)
{
    char meta[1024];
    snprintf(meta, sizeof meta, "%s/_metadata", sp);
    size_t len;
    char *bytes = tu_read_file_len(meta, &len);
    assert_non_null(bytes);
    sp_ckpt_meta_t m;
    sp_error_t err = { 0 };
    assert_int_equal(sp_ckpt_meta_decode(bytes, len, &m, &err), SPATE_OK);
    assert_int_equal(m.kind, SP_CKPT_SAVEPOINT);
    assert_string_equal(m.job_name, "windows");
    for (size_t o = 0; o < m.nops; o++)
        for (uint32_t s = 0; s < m.ops[o]->parallelism; s++)
            for (size_t h = 0; h < m.ops[o]->subtasks[s].nhandles; h++) {
                const sp_ckpt_handle_t *hd = &m.ops[o]->subtasks[s].handles[h];
                if (hd->location == SP_CKPT_LOC_INLINE) continue;
                assert_int_equal(hd->location, SP_CKPT_LOC_EXCLUSIVE);
                char path[2048];
                snprintf(path, sizeof path, "%s/%s", sp, hd->path);
                struct stat st;
                assert_int_equal(stat(path, &st), 0);
                assert_true((uint64_t)st.st_size >= hd->offset + hd->length);
            }
    sp_ckpt_meta_fini(&m);
    free(bytes);
}

/* A test's files under its directory: the input (written), output, checkpoints, savepoints. */
typedef struct paths {
    char in[512], out[512], ck[512], sps[512];
} paths_t;

static void paths_init(paths_t *p, const char *dir)
{
    snprintf(p->in, sizeof p->in, "%s/in.csv", dir);
    snprintf(p->out, sizeof p->out, "%s/out", dir);
    snprintf(p->ck, sizeof p->ck, "%s/ck", dir);
    snprintf(p->sps, sizeof p->sps, "%s/savepoints", dir);
    write_input(p->in);
}

/* The output of an uninterrupted run at parallelism 2 (into <dir>/clean), sorted. */
static char *clean_run(const paths_t *p, const char *dir)
{
    char out[600];
    snprintf(out, sizeof out, "%s/clean", dir);
    spate_env_t *env = build(p->in, out, p->ck, 2, 0, NULL);
    assert_int_equal(spate_env_execute(env, "windows"), SPATE_OK);
    spate_env_destroy(env);
    char *want = sorted_dir(out);
    assert_true(lines(want) > 100);
    return want;
}

static void stop_with_savepoint_then_restore_at_parallelism_1_and_4(void **state)
{
    char *dir = *state;
    paths_t p;
    paths_init(&p, dir);
    char *want = clean_run(&p, dir);
    const char *in = p.in, *out = p.out, *ck = p.ck, *sps = p.sps;

    /* at parallelism 2, stopped with a savepoint part-way */
    spate_env_t *env = build(in, out, ck, 2, 5000, NULL);
    spate_job_t *job = start_and_run_a_while(env);
    char sp[1024];
    expect_ok(spate_job_stop_with_savepoint(job, sps, false, sp, sizeof sp));
    assert_non_null(strstr(sp, "/savepoints/savepoint-"));
    assert_int_equal(spate_job_wait(job), SPATE_OK);
    assert_int_equal(spate_job_status(job), SPATE_JOB_FINISHED);
    spate_job_destroy(job);
    spate_env_destroy(env);
    check_self_contained(sp);
    char *part = sorted_dir(out);
    assert_true(lines(part) > 0 && lines(part) < lines(want)); /* committed up to the savepoint: some */
    free(part);
    windows_job_t w = { in, ck };
    restores_at_1_and_4(dir, out, ck, sp, want, windows_job, &w);
    free(want);
}

/* ---- a parallel source rescaled: Nexmark bids at parallelism 2, restored at 1 and 4 ---- */

/* Bids per auction per 1 s event-time window (the bids' own times, watermarks per source
 * subtask), at parallelism p, from `from` (NULL: afresh); max_eps limits the source. */
static spate_env_t *build_nexmark(const char *out, const char *ck, int p, int64_t max_eps, const char *from)
{
    spate_env_t *env = tu_env_create(); /* a failed restore fails the job (no restart afresh) */
    spate_env_set_parallelism(env, p);
    assert_int_equal(spate_env_set_config(env, "execution.checkpointing.interval", "100 ms"), SPATE_OK);
    assert_int_equal(spate_env_set_config(env, "state.checkpoints.dir", ck), SPATE_OK);
    if (from) assert_int_equal(spate_env_set_config(env, "execution.savepoint.path", from), SPATE_OK);
    spate_nexmark_options_t n;
    spate_nexmark_options_init(&n);
    n.events_num = 60000; /* 6 s of event time */
    n.base_time_ms = 1700000000000;
    n.max_events_per_second = max_eps;
    spate_watermark_strategy_t *ws = spate_watermark_for_bounded_out_of_orderness(0);
    spate_stream_t *s =
        spate_env_add_source_with_watermarks(env, spate_nexmark_source(&n, SPATE_NEXMARK_BIDS), ws, "bids");
    spate_windowed_t *win =
        spate_keyed_window(spate_stream_key_by_field(s, "auction"), spate_tumbling_windows(1000, 0));
    spate_schema_t *counts =
        spate_schema_of("auction BIGINT NOT NULL, window_start BIGINT, window_end BIGINT, count BIGINT");
    spate_aggregate_function_t count = tu_window_count();
    spate_stream_sink(spate_windowed_aggregate(win, "count", &count, counts), spate_file_sink(out, NULL),
                      "counts");
    spate_schema_release(counts);
    return env;
}

static spate_env_t *nexmark_job(void *ctx, const char *out, int p, const char *from)
{
    return build_nexmark(out, ctx, p, 0, from);
}

static void a_parallel_source_restores_at_another_parallelism(void **state)
{
    char *dir = *state;
    char clean[600], out[600], ck[600], sps[600];
    snprintf(clean, sizeof clean, "%s/clean", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(ck, sizeof ck, "%s/ck", dir);
    snprintf(sps, sizeof sps, "%s/savepoints", dir);
    spate_env_t *env = build_nexmark(clean, ck, 2, 0, NULL);
    assert_int_equal(spate_env_execute(env, "windows"), SPATE_OK);
    spate_env_destroy(env);
    char *want = sorted_dir(clean);
    assert_true(lines(want) > 100);

    env = build_nexmark(out, ck, 2, 10000, NULL); /* 6 s at this rate: stopped part-way */
    spate_job_t *job = start_and_run_a_while(env);
    char sp[1024];
    expect_ok(spate_job_stop_with_savepoint(job, sps, false, sp, sizeof sp));
    assert_int_equal(spate_job_wait(job), SPATE_OK);
    spate_job_destroy(job);
    spate_env_destroy(env);
    check_self_contained(sp);
    char *part = sorted_dir(out);
    assert_true(lines(part) < lines(want));
    free(part);
    restores_at_1_and_4(dir, out, ck, sp, want, nexmark_job, ck);
    free(want);
}

/* Unbounded Nexmark bids at parallelism 2 into bid counts per auction per 1 s event-time window,
 * captured; restored at 4, source subtasks 2 and 3 own no split: they are idle, so the windows
 * (whose watermark is the smallest of their inputs') still fire. */
static spate_env_t *build_unbounded(tu_capture_t *cap, const char *ck, int p, const char *from)
{
    spate_env_t *env = tu_env_create();
    spate_env_set_parallelism(env, p);
    assert_int_equal(spate_env_set_config(env, "execution.checkpointing.interval", "100 ms"), SPATE_OK);
    assert_int_equal(spate_env_set_config(env, "state.checkpoints.dir", ck), SPATE_OK);
    if (from) assert_int_equal(spate_env_set_config(env, "execution.savepoint.path", from), SPATE_OK);
    spate_nexmark_options_t n;
    spate_nexmark_options_init(&n);
    n.base_time_ms = 1700000000000;
    n.max_events_per_second = 20000; /* 2 s of event time per second */
    spate_stream_t *s =
        spate_env_add_source_with_watermarks(env, spate_nexmark_source(&n, SPATE_NEXMARK_BIDS),
                                             spate_watermark_for_bounded_out_of_orderness(0), "bids");
    spate_windowed_t *win =
        spate_keyed_window(spate_stream_key_by_field(s, "auction"), spate_tumbling_windows(1000, 0));
    spate_schema_t *counts =
        spate_schema_of("auction BIGINT NOT NULL, window_start BIGINT, window_end BIGINT, count BIGINT");
    spate_aggregate_function_t count = tu_window_count();
    spate_stream_sink(spate_windowed_aggregate(win, "count", &count, counts), tu_capture_sink(cap), "counts");
    spate_schema_release(counts);
    return env;
}

static size_t captured(tu_capture_t *c)
{
    pthread_mutex_lock(&c->mu);
    size_t n = c->n;
    pthread_mutex_unlock(&c->mu);
    return n;
}

static void source_subtasks_without_splits_hold_no_watermark_back(void **state)
{
    char *dir = *state;
    char ck[600], sps[600];
    snprintf(ck, sizeof ck, "%s/ck", dir);
    snprintf(sps, sizeof sps, "%s/savepoints", dir);
    tu_capture_t first, second;
    tu_capture_init(&first);
    tu_capture_init(&second);
    spate_env_t *env = build_unbounded(&first, ck, 2, NULL);
    spate_job_t *job = start_and_run_a_while(env);
    char sp[1024];
    expect_ok(spate_job_stop_with_savepoint(job, sps, false, sp, sizeof sp));
    assert_int_equal(spate_job_wait(job), SPATE_OK);
    spate_job_destroy(job);
    spate_env_destroy(env);

    env = build_unbounded(&second, ck, 4, sp);
    assert_int_equal(spate_env_start(env, "windows", &job), SPATE_OK);
    for (int i = 0; i < 1000 && captured(&second) == 0; i++) sp_sleep_ms(10); /* bounded: 10 s */
    assert_true(captured(&second) > 0); /* windows fired: the idle subtasks held nothing back */
    assert_int_equal(spate_job_status(job), SPATE_JOB_RUNNING);
    spate_job_cancel(job);
    spate_job_wait(job);
    spate_job_destroy(job);
    spate_env_destroy(env);
    tu_capture_fini(&first);
    tu_capture_fini(&second);
}

static void a_savepoint_of_a_running_job_leaves_it_running(void **state)
{
    char *dir = *state;
    paths_t p;
    paths_init(&p, dir);
    char *want = clean_run(&p, dir);
    const char *in = p.in, *out = p.out, *ck = p.ck, *sps = p.sps;
    spate_env_t *env;
    assert_int_equal(
        spate_env_set_config(env = build(in, out, ck, 2, 1500, NULL), "state.savepoints.dir", sps),
        SPATE_OK); /* slow enough to be running still after two savepoints, under TSan and load too */
    spate_job_t *job = start_and_run_a_while(env);
    char sp1[1024], sp2[1024];
    expect_ok(spate_job_savepoint(job, NULL, sp1, sizeof sp1)); /* state.savepoints.dir */
    expect_ok(spate_job_savepoint(job, sps, sp2, sizeof sp2));
    assert_string_not_equal(sp1, sp2);
    assert_int_equal(spate_job_status(job), SPATE_JOB_RUNNING);
    assert_int_equal(spate_job_wait(job), SPATE_OK);
    spate_job_destroy(job);
    spate_env_destroy(env);
    check_self_contained(sp1);
    check_self_contained(sp2);
    char *got = sorted_dir(out);
    assert_string_equal(got, want); /* the savepoints disturbed nothing */
    free(got);
    free(want);
}

static void stop_with_drain_fires_every_window_first(void **state)
{
    char *dir = *state;
    paths_t p;
    paths_init(&p, dir);
    const char *in = p.in, *out = p.out, *ck = p.ck, *sps = p.sps;
    atomic_store(&consumed, 0);
    spate_env_t *env = build(in, out, ck, 2, 5000, NULL);
    spate_job_t *job = start_and_run_a_while(env);
    char sp[1024];
    expect_ok(spate_job_stop_with_savepoint(job, sps, true, sp, sizeof sp));
    assert_int_equal(spate_job_wait(job), SPATE_OK);
    spate_job_destroy(job);
    spate_env_destroy(env);
    check_self_contained(sp);
    long n = atomic_load(&consumed);
    print_message("consumed %ld\n", n);
    assert_true(n > 0 && n < RECORDS);
    /* every record read was counted in a window that fired: the counts add up to them */
    char *all = tu_read_dir(out);
    long sum = 0;
    for (char *line = all; *line;) {
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        *nl = '\0';
        char *comma = strrchr(line, ','); /* key,window_start,window_end,count */
        assert_non_null(comma);
        sum += atol(comma + 1);
        line = nl + 1;
    }
    if (sum != n) print_message("%s\n", tu_read_dir(out));
    free(all);
    assert_int_equal(sum, n);
}

static void savepoints_need_checkpoints_and_a_directory(void **state)
{
    char *dir = *state;
    paths_t p;
    paths_init(&p, dir);
    const char *in = p.in, *out = p.out, *ck = p.ck;
    spate_env_t *env = build(in, out, ck, 1, 2000, NULL);
    spate_job_t *job = start_and_run_a_while(env);
    char sp[64] = "x";
    assert_int_equal(spate_job_savepoint(job, NULL, sp, sizeof sp), SPATE_ECONFIG);
    assert_non_null(strstr(spate_last_error(), "state.savepoints.dir"));
    assert_string_equal(sp, "x");
    spate_job_cancel(job);
    spate_job_wait(job);
    assert_int_equal(spate_job_savepoint(job, dir, sp, sizeof sp), SPATE_ESTATE); /* not running */
    spate_job_destroy(job);
    spate_env_destroy(env);

    env = build(in, out, ck, 1, 2000, NULL);
    assert_int_equal(spate_env_set_config(env, "execution.checkpointing.interval", "0"), SPATE_OK);
    assert_int_equal(spate_env_start(env, "windows", &job), SPATE_OK);
    assert_int_equal(spate_job_stop_with_savepoint(job, dir, false, sp, sizeof sp), SPATE_ESTATE);
    assert_non_null(strstr(spate_last_error(), "without checkpoints"));
    assert_int_equal(spate_job_status(job), SPATE_JOB_RUNNING);
    spate_job_destroy(job);
    spate_env_destroy(env);
}

/* ---- a state declared with another type than it was saved with ---- */

static bool as_list; /* the second run declares "seen" as a list state */

typedef struct seen_state {
    spate_value_state_t *value;
    spate_list_state_t *list;
} seen_state_t;

static int seen_open(void *ctx, spate_keyed_context_t *kc, void **state)
{
    (void)ctx;
    seen_state_t *s = calloc(1, sizeof *s);
    if (as_list)
        s->list = spate_keyed_list_state(kc, "seen");
    else
        s->value = spate_keyed_value_state(kc, "seen");
    *state = s;
    return SPATE_OK;
}

static int seen_process(void *state, const spate_row_t *in, spate_keyed_context_t *kc, spate_collector_t *out)
{
    seen_state_t *s = state;
    int64_t one = 1;
    if (s->value) spate_value_state_set(kc, s->value, &one, sizeof one);
    if (s->list) spate_list_state_add(kc, s->list, &one, sizeof one);
    spate_out_copy_field(out, 0, in, 0);
    spate_out_copy_field(out, 1, in, 1);
    return spate_out_emit(out);
}

static void seen_close(void *state)
{
    free(state);
}

static spate_env_t *build_seen(const char *in, const char *out, const char *ck, int64_t rate,
                               const char *from)
{
    spate_env_t *env = tu_env_create(); /* no restarts: a failed restore fails the job */
    assert_int_equal(spate_env_set_config(env, "execution.checkpointing.interval", "50 ms"), SPATE_OK);
    assert_int_equal(spate_env_set_config(env, "state.checkpoints.dir", ck), SPATE_OK);
    if (from) assert_int_equal(spate_env_set_config(env, "execution.savepoint.path", from), SPATE_OK);
    spate_schema_t *rows = spate_schema_of("key STRING NOT NULL, timestamp_ms BIGINT NOT NULL");
    spate_csv_options_t csv;
    spate_csv_options_init(&csv);
    csv.rows_per_second = rate;
    spate_stream_t *s = spate_env_add_source(env, spate_file_csv_source(in, rows, &csv), "records");
    spate_keyed_process_function_t fn = { .open = seen_open, .process = seen_process, .close = seen_close };
    s = spate_keyed_process(spate_stream_key_by_field(s, "key"), "seen", &fn, NULL);
    spate_stream_sink(s, spate_file_sink(out, NULL), "out");
    spate_schema_release(rows);
    return env;
}

static void a_state_declared_with_another_type_is_refused(void **state)
{
    char *dir = *state;
    paths_t p;
    paths_init(&p, dir);
    const char *in = p.in, *out = p.out, *ck = p.ck, *sps = p.sps;
    as_list = false;
    spate_env_t *env = build_seen(in, out, ck, 4000, NULL);
    spate_job_t *job = start_and_run_a_while(env);
    char sp[1024];
    expect_ok(spate_job_stop_with_savepoint(job, sps, false, sp, sizeof sp));
    assert_int_equal(spate_job_wait(job), SPATE_OK);
    spate_job_destroy(job);
    spate_env_destroy(env);
    as_list = true; /* the same name, now a list: its saved bytes are not a list */
    env = build_seen(in, out, ck, 0, NULL);
    char report[8192] = "";
    FILE *f = fmemopen(report, sizeof report - 1, "w");
    sp_error_t err = { 0 };
    assert_int_equal(sp_savepoint_check(&env->graph, env->config, sp, f, &err),
                     SPATE_ESTATE); /* said before */
    fclose(f);
    assert_non_null(strstr(report, "keyed state 'seen' (value)"));
    assert_non_null(strstr(report, "does NOT restore into this job"));
    assert_non_null(strstr(err.message, "state 'seen' was saved as value state"));
    spate_env_destroy(env);
    env = build_seen(in, out, ck, 0, sp);
    assert_int_equal(spate_env_execute(env, "windows"), SPATE_ESTATE);
    assert_non_null(strstr(spate_env_error(env),
                           "state 'seen' was saved as value state, and the job declares it as list state"));
    spate_env_destroy(env);
    /* with restarts, each attempt restores the savepoint again (none starts afresh): the job fails */
    env = build_seen(in, out, ck, 0, sp);
    assert_int_equal(spate_env_set_config(env, "restart-strategy.type", "fixed-delay"), SPATE_OK);
    assert_int_equal(spate_env_set_config(env, "restart-strategy.fixed-delay.attempts", "2"), SPATE_OK);
    assert_int_equal(spate_env_set_config(env, "restart-strategy.fixed-delay.delay", "10 ms"), SPATE_OK);
    assert_int_equal(spate_env_execute(env, "windows"), SPATE_ESTATE);
    assert_non_null(strstr(spate_env_error(env), "was saved as value state"));
    assert_non_null(strstr(spate_env_error(env), "all 2 restart attempts used"));
    spate_env_destroy(env);
    as_list = false; /* as it was: restores */
    env = build_seen(in, out, ck, 0, NULL);
    f = fmemopen(report, sizeof report - 1, "w");
    assert_int_equal(sp_savepoint_check(&env->graph, env->config, sp, f, &err), SPATE_OK);
    fclose(f);
    assert_non_null(strstr(report, "result: the savepoint restores into this job"));
    spate_env_destroy(env);
    env = build_seen(in, out, ck, 0, sp);
    assert_int_equal(spate_env_execute(env, "windows"), SPATE_OK);
    spate_env_destroy(env);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(a_state_declared_with_another_type_is_refused, tu_setup_tmpdir,
                                    tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(stop_with_savepoint_then_restore_at_parallelism_1_and_4, tu_setup_tmpdir,
                                    tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(a_parallel_source_restores_at_another_parallelism, tu_setup_tmpdir,
                                    tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(source_subtasks_without_splits_hold_no_watermark_back, tu_setup_tmpdir,
                                    tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(a_savepoint_of_a_running_job_leaves_it_running, tu_setup_tmpdir,
                                    tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(stop_with_drain_fires_every_window_first, tu_setup_tmpdir,
                                    tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(savepoints_need_checkpoints_and_a_directory, tu_setup_tmpdir,
                                    tu_teardown_tmpdir),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "api_savepoint");
}
