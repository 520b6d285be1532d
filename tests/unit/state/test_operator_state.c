/*
 * test_operator_state.c — the operator state store: lists of byte elements
 * per instance, snapshot and restore round trips, redistribution to another
 * parallelism (split: even, in order, nothing lost or doubled; union: all
 * to all), mode conflicts, empty lists, malformed snapshots.
 */
#include "test_main.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/operator_state.h"

/* ---- helpers ---- */

typedef struct joined {
    char text[4096];
    size_t len;
} joined_t;

/* Visitor: appends "element," (elements are short text; an empty one shows as "<>"). */
static int join_fn(void *ctx, const void *value, size_t len)
{
    joined_t *j = ctx;
    int n = snprintf(j->text + j->len, sizeof j->text - j->len, "%.*s,", len ? (int)len : 2,
                     len ? (const char *)value : "<>");
    assert_true(n > 0 && (size_t)n < sizeof j->text - j->len);
    j->len += (size_t)n;
    return 0;
}

/* The elements of list `name` in s, joined (asserts the list exists). */
static const char *elements(const sp_opstate_t *s, const char *name, joined_t *j)
{
    j->len = 0;
    j->text[0] = 0;
    const sp_opstate_list_t *l = sp_opstate_find(s, name);
    assert_non_null(l);
    assert_int_equal(sp_opstate_list_get(l, join_fn, j), SPATE_OK);
    return j->text;
}

static void add_str(sp_opstate_list_t *l, const char *v)
{
    sp_opstate_list_add(l, v, strlen(v));
}

/* A store restored from b (asserts success). */
static sp_opstate_t *restored(const sp_opstate_bytes_t *b)
{
    sp_error_t err = { 0 };
    sp_opstate_t *s = sp_opstate_create();
    assert_int_equal(sp_opstate_restore(s, b->data, b->len, &err), SPATE_OK);
    assert_int_equal(err.code, 0);
    return s;
}

/*
 * Snapshots of n instances each holding split list "s" with sizes[i] elements "i.k", redistributed
 * to m instances; returns the m restored stores (caller destroys them and frees the array).
 */
static sp_opstate_t **split_n_to_m(const size_t *sizes, int n, int m)
{
    sp_opstate_bytes_t *old = calloc((size_t)n + 1, sizeof *old), *out = calloc((size_t)m, sizeof *out);
    for (int i = 0; i < n; i++) {
        sp_opstate_t *s = sp_opstate_create();
        sp_opstate_list_t *l = sp_opstate_declare(s, "s", SP_OPSTATE_SPLIT, NULL);
        for (size_t k = 0; k < sizes[i]; k++) {
            char e[32];
            snprintf(e, sizeof e, "%d.%zu", i, k);
            add_str(l, e);
        }
        sp_opstate_snapshot(s, &old[i]);
        sp_opstate_destroy(s);
    }
    sp_error_t err = { 0 };
    assert_int_equal(sp_opstate_redistribute(old, n, m, out, &err), SPATE_OK);
    sp_opstate_t **got = calloc((size_t)m, sizeof *got);
    for (int j = 0; j < m; j++) {
        got[j] = restored(&out[j]);
        sp_opstate_bytes_free(&out[j]);
    }
    for (int i = 0; i < n; i++) sp_opstate_bytes_free(&old[i]);
    free(old);
    free(out);
    return got;
}

static void free_stores(sp_opstate_t **s, int n)
{
    for (int i = 0; i < n; i++) sp_opstate_destroy(s[i]);
    free(s);
}

/* ---- the store ---- */

static void lists_add_get_clear_update(void **state)
{
    (void)state;
    sp_error_t err = { 0 };
    sp_opstate_t *s = sp_opstate_create();
    sp_opstate_list_t *a = sp_opstate_declare(s, "a", SP_OPSTATE_SPLIT, &err);
    assert_non_null(a);
    assert_ptr_equal(sp_opstate_declare(s, "a", SP_OPSTATE_SPLIT, &err), a); /* same handle */
    assert_ptr_equal(sp_opstate_find(s, "a"), a);
    assert_null(sp_opstate_find(s, "b"));
    assert_string_equal(sp_opstate_list_name(a), "a");
    assert_int_equal(sp_opstate_list_mode(a), SP_OPSTATE_SPLIT);
    assert_int_equal(sp_opstate_list_size(a), 0);
    add_str(a, "one");
    sp_opstate_list_add(a, NULL, 0);
    add_str(a, "three");
    assert_int_equal(sp_opstate_list_size(a), 3);
    joined_t j;
    assert_string_equal(elements(s, "a", &j), "one,<>,three,");
    const void *vals[] = { "x", "yy" };
    const size_t lens[] = { 1, 2 };
    sp_opstate_list_update(a, vals, lens, 2);
    assert_string_equal(elements(s, "a", &j), "x,yy,");
    sp_opstate_list_clear(a);
    assert_int_equal(sp_opstate_list_size(a), 0);
    assert_string_equal(elements(s, "a", &j), "");
    sp_opstate_list_update(a, NULL, NULL, 0);
    assert_int_equal(sp_opstate_list_size(a), 0);
    assert_int_equal(sp_opstate_count(s), 1);
    assert_int_equal(err.code, 0);
    sp_opstate_destroy(s);
}

/* Stops at the first element "stop" and adds to the list while it is being visited. */
static int stop_and_grow(void *ctx, const void *value, size_t len)
{
    sp_opstate_list_t *l = ctx;
    for (int i = 0; i < 100; i++) add_str(l, "more"); /* reallocates the list's buffer */
    return len == 4 && memcmp(value, "stop", 4) == 0 ? 42 : 0;
}

static void visit_stops_and_may_change_the_list(void **state)
{
    (void)state;
    sp_opstate_t *s = sp_opstate_create();
    sp_opstate_list_t *l = sp_opstate_declare(s, "l", SP_OPSTATE_UNION, NULL);
    add_str(l, "go");
    add_str(l, "stop");
    add_str(l, "never");
    assert_int_equal(sp_opstate_list_get(l, stop_and_grow, l), 42);
    assert_int_equal(sp_opstate_list_size(l), 3 + 200);
    sp_opstate_destroy(s);
}

static void mode_mismatch_on_a_name_fails_clearly(void **state)
{
    (void)state;
    sp_error_t err = { 0 };
    sp_opstate_t *s = sp_opstate_create();
    assert_non_null(sp_opstate_declare(s, "buffer", SP_OPSTATE_SPLIT, &err));
    assert_null(sp_opstate_declare(s, "buffer", SP_OPSTATE_UNION, &err));
    assert_int_equal(err.code, SPATE_EINVAL);
    assert_string_equal(err.message,
                        "operator state 'buffer' is a list state; it cannot also be a union list state");
    sp_error_t err2 = { 0 };
    assert_non_null(sp_opstate_declare(s, "offsets", SP_OPSTATE_UNION, &err2));
    assert_null(sp_opstate_declare(s, "offsets", SP_OPSTATE_SPLIT, &err2));
    assert_string_equal(err2.message,
                        "operator state 'offsets' is a union list state; it cannot also be a list state");
    sp_error_t err3 = { 0 };
    assert_null(sp_opstate_declare(s, "", SP_OPSTATE_SPLIT, &err3));
    assert_int_equal(err3.code, SPATE_EINVAL);
    assert_non_null(strstr(err3.message, "needs a name"));
    sp_error_t err4 = { 0 };
    assert_null(sp_opstate_declare(s, NULL, SP_OPSTATE_SPLIT, &err4));
    assert_int_equal(err4.code, SPATE_EINVAL);
    assert_int_equal(sp_opstate_count(s), 2);
    sp_opstate_destroy(s);
}

/* ---- snapshot and restore ---- */

static void snapshot_restore_round_trip(void **state)
{
    (void)state;
    sp_opstate_t *s = sp_opstate_create();
    sp_opstate_list_t *a = sp_opstate_declare(s, "a", SP_OPSTATE_SPLIT, NULL);
    sp_opstate_list_t *b = sp_opstate_declare(s, "b", SP_OPSTATE_UNION, NULL);
    sp_opstate_declare(s, "empty", SP_OPSTATE_UNION, NULL);
    add_str(a, "a1");
    sp_opstate_list_add(a, NULL, 0);
    add_str(a, "a3");
    add_str(b, "b1");
    uint8_t big[10000];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 7);
    sp_opstate_list_t *bin = sp_opstate_declare(s, "bin", SP_OPSTATE_SPLIT, NULL);
    sp_opstate_list_add(bin, big, sizeof big);
    sp_opstate_bytes_t snap;
    sp_opstate_snapshot(s, &snap);
    assert_memory_equal(snap.data, "SPOS\x01", 5);

    sp_opstate_t *r = restored(&snap);
    assert_int_equal(sp_opstate_count(r), 4);
    joined_t j;
    assert_string_equal(elements(r, "a", &j), "a1,<>,a3,");
    assert_string_equal(elements(r, "b", &j), "b1,");
    assert_string_equal(elements(r, "empty", &j), "");
    assert_int_equal(sp_opstate_list_mode(sp_opstate_find(r, "a")), SP_OPSTATE_SPLIT);
    assert_int_equal(sp_opstate_list_mode(sp_opstate_find(r, "b")), SP_OPSTATE_UNION);
    assert_int_equal(sp_opstate_list_mode(sp_opstate_find(r, "empty")), SP_OPSTATE_UNION);
    assert_int_equal(sp_opstate_list_size(sp_opstate_find(r, "bin")), 1);
    /* the snapshot of the restored store is the same bytes, and the store goes on working */
    sp_opstate_bytes_t again;
    sp_opstate_snapshot(r, &again);
    assert_int_equal(again.len, snap.len);
    assert_memory_equal(again.data, snap.data, snap.len);
    add_str(sp_opstate_declare(r, "a", SP_OPSTATE_SPLIT, NULL), "a4");
    assert_string_equal(elements(r, "a", &j), "a1,<>,a3,a4,");
    /* restored modes bind later declarations */
    sp_error_t err = { 0 };
    assert_null(sp_opstate_declare(r, "b", SP_OPSTATE_SPLIT, &err));
    assert_int_equal(err.code, SPATE_EINVAL);

    /* a store with no lists */
    sp_opstate_t *none = sp_opstate_create();
    sp_opstate_bytes_t empty;
    sp_opstate_snapshot(none, &empty);
    assert_int_equal(empty.len, 9);
    sp_opstate_t *r2 = restored(&empty);
    assert_int_equal(sp_opstate_count(r2), 0);

    sp_opstate_bytes_free(&snap);
    sp_opstate_bytes_free(&again);
    sp_opstate_bytes_free(&empty);
    sp_opstate_destroy(s);
    sp_opstate_destroy(r);
    sp_opstate_destroy(none);
    sp_opstate_destroy(r2);
}

static void malformed_snapshots_are_rejected(void **state)
{
    (void)state;
    sp_opstate_t *s = sp_opstate_create();
    add_str(sp_opstate_declare(s, "a", SP_OPSTATE_SPLIT, NULL), "xyz");
    add_str(sp_opstate_declare(s, "b", SP_OPSTATE_UNION, NULL), "");
    sp_opstate_bytes_t snap;
    sp_opstate_snapshot(s, &snap);
    sp_opstate_t *r = sp_opstate_create();
    /* every truncation fails, and leaves the store empty */
    for (size_t n = 0; n < snap.len; n++) {
        sp_error_t err = { 0 };
        assert_int_equal(sp_opstate_restore(r, snap.data, n, &err), SPATE_EPARSE);
        assert_int_equal(sp_opstate_count(r), 0);
        assert_true(strlen(err.message) > 0);
    }
    uint8_t *b = malloc(snap.len + 1);
    sp_error_t err = { 0 };
    /* trailing bytes */
    memcpy(b, snap.data, snap.len);
    b[snap.len] = 0;
    assert_int_equal(sp_opstate_restore(r, b, snap.len + 1, &err), SPATE_EPARSE);
    assert_non_null(strstr(err.message, "trailing bytes"));
    /* magic, version, mode */
    struct {
        size_t at;
        uint8_t v;
        const char *msg;
    } flips[] = {
        { 0, 'X', "bad magic" },
        { 4, 2, "format version 2" },
        { 9 + 4 + 1, 7, "unknown list mode" }, /* list "a": [len 4][name 1][mode] */
    };
    for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
        memcpy(b, snap.data, snap.len);
        b[flips[i].at] = flips[i].v;
        sp_error_t e = { 0 };
        assert_int_equal(sp_opstate_restore(r, b, snap.len, &e), SPATE_EPARSE);
        assert_non_null(strstr(e.message, flips[i].msg));
        assert_int_equal(sp_opstate_count(r), 0);
    }
    /* the same name twice: rename "b" to "a" */
    memcpy(b, snap.data, snap.len);
    size_t b_name = 9 + (4 + 1 + 1 + 4 + 4 + 3) + 4;
    assert_int_equal(b[b_name], 'b');
    b[b_name] = 'a';
    sp_error_t e2 = { 0 };
    assert_int_equal(sp_opstate_restore(r, b, snap.len, &e2), SPATE_EPARSE);
    assert_non_null(strstr(e2.message, "appears twice"));
    /* restore after a declaration */
    sp_opstate_declare(r, "z", SP_OPSTATE_SPLIT, NULL);
    sp_error_t e3 = { 0 };
    assert_int_equal(sp_opstate_restore(r, snap.data, snap.len, &e3), SPATE_ESTATE);
    /* redistribution names the instance whose snapshot is bad */
    sp_opstate_bytes_t old[2] = { snap, { b, snap.len } }, out[2] = { { 0 } };
    sp_error_t e4 = { 0 };
    assert_int_equal(sp_opstate_redistribute(old, 2, 2, out, &e4), SPATE_EPARSE);
    assert_non_null(strstr(e4.message, "snapshot of instance 1: "));
    assert_null(out[0].data);
    assert_null(out[1].data);
    free(b);
    sp_opstate_bytes_free(&snap);
    sp_opstate_destroy(s);
    sp_opstate_destroy(r);
}

/* ---- redistribution ---- */

static void split_2_to_1_keeps_everything_in_order(void **state)
{
    (void)state;
    size_t sizes[] = { 3, 2 };
    sp_opstate_t **got = split_n_to_m(sizes, 2, 1);
    joined_t j;
    assert_string_equal(elements(got[0], "s", &j), "0.0,0.1,0.2,1.0,1.1,");
    free_stores(got, 1);
}

static void split_2_to_4_divides_evenly(void **state)
{
    (void)state;
    size_t sizes[] = { 5, 3 };
    sp_opstate_t **got = split_n_to_m(sizes, 2, 4);
    joined_t j;
    assert_string_equal(elements(got[0], "s", &j), "0.0,0.1,");
    assert_string_equal(elements(got[1], "s", &j), "0.2,0.3,");
    assert_string_equal(elements(got[2], "s", &j), "0.4,1.0,");
    assert_string_equal(elements(got[3], "s", &j), "1.1,1.2,");
    free_stores(got, 4);
    /* fewer elements than instances: the last ones get an empty list of the same name */
    size_t few[] = { 1, 1 };
    got = split_n_to_m(few, 2, 4);
    assert_string_equal(elements(got[0], "s", &j), "0.0,");
    assert_string_equal(elements(got[1], "s", &j), "1.0,");
    assert_string_equal(elements(got[2], "s", &j), "");
    assert_string_equal(elements(got[3], "s", &j), "");
    free_stores(got, 4);
}

static void split_3_to_2_divides_evenly(void **state)
{
    (void)state;
    size_t sizes[] = { 3, 1, 3 };
    sp_opstate_t **got = split_n_to_m(sizes, 3, 2);
    joined_t j;
    assert_string_equal(elements(got[0], "s", &j), "0.0,0.1,0.2,1.0,"); /* 7 = 4 + 3 */
    assert_string_equal(elements(got[1], "s", &j), "2.0,2.1,2.2,");
    free_stores(got, 2);
}

static void split_at_the_same_parallelism_keeps_each_instance_own(void **state)
{
    (void)state;
    size_t sizes[] = { 5, 1 };
    sp_opstate_t **got = split_n_to_m(sizes, 2, 2);
    joined_t j;
    assert_string_equal(elements(got[0], "s", &j), "0.0,0.1,0.2,0.3,0.4,");
    assert_string_equal(elements(got[1], "s", &j), "1.0,");
    free_stores(got, 2);
}

/* Every n in 1..5 to every m in 1..6, with uneven sizes: each element exactly once, sizes
 * differing by at most one (or each instance's own at n == m). */
static void split_any_n_to_m_loses_and_doubles_nothing(void **state)
{
    (void)state;
    for (int n = 1; n <= 5; n++) {
        for (int m = 1; m <= 6; m++) {
            size_t sizes[5], total = 0;
            for (int i = 0; i < n; i++) total += sizes[i] = (size_t)((i * 7 + n * 3 + m) % 9);
            sp_opstate_t **got = split_n_to_m(sizes, n, m);
            size_t seen = 0, lo = (size_t)-1, hi = 0;
            for (int j = 0; j < m; j++) {
                size_t sz = sp_opstate_list_size(sp_opstate_find(got[j], "s"));
                lo = sz < lo ? sz : lo;
                hi = sz > hi ? sz : hi;
                seen += sz;
                if (n == m) assert_int_equal(sz, sizes[j]);
            }
            assert_int_equal(seen, total);
            if (n != m) assert_true(hi - lo <= 1);
            /* each "i.k" exactly once: mark them off */
            for (int i = 0; i < n; i++) {
                for (size_t k = 0; k < sizes[i]; k++) {
                    char e[32];
                    snprintf(e, sizeof e, "%d.%zu,", i, k);
                    int found = 0;
                    for (int j = 0; j < m; j++) {
                        joined_t jj;
                        const char *t = elements(got[j], "s", &jj);
                        for (const char *p = t; (p = strstr(p, e)); p++)
                            if (p == t || p[-1] == ',') found++;
                    }
                    assert_int_equal(found, 1);
                }
            }
            free_stores(got, m);
        }
    }
}

static void union_goes_to_every_instance(void **state)
{
    (void)state;
    sp_opstate_bytes_t old[2], out[3] = { { 0 } };
    for (int i = 0; i < 2; i++) {
        sp_opstate_t *s = sp_opstate_create();
        sp_opstate_list_t *split = sp_opstate_declare(s, "pending", SP_OPSTATE_SPLIT, NULL);
        sp_opstate_list_t *uni = sp_opstate_declare(s, "offsets", SP_OPSTATE_UNION, NULL);
        char e[16];
        snprintf(e, sizeof e, "p%d", i);
        add_str(split, e);
        snprintf(e, sizeof e, "o%d.a", i);
        add_str(uni, e);
        snprintf(e, sizeof e, "o%d.b", i);
        add_str(uni, e);
        sp_opstate_snapshot(s, &old[i]);
        sp_opstate_destroy(s);
    }
    sp_error_t err = { 0 };
    assert_int_equal(sp_opstate_redistribute(old, 2, 3, out, &err), SPATE_OK);
    /* pure: the same inputs give the same bytes */
    sp_opstate_bytes_t out2[3];
    assert_int_equal(sp_opstate_redistribute(old, 2, 3, out2, &err), SPATE_OK);
    const char *pending[] = { "p0,", "p1,", "" };
    for (int j = 0; j < 3; j++) {
        assert_int_equal(out2[j].len, out[j].len);
        assert_memory_equal(out2[j].data, out[j].data, out[j].len);
        sp_opstate_t *r = restored(&out[j]);
        joined_t jj;
        assert_string_equal(elements(r, "offsets", &jj), "o0.a,o0.b,o1.a,o1.b,");
        assert_int_equal(sp_opstate_list_mode(sp_opstate_find(r, "offsets")), SP_OPSTATE_UNION);
        assert_string_equal(elements(r, "pending", &jj), pending[j]);
        /* lists in order of first appearance */
        assert_int_equal(sp_opstate_count(r), 2);
        sp_opstate_destroy(r);
        sp_opstate_bytes_free(&out[j]);
        sp_opstate_bytes_free(&out2[j]);
    }
    /* union at the same parallelism is still all to all */
    sp_opstate_bytes_t same[2];
    assert_int_equal(sp_opstate_redistribute(old, 2, 2, same, &err), SPATE_OK);
    for (int j = 0; j < 2; j++) {
        sp_opstate_t *r = restored(&same[j]);
        joined_t jj;
        assert_string_equal(elements(r, "offsets", &jj), "o0.a,o0.b,o1.a,o1.b,");
        assert_string_equal(elements(r, "pending", &jj), j == 0 ? "p0," : "p1,");
        sp_opstate_destroy(r);
        sp_opstate_bytes_free(&same[j]);
    }
    sp_opstate_bytes_free(&old[0]);
    sp_opstate_bytes_free(&old[1]);
}

static void mode_mismatch_across_instances_fails_clearly(void **state)
{
    (void)state;
    sp_opstate_bytes_t old[3], out[2] = { { 0 } };
    for (int i = 0; i < 3; i++) {
        sp_opstate_t *s = sp_opstate_create();
        add_str(sp_opstate_declare(s, "x", i == 2 ? SP_OPSTATE_UNION : SP_OPSTATE_SPLIT, NULL), "e");
        sp_opstate_snapshot(s, &old[i]);
        sp_opstate_destroy(s);
    }
    sp_error_t err = { 0 };
    assert_int_equal(sp_opstate_redistribute(old, 3, 2, out, &err), SPATE_EINVAL);
    assert_string_equal(
        err.message, "operator state 'x' is a list state in instance 0 but a union list state in instance 2");
    assert_null(out[0].data);
    assert_null(out[1].data);
    sp_error_t err2 = { 0 };
    assert_int_equal(sp_opstate_redistribute(old, 3, 0, out, &err2), SPATE_EINVAL);
    for (int i = 0; i < 3; i++) sp_opstate_bytes_free(&old[i]);
}

static void empty_lists_and_no_state_redistribute(void **state)
{
    (void)state;
    /* no old instances: every new one starts with no lists */
    sp_opstate_bytes_t out[2];
    sp_error_t err = { 0 };
    assert_int_equal(sp_opstate_redistribute(NULL, 0, 2, out, &err), SPATE_OK);
    for (int j = 0; j < 2; j++) {
        sp_opstate_t *r = restored(&out[j]);
        assert_int_equal(sp_opstate_count(r), 0);
        sp_opstate_destroy(r);
        sp_opstate_bytes_free(&out[j]);
    }
    /* empty lists, and names only some instances have, reach every new instance */
    sp_opstate_bytes_t old[2], got[3];
    sp_opstate_t *s0 = sp_opstate_create(), *s1 = sp_opstate_create();
    sp_opstate_declare(s0, "e", SP_OPSTATE_SPLIT, NULL);
    sp_opstate_declare(s1, "u", SP_OPSTATE_UNION, NULL);
    add_str(sp_opstate_declare(s1, "late", SP_OPSTATE_SPLIT, NULL), "only");
    sp_opstate_snapshot(s0, &old[0]);
    sp_opstate_snapshot(s1, &old[1]);
    assert_int_equal(sp_opstate_redistribute(old, 2, 3, got, &err), SPATE_OK);
    for (int j = 0; j < 3; j++) {
        sp_opstate_t *r = restored(&got[j]);
        joined_t jj;
        assert_int_equal(sp_opstate_count(r), 3);
        assert_string_equal(sp_opstate_list_name(sp_opstate_find(r, "e")), "e");
        assert_string_equal(elements(r, "e", &jj), "");
        assert_string_equal(elements(r, "u", &jj), "");
        assert_int_equal(sp_opstate_list_mode(sp_opstate_find(r, "u")), SP_OPSTATE_UNION);
        assert_string_equal(elements(r, "late", &jj), j == 0 ? "only," : "");
        sp_opstate_destroy(r);
        sp_opstate_bytes_free(&got[j]);
    }
    assert_int_equal(err.code, 0);
    sp_opstate_bytes_free(&old[0]);
    sp_opstate_bytes_free(&old[1]);
    sp_opstate_destroy(s0);
    sp_opstate_destroy(s1);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(lists_add_get_clear_update),
    cmocka_unit_test(visit_stops_and_may_change_the_list),
    cmocka_unit_test(mode_mismatch_on_a_name_fails_clearly),
    cmocka_unit_test(snapshot_restore_round_trip),
    cmocka_unit_test(malformed_snapshots_are_rejected),
    cmocka_unit_test(split_2_to_1_keeps_everything_in_order),
    cmocka_unit_test(split_2_to_4_divides_evenly),
    cmocka_unit_test(split_3_to_2_divides_evenly),
    cmocka_unit_test(split_at_the_same_parallelism_keeps_each_instance_own),
    cmocka_unit_test(split_any_n_to_m_loses_and_doubles_nothing),
    cmocka_unit_test(union_goes_to_every_instance),
    cmocka_unit_test(mode_mismatch_across_instances_fails_clearly),
    cmocka_unit_test(empty_lists_and_no_state_redistribute),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "state");
}
