/* test_collection.c — spate_collection_source: rows, values, NULLs, quoting, errors naming the row. */
#include "connectors/connector.h"

#include "test_main.h"

#include <stdio.h>
#include <string.h>

/* ---- harness: drive a source the way the runtime does ---- */

typedef struct got {
    sp_batch_t **b;
    size_t n, rows;
    int polls;
    uint32_t max_batch;
} got_t;

static int collect(void *target, sp_batch_t *b)
{
    got_t *g = target;
    g->b = sp_xrealloc(g->b, (g->n + 1) * sizeof *g->b);
    g->b[g->n++] = b;
    g->rows += b->count;
    if (b->count > g->max_batch) g->max_batch = b->count;
    return SPATE_OK;
}

static void got_free(got_t *g)
{
    for (size_t i = 0; i < g->n; i++) sp_batch_release(g->b[i]);
    free(g->b);
    memset(g, 0, sizeof *g);
}

static spate_row_t row_at(const got_t *g, size_t i)
{
    for (size_t k = 0; k < g->n; k++) {
        if (i < g->b[k]->count) {
            spate_row_t r = { g->b[k], (uint32_t)i };
            return r;
        }
        i -= g->b[k]->count;
    }
    fail_msg("row %zu out of range", i);
    spate_row_t none = { NULL, 0 };
    return none;
}

/* Opens, polls to the end (flushing after every poll), closes.  Returns the final status. */
static int drain(const spate_source_t *src, got_t *g, sp_error_t *err)
{
    spate_collector_t out;
    sp_collector_init(&out, src->schema, 0, collect, g, err);
    sp_source_ctx_t ctx = { { "src", 0, 1, 128, 0 }, &out, err };
    void *reader = NULL;
    int rc = src->vt->open(src->spec, &ctx, &reader);
    while (rc == SPATE_OK) {
        int64_t wait = 0;
        int flow = src->vt->poll(reader, &ctx, &wait);
        g->polls++;
        if (flow < 0) {
            rc = flow;
            break;
        }
        assert_int_equal(sp_collector_flush(&out), SPATE_OK);
        if (flow == SP_FLOW_END) break;
    }
    if (reader) src->vt->close(reader);
    sp_collector_fini(&out);
    return rc;
}

static void assert_str(spate_str_t s, const char *want)
{
    if (s.len != strlen(want) || memcmp(s.ptr, want, s.len) != 0)
        fail_msg("got \"%.*s\", want \"%s\"", (int)s.len, s.ptr, want);
}

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
    got_t g = { 0 };
    sp_error_t err = { 0 };
    assert_int_equal(drain(src, &g, &err), SPATE_OK);
    assert_int_equal(g.rows, 5);

    spate_row_t r = row_at(&g, 0);
    assert_int_equal(spate_row_get_int(&r, 0), 1);
    assert_str(spate_row_get_string(&r, 1), "apple");
    assert_true(spate_row_get_double(&r, 2) == 1.5);
    assert_true(spate_row_get_boolean(&r, 3));
    assert_int_equal(spate_row_get_date(&r, 4), 19753);
    assert_int_equal(spate_row_kind(&r), SPATE_INSERT);
    assert_true(spate_row_event_time(&r) == SPATE_NO_TIMESTAMP);

    r = row_at(&g, 1);
    assert_str(spate_row_get_string(&r, 1), "b, \"quoted\"");
    assert_false(spate_row_get_boolean(&r, 3));
    assert_true(spate_row_is_null(&r, 4));

    r = row_at(&g, 2);
    assert_int_equal(spate_row_get_int(&r, 0), 3);
    for (int f = 1; f <= 3; f++) assert_true(spate_row_is_null(&r, f));
    assert_int_equal(spate_row_get_date(&r, 4), 0);

    r = row_at(&g, 3);
    assert_false(spate_row_is_null(&r, 1)); /* "" is the empty string, not NULL */
    assert_int_equal(spate_row_get_string(&r, 1).len, 0);
    assert_true(spate_row_get_boolean(&r, 3));
    assert_int_equal(spate_row_get_date(&r, 4), 11016);

    r = row_at(&g, 4);
    assert_str(spate_row_get_string(&r, 1), "two\nlines");
    assert_true(spate_row_get_double(&r, 2) == -1000.0);
    assert_int_equal(spate_row_get_date(&r, 4), -1);

    got_free(&g);
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
        got_t g = { 0 };
        sp_error_t err = { 0 };
        assert_int_equal(drain(src, &g, &err), SPATE_OK);
        assert_int_equal(g.rows, N);
        assert_true(g.max_batch <= SP_BATCH_CAPACITY);
        assert_true(g.polls >= 3); /* at most one batch per poll */
        for (int i = 0; i < N; i++) {
            spate_row_t r = row_at(&g, (size_t)i);
            assert_int_equal(spate_row_get_bigint(&r, 0), i);
            char want[32];
            snprintf(want, sizeof want, "row%d", i);
            assert_str(spate_row_get_string(&r, 1), want);
        }
        got_free(&g);
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
    got_t g = { 0 };
    sp_error_t err = { 0 };
    assert_int_equal(drain(src, &g, &err), SPATE_OK);
    assert_int_equal(g.rows, 0);
    assert_int_equal(g.polls, 1);
    got_free(&g);
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
