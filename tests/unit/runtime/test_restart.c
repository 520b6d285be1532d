/*
 * test_restart.c — restart strategies from Flink's keys: defaults with and
 * without checkpointing, fixed-delay attempts, failure-rate within and
 * beyond its interval, exponential-delay growth, cap, jitter range, reset
 * after a quiet period and attempts before reset; bad values name the key.
 */
#include "test_main.h"

#include <string.h>

#include "common/config.h"
#include "runtime/restart.h"

static sp_config_t *config_of(const char *const *pairs)
{
    sp_config_t *c = sp_config_create();
    for (; pairs && *pairs; pairs++) assert_int_equal(sp_config_set_pair(c, *pairs), SPATE_OK);
    return c;
}

static void defaults_follow_checkpointing(void **state)
{
    (void)state;
    sp_config_t *c = config_of(NULL);
    sp_restart_t r;
    sp_restart_init(&r, c, false);
    assert_string_equal(sp_restart_name(&r), "none");
    int64_t d;
    assert_false(sp_restart_on_failure(&r, 0, &d));
    char why[128];
    sp_restart_why(&r, why, sizeof why);
    assert_string_equal(why, "restart strategy none: no restarts");
    sp_restart_fini(&r);
    sp_restart_init(&r, c, true);
    assert_string_equal(sp_restart_name(&r), "exponential-delay");
    assert_true(r.initial_ms == 1000 && r.max_ms == 60000 && r.reset_ms == 3600000);
    assert_true(r.multiplier == 1.5 && r.jitter == 0.1);
    sp_restart_fini(&r);
    sp_config_destroy(c);
}

static void fixed_delay_gives_up_after_its_attempts(void **state)
{
    (void)state;
    const char *p[] = { "restart-strategy.type=fixed-delay", "restart-strategy.fixed-delay.attempts=2",
                        "restart-strategy.fixed-delay.delay=250 ms", NULL };
    sp_config_t *c = config_of(p);
    sp_restart_t r;
    sp_restart_init(&r, c, false);
    int64_t d = -1;
    assert_true(sp_restart_on_failure(&r, 0, &d));
    assert_int_equal(d, 250);
    assert_true(sp_restart_on_failure(&r, 100000, &d));
    assert_false(sp_restart_on_failure(&r, 200000, &d));
    char why[128];
    sp_restart_why(&r, why, sizeof why);
    assert_string_equal(why, "restart strategy fixed-delay: all 2 restart attempts used");
    sp_restart_fini(&r);
    sp_config_destroy(c);
}

static void failure_rate_counts_failures_within_the_interval(void **state)
{
    (void)state;
    const char *p[] = { "restart-strategy.type=FailureRate",
                        "restart-strategy.failure-rate.max-failures-per-interval=2",
                        "restart-strategy.failure-rate.failure-rate-interval=10 s",
                        "restart-strategy.failure-rate.delay=5 ms", NULL };
    sp_config_t *c = config_of(p);
    sp_restart_t r;
    sp_restart_init(&r, c, false);
    int64_t d;
    assert_true(sp_restart_on_failure(&r, 0, &d));
    assert_int_equal(d, 5);
    assert_true(sp_restart_on_failure(&r, 9000, &d));
    assert_false(sp_restart_on_failure(&r, 9999, &d)); /* a third within 10 s */
    sp_restart_fini(&r);
    sp_restart_init(&r, c, false);
    assert_true(sp_restart_on_failure(&r, 0, &d));
    assert_true(sp_restart_on_failure(&r, 9000, &d));
    assert_true(sp_restart_on_failure(&r, 10000, &d)); /* the first has left the interval */
    assert_false(sp_restart_on_failure(&r, 10500, &d));
    sp_restart_fini(&r);
    sp_config_destroy(c);
}

static void exponential_delay_grows_caps_resets_and_gives_up(void **state)
{
    (void)state;
    const char *p[] = { "restart-strategy.type=exponential-delay",
                        "restart-strategy.exponential-delay.initial-backoff=1 s",
                        "restart-strategy.exponential-delay.max-backoff=10 s",
                        "restart-strategy.exponential-delay.backoff-multiplier=2",
                        "restart-strategy.exponential-delay.jitter-factor=0",
                        "restart-strategy.exponential-delay.reset-backoff-threshold=6 min",
                        "restart-strategy.exponential-delay.attempts-before-reset-backoff=6",
                        NULL };
    sp_config_t *c = config_of(p);
    sp_restart_t r;
    sp_restart_init(&r, c, false);
    int64_t want[] = { 1000, 2000, 4000, 8000, 10000, 10000 }, d, t = 0;
    for (int i = 0; i < 6; i++, t += 20000) {
        assert_true(sp_restart_on_failure(&r, t, &d));
        assert_int_equal(d, want[i]);
    }
    assert_false(sp_restart_on_failure(&r, t, &d)); /* a seventh since the reset */
    t += 6 * 60000;                                 /* six quiet minutes: delay and attempts start over */
    assert_true(sp_restart_on_failure(&r, t, &d));
    assert_int_equal(d, 1000);
    sp_restart_fini(&r);
    sp_config_destroy(c);
    const char *j[] = { "restart-strategy.exponential-delay.initial-backoff=4 s", NULL };
    c = config_of(j);
    for (int i = 0; i < 200; i++) { /* jitter 0.1 by default: within 10 % of the backoff */
        sp_restart_init(&r, c, true);
        r.rng += (uint64_t)i * 7919;
        assert_true(sp_restart_on_failure(&r, 0, &d));
        assert_true(d >= 3600 && d <= 4400);
        sp_restart_fini(&r);
    }
    sp_config_destroy(c);
}

static void bad_values_name_the_key(void **state)
{
    (void)state;
    sp_config_t *c = sp_config_create();
    assert_int_equal(sp_config_set(c, "restart-strategy.type", "sometimes"), SPATE_ECONFIG);
    assert_non_null(strstr(spate_last_error(), "restart-strategy.type"));
    assert_int_equal(sp_config_set(c, "restart-strategy.exponential-delay.backoff-multiplier", "0.5"),
                     SPATE_ECONFIG);
    assert_non_null(strstr(spate_last_error(), "backoff-multiplier"));
    assert_int_equal(sp_config_set(c, "restart-strategy.exponential-delay.jitter-factor", "2"),
                     SPATE_ECONFIG);
    assert_int_equal(sp_config_set(c, "restart-strategy.exponential-delay.jitter-factor", "0.25"), SPATE_OK);
    sp_config_destroy(c);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(defaults_follow_checkpointing),
    cmocka_unit_test(fixed_delay_gives_up_after_its_attempts),
    cmocka_unit_test(failure_rate_counts_failures_within_the_interval),
    cmocka_unit_test(exponential_delay_grows_caps_resets_and_gives_up),
    cmocka_unit_test(bad_values_name_the_key),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "runtime_restart");
}
