/* csv.c — CSV field helpers and the sinks' text buffer; see csv.h. */
#include "connectors/csv.h"

#include <stdio.h>
#include <string.h>

/* ---- reading ---- */

size_t sp_csv_unescape(char *s, size_t len)
{
    size_t w = 0;
    for (size_t i = 0; i < len; i++) {
        s[w++] = s[i];
        if (s[i] == '"' && i + 1 < len && s[i + 1] == '"') i++;
    }
    return w;
}

int sp_csv_set_field(spate_collector_t *c, int f, const char *s, size_t len, bool quoted, char *err,
                     size_t errcap)
{
    if (len == 0 && !quoted && !spate_schema_field_nullable(c->schema, f)) {
        snprintf(err, errcap, "field '%s' is NOT NULL but empty", spate_schema_field_name(c->schema, f));
        return SPATE_EPARSE;
    }
    return sp_collector_set_text(c, f, s, len, quoted, err, errcap);
}

/* ---- writing ---- */

void sp_text_buf_init(sp_text_buf_t *b, size_t first_cap)
{
    memset(b, 0, sizeof *b);
    b->first_cap = first_cap;
}

void sp_text_buf_fini(sp_text_buf_t *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

void sp_text_buf_reserve(sp_text_buf_t *b, size_t extra)
{
    if (b->len + extra <= b->cap) return;
    size_t cap = b->cap ? b->cap : b->first_cap ? b->first_cap : 4096;
    while (cap < b->len + extra) cap *= 2;
    b->data = sp_xrealloc(b->data, cap);
    b->cap = cap;
}

void sp_text_buf_append(sp_text_buf_t *b, const char *s, size_t n)
{
    if (n == 0) return;
    sp_text_buf_reserve(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

void sp_text_buf_append_field(sp_text_buf_t *b, const spate_row_t *row, int f, char delim, bool csv)
{
    sp_text_buf_reserve(b, 64);
    size_t n = sp_format_field(row, f, b->data + b->len, b->cap - b->len, delim, csv);
    if (n > b->cap - b->len) { /* did not fit: grow and format again */
        sp_text_buf_reserve(b, n);
        n = sp_format_field(row, f, b->data + b->len, b->cap - b->len, delim, csv);
    }
    b->len += n;
}
