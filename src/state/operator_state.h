/*
 * operator_state.h — operator (non-keyed) state, as Flink's
 * OperatorStateStore: per parallel instance, a set of named lists of byte
 * elements.  Each list has a redistribution mode, fixed when it is first
 * declared and kept in every snapshot:
 *
 *   SPLIT (Flink's getListState)       on restore at another parallelism, the
 *                                      elements of all old instances are
 *                                      divided evenly among the new ones;
 *   UNION (Flink's getUnionListState)  every new instance receives all
 *                                      elements of all old instances.
 *
 * A store belongs to one operator instance and is touched only by its task's
 * thread.  sp_opstate_redistribute is pure (no store, no thread) and is what
 * the checkpoint coordinator will call when it assigns restored state.
 *
 * ---- Snapshot encoding, format version 1 ---------------------------------
 *
 * The snapshot of one instance, and the restore input of one instance (the
 * output of sp_opstate_redistribute), have the same form.  All integers are
 * little-endian, unaligned.
 *
 *   Offset   Size   Meaning
 *   0        4      magic: the bytes 'S' 'P' 'O' 'S'
 *   4        1      format version (1)
 *   5        4      list count L (u32)
 *   9               L lists, each:
 *                     4     name length N (u32, 1..SP_OPSTATE_NAME_MAX)
 *                     N     name bytes (no NUL; may not contain one)
 *                     1     mode: 0 = SPLIT, 1 = UNION
 *                     4     element count E (u32)
 *                     then E elements, each:
 *                       4   element length B (u32)
 *                       B   element bytes
 *
 * The encoding ends exactly after the last list (no trailing bytes).  Names
 * are unique within one encoding.  Lists are written in declaration order;
 * an empty list is written too, so its name and mode survive.  Decoders
 * treat the bytes as untrusted (a checkpoint file): every length and count is
 * checked against the buffer, and a bad input is answered with SPATE_EPARSE
 * and a message.
 *
 * ---- Redistribution -------------------------------------------------------
 *
 * Given the snapshots of N old instances (in subtask order) and the new
 * parallelism M, per list name (in order of first appearance, instance 0
 * first):
 *
 *   SPLIT, M == N   each new instance i gets the elements of old instance i
 *                   back, unchanged (Flink keeps split state in place when
 *                   the parallelism does not change).
 *   SPLIT, M != N   the elements of all old instances, concatenated in
 *                   subtask order, are cut into M consecutive runs whose
 *                   sizes differ by at most one (the first T mod M runs
 *                   have one more), T = total elements; new instance j
 *                   gets run j.
 *   UNION           every new instance gets the concatenation, in subtask
 *                   order.
 *
 * Every new instance gets every name, possibly with no elements.  A name
 * with different modes in two old instances is an error (SPATE_EINVAL).
 */
#ifndef SP_STATE_OPERATOR_STATE_H
#define SP_STATE_OPERATOR_STATE_H

#include <spate/datastream.h>

#include <stdint.h>

#include "common/common.h"

#define SP_OPSTATE_NAME_MAX 1024 /* bytes of a list's name */

typedef enum sp_opstate_mode { SP_OPSTATE_SPLIT = 0, SP_OPSTATE_UNION = 1 } sp_opstate_mode_t;

typedef struct sp_opstate sp_opstate_t;
typedef struct sp_opstate_list sp_opstate_list_t;

/* An encoded snapshot or restore input (see the table above). */
typedef struct sp_opstate_bytes {
    uint8_t *data;
    size_t len;
} sp_opstate_bytes_t;

/* "list state" or "union list state" (static). */
const char *sp_opstate_mode_name(sp_opstate_mode_t mode);

/* ---- the store of one operator instance ---- */

sp_opstate_t *sp_opstate_create(void);
/* Frees the store and its lists (NULL is fine); list handles die with it. */
void sp_opstate_destroy(sp_opstate_t *s);

/*
 * The list `name` of mode `mode`: declared on first use (empty), or the
 * existing (maybe restored) one.  The handle is owned by the store and
 * stays valid until sp_opstate_destroy.  Returns NULL with err set:
 * SPATE_EINVAL for an empty, too long or NULL name, or when the name exists
 * with the other mode ("operator state 'x' is a list state; it cannot also
 * be a union list state").
 */
sp_opstate_list_t *sp_opstate_declare(sp_opstate_t *s, const char *name, sp_opstate_mode_t mode,
                                      sp_error_t *err);
/* The list `name`, or NULL when it was neither declared nor restored. */
sp_opstate_list_t *sp_opstate_find(const sp_opstate_t *s, const char *name);
/* Number of lists. */
int sp_opstate_count(const sp_opstate_t *s);

const char *sp_opstate_list_name(const sp_opstate_list_t *l);
sp_opstate_mode_t sp_opstate_list_mode(const sp_opstate_list_t *l);
/* Appends a copy of the element (len bytes; value may be NULL when len is 0).  The encoding
 * limits an element to UINT32_MAX bytes and a list to UINT32_MAX elements: the caller checks
 * user input against the first (the API fails the job); the second is not checked. */
void sp_opstate_list_add(sp_opstate_list_t *l, const void *value, size_t len);
/*
 * Calls fn(ctx, element, len) for each element in insertion order; stops at
 * a non-zero return, which it returns, else SPATE_OK.  fn sees a private
 * copy of the list taken at the call, so it may change the list; element
 * pointers are borrowed for the call of fn.
 */
int sp_opstate_list_get(const sp_opstate_list_t *l, spate_state_visit_fn fn, void *ctx);
size_t sp_opstate_list_size(const sp_opstate_list_t *l);
void sp_opstate_list_clear(sp_opstate_list_t *l);
/* Replaces all elements with the n given ones (copied; n 0 clears). */
void sp_opstate_list_update(sp_opstate_list_t *l, const void *const *values, const size_t *lens, size_t n);

/* ---- snapshot, redistribution, restore ---- */

/* Encodes every list of s into *out (out->data is malloc'd and transferred to the caller). */
void sp_opstate_snapshot(const sp_opstate_t *s, sp_opstate_bytes_t *out);

/*
 * Restores lists from an encoding (a snapshot, or one output of
 * sp_opstate_redistribute; borrowed).  The store must have no lists yet
 * (SPATE_ESTATE otherwise): restore comes before the first declaration.
 * SPATE_EPARSE with a message on a malformed encoding, and then the store
 * is left empty.
 */
int sp_opstate_restore(sp_opstate_t *s, const uint8_t *data, size_t len, sp_error_t *err);

/*
 * The restore inputs of new_n instances from the snapshots of old_n
 * instances (old[0..old_n-1], in subtask order, borrowed; old_n may be 0:
 * no state).  Fills out[0..new_n-1]; each out[j].data is malloc'd and
 * transferred.  Errors: SPATE_EINVAL for new_n < 1 or a name with two
 * modes, SPATE_EPARSE for a malformed snapshot; then nothing is allocated
 * in out.  Pure: the same inputs give the same bytes.
 */
int sp_opstate_redistribute(const sp_opstate_bytes_t *old, int old_n, int new_n, sp_opstate_bytes_t *out,
                            sp_error_t *err);

/* Frees b->data and zeroes b (NULL is fine). */
void sp_opstate_bytes_free(sp_opstate_bytes_t *b);

#endif
