/* test_prefault.c — sp_prefault_start: the helper thread faults memory in while the caller writes
 * into it, and nothing the caller wrote is lost; small ranges start no thread. */
#include "test_main.h"

#include <string.h>

#include "common/common.h"

static void prefault_keeps_what_the_caller_writes(void **state)
{
    (void)state;
    const size_t n = (size_t)96 << 20, page = 4096;
    uint8_t *a = sp_xmalloc(n), *b = sp_xmalloc(n / 4);
    void *at[2] = { a, b };
    size_t len[2] = { n, n / 4 };
    sp_prefault_t *f = sp_prefault_start(at, len, 2);
    /* the caller writes pages from the far end (where the helper comes last) and at random */
    for (size_t off = n - page; off < n; off -= page * 3) a[off] = (uint8_t)(off / page);
    for (size_t i = 0; i < 20000; i++) {
        size_t off = (i * 2654435761u) % (n / page) * page;
        a[off] = (uint8_t)(off / page);
    }
    memset(b, 0x5a, n / 4);
    sp_prefault_join(f);
    for (size_t off = n - page; off < n; off -= page * 3) assert_int_equal(a[off], (uint8_t)(off / page));
    for (size_t i = 0; i < 20000; i++) {
        size_t off = (i * 2654435761u) % (n / page) * page;
        assert_int_equal(a[off], (uint8_t)(off / page));
    }
    for (size_t i = 0; i < n / 4; i += 997) assert_int_equal(b[i], 0x5a);
    free(a);
    free(b);
}

static void small_ranges_start_no_thread(void **state)
{
    (void)state;
    uint8_t *a = sp_xmalloc(1 << 20);
    void *at[1] = { a };
    size_t len[1] = { 1 << 20 };
    assert_null(sp_prefault_start(at, len, 1));
    sp_prefault_join(NULL); /* nothing to wait for */
    free(a);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(prefault_keeps_what_the_caller_writes),
    cmocka_unit_test(small_ranges_start_no_thread),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "common_prefault");
}
