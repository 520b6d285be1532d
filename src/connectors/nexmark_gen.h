/*
 * nexmark_gen.h — the Nexmark event generator (persons, auctions, bids).
 *
 * Purpose.  A pure, dependency-free implementation of the generator model of
 * /work/shared/reference/nexmark.md §1.3 (Flink's nexmark generator).  It
 * knows nothing of schemas, batches or arenas: it fills a plain C struct per
 * event.  Two users: the engine's Nexmark source connector and the
 * hand-written baseline loop of the benchmarks.
 *
 * Model, in short (event id e, event number n, P = sum of proportions):
 *   - e % P picks the type: [0, person) person, then auctions, then bids.
 *   - person / auction ids are sequential in e: (e / P) * proportion + offset
 *     + 1000; references pick hot ids or a random id among the last
 *     num_active_people people / num_in_flight_auctions auctions, plus 10
 *     ids that do not exist yet.  Bidder ids carry Flink's +2000 quirk.
 *   - date_time = base_time_ms + floor(n * count * 1000 / first_event_rate),
 *     exact integer arithmetic (no float drift); n counts from 0 within the
 *     split, so event 0 of every split is at base_time_ms.
 *
 * Parallel splits.  Split `index` of `count` owns a disjoint, contiguous
 * range of event ids (so of person and auction ids) and numbers its own
 * events from 0, so all splits advance event time in lock-step.  With
 * events_num N the shares are N / count, the first N % count splits taking
 * one more; together exactly N events.  With events_num 0 ("unbounded") each
 * split owns 2^62 / count ids, which no run exhausts.
 *
 * Randomness.  Every event draws from its own counter-based stream (wyrand
 * draws from a splitmix64 hash of (seed, event id)), so an event
 * depends only on the config and its event id and position: seek is O(1),
 * and the same config + index + count always gives the same events.  Not
 * bit-identical with Java's Random, by design.
 *
 * Deviations from Flink, all deliberate:
 *   - event ids of a split start at its first id (split 0: id 0, a person),
 *     where Flink starts at 1 (an auction);
 *   - itemName, description and email parts never start or end with the
 *     special char (' '), so their lengths stay inside 3..19 / 3..99 /
 *     3..6 and 3..4; Java generates the special anywhere and then trims;
 *   - for speed, itemName, description and the email parts are copies of
 *     random slices of one shared 64 KB pool of random text (a-z, ' ' at
 *     1/13), not fresh chars: each string has the model's distribution,
 *     but strings of different events may overlap or repeat;
 *   - hot-channel and channel-cache URLs are drawn from a fixed seed, where
 *     Java draws them from an unseeded Random on every JVM start;
 *   - bounded draws use multiply-shift, not Java's rejection sampling
 *     (bias below n / 2^32).
 *
 * Thread-safety.  One generator per thread; a generator is never shared.
 * The only shared state is a set of read-only tables (the 1 MB padding
 * string for `extra`, the 10,000 cached channels and URLs, person names,
 * price tables), built once by the first sp_nexmark_gen_init through
 * pthread_once (about 7 ms, 2.2 MB of BSS) and never written again.
 *
 * Ownership.  Every sp_str_t filled in an event is borrowed: it points into
 * the generator (email, credit card, item name, description) or into the
 * shared static tables (names, cities, states, extra, channel, url), and is
 * valid until the next call on the same generator (static slices in fact
 * live forever, but callers must not rely on which is which).  Slices are
 * not NUL-terminated.
 */
#ifndef SPATE_CONNECTORS_NEXMARK_GEN_H
#define SPATE_CONNECTORS_NEXMARK_GEN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Ids of the model (nexmark.md §1.3). */
#define SP_NEXMARK_FIRST_PERSON_ID   1000
#define SP_NEXMARK_FIRST_AUCTION_ID  1000
#define SP_NEXMARK_FIRST_CATEGORY_ID 10
#define SP_NEXMARK_NUM_CATEGORIES    5
#define SP_NEXMARK_PERSON_ID_LEAD    10
#define SP_NEXMARK_AUCTION_ID_LEAD   10
/* Size of the hot-seller / hot-bidder / hot-auction blocks. */
#define SP_NEXMARK_HOT_BLOCK 100
/* Flink's BidGenerator adds FIRST_PERSON_ID to the bidder a second time. */
#define SP_NEXMARK_BIDDER_QUIRK 1000
/* Number of cached non-hot channels ("channel-0" .. "channel-9999"). */
#define SP_NEXMARK_NUM_CHANNELS 10000
/* Length of the shared padding string that `extra` fields are sliced from. */
#define SP_NEXMARK_EXTRA_POOL (1u << 20)

typedef struct sp_nexmark_config {
    uint64_t events_num;       /* total over all splits; 0 = unbounded */
    uint64_t first_event_rate; /* events per event-time second, all splits together */
    uint32_t person_proportion, auction_proportion, bid_proportion;   /* 1, 3, 46 */
    uint32_t avg_person_size, avg_auction_size, avg_bid_size;         /* 200, 500, 100 */
    uint32_t hot_auction_ratio, hot_sellers_ratio, hot_bidders_ratio; /* 2, 4, 4 */
    uint32_t num_in_flight_auctions, num_active_people;               /* 100, 1000 */
    int64_t base_time_ms; /* event time of event number 0; the source sets it to the wall clock */
    uint64_t seed;        /* keys all per-event randomness */
} sp_nexmark_config_t;

/* Fill *cfg with Flink's defaults (the values in the comments above),
 * base_time_ms = 0 and a fixed seed. */
void sp_nexmark_config_init(sp_nexmark_config_t *cfg);

/* A borrowed string slice, not NUL-terminated (see Ownership above). */
typedef struct sp_str {
    const char *ptr;
    uint32_t len;
} sp_str_t;

enum { SP_NEXMARK_PERSON = 0, SP_NEXMARK_AUCTION = 1, SP_NEXMARK_BID = 2 };

typedef struct sp_nexmark_person {
    int64_t id;
    sp_str_t name, email, credit_card, city, state;
    int64_t date_time; /* ms since the epoch */
    sp_str_t extra;
} sp_nexmark_person_t;

typedef struct sp_nexmark_auction {
    int64_t id;
    sp_str_t item_name, description;
    int64_t initial_bid, reserve, date_time, expires, seller, category;
    sp_str_t extra;
} sp_nexmark_auction_t;

typedef struct sp_nexmark_bid {
    int64_t auction, bidder, price;
    sp_str_t channel, url;
    int64_t date_time;
    sp_str_t extra;
} sp_nexmark_bid_t;

typedef struct sp_nexmark_event {
    int type; /* SP_NEXMARK_PERSON / _AUCTION / _BID: which union member is set */
    union {
        sp_nexmark_person_t person;
        sp_nexmark_auction_t auction;
        sp_nexmark_bid_t bid;
    } u;
} sp_nexmark_event_t;

/*
 * The generator.  Exposed so that callers can embed it (operator state, a
 * stack variable in a benchmark loop) without an allocation; its fields are
 * private to nexmark_gen.c — read them through the functions below.  About
 * 470 bytes; plain data, no pointers to itself, so it may be copied (a copy
 * continues the same sequence independently).
 */
typedef struct sp_nexmark_gen {
    /* Immutable after init. */
    sp_nexmark_config_t cfg;
    uint64_t first_event_id; /* first event id of this split */
    uint64_t share;          /* events this split produces */
    uint64_t key;            /* hash of the seed: keys per-event streams */
    uint32_t total_prop;     /* person + auction + bid proportions */
    uint64_t ts_num;         /* count * 1000: ms numerator per event */
    uint64_t ts_step_q;      /* ts_num / rate */
    uint64_t ts_step_r;      /* ts_num % rate */
    uint64_t horizon_q;      /* auction horizon, see make_auction */
    uint64_t horizon_r;
    uint32_t bid_extra_min; /* bid extra length: min + uniform(span) ... */
    uint32_t bid_extra_span;
    uint32_t bid_extra_offsets; /* ... at offset uniform(offsets) in the pool */
    uint64_t hot_auction_min;   /* a 32-bit draw >= this picks the hot auction (bids) */
    uint64_t hot_bidder_min;    /* ... the hot bidder (bids) */
    uint64_t hot_seller_min;    /* ... the hot seller (auctions) */
    /* Cursor: the next event. */
    uint64_t pos;    /* events emitted by this split */
    uint64_t epoch;  /* (first_event_id + pos) / total_prop */
    uint32_t offset; /* (first_event_id + pos) % total_prop */
    uint64_t ts_rem; /* remainder of pos * ts_num / rate */
    int64_t ts_ms;   /* date_time of the next event */
    /* Bid references for the current epoch (they change once per epoch),
     * final ids including FIRST_*_ID and the bidder quirk. */
    int64_t ep_hot_auction, ep_min_auction;
    int64_t ep_hot_bidder, ep_min_bidder;
    uint32_t ep_auction_range, ep_bidder_range;
    /* Scratch for strings that are not slices of the shared tables. */
    char email[16];
    char credit_card[20];
    char item_name[32];
    char description[128];
} sp_nexmark_gen_t;

/*
 * Set up *g as split `index` of `count` for *cfg (copied; cfg may be freed
 * afterwards).  Builds the shared tables on first use (once per process,
 * about 7 ms, thread-safe).  Returns 0, or -1 (SPATE_EINVAL's value) when
 * the config is invalid: count 0, index >= count, a zero total proportion,
 * rate 0, a hot ratio 0, num_active_people or num_in_flight_auctions above
 * 2^31, avg_bid_size above the 1 MB pool, or rate * count * 1000 >= 2^63.
 * Never allocates.
 */
int sp_nexmark_gen_init(sp_nexmark_gen_t *g, const sp_nexmark_config_t *cfg, uint32_t index, uint32_t count);

/*
 * Generate the next event of the split into *ev and return 1, or return 0
 * once the split has produced its share (and keep returning 0).  Strings in
 * *ev are borrowed until the next call on g.  No allocation, no locks.
 */
int sp_nexmark_gen_next(sp_nexmark_gen_t *g, sp_nexmark_event_t *ev);

/*
 * Bid-only fast path: skip persons and auctions (they are not built, but
 * they count in the position, and ids are unaffected because every event is
 * a function of its event id) and fill *bid with the next bid.  Returns 1,
 * or 0 when the split is exhausted.  The bids equal those sp_nexmark_gen_next
 * returns, in the same order.
 */
int sp_nexmark_gen_next_bid(sp_nexmark_gen_t *g, sp_nexmark_bid_t *bid);

/* Events emitted (or skipped by next_bid) so far by this split: the
 * checkpoint state of a source split. */
uint64_t sp_nexmark_gen_position(const sp_nexmark_gen_t *g);

/* Number of events this split produces in all (its share of events_num, or
 * 2^62 / count when unbounded). */
uint64_t sp_nexmark_gen_split_events(const sp_nexmark_gen_t *g);

/* Event time (ms) of the next event, valid also when exhausted (the time
 * the next event would have had): for watermarks and emission pacing. */
int64_t sp_nexmark_gen_next_time(const sp_nexmark_gen_t *g);

/* Event time (ms) of the next event of `type` (SP_NEXMARK_PERSON, _AUCTION, _BID; -1: of any
 * type) this split produces, or INT64_MAX when it produces no more of that type.  O(1): a reader
 * of several splits merges them in event-time order with it. */
int64_t sp_nexmark_gen_next_time_of(const sp_nexmark_gen_t *g, int type);

/*
 * Restore to `position` (as returned by sp_nexmark_gen_position, possibly by
 * another generator with the same config, index and count): the following
 * events equal those of an uninterrupted run.  O(1); may move backwards.
 * Returns 0, or -1 if position > sp_nexmark_gen_split_events(g).
 */
int sp_nexmark_gen_seek(sp_nexmark_gen_t *g, uint64_t position);

/* Release *g.  Owns no resources today; call it anyway so that may change. */
void sp_nexmark_gen_fini(sp_nexmark_gen_t *g);

#ifdef __cplusplus
}
#endif
#endif
