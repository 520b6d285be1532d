/*
 * api.h — the DataStream API's internals: the environment, stream handles,
 * and the built-in operators the API puts in the graph (operators.c).
 *
 * A stream handle names the node that produces it plus the partitioning of
 * the edge to whatever consumes it; a union handle names several such
 * inputs.  Handles are owned by the environment (freed with it).
 */
#ifndef SP_API_H
#define SP_API_H

#include <spate/spate.h>

#include "common/config.h"
#include "runtime/runtime.h"
#include "state/opsnap.h"

typedef struct sp_stream_input {
    int node;
    int tag; /* side output of `node` (0: its main output) */
    sp_part_kind_t part;
    sp_key_selector_t key;
    spate_partition_fn custom_fn;
    void *custom_ctx;
} sp_stream_input_t;

struct spate_stream {
    spate_env_t *env;
    int self; /* node this handle configures (set_parallelism, uid) */
    const spate_schema_t *schema;
    int ninputs;
    sp_stream_input_t *inputs;        /* what a consumer connects to */
    struct spate_stream *next_handle; /* env's list of handles */
};

struct spate_keyed {
    spate_stream_t s;
};

struct spate_connected {
    spate_stream_t *a, *b;
};

struct spate_env {
    sp_graph_t graph;
    sp_config_t *config;
    sp_error_t error;
    spate_stream_t *handles;
    spate_connected_t **connected;
    int nconnected;
    sp_field_key_t **field_keys;
    int nfield_keys;
    spate_schema_t **retired; /* schemas replaced by projection push-down (handles may point at them) */
    int nretired;
    spate_clock_t *clock; /* borrowed; NULL = wall clock */
    void **owned;         /* other API objects freed with the environment */
    int nowned;
    bool executed; /* a job was started from this environment (the graph runs once) */
};

/* ---- shared by the API's files (datastream.c) ---- */
/* Records the environment's first error (and spate_last_error); returns code. */
int sp_api_fail(spate_env_t *env, int code, const char *fmt, ...) SPATE_PRINTF(3, 4);
/* Adds a one-input operator fed by s; out_schema NULL = s's schema. Returns its handle. */
spate_stream_t *sp_api_add_operator(spate_stream_t *s, const char *name, const char *fallback,
                                    const sp_op_vtable_t *vt, void *spec, const spate_schema_t *out_schema);
/* Frees p with the environment. */
void sp_api_own(spate_env_t *env, void *p);
/* A handle on side output `tag` of the node behind s, carrying rows of `schema`. */
spate_stream_t *sp_api_side_output(spate_stream_t *s, int tag, const spate_schema_t *schema);
/* A node fed by both inputs of a connected stream (input 0 and 1); returns its handle. */
spate_stream_t *sp_api_two_input(spate_connected_t *c, const char *name, const char *fallback,
                                 const sp_op_vtable_t *vt, void *spec, const spate_schema_t *out_schema);
/* Gives the node behind `s` the same parallelism setting as the node behind `like`. */
void sp_api_same_parallelism(spate_stream_t *s, const spate_stream_t *like);

/* ---- broadcast state (broadcast.c), kept by the broadcast and keyed broadcast operators ----
 * Per instance: operator state (not keyed) in a state backend of its own, one backend entry per
 * (state name, key).  Only the operator's task thread touches it. */
struct spate_broadcast_context {
    struct sp_state_backend *be;
    int state_id;
    sp_error_t *error; /* the task's: a write while read-only fails the job */
    bool writable;     /* set by the operator around process_broadcast() */
    const char *where; /* the hook running while read-only, for the error: "process()", ... */
    uint8_t *kbuf;     /* scratch: a backend key */
    size_t kcap;
};
/* Sets up bc (caller's storage) read-only, with an empty state; error is borrowed for bc's life. */
void sp_broadcast_state_init(spate_broadcast_context_t *bc, sp_error_t *error);
void sp_broadcast_state_fini(spate_broadcast_context_t *bc);
/* The checkpoint hooks' part (snapshots.c): the state as the BROADCAST section "broadcast" of c
 * (nothing when empty); restored from the first old container that has it (every instance holds
 * the same).  Errors in bc->error. */
int sp_broadcast_state_snapshot(spate_broadcast_context_t *bc, sp_opsnap_t *c);
int sp_broadcast_state_restore(spate_broadcast_context_t *bc, const sp_opsnap_restore_t *r);

/* ---- checkpoint hooks of the built-in operators (snapshots.c) ----
 * Sections of an instance's container (state/opsnap.h); each snapshot helper adds nothing when
 * there is nothing to store.  A restore helper takes the section `name` of every old container
 * (the instance's key groups [r->kg_first, r->kg_last] of it): SPATE_EPARSE with a message for a
 * malformed container or payload. */
struct sp_state_backend;
struct sp_timer_service;
struct sp_hmap;
/* The key-group range of the instance (ctx->info: subtask, parallelism, max parallelism). */
void sp_api_key_groups(const sp_op_ctx_t *ctx, int *first, int *last);
/* be's entries, all of key groups [kg_first, kg_last], as section (kind KEYED or BROADCAST, name). */
int sp_api_snapshot_keyed(sp_opsnap_t *c, sp_opsnap_kind_t kind, const char *name,
                          struct sp_state_backend *be, int kg_first, int kg_last, sp_error_t *err);
/* The same as a part of a container finished later (state/opsnap.h): a frozen view of be now
 * (sp_state_freeze), encoded when the checkpoint's uploader makes the container; a small state
 * (under 2^18 entries) is copied at once into l->now instead. */
int sp_api_snapshot_keyed_later(sp_opsnap_later_t *l, sp_opsnap_kind_t kind, const char *name,
                                struct sp_state_backend *be, int kg_first, int kg_last, sp_error_t *err);
/* The live timers of t as TIMERS section `name` ("event" or "processing"). */
int sp_api_snapshot_timers(sp_opsnap_t *c, const char *name, struct sp_timer_service *t, int kg_first,
                           int kg_last, sp_error_t *err);
/* A raw heap map (key bytes -> value) as KEYED section `name` (sp_hmap_snapshot). */
int sp_api_snapshot_map(sp_opsnap_t *c, const char *name, const struct sp_hmap *m, int kg_first, int kg_last,
                        sp_error_t *err);
int sp_api_restore_keyed(const sp_opsnap_restore_t *r, const char *name, struct sp_state_backend *be,
                         sp_error_t *err);
int sp_api_restore_timers(const sp_opsnap_restore_t *r, const char *name, struct sp_timer_service *t,
                          sp_error_t *err);
int sp_api_restore_map(const sp_opsnap_restore_t *r, const char *name, struct sp_hmap *m, sp_error_t *err);
/* An event-time operator's watermark as OPERATOR section "watermark" (8 bytes), and on restore the
 * smallest of the old instances' (*wm unchanged when none had one): records that were late before
 * a failure are late after it, however the restore lands between watermarks. */
void sp_api_snapshot_watermark(sp_opsnap_t *c, int64_t wm);
int sp_api_restore_watermark(const sp_opsnap_restore_t *r, int64_t *wm, sp_error_t *err);
/* Calls fn(ctx, payload, len) for the section (kind, name) of each old container in order (only
 * the first that has one with first_only); a non-zero return stops and is returned. */
typedef int (*sp_api_section_fn)(void *ctx, const uint8_t *payload, size_t len);
int sp_api_restore_each(const sp_opsnap_restore_t *r, sp_opsnap_kind_t kind, const char *name,
                        bool first_only, sp_api_section_fn fn, void *ctx, sp_error_t *err);

/* ---- built-in operators (operators.c) ---- */
typedef enum sp_rowfn_kind {
    SP_ROWFN_MAP,
    SP_ROWFN_FLAT_MAP,
    SP_ROWFN_FILTER,
    SP_ROWFN_PROCESS
} sp_rowfn_kind_t;

/* map / flat_map / filter / process / co_map / co_flat_map: one spec, per-input functions. */
typedef struct sp_rowfn_spec {
    sp_rowfn_kind_t kind;
    spate_map_fn fn[2];
    spate_filter_fn filter;
    spate_process_function_t process;
    void *ctx;
} sp_rowfn_spec_t;
extern const sp_op_vtable_t sp_rowfn_op;

typedef struct sp_project_spec {
    int n;
    int idx[64];
    spate_schema_t *schema;
    bool pushed_down; /* the source produces these columns itself (datastream.c push_projections) */
} sp_project_spec_t;
extern const sp_op_vtable_t sp_project_op;

typedef struct sp_reduce_spec {
    sp_key_selector_t key;
    spate_reduce_fn fn;
    void *ctx;
    int sum_field; /* spate_keyed_sum: the field; else -1 */
} sp_reduce_spec_t;
extern const sp_op_vtable_t sp_reduce_op;
/* spate_keyed_sum's reduce function (ctx = the sp_reduce_spec_t). */
int sp_sum_reduce_fn(void *ctx, const spate_row_t *acc, const spate_row_t *in, spate_collector_t *out);

extern const sp_op_vtable_t sp_sink_op; /* spec = spate_sink_t */

/* ---- windows (triggers.c) ---- */
/* The window's last millisecond (Flink's maxTimestamp): end - 1; INT64_MAX for the global window.
 * Inline, as sp_add_sat: the window operator asks for every row. */
static inline int64_t sp_window_max_ts(const spate_window_t *w)
{
    return w->end == INT64_MAX ? INT64_MAX : w->end - 1;
}
/* t rounded down to a multiple of step (> 0), also for negative t: a window's start is
 * offset + sp_floor_to(ts - offset, slide) (Flink's TimeWindow.getWindowStartWithOffset). */
static inline int64_t sp_floor_to(int64_t t, int64_t step)
{
    int64_t rem = t % step;
    return t - (rem < 0 ? rem + step : rem);
}
/* a + b (b >= 0), saturating at INT64_MAX. */
static inline int64_t sp_add_sat(int64_t a, int64_t b)
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}
/* Whether t is spate_event_time_trigger() (possibly purging). */
bool sp_trigger_is_event_time(const spate_trigger_t *t);
/* Whether t is a built-in whose count or interval (t->n) must be > 0. */
bool sp_trigger_needs_positive_n(const spate_trigger_t *t);
/* What is wrong with a built-in evictor's settings, or NULL. */
const char *sp_evictor_check(const spate_evictor_t *e);

#endif
