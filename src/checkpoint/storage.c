/* storage.c — see storage.h.  The local file system and the fault-injecting wrapper. */
#include "checkpoint/storage.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- calls through the vtable ---- */

int sp_ckpt_file_open(sp_ckpt_storage_t *st, const char *path, sp_ckpt_file_t **out, sp_error_t *err)
{
    return st->vt->file_open(st, path, out, err);
}

int sp_ckpt_file_write(sp_ckpt_storage_t *st, sp_ckpt_file_t *f, const void *p, size_t n, sp_error_t *err)
{
    return st->vt->file_write(st, f, p, n, err);
}

int sp_ckpt_file_sync(sp_ckpt_storage_t *st, sp_ckpt_file_t *f, sp_error_t *err)
{
    return st->vt->file_sync(st, f, err);
}

int sp_ckpt_file_close(sp_ckpt_storage_t *st, sp_ckpt_file_t *f, sp_error_t *err)
{
    return st->vt->file_close(st, f, err);
}

int sp_ckpt_storage_rename(sp_ckpt_storage_t *st, const char *from, const char *to, sp_error_t *err)
{
    return st->vt->rename(st, from, to, err);
}

int sp_ckpt_storage_mkdirs(sp_ckpt_storage_t *st, const char *path, sp_error_t *err)
{
    return st->vt->mkdirs(st, path, err);
}

int sp_ckpt_storage_remove(sp_ckpt_storage_t *st, const char *path, sp_error_t *err)
{
    return st->vt->remove(st, path, err);
}

int sp_ckpt_storage_remove_tree(sp_ckpt_storage_t *st, const char *path, sp_error_t *err)
{
    return st->vt->remove_tree(st, path, err);
}

int sp_ckpt_storage_list(sp_ckpt_storage_t *st, const char *path, sp_ckpt_names_t *out, sp_error_t *err)
{
    return st->vt->list(st, path, out, err);
}

int sp_ckpt_storage_load(sp_ckpt_storage_t *st, const char *path, size_t max, sp_ckpt_bytes_t *out,
                         sp_error_t *err)
{
    *out = (sp_ckpt_bytes_t){ 0 };
    if (st->vt->map) return st->vt->map(st, path, max, out, err);
    return st->vt->read(st, path, max, &out->data, &out->len, err);
}

void sp_ckpt_bytes_release(sp_ckpt_bytes_t *b)
{
    if (b->map)
        munmap(b->map, b->maplen);
    else
        free(b->data);
    *b = (sp_ckpt_bytes_t){ 0 };
}

int sp_ckpt_storage_read(sp_ckpt_storage_t *st, const char *path, size_t max, uint8_t **data, size_t *len,
                         sp_error_t *err)
{
    return st->vt->read(st, path, max, data, len, err);
}

int sp_ckpt_storage_sync_dir(sp_ckpt_storage_t *st, const char *path, sp_error_t *err)
{
    return st->vt->sync_dir(st, path, err);
}

void sp_ckpt_storage_destroy(sp_ckpt_storage_t *st)
{
    if (st) st->vt->destroy(st);
}

void sp_ckpt_names_free(sp_ckpt_names_t *names)
{
    if (!names) return;
    for (size_t i = 0; i < names->n; i++) free(names->v[i]);
    free(names->v);
    names->v = NULL;
    names->n = 0;
}

typedef struct bytes {
    const void *data;
    size_t len;
} bytes_t;

static int fill_bytes(void *ctx, sp_ckpt_storage_t *st, sp_ckpt_file_t *f, sp_error_t *err)
{
    const bytes_t *b = ctx;
    return sp_ckpt_file_write(st, f, b->data, b->len, err);
}

int sp_ckpt_storage_write_atomic(sp_ckpt_storage_t *st, const char *dir, const char *name, const void *data,
                                 size_t len, sp_error_t *err)
{
    bytes_t b = { data, len };
    return sp_ckpt_storage_write_atomic_with(st, dir, name, fill_bytes, &b, err);
}

int sp_ckpt_storage_write_atomic_with(sp_ckpt_storage_t *st, const char *dir, const char *name,
                                      sp_ckpt_fill_fn fill, void *ctx, sp_error_t *err)
{
    char *tmp = sp_xasprintf("%s/%s.inprogress", dir, name);
    char *dst = sp_xasprintf("%s/%s", dir, name);
    sp_ckpt_file_t *f = NULL;
    int rc = sp_ckpt_file_open(st, tmp, &f, err);
    if (rc == SPATE_OK) {
        rc = fill(ctx, st, f, err);
        if (rc == SPATE_OK) rc = sp_ckpt_file_sync(st, f, err);
        int crc = sp_ckpt_file_close(st, f, err); /* frees f whatever happens */
        if (rc == SPATE_OK) rc = crc;
    }
    if (rc == SPATE_OK) rc = sp_ckpt_storage_rename(st, tmp, dst, err);
    if (rc != SPATE_OK) {
        /* Best effort: err already holds the cause, which is what the caller must see. */
        sp_error_t ignored = { 0 };
        (void)sp_ckpt_storage_remove(st, tmp, &ignored);
    } else {
        rc = sp_ckpt_storage_sync_dir(st, dir, err);
    }
    free(tmp);
    free(dst);
    return rc;
}

/* ---- the local file system ---- */

/* Large files bypass the page cache: the bytes are staged in an aligned buffer and each full one is
 * written with O_DIRECT, the tail buffered at the end.  A checkpoint of hundreds of MB copied into the
 * page cache spent most of its writing time there (fresh pages taken from the kernel, zeroed in a VM
 * by its host on first touch), and a direct write moves them from the staging buffer to the device.
 * Files shorter than one staging buffer, and file systems without O_DIRECT, are written as before. */
#define STAGE_BYTES ((size_t)4 << 20)
#define STAGE_ALIGN 4096

typedef struct local_file {
    sp_ckpt_file_t base;
    int fd;
    uint8_t *stage; /* STAGE_BYTES, aligned; NULL until the first write */
    size_t staged;
    int direct; /* 0: not tried yet, 1: O_DIRECT on, -1: not available */
} local_file_t;

/* Fills err with "<what> '<path>': <strerror(errnum)>"; ENOENT maps to SPATE_ENOENT. */
static int os_error(sp_error_t *err, int errnum, const char *what, const char *path)
{
    char buf[256];
    const char *text = strerror_r(errnum, buf, sizeof buf);
    return sp_error_set(err, errnum == ENOENT ? SPATE_ENOENT : SPATE_EIO, "%s '%s': %s", what, path, text);
}

static int local_file_open(sp_ckpt_storage_t *st, const char *path, sp_ckpt_file_t **out, sp_error_t *err)
{
    SP_UNUSED(st);
    *out = NULL;
    int fd;
    do fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) return os_error(err, errno, "create", path);
    local_file_t *f = sp_xcalloc(1, sizeof *f);
    f->base.path = sp_xstrdup(path);
    f->fd = fd;
    *out = &f->base;
    return SPATE_OK;
}

/* Writes all n bytes at p to fd: 0, or the errno of the failure. */
static int write_fd(int fd, const uint8_t *p, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, p + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return errno;
        if (w == 0) return EIO; /* no progress: not retried forever */
        done += (size_t)w;
    }
    return 0;
}

/* Turns O_DIRECT on (at an aligned offset: every flush before was a full staging buffer) or off;
 * returns whether it is now as asked. */
static bool set_direct(local_file_t *f, bool on)
{
    int fl = fcntl(f->fd, F_GETFL);
    if (fl < 0) return false;
    fl = on ? fl | O_DIRECT : fl & ~O_DIRECT;
    return fcntl(f->fd, F_SETFL, fl) == 0;
}

/* Writes the staged bytes: directly when `direct` and the file system allows it, else buffered. */
static int flush_stage(local_file_t *f, bool direct, sp_error_t *err)
{
    if (direct && f->direct == 0) f->direct = set_direct(f, true) ? 1 : -1;
    if (!direct && f->direct == 1) f->direct = set_direct(f, false) ? 0 : 1;
    int e = write_fd(f->fd, f->stage, f->staged);
    if (e == EINVAL && f->direct == 1 && set_direct(f, false)) {
        f->direct = -1; /* O_DIRECT taken by fcntl but not by this file system's writes */
        e = write_fd(f->fd, f->stage, f->staged);
    }
    f->staged = 0;
    return e ? os_error(err, e, "write", f->base.path) : SPATE_OK;
}

static int local_file_write(sp_ckpt_storage_t *st, sp_ckpt_file_t *file, const void *p, size_t n,
                            sp_error_t *err)
{
    SP_UNUSED(st);
    local_file_t *f = (local_file_t *)file;
    const uint8_t *c = p;
    if (!f->stage && posix_memalign((void **)&f->stage, STAGE_ALIGN, STAGE_BYTES) != 0)
        return sp_error_set(err, SPATE_ENOMEM, "write '%s': cannot allocate %zu bytes", file->path,
                            STAGE_BYTES);
    while (n) {
        size_t take = SP_MIN(n, STAGE_BYTES - f->staged);
        memcpy(f->stage + f->staged, c, take);
        f->staged += take;
        c += take;
        n -= take;
        if (f->staged == STAGE_BYTES) {
            int rc = flush_stage(f, true, err);
            if (rc) return rc;
        }
    }
    return SPATE_OK;
}

static int local_file_sync(sp_ckpt_storage_t *st, sp_ckpt_file_t *file, sp_error_t *err)
{
    SP_UNUSED(st);
    local_file_t *f = (local_file_t *)file;
    int rc = flush_stage(f, false, err); /* the tail, less than a buffer */
    if (rc) return rc;
    if (fsync(f->fd) != 0) return os_error(err, errno, "fsync", file->path);
    return SPATE_OK;
}

static int local_file_close(sp_ckpt_storage_t *st, sp_ckpt_file_t *file, sp_error_t *err)
{
    SP_UNUSED(st);
    local_file_t *f = (local_file_t *)file;
    int rc = flush_stage(f, false, err);
    /* No retry on EINTR: on Linux the descriptor is gone either way. */
    if (close(f->fd) != 0 && rc == SPATE_OK) rc = os_error(err, errno, "close", file->path);
    free(f->stage);
    free(file->path);
    free(f);
    return rc;
}

static int local_rename(sp_ckpt_storage_t *st, const char *from, const char *to, sp_error_t *err)
{
    SP_UNUSED(st);
    if (rename(from, to) != 0) {
        char buf[256];
        int e = errno;
        return sp_error_set(err, e == ENOENT ? SPATE_ENOENT : SPATE_EIO, "rename '%s' to '%s': %s", from, to,
                            strerror_r(e, buf, sizeof buf));
    }
    return SPATE_OK;
}

static int mkdir_one(const char *path, sp_error_t *err)
{
    if (mkdir(path, 0755) == 0) return SPATE_OK;
    int e = errno;
    struct stat sb;
    if (e == EEXIST && stat(path, &sb) == 0) {
        if (S_ISDIR(sb.st_mode)) return SPATE_OK;
        e = ENOTDIR;
    }
    return os_error(err, e, "create directory", path);
}

static int local_mkdirs(sp_ckpt_storage_t *st, const char *path, sp_error_t *err)
{
    SP_UNUSED(st);
    char *p = sp_xstrdup(path);
    int rc = SPATE_OK;
    for (char *s = p + 1; *s && rc == SPATE_OK; s++) {
        if (*s != '/') continue;
        *s = '\0';
        rc = mkdir_one(p, err);
        *s = '/';
    }
    if (rc == SPATE_OK && *p) rc = mkdir_one(p, err);
    free(p);
    return rc;
}

static int local_remove(sp_ckpt_storage_t *st, const char *path, sp_error_t *err)
{
    SP_UNUSED(st);
    if (unlink(path) != 0 && errno != ENOENT) return os_error(err, errno, "remove", path);
    return SPATE_OK;
}

static int remove_tree(const char *path, sp_error_t *err)
{
    struct stat sb;
    if (lstat(path, &sb) != 0) return errno == ENOENT ? SPATE_OK : os_error(err, errno, "stat", path);
    if (!S_ISDIR(sb.st_mode)) {
        if (unlink(path) != 0 && errno != ENOENT) return os_error(err, errno, "remove", path);
        return SPATE_OK;
    }
    DIR *d = opendir(path);
    if (!d) return errno == ENOENT ? SPATE_OK : os_error(err, errno, "open directory", path);
    int rc = SPATE_OK;
    struct dirent *e;
    while (rc == SPATE_OK && (errno = 0, e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char *child = sp_xasprintf("%s/%s", path, e->d_name);
        rc = remove_tree(child, err);
        free(child);
    }
    if (rc == SPATE_OK && errno != 0) rc = os_error(err, errno, "read directory", path);
    closedir(d);
    if (rc == SPATE_OK && rmdir(path) != 0 && errno != ENOENT)
        rc = os_error(err, errno, "remove directory", path);
    return rc;
}

static int local_remove_tree(sp_ckpt_storage_t *st, const char *path, sp_error_t *err)
{
    SP_UNUSED(st);
    return remove_tree(path, err);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int local_list(sp_ckpt_storage_t *st, const char *path, sp_ckpt_names_t *out, sp_error_t *err)
{
    SP_UNUSED(st);
    out->v = NULL;
    out->n = 0;
    DIR *d = opendir(path);
    if (!d) return os_error(err, errno, "open directory", path);
    size_t cap = 0;
    struct dirent *e;
    while ((errno = 0, e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (out->n == cap) {
            cap = cap ? cap * 2 : 16;
            out->v = sp_xrealloc(out->v, cap * sizeof *out->v);
        }
        out->v[out->n++] = sp_xstrdup(e->d_name);
    }
    int rc = errno != 0 ? os_error(err, errno, "read directory", path) : SPATE_OK;
    closedir(d);
    if (rc != SPATE_OK) {
        sp_ckpt_names_free(out);
        return rc;
    }
    if (out->n) qsort(out->v, out->n, sizeof *out->v, cmp_names);
    return SPATE_OK;
}

static int local_read(sp_ckpt_storage_t *st, const char *path, size_t max, uint8_t **data, size_t *len,
                      sp_error_t *err)
{
    SP_UNUSED(st);
    *data = NULL;
    *len = 0;
    int fd;
    do fd = open(path, O_RDONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) return os_error(err, errno, "open", path);
    int rc = SPATE_OK;
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        rc = os_error(err, errno, "stat", path);
    } else if (S_ISDIR(sb.st_mode)) {
        rc = os_error(err, EISDIR, "read", path);
    } else if ((uint64_t)sb.st_size > max) {
        rc = sp_error_set(err, SPATE_EIO, "read '%s': file is %lld bytes, more than the limit of %zu", path,
                          (long long)sb.st_size, max);
    }
    /* Read up to max + 1 bytes whatever fstat said, so a file that grows is caught too. */
    size_t cap = rc == SPATE_OK ? (size_t)sb.st_size + 1 : 0, n = 0;
    uint8_t *buf = NULL;
    if (rc == SPATE_OK && !(buf = malloc(cap + 1)))
        rc = sp_error_set(err, SPATE_ENOMEM, "read '%s': cannot allocate %zu bytes", path, cap + 1);
    while (rc == SPATE_OK) {
        if (n == cap) {
            if (cap > max) {
                rc = sp_error_set(err, SPATE_EIO, "read '%s': file is more than the limit of %zu bytes", path,
                                  max);
                break;
            }
            size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            uint8_t *nb = realloc(buf, ncap + 1);
            if (!nb) {
                rc = sp_error_set(err, SPATE_ENOMEM, "read '%s': cannot allocate %zu bytes", path, ncap + 1);
                break;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) rc = os_error(err, errno, "read", path);
        if (r <= 0) break;
        n += (size_t)r;
    }
    close(fd);
    if (rc == SPATE_OK && n > max)
        rc = sp_error_set(err, SPATE_EIO, "read '%s': file is more than the limit of %zu bytes", path, max);
    if (rc != SPATE_OK) {
        free(buf);
        return rc;
    }
    buf[n] = 0;
    *data = buf;
    *len = n;
    return SPATE_OK;
}

/* Files smaller than this are read: a map costs a system call or two more and a page each. */
#define MAP_MIN_BYTES ((size_t)1 << 20)

static int local_map(sp_ckpt_storage_t *st, const char *path, size_t max, sp_ckpt_bytes_t *out,
                     sp_error_t *err)
{
    struct stat sb;
    int fd;
    do fd = open(path, O_RDONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) return os_error(err, errno, "open", path);
    void *map = MAP_FAILED;
#ifdef MADV_POPULATE_READ /* without it, no safe way to read a map in: read */
    /* anything unusual (a directory, a small or an oversized file, no map) goes the way of read */
    if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && (uint64_t)sb.st_size >= MAP_MIN_BYTES &&
        (uint64_t)sb.st_size <= max && (uint64_t)sb.st_size <= SIZE_MAX)
        map = mmap(NULL, (size_t)sb.st_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    /* every page read in now: a read error of the disk is an error of this call (then read, which
     * reports it), never a SIGBUS later where the restore touches the page */
    if (map != MAP_FAILED && madvise(map, (size_t)sb.st_size, MADV_POPULATE_READ) != 0) {
        munmap(map, (size_t)sb.st_size);
        map = MAP_FAILED;
    }
#endif
    close(fd);
    if (map == MAP_FAILED) return local_read(st, path, max, &out->data, &out->len, err);
    out->data = map;
    out->len = out->maplen = (size_t)sb.st_size;
    out->map = map;
    return SPATE_OK;
}

static int local_sync_dir(sp_ckpt_storage_t *st, const char *path, sp_error_t *err)
{
    SP_UNUSED(st);
    int fd;
    do fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) return os_error(err, errno, "open directory", path);
    int rc = fsync(fd) != 0 ? os_error(err, errno, "fsync directory", path) : SPATE_OK;
    close(fd);
    return rc;
}

static void local_destroy(sp_ckpt_storage_t *st)
{
    free(st);
}

static const sp_ckpt_storage_vtable_t LOCAL_VT = {
    .file_open = local_file_open,
    .file_write = local_file_write,
    .file_sync = local_file_sync,
    .file_close = local_file_close,
    .rename = local_rename,
    .mkdirs = local_mkdirs,
    .remove = local_remove,
    .remove_tree = local_remove_tree,
    .list = local_list,
    .read = local_read,
    .map = local_map,
    .sync_dir = local_sync_dir,
    .destroy = local_destroy,
};

sp_ckpt_storage_t *sp_ckpt_local_storage_create(void)
{
    sp_ckpt_storage_t *st = sp_xcalloc(1, sizeof *st);
    st->vt = &LOCAL_VT;
    return st;
}

/* ---- the fault-injecting wrapper ---- */

typedef struct faulty {
    sp_ckpt_storage_t base;
    sp_ckpt_storage_t *inner; /* borrowed */
    pthread_mutex_t mu;       /* the faults and counters: a running job calls from several threads */
    sp_ckpt_fault_t fault[SP_CKPT_OP_COUNT]; /* per operation, when armed[op] */
    bool armed[SP_CKPT_OP_COUNT];
    int64_t calls[SP_CKPT_OP_COUNT];
    int64_t fired;
} faulty_t;

typedef struct faulty_file {
    sp_ckpt_file_t base;
    sp_ckpt_file_t *inner;
} faulty_file_t;

static const char *const OP_NAMES[SP_CKPT_OP_COUNT] = {
    "create", "write",  "fsync", "close", "rename",          "create directory",
    "remove", "remove", "list",  "read",  "fsync directory",
};

/* Counts a call of op; true when the fault armed for op hits it (*f: that fault). */
static bool hit(faulty_t *fs, sp_ckpt_op_t op, sp_ckpt_fault_t *f)
{
    pthread_mutex_lock(&fs->mu);
    int64_t n = ++fs->calls[op];
    *f = fs->fault[op];
    bool h = fs->armed[op] && (n == f->nth || (f->persistent && n > f->nth));
    if (h) fs->fired++;
    pthread_mutex_unlock(&fs->mu);
    return h;
}

static int injected(const sp_ckpt_fault_t *f, sp_ckpt_op_t op, const char *path, sp_error_t *err)
{
    char buf[256];
    int e = f->errnum ? f->errnum : EIO;
    return sp_error_set(err, e == ENOENT ? SPATE_ENOENT : SPATE_EIO, "%s '%s': %s (injected fault)",
                        OP_NAMES[op], path, strerror_r(e, buf, sizeof buf));
}

static int faulty_file_open(sp_ckpt_storage_t *st, const char *path, sp_ckpt_file_t **out, sp_error_t *err)
{
    faulty_t *fs = (faulty_t *)st;
    *out = NULL;
    sp_ckpt_fault_t fault;
    if (hit(fs, SP_CKPT_OP_FILE_OPEN, &fault)) return injected(&fault, SP_CKPT_OP_FILE_OPEN, path, err);
    sp_ckpt_file_t *inner;
    int rc = sp_ckpt_file_open(fs->inner, path, &inner, err);
    if (rc) return rc;
    faulty_file_t *f = sp_xcalloc(1, sizeof *f);
    f->base.path = sp_xstrdup(path);
    f->inner = inner;
    *out = &f->base;
    return SPATE_OK;
}

static int faulty_file_write(sp_ckpt_storage_t *st, sp_ckpt_file_t *file, const void *p, size_t n,
                             sp_error_t *err)
{
    faulty_t *fs = (faulty_t *)st;
    faulty_file_t *f = (faulty_file_t *)file;
    sp_ckpt_fault_t fault;
    if (!hit(fs, SP_CKPT_OP_FILE_WRITE, &fault)) return sp_ckpt_file_write(fs->inner, f->inner, p, n, err);
    if (fault.partial) {
        int rc = sp_ckpt_file_write(fs->inner, f->inner, p, n / 2, err);
        if (rc) return rc;
        if (fault.errnum == 0) return SPATE_OK; /* torn: the rest is silently lost */
        char buf[256];
        return sp_error_set(err, SPATE_EIO, "write '%s': short write, %zu of %zu bytes: %s (injected fault)",
                            file->path, n / 2, n, strerror_r(fault.errnum, buf, sizeof buf));
    }
    return injected(&fault, SP_CKPT_OP_FILE_WRITE, file->path, err);
}

static int faulty_file_sync(sp_ckpt_storage_t *st, sp_ckpt_file_t *file, sp_error_t *err)
{
    faulty_t *fs = (faulty_t *)st;
    faulty_file_t *f = (faulty_file_t *)file;
    sp_ckpt_fault_t fault;
    if (hit(fs, SP_CKPT_OP_FILE_SYNC, &fault)) return injected(&fault, SP_CKPT_OP_FILE_SYNC, file->path, err);
    return sp_ckpt_file_sync(fs->inner, f->inner, err);
}

static int faulty_file_close(sp_ckpt_storage_t *st, sp_ckpt_file_t *file, sp_error_t *err)
{
    faulty_t *fs = (faulty_t *)st;
    faulty_file_t *f = (faulty_file_t *)file;
    /* The inner file is closed whatever happens: a failing close still releases the descriptor. */
    sp_ckpt_fault_t fault;
    int rc = hit(fs, SP_CKPT_OP_FILE_CLOSE, &fault) ? injected(&fault, SP_CKPT_OP_FILE_CLOSE, file->path, err)
                                                    : SPATE_OK;
    int crc = sp_ckpt_file_close(fs->inner, f->inner, err);
    free(file->path);
    free(f);
    return rc ? rc : crc;
}

static int faulty_rename(sp_ckpt_storage_t *st, const char *from, const char *to, sp_error_t *err)
{
    faulty_t *fs = (faulty_t *)st;
    sp_ckpt_fault_t fault;
    if (hit(fs, SP_CKPT_OP_RENAME, &fault)) {
        char buf[256];
        int e = fault.errnum ? fault.errnum : EIO;
        return sp_error_set(err, SPATE_EIO, "rename '%s' to '%s': %s (injected fault)", from, to,
                            strerror_r(e, buf, sizeof buf));
    }
    return sp_ckpt_storage_rename(fs->inner, from, to, err);
}

/* The pass-through operations that take one path. */
#define FAULTY_PATH_OP(fn, op, call)                                                                         \
    static int fn(sp_ckpt_storage_t *st, const char *path, sp_error_t *err)                                  \
    {                                                                                                        \
        faulty_t *fs = (faulty_t *)st;                                                                       \
        sp_ckpt_fault_t fault;                                                                               \
        if (hit(fs, op, &fault)) return injected(&fault, op, path, err);                                     \
        return call(fs->inner, path, err);                                                                   \
    }
FAULTY_PATH_OP(faulty_mkdirs, SP_CKPT_OP_MKDIRS, sp_ckpt_storage_mkdirs)
FAULTY_PATH_OP(faulty_remove, SP_CKPT_OP_REMOVE, sp_ckpt_storage_remove)
FAULTY_PATH_OP(faulty_remove_tree, SP_CKPT_OP_REMOVE_TREE, sp_ckpt_storage_remove_tree)
FAULTY_PATH_OP(faulty_sync_dir, SP_CKPT_OP_SYNC_DIR, sp_ckpt_storage_sync_dir)
#undef FAULTY_PATH_OP

static int faulty_list(sp_ckpt_storage_t *st, const char *path, sp_ckpt_names_t *out, sp_error_t *err)
{
    faulty_t *fs = (faulty_t *)st;
    sp_ckpt_fault_t fault;
    if (hit(fs, SP_CKPT_OP_LIST, &fault)) {
        out->v = NULL;
        out->n = 0;
        return injected(&fault, SP_CKPT_OP_LIST, path, err);
    }
    return sp_ckpt_storage_list(fs->inner, path, out, err);
}

static int faulty_read(sp_ckpt_storage_t *st, const char *path, size_t max, uint8_t **data, size_t *len,
                       sp_error_t *err)
{
    faulty_t *fs = (faulty_t *)st;
    sp_ckpt_fault_t fault;
    if (hit(fs, SP_CKPT_OP_READ, &fault)) {
        *data = NULL;
        *len = 0;
        return injected(&fault, SP_CKPT_OP_READ, path, err);
    }
    return sp_ckpt_storage_read(fs->inner, path, max, data, len, err);
}

static int faulty_map(sp_ckpt_storage_t *st, const char *path, size_t max, sp_ckpt_bytes_t *out,
                      sp_error_t *err)
{
    faulty_t *fs = (faulty_t *)st;
    sp_ckpt_fault_t fault;
    if (hit(fs, SP_CKPT_OP_READ, &fault)) return injected(&fault, SP_CKPT_OP_READ, path, err);
    return sp_ckpt_storage_load(fs->inner, path, max, out, err);
}

static void faulty_destroy(sp_ckpt_storage_t *st)
{
    pthread_mutex_destroy(&((faulty_t *)st)->mu);
    free(st);
}

static const sp_ckpt_storage_vtable_t FAULTY_VT = {
    .file_open = faulty_file_open,
    .file_write = faulty_file_write,
    .file_sync = faulty_file_sync,
    .file_close = faulty_file_close,
    .rename = faulty_rename,
    .mkdirs = faulty_mkdirs,
    .remove = faulty_remove,
    .remove_tree = faulty_remove_tree,
    .list = faulty_list,
    .read = faulty_read,
    .map = faulty_map,
    .sync_dir = faulty_sync_dir,
    .destroy = faulty_destroy,
};

sp_ckpt_storage_t *sp_ckpt_faulty_storage_create(sp_ckpt_storage_t *inner)
{
    faulty_t *fs = sp_xcalloc(1, sizeof *fs);
    fs->base.vt = &FAULTY_VT;
    fs->inner = inner;
    pthread_mutex_init(&fs->mu, NULL);
    return &fs->base;
}

void sp_ckpt_faulty_arm(sp_ckpt_storage_t *st, const sp_ckpt_fault_t *fault)
{
    assert(st->vt == &FAULTY_VT && fault->op < SP_CKPT_OP_COUNT);
    faulty_t *fs = (faulty_t *)st;
    pthread_mutex_lock(&fs->mu);
    memset(fs->armed, 0, sizeof fs->armed);
    fs->fault[fault->op] = *fault;
    fs->armed[fault->op] = true;
    fs->fired = 0;
    memset(fs->calls, 0, sizeof fs->calls);
    pthread_mutex_unlock(&fs->mu);
}

void sp_ckpt_faulty_arm_also(sp_ckpt_storage_t *st, const sp_ckpt_fault_t *fault)
{
    assert(st->vt == &FAULTY_VT && fault->op < SP_CKPT_OP_COUNT);
    faulty_t *fs = (faulty_t *)st;
    pthread_mutex_lock(&fs->mu);
    fs->fault[fault->op] = *fault;
    fs->armed[fault->op] = true;
    fs->calls[fault->op] = 0;
    pthread_mutex_unlock(&fs->mu);
}

void sp_ckpt_faulty_disarm(sp_ckpt_storage_t *st)
{
    assert(st->vt == &FAULTY_VT);
    faulty_t *fs = (faulty_t *)st;
    pthread_mutex_lock(&fs->mu);
    memset(fs->armed, 0, sizeof fs->armed);
    pthread_mutex_unlock(&fs->mu);
}

int64_t sp_ckpt_faulty_calls(const sp_ckpt_storage_t *st, sp_ckpt_op_t op)
{
    assert(st->vt == &FAULTY_VT && op < SP_CKPT_OP_COUNT);
    faulty_t *fs = (faulty_t *)st;
    pthread_mutex_lock(&fs->mu);
    int64_t n = fs->calls[op];
    pthread_mutex_unlock(&fs->mu);
    return n;
}

int64_t sp_ckpt_faulty_fired(const sp_ckpt_storage_t *st)
{
    assert(st->vt == &FAULTY_VT);
    faulty_t *fs = (faulty_t *)st;
    pthread_mutex_lock(&fs->mu);
    int64_t n = fs->fired;
    pthread_mutex_unlock(&fs->mu);
    return n;
}
