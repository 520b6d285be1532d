/*
 * broadcast.c — a stream processed together with a broadcast stream (Flink's
 * BroadcastConnectedStream + BroadcastProcessFunction).  Input 0 is the
 * stream, partitioned as given; input 1 is the broadcast stream, sent whole
 * to every instance.  Broadcast state lives in the instance's state backend
 * with the state name as key prefix; only process_broadcast may change it.
 * The state itself (sp_broadcast_state_*) is shared with the keyed
 * broadcast operator in keyed.c.
 */
#include "api/api.h"

#include <string.h>

#include "state/backend.h"

typedef struct bc_spec {
    spate_broadcast_process_function_t fn;
} bc_spec_t;

typedef struct bc_op {
    const bc_spec_t *spec;
    sp_op_ctx_t *ctx;
    spate_collector_t out;
    spate_broadcast_context_t bc;
    void *state;
    bool opened;
} bc_op_t;

static void bc_close(void *inst)
{
    bc_op_t *b = inst;
    if (b->opened && b->spec->fn.close) b->spec->fn.close(b->state);
    sp_broadcast_state_fini(&b->bc);
    sp_collector_fini(&b->out);
    free(b);
}

static int bc_open(const void *spec, sp_op_ctx_t *ctx, void **inst)
{
    const bc_spec_t *s = spec;
    bc_op_t *b = sp_xcalloc_aligned(sizeof *b);
    b->spec = s;
    b->ctx = ctx;
    sp_broadcast_state_init(&b->bc, ctx->error);
    sp_collector_init(&b->out, ctx->out_schema, SP_BATCH_CAPACITY, sp_output_sink_fn, ctx->out, ctx->error);
    b->state = s->fn.ctx;
    *inst = b;
    if (s->fn.open) {
        int rc = s->fn.open(s->fn.ctx, &ctx->info, &b->state);
        if (rc) {
            rc = ctx->error->code
                     ? ctx->error->code
                     : sp_error_set(ctx->error, rc > 0 ? SPATE_EUSER : rc, "open returned %d", rc);
            bc_close(b);
            *inst = NULL;
            return rc;
        }
    }
    b->opened = true;
    return SPATE_OK;
}

static int bc_process_batch(void *inst, int input, sp_batch_t *batch)
{
    bc_op_t *b = inst;
    const spate_broadcast_process_function_t *fn = &b->spec->fn;
    spate_row_t row = { batch, 0 };
    b->out.input = &row;
    b->bc.writable = input == 1;
    for (uint32_t i = 0; i < batch->count; i++) {
        row.index = i;
        int rc = input == 1 ? fn->process_broadcast(b->state, &row, &b->bc, &b->out)
                            : fn->process(b->state, &row, &b->bc, &b->out);
        if (rc)
            return b->ctx->error->code ? b->ctx->error->code
                                       : sp_error_set(b->ctx->error, rc > 0 ? SPATE_EUSER : rc,
                                                      "broadcast process function returned %d", rc);
        if (b->ctx->error->code)
            return b->ctx->error->code; /* e.g. a write to broadcast state in process() */
    }
    b->out.input = NULL;
    b->bc.writable = false;
    return sp_collector_flush(&b->out);
}

static void bc_destroy(void *spec)
{
    free(spec);
}

/* Checkpoint hooks: the broadcast state, as the BROADCAST section "broadcast" (snapshots.c). */
static int bc_snapshot(void *inst, int64_t checkpoint_id, uint8_t **data, size_t *len)
{
    bc_op_t *b = inst;
    SP_UNUSED(checkpoint_id);
    sp_opsnap_t c;
    sp_opsnap_init(&c);
    int rc = sp_broadcast_state_snapshot(&b->bc, &c);
    if (rc) {
        sp_opsnap_fini(&c);
        return rc;
    }
    sp_opsnap_finish(&c, data, len);
    return SPATE_OK;
}

static int bc_restore(void *inst, const sp_opsnap_restore_t *r)
{
    bc_op_t *b = inst;
    return sp_broadcast_state_restore(&b->bc, r);
}

static const sp_op_vtable_t bc_vt = { .kind = "broadcast-process",
                                      .open = bc_open,
                                      .process_batch = bc_process_batch,
                                      .close = bc_close,
                                      .destroy_spec = bc_destroy,
                                      .snapshot = bc_snapshot,
                                      .restore = bc_restore };

/* ---- the broadcast state ---- */

void sp_broadcast_state_init(spate_broadcast_context_t *bc, sp_error_t *error)
{
    memset(bc, 0, sizeof *bc);
    bc->be = sp_heap_backend_create();
    bc->state_id = sp_state_id(bc->be, "broadcast");
    bc->error = error;
    bc->where = "process()";
}

void sp_broadcast_state_fini(spate_broadcast_context_t *bc)
{
    sp_state_backend_destroy(bc->be);
    free(bc->kbuf);
    bc->be = NULL;
    bc->kbuf = NULL;
}

/* The backend key of (state name, key): [name][0][key]. */
static const uint8_t *bkey(spate_broadcast_context_t *bc, const char *state, const void *key, size_t klen,
                           size_t *n)
{
    size_t sl = strlen(state ? state : "");
    *n = sl + 1 + klen;
    if (*n > bc->kcap) {
        bc->kcap = 2 * *n;
        bc->kbuf = sp_xrealloc(bc->kbuf, bc->kcap);
    }
    memcpy(bc->kbuf, state ? state : "", sl);
    bc->kbuf[sl] = 0;
    if (klen) memcpy(bc->kbuf + sl + 1, key, klen);
    return bc->kbuf;
}

int64_t spate_broadcast_state_get(spate_broadcast_context_t *bc, const char *state, const void *key,
                                  size_t klen, void *buf, size_t cap)
{
    if (!bc) return -1;
    size_t n, len;
    const uint8_t *k = bkey(bc, state, key, klen, &n);
    const uint8_t *v = sp_state_get(bc->be, bc->state_id, 0, k, n, NULL, 0, &len);
    if (!v) return -1;
    if (buf) memcpy(buf, v, len < cap ? len : cap);
    return (int64_t)len;
}

static bool may_write(spate_broadcast_context_t *bc)
{
    if (!bc) return false;
    if (bc->writable) return true;
    sp_error_set(bc->error, SPATE_EINVAL,
                 "broadcast state is read-only in %s: change it in process_broadcast()", bc->where);
    return false;
}

void spate_broadcast_state_put(spate_broadcast_context_t *bc, const char *state, const void *key, size_t klen,
                               const void *value, size_t vlen)
{
    if (!may_write(bc)) return;
    size_t n;
    const uint8_t *k = bkey(bc, state, key, klen, &n);
    sp_state_put(bc->be, bc->state_id, 0, k, n, NULL, 0, value, vlen);
}

void spate_broadcast_state_remove(spate_broadcast_context_t *bc, const char *state, const void *key,
                                  size_t klen)
{
    if (!may_write(bc)) return;
    size_t n;
    const uint8_t *k = bkey(bc, state, key, klen, &n);
    sp_state_remove(bc->be, bc->state_id, 0, k, n, NULL, 0);
}

spate_stream_t *spate_stream_process_with_broadcast(spate_stream_t *s, spate_stream_t *broadcast,
                                                    const char *name,
                                                    const spate_broadcast_process_function_t *fn,
                                                    const spate_schema_t *out_schema)
{
    if (!s || !broadcast) return NULL;
    if (!fn || !fn->process || !fn->process_broadcast || !out_schema) {
        sp_api_fail(s->env, SPATE_EINVAL,
                    "broadcast process '%s': needs process, process_broadcast and an output schema",
                    name ? name : "");
        return NULL;
    }
    bc_spec_t *spec = sp_xcalloc(1, sizeof *spec);
    spec->fn = *fn;
    spate_connected_t *c = spate_stream_connect(s, spate_stream_broadcast(broadcast));
    return sp_api_two_input(c, name, "BroadcastProcess", &bc_vt, spec, out_schema);
}
