/*
 * schema.c — schema objects and the DDL parser behind spate_schema_of().
 *
 * Grammar (case-insensitive keywords):
 *   schema := field ("," field)*
 *   field  := ident type ["NOT" "NULL" | "NULL"]
 *   type   := BOOLEAN | INT | INTEGER | BIGINT | DOUBLE | DECIMAL ["(" p ["," s] ")"]
 *           | VARCHAR ["(" n ")"] | STRING | BYTES | VARBINARY ["(" n ")"] | DATE
 *           | TIMESTAMP ["(" 3 ")"]
 *   ident  := [A-Za-z_][A-Za-z0-9_]* | "`" any "`"
 */
#include "types/types.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

bool sp_type_is_varlen(spate_type_id_t t)
{
    return t == SPATE_TYPE_VARCHAR || t == SPATE_TYPE_BYTES;
}

const char *sp_type_name(spate_type_id_t t)
{
    switch (t) {
    case SPATE_TYPE_BOOLEAN: return "BOOLEAN";
    case SPATE_TYPE_INT: return "INT";
    case SPATE_TYPE_BIGINT: return "BIGINT";
    case SPATE_TYPE_DOUBLE: return "DOUBLE";
    case SPATE_TYPE_DECIMAL: return "DECIMAL";
    case SPATE_TYPE_VARCHAR: return "STRING";
    case SPATE_TYPE_BYTES: return "BYTES";
    case SPATE_TYPE_DATE: return "DATE";
    case SPATE_TYPE_TIMESTAMP: return "TIMESTAMP(3)";
    }
    return "?";
}

static uint8_t type_width(spate_type_id_t t)
{
    switch (t) {
    case SPATE_TYPE_INT:
    case SPATE_TYPE_DATE: return 4;
    case SPATE_TYPE_BIGINT:
    case SPATE_TYPE_DOUBLE:
    case SPATE_TYPE_TIMESTAMP: return 8;
    case SPATE_TYPE_DECIMAL: return 16;
    default: return 0;
    }
}

static spate_schema_t *schema_alloc(int n)
{
    spate_schema_t *s = sp_xcalloc(1, sizeof *s);
    atomic_init(&s->refs, 1);
    s->nfields = n;
    s->fields = sp_xcalloc((size_t)(n ? n : 1), sizeof(sp_field_t));
    pthread_mutex_init(&s->pool_mu, NULL);
    return s;
}

spate_schema_t *sp_schema_create(int nfields, const char *const *names, const spate_type_id_t *types,
                                 const bool *nullable)
{
    spate_schema_t *s = schema_alloc(nfields);
    for (int i = 0; i < nfields; i++) {
        s->fields[i].name = sp_xstrdup(names[i]);
        s->fields[i].type = types[i];
        s->fields[i].nullable = nullable ? nullable[i] : true;
        s->fields[i].width = type_width(types[i]);
        if (types[i] == SPATE_TYPE_DECIMAL) {
            s->fields[i].precision = 38;
            s->fields[i].scale = 18;
        }
    }
    return s;
}

spate_schema_t *spate_schema_acquire(const spate_schema_t *schema)
{
    spate_schema_t *s = (spate_schema_t *)schema;
    if (s) atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

void spate_schema_release(spate_schema_t *s)
{
    if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1) return;
    sp_batch_pool_drain(s);
    for (int i = 0; i < s->nfields; i++) free(s->fields[i].name);
    free(s->fields);
    pthread_mutex_destroy(&s->pool_mu);
    free(s);
}

int spate_schema_field_count(const spate_schema_t *s)
{
    return s ? s->nfields : 0;
}

int spate_schema_field_index(const spate_schema_t *s, const char *name)
{
    if (!s || !name) return -1;
    for (int i = 0; i < s->nfields; i++)
        if (strcmp(s->fields[i].name, name) == 0) return i;
    return -1;
}

const char *spate_schema_field_name(const spate_schema_t *s, int f)
{
    return (s && f >= 0 && f < s->nfields) ? s->fields[f].name : NULL;
}

spate_type_id_t spate_schema_field_type(const spate_schema_t *s, int f)
{
    return (s && f >= 0 && f < s->nfields) ? s->fields[f].type : (spate_type_id_t)0;
}

bool spate_schema_field_nullable(const spate_schema_t *s, int f)
{
    return (s && f >= 0 && f < s->nfields) ? s->fields[f].nullable : false;
}

int spate_schema_field_precision(const spate_schema_t *s, int f)
{
    return (s && f >= 0 && f < s->nfields) ? s->fields[f].precision : 0;
}

int spate_schema_field_scale(const spate_schema_t *s, int f)
{
    return (s && f >= 0 && f < s->nfields) ? s->fields[f].scale : 0;
}

bool spate_schema_equal(const spate_schema_t *a, const spate_schema_t *b)
{
    if (a == b) return true;
    if (!a || !b || a->nfields != b->nfields) return false;
    for (int i = 0; i < a->nfields; i++) {
        const sp_field_t *x = &a->fields[i], *y = &b->fields[i];
        if (x->type != y->type || x->nullable != y->nullable || x->precision != y->precision ||
            x->scale != y->scale || strcmp(x->name, y->name) != 0)
            return false;
    }
    return true;
}

/* True when name reads back as an unquoted identifier. */
static bool plain_ident(const char *name)
{
    if (!(isalpha((unsigned char)name[0]) || name[0] == '_')) return false;
    for (const char *p = name + 1; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '_')) return false;
    return true;
}

size_t spate_schema_format(const spate_schema_t *s, char *buf, size_t cap)
{
    size_t n = 0;
    if (cap) buf[0] = '\0';
    for (int i = 0; s && i < s->nfields; i++) {
        const sp_field_t *f = &s->fields[i];
        char type[32];
        if (f->type == SPATE_TYPE_DECIMAL)
            snprintf(type, sizeof type, "DECIMAL(%d, %d)", f->precision, f->scale);
        else
            snprintf(type, sizeof type, "%s", sp_type_name(f->type));
        const char *q = plain_ident(f->name) ? "" : "`"; /* so that the text parses back */
        int k = snprintf(n < cap ? buf + n : NULL, n < cap ? cap - n : 0, "%s%s%s%s %s%s", i ? ", " : "", q,
                         f->name, q, type, f->nullable ? "" : " NOT NULL");
        n += (size_t)k;
    }
    return n;
}

/* ---- DDL parser ---- */

typedef struct parser {
    const char *text, *p;
    char err[256];
} parser_t;

static void skip_ws(parser_t *ps)
{
    while (isspace((unsigned char)*ps->p)) ps->p++;
}

static int fail(parser_t *ps, const char *what)
{
    snprintf(ps->err, sizeof ps->err, "schema: %s at column %d of \"%s\"", what, (int)(ps->p - ps->text) + 1,
             ps->text);
    return -1;
}

/* Reads an identifier (or keyword) into out; returns its length or -1. */
static int read_ident(parser_t *ps, char *out, size_t cap)
{
    skip_ws(ps);
    size_t n = 0;
    if (*ps->p == '`') {
        const char *end = strchr(ps->p + 1, '`');
        if (!end) return fail(ps, "unterminated `identifier`");
        n = (size_t)(end - ps->p - 1);
        if (n == 0 || n >= cap) return fail(ps, "bad identifier length");
        memcpy(out, ps->p + 1, n);
        ps->p = end + 1;
    } else {
        if (!(isalpha((unsigned char)*ps->p) || *ps->p == '_')) return fail(ps, "expected a name");
        while (isalnum((unsigned char)ps->p[n]) || ps->p[n] == '_') n++;
        if (n >= cap) return fail(ps, "name too long");
        memcpy(out, ps->p, n);
        ps->p += n;
    }
    out[n] = '\0';
    return (int)n;
}

static int read_int(parser_t *ps, int *v)
{
    skip_ws(ps);
    if (!isdigit((unsigned char)*ps->p)) return fail(ps, "expected a number");
    long x = 0;
    while (isdigit((unsigned char)*ps->p)) {
        if (x >= 100000) return fail(ps, "number too large");
        x = x * 10 + (*ps->p++ - '0');
    }
    *v = (int)x;
    return 0;
}

/* Optional "(a[, b])"; returns number of values read (0..2) or -1. */
static int read_params(parser_t *ps, int *a, int *b)
{
    skip_ws(ps);
    if (*ps->p != '(') return 0;
    ps->p++;
    int n = 0;
    if (read_int(ps, a) < 0) return -1;
    n = 1;
    skip_ws(ps);
    if (*ps->p == ',') {
        ps->p++;
        if (read_int(ps, b) < 0) return -1;
        n = 2;
        skip_ws(ps);
    }
    if (*ps->p != ')') return fail(ps, "expected ')'");
    ps->p++;
    return n;
}

static int parse_type(parser_t *ps, sp_field_t *f)
{
    char word[32];
    const char *at = ps->p;
    if (read_ident(ps, word, sizeof word) < 0) return -1;
    int a = 0, b = 0, n;
    f->precision = f->scale = 0;
    if (!strcasecmp(word, "BOOLEAN") || !strcasecmp(word, "BOOL"))
        f->type = SPATE_TYPE_BOOLEAN;
    else if (!strcasecmp(word, "INT") || !strcasecmp(word, "INTEGER"))
        f->type = SPATE_TYPE_INT;
    else if (!strcasecmp(word, "BIGINT"))
        f->type = SPATE_TYPE_BIGINT;
    else if (!strcasecmp(word, "DOUBLE"))
        f->type = SPATE_TYPE_DOUBLE;
    else if (!strcasecmp(word, "DECIMAL")) {
        f->type = SPATE_TYPE_DECIMAL;
        a = 10, b = 0; /* Flink's default DECIMAL is DECIMAL(10, 0) */
        if ((n = read_params(ps, &a, &b)) < 0) return -1;
        if (n == 1) b = 0;
        if (a < 1 || a > 38) return fail(ps, "DECIMAL precision must be 1..38");
        if (b < 0 || b > a) return fail(ps, "DECIMAL scale must be 0..precision");
        f->precision = a;
        f->scale = b;
    } else if (!strcasecmp(word, "VARCHAR") || !strcasecmp(word, "STRING") || !strcasecmp(word, "CHAR")) {
        f->type = SPATE_TYPE_VARCHAR;
        if ((n = read_params(ps, &a, &b)) < 0) return -1;
        if (n == 2) return fail(ps, "VARCHAR takes one length");
    } else if (!strcasecmp(word, "BYTES") || !strcasecmp(word, "VARBINARY") || !strcasecmp(word, "BINARY")) {
        f->type = SPATE_TYPE_BYTES;
        if ((n = read_params(ps, &a, &b)) < 0) return -1;
        if (n == 2) return fail(ps, "BYTES takes one length");
    } else if (!strcasecmp(word, "DATE"))
        f->type = SPATE_TYPE_DATE;
    else if (!strcasecmp(word, "TIMESTAMP")) {
        f->type = SPATE_TYPE_TIMESTAMP;
        a = 3;
        if ((n = read_params(ps, &a, &b)) < 0) return -1;
        if (a != 3 || n == 2) return fail(ps, "only TIMESTAMP(3) is supported");
    } else {
        ps->p = at;
        skip_ws(ps);
        return fail(ps, "unknown type");
    }
    f->width = type_width(f->type);
    return 0;
}

spate_schema_t *spate_schema_of(const char *ddl)
{
    if (!ddl) {
        sp_set_error(SPATE_EINVAL, "schema: NULL text");
        return NULL;
    }
    parser_t ps = { .text = ddl, .p = ddl };
    int cap = 8, n = 0;
    sp_field_t *fields = sp_xcalloc((size_t)cap, sizeof *fields);
    for (;;) {
        char name[256];
        skip_ws(&ps);
        const char *name_at = ps.p;
        if (read_ident(&ps, name, sizeof name) < 0) goto bad;
        for (int i = 0; i < n; i++)
            if (strcmp(fields[i].name, name) == 0) {
                ps.p = name_at; /* point at the second occurrence */
                fail(&ps, "duplicate field name");
                goto bad;
            }
        if (n == cap) {
            fields = sp_xrealloc(fields, sizeof *fields * (size_t)(cap *= 2));
            memset(fields + n, 0, sizeof *fields * (size_t)(cap - n));
        }
        sp_field_t *f = &fields[n];
        f->name = sp_xstrdup(name);
        n++;
        if (parse_type(&ps, f) < 0) goto bad;
        f->nullable = true;
        skip_ws(&ps);
        const char *save = ps.p;
        char word[16];
        if (isalpha((unsigned char)*ps.p) && read_ident(&ps, word, sizeof word) > 0) {
            if (!strcasecmp(word, "NOT")) {
                if (read_ident(&ps, word, sizeof word) < 0 || strcasecmp(word, "NULL")) {
                    fail(&ps, "expected NULL after NOT");
                    goto bad;
                }
                f->nullable = false;
            } else if (strcasecmp(word, "NULL")) {
                ps.p = save;
                fail(&ps, "unexpected word");
                goto bad;
            }
        }
        skip_ws(&ps);
        if (*ps.p == ',') {
            ps.p++;
            continue;
        }
        if (*ps.p == '\0') break;
        fail(&ps, "expected ',' or end");
        goto bad;
    }
    spate_schema_t *s = schema_alloc(n);
    memcpy(s->fields, fields, sizeof *fields * (size_t)n);
    free(fields);
    return s;
bad:
    for (int i = 0; i < n; i++) free(fields[i].name);
    free(fields);
    sp_set_error(SPATE_EINVAL, "%s", ps.err);
    return NULL;
}

int sp_schema_project(const spate_schema_t *in, const char *list, spate_schema_t **out, int *idx, int max)
{
    int n = 0;
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t') p++;
        if (!*p) break;
        const char *start = p;
        while (*p && *p != ',' && *p != ' ' && *p != '\t') p++;
        char name[256];
        size_t len = (size_t)(p - start);
        if (len >= sizeof name) return sp_set_error(SPATE_EINVAL, "field name too long in \"%s\"", list);
        memcpy(name, start, len);
        name[len] = '\0';
        int f = spate_schema_field_index(in, name);
        if (f < 0) return sp_set_error(SPATE_EINVAL, "no field named '%s' in the stream's schema", name);
        if (n == max) return sp_set_error(SPATE_EINVAL, "too many fields in \"%s\"", list);
        for (int i = 0; i < n; i++)
            if (idx[i] == f)
                return sp_set_error(SPATE_EINVAL, "field '%s' listed twice in \"%s\"", name, list);
        idx[n++] = f;
    }
    if (n == 0) return sp_set_error(SPATE_EINVAL, "empty field list");
    if (out) {
        spate_schema_t *s = schema_alloc(n);
        for (int i = 0; i < n; i++) {
            s->fields[i] = in->fields[idx[i]];
            s->fields[i].name = sp_xstrdup(in->fields[idx[i]].name);
        }
        *out = s;
    }
    return n;
}
