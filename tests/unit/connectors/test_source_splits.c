/*
 * test_source_splits.c — the splits of the parallel sources (datagen,
 * Nexmark) across a change of parallelism.  A run at parallelism p reads a
 * few polls per subtask and takes every reader's position; readers at
 * parallelism q restored from all those positions (vt->restore_splits, as
 * the runtime does) read on, possibly to another restore, and finally to
 * the end: the union of the rows of all stages equals the rows of an
 * uninterrupted run (as multisets, event times included).  Restores at 1,
 * 2 -> 4 (readers without splits end, or are idle when unbounded), 3 -> 2,
 * and twice in a row 2 -> 3 -> 1.  A reader of several Nexmark splits emits
 * in event-time order.  Bad positions fail with SPATE_EPARSE.
 */
#include "test_main.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/connector.h"
#include "test_util.h"

typedef struct text {
    char *s;
    size_t len, cap;
} text_t;

static void text_add(text_t *t, const char *s, size_t n)
{
    while (t->len + n + 1 >= t->cap) t->s = realloc(t->s, t->cap = t->cap ? 2 * t->cap : 4096);
    memcpy(t->s + t->len, s, n);
    t->len += n;
    t->s[t->len] = 0;
}

/* Appends every row of b as "field,field,...,@timestamp\n"; with `ordered`, checks that the
 * timestamps do not go back (also across batches: *last). */
static void add_rows(text_t *t, const sp_batch_t *b, bool ordered, int64_t *last)
{
    spate_row_t row = { b, 0 };
    int nf = spate_schema_field_count(b->schema);
    for (uint32_t i = 0; i < b->count; i++) {
        row.index = i;
        for (int f = 0; f < nf; f++) {
            char field[512];
            size_t n = sp_format_field(&row, f, field, sizeof field, ',', true);
            if (n >= sizeof field) n = sizeof field - 1;
            text_add(t, field, n);
            text_add(t, ",", 1);
        }
        char ts[32];
        int n = snprintf(ts, sizeof ts, "@%lld\n", (long long)b->timestamps[i]);
        text_add(t, ts, (size_t)n);
        if (ordered) assert_true(b->timestamps[i] >= *last);
        *last = b->timestamps[i];
    }
}

typedef struct positions {
    uint8_t *b[8];
    size_t len[8];
    int n;
} positions_t;

static void positions_free(positions_t *p)
{
    for (int i = 0; i < p->n; i++) free(p->b[i]);
    p->n = 0;
}

typedef struct stage_result {
    int ended;   /* readers that returned SP_FLOW_END */
    int idle;    /* readers whose vt->idle said true */
    int empty;   /* readers that emitted nothing */
    size_t rows; /* all readers */
} stage_result_t;

static int collect(void *target, sp_batch_t *b)
{
    tu_got_t *g = target;
    g->b = realloc(g->b, sizeof *g->b * (g->n + 1));
    g->b[g->n++] = b;
    g->rows += b->count;
    return SPATE_OK;
}

/*
 * Runs src at parallelism p: each subtask opens, restores from `old` (when old->n > 0), polls
 * up to `polls` times (0: until SP_FLOW_END; an idle reader stops at its first idle poll), adds
 * its rows to *t and its position to *next (when next is not NULL).
 */
static stage_result_t stage(const spate_source_t *src, int p, const positions_t *old, int polls, text_t *t,
                            positions_t *next, bool ordered)
{
    stage_result_t res = { 0 };
    for (int j = 0; j < p; j++) {
        tu_got_t g = { 0 };
        sp_error_t err = { 0 };
        spate_collector_t out;
        sp_collector_init(&out, src->schema, 0, collect, &g, &err);
        sp_source_ctx_t ctx = { { src->vt->kind, j, p, 128, 0 }, &out, &err };
        void *reader = NULL;
        assert_int_equal(src->vt->open(src->spec, &ctx, &reader), SPATE_OK);
        if (old && old->n > 0) {
            int rc = src->vt->restore_splits(reader, (const uint8_t *const *)old->b, old->len, old->n, &err);
            if (rc) print_message("restore failed: %s\n", err.message);
            assert_int_equal(rc, SPATE_OK);
        }
        bool idle = src->vt->idle(reader);
        res.idle += idle;
        for (int k = 0; polls == 0 || k < polls; k++) {
            int64_t wait = 0;
            int flow = src->vt->poll(reader, &ctx, &wait);
            assert_true(flow >= 0);
            assert_int_equal(sp_collector_flush(&out), SPATE_OK);
            if (flow == SP_FLOW_END) {
                res.ended++;
                break;
            }
            if (flow == SP_FLOW_IDLE) {
                assert_true(idle); /* no rate limit here: only a reader without splits idles */
                break;
            }
        }
        int64_t last = INT64_MIN;
        for (size_t i = 0; i < g.n; i++) add_rows(t, g.b[i], ordered, &last);
        res.rows += g.rows;
        res.empty += g.rows == 0;
        if (next) {
            assert_int_equal(src->vt->snapshot(reader, &next->b[j], &next->len[j], &err), SPATE_OK);
            next->n = j + 1;
        }
        src->vt->close(reader);
        sp_collector_fini(&out);
        tu_got_free(&g);
    }
    return res;
}

/* The sorted rows of an uninterrupted run at parallelism p. */
static char *uninterrupted(const spate_source_t *src, int p)
{
    text_t t = { 0 };
    stage_result_t r = stage(src, p, NULL, 0, &t, NULL, false);
    assert_int_equal(r.ended, p);
    char *sorted = tu_sort_lines(t.s);
    free(t.s);
    return sorted;
}

/*
 * Reads src at parallelism par[0] for `polls` polls per subtask, then restored at par[1], ...,
 * par[n-2] for `polls` polls each, then at par[n-1] to the end; the rows equal want's.  Returns
 * the last stage's result.
 */
static stage_result_t rescale(const spate_source_t *src, const int *par, int n, int polls, const char *want,
                              bool ordered)
{
    text_t t = { 0 };
    positions_t pos = { 0 }, next = { 0 };
    stage_result_t r = { 0 };
    for (int i = 0; i < n; i++) {
        bool last = i == n - 1;
        r = stage(src, par[i], i ? &pos : NULL, last ? 0 : polls, &t, last ? NULL : &next, ordered);
        positions_free(&pos);
        pos = next;
        next = (positions_t){ 0 };
    }
    assert_int_equal(r.ended, par[n - 1]);
    char *got = tu_sort_lines(t.s);
    assert_int_equal(strlen(got), strlen(want));
    assert_string_equal(got, want);
    free(got);
    free(t.s);
    return r;
}

static spate_source_t *datagen(int64_t rows)
{
    spate_schema_t *schema = spate_schema_of("id BIGINT, r INT, s STRING, d DOUBLE, b BOOLEAN");
    spate_datagen_field_t f[5];
    for (int i = 0; i < 5; i++) spate_datagen_field_init(&f[i]);
    f[0].kind = SPATE_DATAGEN_SEQUENCE;
    f[0].start = 1;
    f[0].end = rows;
    f[1].min = -100;
    f[1].max = 100;
    spate_datagen_options_t o;
    spate_datagen_options_init(&o);
    o.fields = f;
    o.seed = 7;
    spate_source_t *src = spate_datagen_source(schema, &o);
    spate_schema_release(schema);
    assert_non_null(src);
    return src;
}

static void datagen_splits_follow_the_parallelism(void **state)
{
    (void)state;
    spate_source_t *src = datagen(10000);
    char *want2 = uninterrupted(src, 2), *want3 = uninterrupted(src, 3);
    assert_int_equal(strlen(want2) > 0, 1);
    stage_result_t r = rescale(src, (int[]){ 2, 1 }, 2, 2, want2, false);
    assert_int_equal(r.empty, 0);
    r = rescale(src, (int[]){ 2, 4 }, 2, 2, want2, false);
    assert_int_equal(r.empty, 2); /* subtasks 2 and 3 own no split: they end at once */
    rescale(src, (int[]){ 3, 2 }, 2, 2, want3, false);
    rescale(src, (int[]){ 2, 3, 1 }, 3, 1, want2, false);
    rescale(src, (int[]){ 2, 4, 3, 1 }, 4, 1, want2, false);
    free(want2);
    free(want3);
    spate_source_destroy(src);
}

static spate_source_t *nexmark(uint64_t events, spate_nexmark_stream_t which)
{
    spate_nexmark_options_t n;
    spate_nexmark_options_init(&n);
    n.events_num = events;
    n.base_time_ms = 1700000000000;
    spate_source_t *src = spate_nexmark_source(&n, which);
    assert_non_null(src);
    return src;
}

static void nexmark_splits_follow_the_parallelism(void **state)
{
    (void)state;
    spate_nexmark_stream_t streams[] = { SPATE_NEXMARK_ALL, SPATE_NEXMARK_BIDS, SPATE_NEXMARK_PERSONS };
    uint64_t events[] = { 12000, 12000, 400000 }; /* persons: 2 % of the events */
    for (int k = 0; k < 3; k++) {
        spate_source_t *src = nexmark(events[k], streams[k]);
        char *want2 = uninterrupted(src, 2), *want3 = uninterrupted(src, 3);
        stage_result_t r = rescale(src, (int[]){ 2, 1 }, 2, 2, want2, true);
        assert_int_equal(r.empty, 0);
        r = rescale(src, (int[]){ 2, 4 }, 2, 2, want2, true);
        assert_int_equal(r.empty, 2);
        assert_int_equal(r.idle, 0); /* bounded: they end */
        rescale(src, (int[]){ 3, 2 }, 2, 1, want3, true);
        rescale(src, (int[]){ 2, 3, 1 }, 3, 1, want2, true);
        free(want2);
        free(want3);
        spate_source_destroy(src);
    }
}

static int by_text(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The lines of t (modified in place), sorted. */
static char **sorted_lines(char *t, size_t *n)
{
    size_t cap = 1024;
    char **v = malloc(sizeof *v * cap);
    *n = 0;
    for (char *line = t, *end; line && *line; line = end ? end + 1 : NULL) {
        end = strchr(line, '\n');
        if (end) *end = 0;
        if (*n == cap) v = realloc(v, sizeof *v * (cap *= 2));
        v[(*n)++] = line;
    }
    qsort(v, *n, sizeof *v, by_text);
    return v;
}

/* Every line of `part` is a line of `all`, each used at most once (multisets). */
static void assert_sub_multiset(char *part, char *all)
{
    size_t np, na, j = 0;
    char **p = sorted_lines(part, &np), **a = sorted_lines(all, &na);
    for (size_t i = 0; i < np; i++) {
        while (j < na && strcmp(a[j], p[i]) < 0) j++;
        if (j == na || strcmp(a[j], p[i]) != 0) print_message("row not in the uninterrupted run: %s\n", p[i]);
        assert_true(j < na && strcmp(a[j], p[i]) == 0);
        j++;
    }
    free(p);
    free(a);
}

/* Unbounded: a reader without splits is idle and emits nothing; its (empty) position restores
 * with the others, and every row read over the three stages is one of the uninterrupted run's,
 * none twice. */
static void check_unbounded(const spate_source_t *src, bool ordered)
{
    text_t t = { 0 }, u = { 0 };
    positions_t a = { 0 }, b = { 0 }, c = { 0 };
    stage(src, 2, NULL, 2, &t, &a, ordered);
    size_t first = t.len;
    stage_result_t r = stage(src, 4, &a, 2, &t, &b, ordered);
    assert_int_equal(r.idle, 2);
    assert_int_equal(r.empty, 2);
    assert_int_equal(r.ended, 0);
    assert_true(t.len > first);
    r = stage(src, 1, &b, 2, &t, &c, ordered); /* back to one reader of both splits */
    assert_int_equal(r.idle, 0);
    assert_int_equal(r.empty, 0);
    stage(src, 2, NULL, 7, &u, NULL, ordered); /* covers the 2 + 2 + 2 polls' rows of each split */
    assert_sub_multiset(t.s, u.s);
    free(t.s);
    free(u.s);
    positions_free(&a);
    positions_free(&b);
    positions_free(&c);
}

static void unbounded_readers_without_splits_are_idle(void **state)
{
    (void)state;
    spate_source_t *src = nexmark(0, SPATE_NEXMARK_BIDS);
    check_unbounded(src, true);
    spate_source_destroy(src);
    spate_schema_t *schema = spate_schema_of("r INT, s STRING");
    src = spate_datagen_source(schema, NULL); /* random only: unbounded */
    spate_schema_release(schema);
    check_unbounded(src, false);
    spate_source_destroy(src);
}

static int restore_bytes(const spate_source_t *src, const uint8_t *const *b, const size_t *len, int n,
                         sp_error_t *err)
{
    *err = (sp_error_t){ 0 };
    spate_collector_t out;
    tu_got_t g = { 0 };
    sp_collector_init(&out, src->schema, 0, collect, &g, err);
    sp_source_ctx_t ctx = { { src->vt->kind, 0, 1, 128, 0 }, &out, err }; /* owns every split */
    void *reader = NULL;
    assert_int_equal(src->vt->open(src->spec, &ctx, &reader), SPATE_OK);
    int rc = src->vt->restore_splits(reader, b, len, n, err);
    src->vt->close(reader);
    sp_collector_fini(&out);
    tu_got_free(&g);
    return rc;
}

static void bad_split_positions_fail(void **state)
{
    (void)state;
    spate_source_t *nx = nexmark(1000, SPATE_NEXMARK_BIDS);
    size_t len[3];
    uint8_t *b[3];
    sp_error_t err = { 0 };
    /* split 1 of 2 missing */
    b[0] = sp_source_splits_encode(SP_POS_NEXMARK, 2, (uint64_t[]){ 0, 5 }, 1, 1, &len[0]);
    b[1] = sp_source_splits_encode(SP_POS_NEXMARK, 2, NULL, 0, 1, &len[1]);
    assert_int_equal(restore_bytes(nx, (const uint8_t *const *)b, len, 2, &err), SPATE_EPARSE);
    assert_non_null(strstr(err.message, "no position for split 1 of 2"));
    assert_non_null(strstr(err.message, "nexmark source"));
    free(b[1]);
    /* split 0 twice */
    b[1] = sp_source_splits_encode(SP_POS_NEXMARK, 2, (uint64_t[]){ 0, 7, 1, 3 }, 2, 1, &len[1]);
    assert_int_equal(restore_bytes(nx, (const uint8_t *const *)b, len, 2, &err), SPATE_EPARSE);
    assert_non_null(strstr(err.message, "split 0 given twice"));
    free(b[1]);
    /* split counts differ */
    b[1] = sp_source_splits_encode(SP_POS_NEXMARK, 3, (uint64_t[]){ 1, 7 }, 1, 1, &len[1]);
    assert_int_equal(restore_bytes(nx, (const uint8_t *const *)b, len, 2, &err), SPATE_EPARSE);
    assert_non_null(strstr(err.message, "split counts differ"));
    free(b[1]);
    /* split index past the count */
    b[1] = sp_source_splits_encode(SP_POS_NEXMARK, 2, (uint64_t[]){ 2, 7 }, 1, 1, &len[1]);
    assert_int_equal(restore_bytes(nx, (const uint8_t *const *)b, len, 2, &err), SPATE_EPARSE);
    assert_non_null(strstr(err.message, "split 2 of 2"));
    free(b[1]);
    /* truncated, another kind, an unknown version, a position past the split */
    b[1] = sp_source_splits_encode(SP_POS_NEXMARK, 2, (uint64_t[]){ 1, 7 }, 1, 1, &len[1]);
    len[1] -= 3;
    assert_int_equal(restore_bytes(nx, (const uint8_t *const *)b, len, 2, &err), SPATE_EPARSE);
    assert_non_null(strstr(err.message, "bad checkpointed position"));
    len[1] += 3;
    b[1][1] = SP_POS_DATAGEN;
    assert_int_equal(restore_bytes(nx, (const uint8_t *const *)b, len, 2, &err), SPATE_EPARSE);
    b[1][1] = SP_POS_NEXMARK;
    b[1][0] = 9;
    assert_int_equal(restore_bytes(nx, (const uint8_t *const *)b, len, 2, &err), SPATE_EPARSE);
    free(b[1]);
    b[1] = sp_source_splits_encode(SP_POS_NEXMARK, 2, (uint64_t[]){ 1, 999999 }, 1, 1, &len[1]);
    assert_int_equal(restore_bytes(nx, (const uint8_t *const *)b, len, 2, &err), SPATE_EPARSE);
    assert_non_null(strstr(err.message, "past the split"));
    free(b[1]);
    /* version 1 positions (one per old subtask) still restore */
    free(b[0]);
    b[0] = sp_source_pos_encode(SP_POS_NEXMARK, (uint64_t[]){ 5 }, 1, &len[0]);
    b[1] = sp_source_pos_encode(SP_POS_NEXMARK, (uint64_t[]){ 6 }, 1, &len[1]);
    assert_int_equal(restore_bytes(nx, (const uint8_t *const *)b, len, 2, &err), SPATE_OK);
    free(b[0]);
    free(b[1]);
    spate_source_destroy(nx);

    spate_source_t *dg = datagen(100);
    /* rows left + made must be the split's share (50 each of 100 at 2) */
    b[0] =
        sp_source_splits_encode(SP_POS_DATAGEN, 2, (uint64_t[]){ 0, 1, 10, 40, 1, 1, 20, 30 }, 2, 3, &len[0]);
    assert_int_equal(restore_bytes(dg, (const uint8_t *const *)b, len, 1, &err), SPATE_OK);
    free(b[0]);
    b[0] =
        sp_source_splits_encode(SP_POS_DATAGEN, 2, (uint64_t[]){ 0, 1, 10, 40, 1, 1, 20, 31 }, 2, 3, &len[0]);
    assert_int_equal(restore_bytes(dg, (const uint8_t *const *)b, len, 1, &err), SPATE_EPARSE);
    assert_non_null(strstr(err.message, "datagen source"));
    assert_non_null(strstr(err.message, "split 1 of 2"));
    free(b[0]);
    spate_source_destroy(dg);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(datagen_splits_follow_the_parallelism),
    cmocka_unit_test(nexmark_splits_follow_the_parallelism),
    cmocka_unit_test(unbounded_readers_without_splits_are_idle),
    cmocka_unit_test(bad_split_positions_fail),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "connectors_source_splits");
}
