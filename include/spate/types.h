/*
 * spate/types.h — schemas, row views and the row collector.
 *
 * A schema is an ordered list of named, typed, nullable fields.  Schemas are
 * immutable and reference counted: spate_schema_acquire/release.
 *
 * User functions see one row at a time through a spate_row_t: a borrowed
 * view into a columnar batch, valid only during the call that received it.
 * Strings and bytes read from a row are borrowed slices (not NUL-terminated)
 * with the same lifetime; keeping one means copying it.
 *
 * Functions emit rows through a spate_collector_t: set the fields of the
 * row under construction, then spate_out_emit().  Fields left unset are
 * NULL (an error for a NOT NULL field).  Emitted rows carry the event
 * timestamp and row kind of the input row unless set explicitly.
 */
#ifndef SPATE_TYPES_H
#define SPATE_TYPES_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum spate_type_id {
    SPATE_TYPE_BOOLEAN = 1,
    SPATE_TYPE_INT,      /* int32 */
    SPATE_TYPE_BIGINT,   /* int64 */
    SPATE_TYPE_DOUBLE,   /* IEEE 754 binary64 */
    SPATE_TYPE_DECIMAL,  /* DECIMAL(p,s), p <= 38: 128-bit unscaled value */
    SPATE_TYPE_VARCHAR,  /* UTF-8 text (STRING is VARCHAR of max length) */
    SPATE_TYPE_BYTES,    /* binary */
    SPATE_TYPE_DATE,     /* int32 days since 1970-01-01 */
    SPATE_TYPE_TIMESTAMP /* TIMESTAMP(3): int64 milliseconds since the epoch */
} spate_type_id_t;

/* Changelog kind of a row, as in Flink's RowKind. */
typedef enum spate_row_kind {
    SPATE_INSERT = 0,        /* +I */
    SPATE_UPDATE_BEFORE = 1, /* -U */
    SPATE_UPDATE_AFTER = 2,  /* +U */
    SPATE_DELETE = 3         /* -D */
} spate_row_kind_t;

/* "No event timestamp" marker (a record without event time). */
#define SPATE_NO_TIMESTAMP INT64_MIN

/* A 128-bit two's complement unscaled decimal value (value = unscaled / 10^scale). */
typedef struct spate_decimal {
    uint64_t lo;
    int64_t hi;
} spate_decimal_t;

/* A borrowed byte slice. */
typedef struct spate_str {
    const char *ptr;
    size_t len;
} spate_str_t;

typedef struct spate_schema spate_schema_t;

/*
 * Parse a schema from DDL: "word STRING, n BIGINT NOT NULL, price DECIMAL(10,2),
 * ts TIMESTAMP(3)".  Type names: BOOLEAN, INT/INTEGER, BIGINT, DOUBLE,
 * DECIMAL(p,s), VARCHAR[(n)]/STRING, BYTES/VARBINARY, DATE, TIMESTAMP[(3)].
 * Returns a new reference, or NULL with spate_last_error() naming the
 * position and problem.
 */
spate_schema_t *spate_schema_of(const char *ddl);
spate_schema_t *spate_schema_acquire(const spate_schema_t *schema);
void spate_schema_release(spate_schema_t *schema);

int spate_schema_field_count(const spate_schema_t *schema);
/* Index of the field named `name`, or -1. */
int spate_schema_field_index(const spate_schema_t *schema, const char *name);
const char *spate_schema_field_name(const spate_schema_t *schema, int field);
spate_type_id_t spate_schema_field_type(const spate_schema_t *schema, int field);
bool spate_schema_field_nullable(const spate_schema_t *schema, int field);
/* DECIMAL precision/scale (0 for other types). */
int spate_schema_field_precision(const spate_schema_t *schema, int field);
int spate_schema_field_scale(const spate_schema_t *schema, int field);
/* Writes "name TYPE[ NOT NULL], ..." into buf (truncated to cap); returns the full length. */
size_t spate_schema_format(const spate_schema_t *schema, char *buf, size_t cap);
bool spate_schema_equal(const spate_schema_t *a, const spate_schema_t *b);

/* ---- row views (borrowed; see the file comment) ----
 *
 * The accessors are inline: a user function calls them for every field of
 * every row, and a call per value costs more than the read (measured: the
 * Nexmark q0 map ran 1.6x faster inline).  For that the head of a batch is
 * public below: the Arrow layout of src/types/types.h, read-only for jobs.
 * The accessors do not check types or bounds: the field's type must match
 * (spate_schema_field_type), as with Arrow arrays.
 */
typedef struct spate_row spate_row_t;

typedef struct spate_column {
    uint8_t *validity; /* bit i (LSB first) set: row i is not NULL */
    void *values;      /* fixed-width values; for VARCHAR/BYTES int32 offsets[count + 1] */
    char *data;        /* VARCHAR/BYTES bytes */
    uint32_t data_cap;
} spate_column_t;

/* The first members of every batch, in this order (checked by a static assertion in batch.c). */
typedef struct spate_batch_head {
    spate_column_t *cols;
    int64_t *timestamps;
    uint8_t *kinds;
    uint32_t count, capacity;
} spate_batch_head_t;

struct sp_batch;
struct spate_row {
    const struct sp_batch *batch;
    uint32_t index;
};

static inline const spate_column_t *spate_row_column_(const spate_row_t *row, int field)
{
    return &((const spate_batch_head_t *)(const void *)row->batch)->cols[field];
}

const spate_schema_t *spate_row_schema(const spate_row_t *row);

static inline bool spate_row_is_null(const spate_row_t *row, int field)
{
    return !((spate_row_column_(row, field)->validity[row->index >> 3] >> (row->index & 7)) & 1);
}
static inline bool spate_row_get_boolean(const spate_row_t *row, int field)
{
    return (((const uint8_t *)spate_row_column_(row, field)->values)[row->index >> 3] >> (row->index & 7)) &
           1;
}
static inline int32_t spate_row_get_int(const spate_row_t *row, int field)
{
    return ((const int32_t *)spate_row_column_(row, field)->values)[row->index];
}
static inline int64_t spate_row_get_bigint(const spate_row_t *row, int field)
{
    return ((const int64_t *)spate_row_column_(row, field)->values)[row->index];
}
static inline double spate_row_get_double(const spate_row_t *row, int field)
{
    return ((const double *)spate_row_column_(row, field)->values)[row->index];
}
static inline spate_decimal_t spate_row_get_decimal(const spate_row_t *row, int field)
{
    return ((const spate_decimal_t *)spate_row_column_(row, field)->values)[row->index];
}
/* VARCHAR and BYTES: a slice into the batch. */
static inline spate_str_t spate_row_get_string(const spate_row_t *row, int field)
{
    const spate_column_t *c = spate_row_column_(row, field);
    const int32_t *o = (const int32_t *)c->values;
    spate_str_t s = { c->data + o[row->index], (size_t)(o[row->index + 1] - o[row->index]) };
    return s;
}
static inline int32_t spate_row_get_date(const spate_row_t *row, int field)
{
    return spate_row_get_int(row, field);
}
static inline int64_t spate_row_get_timestamp(const spate_row_t *row, int field)
{
    return spate_row_get_bigint(row, field);
}
/* Event timestamp of the record (SPATE_NO_TIMESTAMP if none) and its kind. */
static inline int64_t spate_row_event_time(const spate_row_t *row)
{
    return ((const spate_batch_head_t *)(const void *)row->batch)->timestamps[row->index];
}
static inline spate_row_kind_t spate_row_kind(const spate_row_t *row)
{
    return (spate_row_kind_t)((const spate_batch_head_t *)(const void *)row->batch)->kinds[row->index];
}
/* Formats the row as CSV text into buf (truncated to cap); returns the full length. */
size_t spate_row_format(const spate_row_t *row, char *buf, size_t cap);

/* ---- collector ----
 * Fixed-width setters are inline for the same reason as the row accessors:
 * they write the value into the batch under construction, whose head and
 * the collector's head are public here (read-only for jobs).
 */
typedef struct spate_collector spate_collector_t;

/* The first members of every collector (src/types/types.h keeps them first). */
typedef struct spate_collector_head {
    struct sp_batch *batch; /* the batch under construction, or NULL */
    uint64_t set_mask;      /* fields 0..63 set in the row under construction, one bit each */
    uint64_t null_mask;     /* fields 0..63 set to NULL in the row under construction */
    uint8_t *set_hi;        /* fields 64 and up: set_hi[field - 64] = 1 when set */
} spate_collector_head_t;

/* Makes sure the collector has a batch with room for the next row (used by the inline setters). */
void spate_out_prepare(spate_collector_t *out);

static inline spate_batch_head_t *spate_out_head_(spate_collector_t *out, int field)
{
    spate_collector_head_t *h = (spate_collector_head_t *)(void *)out;
    if (!h->batch) spate_out_prepare(out);
    spate_batch_head_t *b = (spate_batch_head_t *)(void *)h->batch;
    if (field < 64) { /* the row's validity bits start out set; emit clears those of NULL fields */
        h->set_mask |= (uint64_t)1 << field;
        h->null_mask &= ~((uint64_t)1 << field);
    } else {
        h->set_hi[field - 64] = 1;
        b->cols[field].validity[b->count >> 3] |= (uint8_t)(1u << (b->count & 7));
    }
    return b;
}

const spate_schema_t *spate_out_schema(const spate_collector_t *out);
void spate_out_set_null(spate_collector_t *out, int field);
static inline void spate_out_set_boolean(spate_collector_t *out, int field, bool v)
{
    spate_batch_head_t *b = spate_out_head_(out, field);
    uint8_t *bits = (uint8_t *)b->cols[field].values, bit = (uint8_t)(1u << (b->count & 7));
    bits[b->count >> 3] = v ? (uint8_t)(bits[b->count >> 3] | bit) : (uint8_t)(bits[b->count >> 3] & ~bit);
}
static inline void spate_out_set_int(spate_collector_t *out, int field, int32_t v)
{
    spate_batch_head_t *b = spate_out_head_(out, field);
    ((int32_t *)b->cols[field].values)[b->count] = v;
}
static inline void spate_out_set_bigint(spate_collector_t *out, int field, int64_t v)
{
    spate_batch_head_t *b = spate_out_head_(out, field);
    ((int64_t *)b->cols[field].values)[b->count] = v;
}
static inline void spate_out_set_double(spate_collector_t *out, int field, double v)
{
    spate_batch_head_t *b = spate_out_head_(out, field);
    ((double *)b->cols[field].values)[b->count] = v;
}
static inline void spate_out_set_decimal(spate_collector_t *out, int field, spate_decimal_t v)
{
    spate_batch_head_t *b = spate_out_head_(out, field);
    ((spate_decimal_t *)b->cols[field].values)[b->count] = v;
}
static inline void spate_out_set_date(spate_collector_t *out, int field, int32_t days)
{
    spate_out_set_int(out, field, days);
}
static inline void spate_out_set_timestamp(spate_collector_t *out, int field, int64_t ms)
{
    spate_out_set_bigint(out, field, ms);
}
/* Copies len bytes (VARCHAR and BYTES). */
void spate_out_set_string(spate_collector_t *out, int field, const char *s, size_t len);
/* Copies field `from` of `row` (same type required) into field `field`. */
void spate_out_copy_field(spate_collector_t *out, int field, const spate_row_t *row, int from);
void spate_out_set_event_time(spate_collector_t *out, int64_t ts);
void spate_out_set_kind(spate_collector_t *out, spate_row_kind_t kind);
/* Appends the row under construction; returns SPATE_OK or an error (e.g. NULL in a NOT NULL field). */
int spate_out_emit(spate_collector_t *out);
/* Appends a copy of `row` (its schema must equal the collector's). */
int spate_out_emit_row(spate_collector_t *out, const spate_row_t *row);
/* Records a failure message for the running function and returns SPATE_EUSER;
 * a user function returns that value to fail the job with this message. */
int spate_out_fail(spate_collector_t *out, const char *fmt, ...) SPATE_PRINTF(2, 3);

/* Decimal helpers. */
spate_decimal_t spate_decimal_from_i64(int64_t v);
/* Exact when the value fits in 64 bits; *ok reports it (ok may be NULL). */
int64_t spate_decimal_to_i64(spate_decimal_t d, bool *ok);

#ifdef __cplusplus
}
#endif
#endif
