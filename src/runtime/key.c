/*
 * key.c — key bytes, Spate's order-preserving key encoding, key groups.
 *
 * Key encoding (the bytes compare in the same order as the values, so
 * RocksDB's byte order is the key order; composite keys concatenate):
 *
 *   type                  bytes
 *   BIGINT/INT/DATE/TS    8 bytes big-endian with the sign bit flipped
 *   DOUBLE                8 bytes: IEEE bits, sign flipped if positive, all bits flipped if negative
 *   BOOLEAN               1 byte 0/1
 *   VARCHAR/BYTES         the bytes with 0x00 written as 0x00 0xFF, then 0x00 0x01 as terminator
 *   DECIMAL               16 bytes big-endian two's complement with the sign bit flipped
 *   NULL                  a 0x00 marker byte before the field; non-NULL fields get 0x01
 *                         (every field of built-in field keys, whatever its declared
 *                         nullability, so a nullable and a NOT NULL field of equal values
 *                         give equal keys: connected streams can share keys)
 *
 * Key group = xxh3(key bytes) mod max_parallelism; the subtask owning key
 * group g among p is g * p / max_parallelism (Flink's assignment).
 */
#include "runtime/runtime.h"

#include <string.h>

void sp_key_init(spate_key_t *k)
{
    k->cap = 64;
    k->buf = sp_xmalloc(k->cap);
    k->len = 0;
}

void sp_key_fini(spate_key_t *k)
{
    free(k->buf);
    k->buf = NULL;
    k->len = k->cap = 0;
}

static void reserve(spate_key_t *k, size_t extra)
{
    if (k->len + extra <= k->cap) return;
    while (k->cap < k->len + extra) k->cap *= 2;
    k->buf = sp_xrealloc(k->buf, k->cap);
}

void spate_key_append_bytes(spate_key_t *k, const void *bytes, size_t len)
{
    reserve(k, len);
    memcpy(k->buf + k->len, bytes, len);
    k->len += len;
}

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "put_u64_be byte-swaps for a little-endian host");

static void put_u64_be(spate_key_t *k, uint64_t u)
{
    reserve(k, 8);
    u = __builtin_bswap64(u); /* big-endian: byte order is value order (x86 and ARM are little-endian) */
    memcpy(k->buf + k->len, &u, 8);
    k->len += 8;
}

void spate_key_append_bigint(spate_key_t *k, int64_t v)
{
    put_u64_be(k, (uint64_t)v ^ (1ull << 63));
}

void spate_key_append_string(spate_key_t *k, const char *s, size_t len)
{
    reserve(k, len + 2);
    const char *zero = memchr(s, 0, len);
    if (!zero) {
        memcpy(k->buf + k->len, s, len);
        k->len += len;
    } else {
        for (size_t i = 0; i < len; i++) {
            reserve(k, 2);
            k->buf[k->len++] = (uint8_t)s[i];
            if (s[i] == 0) k->buf[k->len++] = 0xFF;
        }
    }
    reserve(k, 2);
    k->buf[k->len++] = 0x00;
    k->buf[k->len++] = 0x01;
}

int sp_key_group(const uint8_t *key, size_t len, int max_parallelism)
{
    return sp_key_group_of_hash(sp_hash_bytes(key, len), max_parallelism);
}

void sp_key_group_range(int subtask, int parallelism, int max_parallelism, int *first, int *last)
{
    /* the smallest g with g * p / m >= i, and the largest with g * p / m <= i */
    int64_t i = subtask, p = parallelism, m = max_parallelism;
    *first = (int)((i * m + p - 1) / p);
    *last = (int)(((i + 1) * m - 1) / p);
}

int sp_key_bigint_field(const sp_key_selector_t *sel, const spate_schema_t *schema)
{
    const sp_field_key_t *fk = sel->ctx;
    if (sel->fn != sp_field_key_fn || fk->n != 1) return -1;
    spate_type_id_t t = schema->fields[fk->fields[0]].type;
    return t == SPATE_TYPE_BIGINT || t == SPATE_TYPE_TIMESTAMP ? fk->fields[0] : -1;
}

int sp_field_key_fn(void *ctx, const spate_row_t *row, spate_key_t *key)
{
    const sp_field_key_t *fk = ctx;
    const spate_schema_t *s = spate_row_schema(row);
    if (fk->n == 1 && (s->fields[fk->fields[0]].type == SPATE_TYPE_BIGINT ||
                       s->fields[fk->fields[0]].type == SPATE_TYPE_TIMESTAMP)) { /* the common key: inline */
        int f = fk->fields[0];
        reserve(key, 9);
        sp_key_put_bigint_field(key, spate_row_is_null(row, f), spate_row_get_bigint(row, f));
        return SPATE_OK;
    }
    for (int i = 0; i < fk->n; i++) {
        int f = fk->fields[i];
        const sp_field_t *fd = &s->fields[f];
        bool null = spate_row_is_null(row, f);
        reserve(key, 1);
        key->buf[key->len++] = null ? 0 : 1;
        if (null) continue;
        switch (fd->type) {
        case SPATE_TYPE_BOOLEAN: {
            uint8_t b = spate_row_get_boolean(row, f);
            spate_key_append_bytes(key, &b, 1);
            break;
        }
        case SPATE_TYPE_INT:
        case SPATE_TYPE_DATE: spate_key_append_bigint(key, spate_row_get_int(row, f)); break;
        case SPATE_TYPE_BIGINT:
        case SPATE_TYPE_TIMESTAMP: spate_key_append_bigint(key, spate_row_get_bigint(row, f)); break;
        case SPATE_TYPE_DOUBLE: {
            double d = spate_row_get_double(row, f);
            if (d == 0) d = 0; /* -0.0 and 0.0 are one key */
            uint64_t u;
            memcpy(&u, &d, 8);
            u = (u >> 63) ? ~u : (u ^ (1ull << 63));
            put_u64_be(key, u);
            break;
        }
        case SPATE_TYPE_DECIMAL: {
            spate_decimal_t d = spate_row_get_decimal(row, f);
            put_u64_be(key, (uint64_t)d.hi ^ (1ull << 63));
            put_u64_be(key, d.lo);
            break;
        }
        case SPATE_TYPE_VARCHAR:
        case SPATE_TYPE_BYTES: {
            spate_str_t str = spate_row_get_string(row, f);
            spate_key_append_string(key, str.ptr, str.len);
            break;
        }
        }
    }
    return SPATE_OK;
}

int sp_key_compute(const sp_key_selector_t *sel, const spate_row_t *row, spate_key_t *key, sp_error_t *err)
{
    sp_key_reset(key);
    int rc = sel->fn(sel->ctx, row, key);
    if (rc != SPATE_OK) return sp_error_set(err, rc < 0 ? rc : SPATE_EUSER, "key selector failed (%d)", rc);
    return SPATE_OK;
}
