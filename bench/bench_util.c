/* bench_util.c — see bench_util.h. */
#include "bench_util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double tv_s(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static double mono_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Busy CPU seconds of the whole machine so far (all fields of /proc/stat's "cpu" line but idle and
 * iowait; steal counts as busy), or -1. */
static double machine_busy_s(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return -1;
    unsigned long long v[10] = { 0 };
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                   &v[6], &v[7]);
    fclose(f);
    if (n < 8) return -1;
    unsigned long long busy =
        v[0] + v[1] + v[2] + v[5] + v[6] + v[7]; /* user nice system irq softirq steal */
    return (double)busy / (double)sysconf(_SC_CLK_TCK);
}

static double children_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    return tv_s(ru.ru_utime) + tv_s(ru.ru_stime);
}

static void measure(bench_body_fn body, void *arg, void *out, bench_result_t *r)
{
    struct rusage ru0, ru1;
    double t0, t1;
    memset(r, 0, sizeof *r);
    getrusage(RUSAGE_SELF, &ru0);
    t0 = mono_s();
    int rc = body(arg, out, r->err, sizeof r->err);
    t1 = mono_s();
    getrusage(RUSAGE_SELF, &ru1);
    r->ok = rc == 0;
    if (rc != 0 && r->err[0] == 0) snprintf(r->err, sizeof r->err, "run failed");
    r->wall_s = t1 - t0;
    r->cpu_s = tv_s(ru1.ru_utime) - tv_s(ru0.ru_utime) + tv_s(ru1.ru_stime) - tv_s(ru0.ru_stime);
    r->maxrss_kb = ru1.ru_maxrss;
}

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static size_t read_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, p + got, len - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    return got;
}

int bench_run_forked(bench_body_fn body, void *arg, void *out, size_t out_size, bench_result_t *r)
{
    int fd[2];
    memset(r, 0, sizeof *r);
    double busy0 = machine_busy_s(), kids0 = children_cpu_s(), t0 = mono_s();
    if (pipe(fd) != 0) {
        snprintf(r->err, sizeof r->err, "pipe: %s", strerror(errno));
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(r->err, sizeof r->err, "fork: %s", strerror(errno));
        close(fd[0]);
        close(fd[1]);
        return -1;
    }
    if (pid == 0) {
        close(fd[0]);
        bench_result_t res;
        memset(out, 0, out_size);
        measure(body, arg, out, &res);
        if (write_all(fd[1], &res, sizeof res) != 0 || write_all(fd[1], out, out_size) != 0) _exit(3);
        _exit(0);
    }
    close(fd[1]);
    size_t got = read_all(fd[0], r, sizeof *r);
    if (got == sizeof *r) got += read_all(fd[0], out, out_size);
    close(fd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    double busy1 = machine_busy_s(), kids1 = children_cpu_s(), t1 = mono_s();
    if (got != sizeof *r + out_size || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        memset(r, 0, sizeof *r);
        if (WIFSIGNALED(status))
            snprintf(r->err, sizeof r->err, "child killed by signal %d", WTERMSIG(status));
        else
            snprintf(r->err, sizeof r->err, "child exited with status %d", WEXITSTATUS(status));
        return -1;
    }
    r->other_load = -1;
    if (busy0 >= 0 && busy1 >= 0 && t1 > t0) {
        double other = (busy1 - busy0) - (kids1 - kids0); /* jiffy resolution: +-0.01 s per reading */
        r->other_load = other > 0 ? other / (t1 - t0) : 0;
    }
    return r->ok ? 0 : -1;
}

void bench_keep_best(bench_result_t *best, const bench_result_t *run)
{
    if (run->wall_s < best->wall_s) {
        best->wall_s = run->wall_s;
        best->other_load = run->other_load;
    }
    if (run->cpu_s < best->cpu_s) best->cpu_s = run->cpu_s;
    if (run->maxrss_kb < best->maxrss_kb) best->maxrss_kb = run->maxrss_kb;
}

const char *bench_fmt_rate(double v, char *buf, size_t cap)
{
    if (v >= 1e6)
        snprintf(buf, cap, "%.2f M", v / 1e6);
    else if (v >= 1e3)
        snprintf(buf, cap, "%.1f K", v / 1e3);
    else
        snprintf(buf, cap, "%.0f", v);
    return buf;
}

void bench_cpu_model(char *buf, size_t cap)
{
    snprintf(buf, cap, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *c = strchr(line, ':');
            if (c) {
                c++;
                while (*c == ' ' || *c == '\t') c++;
                c[strcspn(c, "\n")] = 0;
                snprintf(buf, cap, "%s", c);
            }
            break;
        }
    }
    fclose(f);
}
