/*
 * print_sink.c — spate_print_sink: rows as text lines on stdout or stderr,
 * in the format of Flink's print sink (PrintSinkOutputWriter + Row.toString):
 *
 *   [prefix[:k]> ]KIND[v1, v2, ...]
 *
 * KIND is +I, -U, +U or -D; k is the 1-based subtask number, present only
 * when the sink runs with parallelism > 1; "prefix" only when one is given;
 * the "> " only when either is present.  Values use the engine's text
 * format (sp_format_field, plain, no quoting); NULL prints as "null".
 *
 * Each batch is formatted into the writer's buffer and written with one
 * fwrite(3) followed by fflush(3).  stdio locks the stream for the whole
 * call, so the lines of parallel subtasks (threads of one process) never
 * interleave mid-line, and a slow consumer sees whole batches promptly.
 *
 * Thread-safety: the spec is immutable; a writer belongs to its task thread.
 */
#include "connectors/connector.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "connectors/csv.h"

typedef struct print_spec {
    bool to_stderr;
    char *prefix; /* NULL or "" = none */
} print_spec_t;

typedef struct print_writer {
    FILE *stream;
    const char *stream_name;
    char *head; /* "prefix:k> " etc., may be "" */
    size_t head_len;
    sp_text_buf_t out; /* one batch of formatted lines */
} print_writer_t;

static const char *const kind_names[] = { "+I", "-U", "+U", "-D" };

static void append_field(print_writer_t *w, const spate_row_t *row, int f)
{
    if (spate_row_is_null(row, f))
        sp_text_buf_append(&w->out, "null", 4);
    else
        sp_text_buf_append_field(&w->out, row, f, ',', false);
}

static int print_open(const void *spec, const spate_task_info_t *info, sp_error_t *err, void **writer)
{
    SP_UNUSED(err);
    const print_spec_t *s = spec;
    print_writer_t *w = sp_xcalloc(1, sizeof *w);
    w->stream = s->to_stderr ? stderr : stdout;
    w->stream_name = s->to_stderr ? "stderr" : "stdout";
    /* The line head, as Flink's PrintSinkOutputWriter.open builds it. */
    const char *prefix = s->prefix ? s->prefix : "";
    if (info && info->parallelism > 1)
        w->head = sp_xasprintf("%s%s%d> ", prefix, *prefix ? ":" : "", info->subtask_index + 1);
    else
        w->head = sp_xasprintf("%s%s", prefix, *prefix ? "> " : "");
    w->head_len = strlen(w->head);
    *writer = w;
    return SPATE_OK;
}

static int print_write(void *writer, const sp_batch_t *batch, sp_error_t *err)
{
    print_writer_t *w = writer;
    int nf = spate_schema_field_count(batch->schema);
    sp_text_buf_t *out = &w->out;
    out->len = 0;
    for (uint32_t i = 0; i < batch->count; i++) {
        spate_row_t row = { batch, i };
        sp_text_buf_append(out, w->head, w->head_len);
        sp_text_buf_append(out, kind_names[batch->kinds[i] & 3], 2);
        sp_text_buf_append(out, "[", 1);
        for (int f = 0; f < nf; f++) {
            if (f) sp_text_buf_append(out, ", ", 2);
            append_field(w, &row, f);
        }
        sp_text_buf_append(out, "]\n", 2);
    }
    if (out->len == 0) return SPATE_OK;
    errno = 0;
    if (fwrite(out->data, 1, out->len, w->stream) != out->len || fflush(w->stream) != 0)
        return sp_error_set(err, SPATE_EIO, "print sink: cannot write to %s: %s", w->stream_name,
                            strerror(errno ? errno : EIO));
    return SPATE_OK;
}

static int print_finish(void *writer, sp_error_t *err)
{
    print_writer_t *w = writer;
    if (fflush(w->stream) != 0)
        return sp_error_set(err, SPATE_EIO, "print sink: cannot write to %s: %s", w->stream_name,
                            strerror(errno));
    return SPATE_OK;
}

static void print_close(void *writer)
{
    print_writer_t *w = writer;
    if (!w) return;
    free(w->head);
    sp_text_buf_fini(&w->out);
    free(w);
}

static void print_destroy(void *spec)
{
    print_spec_t *s = spec;
    if (!s) return;
    free(s->prefix);
    free(s);
}

static const sp_sink_vtable_t print_vtable = {
    .kind = "print",
    .open = print_open,
    .write = print_write,
    .finish = print_finish,
    .close = print_close,
    .destroy = print_destroy,
};

spate_sink_t *spate_print_sink(const spate_print_options_t *opts)
{
    print_spec_t *s = sp_xcalloc(1, sizeof *s);
    if (opts) {
        s->to_stderr = opts->to_stderr;
        if (opts->prefix && *opts->prefix) s->prefix = sp_xstrdup(opts->prefix);
    }
    return sp_sink_new(&print_vtable, s);
}
