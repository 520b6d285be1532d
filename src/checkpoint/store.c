/* store.c — see store.h. */
#include "checkpoint/store.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- small helpers ---- */

typedef struct idlist {
    uint64_t *v;
    size_t n, cap;
} idlist_t;

static void ids_push(idlist_t *l, uint64_t id)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->v = sp_xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = id;
}

static bool ids_find(const idlist_t *l, uint64_t id, size_t *at)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i] == id) {
            if (at) *at = i;
            return true;
        }
    return false;
}

/* Removes v[at] keeping the order. */
static void ids_remove_at(idlist_t *l, size_t at)
{
    memmove(l->v + at, l->v + at + 1, (l->n - at - 1) * sizeof *l->v);
    l->n--;
}

static void ids_remove(idlist_t *l, uint64_t id)
{
    size_t at;
    if (ids_find(l, id, &at)) ids_remove_at(l, at);
}

static int cmp_ids(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* "chk-<n>" with n >= 1 in plain decimal (no sign, no leading zero) → n; else 0. */
static uint64_t parse_chk_name(const char *name)
{
    if (strncmp(name, "chk-", 4) != 0) return 0;
    const char *d = name + 4;
    if (*d < '1' || *d > '9') return 0;
    uint64_t n = 0;
    for (; *d; d++) {
        if (*d < '0' || *d > '9') return 0;
        unsigned digit = (unsigned)(*d - '0');
        if (n > (UINT64_MAX - digit) / 10) return 0;
        n = n * 10 + digit;
    }
    return n;
}

/* Reads and decodes <chk_dir>/_metadata; the message names the file. */
static int read_meta(sp_ckpt_storage_t *st, const char *chk_dir, sp_ckpt_meta_t *m, sp_error_t *err)
{
    sp_ckpt_meta_init(m);
    char *path = sp_xasprintf("%s/" SP_CKPT_METADATA_FILE, chk_dir);
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = sp_ckpt_storage_read(st, path, SP_CKPT_META_MAX_SIZE, &data, &len, err);
    if (rc == SPATE_OK) {
        sp_error_t e = { 0 };
        rc = sp_ckpt_meta_decode(data, len, m, &e);
        if (rc) sp_error_set(err, rc, "'%s': %s", path, e.message);
    }
    free(data);
    free(path);
    return rc;
}

/* ---- the store ---- */

struct sp_ckpt_store {
    sp_ckpt_storage_t *st; /* borrowed */
    char *job_dir;
    uint8_t job_id[SP_CKPT_JOB_ID_LEN];
    int num_retained;
    idlist_t done;    /* retained completed checkpoints, ascending */
    idlist_t pending; /* begun, not yet completed or aborted */
    idlist_t discard; /* subsumed checkpoints whose deletion failed: retried */
    uint64_t max_seen;
    char warning[SP_ERROR_MSG_MAX];
};

char *sp_ckpt_store_chk_dir(const sp_ckpt_store_t *s, uint64_t id)
{
    return sp_xasprintf("%s/chk-%llu", s->job_dir, (unsigned long long)id);
}

/* Adopts the complete checkpoints of this job already in job_dir. */
static int adopt_existing(sp_ckpt_store_t *s, sp_error_t *err)
{
    sp_ckpt_names_t names;
    int rc = sp_ckpt_storage_list(s->st, s->job_dir, &names, err);
    if (rc) return rc;
    for (size_t i = 0; i < names.n; i++) {
        uint64_t id = parse_chk_name(names.v[i]);
        if (!id) continue;
        s->max_seen = SP_MAX(s->max_seen, id);
        char *chk = sp_ckpt_store_chk_dir(s, id);
        sp_ckpt_meta_t m;
        sp_error_t ignored = { 0 };
        if (read_meta(s->st, chk, &m, &ignored) == SPATE_OK && m.checkpoint_id == id &&
            memcmp(m.job_id, s->job_id, SP_CKPT_JOB_ID_LEN) == 0)
            ids_push(&s->done, id);
        sp_ckpt_meta_fini(&m);
        free(chk);
    }
    sp_ckpt_names_free(&names);
    if (s->done.n) qsort(s->done.v, s->done.n, sizeof *s->done.v, cmp_ids);
    return SPATE_OK;
}

int sp_ckpt_store_create(sp_ckpt_storage_t *storage, const char *dir,
                         const uint8_t job_id[SP_CKPT_JOB_ID_LEN], int num_retained, sp_ckpt_store_t **out,
                         sp_error_t *err)
{
    *out = NULL;
    if (!dir || !*dir) return sp_error_set(err, SPATE_EINVAL, "checkpoint store: no checkpoint directory");
    sp_ckpt_store_t *s = sp_xcalloc(1, sizeof *s);
    s->st = storage;
    memcpy(s->job_id, job_id, SP_CKPT_JOB_ID_LEN);
    s->num_retained = num_retained > 0 ? num_retained : SP_CKPT_NUM_RETAINED_DEFAULT;
    char hex[2 * SP_CKPT_JOB_ID_LEN + 1];
    sp_ckpt_job_id_format(job_id, hex);
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/') dl--; /* "dir/" and "dir" name the same directory */
    s->job_dir = sp_xasprintf("%.*s/%s", (int)dl, dir, hex);
    char *shared = sp_xasprintf("%s/shared", s->job_dir), *owned = sp_xasprintf("%s/taskowned", s->job_dir);
    char *base = sp_xstrndup(dir, dl);
    int rc = sp_ckpt_storage_mkdirs(storage, shared, err);
    if (!rc) rc = sp_ckpt_storage_mkdirs(storage, owned, err);
    if (!rc) rc = sp_ckpt_storage_sync_dir(storage, s->job_dir, err);
    if (!rc) rc = sp_ckpt_storage_sync_dir(storage, base, err);
    if (!rc) rc = adopt_existing(s, err);
    free(shared);
    free(owned);
    free(base);
    if (rc) {
        sp_ckpt_store_destroy(s);
        return rc;
    }
    *out = s;
    return SPATE_OK;
}

void sp_ckpt_store_destroy(sp_ckpt_store_t *s)
{
    if (!s) return;
    free(s->done.v);
    free(s->pending.v);
    free(s->discard.v);
    free(s->job_dir);
    free(s);
}

const char *sp_ckpt_store_job_dir(const sp_ckpt_store_t *s)
{
    return s->job_dir;
}

uint64_t sp_ckpt_store_next_id(const sp_ckpt_store_t *s)
{
    return s->max_seen + 1;
}

size_t sp_ckpt_store_count(const sp_ckpt_store_t *s)
{
    return s->done.n;
}

uint64_t sp_ckpt_store_id_at(const sp_ckpt_store_t *s, size_t i)
{
    return i < s->done.n ? s->done.v[i] : 0;
}

uint64_t sp_ckpt_store_latest(const sp_ckpt_store_t *s)
{
    return s->done.n ? s->done.v[s->done.n - 1] : 0;
}

const char *sp_ckpt_store_warning(const sp_ckpt_store_t *s)
{
    return s->warning;
}

int sp_ckpt_store_begin(sp_ckpt_store_t *s, uint64_t id, sp_error_t *err)
{
    if (id < sp_ckpt_store_next_id(s))
        return sp_error_set(err, SPATE_ESTATE,
                            "checkpoint %llu: ids must grow, the next one is at least %llu",
                            (unsigned long long)id, (unsigned long long)sp_ckpt_store_next_id(s));
    char *chk = sp_ckpt_store_chk_dir(s, id);
    int rc = sp_ckpt_storage_mkdirs(s->st, chk, err);
    if (!rc) rc = sp_ckpt_storage_sync_dir(s->st, s->job_dir, err);
    if (rc) {
        sp_error_t ignored = { 0 };
        (void)sp_ckpt_storage_remove_tree(s->st, chk, &ignored);
    } else {
        ids_push(&s->pending, id);
    }
    s->max_seen = id; /* never reuse the id, even after a failure */
    free(chk);
    return rc;
}

/* Deletes the subsumed checkpoints: the oldest beyond num_retained, and earlier failed deletions. */
static void apply_retention(sp_ckpt_store_t *s)
{
    s->warning[0] = '\0';
    while (s->done.n > (size_t)s->num_retained) {
        ids_push(&s->discard, s->done.v[0]);
        ids_remove_at(&s->done, 0);
    }
    for (size_t i = 0; i < s->discard.n;) {
        char *chk = sp_ckpt_store_chk_dir(s, s->discard.v[i]);
        sp_error_t e = { 0 };
        if (sp_ckpt_storage_remove_tree(s->st, chk, &e) == SPATE_OK) {
            ids_remove_at(&s->discard, i);
        } else {
            snprintf(s->warning, sizeof s->warning,
                     "could not delete subsumed checkpoint (retried later): %.900s", e.message);
            i++;
        }
        free(chk);
    }
}

int sp_ckpt_store_complete(sp_ckpt_store_t *s, const sp_ckpt_meta_t *m, sp_error_t *err)
{
    unsigned long long id = (unsigned long long)m->checkpoint_id;
    if (memcmp(m->job_id, s->job_id, SP_CKPT_JOB_ID_LEN) != 0)
        return sp_error_set(err, SPATE_EINVAL, "checkpoint %llu: metadata of another job", id);
    if (m->kind != SP_CKPT_CHECKPOINT)
        return sp_error_set(err, SPATE_EINVAL,
                            "checkpoint %llu: a savepoint does not go in the checkpoint store", id);
    if (!ids_find(&s->pending, m->checkpoint_id, NULL))
        return sp_error_set(err, SPATE_ESTATE, "checkpoint %llu was not begun (or already ended)", id);
    if (m->checkpoint_id < sp_ckpt_store_latest(s))
        return sp_error_set(err, SPATE_ESTATE,
                            "checkpoint %llu is older than the latest completed one (%llu)", id,
                            (unsigned long long)sp_ckpt_store_latest(s));

    char *chk = sp_ckpt_store_chk_dir(s, m->checkpoint_id);
    sp_error_t e = { 0 };
    uint8_t *bytes = NULL, *back = NULL;
    size_t len = 0, back_len = 0;
    int rc = sp_ckpt_meta_encode(m, &bytes, &len, &e);
    if (!rc) rc = sp_ckpt_storage_write_atomic(s->st, chk, SP_CKPT_METADATA_FILE, bytes, len, &e);
    if (!rc) {
        /* Read back: storage that loses bytes without an error (a torn write) must not complete a checkpoint. */
        char *path = sp_xasprintf("%s/" SP_CKPT_METADATA_FILE, chk);
        rc = sp_ckpt_storage_read(s->st, path, SP_CKPT_META_MAX_SIZE, &back, &back_len, &e);
        if (!rc && (back_len != len || memcmp(back, bytes, len) != 0))
            rc = sp_error_set(&e, SPATE_EIO, "'%s': read back %zu bytes that differ from the %zu written",
                              path, back_len, len);
        free(path);
    }
    free(bytes);
    free(back);
    ids_remove(&s->pending, m->checkpoint_id);
    if (rc) {
        sp_error_t ignored = { 0 };
        (void)sp_ckpt_storage_remove_tree(s->st, chk, &ignored);
        free(chk);
        return sp_error_set(err, rc, "checkpoint %llu failed: %s", id, e.message);
    }
    free(chk);
    ids_push(&s->done, m->checkpoint_id);
    apply_retention(s);
    return SPATE_OK;
}

int sp_ckpt_store_abort(sp_ckpt_store_t *s, uint64_t id, sp_error_t *err)
{
    if (ids_find(&s->done, id, NULL))
        return sp_error_set(err, SPATE_ESTATE, "checkpoint %llu is complete and cannot be aborted",
                            (unsigned long long)id);
    ids_remove(&s->pending, id);
    char *chk = sp_ckpt_store_chk_dir(s, id);
    int rc = sp_ckpt_storage_remove_tree(s->st, chk, err);
    free(chk);
    return rc;
}

/* ---- finding a checkpoint ---- */

void sp_ckpt_found_fini(sp_ckpt_found_t *f)
{
    free(f->chk_dir);
    sp_ckpt_meta_fini(&f->meta);
    memset(f, 0, sizeof *f);
}

static void note_skip(sp_ckpt_found_t *out, const char *fmt, ...) SPATE_PRINTF(2, 3);
static void note_skip(sp_ckpt_found_t *out, const char *fmt, ...)
{
    if (out->skipped++ == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(out->skip_note, sizeof out->skip_note, fmt, ap);
        va_end(ap);
    }
}

/* True when a (in job dir `an`) is newer than b (in `bn`). */
static bool newer(const sp_ckpt_meta_t *a, const char *an, const sp_ckpt_meta_t *b, const char *bn)
{
    if (a->completion_ms != b->completion_ms) return a->completion_ms > b->completion_ms;
    if (a->checkpoint_id != b->checkpoint_id) return a->checkpoint_id > b->checkpoint_id;
    return strcmp(an, bn) > 0;
}

/* The newest valid checkpoint in one <job-id> directory, if it belongs to job_name: into *best when newer. */
static void scan_job_dir(sp_ckpt_storage_t *st, const char *job_dir, const uint8_t job_id[SP_CKPT_JOB_ID_LEN],
                         const char *job_name, sp_ckpt_found_t *out, bool *found)
{
    sp_ckpt_names_t names;
    sp_error_t e = { 0 };
    if (sp_ckpt_storage_list(st, job_dir, &names, &e) != SPATE_OK) {
        if (e.code != SPATE_ENOENT) note_skip(out, "%s", e.message);
        return;
    }
    idlist_t ids = { 0 };
    for (size_t i = 0; i < names.n; i++) {
        uint64_t id = parse_chk_name(names.v[i]);
        if (id) ids_push(&ids, id);
    }
    sp_ckpt_names_free(&names);
    if (ids.n) qsort(ids.v, ids.n, sizeof *ids.v, cmp_ids);
    for (size_t i = ids.n; i-- > 0;) {
        char *chk = sp_xasprintf("%s/chk-%llu", job_dir, (unsigned long long)ids.v[i]);
        sp_ckpt_meta_t m;
        sp_error_t me = { 0 };
        if (read_meta(st, chk, &m, &me) != SPATE_OK) {
            note_skip(out, "%s", me.message);
            free(chk);
            continue;
        }
        if (m.checkpoint_id != ids.v[i] || memcmp(m.job_id, job_id, SP_CKPT_JOB_ID_LEN) != 0) {
            note_skip(out, "'%s/" SP_CKPT_METADATA_FILE "': names checkpoint %llu of another job or id", chk,
                      (unsigned long long)m.checkpoint_id);
            sp_ckpt_meta_fini(&m);
            free(chk);
            continue;
        }
        /* The newest valid one decides: every checkpoint under one job id is of the same job. */
        if (strcmp(m.job_name ? m.job_name : "", job_name) == 0 &&
            (!*found || newer(&m, job_dir, &out->meta, out->chk_dir))) {
            free(out->chk_dir);
            sp_ckpt_meta_fini(&out->meta);
            out->chk_dir = chk;
            out->meta = m;
            *found = true;
        } else {
            sp_ckpt_meta_fini(&m);
            free(chk);
        }
        break;
    }
    free(ids.v);
}

int sp_ckpt_find_latest(sp_ckpt_storage_t *st, const char *dir, const char *job_name, bool *found,
                        sp_ckpt_found_t *out, sp_error_t *err)
{
    memset(out, 0, sizeof *out);
    *found = false;
    sp_ckpt_names_t names;
    sp_error_t e = { 0 };
    if (sp_ckpt_storage_list(st, dir, &names, &e) != SPATE_OK) {
        if (e.code == SPATE_ENOENT) return SPATE_OK; /* no directory yet: nothing to restore */
        return sp_error_set(err, e.code, "finding the latest checkpoint: %s", e.message);
    }
    for (size_t i = 0; i < names.n; i++) {
        uint8_t id[SP_CKPT_JOB_ID_LEN];
        if (!sp_ckpt_job_id_parse(names.v[i], id)) continue;
        size_t dl = strlen(dir);
        while (dl > 1 && dir[dl - 1] == '/') dl--;
        char *job_dir = sp_xasprintf("%.*s/%s", (int)dl, dir, names.v[i]);
        scan_job_dir(st, job_dir, id, job_name ? job_name : "", out, found);
        free(job_dir);
    }
    sp_ckpt_names_free(&names);
    return SPATE_OK;
}

int sp_ckpt_resolve(sp_ckpt_storage_t *st, const char *path, sp_ckpt_found_t *out, sp_error_t *err)
{
    memset(out, 0, sizeof *out);
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    const char *base = path + n;
    while (base > path && base[-1] != '/') base--;
    size_t bl = (size_t)(path + n - base);
    char *chk;
    if (bl == strlen(SP_CKPT_METADATA_FILE) && memcmp(base, SP_CKPT_METADATA_FILE, bl) == 0)
        chk = base == path ? sp_xstrdup(".")
                           : sp_xstrndup(path, base - path > 1 ? (size_t)(base - path - 1) : 1);
    else
        chk = sp_xstrndup(path, n);
    int rc = read_meta(st, chk, &out->meta, err);
    if (rc) {
        free(chk);
        return rc;
    }
    out->chk_dir = chk;
    return SPATE_OK;
}

int sp_ckpt_locate(sp_ckpt_storage_t *st, const char *from, const char *dir, const char *job_name,
                   bool *found, sp_ckpt_found_t *out, sp_error_t *err)
{
    *found = false;
    memset(out, 0, sizeof *out);
    if (strcmp(from, "latest") != 0) {
        int rc = sp_ckpt_resolve(st, from, out, err);
        *found = rc == SPATE_OK;
        return rc;
    }
    if (!dir || !*dir)
        return sp_error_set(err, SPATE_ECONFIG, "--from-checkpoint latest needs state.checkpoints.dir");
    return sp_ckpt_find_latest(st, dir, job_name, found, out, err);
}

char *sp_ckpt_handle_path(const char *chk_dir, const sp_ckpt_handle_t *h)
{
    if (h->location == SP_CKPT_LOC_INLINE || !h->path) return NULL;
    if (h->location == SP_CKPT_LOC_EXCLUSIVE) return sp_xasprintf("%s/%s", chk_dir, h->path);
    size_t n = strlen(chk_dir);
    while (n > 1 && chk_dir[n - 1] == '/') n--;
    size_t p = n;
    while (p > 0 && chk_dir[p - 1] != '/') p--;
    /* p: length of "<job-dir>/"; the parent is "." when chk_dir has no slash */
    const char *sub = h->location == SP_CKPT_LOC_SHARED ? "shared" : "taskowned";
    if (p == 0) return sp_xasprintf("./%s/%s", sub, h->path);
    return sp_xasprintf("%.*s%s/%s", (int)p, chk_dir, sub, h->path);
}
