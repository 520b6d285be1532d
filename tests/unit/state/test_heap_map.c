/* test_heap_map.c — the heap map behind keyed state: put/get/replace, growth, iteration. */
#include "test_main.h"

#include <stdio.h>
#include <string.h>

#include "state/heap_map.h"

static void put_get_replace(void **state)
{
    (void)state;
    sp_hmap_t m;
    sp_hmap_init(&m);
    const uint8_t k[] = "key", v1[] = "one", v2[] = "a longer second value";
    uint64_t h = sp_hash_bytes(k, 3);
    assert_null(sp_hmap_get(&m, k, 3, h));
    sp_hmap_put(&m, k, 3, h, 7, v1, 3);
    sp_hmap_entry_t *e = sp_hmap_get(&m, k, 3, h);
    assert_non_null(e);
    assert_int_equal(e->vlen, 3);
    assert_memory_equal(sp_hmap_value(e), "one", 3);
    assert_int_equal(e->key_group, 7);
    sp_hmap_put(&m, k, 3, h, 7, v2, sizeof v2);
    e = sp_hmap_get(&m, k, 3, h);
    assert_int_equal(e->vlen, sizeof v2);
    assert_memory_equal(sp_hmap_value(e), v2, sizeof v2);
    assert_int_equal(m.count, 1);
    /* same hash, different key: both kept */
    sp_hmap_put(&m, (const uint8_t *)"kez", 3, h, 1, v1, 3);
    assert_int_equal(m.count, 2);
    assert_memory_equal(sp_hmap_value(sp_hmap_get(&m, k, 3, h)), v2, sizeof v2);
    sp_hmap_fini(&m);
}

static void grows_and_iterates_every_entry(void **state)
{
    (void)state;
    sp_hmap_t m;
    sp_hmap_init(&m);
    enum { N = 100000 };
    for (int i = 0; i < N; i++) {
        char k[16];
        int n = snprintf(k, sizeof k, "k%d", i);
        int64_t v = (int64_t)i * 3;
        sp_hmap_put(&m, (const uint8_t *)k, (size_t)n, sp_hash_bytes(k, (size_t)n), i % 128,
                    (const uint8_t *)&v, sizeof v);
    }
    assert_int_equal(m.count, N);
    int64_t sum = 0;
    size_t seen = 0;
    sp_hmap_entry_t *e;
    for (size_t pos = 0; (e = sp_hmap_next(&m, &pos));) {
        int64_t v;
        memcpy(&v, sp_hmap_value(e), sizeof v);
        sum += v;
        seen++;
    }
    assert_int_equal(seen, N);
    assert_int_equal(sum, 3LL * N * (N - 1) / 2);
    for (int i = 0; i < N; i += 997) {
        char k[16];
        int n = snprintf(k, sizeof k, "k%d", i);
        e = sp_hmap_get(&m, (const uint8_t *)k, (size_t)n, sp_hash_bytes(k, (size_t)n));
        assert_non_null(e);
        assert_int_equal(e->key_group, i % 128);
    }
    sp_hmap_fini(&m);
}

/* Removal keeps every other entry reachable (probe runs are repaired, no tombstones). */
static void remove_keeps_the_rest_reachable(void **state)
{
    (void)state;
    sp_hmap_t m;
    sp_hmap_init(&m);
    enum { N = 5000 };
    for (int i = 0; i < N; i++) {
        int64_t v = i;
        /* few distinct hashes: long probe runs */
        sp_hmap_put(&m, (const uint8_t *)&v, sizeof v, (uint64_t)(i % 97), 0, (const uint8_t *)&v, sizeof v);
    }
    for (int i = 0; i < N; i += 3) {
        int64_t v = i;
        assert_true(sp_hmap_remove(&m, (const uint8_t *)&v, sizeof v, (uint64_t)(i % 97)));
        assert_false(sp_hmap_remove(&m, (const uint8_t *)&v, sizeof v, (uint64_t)(i % 97)));
    }
    for (int i = 0; i < N; i++) {
        int64_t v = i;
        sp_hmap_entry_t *e = sp_hmap_get(&m, (const uint8_t *)&v, sizeof v, (uint64_t)(i % 97));
        if (i % 3 == 0)
            assert_null(e);
        else {
            assert_non_null(e);
            assert_memory_equal(sp_hmap_value(e), &v, sizeof v);
        }
    }
    assert_int_equal(m.count, N - (N + 2) / 3);
    sp_hmap_fini(&m);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(remove_keeps_the_rest_reachable),
    cmocka_unit_test(put_get_replace),
    cmocka_unit_test(grows_and_iterates_every_entry),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "state_heap_map");
}
