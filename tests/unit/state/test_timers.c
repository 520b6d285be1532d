/*
 * test_timers.c — the timer service: order by timestamp then registration,
 * deduplication, deletion, unique (unindexed) timers, timers registered while
 * popping, and the count.
 */
#include "test_main.h"

#include <stdio.h>
#include <string.h>

#include "state/timers.h"

static void reg(sp_timer_service_t *s, int64_t ts, const char *key)
{
    sp_timers_register(s, ts, (int)strlen(key), (const uint8_t *)key, strlen(key));
}

/* Pops everything up to limit as "ts:key " into buf. */
static const char *pop_all(sp_timer_service_t *s, int64_t limit, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = 0;
    sp_timer_t t;
    while (sp_timers_pop(s, limit, &t) && n < cap) {
        assert_int_equal(t.key_group, (int)t.klen); /* reg() stores the key's length as its group */
        n += (size_t)snprintf(buf + n, cap - n, "%lld:%.*s ", (long long)t.ts, (int)t.klen,
                              (const char *)t.key);
    }
    return buf;
}

static void timers_fire_in_time_then_registration_order(void **state)
{
    (void)state;
    sp_timer_service_t s;
    sp_timers_init(&s);
    char buf[256];
    reg(&s, 30, "c");
    reg(&s, 10, "b");
    reg(&s, 20, "a");
    reg(&s, 10, "a");
    reg(&s, 10, "b"); /* again: one timer */
    assert_int_equal(sp_timers_count(&s), 4);
    assert_int_equal(sp_timers_next(&s), 10);
    assert_string_equal(pop_all(&s, 9, buf, sizeof buf), "");
    assert_string_equal(pop_all(&s, 20, buf, sizeof buf), "10:b 10:a 20:a ");
    assert_int_equal(sp_timers_next(&s), 30);
    reg(&s, 10, "b"); /* fired already: registers anew, and is due at once */
    assert_string_equal(pop_all(&s, 100, buf, sizeof buf), "10:b 30:c ");
    assert_int_equal(sp_timers_count(&s), 0);
    assert_int_equal(sp_timers_next(&s), INT64_MAX);
    sp_timers_fini(&s);
}

static void deleted_timers_never_fire(void **state)
{
    (void)state;
    sp_timer_service_t s;
    sp_timers_init(&s);
    char buf[256];
    reg(&s, 10, "a");
    reg(&s, 10, "b");
    reg(&s, 20, "a");
    sp_timers_delete(&s, 10, (const uint8_t *)"a", 1);
    sp_timers_delete(&s, 10, (const uint8_t *)"zz", 2); /* none: nothing happens */
    assert_int_equal(sp_timers_count(&s), 2);
    reg(&s, 10, "a"); /* registered again after the delete: fires once (in its first place) */
    assert_string_equal(pop_all(&s, 100, buf, sizeof buf), "10:a 10:b 20:a ");
    sp_timers_delete(&s, 30, (const uint8_t *)"q", 1);
    reg(&s, 40, "x");
    sp_timers_delete(&s, 40, (const uint8_t *)"x", 1);
    assert_string_equal(pop_all(&s, 100, buf, sizeof buf), "");
    assert_int_equal(sp_timers_next(&s), INT64_MAX);
    sp_timers_fini(&s);
}

static void unique_timers_and_timers_registered_while_popping(void **state)
{
    (void)state;
    sp_timer_service_t s;
    sp_timers_init(&s);
    char buf[256];
    sp_timers_register_unique(&s, 10, 1, (const uint8_t *)"u", 1);
    reg(&s, 10, "a");
    assert_int_equal(sp_timers_count(&s), 2);
    sp_timer_t t;
    assert_true(sp_timers_pop(&s, 10, &t));
    assert_memory_equal(t.key, "u", 1);
    reg(&s, 10, "late"); /* same time, while draining: fires in this drain, after a */
    reg(&s, 5, "early"); /* earlier than the bucket being drained: next */
    assert_string_equal(pop_all(&s, 10, buf, sizeof buf), "5:early 10:a 10:late ");
    for (int i = 0; i < 1000; i++) { /* many buckets and keys */
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        reg(&s, 1000 - i % 7, k);
    }
    assert_int_equal(sp_timers_count(&s), 1000);
    int64_t last = INT64_MIN;
    int n = 0;
    while (sp_timers_pop(&s, INT64_MAX, &t)) {
        assert_true(t.ts >= last);
        last = t.ts;
        n++;
    }
    assert_int_equal(n, 1000);
    sp_timers_fini(&s);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(timers_fire_in_time_then_registration_order),
    cmocka_unit_test(deleted_timers_never_fire),
    cmocka_unit_test(unique_timers_and_timers_registered_while_popping),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "state_timers");
}
