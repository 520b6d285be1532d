/* test_twophase.c — the two-phase-commit sink driver through the public interface
 * (spate_twophase_sink): a user sink over an in-memory "external system" with staged and
 * published rows, driven through the sink operator's checkpoint hooks as the coordinator will,
 * and in a whole job. */
#include "connectors/connector.h"

#include "api/api.h"
#include "connectors/csv.h"
#include "state/operator_state.h"
#include "state/opsnap.h"

#include "test_main.h"
#include "test_util.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* ---- the external system: transactions staged by number, published on commit ---- */

#define MAX_TXN 64

typedef struct store {
    pthread_mutex_t mu;
    sp_text_buf_t staged[MAX_TXN];
    bool committed[MAX_TXN], aborted[MAX_TXN];
    int ntxn;
    sp_text_buf_t published; /* committed rows, in commit order */
    int begins, commits, commit_by[MAX_TXN], recovers, recovered_n, destroyed;
    int fail_commits; /* the next n commits fail */
} store_t;

static void store_init(store_t *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    sp_text_buf_append(&s->published, "", 0);
}

static void store_fini(store_t *s)
{
    for (int i = 0; i < MAX_TXN; i++) sp_text_buf_fini(&s->staged[i]);
    sp_text_buf_fini(&s->published);
    pthread_mutex_destroy(&s->mu);
}

/* The published rows as a string (borrowed). */
static const char *published(store_t *s)
{
    sp_text_buf_append(&s->published, "", 1);
    s->published.len--;
    return s->published.data;
}

typedef struct writer {
    store_t *s;
    int sub;
    int txn; /* current transaction, -1: none */
} writer_t;

static int w_open(void *ctx, spate_sink_context_t *c, void **out)
{
    writer_t *w = sp_xcalloc(1, sizeof *w);
    w->s = ctx;
    w->sub = spate_sink_context_task(c)->subtask_index;
    w->txn = -1;
    *out = w;
    return SPATE_OK;
}

static int w_begin(void *writer, spate_sink_context_t *c)
{
    writer_t *w = writer;
    SP_UNUSED(c);
    pthread_mutex_lock(&w->s->mu);
    w->txn = w->s->ntxn++;
    w->s->begins++;
    pthread_mutex_unlock(&w->s->mu);
    assert_true(w->txn < MAX_TXN);
    return SPATE_OK;
}

static int w_write(void *writer, const spate_row_t *rows, size_t n, spate_sink_context_t *c)
{
    writer_t *w = writer;
    if (w->txn < 0) return spate_sink_fail(c, SPATE_ESTATE, "write outside a transaction");
    pthread_mutex_lock(&w->s->mu);
    for (size_t i = 0; i < n; i++) {
        char line[64];
        int len = snprintf(line, sizeof line, "%lld\n", (long long)spate_row_get_bigint(&rows[i], 1));
        sp_text_buf_append(&w->s->staged[w->txn], line, (size_t)len);
    }
    pthread_mutex_unlock(&w->s->mu);
    return SPATE_OK;
}

static int w_pre_commit(void *writer, int64_t id, spate_txn_t *txn, spate_sink_context_t *c)
{
    writer_t *w = writer;
    SP_UNUSED(id);
    SP_UNUSED(c);
    uint8_t b = (uint8_t)w->txn;
    spate_txn_append(txn, &b, 1);
    w->txn = -1;
    return SPATE_OK;
}

static int w_commit(void *writer, const void *txn, size_t len, spate_sink_context_t *c)
{
    writer_t *w = writer;
    int t = *(const uint8_t *)txn;
    if (len != 1 || t >= MAX_TXN) return spate_sink_fail(c, SPATE_EPARSE, "bad transaction");
    pthread_mutex_lock(&w->s->mu);
    int rc = SPATE_OK;
    if (w->s->fail_commits > 0) {
        w->s->fail_commits--;
        rc = spate_sink_fail(c, SPATE_EIO, "commit of transaction %d failed", t);
    } else if (!w->s->committed[t] && !w->s->aborted[t]) {
        w->s->committed[t] = true;
        w->s->commits++;
        w->s->commit_by[t] = w->sub;
        sp_text_buf_append(&w->s->published, w->s->staged[t].data ? w->s->staged[t].data : "",
                           w->s->staged[t].len);
    }
    pthread_mutex_unlock(&w->s->mu);
    return rc;
}

static int w_abort(void *writer, const void *txn, size_t len, spate_sink_context_t *c)
{
    writer_t *w = writer;
    SP_UNUSED(c);
    SP_UNUSED(len);
    int t = txn ? *(const uint8_t *)txn : w->txn;
    pthread_mutex_lock(&w->s->mu);
    if (t >= 0 && !w->s->committed[t]) w->s->aborted[t] = true;
    pthread_mutex_unlock(&w->s->mu);
    if (!txn) w->txn = -1;
    return SPATE_OK;
}

static int w_recover(void *writer, const void *const *pending, const size_t *lens, size_t n,
                     spate_sink_context_t *c)
{
    writer_t *w = writer;
    SP_UNUSED(pending);
    SP_UNUSED(lens);
    SP_UNUSED(c);
    pthread_mutex_lock(&w->s->mu);
    w->s->recovers++;
    w->s->recovered_n = (int)n;
    pthread_mutex_unlock(&w->s->mu);
    return SPATE_OK;
}

static void w_close(void *writer)
{
    free(writer);
}

static void s_destroy(void *ctx)
{
    ((store_t *)ctx)->destroyed++;
}

static spate_twophase_sink_function_t functions(store_t *s)
{
    return (spate_twophase_sink_function_t){ .kind = "memory",
                                             .ctx = s,
                                             .destroy = s_destroy,
                                             .open = w_open,
                                             .begin_transaction = w_begin,
                                             .write = w_write,
                                             .pre_commit = w_pre_commit,
                                             .commit = w_commit,
                                             .abort = w_abort,
                                             .recover = w_recover,
                                             .close = w_close };
}

/* ---- driving the sink operator ---- */

typedef struct op {
    sp_op_ctx_t ctx;
    sp_error_t err;
    void *inst;
} op_t;

static void op_open(op_t *o, const spate_sink_t *sink, int sub, int p)
{
    memset(o, 0, sizeof *o);
    o->ctx.info = (spate_task_info_t){ "sink", sub, p, 128, 0 };
    o->ctx.error = &o->err;
    assert_int_equal(sp_sink_op.open(sink, &o->ctx, &o->inst), SPATE_OK);
}

/* Rows (k = 0, v) for v = first .. first+n-1. */
static void op_write(op_t *o, int first, int n)
{
    spate_schema_t *schema = spate_schema_of("k BIGINT, v BIGINT");
    sp_batch_t *b = NULL;
    sp_error_t err = { 0 };
    spate_collector_t c;
    sp_collector_init(&c, schema, (uint32_t)n, tu_keep_batch, &b, &err);
    for (int v = first; v < first + n; v++) {
        spate_out_set_bigint(&c, 0, 0);
        spate_out_set_bigint(&c, 1, v);
        assert_int_equal(spate_out_emit(&c), SPATE_OK);
    }
    sp_collector_flush(&c);
    sp_collector_fini(&c);
    assert_int_equal(sp_sink_op.process_batch(o->inst, 0, b), SPATE_OK);
    sp_batch_release(b);
    spate_schema_release(schema);
}

static sp_opstate_bytes_t op_checkpoint(op_t *o, int64_t id)
{
    sp_opstate_bytes_t b = { 0 };
    assert_int_equal(sp_sink_op.process_barrier(o->inst, id), SPATE_OK);
    assert_int_equal(sp_sink_op.snapshot(o->inst, id, &b.data, &b.len), SPATE_OK);
    return b;
}

static int take_sink_section(void *ctx, const sp_opsnap_section_t *sec)
{
    if (sec->kind != SP_OPSNAP_OPERATOR || strcmp(sec->name, "sink") != 0) return 0;
    *(sp_opsnap_section_t *)ctx = *sec;
    return 1;
}

/* Number of pending transactions recorded in a snapshot (the "sink" section of its container). */
static size_t pending_in(const sp_opstate_bytes_t *b)
{
    sp_opsnap_section_t sec = { 0 };
    sp_error_t err = { 0 };
    assert_int_equal(sp_opsnap_parse(b->data, b->len, take_sink_section, &sec, &err), 1);
    sp_opstate_t *st = sp_opstate_create();
    assert_int_equal(sp_opstate_restore(st, sec.payload, sec.len, &err), SPATE_OK);
    const sp_opstate_list_t *l = sp_opstate_find(st, SP_TWOPHASE_STATE_NAME);
    assert_non_null(l);
    assert_int_equal(sp_opstate_list_mode(l), SP_OPSTATE_UNION);
    size_t n = sp_opstate_list_size(l);
    sp_opstate_destroy(st);
    return n;
}

static char *lines(int first, int n)
{
    sp_text_buf_t t = { 0 };
    sp_text_buf_append(&t, "", 0);
    for (int v = first; v < first + n; v++) {
        char line[32];
        int len = snprintf(line, sizeof line, "%d\n", v);
        sp_text_buf_append(&t, line, (size_t)len);
    }
    sp_text_buf_append(&t, "", 1);
    return t.data;
}

/* ---- cases ---- */

static void rows_are_published_when_their_checkpoint_completes(void **state)
{
    (void)state;
    store_t s;
    store_init(&s);
    spate_twophase_sink_function_t fn = functions(&s);
    spate_sink_t *sink = spate_twophase_sink(&fn);
    assert_non_null(sink);
    assert_string_equal(sink->vt->kind, "memory");
    op_t o;
    op_open(&o, sink, 0, 1);

    /* a barrier without rows: no transaction at all */
    sp_opstate_bytes_t s0 = op_checkpoint(&o, 1);
    assert_int_equal(s.begins, 0);
    assert_int_equal(pending_in(&s0), 0);

    op_write(&o, 0, 5);
    op_write(&o, 5, 5);
    sp_opstate_bytes_t s2 = op_checkpoint(&o, 2);
    assert_int_equal(pending_in(&s2), 1);
    op_write(&o, 10, 5);
    sp_opstate_bytes_t s3 = op_checkpoint(&o, 3);
    assert_int_equal(pending_in(&s3), 2); /* 2 was not notified yet */
    op_write(&o, 15, 5);
    assert_string_equal(published(&s), "");

    assert_int_equal(sp_sink_op.notify_checkpoint_complete(o.inst, 2), SPATE_OK);
    char *want = lines(0, 10);
    assert_string_equal(published(&s), want);
    free(want);
    sp_opstate_bytes_t s4 = op_checkpoint(&o, 4);
    assert_int_equal(pending_in(&s4), 2); /* 3 and 4 */
    assert_int_equal(sp_sink_op.notify_checkpoint_complete(o.inst, 4), SPATE_OK);
    want = lines(0, 20);
    assert_string_equal(published(&s), want);
    free(want);

    op_write(&o, 20, 3);
    assert_int_equal(sp_sink_op.end_input(o.inst), SPATE_OK); /* the final transaction commits */
    want = lines(0, 23);
    assert_string_equal(published(&s), want);
    free(want);
    assert_int_equal(s.begins, 4);
    assert_int_equal(s.commits, 4);
    sp_sink_op.close(o.inst);
    sp_opstate_bytes_free(&s0);
    sp_opstate_bytes_free(&s2);
    sp_opstate_bytes_free(&s3);
    sp_opstate_bytes_free(&s4);
    spate_sink_destroy(sink);
    assert_int_equal(s.destroyed, 1);
    store_fini(&s);
}

static void restore_commits_each_transaction_once(void **state)
{
    (void)state;
    store_t s;
    store_init(&s);
    spate_twophase_sink_function_t fn = functions(&s);
    spate_sink_t *sink = spate_twophase_sink(&fn);
    /* two subtasks pre-commit at barrier 7, write on, then fail */
    sp_opstate_bytes_t old[2];
    for (int sub = 0; sub < 2; sub++) {
        op_t o;
        op_open(&o, sink, sub, 2);
        op_write(&o, 100 * sub, 3);
        old[sub] = op_checkpoint(&o, 7);
        op_write(&o, 100 * sub + 3, 3);
        sp_sink_op.close(o.inst); /* no end of input: the open transaction is aborted */
    }
    assert_true(s.aborted[1] && s.aborted[3]);
    assert_string_equal(published(&s), "");

    /* restore at parallelism 3: the union list reaches every subtask, each transaction is
     * committed by (old subtask mod 3) only */
    sp_error_t err = { 0 };
    for (int sub = 0; sub < 3; sub++) {
        op_t o;
        op_open(&o, sink, sub, 3);
        assert_int_equal(tu_op_restore(&sp_sink_op, o.inst, old, 2, sub, 3), SPATE_OK);
        assert_int_equal(s.recovered_n, 2);
        sp_sink_op.close(o.inst);
    }
    assert_int_equal(s.recovers, 3);
    assert_int_equal(s.commits, 2);
    assert_int_equal(s.commit_by[0], 0);
    assert_int_equal(s.commit_by[2], 1);
    assert_string_equal(published(&s), "0\n1\n2\n100\n101\n102\n");

    /* a second restore from the same checkpoint (a later failure) publishes nothing again */
    op_t o;
    op_open(&o, sink, 0, 1);
    assert_int_equal(tu_op_restore(&sp_sink_op, o.inst, old, 2, 0, 1), SPATE_OK);
    sp_sink_op.close(o.inst);
    assert_string_equal(published(&s), "0\n1\n2\n100\n101\n102\n");

    /* a malformed pending element */
    sp_opstate_t *st = sp_opstate_create();
    sp_opstate_list_add(sp_opstate_declare(st, SP_TWOPHASE_STATE_NAME, SP_OPSTATE_UNION, &err), "short", 5);
    sp_opstate_bytes_t raw, bad;
    sp_opstate_snapshot(st, &raw);
    sp_opstate_destroy(st);
    sp_opsnap_t c; /* in the sink's section of a container, as the sink's snapshot stores it */
    sp_opsnap_init(&c);
    sp_opsnap_add(&c, SP_OPSNAP_OPERATOR, "sink", raw.data, raw.len);
    sp_opsnap_finish(&c, &bad.data, &bad.len);
    sp_opstate_bytes_free(&raw);
    op_open(&o, sink, 0, 1);
    assert_int_equal(tu_op_restore(&sp_sink_op, o.inst, &bad, 1, 0, 1), SPATE_EPARSE);
    assert_string_equal(o.err.message,
                        "two-phase sink 'memory': malformed pending transaction in the checkpoint");
    sp_sink_op.close(o.inst);
    sp_opstate_bytes_free(&bad);

    sp_opstate_bytes_free(&old[0]);
    sp_opstate_bytes_free(&old[1]);
    spate_sink_destroy(sink);
    store_fini(&s);
}

static void failed_commit_fails_and_stays_pending(void **state)
{
    (void)state;
    store_t s;
    store_init(&s);
    spate_twophase_sink_function_t fn = functions(&s);
    spate_sink_t *sink = spate_twophase_sink(&fn);
    op_t o;
    op_open(&o, sink, 0, 1);
    op_write(&o, 0, 2);
    sp_opstate_bytes_t s1 = op_checkpoint(&o, 1);
    s.fail_commits = 1;
    assert_int_equal(sp_sink_op.notify_checkpoint_complete(o.inst, 1), SPATE_EIO);
    assert_string_equal(o.err.message, "commit of transaction 0 failed");
    assert_string_equal(published(&s), "");
    sp_opstate_bytes_t s2 = op_checkpoint(&o, 2);
    assert_int_equal(pending_in(&s2), 1); /* still pending, so a restore commits it */
    assert_int_equal(sp_sink_op.notify_checkpoint_complete(o.inst, 2), SPATE_OK);
    assert_string_equal(published(&s), "0\n1\n");
    sp_sink_op.close(o.inst);
    sp_opstate_bytes_free(&s1);
    sp_opstate_bytes_free(&s2);
    spate_sink_destroy(sink);
    store_fini(&s);
}

static void constructor_requires_the_functions(void **state)
{
    (void)state;
    store_t s;
    store_init(&s);
    spate_twophase_sink_function_t fn = functions(&s);
    fn.commit = NULL;
    assert_null(spate_twophase_sink(&fn));
    assert_string_equal(spate_last_error(), "two-phase sink 'memory': commit is required");
    assert_int_equal(s.destroyed, 1); /* ctx passed to the call, which freed it */
    assert_null(spate_twophase_sink(NULL));
    fn = functions(&s);
    fn.kind = NULL;
    fn.recover = NULL;
    spate_sink_t *sink = spate_twophase_sink(&fn);
    assert_non_null(sink);
    assert_string_equal(sink->vt->kind, "twophase");
    spate_sink_t *plain = spate_blackhole_sink();
    assert_null(sp_twophase_sink_function(plain)); /* not a two-phase-commit sink */
    spate_sink_destroy(plain);
    spate_sink_destroy(sink);
    store_fini(&s);
}

static void job_commits_everything_at_end_of_input(void **state)
{
    (void)state;
    store_t s;
    store_init(&s);
    spate_twophase_sink_function_t fn = functions(&s);
    spate_env_t *env = spate_env_create();
    spate_env_set_parallelism(env, 2);
    tu_seq_opts_t so = { .n = 3000, .keys = 5, .parallel = true };
    spate_stream_sink(spate_env_add_source(env, tu_seq_source(&so), "seq"), spate_twophase_sink(&fn),
                      "memory");
    assert_int_equal(spate_env_execute(env, "twophase"), SPATE_OK);
    spate_env_destroy(env);
    assert_int_equal(s.destroyed, 1);
    char *got = tu_sort_lines(published(&s));
    char *all = lines(0, 3000);
    char *want = tu_sort_lines(all);
    assert_string_equal(got, want);
    free(got);
    free(all);
    free(want);
    store_fini(&s);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(rows_are_published_when_their_checkpoint_completes),
    cmocka_unit_test(restore_commits_each_transaction_once),
    cmocka_unit_test(failed_commit_fails_and_stays_pending),
    cmocka_unit_test(constructor_requires_the_functions),
    cmocka_unit_test(job_commits_everything_at_end_of_input),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "connectors_twophase");
}
