/*
 * snapshot.h — the key-grouped snapshot: the canonical, backend-independent
 * byte format of an operator instance's keyed state and of its timers, cut
 * into one block per key group so that a restore at another parallelism
 * reads only the blocks of its key-group range (Flink's KeyGroupsStateHandle
 * with its KeyGroupRangeOffsets, in one self-describing file).
 *
 * The life of a snapshot (DESIGN.md §4: synchronous snapshot, asynchronous
 * upload):
 *
 *   sync, task thread   sp_state_snapshot (backend.h) or sp_timers_snapshot
 *                       (timers.h) copies the entries, already encoded and
 *                       grouped by key group, into one buffer owned by a new
 *                       sp_snapshot_t.  The backend is usable again at once
 *                       and shares nothing with the snapshot.  Or, shorter,
 *                       sp_state_freeze takes a frozen view that
 *                       sp_state_frozen_snapshot encodes later on any thread
 *                       (backend.h).
 *   async, any thread   sp_snapshot_write / _write_file / _encode compute the
 *                       block checksums and produce the bytes (header, name
 *                       table, index, then the blocks as they are).
 *   restore             sp_state_restore / sp_timers_restore read the blocks
 *                       of a key-group range with an sp_snapshot_reader_t.
 *
 * A snapshot object is touched by one thread at a time: the task thread
 * until the sync part returns, then whoever it is handed to.
 *
 * ---- Byte format, version 1 ------------------------------------------------
 *
 * All fixed-size integers little-endian, unaligned.  A varint is an
 * unsigned LEB128 number of at most 5 bytes (value <= UINT32_MAX; the last
 * byte's top bit is clear; no limit on redundant zero groups within 5 bytes).
 *
 *   Offset   Size        Meaning
 *   0        4           magic: the bytes 'S' 'P' 'K' 'G'
 *   4        1           format version (1)
 *   5        1           kind: 1 = keyed state, 2 = timers
 *   6        2           reserved, 0
 *   8        4           first key group F (u32)
 *   12       4           last key group L (u32), F <= L < SP_SNAPSHOT_MAX_KEY_GROUPS
 *   16       8           total length T of the snapshot in bytes (u64)
 *   24       8           entry count E over all key groups (u64)
 *   32       4           name count S (u32, <= SP_SNAPSHOT_MAX_NAMES; 0 for timers)
 *   36                   S names, each: u32 length N (1..SP_SNAPSHOT_NAME_MAX),
 *                        N bytes (no NUL byte; names unique)
 *   I        24*(L-F+1)  key-group index, one row per key group F..L:
 *                          8  offset of the group's block from byte 0 (u64)
 *                          8  entry count of the block (u64)
 *                          8  XXH3-64 (sp_hash_bytes) of the block's bytes
 *   I+24*(L-F+1)  8      header checksum: XXH3-64 of bytes [0, here)
 *   D = I+24*(L-F+1)+8   the blocks, key group F first, back to back: block g
 *                        spans [offset g, offset g+1), the last one ends at T.
 *                        The first offset is D; offsets never decrease; the
 *                        entry counts add up to E.  An empty key group has an
 *                        empty block.
 *
 * Entries of a keyed state block (kind 1), in no particular order:
 *
 *   varint  state: index into the name table (< S); a backend maps names
 *           to its own state ids on restore
 *   varint  key length K
 *   varint  namespace length N
 *   varint  value length V
 *   K + N + V bytes: key, namespace, value (the value as the backend holds
 *           it: a TTL state's [int64 last access][value] stays as it is)
 *
 * (state, key, namespace) is unique in a snapshot.
 *
 * Entries of a timer block (kind 2), in ascending sequence number:
 *
 *   8       timestamp (i64)
 *   1       flags: bit 0 = unique (registered with sp_timers_register_unique);
 *           other bits 0
 *   varint  sequence number: the timer's rank in the instance's firing order
 *           (timestamp, then registration), < E and unique in the snapshot
 *   varint  key length K
 *   K       key bytes
 *
 * Readers treat the bytes as untrusted (a checkpoint file): the header
 * checksum, every offset, count and length, and the checksum of every block
 * they read are checked, and anything wrong is SPATE_EPARSE with a message
 * saying what and where.  A reader restoring a key-group range touches the
 * header, the index and the blocks of that range only.
 */
#ifndef SP_STATE_SNAPSHOT_H
#define SP_STATE_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/common.h"

#define SP_SNAPSHOT_VERSION        1
#define SP_SNAPSHOT_MAX_KEY_GROUPS 32768 /* Flink's upper bound of max parallelism */
#define SP_SNAPSHOT_MAX_NAMES      65535
#define SP_SNAPSHOT_NAME_MAX       4096 /* bytes of a state name */
#define SP_SNAPSHOT_VARINT_MAX     5

typedef enum sp_snapshot_kind { SP_SNAPSHOT_KEYED = 1, SP_SNAPSHOT_TIMERS = 2 } sp_snapshot_kind_t;

/* One key group's block in the snapshot's buffer. */
typedef struct sp_snapshot_block {
    size_t start, len; /* bytes [start, start + len) of data */
    uint64_t count;    /* entries */
    uint64_t checksum; /* set by the async part */
} sp_snapshot_block_t;

/* A snapshot taken, not yet written.  Filled by the sync part of a backend or timer service
 * (through sp_snapshot_create / _reserve and the block cursors); read-only afterwards except for
 * the checksums the async part fills in. */
typedef struct sp_snapshot {
    sp_snapshot_kind_t kind;
    int first, last; /* key-group range */
    char **names;    /* name table (owned) */
    uint32_t nnames;
    uint8_t *data;               /* the blocks (owned), each in a region of the size reserved for it */
    size_t cap;                  /* data's size */
    sp_snapshot_block_t *blocks; /* last - first + 1 */
    uint64_t entries;
    bool sealed; /* checksums computed */
} sp_snapshot_t;

/* ---- building (the sync part of a backend or timer service) ---- */

/* An empty snapshot of range [first, last] with a copy of the n names.  SPATE_EINVAL for a bad
 * range (0 <= first <= last < SP_SNAPSHOT_MAX_KEY_GROUPS) or too many or bad names. */
int sp_snapshot_create(sp_snapshot_kind_t kind, int first, int last, const char *const *names, uint32_t n,
                       sp_snapshot_t **out, sp_error_t *err);
/* Allocates the buffer: bytes[i] at most for key group first + i, i < last - first + 1.  The
 * regions may be left partly unused (a backend reserves an upper bound).  SPATE_ENOMEM when the
 * buffer cannot be had (nothing changed). */
int sp_snapshot_reserve(sp_snapshot_t *s, const size_t *bytes, sp_error_t *err);
/* Pages in the buffer that big snapshots keep between checkpoints (one, sp_with_headroom of the last
 * big snapshot), so that the next does not wait for fresh memory; called between encodings, on a
 * thread with time to spare, until done or *stop. */
void sp_snapshot_spare_warm(const atomic_bool *stop);
/* The size of a buffer kept from checkpoint to checkpoint for n bytes: half as large again, for a
 * state that grows (only the pages touched are backed by memory); the warm-ups replace a buffer that
 * is smaller than this of the last need (the snapshot spare here, the encoder's references in
 * heap_backend.c). */
static inline size_t sp_with_headroom(size_t n)
{
    return n + n / 2;
}
/* Where the next entry of key group kg goes; the caller writes it, then adds its size to
 * blocks[kg - first].len and 1 to .count (and to s->entries). */
static inline uint8_t *sp_snapshot_cursor(sp_snapshot_t *s, int kg)
{
    const sp_snapshot_block_t *b = &s->blocks[kg - s->first];
    return s->data + b->start + b->len;
}
/* Frees everything (NULL is fine). */
void sp_snapshot_destroy(sp_snapshot_t *s);

/* ---- writing (the async part: any thread, the snapshot handed over) ---- */

/* The encoded size in bytes (header, names, index, blocks). */
size_t sp_snapshot_size(const sp_snapshot_t *s);
/* Writes the encoding through write(ctx, bytes, n, err) in a few pieces (the header, then each
 * non-empty block from the snapshot's buffer, no copy).  Returns the first non-zero result of write. */
typedef int (*sp_snapshot_write_fn)(void *ctx, const void *p, size_t n, sp_error_t *err);
int sp_snapshot_write(sp_snapshot_t *s, sp_snapshot_write_fn write, void *ctx, sp_error_t *err);
/* A sp_snapshot_write_fn into memory the caller sized: appends at p + len. */
typedef struct sp_membuf {
    uint8_t *p;
    size_t len;
} sp_membuf_t;
int sp_membuf_write(void *ctx, const void *p, size_t n, sp_error_t *err);
/* The encoding into one new buffer (*out malloc'd, the caller's; *len bytes).  SPATE_ENOMEM when
 * it cannot be allocated. */
int sp_snapshot_encode(sp_snapshot_t *s, uint8_t **out, size_t *len, sp_error_t *err);
/* Writes the encoding into a file open for writing in checkpoint storage (storage.h; the caller
 * syncs and closes it).  Blocks; the storage's errors. */
struct sp_ckpt_storage;
struct sp_ckpt_file;
int sp_snapshot_write_file(sp_snapshot_t *s, struct sp_ckpt_storage *st, struct sp_ckpt_file *f,
                           sp_error_t *err);

/* ---- reading (restore) ---- */

typedef struct sp_snapshot_reader {
    const uint8_t *data; /* borrowed: the whole encoding */
    size_t len;
    sp_snapshot_kind_t kind;
    int first, last;
    uint64_t entries;
    uint32_t nnames;
    const uint8_t *names_at; /* the name table */
    const uint8_t *index;    /* the key-group index */
} sp_snapshot_reader_t;

/* Checks the header, name table and index of an encoding of `kind` (borrowed: must outlive the
 * reader).  SPATE_EPARSE with a message on anything malformed. */
int sp_snapshot_reader_open(sp_snapshot_reader_t *r, const uint8_t *data, size_t len, sp_snapshot_kind_t kind,
                            sp_error_t *err);
/* A restore of key groups [kg_first, kg_last] from an encoding of `kind`: checks the range
 * (SPATE_EINVAL), opens the reader, and gives the key groups both cover in [*a, *b] (*a > *b: none). */
int sp_snapshot_reader_open_range(sp_snapshot_reader_t *r, const uint8_t *data, size_t len,
                                  sp_snapshot_kind_t kind, int kg_first, int kg_last, int *a, int *b,
                                  sp_error_t *err);
/* Name i (< r->nnames): its bytes (not NUL-terminated) and length. */
const uint8_t *sp_snapshot_reader_name(const sp_snapshot_reader_t *r, uint32_t i, size_t *len);
/* The block of key group kg (within [r->first, r->last]) after checking its checksum: *at, *len
 * and its entry count.  SPATE_EPARSE on a checksum mismatch. */
int sp_snapshot_reader_block(const sp_snapshot_reader_t *r, int kg, const uint8_t **at, size_t *len,
                             uint64_t *count, sp_error_t *err);
/* Entry count of the key groups [a, b] (within the snapshot's range), from the index. */
uint64_t sp_snapshot_reader_count(const sp_snapshot_reader_t *r, int a, int b);

/* One decoded entry, its byte pointers into the encoding. */
typedef struct sp_snapshot_entry {
    uint32_t state; /* keyed state: index into the name table */
    int64_t ts;     /* timers */
    uint64_t seq;   /* timers */
    bool unique;    /* timers */
    const uint8_t *key, *ns, *value;
    uint32_t klen, nslen, vlen;
} sp_snapshot_entry_t;

/* Decodes the entry at *pos of a block (at, len) of kind r->kind into *e and advances *pos.
 * SPATE_EPARSE (naming key group kg and the byte offset) on a truncated or out-of-range entry. */
int sp_snapshot_reader_entry(const sp_snapshot_reader_t *r, int kg, const uint8_t *at, size_t len,
                             size_t *pos, sp_snapshot_entry_t *e, sp_error_t *err);

/* ---- a raw heap map as keyed state (the keyed reduce keeps its state in an sp_hmap_t) ----
 *
 * sp_hmap_snapshot: the entries of map m, all of key groups [kg_first, kg_last] (another is
 * SPATE_EINVAL), as a keyed-state snapshot (kind 1) with the one state `name`, no namespace, the
 * value bytes as they are (*out transferred; the synchronous part, as sp_state_snapshot).
 *
 * sp_hmap_restore: inserts the entries of key groups [kg_first, kg_last] of such an encoding
 * (borrowed) into m, keyed by their key bytes hashed with sp_hash_bytes, each with its block's
 * key group.  Several encodings may be restored one after another.  Untrusted input: anything
 * malformed, an entry with a namespace, or a key m holds already is SPATE_EPARSE with a message,
 * and then m is as before the call. */
struct sp_hmap;
int sp_hmap_snapshot(const struct sp_hmap *m, const char *name, int kg_first, int kg_last,
                     sp_snapshot_t **out, sp_error_t *err);
int sp_hmap_restore(struct sp_hmap *m, const uint8_t *data, size_t len, int kg_first, int kg_last,
                    sp_error_t *err);

/* ---- varints (the builders write entries themselves) ---- */

static inline size_t sp_snapshot_varint_size(uint32_t v)
{
    return v < (1u << 7) ? 1 : v < (1u << 14) ? 2 : v < (1u << 21) ? 3 : v < (1u << 28) ? 4 : 5;
}
static inline size_t sp_snapshot_put_varint(uint8_t *p, uint32_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}
static inline void sp_snapshot_put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

#endif
