/*
 * nexmark_gen.c — the Nexmark event generator.  See nexmark_gen.h for the
 * model, the split rules and the ownership of the strings.
 *
 * Randomness layout.  Event id e gets a seed s = mix64(key ^ e) (splitmix64's
 * finaliser, a bijection, so distinct events get distinct seeds); its k-th
 * 64-bit draw is wyrand's output for state s + k * WY0, i.e. one 64x64->128
 * multiply.  Draws are independent of each other (no chain), so the CPU
 * computes them in parallel.  An event is thus a function of (config, e,
 * position) alone, which makes seek O(1).
 *
 * Speed notes (2-vCPU AMD EPYC VM shared with other builds, gcc 12 -O2;
 * timings vary +-20 % between runs there).  A first version with a chained
 * splitmix64 stream per event, a pow()-style price, branches on the coin
 * flips and strings generated char by char ran at 46 ns a bid, 95 ns a
 * person and 250 ns an auction.  Now: ~17-20 ns a bid (next_bid), ~19-25 ns
 * an event over the 1:3:46 mix (next), ~60 ns a person or an auction.
 * What made the difference:
 *   - hot/random choices are computed both ways and combined with a mask:
 *     they are coin flips, and gcc turned ?: into branches that mispredict
 *     half the time (46 -> 30 ns);
 *   - everything a bid derives from the epoch (hot ids, reference windows)
 *     is recomputed once per epoch, not per bid (epoch_refresh);
 *   - bounded draws use the multiply-shift reduction (x * n) >> 32 of a
 *     32-bit half of a draw instead of Java's rejection loop: bias below
 *     n / 2^32, no division; the hot coin flips compare against a
 *     precomputed threshold;
 *   - the price 100 * 10^(6U) is two table loads (top 20 bits of U) times a
 *     2nd-order series for the rest, exact to < 0.01 at 1e8;
 *   - the auction horizon is derived from the timestamp remainder, not
 *     from two timestamps computed with 64-bit divisions;
 *   - itemName, description and email parts are fixed-size copies from a
 *     64 KB pool of random text at a random offset (ends then made
 *     letters), not generated char by char (that branched on every char
 *     for the 1/13 special and cost ~2 ns a char).
 */
#include "nexmark_gen.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define GOLDEN UINT64_C(0x9e3779b97f4a7c15)
#define WY0    UINT64_C(0xa0761d6478bd642f)
#define WY1    UINT64_C(0xe7037ed1a0b428db)

/* ---- shared read-only tables (built once, see tables_build) ---------- */

#define NUM_HOT_CHANNELS 4
#define NUM_CHAN_ENTRIES (SP_NEXMARK_NUM_CHANNELS + NUM_HOT_CHANNELS) /* hot ones last */
#define NUM_FIRST_NAMES  11
#define NUM_LAST_NAMES   9
#define NUM_CITIES       10
#define NUM_STATES       6
#define CHAN_NAME_CAP    16  /* "channel-9999" */
#define CHAN_URL_CAP     80  /* 24 + 3 * 5 + 16 + 12 + 11 = 78 at most */
#define NAME_CAP         16  /* "Deiter Bartels" */
#define TEXT_OUTCOMES    338 /* 13 * 26: 26 of them (1/13) mean "special" */
#define TEXT_POOL        (1u << 16)
#define PRICE_BITS       10  /* two tables of 2^10 entries: 16 KB */
#define TEXT_COPY_MAX    128 /* text_copy copies 8, 32 or 128 bytes, see there */

static const char *const first_names[NUM_FIRST_NAMES] = { "Peter", "Paul",   "Luke",  "John",
                                                          "Saul",  "Vicky",  "Kate",  "Julie",
                                                          "Sarah", "Deiter", "Walter" };
static const char *const last_names[NUM_LAST_NAMES] = { "Shultz", "Abrams", "Spencer", "White", "Bartels",
                                                        "Walton", "Smith",  "Jones",   "Noris" };
static const char *const hot_channels[NUM_HOT_CHANNELS] = { "Google", "Facebook", "Baidu", "Apple" };
static const char digits2[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";
static const sp_str_t cities[NUM_CITIES] = {
    { "Phoenix", 7 }, { "Los Angeles", 11 }, { "San Francisco", 13 }, { "Boise", 5 }, { "Portland", 8 },
    { "Bend", 4 },    { "Redmond", 7 },      { "Seattle", 7 },        { "Kent", 4 },  { "Cheyenne", 8 },
};
static const sp_str_t states[NUM_STATES] = { { "AZ", 2 }, { "CA", 2 }, { "ID", 2 },
                                             { "OR", 2 }, { "WA", 2 }, { "WY", 2 } };

/* About 2.1 MB of BSS.  On the bid path the generator reads only the
 * compact length arrays (20 KB) and the price tables (16 KB); the string
 * bytes cost cache only to the consumer that copies the slices. */
static struct {
    char extra[SP_NEXMARK_EXTRA_POOL];    /* random a-z padding for `extra` */
    char text[TEXT_POOL + TEXT_COPY_MAX]; /* random a-z and ' ' (1/13), for item names etc.;
                                           * padded so fixed-size copies stay inside */
    /* channel i < 10000 is "channel-<i>"; 10000 + h is hot channel h */
    char chan_name[NUM_CHAN_ENTRIES][CHAN_NAME_CAP];
    char chan_url[NUM_CHAN_ENTRIES][CHAN_URL_CAP];
    uint8_t chan_name_len[NUM_CHAN_ENTRIES];
    uint8_t chan_url_len[NUM_CHAN_ENTRIES];
    char name[NUM_FIRST_NAMES * NUM_LAST_NAMES][NAME_CAP]; /* "First Last" */
    uint8_t name_len[NUM_FIRST_NAMES * NUM_LAST_NAMES];
    char outcome[TEXT_OUTCOMES];      /* 16-bit draw outcome -> 'a'..'z', or 0 = special */
    double price_hi[1 << PRICE_BITS]; /* 100 * 10^(6 i / 2^10) */
    double price_lo[1 << PRICE_BITS]; /* 10^(6 j / 2^20) */
} T;

static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static inline uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* k-th draw of the stream with seed s (wyrand, counter-based) */
static inline uint64_t draw(uint64_t s, uint64_t k)
{
    uint64_t a = s + k * WY0;
    uint64_t b = a ^ WY1;
#if defined(__SIZEOF_INT128__)
    __extension__ typedef unsigned __int128 u128;
    u128 m = (u128)a * b;
    return (uint64_t)m ^ (uint64_t)(m >> 64);
#else
    return mix64(a ^ (b >> 32)); /* portable fallback: slower, also fine */
#endif
}

/* uniform in [0, n) from a 32-bit value, n <= 2^32 */
static inline uint32_t u32n(uint32_t x, uint64_t n)
{
    return (uint32_t)(((uint64_t)x * n) >> 32);
}

/* uniform in [0, n) from a 64-bit value, any n >= 1 */
static inline uint64_t u64n(uint64_t x, uint64_t n)
{
    if (n <= (UINT64_C(1) << 32)) return ((x >> 32) * n) >> 32;
    return x % n;
}

/* c ? a : b without a branch: gcc turns plain ?: on these coin flips into
 * branches that mispredict half the time (measured: ~8 ns a bid). */
static inline int64_t select64(int c, int64_t a, int64_t b)
{
    uint64_t m = (uint64_t)0 - (uint64_t)(c != 0);
    return (int64_t)(((uint64_t)a & m) | ((uint64_t)b & ~m));
}

static inline uint32_t lo32(uint64_t x)
{
    return (uint32_t)x;
}

static inline uint32_t hi32(uint64_t x)
{
    return (uint32_t)(x >> 32);
}

static uint32_t bitrev32(uint32_t x)
{
    x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
    x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
    x = ((x >> 4) & 0x0f0f0f0fu) | ((x & 0x0f0f0f0fu) << 4);
    x = ((x >> 8) & 0x00ff00ffu) | ((x & 0x00ff00ffu) << 8);
    return (x >> 16) | (x << 16);
}

/* Java's Math.abs(Integer.reverse(i)), including abs(INT_MIN) == INT_MIN:
 * channel 1 gets channel_id=-2147483648 in Flink, and here. */
static int64_t java_abs_reverse(uint32_t i)
{
    uint32_t r = bitrev32(i);
    if (r == 0x80000000u) return INT64_C(-2147483648);
    int64_t v = r >= 0x80000000u ? (int64_t)r - (INT64_C(1) << 32) : (int64_t)r;
    return v < 0 ? -v : v;
}

/* Table building only: `len` chars, 'a'..'z' or `special` with
 * probability 1/13, each from 16 bits of a splitmix64 stream. */
static void gen_text(uint64_t *st, char *dst, uint32_t len, char special)
{
    uint64_t bits = 0;
    for (uint32_t i = 0; i < len; i++) {
        if ((i & 3) == 0) bits = mix64(*st += GOLDEN);
        uint32_t v = (uint32_t)(((bits & 0xffff) * TEXT_OUTCOMES) >> 16);
        bits >>= 16;
        dst[i] = T.outcome[v] ? T.outcome[v] : special;
    }
}

/* Flink's base URL: https://www.nexmark.com/<s>/<s>/<s>/item.htm?query=1,
 * each <s> 3-4 chars of a-z and '_' (Java does not trim '_').  Returns the
 * length. */
static uint32_t base_url(uint64_t *st, char *dst)
{
    static const char head[] = "https://www.nexmark.com/";
    static const char tail[] = "item.htm?query=1";
    uint32_t n = sizeof head - 1;
    memcpy(dst, head, n);
    for (int k = 0; k < 3; k++) {
        uint32_t len = 3 + u32n(lo32(mix64(*st += GOLDEN)), 2);
        gen_text(st, dst + n, len, '_');
        n += len;
        dst[n++] = '/';
    }
    memcpy(dst + n, tail, sizeof tail - 1);
    return n + (uint32_t)(sizeof tail - 1);
}

static void tables_build(void)
{
    /* Fixed seed: the tables are the same in every process, so a restarted
     * job (or another task manager) sees the same channels and URLs. */
    uint64_t st = UINT64_C(0x6e65786d61726b31);

    for (uint32_t v = 0; v < TEXT_OUTCOMES; v++) T.outcome[v] = v < 26 ? 0 : (char)('a' + (v - 26) % 26);

    for (uint32_t i = 0; i < SP_NEXMARK_EXTRA_POOL; i += 4) {
        uint64_t x = mix64(st += GOLDEN);
        for (uint32_t k = 0; k < 4; k++, x >>= 16) T.extra[i + k] = (char)('a' + (((x & 0xffff) * 26) >> 16));
    }
    gen_text(&st, T.text, TEXT_POOL + TEXT_COPY_MAX, ' ');

    for (int f = 0; f < NUM_FIRST_NAMES; f++) {
        for (int l = 0; l < NUM_LAST_NAMES; l++) {
            int k = f * NUM_LAST_NAMES + l;
            T.name_len[k] = (uint8_t)snprintf(T.name[k], NAME_CAP, "%s %s", first_names[f], last_names[l]);
        }
    }

    for (uint32_t h = 0; h < NUM_HOT_CHANNELS; h++) {
        uint32_t e = SP_NEXMARK_NUM_CHANNELS + h;
        T.chan_name_len[e] = (uint8_t)snprintf(T.chan_name[e], CHAN_NAME_CAP, "%s", hot_channels[h]);
        T.chan_url_len[e] = (uint8_t)base_url(&st, T.chan_url[e]);
    }
    for (uint32_t i = 0; i < SP_NEXMARK_NUM_CHANNELS; i++) {
        T.chan_name_len[i] = (uint8_t)snprintf(T.chan_name[i], CHAN_NAME_CAP, "channel-%u", i);
        uint32_t n = base_url(&st, T.chan_url[i]);
        if (u32n(lo32(mix64(st += GOLDEN)), 10) > 0) /* 90 % carry a channel_id */
            n += (uint32_t)snprintf(T.chan_url[i] + n, CHAN_URL_CAP - n, "&channel_id=%lld",
                                    (long long)java_abs_reverse(i));
        T.chan_url_len[i] = (uint8_t)n;
    }

    for (int i = 0; i < (1 << PRICE_BITS); i++) {
        T.price_hi[i] = 100.0 * pow(10.0, 6.0 * i / (1 << PRICE_BITS));
        T.price_lo[i] = pow(10.0, 6.0 * i / (1 << (2 * PRICE_BITS)));
    }
}

/* ---- model helpers --------------------------------------------------- */

/* round(10^(U*6) * 100), U uniform in [0,1): log-uniform 100..1e8.
 * U = i/2^10 + j/2^20 + r with r < 2^-20: two table entries times
 * e^(6 ln10 r) ~ 1 + t + t^2/2 (t < 1.4e-5, error < 4e-16 relative). */
static inline int64_t price_from(uint64_t x)
{
    const double ln1e6 = 13.815510557964274; /* 6 ln 10 */
    uint32_t i = (uint32_t)(x >> (64 - PRICE_BITS));
    uint32_t j = (uint32_t)(x >> (64 - 2 * PRICE_BITS)) & ((1u << PRICE_BITS) - 1);
    uint64_t rest = (x >> 11) & ((UINT64_C(1) << (53 - 2 * PRICE_BITS)) - 1);
    double t = (double)rest * 0x1p-53 * ln1e6;
    double v = T.price_hi[i] * T.price_lo[j];
    return (int64_t)(v + v * t * (1.0 + 0.5 * t) + 0.5);
}

/* base-0 id of the last person generated at or before the current event */
static inline int64_t last_person(const sp_nexmark_gen_t *g)
{
    int64_t pp = g->cfg.person_proportion;
    int64_t off = g->offset >= g->cfg.person_proportion ? pp - 1 : (int64_t)g->offset;
    return (int64_t)g->epoch * pp + off;
}

/* base-0 id of the last auction generated at or before the current event */
static inline int64_t last_auction(const sp_nexmark_gen_t *g)
{
    int64_t ap = g->cfg.auction_proportion;
    int64_t base = (int64_t)g->epoch * ap;
    uint32_t pp = g->cfg.person_proportion;
    if (g->offset < pp) return base - 1; /* last auction of the previous epoch */
    if (g->offset >= pp + g->cfg.auction_proportion) return base + ap - 1;
    return base + (int64_t)(g->offset - pp);
}

/* A random active person (base 0): uniform over the last
 * min(numPeople, num_active_people) people plus PERSON_ID_LEAD future ids. */
static inline int64_t random_person(int64_t last, uint32_t num_active, uint32_t x)
{
    int64_t num = last + 1;
    int64_t active = num < (int64_t)num_active ? num : (int64_t)num_active;
    if (active < 0) active = 0;
    return num - active + (int64_t)u32n(x, (uint64_t)active + SP_NEXMARK_PERSON_ID_LEAD);
}

static inline uint64_t time_offset_ms(const sp_nexmark_gen_t *g, uint64_t pos)
{
    uint64_t rate = g->cfg.first_event_rate;
    return (pos / rate) * g->ts_num + ((pos % rate) * g->ts_num) / rate;
}

/* Flink's nextExtra: length uniform in avg - fixed +- 20 %, "" if the fixed
 * part alone exceeds the average; sliced from the shared pool. */
static inline sp_str_t extra_slice(uint64_t x, uint32_t min, uint32_t span)
{
    uint32_t len = min + u32n(lo32(x), span); /* span 0 gives 0 */
    if (len > SP_NEXMARK_EXTRA_POOL) len = SP_NEXMARK_EXTRA_POOL;
    uint32_t off = u32n(hi32(x), (uint64_t)SP_NEXMARK_EXTRA_POOL - len + 1);
    return (sp_str_t){ T.extra + off, len };
}

static inline void extra_bounds(uint32_t avg, uint32_t fixed, uint32_t *min, uint32_t *span)
{
    if (fixed > avg) {
        *min = 0;
        *span = 0;
        return;
    }
    uint32_t want = avg - fixed;
    uint32_t delta = (uint32_t)(((uint64_t)want * 2 + 5) / 10); /* Math.round(want * 0.2) */
    *min = want - delta;
    *span = 2 * delta;
}

/* Random text of length len (3..99) into dst: a copy of the text pool at a
 * random offset, with first and last char forced to letters (see the
 * header on trimming).  x supplies the offset (high half) and the two
 * replacement letters (low half).  It copies a fixed `cap` >= len bytes
 * (a constant at every call site, so the copy is a few vector moves rather
 * than a libc call); dst must have room for cap bytes and the chars after
 * len are garbage that the caller overwrites or ignores. */
static inline void text_copy(char *dst, uint32_t len, size_t cap, uint64_t x)
{
    uint32_t off = u32n(hi32(x), TEXT_POOL - len + 1);
    memcpy(dst, T.text + off, cap);
    char a = (char)('a' + u32n(lo32(x) << 16, 26)), z = (char)('a' + u32n(lo32(x) & 0xffff0000u, 26));
    dst[0] = dst[0] == ' ' ? a : dst[0];
    dst[len - 1] = dst[len - 1] == ' ' ? z : dst[len - 1];
}

static inline uint64_t event_seed(const sp_nexmark_gen_t *g)
{
    return mix64(g->key ^ (g->first_event_id + g->pos));
}

/* ---- the three event kinds ------------------------------------------ */

static void make_person(sp_nexmark_gen_t *g, sp_nexmark_person_t *p)
{
    uint64_t s = event_seed(g);
    p->id = last_person(g) + SP_NEXMARK_FIRST_PERSON_ID;

    uint64_t x = draw(s, 1);
    uint32_t k = u32n(lo32(x), NUM_FIRST_NAMES) * NUM_LAST_NAMES + u32n(hi32(x), NUM_LAST_NAMES);
    p->name = (sp_str_t){ T.name[k], T.name_len[k] };

    /* email: 3-6 chars '@' 3-4 chars ".com" */
    x = draw(s, 2);
    uint32_t l1 = 3 + u32n(lo32(x), 4), l2 = 3 + u32n(hi32(x), 2);
    text_copy(g->email, l1, 8, draw(s, 3));
    g->email[l1] = '@';
    text_copy(g->email + l1 + 1, l2, 8, draw(s, 4)); /* ends <= 6+1+8 */
    memcpy(g->email + l1 + 1 + l2, ".com", 4);
    p->email = (sp_str_t){ g->email, l1 + l2 + 5 };

    /* credit card: four space-separated groups of four digits */
    x = draw(s, 5);
    char *c = g->credit_card;
    for (int grp = 0; grp < 4; grp++, x >>= 16) {
        uint32_t v = (uint32_t)(((x & 0xffff) * 10000) >> 16);
        uint32_t hi = v / 100;
        memcpy(c, digits2 + 2 * hi, 2); /* two digits at a time: half the cost */
        memcpy(c + 2, digits2 + 2 * (v - 100 * hi), 2);
        c[4] = ' ';
        c += 5;
    }
    p->credit_card = (sp_str_t){ g->credit_card, 19 };

    x = draw(s, 6); /* city and state independently */
    p->city = cities[u32n(lo32(x), NUM_CITIES)];
    p->state = states[u32n(hi32(x), NUM_STATES)];
    p->date_time = g->ts_ms;

    uint32_t fixed = 8 + p->name.len + p->email.len + p->credit_card.len + p->city.len + p->state.len;
    uint32_t min, span;
    extra_bounds(g->cfg.avg_person_size, fixed, &min, &span);
    p->extra = extra_slice(draw(s, 7), min, span);
}

static void make_auction(sp_nexmark_gen_t *g, sp_nexmark_auction_t *a)
{
    uint64_t s = event_seed(g);
    a->id = last_auction(g) + SP_NEXMARK_FIRST_AUCTION_ID;

    /* seller: the hot seller (first person of the current block of 100)
     * with probability 1 - 1/hot_sellers_ratio, else a random active one */
    uint64_t x = draw(s, 1);
    int64_t lp = last_person(g);
    int64_t hot = (lp / SP_NEXMARK_HOT_BLOCK) * SP_NEXMARK_HOT_BLOCK;
    int64_t rnd = random_person(lp, g->cfg.num_active_people, hi32(x));
    a->seller = select64(lo32(x) >= g->hot_seller_min, hot, rnd) + SP_NEXMARK_FIRST_PERSON_ID;

    x = draw(s, 2);
    a->category = SP_NEXMARK_FIRST_CATEGORY_ID + u32n(lo32(x), SP_NEXMARK_NUM_CATEGORIES);
    uint32_t name_len = 3 + u32n(hi32(x), 17); /* 3..19 */
    x = draw(s, 3);
    uint32_t desc_len = 3 + u32n(lo32(x), 97); /* 3..99 */

    a->initial_bid = price_from(draw(s, 4));
    a->reserve = a->initial_bid + price_from(draw(s, 5));
    a->date_time = g->ts_ms;

    /* expires: 1 + uniform[0, max(2 * horizon, 1)) ms after date_time, where
     * horizon is the event time until num_in_flight_auctions more auctions */
    uint64_t horizon = g->horizon_q + (g->ts_rem + g->horizon_r >= g->cfg.first_event_rate);
    uint64_t range = horizon * 2 > 1 ? horizon * 2 : 1;
    a->expires = a->date_time + 1 + (int64_t)u64n(draw(s, 6), range);

    text_copy(g->item_name, name_len, sizeof g->item_name, draw(s, 7));
    a->item_name = (sp_str_t){ g->item_name, name_len };
    text_copy(g->description, desc_len, sizeof g->description, draw(s, 8));
    a->description = (sp_str_t){ g->description, desc_len };

    uint32_t min, span;
    extra_bounds(g->cfg.avg_auction_size, 8 + name_len + desc_len + 40, &min, &span);
    a->extra = extra_slice(draw(s, 9), min, span);
}

/* Five draws per bid.  Everything that depends only on the epoch was
 * precomputed by epoch_refresh; what is left is branch-free selects on the
 * coin flips, the price and the channel lookup. */
static inline void make_bid(const sp_nexmark_gen_t *g, sp_nexmark_bid_t *b)
{
    uint64_t s = event_seed(g);
    uint64_t r0 = draw(s, 1), r1 = draw(s, 2), r2 = draw(s, 3), r3 = draw(s, 4), r4 = draw(s, 5);

    /* auction: hot with probability 1 - 1/hot_auction_ratio, else uniform
     * over the last num_in_flight_auctions auctions plus AUCTION_ID_LEAD */
    int64_t rnd_a = g->ep_min_auction + (int64_t)u32n(lo32(r1), g->ep_auction_range);
    b->auction = select64(lo32(r0) >= g->hot_auction_min, g->ep_hot_auction, rnd_a);

    /* bidder: hot with probability 1 - 1/hot_bidders_ratio, else a random
     * active person */
    int64_t rnd_p = g->ep_min_bidder + (int64_t)u32n(hi32(r1), g->ep_bidder_range);
    b->bidder = select64(hi32(r0) >= g->hot_bidder_min, g->ep_hot_bidder, rnd_p);

    b->price = price_from(r2);

    /* channel: with probability 1/2 one of the 4 hot channels, else one of
     * the 10,000 cached ones; hot ones sit at the end of the same table */
    uint32_t hot_c = SP_NEXMARK_NUM_CHANNELS + u32n(lo32(r3), NUM_HOT_CHANNELS);
    uint32_t any_c = u32n(lo32(r3), SP_NEXMARK_NUM_CHANNELS);
    uint32_t ch = (uint32_t)select64((int)(r3 >> 63), hot_c, any_c);
    b->channel = (sp_str_t){ T.chan_name[ch], T.chan_name_len[ch] };
    b->url = (sp_str_t){ T.chan_url[ch], T.chan_url_len[ch] };
    b->date_time = g->ts_ms;

    /* extra: length bid_extra_min + uniform(span) (54..81 by default); the
     * offset range is that of the longest length, so it needs no clamp */
    uint32_t len = g->bid_extra_min + u32n(lo32(r4), g->bid_extra_span);
    b->extra = (sp_str_t){ T.extra + u32n(hi32(r4), g->bid_extra_offsets), len };
}

/* Recompute the ep_* bid references after the epoch changed.  For a bid
 * the last person and auction are the last ones of the current epoch. */
static void epoch_refresh(sp_nexmark_gen_t *g)
{
    int64_t pp = g->cfg.person_proportion, ap = g->cfg.auction_proportion;
    int64_t la = (int64_t)g->epoch * ap + ap - 1; /* base 0 */
    int64_t lp = (int64_t)g->epoch * pp + pp - 1;

    g->ep_hot_auction = (la / SP_NEXMARK_HOT_BLOCK) * SP_NEXMARK_HOT_BLOCK + SP_NEXMARK_FIRST_AUCTION_ID;
    int64_t min_a = la - (int64_t)g->cfg.num_in_flight_auctions;
    min_a = min_a < 0 ? 0 : min_a;
    g->ep_min_auction = min_a + SP_NEXMARK_FIRST_AUCTION_ID;
    g->ep_auction_range = (uint32_t)(la - min_a + 1 + SP_NEXMARK_AUCTION_ID_LEAD);

    /* the hot bidder is the second person of the block, so that it differs
     * from the hot seller; both bidder ids carry Flink's +1000 quirk */
    const int64_t bidder_base = SP_NEXMARK_FIRST_PERSON_ID + SP_NEXMARK_BIDDER_QUIRK;
    g->ep_hot_bidder = (lp / SP_NEXMARK_HOT_BLOCK) * SP_NEXMARK_HOT_BLOCK + 1 + bidder_base;
    int64_t num = lp + 1;
    int64_t active = num < (int64_t)g->cfg.num_active_people ? num : (int64_t)g->cfg.num_active_people;
    if (active < 0) active = 0;
    g->ep_min_bidder = num - active + bidder_base;
    g->ep_bidder_range = (uint32_t)(active + SP_NEXMARK_PERSON_ID_LEAD);
}

/* A 32-bit x has u32n(x, ratio) > 0 iff x >= ceil(2^32 / ratio). */
static uint64_t hot_threshold(uint32_t ratio)
{
    return ((UINT64_C(1) << 32) + ratio - 1) / ratio;
}

/* ---- cursor ---------------------------------------------------------- */

static inline void advance(sp_nexmark_gen_t *g)
{
    g->pos++;
    if (++g->offset == g->total_prop) {
        g->offset = 0;
        g->epoch++;
        epoch_refresh(g);
    }
    g->ts_ms += (int64_t)g->ts_step_q;
    g->ts_rem += g->ts_step_r;
    if (g->ts_rem >= g->cfg.first_event_rate) {
        g->ts_rem -= g->cfg.first_event_rate;
        g->ts_ms++;
    }
}

static void set_cursor(sp_nexmark_gen_t *g, uint64_t pos)
{
    uint64_t rate = g->cfg.first_event_rate;
    uint64_t id = g->first_event_id + pos;
    g->pos = pos;
    g->epoch = id / g->total_prop;
    g->offset = (uint32_t)(id % g->total_prop);
    g->ts_ms = g->cfg.base_time_ms + (int64_t)time_offset_ms(g, pos);
    g->ts_rem = ((pos % rate) * g->ts_num) % rate;
    epoch_refresh(g);
}

/* ---- interface ------------------------------------------------------- */

void sp_nexmark_config_init(sp_nexmark_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->events_num = 0;
    cfg->first_event_rate = 10000;
    cfg->person_proportion = 1;
    cfg->auction_proportion = 3;
    cfg->bid_proportion = 46;
    cfg->avg_person_size = 200;
    cfg->avg_auction_size = 500;
    cfg->avg_bid_size = 100;
    cfg->hot_auction_ratio = 2;
    cfg->hot_sellers_ratio = 4;
    cfg->hot_bidders_ratio = 4;
    cfg->num_in_flight_auctions = 100;
    cfg->num_active_people = 1000;
    cfg->base_time_ms = 0;
    cfg->seed = UINT64_C(0x5eed5eed5eed5eed);
}

int sp_nexmark_gen_init(sp_nexmark_gen_t *g, const sp_nexmark_config_t *cfg, uint32_t index, uint32_t count)
{
    memset(g, 0, sizeof *g);
    uint64_t total = (uint64_t)cfg->person_proportion + cfg->auction_proportion + cfg->bid_proportion;
    if (count == 0 || index >= count || total == 0 || total > UINT32_MAX || cfg->first_event_rate == 0 ||
        cfg->hot_auction_ratio == 0 || cfg->hot_sellers_ratio == 0 || cfg->hot_bidders_ratio == 0)
        return -1;
    /* the reference windows are drawn with a 32-bit multiply-shift */
    if (cfg->num_active_people > (UINT32_C(1) << 31) || cfg->num_in_flight_auctions > (UINT32_C(1) << 31))
        return -1;
    uint64_t ts_num = (uint64_t)count * 1000;
    /* time_offset_ms multiplies (pos % rate) by ts_num */
    if (cfg->first_event_rate > (UINT64_C(1) << 63) / ts_num) return -1;

    pthread_once(&tables_once, tables_build);

    g->cfg = *cfg;
    g->total_prop = (uint32_t)total;
    g->key = mix64(cfg->seed ^ UINT64_C(0x243f6a8885a308d3));
    if (cfg->events_num == 0) {
        g->share = (UINT64_C(1) << 62) / count;
        g->first_event_id = (uint64_t)index * g->share;
    } else {
        uint64_t per = cfg->events_num / count, rest = cfg->events_num % count;
        g->share = per + (index < rest ? 1 : 0);
        g->first_event_id = (uint64_t)index * per + (index < rest ? index : rest);
    }
    g->ts_num = ts_num;
    g->ts_step_q = ts_num / cfg->first_event_rate;
    g->ts_step_r = ts_num % cfg->first_event_rate;
    /* horizon of an auction at position p: T(p + L) - T(p) for L =
     * num_in_flight_auctions * P / auction_proportion, which with
     * ts_rem = p * ts_num % rate is horizon_q + (ts_rem + horizon_r >= rate):
     * no division per auction (four 64-bit divisions cost ~40 ns) */
    uint64_t look =
        cfg->auction_proportion ? (uint64_t)cfg->num_in_flight_auctions * total / cfg->auction_proportion : 0;
    g->horizon_q = time_offset_ms(g, look);
    g->horizon_r = ((look % cfg->first_event_rate) * ts_num) % cfg->first_event_rate;
    extra_bounds(cfg->avg_bid_size, 8 + 8 + 8 + 8, &g->bid_extra_min, &g->bid_extra_span);
    if (g->bid_extra_min + g->bid_extra_span > SP_NEXMARK_EXTRA_POOL) return -1;
    g->bid_extra_offsets = SP_NEXMARK_EXTRA_POOL - (g->bid_extra_min + g->bid_extra_span) + 1;
    g->hot_auction_min = hot_threshold(cfg->hot_auction_ratio);
    g->hot_bidder_min = hot_threshold(cfg->hot_bidders_ratio);
    g->hot_seller_min = hot_threshold(cfg->hot_sellers_ratio);
    set_cursor(g, 0);
    return 0;
}

int sp_nexmark_gen_next(sp_nexmark_gen_t *g, sp_nexmark_event_t *ev)
{
    if (g->pos >= g->share) return 0;
    uint32_t pp = g->cfg.person_proportion;
    if (g->offset >= pp + g->cfg.auction_proportion) {
        ev->type = SP_NEXMARK_BID;
        make_bid(g, &ev->u.bid);
    } else if (g->offset < pp) {
        ev->type = SP_NEXMARK_PERSON;
        make_person(g, &ev->u.person);
    } else {
        ev->type = SP_NEXMARK_AUCTION;
        make_auction(g, &ev->u.auction);
    }
    advance(g);
    return 1;
}

int sp_nexmark_gen_next_bid(sp_nexmark_gen_t *g, sp_nexmark_bid_t *bid)
{
    if (g->cfg.bid_proportion == 0) return 0; /* would scan the whole split */
    uint32_t first_bid = g->cfg.person_proportion + g->cfg.auction_proportion;
    for (;;) {
        if (g->pos >= g->share) return 0;
        if (g->offset >= first_bid) break;
        advance(g);
    }
    make_bid(g, bid);
    advance(g);
    return 1;
}

uint64_t sp_nexmark_gen_position(const sp_nexmark_gen_t *g)
{
    return g->pos;
}

uint64_t sp_nexmark_gen_split_events(const sp_nexmark_gen_t *g)
{
    return g->share;
}

int64_t sp_nexmark_gen_next_time(const sp_nexmark_gen_t *g)
{
    return g->ts_ms;
}

int64_t sp_nexmark_gen_next_time_of(const sp_nexmark_gen_t *g, int type)
{
    if (g->pos >= g->share) return INT64_MAX;
    if (type < 0) return g->ts_ms;
    uint32_t pp = g->cfg.person_proportion, ap = g->cfg.auction_proportion, all = g->total_prop;
    uint32_t lo = type == SP_NEXMARK_PERSON ? 0 : type == SP_NEXMARK_AUCTION ? pp : pp + ap;
    uint32_t hi = type == SP_NEXMARK_PERSON ? pp : type == SP_NEXMARK_AUCTION ? pp + ap : all;
    if (lo >= hi) return INT64_MAX;
    uint32_t o = g->offset;
    uint64_t skip = o >= lo && o < hi ? 0 : o < lo ? lo - o : (uint64_t)all - o + lo;
    if (skip == 0) return g->ts_ms;
    uint64_t pos = g->pos + skip;
    if (pos >= g->share) return INT64_MAX;
    return g->cfg.base_time_ms + (int64_t)time_offset_ms(g, pos);
}

int sp_nexmark_gen_seek(sp_nexmark_gen_t *g, uint64_t position)
{
    if (position > g->share) return -1;
    set_cursor(g, position);
    return 0;
}

void sp_nexmark_gen_fini(sp_nexmark_gen_t *g)
{
    memset(g, 0, sizeof *g);
}
