/*
 * store.h — the checkpoint directory of one job, on top of the storage
 * interface (storage.h), and finding a checkpoint to restore from.
 *
 * Layout, as Flink's (DESIGN.md §4):
 *
 *   <state.checkpoints.dir>/
 *     <job-id>/                 32 lower-case hex digits
 *       shared/                 state files several checkpoints may reference
 *       taskowned/              state files only tasks may delete
 *       chk-<n>/                one checkpoint: its exclusive state files, and
 *         _metadata             present  <=>  checkpoint n is complete
 *         _metadata.inprogress  only while _metadata is being written
 *
 * A checkpoint's life: begin(n) creates chk-<n>/; tasks write state files;
 * complete(meta) writes _metadata atomically (temp file, fsync, rename,
 * fsync of chk-<n>/), then applies retention: only the newest
 * `num_retained` completed checkpoints are kept, older chk-<n>/ directories
 * are deleted.  abort(n) deletes a failed or timed-out checkpoint.  A
 * failed complete aborts the checkpoint itself: the previous completed
 * checkpoint stays the latest, and the job can go on.
 *
 * Shared and task-owned files are never deleted here (a shared-state
 * registry will decide when an incremental file is no longer referenced).
 *
 * Threads: a store belongs to the checkpoint coordinator's thread.  Every
 * call may block on I/O.  Errors: SPATE_E* with a message naming the path.
 */
#ifndef SP_CHECKPOINT_STORE_H
#define SP_CHECKPOINT_STORE_H

#include "checkpoint/metadata.h"
#include "checkpoint/storage.h"

#define SP_CKPT_NUM_RETAINED_DEFAULT 5 /* state.checkpoints.num-retained */
#define SP_CKPT_METADATA_FILE        "_metadata"

typedef struct sp_ckpt_store sp_ckpt_store_t;

/*
 * Opens the checkpoint directory of job `job_id` under `dir`: creates
 * <dir>/<job-id>/, shared/ and taskowned/ if missing, and adopts the
 * complete checkpoints already there (valid _metadata of this job), oldest
 * first, so that retention counts them.  Directories without a valid
 * _metadata are left alone; new checkpoint ids must lie above every chk-<n>
 * found (sp_ckpt_store_next_id).  `storage` is borrowed and must outlive the
 * store; num_retained <= 0 means the default (5).
 */
int sp_ckpt_store_create(sp_ckpt_storage_t *storage, const char *dir,
                         const uint8_t job_id[SP_CKPT_JOB_ID_LEN], int num_retained, sp_ckpt_store_t **out,
                         sp_error_t *err);
/* Frees the store; deletes nothing on disk.  NULL is fine. */
void sp_ckpt_store_destroy(sp_ckpt_store_t *s);

/* <dir>/<job-id> (borrowed from the store). */
const char *sp_ckpt_store_job_dir(const sp_ckpt_store_t *s);
/* <dir>/<job-id>/chk-<id> (caller frees). */
char *sp_ckpt_store_chk_dir(const sp_ckpt_store_t *s, uint64_t id);
/* The smallest id begin accepts: above every completed, begun or found chk-<n>. */
uint64_t sp_ckpt_store_next_id(const sp_ckpt_store_t *s);

/* Starts checkpoint `id` (>= sp_ckpt_store_next_id, else SPATE_ESTATE): creates chk-<id>/ and makes its entry
 * durable.  On failure nothing is left behind (best effort). */
int sp_ckpt_store_begin(sp_ckpt_store_t *s, uint64_t id, sp_error_t *err);

/*
 * Completes the begun checkpoint m->checkpoint_id: encodes m (a checkpoint
 * of this store's job, SPATE_EINVAL otherwise), writes _metadata atomically,
 * reads it back and compares, then applies retention.  When this returns
 * SPATE_OK the checkpoint is complete and durable.
 * SPATE_ESTATE if the id was not begun or is older than the latest completed
 * one.  Any other failure aborts the checkpoint (its directory is removed,
 * best effort) and returns the cause; the latest completed checkpoint does
 * not change.  A failure to delete an old checkpoint for retention does not
 * fail the call: it is retried at the next completion, and
 * sp_ckpt_store_warning says what happened.
 */
int sp_ckpt_store_complete(sp_ckpt_store_t *s, const sp_ckpt_meta_t *m, sp_error_t *err);

/* Deletes a failed or timed-out checkpoint's chk-<id>/ (also one found on disk but never begun here).
 * SPATE_ESTATE for a completed checkpoint. */
int sp_ckpt_store_abort(sp_ckpt_store_t *s, uint64_t id, sp_error_t *err);

/* The retained completed checkpoints, oldest first: count and id of the i-th. */
size_t sp_ckpt_store_count(const sp_ckpt_store_t *s);
uint64_t sp_ckpt_store_id_at(const sp_ckpt_store_t *s, size_t i);
/* The latest completed checkpoint's id; 0 when there is none. */
uint64_t sp_ckpt_store_latest(const sp_ckpt_store_t *s);
/* The last retention problem ("" if none): borrowed until the next call on the store. */
const char *sp_ckpt_store_warning(const sp_ckpt_store_t *s);

/* ---- finding a checkpoint to restore from ---- */

typedef struct sp_ckpt_found {
    char *chk_dir;       /* owned: the checkpoint's directory */
    sp_ckpt_meta_t meta; /* owned: its decoded _metadata */
    int skipped;         /* find_latest: newer chk-<n> passed over (no valid _metadata) */
    char skip_note[512]; /* why the newest of those was passed over ("" if none) */
} sp_ckpt_found_t;

/* Frees what f owns and zeroes it. */
void sp_ckpt_found_fini(sp_ckpt_found_t *f);

/*
 * The newest valid complete checkpoint of the job named `job_name` under
 * `dir`, across every <job-id>/ directory there.  Per job-id directory the
 * chk-<n> are tried from the highest n down; one whose _metadata is missing,
 * unreadable, corrupt, truncated or of another id is skipped, so restore
 * falls back to the previous one.  Between job ids the later completion
 * timestamp wins (then the higher checkpoint id, then the job id).
 * SPATE_OK with *found false when there is none, also when `dir` does not
 * exist (a first start).  *out is zeroed first and filled only when found.
 */
int sp_ckpt_find_latest(sp_ckpt_storage_t *st, const char *dir, const char *job_name, bool *found,
                        sp_ckpt_found_t *out, sp_error_t *err);

/* An explicit checkpoint: `path` is a chk-<n> (or savepoint) directory or its _metadata file.  Never falls
 * back: a missing _metadata is SPATE_ENOENT, a bad one SPATE_EPARSE, both naming the file. */
int sp_ckpt_resolve(sp_ckpt_storage_t *st, const char *path, sp_ckpt_found_t *out, sp_error_t *err);

/*
 * `--from-checkpoint PATH|latest`: "latest" is sp_ckpt_find_latest in `dir`
 * (state.checkpoints.dir; SPATE_ECONFIG if NULL or empty) for `job_name`,
 * with *found false meaning "start fresh"; anything else is sp_ckpt_resolve.
 */
int sp_ckpt_locate(sp_ckpt_storage_t *st, const char *from, const char *dir, const char *job_name,
                   bool *found, sp_ckpt_found_t *out, sp_error_t *err);

/* Where a handle's bytes are, for the checkpoint in chk_dir (caller frees); NULL for an inline handle. */
char *sp_ckpt_handle_path(const char *chk_dir, const sp_ckpt_handle_t *h);

#endif
