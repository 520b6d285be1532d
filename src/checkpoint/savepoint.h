/*
 * savepoint.h — savepoints: self-contained copies of a completed checkpoint,
 * which the user owns (Flink's savepoints in canonical format).
 *
 * Layout: <dir>/savepoint-<6 hex digits of the job id>-<12 random hex
 * digits>/ (Flink's naming) holding
 *
 *   _metadata          the metadata format (metadata.h) with kind savepoint;
 *                      every handle inline or exclusive, relative to this
 *                      directory
 *   op<o>-<s>-<h>      the state of handle h of subtask s of operator o
 *
 * Nothing in it refers outside the directory: it can be moved or copied,
 * and it outlives the job and its checkpoints.  The state is in the
 * canonical format, independent of the state backend: per operator
 * instance a container of named sections (state/opsnap.h), keyed state
 * and timers as key-grouped snapshots (state/snapshot.h).  A savepoint is
 * complete exactly when its _metadata exists (written last, atomically).
 */
#ifndef SP_CHECKPOINT_SAVEPOINT_H
#define SP_CHECKPOINT_SAVEPOINT_H

#include "checkpoint/metadata.h"
#include "checkpoint/storage.h"

/*
 * Writes the savepoint of the checkpoint `m` (whose files are in `chk_dir`
 * of storage `from`) into a new directory under `root` on storage `to`;
 * *path receives that directory (caller frees).  On failure nothing is left
 * behind (best effort) and the error names the path.
 */
int sp_ckpt_savepoint_write(sp_ckpt_storage_t *from, const char *chk_dir, const sp_ckpt_meta_t *m,
                            sp_ckpt_storage_t *to, const char *root, char **path, sp_error_t *err);

/* The bytes of handle h of the checkpoint in chk_dir: inline, or read from its file on st
 * (*data malloc'd, *len bytes).  A file shorter than the handle is SPATE_EPARSE. */
int sp_ckpt_handle_read(sp_ckpt_storage_t *st, const char *chk_dir, const sp_ckpt_handle_t *h, uint8_t **data,
                        size_t *len, sp_error_t *err);
/* The same into *out, a file mapped when the storage can (sp_ckpt_storage_load): for state that is
 * read once and let go, as a restore's. */
int sp_ckpt_handle_load(sp_ckpt_storage_t *st, const char *chk_dir, const sp_ckpt_handle_t *h,
                        sp_ckpt_bytes_t *out, sp_error_t *err);

#endif
