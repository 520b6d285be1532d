/*
 * keyed.c — the keyed process operator (Flink's KeyedProcessOperator):
 * a user function per row with the row's key as the current key, keyed
 * value state in the state backend, and event- and processing-time timers.
 *
 * Per row: compute the key (the same selector the hash partitioner used, so
 * the key group is this subtask's), make it current, call process().  Per
 * watermark: fire the event-time timers up to it (each with its key made
 * current; rows emitted carry the timer's time), then pass the watermark
 * on.  Processing-time timers fire from the task's timer (on_timer).
 *
 * The same operator serves the keyed co-process function (input 1 keyed
 * too, process2) and the keyed broadcast process function (input 1 a
 * broadcast stream: process_broadcast with no current key, the broadcast
 * state of broadcast.c beside the keyed backend, and apply_to_keyed_state
 * visiting the keys of a state with each made current in turn).
 */
#include "api/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/backend.h"
#include "state/timers.h"

typedef struct kp_spec {
    sp_key_selector_t key[2]; /* per input */
    spate_keyed_process_function_t fn;
    int (*process2)(void *state, const spate_row_t *in, spate_keyed_context_t *kc, spate_collector_t *out);
    /* keyed broadcast: input 1 is the broadcast stream, its rows go to process_broadcast */
    bool broadcast;
    int (*process_broadcast)(void *state, const spate_row_t *in, spate_keyed_context_t *kc,
                             spate_collector_t *out);
} kp_spec_t;

/* Every state handle begins with this: the backend state id and the operator's list of handles. */
typedef struct state_head {
    int id;
    char *name; /* owned; apply_to_keyed_state finds states by name */
    struct state_head *next;
    bool has_ttl;
    spate_state_ttl_t ttl; /* values are stored as [u64 last access][value] when has_ttl */
    char type[64]; /* "value", "list", "map", "aggregating(8 bytes)" ..., "+ TTL": checked on restore */
} state_head_t;

struct spate_value_state {
    state_head_t h;
};

struct spate_list_state {
    state_head_t h;
};

struct spate_map_state {
    state_head_t h;
};

struct spate_aggregating_state {
    state_head_t h;
    size_t acc_size;
    void *ctx;
    void (*create)(void *ctx, void *acc);
    void (*add)(void *ctx, void *acc, const void *in, size_t in_len);
    void (*reduce)(void *ctx, void *acc, const void *value);
};

typedef struct kp_op kp_op_t;

struct spate_keyed_context {
    kp_op_t *op;
    int64_t timestamp;
    const uint8_t *key;
    size_t klen;
    int key_group;
};

struct kp_op {
    const kp_spec_t *spec;
    sp_op_ctx_t *ctx;
    sp_state_backend_t *be;
    sp_timer_service_t event_timers, proc_timers;
    spate_collector_t out;
    sp_side_outputs_t side;
    spate_keyed_context_t kc;
    spate_key_t keybuf;
    state_head_t *states;
    uint8_t *blob; /* scratch for list and map values */
    size_t blobcap;
    uint8_t *ttlbuf; /* scratch: a value with its TTL timestamp */
    size_t ttlcap;
    bool ttl_pending; /* spate_keyed_state_ttl: applies to states declared next */
    spate_state_ttl_t ttl;
    int64_t ttl_of[256]; /* per state id: ttl in ms for TTL states, 0 otherwise (cleanup) */
    size_t cleanup_cursor;
    void *state;
    int64_t watermark;
    bool opened;
    spate_broadcast_context_t bc; /* keyed broadcast only: the broadcast state */
    bool in_broadcast;            /* process_broadcast is running: no current key outside apply */
};

static void kp_close(void *inst);

static int user_error(kp_op_t *p, int rc, const char *what)
{
    if (p->ctx->error->code) return p->ctx->error->code;
    return sp_error_set(p->ctx->error, rc > 0 ? SPATE_EUSER : rc, "%s returned %d", what, rc);
}

static int kp_open(const void *spec, sp_op_ctx_t *ctx, void **inst)
{
    const kp_spec_t *s = spec;
    kp_op_t *p = sp_xcalloc_aligned(sizeof *p);
    p->spec = s;
    p->ctx = ctx;
    p->be = sp_heap_backend_create();
    sp_timers_init(&p->event_timers);
    sp_timers_init(&p->proc_timers);
    sp_collector_init(&p->out, ctx->out_schema ? ctx->out_schema : ctx->in_schema[0], SP_BATCH_CAPACITY,
                      sp_output_sink_fn, ctx->out, ctx->error);
    sp_key_init(&p->keybuf);
    p->kc.op = p;
    p->kc.timestamp = SPATE_NO_TIMESTAMP;
    p->watermark = SP_WATERMARK_MIN;
    p->state = s->fn.ctx;
    if (s->broadcast) {
        sp_broadcast_state_init(&p->bc, ctx->error);
        p->bc.where = "open()";
    }
    *inst = p;
    if (s->fn.open) {
        int rc = s->fn.open(s->fn.ctx, &p->kc, &p->state);
        if (rc || ctx->error->code) {
            rc = user_error(p, rc ? rc : ctx->error->code, "keyed process function open");
            kp_close(p); /* the runtime closes only what opened */
            *inst = NULL;
            return rc;
        }
    }
    p->bc.where = "process()";
    p->opened = true;
    return SPATE_OK;
}

static void kp_close(void *inst)
{
    kp_op_t *p = inst;
    if (p->opened && p->spec->fn.close) p->spec->fn.close(p->state);
    for (state_head_t *st = p->states; st;) {
        state_head_t *next = st->next;
        free(st->name);
        free(st);
        st = next;
    }
    if (p->spec->broadcast) sp_broadcast_state_fini(&p->bc);
    free(p->blob);
    free(p->ttlbuf);
    sp_state_backend_destroy(p->be);
    sp_timers_fini(&p->event_timers);
    sp_timers_fini(&p->proc_timers);
    sp_collector_fini(&p->out);
    sp_side_outputs_fini(&p->side);
    sp_key_fini(&p->keybuf);
    free(p);
}

/* A batch of the broadcast input: process_broadcast per row, with no current key and the
 * broadcast state writable. */
static int kb_process_broadcast_batch(kp_op_t *p, sp_batch_t *b)
{
    spate_row_t row = { b, 0 };
    p->out.input = &row;
    p->side.input = &row;
    p->bc.writable = true;
    p->in_broadcast = true;
    p->kc.key = NULL;
    p->kc.klen = 0;
    int rc = SPATE_OK;
    for (uint32_t i = 0; rc == SPATE_OK && i < b->count; i++) {
        row.index = i;
        p->kc.timestamp = spate_row_event_time(&row);
        rc = p->spec->process_broadcast(p->state, &row, &p->kc, &p->out);
        if (rc)
            rc = user_error(p, rc, "process_broadcast");
        else
            rc = p->ctx->error->code; /* e.g. keyed state used with no current key */
    }
    p->bc.writable = false;
    p->in_broadcast = false;
    p->out.input = NULL;
    p->side.input = NULL;
    if (rc) return rc;
    rc = sp_collector_flush(&p->out);
    return rc ? rc : sp_side_outputs_flush(&p->side);
}

static int kp_process_batch(void *inst, int input, sp_batch_t *b)
{
    kp_op_t *p = inst;
    const kp_spec_t *s = p->spec;
    if (input == 1 && s->broadcast) return kb_process_broadcast_batch(p, b);
    int maxp = p->ctx->info.max_parallelism;
    spate_row_t row = { b, 0 };
    p->out.input = &row;
    p->side.input = &row;
    for (uint32_t i = 0; i < b->count; i++) {
        row.index = i;
        int rc = sp_key_compute(&s->key[input], &row, &p->keybuf, p->ctx->error);
        if (rc) return rc;
        p->kc.key = p->keybuf.buf;
        p->kc.klen = p->keybuf.len;
        p->kc.key_group = sp_key_group(p->keybuf.buf, p->keybuf.len, maxp);
        p->kc.timestamp = spate_row_event_time(&row);
        rc = input == 1 ? s->process2(p->state, &row, &p->kc, &p->out)
                        : s->fn.process(p->state, &row, &p->kc, &p->out);
        if (rc) return user_error(p, rc, "keyed process function");
        if (p->ctx->error->code) return p->ctx->error->code; /* e.g. a write to broadcast state */
    }
    p->out.input = NULL;
    p->side.input = NULL;
    int rc = sp_collector_flush(&p->out);
    return rc ? rc : sp_side_outputs_flush(&p->side);
}

/* Fires the timers of one domain up to `limit`, each with its key current. */
static int fire(kp_op_t *p, sp_timer_service_t *ts, int64_t limit, spate_time_domain_t domain)
{
    sp_timer_t t;
    while (sp_timers_pop(ts, limit, &t)) {
        p->kc.key = t.key;
        p->kc.klen = t.klen;
        p->kc.key_group = t.key_group;
        p->kc.timestamp = domain == SPATE_EVENT_TIME ? t.ts : SPATE_NO_TIMESTAMP;
        p->out.default_time = p->kc.timestamp;
        p->bc.where = "on_timer()";
        int rc =
            p->spec->fn.on_timer ? p->spec->fn.on_timer(p->state, t.ts, domain, &p->kc, &p->out) : SPATE_OK;
        p->bc.where = "process()";
        p->kc.key = NULL;
        p->out.default_time = SPATE_NO_TIMESTAMP;
        if (rc) return user_error(p, rc, "on_timer");
        if (p->ctx->error->code) return p->ctx->error->code;
    }
    int rc = sp_collector_flush(&p->out);
    return rc ? rc : sp_side_outputs_flush(&p->side);
}

static int kp_process_watermark(void *inst, int64_t wm)
{
    kp_op_t *p = inst;
    p->watermark = wm;
    int rc = fire(p, &p->event_timers, wm, SPATE_EVENT_TIME);
    return rc ? rc : sp_output_push_watermark(p->ctx->out, wm);
}

static int kp_on_timer(void *inst, int64_t now)
{
    kp_op_t *p = inst;
    int rc = fire(p, &p->proc_timers, now, SPATE_PROCESSING_TIME);
    p->ctx->timer_at = sp_timers_next(&p->proc_timers);
    return rc;
}

static int kp_end_input(void *inst)
{
    kp_op_t *p = inst;
    int rc = sp_collector_flush(&p->out);
    return rc ? rc : sp_side_outputs_flush(&p->side);
}

static void kp_destroy(void *spec)
{
    free(spec);
}

/* ---- checkpoint hooks ----
 * The container: KEYED "keyed" (the backend: every declared state, TTL prefixes included), TIMERS
 * "event" and "processing", and for the keyed broadcast operator BROADCAST "broadcast".  The
 * watermark is not stored (as Flink: after a restore it is INT64_MIN until the first one comes). */

/* The declared states' types, in section SP_OPSNAP_STATE_TYPES: "name=type" lines. */
static void add_state_types(const kp_op_t *p, sp_opsnap_t *c)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    for (const state_head_t *h = p->states; h; h = h->next) fprintf(f, "%s=%s\n", h->name, h->type);
    fclose(f);
    if (len) sp_opsnap_add(c, SP_OPSNAP_OPERATOR, SP_OPSNAP_STATE_TYPES, text, len);
    free(text);
}

typedef struct types_found {
    const uint8_t *text;
    size_t len;
} types_found_t;

static int find_types(void *ctx, const sp_opsnap_section_t *sec)
{
    types_found_t *t = ctx;
    if (sec->kind != SP_OPSNAP_OPERATOR || strcmp(sec->name, SP_OPSNAP_STATE_TYPES) != 0) return 0;
    t->text = sec->payload;
    t->len = sec->len;
    return 1;
}

/* A declared state must have the type it was saved with (the bytes mean nothing otherwise). */
static int check_state_types(const kp_op_t *p, const sp_opsnap_restore_t *r, sp_error_t *err)
{
    types_found_t t = { 0 };
    for (int i = 0; i < r->nold && !t.text; i++) {
        int rc = sp_opsnap_parse(r->data[i], r->len[i], find_types, &t, err);
        if (rc < 0) return rc;
    }
    for (const state_head_t *h = p->states; h && t.text; h = h->next) {
        size_t nlen = strlen(h->name);
        for (const uint8_t *at = t.text, *end = t.text + t.len; at < end;) {
            const uint8_t *nl = memchr(at, '\n', (size_t)(end - at));
            if (!nl) nl = end;
            if ((size_t)(nl - at) > nlen && !memcmp(at, h->name, nlen) && at[nlen] == '=') {
                const char *saved = (const char *)at + nlen + 1;
                size_t slen = (size_t)(nl - at) - nlen - 1;
                if (slen != strlen(h->type) || memcmp(saved, h->type, slen) != 0)
                    return sp_error_set(err, SPATE_ESTATE,
                                        "state '%s' was saved as %.*s state, and the job declares it as %s "
                                        "state: it cannot be restored",
                                        h->name, (int)slen, saved, h->type);
            }
            at = nl + 1;
        }
    }
    return SPATE_OK;
}

/* The container's sections into c; the keyed state as a part of `later` instead when given (a
 * frozen view, encoded off the task thread). */
static int kp_sections(kp_op_t *p, sp_opsnap_t *c, sp_opsnap_later_t *later)
{
    sp_error_t *err = p->ctx->error;
    int first, last;
    sp_api_key_groups(p->ctx, &first, &last);
    int rc = later ? sp_api_snapshot_keyed_later(later, SP_OPSNAP_KEYED, "keyed", p->be, first, last, err)
                   : sp_api_snapshot_keyed(c, SP_OPSNAP_KEYED, "keyed", p->be, first, last, err);
    if (rc == SPATE_OK) add_state_types(p, c);
    if (rc == SPATE_OK) rc = sp_api_snapshot_timers(c, "event", &p->event_timers, first, last, err);
    if (rc == SPATE_OK) rc = sp_api_snapshot_timers(c, "processing", &p->proc_timers, first, last, err);
    if (rc == SPATE_OK && p->spec->broadcast) rc = sp_broadcast_state_snapshot(&p->bc, c);
    return rc;
}

static int kp_snapshot(void *inst, int64_t checkpoint_id, uint8_t **data, size_t *len)
{
    SP_UNUSED(checkpoint_id);
    sp_opsnap_t c;
    sp_opsnap_init(&c);
    int rc = kp_sections(inst, &c, NULL);
    if (rc) {
        sp_opsnap_fini(&c);
        return rc;
    }
    sp_opsnap_finish(&c, data, len);
    return SPATE_OK;
}

static int kp_snapshot_later(void *inst, int64_t checkpoint_id, sp_opsnap_later_t **out)
{
    SP_UNUSED(checkpoint_id);
    sp_opsnap_later_t *l = sp_opsnap_later_create();
    int rc = kp_sections(inst, &l->now, l);
    if (rc) {
        sp_opsnap_later_destroy(l);
        l = NULL;
    }
    *out = l;
    return rc;
}

static int kp_restore(void *inst, const sp_opsnap_restore_t *r)
{
    kp_op_t *p = inst;
    sp_error_t *err = p->ctx->error;
    int rc = check_state_types(p, r, err);
    if (rc == SPATE_OK) rc = sp_api_restore_keyed(r, "keyed", p->be, err);
    if (rc == SPATE_OK) rc = sp_api_restore_timers(r, "event", &p->event_timers, err);
    if (rc == SPATE_OK) rc = sp_api_restore_timers(r, "processing", &p->proc_timers, err);
    if (rc == SPATE_OK && p->spec->broadcast) rc = sp_broadcast_state_restore(&p->bc, r);
    int64_t next = sp_timers_next(&p->proc_timers); /* restored processing-time timers are due then */
    if (next < p->ctx->timer_at) p->ctx->timer_at = next;
    return rc;
}

static const sp_op_vtable_t kp_vt = { .kind = "keyed-process",
                                      .open = kp_open,
                                      .process_batch = kp_process_batch,
                                      .process_watermark = kp_process_watermark,
                                      .end_input = kp_end_input,
                                      .close = kp_close,
                                      .destroy_spec = kp_destroy,
                                      .on_timer = kp_on_timer,
                                      .snapshot = kp_snapshot,
                                      .snapshot_later = kp_snapshot_later,
                                      .restore = kp_restore };

static const sp_op_vtable_t kb_vt = { .kind = "keyed-broadcast-process",
                                      .open = kp_open,
                                      .process_batch = kp_process_batch,
                                      .process_watermark = kp_process_watermark,
                                      .end_input = kp_end_input,
                                      .close = kp_close,
                                      .destroy_spec = kp_destroy,
                                      .on_timer = kp_on_timer,
                                      .snapshot = kp_snapshot,
                                      .snapshot_later = kp_snapshot_later,
                                      .restore = kp_restore };

spate_stream_t *spate_keyed_process(spate_keyed_t *k, const char *name,
                                    const spate_keyed_process_function_t *fn,
                                    const spate_schema_t *out_schema)
{
    if (!k) return NULL;
    if (!fn || !fn->process) {
        sp_api_fail(k->s.env, SPATE_EINVAL, "keyed process '%s': no process function", name ? name : "");
        return NULL;
    }
    kp_spec_t *spec = sp_xcalloc(1, sizeof *spec);
    spec->key[0] = k->s.inputs[0].key;
    spec->fn = *fn;
    return sp_api_add_operator(&k->s, name, "KeyedProcess", &kp_vt, spec, out_schema);
}

spate_connected_t *spate_keyed_connect(spate_keyed_t *a, spate_keyed_t *b)
{
    if (!a || !b) return NULL;
    return spate_stream_connect(&a->s, &b->s);
}

spate_stream_t *spate_connected_keyed_process(spate_connected_t *c, const char *name,
                                              const spate_keyed_co_process_function_t *fn,
                                              const spate_schema_t *out_schema)
{
    if (!c) return NULL;
    spate_env_t *env = c->a->env;
    if (c->a->inputs[0].part != SP_PART_HASH || c->b->inputs[0].part != SP_PART_HASH) {
        sp_api_fail(env, SPATE_EINVAL,
                    "keyed co-process '%s': both inputs must be keyed (spate_keyed_connect)",
                    name ? name : "");
        return NULL;
    }
    if (!fn || !fn->process || !fn->process2 || !out_schema) {
        sp_api_fail(env, SPATE_EINVAL, "keyed co-process '%s': needs process, process2 and an output schema",
                    name ? name : "");
        return NULL;
    }
    kp_spec_t *spec = sp_xcalloc(1, sizeof *spec);
    spec->key[0] = c->a->inputs[0].key;
    spec->key[1] = c->b->inputs[0].key;
    spec->fn = (spate_keyed_process_function_t){
        .ctx = fn->ctx, .open = fn->open, .process = fn->process, .on_timer = fn->on_timer, .close = fn->close
    };
    spec->process2 = fn->process2;
    return sp_api_two_input(c, name, "KeyedCoProcess", &kp_vt, spec, out_schema);
}

spate_stream_t *spate_keyed_process_with_broadcast(spate_keyed_t *k, spate_stream_t *broadcast,
                                                   const char *name,
                                                   const spate_keyed_broadcast_process_function_t *fn,
                                                   const spate_schema_t *out_schema)
{
    if (!k || !broadcast) return NULL;
    if (!fn || !fn->process || !fn->process_broadcast) {
        sp_api_fail(k->s.env, SPATE_EINVAL,
                    "keyed broadcast process '%s': needs process and process_broadcast", name ? name : "");
        return NULL;
    }
    kp_spec_t *spec = sp_xcalloc(1, sizeof *spec);
    spec->key[0] = k->s.inputs[0].key;
    spec->fn = (spate_keyed_process_function_t){
        .ctx = fn->ctx, .open = fn->open, .process = fn->process, .on_timer = fn->on_timer, .close = fn->close
    };
    spec->broadcast = true;
    spec->process_broadcast = fn->process_broadcast;
    spate_connected_t *c = spate_stream_connect(&k->s, spate_stream_broadcast(broadcast));
    return sp_api_two_input(c, name, "KeyedBroadcastProcess", &kb_vt, spec,
                            out_schema ? out_schema : k->s.schema);
}

/* ---- context ---- */

const spate_task_info_t *spate_keyed_context_task(const spate_keyed_context_t *kc)
{
    return &kc->op->ctx->info;
}

int64_t spate_keyed_context_timestamp(const spate_keyed_context_t *kc)
{
    return kc->timestamp;
}

int64_t spate_keyed_context_watermark(const spate_keyed_context_t *kc)
{
    return kc->op->watermark;
}

int64_t spate_keyed_context_processing_time(const spate_keyed_context_t *kc)
{
    return sp_op_ctx_now(kc->op->ctx);
}

const void *spate_keyed_context_key(const spate_keyed_context_t *kc, size_t *len)
{
    if (len) *len = kc->klen;
    return kc->key;
}

spate_collector_t *spate_keyed_context_side_output(spate_keyed_context_t *kc, int tag)
{
    return sp_side_output(&kc->op->side, kc->op->ctx, tag);
}

spate_broadcast_context_t *spate_keyed_context_broadcast(spate_keyed_context_t *kc)
{
    return kc->op->spec->broadcast ? &kc->op->bc : NULL;
}

/* Whether there is a current key for a state or timer call.  Without one the call does nothing
 * (in open), but in process_broadcast it is a mistake, and the job fails (as in Flink). */
static bool has_key(spate_keyed_context_t *kc)
{
    if (kc->key) return true;
    if (kc->op->in_broadcast)
        sp_error_set(kc->op->ctx->error, SPATE_EINVAL,
                     "keyed state and timers need a current key, and process_broadcast() has none: "
                     "use spate_keyed_broadcast_apply_to_keyed_state");
    return false;
}

void spate_timer_register_event_time(spate_keyed_context_t *kc, int64_t ts)
{
    if (has_key(kc)) sp_timers_register(&kc->op->event_timers, ts, kc->key_group, kc->key, kc->klen);
}

void spate_timer_delete_event_time(spate_keyed_context_t *kc, int64_t ts)
{
    if (has_key(kc)) sp_timers_delete(&kc->op->event_timers, ts, kc->key, kc->klen);
}

void spate_timer_register_processing_time(spate_keyed_context_t *kc, int64_t ts)
{
    if (!has_key(kc)) return;
    sp_timers_register(&kc->op->proc_timers, ts, kc->key_group, kc->key, kc->klen);
    if (ts < kc->op->ctx->timer_at) kc->op->ctx->timer_at = ts;
}

void spate_timer_delete_processing_time(spate_keyed_context_t *kc, int64_t ts)
{
    if (has_key(kc)) sp_timers_delete(&kc->op->proc_timers, ts, kc->key, kc->klen);
}

/* ---- states ----
 * Values are bytes in the backend under the current key (no namespace).  List and map states
 * keep one value per key: [u32 len][bytes]... for lists, [u32 klen][key][u32 vlen][value]... for
 * maps, rewritten on every change (fine for the small collections keyed state usually holds;
 * the RocksDB backend will keep map entries apart). */

static void *new_state(kp_op_t *p, size_t size, const char *name, const char *type, size_t bytes)
{
    state_head_t *h = sp_xcalloc(1, size);
    if (bytes)
        snprintf(h->type, sizeof h->type, "%s(%zu bytes)", type, bytes);
    else
        snprintf(h->type, sizeof h->type, "%s", type);
    h->id = sp_state_id(p->be, name ? name : "");
    h->name = sp_xstrdup(name ? name : "");
    h->next = p->states;
    p->states = h;
    if (p->ttl_pending && p->ttl.ttl_ms > 0) {
        h->has_ttl = true;
        h->ttl = p->ttl;
        snprintf(h->type + strlen(h->type), sizeof h->type - strlen(h->type), " with TTL");
        if (h->id < (int)SP_ARRAY_LEN(p->ttl_of)) p->ttl_of[h->id] = p->ttl.ttl_ms;
    }
    return h;
}

void spate_keyed_state_ttl(spate_keyed_context_t *kc, const spate_state_ttl_t *ttl)
{
    kc->op->ttl_pending = ttl != NULL;
    if (ttl) kc->op->ttl = *ttl;
}

static bool ttl_expired_entry(void *ctx, int state, const uint8_t *value, size_t len)
{
    kp_op_t *p = ctx;
    if (state >= (int)SP_ARRAY_LEN(p->ttl_of) || p->ttl_of[state] == 0 || len < 8) return false;
    int64_t at;
    memcpy(&at, value, 8);
    return sp_op_ctx_now(p->ctx) - at >= p->ttl_of[state];
}

/* Incremental cleanup after an access of a TTL state. */
static void ttl_cleanup(kp_op_t *p, const state_head_t *h)
{
    if (h->ttl.cleanup_per_access > 0)
        sp_state_scan(p->be, &p->cleanup_cursor, (size_t)h->ttl.cleanup_per_access, ttl_expired_entry, p);
}

static void put_raw(spate_keyed_context_t *kc, const state_head_t *h, const void *v, size_t len);

static const uint8_t *get_raw(spate_keyed_context_t *kc, const state_head_t *h, size_t *len)
{
    if (!h || !has_key(kc)) {
        *len = 0;
        return NULL;
    }
    kp_op_t *p = kc->op;
    const uint8_t *v = sp_state_get(p->be, h->id, kc->key_group, kc->key, kc->klen, NULL, 0, len);
    if (!v || !h->has_ttl) return v;
    int64_t at, now = sp_op_ctx_now(p->ctx);
    memcpy(&at, v, 8);
    if (now - at >= h->ttl.ttl_ms) { /* expired */
        if (h->ttl.visibility == SPATE_TTL_NEVER_RETURN_EXPIRED) {
            sp_state_remove(p->be, h->id, kc->key_group, kc->key, kc->klen, NULL, 0);
            ttl_cleanup(p, h);
            *len = 0;
            return NULL;
        }
    } else if (h->ttl.update == SPATE_TTL_ON_READ_AND_WRITE) { /* a read renews it */
        size_t n = *len;
        if (n > p->ttlcap) {
            p->ttlcap = 2 * n;
            p->ttlbuf = sp_xrealloc(p->ttlbuf, p->ttlcap);
        }
        memcpy(p->ttlbuf, v, n);
        memcpy(p->ttlbuf, &now, 8);
        sp_state_put(p->be, h->id, kc->key_group, kc->key, kc->klen, NULL, 0, p->ttlbuf, n);
        v = sp_state_get(p->be, h->id, kc->key_group, kc->key, kc->klen, NULL, 0, len);
    }
    *len -= 8;
    return v + 8;
}

static void put_raw(spate_keyed_context_t *kc, const state_head_t *h, const void *v, size_t len)
{
    if (!h || !has_key(kc)) return;
    kp_op_t *p = kc->op;
    if (!h->has_ttl) {
        sp_state_put(p->be, h->id, kc->key_group, kc->key, kc->klen, NULL, 0, v, len);
        return;
    }
    if (len + 8 > p->ttlcap) {
        p->ttlcap = 2 * (len + 8);
        p->ttlbuf = sp_xrealloc(p->ttlbuf, p->ttlcap);
    }
    int64_t now = sp_op_ctx_now(p->ctx);
    memcpy(p->ttlbuf, &now, 8);
    if (len) memcpy(p->ttlbuf + 8, v, len);
    sp_state_put(p->be, h->id, kc->key_group, kc->key, kc->klen, NULL, 0, p->ttlbuf, len + 8);
    ttl_cleanup(p, h);
}

static void clear_raw(spate_keyed_context_t *kc, const state_head_t *h)
{
    if (h && has_key(kc)) sp_state_remove(kc->op->be, h->id, kc->key_group, kc->key, kc->klen, NULL, 0);
}

static uint8_t *blob(kp_op_t *p, size_t n)
{
    if (n > p->blobcap) {
        p->blobcap = n * 2;
        p->blob = sp_xrealloc(p->blob, p->blobcap);
    }
    return p->blob;
}

static size_t put_u32(uint8_t *at, size_t n)
{
    uint32_t v = (uint32_t)n;
    memcpy(at, &v, 4);
    return 4;
}

static uint32_t get_u32(const uint8_t *at)
{
    uint32_t v;
    memcpy(&v, at, 4);
    return v;
}

/* ---- value state ---- */

spate_value_state_t *spate_keyed_value_state(spate_keyed_context_t *kc, const char *name)
{
    return new_state(kc->op, sizeof(spate_value_state_t), name, "value", 0);
}

int64_t spate_value_state_get(spate_keyed_context_t *kc, spate_value_state_t *st, void *buf, size_t cap)
{
    size_t len;
    const uint8_t *v = get_raw(kc, st ? &st->h : NULL, &len);
    if (!v) return -1;
    if (buf) memcpy(buf, v, len < cap ? len : cap);
    return (int64_t)len;
}

void spate_value_state_set(spate_keyed_context_t *kc, spate_value_state_t *st, const void *value, size_t len)
{
    put_raw(kc, st ? &st->h : NULL, value, len);
}

void spate_value_state_clear(spate_keyed_context_t *kc, spate_value_state_t *st)
{
    clear_raw(kc, st ? &st->h : NULL);
}

/* ---- list state ---- */

spate_list_state_t *spate_keyed_list_state(spate_keyed_context_t *kc, const char *name)
{
    return new_state(kc->op, sizeof(spate_list_state_t), name, "list", 0);
}

void spate_list_state_add(spate_keyed_context_t *kc, spate_list_state_t *st, const void *value, size_t len)
{
    if (!st || !has_key(kc)) return;
    size_t old;
    const uint8_t *v = get_raw(kc, &st->h, &old);
    uint8_t *b = blob(kc->op, old + 4 + len);
    if (v) memcpy(b, v, old);
    size_t n = old + put_u32(b + old, len);
    if (len) memcpy(b + n, value, len);
    put_raw(kc, &st->h, b, n + len);
}

int spate_list_state_get(spate_keyed_context_t *kc, spate_list_state_t *st, spate_state_visit_fn fn,
                         void *ctx)
{
    size_t len;
    const uint8_t *v = get_raw(kc, st ? &st->h : NULL, &len);
    if (!v) return SPATE_OK;
    uint8_t *b = sp_xmalloc(len); /* a private copy: fn may change the state */
    memcpy(b, v, len);
    int rc = SPATE_OK;
    for (size_t at = 0; rc == SPATE_OK && at + 4 <= len;) {
        uint32_t n = get_u32(b + at);
        rc = fn(ctx, b + at + 4, n);
        at += 4 + n;
    }
    free(b);
    return rc;
}

size_t spate_list_state_size(spate_keyed_context_t *kc, spate_list_state_t *st)
{
    size_t len, count = 0;
    const uint8_t *v = get_raw(kc, st ? &st->h : NULL, &len);
    for (size_t at = 0; v && at + 4 <= len; count++) at += 4 + get_u32(v + at);
    return count;
}

void spate_list_state_clear(spate_keyed_context_t *kc, spate_list_state_t *st)
{
    clear_raw(kc, st ? &st->h : NULL);
}

/* ---- map state ---- */

spate_map_state_t *spate_keyed_map_state(spate_keyed_context_t *kc, const char *name)
{
    return new_state(kc->op, sizeof(spate_map_state_t), name, "map", 0);
}

/* Finds `key` in a map value; returns the entry's offset (or len when absent). */
static size_t map_find(const uint8_t *v, size_t len, const void *key, size_t klen)
{
    size_t at = 0;
    while (at + 4 <= len) {
        uint32_t kl = get_u32(v + at);
        uint32_t vl = get_u32(v + at + 4 + kl);
        if (kl == klen && memcmp(v + at + 4, key, klen) == 0) return at;
        at += 8 + kl + vl;
    }
    return len;
}

int64_t spate_map_state_get(spate_keyed_context_t *kc, spate_map_state_t *st, const void *key, size_t klen,
                            void *buf, size_t cap)
{
    size_t len;
    const uint8_t *v = get_raw(kc, st ? &st->h : NULL, &len);
    if (!v) return -1;
    size_t at = map_find(v, len, key, klen);
    if (at == len) return -1;
    uint32_t vl = get_u32(v + at + 4 + klen);
    if (buf) memcpy(buf, v + at + 8 + klen, vl < cap ? vl : cap);
    return vl;
}

/* Rewrites the map without `key`, then (value != NULL) with key -> value appended. */
static void map_rewrite(spate_keyed_context_t *kc, spate_map_state_t *st, const void *key, size_t klen,
                        const void *value, size_t vlen)
{
    if (!st || !has_key(kc)) return;
    size_t len;
    const uint8_t *v = get_raw(kc, &st->h, &len);
    size_t at = v ? map_find(v, len, key, klen) : 0;
    size_t skip = 0;
    if (v && at < len) skip = 8 + klen + get_u32(v + at + 4 + klen);
    size_t n = len - skip;
    uint8_t *b = blob(kc->op, n + (value ? 8 + klen + vlen : 0));
    if (v) {
        memcpy(b, v, at);
        memcpy(b + at, v + at + skip, len - at - skip);
    }
    if (value) {
        n += put_u32(b + n, klen);
        memcpy(b + n, key, klen);
        n += klen;
        n += put_u32(b + n, vlen);
        if (vlen) memcpy(b + n, value, vlen);
        n += vlen;
    }
    if (n)
        put_raw(kc, &st->h, b, n);
    else
        clear_raw(kc, &st->h);
}

void spate_map_state_put(spate_keyed_context_t *kc, spate_map_state_t *st, const void *key, size_t klen,
                         const void *value, size_t vlen)
{
    static const char empty = 0;
    map_rewrite(kc, st, key, klen, value ? value : &empty, value ? vlen : 0);
}

void spate_map_state_remove(spate_keyed_context_t *kc, spate_map_state_t *st, const void *key, size_t klen)
{
    map_rewrite(kc, st, key, klen, NULL, 0);
}

int spate_map_state_entries(spate_keyed_context_t *kc, spate_map_state_t *st, spate_map_visit_fn fn,
                            void *ctx)
{
    size_t len;
    const uint8_t *v = get_raw(kc, st ? &st->h : NULL, &len);
    if (!v) return SPATE_OK;
    uint8_t *b = sp_xmalloc(len); /* a private copy: fn may change the state */
    memcpy(b, v, len);
    int rc = SPATE_OK;
    for (size_t at = 0; rc == SPATE_OK && at + 4 <= len;) {
        uint32_t kl = get_u32(b + at), vl = get_u32(b + at + 4 + kl);
        rc = fn(ctx, b + at + 4, kl, b + at + 8 + kl, vl);
        at += 8 + kl + vl;
    }
    free(b);
    return rc;
}

void spate_map_state_clear(spate_keyed_context_t *kc, spate_map_state_t *st)
{
    clear_raw(kc, st ? &st->h : NULL);
}

/* ---- aggregating and reducing state ---- */

spate_aggregating_state_t *spate_keyed_aggregating_state(spate_keyed_context_t *kc,
                                                         const spate_aggregating_descriptor_t *d)
{
    if (!d || !d->add || d->acc_size == 0) return NULL;
    spate_aggregating_state_t *st = new_state(kc->op, sizeof *st, d->name, "aggregating", d->acc_size);
    st->acc_size = d->acc_size;
    st->ctx = d->ctx;
    st->create = d->create;
    st->add = d->add;
    return st;
}

spate_aggregating_state_t *spate_keyed_reducing_state(spate_keyed_context_t *kc, const char *name,
                                                      size_t value_size,
                                                      void (*reduce)(void *ctx, void *acc, const void *value),
                                                      void *ctx)
{
    if (!reduce || value_size == 0) return NULL;
    spate_aggregating_state_t *st = new_state(kc->op, sizeof *st, name, "reducing", value_size);
    st->acc_size = value_size;
    st->ctx = ctx;
    st->reduce = reduce;
    return st;
}

void spate_aggregating_state_add(spate_keyed_context_t *kc, spate_aggregating_state_t *st, const void *in,
                                 size_t in_len)
{
    if (!st || !has_key(kc)) return;
    size_t len;
    const uint8_t *v = get_raw(kc, &st->h, &len);
    uint8_t *acc = blob(kc->op, st->acc_size);
    if (st->reduce) {
        if (!v) { /* a reducing state's first value is its accumulator */
            memcpy(acc, in, st->acc_size);
        } else {
            memcpy(acc, v, st->acc_size);
            st->reduce(st->ctx, acc, in);
        }
        SP_UNUSED(in_len);
    } else {
        if (v)
            memcpy(acc, v, st->acc_size);
        else if (st->create)
            st->create(st->ctx, acc);
        else
            memset(acc, 0, st->acc_size);
        st->add(st->ctx, acc, in, in_len);
    }
    put_raw(kc, &st->h, acc, st->acc_size);
}

int spate_aggregating_state_get(spate_keyed_context_t *kc, spate_aggregating_state_t *st, void *acc)
{
    size_t len;
    const uint8_t *v = get_raw(kc, st ? &st->h : NULL, &len);
    if (!v) return 0;
    memcpy(acc, v, st->acc_size);
    return 1;
}

void spate_aggregating_state_clear(spate_keyed_context_t *kc, spate_aggregating_state_t *st)
{
    clear_raw(kc, st ? &st->h : NULL);
}

/* ---- apply to keyed state (keyed broadcast, process_broadcast only) ----
 * The keys are collected first, then visited: the visitor may change the backend (set, clear),
 * which moves entries, so no backend iteration may be open while it runs. */

typedef struct key_list {
    uint8_t *buf; /* [i32 key group][u32 klen][key bytes]... */
    size_t len, cap;
} key_list_t;

static void collect_key(void *ctx, int key_group, const uint8_t *key, size_t klen)
{
    key_list_t *l = ctx;
    size_t need = l->len + 8 + klen;
    if (need > l->cap) {
        l->cap = need * 2;
        l->buf = sp_xrealloc(l->buf, l->cap);
    }
    int32_t kg = key_group;
    memcpy(l->buf + l->len, &kg, 4);
    put_u32(l->buf + l->len + 4, klen);
    if (klen) memcpy(l->buf + l->len + 8, key, klen);
    l->len = need;
}

/* Whether the current key has a value of h that a read would return (a TTL state's expired
 * value is removed here, as a read would, but a live one is not renewed). */
static bool has_value(spate_keyed_context_t *kc, const state_head_t *h)
{
    kp_op_t *p = kc->op;
    size_t len;
    const uint8_t *v = sp_state_get(p->be, h->id, kc->key_group, kc->key, kc->klen, NULL, 0, &len);
    if (!v) return false;
    if (!h->has_ttl || h->ttl.visibility != SPATE_TTL_NEVER_RETURN_EXPIRED) return true;
    int64_t at;
    memcpy(&at, v, 8);
    if (sp_op_ctx_now(p->ctx) - at < h->ttl.ttl_ms) return true;
    sp_state_remove(p->be, h->id, kc->key_group, kc->key, kc->klen, NULL, 0);
    return false;
}

int spate_keyed_broadcast_apply_to_keyed_state(spate_keyed_context_t *kc, const char *state,
                                               spate_keyed_state_fn fn, void *ctx)
{
    kp_op_t *p = kc->op;
    if (!p->in_broadcast)
        return sp_error_set(p->ctx->error, SPATE_EINVAL,
                            "spate_keyed_broadcast_apply_to_keyed_state: only in process_broadcast()");
    const state_head_t *h = p->states;
    while (h && strcmp(h->name, state ? state : "") != 0) h = h->next;
    if (!h || !fn)
        return sp_error_set(
            p->ctx->error, SPATE_EINVAL,
            "spate_keyed_broadcast_apply_to_keyed_state: no keyed state '%s' declared in open()%s",
            state ? state : "", fn ? "" : " (or no function)");
    key_list_t keys = { 0 };
    sp_state_keys(p->be, h->id, NULL, 0, collect_key, &keys);
    const uint8_t *key = kc->key; /* NULL, unless called from a visitor */
    size_t klen = kc->klen;
    int key_group = kc->key_group;
    int rc = SPATE_OK;
    for (size_t at = 0; rc == SPATE_OK && at < keys.len;) {
        int32_t kg;
        memcpy(&kg, keys.buf + at, 4);
        kc->key_group = kg;
        kc->klen = get_u32(keys.buf + at + 4);
        kc->key = keys.buf + at + 8;
        at += 8 + kc->klen;
        if (has_value(kc, h)) rc = fn(ctx, kc);
    }
    kc->key = key;
    kc->klen = klen;
    kc->key_group = key_group;
    free(keys.buf);
    return rc;
}
