/*
 * collection.c — spate_collection_source: rows given in memory as CSV lines.
 *
 * The lines are parsed once, at construction, into batches owned by the
 * spec (so a bad row is reported by the constructor, naming the 1-based row
 * number, and a restarted job re-reads the same rows without parsing again).
 * Each opened reader walks those batches and copies at most one batch of
 * rows per poll into the task's collector.
 *
 * Row syntax: one CSV record in the schema's field order, delimiter ',',
 * RFC 4180 quotes ("a,b" is one field, "" inside quotes is one quote, a
 * quoted field may hold newlines); an empty unquoted field is NULL, "" is
 * the empty string.  A trailing "\n" or "\r\n" is ignored.
 *
 * Thread-safety: the spec is immutable after construction and shared by
 * readers (parallelism is 1, but a restart opens a new reader while the
 * spec lives on); a reader belongs to its task thread.
 */
#include "connectors/connector.h"

#include <stdio.h>
#include <string.h>

#include "connectors/csv.h"

typedef struct coll_spec {
    sp_batch_t **batches; /* parsed rows, in order; each batch a reference */
    size_t nbatches;
} coll_spec_t;

typedef struct coll_reader {
    const coll_spec_t *spec;
    size_t batch; /* next row to emit: batches[batch], row `row` */
    uint32_t row;
} coll_reader_t;

/* Collector sink used while parsing: appends full batches to the spec. */
static int keep_batch(void *target, sp_batch_t *b)
{
    coll_spec_t *s = target;
    s->batches = sp_xrealloc(s->batches, (s->nbatches + 1) * sizeof *s->batches);
    s->batches[s->nbatches++] = b;
    return SPATE_OK;
}

/*
 * Splits the CSV record `line` (modifiable copy, NUL-terminated) in place
 * and sets each field into the collector's row under construction.
 * Returns SPATE_OK or SPATE_EPARSE with the problem in err.
 */
static int parse_line(spate_collector_t *c, char *line, char *err, size_t errcap)
{
    int nfields = spate_schema_field_count(c->schema);
    size_t len = strlen(line);
    if (len && line[len - 1] == '\n') len--;
    if (len && line[len - 1] == '\r') len--;
    line[len] = '\0';

    size_t i = 0;
    int f = 0;
    for (;;) {
        char *start;
        size_t flen;
        bool quoted = false;
        if (line[i] == '"') {
            /* Quoted field: ends at the '"' not followed by another; "" is unescaped in place. */
            quoted = true;
            start = line + i + 1;
            size_t r = i + 1;
            bool escaped = false;
            for (;;) {
                const char *q = memchr(line + r, '"', len - r);
                if (!q) {
                    snprintf(err, errcap, "unterminated quoted field %d", f + 1);
                    return SPATE_EPARSE;
                }
                r = (size_t)(q - line) + 1;
                if (r < len && line[r] == '"') {
                    escaped = true;
                    r++;
                    continue;
                }
                break;
            }
            flen = r - 1 - (i + 1); /* between the quotes */
            if (escaped) flen = sp_csv_unescape(start, flen);
            i = r;
            if (i < len && line[i] != ',') {
                snprintf(err, errcap, "unexpected text after the closing quote of field %d", f + 1);
                return SPATE_EPARSE;
            }
        } else {
            start = line + i;
            char *comma = memchr(start, ',', len - i);
            flen = comma ? (size_t)(comma - start) : len - i;
            i += flen;
        }
        if (f < nfields) {
            int rc = sp_csv_set_field(c, f, start, flen, quoted, err, errcap);
            if (rc != SPATE_OK) return rc;
        }
        f++;
        if (i >= len) break;
        i++; /* the ',' */
    }
    if (f != nfields) {
        snprintf(err, errcap, "expected %d fields, found %d", nfields, f);
        return SPATE_EPARSE;
    }
    return SPATE_OK;
}

static void coll_destroy(void *spec)
{
    coll_spec_t *s = spec;
    if (!s) return;
    for (size_t i = 0; i < s->nbatches; i++) sp_batch_release(s->batches[i]);
    free(s->batches);
    free(s);
}

static int coll_open(const void *spec, const sp_source_ctx_t *ctx, void **reader)
{
    SP_UNUSED(ctx);
    coll_reader_t *r = sp_xcalloc(1, sizeof *r);
    r->spec = spec;
    *reader = r;
    return SPATE_OK;
}

static int coll_poll(void *reader, const sp_source_ctx_t *ctx, int64_t *wait_ms)
{
    SP_UNUSED(wait_ms);
    coll_reader_t *r = reader;
    const coll_spec_t *s = r->spec;
    if (r->batch >= s->nbatches) return SP_FLOW_END;
    /* At most one batch of rows per poll (bounded work, see connector.h). */
    uint32_t budget = SP_BATCH_CAPACITY;
    while (budget > 0 && r->batch < s->nbatches) {
        const sp_batch_t *b = s->batches[r->batch];
        spate_row_t row = { b, r->row };
        int rc = spate_out_emit_row(ctx->out, &row);
        if (rc != SPATE_OK) return rc;
        budget--;
        if (++r->row == b->count) {
            r->batch++;
            r->row = 0;
        }
    }
    return SP_FLOW_MORE;
}

static void coll_close(void *reader)
{
    free(reader);
}

/* Position: the number of rows emitted. */
static int coll_snapshot(void *reader, uint8_t **bytes, size_t *len, sp_error_t *err)
{
    SP_UNUSED(err);
    const coll_reader_t *r = reader;
    uint64_t n = r->row;
    for (size_t i = 0; i < r->batch; i++) n += r->spec->batches[i]->count;
    *bytes = sp_source_pos_encode(SP_POS_COLLECTION, &n, 1, len);
    return SPATE_OK;
}

static int coll_restore(void *reader, const uint8_t *bytes, size_t len, sp_error_t *err)
{
    coll_reader_t *r = reader;
    uint64_t n;
    int rc = sp_source_pos_decode(bytes, len, SP_POS_COLLECTION, &n, 1, "collection source", err);
    if (rc) return rc;
    r->batch = 0;
    while (r->batch < r->spec->nbatches && n >= r->spec->batches[r->batch]->count)
        n -= r->spec->batches[r->batch++]->count;
    if (n && r->batch == r->spec->nbatches)
        return sp_error_set(err, SPATE_EPARSE,
                            "collection source: the checkpointed position is past its rows");
    r->row = (uint32_t)n;
    return SPATE_OK;
}

static const sp_source_vtable_t coll_vtable = {
    .kind = "collection",
    .open = coll_open,
    .poll = coll_poll,
    .close = coll_close,
    .destroy = coll_destroy,
    .skipped = NULL,
    .snapshot = coll_snapshot,
    .restore = coll_restore,
};

spate_source_t *spate_collection_source(const spate_schema_t *schema, const char *const *csv_rows, size_t n)
{
    if (!schema) {
        sp_set_error(SPATE_EINVAL, "collection source: schema is NULL");
        return NULL;
    }
    if (n > 0 && !csv_rows) {
        sp_set_error(SPATE_EINVAL, "collection source: rows is NULL");
        return NULL;
    }
    coll_spec_t *s = sp_xcalloc(1, sizeof *s);
    sp_error_t error = { 0 };
    spate_collector_t c;
    sp_collector_init(&c, schema, SP_BATCH_CAPACITY, keep_batch, s, &error);
    char err[256];
    for (size_t i = 0; i < n; i++) {
        if (!csv_rows[i]) {
            sp_set_error(SPATE_EINVAL, "collection source: row %zu is NULL", i + 1);
            goto fail;
        }
        char *line = sp_xstrdup(csv_rows[i]);
        err[0] = '\0';
        int rc = parse_line(&c, line, err, sizeof err);
        free(line);
        if (rc == SPATE_OK) rc = spate_out_emit(&c);
        if (rc != SPATE_OK) {
            sp_set_error(SPATE_EPARSE, "collection source: row %zu: %s", i + 1, err[0] ? err : error.message);
            goto fail;
        }
    }
    if (sp_collector_flush(&c) != SPATE_OK) goto fail; /* keep_batch never fails */
    sp_collector_fini(&c);
    return sp_source_new(&coll_vtable, s, schema, true, false);
fail:
    sp_collector_fini(&c);
    coll_destroy(s);
    return NULL;
}
