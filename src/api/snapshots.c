/*
 * snapshots.c — what the built-in operators' checkpoint hooks share: their
 * keyed state, timers and broadcast state as sections of the instance's
 * container (state/opsnap.h), and the walk over the old instances'
 * containers on a restore.  Which operator stores what: api/README.md and
 * docs/architecture.md §15 ("What each operator stores in a checkpoint").
 *
 * Everything here runs on the instance's task thread, inside its snapshot or
 * restore hook.  The containers handed to a restore are untrusted: the
 * sections are checked by sp_opsnap_parse, their payloads by the readers of
 * state/snapshot.h (SPATE_EPARSE with a message).
 */
#include "api/api.h"

#include <string.h>

#include "state/backend.h"
#include "state/snapshot.h"
#include "state/timers.h"

void sp_api_key_groups(const sp_op_ctx_t *ctx, int *first, int *last)
{
    const spate_task_info_t *i = &ctx->info;
    sp_key_group_range(i->subtask_index, i->parallelism > 0 ? i->parallelism : 1,
                       i->max_parallelism > 0 ? i->max_parallelism : 1, first, last);
}

/* Encodes snapshot s (destroyed) as section (kind, name) of c. */
static int add_snapshot(sp_opsnap_t *c, sp_opsnap_kind_t kind, const char *name, sp_snapshot_t *s,
                        sp_error_t *err)
{
    uint8_t *data;
    size_t len;
    int rc = sp_snapshot_encode(s, &data, &len, err);
    sp_snapshot_destroy(s);
    if (rc) return rc;
    sp_opsnap_add(c, kind, name, data, len);
    free(data);
    return SPATE_OK;
}

int sp_api_snapshot_keyed(sp_opsnap_t *c, sp_opsnap_kind_t kind, const char *name,
                          struct sp_state_backend *be, int kg_first, int kg_last, sp_error_t *err)
{
    if (sp_state_count(be) == 0) return SPATE_OK;
    sp_snapshot_t *s;
    int rc = sp_state_snapshot(be, kg_first, kg_last, &s, err);
    return rc ? rc : add_snapshot(c, kind, name, s, err);
}

static int make_frozen(void *obj, sp_snapshot_t **out, sp_error_t *err)
{
    return sp_state_frozen_snapshot(obj, out, err);
}

static void drop_frozen(void *obj)
{
    sp_state_frozen_release(obj);
}

/* Below this many entries the copy at the barrier is short (about 100 ns an entry) and cheaper in
 * all than a frozen view: while a view is alive every entry changed is copied once more, and a
 * small state is usually all hot (a window operator's accumulators; bench/checkpoint.c, part A). */
#define FREEZE_MIN_ENTRIES (1u << 18)

int sp_api_snapshot_keyed_later(sp_opsnap_later_t *l, sp_opsnap_kind_t kind, const char *name,
                                struct sp_state_backend *be, int kg_first, int kg_last, sp_error_t *err)
{
    if (sp_state_count(be) < FREEZE_MIN_ENTRIES)
        return sp_api_snapshot_keyed(&l->now, kind, name, be, kg_first, kg_last, err);
    sp_state_frozen_t *f;
    int rc = sp_state_freeze(be, kg_first, kg_last, &f, err);
    if (rc == SPATE_OK) sp_opsnap_later_add_part(l, kind, name, f, make_frozen, drop_frozen);
    return rc;
}

int sp_api_snapshot_timers(sp_opsnap_t *c, const char *name, struct sp_timer_service *t, int kg_first,
                           int kg_last, sp_error_t *err)
{
    if (sp_timers_count(t) == 0) return SPATE_OK;
    sp_snapshot_t *s;
    int rc = sp_timers_snapshot(t, kg_first, kg_last, &s, err);
    return rc ? rc : add_snapshot(c, SP_OPSNAP_TIMERS, name, s, err);
}

int sp_api_snapshot_map(sp_opsnap_t *c, const char *name, const struct sp_hmap *m, int kg_first, int kg_last,
                        sp_error_t *err)
{
    if (m->count == 0) return SPATE_OK;
    sp_snapshot_t *s;
    int rc = sp_hmap_snapshot(m, name, kg_first, kg_last, &s, err);
    return rc ? rc : add_snapshot(c, SP_OPSNAP_KEYED, name, s, err);
}

typedef struct each {
    sp_opsnap_kind_t kind;
    const char *name;
    sp_api_section_fn fn;
    void *ctx;
    bool found;
} each_t;

static int visit(void *ctx, const sp_opsnap_section_t *sec)
{
    each_t *e = ctx;
    if (sec->kind != e->kind || strcmp(sec->name, e->name) != 0) return 0;
    e->found = true;
    return e->fn(e->ctx, sec->payload, sec->len);
}

int sp_api_restore_each(const sp_opsnap_restore_t *r, sp_opsnap_kind_t kind, const char *name,
                        bool first_only, sp_api_section_fn fn, void *ctx, sp_error_t *err)
{
    each_t e = { kind, name, fn, ctx, false };
    for (int i = 0; i < r->nold; i++) {
        int rc = sp_opsnap_parse(r->data[i], r->len[i], visit, &e, err);
        if (rc) return rc;
        if (first_only && e.found) break;
    }
    return SPATE_OK;
}

typedef struct target {
    void *obj;
    int first, last;
    sp_error_t *err;
} target_t;

static int restore_keyed(void *ctx, const uint8_t *p, size_t len)
{
    target_t *t = ctx;
    return sp_state_restore(t->obj, p, len, t->first, t->last, t->err);
}

static int restore_timers(void *ctx, const uint8_t *p, size_t len)
{
    target_t *t = ctx;
    return sp_timers_restore(t->obj, p, len, t->first, t->last, t->err);
}

static int restore_map(void *ctx, const uint8_t *p, size_t len)
{
    target_t *t = ctx;
    return sp_hmap_restore(t->obj, p, len, t->first, t->last, t->err);
}

int sp_api_restore_keyed(const sp_opsnap_restore_t *r, const char *name, struct sp_state_backend *be,
                         sp_error_t *err)
{
    target_t t = { be, (int)r->kg_first, (int)r->kg_last, err };
    return sp_api_restore_each(r, SP_OPSNAP_KEYED, name, false, restore_keyed, &t, err);
}

int sp_api_restore_timers(const sp_opsnap_restore_t *r, const char *name, struct sp_timer_service *ts,
                          sp_error_t *err)
{
    target_t t = { ts, (int)r->kg_first, (int)r->kg_last, err };
    return sp_api_restore_each(r, SP_OPSNAP_TIMERS, name, false, restore_timers, &t, err);
}

int sp_api_restore_map(const sp_opsnap_restore_t *r, const char *name, struct sp_hmap *m, sp_error_t *err)
{
    target_t t = { m, (int)r->kg_first, (int)r->kg_last, err };
    return sp_api_restore_each(r, SP_OPSNAP_KEYED, name, false, restore_map, &t, err);
}

/* ---- the watermark ---- */

#define WATERMARK_SECTION "watermark"

void sp_api_snapshot_watermark(sp_opsnap_t *c, int64_t wm)
{
    uint8_t b[8];
    sp_put_le(b, (uint64_t)wm, 8);
    sp_opsnap_add(c, SP_OPSNAP_OPERATOR, WATERMARK_SECTION, b, sizeof b);
}

typedef struct min_wm {
    int64_t wm;
    bool found;
    sp_error_t *err;
} min_wm_t;

static int take_min_watermark(void *ctx, const uint8_t *p, size_t len)
{
    min_wm_t *m = ctx;
    if (len != 8) return sp_error_set(m->err, SPATE_EPARSE, "watermark section of %zu bytes (not 8)", len);
    int64_t wm = (int64_t)sp_get_le(p, 8);
    if (!m->found || wm < m->wm) m->wm = wm;
    m->found = true;
    return 0;
}

int sp_api_restore_watermark(const sp_opsnap_restore_t *r, int64_t *wm, sp_error_t *err)
{
    min_wm_t m = { 0, false, err };
    int rc =
        sp_api_restore_each(r, SP_OPSNAP_OPERATOR, WATERMARK_SECTION, false, take_min_watermark, &m, err);
    if (rc == SPATE_OK && m.found) *wm = m.wm;
    return rc;
}

/* ---- broadcast state: one key group (0), the same on every instance ---- */

int sp_broadcast_state_snapshot(spate_broadcast_context_t *bc, sp_opsnap_t *c)
{
    return sp_api_snapshot_keyed(c, SP_OPSNAP_BROADCAST, "broadcast", bc->be, 0, 0, bc->error);
}

static int restore_broadcast(void *ctx, const uint8_t *p, size_t len)
{
    spate_broadcast_context_t *bc = ctx;
    return sp_state_restore(bc->be, p, len, 0, 0, bc->error);
}

int sp_broadcast_state_restore(spate_broadcast_context_t *bc, const sp_opsnap_restore_t *r)
{
    return sp_api_restore_each(r, SP_OPSNAP_BROADCAST, "broadcast", true, restore_broadcast, bc, bc->error);
}
