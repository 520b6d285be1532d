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
