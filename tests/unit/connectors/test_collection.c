/* test_collection.c — spate_collection_source: rows, values, NULLs, quoting, errors naming the row. */
#include "connectors/connector.h"

#include "test_main.h"
#include "test_util.h"

#include <stdio.h>
#include <string.h>

/* ---- cases ---- */

static void reads_rows_and_values(void **state)
{
    (void)state;
    spate_schema_t *schema = spate_schema_of("id INT, name STRING, price DOUBLE, ok BOOLEAN, d DATE");
    const char *rows[] = {
        "1,apple,1.5,true,2024-01-31",  "2,\"b, \"\"quoted\"\"\",2.25,false,",    "3,,,,1970-01-01",
        "4,\"\",0,TRUE,2000-02-29\r\n", "5,\"two\nlines\",-1e3,false,1969-12-31",
    };
    spate_source_t *src = spate_collection_source(schema, rows, 5);
    assert_non_null(src);
    assert_true(src->bounded);
    assert_false(src->parallel);
    tu_got_t g = { 0 };
    sp_error_t err = { 0 };
    assert_int_equal(tu_drain(src, NULL, &g, &err), SPATE_OK);
    assert_int_equal(g.rows, 5);

    spate_row_t r = tu_row_at(&g, 0);
    assert_int_equal(spate_row_get_int(&r, 0), 1);
    tu_assert_str(spate_row_get_string(&r, 1), "apple");
    assert_true(spate_row_get_double(&r, 2) == 1.5);
    assert_true(spate_row_get_boolean(&r, 3));
    assert_int_equal(spate_row_get_date(&r, 4), 19753);
    assert_int_equal(spate_row_kind(&r), SPATE_INSERT);
    assert_true(spate_row_event_time(&r) == SPATE_NO_TIMESTAMP);

    r = tu_row_at(&g, 1);
    tu_assert_str(spate_row_get_string(&r, 1), "b, \"quoted\"");
    assert_false(spate_row_get_boolean(&r, 3));
    assert_true(spate_row_is_null(&r, 4));

    r = tu_row_at(&g, 2);
    assert_int_equal(spate_row_get_int(&r, 0), 3);
    for (int f = 1; f <= 3; f++) assert_true(spate_row_is_null(&r, f));
    assert_int_equal(spate_row_get_date(&r, 4), 0);

    r = tu_row_at(&g, 3);
    assert_false(spate_row_is_null(&r, 1)); /* "" is the empty string, not NULL */
    assert_int_equal(spate_row_get_string(&r, 1).len, 0);
    assert_true(spate_row_get_boolean(&r, 3));
    assert_int_equal(spate_row_get_date(&r, 4), 11016);

    r = tu_row_at(&g, 4);
    tu_assert_str(spate_row_get_string(&r, 1), "two\nlines");
    assert_true(spate_row_get_double(&r, 2) == -1000.0);
    assert_int_equal(spate_row_get_date(&r, 4), -1);

    tu_got_free(&g);
    spate_source_destroy(src);
    spate_schema_release(schema);
}

static void bad_value_names_row_number(void **state)
{
    (void)state;
    spate_schema_t *schema = spate_schema_of("id INT, name STRING");
    const char *rows[] = { "1,a", "2,b", "x3,c", "4,d" };
    sp_clear_error();
    assert_null(spate_collection_source(schema, rows, 4));
    const char *e = spate_last_error();
    assert_non_null(strstr(e, "row 3"));
    assert_non_null(strstr(e, "'id'"));
    assert_non_null(strstr(e, "x3"));
    spate_schema_release(schema);
}

static void wrong_field_count_names_row_number(void **state)
{
    (void)state;
    spate_schema_t *schema = spate_schema_of("id INT, name STRING");
    const char *rows[] = { "1,a", "2,b,extra" };
    assert_null(spate_collection_source(schema, rows, 2));
    assert_non_null(strstr(spate_last_error(), "row 2"));
    assert_non_null(strstr(spate_last_error(), "expected 2 fields, found 3"));
    const char *rows2[] = { "1" };
    assert_null(spate_collection_source(schema, rows2, 1));
    assert_non_null(strstr(spate_last_error(), "row 1: expected 2 fields, found 1"));
    spate_schema_release(schema);
}

static void malformed_quotes_and_not_null(void **state)
{
    (void)state;
    spate_schema_t *schema = spate_schema_of("id INT NOT NULL, name STRING");
    const char *unterminated[] = { "1,\"abc" };
    assert_null(spate_collection_source(schema, unterminated, 1));
    assert_non_null(strstr(spate_last_error(), "row 1: unterminated quoted field"));
    const char *after_quote[] = { "1,a", "2,\"ab\"c" };
    assert_null(spate_collection_source(schema, after_quote, 2));
    assert_non_null(strstr(spate_last_error(), "row 2"));
    const char *null_id[] = { ",a" };
    assert_null(spate_collection_source(schema, null_id, 1));
    assert_non_null(strstr(spate_last_error(), "row 1: field 'id' is NOT NULL"));
    spate_schema_release(schema);
}

static void many_rows_in_bounded_polls(void **state)
{
    (void)state;
    enum { N = 2500 };
    spate_schema_t *schema = spate_schema_of("n BIGINT, s STRING");
    char **text = calloc(N, sizeof *text);
    for (int i = 0; i < N; i++) text[i] = sp_xasprintf("%d,row%d", i, i);
    spate_source_t *src = spate_collection_source(schema, (const char *const *)text, N);
    for (int i = 0; i < N; i++) free(text[i]);
    free(text);
    assert_non_null(src);

    /* Read twice: a restarted job re-reads the same rows. */
    for (int round = 0; round < 2; round++) {
        tu_got_t g = { 0 };
        sp_error_t err = { 0 };
        assert_int_equal(tu_drain(src, NULL, &g, &err), SPATE_OK);
        assert_int_equal(g.rows, N);
        assert_true(g.max_batch <= SP_BATCH_CAPACITY);
        assert_true(g.polls >= 3); /* at most one batch per poll */
        for (int i = 0; i < N; i++) {
            spate_row_t r = tu_row_at(&g, (size_t)i);
            assert_int_equal(spate_row_get_bigint(&r, 0), i);
            char want[32];
            snprintf(want, sizeof want, "row%d", i);
            tu_assert_str(spate_row_get_string(&r, 1), want);
        }
        tu_got_free(&g);
    }
    spate_source_destroy(src);
    spate_schema_release(schema);
}

static void empty_collection_ends_at_once(void **state)
{
    (void)state;
    spate_schema_t *schema = spate_schema_of("n BIGINT");
    spate_source_t *src = spate_collection_source(schema, NULL, 0);
    assert_non_null(src);
    tu_got_t g = { 0 };
    sp_error_t err = { 0 };
    assert_int_equal(tu_drain(src, NULL, &g, &err), SPATE_OK);
    assert_int_equal(g.rows, 0);
    assert_int_equal(g.polls, 1);
    tu_got_free(&g);
    spate_source_destroy(src);
    spate_schema_release(schema);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(reads_rows_and_values),
    cmocka_unit_test(bad_value_names_row_number),
    cmocka_unit_test(wrong_field_count_names_row_number),
    cmocka_unit_test(malformed_quotes_and_not_null),
    cmocka_unit_test(many_rows_in_bounded_polls),
    cmocka_unit_test(empty_collection_ends_at_once),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "connectors_collection");
}
