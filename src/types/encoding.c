/*
 * encoding.c — batch and row encodings; the byte layouts are in encoding.h.
 *
 * The batch encoder writes each vector with one memcpy (bitmaps get their
 * last byte masked so bits past the row count are zero).  The decoder first
 * checks the header, the descriptors and the exact total size — after that
 * every section is known to lie inside the buffer — then copies the vectors
 * into a fresh batch and validates the copies (row kinds, offsets, NOT NULL),
 * so the per-value checks run over aligned memory of our own.
 */
#include "types/encoding.h"

#include <assert.h>
#include <inttypes.h>
#include <string.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "Spate's batch and row encodings assume a little-endian host"
#endif

#define ALIGN8(n)         (((uint64_t)(n) + 7u) & ~(uint64_t)7u)
#define DESC_SIZE         8u
#define DESC_HAS_VALIDITY 0x01u
#define ROW_HAS_TIMESTAMP 0x04u
#define ROW_RESERVED_BIT  0x08u
#define ROW_VERSION_SHIFT 4
#define MAX_VARINT_BYTES  5

static const uint8_t batch_magic[4] = { 'S', 'P', 'T', 'B' };

/* ---- small helpers ---- */

static inline void put16(uint8_t *p, uint16_t v)
{
    memcpy(p, &v, 2);
}

static inline void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static inline void put64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

static inline uint16_t get16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static inline uint32_t get32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline uint64_t get64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline size_t bitmap_bytes(uint64_t n)
{
    return (size_t)((n + 7) / 8);
}

/* Mask of the valid bits of the last bitmap byte of n bits (0xFF when n % 8 == 0). */
static inline uint8_t last_byte_mask(uint64_t n)
{
    unsigned rest = (unsigned)(n & 7);
    return rest ? (uint8_t)((1u << rest) - 1) : 0xFF;
}

/* True when bits [0, n) of bits are all set; eight bytes at a time. */
static bool bits_all_set(const uint8_t *bits, uint32_t n)
{
    size_t full = n / 8, i = 0;
    for (; i + 8 <= full; i += 8) {
        uint64_t w;
        memcpy(&w, bits + i, 8);
        if (w != UINT64_MAX) return false;
    }
    for (; i < full; i++)
        if (bits[i] != 0xFF) return false;
    uint8_t mask = last_byte_mask(n);
    return (n & 7) == 0 || (bits[full] & mask) == mask;
}

/* Bytes of the values vector of a column of n rows (offsets for VARCHAR/BYTES). */
static uint64_t values_bytes(const sp_field_t *f, uint64_t n)
{
    if (f->type == SPATE_TYPE_BOOLEAN) return bitmap_bytes(n);
    if (sp_type_is_varlen(f->type)) return 4 * (n + 1);
    return (uint64_t)f->width * n;
}

static inline uint32_t varlen_bytes(const sp_column_t *c, uint32_t n)
{
    const int32_t *o = c->values;
    return (uint32_t)(o[n] - o[0]);
}

/* ---- batch encoding ---- */

size_t sp_batch_encoded_size(const sp_batch_t *b)
{
    const spate_schema_t *s = b->schema;
    uint32_t n = b->count;
    uint64_t size =
        ALIGN8(SP_BATCH_ENCODED_HEADER + DESC_SIZE * (uint64_t)s->nfields) + ALIGN8(n) + 8 * (uint64_t)n;
    for (int i = 0; i < s->nfields; i++) {
        const sp_field_t *f = &s->fields[i];
        const sp_column_t *c = &b->cols[i];
        if (!bits_all_set(c->validity, n)) size += ALIGN8(bitmap_bytes(n));
        size += ALIGN8(values_bytes(f, n));
        if (sp_type_is_varlen(f->type)) size += ALIGN8(varlen_bytes(c, n));
    }
    return (size_t)size;
}

/* Copies len bytes to buf + *off and zero-pads to the next multiple of 8. */
static inline void put_section(uint8_t *buf, size_t *off, const void *src, size_t len)
{
    if (len) memcpy(buf + *off, src, len);
    size_t end = (size_t)ALIGN8(*off + len);
    memset(buf + *off + len, 0, end - *off - len);
    *off = end;
}

/* A bitmap of n bits: copied whole, then the bits >= n of its last byte cleared. */
static inline void put_bitmap(uint8_t *buf, size_t *off, const uint8_t *bits, uint32_t n)
{
    size_t nb = bitmap_bytes(n);
    size_t at = *off;
    put_section(buf, off, bits, nb);
    if (nb) buf[at + nb - 1] &= last_byte_mask(n);
}

int64_t sp_batch_encode(const sp_batch_t *b, uint8_t *buf, size_t cap)
{
    const spate_schema_t *s = b->schema;
    uint32_t n = b->count;
    if (n > SP_BATCH_ENCODED_MAX_ROWS) return SPATE_EINVAL;
    size_t size = sp_batch_encoded_size(b);
    if (cap < size) return SPATE_EINVAL;

    memcpy(buf, batch_magic, 4);
    put16(buf + 4, SP_BATCH_ENCODING_VERSION);
    put16(buf + 6, 0);
    put32(buf + 8, n);
    put32(buf + 12, (uint32_t)s->nfields);
    put64(buf + 16, size);
    size_t off = SP_BATCH_ENCODED_HEADER;
    for (int i = 0; i < s->nfields; i++) {
        const sp_field_t *f = &s->fields[i];
        const sp_column_t *c = &b->cols[i];
        uint8_t *d = buf + off;
        d[0] = (uint8_t)f->type;
        d[1] = f->type == SPATE_TYPE_DECIMAL ? (uint8_t)f->precision : 0;
        d[2] = f->type == SPATE_TYPE_DECIMAL ? (uint8_t)f->scale : 0;
        d[3] = bits_all_set(c->validity, n) ? 0 : DESC_HAS_VALIDITY;
        put32(d + 4, sp_type_is_varlen(f->type) ? varlen_bytes(c, n) : 0);
        off += DESC_SIZE;
    }
    put_section(buf, &off, NULL, 0); /* pad the descriptors */
    put_section(buf, &off, b->kinds, n);
    put_section(buf, &off, b->timestamps, 8 * (size_t)n);

    for (int i = 0; i < s->nfields; i++) {
        const sp_field_t *f = &s->fields[i];
        const sp_column_t *c = &b->cols[i];
        if (buf[SP_BATCH_ENCODED_HEADER + DESC_SIZE * (size_t)i + 3] & DESC_HAS_VALIDITY)
            put_bitmap(buf, &off, c->validity, n);
        if (f->type == SPATE_TYPE_BOOLEAN) {
            put_bitmap(buf, &off, c->values, n);
        } else if (sp_type_is_varlen(f->type)) {
            const int32_t *o = c->values;
            if (o[0] == 0) {
                put_section(buf, &off, o, 4 * ((size_t)n + 1));
            } else { /* offsets not based at 0 (not made by this engine today): rebase */
                for (uint32_t r = 0; r <= n; r++) put32(buf + off + 4 * (size_t)r, (uint32_t)(o[r] - o[0]));
                off += 4 * ((size_t)n + 1);
                put_section(buf, &off, NULL, 0);
            }
            put_section(buf, &off, c->data + o[0], varlen_bytes(c, n));
        } else {
            put_section(buf, &off, c->values, (size_t)f->width * n);
        }
    }
    assert(off == size);
    return (int64_t)size;
}

int sp_batch_encoded_frame_size(const uint8_t *buf, size_t len, uint64_t *size)
{
    if (len < SP_BATCH_ENCODED_HEADER || memcmp(buf, batch_magic, 4) != 0 ||
        get16(buf + 4) != SP_BATCH_ENCODING_VERSION)
        return SPATE_EPARSE;
    *size = get64(buf + 16);
    return SPATE_OK;
}

/* ---- batch decoding ---- */

#define BAD(...) sp_error_set(err, SPATE_EPARSE, "batch encoding: " __VA_ARGS__)

/* Checks the header and descriptors against the schema and the exact size.
 * On success every section of the encoding lies inside [buf, buf + len). */
static int check_layout(const spate_schema_t *s, const uint8_t *buf, size_t len, uint32_t *rows,
                        sp_error_t *err)
{
    if (len < SP_BATCH_ENCODED_HEADER) return BAD("%zu bytes is shorter than the header", len);
    if (memcmp(buf, batch_magic, 4) != 0) return BAD("bad magic (not an encoded batch)");
    uint16_t version = get16(buf + 4);
    if (version != SP_BATCH_ENCODING_VERSION)
        return BAD("format version %u (this build reads version %u)", version, SP_BATCH_ENCODING_VERSION);
    if (get16(buf + 6) != 0) return BAD("unknown flags 0x%04x", get16(buf + 6));
    uint32_t n = get32(buf + 8), ncols = get32(buf + 12);
    uint64_t total = get64(buf + 16);
    if (n > SP_BATCH_ENCODED_MAX_ROWS)
        return BAD("row count %" PRIu32 " over the limit %u", n, SP_BATCH_ENCODED_MAX_ROWS);
    if (ncols != (uint32_t)s->nfields)
        return BAD("%" PRIu32 " columns, the schema has %d fields", ncols, s->nfields);
    if (total != len) return BAD("header says %" PRIu64 " bytes, buffer holds %zu", total, len);

    uint64_t need = ALIGN8(SP_BATCH_ENCODED_HEADER + DESC_SIZE * (uint64_t)ncols);
    if (need > len) return BAD("column descriptors run past the end");
    need += ALIGN8(n) + 8 * (uint64_t)n;
    for (int i = 0; i < s->nfields; i++) {
        const sp_field_t *f = &s->fields[i];
        const uint8_t *d = buf + SP_BATCH_ENCODED_HEADER + DESC_SIZE * (size_t)i;
        uint32_t dlen = get32(d + 4);
        int prec = f->type == SPATE_TYPE_DECIMAL ? f->precision : 0;
        int scale = f->type == SPATE_TYPE_DECIMAL ? f->scale : 0;
        if (d[0] != (uint8_t)f->type)
            return BAD("column %d ('%s') has type tag %u, the schema says %s", i, f->name, d[0],
                       sp_type_name(f->type));
        if (d[1] != prec || d[2] != scale)
            return BAD("column %d ('%s') has precision/scale (%u, %u), the schema says (%d, %d)", i, f->name,
                       d[1], d[2], prec, scale);
        if (d[3] & ~DESC_HAS_VALIDITY)
            return BAD("column %d ('%s') has unknown flags 0x%02x", i, f->name, d[3]);
        if (sp_type_is_varlen(f->type)) {
            if (dlen > INT32_MAX)
                return BAD("column %d ('%s') data length %" PRIu32 " too large", i, f->name, dlen);
        } else if (dlen != 0) {
            return BAD("column %d ('%s') of fixed width has data length %" PRIu32, i, f->name, dlen);
        }
        if (d[3] & DESC_HAS_VALIDITY) need += ALIGN8(bitmap_bytes(n));
        need += ALIGN8(values_bytes(f, n)) + ALIGN8(dlen);
        if (need > len) break; /* no overflow: each step adds < 2^36 to a value <= len */
    }
    if (need != len)
        return BAD("sections need %s%" PRIu64 " bytes, the encoding has %zu", need > len ? "over " : "", need,
                   len);
    *rows = n;
    return SPATE_OK;
}

/* Copies a bitmap of n bits from src into dst, clearing the bits >= n of the last byte. */
static inline void get_bitmap(uint8_t *dst, const uint8_t *src, uint32_t n)
{
    size_t nb = bitmap_bytes(n);
    if (!nb) return;
    memcpy(dst, src, nb);
    dst[nb - 1] &= last_byte_mask(n);
}

int sp_batch_decode(const spate_schema_t *schema, const uint8_t *buf, size_t len, sp_batch_t **out,
                    sp_error_t *err)
{
    *out = NULL;
    uint32_t n = 0;
    int rc = check_layout(schema, buf, len, &n, err);
    if (rc) return rc;

    sp_batch_t *b = sp_batch_create(schema, n <= SP_BATCH_CAPACITY ? SP_BATCH_CAPACITY : n);
    size_t off = (size_t)ALIGN8(SP_BATCH_ENCODED_HEADER + DESC_SIZE * (size_t)schema->nfields);
    if (n) memcpy(b->kinds, buf + off, n);
    off += (size_t)ALIGN8(n);
    for (uint32_t r = 0; r < n; r++)
        if (b->kinds[r] > SPATE_DELETE) {
            rc = BAD("row %" PRIu32 " has row kind %u", r, b->kinds[r]);
            goto fail;
        }
    if (n) memcpy(b->timestamps, buf + off, 8 * (size_t)n);
    off += 8 * (size_t)n;

    for (int i = 0; i < schema->nfields; i++) {
        const sp_field_t *f = &schema->fields[i];
        const uint8_t *d = buf + SP_BATCH_ENCODED_HEADER + DESC_SIZE * (size_t)i;
        sp_column_t *c = &b->cols[i];
        if (d[3] & DESC_HAS_VALIDITY) {
            get_bitmap(c->validity, buf + off, n);
            off += (size_t)ALIGN8(bitmap_bytes(n));
            if (!f->nullable && !bits_all_set(c->validity, n)) {
                rc = BAD("column %d ('%s') is NOT NULL but holds a NULL", i, f->name);
                goto fail;
            }
        } else if (n) {
            memset(c->validity, 0xFF, bitmap_bytes(n));
            c->validity[bitmap_bytes(n) - 1] &= last_byte_mask(n);
        }
        size_t vb = (size_t)values_bytes(f, n);
        if (f->type == SPATE_TYPE_BOOLEAN) {
            get_bitmap(c->values, buf + off, n);
        } else if (vb) {
            memcpy(c->values, buf + off, vb);
        }
        off += (size_t)ALIGN8(vb);
        if (sp_type_is_varlen(f->type)) {
            const int32_t *o = c->values;
            uint32_t dlen = get32(d + 4);
            if (o[0] != 0) {
                rc = BAD("column %d ('%s') offsets start at %" PRId32 ", not 0", i, f->name, o[0]);
                goto fail;
            }
            for (uint32_t r = 0; r < n; r++)
                if (o[r + 1] < o[r]) {
                    rc = BAD("column %d ('%s') offset of row %" PRIu32 " goes backwards", i, f->name, r + 1);
                    goto fail;
                }
            if ((uint32_t)o[n] != dlen) {
                rc = BAD("column %d ('%s') offsets end at %" PRId32 ", data holds %" PRIu32 " bytes", i,
                         f->name, o[n], dlen);
                goto fail;
            }
            sp_batch_reserve_data(b, i, dlen); /* b->count is 0: reserves from offset 0 */
            if (dlen) memcpy(c->data, buf + off, dlen);
            off += (size_t)ALIGN8(dlen);
        }
    }
    assert(off == len);
    b->count = n;
    *out = b;
    return SPATE_OK;
fail:
    /* b->count is still 0, so the pooled batch is reset on reuse. */
    sp_batch_release(b);
    return rc;
}

#undef BAD

/* ---- row encoding ---- */

static inline size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static inline size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* Reads a minimal LEB128 varint of at most 5 bytes with value <= INT32_MAX. */
static bool get_varint(const uint8_t *buf, size_t len, size_t *pos, uint32_t *out)
{
    uint64_t v = 0;
    size_t p = *pos;
    for (int i = 0; i < MAX_VARINT_BYTES; i++) {
        if (p >= len) return false;
        uint8_t byte = buf[p++];
        v |= (uint64_t)(byte & 0x7F) << (7 * i);
        if (!(byte & 0x80)) {
            if (i > 0 && byte == 0) return false; /* not minimal */
            if (v > INT32_MAX) return false;
            *pos = p;
            *out = (uint32_t)v;
            return true;
        }
    }
    return false;
}

/* Bytes of one non-NULL field of the row encoding. */
static inline size_t field_bytes(const sp_field_t *f, const sp_column_t *c, uint32_t r)
{
    if (f->type == SPATE_TYPE_BOOLEAN) return 1;
    if (sp_type_is_varlen(f->type)) {
        const int32_t *o = c->values;
        uint32_t l = (uint32_t)(o[r + 1] - o[r]);
        return varint_len(l) + l;
    }
    return f->width;
}

size_t sp_row_encode(const spate_row_t *row, uint8_t *buf, size_t cap)
{
    return sp_row_encode_only(row, NULL, buf, cap);
}

/* The bytes of a NOT NULL field left out: zero, false, or a varint 0 (empty). */
static size_t left_out_bytes(const sp_field_t *fd)
{
    return fd->type == SPATE_TYPE_BOOLEAN || sp_type_is_varlen(fd->type) ? 1 : fd->width;
}

/* Whether field f of row r goes in as NULL: NULL there, or left out (and nullable). */
static bool encoded_null(const sp_field_t *fd, const sp_column_t *c, uint32_t r, bool kept)
{
    return !sp_bit_get(c->validity, r) || (!kept && fd->nullable);
}

size_t sp_row_encode_only(const spate_row_t *row, const uint8_t *keep, uint8_t *buf, size_t cap)
{
    const sp_batch_t *b = row->batch;
    const spate_schema_t *s = b->schema;
    uint32_t r = row->index;
    int64_t ts = b->timestamps[r];
    bool has_ts = ts != SPATE_NO_TIMESTAMP;
    size_t nb = bitmap_bytes((uint64_t)s->nfields);
    size_t size = 1 + varint_len((uint64_t)s->nfields) + (has_ts ? 8 : 0) + nb;
    for (int f = 0; f < s->nfields; f++) {
        const sp_field_t *fd = &s->fields[f];
        bool kept = !keep || sp_bit_get(keep, (uint32_t)f);
        if (encoded_null(fd, &b->cols[f], r, kept)) continue;
        if (kept)
            size += field_bytes(fd, &b->cols[f], r);
        else
            size += left_out_bytes(fd);
    }
    if (cap < size) return size;

    size_t p = 0;
    buf[p++] = (uint8_t)((b->kinds[r] & 3) | (has_ts ? ROW_HAS_TIMESTAMP : 0) |
                         (SP_ROW_ENCODING_VERSION << ROW_VERSION_SHIFT));
    p += put_varint(buf + p, (uint64_t)s->nfields);
    if (has_ts) {
        put64(buf + p, (uint64_t)ts);
        p += 8;
    }
    uint8_t *nulls = buf + p;
    memset(nulls, 0, nb);
    p += nb;
    for (int f = 0; f < s->nfields; f++) {
        const sp_field_t *fd = &s->fields[f];
        const sp_column_t *c = &b->cols[f];
        bool kept = !keep || sp_bit_get(keep, (uint32_t)f);
        if (encoded_null(fd, c, r, kept)) {
            sp_bit_set(nulls, (uint32_t)f, true);
        } else if (!kept) {
            memset(buf + p, 0, left_out_bytes(fd));
            p += left_out_bytes(fd);
        } else if (fd->type == SPATE_TYPE_BOOLEAN) {
            buf[p++] = sp_bit_get(c->values, r) ? 1 : 0;
        } else if (sp_type_is_varlen(fd->type)) {
            const int32_t *o = c->values;
            uint32_t l = (uint32_t)(o[r + 1] - o[r]);
            p += put_varint(buf + p, l);
            if (l) memcpy(buf + p, c->data + o[r], l);
            p += l;
        } else {
            memcpy(buf + p, (const char *)c->values + (size_t)fd->width * r, fd->width);
            p += fd->width;
        }
    }
    assert(p == size);
    return size;
}

#define BADROW(...) sp_error_set(err, SPATE_EPARSE, "row encoding: " __VA_ARGS__)

int sp_row_decode_append(sp_batch_t *b, const uint8_t *buf, size_t len, sp_error_t *err)
{
    const spate_schema_t *s = b->schema;
    assert(!b->parent);
    if (b->count >= b->capacity)
        return sp_error_set(err, SPATE_EINVAL, "row encoding: the batch is full (%" PRIu32 " rows)",
                            b->count);
    if (len < 1) return BADROW("empty input");
    uint8_t head = buf[0];
    if (head >> ROW_VERSION_SHIFT != SP_ROW_ENCODING_VERSION)
        return BADROW("format version %u (this build reads version %u)", head >> ROW_VERSION_SHIFT,
                      SP_ROW_ENCODING_VERSION);
    if (head & ROW_RESERVED_BIT) return BADROW("reserved bit set in the header byte");
    size_t p = 1;
    uint32_t nf;
    if (!get_varint(buf, len, &p, &nf)) return BADROW("bad field count");
    if (nf != (uint32_t)s->nfields) return BADROW("%" PRIu32 " fields, the schema has %d", nf, s->nfields);
    int64_t ts = SPATE_NO_TIMESTAMP;
    if (head & ROW_HAS_TIMESTAMP) {
        if (len - p < 8) return BADROW("truncated event timestamp");
        ts = (int64_t)get64(buf + p);
        p += 8;
        if (ts == SPATE_NO_TIMESTAMP) return BADROW("event timestamp flag set with the no-timestamp value");
    }
    size_t nb = bitmap_bytes(nf);
    if (len - p < nb) return BADROW("truncated NULL bitmap");
    const uint8_t *nulls = buf + p;
    p += nb;
    if (nb && (nulls[nb - 1] & ~last_byte_mask(nf)))
        return BADROW("NULL bitmap has bits past the last field");

    /* Values go to slot b->count; the row becomes visible only when all are read. */
    uint32_t i = b->count;
    for (int f = 0; f < s->nfields; f++) {
        const sp_field_t *fd = &s->fields[f];
        sp_column_t *c = &b->cols[f];
        if (sp_bit_get(nulls, (uint32_t)f)) {
            if (!fd->nullable) return BADROW("field '%s' is NOT NULL but the row holds NULL", fd->name);
            sp_bit_set(c->validity, i, false);
            if (sp_type_is_varlen(fd->type)) {
                int32_t *o = c->values;
                o[i + 1] = o[i];
            }
            continue;
        }
        sp_bit_set(c->validity, i, true);
        if (fd->type == SPATE_TYPE_BOOLEAN) {
            if (p >= len) return BADROW("truncated value of field '%s'", fd->name);
            if (buf[p] > 1) return BADROW("BOOLEAN field '%s' holds byte %u", fd->name, buf[p]);
            sp_bit_set(c->values, i, buf[p++] != 0);
        } else if (sp_type_is_varlen(fd->type)) {
            uint32_t l;
            if (!get_varint(buf, len, &p, &l)) return BADROW("bad length of field '%s'", fd->name);
            if (len - p < l) return BADROW("truncated value of field '%s'", fd->name);
            int32_t *o = c->values;
            if ((uint64_t)o[i] + l > INT32_MAX)
                return sp_error_set(err, SPATE_EINVAL,
                                    "row encoding: field '%s' does not fit the batch's 2 GiB", fd->name);
            sp_batch_reserve_data(b, f, l);
            if (l) memcpy(c->data + o[i], buf + p, l);
            o[i + 1] = o[i] + (int32_t)l;
            p += l;
        } else {
            if (len - p < fd->width) return BADROW("truncated value of field '%s'", fd->name);
            memcpy((char *)c->values + (size_t)fd->width * i, buf + p, fd->width);
            p += fd->width;
        }
    }
    if (p != len) return BADROW("%zu trailing bytes", len - p);
    b->kinds[i] = head & 3;
    b->timestamps[i] = ts;
    b->count = i + 1;
    return SPATE_OK;
}
