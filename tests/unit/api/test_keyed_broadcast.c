/*
 * test_keyed_broadcast.c — keyed broadcast process functions (Flink's
 * KeyedBroadcastProcessFunction): a broadcast threshold read by keyed rows
 * that keep keyed state, event-time timers reading broadcast state,
 * apply_to_keyed_state visiting (and changing, and clearing) exactly the
 * keys with state, the errors for writes and keyed access in the wrong
 * hook, and the same results at parallelism 1, 2 and 4.
 *
 * The two inputs have no order between them, so the tests that need one
 * gate a source (tu_seq_opts_t.gate) on a counter the function advances:
 * keyed rows wait until every instance has applied the rules, or broadcast
 * commands wait until every keyed row has been processed.
 */
#include "test_main.h"
#include "test_util.h"

#include <spate/spate.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Shared by every subtask (the function's ctx). */
typedef struct shared {
    atomic_llong rules_seen;      /* broadcast rows processed, over all instances */
    atomic_llong rows_seen;       /* keyed rows processed, over all instances */
    atomic_llong keys_with_count; /* keys visited in state "count", over all instances */
} shared_t;

typedef struct kb_state {
    shared_t *sh;
    spate_value_state_t *count;
    spate_map_state_t *sums; /* period end -> (k, sum) */
} kb_state_t;

static int kb_open(void *ctx, spate_keyed_context_t *kc, void **state)
{
    kb_state_t *s = calloc(1, sizeof *s);
    s->sh = ctx;
    s->count = spate_keyed_value_state(kc, "count");
    s->sums = spate_keyed_map_state(kc, "sums");
    /* broadcast state is there from open on, empty and read-only */
    int64_t t;
    assert_int_equal(
        spate_broadcast_state_get(spate_keyed_context_broadcast(kc), "rules", "threshold", 9, &t, sizeof t),
        -1);
    *state = s;
    return SPATE_OK;
}

static void kb_close(void *state)
{
    free(state);
}

static int64_t threshold_of(spate_keyed_context_t *kc)
{
    int64_t t = -1;
    spate_broadcast_state_get(spate_keyed_context_broadcast(kc), "rules", "threshold", 9, &t, sizeof t);
    return t;
}

/* Rule rows "threshold BIGINT": the last one wins. */
static int kb_rule(void *state, const spate_row_t *in, spate_keyed_context_t *kc, spate_collector_t *out)
{
    kb_state_t *s = state;
    (void)out;
    size_t klen = 1;
    assert_null(spate_keyed_context_key(kc, &klen)); /* no current key on the broadcast side */
    assert_int_equal(klen, 0);
    int64_t t = spate_row_get_bigint(in, 0);
    spate_broadcast_state_put(spate_keyed_context_broadcast(kc), "rules", "threshold", 9, &t, sizeof t);
    assert_int_equal(threshold_of(kc), t);
    atomic_fetch_add(&s->sh->rules_seen, 1);
    return SPATE_OK;
}

/* Keyed rows (k, v): a running count per key, and whether v is over the broadcast threshold. */
static int kb_row(void *state, const spate_row_t *in, spate_keyed_context_t *kc, spate_collector_t *out)
{
    kb_state_t *s = state;
    int64_t n = 0, v = spate_row_get_bigint(in, 1), t = threshold_of(kc);
    spate_value_state_get(kc, s->count, &n, sizeof n);
    n++;
    spate_value_state_set(kc, s->count, &n, sizeof n);
    atomic_fetch_add(&s->sh->rows_seen, 1);
    spate_out_copy_field(out, 0, in, 0);
    spate_out_set_bigint(out, 1, v);
    spate_out_set_bigint(out, 2, n);
    spate_out_set_bigint(out, 3, t);
    spate_out_set_bigint(out, 4, v > t);
    return spate_out_emit(out);
}

static const char *const rules[] = { "100", "500" };

/* One run of the threshold job at parallelism p; returns the sorted rows without subtasks. */
static char *run_threshold(int p, int64_t *over)
{
    shared_t sh = { 0 };
    tu_capture_t cap;
    tu_capture_init(&cap);
    spate_env_t *env = spate_env_create();
    spate_env_set_parallelism(env, p);
    spate_schema_t *rule_schema = spate_schema_of("threshold BIGINT NOT NULL");
    spate_schema_t *out = spate_schema_of("k BIGINT, v BIGINT, n BIGINT, threshold BIGINT, over BIGINT");
    /* one source subtask: the rows of a key reach their instance in order at any p */
    tu_seq_opts_t o = { .n = 1000, .keys = 7, .gate = &sh.rules_seen, .gate_at = 2 * p };
    spate_keyed_t *k = spate_stream_key_by_field(spate_env_add_source(env, tu_seq_source(&o), "rows"), "k");
    spate_stream_t *r = spate_env_add_source(env, spate_collection_source(rule_schema, rules, 2), "rules");
    spate_keyed_broadcast_process_function_t fn = {
        .ctx = &sh, .open = kb_open, .process = kb_row, .process_broadcast = kb_rule, .close = kb_close
    };
    spate_stream_t *s = spate_keyed_process_with_broadcast(k, r, "threshold", &fn, out);
    spate_stream_sink(s, tu_capture_sink(&cap), "capture");
    assert_int_equal(spate_env_execute(env, "threshold"), SPATE_OK);
    assert_int_equal(atomic_load(&sh.rules_seen), 2 * p); /* every instance got every rule */
    assert_int_equal(cap.n, 1000);
    int64_t max[7] = { 0 };
    *over = 0;
    for (size_t i = 0; i < cap.n; i++) {
        long long kk, v, n, t, ov;
        assert_int_equal(
            sscanf(strchr(cap.rows[i], '|') + 1, "%lld,%lld,%lld,%lld,%lld", &kk, &v, &n, &t, &ov), 5);
        assert_int_equal(t, 500); /* both rules applied before any row */
        assert_int_equal(ov, v > 500);
        *over += ov;
        if (n > max[kk]) max[kk] = n;
    }
    for (int kk = 0; kk < 7; kk++) assert_int_equal(max[kk], 1000 / 7 + (kk < 1000 % 7)); /* count per key */
    char *sorted = tu_capture_sorted(&cap, true);
    spate_schema_release(rule_schema);
    spate_schema_release(out);
    spate_env_destroy(env);
    tu_capture_fini(&cap);
    return sorted;
}

static void broadcast_threshold_is_read_by_keyed_rows_with_keyed_state(void **state)
{
    (void)state;
    int64_t over;
    char *one = run_threshold(1, &over);
    assert_int_equal(over, 499); /* v = 501..999 */
    for (int p = 2; p <= 4; p *= 2) {
        char *got = run_threshold(p, &over);
        assert_int_equal(over, 499);
        assert_string_equal(got, one);
        free(got);
    }
    free(one);
}

/* ---- event-time timers read broadcast state ----
 * Keyed rows (k, v), k = v % 2, with event time v and a watermark v after each (they come in
 * order): v is added to the key's sum for its 50 ms period (map state: period end -> (k, sum)),
 * and a timer set at the period's end.  On the timer the function emits (k, period end, sum,
 * broadcast threshold) and removes the period.  When the watermark advances does not matter:
 * the broadcast input holds it back until that input ends. */

static void *wm_create(void *ctx)
{
    (void)ctx;
    return NULL;
}

static void wm_on_event(void *st, int64_t ts, const spate_row_t *row, spate_watermark_output_t *out)
{
    (void)st;
    (void)row;
    spate_watermark_output_emit(out, ts);
}

static int sum_row(void *state, const spate_row_t *in, spate_keyed_context_t *kc, spate_collector_t *out)
{
    kb_state_t *s = state;
    (void)out;
    int64_t v = spate_row_get_bigint(in, 1), end = v / 50 * 50 + 49;
    int64_t ks[2] = { spate_row_get_bigint(in, 0), 0 };
    spate_map_state_get(kc, s->sums, &end, sizeof end, ks, sizeof ks);
    ks[1] += v;
    spate_map_state_put(kc, s->sums, &end, sizeof end, ks, sizeof ks);
    spate_timer_register_event_time(kc, end);
    return SPATE_OK;
}

static int sum_fired(void *state, int64_t ts, spate_time_domain_t domain, spate_keyed_context_t *kc,
                     spate_collector_t *out)
{
    kb_state_t *s = state;
    assert_int_equal(domain, SPATE_EVENT_TIME);
    assert_true(spate_keyed_context_watermark(kc) >= ts);
    int64_t ks[2];
    assert_int_equal(spate_map_state_get(kc, s->sums, &ts, sizeof ts, ks, sizeof ks), sizeof ks);
    spate_map_state_remove(kc, s->sums, &ts, sizeof ts);
    size_t klen;
    assert_non_null(spate_keyed_context_key(kc, &klen)); /* the timer's key is current */
    spate_out_set_bigint(out, 0, ks[0]);
    spate_out_set_bigint(out, 1, ts);
    spate_out_set_bigint(out, 2, ks[1]);
    spate_out_set_bigint(out, 3, threshold_of(kc));
    return spate_out_emit(out);
}

static void event_time_timers_read_broadcast_state(void **state)
{
    (void)state;
    for (int p = 1; p <= 4; p *= 2) {
        shared_t sh = { 0 };
        tu_capture_t cap;
        tu_capture_init(&cap);
        spate_env_t *env = spate_env_create();
        spate_env_set_parallelism(env, p);
        spate_schema_t *rule_schema = spate_schema_of("threshold BIGINT NOT NULL");
        spate_schema_t *out = spate_schema_of("k BIGINT, ts BIGINT, sum BIGINT, threshold BIGINT");
        tu_seq_opts_t o = {
            .n = 200, .keys = 2, .event_time = true, .gate = &sh.rules_seen, .gate_at = 2 * p
        };
        spate_watermark_generator_t g = { .create = wm_create, .on_event = wm_on_event };
        spate_stream_t *rows = spate_env_add_source_with_watermarks(
            env, tu_seq_source(&o), spate_watermark_for_generator(&g), "rows");
        spate_stream_t *r =
            spate_env_add_source(env, spate_collection_source(rule_schema, rules, 2), "rules");
        spate_keyed_broadcast_process_function_t fn = { .ctx = &sh,
                                                        .open = kb_open,
                                                        .process = sum_row,
                                                        .process_broadcast = kb_rule,
                                                        .on_timer = sum_fired,
                                                        .close = kb_close };
        spate_stream_t *s =
            spate_keyed_process_with_broadcast(spate_stream_key_by_field(rows, "k"), r, "timers", &fn, out);
        spate_stream_sink(s, tu_capture_sink(&cap), "capture");
        assert_int_equal(spate_env_execute(env, "timers"), SPATE_OK);
        char *got = tu_capture_sorted(&cap, true);
        /* per key, four periods of 25 values each, every one with the threshold */
        assert_string_equal(got, "0,149,3100,500\n0,199,4350,500\n0,49,600,500\n0,99,1850,500\n"
                                 "1,149,3125,500\n1,199,4375,500\n1,49,625,500\n1,99,1875,500\n");
        free(got);
        spate_schema_release(rule_schema);
        spate_schema_release(out);
        spate_env_destroy(env);
        tu_capture_fini(&cap);
    }
}

/* ---- apply_to_keyed_state ----
 * Keyed rows (k, v), k = v % 10, v = 0..99: every key gets a "count" and its k in "k"; only even
 * keys get a "sum" (of their v), and every key a timer for the end of input.  Once every row is
 * in, broadcast commands:
 *   visit1  emits (visit1, k, sum) for every key with a sum
 *   double  doubles every sum
 *   clear   clears the sum of the keys divisible by 4
 *   visit2  emits (visit2, k, sum) again
 * At end of input each key's timer emits (final, k, sum or -1): the keyed side sees the changes. */

typedef struct apply_state {
    shared_t *sh;
    spate_value_state_t *count, *sum, *k;
} apply_state_t;

static int apply_open(void *ctx, spate_keyed_context_t *kc, void **state)
{
    apply_state_t *a = calloc(1, sizeof *a);
    a->sh = ctx;
    a->count = spate_keyed_value_state(kc, "count");
    a->sum = spate_keyed_value_state(kc, "sum");
    a->k = spate_keyed_value_state(kc, "k");
    *state = a;
    return SPATE_OK;
}

static void apply_close(void *state)
{
    free(state);
}

static int apply_row(void *state, const spate_row_t *in, spate_keyed_context_t *kc, spate_collector_t *out)
{
    apply_state_t *a = state;
    (void)out;
    int64_t k = spate_row_get_bigint(in, 0), v = spate_row_get_bigint(in, 1), count = 0;
    spate_value_state_set(kc, a->k, &k, sizeof k);
    spate_value_state_get(kc, a->count, &count, sizeof count);
    count++;
    spate_value_state_set(kc, a->count, &count, sizeof count);
    if (k % 2 == 0) {
        int64_t sum = 0;
        spate_value_state_get(kc, a->sum, &sum, sizeof sum);
        sum += v;
        spate_value_state_set(kc, a->sum, &sum, sizeof sum);
    }
    spate_timer_register_event_time(kc, 1000000);
    atomic_fetch_add(&a->sh->rows_seen, 1);
    return SPATE_OK;
}

static int emit3(spate_collector_t *out, const char *what, int64_t k, int64_t v)
{
    spate_out_set_string(out, 0, what, strlen(what));
    spate_out_set_bigint(out, 1, k);
    spate_out_set_bigint(out, 2, v);
    return spate_out_emit(out);
}

typedef struct visit {
    const char *cmd;
    apply_state_t *a;
    spate_collector_t *out;
    int visited;
} visit_t;

static int visitor(void *ctx, spate_keyed_context_t *kc)
{
    visit_t *vi = ctx;
    int64_t k = -1, sum = -1, count = -1;
    size_t klen = 0;
    assert_non_null(spate_keyed_context_key(kc, &klen)); /* the visited key is current */
    assert_true(klen > 0);
    assert_int_equal(spate_value_state_get(kc, vi->a->k, &k, sizeof k), 8);
    assert_int_equal(spate_value_state_get(kc, vi->a->sum, &sum, sizeof sum), 8); /* only keys with a sum */
    assert_int_equal(spate_value_state_get(kc, vi->a->count, &count, sizeof count), 8);
    assert_int_equal(count, 10);
    assert_int_equal(k % 2, 0);
    vi->visited++;
    if (strcmp(vi->cmd, "double") == 0) {
        sum *= 2;
        spate_value_state_set(kc, vi->a->sum, &sum, sizeof sum);
        return SPATE_OK;
    }
    if (strcmp(vi->cmd, "clear") == 0) {
        if (k % 4 == 0) spate_value_state_clear(kc, vi->a->sum);
        return SPATE_OK;
    }
    return emit3(vi->out, vi->cmd, k, sum);
}

static int count_key(void *ctx, spate_keyed_context_t *kc)
{
    shared_t *sh = ctx;
    (void)kc;
    atomic_fetch_add(&sh->keys_with_count, 1);
    return SPATE_OK;
}

static const char *const cmds[] = { "visit1", "double", "clear", "visit2" };

/* Broadcast rows (k, v) of a gated seq source: v picks the command. */
static int apply_cmd(void *state, const spate_row_t *in, spate_keyed_context_t *kc, spate_collector_t *out)
{
    apply_state_t *a = state;
    visit_t vi = { cmds[spate_row_get_bigint(in, 1)], a, out, 0 };
    int rc = spate_keyed_broadcast_apply_to_keyed_state(kc, "sum", visitor, &vi);
    assert_null(spate_keyed_context_key(kc, NULL));         /* no current key again after the visit */
    if (rc == SPATE_OK && spate_row_get_bigint(in, 1) == 0) /* every key has a "count" */
        rc = spate_keyed_broadcast_apply_to_keyed_state(kc, "count", count_key, a->sh);
    return rc;
}

static int apply_fired(void *state, int64_t ts, spate_time_domain_t domain, spate_keyed_context_t *kc,
                       spate_collector_t *out)
{
    apply_state_t *a = state;
    (void)ts;
    (void)domain;
    int64_t k = -1, sum = -1;
    spate_value_state_get(kc, a->k, &k, sizeof k);
    spate_value_state_get(kc, a->sum, &sum, sizeof sum);
    return emit3(out, "final", k, sum);
}

static void apply_to_keyed_state_visits_exactly_the_keys_with_state(void **state)
{
    (void)state;
    /* the sum of k (even) over v = k, k+10, ..., k+90 is 10k + 450 */
    const char *want = "final,0,-1\nfinal,1,-1\nfinal,2,940\nfinal,3,-1\nfinal,4,-1\n"
                       "final,5,-1\nfinal,6,1020\nfinal,7,-1\nfinal,8,-1\nfinal,9,-1\n"
                       "visit1,0,450\nvisit1,2,470\nvisit1,4,490\nvisit1,6,510\nvisit1,8,530\n"
                       "visit2,2,940\nvisit2,6,1020\n";
    for (int p = 1; p <= 4; p *= 2) {
        shared_t sh = { 0 };
        tu_capture_t cap;
        tu_capture_init(&cap);
        spate_env_t *env = spate_env_create();
        spate_env_set_parallelism(env, p);
        spate_schema_t *out = spate_schema_of("what STRING, k BIGINT, sum BIGINT");
        tu_seq_opts_t o = { .n = 100, .keys = 10, .parallel = true };
        spate_stream_t *rows = spate_env_add_source(env, tu_seq_source(&o), "rows");
        tu_seq_opts_t c = { .n = 4, .keys = 1, .gate = &sh.rows_seen, .gate_at = 100 }; /* after every row */
        spate_stream_t *commands = spate_env_add_source(env, tu_seq_source(&c), "commands");
        spate_keyed_broadcast_process_function_t fn = { .ctx = &sh,
                                                        .open = apply_open,
                                                        .process = apply_row,
                                                        .process_broadcast = apply_cmd,
                                                        .on_timer = apply_fired,
                                                        .close = apply_close };
        spate_stream_t *s = spate_keyed_process_with_broadcast(spate_stream_key_by_field(rows, "k"), commands,
                                                               "apply", &fn, out);
        spate_stream_sink(s, tu_capture_sink(&cap), "capture");
        assert_int_equal(spate_env_execute(env, "apply"), SPATE_OK);
        char *got = tu_capture_sorted(&cap, true);
        assert_string_equal(got, want);
        free(got);
        assert_int_equal(atomic_load(&sh.keys_with_count), 10); /* each key once, on its own instance */
        /* keys are partitioned: each key's rows come from one instance */
        int owner[10];
        for (int k = 0; k < 10; k++) owner[k] = -1;
        for (size_t i = 0; i < cap.n; i++) {
            int st = atoi(cap.rows[i]);
            long long k, v;
            char what[16];
            assert_int_equal(sscanf(strchr(cap.rows[i], '|') + 1, "%15[a-z0-9],%lld,%lld", what, &k, &v), 3);
            if (owner[k] < 0) owner[k] = st;
            assert_int_equal(owner[k], st);
        }
        int owners = 0; /* instances that hold keys */
        for (int st = 0; st < p; st++)
            for (int k = 0; k < 10; k++)
                if (owner[k] == st) {
                    owners++;
                    break;
                }
        if (p > 1) assert_true(owners > 1);
        spate_schema_release(out);
        spate_env_destroy(env);
        tu_capture_fini(&cap);
    }
}

/* ---- errors: broadcast state is read-only outside process_broadcast, keyed state needs a key ---- */

typedef enum bad_mode {
    WRITE_IN_PROCESS,
    WRITE_IN_TIMER,
    APPLY_IN_PROCESS,
    STATE_IN_BROADCAST,
    TIMER_IN_BROADCAST,
    APPLY_UNKNOWN_STATE,
    NMODES
} bad_mode_t;

typedef struct bad_state {
    bad_mode_t mode;
    spate_value_state_t *v;
} bad_state_t;

static int bad_open(void *ctx, spate_keyed_context_t *kc, void **state)
{
    bad_state_t *b = calloc(1, sizeof *b);
    b->mode = *(const bad_mode_t *)ctx;
    b->v = spate_keyed_value_state(kc, "v");
    *state = b;
    return SPATE_OK;
}

static int nothing(void *ctx, spate_keyed_context_t *kc)
{
    (void)ctx;
    (void)kc;
    return SPATE_OK;
}

static int bad_row(void *state, const spate_row_t *in, spate_keyed_context_t *kc, spate_collector_t *out)
{
    bad_state_t *b = state;
    (void)in;
    (void)out;
    int64_t one = 1;
    spate_value_state_set(kc, b->v, &one, sizeof one);
    if (b->mode == WRITE_IN_PROCESS)
        spate_broadcast_state_put(spate_keyed_context_broadcast(kc), "rules", "x", 1, &one, sizeof one);
    if (b->mode == WRITE_IN_TIMER) spate_timer_register_event_time(kc, 10);
    if (b->mode == APPLY_IN_PROCESS)
        return spate_keyed_broadcast_apply_to_keyed_state(kc, "v", nothing, NULL);
    return SPATE_OK;
}

static int bad_rule(void *state, const spate_row_t *in, spate_keyed_context_t *kc, spate_collector_t *out)
{
    bad_state_t *b = state;
    (void)in;
    (void)out;
    int64_t v;
    if (b->mode == STATE_IN_BROADCAST) spate_value_state_get(kc, b->v, &v, sizeof v);
    if (b->mode == TIMER_IN_BROADCAST) spate_timer_register_processing_time(kc, 10);
    if (b->mode == APPLY_UNKNOWN_STATE)
        return spate_keyed_broadcast_apply_to_keyed_state(kc, "nope", nothing, NULL);
    return SPATE_OK;
}

static int bad_timer(void *state, int64_t ts, spate_time_domain_t domain, spate_keyed_context_t *kc,
                     spate_collector_t *out)
{
    (void)state;
    (void)ts;
    (void)domain;
    (void)out;
    int64_t one = 1;
    spate_broadcast_state_put(spate_keyed_context_broadcast(kc), "rules", "x", 1, &one, sizeof one);
    return SPATE_OK;
}

static void bad_close(void *state)
{
    free(state);
}

/* A plain keyed process function has no broadcast state. */
static int plain_row(void *state, const spate_row_t *in, spate_keyed_context_t *kc, spate_collector_t *out)
{
    (void)state;
    (void)in;
    (void)out;
    assert_null(spate_keyed_context_broadcast(kc));
    assert_int_equal(spate_broadcast_state_get(NULL, "rules", "x", 1, NULL, 0), -1);
    return SPATE_OK;
}

static void wrong_hook_fails_the_job_with_a_clear_error(void **state)
{
    (void)state;
    const char *want[NMODES] = {
        [WRITE_IN_PROCESS] = "broadcast state is read-only in process(): change it in process_broadcast()",
        [WRITE_IN_TIMER] = "broadcast state is read-only in on_timer(): change it in process_broadcast()",
        [APPLY_IN_PROCESS] = "spate_keyed_broadcast_apply_to_keyed_state: only in process_broadcast()",
        [STATE_IN_BROADCAST] = "keyed state and timers need a current key, and process_broadcast() has none",
        [TIMER_IN_BROADCAST] = "keyed state and timers need a current key, and process_broadcast() has none",
        [APPLY_UNKNOWN_STATE] = "no keyed state 'nope' declared in open()",
    };
    spate_schema_t *rule_schema = spate_schema_of("threshold BIGINT NOT NULL");
    for (bad_mode_t mode = 0; mode < NMODES; mode++) {
        spate_env_t *env = tu_env_create();
        spate_env_set_parallelism(env, 2);
        tu_seq_opts_t o = { .n = 10, .keys = 3, .event_time = true };
        spate_keyed_t *k =
            spate_stream_key_by_field(spate_env_add_source(env, tu_seq_source(&o), "rows"), "k");
        spate_stream_t *r =
            spate_env_add_source(env, spate_collection_source(rule_schema, rules, 2), "rules");
        spate_keyed_broadcast_process_function_t fn = { .ctx = &mode,
                                                        .open = bad_open,
                                                        .process = bad_row,
                                                        .process_broadcast = bad_rule,
                                                        .on_timer = bad_timer,
                                                        .close = bad_close };
        spate_stream_sink(spate_keyed_process_with_broadcast(k, r, "bad", &fn, NULL), spate_blackhole_sink(),
                          "out");
        assert_int_equal(spate_env_execute(env, "bad"), SPATE_EINVAL);
        const char *err = spate_env_error(env);
        if (!strstr(err, want[mode])) fail_msg("mode %d: got '%s'", (int)mode, err);
        spate_env_destroy(env);
    }

    /* building errors: both functions are required */
    spate_env_t *env = tu_env_create();
    tu_seq_opts_t o = { .n = 10, .keys = 3 };
    spate_keyed_t *k = spate_stream_key_by_field(spate_env_add_source(env, tu_seq_source(&o), "rows"), "k");
    spate_stream_t *r = spate_env_add_source(env, spate_collection_source(rule_schema, rules, 2), "rules");
    spate_keyed_broadcast_process_function_t fn = { .process = bad_row };
    assert_null(spate_keyed_process_with_broadcast(k, r, "half", &fn, NULL));
    assert_int_equal(spate_env_execute(env, "half"), SPATE_EINVAL);
    assert_non_null(
        strstr(spate_env_error(env), "keyed broadcast process 'half': needs process and process_broadcast"));
    spate_env_destroy(env);

    /* a plain keyed process function sees no broadcast state */
    env = tu_env_create();
    k = spate_stream_key_by_field(spate_env_add_source(env, tu_seq_source(&o), "rows"), "k");
    spate_keyed_process_function_t plain = { .process = plain_row };
    spate_stream_sink(spate_keyed_process(k, "plain", &plain, NULL), spate_blackhole_sink(), "out");
    assert_int_equal(spate_env_execute(env, "plain"), SPATE_OK);
    spate_env_destroy(env);
    spate_schema_release(rule_schema);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(broadcast_threshold_is_read_by_keyed_rows_with_keyed_state),
    cmocka_unit_test(event_time_timers_read_broadcast_state),
    cmocka_unit_test(apply_to_keyed_state_visits_exactly_the_keys_with_state),
    cmocka_unit_test(wrong_hook_fails_the_job_with_a_clear_error),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "api_keyed_broadcast");
}
