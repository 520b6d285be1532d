/* metadata.c — see metadata.h (the byte table is there). */
#include "checkpoint/metadata.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <xxhash.h>

enum { TAG_CHECKPOINT = 1, TAG_OPERATOR = 2 };
enum { HFLAG_KEY_GROUPS = 1 };

/* ---- the value ---- */

void sp_ckpt_meta_init(sp_ckpt_meta_t *m)
{
    memset(m, 0, sizeof *m);
}

static void operator_free(sp_ckpt_operator_t *op)
{
    if (!op) return;
    for (uint32_t s = 0; op->subtasks && s < op->parallelism; s++) {
        sp_ckpt_subtask_t *st = &op->subtasks[s];
        for (size_t h = 0; h < st->nhandles; h++) {
            free(st->handles[h].path);
            free(st->handles[h].data);
        }
        free(st->handles);
    }
    free(op->subtasks);
    free(op->uid);
    free(op->name);
    free(op);
}

void sp_ckpt_meta_fini(sp_ckpt_meta_t *m)
{
    for (size_t i = 0; i < m->nops; i++) operator_free(m->ops[i]);
    free(m->ops);
    free(m->job_name);
    sp_ckpt_meta_init(m);
}

void sp_ckpt_meta_set_job_name(sp_ckpt_meta_t *m, const char *name)
{
    free(m->job_name);
    m->job_name = sp_xstrdup(name ? name : "");
}

sp_ckpt_operator_t *sp_ckpt_meta_add_operator(sp_ckpt_meta_t *m, const char *uid, const char *name,
                                              uint32_t parallelism, uint32_t max_parallelism)
{
    if (m->nops == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 8;
        m->ops = sp_xrealloc(m->ops, m->cap * sizeof *m->ops);
    }
    sp_ckpt_operator_t *op = sp_xcalloc(1, sizeof *op);
    op->uid = sp_xstrdup(uid ? uid : "");
    op->name = sp_xstrdup(name ? name : "");
    op->parallelism = parallelism;
    op->max_parallelism = max_parallelism;
    op->subtasks = sp_xcalloc(parallelism ? parallelism : 1, sizeof *op->subtasks);
    m->ops[m->nops++] = op;
    return op;
}

static sp_ckpt_handle_t *subtask_push(sp_ckpt_subtask_t *st)
{
    if (st->nhandles == st->cap) {
        st->cap = st->cap ? st->cap * 2 : 4;
        st->handles = sp_xrealloc(st->handles, st->cap * sizeof *st->handles);
    }
    sp_ckpt_handle_t *h = &st->handles[st->nhandles++];
    memset(h, 0, sizeof *h);
    return h;
}

void sp_ckpt_operator_add_handle(sp_ckpt_operator_t *op, uint32_t subtask, const sp_ckpt_handle_t *h)
{
    assert(subtask < op->parallelism);
    sp_ckpt_handle_t *c = subtask_push(&op->subtasks[subtask]);
    *c = *h;
    c->path = h->path ? sp_xstrdup(h->path) : NULL;
    c->data = NULL;
    if (h->data) {
        c->data = sp_xmalloc(h->length);
        memcpy(c->data, h->data, h->length);
    }
}

const sp_ckpt_operator_t *sp_ckpt_meta_find_operator(const sp_ckpt_meta_t *m, const char *uid)
{
    for (size_t i = 0; i < m->nops; i++)
        if (strcmp(m->ops[i]->uid, uid) == 0) return m->ops[i];
    return NULL;
}

const char *sp_ckpt_handle_kind_name(int kind)
{
    switch (kind) {
    case SP_CKPT_HANDLE_KEYED: return "keyed";
    case SP_CKPT_HANDLE_OPERATOR: return "operator";
    case SP_CKPT_HANDLE_BROADCAST: return "broadcast";
    case SP_CKPT_HANDLE_TIMERS: return "timers";
    case SP_CKPT_HANDLE_IN_FLIGHT: return "in-flight data";
    case SP_CKPT_HANDLE_SINK_TXN: return "sink transaction";
    }
    return "unknown";
}

void sp_ckpt_job_id_format(const uint8_t id[SP_CKPT_JOB_ID_LEN], char out[2 * SP_CKPT_JOB_ID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < SP_CKPT_JOB_ID_LEN; i++) {
        out[2 * i] = hex[id[i] >> 4];
        out[2 * i + 1] = hex[id[i] & 15];
    }
    out[2 * SP_CKPT_JOB_ID_LEN] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool sp_ckpt_job_id_parse(const char *hex, uint8_t id[SP_CKPT_JOB_ID_LEN])
{
    if (strlen(hex) != 2 * SP_CKPT_JOB_ID_LEN) return false;
    for (int i = 0; i < SP_CKPT_JOB_ID_LEN; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return false;
        id[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

/* ---- rules shared by encoder and decoder: each returns NULL when fine, else what is wrong ---- */

static const char *path_problem(const char *p, size_t n)
{
    if (n == 0) return "empty path";
    if (n > SP_CKPT_PATH_MAX) return "path too long";
    if (memchr(p, '\0', n)) return "path contains a NUL byte";
    if (p[0] == '/') return "absolute path";
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && p[j] != '/') j++;
        if (j - i == 2 && p[i] == '.' && p[i + 1] == '.') return "path has a '..' component";
        i = j + 1;
    }
    return NULL;
}

static bool kind_is_keyed(int kind)
{
    return kind == SP_CKPT_HANDLE_KEYED || kind == SP_CKPT_HANDLE_TIMERS;
}

static const char *handle_problem(const sp_ckpt_handle_t *h, uint32_t max_parallelism)
{
    if (h->kind < SP_CKPT_HANDLE_KEYED || h->kind > SP_CKPT_HANDLE_SINK_TXN) return "unknown handle kind";
    if (h->location > SP_CKPT_LOC_TASKOWNED) return "unknown location";
    if (h->has_key_groups != kind_is_keyed(h->kind))
        return kind_is_keyed(h->kind) ? "keyed handle without a key-group range"
                                      : "key-group range on a handle that is not keyed";
    if (h->has_key_groups && (h->kg_first > h->kg_last || h->kg_last >= max_parallelism))
        return "key-group range outside 0..max parallelism - 1";
    if (h->location == SP_CKPT_LOC_INLINE) {
        if (h->length > UINT32_MAX) return "inline state larger than 4 GiB";
        if (h->length && !h->data) return "inline handle without bytes";
        if (h->offset != 0) return "inline handle with an offset";
        return NULL;
    }
    if (!h->path) return "file handle without a path";
    if (h->offset > UINT64_MAX - h->length) return "offset + length overflows";
    return path_problem(h->path, strlen(h->path));
}

static const char *parallelism_problem(uint32_t p, uint32_t maxp)
{
    if (maxp < 1 || maxp > SP_CKPT_MAX_PARALLELISM) return "max parallelism outside 1..32768";
    if (p < 1 || p > maxp) return "parallelism outside 1..max parallelism";
    return NULL;
}

static const char *name_problem(const char *s, size_t n, bool required)
{
    if (required && n == 0) return "empty";
    if (n > SP_CKPT_NAME_MAX) return "longer than 4096 bytes";
    if (memchr(s, '\0', n)) return "contains a NUL byte";
    return NULL;
}

/* ---- encoder ---- */

typedef struct wbuf {
    uint8_t *p;
    size_t n, cap;
} wbuf_t;

static uint8_t *wb_grow(wbuf_t *b, size_t n)
{
    if (b->cap - b->n < n) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->n < n) cap *= 2;
        b->p = sp_xrealloc(b->p, cap);
        b->cap = cap;
    }
    uint8_t *at = b->p + b->n;
    b->n += n;
    return at;
}

static void wb_le(wbuf_t *b, uint64_t v, int bytes)
{
    uint8_t *at = wb_grow(b, (size_t)bytes);
    for (int i = 0; i < bytes; i++) at[i] = (uint8_t)(v >> (8 * i));
}

static void put_le_at(uint8_t *at, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) at[i] = (uint8_t)(v >> (8 * i));
}

static void wb_bytes(wbuf_t *b, const void *p, size_t n)
{
    if (n) memcpy(wb_grow(b, n), p, n);
}

static void wb_str(wbuf_t *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    wb_le(b, n, 4);
    wb_bytes(b, s, n);
}

/* Starts a section; returns the offset of its length field for section_end. */
static size_t section_begin(wbuf_t *b, uint32_t tag)
{
    wb_le(b, tag, 4);
    size_t at = b->n;
    wb_le(b, 0, 4);
    return at;
}

static void section_end(wbuf_t *b, size_t at)
{
    put_le_at(b->p + at, b->n - at - 4, 4);
}

static int check_for_encode(const sp_ckpt_meta_t *m, sp_error_t *err)
{
    const char *why;
    if (m->checkpoint_id < 1) return sp_error_set(err, SPATE_EINVAL, "checkpoint metadata: checkpoint id 0");
    if (m->kind != SP_CKPT_CHECKPOINT && m->kind != SP_CKPT_SAVEPOINT)
        return sp_error_set(err, SPATE_EINVAL, "checkpoint metadata: unknown kind %d", (int)m->kind);
    const char *jn = m->job_name ? m->job_name : "";
    if ((why = name_problem(jn, strlen(jn), false)))
        return sp_error_set(err, SPATE_EINVAL, "checkpoint metadata: job name %s", why);
    if (m->max_parallelism < 1 || m->max_parallelism > SP_CKPT_MAX_PARALLELISM)
        return sp_error_set(err, SPATE_EINVAL, "checkpoint metadata: job max parallelism %u outside 1..32768",
                            m->max_parallelism);
    if (m->nops > UINT32_MAX)
        return sp_error_set(err, SPATE_EINVAL, "checkpoint metadata: too many operators");
    for (size_t i = 0; i < m->nops; i++) {
        const sp_ckpt_operator_t *op = m->ops[i];
        if ((why = name_problem(op->uid, strlen(op->uid), true)))
            return sp_error_set(err, SPATE_EINVAL, "checkpoint metadata: operator %zu: uid %s", i, why);
        if ((why = name_problem(op->name, strlen(op->name), false)))
            return sp_error_set(err, SPATE_EINVAL, "checkpoint metadata: operator '%s': name %s", op->uid,
                                why);
        for (size_t j = 0; j < i; j++)
            if (strcmp(m->ops[j]->uid, op->uid) == 0)
                return sp_error_set(err, SPATE_EINVAL, "checkpoint metadata: operator uid '%s' appears twice",
                                    op->uid);
        if ((why = parallelism_problem(op->parallelism, op->max_parallelism)))
            return sp_error_set(err, SPATE_EINVAL, "checkpoint metadata: operator '%s': %s (%u, max %u)",
                                op->uid, why, op->parallelism, op->max_parallelism);
        for (uint32_t s = 0; s < op->parallelism; s++)
            for (size_t h = 0; h < op->subtasks[s].nhandles; h++)
                if ((why = handle_problem(&op->subtasks[s].handles[h], op->max_parallelism)))
                    return sp_error_set(err, SPATE_EINVAL,
                                        "checkpoint metadata: operator '%s' subtask %u handle %zu: %s",
                                        op->uid, s, h, why);
    }
    return SPATE_OK;
}

int sp_ckpt_meta_encode(const sp_ckpt_meta_t *m, uint8_t **out, size_t *len, sp_error_t *err)
{
    *out = NULL;
    *len = 0;
    int rc = check_for_encode(m, err);
    if (rc) return rc;
    wbuf_t b = { 0 };
    wb_bytes(&b, SP_CKPT_META_MAGIC, 8);
    wb_le(&b, SP_CKPT_META_VERSION, 4);
    wb_le(&b, 0, 4); /* flags */
    wb_le(&b, 0, 8); /* total length, patched below */

    size_t at = section_begin(&b, TAG_CHECKPOINT);
    wb_le(&b, m->checkpoint_id, 8);
    wb_le(&b, (uint64_t)m->kind, 1);
    wb_bytes(&b, m->job_id, SP_CKPT_JOB_ID_LEN);
    wb_str(&b, m->job_name);
    wb_le(&b, (uint64_t)m->trigger_ms, 8);
    wb_le(&b, (uint64_t)m->completion_ms, 8);
    wb_le(&b, m->max_parallelism, 4);
    wb_le(&b, m->nops, 4);
    section_end(&b, at);

    for (size_t i = 0; i < m->nops; i++) {
        const sp_ckpt_operator_t *op = m->ops[i];
        at = section_begin(&b, TAG_OPERATOR);
        wb_str(&b, op->uid);
        wb_str(&b, op->name);
        wb_le(&b, op->parallelism, 4);
        wb_le(&b, op->max_parallelism, 4);
        for (uint32_t s = 0; s < op->parallelism; s++) {
            const sp_ckpt_subtask_t *st = &op->subtasks[s];
            wb_le(&b, st->nhandles, 4);
            for (size_t k = 0; k < st->nhandles; k++) {
                const sp_ckpt_handle_t *h = &st->handles[k];
                wb_le(&b, (uint64_t)h->kind, 1);
                wb_le(&b, (uint64_t)h->location, 1);
                wb_le(&b, h->has_key_groups ? HFLAG_KEY_GROUPS : 0, 1);
                if (h->has_key_groups) {
                    wb_le(&b, h->kg_first, 4);
                    wb_le(&b, h->kg_last, 4);
                }
                if (h->location == SP_CKPT_LOC_INLINE) {
                    wb_le(&b, h->length, 4);
                    wb_bytes(&b, h->data, (size_t)h->length);
                } else {
                    wb_str(&b, h->path);
                    wb_le(&b, h->offset, 8);
                    wb_le(&b, h->length, 8);
                }
            }
        }
        if (b.n - at - 4 > UINT32_MAX) {
            free(b.p);
            return sp_error_set(err, SPATE_EINVAL, "checkpoint metadata: operator '%s' takes more than 4 GiB",
                                op->uid);
        }
        section_end(&b, at);
    }
    put_le_at(b.p + 16, b.n + 8, 8);
    uint64_t sum = XXH3_64bits(b.p, b.n);
    wb_le(&b, sum, 8);
    *out = b.p;
    *len = b.n;
    return SPATE_OK;
}

/* ---- decoder ---- */

typedef struct rd {
    const uint8_t *p;
    size_t off, end; /* reads stay in [off, end) */
    sp_error_t *err;
    char where[160]; /* context for messages: "operator 'x' subtask 2 handle 0" */
} rd_t;

static int bad(rd_t *r, const char *fmt, ...) SPATE_PRINTF(2, 3);
static int bad(rd_t *r, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char at[40] = "";
    if (r->off > 0) snprintf(at, sizeof at, " (at byte %zu)", r->off);
    return sp_error_set(r->err, SPATE_EPARSE, "checkpoint metadata: %s%s%s%s", r->where,
                        r->where[0] ? ": " : "", msg, at);
}

/* Reads an unsigned little-endian integer of `bytes` bytes; `what` names it in a truncation message. */
static int rd_le(rd_t *r, int bytes, uint64_t *v, const char *what)
{
    *v = 0;
    if (r->end - r->off < (size_t)bytes) return bad(r, "truncated in %s", what);
    *v = sp_get_le(r->p + r->off, bytes);
    r->off += (size_t)bytes;
    return SPATE_OK;
}

static int rd_u32(rd_t *r, uint32_t *v, const char *what)
{
    uint64_t x;
    int rc = rd_le(r, 4, &x, what);
    *v = (uint32_t)x;
    return rc;
}

/* A string, copied; checked with name_problem unless is_path. */
static int rd_str(rd_t *r, char **out, const char *what, bool required, bool is_path)
{
    uint32_t n;
    int rc = rd_u32(r, &n, what);
    if (rc) return rc;
    if (r->end - r->off < n)
        return bad(r, "truncated in %s (%u bytes announced, %zu left)", what, n, r->end - r->off);
    const char *s = (const char *)r->p + r->off;
    const char *why = is_path ? path_problem(s, n) : name_problem(s, n, required);
    if (why) return bad(r, "%s: %s", what, why);
    *out = sp_xstrndup(s, n);
    r->off += n;
    return SPATE_OK;
}

static int rd_handle(rd_t *r, const sp_ckpt_operator_t *op, sp_ckpt_handle_t *h)
{
    uint64_t kind, loc, flags;
    int rc = rd_le(r, 1, &kind, "handle kind");
    if (!rc) rc = rd_le(r, 1, &loc, "handle location");
    if (!rc) rc = rd_le(r, 1, &flags, "handle flags");
    if (rc) return rc;
    if (kind < SP_CKPT_HANDLE_KEYED || kind > SP_CKPT_HANDLE_SINK_TXN)
        return bad(r, "unknown handle kind %u", (unsigned)kind);
    if (loc > SP_CKPT_LOC_TASKOWNED) return bad(r, "unknown handle location %u", (unsigned)loc);
    if (flags & ~(uint64_t)HFLAG_KEY_GROUPS) return bad(r, "unknown handle flags 0x%x", (unsigned)flags);
    h->kind = (sp_ckpt_handle_kind_t)kind;
    h->location = (sp_ckpt_location_t)loc;
    h->has_key_groups = flags & HFLAG_KEY_GROUPS;
    if (h->has_key_groups) {
        rc = rd_u32(r, &h->kg_first, "key-group range");
        if (!rc) rc = rd_u32(r, &h->kg_last, "key-group range");
        if (rc) return rc;
    }
    if (h->location == SP_CKPT_LOC_INLINE) {
        uint32_t n;
        if ((rc = rd_u32(r, &n, "inline length"))) return rc;
        if (r->end - r->off < n)
            return bad(r, "truncated in inline state (%u bytes announced, %zu left)", n, r->end - r->off);
        h->length = n;
        h->data = sp_xmalloc(n);
        if (n) memcpy(h->data, r->p + r->off, n);
        r->off += n;
    } else {
        if ((rc = rd_str(r, &h->path, "path", true, true))) return rc;
        if ((rc = rd_le(r, 8, &h->offset, "offset"))) return rc;
        if ((rc = rd_le(r, 8, &h->length, "length"))) return rc;
    }
    const char *why = handle_problem(h, op->max_parallelism);
    return why ? bad(r, "%s", why) : SPATE_OK;
}

static int rd_operator(rd_t *r, sp_ckpt_meta_t *m, size_t index)
{
    snprintf(r->where, sizeof r->where, "operator %zu", index);
    char *uid = NULL, *name = NULL;
    int rc = rd_str(r, &uid, "uid", true, false);
    if (!rc) {
        snprintf(r->where, sizeof r->where, "operator '%.100s'", uid);
        rc = rd_str(r, &name, "name", false, false);
    }
    uint32_t p = 0, maxp = 0;
    if (!rc) rc = rd_u32(r, &p, "parallelism");
    if (!rc) rc = rd_u32(r, &maxp, "max parallelism");
    const char *why;
    if (!rc && (why = parallelism_problem(p, maxp))) rc = bad(r, "%s (%u, max %u)", why, p, maxp);
    if (!rc && sp_ckpt_meta_find_operator(m, uid)) rc = bad(r, "uid appears twice");
    /* Each subtask takes at least its 4-byte count: checked before allocating for them. */
    if (!rc && (r->end - r->off) / 4 < p) rc = bad(r, "truncated: %u subtasks announced", p);
    if (rc) {
        free(uid);
        free(name);
        return rc;
    }
    sp_ckpt_operator_t *op = sp_ckpt_meta_add_operator(m, uid, name, p, maxp);
    free(uid);
    free(name);
    for (uint32_t s = 0; s < p && !rc; s++) {
        uint32_t nh;
        snprintf(r->where, sizeof r->where, "operator '%.100s' subtask %u", op->uid, s);
        if ((rc = rd_u32(r, &nh, "handle count"))) break;
        /* A handle takes at least 3 + 4 bytes (inline, empty). */
        if ((r->end - r->off) / 7 < nh) {
            rc = bad(r, "truncated: %u handles announced, %zu bytes left", nh, r->end - r->off);
            break;
        }
        for (uint32_t k = 0; k < nh && !rc; k++) {
            snprintf(r->where, sizeof r->where, "operator '%.100s' subtask %u handle %u", op->uid, s, k);
            rc = rd_handle(r, op, subtask_push(&op->subtasks[s]));
        }
    }
    return rc;
}

static int rd_checkpoint(rd_t *r, sp_ckpt_meta_t *m, uint32_t *nops)
{
    snprintf(r->where, sizeof r->where, "checkpoint section");
    uint64_t id, kind, trig, comp;
    int rc = rd_le(r, 8, &id, "checkpoint id");
    if (!rc && id < 1) rc = bad(r, "checkpoint id 0");
    if (!rc) rc = rd_le(r, 1, &kind, "kind");
    if (!rc && kind > SP_CKPT_SAVEPOINT) rc = bad(r, "unknown kind %u", (unsigned)kind);
    if (!rc && r->end - r->off < SP_CKPT_JOB_ID_LEN) rc = bad(r, "truncated in job id");
    if (rc) return rc;
    memcpy(m->job_id, r->p + r->off, SP_CKPT_JOB_ID_LEN);
    r->off += SP_CKPT_JOB_ID_LEN;
    if ((rc = rd_str(r, &m->job_name, "job name", false, false))) return rc;
    rc = rd_le(r, 8, &trig, "trigger timestamp");
    if (!rc) rc = rd_le(r, 8, &comp, "completion timestamp");
    if (!rc) rc = rd_u32(r, &m->max_parallelism, "max parallelism");
    if (!rc && (m->max_parallelism < 1 || m->max_parallelism > SP_CKPT_MAX_PARALLELISM))
        rc = bad(r, "job max parallelism %u outside 1..32768", m->max_parallelism);
    if (!rc) rc = rd_u32(r, nops, "operator count");
    if (rc) return rc;
    m->checkpoint_id = id;
    m->kind = (sp_ckpt_kind_t)kind;
    m->trigger_ms = (int64_t)trig;
    m->completion_ms = (int64_t)comp;
    return SPATE_OK;
}

static int decode(rd_t *r, sp_ckpt_meta_t *m)
{
    const uint8_t *p = r->p;
    size_t n = r->end;
    if (n > 0 && memcmp(p, SP_CKPT_META_MAGIC, SP_MIN(n, 8)) != 0)
        return bad(r, "bad magic: not a Spate checkpoint _metadata file");
    if (n < SP_CKPT_META_MIN_SIZE)
        return bad(r, "truncated: %zu bytes, shorter than the %u-byte header and checksum", n,
                   SP_CKPT_META_MIN_SIZE);
    uint32_t version = (uint32_t)sp_get_le(p + 8, 4), flags = (uint32_t)sp_get_le(p + 12, 4);
    uint64_t total = sp_get_le(p + 16, 8);
    if (version != SP_CKPT_META_VERSION)
        return bad(r, "unsupported format version %u (this build reads version %u)", version,
                   SP_CKPT_META_VERSION);
    if (flags != 0) return bad(r, "unknown header flags 0x%x", flags);
    if (total < SP_CKPT_META_MIN_SIZE)
        return bad(r, "length field %llu is too small", (unsigned long long)total);
    if (total > n) return bad(r, "truncated: %zu bytes, the header says %llu", n, (unsigned long long)total);
    if (total < n)
        return bad(r, "%zu bytes of trailing garbage after the checksum (the header says %llu bytes)",
                   n - (size_t)total, (unsigned long long)total);
    uint64_t stored = sp_get_le(p + n - 8, 8), computed = XXH3_64bits(p, n - 8);
    if (stored != computed)
        return bad(r, "checksum mismatch (stored %016llx, computed %016llx): the file is corrupt",
                   (unsigned long long)stored, (unsigned long long)computed);

    size_t body_end = n - 8;
    r->off = SP_CKPT_META_HEADER_SIZE;
    bool seen_checkpoint = false;
    uint32_t nops = 0;
    while (r->off < body_end) {
        r->end = body_end;
        r->where[0] = '\0';
        uint32_t tag, len;
        int rc = rd_u32(r, &tag, "section tag");
        if (!rc) rc = rd_u32(r, &len, "section length");
        if (rc) return rc;
        if (body_end - r->off < len)
            return bad(r, "truncated: section %u of %u bytes, %zu left", tag, len, body_end - r->off);
        size_t sec_end = r->off + len;
        r->end = sec_end;
        if (tag == TAG_CHECKPOINT) {
            if (seen_checkpoint) return bad(r, "a second checkpoint section");
            if ((rc = rd_checkpoint(r, m, &nops))) return rc;
            seen_checkpoint = true;
        } else if (tag == TAG_OPERATOR) {
            if (!seen_checkpoint) return bad(r, "operator section before the checkpoint section");
            if (m->nops >= nops) return bad(r, "more operator sections than the %u announced", nops);
            if ((rc = rd_operator(r, m, m->nops))) return rc;
        } else {
            r->off = sec_end; /* unknown: skipped (see the header) */
        }
        if (r->off != sec_end)
            return bad(r, "%zu unread bytes at the end of section %u", sec_end - r->off, tag);
    }
    r->where[0] = '\0';
    if (!seen_checkpoint) return bad(r, "no checkpoint section");
    if (m->nops != nops) return bad(r, "%zu operator sections, %u announced", m->nops, nops);
    return SPATE_OK;
}

int sp_ckpt_meta_decode(const void *p, size_t n, sp_ckpt_meta_t *m, sp_error_t *err)
{
    sp_ckpt_meta_init(m);
    rd_t r = { .p = p, .off = 0, .end = n, .err = err };
    int rc = p || n == 0 ? decode(&r, m) : bad(&r, "no input");
    if (rc) sp_ckpt_meta_fini(m);
    return rc;
}
