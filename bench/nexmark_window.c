/*
 * nexmark_window — a keyed tumbling-window count over the Nexmark bid stream
 * (bids per auction per 10 s of event time) as a Spate DataStream job,
 * measured against a hand-written single-threaded C loop doing the same work.
 *
 *   build/bench/nexmark_window [--events N] [--rate R] [--mode loop|p1|p2|all]
 *                              [--repeat R] [--csv] [--plan] [--wm-first] [--no-check]
 *                              [--set KEY=VALUE]...
 *
 * The query, in Flink SQL terms:
 *   SELECT auction, window_start, window_end, COUNT(*)
 *   FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
 *   GROUP BY auction, window_start, window_end
 *
 * Modes, each run in a forked child so that CPU time and peak RSS belong to
 * that run alone:
 *   loop       the generator (split 0 of 1, sp_nexmark_gen_next_bid) and the
 *              count in one plain C loop on the calling thread: an
 *              open-addressing hash map auction -> count for the current
 *              window, folded into the checksum and cleared when a bid of
 *              the next window arrives (the split's event time never goes
 *              back, so a window is complete once a later one starts);
 *   spate p=N  spate_nexmark_source(BIDS) -> spate_stream_project("auction")
 *              (pushed into the source) -> timestamps and watermarks
 *              (bounded out-of-orderness 0; the rows already carry dateTime
 *              as event time; periodic, every WM_INTERVAL) -> key_by_field("auction") ->
 *              spate_keyed_window(tumbling 10 s) -> spate_windowed_aggregate
 *              (an 8-byte count accumulator, emitting auction, window_start,
 *              window_end, count) -> a spate_stream_map that folds each
 *              result row into the checksum -> spate_blackhole_sink, at
 *              parallelism N (hash exchange between the source chain and
 *              the window chain).
 *              With --wm-first the watermarks come from
 *              spate_env_add_source_with_watermarks and the projection
 *              follows them: Spate then cannot push it into the source (it
 *              only pushes a projection that directly follows the source),
 *              so the source builds all seven bid columns.
 *
 * Checksum: every window result (auction, start, end, count) is folded as
 * mix(auction, start, end, count) into a sum, so the order of results does
 * not matter (the job emits a window's keys in timer order, the loop in hash
 * order; at p=2 two threads fold).  Each run's output is checked against a
 * reference computed in the parent, untimed, by a third implementation: all
 * splits of the run's parallelism (split i of p, as the source's subtasks
 * generate them) into one hash map (auction, window start) -> count.  At
 * p=1 that is the loop's stream; at p=2 the two splits number their events
 * from 0, so event times and thus windows differ by design (nexmark_gen.h)
 * and only the total count equals the loop's.
 *
 * Figures: events = events_num (all generated events, persons and auctions
 * included); events/s = events / wall time; CPU s = user + sys of the child
 * (getrusage RUSAGE_SELF around the run, all threads); events/s per core =
 * events / CPU s; max RSS = ru_maxrss of the child; other load = cores the
 * rest of the machine used meanwhile (/proc/stat), to spot disturbed runs.
 * With --repeat R every configuration runs R times, interleaved with the
 * others, and the best figure of each kind is kept.
 */
#include <spate/spate.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "connectors/nexmark_gen.h"

#define BASE_TIME_MS 1700000000000LL /* fixed (and a multiple of the window size) */
#define SEED         42
#define WINDOW_MS    10000
#define DEFAULT_RATE 50000 /* first-event.rate: 10 M events span 200 s of event time, 20 windows */
/* pipeline.auto-watermark-interval of the jobs (--set overrides it).  The run goes through event time
 * ~400 times faster than the stream's rate (20 M events/s against 50,000): Flink's default of 200 ms
 * would then leave 80 s of event time between watermarks, so that the job held 8 windows at a time
 * and fired most of them at the end of input, where the loop holds one.  1 ms is ~20,000 events
 * between watermarks, as 200 ms is at 100,000 events/s: the watermark follows ~0.4 s of event time
 * behind, and the job holds about one window, as the loop does. */
#define WM_INTERVAL "1 ms"

enum { M_LOOP, M_P1, M_P2, NMODES };

static const char *const MODE_NAMES[NMODES] = { "loop", "spate p=1", "spate p=2" };
static const char *const MODE_SHORT[NMODES] = { "loop", "p1", "p2" };
static const int MODE_PARALLELISM[NMODES] = { 0, 1, 2 };

static uint64_t g_rate = DEFAULT_RATE;
static int g_wm_first = 0;
/* --set KEY=VALUE: configuration keys set on every job's environment (experiments). */
static const char *g_set[16];
static int g_nset;

/* ---- checksum: the same fold of a window result everywhere ---- */

typedef struct acc {
    uint64_t rows;  /* window results (auction, window) */
    uint64_t count; /* sum of the counts: bids counted */
    uint64_t sum;   /* sum of mix(auction, start, end, count) */
} acc_t;

static inline uint64_t fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= UINT64_C(0xff51afd7ed558ccd);
    k ^= k >> 33;
    k *= UINT64_C(0xc4ceb9fe1a85ec53);
    k ^= k >> 33;
    return k;
}

static inline uint64_t mix_result(int64_t auction, int64_t start, int64_t end, uint64_t count)
{
    uint64_t h = fmix64((uint64_t)auction * UINT64_C(0x9e3779b97f4a7c15) ^ (uint64_t)start);
    h = fmix64(h + (uint64_t)(end - start) * 31u);
    return fmix64(h ^ count);
}

static inline void acc_add(acc_t *a, int64_t auction, int64_t start, int64_t end, uint64_t count)
{
    a->rows++;
    a->count += count;
    a->sum += mix_result(auction, start, end, count);
}

static inline int64_t window_start(int64_t ts)
{
    int64_t rem = ts % WINDOW_MS;
    if (rem < 0) rem += WINDOW_MS;
    return ts - rem;
}

/* Thread-local accumulators of the fold function; each task thread adds its
 * own into acc_total when it exits (pthread key destructor). */
static pthread_key_t acc_key;
static pthread_mutex_t acc_mu = PTHREAD_MUTEX_INITIALIZER;
static acc_t acc_total;
static _Thread_local acc_t tl_acc;
static _Thread_local int tl_registered;

static void acc_flush(void *p)
{
    acc_t *a = p;
    pthread_mutex_lock(&acc_mu);
    acc_total.rows += a->rows;
    acc_total.count += a->count;
    acc_total.sum += a->sum;
    pthread_mutex_unlock(&acc_mu);
    memset(a, 0, sizeof *a);
}

static inline acc_t *acc_here(void)
{
    if (__builtin_expect(!tl_registered, 0)) {
        pthread_setspecific(acc_key, &tl_acc);
        tl_registered = 1;
    }
    return &tl_acc;
}

/* ---- the hand-written loop ---- */

static void gen_config(sp_nexmark_config_t *cfg, uint64_t events)
{
    sp_nexmark_config_init(cfg);
    cfg->events_num = events;
    cfg->first_event_rate = g_rate;
    cfg->base_time_ms = BASE_TIME_MS;
    cfg->seed = SEED;
}

#define EMPTY_KEY INT64_MIN /* auction ids are >= 1000 */

/* Counts per auction of the current window: open addressing, linear probing,
 * with the list of used slots so that a flush visits only those. */
typedef struct count_map {
    int64_t *keys;
    uint64_t *counts;
    uint32_t *used;
    uint32_t mask, n;
} count_map_t;

static void cm_init(count_map_t *m, uint32_t cap)
{
    m->mask = cap - 1;
    m->n = 0;
    m->keys = malloc(sizeof *m->keys * cap);
    m->counts = malloc(sizeof *m->counts * cap);
    m->used = malloc(sizeof *m->used * cap);
    if (!m->keys || !m->counts || !m->used) abort();
    for (uint32_t i = 0; i < cap; i++) m->keys[i] = EMPTY_KEY;
}

static void cm_fini(count_map_t *m)
{
    free(m->keys);
    free(m->counts);
    free(m->used);
}

static inline uint32_t cm_slot(int64_t key, uint32_t mask)
{
    return (uint32_t)(((uint64_t)key * UINT64_C(0x9e3779b97f4a7c15)) >> 32) & mask;
}

static void cm_grow(count_map_t *m)
{
    count_map_t g;
    cm_init(&g, 2 * (m->mask + 1));
    for (uint32_t u = 0; u < m->n; u++) {
        uint32_t s = m->used[u], i = cm_slot(m->keys[s], g.mask);
        while (g.keys[i] != EMPTY_KEY) i = (i + 1) & g.mask;
        g.keys[i] = m->keys[s];
        g.counts[i] = m->counts[s];
        g.used[g.n++] = i;
    }
    cm_fini(m);
    *m = g;
}

static inline void cm_add(count_map_t *m, int64_t key)
{
    uint32_t i = cm_slot(key, m->mask);
    for (;;) {
        int64_t k = m->keys[i];
        if (k == key) {
            m->counts[i]++;
            return;
        }
        if (k == EMPTY_KEY) break;
        i = (i + 1) & m->mask;
    }
    m->keys[i] = key;
    m->counts[i] = 1;
    m->used[m->n++] = i;
    if (m->n * 2 > m->mask + 1) cm_grow(m);
}

/* Folds the window's counts into the checksum and empties the map. */
static void cm_flush(count_map_t *m, int64_t start, acc_t *a)
{
    for (uint32_t u = 0; u < m->n; u++) {
        uint32_t s = m->used[u];
        acc_add(a, m->keys[s], start, start + WINDOW_MS, m->counts[s]);
        m->keys[s] = EMPTY_KEY;
    }
    m->n = 0;
}

static int run_loop(uint64_t events, acc_t *out)
{
    sp_nexmark_config_t cfg;
    sp_nexmark_gen_t g;
    sp_nexmark_bid_t b;
    gen_config(&cfg, events);
    if (sp_nexmark_gen_init(&g, &cfg, 0, 1) != 0) return -1;
    acc_t a = { 0, 0, 0 };
    count_map_t m;
    cm_init(&m, 1u << 16);
    int64_t start = INT64_MIN, end = INT64_MIN;
    while (sp_nexmark_gen_next_bid(&g, &b)) {
        if (b.date_time >= end) { /* the split's time never goes back: the current window is complete */
            cm_flush(&m, start, &a);
            start = window_start(b.date_time);
            end = start + WINDOW_MS;
        }
        cm_add(&m, b.auction);
    }
    cm_flush(&m, start, &a);
    cm_fini(&m);
    sp_nexmark_gen_fini(&g);
    *out = a;
    return 0;
}

/* ---- the reference for the check (untimed, in the parent) ----
 * All splits of parallelism p into one map (auction, window start) -> count. */

typedef struct ref_entry {
    int64_t auction, start; /* auction == EMPTY_KEY: free */
    uint64_t count;
} ref_entry_t;

static int reference(uint64_t events, int p, acc_t *out)
{
    size_t cap = 1u << 20, n = 0;
    ref_entry_t *t = malloc(sizeof *t * cap);
    if (!t) return -1;
    for (size_t i = 0; i < cap; i++) t[i].auction = EMPTY_KEY;
    sp_nexmark_config_t cfg;
    gen_config(&cfg, events);
    for (int split = 0; split < p; split++) {
        sp_nexmark_gen_t g;
        sp_nexmark_bid_t b;
        if (sp_nexmark_gen_init(&g, &cfg, (uint32_t)split, (uint32_t)p) != 0) {
            free(t);
            return -1;
        }
        while (sp_nexmark_gen_next_bid(&g, &b)) {
            int64_t start = window_start(b.date_time);
            size_t i = (size_t)fmix64((uint64_t)b.auction ^ ((uint64_t)start << 20)) & (cap - 1);
            while (t[i].auction != EMPTY_KEY && (t[i].auction != b.auction || t[i].start != start))
                i = (i + 1) & (cap - 1);
            if (t[i].auction == EMPTY_KEY) {
                t[i].auction = b.auction;
                t[i].start = start;
                t[i].count = 0;
                if (++n * 2 > cap) { /* grow */
                    size_t ncap = 2 * cap;
                    ref_entry_t *nt = malloc(sizeof *nt * ncap);
                    if (!nt) {
                        free(t);
                        return -1;
                    }
                    for (size_t k = 0; k < ncap; k++) nt[k].auction = EMPTY_KEY;
                    for (size_t k = 0; k < cap; k++) {
                        if (t[k].auction == EMPTY_KEY) continue;
                        size_t j = (size_t)fmix64((uint64_t)t[k].auction ^ ((uint64_t)t[k].start << 20)) &
                                   (ncap - 1);
                        while (nt[j].auction != EMPTY_KEY) j = (j + 1) & (ncap - 1);
                        nt[j] = t[k];
                        if (k == i) i = j;
                    }
                    free(t);
                    t = nt;
                    cap = ncap;
                }
            }
            t[i].count++;
        }
        sp_nexmark_gen_fini(&g);
    }
    acc_t a = { 0, 0, 0 };
    for (size_t i = 0; i < cap; i++)
        if (t[i].auction != EMPTY_KEY)
            acc_add(&a, t[i].auction, t[i].start, t[i].start + WINDOW_MS, t[i].count);
    free(t);
    *out = a;
    return 0;
}

/* ---- the DataStream job ---- */

/* Field positions, looked up by name when the job is built (read-only afterwards). */
typedef struct fields {
    int auction; /* in the window's input rows (the key row) */
} fields_t;

static fields_t fields;

static void count_create(void *ctx, void *acc)
{
    (void)ctx;
    memset(acc, 0, sizeof(int64_t));
}

static int count_add(void *ctx, void *acc, const spate_row_t *in)
{
    (void)ctx;
    (void)in;
    int64_t c;
    memcpy(&c, acc, sizeof c);
    c++;
    memcpy(acc, &c, sizeof c);
    return SPATE_OK;
}

static void count_merge(void *ctx, void *acc, const void *other)
{
    (void)ctx;
    int64_t a, b;
    memcpy(&a, acc, sizeof a);
    memcpy(&b, other, sizeof b);
    a += b;
    memcpy(acc, &a, sizeof a);
}

static int count_emit(void *ctx, const void *acc, const spate_window_t *w, const spate_row_t *key_row,
                      spate_collector_t *out)
{
    const fields_t *f = ctx;
    int64_t c;
    memcpy(&c, acc, sizeof c);
    spate_out_set_bigint(out, 0, spate_row_get_bigint(key_row, f->auction));
    spate_out_set_timestamp(out, 1, w->start);
    spate_out_set_timestamp(out, 2, w->end);
    spate_out_set_bigint(out, 3, c);
    return spate_out_emit(out);
}

/* The fold: each window result into this thread's accumulator, passed on unchanged. */
static int fold_map(void *ctx, const spate_row_t *in, spate_collector_t *out)
{
    (void)ctx;
    int64_t auction = spate_row_get_bigint(in, 0);
    int64_t start = spate_row_get_timestamp(in, 1);
    int64_t end = spate_row_get_timestamp(in, 2);
    int64_t count = spate_row_get_bigint(in, 3);
    acc_add(acc_here(), auction, start, end, (uint64_t)count);
    spate_out_set_bigint(out, 0, auction);
    spate_out_set_timestamp(out, 1, start);
    spate_out_set_timestamp(out, 2, end);
    spate_out_set_bigint(out, 3, count);
    return spate_out_emit(out);
}

#define OUT_SCHEMA                                                                                           \
    "auction BIGINT NOT NULL, window_start TIMESTAMP(3) NOT NULL, window_end TIMESTAMP(3) NOT NULL, "        \
    "bids BIGINT NOT NULL"

/* Builds the job graph in env (errors surface from spate_env_execute). */
static void build_job(spate_env_t *env, int parallelism, uint64_t events)
{
    spate_env_set_parallelism(env, parallelism);
    spate_env_set_config(env, "pipeline.auto-watermark-interval", WM_INTERVAL);
    for (int i = 0; i < g_nset; i++) {
        char key[256];
        const char *eq = strchr(g_set[i], '=');
        snprintf(key, sizeof key, "%.*s", (int)(eq - g_set[i]), g_set[i]);
        spate_env_set_config(env, key, eq + 1); /* a bad key or value fails the job at execute */
    }
    spate_nexmark_options_t opts;
    spate_nexmark_options_init(&opts);
    opts.events_num = events;
    opts.first_event_rate = g_rate;
    opts.base_time_ms = BASE_TIME_MS;
    opts.seed = SEED;
    spate_source_t *src = spate_nexmark_source(&opts, SPATE_NEXMARK_BIDS);
    /* The rows carry dateTime as event time: no timestamp field, records keep theirs. Bound 0:
     * each split's event time never goes back (the watermark is max - 1). */
    spate_watermark_strategy_t *ws = spate_watermark_for_bounded_out_of_orderness(0);
    spate_stream_t *s;
    if (g_wm_first) {
        s = spate_env_add_source_with_watermarks(env, src, ws, "nexmark-bids");
        s = spate_stream_project(s, "auction"); /* not pushed: it does not follow the source */
    } else {
        s = spate_env_add_source(env, src, "nexmark-bids");
        s = spate_stream_project(s, "auction"); /* pushed into the source: it generates only auction */
        s = spate_stream_assign_timestamps_and_watermarks(s, ws);
    }
    fields.auction = spate_schema_field_index(spate_stream_schema(s), "auction");
    spate_schema_t *out = spate_schema_of(OUT_SCHEMA);
    static const spate_aggregate_function_t count_fn = {
        .ctx = &fields,
        .acc_size = sizeof(int64_t),
        .create = count_create,
        .add = count_add,
        .merge = count_merge,
        .emit = count_emit,
    };
    spate_keyed_t *k = spate_stream_key_by_field(s, "auction");
    spate_windowed_t *w = spate_keyed_window(k, spate_tumbling_windows(WINDOW_MS, 0));
    s = spate_windowed_aggregate(w, "bids-per-auction-10s", &count_fn, out);
    s = spate_stream_map(s, "fold-checksum", fold_map, NULL, out);
    spate_stream_sink(s, spate_blackhole_sink(), "blackhole");
    spate_schema_release(out);
}

static int run_spate(int parallelism, uint64_t events, acc_t *out, char *err, size_t errcap)
{
    if (pthread_key_create(&acc_key, acc_flush) != 0) {
        snprintf(err, errcap, "pthread_key_create failed");
        return -1;
    }
    memset(&acc_total, 0, sizeof acc_total);
    spate_env_t *env = spate_env_create();
    if (!env) {
        snprintf(err, errcap, "spate_env_create: %s", spate_last_error());
        return -1;
    }
    build_job(env, parallelism, events);
    int rc = spate_env_execute(env, "nexmark-window");
    if (rc != SPATE_OK) snprintf(err, errcap, "%s: %s", spate_strerror(rc), spate_env_error(env));
    spate_env_destroy(env);
    if (tl_registered) acc_flush(&tl_acc); /* rows folded on this thread, if the runtime ran any here */
    *out = acc_total;
    return rc == SPATE_OK ? 0 : -1;
}

/* ---- one measured run, in a child process ---- */

typedef struct run_arg {
    int mode;
    uint64_t events;
} run_arg_t;

/* bench_body_fn: one run in mode, its output folded into *(acc_t *)out. */
static int run_body(void *arg, void *out, char *err, size_t errcap)
{
    const run_arg_t *a = arg;
    int rc = a->mode == M_LOOP ? run_loop(a->events, out)
                               : run_spate(MODE_PARALLELISM[a->mode], a->events, out, err, errcap);
    if (a->mode == M_LOOP && rc != 0) snprintf(err, errcap, "loop set-up failed");
    return rc;
}

/* ---- report ---- */

typedef struct cell {
    int runs;            /* successful runs */
    bench_result_t best; /* best figures over the runs (see the file comment) */
    acc_t acc;           /* output of the first successful run */
    int acc_consistent;
    char err[512];
} cell_t;

/* "ok", or what differs from the reference of the run's parallelism (ref_p) and the loop. */
static const char *check(int mode, const cell_t *loop, const cell_t *c, const acc_t *ref_p, int ref_ok)
{
    if (c->runs == 0) return "FAILED";
    if (!c->acc_consistent) return "UNSTABLE";
    if (ref_ok < 0) return "-"; /* --no-check */
    if (!ref_ok) return "NO REFERENCE";
    if (c->acc.count != ref_p->count) return "COUNT DIFFERS";
    if (c->acc.rows != ref_p->rows) return "ROWS DIFFER";
    if (c->acc.sum != ref_p->sum) return "SUM DIFFERS";
    if (mode != M_LOOP && loop->runs && c->acc.count != loop->acc.count) return "COUNT DIFFERS";
    return "ok";
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: nexmark_window [--events N] [--rate R] [--mode loop|p1|p2|all] [--repeat R]\n"
            "                      [--csv] [--plan] [--wm-first] [--no-check] [--set KEY=VALUE]\n"
            "  --events N   events.num of the Nexmark source (default 10000000)\n"
            "  --rate R     first-event.rate, events per event-time second (default %d: 10 M\n"
            "               events span 200 s of event time, 20 windows of 10 s)\n"
            "  --mode M     loop, p1 (Spate at parallelism 1), p2 or all (default all)\n"
            "  --repeat R   runs per configuration; the best figures are kept (default 1)\n"
            "  --csv        machine-readable output\n"
            "  --plan       print the job graphs (spate_env_describe) and exit\n"
            "  --wm-first   watermarks from spate_env_add_source_with_watermarks, projection after\n"
            "               them (not pushed into the source)\n"
            "  --no-check   skip the reference computation (for profilers: the parent then does no\n"
            "               work of its own)\n"
            "  --set K=V    set configuration key K to V on the jobs' environment (repeatable), e.g.\n"
            "               --set pipeline.auto-watermark-interval=200ms (Flink's default; the\n"
            "               benchmark's is " WM_INTERVAL ", see WM_INTERVAL)\n",
            DEFAULT_RATE);
}

static void print_plans(uint64_t events)
{
    for (int m = M_P1; m < NMODES; m++) {
        spate_env_t *env = spate_env_create();
        build_job(env, MODE_PARALLELISM[m], events);
        char buf[8192];
        spate_env_describe(env, buf, sizeof buf);
        printf("== %s\n%s\n", MODE_NAMES[m], buf);
        spate_env_destroy(env);
    }
}

int main(int argc, char **argv)
{
    uint64_t events = 10000000;
    int msel = -1, repeat = 1, csv = 0, plan = 0, nocheck = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--csv") == 0) {
            csv = 1;
        } else if (strcmp(a, "--plan") == 0) {
            plan = 1;
        } else if (strcmp(a, "--no-check") == 0) {
            nocheck = 1;
        } else if (strcmp(a, "--wm-first") == 0) {
            g_wm_first = 1;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (i + 1 < argc && (strcmp(a, "--events") == 0 || strcmp(a, "--rate") == 0)) {
            char *end;
            unsigned long long v = strtoull(argv[++i], &end, 10);
            if (*end || v == 0) {
                fprintf(stderr, "nexmark_window: %s wants a positive integer\n", a);
                return 2;
            }
            if (a[2] == 'e')
                events = v;
            else
                g_rate = v;
        } else if (i + 1 < argc && strcmp(a, "--set") == 0) {
            const char *v = argv[++i];
            if (!strchr(v, '=') || strchr(v, '=') == v || g_nset == (int)(sizeof g_set / sizeof g_set[0])) {
                fprintf(stderr, "nexmark_window: --set wants KEY=VALUE (at most 16)\n");
                return 2;
            }
            g_set[g_nset++] = v;
        } else if (i + 1 < argc && strcmp(a, "--repeat") == 0) {
            repeat = atoi(argv[++i]);
            if (repeat < 1) {
                fprintf(stderr, "nexmark_window: --repeat wants a positive integer\n");
                return 2;
            }
        } else if (i + 1 < argc && strcmp(a, "--mode") == 0) {
            const char *v = argv[++i];
            msel = -2;
            if (strcmp(v, "all") == 0) msel = -1;
            for (int m = 0; m < NMODES; m++)
                if (strcmp(v, MODE_SHORT[m]) == 0) msel = m;
            if (msel == -2) {
                fprintf(stderr, "nexmark_window: unknown mode '%s' (loop, p1, p2 or all)\n", v);
                return 2;
            }
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (plan) {
        print_plans(events);
        return 0;
    }

    char cpu[256];
    bench_cpu_model(cpu, sizeof cpu);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    double span_s = (double)events / (double)g_rate;
    if (!csv)
        printf("Nexmark bids per auction per 10 s tumbling window: %" PRIu64 " events per run (rate %" PRIu64
               "/s: %.0f s of event time, %.1f windows of 10 s), watermarks every " WM_INTERVAL "%s,\n"
               "best of %d run%s, %ld CPUs online (%s)\n",
               events, g_rate, span_s, span_s / (WINDOW_MS / 1000.0),
               g_wm_first ? ", watermarks at the source (--wm-first)" : "", repeat, repeat == 1 ? "" : "s",
               ncpu, cpu);

    int progress = !csv && isatty(STDERR_FILENO);
    static cell_t cells[NMODES];
    memset(cells, 0, sizeof cells);
    /* Repeats outermost: each configuration's runs are spread over the whole session. */
    for (int r = 0; r < repeat; r++)
        for (int m = 0; m < NMODES; m++) {
            if (msel >= 0 && m != msel) continue;
            cell_t *c = &cells[m];
            bench_result_t res;
            acc_t acc;
            run_arg_t arg = { m, events };
            if (progress) {
                fprintf(stderr, "  running %-9s (run %d/%d)...\r", MODE_NAMES[m], r + 1, repeat);
                fflush(stderr);
            }
            if (bench_run_forked(run_body, &arg, &acc, sizeof acc, &res) != 0) {
                snprintf(c->err, sizeof c->err, "%s", res.err);
                fprintf(stderr, "%snexmark_window: %s failed: %s\n", progress ? "\n" : "", MODE_NAMES[m],
                        res.err);
                continue;
            }
            if (c->runs == 0) {
                c->best = res;
                c->acc = acc;
                c->acc_consistent = 1;
            } else {
                bench_keep_best(&c->best, &res);
                if (memcmp(&acc, &c->acc, sizeof acc) != 0) c->acc_consistent = 0;
            }
            c->runs++;
        }
    if (progress) fprintf(stderr, "  computing the reference...            \r");

    /* References for the check, per parallelism (the loop's is that of p=1). */
    acc_t ref[3];
    int ref_ok[3] = { 0, 0, 0 };
    for (int m = 0; m < NMODES; m++) {
        if (msel >= 0 && m != msel) continue;
        int p = MODE_PARALLELISM[m] ? MODE_PARALLELISM[m] : 1;
        if (nocheck)
            ref_ok[p] = -1;
        else if (!ref_ok[p])
            ref_ok[p] = reference(events, p, &ref[p]) == 0;
    }
    if (progress) fprintf(stderr, "%60s\r", "");

    if (csv)
        printf("mode,parallelism,events,windows_out,bids_counted,wall_s,events_per_s,cpu_s,events_per_s_per_"
               "core,max_rss_kb,per_core_vs_loop,speedup_vs_p1,other_load_cores,check\n");
    else
        printf("\n%-10s %10s %10s %8s %12s %8s %14s %8s %12s %9s %7s  %s\n", "mode", "windows", "bids",
               "wall s", "events/s", "CPU s", "events/s/core", "max RSS", "per core vs", "speed-up", "other",
               "check");
    if (!csv)
        printf("%-10s %10s %10s %8s %12s %8s %14s %8s %12s %9s %7s\n", "", "out", "counted", "", "", "", "",
               "MB", "loop", "vs p=1", "load");
    int all_ok = 1;
    char targets[2048] = "";
    size_t tl = 0;
    const cell_t *loop = &cells[M_LOOP];
    double loop_core = loop->runs && loop->best.cpu_s > 0 ? (double)events / loop->best.cpu_s : 0;
    double p1_rate = cells[M_P1].runs ? (double)events / cells[M_P1].best.wall_s : 0;
    for (int m = 0; m < NMODES; m++) {
        if (msel >= 0 && m != msel) continue;
        const cell_t *c = &cells[m];
        int p = MODE_PARALLELISM[m] ? MODE_PARALLELISM[m] : 1;
        const char *ck = check(m, loop, c, &ref[p], ref_ok[p]);
        if (strcmp(ck, "ok") != 0 && strcmp(ck, "-") != 0) all_ok = 0;
        if (c->runs == 0) {
            if (csv)
                printf("%s,%d,%" PRIu64 ",,,,,,,,,,,%s\n", MODE_PARALLELISM[m] ? "spate" : "loop",
                       MODE_PARALLELISM[m], events, ck);
            else
                printf("%-10s %s: %s\n", MODE_NAMES[m], ck, c->err);
            continue;
        }
        double rate = (double)events / c->best.wall_s;
        double core = c->best.cpu_s > 0 ? (double)events / c->best.cpu_s : 0;
        double ratio = m != M_LOOP && loop_core > 0 ? core / loop_core : 0;
        double speedup = m == M_P2 && p1_rate > 0 ? rate / p1_rate : 0;
        if (csv) {
            printf("%s,%d,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%.4f,%.0f,%.4f,%.0f,%ld,",
                   MODE_PARALLELISM[m] ? "spate" : "loop", MODE_PARALLELISM[m], events, c->acc.rows,
                   c->acc.count, c->best.wall_s, rate, c->best.cpu_s, core, c->best.maxrss_kb);
            if (ratio > 0) printf("%.4f", ratio);
            printf(",");
            if (speedup > 0) printf("%.3f", speedup);
            printf(",");
            if (c->best.other_load >= 0) printf("%.2f", c->best.other_load);
            printf(",%s\n", ck);
        } else {
            char b1[32], b2[32], rs[32] = "-", ss[32] = "-", ol[32] = "-";
            if (ratio > 0) snprintf(rs, sizeof rs, "%.1f %%", 100 * ratio);
            if (speedup > 0) snprintf(ss, sizeof ss, "%.2fx", speedup);
            if (c->best.other_load >= 0) snprintf(ol, sizeof ol, "%.2f", c->best.other_load);
            printf("%-10s %10" PRIu64 " %10" PRIu64 " %8.3f %10s/s %8.3f %12s/s %8.1f %12s %9s %7s  %s\n",
                   MODE_NAMES[m], c->acc.rows, c->acc.count, c->best.wall_s,
                   bench_fmt_rate(rate, b1, sizeof b1), c->best.cpu_s, bench_fmt_rate(core, b2, sizeof b2),
                   (double)c->best.maxrss_kb / 1024.0, rs, ss, ol, ck);
        }
        /* Target (docs/benchmarks.md). */
        if (m == M_P1 && ratio > 0) {
            int met = ratio >= 0.25;
            tl += (size_t)snprintf(targets + tl, sizeof targets - tl,
                                   "  p=1 events/s per core >= 25 %% of the loop's  %6.1f %%   %s\n",
                                   100 * ratio, met ? "met" : "MISSED");
        }
    }
    if (!csv) {
        printf("\nevents = events.num (all generated events; bids are 92 %%); per core = events / CPU s;\n"
               "other load = cores busy with other processes (or stolen by the hypervisor) during the "
               "fastest run;\ncheck = window results, total count and checksum equal to a reference "
               "computed from the\nsame generator splits as the run (at p=2 the splits' event times "
               "differ from the loop's by design).\n");
        if (tl) printf("\nTarget:\n%s", targets);
    }
    if (!all_ok)
        fprintf(stderr, "nexmark_window: some runs failed or differ from the reference (see 'check')\n");
    return all_ok ? 0 : 1;
}
