/*
 * memory_storage.c — checkpoint storage in memory (Flink's
 * JobManagerCheckpointStorage): where an embedded job's checkpoints go when
 * no state.checkpoints.dir is set, so that it can restart from them in the
 * same process.  Nothing survives the process.
 *
 * Entries are absolute paths, each a directory or a file with its bytes, in
 * one array under a mutex (checkpoint directories hold a handful of files;
 * the bytes are what matters).  Operations behave as on a local file system:
 * a file needs its parent directory, rename replaces, listing is sorted.
 * Writes land when the file is closed; the sync calls have nothing to do.
 */
#include "checkpoint/storage.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct mem_entry {
    char *path;
    bool dir;
    uint8_t *data;
    size_t len;
} mem_entry_t;

typedef struct mem_storage {
    sp_ckpt_storage_t base;
    pthread_mutex_t mu;
    mem_entry_t *e;
    size_t n, cap;
} mem_storage_t;

typedef struct mem_file {
    sp_ckpt_file_t base;
    uint8_t *data;
    size_t len, cap;
} mem_file_t;

static mem_entry_t *find(mem_storage_t *m, const char *path)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->e[i].path, path) == 0) return &m->e[i];
    return NULL;
}

static void drop_at(mem_storage_t *m, size_t i)
{
    free(m->e[i].path);
    free(m->e[i].data);
    m->e[i] = m->e[--m->n];
}

static mem_entry_t *add(mem_storage_t *m, const char *path, bool dir)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 16;
        m->e = sp_xrealloc(m->e, sizeof *m->e * m->cap);
    }
    mem_entry_t *e = &m->e[m->n++];
    memset(e, 0, sizeof *e);
    e->path = sp_xstrdup(path);
    e->dir = dir;
    return e;
}

/* The parent directory of path exists ("/" and "" always do). */
static bool parent_exists(mem_storage_t *m, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path) return true;
    char *parent = sp_xstrndup(path, (size_t)(slash - path));
    mem_entry_t *e = find(m, parent);
    free(parent);
    return e && e->dir;
}

static int missing(sp_error_t *err, const char *what, const char *path)
{
    return sp_error_set(err, SPATE_ENOENT, "%s '%s': No such file or directory", what, path);
}

static int mem_file_open(sp_ckpt_storage_t *st, const char *path, sp_ckpt_file_t **out, sp_error_t *err)
{
    mem_storage_t *m = (mem_storage_t *)st;
    pthread_mutex_lock(&m->mu);
    bool ok = parent_exists(m, path);
    mem_entry_t *e = find(m, path);
    bool is_dir = e && e->dir;
    pthread_mutex_unlock(&m->mu);
    if (!ok) return missing(err, "open", path);
    if (is_dir) return sp_error_set(err, SPATE_EIO, "open '%s': Is a directory", path);
    mem_file_t *f = sp_xcalloc(1, sizeof *f);
    f->base.path = sp_xstrdup(path);
    *out = &f->base;
    return SPATE_OK;
}

static int mem_file_write(sp_ckpt_storage_t *st, sp_ckpt_file_t *file, const void *p, size_t n,
                          sp_error_t *err)
{
    SP_UNUSED(st);
    SP_UNUSED(err);
    mem_file_t *f = (mem_file_t *)file;
    if (f->len + n > f->cap) {
        f->cap = (f->len + n) * 2;
        f->data = sp_xrealloc(f->data, f->cap);
    }
    if (n) memcpy(f->data + f->len, p, n);
    f->len += n;
    return SPATE_OK;
}

static int mem_nothing(sp_ckpt_storage_t *st, sp_ckpt_file_t *f, sp_error_t *err)
{
    SP_UNUSED(st);
    SP_UNUSED(f);
    SP_UNUSED(err);
    return SPATE_OK;
}

static int mem_file_close(sp_ckpt_storage_t *st, sp_ckpt_file_t *file, sp_error_t *err)
{
    mem_storage_t *m = (mem_storage_t *)st;
    mem_file_t *f = (mem_file_t *)file;
    int rc = SPATE_OK;
    pthread_mutex_lock(&m->mu);
    if (!parent_exists(m, f->base.path)) {
        rc = missing(err, "close", f->base.path);
    } else {
        mem_entry_t *e = find(m, f->base.path);
        if (!e) e = add(m, f->base.path, false);
        free(e->data);
        e->data = f->data; /* the bytes pass to the entry */
        e->len = f->len;
        f->data = NULL;
    }
    pthread_mutex_unlock(&m->mu);
    free(f->data);
    free(f->base.path);
    free(f);
    return rc;
}

static int mem_rename(sp_ckpt_storage_t *st, const char *from, const char *to, sp_error_t *err)
{
    mem_storage_t *m = (mem_storage_t *)st;
    pthread_mutex_lock(&m->mu);
    mem_entry_t *e = find(m, from);
    int rc = SPATE_OK;
    if (!e || e->dir) {
        rc = missing(err, "rename", from);
    } else {
        mem_entry_t *old = find(m, to);
        if (old) {
            free(old->data);
            old->data = e->data;
            old->len = e->len;
            e->data = NULL;
            drop_at(m, (size_t)(e - m->e));
        } else {
            free(e->path);
            e->path = sp_xstrdup(to);
        }
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

static int mem_mkdirs(sp_ckpt_storage_t *st, const char *path, sp_error_t *err)
{
    mem_storage_t *m = (mem_storage_t *)st;
    char *p = sp_xstrdup(path);
    int rc = SPATE_OK;
    pthread_mutex_lock(&m->mu);
    for (char *s = p + 1;; s++) { /* every prefix up to a '/', then the whole path */
        if (*s != '/' && *s != '\0') continue;
        char c = *s;
        *s = '\0';
        mem_entry_t *e = find(m, p);
        if (e && !e->dir) rc = sp_error_set(err, SPATE_EIO, "mkdir '%s': Not a directory", p);
        if (!e) add(m, p, true);
        *s = c;
        if (!c || rc) break;
    }
    pthread_mutex_unlock(&m->mu);
    free(p);
    return rc;
}

static int mem_remove(sp_ckpt_storage_t *st, const char *path, sp_error_t *err)
{
    SP_UNUSED(err);
    mem_storage_t *m = (mem_storage_t *)st;
    pthread_mutex_lock(&m->mu);
    mem_entry_t *e = find(m, path);
    if (e && !e->dir) drop_at(m, (size_t)(e - m->e));
    pthread_mutex_unlock(&m->mu);
    return SPATE_OK;
}

static bool under(const char *path, const char *dir, size_t dlen)
{
    return strncmp(path, dir, dlen) == 0 && (path[dlen] == '\0' || path[dlen] == '/');
}

static int mem_remove_tree(sp_ckpt_storage_t *st, const char *path, sp_error_t *err)
{
    SP_UNUSED(err);
    mem_storage_t *m = (mem_storage_t *)st;
    size_t dlen = strlen(path);
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->n;)
        if (under(m->e[i].path, path, dlen))
            drop_at(m, i);
        else
            i++;
    pthread_mutex_unlock(&m->mu);
    return SPATE_OK;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int mem_list(sp_ckpt_storage_t *st, const char *path, sp_ckpt_names_t *out, sp_error_t *err)
{
    mem_storage_t *m = (mem_storage_t *)st;
    size_t dlen = strlen(path);
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&m->mu);
    mem_entry_t *d = find(m, path);
    if (!d || !d->dir) {
        pthread_mutex_unlock(&m->mu);
        return missing(err, "list", path);
    }
    for (size_t i = 0; i < m->n; i++) {
        const char *p = m->e[i].path;
        if (!under(p, path, dlen) || p[dlen] != '/' || strchr(p + dlen + 1, '/')) continue;
        out->v = sp_xrealloc(out->v, sizeof *out->v * (out->n + 1));
        out->v[out->n++] = sp_xstrdup(p + dlen + 1);
    }
    pthread_mutex_unlock(&m->mu);
    if (out->n) qsort(out->v, out->n, sizeof *out->v, by_name);
    return SPATE_OK;
}

static int mem_read(sp_ckpt_storage_t *st, const char *path, size_t max, uint8_t **data, size_t *len,
                    sp_error_t *err)
{
    mem_storage_t *m = (mem_storage_t *)st;
    pthread_mutex_lock(&m->mu);
    mem_entry_t *e = find(m, path);
    int rc = SPATE_OK;
    if (!e || e->dir) {
        rc = missing(err, "read", path);
    } else if (e->len > max) {
        rc = sp_error_set(err, SPATE_EIO, "read '%s': larger than %zu bytes", path, max);
    } else {
        *data = sp_xmalloc(e->len + 1);
        if (e->len) memcpy(*data, e->data, e->len);
        (*data)[e->len] = 0;
        *len = e->len;
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

static int mem_sync_dir(sp_ckpt_storage_t *st, const char *path, sp_error_t *err)
{
    SP_UNUSED(st);
    SP_UNUSED(path);
    SP_UNUSED(err);
    return SPATE_OK;
}

static void mem_destroy(sp_ckpt_storage_t *st)
{
    mem_storage_t *m = (mem_storage_t *)st;
    while (m->n) drop_at(m, m->n - 1);
    free(m->e);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static const sp_ckpt_storage_vtable_t mem_vt = { .file_open = mem_file_open,
                                                 .file_write = mem_file_write,
                                                 .file_sync = mem_nothing,
                                                 .file_close = mem_file_close,
                                                 .rename = mem_rename,
                                                 .mkdirs = mem_mkdirs,
                                                 .remove = mem_remove,
                                                 .remove_tree = mem_remove_tree,
                                                 .list = mem_list,
                                                 .read = mem_read,
                                                 .sync_dir = mem_sync_dir,
                                                 .destroy = mem_destroy };

sp_ckpt_storage_t *sp_ckpt_memory_storage_create(void)
{
    mem_storage_t *m = sp_xcalloc(1, sizeof *m);
    m->base.vt = &mem_vt;
    pthread_mutex_init(&m->mu, NULL);
    return &m->base;
}
