/*
 * test_recovery.c — exactly-once across killed processes: `spate run` of a
 * rate-limited job with checkpoints every 100 ms into a directory is killed
 * with SIGKILL at random moments several times, each time started again with
 * --from-checkpoint latest; after a final run to the end, the committed
 * (visible) output holds every result exactly once.
 */
#include "test_main.h"
#include "test_util.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define LINES 6000

static const char *build_dir(void)
{
    const char *b = getenv("SPATE_BUILD_DIR");
    return b ? b : "build";
}

/* Starts `spate run` of upper_lines.so; returns its pid. */
static pid_t start(const char *in, const char *out, const char *ck, const char *rate)
{
    char spate[1024], job[1024];
    snprintf(spate, sizeof spate, "%s/spate", build_dir());
    snprintf(job, sizeof job, "%s/tests/jobs/upper_lines.so", build_dir());
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        freopen("/dev/null", "w", stdout);
        execl(spate, spate, "run", job, "--checkpoint-dir", ck, "--from-checkpoint", "latest", "--config",
              "execution.checkpointing.interval=100ms", "--", "--input", in, "--output", out, "--rate", rate,
              (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void killed_runs_resume_exactly_once(void **state)
{
    char *dir = *state, in[512], out[512], ck[512];
    snprintf(in, sizeof in, "%s/in.txt", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(ck, sizeof ck, "%s/ck", dir);
    FILE *f = fopen(in, "w");
    size_t cap = (size_t)LINES * 16, len = 0;
    char *want = malloc(cap);
    for (int i = 0; i < LINES; i++) {
        fprintf(f, "line-%d\n", i);
        len += (size_t)snprintf(want + len, cap - len, "LINE-%d\n", i);
    }
    fclose(f);
    srand((unsigned)getpid());
    for (int k = 0; k < 4; k++) { /* 2000 lines/s: each run gets a part of the 3 s */
        pid_t pid = start(in, out, ck, "2000");
        sp_sleep_ms(250 + rand() % 500);
        kill(pid, SIGKILL);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status));
    }
    char *part = tu_read_dir(out); /* what the killed runs committed: more than nothing, less than all */
    size_t lines = 0;
    for (char *p = part; *p; p++) lines += *p == '\n';
    free(part);
    assert_true(lines > 0 && lines < LINES);
    pid_t pid = start(in, out, ck, "0"); /* the rest, unthrottled, to the end */
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    char *all = tu_read_dir(out), *got = tu_sort_lines(all), *sorted = tu_sort_lines(want);
    assert_string_equal(got, sorted);
    free(all);
    free(got);
    free(sorted);
    free(want);
}

/* Runs tumbling_counts (windows of 1 s over 4000 records, 10 ms apart) at parallelism 2 into out, killed
 * `kills` times first (restarted from the latest checkpoint each time); returns the sorted output. */
static char *tumbling(const char *in, const char *out, const char *ck, int kills)
{
    char spate[1024], job[1024];
    snprintf(spate, sizeof spate, "%s/spate", build_dir());
    snprintf(job, sizeof job, "%s/examples/tumbling_counts.so", build_dir());
    for (int k = 0; k <= kills; k++) {
        bool last = k == kills;
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            freopen("/dev/null", "w", stdout);
            execl(spate, spate, "run", job, "-p", "2", "--checkpoint-dir", ck, "--from-checkpoint", "latest",
                  "--config", "execution.checkpointing.interval=100ms", "--", "--input", in, "--output", out,
                  "--window-ms", "1000", "--out-of-orderness-ms", "0", "--rate", last ? "0" : "3000",
                  (char *)NULL);
            _exit(127);
        }
        int status;
        if (!last) {
            sp_sleep_ms(300 + rand() % 400);
            kill(pid, SIGKILL);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (last) assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    char *all = tu_read_dir(out), *sorted = tu_sort_lines(all);
    free(all);
    return sorted;
}

static void killed_window_job_resumes_exactly_once(void **state)
{
    char *dir = *state, in[512], out[512], ck[512];
    snprintf(in, sizeof in, "%s/in.csv", dir);
    FILE *f = fopen(in, "w");
    for (int i = 0; i < 4000; i++) fprintf(f, "k%d,%d\n", i % 10, i * 10);
    fclose(f);
    srand((unsigned)getpid());
    snprintf(out, sizeof out, "%s/clean", dir);
    snprintf(ck, sizeof ck, "%s/ck-clean", dir);
    char *want = tumbling(in, out, ck, 0);
    assert_true(strlen(want) > 0);
    snprintf(out, sizeof out, "%s/killed", dir);
    snprintf(ck, sizeof ck, "%s/ck-killed", dir);
    char *got = tumbling(in, out, ck, 3);
    assert_string_equal(got, want); /* every window's count once, with window state restored */
    free(want);
    free(got);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(killed_window_job_resumes_exactly_once, tu_setup_tmpdir,
                                    tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(killed_runs_resume_exactly_once, tu_setup_tmpdir, tu_teardown_tmpdir),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "e2e_recovery");
}
