/* opsnap.c — see opsnap.h. */
#include "state/opsnap.h"

#include <stdio.h>
#include <string.h>

#include "state/operator_state.h"

#define MAGIC "SPOS"

void sp_opsnap_init(sp_opsnap_t *s)
{
    memset(s, 0, sizeof *s);
}

static void put(sp_opsnap_t *s, const void *p, size_t n)
{
    if (s->len + n > s->cap) {
        s->cap = (s->len + n) * 2 + 64;
        s->data = sp_xrealloc(s->data, s->cap);
    }
    if (n) memcpy(s->data + s->len, p, n);
    s->len += n;
}

static void put_u32(sp_opsnap_t *s, uint32_t v)
{
    uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
    put(s, b, 4);
}

void sp_opsnap_add(sp_opsnap_t *s, sp_opsnap_kind_t kind, const char *name, const void *payload, size_t len)
{
    if (s->len == 0) {
        put(s, MAGIC, 4);
        put_u32(s, 1);
        put_u32(s, 0); /* count, set by finish */
    }
    size_t nl = name ? strlen(name) : 0;
    if (nl > 255) nl = 255;
    uint8_t head[2] = { (uint8_t)kind, (uint8_t)nl };
    put(s, head, 2);
    put(s, name, nl);
    uint8_t l[8];
    for (int i = 0; i < 8; i++) l[i] = (uint8_t)((uint64_t)len >> (8 * i));
    put(s, l, 8);
    put(s, payload, len);
    s->count++;
}

void sp_opsnap_finish(sp_opsnap_t *s, uint8_t **data, size_t *len)
{
    if (s->count) {
        for (int i = 0; i < 4; i++) s->data[8 + i] = (uint8_t)(s->count >> (8 * i));
        *data = s->data;
        *len = s->len;
        s->data = NULL;
    } else {
        *data = NULL;
        *len = 0;
    }
    sp_opsnap_fini(s);
}

void sp_opsnap_fini(sp_opsnap_t *s)
{
    free(s->data);
    memset(s, 0, sizeof *s);
}

/* ---- a container finished later ---- */

#define HEAD 12 /* magic, version, count */

sp_opsnap_later_t *sp_opsnap_later_create(void)
{
    return sp_xcalloc(1, sizeof(sp_opsnap_later_t));
}

void sp_opsnap_later_add_part(sp_opsnap_later_t *l, sp_opsnap_kind_t kind, const char *name, void *obj,
                              int (*make)(void *obj, sp_snapshot_t **out, sp_error_t *err),
                              void (*drop)(void *obj))
{
    l->parts = sp_xrealloc(l->parts, sizeof *l->parts * (l->nparts + 1));
    sp_opsnap_part_t *p = &l->parts[l->nparts++];
    memset(p, 0, sizeof *p);
    p->kind = kind;
    snprintf(p->name, sizeof p->name, "%s", name ? name : "");
    p->obj = obj;
    p->make = make;
    p->drop = drop;
}

/* A section's head: kind, name length, name, payload length; returns its size. */
static size_t section_head(uint8_t *h, const sp_opsnap_part_t *p, uint64_t len)
{
    size_t nl = strlen(p->name);
    h[0] = (uint8_t)p->kind;
    h[1] = (uint8_t)nl;
    memcpy(h + 2, p->name, nl);
    sp_put_le(h + 2 + nl, len, 8);
    return 2 + nl + 8;
}

int sp_opsnap_later_make(sp_opsnap_later_t *l, size_t *len, sp_error_t *err)
{
    for (uint32_t i = 0; i < l->nparts && !l->made; i++) {
        sp_opsnap_part_t *p = &l->parts[i];
        if (p->snap || !p->make) continue;
        int rc = p->make(p->obj, &p->snap, err);
        if (rc) return rc;
    }
    size_t n = l->now.len ? l->now.len : HEAD;
    for (uint32_t i = 0; i < l->nparts; i++)
        if (l->parts[i].snap) n += 2 + strlen(l->parts[i].name) + 8 + sp_snapshot_size(l->parts[i].snap);
    l->len = n > HEAD ? n : 0;
    l->made = true;
    *len = l->len;
    return SPATE_OK;
}

int sp_opsnap_later_write(sp_opsnap_later_t *l, sp_snapshot_write_fn write, void *ctx, sp_error_t *err)
{
    if (!l->made || !l->len) return SPATE_OK;
    uint32_t count = l->now.count;
    for (uint32_t i = 0; i < l->nparts; i++) count += l->parts[i].snap != NULL;
    uint8_t head[HEAD];
    memcpy(head, MAGIC, 4);
    sp_put_le(head + 4, 1, 4);
    sp_put_le(head + 8, count, 4);
    int rc = write(ctx, head, HEAD, err);
    if (rc == SPATE_OK && l->now.len > HEAD) rc = write(ctx, l->now.data + HEAD, l->now.len - HEAD, err);
    for (uint32_t i = 0; i < l->nparts && rc == SPATE_OK; i++) {
        sp_opsnap_part_t *p = &l->parts[i];
        if (!p->snap) continue;
        uint8_t h[2 + 255 + 8];
        rc = write(ctx, h, section_head(h, p, sp_snapshot_size(p->snap)), err);
        if (rc == SPATE_OK) rc = sp_snapshot_write(p->snap, write, ctx, err);
    }
    return rc;
}

int sp_opsnap_later_encode(sp_opsnap_later_t *l, uint8_t **data, size_t *len, sp_error_t *err)
{
    *data = NULL;
    *len = 0;
    size_t n;
    int rc = sp_opsnap_later_make(l, &n, err);
    if (rc || !n) return rc;
    sp_membuf_t m = { sp_xmalloc(n), 0 };
    rc = sp_opsnap_later_write(l, sp_membuf_write, &m, err);
    if (rc) {
        free(m.p);
        return rc;
    }
    *data = m.p;
    *len = m.len;
    return SPATE_OK;
}

void sp_opsnap_later_destroy(sp_opsnap_later_t *l)
{
    if (!l) return;
    for (uint32_t i = 0; i < l->nparts; i++) {
        sp_snapshot_destroy(l->parts[i].snap);
        if (l->parts[i].drop) l->parts[i].drop(l->parts[i].obj);
    }
    free(l->parts);
    sp_opsnap_fini(&l->now);
    free(l);
}

/* Walks the sections; with fn NULL only checks them. */
static int walk(const uint8_t *data, size_t len, int (*fn)(void *, const sp_opsnap_section_t *), void *ctx,
                sp_error_t *err)
{
    if (len == 0) return SPATE_OK;
    if (len < 12 || memcmp(data, MAGIC, 4) != 0)
        return sp_error_set(err, SPATE_EPARSE, "operator snapshot: not a snapshot (bad magic or length)");
    if (sp_get_le(data + 4, 4) != 1)
        return sp_error_set(err, SPATE_EPARSE, "operator snapshot: version %llu, expected 1",
                            (unsigned long long)sp_get_le(data + 4, 4));
    uint32_t count = (uint32_t)sp_get_le(data + 8, 4);
    size_t at = 12;
    for (uint32_t i = 0; i < count; i++) {
        if (len - at < 2)
            return sp_error_set(err, SPATE_EPARSE, "operator snapshot: section %u truncated", i);
        sp_opsnap_section_t sec;
        sec.kind = (sp_opsnap_kind_t)data[at];
        size_t nl = data[at + 1];
        at += 2;
        if (len - at < nl + 8)
            return sp_error_set(err, SPATE_EPARSE, "operator snapshot: section %u truncated", i);
        memcpy(sec.name, data + at, nl);
        sec.name[nl] = 0;
        at += nl;
        uint64_t pl = sp_get_le(data + at, 8);
        at += 8;
        if (pl > len - at)
            return sp_error_set(err, SPATE_EPARSE, "operator snapshot: section %u ('%s') truncated", i,
                                sec.name);
        sec.payload = data + at;
        sec.len = (size_t)pl;
        at += (size_t)pl;
        int rc = fn ? fn(ctx, &sec) : 0;
        if (rc) return rc;
    }
    if (at != len)
        return sp_error_set(err, SPATE_EPARSE, "operator snapshot: %zu bytes after the sections", len - at);
    return SPATE_OK;
}

int sp_opsnap_parse(const uint8_t *data, size_t len, int (*fn)(void *ctx, const sp_opsnap_section_t *sec),
                    void *ctx, sp_error_t *err)
{
    int rc = walk(data, len, NULL, NULL, err); /* the whole container is checked before any visit */
    return rc ? rc : walk(data, len, fn, ctx, err);
}

typedef struct find_ctx {
    const char *name;
    const uint8_t *payload;
    size_t len;
} find_ctx_t;

static int find_operator(void *ctx, const sp_opsnap_section_t *sec)
{
    find_ctx_t *f = ctx;
    if (sec->kind != SP_OPSNAP_OPERATOR || strcmp(sec->name, f->name) != 0) return 0;
    f->payload = sec->payload;
    f->len = sec->len;
    return 1;
}

int sp_opsnap_operator_share(const sp_opsnap_restore_t *r, const char *name, uint8_t **data, size_t *len,
                             sp_error_t *err)
{
    sp_opstate_bytes_t *old = sp_xcalloc((size_t)r->nold + 1, sizeof *old);
    sp_opstate_bytes_t *out = sp_xcalloc((size_t)r->parallelism + 1, sizeof *out);
    sp_opstate_bytes_t none = { 0 }; /* an instance without the section had no lists */
    sp_opstate_t *empty = sp_opstate_create();
    sp_opstate_snapshot(empty, &none);
    sp_opstate_destroy(empty);
    int rc = SPATE_OK;
    for (int i = 0; i < r->nold && rc == SPATE_OK; i++) {
        find_ctx_t f = { name, NULL, 0 };
        rc = sp_opsnap_parse(r->data[i], r->len[i], find_operator, &f, err);
        if (rc == 1) rc = SPATE_OK;
        old[i] = f.payload ? (sp_opstate_bytes_t){ (uint8_t *)f.payload, f.len } : none; /* borrowed */
    }
    if (rc == SPATE_OK) rc = sp_opstate_redistribute(old, r->nold, r->parallelism, out, err);
    if (rc == SPATE_OK) {
        *data = out[r->index].data;
        *len = out[r->index].len;
        out[r->index].data = NULL;
        for (int j = 0; j < r->parallelism; j++) sp_opstate_bytes_free(&out[j]);
    }
    sp_opstate_bytes_free(&none);
    free(old);
    free(out);
    return rc;
}
