/*
 * test_checkpointing.c — checkpoints of whole jobs: a rate-limited file
 * source through a map into the exactly-once file sink, with checkpoints
 * every 100 ms into a directory; the job is stopped part-way (the sink's
 * open transaction is lost, as in a crash), then started again from the
 * latest checkpoint: the visible output holds every input line exactly
 * once.  Also: what a completed checkpoint holds on disk, a fresh start
 * when there is no checkpoint, and state of an unknown operator.
 */
#include "test_main.h"
#include "test_util.h"

#include <spate/spate.h>

#include <dirent.h>
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

static int count_chk(const char *ckdir)
{
    int n = 0;
    DIR *d = opendir(ckdir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char sub[1024];
        snprintf(sub, sizeof sub, "%s/%s", ckdir, e->d_name);
        DIR *j = opendir(sub);
        struct dirent *c;
        while (j && (c = readdir(j))) {
            char meta[2048];
            snprintf(meta, sizeof meta, "%s/%s/_metadata", sub, c->d_name);
            struct stat sb;
            if (!strncmp(c->d_name, "chk-", 4) && stat(meta, &sb) == 0) n++;
        }
        if (j) closedir(j);
    }
    if (d) closedir(d);
    return n;
}

/* State files (op<node>-<subtask>) in the retained checkpoints under ckdir. */
static int count_state_files(const char *ckdir)
{
    int n = 0;
    DIR *d = opendir(ckdir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char job[1024];
        snprintf(job, sizeof job, "%s/%s", ckdir, e->d_name);
        DIR *j = opendir(job);
        struct dirent *c;
        while (j && (c = readdir(j))) {
            if (strncmp(c->d_name, "chk-", 4) != 0) continue;
            char chk[2048];
            snprintf(chk, sizeof chk, "%s/%s", job, c->d_name);
            DIR *k = opendir(chk);
            struct dirent *f;
            while (k && (f = readdir(k))) n += !strncmp(f->d_name, "op", 2);
            if (k) closedir(k);
        }
        if (j) closedir(j);
    }
    if (d) closedir(d);
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
        }
    }
    assert_true(completed >= 3);
    assert_true(count_chk(ck) >= 3); /* complete on disk too */
    size_t n = spate_job_checkpoint_count(job);
    spate_checkpoint_stats_t none;
    assert_int_equal(spate_job_checkpoint_stats(job, n + 5, &none), 0);
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
    char w[16];
    int n = snprintf(w, sizeof w, "w%d", i % 1000); /* 1000 keys: snapshots beyond the inline size */
    spate_out_set_string(out, 0, w, (size_t)n);
    spate_out_set_bigint(out, 1, 1);
    return spate_out_emit(out);
}

/* Every line's word counted (running sum per word) at parallelism p; returns the committed lines, sorted. */
static char *run_counts(const char *in, const char *out, int p)
{
    char ck[600];
    snprintf(ck, sizeof ck, "%s-ck", out);
    spate_env_t *env = spate_env_create();
    assert_int_equal(spate_env_set_config(env, "state.checkpoints.dir", ck), SPATE_OK);
    spate_env_set_parallelism(env, p);
    assert_int_equal(spate_env_set_config(env, "execution.checkpointing.interval", "50 ms"), SPATE_OK);
    assert_int_equal(spate_env_set_config(env, "restart-strategy.type", "fixed-delay"), SPATE_OK);
    assert_int_equal(spate_env_set_config(env, "restart-strategy.fixed-delay.delay", "10 ms"), SPATE_OK);
    spate_schema_t *words = spate_schema_of("word STRING NOT NULL, n BIGINT NOT NULL");
    spate_stream_t *s = spate_env_add_source(env, spate_file_text_source_rate(in, 4000), "lines");
    s = spate_stream_flat_map(s, "words", word_or_fail, NULL, words);
    s = spate_keyed_sum(spate_stream_key_by_field(s, "word"), "n");
    spate_file_sink_options_t o;
    spate_file_sink_options_init(&o);
    o.format = SPATE_FORMAT_TEXT;
    spate_stream_sink(s, spate_file_sink(out, &o), "counts");
    int rc = spate_env_execute(env, "counts");
    if (rc) print_message("job failed: %s\n", spate_env_error(env));
    assert_int_equal(rc, SPATE_OK);
    spate_env_destroy(env);
    spate_schema_release(words);
    assert_true(count_state_files(ck) > 0); /* the sums' snapshots were too large to go inline: files */
    char *all = tu_read_dir(out), *sorted = tu_sort_lines(all);
    free(all);
    return sorted;
}

static void keyed_counts_restart_exactly_once(void **state)
{
    char *dir = *state, in[512], out[512];
    snprintf(in, sizeof in, "%s/in.txt", dir);
    write_input(in);
    for (int p = 1; p <= 3; p += 2) {
        snprintf(out, sizeof out, "%s/clean%d", dir, p);
        fail_at = -1;
        char *want = run_counts(in, out, p); /* every running count once */
        snprintf(out, sizeof out, "%s/failing%d", dir, p);
        fail_at = 1500;
        atomic_store(&failures_left, 1);
        char *got = run_counts(in, out, p);
        assert_int_equal(atomic_load(&failures_left), 0);
        assert_string_equal(got, want); /* the same running counts: state restored, nothing replayed twice */
        free(want);
        free(got);
    }
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
    s = spate_keyed_sum(spate_stream_key_by_field(s, "word"), "n");
    if (sum_parallelism) spate_stream_set_parallelism(s, sum_parallelism);
    s = spate_stream_filter(s, "slow", slow_keep, NULL);
    spate_file_sink_options_t o;
    spate_file_sink_options_init(&o);
    o.format = SPATE_FORMAT_TEXT;
    /* rescaled (sum_parallelism set): a new sink, which does not commit the old one's files elsewhere */
    spate_stream_set_uid(spate_stream_sink(s, spate_file_sink(out, &o), "counts"),
                         sum_parallelism ? "counts-rescaled" : "counts");
    if (sum_parallelism)
        assert_int_equal(spate_env_set_config(env, "execution.savepoint.ignore-unclaimed-state", "true"),
                         SPATE_OK);
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

/* The newest complete chk-<n> directory under ckdir (one job). */
static void latest_chk(const char *ckdir, char *buf, size_t cap)
{
    long best = -1;
    DIR *d = opendir(ckdir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char job[1024];
        snprintf(job, sizeof job, "%.600s/%.255s", ckdir, e->d_name);
        DIR *j = opendir(job);
        struct dirent *c;
        while (j && (c = readdir(j))) {
            char meta[2048];
            snprintf(meta, sizeof meta, "%s/%s/_metadata", job, c->d_name);
            struct stat sb;
            if (strncmp(c->d_name, "chk-", 4) != 0 || stat(meta, &sb) != 0 || atol(c->d_name + 4) <= best)
                continue;
            best = atol(c->d_name + 4);
            snprintf(buf, cap, "%.760s/%.255s", job, c->d_name);
        }
        if (j) closedir(j);
    }
    if (d) closedir(d);
    assert_true(best > 0);
}

/* A job stopped (as by a crash) right after a checkpoint with in-flight data completed resumes from it: the
 * rows in flight are replayed, or they would be missing (the sources resume after them). */
static void unaligned_stopped_job_resumes_with_its_in_flight_data(void **state)
{
    char *dir = *state, in[512], out[512], ck[512];
    snprintf(in, sizeof in, "%s/in.txt", dir);
    write_input(in);
    snprintf(out, sizeof out, "%s/clean", dir);
    fail_at = -1;
    uint64_t persisted;
    char *want = run_unaligned_counts(in, out, false, NULL, &persisted);
    bool resumed = false;
    for (int attempt = 0; attempt < 5 && !resumed;
         attempt++) { /* until the stop comes at such a checkpoint */
        snprintf(out, sizeof out, "%s/out%d", dir, attempt);
        snprintf(ck, sizeof ck, "%s/ck%d", dir, attempt);
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
        print_message("attempt %d: %d checkpoints, the latest with %llu bytes in flight\n", attempt,
                      completed, (unsigned long long)latest);
        if (latest == 0) continue;
        /* at another parallelism of the sums: refused, their in-flight data is per channel */
        char chk[1024], out2[600], ck2[600];
        latest_chk(ck, chk, sizeof chk);
        snprintf(out2, sizeof out2, "%s-rescaled", out);
        snprintf(ck2, sizeof ck2, "%s-rescaled", ck);
        env = build_unaligned(in, out2, true, NULL, ck2, chk, 3);
        assert_int_equal(spate_env_set_config(env, "restart-strategy.type", "none"), SPATE_OK);
        int rrc = spate_env_execute(env, "rescaled");
        print_message("%s\n", spate_env_error(env));
        assert_int_equal(rrc, SPATE_ESTATE);
        assert_non_null(strstr(spate_env_error(env), "holds in-flight data of operator"));
        spate_env_destroy(env);
        /* at the same parallelism: resumed exactly once */
        env = build_unaligned(in, out, true, NULL, ck, "latest", 0);
        assert_int_equal(spate_env_execute(env, "resume-unaligned"), SPATE_OK);
        spate_env_destroy(env);
        char *all = tu_read_dir(out), *got = tu_sort_lines(all);
        assert_string_equal(got, want); /* nothing lost, nothing twice */
        free(all);
        free(got);
        resumed = true;
    }
    assert_true(resumed);
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

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(unaligned_counts_restart_exactly_once, tu_setup_tmpdir,
                                    tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(unaligned_stopped_job_resumes_with_its_in_flight_data, tu_setup_tmpdir,
                                    tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(keyed_counts_restart_exactly_once, tu_setup_tmpdir, tu_teardown_tmpdir),
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
