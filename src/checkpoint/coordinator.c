/*
 * coordinator.c — see coordinator.h.
 *
 * State under one mutex: the pending checkpoints (each a metadata value the
 * acknowledgements fill, and a flag per (operator, subtask)), a ring of
 * statistics, and the trigger bookkeeping.  Store I/O and hooks run outside
 * the lock: a pending checkpoint is taken out of the list before its
 * _metadata is written, so a late acknowledgement finds nothing.  The store
 * calls (begin, complete, abort) take a second lock of their own: with
 * several checkpoints pending they come from different threads.
 */
#include "checkpoint/coordinator.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

typedef struct pending {
    uint64_t id;
    int64_t trigger_ms;
    sp_ckpt_meta_t meta;
    bool *acked; /* per (operator, subtask), flattened by op_base */
    int acks;
    bool savepoint; /* triggered by sp_ckpt_coord_trigger_savepoint */
} pending_t;

struct sp_ckpt_coord {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    sp_ckpt_coord_opts_t opts;
    sp_ckpt_meta_t tmpl;
    int *op_base; /* first flattened index of each operator */
    int expected; /* (operator, subtask) pairs */
    sp_ckpt_store_t *store;
    pthread_mutex_t store_mu; /* the store is not thread-safe: begin, complete and abort of concurrent
                               * checkpoints (max_concurrent > 1) come from different threads */
    const struct spate_clock *clock;
    sp_ckpt_coord_hooks_t hooks;
    pending_t **pending;
    int npending;
    int ending; /* taken out of `pending`, being completed or failed (outside the lock) */
    uint64_t next_id, latest;
    int64_t last_trigger_ms, last_end_ms;
    int failures_in_row;
    sp_ckpt_meta_t finals; /* the final state of finished subtasks (handles per op and subtask) */
    bool *finished;        /* per (operator, subtask) */
    int nfinished;
    sp_ckpt_stats_t stats[SP_CKPT_STATS_KEPT];
    size_t nstats; /* ever recorded; the ring holds the last SP_CKPT_STATS_KEPT */
    bool stop, started, failed_job;
    pthread_t thread;
};

static int64_t now_ms(const sp_ckpt_coord_t *c)
{
    return sp_clock_now(c->clock);
}

static void meta_from_template(const sp_ckpt_meta_t *t, sp_ckpt_meta_t *m)
{
    sp_ckpt_meta_init(m);
    m->kind = t->kind;
    memcpy(m->job_id, t->job_id, sizeof m->job_id);
    sp_ckpt_meta_set_job_name(m, t->job_name);
    m->max_parallelism = t->max_parallelism;
    for (size_t i = 0; i < t->nops; i++) {
        const sp_ckpt_operator_t *o = t->ops[i];
        sp_ckpt_meta_add_operator(m, o->uid, o->name, o->parallelism, o->max_parallelism);
    }
}

sp_ckpt_coord_t *sp_ckpt_coord_create(const sp_ckpt_coord_opts_t *opts, const sp_ckpt_meta_t *tmpl,
                                      sp_ckpt_store_t *store, const struct spate_clock *clock,
                                      const sp_ckpt_coord_hooks_t *hooks)
{
    sp_ckpt_coord_t *c = sp_xcalloc(1, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    pthread_mutex_init(&c->store_mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    c->opts = *opts;
    if (c->opts.max_concurrent < 1) c->opts.max_concurrent = 1;
    if (c->opts.min_pause_ms > 0) c->opts.max_concurrent = 1; /* as Flink: a pause means one at a time */
    meta_from_template(tmpl, &c->tmpl);
    c->op_base = sp_xcalloc(tmpl->nops + 1, sizeof *c->op_base);
    for (size_t i = 0; i < tmpl->nops; i++) {
        c->op_base[i] = c->expected;
        c->expected += (int)tmpl->ops[i]->parallelism;
    }
    c->store = store;
    c->clock = clock;
    c->hooks = *hooks;
    c->pending = sp_xcalloc((size_t)c->opts.max_concurrent, sizeof *c->pending);
    meta_from_template(tmpl, &c->finals);
    c->finished = sp_xcalloc((size_t)c->expected + 1, sizeof *c->finished);
    c->next_id = store ? sp_ckpt_store_next_id(store) : 1;
    if (c->next_id < 1) c->next_id = 1;
    c->latest = store ? sp_ckpt_store_latest(store) : 0;
    c->last_trigger_ms = c->last_end_ms = now_ms(c);
    return c;
}

/* ---- statistics (under the lock) ---- */

static sp_ckpt_stats_t *stats_of(sp_ckpt_coord_t *c, uint64_t id)
{
    size_t n = c->nstats < SP_CKPT_STATS_KEPT ? c->nstats : SP_CKPT_STATS_KEPT;
    for (size_t i = 0; i < n; i++) {
        sp_ckpt_stats_t *s = &c->stats[(c->nstats - 1 - i) % SP_CKPT_STATS_KEPT];
        if (s->id == id) return s;
    }
    return NULL;
}

static void stats_new(sp_ckpt_coord_t *c, uint64_t id, int64_t trigger_ms)
{
    sp_ckpt_stats_t *s = &c->stats[c->nstats++ % SP_CKPT_STATS_KEPT];
    free(s->ops);
    memset(s, 0, sizeof *s);
    s->id = id;
    s->trigger_ms = trigger_ms;
    s->nops = (int)c->tmpl.nops;
    s->ops = sp_xcalloc((size_t)s->nops + 1, sizeof *s->ops);
    s->expected = c->expected;
}

static void stats_end(sp_ckpt_coord_t *c, uint64_t id, sp_ckpt_status_t status, const char *why)
{
    sp_ckpt_stats_t *s = stats_of(c, id);
    if (!s) return;
    s->status = status;
    s->end_ms = now_ms(c);
    if (why) snprintf(s->failure, sizeof s->failure, "%s", why);
}

/* ---- pending checkpoints (under the lock) ---- */

static void pending_free(pending_t *p)
{
    if (!p) return;
    sp_ckpt_meta_fini(&p->meta);
    free(p->acked);
    free(p);
}

/* Takes checkpoint id out of the pending list; NULL when it is not pending. */
static pending_t *take(sp_ckpt_coord_t *c, uint64_t id)
{
    for (int i = 0; i < c->npending; i++)
        if (c->pending[i]->id == id) {
            pending_t *p = c->pending[i];
            c->pending[i] = c->pending[--c->npending];
            c->ending++; /* still counts against max_concurrent until it has ended */
            return p;
        }
    return NULL;
}

/* ---- failing and completing (outside the lock) ---- */

static void store_abort(sp_ckpt_coord_t *c, uint64_t id)
{
    sp_error_t err = { 0 };
    pthread_mutex_lock(&c->store_mu);
    if (c->store) sp_ckpt_store_abort(c->store, id, &err);
    pthread_mutex_unlock(&c->store_mu);
}

/* Checkpoint p failed: abort it in the store, record why, tell the job; a failure that counts
 * (not a subsumed checkpoint) may exceed the tolerable failures and fail the job. */
static void fail(sp_ckpt_coord_t *c, pending_t *p, const char *why, bool counts)
{
    store_abort(c, p->id); /* best effort: a leftover dir is harmless */
    pthread_mutex_lock(&c->mu);
    stats_end(c, p->id, SP_CKPT_FAILED, why);
    c->last_end_ms = now_ms(c);
    c->ending--;
    bool give_up = counts && ++c->failures_in_row > c->opts.tolerable_failures && !c->failed_job;
    if (give_up) c->failed_job = true;
    pthread_mutex_unlock(&c->mu);
    if (c->hooks.abort) c->hooks.abort(c->hooks.ctx, p->id, why);
    if (give_up && c->hooks.fail_job) {
        char msg[1024];
        snprintf(msg, sizeof msg, "Exceeded checkpoint tolerable failure threshold (%d): checkpoint %llu: %s",
                 c->opts.tolerable_failures, (unsigned long long)p->id, why);
        c->hooks.fail_job(c->hooks.ctx, msg);
    }
    pending_free(p);
}

static void complete(sp_ckpt_coord_t *c, pending_t *p)
{
    sp_error_t err = { 0 };
    p->meta.checkpoint_id = p->id;
    p->meta.trigger_ms = p->trigger_ms;
    p->meta.completion_ms = now_ms(c);
    pthread_mutex_lock(&c->store_mu);
    int src = c->store ? sp_ckpt_store_complete(c->store, &p->meta, &err) : SPATE_OK;
    pthread_mutex_unlock(&c->store_mu);
    if (src != SPATE_OK) {
        char why[sizeof err.message + 64];
        snprintf(why, sizeof why, "writing its metadata failed: %s", err.message);
        fail(c, p, why, true);
        return;
    }
    /* before the checkpoint counts as complete: with max_concurrent 1 no newer one can begin (and
     * retention cannot delete this one) while the savepoint copies it */
    if (p->savepoint && c->hooks.savepoint) c->hooks.savepoint(c->hooks.ctx, p->id, &p->meta);
    /* older pending checkpoints are subsumed (as in Flink): they can no longer complete first */
    pending_t *older[64];
    int nolder = 0;
    pthread_mutex_lock(&c->mu);
    if (p->id > c->latest) c->latest = p->id;
    stats_end(c, p->id, SP_CKPT_COMPLETED, NULL);
    c->last_end_ms = now_ms(c);
    c->ending--;
    c->failures_in_row = 0;
    for (int i = 0; i < c->npending && nolder < 64;)
        if (c->pending[i]->id < p->id)
            older[nolder++] = take(c, c->pending[i]->id);
        else
            i++;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (c->hooks.complete) c->hooks.complete(c->hooks.ctx, p->id);
    for (int i = 0; i < nolder; i++) fail(c, older[i], "subsumed by a newer completed checkpoint", false);
    pending_free(p);
}

/* Records the acknowledgement of (op, subtask) in p (under the lock; not acknowledged yet). */
static void record_ack(sp_ckpt_coord_t *c, pending_t *p, int op, int subtask, const sp_ckpt_handle_t *handles,
                       size_t n, const sp_ckpt_ack_info_t *info)
{
    p->acked[c->op_base[op] + subtask] = true;
    p->acks++;
    sp_ckpt_stats_t *s = stats_of(c, p->id);
    for (size_t i = 0; i < n; i++) {
        sp_ckpt_operator_add_handle(p->meta.ops[op], (uint32_t)subtask, &handles[i]);
        if (s) {
            s->state_bytes += handles[i].length;
            s->ops[op].state_bytes += handles[i].length;
            if (handles[i].kind == SP_CKPT_HANDLE_IN_FLIGHT) s->persisted_bytes += handles[i].length;
        }
    }
    if (s) {
        s->acks = p->acks;
        s->ops[op].acks++;
        s->ops[op].ack_ms = now_ms(c);
        if (info && info->alignment_ms > s->alignment_ms) s->alignment_ms = info->alignment_ms;
    }
}

/* Acknowledges p for every finished subtask (under the lock). */
static void ack_finished(sp_ckpt_coord_t *c, pending_t *p)
{
    for (size_t op = 0; op < c->tmpl.nops; op++)
        for (uint32_t i = 0; i < c->tmpl.ops[op]->parallelism; i++)
            if (c->finished[c->op_base[op] + (int)i] && !p->acked[c->op_base[op] + (int)i]) {
                const sp_ckpt_subtask_t *st = &c->finals.ops[op]->subtasks[i];
                record_ack(c, p, (int)op, (int)i, st->handles, st->nhandles, NULL);
            }
}

/* ---- triggering ---- */

static int trigger(sp_ckpt_coord_t *c, bool savepoint, uint64_t *id, sp_error_t *err)
{
    pthread_mutex_lock(&c->mu);
    if (c->stop || c->failed_job || c->npending + c->ending >= c->opts.max_concurrent) {
        bool stopped = c->stop || c->failed_job;
        pthread_mutex_unlock(&c->mu);
        return sp_error_set(err, SPATE_ESTATE,
                            stopped
                                ? "checkpoint: the coordinator has stopped"
                                : "checkpoint: %d checkpoint(s) pending already (max-concurrent-checkpoints)",
                            c->opts.max_concurrent);
    }
    uint64_t n = c->next_id++;
    c->ending++; /* reserved while chk-<n>/ is begun: acknowledgements may only come after that */
    pthread_mutex_unlock(&c->mu);
    if (id) *id = n;
    sp_error_t e = { 0 };
    pthread_mutex_lock(&c->store_mu);
    int rc = c->store ? sp_ckpt_store_begin(c->store, n, &e) : SPATE_OK;
    pthread_mutex_unlock(&c->store_mu);
    pending_t *p = sp_xcalloc(1, sizeof *p);
    p->id = n;
    p->trigger_ms = now_ms(c);
    meta_from_template(&c->tmpl, &p->meta);
    p->acked = sp_xcalloc((size_t)c->expected + 1, sizeof *p->acked);
    p->savepoint = savepoint;
    pthread_mutex_lock(&c->mu);
    c->last_trigger_ms = p->trigger_ms;
    stats_new(c, n, p->trigger_ms);
    stats_of(c, n)->savepoint = savepoint;
    if (rc != SPATE_OK) { /* fail() ends the reservation */
        pthread_mutex_unlock(&c->mu);
        fail(c, p, e.message, true);
        return err ? sp_error_set(err, rc, "%s", e.message) : rc;
    }
    c->ending--;
    c->pending[c->npending++] = p;
    ack_finished(c, p);
    pthread_mutex_unlock(&c->mu);
    int (*inject)(void *, uint64_t) =
        savepoint && c->hooks.trigger_savepoint ? c->hooks.trigger_savepoint : c->hooks.trigger;
    if (inject && (rc = inject(c->hooks.ctx, n)) != SPATE_OK)
        sp_error_set(&e, rc, "the job could not inject barrier %llu", (unsigned long long)n);
    if (rc != SPATE_OK) {
        pthread_mutex_lock(&c->mu);
        pending_t *q = take(c, n);
        pthread_mutex_unlock(&c->mu);
        /* not counted against the tolerable failures: the job was not ready for it (its tasks are
         * starting or stopping), as Flink's CHECKPOINT_DECLINED_TASK_NOT_READY */
        if (q) fail(c, q, e.message, rc != SPATE_ESTATE);
        return err ? sp_error_set(err, rc, "%s", e.message) : rc;
    }
    pthread_mutex_lock(&c->mu); /* every subtask finished already (or none to hear from) */
    pending_t *q = NULL;
    for (int i = 0; i < c->npending; i++)
        if (c->pending[i]->id == n && c->pending[i]->acks == c->expected) q = take(c, n);
    pthread_mutex_unlock(&c->mu);
    if (q) complete(c, q);
    return SPATE_OK;
}

int sp_ckpt_coord_trigger(sp_ckpt_coord_t *c, uint64_t *id, sp_error_t *err)
{
    return trigger(c, false, id, err);
}

int sp_ckpt_coord_trigger_savepoint(sp_ckpt_coord_t *c, uint64_t *id, sp_error_t *err)
{
    return trigger(c, true, id, err);
}

bool sp_ckpt_coord_finish(sp_ckpt_coord_t *c, int op, int subtask, const sp_ckpt_handle_t *handles, size_t n)
{
    pthread_mutex_lock(&c->mu);
    if (op < 0 || (size_t)op >= c->tmpl.nops || subtask < 0 ||
        (uint32_t)subtask >= c->tmpl.ops[op]->parallelism || c->finished[c->op_base[op] + subtask]) {
        pthread_mutex_unlock(&c->mu);
        return false;
    }
    c->finished[c->op_base[op] + subtask] = true;
    bool all = ++c->nfinished == c->expected;
    for (size_t i = 0; i < n; i++)
        sp_ckpt_operator_add_handle(c->finals.ops[op], (uint32_t)subtask, &handles[i]);
    pending_t *done[64];
    int ndone = 0;
    for (int i = 0; i < c->npending;) {
        pending_t *p = c->pending[i];
        ack_finished(c, p);
        if (p->acks == c->expected && ndone < 64)
            done[ndone++] = take(c, p->id);
        else
            i++;
    }
    pthread_mutex_unlock(&c->mu);
    for (int i = 0; i < ndone; i++) complete(c, done[i]);
    return all;
}

bool sp_ckpt_coord_ack(sp_ckpt_coord_t *c, uint64_t id, int op, int subtask, const sp_ckpt_handle_t *handles,
                       size_t n, const sp_ckpt_ack_info_t *info)
{
    pthread_mutex_lock(&c->mu);
    pending_t *p = NULL;
    for (int i = 0; i < c->npending; i++)
        if (c->pending[i]->id == id) p = c->pending[i];
    if (!p || op < 0 || (size_t)op >= c->tmpl.nops || subtask < 0 ||
        (uint32_t)subtask >= c->tmpl.ops[op]->parallelism || p->acked[c->op_base[op] + subtask]) {
        pthread_mutex_unlock(&c->mu);
        return false;
    }
    record_ack(c, p, op, subtask, handles, n, info);
    pending_t *done = p->acks == c->expected ? take(c, id) : NULL;
    pthread_mutex_unlock(&c->mu);
    if (done) complete(c, done);
    return true;
}

void sp_ckpt_coord_decline(sp_ckpt_coord_t *c, uint64_t id, int op, int subtask, const char *why)
{
    pthread_mutex_lock(&c->mu);
    pending_t *p = take(c, id);
    pthread_mutex_unlock(&c->mu);
    if (!p) return;
    char msg[512];
    const char *name = op >= 0 && (size_t)op < c->tmpl.nops ? c->tmpl.ops[op]->name : "?";
    snprintf(msg, sizeof msg, "declined by operator '%s' (%d): %s", name, subtask + 1, why ? why : "");
    fail(c, p, msg, true);
}

/* ---- the thread: periodic triggers and timeouts ---- */

static void *coord_main(void *arg)
{
    sp_ckpt_coord_t *c = arg;
    pthread_mutex_lock(&c->mu);
    while (!c->stop) {
        int64_t now = now_ms(c);
        pending_t *expired = NULL;
        for (int i = 0; i < c->npending && !expired; i++)
            if (c->opts.timeout_ms > 0 && now - c->pending[i]->trigger_ms >= c->opts.timeout_ms)
                expired = take(c, c->pending[i]->id);
        bool due = c->opts.interval_ms > 0 && !c->failed_job &&
                   c->npending + c->ending < c->opts.max_concurrent &&
                   now - c->last_trigger_ms >= c->opts.interval_ms &&
                   (c->opts.min_pause_ms <= 0 || now - c->last_end_ms >= c->opts.min_pause_ms);
        if (expired || due) {
            pthread_mutex_unlock(&c->mu);
            if (expired)
                fail(c, expired, "expired before completing (execution.checkpointing.timeout)", true);
            if (due) sp_ckpt_coord_trigger(c, NULL, NULL); /* a failure is recorded in its statistics */
            pthread_mutex_lock(&c->mu);
            continue;
        }
        /* Sleep until something may be due; a manual clock moves by itself, so look often. */
        int64_t wait_ms = c->clock ? 2 : 100;
        if (!c->clock && c->opts.interval_ms > 0) {
            int64_t next = c->last_trigger_ms + c->opts.interval_ms - now;
            if (next < wait_ms) wait_ms = next > 1 ? next : 1;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
        ts.tv_sec += (time_t)(wait_ms / 1000) + ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

int sp_ckpt_coord_start(sp_ckpt_coord_t *c, sp_error_t *err)
{
    pthread_mutex_lock(&c->mu);
    c->started = true; /* before the thread exists: it reads the fields next to this one */
    pthread_mutex_unlock(&c->mu);
    if (pthread_create(&c->thread, NULL, coord_main, c) != 0) {
        c->started = false;
        return sp_error_set(err, SPATE_EIO, "checkpoint coordinator: cannot start its thread");
    }
    return SPATE_OK;
}

void sp_ckpt_coord_destroy(sp_ckpt_coord_t *c)
{
    if (!c) return;
    pthread_mutex_lock(&c->mu);
    c->stop = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (c->started) pthread_join(c->thread, NULL);
    while (c->npending) {
        pending_t *p = c->pending[--c->npending];
        store_abort(c, p->id);
        pending_free(p);
    }
    for (size_t i = 0; i < SP_CKPT_STATS_KEPT; i++) free(c->stats[i].ops);
    sp_ckpt_meta_fini(&c->tmpl);
    sp_ckpt_meta_fini(&c->finals);
    free(c->finished);
    free(c->op_base);
    free(c->pending);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->store_mu);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

size_t sp_ckpt_coord_stats_count(sp_ckpt_coord_t *c)
{
    pthread_mutex_lock(&c->mu);
    size_t n = c->nstats < SP_CKPT_STATS_KEPT ? c->nstats : SP_CKPT_STATS_KEPT;
    pthread_mutex_unlock(&c->mu);
    return n;
}

bool sp_ckpt_coord_stats_at(sp_ckpt_coord_t *c, size_t i, sp_ckpt_stats_t *out)
{
    pthread_mutex_lock(&c->mu);
    size_t n = c->nstats < SP_CKPT_STATS_KEPT ? c->nstats : SP_CKPT_STATS_KEPT;
    bool ok = i < n;
    if (ok) {
        const sp_ckpt_stats_t *s = &c->stats[(c->nstats - n + i) % SP_CKPT_STATS_KEPT];
        *out = *s;
        out->ops = sp_xcalloc((size_t)s->nops + 1, sizeof *out->ops);
        memcpy(out->ops, s->ops, sizeof *out->ops * (size_t)s->nops);
    }
    pthread_mutex_unlock(&c->mu);
    return ok;
}

uint64_t sp_ckpt_coord_latest(sp_ckpt_coord_t *c)
{
    pthread_mutex_lock(&c->mu);
    uint64_t id = c->latest;
    pthread_mutex_unlock(&c->mu);
    return id;
}
