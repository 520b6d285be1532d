/* checkpointing.c — see checkpointing.h. */
#include "runtime/checkpointing.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "checkpoint/coordinator.h"
#include "state/opsnap.h"

#define INLINE_MAX   4096 /* containers up to this size go inline into the _metadata */
#define MEMORY_ROOT  "/spate-checkpoints"
#define SOURCE_STATE "source"

typedef struct sp_job_ckpt {
    sp_ckpt_storage_t *storage;
    sp_ckpt_store_t *store;
    sp_ckpt_coord_t *coord; /* NULL: checkpoints off (a restore may still happen) */
    bool on;                /* checkpoints are taken */
    sp_ckpt_meta_t tmpl;    /* the job's operators, for each attempt's coordinator */
    sp_ckpt_coord_opts_t opts;
    /* restore: per graph node, the containers of its old subtasks (NULL: nothing to restore) */
    int *nold;
    uint8_t ***old;
    size_t **oldlen;
    char restored_from[512];
    /* the uploader: writes snapshots too large for the _metadata into chk-<n>/ and acknowledges
     * them, off the task threads (the asynchronous part of a checkpoint) */
    pthread_t uploader;
    bool uploading, ustop;
    pthread_cond_t ucv;
    struct upload *uhead, *utail;
    pthread_mutex_t mu; /* hist, the upload queue: statistics of the attempts' stopped coordinators */
    spate_checkpoint_stats_t *hist;
    size_t nhist;
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

static void hook_complete(void *ctx, uint64_t id)
{
    post_all(ctx, mail_complete, (int64_t)id);
}

static void hook_abort(void *ctx, uint64_t id, const char *why)
{
    SP_UNUSED(why);
    post_all(ctx, sp_task_mail_abort_checkpoint, (int64_t)id);
}

static void hook_fail_job(void *ctx, const char *why)
{
    sp_job_fail(ctx, SPATE_EIO, why);
}

/* ---- setup ---- */

static void new_job_id(uint8_t id[SP_CKPT_JOB_ID_LEN])
{
    FILE *f = fopen("/dev/urandom", "rb");
    size_t got = f ? fread(id, 1, SP_CKPT_JOB_ID_LEN, f) : 0;
    if (f) fclose(f);
    uint64_t x = (uint64_t)sp_clock_now(NULL) ^ (uint64_t)(uintptr_t)id;
    for (size_t i = got; i < SP_CKPT_JOB_ID_LEN; i++) { /* no /dev/urandom: the clock, mixed */
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdull;
        id[i] = (uint8_t)(x >> 56);
    }
}

/* The bytes of a handle: inline, or read from the checkpoint's storage. */
static int handle_bytes(sp_job_ckpt_t *k, const sp_ckpt_found_t *f, const sp_ckpt_handle_t *h, uint8_t **data,
                        size_t *len, sp_error_t *err)
{
    if (h->location == SP_CKPT_LOC_INLINE) {
        *data = sp_xmalloc(h->length ? h->length : 1);
        if (h->length) memcpy(*data, h->data, h->length);
        *len = h->length;
        return SPATE_OK;
    }
    char *path = sp_ckpt_handle_path(f->chk_dir, h);
    uint8_t *all;
    size_t n;
    int rc = sp_ckpt_storage_read(k->storage, path, (size_t)(h->offset + h->length), &all, &n, err);
    if (rc == SPATE_OK && n < h->offset + h->length)
        rc = sp_error_set(err, SPATE_EPARSE, "checkpoint state file '%s' is shorter than its handle", path);
    free(path);
    if (rc) return rc;
    *len = (size_t)h->length;
    if (h->offset == 0) { /* the whole file (or its head): no copy of a big snapshot */
        *data = all;
        return SPATE_OK;
    }
    *data = sp_xmalloc(*len ? *len : 1);
    memcpy(*data, all + h->offset, *len);
    free(all);
    return SPATE_OK;
}

/* Loads the containers of every operator of checkpoint f for the job's nodes. */
static int load_restore(sp_job_t *job, sp_job_ckpt_t *k, const sp_ckpt_found_t *f, sp_error_t *err)
{
    const sp_graph_t *g = job->g;
    k->nold = sp_xcalloc((size_t)g->nnodes, sizeof *k->nold);
    k->old = sp_xcalloc((size_t)g->nnodes, sizeof *k->old);
    k->oldlen = sp_xcalloc((size_t)g->nnodes, sizeof *k->oldlen);
    bool ignore =
        !strcasecmp(sp_config_get(job->config, "execution.savepoint.ignore-unclaimed-state"), "true");
    for (size_t i = 0; i < f->meta.nops; i++) {
        const sp_ckpt_operator_t *op = f->meta.ops[i];
        int node = -1;
        for (int n = 0; n < g->nnodes && node < 0; n++)
            if (!strcmp(g->nodes[n]->uid, op->uid)) node = n;
        bool has_state = false;
        for (uint32_t s = 0; s < op->parallelism; s++) has_state |= op->subtasks[s].nhandles > 0;
        if (node < 0) {
            if (has_state && !ignore)
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
        for (uint32_t s = 0; s < op->parallelism; s++) {
            if (!op->subtasks[s].nhandles) continue;
            int rc =
                handle_bytes(k, f, &op->subtasks[s].handles[0], &k->old[node][s], &k->oldlen[node][s], err);
            if (rc) return rc;
        }
    }
    return SPATE_OK;
}

static void new_coordinator(sp_job_t *job)
{
    sp_job_ckpt_t *k = job->ckpt;
    sp_ckpt_coord_hooks_t hooks = { .ctx = job,
                                    .trigger = hook_trigger,
                                    .complete = hook_complete,
                                    .abort = hook_abort,
                                    .fail_job = hook_fail_job };
    sp_ckpt_coord_t *c = sp_ckpt_coord_create(&k->opts, &k->tmpl, k->store, job->clock, &hooks);
    pthread_mutex_lock(&k->mu);
    k->coord = c;
    pthread_mutex_unlock(&k->mu);
}

/* Loads the containers of a checkpoint found (taking it over: f is freed). */
static int restore_found(sp_job_t *job, sp_ckpt_found_t *f, sp_error_t *err)
{
    sp_job_ckpt_t *k = job->ckpt;
    snprintf(k->restored_from, sizeof k->restored_from, "%s", f->chk_dir);
    int rc = load_restore(job, k, f, err);
    sp_ckpt_found_fini(f);
    return rc;
}

int sp_job_ckpt_setup(sp_job_t *job, const char *name, sp_error_t *err)
{
    const sp_config_t *cfg = job->config;
    int64_t interval = sp_config_get_duration_ms(cfg, "execution.checkpointing.interval");
    const char *from = sp_config_get(cfg, "execution.savepoint.path");
    const char *dir = sp_config_get(cfg, "state.checkpoints.dir");
    bool on = interval > 0 && !job->batch_mode, restoring = from && *from;
    if (!on && !restoring) return SPATE_OK;
    sp_job_ckpt_t *k = sp_xcalloc(1, sizeof *k);
    pthread_mutex_init(&k->mu, NULL);
    pthread_cond_init(&k->ucv, NULL);
    job->ckpt = k;
    k->storage = dir && *dir ? sp_ckpt_local_storage_create() : sp_ckpt_memory_storage_create();
    if (!dir || !*dir) dir = MEMORY_ROOT;
    if (restoring) {
        bool found = false;
        sp_ckpt_found_t f;
        int rc = sp_ckpt_locate(k->storage, from, dir, name, &found, &f, err);
        if (rc) return rc;
        if (found && (rc = restore_found(job, &f, err)) != SPATE_OK) return rc;
    }
    if (!on) return SPATE_OK;
    k->on = true;
    uint8_t id[SP_CKPT_JOB_ID_LEN];
    new_job_id(id);
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
            for (int k = 0; k < job->chains[c].tasks[i].nops; k++)
                job->chains[c].tasks[i].ops[k].ctx.checkpointing = on;
}

/* Frees the containers of the last restore. */
static void free_restore(sp_job_t *job)
{
    sp_job_ckpt_t *k = job->ckpt;
    for (int n = 0; k->old && n < job->g->nnodes; n++) {
        for (int s = 0; k->old[n] && s < k->nold[n]; s++) free(k->old[n][s]);
        free(k->old[n]);
        free(k->oldlen[n]);
    }
    free(k->old);
    free(k->oldlen);
    free(k->nold);
    k->old = NULL;
    k->oldlen = NULL;
    k->nold = NULL;
}

int sp_job_ckpt_restart(sp_job_t *job, sp_error_t *err)
{
    sp_job_ckpt_t *k = job->ckpt;
    free_restore(job);
    uint64_t latest = sp_ckpt_store_latest(k->store);
    if (latest) { /* else nothing completed: the attempt starts afresh */
        char *dir = sp_ckpt_store_chk_dir(k->store, latest);
        sp_ckpt_found_t f;
        int rc = sp_ckpt_resolve(k->storage, dir, &f, err);
        free(dir);
        if (rc == SPATE_OK) rc = restore_found(job, &f, err);
        if (rc) return rc;
    }
    new_coordinator(job);
    return SPATE_OK;
}

static void free_upload(upload_t *u)
{
    sp_opsnap_later_destroy(u->later);
    free(u->data);
    free(u);
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
            sp_ckpt_coord_ack(k->coord, (uint64_t)u->id, u->node, u->subtask, &h, h.length ? 1 : 0, &u->info);
        else
            sp_ckpt_coord_decline(k->coord, (uint64_t)u->id, u->node, u->subtask, err.message);
        free_upload(u);
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
    o->alignment_ms = s->alignment_ms;
    o->acks = s->acks;
    o->expected = s->expected;
    for (int i = 0; i < s->nops; i++)
        if (s->ack_ms[i] > o->last_ack_ms) o->last_ack_ms = s->ack_ms[i];
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
    k->hist = sp_xrealloc(k->hist, sizeof *k->hist * (k->nhist + n + 1));
    for (size_t i = 0; i < n; i++) {
        sp_ckpt_stats_t s;
        if (!sp_ckpt_coord_stats_at(c, i, &s)) break;
        to_public(&s, sp_clock_now(job->clock), &k->hist[k->nhist++]);
        free(s.ack_ms);
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
            free(s.ack_ms);
            found = 1;
        }
    }
    pthread_mutex_unlock(&k->mu);
    return found;
}

void sp_job_ckpt_free(sp_job_t *job)
{
    sp_job_ckpt_t *k = job->ckpt;
    if (!k) return;
    sp_ckpt_coord_destroy(k->coord);
    sp_ckpt_store_destroy(k->store);
    sp_ckpt_storage_destroy(k->storage);
    free_restore(job);
    sp_ckpt_meta_fini(&k->tmpl);
    stop_uploader(k);
    free(k->hist);
    pthread_cond_destroy(&k->ucv);
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

static int restore_source(sp_task_t *t, sp_job_ckpt_t *k, const sp_node_t *n)
{
    if (!t->reader || !t->source->vt->restore) return SPATE_OK;
    if (k->nold[n->id] != t->parallelism)
        return sp_error_set(
            &t->error, SPATE_ESTATE,
            "source '%s' was checkpointed at parallelism %d: it restores only at that parallelism "
            "(here %d)",
            n->name, k->nold[n->id], t->parallelism);
    find_section_t f = { 0 };
    int rc =
        sp_opsnap_parse(k->old[n->id][t->subtask], k->oldlen[n->id][t->subtask], take_source, &f, &t->error);
    if (rc < 0) return rc;
    return f.found ? t->source->vt->restore(t->reader, f.payload, f.len, &t->error) : SPATE_OK;
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

/* A handle for the container: inline when small, else a file at `dir`/`file` (location loc). */
static int to_handle(sp_task_t *t, sp_ckpt_storage_t *st, const char *dir, const char *file,
                     sp_ckpt_location_t loc, uint8_t *data, size_t len, sp_ckpt_handle_t *h)
{
    memset(h, 0, sizeof *h);
    h->kind = SP_CKPT_HANDLE_OPERATOR;
    h->length = len;
    if (len <= INLINE_MAX) {
        h->location = SP_CKPT_LOC_INLINE;
        h->data = data;
        return SPATE_OK;
    }
    h->location = loc;
    h->path = (char *)file;
    return sp_ckpt_storage_write_atomic(st, dir, file, data, len, &t->error);
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
        *u = (upload_t){ id, op->node->id, t->subtask, data, len, later, info, NULL };
        pthread_mutex_lock(&k->mu);
        if (k->utail)
            k->utail->next = u;
        else
            k->uhead = u;
        k->utail = u;
        pthread_cond_signal(&k->ucv);
        pthread_mutex_unlock(&k->mu);
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
        if (data && to_handle(t, k->storage, dir, file, SP_CKPT_LOC_TASKOWNED, data, len, &h) == SPATE_OK)
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
