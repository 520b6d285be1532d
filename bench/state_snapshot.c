/*
 * state_snapshot.c — what a checkpoint of keyed state costs on the heap
 * backend (src/state/snapshot.h): N keys (BIGINT key encoding, 8 bytes) of
 * one 8-byte value state, 128 key groups, one operator instance.
 *
 *   sync      sp_state_snapshot: the task thread is blocked for this long
 *   async     sp_snapshot_write_file into a local file + fsync, on another
 *             thread, while the task thread keeps updating the backend
 *             (updates/s meanwhile are reported)
 *   encode    sp_snapshot_encode into memory (the async part without I/O)
 *   read      the file back into memory (sp_ckpt_storage_read)
 *   restore   sp_state_restore of the whole range into a new backend
 *
 * Each size runs in a forked child (bench_util.h); peak RSS is the child's.
 *
 *   state_snapshot [--keys N[,N...]] [--dir DIR]     (default 1000000,10000000 and /tmp)
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "checkpoint/storage.h"
#include "runtime/runtime.h"
#include "state/backend.h"
#include "state/snapshot.h"

#define MAXP 128

typedef struct out {
    double fill_s, sync_s, async_s, encode_s, read_s, restore_s;
    double freeze_s, frozen_s;        /* sp_state_freeze (the sync part of a checkpoint), then its encoding */
    double sync_cpu_s, restore_cpu_s; /* CPU time of the task thread: what the wall figures would be alone */
    double updates_during_async;
    uint64_t bytes;
} out_t;

typedef struct arg {
    uint64_t keys;
    const char *dir;
} arg_t;

static double now_s(void)
{
    return (double)sp_clock_mono_ns() / 1e9;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void key_of(uint64_t i, uint8_t k[8])
{
    uint64_t u = i ^ 0x8000000000000000ull;
    for (int b = 0; b < 8; b++) k[b] = (uint8_t)(u >> (56 - 8 * b));
}

typedef struct writer {
    sp_snapshot_t *snap;
    sp_ckpt_storage_t *st;
    const char *path;
    sp_error_t err;
    int rc;
    double secs;
    atomic_int done;
} writer_t;

static void *write_async(void *p)
{
    writer_t *w = p;
    double t = now_s();
    sp_ckpt_file_t *f;
    w->rc = sp_ckpt_file_open(w->st, w->path, &f, &w->err);
    if (w->rc == SPATE_OK) {
        w->rc = sp_snapshot_write_file(w->snap, w->st, f, &w->err);
        if (w->rc == SPATE_OK) w->rc = sp_ckpt_file_sync(w->st, f, &w->err);
        int rc = sp_ckpt_file_close(w->st, f, &w->err);
        if (w->rc == SPATE_OK) w->rc = rc;
    }
    w->secs = now_s() - t;
    atomic_store(&w->done, 1);
    return NULL;
}

static int body(void *argp, void *outp, char *err, size_t errcap)
{
    const arg_t *a = argp;
    out_t *o = outp;
    sp_error_t e = { 0 };
    uint8_t k[8];
    double t = now_s();
    sp_state_backend_t *be = sp_heap_backend_create();
    int id = sp_state_id(be, "value");
    for (uint64_t i = 0; i < a->keys; i++) {
        key_of(i, k);
        uint64_t v = i * 3;
        sp_state_put(be, id, sp_key_group(k, 8, MAXP), k, 8, NULL, 0, &v, 8);
    }
    o->fill_s = now_s() - t;

    t = now_s();
    double c = cpu_s();
    sp_snapshot_t *snap;
    if (sp_state_snapshot(be, 0, MAXP - 1, &snap, &e) != SPATE_OK) {
        snprintf(err, errcap, "snapshot: %s", e.message);
        return -1;
    }
    o->sync_s = now_s() - t;
    o->sync_cpu_s = cpu_s() - c;

    /* the checkpoint's way: a frozen view at the barrier, encoded afterwards (here on this thread) */
    t = now_s();
    sp_state_frozen_t *fz;
    if (sp_state_freeze(be, 0, MAXP - 1, &fz, &e) != SPATE_OK) {
        snprintf(err, errcap, "freeze: %s", e.message);
        return -1;
    }
    o->freeze_s = now_s() - t;
    t = now_s();
    sp_snapshot_t *fsnap;
    if (sp_state_frozen_snapshot(fz, &fsnap, &e) != SPATE_OK) {
        snprintf(err, errcap, "frozen snapshot: %s", e.message);
        return -1;
    }
    o->frozen_s = now_s() - t;
    sp_snapshot_destroy(fsnap);
    sp_state_frozen_release(fz);

    /* the async part on its own thread; this one goes on updating the state meanwhile */
    sp_ckpt_storage_t *st = sp_ckpt_local_storage_create();
    char *path = sp_xasprintf("%s/spate-bench-snapshot-%d", a->dir, (int)getpid());
    writer_t w = { .snap = snap, .st = st, .path = path };
    pthread_t th;
    pthread_create(&th, NULL, write_async, &w);
    uint64_t updates = 0, x = 12345;
    while (!atomic_load(&w.done)) {
        for (int n = 0; n < 1024; n++, updates++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            key_of((x >> 16) % a->keys, k);
            size_t len;
            uint8_t *v = sp_state_get_mut(be, id, sp_key_group(k, 8, MAXP), k, 8, NULL, 0, &len);
            if (v) v[0]++;
        }
    }
    pthread_join(th, NULL);
    if (w.rc != SPATE_OK) {
        snprintf(err, errcap, "write: %s", w.err.message);
        return -1;
    }
    o->async_s = w.secs;
    o->updates_during_async = (double)updates;
    o->bytes = sp_snapshot_size(snap);

    t = now_s();
    uint8_t *mem;
    size_t mlen;
    if (sp_snapshot_encode(snap, &mem, &mlen, &e) != SPATE_OK) {
        snprintf(err, errcap, "encode: %s", e.message);
        return -1;
    }
    o->encode_s = now_s() - t;
    free(mem);
    sp_snapshot_destroy(snap);

    t = now_s();
    uint8_t *data;
    size_t len;
    if (sp_ckpt_storage_read(st, path, SIZE_MAX, &data, &len, &e) != SPATE_OK) {
        snprintf(err, errcap, "read: %s", e.message);
        return -1;
    }
    o->read_s = now_s() - t;
    sp_ckpt_storage_remove(st, path, &e);

    t = now_s();
    c = cpu_s();
    sp_state_backend_t *to = sp_heap_backend_create();
    if (sp_state_restore(to, data, len, 0, MAXP - 1, &e) != SPATE_OK) {
        snprintf(err, errcap, "restore: %s", e.message);
        return -1;
    }
    o->restore_s = now_s() - t;
    o->restore_cpu_s = cpu_s() - c;
    if (sp_state_count(to) != a->keys) {
        snprintf(err, errcap, "restored %zu entries of %" PRIu64, sp_state_count(to), a->keys);
        return -1;
    }
    free(data);
    free(path);
    sp_ckpt_storage_destroy(st);
    sp_state_backend_destroy(to);
    sp_state_backend_destroy(be);
    return 0;
}

int main(int argc, char **argv)
{
    uint64_t sizes[8] = { 1000000, 10000000 };
    int nsizes = 2;
    const char *dir = "/tmp";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--keys") == 0 && i + 1 < argc) {
            nsizes = 0;
            for (char *p = argv[++i]; *p && nsizes < 8;) {
                sizes[nsizes++] = strtoull(p, &p, 10);
                if (*p == ',') p++;
            }
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else {
            fprintf(stderr, "usage: state_snapshot [--keys N[,N...]] [--dir DIR]\n");
            return 2;
        }
    }
    char cpu[256];
    bench_cpu_model(cpu, sizeof cpu);
    printf("Keyed state snapshot, heap backend: N keys x one 8-byte value state, %d key groups (%s)\n", MAXP,
           cpu);
    printf("%11s %8s %15s %8s %8s %9s %12s %9s %8s %15s %8s %8s\n", "keys", "fill s", "sync s", "freeze s",
           "frozen s", "async s", "updates/s", "encode s", "read s", "restore s", "MB", "max RSS");
    printf("%11s %8s %15s %8s %8s %9s %12s %9s %8s %15s %8s %8s\n", "", "", "wall (cpu)", "", "", "(file)",
           "during async", "", "", "wall (cpu)", "written", "MB");
    int status = 0;
    for (int s = 0; s < nsizes; s++) {
        arg_t a = { sizes[s], dir };
        out_t o = { 0 };
        bench_result_t r;
        if (bench_run_forked(body, &a, &o, sizeof o, &r) != 0) {
            fprintf(stderr, "state_snapshot: %" PRIu64 " keys: %s\n", sizes[s], r.err);
            status = 1;
            continue;
        }
        printf("%11" PRIu64
               " %8.3f %7.3f (%5.3f) %8.3f %8.3f %9.3f %12.3g %9.3f %8.3f %7.3f (%5.3f) %8.1f %8.0f\n",
               sizes[s], o.fill_s, o.sync_s, o.sync_cpu_s, o.freeze_s, o.frozen_s, o.async_s,
               o.async_s > 0 ? o.updates_during_async / o.async_s : 0, o.encode_s, o.read_s, o.restore_s,
               o.restore_cpu_s, (double)o.bytes / 1e6, (double)r.maxrss_kb / 1024);
    }
    return status;
}
