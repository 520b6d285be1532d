/*
 * test_keyed.c — keyed process functions: value state per key at any
 * parallelism, event-time timers (deduplicated, in timestamp order,
 * deletable, fired before the watermark goes on, all fired at end of
 * input), processing-time timers.
 */
#include "test_main.h"
#include "test_util.h"

#include <spate/spate.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- running count per key in value state ---- */

static int count_open(void *ctx, spate_keyed_context_t *kc, void **state)
{
    (void)ctx;
    *state = spate_keyed_value_state(kc, "count");
    return SPATE_OK;
}

static int count_process(void *state, const spate_row_t *in, spate_keyed_context_t *kc,
                         spate_collector_t *out)
{
    int64_t n = 0;
    spate_value_state_get(kc, state, &n, sizeof n);
    n++;
    spate_value_state_set(kc, state, &n, sizeof n);
    spate_out_copy_field(out, 0, in, 0);
    spate_out_set_bigint(out, 1, n);
    return spate_out_emit(out);
}

static void value_state_is_per_key_at_any_parallelism(void **state)
{
    (void)state;
    for (int p = 1; p <= 4; p *= 2) {
        tu_capture_t cap;
        tu_capture_init(&cap);
        spate_env_t *env = spate_env_create();
        spate_env_set_parallelism(env, p);
        tu_seq_opts_t o = { .n = 10000, .keys = 37, .parallel = true };
        spate_stream_t *s = spate_env_add_source(env, tu_seq_source(&o), "seq");
        spate_keyed_process_function_t fn = { .open = count_open, .process = count_process };
        s = spate_keyed_process(spate_stream_key_by_field(s, "k"), "count", &fn, NULL);
        spate_stream_sink(s, tu_capture_sink(&cap), "capture");
        assert_int_equal(spate_env_execute(env, "counts"), SPATE_OK);
        assert_int_equal(cap.n, 10000);
        int64_t max[37] = { 0 };
        for (size_t i = 0; i < cap.n; i++) {
            long long k, n;
            assert_int_equal(sscanf(strchr(cap.rows[i], '|') + 1, "%lld,%lld", &k, &n), 2);
            if (n > max[k]) max[k] = n;
        }
        for (int k = 0; k < 37; k++) assert_int_equal(max[k], 10000 / 37 + (k < 10000 % 37));
        spate_env_destroy(env);
        tu_capture_fini(&cap);
    }
}

/* ---- list, map, aggregating and reducing state ---- */

typedef struct all_states {
    spate_list_state_t *list;
    spate_map_state_t *map;
    spate_aggregating_state_t *sum, *max;
} all_states_t;

static void sum_create(void *ctx, void *acc)
{
    (void)ctx;
    *(int64_t *)acc = 0;
}

static void sum_add(void *ctx, void *acc, const void *in, size_t len)
{
    (void)ctx;
    assert_int_equal(len, sizeof(int64_t));
    int64_t v;
    memcpy(&v, in, sizeof v);
    *(int64_t *)acc += v;
}

static void max_reduce(void *ctx, void *acc, const void *value)
{
    (void)ctx;
    int64_t v;
    memcpy(&v, value, sizeof v);
    if (v > *(int64_t *)acc) *(int64_t *)acc = v;
}

static int all_open(void *ctx, spate_keyed_context_t *kc, void **state)
{
    (void)ctx;
    all_states_t *a = calloc(1, sizeof *a);
    a->list = spate_keyed_list_state(kc, "list");
    a->map = spate_keyed_map_state(kc, "map");
    spate_aggregating_descriptor_t d = {
        .name = "sum", .acc_size = sizeof(int64_t), .create = sum_create, .add = sum_add
    };
    a->sum = spate_keyed_aggregating_state(kc, &d);
    a->max = spate_keyed_reducing_state(kc, "max", sizeof(int64_t), max_reduce, NULL);
    *state = a;
    return SPATE_OK;
}

static int sum_list(void *ctx, const void *value, size_t len)
{
    int64_t v;
    assert_int_equal(len, sizeof v);
    memcpy(&v, value, sizeof v);
    *(int64_t *)ctx += v;
    return SPATE_OK;
}

static int count_entries(void *ctx, const void *key, size_t klen, const void *value, size_t vlen)
{
    (void)key;
    (void)value;
    assert_int_equal(klen, sizeof(int64_t));
    assert_int_equal(vlen, sizeof(int64_t));
    ++*(int64_t *)ctx;
    return SPATE_OK;
}

static int all_process(void *state, const spate_row_t *in, spate_keyed_context_t *kc, spate_collector_t *out)
{
    all_states_t *a = state;
    int64_t v = spate_row_get_bigint(in, 1), slot = v % 5;
    spate_list_state_add(kc, a->list, &v, sizeof v);
    spate_map_state_put(kc, a->map, &slot, sizeof slot, &v, sizeof v); /* last value per slot */
    spate_aggregating_state_add(kc, a->sum, &v, sizeof v);
    spate_aggregating_state_add(kc, a->max, &v, sizeof v);
    int64_t list_sum = 0, entries = 0, sum = 0, max = 0, last_in_slot = -1;
    assert_int_equal(spate_list_state_get(kc, a->list, sum_list, &list_sum), SPATE_OK);
    assert_int_equal(spate_map_state_entries(kc, a->map, count_entries, &entries), SPATE_OK);
    assert_int_equal(spate_map_state_get(kc, a->map, &slot, sizeof slot, &last_in_slot, sizeof last_in_slot),
                     8);
    assert_int_equal(last_in_slot, v);
    assert_int_equal(spate_aggregating_state_get(kc, a->sum, &sum), 1);
    assert_int_equal(spate_aggregating_state_get(kc, a->max, &max), 1);
    assert_int_equal(sum, list_sum); /* two ways to the same sum */
    spate_out_copy_field(out, 0, in, 0);
    spate_out_set_bigint(out, 1,
                         (int64_t)spate_list_state_size(kc, a->list) * 1000000 + entries * 100000 + max);
    return spate_out_emit(out);
}

static void list_map_aggregating_and_reducing_state(void **state)
{
    (void)state;
    tu_capture_t cap;
    tu_capture_init(&cap);
    spate_env_t *env = spate_env_create();
    spate_env_set_parallelism(env, 2);
    tu_seq_opts_t o = { .n = 600, .keys = 6, .parallel = true };
    spate_keyed_process_function_t fn = { .open = all_open, .process = all_process, .close = free };
    spate_stream_t *s = spate_keyed_process(
        spate_stream_key_by_field(spate_env_add_source(env, tu_seq_source(&o), "seq"), "k"), "states", &fn,
        NULL);
    spate_stream_sink(s, tu_capture_sink(&cap), "capture");
    assert_int_equal(spate_env_execute(env, "states"), SPATE_OK);
    assert_int_equal(cap.n, 600);
    /* per key k (v = k, k + 6, ..., k + 594): at the end 100 list elements, 5 map slots (v % 5
     * goes through all five), max = 594 + k */
    int64_t last[6] = { 0 };
    for (size_t i = 0; i < cap.n; i++) {
        long long k, packed;
        assert_int_equal(sscanf(strchr(cap.rows[i], '|') + 1, "%lld,%lld", &k, &packed), 2);
        if (packed > last[k]) last[k] = packed;
    }
    for (int k = 0; k < 6; k++) assert_int_equal(last[k], 100 * 1000000 + 5 * 100000 + 594 + k);
    spate_env_destroy(env);
    tu_capture_fini(&cap);
}

/* ---- event-time timers ----
 * Rows "key,ts,action": action "r" registers a timer at ts+100 (twice: deduplicated), "d"
 * deletes the timer at its ts+100 registered earlier, other actions do nothing. On a timer the
 * function emits (key, timer time, watermark when fired). Watermark after each row: ts - 1
 * (the rows are in order; monotonous timestamps, emitted per record). */

static int timer_process(void *state, const spate_row_t *in, spate_keyed_context_t *kc,
                         spate_collector_t *out)
{
    (void)state;
    (void)out;
    spate_str_t action = spate_row_get_string(in, 2);
    int64_t ts = spate_keyed_context_timestamp(kc);
    if (action.len == 1 && action.ptr[0] == 'r') {
        spate_timer_register_event_time(kc, ts + 100);
        spate_timer_register_event_time(kc, ts + 100);
    } else if (action.len == 1 && action.ptr[0] == 'd') {
        spate_timer_delete_event_time(kc, ts - 50 + 100); /* the timer of the "r" row 50 ms earlier */
    }
    return SPATE_OK;
}

static int timer_fired(void *state, int64_t ts, spate_time_domain_t domain, spate_keyed_context_t *kc,
                       spate_collector_t *out)
{
    (void)state;
    size_t len;
    assert_non_null(spate_keyed_context_key(kc, &len)); /* the timer's key is current */
    assert_true(len > 0);
    assert_int_equal(domain, SPATE_EVENT_TIME);
    assert_int_equal(spate_keyed_context_timestamp(kc), ts);
    spate_out_set_string(out, 0, "t", 1);
    spate_out_set_bigint(out, 1, ts);
    spate_out_set_bigint(out, 2, spate_keyed_context_watermark(kc));
    return spate_out_emit(out);
}

static void event_time_timers_fire_once_in_order_and_can_be_deleted(void **state)
{
    (void)state;
    const char *rows[] = { "a,1000,r", "b,1010,r", "a,1020,r", "b,1060,d", "c,1100,x",
                           "a,1150,x", "c,1300,r", "c,1350,d", "a,2000,x" };
    tu_capture_t cap;
    tu_capture_init(&cap);
    spate_env_t *env = spate_env_create();
    spate_schema_t *in = spate_schema_of("k STRING, ts BIGINT, action STRING");
    spate_schema_t *fired = spate_schema_of("what STRING, ts BIGINT, wm BIGINT");
    spate_stream_t *s = spate_env_add_source_with_watermarks(
        env, spate_collection_source(in, rows, 9),
        spate_watermark_with_per_record_emission(
            spate_watermark_with_timestamp_field(spate_watermark_for_monotonous_timestamps(), "ts")),
        "rows");
    spate_keyed_process_function_t fn = { .process = timer_process, .on_timer = timer_fired };
    s = spate_keyed_process(spate_stream_key_by_field(s, "k"), "timers", &fn, fired);
    spate_stream_sink(s, tu_capture_sink(&cap), "capture");
    assert_int_equal(spate_env_execute(env, "timers"), SPATE_OK);
    /* a@1100 (wm 1149 from a,1150), a@1120 (same), b@1110 deleted, c@1400 deleted; in timestamp order */
    assert_int_equal(cap.n, 2);
    assert_string_equal(strchr(cap.rows[0], '|') + 1, "t,1100,1149");
    assert_string_equal(strchr(cap.rows[1], '|') + 1, "t,1120,1149");
    spate_schema_release(in);
    spate_schema_release(fired);
    spate_env_destroy(env);
    tu_capture_fini(&cap);
}

/* Timers still pending at end of input fire with the final watermark. */
static void end_of_input_fires_every_event_time_timer(void **state)
{
    (void)state;
    const char *rows[] = { "a,1000,r", "b,5000,r", "c,9000,r" };
    tu_capture_t cap;
    tu_capture_init(&cap);
    spate_env_t *env = spate_env_create();
    spate_env_set_parallelism(env, 2);
    spate_schema_t *in = spate_schema_of("k STRING, ts BIGINT, action STRING");
    spate_schema_t *fired = spate_schema_of("what STRING, ts BIGINT, wm BIGINT");
    spate_stream_t *s = spate_env_add_source_with_watermarks(
        env, spate_collection_source(in, rows, 3),
        spate_watermark_with_timestamp_field(spate_watermark_for_bounded_out_of_orderness(100000), "ts"),
        "rows");
    spate_keyed_process_function_t fn = { .process = timer_process, .on_timer = timer_fired };
    s = spate_keyed_process(spate_stream_key_by_field(s, "k"), "timers", &fn, fired);
    spate_stream_sink(s, tu_capture_sink(&cap), "capture");
    assert_int_equal(spate_env_execute(env, "final"), SPATE_OK);
    char *got = tu_capture_sorted(&cap, true);
    assert_string_equal(
        got, "t,1100,9223372036854775807\nt,5100,9223372036854775807\nt,9100,9223372036854775807\n");
    free(got);
    spate_schema_release(in);
    spate_schema_release(fired);
    spate_env_destroy(env);
    tu_capture_fini(&cap);
}

/* ---- processing-time timers ---- */

static int proc_process(void *state, const spate_row_t *in, spate_keyed_context_t *kc, spate_collector_t *out)
{
    (void)state;
    (void)in;
    (void)out;
    spate_timer_register_processing_time(kc, spate_keyed_context_processing_time(kc) + 50);
    return SPATE_OK;
}

static int proc_fired(void *state, int64_t ts, spate_time_domain_t domain, spate_keyed_context_t *kc,
                      spate_collector_t *out)
{
    (void)state;
    if (domain != SPATE_PROCESSING_TIME) return spate_out_fail(out, "wrong time domain");
    if (spate_keyed_context_processing_time(kc) < ts) return spate_out_fail(out, "fired early");
    spate_out_set_bigint(out, 0, 1);
    spate_out_set_bigint(out, 1, ts);
    return spate_out_emit(out);
}

static void processing_time_timers_fire_on_the_clock(void **state)
{
    (void)state;
    tu_capture_t cap;
    tu_capture_init(&cap);
    spate_env_t *env = spate_env_create();
    tu_seq_opts_t o = { .n = 5, .keys = 5, .parallel = false };
    /* a never-ending second input keeps the job running while the timers are due */
    spate_stream_t *s = spate_stream_union(spate_env_add_source(env, tu_seq_source(&o), "five"),
                                           spate_env_add_source(env, tu_idle_source(), "idle"));
    spate_keyed_process_function_t fn = { .process = proc_process, .on_timer = proc_fired };
    s = spate_keyed_process(spate_stream_key_by_field(s, "k"), "proc", &fn, NULL);
    spate_stream_sink(s, tu_capture_sink(&cap), "capture");
    spate_job_t *job;
    assert_int_equal(spate_env_start(env, "proc", &job), SPATE_OK);
    size_t n = 0;
    for (int i = 0; i < 300 && n < 5; i++) { /* bounded: 3 s */
        sp_sleep_ms(10);
        pthread_mutex_lock(&cap.mu);
        n = cap.n;
        pthread_mutex_unlock(&cap.mu);
    }
    spate_job_cancel(job);
    assert_int_equal(spate_job_wait(job), SPATE_ECANCELED);
    spate_job_destroy(job);
    assert_int_equal(cap.n, 5); /* one timer per key, each fired once */
    spate_env_destroy(env);
    tu_capture_fini(&cap);
}

static int bad_open(void *ctx, spate_keyed_context_t *kc, void **st)
{
    (void)ctx;
    (void)kc;
    (void)st;
    return SPATE_EUSER;
}

static void a_failing_open_fails_the_job_cleanly(void **state)
{
    (void)state;
    spate_env_t *env = tu_env_create();
    tu_seq_opts_t o = { .n = 10, .keys = 2, .parallel = true };
    spate_keyed_process_function_t fn = { .open = bad_open, .process = count_process };
    spate_stream_t *s = spate_keyed_process(
        spate_stream_key_by_field(spate_env_add_source(env, tu_seq_source(&o), "seq"), "k"), "broken", &fn,
        NULL);
    spate_stream_sink(s, spate_blackhole_sink(), "out");
    assert_int_equal(spate_env_execute(env, "bad"), SPATE_EUSER);
    assert_non_null(strstr(spate_env_error(env), "operator 'broken'"));
    spate_env_destroy(env);
}

/* ---- state TTL on a manual clock ----
 * Rows "key,action,n": set stores n, get emits "key,value" (-1 when absent), tick advances the
 * manual processing-time clock by n ms. One subtask, so the actions run in input order. */

typedef struct ttl_job {
    spate_clock_t *clock;
    spate_state_ttl_t ttl;
} ttl_job_t;

typedef struct ttl_inst {
    spate_clock_t *clock;
    spate_value_state_t *v;
} ttl_inst_t;

static int ttl_open(void *ctx, spate_keyed_context_t *kc, void **state)
{
    ttl_job_t *j = ctx;
    ttl_inst_t *t = calloc(1, sizeof *t);
    t->clock = j->clock;
    spate_keyed_state_ttl(kc, &j->ttl);
    t->v = spate_keyed_value_state(kc, "v");
    *state = t;
    return SPATE_OK;
}

static int ttl_process(void *state, const spate_row_t *in, spate_keyed_context_t *kc, spate_collector_t *out)
{
    ttl_inst_t *t = state;
    spate_str_t action = spate_row_get_string(in, 1);
    int64_t n = spate_row_get_bigint(in, 2);
    if (action.len == 4 && !memcmp(action.ptr, "tick", 4)) {
        spate_manual_clock_advance(t->clock, n);
    } else if (action.len == 3 && !memcmp(action.ptr, "set", 3)) {
        spate_value_state_set(kc, t->v, &n, sizeof n);
    } else {
        int64_t v = -1;
        spate_value_state_get(kc, t->v, &v, sizeof v);
        spate_out_copy_field(out, 0, in, 0);
        spate_out_set_string(out, 1, "get", 3);
        spate_out_set_bigint(out, 2, v);
        return spate_out_emit(out);
    }
    return SPATE_OK;
}

static char *run_ttl(const spate_state_ttl_t *ttl, const char *const *rows, size_t n)
{
    ttl_job_t j = { spate_manual_clock_create(1000000), *ttl };
    tu_capture_t cap;
    tu_capture_init(&cap);
    spate_env_t *env = spate_env_create();
    spate_env_set_clock(env, j.clock);
    spate_schema_t *schema = spate_schema_of("k STRING, action STRING, n BIGINT");
    spate_keyed_process_function_t fn = {
        .ctx = &j, .open = ttl_open, .process = ttl_process, .close = free
    };
    spate_stream_t *s = spate_env_add_source(env, spate_collection_source(schema, rows, n), "rows");
    s = spate_keyed_process(spate_stream_key_by_field(s, "k"), "ttl", &fn, NULL);
    spate_stream_sink(s, tu_capture_sink(&cap), "capture");
    assert_int_equal(spate_env_execute(env, "ttl"), SPATE_OK);
    size_t len = 0;
    char *got = calloc(1, 4096);
    for (size_t i = 0; i < cap.n; i++) len += (size_t)sprintf(got + len, "%s;", strchr(cap.rows[i], '|') + 1);
    spate_schema_release(schema);
    spate_env_destroy(env);
    tu_capture_fini(&cap);
    spate_clock_destroy(j.clock);
    return got;
}

static void state_ttl_expires_values_on_the_manual_clock(void **state)
{
    (void)state;
    const char *a[] = { "a,set,1",   "a,get,0", "x,tick,50", "a,get,0",
                        "x,tick,60", "a,get,0", "a,set,2",   "a,get,0" };
    spate_state_ttl_t write = { 100, SPATE_TTL_ON_CREATE_AND_WRITE, SPATE_TTL_NEVER_RETURN_EXPIRED, 0 };
    char *got = run_ttl(&write, a, 8);
    assert_string_equal(got, "a,get,1;a,get,1;a,get,-1;a,get,2;");
    free(got);

    /* reads renew the entry */
    const char *b[] = { "a,set,1", "x,tick,80", "a,get,0", "x,tick,80", "a,get,0", "x,tick,120", "a,get,0" };
    spate_state_ttl_t read = { 100, SPATE_TTL_ON_READ_AND_WRITE, SPATE_TTL_NEVER_RETURN_EXPIRED, 0 };
    got = run_ttl(&read, b, 7);
    assert_string_equal(got, "a,get,1;a,get,1;a,get,-1;");
    free(got);

    /* an expired value no one cleaned up is still returned */
    const char *c[] = { "a,set,1", "x,tick,200", "a,get,0" };
    spate_state_ttl_t lax = { 100, SPATE_TTL_ON_CREATE_AND_WRITE, SPATE_TTL_RETURN_EXPIRED_IF_NOT_CLEANED_UP,
                              0 };
    got = run_ttl(&lax, c, 3);
    assert_string_equal(got, "a,get,1;");
    free(got);

    /* ... unless the incremental cleanup got to it first (triggered by a's write) */
    const char *d[] = { "b,set,1", "c,set,1", "d,set,1", "x,tick,200",
                        "a,set,5", "b,get,0", "a,get,0", "c,get,0" };
    spate_state_ttl_t incremental = { 100, SPATE_TTL_ON_CREATE_AND_WRITE,
                                      SPATE_TTL_RETURN_EXPIRED_IF_NOT_CLEANED_UP, 1000 };
    got = run_ttl(&incremental, d, 8);
    assert_string_equal(got, "b,get,-1;a,get,5;c,get,-1;");
    free(got);
}

/* ---- KeyedCoProcessFunction: enrich orders (k, v) with names (k, name) arriving in any order ---- */

typedef struct enrich {
    spate_value_state_t *name;
    spate_list_state_t *pending;
} enrich_t;

static int enrich_open(void *ctx, spate_keyed_context_t *kc, void **state)
{
    (void)ctx;
    enrich_t *e = calloc(1, sizeof *e);
    e->name = spate_keyed_value_state(kc, "name");
    e->pending = spate_keyed_list_state(kc, "pending");
    *state = e;
    return SPATE_OK;
}

typedef struct flush_ctx {
    spate_collector_t *out;
    const char *name;
    size_t nlen;
    int64_t k;
} flush_ctx_t;

static int emit_enriched(void *ctx, const void *value, size_t len)
{
    flush_ctx_t *f = ctx;
    int64_t v;
    assert_int_equal(len, sizeof v);
    memcpy(&v, value, sizeof v);
    spate_out_set_bigint(f->out, 0, f->k);
    spate_out_set_bigint(f->out, 1, v);
    spate_out_set_string(f->out, 2, f->name, f->nlen);
    return spate_out_emit(f->out);
}

static int order_in(void *state, const spate_row_t *in, spate_keyed_context_t *kc, spate_collector_t *out)
{
    enrich_t *e = state;
    char name[64];
    int64_t v = spate_row_get_bigint(in, 1), n = spate_value_state_get(kc, e->name, name, sizeof name);
    if (n < 0) { /* the name is not there yet: keep the order */
        spate_list_state_add(kc, e->pending, &v, sizeof v);
        return SPATE_OK;
    }
    flush_ctx_t f = { out, name, (size_t)n, spate_row_get_bigint(in, 0) };
    return emit_enriched(&f, &v, sizeof v);
}

static int name_in(void *state, const spate_row_t *in, spate_keyed_context_t *kc, spate_collector_t *out)
{
    enrich_t *e = state;
    spate_str_t name = spate_row_get_string(in, 1);
    spate_value_state_set(kc, e->name, name.ptr, name.len);
    flush_ctx_t f = { out, name.ptr, name.len, spate_row_get_bigint(in, 0) };
    int rc = spate_list_state_get(kc, e->pending, emit_enriched, &f);
    spate_list_state_clear(kc, e->pending);
    return rc;
}

static void keyed_co_process_shares_state_between_inputs(void **state)
{
    (void)state;
    const char *names[] = { "0,zero", "1,one", "2,two" };
    for (int p = 1; p <= 2; p++) {
        tu_capture_t cap;
        tu_capture_init(&cap);
        spate_env_t *env = spate_env_create();
        spate_env_set_parallelism(env, p);
        tu_seq_opts_t o = { .n = 30, .keys = 3, .parallel = true };
        spate_schema_t *ns = spate_schema_of("k BIGINT, name STRING");
        spate_schema_t *out = spate_schema_of("k BIGINT, v BIGINT, name STRING");
        spate_keyed_t *orders =
            spate_stream_key_by_field(spate_env_add_source(env, tu_seq_source(&o), "orders"), "k");
        spate_keyed_t *people = spate_stream_key_by_field(
            spate_env_add_source(env, spate_collection_source(ns, names, 3), "names"), "k");
        spate_keyed_co_process_function_t fn = {
            .open = enrich_open, .process = order_in, .process2 = name_in, .close = free
        };
        spate_stream_t *s =
            spate_connected_keyed_process(spate_keyed_connect(orders, people), "enrich", &fn, out);
        spate_stream_sink(s, tu_capture_sink(&cap), "capture");
        assert_int_equal(spate_env_execute(env, "enrich"), SPATE_OK);
        assert_int_equal(cap.n, 30);
        static const char *const word[] = { "zero", "one", "two" };
        for (size_t i = 0; i < cap.n; i++) {
            long long k, v;
            char name[16];
            assert_int_equal(sscanf(strchr(cap.rows[i], '|') + 1, "%lld,%lld,%15s", &k, &v, name), 3);
            assert_int_equal(v % 3, k);
            assert_string_equal(name, word[k]);
        }
        spate_schema_release(ns);
        spate_schema_release(out);
        spate_env_destroy(env);
        tu_capture_fini(&cap);
    }
}

/* ---- CoProcessFunction (not keyed) ---- */

static int co_count_open(void *ctx, const spate_task_info_t *info, void **state)
{
    (void)ctx;
    (void)info;
    *state = calloc(2, sizeof(int64_t));
    return SPATE_OK;
}

static int co_first(void *state, const spate_row_t *in, spate_context_t *c, spate_collector_t *out)
{
    (void)in;
    (void)c;
    (void)out;
    ((int64_t *)state)[0]++;
    return SPATE_OK;
}

static int co_second(void *state, const spate_row_t *in, spate_context_t *c, spate_collector_t *out)
{
    (void)in;
    (void)c;
    (void)out;
    ((int64_t *)state)[1]++;
    return SPATE_OK;
}

static int co_end(void *state, spate_context_t *c, spate_collector_t *out)
{
    (void)c;
    spate_out_set_bigint(out, 0, ((int64_t *)state)[0]);
    spate_out_set_bigint(out, 1, ((int64_t *)state)[1]);
    return spate_out_emit(out);
}

static void co_process_sees_each_input_apart(void **state)
{
    (void)state;
    tu_capture_t cap;
    tu_capture_init(&cap);
    spate_env_t *env = spate_env_create();
    tu_seq_opts_t a = { .n = 70, .keys = 1 }, b = { .n = 5, .keys = 1 };
    spate_schema_t *out = spate_schema_of("first BIGINT, second BIGINT");
    spate_connected_t *c = spate_stream_connect(spate_env_add_source(env, tu_seq_source(&a), "a"),
                                                spate_env_add_source(env, tu_seq_source(&b), "b"));
    spate_process_function_t fn = {
        .open = co_count_open, .process = co_first, .process2 = co_second, .end_input = co_end, .close = free
    };
    spate_stream_sink(spate_connected_process(c, "count", &fn, out), tu_capture_sink(&cap), "capture");
    assert_int_equal(spate_env_execute(env, "co"), SPATE_OK);
    assert_int_equal(cap.n, 1);
    assert_string_equal(strchr(cap.rows[0], '|') + 1, "70,5");
    spate_schema_release(out);
    spate_env_destroy(env);
    tu_capture_fini(&cap);
}

/* ---- side outputs ---- */

static int split_odd(void *state, const spate_row_t *in, spate_keyed_context_t *kc, spate_collector_t *out)
{
    (void)state;
    int64_t v = spate_row_get_bigint(in, 1);
    if (v % 2 == 0) return spate_out_emit_row(out, in);
    spate_collector_t *odd = spate_keyed_context_side_output(kc, 2);
    if (!odd) return SPATE_EINVAL;
    spate_out_set_string(odd, 0, "odd", 3);
    spate_out_set_bigint(odd, 1, v);
    return spate_out_emit(odd);
}

static int to_tag_3(void *state, const spate_row_t *in, spate_context_t *c, spate_collector_t *out)
{
    (void)state;
    (void)out;
    spate_collector_t *side = spate_context_side_output(c, 3);
    if (!side) return SPATE_EINVAL;
    return spate_out_emit_row(side, in);
}

static void side_outputs_carry_rows_of_their_own_schema(void **state)
{
    (void)state;
    tu_capture_t main_cap, odd_cap;
    tu_capture_init(&main_cap);
    tu_capture_init(&odd_cap);
    spate_env_t *env = tu_env_create();
    spate_env_set_parallelism(env, 2);
    tu_seq_opts_t o = { .n = 100, .keys = 4, .parallel = true };
    spate_schema_t *odd = spate_schema_of("what STRING, v BIGINT");
    spate_keyed_process_function_t fn = { .process = split_odd };
    spate_stream_t *s = spate_keyed_process(
        spate_stream_key_by_field(spate_env_add_source(env, tu_seq_source(&o), "seq"), "k"), "split", &fn,
        NULL);
    spate_stream_sink(s, tu_capture_sink(&main_cap), "even");
    spate_stream_sink(spate_stream_rebalance(spate_stream_side_output(s, 2, odd)), tu_capture_sink(&odd_cap),
                      "odd");
    assert_int_equal(spate_env_execute(env, "sides"), SPATE_OK);
    assert_int_equal(main_cap.n, 50);
    assert_int_equal(odd_cap.n, 50);
    for (size_t i = 0; i < odd_cap.n; i++) assert_non_null(strstr(odd_cap.rows[i], "|odd,"));
    spate_env_destroy(env);
    tu_capture_fini(&main_cap);
    tu_capture_fini(&odd_cap);

    /* a plain process function, and a tag nobody declared */
    for (int declare = 1; declare >= 0; declare--) {
        tu_capture_init(&main_cap);
        env = tu_env_create();
        spate_process_function_t pf = { .process = to_tag_3 };
        s = spate_stream_process(spate_env_add_source(env, tu_seq_source(&o), "seq"), "side", &pf, NULL);
        spate_stream_sink(s, spate_blackhole_sink(), "main");
        if (declare)
            spate_stream_sink(spate_stream_side_output(s, 3, spate_stream_schema(s)),
                              tu_capture_sink(&main_cap), "side");
        int rc = spate_env_execute(env, "plain");
        if (declare) {
            assert_int_equal(rc, SPATE_OK);
            assert_int_equal(main_cap.n, 100);
        } else {
            assert_int_equal(rc, SPATE_EINVAL);
            assert_non_null(strstr(spate_env_error(env), "side output 3 of 'side' has no schema"));
        }
        spate_env_destroy(env);
        tu_capture_fini(&main_cap);
    }
    spate_schema_release(odd);
}

/* ---- broadcast state ---- */

static int bc_main(void *state, const spate_row_t *in, spate_broadcast_context_t *bc, spate_collector_t *out)
{
    (void)state;
    int64_t limit = -1, k = 0;
    spate_broadcast_state_get(bc, "limits", &k, sizeof k, &limit, sizeof limit);
    spate_out_set_string(out, 0, "row", 3);
    spate_out_copy_field(out, 1, in, 1);
    spate_out_set_bigint(out, 2, limit);
    return spate_out_emit(out);
}

static int bc_rules(void *state, const spate_row_t *in, spate_broadcast_context_t *bc, spate_collector_t *out)
{
    (void)state;
    int64_t k = 0, v = spate_row_get_bigint(in, 1);
    spate_broadcast_state_put(bc, "limits", &k, sizeof k, &v, sizeof v);
    int64_t back = -1;
    assert_int_equal(spate_broadcast_state_get(bc, "limits", &k, sizeof k, &back, sizeof back), 8);
    assert_int_equal(back, v);
    spate_out_set_string(out, 0, "rule", 4);
    spate_out_set_bigint(out, 1, v);
    spate_out_set_bigint(out, 2, 0);
    return spate_out_emit(out);
}

static int bc_main_writes(void *state, const spate_row_t *in, spate_broadcast_context_t *bc,
                          spate_collector_t *out)
{
    (void)state;
    (void)in;
    (void)out;
    int64_t k = 0;
    spate_broadcast_state_put(bc, "limits", &k, sizeof k, &k, sizeof k); /* not allowed here */
    return SPATE_OK;
}

static void broadcast_rows_reach_every_instance(void **state)
{
    (void)state;
    tu_capture_t cap;
    tu_capture_init(&cap);
    spate_env_t *env = tu_env_create();
    spate_env_set_parallelism(env, 3);
    tu_seq_opts_t rows = { .n = 100, .keys = 1, .parallel = true }, rules = { .n = 4, .keys = 1 };
    spate_schema_t *out = spate_schema_of("what STRING, v BIGINT, limit_ BIGINT");
    spate_broadcast_process_function_t fn = { .process = bc_main, .process_broadcast = bc_rules };
    spate_stream_t *s = spate_stream_process_with_broadcast(
        spate_env_add_source(env, tu_seq_source(&rows), "rows"),
        spate_env_add_source(env, tu_seq_source(&rules), "rules"), "bc", &fn, out);
    spate_stream_sink(s, tu_capture_sink(&cap), "capture");
    assert_int_equal(spate_env_execute(env, "broadcast"), SPATE_OK);
    int seen_rules[3] = { 0 }, rows_seen = 0;
    for (size_t i = 0; i < cap.n; i++) {
        int st = atoi(cap.rows[i]);
        if (strstr(cap.rows[i], "|rule,")) seen_rules[st]++;
        if (strstr(cap.rows[i], "|row,")) rows_seen++;
    }
    for (int st = 0; st < 3; st++) assert_int_equal(seen_rules[st], 4); /* every instance got every rule */
    assert_int_equal(rows_seen, 100);
    spate_env_destroy(env);
    tu_capture_fini(&cap);

    env = tu_env_create();
    spate_broadcast_process_function_t bad = { .process = bc_main_writes, .process_broadcast = bc_rules };
    s = spate_stream_process_with_broadcast(spate_env_add_source(env, tu_seq_source(&rows), "rows"),
                                            spate_env_add_source(env, tu_seq_source(&rules), "rules"), "bc",
                                            &bad, out);
    spate_stream_sink(s, spate_blackhole_sink(), "out");
    assert_int_equal(spate_env_execute(env, "bad"), SPATE_EINVAL);
    assert_non_null(strstr(spate_env_error(env), "broadcast state is read-only in process()"));
    spate_env_destroy(env);
    spate_schema_release(out);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(broadcast_rows_reach_every_instance),
    cmocka_unit_test(side_outputs_carry_rows_of_their_own_schema),
    cmocka_unit_test(keyed_co_process_shares_state_between_inputs),
    cmocka_unit_test(co_process_sees_each_input_apart),
    cmocka_unit_test(state_ttl_expires_values_on_the_manual_clock),
    cmocka_unit_test(value_state_is_per_key_at_any_parallelism),
    cmocka_unit_test(list_map_aggregating_and_reducing_state),
    cmocka_unit_test(event_time_timers_fire_once_in_order_and_can_be_deleted),
    cmocka_unit_test(end_of_input_fires_every_event_time_timer),
    cmocka_unit_test(processing_time_timers_fire_on_the_clock),
    cmocka_unit_test(a_failing_open_fails_the_job_cleanly),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "api_keyed");
}
