/*
 * types.h — schemas, columnar batches, row views and the collector, as the
 * engine sees them (the public face is include/spate/types.h).
 *
 * Batch layout (Arrow's columnar format, one batch = one Arrow record batch):
 *
 *   per column   validity   bitmap, bit i (LSB first) = 1 when row i is not NULL
 *                values     fixed width: BOOLEAN bit-packed (Arrow), INT/DATE int32,
 *                           BIGINT/TIMESTAMP int64, DOUBLE binary64,
 *                           DECIMAL 16 bytes (lo uint64, hi int64: Arrow decimal128)
 *                offsets    VARCHAR/BYTES: int32 offsets[count+1] into data
 *                data       VARCHAR/BYTES bytes (the column's arena, grows)
 *   per batch    kinds      uint8 row kind per row (spate_row_kind_t)
 *                timestamps int64 event timestamp per row (SPATE_NO_TIMESTAMP = none)
 *
 * Lifetime: batches are reference counted (sp_batch_acquire/release, atomic),
 * immutable once handed downstream, so a broadcast hands the same batch to
 * every channel.  Released batches go back to a small pool kept on their
 * schema and are reused (no per-batch malloc/page faults in steady state).
 * A projected batch shares its parent's column buffers and holds a
 * reference to the parent.
 *
 * Thread-safety: a batch is written by one thread before it is published;
 * after that it is read-only and may be read by any number of threads.
 * Schemas are immutable; their batch pools are mutex-protected.
 */
#ifndef SP_TYPES_H
#define SP_TYPES_H

#include <spate/types.h>

#include <pthread.h>
#include <stdatomic.h>

#include "common/common.h"

#define SP_BATCH_CAPACITY 1024 /* default rows per batch */

typedef struct sp_field {
    char *name;
    spate_type_id_t type;
    int precision, scale;
    bool nullable;
    uint8_t width; /* bytes per value for fixed-width types; 0 for var-len, BOOLEAN (bits) */
} sp_field_t;

typedef struct sp_batch sp_batch_t;

struct spate_schema {
    atomic_int refs;
    int nfields;
    sp_field_t *fields;
    /* batch pool: released batches of this schema with capacity pool_capacity */
    pthread_mutex_t pool_mu;
    sp_batch_t *pool;
    int pool_len;
};

/* A column: its layout is public (spate_column_t in include/spate/types.h). */
typedef spate_column_t sp_column_t;

struct sp_batch {
    /* spate_batch_head_t: public, must stay first and in this order */
    sp_column_t *cols;
    int64_t *timestamps;
    uint8_t *kinds;
    uint32_t count, capacity;
    /* private */
    atomic_int refs;
    spate_schema_t *schema; /* a reference */
    sp_batch_t *parent;     /* projected batch: columns borrowed from parent */
    sp_batch_t *next;       /* pool link */
    size_t bytes;           /* bytes owned (accounting) */
    /* Zero-copy string pass-through (see the collector in row.c): columns whose offsets and
     * data are borrowed from `dep` (a reference), with the batch's own buffers saved in
     * own_cols[c] (values == NULL: the column is not borrowed). */
    sp_batch_t *dep;
    sp_column_t *own_cols;
    /* A scratch batch its owner rewrites (an operator's decode buffer): rows copied from it are
     * always copied, never borrowed. */
    bool scratch;
};

/* The row view behind spate_row_t (a batch and a row index) is public: include/spate/types.h. */

/* ---- schemas ---- */
bool sp_type_is_varlen(spate_type_id_t t);
const char *sp_type_name(spate_type_id_t t);
/* Builds a schema from parallel arrays (names copied). Returns a new reference. */
spate_schema_t *sp_schema_create(int nfields, const char *const *names, const spate_type_id_t *types,
                                 const bool *nullable);
/* A schema made of the listed fields of `in` ("a, c") into *out, with idx[i] = source field. */
int sp_schema_project(const spate_schema_t *in, const char *fields, spate_schema_t **out, int *idx, int max);

/* ---- batches ---- */
/* A new empty batch (refs = 1) with room for `capacity` rows; from the schema's pool when possible. */
sp_batch_t *sp_batch_create(const spate_schema_t *schema, uint32_t capacity);
static inline sp_batch_t *sp_batch_acquire(sp_batch_t *b)
{
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    return b;
}
void sp_batch_release(sp_batch_t *b);
/* Zero-copy view of all of b's columns with its own event-timestamp vector (a copy of b's), for
 * operators that assign timestamps. */
sp_batch_t *sp_batch_retime(sp_batch_t *b);
/* Zero-copy projection: columns idx[0..n) of b. */
sp_batch_t *sp_batch_project(sp_batch_t *b, const spate_schema_t *schema, const int *idx, int n);
/* Makes string column c of b (count rows, about to be published) share the offsets and data of
 * column `from` of src, whose rows 0..count-1 are b's rows; b keeps a reference to src. */
void sp_batch_borrow_column(sp_batch_t *b, int c, sp_batch_t *src, int from);
/* Ensures column c's data arena can take `extra` more bytes. */
void sp_batch_reserve_data(sp_batch_t *b, int c, size_t extra);
/* Appends row `row` of `src` (same schema) to dst (dst must have room). */
void sp_batch_append_row(sp_batch_t *dst, const sp_batch_t *src, uint32_t row);
/* Appends rows sel[0, n) of src (same schema), in that order; dst has room for them. */
void sp_batch_append_rows(sp_batch_t *dst, const sp_batch_t *src, const uint32_t *sel, uint32_t n);
/* Frees the pooled batches of a schema (called when the schema is released). */
void sp_batch_pool_drain(spate_schema_t *s);
/* A thread's own small set of released batches, reused first by sp_batch_create on that thread
 * (task threads install one for their lifetime; see batch.c). */
#define SP_BATCH_CACHE_MAX 8
typedef struct sp_batch_cache {
    sp_batch_t *b[SP_BATCH_CACHE_MAX];
    int n;
} sp_batch_cache_t;
void sp_batch_cache_begin(sp_batch_cache_t *c);
/* Uninstalls the cache and returns its batches to their schemas' pools. */
void sp_batch_cache_end(sp_batch_cache_t *c);
/* Bytes held by all live batches and pools of this process (for memory tests and metrics). */
int64_t sp_batch_live_bytes(void);

static inline bool sp_bit_get(const uint8_t *bits, uint32_t i)
{
    return (bits[i >> 3] >> (i & 7)) & 1;
}
static inline void sp_bit_set(uint8_t *bits, uint32_t i, bool v)
{
    if (v)
        bits[i >> 3] |= (uint8_t)(1u << (i & 7));
    else
        bits[i >> 3] &= (uint8_t) ~(1u << (i & 7));
}

/* ---- collector (behind spate_collector_t) ---- */
/* Receives each full (or flushed) batch; takes over the reference. */
typedef int (*sp_batch_sink_fn)(void *target, sp_batch_t *batch);

struct spate_collector {
    /* spate_collector_head_t: public, must stay first and in this order */
    sp_batch_t *batch;  /* under construction, or NULL */
    uint64_t set_mask;  /* fields 0..63 set in the current row */
    uint64_t null_mask; /* fields 0..63 set to NULL in the current row (validity is applied at emit) */
    uint8_t *set_hi;    /* fields 64..: set in the current row (NULL when the schema has <= 64 fields) */
    /* private */
    uint64_t all_mask; /* set_mask when fields 0..min(63, n-1) are all set */
    const spate_schema_t *schema;
    uint32_t capacity;
    sp_batch_sink_fn sink;
    void *target;
    const spate_row_t *input; /* default event time and kind, may be NULL */
    int64_t default_time;     /* event time of rows emitted without an input row (a firing timer's) */
    int64_t event_time;
    int8_t kind; /* -1: from input / insert */
    bool time_set;
    uint64_t emitted;  /* rows emitted since the counter was last reset */
    sp_error_t *error; /* where spate_out_fail writes */
    /* String columns passed through unchanged: alias[f] = 1 while every row of the batch under
     * construction took field f from field alias_from[f] of the same row index of alias_src. */
    uint8_t *alias;
    int *alias_from;
    const sp_batch_t *alias_src;
    int naliased;
};

void sp_collector_init(spate_collector_t *c, const spate_schema_t *schema, uint32_t capacity,
                       sp_batch_sink_fn sink, void *target, sp_error_t *error);
/* Makes every row of the batch under construction self-contained (copies strings that were
 * being passed through), for callers that read c->batch directly instead of handing it on. */
void sp_collector_settle(spate_collector_t *c);
/* Whether field f of the row under construction is NULL so far (set to NULL, or not set). */
bool sp_collector_field_is_null(const spate_collector_t *c, int f);
/* Starts the collector's batch over at row 0 (for callers that read one row back and reuse
 * the batch, as the keyed reduce does). */
void sp_collector_rewind(spate_collector_t *c);
/* Forgets the fields set so far in the row under construction (a record that turned out
 * malformed); the next row starts clean. */
void sp_collector_discard_row(spate_collector_t *c);
/* Hands the partial batch (if any rows) to the sink. */
int sp_collector_flush(spate_collector_t *c);
void sp_collector_fini(spate_collector_t *c);

/* ---- text ---- */
/* Parses one CSV field's text into column c of the row under construction of the collector.
 * `quoted` tells whether the field was quoted (an empty unquoted field is NULL). */
int sp_collector_set_text(spate_collector_t *c, int field, const char *s, size_t len, bool quoted, char *err,
                          size_t errcap);
/* Appends field `f` of `row` as text (CSV rules if csv, plain otherwise) to buf; returns length needed. */
size_t sp_format_field(const spate_row_t *row, int f, char *buf, size_t cap, char delim, bool csv);

#endif
