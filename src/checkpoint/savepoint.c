/* savepoint.c — see savepoint.h. */
#include "checkpoint/savepoint.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint/store.h"

/* Handle h's bytes into *out: loaded (mapped, if `map` and the storage can) or read. */
static int handle_bytes(sp_ckpt_storage_t *st, const char *chk_dir, const sp_ckpt_handle_t *h, bool map,
                        sp_ckpt_bytes_t *out, sp_error_t *err)
{
    *out = (sp_ckpt_bytes_t){ 0 };
    if (h->location == SP_CKPT_LOC_INLINE) {
        out->data = sp_xmalloc(h->length ? h->length : 1);
        out->len = (size_t)h->length;
        if (h->length) memcpy(out->data, h->data, h->length);
        return SPATE_OK;
    }
    char *path = sp_ckpt_handle_path(chk_dir, h);
    size_t end = (size_t)(h->offset + h->length);
    int rc = map ? sp_ckpt_storage_load(st, path, end, out, err)
                 : sp_ckpt_storage_read(st, path, end, &out->data, &out->len, err);
    if (rc == SPATE_OK && out->len < end) {
        sp_ckpt_bytes_release(out);
        rc = sp_error_set(err, SPATE_EPARSE, "checkpoint state file '%s' is shorter than its handle", path);
    }
    free(path);
    if (rc) return rc;
    if (out->map) /* a map: point into it */
        out->data += h->offset;
    else if (h->offset) /* a buffer: keep its start, which is what gets freed */
        memmove(out->data, out->data + h->offset, (size_t)h->length);
    out->len = (size_t)h->length;
    return SPATE_OK;
}

int sp_ckpt_handle_read(sp_ckpt_storage_t *st, const char *chk_dir, const sp_ckpt_handle_t *h, uint8_t **data,
                        size_t *len, sp_error_t *err)
{
    sp_ckpt_bytes_t b;
    int rc = handle_bytes(st, chk_dir, h, false, &b, err);
    *data = b.data;
    *len = b.len;
    return rc;
}

int sp_ckpt_handle_load(sp_ckpt_storage_t *st, const char *chk_dir, const sp_ckpt_handle_t *h,
                        sp_ckpt_bytes_t *out, sp_error_t *err)
{
    return handle_bytes(st, chk_dir, h, true, out, err);
}

/* Copies the handles of m into the savepoint directory `dir`, building its metadata in out. */
static int copy_state(sp_ckpt_storage_t *from, const char *chk_dir, const sp_ckpt_meta_t *m,
                      sp_ckpt_storage_t *to, const char *dir, sp_ckpt_meta_t *out, sp_error_t *err)
{
    for (size_t o = 0; o < m->nops; o++) {
        const sp_ckpt_operator_t *op = m->ops[o];
        sp_ckpt_operator_t *cp =
            sp_ckpt_meta_add_operator(out, op->uid, op->name, op->parallelism, op->max_parallelism);
        for (uint32_t s = 0; s < op->parallelism; s++)
            for (size_t i = 0; i < op->subtasks[s].nhandles; i++) {
                sp_ckpt_handle_t h = op->subtasks[s].handles[i];
                if (h.location == SP_CKPT_LOC_INLINE) {
                    sp_ckpt_operator_add_handle(cp, s, &h);
                    continue;
                }
                uint8_t *data;
                size_t len;
                int rc = sp_ckpt_handle_read(from, chk_dir, &h, &data, &len, err);
                if (rc) return rc;
                char file[64];
                snprintf(file, sizeof file, "op%zu-%u-%zu", o, s, i);
                rc = sp_ckpt_storage_write_atomic(to, dir, file, data, len, err);
                free(data);
                if (rc) return rc;
                h.location = SP_CKPT_LOC_EXCLUSIVE;
                h.path = file;
                h.offset = 0;
                sp_ckpt_operator_add_handle(cp, s, &h);
            }
    }
    return SPATE_OK;
}

int sp_ckpt_savepoint_write(sp_ckpt_storage_t *from, const char *chk_dir, const sp_ckpt_meta_t *m,
                            sp_ckpt_storage_t *to, const char *root, char **path, sp_error_t *err)
{
    char job[2 * SP_CKPT_JOB_ID_LEN + 1];
    sp_ckpt_job_id_format(m->job_id, job);
    uint8_t rnd[6];
    sp_random_bytes(rnd, sizeof rnd);
    char *dir = sp_xasprintf("%s/savepoint-%.6s-%02x%02x%02x%02x%02x%02x", root, job, rnd[0], rnd[1], rnd[2],
                             rnd[3], rnd[4], rnd[5]);
    sp_ckpt_meta_t out;
    sp_ckpt_meta_init(&out);
    out.checkpoint_id = m->checkpoint_id;
    out.kind = SP_CKPT_SAVEPOINT;
    memcpy(out.job_id, m->job_id, sizeof out.job_id);
    sp_ckpt_meta_set_job_name(&out, m->job_name);
    out.trigger_ms = m->trigger_ms;
    out.completion_ms = m->completion_ms;
    out.max_parallelism = m->max_parallelism;
    uint8_t *bytes = NULL;
    size_t len = 0;
    int rc = sp_ckpt_storage_mkdirs(to, dir, err);
    if (rc == SPATE_OK) rc = copy_state(from, chk_dir, m, to, dir, &out, err);
    if (rc == SPATE_OK) rc = sp_ckpt_meta_encode(&out, &bytes, &len, err);
    if (rc == SPATE_OK) rc = sp_ckpt_storage_write_atomic(to, dir, SP_CKPT_METADATA_FILE, bytes, len, err);
    free(bytes);
    sp_ckpt_meta_fini(&out);
    if (rc != SPATE_OK) {
        sp_error_t ignored = { 0 };
        sp_ckpt_storage_remove_tree(to, dir, &ignored);
        free(dir);
        return rc;
    }
    *path = dir;
    return SPATE_OK;
}
