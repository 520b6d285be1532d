/*
 * test_checkpointing.c — checkpoints of whole jobs: a rate-limited file
 * source through a map into the exactly-once file sink, with checkpoints
 * every 100 ms into a directory; the job is stopped part-way (the sink's
 * open transaction is lost, as in a crash), then started again from the
 * latest checkpoint: the visible output holds every input line exactly
 * once.  Also: what a completed checkpoint holds on disk, a fresh start
 * when there is no checkpoint, and state of an unknown operator.
 *
 * Fault injection (issue 4): a user function failing once on the Nth record
 * (early, middle, near the end) of keyed counting and of the pipelines of
 * examples/tumbling_counts.c and examples/fraud_detection.c, at parallelism
 * 1 and 3: the committed output equals the failure-free run's.  Storage
 * faults under a running job (the faulty storage of checkpoint/storage.h
 * wrapped around the job's, sp_job_ckpt_wrap_storage): a failed write,
 * short write, full disk, rename or read-back fails that checkpoint only;
 * a truncated or corrupt latest _metadata makes a restart from "latest"
 * fall back to the previous checkpoint.  Per-operator statistics.  Keyed
 * value state big enough to be frozen at the barrier (copy-on-write, encoded
 * by the uploader) restored after a failure with every counter exact.
 */
#include "test_main.h"
#include "test_util.h"

#include "checkpoint/storage.h"
#include "runtime/checkpointing.h"

#include <spate/spate.h>

#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define LINES 3000

static int upper(void *ctx, const spate_row_t *in, spate_collector_t *out)
{
    (void)ctx;
    spate_str_t s = spate_row_get_string(in, 0);
    char buf[64];
    size_t n = s.len < sizeof buf ? s.len : sizeof buf - 1;
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)(s.ptr[i] >= 'a' && s.ptr[i] <= 'z' ? s.ptr[i] - 32 : s.ptr[i]);
    spate_out_set_string(out, 0, buf, n);
    return spate_out_emit(out);
}

/* lines "line-<i>" */
static void write_input(const char *path)
{
    FILE *f = fopen(path, "w");
    for (int i = 0; i < LINES; i++) fprintf(f, "line-%d\n", i);
    fclose(f);
}

static char *expected(void)
{
    size_t cap = (size_t)LINES * 16, len = 0;
    char *s = malloc(cap);
    for (int i = 0; i < LINES; i++) len += (size_t)snprintf(s + len, cap - len, "LINE-%d\n", i);
    char *sorted = tu_sort_lines(s);
    free(s);
    return sorted;
}

/* A job: the file at `in` (at most `rate` lines per second) upper-cased into part files in `out`. */
static spate_env_t *build(const char *in, const char *out, const char *ckdir, int64_t rate, const char *from)
{
    spate_env_t *env = spate_env_create();
    assert_int_equal(spate_env_set_config(env, "execution.checkpointing.interval", "100 ms"), SPATE_OK);
    assert_int_equal(spate_env_set_config(env, "state.checkpoints.dir", ckdir), SPATE_OK);
    if (from) assert_int_equal(spate_env_set_config(env, "execution.savepoint.path", from), SPATE_OK);
    spate_stream_t *s = spate_env_add_source(env, spate_file_text_source_rate(in, rate), "lines");
    spate_stream_set_uid(s, "lines");
    s = spate_stream_set_uid(spate_stream_map(s, "upper", upper, NULL, NULL), "upper");
    spate_file_sink_options_t o;
    spate_file_sink_options_init(&o);
    o.format = SPATE_FORMAT_TEXT;
    spate_stream_set_uid(spate_stream_sink(s, spate_file_sink(out, &o), "parts"), "parts");
    return env;
}

/* Calls fn(ctx, job, name) for each entry `name` of each job directory <ckdir>/<job> (a missing
 * ckdir has none). */
static void each_job_entry(const char *ckdir, void (*fn)(void *ctx, const char *job, const char *name),
                           void *ctx)
{
    DIR *d = opendir(ckdir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char job[1024];
        snprintf(job, sizeof job, "%.760s/%.255s", ckdir, e->d_name);
        DIR *j = opendir(job);
        struct dirent *c;
        while (j && (c = readdir(j)))
            if (c->d_name[0] != '.') fn(ctx, job, c->d_name);
        if (j) closedir(j);
    }
    if (d) closedir(d);
}

/* Is job/name a complete checkpoint (chk-<n> with a _metadata)?  Its n, else -1. */
static long complete_chk(const char *job, const char *name)
{
    char meta[2048];
    snprintf(meta, sizeof meta, "%s/%s/_metadata", job, name);
    struct stat sb;
    return strncmp(name, "chk-", 4) == 0 && stat(meta, &sb) == 0 ? atol(name + 4) : -1;
}

static void count_one_chk(void *ctx, const char *job, const char *name)
{
    *(int *)ctx += complete_chk(job, name) >= 0;
}

static int count_chk(const char *ckdir)
{
    int n = 0;
    each_job_entry(ckdir, count_one_chk, &n);
    return n;
}

static void count_files_of(void *ctx, const char *job, const char *name)
{
    bool taskowned = strcmp(name, "taskowned") == 0;
    if (strncmp(name, "chk-", 4) != 0 && !taskowned) return;
    char dir[2048];
    snprintf(dir, sizeof dir, "%s/%s", job, name);
    DIR *k = opendir(dir);
    struct dirent *f;
    while (k && (f = readdir(k)))
        *(int *)ctx += !strncmp(f->d_name, taskowned ? "final-op" : "op", taskowned ? 8 : 2);
    if (k) closedir(k);
}

/* State files in the retained checkpoints under ckdir (op<node>-<subtask>) and final states of finished
 * subtasks (taskowned/final-op<node>-<subtask>). */
static int count_state_files(const char *ckdir)
{
    int n = 0;
    each_job_entry(ckdir, count_files_of, &n);
    return n;
}

static void a_stopped_job_resumes_from_its_latest_checkpoint_exactly_once(void **state)
{
    char *dir = *state, in[512], out[512], ck[512];
    snprintf(in, sizeof in, "%s/in.txt", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(ck, sizeof ck, "%s/ck", dir);
    write_input(in);
    /* first run: 2000 lines/s, stopped after about 0.6 s */
    spate_env_t *env = build(in, out, ck, 2000, NULL);
    spate_job_t *job;
    assert_int_equal(spate_env_start(env, "resume", &job), SPATE_OK);
    size_t completed = 0;
    for (int i = 0; i < 300 && completed < 3; i++) { /* bounded: 3 s */
        sp_sleep_ms(10);
        completed = 0;
        size_t n = spate_job_checkpoint_count(job); /* statistics from the job handle */
        for (size_t c = 0; c < n; c++) {
            spate_checkpoint_stats_t st;
            assert_int_equal(spate_job_checkpoint_stats(job, c, &st), 1);
            if (st.status != SPATE_CHECKPOINT_COMPLETED) continue;
            completed++;
            assert_int_equal(st.acks, st.expected);
            assert_int_equal(st.expected, 3); /* source, map, sink: one subtask each */
            assert_true(st.state_bytes > 0 && st.duration_ms >= 0 && st.id >= 1);
            /* per operator, in the order they were added: each subtask acknowledged within the duration */
            static const char *const names[] = { "lines", "upper", "parts" };
            uint64_t bytes = 0;
            spate_checkpoint_operator_stats_t o;
            for (size_t op = 0; op < 3; op++) {
                assert_int_equal(spate_job_checkpoint_operator_stats(job, c, op, &o), 1);
                assert_string_equal(o.name, names[op]);
                assert_string_equal(o.uid, names[op]);
                assert_int_equal(o.acks, 1);
                assert_int_equal(o.parallelism, 1);
                assert_true(o.ack_ms >= 0 && o.ack_ms <= st.duration_ms);
                bytes += o.state_bytes;
            }
            assert_true(bytes == st.state_bytes); /* the checkpoint's size is the operators' sum */
            assert_int_equal(spate_job_checkpoint_operator_stats(job, c, 3, &o), 0); /* past the end */
        }
    }
    assert_true(completed >= 3);
    assert_true(count_chk(ck) >= 3); /* complete on disk too */
    size_t n = spate_job_checkpoint_count(job);
    spate_checkpoint_stats_t none;
    assert_int_equal(spate_job_checkpoint_stats(job, n + 5, &none), 0);
    spate_checkpoint_operator_stats_t no_op;
    assert_int_equal(spate_job_checkpoint_operator_stats(job, n + 5, 0, &no_op), 0);
    spate_job_cancel(job);
    assert_int_equal(spate_job_wait(job), SPATE_ECANCELED);
    spate_job_destroy(job);
    spate_env_destroy(env);
    char *part = tu_read_dir(out);
    size_t first = 0;
    for (char *p = part; *p; p++) first += *p == '\n';
    free(part);
    assert_true(first > 0 && first < LINES); /* committed by completed checkpoints, not all */
    /* second run from the latest checkpoint, unthrottled, to the end */
    env = build(in, out, ck, 0, "latest");
    assert_int_equal(spate_env_execute(env, "resume"), SPATE_OK);
    spate_env_destroy(env);
    char *all = tu_read_dir(out), *got = tu_sort_lines(all), *want = expected();
    assert_string_equal(got, want); /* every line once: none lost, none twice */
    free(all);
    free(got);
    free(want);
}

static void latest_without_a_checkpoint_starts_fresh(void **state)
{
    char *dir = *state, in[512], out[512], ck[512];
    snprintf(in, sizeof in, "%s/in.txt", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(ck, sizeof ck, "%s/none", dir);
    write_input(in);
    spate_env_t *env = build(in, out, ck, 0, "latest");
    assert_int_equal(spate_env_execute(env, "fresh"), SPATE_OK);
    spate_env_destroy(env);
    char *all = tu_read_dir(out), *got = tu_sort_lines(all), *want = expected();
    assert_string_equal(got, want);
    free(all);
    free(got);
    free(want);
    /* an explicit path that is not a checkpoint names itself */
    env = build(in, out, ck, 0, "/no/such/chk-7");
    assert_int_equal(spate_env_execute(env, "fresh"), SPATE_ENOENT);
    assert_non_null(strstr(spate_env_error(env), "/no/such/chk-7"));
    spate_env_destroy(env);
}

/* Fails on the row "line-<fail_at>" while failures remain (a crash, once or more). */
static atomic_int failures_left;
static int fail_at;

static int upper_or_fail(void *ctx, const spate_row_t *in, spate_collector_t *out)
{
    spate_str_t s = spate_row_get_string(in, 0);
    char want[32];
    int n = snprintf(want, sizeof want, "line-%d", fail_at);
    if ((size_t)n == s.len && memcmp(s.ptr, want, s.len) == 0 && atomic_load(&failures_left) > 0) {
        atomic_fetch_sub(&failures_left, 1);
        return spate_out_fail(out, "injected failure at %s", want);
    }
    return upper(ctx, in, out);
}

static spate_env_t *build_failing(const char *in, const char *out, const char *restart)
{
    spate_env_t *env = spate_env_create();
    assert_int_equal(spate_env_set_config(env, "execution.checkpointing.interval", "100 ms"), SPATE_OK);
    assert_int_equal(spate_env_set_config(env, "restart-strategy.type", "fixed-delay"), SPATE_OK);
    assert_int_equal(spate_env_set_config(env, "restart-strategy.fixed-delay.attempts", restart), SPATE_OK);
    assert_int_equal(spate_env_set_config(env, "restart-strategy.fixed-delay.delay", "10 ms"), SPATE_OK);
    spate_stream_t *s = spate_env_add_source(env, spate_file_text_source_rate(in, 3000), "lines");
    s = spate_stream_map(s, "upper", upper_or_fail, NULL, NULL);
    spate_file_sink_options_t o;
    spate_file_sink_options_init(&o);
    o.format = SPATE_FORMAT_TEXT;
    spate_stream_sink(s, spate_file_sink(out, &o), "parts");
    return env;
}

static void a_failing_job_restarts_from_its_checkpoint_exactly_once(void **state)
{
    char *dir = *state, in[512], out[512];
    snprintf(in, sizeof in, "%s/in.txt", dir);
    write_input(in);
    for (int k = 0; k < 2; k++) { /* failures at different rows, once and twice (checkpoints in memory) */
        snprintf(out, sizeof out, "%s/out%d", dir, k);
        fail_at = k ? 2400 : 1200;
        atomic_store(&failures_left, k + 1);
        spate_env_t *env = build_failing(in, out, "3");
        assert_int_equal(spate_env_execute(env, "restarts"), SPATE_OK);
        spate_env_destroy(env);
        assert_int_equal(atomic_load(&failures_left), 0); /* it did fail */
        char *all = tu_read_dir(out), *got = tu_sort_lines(all), *want = expected();
        assert_string_equal(got, want); /* and nothing was lost or written twice */
        free(all);
        free(got);
        free(want);
    }
    /* more failures than attempts: the job fails, saying why */
    snprintf(out, sizeof out, "%s/out-failed", dir);
    fail_at = 100;
    atomic_store(&failures_left, 5);
    spate_env_t *env = build_failing(in, out, "1");
    assert_int_equal(spate_env_execute(env, "restarts"), SPATE_EUSER);
    assert_non_null(strstr(spate_env_error(env), "injected failure at line-100"));
    assert_non_null(
        strstr(spate_env_error(env), "restart strategy fixed-delay: all 1 restart attempts used"));
    spate_env_destroy(env);
}

/* ---- keyed state across a restart: running counts per word ---- */

static atomic_long processed; /* records the user function took, over all attempts */

static int word_or_fail(void *ctx, const spate_row_t *in, spate_collector_t *out)
{
    (void)ctx;
    spate_str_t s = spate_row_get_string(in, 0);
    char line[32]; /* "line-<i>"; the string is not NUL-terminated */
    snprintf(line, sizeof line, "%.*s", (int)s.len, s.ptr);
    int i = atoi(line + 5);
    if (i == fail_at && atomic_load(&failures_left) > 0) {
        atomic_fetch_sub(&failures_left, 1);
        return spate_out_fail(out, "injected failure at line %d", i);
    }
    atomic_fetch_add(&processed, 1);
    char w[16];
    int n = snprintf(w, sizeof w, "w%d", i % 1000); /* 1000 keys: snapshots beyond the inline size */
    spate_out_set_string(out, 0, w, (size_t)n);
    spate_out_set_bigint(out, 1, 1);
    return spate_out_emit(out);
}

/* Every line's word counted (running sum per word) at parallelism p into `out`, checkpoints every 50 ms
 * into `ck`, at most `rate` lines per second (0: unthrottled), restored from `from` (NULL: none); more
 * than `tolerable` checkpoint failures in a row fail the job. */
static spate_env_t *build_counts(const char *in, const char *out, const char *ck, int p, int64_t rate,
                                 const char *from, const char *tolerable)
{
    spate_env_t *env = spate_env_create();
    assert_int_equal(spate_env_set_config(env, "state.checkpoints.dir", ck), SPATE_OK);
    spate_env_set_parallelism(env, p);
    assert_int_equal(spate_env_set_config(env, "execution.checkpointing.interval", "50 ms"), SPATE_OK);
    assert_int_equal(
        spate_env_set_config(env, "execution.checkpointing.tolerable-failed-checkpoints", tolerable),
        SPATE_OK);
    assert_int_equal(spate_env_set_config(env, "restart-strategy.type", "fixed-delay"), SPATE_OK);
    assert_int_equal(spate_env_set_config(env, "restart-strategy.fixed-delay.delay", "10 ms"), SPATE_OK);
    if (from) assert_int_equal(spate_env_set_config(env, "execution.savepoint.path", from), SPATE_OK);
    spate_schema_t *words = spate_schema_of("word STRING NOT NULL, n BIGINT NOT NULL");
    spate_stream_t *s = spate_env_add_source(env, spate_file_text_source_rate(in, rate), "lines");
    s = spate_stream_flat_map(s, "words", word_or_fail, NULL, words);
    s = spate_keyed_sum(spate_stream_key_by_field(s, "word"), "n");
    spate_file_sink_options_t o;
    spate_file_sink_options_init(&o);
    o.format = SPATE_FORMAT_TEXT;
    spate_stream_sink(s, spate_file_sink(out, &o), "counts");
    spate_schema_release(words);
    return env;
}

/* The committed lines of `dir`, sorted. */
static char *committed(const char *dir)
{
    char *all = tu_read_dir(dir);
    assert_non_null(all);
    char *sorted = tu_sort_lines(all);
    free(all);
    return sorted;
}

/* build_counts at 4000 lines/s to the end; returns the committed lines, sorted. */
static char *run_counts(const char *in, const char *out, int p)
{
    char ck[600];
    snprintf(ck, sizeof ck, "%s-ck", out);
    spate_env_t *env = build_counts(in, out, ck, p, 4000, NULL, "0");
    int rc = spate_env_execute(env, "counts");
    if (rc) print_message("job failed: %s\n", spate_env_error(env));
    assert_int_equal(rc, SPATE_OK);
    spate_env_destroy(env);
    assert_true(count_state_files(ck) > 0); /* the sums' snapshots were too large to go inline: files */
    return committed(out);
}

/* Sorted lines (tu_sort_lines): fails the test when two are equal. */
static void assert_no_duplicates(const char *sorted)
{
    const char *prev = NULL;
    size_t prevlen = 0;
    for (const char *p = sorted; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (prev && len == prevlen && memcmp(p, prev, len) == 0)
            fail_msg("duplicate line: %.*s", (int)len, p);
        prev = p;
        prevlen = len;
        p += len + (nl != NULL);
    }
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* Failures early, in the middle and near the end of the 3000 lines. */
static const int FAIL_POINTS[] = { 300, 1500, 2700 };

static void keyed_counts_restart_exactly_once(void **state)
{
    char *dir = *state, in[512], out[512];
    snprintf(in, sizeof in, "%s/in.txt", dir);
    write_input(in);
    for (int p = 1; p <= 3; p += 2) {
        snprintf(out, sizeof out, "%s/clean%d", dir, p);
        fail_at = -1;
        char *want = run_counts(in, out, p); /* every running count once */
        assert_int_equal(count_lines(want), LINES);
        assert_no_duplicates(want);
        for (size_t f = 0; f < sizeof FAIL_POINTS / sizeof FAIL_POINTS[0]; f++) {
            snprintf(out, sizeof out, "%s/failing%d-%d", dir, p, FAIL_POINTS[f]);
            fail_at = FAIL_POINTS[f];
            atomic_store(&failures_left, 1);
            char *got = run_counts(in, out, p);
            assert_int_equal(atomic_load(&failures_left), 0);
            assert_string_equal(got, want); /* the same running counts: state restored, nothing twice */
            free(got);
        }
        free(want);
    }
}

/* ---- the pipelines of examples/tumbling_counts.c and examples/fraud_detection.c, failing once ----
 *
 * The same sources, watermarks, operators and output as the examples, with the user function failing on
 * one record (the one with event time fail_ts) the first time it sees it.  Checkpoints every 25 ms, the
 * source rate-limited, so several complete before, between and after the failures. */

#define EVENTS 3000
static int64_t fail_ts = -1;

/* Is `ts` the record to fail on, and has it not failed yet? */
static bool fail_now(int64_t ts)
{
    if (ts != fail_ts) return false;
    int left = atomic_load(&failures_left);
    while (left > 0)
        if (atomic_compare_exchange_weak(&failures_left, &left, left - 1)) return true;
    return false;
}

/* After a run that failed at record `at`: the attempt after the failure resumed from a checkpoint, not
 * from the first record.  From the first record, the records before `at` would go through the user
 * function again, as many as in the failure-free run (`clean`, fewer than EVENTS when some are too
 * late); from a checkpoint, only those after its position.  Checked for failures past the first
 * thousand records, after several checkpoints (every 25 ms at 4000 records/s; under load one at least,
 * taken after record 20 or so). */
static void assert_resumed(int at, long clean)
{
    long n = atomic_load(&processed), late_before_at = at / 101 + at / 97 + 2;
    if (at >= 1000 && n >= clean + at - late_before_at - 10)
        fail_msg("failed at %d: %ld records processed, %ld without failures", at, n, clean);
}

static int tumbling_count_add(void *ctx, void *acc, const spate_row_t *in)
{
    (void)ctx;
    if (fail_now(spate_row_get_bigint(in, 1))) return SPATE_EUSER; /* injected failure */
    atomic_fetch_add(&processed, 1);
    ++*(int64_t *)acc;
    return SPATE_OK;
}

/* "key,timestamp_ms": 7 keys, event time about 1000 ms apart, give or take 1650 ms; every 50th record
 * 7000 ms late, every 101st 12000 ms late: after its window fired, within the allowed lateness (it
 * fires again); every 97th 30000 ms late: beyond it, to the late output.  That one stays too late
 * after a restore that lands just before it, because the window operator restores its watermark
 * (Flink's would be INT64_MIN until the first new one comes, after the replayed record).  The
 * timestamps are unique (the last digit is i's); *ts_of gets them. */
static void write_events(const char *path, int64_t *ts_of)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < EVENTS; i++) {
        int64_t ts = 5000 + (int64_t)i * 100 + (i * 37 % 31 - 15) + (i * 53 % 7 - 3) * 50;
        if (i % 50 == 49) ts -= 700;
        if (i % 101 == 100) ts -= 1200;
        if (i % 97 == 96) ts -= 3000;
        ts_of[i] = ts * 10 + i % 10;
        fprintf(f, "k%d,%lld\n", i * 13 % 7, (long long)ts_of[i]);
    }
    fclose(f);
}

/* Windows that fired more than once, in sorted "key,start,end,count" lines. */
static int refired(const char *sorted)
{
    int n = 0;
    const char *prev = NULL;
    size_t prevkey = 0;
    for (const char *p = sorted; *p;) {
        size_t len = strcspn(p, "\n"), key = 0;
        for (size_t k = 0; k < len; k++)
            if (p[k] == ',') key = k; /* up to the count */
        if (prev && key == prevkey && memcmp(p, prev, key) == 0) n++;
        prev = p;
        prevkey = key;
        p += len + (p[len] == '\n');
    }
    return n;
}

/* Settings of every run in this section: checkpoints into `ck`, fixed-delay restarts. */
static spate_env_t *failing_env(const char *ck, int p)
{
    spate_env_t *env = spate_env_create();
    spate_env_set_parallelism(env, p);
    assert_int_equal(spate_env_set_config(env, "state.checkpoints.dir", ck), SPATE_OK);
    assert_int_equal(spate_env_set_config(env, "execution.checkpointing.interval", "25 ms"), SPATE_OK);
    assert_int_equal(spate_env_set_config(env, "restart-strategy.type", "fixed-delay"), SPATE_OK);
    assert_int_equal(spate_env_set_config(env, "restart-strategy.fixed-delay.delay", "10 ms"), SPATE_OK);
    return env;
}

/* Runs env to the end; returns how many checkpoints completed. */
static int run_to_end(spate_env_t *env, const char *name)
{
    spate_job_t *job;
    int rc = spate_env_start(env, name, &job);
    if (rc) print_message("start failed: %s\n", spate_env_error(env));
    assert_int_equal(rc, SPATE_OK);
    rc = spate_job_wait(job);
    if (rc) print_message("job failed: %s\n", spate_job_error(job));
    assert_int_equal(rc, SPATE_OK);
    int completed = 0;
    spate_checkpoint_stats_t st;
    for (size_t i = 0; spate_job_checkpoint_stats(job, i, &st); i++)
        completed += st.status == SPATE_CHECKPOINT_COMPLETED;
    spate_job_destroy(job);
    spate_env_destroy(env);
    return completed;
}

/* examples/tumbling_counts.c with --window-ms 10000 --out-of-orderness-ms 2000 --allowed-lateness-ms 15000
 * --late-output DIR/late --rate 4000, at parallelism p; returns "<counts>\n--- late\n<late lines>". */
static char *run_tumbling(const char *in, const char *dir, int p)
{
    char out[600], late[600], ck[600];
    snprintf(out, sizeof out, "%s/counts", dir);
    snprintf(late, sizeof late, "%s/late", dir);
    snprintf(ck, sizeof ck, "%s/ck", dir);
    spate_env_t *env = failing_env(ck, p);
    spate_schema_t *rows = spate_schema_of("key STRING NOT NULL, timestamp_ms BIGINT NOT NULL");
    spate_csv_options_t csv;
    spate_csv_options_init(&csv);
    csv.rows_per_second = 4000;
    spate_schema_t *counts =
        spate_schema_of("key STRING NOT NULL, window_start BIGINT, window_end BIGINT, count BIGINT");
    spate_watermark_strategy_t *ws = spate_watermark_for_bounded_out_of_orderness(2000);
    spate_watermark_with_timestamp_field(ws, "timestamp_ms");
    spate_watermark_with_per_record_emission(ws);
    spate_stream_t *s =
        spate_env_add_source_with_watermarks(env, spate_file_csv_source(in, rows, &csv), ws, "records");
    spate_windowed_t *win =
        spate_keyed_window(spate_stream_key_by_field(s, "key"), spate_tumbling_windows(10000, 0));
    spate_windowed_allowed_lateness(win, 15000);
    spate_aggregate_function_t count = tu_window_count();
    count.add = tumbling_count_add;
    spate_stream_t *result = spate_windowed_aggregate(win, "count", &count, counts);
    spate_stream_sink(result, spate_file_sink(out, NULL), "counts");
    spate_stream_sink(spate_window_late_data(result), spate_file_sink(late, NULL), "late");
    spate_schema_release(rows);
    spate_schema_release(counts);
    assert_true(run_to_end(env, "tumbling") > 0);
    char *c = committed(out), *l = committed(late);
    size_t n = strlen(c) + strlen(l) + 16;
    char *both = malloc(n);
    snprintf(both, n, "%s\n--- late\n%s", c, l);
    assert_no_duplicates(c);
    assert_no_duplicates(l);
    free(c);
    free(l);
    return both;
}

typedef char *(*pipeline_fn)(const char *in, const char *dir, int p);

/* The pipeline `run` over input `in` (made by `write`, which records each record's event time) once
 * without failures, then failing once at each of FAIL_POINTS: the same committed output every time,
 * resumed from a checkpoint.  Returns the failure-free output (the caller checks what it holds). */
static char *restarts_exactly_once(const char *dir, const char *in, int p,
                                   void (*write)(const char *, int64_t *), pipeline_fn run)
{
    char out[512];
    int64_t *ts_of = malloc(sizeof *ts_of * EVENTS);
    write(in, ts_of);
    snprintf(out, sizeof out, "%s/clean", dir);
    fail_ts = -1;
    atomic_store(&processed, 0);
    char *want = run(in, out, p);
    long clean = atomic_load(&processed);
    for (size_t f = 0; f < sizeof FAIL_POINTS / sizeof FAIL_POINTS[0]; f++) {
        snprintf(out, sizeof out, "%s/failing-%d", dir, FAIL_POINTS[f]);
        fail_ts = ts_of[FAIL_POINTS[f]];
        atomic_store(&failures_left, 1);
        atomic_store(&processed, 0);
        char *got = run(in, out, p);
        assert_resumed(FAIL_POINTS[f], clean);
        assert_int_equal(atomic_load(&failures_left), 0); /* it did fail */
        assert_string_equal(got, want);
        free(got);
    }
    free(ts_of);
    return want;
}

static void tumbling_counts_restart_exactly_once(int p, void **state)
{
    char *dir = *state, in[512];
    snprintf(in, sizeof in, "%s/events.csv", dir);
    char *want = restarts_exactly_once(dir, in, p, write_events, run_tumbling);
    assert_non_null(strstr(want, "k3,"));                /* windows fired */
    assert_true(refired(want) >= 10);                    /* some again, for late records */
    assert_true(strlen(strstr(want, "--- late\n")) > 9); /* some too late */
    free(want);
}

static void tumbling_counts_restart_exactly_once_p1(void **state)
{
    tumbling_counts_restart_exactly_once(1, state);
}

static void tumbling_counts_restart_exactly_once_p3(void **state)
{
    tumbling_counts_restart_exactly_once(3, state);
}

#define FRAUD_WINDOW_MS 60000

typedef struct detector {
    spate_value_state_t *small_at;
} detector_t;

static int fraud_open(void *ctx, spate_keyed_context_t *kc, void **state)
{
    (void)ctx;
    detector_t *d = calloc(1, sizeof *d);
    if (!d) return SPATE_ENOMEM;
    d->small_at = spate_keyed_value_state(kc, "small-transaction-time");
    *state = d;
    return SPATE_OK;
}

static int fraud_process(void *state, const spate_row_t *in, spate_keyed_context_t *kc,
                         spate_collector_t *out)
{
    detector_t *d = state;
    int64_t ts = spate_row_get_bigint(in, 1);
    if (fail_now(ts)) return spate_out_fail(out, "injected failure at %lld", (long long)ts);
    atomic_fetch_add(&processed, 1);
    bool ok;
    int64_t cents = spate_decimal_to_i64(spate_row_get_decimal(in, 2), &ok);
    int64_t small_at;
    bool flagged = spate_value_state_get(kc, d->small_at, &small_at, sizeof small_at) == sizeof small_at;
    if (flagged && cents > 50000 && ts - small_at <= FRAUD_WINDOW_MS) {
        spate_out_set_bigint(out, 0, spate_row_get_bigint(in, 0));
        spate_out_set_bigint(out, 1, ts);
        int rc = spate_out_emit(out);
        if (rc) return rc;
    }
    if (flagged) {
        spate_timer_delete_event_time(kc, small_at + FRAUD_WINDOW_MS);
        spate_value_state_clear(kc, d->small_at);
    }
    if (cents < 100) {
        spate_value_state_set(kc, d->small_at, &ts, sizeof ts);
        spate_timer_register_event_time(kc, ts + FRAUD_WINDOW_MS);
    }
    return SPATE_OK;
}

static int fraud_on_timer(void *state, int64_t timestamp, spate_time_domain_t domain,
                          spate_keyed_context_t *kc, spate_collector_t *out)
{
    detector_t *d = state;
    (void)timestamp;
    (void)domain;
    (void)out;
    spate_value_state_clear(kc, d->small_at);
    return SPATE_OK;
}

/* "account_id,timestamp_ms,amount" in timestamp order (i * 1000 ms, unique), 23 accounts; per account a
 * cycle of five: small (under 1.00; 10.00 for every third account), large (an alert after a small one),
 * medium, large (no alert: the medium one cleared the flag), medium.  *ts_of gets the timestamps. */
static void write_transactions(const char *path, int64_t *ts_of)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    static const char *const cycle[] = { "0.50", "750.00", "25.00", "501.00", "25.00" };
    for (int i = 0; i < EVENTS; i++) {
        int account = i % 23, round = i / 23;
        const char *amount = round % 5 == 0 && account % 3 == 0 ? "10.00" : cycle[round % 5];
        ts_of[i] = (int64_t)i * 1000;
        fprintf(f, "%d,%lld,%s\n", 1000 + account, (long long)ts_of[i], amount);
    }
    fclose(f);
}

/* examples/fraud_detection.c with --rate 4000 at parallelism p: the alerts, sorted. */
static char *run_fraud(const char *in, const char *dir, int p)
{
    char out[600], ck[600];
    snprintf(out, sizeof out, "%s/alerts", dir);
    snprintf(ck, sizeof ck, "%s/ck", dir);
    spate_env_t *env = failing_env(ck, p);
    spate_schema_t *tx = spate_schema_of("account_id BIGINT NOT NULL, timestamp_ms BIGINT NOT NULL, "
                                         "amount DECIMAL(12, 2) NOT NULL");
    spate_schema_t *alerts = spate_schema_of("account_id BIGINT NOT NULL, timestamp_ms BIGINT NOT NULL");
    spate_csv_options_t csv;
    spate_csv_options_init(&csv);
    csv.rows_per_second = 4000;
    spate_watermark_strategy_t *ws =
        spate_watermark_with_timestamp_field(spate_watermark_for_monotonous_timestamps(), "timestamp_ms");
    spate_stream_t *s =
        spate_env_add_source_with_watermarks(env, spate_file_csv_source(in, tx, &csv), ws, "transactions");
    spate_keyed_process_function_t fn = {
        .open = fraud_open, .process = fraud_process, .on_timer = fraud_on_timer, .close = free
    };
    s = spate_keyed_process(spate_stream_key_by_field(s, "account_id"), "fraud-detector", &fn, alerts);
    spate_file_sink_options_t o;
    spate_file_sink_options_init(&o);
    spate_stream_sink(s, spate_file_sink(out, &o), "alerts");
    spate_schema_release(tx);
    spate_schema_release(alerts);
    assert_true(run_to_end(env, "fraud") > 0);
    char *got = committed(out);
    assert_no_duplicates(got);
    return got;
}

static void fraud_detection_restart_exactly_once(int p, void **state)
{
    char *dir = *state, in[512];
    snprintf(in, sizeof in, "%s/transactions.csv", dir);
    char *want = restarts_exactly_once(dir, in, p, write_transactions, run_fraud);
    assert_true(count_lines(want) > 300);          /* alerts all along the input */
    assert_non_null(strstr(want, "1001,24000\n")); /* account 1: small at 1000, large at 24000 */
    assert_null(strstr(want, "1003,26000\n"));     /* account 3: no small transaction before */
    free(want);
}

static void fraud_detection_restart_exactly_once_p1(void **state)
{
    fraud_detection_restart_exactly_once(1, state);
}

static void fraud_detection_restart_exactly_once_p3(void **state)
{
    fraud_detection_restart_exactly_once(3, state);
}

/* ---- storage faults in a running job (the faulty storage wrapped around the job's) ---- */

static sp_ckpt_storage_t *faulty; /* the last job's wrapper (the job owns it) */

static sp_ckpt_storage_t *wrap_faulty(void *ctx, sp_ckpt_storage_t *inner)
{
    (void)ctx;
    faulty = sp_ckpt_faulty_storage_create(inner);
    return faulty;
}

/* Starts env with the faulty wrapper around its checkpoint storage. */
static spate_job_t *start_faulty(spate_env_t *env, const char *name)
{
    spate_job_t *job;
    sp_job_ckpt_wrap_storage(wrap_faulty, NULL);
    int rc = spate_env_start(env, name, &job);
    sp_job_ckpt_wrap_storage(NULL, NULL);
    if (rc) print_message("start failed: %s\n", spate_env_error(env));
    assert_int_equal(rc, SPATE_OK);
    return job;
}

/* The last checkpoint with status `status` and an id above `above` (0: none). */
static int64_t last_with(spate_job_t *job, spate_checkpoint_status_t status, int64_t above,
                         spate_checkpoint_stats_t *out)
{
    int64_t id = 0;
    spate_checkpoint_stats_t st;
    for (size_t i = 0; spate_job_checkpoint_stats(job, i, &st); i++)
        if (st.status == status && st.id > above && st.id > id) {
            id = st.id;
            if (out) *out = st;
        }
    return id;
}

/* Per operator, the statistics of an ended job's checkpoints add up: in a completed checkpoint every
 * subtask of every operator acknowledged, and the sizes sum to the checkpoint's; in `failed` (declined
 * by a subtask of `decliner`, NULL: none), that operator lacks an acknowledgement. */
static void assert_operator_stats(spate_job_t *job, int64_t failed, const char *decliner)
{
    spate_checkpoint_stats_t st;
    for (size_t i = 0; spate_job_checkpoint_stats(job, i, &st); i++) {
        uint64_t bytes = 0;
        int acks = 0, missing = 0;
        spate_checkpoint_operator_stats_t o;
        size_t op = 0;
        for (; spate_job_checkpoint_operator_stats(job, i, op, &o); op++) {
            bytes += o.state_bytes;
            acks += o.acks;
            if (o.acks < o.parallelism && decliner && strcmp(o.name, decliner) == 0) missing++;
            if (st.status == SPATE_CHECKPOINT_COMPLETED) {
                assert_int_equal(o.acks, o.parallelism);
                assert_true(o.ack_ms >= 0 && o.ack_ms <= st.duration_ms);
            }
        }
        assert_true(op >= 4); /* lines, words, the sums, counts (and the key_by's nodes, if any) */
        assert_true(bytes == st.state_bytes);
        assert_int_equal(acks, st.acks);
        if (st.id == failed && decliner) assert_int_equal(missing, 1);
    }
}

/* The first (or the last) failed checkpoint with an id above `above` whose failure says `says` (0: none). */
static int64_t failed_saying(spate_job_t *job, int64_t above, const char *says, bool last,
                             spate_checkpoint_stats_t *out)
{
    int64_t id = 0;
    spate_checkpoint_stats_t st;
    for (size_t i = 0; spate_job_checkpoint_stats(job, i, &st); i++)
        if (st.status == SPATE_CHECKPOINT_FAILED && st.id > above && strstr(st.failure, says)) {
            *out = st;
            id = st.id;
            if (!last) break;
        }
    return id;
}

/* Waits (at most 10 s) for a checkpoint with `status` and an id above `above`; returns its id. */
static int64_t await_checkpoint(spate_job_t *job, spate_checkpoint_status_t status, int64_t above)
{
    int64_t id = 0;
    for (int i = 0; i < 1000 && !(id = last_with(job, status, above, NULL)); i++) sp_sleep_ms(10);
    assert_true(id > 0);
    return id;
}

static void a_storage_fault_fails_one_checkpoint_and_the_job_goes_on(void **state)
{
    char *dir = *state, in[512], out[512], ck[512];
    snprintf(in, sizeof in, "%s/in.txt", dir);
    write_input(in);
    snprintf(out, sizeof out, "%s/clean", dir);
    fail_at = -1;
    char *want = run_counts(in, out, 2);
    static const struct {
        sp_ckpt_fault_t fault;
        const char *says;
    } cases[] = {
        { { .op = SP_CKPT_OP_FILE_WRITE, .nth = 1, .errnum = EIO }, "Input/output error (injected fault)" },
        { { .op = SP_CKPT_OP_FILE_WRITE, .nth = 1, .errnum = EIO, .partial = true }, "short write" },
        { { .op = SP_CKPT_OP_FILE_WRITE, .nth = 1, .errnum = ENOSPC, .persistent = true },
          "No space left on device" }, /* a full disk, until space is freed */
        { { .op = SP_CKPT_OP_RENAME, .nth = 1, .errnum = EIO }, "rename '" },
        /* the _metadata read back after writing it (the only reads while the job runs) */
        { { .op = SP_CKPT_OP_READ, .nth = 1, .errnum = EIO }, "/_metadata': Input/output error" },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        snprintf(out, sizeof out, "%s/out%zu", dir, c);
        snprintf(ck, sizeof ck, "%s/ck%zu", dir, c);
        spate_env_t *env = build_counts(in, out, ck, 2, 3000, NULL, "100");
        spate_job_t *job = start_faulty(env, "faults");
        int64_t before = await_checkpoint(job, SPATE_CHECKPOINT_COMPLETED, 0);
        sp_ckpt_faulty_arm(faulty, &cases[c].fault);
        int64_t failed = await_checkpoint(job, SPATE_CHECKPOINT_FAILED, before);
        sp_ckpt_faulty_disarm(faulty); /* space freed */
        assert_true(sp_ckpt_faulty_fired(faulty) >= 1);
        int rc = spate_job_wait(job);
        if (rc) print_message("job failed: %s\n", spate_job_error(job));
        assert_int_equal(rc, SPATE_OK);
        /* the fault failed a checkpoint (later ones may fail for other reasons, e.g. the sources ended
         * before their barrier came), ... */
        spate_checkpoint_stats_t st;
        failed = failed_saying(job, before, cases[c].says, false, &st);
        if (!failed) {
            for (size_t i = 0; spate_job_checkpoint_stats(job, i, &st); i++)
                print_message("checkpoint %lld: %d %s\n", (long long)st.id, (int)st.status, st.failure);
            fail_msg("no checkpoint failed with '%s'", cases[c].says);
        }
        /* mostly the sums' state files fail (the others' state goes inline), else the _metadata */
        assert_operator_stats(job, failed,
                              strstr(st.failure, "declined by operator 'Sum(n)'") ? "Sum(n)" : NULL);
        /* ... later ones complete */
        assert_true(last_with(job, SPATE_CHECKPOINT_COMPLETED, failed, &st) > failed);
        assert_int_equal(st.acks, st.expected);
        spate_job_destroy(job);
        spate_env_destroy(env);
        char *got = committed(out);
        assert_string_equal(got, want); /* and the output is exactly once */
        free(got);
    }
    free(want);
}

/* The chk-<id>/_metadata of the one job directory under ck. */
static void metadata_path(const char *ck, int64_t id, char *path, size_t cap)
{
    DIR *d = opendir(ck);
    assert_non_null(d);
    struct dirent *e;
    int jobs = 0;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') {
            snprintf(path, cap, "%s/%s/chk-%lld/_metadata", ck, e->d_name, (long long)id);
            jobs++;
        }
    closedir(d);
    assert_int_equal(jobs, 1);
}

static void a_damaged_latest_metadata_falls_back_to_the_previous_checkpoint(void **state)
{
    char *dir = *state, in[512], out[512], ck[512];
    snprintf(in, sizeof in, "%s/in.txt", dir);
    write_input(in);
    snprintf(out, sizeof out, "%s/clean", dir);
    fail_at = -1;
    char *want = run_counts(in, out, 2);
    for (int corrupt = 0; corrupt < 2; corrupt++) { /* truncated, then corrupt */
        snprintf(out, sizeof out, "%s/out%d", dir, corrupt);
        snprintf(ck, sizeof ck, "%s/ck%d", dir, corrupt);
        spate_env_t *env = build_counts(in, out, ck, 2, 2000, NULL, "1000");
        spate_job_t *job = start_faulty(env, "damaged");
        int64_t first = await_checkpoint(job, SPATE_CHECKPOINT_COMPLETED, 0);
        int64_t good = await_checkpoint(job, SPATE_CHECKPOINT_COMPLETED, first);
        /* from now on writes are torn (half lands, success reported) and the failed checkpoints cannot be
         * removed: their truncated _metadata stays, as after a crash of lying storage */
        sp_ckpt_faulty_arm(
            faulty,
            &(sp_ckpt_fault_t){ .op = SP_CKPT_OP_FILE_WRITE, .nth = 1, .partial = true, .persistent = true });
        sp_ckpt_faulty_arm_also(
            faulty,
            &(sp_ckpt_fault_t){ .op = SP_CKPT_OP_REMOVE_TREE, .nth = 1, .errnum = EIO, .persistent = true });
        good = last_with(job, SPATE_CHECKPOINT_COMPLETED, 0, NULL); /* one may have completed meanwhile */
        int64_t bad = await_checkpoint(job, SPATE_CHECKPOINT_FAILED, good);
        spate_checkpoint_stats_t st;
        assert_int_equal(last_with(job, SPATE_CHECKPOINT_FAILED, good, &st), bad);
        if (!strstr(st.failure, "read back")) fail_msg("checkpoint %lld: %s", (long long)bad, st.failure);
        spate_job_cancel(job); /* the crash */
        assert_int_equal(spate_job_wait(job), SPATE_ECANCELED);
        good = last_with(job, SPATE_CHECKPOINT_COMPLETED, 0, NULL); /* the last complete one */
        bad = failed_saying(job, good, "read back", true, &st);     /* the last one with a _metadata left */
        assert_true(bad > good);
        spate_job_destroy(job);
        spate_env_destroy(env);
        char good_meta[1024], bad_meta[1024];
        metadata_path(ck, good, good_meta, sizeof good_meta);
        metadata_path(ck, bad, bad_meta, sizeof bad_meta);
        size_t good_len = 0, bad_len = 0;
        char *g = tu_read_file_len(good_meta, &good_len), *b = tu_read_file_len(bad_meta, &bad_len);
        assert_non_null(g);
        assert_non_null(b);                             /* the latest chk-<n> has a _metadata ... */
        assert_true(bad_len > 0 && bad_len < good_len); /* ... truncated */
        if (corrupt) {                                  /* whole, but with one byte flipped */
            g[good_len / 2] ^= 0x20;
            FILE *f = fopen(bad_meta, "wb");
            assert_non_null(f);
            assert_int_equal(fwrite(g, 1, good_len, f), good_len);
            fclose(f);
        }
        free(g);
        free(b);
        char *part = tu_read_dir(out);
        assert_true(count_lines(part) > 0 && count_lines(part) < LINES); /* committed up to `good` */
        free(part);
        /* the restart takes chk-<good>: the rows after it are read again, the ones before it are not */
        atomic_store(&processed, 0);
        env = build_counts(in, out, ck, 2, 0, "latest", "0");
        int rc = spate_env_execute(env, "damaged");
        if (rc) print_message("job failed: %s\n", spate_env_error(env));
        assert_int_equal(rc, SPATE_OK);
        spate_env_destroy(env);
        assert_true(atomic_load(&processed) > 0 && atomic_load(&processed) < LINES);
        char *got = committed(out);
        assert_string_equal(got, want); /* exactly once */
        free(got);
    }
    free(want);
}

/* ---- unaligned checkpoints: running counts behind a slow operator ---- */

/* Passes every row on, 1 ms each: the task of the sums falls behind, so its input channels hold rows
 * when a barrier comes (and a barrier overtakes them). */
static int slow_keep(void *ctx, const spate_row_t *in)
{
    (void)ctx;
    (void)in;
    struct timespec ts = { 0, 1000000 };
    nanosleep(&ts, NULL);
    return 1;
}

/* How the words reach the slow operator in build_unaligned: by key, into running sums, or as they are
 * (every row passes: its output shows any row lost or doubled) through a rebalance or a custom
 * partitioner. */
static enum { EX_KEYED, EX_REBALANCE, EX_CUSTOM } g_exchange;

/* The custom partitioner: word "w<i>" to partition i mod n. */
static int by_word_number(void *ctx, const spate_row_t *in, int n)
{
    (void)ctx;
    spate_str_t w = spate_row_get_string(in, 0);
    int i = 0;
    for (size_t k = 1; k < w.len; k++) i = i * 10 + (w.ptr[k] - '0');
    return i % n;
}

/* Running counts as run_counts, at parallelism 2 (each sum subtask reads two channels), the sums followed by
 * a slow filter in their task; `unaligned`: unaligned checkpoints.  Returns the committed lines, sorted;
 * *persisted: the largest in-flight data of a completed checkpoint. */
static spate_env_t *build_unaligned(const char *in, const char *out, bool unaligned, const char *timeout,
                                    const char *ckdir, const char *from, int sum_parallelism)
{
    spate_env_t *env = spate_env_create();
    if (ckdir) assert_int_equal(spate_env_set_config(env, "state.checkpoints.dir", ckdir), SPATE_OK);
    if (from) assert_int_equal(spate_env_set_config(env, "execution.savepoint.path", from), SPATE_OK);
    spate_env_set_parallelism(env, 2);
    assert_int_equal(spate_env_set_config(env, "execution.checkpointing.interval", "50 ms"), SPATE_OK);
    if (unaligned)
        assert_int_equal(spate_env_set_config(env, "execution.checkpointing.unaligned.enabled", "true"),
                         SPATE_OK);
    if (timeout)
        assert_int_equal(
            spate_env_set_config(env, "execution.checkpointing.aligned-checkpoint-timeout", timeout),
            SPATE_OK);
    assert_int_equal(spate_env_set_config(env, "restart-strategy.type", "fixed-delay"), SPATE_OK);
    assert_int_equal(spate_env_set_config(env, "restart-strategy.fixed-delay.delay", "10 ms"), SPATE_OK);
    spate_schema_t *words = spate_schema_of("word STRING NOT NULL, n BIGINT NOT NULL");
    spate_stream_t *s = spate_env_add_source(env, spate_file_text_source_rate(in, 4000), "lines");
    s = spate_stream_flat_map(s, "words", word_or_fail, NULL, words);
    if (g_exchange == EX_KEYED) {
        s = spate_keyed_sum(spate_stream_key_by_field(s, "word"), "n");
        if (sum_parallelism) spate_stream_set_parallelism(s, sum_parallelism);
    } else {
        s = g_exchange == EX_REBALANCE ? spate_stream_rebalance(s)
                                       : spate_stream_partition_custom(s, by_word_number, NULL);
    }
    s = spate_stream_filter(s, "slow", slow_keep, NULL);
    if (g_exchange != EX_KEYED && sum_parallelism) spate_stream_set_parallelism(s, sum_parallelism);
    spate_file_sink_options_t o;
    spate_file_sink_options_init(&o);
    o.format = SPATE_FORMAT_TEXT;
    spate_stream_set_uid(spate_stream_sink(s, spate_file_sink(out, &o), "counts"), "counts");
    spate_schema_release(words);
    return env;
}

/* The largest in-flight data of a completed checkpoint of the job, and that of its latest completed one. */
static uint64_t max_persisted(spate_job_t *job, int *completed, uint64_t *latest)
{
    uint64_t max = 0;
    int64_t latest_id = 0;
    *completed = 0;
    *latest = 0;
    for (size_t i = 0; i < spate_job_checkpoint_count(job); i++) {
        spate_checkpoint_stats_t st;
        assert_int_equal(spate_job_checkpoint_stats(job, i, &st), 1);
        if (st.status != SPATE_CHECKPOINT_COMPLETED) continue;
        ++*completed;
        assert_true(st.persisted_bytes <= st.state_bytes);
        if (st.persisted_bytes > max) max = st.persisted_bytes;
        if (st.id > latest_id) {
            latest_id = st.id;
            *latest = st.persisted_bytes;
        }
    }
    return max;
}

static char *run_unaligned_counts(const char *in, const char *out, bool unaligned, const char *timeout,
                                  uint64_t *persisted)
{
    spate_env_t *env = build_unaligned(in, out, unaligned, timeout, NULL, NULL, 0);
    spate_job_t *job;
    assert_int_equal(spate_env_start(env, "unaligned", &job), SPATE_OK);
    int rc = spate_job_wait(job);
    if (rc) print_message("job failed: %s\n", spate_job_error(job));
    assert_int_equal(rc, SPATE_OK);
    int completed;
    uint64_t latest;
    *persisted = max_persisted(job, &completed, &latest);
    print_message("%d checkpoints completed, largest in-flight data %llu bytes\n", completed,
                  (unsigned long long)*persisted);
    assert_true(completed > 0);
    spate_job_destroy(job);
    spate_env_destroy(env);
    char *all = tu_read_dir(out), *sorted = tu_sort_lines(all);
    free(all);
    return sorted;
}

typedef struct latest {
    long best;
    char *buf;
    size_t cap;
} latest_t;

static void keep_latest(void *ctx, const char *job, const char *name)
{
    latest_t *l = ctx;
    long n = complete_chk(job, name);
    if (n <= l->best) return;
    l->best = n;
    snprintf(l->buf, l->cap, "%.760s/%.255s", job, name);
}

/* The newest complete chk-<n> directory under ckdir (one job). */
static void latest_chk(const char *ckdir, char *buf, size_t cap)
{
    latest_t l = { -1, buf, cap };
    each_job_entry(ckdir, keep_latest, &l);
    assert_true(l.best > 0);
}

/* A job stopped (as by a crash) right after a checkpoint with in-flight data completed resumes from it: the
 * rows in flight are replayed, or they would be missing (the sources resume after them).  At the job's
 * parallelism, and with the operator behind the exchange (and its in-flight rows) rescaled from 2 to 3
 * and to 1: keyed rows in flight go to the subtask that owns their key now, custom-partitioned ones where
 * the partitioner sends them, rebalanced ones stay with a subtask. */
static void unaligned_stopped_job_resumes_with_its_in_flight_data(void **state)
{
    char *dir = *state, in[512], out[512], ck[512];
    snprintf(in, sizeof in, "%s/in.txt", dir);
    write_input(in);
    fail_at = -1;
    const struct {
        int exchange, parallelism; /* 0: the job's (2) */
    } runs[] = { { EX_KEYED, 0 },     { EX_KEYED, 3 },     { EX_KEYED, 1 },
                 { EX_REBALANCE, 3 }, { EX_REBALANCE, 1 }, { EX_CUSTOM, 3 } };
    char *want = NULL;
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        if (r == 0 || runs[r].exchange != (int)g_exchange) { /* the run without a stop */
            g_exchange = runs[r].exchange;
            free(want);
            uint64_t persisted;
            snprintf(out, sizeof out, "%s/clean%zu", dir, r);
            want = run_unaligned_counts(in, out, false, NULL, &persisted);
        }
        bool resumed = false;
        for (int attempt = 0; attempt < 5 && !resumed;
             attempt++) { /* until the stop comes at such a checkpoint */
            snprintf(out, sizeof out, "%s/out%zu-%d", dir, r, attempt);
            snprintf(ck, sizeof ck, "%s/ck%zu-%d", dir, r, attempt);
            spate_env_t *env = build_unaligned(in, out, true, NULL, ck, NULL, 0);
            spate_job_t *job;
            assert_int_equal(spate_env_start(env, "resume-unaligned", &job), SPATE_OK);
            int completed = 0;
            uint64_t latest = 0;
            for (int i = 0; i < 600 && latest == 0 && spate_job_status(job) == SPATE_JOB_RUNNING; i++) {
                sp_sleep_ms(2);
                max_persisted(job, &completed, &latest);
            }
            spate_job_cancel(job);
            spate_job_wait(job);
            max_persisted(job, &completed, &latest); /* one may have completed meanwhile */
            spate_job_destroy(job);
            spate_env_destroy(env);
            print_message("exchange %d, resume at %d, attempt %d: %d checkpoints, the latest with %llu bytes "
                          "in flight\n",
                          runs[r].exchange, runs[r].parallelism, attempt, completed,
                          (unsigned long long)latest);
            if (latest == 0) continue;
            char chk[1024];
            latest_chk(ck, chk, sizeof chk);
            env = build_unaligned(in, out, true, NULL, ck, chk, runs[r].parallelism);
            assert_int_equal(spate_env_set_config(env, "restart-strategy.type", "none"), SPATE_OK);
            int rc = spate_env_execute(env, "resume-unaligned");
            if (rc) print_message("%s\n", spate_env_error(env));
            assert_int_equal(rc, SPATE_OK);
            spate_env_destroy(env);
            char *all = tu_read_dir(out), *got = tu_sort_lines(all);
            assert_string_equal(got, want); /* nothing lost, nothing twice */
            free(all);
            free(got);
            resumed = true;
        }
        assert_true(resumed);
    }
    g_exchange = EX_KEYED;
    free(want);
}

static void unaligned_counts_restart_exactly_once(void **state)
{
    char *dir = *state, in[512], out[512];
    snprintf(in, sizeof in, "%s/in.txt", dir);
    write_input(in);
    snprintf(out, sizeof out, "%s/clean", dir);
    fail_at = -1;
    uint64_t persisted;
    char *want = run_unaligned_counts(in, out, false, NULL, &persisted); /* aligned, no failure */
    assert_int_equal(persisted, 0);                                      /* aligned: nothing in flight */
    /* unaligned from the first barrier (priority barriers); aligned first, unaligned after 2 ms of alignment */
    const char *timeouts[] = { NULL, "2 ms" };
    for (int k = 0; k < 2; k++) {
        snprintf(out, sizeof out, "%s/failing%d", dir, k);
        fail_at = 1500;
        atomic_store(&failures_left, 1);
        char *got = run_unaligned_counts(in, out, true, timeouts[k], &persisted);
        assert_int_equal(atomic_load(&failures_left), 0); /* it did fail */
        assert_true(persisted > 0);                       /* and checkpoints held in-flight rows */
        assert_string_equal(got, want); /* the same running counts: in-flight rows replayed, none twice */
        free(got);
    }
    free(want);
}

/* Savepoints are aligned even when checkpoints are not (as Flink's): a savepoint of the unaligned job
 * (whose checkpoints hold in-flight rows, most runs) holds no in-flight data, so it restores at another
 * parallelism, exactly once. */
static void a_savepoint_of_an_unaligned_job_is_aligned_and_rescales(void **state)
{
    char *dir = *state, in[512], out[512], ck[512], sps[512];
    snprintf(in, sizeof in, "%s/in.txt", dir);
    FILE *f = fopen(in, "w"); /* 2 s at the source's 4000 lines/s: running when the savepoint comes */
    for (int i = 0; i < 8000; i++) fprintf(f, "line-%d\n", i);
    fclose(f);
    snprintf(out, sizeof out, "%s/clean", dir);
    snprintf(ck, sizeof ck, "%s/ck", dir);
    snprintf(sps, sizeof sps, "%s/sps", dir);
    fail_at = -1;
    uint64_t persisted;
    char *want = run_unaligned_counts(in, out, false, NULL, &persisted);
    snprintf(out, sizeof out, "%s/out", dir);
    spate_env_t *env = build_unaligned(in, out, true, NULL, ck, NULL, 0);
    /* unaligned checkpoints here end only once the slow filter took their in-flight rows: the savepoint
     * need not wait for them to end */
    assert_int_equal(spate_env_set_config(env, "execution.checkpointing.max-concurrent-checkpoints", "4"),
                     SPATE_OK);
    spate_job_t *job;
    assert_int_equal(spate_env_start(env, "unaligned-savepoint", &job), SPATE_OK);
    int completed = 0;
    uint64_t latest = 0;
    for (int i = 0; i < 100 && max_persisted(job, &completed, &latest) == 0; i++) sp_sleep_ms(10);
    print_message("before the savepoint: %d checkpoints, the largest with %llu bytes in flight\n", completed,
                  (unsigned long long)max_persisted(job, &completed, &latest));
    char sp[1024];
    int rc = spate_job_stop_with_savepoint(job, sps, false, sp, sizeof sp);
    if (rc) print_message("%s\n", spate_last_error());
    assert_int_equal(rc, SPATE_OK);
    assert_int_equal(spate_job_wait(job), SPATE_OK);
    uint64_t savepoint_flight = UINT64_MAX;
    for (size_t i = 0; i < spate_job_checkpoint_count(job); i++) {
        spate_checkpoint_stats_t st;
        assert_int_equal(spate_job_checkpoint_stats(job, i, &st), 1);
        if (st.status == SPATE_CHECKPOINT_COMPLETED && st.savepoint) savepoint_flight = st.persisted_bytes;
    }
    assert_int_equal(savepoint_flight, 0); /* the savepoint: none */
    spate_job_destroy(job);
    spate_env_destroy(env);
    env = build_unaligned(in, out, true, NULL, ck, sp, 0);
    spate_env_set_parallelism(env, 3); /* not 2 */
    assert_int_equal(spate_env_set_config(env, "restart-strategy.type", "none"), SPATE_OK);
    rc = spate_env_execute(env, "unaligned-savepoint");
    if (rc) print_message("%s\n", spate_env_error(env));
    assert_int_equal(rc, SPATE_OK);
    spate_env_destroy(env);
    char *all = tu_read_dir(out), *got = tu_sort_lines(all);
    assert_string_equal(got, want);
    free(all);
    free(got);
    free(want);
}

/* ---- keyed state large enough to be frozen at the barrier ----
 * Row i has key i mod BIG_KEYS; its counter must be i / BIG_KEYS when the row comes (the rows
 * before it with that key), after a restore too: exactly once.  BIG_KEYS is above the 2^18
 * entries from which the keyed process operator freezes its state (src/api/snapshots.c). */

#define BIG_KEYS 270000

static atomic_llong big_bad, big_rows;
static atomic_int big_fail_left;

static int key_or_fail(void *ctx, const spate_row_t *in, spate_collector_t *out)
{
    (void)ctx;
    int64_t i = spate_row_get_bigint(in, 0);
    if (i == 2 * BIG_KEYS + 12345 && atomic_load(&big_fail_left) > 0) {
        atomic_fetch_sub(&big_fail_left, 1);
        return spate_out_fail(out, "injected failure at row %lld", (long long)i);
    }
    spate_out_set_bigint(out, 0, i);
    spate_out_set_bigint(out, 1, i % BIG_KEYS);
    return spate_out_emit(out);
}

typedef struct big_state {
    spate_value_state_t *count;
} big_state_t;

static int big_open(void *ctx, spate_keyed_context_t *kc, void **state)
{
    (void)ctx;
    big_state_t *b = calloc(1, sizeof *b);
    b->count = spate_keyed_value_state(kc, "count");
    *state = b;
    return SPATE_OK;
}

static int big_process(void *state, const spate_row_t *in, spate_keyed_context_t *kc, spate_collector_t *out)
{
    (void)out;
    big_state_t *b = state;
    int64_t i = spate_row_get_bigint(in, 0), c = 0;
    if (spate_value_state_get(kc, b->count, &c, sizeof c) < 0) c = 0;
    if (c != i / BIG_KEYS) atomic_fetch_add(&big_bad, 1);
    c++;
    spate_value_state_set(kc, b->count, &c, sizeof c);
    atomic_fetch_add(&big_rows, 1);
    return SPATE_OK;
}

static void big_close(void *state)
{
    free(state);
}

static void frozen_keyed_state_restores_exactly_once(void **state)
{
    char *dir = *state, ck[600];
    snprintf(ck, sizeof ck, "%s/ck", dir);
    atomic_store(&big_bad, 0);
    atomic_store(&big_rows, 0);
    atomic_store(&big_fail_left, 1);
    spate_env_t *env = spate_env_create();
    spate_env_set_parallelism(env, 1);
    assert_int_equal(spate_env_set_config(env, "state.checkpoints.dir", ck), SPATE_OK);
    assert_int_equal(spate_env_set_config(env, "execution.checkpointing.interval", "50 ms"), SPATE_OK);
    assert_int_equal(spate_env_set_config(env, "restart-strategy.type", "fixed-delay"), SPATE_OK);
    assert_int_equal(spate_env_set_config(env, "restart-strategy.fixed-delay.delay", "10 ms"), SPATE_OK);
    spate_schema_t *seq = spate_schema_of("i BIGINT NOT NULL");
    spate_schema_t *ik = spate_schema_of("i BIGINT NOT NULL, k BIGINT NOT NULL");
    spate_datagen_field_t f;
    spate_datagen_field_init(&f);
    f.kind = SPATE_DATAGEN_SEQUENCE;
    f.start = 0;
    f.end = 3 * BIG_KEYS - 1;
    spate_datagen_options_t o;
    spate_datagen_options_init(&o);
    o.rows_per_second = 0;
    o.fields = &f;
    spate_stream_t *s = spate_env_add_source(env, spate_datagen_source(seq, &o), "sequence");
    s = spate_stream_map(s, "key", key_or_fail, NULL, ik);
    static const spate_keyed_process_function_t fn = { .open = big_open,
                                                       .process = big_process,
                                                       .close = big_close };
    s = spate_keyed_process(spate_stream_key_by_field(s, "k"), "counter", &fn, NULL);
    spate_stream_sink(s, spate_blackhole_sink(), "blackhole");
    int rc = spate_env_execute(env, "big-keyed");
    if (rc) print_message("job failed: %s\n", spate_env_error(env));
    assert_int_equal(rc, SPATE_OK);
    spate_env_destroy(env);
    spate_schema_release(seq);
    spate_schema_release(ik);
    assert_int_equal(atomic_load(&big_fail_left), 0); /* it did fail and restart */
    assert_int_equal(atomic_load(&big_bad), 0);       /* every counter exact, before and after */
    /* all rows, those after the restored checkpoint twice: that checkpoint came after row BIG_KEYS
     * (all keys there: a frozen one), not from the start */
    long long rows = atomic_load(&big_rows);
    assert_true(rows >= 3 * BIG_KEYS);
    assert_true(rows <= 4 * BIG_KEYS + 12345);
}

/* Restarts without checkpoints start afresh; the sink committed nothing of the failed attempt. */
static void a_failing_job_without_checkpoints_restarts_afresh(void **state)
{
    char *dir = *state, in[512], out[512];
    snprintf(in, sizeof in, "%s/in.txt", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    write_input(in);
    fail_at = 1200;
    atomic_store(&failures_left, 1);
    spate_env_t *env = build_failing(in, out, "2");
    assert_int_equal(spate_env_set_config(env, "execution.checkpointing.interval", "0"), SPATE_OK);
    int rc = spate_env_execute(env, "afresh");
    if (rc) print_message("%s\n", spate_env_error(env));
    assert_int_equal(rc, SPATE_OK);
    spate_env_destroy(env);
    assert_int_equal(atomic_load(&failures_left), 0);
    char *all = tu_read_dir(out), *got = tu_sort_lines(all), *want = expected();
    assert_string_equal(got, want);
    free(all);
    free(got);
    free(want);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(a_failing_job_without_checkpoints_restarts_afresh, tu_setup_tmpdir,
                                    tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(frozen_keyed_state_restores_exactly_once, tu_setup_tmpdir,
                                    tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(a_savepoint_of_an_unaligned_job_is_aligned_and_rescales, tu_setup_tmpdir,
                                    tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(unaligned_counts_restart_exactly_once, tu_setup_tmpdir,
                                    tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(unaligned_stopped_job_resumes_with_its_in_flight_data, tu_setup_tmpdir,
                                    tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(a_storage_fault_fails_one_checkpoint_and_the_job_goes_on, tu_setup_tmpdir,
                                    tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(a_damaged_latest_metadata_falls_back_to_the_previous_checkpoint,
                                    tu_setup_tmpdir, tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(keyed_counts_restart_exactly_once, tu_setup_tmpdir, tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(tumbling_counts_restart_exactly_once_p1, tu_setup_tmpdir,
                                    tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(tumbling_counts_restart_exactly_once_p3, tu_setup_tmpdir,
                                    tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(fraud_detection_restart_exactly_once_p1, tu_setup_tmpdir,
                                    tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(fraud_detection_restart_exactly_once_p3, tu_setup_tmpdir,
                                    tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(a_failing_job_restarts_from_its_checkpoint_exactly_once, tu_setup_tmpdir,
                                    tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(a_stopped_job_resumes_from_its_latest_checkpoint_exactly_once,
                                    tu_setup_tmpdir, tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(latest_without_a_checkpoint_starts_fresh, tu_setup_tmpdir,
                                    tu_teardown_tmpdir),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "api_checkpointing");
}
