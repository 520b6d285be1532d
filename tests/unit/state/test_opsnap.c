/*
 * test_opsnap.c — the per-instance snapshot container: sections round trip,
 * malformed containers are rejected, and an instance's share of operator
 * state is redistributed over all old containers (also those without it).
 */
#include "test_main.h"

#include <string.h>

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

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(sections_round_trip_and_bad_containers_fail),
    cmocka_unit_test(operator_shares_cover_every_old_element),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "state_opsnap");
}
