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
 */
#include "api/api.h"

#include <string.h>

#include "state/backend.h"
#include "state/timers.h"

typedef struct kp_spec {
    sp_key_selector_t key;
    spate_keyed_process_function_t fn;
} kp_spec_t;

struct spate_value_state {
    int id;
    struct spate_value_state *next;
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
    spate_keyed_context_t kc;
    spate_key_t keybuf;
    spate_value_state_t *states;
    void *state;
    int64_t watermark;
    bool opened;
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
    *inst = p;
    if (s->fn.open) {
        int rc = s->fn.open(s->fn.ctx, &p->kc, &p->state);
        if (rc) {
            rc = user_error(p, rc, "keyed process function open");
            kp_close(p); /* the runtime closes only what opened */
            *inst = NULL;
            return rc;
        }
    }
    p->opened = true;
    return SPATE_OK;
}

static void kp_close(void *inst)
{
    kp_op_t *p = inst;
    if (p->opened && p->spec->fn.close) p->spec->fn.close(p->state);
    for (spate_value_state_t *st = p->states; st;) {
        spate_value_state_t *next = st->next;
        free(st);
        st = next;
    }
    sp_state_backend_destroy(p->be);
    sp_timers_fini(&p->event_timers);
    sp_timers_fini(&p->proc_timers);
    sp_collector_fini(&p->out);
    sp_key_fini(&p->keybuf);
    free(p);
}

static int kp_process_batch(void *inst, int input, sp_batch_t *b)
{
    kp_op_t *p = inst;
    const kp_spec_t *s = p->spec;
    int maxp = p->ctx->info.max_parallelism;
    SP_UNUSED(input);
    spate_row_t row = { b, 0 };
    p->out.input = &row;
    for (uint32_t i = 0; i < b->count; i++) {
        row.index = i;
        int rc = sp_key_compute(&s->key, &row, &p->keybuf, p->ctx->error);
        if (rc) return rc;
        p->kc.key = p->keybuf.buf;
        p->kc.klen = p->keybuf.len;
        p->kc.key_group = sp_key_group(p->keybuf.buf, p->keybuf.len, maxp);
        p->kc.timestamp = spate_row_event_time(&row);
        rc = s->fn.process(p->state, &row, &p->kc, &p->out);
        if (rc) return user_error(p, rc, "keyed process function");
    }
    p->out.input = NULL;
    return sp_collector_flush(&p->out);
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
        int rc =
            p->spec->fn.on_timer ? p->spec->fn.on_timer(p->state, t.ts, domain, &p->kc, &p->out) : SPATE_OK;
        free(t.key);
        p->kc.key = NULL;
        p->out.default_time = SPATE_NO_TIMESTAMP;
        if (rc) return user_error(p, rc, "on_timer");
    }
    return sp_collector_flush(&p->out);
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
    return sp_collector_flush(&p->out);
}

static void kp_destroy(void *spec)
{
    free(spec);
}

static const sp_op_vtable_t kp_vt = { .kind = "keyed-process",
                                      .open = kp_open,
                                      .process_batch = kp_process_batch,
                                      .process_watermark = kp_process_watermark,
                                      .end_input = kp_end_input,
                                      .close = kp_close,
                                      .destroy_spec = kp_destroy,
                                      .on_timer = kp_on_timer };

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
    spec->key = k->s.inputs[0].key;
    spec->fn = *fn;
    return sp_api_add_operator(&k->s, name, "KeyedProcess", &kp_vt, spec, out_schema);
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

void spate_timer_register_event_time(spate_keyed_context_t *kc, int64_t ts)
{
    if (kc->key) sp_timers_register(&kc->op->event_timers, ts, kc->key_group, kc->key, kc->klen);
}

void spate_timer_delete_event_time(spate_keyed_context_t *kc, int64_t ts)
{
    if (kc->key) sp_timers_delete(&kc->op->event_timers, ts, kc->key, kc->klen);
}

void spate_timer_register_processing_time(spate_keyed_context_t *kc, int64_t ts)
{
    if (!kc->key) return;
    sp_timers_register(&kc->op->proc_timers, ts, kc->key_group, kc->key, kc->klen);
    if (ts < kc->op->ctx->timer_at) kc->op->ctx->timer_at = ts;
}

void spate_timer_delete_processing_time(spate_keyed_context_t *kc, int64_t ts)
{
    if (kc->key) sp_timers_delete(&kc->op->proc_timers, ts, kc->key, kc->klen);
}

/* ---- value state ---- */

spate_value_state_t *spate_keyed_value_state(spate_keyed_context_t *kc, const char *name)
{
    kp_op_t *p = kc->op;
    spate_value_state_t *st = sp_xcalloc(1, sizeof *st);
    st->id = sp_state_id(p->be, name ? name : "");
    st->next = p->states;
    p->states = st;
    return st;
}

int64_t spate_value_state_get(spate_keyed_context_t *kc, spate_value_state_t *st, void *buf, size_t cap)
{
    if (!kc->key || !st) return -1;
    size_t len;
    const uint8_t *v = sp_state_get(kc->op->be, st->id, kc->key_group, kc->key, kc->klen, NULL, 0, &len);
    if (!v) return -1;
    if (buf) memcpy(buf, v, len < cap ? len : cap);
    return (int64_t)len;
}

void spate_value_state_set(spate_keyed_context_t *kc, spate_value_state_t *st, const void *value, size_t len)
{
    if (kc->key && st)
        sp_state_put(kc->op->be, st->id, kc->key_group, kc->key, kc->klen, NULL, 0, value, len);
}

void spate_value_state_clear(spate_keyed_context_t *kc, spate_value_state_t *st)
{
    if (kc->key && st) sp_state_remove(kc->op->be, st->id, kc->key_group, kc->key, kc->klen, NULL, 0);
}
