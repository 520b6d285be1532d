/*
 * test_nexmark_gen.c — the Nexmark generator against the model of
 * nexmark.md §1.3: event mix, ids and references, value ranges and
 * distributions, string shapes, timestamps, parallel splits, determinism
 * and seek.
 */
#include "test_main.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/nexmark_gen.h"

#define BASE_TIME INT64_C(1700000000000)

static sp_nexmark_config_t config(uint64_t events)
{
    sp_nexmark_config_t c;
    sp_nexmark_config_init(&c);
    c.events_num = events;
    c.base_time_ms = BASE_TIME;
    return c;
}

static void gen_open(sp_nexmark_gen_t *g, const sp_nexmark_config_t *c, uint32_t index, uint32_t count)
{
    assert_int_equal(sp_nexmark_gen_init(g, c, index, count), 0);
}

/* ---- helpers --------------------------------------------------------- */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * UINT64_C(0x100000001b3);
    return h;
}

static uint64_t fnv_i(uint64_t h, int64_t v)
{
    return fnv(h, &v, sizeof v);
}

static uint64_t fnv_s(uint64_t h, sp_str_t s)
{
    h = fnv_i(h, s.len);
    return fnv(h, s.ptr, s.len);
}

static uint64_t bid_hash(uint64_t h, const sp_nexmark_bid_t *b)
{
    h = fnv_i(h, b->auction);
    h = fnv_i(h, b->bidder);
    h = fnv_i(h, b->price);
    h = fnv_s(h, b->channel);
    h = fnv_s(h, b->url);
    h = fnv_i(h, b->date_time);
    return fnv_s(h, b->extra);
}

/* A digest of every field of an event, strings by content. */
static uint64_t event_hash(const sp_nexmark_event_t *e)
{
    uint64_t h = fnv_i(UINT64_C(0xcbf29ce484222325), e->type);
    if (e->type == SP_NEXMARK_PERSON) {
        const sp_nexmark_person_t *p = &e->u.person;
        h = fnv_i(h, p->id);
        h = fnv_s(h, p->name);
        h = fnv_s(h, p->email);
        h = fnv_s(h, p->credit_card);
        h = fnv_s(h, p->city);
        h = fnv_s(h, p->state);
        h = fnv_i(h, p->date_time);
        return fnv_s(h, p->extra);
    }
    if (e->type == SP_NEXMARK_AUCTION) {
        const sp_nexmark_auction_t *a = &e->u.auction;
        h = fnv_i(h, a->id);
        h = fnv_s(h, a->item_name);
        h = fnv_s(h, a->description);
        h = fnv_i(h, a->initial_bid);
        h = fnv_i(h, a->reserve);
        h = fnv_i(h, a->date_time);
        h = fnv_i(h, a->expires);
        h = fnv_i(h, a->seller);
        h = fnv_i(h, a->category);
        return fnv_s(h, a->extra);
    }
    return bid_hash(h, &e->u.bid);
}

static int str_eq(sp_str_t s, const char *c)
{
    return s.len == strlen(c) && memcmp(s.ptr, c, s.len) == 0;
}

static int in_list(sp_str_t s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (str_eq(s, list[i])) return 1;
    return 0;
}

static int is_lower(char c)
{
    return c >= 'a' && c <= 'z';
}

/* [a-z ]{min,max} with letters at both ends */
static void assert_text(const char *p, uint32_t len, uint32_t min, uint32_t max)
{
    assert_in_range(len, min, max);
    for (uint32_t i = 0; i < len; i++) assert_true(is_lower(p[i]) || p[i] == ' ');
    assert_true(is_lower(p[0]));
    assert_true(is_lower(p[len - 1]));
}

/* Java's Math.abs(Integer.reverse(i)) as text, written bit by bit. */
static void java_channel_id(uint32_t i, char *out, size_t cap)
{
    uint32_t r = 0;
    for (int b = 0; b < 32; b++)
        if (i & (UINT32_C(1) << b)) r |= UINT32_C(1) << (31 - b);
    int64_t v = r & 0x80000000u ? (int64_t)r - (INT64_C(1) << 32) : (int64_t)r;
    if (v != INT64_C(-2147483648) && v < 0) v = -v; /* abs(MIN_VALUE) stays negative */
    snprintf(out, cap, "%lld", (long long)v);
}

/* ---- cases ----------------------------------------------------------- */

static void event_mix_is_exact(void **state)
{
    (void)state;
    sp_nexmark_config_t c = config(50000);
    sp_nexmark_gen_t g;
    gen_open(&g, &c, 0, 1);
    sp_nexmark_event_t e;
    uint64_t n[3] = { 0, 0, 0 };
    for (uint64_t i = 0; i < 50000; i++) {
        assert_int_equal(sp_nexmark_gen_next(&g, &e), 1);
        uint64_t off = i % 50;
        int want = off == 0 ? SP_NEXMARK_PERSON : off <= 3 ? SP_NEXMARK_AUCTION : SP_NEXMARK_BID;
        assert_int_equal(e.type, want);
        n[e.type]++;
    }
    assert_int_equal(n[SP_NEXMARK_PERSON], 1000);
    assert_int_equal(n[SP_NEXMARK_AUCTION], 3000);
    assert_int_equal(n[SP_NEXMARK_BID], 46000);
    assert_int_equal(sp_nexmark_gen_next(&g, &e), 0);
    assert_int_equal(sp_nexmark_gen_next(&g, &e), 0);
    assert_int_equal(sp_nexmark_gen_position(&g), 50000);
    sp_nexmark_gen_fini(&g);
}

static void ids_are_sequential(void **state)
{
    (void)state;
    sp_nexmark_config_t c = config(50000);
    sp_nexmark_gen_t g;
    gen_open(&g, &c, 0, 1);
    sp_nexmark_event_t e;
    int64_t next_person = SP_NEXMARK_FIRST_PERSON_ID, next_auction = SP_NEXMARK_FIRST_AUCTION_ID;
    while (sp_nexmark_gen_next(&g, &e)) {
        if (e.type == SP_NEXMARK_PERSON) assert_int_equal(e.u.person.id, next_person++);
        if (e.type == SP_NEXMARK_AUCTION) assert_int_equal(e.u.auction.id, next_auction++);
    }
    assert_int_equal(next_person, 1000 + 1000);
    assert_int_equal(next_auction, 1000 + 3000);
    sp_nexmark_gen_fini(&g);
}

/* Sellers, bidders and bid auctions: hot ids at the configured rates, the
 * rest inside the active window plus the lead, bidders with the +2000
 * quirk.  200,000 events = 4,000 people, so the 1,000-person window slides. */
static void references_follow_the_model(void **state)
{
    (void)state;
    sp_nexmark_config_t c = config(200000);
    sp_nexmark_gen_t g;
    gen_open(&g, &c, 0, 1);
    sp_nexmark_event_t e;
    uint64_t auctions = 0, hot_sellers = 0, bids = 0, hot_bidders = 0, hot_auctions = 0;
    int64_t min_bidder = INT64_MAX;
    for (int64_t id = 0; sp_nexmark_gen_next(&g, &e); id++) {
        int64_t lp = id / 50;         /* base-0 id of the last person so far */
        int64_t la = id / 50 * 3 - 1; /* of the last auction of the previous epoch */
        int64_t num = lp + 1, active = num < 1000 ? num : 1000;
        if (e.type == SP_NEXMARK_AUCTION) {
            int64_t s = e.u.auction.seller - 1000;
            auctions++;
            if (s == lp / 100 * 100)
                hot_sellers++;
            else {
                assert_true(s >= num - active);
                assert_true(s < num + 10);
            }
        } else if (e.type == SP_NEXMARK_BID) {
            la += 3;
            int64_t b = e.u.bid.bidder - 2000, a = e.u.bid.auction - 1000;
            bids++;
            min_bidder = e.u.bid.bidder < min_bidder ? e.u.bid.bidder : min_bidder;
            if (b == lp / 100 * 100 + 1)
                hot_bidders++;
            else {
                assert_true(b >= num - active);
                assert_true(b < num + 10);
            }
            if (a == la / 100 * 100)
                hot_auctions++;
            else {
                int64_t lo = la - 100 < 0 ? 0 : la - 100;
                assert_true(a >= lo);
                assert_true(a <= la + 10);
            }
        }
    }
    assert_true(min_bidder >= 2000);
    /* hot shares 3/4, 3/4, 1/2, plus the random picks that land on the
     * hot id by chance (< 1 %) */
    double fs = (double)hot_sellers / auctions, fb = (double)hot_bidders / bids,
           fa = (double)hot_auctions / bids;
    assert_true(fs > 0.73 && fs < 0.78);
    assert_true(fb > 0.74 && fb < 0.77);
    assert_true(fa > 0.49 && fa < 0.52);
    sp_nexmark_gen_fini(&g);
}

static void prices_are_log_uniform(void **state)
{
    (void)state;
    sp_nexmark_config_t c = config(100000);
    sp_nexmark_gen_t g;
    gen_open(&g, &c, 0, 1);
    sp_nexmark_event_t e;
    uint64_t decile[10] = { 0 }, third[3] = { 0 }, n = 0;
    int64_t lo = INT64_MAX, hi = 0;
    while (sp_nexmark_gen_next(&g, &e)) {
        if (e.type == SP_NEXMARK_AUCTION) {
            assert_in_range(e.u.auction.initial_bid, 100, 100000000);
            assert_in_range(e.u.auction.reserve - e.u.auction.initial_bid, 100, 100000000);
            continue;
        }
        if (e.type != SP_NEXMARK_BID) continue;
        int64_t p = e.u.bid.price;
        assert_in_range(p, 100, 100000000);
        lo = p < lo ? p : lo;
        hi = p > hi ? p : hi;
        int d = (int)(log10((double)p / 100.0) / 6.0 * 10.0);
        decile[d > 9 ? 9 : d]++;
        third[p < 10000 ? 0 : p < 1000000 ? 1 : 2]++;
        n++;
    }
    for (int d = 0; d < 10; d++) {
        double f = (double)decile[d] / n;
        assert_true(f > 0.09 && f < 0.11);
    }
    for (int t = 0; t < 3; t++) {
        double f = (double)third[t] / n;
        assert_true(f > 0.32 && f < 0.35);
    }
    assert_true(lo < 110);
    assert_true(hi > 90000000);
    sp_nexmark_gen_fini(&g);
}

static void categories_are_10_to_14(void **state)
{
    (void)state;
    sp_nexmark_config_t c = config(100000);
    sp_nexmark_gen_t g;
    gen_open(&g, &c, 0, 1);
    sp_nexmark_event_t e;
    uint64_t n[5] = { 0 };
    while (sp_nexmark_gen_next(&g, &e)) {
        if (e.type != SP_NEXMARK_AUCTION) continue;
        assert_in_range(e.u.auction.category, 10, 14);
        n[e.u.auction.category - 10]++;
    }
    for (int k = 0; k < 5; k++) assert_true(n[k] > 6000 * 0.18 && n[k] < 6000 * 0.22);
    sp_nexmark_gen_fini(&g);
}

/* Extra sizes: avg - fixed part +- 20 % (Math.round), bytes a-z. */
static void extra_lengths_follow_avg_sizes(void **state)
{
    (void)state;
    sp_nexmark_config_t c = config(100000);
    sp_nexmark_gen_t g;
    gen_open(&g, &c, 0, 1);
    sp_nexmark_event_t e;
    uint32_t bid_min = UINT32_MAX, bid_max = 0;
    while (sp_nexmark_gen_next(&g, &e)) {
        sp_str_t x;
        if (e.type == SP_NEXMARK_BID) {
            x = e.u.bid.extra;
            bid_min = x.len < bid_min ? x.len : bid_min;
            bid_max = x.len > bid_max ? x.len : bid_max;
            assert_in_range(x.len, 54, 81);
        } else {
            uint32_t fixed, avg;
            if (e.type == SP_NEXMARK_PERSON) {
                const sp_nexmark_person_t *p = &e.u.person;
                fixed = 8 + p->name.len + p->email.len + p->credit_card.len + p->city.len + p->state.len;
                avg = 200;
                x = p->extra;
            } else {
                const sp_nexmark_auction_t *a = &e.u.auction;
                fixed = 8 + a->item_name.len + a->description.len + 40;
                avg = 500;
                x = a->extra;
            }
            uint32_t want = avg - fixed, delta = (uint32_t)lround(want * 0.2);
            assert_in_range(x.len, want - delta, want + delta - 1);
        }
        for (uint32_t i = 0; i < x.len; i++) assert_true(is_lower(x.ptr[i]));
    }
    assert_int_equal(bid_min, 54);
    assert_int_equal(bid_max, 81);
    sp_nexmark_gen_fini(&g);
}

/* One URL per channel, of the shape of Flink's getBaseUrl, with the
 * channel_id suffix on about 90 % of the cached channels. */
static void channels_and_urls_have_flink_shape(void **state)
{
    (void)state;
    static const char *const hot[4] = { "Google", "Facebook", "Baidu", "Apple" };
    static const char prefix[] = "https://www.nexmark.com/";
    static const char item[] = "item.htm?query=1";
    sp_nexmark_config_t c = config(200000);
    sp_nexmark_gen_t g;
    gen_open(&g, &c, 0, 1);
    sp_nexmark_event_t e;
    uint64_t *url_of = calloc(10004, sizeof *url_of); /* channel -> hash of its url */
    assert_non_null(url_of);
    uint64_t bids = 0, hot_bids = 0, with_id = 0, distinct = 0;
    while (sp_nexmark_gen_next(&g, &e)) {
        if (e.type != SP_NEXMARK_BID) continue;
        const sp_nexmark_bid_t *b = &e.u.bid;
        bids++;
        size_t slot = 0;
        int h = -1;
        for (int k = 0; k < 4; k++)
            if (str_eq(b->channel, hot[k])) h = k;
        if (h >= 0) {
            hot_bids++;
            slot = 10000 + (size_t)h;
        } else {
            char name[32];
            assert_true(b->channel.len < sizeof name);
            memcpy(name, b->channel.ptr, b->channel.len);
            name[b->channel.len] = 0;
            unsigned i;
            int used = 0;
            assert_int_equal(sscanf(name, "channel-%u%n", &i, &used), 1);
            assert_int_equal(used, (int)b->channel.len);
            assert_true(i < 10000);
            slot = i;
        }
        /* https://www.nexmark.com/<s1>/<s2>/<s3>/item.htm?query=1[&channel_id=<n>] */
        const char *u = b->url.ptr, *end = u + b->url.len;
        assert_true(b->url.len > sizeof prefix);
        assert_memory_equal(u, prefix, sizeof prefix - 1);
        u += sizeof prefix - 1;
        for (int d = 0; d < 3; d++) {
            const char *s = u;
            while (u < end && *u != '/') {
                assert_true(is_lower(*u) || *u == '_');
                u++;
            }
            assert_in_range(u - s, 3, 4);
            assert_true(u < end);
            u++;
        }
        assert_true((size_t)(end - u) >= sizeof item - 1);
        assert_memory_equal(u, item, sizeof item - 1);
        u += sizeof item - 1;
        int has_id = u < end;
        if (has_id) {
            char want[40];
            assert_true(h < 0); /* hot URLs carry no channel_id */
            java_channel_id((uint32_t)slot, want, sizeof want);
            assert_int_equal((size_t)(end - u), strlen("&channel_id=") + strlen(want));
            assert_memory_equal(u, "&channel_id=", 12);
            assert_memory_equal(u + 12, want, strlen(want));
        }
        uint64_t uh = fnv_s(1, b->url);
        if (url_of[slot] == 0) {
            url_of[slot] = uh;
            if (h < 0) {
                distinct++;
                with_id += (uint64_t)has_id;
            }
        } else {
            assert_true(url_of[slot] == uh);
        }
    }
    double fh = (double)hot_bids / bids, fi = (double)with_id / distinct;
    assert_true(fh > 0.49 && fh < 0.51);
    assert_true(distinct > 9900); /* 92,000 draws over 10,000 channels */
    assert_true(fi > 0.87 && fi < 0.93);
    free(url_of);
    sp_nexmark_gen_fini(&g);
}

static void person_and_auction_strings_have_model_shape(void **state)
{
    (void)state;
    static const char *const firsts[] = { "Peter", "Paul",  "Luke",  "John",   "Saul",  "Vicky",
                                          "Kate",  "Julie", "Sarah", "Deiter", "Walter" };
    static const char *const lasts[] = { "Shultz", "Abrams", "Spencer", "White", "Bartels",
                                         "Walton", "Smith",  "Jones",   "Noris" };
    static const char *const cities[] = { "Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland",
                                          "Bend",    "Redmond",     "Seattle",       "Kent",  "Cheyenne" };
    static const char *const states[] = { "AZ", "CA", "ID", "OR", "WA", "WY" };
    sp_nexmark_config_t c = config(100000);
    sp_nexmark_gen_t g;
    gen_open(&g, &c, 0, 1);
    sp_nexmark_event_t e;
    int pair[10][6] = { { 0 } };
    uint64_t chars = 0, specials = 0;
    while (sp_nexmark_gen_next(&g, &e)) {
        if (e.type == SP_NEXMARK_PERSON) {
            const sp_nexmark_person_t *p = &e.u.person;
            const char *sp = memchr(p->name.ptr, ' ', p->name.len);
            assert_non_null(sp);
            sp_str_t f = { p->name.ptr, (uint32_t)(sp - p->name.ptr) };
            sp_str_t l = { sp + 1, p->name.len - f.len - 1 };
            assert_true(in_list(f, firsts, 11));
            assert_true(in_list(l, lasts, 9));
            /* email: [a-z ]{3,6} @ [a-z ]{3,4} .com */
            const char *at = memchr(p->email.ptr, '@', p->email.len);
            assert_non_null(at);
            uint32_t l1 = (uint32_t)(at - p->email.ptr), l2 = p->email.len - l1 - 1 - 4;
            assert_text(p->email.ptr, l1, 3, 6);
            assert_text(at + 1, l2, 3, 4);
            assert_memory_equal(at + 1 + l2, ".com", 4);
            /* credit card: dddd dddd dddd dddd */
            assert_int_equal(p->credit_card.len, 19);
            for (uint32_t i = 0; i < 19; i++) {
                if (i % 5 == 4)
                    assert_int_equal(p->credit_card.ptr[i], ' ');
                else
                    assert_true(p->credit_card.ptr[i] >= '0' && p->credit_card.ptr[i] <= '9');
            }
            int ci = -1, si = -1;
            for (int k = 0; k < 10; k++)
                if (str_eq(p->city, cities[k])) ci = k;
            for (int k = 0; k < 6; k++)
                if (str_eq(p->state, states[k])) si = k;
            assert_true(ci >= 0 && si >= 0);
            pair[ci][si]++;
        } else if (e.type == SP_NEXMARK_AUCTION) {
            const sp_nexmark_auction_t *a = &e.u.auction;
            assert_text(a->item_name.ptr, a->item_name.len, 3, 19);
            assert_text(a->description.ptr, a->description.len, 3, 99);
            for (uint32_t i = 1; i + 1 < a->description.len; i++, chars++)
                specials += a->description.ptr[i] == ' ';
        }
    }
    /* city and state are drawn independently: all 60 pairs occur */
    for (int ci = 0; ci < 10; ci++)
        for (int si = 0; si < 6; si++) assert_true(pair[ci][si] > 0);
    double fs = (double)specials / chars;
    assert_true(fs > 1.0 / 13 * 0.9 && fs < 1.0 / 13 * 1.1);
    sp_nexmark_gen_fini(&g);
}

/* date_time = base + floor(n * count * 1000 / rate); expires within
 * 1 + [0, 2 * horizon) of date_time. */
static void timestamps_follow_the_rate(void **state)
{
    (void)state;
    static const uint64_t rates[] = { 10000, 3, 7777, 10000000 };
    for (size_t r = 0; r < sizeof rates / sizeof rates[0]; r++) {
        for (uint32_t count = 1; count <= 3; count++) {
            sp_nexmark_config_t c = config(30000 * count);
            c.first_event_rate = rates[r];
            sp_nexmark_gen_t g;
            gen_open(&g, &c, count - 1, count);
            sp_nexmark_event_t e;
            int64_t prev = INT64_MIN;
            for (uint64_t n = 0; sp_nexmark_gen_next(&g, &e); n++) {
                int64_t t = e.type == SP_NEXMARK_BID       ? e.u.bid.date_time
                            : e.type == SP_NEXMARK_AUCTION ? e.u.auction.date_time
                                                           : e.u.person.date_time;
                int64_t want = BASE_TIME + (int64_t)((unsigned __int128)n * count * 1000 / rates[r]);
                assert_int_equal(t, want);
                assert_true(t >= prev);
                prev = t;
                if (e.type == SP_NEXMARK_AUCTION) {
                    int64_t later =
                        BASE_TIME + (int64_t)((unsigned __int128)(n + 1666) * count * 1000 / rates[r]);
                    int64_t horizon = later - t;
                    int64_t span = 2 * horizon > 1 ? 2 * horizon : 1;
                    assert_true(e.u.auction.expires >= t + 1);
                    assert_true(e.u.auction.expires <= t + span);
                }
                assert_int_equal(sp_nexmark_gen_next_time(&g),
                                 BASE_TIME + (int64_t)((unsigned __int128)(n + 1) * count * 1000 / rates[r]));
            }
            assert_int_equal(sp_nexmark_gen_position(&g), 30000);
            sp_nexmark_gen_fini(&g);
        }
    }
    /* default rate: 50,000 events span 5 s of event time, 10 events a ms */
    sp_nexmark_config_t c = config(50000);
    sp_nexmark_gen_t g;
    gen_open(&g, &c, 0, 1);
    sp_nexmark_event_t e;
    int64_t last = 0;
    while (sp_nexmark_gen_next(&g, &e)) last = e.type == SP_NEXMARK_BID ? e.u.bid.date_time : last;
    assert_int_equal(last - BASE_TIME, 4999);
}

static void check_splits(uint64_t total, uint32_t count)
{
    sp_nexmark_config_t c = config(total);
    /* ids: at most total / 50 + 1 people and 3 * that auctions */
    size_t cap = (size_t)(total / 50 + 2) * 3;
    uint8_t *person = calloc(cap, 1), *auction = calloc(cap, 1);
    assert_non_null(person);
    assert_non_null(auction);
    uint64_t sum = 0, lo = UINT64_MAX, hi = 0;
    for (uint32_t i = 0; i < count; i++) {
        sp_nexmark_gen_t g;
        gen_open(&g, &c, i, count);
        sp_nexmark_event_t e;
        uint64_t n = 0;
        while (sp_nexmark_gen_next(&g, &e)) {
            if (e.type == SP_NEXMARK_PERSON) {
                size_t k = (size_t)(e.u.person.id - 1000);
                assert_true(k < cap);
                assert_int_equal(person[k], 0); /* disjoint across splits */
                person[k] = 1;
                if (n == 0) assert_int_equal(e.u.person.date_time, BASE_TIME); /* lock-step */
            } else if (e.type == SP_NEXMARK_AUCTION) {
                size_t k = (size_t)(e.u.auction.id - 1000);
                assert_true(k < cap);
                assert_int_equal(auction[k], 0);
                auction[k] = 1;
            } else if (n == 1000) {
                assert_int_equal(e.u.bid.date_time, BASE_TIME + (int64_t)(1000 * count / 10));
            }
            n++;
        }
        assert_int_equal(n, sp_nexmark_gen_split_events(&g));
        sum += n;
        lo = n < lo ? n : lo;
        hi = n > hi ? n : hi;
        sp_nexmark_gen_fini(&g);
    }
    assert_int_equal(sum, total);
    assert_true(hi - lo <= 1);
    /* together the splits made exactly the persons of one big run */
    uint64_t persons = 0;
    for (size_t k = 0; k < cap; k++) persons += person[k];
    assert_int_equal(persons, (total + 49) / 50);
    free(person);
    free(auction);
}

static void splits_are_disjoint_and_complete(void **state)
{
    (void)state;
    check_splits(50000, 2);
    check_splits(50000, 3);
    check_splits(50001, 2);
    check_splits(50001, 3);
    check_splits(100, 7);
    check_splits(2, 3); /* a split with nothing to do */
}

static void unbounded_splits_never_end_and_stay_disjoint(void **state)
{
    (void)state;
    sp_nexmark_config_t c = config(0);
    int64_t first_person[4];
    for (uint32_t i = 0; i < 4; i++) {
        sp_nexmark_gen_t g;
        gen_open(&g, &c, i, 4);
        assert_true(sp_nexmark_gen_split_events(&g) >= (UINT64_C(1) << 60));
        sp_nexmark_event_t e;
        first_person[i] = -1;
        for (int n = 0; n < 100000; n++) {
            assert_int_equal(sp_nexmark_gen_next(&g, &e), 1);
            if (e.type == SP_NEXMARK_PERSON && first_person[i] < 0) first_person[i] = e.u.person.id;
        }
        /* far into the range, the split still works */
        assert_int_equal(sp_nexmark_gen_seek(&g, sp_nexmark_gen_split_events(&g) - 1), 0);
        assert_int_equal(sp_nexmark_gen_next(&g, &e), 1);
        assert_int_equal(sp_nexmark_gen_next(&g, &e), 0);
        sp_nexmark_gen_fini(&g);
    }
    /* each split's ids start far beyond what the previous one reaches */
    for (int i = 1; i < 4; i++) assert_true(first_person[i] - first_person[i - 1] > INT64_C(1) << 50);
}

static void hash_run(const sp_nexmark_config_t *c, uint32_t index, uint32_t count, uint64_t *out, size_t n)
{
    sp_nexmark_gen_t g;
    gen_open(&g, c, index, count);
    sp_nexmark_event_t e;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(sp_nexmark_gen_next(&g, &e), 1);
        out[i] = event_hash(&e);
    }
    sp_nexmark_gen_fini(&g);
}

static void same_config_gives_same_events(void **state)
{
    (void)state;
    enum { N = 20000 };
    uint64_t *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
    assert_non_null(a);
    assert_non_null(b);
    sp_nexmark_config_t c = config(3 * N);
    hash_run(&c, 1, 3, a, N);
    hash_run(&c, 1, 3, b, N);
    assert_memory_equal(a, b, N * sizeof *a);

    /* another seed or another split: other events */
    sp_nexmark_config_t c2 = c;
    c2.seed++;
    hash_run(&c2, 1, 3, b, N);
    size_t same = 0;
    for (size_t i = 0; i < N; i++) same += a[i] == b[i];
    assert_true(same < N / 100);
    hash_run(&c, 2, 3, b, N);
    same = 0;
    for (size_t i = 0; i < N; i++) same += a[i] == b[i];
    assert_true(same < N / 100);
    free(a);
    free(b);
}

static void seek_resumes_the_same_sequence(void **state)
{
    (void)state;
    enum { N = 20000 };
    uint64_t *ref = malloc(N * sizeof *ref);
    assert_non_null(ref);
    sp_nexmark_config_t c = config(3 * N);
    c.first_event_rate = 7777; /* a rate that leaves timestamp remainders */
    hash_run(&c, 1, 3, ref, N);

    static const uint64_t at[] = { 0, 1, 49, 50, 51, 777, 12345, N - 3, 5 };
    sp_nexmark_gen_t reused;
    gen_open(&reused, &c, 1, 3);
    sp_nexmark_event_t e;
    for (size_t k = 0; k < sizeof at / sizeof at[0]; k++) {
        sp_nexmark_gen_t g; /* a fresh generator, as after a restart */
        gen_open(&g, &c, 1, 3);
        assert_int_equal(sp_nexmark_gen_seek(&g, at[k]), 0);
        assert_int_equal(sp_nexmark_gen_position(&g), at[k]);
        assert_int_equal(sp_nexmark_gen_seek(&reused, at[k]), 0); /* forwards and backwards */
        for (uint64_t i = at[k]; i < at[k] + 3; i++) {
            assert_int_equal(sp_nexmark_gen_next(&g, &e), 1);
            assert_true(event_hash(&e) == ref[i]);
            assert_int_equal(sp_nexmark_gen_next(&reused, &e), 1);
            assert_true(event_hash(&e) == ref[i]);
        }
        assert_int_equal(sp_nexmark_gen_position(&g), at[k] + 3);
        sp_nexmark_gen_fini(&g);
    }
    /* the end of the split is a valid position, beyond it is not */
    assert_int_equal(sp_nexmark_gen_seek(&reused, N), 0);
    assert_int_equal(sp_nexmark_gen_next(&reused, &e), 0);
    assert_int_equal(sp_nexmark_gen_seek(&reused, N + 1), -1);
    sp_nexmark_gen_fini(&reused);
    free(ref);
}

static void next_bid_matches_next(void **state)
{
    (void)state;
    sp_nexmark_config_t c = config(20000);
    sp_nexmark_gen_t all, bids;
    gen_open(&all, &c, 0, 2);
    gen_open(&bids, &c, 0, 2);
    sp_nexmark_event_t e;
    sp_nexmark_bid_t b;
    uint64_t n = 0;
    while (sp_nexmark_gen_next(&all, &e)) {
        if (e.type != SP_NEXMARK_BID) continue;
        assert_int_equal(sp_nexmark_gen_next_bid(&bids, &b), 1);
        assert_true(bid_hash(0, &b) == bid_hash(0, &e.u.bid));
        assert_int_equal(sp_nexmark_gen_position(&bids), sp_nexmark_gen_position(&all));
        n++;
    }
    assert_int_equal(n, 10000 / 50 * 46);
    assert_int_equal(sp_nexmark_gen_next_bid(&bids, &b), 0);
}

struct thread_run {
    uint32_t index;
    uint64_t digest;
};

static void *thread_body(void *arg)
{
    struct thread_run *r = arg;
    sp_nexmark_config_t c = config(40000);
    sp_nexmark_gen_t g;
    if (sp_nexmark_gen_init(&g, &c, r->index, 4) != 0) return NULL;
    sp_nexmark_event_t e;
    uint64_t h = 0;
    while (sp_nexmark_gen_next(&g, &e)) h = h * 31 + event_hash(&e);
    r->digest = h;
    sp_nexmark_gen_fini(&g);
    return NULL;
}

/* Four generators on four threads, the first of them building the shared
 * tables while the others wait in pthread_once (a TSan target): each gives
 * the events it gives alone. */
static void generators_on_threads_agree(void **state)
{
    (void)state;
    struct thread_run runs[4];
    pthread_t t[4];
    for (uint32_t i = 0; i < 4; i++) {
        runs[i] = (struct thread_run){ i, 0 };
        assert_int_equal(pthread_create(&t[i], NULL, thread_body, &runs[i]), 0);
    }
    for (int i = 0; i < 4; i++) assert_int_equal(pthread_join(t[i], NULL), 0);
    for (uint32_t i = 0; i < 4; i++) {
        struct thread_run alone = { i, 0 };
        thread_body(&alone);
        assert_true(alone.digest != 0);
        assert_true(alone.digest == runs[i].digest);
    }
}

static void invalid_configs_are_refused(void **state)
{
    (void)state;
    sp_nexmark_gen_t g;
    sp_nexmark_config_t c = config(100);
    assert_int_equal(sp_nexmark_gen_init(&g, &c, 0, 0), -1);
    assert_int_equal(sp_nexmark_gen_init(&g, &c, 3, 3), -1);
    c.first_event_rate = 0;
    assert_int_equal(sp_nexmark_gen_init(&g, &c, 0, 1), -1);
    c = config(100);
    c.person_proportion = c.auction_proportion = c.bid_proportion = 0;
    assert_int_equal(sp_nexmark_gen_init(&g, &c, 0, 1), -1);
    c = config(100);
    c.hot_bidders_ratio = 0;
    assert_int_equal(sp_nexmark_gen_init(&g, &c, 0, 1), -1);
    c = config(100);
    c.first_event_rate = UINT64_C(1) << 62;
    assert_int_equal(sp_nexmark_gen_init(&g, &c, 0, 8), -1);
    c = config(100);
    assert_int_equal(sp_nexmark_gen_init(&g, &c, 2, 3), 0);
    sp_nexmark_gen_fini(&g);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(event_mix_is_exact),
    cmocka_unit_test(ids_are_sequential),
    cmocka_unit_test(references_follow_the_model),
    cmocka_unit_test(prices_are_log_uniform),
    cmocka_unit_test(categories_are_10_to_14),
    cmocka_unit_test(extra_lengths_follow_avg_sizes),
    cmocka_unit_test(channels_and_urls_have_flink_shape),
    cmocka_unit_test(person_and_auction_strings_have_model_shape),
    cmocka_unit_test(timestamps_follow_the_rate),
    cmocka_unit_test(splits_are_disjoint_and_complete),
    cmocka_unit_test(unbounded_splits_never_end_and_stay_disjoint),
    cmocka_unit_test(same_config_gives_same_events),
    cmocka_unit_test(seek_resumes_the_same_sequence),
    cmocka_unit_test(next_bid_matches_next),
    cmocka_unit_test(generators_on_threads_agree),
    cmocka_unit_test(invalid_configs_are_refused),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "nexmark_gen");
}
