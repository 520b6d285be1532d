/*
 * test_operator_state_api.c — operator state (list and union list) of
 * non-keyed process functions, as a job sees it: Flink's BufferingSink
 * pattern (rows buffered in list state, emitted at end of input) at
 * parallelism 2, union list state, state in co-process functions, and the
 * messages a misuse fails the job with.
 */
#include "test_main.h"
#include "test_util.h"

#include <spate/spate.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static spate_stream_t *seq(spate_env_t *env, int64_t n)
{
    tu_seq_opts_t o = { .n = n, .keys = 1, .parallel = true };
    return spate_env_add_source(env, tu_seq_source(&o), "seq");
}

/* What each subtask saw, written by its own task thread and read after the job. */
typedef struct seen {
    int64_t buffered[4];      /* buffer size at end_input, per subtask */
    int64_t union_subtask[4]; /* the one element of the union list, per subtask */
    int64_t union_size[4];
    int64_t after_update[4], after_clear[4];
    atomic_int same_handle_misses, opened, closed;
} seen_t;

typedef struct buffering {
    seen_t *seen;
    int subtask;
    spate_operator_list_state_t *buffer, *subtasks;
} buffering_t;

static int b_open(void *ctx, const spate_task_info_t *info, void **state)
{
    buffering_t *b = calloc(1, sizeof *b);
    b->seen = ctx;
    b->subtask = info->subtask_index;
    atomic_fetch_add(&b->seen->opened, 1);
    *state = b;
    return SPATE_OK;
}

static int b_init(void *state, spate_context_t *c)
{
    buffering_t *b = state;
    b->buffer = spate_context_list_state(c, "buffer");
    b->subtasks = spate_context_union_list_state(c, "subtasks");
    int64_t me = b->subtask;
    spate_operator_list_state_add(b->subtasks, &me, sizeof me);
    return b->buffer && b->subtasks ? SPATE_OK : SPATE_EINTERNAL;
}

static int b_process(void *state, const spate_row_t *in, spate_context_t *c, spate_collector_t *out)
{
    (void)out;
    buffering_t *b = state;
    if (spate_context_list_state(c, "buffer") != b->buffer) atomic_fetch_add(&b->seen->same_handle_misses, 1);
    int64_t v = spate_row_get_bigint(in, 1);
    spate_operator_list_state_add(b->buffer, &v, sizeof v);
    return SPATE_OK;
}

typedef struct emit_ctx {
    spate_collector_t *out;
    int64_t subtask;
} emit_ctx_t;

static int emit_element(void *ctx, const void *value, size_t len)
{
    emit_ctx_t *e = ctx;
    int64_t v;
    if (len != sizeof v) return SPATE_EINTERNAL;
    memcpy(&v, value, sizeof v);
    spate_out_set_bigint(e->out, 0, e->subtask);
    spate_out_set_bigint(e->out, 1, v);
    return spate_out_emit(e->out);
}

static int read_one(void *ctx, const void *value, size_t len)
{
    if (len != sizeof(int64_t)) return SPATE_EINTERNAL;
    memcpy(ctx, value, sizeof(int64_t));
    return 0;
}

static int b_end(void *state, spate_context_t *c, spate_collector_t *out)
{
    buffering_t *b = state;
    seen_t *s = b->seen;
    int i = spate_context_task(c)->subtask_index;
    s->buffered[i] = (int64_t)spate_operator_list_state_size(b->buffer);
    s->union_size[i] = (int64_t)spate_operator_list_state_size(b->subtasks);
    int rc = spate_operator_list_state_get(spate_context_union_list_state(c, "subtasks"), read_one,
                                           &s->union_subtask[i]);
    if (rc) return rc;
    emit_ctx_t e = { out, i };
    rc = spate_operator_list_state_get(b->buffer, emit_element, &e);
    if (rc) return rc;
    /* replace, then empty the buffer, as a sink does after a flush */
    int64_t x = 1, y = 2;
    const void *vals[] = { &x, &y };
    const size_t lens[] = { sizeof x, sizeof y };
    spate_operator_list_state_update(b->buffer, vals, lens, 2);
    s->after_update[i] = (int64_t)spate_operator_list_state_size(b->buffer);
    spate_operator_list_state_clear(b->buffer);
    s->after_clear[i] = (int64_t)spate_operator_list_state_size(b->buffer);
    return SPATE_OK;
}

static void b_close(void *state)
{
    buffering_t *b = state;
    atomic_fetch_add(&b->seen->closed, 1);
    free(b);
}

static void buffering_in_list_state_until_end_input(void **state)
{
    (void)state;
    enum { N = 1000 };
    seen_t seen = { 0 };
    tu_capture_t cap;
    tu_capture_init(&cap);
    spate_env_t *env = spate_env_create();
    spate_env_set_parallelism(env, 2);
    spate_process_function_t pf = { .ctx = &seen,
                                    .open = b_open,
                                    .initialize_state = b_init,
                                    .process = b_process,
                                    .end_input = b_end,
                                    .close = b_close };
    spate_stream_t *s = spate_stream_process(seq(env, N), "buffering", &pf, NULL);
    spate_stream_sink(s, tu_capture_sink(&cap), "capture");
    assert_int_equal(spate_env_execute(env, "buffering"), SPATE_OK);
    assert_int_equal(atomic_load(&seen.opened), 2);
    assert_int_equal(atomic_load(&seen.closed), 2);
    assert_int_equal(atomic_load(&seen.same_handle_misses), 0);
    /* every row once, from the instance that buffered it (forward edge: subtask i got v % 2 == i) */
    assert_int_equal(cap.n, N);
    char *got = calloc(N, 1);
    int64_t per[2] = { 0, 0 };
    for (size_t i = 0; i < cap.n; i++) {
        long long k, v;
        assert_int_equal(sscanf(strchr(cap.rows[i], '|') + 1, "%lld,%lld", &k, &v), 2);
        assert_true(v >= 0 && v < N && (k == 0 || k == 1));
        assert_int_equal(v % 2, k);
        got[v]++;
        per[k]++;
    }
    for (int v = 0; v < N; v++) assert_int_equal(got[v], 1);
    free(got);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(seen.buffered[i], N / 2);
        assert_int_equal(per[i], seen.buffered[i]);
        /* union list state: without a restore, each instance sees its own element */
        assert_int_equal(seen.union_size[i], 1);
        assert_int_equal(seen.union_subtask[i], i);
        assert_int_equal(seen.after_update[i], 2);
        assert_int_equal(seen.after_clear[i], 0);
    }
    spate_env_destroy(env);
    tu_capture_fini(&cap);
}

/* ---- misuse ---- */

static int declare_buf(void *state, spate_context_t *c)
{
    (void)state;
    return spate_context_list_state(c, "buf") ? SPATE_OK : SPATE_EINTERNAL;
}

/* Asks for "buf" as union list state: NULL, ignored here, and the job still fails. */
static int wrong_kind(void *state, const spate_row_t *in, spate_context_t *c, spate_collector_t *out)
{
    (void)state;
    (void)in;
    (void)out;
    spate_operator_list_state_add(spate_context_union_list_state(c, "buf"), "x", 1);
    return SPATE_OK;
}

static int count_open(void *ctx, const spate_task_info_t *info, void **state)
{
    (void)info;
    atomic_fetch_add(&((seen_t *)ctx)->opened, 1);
    *state = ctx;
    return SPATE_OK;
}

static void count_close(void *state)
{
    atomic_fetch_add(&((seen_t *)state)->closed, 1);
}

static void declaring_a_name_as_the_other_kind_fails_the_job(void **state)
{
    (void)state;
    seen_t seen = { 0 };
    spate_env_t *env = tu_env_create();
    spate_process_function_t pf = { .ctx = &seen,
                                    .open = count_open,
                                    .initialize_state = declare_buf,
                                    .process = wrong_kind,
                                    .close = count_close };
    spate_stream_t *s = spate_stream_process(seq(env, 10), "misuse", &pf, NULL);
    spate_stream_sink(s, spate_blackhole_sink(), "out");
    assert_int_equal(spate_env_execute(env, "misuse"), SPATE_EINVAL);
    assert_non_null(strstr(spate_env_error(env), "operator 'misuse'"));
    assert_non_null(strstr(spate_env_error(env),
                           "operator state 'buf' is a list state; it cannot also be a union list state"));
    assert_int_equal(atomic_load(&seen.opened), 1);
    assert_int_equal(atomic_load(&seen.closed), 1);
    spate_env_destroy(env);
}

static int init_fails(void *state, spate_context_t *c)
{
    (void)state;
    (void)c;
    return SPATE_EUSER;
}

static void failing_initialize_state_fails_the_job_and_closes(void **state)
{
    (void)state;
    seen_t seen = { 0 };
    spate_env_t *env = tu_env_create();
    spate_env_set_parallelism(env, 2);
    spate_process_function_t pf = { .ctx = &seen,
                                    .open = count_open,
                                    .initialize_state = init_fails,
                                    .process = wrong_kind,
                                    .close = count_close };
    spate_stream_t *s = spate_stream_process(seq(env, 10), "init", &pf, NULL);
    spate_stream_sink(s, spate_blackhole_sink(), "out");
    assert_int_equal(spate_env_execute(env, "init"), SPATE_EUSER);
    assert_non_null(strstr(spate_env_error(env), "initialize_state returned -6"));
    /* open succeeded, so close ran, on every instance that got that far */
    assert_true(atomic_load(&seen.opened) >= 1);
    assert_int_equal(atomic_load(&seen.closed), atomic_load(&seen.opened));
    spate_env_destroy(env);
}

static int bad_elements(void *state, spate_context_t *c)
{
    (void)state;
    spate_operator_list_state_t *st = spate_context_list_state(c, "elements");
    const size_t lens[] = { 3 };
    const void *vals[] = { NULL };
    spate_operator_list_state_update(st, vals, lens, 1);
    return SPATE_OK;
}

static void a_null_element_fails_the_job(void **state)
{
    (void)state;
    spate_env_t *env = tu_env_create();
    spate_process_function_t pf = { .initialize_state = bad_elements, .process = wrong_kind };
    spate_stream_t *s = spate_stream_process(seq(env, 10), "nulls", &pf, NULL);
    spate_stream_sink(s, spate_blackhole_sink(), "out");
    assert_int_equal(spate_env_execute(env, "nulls"), SPATE_EINVAL);
    assert_non_null(strstr(spate_env_error(env), "operator state 'elements': a NULL element of 3 bytes"));
    spate_env_destroy(env);
}

/* ---- co-process functions have operator state too ---- */

static int co_count(void *state, const spate_row_t *in, spate_context_t *c, spate_collector_t *out)
{
    (void)state;
    (void)out;
    int64_t v = spate_row_get_bigint(in, 1);
    spate_operator_list_state_add(spate_context_list_state(c, "both"), &v, sizeof v);
    return SPATE_OK;
}

static int co_end(void *state, spate_context_t *c, spate_collector_t *out)
{
    (void)state;
    spate_out_set_bigint(out, 0, spate_context_task(c)->subtask_index);
    spate_out_set_bigint(out, 1,
                         (int64_t)spate_operator_list_state_size(spate_context_list_state(c, "both")));
    return spate_out_emit(out);
}

static void co_process_functions_share_one_store(void **state)
{
    (void)state;
    tu_capture_t cap;
    tu_capture_init(&cap);
    spate_env_t *env = spate_env_create();
    spate_process_function_t pf = { .process = co_count, .process2 = co_count, .end_input = co_end };
    spate_stream_t *a = seq(env, 30), *b = seq(env, 12);
    spate_stream_t *s =
        spate_connected_process(spate_stream_connect(a, b), "co", &pf, spate_stream_schema(a));
    spate_stream_sink(s, tu_capture_sink(&cap), "capture");
    assert_int_equal(spate_env_execute(env, "co"), SPATE_OK);
    char *rows = tu_capture_sorted(&cap, true);
    assert_string_equal(rows, "0,42\n");
    free(rows);
    spate_env_destroy(env);
    tu_capture_fini(&cap);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(buffering_in_list_state_until_end_input),
    cmocka_unit_test(declaring_a_name_as_the_other_kind_fails_the_job),
    cmocka_unit_test(failing_initialize_state_fails_the_job_and_closes),
    cmocka_unit_test(a_null_element_fails_the_job),
    cmocka_unit_test(co_process_functions_share_one_store),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "api");
}
