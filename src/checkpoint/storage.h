/*
 * storage.h — the file operations checkpoint storage needs, behind a vtable
 * (DESIGN.md §4, STYLE.md §10), so that tests can inject I/O faults and a
 * remote file system can come later behind the same calls.
 *
 * Implementations:
 *   local   POSIX files and directories (open/write/fsync/rename/...).
 *   memory  files and directories in memory (memory_storage.c).
 *   faulty  a wrapper around another storage that makes the Nth call of one
 *           operation fail: an errno (EIO, ENOSPC, ...), a short write (a
 *           prefix lands, the call fails) or a torn write (a prefix lands,
 *           the call reports success: lying storage).  For tests.
 *
 * Errors: every call returns SPATE_OK or a negative SPATE_E* code and fills
 * `err` (first error wins, sp_error_set) with the operation, the path and
 * the strerror text, e.g.
 *     write '/ckpt/4f…/chk-3/_metadata.inprogress': No space left on device
 * A missing file is SPATE_ENOENT, everything else SPATE_EIO.  Nothing here
 * asserts on what the file system returns.
 *
 * Threads: a storage object may be used from several threads only if its
 * implementation allows it (local, memory and faulty: yes).  A file handle
 * belongs to one thread.  Every call may block.
 */
#ifndef SP_CHECKPOINT_STORAGE_H
#define SP_CHECKPOINT_STORAGE_H

#include "common/common.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sp_ckpt_storage sp_ckpt_storage_t;

/* An open file, being written.  Implementations embed it as their first member. */
typedef struct sp_ckpt_file {
    char *path; /* owned by the handle, for messages */
} sp_ckpt_file_t;

/* Names in a directory (no "." or ".."), sorted bytewise.  Owned: free with sp_ckpt_names_free. */
typedef struct sp_ckpt_names {
    char **v;
    size_t n;
} sp_ckpt_names_t;

/* Bytes loaded from storage (sp_ckpt_storage_load): a buffer of their own, or a private map of the
 * file.  Release with sp_ckpt_bytes_release. */
typedef struct sp_ckpt_bytes {
    uint8_t *data; /* writable (a map is copy-on-write: nothing reaches the file); not NUL-terminated */
    size_t len;
    void *map; /* the mapping to unmap, or NULL: data is malloc'd */
    size_t maplen;
} sp_ckpt_bytes_t;

typedef struct sp_ckpt_storage_vtable {
    /* Creates (or truncates) `path` for writing. */
    int (*file_open)(sp_ckpt_storage_t *st, const char *path, sp_ckpt_file_t **out, sp_error_t *err);
    /* Writes all `n` bytes or fails; a failure may leave a prefix written. */
    int (*file_write)(sp_ckpt_storage_t *st, sp_ckpt_file_t *f, const void *p, size_t n, sp_error_t *err);
    int (*file_sync)(sp_ckpt_storage_t *st, sp_ckpt_file_t *f, sp_error_t *err);
    /* Frees the handle also when it fails. */
    int (*file_close)(sp_ckpt_storage_t *st, sp_ckpt_file_t *f, sp_error_t *err);
    /* Atomically replaces `to` with `from` (same directory). */
    int (*rename)(sp_ckpt_storage_t *st, const char *from, const char *to, sp_error_t *err);
    /* mkdir -p: existing directories are fine. */
    int (*mkdirs)(sp_ckpt_storage_t *st, const char *path, sp_error_t *err);
    /* Removes a file; a missing one is not an error. */
    int (*remove)(sp_ckpt_storage_t *st, const char *path, sp_error_t *err);
    /* rm -r without following symlinks; a missing path is not an error. */
    int (*remove_tree)(sp_ckpt_storage_t *st, const char *path, sp_error_t *err);
    /* The names in a directory (SPATE_ENOENT if it does not exist). */
    int (*list)(sp_ckpt_storage_t *st, const char *path, sp_ckpt_names_t *out, sp_error_t *err);
    /* A whole file into a new buffer (*data, caller frees; NUL-terminated past *len). Files larger than
     * `max` bytes fail with SPATE_EIO. SPATE_ENOENT if missing. */
    int (*read)(sp_ckpt_storage_t *st, const char *path, size_t max, uint8_t **data, size_t *len,
                sp_error_t *err);
    /* Optional (NULL: read): a whole file mapped into memory, for big files read once (a restore's
     * state): the page cache's pages serve as they are, where a read zeroes fresh memory and copies
     * into it.  Same limit and errors as read. */
    int (*map)(sp_ckpt_storage_t *st, const char *path, size_t max, sp_ckpt_bytes_t *out, sp_error_t *err);
    /* fsync of a directory: makes the entries created, renamed or removed in it durable. */
    int (*sync_dir)(sp_ckpt_storage_t *st, const char *path, sp_error_t *err);
    void (*destroy)(sp_ckpt_storage_t *st);
} sp_ckpt_storage_vtable_t;

struct sp_ckpt_storage {
    const sp_ckpt_storage_vtable_t *vt;
};

/* ---- calls through the vtable (same contracts as above) ---- */

int sp_ckpt_file_open(sp_ckpt_storage_t *st, const char *path, sp_ckpt_file_t **out, sp_error_t *err);
int sp_ckpt_file_write(sp_ckpt_storage_t *st, sp_ckpt_file_t *f, const void *p, size_t n, sp_error_t *err);
int sp_ckpt_file_sync(sp_ckpt_storage_t *st, sp_ckpt_file_t *f, sp_error_t *err);
int sp_ckpt_file_close(sp_ckpt_storage_t *st, sp_ckpt_file_t *f, sp_error_t *err);
int sp_ckpt_storage_rename(sp_ckpt_storage_t *st, const char *from, const char *to, sp_error_t *err);
int sp_ckpt_storage_mkdirs(sp_ckpt_storage_t *st, const char *path, sp_error_t *err);
int sp_ckpt_storage_remove(sp_ckpt_storage_t *st, const char *path, sp_error_t *err);
int sp_ckpt_storage_remove_tree(sp_ckpt_storage_t *st, const char *path, sp_error_t *err);
int sp_ckpt_storage_list(sp_ckpt_storage_t *st, const char *path, sp_ckpt_names_t *out, sp_error_t *err);
int sp_ckpt_storage_read(sp_ckpt_storage_t *st, const char *path, size_t max, uint8_t **data, size_t *len,
                         sp_error_t *err);
int sp_ckpt_storage_sync_dir(sp_ckpt_storage_t *st, const char *path, sp_error_t *err);
/* The whole file, mapped when the storage can map it (vt->map), else read. */
int sp_ckpt_storage_load(sp_ckpt_storage_t *st, const char *path, size_t max, sp_ckpt_bytes_t *out,
                         sp_error_t *err);
/* Frees or unmaps b's bytes; b becomes empty.  An empty b is fine. */
void sp_ckpt_bytes_release(sp_ckpt_bytes_t *b);
/* NULL is fine.  A wrapper does not destroy the storage it wraps. */
void sp_ckpt_storage_destroy(sp_ckpt_storage_t *st);

void sp_ckpt_names_free(sp_ckpt_names_t *names);

/*
 * Writes `len` bytes to `dir`/`name` atomically and durably: to
 * `dir`/`name`.inprogress, fsync, close, rename over `dir`/`name`, fsync
 * `dir`.  On any failure the temporary file is removed (best effort) and
 * `dir`/`name` is left as it was before the call, unless the failure was
 * the final directory fsync: then the new file is visible but maybe not
 * durable, and the caller must treat it as not written.
 */
int sp_ckpt_storage_write_atomic(sp_ckpt_storage_t *st, const char *dir, const char *name, const void *data,
                                 size_t len, sp_error_t *err);
/* The same, the bytes written by fill(ctx, st, f, err) with sp_ckpt_file_write calls (a snapshot
 * written in pieces, not gathered into one buffer first); fill's error fails it likewise. */
typedef int (*sp_ckpt_fill_fn)(void *ctx, sp_ckpt_storage_t *st, sp_ckpt_file_t *f, sp_error_t *err);
int sp_ckpt_storage_write_atomic_with(sp_ckpt_storage_t *st, const char *dir, const char *name,
                                      sp_ckpt_fill_fn fill, void *ctx, sp_error_t *err);

/* ---- implementations ---- */

/* The local file system. */
sp_ckpt_storage_t *sp_ckpt_local_storage_create(void);
/* In memory (memory_storage.c), as Flink's JobManagerCheckpointStorage: for embedded jobs without a
 * checkpoint directory, to restart within the process.  Thread-safe; absolute paths. */
sp_ckpt_storage_t *sp_ckpt_memory_storage_create(void);

typedef enum sp_ckpt_op {
    SP_CKPT_OP_FILE_OPEN,
    SP_CKPT_OP_FILE_WRITE,
    SP_CKPT_OP_FILE_SYNC,
    SP_CKPT_OP_FILE_CLOSE,
    SP_CKPT_OP_RENAME,
    SP_CKPT_OP_MKDIRS,
    SP_CKPT_OP_REMOVE,
    SP_CKPT_OP_REMOVE_TREE,
    SP_CKPT_OP_LIST,
    SP_CKPT_OP_READ,
    SP_CKPT_OP_SYNC_DIR,
    SP_CKPT_OP_COUNT
} sp_ckpt_op_t;

/* What the faulty wrapper does to the `nth` call of `op` counted from sp_ckpt_faulty_arm. */
typedef struct sp_ckpt_fault {
    sp_ckpt_op_t op;
    int64_t nth;  /* 1 = the next call */
    int errnum;   /* errno reported (EIO, ENOSPC, ...); 0 with `partial`: a torn write reported as success */
    bool partial; /* file_write only: the first half of the bytes is written before the failure */
    bool persistent; /* every later call of `op` fails the same way (a full disk stays full) */
} sp_ckpt_fault_t;

/* A wrapper around `inner` (borrowed: must outlive the wrapper) passing every call through, with faults
 * armed by sp_ckpt_faulty_arm.  Thread-safe (a test may arm it while a job uses it). */
sp_ckpt_storage_t *sp_ckpt_faulty_storage_create(sp_ckpt_storage_t *inner);
/* Arms one fault (replacing every armed one) and resets the call counters. */
void sp_ckpt_faulty_arm(sp_ckpt_storage_t *faulty, const sp_ckpt_fault_t *fault);
/* Arms one more fault, on another operation (replacing one armed for the same operation), and resets
 * that operation's counter only: e.g. torn writes and a failing remove_tree together. */
void sp_ckpt_faulty_arm_also(sp_ckpt_storage_t *faulty, const sp_ckpt_fault_t *fault);
/* No fault from now on; counters keep counting. */
void sp_ckpt_faulty_disarm(sp_ckpt_storage_t *faulty);
/* Calls of `op` since the last arm (or creation), including failed ones. */
int64_t sp_ckpt_faulty_calls(const sp_ckpt_storage_t *faulty, sp_ckpt_op_t op);
/* How many calls the armed fault has failed so far. */
int64_t sp_ckpt_faulty_fired(const sp_ckpt_storage_t *faulty);

#endif
