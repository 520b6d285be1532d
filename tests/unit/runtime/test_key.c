/* test_key.c — the order-preserving key encoding and key groups (Flink's assignment formulas). */
#include "test_main.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/runtime.h"

static int cmp_keys(const spate_key_t *a, const spate_key_t *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->buf, b->buf, n);
    return c ? c : (a->len > b->len) - (a->len < b->len);
}

static void bigints_encode_in_order(void **state)
{
    (void)state;
    const int64_t v[] = { INT64_MIN, -1000000, -1, 0, 1, 255, 256, 1000000, INT64_MAX };
    spate_key_t a, b;
    sp_key_init(&a);
    sp_key_init(&b);
    for (size_t i = 0; i + 1 < sizeof v / sizeof v[0]; i++) {
        sp_key_reset(&a);
        sp_key_reset(&b);
        spate_key_append_bigint(&a, v[i]);
        spate_key_append_bigint(&b, v[i + 1]);
        assert_true(cmp_keys(&a, &b) < 0);
    }
    sp_key_fini(&a);
    sp_key_fini(&b);
}

static void strings_and_composites_encode_in_order(void **state)
{
    (void)state;
    /* as (string, bigint) pairs; NUL bytes inside strings and prefixes must keep the order */
    struct {
        const char *s;
        size_t len;
        int64_t n;
    } v[] = { { "", 0, 5 },  { "\0", 1, 0 },   { "\0\0", 2, 0 }, { "a", 1, -3 },
              { "a", 1, 7 }, { "a\0b", 3, 0 }, { "ab", 2, 0 },   { "b", 1, INT64_MIN } };
    spate_key_t a, b;
    sp_key_init(&a);
    sp_key_init(&b);
    for (size_t i = 0; i + 1 < sizeof v / sizeof v[0]; i++) {
        sp_key_reset(&a);
        sp_key_reset(&b);
        spate_key_append_string(&a, v[i].s, v[i].len);
        spate_key_append_bigint(&a, v[i].n);
        spate_key_append_string(&b, v[i + 1].s, v[i + 1].len);
        spate_key_append_bigint(&b, v[i + 1].n);
        assert_true(cmp_keys(&a, &b) < 0);
    }
    sp_key_fini(&a);
    sp_key_fini(&b);
}

static void key_groups_map_to_contiguous_subtask_ranges(void **state)
{
    (void)state;
    int ps[] = { 1, 2, 3, 4, 7, 128 };
    for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) {
        int p = ps[k], prev = 0, counts[128] = { 0 };
        for (int kg = 0; kg < 128; kg++) {
            int owner = sp_key_group_owner(kg, p, 128);
            assert_true(owner >= prev && owner < p); /* ranges are contiguous and in order */
            prev = owner;
            counts[owner]++;
        }
        for (int i = 0; i < p; i++) assert_true(counts[i] >= 128 / p && counts[i] <= 128 / p + 1);
    }
    /* a key's group is stable and within range */
    int g1 = sp_key_group((const uint8_t *)"user-42", 7, 128),
        g2 = sp_key_group((const uint8_t *)"user-42", 7, 128);
    assert_int_equal(g1, g2);
    assert_true(g1 >= 0 && g1 < 128);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(bigints_encode_in_order),
    cmocka_unit_test(strings_and_composites_encode_in_order),
    cmocka_unit_test(key_groups_map_to_contiguous_subtask_ranges),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "runtime_key");
}
