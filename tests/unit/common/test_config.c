/* test_config.c — configuration keys, values, durations; errors and status codes. */
#include "test_main.h"

#include <string.h>

#include "common/config.h"

static void durations_parse_with_units(void **state)
{
    (void)state;
    int64_t ms;
    assert_true(sp_parse_duration_ms("200", &ms));
    assert_int_equal(ms, 200);
    assert_true(sp_parse_duration_ms("200 ms", &ms));
    assert_int_equal(ms, 200);
    assert_true(sp_parse_duration_ms("10s", &ms));
    assert_int_equal(ms, 10000);
    assert_true(sp_parse_duration_ms("1 min", &ms));
    assert_int_equal(ms, 60000);
    assert_true(sp_parse_duration_ms("2 h", &ms));
    assert_int_equal(ms, 7200000);
    assert_false(sp_parse_duration_ms("", &ms));
    assert_false(sp_parse_duration_ms("ten s", &ms));
    assert_false(sp_parse_duration_ms("5 parsecs", &ms));
    assert_false(sp_parse_duration_ms("-5 s", &ms));
}

static void keys_validate_and_default(void **state)
{
    (void)state;
    sp_config_t *c = sp_config_create();
    assert_int_equal(sp_config_get_int(c, "parallelism.default"), 1);
    assert_false(sp_config_is_set(c, "parallelism.default"));
    assert_int_equal(sp_config_set(c, "parallelism.default", "4"), SPATE_OK);
    assert_true(sp_config_is_set(c, "parallelism.default"));
    assert_int_equal(sp_config_get_int(c, "parallelism.default"), 4);
    assert_int_equal(sp_config_set(c, "parallelism.default", "0"), SPATE_ECONFIG);
    assert_non_null(strstr(spate_last_error(), "'parallelism.default'"));
    assert_int_equal(sp_config_set(c, "parallelism.default", "4x"), SPATE_ECONFIG);
    assert_int_equal(sp_config_get_int(c, "parallelism.default"), 4); /* a bad value changes nothing */
    assert_int_equal(sp_config_set(c, "execution.runtime-mode", "automatic"), SPATE_OK);
    assert_string_equal(sp_config_get(c, "execution.runtime-mode"), "AUTOMATIC");
    assert_int_equal(sp_config_get_duration_ms(c, "pipeline.auto-watermark-interval"), 200);
    assert_int_equal(sp_config_set_pair(c, " pipeline.auto-watermark-interval = 1 s"), SPATE_OK);
    assert_int_equal(sp_config_get_duration_ms(c, "pipeline.auto-watermark-interval"), 1000);
    assert_int_equal(sp_config_set_pair(c, "novalue"), SPATE_ECONFIG);
    assert_int_equal(sp_config_set(c, "state.backend.type", "rocksdb"), SPATE_ECONFIG);
    assert_non_null(strstr(spate_last_error(), "unknown configuration key 'state.backend.type'"));
    sp_config_t *copy = sp_config_copy(c);
    assert_int_equal(sp_config_get_int(copy, "parallelism.default"), 4);
    sp_config_destroy(copy);
    sp_config_destroy(c);
}

static void checkpoint_keys_validate(void **state)
{
    (void)state;
    sp_config_t *c = sp_config_create();
    assert_int_equal(sp_config_get_int(c, "state.checkpoints.num-retained"), 5);
    assert_string_equal(sp_config_get(c, "state.checkpoints.dir"), ""); /* no default */
    assert_false(sp_config_is_set(c, "state.checkpoints.dir"));
    assert_int_equal(sp_config_set(c, "state.checkpoints.num-retained", "0"), SPATE_ECONFIG);
    assert_non_null(
        strstr(spate_last_error(), "'state.checkpoints.num-retained': '0' is not an integer in 1.."));
    assert_int_equal(sp_config_set(c, "state.checkpoints.num-retained", "two"), SPATE_ECONFIG);
    assert_int_equal(sp_config_set(c, "state.checkpoints.num-retained", "2"), SPATE_OK);
    assert_int_equal(sp_config_get_int(c, "state.checkpoints.num-retained"), 2);
    assert_int_equal(sp_config_set_pair(c, "state.checkpoints.dir=/var/spate/ckpt"), SPATE_OK);
    assert_string_equal(sp_config_get(c, "state.checkpoints.dir"), "/var/spate/ckpt");
    assert_string_equal(sp_config_get(c, "execution.checkpointing.mode"), "EXACTLY_ONCE");
    assert_int_equal(sp_config_set(c, "execution.checkpointing.mode", "at_least_once"), SPATE_OK);
    assert_string_equal(sp_config_get(c, "execution.checkpointing.mode"), "AT_LEAST_ONCE");
    assert_int_equal(sp_config_set(c, "execution.checkpointing.mode", "exactly-once"), SPATE_ECONFIG);
    assert_non_null(
        strstr(spate_last_error(),
               "'execution.checkpointing.mode': 'exactly-once' is not one of EXACTLY_ONCE|AT_LEAST_ONCE"));
    assert_string_equal(sp_config_get(c, "execution.checkpointing.mode"), "AT_LEAST_ONCE");
    sp_config_destroy(c);
}

static void every_key_is_documented(void **state)
{
    (void)state;
    const char *key, *type, *def, *desc;
    int n = 0;
    for (; sp_config_key_info(n, &key, &type, &def, &desc); n++) {
        assert_true(strlen(desc) > 10);
        sp_config_t *c = sp_config_create();
        if (*def) assert_int_equal(sp_config_set(c, key, def), SPATE_OK); /* defaults are valid values */
        sp_config_destroy(c);
    }
    assert_true(n >= 5);
}

static void status_codes_have_names(void **state)
{
    (void)state;
    for (int code = 0; code >= SPATE_EINTERNAL; code--) assert_null(strstr(spate_strerror(code), "unknown"));
    assert_non_null(strstr(spate_strerror(SPATE_EIO), "I/O"));
    assert_non_null(strstr(spate_strerror(42), "unknown"));
    sp_error_t err = { 0 };
    assert_int_equal(sp_error_set(&err, SPATE_EIO, "first %d", 1), SPATE_EIO);
    sp_error_set(&err, SPATE_EINVAL, "second");
    assert_int_equal(err.code, SPATE_EIO); /* the first error wins */
    assert_string_equal(err.message, "first 1");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(durations_parse_with_units), cmocka_unit_test(keys_validate_and_default),
    cmocka_unit_test(checkpoint_keys_validate),   cmocka_unit_test(every_key_is_documented),
    cmocka_unit_test(status_codes_have_names),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "common_config");
}
