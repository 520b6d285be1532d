/* test_datagen.c — spate_datagen_source: disjoint sequences and exact row counts across 1..4 subtasks,
 * value ranges for every type, determinism, rate limit. */
#include "connectors/connector.h"

#include "test_main.h"
#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- harness ---- */

/* Runs subtask `index` of `p` to the end (at most max_polls polls). Returns the status. */
static int run_subtask(const spate_source_t *src, int index, int p, tu_got_t *g, int max_polls)
{
    sp_error_t err = { 0 };
    tu_drain_opts_t o = { .subtask = index, .parallelism = p, .max_polls = max_polls };
    return tu_drain(src, &o, g, &err);
}

/* ---- cases ---- */

static void sequence_is_split_disjointly(void **state)
{
    (void)state;
    enum { START = 5, END = 10011, LEN = END - START + 1 };
    spate_schema_t *schema = spate_schema_of("id BIGINT NOT NULL, v INT");
    spate_datagen_field_t fields[2];
    spate_datagen_field_init(&fields[0]);
    spate_datagen_field_init(&fields[1]);
    fields[0].kind = SPATE_DATAGEN_SEQUENCE;
    fields[0].start = START;
    fields[0].end = END;
    spate_datagen_options_t o;
    spate_datagen_options_init(&o);
    o.fields = fields;
    spate_source_t *src = spate_datagen_source(schema, &o);
    assert_non_null(src);
    assert_true(src->bounded);
    assert_true(src->parallel);

    for (int p = 1; p <= 4; p++) {
        unsigned char *seen = calloc(LEN, 1);
        size_t total = 0;
        for (int i = 0; i < p; i++) {
            tu_got_t g = { 0 };
            assert_int_equal(run_subtask(src, i, p, &g, 100000), SPATE_OK);
            assert_true(g.max_batch <= SP_BATCH_CAPACITY);
            /* each subtask: a contiguous ascending range of LEN / p (+1) values */
            size_t share = LEN / p + ((size_t)i < LEN % p ? 1 : 0);
            assert_int_equal(g.rows, share);
            int64_t prev = 0;
            for (size_t k = 0; k < g.rows; k++) {
                spate_row_t r = tu_row_at(&g, k);
                int64_t id = spate_row_get_bigint(&r, 0);
                assert_true(id >= START && id <= END);
                if (k) assert_int_equal(id, prev + 1);
                prev = id;
                assert_int_equal(seen[id - START], 0);
                seen[id - START] = 1;
            }
            total += g.rows;
            tu_got_free(&g);
        }
        assert_int_equal(total, LEN);
        for (int k = 0; k < LEN; k++) assert_int_equal(seen[k], 1);
        free(seen);
    }
    spate_source_destroy(src);
    spate_schema_release(schema);
}

static void number_of_rows_is_exact_over_subtasks(void **state)
{
    (void)state;
    spate_schema_t *schema = spate_schema_of("a INT, b STRING, c DOUBLE");
    spate_datagen_options_t o;
    spate_datagen_options_init(&o);
    o.number_of_rows = 2501;
    spate_source_t *src = spate_datagen_source(schema, &o);
    assert_true(src->bounded);
    for (int p = 1; p <= 4; p++) {
        size_t total = 0;
        for (int i = 0; i < p; i++) {
            tu_got_t g = { 0 };
            assert_int_equal(run_subtask(src, i, p, &g, 100000), SPATE_OK);
            assert_int_equal(g.rows, 2501 / p + (i < 2501 % p ? 1 : 0));
            total += g.rows;
            tu_got_free(&g);
        }
        assert_int_equal(total, 2501);
    }
    spate_source_destroy(src);

    /* With a longer sequence, number_of_rows still bounds the total, and the values stay disjoint. */
    spate_datagen_field_t f[3] = { { 0 } };
    f[0].kind = SPATE_DATAGEN_SEQUENCE;
    f[0].start = 1;
    f[0].end = 1000000;
    o.fields = f;
    o.number_of_rows = 100;
    src = spate_datagen_source(schema, &o);
    int seen[1001] = { 0 };
    size_t total = 0;
    for (int i = 0; i < 3; i++) {
        tu_got_t g = { 0 };
        assert_int_equal(run_subtask(src, i, 3, &g, 1000), SPATE_OK);
        for (size_t k = 0; k < g.rows; k++) {
            spate_row_t r = tu_row_at(&g, k);
            int v = spate_row_get_int(&r, 0);
            assert_true(v >= 1 && v <= 1000000);
            if (v <= 1000) assert_int_equal(seen[v]++, 0);
        }
        total += g.rows;
        tu_got_free(&g);
    }
    assert_int_equal(total, 100);
    spate_source_destroy(src);
    spate_schema_release(schema);
}

static void more_subtasks_than_rows(void **state)
{
    (void)state;
    spate_schema_t *schema = spate_schema_of("a BIGINT");
    spate_datagen_field_t f = { 0 };
    f.kind = SPATE_DATAGEN_SEQUENCE;
    f.start = 7;
    f.end = 8; /* two values, four subtasks */
    spate_datagen_options_t o;
    spate_datagen_options_init(&o);
    o.fields = &f;
    spate_source_t *src = spate_datagen_source(schema, &o);
    size_t rows[4];
    for (int i = 0; i < 4; i++) {
        tu_got_t g = { 0 };
        assert_int_equal(run_subtask(src, i, 4, &g, 10), SPATE_OK);
        rows[i] = g.rows;
        if (g.rows) {
            spate_row_t r = tu_row_at(&g, 0);
            assert_int_equal(spate_row_get_bigint(&r, 0), 7 + i);
        }
        tu_got_free(&g);
    }
    assert_int_equal(rows[0], 1);
    assert_int_equal(rows[1], 1);
    assert_int_equal(rows[2], 0);
    assert_int_equal(rows[3], 0);
    spate_source_destroy(src);
    spate_schema_release(schema);
}

static void full_range_sequence(void **state)
{
    (void)state;
    spate_schema_t *schema = spate_schema_of("a BIGINT");
    spate_datagen_field_t f = { 0 };
    f.kind = SPATE_DATAGEN_SEQUENCE;
    f.start = INT64_MIN;
    f.end = INT64_MAX; /* 2^64 values: more than any run makes */
    spate_datagen_options_t o;
    spate_datagen_options_init(&o);
    o.fields = &f;
    spate_source_t *src = spate_datagen_source(schema, &o);
    assert_true(src->bounded);
    int64_t first[2];
    for (int i = 0; i < 2; i++) {
        tu_got_t g = { 0 };
        assert_int_equal(run_subtask(src, i, 2, &g, 2), SPATE_OK);
        assert_int_equal(g.rows, 2 * SP_BATCH_CAPACITY);
        spate_row_t r = tu_row_at(&g, 0);
        first[i] = spate_row_get_bigint(&r, 0);
        tu_got_free(&g);
    }
    assert_true(first[0] == INT64_MIN);
    assert_true(first[1] == 0); /* INT64_MIN + 2^63 */
    spate_source_destroy(src);
    spate_schema_release(schema);
}

static bool is_hex(spate_str_t s)
{
    for (size_t i = 0; i < s.len; i++)
        if (!strchr("0123456789abcdef", s.ptr[i])) return false;
    return true;
}

static void random_values_respect_bounds_for_every_type(void **state)
{
    (void)state;
    spate_schema_t *schema =
        spate_schema_of("b BOOLEAN NOT NULL, i INT NOT NULL, l BIGINT NOT NULL, "
                        "d DOUBLE NOT NULL, m DECIMAL(10,2) NOT NULL, s STRING NOT NULL, "
                        "y BYTES NOT NULL, dt DATE NOT NULL, ts TIMESTAMP(3) NOT NULL, "
                        "n INT, dd DATE, tt TIMESTAMP(3), w STRING");
    spate_datagen_field_t f[13];
    for (int k = 0; k < 13; k++) spate_datagen_field_init(&f[k]);
    f[1].min = -5, f[1].max = 5;
    f[2].min = 1e12, f[2].max = 1e12 + 10;
    f[3].min = 2.5, f[3].max = 3.5;
    f[4].min = -1.5, f[4].max = 1.5;
    f[5].length = 7;
    f[6].length = 13;
    f[7].min = 100, f[7].max = 102;
    f[8].min = 1700000000000.0, f[8].max = 1700000000999.0;
    f[9].min = 0, f[9].max = 3;
    f[9].null_rate = 0.5;
    f[12].length = 0; /* default 10 */
    spate_datagen_options_t o;
    spate_datagen_options_init(&o);
    o.fields = f;
    o.number_of_rows = 4000;
    o.seed = 42;
    spate_source_t *src = spate_datagen_source(schema, &o);
    assert_non_null(src);
    tu_got_t g = { 0 };
    int64_t before_ms = sp_clock_wall_ms();
    assert_int_equal(run_subtask(src, 0, 1, &g, 100), SPATE_OK);
    int64_t after_ms = sp_clock_wall_ms();
    assert_int_equal(g.rows, 4000);
    int trues = 0, nulls = 0, ints_seen[11] = { 0 };
    for (size_t k = 0; k < g.rows; k++) {
        spate_row_t r = tu_row_at(&g, k);
        for (int c = 0; c < 9; c++) assert_false(spate_row_is_null(&r, c));
        trues += spate_row_get_boolean(&r, 0);
        int32_t i = spate_row_get_int(&r, 1);
        assert_true(i >= -5 && i <= 5);
        ints_seen[i + 5]++;
        int64_t l = spate_row_get_bigint(&r, 2);
        assert_true(l >= 1000000000000 && l <= 1000000000010);
        double d = spate_row_get_double(&r, 3);
        assert_true(d >= 2.5 && d < 3.5);
        bool ok;
        int64_t m = spate_decimal_to_i64(spate_row_get_decimal(&r, 4), &ok);
        assert_true(ok && m >= -150 && m <= 150);
        spate_str_t s = spate_row_get_string(&r, 5);
        assert_int_equal(s.len, 7);
        assert_true(is_hex(s));
        assert_int_equal(spate_row_get_string(&r, 6).len, 13);
        int32_t dt = spate_row_get_date(&r, 7);
        assert_true(dt >= 100 && dt <= 102);
        int64_t ts = spate_row_get_timestamp(&r, 8);
        assert_true(ts >= 1700000000000 && ts <= 1700000000999);
        if (spate_row_is_null(&r, 9))
            nulls++;
        else
            assert_true(spate_row_get_int(&r, 9) >= 0 && spate_row_get_int(&r, 9) <= 3);
        /* DATE / TIMESTAMP without a range: today / now, as Flink */
        int64_t today = before_ms / 86400000;
        assert_true(spate_row_get_date(&r, 10) >= today && spate_row_get_date(&r, 10) <= after_ms / 86400000);
        assert_true(spate_row_get_timestamp(&r, 11) >= before_ms &&
                    spate_row_get_timestamp(&r, 11) <= after_ms);
        assert_int_equal(spate_row_get_string(&r, 12).len, 10);
    }
    assert_true(trues > 1600 && trues < 2400);
    assert_true(nulls > 1600 && nulls < 2400);
    for (int k = 0; k < 11; k++) assert_true(ints_seen[k] > 200); /* both bounds are reachable */
    tu_got_free(&g);
    spate_source_destroy(src);
    spate_schema_release(schema);
}

static void sequences_of_every_type(void **state)
{
    (void)state;
    spate_schema_t *schema =
        spate_schema_of("i INT, d DOUBLE, m DECIMAL(6,2), s STRING, y BYTES, dt DATE, ts TIMESTAMP(3)");
    spate_datagen_field_t f[7] = { { 0 } };
    for (int k = 0; k < 7; k++) {
        f[k].kind = SPATE_DATAGEN_SEQUENCE;
        f[k].start = -3;
        f[k].end = 9996;
    }
    spate_datagen_options_t o;
    spate_datagen_options_init(&o);
    o.fields = f;
    spate_source_t *src = spate_datagen_source(schema, &o);
    assert_non_null(src);
    tu_got_t g = { 0 };
    assert_int_equal(run_subtask(src, 1, 2, &g, 100), SPATE_OK); /* second half: 4997 .. 9996 */
    assert_int_equal(g.rows, 5000);
    for (size_t k = 0; k < g.rows; k += 499) {
        spate_row_t r = tu_row_at(&g, k);
        int64_t v = 4997 + (int64_t)k;
        assert_int_equal(spate_row_get_int(&r, 0), v);
        assert_true(spate_row_get_double(&r, 1) == (double)v);
        assert_int_equal(spate_decimal_to_i64(spate_row_get_decimal(&r, 2), NULL), v * 100);
        char text[32];
        snprintf(text, sizeof text, "%lld", (long long)v);
        spate_str_t s = spate_row_get_string(&r, 3);
        assert_int_equal(s.len, strlen(text));
        assert_memory_equal(s.ptr, text, s.len);
        assert_int_equal(spate_row_get_string(&r, 4).len, strlen(text));
        assert_int_equal(spate_row_get_date(&r, 5), v);
        assert_int_equal(spate_row_get_timestamp(&r, 6), v);
    }
    tu_got_free(&g);
    spate_source_destroy(src);
    spate_schema_release(schema);
}

/* Formats all rows of a subtask as CSV text (for comparing runs). */
static char *run_as_text(const spate_source_t *src, int index, int p)
{
    tu_got_t g = { 0 };
    assert_int_equal(run_subtask(src, index, p, &g, 100), SPATE_OK);
    size_t cap = 1 << 20, len = 0;
    char *out = malloc(cap);
    for (size_t k = 0; k < g.rows; k++) {
        spate_row_t r = tu_row_at(&g, k);
        len += spate_row_format(&r, out + len, cap - len);
        assert_true(len + 1 < cap);
        out[len++] = '\n';
    }
    out[len] = '\0';
    tu_got_free(&g);
    return out;
}

static void deterministic_per_seed_and_subtask(void **state)
{
    (void)state;
    spate_schema_t *schema = spate_schema_of("a INT, b STRING, c DOUBLE, d BOOLEAN, e DECIMAL(12,3)");
    spate_datagen_options_t o;
    spate_datagen_options_init(&o);
    o.number_of_rows = 600;
    o.seed = 7;
    spate_source_t *a = spate_datagen_source(schema, &o);
    spate_source_t *b = spate_datagen_source(schema, &o);
    o.seed = 8;
    spate_source_t *c = spate_datagen_source(schema, &o);
    char *a0 = run_as_text(a, 0, 2), *b0 = run_as_text(b, 0, 2), *a1 = run_as_text(a, 1, 2);
    char *c0 = run_as_text(c, 0, 2), *a0again = run_as_text(a, 0, 2);
    assert_string_equal(a0, b0);      /* same seed, same subtask: same rows */
    assert_string_equal(a0, a0again); /* and on a rerun */
    assert_string_not_equal(a0, a1);  /* subtasks differ */
    assert_string_not_equal(a0, c0);  /* seeds differ */
    free(a0), free(b0), free(a1), free(c0), free(a0again);
    spate_source_destroy(a);
    spate_source_destroy(b);
    spate_source_destroy(c);
    spate_schema_release(schema);
}

static void unbounded_without_limits(void **state)
{
    (void)state;
    spate_schema_t *schema = spate_schema_of("a BIGINT");
    spate_source_t *src = spate_datagen_source(schema, NULL);
    assert_non_null(src);
    assert_false(src->bounded);
    tu_got_t g = { 0 };
    assert_int_equal(run_subtask(src, 0, 1, &g, 20), SPATE_OK); /* stops after 20 polls, not by END */
    assert_int_equal(g.rows, 20 * SP_BATCH_CAPACITY);
    tu_got_free(&g);
    spate_source_destroy(src);
    spate_schema_release(schema);
}

static void rate_limit_is_split_and_yields_idle(void **state)
{
    (void)state;
    spate_schema_t *schema = spate_schema_of("a BIGINT");
    spate_datagen_options_t o;
    spate_datagen_options_init(&o);
    o.rows_per_second = 100; /* two subtasks: 50 rows/s each */
    spate_source_t *src = spate_datagen_source(schema, &o);
    tu_got_t g = { 0 };
    sp_error_t err = { 0 };
    tu_drain_opts_t run = { .subtask = 1, .parallelism = 2, .max_ms = 400 };
    assert_int_equal(tu_drain(src, &run, &g, &err), SPATE_OK);
    assert_false(g.ended); /* every poll was MORE or IDLE */
    double secs = (double)g.elapsed_ns / 1e9;
    assert_true(g.idle > 0);
    assert_true(g.min_wait_ms >= 1 && g.max_wait_ms <= 100);
    assert_true(g.rows >= 10);
    assert_true((double)g.rows <= 50 * secs + 2);
    tu_got_free(&g);
    spate_source_destroy(src);
    spate_schema_release(schema);
}

static void constructor_rejects_bad_fields(void **state)
{
    (void)state;
    spate_schema_t *schema = spate_schema_of("b BOOLEAN, i INT NOT NULL");
    spate_datagen_field_t f[2] = { { 0 } };
    spate_datagen_options_t o;
    spate_datagen_options_init(&o);
    o.fields = f;

    f[0].kind = SPATE_DATAGEN_SEQUENCE;
    assert_null(spate_datagen_source(schema, &o));
    assert_non_null(strstr(spate_last_error(), "'b'"));
    f[0].kind = SPATE_DATAGEN_RANDOM;

    f[1].kind = SPATE_DATAGEN_SEQUENCE;
    f[1].start = 10;
    f[1].end = 1;
    assert_null(spate_datagen_source(schema, &o));
    assert_non_null(strstr(spate_last_error(), "start 10 > end 1"));
    f[1].start = 0;
    f[1].end = 3000000000;
    assert_null(spate_datagen_source(schema, &o));
    assert_non_null(strstr(spate_last_error(), "range of INT"));

    f[1].kind = SPATE_DATAGEN_RANDOM;
    f[1].null_rate = 0.1;
    assert_null(spate_datagen_source(schema, &o));
    assert_non_null(strstr(spate_last_error(), "NOT NULL"));
    f[1].null_rate = 0;
    f[1].min = 5;
    f[1].max = 1;
    assert_null(spate_datagen_source(schema, &o));
    f[1].min = 0.2;
    f[1].max = 0.8; /* no integer inside */
    assert_null(spate_datagen_source(schema, &o));
    o.number_of_rows = -1;
    f[1].min = f[1].max = 0;
    assert_null(spate_datagen_source(schema, &o));
    spate_schema_release(schema);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(sequence_is_split_disjointly),
    cmocka_unit_test(number_of_rows_is_exact_over_subtasks),
    cmocka_unit_test(more_subtasks_than_rows),
    cmocka_unit_test(full_range_sequence),
    cmocka_unit_test(random_values_respect_bounds_for_every_type),
    cmocka_unit_test(sequences_of_every_type),
    cmocka_unit_test(deterministic_per_seed_and_subtask),
    cmocka_unit_test(unbounded_without_limits),
    cmocka_unit_test(rate_limit_is_split_and_yields_idle),
    cmocka_unit_test(constructor_rejects_bad_fields),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "connectors_datagen");
}
