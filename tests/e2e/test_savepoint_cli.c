/*
 * test_savepoint_cli.c — savepoints from the command line: `spate run` of
 * tumbling_counts (rate-limited, parallelism 2) is listed, savepointed and
 * stopped with a savepoint through its control socket by `spate list`,
 * `spate savepoint` and `spate stop`; `spate savepoint check` says whether
 * the savepoint fits a job; `spate run --from-savepoint` at parallelism 1
 * and 4 then completes the output, which equals a run without the stop.
 */
#include "test_main.h"
#include "test_util.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *build_dir(void)
{
    const char *b = getenv("SPATE_BUILD_DIR");
    return b ? b : "build";
}

/* Runs a shell command line with stdout+stderr captured; returns the exit status. */
static int sh(char **output, const char *fmt, ...) SPATE_PRINTF(2, 3);

static int sh(char **output, const char *fmt, ...)
{
    char cmd[8192], full[8300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    assert_non_null(p);
    size_t len = 0, cap = 4096, n;
    char *buf = malloc(cap);
    while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0)
        if (cap - (len += n) < 1024) buf = realloc(buf, cap *= 2);
    buf[len] = '\0';
    int st = pclose(p);
    *output = buf;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* tumbling_counts --input in --output out at parallelism p (extra: more options of run, or ""). */
static int run_job(const char *in, const char *out, int p, const char *extra, char **log)
{
    return sh(
        log,
        "%s/spate run %s/examples/tumbling_counts.so -p %d %s -- --input %s --output %s --window-ms 1000 "
        "--out-of-orderness-ms 0",
        build_dir(), build_dir(), p, extra, in, out);
}

/* Starts tumbling_counts rate-limited in the background, checkpointing into ck (NULL: no checkpoints);
 * its stderr goes to errlog.  Returns once its control socket (path into sock) exists. */
static pid_t start(const char *in, const char *out, const char *ck, const char *errlog, const char *run,
                   char *sock, size_t cap)
{
    char spate[1024], job[1024];
    snprintf(spate, sizeof spate, "%s/spate", build_dir());
    snprintf(job, sizeof job, "%s/examples/tumbling_counts.so", build_dir());
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        freopen("/dev/null", "w", stdout);
        freopen(errlog, "w", stderr);
        execl(spate, spate, "run", job, "-p", "2", "--checkpoint-dir", ck ? ck : "", "--config",
              ck ? "execution.checkpointing.interval=100ms" : "execution.checkpointing.interval=0", "--",
              "--input", in, "--output", out, "--window-ms", "1000", "--out-of-orderness-ms", "0", "--rate",
              "2000", (char *)NULL);
        _exit(127);
    }
    snprintf(sock, cap, "%s/%ld.sock", run, (long)pid);
    struct stat st;
    for (int i = 0; i < 500 && stat(sock, &st) != 0; i++) sp_sleep_ms(10); /* bounded: 5 s */
    return pid;
}

static char *sorted_dir(const char *dir)
{
    char *all = tu_read_dir(dir), *sorted = tu_sort_lines(all);
    free(all);
    return sorted;
}

/* The savepoint path from "Savepoint completed. Path: P" (copied into sp). */
static void savepoint_path(const char *output, char *sp, size_t cap)
{
    const char *p = strstr(output, "Savepoint completed. Path: ");
    assert_non_null(p);
    p += strlen("Savepoint completed. Path: ");
    size_t n = strcspn(p, "\n");
    assert_true(n > 0 && n < cap);
    memcpy(sp, p, n);
    sp[n] = '\0';
    struct stat st;
    char meta[2048];
    snprintf(meta, sizeof meta, "%s/_metadata", sp);
    assert_int_equal(stat(meta, &st), 0);
}

static void savepoint_stop_check_and_restore_from_the_command_line(void **state)
{
    char *dir = *state, in[512], out[512], ck[512], sps[512], run[512], errlog[512], *o;
    snprintf(in, sizeof in, "%s/in.csv", dir);
    snprintf(ck, sizeof ck, "%s/ck", dir);
    snprintf(sps, sizeof sps, "%s/sps", dir);
    snprintf(run, sizeof run, "%s/run", dir);
    snprintf(errlog, sizeof errlog, "%s/job.err", dir);
    setenv("SPATE_RUN_DIR", run, 1); /* this test's jobs only */
    FILE *f = fopen(in, "w");
    for (int i = 0; i < 4000; i++) fprintf(f, "k%d,%d\n", i % 10, i * 10);
    fclose(f);
    snprintf(out, sizeof out, "%s/clean", dir);
    assert_int_equal(run_job(in, out, 2, "", &o), 0);
    free(o);
    char *want = sorted_dir(out);

    snprintf(out, sizeof out, "%s/out", dir);
    char sock[600];
    pid_t pid = start(in, out, ck, errlog, run, sock, sizeof sock);
    struct stat st;
    sp_sleep_ms(400);
    assert_int_equal(sh(&o, "%s/spate list", build_dir()), 0);
    char line[128];
    snprintf(line, sizeof line, "%ld  RUNNING  tumbling_counts", (long)pid);
    assert_non_null(strstr(o, line));
    free(o);
    /* a savepoint of the running job, named by its job name */
    char sp1[1024], sp[1024];
    assert_int_equal(sh(&o, "%s/spate savepoint tumbling_counts %s", build_dir(), sps), 0);
    savepoint_path(o, sp1, sizeof sp1);
    free(o);
    /* stop with a savepoint, named by its pid */
    assert_int_equal(sh(&o, "%s/spate stop --savepoint-path %s %ld", build_dir(), sps, (long)pid), 0);
    savepoint_path(o, sp, sizeof sp);
    free(o);
    assert_string_not_equal(sp, sp1);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0); /* stopped: finished, not failed */
    char *err = tu_read_file(errlog);
    assert_non_null(strstr(err, "stopped with savepoint"));
    free(err);
    assert_int_not_equal(stat(sock, &st), 0); /* the socket went with the job */
    char *part = sorted_dir(out);
    assert_true(strlen(part) > 0 && strlen(part) < strlen(want));
    free(part);

    /* check: fits tumbling_counts at parallelism 4; not a job without its operators, unless allowed */
    char args[2048];
    snprintf(args, sizeof args, "-- --input %s --output %s/x --window-ms 1000 --out-of-orderness-ms 0", in,
             dir);
    assert_int_equal(sh(&o, "%s/spate savepoint check %s %s/examples/tumbling_counts.so -p 4 %s", build_dir(),
                        sp, build_dir(), args),
                     0);
    assert_non_null(strstr(o, "result: the savepoint restores into this job"));
    assert_non_null(strstr(o, "parallelism 2 -> 4"));
    assert_non_null(strstr(o, "keyed"));
    free(o);
    snprintf(args, sizeof args, "-- --input %s --output %s/x --gap-ms 100", in, dir);
    assert_int_equal(sh(&o, "%s/spate savepoint check %s %s/examples/session_counts.so %s", build_dir(), sp,
                        build_dir(), args),
                     1);
    assert_non_null(strstr(o, "does NOT restore"));
    assert_non_null(strstr(o, "--allow-non-restored-state"));
    free(o);
    assert_int_equal(sh(&o, "%s/spate savepoint check %s %s/examples/session_counts.so -n %s", build_dir(),
                        sp, build_dir(), args),
                     0);
    assert_non_null(strstr(o, "dropped"));
    free(o);
    snprintf(args, sizeof args, "-- --input %s --output %s/x --window-ms 1000 --out-of-orderness-ms 0", in,
             dir);
    assert_int_equal(sh(&o, "%s/spate savepoint check %s/nothing %s/examples/tumbling_counts.so %s",
                        build_dir(), dir, build_dir(), args),
                     1);
    assert_non_null(strstr(o, "/nothing"));
    free(o);

    /* restore at 1 and 4, each into a copy of the output so far */
    for (int p = 1; p <= 4; p *= 4) {
        char copy[600], from[1100];
        snprintf(copy, sizeof copy, "%s/restored%d", dir, p);
        assert_int_equal(sh(&o, "cp -a %s %s", out, copy), 0);
        free(o);
        snprintf(from, sizeof from, "--from-savepoint %s", sp);
        assert_int_equal(run_job(in, copy, p, from, &o), 0);
        free(o);
        char *got = sorted_dir(copy);
        assert_string_equal(got, want); /* every window once */
        free(got);
    }
    free(want);
}

static void commands_name_what_they_cannot_reach(void **state)
{
    char *dir = *state, run[512], *o;
    snprintf(run, sizeof run, "%s/run", dir);
    setenv("SPATE_RUN_DIR", run, 1);
    assert_int_equal(sh(&o, "%s/spate list", build_dir()), 0);
    assert_non_null(strstr(o, "no running jobs"));
    free(o);
    assert_int_equal(sh(&o, "%s/spate savepoint 999999999 /tmp", build_dir()), 1);
    assert_non_null(strstr(o, "cannot reach a job at"));
    free(o);
    assert_int_equal(sh(&o, "%s/spate stop no_such_job", build_dir()), 1);
    assert_non_null(strstr(o, "no running job is named 'no_such_job'"));
    free(o);
    assert_int_equal(sh(&o, "%s/spate stop", build_dir()), 2);
    assert_non_null(strstr(o, "usage: spate stop"));
    free(o);
}

static void a_job_without_checkpoints_refuses_a_savepoint_and_can_be_cancelled(void **state)
{
    char *dir = *state, in[512], out[512], run[512], errlog[512], *o;
    snprintf(in, sizeof in, "%s/in.csv", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(run, sizeof run, "%s/run", dir);
    snprintf(errlog, sizeof errlog, "%s/job.err", dir);
    setenv("SPATE_RUN_DIR", run, 1);
    FILE *f = fopen(in, "w");
    for (int i = 0; i < 20000; i++) fprintf(f, "k%d,%d\n", i % 10, i * 10);
    fclose(f);
    char sock[600];
    pid_t pid = start(in, out, NULL, errlog, run, sock, sizeof sock);
    assert_int_equal(sh(&o, "%s/spate savepoint %ld %s/sp", build_dir(), (long)pid, dir), 1);
    assert_non_null(strstr(o, "without checkpoints"));
    free(o);
    assert_int_equal(sh(&o, "%s/spate cancel %ld", build_dir(), (long)pid), 0);
    free(o);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    char *err = tu_read_file(errlog);
    assert_non_null(strstr(err, "was cancelled"));
    free(err);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(savepoint_stop_check_and_restore_from_the_command_line, tu_setup_tmpdir,
                                    tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(commands_name_what_they_cannot_reach, tu_setup_tmpdir,
                                    tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(a_job_without_checkpoints_refuses_a_savepoint_and_can_be_cancelled,
                                    tu_setup_tmpdir, tu_teardown_tmpdir),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "e2e_savepoint_cli");
}
