/*
 * test_state_snapshot.c — key-grouped snapshots of keyed state and timers
 * (src/state/snapshot.h): round trips with several states and namespaces,
 * restore by key-group range at another parallelism (1 → 3, 2 → 1, 2 → 4:
 * the union is the original and no entry lands twice), timers in firing
 * order, TTL'd values as bytes, the sync part's independence from the
 * backend, frozen views (the short sync part: what the task does after the
 * freeze never reaches the snapshot, also while another thread encodes it
 * and after the backend is gone), writing into checkpoint storage, and
 * malformed input (every
 * truncation, every flipped byte, bad index, duplicates) rejected with the
 * backend or service left as it was.
 */
#include "test_main.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint/storage.h"
#include "runtime/runtime.h"
#include "state/backend.h"
#include "state/heap_map.h"
#include "state/snapshot.h"
#include "state/timers.h"
#include "test_util.h"

#define MAXP 128

/* ---- a deterministic model of keyed state ---- */

static void key_of(int64_t i, uint8_t k[8])
{
    uint64_t u = (uint64_t)i ^ 0x8000000000000000ull; /* the BIGINT key encoding */
    for (int b = 0; b < 8; b++) k[b] = (uint8_t)(u >> (56 - 8 * b));
}

static int kg_of(int64_t i)
{
    uint8_t k[8];
    key_of(i, k);
    return sp_key_group(k, 8, MAXP);
}

typedef void (*entry_fn)(void *ctx, const char *state, int kg, const uint8_t *key, size_t klen,
                         const uint8_t *ns, size_t nslen, const uint8_t *v, size_t vlen);

/* The entries of key i: "count" (8 bytes), for some keys "list" (0..16 bytes), "win" in two
 * windows (16-byte namespaces), and a TTL'd "ttl" value ([int64 last access][value]). */
static void entries_of(int64_t i, int64_t gen, entry_fn fn, void *ctx)
{
    uint8_t k[8], v[32], ns[16];
    key_of(i, k);
    int kg = sp_key_group(k, 8, MAXP);
    int64_t c = i * 3 + gen;
    memcpy(v, &c, 8);
    fn(ctx, "count", kg, k, 8, NULL, 0, v, 8);
    if (i % 3 == 0) {
        size_t n = (size_t)(i % 17);
        for (size_t b = 0; b < n; b++) v[b] = (uint8_t)(i + (int64_t)b + gen);
        fn(ctx, "list", kg, k, 8, NULL, 0, v, n);
    }
    if (i % 2 == 0) {
        for (int64_t w = 0; w < 2; w++) {
            int64_t start = w * 10, end = start + 10, val = i * 100 + w + gen;
            memcpy(ns, &start, 8);
            memcpy(ns + 8, &end, 8);
            memcpy(v, &val, 8);
            fn(ctx, "win", kg, k, 8, ns, 16, v, 8);
        }
    }
    if (i % 5 == 0) {
        int64_t access = 1700000000000 + i, val = -i - gen;
        memcpy(v, &access, 8);
        memcpy(v + 8, &val, 8);
        fn(ctx, "ttl", kg, k, 8, NULL, 0, v, 16);
    }
}

static void put_fn(void *ctx, const char *state, int kg, const uint8_t *key, size_t klen, const uint8_t *ns,
                   size_t nslen, const uint8_t *v, size_t vlen)
{
    sp_state_backend_t *be = ctx;
    sp_state_put(be, sp_state_id(be, state), kg, key, klen, ns, nslen, v, vlen);
}

/* A backend with the entries of keys [0, n) whose key group is in [first, last] (generation gen). */
static sp_state_backend_t *filled(int64_t n, int first, int last, int64_t gen)
{
    sp_state_backend_t *be = sp_heap_backend_create();
    for (int64_t i = 0; i < n; i++)
        if (kg_of(i) >= first && kg_of(i) <= last) entries_of(i, gen, put_fn, be);
    return be;
}

typedef struct check {
    sp_state_backend_t *be;
    size_t expected;
} check_t;

static void check_fn(void *ctx, const char *state, int kg, const uint8_t *key, size_t klen, const uint8_t *ns,
                     size_t nslen, const uint8_t *v, size_t vlen)
{
    check_t *c = ctx;
    size_t len;
    const uint8_t *got = sp_state_get(c->be, sp_state_id(c->be, state), kg, key, klen, ns, nslen, &len);
    assert_non_null(got);
    assert_int_equal(len, vlen);
    if (vlen) assert_memory_equal(got, v, vlen);
    c->expected++;
}

static void kg_fn(void *ctx, int key_group, const uint8_t *key, size_t klen)
{
    int *bad = ctx;
    if (key_group != sp_key_group(key, klen, MAXP)) (*bad)++;
}

/* be holds exactly the entries (generation gen) of keys [0, n) in key groups [first, last], each
 * with its key group. */
static void assert_holds(sp_state_backend_t *be, int64_t n, int first, int last, int64_t gen)
{
    check_t c = { be, 0 };
    for (int64_t i = 0; i < n; i++)
        if (kg_of(i) >= first && kg_of(i) <= last) entries_of(i, gen, check_fn, &c);
    assert_int_equal(sp_state_count(be), c.expected);
    int bad = 0;
    sp_state_keys(be, sp_state_id(be, "count"), NULL, 0, kg_fn, &bad);
    assert_int_equal(bad, 0);
}

/* The encoding of a snapshot of be over [first, last] (asserts success). */
static uint8_t *snapshot_bytes(sp_state_backend_t *be, int first, int last, size_t *len)
{
    sp_error_t err = { 0 };
    sp_snapshot_t *s = NULL;
    assert_int_equal(sp_state_snapshot(be, first, last, &s, &err), SPATE_OK);
    uint8_t *b;
    assert_int_equal(sp_snapshot_encode(s, &b, len, &err), SPATE_OK);
    assert_int_equal(*len, sp_snapshot_size(s));
    sp_snapshot_destroy(s);
    return b;
}

static void restore_ok(sp_state_backend_t *be, const uint8_t *b, size_t len, int first, int last)
{
    sp_error_t err = { 0 };
    int rc = sp_state_restore(be, b, len, first, last, &err);
    if (rc) fail_msg("restore: %s", err.message);
}

/* ---- keyed state ---- */

static void key_group_ranges_are_flinks(void **state)
{
    (void)state;
    int f, l;
    sp_key_group_range(0, 3, 128, &f, &l);
    assert_true(f == 0 && l == 42);
    sp_key_group_range(1, 3, 128, &f, &l);
    assert_true(f == 43 && l == 85);
    sp_key_group_range(2, 3, 128, &f, &l);
    assert_true(f == 86 && l == 127);
    sp_key_group_range(0, 1, 32768, &f, &l);
    assert_true(f == 0 && l == 32767);
    const int maxps[] = { 1, 2, 7, 128, 1000, 32768 };
    for (size_t mi = 0; mi < SP_ARRAY_LEN(maxps); mi++) {
        int m = maxps[mi];
        for (int p = 1; p <= m && p <= 40; p++) {
            int next = 0;
            for (int i = 0; i < p; i++) {
                sp_key_group_range(i, p, m, &f, &l);
                assert_int_equal(f, next); /* contiguous, covering, in subtask order */
                assert_true(f <= l);
                assert_int_equal(sp_key_group_owner(f, p, m), i);
                assert_int_equal(sp_key_group_owner(l, p, m), i);
                next = l + 1;
            }
            assert_int_equal(next, m);
        }
    }
}

static void keyed_round_trip_with_states_and_namespaces(void **state)
{
    (void)state;
    sp_state_backend_t *be = filled(3000, 0, MAXP - 1, 0);
    size_t len;
    uint8_t *b = snapshot_bytes(be, 0, MAXP - 1, &len);
    /* the restoring backend knows other states first: names map to its own ids */
    sp_state_backend_t *to = sp_heap_backend_create();
    sp_state_id(to, "other");
    sp_state_id(to, "win");
    restore_ok(to, b, len, 0, MAXP - 1);
    assert_int_equal(sp_state_count(to), sp_state_count(be));
    assert_holds(to, 3000, 0, MAXP - 1, 0);
    assert_int_equal(sp_state_id(to, "win"), 1);
    /* a second snapshot of the restored backend holds the same entries */
    size_t len2;
    uint8_t *b2 = snapshot_bytes(to, 0, MAXP - 1, &len2);
    assert_int_equal(len2, len + 4 + strlen("other"));
    sp_state_backend_t *again = sp_heap_backend_create();
    restore_ok(again, b2, len2, 0, MAXP - 1);
    assert_holds(again, 3000, 0, MAXP - 1, 0);
    free(b);
    free(b2);
    sp_state_backend_destroy(be);
    sp_state_backend_destroy(to);
    sp_state_backend_destroy(again);
}

static void ttl_values_survive_as_bytes(void **state)
{
    (void)state;
    sp_state_backend_t *be = sp_heap_backend_create();
    int ttl = sp_state_id(be, "ttl");
    uint8_t k[8], v[24];
    key_of(42, k);
    int64_t access = 1234567, val = 99;
    memcpy(v, &access, 8);
    memcpy(v + 8, &val, 8);
    memcpy(v + 16, "tail1234", 8);
    sp_state_put(be, ttl, kg_of(42), k, 8, NULL, 0, v, 24);
    sp_state_put(be, ttl, kg_of(42), k, 8, (const uint8_t *)"n", 1, NULL, 0); /* an empty value */
    size_t len;
    uint8_t *b = snapshot_bytes(be, 0, MAXP - 1, &len);
    sp_state_backend_t *to = sp_heap_backend_create();
    restore_ok(to, b, len, 0, MAXP - 1);
    size_t n;
    const uint8_t *got = sp_state_get(to, sp_state_id(to, "ttl"), kg_of(42), k, 8, NULL, 0, &n);
    assert_non_null(got);
    assert_int_equal(n, 24);
    assert_memory_equal(got, v, 24);
    got = sp_state_get(to, sp_state_id(to, "ttl"), kg_of(42), k, 8, (const uint8_t *)"n", 1, &n);
    assert_non_null(got);
    assert_int_equal(n, 0);
    free(b);
    sp_state_backend_destroy(be);
    sp_state_backend_destroy(to);
}

/* n old instances (Flink's ranges of MAXP among n), each snapshotted; m new instances, each
 * restoring every old snapshot whose range meets its own; checks each holds exactly its range. */
static void rescale(int64_t keys, int n, int m)
{
    uint8_t **old = calloc((size_t)n, sizeof *old);
    size_t *len = calloc((size_t)n, sizeof *len);
    int *of = calloc((size_t)n, sizeof *of), *ol = calloc((size_t)n, sizeof *ol);
    for (int i = 0; i < n; i++) {
        sp_key_group_range(i, n, MAXP, &of[i], &ol[i]);
        sp_state_backend_t *be = filled(keys, of[i], ol[i], 0);
        old[i] = snapshot_bytes(be, of[i], ol[i], &len[i]);
        sp_state_backend_destroy(be);
    }
    size_t total = 0;
    for (int j = 0; j < m; j++) {
        int f, l;
        sp_key_group_range(j, m, MAXP, &f, &l);
        sp_state_backend_t *be = sp_heap_backend_create();
        for (int i = 0; i < n; i++)
            if (of[i] <= l && ol[i] >= f) restore_ok(be, old[i], len[i], f, l);
        assert_holds(be, keys, f, l, 0); /* exactly its own key groups: none twice across instances */
        total += sp_state_count(be);
        sp_state_backend_destroy(be);
    }
    sp_state_backend_t *all = filled(keys, 0, MAXP - 1, 0);
    assert_int_equal(total, sp_state_count(all)); /* the union is the original */
    sp_state_backend_destroy(all);
    for (int i = 0; i < n; i++) free(old[i]);
    free(old);
    free(len);
    free(of);
    free(ol);
}

static void keyed_restore_one_to_three(void **state)
{
    (void)state;
    rescale(5000, 1, 3);
}

static void keyed_restore_two_to_one_and_two_to_four(void **state)
{
    (void)state;
    rescale(5000, 2, 1);
    rescale(5000, 2, 4);
    rescale(2000, 3, 2);
    rescale(2000, 4, 4);
}

static void restore_outside_the_snapshot_range_is_nothing(void **state)
{
    (void)state;
    sp_state_backend_t *be = filled(500, 0, 63, 0);
    size_t len;
    uint8_t *b = snapshot_bytes(be, 0, 63, &len);
    sp_state_backend_t *to = sp_heap_backend_create();
    restore_ok(to, b, len, 64, 127);
    assert_int_equal(sp_state_count(to), 0);
    restore_ok(to, b, len, 60, 100); /* the overlap [60, 63] only */
    assert_holds(to, 500, 60, 63, 0);
    sp_error_t err = { 0 };
    assert_int_equal(sp_state_restore(to, b, len, 5, 4, &err), SPATE_EINVAL);
    free(b);
    /* an empty backend, and a one-group range */
    sp_state_backend_t *empty = sp_heap_backend_create();
    b = snapshot_bytes(empty, 7, 7, &len);
    restore_ok(to, b, len, 0, 127);
    free(b);
    sp_state_backend_destroy(empty);
    sp_state_backend_destroy(be);
    sp_state_backend_destroy(to);
}

static void entries_outside_the_range_are_refused(void **state)
{
    (void)state;
    sp_state_backend_t *be = filled(500, 0, MAXP - 1, 0);
    sp_error_t err = { 0 };
    sp_snapshot_t *s = NULL;
    assert_int_equal(sp_state_snapshot(be, 0, 10, &s, &err), SPATE_EINVAL);
    assert_null(s);
    assert_non_null(strstr(err.message, "key group"));
    sp_error_t err2 = { 0 };
    assert_int_equal(sp_state_snapshot(be, 0, SP_SNAPSHOT_MAX_KEY_GROUPS, &s, &err2), SPATE_EINVAL);
    sp_state_backend_destroy(be);
}

static void sync_part_leaves_the_backend_independent(void **state)
{
    (void)state;
    sp_state_backend_t *be = filled(2000, 0, MAXP - 1, 0);
    sp_error_t err = { 0 };
    sp_snapshot_t *s = NULL;
    assert_int_equal(sp_state_snapshot(be, 0, MAXP - 1, &s, &err), SPATE_OK);
    /* the task goes on: new values for every key, removals, new keys, in-place updates */
    for (int64_t i = 0; i < 2000; i++) entries_of(i, 1, put_fn, be);
    uint8_t k[8];
    for (int64_t i = 0; i < 2000; i += 7) {
        key_of(i, k);
        sp_state_remove(be, sp_state_id(be, "count"), kg_of(i), k, 8, NULL, 0);
    }
    for (int64_t i = 2000; i < 4000; i++) entries_of(i, 1, put_fn, be);
    key_of(3, k);
    size_t n;
    uint8_t *mut = sp_state_get_mut(be, sp_state_id(be, "count"), kg_of(3), k, 8, NULL, 0, &n);
    memset(mut, 0xEE, n);
    sp_state_id(be, "late state");
    /* ... and only then the async part runs */
    uint8_t *b;
    size_t len;
    assert_int_equal(sp_snapshot_encode(s, &b, &len, &err), SPATE_OK);
    sp_snapshot_destroy(s);
    sp_state_backend_t *to = sp_heap_backend_create();
    restore_ok(to, b, len, 0, MAXP - 1);
    assert_holds(to, 2000, 0, MAXP - 1, 0); /* the old values, and only them */
    free(b);
    sp_state_backend_destroy(be);
    sp_state_backend_destroy(to);
}

/* ---- frozen views: the checkpoint's sync part, encoded later ---- */

static bool drop_every_third(void *ctx, int state, const uint8_t *value, size_t len)
{
    (void)state;
    (void)value;
    (void)len;
    return ++*(int *)ctx % 3 == 0;
}

/* What a task does after a barrier: every key rewritten (other lengths for "list"), keys removed,
 * new keys (enough to grow the table), values changed in place through both mutable getters,
 * a cleanup scan removing entries, a new state. */
static void churn(sp_state_backend_t *be, int64_t n, int64_t gen)
{
    for (int64_t i = 0; i < n; i++) entries_of(i, gen, put_fn, be);
    uint8_t k[8];
    int count = sp_state_id(be, "count"), list = sp_state_id(be, "list");
    for (int64_t i = 0; i < n; i += 7) {
        key_of(i, k);
        sp_state_remove(be, count, kg_of(i), k, 8, NULL, 0);
    }
    for (int64_t i = 0; i < n; i += 3) { /* 0..16 bytes before: now 40 */
        key_of(i, k);
        uint8_t big[40];
        memset(big, (int)gen, sizeof big);
        sp_state_put(be, list, kg_of(i), k, 8, NULL, 0, big, sizeof big);
    }
    for (int64_t i = n; i < 4 * n; i++) entries_of(i, gen, put_fn, be);
    size_t len;
    for (int64_t i = 1; i < n; i += 7) {
        key_of(i, k);
        uint8_t *v = sp_state_get_mut(be, count, kg_of(i), k, 8, NULL, 0, &len);
        assert_non_null(v);
        memset(v, 0xEE, len);
        uint64_t h = sp_hash_bytes(k, 8);
        v = sp_state_get_mut_at(be, count, kg_of(i), k, 8, NULL, 0, sp_state_locate(be, count, h, NULL, 0),
                                &len);
        assert_non_null(v);
        v[0] = 0xDD;
    }
    size_t cursor = 0;
    int seen = 0;
    sp_state_scan(be, &cursor, (size_t)n, drop_every_third, &seen);
    sp_state_id(be, "late state");
}

/* The encoding of a frozen view (asserts success; f is released). */
static uint8_t *frozen_bytes(sp_state_frozen_t *f, size_t *len)
{
    sp_error_t err = { 0 };
    sp_snapshot_t *s = NULL;
    assert_int_equal(sp_state_frozen_snapshot(f, &s, &err), SPATE_OK);
    assert_int_equal(sp_state_frozen_snapshot(f, &s, &err), SPATE_EINVAL); /* once */
    sp_state_frozen_release(f);
    uint8_t *b;
    assert_int_equal(sp_snapshot_encode(s, &b, len, &err), SPATE_OK);
    sp_snapshot_destroy(s);
    return b;
}

static sp_state_frozen_t *freeze_ok(sp_state_backend_t *be)
{
    sp_error_t err = { 0 };
    sp_state_frozen_t *f = NULL;
    assert_int_equal(sp_state_freeze(be, 0, MAXP - 1, &f, &err), SPATE_OK);
    assert_non_null(f);
    return f;
}

static void frozen_view_keeps_the_state_of_the_barrier(void **state)
{
    (void)state;
    sp_state_backend_t *be = filled(2000, 0, MAXP - 1, 0);
    size_t slen;
    uint8_t *sync = snapshot_bytes(be, 0, MAXP - 1, &slen);
    sp_state_frozen_t *f = freeze_ok(be);
    churn(be, 2000, 1);
    size_t len;
    uint8_t *b = frozen_bytes(f, &len);
    assert_int_equal(len, slen); /* the very bytes the sync snapshot made at the barrier */
    assert_memory_equal(b, sync, len);
    sp_state_backend_t *to = sp_heap_backend_create();
    restore_ok(to, b, len, 0, MAXP - 1);
    assert_holds(to, 2000, 0, MAXP - 1, 0); /* the old values, and only them */
    /* the live backend has the new ones: a second view holds them */
    size_t n1 = sp_state_count(be);
    size_t len2;
    uint8_t *b2 = frozen_bytes(freeze_ok(be), &len2);
    sp_state_backend_t *to2 = sp_heap_backend_create();
    restore_ok(to2, b2, len2, 0, MAXP - 1);
    assert_int_equal(sp_state_count(to2), n1);
    uint8_t k[8];
    key_of(1, k);
    size_t vl;
    const uint8_t *v = sp_state_get(to2, sp_state_id(to2, "count"), kg_of(1), k, 8, NULL, 0, &vl);
    assert_non_null(v);
    assert_int_equal(v[0], 0xDD);
    free(sync);
    free(b);
    free(b2);
    sp_state_backend_destroy(be);
    sp_state_backend_destroy(to);
    sp_state_backend_destroy(to2);
}

typedef struct encoder {
    sp_state_frozen_t *f;
    uint8_t *bytes;
    size_t len;
    atomic_int done;
} encoder_t;

static void *encode_thread(void *arg)
{
    encoder_t *e = arg;
    sp_error_t err = { 0 };
    sp_snapshot_t *s = NULL;
    if (sp_state_frozen_snapshot(e->f, &s, &err) == SPATE_OK) sp_snapshot_encode(s, &e->bytes, &e->len, &err);
    sp_snapshot_destroy(s);
    sp_state_frozen_release(e->f);
    atomic_store(&e->done, 1);
    return NULL;
}

static void frozen_view_encoded_while_the_task_goes_on(void **state)
{
    (void)state;
    sp_state_backend_t *be = filled(3000, 0, MAXP - 1, 0);
    encoder_t e = { .f = freeze_ok(be) };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, encode_thread, &e), 0);
    int64_t gen = 1;
    do /* the task thread changes every entry, over and over, while the other one encodes */
        churn(be, 3000, gen++);
    while (!atomic_load(&e.done) && gen < 50);
    pthread_join(th, NULL);
    assert_non_null(e.bytes);
    sp_state_backend_t *to = sp_heap_backend_create();
    restore_ok(to, e.bytes, e.len, 0, MAXP - 1);
    assert_holds(to, 3000, 0, MAXP - 1, 0);
    /* the view was let go: the next freeze takes a view again, and writes go in place */
    churn(be, 3000, gen);
    size_t len;
    free(frozen_bytes(freeze_ok(be), &len));
    free(e.bytes);
    sp_state_backend_destroy(be);
    sp_state_backend_destroy(to);
}

static void frozen_view_outlives_the_backend(void **state)
{
    (void)state;
    sp_state_backend_t *be = filled(1500, 0, MAXP - 1, 0);
    sp_state_frozen_t *f = freeze_ok(be);
    churn(be, 1500, 1);
    sp_state_backend_destroy(be); /* a task closed while its checkpoint was still being written */
    size_t len;
    uint8_t *b = frozen_bytes(f, &len);
    sp_state_backend_t *to = sp_heap_backend_create();
    restore_ok(to, b, len, 0, MAXP - 1);
    assert_holds(to, 1500, 0, MAXP - 1, 0);
    free(b);
    sp_state_backend_destroy(to);
    /* and one released unencoded (a checkpoint aborted) frees everything too (ASan: no leak) */
    be = filled(500, 0, MAXP - 1, 0);
    f = freeze_ok(be);
    churn(be, 500, 1);
    sp_state_frozen_release(f);
    churn(be, 500, 2);
    sp_state_backend_destroy(be);
}

static void freeze_while_a_view_is_read_copies_at_once(void **state)
{
    (void)state;
    sp_state_backend_t *be = filled(1000, 0, MAXP - 1, 0);
    sp_state_frozen_t *first = freeze_ok(be);
    churn(be, 1000, 1);
    size_t slen;
    uint8_t *sync = snapshot_bytes(be, 0, MAXP - 1, &slen);
    sp_state_frozen_t *second = freeze_ok(be); /* the first view is still unread */
    churn(be, 1000, 2);
    size_t len1, len2;
    uint8_t *b2 = frozen_bytes(second, &len2);
    assert_int_equal(len2, slen); /* the state at the second freeze */
    assert_memory_equal(b2, sync, slen);
    uint8_t *b1 = frozen_bytes(first, &len1);
    sp_state_backend_t *to = sp_heap_backend_create();
    restore_ok(to, b1, len1, 0, MAXP - 1);
    assert_holds(to, 1000, 0, MAXP - 1, 0);
    free(sync);
    free(b1);
    free(b2);
    sp_state_backend_destroy(be);
    sp_state_backend_destroy(to);
}

static void restored_entries_carved_from_one_block(void **state)
{
    (void)state;
    sp_state_backend_t *be = filled(2000, 0, MAXP - 1, 0);
    size_t len;
    uint8_t *b = snapshot_bytes(be, 0, MAXP - 1, &len);
    sp_state_backend_t *to = sp_heap_backend_create();
    restore_ok(to, b, len, 0, MAXP - 1);
    assert_holds(to, 2000, 0, MAXP - 1, 0);
    /* a view of the restored state while the task replaces, grows, removes and adds entries */
    size_t tlen;
    uint8_t *tb = snapshot_bytes(to, 0, MAXP - 1, &tlen);
    sp_state_frozen_t *f = freeze_ok(to);
    churn(to, 2000, 1);
    size_t flen;
    uint8_t *fb = frozen_bytes(f, &flen);
    assert_int_equal(flen, tlen);
    assert_memory_equal(fb, tb, tlen);
    free(tb);
    /* carved entries changed in place, grown out of the block, removed, with no view alive */
    churn(to, 2000, 2);
    for (int64_t i = 0; i < 8000; i++) entries_of(i, 3, put_fn, to);
    sp_state_backend_t *again = sp_heap_backend_create();
    size_t len3;
    uint8_t *b3 = snapshot_bytes(to, 0, MAXP - 1, &len3);
    restore_ok(again, b3, len3, 0, MAXP - 1);
    assert_int_equal(sp_state_count(again), sp_state_count(to));
    /* a backend destroyed while a view pins its carved block: the view still reads it */
    size_t alen;
    uint8_t *ab = snapshot_bytes(again, 0, MAXP - 1, &alen);
    sp_state_frozen_t *g = freeze_ok(again);
    churn(again, 2000, 4);
    sp_state_backend_destroy(again);
    size_t glen;
    uint8_t *gb = frozen_bytes(g, &glen);
    assert_int_equal(glen, alen);
    assert_memory_equal(gb, ab, alen);
    free(ab);
    /* a failed restore takes its carved entries back */
    sp_state_backend_t *dup = sp_heap_backend_create();
    restore_ok(dup, b, len, 0, MAXP - 1);
    sp_error_t err = { 0 };
    assert_int_equal(sp_state_restore(dup, b, len, 0, MAXP - 1, &err), SPATE_EPARSE);
    assert_holds(dup, 2000, 0, MAXP - 1, 0);
    free(b);
    free(fb);
    free(b3);
    free(gb);
    sp_state_backend_destroy(be);
    sp_state_backend_destroy(to);
    sp_state_backend_destroy(dup);
}

static void frozen_entries_outside_the_range_fail_when_encoded(void **state)
{
    (void)state;
    sp_state_backend_t *be = filled(200, 0, MAXP - 1, 0);
    sp_error_t err = { 0 };
    sp_state_frozen_t *f = NULL;
    assert_int_equal(sp_state_freeze(be, 0, 63, &f, &err), SPATE_OK);
    sp_snapshot_t *s = NULL;
    assert_int_equal(sp_state_frozen_snapshot(f, &s, &err), SPATE_EINVAL);
    assert_null(s);
    assert_non_null(strstr(err.message, "key groups [0, 63]"));
    sp_state_frozen_release(f);
    sp_state_backend_destroy(be);
}

static int write_fail_second(void *ctx, const void *p, size_t n, sp_error_t *err)
{
    (void)p;
    (void)n;
    int *calls = ctx;
    return ++*calls == 2 ? sp_error_set(err, SPATE_EIO, "write failed") : SPATE_OK;
}

static void snapshot_written_into_checkpoint_storage(void **state)
{
    const char *dir = *state;
    sp_state_backend_t *be = filled(3000, 0, MAXP - 1, 0);
    sp_error_t err = { 0 };
    sp_snapshot_t *s = NULL;
    assert_int_equal(sp_state_snapshot(be, 0, MAXP - 1, &s, &err), SPATE_OK);
    sp_ckpt_storage_t *st = sp_ckpt_local_storage_create();
    char *path = sp_xasprintf("%s/op-0-keyed", dir);
    sp_ckpt_file_t *f;
    assert_int_equal(sp_ckpt_file_open(st, path, &f, &err), SPATE_OK);
    assert_int_equal(sp_snapshot_write_file(s, st, f, &err), SPATE_OK);
    assert_int_equal(sp_ckpt_file_sync(st, f, &err), SPATE_OK);
    assert_int_equal(sp_ckpt_file_close(st, f, &err), SPATE_OK);
    uint8_t *data;
    size_t len;
    assert_int_equal(sp_ckpt_storage_read(st, path, (size_t)1 << 30, &data, &len, &err), SPATE_OK);
    assert_int_equal(len, sp_snapshot_size(s));
    sp_state_backend_t *to = sp_heap_backend_create();
    restore_ok(to, data, len, 0, MAXP - 1);
    assert_holds(to, 3000, 0, MAXP - 1, 0);
    /* a failing write is reported as it came */
    int calls = 0;
    sp_error_t err2 = { 0 };
    assert_int_equal(sp_snapshot_write(s, write_fail_second, &calls, &err2), SPATE_EIO);
    assert_string_equal(err2.message, "write failed");
    free(data);
    free(path);
    sp_snapshot_destroy(s);
    sp_ckpt_storage_destroy(st);
    sp_state_backend_destroy(be);
    sp_state_backend_destroy(to);
}

/* ---- malformed input ---- */

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Offset of the key-group index of an encoding. */
static size_t index_at(const uint8_t *b)
{
    size_t at = 36;
    for (uint32_t i = 0, n = get32(b + 32); i < n; i++) at += 4 + get32(b + at);
    return at;
}

/* Recomputes the header checksum (after a test changed the header on purpose). */
static void reseal(uint8_t *b)
{
    size_t end = index_at(b) + 24 * (size_t)(get32(b + 12) - get32(b + 8) + 1);
    sp_snapshot_put_u64(b + end, sp_hash_bytes(b, end));
}

/* Restoring (len bytes of) b fails with SPATE_EPARSE and a message containing `what` (if not
 * NULL), and leaves be's count at what it was. */
static void assert_rejected(sp_state_backend_t *be, const uint8_t *b, size_t len, const char *what)
{
    size_t before = sp_state_count(be);
    sp_error_t err = { 0 };
    int rc = sp_state_restore(be, b, len, 0, MAXP - 1, &err);
    if (rc != SPATE_EPARSE) fail_msg("expected SPATE_EPARSE, got %d (len %zu)", rc, len);
    assert_int_equal(err.code, SPATE_EPARSE);
    if (what && !strstr(err.message, what)) fail_msg("message '%s' lacks '%s'", err.message, what);
    assert_int_equal(sp_state_count(be), before);
}

static void truncated_and_flipped_snapshots_are_rejected(void **state)
{
    (void)state;
    sp_state_backend_t *be = filled(40, 0, MAXP - 1, 0);
    size_t len;
    uint8_t *b = snapshot_bytes(be, 0, MAXP - 1, &len);
    sp_state_backend_t *to = sp_heap_backend_create();
    for (size_t n = 0; n < len; n++) assert_rejected(to, b, n, NULL);
    assert_rejected(to, b, 20, "shorter than");
    assert_rejected(to, b, len - 1, "truncated");
    assert_rejected(to, NULL, 0, NULL);
    uint8_t *c = malloc(len + 1);
    memcpy(c, b, len);
    c[len] = 0;
    assert_rejected(to, c, len + 1, "bytes given");
    for (size_t i = 0; i < len; i++) { /* any one byte changed */
        memcpy(c, b, len);
        c[i] ^= 0x20;
        assert_rejected(to, c, len, NULL);
    }
    memcpy(c, b, len);
    c[0] = 'X';
    assert_rejected(to, c, len, "bad magic");
    memcpy(c, b, len);
    c[4] = 2;
    assert_rejected(to, c, len, "version 2");
    memcpy(c, b, len);
    c[5] = SP_SNAPSHOT_TIMERS;
    assert_rejected(to, c, len, "holds timers");
    memcpy(c, b, len);
    c[len - 1] ^= 1; /* in the last non-empty block */
    assert_rejected(to, c, len, "checksum mismatch in the block");
    assert_int_equal(sp_state_count(to), 0);
    free(c);
    free(b);
    sp_state_backend_destroy(be);
    sp_state_backend_destroy(to);
}

static void bad_index_is_rejected(void **state)
{
    (void)state;
    sp_state_backend_t *be = filled(300, 0, MAXP - 1, 0);
    size_t len;
    uint8_t *b = snapshot_bytes(be, 0, MAXP - 1, &len);
    uint8_t *c = malloc(len);
    size_t idx = index_at(b);
    sp_state_backend_t *to = sp_heap_backend_create();
    /* the first block not right after the header */
    memcpy(c, b, len);
    sp_snapshot_put_u64(c + idx, get64(b + idx) + 1);
    reseal(c);
    assert_rejected(to, c, len, "not right after the header");
    /* offsets going back */
    memcpy(c, b, len);
    sp_snapshot_put_u64(c + idx + 24 * 5, get64(b + idx + 24 * 4) - 1);
    reseal(c);
    assert_rejected(to, c, len, "out of order or out of bounds");
    /* an offset past the end */
    memcpy(c, b, len);
    sp_snapshot_put_u64(c + idx + 24 * 127, len + 5);
    reseal(c);
    assert_rejected(to, c, len, "out of order or out of bounds");
    /* a count that cannot fit */
    memcpy(c, b, len);
    sp_snapshot_put_u64(c + idx + 24 * 3 + 8, (uint64_t)1 << 40);
    reseal(c);
    assert_rejected(to, c, len, "cannot fit");
    /* counts that do not add up to the header's */
    memcpy(c, b, len);
    sp_snapshot_put_u64(c + 24, get64(b + 24) + 1);
    reseal(c);
    assert_rejected(to, c, len, "entry count");
    /* a block's count one less than its entries: bytes left over (block checksum still good) */
    size_t g = 0;
    while (get64(b + idx + 24 * g + 8) < 2) g++;
    memcpy(c, b, len);
    sp_snapshot_put_u64(c + idx + 24 * g + 8, get64(b + idx + 24 * g + 8) - 1);
    sp_snapshot_put_u64(c + 24, get64(b + 24) - 1);
    reseal(c);
    assert_rejected(to, c, len, "bytes after its");
    /* one more: the block runs out */
    memcpy(c, b, len);
    sp_snapshot_put_u64(c + idx + 24 * g + 8, get64(b + idx + 24 * g + 8) + 1);
    sp_snapshot_put_u64(c + 24, get64(b + 24) + 1);
    reseal(c);
    assert_rejected(to, c, len, "truncated or overlong varint");
    /* a bad key-group range */
    memcpy(c, b, len);
    c[12] = 200; /* last 200 < first? no: last = 200 with 128 index rows: the index no longer fits */
    reseal(c);
    assert_rejected(to, c, len, NULL);
    assert_int_equal(sp_state_count(to), 0);
    free(c);
    free(b);
    sp_state_backend_destroy(be);
    sp_state_backend_destroy(to);
}

/* Encodes one block of key group kg holding the given raw entries (a snapshot built by hand). */
static uint8_t *handmade(const char *const *names, uint32_t nnames, int kg, const uint8_t *entries, size_t n,
                         uint64_t count, size_t *len)
{
    sp_error_t err = { 0 };
    sp_snapshot_t *s;
    assert_int_equal(sp_snapshot_create(SP_SNAPSHOT_KEYED, 0, MAXP - 1, names, nnames, &s, &err), SPATE_OK);
    size_t *bytes = calloc(MAXP, sizeof *bytes);
    bytes[kg] = n;
    assert_int_equal(sp_snapshot_reserve(s, bytes, &err), SPATE_OK);
    free(bytes);
    if (n) memcpy(sp_snapshot_cursor(s, kg), entries, n);
    s->blocks[kg].len = n;
    s->blocks[kg].count = count;
    s->entries = count;
    uint8_t *b;
    assert_int_equal(sp_snapshot_encode(s, &b, len, &err), SPATE_OK);
    sp_snapshot_destroy(s);
    return b;
}

static void duplicates_and_bad_entries_are_rejected(void **state)
{
    (void)state;
    const char *names[] = { "a", "b" };
    /* state 1, key "k1", no namespace, value "v" — twice */
    const uint8_t dup[] = { 1, 2, 0, 1, 'k', '1', 'v', 1, 2, 0, 1, 'k', '1', 'w' };
    size_t len;
    uint8_t *b = handmade(names, 2, 9, dup, sizeof dup, 2, &len);
    sp_state_backend_t *to = sp_heap_backend_create();
    assert_rejected(to, b, len, "there already");
    free(b);
    /* a key the backend holds already (restoring an overlapping snapshot twice) */
    b = handmade(names, 2, 9, dup, 7, 1, &len);
    restore_ok(to, b, len, 0, MAXP - 1);
    assert_int_equal(sp_state_count(to), 1);
    assert_rejected(to, b, len, "there already");
    size_t n;
    const uint8_t *v = sp_state_get(to, sp_state_id(to, "b"), 9, (const uint8_t *)"k1", 2, NULL, 0, &n);
    assert_true(v && n == 1 && v[0] == 'v');
    free(b);
    /* a state index past the name table */
    const uint8_t badstate[] = { 2, 2, 0, 1, 'k', '1', 'v' };
    b = handmade(names, 2, 9, badstate, sizeof badstate, 1, &len);
    assert_rejected(to, b, len, "state index out of range");
    free(b);
    /* a value running past the block */
    const uint8_t longval[] = { 0, 2, 0, 9, 'k', '1', 'v' };
    b = handmade(names, 2, 9, longval, sizeof longval, 1, &len);
    assert_rejected(to, b, len, "runs past the block");
    free(b);
    /* a varint of six bytes */
    const uint8_t overlong[] = { 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0, 0 };
    b = handmade(names, 2, 9, overlong, sizeof overlong, 1, &len);
    assert_rejected(to, b, len, "overlong varint");
    free(b);
    /* a bad entry in a later key group undoes the earlier ones */
    const uint8_t good_then_bad[] = { 0, 2, 0, 1, 'k', '2', 'v' };
    sp_error_t err = { 0 };
    sp_snapshot_t *s;
    assert_int_equal(sp_snapshot_create(SP_SNAPSHOT_KEYED, 0, MAXP - 1, names, 2, &s, &err), SPATE_OK);
    size_t bytes[MAXP] = { 0 };
    bytes[3] = bytes[4] = sizeof good_then_bad;
    assert_int_equal(sp_snapshot_reserve(s, bytes, &err), SPATE_OK);
    memcpy(sp_snapshot_cursor(s, 3), good_then_bad, sizeof good_then_bad);
    memcpy(sp_snapshot_cursor(s, 4), longval, sizeof longval);
    s->blocks[3].len = s->blocks[4].len = sizeof good_then_bad;
    s->blocks[3].count = s->blocks[4].count = 1;
    s->entries = 2;
    assert_int_equal(sp_snapshot_encode(s, &b, &len, &err), SPATE_OK);
    sp_snapshot_destroy(s);
    assert_rejected(to, b, len, "key group 4");
    assert_null(sp_state_get(to, sp_state_id(to, "a"), 3, (const uint8_t *)"k2", 2, NULL, 0, &n));
    restore_ok(to, b, len, 0, 3); /* the good part alone */
    assert_non_null(sp_state_get(to, sp_state_id(to, "a"), 3, (const uint8_t *)"k2", 2, NULL, 0, &n));
    free(b);
    /* names: duplicated, empty */
    const char *twice[] = { "a", "a" };
    b = handmade(twice, 2, 9, NULL, 0, 0, &len);
    assert_rejected(to, b, len, "name appears twice");
    free(b);
    sp_state_backend_destroy(to);
    const char *empty[] = { "" };
    assert_int_equal(sp_snapshot_create(SP_SNAPSHOT_KEYED, 0, 1, empty, 1, &s, &err), SPATE_EINVAL);
}

/* ---- timers ---- */

typedef struct fired {
    int64_t ts[4096];
    int kg[4096];
    char key[4096][16];
    size_t n;
} fired_t;

/* Pops every timer of s into f. */
static void pop_all(sp_timer_service_t *s, fired_t *f)
{
    sp_timer_t t;
    while (sp_timers_pop(s, INT64_MAX, &t)) {
        assert_true(f->n < 4096 && t.klen < 16);
        f->ts[f->n] = t.ts;
        f->kg[f->n] = t.key_group;
        memcpy(f->key[f->n], t.key, t.klen);
        f->key[f->n][t.klen] = 0;
        f->n++;
    }
}

static void reg(sp_timer_service_t *s, int64_t ts, int64_t i, bool unique)
{
    char k[16];
    int n = snprintf(k, sizeof k, "k%lld", (long long)i);
    uint8_t kb[8];
    key_of(i, kb);
    int kg = sp_key_group(kb, 8, MAXP);
    if (unique)
        sp_timers_register_unique(s, ts, kg, (const uint8_t *)k, (size_t)n);
    else
        sp_timers_register(s, ts, kg, (const uint8_t *)k, (size_t)n);
}

/* A service with timers at a few timestamps, some unique, some deleted, one deleted and registered
 * again, and the earliest already popped. */
static void timers_filled(sp_timer_service_t *s)
{
    sp_timers_init(s);
    for (int64_t i = 0; i < 600; i++) reg(s, 100 + (i * 7) % 5 * 10, i, i % 4 == 0);
    reg(s, 100, 5, false); /* a duplicate: kept once */
    for (int64_t i = 1; i < 600; i += 9) {
        if (i % 4 == 0) continue;
        char k[16];
        int n = snprintf(k, sizeof k, "k%lld", (long long)i);
        sp_timers_delete(s, 100 + (i * 7) % 5 * 10, (const uint8_t *)k, (size_t)n);
    }
    reg(s, 100 + (10 * 7) % 5 * 10, 10, false); /* k10 was deleted: registered again, at the end */
    sp_timer_t t;
    for (int i = 0; i < 30; i++) assert_true(sp_timers_pop(s, INT64_MAX, &t));
}

static uint8_t *timer_bytes(sp_timer_service_t *s, int first, int last, size_t *len)
{
    sp_error_t err = { 0 };
    sp_snapshot_t *snap = NULL;
    assert_int_equal(sp_timers_snapshot(s, first, last, &snap, &err), SPATE_OK);
    uint8_t *b;
    assert_int_equal(sp_snapshot_encode(snap, &b, len, &err), SPATE_OK);
    sp_snapshot_destroy(snap);
    return b;
}

static void timers_restore_in_firing_order(void **state)
{
    (void)state;
    sp_timer_service_t a, b;
    timers_filled(&a);
    size_t len;
    uint8_t *bytes = timer_bytes(&a, 0, MAXP - 1, &len);
    sp_timers_init(&b);
    sp_error_t err = { 0 };
    assert_int_equal(sp_timers_restore(&b, bytes, len, 0, MAXP - 1, &err), SPATE_OK);
    assert_int_equal(sp_timers_count(&b), sp_timers_count(&a));
    /* unique timers keep their flag: deleting a unique timer's key does nothing to it */
    char k[16];
    int n = snprintf(k, sizeof k, "k%d", 596); /* unique (596 % 4 == 0) */
    sp_timers_delete(&b, 100 + (596 * 7) % 5 * 10, (const uint8_t *)k, (size_t)n);
    sp_timers_delete(&a, 100 + (596 * 7) % 5 * 10, (const uint8_t *)k, (size_t)n);
    assert_int_equal(sp_timers_count(&b), sp_timers_count(&a));
    fired_t *fa = calloc(1, sizeof *fa), *fb = calloc(1, sizeof *fb);
    pop_all(&a, fa);
    pop_all(&b, fb);
    assert_int_equal(fa->n, fb->n);
    assert_true(fa->n > 400);
    for (size_t i = 0; i < fa->n; i++) {
        assert_int_equal(fa->ts[i], fb->ts[i]);
        assert_int_equal(fa->kg[i], fb->kg[i]);
        assert_string_equal(fa->key[i], fb->key[i]);
    }
    free(fa);
    free(fb);
    free(bytes);
    sp_timers_fini(&a);
    sp_timers_fini(&b);
}

/* The timers of a snapshot restored over m instances: each fires only its key groups, in the
 * original order; the union is the original. */
static void timers_rescale(int m)
{
    sp_timer_service_t a;
    timers_filled(&a);
    size_t len;
    uint8_t *bytes = timer_bytes(&a, 0, MAXP - 1, &len);
    fired_t *fa = calloc(1, sizeof *fa), *fj = calloc(1, sizeof *fj);
    pop_all(&a, fa);
    size_t total = 0;
    for (int j = 0; j < m; j++) {
        int f, l;
        sp_key_group_range(j, m, MAXP, &f, &l);
        sp_timer_service_t s;
        sp_timers_init(&s);
        sp_error_t err = { 0 };
        assert_int_equal(sp_timers_restore(&s, bytes, len, f, l, &err), SPATE_OK);
        fj->n = 0;
        pop_all(&s, fj);
        size_t at = 0;
        for (size_t i = 0; i < fa->n; i++) {
            if (fa->kg[i] < f || fa->kg[i] > l) continue;
            assert_true(at < fj->n);
            assert_int_equal(fa->ts[i], fj->ts[at]);
            assert_string_equal(fa->key[i], fj->key[at]);
            at++;
        }
        assert_int_equal(at, fj->n);
        total += fj->n;
        sp_timers_fini(&s);
    }
    assert_int_equal(total, fa->n);
    free(fa);
    free(fj);
    free(bytes);
    sp_timers_fini(&a);
}

static void timers_restore_one_to_three(void **state)
{
    (void)state;
    timers_rescale(3);
    timers_rescale(1);
}

static void timers_two_to_one(void **state)
{
    (void)state;
    /* two old instances, restored one after the other into one: each keeps its order */
    sp_timer_service_t old[2], one;
    uint8_t *bytes[2];
    size_t len[2];
    for (int i = 0; i < 2; i++) {
        int f, l;
        sp_key_group_range(i, 2, MAXP, &f, &l);
        sp_timers_init(&old[i]);
        for (int64_t k = 0; k < 400; k++)
            if (kg_of(k) >= f && kg_of(k) <= l) reg(&old[i], 1000 - k % 3, k, k % 2);
        bytes[i] = timer_bytes(&old[i], f, l, &len[i]);
    }
    sp_timers_init(&one);
    for (int i = 0; i < 2; i++) {
        sp_error_t err = { 0 };
        assert_int_equal(sp_timers_restore(&one, bytes[i], len[i], 0, MAXP - 1, &err), SPATE_OK);
    }
    assert_int_equal(sp_timers_count(&one), 400);
    fired_t *f = calloc(1, sizeof *f);
    pop_all(&one, f);
    assert_int_equal(f->n, 400);
    for (size_t i = 1; i < f->n; i++) assert_true(f->ts[i - 1] <= f->ts[i]);
    free(f);
    for (int i = 0; i < 2; i++) {
        free(bytes[i]);
        sp_timers_fini(&old[i]);
    }
    sp_timers_fini(&one);
}

static void timer_snapshot_is_independent_of_the_service(void **state)
{
    (void)state;
    sp_timer_service_t a, b;
    timers_filled(&a);
    fired_t *before = calloc(1, sizeof *before), *after = calloc(1, sizeof *after);
    {
        sp_timer_service_t copy;
        timers_filled(&copy);
        pop_all(&copy, before);
        sp_timers_fini(&copy);
    }
    sp_error_t err = { 0 };
    sp_snapshot_t *snap;
    assert_int_equal(sp_timers_snapshot(&a, 0, MAXP - 1, &snap, &err), SPATE_OK);
    for (int64_t i = 0; i < 300; i++) reg(&a, 50 + i, i, false); /* the task goes on */
    fired_t *scratch = calloc(1, sizeof *scratch);
    pop_all(&a, scratch);
    free(scratch);
    uint8_t *bytes;
    size_t len;
    assert_int_equal(sp_snapshot_encode(snap, &bytes, &len, &err), SPATE_OK);
    sp_snapshot_destroy(snap);
    sp_timers_init(&b);
    assert_int_equal(sp_timers_restore(&b, bytes, len, 0, MAXP - 1, &err), SPATE_OK);
    pop_all(&b, after);
    assert_int_equal(after->n, before->n);
    for (size_t i = 0; i < after->n; i++) assert_string_equal(after->key[i], before->key[i]);
    free(before);
    free(after);
    free(bytes);
    sp_timers_fini(&a);
    sp_timers_fini(&b);
}

static void malformed_timer_snapshots_are_rejected(void **state)
{
    (void)state;
    sp_timer_service_t a, b;
    sp_timers_init(&a);
    for (int64_t i = 0; i < 20; i++) reg(&a, 10 + i % 3, i, i % 2);
    size_t len;
    uint8_t *bytes = timer_bytes(&a, 0, MAXP - 1, &len);
    sp_timers_init(&b);
    uint8_t *c = malloc(len);
    for (size_t n = 0; n < len; n++) {
        sp_error_t err = { 0 };
        assert_int_equal(sp_timers_restore(&b, bytes, n, 0, MAXP - 1, &err), SPATE_EPARSE);
    }
    for (size_t i = 0; i < len; i++) {
        memcpy(c, bytes, len);
        c[i] ^= 0x01;
        sp_error_t err = { 0 };
        assert_int_equal(sp_timers_restore(&b, c, len, 0, MAXP - 1, &err), SPATE_EPARSE);
    }
    assert_int_equal(sp_timers_count(&b), 0);
    /* a keyed state snapshot is not a timer snapshot */
    sp_state_backend_t *be = filled(10, 0, MAXP - 1, 0);
    size_t klen;
    uint8_t *kb = snapshot_bytes(be, 0, MAXP - 1, &klen);
    sp_error_t err = { 0 };
    assert_int_equal(sp_timers_restore(&b, kb, klen, 0, MAXP - 1, &err), SPATE_EPARSE);
    assert_non_null(strstr(err.message, "holds keyed state"));
    /* hand-made: one sequence number twice */
    sp_snapshot_t *s;
    sp_error_t e2 = { 0 };
    assert_int_equal(sp_snapshot_create(SP_SNAPSHOT_TIMERS, 0, 0, NULL, 0, &s, &e2), SPATE_OK);
    const uint8_t twice[] = { 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 'a', 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 'b' };
    size_t bytes1[1] = { sizeof twice };
    assert_int_equal(sp_snapshot_reserve(s, bytes1, &e2), SPATE_OK);
    memcpy(sp_snapshot_cursor(s, 0), twice, sizeof twice);
    s->blocks[0].len = sizeof twice;
    s->blocks[0].count = 2;
    s->entries = 2;
    uint8_t *hb;
    size_t hlen;
    assert_int_equal(sp_snapshot_encode(s, &hb, &hlen, &e2), SPATE_OK);
    sp_snapshot_destroy(s);
    sp_error_t e3 = { 0 };
    assert_int_equal(sp_timers_restore(&b, hb, hlen, 0, MAXP - 1, &e3), SPATE_EPARSE);
    assert_non_null(strstr(e3.message, "appears twice"));
    assert_int_equal(sp_timers_count(&b), 0);
    /* a timer outside the snapshot's range */
    sp_error_t e4 = { 0 };
    assert_int_equal(sp_timers_snapshot(&a, 0, 3, &s, &e4), SPATE_EINVAL);
    free(hb);
    free(kb);
    free(c);
    free(bytes);
    sp_state_backend_destroy(be);
    sp_timers_fini(&a);
    sp_timers_fini(&b);
}

/* ---- a raw heap map (the keyed reduce's state) ---- */

static void map_fill(sp_hmap_t *m, int64_t from, int64_t to, int p, int sub)
{
    for (int64_t i = from; i < to; i++) {
        uint8_t k[8];
        key_of(i, k);
        int kg = sp_key_group(k, 8, MAXP);
        if (sp_key_group_owner(kg, p, MAXP) != sub) continue;
        int64_t v = 7 * i;
        sp_hmap_put(m, k, 8, sp_hash_bytes(k, 8), kg, (const uint8_t *)&v, i % 5 == 0 ? 0 : sizeof v);
    }
}

static uint8_t *map_encode(const sp_hmap_t *m, int first, int last, size_t *len)
{
    sp_snapshot_t *s;
    sp_error_t err = { 0 };
    uint8_t *b;
    assert_int_equal(sp_hmap_snapshot(m, "reduce", first, last, &s, &err), SPATE_OK);
    assert_int_equal(sp_snapshot_encode(s, &b, len, &err), SPATE_OK);
    sp_snapshot_destroy(s);
    return b;
}

/* 2 -> 3 instances: each new map holds exactly the keys of its range, values and key groups
 * intact; a duplicate or a namespace is refused with the map as it was. */
static void raw_map_rescales_and_rejects_bad_input(void **state)
{
    (void)state;
    uint8_t *old[2];
    size_t len[2];
    for (int i = 0; i < 2; i++) {
        sp_hmap_t m;
        sp_hmap_init(&m);
        map_fill(&m, 0, 3000, 2, i);
        int first, last;
        sp_key_group_range(i, 2, MAXP, &first, &last);
        old[i] = map_encode(&m, first, last, &len[i]);
        sp_hmap_fini(&m);
    }
    size_t total = 0;
    for (int j = 0; j < 3; j++) {
        int first, last;
        sp_key_group_range(j, 3, MAXP, &first, &last);
        sp_hmap_t m, want;
        sp_hmap_init(&m);
        sp_hmap_init(&want);
        map_fill(&want, 0, 3000, 3, j);
        sp_error_t err = { 0 };
        for (int i = 0; i < 2; i++)
            assert_int_equal(sp_hmap_restore(&m, old[i], len[i], first, last, &err), SPATE_OK);
        assert_int_equal(m.count, want.count);
        sp_hmap_entry_t *e;
        for (size_t pos = 0; (e = sp_hmap_next(&want, &pos));) {
            sp_hmap_entry_t *g = sp_hmap_get(&m, sp_hmap_key(e), sp_hmap_klen(e), e->hash);
            assert_non_null(g);
            assert_int_equal(g->key_group, e->key_group);
            assert_int_equal(sp_hmap_vlen(g), sp_hmap_vlen(e));
            assert_memory_equal(sp_hmap_value(g), sp_hmap_value(e), sp_hmap_vlen(e));
        }
        total += m.count;
        /* again (the old instance whose range meets this one): every key is there already */
        sp_error_t e2 = { 0 };
        size_t before = m.count;
        int o = j == 2 ? 1 : 0;
        assert_int_equal(sp_hmap_restore(&m, old[o], len[o], first, last, &e2), SPATE_EPARSE);
        assert_int_equal(m.count, before);
        assert_non_null(strstr(e2.message, "there already"));
        /* a map holding one key of old[o] in this range, the 50th of the restore's order: the
         * 49 entries inserted before it are taken back */
        sp_hmap_t one;
        sp_hmap_init(&one);
        size_t seen = 0;
        int o2 = j == 2 ? 1 : 0;
        sp_snapshot_reader_t r;
        assert_int_equal(sp_snapshot_reader_open(&r, old[o2], len[o2], SP_SNAPSHOT_KEYED, &e2), SPATE_OK);
        for (int kg = SP_MAX(first, r.first); kg <= SP_MIN(last, r.last) && seen < 50; kg++) {
            const uint8_t *blk;
            size_t blen;
            uint64_t cnt;
            assert_int_equal(sp_snapshot_reader_block(&r, kg, &blk, &blen, &cnt, &e2), SPATE_OK);
            size_t pos = 0;
            for (uint64_t c = 0; c < cnt && seen < 50; c++) {
                sp_snapshot_entry_t en;
                assert_int_equal(sp_snapshot_reader_entry(&r, kg, blk, blen, &pos, &en, &e2), SPATE_OK);
                if (++seen == 50)
                    sp_hmap_put(&one, en.key, en.klen, sp_hash_bytes(en.key, en.klen), kg, NULL, 0);
            }
        }
        assert_int_equal(one.count, 1);
        sp_error_t e4 = { 0 };
        assert_int_equal(sp_hmap_restore(&one, old[o2], len[o2], first, last, &e4), SPATE_EPARSE);
        assert_int_equal(one.count, 1);
        sp_hmap_fini(&one);
        sp_hmap_fini(&m);
        sp_hmap_fini(&want);
    }
    assert_int_equal(total, 3000);
    /* a keyed-state snapshot with namespaces is not a map's */
    sp_state_backend_t *be = filled(50, 0, MAXP - 1, 0);
    sp_snapshot_t *s;
    sp_error_t err = { 0 };
    uint8_t *kb;
    size_t klen;
    assert_int_equal(sp_state_snapshot(be, 0, MAXP - 1, &s, &err), SPATE_OK);
    assert_int_equal(sp_snapshot_encode(s, &kb, &klen, &err), SPATE_OK);
    sp_snapshot_destroy(s);
    sp_hmap_t m;
    sp_hmap_init(&m);
    assert_int_equal(sp_hmap_restore(&m, kb, klen, 0, MAXP - 1, &err), SPATE_EPARSE);
    assert_non_null(strstr(err.message, "namespace"));
    assert_int_equal(m.count, 0);
    /* truncated and flipped */
    for (size_t cut = 0; cut < len[0]; cut += 97) {
        sp_error_t e3 = { 0 };
        assert_int_equal(sp_hmap_restore(&m, old[0], cut, 0, MAXP - 1, &e3), SPATE_EPARSE);
    }
    old[0][len[0] - 1] ^= 1;
    assert_int_equal(sp_hmap_restore(&m, old[0], len[0], 0, MAXP - 1, &err), SPATE_EPARSE);
    assert_int_equal(m.count, 0);
    sp_hmap_fini(&m);
    free(kb);
    sp_state_backend_destroy(be);
    free(old[0]);
    free(old[1]);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(key_group_ranges_are_flinks),
    cmocka_unit_test(raw_map_rescales_and_rejects_bad_input),
    cmocka_unit_test(keyed_round_trip_with_states_and_namespaces),
    cmocka_unit_test(ttl_values_survive_as_bytes),
    cmocka_unit_test(keyed_restore_one_to_three),
    cmocka_unit_test(keyed_restore_two_to_one_and_two_to_four),
    cmocka_unit_test(restore_outside_the_snapshot_range_is_nothing),
    cmocka_unit_test(entries_outside_the_range_are_refused),
    cmocka_unit_test(sync_part_leaves_the_backend_independent),
    cmocka_unit_test(frozen_view_keeps_the_state_of_the_barrier),
    cmocka_unit_test(frozen_view_encoded_while_the_task_goes_on),
    cmocka_unit_test(frozen_view_outlives_the_backend),
    cmocka_unit_test(freeze_while_a_view_is_read_copies_at_once),
    cmocka_unit_test(frozen_entries_outside_the_range_fail_when_encoded),
    cmocka_unit_test(restored_entries_carved_from_one_block),
    cmocka_unit_test_setup_teardown(snapshot_written_into_checkpoint_storage, tu_setup_tmpdir,
                                    tu_teardown_tmpdir),
    cmocka_unit_test(truncated_and_flipped_snapshots_are_rejected),
    cmocka_unit_test(bad_index_is_rejected),
    cmocka_unit_test(duplicates_and_bad_entries_are_rejected),
    cmocka_unit_test(timers_restore_in_firing_order),
    cmocka_unit_test(timers_restore_one_to_three),
    cmocka_unit_test(timers_two_to_one),
    cmocka_unit_test(timer_snapshot_is_independent_of_the_service),
    cmocka_unit_test(malformed_timer_snapshots_are_rejected),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "state");
}
