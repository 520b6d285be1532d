/*
 * test_opsnap.c — the per-instance snapshot container: sections round trip,
 * malformed containers are rejected, and an instance's share of operator
 * state is redistributed over all old containers (also those without it);
 * a container finished later (parts made off the task thread) gives the
 * same sections, whether written in pieces or encoded at once.
 */
#include "test_main.h"

#include <string.h>

#include "state/backend.h"
#include "state/operator_state.h"
#include "state/opsnap.h"

static int count_sections(void *ctx, const sp_opsnap_section_t *sec)
{
    int *n = ctx;
    if (*n == 0) {
        assert_int_equal(sec->kind, SP_OPSNAP_KEYED);
        assert_string_equal(sec->name, "state");
        assert_int_equal(sec->len, 3);
        assert_memory_equal(sec->payload, "abc", 3);
    } else {
        assert_int_equal(sec->kind, SP_OPSNAP_TIMERS);
        assert_string_equal(sec->name, "event");
        assert_int_equal(sec->len, 0);
    }
    ++*n;
    return 0;
}

static void sections_round_trip_and_bad_containers_fail(void **state)
{
    (void)state;
    sp_opsnap_t s;
    sp_opsnap_init(&s);
    sp_opsnap_add(&s, SP_OPSNAP_KEYED, "state", "abc", 3);
    sp_opsnap_add(&s, SP_OPSNAP_TIMERS, "event", NULL, 0);
    uint8_t *data;
    size_t len;
    sp_opsnap_finish(&s, &data, &len);
    int n = 0;
    sp_error_t err = { 0 };
    assert_int_equal(sp_opsnap_parse(data, len, count_sections, &n, &err), SPATE_OK);
    assert_int_equal(n, 2);
    for (size_t cut = 1; cut < len; cut++) { /* every truncation */
        err = (sp_error_t){ 0 };
        n = 0;
        assert_int_equal(sp_opsnap_parse(data, cut, count_sections, &n, &err), SPATE_EPARSE);
        assert_int_equal(n, 0); /* nothing visited before the whole was checked */
    }
    data[0] = 'X';
    err = (sp_error_t){ 0 };
    assert_int_equal(sp_opsnap_parse(data, len, count_sections, &n, &err), SPATE_EPARSE);
    assert_non_null(strstr(err.message, "bad magic"));
    free(data);
    sp_opsnap_init(&s); /* nothing added: no container */
    sp_opsnap_finish(&s, &data, &len);
    assert_null(data);
    assert_int_equal(sp_opsnap_parse(NULL, 0, count_sections, &n, &err), SPATE_OK);
}

/* A container with list state "buf" holding `k` elements "x". */
static void container_with(uint8_t **data, size_t *len, int k)
{
    sp_opstate_t *st = sp_opstate_create();
    sp_error_t err = { 0 };
    sp_opstate_list_t *l = sp_opstate_declare(st, "buf", SP_OPSTATE_SPLIT, &err);
    for (int i = 0; i < k; i++) sp_opstate_list_add(l, "x", 1);
    sp_opstate_bytes_t b;
    sp_opstate_snapshot(st, &b);
    sp_opsnap_t s;
    sp_opsnap_init(&s);
    sp_opsnap_add(&s, SP_OPSNAP_OPERATOR, "user", b.data, b.len);
    sp_opsnap_finish(&s, data, len);
    sp_opstate_bytes_free(&b);
    sp_opstate_destroy(st);
}

static void operator_shares_cover_every_old_element(void **state)
{
    (void)state;
    uint8_t *d[3];
    size_t l[3];
    container_with(&d[0], &l[0], 5);
    d[1] = NULL, l[1] = 0; /* an old instance that stored nothing */
    container_with(&d[2], &l[2], 2);
    size_t total = 0;
    for (int j = 0; j < 2; j++) {
        sp_opsnap_restore_t r = { 3, (const uint8_t *const *)d, l, j, 2, 0, 127 };
        uint8_t *share;
        size_t slen;
        sp_error_t err = { 0 };
        assert_int_equal(sp_opsnap_operator_share(&r, "user", &share, &slen, &err), SPATE_OK);
        sp_opstate_t *st = sp_opstate_create();
        assert_int_equal(sp_opstate_restore(st, share, slen, &err), SPATE_OK);
        const sp_opstate_list_t *buf = sp_opstate_find(st, "buf");
        assert_non_null(buf);
        total += sp_opstate_list_size(buf);
        sp_opstate_destroy(st);
        free(share);
    }
    assert_int_equal(total, 7); /* 5 + 2, split between the two new instances */
    free(d[0]);
    free(d[2]);
}

/* ---- containers finished later ---- */

static int make_keyed(void *obj, sp_snapshot_t **out, sp_error_t *err)
{
    return sp_state_frozen_snapshot(obj, out, err);
}

static void drop_keyed(void *obj)
{
    sp_state_frozen_release(obj);
}

static int fail_make(void *obj, sp_snapshot_t **out, sp_error_t *err)
{
    (void)obj;
    *out = NULL;
    return sp_error_set(err, SPATE_ENOMEM, "no memory for the part");
}

typedef struct pieces {
    uint8_t buf[1 << 16];
    size_t len;
    int calls;
} pieces_t;

static int to_pieces(void *ctx, const void *p, size_t n, sp_error_t *err)
{
    (void)err;
    pieces_t *c = ctx;
    assert_true(c->len + n <= sizeof c->buf);
    memcpy(c->buf + c->len, p, n);
    c->len += n;
    c->calls++;
    return SPATE_OK;
}

typedef struct seen {
    int n;
    sp_state_backend_t *restored;
} seen_t;

static int check_later_sections(void *ctx, const sp_opsnap_section_t *sec)
{
    seen_t *s = ctx;
    sp_error_t err = { 0 };
    switch (s->n++) {
    case 0: /* the sections there at once come first */
        assert_int_equal(sec->kind, SP_OPSNAP_TIMERS);
        assert_string_equal(sec->name, "event");
        assert_int_equal(sec->len, 3);
        assert_memory_equal(sec->payload, "xyz", 3);
        break;
    case 1: /* then the parts: the state at the freeze */
        assert_int_equal(sec->kind, SP_OPSNAP_KEYED);
        assert_string_equal(sec->name, "keyed");
        assert_int_equal(sp_state_restore(s->restored, sec->payload, sec->len, 0, 0, &err), SPATE_OK);
        break;
    default: fail_msg("an extra section");
    }
    return 0;
}

static void later_container_matches_its_parts(void **state)
{
    (void)state;
    sp_state_backend_t *be = sp_heap_backend_create();
    int id = sp_state_id(be, "v");
    for (uint8_t k = 0; k < 100; k++) sp_state_put(be, id, 0, &k, 1, NULL, 0, &k, 1);
    sp_error_t err = { 0 };
    sp_opsnap_later_t *l = sp_opsnap_later_create();
    sp_state_frozen_t *f;
    assert_int_equal(sp_state_freeze(be, 0, 0, &f, &err), SPATE_OK);
    sp_opsnap_later_add_part(l, SP_OPSNAP_KEYED, "keyed", f, make_keyed, drop_keyed);
    sp_opsnap_add(&l->now, SP_OPSNAP_TIMERS, "event", "xyz", 3);
    for (uint8_t k = 0; k < 200; k++) { /* after the barrier: must not show */
        uint8_t v = 0xFF;
        sp_state_put(be, id, 0, &k, 1, NULL, 0, &v, 1);
    }
    size_t len;
    assert_int_equal(sp_opsnap_later_make(l, &len, &err), SPATE_OK);
    pieces_t *p = calloc(1, sizeof *p);
    assert_int_equal(sp_opsnap_later_write(l, to_pieces, p, &err), SPATE_OK);
    assert_int_equal(p->len, len);
    assert_true(p->calls > 3); /* header, the other sections, the part's head, its pieces */
    uint8_t *data;
    size_t dlen;
    assert_int_equal(sp_opsnap_later_encode(l, &data, &dlen, &err), SPATE_OK);
    assert_int_equal(dlen, len);
    assert_memory_equal(data, p->buf, len);
    seen_t s = { 0, sp_heap_backend_create() };
    assert_int_equal(sp_opsnap_parse(data, dlen, check_later_sections, &s, &err), SPATE_OK);
    assert_int_equal(s.n, 2);
    assert_int_equal(sp_state_count(s.restored), 100);
    for (uint8_t k = 0; k < 100; k++) {
        size_t vl;
        const uint8_t *v = sp_state_get(s.restored, sp_state_id(s.restored, "v"), 0, &k, 1, NULL, 0, &vl);
        assert_non_null(v);
        assert_int_equal(*v, k);
    }
    sp_opsnap_later_destroy(l);
    free(data);
    free(p);
    sp_state_backend_destroy(s.restored);
    sp_state_backend_destroy(be);
}

static void later_container_empty_or_failing(void **state)
{
    (void)state;
    sp_error_t err = { 0 };
    sp_opsnap_later_t *l = sp_opsnap_later_create(); /* nothing to store */
    uint8_t *data = (uint8_t *)"x";
    size_t len = 1;
    assert_int_equal(sp_opsnap_later_encode(l, &data, &len, &err), SPATE_OK);
    assert_null(data);
    assert_int_equal(len, 0);
    sp_opsnap_later_destroy(l);
    l = sp_opsnap_later_create();
    int obj = 0;
    sp_opsnap_add(&l->now, SP_OPSNAP_OPERATOR, "source", "p", 1);
    sp_opsnap_later_add_part(l, SP_OPSNAP_KEYED, "keyed", &obj, fail_make, NULL);
    assert_int_equal(sp_opsnap_later_make(l, &len, &err), SPATE_ENOMEM);
    assert_string_equal(err.message, "no memory for the part");
    sp_opsnap_later_destroy(l);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(later_container_matches_its_parts),
    cmocka_unit_test(later_container_empty_or_failing),
    cmocka_unit_test(sections_round_trip_and_bad_containers_fail),
    cmocka_unit_test(operator_shares_cover_every_old_element),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "state_opsnap");
}
