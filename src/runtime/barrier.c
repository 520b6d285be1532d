/* barrier.c — see barrier.h. */
#include "runtime/barrier.h"

#include <assert.h>
#include <string.h>
#include <strings.h>

void sp_barrier_init(sp_barrier_t *h, int nchannels, sp_barrier_mode_t mode)
{
    assert(nchannels >= 1);
    memset(h, 0, sizeof *h);
    h->mode = mode;
    h->n = nchannels;
    h->blocked = sp_xcalloc((size_t)nchannels, 1);
    h->ended = sp_xcalloc((size_t)nchannels, 1);
    h->last = sp_xcalloc((size_t)nchannels, sizeof *h->last);
}

void sp_barrier_fini(sp_barrier_t *h)
{
    free(h->blocked);
    free(h->ended);
    free(h->last);
    h->blocked = h->ended = NULL;
    h->last = NULL;
}

void sp_barrier_set_unaligned(sp_barrier_t *h, bool unaligned, int64_t aligned_timeout_ns)
{
    h->unaligned = unaligned && h->mode == SP_BARRIER_EXACTLY_ONCE;
    h->aligned_timeout_ns = aligned_timeout_ns > 0 ? aligned_timeout_ns : 0;
}

bool sp_barrier_parse_mode(const char *s, sp_barrier_mode_t *mode)
{
    if (!strcasecmp(s, "EXACTLY_ONCE"))
        *mode = SP_BARRIER_EXACTLY_ONCE;
    else if (!strcasecmp(s, "AT_LEAST_ONCE"))
        *mode = SP_BARRIER_AT_LEAST_ONCE;
    else
        return false;
    return true;
}

const char *sp_barrier_mode_name(sp_barrier_mode_t mode)
{
    return mode == SP_BARRIER_AT_LEAST_ONCE ? "AT_LEAST_ONCE" : "EXACTLY_ONCE";
}

static void unblock_all(sp_barrier_t *h)
{
    if (h->nblocked == 0) return;
    memset(h->blocked, 0, (size_t)h->n);
    h->nblocked = 0;
}

static void queue(sp_barrier_t *h, sp_barrier_action_kind_t kind, const sp_barrier_pending_t *p,
                  int64_t now_ns)
{
    assert(h->nact < (int)SP_ARRAY_LEN(h->act));
    sp_barrier_action_t *a = &h->act[h->nact++];
    a->kind = kind;
    a->checkpoint_id = p->id;
    a->unaligned = p->unaligned;
    a->stats = (sp_barrier_stats_t){ .checkpoint_id = p->id,
                                     .start_ns = p->start_ns,
                                     .end_ns = now_ns,
                                     .batches = h->batches - p->batches0,
                                     .rows = h->rows - p->rows0,
                                     .bytes = h->bytes - p->bytes0 };
    /* the statistics the snapshot reports: to the snapshot (aligned: the alignment; unaligned: until the
     * switch) */
    if (kind == SP_BARRIER_SNAPSHOT || (kind == SP_BARRIER_COMPLETE && !p->unaligned))
        h->last_complete = a->stats;
}

/* Removes pending[i] with action `kind`.  In EXACTLY_ONCE the one checkpoint still aligning owns every
 * blocked channel, so its end unblocks them (an unaligned one blocks nothing). */
static void finish(sp_barrier_t *h, int i, sp_barrier_action_kind_t kind, int64_t now_ns)
{
    bool aligning = !h->pending[i].unaligned;
    queue(h, kind, &h->pending[i], now_ns);
    memmove(&h->pending[i], &h->pending[i + 1], sizeof h->pending[0] * (size_t)(h->npending - i - 1));
    h->npending--;
    if (h->mode == SP_BARRIER_EXACTLY_ONCE && aligning) unblock_all(h);
}

/* The newest pending checkpoint every channel delivered (or ended on) completes; older ones are subsumed,
 * except unaligned ones whose in-flight data is whole too (their snapshot went down already). */
static void check_complete(sp_barrier_t *h, int64_t now_ns)
{
    int done = -1;
    for (int i = h->npending - 1; i >= 0 && done < 0; i--)
        if (h->pending[i].count == h->n) done = i;
    if (done < 0) return;
    for (int i = 0; i < done; i++)
        finish(h, 0,
               h->pending[0].unaligned && h->pending[0].count == h->n ? SP_BARRIER_COMPLETE
                                                                      : SP_BARRIER_ABORT,
               now_ns);
    finish(h, 0, SP_BARRIER_COMPLETE, now_ns);
}

/* Pending checkpoint i, still aligning, goes unaligned: the snapshot now, blocked channels read again
 * (what they hold came after its barrier), the others carry in-flight data until their barrier. */
static void go_unaligned(sp_barrier_t *h, int i, int64_t now_ns)
{
    sp_barrier_pending_t *p = &h->pending[i];
    p->unaligned = true;
    queue(h, SP_BARRIER_SNAPSHOT, p, now_ns);
    unblock_all(h);
}

/* An alignment that has lasted the aligned-checkpoint timeout goes unaligned. */
static void check_timeout(sp_barrier_t *h, int64_t now_ns)
{
    if (!h->unaligned || h->aligned_timeout_ns == 0) return;
    for (int i = 0; i < h->npending; i++)
        if (!h->pending[i].unaligned && h->pending[i].id != h->aligned_only &&
            now_ns - h->pending[i].start_ns >= h->aligned_timeout_ns)
            go_unaligned(h, i, now_ns);
}

static void begin_event(sp_barrier_t *h)
{
    assert(h->next_act == h->nact); /* the previous event's actions were taken */
    h->nact = h->next_act = 0;
}

static int find(const sp_barrier_t *h, int64_t id)
{
    for (int i = 0; i < h->npending; i++)
        if (h->pending[i].id == id) return i;
    return -1;
}

/* Starts tracking checkpoint id, the newest (the oldest pending one is aborted to make room): its
 * index. */
static int add_pending(sp_barrier_t *h, int64_t id, int64_t now_ns)
{
    if (h->npending == SP_BARRIER_MAX_PENDING) finish(h, 0, SP_BARRIER_ABORT, now_ns);
    int i = h->npending++;
    h->pending[i] = (sp_barrier_pending_t){ .id = id,
                                            .count = h->nended,
                                            .start_ns = now_ns,
                                            .batches0 = h->batches,
                                            .rows0 = h->rows,
                                            .bytes0 = h->bytes };
    h->latest = id;
    return i;
}

int sp_barrier_on_barrier(sp_barrier_t *h, int c, int64_t id, int64_t now_ns)
{
    begin_event(h);
    assert(c >= 0 && c < h->n && !h->ended[c] && !h->blocked[c] && id > 0);
    if (id <= h->last[c]) return 0; /* ids increase on a channel: a repeat carries nothing new */
    int64_t prev = h->last[c];
    h->last[c] = id;
    /* c skipped the pending checkpoints between its previous barrier and this one: they cannot align.
     * (EXACTLY_ONCE: the one pending checkpoint, when this barrier is newer, is aborted here.) */
    for (int i = 0; i < h->npending;) {
        int64_t k = h->pending[i].id;
        if (k > prev && k < id)
            finish(h, i, SP_BARRIER_ABORT, now_ns);
        else
            i++;
    }
    int i = find(h, id);
    if (i < 0) {
        if (id <= h->latest) return h->nact; /* completed, aborted or cancelled already */
        i = add_pending(h, id, now_ns);
    }
    sp_barrier_pending_t *p = &h->pending[i];
    p->count++;
    if (h->mode == SP_BARRIER_EXACTLY_ONCE && !p->unaligned && p->count < h->n) {
        if (h->unaligned && h->aligned_timeout_ns == 0 && id != h->aligned_only) {
            go_unaligned(h, i, now_ns); /* the first barrier: snapshot now, c is read on */
        } else {
            h->blocked[c] = 1;
            h->nblocked++;
        }
    }
    check_complete(h, now_ns);
    check_timeout(h, now_ns);
    return h->nact;
}

int sp_barrier_on_announce(sp_barrier_t *h, int c, int64_t id, int64_t now_ns)
{
    begin_event(h);
    assert(c >= 0 && c < h->n && !h->ended[c] && id > 0);
    if (!h->unaligned || h->aligned_timeout_ns != 0 || id <= h->last[c] || id <= h->latest ||
        id == h->aligned_only)
        return 0;
    go_unaligned(h, add_pending(h, id, now_ns), now_ns); /* c has not delivered it: count < n */
    return h->nact;
}

int sp_barrier_on_end(sp_barrier_t *h, int c, int64_t now_ns)
{
    begin_event(h);
    assert(c >= 0 && c < h->n && !h->ended[c] && !h->blocked[c]);
    h->ended[c] = 1;
    h->nended++;
    for (int i = 0; i < h->npending; i++)
        if (h->pending[i].id > h->last[c]) h->pending[i].count++; /* counts as delivered */
    check_complete(h, now_ns);
    check_timeout(h, now_ns);
    return h->nact;
}

int sp_barrier_on_cancel(sp_barrier_t *h, int64_t id, int64_t now_ns)
{
    begin_event(h);
    while (h->npending > 0 && h->pending[0].id <= id) finish(h, 0, SP_BARRIER_ABORT, now_ns);
    if (id > h->latest) h->latest = id; /* its barriers, when they come, are ignored */
    return h->nact;
}

int sp_barrier_on_time(sp_barrier_t *h, int64_t now_ns)
{
    begin_event(h);
    check_timeout(h, now_ns);
    return h->nact;
}

int64_t sp_barrier_deadline(const sp_barrier_t *h)
{
    int64_t at = INT64_MAX;
    if (!h->unaligned || h->aligned_timeout_ns == 0) return at;
    for (int i = 0; i < h->npending; i++)
        if (!h->pending[i].unaligned && h->pending[i].id != h->aligned_only &&
            h->pending[i].start_ns + h->aligned_timeout_ns < at)
            at = h->pending[i].start_ns + h->aligned_timeout_ns;
    return at;
}

bool sp_barrier_next(sp_barrier_t *h, sp_barrier_action_t *a)
{
    if (h->next_act == h->nact) return false;
    *a = h->act[h->next_act++];
    return true;
}
