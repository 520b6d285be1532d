/*
 * datagen.c — spate_datagen_source: random and sequence data, as Flink's
 * datagen connector ('fields.#.kind', 'fields.#.start/end',
 * 'fields.#.min/max', 'fields.#.length', 'fields.#.null-rate',
 * 'rows-per-second', 'number-of-rows').
 *
 * Splitting across subtasks (subtask i of p):
 *   - number_of_rows N: subtask i makes N / p rows, the first N % p
 *     subtasks one more, so the total is exactly N;
 *   - a sequence start..end (L values): subtask i owns the contiguous range
 *     of L / p values (the first L % p one more) that starts at
 *     start + i * (L / p) + min(i, L % p): ranges are disjoint and together
 *     cover start..end;
 *   - a subtask ends when its row share or any of its sequence ranges is
 *     used up (as Flink, which stops when any generator has no next value);
 *     with neither bound the source is unbounded;
 *   - rows_per_second R: each subtask emits at R / p rows per second.
 * Those shares are the source's splits: split i of p is what subtask i of
 * a first run at parallelism p makes, with its own random stream.  The
 * split count never changes afterwards: restored at parallelism q (from a
 * checkpoint or savepoint), split s goes to subtask s mod q, so a reader
 * may own several splits — it emits one poll's rows from the split that
 * has made the fewest rows so far (ties: the lowest index), so its splits
 * advance in lock-step — or none (then it ends at once when the source is
 * bounded, and otherwise is idle: vt->idle).  Every split makes exactly
 * the rows it would have made uninterrupted; R stays the job's total, R / q
 * per reader.
 *
 * Position (vt->snapshot; split layout of connector.h, version 2, u64
 * little-endian words after the two header bytes):
 *   offset  size  field
 *   0       1     version = 2
 *   1       1     kind = SP_POS_DATAGEN (3)
 *   2       8     split count P
 *   10      8     n, the splits of this reader
 *   18+32j  8     split index s (< P)              } j = 0..n-1,
 *   26+32j  8     random generator state           } sorted by s
 *   34+32j  8     rows left (2^64-1: unbounded)    }
 *   42+32j  8     rows made                        }
 * Version 1 (before splits: [1][3][rng][left][made], one split, that of
 * the subtask that wrote it) is still read.  A restore rejects other bytes,
 * and rows left + made that do not fit the split, with SPATE_EPARSE.
 *
 * Randomness: one splitmix64 stream per subtask seeded from (seed,
 * subtask), so the same options and subtask give the same rows on every
 * run — except DATE and TIMESTAMP random fields without a range, which
 * follow the wall clock as Flink's do (today / now).
 *
 * Random defaults (min == max == 0 means "the default range"):
 *   BOOLEAN   true or false
 *   INT       the whole INT range        BIGINT  the whole BIGINT range
 *   DOUBLE    [0, 1)                     (Flink: [Double.MIN_VALUE, Double.MAX_VALUE])
 *   DECIMAL   (-B, B), B = min(10^(p-s), 10^9), rounded to the scale
 *   VARCHAR   `length` (default 10) lower-case hex digits, as Flink
 *   BYTES     `length` random bytes
 *   DATE      today; with a range: days since the epoch in [min, max]
 *   TIMESTAMP now;   with a range: ms since the epoch in [min, max]
 * Sequences: INT, BIGINT, DOUBLE, DECIMAL (the number itself), VARCHAR and
 * BYTES (its decimal text), DATE (days), TIMESTAMP (ms); not BOOLEAN.
 *
 * Thread-safety: the spec is immutable; a reader belongs to its task thread.
 */
#include "connectors/connector.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define DEFAULT_LENGTH 10

typedef struct dg_field {
    spate_type_id_t type;
    spate_datagen_kind_t kind;
    bool nullable;
    int precision, scale;
    int64_t start, end; /* sequence bounds */
    int64_t lo, hi;     /* random bounds of INT, BIGINT, DATE, TIMESTAMP */
    double dmin, dmax;  /* random bounds of DOUBLE, DECIMAL (before scaling) */
    bool now;           /* random DATE / TIMESTAMP without a range: the wall clock */
    int length;
    double null_rate;
} dg_field_t;

typedef struct dg_spec {
    int nfields;
    dg_field_t *fields;
    int64_t rows_per_second;
    int64_t number_of_rows;
    uint64_t seed;
} dg_spec_t;

typedef struct dg_split {
    uint32_t index; /* split index of the reader's split count */
    uint64_t rng;
    int64_t left;    /* rows this split still makes; -1 = unbounded */
    int64_t made;    /* rows made so far (index into the sequence ranges) */
    int64_t *seq_lo; /* per field: this split's first sequence value */
} dg_split_t;

typedef struct dg_reader {
    const dg_spec_t *spec;
    uint32_t count;     /* split count */
    int nsplits;        /* splits this reader owns */
    dg_split_t *splits; /* by split index */
    int subtask, parallelism;
    char *text; /* scratch for string values */
    sp_rate_limit_t rate;
} dg_reader_t;

/* ---- helpers ---- */

static inline uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi] (multiply-shift; the bias is below 2^-64 * span, negligible here). */
static inline int64_t rng_range(uint64_t *s, int64_t lo, int64_t hi)
{
    uint64_t span = (uint64_t)hi - (uint64_t)lo;
    uint64_t x = rng_next(s);
    if (span == UINT64_MAX) return (int64_t)x;
    uint64_t off = (uint64_t)(((unsigned __int128)x * (span + 1)) >> 64);
    return (int64_t)((uint64_t)lo + off);
}

/* Uniform in [0, 1). */
static inline double rng_unit(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) * 0x1.0p-53;
}

static __int128 pow10_i128(int n)
{
    __int128 v = 1;
    while (n-- > 0) v *= 10;
    return v;
}

static spate_decimal_t decimal_of(__int128 v)
{
    spate_decimal_t d = { (uint64_t)v, (int64_t)(v >> 64) };
    return d;
}

/* Share of `total` (a count, up to 2^64) that subtask i of p gets, and where it starts. */
static void split(unsigned __int128 total, int i, int p, unsigned __int128 *first, unsigned __int128 *count)
{
    unsigned __int128 base = total / (unsigned)p, rem = total % (unsigned)p;
    *count = base + ((unsigned)i < rem ? 1 : 0);
    *first = base * (unsigned)i + ((unsigned)i < rem ? (unsigned)i : rem);
}

/* ---- vtable ---- */

/* Sets up split `index` of `count` from its start. */
static void split_init(const dg_spec_t *s, dg_split_t *sp, uint32_t index, uint32_t count)
{
    sp->index = index;
    sp->rng = s->seed * 0xD1B54A32D192ED03ull ^ ((uint64_t)index + 1) * 0x9E3779B97F4A7C15ull;
    (void)rng_next(&sp->rng);
    sp->made = 0;
    sp->seq_lo = sp_xcalloc((size_t)s->nfields, sizeof *sp->seq_lo);
    unsigned __int128 left = ~(unsigned __int128)0; /* unbounded */
    unsigned __int128 first, n;
    if (s->number_of_rows > 0) {
        split((unsigned __int128)s->number_of_rows, (int)index, (int)count, &first, &n);
        left = n;
    }
    for (int f = 0; f < s->nfields; f++) {
        const dg_field_t *fd = &s->fields[f];
        if (fd->kind != SPATE_DATAGEN_SEQUENCE) continue;
        unsigned __int128 len = (unsigned __int128)((__int128)fd->end - fd->start + 1);
        split(len, (int)index, (int)count, &first, &n);
        sp->seq_lo[f] = (int64_t)((__int128)fd->start + (__int128)first);
        if (n < left) left = n;
    }
    sp->left = left == ~(unsigned __int128)0 ? -1 : (int64_t)SP_MIN(left, (unsigned __int128)INT64_MAX);
}

static void splits_free(dg_reader_t *r)
{
    for (int k = 0; k < r->nsplits; k++) free(r->splits[k].seq_lo);
    free(r->splits);
    r->splits = NULL;
    r->nsplits = 0;
}

static int dg_open(const void *spec, const sp_source_ctx_t *ctx, void **reader)
{
    const dg_spec_t *s = spec;
    int p = ctx->info.parallelism > 0 ? ctx->info.parallelism : 1;
    int i = ctx->info.subtask_index >= 0 && ctx->info.subtask_index < p ? ctx->info.subtask_index : 0;
    dg_reader_t *r = sp_xcalloc_aligned(sizeof *r); /* written per row: own cache lines */
    r->spec = s;
    r->subtask = i;
    r->parallelism = p;
    r->count = (uint32_t)p;
    r->nsplits = 1;
    r->splits = sp_xcalloc_aligned(sizeof *r->splits); /* written per row: own cache lines */
    split_init(s, &r->splits[0], (uint32_t)i, (uint32_t)p);
    size_t text = 24;
    for (int f = 0; f < s->nfields; f++)
        if ((size_t)s->fields[f].length > text) text = (size_t)s->fields[f].length;
    r->text = sp_xmalloc(text + 1);
    sp_rate_limit_init(&r->rate, (double)s->rows_per_second / p);
    *reader = r;
    return SPATE_OK;
}

static void set_text_value(spate_collector_t *out, int f, dg_reader_t *r, dg_split_t *sp,
                           const dg_field_t *fd, int64_t seq)
{
    size_t len;
    if (fd->kind == SPATE_DATAGEN_SEQUENCE) {
        len = (size_t)snprintf(r->text, 24, "%" PRId64, seq);
    } else if (fd->type == SPATE_TYPE_VARCHAR) {
        static const char hex[] = "0123456789abcdef";
        len = (size_t)fd->length;
        uint64_t bits = 0;
        for (size_t k = 0; k < len; k++) {
            if ((k & 15) == 0) bits = rng_next(&sp->rng);
            r->text[k] = hex[bits & 15];
            bits >>= 4;
        }
    } else {
        len = (size_t)fd->length;
        for (size_t k = 0; k < len; k += 8) {
            uint64_t bits = rng_next(&sp->rng);
            memcpy(r->text + k, &bits, SP_MIN(8, len - k));
        }
    }
    spate_out_set_string(out, f, r->text, len);
}

static void set_value(spate_collector_t *out, int f, dg_reader_t *r, dg_split_t *sp, const dg_field_t *fd,
                      int64_t now_ms)
{
    if (fd->null_rate > 0 && rng_unit(&sp->rng) < fd->null_rate) {
        spate_out_set_null(out, f);
        return;
    }
    bool seq = fd->kind == SPATE_DATAGEN_SEQUENCE;
    int64_t v = seq ? sp->seq_lo[f] + sp->made : 0;
    switch (fd->type) {
    case SPATE_TYPE_BOOLEAN: spate_out_set_boolean(out, f, rng_next(&sp->rng) >> 63); break;
    case SPATE_TYPE_INT:
        spate_out_set_int(out, f, (int32_t)(seq ? v : rng_range(&sp->rng, fd->lo, fd->hi)));
        break;
    case SPATE_TYPE_BIGINT:
        spate_out_set_bigint(out, f, seq ? v : rng_range(&sp->rng, fd->lo, fd->hi));
        break;
    case SPATE_TYPE_DOUBLE:
        spate_out_set_double(out, f, seq ? (double)v : fd->dmin + rng_unit(&sp->rng) * (fd->dmax - fd->dmin));
        break;
    case SPATE_TYPE_DECIMAL: {
        __int128 unscaled;
        if (seq) {
            unscaled = (__int128)v * pow10_i128(fd->scale);
        } else {
            __int128 limit = pow10_i128(fd->precision) - 1; /* |unscaled| < 10^precision */
            double x =
                (fd->dmin + rng_unit(&sp->rng) * (fd->dmax - fd->dmin)) * (double)pow10_i128(fd->scale);
            x = round(SP_MAX(-1e38, SP_MIN(x, 1e38))); /* in range of __int128 before the conversion */
            unscaled = (__int128)x;
            if (unscaled > limit) unscaled = limit;
            if (unscaled < -limit) unscaled = -limit;
        }
        spate_out_set_decimal(out, f, decimal_of(unscaled));
        break;
    }
    case SPATE_TYPE_VARCHAR:
    case SPATE_TYPE_BYTES: set_text_value(out, f, r, sp, fd, v); break;
    case SPATE_TYPE_DATE: {
        int64_t today = now_ms >= 0 ? now_ms / 86400000 : -((-now_ms + 86399999) / 86400000);
        spate_out_set_date(out, f,
                           (int32_t)(seq       ? v
                                     : fd->now ? today
                                               : rng_range(&sp->rng, fd->lo, fd->hi)));
        break;
    }
    case SPATE_TYPE_TIMESTAMP:
        spate_out_set_timestamp(out, f, seq ? v : fd->now ? now_ms : rng_range(&sp->rng, fd->lo, fd->hi));
        break;
    }
}

/* The split to read next: of those not used up, the one that made the fewest rows (ties: the
 * lowest index); NULL when all are used up. */
static dg_split_t *next_split(dg_reader_t *r)
{
    dg_split_t *best = NULL;
    for (int k = 0; k < r->nsplits; k++) {
        dg_split_t *sp = &r->splits[k];
        if (sp->left != 0 && (!best || sp->made < best->made)) best = sp;
    }
    return best;
}

static bool dg_bounded(const dg_spec_t *s)
{
    bool bounded = s->number_of_rows > 0;
    for (int f = 0; f < s->nfields; f++) bounded |= s->fields[f].kind == SPATE_DATAGEN_SEQUENCE;
    return bounded;
}

static int dg_poll(void *reader, const sp_source_ctx_t *ctx, int64_t *wait_ms)
{
    dg_reader_t *r = reader;
    const dg_spec_t *s = r->spec;
    if (r->nsplits == 0 && !dg_bounded(s)) { /* no split: nothing ever (vt->idle) */
        *wait_ms = 100;
        return SP_FLOW_IDLE;
    }
    dg_split_t *sp = next_split(r);
    if (!sp) return SP_FLOW_END;
    int64_t n = sp_rate_limit_budget(&r->rate, wait_ms);
    if (n == 0) return SP_FLOW_IDLE;
    n = SP_MIN(n, SP_BATCH_CAPACITY);
    if (sp->left > 0) n = SP_MIN(n, sp->left);
    int64_t now_ms = sp_clock_wall_ms();
    for (int64_t k = 0; k < n; k++) {
        for (int f = 0; f < s->nfields; f++) set_value(ctx->out, f, r, sp, &s->fields[f], now_ms);
        int rc = spate_out_emit(ctx->out);
        if (rc != SPATE_OK) return rc;
        sp->made++;
    }
    if (sp->left > 0) sp->left -= n;
    sp_rate_limit_sent(&r->rate, n);
    return SP_FLOW_MORE;
}

static bool dg_idle(void *reader)
{
    const dg_reader_t *r = reader;
    return r->nsplits == 0 && !dg_bounded(r->spec);
}

static void dg_close(void *reader)
{
    dg_reader_t *r = reader;
    if (!r) return;
    splits_free(r);
    free(r->text);
    free(r);
}

static void dg_destroy(void *spec)
{
    dg_spec_t *s = spec;
    if (!s) return;
    free(s->fields);
    free(s);
}

/* Position: per split its index, the random generator's state, the rows left and the rows made
 * (random values come from rng, sequences from made); layout in the file header. */
static int dg_snapshot(void *reader, uint8_t **bytes, size_t *len, sp_error_t *err)
{
    SP_UNUSED(err);
    const dg_reader_t *r = reader;
    uint64_t *v = sp_xcalloc((size_t)r->nsplits * 4 + 1, sizeof *v);
    for (int k = 0; k < r->nsplits; k++) {
        const dg_split_t *sp = &r->splits[k];
        uint64_t *w = v + 4 * k;
        w[0] = sp->index;
        w[1] = sp->rng;
        w[2] = (uint64_t)sp->left;
        w[3] = (uint64_t)sp->made;
    }
    *bytes = sp_source_splits_encode(SP_POS_DATAGEN, r->count, v, r->nsplits, 3, len);
    free(v);
    return SPATE_OK;
}

/* Takes the splits of `got` that are this reader's (all of them, or split s where s mod
 * parallelism is this subtask) as its only splits. */
static int take_splits(dg_reader_t *r, const sp_split_pos_t *got, int n, uint32_t count, bool all,
                       sp_error_t *err)
{
    int mine = 0;
    for (int k = 0; k < n; k++) mine += all || (int)(got[k].split % (uint32_t)r->parallelism) == r->subtask;
    dg_split_t *splits = sp_xcalloc_aligned(sizeof *splits * ((size_t)mine + 1));
    int m = 0, rc = SPATE_OK;
    for (int k = 0; k < n; k++) {
        if (!all && (int)(got[k].split % (uint32_t)r->parallelism) != r->subtask) continue;
        dg_split_t *sp = &splits[m++];
        split_init(r->spec, sp, got[k].split, count);
        int64_t left = (int64_t)got[k].v[1], made = (int64_t)got[k].v[2];
        bool fits = made >= 0 && (sp->left < 0 ? left == -1 : left >= 0 && left + made == sp->left);
        if (!fits && rc == SPATE_OK)
            rc = sp_error_set(err, SPATE_EPARSE,
                              "datagen source: bad checkpointed position: split %u of %u has %lld rows left "
                              "and %lld made, which does not fit the options",
                              got[k].split, count, (long long)left, (long long)made);
        sp->rng = got[k].v[0];
        sp->left = left;
        sp->made = made;
    }
    dg_reader_t old = *r;
    r->splits = splits;
    r->nsplits = m;
    r->count = count;
    if (rc) { /* keep the reader as it was */
        splits_free(r);
        r->splits = old.splits;
        r->nsplits = old.nsplits;
        r->count = old.count;
        return rc;
    }
    splits_free(&old);
    return SPATE_OK;
}

static int dg_restore(void *reader, const uint8_t *bytes, size_t len, sp_error_t *err)
{
    dg_reader_t *r = reader;
    sp_split_pos_t *got;
    int n;
    uint32_t count;
    int rc =
        sp_source_splits_decode(&bytes, &len, 1, SP_POS_DATAGEN, 3, (uint32_t)r->subtask,
                                (uint32_t)r->parallelism, false, "datagen source", &got, &n, &count, err);
    if (rc) return rc;
    if (count > 0) rc = take_splits(r, got, n, count, true, err); /* count 0: no bytes */
    free(got);
    return rc;
}

static int dg_restore_splits(void *reader, const uint8_t *const *positions, const size_t *lens, int npos,
                             sp_error_t *err)
{
    dg_reader_t *r = reader;
    sp_split_pos_t *got;
    int n;
    uint32_t count;
    int rc = sp_source_splits_decode(positions, lens, npos, SP_POS_DATAGEN, 3, 0, (uint32_t)npos, true,
                                     "datagen source", &got, &n, &count, err);
    if (rc) return rc;
    if (count > 0) rc = take_splits(r, got, n, count, false, err); /* count 0: no position at all */
    free(got);
    return rc;
}

static const sp_source_vtable_t datagen_vtable = {
    .kind = "datagen",
    .open = dg_open,
    .poll = dg_poll,
    .close = dg_close,
    .destroy = dg_destroy,
    .skipped = NULL,
    .snapshot = dg_snapshot,
    .restore = dg_restore,
    .restore_splits = dg_restore_splits,
    .idle = dg_idle,
};

/* ---- constructor ---- */

void spate_datagen_options_init(spate_datagen_options_t *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->rows_per_second = 0;
    opts->number_of_rows = 0;
    opts->seed = 0;
    opts->fields = NULL;
}

void spate_datagen_field_init(spate_datagen_field_t *field)
{
    memset(field, 0, sizeof *field);
    field->kind = SPATE_DATAGEN_RANDOM;
    field->length = DEFAULT_LENGTH;
}

/* Integer bounds of a random field from its double options; false when the range is empty. */
static bool int_bounds(const spate_datagen_field_t *in, int64_t tmin, int64_t tmax, int64_t *lo, int64_t *hi)
{
    if (in->min == 0 && in->max == 0) {
        *lo = tmin;
        *hi = tmax;
        return true;
    }
    double a = ceil(in->min), b = floor(in->max);
    *lo = a <= (double)tmin ? tmin : a >= (double)tmax ? tmax : (int64_t)a;
    *hi = b >= (double)tmax ? tmax : b <= (double)tmin ? tmin : (int64_t)b;
    return a <= b && *lo <= *hi;
}

static int check_field(const spate_schema_t *schema, int f, const spate_datagen_field_t *in, dg_field_t *out)
{
    const char *name = spate_schema_field_name(schema, f);
    memset(out, 0, sizeof *out);
    out->type = spate_schema_field_type(schema, f);
    out->nullable = spate_schema_field_nullable(schema, f);
    out->precision = spate_schema_field_precision(schema, f);
    out->scale = spate_schema_field_scale(schema, f);
    out->kind = in->kind;
    out->length = in->length ? in->length : DEFAULT_LENGTH;
    out->null_rate = in->null_rate;
    if (in->kind != SPATE_DATAGEN_RANDOM && in->kind != SPATE_DATAGEN_SEQUENCE)
        return sp_set_error(SPATE_EINVAL, "datagen field '%s': unknown kind %d", name, (int)in->kind);
    if (in->length < 0) return sp_set_error(SPATE_EINVAL, "datagen field '%s': length must be >= 0", name);
    if (!(in->null_rate >= 0 && in->null_rate <= 1))
        return sp_set_error(SPATE_EINVAL, "datagen field '%s': null_rate must be in [0, 1]", name);
    if (in->null_rate > 0 && !out->nullable)
        return sp_set_error(SPATE_EINVAL, "datagen field '%s': null_rate > 0 on a NOT NULL field", name);

    if (in->kind == SPATE_DATAGEN_SEQUENCE) {
        out->null_rate = 0; /* as Flink: sequences have no NULLs */
        out->start = in->start;
        out->end = in->end;
        if (in->start > in->end)
            return sp_set_error(SPATE_EINVAL, "datagen field '%s': sequence start %" PRId64 " > end %" PRId64,
                                name, in->start, in->end);
        switch (out->type) {
        case SPATE_TYPE_BOOLEAN:
            return sp_set_error(SPATE_EINVAL, "datagen field '%s': BOOLEAN has no sequence generator", name);
        case SPATE_TYPE_INT:
        case SPATE_TYPE_DATE:
            if (in->start < INT32_MIN || in->end > INT32_MAX)
                return sp_set_error(SPATE_EINVAL, "datagen field '%s': sequence exceeds the range of %s",
                                    name, sp_type_name(out->type));
            break;
        case SPATE_TYPE_DECIMAL: {
            __int128 lim = pow10_i128(out->precision - out->scale);
            if ((__int128)in->start <= -lim || (__int128)in->end >= lim)
                return sp_set_error(SPATE_EINVAL, "datagen field '%s': sequence exceeds DECIMAL(%d,%d)", name,
                                    out->precision, out->scale);
            break;
        }
        default: break;
        }
        return SPATE_OK;
    }

    if (!(in->min == 0 && in->max == 0) && !(in->min <= in->max))
        return sp_set_error(SPATE_EINVAL, "datagen field '%s': min %g > max %g", name, in->min, in->max);
    bool ok = true;
    switch (out->type) {
    case SPATE_TYPE_INT: ok = int_bounds(in, INT32_MIN, INT32_MAX, &out->lo, &out->hi); break;
    case SPATE_TYPE_BIGINT: ok = int_bounds(in, INT64_MIN, INT64_MAX, &out->lo, &out->hi); break;
    case SPATE_TYPE_DATE:
    case SPATE_TYPE_TIMESTAMP:
        out->now = in->min == 0 && in->max == 0;
        if (!out->now)
            ok = int_bounds(in, out->type == SPATE_TYPE_DATE ? INT32_MIN : INT64_MIN,
                            out->type == SPATE_TYPE_DATE ? INT32_MAX : INT64_MAX, &out->lo, &out->hi);
        break;
    case SPATE_TYPE_DOUBLE:
        out->dmin = in->min;
        out->dmax = in->min == 0 && in->max == 0 ? 1.0 : in->max;
        break;
    case SPATE_TYPE_DECIMAL: {
        double b = (double)pow10_i128(out->precision - out->scale);
        if (b > 1e9) b = 1e9;
        out->dmin = in->min == 0 && in->max == 0 ? -b : in->min;
        out->dmax = in->min == 0 && in->max == 0 ? b : in->max;
        break;
    }
    default: break;
    }
    if (!ok)
        return sp_set_error(SPATE_EINVAL, "datagen field '%s': no %s value in [%g, %g]", name,
                            sp_type_name(out->type), in->min, in->max);
    return SPATE_OK;
}

spate_source_t *spate_datagen_source(const spate_schema_t *schema, const spate_datagen_options_t *opts)
{
    spate_datagen_options_t o;
    if (opts)
        o = *opts;
    else
        spate_datagen_options_init(&o);
    if (!schema || spate_schema_field_count(schema) == 0) {
        sp_set_error(SPATE_EINVAL, "datagen source: no schema");
        return NULL;
    }
    if (o.rows_per_second < 0 || o.number_of_rows < 0) {
        sp_set_error(SPATE_EINVAL, "datagen source: rows_per_second and number_of_rows must be >= 0");
        return NULL;
    }
    dg_spec_t *s = sp_xcalloc(1, sizeof *s);
    s->nfields = spate_schema_field_count(schema);
    s->fields = sp_xcalloc((size_t)s->nfields, sizeof *s->fields);
    s->rows_per_second = o.rows_per_second;
    s->number_of_rows = o.number_of_rows;
    s->seed = o.seed;
    bool bounded = o.number_of_rows > 0;
    for (int f = 0; f < s->nfields; f++) {
        spate_datagen_field_t def;
        spate_datagen_field_init(&def);
        if (check_field(schema, f, o.fields ? &o.fields[f] : &def, &s->fields[f]) != SPATE_OK) {
            dg_destroy(s);
            return NULL;
        }
        bounded |= s->fields[f].kind == SPATE_DATAGEN_SEQUENCE;
    }
    return sp_source_new(&datagen_vtable, s, schema, bounded, true);
}
