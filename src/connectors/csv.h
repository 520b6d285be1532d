/*
 * csv.h — CSV and delimited-text pieces shared by the connectors (internal to
 * src/connectors; not part of the connector interface in connector.h).
 *
 * Reading: what the collection source and the CSV file source do with a
 * field once they have cut it out of a record — collapse the "" pairs of a
 * quoted field, and set the text into the row under construction, where an
 * empty unquoted field is NULL and a NOT NULL field refuses it.
 *
 * Record splitting itself stays in each source, because the two accept
 * different input: the file source scans a byte stream resumably (a newline
 * outside quotes ends the record, blank lines are skipped, line numbers are
 * counted, errors say "PATH:LINE"), while the collection source splits one
 * complete string per row (a newline outside quotes is ordinary text, errors
 * name the field number).
 *
 * Writing: sp_text_buf_t, the growing buffer the print sink and the file
 * sink format a batch into (with sp_format_field) before one write.
 *
 * Nothing here keeps state between calls; a buffer belongs to the writer
 * that owns it (one task thread).
 */
#ifndef SP_CONNECTORS_CSV_H
#define SP_CONNECTORS_CSV_H

#include "connectors/connector.h"

/* ---- reading ---- */

/* Collapses each "" in the text of a quoted field (s[0..len), between its quotes) into one '"', in
 * place; returns the new length. */
size_t sp_csv_unescape(char *s, size_t len);

/*
 * Sets field f of the row under construction of c from the text of one CSV
 * field (s[0..len), already unescaped; borrowed for the call: the value is
 * copied).  `quoted`: the field was quoted, so empty means the empty string,
 * not NULL.  Returns SPATE_OK, or SPATE_EPARSE (or the code of
 * sp_collector_set_text) with the problem in err: "field 'NAME' is NOT NULL
 * but empty" or the value's parse error.
 */
int sp_csv_set_field(spate_collector_t *c, int f, const char *s, size_t len, bool quoted, char *err,
                     size_t errcap);

/* ---- writing ---- */

/* A growing byte buffer (caller's storage; zeroed or sp_text_buf_init, then sp_text_buf_fini).
 * data is allocated at the first append; never NULL after one. */
typedef struct sp_text_buf {
    char *data;
    size_t len, cap;
    size_t first_cap; /* capacity of the first allocation; 0: 4096 */
} sp_text_buf_t;

void sp_text_buf_init(sp_text_buf_t *b, size_t first_cap);
void sp_text_buf_fini(sp_text_buf_t *b);
/* Makes room for `extra` more bytes after len (doubling the capacity). */
void sp_text_buf_reserve(sp_text_buf_t *b, size_t extra);
void sp_text_buf_append(sp_text_buf_t *b, const char *s, size_t n);
/* Appends field f of row as sp_format_field writes it (CSV quoting for delim when csv, plain text
 * otherwise; a NULL appends nothing). */
void sp_text_buf_append_field(sp_text_buf_t *b, const spate_row_t *row, int f, char delim, bool csv);

#endif
