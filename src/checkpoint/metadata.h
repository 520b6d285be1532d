/*
 * metadata.h — the `_metadata` file of a checkpoint or savepoint: what was
 * snapshotted (job, operators, per subtask the state handles) and where the
 * bytes are.  A checkpoint is complete exactly when this file is durable
 * (store.h writes it atomically).
 *
 * sp_ckpt_meta_t is a plain value: built with the add functions, or filled
 * by the decoder, and freed with sp_ckpt_meta_fini.  No threads, no I/O.
 *
 * ---- File format, version 1 ----------------------------------------------
 *
 * All integers little-endian, unaligned.  A string is a u32 length N then N
 * bytes (no NUL, may not contain one).
 *
 *   Offset     Size  Meaning
 *   0          8     magic: the bytes "SPATECKP"
 *   8          4     format version (u32) = 1
 *   12         4     flags (u32) = 0; a reader rejects any other value
 *   16         8     total file length T in bytes (u64), this header and the
 *                    checksum included
 *   24         T-32  sections, each: tag (u32), payload length L (u32),
 *                    L bytes of payload
 *   T-8        8     checksum: XXH3_64bits of bytes [0, T-8) (u64)
 *
 * Sections, in this order; a reader skips a section whose tag it does not
 * know (optional additions keep version 1; a change an old reader must not
 * ignore bumps the version), and a known section must be consumed exactly:
 *
 *   tag 1 CHECKPOINT, exactly once, first:
 *     8   checkpoint id (u64, >= 1)
 *     1   kind: 0 = checkpoint, 1 = savepoint
 *     16  job id (Flink's JobID: 16 bytes, shown as 32 hex digits)
 *     str job name (0..SP_CKPT_NAME_MAX bytes)
 *     8   trigger timestamp, ms since the epoch (i64)
 *     8   completion timestamp, ms since the epoch (i64)
 *     4   max parallelism of the job (u32, 1..32768)
 *     4   operator count K (u32): exactly K OPERATOR sections follow
 *
 *   tag 2 OPERATOR, once per operator:
 *     str uid (1..SP_CKPT_NAME_MAX bytes, unique in the file)
 *     str name (0..SP_CKPT_NAME_MAX bytes; for messages)
 *     4   parallelism P (u32, 1..max parallelism)
 *     4   max parallelism (u32, 1..32768): the operator's key groups
 *     then P subtasks in index order, each:
 *       4   handle count H (u32)
 *       H handles, each:
 *         1   kind: 1 keyed, 2 operator, 3 broadcast, 4 timers,
 *             5 in-flight data, 6 sink transaction
 *         1   location: 0 inline, 1 exclusive (in chk-<n>/),
 *             2 shared (<job-id>/shared/), 3 task-owned (<job-id>/taskowned/)
 *         1   flags: bit 0 = key-group range follows; other bits 0.  Set
 *             exactly for kinds keyed and timers
 *         [8  key-group range: first, last (u32 each, inclusive,
 *             first <= last < the operator's max parallelism)]
 *         inline:    4  length B (u32), B bytes of state
 *         otherwise: str path relative to the location's directory
 *                    (1..SP_CKPT_PATH_MAX bytes, not absolute, no ".."
 *                    component), 8 offset (u64), 8 length (u64),
 *                    offset + length must not overflow
 *
 * The decoder treats its input as untrusted: every length and count is
 * checked against the bytes left, and anything wrong (truncation, bad
 * magic, other version, checksum mismatch, trailing bytes, a value out of
 * range) is SPATE_EPARSE with a message that says what and where.
 */
#ifndef SP_CHECKPOINT_METADATA_H
#define SP_CHECKPOINT_METADATA_H

#include "common/common.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SP_CKPT_META_MAGIC       "SPATECKP"
#define SP_CKPT_META_VERSION     1u
#define SP_CKPT_META_HEADER_SIZE 24u
#define SP_CKPT_META_MIN_SIZE    32u                 /* header + checksum, no sections */
#define SP_CKPT_META_MAX_SIZE    ((size_t)256 << 20) /* what store.c reads at most */
#define SP_CKPT_NAME_MAX         4096u
#define SP_CKPT_PATH_MAX         4096u
#define SP_CKPT_MAX_PARALLELISM  32768u
#define SP_CKPT_JOB_ID_LEN       16

typedef enum sp_ckpt_kind { SP_CKPT_CHECKPOINT = 0, SP_CKPT_SAVEPOINT = 1 } sp_ckpt_kind_t;

typedef enum sp_ckpt_handle_kind {
    SP_CKPT_HANDLE_KEYED = 1,
    SP_CKPT_HANDLE_OPERATOR = 2,
    SP_CKPT_HANDLE_BROADCAST = 3,
    SP_CKPT_HANDLE_TIMERS = 4,
    SP_CKPT_HANDLE_IN_FLIGHT = 5,
    SP_CKPT_HANDLE_SINK_TXN = 6
} sp_ckpt_handle_kind_t;

typedef enum sp_ckpt_location {
    SP_CKPT_LOC_INLINE = 0,
    SP_CKPT_LOC_EXCLUSIVE = 1, /* <job-id>/chk-<n>/ */
    SP_CKPT_LOC_SHARED = 2,    /* <job-id>/shared/ */
    SP_CKPT_LOC_TASKOWNED = 3  /* <job-id>/taskowned/ */
} sp_ckpt_location_t;

/* One piece of snapshotted state: a byte range of a file, or bytes inline in _metadata. */
typedef struct sp_ckpt_handle {
    sp_ckpt_handle_kind_t kind;
    sp_ckpt_location_t location;
    char *path;              /* relative to the location's directory; NULL when inline */
    uint64_t offset, length; /* inline: 0 and the byte count */
    bool has_key_groups;     /* exactly for KEYED and TIMERS */
    uint32_t kg_first, kg_last;
    uint8_t *data; /* inline bytes (length of them); NULL otherwise */
} sp_ckpt_handle_t;

typedef struct sp_ckpt_subtask {
    sp_ckpt_handle_t *handles;
    size_t nhandles, cap;
} sp_ckpt_subtask_t;

typedef struct sp_ckpt_operator {
    char *uid, *name;
    uint32_t parallelism, max_parallelism;
    sp_ckpt_subtask_t *subtasks; /* parallelism of them */
} sp_ckpt_operator_t;

typedef struct sp_ckpt_meta {
    uint64_t checkpoint_id;
    sp_ckpt_kind_t kind;
    uint8_t job_id[SP_CKPT_JOB_ID_LEN];
    char *job_name;
    int64_t trigger_ms, completion_ms;
    uint32_t max_parallelism;
    sp_ckpt_operator_t **ops; /* each owned; in the order added (and written) */
    size_t nops, cap;
} sp_ckpt_meta_t;

/* An empty value (also what a zeroed struct is), and freeing everything it owns (then empty again). */
void sp_ckpt_meta_init(sp_ckpt_meta_t *m);
void sp_ckpt_meta_fini(sp_ckpt_meta_t *m);
/* Sets the job name (copied; NULL = ""). */
void sp_ckpt_meta_set_job_name(sp_ckpt_meta_t *m, const char *name);

/* Adds an operator with `parallelism` empty subtasks (strings copied; name NULL = "").  The result is owned
 * by m.  Values are checked by encode, not here. */
sp_ckpt_operator_t *sp_ckpt_meta_add_operator(sp_ckpt_meta_t *m, const char *uid, const char *name,
                                              uint32_t parallelism, uint32_t max_parallelism);
/* Appends a copy of h (path and inline bytes copied) to subtask `subtask` (< op->parallelism). */
void sp_ckpt_operator_add_handle(sp_ckpt_operator_t *op, uint32_t subtask, const sp_ckpt_handle_t *h);

/* The operator with this uid, or NULL. */
const sp_ckpt_operator_t *sp_ckpt_meta_find_operator(const sp_ckpt_meta_t *m, const char *uid);

/*
 * Encodes m into a new buffer (*out, caller frees, *len bytes).  m is checked
 * against the same rules the decoder applies, so what is written can be read:
 * a violation is SPATE_EINVAL naming the field, and nothing is returned.
 */
int sp_ckpt_meta_encode(const sp_ckpt_meta_t *m, uint8_t **out, size_t *len, sp_error_t *err);

/*
 * Decodes `n` untrusted bytes into *m (which the call initialises; on failure
 * it is left empty).  Returns SPATE_OK, or SPATE_EPARSE with a message
 * starting "checkpoint metadata: ".  Never reads outside [p, p + n).
 */
int sp_ckpt_meta_decode(const void *p, size_t n, sp_ckpt_meta_t *m, sp_error_t *err);

/* The job id as 32 lower-case hex digits plus NUL. */
void sp_ckpt_job_id_format(const uint8_t id[SP_CKPT_JOB_ID_LEN], char out[2 * SP_CKPT_JOB_ID_LEN + 1]);
/* Parses exactly 32 hex digits (either case); false otherwise. */
bool sp_ckpt_job_id_parse(const char *hex, uint8_t id[SP_CKPT_JOB_ID_LEN]);

/* "keyed", "operator", …, "sink transaction"; "unknown" for other values. */
const char *sp_ckpt_handle_kind_name(int kind);

#endif
