/*
 * window.c — the window operator on keyed streams (Flink's WindowOperator and
 * EvictingWindowOperator in one): assigners, triggers, evictors, reduce /
 * aggregate / process window functions, allowed lateness, late data to side
 * output 1.  Semantics in include/spate/window.h.
 *
 * State (in the state backend, namespace = the window as 16 bytes):
 *   "acc"      per key and window, the window's contents: for an aggregate function without
 *              evictor [accumulator][the window's first row, row-encoded]; otherwise its rows as
 *              ([u32 length][i64 event time][row-encoded row])... (a reduce without evictor
 *              keeps one: the accumulated row)
 *   "sessions" per key (no namespace): the key's open session windows, (start, end) pairs
 *   "trigger"  per key, namespace [window][name]: the trigger's state
 * Timers per key and window (the window appended to the key), in either time
 * domain; the trigger's and the cleanup timer (end - 1 + allowed lateness, in
 * the assigner's domain) share them, so a timer at the same time fires once.
 */
#include "api/api.h"

#include <string.h>

#include "state/backend.h"
#include "state/timers.h"
#include "types/encoding.h"

#define LATE_TAG     1
#define TRIGGER_NAME 64 /* significant bytes of a trigger state's name */

struct spate_windowed {
    spate_keyed_t *keyed;
    spate_keyed_t *right; /* window join: the second input */
    spate_window_assigner_t assigner;
    int64_t lateness;
    spate_trigger_t trigger;
    spate_evictor_t evictor;
    bool has_trigger, has_evictor;
};
spate_window_assigner_t spate_tumbling_windows(int64_t size_ms, int64_t offset_ms)
{
    spate_window_assigner_t a = { SPATE_WINDOW_TUMBLING, size_ms, size_ms, offset_ms, 0, false };
    return a;
}

spate_window_assigner_t spate_sliding_windows(int64_t size_ms, int64_t slide_ms, int64_t offset_ms)
{
    spate_window_assigner_t a = { SPATE_WINDOW_SLIDING, size_ms, slide_ms, offset_ms, 0, false };
    return a;
}

spate_window_assigner_t spate_count_windows(int64_t size, int64_t slide)
{
    spate_window_assigner_t a = { SPATE_WINDOW_COUNT, size, slide > 0 ? slide : size, 0, 0, false };
    return a;
}

spate_window_assigner_t spate_session_windows(int64_t gap_ms)
{
    spate_window_assigner_t a = { SPATE_WINDOW_SESSION, 0, 0, 0, gap_ms, false };
    return a;
}

spate_window_assigner_t spate_tumbling_processing_time_windows(int64_t size_ms, int64_t offset_ms)
{
    spate_window_assigner_t a = spate_tumbling_windows(size_ms, offset_ms);
    a.processing_time = true;
    return a;
}

spate_window_assigner_t spate_sliding_processing_time_windows(int64_t size_ms, int64_t slide_ms,
                                                              int64_t offset_ms)
{
    spate_window_assigner_t a = spate_sliding_windows(size_ms, slide_ms, offset_ms);
    a.processing_time = true;
    return a;
}

spate_window_assigner_t spate_processing_time_session_windows(int64_t gap_ms)
{
    spate_window_assigner_t a = spate_session_windows(gap_ms);
    a.processing_time = true;
    return a;
}

spate_window_assigner_t spate_global_windows(void)
{
    spate_window_assigner_t a = { SPATE_WINDOW_GLOBAL, 0, 0, 0, 0, false };
    return a;
}

static const spate_window_t global_window = { INT64_MIN, INT64_MAX };

typedef struct win_spec {
    sp_key_selector_t key;
    spate_window_assigner_t assigner;
    int64_t lateness;
    spate_trigger_t trigger;
    spate_evictor_t evictor;
    bool has_evictor;
    bool rows;         /* contents are rows (process or reduce function, or an evictor) */
    bool fast_et;      /* the default event-time trigger: a row for an existing window needs no call */
    bool unique_timer; /* fast_et, tumbling or sliding, no lateness: one timer per window, never deleted */
    spate_aggregate_function_t fn;
    uint8_t *keep; /* fn.key_only: the key fields, a bitmap (the fields of the first row kept) */
    spate_window_process_fn process;
    void *process_ctx;
    spate_reduce_fn reduce;
    void *reduce_ctx;
    spate_join_fn join; /* window join: input 1 keyed by key2 */
    void *join_ctx;
    sp_key_selector_t key2;
} win_spec_t;

struct spate_trigger_context {
    struct win_op *w;
    const spate_window_t *win;
};

/* Tumbling and sliding event-time windows with an aggregate function look rows up a few rows ahead:
 * key, key group, window and the state's location are computed AHEAD rows before the row is added,
 * so the state's memory is on its way into the cache by then (hash-map lookups are cache-miss
 * bound). */
#define AHEAD 8
#define RING  16 /* > AHEAD */
/* sliding windows a row is in, at most, for the rows to be grouped (process_grouped); with a slide
 * longer than the size, rows between windows are in none: those go row by row */
#define GROUP_SLIDES 16

typedef struct ahead {
    spate_key_t key;
    int key_group;
    bool late;
    spate_window_t win;
    uint64_t ns_hash; /* of the window's namespace */
    uint64_t where;
} ahead_t;

/* A (key, window) whose accumulator process_grouped knows. */
typedef struct group {
    int64_t key;   /* a BIGINT key column's value (0 when NULL), else the key bytes' hash */
    int64_t start; /* the window's */
    uint32_t koff; /* a key of bytes: at gkeys + koff */
    uint32_t klen; /* a key of bytes: their length; a BIGINT column's: 1 when NULL, else 0 */
    uint8_t *acc;  /* NULL until its first row of a batch is added */
} group_t;

typedef struct win_op {
    const win_spec_t *spec;
    sp_op_ctx_t *ctx;
    sp_state_backend_t *be;
    int acc_state, sessions_state, trigger_state;
    sp_timer_service_t timers;  /* event time */
    sp_timer_service_t ptimers; /* processing time */
    spate_collector_t out, late;
    spate_key_t key;
    int key_group;
    int side; /* input of the row being added (window join) */
    int64_t watermark;
    bool event_time; /* the assigner's domain: cleanup timers, lateness */
    spate_trigger_context_t tc;
    bool located; /* where: the location of the next add_contents' state (sp_state_locate) */
    uint64_t where;
    bool acc_known; /* acc_hint: the next add_contents' accumulator, looked up already (NULL: none) */
    uint8_t *acc_hint;
    uint8_t *acc_made; /* the accumulator add_contents made last */
    bool at_known;     /* at: the location of the current key's contents of the window being added to or
                    * fired (process_ahead, fire_ahead), for storing and dropping them */
    uint64_t at;
    ahead_t *ahead; /* RING entries when the rows are looked up ahead, else NULL */
    int key_field;  /* process_ahead: the BIGINT field keyed by (sp_key_bigint_field), else -1 */
    /* process_grouped: the (key, window) groups whose accumulators are known (ngroups of gcap; the
     * pointers are good while sp_state_moves is gmoves), the hash table over them (2 * gcap slots,
     * UINT32_MAX = empty); per batch, for each (row, window) pair: its group (GROUP_FIRST on a new
     * group's first pair) and row; for the new groups' first pairs: row, window start, accumulator */
    group_t *groups;
    uint32_t *gslots, *grow, *gprow, *gfirst;
    int64_t *gstart;
    uint8_t **gacc;
    uint32_t gcap, ngroups, growcap;
    uint64_t gmoves;
    uint8_t *gkeys; /* the groups' key bytes (a key not of one BIGINT column) */
    size_t gkeys_len, gkeys_cap;
    spate_key_t gkey; /* a row's key (scratch) */
    uint8_t *val;     /* contents scratch */
    size_t valcap;
    uint8_t *acc2; /* accumulator scratch (merging, aggregating evicted windows) */
    uint8_t *tkey; /* timer key scratch */
    size_t tkeycap;
    /* reduce: the function's one output row */
    spate_collector_t res;
    sp_batch_t *acc_batch, *res_batch;
} win_op_t;

static int late_sink(void *target, sp_batch_t *b)
{
    return sp_output_push_side(target, LATE_TAG, b);
}

static int no_sink(void *target, sp_batch_t *b)
{
    SP_UNUSED(target);
    SP_UNUSED(b);
    return SPATE_EINTERNAL; /* never reached: res_batch has room for two rows and is rewound per call */
}

static int win_open(const void *spec, sp_op_ctx_t *ctx, void **inst)
{
    const win_spec_t *s = spec;
    const spate_schema_t *in = ctx->in_schema[0];
    win_op_t *w = sp_xcalloc_aligned(sizeof *w);
    w->spec = s;
    w->ctx = ctx;
    w->be = sp_heap_backend_create();
    w->acc_state = sp_state_id(w->be, "acc");
    w->sessions_state = sp_state_id(w->be, "sessions");
    w->trigger_state = sp_state_id(w->be, "trigger");
    sp_timers_init(&w->timers);
    sp_timers_init(&w->ptimers);
    sp_collector_init(&w->out, ctx->out_schema, SP_BATCH_CAPACITY, sp_output_sink_fn, ctx->out, ctx->error);
    sp_collector_init(&w->late, in, SP_BATCH_CAPACITY, late_sink, ctx->out, ctx->error);
    sp_key_init(&w->key);
    w->watermark = SP_WATERMARK_MIN;
    w->event_time = !s->assigner.processing_time && s->assigner.kind != SPATE_WINDOW_COUNT &&
                    s->assigner.kind != SPATE_WINDOW_GLOBAL;
    w->tc.w = w;
    w->valcap = 256 + s->fn.acc_size;
    w->val = sp_xmalloc(w->valcap);
    w->acc2 = sp_xmalloc(s->fn.acc_size ? s->fn.acc_size : 1);
    sp_collector_init(&w->res, in, 2, no_sink, NULL, ctx->error);
    w->acc_batch = sp_batch_create(in, 2);
    w->res_batch = sp_batch_create(in, 2);
    w->acc_batch->scratch = w->res_batch->scratch = true; /* rewritten per call */
    w->res.batch = w->res_batch;
    sp_batch_acquire(w->res_batch); /* one reference for the collector, one ours */
    const spate_window_assigner_t *a = &s->assigner;
    if ((a->kind == SPATE_WINDOW_TUMBLING ||
         (a->kind == SPATE_WINDOW_SLIDING && a->size > a->slide && a->size <= GROUP_SLIDES * a->slide)) &&
        !a->processing_time && !s->rows) {
        w->ahead = sp_xcalloc(RING, sizeof *w->ahead);
        w->key_field = sp_key_bigint_field(&s->key, in);
        for (int i = 0; i < RING; i++) sp_key_init(&w->ahead[i].key);
    }
    sp_key_init(&w->gkey);
    *inst = w;
    return SPATE_OK;
}

static void win_close(void *inst)
{
    win_op_t *w = inst;
    for (int i = 0; w->ahead && i < RING; i++) sp_key_fini(&w->ahead[i].key);
    free(w->ahead);
    free(w->groups);
    free(w->gslots);
    free(w->grow);
    free(w->gfirst);
    free(w->gprow);
    free(w->gstart);
    free(w->gacc);
    free(w->gkeys);
    sp_key_fini(&w->gkey);
    sp_state_backend_destroy(w->be);
    sp_timers_fini(&w->timers);
    sp_timers_fini(&w->ptimers);
    sp_collector_fini(&w->out);
    sp_collector_fini(&w->late);
    sp_collector_fini(&w->res);
    sp_batch_release(w->acc_batch);
    sp_batch_release(w->res_batch);
    sp_key_fini(&w->key);
    free(w->val);
    free(w->acc2);
    free(w->tkey);
    free(w);
}

static int user_failed(win_op_t *w, int rc, const char *what)
{
    if (!w->ctx->error->code)
        sp_error_set(w->ctx->error, rc > 0 ? SPATE_EUSER : rc, "%s returned %d", what, rc);
    return w->ctx->error->code;
}

static void put_window(uint8_t *ns, const spate_window_t *win)
{
    memcpy(ns, &win->start, 8);
    memcpy(ns + 8, &win->end, 8);
}

/* The hash of a window's namespace, for sp_state_locate_in. */
static uint64_t window_ns_hash(const spate_window_t *win)
{
    uint8_t ns[16];
    put_window(ns, win);
    return sp_hash_bytes(ns, 16);
}

static bool same_window(const spate_window_t *a, const spate_window_t *b)
{
    return a->start == b->start && a->end == b->end;
}

/* ---- timers ---- */

/* Timer key: [key][window]. */
static const uint8_t *timer_key(win_op_t *w, const spate_window_t *win, size_t *len)
{
    size_t n = w->key.len + 16;
    if (n > w->tkeycap) {
        w->tkeycap = 2 * n;
        w->tkey = sp_xrealloc(w->tkey, w->tkeycap);
    }
    memcpy(w->tkey, w->key.buf, w->key.len);
    put_window(w->tkey + w->key.len, win);
    *len = n;
    return w->tkey;
}

static void timer_set(win_op_t *w, bool processing, const spate_window_t *win, int64_t t, bool set)
{
    size_t n;
    const uint8_t *tk = timer_key(w, win, &n);
    sp_timer_service_t *svc = processing ? &w->ptimers : &w->timers;
    if (!set) {
        sp_timers_delete(svc, t, tk, n);
        return;
    }
    sp_timers_register(svc, t, w->key_group, tk, n);
    if (processing && t < w->ctx->timer_at) w->ctx->timer_at = t;
}

/* When the window's state goes: end - 1 + allowed lateness in event time, end - 1 in
 * processing time; INT64_MAX (never) for the global window. */
static int64_t cleanup_time(const win_op_t *w, const spate_window_t *win)
{
    return w->event_time ? sp_add_sat(sp_window_max_ts(win), w->spec->lateness) : sp_window_max_ts(win);
}

static void cleanup_timer(win_op_t *w, const spate_window_t *win, bool set)
{
    int64_t t = cleanup_time(w, win);
    if (t != INT64_MAX) timer_set(w, !w->event_time, win, t, set);
}

static bool is_late(const win_op_t *w, const spate_window_t *win)
{
    return w->event_time && cleanup_time(w, win) <= w->watermark;
}

/* ---- contents ---- */

static const uint8_t *load(win_op_t *w, const spate_window_t *win, size_t *len)
{
    uint8_t ns[16];
    put_window(ns, win);
    return sp_state_get(w->be, w->acc_state, w->key_group, w->key.buf, w->key.len, ns, 16, len);
}

/* The contents of (current key, win) stored and dropped, at w->at when that is their location. */
static uint8_t *store(win_op_t *w, const spate_window_t *win, const void *value, size_t len)
{
    uint8_t ns[16];
    put_window(ns, win);
    return w->at_known
               ? sp_state_put_at(w->be, w->acc_state, w->key_group, w->key.buf, w->key.len, ns, 16, w->at,
                                 value, len)
               : sp_state_put(w->be, w->acc_state, w->key_group, w->key.buf, w->key.len, ns, 16, value, len);
}

static void drop(win_op_t *w, const spate_window_t *win)
{
    uint8_t ns[16];
    put_window(ns, win);
    if (w->at_known)
        sp_state_remove_at(w->be, w->acc_state, w->key_group, w->key.buf, w->key.len, ns, 16, w->at);
    else
        sp_state_remove(w->be, w->acc_state, w->key_group, w->key.buf, w->key.len, ns, 16);
}

static void reserve_val(win_op_t *w, size_t n)
{
    if (n <= w->valcap) return;
    while (w->valcap < n) w->valcap *= 2;
    w->val = sp_xrealloc(w->val, w->valcap);
}

/* Entries of a row list: [u32 length | input << 31][i64 event time][row]. */
static size_t entry_size(const uint8_t *e, int *side)
{
    uint32_t l;
    memcpy(&l, e, 4);
    if (side) *side = (int)(l >> 31);
    return 12 + (l & 0x7fffffffu);
}

/* Writes w->val = old (len bytes; NULL = none) followed by row (from input w->side) as an
 * entry; returns the new length. */
static size_t append_row(win_op_t *w, const uint8_t *old, size_t len, const spate_row_t *row, int64_t ts)
{
    size_t rl = sp_row_encode(row, NULL, 0), have = old ? len : 0;
    reserve_val(w, have + 12 + rl);
    if (old && old != w->val) memcpy(w->val, old, len);
    uint32_t l = (uint32_t)rl | (uint32_t)w->side << 31;
    memcpy(w->val + have, &l, 4);
    memcpy(w->val + have + 4, &ts, 8);
    sp_row_encode(row, w->val + have + 12, rl);
    return have + 12 + rl;
}

/* Decoded rows of a window (borrowed from the batches while they live; batch[1]: window
 * join's second input). */
typedef struct row_list {
    sp_batch_t *batch[2];
    spate_row_t *rows;
    size_t *at; /* offset of each row's entry in the encoded contents */
    size_t n;
} row_list_t;

static int decode_rows(win_op_t *w, const uint8_t *v, size_t len, row_list_t *rl)
{
    size_t n = 0;
    for (size_t at = 0; at + 12 <= len; n++) at += entry_size(v + at, NULL);
    rl->n = n;
    for (int i = 0; i < (w->spec->join ? 2 : 1); i++) {
        rl->batch[i] = sp_batch_create(w->ctx->in_schema[i], (uint32_t)(n ? n : 1));
        rl->batch[i]->scratch = true;
    }
    rl->rows = sp_xmalloc(sizeof *rl->rows * (n ? n : 1));
    rl->at = sp_xmalloc(sizeof *rl->at * (n ? n : 1));
    size_t i = 0;
    for (size_t at = 0; at + 12 <= len; i++) {
        int side;
        size_t size = entry_size(v + at, &side);
        sp_batch_t *b = rl->batch[side];
        if (!b)
            return sp_error_set(w->ctx->error, SPATE_EINTERNAL, "window state: a row of an unknown input");
        int rc = sp_row_decode_append(b, v + at + 12, size - 12, w->ctx->error);
        if (rc) return rc;
        memcpy(&b->timestamps[b->count - 1], v + at + 4, 8);
        rl->rows[i] = (spate_row_t){ b, b->count - 1 };
        rl->at[i] = at;
        at += size;
    }
    return SPATE_OK;
}

static void free_rows(row_list_t *rl)
{
    for (int i = 0; i < 2; i++)
        if (rl->batch[i]) sp_batch_release(rl->batch[i]);
    free(rl->rows);
    free(rl->at);
}

/* The reduce function on (acc, in): its one output row, in res_batch row 0. */
static int reduce_rows(win_op_t *w, const spate_row_t *acc, const spate_row_t *in, spate_row_t *out)
{
    sp_collector_rewind(&w->res);
    w->res.input = in;
    uint64_t before = w->res.emitted;
    int rc = w->spec->reduce(w->spec->reduce_ctx, acc, in, &w->res);
    if (rc) return user_failed(w, rc, "window reduce function");
    if (w->res.emitted != before + 1)
        return sp_error_set(w->ctx->error, SPATE_EUSER,
                            "a reduce function must emit exactly one row (emitted %llu)",
                            (unsigned long long)(w->res.emitted - before));
    sp_collector_settle(&w->res);
    *out = (spate_row_t){ w->res_batch, 0 };
    return SPATE_OK;
}

/* Reduce without evictor: folds `in` into the one stored row `v` (len bytes); new contents in w->val. */
static int reduce_into(win_op_t *w, const uint8_t *v, size_t len, const spate_row_t *in, int64_t ts,
                       size_t *n)
{
    w->acc_batch->count = 0;
    int rc = sp_row_decode_append(w->acc_batch, v + 12, entry_size(v, NULL) - 12, w->ctx->error);
    if (rc) return rc;
    SP_UNUSED(len);
    spate_row_t acc = { w->acc_batch, 0 }, res;
    if ((rc = reduce_rows(w, &acc, in, &res)) != SPATE_OK) return rc;
    *n = append_row(w, NULL, 0, &res, ts);
    return SPATE_OK;
}

/* Adds row to the contents of window `win` of the current key; *existed tells whether the
 * window had contents before. */
static int add_contents(win_op_t *w, const spate_window_t *win, const spate_row_t *row, int64_t ts,
                        bool *existed)
{
    const win_spec_t *s = w->spec;
    const spate_aggregate_function_t *fn = &s->fn;
    size_t len, n;
    int rc;
    if (s->rows) {
        const uint8_t *old = load(w, win, &len);
        *existed = old != NULL;
        if (old && s->reduce && !s->has_evictor)
            rc = reduce_into(w, old, len, row, ts, &n);
        else
            n = append_row(w, old, len, row, ts), rc = SPATE_OK;
        if (rc == SPATE_OK) store(w, win, w->val, n);
        return rc;
    }
    uint8_t ns[16];
    put_window(ns, win);
    uint8_t *acc = w->acc_known ? w->acc_hint
                   : w->located ? sp_state_get_mut_at(w->be, w->acc_state, w->key_group, w->key.buf,
                                                      w->key.len, ns, 16, w->where, &len)
                                : sp_state_get_mut(w->be, w->acc_state, w->key_group, w->key.buf, w->key.len,
                                                   ns, 16, &len);
    w->located = w->acc_known = false;
    *existed = acc != NULL;
    if (acc) /* the common case: fold the row into the stored accumulator in place (one lookup) */
        return (rc = fn->add(fn->ctx, acc, row)) != SPATE_OK ? user_failed(w, rc, "window add") : SPATE_OK;
    size_t rl = sp_row_encode_only(row, s->keep, NULL, 0);
    reserve_val(w, fn->acc_size + rl);
    if (fn->create)
        fn->create(fn->ctx, w->val);
    else
        memset(w->val, 0, fn->acc_size);
    sp_row_encode_only(row, s->keep, w->val + fn->acc_size, rl);
    if ((rc = fn->add(fn->ctx, w->val, row)) != SPATE_OK) return user_failed(w, rc, "window add");
    w->acc_made = store(w, win, w->val, fn->acc_size + rl);
    return SPATE_OK;
}

/* ---- firing ---- */

/* Aggregate function: emits from [accumulator] and the key row. */
static int emit_aggregate(win_op_t *w, const spate_window_t *win, const void *acc, const spate_row_t *key_row)
{
    const spate_aggregate_function_t *fn = &w->spec->fn;
    w->out.default_time = sp_window_max_ts(win); /* a window's result carries its last millisecond */
    int rc = fn->emit(fn->ctx, acc, win, key_row, &w->out);
    w->out.default_time = SPATE_NO_TIMESTAMP;
    return rc ? user_failed(w, rc, "window emit") : SPATE_OK;
}

/* Window join: fn for each pair (left row, right row), in arrival order. */
static int join_rows(win_op_t *w, const spate_window_t *win, const spate_row_t *rows, size_t n,
                     const sp_batch_t *right)
{
    const win_spec_t *s = w->spec;
    int rc = SPATE_OK;
    w->out.default_time = sp_window_max_ts(win);
    for (size_t i = 0; rc == SPATE_OK && i < n; i++) {
        if (rows[i].batch == right) continue;
        for (size_t j = 0; rc == SPATE_OK && j < n; j++)
            if (rows[j].batch == right &&
                (rc = s->join(s->join_ctx, &rows[i], &rows[j], &w->out)) != SPATE_OK)
                rc = user_failed(w, rc, "window join function");
    }
    w->out.default_time = SPATE_NO_TIMESTAMP;
    return rc;
}

/* Runs the window function over rows (process, join, or aggregate / reduce over the rows). */
static int apply_rows(win_op_t *w, const spate_window_t *win, const spate_row_t *rows, size_t n,
                      const sp_batch_t *right)
{
    const win_spec_t *s = w->spec;
    int rc = SPATE_OK;
    if (s->join) {
        rc = join_rows(w, win, rows, n, right);
    } else if (s->process) {
        w->out.default_time = sp_window_max_ts(win);
        rc = s->process(s->process_ctx, win, rows, n, &w->out);
        w->out.default_time = SPATE_NO_TIMESTAMP;
        if (rc) rc = user_failed(w, rc, "process window function");
    } else if (n == 0) {
        return SPATE_OK;
    } else if (s->reduce) {
        spate_row_t acc = rows[0];
        for (size_t i = 1; rc == SPATE_OK && i < n; i++) {
            if ((rc = reduce_rows(w, &acc, &rows[i], &acc)) != SPATE_OK) break;
            /* acc lives in res_batch, which the next call rewrites: move it to acc_batch */
            w->acc_batch->count = 0;
            sp_batch_append_row(w->acc_batch, w->res_batch, 0);
            acc = (spate_row_t){ w->acc_batch, 0 };
        }
        if (rc == SPATE_OK) {
            acc.batch->timestamps[acc.index] = sp_window_max_ts(win);
            rc = spate_out_emit_row(&w->out, &acc);
        }
    } else {
        const spate_aggregate_function_t *fn = &s->fn;
        if (fn->create)
            fn->create(fn->ctx, w->acc2);
        else
            memset(w->acc2, 0, fn->acc_size);
        for (size_t i = 0; rc == SPATE_OK && i < n; i++)
            if ((rc = fn->add(fn->ctx, w->acc2, &rows[i])) != SPATE_OK) rc = user_failed(w, rc, "window add");
        if (rc == SPATE_OK) rc = emit_aggregate(w, win, w->acc2, &rows[0]);
    }
    sp_collector_settle(&w->out); /* rows of the scratch batch may not be borrowed */
    return rc;
}

/* Keeps rows[i] with keep[i] (in place); returns how many are left. */
static size_t compact(spate_row_t *rows, size_t *at, const bool *keep, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (keep[i]) {
            rows[k] = rows[i];
            at[k++] = at[i];
        }
    return k;
}

/* Fires a window whose contents are rows: evictor before, function, evictor after; the rows left
 * are written back. v (len bytes) is a copy of the contents. */
static int fire_rows(win_op_t *w, const spate_window_t *win, const uint8_t *v, size_t len)
{
    const win_spec_t *s = w->spec;
    row_list_t rl = { 0 };
    int rc = decode_rows(w, v, len, &rl);
    size_t n = rl.n, before = n;
    bool *keep = sp_xmalloc(n ? n : 1);
    if (rc == SPATE_OK && s->has_evictor && s->evictor.evict_before) {
        memset(keep, 1, n);
        s->evictor.evict_before(&s->evictor, rl.rows, n, keep, win);
        n = compact(rl.rows, rl.at, keep, n);
    }
    if (rc == SPATE_OK) rc = apply_rows(w, win, rl.rows, n, rl.batch[1]);
    if (rc == SPATE_OK && s->has_evictor && s->evictor.evict_after) {
        memset(keep, 1, n);
        s->evictor.evict_after(&s->evictor, rl.rows, n, keep, win);
        n = compact(rl.rows, rl.at, keep, n);
    }
    if (rc == SPATE_OK && n != before) { /* write back the rows left, as they were encoded */
        uint8_t *left = sp_xmalloc(len ? len : 1);
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            size_t size = entry_size(v + rl.at[i], NULL);
            memcpy(left + m, v + rl.at[i], size);
            m += size;
        }
        if (m)
            store(w, win, left, m);
        else
            drop(w, win);
        free(left);
    }
    free(keep);
    free_rows(&rl);
    return rc;
}

/* Runs the window function over window `win` of the current key (nothing when it is empty). */
static int fire(win_op_t *w, const spate_window_t *win)
{
    size_t len;
    const uint8_t *v;
    if (w->located) { /* see process_ahead */
        uint8_t ns[16];
        put_window(ns, win);
        v = sp_state_get_mut_at(w->be, w->acc_state, w->key_group, w->key.buf, w->key.len, ns, 16, w->where,
                                &len);
        w->located = false;
    } else {
        v = load(w, win, &len);
    }
    if (!v) return SPATE_OK;
    if (!w->spec->rows) { /* emit reads the stored accumulator in place: it cannot reach this backend */
        size_t acc_size = w->spec->fn.acc_size;
        w->acc_batch->count = 0;
        int rc = sp_row_decode_append(w->acc_batch, v + acc_size, len - acc_size, w->ctx->error);
        spate_row_t key_row = { w->acc_batch, 0 };
        return rc ? rc : emit_aggregate(w, win, v, &key_row);
    }
    uint8_t *copy = sp_xmalloc(len); /* fire_rows writes the rows left back into the backend */
    memcpy(copy, v, len);
    int rc = fire_rows(w, win, copy, len);
    free(copy);
    return rc;
}

/* Acts on a trigger's answer for window `win`. */
static int act(win_op_t *w, const spate_window_t *win, spate_trigger_result_t r)
{
    if (w->spec->trigger.purging && (r & SPATE_TRIGGER_FIRE)) r |= SPATE_TRIGGER_PURGE;
    int rc = (r & SPATE_TRIGGER_FIRE) ? fire(w, win) : SPATE_OK;
    if (rc == SPATE_OK && (r & SPATE_TRIGGER_PURGE)) drop(w, win);
    return rc;
}

static spate_trigger_context_t *tctx(win_op_t *w, const spate_window_t *win)
{
    w->tc.win = win;
    return &w->tc;
}

static void trigger_clear(win_op_t *w, const spate_window_t *win)
{
    const spate_trigger_t *t = &w->spec->trigger;
    if (t->clear) t->clear(t, win, tctx(w, win));
}

/* Adds row to window `win` and asks the trigger. */
static int add_to_window(win_op_t *w, const spate_window_t *win, const spate_row_t *row, int64_t ts)
{
    const spate_trigger_t *t = &w->spec->trigger;
    bool existed;
    int rc = add_contents(w, win, row, ts, &existed);
    if (rc) return rc;
    spate_trigger_result_t r = SPATE_TRIGGER_CONTINUE;
    if (w->spec->fast_et && existed) { /* the event-time trigger's timer was set with the window */
        r = sp_window_max_ts(win) <= w->watermark ? SPATE_TRIGGER_FIRE : SPATE_TRIGGER_CONTINUE;
    } else if (w->spec->unique_timer) {
        /* tumbling or sliding windows, event-time trigger, no lateness: the window's one timer
         * (end - 1, also its cleanup) is set once, with its state, and never deleted */
        size_t n;
        const uint8_t *tk = timer_key(w, win, &n);
        sp_timers_register_unique(&w->timers, sp_window_max_ts(win), w->key_group, tk, n);
    } else if (t->on_element)
        r = t->on_element(t, row, ts, win, tctx(w, win));
    /* with the event-time trigger and no lateness, its timer is the cleanup timer */
    if (!existed && !(w->spec->fast_et && w->spec->lateness == 0)) cleanup_timer(w, win, true);
    return r == SPATE_TRIGGER_CONTINUE ? SPATE_OK : act(w, win, r); /* most rows: nothing to do */
}

/* ---- session windows ---- */

static spate_window_t *load_sessions(win_op_t *w, int *n)
{
    size_t len;
    const uint8_t *raw =
        sp_state_get(w->be, w->sessions_state, w->key_group, w->key.buf, w->key.len, NULL, 0, &len);
    *n = raw ? (int)(len / sizeof(spate_window_t)) : 0;
    spate_window_t *wins = sp_xmalloc(sizeof *wins * (size_t)(*n + 1));
    if (*n) memcpy(wins, raw, sizeof *wins * (size_t)*n);
    return wins;
}

static void store_sessions(win_op_t *w, const spate_window_t *wins, int n)
{
    if (n)
        sp_state_put(w->be, w->sessions_state, w->key_group, w->key.buf, w->key.len, NULL, 0, wins,
                     sizeof *wins * (size_t)n);
    else
        sp_state_remove(w->be, w->sessions_state, w->key_group, w->key.buf, w->key.len, NULL, 0);
}

static int by_start(const void *a, const void *b)
{
    const spate_window_t *x = a, *y = b;
    return (x->start > y->start) - (x->start < y->start);
}

/* Folds the contents of `from` (copied, len bytes) into w->val (have bytes; 0 = empty). */
static int fold_contents(win_op_t *w, size_t *have, const uint8_t *from, size_t len)
{
    const win_spec_t *s = w->spec;
    if (*have == 0) {
        reserve_val(w, len);
        memcpy(w->val, from, len);
        *have = len;
    } else if (!s->rows) { /* the earlier window's first row stays the key row */
        memcpy(w->acc2, from, s->fn.acc_size);
        if (s->fn.merge) s->fn.merge(s->fn.ctx, w->val, w->acc2);
    } else if (s->reduce && !s->has_evictor) {
        sp_batch_t *b = sp_batch_create(w->ctx->in_schema[0], 1);
        b->scratch = true;
        int rc = sp_row_decode_append(b, from + 12, entry_size(from, NULL) - 12, w->ctx->error);
        spate_row_t in = { b, 0 };
        int64_t ts;
        memcpy(&ts, from + 4, 8);
        uint8_t *acc = sp_xmalloc(*have);
        memcpy(acc, w->val, *have);
        if (rc == SPATE_OK) rc = reduce_into(w, acc, *have, &in, ts, have);
        free(acc);
        sp_batch_release(b);
        return rc;
    } else { /* rows: all of both, earlier window first */
        reserve_val(w, *have + len);
        memcpy(w->val + *have, from, len);
        *have += len;
    }
    return SPATE_OK;
}

/* Session windows: [ts, ts + gap) merges with the key's sessions it overlaps or touches. */
static int add_to_session(win_op_t *w, int64_t ts, const spate_row_t *row, bool *late)
{
    const spate_trigger_t *t = &w->spec->trigger;
    spate_window_t m = { ts, ts + w->spec->assigner.gap };
    int n;
    spate_window_t *wins = load_sessions(w, &n);
    for (int i = 0; i < n; i++)
        if (wins[i].start <= m.end && m.start <= wins[i].end) {
            if (wins[i].start < m.start) m.start = wins[i].start;
            if (wins[i].end > m.end) m.end = wins[i].end;
        }
    *late = is_late(w, &m);
    if (*late) {
        free(wins);
        return SPATE_OK;
    }
    /* the windows that merge into m, in start order; m itself may be one of them */
    int nover = 0, kept = 0;
    spate_window_t *over = sp_xmalloc(sizeof *over * (size_t)(n + 1));
    bool m_exists = false;
    for (int i = 0; i < n; i++) {
        if (wins[i].start <= m.end && m.start <= wins[i].end) {
            over[nover++] = wins[i];
            m_exists |= same_window(&wins[i], &m);
        } else {
            wins[kept++] = wins[i];
        }
    }
    wins[kept++] = m;
    store_sessions(w, wins, kept);
    free(wins);
    int rc = SPATE_OK;
    if (nover > (m_exists ? 1 : 0)) {
        qsort(over, (size_t)nover, sizeof *over, by_start);
        size_t have = 0, len;
        for (int i = 0; rc == SPATE_OK && i < nover; i++) {
            const uint8_t *v = load(w, &over[i], &len);
            if (!v) continue;
            uint8_t *copy = sp_xmalloc(len);
            memcpy(copy, v, len);
            rc = fold_contents(w, &have, copy, len);
            free(copy);
        }
        int nmerged = 0; /* the merged windows other than m */
        for (int i = 0; i < nover; i++)
            if (!same_window(&over[i], &m)) over[nmerged++] = over[i];
        if (rc == SPATE_OK) {
            for (int i = 0; i < nmerged; i++) drop(w, &over[i]);
            if (have) store(w, &m, w->val, have);
            t->on_merge(t, &m, over, (size_t)nmerged, tctx(w, &m));
            for (int i = 0; i < nmerged; i++) {
                trigger_clear(w, &over[i]);
                cleanup_timer(w, &over[i], false);
            }
            cleanup_timer(w, &m, true);
        }
    }
    free(over);
    return rc ? rc : add_to_window(w, &m, row, ts);
}

/* Removes window `win` of the current key: contents, trigger state, session entry. */
static void clear_window(win_op_t *w, const spate_window_t *win)
{
    drop(w, win);
    /* The event-time trigger's only timer (end - 1) has fired by the cleanup time, and it sets
     * none once the watermark has passed end - 1: nothing to clear. */
    if (!w->spec->fast_et) trigger_clear(w, win);
    if (w->spec->assigner.kind != SPATE_WINDOW_SESSION) return;
    int n, kept = 0;
    spate_window_t *wins = load_sessions(w, &n);
    for (int i = 0; i < n; i++)
        if (!same_window(&wins[i], win)) wins[kept++] = wins[i];
    store_sessions(w, wins, kept);
    free(wins);
}

static bool session_open(win_op_t *w, const spate_window_t *win)
{
    int n;
    spate_window_t *wins = load_sessions(w, &n);
    bool found = false;
    for (int i = 0; i < n && !found; i++) found = same_window(&wins[i], win);
    free(wins);
    return found;
}

static int missing_timestamp(win_op_t *w)
{
    return sp_error_set(w->ctx->error, SPATE_EINVAL,
                        "a record without an event timestamp reached an event-time window: assign "
                        "timestamps and watermarks first");
}

/* Tumbling (or sliding) event-time windows, aggregate function: each row is prepared (key, window,
 * state location) AHEAD rows before it is added (see AHEAD).  The rows added are rows[0, n) of b, or
 * all of b's when rows is NULL; each to the window starting at starts[i], or when starts is NULL to
 * its tumbling window; accs, when not NULL, receives each one's accumulator after the add (the
 * caller has checked that no window of them is due, so nothing fires or goes meanwhile). */
static int process_ahead(win_op_t *w, sp_batch_t *b, const uint32_t *rows, const int64_t *starts, uint32_t n,
                         uint8_t **accs)
{
    const win_spec_t *s = w->spec;
    int maxp = w->ctx->info.max_parallelism;
    int64_t size = s->assigner.size, offset = s->assigner.offset;
    spate_window_t cur = { 0, 0 }; /* the window of the last row prepared (empty at first) */
    uint64_t cur_ns = 0;           /* its namespace's hash */
    bool cur_late = false;         /* whether it is late */
    const spate_column_t *kc = w->key_field >= 0 ? &b->cols[w->key_field] : NULL;
    for (uint32_t i = 0; i < n + AHEAD; i++) {
        if (i < n) { /* prepare row i */
            ahead_t *p = &w->ahead[i % RING];
            uint32_t r = rows ? rows[i] : i;
            spate_row_t row = { b, r };
            int64_t ts = b->timestamps[r];
            if (ts == SPATE_NO_TIMESTAMP) return missing_timestamp(w);
            if (kc) { /* the key column read here: no call per row */
                p->key.len = 0;
                sp_key_put_bigint_field(&p->key, !sp_bit_get(kc->validity, r),
                                        ((const int64_t *)kc->values)[r]);
            } else {
                int rc = sp_key_compute(&s->key, &row, &p->key, w->ctx->error);
                if (rc) return rc;
            }
            if (starts ? starts[i] == cur.start && cur.end != cur.start : ts >= cur.start && ts < cur.end) {
                p->win = cur; /* most rows fall in the window of the row before */
            } else {
                p->win.start = starts ? starts[i] : offset + sp_floor_to(ts - offset, size);
                p->win.end = p->win.start + size;
                cur = p->win;
                cur_ns = window_ns_hash(&cur);
                cur_late = is_late(w, &cur); /* the watermark stays within a batch */
            }
            p->ns_hash = cur_ns;
            p->late = cur_late;
        }
        if (i >= 1 && i <= n) { /* hash row i - 1's key (written an iteration ago: no stall on the
                                 * store just made) and locate its state */
            ahead_t *p = &w->ahead[(i - 1) % RING];
            uint64_t key_hash = sp_key_hash(p->key.buf, p->key.len);
            p->key_group = sp_key_group_of_hash(key_hash, maxp);
            if (!p->late) p->where = sp_state_locate_in(w->be, w->acc_state, key_hash, p->ns_hash);
        }
        if (i >= AHEAD / 2 && i - AHEAD / 2 < n) { /* its slot is in the cache by now: fetch the value */
            const ahead_t *q = &w->ahead[(i - AHEAD / 2) % RING];
            if (!q->late) sp_state_prefetch_value(w->be, q->where);
        }
        if (i < AHEAD) continue;
        uint32_t j = i - AHEAD; /* add row j */
        ahead_t *q = &w->ahead[j % RING];
        spate_key_t k = w->key; /* the row's key becomes current; its buffer is q's next */
        w->key = q->key;
        q->key = k;
        w->key_group = q->key_group;
        uint32_t r = rows ? rows[j] : j;
        spate_row_t row = { b, r };
        int rc;
        if (q->late) {
            rc = spate_out_emit_row(&w->late, &row);
        } else {
            size_t len;
            uint8_t ns[16];
            put_window(ns, &q->win);
            uint8_t *acc = sp_state_get_mut_at(w->be, w->acc_state, w->key_group, w->key.buf, w->key.len, ns,
                                               16, q->where, &len);
            if (acc && s->fast_et && sp_window_max_ts(&q->win) > w->watermark) {
                /* most rows: into an accumulator there already, of a window not due (add_to_window's
                 * way, in short) */
                rc = s->fn.add(s->fn.ctx, acc, &row);
                if (rc) rc = user_failed(w, rc, "window add");
            } else {
                w->acc_known = true;
                w->acc_hint = acc;
                w->at = q->where;
                w->at_known = true;
                rc = add_to_window(w, &q->win, &row, b->timestamps[r]);
                w->at_known = false;
                if (accs && !acc) acc = w->acc_made; /* made just now (not due: it stays) */
            }
            if (accs) accs[j] = acc;
        }
        if (rc) return rc;
    }
    int rc = sp_collector_flush(&w->out);
    return rc ? rc : sp_collector_flush(&w->late);
}

#define GROUP_FIRST (1u << 31)
#define GROUPS_MIN  4096 /* groups known at most, at least (a Nexmark batch of 1,024 bids has ~150) */
#define GROUP_KEYS  ((size_t)1 << 20) /* bytes of group keys kept at most (beyond, all are forgotten) */

/* Forgets every group. */
static void groups_clear(win_op_t *w)
{
    if (w->gslots) memset(w->gslots, 0xff, sizeof *w->gslots * 2 * (size_t)w->gcap);
    w->ngroups = 0;
    w->gkeys_len = 0;
    w->gmoves = sp_state_moves(w->be);
}

/* Room for a batch of n (row, window) pairs: per-pair arrays, and n new groups (else all are
 * forgotten). */
static void groups_reserve(win_op_t *w, uint32_t n)
{
    if (n > w->growcap) {
        w->growcap = n;
        w->grow = sp_xrealloc(w->grow, sizeof *w->grow * n);
        w->gprow = sp_xrealloc(w->gprow, sizeof *w->gprow * n);
        w->gfirst = sp_xrealloc(w->gfirst, sizeof *w->gfirst * n);
        w->gstart = sp_xrealloc(w->gstart, sizeof *w->gstart * n);
        w->gacc = sp_xrealloc(w->gacc, sizeof *w->gacc * n);
    }
    if (2 * (size_t)n > w->gcap) {
        uint32_t cap = GROUPS_MIN;
        while (cap < 2 * n) cap *= 2;
        w->gcap = cap;
        w->groups = sp_xrealloc(w->groups, sizeof *w->groups * cap);
        w->gslots = sp_xrealloc(w->gslots, sizeof *w->gslots * 2 * (size_t)cap);
        groups_clear(w);
    } else if (w->ngroups + n > w->gcap || w->gkeys_len > GROUP_KEYS || sp_state_moves(w->be) != w->gmoves) {
        groups_clear(w); /* full, or an accumulator may have moved (a window fired, a checkpoint) */
    }
}

/* The group of (key, window start) in the table, made when there is none (GROUP_FIRST added then);
 * key: a BIGINT value (klen 1 when NULL, else 0), or the hash of key bytes kb[0, klen).  Inline:
 * called once a row, the BIGINT case with kb a constant NULL. */
static inline __attribute__((always_inline)) uint32_t
group_of(win_op_t *w, int64_t key, int64_t start, const uint8_t *kb, uint32_t klen, uint32_t bits)
{
    uint32_t mask = 2 * w->gcap - 1;
    uint64_t h = ((uint64_t)key ^ (uint64_t)start * 0x9e3779b97f4a7c15ull) * 0xd6e8feb86659fd93ull;
    for (uint32_t slot = (uint32_t)(h >> (64 - bits)) & mask;; slot = (slot + 1) & mask) {
        uint32_t g = w->gslots[slot];
        if (g == UINT32_MAX) {
            g = w->ngroups++;
            w->gslots[slot] = g;
            w->groups[g] = (group_t){ key, start, 0, klen, NULL };
            if (kb) { /* the key's bytes, kept */
                if (w->gkeys_len + klen > w->gkeys_cap) {
                    w->gkeys_cap = SP_MAX(2 * w->gkeys_cap, w->gkeys_len + klen + 4096);
                    w->gkeys = sp_xrealloc(w->gkeys, w->gkeys_cap);
                }
                memcpy(w->gkeys + w->gkeys_len, kb, klen);
                w->groups[g].koff = (uint32_t)w->gkeys_len;
                w->gkeys_len += klen;
            }
            return g | GROUP_FIRST;
        }
        const group_t *e = &w->groups[g];
        if (e->key == key && e->start == start && e->klen == klen &&
            (!kb || memcmp(w->gkeys + e->koff, kb, klen) == 0))
            return g;
    }
}

static int process_rows(win_op_t *w, int input, sp_batch_t *b);

/* The group of row i's pair with the window starting at `start` (group_of); a new group's first
 * pair is noted (gfirst, gstart). */
static inline __attribute__((always_inline)) uint32_t pair_group(win_op_t *w, uint32_t i, int64_t key,
                                                                 int64_t start, const uint8_t *kb,
                                                                 uint32_t klen, uint32_t bits,
                                                                 uint32_t *nfirst)
{
    uint32_t g = kb ? group_of(w, key, start, kb, klen, bits) : group_of(w, key, start, NULL, klen, bits);
    if (g & GROUP_FIRST) {
        w->gfirst[*nfirst] = i;
        w->gstart[(*nfirst)++] = start;
    }
    return g;
}

/* A batch process_grouped does not take, when it had made groups ng0 on: row by row. */
static int ungrouped(win_op_t *w, sp_batch_t *b, uint32_t ng0)
{
    if (w->ngroups != ng0) groups_clear(w); /* the groups of the rows seen so far have no accumulator */
    return w->spec->assigner.kind == SPATE_WINDOW_TUMBLING ? process_ahead(w, b, NULL, NULL, b->count, NULL)
                                                           : process_rows(w, 0, b);
}

/* Tumbling and sliding event-time windows with the event-time trigger and an aggregate function:
 * the (row, window) pairs of a batch are grouped by (key, window) in a small table that stays in the
 * cache, and that keeps each group's accumulator from batch to batch while the state has moved
 * nothing.  A pair of a group whose accumulator is known is added to it at once, with no lookup in
 * the state; the first pair of a new group is added as process_ahead adds rows, which also yields
 * the accumulator.  (A Nexmark batch of 1,024 bids has ~150 groups, most of them known from the
 * batch before.)  The new groups' first pairs go first, then the others in their order: each key's
 * rows are added to each window in their order.  A key of one BIGINT column is read from it; any
 * other key is computed per row and compared by its bytes.  A batch with a row that could fire or be
 * late (a window due), without a timestamp, or whose key selector fails, goes row by row.  (Sliding
 * windows come here when a row is in 2 to GROUP_SLIDES of them: see win_open.) */
static int process_grouped(win_op_t *w, sp_batch_t *b)
{
    const win_spec_t *s = w->spec;
    uint32_t n = b->count;
    int64_t size = s->assigner.size, offset = s->assigner.offset;
    int64_t slide = s->assigner.kind == SPATE_WINDOW_TUMBLING ? size : s->assigner.slide;
    uint32_t per_row = (uint32_t)((size + slide - 1) / slide); /* windows a row is in, at most */
    if (!s->fast_et || n < 2 || (uint64_t)n * per_row >= GROUP_FIRST) return ungrouped(w, b, w->ngroups);
    groups_reserve(w, n * per_row);
    int64_t base = 0, base_end = 0; /* the last slide interval [base, base + slide) met */
    const spate_column_t *kc = w->key_field >= 0 ? &b->cols[w->key_field] : NULL;
    uint32_t bits = (uint32_t)__builtin_ctz(2 * w->gcap), nfirst = 0, npairs = 0, ng0 = w->ngroups;
    spate_row_t row = { b, 0 };
    for (uint32_t i = 0; i < n; i++) {
        int64_t ts = b->timestamps[i];
        if (ts < base || ts >= base_end) {
            if (ts == SPATE_NO_TIMESTAMP) return ungrouped(w, b, ng0);
            base = offset + sp_floor_to(ts - offset, slide);
            base_end = base + slide;
            /* the earliest window a row of this slide interval can be in: due (or late), and the
             * rows may not simply be added */
            spate_window_t first = { base - (per_row - 1) * slide, base - (per_row - 1) * slide + size };
            if (sp_window_max_ts(&first) <= w->watermark) return ungrouped(w, b, ng0);
        }
        int64_t key;
        const uint8_t *kb = NULL;
        uint32_t klen;
        if (kc) {
            bool null = !sp_bit_get(kc->validity, i);
            key = null ? 0 : ((const int64_t *)kc->values)[i];
            klen = null;
        } else {
            row.index = i;
            sp_key_reset(&w->gkey);
            if (s->key.fn(s->key.ctx, &row, &w->gkey) != SPATE_OK)
                return ungrouped(w, b, ng0);                           /* fails there */
            if (w->gkeys_len + w->gkey.len * per_row > 4 * GROUP_KEYS) /* huge keys: kept bounded */
                return ungrouped(w, b, ng0);
            key = (int64_t)sp_hash_bytes(w->gkey.buf, w->gkey.len);
            kb = w->gkey.buf;
            klen = (uint32_t)w->gkey.len;
        }
        if (per_row == 1) { /* tumbling: one window, the pair is the row (gprow not needed) */
            w->grow[i] = pair_group(w, i, key, base, kb, klen, bits, &nfirst);
            continue;
        }
        for (int64_t start = base; start > ts - size; start -= slide) { /* the row's windows */
            w->gprow[npairs] = i;
            w->grow[npairs++] = pair_group(w, i, key, start, kb, klen, bits, &nfirst);
        }
    }
    if (per_row == 1) npairs = n;
    int rc = process_ahead(w, b, w->gfirst, w->gstart, nfirst, w->gacc);
    if (rc) {
        groups_clear(w);
        return rc;
    }
    for (uint32_t k = 0; k < nfirst; k++)
        w->groups[ng0 + k].acc = w->gacc[k]; /* numbered as their first pairs */
    for (uint32_t k = 0; k < npairs; k++) {
        uint32_t g = w->grow[k];
        if (g & GROUP_FIRST) continue;
        row.index = per_row == 1 ? k : w->gprow[k];
        if ((rc = s->fn.add(s->fn.ctx, w->groups[g].acc, &row)) != SPATE_OK)
            return user_failed(w, rc, "window add");
    }
    /* the copies-on-write of this batch's first rows moved only what the groups hold now */
    w->gmoves = sp_state_moves(w->be);
    return SPATE_OK;
}

static int win_process_batch(void *inst, int input, sp_batch_t *b)
{
    win_op_t *w = inst;
    w->side = input;
    /* tumbling or sliding event-time windows, aggregate function: never a join */
    return w->ahead ? process_grouped(w, b) : process_rows(w, input, b);
}

/* Row by row, any window. */
static int process_rows(win_op_t *w, int input, sp_batch_t *b)
{
    const win_spec_t *s = w->spec;
    const spate_window_assigner_t *a = &s->assigner;
    int maxp = w->ctx->info.max_parallelism;
    bool global = a->kind == SPATE_WINDOW_COUNT || a->kind == SPATE_WINDOW_GLOBAL;
    const sp_key_selector_t *key = input ? &s->key2 : &s->key;
    spate_row_t row = { b, 0 };
    for (uint32_t i = 0; i < b->count; i++) {
        row.index = i;
        int64_t ts = b->timestamps[i];
        if (a->processing_time) {
            ts = sp_op_ctx_now(w->ctx);
        } else if (ts == SPATE_NO_TIMESTAMP && !global) {
            return missing_timestamp(w);
        }
        int rc = sp_key_compute(key, &row, &w->key, w->ctx->error);
        if (rc) return rc;
        w->key_group = sp_key_group(w->key.buf, w->key.len, maxp);
        bool late = true;
        if (global) {
            late = false;
            rc = add_to_window(w, &global_window, &row, ts);
        } else if (a->kind == SPATE_WINDOW_SESSION) {
            rc = add_to_session(w, ts, &row, &late);
        } else {
            int64_t slide = a->kind == SPATE_WINDOW_TUMBLING ? a->size : a->slide;
            for (int64_t start = a->offset + sp_floor_to(ts - a->offset, slide);
                 rc == SPATE_OK && start > ts - a->size; start -= slide) {
                spate_window_t win = { start, start + a->size };
                if (is_late(w, &win)) continue;
                late = false;
                rc = add_to_window(w, &win, &row, ts);
            }
        }
        if (rc) return rc;
        /* in no window: to the late data when the row itself is late, as in Flink (a row between the
         * windows of a slide longer than their size is dropped unless it is) */
        late = late && w->event_time && sp_add_sat(ts, s->lateness) <= w->watermark;
        if (late && !s->join && (rc = spate_out_emit_row(&w->late, &row)) != SPATE_OK) return rc;
    }
    int rc = sp_collector_flush(&w->out);
    return rc ? rc : sp_collector_flush(&w->late);
}

/* A timer of window `win`: the trigger's answer, then the window's cleanup when it is time. */
static int on_window_timer(win_op_t *w, const sp_timer_t *t, bool processing)
{
    const spate_trigger_t *tr = &w->spec->trigger;
    spate_window_t win;
    memcpy(&win.start, t->key + t->klen - 16, 8);
    memcpy(&win.end, t->key + t->klen - 8, 8);
    sp_key_reset(&w->key);
    spate_key_append_bytes(&w->key, t->key, t->klen - 16);
    w->key_group = t->key_group;
    if (w->spec->assigner.kind == SPATE_WINDOW_SESSION && !session_open(w, &win))
        return SPATE_OK; /* merged into another since */
    spate_trigger_result_t r = SPATE_TRIGGER_CONTINUE;
    if (processing && tr->on_processing_time)
        r = tr->on_processing_time(tr, t->ts, &win, tctx(w, &win));
    else if (!processing && tr->on_event_time)
        r = tr->on_event_time(tr, t->ts, &win, tctx(w, &win));
    int rc = act(w, &win, r);
    if (rc == SPATE_OK && processing != w->event_time && t->ts == cleanup_time(w, &win))
        clear_window(w, &win);
    return rc;
}

/* Tumbling windows with their one unique timer each: the windows due are fired and cleared with
 * their state looked up AHEAD timers early, as process_ahead adds rows. */
static int fire_ahead(win_op_t *w, int64_t wm)
{
    uint64_t popped = 0, fired = 0;
    bool more = true;
    spate_window_t last = { 0, 0 }; /* the window of the last timer popped, and its namespace's hash */
    uint64_t last_ns = 0;
    while (more || fired < popped) {
        sp_timer_t t;
        if (more && (more = sp_timers_pop(&w->timers, wm, &t))) {
            ahead_t *p = &w->ahead[popped++ % RING];
            sp_key_reset(&p->key);
            spate_key_append_bytes(&p->key, t.key, t.klen - 16);
            memcpy(&p->win.start, t.key + t.klen - 16, 8);
            memcpy(&p->win.end, t.key + t.klen - 8, 8);
            p->key_group = t.key_group;
            if (p->win.start != last.start || p->win.end != last.end) { /* timers come window by window */
                last = p->win;
                last_ns = window_ns_hash(&last);
            }
            /* hashed from the timer's bytes, not the copy just written (no store-forwarding stall) */
            p->where = sp_state_locate_in(w->be, w->acc_state, sp_key_hash(t.key, t.klen - 16), last_ns);
        }
        if (popped - fired > AHEAD / 2)
            sp_state_prefetch_value(w->be, w->ahead[(popped - AHEAD / 2) % RING].where);
        if ((more && popped - fired <= AHEAD) || fired == popped) continue;
        ahead_t *q = &w->ahead[fired++ % RING];
        spate_key_t k = w->key;
        w->key = q->key;
        q->key = k;
        w->key_group = q->key_group;
        w->where = w->at = q->where;
        w->located = w->at_known = true;
        int rc = fire(w, &q->win);
        w->located = false;
        if (rc == SPATE_OK) clear_window(w, &q->win);
        w->at_known = false;
        if (rc) return rc;
    }
    return SPATE_OK;
}

static int win_process_watermark(void *inst, int64_t wm)
{
    win_op_t *w = inst;
    if (wm <= w->watermark) return SPATE_OK; /* behind the restored one (win_restore) */
    w->watermark = wm;
    if (w->ahead && w->spec->unique_timer) {
        int rc = fire_ahead(w, wm);
        if (rc) return rc;
    }
    sp_timer_t t;
    while (sp_timers_pop(&w->timers, wm, &t)) {
        int rc = on_window_timer(w, &t, false);
        if (rc) return rc;
    }
    int rc = sp_collector_flush(&w->out);
    if (rc == SPATE_OK) rc = sp_collector_flush(&w->late);
    return rc ? rc : sp_output_push_watermark(w->ctx->out, wm);
}

static int win_on_timer(void *inst, int64_t now)
{
    win_op_t *w = inst;
    sp_timer_t t;
    int rc = SPATE_OK;
    while (rc == SPATE_OK && sp_timers_pop(&w->ptimers, now, &t)) {
        rc = on_window_timer(w, &t, true);
    }
    w->ctx->timer_at = sp_timers_next(&w->ptimers);
    if (rc == SPATE_OK) rc = sp_collector_flush(&w->out);
    return rc;
}

static int win_end_input(void *inst)
{
    win_op_t *w = inst;
    int rc = sp_collector_flush(&w->out);
    return rc ? rc : sp_collector_flush(&w->late);
}

static void win_destroy(void *spec)
{
    win_spec_t *s = spec;
    free(s->keep);
    free(s);
}

/* ---- checkpoint hooks ----
 * The container: KEYED "keyed" (acc, sessions, trigger), TIMERS "event" and "processing" (unique
 * timers keep their flag, so a restored window still has its one timer and gets no second).  The
 * look-ahead ring and `where` hold nothing between batches.  OPERATOR "watermark": unlike Flink,
 * the watermark is restored (the smallest of the old instances'), so a record late before a
 * failure is late after it too, and goes to the late output again instead of opening a window;
 * the lower watermarks the sources send while they catch up are ignored. */

/* The container's sections into c; the keyed state as a part of `later` instead when given. */
static int win_sections(win_op_t *w, sp_opsnap_t *c, sp_opsnap_later_t *later)
{
    sp_error_t *err = w->ctx->error;
    int first, last;
    sp_api_key_groups(w->ctx, &first, &last);
    /* first: the checksummed sections last.  Not the maximum (a drained job's): restored, it would make
     * every later record late */
    if (w->event_time && w->watermark != SP_WATERMARK_MAX) sp_api_snapshot_watermark(c, w->watermark);
    int rc = later ? sp_api_snapshot_keyed_later(later, SP_OPSNAP_KEYED, "keyed", w->be, first, last, err)
                   : sp_api_snapshot_keyed(c, SP_OPSNAP_KEYED, "keyed", w->be, first, last, err);
    if (rc == SPATE_OK) rc = sp_api_snapshot_timers(c, "event", &w->timers, first, last, err);
    if (rc == SPATE_OK) rc = sp_api_snapshot_timers(c, "processing", &w->ptimers, first, last, err);
    return rc;
}

static int win_snapshot(void *inst, int64_t checkpoint_id, uint8_t **data, size_t *len)
{
    SP_UNUSED(checkpoint_id);
    sp_opsnap_t c;
    sp_opsnap_init(&c);
    int rc = win_sections(inst, &c, NULL);
    if (rc) {
        sp_opsnap_fini(&c);
        return rc;
    }
    sp_opsnap_finish(&c, data, len);
    return SPATE_OK;
}

static int win_snapshot_later(void *inst, int64_t checkpoint_id, sp_opsnap_later_t **out)
{
    SP_UNUSED(checkpoint_id);
    sp_opsnap_later_t *l = sp_opsnap_later_create();
    int rc = win_sections(inst, &l->now, l);
    if (rc) {
        sp_opsnap_later_destroy(l);
        l = NULL;
    }
    *out = l;
    return rc;
}

static int win_restore(void *inst, const sp_opsnap_restore_t *r)
{
    win_op_t *w = inst;
    sp_error_t *err = w->ctx->error;
    int rc = sp_api_restore_keyed(r, "keyed", w->be, err);
    if (rc == SPATE_OK) rc = sp_api_restore_timers(r, "event", &w->timers, err);
    if (rc == SPATE_OK) rc = sp_api_restore_timers(r, "processing", &w->ptimers, err);
    if (rc == SPATE_OK) rc = sp_api_restore_watermark(r, &w->watermark, err);
    int64_t next = sp_timers_next(&w->ptimers);
    if (next < w->ctx->timer_at) w->ctx->timer_at = next;
    return rc;
}

static const sp_op_vtable_t win_vt = { .kind = "window",
                                       .open = win_open,
                                       .process_batch = win_process_batch,
                                       .process_watermark = win_process_watermark,
                                       .end_input = win_end_input,
                                       .close = win_close,
                                       .destroy_spec = win_destroy,
                                       .on_timer = win_on_timer,
                                       .snapshot = win_snapshot,
                                       .snapshot_later = win_snapshot_later,
                                       .restore = win_restore };

/* ---- the trigger context ---- */

int64_t spate_trigger_context_watermark(const spate_trigger_context_t *tc)
{
    return tc->w->watermark;
}

int64_t spate_trigger_context_processing_time(const spate_trigger_context_t *tc)
{
    return sp_op_ctx_now(tc->w->ctx);
}

void spate_trigger_register_event_time(spate_trigger_context_t *tc, int64_t time)
{
    timer_set(tc->w, false, tc->win, time, true);
}

void spate_trigger_delete_event_time(spate_trigger_context_t *tc, int64_t time)
{
    timer_set(tc->w, false, tc->win, time, false);
}

void spate_trigger_register_processing_time(spate_trigger_context_t *tc, int64_t time)
{
    timer_set(tc->w, true, tc->win, time, true);
}

void spate_trigger_delete_processing_time(spate_trigger_context_t *tc, int64_t time)
{
    timer_set(tc->w, true, tc->win, time, false);
}

/* Trigger state namespace: [window][name]. */
static size_t trigger_ns(uint8_t *ns, const spate_window_t *win, const char *name)
{
    size_t l = strlen(name);
    if (l > TRIGGER_NAME) l = TRIGGER_NAME;
    put_window(ns, win);
    memcpy(ns + 16, name, l);
    return 16 + l;
}

int64_t spate_trigger_state_get_in(spate_trigger_context_t *tc, const spate_window_t *win, const char *name,
                                   void *buf, size_t cap)
{
    win_op_t *w = tc->w;
    uint8_t ns[16 + TRIGGER_NAME];
    size_t nl = trigger_ns(ns, win, name), len;
    const uint8_t *v =
        sp_state_get(w->be, w->trigger_state, w->key_group, w->key.buf, w->key.len, ns, nl, &len);
    if (!v) return -1;
    memcpy(buf, v, len < cap ? len : cap);
    return (int64_t)len;
}

int64_t spate_trigger_state_get(spate_trigger_context_t *tc, const char *name, void *buf, size_t cap)
{
    return spate_trigger_state_get_in(tc, tc->win, name, buf, cap);
}

void spate_trigger_state_put(spate_trigger_context_t *tc, const char *name, const void *value, size_t len)
{
    win_op_t *w = tc->w;
    uint8_t ns[16 + TRIGGER_NAME];
    size_t nl = trigger_ns(ns, tc->win, name);
    sp_state_put(w->be, w->trigger_state, w->key_group, w->key.buf, w->key.len, ns, nl, value, len);
}

void spate_trigger_state_clear(spate_trigger_context_t *tc, const char *name)
{
    win_op_t *w = tc->w;
    uint8_t ns[16 + TRIGGER_NAME];
    size_t nl = trigger_ns(ns, tc->win, name);
    sp_state_remove(w->be, w->trigger_state, w->key_group, w->key.buf, w->key.len, ns, nl);
}

/* ---- API ---- */

spate_windowed_t *spate_keyed_window(spate_keyed_t *k, spate_window_assigner_t assigner)
{
    if (!k) return NULL;
    bool ok = assigner.kind == SPATE_WINDOW_COUNT     ? assigner.size > 0 && assigner.slide > 0
              : assigner.kind == SPATE_WINDOW_SESSION ? assigner.gap > 0
              : assigner.kind == SPATE_WINDOW_GLOBAL  ? true
              : assigner.kind == SPATE_WINDOW_TUMBLING
                  ? assigner.size > 0
                  : assigner.kind == SPATE_WINDOW_SLIDING && assigner.size > 0 && assigner.slide > 0;
    if (!ok) {
        sp_api_fail(k->s.env, SPATE_EINVAL, "window: sizes, slides and gaps must be > 0");
        return NULL;
    }
    spate_windowed_t *w = sp_xcalloc(1, sizeof *w);
    w->keyed = k;
    w->assigner = assigner;
    sp_api_own(k->s.env, w);
    return w;
}

spate_windowed_t *spate_windowed_allowed_lateness(spate_windowed_t *w, int64_t ms)
{
    if (w) w->lateness = ms > 0 ? ms : 0;
    return w;
}

spate_windowed_t *spate_windowed_trigger(spate_windowed_t *w, spate_trigger_t trigger)
{
    if (!w) return NULL;
    if (sp_trigger_needs_positive_n(&trigger) && trigger.n <= 0) {
        sp_api_fail(w->keyed->s.env, SPATE_EINVAL, "window trigger: counts and intervals must be > 0");
        return NULL;
    }
    if (w->assigner.kind == SPATE_WINDOW_SESSION && !trigger.on_merge) {
        sp_api_fail(w->keyed->s.env, SPATE_EINVAL,
                    "window trigger: session windows merge, and this trigger has no on_merge");
        return NULL;
    }
    w->trigger = trigger;
    w->has_trigger = true;
    return w;
}

spate_windowed_t *spate_windowed_evictor(spate_windowed_t *w, spate_evictor_t evictor)
{
    if (!w) return NULL;
    const char *bad = sp_evictor_check(&evictor);
    if (bad) {
        sp_api_fail(w->keyed->s.env, SPATE_EINVAL, "window evictor: %s", bad);
        return NULL;
    }
    w->evictor = evictor;
    w->has_evictor = true;
    return w;
}

/* Windows of a window join take only spate_windowed_join. */
static bool joined(spate_windowed_t *w, const char *name)
{
    if (w->right)
        sp_api_fail(w->keyed->s.env, SPATE_EINVAL,
                    "window '%s': windows of a window join need spate_windowed_join", name ? name : "");
    return w->right != NULL;
}

/* The operator's spec: the assigner's default trigger unless one was given (count windows:
 * Flink's purging count trigger, or count trigger and count evictor when sliding). */
static win_spec_t *make_spec(spate_windowed_t *w)
{
    const spate_window_assigner_t *a = &w->assigner;
    win_spec_t *spec = sp_xcalloc(1, sizeof *spec);
    spec->key = w->keyed->s.inputs[0].key;
    if (w->right) spec->key2 = w->right->s.inputs[0].key;
    spec->assigner = *a;
    spec->lateness = w->lateness;
    spec->evictor = w->evictor;
    spec->has_evictor = w->has_evictor;
    if (w->has_trigger)
        spec->trigger = w->trigger;
    else if (a->kind == SPATE_WINDOW_COUNT && a->slide == a->size)
        spec->trigger = spate_purging_trigger(spate_count_trigger(a->size));
    else if (a->kind == SPATE_WINDOW_COUNT)
        spec->trigger = spate_count_trigger(a->slide);
    else if (a->kind == SPATE_WINDOW_GLOBAL)
        spec->trigger = spate_never_trigger();
    else
        spec->trigger = a->processing_time ? spate_processing_time_trigger() : spate_event_time_trigger();
    if (a->kind == SPATE_WINDOW_COUNT && a->slide != a->size && !w->has_evictor) {
        spec->evictor = spate_count_evictor(a->size, false);
        spec->has_evictor = true;
    }
    spec->fast_et = sp_trigger_is_event_time(&spec->trigger) && !spec->trigger.purging;
    spec->unique_timer = spec->fast_et && spec->lateness == 0 && !a->processing_time &&
                         (a->kind == SPATE_WINDOW_TUMBLING || a->kind == SPATE_WINDOW_SLIDING);
    spec->rows = spec->has_evictor;
    return spec;
}

spate_stream_t *spate_windowed_aggregate(spate_windowed_t *w, const char *name,
                                         const spate_aggregate_function_t *fn,
                                         const spate_schema_t *out_schema)
{
    if (!w || joined(w, name)) return NULL;
    if (!fn || !fn->add || !fn->emit || !out_schema) {
        sp_api_fail(w->keyed->s.env, SPATE_EINVAL,
                    "window aggregate '%s': needs add, emit and an output schema", name ? name : "");
        return NULL;
    }
    win_spec_t *spec = make_spec(w);
    spec->fn = *fn;
    if (fn->key_only && !spec->rows) {
        if (spec->key.fn != sp_field_key_fn) {
            free(spec);
            sp_api_fail(
                w->keyed->s.env, SPATE_EINVAL,
                "window aggregate '%s': key_only needs a stream keyed by fields (spate_stream_key_by_field)",
                name ? name : "");
            return NULL;
        }
        const sp_field_key_t *fk = spec->key.ctx;
        spec->keep = sp_xcalloc(((size_t)spate_schema_field_count(w->keyed->s.schema) + 7) / 8, 1);
        for (int i = 0; i < fk->n; i++) sp_bit_set(spec->keep, (uint32_t)fk->fields[i], true);
    }
    return sp_api_add_operator(&w->keyed->s, name, "Window", &win_vt, spec, out_schema);
}

spate_stream_t *spate_windowed_reduce(spate_windowed_t *w, const char *name, spate_reduce_fn fn, void *ctx)
{
    if (!w || joined(w, name)) return NULL;
    if (!fn) {
        sp_api_fail(w->keyed->s.env, SPATE_EINVAL, "window reduce '%s': needs a function", name ? name : "");
        return NULL;
    }
    win_spec_t *spec = make_spec(w);
    spec->reduce = fn;
    spec->reduce_ctx = ctx;
    spec->rows = true;
    return sp_api_add_operator(&w->keyed->s, name, "WindowReduce", &win_vt, spec, NULL);
}

spate_stream_t *spate_windowed_process(spate_windowed_t *w, const char *name, spate_window_process_fn fn,
                                       void *ctx, const spate_schema_t *out_schema)
{
    if (!w || joined(w, name)) return NULL;
    if (!fn || !out_schema) {
        sp_api_fail(w->keyed->s.env, SPATE_EINVAL,
                    "process window '%s': needs a function and an output schema", name ? name : "");
        return NULL;
    }
    win_spec_t *spec = make_spec(w);
    spec->process = fn;
    spec->process_ctx = ctx;
    spec->rows = true;
    return sp_api_add_operator(&w->keyed->s, name, "ProcessWindow", &win_vt, spec, out_schema);
}

spate_windowed_t *spate_keyed_window_join(spate_keyed_t *left, spate_keyed_t *right,
                                          spate_window_assigner_t assigner)
{
    if (!left || !right) return NULL;
    spate_windowed_t *w = spate_keyed_window(left, assigner);
    if (w) w->right = right;
    return w;
}

spate_stream_t *spate_windowed_join(spate_windowed_t *w, const char *name, spate_join_fn fn, void *ctx,
                                    const spate_schema_t *out_schema)
{
    if (!w) return NULL;
    if (!w->right || !fn || !out_schema) {
        sp_api_fail(w->keyed->s.env, SPATE_EINVAL,
                    "window join '%s': needs windows from spate_keyed_window_join, a function and an output "
                    "schema",
                    name ? name : "");
        return NULL;
    }
    win_spec_t *spec = make_spec(w);
    spec->join = fn;
    spec->join_ctx = ctx;
    spec->rows = true;
    return sp_api_two_input(spate_keyed_connect(w->keyed, w->right), name, "WindowJoin", &win_vt, spec,
                            out_schema);
}

spate_stream_t *spate_window_late_data(spate_stream_t *windowed)
{
    if (!windowed) return NULL;
    sp_node_t *n = windowed->env->graph.nodes[windowed->self];
    if (n->vt != &win_vt || ((const win_spec_t *)n->spec)->join) {
        sp_api_fail(windowed->env, SPATE_EINVAL,
                    "late data: '%s' is not a window operator (window joins drop late rows)", n->name);
        return NULL;
    }
    /* the window's input schema: the node feeding it */
    const sp_graph_t *g = &windowed->env->graph;
    const spate_schema_t *in = NULL;
    for (int i = 0; i < g->nedges; i++)
        if (g->edges[i].to == n->id) in = g->nodes[g->edges[i].from]->out_schema;
    return sp_api_side_output(windowed, LATE_TAG, in);
}
