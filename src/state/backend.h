/*
 * backend.h — the keyed state backend interface (DESIGN.md §4): state is
 * addressed by (state id, key group, key bytes, namespace bytes) and holds
 * value bytes.  One backend instance per keyed operator instance, touched
 * only by its task's thread.  The heap backend (heap_backend.c) keeps
 * everything in one hash map; the RocksDB backend comes later behind the
 * same calls.  The key group travels with every entry so that snapshots can
 * be cut by key-group range (rescaling).
 *
 * Namespaces: 0 bytes for plain keyed state; the window operator uses the
 * window (16 bytes) as namespace.
 */
#ifndef SP_STATE_BACKEND_H
#define SP_STATE_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "common/common.h"

typedef struct sp_state_backend sp_state_backend_t;

sp_state_backend_t *sp_heap_backend_create(void);
void sp_state_backend_destroy(sp_state_backend_t *be);
/* The id of a state by name (registered on first use); ids are small integers. */
int sp_state_id(sp_state_backend_t *be, const char *name);
/* The value, or NULL when absent (*len set). Borrowed until the next call on the backend. */
const uint8_t *sp_state_get(sp_state_backend_t *be, int state, int key_group, const uint8_t *key, size_t klen,
                            const uint8_t *ns, size_t nslen, size_t *len);
/* The value for in-place update (same length), or NULL when absent. Valid until the next call. */
uint8_t *sp_state_get_mut(sp_state_backend_t *be, int state, int key_group, const uint8_t *key, size_t klen,
                          const uint8_t *ns, size_t nslen, size_t *len);
/* Many lookups in a row (the window operator over a batch): sp_state_locate returns where an entry
 * lives from its key's hash (sp_hash_bytes of the key bytes, as for its key group) and starts
 * loading it into the cache; sp_state_prefetch_value (a few lookups later) starts loading the
 * value; sp_state_get_mut_at then finds it without hashing again.  The location stays valid
 * across puts and removes (it is a hint, not a pointer). */
uint64_t sp_state_locate(sp_state_backend_t *be, int state, uint64_t key_hash, const uint8_t *ns,
                         size_t nslen);
/* The same with the namespace's hash (sp_hash_bytes of its bytes; 0: no namespace), which the caller
 * keeps across the many lookups of one namespace (a window's). */
uint64_t sp_state_locate_in(sp_state_backend_t *be, int state, uint64_t key_hash, uint64_t nsh);
void sp_state_prefetch_value(const sp_state_backend_t *be, uint64_t where);
uint8_t *sp_state_get_mut_at(sp_state_backend_t *be, int state, int key_group, const uint8_t *key,
                             size_t klen, const uint8_t *ns, size_t nslen, uint64_t where, size_t *len);
/* Stores the value; returns its bytes in the backend, for in-place updates (valid as
 * sp_state_get_mut's result). */
uint8_t *sp_state_put(sp_state_backend_t *be, int state, int key_group, const uint8_t *key, size_t klen,
                      const uint8_t *ns, size_t nslen, const void *value, size_t len);
void sp_state_remove(sp_state_backend_t *be, int state, int key_group, const uint8_t *key, size_t klen,
                     const uint8_t *ns, size_t nslen);
/* sp_state_put and sp_state_remove of an entry whose location (sp_state_locate) the caller has. */
uint8_t *sp_state_put_at(sp_state_backend_t *be, int state, int key_group, const uint8_t *key, size_t klen,
                         const uint8_t *ns, size_t nslen, uint64_t where, const void *value, size_t len);
void sp_state_remove_at(sp_state_backend_t *be, int state, int key_group, const uint8_t *key, size_t klen,
                        const uint8_t *ns, size_t nslen, uint64_t where);
/* Incremental cleanup: visits up to n entries from *cursor on (wrapping around), removing those
 * for which drop(ctx, state, value, len) is true. */
void sp_state_scan(sp_state_backend_t *be, size_t *cursor, size_t n,
                   bool (*drop)(void *ctx, int state, const uint8_t *value, size_t len), void *ctx);
/* Calls fn(ctx, key_group, key, klen) for every key that has an entry of `state` in namespace ns
 * (in no particular order).  The key bytes are borrowed for the call, and fn must not call the
 * backend: collect the keys, then act on them (as applying a function to every key does). */
void sp_state_keys(sp_state_backend_t *be, int state, const uint8_t *ns, size_t nslen,
                   void (*fn)(void *ctx, int key_group, const uint8_t *key, size_t klen), void *ctx);
/* Moves on whenever a value's bytes may have moved, gone or become shared with a checkpoint (a
 * remove, a put that changes a value's length, a copy-on-write, a freeze, a restore): a caller may
 * keep pointers from sp_state_get_mut* and write through them while it stays the same. */
uint64_t sp_state_moves(const sp_state_backend_t *be);
/* Number of entries (all states). */
size_t sp_state_count(const sp_state_backend_t *be);

/*
 * Snapshots and restore, in the key-grouped format of snapshot.h.
 *
 * sp_state_snapshot is the SYNCHRONOUS part of a checkpoint, on the task
 * thread: it copies every entry, encoded and grouped by key group, into a
 * new sp_snapshot_t (*out, transferred) and returns; the backend is usable
 * at once and shares nothing with the snapshot, which the ASYNCHRONOUS part
 * (sp_snapshot_write / _write_file / _encode, any thread) turns into bytes.
 * [kg_first, kg_last] is the instance's key-group range; an entry of
 * another key group is SPATE_EINVAL.  SPATE_ENOMEM when the copy cannot be
 * allocated.  Cost (heap backend): one pass over the table for sizes, one
 * to copy; measured in bench/state_snapshot.c.
 *
 * sp_state_restore loads the entries of key groups [kg_first, kg_last] (the
 * part of them the snapshot covers; none is fine) from an encoding
 * (borrowed; only the header, the index and those blocks are read), mapping
 * the snapshot's state names to this backend's ids (registering new names).
 * Restoring several snapshots (the old instances whose ranges overlap) one
 * after another into one backend is how rescaling works.  Untrusted input:
 * SPATE_EPARSE with a message on anything malformed or an entry the backend
 * holds already, and then the backend is as before the call.
 */
typedef struct sp_snapshot sp_snapshot_t;
int sp_state_snapshot(sp_state_backend_t *be, int kg_first, int kg_last, sp_snapshot_t **out,
                      sp_error_t *err);
int sp_state_restore(sp_state_backend_t *be, const uint8_t *data, size_t len, int kg_first, int kg_last,
                     sp_error_t *err);

/*
 * A checkpoint's synchronous part made short: sp_state_freeze, on the task
 * thread at the barrier, takes a frozen view of the state (the heap
 * backend copies its slot array, not the entries; the map then copies an
 * entry before changing it, see heap_map.h) and returns.  The backend is
 * usable at once: nothing done to it afterwards reaches the snapshot.
 * sp_state_frozen_snapshot, on any thread (one at a time), encodes the view
 * into an sp_snapshot_t (*out transferred): the same snapshot
 * sp_state_snapshot would have made at the freeze, errors included (an
 * entry outside [kg_first, kg_last] is SPATE_EINVAL then).  It can be
 * called once.  sp_state_frozen_release frees what is left (any thread; the
 * backend may be destroyed before).  One view at a time: a freeze while the
 * previous one is still unencoded copies the entries at once, as
 * sp_state_snapshot does.
 */
typedef struct sp_state_frozen sp_state_frozen_t;
int sp_state_freeze(sp_state_backend_t *be, int kg_first, int kg_last, sp_state_frozen_t **out,
                    sp_error_t *err);
int sp_state_frozen_snapshot(sp_state_frozen_t *f, sp_snapshot_t **out, sp_error_t *err);
/* Between encodings, on the thread that encodes (the uploader, when it has nothing queued), until
 * done or *stop: pages in that thread's scratch and the spare snapshot buffer (sp_snapshot_spare_warm),
 * both half as large again as the last encoding needed, so that the next checkpoint of a big or
 * growing state does not wait for fresh memory (on a VM, the first touch of a page costs more than
 * encoding into it). */
void sp_state_encoder_warm(const atomic_bool *stop);
void sp_state_frozen_release(sp_state_frozen_t *f);

#endif
