/* test_file_source.c — text and CSV file sources: rows read, quoting, error messages with path and line,
 * skip counts, rate limit, event time. */
#include "connectors/connector.h"

#include "test_main.h"

#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ---- harness ---- */

typedef struct got {
    sp_batch_t **b;
    size_t n, rows;
    int polls, idle;
    uint32_t max_batch;
    int64_t skipped;
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

/* Opens, polls to the end (flushing after each poll, sleeping on IDLE as the runtime would), closes. */
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
        assert_int_equal(sp_collector_flush(&out),
                         SPATE_OK); /* also on failure: counts rows read before it */
        if (flow < 0) {
            rc = flow;
            break;
        }
        if (flow == SP_FLOW_END) break;
        if (flow == SP_FLOW_IDLE) {
            g->idle++;
            sp_sleep_ms(wait);
        }
    }
    if (reader) {
        if (src->vt->skipped) g->skipped = src->vt->skipped(reader);
        src->vt->close(reader);
    }
    sp_collector_fini(&out);
    return rc;
}

static void assert_str(spate_str_t s, const char *want)
{
    if (s.len != strlen(want) || memcmp(s.ptr, want, s.len) != 0)
        fail_msg("got \"%.*s\", want \"%s\"", (int)s.len, s.ptr, want);
}

static void assert_contains(const char *s, const char *want)
{
    if (!strstr(s, want)) fail_msg("\"%s\" does not contain \"%s\"", s, want);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

typedef struct tmpdir {
    char dir[64];
} tmpdir_t;

static int setup_dir(void **state)
{
    tmpdir_t *t = calloc(1, sizeof *t);
    strcpy(t->dir, "/tmp/spate_file_source_XXXXXX");
    if (!mkdtemp(t->dir)) return -1;
    *state = t;
    return 0;
}

static int teardown_dir(void **state)
{
    tmpdir_t *t = *state;
    nftw(t->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(t);
    return 0;
}

/* Writes `len` bytes to dir/name; returns the path (caller frees). */
static char *write_file(void **state, const char *name, const char *data, size_t len)
{
    tmpdir_t *t = *state;
    char *path = sp_xasprintf("%s/%s", t->dir, name);
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
    got_t g = { 0 };
    sp_error_t err = { 0 };
    assert_int_equal(drain(src, &g, &err), SPATE_OK);
    const char *want[] = { "first", "second", "", "fourth, with \"quotes\"", "last without newline" };
    assert_int_equal(g.rows, 5);
    for (int i = 0; i < 5; i++) {
        spate_row_t r = row_at(&g, (size_t)i);
        assert_false(spate_row_is_null(&r, 0));
        assert_str(spate_row_get_string(&r, 0), want[i]);
    }
    got_free(&g);
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
    got_t g = { 0 };
    sp_error_t err = { 0 };
    assert_int_equal(drain(src, &g, &err), SPATE_OK);
    assert_int_equal(g.rows, N);
    assert_true(g.max_batch <= SP_BATCH_CAPACITY);
    /* The concatenation of the lines (with "\n") is the file. */
    size_t off = 0;
    for (size_t i = 0; i < g.rows; i++) {
        spate_row_t r = row_at(&g, i);
        spate_str_t s = spate_row_get_string(&r, 0);
        assert_true(off + s.len < len + 1);
        assert_memory_equal(s.ptr, data + off, s.len);
        assert_int_equal(data[off + s.len], '\n');
        off += s.len + 1;
    }
    assert_int_equal(off, len);
    got_free(&g);
    spate_source_destroy(src);
    free(path);
    free(data);
}

static void missing_file_fails_open_naming_path(void **state)
{
    tmpdir_t *t = *state;
    char *path = sp_xasprintf("%s/no-such-file.csv", t->dir);
    spate_source_t *src = spate_file_text_source(path);
    assert_non_null(src); /* paths are checked when the job starts */
    got_t g = { 0 };
    sp_error_t err = { 0 };
    assert_int_equal(drain(src, &g, &err), SPATE_ENOENT);
    char *want = sp_xasprintf("cannot open '%s': No such file or directory", path);
    assert_string_equal(err.message, want);
    free(want);
    spate_source_destroy(src);

    /* A directory is not a readable file either. */
    src = spate_file_text_source(t->dir);
    sp_error_t err2 = { 0 };
    assert_int_equal(drain(src, &g, &err2), SPATE_EIO);
    assert_contains(err2.message, t->dir);
    assert_contains(err2.message, "Is a directory");
    spate_source_destroy(src);
    got_free(&g);
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
    got_t g = { 0 };
    sp_error_t err = { 0 };
    assert_int_equal(drain(src, &g, &err), SPATE_OK);
    assert_int_equal(g.rows, 7);
    const char *names[] = { "plain", "with, comma", "doubled \"quotes\"", "multi\nline\r\nvalue", NULL,
                            "",      "a\"b" };
    for (int i = 0; i < 7; i++) {
        spate_row_t r = row_at(&g, (size_t)i);
        assert_int_equal(spate_row_get_int(&r, 0), i + 1);
        if (names[i])
            assert_str(spate_row_get_string(&r, 1), names[i]);
        else
            assert_true(spate_row_is_null(&r, 1));
    }
    spate_row_t r = row_at(&g, 4);
    assert_true(spate_row_is_null(&r, 2));
    r = row_at(&g, 0);
    assert_true(spate_row_get_double(&r, 2) == 1.5);
    assert_int_equal(g.skipped, 0);
    got_free(&g);
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
    got_t g = { 0 };
    sp_error_t err = { 0 };
    assert_int_equal(drain(src, &g, &err), SPATE_OK);
    assert_int_equal(g.rows, 2);
    spate_row_t r = row_at(&g, 1);
    assert_str(spate_row_get_string(&r, 0), "b;c");
    assert_int_equal(spate_row_get_bigint(&r, 1), 2);
    got_free(&g);
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
    got_t g = { 0 };
    sp_error_t err = { 0 };
    assert_int_equal(drain(src, &g, &err), SPATE_EPARSE);
    char *want = sp_xasprintf("%s:%d: %s", path, line, problem);
    assert_string_equal(err.message, want);
    assert_int_equal(g.rows, rows_before);
    free(want);
    got_free(&g);
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
    got_t g = { 0 };
    sp_error_t err = { 0 };
    assert_int_equal(drain(src, &g, &err), SPATE_OK);
    assert_int_equal(err.code, 0);
    assert_int_equal(g.skipped, 4);
    int want_ids[] = { 1, 3, 6, 8 };
    const char *want_s[] = { "a", "c", "multi\nline", "h" };
    assert_int_equal(g.rows, 4);
    for (int i = 0; i < 4; i++) {
        spate_row_t r = row_at(&g, (size_t)i);
        assert_int_equal(spate_row_get_int(&r, 0), want_ids[i]);
        assert_str(spate_row_get_string(&r, 1), want_s[i]);
    }
    got_free(&g);
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
    got_t g = { 0 };
    sp_error_t err = { 0 };
    assert_int_equal(drain(src, &g, &err), SPATE_EPARSE);
    char *want = sp_xasprintf("%s:%d: expected 3 fields, found 2", path, line);
    assert_string_equal(err.message, want);
    assert_int_equal(g.rows, N);
    assert_true(g.max_batch <= SP_BATCH_CAPACITY);
    for (int i = 0; i < N; i += 997) {
        spate_row_t r = row_at(&g, (size_t)i);
        assert_int_equal(spate_row_get_bigint(&r, 0), i);
        char s[64];
        snprintf(s, sizeof s, "v%d\n\"q\",x", i);
        assert_str(spate_row_get_string(&r, 1), s);
        assert_true(spate_row_get_double(&r, 2) == i + 0.5);
    }
    free(want);
    got_free(&g);
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
    got_t g = { 0 };
    sp_error_t err = { 0 };
    assert_int_equal(drain(src, &g, &err), SPATE_OK);
    assert_int_equal(g.rows, 3);
    int64_t want[] = { 1000, 2500, 1700000000000 };
    for (int i = 0; i < 3; i++) {
        spate_row_t r = row_at(&g, (size_t)i);
        assert_int_equal(spate_row_event_time(&r), want[i]);
        assert_int_equal(spate_row_get_timestamp(&r, 1), want[i]);
    }
    got_free(&g);
    spate_source_destroy(src);
    free(path);

    /* A NULL event time is a malformed record. */
    path = write_file(state, "ts2.csv", "a,5\nb,\n", 7);
    src = spate_file_csv_source(path, schema, &o);
    sp_error_t err2 = { 0 };
    assert_int_equal(drain(src, &g, &err2), SPATE_EPARSE);
    assert_contains(err2.message, ":2: timestamp field 'ts' is NULL");
    got_free(&g);
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

static void csv_rate_limit_yields_idle(void **state)
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

    got_t g = { 0 };
    sp_error_t err = { 0 };
    spate_collector_t out;
    sp_collector_init(&out, schema, 0, collect, &g, &err);
    sp_source_ctx_t ctx = { { "src", 0, 1, 128, 0 }, &out, &err };
    void *reader = NULL;
    assert_int_equal(src->vt->open(src->spec, &ctx, &reader), SPATE_OK);
    int64_t t0 = sp_clock_mono_ns();
    int idle = 0;
    while (sp_clock_mono_ns() - t0 < 300 * 1000000LL) {
        int64_t wait = -1;
        int flow = src->vt->poll(reader, &ctx, &wait);
        assert_true(flow == SP_FLOW_MORE || flow == SP_FLOW_IDLE);
        sp_collector_flush(&out);
        if (flow == SP_FLOW_IDLE) {
            idle++;
            assert_true(wait >= 1 && wait <= 100);
            sp_sleep_ms(wait);
        }
    }
    double secs = (double)(sp_clock_mono_ns() - t0) / 1e9;
    assert_true(idle > 0);
    /* 50 rows/s for ~0.3 s: about 15 rows (+1 at the start), never the whole file. */
    assert_true(g.rows >= 5);
    assert_true((double)g.rows <= 50 * secs + 2);
    src->vt->close(reader);
    sp_collector_fini(&out);
    got_free(&g);
    spate_source_destroy(src);
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
    cmocka_unit_test_setup_teardown(text_lines_without_terminators, setup_dir, teardown_dir),
    cmocka_unit_test_setup_teardown(text_large_file_across_buffers, setup_dir, teardown_dir),
    cmocka_unit_test_setup_teardown(missing_file_fails_open_naming_path, setup_dir, teardown_dir),
    cmocka_unit_test_setup_teardown(csv_quoting_nulls_header_and_crlf, setup_dir, teardown_dir),
    cmocka_unit_test_setup_teardown(csv_custom_delimiter, setup_dir, teardown_dir),
    cmocka_unit_test_setup_teardown(csv_fail_policy_names_path_and_line, setup_dir, teardown_dir),
    cmocka_unit_test_setup_teardown(csv_skip_policy_counts_skipped, setup_dir, teardown_dir),
    cmocka_unit_test_setup_teardown(csv_large_file_with_quoted_newlines, setup_dir, teardown_dir),
    cmocka_unit_test_setup_teardown(csv_timestamp_field_sets_event_time, setup_dir, teardown_dir),
    cmocka_unit_test_setup_teardown(csv_rate_limit_yields_idle, setup_dir, teardown_dir),
    cmocka_unit_test(csv_constructor_checks_arguments),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "connectors_file_source");
}
