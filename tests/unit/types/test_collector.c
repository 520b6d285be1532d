/*
 * test_collector.c — zero-copy pass-through of strings in the collector:
 * a 1:1 copy of a string field borrows the input column; every way of
 * breaking the pattern materialises the rows so far, with the same values.
 */
#include "test_main.h"

#include <stdio.h>
#include <string.h>

#include "types/types.h"

typedef struct got {
    sp_batch_t *b[8];
    int n;
} got_t;

static int keep(void *target, sp_batch_t *b)
{
    got_t *g = target;
    g->b[g->n++] = b;
    return SPATE_OK;
}

static spate_schema_t *schema;
static int64_t base;

static int setup(void **state)
{
    (void)state;
    base = sp_batch_live_bytes();
    schema = spate_schema_of("id BIGINT, a STRING, b STRING");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    spate_schema_release(schema);
    assert_int_equal(sp_batch_live_bytes(), base);
    return 0;
}

/* rows: id i, a = "a<i>" (NULL when i % null_every == null_every - 1), b = "" or "bb..." */
static sp_batch_t *input(int rows, int null_every)
{
    spate_collector_t c;
    got_t g = { .n = 0 };
    sp_collector_init(&c, schema, 1024, keep, &g, NULL);
    for (int i = 0; i < rows; i++) {
        char a[32];
        spate_out_set_bigint(&c, 0, i);
        if (null_every && i % null_every == null_every - 1)
            spate_out_set_null(&c, 1);
        else
            spate_out_set_string(&c, 1, a, (size_t)snprintf(a, sizeof a, "a%d", i));
        spate_out_set_string(&c, 2, "bbbbbbbbbbbb", (size_t)(i % 4) * 3);
        assert_int_equal(spate_out_emit(&c), SPATE_OK);
    }
    sp_collector_flush(&c);
    sp_collector_fini(&c);
    assert_int_equal(g.n, 1);
    return g.b[0];
}

/* Checks every value of out against in (same rows). */
static void same_rows(const sp_batch_t *out, const sp_batch_t *in, uint32_t rows)
{
    assert_int_equal(out->count, rows);
    for (uint32_t i = 0; i < rows; i++) {
        spate_row_t ro = { out, i }, ri = { in, i };
        assert_int_equal(spate_row_get_bigint(&ro, 0), spate_row_get_bigint(&ri, 0));
        for (int f = 1; f <= 2; f++) {
            assert_int_equal(spate_row_is_null(&ro, f), spate_row_is_null(&ri, f));
            if (spate_row_is_null(&ri, f)) continue;
            spate_str_t so = spate_row_get_string(&ro, f), si = spate_row_get_string(&ri, f);
            assert_int_equal(so.len, si.len);
            assert_memory_equal(so.ptr, si.ptr, si.len);
        }
    }
}

/* Copies rows of in through a collector; `breaker(i, c)` may disturb row i. Returns the output batch. */
static sp_batch_t *pass(sp_batch_t *in, int rows,
                        void (*breaker)(int i, spate_collector_t *c, sp_batch_t *in))
{
    spate_collector_t c;
    got_t g = { .n = 0 };
    sp_collector_init(&c, schema, 1024, keep, &g, NULL);
    for (int i = 0; i < rows; i++) {
        spate_row_t r = { in, (uint32_t)i };
        c.input = &r;
        spate_out_copy_field(&c, 0, &r, 0);
        spate_out_copy_field(&c, 1, &r, 1);
        spate_out_copy_field(&c, 2, &r, 2);
        if (breaker) breaker(i, &c, in);
        assert_int_equal(spate_out_emit(&c), SPATE_OK);
    }
    sp_collector_flush(&c);
    sp_collector_fini(&c);
    assert_int_equal(g.n, 1);
    return g.b[0];
}

static void one_to_one_copy_borrows_the_input_column(void **state)
{
    (void)state;
    sp_batch_t *in = input(300, 0);
    sp_batch_t *out = pass(in, 300, NULL);
    assert_ptr_equal(out->cols[1].data, in->cols[1].data); /* no copy */
    assert_ptr_equal(out->cols[2].values, in->cols[2].values);
    same_rows(out, in, 300);
    sp_batch_t *keep_in = sp_batch_acquire(in);
    sp_batch_release(in);
    sp_batch_release(keep_in); /* the caller's references are gone: out keeps in alive */
    spate_row_t r = { out, 299 };
    spate_str_t s = spate_row_get_string(&r, 1);
    assert_int_equal(s.len, 4);
    assert_memory_equal(s.ptr, "a299", 4);
    sp_batch_release(out);
}

static void set_string_mid_batch(int i, spate_collector_t *c, sp_batch_t *in)
{
    (void)in;
    if (i == 5) spate_out_set_string(c, 1, "a5", 2); /* same value, but set: must materialise */
}

static void pattern_breaks_materialise_the_rows_so_far(void **state)
{
    (void)state;
    sp_batch_t *in = input(100, 0);
    sp_batch_t *out = pass(in, 100, set_string_mid_batch);
    assert_ptr_not_equal(out->cols[1].data, in->cols[1].data);
    assert_ptr_equal(out->cols[2].data, in->cols[2].data); /* the other column still passes through */
    same_rows(out, in, 100);
    sp_batch_release(out);
    sp_batch_release(in);

    /* NULL values in the input: set_null breaks the pattern for that column */
    in = input(100, 7);
    out = pass(in, 100, NULL);
    same_rows(out, in, 100);
    sp_batch_release(out);
    sp_batch_release(in);
}

static void two_rows_per_input_row(void **state)
{
    (void)state;
    sp_batch_t *in = input(50, 0);
    spate_collector_t c;
    got_t g = { .n = 0 };
    sp_collector_init(&c, schema, 1024, keep, &g, NULL);
    for (int i = 0; i < 50; i++) {
        spate_row_t r = { in, (uint32_t)i };
        for (int k = 0; k < 2; k++) {
            spate_out_copy_field(&c, 0, &r, 0);
            spate_out_copy_field(&c, 1, &r, 1);
            spate_out_copy_field(&c, 2, &r, 2);
            assert_int_equal(spate_out_emit(&c), SPATE_OK);
        }
    }
    sp_collector_flush(&c);
    sp_collector_fini(&c);
    sp_batch_t *out = g.b[0];
    assert_int_equal(out->count, 100);
    for (uint32_t i = 0; i < 100; i++) {
        spate_row_t ro = { out, i };
        char want[16];
        int n = snprintf(want, sizeof want, "a%u", i / 2);
        spate_str_t s = spate_row_get_string(&ro, 1);
        assert_int_equal(s.len, (size_t)n);
        assert_memory_equal(s.ptr, want, (size_t)n);
    }
    sp_batch_release(out);
    sp_batch_release(in);
}

static void emit_row_and_swapped_fields(void **state)
{
    (void)state;
    sp_batch_t *in = input(20, 0);
    spate_collector_t c;
    got_t g = { .n = 0 };
    sp_collector_init(&c, schema, 1024, keep, &g, NULL);
    for (int i = 0; i < 20; i++) {
        spate_row_t r = { in, (uint32_t)i };
        if (i < 10) { /* b <- a, a <- b: aliasing across fields */
            spate_out_copy_field(&c, 0, &r, 0);
            spate_out_copy_field(&c, 1, &r, 2);
            spate_out_copy_field(&c, 2, &r, 1);
            assert_int_equal(spate_out_emit(&c), SPATE_OK);
        } else {
            assert_int_equal(spate_out_emit_row(&c, &r), SPATE_OK);
        }
    }
    sp_collector_flush(&c);
    sp_collector_fini(&c);
    sp_batch_t *out = g.b[0];
    for (uint32_t i = 0; i < 20; i++) {
        spate_row_t ro = { out, i }, ri = { in, i };
        int fa = i < 10 ? 2 : 1, fb = i < 10 ? 1 : 2;
        spate_str_t a = spate_row_get_string(&ro, 1), b = spate_row_get_string(&ro, 2);
        spate_str_t wa = spate_row_get_string(&ri, fa), wb = spate_row_get_string(&ri, fb);
        assert_int_equal(a.len, wa.len);
        assert_memory_equal(a.ptr, wa.ptr, wa.len);
        assert_int_equal(b.len, wb.len);
        assert_memory_equal(b.ptr, wb.ptr, wb.len);
    }
    sp_batch_release(out);
    sp_batch_release(in);
}

/* A collector that outlives its input: rows from a second input batch continue the same output batch. */
static void input_released_before_the_pattern_breaks(void **state)
{
    (void)state;
    sp_batch_t *x = input(10, 0), *y = input(10, 0);
    spate_collector_t c;
    got_t g = { .n = 0 };
    sp_collector_init(&c, schema, 1024, keep, &g, NULL);
    for (int i = 0; i < 10; i++) {
        spate_row_t r = { x, (uint32_t)i };
        spate_out_copy_field(&c, 0, &r, 0);
        spate_out_copy_field(&c, 1, &r, 1);
        spate_out_copy_field(&c, 2, &r, 2);
        spate_out_emit(&c);
    }
    sp_batch_release(x); /* the caller is done with x; the collector must not depend on it */
    for (int i = 0; i < 10; i++) {
        spate_row_t r = { y, (uint32_t)i };
        spate_out_copy_field(&c, 0, &r, 0);
        spate_out_copy_field(&c, 1, &r, 1);
        spate_out_copy_field(&c, 2, &r, 2);
        spate_out_emit(&c);
    }
    sp_collector_flush(&c);
    sp_collector_fini(&c);
    sp_batch_t *out = g.b[0];
    assert_int_equal(out->count, 20);
    for (uint32_t i = 0; i < 20; i++) {
        spate_row_t ro = { out, i };
        char want[16];
        int n = snprintf(want, sizeof want, "a%u", i % 10);
        spate_str_t s = spate_row_get_string(&ro, 1);
        assert_int_equal(s.len, (size_t)n);
        assert_memory_equal(s.ptr, want, (size_t)n);
    }
    sp_batch_release(out);
    sp_batch_release(y);
}

/* The last of set_null / a setter on the same field in one row wins; NOT NULL refuses NULL. */
static void last_set_wins_and_not_null_refuses_null(void **state)
{
    (void)state;
    spate_schema_t *nn = spate_schema_of("a BIGINT NOT NULL, b BIGINT, c STRING");
    spate_collector_t c;
    got_t g = { .n = 0 };
    sp_error_t err = { 0 };
    sp_collector_init(&c, nn, 1024, keep, &g, &err);
    spate_out_set_bigint(&c, 0, 1);
    spate_out_set_null(&c, 1);
    spate_out_set_bigint(&c, 1, 42); /* value after NULL: the value */
    spate_out_set_string(&c, 2, "x", 1);
    spate_out_set_null(&c, 2); /* NULL after value: NULL */
    assert_int_equal(spate_out_emit(&c), SPATE_OK);
    spate_out_set_null(&c, 0);
    spate_out_set_bigint(&c, 1, 7);
    assert_int_equal(spate_out_emit(&c), SPATE_EINVAL);
    assert_non_null(strstr(err.message, "field 'a' is NOT NULL but was set to NULL"));
    spate_out_set_bigint(&c, 0, 2); /* the refused row left nothing behind */
    assert_int_equal(spate_out_emit(&c), SPATE_OK);
    sp_collector_flush(&c);
    sp_collector_fini(&c);
    sp_batch_t *b = g.b[0];
    assert_int_equal(b->count, 2);
    spate_row_t r0 = { b, 0 }, r1 = { b, 1 };
    assert_false(spate_row_is_null(&r0, 1));
    assert_int_equal(spate_row_get_bigint(&r0, 1), 42);
    assert_true(spate_row_is_null(&r0, 2));
    assert_int_equal(spate_row_get_bigint(&r1, 0), 2);
    assert_true(spate_row_is_null(&r1, 1));
    assert_true(spate_row_is_null(&r1, 2));
    sp_batch_release(b);
    spate_schema_release(nn);
}

/* Schemas wider than 64 fields track fields 64.. apart (set_hi): values, NULLs, unset fields. */
static void wide_schemas_beyond_64_fields(void **state)
{
    (void)state;
    char ddl[4096], *p = ddl;
    for (int f = 0; f < 70; f++) p += sprintf(p, "%sf%d BIGINT", f ? ", " : "", f);
    spate_schema_t *wide = spate_schema_of(ddl);
    assert_non_null(wide);
    spate_collector_t c;
    got_t g = { .n = 0 };
    sp_collector_init(&c, wide, 1024, keep, &g, NULL);
    for (int row = 0; row < 3; row++) {
        for (int f = 0; f < 70; f++) {
            if (f % 7 == row) continue; /* unset: NULL */
            if (f % 5 == 0) {
                spate_out_set_null(&c, f);
                if (row == 1) spate_out_set_bigint(&c, f, 1000 + f); /* value after NULL wins */
            } else {
                spate_out_set_bigint(&c, f, row * 100 + f);
            }
        }
        assert_int_equal(spate_out_emit(&c), SPATE_OK);
    }
    sp_collector_flush(&c);
    sp_collector_fini(&c);
    sp_batch_t *b = g.b[0];
    for (uint32_t row = 0; row < 3; row++)
        for (int f = 0; f < 70; f++) {
            spate_row_t r = { b, row };
            if (f % 7 == (int)row || (f % 5 == 0 && row != 1)) {
                assert_true(spate_row_is_null(&r, f));
            } else {
                assert_false(spate_row_is_null(&r, f));
                assert_int_equal(spate_row_get_bigint(&r, f), f % 5 == 0 ? 1000 + f : (int64_t)row * 100 + f);
            }
        }
    sp_batch_release(b);
    spate_schema_release(wide);
}

/* A thread's batch cache hands back the batch it last released, and gives all back at the end. */
static void thread_batch_cache_reuses_on_the_same_thread(void **state)
{
    (void)state;
    sp_batch_cache_t cache;
    sp_batch_cache_begin(&cache);
    sp_batch_t *a = sp_batch_create(schema, 0);
    sp_batch_release(a);
    assert_int_equal(cache.n, 1);
    int pooled = schema->pool_len;
    sp_batch_t *b = sp_batch_create(schema, 0);
    assert_ptr_equal(a, b);
    assert_int_equal(b->count, 0);
    assert_int_equal(cache.n, 0);
    sp_batch_release(b);
    sp_batch_cache_end(&cache);
    assert_int_equal(schema->pool_len, pooled + 1); /* back in the schema's shared pool */
    sp_batch_t *c = sp_batch_create(schema, 0);     /* no cache installed: from the pool */
    assert_ptr_equal(c, a);
    sp_batch_release(c);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(wide_schemas_beyond_64_fields, setup, teardown),
    cmocka_unit_test_setup_teardown(thread_batch_cache_reuses_on_the_same_thread, setup, teardown),
    cmocka_unit_test_setup_teardown(last_set_wins_and_not_null_refuses_null, setup, teardown),
    cmocka_unit_test_setup_teardown(one_to_one_copy_borrows_the_input_column, setup, teardown),
    cmocka_unit_test_setup_teardown(pattern_breaks_materialise_the_rows_so_far, setup, teardown),
    cmocka_unit_test_setup_teardown(two_rows_per_input_row, setup, teardown),
    cmocka_unit_test_setup_teardown(emit_row_and_swapped_fields, setup, teardown),
    cmocka_unit_test_setup_teardown(input_released_before_the_pattern_breaks, setup, teardown),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "types_collector");
}
