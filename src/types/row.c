/*
 * row.c — row views (spate_row_*) and the collector (spate_out_*).
 *
 * The collector writes straight into the column vectors of the batch under
 * construction at index batch->count; spate_out_emit() seals the row
 * (count++) and hands the batch on when it is full.  No allocation per row.
 *
 * Strings that are only passed on are not copied (DESIGN.md §6): while every
 * row of the batch under construction copies string field f from the same
 * field of the same row index of one input batch (a 1:1 map passing a
 * string through), the collector writes nothing for f; when the batch is
 * handed on, column f borrows the input column's offsets and data (the
 * batch keeps a reference to the input batch).  The first row that breaks
 * the pattern materialises the rows so far with one memcpy and continues
 * as a normal column.
 */
#include "types/types.h"

#include <stdio.h>
#include <string.h>

/* ---- row views ---- */

const spate_schema_t *spate_row_schema(const spate_row_t *row)
{
    return row->batch->schema;
}

/* ---- decimals ---- */

spate_decimal_t spate_decimal_from_i64(int64_t v)
{
    spate_decimal_t d = { (uint64_t)v, v < 0 ? -1 : 0 };
    return d;
}

int64_t spate_decimal_to_i64(spate_decimal_t d, bool *ok)
{
    int64_t v = (int64_t)d.lo;
    if (ok) *ok = (d.hi == (v < 0 ? -1 : 0));
    return v;
}

/* ---- collector ---- */

void sp_collector_init(spate_collector_t *c, const spate_schema_t *schema, uint32_t capacity,
                       sp_batch_sink_fn sink, void *target, sp_error_t *error)
{
    memset(c, 0, sizeof *c);
    c->schema = schema;
    c->capacity = capacity ? capacity : SP_BATCH_CAPACITY;
    c->sink = sink;
    c->target = target;
    c->kind = -1;
    c->error = error;
    c->default_time = SPATE_NO_TIMESTAMP;
    c->set_mask = 0;
    c->all_mask = schema->nfields >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << schema->nfields) - 1);
    c->set_hi = schema->nfields > 64 ? sp_xcalloc((size_t)schema->nfields - 64, 1) : NULL;
    c->alias = sp_xcalloc((size_t)(schema->nfields ? schema->nfields : 1), 1);
    c->alias_from = sp_xcalloc((size_t)(schema->nfields ? schema->nfields : 1), sizeof(int));
}

/* The collector holds a reference on the batch it passes strings through from, so that
 * batch stays valid even if the collector outlives the call that delivered it. */
static void release_alias_src(spate_collector_t *c)
{
    if (c->alias_src) sp_batch_release((sp_batch_t *)c->alias_src);
    c->alias_src = NULL;
}

void sp_collector_fini(spate_collector_t *c)
{
    if (c->batch) sp_batch_release(c->batch);
    c->batch = NULL;
    release_alias_src(c);
    free(c->set_hi);
    free(c->alias);
    free(c->alias_from);
    c->set_hi = c->alias = NULL;
    c->alias_from = NULL;
}

/* Copies the rows 0..count-1 of aliased string field f into the batch's own column. */
static void materialize(spate_collector_t *c, int f)
{
    sp_batch_t *b = c->batch;
    const sp_column_t *src = &c->alias_src->cols[c->alias_from[f]];
    const int32_t *so = src->values;
    int32_t *o = b->cols[f].values;
    uint32_t n = b->count;
    for (uint32_t k = 0; k <= n; k++) o[k] = so[k] - so[0];
    sp_batch_reserve_data(b, f, 0); /* room for o[n] bytes */
    memcpy(b->cols[f].data, src->data + so[0], (size_t)o[n]);
    c->alias[f] = 0;
    if (--c->naliased == 0) release_alias_src(c);
}

static void materialize_all(spate_collector_t *c)
{
    for (int f = 0; c->naliased && f < c->schema->nfields; f++)
        if (c->alias[f]) materialize(c, f);
}

void sp_collector_settle(spate_collector_t *c)
{
    if (c->batch) materialize_all(c);
}

/* Hands the batch on: aliased columns borrow their input column first. */
static int hand_on(spate_collector_t *c, sp_batch_t *b)
{
    c->batch = NULL;
    for (int f = 0; c->naliased && f < c->schema->nfields; f++)
        if (c->alias[f]) {
            sp_batch_borrow_column(b, f, (sp_batch_t *)c->alias_src, c->alias_from[f]);
            c->alias[f] = 0;
            c->naliased--;
        }
    release_alias_src(c);
    return c->sink(c->target, b);
}

int sp_collector_flush(spate_collector_t *c)
{
    sp_batch_t *b = c->batch;
    if (!b || b->count == 0) return SPATE_OK;
    return hand_on(c, b);
}

static inline sp_batch_t *cur(spate_collector_t *c)
{
    if (SP_UNLIKELY(!c->batch)) c->batch = sp_batch_create(c->schema, c->capacity);
    return c->batch;
}

void spate_out_prepare(spate_collector_t *c)
{
    cur(c);
}

const spate_schema_t *spate_out_schema(const spate_collector_t *out)
{
    return out->schema;
}

/* Records that field f of the row under construction was set (to a value or NULL).  Fields
 * 0..63 leave the validity bit alone (it starts out set; emit clears NULLs); fields from 64
 * on write it directly. */
static inline void mark(spate_collector_t *c, sp_batch_t *b, int f, bool valid)
{
    if (f < 64) {
        uint64_t bit = (uint64_t)1 << f;
        c->set_mask |= bit;
        c->null_mask = valid ? c->null_mask & ~bit : c->null_mask | bit;
    } else {
        c->set_hi[f - 64] = 1;
        sp_bit_set(b->cols[f].validity, b->count, valid);
    }
}

static inline bool was_set(const spate_collector_t *c, int f)
{
    return f < 64 ? (c->set_mask >> f) & 1 : c->set_hi[f - 64];
}

/* Clears the per-row state: which fields were set, explicit event time and kind. */
static void reset_row(spate_collector_t *c)
{
    c->set_mask = 0;
    c->null_mask = 0;
    if (c->set_hi) memset(c->set_hi, 0, (size_t)c->schema->nfields - 64);
    c->time_set = false;
    c->kind = -1;
}

void sp_collector_discard_row(spate_collector_t *c)
{
    reset_row(c);
}

bool sp_collector_field_is_null(const spate_collector_t *c, int f)
{
    if (!c->batch || !was_set(c, f)) return true;
    return f < 64 ? (c->null_mask >> f) & 1 : !sp_bit_get(c->batch->cols[f].validity, c->batch->count);
}

void sp_collector_rewind(spate_collector_t *c)
{
    sp_batch_t *b = cur(c);
    b->count = 0;
    for (int f = 0; f < c->schema->nfields; f++) b->cols[f].validity[0] |= 1; /* row 0 starts valid */
    reset_row(c);
}

void spate_out_set_null(spate_collector_t *c, int f)
{
    sp_batch_t *b = cur(c);
    if (c->alias[f]) materialize(c, f);
    mark(c, b, f, false);
    if (sp_type_is_varlen(c->schema->fields[f].type)) {
        int32_t *o = b->cols[f].values;
        o[b->count + 1] = o[b->count];
    }
}

void spate_out_set_string(spate_collector_t *c, int f, const char *s, size_t len)
{
    sp_batch_t *b = cur(c);
    if (c->alias[f]) materialize(c, f);
    int32_t *o = b->cols[f].values;
    sp_batch_reserve_data(b, f, len); /* a second set of the same field overwrites the first */
    memcpy(b->cols[f].data + o[b->count], s, len);
    o[b->count + 1] = o[b->count] + (int32_t)len;
    mark(c, b, f, true);
}

void spate_out_copy_field(spate_collector_t *c, int f, const spate_row_t *row, int from)
{
    if (spate_row_is_null(row, from)) {
        spate_out_set_null(c, f);
        return;
    }
    const sp_field_t *fd = &c->schema->fields[f];
    if (fd->width) { /* fixed width: copy the value's bytes */
        sp_batch_t *b = cur(c);
        const sp_column_t *src = &row->batch->cols[from];
        char *dst = (char *)b->cols[f].values + (size_t)fd->width * b->count;
        const char *val = (const char *)src->values + (size_t)fd->width * row->index;
        switch (fd->width) {
        case 4: memcpy(dst, val, 4); break;
        case 8: memcpy(dst, val, 8); break;
        default: memcpy(dst, val, 16); break;
        }
        mark(c, b, f, true);
    } else if (fd->type == SPATE_TYPE_BOOLEAN) {
        spate_out_set_boolean(c, f, spate_row_get_boolean(row, from));
    } else { /* string: pass through without a copy while the rows line up (see the file comment) */
        sp_batch_t *b = cur(c);
        if (c->alias[f]) {
            if (row->batch == c->alias_src && row->index == b->count && c->alias_from[f] == from) {
                mark(c, b, f, true);
                return;
            }
            materialize(c, f);
        } else if (b->count == 0 && row->index == 0 && !row->batch->scratch &&
                   (!c->alias_src || c->alias_src == row->batch)) {
            if (!c->alias_src) c->alias_src = sp_batch_acquire((sp_batch_t *)row->batch);
            c->alias[f] = 1;
            c->alias_from[f] = from;
            c->naliased++;
            mark(c, b, f, true);
            return;
        }
        spate_str_t str = spate_row_get_string(row, from);
        spate_out_set_string(c, f, str.ptr, str.len);
    }
}

void spate_out_set_event_time(spate_collector_t *c, int64_t ts)
{
    c->event_time = ts;
    c->time_set = true;
}

void spate_out_set_kind(spate_collector_t *c, spate_row_kind_t kind)
{
    c->kind = (int8_t)kind;
}

/* The rows with NULL or unset fields (kept out of spate_out_emit so its common path stays
 * small): clears their validity bits, refuses NULL in NOT NULL fields. */
static __attribute__((noinline)) int emit_nulls(spate_collector_t *c, sp_batch_t *b, uint32_t i)
{
    const spate_schema_t *s = c->schema;
    for (int f = 0; f < s->nfields; f++) {
        bool set = was_set(c, f);
        bool null = !set || (f < 64 ? (c->null_mask >> f) & 1 : !sp_bit_get(b->cols[f].validity, i));
        if (!null) continue;
        if (!s->fields[f].nullable) {
            /* Undo the partial row: nothing of it becomes visible, nor leaks into the next one. */
            reset_row(c);
            return sp_error_set(c->error, SPATE_EINVAL, "field '%s' is NOT NULL but %s", s->fields[f].name,
                                set ? "was set to NULL" : "was not set");
        }
        if (set) continue; /* set_null already wrote the offsets */
        if (c->alias[f]) materialize(c, f);
        sp_bit_set(b->cols[f].validity, i, false);
        if (sp_type_is_varlen(s->fields[f].type)) {
            int32_t *o = b->cols[f].values;
            o[i + 1] = o[i];
        }
    }
    for (uint64_t m = c->null_mask; m; m &= m - 1) sp_bit_set(b->cols[__builtin_ctzll(m)].validity, i, false);
    return SPATE_OK;
}

int spate_out_emit(spate_collector_t *c)
{
    sp_batch_t *b = cur(c);
    uint32_t i = b->count;
    /* Common path: every field was set to a value (the setters wrote the values; validity bits
     * start out set). */
    if (SP_UNLIKELY(c->set_mask != c->all_mask || c->null_mask || c->set_hi)) {
        int rc = emit_nulls(c, b, i);
        if (rc) return rc;
    }
    b->timestamps[i] =
        c->time_set ? c->event_time : (c->input ? spate_row_event_time(c->input) : c->default_time);
    b->kinds[i] = (uint8_t)(c->kind >= 0 ? c->kind : (c->input ? (int8_t)spate_row_kind(c->input) : 0));
    reset_row(c);
    b->count = i + 1;
    c->emitted++;
    if (b->count == b->capacity) return hand_on(c, b);
    return SPATE_OK;
}

int spate_out_emit_row(spate_collector_t *c, const spate_row_t *row)
{
    if (row->batch->schema != c->schema && !spate_schema_equal(row->batch->schema, c->schema))
        return sp_error_set(c->error, SPATE_EINVAL,
                            "spate_out_emit_row: the row's schema differs from the output's");
    sp_batch_t *b = cur(c);
    materialize_all(c);
    sp_batch_append_row(b, row->batch, row->index);
    if (c->time_set) b->timestamps[b->count - 1] = c->event_time;
    if (c->kind >= 0) b->kinds[b->count - 1] = (uint8_t)c->kind;
    reset_row(c);
    c->emitted++;
    if (b->count == b->capacity) return hand_on(c, b);
    return SPATE_OK;
}

int spate_out_fail(spate_collector_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sp_error_setv(c->error, SPATE_EUSER, fmt, ap);
    va_end(ap);
    return SPATE_EUSER;
}
