/* test_print_sink.c — spate_print_sink: Flink's print format, stdout/stderr, no mixed lines across threads. */
#include "connectors/connector.h"

#include "test_main.h"
#include "test_util.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ---- capture of stdout / stderr into a temp file ---- */

typedef struct capture {
    int fdno, saved;
    char path[64];
} capture_t;

static void capture_begin(capture_t *c, int fdno)
{
    fflush(stdout);
    fflush(stderr);
    c->fdno = fdno;
    strcpy(c->path, "/tmp/spate_print_XXXXXX");
    int fd = mkstemp(c->path);
    assert_true(fd >= 0);
    c->saved = dup(fdno);
    assert_true(dup2(fd, fdno) >= 0);
    close(fd);
}

/* Restores the stream and returns what was written (caller frees). */
static char *capture_end(capture_t *c)
{
    fflush(stdout);
    fflush(stderr);
    dup2(c->saved, c->fdno);
    close(c->saved);
    char *s = tu_read_file(c->path);
    assert_non_null(s);
    unlink(c->path);
    return s;
}

/* ---- batches ---- */

/* A batch of schema "id INT, name STRING, price DOUBLE, ok BOOLEAN" with `n` rows; row i has kind i % 4,
 * and NULLs in row 1. */
static sp_batch_t *sample_batch(const spate_schema_t *schema, int n, const char *tag)
{
    sp_batch_t *b = NULL;
    sp_error_t err = { 0 };
    spate_collector_t c;
    sp_collector_init(&c, schema, (uint32_t)n + 1, tu_keep_batch, &b, &err);
    for (int i = 0; i < n; i++) {
        spate_out_set_int(&c, 0, i);
        if (i == 1) {
            spate_out_set_null(&c, 1);
            spate_out_set_null(&c, 2);
            spate_out_set_null(&c, 3);
        } else {
            char name[64];
            int len = snprintf(name, sizeof name, "%s-%d", tag, i);
            spate_out_set_string(&c, 1, name, (size_t)len);
            spate_out_set_double(&c, 2, i + 0.5);
            spate_out_set_boolean(&c, 3, i % 2 == 0);
        }
        spate_out_set_kind(&c, (spate_row_kind_t)(i % 4));
        assert_int_equal(spate_out_emit(&c), SPATE_OK);
    }
    assert_int_equal(sp_collector_flush(&c), SPATE_OK);
    sp_collector_fini(&c);
    return b;
}

/* Writes one batch through a print sink opened as subtask `index` of `p`, capturing `fdno`. */
static char *print_one(const spate_print_options_t *opts, int index, int p, int fdno, int nrows)
{
    spate_schema_t *schema = spate_schema_of("id INT, name STRING, price DOUBLE, ok BOOLEAN");
    spate_sink_t *sink = spate_print_sink(opts);
    spate_task_info_t info = { "print", index, p, 128, 0 };
    sp_error_t err = { 0 };
    void *w = NULL;
    sp_batch_t *b = sample_batch(schema, nrows, "x");
    capture_t cap;
    capture_begin(&cap, fdno);
    assert_int_equal(sink->vt->open(sink->spec, &info, &err, &w), SPATE_OK);
    assert_int_equal(sink->vt->write(w, b, &err), SPATE_OK);
    assert_int_equal(sink->vt->finish(w, &err), SPATE_OK);
    sink->vt->close(w);
    char *got = capture_end(&cap);
    sp_batch_release(b);
    spate_sink_destroy(sink);
    spate_schema_release(schema);
    return got;
}

/* ---- cases ---- */

static void flink_format_parallelism_one(void **state)
{
    (void)state;
    char *got = print_one(NULL, 0, 1, STDOUT_FILENO, 4);
    assert_string_equal(got, "+I[0, x-0, 0.5, true]\n"
                             "-U[1, null, null, null]\n"
                             "+U[2, x-2, 2.5, true]\n"
                             "-D[3, x-3, 3.5, false]\n");
    free(got);
}

static void prefix_and_subtask_number(void **state)
{
    (void)state;
    spate_print_options_t o = { .to_stderr = false, .prefix = "sink" };
    char *got = print_one(&o, 0, 1, STDOUT_FILENO, 1);
    assert_string_equal(got, "sink> +I[0, x-0, 0.5, true]\n");
    free(got);

    got = print_one(NULL, 2, 3, STDOUT_FILENO, 2); /* subtask numbers are 1-based */
    assert_string_equal(got, "3> +I[0, x-0, 0.5, true]\n3> -U[1, null, null, null]\n");
    free(got);

    got = print_one(&o, 1, 4, STDOUT_FILENO, 1);
    assert_string_equal(got, "sink:2> +I[0, x-0, 0.5, true]\n");
    free(got);
}

static void prints_to_stderr(void **state)
{
    (void)state;
    spate_print_options_t o = { .to_stderr = true, .prefix = NULL };
    capture_t out;
    capture_begin(&out, STDOUT_FILENO);
    char *err_text = print_one(&o, 0, 1, STDERR_FILENO, 1);
    char *out_text = capture_end(&out);
    assert_string_equal(err_text, "+I[0, x-0, 0.5, true]\n");
    assert_string_equal(out_text, "");
    free(err_text);
    free(out_text);
}

/* ---- parallel subtasks on threads ---- */

enum { THREADS = 4, BATCHES = 100, ROWS = 60 };

typedef struct job {
    const spate_sink_t *sink;
    const spate_schema_t *schema;
    int index;
    int rc;
} job_t;

static void *subtask_main(void *arg)
{
    job_t *j = arg;
    spate_task_info_t info = { "print", j->index, THREADS, 128, 0 };
    sp_error_t err = { 0 };
    void *w = NULL;
    char tag[64];
    snprintf(tag, sizeof tag, "subtask-%d-with-a-long-name-to-make-lines-long", j->index);
    j->rc = j->sink->vt->open(j->sink->spec, &info, &err, &w);
    for (int i = 0; i < BATCHES && j->rc == SPATE_OK; i++) {
        sp_batch_t *b = sample_batch(j->schema, ROWS, tag);
        j->rc = j->sink->vt->write(w, b, &err);
        sp_batch_release(b);
    }
    if (j->rc == SPATE_OK) j->rc = j->sink->vt->finish(w, &err);
    if (w) j->sink->vt->close(w);
    return NULL;
}

static void parallel_lines_never_interleave(void **state)
{
    (void)state;
    spate_schema_t *schema = spate_schema_of("id INT, name STRING, price DOUBLE, ok BOOLEAN");
    spate_sink_t *sink = spate_print_sink(NULL);
    pthread_t t[THREADS];
    job_t jobs[THREADS];
    capture_t cap;
    capture_begin(&cap, STDOUT_FILENO);
    for (int i = 0; i < THREADS; i++) {
        jobs[i] = (job_t){ sink, schema, i, 0 };
        assert_int_equal(pthread_create(&t[i], NULL, subtask_main, &jobs[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    char *got = capture_end(&cap);
    for (int i = 0; i < THREADS; i++) assert_int_equal(jobs[i].rc, SPATE_OK);

    /* Every line is one whole row of one subtask, and each subtask's rows keep their order. */
    int next[THREADS] = { 0 }, lines = 0;
    for (char *line = strtok(got, "\n"); line; line = strtok(NULL, "\n")) {
        int k = line[0] - '1';
        assert_true(k >= 0 && k < THREADS);
        int row = next[k]++ % ROWS;
        char want[160];
        static const char *const kinds[] = { "+I", "-U", "+U", "-D" };
        if (row == 1)
            snprintf(want, sizeof want, "%d> -U[1, null, null, null]", k + 1);
        else
            snprintf(want, sizeof want,
                     "%d> %s[%d, subtask-%d-with-a-long-name-to-make-lines-long-%d, %d.5, %s]", k + 1,
                     kinds[row % 4], row, k, row, row, row % 2 == 0 ? "true" : "false");
        assert_string_equal(line, want);
        lines++;
    }
    assert_int_equal(lines, THREADS * BATCHES * ROWS);
    free(got);
    spate_sink_destroy(sink);
    spate_schema_release(schema);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(flink_format_parallelism_one),
    cmocka_unit_test(prefix_and_subtask_number),
    cmocka_unit_test(prints_to_stderr),
    cmocka_unit_test(parallel_lines_never_interleave),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "connectors_print_sink");
}
