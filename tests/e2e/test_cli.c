/*
 * test_cli.c — the `spate` command end to end: real processes running
 * example and test jobs (build/examples, build/tests/jobs), checked by exit
 * status, stderr text and output files.
 */
#include "test_main.h"
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static const char *build_dir(void)
{
    const char *b = getenv("SPATE_BUILD_DIR");
    return b ? b : "build";
}

/* Runs a shell command line with stdout+stderr captured; returns the exit status. */
static int run(char **output, const char *fmt, ...) SPATE_PRINTF(2, 3);

static int run(char **output, const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char full[8300];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    assert_non_null(p);
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (cap - len < 1024) buf = realloc(buf, cap *= 2);
    }
    buf[len] = '\0';
    int st = pclose(p);
    if (output)
        *output = buf;
    else
        free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void version_and_help(void **state)
{
    (void)state;
    char *out;
    assert_int_equal(run(&out, "%s/spate --version", build_dir()), 0);
    assert_non_null(strstr(out, "spate 0.1.0"));
    free(out);
    assert_int_equal(run(&out, "%s/spate --help", build_dir()), 0);
    assert_non_null(strstr(out, "usage: spate run JOB.so"));
    assert_non_null(strstr(out, "parallelism.default"));
    free(out);
    assert_int_equal(run(&out, "%s/spate frobnicate", build_dir()), 2);
    assert_non_null(strstr(out, "unknown command 'frobnicate'"));
    free(out);
}

static void missing_job_file(void **state)
{
    (void)state;
    char *out;
    assert_int_equal(run(&out, "%s/spate run /nonexistent/job.so", build_dir()), 2);
    assert_non_null(strstr(out, "cannot open job '/nonexistent/job.so'"));
    assert_non_null(strstr(out, "No such file"));
    free(out);
}

static void shared_object_without_entry_point(void **state)
{
    (void)state;
    char *out;
    assert_int_equal(run(&out, "%s/spate run %s/libspate.so", build_dir(), build_dir()), 2);
    assert_non_null(strstr(out, "does not export spate_job_main"));
    free(out);
}

static void bad_config_key_names_itself(void **state)
{
    (void)state;
    char *out;
    assert_int_equal(
        run(&out, "%s/spate run %s/examples/wordcount.so --config no.such.key=1 -- --input x --output y",
            build_dir(), build_dir()),
        2);
    assert_non_null(strstr(out, "'no.such.key'"));
    free(out);
}

static void failing_operator_fails_the_job(void **state)
{
    (void)state;
    for (int p = 1; p <= 4; p *= 2) {
        char *out;
        assert_int_equal(run(&out,
                             "%s/spate run %s/tests/jobs/failing_job.so -p %d --config "
                             "restart-strategy.type=none -- --fail-at 777",
                             build_dir(), build_dir(), p),
                         1);
        assert_non_null(strstr(out, "job 'failing_job' failed: operator 'fail-on-row'"));
        assert_non_null(strstr(out, "row 777 is cursed"));
        free(out);
    }
}

/* --verbose prints each checkpoint's statistics, and per operator its acknowledgements, when the job ends. */
static void verbose_prints_checkpoint_statistics(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), in[512];
    snprintf(in, sizeof in, "%s/in.txt", dir);
    FILE *f = fopen(in, "w");
    assert_non_null(f);
    for (int i = 0; i < 1000; i++) fprintf(f, "line-%d\n", i);
    fclose(f);
    char *out;
    int rc = run(&out,
                 "%s/spate run %s/tests/jobs/upper_lines.so --verbose --checkpoint-dir %s/ck --config "
                 "execution.checkpointing.interval=50ms -- --input %s --output %s/out --rate 2500",
                 build_dir(), build_dir(), dir, in, dir);
    if (rc) print_message("%s\n", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "spate: job 'upper_lines' checkpoint 1 completed: "));
    assert_non_null(strstr(out, " bytes, 3/3 acknowledged, alignment "));
    /* the source, the map and the sink of checkpoint 1, in that order */
    const char *src = strstr(out, "spate: job 'upper_lines' checkpoint 1 operator 'lines' (uid ");
    const char *map = strstr(out, "spate: job 'upper_lines' checkpoint 1 operator 'upper' (uid ");
    const char *sink = strstr(out, "spate: job 'upper_lines' checkpoint 1 operator 'parts' (uid ");
    assert_true(src && map && sink && src < map && map < sink);
    assert_non_null(strstr(src, "): 1/1 acknowledged, last after "));
    assert_non_null(strstr(src, " ms, "));
    free(out);
    tu_rm_rf(dir);
    free(dir);
}

static void missing_input_names_the_path(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), *out;
    assert_int_equal(run(&out,
                         "%s/spate run %s/examples/wordcount.so -- --input %s/absent.txt --output %s/out",
                         build_dir(), build_dir(), dir, dir),
                     1);
    assert_non_null(strstr(out, "absent.txt"));
    free(out);
    tu_rm_rf(dir);
    free(dir);
}

/* Random text with mixed case and whitespace; writes the expected "word\tcount" lines, sorted. */
static char *make_words(const char *path)
{
    static const char *const vocab[] = { "stream", "State", "flink", "spate", "KEY",
                                         "window", "a",     "b",     "c",     "time" };
    int counts[10] = { 0 };
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    unsigned seed = 7;
    for (int i = 0; i < 60000; i++) {
        seed = seed * 1103515245u + 12345u;
        int w = (int)((seed >> 16) % 10);
        counts[w]++;
        const char *word = vocab[w];
        for (const char *c = word; *c; c++)
            fputc((seed >> 8) & 1 ? *c : (*c >= 'a' && *c <= 'z' ? *c - 32 : *c), f);
        fputs((seed >> 20) % 7 == 0 ? "\n" : ((seed >> 20) % 7 == 1 ? " \t " : " "), f);
    }
    fclose(f);
    char buf[4096], *p = buf;
    for (int w = 0; w < 10; w++) {
        char lower[32];
        size_t k = 0;
        for (const char *c = vocab[w]; *c; c++) lower[k++] = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
        lower[k] = '\0';
        p += sprintf(p, "%s\t%d\n", lower, counts[w]);
    }
    return tu_sort_lines(buf);
}

static void wordcount_same_at_every_parallelism(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    char in[512];
    snprintf(in, sizeof in, "%s/words.txt", dir);
    char *expected = make_words(in);
    for (int p = 1; p <= 4; p *= 2) {
        char *out;
        /* at p=2 with --rate too: a rate-limited source reads the same lines */
        int rc = run(
            &out, "%s/spate run %s/examples/wordcount.so --parallelism %d -- --input %s --output %s/out%d%s",
            build_dir(), build_dir(), p, in, dir, p, p == 2 ? " --rate 100000" : "");
        if (rc) print_message("%s\n", out);
        assert_int_equal(rc, 0);
        free(out);
        char od[600];
        snprintf(od, sizeof od, "%s/out%d", dir, p);
        char *got = tu_read_dir(od);
        assert_non_null(got);
        char *sorted = tu_sort_lines(got);
        assert_string_equal(sorted, expected);
        free(sorted);
        free(got);
    }
    free(expected);
    tu_rm_rf(dir);
    free(dir);
}

static void running_reduce_same_at_every_parallelism(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    char in[512];
    snprintf(in, sizeof in, "%s/kv.csv", dir);
    FILE *f = fopen(in, "w");
    unsigned seed = 11;
    for (int i = 0; i < 30000; i++) {
        seed = seed * 1103515245u + 12345u;
        fprintf(f, "k%u,%u\n", (seed >> 16) % 97, (seed >> 4) % 1000);
    }
    fclose(f);
    char *first = NULL;
    for (int p = 1; p <= 4; p *= 2) {
        char *out;
        int rc = run(&out, "%s/spate run %s/tests/jobs/running_sum.so -p %d -- --input %s --output %s/out%d",
                     build_dir(), build_dir(), p, in, dir, p);
        if (rc) print_message("%s\n", out);
        assert_int_equal(rc, 0);
        free(out);
        char od[600];
        snprintf(od, sizeof od, "%s/out%d", dir, p);
        char *got = tu_read_dir(od);
        char *sorted = tu_sort_lines(got);
        free(got);
        /* every input row produces one update */
        size_t lines = 0;
        for (char *c = sorted; *c; c++) lines += *c == '\n';
        assert_int_equal(lines, 30000);
        if (!first)
            first = sorted;
        else {
            assert_string_equal(sorted, first);
            free(sorted);
        }
    }
    free(first);
    tu_rm_rf(dir);
    free(dir);
}

/* fraud_detection's contract on generated data, with the expected alerts computed here. */
static void fraud_detection_same_at_every_parallelism(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    char in[512];
    snprintf(in, sizeof in, "%s/tx.csv", dir);
    FILE *f = fopen(in, "w");
    char *expected = malloc(1 << 20), *e = expected;
    *e = '\0';
    int64_t last_ts[200];
    long last_cents[200];
    for (int a = 0; a < 200; a++) last_ts[a] = -1;
    unsigned seed = 5;
    int64_t t = 1700000000000;
    for (int i = 0; i < 20000; i++) {
        seed = seed * 1103515245u + 12345u;
        t += 1 + (seed >> 8) % 900;
        int acc = (int)((seed >> 4) % 200);
        unsigned r = (seed >> 12) % 100;
        long cents = r < 8    ? 1 + (long)(seed >> 20) % 99
                     : r < 16 ? 50001 + (long)(seed >> 16) % 400000
                     : r < 17 ? ((seed >> 3) & 1 ? 100 : 50000)
                              : 100 + (long)(seed >> 14) % 49900;
        fprintf(f, "%d,%lld,%ld.%02ld\n", acc, (long long)t, cents / 100, cents % 100);
        if (cents > 50000 && last_ts[acc] >= 0 && last_cents[acc] < 100 && t - last_ts[acc] <= 60000)
            e += sprintf(e, "%d,%lld\n", acc, (long long)t);
        last_ts[acc] = t;
        last_cents[acc] = cents;
    }
    fclose(f);
    char *want = tu_sort_lines(expected);
    free(expected);
    assert_true(strlen(want) > 100); /* the data has alerts to find */
    for (int p = 1; p <= 4; p *= 2) {
        char *out;
        int rc = run(&out, "%s/spate run %s/examples/fraud_detection.so -p %d --input %s --output %s/out%d",
                     build_dir(), build_dir(), p, in, dir, p);
        if (rc) print_message("%s\n", out);
        assert_int_equal(rc, 0);
        free(out);
        char od[600];
        snprintf(od, sizeof od, "%s/out%d", dir, p);
        char *got = tu_read_dir(od);
        char *sorted = tu_sort_lines(got);
        assert_string_equal(sorted, want);
        free(sorted);
        free(got);
    }
    free(want);
    tu_rm_rf(dir);
    free(dir);
}

/* The example jobs' contracts, checked by ../shared/checks/check-examples (reference semantics
 * from oracle.py on fresh data, parallelism 1, 2 and 4) when the shared folder is beside the
 * project, as in CI. */
static void example_contracts_hold(void **state)
{
    (void)state;
    const char *src = getenv("SPATE_SOURCE_DIR");
    char script[4096];
    snprintf(script, sizeof script, "%s/../shared/checks/check-examples", src ? src : ".");
    FILE *f = fopen(script, "r");
    if (!f) {
        print_message("no %s: skipped\n", script);
        skip();
    }
    fclose(f);
    char *out;
    int rc = run(&out, "cd %s && %s %s", src, script, build_dir());
    print_message("%s", out);
    assert_int_equal(rc, 0);
    assert_null(strstr(out, "FAIL"));
    assert_non_null(strstr(out, "ok   tumbling_counts p=4"));
    assert_non_null(strstr(out, "ok   session_counts p=4"));
    assert_non_null(strstr(out, "ok   fraud_detection p=4"));
    free(out);
}

static void demo_job_prints_channels(void **state)
{
    (void)state;
    char *out;
    assert_int_equal(run(&out, "%s/spate run %s/examples/nexmark_demo.so -p 2 -- --events 200000",
                         build_dir(), build_dir()),
                     0);
    static const char *const ch[] = { "Google", "Facebook", "Baidu", "Apple", "other" };
    for (int i = 0; i < 5; i++) {
        char needle[64];
        snprintf(needle, sizeof needle, "+I[%s, ", ch[i]);
        assert_non_null(strstr(out, needle));
    }
    free(out);
}

/* cmake --install, then a job built outside the tree with pkg-config runs on the installed spate. */
static void installed_spate_builds_and_runs_a_job(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), *out;
    int rc = run(&out, "cmake --install %s --prefix %s/inst", build_dir(), dir);
    if (rc) print_message("%s\n", out);
    assert_int_equal(rc, 0);
    free(out);
    char job[600];
    snprintf(job, sizeof job, "%s/job.c", dir);
    FILE *f = fopen(job, "w");
    fputs(
        "#include <spate/spate.h>\n"
        "int spate_job_main(spate_env_t *env, int argc, char **argv)\n"
        "{\n"
        "    (void)argc; (void)argv;\n"
        "    spate_schema_t *s = spate_schema_of(\"word STRING, n BIGINT\");\n"
        "    const char *rows[] = { \"outside,1\", \"the,2\", \"tree,3\" };\n"
        "    spate_stream_t *in = spate_env_add_source(env, spate_collection_source(s, rows, 3), \"rows\");\n"
        "    spate_stream_sink(in, spate_print_sink(NULL), \"print\");\n"
        "    spate_schema_release(s);\n"
        "    return SPATE_OK;\n"
        "}\n",
        f);
    fclose(f);
    rc = run(&out,
             "cd %s && PKG_CONFIG_PATH=%s/inst/lib/pkgconfig && export PKG_CONFIG_PATH && "
             "cc -std=c11 -Wall -Werror -shared -fPIC job.c $(pkg-config --cflags --libs spate) -o job.so && "
             "%s/inst/bin/spate run job.so",
             dir, dir, dir);
    if (rc) print_message("%s\n", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "+I[outside, 1]\n+I[the, 2]\n+I[tree, 3]\n"));
    free(out);
    tu_rm_rf(dir);
    free(dir);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(installed_spate_builds_and_runs_a_job),
    cmocka_unit_test(version_and_help),
    cmocka_unit_test(missing_job_file),
    cmocka_unit_test(shared_object_without_entry_point),
    cmocka_unit_test(bad_config_key_names_itself),
    cmocka_unit_test(failing_operator_fails_the_job),
    cmocka_unit_test(missing_input_names_the_path),
    cmocka_unit_test(verbose_prints_checkpoint_statistics),
    cmocka_unit_test(wordcount_same_at_every_parallelism),
    cmocka_unit_test(running_reduce_same_at_every_parallelism),
    cmocka_unit_test(fraud_detection_same_at_every_parallelism),
    cmocka_unit_test(example_contracts_hold),
    cmocka_unit_test(demo_job_prints_channels),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "e2e_cli");
}
