/* test_heap_map.c — the heap map behind keyed state: put/get/replace, growth, iteration,
 * frozen views across the wrap of the 16-bit epoch, hashes equal in their low 32 bits, memory of
 * entries let go reused, the count of moves. */
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
    assert_int_equal(sp_hmap_vlen(e), 3);
    assert_memory_equal(sp_hmap_value(e), "one", 3);
    assert_int_equal(e->key_group, 7);
    sp_hmap_put(&m, k, 3, h, 7, v2, sizeof v2);
    e = sp_hmap_get(&m, k, 3, h);
    assert_int_equal(sp_hmap_vlen(e), sizeof v2);
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

/* A view sees the entries as they were at its freeze, also once the epoch (16 bits per slot) wraps
 * after 65535 freezes and the map restamps its entries. */
static void views_hold_across_the_epoch_wrap(void **state)
{
    (void)state;
    sp_hmap_t m;
    sp_hmap_init(&m);
    enum { KEYS = 8, FREEZES = 70000 };
    for (int64_t k = 0; k < KEYS; k++)
        sp_hmap_put(&m, (const uint8_t *)&k, 8, sp_hash_bytes(&k, 8), (int)k, (const uint8_t *)&k, 8);
    for (int64_t i = 1; i <= FREEZES; i++) {
        sp_hmap_view_t *v = sp_hmap_freeze(&m);
        assert_non_null(v);
        int64_t k = i % KEYS, was;
        uint64_t h = sp_hash_bytes(&k, 8);
        memcpy(&was, sp_hmap_value(sp_hmap_get(&m, (const uint8_t *)&k, 8, h)), 8);
        int64_t now = was + KEYS; /* k's value goes k, k + KEYS, k + 2 KEYS, ... */
        /* in place (same length: copied first, for the view) and, every 3rd time, into a longer value */
        if (i % 3)
            memcpy((uint8_t *)sp_hmap_value(sp_hmap_writable(&m, sp_hmap_get(&m, (const uint8_t *)&k, 8, h))),
                   &now, 8);
        else
            sp_hmap_put(&m, (const uint8_t *)&k, 8, h, (int)k, (const uint8_t *)(int64_t[2]){ now, 0 }, 16);
        for (size_t s = 0; s < v->nslots; s++) {
            const sp_hmap_entry_t *e = &v->slots[s];
            if (!e->kv) continue;
            int64_t key, val;
            memcpy(&key, sp_hmap_key(e), 8);
            memcpy(&val, sp_hmap_value(e), 8);
            assert_int_equal(e->key_group, key);
            if (key == k && val != was)
                fail_msg("freeze %lld: the view sees %lld, not %lld", (long long)i, (long long)val,
                         (long long)was);
        }
        sp_hmap_view_release(v);
    }
    for (int64_t k = 0; k < KEYS; k++) {
        int64_t val;
        memcpy(&val, sp_hmap_value(sp_hmap_get(&m, (const uint8_t *)&k, 8, sp_hash_bytes(&k, 8))), 8);
        assert_int_equal(val, k + KEYS * ((FREEZES - k) / KEYS + (k > 0 ? 1 : 0)));
    }
    sp_hmap_fini(&m);
}

/* Hashes that differ above their low 32 bits only are the same to the map's slots: both keys are
 * kept, told apart by their bytes. */
static void hashes_alike_in_their_low_32_bits(void **state)
{
    (void)state;
    sp_hmap_t m;
    sp_hmap_init(&m);
    for (uint64_t i = 0; i < 1000; i++) {
        uint64_t h = (i << 32) | 0xabcdu;
        sp_hmap_put(&m, (const uint8_t *)&i, 8, h, 0, (const uint8_t *)&i, 8);
    }
    assert_int_equal(m.count, 1000);
    for (uint64_t i = 0; i < 1000; i += 7) {
        sp_hmap_entry_t *e = sp_hmap_get(&m, (const uint8_t *)&i, 8, (i << 32) | 0xabcdu);
        assert_non_null(e);
        assert_memory_equal(sp_hmap_value(e), &i, 8);
        assert_true(sp_hmap_remove(&m, (const uint8_t *)&i, 8, 0xabcdu)); /* the low bits are enough */
    }
    assert_int_equal(m.count, 1000 - 143);
    sp_hmap_fini(&m);
}

/* Value of key i at round r, of length len: bytes that tell them apart. */
static void fill_value(uint8_t *v, size_t len, uint64_t i, int r)
{
    for (size_t b = 0; b < len; b++) v[b] = (uint8_t)(i * 31 + (uint64_t)r * 7 + b);
}

/* Entries let go are kept for reuse by size: removed and made anew, and values that grow and shrink
 * across the sizes (up to and past the largest kept), with a frozen view alive or not, every entry
 * reads back as last written, and the view keeps what it saw. */
static void memory_of_entries_let_go_is_reused_without_mixing_them(void **state)
{
    (void)state;
    sp_hmap_t m;
    sp_hmap_init(&m);
    enum { N = 3000 };
    static const size_t lens[] = { 8, 40, 3, 300, 24, 0, 250, 17 };
    static size_t len_of[N];
    uint8_t v[400], want[400];
    for (int r = 0; r < 8; r++) {
        sp_hmap_view_t *view = r % 3 == 2 ? sp_hmap_freeze(&m) : NULL;
        for (uint64_t i = 0; i < N; i++) {
            uint64_t h = sp_hash_bytes(&i, 8);
            if ((i + (uint64_t)r) % 5 == 0) { /* removed, made anew next round */
                sp_hmap_remove(&m, (const uint8_t *)&i, 8, h);
                len_of[i] = SIZE_MAX;
                continue;
            }
            size_t len = lens[(i + (uint64_t)r) % 8];
            fill_value(v, len, i, r);
            sp_hmap_put(&m, (const uint8_t *)&i, 8, h, 0, v, len);
            len_of[i] = len;
        }
        for (uint64_t i = 0; i < N; i++) {
            sp_hmap_entry_t *e = sp_hmap_get(&m, (const uint8_t *)&i, 8, sp_hash_bytes(&i, 8));
            if (len_of[i] == SIZE_MAX) {
                assert_null(e);
                continue;
            }
            assert_non_null(e);
            assert_int_equal(sp_hmap_vlen(e), len_of[i]);
            fill_value(want, len_of[i], i, r);
            assert_memory_equal(sp_hmap_value(e), want, len_of[i]);
        }
        if (view) { /* it saw round r - 1's values */
            size_t seen = 0;
            for (size_t s = 0; s < view->nslots; s++) {
                const sp_hmap_entry_t *e = &view->slots[s];
                if (!e->kv) continue;
                uint64_t i;
                memcpy(&i, sp_hmap_key(e), 8);
                size_t len = sp_hmap_vlen(e);
                assert_int_equal(len, lens[(i + (uint64_t)r - 1) % 8]);
                fill_value(want, len, i, r - 1);
                assert_memory_equal(sp_hmap_value(e), want, len);
                seen++;
            }
            assert_int_equal(seen, view->count);
            sp_hmap_view_release(view);
        }
    }
    assert_true(m.nreuse > 0 && m.nreuse <= SP_HMAP_REUSE_MAX);
    sp_hmap_fini(&m);
}

/* moves tells when pointers into values taken earlier may have gone bad: inserts and in-place
 * writes keep them (and moves), everything that frees, moves or shares value bytes changes it. */
static void moves_changes_exactly_when_value_bytes_may_move(void **state)
{
    (void)state;
    sp_hmap_t m;
    sp_hmap_init(&m);
    const uint8_t v8[8] = { 1 }, v16[16] = { 2 };
    char k[16];
    for (int i = 0; i < 1000; i++) { /* inserts, growth included */
        int n = snprintf(k, sizeof k, "k%d", i);
        sp_hmap_put(&m, (const uint8_t *)k, (size_t)n, sp_hash_bytes(k, (size_t)n), 0, v8, 8);
    }
    const uint8_t *k0 = (const uint8_t *)"k0";
    uint64_t h0 = sp_hash_bytes(k0, 2), was = m.moves;
    const uint8_t *p = sp_hmap_value(sp_hmap_get(&m, k0, 2, h0));
    sp_hmap_put(&m, k0, 2, h0, 0, v16, 8); /* same length: in place */
    assert_int_equal(m.moves, was);
    assert_ptr_equal(sp_hmap_value(sp_hmap_get(&m, k0, 2, h0)), p);
    sp_hmap_writable(&m, sp_hmap_get(&m, k0, 2, h0)); /* no view: nothing to copy */
    assert_int_equal(m.moves, was);
    sp_hmap_put(&m, k0, 2, h0, 0, v16, 16); /* another length */
    assert_true(m.moves > was);
    was = m.moves;
    sp_hmap_view_t *v = sp_hmap_freeze(&m); /* shared from now on */
    assert_true(m.moves > was);
    was = m.moves;
    sp_hmap_writable(&m, sp_hmap_get(&m, k0, 2, h0)); /* copy-on-write */
    assert_true(m.moves > was);
    was = m.moves;
    assert_true(sp_hmap_remove(&m, (const uint8_t *)"k1", 2, sp_hash_bytes("k1", 2)));
    assert_true(m.moves > was);
    was = m.moves;
    assert_false(sp_hmap_remove(&m, (const uint8_t *)"k1", 2, sp_hash_bytes("k1", 2)));
    assert_int_equal(m.moves, was);
    sp_hmap_view_release(v);
    sp_hmap_fini(&m);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(memory_of_entries_let_go_is_reused_without_mixing_them),
    cmocka_unit_test(views_hold_across_the_epoch_wrap),
    cmocka_unit_test(hashes_alike_in_their_low_32_bits),
    cmocka_unit_test(remove_keeps_the_rest_reachable),
    cmocka_unit_test(put_get_replace),
    cmocka_unit_test(moves_changes_exactly_when_value_bytes_may_move),
    cmocka_unit_test(grows_and_iterates_every_entry),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "state_heap_map");
}
