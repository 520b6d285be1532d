/*
 * test_alignment.c — checkpoint barrier alignment of a two-input task.
 *
 * 1. An interleaving test on a deterministic scheduler: two-input operator,
 *    barriers arriving in every order relative to data on each input;
 *    exactly-once alignment holds in every order; at-least-once lets data
 *    pass.  The scheduler has two producers, each with a fixed sequence
 *    (3 rows, barrier 1, 2 rows, END), and bounded FIFO channels into one
 *    consumer: the barrier handler (src/runtime/barrier.h) plus a model
 *    two-input operator that records the rows it processed before the
 *    snapshot point (the barrier passing down).  Every merge order of the
 *    two sequences (C(14,7) = 3432) is an order of production; a producer
 *    whose channel is full waits (back-pressure) while the other goes on;
 *    the consumer reads, after each production, every element it may (the
 *    oldest first, never from a blocked channel), as a task that keeps up.
 *    The same orders with unaligned checkpoints: the snapshot comes at the
 *    first barrier, and the rows of the other input up to its barrier are
 *    in-flight data, so state plus in-flight data hold every row before the
 *    barriers once; and with an aligned-checkpoint timeout (the clock being
 *    the production count), which switches only the orders whose alignment
 *    lasts long.
 *
 * 2. The same through the real runtime: two sources connected to a
 *    two-input operator whose process_barrier hook records how many rows of
 *    each input it processed before the barrier, against how many rows each
 *    source emitted before it sent the barrier.  Unaligned, with a slow
 *    two-input operator: the barrier of the input read first overtakes the
 *    rows queued on the other input.
 */
#include "test_main.h"
#include "test_util.h"

#include <spate/spate.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "runtime/barrier.h"
#include "runtime/runtime.h"

/* ---- 1. the deterministic scheduler ---- */

enum { PRE = 3, POST = 2, NEV = PRE + 1 + POST + 1, NMERGE = 2 * NEV };
typedef enum { EV_ROW, EV_BARRIER, EV_END } ev_kind_t;

typedef struct ev {
    ev_kind_t kind;
    int seq;   /* rows: 0..PRE+POST-1 on their input */
    bool post; /* rows: produced after the barrier */
    int stamp; /* arrival order in the channel */
} ev_t;

typedef struct chan {
    ev_t q[NEV];
    int head, count;
} chan_t;

/* The model two-input operator: what it processed, and where the snapshot came. */
typedef struct model_op {
    int rows;           /* processed so far */
    int snapshot_at;    /* rows processed when the barrier passed (-1: not yet) */
    int snapshots;      /* times it passed */
    int pre_before[2];  /* pre-barrier rows of each input processed before the snapshot */
    int post_before[2]; /* post-barrier rows of each input processed before the snapshot */
    int next_seq[2];    /* the next row expected on each input (FIFO, none lost or repeated) */
    bool finished;      /* both inputs ended */
    int inflight[2];    /* unaligned: rows of each input recorded as in-flight data */
    bool unaligned;     /* the snapshot was unaligned (SNAPSHOT) */
    int inflight_done;  /* unaligned: times the in-flight data was reported whole */
} model_op_t;

typedef struct sched_stats {
    int runs, passed_runs, held_runs, stalled_runs, switched_runs, inflight_runs;
} sched_stats_t;

typedef struct sched_cfg {
    sp_barrier_mode_t mode;
    bool unaligned;
    int64_t timeout; /* aligned-checkpoint timeout, in productions (0: unaligned from the first barrier) */
} sched_cfg_t;

static ev_t event_of(int k)
{
    ev_t e = { EV_ROW, 0, false, 0 };
    if (k < PRE) {
        e.seq = k;
    } else if (k == PRE) {
        e.kind = EV_BARRIER;
    } else if (k < NEV - 1) {
        e.seq = k - 1;
        e.post = true;
    } else {
        e.kind = EV_END;
    }
    return e;
}

static void take_actions(sp_barrier_t *h, model_op_t *op)
{
    sp_barrier_action_t a;
    while (sp_barrier_next(h, &a)) {
        assert_int_not_equal(a.kind, SP_BARRIER_ABORT); /* nothing here can abort checkpoint 1 */
        assert_int_equal(a.checkpoint_id, 1);
        assert_false(op->finished);
        if (a.kind == SP_BARRIER_COMPLETE && a.unaligned) {
            op->inflight_done++;
            continue;
        }
        op->unaligned |= a.kind == SP_BARRIER_SNAPSHOT;
        op->snapshots++;
        op->snapshot_at = op->rows;
    }
}

/* The consumer reads one element from input c and hands it on as the task loop does. */
static void consume(sp_barrier_t *h, model_op_t *op, int c, const ev_t *e)
{
    switch (e->kind) {
    case EV_ROW:
        assert_int_equal(e->seq, op->next_seq[c]);
        op->next_seq[c]++;
        sp_barrier_count(h, 1, 8);
        if (sp_barrier_pending_count(h) > 0 && sp_barrier_records(h, 0, c)) op->inflight[c]++;
        op->rows++;
        if (op->snapshots == 0) {
            if (e->post)
                op->post_before[c]++;
            else
                op->pre_before[c]++;
        }
        return;
    case EV_BARRIER: sp_barrier_on_barrier(h, c, 1, e->stamp); break;
    case EV_END:
        sp_barrier_on_end(h, c, e->stamp);
        if (h->nended == 2) {
            take_actions(h, op);
            op->finished = true;
            return;
        }
        break;
    }
    take_actions(h, op);
}

/* Runs one merge order (order[i] = the input producing the i-th event) with channels of `cap` elements. */
static void run_order(const int *order, int cap, const sched_cfg_t *cfg, sched_stats_t *st)
{
    sp_barrier_mode_t mode = cfg->mode;
    sp_barrier_t h;
    sp_barrier_init(&h, 2, mode);
    sp_barrier_set_unaligned(&h, cfg->unaligned, cfg->timeout);
    model_op_t op = { .snapshot_at = -1 };
    chan_t ch[2] = { { .head = 0 }, { .head = 0 } };
    int produced[2] = { 0, 0 }, stamp = 0;
    bool used[NMERGE] = { false }, stalled = false, held = false;
    for (int done = 0; done < NMERGE; done++) {
        /* the first producer in merge order whose channel has room produces; a full channel makes its
         * producer wait (back-pressure) while the other one goes on */
        int pick = -1;
        for (int i = 0; i < NMERGE && pick < 0; i++)
            if (!used[i] && ch[order[i]].count < cap) pick = i;
        assert_true(pick >= 0); /* both producers blocked on full channels: a deadlock */
        for (int i = 0; i < pick; i++)
            if (!used[i]) stalled = true;
        used[pick] = true;
        int in = order[pick];
        ev_t e = event_of(produced[in]++);
        e.stamp = stamp++;
        chan_t *q = &ch[in];
        q->q[(q->head + q->count) % NEV] = e;
        q->count++;
        sp_barrier_on_time(&h, e.stamp); /* the clock: an alignment may time out */
        take_actions(&h, &op);
        /* the consumer keeps up: every element it may read, the oldest arrival first */
        for (;;) {
            int c = -1;
            for (int k = 0; k < 2; k++)
                if (ch[k].count > 0 && !h.ended[k] && !sp_barrier_blocked(&h, k) &&
                    (c < 0 || ch[k].q[ch[k].head].stamp < ch[c].q[ch[c].head].stamp))
                    c = k;
            if (c < 0) break;
            ev_t got = ch[c].q[ch[c].head];
            ch[c].head = (ch[c].head + 1) % NEV;
            ch[c].count--;
            consume(&h, &op, c, &got);
        }
        for (int k = 0; k < 2; k++)
            if (ch[k].count > 0 && sp_barrier_blocked(&h, k)) held = true; /* data waits behind a barrier */
    }
    /* everything was produced and read: the barrier passed once, after which nothing was lost */
    assert_true(op.finished);
    assert_int_equal(ch[0].count + ch[1].count, 0);
    assert_int_equal(op.snapshots, 1);
    assert_int_equal(op.rows, 2 * (PRE + POST));
    assert_int_equal(op.next_seq[0], PRE + POST);
    assert_int_equal(op.next_seq[1], PRE + POST);
    /* every row produced before a barrier was processed before the snapshot, in both aligned modes */
    if (!h.unaligned) {
        assert_int_equal(op.pre_before[0], PRE);
        assert_int_equal(op.pre_before[1], PRE);
    }
    /* where each barrier comes in the merge order, and the post-barrier rows of the input whose barrier
     * came first that come before the other barrier: those pass when nothing blocks */
    int seen[2] = { 0, 0 }, barrier_pos[2] = { -1, -1 }, early_post = 0;
    for (int i = 0; i < NMERGE; i++) {
        int k = seen[order[i]]++;
        if (k == PRE) barrier_pos[order[i]] = i;
    }
    int first = barrier_pos[0] < barrier_pos[1] ? 0 : 1, second_pos = barrier_pos[1 - first];
    seen[0] = seen[1] = 0;
    for (int i = 0; i < second_pos; i++) {
        int k = seen[order[i]]++;
        if (order[i] == first && k > PRE && k < NEV - 1) early_post++;
    }
    if (h.unaligned) {
        /* nothing after a barrier is in the snapshot; what came before it is in the snapshot or in flight,
         * never both */
        assert_int_equal(op.post_before[0], 0);
        assert_int_equal(op.post_before[1], 0);
        for (int k = 0; k < 2; k++) assert_int_equal(op.pre_before[k] + op.inflight[k], PRE);
        assert_int_equal(op.inflight_done, op.unaligned ? 1 : 0);
        if (!op.unaligned) assert_int_equal(op.inflight[0] + op.inflight[1], 0); /* aligned in time */
        if (cfg->timeout == 0) {
            assert_true(op.unaligned);
            assert_false(held); /* nothing ever waits */
            /* the barrier read first is the first produced: the other input's rows after it are in flight */
            int late = 0;
            seen[0] = seen[1] = 0;
            for (int i = 0; i < NMERGE; i++) {
                int k = seen[order[i]]++;
                if (order[i] != first && k < PRE && i > barrier_pos[first]) late++;
            }
            assert_int_equal(op.inflight[first], 0);
            assert_int_equal(op.inflight[1 - first], late);
            assert_int_equal(op.snapshot_at, 2 * PRE - late);
        }
        if (op.unaligned) st->switched_runs++;
        if (op.inflight[0] + op.inflight[1] > 0) st->inflight_runs++;
    } else if (mode == SP_BARRIER_EXACTLY_ONCE) {
        assert_int_equal(op.post_before[0], 0);
        assert_int_equal(op.post_before[1], 0);
        assert_int_equal(op.snapshot_at, 2 * PRE);
        if (early_post > 0) assert_true(held); /* what would have passed was held back */
    } else {
        assert_int_equal(op.post_before[first], early_post);
        assert_int_equal(op.post_before[1 - first], 0);
        assert_int_equal(op.snapshot_at, 2 * PRE + early_post);
        if (op.post_before[first] > 0) st->passed_runs++;
    }
    if (held) st->held_runs++;
    if (stalled) st->stalled_runs++;
    st->runs++;
    assert_int_equal(h.nblocked, 0);
    assert_int_equal(sp_barrier_pending_count(&h), 0);
    sp_barrier_fini(&h);
}

/* Every merge order of the two inputs' sequences, at the given channel capacity. */
static sched_stats_t run_all_orders_cfg(int cap, const sched_cfg_t *cfg)
{
    sched_stats_t st = { 0 };
    for (unsigned mask = 0; mask < (1u << NMERGE); mask++) {
        if (__builtin_popcount(mask) != NEV) continue;
        int order[NMERGE];
        for (int i = 0; i < NMERGE; i++) order[i] = (int)((mask >> i) & 1);
        run_order(order, cap, cfg, &st);
    }
    assert_int_equal(st.runs, 3432); /* C(14, 7) */
    return st;
}

static sched_stats_t run_all_orders(int cap, sp_barrier_mode_t mode)
{
    sched_cfg_t cfg = { mode, false, 0 };
    return run_all_orders_cfg(cap, &cfg);
}

static void unaligned_captures_in_flight_data_in_every_order(void **state)
{
    (void)state;
    const int caps[] = { NEV, 2, 1 };
    for (size_t i = 0; i < SP_ARRAY_LEN(caps); i++) {
        sched_cfg_t cfg = { SP_BARRIER_EXACTLY_ONCE, true, 0 };
        sched_stats_t st = run_all_orders_cfg(caps[i], &cfg);
        assert_int_equal(st.switched_runs, st.runs);
        assert_true(st.inflight_runs > 0 && st.inflight_runs < st.runs); /* rows overtaken, in some orders */
        assert_int_equal(st.held_runs, 0);
        assert_int_equal(st.stalled_runs, 0); /* nothing blocks: the consumer keeps up */
        print_message("cap %d: %d orders, %d with in-flight rows\n", caps[i], st.runs, st.inflight_runs);
    }
}

static void aligned_timeout_switches_the_long_alignments(void **state)
{
    (void)state;
    const int caps[] = { NEV, 1 };
    for (size_t i = 0; i < SP_ARRAY_LEN(caps); i++) {
        sched_cfg_t cfg = { SP_BARRIER_EXACTLY_ONCE, true, 4 };
        sched_stats_t st = run_all_orders_cfg(caps[i], &cfg);
        /* orders whose second barrier comes within 4 productions of the first stay aligned */
        assert_true(st.switched_runs > 0 && st.switched_runs < st.runs);
        assert_true(st.inflight_runs > 0);
        print_message("cap %d: %d orders, %d switched to unaligned, %d with in-flight rows\n", caps[i],
                      st.runs, st.switched_runs, st.inflight_runs);
    }
}

static void exactly_once_alignment_holds_in_every_order(void **state)
{
    (void)state;
    /* unbounded channels, then back-pressure from rings of 2 and of 1 element */
    const int caps[] = { NEV, 2, 1 };
    for (size_t i = 0; i < SP_ARRAY_LEN(caps); i++) {
        sched_stats_t st = run_all_orders(caps[i], SP_BARRIER_EXACTLY_ONCE);
        /* the orders where post-barrier rows arrive before the other barrier were held back */
        assert_true(st.held_runs > 0);
        if (caps[i] < NEV)
            assert_true(st.stalled_runs > 0); /* and a blocked full channel stalled its producer */
        print_message("cap %d: %d orders, %d with rows held back, %d with a producer stalled\n", caps[i],
                      st.runs, st.held_runs, st.stalled_runs);
    }
}

static void at_least_once_lets_data_pass(void **state)
{
    (void)state;
    const int caps[] = { NEV, 1 };
    for (size_t i = 0; i < SP_ARRAY_LEN(caps); i++) {
        sched_stats_t st = run_all_orders(caps[i], SP_BARRIER_AT_LEAST_ONCE);
        assert_true(st.passed_runs > 0);
        assert_int_equal(st.stalled_runs, 0); /* nothing blocks: the consumer keeps up */
        print_message("cap %d: %d orders, %d with post-barrier rows before the snapshot\n", caps[i], st.runs,
                      st.passed_runs);
    }
}

/* ---- 2. through the runtime ---- */

enum { NCK = 5 };

/* Shared by the operators of one job (each field is written by one task thread; read after the job). */
typedef struct record {
    int64_t emitted[2];             /* rows passed by each source's marker so far */
    int64_t emitted_at[2][NCK + 1]; /* ... when barrier id passed it */
    int64_t seen[2];                /* rows of each input processed by the two-input operator */
    int64_t seen_at[2][NCK + 1];    /* ... when barrier id passed it */
    int64_t next_v[2];              /* FIFO check: next v expected per input */
    atomic_int last_barrier;        /* newest barrier the two-input operator passed */
    atomic_int marker_last[2];      /* newest barrier each source's marker passed */
    int sleep_ms[2];                /* per batch, in the marker of each source (a slow source) */
    int co_sleep_ms;                /* per batch, in the two-input operator (a slow consumer) */
    bool order_ok;
} record_t;

typedef struct op_inst {
    record_t *rec;
    sp_op_ctx_t *ctx;
    int input; /* markers: which input they feed */
} op_inst_t;

typedef struct marker_spec {
    record_t *rec;
    int input;
} marker_spec_t;

static int marker_open(const void *spec, sp_op_ctx_t *ctx, void **inst)
{
    const marker_spec_t *s = spec;
    op_inst_t *o = sp_xcalloc(1, sizeof *o);
    o->rec = s->rec;
    o->ctx = ctx;
    o->input = s->input;
    *inst = o;
    return SPATE_OK;
}

static int marker_batch(void *inst, int input, sp_batch_t *b)
{
    (void)input;
    op_inst_t *o = inst;
    o->rec->emitted[o->input] += b->count;
    if (o->rec->sleep_ms[o->input]) sp_sleep_ms(o->rec->sleep_ms[o->input]);
    return sp_output_push_batch(o->ctx->out, sp_batch_acquire(b));
}

static int marker_barrier(void *inst, int64_t id)
{
    op_inst_t *o = inst;
    if (id >= 1 && id <= NCK) o->rec->emitted_at[o->input][id] = o->rec->emitted[o->input];
    atomic_store(&o->rec->marker_last[o->input], (int)id);
    return SPATE_OK;
}

static void op_close(void *inst)
{
    free(inst);
}

static const sp_op_vtable_t marker_vt = {
    .kind = "test-marker",
    .open = marker_open,
    .process_batch = marker_batch,
    .close = op_close,
    .process_barrier = marker_barrier,
};

static int co_open(const void *spec, sp_op_ctx_t *ctx, void **inst)
{
    op_inst_t *o = sp_xcalloc(1, sizeof *o);
    o->rec = (record_t *)spec;
    o->ctx = ctx;
    *inst = o;
    return SPATE_OK;
}

static int co_batch(void *inst, int input, sp_batch_t *b)
{
    op_inst_t *o = inst;
    record_t *r = o->rec;
    for (uint32_t i = 0; i < b->count; i++) {
        spate_row_t row = { b, i };
        if (spate_row_get_bigint(&row, 1) != r->next_v[input]) r->order_ok = false;
        r->next_v[input]++;
    }
    r->seen[input] += b->count;
    if (r->co_sleep_ms) sp_sleep_ms(r->co_sleep_ms);
    return SPATE_OK;
}

static int co_barrier(void *inst, int64_t id)
{
    op_inst_t *o = inst;
    record_t *r = o->rec;
    if (id >= 1 && id <= NCK) {
        r->seen_at[0][id] = r->seen[0];
        r->seen_at[1][id] = r->seen[1];
    }
    atomic_store(&r->last_barrier, (int)id);
    return SPATE_OK;
}

static const sp_op_vtable_t co_vt = {
    .kind = "test-two-input",
    .open = co_open,
    .process_batch = co_batch,
    .close = op_close,
    .process_barrier = co_barrier,
};

/* Source 0 is fast, source 1 slow (its marker sleeps per batch), so barrier n reaches the two-input
 * operator on input 0 well before input 1, with input 0's later rows right behind it. */
static void run_two_inputs_cfg(const char *mode, bool unaligned, record_t *r)
{
    memset(r, 0, sizeof *r);
    r->order_ok = true;
    if (unaligned)
        r->co_sleep_ms = 1; /* the channels fill up: barriers queue behind rows on both inputs */
    else
        r->sleep_ms[1] = 3;
    int64_t live = sp_batch_live_bytes();
    spate_env_t *env = spate_env_create();
    if (mode) assert_int_equal(spate_env_set_config(env, "execution.checkpointing.mode", mode), SPATE_OK);
    if (unaligned)
        assert_int_equal(spate_env_set_config(env, "execution.checkpointing.unaligned.enabled", "true"),
                         SPATE_OK);
    marker_spec_t ms[2] = { { r, 0 }, { r, 1 } };
    spate_stream_t *in[2];
    for (int i = 0; i < 2; i++) {
        tu_seq_opts_t o = { .n = 0, .keys = 1, .parallel = false, .rows_per_poll = i == 0 ? 64 : 4 };
        spate_stream_t *s = spate_env_add_source(env, tu_seq_source(&o), i == 0 ? "fast" : "slow");
        in[i] =
            sp_api_add_operator(s, i == 0 ? "mark-fast" : "mark-slow", "Marker", &marker_vt, &ms[i], NULL);
    }
    spate_connected_t *c = spate_stream_connect(in[0], in[1]);
    spate_stream_t *co = sp_api_two_input(c, "two-input", "TwoInput", &co_vt, r, spate_stream_schema(in[0]));
    spate_stream_sink(co, spate_blackhole_sink(), "out");
    spate_job_t *job;
    assert_int_equal(spate_env_start(env, "alignment", &job), SPATE_OK);
    for (int64_t id = 1; id <= NCK; id++) {
        sp_sleep_ms(20);
        assert_int_equal(sp_job_trigger_barrier(job, id), SPATE_OK);
    }
    /* at most 10 s; unaligned, the operator may pass a barrier before the other source sent it */
    for (int i = 0;
         i < 1000 && (atomic_load(&r->last_barrier) < NCK || atomic_load(&r->marker_last[0]) < NCK ||
                      atomic_load(&r->marker_last[1]) < NCK);
         i++)
        sp_sleep_ms(10);
    spate_job_cancel(job);
    assert_int_equal(spate_job_wait(job), SPATE_ECANCELED);
    spate_job_destroy(job);
    spate_env_destroy(env);
    assert_int_equal(atomic_load(&r->last_barrier), NCK);
    assert_true(r->order_ok);
    assert_int_equal(sp_batch_live_bytes(), live);
}

static void run_two_inputs(const char *mode, record_t *r)
{
    run_two_inputs_cfg(mode, false, r);
}

static void unaligned_through_the_runtime(void **state)
{
    (void)state;
    record_t r;
    run_two_inputs_cfg(NULL, true, &r);
    int64_t overtaken = 0;
    for (int id = 1; id <= NCK; id++) {
        /* the snapshot came when the first barrier arrived, ahead of the rows queued before it (a priority
         * barrier): on neither input a row after its barrier; the rows before it not yet read are in flight */
        for (int i = 0; i < 2; i++) {
            int64_t behind = r.emitted_at[i][id] - r.seen_at[i][id];
            if (behind < 0)
                print_message(
                    "checkpoint %d input %d: %lld rows seen before the snapshot, %lld emitted before "
                    "the barrier\n",
                    id, i, (long long)r.seen_at[i][id], (long long)r.emitted_at[i][id]);
            assert_true(behind >= 0);
            overtaken += behind;
        }
    }
    print_message("rows before a barrier overtaken by it (in flight): %lld\n", (long long)overtaken);
    assert_true(overtaken > 0);
}

static void exactly_once_through_the_runtime(void **state)
{
    (void)state;
    record_t r;
    run_two_inputs(NULL, &r); /* EXACTLY_ONCE is the default */
    for (int id = 1; id <= NCK; id++)
        for (int i = 0; i < 2; i++) {
            /* the operator saw exactly the rows each source emitted before its barrier: none after */
            assert_int_equal(r.seen_at[i][id], r.emitted_at[i][id]);
        }
    assert_true(r.emitted_at[1][NCK] > 0);
}

static void at_least_once_through_the_runtime(void **state)
{
    (void)state;
    record_t r;
    run_two_inputs("at_least_once", &r);
    int64_t passed = 0;
    for (int id = 1; id <= NCK; id++)
        for (int i = 0; i < 2; i++) {
            /* every row before the barrier, and maybe rows after it */
            assert_true(r.seen_at[i][id] >= r.emitted_at[i][id]);
            passed += r.seen_at[i][id] - r.emitted_at[i][id];
        }
    print_message("rows after a barrier processed before it passed: %lld\n", (long long)passed);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(exactly_once_alignment_holds_in_every_order),
    cmocka_unit_test(at_least_once_lets_data_pass),
    cmocka_unit_test(unaligned_captures_in_flight_data_in_every_order),
    cmocka_unit_test(aligned_timeout_switches_the_long_alignments),
    cmocka_unit_test(exactly_once_through_the_runtime),
    cmocka_unit_test(at_least_once_through_the_runtime),
    cmocka_unit_test(unaligned_through_the_runtime),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "runtime");
}
