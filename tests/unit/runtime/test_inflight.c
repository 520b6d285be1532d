/*
 * test_inflight.c — the pieces of unaligned checkpoints below the task:
 * priority barriers in a channel (they overtake the queued elements and
 * count them, behind earlier priority barriers, also into a full ring) and
 * the encoding of in-flight data (round trip per input, empty, and every
 * truncation or flipped header byte refused).
 */
#include "test_main.h"

#include <spate/spate.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/channel.h"
#include "runtime/inflight.h"

typedef struct sink {
    sp_batch_t *b;
} sink_t;

static int sink_fn(void *target, sp_batch_t *b)
{
    sink_t *s = target;
    assert_null(s->b);
    s->b = b;
    return SPATE_OK;
}

/* A batch of n rows (k = "r<v>", v = first..first+n-1). */
static sp_batch_t *rows(const spate_schema_t *schema, int64_t first, uint32_t n)
{
    sink_t sink = { 0 };
    spate_collector_t c;
    sp_collector_init(&c, schema, SP_BATCH_CAPACITY, sink_fn, &sink, NULL);
    for (uint32_t i = 0; i < n; i++) {
        char k[32];
        int len = snprintf(k, sizeof k, "r%lld", (long long)(first + i));
        spate_out_set_string(&c, 0, k, (size_t)len);
        spate_out_set_bigint(&c, 1, first + (int64_t)i);
        assert_int_equal(spate_out_emit(&c), SPATE_OK);
    }
    assert_int_equal(sp_collector_flush(&c), SPATE_OK);
    sp_collector_fini(&c);
    assert_non_null(sink.b);
    return sink.b;
}

static sp_elem_t batch_elem(sp_batch_t *b)
{
    sp_elem_t e = { SP_ELEM_BATCH, b, 0, 0 };
    return e;
}

static sp_elem_t barrier_elem(int64_t id)
{
    sp_elem_t e = { SP_ELEM_BARRIER, NULL, id, 0 };
    return e;
}

static void priority_barriers_overtake_queued_elements(void **state)
{
    (void)state;
    int64_t live = sp_batch_live_bytes();
    spate_schema_t *s = spate_schema_of("k STRING NOT NULL, v BIGINT NOT NULL");
    sp_notifier_t nt;
    sp_notifier_init(&nt);
    atomic_bool stop = false;
    sp_channel_t ch;
    sp_channel_init(&ch, 4, &nt, &stop);
    /* a full ring: 3 batches and a watermark */
    for (int i = 0; i < 3; i++)
        assert_int_equal(sp_channel_push(&ch, batch_elem(rows(s, i * 10, 2))), SPATE_OK);
    sp_elem_t wm = { SP_ELEM_WATERMARK, NULL, 77, 0 };
    assert_int_equal(sp_channel_push(&ch, wm), SPATE_OK);
    uint64_t seq = sp_notifier_seq(&nt);
    /* priority barriers do not wait for room; the second goes behind the first */
    assert_int_equal(sp_channel_push_priority(&ch, barrier_elem(1)), SPATE_OK);
    assert_int_equal(sp_channel_push_priority(&ch, barrier_elem(2)), SPATE_OK);
    assert_true(sp_notifier_seq(&nt) > seq); /* the consumer is woken */
    sp_elem_t e;
    assert_true(sp_channel_pop(&ch, &e));
    assert_int_equal(e.kind, SP_ELEM_BARRIER);
    assert_int_equal(e.value, 1);
    assert_int_equal(e.behind, 4); /* it overtook everything queued */
    /* a third one after the consumer took the first: behind the second, overtaking the same four */
    assert_int_equal(sp_channel_push_priority(&ch, barrier_elem(3)), SPATE_OK);
    assert_true(sp_channel_pop(&ch, &e));
    assert_int_equal(e.value, 2);
    assert_int_equal(e.behind, 4);
    assert_true(sp_channel_pop(&ch, &e));
    assert_int_equal(e.value, 3);
    assert_int_equal(e.behind, 4);
    /* then the overtaken elements, in their order */
    for (int i = 0; i < 3; i++) {
        assert_true(sp_channel_pop(&ch, &e));
        assert_int_equal(e.kind, SP_ELEM_BATCH);
        spate_row_t r = { e.batch, 0 };
        assert_int_equal(spate_row_get_bigint(&r, 1), i * 10);
        sp_batch_release(e.batch);
    }
    assert_true(sp_channel_pop(&ch, &e));
    assert_int_equal(e.kind, SP_ELEM_WATERMARK);
    assert_false(sp_channel_pop(&ch, &e));
    /* into an empty channel a priority barrier overtakes nothing: it is in-band */
    assert_int_equal(sp_channel_push_priority(&ch, barrier_elem(4)), SPATE_OK);
    assert_int_equal(sp_channel_push(&ch, batch_elem(rows(s, 100, 1))), SPATE_OK);
    assert_true(sp_channel_pop(&ch, &e));
    assert_int_equal(e.value, 4);
    assert_int_equal(e.behind, 0);
    /* the ring wraps around many times with priority pushes in between: order stays */
    int64_t next = 100;
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 3; i++)
            assert_int_equal(sp_channel_push(&ch, batch_elem(rows(s, 1000 + round * 3 + i, 1))), SPATE_OK);
        assert_int_equal(sp_channel_push_priority(&ch, barrier_elem(10 + round)), SPATE_OK);
        assert_true(sp_channel_pop(&ch, &e)); /* a batch left from the last round (or the one of 100) */
        assert_int_equal(e.kind, SP_ELEM_BARRIER);
        assert_int_equal(e.value, 10 + round);
        assert_int_equal(e.behind, 4);
        for (int i = 0; i < 3; i++) {
            assert_true(sp_channel_pop(&ch, &e));
            assert_int_equal(e.kind, SP_ELEM_BATCH);
            spate_row_t r = { e.batch, 0 };
            assert_int_equal(spate_row_get_bigint(&r, 1), next);
            next = next == 100 ? 1000 : next + 1;
            sp_batch_release(e.batch);
        }
    }
    sp_channel_fini(&ch); /* releases the batch still queued */
    sp_notifier_fini(&nt);
    spate_schema_release(s); /* its batch pool goes with it */
    assert_int_equal(sp_batch_live_bytes(), live);
}

typedef struct got {
    int n;
    int channel[8], input[8];
    int64_t first[8];
    uint32_t count[8];
} got_t;

static int collect(void *ctx, int channel, int input, sp_batch_t *b)
{
    got_t *g = ctx;
    assert_true(g->n < 8);
    g->channel[g->n] = channel;
    g->input[g->n] = input;
    spate_row_t r = { b, 0 };
    g->first[g->n] = spate_row_get_bigint(&r, input == 0 ? 1 : 0);
    g->count[g->n] = b->count;
    g->n++;
    sp_batch_release(b);
    return SPATE_OK;
}

static void in_flight_data_round_trips(void **state)
{
    (void)state;
    int64_t live = sp_batch_live_bytes();
    spate_schema_t *s0 = spate_schema_of("k STRING NOT NULL, v BIGINT NOT NULL");
    spate_schema_t *s1 = spate_schema_of("v BIGINT NOT NULL");
    sp_inflight_t *f = sp_inflight_create(7);
    sp_batch_t *a = rows(s0, 5, 3), *c = rows(s0, 40, 1000);
    sp_batch_t *one; /* input 1: one BIGINT, 9 */
    {
        sink_t sink = { 0 };
        spate_collector_t col;
        sp_collector_init(&col, s1, 4, sink_fn, &sink, NULL);
        spate_out_set_bigint(&col, 0, 9);
        assert_int_equal(spate_out_emit(&col), SPATE_OK);
        assert_int_equal(sp_collector_flush(&col), SPATE_OK);
        sp_collector_fini(&col);
        one = sink.b;
    }
    sp_inflight_add(f, 2, 0, a);
    sp_inflight_add(f, 0, 1, one);
    sp_inflight_add(f, 2, 0, c);
    sp_batch_release(a);
    sp_batch_release(one);
    sp_batch_release(c);
    assert_int_equal(f->n, 3);
    assert_int_equal(f->rows, 1004);
    uint8_t *data;
    size_t len;
    sp_error_t err = { 0 };
    assert_int_equal(sp_inflight_encode(f, &data, &len, &err), SPATE_OK);
    assert_false(sp_inflight_empty(data, len));
    const spate_schema_t *schemas[2] = { s0, s1 };
    got_t g = { 0 };
    assert_int_equal(sp_inflight_decode(data, len, schemas, 2, collect, &g, &err), SPATE_OK);
    assert_int_equal(g.n, 3);
    assert_int_equal(g.channel[0], 2);
    assert_int_equal(g.input[0], 0);
    assert_int_equal(g.first[0], 5);
    assert_int_equal(g.count[0], 3);
    assert_int_equal(g.channel[1], 0);
    assert_int_equal(g.input[1], 1);
    assert_int_equal(g.first[1], 9);
    assert_int_equal(g.count[1], 1);
    assert_int_equal(g.first[2], 40);
    assert_int_equal(g.count[2], 1000);
    /* untrusted: every truncation fails, as do a bad magic, version and input */
    for (size_t n = 0; n < len; n++) {
        got_t x = { 0 };
        err = (sp_error_t){ 0 };
        int rc = sp_inflight_decode(data, n, schemas, 2, collect, &x, &err);
        assert_int_equal(rc, SPATE_EPARSE);
        assert_non_null(strstr(err.message, "in-flight data") ? err.message : strstr(err.message, "batch"));
    }
    const size_t flips[] = { 0, 4, 12 + 4 }; /* magic, version, the first entry's input */
    for (size_t i = 0; i < SP_ARRAY_LEN(flips); i++) {
        uint8_t *bad = malloc(len);
        memcpy(bad, data, len);
        bad[flips[i]] ^= 0x40;
        got_t x = { 0 };
        assert_int_equal(sp_inflight_decode(bad, len, schemas, 2, collect, &x, &err), SPATE_EPARSE);
        assert_int_equal(x.n, 0);
        free(bad);
    }
    /* only one input: input 1 is out of range */
    got_t x = { 0 };
    assert_int_equal(sp_inflight_decode(data, len, schemas, 1, collect, &x, &err), SPATE_EPARSE);
    free(data);
    sp_inflight_free(f);
    /* no batch: an empty encoding */
    f = sp_inflight_create(8);
    assert_int_equal(sp_inflight_encode(f, &data, &len, &err), SPATE_OK);
    assert_true(sp_inflight_empty(data, len));
    got_t none = { 0 };
    assert_int_equal(sp_inflight_decode(data, len, schemas, 2, collect, &none, &err), SPATE_OK);
    assert_int_equal(none.n, 0);
    free(data);
    sp_inflight_free(f);
    spate_schema_release(s0);
    spate_schema_release(s1);
    assert_int_equal(sp_batch_live_bytes(), live);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(priority_barriers_overtake_queued_elements),
    cmocka_unit_test(in_flight_data_round_trips),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "runtime");
}
