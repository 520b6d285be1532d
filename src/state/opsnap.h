/*
 * opsnap.h — one operator instance's snapshot, as the checkpoint machinery
 * stores it: a container of named sections, each one kind of state in its
 * own format (DESIGN.md §4).
 *
 *   kind OPERATOR   an operator-state encoding (operator_state.h): lists
 *                   redistributed on restore (split or union)
 *   kind KEYED      a keyed-state snapshot (snapshot.h, "SPKG" kind 1) of
 *                   the instance's key-group range
 *   kind TIMERS     a timer snapshot (snapshot.h, kind 2); name "event" or
 *                   "processing"
 *   kind BROADCAST  broadcast state: the same on every instance, so a
 *                   restore takes any one instance's
 *
 * The runtime does not look inside: it stores each instance's container and,
 * on a restore (possibly at another parallelism), hands every new instance
 * the containers of all old instances (sp_opsnap_restore_t).  The operator
 * takes from them what is its own: keyed state and timers of its key-group
 * range, its share of operator state (sp_opsnap_operator_share), broadcast
 * state from the first container that has it.
 *
 * Format, version 1 (little-endian):
 *   4   magic "SPOS"
 *   4   version (u32) = 1
 *   4   section count N (u32)
 *   N sections: 1 kind (u8), 1 name length L (u8), L name bytes,
 *               8 payload length P (u64), P payload bytes
 * Untrusted on parse: truncation, bad magic or version, trailing bytes are
 * SPATE_EPARSE.
 */
#ifndef SP_STATE_OPSNAP_H
#define SP_STATE_OPSNAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"
#include "state/snapshot.h"

typedef enum sp_opsnap_kind {
    SP_OPSNAP_OPERATOR = 1,
    SP_OPSNAP_KEYED = 2,
    SP_OPSNAP_TIMERS = 3,
    SP_OPSNAP_BROADCAST = 4
} sp_opsnap_kind_t;

/* The OPERATOR section of a keyed operator's container that names each declared state's type
 * ("name=type" lines: "value", "list", "map", "aggregating(8 bytes)", "… with TTL"); a restore
 * refuses a state declared with another type. */
#define SP_OPSNAP_STATE_TYPES "state-types"

/* A container being built (by an operator's snapshot hook). */
typedef struct sp_opsnap {
    uint8_t *data;
    size_t len, cap;
    uint32_t count;
} sp_opsnap_t;

void sp_opsnap_init(sp_opsnap_t *s);
/* Appends a section (payload copied; name up to 255 bytes). */
void sp_opsnap_add(sp_opsnap_t *s, sp_opsnap_kind_t kind, const char *name, const void *payload, size_t len);
/* The finished container: *data malloc'd and transferred (NULL, 0 when no section was added). */
void sp_opsnap_finish(sp_opsnap_t *s, uint8_t **data, size_t *len);
void sp_opsnap_fini(sp_opsnap_t *s);

/* ---- a container finished later (the asynchronous part of a checkpoint) ----
 *
 * Built on the task thread at the barrier: sections whose bytes are there at once (the embedded
 * builder `now`, used as any sp_opsnap_t), and parts, each a snapshot (snapshot.h) that make()
 * produces later on another thread (a keyed state snapshot from a frozen view: backend.h).  Then
 * handed to one other thread, which calls sp_opsnap_later_make (the parts' work) and writes the
 * container with sp_opsnap_later_write or _encode: the same format as above, the parts' sections
 * after the others.  Destroy frees everything (drop() on each part). */
typedef struct sp_opsnap_part {
    sp_opsnap_kind_t kind;
    char name[256];
    void *obj;
    int (*make)(void *obj, sp_snapshot_t **out, sp_error_t *err); /* called at most once */
    void (*drop)(void *obj);
    sp_snapshot_t *snap; /* made */
} sp_opsnap_part_t;

typedef struct sp_opsnap_later {
    sp_opsnap_t now;
    sp_opsnap_part_t *parts;
    uint32_t nparts;
    size_t len; /* the container's bytes, once made */
    bool made;
} sp_opsnap_later_t;

sp_opsnap_later_t *sp_opsnap_later_create(void);
/* Appends a part (name up to 255 bytes): make(obj) gives its payload later, drop(obj) frees obj. */
void sp_opsnap_later_add_part(sp_opsnap_later_t *l, sp_opsnap_kind_t kind, const char *name, void *obj,
                              int (*make)(void *obj, sp_snapshot_t **out, sp_error_t *err),
                              void (*drop)(void *obj));
/* The asynchronous work: makes every part; *len = the container's size in bytes (0: nothing to
 * store).  Errors are the first part's that failed. */
int sp_opsnap_later_make(sp_opsnap_later_t *l, size_t *len, sp_error_t *err);
/* After make: the container's bytes through write(ctx, ...) in pieces (no copy of the parts'
 * blocks); write's first error is returned. */
int sp_opsnap_later_write(sp_opsnap_later_t *l, sp_snapshot_write_fn write, void *ctx, sp_error_t *err);
/* Make (if not done) and the container in one new buffer (*data NULL, *len 0 when empty). */
int sp_opsnap_later_encode(sp_opsnap_later_t *l, uint8_t **data, size_t *len, sp_error_t *err);
void sp_opsnap_later_destroy(sp_opsnap_later_t *l);

/* A section of a parsed container (pointers into the container's bytes). */
typedef struct sp_opsnap_section {
    sp_opsnap_kind_t kind;
    char name[256];
    const uint8_t *payload;
    size_t len;
} sp_opsnap_section_t;

/* Visits the sections of a container (an empty one, len 0, has none); fn returns non-zero to stop
 * (returned).  SPATE_EPARSE for a malformed container, before any section is visited. */
int sp_opsnap_parse(const uint8_t *data, size_t len, int (*fn)(void *ctx, const sp_opsnap_section_t *sec),
                    void *ctx, sp_error_t *err);

/* What a restoring instance gets: the containers of all old instances (in old subtask order; an
 * instance that stored nothing has len 0) and its own place among the new ones. */
typedef struct sp_opsnap_restore {
    int nold;
    const uint8_t *const *data;
    const size_t *len;
    int index, parallelism;     /* the new instance */
    uint32_t kg_first, kg_last; /* its key-group range */
} sp_opsnap_restore_t;

/* This instance's share of the OPERATOR sections named `name` of all old containers
 * (sp_opstate_redistribute over them): *data malloc'd (an empty encoding when none had it). */
int sp_opsnap_operator_share(const sp_opsnap_restore_t *r, const char *name, uint8_t **data, size_t *len,
                             sp_error_t *err);

#endif
