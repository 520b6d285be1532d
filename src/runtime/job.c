/*
 * job.c — from logical graph to running tasks, and the job's lifecycle.
 *
 * Start: resolve each node's parallelism and each edge's partitioning,
 * chain nodes (forward edge, equal parallelism, single input, chaining not
 * disabled), create one task per chain subtask and the channels of every
 * non-chained edge, then start one thread per task.
 *
 * End: the job finishes when every task finished.  The first task failure
 * records "operator 'NAME' (i/p) failed: MESSAGE", sets the stop flag and
 * wakes every task and every blocked producer, so all threads leave their
 * loops; wait() joins them and frees everything (also queued batches).
 * Cancellation does the same with status CANCELED.
 *
 * Restarts: when the restart strategy allows one (restart-strategy.*), a
 * failure stops the attempt instead of the job, and a supervisor thread
 * joins its tasks, frees them, waits the strategy's delay and starts a new
 * attempt: new tasks and channels, restored from the latest completed
 * checkpoint (or afresh without one).  The job's status stays RUNNING
 * meanwhile; a cancel ends it.
 */
#include "runtime/checkpointing.h"
#include "runtime/task.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

void sp_job_add_skipped(sp_job_t *job, int64_t n)
{
    atomic_fetch_add(&job->skipped, (long long)n);
}

int64_t spate_job_records_skipped(spate_job_t *job)
{
    return (int64_t)atomic_load(&job->skipped);
}

bool sp_job_stopping(const sp_job_t *job)
{
    return atomic_load(&((sp_job_t *)job)->stop);
}

atomic_bool *sp_job_stop_flag(sp_job_t *job)
{
    return &job->stop;
}

static void job_stop(sp_job_t *job)
{
    atomic_store(&job->stop, true);
    for (int c = 0; c < job->nchains; c++)
        for (int i = 0; i < job->chains[c].parallelism; i++)
            sp_notifier_notify(&job->chains[c].tasks[i].notifier);
    for (int i = 0; i < job->nchannels; i++) sp_channel_wake(job->channels[i]);
}

void sp_job_fail(sp_job_t *job, int code, const char *message)
{
    pthread_mutex_lock(&job->mu);
    bool stop = job->status == SPATE_JOB_RUNNING && !job->restart_pending; /* a new attempt comes anyway */
    if (stop) {
        job->status = SPATE_JOB_FAILED;
        job->error_code = code;
        free(job->error);
        job->error = sp_xstrdup(message);
    }
    pthread_cond_broadcast(&job->cv);
    pthread_mutex_unlock(&job->mu);
    if (stop) job_stop(job);
}

void sp_job_task_done(sp_job_t *job, sp_task_t *t, int rc)
{
    bool stop = false;
    pthread_mutex_lock(&job->mu);
    if (rc != SPATE_OK && rc != SPATE_ECANCELED && job->status == SPATE_JOB_RUNNING &&
        !job->restart_pending) {
        const sp_node_t *n = t->failed_node ? t->failed_node : t->ops[0].node;
        char *msg = sp_xasprintf("operator '%s' (%d/%d) failed: %s", n->name, t->subtask + 1, t->parallelism,
                                 t->error.code ? t->error.message : spate_strerror(rc));
        int64_t delay;
        if (job->restarts && !job->cancel_requested &&
            sp_restart_on_failure(&job->restart, sp_clock_now(NULL), &delay)) {
            job->restart_pending = true; /* the supervisor starts a new attempt */
            job->restart_delay_ms = delay;
            free(job->error);
            job->error = msg; /* the last failure, should the restarts run out */
        } else {
            char why[256] = "";
            if (job->restarts) sp_restart_why(&job->restart, why, sizeof why);
            job->status = SPATE_JOB_FAILED;
            job->error_code = rc;
            free(job->error);
            job->error = *why ? sp_xasprintf("%s (%s)", msg, why) : msg;
            if (*why) free(msg);
        }
        stop = true;
    }
    t->done = true;
    if (--job->running == 0 && job->status == SPATE_JOB_RUNNING && !job->restart_pending)
        job->status =
            atomic_load(&job->stop) && !job->stopped_with_savepoint ? SPATE_JOB_CANCELED : SPATE_JOB_FINISHED;
    pthread_cond_broadcast(&job->cv);
    pthread_mutex_unlock(&job->mu);
    if (stop) job_stop(job);
}

static sp_channel_t *new_channel(sp_job_t *job, sp_task_t *consumer, uint32_t cap)
{
    if (job->nchannels == job->cap_channels) {
        job->cap_channels = job->cap_channels ? 2 * job->cap_channels : 16;
        job->channels = sp_xrealloc(job->channels, sizeof *job->channels * (size_t)job->cap_channels);
    }
    sp_channel_t *ch = sp_xcalloc(1, sizeof *ch);
    sp_channel_init(ch, cap, &consumer->notifier, &job->stop);
    job->channels[job->nchannels++] = ch;
    return ch;
}

static void add_input(sp_task_t *t, sp_channel_t *ch, int input)
{
    t->inputs = sp_xrealloc(t->inputs, sizeof *t->inputs * (size_t)(t->ninputs + 1));
    t->inputs[t->ninputs++] =
        (sp_input_t){ .ch = ch, .input = input, .watermark = SP_WATERMARK_MIN, .aligned = true };
}

static sp_writer_t *new_writer(sp_job_t *job, sp_task_t *t, const sp_edge_t *e, int nch)
{
    if (job->nwriters == job->cap_writers) {
        job->cap_writers = job->cap_writers ? 2 * job->cap_writers : 16;
        job->writers = sp_xrealloc(job->writers, sizeof *job->writers * (size_t)job->cap_writers);
    }
    sp_writer_t *w = sp_xcalloc(1, sizeof *w);
    w->kind = e->part;
    w->nch = nch;
    w->ch = sp_xcalloc((size_t)nch, sizeof *w->ch);
    w->scatter = sp_xcalloc((size_t)nch, sizeof *w->scatter);
    w->start = sp_xcalloc((size_t)nch + 1, sizeof *w->start);
    w->key = e->key;
    w->max_parallelism = job->max_parallelism;
    w->custom_fn = e->custom_fn;
    w->custom_ctx = e->custom_ctx;
    w->task = t;
    w->rr = (uint32_t)t->subtask; /* producers start on different targets, so small inputs spread */
    sp_key_init(&w->keybuf);
    job->writers[job->nwriters++] = w;
    return w;
}

static void output_add_writer(sp_output_t *o, sp_writer_t *w, int tag)
{
    o->writers = sp_xrealloc(o->writers, sizeof *o->writers * (size_t)(o->nwriters + 1));
    o->writer_tag = sp_xrealloc(o->writer_tag, sizeof(int) * (size_t)(o->nwriters + 1));
    o->writer_tag[o->nwriters] = tag;
    o->writers[o->nwriters++] = w;
}

static void output_add_chained(sp_output_t *o, sp_opinst_t *op, int input, int tag)
{
    o->chained_tag = sp_xrealloc(o->chained_tag, sizeof(int) * (size_t)(o->nchained + 1));
    o->chained_tag[o->nchained] = tag;
    o->chained = sp_xrealloc(o->chained, sizeof *o->chained * (size_t)(o->nchained + 1));
    o->chained_input = sp_xrealloc(o->chained_input, sizeof(int) * (size_t)(o->nchained + 1));
    o->chained[o->nchained] = op;
    o->chained_input[o->nchained++] = input;
}

/* Frees an attempt's tasks, channels and writers (every task thread joined). */
static void attempt_free(sp_job_t *job)
{
    for (int c = 0; c < job->nchains; c++) {
        sp_chain_t *ch = &job->chains[c];
        for (int i = 0; ch->tasks && i < ch->parallelism; i++) {
            sp_task_t *t = &ch->tasks[i];
            for (int k = 0; k < t->nops; k++) {
                free(t->ops[k].out.chained);
                free(t->ops[k].out.chained_input);
                free(t->ops[k].out.chained_tag);
                free(t->ops[k].out.writer_tag);
                free(t->ops[k].out.writers);
            }
            free(t->ops);
            free(t->inputs);
            sp_mailbox_fini(&t->mailbox);
            sp_notifier_fini(&t->notifier);
        }
        free(ch->tasks);
        ch->tasks = NULL;
    }
    for (int i = 0; i < job->nchannels; i++) {
        sp_channel_fini(job->channels[i]);
        free(job->channels[i]);
    }
    for (int i = 0; i < job->nwriters; i++) {
        sp_writer_t *w = job->writers[i];
        for (int j = 0; j < w->nch; j++)
            if (w->scatter[j]) sp_batch_release(w->scatter[j]);
        sp_key_fini(&w->keybuf);
        free(w->ch);
        free(w->scatter);
        free(w->target);
        free(w->sel);
        free(w->start);
        free(w->keys);
        free(w->owner);
        free(w);
    }
    free(job->channels);
    free(job->writers);
    job->channels = NULL;
    job->writers = NULL;
    job->nchannels = job->cap_channels = job->nwriters = job->cap_writers = 0;
}

static void job_free(sp_job_t *job)
{
    sp_job_ckpt_free(job);
    attempt_free(job);
    for (int c = 0; c < job->nchains; c++) free(job->chains[c].nodes);
    free(job->chains);
    free(job->par);
    free(job->chain_of);
    free(job->pos_in_chain);
    free(job->edges);
    free(job->name);
    sp_restart_fini(&job->restart);
    free(job->error);
    pthread_cond_destroy(&job->cv);
    pthread_mutex_destroy(&job->mu);
    free(job);
}

int sp_node_parallelism(const sp_node_t *n, int def)
{
    if (n->source && !n->source->parallel) return 1;
    return n->parallelism ? n->parallelism : def;
}

/* Resolves parallelism and partitioning; fills job->par and fixes DEFAULT edges in `edges`. */
static int resolve(sp_job_t *job, sp_edge_t *edges, sp_error_t *err)
{
    const sp_graph_t *g = job->g;
    int def = (int)sp_config_get_int(job->config, "parallelism.default");
    for (int i = 0; i < g->nnodes; i++) {
        const sp_node_t *n = g->nodes[i];
        int p = sp_node_parallelism(n, def);
        if (n->source && !n->source->parallel && n->parallelism > 1)
            return sp_error_set(err, SPATE_EINVAL, "source '%s' is not parallel: its parallelism must be 1",
                                n->name);
        if (p > job->max_parallelism)
            return sp_error_set(err, SPATE_EINVAL, "operator '%s': parallelism %d exceeds max parallelism %d",
                                n->name, p, job->max_parallelism);
        job->par[i] = p;
    }
    for (int i = 0; i < g->nedges; i++) {
        sp_edge_t *e = &edges[i];
        int pf = job->par[e->from], pt = job->par[e->to];
        if (e->part == SP_PART_DEFAULT) e->part = pf == pt ? SP_PART_FORWARD : SP_PART_REBALANCE;
        if (e->part == SP_PART_FORWARD && pf != pt)
            return sp_error_set(
                err, SPATE_EINVAL,
                "forward partitioning from '%s' (parallelism %d) to '%s' (parallelism %d) needs "
                "equal parallelism",
                g->nodes[e->from]->name, pf, g->nodes[e->to]->name, pt);
    }
    return SPATE_OK;
}

static int count_in_edges(const sp_graph_t *g, int node)
{
    int n = 0;
    for (int i = 0; i < g->nedges; i++) n += g->edges[i].to == node;
    return n;
}

static void build_chains(sp_job_t *job, const sp_edge_t *edges)
{
    const sp_graph_t *g = job->g;
    job->chains = sp_xcalloc((size_t)g->nnodes, sizeof *job->chains);
    for (int v = 0; v < g->nnodes; v++) {
        const sp_node_t *n = g->nodes[v];
        int chain = -1;
        if (!n->source && count_in_edges(g, v) == 1) {
            const sp_edge_t *e = NULL;
            for (int i = 0; i < g->nedges; i++)
                if (edges[i].to == v) e = &edges[i];
            const sp_node_t *u = g->nodes[e->from];
            if (e->part == SP_PART_FORWARD && job->par[e->from] == job->par[v] && !n->chaining_disabled &&
                !u->chaining_disabled)
                chain = job->chain_of[e->from];
        }
        if (chain < 0) {
            chain = job->nchains++;
            job->chains[chain].parallelism = job->par[v];
        }
        sp_chain_t *c = &job->chains[chain];
        c->nodes = sp_xrealloc(c->nodes, sizeof(int) * (size_t)(c->nnodes + 1));
        job->pos_in_chain[v] = c->nnodes;
        c->nodes[c->nnodes++] = v;
        job->chain_of[v] = chain;
    }
}

static void build_tasks(sp_job_t *job, const sp_edge_t *edges, const char *name)
{
    const sp_graph_t *g = job->g;
    SP_UNUSED(name);
    for (int c = 0; c < job->nchains; c++) {
        sp_chain_t *ch = &job->chains[c];
        ch->tasks = sp_xcalloc_aligned((size_t)ch->parallelism * sizeof *ch->tasks);
        for (int i = 0; i < ch->parallelism; i++) {
            sp_task_t *t = &ch->tasks[i];
            t->job = job;
            t->chain = c;
            t->subtask = i;
            t->parallelism = ch->parallelism;
            t->watermark = SP_WATERMARK_MIN;
            sp_notifier_init(&t->notifier);
            sp_mailbox_init(&t->mailbox);
            t->nops = ch->nnodes;
            t->ops = sp_xcalloc((size_t)ch->nnodes, sizeof *t->ops);
            for (int k = 0; k < ch->nnodes; k++) {
                const sp_node_t *n = g->nodes[ch->nodes[k]];
                sp_opinst_t *op = &t->ops[k];
                op->node = n;
                op->vt = n->source ? NULL : n->vt;
                op->out.task = t;
                op->ctx.info = (spate_task_info_t){ n->name, i, ch->parallelism, job->max_parallelism, 0 };
                op->ctx.out = &op->out;
                op->ctx.error = &t->error;
                op->ctx.batch_mode = job->batch_mode;
                op->ctx.config = job->config;
                op->ctx.out_schema = n->out_schema;
                op->ctx.timer_at = INT64_MAX;
                op->ctx.clock = job->clock;
                op->ctx.side_schema = n->side_schema;
                if (n->source) t->source = n->source;
            }
        }
    }
    uint32_t cap = (uint32_t)sp_config_get_int(job->config, "taskmanager.network.memory.buffers-per-channel");
    for (int ei = 0; ei < g->nedges; ei++) {
        const sp_edge_t *e = &edges[ei];
        sp_chain_t *cu = &job->chains[job->chain_of[e->from]], *cv = &job->chains[job->chain_of[e->to]];
        int pu = job->par[e->from], pv = job->par[e->to];
        for (int i = 0; i < pu; i++) {
            sp_task_t *tu = &cu->tasks[i];
            sp_opinst_t *from = &tu->ops[job->pos_in_chain[e->from]];
            if (job->chain_of[e->from] == job->chain_of[e->to]) { /* chained: a function call */
                sp_opinst_t *to = &tu->ops[job->pos_in_chain[e->to]];
                to->ctx.in_schema[e->input] = g->nodes[e->from]->out_schema;
                output_add_chained(&from->out, to, e->input, e->tag);
                continue;
            }
            int lo = 0, hi = pv; /* targets of producer i */
            if (e->part == SP_PART_FORWARD) {
                lo = i;
                hi = i + 1;
            } else if (e->part == SP_PART_RESCALE) {
                if (pu <= pv) {
                    lo = (int)((int64_t)i * pv / pu);
                    hi = (int)((int64_t)(i + 1) * pv / pu);
                } else {
                    lo = (int)((int64_t)i * pv / pu);
                    hi = lo + 1;
                }
            }
            sp_writer_t *w = new_writer(job, tu, e, hi - lo);
            for (int j = lo; j < hi; j++) {
                sp_task_t *tv = &cv->tasks[j];
                w->ch[j - lo] = new_channel(job, tv, cap);
                add_input(tv, w->ch[j - lo], e->input);
                tv->ops[0].ctx.in_schema[e->input] = g->nodes[e->from]->out_schema;
            }
            output_add_writer(&from->out, w, e->tag);
        }
    }
}

/* Joins the current attempt's task threads (every one ended or ending). */
static void join_tasks(sp_job_t *job)
{
    for (int c = 0; c < job->nchains; c++)
        for (int i = 0; job->chains[c].tasks && i < job->chains[c].parallelism; i++)
            if (job->chains[c].tasks[i].started) {
                pthread_join(job->chains[c].tasks[i].thread, NULL);
                job->chains[c].tasks[i].started = false;
            }
}

/* The job ended: its final status is set (a supervisor has stopped restarting). */
static bool ended(const sp_job_t *job)
{
    return job->restarts ? job->done : job->running == 0;
}

/* Starts the current attempt's task threads, then its checkpoint coordinator.  On failure the tasks
 * started are stopped and joined. */
static int start_attempt(sp_job_t *job, sp_error_t *err)
{
    pthread_mutex_lock(&job->mu);
    for (int c = 0; c < job->nchains; c++)
        for (int i = 0; i < job->chains[c].parallelism; i++) {
            sp_task_t *t = &job->chains[c].tasks[i];
            t->started = false;
            if (pthread_create(&t->thread, NULL, sp_task_main, t) != 0) {
                pthread_mutex_unlock(&job->mu);
                job_stop(job);
                join_tasks(job);
                return sp_error_set(err, SPATE_EINTERNAL, "cannot start a task thread");
            }
            t->started = true;
            job->running++;
        }
    pthread_mutex_unlock(&job->mu);
    int rc = sp_job_ckpt_start(job, err);
    if (rc) {
        job_stop(job);
        join_tasks(job);
    }
    return rc;
}

/* Sleeps ms, in steps, unless the job is cancelled meanwhile (returns false then). */
static bool sleep_unless_cancelled(sp_job_t *job, int64_t ms)
{
    for (int64_t slept = 0; slept < ms; slept += 10) {
        pthread_mutex_lock(&job->mu);
        bool cancel = job->cancel_requested;
        pthread_mutex_unlock(&job->mu);
        if (cancel) return false;
        sp_sleep_ms(ms - slept < 10 ? ms - slept : 10);
    }
    return true;
}

/* The supervisor: after a failed attempt's tasks all ended, a new attempt (see the top). */
static void *supervise(void *arg)
{
    sp_job_t *job = arg;
    for (;;) {
        pthread_mutex_lock(&job->mu);
        while (job->running > 0) pthread_cond_wait(&job->cv, &job->mu);
        bool again = job->restart_pending && !job->cancel_requested;
        int64_t delay = job->restart_delay_ms;
        if (job->restart_pending && job->cancel_requested) job->status = SPATE_JOB_CANCELED;
        pthread_mutex_unlock(&job->mu);
        join_tasks(job);
        if (!again) break;
        sp_job_ckpt_stop(job);
        attempt_free(job);
        sp_error_t err = { 0 };
        int rc = SPATE_OK;
        if (!sleep_unless_cancelled(job, delay)) {
            rc = SPATE_ECANCELED;
        } else {
            atomic_store(&job->stop, false);
            job->attempt++;
            build_tasks(job, job->edges, job->name);
            rc = sp_job_ckpt_restart(job, &err);
            sp_job_ckpt_mark_tasks(job);
        }
        pthread_mutex_lock(&job->mu);
        job->restart_pending = false;
        pthread_mutex_unlock(&job->mu);
        if (rc == SPATE_OK) rc = start_attempt(job, &err);
        if (rc != SPATE_OK) {
            pthread_mutex_lock(&job->mu);
            if (job->status == SPATE_JOB_RUNNING) {
                job->status = rc == SPATE_ECANCELED ? SPATE_JOB_CANCELED : SPATE_JOB_FAILED;
                if (rc != SPATE_ECANCELED) {
                    job->error_code = rc;
                    char *msg = sp_xasprintf("restarting the job failed: %s", err.message);
                    free(job->error);
                    job->error = msg;
                }
            }
            pthread_mutex_unlock(&job->mu);
            break;
        }
    }
    pthread_mutex_lock(&job->mu);
    job->done = true;
    pthread_cond_broadcast(&job->cv);
    pthread_mutex_unlock(&job->mu);
    return NULL;
}

static int job_start(const sp_graph_t *g, const sp_config_t *config, const spate_clock_t *clock,
                     const char *name, bool dry, sp_job_t **out, sp_error_t *err)
{
    *out = NULL;
    if (g->nnodes == 0) return sp_error_set(err, SPATE_EINVAL, "the job has no operators");
    bool has_sink = false;
    for (int i = 0; i < g->nnodes; i++) has_sink |= g->nodes[i]->is_sink;
    if (!has_sink)
        return sp_error_set(err, SPATE_EINVAL, "the job has no sink: add one with spate_stream_sink()");

    sp_job_t *job = sp_xcalloc(1, sizeof *job);
    pthread_mutex_init(&job->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* timed waits immune to wall-clock jumps */
    pthread_cond_init(&job->cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&job->stop, false);
    job->status = SPATE_JOB_RUNNING;
    job->g = g;
    job->config = config;
    job->clock = clock;
    job->dry_restore = dry;
    job->max_parallelism = (int)sp_config_get_int(config, "pipeline.max-parallelism");
    const char *mode = sp_config_get(config, "execution.runtime-mode");
    bool all_bounded = true;
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i]->source && !g->nodes[i]->source->bounded) all_bounded = false;
    if (!strcmp(mode, "BATCH") && !all_bounded) {
        job_free(job);
        return sp_error_set(
            err, SPATE_EINVAL,
            "execution.runtime-mode BATCH needs bounded sources, and this job has an unbounded one");
    }
    job->batch_mode = !strcmp(mode, "BATCH") || (!strcmp(mode, "AUTOMATIC") && all_bounded);
    job->par = sp_xcalloc((size_t)g->nnodes, sizeof(int));
    job->chain_of = sp_xcalloc((size_t)g->nnodes, sizeof(int));
    job->pos_in_chain = sp_xcalloc((size_t)g->nnodes, sizeof(int));
    sp_edge_t *edges = sp_xmalloc(sizeof *edges * (size_t)(g->nedges ? g->nedges : 1));
    memcpy(edges, g->edges, sizeof *edges * (size_t)g->nedges);
    int rc = resolve(job, edges, err);
    if (rc) {
        free(edges);
        job_free(job);
        return rc;
    }
    build_chains(job, edges);
    job->edges = edges;
    job->name = sp_xstrdup(name ? name : "");
    build_tasks(job, edges, name);
    if ((rc = sp_job_ckpt_setup(job, name, err)) != SPATE_OK) {
        job_free(job);
        return rc;
    }
    sp_job_ckpt_mark_tasks(job);
    sp_restart_init(&job->restart, config, sp_job_ckpt_on(job));
    job->restarts = job->restart.kind != SP_RESTART_NONE && !dry;
    if ((rc = start_attempt(job, err)) != SPATE_OK) {
        job_free(job);
        return rc;
    }
    if (job->restarts && pthread_create(&job->supervisor, NULL, supervise, job) != 0) {
        job->restarts = false; /* no supervisor: failures end the job */
        pthread_mutex_lock(&job->mu);
        job->restart.kind = SP_RESTART_NONE;
        pthread_mutex_unlock(&job->mu);
    }
    *out = job;
    return SPATE_OK;
}

int sp_job_start(const sp_graph_t *g, const sp_config_t *config, const spate_clock_t *clock, const char *name,
                 sp_job_t **out, sp_error_t *err)
{
    return job_start(g, config, clock, name, false, out, err);
}

int sp_job_dry_restore(const sp_graph_t *g, const sp_config_t *config, const char *name, sp_error_t *err)
{
    sp_job_t *job;
    int rc = job_start(g, config, NULL, name, true, &job, err);
    if (rc) return rc;
    rc = spate_job_wait(job);
    if (rc) sp_error_set(err, rc, "%s", spate_job_error(job));
    spate_job_destroy(job);
    return rc;
}

/* The job is running: an attempt's tasks are (under job->mu). */
static bool attempt_running(const sp_job_t *job)
{
    return job->status == SPATE_JOB_RUNNING && job->running > 0;
}

/* Stops every task with no restart after it: a cancel (status CANCELED), or the end of a
 * stop-with-savepoint (`finished`: status FINISHED). */
static void stop_for_good(sp_job_t *job, bool finished)
{
    pthread_mutex_lock(&job->mu);
    bool running = attempt_running(job);
    job->cancel_requested = true; /* no restart after this */
    if (finished) job->stopped_with_savepoint = running;
    pthread_cond_broadcast(&job->cv);
    pthread_mutex_unlock(&job->mu);
    if (running) job_stop(job);
}

static int inject(sp_job_t *job, int64_t id, void (*mail)(sp_task_t *, int64_t))
{
    if (id <= 0) return SPATE_EINVAL;
    pthread_mutex_lock(&job->mu);
    bool running = attempt_running(job);
    pthread_mutex_unlock(&job->mu);
    if (!running) return SPATE_ESTATE;
    for (int c = 0; c < job->nchains; c++)
        for (int i = 0; i < job->chains[c].parallelism; i++) {
            sp_task_t *t = &job->chains[c].tasks[i];
            if (t->source) sp_task_post(t, mail, id);
        }
    return SPATE_OK;
}

int sp_job_trigger_barrier(sp_job_t *job, int64_t id)
{
    return inject(job, id, sp_task_mail_barrier);
}

int sp_job_trigger_stop_barrier(sp_job_t *job, int64_t id)
{
    return inject(job, id, sp_task_mail_stop_barrier);
}

void sp_job_finish_stopped(sp_job_t *job)
{
    stop_for_good(job, true);
}

static void join_all(sp_job_t *job)
{
    pthread_mutex_lock(&job->mu);
    while (!ended(job)) pthread_cond_wait(&job->cv, &job->mu);
    bool join = !job->joined;
    job->joined = true;
    pthread_mutex_unlock(&job->mu);
    if (!join) return;
    if (job->restarts)
        pthread_join(job->supervisor, NULL);
    else
        join_tasks(job);
    sp_job_ckpt_stop(job); /* every task ended: no checkpoint can complete any more */
}

static int outcome(sp_job_t *job)
{
    switch (job->status) {
    case SPATE_JOB_FINISHED: return SPATE_OK;
    case SPATE_JOB_CANCELED: return SPATE_ECANCELED;
    case SPATE_JOB_FAILED: return job->error_code ? job->error_code : SPATE_EINTERNAL;
    default: return SPATE_ESTATE;
    }
}

int spate_job_wait(spate_job_t *job)
{
    join_all(job);
    return outcome(job);
}

int spate_job_wait_for(spate_job_t *job, int64_t timeout_ms, int *rc)
{
    struct timespec deadline = sp_clock_deadline(timeout_ms);
    pthread_mutex_lock(&job->mu);
    while (!ended(job))
        if (pthread_cond_timedwait(&job->cv, &job->mu, &deadline) != 0) break;
    bool done = ended(job);
    pthread_mutex_unlock(&job->mu);
    if (!done) return 0;
    int r = spate_job_wait(job);
    if (rc) *rc = r;
    return 1;
}

void spate_job_cancel(spate_job_t *job)
{
    stop_for_good(job, false);
}

spate_job_status_t spate_job_status(spate_job_t *job)
{
    pthread_mutex_lock(&job->mu);
    spate_job_status_t s = job->status;
    pthread_mutex_unlock(&job->mu);
    return s;
}

const char *spate_job_error(spate_job_t *job)
{
    pthread_mutex_lock(&job->mu);
    const char *e = job->error ? job->error : "";
    pthread_mutex_unlock(&job->mu);
    return e;
}

void spate_job_destroy(spate_job_t *job)
{
    if (!job) return;
    spate_job_cancel(job);
    join_all(job);
    job_free(job);
}
