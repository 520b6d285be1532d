/* test_file_sink.c — spate_file_sink: exact CSV/TEXT output, rolling, directory creation, write errors. */
#include "connectors/connector.h"

#include "test_main.h"
#include "test_util.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- batches ---- */

typedef struct row_in {
    int id;           /* < 0: NULL */
    const char *name; /* NULL: NULL */
    double price;
    bool price_null;
} row_in_t;

static sp_batch_t *make_batch(const spate_schema_t *schema, const row_in_t *rows, int n)
{
    sp_batch_t *b = NULL;
    sp_error_t err = { 0 };
    spate_collector_t c;
    sp_collector_init(&c, schema, (uint32_t)n, tu_keep_batch, &b, &err);
    for (int i = 0; i < n; i++) {
        if (rows[i].id < 0)
            spate_out_set_null(&c, 0);
        else
            spate_out_set_bigint(&c, 0, rows[i].id);
        if (rows[i].name)
            spate_out_set_string(&c, 1, rows[i].name, strlen(rows[i].name));
        else
            spate_out_set_null(&c, 1);
        if (rows[i].price_null)
            spate_out_set_null(&c, 2);
        else
            spate_out_set_double(&c, 2, rows[i].price);
        assert_int_equal(spate_out_emit(&c), SPATE_OK);
    }
    sp_collector_flush(&c);
    sp_collector_fini(&c);
    return b;
}

static const row_in_t sample[] = {
    { 1, "plain", 1.5, false },
    { 2, "with,comma", 2, false },
    { 3, "with \"quote\"", 3.25, false },
    { 4, "two\nlines", -1, false },
    { 5, "", 0, true },     /* empty string, NULL price */
    { -1, NULL, 7, false }, /* NULL id and name */
    { 7, "tab\there", 8, false },
};
#define NSAMPLE ((int)(sizeof sample / sizeof sample[0]))

/* Opens subtask `index` of `p`, writes the batches, finishes, closes; returns the first failure. */
static int write_all(const spate_sink_t *sink, int index, int p, sp_batch_t *const *batches, int n,
                     sp_error_t *err)
{
    spate_task_info_t info = { "sink", index, p, 128, 0 };
    void *w = NULL;
    int rc = sink->vt->open(sink->spec, &info, err, &w);
    for (int i = 0; i < n && rc == SPATE_OK; i++) rc = sink->vt->write(w, batches[i], err);
    if (rc == SPATE_OK) rc = sink->vt->finish(w, err);
    if (w) sink->vt->close(w);
    return rc;
}

static char *write_sample(void **state, const spate_file_sink_options_t *o, const char *sub)
{
    const char *tmp = *state;
    char *dir = sp_xasprintf("%s/%s", tmp, sub);
    spate_schema_t *schema = spate_schema_of("id BIGINT, name STRING, price DOUBLE");
    spate_sink_t *sink = spate_file_sink(dir, o);
    assert_non_null(sink);
    sp_batch_t *b = make_batch(schema, sample, NSAMPLE);
    sp_error_t err = { 0 };
    assert_int_equal(write_all(sink, 0, 1, &b, 1, &err), SPATE_OK);
    sp_batch_release(b);
    spate_sink_destroy(sink);
    spate_schema_release(schema);
    char *path = sp_xasprintf("%s/part-0-0", dir);
    char *got = tu_read_file(path);
    assert_non_null(got);
    free(path);
    free(dir);
    return got;
}

/* ---- cases ---- */

static void csv_exact_text(void **state)
{
    /* "nested/out" does not exist yet: it is created with its parent */
    char *got = write_sample(state, NULL, "nested/out/");
    assert_string_equal(got, "1,plain,1.5\n"
                             "2,\"with,comma\",2.0\n"
                             "3,\"with \"\"quote\"\"\",3.25\n"
                             "4,\"two\nlines\",-1.0\n"
                             "5,\"\",\n"
                             ",,7.0\n"
                             "7,tab\there,8.0\n");
    free(got);
}

static void csv_custom_delimiter(void **state)
{
    spate_file_sink_options_t o;
    spate_file_sink_options_init(&o);
    o.delimiter = '\t';
    char *got = write_sample(state, &o, "tsv");
    assert_string_equal(got, "1\tplain\t1.5\n"
                             "2\twith,comma\t2.0\n"
                             "3\t\"with \"\"quote\"\"\"\t3.25\n"
                             "4\t\"two\nlines\"\t-1.0\n"
                             "5\t\"\"\t\n"
                             "\t\t7.0\n"
                             "7\t\"tab\there\"\t8.0\n");
    free(got);
}

static void text_format_joins_with_tab(void **state)
{
    spate_file_sink_options_t o;
    spate_file_sink_options_init(&o);
    o.format = SPATE_FORMAT_TEXT;
    char *got = write_sample(state, &o, "text");
    assert_string_equal(got, "1\tplain\t1.5\n"
                             "2\twith,comma\t2.0\n"
                             "3\twith \"quote\"\t3.25\n"
                             "4\ttwo\nlines\t-1.0\n"
                             "5\t\t\n"
                             "\t\t7.0\n"
                             "7\ttab\there\t8.0\n");
    free(got);
    o.delimiter = '|';
    got = write_sample(state, &o, "text2");
    assert_string_equal(got + strlen("1|plain|1.5\n2|with,comma|2.0\n"), "3|with \"quote\"|3.25\n"
                                                                         "4|two\nlines|-1.0\n"
                                                                         "5||\n"
                                                                         "||7.0\n"
                                                                         "7|tab\there|8.0\n");
    free(got);
}

/* k * 0.25 as the sink prints a DOUBLE (Java's Double.toString): "0.0", "0.25", "1.0", "1.75" */
static const char *quarter(int k, char *buf, size_t cap)
{
    snprintf(buf, cap, "%.2f", k * 0.25);
    size_t n = strlen(buf);
    while (n > 2 && buf[n - 1] == '0' && buf[n - 2] != '.') buf[--n] = '\0';
    return buf;
}

static void rolling_makes_parts_that_concatenate_to_the_input(void **state)
{
    const char *tmp = *state;
    enum { BATCHES = 20, ROWS = 250, MAX = 4000 };
    char *dir = sp_xasprintf("%s/roll", tmp);
    spate_schema_t *schema = spate_schema_of("id BIGINT, name STRING, price DOUBLE");
    spate_file_sink_options_t o;
    spate_file_sink_options_init(&o);
    o.rolling_max_bytes = MAX;
    spate_sink_t *sink = spate_file_sink(dir, &o);
    for (int sub = 0; sub < 2; sub++) {
        /* subtask `sub` writes rows with ids sub*1e6 + k */
        sp_batch_t *batches[BATCHES];
        row_in_t rows[ROWS];
        char names[ROWS][32];
        size_t want_cap = 1 << 20, want_len = 0;
        char *want = malloc(want_cap);
        for (int b = 0; b < BATCHES; b++) {
            for (int k = 0; k < ROWS; k++) {
                int id = sub * 1000000 + b * ROWS + k;
                snprintf(names[k], sizeof names[k], "n%d%s", id, k % 7 ? "" : ",q");
                rows[k] = (row_in_t){ id, names[k], k * 0.25, false };
                char q[32];
                want_len += (size_t)snprintf(want + want_len, want_cap - want_len,
                                             k % 7 ? "%d,%s,%s\n" : "%d,\"%s\",%s\n", id, names[k],
                                             quarter(k, q, sizeof q));
            }
            batches[b] = make_batch(schema, rows, ROWS);
        }
        sp_error_t err = { 0 };
        assert_int_equal(write_all(sink, sub, 2, batches, BATCHES, &err), SPATE_OK);
        for (int b = 0; b < BATCHES; b++) sp_batch_release(batches[b]);

        /* read part-<sub>-0, -1, ... until one is missing */
        char *cat = malloc(want_len + 1);
        size_t cat_len = 0;
        int parts = 0;
        for (;; parts++) {
            char *path = sp_xasprintf("%s/part-%d-%d", dir, sub, parts);
            size_t len;
            char *part = tu_read_file_len(path, &len);
            free(path);
            if (!part) break;
            assert_true(len > 0);
            assert_int_equal(part[len - 1], '\n'); /* a part never splits a row */
            assert_true(len < MAX + 64);           /* rolled once it reached MAX */
            assert_true(cat_len + len <= want_len);
            memcpy(cat + cat_len, part, len);
            cat_len += len;
            free(part);
        }
        assert_true(parts > 10);
        assert_int_equal(cat_len, want_len);
        assert_memory_equal(cat, want, want_len);
        free(cat);
        free(want);
    }
    spate_sink_destroy(sink);
    spate_schema_release(schema);
    free(dir);
}

static void no_rows_no_file(void **state)
{
    const char *tmp = *state;
    char *dir = sp_xasprintf("%s/empty", tmp);
    spate_sink_t *sink = spate_file_sink(dir, NULL);
    sp_error_t err = { 0 };
    assert_int_equal(write_all(sink, 0, 1, NULL, 0, &err), SPATE_OK);
    struct stat st;
    assert_int_equal(stat(dir, &st), 0); /* the directory exists */
    assert_true(S_ISDIR(st.st_mode));
    char *path = sp_xasprintf("%s/part-0-0", dir);
    assert_int_not_equal(access(path, F_OK), 0);
    free(path);
    spate_sink_destroy(sink);
    free(dir);
}

static void directory_error_names_the_path(void **state)
{
    const char *tmp = *state;
    char *file = sp_xasprintf("%s/a-file", tmp);
    FILE *f = fopen(file, "w");
    fclose(f);
    char *dir = sp_xasprintf("%s/sub", file); /* below a regular file */
    spate_sink_t *sink = spate_file_sink(dir, NULL);
    sp_error_t err = { 0 };
    assert_int_equal(write_all(sink, 0, 1, NULL, 0, &err), SPATE_EIO);
    char *want = sp_xasprintf("cannot create directory '%s': Not a directory", dir);
    assert_string_equal(err.message, want);
    free(want);
    spate_sink_destroy(sink);

    sink = spate_file_sink(file, NULL); /* the path itself is a file */
    sp_error_t err2 = { 0 };
    assert_int_equal(write_all(sink, 0, 1, NULL, 0, &err2), SPATE_EIO);
    assert_non_null(strstr(err2.message, file));
    spate_sink_destroy(sink);
    free(dir);
    free(file);
}

static void write_error_names_part_and_reason(void **state)
{
    const char *tmp = *state;
    char *dir = sp_xasprintf("%s/full", tmp);
    assert_int_equal(mkdir(dir, 0755), 0);
    char *part = sp_xasprintf("%s/part-0-0", dir);
    if (symlink("/dev/full", part) != 0) skip(); /* every write to /dev/full fails with ENOSPC */
    spate_schema_t *schema = spate_schema_of("id BIGINT, name STRING, price DOUBLE");
    spate_sink_t *sink = spate_file_sink(dir, NULL);
    sp_batch_t *b = make_batch(schema, sample, NSAMPLE);
    sp_error_t err = { 0 };
    assert_int_equal(write_all(sink, 0, 1, &b, 1, &err), SPATE_EIO);
    char *want = sp_xasprintf("cannot write '%s': No space left on device", part);
    assert_string_equal(err.message, want);
    free(want);
    sp_batch_release(b);
    spate_sink_destroy(sink);
    spate_schema_release(schema);
    free(part);
    free(dir);
}

static void constructor_checks_arguments(void **state)
{
    (void)state;
    assert_null(spate_file_sink(NULL, NULL));
    assert_null(spate_file_sink("", NULL));
    spate_file_sink_options_t o;
    spate_file_sink_options_init(&o);
    assert_int_equal(o.format, SPATE_FORMAT_CSV);
    assert_int_equal(o.rolling_max_bytes, 128 * 1024 * 1024);
    o.rolling_max_bytes = -1;
    assert_null(spate_file_sink("/tmp/x", &o));
    assert_non_null(strstr(spate_last_error(), "rolling_max_bytes"));
    spate_file_sink_options_init(&o);
    o.delimiter = '\n';
    assert_null(spate_file_sink("/tmp/x", &o));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(csv_exact_text, tu_setup_tmpdir, tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(csv_custom_delimiter, tu_setup_tmpdir, tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(text_format_joins_with_tab, tu_setup_tmpdir, tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(rolling_makes_parts_that_concatenate_to_the_input, tu_setup_tmpdir,
                                    tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(no_rows_no_file, tu_setup_tmpdir, tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(directory_error_names_the_path, tu_setup_tmpdir, tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(write_error_names_part_and_reason, tu_setup_tmpdir, tu_teardown_tmpdir),
    cmocka_unit_test(constructor_checks_arguments),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "connectors_file_sink");
}
