/*
 * test_checkpointing.c — checkpoints of whole jobs: a rate-limited file
 * source through a map into the exactly-once file sink, with checkpoints
 * every 100 ms into a directory; the job is stopped part-way (the sink's
 * open transaction is lost, as in a crash), then started again from the
 * latest checkpoint: the visible output holds every input line exactly
 * once.  Also: what a completed checkpoint holds on disk, a fresh start
 * when there is no checkpoint, and state of an unknown operator.  And keyed
 * value state big enough to be frozen at the barrier (copy-on-write, encoded
 * by the uploader) restored after a failure with every counter exact.
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

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(frozen_keyed_state_restores_exactly_once, tu_setup_tmpdir,
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
