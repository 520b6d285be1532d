/*
 * file_sink.c — spate_file_sink: rows as CSV or delimited text lines in
 * part files of a directory, as Flink's FileSink with a rolling policy.
 *
 * Layout:  <dir>/part-<subtask>-<n>    subtask = 0-based index,
 *                                      n = 0, 1, ... per subtask
 * A part is created at its first row (a subtask that gets no rows leaves no
 * file) and rolled — closed with fsync, n + 1 — after the row that brings it
 * to rolling_max_bytes or more, so a part never splits a row and rows keep
 * their order across parts: concatenating a subtask's parts in n order
 * gives its rows in order.
 *
 * Line format (one row a line, "\n"-terminated; the row kind is not
 * written):
 *   CSV   fields joined by the delimiter (default ','), RFC 4180 quoting via
 *         sp_format_field (a string holding the delimiter, '"', CR or LF is
 *         quoted, '"' doubled; the empty string is ""); NULL is empty.
 *   TEXT  fields joined by the delimiter (default TAB), as is; NULL is empty.
 *
 * Writes go through a BUF_FLUSH-sized buffer (one write(2) per ~1 MiB).
 * finish() flushes, fsyncs and closes the open part and fsyncs the
 * directory.  Any failing call fails with the part's path and strerror.
 *
 * The part-file lifecycle (name, create, roll, complete) is kept in the
 * "part files" section below and nowhere else, so that the exactly-once
 * version (in-progress files committed on checkpoint completion) changes
 * only that section.
 *
 * Thread-safety: the spec is immutable; a writer belongs to its task thread
 * and only ever touches its own subtask's files.
 */
#include "connectors/connector.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "connectors/csv.h"

#define BUF_FLUSH       (1024 * 1024)
#define DEFAULT_ROLLING (128 * 1024 * 1024)

typedef struct fsink_spec {
    char *dir;
    spate_file_format_t format;
    char delimiter;
    int64_t rolling_max_bytes;
} fsink_spec_t;

typedef struct fsink_writer {
    const fsink_spec_t *spec;
    int subtask;
    /* current part */
    int fd;             /* -1: no part open */
    char *path;         /* its path (NULL when none) */
    int part;           /* n of the current (or next) part */
    int64_t part_bytes; /* bytes of the current part, written + buffered */
    sp_text_buf_t out;  /* buffered, not yet written bytes of the current part */
} fsink_writer_t;

/* ---- part files ---- */

static char *part_path(const fsink_writer_t *w, int n)
{
    return sp_xasprintf("%s/part-%d-%d", w->spec->dir, w->subtask, n);
}

static int part_create(fsink_writer_t *w, sp_error_t *err)
{
    w->path = part_path(w, w->part);
    w->fd = open(w->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) return sp_error_set(err, SPATE_EIO, "cannot create '%s': %s", w->path, strerror(errno));
    w->part_bytes = 0;
    return SPATE_OK;
}

/* Writes the buffered bytes to the current part. */
static int part_flush(fsink_writer_t *w, sp_error_t *err)
{
    size_t off = 0;
    while (off < w->out.len) {
        ssize_t n = write(w->fd, w->out.data + off, w->out.len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0)
            return sp_error_set(err, SPATE_EIO, "cannot write '%s': %s", w->path,
                                strerror(n < 0 ? errno : EIO));
        off += (size_t)n;
    }
    w->out.len = 0;
    return SPATE_OK;
}

/* Completes the current part: flush, fsync, close; the next row opens part n + 1. */
static int part_complete(fsink_writer_t *w, sp_error_t *err)
{
    int rc = part_flush(w, err);
    if (rc == SPATE_OK && fsync(w->fd) != 0)
        rc = sp_error_set(err, SPATE_EIO, "cannot fsync '%s': %s", w->path, strerror(errno));
    if (close(w->fd) != 0 && rc == SPATE_OK)
        rc = sp_error_set(err, SPATE_EIO, "cannot close '%s': %s", w->path, strerror(errno));
    w->fd = -1;
    free(w->path);
    w->path = NULL;
    w->part++;
    return rc;
}

/* Called after each row: rolls when the part has reached its size. */
static int part_maybe_roll(fsink_writer_t *w, sp_error_t *err)
{
    if (w->part_bytes >= w->spec->rolling_max_bytes) return part_complete(w, err);
    if (w->out.len >= BUF_FLUSH) return part_flush(w, err);
    return SPATE_OK;
}

/* ---- formatting ---- */

/* Appends one row as a line to the buffer; returns its length. */
static size_t format_row(fsink_writer_t *w, const spate_row_t *row, int nf)
{
    const bool csv = w->spec->format == SPATE_FORMAT_CSV;
    const char delim = w->spec->delimiter;
    sp_text_buf_t *out = &w->out;
    size_t start = out->len;
    for (int f = 0; f < nf; f++) {
        if (f) sp_text_buf_append(out, &delim, 1);
        sp_text_buf_append_field(out, row, f, delim, csv);
    }
    sp_text_buf_append(out, "\n", 1);
    return out->len - start;
}

/* ---- vtable ---- */

/* mkdir -p: creates `dir` and its missing parents. */
static int make_dirs(const char *dir, sp_error_t *err)
{
    char *p = sp_xstrdup(dir);
    int rc = SPATE_OK;
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0') continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            rc = sp_error_set(err, SPATE_EIO, "cannot create directory '%s': %s", p, strerror(errno));
            break;
        }
        *s = c;
        if (c == '\0') break;
    }
    free(p);
    if (rc != SPATE_OK) return rc;
    struct stat st;
    if (stat(dir, &st) != 0)
        return sp_error_set(err, SPATE_EIO, "cannot create directory '%s': %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return sp_error_set(err, SPATE_EIO, "cannot create directory '%s': %s", dir, strerror(ENOTDIR));
    if (access(dir, W_OK | X_OK) != 0)
        return sp_error_set(err, SPATE_EIO, "cannot write to directory '%s': %s", dir, strerror(errno));
    return SPATE_OK;
}

static int fsink_open(const void *spec, const spate_task_info_t *info, sp_error_t *err, void **writer)
{
    const fsink_spec_t *s = spec;
    int rc = make_dirs(s->dir, err);
    if (rc != SPATE_OK) return rc;
    fsink_writer_t *w = sp_xcalloc(1, sizeof *w);
    w->spec = s;
    w->subtask = info ? info->subtask_index : 0;
    w->fd = -1;
    sp_text_buf_init(&w->out, BUF_FLUSH + 4096); /* BUF_FLUSH bytes and the row that crosses it */
    *writer = w;
    return SPATE_OK;
}

static int fsink_write(void *writer, const sp_batch_t *batch, sp_error_t *err)
{
    fsink_writer_t *w = writer;
    int nf = spate_schema_field_count(batch->schema);
    for (uint32_t i = 0; i < batch->count; i++) {
        int rc;
        if (w->fd < 0 && (rc = part_create(w, err)) != SPATE_OK) return rc;
        spate_row_t row = { batch, i };
        w->part_bytes += (int64_t)format_row(w, &row, nf);
        if ((rc = part_maybe_roll(w, err)) != SPATE_OK) return rc;
    }
    return SPATE_OK;
}

static int fsink_finish(void *writer, sp_error_t *err)
{
    fsink_writer_t *w = writer;
    if (w->fd >= 0) {
        int rc = part_complete(w, err);
        if (rc != SPATE_OK) return rc;
    }
    /* Make the new directory entries durable too. */
    int dfd = open(w->spec->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return SPATE_OK;
}

static void fsink_close(void *writer)
{
    fsink_writer_t *w = writer;
    if (!w) return;
    if (w->fd >= 0) close(w->fd); /* after a failure: the part stays as written so far */
    free(w->path);
    sp_text_buf_fini(&w->out);
    free(w);
}

static void fsink_destroy(void *spec)
{
    fsink_spec_t *s = spec;
    if (!s) return;
    free(s->dir);
    free(s);
}

static const sp_sink_vtable_t fsink_vtable = {
    .kind = "filesystem",
    .open = fsink_open,
    .write = fsink_write,
    .finish = fsink_finish,
    .close = fsink_close,
    .destroy = fsink_destroy,
};

/* ---- constructor ---- */

void spate_file_sink_options_init(spate_file_sink_options_t *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->format = SPATE_FORMAT_CSV;
    opts->delimiter = 0;
    opts->rolling_max_bytes = DEFAULT_ROLLING;
}

spate_sink_t *spate_file_sink(const char *path, const spate_file_sink_options_t *opts)
{
    spate_file_sink_options_t o;
    if (opts)
        o = *opts;
    else
        spate_file_sink_options_init(&o);
    if (!path || !*path) {
        sp_set_error(SPATE_EINVAL, "file sink: path is empty");
        return NULL;
    }
    if (o.format != SPATE_FORMAT_CSV && o.format != SPATE_FORMAT_TEXT) {
        sp_set_error(SPATE_EINVAL, "file sink '%s': unknown format %d", path, (int)o.format);
        return NULL;
    }
    if (o.rolling_max_bytes < 0) {
        sp_set_error(SPATE_EINVAL, "file sink '%s': rolling_max_bytes must be >= 0", path);
        return NULL;
    }
    char delim = o.delimiter ? o.delimiter : o.format == SPATE_FORMAT_CSV ? ',' : '\t';
    if (delim == '\n' || delim == '\r' || (o.format == SPATE_FORMAT_CSV && delim == '"')) {
        sp_set_error(SPATE_EINVAL, "file sink '%s': invalid delimiter", path);
        return NULL;
    }
    fsink_spec_t *s = sp_xcalloc(1, sizeof *s);
    s->dir = sp_xstrdup(path);
    size_t n = strlen(s->dir);
    while (n > 1 && s->dir[n - 1] == '/') s->dir[--n] = '\0'; /* "out/" → "out" */
    s->format = o.format;
    s->delimiter = delim;
    s->rolling_max_bytes = o.rolling_max_bytes ? o.rolling_max_bytes : DEFAULT_ROLLING;
    return sp_sink_new(&fsink_vtable, s);
}
