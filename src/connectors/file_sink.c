/*
 * file_sink.c — spate_file_sink: rows as CSV or delimited text lines in
 * part files of a directory, exactly once, as Flink's FileSink.  It is a
 * two-phase-commit sink (twophase.c drives it; spate/connectors.h has the
 * contract): a transaction is the set of part files written between two
 * checkpoint barriers.
 *
 * Part files of subtask s (0-based), n = 0, 1, ... counting its parts:
 *
 *   .part-<s>-<n>.inprogress.<r>   in progress (being written) or pending
 *                                  (pre-committed: fsynced and closed);
 *                                  hidden; r = 16 random hex digits, so a
 *                                  new attempt never reuses an old file
 *   part-<s>-<n>                   finished: committed, visible
 *
 * Lifecycle: a part is created at the first row of a transaction (a
 * transaction without rows leaves no file) and rolled — fsynced, closed,
 * n + 1 — after the row that brings it to rolling_max_bytes or more, so a
 * part never splits a row, and rows keep their order across parts:
 * concatenating a subtask's parts in n order gives its rows in order.
 * pre_commit completes the open part and fsyncs the directory; the
 * transaction's parts are then pending.  commit renames each to its visible
 * name (rename(2) is atomic: a reader sees the whole part or nothing) and
 * fsyncs the directory.  abort unlinks them.
 *
 * Counters: a fresh writer starts at n = 0 (rerunning a job into the same
 * directory replaces its parts, as before); after a restore, recover()
 * continues after the highest n of this subtask found in the directory or
 * in the restored transactions, so no committed part is overwritten, and
 * deletes the subtask's in-progress files that no restored transaction
 * names (rows written after the restored checkpoint: the sources replay
 * them).  When the parallelism shrank, the in-progress files of a vanished
 * subtask s are handled the same way by subtask s mod parallelism (the one
 * that commits s's restored transactions): deleted unless a restored
 * transaction names them.
 *
 * ---- Transaction description (pre_commit → checkpoint), format 1 --------
 *
 * Integers little-endian, unaligned.  Names are relative to the sink's
 * directory.
 *
 *   Offset   Size   Meaning
 *   0        4      magic: the bytes 'S' 'P' 'F' 'S'
 *   4        1      format version (1)
 *   5        4      part count P (u32, >= 1)
 *   9               P parts, each:
 *                     4   length H of the hidden name (u32, 1..NAME_MAX)
 *                     H   hidden name (starts with '.')
 *                     4   length F of the visible name (u32, 1..NAME_MAX)
 *                     F   visible name (does not start with '.')
 *
 * The description ends after the last part.  Decoding treats it as
 * untrusted (checkpoint files): lengths are checked against the buffer,
 * and a name holding '/' or NUL, or a hidden/visible name not starting /
 * starting with '.', fails with SPATE_EPARSE.
 *
 * Line format (one row a line, "\n"-terminated; the row kind is not
 * written):
 *   CSV   fields joined by the delimiter (default ','), RFC 4180 quoting via
 *         sp_format_field (a string holding the delimiter, '"', CR or LF is
 *         quoted, '"' doubled; the empty string is ""); NULL is empty.
 *   TEXT  fields joined by the delimiter (default TAB), as is; NULL is empty.
 *
 * Writes go through a BUF_FLUSH-sized buffer (one write(2) per ~1 MiB).
 * Any failing call fails with the part's path and strerror.
 *
 * Thread-safety: the spec is immutable; a writer belongs to its task thread
 * and only ever writes, renames or deletes its own subtask's files (commit
 * of a restored transaction: the files named in it; recover: also those of
 * the vanished subtasks it stands in for).
 */
#include "connectors/connector.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "connectors/csv.h"

#define BUF_FLUSH       (1024 * 1024)
#define DEFAULT_ROLLING (128 * 1024 * 1024)
#define INPROGRESS      ".inprogress."
#define DESC_MAGIC      "SPFS"
#define DESC_VERSION    1

typedef struct fsink_spec {
    char *dir;
    spate_file_format_t format;
    char delimiter;
    int64_t rolling_max_bytes;
} fsink_spec_t;

typedef struct fsink_writer {
    const fsink_spec_t *spec;
    int subtask, parallelism;
    uint64_t rng; /* random suffixes of in-progress names */
    /* current part */
    int fd;             /* -1: no part open */
    char *name;         /* its hidden name (NULL when none) */
    char *path;         /* its path */
    int part;           /* n of the current (or next) part */
    int64_t part_bytes; /* bytes of the current part, written + buffered */
    sp_text_buf_t out;  /* buffered, not yet written bytes of the current part */
    /* the current transaction's completed parts (hidden names) */
    char **done;
    size_t ndone, cap_done;
} fsink_writer_t;

/* ---- part files ---- */

static uint64_t next_random(fsink_writer_t *w)
{
    uint64_t z = (w->rng += 0x9E3779B97F4A7C15ULL); /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static char *visible_name(const fsink_writer_t *w, int n)
{
    return sp_xasprintf("part-%d-%d", w->subtask, n);
}

/* The visible name of a hidden one: ".part-0-3.inprogress.r" → "part-0-3". */
static char *visible_of(const char *hidden)
{
    const char *end = strstr(hidden, INPROGRESS);
    return sp_xstrndup(hidden + 1, end ? (size_t)(end - hidden - 1) : strlen(hidden + 1));
}

static void fsync_dir(const fsink_writer_t *w)
{
    int dfd = open(w->spec->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
}

static int part_create(fsink_writer_t *w, sp_error_t *err)
{
    char *vis = visible_name(w, w->part);
    w->name = sp_xasprintf(".%s" INPROGRESS "%016llx", vis, (unsigned long long)next_random(w));
    free(vis);
    w->path = sp_xasprintf("%s/%s", w->spec->dir, w->name);
    w->fd = open(w->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
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

/* Completes the current part: flush, fsync, close; it joins the transaction's completed parts
 * and the next row opens part n + 1. */
static int part_complete(fsink_writer_t *w, sp_error_t *err)
{
    int rc = part_flush(w, err);
    if (rc == SPATE_OK && fsync(w->fd) != 0)
        rc = sp_error_set(err, SPATE_EIO, "cannot fsync '%s': %s", w->path, strerror(errno));
    if (close(w->fd) != 0 && rc == SPATE_OK)
        rc = sp_error_set(err, SPATE_EIO, "cannot close '%s': %s", w->path, strerror(errno));
    w->fd = -1;
    if (w->ndone == w->cap_done) {
        w->cap_done = w->cap_done ? 2 * w->cap_done : 4;
        w->done = sp_xrealloc(w->done, w->cap_done * sizeof *w->done);
    }
    w->done[w->ndone++] = w->name; /* also when it failed: an abort removes it */
    w->name = NULL;
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

/* Unlinks dir/name; a missing file is fine. */
static int part_remove(const fsink_writer_t *w, const char *name, sp_error_t *err)
{
    char *path = sp_xasprintf("%s/%s", w->spec->dir, name);
    int rc = SPATE_OK;
    if (unlink(path) != 0 && errno != ENOENT)
        rc = sp_error_set(err, SPATE_EIO, "cannot delete '%s': %s", path, strerror(errno));
    free(path);
    return rc;
}

/* Publishes dir/hidden as dir/visible.  Idempotent: when hidden is gone and visible exists,
 * the part was committed before. */
static int part_publish(const fsink_writer_t *w, const char *hidden, const char *visible, sp_error_t *err)
{
    char *from = sp_xasprintf("%s/%s", w->spec->dir, hidden);
    char *to = sp_xasprintf("%s/%s", w->spec->dir, visible);
    int rc = SPATE_OK;
    if (rename(from, to) != 0) {
        int e = errno;
        if (e != ENOENT || access(to, F_OK) != 0)
            rc = sp_error_set(err, SPATE_EIO, "cannot commit '%s' as '%s': %s", from, to, strerror(e));
    }
    free(from);
    free(to);
    return rc;
}

/* ---- transaction descriptions ---- */

static void put_u32(spate_txn_t *txn, uint32_t v)
{
    uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
    spate_txn_append(txn, b, 4);
}

static void put_name(spate_txn_t *txn, const char *name)
{
    size_t n = strlen(name);
    put_u32(txn, (uint32_t)n);
    spate_txn_append(txn, name, n);
}

/* A decoded description: names point into one allocation. */
typedef struct desc {
    uint32_t n;
    char **hidden, **visible;
    char *names;
} desc_t;

static void desc_fini(desc_t *d)
{
    free(d->hidden);
    free(d->visible);
    free(d->names);
    memset(d, 0, sizeof *d);
}

static bool get_u32(const uint8_t *p, size_t len, size_t *off, uint32_t *v)
{
    if (len - *off < 4) return false;
    const uint8_t *b = p + *off;
    *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    *off += 4;
    return true;
}

/* Reads one name into *out (NUL-terminated, at names + *used); hidden: must start with '.'. */
static bool get_name(const uint8_t *p, size_t len, size_t *off, char *names, size_t *used, bool hidden,
                     char **out)
{
    uint32_t n;
    if (!get_u32(p, len, off, &n) || n == 0 || n > NAME_MAX || len - *off < n) return false;
    const char *s = (const char *)p + *off;
    if (memchr(s, '/', n) || memchr(s, '\0', n) || (s[0] == '.') != hidden) return false;
    if (!hidden && ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))) return false;
    *out = names + *used;
    memcpy(*out, s, n);
    (*out)[n] = '\0';
    *used += n + 1;
    *off += n;
    return true;
}

static int desc_decode(const fsink_writer_t *w, const void *data, size_t len, desc_t *d, sp_error_t *err)
{
    const uint8_t *p = data;
    memset(d, 0, sizeof *d);
    size_t off = 5;
    uint32_t n = 0;
    bool ok = data && len >= 9 && memcmp(p, DESC_MAGIC, 4) == 0 && p[4] == DESC_VERSION &&
              get_u32(p, len, &off, &n) && n >= 1 && n <= (len - off) / 10;
    if (ok) {
        d->n = n;
        d->hidden = sp_xcalloc(n, sizeof *d->hidden);
        d->visible = sp_xcalloc(n, sizeof *d->visible);
        d->names = sp_xmalloc(len); /* the names and their NULs fit in the description's bytes */
        size_t used = 0;
        for (uint32_t i = 0; i < n && ok; i++)
            ok = get_name(p, len, &off, d->names, &used, true, &d->hidden[i]) &&
                 get_name(p, len, &off, d->names, &used, false, &d->visible[i]);
        ok = ok && off == len;
    }
    if (ok) return SPATE_OK;
    desc_fini(d);
    return sp_error_set(err, SPATE_EPARSE,
                        "file sink '%s': malformed transaction (%zu bytes) in the checkpoint", w->spec->dir,
                        len);
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

/* ---- two-phase-commit functions (driven by twophase.c) ---- */

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

/* A random seed for the in-progress suffixes of one writer. */
static uint64_t random_seed(const void *salt)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof v, GRND_NONBLOCK) == (ssize_t)sizeof v) return v;
    return (uint64_t)sp_clock_mono_ns() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)salt;
}

static int fsink_open(void *ctx, spate_sink_context_t *c, void **writer)
{
    const fsink_spec_t *s = ctx;
    int rc = make_dirs(s->dir, c->err);
    if (rc != SPATE_OK) return rc;
    fsink_writer_t *w = sp_xcalloc(1, sizeof *w);
    w->spec = s;
    w->subtask = c->info.subtask_index;
    w->parallelism = c->info.parallelism > 0 ? c->info.parallelism : 1;
    w->rng = random_seed(w);
    w->fd = -1;
    sp_text_buf_init(&w->out, BUF_FLUSH + 4096); /* BUF_FLUSH bytes and the row that crosses it */
    *writer = w;
    return SPATE_OK;
}

static int fsink_begin(void *writer, spate_sink_context_t *c)
{
    fsink_writer_t *w = writer;
    SP_UNUSED(c);
    w->ndone = 0; /* parts are created at the first row */
    return SPATE_OK;
}

static int fsink_write(void *writer, const spate_row_t *rows, size_t n, spate_sink_context_t *c)
{
    fsink_writer_t *w = writer;
    if (n == 0) return SPATE_OK;
    int nf = spate_schema_field_count(spate_row_schema(&rows[0]));
    for (size_t i = 0; i < n; i++) {
        int rc;
        if (w->fd < 0 && (rc = part_create(w, c->err)) != SPATE_OK) return rc;
        w->part_bytes += (int64_t)format_row(w, &rows[i], nf);
        if ((rc = part_maybe_roll(w, c->err)) != SPATE_OK) return rc;
    }
    return SPATE_OK;
}

/* Completes the open part, makes the new names durable and describes the parts. */
static int fsink_pre_commit(void *writer, int64_t checkpoint_id, spate_txn_t *txn, spate_sink_context_t *c)
{
    fsink_writer_t *w = writer;
    SP_UNUSED(checkpoint_id);
    if (w->fd >= 0) {
        int rc = part_complete(w, c->err);
        if (rc != SPATE_OK) return rc;
    }
    if (w->ndone == 0) return SPATE_OK; /* no rows: nothing to commit */
    fsync_dir(w);
    spate_txn_append(txn, DESC_MAGIC, 4);
    uint8_t version = DESC_VERSION;
    spate_txn_append(txn, &version, 1);
    put_u32(txn, (uint32_t)w->ndone);
    for (size_t i = 0; i < w->ndone; i++) {
        char *vis = visible_of(w->done[i]);
        put_name(txn, w->done[i]);
        put_name(txn, vis);
        free(vis);
        free(w->done[i]);
    }
    w->ndone = 0;
    return SPATE_OK;
}

static int fsink_commit(void *writer, const void *data, size_t len, spate_sink_context_t *c)
{
    fsink_writer_t *w = writer;
    desc_t d;
    int rc = desc_decode(w, data, len, &d, c->err);
    for (uint32_t i = 0; i < d.n && rc == SPATE_OK; i++)
        rc = part_publish(w, d.hidden[i], d.visible[i], c->err);
    desc_fini(&d);
    if (rc == SPATE_OK) fsync_dir(w);
    return rc;
}

/* The current transaction: close and delete its parts. */
static int abort_current(fsink_writer_t *w, sp_error_t *err)
{
    int rc = SPATE_OK;
    if (w->fd >= 0) {
        close(w->fd);
        w->fd = -1;
        rc = part_remove(w, w->name, err);
        free(w->name);
        free(w->path);
        w->name = w->path = NULL;
    }
    w->out.len = 0;
    for (size_t i = 0; i < w->ndone; i++) {
        int r = part_remove(w, w->done[i], err);
        if (rc == SPATE_OK) rc = r;
        free(w->done[i]);
    }
    w->ndone = 0;
    return rc;
}

static int fsink_abort(void *writer, const void *data, size_t len, spate_sink_context_t *c)
{
    fsink_writer_t *w = writer;
    if (!data) return abort_current(w, c->err);
    desc_t d;
    int rc = desc_decode(w, data, len, &d, c->err);
    for (uint32_t i = 0; i < d.n && rc == SPATE_OK; i++) rc = part_remove(w, d.hidden[i], c->err);
    desc_fini(&d);
    return rc;
}

/* n of "part-<s>-<n>" (hidden: ".part-<s>-<n>.inprogress.<r>"), and its s in *sub; -1 for any other
 * name. */
static long part_of(const char *name, bool hidden, long *sub)
{
    const char *p = name;
    if (hidden && *p++ != '.') return -1;
    if (strncmp(p, "part-", 5) != 0) return -1;
    p += 5;
    long v[2];
    for (int i = 0; i < 2; i++) { /* s, then n: digits, s followed by '-' */
        if (*p < '0' || *p > '9') return -1;
        char *end;
        errno = 0;
        v[i] = strtol(p, &end, 10);
        if (errno || v[i] > INT_MAX - 1) return -1;
        p = end;
        if (i == 0 && *p++ != '-') return -1;
    }
    if (hidden ? strncmp(p, INPROGRESS, strlen(INPROGRESS)) != 0 : *p != '\0') return -1;
    *sub = v[0];
    return v[1];
}

/* n of this writer's subtask's part `name` (hidden: in progress), or -1. */
static long part_number(const fsink_writer_t *w, const char *name, bool hidden)
{
    long sub, n = part_of(name, hidden, &sub);
    return n >= 0 && sub == w->subtask ? n : -1;
}

/* Whether the in-progress file `name` is of a subtask that is gone (parallelism shrank) and this
 * writer stands in for: s >= parallelism and s mod parallelism is this subtask. */
static bool vanished_part(const fsink_writer_t *w, const char *name)
{
    long sub;
    return part_of(name, true, &sub) >= 0 && sub >= w->parallelism && sub % w->parallelism == w->subtask;
}

/* After a restore (the restored transactions are committed): delete this subtask's in-progress
 * files that no restored transaction names, and those of the vanished subtasks it stands in for
 * (vanished_part), and continue numbering after every part of its own seen. */
static int fsink_recover(void *writer, const void *const *pending, const size_t *lens, size_t n,
                         spate_sink_context_t *c)
{
    fsink_writer_t *w = writer;
    desc_t *ds = sp_xcalloc(n ? n : 1, sizeof *ds);
    int rc = SPATE_OK;
    size_t decoded = 0;
    long next = w->part;
    for (; decoded < n && rc == SPATE_OK; decoded++) {
        rc = desc_decode(w, pending[decoded], lens[decoded], &ds[decoded], c->err);
        for (uint32_t i = 0; rc == SPATE_OK && i < ds[decoded].n; i++)
            next = SP_MAX(next, part_number(w, ds[decoded].hidden[i], true) + 1);
    }
    DIR *dir = rc == SPATE_OK ? opendir(w->spec->dir) : NULL;
    if (rc == SPATE_OK && !dir)
        rc = sp_error_set(c->err, SPATE_EIO, "cannot read directory '%s': %s", w->spec->dir, strerror(errno));
    for (struct dirent *e; dir && rc == SPATE_OK && (e = readdir(dir));) {
        long k = part_number(w, e->d_name, false);
        if (k >= 0) {
            next = SP_MAX(next, k + 1);
            continue;
        }
        bool mine = part_number(w, e->d_name, true) >= 0;
        if (!mine && !vanished_part(w, e->d_name)) continue;
        bool named = false;
        for (size_t t = 0; t < n && !named; t++)
            for (uint32_t i = 0; i < ds[t].n && !named; i++) named = strcmp(ds[t].hidden[i], e->d_name) == 0;
        if (!named)
            rc = part_remove(w, e->d_name, c->err);
        else if (mine) /* a restored part another subtask commits */
            next = SP_MAX(next, part_number(w, e->d_name, true) + 1);
    }
    if (dir) closedir(dir);
    for (size_t t = 0; t < decoded; t++) desc_fini(&ds[t]);
    free(ds);
    if (rc != SPATE_OK) return rc;
    w->part = (int)next;
    fsync_dir(w);
    return SPATE_OK;
}

static void fsink_close(void *writer)
{
    fsink_writer_t *w = writer;
    if (!w) return;
    if (w->fd >= 0) close(w->fd); /* the driver aborted the transaction before, if one was open */
    free(w->name);
    free(w->path);
    for (size_t i = 0; i < w->ndone; i++) free(w->done[i]);
    free(w->done);
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
    spate_twophase_sink_function_t fn = {
        .kind = "filesystem",
        .ctx = s,
        .destroy = fsink_destroy,
        .open = fsink_open,
        .begin_transaction = fsink_begin,
        .write = fsink_write,
        .pre_commit = fsink_pre_commit,
        .commit = fsink_commit,
        .abort = fsink_abort,
        .recover = fsink_recover,
        .close = fsink_close,
    };
    return sp_twophase_sink_new(&fn);
}
