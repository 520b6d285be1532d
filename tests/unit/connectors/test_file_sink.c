/* test_file_sink.c — spate_file_sink: exact CSV/TEXT output, rolling, directory creation, write
 * errors; exactly once: hidden in-progress and pending parts, commit on checkpoint completion,
 * abort, recovery after a crash (a forked writer), restore at another parallelism, a whole job. */
#include "connectors/connector.h"

#include "api/api.h"
#include "connectors/csv.h"
#include "state/operator_state.h"

#include "test_main.h"
#include "test_util.h"

#include <stdio.h>
#include <string.h>
#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
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
    spate_schema_t *schema = spate_schema_of("id BIGINT, name STRING, price DOUBLE");
    spate_sink_t *sink = spate_file_sink(dir, NULL);
    sp_batch_t *b = make_batch(schema, sample, NSAMPLE);
    /* files of this process may not grow past 8 bytes: the write fails with EFBIG */
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 8;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    sp_error_t err = { 0 };
    int rc = write_all(sink, 0, 1, &b, 1, &err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, old_handler);
    assert_int_equal(rc, SPATE_EIO);
    char *want = sp_xasprintf("cannot write '%s/.part-0-0.inprogress.", dir);
    assert_memory_equal(err.message, want, strlen(want));
    assert_non_null(strstr(err.message, "': File too large"));
    free(want);
    sp_batch_release(b);
    spate_sink_destroy(sink);
    spate_schema_release(schema);
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

/* ---- exactly once: the two-phase-commit writer ---- */

/* Rows id = first .. first+n-1, name "r<id>", price NULL: each line is "<id>,r<id>,\n". */
static sp_batch_t *rows_batch(const spate_schema_t *schema, int first, int n)
{
    row_in_t *rows = sp_xcalloc((size_t)n, sizeof *rows);
    char(*names)[24] = sp_xcalloc((size_t)n, sizeof *names);
    for (int k = 0; k < n; k++) {
        snprintf(names[k], sizeof names[k], "r%d", first + k);
        rows[k] = (row_in_t){ first + k, names[k], 0, true };
    }
    sp_batch_t *b = make_batch(schema, rows, n);
    free(rows);
    free(names);
    return b;
}

/* The lines of rows first .. first+n-1 in order (caller frees). */
static char *rows_text(int first, int n)
{
    sp_text_buf_t t = { 0 };
    sp_text_buf_append(&t, "", 0);
    for (int k = first; k < first + n; k++) {
        char line[64];
        int len = snprintf(line, sizeof line, "%d,r%d,\n", k, k);
        sp_text_buf_append(&t, line, (size_t)len);
    }
    sp_text_buf_append(&t, "", 1);
    return t.data;
}

/* Writes text into dir/name. */
static void put_file(const char *dir, const char *name, const char *text)
{
    char *path = sp_xasprintf("%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    free(path);
}

/* Counts the entries of dir: hidden ones (".x", not "." or "..") or visible ones. */
static int count_files(const char *dir, bool hidden)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if ((e->d_name[0] == '.') == hidden) n++;
    }
    closedir(d);
    return n;
}

/* The visible parts of subtask `sub`, concatenated in n order; asserts there are `parts` of them,
 * numbered 0 .. parts-1 (caller frees). */
static char *read_parts(const char *dir, int sub, int parts)
{
    sp_text_buf_t t = { 0 };
    sp_text_buf_append(&t, "", 0);
    for (int n = 0; n < parts; n++) {
        char *path = sp_xasprintf("%s/part-%d-%d", dir, sub, n);
        size_t len;
        char *text = tu_read_file_len(path, &len);
        if (!text) fail_msg("missing %s", path);
        sp_text_buf_append(&t, text, len);
        free(text);
        free(path);
    }
    sp_text_buf_append(&t, "", 1);
    return t.data;
}

static void assert_parts(const char *dir, int sub, int parts, const char *want)
{
    char *got = read_parts(dir, sub, parts);
    assert_string_equal(got, want);
    free(got);
}

/* A writer driven through the sink's two-phase-commit functions directly. */
typedef struct direct {
    const spate_twophase_sink_function_t *fn;
    spate_sink_context_t c;
    sp_error_t err;
    void *w;
} direct_t;

static void direct_open(direct_t *d, const spate_sink_t *sink, int sub, int p)
{
    memset(d, 0, sizeof *d);
    d->fn = sp_twophase_sink_function(sink);
    assert_non_null(d->fn);
    d->c.info = (spate_task_info_t){ "sink", sub, p, 128, 0 };
    d->c.err = &d->err;
    assert_int_equal(d->fn->open(d->fn->ctx, &d->c, &d->w), SPATE_OK);
}

static void direct_write(direct_t *d, const spate_schema_t *schema, int first, int n)
{
    sp_batch_t *b = rows_batch(schema, first, n);
    spate_row_t *rows = sp_xcalloc((size_t)n, sizeof *rows);
    for (int i = 0; i < n; i++) rows[i] = (spate_row_t){ b, (uint32_t)i };
    assert_int_equal(d->fn->write(d->w, rows, (size_t)n, &d->c), SPATE_OK);
    free(rows);
    sp_batch_release(b);
}

/* Pre-commits the current transaction; returns its description (caller frees txn->data). */
static spate_txn_t direct_pre_commit(direct_t *d, int64_t id)
{
    spate_txn_t txn = { 0 };
    assert_int_equal(d->fn->pre_commit(d->w, id, &txn, &d->c), SPATE_OK);
    return txn;
}

typedef struct eo_fixture {
    char *dir;
    spate_schema_t *schema;
    spate_sink_t *sink;
} eo_fixture_t;

static eo_fixture_t eo_setup(void **state, const char *sub, int64_t rolling)
{
    eo_fixture_t f;
    f.dir = sp_xasprintf("%s/%s", (const char *)*state, sub);
    f.schema = spate_schema_of("id BIGINT, name STRING, price DOUBLE");
    spate_file_sink_options_t o;
    spate_file_sink_options_init(&o);
    o.rolling_max_bytes = rolling;
    f.sink = spate_file_sink(f.dir, &o);
    assert_non_null(f.sink);
    return f;
}

static void eo_teardown(eo_fixture_t *f)
{
    spate_sink_destroy(f->sink);
    spate_schema_release(f->schema);
    free(f->dir);
}

static void pre_committed_parts_stay_hidden_until_commit(void **state)
{
    eo_fixture_t f = eo_setup(state, "eo", 0);
    direct_t d;
    direct_open(&d, f.sink, 0, 1);
    assert_int_equal(d.fn->begin_transaction(d.w, &d.c), SPATE_OK);
    direct_write(&d, f.schema, 0, 10);
    assert_int_equal(count_files(f.dir, true), 1); /* in progress, hidden */
    spate_txn_t t1 = direct_pre_commit(&d, 1);
    assert_true(t1.len > 0);
    assert_int_equal(count_files(f.dir, false), 0); /* pending: nothing visible */
    assert_int_equal(count_files(f.dir, true), 1);

    /* the next transaction is written meanwhile */
    assert_int_equal(d.fn->begin_transaction(d.w, &d.c), SPATE_OK);
    direct_write(&d, f.schema, 10, 5);
    assert_int_equal(count_files(f.dir, true), 2);

    assert_int_equal(d.fn->commit(d.w, t1.data, t1.len, &d.c), SPATE_OK);
    assert_int_equal(count_files(f.dir, false), 1);
    char *want = rows_text(0, 10);
    assert_parts(f.dir, 0, 1, want);
    free(want);
    assert_int_equal(count_files(f.dir, true), 1); /* only the open part of transaction 2 */

    spate_txn_t t2 = direct_pre_commit(&d, 2);
    assert_int_equal(d.fn->commit(d.w, t2.data, t2.len, &d.c), SPATE_OK);
    want = rows_text(0, 15);
    assert_parts(f.dir, 0, 2, want);
    free(want);
    assert_int_equal(count_files(f.dir, true), 0);

    /* a transaction without rows describes nothing */
    assert_int_equal(d.fn->begin_transaction(d.w, &d.c), SPATE_OK);
    spate_txn_t t3 = direct_pre_commit(&d, 3);
    assert_int_equal(t3.len, 0);
    d.fn->close(d.w);
    free(t1.data);
    free(t2.data);
    eo_teardown(&f);
}

static void commit_is_idempotent(void **state)
{
    eo_fixture_t f = eo_setup(state, "idem", 200); /* several parts in one transaction */
    direct_t d;
    direct_open(&d, f.sink, 1, 2);
    assert_int_equal(d.fn->begin_transaction(d.w, &d.c), SPATE_OK);
    direct_write(&d, f.schema, 0, 100);
    spate_txn_t t = direct_pre_commit(&d, 7);
    int parts = count_files(f.dir, true);
    assert_true(parts > 3);
    for (int i = 0; i < 3; i++) assert_int_equal(d.fn->commit(d.w, t.data, t.len, &d.c), SPATE_OK);
    assert_int_equal(count_files(f.dir, false), parts);
    assert_int_equal(count_files(f.dir, true), 0);
    char *want = rows_text(0, 100);
    assert_parts(f.dir, 1, parts, want);
    free(want);
    /* aborting a committed transaction changes nothing */
    assert_int_equal(d.fn->abort(d.w, t.data, t.len, &d.c), SPATE_OK);
    assert_int_equal(count_files(f.dir, false), parts);
    d.fn->close(d.w);
    free(t.data);
    eo_teardown(&f);
}

static void abort_discards(void **state)
{
    eo_fixture_t f = eo_setup(state, "abort", 200);
    direct_t d;
    direct_open(&d, f.sink, 0, 1);
    /* a pre-committed transaction */
    assert_int_equal(d.fn->begin_transaction(d.w, &d.c), SPATE_OK);
    direct_write(&d, f.schema, 0, 50);
    spate_txn_t t = direct_pre_commit(&d, 1);
    assert_true(count_files(f.dir, true) > 1);
    assert_int_equal(d.fn->abort(d.w, t.data, t.len, &d.c), SPATE_OK);
    assert_int_equal(d.fn->abort(d.w, t.data, t.len, &d.c), SPATE_OK); /* twice is fine */
    assert_int_equal(count_files(f.dir, true), 0);
    assert_int_equal(count_files(f.dir, false), 0);
    /* the current transaction (txn NULL), with rolled and open parts */
    assert_int_equal(d.fn->begin_transaction(d.w, &d.c), SPATE_OK);
    direct_write(&d, f.schema, 50, 50);
    assert_true(count_files(f.dir, true) > 1);
    assert_int_equal(d.fn->abort(d.w, NULL, 0, &d.c), SPATE_OK);
    assert_int_equal(count_files(f.dir, true), 0);
    assert_int_equal(count_files(f.dir, false), 0);
    /* the writer goes on with a new transaction */
    assert_int_equal(d.fn->begin_transaction(d.w, &d.c), SPATE_OK);
    direct_write(&d, f.schema, 100, 3);
    spate_txn_t t2 = direct_pre_commit(&d, 2);
    assert_int_equal(d.fn->commit(d.w, t2.data, t2.len, &d.c), SPATE_OK);
    assert_int_equal(count_files(f.dir, false), 1);
    d.fn->close(d.w);
    free(t.data);
    free(t2.data);
    eo_teardown(&f);
}

static void commit_errors_name_the_part(void **state)
{
    eo_fixture_t f = eo_setup(state, "cerr", 0);
    direct_t d;
    direct_open(&d, f.sink, 0, 1);
    assert_int_equal(d.fn->begin_transaction(d.w, &d.c), SPATE_OK);
    direct_write(&d, f.schema, 0, 5);
    spate_txn_t t = direct_pre_commit(&d, 1);
    /* the pending part vanished (and was never committed) */
    DIR *dir = opendir(f.dir);
    char *hidden = NULL;
    for (struct dirent *e; (e = readdir(dir));)
        if (!strncmp(e->d_name, ".part-0-0.inprogress.", 21))
            hidden = sp_xasprintf("%s/%s", f.dir, e->d_name);
    closedir(dir);
    assert_non_null(hidden);
    assert_int_equal(unlink(hidden), 0);
    assert_int_equal(d.fn->commit(d.w, t.data, t.len, &d.c), SPATE_EIO);
    char *want =
        sp_xasprintf("cannot commit '%s' as '%s/part-0-0': No such file or directory", hidden, f.dir);
    assert_string_equal(d.err.message, want);
    free(want);
    free(hidden);
    /* a description that is not one of ours */
    d.err = (sp_error_t){ 0 }; /* the first error of a record stays */
    static const uint8_t junk[] = { 'S', 'P', 'F', 'S', 1, 1, 0, 0, 0, 3, 0, 0, 0, '.', '.', '/' };
    assert_int_equal(d.fn->commit(d.w, junk, sizeof junk, &d.c), SPATE_EPARSE);
    assert_non_null(strstr(d.err.message, "malformed transaction"));
    assert_non_null(strstr(d.err.message, f.dir));
    assert_int_equal(d.fn->commit(d.w, "x", 1, &d.c), SPATE_EPARSE);
    d.fn->close(d.w);
    free(t.data);
    eo_teardown(&f);
}

/* ---- exactly once: the sink operator, as the checkpoint coordinator drives it ---- */

typedef struct op {
    sp_op_ctx_t ctx;
    sp_error_t err;
    void *inst;
} op_t;

static void op_open(op_t *o, const spate_sink_t *sink, int sub, int p, int attempt)
{
    memset(o, 0, sizeof *o);
    o->ctx.info = (spate_task_info_t){ "sink", sub, p, 128, attempt };
    o->ctx.error = &o->err;
    assert_int_equal(sp_sink_op.open(sink, &o->ctx, &o->inst), SPATE_OK);
}

static void op_write(op_t *o, const spate_schema_t *schema, int first, int n)
{
    sp_batch_t *b = rows_batch(schema, first, n);
    assert_int_equal(sp_sink_op.process_batch(o->inst, 0, b), SPATE_OK);
    sp_batch_release(b);
}

/* Barrier id passes the sink, then its snapshot is taken (returned; caller frees .data). */
static sp_opstate_bytes_t op_checkpoint(op_t *o, int64_t id)
{
    sp_opstate_bytes_t b = { 0 };
    assert_int_equal(sp_sink_op.process_barrier(o->inst, id), SPATE_OK);
    assert_int_equal(sp_sink_op.snapshot(o->inst, id, &b.data, &b.len), SPATE_OK);
    assert_non_null(b.data);
    return b;
}

static void checkpoint_completion_commits_barriers_up_to_it(void **state)
{
    eo_fixture_t f = eo_setup(state, "op", 0);
    op_t o;
    op_open(&o, f.sink, 0, 1, 0);
    op_write(&o, f.schema, 0, 10);
    sp_opstate_bytes_t s1 = op_checkpoint(&o, 1);
    op_write(&o, f.schema, 10, 10);
    sp_opstate_bytes_t s2 = op_checkpoint(&o, 2);
    op_write(&o, f.schema, 20, 10);
    assert_int_equal(count_files(f.dir, false), 0);
    /* checkpoint 1's notification was lost: completing 2 commits both */
    assert_int_equal(sp_sink_op.notify_checkpoint_complete(o.inst, 2), SPATE_OK);
    char *want = rows_text(0, 20);
    assert_parts(f.dir, 0, 2, want);
    free(want);
    assert_int_equal(sp_sink_op.notify_checkpoint_complete(o.inst, 2), SPATE_OK); /* again: nothing */
    assert_int_equal(count_files(f.dir, true), 1);                                /* rows 20..29 */
    /* end of input commits the final transaction */
    assert_int_equal(sp_sink_op.end_input(o.inst), SPATE_OK);
    want = rows_text(0, 30);
    assert_parts(f.dir, 0, 3, want);
    free(want);
    assert_int_equal(count_files(f.dir, true), 0);
    sp_sink_op.close(o.inst);
    sp_opstate_bytes_free(&s1);
    sp_opstate_bytes_free(&s2);
    eo_teardown(&f);
}

static void failure_discards_current_transaction_keeps_pending(void **state)
{
    eo_fixture_t f = eo_setup(state, "fail", 0);
    op_t o;
    op_open(&o, f.sink, 0, 1, 0);
    op_write(&o, f.schema, 0, 10);
    sp_opstate_bytes_t s1 = op_checkpoint(&o, 1);
    op_write(&o, f.schema, 10, 10);
    assert_int_equal(count_files(f.dir, true), 2);
    sp_sink_op.close(o.inst);                      /* no end of input: a failure */
    assert_int_equal(count_files(f.dir, true), 1); /* the pending part of checkpoint 1 */
    assert_int_equal(count_files(f.dir, false), 0);

    /* the next attempt restores checkpoint 1: its part is published, exactly once */
    op_open(&o, f.sink, 0, 1, 1);
    assert_int_equal(tu_op_restore(&sp_sink_op, o.inst, &s1, 1, 0, 1), SPATE_OK);
    char *want = rows_text(0, 10);
    assert_parts(f.dir, 0, 1, want);
    free(want);
    op_write(&o, f.schema, 10, 10); /* replayed by the sources */
    assert_int_equal(sp_sink_op.end_input(o.inst), SPATE_OK);
    sp_sink_op.close(o.inst);
    want = rows_text(0, 20);
    assert_parts(f.dir, 0, 2, want);
    free(want);
    assert_int_equal(count_files(f.dir, false), 2);
    assert_int_equal(count_files(f.dir, true), 0);
    sp_opstate_bytes_free(&s1);
    eo_teardown(&f);
}

/*
 * A process crashes (no close, no commit) after checkpoint 1 was taken, with later rows in
 * rolled and open in-progress parts; commit_first: checkpoint 1's notification had been
 * handled before the crash.  The next attempt restores checkpoint 1 and sees the rows exactly
 * once, and no hidden file is left.
 */
static void crash_and_recover(void **state, bool commit_first)
{
    eo_fixture_t f = eo_setup(state, commit_first ? "crash-c" : "crash", 300);
    char *ckpt = sp_xasprintf("%s/checkpoint", (const char *)*state);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        op_t o;
        op_open(&o, f.sink, 0, 1, 0);
        op_write(&o, f.schema, 0, 100);
        sp_opstate_bytes_t s = op_checkpoint(&o, 1);
        FILE *out = fopen(ckpt, "wb");
        if (!out || fwrite(s.data, 1, s.len, out) != s.len || fclose(out) != 0) _exit(2);
        if (commit_first && sp_sink_op.notify_checkpoint_complete(o.inst, 1) != SPATE_OK) _exit(3);
        op_write(&o, f.schema, 100, 60);
        _exit(0); /* crash: the writer is dropped */
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_true(count_files(f.dir, true) > 1);
    int committed = count_files(f.dir, false);
    assert_true(commit_first ? committed > 1 : committed == 0);

    size_t len;
    char *bytes = tu_read_file_len(ckpt, &len);
    assert_non_null(bytes);
    op_t o;
    op_open(&o, f.sink, 0, 1, 1);
    sp_opstate_bytes_t from_file = { (uint8_t *)bytes, len };
    assert_int_equal(tu_op_restore(&sp_sink_op, o.inst, &from_file, 1, 0, 1), SPATE_OK);
    free(bytes);
    assert_int_equal(count_files(f.dir, true), 0); /* strays deleted */
    int parts = count_files(f.dir, false);
    char *want = rows_text(0, 100);
    assert_parts(f.dir, 0, parts, want);
    free(want);
    /* the sources replay rows 100..159; the new parts continue the numbering */
    op_write(&o, f.schema, 100, 60);
    sp_opstate_bytes_t s2 = op_checkpoint(&o, 2);
    assert_int_equal(sp_sink_op.notify_checkpoint_complete(o.inst, 2), SPATE_OK);
    assert_int_equal(sp_sink_op.end_input(o.inst), SPATE_OK);
    sp_sink_op.close(o.inst);
    int all = count_files(f.dir, false);
    assert_true(all > parts);
    want = rows_text(0, 160);
    assert_parts(f.dir, 0, all, want);
    free(want);
    assert_int_equal(count_files(f.dir, true), 0);
    sp_opstate_bytes_free(&s2);
    free(ckpt);
    eo_teardown(&f);
}

static void crash_after_pre_commit_publishes_once(void **state)
{
    crash_and_recover(state, false);
}

static void crash_after_commit_publishes_once(void **state)
{
    crash_and_recover(state, true);
}

static void restore_at_lower_parallelism_commits_every_subtask(void **state)
{
    eo_fixture_t f = eo_setup(state, "rescale", 0);
    sp_opstate_bytes_t old[2];
    for (int sub = 0; sub < 2; sub++) {
        op_t o;
        op_open(&o, f.sink, sub, 2, 0);
        op_write(&o, f.schema, sub * 1000, 20);
        old[sub] = op_checkpoint(&o, 5);
        op_write(&o, f.schema, sub * 1000 + 20, 5);
        sp_sink_op.close(o.inst); /* failure */
    }
    assert_int_equal(count_files(f.dir, false), 0);
    /* what crashed subtasks leave: in-progress parts no checkpoint names, of subtask 1 (gone after
     * the rescale) and of a subtask 3 of some earlier run at parallelism 4; and a file that only
     * looks like one */
    const char *strays[] = { ".part-1-1.inprogress.0123456789abcdef",
                             ".part-3-0.inprogress.fedcba9876543210" };
    for (int i = 0; i < 2; i++) put_file(f.dir, strays[i], "stray\n");
    put_file(f.dir, ".part-x-0.inprogress.0", "not a part\n");
    op_t o;
    op_open(&o, f.sink, 0, 1, 1);
    assert_int_equal(tu_op_restore(&sp_sink_op, o.inst, old, 2, 0, 1), SPATE_OK);
    char *want = rows_text(0, 20);
    assert_parts(f.dir, 0, 1, want);
    free(want);
    want = rows_text(1000, 20);
    assert_parts(f.dir, 1, 1, want);
    free(want);
    assert_int_equal(count_files(f.dir, true), 1); /* the strays are gone, the look-alike stays */
    sp_sink_op.close(o.inst);
    assert_int_equal(count_files(f.dir, false), 2);
    sp_opstate_bytes_free(&old[0]);
    sp_opstate_bytes_free(&old[1]);
    eo_teardown(&f);
}

/* ---- exactly once: a whole job ---- */

static void job_run(void **state, const char *sub, const char *mode)
{
    char *dir = sp_xasprintf("%s/%s", (const char *)*state, sub);
    spate_env_t *env = spate_env_create();
    spate_env_set_parallelism(env, 2);
    if (mode) assert_int_equal(spate_env_set_config(env, "execution.runtime-mode", mode), SPATE_OK);
    tu_seq_opts_t so = { .n = 5000, .keys = 7, .parallel = true };
    spate_file_sink_options_t fo;
    spate_file_sink_options_init(&fo);
    fo.rolling_max_bytes = 4096;
    spate_stream_sink(spate_env_add_source(env, tu_seq_source(&so), "seq"), spate_file_sink(dir, &fo),
                      "files");
    assert_int_equal(spate_env_execute(env, "files"), SPATE_OK);
    spate_env_destroy(env);
    assert_int_equal(count_files(dir, true), 0);
    assert_true(count_files(dir, false) > 4);
    char *got = tu_read_dir(dir);
    char *sorted = tu_sort_lines(got);
    sp_text_buf_t t = { 0 };
    for (int v = 0; v < 5000; v++) {
        char line[64];
        int len = snprintf(line, sizeof line, "%d,%d\n", v % 7, v);
        sp_text_buf_append(&t, line, (size_t)len);
    }
    sp_text_buf_append(&t, "", 1);
    char *want = tu_sort_lines(t.data);
    assert_string_equal(sorted, want);
    free(want);
    sp_text_buf_fini(&t);
    free(sorted);
    free(got);
    free(dir);
}

static void job_writes_all_rows_visibly_at_the_end(void **state)
{
    job_run(state, "job", NULL);
    job_run(state, "job-batch", "BATCH");
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
    cmocka_unit_test_setup_teardown(pre_committed_parts_stay_hidden_until_commit, tu_setup_tmpdir,
                                    tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(commit_is_idempotent, tu_setup_tmpdir, tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(abort_discards, tu_setup_tmpdir, tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(commit_errors_name_the_part, tu_setup_tmpdir, tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(checkpoint_completion_commits_barriers_up_to_it, tu_setup_tmpdir,
                                    tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(failure_discards_current_transaction_keeps_pending, tu_setup_tmpdir,
                                    tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(crash_after_pre_commit_publishes_once, tu_setup_tmpdir,
                                    tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(crash_after_commit_publishes_once, tu_setup_tmpdir, tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(restore_at_lower_parallelism_commits_every_subtask, tu_setup_tmpdir,
                                    tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(job_writes_all_rows_visibly_at_the_end, tu_setup_tmpdir,
                                    tu_teardown_tmpdir),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "connectors_file_sink");
}
