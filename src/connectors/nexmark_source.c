/*
 * nexmark_source.c — the Nexmark generator as a parallel DataStream source.
 *
 * Each subtask runs one generator split (disjoint id ranges, event time in
 * lock-step, see nexmark_gen.h); events.num is split across subtasks.  The
 * event time of every row is its dateTime.  The base time is fixed when the
 * source is constructed (wall clock, as Flink's table source does), so all
 * subtasks share it.  max_events_per_second is split evenly over the
 * subtasks (at least 1 each) and paced with sp_rate_limit (connector.h);
 * it counts generator events, of which a one-kind stream (persons,
 * auctions, bids) emits only its share.
 *
 * Splits.  Generator split i of p is what subtask i of a first run at
 * parallelism p reads; the split count never changes afterwards.  Restored
 * at parallelism q (from a checkpoint or savepoint), split s goes to
 * subtask s mod q, so a reader may own several splits or none.  A reader
 * of several merges them row by row in event-time order (the split whose
 * next event of the stream's kind is earliest, ties to the lowest index,
 * sp_nexmark_gen_next_time_of): each split's events keep their times and
 * order, and the reader's output never goes back in time, so a watermark
 * generated from it (the largest timestamp so far) never passes the next
 * row of any of its splits — Flink's per-split watermarks, whose minimum
 * is the reader's.  A reader without splits ends at once when events.num
 * bounds the source and is otherwise idle (vt->idle), so it holds back no
 * watermark.  max_events_per_second stays the job's total: / q per reader.
 *
 * Position (vt->snapshot; split layout of connector.h, version 2, u64
 * little-endian words after the two header bytes):
 *   offset  size  field
 *   0       1     version = 2
 *   1       1     kind = SP_POS_NEXMARK (4)
 *   2       8     split count P
 *   10      8     n, the splits of this reader
 *   18+16j  8     split index s (< P)                     } j = 0..n-1,
 *   26+16j  8     generator position (events so far)      } sorted by s
 * Version 1 (before splits: [1][4][position], the split of the subtask
 * that wrote it) is still read.  A restore rejects other bytes and a
 * position past its split with SPATE_EPARSE.
 *
 * Speed: rows are written straight into the output batch's column vectors
 * (no per-field calls); the bids-only stream uses the generator's bid fast
 * path, which skips building persons and auctions.
 */
#include "connectors/connector.h"

#include <stddef.h>

#include <string.h>

#include "connectors/nexmark_gen.h"

static const char *const SCHEMAS[] = {
    [SPATE_NEXMARK_ALL] =
        "event_type INT NOT NULL, "
        "person_id BIGINT, person_name STRING, person_emailAddress STRING, person_creditCard STRING, "
        "person_city STRING, person_state STRING, person_dateTime TIMESTAMP(3), person_extra STRING, "
        "auction_id BIGINT, auction_itemName STRING, auction_description STRING, auction_initialBid BIGINT, "
        "auction_reserve BIGINT, auction_dateTime TIMESTAMP(3), auction_expires TIMESTAMP(3), auction_seller "
        "BIGINT, "
        "auction_category BIGINT, auction_extra STRING, "
        "bid_auction BIGINT, bid_bidder BIGINT, bid_price BIGINT, bid_channel STRING, bid_url STRING, "
        "bid_dateTime TIMESTAMP(3), bid_extra STRING, "
        "dateTime TIMESTAMP(3) NOT NULL",
    [SPATE_NEXMARK_PERSONS] = "id BIGINT NOT NULL, name STRING NOT NULL, emailAddress STRING NOT NULL, "
                              "creditCard STRING NOT NULL, city STRING NOT NULL, state STRING NOT NULL, "
                              "dateTime TIMESTAMP(3) NOT NULL, extra STRING NOT NULL",
    [SPATE_NEXMARK_AUCTIONS] =
        "id BIGINT NOT NULL, itemName STRING NOT NULL, description STRING NOT NULL, "
        "initialBid BIGINT NOT NULL, reserve BIGINT NOT NULL, dateTime TIMESTAMP(3) NOT NULL, "
        "expires TIMESTAMP(3) NOT NULL, seller BIGINT NOT NULL, category BIGINT NOT NULL, "
        "extra STRING NOT NULL",
    [SPATE_NEXMARK_BIDS] = "auction BIGINT NOT NULL, bidder BIGINT NOT NULL, price BIGINT NOT NULL, "
                           "channel STRING NOT NULL, url STRING NOT NULL, dateTime TIMESTAMP(3) NOT NULL, "
                           "extra STRING NOT NULL",
};

/* First column of each event kind in the ALL schema. */
enum { ALL_PERSON = 1, ALL_AUCTION = 9, ALL_BID = 19, ALL_TIME = 26 };

/* Bids generated at a time: their structs stay in the L1 cache until their columns are written
 * (a whole batch of them, 100 KB, did not: the generator's writes went to L2). */
#define BID_CHUNK 64

typedef struct nx_spec {
    spate_nexmark_options_t o;
    spate_nexmark_stream_t which;
    /* Projection push-down (bids): output column k is bid field field[k] (0 auction, 1 bidder,
     * 2 price, 3 channel, 4 url, 5 dateTime, 6 extra); projected = false: all seven in order. */
    bool projected;
    int ncols;
    int8_t field[7];
} nx_spec_t;

typedef struct nx_reader {
    const nx_spec_t *spec;
    sp_nexmark_config_t cfg;
    uint32_t count;         /* split count */
    int nsplits;            /* splits this reader owns */
    sp_nexmark_gen_t *gens; /* their generators, by split index */
    uint32_t *index;        /* their split indexes */
    int subtask, parallelism;
    sp_nexmark_bid_t *bids; /* bids stream: one batch of generated bids, written out column by column */
    sp_rate_limit_t rate;   /* this subtask's generator events per second (all kinds, also those a
                           * one-kind stream skips) */
} nx_reader_t;

/* The generator kind a stream emits (-1: all). */
static int stream_type(spate_nexmark_stream_t which)
{
    return which == SPATE_NEXMARK_PERSONS    ? SP_NEXMARK_PERSON
           : which == SPATE_NEXMARK_AUCTIONS ? SP_NEXMARK_AUCTION
           : which == SPATE_NEXMARK_BIDS     ? SP_NEXMARK_BID
                                             : -1;
}

/* The split whose next event of the stream is earliest (ties: the lowest index), -1 when none has
 * one left. */
static int pick(const nx_reader_t *r)
{
    int type = stream_type(r->spec->which), best = -1;
    int64_t at = INT64_MAX;
    for (int k = 0; k < r->nsplits; k++) {
        int64_t t = sp_nexmark_gen_next_time_of(&r->gens[k], type);
        if (t < at) {
            at = t;
            best = k;
        }
    }
    return best;
}

/* Events generated (or skipped) so far over the reader's splits. */
static uint64_t total_position(const nx_reader_t *r)
{
    uint64_t n = 0;
    for (int k = 0; k < r->nsplits; k++) n += sp_nexmark_gen_position(&r->gens[k]);
    return n;
}

void spate_nexmark_options_init(spate_nexmark_options_t *o)
{
    memset(o, 0, sizeof *o);
    o->first_event_rate = 10000;
    o->seed = 42;
}

static int nx_open(const void *spec, const sp_source_ctx_t *ctx, void **reader)
{
    const nx_spec_t *s = spec;
    int p = ctx->info.parallelism > 0 ? ctx->info.parallelism : 1;
    nx_reader_t *r = sp_xcalloc(1, sizeof *r);
    r->spec = s;
    r->subtask = ctx->info.subtask_index;
    r->parallelism = p;
    sp_nexmark_config_init(&r->cfg);
    r->cfg.events_num = s->o.events_num;
    r->cfg.first_event_rate = s->o.first_event_rate;
    r->cfg.base_time_ms = s->o.base_time_ms;
    r->cfg.seed = s->o.seed;
    r->count = (uint32_t)p;
    r->nsplits = 1;
    r->gens = sp_xcalloc_aligned(sizeof *r->gens); /* written per event: keep off other threads' lines */
    r->index = sp_xcalloc(1, sizeof *r->index);
    r->index[0] = (uint32_t)r->subtask;
    if (sp_nexmark_gen_init(&r->gens[0], &r->cfg, (uint32_t)r->subtask, (uint32_t)p) != 0) {
        free(r->gens);
        free(r->index);
        free(r);
        return sp_error_set(ctx->error, SPATE_EINVAL,
                            "nexmark: invalid options (first-event.rate must be > 0)");
    }
    int64_t rate = 0; /* unlimited */
    if (s->o.max_events_per_second > 0) {
        rate = s->o.max_events_per_second / p;
        if (rate < 1) rate = 1;
    }
    sp_rate_limit_init(&r->rate, (double)rate);
    if (s->which == SPATE_NEXMARK_BIDS) r->bids = sp_xmalloc(sizeof *r->bids * BID_CHUNK);
    *reader = r;
    return SPATE_OK;
}

/* Appends a string slice to var-len column c at row i (capacity reserved by the caller). */
static inline void put_str(sp_batch_t *b, int c, uint32_t i, const char *p, uint32_t len)
{
    int32_t *o = b->cols[c].values;
    memcpy(b->cols[c].data + o[i], p, len);
    o[i + 1] = o[i] + (int32_t)len;
}

static inline void put_i64(sp_batch_t *b, int c, uint32_t i, int64_t v)
{
    ((int64_t *)b->cols[c].values)[i] = v;
    sp_bit_set(b->cols[c].validity, i, true);
}

static inline void put_null(sp_batch_t *b, int c, uint32_t i)
{
    sp_bit_set(b->cols[c].validity, i, false);
    if (sp_type_is_varlen(b->schema->fields[c].type)) {
        int32_t *o = b->cols[c].values;
        o[i + 1] = o[i];
    }
}

static inline void put_s(sp_batch_t *b, int c, uint32_t i, sp_str_t s)
{
    sp_batch_reserve_data(b, c, s.len);
    put_str(b, c, i, s.ptr, s.len);
    sp_bit_set(b->cols[c].validity, i, true);
}

static void fill_bid(sp_batch_t *b, int c, uint32_t i, const sp_nexmark_bid_t *x)
{
    put_i64(b, c + 0, i, x->auction);
    put_i64(b, c + 1, i, x->bidder);
    put_i64(b, c + 2, i, x->price);
    put_s(b, c + 3, i, x->channel);
    put_s(b, c + 4, i, x->url);
    put_i64(b, c + 5, i, x->date_time);
    put_s(b, c + 6, i, x->extra);
}

static void fill_person(sp_batch_t *b, int c, uint32_t i, const sp_nexmark_person_t *x)
{
    put_i64(b, c + 0, i, x->id);
    put_s(b, c + 1, i, x->name);
    put_s(b, c + 2, i, x->email);
    put_s(b, c + 3, i, x->credit_card);
    put_s(b, c + 4, i, x->city);
    put_s(b, c + 5, i, x->state);
    put_i64(b, c + 6, i, x->date_time);
    put_s(b, c + 7, i, x->extra);
}

static void fill_auction(sp_batch_t *b, int c, uint32_t i, const sp_nexmark_auction_t *x)
{
    put_i64(b, c + 0, i, x->id);
    put_s(b, c + 1, i, x->item_name);
    put_s(b, c + 2, i, x->description);
    put_i64(b, c + 3, i, x->initial_bid);
    put_i64(b, c + 4, i, x->reserve);
    put_i64(b, c + 5, i, x->date_time);
    put_i64(b, c + 6, i, x->expires);
    put_i64(b, c + 7, i, x->seller);
    put_i64(b, c + 8, i, x->category);
    put_s(b, c + 9, i, x->extra);
}

static void null_range(sp_batch_t *b, int from, int to, uint32_t i)
{
    for (int c = from; c < to; c++) put_null(b, c, i);
}

/* Generates the next row of the chosen stream into b at row i; returns false when exhausted. */
static bool gen_row(nx_reader_t *r, sp_nexmark_gen_t *g, sp_batch_t *b, uint32_t i, int64_t *ts)
{
    sp_nexmark_event_t ev;
    switch (r->spec->which) {
    case SPATE_NEXMARK_BIDS: return false; /* poll_bids */
    case SPATE_NEXMARK_PERSONS:
        do {
            if (!sp_nexmark_gen_next(g, &ev)) return false;
        } while (ev.type != SP_NEXMARK_PERSON);
        fill_person(b, 0, i, &ev.u.person);
        *ts = ev.u.person.date_time;
        return true;
    case SPATE_NEXMARK_AUCTIONS:
        do {
            if (!sp_nexmark_gen_next(g, &ev)) return false;
        } while (ev.type != SP_NEXMARK_AUCTION);
        fill_auction(b, 0, i, &ev.u.auction);
        *ts = ev.u.auction.date_time;
        return true;
    case SPATE_NEXMARK_ALL:
        if (!sp_nexmark_gen_next(g, &ev)) return false;
        ((int32_t *)b->cols[0].values)[i] = ev.type;
        sp_bit_set(b->cols[0].validity, i, true);
        if (ev.type == SP_NEXMARK_PERSON) {
            fill_person(b, ALL_PERSON, i, &ev.u.person);
            *ts = ev.u.person.date_time;
        } else
            null_range(b, ALL_PERSON, ALL_AUCTION, i);
        if (ev.type == SP_NEXMARK_AUCTION) {
            fill_auction(b, ALL_AUCTION, i, &ev.u.auction);
            *ts = ev.u.auction.date_time;
        } else
            null_range(b, ALL_AUCTION, ALL_BID, i);
        if (ev.type == SP_NEXMARK_BID) {
            fill_bid(b, ALL_BID, i, &ev.u.bid);
            *ts = ev.u.bid.date_time;
        } else
            null_range(b, ALL_BID, ALL_TIME, i);
        put_i64(b, ALL_TIME, i, *ts);
        return true;
    }
    return false;
}

/*
 * The bids stream, the hot path (92 % of events): generate BID_CHUNK bids
 * at a time into a struct array, then write each output column in one tight
 * loop (one space check per string column per chunk, validity in whole
 * bytes per batch).  With a pushed-down projection only the requested
 * columns are written, so a string nobody reads is never copied.  Measured:
 * about 4x fewer instructions per bid than filling row by row through a
 * switch.
 *
 * put_bids writes the columns of bids x[0, got) as rows b->count on, and
 * counts them in.
 */
static void put_bids(const nx_spec_t *s, sp_batch_t *b, const sp_nexmark_bid_t *x, uint32_t got)
{
    uint32_t start = b->count;
    int ncols = s->projected ? s->ncols : 7;
    for (int k = 0; k < ncols; k++) {
        sp_column_t *c = &b->cols[k];
        int field = s->projected ? s->field[k] : k;
        int64_t *v = (int64_t *)c->values + start;
        switch (field) {
        case 0:
            for (uint32_t i = 0; i < got; i++) v[i] = x[i].auction;
            break;
        case 1:
            for (uint32_t i = 0; i < got; i++) v[i] = x[i].bidder;
            break;
        case 2:
            for (uint32_t i = 0; i < got; i++) v[i] = x[i].price;
            break;
        case 5:
            for (uint32_t i = 0; i < got; i++) v[i] = x[i].date_time;
            break;
        default: {
            size_t off = field == 3   ? offsetof(sp_nexmark_bid_t, channel)
                         : field == 4 ? offsetof(sp_nexmark_bid_t, url)
                                      : offsetof(sp_nexmark_bid_t, extra);
            size_t total = 0;
            for (uint32_t i = 0; i < got; i++) total += ((const sp_str_t *)((const char *)&x[i] + off))->len;
            sp_batch_reserve_data(b, k, total);
            int32_t *o = (int32_t *)c->values + start;
            char *data = c->data;
            for (uint32_t i = 0; i < got; i++) {
                const sp_str_t *str = (const sp_str_t *)((const char *)&x[i] + off);
                memcpy(data + o[i], str->ptr, str->len);
                o[i + 1] = o[i] + (int32_t)str->len;
            }
        }
        }
    }
    for (uint32_t i = 0; i < got; i++) b->timestamps[start + i] = x[i].date_time;
    memset(b->kinds + start, SPATE_INSERT, got);
    b->count = start + got;
}

static bool poll_bids(nx_reader_t *r, sp_batch_t *b, uint32_t budget)
{
    const nx_spec_t *s = r->spec;
    uint32_t n = SP_MIN(budget, b->capacity - b->count), done = 0;
    sp_nexmark_bid_t *x = r->bids;
    bool more = true;
    while (more && done < n) {
        uint32_t want = SP_MIN(n - done, BID_CHUNK), got = 0;
        if (r->nsplits == 1) {
            while (got < want && sp_nexmark_gen_next_bid(&r->gens[0], &x[got])) got++;
        } else { /* several splits: merged in event-time order (bid strings are static slices) */
            int k;
            while (got < want && (k = pick(r)) >= 0 && sp_nexmark_gen_next_bid(&r->gens[k], &x[got])) got++;
        }
        more = got == want;
        put_bids(s, b, x, got);
        done += got;
    }
    int ncols = s->projected ? s->ncols : 7;
    for (int k = 0; k < ncols; k++) memset(b->cols[k].validity, 0xFF, (b->count + 7) / 8); /* never NULL */
    return done == n;
}

static int nx_poll(void *reader, const sp_source_ctx_t *ctx, int64_t *wait_ms)
{
    nx_reader_t *r = reader;
    if (r->nsplits == 0) { /* no split: nothing ever */
        if (r->spec->o.events_num > 0) return SP_FLOW_END;
        *wait_ms = 100;
        return SP_FLOW_IDLE;
    }
    int64_t allowed = sp_rate_limit_budget(&r->rate, wait_ms);
    if (allowed == 0) return SP_FLOW_IDLE;
    uint32_t budget = (uint32_t)SP_MIN(allowed, SP_BATCH_CAPACITY);
    spate_collector_t *out = ctx->out;
    if (!out->batch) out->batch = sp_batch_create(out->schema, out->capacity);
    sp_batch_t *b = out->batch;
    uint64_t pos0 = total_position(r);
    bool end = false;
    if (r->spec->which == SPATE_NEXMARK_BIDS) {
        end = !poll_bids(r, b, budget);
        sp_rate_limit_sent(&r->rate, (int64_t)(total_position(r) - pos0));
        return end ? SP_FLOW_END : SP_FLOW_MORE;
    }
    for (uint32_t n = 0; n < budget; n++) {
        uint32_t i = b->count;
        int64_t ts = 0;
        int k = r->nsplits == 1 ? 0 : pick(r);
        if (k < 0 || !gen_row(r, &r->gens[k], b, i, &ts)) {
            end = true;
            break;
        }
        b->timestamps[i] = ts;
        b->kinds[i] = SPATE_INSERT;
        b->count = i + 1;
        if (b->count == b->capacity) break; /* the runtime flushes it after this poll */
    }
    sp_rate_limit_sent(&r->rate, (int64_t)(total_position(r) - pos0));
    return end ? SP_FLOW_END : SP_FLOW_MORE;
}

static bool nx_idle(void *reader)
{
    const nx_reader_t *r = reader;
    return r->nsplits == 0 && r->spec->o.events_num == 0;
}

static void nx_close(void *reader)
{
    nx_reader_t *r = reader;
    for (int k = 0; k < r->nsplits; k++) sp_nexmark_gen_fini(&r->gens[k]);
    free(r->gens);
    free(r->index);
    free(r->bids);
    free(r);
}

static void nx_destroy(void *spec)
{
    free(spec);
}

static void *nx_project(const void *spec, const int *idx, int n)
{
    const nx_spec_t *s = spec;
    if (s->which != SPATE_NEXMARK_BIDS || n < 1 || n > 7) return NULL;
    nx_spec_t *p = sp_xmalloc(sizeof *p);
    *p = *s;
    p->projected = true;
    p->ncols = n;
    for (int k = 0; k < n; k++) p->field[k] = s->projected ? s->field[idx[k]] : (int8_t)idx[k];
    return p;
}

/* Position: per split its index and generator position (events emitted or skipped); layout in
 * the file header. */
static int nx_snapshot(void *reader, uint8_t **bytes, size_t *len, sp_error_t *err)
{
    SP_UNUSED(err);
    const nx_reader_t *r = reader;
    uint64_t *v = sp_xcalloc((size_t)r->nsplits * 2 + 1, sizeof *v);
    for (int k = 0; k < r->nsplits; k++) {
        v[2 * k] = r->index[k];
        v[2 * k + 1] = sp_nexmark_gen_position(&r->gens[k]);
    }
    *bytes = sp_source_splits_encode(SP_POS_NEXMARK, r->count, v, r->nsplits, 1, len);
    free(v);
    return SPATE_OK;
}

/* Takes the splits of `got` that are this reader's (all of them, or split s where s mod
 * parallelism is this subtask) as its only splits, each at its position. */
static int take_splits(nx_reader_t *r, const sp_split_pos_t *got, int n, uint32_t count, bool all,
                       sp_error_t *err)
{
    int mine = 0;
    for (int k = 0; k < n; k++) mine += all || (int)(got[k].split % (uint32_t)r->parallelism) == r->subtask;
    sp_nexmark_gen_t *gens = sp_xcalloc_aligned(sizeof *gens * (size_t)(mine + 1));
    uint32_t *index = sp_xcalloc((size_t)mine + 1, sizeof *index);
    int m = 0, rc = SPATE_OK;
    for (int k = 0; rc == SPATE_OK && k < n; k++) {
        if (!all && (int)(got[k].split % (uint32_t)r->parallelism) != r->subtask) continue;
        index[m] = got[k].split;
        sp_nexmark_gen_t *g = &gens[m++];
        if (sp_nexmark_gen_init(g, &r->cfg, got[k].split, count) != 0)
            rc = sp_error_set(err, SPATE_EPARSE,
                              "nexmark source: bad checkpointed position: %u splits do not fit the options",
                              count);
        else if (sp_nexmark_gen_seek(g, got[k].v[0]) != 0)
            rc = sp_error_set(err, SPATE_EPARSE,
                              "nexmark source: the checkpointed position %llu is past the split (split %u "
                              "of %u)",
                              (unsigned long long)got[k].v[0], got[k].split, count);
    }
    if (rc) {
        free(gens);
        free(index);
        return rc;
    }
    for (int k = 0; k < r->nsplits; k++) sp_nexmark_gen_fini(&r->gens[k]);
    free(r->gens);
    free(r->index);
    r->gens = gens;
    r->index = index;
    r->nsplits = m;
    r->count = count;
    return SPATE_OK;
}

static int nx_restore(void *reader, const uint8_t *bytes, size_t len, sp_error_t *err)
{
    nx_reader_t *r = reader;
    sp_split_pos_t *got;
    int n;
    uint32_t count;
    int rc =
        sp_source_splits_decode(&bytes, &len, 1, SP_POS_NEXMARK, 1, (uint32_t)r->subtask,
                                (uint32_t)r->parallelism, false, "nexmark source", &got, &n, &count, err);
    if (rc) return rc;
    if (count > 0) rc = take_splits(r, got, n, count, true, err); /* count 0: no bytes */
    free(got);
    return rc;
}

static int nx_restore_splits(void *reader, const uint8_t *const *positions, const size_t *lens, int npos,
                             sp_error_t *err)
{
    nx_reader_t *r = reader;
    sp_split_pos_t *got;
    int n;
    uint32_t count;
    int rc = sp_source_splits_decode(positions, lens, npos, SP_POS_NEXMARK, 1, 0, (uint32_t)npos, true,
                                     "nexmark source", &got, &n, &count, err);
    if (rc) return rc;
    if (count > 0) rc = take_splits(r, got, n, count, false, err); /* count 0: no position at all */
    free(got);
    return rc;
}

static const sp_source_vtable_t nexmark_vt = { .kind = "nexmark",
                                               .open = nx_open,
                                               .poll = nx_poll,
                                               .close = nx_close,
                                               .destroy = nx_destroy,
                                               .project = nx_project,
                                               .snapshot = nx_snapshot,
                                               .restore = nx_restore,
                                               .restore_splits = nx_restore_splits,
                                               .idle = nx_idle };

spate_source_t *spate_nexmark_source(const spate_nexmark_options_t *opts, spate_nexmark_stream_t which)
{
    if ((unsigned)which > SPATE_NEXMARK_BIDS) {
        sp_set_error(SPATE_EINVAL, "nexmark: unknown stream %d", (int)which);
        return NULL;
    }
    nx_spec_t *spec = sp_xcalloc(1, sizeof *spec);
    if (opts)
        spec->o = *opts;
    else
        spate_nexmark_options_init(&spec->o);
    if (spec->o.first_event_rate == 0) {
        free(spec);
        sp_set_error(SPATE_EINVAL, "nexmark: first-event.rate must be > 0");
        return NULL;
    }
    if (spec->o.base_time_ms == 0) spec->o.base_time_ms = sp_clock_wall_ms();
    spec->which = which;
    spate_schema_t *schema = spate_schema_of(SCHEMAS[which]);
    spate_source_t *s = sp_source_new(&nexmark_vt, spec, schema, spec->o.events_num > 0, true);
    spate_schema_release(schema);
    return s;
}
