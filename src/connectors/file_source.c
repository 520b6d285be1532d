/*
 * file_source.c — spate_file_text_source and spate_file_csv_source.
 *
 * Both read one local file with large read(2) calls into a growing buffer
 * and cut records out of it in place: no per-character stdio, no copy of a
 * field until it is set into the batch.
 *
 *   buf:  [0 .. beg)   consumed
 *         [beg .. end) bytes read but not yet emitted; the record being
 *                      scanned starts at beg
 *         [end .. cap) free; refilled by read(2) after moving [beg, end) to 0
 *
 * A record that does not fit grows the buffer (up to MAX_RECORD bytes, past
 * which the read fails whatever the error policy: a runaway quote would
 * otherwise swallow the whole file into memory).
 *
 * CSV (RFC 4180): fields separated by the delimiter, records by "\n" or
 * "\r\n"; a field starting with '"' is quoted: it may hold delimiters and
 * newlines, and "" inside stands for one '"'.  A quote inside an unquoted
 * field is an ordinary character.  An empty unquoted field is NULL, a quoted
 * empty field ("") is the empty string.  Blank lines are skipped (they are
 * not counted as malformed).  A UTF-8 byte order mark at the start of the
 * file is ignored.  The scanner is resumable: its state (position, quote
 * state, field boundaries, all relative to the record start) survives a
 * refill, so every byte is looked at once.
 *
 * Malformed records (wrong field count, a value that does not parse, a NULL
 * in a NOT NULL field, text after a closing quote, an unterminated quote)
 * fail the poll with "PATH:LINE: problem" (LINE = 1-based line where the
 * record starts) or, under SPATE_ON_ERROR_SKIP, are dropped and counted.
 *
 * Work per poll: at most SP_BATCH_CAPACITY records (emitted, skipped or
 * blank) and about POLL_BYTES of record text, so a poll is short and a
 * batch's string arena stays far below its 2 GiB limit.
 *
 * Thread-safety: the spec is immutable; a reader belongs to its task thread.
 */
#include "connectors/connector.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "connectors/csv.h"

#define READ_CHUNK (256 * 1024)       /* initial buffer and minimum free space per read(2) */
#define MAX_RECORD (64 * 1024 * 1024) /* longest record (line) accepted */
#define POLL_BYTES (32 * 1024 * 1024) /* record bytes handled per poll */

typedef struct file_spec {
    char *path;
    bool csv; /* false: text lines ("line STRING") */
    spate_csv_options_t opts;
} file_spec_t;

/* Scanner states (CSV). */
enum { S_FIELD_START, S_UNQUOTED, S_QUOTED, S_QUOTE, S_QUOTE_CR, S_BAD };

typedef struct field_pos {
    size_t off, len; /* relative to the record start */
    bool quoted;
    bool escaped; /* holds "" pairs still to be collapsed */
} field_pos_t;

typedef struct file_reader {
    const file_spec_t *spec;
    int fd;
    bool eof;
    uint64_t file_off; /* bytes read from the file so far: buf[end] is at file_off */
    char *buf;
    size_t cap, beg, end;
    int64_t line;    /* line number where the next record starts (1-based) */
    int64_t skipped; /* malformed records dropped under SPATE_ON_ERROR_SKIP */
    bool header_pending;
    bool at_file_start; /* BOM check pending */
    int nfields;
    /* CSV scanner state for the record starting at beg */
    size_t scan; /* bytes of the record scanned so far */
    int state;
    int64_t newlines; /* newlines inside quoted fields of this record */
    field_pos_t cur;  /* the field being scanned */
    field_pos_t *fields;
    int nf, fcap;
    const char *problem; /* S_BAD: what is wrong */
    sp_rate_limit_t rate;
} file_reader_t;

/* ---- buffer ---- */

/* Reads more bytes after end (moving the unconsumed part to the front, growing the
 * buffer when the current record fills it).  Sets eof at end of file. */
static int fill(file_reader_t *r, const sp_source_ctx_t *ctx)
{
    if (r->beg > 0) {
        memmove(r->buf, r->buf + r->beg, r->end - r->beg);
        r->end -= r->beg;
        r->beg = 0;
    }
    if (r->cap - r->end < READ_CHUNK / 2) {
        if (r->end >= MAX_RECORD)
            return sp_error_set(ctx->error, SPATE_EPARSE, "%s:%lld: record longer than %d bytes%s",
                                r->spec->path, (long long)r->line, MAX_RECORD,
                                r->spec->csv && r->state == S_QUOTED ? " (unterminated quote?)" : "");
        r->cap *= 2;
        r->buf = sp_xrealloc(r->buf, r->cap);
    }
    for (;;) {
        ssize_t n = read(r->fd, r->buf + r->end, r->cap - r->end);
        if (n > 0) {
            r->end += (size_t)n;
            r->file_off += (uint64_t)n;
            return SPATE_OK;
        }
        if (n == 0) {
            r->eof = true;
            return SPATE_OK;
        }
        if (errno == EINTR) continue;
        return sp_error_set(ctx->error, SPATE_EIO, "cannot read '%s': %s", r->spec->path, strerror(errno));
    }
}

/* ---- CSV scanner ---- */

static void end_field(file_reader_t *r, size_t end_off)
{
    if (r->nf == r->fcap) {
        r->fcap = r->fcap ? 2 * r->fcap : 16;
        r->fields = sp_xrealloc(r->fields, (size_t)r->fcap * sizeof *r->fields);
    }
    r->cur.len = end_off - r->cur.off;
    r->fields[r->nf++] = r->cur;
    memset(&r->cur, 0, sizeof r->cur);
}

/* The record ends with the '\n' at offset i: strips a '\r' before it from an unquoted field. */
static void end_record_unquoted(file_reader_t *r, const char *rec, size_t i)
{
    size_t e = i;
    if (e > r->cur.off && rec[e - 1] == '\r') e--;
    end_field(r, e);
}

/*
 * Scans the record at beg.  Returns 1 when complete (fields set, *rec_len =
 * bytes including the terminator), 0 when more input is needed (and not at
 * EOF).  A malformed record is complete with r->problem set.
 */
static int scan_csv(file_reader_t *r, size_t *rec_len)
{
    const char *rec = r->buf + r->beg;
    const size_t avail = r->end - r->beg;
    const char delim = r->spec->opts.delimiter;
    size_t i = r->scan;
    while (i < avail) {
        char ch = rec[i];
        switch (r->state) {
        case S_FIELD_START:
            if (ch == '"') {
                r->cur.quoted = true;
                r->cur.off = i + 1;
                r->state = S_QUOTED;
                i++;
                continue;
            }
            r->cur.off = i; /* the character is the first of an unquoted field: rescan it there */
            r->state = S_UNQUOTED;
            continue;
        case S_UNQUOTED: {
            /* fast path: run to the next delimiter or newline */
            while (i < avail && rec[i] != delim && rec[i] != '\n') i++;
            if (i == avail) goto need_more;
            if (rec[i] == delim) {
                end_field(r, i);
                r->state = S_FIELD_START;
                i++;
                continue;
            }
            end_record_unquoted(r, rec, i);
            *rec_len = i + 1;
            return 1;
        }
        case S_QUOTED: {
            const char *q = memchr(rec + i, '"', avail - i);
            size_t stop = q ? (size_t)(q - rec) : avail;
            for (size_t k = i; k < stop; k++) r->newlines += rec[k] == '\n';
            if (!q) {
                i = avail;
                goto need_more;
            }
            i = stop + 1;
            r->state = S_QUOTE;
            continue;
        }
        case S_QUOTE: /* after a '"' inside a quoted field */
            if (ch == '"') {
                r->cur.escaped = true;
                r->state = S_QUOTED;
                i++;
                continue;
            }
            if (ch == delim) {
                end_field(r, i - 1);
                r->state = S_FIELD_START;
                i++;
                continue;
            }
            if (ch == '\n') {
                end_field(r, i - 1);
                *rec_len = i + 1;
                return 1;
            }
            if (ch == '\r') {
                r->state = S_QUOTE_CR;
                i++;
                continue;
            }
            r->problem = "unexpected text after a closing quote";
            r->state = S_BAD;
            continue;
        case S_QUOTE_CR:
            if (ch == '\n') {
                end_field(r, i - 2);
                *rec_len = i + 1;
                return 1;
            }
            r->problem = "unexpected text after a closing quote";
            r->state = S_BAD;
            continue;
        case S_BAD: { /* resynchronise at the next newline */
            const char *nl = memchr(rec + i, '\n', avail - i);
            if (!nl) {
                i = avail;
                goto need_more;
            }
            *rec_len = (size_t)(nl - rec) + 1;
            return 1;
        }
        }
    }
need_more:
    r->scan = i;
    if (!r->eof) return 0;
    /* End of file: the record ends here without a terminator. */
    *rec_len = avail;
    switch (r->state) {
    case S_FIELD_START: end_field(r, avail); break; /* "a," or an empty last line */
    case S_UNQUOTED: end_record_unquoted(r, rec, avail); break;
    case S_QUOTE: end_field(r, avail - 1); break;
    case S_QUOTE_CR: end_field(r, avail - 2); break;
    case S_QUOTED: r->problem = "unterminated quoted field"; break;
    case S_BAD: break;
    }
    return 1;
}

static void scan_reset(file_reader_t *r)
{
    r->scan = 0;
    r->state = S_FIELD_START;
    r->newlines = 0;
    r->nf = 0;
    r->problem = NULL;
    memset(&r->cur, 0, sizeof r->cur);
}

/*
 * A malformed record: fails the poll (FAIL) or counts it (SKIP).
 * Returns SPATE_OK when skipped.
 */
static int malformed(file_reader_t *r, const sp_source_ctx_t *ctx, int64_t line, const char *problem)
{
    sp_collector_discard_row(ctx->out); /* the next row overwrites its values */
    if (r->spec->opts.on_error == SPATE_ON_ERROR_SKIP) {
        r->skipped++;
        return SPATE_OK;
    }
    return sp_error_set(ctx->error, SPATE_EPARSE, "%s:%lld: %s", r->spec->path, (long long)line, problem);
}

/* Sets the fields of a complete CSV record into the collector and emits it. */
static int emit_csv(file_reader_t *r, const sp_source_ctx_t *ctx, char *rec, int64_t line)
{
    spate_collector_t *out = ctx->out;
    const spate_schema_t *schema = out->schema;
    char err[256];
    if (r->problem) return malformed(r, ctx, line, r->problem);
    if (r->nf != r->nfields) {
        snprintf(err, sizeof err, "expected %d fields, found %d", r->nfields, r->nf);
        return malformed(r, ctx, line, err);
    }
    for (int f = 0; f < r->nf; f++) {
        field_pos_t *fp = &r->fields[f];
        char *s = rec + fp->off;
        size_t len = fp->escaped ? sp_csv_unescape(s, fp->len) : fp->len;
        if (sp_csv_set_field(out, f, s, len, fp->quoted, err, sizeof err) != SPATE_OK)
            return malformed(r, ctx, line, err);
    }
    int tf = r->spec->opts.timestamp_field;
    if (tf >= 0) {
        const sp_batch_t *b = out->batch; /* the row under construction is at index b->count */
        if (sp_collector_field_is_null(out, tf)) {
            snprintf(err, sizeof err, "timestamp field '%s' is NULL", spate_schema_field_name(schema, tf));
            return malformed(r, ctx, line, err);
        }
        spate_out_set_event_time(out, ((const int64_t *)b->cols[tf].values)[b->count]);
    }
    return spate_out_emit(out);
}

/* ---- vtable ---- */

static int file_open(const void *spec, const sp_source_ctx_t *ctx, void **reader)
{
    const file_spec_t *s = spec;
    int fd = open(s->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sp_error_set(ctx->error, errno == ENOENT ? SPATE_ENOENT : SPATE_EIO, "cannot open '%s': %s",
                            s->path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        return sp_error_set(ctx->error, SPATE_EIO, "cannot open '%s': %s", s->path, strerror(EISDIR));
    }
#ifdef POSIX_FADV_SEQUENTIAL
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
    file_reader_t *r = sp_xcalloc(1, sizeof *r);
    r->spec = s;
    r->fd = fd;
    r->cap = READ_CHUNK;
    r->buf = sp_xmalloc(r->cap);
    r->line = 1;
    r->header_pending = s->csv && s->opts.skip_header;
    r->at_file_start = s->csv;
    r->nfields = spate_schema_field_count(ctx->out->schema);
    sp_rate_limit_init(&r->rate, (double)s->opts.rows_per_second);
    scan_reset(r);
    *reader = r;
    return SPATE_OK;
}

/* One text line: returns 1 with the line emitted or consumed, 0 at end of file, < 0 on error. */
static int next_text_line(file_reader_t *r, const sp_source_ctx_t *ctx, size_t *bytes)
{
    for (;;) {
        const char *rec = r->buf + r->beg;
        size_t avail = r->end - r->beg;
        const char *nl = memchr(rec + r->scan, '\n', avail - r->scan);
        size_t len, used;
        if (nl) {
            len = (size_t)(nl - rec);
            used = len + 1;
        } else if (r->eof) {
            if (avail == 0) return 0;
            len = used = avail;
        } else {
            r->scan = avail;
            int rc = fill(r, ctx);
            if (rc != SPATE_OK) return rc;
            continue;
        }
        if (len && rec[len - 1] == '\r') len--;
        spate_out_set_string(ctx->out, 0, rec, len);
        int rc = spate_out_emit(ctx->out);
        if (rc != SPATE_OK) return rc;
        r->beg += used;
        r->scan = 0;
        r->line++;
        *bytes += used;
        return 1;
    }
}

/* One CSV record: returns 1 when a record was handled (emitted, skipped, blank or header), 0 at end of
 * file, < 0 on error. */
static int next_csv_record(file_reader_t *r, const sp_source_ctx_t *ctx, size_t *bytes)
{
    size_t rec_len = 0;
    for (;;) {
        if (r->at_file_start && (r->end - r->beg >= 3 || r->eof)) {
            if (r->end - r->beg >= 3 && memcmp(r->buf + r->beg, "\xEF\xBB\xBF", 3) == 0) r->beg += 3;
            r->at_file_start = false;
        }
        if (r->eof && r->beg == r->end) return 0;
        if (!r->at_file_start && scan_csv(r, &rec_len)) break;
        int rc = fill(r, ctx);
        if (rc != SPATE_OK) return rc;
    }
    char *rec = r->buf + r->beg;
    int64_t line = r->line;
    r->beg += rec_len;
    *bytes += rec_len;
    r->line += 1 + r->newlines;
    int rc = SPATE_OK;
    bool blank = !r->problem && r->nf == 1 && !r->fields[0].quoted && r->fields[0].len == 0;
    if (r->header_pending)
        r->header_pending = false;
    else if (!blank)
        rc = emit_csv(r, ctx, rec, line);
    scan_reset(r);
    return rc < 0 ? rc : 1;
}

static int file_poll(void *reader, const sp_source_ctx_t *ctx, int64_t *wait_ms)
{
    file_reader_t *r = reader;
    int64_t budget = sp_rate_limit_budget(&r->rate, wait_ms);
    if (budget == 0) return SP_FLOW_IDLE;
    budget = SP_MIN(budget, SP_BATCH_CAPACITY);
    uint64_t before = ctx->out->emitted;
    size_t bytes = 0;
    for (int64_t n = 0; n < SP_BATCH_CAPACITY && bytes < POLL_BYTES; n++) {
        int rc = r->spec->csv ? next_csv_record(r, ctx, &bytes) : next_text_line(r, ctx, &bytes);
        if (rc < 0) return rc;
        if (rc == 0) {
            int64_t sent = (int64_t)(ctx->out->emitted - before);
            sp_rate_limit_sent(&r->rate, sent);
            return sent > 0 ? SP_FLOW_MORE : SP_FLOW_END;
        }
        if ((int64_t)(ctx->out->emitted - before) >= budget) break;
    }
    sp_rate_limit_sent(&r->rate, (int64_t)(ctx->out->emitted - before));
    return SP_FLOW_MORE;
}

static void file_close(void *reader)
{
    file_reader_t *r = reader;
    if (!r) return;
    if (r->fd >= 0) close(r->fd);
    free(r->buf);
    free(r->fields);
    free(r);
}

static int64_t file_skipped(void *reader)
{
    return ((file_reader_t *)reader)->skipped;
}

static void file_destroy(void *spec)
{
    file_spec_t *s = spec;
    if (!s) return;
    free(s->path);
    free(s);
}

/* Position: the file offset of the next record (beg), its line, the header and BOM flags, and
 * the malformed records skipped so far. */
static int file_snapshot(void *reader, uint8_t **bytes, size_t *len, sp_error_t *err)
{
    SP_UNUSED(err);
    const file_reader_t *r = reader;
    uint64_t v[5] = { r->file_off - (r->end - r->beg), (uint64_t)r->line, r->header_pending, r->at_file_start,
                      (uint64_t)r->skipped };
    *bytes = sp_source_pos_encode(SP_POS_FILE, v, 5, len);
    return SPATE_OK;
}

static int file_restore(void *reader, const uint8_t *bytes, size_t len, sp_error_t *err)
{
    file_reader_t *r = reader;
    uint64_t v[5];
    int rc = sp_source_pos_decode(bytes, len, SP_POS_FILE, v, 5, r->spec->path, err);
    if (rc) return rc;
    struct stat st;
    if (fstat(r->fd, &st) != 0 || v[0] > (uint64_t)st.st_size)
        return sp_error_set(err, SPATE_EPARSE,
                            "%s: the checkpointed position %llu is past the end of the file", r->spec->path,
                            (unsigned long long)v[0]);
    if (lseek(r->fd, (off_t)v[0], SEEK_SET) < 0)
        return sp_error_set(err, SPATE_EIO, "cannot seek in '%s': %s", r->spec->path, strerror(errno));
    r->file_off = v[0];
    r->beg = r->end = 0;
    r->eof = false;
    r->line = (int64_t)v[1];
    r->header_pending = v[2] != 0;
    r->at_file_start = v[3] != 0;
    r->skipped = (int64_t)v[4];
    scan_reset(r);
    return SPATE_OK;
}

static const sp_source_vtable_t text_vtable = {
    .kind = "file",
    .open = file_open,
    .poll = file_poll,
    .snapshot = file_snapshot,
    .restore = file_restore,
    .close = file_close,
    .destroy = file_destroy,
    .skipped = NULL,
};

static const sp_source_vtable_t csv_vtable = {
    .kind = "file-csv",
    .open = file_open,
    .poll = file_poll,
    .snapshot = file_snapshot,
    .restore = file_restore,
    .close = file_close,
    .destroy = file_destroy,
    .skipped = file_skipped,
};

/* ---- constructors ---- */

void spate_csv_options_init(spate_csv_options_t *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->delimiter = ',';
    opts->skip_header = false;
    opts->on_error = SPATE_ON_ERROR_FAIL;
    opts->rows_per_second = 0;
    opts->timestamp_field = -1;
}

spate_source_t *spate_file_text_source(const char *path)
{
    return spate_file_text_source_rate(path, 0);
}

spate_source_t *spate_file_text_source_rate(const char *path, int64_t lines_per_second)
{
    if (!path || !*path) {
        sp_set_error(SPATE_EINVAL, "file source: path is empty");
        return NULL;
    }
    if (lines_per_second < 0) {
        sp_set_error(SPATE_EINVAL, "file source '%s': the rate must be >= 0", path);
        return NULL;
    }
    spate_schema_t *schema = spate_schema_of("line STRING");
    if (!schema) return NULL;
    file_spec_t *s = sp_xcalloc(1, sizeof *s);
    s->path = sp_xstrdup(path);
    s->csv = false;
    spate_csv_options_init(&s->opts);
    s->opts.rows_per_second = lines_per_second;
    spate_source_t *src = sp_source_new(&text_vtable, s, schema, true, false);
    spate_schema_release(schema);
    return src;
}

spate_source_t *spate_file_csv_source(const char *path, const spate_schema_t *schema,
                                      const spate_csv_options_t *opts)
{
    spate_csv_options_t o;
    if (opts)
        o = *opts;
    else
        spate_csv_options_init(&o);
    if (!path || !*path) {
        sp_set_error(SPATE_EINVAL, "csv source: path is empty");
        return NULL;
    }
    if (!schema || spate_schema_field_count(schema) == 0) {
        sp_set_error(SPATE_EINVAL, "csv source '%s': no schema", path);
        return NULL;
    }
    if (o.delimiter == '"' || o.delimiter == '\n' || o.delimiter == '\r' || o.delimiter == '\0') {
        sp_set_error(SPATE_EINVAL, "csv source '%s': invalid delimiter", path);
        return NULL;
    }
    if (o.on_error != SPATE_ON_ERROR_FAIL && o.on_error != SPATE_ON_ERROR_SKIP) {
        sp_set_error(SPATE_EINVAL, "csv source '%s': invalid error policy %d", path, (int)o.on_error);
        return NULL;
    }
    if (o.rows_per_second < 0) {
        sp_set_error(SPATE_EINVAL, "csv source '%s': rows_per_second must be >= 0", path);
        return NULL;
    }
    if (o.timestamp_field >= spate_schema_field_count(schema) || o.timestamp_field < -1) {
        sp_set_error(SPATE_EINVAL, "csv source '%s': timestamp_field %d is not a field of the schema", path,
                     o.timestamp_field);
        return NULL;
    }
    if (o.timestamp_field >= 0) {
        spate_type_id_t t = spate_schema_field_type(schema, o.timestamp_field);
        if (t != SPATE_TYPE_BIGINT && t != SPATE_TYPE_TIMESTAMP) {
            sp_set_error(SPATE_EINVAL, "csv source '%s': timestamp field '%s' must be BIGINT or TIMESTAMP",
                         path, spate_schema_field_name(schema, o.timestamp_field));
            return NULL;
        }
    }
    file_spec_t *s = sp_xcalloc(1, sizeof *s);
    s->path = sp_xstrdup(path);
    s->csv = true;
    s->opts = o;
    return sp_source_new(&csv_vtable, s, schema, true, false);
}
