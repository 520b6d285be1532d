/*
 * test_encoding.c — the batch encoding (network, spill) and the row encoding
 * (keyed state values): round trips of every type, NULLs, empty and large
 * strings, decimal extremes, BOOLEAN bit packing across byte boundaries,
 * hundreds of random schemas and batches, the documented byte layout, and
 * corrupted input (every truncation, random byte flips, hand-made bad
 * headers), which must be answered with SPATE_EPARSE or decode to a valid
 * batch — never crash or read out of bounds (run under ASan/UBSan).
 *
 * Every test ends with sp_batch_live_bytes() back at its starting value.
 */
#include "test_main.h"
#include "test_util.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "types/encoding.h"

/* ---- helpers ---- */

/* xorshift64*: every random test is deterministic. */
static uint64_t rnd_state;
static void rnd_seed(uint64_t seed)
{
    rnd_state = seed * 0x9E3779B97F4A7C15ull + 1;
}
static uint64_t rnd(void)
{
    rnd_state ^= rnd_state >> 12;
    rnd_state ^= rnd_state << 25;
    rnd_state ^= rnd_state >> 27;
    return rnd_state * 0x2545F4914F6CDD1Dull;
}
static uint32_t rnd_below(uint32_t n)
{
    return n ? (uint32_t)(rnd() % n) : 0;
}

#define MAX_SINK 8

typedef struct sink {
    sp_batch_t *batches[MAX_SINK];
    int n;
} sink_t;

static int sink_fn(void *target, sp_batch_t *b)
{
    sink_t *s = target;
    assert_true(s->n < MAX_SINK);
    s->batches[s->n++] = b;
    return SPATE_OK;
}

static spate_schema_t *schema(const char *ddl)
{
    spate_schema_t *s = spate_schema_of(ddl);
    if (!s) fail_msg("spate_schema_of(\"%s\"): %s", ddl, spate_last_error());
    return s;
}

static spate_row_t row_at(const sp_batch_t *b, uint32_t i)
{
    spate_row_t r = { b, i };
    return r;
}

/* Encodes b into a new malloc'd buffer (size in *len), checking the size contract. */
static uint8_t *encode(const sp_batch_t *b, size_t *len)
{
    size_t size = sp_batch_encoded_size(b);
    assert_int_equal(size % 8, 0);
    uint8_t *buf = malloc(size ? size : 1);
    assert_non_null(buf);
    assert_int_equal(sp_batch_encode(b, buf, size), (int64_t)size);
    *len = size;
    return buf;
}

/* Decodes, asserting success. */
static sp_batch_t *decode_ok(const spate_schema_t *s, const uint8_t *buf, size_t len)
{
    sp_batch_t *out = NULL;
    sp_error_t err = { 0 };
    int rc = sp_batch_decode(s, buf, len, &out, &err);
    if (rc != SPATE_OK) fail_msg("decode failed (%d): %s", rc, err.message);
    assert_non_null(out);
    assert_int_equal(atomic_load(&out->refs), 1);
    assert_ptr_equal(out->schema, s);
    assert_null(out->parent);
    return out;
}

/* Decodes, asserting SPATE_EPARSE with a message containing want (if not NULL). */
static void decode_fails(const spate_schema_t *s, const uint8_t *buf, size_t len, const char *want)
{
    sp_batch_t *out = (sp_batch_t *)(uintptr_t)1;
    sp_error_t err = { 0 };
    int rc = sp_batch_decode(s, buf, len, &out, &err);
    if (rc != SPATE_EPARSE) {
        if (rc == SPATE_OK) sp_batch_release(out);
        fail_msg("decode should fail with SPATE_EPARSE (wanted \"%s\"), got %d", want ? want : "", rc);
    }
    assert_null(out);
    assert_int_equal(err.code, SPATE_EPARSE);
    if (want && !strstr(err.message, want))
        fail_msg("message \"%s\" should contain \"%s\"", err.message, want);
}

static void assert_batches_equal(const sp_batch_t *a, const sp_batch_t *b)
{
    assert_int_equal(a->count, b->count);
    for (uint32_t i = 0; i < a->count; i++) tu_assert_rows_equal(a, i, b, i);
}

/* Checks the invariants of a decoded batch and touches every value (ASan finds stray reads). */
static void assert_valid_batch(const sp_batch_t *b)
{
    const spate_schema_t *s = b->schema;
    assert_true(b->count <= b->capacity);
    char line[512];
    for (int f = 0; f < s->nfields; f++) {
        const sp_field_t *fd = &s->fields[f];
        if (sp_type_is_varlen(fd->type)) {
            const int32_t *o = b->cols[f].values;
            assert_int_equal(o[0], 0);
            for (uint32_t i = 0; i < b->count; i++) assert_true(o[i] <= o[i + 1]);
            assert_true((uint32_t)o[b->count] <= b->cols[f].data_cap);
        }
    }
    for (uint32_t i = 0; i < b->count; i++) {
        spate_row_t r = row_at(b, i);
        assert_true(spate_row_kind(&r) <= SPATE_DELETE);
        for (int f = 0; f < s->nfields; f++)
            if (!s->fields[f].nullable) assert_false(spate_row_is_null(&r, f));
        spate_row_format(&r, line, sizeof line);
        for (int f = 0; f < s->nfields; f++) {
            if (!sp_type_is_varlen(s->fields[f].type) || spate_row_is_null(&r, f)) continue;
            spate_str_t v = spate_row_get_string(&r, f);
            volatile char sum = 0;
            for (size_t k = 0; k < v.len; k++) sum = (char)(sum + v.ptr[k]);
            (void)sum;
        }
    }
}

/* Sets field f of the row under construction to a random value of its type. */
static void set_random(spate_collector_t *c, int f, size_t max_str)
{
    const sp_field_t *fd = &c->schema->fields[f];
    switch (fd->type) {
    case SPATE_TYPE_BOOLEAN: spate_out_set_boolean(c, f, rnd() & 1); break;
    case SPATE_TYPE_INT: spate_out_set_int(c, f, (int32_t)rnd()); break;
    case SPATE_TYPE_DATE: spate_out_set_date(c, f, (int32_t)rnd()); break;
    case SPATE_TYPE_BIGINT: spate_out_set_bigint(c, f, (int64_t)rnd()); break;
    case SPATE_TYPE_TIMESTAMP: spate_out_set_timestamp(c, f, (int64_t)rnd()); break;
    case SPATE_TYPE_DOUBLE: {
        uint64_t bits = rnd(); /* any bit pattern, NaNs included: compared bit for bit */
        double d;
        memcpy(&d, &bits, 8);
        spate_out_set_double(c, f, d);
        break;
    }
    case SPATE_TYPE_DECIMAL: {
        spate_decimal_t d = { rnd(), (int64_t)rnd() };
        spate_out_set_decimal(c, f, d);
        break;
    }
    case SPATE_TYPE_VARCHAR:
    case SPATE_TYPE_BYTES: {
        char buf[1024];
        size_t len;
        uint32_t pick = rnd_below(10);
        if (pick < 2)
            len = 0; /* empty strings are common and must stay distinct from NULL */
        else if (pick < 9)
            len = rnd_below(17);
        else
            len = rnd_below((uint32_t)SP_MIN(max_str, sizeof buf) + 1);
        for (size_t k = 0; k < len; k++) buf[k] = (char)rnd();
        spate_out_set_string(c, f, buf, len);
        break;
    }
    }
}

/* A batch of `rows` random rows (nullable fields NULL about 1 time in 5; random kinds and timestamps). */
static sp_batch_t *random_batch(const spate_schema_t *s, uint32_t rows, uint32_t capacity, size_t max_str)
{
    if (capacity == 0) capacity = SP_BATCH_CAPACITY;
    assert_true(rows <= capacity);
    if (rows == 0) return sp_batch_create(s, capacity);
    sink_t sink = { 0 };
    spate_collector_t c;
    sp_collector_init(&c, s, capacity, sink_fn, &sink, NULL);
    for (uint32_t i = 0; i < rows; i++) {
        for (int f = 0; f < s->nfields; f++) {
            if (s->fields[f].nullable && rnd_below(5) == 0) {
                if (rnd() & 1) spate_out_set_null(&c, f); /* else: left unset, NULL too */
            } else {
                set_random(&c, f, max_str);
            }
        }
        spate_out_set_kind(&c, (spate_row_kind_t)rnd_below(4));
        uint32_t t = rnd_below(4);
        if (t) spate_out_set_event_time(&c, t == 1 ? (int64_t)rnd() : (int64_t)rnd_below(1000000));
        assert_int_equal(spate_out_emit(&c), SPATE_OK);
    }
    if (rows < capacity) assert_int_equal(sp_collector_flush(&c), SPATE_OK);
    sp_collector_fini(&c);
    assert_int_equal(sink.n, 1);
    assert_int_equal(sink.batches[0]->count, rows);
    return sink.batches[0];
}

/* A random DDL of 1..12 fields of random types and nullability. */
static void random_ddl(char *ddl, size_t cap)
{
    static const char *types[] = { "BOOLEAN", "INT",   "BIGINT", "DOUBLE",       "DECIMAL",
                                   "STRING",  "BYTES", "DATE",   "TIMESTAMP(3)", "VARCHAR(10)" };
    int n = 1 + (int)rnd_below(12);
    size_t k = 0;
    ddl[0] = '\0';
    for (int i = 0; i < n; i++) {
        const char *t = types[rnd_below(SP_ARRAY_LEN(types))];
        char type[32];
        if (strcmp(t, "DECIMAL") == 0) {
            int p = 1 + (int)rnd_below(38);
            snprintf(type, sizeof type, "DECIMAL(%d,%d)", p, (int)rnd_below((uint32_t)p + 1));
        } else {
            snprintf(type, sizeof type, "%s", t);
        }
        k += (size_t)snprintf(ddl + k, cap - k, "%sf%d %s%s", i ? ", " : "", i, type,
                              rnd_below(3) == 0 ? " NOT NULL" : "");
        assert_true(k < cap);
    }
}

#define ALL_TYPES                                                                                            \
    "b BOOLEAN, i INT, l BIGINT, d DOUBLE, m DECIMAL(20,4), v STRING, y BYTES, dt DATE, ts TIMESTAMP(3)"

/* ---- round trips ---- */

static void encode_roundtrip_all_types(void **state)
{
    (void)state;
    int64_t base = sp_batch_live_bytes();
    rnd_seed(1);
    spate_schema_t *s = schema(ALL_TYPES);
    sp_batch_t *b = random_batch(s, 100, 0, 64);
    size_t len;
    uint8_t *buf = encode(b, &len);
    sp_batch_t *d = decode_ok(s, buf, len);
    assert_int_equal(d->capacity, SP_BATCH_CAPACITY);
    assert_batches_equal(b, d);
    /* the decoded batch encodes to the same bytes */
    size_t len2;
    uint8_t *buf2 = encode(d, &len2);
    assert_int_equal(len, len2);
    assert_memory_equal(buf, buf2, len);
    /* decoding does not need an aligned buffer */
    uint8_t *odd = malloc(len + 1);
    memcpy(odd + 1, buf, len);
    sp_batch_t *d2 = decode_ok(s, odd + 1, len);
    assert_batches_equal(b, d2);
    /* the buffer is not referenced after decoding */
    memset(buf, 0xAB, len);
    assert_batches_equal(b, d);
    /* a decoded batch can be appended to */
    sp_batch_append_row(d2, b, 0);
    assert_int_equal(d2->count, 101);
    tu_assert_rows_equal(b, 0, d2, 100);

    free(odd);
    free(buf2);
    free(buf);
    sp_batch_release(d2);
    sp_batch_release(d);
    sp_batch_release(b);
    spate_schema_release(s);
    assert_int_equal(sp_batch_live_bytes(), base);
}

static void encode_nulls_and_empty_strings(void **state)
{
    (void)state;
    int64_t base = sp_batch_live_bytes();
    spate_schema_t *s = schema("v STRING, y BYTES, i INT, b BOOLEAN");
    sink_t sink = { 0 };
    spate_collector_t c;
    sp_collector_init(&c, s, 0, sink_fn, &sink, NULL);
    /* 0: all NULL; 1: empty strings; 2: NULL between values; 3: empty then non-empty */
    assert_int_equal(spate_out_emit(&c), SPATE_OK);
    spate_out_set_string(&c, 0, "", 0);
    spate_out_set_string(&c, 1, "", 0);
    spate_out_set_int(&c, 2, 0);
    spate_out_set_boolean(&c, 3, false);
    assert_int_equal(spate_out_emit(&c), SPATE_OK);
    spate_out_set_string(&c, 0, "abc", 3);
    spate_out_set_null(&c, 1);
    assert_int_equal(spate_out_emit(&c), SPATE_OK);
    spate_out_set_string(&c, 0, "", 0);
    spate_out_set_string(&c, 1, "\0\0", 2);
    spate_out_set_boolean(&c, 3, true);
    assert_int_equal(spate_out_emit(&c), SPATE_OK);
    assert_int_equal(sp_collector_flush(&c), SPATE_OK);
    sp_collector_fini(&c);
    sp_batch_t *b = sink.batches[0];
    size_t len;
    uint8_t *buf = encode(b, &len);
    sp_batch_t *d = decode_ok(s, buf, len);
    assert_batches_equal(b, d);
    spate_row_t r = row_at(d, 0);
    for (int f = 0; f < 4; f++) assert_true(spate_row_is_null(&r, f));
    r = row_at(d, 1);
    for (int f = 0; f < 4; f++) assert_false(spate_row_is_null(&r, f));
    assert_int_equal(spate_row_get_string(&r, 0).len, 0);
    assert_int_equal(spate_row_get_string(&r, 1).len, 0);
    r = row_at(d, 3);
    assert_int_equal(spate_row_get_string(&r, 1).len, 2);
    assert_memory_equal(spate_row_get_string(&r, 1).ptr, "\0\0", 2);
    free(buf);
    sp_batch_release(d);
    sp_batch_release(b);
    spate_schema_release(s);
    assert_int_equal(sp_batch_live_bytes(), base);
}

static void encode_empty_batch(void **state)
{
    (void)state;
    int64_t base = sp_batch_live_bytes();
    spate_schema_t *s = schema(ALL_TYPES);
    sp_batch_t *b = sp_batch_create(s, 0);
    size_t len;
    uint8_t *buf = encode(b, &len);
    /* header + 9 descriptors, then only the two offset vectors {0} (padded to 8) */
    assert_int_equal(len, 24 + 9 * 8 + 8 + 8);
    sp_batch_t *d = decode_ok(s, buf, len);
    assert_int_equal(d->count, 0);
    assert_int_equal(((int32_t *)d->cols[5].values)[0], 0);
    free(buf);
    sp_batch_release(d);
    sp_batch_release(b);
    spate_schema_release(s);
    assert_int_equal(sp_batch_live_bytes(), base);
}

static void encode_full_capacity_large_strings(void **state)
{
    (void)state;
    int64_t base = sp_batch_live_bytes();
    spate_schema_t *s = schema("id BIGINT NOT NULL, v STRING NOT NULL, y BYTES");
    const size_t big = 64 * 1024;
    char *text = malloc(big);
    sink_t sink = { 0 };
    spate_collector_t c;
    sp_collector_init(&c, s, 0, sink_fn, &sink, NULL);
    for (uint32_t i = 0; i < SP_BATCH_CAPACITY; i++) {
        memset(text, 'a' + (int)(i % 26), big);
        memcpy(text, &i, sizeof i);
        spate_out_set_bigint(&c, 0, i);
        spate_out_set_string(&c, 1, text, big);
        if (i % 7) spate_out_set_string(&c, 2, text, i % 100);
        spate_out_set_event_time(&c, i);
        assert_int_equal(spate_out_emit(&c), SPATE_OK);
    }
    sp_collector_fini(&c);
    free(text);
    assert_int_equal(sink.n, 1); /* handed over full */
    sp_batch_t *b = sink.batches[0];
    assert_int_equal(b->count, SP_BATCH_CAPACITY);
    size_t len;
    uint8_t *buf = encode(b, &len);
    assert_true(len > SP_BATCH_CAPACITY * big);
    sp_batch_t *d = decode_ok(s, buf, len);
    assert_batches_equal(b, d);
    free(buf);
    sp_batch_release(d);
    sp_batch_release(b);
    spate_schema_release(s);
    assert_int_equal(sp_batch_live_bytes(), base);
}

static void encode_decimal_extremes(void **state)
{
    (void)state;
    int64_t base = sp_batch_live_bytes();
    spate_schema_t *s = schema("a DECIMAL(38,0), b DECIMAL(38,38) NOT NULL, c DECIMAL(1,0)");
    unsigned __int128 max38 = 0;
    for (int k = 0; k < 38; k++) max38 = max38 * 10 + 9;
    const __int128 values[] = {
        0,
        1,
        -1,
        (__int128)max38,
        -(__int128)max38,
        (__int128)(((unsigned __int128)1 << 127) - 1),
        -(__int128)(((unsigned __int128)1 << 127) - 1) - 1,
        (__int128)INT64_MAX + 1,
        (__int128)INT64_MIN - 1,
    };
    sink_t sink = { 0 };
    spate_collector_t c;
    sp_collector_init(&c, s, 0, sink_fn, &sink, NULL);
    for (size_t i = 0; i < SP_ARRAY_LEN(values); i++) {
        spate_decimal_t d = { (uint64_t)values[i], (int64_t)(values[i] >> 64) };
        for (int f = 0; f < 3; f++) spate_out_set_decimal(&c, f, d);
        assert_int_equal(spate_out_emit(&c), SPATE_OK);
    }
    assert_int_equal(sp_collector_flush(&c), SPATE_OK);
    sp_collector_fini(&c);
    sp_batch_t *b = sink.batches[0];
    size_t len;
    uint8_t *buf = encode(b, &len);
    sp_batch_t *d = decode_ok(s, buf, len);
    assert_batches_equal(b, d);
    for (uint32_t i = 0; i < SP_ARRAY_LEN(values); i++) {
        spate_row_t r = row_at(d, i);
        spate_decimal_t v = spate_row_get_decimal(&r, 1);
        __int128 got = (__int128)(((unsigned __int128)(uint64_t)v.hi << 64) | v.lo);
        assert_true(got == values[i]);
    }
    /* the same through the row encoding */
    sp_batch_t *rows = sp_batch_create(s, 0);
    for (uint32_t i = 0; i < b->count; i++) {
        spate_row_t r = row_at(b, i);
        uint8_t enc[128];
        size_t n = sp_row_encode(&r, enc, sizeof enc);
        assert_true(n <= sizeof enc);
        assert_int_equal(sp_row_decode_append(rows, enc, n, NULL), SPATE_OK);
    }
    assert_batches_equal(b, rows);
    free(buf);
    sp_batch_release(rows);
    sp_batch_release(d);
    sp_batch_release(b);
    spate_schema_release(s);
    assert_int_equal(sp_batch_live_bytes(), base);
}

static void encode_bool_bit_packing(void **state)
{
    (void)state;
    int64_t base = sp_batch_live_bytes();
    spate_schema_t *s = schema("b BOOLEAN, n BOOLEAN NOT NULL");
    const uint32_t sizes[] = { 1, 2, 7, 8, 9, 15, 16, 17, 63, 64, 65, 127, 129, 1023, 1024 };
    for (size_t k = 0; k < SP_ARRAY_LEN(sizes); k++) {
        uint32_t n = sizes[k];
        sp_batch_t *b = sp_batch_create(s, 0);
        for (uint32_t i = 0; i < n; i++) {
            bool null = (i % 5) == 3;
            sp_bit_set(b->cols[0].validity, i, !null);
            sp_bit_set(b->cols[0].values, i, (i * 7 + k) % 3 == 0);
            sp_bit_set(b->cols[1].validity, i, true);
            sp_bit_set(b->cols[1].values, i, (i & 1) != 0);
            b->kinds[i] = (uint8_t)(i % 4);
            b->timestamps[i] = i;
        }
        /* garbage past the row count must not travel */
        for (uint32_t i = n; i < b->capacity; i++) {
            sp_bit_set(b->cols[0].validity, i, true);
            sp_bit_set(b->cols[0].values, i, true);
            sp_bit_set(b->cols[1].values, i, true);
        }
        b->count = n;
        size_t len;
        uint8_t *buf = encode(b, &len);
        /* layout: header 24, 2 descriptors, kinds, timestamps, then column b: validity, values; column n: values */
        size_t off = 24 + 16;
        off += (n + 7) / 8 * 8 + 8 * (size_t)n;
        size_t nb = (n + 7) / 8, sect = (nb + 7) / 8 * 8;
        bool has_nulls = n > 3; /* row 3 is the first NULL: before that no validity section is written */
        size_t vsect = has_nulls ? sect : 0;
        const uint8_t *validity = buf + off, *bvalues = buf + off + vsect,
                      *nvalues = buf + off + vsect + sect;
        assert_int_equal(len, off + vsect + 2 * sect);
        assert_int_equal(buf[24 + 3], has_nulls ? 1 : 0);
        assert_int_equal(buf[32 + 3], 0);
        for (uint32_t i = 0; i < 8 * (uint32_t)sect; i++) {
            bool want_v = i < n && (i % 5) != 3;
            if (has_nulls) assert_int_equal(sp_bit_get(validity, i), want_v);
            bool want_b = i < n && (i * 7 + k) % 3 == 0;
            bool want_n = i < n && (i & 1);
            assert_int_equal(sp_bit_get(bvalues, i), want_b);
            assert_int_equal(sp_bit_get(nvalues, i), want_n);
        }
        sp_batch_t *d = decode_ok(s, buf, len);
        assert_int_equal(d->count, n);
        for (uint32_t i = 0; i < n; i++) {
            spate_row_t r = row_at(d, i);
            assert_int_equal(spate_row_is_null(&r, 0), (i % 5) == 3);
            if (!spate_row_is_null(&r, 0))
                assert_int_equal(spate_row_get_boolean(&r, 0), (i * 7 + k) % 3 == 0);
            assert_int_equal(spate_row_get_boolean(&r, 1), (i & 1) != 0);
        }
        /* bits past the count are clear in the decoded batch too */
        for (uint32_t i = n; i < (n + 7) / 8 * 8; i++) {
            assert_false(sp_bit_get(d->cols[0].validity, i));
            assert_false(sp_bit_get(d->cols[1].validity, i));
            assert_false(sp_bit_get(d->cols[1].values, i));
        }
        free(buf);
        sp_batch_release(d);
        sp_batch_release(b);
    }
    spate_schema_release(s);
    assert_int_equal(sp_batch_live_bytes(), base);
}

static void encode_projection(void **state)
{
    (void)state;
    int64_t base = sp_batch_live_bytes();
    rnd_seed(7);
    spate_schema_t *s = schema(ALL_TYPES);
    sp_batch_t *b = random_batch(s, 300, 0, 40);
    spate_schema_t *ps = NULL;
    int idx[9];
    assert_int_equal(sp_schema_project(s, "y, i, ts, b", &ps, idx, 9), 4);
    sp_batch_t *p = sp_batch_project(b, ps, idx, 4);
    size_t len;
    uint8_t *buf = encode(p, &len);
    sp_batch_t *d = decode_ok(ps, buf, len);
    assert_batches_equal(p, d);
    decode_fails(s, buf, len, "columns"); /* not the parent's schema */
    free(buf);
    sp_batch_release(d);
    sp_batch_release(p);
    sp_batch_release(b);
    spate_schema_release(ps);
    spate_schema_release(s);
    assert_int_equal(sp_batch_live_bytes(), base);
}

static void encode_more_rows_than_default_capacity(void **state)
{
    (void)state;
    int64_t base = sp_batch_live_bytes();
    rnd_seed(11);
    spate_schema_t *s = schema("a INT, v STRING");
    sp_batch_t *b = random_batch(s, 3000, 3000, 20);
    size_t len;
    uint8_t *buf = encode(b, &len);
    sp_batch_t *d = decode_ok(s, buf, len);
    assert_int_equal(d->capacity, 3000);
    assert_batches_equal(b, d);
    free(buf);
    sp_batch_release(d);
    sp_batch_release(b);
    spate_schema_release(s);
    assert_int_equal(sp_batch_live_bytes(), base);
}

/* ---- the documented layout ---- */

static uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static void encode_layout_matches_header_table(void **state)
{
    (void)state;
    int64_t base = sp_batch_live_bytes();
    spate_schema_t *s = schema("k BIGINT NOT NULL, v STRING, m DECIMAL(12,3), i INT");
    sink_t sink = { 0 };
    spate_collector_t c;
    sp_collector_init(&c, s, 0, sink_fn, &sink, NULL);
    const char *words[] = { "alpha", "", "gamma" };
    for (int i = 0; i < 3; i++) {
        spate_out_set_bigint(&c, 0, 100 + i);
        spate_out_set_string(&c, 1, words[i], strlen(words[i]));
        if (i != 1) spate_out_set_decimal(&c, 2, spate_decimal_from_i64(-i));
        spate_out_set_int(&c, 3, i);
        spate_out_set_kind(&c, (spate_row_kind_t)i);
        spate_out_set_event_time(&c, 1000 * i);
        assert_int_equal(spate_out_emit(&c), SPATE_OK);
    }
    assert_int_equal(sp_collector_flush(&c), SPATE_OK);
    sp_collector_fini(&c);
    sp_batch_t *b = sink.batches[0];
    size_t len;
    uint8_t *buf = encode(b, &len);

    assert_memory_equal(buf, "SPTB", 4);
    assert_int_equal(buf[4] | buf[5] << 8, SP_BATCH_ENCODING_VERSION);
    assert_int_equal(buf[6] | buf[7] << 8, 0);
    assert_int_equal(rd32(buf + 8), 3);
    assert_int_equal(rd32(buf + 12), 4);
    uint64_t total;
    memcpy(&total, buf + 16, 8);
    assert_int_equal(total, len);
    uint64_t frame = 0;
    assert_int_equal(sp_batch_encoded_frame_size(buf, SP_BATCH_ENCODED_HEADER, &frame), SPATE_OK);
    assert_int_equal(frame, len);
    assert_int_equal(sp_batch_encoded_frame_size(buf, SP_BATCH_ENCODED_HEADER - 1, &frame), SPATE_EPARSE);

    const uint8_t *d = buf + 24;
    /* k: no NULL, so no validity section */
    assert_int_equal(d[0], SPATE_TYPE_BIGINT);
    assert_int_equal(d[3], 0);
    assert_int_equal(rd32(d + 4), 0);
    /* v: no NULL; 10 data bytes */
    assert_int_equal(d[8], SPATE_TYPE_VARCHAR);
    assert_int_equal(d[11], 0);
    assert_int_equal(rd32(d + 12), 10);
    /* m: precision/scale, one NULL */
    assert_int_equal(d[16], SPATE_TYPE_DECIMAL);
    assert_int_equal(d[17], 12);
    assert_int_equal(d[18], 3);
    assert_int_equal(d[19], 1);
    assert_int_equal(d[24], SPATE_TYPE_INT);

    size_t off = 24 + 32;
    assert_int_equal(buf[off], 0); /* kinds */
    assert_int_equal(buf[off + 1], 1);
    assert_int_equal(buf[off + 2], 2);
    off += 8;
    int64_t ts;
    memcpy(&ts, buf + off + 16, 8);
    assert_int_equal(ts, 2000);
    off += 24;
    int64_t k0;
    memcpy(&k0, buf + off, 8); /* k values */
    assert_int_equal(k0, 100);
    off += 24;
    assert_int_equal(rd32(buf + off), 0); /* v offsets 0, 5, 5, 10 */
    assert_int_equal(rd32(buf + off + 4), 5);
    assert_int_equal(rd32(buf + off + 8), 5);
    assert_int_equal(rd32(buf + off + 12), 10);
    off += 16;
    assert_memory_equal(buf + off, "alphagamma", 10);
    assert_int_equal(buf[off + 10], 0); /* zero padding */
    off += 16;
    assert_int_equal(buf[off], 0x05);         /* m validity: rows 0 and 2 */
    off += 8 + 48;                            /* m values */
    assert_int_equal(rd32(buf + off + 8), 2); /* i values */
    off += 16;
    assert_int_equal(off, len);

    free(buf);
    sp_batch_release(b);
    spate_schema_release(s);
    assert_int_equal(sp_batch_live_bytes(), base);
}

static void encode_rejects_small_buffer(void **state)
{
    (void)state;
    int64_t base = sp_batch_live_bytes();
    rnd_seed(3);
    spate_schema_t *s = schema(ALL_TYPES);
    sp_batch_t *b = random_batch(s, 10, 0, 10);
    size_t size = sp_batch_encoded_size(b);
    uint8_t *buf = malloc(size);
    assert_int_equal(sp_batch_encode(b, buf, size - 1), SPATE_EINVAL);
    assert_int_equal(sp_batch_encode(b, buf, 0), SPATE_EINVAL);
    assert_int_equal(sp_batch_encode(b, buf, size), (int64_t)size);
    free(buf);
    sp_batch_release(b);
    spate_schema_release(s);
    assert_int_equal(sp_batch_live_bytes(), base);
}

/* ---- decoder checks ---- */

static void decode_rejects_schema_mismatch(void **state)
{
    (void)state;
    int64_t base = sp_batch_live_bytes();
    spate_schema_t *s = schema("a INT, m DECIMAL(10,2), v STRING");
    sink_t sink = { 0 };
    spate_collector_t c;
    sp_collector_init(&c, s, 0, sink_fn, &sink, NULL);
    spate_out_set_int(&c, 0, 1);
    spate_out_set_string(&c, 2, "x", 1);
    assert_int_equal(spate_out_emit(&c), SPATE_OK); /* m is NULL */
    assert_int_equal(sp_collector_flush(&c), SPATE_OK);
    sp_collector_fini(&c);
    sp_batch_t *b = sink.batches[0];
    size_t len;
    uint8_t *buf = encode(b, &len);

    static const struct {
        const char *ddl, *want;
    } cases[] = {
        { "a INT, m DECIMAL(10,2)", "columns" },
        { "a INT, m DECIMAL(10,2), v STRING, w INT", "columns" },
        { "a BIGINT, m DECIMAL(10,2), v STRING", "'a'" },
        { "a INT, m DECIMAL(10,3), v STRING", "'m'" },
        { "a INT, m DECIMAL(11,2), v STRING", "precision/scale" },
        { "a INT, m DECIMAL(10,2), v BYTES", "'v'" },
        { "a INT, m DECIMAL(10,2) NOT NULL, v STRING", "NOT NULL" },
    };
    for (size_t k = 0; k < SP_ARRAY_LEN(cases); k++) {
        spate_schema_t *o = schema(cases[k].ddl);
        decode_fails(o, buf, len, cases[k].want);
        spate_schema_release(o);
    }
    /* NOT NULL fields that hold no NULL decode fine; names do not matter */
    spate_schema_t *o = schema("x INT NOT NULL, y DECIMAL(10,2), z STRING NOT NULL");
    sp_batch_t *d = decode_ok(o, buf, len);
    sp_batch_release(d);
    spate_schema_release(o);

    free(buf);
    sp_batch_release(b);
    spate_schema_release(s);
    assert_int_equal(sp_batch_live_bytes(), base);
}

static void decode_rejects_bad_headers_and_sections(void **state)
{
    (void)state;
    int64_t base = sp_batch_live_bytes();
    spate_schema_t *s = schema("a INT, v STRING");
    sink_t sink = { 0 };
    spate_collector_t c;
    sp_collector_init(&c, s, 0, sink_fn, &sink, NULL);
    const char *words[] = { "one", "two", "three" };
    for (int i = 0; i < 3; i++) {
        if (i != 1) spate_out_set_int(&c, 0, i);
        spate_out_set_string(&c, 1, words[i], strlen(words[i]));
        assert_int_equal(spate_out_emit(&c), SPATE_OK);
    }
    assert_int_equal(sp_collector_flush(&c), SPATE_OK);
    sp_collector_fini(&c);
    sp_batch_t *b = sink.batches[0];
    size_t len;
    uint8_t *good = encode(b, &len);
    uint8_t *buf = malloc(len + 16);
    /* layout: 24 header, 16 descriptors, kinds @40, timestamps @48, a validity @72, a values @80,
     * v offsets @96 (16 bytes), v data @112 (11 bytes, padded to 16) -> 128 */
    assert_int_equal(len, 128);

#define MUTATE(stmt, want)                                                                                   \
    do {                                                                                                     \
        memcpy(buf, good, len);                                                                              \
        stmt;                                                                                                \
        decode_fails(s, buf, len, want);                                                                     \
    } while (0)
    uint32_t v32;
    uint64_t v64;
    MUTATE(buf[0] = 'X', "magic");
    MUTATE(buf[4] = 2, "version");
    MUTATE(buf[6] = 1, "flags");
    MUTATE((v32 = SP_BATCH_ENCODED_MAX_ROWS + 1, memcpy(buf + 8, &v32, 4)), "limit");
    MUTATE((v32 = 4, memcpy(buf + 8, &v32, 4)), "bytes");
    MUTATE((v32 = 2, memcpy(buf + 8, &v32, 4)), "bytes");
    MUTATE((v32 = 0xFFFFFFFF, memcpy(buf + 12, &v32, 4)), "columns");
    MUTATE((v64 = len + 8, memcpy(buf + 16, &v64, 8)), "header says");
    MUTATE(buf[24] = SPATE_TYPE_DATE, "type tag");
    MUTATE(buf[25] = 3, "precision/scale");
    MUTATE(buf[27] = 0x02, "unknown flags");
    MUTATE(buf[28] = 1, "fixed width");
    MUTATE(buf[35] = 1, "bytes");                                 /* v claims a validity section */
    MUTATE((v32 = 12, memcpy(buf + 36, &v32, 4)), "offsets end"); /* same padded size, other length */
    MUTATE((v32 = 0x80000000u, memcpy(buf + 36, &v32, 4)), "too large");
    MUTATE(buf[41] = 4, "row kind");
    MUTATE((v32 = 1, memcpy(buf + 96, &v32, 4)), "start at");
    MUTATE((v32 = 7, memcpy(buf + 100, &v32, 4)), "backwards");
    MUTATE((v32 = 0xFFFFFFFF, memcpy(buf + 104, &v32, 4)), "backwards");
    MUTATE((v32 = 10, memcpy(buf + 108, &v32, 4)), "offsets end");
#undef MUTATE
    /* buffer longer or shorter than the encoding */
    memcpy(buf, good, len);
    memset(buf + len, 0, 16);
    decode_fails(s, buf, len + 8, "header says");
    decode_fails(s, buf, 0, "shorter than the header");
    decode_fails(s, buf, 23, "shorter than the header");
    /* a flag-consistent size change: header total and buffer agree, sections do not */
    memcpy(buf, good, len);
    v64 = len + 8;
    memcpy(buf + 16, &v64, 8);
    decode_fails(s, buf, len + 8, "sections need");
    /* the untouched buffer still decodes */
    sp_batch_t *d = decode_ok(s, good, len);
    assert_batches_equal(b, d);
    sp_batch_release(d);

    free(buf);
    free(good);
    sp_batch_release(b);
    spate_schema_release(s);
    assert_int_equal(sp_batch_live_bytes(), base);
}

/* ---- random schemas ---- */

static void fuzz_random_schemas_round_trip(void **state)
{
    (void)state;
    int64_t base = sp_batch_live_bytes();
    for (uint64_t iter = 0; iter < 300; iter++) {
        rnd_seed(1000 + iter);
        char ddl[1024];
        random_ddl(ddl, sizeof ddl);
        spate_schema_t *s = schema(ddl);
        uint32_t rows = iter < 4 ? (uint32_t)(iter == 0 ? 0 : 1024) : rnd_below(1025);
        sp_batch_t *b = random_batch(s, rows, 0, 300);

        /* batch encoding */
        size_t len;
        uint8_t *buf = encode(b, &len);
        sp_batch_t *d = decode_ok(s, buf, len);
        assert_batches_equal(b, d);
        sp_batch_release(d);
        free(buf);

        /* row encoding of the same rows */
        sp_batch_t *rb = sp_batch_create(s, 0);
        uint8_t *enc = NULL;
        size_t enc_cap = 0;
        for (uint32_t i = 0; i < b->count; i++) {
            spate_row_t r = row_at(b, i);
            size_t need = sp_row_encode(&r, NULL, 0);
            if (need > enc_cap) {
                enc_cap = need * 2;
                enc = realloc(enc, enc_cap);
            }
            assert_int_equal(sp_row_encode(&r, enc, enc_cap), need);
            sp_error_t err = { 0 };
            if (sp_row_decode_append(rb, enc, need, &err) != SPATE_OK)
                fail_msg("schema \"%s\" row %u: %s", ddl, i, err.message);
        }
        assert_batches_equal(b, rb);
        free(enc);
        sp_batch_release(rb);
        sp_batch_release(b);
        spate_schema_release(s);
    }
    assert_int_equal(sp_batch_live_bytes(), base);
}

/* ---- row encoding ---- */

static void row_layout_matches_header_table(void **state)
{
    (void)state;
    int64_t base = sp_batch_live_bytes();
    spate_schema_t *s = schema("a INT, v STRING, n BIGINT, b BOOLEAN");
    sink_t sink = { 0 };
    spate_collector_t c;
    sp_collector_init(&c, s, 0, sink_fn, &sink, NULL);
    spate_out_set_int(&c, 0, 5);
    spate_out_set_string(&c, 1, "hi", 2);
    spate_out_set_boolean(&c, 3, true);
    spate_out_set_kind(&c, SPATE_UPDATE_AFTER);
    spate_out_set_event_time(&c, 1000);
    assert_int_equal(spate_out_emit(&c), SPATE_OK);
    spate_out_set_string(&c, 1, "", 0);
    assert_int_equal(spate_out_emit(&c), SPATE_OK);
    assert_int_equal(sp_collector_flush(&c), SPATE_OK);
    sp_collector_fini(&c);
    sp_batch_t *b = sink.batches[0];

    spate_row_t r = row_at(b, 0);
    const uint8_t want0[] = { 0x16, 4, 0xe8, 0x03, 0, 0, 0, 0, 0, 0, 0x04, 5, 0, 0, 0, 2, 'h', 'i', 1 };
    uint8_t enc[64];
    memset(enc, 0xEE, sizeof enc);
    assert_int_equal(sp_row_encode(&r, enc, sizeof enc), sizeof want0);
    assert_memory_equal(enc, want0, sizeof want0);
    assert_int_equal(enc[sizeof want0], 0xEE);

    r = row_at(b, 1); /* insert, no timestamp, only v set (empty) */
    const uint8_t want1[] = { 0x10, 4, 0x0d, 0 };
    assert_int_equal(sp_row_encode(&r, enc, sizeof enc), sizeof want1);
    assert_memory_equal(enc, want1, sizeof want1);

    /* too small a buffer: the size is returned and nothing is written */
    memset(enc, 0xEE, sizeof enc);
    r = row_at(b, 0);
    assert_int_equal(sp_row_encode(&r, enc, sizeof want0 - 1), sizeof want0);
    for (size_t k = 0; k < sizeof enc; k++) assert_int_equal(enc[k], 0xEE);
    assert_int_equal(sp_row_encode(&r, NULL, 0), sizeof want0);

    sp_batch_release(b);
    spate_schema_release(s);
    assert_int_equal(sp_batch_live_bytes(), base);
}

/* A long string needs a multi-byte length. */
static void row_long_strings(void **state)
{
    (void)state;
    int64_t base = sp_batch_live_bytes();
    spate_schema_t *s = schema("v BYTES NOT NULL");
    const size_t lens[] = { 0, 1, 127, 128, 16383, 16384, 70000 };
    char *text = malloc(70000);
    for (size_t k = 0; k < 70000; k++) text[k] = (char)(k * 31);
    sink_t sink = { 0 };
    spate_collector_t c;
    sp_collector_init(&c, s, 0, sink_fn, &sink, NULL);
    for (size_t k = 0; k < SP_ARRAY_LEN(lens); k++) {
        spate_out_set_string(&c, 0, text, lens[k]);
        assert_int_equal(spate_out_emit(&c), SPATE_OK);
    }
    assert_int_equal(sp_collector_flush(&c), SPATE_OK);
    sp_collector_fini(&c);
    sp_batch_t *b = sink.batches[0];
    sp_batch_t *rb = sp_batch_create(s, 0);
    uint8_t *enc = malloc(70016);
    for (uint32_t i = 0; i < b->count; i++) {
        spate_row_t r = row_at(b, i);
        size_t n = sp_row_encode(&r, enc, 70016);
        size_t varint = lens[i] < 128 ? 1 : lens[i] < 16384 ? 2 : 3;
        assert_int_equal(n, 1 + 1 + 1 + varint + lens[i]);
        assert_int_equal(sp_row_decode_append(rb, enc, n, NULL), SPATE_OK);
    }
    assert_batches_equal(b, rb);
    free(enc);
    free(text);
    sp_batch_release(rb);
    sp_batch_release(b);
    spate_schema_release(s);
    assert_int_equal(sp_batch_live_bytes(), base);
}

static void row_decode_rejects_bad_bytes(void **state)
{
    (void)state;
    int64_t base = sp_batch_live_bytes();
    spate_schema_t *s = schema("a INT NOT NULL, v STRING, b BOOLEAN");
    sp_batch_t *b = sp_batch_create(s, 4);
    /* good: kind +I, no ts, 3 fields, nothing NULL, a=7, v="ok", b=true */
    const uint8_t good[] = { 0x10, 3, 0x00, 7, 0, 0, 0, 2, 'o', 'k', 1 };
    static const struct {
        uint8_t bytes[16];
        size_t len;
        const char *want;
    } bad[] = {
        { { 0 }, 0, "empty" },
        { { 0x20, 3, 0, 7, 0, 0, 0, 2, 'o', 'k', 1 }, 11, "version" },
        { { 0x18, 3, 0, 7, 0, 0, 0, 2, 'o', 'k', 1 }, 11, "reserved" },
        { { 0x10, 2, 0, 7, 0, 0, 0, 2, 'o', 'k' }, 10, "fields" },
        { { 0x10, 0x83, 0x00, 0, 7, 0, 0, 0, 2, 'o', 'k', 1 }, 12, "field count" }, /* not minimal */
        { { 0x10, 0x80, 0x80, 0x80, 0x80, 0x80 }, 6, "field count" },
        { { 0x10 }, 1, "field count" },
        { { 0x14, 3, 1, 2, 3 }, 5, "timestamp" },
        { { 0x14, 3, 0, 0, 0, 0, 0, 0, 0, 0x80, 0, 7, 0, 0, 0, 0 }, 16, "no-timestamp" },
        { { 0x10, 3 }, 2, "bitmap" },
        { { 0x10, 3, 0x08, 7, 0, 0, 0, 2, 'o', 'k', 1 }, 11, "past the last field" },
        { { 0x10, 3, 0x01, 2, 'o', 'k', 1 }, 7, "NOT NULL" },
        { { 0x10, 3, 0x00, 7, 0, 0 }, 6, "truncated value of field 'a'" },
        { { 0x10, 3, 0x00, 7, 0, 0, 0, 3, 'o', 'k' }, 10, "truncated value of field 'v'" },
        { { 0x10, 3, 0x00, 7, 0, 0, 0, 0x80 }, 8, "length of field 'v'" },
        { { 0x10, 3, 0x00, 7, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f }, 12, "length of field 'v'" },
        { { 0x10, 3, 0x00, 7, 0, 0, 0, 2, 'o', 'k' }, 10, "truncated value of field 'b'" },
        { { 0x10, 3, 0x00, 7, 0, 0, 0, 2, 'o', 'k', 2 }, 11, "BOOLEAN" },
        { { 0x10, 3, 0x00, 7, 0, 0, 0, 2, 'o', 'k', 1, 0 }, 12, "trailing" },
    };
    for (size_t k = 0; k < SP_ARRAY_LEN(bad); k++) {
        sp_error_t err = { 0 };
        int rc = sp_row_decode_append(b, bad[k].bytes, bad[k].len, &err);
        if (rc != SPATE_EPARSE) fail_msg("case %zu (\"%s\") decoded with rc %d", k, bad[k].want, rc);
        if (!strstr(err.message, bad[k].want))
            fail_msg("case %zu: message \"%s\" should contain \"%s\"", k, err.message, bad[k].want);
        assert_int_equal(b->count, 0);
    }
    /* after all that, a good row decodes and nothing of the bad ones leaked into it */
    assert_int_equal(sp_row_decode_append(b, good, sizeof good, NULL), SPATE_OK);
    assert_int_equal(b->count, 1);
    spate_row_t r = row_at(b, 0);
    assert_int_equal(spate_row_get_int(&r, 0), 7);
    assert_int_equal(spate_row_get_string(&r, 1).len, 2);
    assert_memory_equal(spate_row_get_string(&r, 1).ptr, "ok", 2);
    assert_true(spate_row_get_boolean(&r, 2));
    assert_int_equal(spate_row_event_time(&r), SPATE_NO_TIMESTAMP);
    assert_int_equal(spate_row_kind(&r), SPATE_INSERT);
    /* a full batch is refused without reading the bytes */
    for (int i = 1; i < 4; i++) assert_int_equal(sp_row_decode_append(b, good, sizeof good, NULL), SPATE_OK);
    sp_error_t err = { 0 };
    assert_int_equal(sp_row_decode_append(b, good, sizeof good, &err), SPATE_EINVAL);
    assert_non_null(strstr(err.message, "full"));
    assert_int_equal(b->count, 4);
    sp_batch_release(b);
    spate_schema_release(s);
    assert_int_equal(sp_batch_live_bytes(), base);
}

/* ---- corrupted input ---- */

static void corrupt_every_truncation(void **state)
{
    (void)state;
    int64_t base = sp_batch_live_bytes();
    rnd_seed(42);
    spate_schema_t *s = schema(ALL_TYPES);
    sp_batch_t *b = random_batch(s, 5, 0, 20);
    size_t len;
    uint8_t *buf = encode(b, &len);
    for (size_t cut = 0; cut < len; cut++) {
        /* a fresh allocation of exactly `cut` bytes, so ASan sees any read past it */
        uint8_t *part = malloc(cut ? cut : 1);
        memcpy(part, buf, cut);
        decode_fails(s, part, cut, NULL);
        free(part);
    }
    /* rows: every truncation of every row encoding */
    sp_batch_t *rb = sp_batch_create(s, 0);
    for (uint32_t i = 0; i < b->count; i++) {
        spate_row_t r = row_at(b, i);
        size_t n = sp_row_encode(&r, NULL, 0);
        uint8_t *enc = malloc(n);
        sp_row_encode(&r, enc, n);
        for (size_t cut = 0; cut < n; cut++) {
            uint8_t *part = malloc(cut ? cut : 1);
            memcpy(part, enc, cut);
            assert_int_equal(sp_row_decode_append(rb, part, cut, NULL), SPATE_EPARSE);
            assert_int_equal(rb->count, 0);
            free(part);
        }
        free(enc);
    }
    sp_batch_release(rb);
    free(buf);
    sp_batch_release(b);
    spate_schema_release(s);
    assert_int_equal(sp_batch_live_bytes(), base);
}

static void corrupt_random_byte_flips(void **state)
{
    (void)state;
    int64_t base = sp_batch_live_bytes();
    int decoded = 0, rejected = 0, rows_decoded = 0, rows_rejected = 0;
    for (uint64_t iter = 0; iter < 40; iter++) {
        rnd_seed(5000 + iter);
        char ddl[1024];
        random_ddl(ddl, sizeof ddl);
        spate_schema_t *s = schema(ddl);
        sp_batch_t *b = random_batch(s, 1 + rnd_below(40), 0, 30);
        size_t len;
        uint8_t *good = encode(b, &len);
        uint8_t *buf = malloc(len);
        for (int k = 0; k < 100; k++) {
            memcpy(buf, good, len);
            int flips = 1 + (int)rnd_below(4);
            for (int j = 0; j < flips; j++) {
                /* favour the header and descriptors, where the structure lives */
                size_t at = rnd_below(3) == 0 ? rnd_below((uint32_t)SP_MIN(len, 24 + 8 * 12))
                                              : rnd_below((uint32_t)len);
                if (rnd() & 1)
                    buf[at] ^= (uint8_t)(1u << rnd_below(8));
                else
                    buf[at] = (uint8_t)rnd();
            }
            sp_batch_t *d = NULL;
            sp_error_t err = { 0 };
            int rc = sp_batch_decode(s, buf, len, &d, &err);
            if (rc == SPATE_OK) {
                assert_valid_batch(d);
                sp_batch_release(d);
                decoded++;
            } else {
                assert_int_equal(rc, SPATE_EPARSE);
                assert_null(d);
                assert_true(err.message[0] != '\0');
                rejected++;
            }
        }
        /* row encodings with flips */
        sp_batch_t *rb = sp_batch_create(s, 0);
        for (uint32_t i = 0; i < b->count && rb->count < rb->capacity; i++) {
            spate_row_t r = row_at(b, i);
            size_t n = sp_row_encode(&r, NULL, 0);
            uint8_t *enc = malloc(n);
            sp_row_encode(&r, enc, n);
            for (int k = 0; k < 10 && rb->count < rb->capacity; k++) {
                uint8_t *mut = malloc(n);
                memcpy(mut, enc, n);
                mut[rnd_below((uint32_t)n)] ^= (uint8_t)(1u << rnd_below(8));
                uint32_t before = rb->count;
                int rc = sp_row_decode_append(rb, mut, n, NULL);
                if (rc == SPATE_OK) {
                    assert_int_equal(rb->count, before + 1);
                    rows_decoded++;
                } else {
                    assert_int_equal(rc, SPATE_EPARSE);
                    assert_int_equal(rb->count, before);
                    rows_rejected++;
                }
                free(mut);
            }
            free(enc);
        }
        assert_valid_batch(rb);
        sp_batch_release(rb);
        free(buf);
        free(good);
        sp_batch_release(b);
        spate_schema_release(s);
    }
    /* both outcomes happen: the test exercises the checks and the accepting path */
    assert_true(decoded > 0 && rejected > 0);
    assert_true(rows_decoded > 0 && rows_rejected > 0);
    assert_int_equal(sp_batch_live_bytes(), base);
}

static void corrupt_random_garbage(void **state)
{
    (void)state;
    int64_t base = sp_batch_live_bytes();
    rnd_seed(77);
    spate_schema_t *s = schema("a INT, v STRING, b BOOLEAN");
    sp_batch_t *rb = sp_batch_create(s, 0);
    for (int k = 0; k < 2000; k++) {
        size_t len = rnd_below(256);
        uint8_t *buf = malloc(len ? len : 1);
        for (size_t j = 0; j < len; j++) buf[j] = (uint8_t)rnd();
        if (len >= 24 && (k & 1)) { /* a plausible header over a garbage body */
            memcpy(buf, "SPTB\x01\x00\x00\x00", 8);
            uint32_t n = rnd_below(8), nc = 3;
            uint64_t total = len;
            memcpy(buf + 8, &n, 4);
            memcpy(buf + 12, &nc, 4);
            memcpy(buf + 16, &total, 8);
        }
        sp_batch_t *d = NULL;
        if (sp_batch_decode(s, buf, len, &d, NULL) == SPATE_OK) {
            assert_valid_batch(d);
            sp_batch_release(d);
        }
        if (len && (k & 2)) buf[0] = (uint8_t)(0x10 | (buf[0] & 0x07)); /* a valid row header byte */
        if (rb->count == rb->capacity) {
            sp_batch_release(rb);
            rb = sp_batch_create(s, 0);
        }
        int rc = sp_row_decode_append(rb, buf, len, NULL);
        assert_true(rc == SPATE_OK || rc == SPATE_EPARSE);
        free(buf);
    }
    assert_valid_batch(rb);
    sp_batch_release(rb);
    spate_schema_release(s);
    assert_int_equal(sp_batch_live_bytes(), base);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(encode_roundtrip_all_types),
    cmocka_unit_test(encode_nulls_and_empty_strings),
    cmocka_unit_test(encode_empty_batch),
    cmocka_unit_test(encode_full_capacity_large_strings),
    cmocka_unit_test(encode_decimal_extremes),
    cmocka_unit_test(encode_bool_bit_packing),
    cmocka_unit_test(encode_projection),
    cmocka_unit_test(encode_more_rows_than_default_capacity),
    cmocka_unit_test(encode_layout_matches_header_table),
    cmocka_unit_test(encode_rejects_small_buffer),
    cmocka_unit_test(decode_rejects_schema_mismatch),
    cmocka_unit_test(decode_rejects_bad_headers_and_sections),
    cmocka_unit_test(fuzz_random_schemas_round_trip),
    cmocka_unit_test(row_layout_matches_header_table),
    cmocka_unit_test(row_long_strings),
    cmocka_unit_test(row_decode_rejects_bad_bytes),
    cmocka_unit_test(corrupt_every_truncation),
    cmocka_unit_test(corrupt_random_byte_flips),
    cmocka_unit_test(corrupt_random_garbage),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "types_encoding");
}
