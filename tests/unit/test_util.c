/* test_util.c — see test_util.h. */
#include "test_util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state/opsnap.h"
#include "test_main.h"

/* ---- seq source ---- */

typedef struct seq_reader {
    tu_seq_opts_t o;
    int64_t next, step;
} seq_reader_t;

static int seq_open(const void *spec, const sp_source_ctx_t *ctx, void **reader)
{
    seq_reader_t *r = sp_xcalloc(1, sizeof *r);
    r->o = *(const tu_seq_opts_t *)spec;
    r->next = ctx->info.subtask_index;
    r->step = ctx->info.parallelism;
    if (r->o.rows_per_poll <= 0) r->o.rows_per_poll = 1000;
    *reader = r;
    return SPATE_OK;
}

static int seq_poll(void *reader, const sp_source_ctx_t *ctx, int64_t *wait_ms)
{
    seq_reader_t *r = reader;
    if (r->o.gate && atomic_load(r->o.gate) < r->o.gate_at) {
        *wait_ms = 1;
        return SP_FLOW_IDLE;
    }
    for (int i = 0; i < r->o.rows_per_poll; i++) {
        if (r->o.n > 0 && r->next >= r->o.n) return SP_FLOW_END;
        spate_out_set_bigint(ctx->out, 0, r->next % r->o.keys);
        spate_out_set_bigint(ctx->out, 1, r->next);
        if (r->o.event_time) spate_out_set_event_time(ctx->out, r->next);
        int rc = spate_out_emit(ctx->out);
        if (rc) return rc;
        r->next += r->step;
    }
    return SP_FLOW_MORE;
}

static void seq_close(void *reader)
{
    free(reader);
}

static void seq_destroy(void *spec)
{
    free(spec);
}

static const sp_source_vtable_t seq_vt = {
    .kind = "test-seq", .open = seq_open, .poll = seq_poll, .close = seq_close, .destroy = seq_destroy
};

static int idle_open(const void *spec, const sp_source_ctx_t *ctx, void **reader)
{
    (void)spec;
    (void)ctx;
    *reader = sp_xmalloc(1);
    return SPATE_OK;
}

static int idle_poll(void *reader, const sp_source_ctx_t *ctx, int64_t *wait_ms)
{
    (void)reader;
    (void)ctx;
    *wait_ms = 10;
    return SP_FLOW_IDLE;
}

static const sp_source_vtable_t idle_vt = {
    .kind = "test-idle", .open = idle_open, .poll = idle_poll, .close = seq_close, .destroy = seq_destroy
};

spate_source_t *tu_idle_source(void)
{
    spate_schema_t *schema = spate_schema_of("k BIGINT NOT NULL, v BIGINT NOT NULL");
    spate_source_t *s = sp_source_new(&idle_vt, NULL, schema, false, false);
    spate_schema_release(schema);
    return s;
}

spate_source_t *tu_seq_source(const tu_seq_opts_t *o)
{
    tu_seq_opts_t *spec = sp_xmalloc(sizeof *spec);
    *spec = *o;
    if (spec->keys <= 0) spec->keys = 1;
    spate_schema_t *schema = spate_schema_of("k BIGINT NOT NULL, v BIGINT NOT NULL");
    spate_source_t *s = sp_source_new(&seq_vt, spec, schema, o->n > 0, o->parallel);
    spate_schema_release(schema);
    return s;
}

/* ---- capture sink ---- */

void tu_capture_init(tu_capture_t *c)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
}

void tu_capture_fini(tu_capture_t *c)
{
    for (size_t i = 0; i < c->n; i++) free(c->rows[i]);
    free(c->rows);
    pthread_mutex_destroy(&c->mu);
}

typedef struct cap_writer {
    tu_capture_t *c;
    int subtask;
} cap_writer_t;

static int cap_open(const void *spec, const spate_task_info_t *info, sp_error_t *err, void **writer)
{
    (void)err;
    cap_writer_t *w = sp_xmalloc(sizeof *w);
    w->c = (tu_capture_t *)spec;
    w->subtask = info->subtask_index;
    *writer = w;
    return SPATE_OK;
}

static void cap_add(tu_capture_t *c, const char *row);

static int cap_write(void *writer, const sp_batch_t *b, sp_error_t *err)
{
    cap_writer_t *w = writer;
    tu_capture_t *c = w->c;
    (void)err;
    if (c->sleep_ms_per_batch) sp_sleep_ms(c->sleep_ms_per_batch);
    pthread_mutex_lock(&c->mu);
    c->batches++;
    for (uint32_t i = 0; i < b->count; i++) {
        spate_row_t row = { b, i };
        char buf[512];
        int k = snprintf(buf, sizeof buf, "%d|", w->subtask);
        spate_row_format(&row, buf + k, sizeof buf - (size_t)k);
        cap_add(c, buf);
    }
    pthread_mutex_unlock(&c->mu);
    return SPATE_OK;
}

static int cap_finish(void *writer, sp_error_t *err)
{
    cap_writer_t *w = writer;
    (void)err;
    pthread_mutex_lock(&w->c->mu);
    w->c->finished = true;
    pthread_mutex_unlock(&w->c->mu);
    return SPATE_OK;
}

static void cap_close(void *writer)
{
    free(writer);
}

static void cap_add(tu_capture_t *c, const char *row)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 1024;
        c->rows = sp_xrealloc(c->rows, sizeof *c->rows * c->cap);
    }
    c->rows[c->n++] = sp_xstrdup(row);
}

static int cap_barrier(void *writer, int64_t id, sp_error_t *err)
{
    cap_writer_t *w = writer;
    (void)err;
    if (!w->c->record_barriers) return SPATE_OK;
    char buf[64];
    snprintf(buf, sizeof buf, "%d|BARRIER %lld", w->subtask, (long long)id);
    pthread_mutex_lock(&w->c->mu);
    cap_add(w->c, buf);
    pthread_mutex_unlock(&w->c->mu);
    return SPATE_OK;
}

static const sp_sink_vtable_t cap_vt = { .kind = "test-capture",
                                         .open = cap_open,
                                         .write = cap_write,
                                         .finish = cap_finish,
                                         .close = cap_close,
                                         .on_barrier = cap_barrier };

spate_sink_t *tu_capture_sink(tu_capture_t *c)
{
    return sp_sink_new(&cap_vt, c);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char *tu_capture_sorted(tu_capture_t *c, bool strip)
{
    pthread_mutex_lock(&c->mu);
    char **v = sp_xmalloc(sizeof *v * (c->n ? c->n : 1));
    size_t total = 1;
    for (size_t i = 0; i < c->n; i++) {
        v[i] = c->rows[i];
        if (strip) {
            char *bar = strchr(v[i], '|');
            if (bar) v[i] = bar + 1;
        }
        total += strlen(v[i]) + 1;
    }
    qsort(v, c->n, sizeof *v, cmp_str);
    char *out = sp_xmalloc(total), *p = out;
    for (size_t i = 0; i < c->n; i++) {
        size_t len = strlen(v[i]);
        memcpy(p, v[i], len);
        p += len;
        *p++ = '\n';
    }
    *p = '\0';
    free(v);
    pthread_mutex_unlock(&c->mu);
    return out;
}

/* ---- driving a source ---- */

int tu_collect(void *target, sp_batch_t *b)
{
    tu_got_t *g = target;
    g->b = sp_xrealloc(g->b, (g->n + 1) * sizeof *g->b);
    g->b[g->n++] = b;
    g->rows += b->count;
    if (b->count > g->max_batch) g->max_batch = b->count;
    return SPATE_OK;
}

void tu_got_free(tu_got_t *g)
{
    for (size_t i = 0; i < g->n; i++) sp_batch_release(g->b[i]);
    free(g->b);
    memset(g, 0, sizeof *g);
}

spate_row_t tu_row_at(const tu_got_t *g, size_t i)
{
    for (size_t k = 0; k < g->n; k++) {
        if (i < g->b[k]->count) {
            spate_row_t r = { g->b[k], (uint32_t)i };
            return r;
        }
        i -= g->b[k]->count;
    }
    fail_msg("row %zu out of range", i);
    spate_row_t none = { NULL, 0 };
    return none;
}

int tu_drain(const spate_source_t *src, const tu_drain_opts_t *o, tu_got_t *g, sp_error_t *err)
{
    tu_drain_opts_t none = { 0 };
    if (!o) o = &none;
    spate_collector_t out;
    sp_collector_init(&out, src->schema, 0, tu_collect, g, err);
    int p = o->parallelism > 0 ? o->parallelism : 1;
    sp_source_ctx_t ctx = { { src->vt->kind, o->subtask, p, 128, 0 }, &out, err };
    void *reader = NULL;
    int rc = src->vt->open(src->spec, &ctx, &reader);
    if (rc == SPATE_OK && o->restore) rc = src->vt->restore(reader, o->restore, o->restore_len, err);
    int64_t t0 = sp_clock_mono_ns();
    for (int polls = 0; rc == SPATE_OK; polls++) {
        if (o->max_polls > 0 && polls >= o->max_polls) break;
        if (o->max_ms > 0 && sp_clock_mono_ns() - t0 >= o->max_ms * 1000000) break;
        int64_t wait = -1, start = sp_clock_mono_ns();
        int flow = src->vt->poll(reader, &ctx, &wait);
        int64_t took = sp_clock_mono_ns() - start;
        if (took > g->longest_poll_ns) g->longest_poll_ns = took;
        g->polls++;
        assert_int_equal(sp_collector_flush(&out), SPATE_OK);
        if (flow >= 0 && g->polls == o->snapshot_at) {
            assert_int_equal(src->vt->snapshot(reader, o->snapshot, o->snapshot_len, err), SPATE_OK);
            *o->snapshot_rows = g->rows;
        }
        if (flow < 0) {
            rc = flow;
        } else if (flow == SP_FLOW_END) {
            g->ended = true;
            break;
        } else if (flow == SP_FLOW_IDLE) {
            assert_true(wait >= 0 && wait <= 100);
            if (g->idle == 0 || wait < g->min_wait_ms) g->min_wait_ms = wait;
            if (g->idle == 0 || wait > g->max_wait_ms) g->max_wait_ms = wait;
            g->idle++;
            sp_sleep_ms(wait);
        }
    }
    g->elapsed_ns = sp_clock_mono_ns() - t0;
    if (reader) {
        if (src->vt->skipped) g->skipped = src->vt->skipped(reader);
        src->vt->close(reader);
    }
    sp_collector_fini(&out);
    return rc;
}

spate_env_t *tu_env_create(void)
{
    spate_env_t *env = spate_env_create();
    assert_int_equal(spate_env_set_config(env, "restart-strategy.type", "none"), SPATE_OK);
    return env;
}

int tu_op_restore(const sp_op_vtable_t *vt, void *inst, const sp_opstate_bytes_t *old, int nold, int index,
                  int parallelism)
{
    const uint8_t **data = calloc((size_t)nold + 1, sizeof *data);
    size_t *len = calloc((size_t)nold + 1, sizeof *len);
    for (int i = 0; i < nold; i++) {
        data[i] = old[i].data;
        len[i] = old[i].len;
    }
    int first, last;
    sp_key_group_range(index, parallelism, 128, &first, &last);
    sp_opsnap_restore_t r = { nold, data, len, index, parallelism, (uint32_t)first, (uint32_t)last };
    int rc = vt->restore(inst, &r);
    free(data);
    free(len);
    return rc;
}

void tu_assert_str(spate_str_t s, const char *want)
{
    if (s.len != strlen(want) || memcmp(s.ptr, want, s.len) != 0)
        fail_msg("got \"%.*s\", want \"%s\"", (int)s.len, s.ptr, want);
}

int tu_keep_batch(void *target, sp_batch_t *b)
{
    *(sp_batch_t **)target = b;
    return SPATE_OK;
}

/* ---- files ---- */

int tu_setup_tmpdir(void **state)
{
    char *dir = tu_mkdtemp();
    if (!dir) return -1;
    *state = dir;
    return 0;
}

int tu_teardown_tmpdir(void **state)
{
    tu_rm_rf(*state);
    free(*state);
    return 0;
}

char *tu_read_file(const char *path)
{
    return tu_read_file_len(path, NULL);
}

char *tu_read_file_len(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = sp_xmalloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    assert_int_equal(got, (size_t)n);
    buf[got] = '\0';
    if (len) *len = got;
    return buf;
}

char *tu_read_dir(const char *dir)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    if (n < 0) return NULL;
    size_t len = 0, cap = 4096;
    char *out = sp_xmalloc(cap);
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.') {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
            char *text = tu_read_file(path);
            if (text) {
                size_t k = strlen(text);
                while (len + k + 1 > cap) cap *= 2;
                out = sp_xrealloc(out, cap);
                memcpy(out + len, text, k + 1);
                len += k;
                free(text);
            }
        }
        free(names[i]);
    }
    free(names);
    return out;
}

char *tu_sort_lines(const char *text)
{
    char *copy = sp_xstrdup(text);
    size_t n = 0, cap = 1024;
    char **lines = sp_xmalloc(sizeof *lines * cap);
    for (char *save = NULL, *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (n == cap) lines = sp_xrealloc(lines, sizeof *lines * (cap *= 2));
        lines[n++] = l;
    }
    qsort(lines, n, sizeof *lines, cmp_str);
    char *out = sp_xmalloc(strlen(text) + 2), *p = out;
    for (size_t i = 0; i < n; i++) {
        size_t k = strlen(lines[i]);
        memcpy(p, lines[i], k);
        p += k;
        *p++ = '\n';
    }
    *p = '\0';
    free(lines);
    free(copy);
    return out;
}

char *tu_mkdtemp(void)
{
    char tmpl[] = "/tmp/spate-test-XXXXXX";
    if (!mkdtemp(tmpl)) return NULL;
    return sp_xstrdup(tmpl);
}

void tu_rm_rf(const char *path)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0) fprintf(stderr, "tu_rm_rf: could not remove %s\n", path);
}

/* Asserts row i of a equals row j of b: NULLs, values (bit-exact), kind, event timestamp. */
void tu_assert_rows_equal(const sp_batch_t *a, uint32_t i, const sp_batch_t *b, uint32_t j)
{
    spate_row_t x = { a, i }, y = { b, j };
    const spate_schema_t *s = a->schema;
    assert_int_equal(spate_row_event_time(&x), spate_row_event_time(&y));
    assert_int_equal(spate_row_kind(&x), spate_row_kind(&y));
    for (int f = 0; f < s->nfields; f++) {
        bool null = spate_row_is_null(&x, f);
        if (null != spate_row_is_null(&y, f)) fail_msg("row %u field %d: NULL %d vs %d", i, f, null, !null);
        if (null) continue;
        switch (s->fields[f].type) {
        case SPATE_TYPE_BOOLEAN:
            assert_int_equal(spate_row_get_boolean(&x, f), spate_row_get_boolean(&y, f));
            break;
        case SPATE_TYPE_INT:
        case SPATE_TYPE_DATE: assert_int_equal(spate_row_get_int(&x, f), spate_row_get_int(&y, f)); break;
        case SPATE_TYPE_BIGINT:
        case SPATE_TYPE_TIMESTAMP:
            assert_int_equal(spate_row_get_bigint(&x, f), spate_row_get_bigint(&y, f));
            break;
        case SPATE_TYPE_DOUBLE: {
            double p = spate_row_get_double(&x, f), q = spate_row_get_double(&y, f);
            assert_memory_equal(&p, &q, sizeof p);
            break;
        }
        case SPATE_TYPE_DECIMAL: {
            spate_decimal_t p = spate_row_get_decimal(&x, f), q = spate_row_get_decimal(&y, f);
            assert_memory_equal(&p, &q, sizeof p);
            break;
        }
        case SPATE_TYPE_VARCHAR:
        case SPATE_TYPE_BYTES: {
            spate_str_t p = spate_row_get_string(&x, f), q = spate_row_get_string(&y, f);
            assert_int_equal(p.len, q.len);
            if (p.len) assert_memory_equal(p.ptr, q.ptr, p.len);
            break;
        }
        }
    }
}

/* ---- a window count ---- */

static void wc_create(void *ctx, void *acc)
{
    (void)ctx;
    *(int64_t *)acc = 0;
}

static int wc_add(void *ctx, void *acc, const spate_row_t *in)
{
    (void)ctx;
    (void)in;
    ++*(int64_t *)acc;
    return SPATE_OK;
}

static void wc_merge(void *ctx, void *acc, const void *other)
{
    (void)ctx;
    *(int64_t *)acc += *(const int64_t *)other;
}

static int wc_emit(void *ctx, const void *acc, const spate_window_t *w, const spate_row_t *key_row,
                   spate_collector_t *out)
{
    (void)ctx;
    spate_out_copy_field(out, 0, key_row, 0);
    spate_out_set_bigint(out, 1, w->start);
    spate_out_set_bigint(out, 2, w->end);
    spate_out_set_bigint(out, 3, *(const int64_t *)acc);
    return spate_out_emit(out);
}

spate_aggregate_function_t tu_window_count(void)
{
    return (spate_aggregate_function_t){
        .acc_size = sizeof(int64_t), .create = wc_create, .add = wc_add, .merge = wc_merge, .emit = wc_emit
    };
}
