/*
 * operator_state.c — the operator state store (named lists of byte elements
 * per operator instance), its snapshot encoding, restore, and the
 * redistribution of snapshots to a new parallelism.  Formats and rules:
 * operator_state.h.
 *
 * A list keeps its elements in one buffer, already in the encoding's form
 * ([u32 length][bytes] back to back), so a snapshot copies each list with
 * one memcpy and a restore takes the bytes back the same way.  Lists are
 * few per operator: the store finds them by a linear search over names.
 */
#include "state/operator_state.h"

#include <string.h>

#define MAGIC_0 'S'
#define MAGIC_1 'P'
#define MAGIC_2 'O'
#define MAGIC_3 'S'
#define VERSION 1
#define HEADER  9 /* magic, version, list count */

struct sp_opstate_list {
    char *name;
    size_t nlen;
    sp_opstate_mode_t mode;
    uint8_t *data; /* the elements: [u32 length][bytes] ... */
    size_t len, cap;
    size_t count;
};

struct sp_opstate {
    sp_opstate_list_t **lists; /* in declaration (or restore) order */
    int n, cap;
};

static void put_u32(uint8_t *at, uint32_t v)
{
    sp_put_le(at, v, 4);
}

static uint32_t get_u32(const uint8_t *at)
{
    return (uint32_t)sp_get_le(at, 4);
}

const char *sp_opstate_mode_name(sp_opstate_mode_t mode)
{
    return mode == SP_OPSTATE_UNION ? "union list state" : "list state";
}

/* ---- the store ---- */

sp_opstate_t *sp_opstate_create(void)
{
    return sp_xcalloc(1, sizeof(sp_opstate_t));
}

static void list_free(sp_opstate_list_t *l)
{
    free(l->name);
    free(l->data);
    free(l);
}

static void drop_lists(sp_opstate_t *s)
{
    for (int i = 0; i < s->n; i++) list_free(s->lists[i]);
    s->n = 0;
}

void sp_opstate_destroy(sp_opstate_t *s)
{
    if (!s) return;
    drop_lists(s);
    free(s->lists);
    free(s);
}

static sp_opstate_list_t *find(const sp_opstate_t *s, const char *name, size_t nlen)
{
    for (int i = 0; i < s->n; i++)
        if (s->lists[i]->nlen == nlen && memcmp(s->lists[i]->name, name, nlen) == 0) return s->lists[i];
    return NULL;
}

static sp_opstate_list_t *add_list(sp_opstate_t *s, const char *name, size_t nlen, sp_opstate_mode_t mode)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 4;
        s->lists = sp_xrealloc(s->lists, sizeof *s->lists * (size_t)s->cap);
    }
    sp_opstate_list_t *l = sp_xcalloc(1, sizeof *l);
    l->name = sp_xstrndup(name, nlen);
    l->nlen = nlen;
    l->mode = mode;
    s->lists[s->n++] = l;
    return l;
}

sp_opstate_list_t *sp_opstate_declare(sp_opstate_t *s, const char *name, sp_opstate_mode_t mode,
                                      sp_error_t *err)
{
    size_t nlen = name ? strlen(name) : 0;
    if (nlen == 0 || nlen > SP_OPSTATE_NAME_MAX) {
        sp_error_set(err, SPATE_EINVAL, "operator state needs a name of 1 to %d bytes (got %s%.40s%s)",
                     SP_OPSTATE_NAME_MAX, name ? "'" : "", name ? name : "NULL", name ? "'" : "");
        return NULL;
    }
    sp_opstate_list_t *l = find(s, name, nlen);
    if (!l) return add_list(s, name, nlen, mode);
    if (l->mode != mode) {
        sp_error_set(err, SPATE_EINVAL, "operator state '%s' is a %s; it cannot also be a %s", name,
                     sp_opstate_mode_name(l->mode), sp_opstate_mode_name(mode));
        return NULL;
    }
    return l;
}

sp_opstate_list_t *sp_opstate_find(const sp_opstate_t *s, const char *name)
{
    return name ? find(s, name, strlen(name)) : NULL;
}

int sp_opstate_count(const sp_opstate_t *s)
{
    return s->n;
}

/* ---- lists ---- */

const char *sp_opstate_list_name(const sp_opstate_list_t *l)
{
    return l->name;
}

sp_opstate_mode_t sp_opstate_list_mode(const sp_opstate_list_t *l)
{
    return l->mode;
}

static uint8_t *reserve(sp_opstate_list_t *l, size_t more)
{
    if (l->cap - l->len < more) {
        size_t cap = l->cap ? l->cap : 64;
        while (cap - l->len < more) cap *= 2;
        l->data = sp_xrealloc(l->data, cap);
        l->cap = cap;
    }
    return l->data + l->len;
}

void sp_opstate_list_add(sp_opstate_list_t *l, const void *value, size_t len)
{
    uint8_t *at = reserve(l, 4 + len);
    put_u32(at, (uint32_t)len);
    if (len) memcpy(at + 4, value, len);
    l->len += 4 + len;
    l->count++;
}

/* Appends `count` elements already in the list form (run, n bytes). */
static void append_run(sp_opstate_list_t *l, const uint8_t *run, size_t n, size_t count)
{
    if (n) memcpy(reserve(l, n), run, n);
    l->len += n;
    l->count += count;
}

int sp_opstate_list_get(const sp_opstate_list_t *l, spate_state_visit_fn fn, void *ctx)
{
    if (l->count == 0) return SPATE_OK;
    size_t len = l->len;
    uint8_t *copy = sp_xmalloc(len); /* fn may change the list */
    memcpy(copy, l->data, len);
    int rc = SPATE_OK;
    for (size_t at = 0; rc == SPATE_OK && at < len;) {
        uint32_t n = get_u32(copy + at);
        rc = fn(ctx, copy + at + 4, n);
        at += 4 + (size_t)n;
    }
    free(copy);
    return rc;
}

size_t sp_opstate_list_size(const sp_opstate_list_t *l)
{
    return l->count;
}

void sp_opstate_list_clear(sp_opstate_list_t *l)
{
    l->len = 0;
    l->count = 0;
}

void sp_opstate_list_update(sp_opstate_list_t *l, const void *const *values, const size_t *lens, size_t n)
{
    sp_opstate_list_clear(l);
    for (size_t i = 0; i < n; i++) sp_opstate_list_add(l, values[i], lens[i]);
}

/* ---- snapshot ---- */

void sp_opstate_snapshot(const sp_opstate_t *s, sp_opstate_bytes_t *out)
{
    size_t size = HEADER;
    for (int i = 0; i < s->n; i++) size += 4 + s->lists[i]->nlen + 1 + 4 + s->lists[i]->len;
    uint8_t *b = sp_xmalloc(size), *at = b;
    *at++ = MAGIC_0;
    *at++ = MAGIC_1;
    *at++ = MAGIC_2;
    *at++ = MAGIC_3;
    *at++ = VERSION;
    put_u32(at, (uint32_t)s->n);
    at += 4;
    for (int i = 0; i < s->n; i++) {
        const sp_opstate_list_t *l = s->lists[i];
        put_u32(at, (uint32_t)l->nlen);
        memcpy(at + 4, l->name, l->nlen);
        at += 4 + l->nlen;
        *at++ = (uint8_t)l->mode;
        put_u32(at, (uint32_t)l->count);
        at += 4;
        if (l->len) memcpy(at, l->data, l->len);
        at += l->len;
    }
    out->data = b;
    out->len = size;
}

void sp_opstate_bytes_free(sp_opstate_bytes_t *b)
{
    if (!b) return;
    free(b->data);
    b->data = NULL;
    b->len = 0;
}

/* ---- restore: the encoding is untrusted ---- */

typedef struct reader {
    const uint8_t *p;
    size_t left;
    size_t off; /* offset of p from the start, for messages */
} reader_t;

static const uint8_t *take(reader_t *r, size_t n)
{
    if (r->left < n) return NULL;
    const uint8_t *at = r->p;
    r->p += n;
    r->left -= n;
    r->off += n;
    return at;
}

static int bad(sp_error_t *err, const reader_t *r, const char *what)
{
    return sp_error_set(err, SPATE_EPARSE, "malformed operator state snapshot at byte %zu: %s", r->off, what);
}

static int restore_list(sp_opstate_t *s, reader_t *r, sp_error_t *err)
{
    const uint8_t *at = take(r, 4);
    if (!at) return bad(err, r, "truncated list header");
    uint32_t nlen = get_u32(at);
    if (nlen == 0 || nlen > SP_OPSTATE_NAME_MAX) return bad(err, r, "list name length out of range");
    const uint8_t *name = take(r, nlen);
    if (!name) return bad(err, r, "truncated list name");
    if (memchr(name, 0, nlen)) return bad(err, r, "NUL byte in a list name");
    if (find(s, (const char *)name, nlen)) return bad(err, r, "list name appears twice");
    const uint8_t *mc = take(r, 5);
    if (!mc) return bad(err, r, "truncated list header");
    if (mc[0] != SP_OPSTATE_SPLIT && mc[0] != SP_OPSTATE_UNION) return bad(err, r, "unknown list mode");
    uint32_t count = get_u32(mc + 1);
    const uint8_t *run = r->p;
    size_t start = r->off;
    for (uint32_t i = 0; i < count; i++) {
        at = take(r, 4);
        if (!at || !take(r, get_u32(at))) return bad(err, r, "truncated element");
    }
    sp_opstate_list_t *l = add_list(s, (const char *)name, nlen, (sp_opstate_mode_t)mc[0]);
    append_run(l, run, r->off - start, count);
    return SPATE_OK;
}

int sp_opstate_restore(sp_opstate_t *s, const uint8_t *data, size_t len, sp_error_t *err)
{
    if (s->n)
        return sp_error_set(err, SPATE_ESTATE, "operator state restored after %d list(s) were declared",
                            s->n);
    reader_t r = { data, data ? len : 0, 0 };
    const uint8_t *h = take(&r, HEADER);
    int rc = SPATE_OK;
    if (!h)
        rc = bad(err, &r, "shorter than its header");
    else if (h[0] != MAGIC_0 || h[1] != MAGIC_1 || h[2] != MAGIC_2 || h[3] != MAGIC_3)
        rc = sp_error_set(err, SPATE_EPARSE, "not an operator state snapshot (bad magic)");
    else if (h[4] != VERSION)
        rc =
            sp_error_set(err, SPATE_EPARSE,
                         "operator state snapshot of format version %u (this build reads %d)", h[4], VERSION);
    for (uint32_t i = 0, n = h ? get_u32(h + 5) : 0; rc == SPATE_OK && i < n; i++)
        rc = restore_list(s, &r, err);
    if (rc == SPATE_OK && r.left) rc = bad(err, &r, "trailing bytes after the last list");
    if (rc) drop_lists(s);
    return rc;
}

/* ---- redistribution ---- */

/* Splits the elements of `name` over dst[0..new_n-1] (see the header's rules). */
static void split(sp_opstate_t *const *src, int old_n, sp_opstate_t *const *dst, int new_n, const char *name,
                  size_t nlen)
{
    if (old_n == new_n) { /* same parallelism: every instance keeps its own */
        for (int k = 0; k < old_n; k++) {
            const sp_opstate_list_t *l = find(src[k], name, nlen);
            if (l) append_run(find(dst[k], name, nlen), l->data, l->len, l->count);
        }
        return;
    }
    size_t total = 0;
    for (int k = 0; k < old_n; k++) {
        const sp_opstate_list_t *l = find(src[k], name, nlen);
        total += l ? l->count : 0;
    }
    size_t base = total / (size_t)new_n, extra = total % (size_t)new_n;
    int j = 0;
    size_t placed = 0; /* in run j */
    for (int k = 0; k < old_n; k++) {
        const sp_opstate_list_t *l = find(src[k], name, nlen);
        for (size_t at = 0; l && at < l->len;) {
            while (placed == base + ((size_t)j < extra)) {
                j++;
                placed = 0;
            }
            uint32_t n = get_u32(l->data + at);
            sp_opstate_list_add(find(dst[j], name, nlen), l->data + at + 4, n);
            placed++;
            at += 4 + (size_t)n;
        }
    }
}

int sp_opstate_redistribute(const sp_opstate_bytes_t *old, int old_n, int new_n, sp_opstate_bytes_t *out,
                            sp_error_t *err)
{
    if (new_n < 1 || old_n < 0 || (old_n > 0 && !old))
        return sp_error_set(err, SPATE_EINVAL, "operator state redistribution from %d to %d instances", old_n,
                            new_n);
    sp_opstate_t **src = sp_xcalloc((size_t)old_n + 1, sizeof *src);
    sp_opstate_t **dst = sp_xcalloc((size_t)new_n, sizeof *dst);
    int rc = SPATE_OK;
    for (int k = 0; k < old_n && rc == SPATE_OK; k++) {
        sp_error_t e = { 0 };
        src[k] = sp_opstate_create();
        rc = sp_opstate_restore(src[k], old[k].data, old[k].len, &e);
        if (rc) sp_error_set(err, rc, "snapshot of instance %d: %s", k, e.message);
    }
    for (int j = 0; j < new_n; j++) dst[j] = sp_opstate_create();
    /* every name, in order of first appearance; dst[0] records which are done */
    for (int k = 0; k < old_n && rc == SPATE_OK; k++) {
        for (int i = 0; i < src[k]->n && rc == SPATE_OK; i++) {
            const sp_opstate_list_t *l = src[k]->lists[i];
            if (find(dst[0], l->name, l->nlen)) continue;
            for (int k2 = k + 1; k2 < old_n && rc == SPATE_OK; k2++) {
                const sp_opstate_list_t *o = find(src[k2], l->name, l->nlen);
                if (o && o->mode != l->mode)
                    rc = sp_error_set(err, SPATE_EINVAL,
                                      "operator state '%s' is a %s in instance %d but a %s in instance %d",
                                      l->name, sp_opstate_mode_name(l->mode), k,
                                      sp_opstate_mode_name(o->mode), k2);
            }
            if (rc) break;
            for (int j = 0; j < new_n; j++) add_list(dst[j], l->name, l->nlen, l->mode);
            if (l->mode == SP_OPSTATE_SPLIT) {
                split(src, old_n, dst, new_n, l->name, l->nlen);
                continue;
            }
            for (int k2 = k; k2 < old_n; k2++) { /* union: all to all (none before k has it) */
                const sp_opstate_list_t *o = find(src[k2], l->name, l->nlen);
                for (int j = 0; o && j < new_n; j++)
                    append_run(find(dst[j], l->name, l->nlen), o->data, o->len, o->count);
            }
        }
    }
    for (int j = 0; j < new_n; j++) {
        if (rc == SPATE_OK) sp_opstate_snapshot(dst[j], &out[j]);
        sp_opstate_destroy(dst[j]);
    }
    for (int k = 0; k < old_n; k++) sp_opstate_destroy(src[k]);
    free(src);
    free(dst);
    return rc;
}
