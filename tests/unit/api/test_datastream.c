/*
 * test_datastream.c — the DataStream API's transformations and their
 * contracts: process functions (open/close per subtask, end_input), map's
 * one-row rule, projection, reduce with a user function and a custom key,
 * co_flat_map, error stickiness.
 */
#include "test_main.h"
#include "test_util.h"

#include <spate/spate.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static spate_stream_t *seq(spate_env_t *env, int64_t n, int64_t keys)
{
    tu_seq_opts_t o = { .n = n, .keys = keys, .parallel = true };
    return spate_env_add_source(env, tu_seq_source(&o), "seq");
}

typedef struct counters {
    atomic_int opened, closed, ended;
} counters_t;

typedef struct inst {
    counters_t *c;
    int64_t sum;
    int subtask;
} inst_t;

static int p_open(void *ctx, const spate_task_info_t *info, void **state)
{
    counters_t *c = ctx;
    atomic_fetch_add(&c->opened, 1);
    inst_t *i = calloc(1, sizeof *i);
    i->c = c;
    i->subtask = info->subtask_index;
    *state = i;
    return SPATE_OK;
}

static int p_process(void *state, const spate_row_t *in, spate_context_t *c, spate_collector_t *out)
{
    (void)c;
    (void)out;
    ((inst_t *)state)->sum += spate_row_get_bigint(in, 1);
    return SPATE_OK;
}

static int p_end(void *state, spate_context_t *c, spate_collector_t *out)
{
    inst_t *i = state;
    atomic_fetch_add(&i->c->ended, 1);
    spate_out_set_bigint(out, 0, spate_context_task(c)->subtask_index);
    spate_out_set_bigint(out, 1, i->sum);
    return spate_out_emit(out);
}

static void p_close(void *state)
{
    inst_t *i = state;
    atomic_fetch_add(&i->c->closed, 1);
    free(i);
}

static void process_function_lifecycle(void **state)
{
    (void)state;
    counters_t c = { 0 };
    tu_capture_t cap;
    tu_capture_init(&cap);
    spate_env_t *env = spate_env_create();
    spate_env_set_parallelism(env, 3);
    spate_process_function_t pf = {
        .ctx = &c, .open = p_open, .process = p_process, .end_input = p_end, .close = p_close
    };
    spate_stream_t *s = spate_stream_process(seq(env, 3000, 1), "sum-per-subtask", &pf, NULL);
    spate_stream_sink(s, tu_capture_sink(&cap), "capture");
    assert_int_equal(spate_env_execute(env, "process"), SPATE_OK);
    assert_int_equal(atomic_load(&c.opened), 3);
    assert_int_equal(atomic_load(&c.ended), 3);
    assert_int_equal(atomic_load(&c.closed), 3);
    assert_int_equal(cap.n, 3);
    int64_t total = 0;
    for (size_t i = 0; i < cap.n; i++) total += atoll(strchr(cap.rows[i], ',') + 1);
    assert_int_equal(total, 3000 * 2999 / 2);
    spate_env_destroy(env);
    tu_capture_fini(&cap);
}

static int emits_nothing(void *ctx, const spate_row_t *in, spate_collector_t *out)
{
    (void)ctx;
    (void)in;
    (void)out;
    return SPATE_OK;
}

static void map_must_emit_exactly_one_row(void **state)
{
    (void)state;
    spate_env_t *env = tu_env_create();
    spate_stream_sink(spate_stream_map(seq(env, 10, 1), "lazy", emits_nothing, NULL, NULL),
                      spate_blackhole_sink(), "out");
    assert_int_equal(spate_env_execute(env, "map"), SPATE_EUSER);
    assert_non_null(strstr(spate_env_error(env), "operator 'lazy'"));
    assert_non_null(strstr(spate_env_error(env), "exactly one row"));
    spate_env_destroy(env);
}

static int leave_not_null_unset(void *ctx, const spate_row_t *in, spate_collector_t *out)
{
    (void)ctx;
    (void)in;
    spate_out_set_bigint(out, 1, 1);
    return spate_out_emit(out);
}

static void not_null_violation_fails_with_field_name(void **state)
{
    (void)state;
    spate_env_t *env = tu_env_create();
    spate_stream_sink(spate_stream_map(seq(env, 10, 1), "half", leave_not_null_unset, NULL, NULL),
                      spate_blackhole_sink(), "out");
    assert_int_equal(spate_env_execute(env, "nn"), SPATE_EINVAL);
    assert_non_null(strstr(spate_env_error(env), "field 'k' is NOT NULL"));
    spate_env_destroy(env);
}

static void projection_keeps_named_fields(void **state)
{
    (void)state;
    tu_capture_t cap;
    tu_capture_init(&cap);
    spate_env_t *env = spate_env_create();
    spate_stream_t *s = spate_stream_project(seq(env, 5, 2), "v, k");
    spate_stream_sink(s, tu_capture_sink(&cap), "capture");
    assert_null(spate_stream_project(seq(env, 5, 2), "v, nope"));
    assert_non_null(strstr(spate_env_error(env), "'nope'"));
    spate_env_destroy(env);

    env = spate_env_create();
    s = spate_stream_project(seq(env, 5, 2), "v, k");
    spate_stream_sink(s, tu_capture_sink(&cap), "capture");
    assert_int_equal(spate_env_execute(env, "project"), SPATE_OK);
    char *rows = tu_capture_sorted(&cap, true);
    assert_string_equal(rows, "0,0\n1,1\n2,0\n3,1\n4,0\n");
    free(rows);
    spate_env_destroy(env);
    tu_capture_fini(&cap);
}

/* key = v % 3 through a user key selector; reduce keeps the max v and counts in k */
static int mod3(void *ctx, const spate_row_t *in, spate_key_t *key)
{
    (void)ctx;
    spate_key_append_bigint(key, spate_row_get_bigint(in, 1) % 3);
    return SPATE_OK;
}

static int max_and_count(void *ctx, const spate_row_t *acc, const spate_row_t *in, spate_collector_t *out)
{
    (void)ctx;
    int64_t a = spate_row_get_bigint(acc, 1), b = spate_row_get_bigint(in, 1);
    spate_out_set_bigint(out, 0, spate_row_get_bigint(acc, 0) + 1);
    spate_out_set_bigint(out, 1, a > b ? a : b);
    return spate_out_emit(out);
}

static int zero_k(void *ctx, const spate_row_t *in, spate_collector_t *out)
{
    (void)ctx;
    spate_out_set_bigint(out, 0, 1);
    spate_out_copy_field(out, 1, in, 1);
    return spate_out_emit(out);
}

static void reduce_with_user_key_and_function(void **state)
{
    (void)state;
    for (int p = 1; p <= 4; p *= 2) {
        tu_capture_t cap;
        tu_capture_init(&cap);
        spate_env_t *env = spate_env_create();
        spate_env_set_parallelism(env, p);
        spate_env_set_config(env, "execution.runtime-mode", "BATCH");
        spate_stream_t *s = spate_stream_map(seq(env, 3000, 1), "one", zero_k, NULL, NULL);
        s = spate_keyed_reduce(spate_stream_key_by(s, mod3, NULL), "max", max_and_count, NULL);
        spate_stream_sink(s, tu_capture_sink(&cap), "capture");
        assert_int_equal(spate_env_execute(env, "reduce"), SPATE_OK);
        char *rows = tu_capture_sorted(&cap, true);
        assert_string_equal(rows, "1000,2997\n1000,2998\n1000,2999\n");
        free(rows);
        spate_env_destroy(env);
        tu_capture_fini(&cap);
    }
}

static int left_twice(void *ctx, const spate_row_t *in, spate_collector_t *out)
{
    (void)ctx;
    for (int i = 0; i < 2; i++) {
        spate_out_set_bigint(out, 0, -1);
        spate_out_copy_field(out, 1, in, 1);
        int rc = spate_out_emit(out);
        if (rc) return rc;
    }
    return SPATE_OK;
}

static int right_none(void *ctx, const spate_row_t *in, spate_collector_t *out)
{
    (void)ctx;
    (void)in;
    (void)out;
    return SPATE_OK;
}

static void co_flat_map_routes_each_input(void **state)
{
    (void)state;
    tu_capture_t cap;
    tu_capture_init(&cap);
    spate_env_t *env = spate_env_create();
    spate_env_set_parallelism(env, 2);
    spate_connected_t *c = spate_stream_connect(seq(env, 100, 1), seq(env, 100, 1));
    spate_schema_t *schema = spate_schema_of("k BIGINT, v BIGINT");
    spate_stream_sink(spate_connected_flat_map(c, "co", left_twice, right_none, NULL, schema),
                      tu_capture_sink(&cap), "capture");
    spate_schema_release(schema);
    assert_int_equal(spate_env_execute(env, "co"), SPATE_OK);
    assert_int_equal(cap.n, 200);
    spate_env_destroy(env);
    tu_capture_fini(&cap);
}

static void errors_are_sticky_and_null_safe(void **state)
{
    (void)state;
    spate_env_t *env = spate_env_create();
    assert_null(spate_env_add_source(env, NULL, "none"));
    /* every call on a NULL stream returns NULL without crashing */
    assert_null(spate_stream_map(NULL, "m", zero_k, NULL, NULL));
    assert_null(spate_stream_filter(NULL, "f", NULL, NULL));
    assert_null(spate_stream_key_by_field(NULL, "k"));
    assert_null(spate_keyed_sum(NULL, "v"));
    assert_null(spate_stream_union(NULL, NULL));
    assert_null(spate_stream_rebalance(NULL));
    assert_null(spate_stream_set_parallelism(NULL, 2));
    assert_null(spate_stream_sink(NULL, spate_blackhole_sink(), "out"));
    assert_int_equal(spate_env_execute(env, "broken"), SPATE_EINVAL);
    assert_non_null(strstr(spate_env_error(env), "source 'none'"));
    spate_env_destroy(env);

    env = spate_env_create();
    assert_null(spate_keyed_sum(spate_stream_key_by_field(seq(env, 3, 1), "k"), "nope"));
    assert_non_null(strstr(spate_env_error(env), "no field named 'nope'"));
    spate_env_destroy(env);

    env = spate_env_create();
    spate_stream_t *a = seq(env, 3, 1);
    spate_stream_set_uid(a, "x");
    assert_null(spate_stream_set_uid(seq(env, 3, 1), "x"));
    assert_non_null(strstr(spate_env_error(env), "uid 'x' is used by two operators"));
    spate_env_destroy(env);
}

/* A malformed CSV record follows the job's policy: skip and count, or fail with path:line. */
static void malformed_records_follow_the_policy(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    char path[512];
    snprintf(path, sizeof path, "%s/in.csv", dir);
    FILE *f = fopen(path, "w");
    fputs("a,1\nb,x\nc,3\nd\ne,5\n", f);
    fclose(f);
    spate_schema_t *schema = spate_schema_of("name STRING, n BIGINT");
    for (int policy = 0; policy < 2; policy++) {
        tu_capture_t cap;
        tu_capture_init(&cap);
        spate_env_t *env = tu_env_create();
        spate_csv_options_t o;
        spate_csv_options_init(&o);
        o.on_error = policy ? SPATE_ON_ERROR_SKIP : SPATE_ON_ERROR_FAIL;
        spate_stream_t *s = spate_env_add_source(env, spate_file_csv_source(path, schema, &o), "csv");
        spate_stream_sink(s, tu_capture_sink(&cap), "capture");
        spate_job_t *job;
        assert_int_equal(spate_env_start(env, "csv", &job), SPATE_OK);
        int rc = spate_job_wait(job);
        if (policy) {
            assert_int_equal(rc, SPATE_OK);
            assert_int_equal(spate_job_records_skipped(job), 2);
            char *rows = tu_capture_sorted(&cap, true);
            assert_string_equal(rows, "a,1\nc,3\ne,5\n");
            free(rows);
        } else {
            assert_int_equal(rc, SPATE_EPARSE);
            char where[600];
            snprintf(where, sizeof where, "%s:2", path);
            assert_non_null(strstr(spate_job_error(job), where));
        }
        spate_job_destroy(job);
        spate_env_destroy(env);
        tu_capture_fini(&cap);
    }
    spate_schema_release(schema);
    tu_rm_rf(dir);
    free(dir);
}

static void stream_schemas_follow_the_transformations(void **state)
{
    (void)state;
    spate_env_t *env = spate_env_create();
    spate_stream_t *s = seq(env, 10, 1);
    assert_int_equal(spate_schema_field_count(spate_stream_schema(s)), 2);
    spate_stream_t *p = spate_stream_project(s, "v");
    assert_int_equal(spate_schema_field_count(spate_stream_schema(p)), 1);
    assert_string_equal(spate_schema_field_name(spate_stream_schema(p), 0), "v");
    assert_null(spate_stream_schema(spate_stream_sink(p, spate_blackhole_sink(), "out")));
    assert_null(spate_stream_schema(NULL));
    spate_env_destroy(env);
}

static void args_are_found(void **state)
{
    (void)state;
    char *argv[] = { "job.so", "--input", "in.txt", "--flag", "--output", "out" };
    assert_string_equal(spate_arg(6, argv, "--input"), "in.txt");
    assert_string_equal(spate_arg(6, argv, "--output"), "out");
    assert_null(spate_arg(6, argv, "--missing"));
    assert_null(spate_arg(6, argv, "--output2"));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(process_function_lifecycle),
    cmocka_unit_test(map_must_emit_exactly_one_row),
    cmocka_unit_test(not_null_violation_fails_with_field_name),
    cmocka_unit_test(projection_keeps_named_fields),
    cmocka_unit_test(reduce_with_user_key_and_function),
    cmocka_unit_test(co_flat_map_routes_each_input),
    cmocka_unit_test(errors_are_sticky_and_null_safe),
    cmocka_unit_test(malformed_records_follow_the_policy),
    cmocka_unit_test(stream_schemas_follow_the_transformations),
    cmocka_unit_test(args_are_found),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "api");
}
