/*
 * task.c — one task: the chain of operator instances of one subtask, run
 * from its thread's mailbox loop; operator outputs and partitioning writers.
 *
 * Loop (input tasks): poll every input channel round-robin, a few elements
 * each, skipping the channels the barrier handler blocks; batches go to the
 * chain head, watermarks are combined (minimum over channels that have not
 * ended) and passed on when they advance, END marks a channel finished.
 * When every channel has ended the chain sees the final watermark (MAX),
 * then end_input head to tail, then END goes out on every writer.  With
 * nothing to do the task sleeps on its notifier.
 *
 * Loop (source tasks): poll the source reader, flush its collector, sleep
 * on IDLE for the hinted time (a cancel wakes it), finish as above on END.
 *
 * Both loops first run the mails posted to the task (sp_task_post), so
 * other threads never touch operator state.  A checkpoint barrier is
 * injected at sources by a mail and travels in-band; an input task hands
 * barriers and ENDs to its barrier handler (barrier.h), which blocks the
 * channels that delivered the barrier being aligned (EXACTLY_ONCE: their
 * later data stays in the channel, unread) and says when the barrier is
 * aligned; it then passes the chain: process_barrier on each chained
 * operator in order, then a broadcast on every writer.  Unaligned
 * checkpoints pass the chain at the first barrier instead (SNAPSHOT), and
 * the batches read afterwards from channels not yet past the barrier are
 * kept as in-flight data (inflight.h) until the handler says it is whole;
 * barriers then go out with priority (ahead of the queued output) and an
 * arriving priority barrier is announced at once and delivered after the
 * elements it overtook (announce_barrier, overtaken_step).
 *
 * A blocked channel is simply not polled.  When only blocked channels hold
 * data the loop makes no progress and sleeps on the notifier as when all
 * are empty: a push into a blocked channel wakes it for one idle turn (at
 * most a channel's capacity of them: then the producer blocks on the full
 * ring, which is the intended back-pressure), and the barrier or END that
 * ends the alignment arrives on a channel that is read.
 */
#include "runtime/checkpointing.h"
#include "runtime/inflight.h"
#include "runtime/task.h"

#include <string.h>
#include <strings.h>

#define ELEMS_PER_TURN 4 /* elements taken from one channel before looking at the next */

static int fail_at(sp_task_t *t, const sp_node_t *node, int rc)
{
    if (rc != SPATE_OK && rc != SPATE_ECANCELED && !t->failed_node) t->failed_node = node;
    if (rc != SPATE_OK && rc != SPATE_ECANCELED && t->error.code == 0)
        sp_error_set(&t->error, rc, "%s", spate_strerror(rc));
    return rc;
}

/* ---- writers ---- */

/* Before each barrier-handler call: the savepoint in progress stays aligned (sp_job_t.aligned_only). */
static void barriers_sync(sp_task_t *t)
{
    t->barriers.aligned_only = atomic_load(&t->job->aligned_only);
}

static int push_elem(sp_writer_t *w, int target, sp_elem_t e)
{
    return sp_channel_push(w->ch[target], e);
}

static int push_batch_to(sp_writer_t *w, int target, sp_batch_t *b)
{
    sp_elem_t e = { SP_ELEM_BATCH, b, 0, 0 };
    return push_elem(w, target, e);
}

static int flush_scatter(sp_writer_t *w)
{
    int rc = SPATE_OK;
    for (int i = 0; i < w->nch; i++) {
        sp_batch_t *b = w->scatter[i];
        if (!b) continue;
        w->scatter[i] = NULL;
        if (rc == SPATE_OK)
            rc = push_batch_to(w, i, b);
        else
            sp_batch_release(b);
    }
    return rc;
}

static void writer_reserve(sp_writer_t *w, uint32_t n)
{
    if (n <= w->cap) return;
    w->cap = n > 2 * w->cap ? n : 2 * w->cap;
    w->target = sp_xrealloc(w->target, sizeof *w->target * w->cap);
    w->sel = sp_xrealloc(w->sel, sizeof *w->sel * w->cap);
    w->keys = sp_xrealloc(w->keys, 16 * (size_t)w->cap);
}

/* Hash and custom partitioning, first step: each row's target, in w->target.  A key of one BIGINT
 * or TIMESTAMP field is read from its column, and its bytes are hashed in a second pass (hashing
 * bytes just stored stalls on the store). */
static int writer_targets(sp_writer_t *w, sp_batch_t *b)
{
    sp_task_t *t = w->task;
    uint32_t n = b->count;
    writer_reserve(w, n);
    spate_row_t row = { b, 0 };
    if (w->kind == SP_PART_CUSTOM) {
        for (uint32_t r = 0; r < n; r++) {
            row.index = r;
            int target = w->custom_fn(w->custom_ctx, &row, w->nch);
            if (target < 0 || target >= w->nch)
                return sp_error_set(&t->error, SPATE_EUSER, "custom partitioner returned %d, outside 0..%d",
                                    target, w->nch - 1);
            w->target[r] = (uint32_t)target;
        }
        return SPATE_OK;
    }
    if (w->key_schema != b->schema) {
        w->key_schema = b->schema;
        w->key_field = sp_key_bigint_field(&w->key, b->schema);
    }
    int maxp = w->max_parallelism;
    if (!w->owner) { /* a division a row was a fifth of this function */
        w->owner = sp_xmalloc(sizeof *w->owner * (size_t)maxp);
        for (int kg = 0; kg < maxp; kg++) w->owner[kg] = (uint16_t)sp_key_group_owner(kg, w->nch, maxp);
    }
    if (w->key_field >= 0) {
        const spate_column_t *kc = &b->cols[w->key_field];
        const int64_t *kv = kc->values;
        const uint8_t *valid = kc->validity;
        const uint16_t *owner = w->owner;
        uint32_t *target = w->target; /* locals: the stores below would make w's fields reload */
        uint8_t *keys = w->keys;
        for (uint32_t r = 0; r < n; r++) {
            spate_key_t k = { keys + 16 * (size_t)r, 0, 16 };
            sp_key_put_bigint_field(&k, !sp_bit_get(valid, r), kv[r]);
            target[r] = (uint32_t)k.len; /* for the pass below */
        }
        for (uint32_t r = 0; r < n; r++) {
            target[r] = owner[sp_key_group_of_hash(sp_key_hash(keys + 16 * (size_t)r, target[r]), maxp)];
        }
        return SPATE_OK;
    }
    for (uint32_t r = 0; r < n; r++) {
        row.index = r;
        int rc = sp_key_compute(&w->key, &row, &w->keybuf, &t->error);
        if (rc) return rc;
        w->target[r] = w->owner[sp_key_group(w->keybuf.buf, w->keybuf.len, maxp)];
    }
    return SPATE_OK;
}

/* Second step: the rows of each target, in their order, appended to its batch being gathered
 * column by column; full batches go at once, the rest when the batch is done (flush_scatter). */
static int scatter(sp_writer_t *w, sp_batch_t *b)
{
    uint32_t n = b->count, *start = w->start, *sel = w->sel;
    const uint32_t *target = w->target; /* locals: the stores below would make w's fields reload */
    memset(start, 0, sizeof *start * ((size_t)w->nch + 1));
    for (uint32_t r = 0; r < n; r++) start[target[r] + 1]++;
    for (int i = 0; i < w->nch; i++) start[i + 1] += start[i];
    for (uint32_t r = 0; r < n; r++) sel[start[target[r]]++] = r; /* start[i]: now i's end */
    for (int i = 0, from = 0; i < w->nch; from = (int)start[i++]) {
        for (uint32_t k = (uint32_t)from; k < start[i];) {
            sp_batch_t *dst = w->scatter[i];
            if (!dst) dst = w->scatter[i] = sp_batch_create(b->schema, SP_BATCH_CAPACITY);
            uint32_t take = SP_MIN(start[i] - k, dst->capacity - dst->count);
            sp_batch_append_rows(dst, b, w->sel + k, take);
            k += take;
            if (dst->count == dst->capacity) {
                w->scatter[i] = NULL;
                int rc = push_batch_to(w, i, dst);
                if (rc) return rc;
            }
        }
    }
    return flush_scatter(w);
}

/* Sends batch b (borrowed) through the writer's partitioner. */
static int writer_push(sp_writer_t *w, sp_batch_t *b)
{
    switch (w->kind) {
    case SP_PART_FORWARD:
    case SP_PART_DEFAULT: return push_batch_to(w, 0, sp_batch_acquire(b));
    case SP_PART_REBALANCE:
    case SP_PART_RESCALE: return push_batch_to(w, (int)(w->rr++ % (uint32_t)w->nch), sp_batch_acquire(b));
    case SP_PART_BROADCAST:
        for (int i = 0; i < w->nch; i++) {
            int rc = push_batch_to(w, i, sp_batch_acquire(b));
            if (rc) return rc;
        }
        return SPATE_OK;
    case SP_PART_HASH:
        if (w->nch == 1) return push_batch_to(w, 0, sp_batch_acquire(b));
        /* fall through */
    case SP_PART_CUSTOM: {
        int rc = writer_targets(w, b);
        return rc ? rc : scatter(w, b);
    }
    }
    return SPATE_EINTERNAL;
}

static int writer_broadcast_event(sp_writer_t *w, sp_elem_kind_t kind, int64_t value)
{
    int rc = flush_scatter(w);
    /* unaligned checkpoints: the barrier overtakes the batches queued in the channels (the consumer
     * learns how many, and records them as in-flight data) */
    bool priority = kind == SP_ELEM_BARRIER && w->task->priority_barriers &&
                    value != atomic_load(&w->task->job->aligned_only); /* savepoints align */
    for (int i = 0; rc == SPATE_OK && i < w->nch; i++) {
        sp_elem_t e = { kind, NULL, value, 0 };
        rc = priority ? sp_channel_push_priority(w->ch[i], e) : push_elem(w, i, e);
    }
    return rc;
}

/* ---- outputs ---- */

/* Sends b (a reference, taken over) to the consumers of output `tag`. */
static int push_tagged(sp_output_t *out, int tag, sp_batch_t *b)
{
    int rc = SPATE_OK;
    if (b->count == 0) {
        sp_batch_release(b);
        return SPATE_OK;
    }
    for (int i = 0; rc == SPATE_OK && i < out->nchained; i++) {
        if (out->chained_tag[i] != tag) continue;
        sp_opinst_t *op = out->chained[i];
        rc = fail_at(out->task, op->node, op->vt->process_batch(op->inst, out->chained_input[i], b));
    }
    for (int i = 0; rc == SPATE_OK && i < out->nwriters; i++)
        if (out->writer_tag[i] == tag) rc = writer_push(out->writers[i], b);
    sp_batch_release(b);
    return rc;
}

int sp_output_push_batch(sp_output_t *out, sp_batch_t *b)
{
    return push_tagged(out, 0, b);
}

int sp_output_push_side(sp_output_t *out, int tag, sp_batch_t *b)
{
    return push_tagged(out, tag, b);
}

static int side_sink_fn(void *target, sp_batch_t *b)
{
    struct sp_side_sink *s = target;
    return sp_output_push_side(s->out, s->tag, b);
}

spate_collector_t *sp_side_output(sp_side_outputs_t *s, sp_op_ctx_t *ctx, int tag)
{
    if (tag < 1 || tag > SP_MAX_SIDE_OUTPUTS || !ctx->side_schema || !ctx->side_schema[tag]) {
        sp_error_set(ctx->error, SPATE_EINVAL,
                     "side output %d of '%s' has no schema: declare it with spate_stream_side_output", tag,
                     ctx->info.operator_name);
        return NULL;
    }
    if (!s->c[tag]) {
        s->c[tag] = sp_xmalloc(sizeof *s->c[tag]);
        s->sink[tag].out = ctx->out;
        s->sink[tag].tag = tag;
        sp_collector_init(s->c[tag], ctx->side_schema[tag], SP_BATCH_CAPACITY, side_sink_fn, &s->sink[tag],
                          ctx->error);
    }
    s->c[tag]->input = s->input;
    return s->c[tag];
}

int sp_side_outputs_flush(sp_side_outputs_t *s)
{
    for (int t = 1; t <= SP_MAX_SIDE_OUTPUTS; t++)
        if (s->c[t]) {
            int rc = sp_collector_flush(s->c[t]);
            if (rc) return rc;
        }
    return SPATE_OK;
}

void sp_side_outputs_fini(sp_side_outputs_t *s)
{
    for (int t = 1; t <= SP_MAX_SIDE_OUTPUTS; t++)
        if (s->c[t]) {
            sp_collector_fini(s->c[t]);
            free(s->c[t]);
            s->c[t] = NULL;
        }
}

int sp_output_sink_fn(void *out, sp_batch_t *batch)
{
    return sp_output_push_batch(out, batch);
}

static int op_watermark(sp_opinst_t *op, int64_t wm)
{
    if (op->vt && op->vt->process_watermark)
        return fail_at(op->out.task, op->node, op->vt->process_watermark(op->inst, wm));
    return sp_output_push_watermark(&op->out, wm);
}

static int op_status(sp_opinst_t *op, bool idle)
{
    if (op->vt && op->vt->process_status)
        return fail_at(op->out.task, op->node, op->vt->process_status(op->inst, idle));
    return sp_output_push_status(&op->out, idle);
}

int sp_output_push_status(sp_output_t *out, bool idle)
{
    int rc = SPATE_OK;
    if (out->task->finishing) return SPATE_OK;
    for (int i = 0; rc == SPATE_OK && i < out->nchained; i++) rc = op_status(out->chained[i], idle);
    for (int i = 0; rc == SPATE_OK && i < out->nwriters; i++)
        rc = writer_broadcast_event(out->writers[i], SP_ELEM_STATUS, idle ? 1 : 0);
    return rc;
}

int64_t sp_op_ctx_now(const sp_op_ctx_t *ctx)
{
    return sp_clock_now(ctx->clock);
}

/* ---- processing-time timers of the chain's operators ---- */

static int64_t next_timer(const sp_task_t *t)
{
    int64_t at = INT64_MAX;
    for (int i = 0; i < t->nops; i++)
        if (t->ops[i].ctx.timer_at < at) at = t->ops[i].ctx.timer_at;
    return at;
}

/* Runs the timers that are due; returns the next deadline (INT64_MAX: none) in *next. */
static int fire_timers(sp_task_t *t, int64_t *next)
{
    *next = next_timer(t);
    if (*next == INT64_MAX) return SPATE_OK;
    const spate_clock_t *clock = t->ops[0].ctx.clock;
    int64_t now = sp_clock_now(clock);
    if (now < *next) return SPATE_OK;
    for (int i = 0; i < t->nops; i++) {
        sp_opinst_t *op = &t->ops[i];
        if (op->ctx.timer_at > now || !op->vt || !op->vt->on_timer) continue;
        op->ctx.timer_at = INT64_MAX;
        int rc = fail_at(t, op->node, op->vt->on_timer(op->inst, now));
        if (rc) return rc;
    }
    *next = next_timer(t);
    return SPATE_OK;
}

/* How long a task with nothing to do may sleep: until `limit_ms` from now or the next timer.
 * A manual clock moves without waking anyone: then timers are looked at every few ms. */
static int64_t sleep_ms(const sp_task_t *t, int64_t next, int64_t limit_ms)
{
    if (next == INT64_MAX) return limit_ms;
    const spate_clock_t *clock = t->ops[0].ctx.clock;
    if (clock) return limit_ms >= 0 && limit_ms < 5 ? limit_ms : 5;
    int64_t until = next - sp_clock_wall_ms();
    if (until < 0) until = 0;
    return limit_ms < 0 || until < limit_ms ? until : limit_ms;
}

int sp_output_push_watermark(sp_output_t *out, int64_t wm)
{
    int rc = SPATE_OK;
    if (out->task->finishing) return SPATE_OK; /* chain_finish passes the final watermark on itself */
    for (int i = 0; rc == SPATE_OK && i < out->nchained; i++) rc = op_watermark(out->chained[i], wm);
    for (int i = 0; rc == SPATE_OK && i < out->nwriters; i++)
        rc = writer_broadcast_event(out->writers[i], SP_ELEM_WATERMARK, wm);
    return rc;
}

/* ---- the chain ---- */

/* ---- mailbox ---- */

void sp_mailbox_init(sp_mailbox_t *m)
{
    pthread_mutex_init(&m->mu, NULL);
    m->head = m->tail = NULL;
}

void sp_mailbox_fini(sp_mailbox_t *m)
{
    for (sp_mail_t *x = m->head; x;) {
        sp_mail_t *next = x->next;
        free(x);
        x = next;
    }
    m->head = m->tail = NULL;
    pthread_mutex_destroy(&m->mu);
}

void sp_task_post(sp_task_t *t, void (*fn)(sp_task_t *t, int64_t arg), int64_t arg)
{
    sp_mail_t *m = sp_xmalloc(sizeof *m);
    m->fn = fn;
    m->arg = arg;
    m->next = NULL;
    pthread_mutex_lock(&t->mailbox.mu);
    if (t->mailbox.tail)
        t->mailbox.tail->next = m;
    else
        t->mailbox.head = m;
    t->mailbox.tail = m;
    pthread_mutex_unlock(&t->mailbox.mu);
    sp_notifier_notify(&t->notifier);
}

/* Runs the queued mails; returns the first failure of their work. */
static int run_mails(sp_task_t *t)
{
    for (;;) {
        pthread_mutex_lock(&t->mailbox.mu);
        sp_mail_t *m = t->mailbox.head;
        if (m) {
            t->mailbox.head = m->next;
            if (!t->mailbox.head) t->mailbox.tail = NULL;
        }
        pthread_mutex_unlock(&t->mailbox.mu);
        if (!m) return t->mail_rc;
        m->fn(t, m->arg);
        free(m);
        if (t->mail_rc) return t->mail_rc;
    }
}

/* ---- barriers ---- */

/* The barrier passes the chain: each operator in order, then out on its writers.  Unaligned (f not NULL):
 * the head operator's snapshot is held in f until its in-flight data is whole. */
static int chain_barrier(sp_task_t *t, int64_t id, sp_inflight_t *f)
{
    int rc = SPATE_OK;
    for (int i = 0; rc == SPATE_OK && i < t->nops; i++) {
        sp_opinst_t *op = &t->ops[i];
        if (op->vt && op->vt->process_barrier)
            rc = fail_at(t, op->node, op->vt->process_barrier(op->inst, id));
        if (rc == SPATE_OK && f && i == 0)
            rc = sp_task_ckpt_hold(t, op, id, f);
        else if (rc == SPATE_OK)
            rc = sp_task_ckpt_snapshot(t, op, id); /* acknowledged to the coordinator */
        for (int k = 0; rc == SPATE_OK && k < op->out.nwriters; k++)
            rc = writer_broadcast_event(op->out.writers[k], SP_ELEM_BARRIER, id);
    }
    return rc;
}

void sp_task_mail_barrier(sp_task_t *t, int64_t id)
{
    if (!t->reader || t->mail_rc || t->src_state != SP_SRC_RUNNING)
        return; /* not running (yet or any more) */
    int rc = sp_collector_flush(&t->src_out);
    if (rc == SPATE_OK) rc = chain_barrier(t, id, NULL);
    t->mail_rc = fail_at(t, t->ops[0].node, rc);
}

static int chain_drain(sp_task_t *t);

void sp_task_mail_stop_barrier(sp_task_t *t, int64_t id)
{
    if (!t->reader || t->mail_rc || t->src_state != SP_SRC_RUNNING) return;
    bool drain = atomic_load(&t->job->draining);
    int rc = sp_collector_flush(&t->src_out);
    if (rc == SPATE_OK && drain) rc = chain_drain(t);
    if (rc == SPATE_OK) rc = chain_barrier(t, id, NULL);
    t->mail_rc = fail_at(t, t->ops[0].node, rc);
    t->src_state = drain ? SP_SRC_ENDED : SP_SRC_SUSPENDED;
}

/* The in-flight record of unaligned checkpoint id, taken out of the task's list (NULL: none). */
static sp_inflight_t *take_inflight(sp_task_t *t, int64_t id)
{
    for (sp_inflight_t **p = &t->inflight; *p; p = &(*p)->next)
        if ((*p)->id == id) {
            sp_inflight_t *f = *p;
            *p = f->next;
            f->next = NULL;
            return f;
        }
    return NULL;
}

/* Unaligned checkpoint id: the snapshot now, and a record for the in-flight data that follows. */
static int begin_unaligned(sp_task_t *t, int64_t id)
{
    sp_inflight_t *f = sp_inflight_create(id), **p = &t->inflight;
    while (*p) p = &(*p)->next;
    *p = f;
    return chain_barrier(t, id, f);
}

/* Batch b read from channel c is in-flight data of every unaligned checkpoint whose barrier c has not
 * delivered yet. */
static void record_inflight(sp_task_t *t, int c, sp_batch_t *b)
{
    for (int i = 0; i < sp_barrier_pending_count(&t->barriers); i++) {
        if (!sp_barrier_records(&t->barriers, i, c)) continue;
        for (sp_inflight_t *f = t->inflight; f; f = f->next)
            if (f->id == t->barriers.pending[i].id) sp_inflight_add(f, c, t->inputs[c].input, b);
    }
}

/* Carries out what the barrier handler decided after an event: a checkpoint aligned on every input
 * channel passes the chain; an unaligned one passes it at once (SNAPSHOT) and is acknowledged with its
 * in-flight data when that is whole (COMPLETE).  An aborted one needs nothing but dropping its in-flight
 * data (the coordinator will hear of it when tasks acknowledge checkpoints).  Every action is taken, also
 * after a failure. */
static int barrier_actions(sp_task_t *t)
{
    int rc = SPATE_OK;
    sp_barrier_action_t a;
    while (sp_barrier_next(&t->barriers, &a)) {
        if (a.kind == SP_BARRIER_SNAPSHOT) {
            if (rc == SPATE_OK) rc = begin_unaligned(t, a.checkpoint_id);
        } else if (a.unaligned) {
            sp_inflight_t *f = take_inflight(t, a.checkpoint_id);
            if (f && rc == SPATE_OK && a.kind == SP_BARRIER_COMPLETE) sp_task_ckpt_ack_in_flight(t, f);
            sp_inflight_free(f);
        } else if (rc == SPATE_OK && a.kind == SP_BARRIER_COMPLETE) {
            rc = chain_barrier(t, a.checkpoint_id, NULL);
        }
    }
    return rc;
}

/* An alignment that lasted the aligned-checkpoint timeout goes unaligned; returns the next deadline. */
static int barrier_timeout(sp_task_t *t, int64_t *deadline_ns)
{
    *deadline_ns = INT64_MAX;
    if (!t->barriers_init) return SPATE_OK;
    *deadline_ns = sp_barrier_deadline(&t->barriers);
    if (*deadline_ns == INT64_MAX) return SPATE_OK;
    int64_t now = sp_clock_mono_ns();
    if (now < *deadline_ns) return SPATE_OK;
    barriers_sync(t);
    sp_barrier_on_time(&t->barriers, now);
    int rc = barrier_actions(t);
    *deadline_ns = sp_barrier_deadline(&t->barriers);
    return rc;
}

void sp_task_mail_abort_checkpoint(sp_task_t *t, int64_t id)
{
    if (!t->barriers_init || t->mail_rc) return;
    sp_barrier_on_cancel(&t->barriers, id, sp_clock_mono_ns());
    t->mail_rc = barrier_actions(t);
}

/* Input tasks: the barrier handler over the input channels, in the job's checkpointing mode. */
static void barriers_open(sp_task_t *t)
{
    if (t->source || t->ninputs == 0) return;
    const sp_config_t *config = t->ops[0].ctx.config;
    sp_barrier_mode_t mode = SP_BARRIER_EXACTLY_ONCE;
    if (config) sp_barrier_parse_mode(sp_config_get(config, "execution.checkpointing.mode"), &mode);
    sp_barrier_init(&t->barriers, t->ninputs, mode);
    t->barriers_init = true;
    if (config && !strcasecmp(sp_config_get(config, "execution.checkpointing.unaligned.enabled"), "true"))
        sp_barrier_set_unaligned(
            &t->barriers, true,
            sp_config_get_duration_ms(config, "execution.checkpointing.aligned-checkpoint-timeout") *
                1000000);
}

/* Every task: barriers go out with priority when checkpoints are unaligned from their first barrier
 * (EXACTLY_ONCE, unaligned, no aligned-checkpoint timeout), as every task of the job then is. */
static void priority_open(sp_task_t *t)
{
    const sp_config_t *config = t->ops[0].ctx.config;
    sp_barrier_mode_t mode = SP_BARRIER_EXACTLY_ONCE;
    if (!config) return;
    sp_barrier_parse_mode(sp_config_get(config, "execution.checkpointing.mode"), &mode);
    t->priority_barriers =
        mode == SP_BARRIER_EXACTLY_ONCE &&
        !strcasecmp(sp_config_get(config, "execution.checkpointing.unaligned.enabled"), "true") &&
        sp_config_get_duration_ms(config, "execution.checkpointing.aligned-checkpoint-timeout") == 0;
}

static void barriers_close(sp_task_t *t)
{
    for (int i = 0; i < t->ninputs; i++) {
        free(t->inputs[i].ov);
        t->inputs[i].ov = NULL;
        t->inputs[i].nov = t->inputs[i].capov = 0;
    }
    while (t->inflight) sp_inflight_free(take_inflight(t, t->inflight->id));
    if (t->barriers_init) sp_barrier_fini(&t->barriers);
    t->barriers_init = false;
}

static int chain_open(sp_task_t *t)
{
    /* Tail first, as Flink does, so every operator's downstream is ready before it emits. */
    for (int i = t->nops - 1; i >= 0; i--) {
        sp_opinst_t *op = &t->ops[i];
        if (!op->vt) continue;
        int rc = op->vt->open ? op->vt->open(op->node->spec, &op->ctx, &op->inst) : SPATE_OK;
        if (rc) return fail_at(t, op->node, rc);
        op->opened = true;
    }
    if (t->source) {
        sp_opinst_t *head = &t->ops[0];
        sp_collector_init(&t->src_out, t->source->schema, SP_BATCH_CAPACITY, sp_output_sink_fn, &head->out,
                          &t->error);
        t->src_out_init = true;
        t->sctx.info = head->ctx.info;
        t->sctx.out = &t->src_out;
        t->sctx.error = &t->error;
        int rc = t->source->vt->open(t->source->spec, &t->sctx, &t->reader);
        if (rc) return fail_at(t, head->node, rc);
    }
    return SPATE_OK;
}

static void chain_close(sp_task_t *t)
{
    if (t->reader) {
        if (t->source->vt->skipped) sp_job_add_skipped(t->job, t->source->vt->skipped(t->reader));
        t->source->vt->close(t->reader);
        t->reader = NULL;
    }
    if (t->src_out_init) sp_collector_fini(&t->src_out);
    t->src_out_init = false;
    for (int i = 0; i < t->nops; i++) {
        sp_opinst_t *op = &t->ops[i];
        if (op->opened && op->vt->close) op->vt->close(op->inst);
        op->opened = false;
    }
    for (int i = 0; i < t->nops; i++)
        for (int k = 0; k < t->ops[i].out.nwriters; k++) {
            sp_writer_t *w = t->ops[i].out.writers[k];
            for (int j = 0; j < w->nch; j++)
                if (w->scatter[j]) {
                    sp_batch_release(w->scatter[j]);
                    w->scatter[j] = NULL;
                }
        }
}

/*
 * End of input, operator by operator from head to tail: the final watermark
 * (MAX: every event-time window fires), then end_input (a BATCH reduce emits
 * here), then MAX on the operator's writers.  Watermarks the operators
 * forward meanwhile are held back (t->finishing), so an operator downstream
 * in the chain sees the rows its upstream emits at end of input before its
 * own final watermark: nothing emitted at the end is late.  Then END on
 * every writer.
 */
static int chain_finish(sp_task_t *t)
{
    int rc = SPATE_OK;
    t->finishing = true;
    t->watermark = SP_WATERMARK_MAX;
    for (int i = 0; rc == SPATE_OK && i < t->nops; i++) {
        sp_opinst_t *op = &t->ops[i];
        if (op->vt && op->vt->process_watermark && !t->drained)
            rc = fail_at(t, op->node, op->vt->process_watermark(op->inst, SP_WATERMARK_MAX));
        if (rc == SPATE_OK && op->vt && op->vt->end_input)
            rc = fail_at(t, op->node, op->vt->end_input(op->inst));
        for (int k = 0; rc == SPATE_OK && k < op->out.nwriters; k++)
            rc = writer_broadcast_event(op->out.writers[k], SP_ELEM_WATERMARK, SP_WATERMARK_MAX);
    }
    for (int i = 0; rc == SPATE_OK && i < t->nops; i++)
        for (int k = 0; rc == SPATE_OK && k < t->ops[i].out.nwriters; k++)
            rc = writer_broadcast_event(t->ops[i].out.writers[k], SP_ELEM_END, 0);
    return rc;
}

/*
 * Stop-with-savepoint --drain: the maximum watermark goes through the chain
 * and out ahead of the savepoint barrier (event-time timers fire, windows
 * emit), as chain_finish delivers it, but without ending the input: that
 * follows the barrier.  An input task drains once every open input
 * delivered the maximum watermark.
 */
static int chain_drain(sp_task_t *t)
{
    int rc = SPATE_OK;
    t->finishing = true;
    t->drained = true;
    t->watermark = SP_WATERMARK_MAX;
    for (int i = 0; rc == SPATE_OK && i < t->nops; i++) {
        sp_opinst_t *op = &t->ops[i];
        if (op->vt && op->vt->process_watermark)
            rc = fail_at(t, op->node, op->vt->process_watermark(op->inst, SP_WATERMARK_MAX));
        for (int k = 0; rc == SPATE_OK && k < op->out.nwriters; k++)
            rc = writer_broadcast_event(op->out.writers[k], SP_ELEM_WATERMARK, SP_WATERMARK_MAX);
    }
    return rc;
}

static int run_source(sp_task_t *t)
{
    atomic_bool *stop = sp_job_stop_flag(t->job);
    const sp_node_t *node = t->ops[0].node;
    /* A reader that owns no split (restored at a higher parallelism) never emits: idle, so that
     * it holds back no watermark downstream (connector.h, vt->idle). */
    if (t->source->vt->idle && t->reader && t->source->vt->idle(t->reader)) {
        int rc = op_status(&t->ops[0], true);
        if (rc) return rc;
    }
    while (!atomic_load(stop)) {
        uint64_t seq = sp_notifier_seq(&t->notifier); /* before the mails: one posted later wakes the wait */
        int rc = run_mails(t);
        if (rc) return rc;
        if (t->src_state == SP_SRC_ENDED) return chain_finish(t);
        if (t->src_state == SP_SRC_SUSPENDED) { /* until the savepoint completed and the job stops */
            sp_notifier_wait(&t->notifier, seq, stop, 100);
            continue;
        }
        int64_t wait_ms = 0;
        int flow = t->source->vt->poll(t->reader, &t->sctx, &wait_ms);
        if (flow < 0) return fail_at(t, node, flow);
        rc = sp_collector_flush(&t->src_out);
        if (rc) return fail_at(t, node, rc);
        if (flow == SP_FLOW_END) return chain_finish(t);
        int64_t next;
        if ((rc = fire_timers(t, &next)) != SPATE_OK) return rc;
        if (flow == SP_FLOW_IDLE)
            sp_notifier_wait(&t->notifier, seq, stop, sleep_ms(t, next, wait_ms > 0 ? wait_ms : 10));
    }
    return SPATE_ECANCELED;
}

/*
 * The task's watermark: the minimum over the channels that count (not ended,
 * not idle, and caught up: a channel that comes back from idleness counts
 * again only once its watermark reaches the task's, as Flink's
 * StatusWatermarkValve does, so it never pulls the watermark back).  When
 * every open channel is idle the chain is told (status idle) and the
 * watermark stays; when one becomes active again, the chain hears that too.
 */
static int update_watermark(sp_task_t *t)
{
    if (t->nended == t->ninputs || t->drained) return SPATE_OK; /* chain_finish delivers the final MAX */
    if (atomic_load(&t->job->draining)) {
        bool all_max = true;
        for (int i = 0; i < t->ninputs; i++)
            all_max &= t->inputs[i].ended || t->inputs[i].watermark == SP_WATERMARK_MAX;
        if (all_max) return chain_drain(t);
    }
    int64_t wm = SP_WATERMARK_MAX;
    bool active = false, counted = false;
    for (int i = 0; i < t->ninputs; i++) {
        sp_input_t *in = &t->inputs[i];
        if (in->ended || in->idle) continue;
        active = true;
        if (!in->aligned) {
            if (in->watermark < t->watermark) continue;
            in->aligned = true;
        }
        counted = true;
        if (in->watermark < wm) wm = in->watermark;
    }
    int rc = SPATE_OK;
    if (active == t->idle) { /* status changed */
        t->idle = !active;
        rc = op_status(&t->ops[0], t->idle);
        if (rc) return rc;
    }
    /* MAX means the inputs are done: chain_finish delivers it, in order with end_input, when END arrives */
    if (!counted || wm <= t->watermark || wm == SP_WATERMARK_MAX) return SPATE_OK;
    t->watermark = wm;
    return op_watermark(&t->ops[0], wm);
}

/* A priority barrier arrived on channel c, ahead of e->behind elements that came before it: the handler
 * hears of it now (unaligned: the snapshot), and it is delivered after them (overtaken_step). */
static int announce_barrier(sp_task_t *t, int c, const sp_elem_t *e)
{
    sp_input_t *in = &t->inputs[c];
    if (in->nov == in->capov) {
        in->capov = in->capov ? 2 * in->capov : 4;
        in->ov = sp_xrealloc(in->ov, sizeof *in->ov * (size_t)in->capov);
    }
    in->ov[in->nov++] = (struct sp_overtaken){ e->value, e->behind };
    barriers_sync(t);
    sp_barrier_on_announce(&t->barriers, c, e->value, sp_clock_mono_ns());
    return barrier_actions(t);
}

/* An element that a priority barrier overtook was read from channel c: barriers whose place has come are
 * delivered. */
static int overtaken_step(sp_task_t *t, int c)
{
    sp_input_t *in = &t->inputs[c];
    int rc = SPATE_OK, keep = 0;
    for (int i = 0; i < in->nov; i++) {
        if (--in->ov[i].left > 0) {
            in->ov[keep++] = in->ov[i];
            continue;
        }
        barriers_sync(t);
        sp_barrier_on_barrier(&t->barriers, c, in->ov[i].id, sp_clock_mono_ns());
        int r = barrier_actions(t);
        if (rc == SPATE_OK) rc = r;
    }
    in->nov = keep;
    return rc;
}

static int handle_elem(sp_task_t *t, int c, sp_elem_t *e);

static int handle(sp_task_t *t, int c, sp_elem_t *e)
{
    if (e->kind == SP_ELEM_BARRIER && e->behind > 0) return announce_barrier(t, c, e);
    int rc = handle_elem(t, c, e);
    if (rc == SPATE_OK && t->inputs[c].nov > 0) rc = overtaken_step(t, c);
    return rc;
}

static int handle_elem(sp_task_t *t, int c, sp_elem_t *e)
{
    sp_opinst_t *head = &t->ops[0];
    sp_input_t *in = &t->inputs[c];
    int rc = SPATE_OK;
    switch (e->kind) {
    case SP_ELEM_BATCH:
        sp_barrier_count(&t->barriers, e->batch->count, e->batch->bytes);
        if (t->inflight) record_inflight(t, c, e->batch);
        rc = fail_at(t, head->node, head->vt->process_batch(head->inst, in->input, e->batch));
        sp_batch_release(e->batch);
        return rc;
    case SP_ELEM_WATERMARK:
        if (e->value > in->watermark) in->watermark = e->value;
        return update_watermark(t);
    case SP_ELEM_STATUS:
        in->idle = e->value != 0;
        in->aligned = !in->idle && in->watermark >= t->watermark;
        return update_watermark(t);
    case SP_ELEM_BARRIER:
        barriers_sync(t);
        sp_barrier_on_barrier(&t->barriers, c, e->value, sp_clock_mono_ns());
        return barrier_actions(t);
    case SP_ELEM_END:
        in->ended = true;
        t->nended++;
        /* an ended channel counts as aligned: it may complete a checkpoint, which then goes down
         * before the finish sequence */
        sp_barrier_on_end(&t->barriers, c, sp_clock_mono_ns());
        rc = barrier_actions(t);
        if (rc) return rc;
        if (t->nended == t->ninputs) return chain_finish(t);
        return update_watermark(t);
    }
    return SPATE_EINTERNAL;
}

static int run_inputs(sp_task_t *t)
{
    atomic_bool *stop = sp_job_stop_flag(t->job);
    int start = 0;
    while (!atomic_load(stop)) {
        uint64_t seq = sp_notifier_seq(&t->notifier);
        int rc = run_mails(t);
        if (rc) return rc;
        int64_t next, deadline_ns;
        if ((rc = fire_timers(t, &next)) != SPATE_OK) return rc;
        if ((rc = barrier_timeout(t, &deadline_ns)) != SPATE_OK) return rc;
        bool progress = false;
        for (int k = 0; k < t->ninputs; k++) {
            int c = (start + k) % t->ninputs;
            sp_input_t *in = &t->inputs[c];
            sp_elem_t e;
            /* a blocked channel is not read: a barrier taken here may block it mid-turn */
            for (int n = 0; n < ELEMS_PER_TURN && !in->ended && !sp_barrier_blocked(&t->barriers, c) &&
                            sp_channel_pop(in->ch, &e);
                 n++) {
                progress = true;
                rc = handle(t, c, &e);
                if (rc == SPATE_OK && t->barriers.aligned_timeout_ns > 0 && t->barriers.npending > 0)
                    rc = barrier_timeout(t, &deadline_ns); /* an alignment may time out mid-turn */
                if (rc) return rc;
                if (t->nended == t->ninputs) return SPATE_OK;
            }
        }
        start = (start + 1) % (t->ninputs ? t->ninputs : 1);
        if (!progress) {
            int64_t limit = -1; /* an alignment that may time out: wake for its deadline */
            if (deadline_ns != INT64_MAX) {
                limit = (deadline_ns - sp_clock_mono_ns()) / 1000000 + 1;
                if (limit < 0) limit = 0;
            }
            sp_notifier_wait(&t->notifier, seq, stop, sleep_ms(t, next, limit));
        }
    }
    return SPATE_ECANCELED;
}

/* An operator deferred its last commit to the job's final checkpoint (a sink at end of input):
 * the task stays, serving mails, until that checkpoint completed or the job stops. */
static int wait_final_checkpoint(sp_task_t *t)
{
    bool waits = false;
    for (int i = 0; i < t->nops; i++) waits |= t->ops[i].ctx.final_commit_pending;
    atomic_bool *stop = sp_job_stop_flag(t->job);
    while (waits && !t->final_done) {
        uint64_t seq = sp_notifier_seq(&t->notifier);
        int rc = run_mails(t);
        if (rc) return rc;
        if (t->final_done) break;
        if (atomic_load(stop)) return SPATE_ECANCELED;
        sp_notifier_wait(&t->notifier, seq, stop, 100);
    }
    return SPATE_OK;
}

void *sp_task_main(void *arg)
{
    sp_task_t *t = arg;
    sp_batch_cache_t cache; /* batches recycled on this thread stay in this core's caches */
    sp_batch_cache_begin(&cache);
    barriers_open(t);
    priority_open(t);
    int rc = chain_open(t);
    if (rc == SPATE_OK) rc = sp_task_ckpt_restore(t);
    bool run = !t->job->dry_restore; /* sp_job_dry_restore: open and restore, nothing more */
    if (rc == SPATE_OK && run) rc = sp_task_ckpt_replay_in_flight(t); /* before any new data */
    if (rc == SPATE_OK && run) rc = t->source ? run_source(t) : run_inputs(t);
    if (rc == SPATE_OK && run)
        sp_task_ckpt_finished(t); /* its final state stands for it in later checkpoints */
    if (rc == SPATE_OK && run) rc = wait_final_checkpoint(t);
    chain_close(t);
    barriers_close(t);
    sp_batch_cache_end(&cache);
    sp_job_task_done(t->job, t, rc);
    return NULL;
}
