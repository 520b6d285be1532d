/*
 * test_nexmark_source.c — the Nexmark generator as a DataStream source:
 * schemas of the four streams, exact event counts at several
 * parallelisms, event time = dateTime, disjoint ids across subtasks, the
 * emission rate limit.
 */
#include "test_main.h"
#include "test_util.h"

#include <spate/spate.h>

#include <stdlib.h>
#include <string.h>

static void run_stream(spate_nexmark_stream_t which, uint64_t events, int p, tu_capture_t *cap)
{
    spate_env_t *env = spate_env_create();
    spate_env_set_parallelism(env, p);
    spate_nexmark_options_t o;
    spate_nexmark_options_init(&o);
    o.events_num = events;
    o.base_time_ms = 1700000000000;
    spate_stream_t *s = spate_env_add_source(env, spate_nexmark_source(&o, which), "nexmark");
    spate_stream_sink(s, tu_capture_sink(cap), "capture");
    assert_int_equal(spate_env_execute(env, "nexmark"), SPATE_OK);
    spate_env_destroy(env);
}

static void schemas_follow_the_reference(void **state)
{
    (void)state;
    char buf[2048];
    spate_source_t *s = spate_nexmark_source(NULL, SPATE_NEXMARK_BIDS);
    spate_schema_format(spate_source_schema(s), buf, sizeof buf);
    assert_string_equal(
        buf, "auction BIGINT NOT NULL, bidder BIGINT NOT NULL, price BIGINT NOT NULL, channel STRING NOT "
             "NULL, url STRING NOT NULL, dateTime TIMESTAMP(3) NOT NULL, extra STRING NOT NULL");
    spate_source_destroy(s);
    s = spate_nexmark_source(NULL, SPATE_NEXMARK_PERSONS);
    assert_int_equal(spate_schema_field_index(spate_source_schema(s), "emailAddress"), 2);
    assert_int_equal(spate_schema_field_index(spate_source_schema(s), "creditCard"), 3);
    spate_source_destroy(s);
    s = spate_nexmark_source(NULL, SPATE_NEXMARK_AUCTIONS);
    assert_int_equal(spate_schema_field_count(spate_source_schema(s)), 10);
    assert_int_equal(spate_schema_field_index(spate_source_schema(s), "category"), 8);
    spate_source_destroy(s);
    s = spate_nexmark_source(NULL, SPATE_NEXMARK_ALL);
    const spate_schema_t *all = spate_source_schema(s);
    assert_int_equal(spate_schema_field_index(all, "event_type"), 0);
    assert_int_equal(spate_schema_field_index(all, "bid_price"), 21);
    assert_int_equal(spate_schema_field_index(all, "dateTime"), spate_schema_field_count(all) - 1);
    spate_source_destroy(s);
    spate_nexmark_options_t o;
    spate_nexmark_options_init(&o);
    o.first_event_rate = 0;
    assert_null(spate_nexmark_source(&o, SPATE_NEXMARK_BIDS));
    assert_non_null(strstr(spate_last_error(), "first-event.rate"));
}

/* 1 : 3 : 46 over 50,000 events, whatever the parallelism. */
static void event_counts_are_exact_at_any_parallelism(void **state)
{
    (void)state;
    for (int p = 1; p <= 3; p++) {
        tu_capture_t cap;
        tu_capture_init(&cap);
        run_stream(SPATE_NEXMARK_ALL, 50000, p, &cap);
        assert_int_equal(cap.n, 50000);
        int counts[3] = { 0 };
        for (size_t i = 0; i < cap.n; i++) {
            int type = atoi(strchr(cap.rows[i], '|') + 1);
            assert_true(type >= 0 && type <= 2);
            counts[type]++;
        }
        assert_int_equal(counts[0], 1000);
        assert_int_equal(counts[1], 3000);
        assert_int_equal(counts[2], 46000);
        tu_capture_fini(&cap);

        tu_capture_init(&cap);
        run_stream(SPATE_NEXMARK_BIDS, 50000, p, &cap);
        assert_int_equal(cap.n, 46000);
        tu_capture_fini(&cap);
    }
}

/* Person ids are unique over all subtasks (disjoint id ranges per split). */
static void person_ids_are_disjoint_across_subtasks(void **state)
{
    (void)state;
    tu_capture_t cap;
    tu_capture_init(&cap);
    run_stream(SPATE_NEXMARK_PERSONS, 100000, 4, &cap);
    assert_int_equal(cap.n, 2000);
    long long *ids = malloc(sizeof *ids * cap.n);
    for (size_t i = 0; i < cap.n; i++) ids[i] = atoll(strchr(cap.rows[i], '|') + 1);
    for (size_t i = 0; i < cap.n; i++)
        for (size_t j = i + 1; j < cap.n; j++) assert_true(ids[i] != ids[j]);
    free(ids);
    tu_capture_fini(&cap);
}

typedef struct time_check {
    int bad;
} time_check_t;

static int event_time_is_date_time(void *ctx, const spate_row_t *in)
{
    time_check_t *t = ctx;
    if (spate_row_event_time(in) != spate_row_get_timestamp(in, 5)) t->bad++;
    if (spate_row_get_timestamp(in, 5) < 1700000000000) t->bad++;
    return 1;
}

static void event_time_is_the_date_time(void **state)
{
    (void)state;
    time_check_t t = { 0 };
    spate_env_t *env = spate_env_create();
    spate_nexmark_options_t o;
    spate_nexmark_options_init(&o);
    o.events_num = 20000;
    o.base_time_ms = 1700000000000;
    spate_stream_t *s = spate_env_add_source(env, spate_nexmark_source(&o, SPATE_NEXMARK_BIDS), "bids");
    spate_stream_sink(spate_stream_filter(s, "check", event_time_is_date_time, &t), spate_blackhole_sink(),
                      "out");
    assert_int_equal(spate_env_execute(env, "times"), SPATE_OK);
    assert_int_equal(t.bad, 0);
    spate_env_destroy(env);
}

static void emission_rate_is_limited(void **state)
{
    (void)state;
    tu_capture_t cap;
    tu_capture_init(&cap);
    spate_env_t *env = spate_env_create();
    spate_nexmark_options_t o;
    spate_nexmark_options_init(&o);
    o.events_num = 3000;
    o.max_events_per_second = 10000; /* 3000 events: about 0.3 s */
    spate_stream_t *s = spate_env_add_source(env, spate_nexmark_source(&o, SPATE_NEXMARK_ALL), "nexmark");
    spate_stream_sink(s, tu_capture_sink(&cap), "capture");
    int64_t t0 = sp_clock_mono_ns();
    assert_int_equal(spate_env_execute(env, "rate"), SPATE_OK);
    int64_t ms = (sp_clock_mono_ns() - t0) / 1000000;
    assert_int_equal(cap.n, 3000);
    assert_true(ms >= 250);
    assert_true(ms < 5000);
    spate_env_destroy(env);
    tu_capture_fini(&cap);
}

/* Runs bids -> project(fields) -> capture; push = false puts a rebalance in between (no push-down). */
static char *projected_bids(const char *fields, bool push, bool *pushed)
{
    tu_capture_t cap;
    tu_capture_init(&cap);
    spate_env_t *env = spate_env_create();
    spate_env_set_parallelism(env, 2);
    spate_nexmark_options_t o;
    spate_nexmark_options_init(&o);
    o.events_num = 20000;
    o.base_time_ms = 1700000000000;
    spate_stream_t *s = spate_env_add_source(env, spate_nexmark_source(&o, SPATE_NEXMARK_BIDS), "bids");
    if (!push) s = spate_stream_rebalance(s);
    spate_stream_sink(spate_stream_project(s, fields), tu_capture_sink(&cap), "capture");
    spate_job_t *job;
    assert_int_equal(spate_env_start(env, "projection", &job), SPATE_OK);
    char plan[4096];
    spate_env_describe(env, plan, sizeof plan);
    *pushed = strstr(plan, "(pushed into bids)") != NULL;
    assert_int_equal(spate_job_wait(job), SPATE_OK);
    spate_job_destroy(job);
    spate_env_destroy(env);
    char *rows = tu_capture_sorted(&cap, true);
    assert_int_equal(cap.n, 18400);
    tu_capture_fini(&cap);
    return rows;
}

/* A projection right after the bid source is pushed into it: same rows, fewer columns generated. */
static void projection_is_pushed_into_the_source(void **state)
{
    (void)state;
    const char *lists[] = { "price, extra, auction", "url", "dateTime, bidder, channel" };
    for (int i = 0; i < 3; i++) {
        bool pushed_a, pushed_b;
        char *a = projected_bids(lists[i], true, &pushed_a);
        char *b = projected_bids(lists[i], false, &pushed_b);
        assert_true(pushed_a);
        assert_false(pushed_b);
        assert_string_equal(a, b);
        free(a);
        free(b);
    }
}

/* A source with two consumers keeps all its columns. */
static void projection_is_not_pushed_when_the_source_has_other_consumers(void **state)
{
    (void)state;
    tu_capture_t cap, full;
    tu_capture_init(&cap);
    tu_capture_init(&full);
    spate_env_t *env = spate_env_create();
    spate_nexmark_options_t o;
    spate_nexmark_options_init(&o);
    o.events_num = 5000;
    spate_stream_t *s = spate_env_add_source(env, spate_nexmark_source(&o, SPATE_NEXMARK_BIDS), "bids");
    spate_stream_sink(spate_stream_project(s, "price"), tu_capture_sink(&cap), "prices");
    spate_stream_sink(s, tu_capture_sink(&full), "all");
    assert_int_equal(spate_env_execute(env, "two"), SPATE_OK);
    assert_int_equal(cap.n, 4600);
    assert_int_equal(full.n, 4600);
    /* full rows have 7 fields: 6 commas at least */
    int commas = 0;
    for (const char *c = full.rows[0]; *c; c++) commas += *c == ',';
    assert_true(commas >= 6);
    spate_env_destroy(env);
    tu_capture_fini(&cap);
    tu_capture_fini(&full);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(projection_is_pushed_into_the_source),
    cmocka_unit_test(projection_is_not_pushed_when_the_source_has_other_consumers),
    cmocka_unit_test(schemas_follow_the_reference),
    cmocka_unit_test(event_counts_are_exact_at_any_parallelism),
    cmocka_unit_test(person_ids_are_disjoint_across_subtasks),
    cmocka_unit_test(event_time_is_the_date_time),
    cmocka_unit_test(emission_rate_is_limited),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "connectors_nexmark_source");
}
