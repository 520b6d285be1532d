/*
 * test_batch.c — columnar batches and the row collector: writing every type
 * through spate_out_* and reading it back through spate_row_*, NOT NULL
 * checks, batch hand-over at capacity, reference counts and pooling,
 * projection, row copies, and values as text (sp_collector_set_text,
 * sp_format_field, spate_row_format).
 *
 * Every test that allocates batches ends by checking that
 * sp_batch_live_bytes() is back at its starting value.
 */
#include "test_main.h"
#include "test_util.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "types/types.h"

/* ---- helpers ---- */

#define MAX_SINK 64

/* A sink that keeps the batches it receives (and answers with rc). */
typedef struct sink {
    sp_batch_t *batches[MAX_SINK];
    int n;
    int rc;
} sink_t;

static int sink_fn(void *target, sp_batch_t *b)
{
    sink_t *s = target;
    assert_true(s->n < MAX_SINK);
    s->batches[s->n++] = b;
    return s->rc;
}

static void sink_release(sink_t *s)
{
    for (int i = 0; i < s->n; i++) sp_batch_release(s->batches[i]);
    s->n = 0;
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

static void assert_str(spate_str_t s, const char *want, size_t len)
{
    assert_int_equal(s.len, len);
    if (len) assert_memory_equal(s.ptr, want, len);
}

static spate_decimal_t dec(int64_t hi, uint64_t lo)
{
    spate_decimal_t d = { lo, hi };
    return d;
}

static void assert_dec(spate_decimal_t d, int64_t hi, uint64_t lo)
{
    assert_int_equal(d.hi, hi);
    assert_int_equal(d.lo, lo);
}

#define ALL_TYPES                                                                                            \
    "b BOOLEAN, i INT, l BIGINT, d DOUBLE, m DECIMAL(20,4), v STRING, y BYTES, dt DATE, ts TIMESTAMP(3)"
enum { F_B, F_I, F_L, F_D, F_M, F_V, F_Y, F_DT, F_TS, NF };

/* ---- collector and row views ---- */

static void collector_writes_every_type(void **state)
{
    (void)state;
    int64_t base = sp_batch_live_bytes();
    spate_schema_t *s = schema(ALL_TYPES);
    sink_t sink = { 0 };
    sp_error_t err = { 0 };
    spate_collector_t c;
    sp_collector_init(&c, s, 0, sink_fn, &sink, &err);
    assert_ptr_equal(spate_out_schema(&c), s);

    /* row 0: ordinary values */
    spate_out_set_boolean(&c, F_B, true);
    spate_out_set_int(&c, F_I, 42);
    spate_out_set_bigint(&c, F_L, -1234567890123LL);
    spate_out_set_double(&c, F_D, 2.5);
    spate_out_set_decimal(&c, F_M, spate_decimal_from_i64(123456)); /* 12.3456 */
    spate_out_set_string(&c, F_V, "hello", 5);
    spate_out_set_string(&c, F_Y, "\x00\x01\xff", 3);
    spate_out_set_date(&c, F_DT, -1);
    spate_out_set_timestamp(&c, F_TS, 1700000000123LL);
    assert_int_equal(spate_out_emit(&c), SPATE_OK);

    /* row 1: every field NULL (some explicitly, some left unset) */
    spate_out_set_null(&c, F_B);
    spate_out_set_null(&c, F_V);
    spate_out_set_null(&c, F_M);
    assert_int_equal(spate_out_emit(&c), SPATE_OK);

    /* row 2: empty strings, extremes */
    spate_out_set_boolean(&c, F_B, false);
    spate_out_set_int(&c, F_I, INT32_MIN);
    spate_out_set_bigint(&c, F_L, INT64_MAX);
    spate_out_set_double(&c, F_D, -0.0);
    spate_out_set_decimal(&c, F_M, dec(INT64_MIN, 0));
    spate_out_set_string(&c, F_V, "", 0);
    spate_out_set_string(&c, F_Y, "", 0);
    spate_out_set_date(&c, F_DT, INT32_MAX);
    spate_out_set_timestamp(&c, F_TS, INT64_MIN);
    assert_int_equal(spate_out_emit(&c), SPATE_OK);

    /* row 3: a string after the empty ones, with UTF-8 */
    spate_out_set_string(&c, F_V, "h\xc3\xa9llo w\xc3\xb6rld", 14);
    assert_int_equal(spate_out_emit(&c), SPATE_OK);

    assert_int_equal(sink.n, 0); /* nothing full yet */
    assert_int_equal(c.emitted, 4);
    assert_int_equal(sp_collector_flush(&c), SPATE_OK);
    assert_int_equal(sink.n, 1);
    sp_batch_t *b = sink.batches[0];
    assert_int_equal(b->count, 4);
    assert_int_equal(b->capacity, SP_BATCH_CAPACITY);

    spate_row_t r = row_at(b, 0);
    assert_ptr_equal(spate_row_schema(&r), s);
    for (int f = 0; f < NF; f++) assert_false(spate_row_is_null(&r, f));
    assert_true(spate_row_get_boolean(&r, F_B));
    assert_int_equal(spate_row_get_int(&r, F_I), 42);
    assert_int_equal(spate_row_get_bigint(&r, F_L), -1234567890123LL);
    assert_true(spate_row_get_double(&r, F_D) == 2.5);
    assert_dec(spate_row_get_decimal(&r, F_M), 0, 123456);
    assert_str(spate_row_get_string(&r, F_V), "hello", 5);
    assert_str(spate_row_get_string(&r, F_Y), "\x00\x01\xff", 3);
    assert_int_equal(spate_row_get_date(&r, F_DT), -1);
    assert_int_equal(spate_row_get_timestamp(&r, F_TS), 1700000000123LL);
    assert_int_equal(spate_row_event_time(&r), SPATE_NO_TIMESTAMP);
    assert_int_equal(spate_row_kind(&r), SPATE_INSERT);

    r = row_at(b, 1);
    for (int f = 0; f < NF; f++) assert_true(spate_row_is_null(&r, f));
    assert_int_equal(spate_row_get_string(&r, F_V).len, 0); /* NULL strings have no bytes */
    assert_int_equal(spate_row_get_string(&r, F_Y).len, 0);

    r = row_at(b, 2);
    for (int f = 0; f < NF; f++) assert_false(spate_row_is_null(&r, f));
    assert_false(spate_row_get_boolean(&r, F_B));
    assert_int_equal(spate_row_get_int(&r, F_I), INT32_MIN);
    assert_int_equal(spate_row_get_bigint(&r, F_L), INT64_MAX);
    assert_true(signbit(spate_row_get_double(&r, F_D)));
    assert_dec(spate_row_get_decimal(&r, F_M), INT64_MIN, 0);
    assert_str(spate_row_get_string(&r, F_V), "", 0);
    assert_str(spate_row_get_string(&r, F_Y), "", 0);
    assert_int_equal(spate_row_get_date(&r, F_DT), INT32_MAX);
    assert_int_equal(spate_row_get_timestamp(&r, F_TS), INT64_MIN);

    r = row_at(b, 3);
    assert_true(spate_row_is_null(&r, F_I));
    assert_str(spate_row_get_string(&r, F_V), "h\xc3\xa9llo w\xc3\xb6rld", 14);

    sink_release(&sink);
    sp_collector_fini(&c);
    spate_schema_release(s);
    assert_int_equal(sp_batch_live_bytes(), base);
}

static void collector_set_twice_overwrites(void **state)
{
    (void)state;
    int64_t base = sp_batch_live_bytes();
    spate_schema_t *s = schema("v STRING, i INT, w STRING");
    sink_t sink = { 0 };
    spate_collector_t c;
    sp_collector_init(&c, s, 0, sink_fn, &sink, NULL);
    spate_out_set_string(&c, 0, "first value", 11);
    spate_out_set_string(&c, 0, "2nd", 3);
    spate_out_set_int(&c, 1, 5);
    spate_out_set_null(&c, 1);
    spate_out_set_string(&c, 2, "gone", 4);
    spate_out_set_null(&c, 2);
    assert_int_equal(spate_out_emit(&c), SPATE_OK);
    spate_out_set_null(&c, 0);
    spate_out_set_string(&c, 0, "back", 4);
    spate_out_set_string(&c, 2, "x", 1);
    assert_int_equal(spate_out_emit(&c), SPATE_OK);
    assert_int_equal(sp_collector_flush(&c), SPATE_OK);
    sp_batch_t *b = sink.batches[0];
    spate_row_t r = row_at(b, 0);
    assert_str(spate_row_get_string(&r, 0), "2nd", 3);
    assert_true(spate_row_is_null(&r, 1));
    assert_true(spate_row_is_null(&r, 2));
    assert_int_equal(spate_row_get_string(&r, 2).len, 0);
    r = row_at(b, 1);
    assert_str(spate_row_get_string(&r, 0), "back", 4);
    assert_true(spate_row_is_null(&r, 1));
    assert_str(spate_row_get_string(&r, 2), "x", 1);
    sink_release(&sink);
    sp_collector_fini(&c);
    spate_schema_release(s);
    assert_int_equal(sp_batch_live_bytes(), base);
}

static void collector_not_null_violation(void **state)
{
    (void)state;
    int64_t base = sp_batch_live_bytes();
    spate_schema_t *s = schema("id BIGINT NOT NULL, name STRING, tag STRING NOT NULL");
    sink_t sink = { 0 };
    sp_error_t err = { 0 };
    spate_collector_t c;
    sp_collector_init(&c, s, 0, sink_fn, &sink, &err);

    spate_out_set_string(&c, 1, "ann", 3);
    spate_out_set_string(&c, 2, "t", 1);
    spate_out_set_event_time(&c, 77);
    spate_out_set_kind(&c, SPATE_DELETE);
    assert_int_equal(spate_out_emit(&c), SPATE_EINVAL);
    assert_int_equal(err.code, SPATE_EINVAL);
    assert_non_null(strstr(err.message, "'id'"));
    assert_non_null(strstr(err.message, "NOT NULL"));
    assert_int_equal(c.emitted, 0);

    /* a second violation keeps the first message (the first error wins) */
    spate_out_set_bigint(&c, 0, 1);
    assert_int_equal(spate_out_emit(&c), SPATE_EINVAL);
    assert_non_null(strstr(err.message, "'id'"));

    /* the failed rows are not visible, and their fields, time and kind do not leak */
    spate_out_set_bigint(&c, 0, 7);
    spate_out_set_string(&c, 2, "ok", 2);
    assert_int_equal(spate_out_emit(&c), SPATE_OK);
    assert_int_equal(sp_collector_flush(&c), SPATE_OK);
    assert_int_equal(sink.n, 1);
    sp_batch_t *b = sink.batches[0];
    assert_int_equal(b->count, 1);
    spate_row_t r = row_at(b, 0);
    assert_int_equal(spate_row_get_bigint(&r, 0), 7);
    assert_true(spate_row_is_null(&r, 1));
    assert_str(spate_row_get_string(&r, 2), "ok", 2);
    assert_int_equal(spate_row_event_time(&r), SPATE_NO_TIMESTAMP);
    assert_int_equal(spate_row_kind(&r), SPATE_INSERT);

    /* spate_out_fail records a user error */
    sp_error_t uerr = { 0 };
    c.error = &uerr;
    assert_int_equal(spate_out_fail(&c, "bad record %d", 12), SPATE_EUSER);
    assert_int_equal(uerr.code, SPATE_EUSER);
    assert_string_equal(uerr.message, "bad record 12");

    sink_release(&sink);
    sp_collector_fini(&c);
    spate_schema_release(s);
    assert_int_equal(sp_batch_live_bytes(), base);
}

static void collector_fills_at_capacity(void **state)
{
    (void)state;
    int64_t base = sp_batch_live_bytes();
    spate_schema_t *s = schema("n BIGINT NOT NULL, v STRING");
    sink_t sink = { 0 };
    spate_collector_t c;
    sp_collector_init(&c, s, 4, sink_fn, &sink, NULL);
    for (int i = 0; i < 10; i++) {
        spate_out_set_bigint(&c, 0, i);
        char v[16];
        int len = snprintf(v, sizeof v, "v%d", i);
        spate_out_set_string(&c, 1, v, (size_t)len);
        assert_int_equal(spate_out_emit(&c), SPATE_OK);
        assert_int_equal(sink.n, (i + 1) / 4); /* handed on the moment it is full */
    }
    assert_int_equal(sp_collector_flush(&c), SPATE_OK);
    assert_int_equal(sink.n, 3);
    assert_int_equal(sp_collector_flush(&c), SPATE_OK); /* nothing left: no empty batch */
    assert_int_equal(sink.n, 3);
    int64_t want = 0;
    for (int k = 0; k < sink.n; k++) {
        sp_batch_t *b = sink.batches[k];
        assert_int_equal(b->capacity, 4);
        assert_int_equal(b->count, k < 2 ? 4 : 2);
        for (uint32_t i = 0; i < b->count; i++, want++) {
            spate_row_t r = row_at(b, i);
            assert_int_equal(spate_row_get_bigint(&r, 0), want);
            char v[16];
            int len = snprintf(v, sizeof v, "v%" PRId64, want);
            assert_str(spate_row_get_string(&r, 1), v, (size_t)len);
        }
    }
    assert_int_equal(want, 10);
    sink_release(&sink);

    /* default capacity, and a sink that answers with an error */
    sp_collector_fini(&c);
    sp_collector_init(&c, s, 0, sink_fn, &sink, NULL);
    for (int i = 0; i < 2500; i++) {
        spate_out_set_bigint(&c, 0, i);
        sink.rc = (i == 2047) ? SPATE_ECANCELED : SPATE_OK;
        int rc = spate_out_emit(&c);
        assert_int_equal(rc, i == 2047 ? SPATE_ECANCELED : SPATE_OK);
    }
    sink.rc = SPATE_OK;
    assert_int_equal(sink.n, 2);
    assert_int_equal(sink.batches[0]->count, SP_BATCH_CAPACITY);
    assert_int_equal(sp_collector_flush(&c), SPATE_OK);
    assert_int_equal(sink.n, 3);
    assert_int_equal(sink.batches[2]->count, 2500 - 2 * SP_BATCH_CAPACITY);
    sink_release(&sink);

    /* fini releases a partial batch that was never flushed */
    spate_out_set_bigint(&c, 0, 1);
    assert_int_equal(spate_out_emit(&c), SPATE_OK);
    sp_collector_fini(&c);
    assert_int_equal(sink.n, 0);
    spate_schema_release(s);
    assert_int_equal(sp_batch_live_bytes(), base);
}

static void collector_event_time_and_kind(void **state)
{
    (void)state;
    int64_t base = sp_batch_live_bytes();
    spate_schema_t *s = schema("x INT");
    sink_t sink = { 0 };
    spate_collector_t c;
    sp_collector_init(&c, s, 0, sink_fn, &sink, NULL);
    /* 0: defaults */
    spate_out_set_int(&c, 0, 0);
    assert_int_equal(spate_out_emit(&c), SPATE_OK);
    /* 1: explicit */
    spate_out_set_int(&c, 0, 1);
    spate_out_set_event_time(&c, 1000);
    spate_out_set_kind(&c, SPATE_UPDATE_BEFORE);
    assert_int_equal(spate_out_emit(&c), SPATE_OK);
    /* 2: reset after each emit */
    spate_out_set_int(&c, 0, 2);
    assert_int_equal(spate_out_emit(&c), SPATE_OK);
    /* 3: a negative event time is a time, not "none" */
    spate_out_set_event_time(&c, -5);
    assert_int_equal(spate_out_emit(&c), SPATE_OK);
    assert_int_equal(sp_collector_flush(&c), SPATE_OK);
    sp_batch_t *in = sink.batches[0];
    sink.n = 0;

    /* rows emitted while processing an input row inherit its time and kind */
    spate_row_t input = row_at(in, 1);
    c.input = &input;
    spate_out_set_int(&c, 0, 10);
    assert_int_equal(spate_out_emit(&c), SPATE_OK);
    spate_out_set_int(&c, 0, 11);
    spate_out_set_kind(&c, SPATE_UPDATE_AFTER);
    spate_out_set_event_time(&c, 2000);
    assert_int_equal(spate_out_emit(&c), SPATE_OK);
    c.input = NULL;
    assert_int_equal(sp_collector_flush(&c), SPATE_OK);
    sp_batch_t *out = sink.batches[0];

    const int64_t want_t[] = { SPATE_NO_TIMESTAMP, 1000, SPATE_NO_TIMESTAMP, -5 };
    const spate_row_kind_t want_k[] = { SPATE_INSERT, SPATE_UPDATE_BEFORE, SPATE_INSERT, SPATE_INSERT };
    for (uint32_t i = 0; i < 4; i++) {
        spate_row_t r = row_at(in, i);
        assert_int_equal(spate_row_event_time(&r), want_t[i]);
        assert_int_equal(spate_row_kind(&r), want_k[i]);
    }
    spate_row_t r = row_at(out, 0);
    assert_int_equal(spate_row_event_time(&r), 1000);
    assert_int_equal(spate_row_kind(&r), SPATE_UPDATE_BEFORE);
    r = row_at(out, 1);
    assert_int_equal(spate_row_event_time(&r), 2000);
    assert_int_equal(spate_row_kind(&r), SPATE_UPDATE_AFTER);

    sp_batch_release(in);
    sink_release(&sink);
    sp_collector_fini(&c);
    spate_schema_release(s);
    assert_int_equal(sp_batch_live_bytes(), base);
}

/* Fills a batch of ALL_TYPES with n rows, a NULL every 3rd value. */
static sp_batch_t *make_all_types(const spate_schema_t *s, uint32_t n, uint32_t capacity)
{
    sink_t sink = { 0 };
    spate_collector_t c;
    sp_collector_init(&c, s, capacity, sink_fn, &sink, NULL);
    for (uint32_t i = 0; i < n; i++) {
        for (int f = 0; f < NF; f++) {
            if ((i + (uint32_t)f) % 3 == 2) {
                spate_out_set_null(&c, f);
                continue;
            }
            char text[32];
            int len = snprintf(text, sizeof text, "s%u-%d", i, f);
            switch (f) {
            case F_B: spate_out_set_boolean(&c, f, i % 2); break;
            case F_I: spate_out_set_int(&c, f, (int32_t)i * 3 - 100); break;
            case F_L: spate_out_set_bigint(&c, f, (int64_t)i << 33); break;
            case F_D: spate_out_set_double(&c, f, i / 4.0); break;
            case F_M: spate_out_set_decimal(&c, f, spate_decimal_from_i64(-(int64_t)i * 1001)); break;
            case F_V: spate_out_set_string(&c, f, text, (size_t)(i % 5 == 0 ? 0 : len)); break;
            case F_Y: spate_out_set_string(&c, f, text, (size_t)len); break;
            case F_DT: spate_out_set_date(&c, f, (int32_t)i - 5000); break;
            case F_TS: spate_out_set_timestamp(&c, f, (int64_t)i * 1000 + 7); break;
            }
        }
        spate_out_set_event_time(&c, (int64_t)i * 10);
        spate_out_set_kind(&c, (spate_row_kind_t)(i % 4));
        assert_int_equal(spate_out_emit(&c), SPATE_OK);
    }
    if (n < (capacity ? capacity : SP_BATCH_CAPACITY)) assert_int_equal(sp_collector_flush(&c), SPATE_OK);
    sp_collector_fini(&c);
    assert_int_equal(sink.n, 1);
    return sink.batches[0];
}

static void collector_copy_field_and_emit_row(void **state)
{
    (void)state;
    int64_t base = sp_batch_live_bytes();
    spate_schema_t *s = schema(ALL_TYPES);
    sp_batch_t *src = make_all_types(s, 30, 0);
    sink_t sink = { 0 };
    sp_error_t err = { 0 };
    spate_collector_t c;
    sp_collector_init(&c, s, 0, sink_fn, &sink, &err);
    for (uint32_t i = 0; i < src->count; i++) {
        spate_row_t r = row_at(src, i);
        c.input = &r;
        if (i % 2) {
            for (int f = 0; f < NF; f++) spate_out_copy_field(&c, f, &r, f);
            assert_int_equal(spate_out_emit(&c), SPATE_OK);
        } else {
            spate_out_set_int(&c, F_I, 99); /* overwritten by the copy */
            assert_int_equal(spate_out_emit_row(&c, &r), SPATE_OK);
        }
    }
    c.input = NULL;
    /* emit_row with an explicit kind and time overrides the row's */
    spate_row_t r0 = row_at(src, 0);
    spate_out_set_kind(&c, SPATE_DELETE);
    spate_out_set_event_time(&c, 424242);
    assert_int_equal(spate_out_emit_row(&c, &r0), SPATE_OK);
    assert_int_equal(sp_collector_flush(&c), SPATE_OK);
    sp_batch_t *out = sink.batches[0];
    assert_int_equal(out->count, src->count + 1);
    for (uint32_t i = 0; i < src->count; i++) tu_assert_rows_equal(src, i, out, i);
    spate_row_t last = row_at(out, src->count);
    assert_int_equal(spate_row_kind(&last), SPATE_DELETE);
    assert_int_equal(spate_row_event_time(&last), 424242);
    assert_int_equal(spate_row_get_int(&last, F_I), spate_row_get_int(&r0, F_I));

    /* a row of another schema is refused */
    spate_schema_t *other = schema("x INT");
    sink_t sink2 = { 0 };
    spate_collector_t c2;
    sp_collector_init(&c2, other, 0, sink_fn, &sink2, &err);
    assert_int_equal(spate_out_emit_row(&c2, &r0), SPATE_EINVAL);
    assert_int_equal(err.code, SPATE_EINVAL);
    sp_collector_fini(&c2);
    spate_schema_release(other);

    /* an equal schema that is another object is accepted */
    spate_schema_t *twin = schema(ALL_TYPES);
    sp_collector_init(&c2, twin, 0, sink_fn, &sink2, NULL);
    assert_int_equal(spate_out_emit_row(&c2, &r0), SPATE_OK);
    sp_collector_fini(&c2);
    spate_schema_release(twin);

    sp_batch_release(src);
    sink_release(&sink);
    sp_collector_fini(&c);
    spate_schema_release(s);
    assert_int_equal(sp_batch_live_bytes(), base);
}

/* ---- batches ---- */

static void batch_refcounts(void **state)
{
    (void)state;
    int64_t base = sp_batch_live_bytes();
    spate_schema_t *s = schema("a INT, v STRING");
    sp_batch_t *b = sp_batch_create(s, 16);
    assert_int_equal(atomic_load(&b->refs), 1);
    assert_int_equal(atomic_load(&s->refs), 2); /* the batch holds its schema */
    assert_int_equal(b->capacity, 16);
    assert_int_equal(b->count, 0);
    assert_true(sp_batch_live_bytes() > base);
    assert_int_equal(sp_batch_live_bytes() - base, (int64_t)b->bytes);
    assert_ptr_equal(sp_batch_acquire(b), b);
    assert_ptr_equal(sp_batch_acquire(b), b);
    assert_int_equal(atomic_load(&b->refs), 3);
    sp_batch_release(b);
    sp_batch_release(b);
    assert_int_equal(atomic_load(&b->refs), 1);
    assert_int_equal(b->capacity, 16); /* still alive */
    sp_batch_release(b);               /* not pooled: capacity is not the default */
    assert_int_equal(sp_batch_live_bytes(), base);
    assert_int_equal(atomic_load(&s->refs), 1);
    sp_batch_release(NULL); /* no-op */

    /* a batch keeps its schema alive after the caller's reference is gone */
    sp_batch_t *d = sp_batch_create(s, 0);
    spate_schema_release(s);
    assert_int_equal(spate_schema_field_count(d->schema), 2);
    sp_batch_release(d); /* pools, then drops the last schema reference: the pool drains */
    assert_int_equal(sp_batch_live_bytes(), base);
}

static void batch_pool_reuse_resets(void **state)
{
    (void)state;
    int64_t base = sp_batch_live_bytes();
    spate_schema_t *s = schema("a INT, v STRING, b BOOLEAN");
    sink_t sink = { 0 };
    spate_collector_t c;
    sp_collector_init(&c, s, 0, sink_fn, &sink, NULL);
    for (int i = 0; i < SP_BATCH_CAPACITY; i++) {
        spate_out_set_int(&c, 0, i);
        spate_out_set_string(&c, 1, "0123456789abcdefghijklmnopqrstuvwxyz", 36); /* grows the arena */
        spate_out_set_boolean(&c, 2, true);
        assert_int_equal(spate_out_emit(&c), SPATE_OK);
    }
    assert_int_equal(sink.n, 1);
    sp_batch_t *b = sink.batches[0];
    sink.n = 0;
    int64_t with_batch = sp_batch_live_bytes();
    sp_batch_release(b); /* pooled: its bytes stay counted */
    assert_int_equal(sp_batch_live_bytes(), with_batch);
    assert_int_equal(s->pool_len, 1);

    sp_batch_t *again = sp_batch_create(s, 0);
    assert_ptr_equal(again, b);
    assert_int_equal(s->pool_len, 0);
    assert_int_equal(atomic_load(&again->refs), 1);
    assert_int_equal(again->count, 0);
    for (int f = 0; f < 3; f++) /* every row starts valid: the collector clears the bits of NULLs */
        for (uint32_t k = 0; k < (again->capacity + 7) / 8; k++)
            assert_int_equal(again->cols[f].validity[k], 0xFF);
    assert_int_equal(((int32_t *)again->cols[1].values)[0], 0);

    /* writing the reused batch works from scratch: unset fields read NULL, strings start at 0 */
    sp_collector_fini(&c);
    sp_collector_init(&c, s, 0, sink_fn, &sink, NULL);
    c.batch = again;
    spate_out_set_string(&c, 1, "x", 1);
    assert_int_equal(spate_out_emit(&c), SPATE_OK);
    assert_int_equal(sp_collector_flush(&c), SPATE_OK);
    spate_row_t r = row_at(again, 0);
    assert_true(spate_row_is_null(&r, 0));
    assert_true(spate_row_is_null(&r, 2));
    assert_str(spate_row_get_string(&r, 1), "x", 1);
    assert_int_equal(((int32_t *)again->cols[1].values)[0], 0);
    sink_release(&sink);

    /* the pool is bounded; everything goes when the schema goes */
    sp_batch_t *many[40];
    for (int i = 0; i < 40; i++) many[i] = sp_batch_create(s, 0);
    for (int i = 0; i < 40; i++) sp_batch_release(many[i]);
    assert_true(s->pool_len <= 32);
    sp_collector_fini(&c);
    spate_schema_release(s);
    assert_int_equal(sp_batch_live_bytes(), base);
}

static void batch_projection_shares_columns(void **state)
{
    (void)state;
    int64_t base = sp_batch_live_bytes();
    spate_schema_t *s = schema(ALL_TYPES);
    sp_batch_t *src = make_all_types(s, 50, 0);
    spate_schema_t *ps = NULL;
    int idx[NF];
    assert_int_equal(sp_schema_project(s, "v, l, b", &ps, idx, NF), 3);
    sp_batch_t *p = sp_batch_project(src, ps, idx, 3);
    assert_int_equal(p->count, 50);
    assert_ptr_equal(p->parent, src);
    assert_int_equal(atomic_load(&src->refs), 2);
    assert_ptr_equal(p->cols[0].values, src->cols[F_V].values);
    assert_ptr_equal(p->cols[0].data, src->cols[F_V].data);
    assert_ptr_equal(p->cols[1].values, src->cols[F_L].values);
    assert_ptr_equal(p->cols[2].validity, src->cols[F_B].validity);
    assert_ptr_equal(p->kinds, src->kinds);
    assert_ptr_equal(p->timestamps, src->timestamps);

    /* the projection keeps its parent alive */
    sp_batch_release(src);
    for (uint32_t i = 0; i < p->count; i++) {
        spate_row_t r = row_at(p, i);
        char text[32];
        int len = snprintf(text, sizeof text, "s%u-%d", i, F_V);
        assert_int_equal(spate_row_is_null(&r, 0), (i + F_V) % 3 == 2);
        if (!spate_row_is_null(&r, 0))
            assert_str(spate_row_get_string(&r, 0), text, (size_t)(i % 5 == 0 ? 0 : len));
        if (!spate_row_is_null(&r, 1)) assert_int_equal(spate_row_get_bigint(&r, 1), (int64_t)i << 33);
        if (!spate_row_is_null(&r, 2)) assert_int_equal(spate_row_get_boolean(&r, 2), i % 2);
        assert_int_equal(spate_row_event_time(&r), (int64_t)i * 10);
        assert_int_equal(spate_row_kind(&r), i % 4);
    }

    /* a projection of a projection */
    spate_schema_t *ps2 = NULL;
    int idx2[2];
    assert_int_equal(sp_schema_project(ps, "b", &ps2, idx2, 2), 1);
    sp_batch_t *p2 = sp_batch_project(p, ps2, idx2, 1);
    sp_batch_release(p);
    spate_row_t r = row_at(p2, 1);
    assert_true(spate_row_get_boolean(&r, 0));
    sp_batch_release(p2);

    spate_schema_release(ps2);
    spate_schema_release(ps);
    spate_schema_release(s);
    assert_int_equal(sp_batch_live_bytes(), base);
}

static void batch_append_row(void **state)
{
    (void)state;
    int64_t base = sp_batch_live_bytes();
    spate_schema_t *s = schema(ALL_TYPES);
    sp_batch_t *src = make_all_types(s, 100, 0);
    sp_batch_t *dst = sp_batch_create(s, 100); /* small initial arena: appends must grow it */
    for (uint32_t i = 0; i < src->count; i++) sp_batch_append_row(dst, src, src->count - 1 - i);
    assert_int_equal(dst->count, 100);
    for (uint32_t i = 0; i < src->count; i++) tu_assert_rows_equal(src, src->count - 1 - i, dst, i);

    /* from a projection into a batch of the projected schema */
    spate_schema_t *ps = NULL;
    int idx[NF];
    assert_int_equal(sp_schema_project(s, "y, m, dt", &ps, idx, NF), 3);
    sp_batch_t *p = sp_batch_project(src, ps, idx, 3);
    sp_batch_t *pd = sp_batch_create(ps, 0);
    for (uint32_t i = 0; i < p->count; i++) sp_batch_append_row(pd, p, i);
    for (uint32_t i = 0; i < p->count; i++) tu_assert_rows_equal(p, i, pd, i);

    sp_batch_release(pd);
    sp_batch_release(p);
    sp_batch_release(dst);
    sp_batch_release(src);
    spate_schema_release(ps);
    spate_schema_release(s);
    assert_int_equal(sp_batch_live_bytes(), base);
}

static void batch_large_strings_grow_arena(void **state)
{
    (void)state;
    int64_t base = sp_batch_live_bytes();
    spate_schema_t *s = schema("v BYTES");
    sink_t sink = { 0 };
    spate_collector_t c;
    sp_collector_init(&c, s, 8, sink_fn, &sink, NULL);
    size_t big = 100 * 1024;
    char *text = malloc(big);
    for (int i = 0; i < 8; i++) {
        memset(text, 'a' + i, big);
        spate_out_set_string(&c, 0, text, big - (size_t)i);
        assert_int_equal(spate_out_emit(&c), SPATE_OK);
    }
    assert_int_equal(sink.n, 1);
    sp_batch_t *b = sink.batches[0];
    assert_true(b->cols[0].data_cap >= 8 * big - 28);
    int64_t extra = 0;
    for (int i = 0; i < 8; i++) {
        spate_row_t r = row_at(b, (uint32_t)i);
        spate_str_t v = spate_row_get_string(&r, 0);
        assert_int_equal(v.len, big - (size_t)i);
        memset(text, 'a' + i, big);
        assert_memory_equal(v.ptr, text, v.len);
    }
    extra = sp_batch_live_bytes() - base;
    assert_int_equal(extra, (int64_t)b->bytes); /* growth is counted */
    free(text);
    sink_release(&sink);
    sp_collector_fini(&c);
    spate_schema_release(s);
    assert_int_equal(sp_batch_live_bytes(), base);
}

/* ---- text ---- */

/* Parses one text into field f of a one-row batch (collector capacity 1); returns rc, *out the batch on success. */
static int parse_text(const spate_schema_t *s, int f, const char *text, bool quoted, sp_batch_t **out,
                      char *err, size_t errcap)
{
    sink_t sink = { 0 };
    spate_collector_t c;
    sp_collector_init(&c, s, 1, sink_fn, &sink, NULL);
    int rc = sp_collector_set_text(&c, f, text, strlen(text), quoted, err, errcap);
    if (rc == SPATE_OK) {
        assert_int_equal(spate_out_emit(&c), SPATE_OK);
        assert_int_equal(sink.n, 1);
        *out = sink.batches[0];
    }
    sp_collector_fini(&c);
    return rc;
}

static spate_row_t parse_ok(const spate_schema_t *s, int f, const char *text, bool quoted, sp_batch_t **keep)
{
    char err[256];
    int rc = parse_text(s, f, text, quoted, keep, err, sizeof err);
    if (rc != SPATE_OK) fail_msg("parsing \"%s\" into field %d failed: %s", text, f, err);
    return row_at(*keep, 0);
}

/* Formats field f of row 0 of b, plain (csv false), into a static buffer. */
static const char *fmt_field(const sp_batch_t *b, uint32_t i, int f, bool csv)
{
    static char buf[256];
    spate_row_t r = row_at(b, i);
    size_t n = sp_format_field(&r, f, buf, sizeof buf - 1, ',', csv);
    assert_true(n < sizeof buf);
    buf[n] = '\0';
    return buf;
}

static void text_parse_every_type(void **state)
{
    (void)state;
    int64_t base = sp_batch_live_bytes();
    spate_schema_t *s = schema("b BOOLEAN, i INT, l BIGINT, d DOUBLE, m DECIMAL(10,3), v STRING, y BYTES, "
                               "dt DATE, ts TIMESTAMP(3), m0 DECIMAL(38,0)");
    sp_batch_t *b;
    spate_row_t r;
#define CHECK(f, text, quoted, expr)                                                                         \
    do {                                                                                                     \
        r = parse_ok(s, f, text, quoted, &b);                                                                \
        assert_false(spate_row_is_null(&r, f));                                                              \
        expr;                                                                                                \
        sp_batch_release(b);                                                                                 \
    } while (0)
    CHECK(0, "true", false, assert_true(spate_row_get_boolean(&r, 0)));
    CHECK(0, "FALSE", false, assert_false(spate_row_get_boolean(&r, 0)));
    CHECK(0, "True", true, assert_true(spate_row_get_boolean(&r, 0)));
    CHECK(1, "-2147483648", false, assert_int_equal(spate_row_get_int(&r, 1), INT32_MIN));
    CHECK(1, "2147483647", false, assert_int_equal(spate_row_get_int(&r, 1), INT32_MAX));
    CHECK(1, "0", false, assert_int_equal(spate_row_get_int(&r, 1), 0));
    CHECK(2, "9223372036854775807", false, assert_int_equal(spate_row_get_bigint(&r, 2), INT64_MAX));
    CHECK(2, "-9223372036854775808", false, assert_int_equal(spate_row_get_bigint(&r, 2), INT64_MIN));
    CHECK(3, "3.25", false, assert_true(spate_row_get_double(&r, 3) == 3.25));
    CHECK(3, "-1e-3", false, assert_true(spate_row_get_double(&r, 3) == -1e-3));
    CHECK(3, "0.1", false, assert_true(spate_row_get_double(&r, 3) == 0.1));
    CHECK(4, "-12.5", false, assert_dec(spate_row_get_decimal(&r, 4), -1, (uint64_t)-12500));
    CHECK(4, "1.2345", false, assert_dec(spate_row_get_decimal(&r, 4), 0, 1234)); /* cut to scale 3 */
    CHECK(4, "+7", false, assert_dec(spate_row_get_decimal(&r, 4), 0, 7000));
    CHECK(4, "0000001.5", false, assert_dec(spate_row_get_decimal(&r, 4), 0, 1500));
    CHECK(4, "9999999.999", false, assert_dec(spate_row_get_decimal(&r, 4), 0, 9999999999));
    CHECK(4, ".5", false, assert_dec(spate_row_get_decimal(&r, 4), 0, 500));
    CHECK(4, "-0", false, assert_dec(spate_row_get_decimal(&r, 4), 0, 0));
    CHECK(9, "99999999999999999999999999999999999999", false, {
        spate_decimal_t d = spate_row_get_decimal(&r, 9);
        unsigned __int128 v = ((unsigned __int128)(uint64_t)d.hi << 64) | d.lo;
        unsigned __int128 want = 0;
        for (int k = 0; k < 38; k++) want = want * 10 + 9;
        assert_true(v == want);
    });
    CHECK(5, "hello, world", true, assert_str(spate_row_get_string(&r, 5), "hello, world", 12));
    CHECK(5, "", true, assert_str(spate_row_get_string(&r, 5), "", 0)); /* quoted empty: "" */
    CHECK(6, "raw", false, assert_str(spate_row_get_string(&r, 6), "raw", 3));
    CHECK(7, "1970-01-01", false, assert_int_equal(spate_row_get_date(&r, 7), 0));
    CHECK(7, "1969-12-31", false, assert_int_equal(spate_row_get_date(&r, 7), -1));
    CHECK(7, "1900-01-01", false, assert_int_equal(spate_row_get_date(&r, 7), -25567));
    CHECK(7, "0001-01-01", false, assert_int_equal(spate_row_get_date(&r, 7), -719162));
    CHECK(7, "2024-02-29", false, assert_int_equal(spate_row_get_date(&r, 7), 19782));
    CHECK(7, "2000-2-3", false, assert_int_equal(spate_row_get_date(&r, 7), 10990));
    CHECK(8, "1970-01-01 00:00:00.001", false, assert_int_equal(spate_row_get_timestamp(&r, 8), 1));
    CHECK(8, "1969-12-31 23:59:59.999", false, assert_int_equal(spate_row_get_timestamp(&r, 8), -1));
    CHECK(8, "2023-11-14T22:13:20.12", false,
          assert_int_equal(spate_row_get_timestamp(&r, 8), 1700000000120));
    CHECK(8, "2023-11-14 22:13:20.1239", false,
          assert_int_equal(spate_row_get_timestamp(&r, 8), 1700000000123));
    CHECK(8, "2023-11-14 22:13:20", false, assert_int_equal(spate_row_get_timestamp(&r, 8), 1700000000000));
    CHECK(8, "2023-11-14", false, assert_int_equal(spate_row_get_timestamp(&r, 8), 1699920000000));
    CHECK(8, "1700000000123", false, assert_int_equal(spate_row_get_timestamp(&r, 8), 1700000000123));
    CHECK(8, "-1", false, assert_int_equal(spate_row_get_timestamp(&r, 8), -1));
    CHECK(8, "1900-01-01 00:00:00.000", false,
          assert_int_equal(spate_row_get_timestamp(&r, 8), -25567LL * 86400000));
#undef CHECK
    /* an unquoted empty field is NULL, for every type */
    for (int f = 0; f < 10; f++) {
        r = parse_ok(s, f, "", false, &b);
        assert_true(spate_row_is_null(&r, f));
        sp_batch_release(b);
    }
    spate_schema_release(s);
    assert_int_equal(sp_batch_live_bytes(), base);
}

static void text_parse_errors(void **state)
{
    (void)state;
    int64_t base = sp_batch_live_bytes();
    spate_schema_t *s =
        schema("b BOOLEAN, i INT, l BIGINT, d DOUBLE, m DECIMAL(5,2), dt DATE, ts TIMESTAMP(3)");
    static const struct {
        int field;
        const char *text;
    } bad[] = {
        { 0, "yes" },
        { 0, "1" },
        { 0, "truex" },
        { 1, "abc" },
        { 1, "2147483648" },
        { 1, "-2147483649" },
        { 1, "1.5" },
        { 1, "12 " },
        { 2, "9223372036854775808" },
        { 2, "0x10" },
        { 3, "1.5x" },
        { 3, "x" },
        { 4, "1000" },
        { 4, "1.2.3" },
        { 4, "-" },
        { 4, "." },
        { 4, "1e5" },
        { 4, "12a" },
        { 5, "2021-02-29" },
        { 5, "2021-02-30" },
        { 5, "2021-13-01" },
        { 5, "2021-00-10" },
        { 5, "2021-1-1x" },
        { 5, "20210101" },
        { 5, "2021/01/01" },
        { 5, "999999999-12-31" },
        { 6, "2021-01-01 24:00:00" },
        { 6, "2021-01-01 -1:00:00" },
        { 6, "2021-01-01 10:60:00" },
        { 6, "2021-01-01 10:00:00." },
        { 6, "2021-01-01 10:00" },
        { 6, "2021-01-01x10:00:00" },
        { 6, "2021-04-31 00:00:00" },
        { 6, "999999999-01-01 00:00:00" },
    };
    for (size_t k = 0; k < SP_ARRAY_LEN(bad); k++) {
        char err[256] = "";
        sp_batch_t *b = NULL;
        int rc = parse_text(s, bad[k].field, bad[k].text, false, &b, err, sizeof err);
        if (rc != SPATE_EPARSE) {
            if (b) sp_batch_release(b);
            fail_msg("\"%s\" for field %d should not parse (rc %d)", bad[k].text, bad[k].field, rc);
        }
        const char *name = spate_schema_field_name(s, bad[k].field);
        if (!strstr(err, name) || !strstr(err, sp_type_name(spate_schema_field_type(s, bad[k].field))))
            fail_msg("message \"%s\" should name field '%s' and its type", err, name);
    }
    /* a quoted empty field is not NULL, and not a number */
    char err[256];
    sp_batch_t *b = NULL;
    assert_int_equal(parse_text(s, 1, "", true, &b, err, sizeof err), SPATE_EPARSE);
    /* the collector still works after errors */
    spate_row_t r = parse_ok(s, 1, "17", false, &b);
    assert_int_equal(spate_row_get_int(&r, 1), 17);
    sp_batch_release(b);
    spate_schema_release(s);
    assert_int_equal(sp_batch_live_bytes(), base);
}

static void text_format_every_type(void **state)
{
    (void)state;
    int64_t base = sp_batch_live_bytes();
    spate_schema_t *s = schema("b BOOLEAN, i INT, l BIGINT, d DOUBLE, m DECIMAL(10,2), m0 DECIMAL(38,0), "
                               "m38 DECIMAL(38,38), dt DATE, ts TIMESTAMP(3), v STRING");
    sp_batch_t *b = sp_batch_create(s, 64);
    uint32_t n = 0;
    static const struct {
        int field;
        int64_t hi;
        uint64_t lo; /* the value: decimals as (hi, lo), others in lo */
        const char *want;
    } cases[] = {
        { 0, 0, 1, "true" },
        { 0, 0, 0, "false" },
        { 1, 0, (uint64_t)(int64_t)INT32_MIN, "-2147483648" },
        { 2, 0, (uint64_t)INT64_MIN, "-9223372036854775808" },
        { 4, -1, (uint64_t)-5, "-0.05" },
        { 4, 0, 12345, "123.45" },
        { 4, -1, (uint64_t)-12345, "-123.45" },
        { 4, 0, 0, "0.00" },
        { 4, 0, 7, "0.07" },
        { 4, -1, (uint64_t)-100, "-1.00" },
        { 5, 0, 42, "42" },
        { 5, -1, (uint64_t)-42, "-42" },
        { 5, INT64_MIN, 0, "-170141183460469231731687303715884105728" },
        { 5, INT64_MAX, UINT64_MAX, "170141183460469231731687303715884105727" },
        { 6, 0, 1, "0.00000000000000000000000000000000000001" },
        { 6, -1, (uint64_t)-1, "-0.00000000000000000000000000000000000001" },
        { 7, 0, 0, "1970-01-01" },
        { 7, 0, (uint64_t)-1, "1969-12-31" },
        { 7, 0, (uint64_t)-25567, "1900-01-01" },
        { 7, 0, (uint64_t)-719162, "0001-01-01" },
        { 7, 0, 19782, "2024-02-29" },
        { 7, 0, (uint64_t)-719528, "0000-01-01" },
        { 8, 0, 0, "1970-01-01 00:00:00.000" },
        { 8, 0, 1, "1970-01-01 00:00:00.001" },
        { 8, 0, (uint64_t)-1, "1969-12-31 23:59:59.999" },
        { 8, 0, (uint64_t)-86400000, "1969-12-31 00:00:00.000" },
        { 8, 0, 1700000000123, "2023-11-14 22:13:20.123" },
        { 8, 0, (uint64_t)(-25567LL * 86400000 + 1), "1900-01-01 00:00:00.001" },
    };
    for (size_t k = 0; k < SP_ARRAY_LEN(cases); k++, n++) {
        int f = cases[k].field;
        sp_bit_set(b->cols[f].validity, n, true);
        switch (spate_schema_field_type(s, f)) {
        case SPATE_TYPE_BOOLEAN: sp_bit_set(b->cols[f].values, n, cases[k].lo); break;
        case SPATE_TYPE_INT:
        case SPATE_TYPE_DATE: ((int32_t *)b->cols[f].values)[n] = (int32_t)cases[k].lo; break;
        case SPATE_TYPE_BIGINT:
        case SPATE_TYPE_TIMESTAMP: ((int64_t *)b->cols[f].values)[n] = (int64_t)cases[k].lo; break;
        case SPATE_TYPE_DECIMAL: {
            spate_decimal_t d = dec(cases[k].hi, cases[k].lo);
            memcpy((char *)b->cols[f].values + 16 * n, &d, 16);
            break;
        }
        default: fail();
        }
        ((int32_t *)b->cols[9].values)[n + 1] = 0;
        b->count = n + 1;
        assert_string_equal(fmt_field(b, n, f, false), cases[k].want);
        assert_string_equal(fmt_field(b, n, f, true), cases[k].want);
        /* and the text parses back to the same value (timestamps and dates through the parser) */
        sp_batch_t *back = NULL;
        char err[128];
        if (f == 5 && cases[k].hi != 0 && cases[k].hi != -1) { /* 39 digits: beyond DECIMAL(38) */
            assert_int_equal(parse_text(s, f, cases[k].want, false, &back, err, sizeof err), SPATE_EPARSE);
            continue;
        }
        if (parse_text(s, f, cases[k].want, false, &back, err, sizeof err) != SPATE_OK)
            fail_msg("\"%s\" does not parse back: %s", cases[k].want, err);
        assert_string_equal(fmt_field(back, 0, f, false), cases[k].want);
        sp_batch_release(back);
    }
    /* NULL formats as nothing */
    sp_bit_set(b->cols[1].validity, 0, false);
    assert_string_equal(fmt_field(b, 0, 1, true), "");
    sp_batch_release(b);
    spate_schema_release(s);

    /* doubles as Java (and so Flink) prints them: shortest exact digits, ".0", E-notation, names */
    spate_schema_t *ds = schema("d DOUBLE");
    sp_batch_t *db = sp_batch_create(ds, 16);
    const double dv[] = { 0.1, -2.5, 1e300, INFINITY, -INFINITY, 2.0, 1e7, 0.001, 1.5e-5, 123456.789, NAN };
    const char *dw[] = { "0.1",   "-2.5",  "1.0E300", "Infinity",   "-Infinity", "2.0",
                         "1.0E7", "0.001", "1.5E-5",  "123456.789", "NaN" };
    for (uint32_t k = 0; k < 11; k++) {
        sp_bit_set(db->cols[0].validity, k, true);
        ((double *)db->cols[0].values)[k] = dv[k];
        db->count = k + 1;
        assert_string_equal(fmt_field(db, k, 0, true), dw[k]);
    }
    sp_batch_release(db);
    spate_schema_release(ds);
    assert_int_equal(sp_batch_live_bytes(), base);
}

static void text_csv_quoting(void **state)
{
    (void)state;
    int64_t base = sp_batch_live_bytes();
    spate_schema_t *s = schema("n INT, v STRING, w STRING, y BYTES");
    sink_t sink = { 0 };
    spate_collector_t c;
    sp_collector_init(&c, s, 0, sink_fn, &sink, NULL);
    static const struct {
        const char *in, *csv, *pipe;
    } cases[] = {
        { "plain", "plain", "plain" },
        { "a,b", "\"a,b\"", "a,b" },
        { "a|b", "a|b", "\"a|b\"" },
        { "say \"hi\"", "\"say \"\"hi\"\"\"", "\"say \"\"hi\"\"\"" },
        { "line\nbreak", "\"line\nbreak\"", "\"line\nbreak\"" },
        { "cr\rhere", "\"cr\rhere\"", "\"cr\rhere\"" },
        { "", "\"\"", "\"\"" },
        { " spaced ", " spaced ", " spaced " },
    };
    for (size_t k = 0; k < SP_ARRAY_LEN(cases); k++) {
        spate_out_set_string(&c, 1, cases[k].in, strlen(cases[k].in));
        assert_int_equal(spate_out_emit(&c), SPATE_OK);
    }
    assert_int_equal(sp_collector_flush(&c), SPATE_OK);
    sp_batch_t *b = sink.batches[0];
    for (uint32_t k = 0; k < SP_ARRAY_LEN(cases); k++) {
        assert_string_equal(fmt_field(b, k, 1, true), cases[k].csv);
        assert_string_equal(fmt_field(b, k, 1, false), cases[k].in); /* plain text: never quoted */
        char buf[64];
        spate_row_t r = row_at(b, k);
        size_t len = sp_format_field(&r, 1, buf, sizeof buf, '|', true);
        buf[len] = '\0';
        assert_string_equal(buf, cases[k].pipe);
        /* truncation: returns the full length, writes at most cap bytes */
        char tiny[3] = { 'x', 'x', 'x' };
        assert_int_equal(sp_format_field(&r, 1, tiny, 2, ',', true), strlen(cases[k].csv));
        assert_int_equal(tiny[2], 'x');
        assert_int_equal(sp_format_field(&r, 1, NULL, 0, ',', true), strlen(cases[k].csv));
    }
    sink_release(&sink);

    /* whole rows: NULL is empty, an empty string is "" */
    spate_out_set_int(&c, 0, 1);
    spate_out_set_string(&c, 1, "a,b", 3);
    spate_out_set_string(&c, 2, "", 0);
    spate_out_set_string(&c, 3, "z", 1);
    assert_int_equal(spate_out_emit(&c), SPATE_OK);
    spate_out_set_null(&c, 0);
    assert_int_equal(spate_out_emit(&c), SPATE_OK);
    assert_int_equal(sp_collector_flush(&c), SPATE_OK);
    b = sink.batches[0];
    char line[64];
    spate_row_t r = row_at(b, 0);
    const char *want = "1,\"a,b\",\"\",z";
    assert_int_equal(spate_row_format(&r, line, sizeof line), strlen(want));
    assert_string_equal(line, want);
    r = row_at(b, 1);
    assert_int_equal(spate_row_format(&r, line, sizeof line), 3);
    assert_string_equal(line, ",,,");
    /* truncated: NUL-terminated prefix, full length returned */
    r = row_at(b, 0);
    char small[6];
    assert_int_equal(spate_row_format(&r, small, sizeof small), strlen(want));
    assert_string_equal(small, "1,\"a,");
    assert_int_equal(spate_row_format(&r, NULL, 0), strlen(want));
    sink_release(&sink);
    sp_collector_fini(&c);
    spate_schema_release(s);
    assert_int_equal(sp_batch_live_bytes(), base);
}

/* xorshift64*: deterministic values for the round-trip test. */
static uint64_t rnd_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    rnd_state ^= rnd_state >> 12;
    rnd_state ^= rnd_state << 25;
    rnd_state ^= rnd_state >> 27;
    return rnd_state * 0x2545F4914F6CDD1Dull;
}

static void text_round_trip_random(void **state)
{
    (void)state;
    int64_t base = sp_batch_live_bytes();
    spate_schema_t *s =
        schema("b BOOLEAN, i INT, l BIGINT, d DOUBLE, m DECIMAL(38,10), dt DATE, ts TIMESTAMP(3), "
               "v STRING");
    sink_t sink = { 0 };
    spate_collector_t c;
    sp_collector_init(&c, s, 0, sink_fn, &sink, NULL);
    const int rows = 2000;
    for (int i = 0; i < rows; i++) {
        spate_out_set_boolean(&c, 0, rnd() & 1);
        spate_out_set_int(&c, 1, (int32_t)rnd());
        spate_out_set_bigint(&c, 2, (int64_t)rnd());
        double d;
        do {
            uint64_t bits = rnd();
            memcpy(&d, &bits, 8);
        } while (isnan(d));
        spate_out_set_double(&c, 3, d);
        /* |value| < 10^38 */
        unsigned __int128 limit = 1;
        for (int k = 0; k < 38; k++) limit *= 10;
        unsigned __int128 u = (((unsigned __int128)rnd() << 64) | rnd()) % limit;
        __int128 v = (rnd() & 1) ? -(__int128)u : (__int128)u;
        spate_decimal_t m = { (uint64_t)v, (int64_t)(v >> 64) };
        spate_out_set_decimal(&c, 4, m);
        spate_out_set_date(&c, 5, (int32_t)rnd());
        int64_t ts = (int64_t)rnd();
        if (i == 0) ts = INT64_MIN;
        if (i == 1) ts = INT64_MAX;
        spate_out_set_timestamp(&c, 6, ts);
        char text[40];
        size_t len = rnd() % sizeof text;
        for (size_t k = 0; k < len; k++) text[k] = (char)(' ' + rnd() % 95);
        spate_out_set_string(&c, 7, text, len);
        assert_int_equal(spate_out_emit(&c), SPATE_OK);
    }
    assert_int_equal(sp_collector_flush(&c), SPATE_OK);
    sp_collector_fini(&c);

    sink_t back = { 0 };
    sp_collector_init(&c, s, 0, sink_fn, &back, NULL);
    int row = 0;
    for (int k = 0; k < sink.n; k++) {
        for (uint32_t i = 0; i < sink.batches[k]->count; i++, row++) {
            spate_row_t r = row_at(sink.batches[k], i);
            for (int f = 0; f < 8; f++) {
                char buf[128], err[128];
                size_t n = sp_format_field(&r, f, buf, sizeof buf, ',', false);
                assert_true(n < sizeof buf);
                if (sp_collector_set_text(&c, f, buf, n, true, err, sizeof err) != SPATE_OK)
                    fail_msg("row %d field %d: \"%.*s\" does not parse back: %s", row, f, (int)n, buf, err);
            }
            assert_int_equal(spate_out_emit(&c), SPATE_OK);
        }
    }
    assert_int_equal(sp_collector_flush(&c), SPATE_OK);
    assert_int_equal(back.n, sink.n);
    for (int k = 0; k < sink.n; k++) {
        assert_int_equal(back.batches[k]->count, sink.batches[k]->count);
        for (uint32_t i = 0; i < sink.batches[k]->count; i++)
            tu_assert_rows_equal(sink.batches[k], i, back.batches[k], i);
    }
    sink_release(&back);
    sink_release(&sink);
    sp_collector_fini(&c);
    spate_schema_release(s);
    assert_int_equal(sp_batch_live_bytes(), base);
}

static void decimal_helpers(void **state)
{
    (void)state;
    spate_decimal_t d = spate_decimal_from_i64(-5);
    assert_dec(d, -1, (uint64_t)-5);
    bool ok = false;
    assert_int_equal(spate_decimal_to_i64(d, &ok), -5);
    assert_true(ok);
    d = spate_decimal_from_i64(INT64_MAX);
    assert_dec(d, 0, INT64_MAX);
    assert_int_equal(spate_decimal_to_i64(d, &ok), INT64_MAX);
    assert_true(ok);
    d = spate_decimal_from_i64(INT64_MIN);
    assert_int_equal(spate_decimal_to_i64(d, &ok), INT64_MIN);
    assert_true(ok);
    d = dec(0, (uint64_t)INT64_MAX + 1); /* 2^63 does not fit */
    spate_decimal_to_i64(d, &ok);
    assert_false(ok);
    d = dec(1, 0);
    spate_decimal_to_i64(d, &ok);
    assert_false(ok);
    d = dec(-2, UINT64_MAX);
    spate_decimal_to_i64(d, &ok);
    assert_false(ok);
    assert_int_equal(spate_decimal_to_i64(spate_decimal_from_i64(3), NULL), 3);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(collector_writes_every_type),
    cmocka_unit_test(collector_set_twice_overwrites),
    cmocka_unit_test(collector_not_null_violation),
    cmocka_unit_test(collector_fills_at_capacity),
    cmocka_unit_test(collector_event_time_and_kind),
    cmocka_unit_test(collector_copy_field_and_emit_row),
    cmocka_unit_test(batch_refcounts),
    cmocka_unit_test(batch_pool_reuse_resets),
    cmocka_unit_test(batch_projection_shares_columns),
    cmocka_unit_test(batch_append_row),
    cmocka_unit_test(batch_large_strings_grow_arena),
    cmocka_unit_test(text_parse_every_type),
    cmocka_unit_test(text_parse_errors),
    cmocka_unit_test(text_format_every_type),
    cmocka_unit_test(text_csv_quoting),
    cmocka_unit_test(text_round_trip_random),
    cmocka_unit_test(decimal_helpers),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "types_batch");
}
