/* checkpointing.c — see checkpointing.h. */
#include "runtime/checkpointing.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "checkpoint/coordinator.h"
#include "checkpoint/savepoint.h"
#include "runtime/inflight.h"
#include "state/backend.h"
#include "state/opsnap.h"
#include "state/snapshot.h"

#define INLINE_MAX   4096 /* containers up to this size go inline into the _metadata */
#define MEMORY_ROOT  "/spate-checkpoints"
#define SOURCE_STATE "source"

typedef struct sp_job_ckpt {
    sp_ckpt_storage_t *storage;
    sp_ckpt_storage_t *wrapped; /* the storage a test's wrapper wraps (sp_job_ckpt_wrap_storage), or NULL */
    sp_ckpt_store_t *store;
    sp_ckpt_coord_t *coord; /* NULL: checkpoints off (a restore may still happen) */
    bool on;                /* checkpoints are taken */
    sp_ckpt_meta_t tmpl;    /* the job's operators, for each attempt's coordinator */
    sp_ckpt_coord_opts_t opts;
    /* restore: per graph node, the containers of its old subtasks (NULL: nothing to restore) */
    int *nold;
    uint8_t ***old; /* old[node][s]: the bytes of oldbytes[node][s], as the restore hooks take them */
    size_t **oldlen;
    sp_ckpt_bytes_t **oldbytes; /* what holds them (a file mapped or read) */
    uint8_t ***flight; /* per graph node, per old subtask: its in-flight data (unaligned checkpoints) */
    size_t **flightlen;
    char restored_from[512];
    char *initial;      /* the checkpoint or savepoint the job started from (NULL: none) */
    bool initial_local; /* ... read from local disk, not the checkpoint storage */
    /* the uploader: writes snapshots too large for the _metadata into chk-<n>/ and acknowledges
     * them, off the task threads (the asynchronous part of a checkpoint) */
    pthread_t uploader;
    bool uploading, ustop;
    pthread_cond_t ucv;
    struct upload *uhead, *utail;
    atomic_bool ubusy;  /* an upload queued or the uploader stopping: its warm-up gives way */
    pthread_mutex_t mu; /* hist, the upload queue: statistics of the attempts' stopped coordinators */
    spate_checkpoint_stats_t *hist;
    size_t nhist;
    /* the savepoint being taken (one at a time; under mu, sp_cv signals its end) */
    pthread_cond_t sp_cv;
    int coord_users; /* savepoint requests using coord: sp_job_ckpt_stop waits for them */
    bool sp_busy, sp_stop, sp_done;
    uint64_t sp_id; /* its checkpoint id, once triggered */
    char *sp_root;  /* where it goes */
    char *sp_path;  /* written: its directory */
    int sp_rc, sp_stop_acks;
    char sp_msg[SP_ERROR_MSG_MAX];
    sp_ckpt_op_stats_t *hist_ops; /* per hist entry, its tmpl.nops operators */
} sp_job_ckpt_t;

/* A snapshot waiting for the uploader. */
typedef struct upload {
    int64_t id;
    int node, subtask;
    uint8_t *data;
    size_t len;
    sp_opsnap_later_t *later; /* instead of data: a container the uploader makes first */
    sp_ckpt_ack_info_t info;
    struct upload *next;
    uint8_t *flight; /* unaligned checkpoints: the in-flight data, acknowledged with the snapshot */
    size_t flightlen;
    bool has_flight;
} upload_t;

/* ---- coordinator hooks (its thread) ---- */

static int hook_trigger(void *ctx, uint64_t id)
{
    return sp_job_trigger_barrier(ctx, (int64_t)id);
}

static void mail_complete(sp_task_t *t, int64_t id)
{
    for (int i = 0; i < t->nops && !t->mail_rc; i++) {
        sp_opinst_t *op = &t->ops[i];
        if (op->opened && op->vt && op->vt->notify_checkpoint_complete) {
            int rc = op->vt->notify_checkpoint_complete(op->inst, id);
            if (rc) {
                t->failed_node = op->node;
                t->mail_rc = rc;
            }
        }
    }
}

/* The job's final checkpoint completed: commit what waited for it (id INT64_MAX), then end. */
static void mail_final(sp_task_t *t, int64_t id)
{
    mail_complete(t, id);
    t->final_done = true;
}

static void post_all(sp_job_t *job, void (*fn)(sp_task_t *, int64_t), int64_t id)
{
    for (int c = 0; c < job->nchains; c++)
        for (int i = 0; i < job->chains[c].parallelism; i++) sp_task_post(&job->chains[c].tasks[i], fn, id);
}

/* Ends the savepoint request with rc (and message) unless it ended already (under k->mu). */
static void savepoint_end(sp_job_ckpt_t *k, int rc, const char *msg, char *path)
{
    if (!k->sp_busy || k->sp_done) {
        free(path);
        return;
    }
    k->sp_done = true;
    k->sp_rc = rc;
    snprintf(k->sp_msg, sizeof k->sp_msg, "%s", msg ? msg : "");
    k->sp_path = path;
    pthread_cond_broadcast(&k->sp_cv);
}

static int hook_trigger_savepoint(void *ctx, uint64_t id)
{
    sp_job_t *job = ctx;
    sp_job_ckpt_t *k = job->ckpt;
    pthread_mutex_lock(&k->mu);
    k->sp_id = id;
    bool stop = k->sp_stop;
    pthread_mutex_unlock(&k->mu);
    atomic_store(&job->aligned_only, (long long)id); /* savepoints are aligned (as Flink's): rescalable */
    return stop ? sp_job_trigger_stop_barrier(job, (int64_t)id) : sp_job_trigger_barrier(job, (int64_t)id);
}

/* Savepoint id is durable as a checkpoint: its copy goes to the requested directory. */
static void hook_savepoint(void *ctx, uint64_t id, const sp_ckpt_meta_t *m)
{
    sp_job_t *job = ctx;
    sp_job_ckpt_t *k = job->ckpt;
    pthread_mutex_lock(&k->mu);
    char *root = k->sp_busy && !k->sp_done && k->sp_id == id ? sp_xstrdup(k->sp_root) : NULL;
    pthread_mutex_unlock(&k->mu);
    if (!root) return;
    char *chk = sp_ckpt_store_chk_dir(k->store, id), *path = NULL;
    sp_ckpt_storage_t *to = sp_ckpt_local_storage_create();
    sp_error_t err = { 0 };
    int rc = sp_ckpt_savepoint_write(k->storage, chk, m, to, root, &path, &err);
    sp_ckpt_storage_destroy(to);
    free(chk);
    free(root);
    pthread_mutex_lock(&k->mu);
    savepoint_end(k, rc, err.message, path);
    pthread_mutex_unlock(&k->mu);
}

/* Mail after the stop-with-savepoint's complete: this task committed what waited for it. */
static void mail_stop_ack(sp_task_t *t, int64_t id)
{
    SP_UNUSED(id);
    sp_job_ckpt_t *k = t->job->ckpt;
    pthread_mutex_lock(&k->mu);
    k->sp_stop_acks++;
    pthread_cond_broadcast(&k->sp_cv);
    pthread_mutex_unlock(&k->mu);
}

static void hook_complete(void *ctx, uint64_t id)
{
    sp_job_t *job = ctx;
    sp_job_ckpt_t *k = job->ckpt;
    post_all(job, mail_complete, (int64_t)id);
    pthread_mutex_lock(&k->mu);
    bool stop = k->sp_busy && k->sp_stop && k->sp_id == id;
    pthread_mutex_unlock(&k->mu);
    if (stop) post_all(job, mail_stop_ack, (int64_t)id); /* after every task's commit */
}

static void hook_abort(void *ctx, uint64_t id, const char *why)
{
    sp_job_t *job = ctx;
    sp_job_ckpt_t *k = job->ckpt;
    pthread_mutex_lock(&k->mu);
    if (k->sp_id == id) {
        char msg[SP_ERROR_MSG_MAX];
        snprintf(msg, sizeof msg, "savepoint (checkpoint %llu) failed: %s", (unsigned long long)id, why);
        savepoint_end(k, SPATE_EIO, msg, NULL);
    }
    pthread_mutex_unlock(&k->mu);
    post_all(job, sp_task_mail_abort_checkpoint, (int64_t)id);
}

static void hook_fail_job(void *ctx, const char *why)
{
    sp_job_fail(ctx, SPATE_EIO, why);
}

/* ---- for tests: a wrapper around each job's checkpoint storage ---- */

static sp_ckpt_storage_t *(*storage_wrap)(void *ctx, sp_ckpt_storage_t *inner);
static void *storage_wrap_ctx;

void sp_job_ckpt_wrap_storage(sp_ckpt_storage_t *(*wrap)(void *ctx, sp_ckpt_storage_t *inner), void *ctx)
{
    storage_wrap = wrap;
    storage_wrap_ctx = ctx;
}

static void wrap_storage(sp_job_ckpt_t *k)
{
    if (!storage_wrap) return;
    k->wrapped = k->storage;
    k->storage = storage_wrap(storage_wrap_ctx, k->wrapped);
}

/* ---- setup ---- */

static bool has_state(const sp_ckpt_operator_t *op)
{
    for (uint32_t s = 0; s < op->parallelism; s++)
        if (op->subtasks[s].nhandles > 0) return true;
    return false;
}

/* The node of g that operator op of a checkpoint restores into (by uid; -1: none), and in `why`
 * what forbids that restore ("" if nothing).  par: each node's parallelism in the new job. */
static int match_operator(const sp_graph_t *g, const int *par, int max_parallelism,
                          const sp_ckpt_operator_t *op, char *why, size_t cap)
{
    *why = '\0';
    int node = -1;
    for (int n = 0; n < g->nnodes && node < 0; n++)
        if (!strcmp(g->nodes[n]->uid, op->uid)) node = n;
    if (node < 0) return -1;
    const sp_node_t *n = g->nodes[node];
    if (n->source && has_state(op) && (int)op->parallelism != par[node] && !n->source->vt->restore_splits)
        snprintf(why, cap, /* a parallel source hands its splits out anew (restore_source) */
                 "source '%s' was checkpointed at parallelism %u: it restores only at that parallelism "
                 "(here %d)",
                 n->name, op->parallelism, par[node]);
    else if (!n->source && (int)op->max_parallelism != max_parallelism && has_state(op))
        snprintf(why, cap,
                 "operator '%s' was checkpointed with max parallelism %u and the job has %d "
                 "(pipeline.max-parallelism): its key groups cannot be redistributed",
                 n->name, op->max_parallelism, max_parallelism);
    return node;
}

/* Loads the in-flight data of subtask s of graph node `node` (of `par` old subtasks). */
static int load_in_flight(sp_job_ckpt_t *k, sp_ckpt_storage_t *st, const sp_ckpt_found_t *f, int node,
                          uint32_t par, uint32_t s, const sp_ckpt_handle_t *h, sp_error_t *err)
{
    if (!k->flight[node]) {
        k->flight[node] = sp_xcalloc(par, sizeof *k->flight[node]);
        k->flightlen[node] = sp_xcalloc(par, sizeof *k->flightlen[node]);
    }
    if (k->flight[node][s]) return SPATE_OK; /* one per subtask */
    return sp_ckpt_handle_read(st, f->chk_dir, h, &k->flight[node][s], &k->flightlen[node][s], err);
}

/* Loads the containers of every operator of checkpoint f for the job's nodes. */
static int load_restore(sp_job_t *job, sp_job_ckpt_t *k, sp_ckpt_storage_t *st, const sp_ckpt_found_t *f,
                        sp_error_t *err)
{
    const sp_graph_t *g = job->g;
    k->nold = sp_xcalloc((size_t)g->nnodes, sizeof *k->nold);
    k->old = sp_xcalloc((size_t)g->nnodes, sizeof *k->old);
    k->oldlen = sp_xcalloc((size_t)g->nnodes, sizeof *k->oldlen);
    k->oldbytes = sp_xcalloc((size_t)g->nnodes, sizeof *k->oldbytes);
    k->flight = sp_xcalloc((size_t)g->nnodes, sizeof *k->flight);
    k->flightlen = sp_xcalloc((size_t)g->nnodes, sizeof *k->flightlen);
    bool ignore =
        !strcasecmp(sp_config_get(job->config, "execution.savepoint.ignore-unclaimed-state"), "true");
    for (size_t i = 0; i < f->meta.nops; i++) {
        const sp_ckpt_operator_t *op = f->meta.ops[i];
        char why[1024];
        int node = match_operator(g, job->par, job->max_parallelism, op, why, sizeof why);
        if (*why) return sp_error_set(err, SPATE_ESTATE, "cannot restore %s: %s", k->restored_from, why);
        if (node < 0) {
            if (has_state(op) && !ignore)
                return sp_error_set(
                    err, SPATE_ESTATE,
                    "checkpoint %s holds state of operator '%s' (uid %s), which this job does not "
                    "have (set execution.savepoint.ignore-unclaimed-state=true to drop it)",
                    k->restored_from, op->name, op->uid);
            continue;
        }
        k->nold[node] = (int)op->parallelism;
        k->old[node] = sp_xcalloc(op->parallelism, sizeof *k->old[node]);
        k->oldlen[node] = sp_xcalloc(op->parallelism, sizeof *k->oldlen[node]);
        k->oldbytes[node] = sp_xcalloc(op->parallelism, sizeof *k->oldbytes[node]);
        for (uint32_t s = 0; s < op->parallelism; s++) {
            int rc = SPATE_OK;
            for (size_t h = 0; rc == SPATE_OK && h < op->subtasks[s].nhandles; h++) {
                const sp_ckpt_handle_t *hd = &op->subtasks[s].handles[h];
                if (hd->kind == SP_CKPT_HANDLE_IN_FLIGHT)
                    rc = load_in_flight(k, st, f, node, op->parallelism, s, hd, err);
                else if (!k->old[node][s]) {
                    sp_ckpt_bytes_t *b = &k->oldbytes[node][s];
                    rc = sp_ckpt_handle_load(st, f->chk_dir, hd, b, err);
                    k->old[node][s] = b->data;
                    k->oldlen[node][s] = b->len;
                }
            }
            if (rc) return rc;
        }
    }
    return SPATE_OK;
}

/* ---- spate savepoint check ---- */

/* What the sections of an operator's containers hold, summed over its subtasks. */
typedef struct state_summary {
    char text[2048];
    size_t len;
    char types[1024]; /* the keyed states' types ("name=type" lines), read in a first pass */
    bool first_pass;
    uint64_t keyed, timers, op_bytes;
    bool has_keyed, has_timers;
    sp_error_t *err;
} state_summary_t;

static void summary_add(state_summary_t *sum, const char *fmt, const char *name)
{
    if (strstr(sum->text, name) && *name) return; /* listed by another subtask */
    int n = snprintf(sum->text + sum->len, sizeof sum->text - sum->len, fmt, sum->len ? ", " : "", name);
    if (n > 0) sum->len = SP_MIN(sum->len + (size_t)n, sizeof sum->text - 1);
}

/* The type of keyed state `name` ("name=type" line in sum->types), or "". */
static void type_of(const state_summary_t *sum, const char *name, size_t len, char *out, size_t cap)
{
    *out = '\0';
    for (const char *at = sum->types; *at;) {
        const char *nl = strchr(at, '\n');
        size_t n = nl ? (size_t)(nl - at) : strlen(at);
        if (n > len && !memcmp(at, name, len) && at[len] == '=')
            snprintf(out, cap, " (%.*s)", (int)(n - len - 1), at + len + 1);
        at += n + (nl != NULL);
    }
}

static int summarize_section(void *ctx, const sp_opsnap_section_t *sec)
{
    state_summary_t *sum = ctx;
    sp_snapshot_reader_t r;
    if (sum->first_pass || (sec->kind == SP_OPSNAP_OPERATOR && !strcmp(sec->name, SP_OPSNAP_STATE_TYPES))) {
        if (sum->first_pass && sec->kind == SP_OPSNAP_OPERATOR && !strcmp(sec->name, SP_OPSNAP_STATE_TYPES) &&
            !*sum->types)
            snprintf(sum->types, sizeof sum->types, "%.*s", (int)SP_MIN(sec->len, sizeof sum->types - 1),
                     (const char *)sec->payload);
        return 0;
    }
    switch (sec->kind) {
    case SP_OPSNAP_KEYED:
        if (sp_snapshot_reader_open(&r, sec->payload, sec->len, SP_SNAPSHOT_KEYED, sum->err)) return 1;
        sum->has_keyed = true;
        sum->keyed += r.entries;
        for (uint32_t i = 0; i < r.nnames; i++) {
            size_t len;
            const uint8_t *name = sp_snapshot_reader_name(&r, i, &len);
            char quoted[400], type[100];
            type_of(sum, (const char *)name, len, type, sizeof type);
            snprintf(quoted, sizeof quoted, "'%.*s'%s", (int)SP_MIN(len, 256), (const char *)name, type);
            summary_add(sum, "%skeyed state %s", quoted);
        }
        return 0;
    case SP_OPSNAP_TIMERS:
        if (sp_snapshot_reader_open(&r, sec->payload, sec->len, SP_SNAPSHOT_TIMERS, sum->err)) return 1;
        sum->has_timers = true;
        sum->timers += r.entries;
        return 0;
    case SP_OPSNAP_OPERATOR:
    case SP_OPSNAP_BROADCAST: {
        char quoted[300];
        snprintf(quoted, sizeof quoted, "'%s'", sec->name);
        summary_add(sum, sec->kind == SP_OPSNAP_OPERATOR ? "%soperator state %s" : "%sbroadcast state %s",
                    quoted);
        sum->op_bytes += sec->len;
        return 0;
    }
    }
    return 0;
}

/* One line of what op holds: "keyed state 'a' (12 entries), timers (3), operator state 'source'". */
static int summarize(sp_ckpt_storage_t *st, const char *dir, const sp_ckpt_operator_t *op,
                     state_summary_t *sum, sp_error_t *err)
{
    memset(sum, 0, sizeof *sum);
    sum->err = err;
    for (uint32_t s = 0; s < op->parallelism; s++) {
        if (!op->subtasks[s].nhandles) continue;
        uint8_t *data;
        size_t len;
        int rc = sp_ckpt_handle_read(st, dir, &op->subtasks[s].handles[0], &data, &len, err);
        for (int pass = 0; pass < 2 && rc == SPATE_OK; pass++) { /* the types, then the rest */
            sum->first_pass = pass == 0;
            rc = sp_opsnap_parse(data, len, summarize_section, sum, err);
        }
        free(data);
        if (rc) return err->code ? err->code : SPATE_EPARSE;
    }
    char extra[128] = "";
    if (sum->has_keyed) snprintf(extra, sizeof extra, "; %llu keyed entries", (unsigned long long)sum->keyed);
    if (sum->has_timers)
        snprintf(extra + strlen(extra), sizeof extra - strlen(extra), "; %llu timers",
                 (unsigned long long)sum->timers);
    if (!sum->len) snprintf(sum->text, sizeof sum->text, "no state");
    snprintf(sum->text + strlen(sum->text), sizeof sum->text - strlen(sum->text), "%s", extra);
    return SPATE_OK;
}

int sp_savepoint_check(const sp_graph_t *g, const sp_config_t *cfg, const char *path, FILE *out,
                       sp_error_t *err)
{
    sp_ckpt_storage_t *st = sp_ckpt_local_storage_create();
    sp_ckpt_found_t f;
    int rc = sp_ckpt_resolve(st, path, &f, err);
    if (rc) {
        sp_ckpt_storage_destroy(st);
        return rc;
    }
    int def = (int)sp_config_get_int(cfg, "parallelism.default");
    int maxp = (int)sp_config_get_int(cfg, "pipeline.max-parallelism");
    bool ignore = !strcasecmp(sp_config_get(cfg, "execution.savepoint.ignore-unclaimed-state"), "true");
    int *par = sp_xcalloc((size_t)g->nnodes + 1, sizeof *par);
    bool *claimed = sp_xcalloc((size_t)g->nnodes + 1, sizeof *claimed);
    for (int n = 0; n < g->nnodes; n++) par[n] = sp_node_parallelism(g->nodes[n], def);
    char job_id[2 * SP_CKPT_JOB_ID_LEN + 1], fatal[1024] = "";
    sp_ckpt_job_id_format(f.meta.job_id, job_id);
    fprintf(out, "%s %s: %s %llu of job '%s' (%s)\n",
            f.meta.kind == SP_CKPT_SAVEPOINT ? "savepoint" : "checkpoint", f.chk_dir,
            f.meta.kind == SP_CKPT_SAVEPOINT ? "taken at checkpoint" : "checkpoint",
            (unsigned long long)f.meta.checkpoint_id, f.meta.job_name, job_id);
    int dropped = 0;
    for (size_t i = 0; i < f.meta.nops && rc == SPATE_OK; i++) {
        const sp_ckpt_operator_t *op = f.meta.ops[i];
        char why[1024];
        int node = match_operator(g, par, maxp, op, why, sizeof why);
        state_summary_t sum;
        if ((rc = summarize(st, f.chk_dir, op, &sum, err)) != SPATE_OK) break;
        if (node >= 0) {
            claimed[node] = true;
            fprintf(out, "  operator '%s' (uid %s): %s, parallelism %u -> %d: %s\n", g->nodes[node]->name,
                    op->uid, *why ? "CANNOT restore" : "restores", op->parallelism, par[node], sum.text);
            if (*why) fprintf(out, "    %s\n", why);
        } else if (has_state(op)) {
            dropped++;
            fprintf(out, "  operator '%s' (uid %s): not in this job: its state is %s: %s\n", op->name,
                    op->uid, ignore ? "dropped" : "unclaimed", sum.text);
            if (!ignore)
                snprintf(why, sizeof why,
                         "the state of operator '%s' (uid %s) has no operator to go to (allow dropping it: "
                         "--allow-non-restored-state)",
                         op->name, op->uid);
        }
        if (*why && !*fatal) snprintf(fatal, sizeof fatal, "%s", why);
    }
    for (int n = 0; n < g->nnodes && rc == SPATE_OK; n++)
        if (!claimed[n])
            fprintf(out, "  operator '%s' (uid %s): new, starts without state, parallelism %d\n",
                    g->nodes[n]->name, g->nodes[n]->uid, par[n]);
    if (rc == SPATE_OK && !*fatal) { /* the operators open and restore, as at a start: types, formats */
        sp_config_t *dry = sp_config_copy(cfg);
        sp_error_t derr = { 0 };
        int drc = sp_config_set(dry, "execution.savepoint.path", path);
        if (drc == SPATE_OK) drc = sp_job_dry_restore(g, dry, f.meta.job_name, &derr);
        if (drc != SPATE_OK)
            snprintf(fatal, sizeof fatal, "%s", derr.code ? derr.message : spate_strerror(drc));
        sp_config_destroy(dry);
    }
    const char *what = f.meta.kind == SP_CKPT_SAVEPOINT ? "savepoint" : "checkpoint";
    if (rc == SPATE_OK && *fatal) {
        fprintf(out, "result: the %s does NOT restore into this job: %s\n", what, fatal);
        rc = sp_error_set(err, SPATE_ESTATE, "%s", fatal);
    } else if (rc == SPATE_OK) {
        fprintf(out, "result: the %s restores into this job%s\n", what,
                dropped ? " (the unclaimed state above is dropped)" : "");
    }
    free(par);
    free(claimed);
    sp_ckpt_found_fini(&f);
    sp_ckpt_storage_destroy(st);
    return rc;
}

static void new_coordinator(sp_job_t *job)
{
    sp_job_ckpt_t *k = job->ckpt;
    sp_ckpt_coord_hooks_t hooks = { .ctx = job,
                                    .trigger = hook_trigger,
                                    .complete = hook_complete,
                                    .abort = hook_abort,
                                    .fail_job = hook_fail_job,
                                    .trigger_savepoint = hook_trigger_savepoint,
                                    .savepoint = hook_savepoint };
    sp_ckpt_coord_t *c = sp_ckpt_coord_create(&k->opts, &k->tmpl, k->store, job->clock, &hooks);
    pthread_mutex_lock(&k->mu);
    k->coord = c;
    pthread_mutex_unlock(&k->mu);
}

/* Loads the containers of a checkpoint found on st (taking it over: f is freed). */
static int restore_found(sp_job_t *job, sp_ckpt_storage_t *st, sp_ckpt_found_t *f, sp_error_t *err)
{
    sp_job_ckpt_t *k = job->ckpt;
    snprintf(k->restored_from, sizeof k->restored_from, "%s", f->chk_dir);
    int rc = load_restore(job, k, st, f, err);
    sp_ckpt_found_fini(f);
    return rc;
}

int sp_job_ckpt_setup(sp_job_t *job, const char *name, sp_error_t *err)
{
    const sp_config_t *cfg = job->config;
    int64_t interval = sp_config_get_duration_ms(cfg, "execution.checkpointing.interval");
    const char *from = sp_config_get(cfg, "execution.savepoint.path");
    const char *dir = sp_config_get(cfg, "state.checkpoints.dir");
    bool on = interval > 0 && !job->batch_mode && !job->dry_restore, restoring = from && *from;
    if (!on && !restoring) return SPATE_OK;
    sp_job_ckpt_t *k = sp_xcalloc(1, sizeof *k);
    pthread_mutex_init(&k->mu, NULL);
    pthread_cond_init(&k->ucv, NULL);
    pthread_cond_init(&k->sp_cv, NULL);
    job->ckpt = k;
    k->storage = dir && *dir ? sp_ckpt_local_storage_create() : sp_ckpt_memory_storage_create();
    wrap_storage(k);
    if (!dir || !*dir) dir = MEMORY_ROOT;
    if (restoring) { /* "latest" in the checkpoint storage; a path (a savepoint, say) on local disk */
        bool latest = !strcmp(from, "latest"), found = false;
        sp_ckpt_storage_t *st = latest ? k->storage : sp_ckpt_local_storage_create();
        sp_ckpt_found_t f;
        int rc = sp_ckpt_locate(st, from, dir, name, &found, &f, err);
        if (rc == SPATE_OK && found) {
            k->initial = sp_xstrdup(f.chk_dir);
            k->initial_local = !latest;
            rc = restore_found(job, st, &f, err);
        }
        if (!latest) sp_ckpt_storage_destroy(st);
        if (rc) return rc;
    }
    if (!on) return SPATE_OK;
    k->on = true;
    uint8_t id[SP_CKPT_JOB_ID_LEN];
    sp_random_bytes(id, sizeof id);
    int rc = sp_ckpt_store_create(
        k->storage, dir, id, (int)sp_config_get_int(cfg, "state.checkpoints.num-retained"), &k->store, err);
    if (rc) return rc;
    /* every node of the graph, in id order: the coordinator's operator index is the node id */
    sp_ckpt_meta_init(&k->tmpl);
    memcpy(k->tmpl.job_id, id, sizeof id);
    sp_ckpt_meta_set_job_name(&k->tmpl, name);
    k->tmpl.max_parallelism = (uint32_t)job->max_parallelism;
    for (int n = 0; n < job->g->nnodes; n++) {
        const sp_node_t *node = job->g->nodes[n];
        int maxp = node->source && !node->source->parallel ? 1 : job->max_parallelism;
        sp_ckpt_meta_add_operator(&k->tmpl, node->uid, node->name, (uint32_t)job->par[n], (uint32_t)maxp);
    }
    k->opts = (sp_ckpt_coord_opts_t){
        .interval_ms = interval,
        .timeout_ms = sp_config_get_duration_ms(cfg, "execution.checkpointing.timeout"),
        .min_pause_ms = sp_config_get_duration_ms(cfg, "execution.checkpointing.min-pause"),
        .max_concurrent = (int)sp_config_get_int(cfg, "execution.checkpointing.max-concurrent-checkpoints"),
        .tolerable_failures =
            (int)sp_config_get_int(cfg, "execution.checkpointing.tolerable-failed-checkpoints"),
    };
    new_coordinator(job);
    return SPATE_OK;
}

bool sp_job_ckpt_on(const sp_job_t *job)
{
    return job->ckpt && job->ckpt->on;
}

void sp_job_ckpt_mark_tasks(sp_job_t *job)
{
    bool on = sp_job_ckpt_on(job);
    for (int c = 0; c < job->nchains; c++)
        for (int i = 0; job->chains[c].tasks && i < job->chains[c].parallelism; i++)
            for (int k = 0; k < job->chains[c].tasks[i].nops; k++) {
                sp_op_ctx_t *ctx = &job->chains[c].tasks[i].ops[k].ctx;
                ctx->checkpointing = on;
                ctx->dry_restore = job->dry_restore;
            }
}

/* Frees the containers of the last restore. */
static void free_restore(sp_job_t *job)
{
    sp_job_ckpt_t *k = job->ckpt;
    for (int n = 0; k->old && n < job->g->nnodes; n++) {
        for (int s = 0; k->oldbytes[n] && s < k->nold[n]; s++) sp_ckpt_bytes_release(&k->oldbytes[n][s]);
        for (int s = 0; k->flight[n] && s < k->nold[n]; s++) free(k->flight[n][s]);
        free(k->old[n]);
        free(k->oldlen[n]);
        free(k->oldbytes[n]);
        free(k->flight[n]);
        free(k->flightlen[n]);
    }
    free(k->flight);
    free(k->flightlen);
    k->flight = NULL;
    k->flightlen = NULL;
    free(k->old);
    free(k->oldlen);
    free(k->oldbytes);
    free(k->nold);
    k->old = NULL;
    k->oldlen = NULL;
    k->oldbytes = NULL;
    k->nold = NULL;
}

int sp_job_ckpt_restart(sp_job_t *job, sp_error_t *err)
{
    sp_job_ckpt_t *k = job->ckpt;
    if (!k) return SPATE_OK; /* no checkpoints, no restore: afresh */
    free_restore(job);
    uint64_t latest = k->store ? sp_ckpt_store_latest(k->store) : 0;
    if (latest) {
        char *dir = sp_ckpt_store_chk_dir(k->store, latest);
        sp_ckpt_found_t f;
        int rc = sp_ckpt_resolve(k->storage, dir, &f, err);
        free(dir);
        if (rc == SPATE_OK) rc = restore_found(job, k->storage, &f, err);
        if (rc) return rc;
    } else if (k->initial) { /* nothing completed yet: where the job started from, as Flink (not afresh) */
        sp_ckpt_storage_t *st = k->initial_local ? sp_ckpt_local_storage_create() : k->storage;
        sp_ckpt_found_t f;
        int rc = sp_ckpt_resolve(st, k->initial, &f, err);
        if (rc == SPATE_OK) rc = restore_found(job, st, &f, err);
        if (k->initial_local) sp_ckpt_storage_destroy(st);
        if (rc) return rc;
    } /* else the attempt starts afresh */
    if (k->on) new_coordinator(job);
    return SPATE_OK;
}

static void free_upload(upload_t *u)
{
    sp_opsnap_later_destroy(u->later);
    free(u->data);
    free(u->flight);
    free(u);
}

/* A handle of `kind` for `len` bytes: inline when small, else the file dir/file (at location loc). */
static int to_handle(sp_ckpt_storage_t *st, const char *dir, const char *file, sp_ckpt_location_t loc,
                     sp_ckpt_handle_kind_t kind, uint8_t *data, size_t len, sp_ckpt_handle_t *h,
                     sp_error_t *err)
{
    *h = (sp_ckpt_handle_t){ .kind = kind, .location = SP_CKPT_LOC_INLINE, .length = len, .data = data };
    if (len <= INLINE_MAX) return SPATE_OK;
    h->location = loc;
    h->path = (char *)file;
    h->data = NULL;
    return sp_ckpt_storage_write_atomic(st, dir, file, data, len, err);
}

/* The same for bytes of checkpoint id: a large one is the file chk-<id>/`file`. */
static int part_handle(sp_job_ckpt_t *k, int64_t id, const char *file, sp_ckpt_handle_kind_t kind,
                       uint8_t *data, size_t len, sp_ckpt_handle_t *h, sp_error_t *err)
{
    char *dir = sp_ckpt_store_chk_dir(k->store, (uint64_t)id);
    int rc = to_handle(k->storage, dir, file, SP_CKPT_LOC_EXCLUSIVE, kind, data, len, h, err);
    free(dir);
    return rc;
}

/* Unaligned checkpoints: the head operator's snapshot (if it stored anything) and its in-flight data,
 * acknowledged together (on the uploader's thread, or the task's when there is no uploader). */
static void upload_unaligned(sp_job_ckpt_t *k, upload_t *u)
{
    char file[2][64];
    snprintf(file[0], sizeof file[0], "op%d-%d", u->node, u->subtask);
    snprintf(file[1], sizeof file[1], "inflight%d-%d", u->node, u->subtask);
    sp_ckpt_handle_t h[2];
    size_t nh = 0;
    sp_error_t err = { 0 };
    int rc = SPATE_OK;
    if (u->data)
        rc = part_handle(k, u->id, file[0], SP_CKPT_HANDLE_OPERATOR, u->data, u->len, &h[nh++], &err);
    if (rc == SPATE_OK && u->flight) /* none when no batch was in flight */
        rc =
            part_handle(k, u->id, file[1], SP_CKPT_HANDLE_IN_FLIGHT, u->flight, u->flightlen, &h[nh++], &err);
    if (rc == SPATE_OK)
        sp_ckpt_coord_ack(k->coord, (uint64_t)u->id, u->node, u->subtask, h, nh, &u->info);
    else
        sp_ckpt_coord_decline(k->coord, (uint64_t)u->id, u->node, u->subtask, err.message);
}

static int write_later(void *ctx, const void *p, size_t n, sp_error_t *err)
{
    void **sf = ctx; /* storage, file */
    return sp_ckpt_file_write(sf[0], sf[1], p, n, err);
}

static int fill_later(void *ctx, sp_ckpt_storage_t *st, sp_ckpt_file_t *f, sp_error_t *err)
{
    void *sf[2] = { st, f };
    return sp_opsnap_later_write(ctx, write_later, sf, err);
}

/* Makes a container the task left for later and writes it as file h->path of `dir` (streamed from
 * the snapshot's blocks), or puts it into h inline (u->data) when small, as the task would have. */
static int upload_later(sp_job_ckpt_t *k, upload_t *u, const char *dir, sp_ckpt_handle_t *h, sp_error_t *err)
{
    size_t len;
    int rc = sp_opsnap_later_make(u->later, &len, err);
    if (rc || len == 0) return rc;
    h->length = len;
    if (len > INLINE_MAX)
        return sp_ckpt_storage_write_atomic_with(k->storage, dir, h->path, fill_later, u->later, err);
    rc = sp_opsnap_later_encode(u->later, &u->data, &u->len, err);
    h->location = SP_CKPT_LOC_INLINE;
    h->data = u->data;
    h->path = NULL;
    return rc;
}

static void *upload_main(void *arg)
{
    sp_job_t *job = arg;
    sp_job_ckpt_t *k = job->ckpt;
    for (;;) {
        pthread_mutex_lock(&k->mu);
        while (!k->uhead && !k->ustop) pthread_cond_wait(&k->ucv, &k->mu);
        upload_t *u = k->ustop ? NULL : k->uhead;
        if (u) {
            k->uhead = u->next;
            if (!k->uhead) k->utail = NULL;
        }
        pthread_mutex_unlock(&k->mu);
        if (!u) break; /* stopping: what is queued is dropped with its checkpoint */
        if (u->has_flight) {
            upload_unaligned(k, u);
        } else {
            char *dir = sp_ckpt_store_chk_dir(k->store, (uint64_t)u->id), file[64];
            snprintf(file, sizeof file, "op%d-%d", u->node, u->subtask);
            sp_error_t err = { 0 };
            sp_ckpt_handle_t h = { .kind = SP_CKPT_HANDLE_OPERATOR,
                                   .location = SP_CKPT_LOC_EXCLUSIVE,
                                   .path = file };
            int rc = u->later ? upload_later(k, u, dir, &h, &err)
                              : sp_ckpt_storage_write_atomic(k->storage, dir, file, u->data, u->len, &err);
            free(dir);
            if (!u->later) h.length = u->len;
            if (rc == SPATE_OK)
                sp_ckpt_coord_ack(k->coord, (uint64_t)u->id, u->node, u->subtask, &h, h.length ? 1 : 0,
                                  &u->info);
            else
                sp_ckpt_coord_decline(k->coord, (uint64_t)u->id, u->node, u->subtask, err.message);
        }
        free_upload(u);
        pthread_mutex_lock(&k->mu);
        bool idle = !k->uhead && !k->ustop;
        if (idle) atomic_store_explicit(&k->ubusy, false, memory_order_relaxed);
        pthread_mutex_unlock(&k->mu);
        if (idle) sp_state_encoder_warm(&k->ubusy); /* the next big checkpoint finds its memory in */
    }
    return NULL;
}

int sp_job_ckpt_start(sp_job_t *job, sp_error_t *err)
{
    sp_job_ckpt_t *k = job->ckpt;
    if (!k || !k->coord) return SPATE_OK;
    k->ustop = false;
    if (pthread_create(&k->uploader, NULL, upload_main, job) != 0)
        return sp_error_set(err, SPATE_EINTERNAL, "checkpoints: cannot start the uploader thread");
    k->uploading = true;
    return sp_ckpt_coord_start(k->coord, err);
}

/* Stops the uploader; snapshots still queued are dropped (their checkpoint is aborted next). */
static void stop_uploader(sp_job_ckpt_t *k)
{
    if (!k->uploading) return;
    pthread_mutex_lock(&k->mu);
    k->ustop = true;
    atomic_store_explicit(&k->ubusy, true, memory_order_relaxed);
    pthread_cond_broadcast(&k->ucv);
    pthread_mutex_unlock(&k->mu);
    pthread_join(k->uploader, NULL);
    k->uploading = false;
    while (k->uhead) {
        upload_t *u = k->uhead;
        k->uhead = u->next;
        free_upload(u);
    }
    k->utail = NULL;
}

static void to_public(const sp_ckpt_stats_t *s, int64_t now, spate_checkpoint_stats_t *o)
{
    memset(o, 0, sizeof *o);
    o->id = (int64_t)s->id;
    o->status = (spate_checkpoint_status_t)s->status;
    o->trigger_ms = s->trigger_ms;
    o->duration_ms = (s->end_ms ? s->end_ms : now) - s->trigger_ms;
    o->state_bytes = s->state_bytes;
    o->persisted_bytes = s->persisted_bytes;
    o->savepoint = s->savepoint;
    o->alignment_ms = s->alignment_ms;
    o->acks = s->acks;
    o->expected = s->expected;
    for (int i = 0; i < s->nops; i++)
        if (s->ops[i].ack_ms > o->last_ack_ms) o->last_ack_ms = s->ops[i].ack_ms;
    snprintf(o->failure, sizeof o->failure, "%s", s->failure);
}

void sp_job_ckpt_stop(sp_job_t *job)
{
    sp_job_ckpt_t *k = job->ckpt;
    if (!k) return;
    stop_uploader(k); /* before the coordinator it acknowledges to */
    if (!k->coord) return;
    sp_ckpt_coord_t *c = k->coord;
    size_t n = sp_ckpt_coord_stats_count(c);
    pthread_mutex_lock(&k->mu);
    savepoint_end(k, SPATE_ESTATE, "the job's tasks stopped before the savepoint completed", NULL);
    while (k->coord_users > 0) pthread_cond_wait(&k->sp_cv, &k->mu); /* a savepoint request triggering */
    k->hist = sp_xrealloc(k->hist, sizeof *k->hist * (k->nhist + n + 1));
    k->hist_ops = sp_xrealloc(k->hist_ops, sizeof *k->hist_ops * (k->nhist + n + 1) * (k->tmpl.nops + 1));
    for (size_t i = 0; i < n; i++) {
        sp_ckpt_stats_t s;
        if (!sp_ckpt_coord_stats_at(c, i, &s)) break;
        memcpy(&k->hist_ops[k->nhist * k->tmpl.nops], s.ops, sizeof *s.ops * k->tmpl.nops);
        to_public(&s, sp_clock_now(job->clock), &k->hist[k->nhist++]);
        free(s.ops);
    }
    k->coord = NULL;
    pthread_mutex_unlock(&k->mu);
    sp_ckpt_coord_destroy(c);
}

size_t spate_job_checkpoint_count(spate_job_t *job)
{
    sp_job_ckpt_t *k = job->ckpt;
    if (!k) return 0;
    pthread_mutex_lock(&k->mu);
    size_t n = k->nhist + (k->coord ? sp_ckpt_coord_stats_count(k->coord) : 0);
    pthread_mutex_unlock(&k->mu);
    return n;
}

int spate_job_checkpoint_stats(spate_job_t *job, size_t i, spate_checkpoint_stats_t *out)
{
    sp_job_ckpt_t *k = job->ckpt;
    if (!k) return 0;
    int found = 0;
    pthread_mutex_lock(&k->mu);
    if (i < k->nhist) {
        *out = k->hist[i];
        found = 1;
    } else if (k->coord) {
        sp_ckpt_stats_t s;
        if (sp_ckpt_coord_stats_at(k->coord, i - k->nhist, &s)) {
            to_public(&s, sp_clock_now(job->clock), out);
            free(s.ops);
            found = 1;
        }
    }
    pthread_mutex_unlock(&k->mu);
    return found;
}

/* ---- savepoints ---- */

/* Mail to a source after a failed stop-with-savepoint: it reads on. */
static void mail_resume(sp_task_t *t, int64_t arg)
{
    SP_UNUSED(arg);
    if (t->src_state == SP_SRC_SUSPENDED) t->src_state = SP_SRC_RUNNING;
}

/* Triggers the requested savepoint, retrying while other checkpoints are pending. */
static int savepoint_trigger(sp_job_t *job, sp_job_ckpt_t *k, sp_error_t *err)
{
    int64_t limit_ms = k->opts.timeout_ms > 0 ? k->opts.timeout_ms : 600000;
    uint64_t start = sp_clock_mono_ns();
    for (;;) {
        pthread_mutex_lock(&k->mu);
        sp_ckpt_coord_t *c = k->coord;
        if (c) k->coord_users++;
        pthread_mutex_unlock(&k->mu);
        if (!c) return sp_error_set(err, SPATE_ESTATE, "the job is not running");
        *err = (sp_error_t){ 0 };
        int rc = sp_ckpt_coord_trigger_savepoint(c, NULL, err);
        pthread_mutex_lock(&k->mu);
        k->coord_users--;
        pthread_cond_broadcast(&k->sp_cv);
        pthread_mutex_unlock(&k->mu);
        bool late = (int64_t)((sp_clock_mono_ns() - start) / 1000000) > limit_ms;
        if (rc != SPATE_ESTATE || late || spate_job_status(job) != SPATE_JOB_RUNNING) return rc;
        sp_sleep_ms(5); /* max-concurrent-checkpoints pending: wait for a slot */
    }
}

/* Stop-with-savepoint (not draining): once every running task committed, the job stops. */
static void stop_after_commit(sp_job_t *job, sp_job_ckpt_t *k)
{
    for (int waited = 0; waited < 30000; waited += 10) {
        int running = 0;
        pthread_mutex_lock(&job->mu);
        for (int c = 0; c < job->nchains; c++)
            for (int i = 0; i < job->chains[c].parallelism; i++) running += !job->chains[c].tasks[i].done;
        pthread_mutex_unlock(&job->mu);
        pthread_mutex_lock(&k->mu);
        bool all = k->sp_stop_acks >= running;
        pthread_mutex_unlock(&k->mu);
        if (all) break;
        sp_sleep_ms(10);
    }
    sp_job_finish_stopped(job);
}

static int savepoint(sp_job_t *job, const char *dir, bool stop, bool drain, char *path, size_t cap)
{
    sp_job_ckpt_t *k = job->ckpt;
    if (job->batch_mode)
        return sp_set_error(SPATE_ESTATE, "savepoint: a job in BATCH mode takes no savepoints");
    if (!k || !k->on)
        return sp_set_error(SPATE_ESTATE,
                            "savepoint: the job runs without checkpoints, which savepoints need "
                            "(execution.checkpointing.interval is 0)");
    if (!dir || !*dir) dir = sp_config_get(job->config, "state.savepoints.dir");
    if (!dir || !*dir)
        return sp_set_error(SPATE_ECONFIG,
                            "savepoint: no target directory: give one, or set state.savepoints.dir");
    pthread_mutex_lock(&k->mu);
    if (k->sp_busy) {
        pthread_mutex_unlock(&k->mu);
        return sp_set_error(SPATE_ESTATE, "savepoint: another savepoint of this job is being taken");
    }
    k->sp_busy = true;
    k->sp_stop = stop;
    k->sp_done = false;
    k->sp_id = 0;
    k->sp_rc = SPATE_OK;
    k->sp_stop_acks = 0;
    k->sp_root = sp_xstrdup(dir);
    pthread_mutex_unlock(&k->mu);
    if (drain) atomic_store(&job->draining, true);
    sp_error_t err = { 0 };
    int rc = savepoint_trigger(job, k, &err);
    pthread_mutex_lock(&k->mu);
    if (rc != SPATE_OK) savepoint_end(k, rc, err.message, NULL);
    while (!k->sp_done) pthread_cond_wait(&k->sp_cv, &k->mu); /* complete, abort or the tasks' stop end it */
    rc = k->sp_rc;
    char *written = k->sp_path, msg[SP_ERROR_MSG_MAX];
    snprintf(msg, sizeof msg, "%s", k->sp_msg);
    free(k->sp_root);
    k->sp_root = k->sp_path = NULL;
    pthread_mutex_unlock(&k->mu);
    if (stop && rc == SPATE_OK && !drain) stop_after_commit(job, k);
    if (stop && rc != SPATE_OK && !drain) post_all(job, mail_resume, 0);
    pthread_mutex_lock(&k->mu);
    k->sp_busy = false;
    pthread_mutex_unlock(&k->mu);
    if (path && cap) snprintf(path, cap, "%s", written ? written : "");
    free(written);
    return rc == SPATE_OK ? SPATE_OK : sp_set_error(rc, "savepoint: %s", msg);
}

int spate_job_savepoint(spate_job_t *job, const char *dir, char *path, size_t cap)
{
    return savepoint(job, dir, false, false, path, cap);
}

int spate_job_stop_with_savepoint(spate_job_t *job, const char *dir, bool drain, char *path, size_t cap)
{
    return savepoint(job, dir, true, drain, path, cap);
}

int spate_job_checkpoint_operator_stats(spate_job_t *job, size_t i, size_t op,
                                        spate_checkpoint_operator_stats_t *out)
{
    sp_job_ckpt_t *k = job->ckpt;
    if (!k || op >= k->tmpl.nops) return 0;
    int found = 0;
    int64_t trigger_ms = 0;
    sp_ckpt_op_stats_t os = { 0 };
    pthread_mutex_lock(&k->mu);
    if (i < k->nhist) {
        os = k->hist_ops[i * k->tmpl.nops + op];
        trigger_ms = k->hist[i].trigger_ms;
        found = 1;
    } else if (k->coord) {
        sp_ckpt_stats_t s;
        if (sp_ckpt_coord_stats_at(k->coord, i - k->nhist, &s)) {
            os = s.ops[op];
            trigger_ms = s.trigger_ms;
            free(s.ops);
            found = 1;
        }
    }
    pthread_mutex_unlock(&k->mu);
    if (!found) return 0;
    const sp_ckpt_operator_t *t = k->tmpl.ops[op];
    *out = (spate_checkpoint_operator_stats_t){ .uid = t->uid,
                                                .name = t->name,
                                                .acks = os.acks,
                                                .parallelism = (int)t->parallelism,
                                                .ack_ms = os.acks ? os.ack_ms - trigger_ms : -1,
                                                .state_bytes = os.state_bytes };
    return 1;
}

void sp_job_ckpt_free(sp_job_t *job)
{
    sp_job_ckpt_t *k = job->ckpt;
    if (!k) return;
    sp_ckpt_coord_destroy(k->coord);
    sp_ckpt_store_destroy(k->store);
    sp_ckpt_storage_destroy(k->storage);
    sp_ckpt_storage_destroy(k->wrapped);
    free_restore(job);
    free(k->initial);
    sp_ckpt_meta_fini(&k->tmpl);
    stop_uploader(k);
    free(k->hist);
    free(k->hist_ops);
    pthread_cond_destroy(&k->ucv);
    pthread_cond_destroy(&k->sp_cv);
    pthread_mutex_destroy(&k->mu);
    free(k);
    job->ckpt = NULL;
}

/* ---- task side ---- */

typedef struct find_section {
    const uint8_t *payload;
    size_t len;
    bool found;
} find_section_t;

static int take_source(void *ctx, const sp_opsnap_section_t *sec)
{
    find_section_t *f = ctx;
    if (sec->kind != SP_OPSNAP_OPERATOR || strcmp(sec->name, SOURCE_STATE) != 0) return 0;
    f->payload = sec->payload;
    f->len = sec->len;
    f->found = true;
    return 1;
}

/* Restores the reader's position: a source with splits gets the positions of every old subtask
 * (it keeps its share of the splits, at any parallelism); another one its own subtask's (at the
 * same parallelism, match_operator). */
static int restore_source(sp_task_t *t, sp_job_ckpt_t *k, const sp_node_t *n)
{
    const sp_source_vtable_t *vt = t->source->vt;
    if (!t->reader) return SPATE_OK;
    if (vt->restore_splits) {
        int nold = k->nold[n->id], rc = SPATE_OK;
        const uint8_t **pos = sp_xcalloc((size_t)nold + 1, sizeof *pos);
        size_t *lens = sp_xcalloc((size_t)nold + 1, sizeof *lens);
        bool any = false;
        for (int s = 0; rc >= 0 && s < nold; s++) {
            find_section_t f = { 0 };
            if (!k->old[n->id][s]) continue;
            rc = sp_opsnap_parse(k->old[n->id][s], k->oldlen[n->id][s], take_source, &f, &t->error);
            if (rc >= 0 && f.found) {
                pos[s] = f.payload; /* points into k->old, alive until the restore ends */
                lens[s] = f.len;
                any = true;
            }
        }
        if (rc >= 0) rc = any ? vt->restore_splits(t->reader, pos, lens, nold, &t->error) : SPATE_OK;
        free(pos);
        free(lens);
        return rc < 0 ? rc : SPATE_OK;
    }
    if (!vt->restore) return SPATE_OK;
    find_section_t f = { 0 };
    int rc =
        sp_opsnap_parse(k->old[n->id][t->subtask], k->oldlen[n->id][t->subtask], take_source, &f, &t->error);
    if (rc < 0) return rc;
    return f.found ? vt->restore(t->reader, f.payload, f.len, &t->error) : SPATE_OK;
}

int sp_task_ckpt_restore(sp_task_t *t)
{
    sp_job_ckpt_t *k = t->job->ckpt;
    if (!k || !k->old) return SPATE_OK;
    for (int i = 0; i < t->nops; i++) {
        sp_opinst_t *op = &t->ops[i];
        const sp_node_t *n = op->node;
        if (!k->old[n->id]) continue; /* not in the checkpoint: a fresh start */
        int rc = SPATE_OK;
        if (!op->vt) {
            rc = restore_source(t, k, n);
        } else if (op->vt->restore) {
            int first, last;
            sp_key_group_range(t->subtask, t->parallelism, t->job->max_parallelism, &first, &last);
            sp_opsnap_restore_t r = { k->nold[n->id],   (const uint8_t *const *)k->old[n->id],
                                      k->oldlen[n->id], t->subtask,
                                      t->parallelism,   (uint32_t)first,
                                      (uint32_t)last };
            rc = op->vt->restore(op->inst, &r);
        }
        if (rc) {
            t->failed_node = n;
            return rc;
        }
    }
    return SPATE_OK;
}

/* The snapshot container of op now (the source's position for the source pseudo-operator). */
static int snapshot_of(sp_task_t *t, sp_opinst_t *op, int64_t id, uint8_t **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    if (op->vt) return op->vt->snapshot ? op->vt->snapshot(op->inst, id, data, len) : SPATE_OK;
    if (!t->reader || !t->source->vt->snapshot) return SPATE_OK;
    uint8_t *pos;
    size_t plen;
    int rc = t->source->vt->snapshot(t->reader, &pos, &plen, &t->error);
    if (rc) return rc;
    sp_opsnap_t c;
    sp_opsnap_init(&c);
    sp_opsnap_add(&c, SP_OPSNAP_OPERATOR, SOURCE_STATE, pos, plen);
    sp_opsnap_finish(&c, data, len);
    free(pos);
    return SPATE_OK;
}

static void enqueue_upload(sp_job_ckpt_t *k, upload_t *u)
{
    pthread_mutex_lock(&k->mu);
    if (k->utail)
        k->utail->next = u;
    else
        k->uhead = u;
    k->utail = u;
    atomic_store_explicit(&k->ubusy, true, memory_order_relaxed);
    pthread_cond_signal(&k->ucv);
    pthread_mutex_unlock(&k->mu);
}

int sp_task_ckpt_snapshot(sp_task_t *t, sp_opinst_t *op, int64_t id)
{
    sp_job_ckpt_t *k = t->job->ckpt;
    if (!k || !k->coord) return SPATE_OK;
    uint8_t *data = NULL;
    size_t len = 0;
    sp_opsnap_later_t *later = NULL; /* the synchronous part, at the barrier: */
    int rc = op->vt && op->vt->snapshot_later && k->uploading ? op->vt->snapshot_later(op->inst, id, &later)
                                                              : snapshot_of(t, op, id, &data, &len);
    if (rc != SPATE_OK) { /* the checkpoint fails (declined), the job goes on */
        sp_ckpt_coord_decline(k->coord, (uint64_t)id, op->node->id, t->subtask,
                              t->error.code ? t->error.message : spate_strerror(rc));
        t->error = (sp_error_t){ 0 };
        free(data);
        sp_opsnap_later_destroy(later);
        return SPATE_OK;
    }
    sp_ckpt_ack_info_t info = { 0 }; /* how long the task's inputs took to align this barrier */
    const sp_barrier_stats_t *b = &t->barriers.last_complete;
    if (t->barriers_init && b->checkpoint_id == id) info.alignment_ms = (b->end_ns - b->start_ns) / 1000000;
    if ((later || len > INLINE_MAX) && k->uploading) { /* the asynchronous part: the uploader's */
        upload_t *u = sp_xcalloc(1, sizeof *u);
        *u = (upload_t){ .id = id,
                         .node = op->node->id,
                         .subtask = t->subtask,
                         .data = data,
                         .len = len,
                         .later = later,
                         .info = info };
        enqueue_upload(k, u);
        return SPATE_OK;
    }
    sp_ckpt_handle_t h = {
        .kind = SP_CKPT_HANDLE_OPERATOR, .location = SP_CKPT_LOC_INLINE, .length = len, .data = data
    };
    sp_ckpt_coord_ack(k->coord, (uint64_t)id, op->node->id, t->subtask, &h, data ? 1 : 0, &info);
    free(data);
    return SPATE_OK;
}

/* Every subtask finished: the job's final checkpoint (all their final states), then every task
 * hears of it, and what waited for it commits. */
static void final_checkpoint(sp_task_t *t)
{
    sp_job_ckpt_t *k = t->job->ckpt;
    sp_error_t err = { 0 };
    int rc = SPATE_ESTATE;
    for (int tries = 0; rc == SPATE_ESTATE && tries < 5000; tries++) { /* one still completing: wait */
        err = (sp_error_t){ 0 };
        uint64_t id;
        rc = sp_ckpt_coord_trigger(k->coord, &id, &err);
        if (rc == SPATE_ESTATE) sp_sleep_ms(1);
    }
    if (rc != SPATE_OK) {
        char msg[sizeof err.message + 64];
        snprintf(msg, sizeof msg, "the final checkpoint failed: %s", err.message);
        sp_job_fail(t->job, rc, msg);
        return;
    }
    post_all(t->job, mail_final, INT64_MAX);
}

void sp_task_ckpt_finished(sp_task_t *t)
{
    sp_job_ckpt_t *k = t->job->ckpt;
    if (!k || !k->coord) return;
    for (int i = 0; i < t->nops; i++) {
        sp_opinst_t *op = &t->ops[i];
        uint8_t *data;
        size_t len;
        if (snapshot_of(t, op, 0, &data, &len) != SPATE_OK) { /* no final state: later checkpoints fail */
            t->error = (sp_error_t){ 0 };
            continue;
        }
        sp_ckpt_handle_t h;
        size_t nh = 0;
        char file[64], dir[1024];
        snprintf(file, sizeof file, "final-op%d-%d", op->node->id, t->subtask);
        snprintf(dir, sizeof dir, "%s/taskowned", sp_ckpt_store_job_dir(k->store));
        if (data && to_handle(k->storage, dir, file, SP_CKPT_LOC_TASKOWNED, SP_CKPT_HANDLE_OPERATOR, data,
                              len, &h, &t->error) == SPATE_OK)
            nh = 1;
        if (data && !nh) { /* not written: later checkpoints cannot include it */
            t->error = (sp_error_t){ 0 };
            free(data);
            continue;
        }
        bool all = sp_ckpt_coord_finish(k->coord, op->node->id, t->subtask, &h, nh);
        free(data);
        if (all) final_checkpoint(t);
    }
}

/* ---- unaligned checkpoints: the head operator's snapshot held until its in-flight data is whole ---- */

int sp_task_ckpt_hold(sp_task_t *t, sp_opinst_t *op, int64_t id, sp_inflight_t *f)
{
    sp_job_ckpt_t *k = t->job->ckpt;
    if (!k || !k->coord) return SPATE_OK;
    int rc = snapshot_of(t, op, id, &f->state, &f->statelen); /* the synchronous part, at the barrier */
    if (rc != SPATE_OK) {                                     /* the checkpoint fails, the job goes on */
        sp_ckpt_coord_decline(k->coord, (uint64_t)id, op->node->id, t->subtask,
                              t->error.code ? t->error.message : spate_strerror(rc));
        t->error = (sp_error_t){ 0 };
        free(f->state);
        f->state = NULL;
        return SPATE_OK;
    }
    f->held = true;
    const sp_barrier_stats_t *b = &t->barriers.last_complete;
    if (b->checkpoint_id == id) f->alignment_ms = (b->end_ns - b->start_ns) / 1000000;
    return SPATE_OK;
}

void sp_task_ckpt_ack_in_flight(sp_task_t *t, sp_inflight_t *f)
{
    sp_job_ckpt_t *k = t->job->ckpt;
    if (!k || !k->coord || !f->held) return;
    const sp_node_t *head = t->ops[0].node;
    upload_t *u = sp_xcalloc(1, sizeof *u);
    *u = (upload_t){ .id = f->id,
                     .node = head->id,
                     .subtask = t->subtask,
                     .data = f->state,
                     .len = f->statelen,
                     .info = { .alignment_ms = f->alignment_ms },
                     .has_flight = true };
    f->state = NULL;
    f->held = false;
    if (f->n > 0 && sp_inflight_encode(f, &u->flight, &u->flightlen, &t->error) != SPATE_OK) {
        sp_ckpt_coord_decline(k->coord, (uint64_t)u->id, u->node, u->subtask, t->error.message);
        t->error = (sp_error_t){ 0 };
        free_upload(u);
        return;
    }
    if ((u->len > INLINE_MAX || u->flightlen > INLINE_MAX) && k->uploading) {
        enqueue_upload(k, u);
        return;
    }
    upload_unaligned(k, u);
    free_upload(u);
}

static int replay_batch(void *ctx, int channel, int input, sp_batch_t *b)
{
    SP_UNUSED(channel);
    sp_opinst_t *head = ctx;
    int rc = head->vt->process_batch(head->inst, input, b);
    sp_batch_release(b);
    return rc;
}

/* In-flight data of an old subtask replayed at another parallelism: of each batch, the rows this
 * subtask would have received.  A keyed input (hash exchange) takes the rows of its key groups; a
 * broadcast input the batches of old subtask (subtask mod old parallelism), all of them holding the
 * same stream; a custom partitioner's input the rows it sends here now; any other input (rebalance,
 * rescale, forward) the batches of the old subtasks s with s mod parallelism = subtask. */
typedef struct rescaled {
    sp_task_t *t;
    sp_opinst_t *head;
    const sp_edge_t *edge[2]; /* how each operator input was partitioned */
    int from, nold;           /* the old subtask, of nold */
    spate_key_t key;
} rescaled_t;

static bool takes_row(rescaled_t *x, const sp_edge_t *e, const spate_row_t *row, int *rc)
{
    sp_task_t *t = x->t;
    if (e->part == SP_PART_CUSTOM) return e->custom_fn(e->custom_ctx, row, t->parallelism) == t->subtask;
    if ((*rc = sp_key_compute(&e->key, row, &x->key, &t->error))) return false;
    int maxp = t->job->max_parallelism;
    return sp_key_group_owner(sp_key_group(x->key.buf, x->key.len, maxp), t->parallelism, maxp) == t->subtask;
}

static int replay_rescaled(void *ctx, int channel, int input, sp_batch_t *b)
{
    rescaled_t *x = ctx;
    sp_task_t *t = x->t;
    const sp_edge_t *e = x->edge[input];
    bool whole = e->part == SP_PART_BROADCAST ? x->from == t->subtask % x->nold
                                              : x->from % t->parallelism == t->subtask;
    if (e->part != SP_PART_HASH && e->part != SP_PART_CUSTOM) {
        if (whole) return replay_batch(x->head, channel, input, b);
        sp_batch_release(b);
        return SPATE_OK;
    }
    sp_batch_t *mine = NULL;
    int rc = SPATE_OK;
    for (uint32_t r = 0; r < b->count && rc == SPATE_OK; r++) {
        spate_row_t row = { b, r };
        if (!takes_row(x, e, &row, &rc)) continue;
        if (!mine) mine = sp_batch_create(b->schema, b->count);
        sp_batch_append_row(mine, b, r);
    }
    sp_batch_release(b);
    if (rc) {
        if (mine) sp_batch_release(mine);
        return rc;
    }
    return mine ? replay_batch(x->head, channel, input, mine) : SPATE_OK;
}

/* The edge of each input of node n into x->edge; false when the edges into one input differ in
 * their partitioning (then the in-flight rows cannot be told apart). */
static bool input_edges(const sp_graph_t *g, const sp_node_t *n, rescaled_t *x)
{
    for (int i = 0; i < g->nedges; i++) {
        const sp_edge_t *e = &g->edges[i];
        if (e->to != n->id || e->input < 0 || e->input > 1) continue;
        const sp_edge_t *had = x->edge[e->input];
        if (had && (had->part != e->part || (e->part == SP_PART_CUSTOM && had->custom_fn != e->custom_fn)))
            return false;
        if (!had) x->edge[e->input] = e;
    }
    return true;
}

int sp_task_ckpt_replay_in_flight(sp_task_t *t)
{
    sp_job_ckpt_t *k = t->job->ckpt;
    if (!k || !k->flight || t->source || t->ninputs == 0) return SPATE_OK;
    sp_opinst_t *head = &t->ops[0];
    const sp_node_t *n = head->node;
    if (!k->flight[n->id]) return SPATE_OK;
    int nold = k->nold[n->id], rc = SPATE_OK;
    if (nold == t->parallelism) {
        if (t->subtask < nold && k->flight[n->id][t->subtask])
            rc = sp_inflight_decode(k->flight[n->id][t->subtask], k->flightlen[n->id][t->subtask],
                                    head->ctx.in_schema, 2, replay_batch, head, &t->error);
    } else {
        rescaled_t x = { .t = t, .head = head, .nold = nold };
        sp_key_init(&x.key);
        if (!input_edges(t->job->g, n, &x))
            rc =
                sp_error_set(&t->error, SPATE_ESTATE,
                             "checkpoint %s holds in-flight data of operator '%s' (an unaligned checkpoint), "
                             "whose inputs are partitioned in different ways: it restores only at its "
                             "parallelism %d (here %d); rescale from an aligned checkpoint or savepoint",
                             k->restored_from, n->name, nold, t->parallelism);
        for (int s = 0; rc == SPATE_OK && s < nold; s++) {
            if (!k->flight[n->id][s]) continue;
            x.from = s;
            rc = sp_inflight_decode(k->flight[n->id][s], k->flightlen[n->id][s], head->ctx.in_schema, 2,
                                    replay_rescaled, &x, &t->error);
        }
        sp_key_fini(&x.key);
    }
    if (rc) {
        t->failed_node = n;
        if (t->error.code == 0) sp_error_set(&t->error, rc, "%s", spate_strerror(rc));
    }
    return rc;
}
