/*
 * twophase.c — the two-phase-commit sink driver: turns a
 * spate_twophase_sink_function_t (begin / write / pre-commit / commit /
 * abort / recover, spate/connectors.h) into a sink of the runtime
 * (sp_sink_vtable_t), as Flink's TwoPhaseCommitSinkFunction does for its
 * subclasses.
 *
 * Per subtask the driver keeps:
 *   - whether a transaction is current (begun, not yet pre-committed); one
 *     begins lazily, before the first row after open, restore or pre-commit;
 *   - the pending list: transactions pre-committed at barrier n and not yet
 *     committed, in barrier order, each with its description (the bytes the
 *     connector gave at pre-commit);
 *   - the highest barrier pre-committed at, so a second call for the same
 *     barrier (on_barrier, then snapshot) does nothing.
 *
 * Events:
 *   on_barrier(n)                   pre-commit the current transaction (if any) at n
 *   snapshot(n)                     the same if not done yet; then record the
 *                                   whole pending list in the operator state
 *   notify_checkpoint_complete(n)   commit the pending transactions with id <= n, in order
 *   finish (end of input)           pre-commit the current one (id INT64_MAX) and commit
 *                                   every pending transaction
 *   restore                         commit the restored transactions assigned to this
 *                                   subtask (old subtask mod new parallelism), then
 *                                   recover() with all of them
 *   close                           abort the current transaction if it is open (a
 *                                   failure or cancel); pending ones are left for the
 *                                   restore of the next run
 *
 * ---- Pending transaction in the operator state, format 1 ------------------
 *
 * The list SP_TWOPHASE_STATE_NAME (UNION) holds one element per pending
 * transaction, in barrier order.  Integers little-endian, unaligned.
 *
 *   Offset   Size   Meaning
 *   0        8      checkpoint id of the barrier it was pre-committed at (i64)
 *   8        4      index of the subtask that pre-committed it (u32)
 *   12       N      the connector's description (the rest of the element; N >= 1)
 *
 * A restore treats the elements as untrusted (checkpoint files): an element
 * shorter than 13 bytes fails with SPATE_EPARSE; the description itself is
 * checked by the connector's commit.
 *
 * Thread-safety: a writer is used only on its subtask's thread; the spec
 * (the function table) is immutable and shared.
 */
#include "connectors/connector.h"

#include <stdarg.h>
#include <string.h>

#include "state/operator_state.h"

#define ELEM_HEADER 12

typedef struct tp_spec {
    sp_sink_vtable_t vt; /* this sink's vtable: kind is the user's */
    char *kind;
    spate_twophase_sink_function_t fn;
} tp_spec_t;

typedef struct tp_pending {
    int64_t checkpoint_id;
    uint32_t subtask;
    uint8_t *data; /* description, malloc'd */
    size_t len;
} tp_pending_t;

typedef struct tp_writer {
    const tp_spec_t *spec;
    spate_sink_context_t c;
    void *w; /* the connector's writer */
    bool in_txn;
    int64_t last_barrier; /* highest checkpoint id pre-committed at (0: none) */
    tp_pending_t *pending;
    size_t npending, cap_pending;
    spate_row_t *rows; /* row views of the batch being written */
    size_t cap_rows;
} tp_writer_t;

/* ---- public helpers ---- */

const spate_task_info_t *spate_sink_context_task(const spate_sink_context_t *c)
{
    return &c->info;
}

int spate_sink_fail(spate_sink_context_t *c, int code, const char *fmt, ...)
{
    if (code >= 0) code = SPATE_EUSER;
    va_list ap;
    va_start(ap, fmt);
    sp_error_setv(c->err, code, fmt, ap);
    va_end(ap);
    return code;
}

void spate_txn_append(spate_txn_t *txn, const void *bytes, size_t len)
{
    if (!txn || len == 0) return;
    if (txn->len + len > txn->cap) {
        size_t cap = txn->cap ? txn->cap : 64;
        while (cap < txn->len + len) cap *= 2;
        txn->data = sp_xrealloc(txn->data, cap);
        txn->cap = cap;
    }
    memcpy(txn->data + txn->len, bytes, len);
    txn->len += len;
}

/* ---- transactions ---- */

static int begin_if_needed(tp_writer_t *t)
{
    if (t->in_txn) return SPATE_OK;
    int rc = t->spec->fn.begin_transaction(t->w, &t->c);
    if (rc == SPATE_OK) t->in_txn = true;
    return rc;
}

/* Pre-commits the current transaction at barrier id (once per id) and appends it to the pending
 * list; no current transaction, nothing to do. */
static int pre_commit(tp_writer_t *t, int64_t id)
{
    if (id <= t->last_barrier) return SPATE_OK;
    t->last_barrier = id;
    if (!t->in_txn) return SPATE_OK;
    spate_txn_t txn = { 0 };
    int rc = t->spec->fn.pre_commit(t->w, id, &txn, &t->c);
    if (rc != SPATE_OK) {
        free(txn.data); /* the transaction stays current: close aborts it */
        return rc;
    }
    t->in_txn = false;
    if (txn.len == 0) return SPATE_OK; /* nothing to commit */
    if (t->npending == t->cap_pending) {
        t->cap_pending = t->cap_pending ? 2 * t->cap_pending : 4;
        t->pending = sp_xrealloc(t->pending, t->cap_pending * sizeof *t->pending);
    }
    t->pending[t->npending++] = (tp_pending_t){ id, (uint32_t)t->c.info.subtask_index, txn.data, txn.len };
    return SPATE_OK;
}

/* Commits the pending transactions pre-committed at barriers <= id, oldest first; a failure
 * leaves the failed one and the later ones pending. */
static int commit_upto(tp_writer_t *t, int64_t id)
{
    size_t done = 0;
    int rc = SPATE_OK;
    while (done < t->npending && t->pending[done].checkpoint_id <= id) {
        tp_pending_t *p = &t->pending[done];
        rc = t->spec->fn.commit(t->w, p->data, p->len, &t->c);
        if (rc != SPATE_OK) break;
        free(p->data);
        done++;
    }
    if (done == 0) return rc;
    memmove(t->pending, t->pending + done, (t->npending - done) * sizeof *t->pending);
    t->npending -= done;
    return rc;
}

/* ---- sink vtable ---- */

static int tp_open(const void *spec, const spate_task_info_t *info, sp_error_t *err, void **writer)
{
    const tp_spec_t *s = spec;
    tp_writer_t *t = sp_xcalloc(1, sizeof *t);
    t->spec = s;
    if (info) t->c.info = *info;
    t->c.err = err;
    int rc = s->fn.open(s->fn.ctx, &t->c, &t->w);
    if (rc != SPATE_OK) {
        free(t);
        return rc;
    }
    *writer = t;
    return SPATE_OK;
}

static int tp_write(void *writer, const sp_batch_t *batch, sp_error_t *err)
{
    tp_writer_t *t = writer;
    t->c.err = err;
    if (batch->count == 0) return SPATE_OK;
    int rc = begin_if_needed(t);
    if (rc != SPATE_OK) return rc;
    if (batch->count > t->cap_rows) {
        t->cap_rows = batch->count;
        t->rows = sp_xrealloc(t->rows, t->cap_rows * sizeof *t->rows);
    }
    for (uint32_t i = 0; i < batch->count; i++) t->rows[i] = (spate_row_t){ batch, i };
    return t->spec->fn.write(t->w, t->rows, batch->count, &t->c);
}

static int tp_on_barrier(void *writer, int64_t id, sp_error_t *err)
{
    tp_writer_t *t = writer;
    t->c.err = err;
    return pre_commit(t, id);
}

static void put_le(uint8_t *at, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) at[i] = (uint8_t)(v >> (8 * i));
}

static int tp_snapshot(void *writer, int64_t id, struct sp_opstate *state, sp_error_t *err)
{
    tp_writer_t *t = writer;
    t->c.err = err;
    int rc = pre_commit(t, id);
    if (rc != SPATE_OK) return rc;
    sp_opstate_list_t *l = sp_opstate_declare(state, SP_TWOPHASE_STATE_NAME, SP_OPSTATE_UNION, err);
    if (!l) return err->code;
    sp_opstate_list_clear(l);
    for (size_t i = 0; i < t->npending; i++) {
        const tp_pending_t *p = &t->pending[i];
        uint8_t *e = sp_xmalloc(ELEM_HEADER + p->len);
        put_le(e, (uint64_t)p->checkpoint_id, 8);
        put_le(e + 8, p->subtask, 4);
        memcpy(e + ELEM_HEADER, p->data, p->len);
        sp_opstate_list_add(l, e, ELEM_HEADER + p->len);
        free(e);
    }
    return SPATE_OK;
}

/* The restored elements, collected by sp_opstate_list_get. */
typedef struct restored {
    const void **desc;
    size_t *lens;
    uint32_t *subtask;
    uint8_t **copies;
    size_t n, cap;
    bool bad;
} restored_t;

static int collect_restored(void *ctx, const void *value, size_t len)
{
    restored_t *r = ctx;
    if (len <= ELEM_HEADER) {
        r->bad = true;
        return 1;
    }
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 8;
        r->desc = sp_xrealloc(r->desc, r->cap * sizeof *r->desc);
        r->lens = sp_xrealloc(r->lens, r->cap * sizeof *r->lens);
        r->subtask = sp_xrealloc(r->subtask, r->cap * sizeof *r->subtask);
        r->copies = sp_xrealloc(r->copies, r->cap * sizeof *r->copies);
    }
    uint8_t *copy = sp_xmalloc(len);
    memcpy(copy, value, len);
    r->copies[r->n] = copy;
    r->subtask[r->n] = (uint32_t)sp_get_le(copy + 8, 4);
    r->desc[r->n] = copy + ELEM_HEADER;
    r->lens[r->n] = len - ELEM_HEADER;
    r->n++;
    return 0;
}

static void restored_fini(restored_t *r)
{
    for (size_t i = 0; i < r->n; i++) free(r->copies[i]);
    free(r->desc);
    free(r->lens);
    free(r->subtask);
    free(r->copies);
}

static int tp_restore(void *writer, const struct sp_opstate *state, sp_error_t *err)
{
    tp_writer_t *t = writer;
    t->c.err = err;
    restored_t r = { 0 };
    const sp_opstate_list_t *l = state ? sp_opstate_find(state, SP_TWOPHASE_STATE_NAME) : NULL;
    if (l) (void)sp_opstate_list_get(l, collect_restored, &r);
    int rc = SPATE_OK;
    if (r.bad)
        rc = sp_error_set(err, SPATE_EPARSE,
                          "two-phase sink '%s': malformed pending transaction in the checkpoint",
                          t->spec->kind);
    /* Each restored transaction is committed by one subtask: old index mod new parallelism. */
    int p = t->c.info.parallelism > 0 ? t->c.info.parallelism : 1;
    for (size_t i = 0; i < r.n && rc == SPATE_OK; i++)
        if ((int64_t)(r.subtask[i] % (uint32_t)p) == t->c.info.subtask_index)
            rc = t->spec->fn.commit(t->w, r.desc[i], r.lens[i], &t->c);
    if (rc == SPATE_OK && t->spec->fn.recover) rc = t->spec->fn.recover(t->w, r.desc, r.lens, r.n, &t->c);
    restored_fini(&r);
    return rc;
}

static int tp_notify(void *writer, int64_t id, sp_error_t *err)
{
    tp_writer_t *t = writer;
    t->c.err = err;
    return commit_upto(t, id);
}

static int tp_finish(void *writer, sp_error_t *err)
{
    tp_writer_t *t = writer;
    t->c.err = err;
    int rc = pre_commit(t, INT64_MAX);
    if (rc == SPATE_OK) rc = commit_upto(t, INT64_MAX);
    return rc;
}

static int tp_prepare_finish(void *writer, sp_error_t *err)
{
    tp_writer_t *t = writer;
    t->c.err = err;
    return pre_commit(t, INT64_MAX);
}

static void tp_close(void *writer)
{
    tp_writer_t *t = writer;
    if (!t) return;
    if (t->in_txn) { /* no end of input: a failure or cancel; the data is discarded */
        sp_error_t scratch = { 0 };
        t->c.err = &scratch;
        (void)t->spec->fn.abort(t->w, NULL, 0, &t->c);
    }
    if (t->spec->fn.close) t->spec->fn.close(t->w);
    for (size_t i = 0; i < t->npending; i++) free(t->pending[i].data);
    free(t->pending);
    free(t->rows);
    free(t);
}

static void tp_destroy(void *spec)
{
    tp_spec_t *s = spec;
    if (!s) return;
    if (s->fn.destroy) s->fn.destroy(s->fn.ctx);
    free(s->kind);
    free(s);
}

/* ---- constructors ---- */

spate_sink_t *sp_twophase_sink_new(const spate_twophase_sink_function_t *fn)
{
    tp_spec_t *s = sp_xcalloc(1, sizeof *s);
    s->fn = *fn;
    s->kind = sp_xstrdup(fn->kind ? fn->kind : "twophase");
    s->fn.kind = s->kind;
    s->vt = (sp_sink_vtable_t){
        .kind = s->kind,
        .open = tp_open,
        .write = tp_write,
        .finish = tp_finish,
        .prepare_finish = tp_prepare_finish,
        .close = tp_close,
        .destroy = tp_destroy,
        .on_barrier = tp_on_barrier,
        .snapshot = tp_snapshot,
        .restore = tp_restore,
        .notify_checkpoint_complete = tp_notify,
    };
    return sp_sink_new(&s->vt, s);
}

const spate_twophase_sink_function_t *sp_twophase_sink_function(const spate_sink_t *sink)
{
    return sink && sink->vt->open == tp_open ? &((const tp_spec_t *)sink->spec)->fn : NULL;
}

spate_sink_t *spate_twophase_sink(const spate_twophase_sink_function_t *fn)
{
    if (!fn) {
        sp_set_error(SPATE_EINVAL, "two-phase sink: no function table");
        return NULL;
    }
    const char *missing = !fn->open                ? "open"
                          : !fn->begin_transaction ? "begin_transaction"
                          : !fn->write             ? "write"
                          : !fn->pre_commit        ? "pre_commit"
                          : !fn->commit            ? "commit"
                          : !fn->abort             ? "abort"
                          : !fn->close             ? "close"
                                                   : NULL;
    if (missing) {
        if (fn->destroy) fn->destroy(fn->ctx);
        sp_set_error(SPATE_EINVAL, "two-phase sink '%s': %s is required", fn->kind ? fn->kind : "twophase",
                     missing);
        return NULL;
    }
    return sp_twophase_sink_new(fn);
}
