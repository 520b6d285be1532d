/* inflight.c — see inflight.h. */
#include "runtime/inflight.h"

#include <string.h>

#include "types/encoding.h"

#define MAGIC   "SPIF"
#define VERSION 1u
#define HEADER  12u
#define ENTRY   16u

sp_inflight_t *sp_inflight_create(int64_t id)
{
    sp_inflight_t *f = sp_xcalloc(1, sizeof *f);
    f->id = id;
    return f;
}

void sp_inflight_add(sp_inflight_t *f, int channel, int input, sp_batch_t *b)
{
    if (f->n == f->cap) {
        f->cap = f->cap ? 2 * f->cap : 16;
        f->e = sp_xrealloc(f->e, f->cap * sizeof *f->e);
    }
    f->e[f->n++] = (sp_inflight_entry_t){ channel, input, sp_batch_acquire(b) };
    f->rows += b->count;
}

void sp_inflight_free(sp_inflight_t *f)
{
    if (!f) return;
    for (size_t i = 0; i < f->n; i++) sp_batch_release(f->e[i].batch);
    free(f->e);
    free(f->state);
    free(f);
}

int sp_inflight_encode(const sp_inflight_t *f, uint8_t **data, size_t *len, sp_error_t *err)
{
    size_t total = HEADER;
    for (size_t i = 0; i < f->n; i++) total += ENTRY + sp_batch_encoded_size(f->e[i].batch);
    uint8_t *p = sp_xmalloc(total);
    memcpy(p, MAGIC, 4);
    sp_put_le(p + 4, VERSION, 4);
    sp_put_le(p + 8, f->n, 4);
    size_t off = HEADER;
    for (size_t i = 0; i < f->n; i++) {
        size_t bl = sp_batch_encoded_size(f->e[i].batch);
        sp_put_le(p + off, (uint64_t)f->e[i].channel, 4);
        sp_put_le(p + off + 4, (uint64_t)f->e[i].input, 4);
        sp_put_le(p + off + 8, bl, 8);
        int64_t w = sp_batch_encode(f->e[i].batch, p + off + ENTRY, bl);
        if (w < 0) {
            free(p);
            return sp_error_set(err, (int)w, "in-flight data: a batch of %u rows cannot be encoded",
                                f->e[i].batch->count);
        }
        off += ENTRY + bl;
    }
    *data = p;
    *len = total;
    return SPATE_OK;
}

int sp_inflight_decode(const uint8_t *data, size_t len, const spate_schema_t *const *schemas, int ninputs,
                       sp_inflight_fn fn, void *ctx, sp_error_t *err)
{
    if (len < HEADER || memcmp(data, MAGIC, 4) != 0)
        return sp_error_set(err, SPATE_EPARSE, "in-flight data: not an in-flight encoding (%zu bytes)", len);
    if (sp_get_le(data + 4, 4) != VERSION)
        return sp_error_set(err, SPATE_EPARSE, "in-flight data: version %u is not supported",
                            (unsigned)sp_get_le(data + 4, 4));
    uint64_t n = sp_get_le(data + 8, 4);
    size_t off = HEADER;
    for (uint64_t i = 0; i < n; i++) {
        if (len - off < ENTRY)
            return sp_error_set(err, SPATE_EPARSE, "in-flight data: entry %llu is truncated",
                                (unsigned long long)i);
        uint64_t channel = sp_get_le(data + off, 4), input = sp_get_le(data + off + 4, 4);
        uint64_t bl = sp_get_le(data + off + 8, 8);
        off += ENTRY;
        if (input >= (uint64_t)ninputs || !schemas[input])
            return sp_error_set(err, SPATE_EPARSE, "in-flight data: entry %llu is for input %llu of %d",
                                (unsigned long long)i, (unsigned long long)input, ninputs);
        if (bl > len - off)
            return sp_error_set(err, SPATE_EPARSE, "in-flight data: the batch of entry %llu is truncated",
                                (unsigned long long)i);
        sp_batch_t *b;
        int rc = sp_batch_decode(schemas[input], data + off, (size_t)bl, &b, err);
        if (rc) return rc;
        off += (size_t)bl;
        rc = fn(ctx, (int)channel, (int)input, b);
        if (rc) return rc;
    }
    if (off != len) return sp_error_set(err, SPATE_EPARSE, "in-flight data: %zu trailing bytes", len - off);
    return SPATE_OK;
}
