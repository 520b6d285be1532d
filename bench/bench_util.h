/*
 * bench_util.h — what the benchmarks share: one measured run in a child
 * process (wall time, CPU time, peak RSS, load from anything else on the
 * machine meanwhile), keeping the best figures over repeats, and report
 * formatting.
 */
#ifndef SPATE_BENCH_UTIL_H
#define SPATE_BENCH_UTIL_H

#include <stddef.h>

typedef struct bench_result {
    int ok;
    double wall_s, cpu_s;
    long maxrss_kb;
    double other_load; /* cores busy with anything but this run meanwhile (incl. steal), -1 unknown */
    char err[512];
} bench_result_t;

/* The measured work: fills out (the benchmark's own result, out_size bytes) and returns 0, or
 * returns -1 with a message in err (it may leave err empty). */
typedef int (*bench_body_fn)(void *arg, void *out, char *err, size_t errcap);

/* Runs body(arg, ...) in a forked child process and measures it into *r; out receives what the
 * child's body wrote into its copy.  Returns 0, or -1 with r->err set. */
int bench_run_forked(bench_body_fn body, void *arg, void *out, size_t out_size, bench_result_t *r);

/* Folds run into best: the lowest wall time (with the load measured during that run), the lowest CPU
 * time and the lowest peak RSS. */
void bench_keep_best(bench_result_t *best, const bench_result_t *run);

/* v as "1.23 M", "4.5 K" or "67" into buf; returns buf. */
const char *bench_fmt_rate(double v, char *buf, size_t cap);

/* The CPU's model name from /proc/cpuinfo, or "unknown CPU". */
void bench_cpu_model(char *buf, size_t cap);

#endif /* SPATE_BENCH_UTIL_H */
