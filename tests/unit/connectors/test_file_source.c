/* test_file_source.c — text and CSV file sources: rows read, quoting, error messages with path and line,
 * skip counts, rate limit, event time. */
#include "connectors/connector.h"

#include "test_main.h"
#include "test_util.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ---- harness ---- */

static void assert_contains(const char *s, const char *want)
{
    if (!strstr(s, want)) fail_msg("\"%s\" does not contain \"%s\"", s, want);
}

/* Writes `len` bytes to dir/name; returns the path (caller frees). */
static char *write_file(void **state, const char *name, const char *data, size_t len)
{
    const char *tmp = *state;
    char *path = sp_xasprintf("%s/%s", tmp, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
    return path;
}

/* ---- text source ---- */

static void text_lines_without_terminators(void **state)
{
    const char data[] = "first\r\nsecond\n\nfourth, with \"quotes\"\nlast without newline";
    char *path = write_file(state, "a.txt", data, sizeof data - 1);
    spate_source_t *src = spate_file_text_source(path);
    assert_non_null(src);
    assert_int_equal(spate_schema_field_count(src->schema), 1);
    assert_string_equal(spate_schema_field_name(src->schema, 0), "line");
    assert_true(src->bounded);
    assert_false(src->parallel);
    tu_got_t g = { 0 };
    sp_error_t err = { 0 };
    assert_int_equal(tu_drain(src, NULL, &g, &err), SPATE_OK);
    const char *want[] = { "first", "second", "", "fourth, with \"quotes\"", "last without newline" };
    assert_int_equal(g.rows, 5);
    for (int i = 0; i < 5; i++) {
        spate_row_t r = tu_row_at(&g, (size_t)i);
        assert_false(spate_row_is_null(&r, 0));
        tu_assert_str(spate_row_get_string(&r, 0), want[i]);
    }
    tu_got_free(&g);
    spate_source_destroy(src);
    free(path);
}

static void text_large_file_across_buffers(void **state)
{
    /* 200,000 lines of varying length plus one line of 1 MiB: lines straddle every read(2) boundary. */
    enum { N = 200000 };
    size_t cap = 16u << 20, len = 0;
    char *data = malloc(cap);
    for (int i = 0; i < N; i++) {
        if (i == N / 2) {
            memset(data + len, 'x', 1 << 20);
            len += 1 << 20;
            data[len++] = '\n';
            continue;
        }
        len += (size_t)sprintf(data + len, "line %d %.*s\n", i, i % 97,
                               "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxy"
                               "zabcdefghijklmnopqrstuvwxyz");
    }
    char *path = write_file(state, "big.txt", data, len);
    spate_source_t *src = spate_file_text_source(path);
    tu_got_t g = { 0 };
    sp_error_t err = { 0 };
    assert_int_equal(tu_drain(src, NULL, &g, &err), SPATE_OK);
    assert_int_equal(g.rows, N);
    assert_true(g.max_batch <= SP_BATCH_CAPACITY);
    /* The concatenation of the lines (with "\n") is the file. */
    size_t off = 0;
    for (size_t i = 0; i < g.rows; i++) {
        spate_row_t r = tu_row_at(&g, i);
        spate_str_t s = spate_row_get_string(&r, 0);
        assert_true(off + s.len < len + 1);
        assert_memory_equal(s.ptr, data + off, s.len);
        assert_int_equal(data[off + s.len], '\n');
        off += s.len + 1;
    }
    assert_int_equal(off, len);
    tu_got_free(&g);
    spate_source_destroy(src);
    free(path);
    free(data);
}

static void missing_file_fails_open_naming_path(void **state)
{
    const char *tmp = *state;
    char *path = sp_xasprintf("%s/no-such-file.csv", tmp);
    spate_source_t *src = spate_file_text_source(path);
    assert_non_null(src); /* paths are checked when the job starts */
    tu_got_t g = { 0 };
    sp_error_t err = { 0 };
    assert_int_equal(tu_drain(src, NULL, &g, &err), SPATE_ENOENT);
    char *want = sp_xasprintf("cannot open '%s': No such file or directory", path);
    assert_string_equal(err.message, want);
    free(want);
    spate_source_destroy(src);

    /* A directory is not a readable file either. */
    src = spate_file_text_source(tmp);
    sp_error_t err2 = { 0 };
    assert_int_equal(tu_drain(src, NULL, &g, &err2), SPATE_EIO);
    assert_contains(err2.message, tmp);
    assert_contains(err2.message, "Is a directory");
    spate_source_destroy(src);
    tu_got_free(&g);
    free(path);
}

/* ---- CSV source ---- */

static void csv_quoting_nulls_header_and_crlf(void **state)
{
    const char data[] = "\xEF\xBB\xBFid,name,price\r\n"
                        "1,plain,1.5\r\n"
                        "2,\"with, comma\",2\n"
                        "3,\"doubled \"\"quotes\"\"\",3\n"
                        "\n"
                        "4,\"multi\nline\r\nvalue\",4\r\n"
                        "5,,\n"
                        "6,\"\",6\n"
                        "7,a\"b,7"; /* no final newline; a quote inside an unquoted field is a character */
    char *path = write_file(state, "a.csv", data, sizeof data - 1);
    spate_schema_t *schema = spate_schema_of("id INT, name STRING, price DOUBLE");
    spate_csv_options_t o;
    spate_csv_options_init(&o);
    assert_int_equal(o.delimiter, ',');
    assert_int_equal(o.timestamp_field, -1);
    assert_int_equal(o.on_error, SPATE_ON_ERROR_FAIL);
    o.skip_header = true;
    spate_source_t *src = spate_file_csv_source(path, schema, &o);
    assert_non_null(src);
    tu_got_t g = { 0 };
    sp_error_t err = { 0 };
    assert_int_equal(tu_drain(src, NULL, &g, &err), SPATE_OK);
    assert_int_equal(g.rows, 7);
    const char *names[] = { "plain", "with, comma", "doubled \"quotes\"", "multi\nline\r\nvalue", NULL,
                            "",      "a\"b" };
    for (int i = 0; i < 7; i++) {
        spate_row_t r = tu_row_at(&g, (size_t)i);
        assert_int_equal(spate_row_get_int(&r, 0), i + 1);
        if (names[i])
            tu_assert_str(spate_row_get_string(&r, 1), names[i]);
        else
            assert_true(spate_row_is_null(&r, 1));
    }
    spate_row_t r = tu_row_at(&g, 4);
    assert_true(spate_row_is_null(&r, 2));
    r = tu_row_at(&g, 0);
    assert_true(spate_row_get_double(&r, 2) == 1.5);
    assert_int_equal(g.skipped, 0);
    tu_got_free(&g);
    spate_source_destroy(src);
    spate_schema_release(schema);
    free(path);
}

static void csv_custom_delimiter(void **state)
{
    const char data[] = "a;1\n\"b;c\";2\n";
    char *path = write_file(state, "semi.csv", data, sizeof data - 1);
    spate_schema_t *schema = spate_schema_of("s STRING, n BIGINT");
    spate_csv_options_t o;
    spate_csv_options_init(&o);
    o.delimiter = ';';
    spate_source_t *src = spate_file_csv_source(path, schema, &o);
    tu_got_t g = { 0 };
    sp_error_t err = { 0 };
    assert_int_equal(tu_drain(src, NULL, &g, &err), SPATE_OK);
    assert_int_equal(g.rows, 2);
    spate_row_t r = tu_row_at(&g, 1);
    tu_assert_str(spate_row_get_string(&r, 0), "b;c");
    assert_int_equal(spate_row_get_bigint(&r, 1), 2);
    tu_got_free(&g);
    spate_source_destroy(src);
    spate_schema_release(schema);
    free(path);
}

/* Reads `data` with policy FAIL and checks the error message equals "PATH:<line>: <problem>". */
static void expect_failure(void **state, const char *data, const char *ddl, const char *problem, int line,
                           size_t rows_before)
{
    char *path = write_file(state, "bad.csv", data, strlen(data));
    spate_schema_t *schema = spate_schema_of(ddl);
    spate_source_t *src = spate_file_csv_source(path, schema, NULL);
    tu_got_t g = { 0 };
    sp_error_t err = { 0 };
    assert_int_equal(tu_drain(src, NULL, &g, &err), SPATE_EPARSE);
    char *want = sp_xasprintf("%s:%d: %s", path, line, problem);
    assert_string_equal(err.message, want);
    assert_int_equal(g.rows, rows_before);
    free(want);
    tu_got_free(&g);
    spate_source_destroy(src);
    spate_schema_release(schema);
    free(path);
}

static void csv_fail_policy_names_path_and_line(void **state)
{
    expect_failure(state, "1,a,1\n2,b\n3,c,3\n", "id INT, s STRING, d DOUBLE", "expected 3 fields, found 2",
                   2, 1);
    expect_failure(state, "1,a\n2,b\nthree,c\n", "id INT, s STRING",
                   "field 'id': cannot read \"three\" as INT", 3, 2);
    /* Line numbers count the newlines inside quoted fields. */
    expect_failure(state, "1,\"x\ny\nz\"\n2,b,extra\n", "id INT, s STRING", "expected 2 fields, found 3", 4,
                   1);
    expect_failure(state, "1,a\n2,\"never closed\n3,c\n", "id INT, s STRING", "unterminated quoted field", 2,
                   1);
    expect_failure(state, "1,\"ab\"c\n", "id INT, s STRING", "unexpected text after a closing quote", 1, 0);
    expect_failure(state, "1,a\n,b\n", "id INT NOT NULL, s STRING", "field 'id' is NOT NULL but empty", 2, 1);
}

static void csv_skip_policy_counts_skipped(void **state)
{
    const char data[] = "1,a\n"
                        "oops,b\n" /* unparsable */
                        "3,c\n"
                        "4\n"        /* too few fields */
                        "5,\"e\"x\n" /* text after quote */
                        "6,\"multi\nline\"\n"
                        "7,g,extra\n" /* too many */
                        "8,h\n";
    char *path = write_file(state, "skip.csv", data, sizeof data - 1);
    spate_schema_t *schema = spate_schema_of("id INT, s STRING");
    spate_csv_options_t o;
    spate_csv_options_init(&o);
    o.on_error = SPATE_ON_ERROR_SKIP;
    spate_source_t *src = spate_file_csv_source(path, schema, &o);
    tu_got_t g = { 0 };
    sp_error_t err = { 0 };
    assert_int_equal(tu_drain(src, NULL, &g, &err), SPATE_OK);
    assert_int_equal(err.code, 0);
    assert_int_equal(g.skipped, 4);
    int want_ids[] = { 1, 3, 6, 8 };
    const char *want_s[] = { "a", "c", "multi\nline", "h" };
    assert_int_equal(g.rows, 4);
    for (int i = 0; i < 4; i++) {
        spate_row_t r = tu_row_at(&g, (size_t)i);
        assert_int_equal(spate_row_get_int(&r, 0), want_ids[i]);
        tu_assert_str(spate_row_get_string(&r, 1), want_s[i]);
    }
    tu_got_free(&g);
    spate_source_destroy(src);
    spate_schema_release(schema);
    free(path);
}

static void csv_large_file_with_quoted_newlines(void **state)
{
    /* Records with quoted newlines and doubled quotes straddle the read(2) boundaries; a malformed
     * record at the very end must still be reported with its exact line number. */
    enum { N = 60000 };
    size_t cap = 8u << 20, len = 0;
    char *data = malloc(cap);
    int line = 1;
    for (int i = 0; i < N; i++) {
        len += (size_t)sprintf(data + len, "%d,\"v%d\n\"\"q\"\",x\",%d.5\n", i, i, i);
        line += 2;
    }
    len += (size_t)sprintf(data + len, "%d,tail\n", N); /* one field short */
    char *path = write_file(state, "big.csv", data, len);
    spate_schema_t *schema = spate_schema_of("id BIGINT, s STRING, d DOUBLE");
    spate_source_t *src = spate_file_csv_source(path, schema, NULL);
    tu_got_t g = { 0 };
    sp_error_t err = { 0 };
    assert_int_equal(tu_drain(src, NULL, &g, &err), SPATE_EPARSE);
    char *want = sp_xasprintf("%s:%d: expected 3 fields, found 2", path, line);
    assert_string_equal(err.message, want);
    assert_int_equal(g.rows, N);
    assert_true(g.max_batch <= SP_BATCH_CAPACITY);
    for (int i = 0; i < N; i += 997) {
        spate_row_t r = tu_row_at(&g, (size_t)i);
        assert_int_equal(spate_row_get_bigint(&r, 0), i);
        char s[64];
        snprintf(s, sizeof s, "v%d\n\"q\",x", i);
        tu_assert_str(spate_row_get_string(&r, 1), s);
        assert_true(spate_row_get_double(&r, 2) == i + 0.5);
    }
    free(want);
    tu_got_free(&g);
    spate_source_destroy(src);
    spate_schema_release(schema);
    free(path);
    free(data);
}

static void csv_timestamp_field_sets_event_time(void **state)
{
    const char data[] = "a,1000\nb,1970-01-01 00:00:02.5\nc,1700000000000\n";
    char *path = write_file(state, "ts.csv", data, sizeof data - 1);
    spate_schema_t *schema = spate_schema_of("k STRING, ts TIMESTAMP(3)");
    spate_csv_options_t o;
    spate_csv_options_init(&o);
    o.timestamp_field = 1;
    spate_source_t *src = spate_file_csv_source(path, schema, &o);
    tu_got_t g = { 0 };
    sp_error_t err = { 0 };
    assert_int_equal(tu_drain(src, NULL, &g, &err), SPATE_OK);
    assert_int_equal(g.rows, 3);
    int64_t want[] = { 1000, 2500, 1700000000000 };
    for (int i = 0; i < 3; i++) {
        spate_row_t r = tu_row_at(&g, (size_t)i);
        assert_int_equal(spate_row_event_time(&r), want[i]);
        assert_int_equal(spate_row_get_timestamp(&r, 1), want[i]);
    }
    tu_got_free(&g);
    spate_source_destroy(src);
    free(path);

    /* A NULL event time is a malformed record. */
    path = write_file(state, "ts2.csv", "a,5\nb,\n", 7);
    src = spate_file_csv_source(path, schema, &o);
    sp_error_t err2 = { 0 };
    assert_int_equal(tu_drain(src, NULL, &g, &err2), SPATE_EPARSE);
    assert_contains(err2.message, ":2: timestamp field 'ts' is NULL");
    tu_got_free(&g);
    spate_source_destroy(src);

    /* Only BIGINT / TIMESTAMP fields can be the event time. */
    o.timestamp_field = 0;
    assert_null(spate_file_csv_source(path, schema, &o));
    assert_contains(spate_last_error(), "must be BIGINT or TIMESTAMP");
    o.timestamp_field = 2;
    assert_null(spate_file_csv_source(path, schema, &o));
    spate_schema_release(schema);
    free(path);
}

/* Drains src for 0.3 s: rate-limited at 50 rows/s, it yields idle and emits about 15 rows. */
static void check_limited_to_50_per_second(spate_source_t *src)
{
    tu_got_t g = { 0 };
    sp_error_t err = { 0 };
    tu_drain_opts_t run = { .max_ms = 300 };
    assert_int_equal(tu_drain(src, &run, &g, &err), SPATE_OK);
    assert_false(g.ended); /* every poll was MORE or IDLE */
    double secs = (double)g.elapsed_ns / 1e9;
    assert_true(g.idle > 0);
    assert_true(g.min_wait_ms >= 1 && g.max_wait_ms <= 100);
    /* 50 rows/s for ~0.3 s: about 15 rows (+1 at the start), never the whole file. */
    assert_true(g.rows >= 5);
    assert_true((double)g.rows <= 50 * secs + 2);
    tu_got_free(&g);
}

static void rate_limits_yield_idle(void **state)
{
    size_t len = 0;
    char data[4096];
    for (int i = 0; i < 200; i++) len += (size_t)sprintf(data + len, "%d\n", i);
    char *path = write_file(state, "rate.csv", data, len);
    spate_schema_t *schema = spate_schema_of("n INT");
    spate_csv_options_t o;
    spate_csv_options_init(&o);
    o.rows_per_second = 50;
    spate_source_t *src = spate_file_csv_source(path, schema, &o);
    check_limited_to_50_per_second(src);
    spate_source_destroy(src);
    src = spate_file_text_source_rate(path, 50); /* the text source, the same way */
    check_limited_to_50_per_second(src);
    spate_source_destroy(src);
    assert_null(spate_file_text_source_rate(path, -1));
    assert_contains(spate_last_error(), "the rate must be >= 0");
    spate_schema_release(schema);
    free(path);
}

static void csv_constructor_checks_arguments(void **state)
{
    (void)state;
    spate_schema_t *schema = spate_schema_of("n INT");
    spate_csv_options_t o;
    spate_csv_options_init(&o);
    o.delimiter = '"';
    assert_null(spate_file_csv_source("/tmp/x.csv", schema, &o));
    assert_contains(spate_last_error(), "delimiter");
    assert_null(spate_file_csv_source("", schema, NULL));
    assert_null(spate_file_csv_source("/tmp/x.csv", NULL, NULL));
    assert_null(spate_file_text_source(NULL));
    spate_schema_release(schema);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(text_lines_without_terminators, tu_setup_tmpdir, tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(text_large_file_across_buffers, tu_setup_tmpdir, tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(missing_file_fails_open_naming_path, tu_setup_tmpdir, tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(csv_quoting_nulls_header_and_crlf, tu_setup_tmpdir, tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(csv_custom_delimiter, tu_setup_tmpdir, tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(csv_fail_policy_names_path_and_line, tu_setup_tmpdir, tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(csv_skip_policy_counts_skipped, tu_setup_tmpdir, tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(csv_large_file_with_quoted_newlines, tu_setup_tmpdir, tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(csv_timestamp_field_sets_event_time, tu_setup_tmpdir, tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(rate_limits_yield_idle, tu_setup_tmpdir, tu_teardown_tmpdir),
    cmocka_unit_test(csv_constructor_checks_arguments),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "connectors_file_source");
}
