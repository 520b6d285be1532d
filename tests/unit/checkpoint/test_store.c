/*
 * test_store.c — the checkpoint directory manager: Flink's layout, atomic
 * completion, retention (N = 2, default 5, failed deletions retried), abort,
 * reopening a job directory, finding the latest checkpoint of a job name
 * across job ids (falling back over missing, corrupt or truncated
 * _metadata; none), explicit paths, and every injected storage fault
 * failing a completion cleanly while the previous checkpoint stays the
 * latest.
 */
#include "test_main.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint/store.h"
#include "test_util.h"

/* ---- helpers ---- */

static void job_id_of(uint8_t id[SP_CKPT_JOB_ID_LEN], uint8_t seed)
{
    for (int i = 0; i < SP_CKPT_JOB_ID_LEN; i++) id[i] = (uint8_t)(seed * 31 + i);
}

static bool exists(const char *fmt, const char *a, unsigned long long n)
{
    char path[4096];
    snprintf(path, sizeof path, fmt, a, n);
    struct stat sb;
    return stat(path, &sb) == 0;
}

static bool path_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* A checkpoint of job `name` with one keyed operator whose state file is in shared/. */
static void make_meta(sp_ckpt_meta_t *m, const uint8_t job_id[SP_CKPT_JOB_ID_LEN], const char *name,
                      uint64_t id, int64_t completion_ms)
{
    sp_ckpt_meta_init(m);
    m->checkpoint_id = id;
    memcpy(m->job_id, job_id, SP_CKPT_JOB_ID_LEN);
    sp_ckpt_meta_set_job_name(m, name);
    m->trigger_ms = completion_ms - 10;
    m->completion_ms = completion_ms;
    m->max_parallelism = 128;
    sp_ckpt_operator_t *op = sp_ckpt_meta_add_operator(m, "sum", "Sum", 1, 128);
    sp_ckpt_handle_t h = { .kind = SP_CKPT_HANDLE_KEYED,
                           .location = SP_CKPT_LOC_SHARED,
                           .path = "f.sst",
                           .length = 10,
                           .has_key_groups = true,
                           .kg_last = 127 };
    sp_ckpt_operator_add_handle(op, 0, &h);
}

static void complete_one(sp_ckpt_store_t *s, const uint8_t job_id[SP_CKPT_JOB_ID_LEN], const char *name,
                         uint64_t id, int64_t completion_ms)
{
    sp_error_t err = { 0 };
    sp_ckpt_meta_t m;
    make_meta(&m, job_id, name, id, completion_ms);
    if (sp_ckpt_store_begin(s, id, &err) || sp_ckpt_store_complete(s, &m, &err))
        fail_msg("checkpoint %llu: %s", (unsigned long long)id, err.message);
    sp_ckpt_meta_fini(&m);
}

/* The names in a directory joined by ',' (caller frees). */
static char *listing(const char *dir)
{
    sp_ckpt_storage_t *st = sp_ckpt_local_storage_create();
    sp_ckpt_names_t names;
    sp_error_t err = { 0 };
    assert_int_equal(sp_ckpt_storage_list(st, dir, &names, &err), SPATE_OK);
    char *out = sp_xstrdup("");
    for (size_t i = 0; i < names.n; i++) {
        char *next = sp_xasprintf("%s%s%s", out, i ? "," : "", names.v[i]);
        free(out);
        out = next;
    }
    sp_ckpt_names_free(&names);
    sp_ckpt_storage_destroy(st);
    return out;
}

static int temp_files;
static int count_temp(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    if (strstr(path, ".inprogress")) temp_files++;
    return 0;
}

/* Asserts no "*.inprogress" file is left anywhere under dir. */
static void assert_no_temp_files(const char *dir)
{
    temp_files = 0;
    assert_int_equal(nftw(dir, count_temp, 16, FTW_PHYS), 0);
    assert_int_equal(temp_files, 0);
}

/* find_latest for `name` must give checkpoint `id` (0: none). */
static void expect_latest(sp_ckpt_storage_t *st, const char *dir, const char *name, uint64_t id,
                          sp_ckpt_found_t *keep)
{
    sp_ckpt_found_t f;
    bool found;
    sp_error_t err = { 0 };
    assert_int_equal(sp_ckpt_find_latest(st, dir, name, &found, &f, &err), SPATE_OK);
    assert_int_equal(err.code, 0);
    if (id == 0) {
        if (found)
            fail_msg("found checkpoint %llu in %s", (unsigned long long)f.meta.checkpoint_id, f.chk_dir);
    } else {
        assert_true(found);
        assert_int_equal(f.meta.checkpoint_id, id);
        assert_string_equal(f.meta.job_name, name);
        char tail[64];
        snprintf(tail, sizeof tail, "/chk-%llu", (unsigned long long)id);
        assert_string_equal(f.chk_dir + strlen(f.chk_dir) - strlen(tail), tail);
    }
    if (keep)
        *keep = f;
    else
        sp_ckpt_found_fini(&f);
}

/* Overwrites byte `at` (negative: from the end) of a file, or truncates it to `truncate_to` when >= 0. */
static void damage(const char *path, long at, long truncate_to)
{
    if (truncate_to >= 0) {
        assert_int_equal(truncate(path, truncate_to), 0);
        return;
    }
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, at, at < 0 ? SEEK_END : SEEK_SET), 0);
    int c = fgetc(f);
    assert_int_equal(fseek(f, -1, SEEK_CUR), 0);
    fputc(c ^ 0x5a, f);
    fclose(f);
}

/* ---- tests ---- */

static void layout_follows_flink(void **state)
{
    const char *dir = *state;
    sp_ckpt_storage_t *st = sp_ckpt_local_storage_create();
    uint8_t job[SP_CKPT_JOB_ID_LEN];
    job_id_of(job, 1);
    char hex[33];
    sp_ckpt_job_id_format(job, hex);
    sp_ckpt_store_t *s;
    sp_error_t err = { 0 };
    char *base = sp_xasprintf("%s/ckpts/", dir); /* a trailing slash is fine */
    assert_int_equal(sp_ckpt_store_create(st, base, job, 0, &s, &err), SPATE_OK);
    char *job_dir = sp_xasprintf("%s/ckpts/%s", dir, hex);
    assert_string_equal(sp_ckpt_store_job_dir(s), job_dir);
    char *l = listing(job_dir);
    assert_string_equal(l, "shared,taskowned");
    free(l);
    assert_int_equal(sp_ckpt_store_latest(s), 0);
    assert_int_equal(sp_ckpt_store_next_id(s), 1);

    assert_int_equal(sp_ckpt_store_begin(s, 1, &err), SPATE_OK);
    assert_true(exists("%s/chk-%llu", job_dir, 1));
    assert_false(exists("%s/chk-%llu/_metadata", job_dir, 1)); /* not complete yet */
    sp_ckpt_meta_t m;
    make_meta(&m, job, "job", 1, 1000);
    assert_int_equal(sp_ckpt_store_complete(s, &m, &err), SPATE_OK);
    assert_true(exists("%s/chk-%llu/_metadata", job_dir, 1));
    assert_no_temp_files(dir);
    assert_int_equal(sp_ckpt_store_latest(s), 1);
    assert_int_equal(sp_ckpt_store_count(s), 1);
    assert_string_equal(sp_ckpt_store_warning(s), "");

    /* the file on disk is the encoding of m */
    char *meta_path = sp_xasprintf("%s/chk-1/_metadata", job_dir);
    size_t len, want_len;
    char *bytes = tu_read_file_len(meta_path, &len);
    uint8_t *want;
    assert_int_equal(sp_ckpt_meta_encode(&m, &want, &want_len, &err), SPATE_OK);
    assert_int_equal(len, want_len);
    assert_memory_equal(bytes, want, len);
    free(want);
    free(bytes);
    free(meta_path);

    /* handle paths resolve against the chk dir, shared/ and taskowned/ */
    char *chk = sp_ckpt_store_chk_dir(s, 1);
    sp_ckpt_handle_t h = { .kind = SP_CKPT_HANDLE_KEYED, .location = SP_CKPT_LOC_SHARED, .path = "a/b.sst" };
    char *p = sp_ckpt_handle_path(chk, &h), *want_p = sp_xasprintf("%s/shared/a/b.sst", job_dir);
    assert_string_equal(p, want_p);
    free(p);
    free(want_p);
    h.location = SP_CKPT_LOC_TASKOWNED;
    p = sp_ckpt_handle_path(chk, &h);
    want_p = sp_xasprintf("%s/taskowned/a/b.sst", job_dir);
    assert_string_equal(p, want_p);
    free(p);
    free(want_p);
    h.location = SP_CKPT_LOC_EXCLUSIVE;
    p = sp_ckpt_handle_path(chk, &h);
    want_p = sp_xasprintf("%s/a/b.sst", chk);
    assert_string_equal(p, want_p);
    free(p);
    free(want_p);
    h.location = SP_CKPT_LOC_INLINE;
    assert_null(sp_ckpt_handle_path(chk, &h));
    h.location = SP_CKPT_LOC_SHARED;
    p = sp_ckpt_handle_path("chk-3", &h);
    assert_string_equal(p, "./shared/a/b.sst");
    free(p);
    free(chk);

    sp_ckpt_meta_fini(&m);
    free(job_dir);
    free(base);
    sp_ckpt_store_destroy(s);
    sp_ckpt_storage_destroy(st);
}

static void retention_keeps_the_last_two(void **state)
{
    const char *dir = *state;
    sp_ckpt_storage_t *st = sp_ckpt_local_storage_create();
    uint8_t job[SP_CKPT_JOB_ID_LEN];
    job_id_of(job, 2);
    sp_ckpt_store_t *s;
    sp_error_t err = { 0 };
    assert_int_equal(sp_ckpt_store_create(st, dir, job, 2, &s, &err), SPATE_OK);
    for (uint64_t id = 1; id <= 6; id++) {
        complete_one(s, job, "j", id, (int64_t)id * 100);
        assert_int_equal(sp_ckpt_store_count(s), id < 2 ? id : 2);
    }
    assert_int_equal(sp_ckpt_store_id_at(s, 0), 5);
    assert_int_equal(sp_ckpt_store_id_at(s, 1), 6);
    char *l = listing(sp_ckpt_store_job_dir(s));
    assert_string_equal(l, "chk-5,chk-6,shared,taskowned");
    free(l);
    expect_latest(st, dir, "j", 6, NULL);
    sp_ckpt_store_destroy(s);
    sp_ckpt_storage_destroy(st);
}

static void retention_keeps_five_by_default(void **state)
{
    const char *dir = *state;
    sp_ckpt_storage_t *st = sp_ckpt_local_storage_create();
    uint8_t job[SP_CKPT_JOB_ID_LEN];
    job_id_of(job, 3);
    sp_ckpt_store_t *s;
    sp_error_t err = { 0 };
    assert_int_equal(sp_ckpt_store_create(st, dir, job, 0, &s, &err), SPATE_OK);
    /* ids need not be consecutive: failed checkpoints leave gaps */
    for (uint64_t id = 1; id <= 16; id += 2) complete_one(s, job, "j", id, (int64_t)id);
    assert_int_equal(sp_ckpt_store_count(s), SP_CKPT_NUM_RETAINED_DEFAULT);
    char *l = listing(sp_ckpt_store_job_dir(s));
    assert_string_equal(l, "chk-11,chk-13,chk-15,chk-7,chk-9,shared,taskowned");
    free(l);
    sp_ckpt_store_destroy(s);
    sp_ckpt_storage_destroy(st);
}

static void failed_retention_deletes_are_retried(void **state)
{
    const char *dir = *state;
    sp_ckpt_storage_t *local = sp_ckpt_local_storage_create();
    sp_ckpt_storage_t *st = sp_ckpt_faulty_storage_create(local);
    uint8_t job[SP_CKPT_JOB_ID_LEN];
    job_id_of(job, 4);
    sp_ckpt_store_t *s;
    sp_error_t err = { 0 };
    assert_int_equal(sp_ckpt_store_create(st, dir, job, 1, &s, &err), SPATE_OK);
    complete_one(s, job, "j", 1, 1);
    sp_ckpt_faulty_arm(st, &(sp_ckpt_fault_t){ .op = SP_CKPT_OP_REMOVE_TREE, .nth = 1, .errnum = EBUSY });
    complete_one(s, job, "j", 2, 2); /* completes although chk-1 cannot be deleted */
    assert_int_equal(sp_ckpt_store_latest(s), 2);
    assert_int_equal(sp_ckpt_store_count(s), 1);
    assert_non_null(strstr(sp_ckpt_store_warning(s), "chk-1"));
    assert_non_null(strstr(sp_ckpt_store_warning(s), "Device or resource busy"));
    assert_true(exists("%s/chk-%llu", sp_ckpt_store_job_dir(s), 1));
    sp_ckpt_faulty_disarm(st);
    complete_one(s, job, "j", 3, 3);
    assert_string_equal(sp_ckpt_store_warning(s), "");
    char *l = listing(sp_ckpt_store_job_dir(s));
    assert_string_equal(l, "chk-3,shared,taskowned");
    free(l);
    sp_ckpt_store_destroy(s);
    sp_ckpt_storage_destroy(st);
    sp_ckpt_storage_destroy(local);
}

static void abort_removes_the_checkpoint(void **state)
{
    const char *dir = *state;
    sp_ckpt_storage_t *st = sp_ckpt_local_storage_create();
    uint8_t job[SP_CKPT_JOB_ID_LEN], other[SP_CKPT_JOB_ID_LEN];
    job_id_of(job, 5);
    job_id_of(other, 6);
    sp_ckpt_store_t *s;
    sp_error_t err = { 0 };
    assert_int_equal(sp_ckpt_store_create(st, dir, job, 3, &s, &err), SPATE_OK);
    complete_one(s, job, "j", 1, 1);

    /* a timed-out checkpoint with state files already written */
    assert_int_equal(sp_ckpt_store_begin(s, 2, &err), SPATE_OK);
    char *chk2 = sp_ckpt_store_chk_dir(s, 2), *state_file = sp_xasprintf("%s/op-0-keyed", chk2);
    FILE *f = fopen(state_file, "w");
    assert_non_null(f);
    fputs("state", f);
    fclose(f);
    assert_int_equal(sp_ckpt_store_abort(s, 2, &err), SPATE_OK);
    assert_false(exists("%s/chk-%llu", sp_ckpt_store_job_dir(s), 2));
    assert_int_equal(sp_ckpt_store_latest(s), 1);

    /* misuse is refused, and changes nothing */
    sp_ckpt_meta_t m;
    make_meta(&m, job, "j", 2, 2);
    assert_int_equal(sp_ckpt_store_complete(s, &m, &err), SPATE_ESTATE); /* aborted */
    assert_non_null(strstr(err.message, "checkpoint 2 was not begun"));
    sp_ckpt_meta_fini(&m);
    memset(&err, 0, sizeof err);
    assert_int_equal(sp_ckpt_store_abort(s, 1, &err), SPATE_ESTATE);
    assert_non_null(strstr(err.message, "checkpoint 1 is complete"));
    memset(&err, 0, sizeof err);
    assert_int_equal(sp_ckpt_store_begin(s, 2, &err), SPATE_ESTATE); /* ids are never reused */
    assert_non_null(strstr(err.message, "the next one is at least 3"));
    memset(&err, 0, sizeof err);
    assert_int_equal(sp_ckpt_store_begin(s, 3, &err), SPATE_OK);
    make_meta(&m, other, "j", 3, 3);
    assert_int_equal(sp_ckpt_store_complete(s, &m, &err), SPATE_EINVAL);
    assert_non_null(strstr(err.message, "another job"));
    sp_ckpt_meta_fini(&m);
    memset(&err, 0, sizeof err);
    make_meta(&m, job, "j", 3, 3);
    m.kind = SP_CKPT_SAVEPOINT;
    assert_int_equal(sp_ckpt_store_complete(s, &m, &err), SPATE_EINVAL);
    sp_ckpt_meta_fini(&m);
    memset(&err, 0, sizeof err);
    /* a newer checkpoint completes first: the older pending one can no longer complete */
    assert_int_equal(sp_ckpt_store_begin(s, 4, &err), SPATE_OK);
    make_meta(&m, job, "j", 4, 4);
    assert_int_equal(sp_ckpt_store_complete(s, &m, &err), SPATE_OK);
    sp_ckpt_meta_fini(&m);
    make_meta(&m, job, "j", 3, 3);
    assert_int_equal(sp_ckpt_store_complete(s, &m, &err), SPATE_ESTATE);
    assert_non_null(strstr(err.message, "older than the latest completed one (4)"));
    sp_ckpt_meta_fini(&m);
    assert_int_equal(sp_ckpt_store_abort(s, 3, &err), SPATE_OK);
    char *l = listing(sp_ckpt_store_job_dir(s));
    assert_string_equal(l, "chk-1,chk-4,shared,taskowned");
    free(l);
    free(state_file);
    free(chk2);
    sp_ckpt_store_destroy(s);
    sp_ckpt_storage_destroy(st);
}

static void reopening_adopts_complete_checkpoints(void **state)
{
    const char *dir = *state;
    sp_ckpt_storage_t *st = sp_ckpt_local_storage_create();
    uint8_t job[SP_CKPT_JOB_ID_LEN];
    job_id_of(job, 7);
    sp_ckpt_store_t *s;
    sp_error_t err = { 0 };
    assert_int_equal(sp_ckpt_store_create(st, dir, job, 5, &s, &err), SPATE_OK);
    for (uint64_t id = 1; id <= 3; id++) complete_one(s, job, "j", id, (int64_t)id);
    assert_int_equal(sp_ckpt_store_begin(s, 4, &err), SPATE_OK); /* the process dies during chk-4 */
    sp_ckpt_store_destroy(s);

    assert_int_equal(sp_ckpt_store_create(st, dir, job, 2, &s, &err), SPATE_OK);
    assert_int_equal(sp_ckpt_store_count(s), 3);
    assert_int_equal(sp_ckpt_store_latest(s), 3);
    assert_int_equal(sp_ckpt_store_next_id(s), 5);
    complete_one(s, job, "j", 5, 5);
    char *l = listing(sp_ckpt_store_job_dir(s));
    assert_string_equal(l, "chk-3,chk-4,chk-5,shared,taskowned"); /* chk-4 is not ours to judge */
    free(l);
    assert_int_equal(sp_ckpt_store_abort(s, 4, &err), SPATE_OK);
    l = listing(sp_ckpt_store_job_dir(s));
    assert_string_equal(l, "chk-3,chk-5,shared,taskowned");
    free(l);
    sp_ckpt_store_destroy(s);
    sp_ckpt_storage_destroy(st);
}

static void latest_by_job_name_across_job_ids(void **state)
{
    const char *dir = *state;
    sp_ckpt_storage_t *st = sp_ckpt_local_storage_create();
    uint8_t a1[SP_CKPT_JOB_ID_LEN], a2[SP_CKPT_JOB_ID_LEN], b1[SP_CKPT_JOB_ID_LEN];
    job_id_of(a1, 10);
    job_id_of(a2, 11);
    job_id_of(b1, 12);
    sp_ckpt_store_t *sa1, *sa2, *sb1;
    sp_error_t err = { 0 };
    assert_int_equal(sp_ckpt_store_create(st, dir, a1, 0, &sa1, &err), SPATE_OK);
    assert_int_equal(sp_ckpt_store_create(st, dir, a2, 0, &sa2, &err), SPATE_OK);
    assert_int_equal(sp_ckpt_store_create(st, dir, b1, 0, &sb1, &err), SPATE_OK);

    expect_latest(st, dir, "A", 0, NULL); /* job dirs but no checkpoint yet */
    complete_one(sa1, a1, "A", 1, 100);
    complete_one(sa1, a1, "A", 2, 200);
    complete_one(sb1, b1, "B", 1, 900);
    /* job A restarted from chk-2 under a new job id: its ids go on from there */
    complete_one(sa2, a2, "A", 3, 300);
    expect_latest(st, dir, "A", 3, NULL);
    expect_latest(st, dir, "B", 1, NULL);
    expect_latest(st, dir, "C", 0, NULL);
    expect_latest(st, dir, "", 0, NULL);

    sp_ckpt_found_t f;
    expect_latest(st, dir, "A", 3, &f);
    char hex[33];
    sp_ckpt_job_id_format(a2, hex);
    assert_non_null(strstr(f.chk_dir, hex));
    assert_memory_equal(f.meta.job_id, a2, SP_CKPT_JOB_ID_LEN);
    assert_int_equal(f.skipped, 0);
    sp_ckpt_found_fini(&f);

    /* a missing directory is a first start: none */
    char *nodir = sp_xasprintf("%s/does-not-exist", dir);
    expect_latest(st, nodir, "A", 0, NULL);
    free(nodir);

    sp_ckpt_store_destroy(sa1);
    sp_ckpt_store_destroy(sa2);
    sp_ckpt_store_destroy(sb1);
    sp_ckpt_storage_destroy(st);
}

static void latest_falls_back_over_bad_metadata(void **state)
{
    const char *dir = *state;
    sp_ckpt_storage_t *st = sp_ckpt_local_storage_create();
    uint8_t a1[SP_CKPT_JOB_ID_LEN], a2[SP_CKPT_JOB_ID_LEN];
    job_id_of(a1, 20);
    job_id_of(a2, 21);
    sp_ckpt_store_t *s1, *s2;
    sp_error_t err = { 0 };
    assert_int_equal(sp_ckpt_store_create(st, dir, a1, 0, &s1, &err), SPATE_OK);
    assert_int_equal(sp_ckpt_store_create(st, dir, a2, 0, &s2, &err), SPATE_OK);
    for (uint64_t id = 1; id <= 3; id++) complete_one(s1, a1, "A", id, (int64_t)id * 10);
    complete_one(s2, a2, "A", 4, 40);
    assert_int_equal(sp_ckpt_store_begin(s2, 5, &err), SPATE_OK); /* in progress: no _metadata */
    expect_latest(st, dir, "A", 4, NULL);

    char *m4 = sp_xasprintf("%s/chk-4/_metadata", sp_ckpt_store_job_dir(s2));
    char *m3 = sp_xasprintf("%s/chk-3/_metadata", sp_ckpt_store_job_dir(s1));
    char *m2 = sp_xasprintf("%s/chk-2/_metadata", sp_ckpt_store_job_dir(s1));
    char *m1 = sp_xasprintf("%s/chk-1/_metadata", sp_ckpt_store_job_dir(s1));

    /* newest corrupt (a flipped byte): chk-3 of the other job id */
    damage(m4, 60, -1);
    sp_ckpt_found_t f;
    expect_latest(st, dir, "A", 3, &f);
    assert_true(f.skipped >= 2); /* chk-5 (no _metadata) and chk-4 */
    sp_ckpt_found_fini(&f);

    /* then truncated: chk-2 */
    damage(m3, 0, 50);
    expect_latest(st, dir, "A", 2, &f);
    assert_true(f.skipped >= 3);
    sp_ckpt_found_fini(&f);
    /* the reason is given: here chk-3's truncation, found while scanning the first job id */
    bool found;
    memset(&err, 0, sizeof err);
    assert_int_equal(sp_ckpt_find_latest(st, dir, "A", &found, &f, &err), SPATE_OK);
    assert_true(found);
    assert_true(strstr(f.skip_note, "truncated") || strstr(f.skip_note, "checksum") ||
                strstr(f.skip_note, "No such file"));
    sp_ckpt_found_fini(&f);

    /* then an empty file and a missing one: nothing left */
    damage(m2, 0, 0);
    expect_latest(st, dir, "A", 1, NULL);
    assert_int_equal(unlink(m1), 0);
    expect_latest(st, dir, "A", 0, NULL);

    free(m1);
    free(m2);
    free(m3);
    free(m4);
    sp_ckpt_store_destroy(s1);
    sp_ckpt_store_destroy(s2);
    sp_ckpt_storage_destroy(st);
}

static void explicit_paths_resolve_and_never_fall_back(void **state)
{
    const char *dir = *state;
    sp_ckpt_storage_t *st = sp_ckpt_local_storage_create();
    uint8_t job[SP_CKPT_JOB_ID_LEN];
    job_id_of(job, 30);
    sp_ckpt_store_t *s;
    sp_error_t err = { 0 };
    assert_int_equal(sp_ckpt_store_create(st, dir, job, 0, &s, &err), SPATE_OK);
    complete_one(s, job, "J", 1, 1);
    complete_one(s, job, "J", 2, 2);
    char *chk2 = sp_ckpt_store_chk_dir(s, 2);
    char *forms[] = { sp_xstrdup(chk2), sp_xasprintf("%s/", chk2), sp_xasprintf("%s/_metadata", chk2) };
    for (size_t i = 0; i < SP_ARRAY_LEN(forms); i++) {
        sp_ckpt_found_t f;
        assert_int_equal(sp_ckpt_resolve(st, forms[i], &f, &err), SPATE_OK);
        assert_string_equal(f.chk_dir, chk2);
        assert_int_equal(f.meta.checkpoint_id, 2);
        sp_ckpt_found_fini(&f);
        bool found;
        assert_int_equal(sp_ckpt_locate(st, forms[i], NULL, "J", &found, &f, &err), SPATE_OK);
        assert_true(found);
        sp_ckpt_found_fini(&f);
        free(forms[i]);
    }
    bool found;
    sp_ckpt_found_t f;
    assert_int_equal(sp_ckpt_locate(st, "latest", dir, "J", &found, &f, &err), SPATE_OK);
    assert_true(found);
    assert_int_equal(f.meta.checkpoint_id, 2);
    sp_ckpt_found_fini(&f);
    assert_int_equal(sp_ckpt_locate(st, "latest", dir, "K", &found, &f, &err), SPATE_OK);
    assert_false(found); /* start fresh */
    assert_int_equal(err.code, 0);
    assert_int_equal(sp_ckpt_locate(st, "latest", "", "J", &found, &f, &err), SPATE_ECONFIG);
    assert_non_null(strstr(err.message, "state.checkpoints.dir"));

    /* a corrupt explicit checkpoint is an error naming the file, not a fallback to chk-1 */
    char *meta = sp_xasprintf("%s/_metadata", chk2);
    damage(meta, -3, -1);
    memset(&err, 0, sizeof err);
    assert_int_equal(sp_ckpt_resolve(st, chk2, &f, &err), SPATE_EPARSE);
    assert_non_null(strstr(err.message, meta));
    assert_non_null(strstr(err.message, "checksum mismatch"));
    assert_null(f.chk_dir);
    memset(&err, 0, sizeof err);
    char *nothing = sp_xasprintf("%s/chk-9", sp_ckpt_store_job_dir(s));
    assert_int_equal(sp_ckpt_locate(st, nothing, dir, "J", &found, &f, &err), SPATE_ENOENT);
    assert_false(found);
    assert_non_null(strstr(err.message, "chk-9/_metadata"));
    free(nothing);
    free(meta);
    free(chk2);
    sp_ckpt_store_destroy(s);
    sp_ckpt_storage_destroy(st);
}

/* Each injected fault fails completion with an error naming the path; the previous checkpoint stays the latest,
 * nothing of the failed one is left, and the next checkpoint completes. */
static void each_fault_fails_completion_cleanly(void **state)
{
    const char *dir = *state;
    static const struct {
        sp_ckpt_fault_t fault;
        const char *want;
    } cases[] = {
        { { .op = SP_CKPT_OP_FILE_WRITE, .nth = 1, .errnum = EIO }, "Input/output error" },
        { { .op = SP_CKPT_OP_FILE_WRITE, .nth = 1, .errnum = EIO, .partial = true }, "short write" },
        { { .op = SP_CKPT_OP_FILE_WRITE, .nth = 1, .errnum = ENOSPC, .persistent = true }, "No space left" },
        { { .op = SP_CKPT_OP_FILE_WRITE, .nth = 1, .partial = true },
          "read back" }, /* torn, reported as done */
        { { .op = SP_CKPT_OP_FILE_SYNC, .nth = 1, .errnum = EIO }, "fsync '" },
        { { .op = SP_CKPT_OP_RENAME, .nth = 1, .errnum = EIO }, "rename '" },
        { { .op = SP_CKPT_OP_SYNC_DIR, .nth = 1, .errnum = EIO }, "fsync directory '" },
        { { .op = SP_CKPT_OP_FILE_OPEN, .nth = 1, .errnum = EROFS }, "Read-only file system" },
        { { .op = SP_CKPT_OP_FILE_CLOSE, .nth = 1, .errnum = EIO }, "close '" },
        { { .op = SP_CKPT_OP_READ, .nth = 1, .errnum = EIO }, "read '" },
    };
    for (size_t c = 0; c < SP_ARRAY_LEN(cases); c++) {
        char *base = sp_xasprintf("%s/case-%zu", dir, c);
        sp_ckpt_storage_t *local = sp_ckpt_local_storage_create();
        sp_ckpt_storage_t *st = sp_ckpt_faulty_storage_create(local);
        uint8_t job[SP_CKPT_JOB_ID_LEN];
        job_id_of(job, 40);
        sp_ckpt_store_t *s;
        sp_error_t err = { 0 };
        assert_int_equal(sp_ckpt_store_create(st, base, job, 0, &s, &err), SPATE_OK);
        complete_one(s, job, "J", 1, 1);

        assert_int_equal(sp_ckpt_store_begin(s, 2, &err), SPATE_OK);
        sp_ckpt_faulty_arm(st, &cases[c].fault);
        sp_ckpt_meta_t m;
        make_meta(&m, job, "J", 2, 2);
        int rc = sp_ckpt_store_complete(s, &m, &err);
        sp_ckpt_meta_fini(&m);
        if (rc != SPATE_EIO) fail_msg("case %zu: rc %d, '%s'", c, rc, err.message);
        assert_true(sp_ckpt_faulty_fired(st) >= 1);
        char *chk2 = sp_ckpt_store_chk_dir(s, 2);
        if (!strstr(err.message, chk2) || !strstr(err.message, cases[c].want) ||
            !strstr(err.message, "checkpoint 2 failed: "))
            fail_msg("case %zu: '%s'", c, err.message);
        sp_ckpt_faulty_disarm(st);

        assert_int_equal(sp_ckpt_store_latest(s), 1);
        assert_false(path_exists(chk2)); /* the failed checkpoint's directory is gone */
        assert_no_temp_files(base);
        expect_latest(st, base, "J", 1, NULL);

        memset(&err, 0, sizeof err);
        complete_one(s, job, "J", 3, 3); /* the job goes on */
        expect_latest(st, base, "J", 3, NULL);
        free(chk2);
        sp_ckpt_store_destroy(s);
        sp_ckpt_storage_destroy(st);
        sp_ckpt_storage_destroy(local);
        free(base);
    }
}

/* A fault at every single storage call of a completion, one at a time: the outcome is always all or nothing. */
static void a_fault_at_every_call_is_all_or_nothing(void **state)
{
    const char *dir = *state;
    sp_ckpt_storage_t *local = sp_ckpt_local_storage_create();
    sp_ckpt_storage_t *st = sp_ckpt_faulty_storage_create(local);
    uint8_t job[SP_CKPT_JOB_ID_LEN];
    job_id_of(job, 50);
    sp_ckpt_store_t *s;
    sp_error_t err = { 0 };
    assert_int_equal(sp_ckpt_store_create(st, dir, job, 2, &s, &err), SPATE_OK);
    uint64_t id = 1;
    complete_one(s, job, "J", id++, 1);
    int failures = 0;
    for (int op = 0; op < SP_CKPT_OP_COUNT; op++) {
        for (int64_t nth = 1;; nth++) {
            memset(&err, 0, sizeof err);
            assert_int_equal(sp_ckpt_store_begin(s, id, &err), SPATE_OK);
            sp_ckpt_faulty_arm(st, &(sp_ckpt_fault_t){ .op = (sp_ckpt_op_t)op, .nth = nth, .errnum = EIO });
            sp_ckpt_meta_t m;
            make_meta(&m, job, "J", id, (int64_t)id);
            uint64_t before = sp_ckpt_store_latest(s);
            int rc = sp_ckpt_store_complete(s, &m, &err);
            sp_ckpt_meta_fini(&m);
            bool fired = sp_ckpt_faulty_fired(st) > 0;
            sp_ckpt_faulty_disarm(st);
            if (rc == SPATE_OK) {
                assert_int_equal(sp_ckpt_store_latest(s), id);
            } else {
                assert_true(fired);
                assert_int_equal(rc, SPATE_EIO);
                assert_non_null(strstr(err.message, sp_ckpt_store_job_dir(s)));
                assert_int_equal(sp_ckpt_store_latest(s), before);
                failures++;
            }
            expect_latest(st, dir, "J", sp_ckpt_store_latest(s), NULL);
            assert_no_temp_files(dir);
            id++;
            if (!fired) break; /* past the last call of op */
        }
    }
    assert_true(failures >= 7); /* open, write, fsync, close, rename, dir fsync, read back */
    sp_ckpt_store_destroy(s);
    sp_ckpt_storage_destroy(st);
    sp_ckpt_storage_destroy(local);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(layout_follows_flink, tu_setup_tmpdir, tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(retention_keeps_the_last_two, tu_setup_tmpdir, tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(retention_keeps_five_by_default, tu_setup_tmpdir, tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(failed_retention_deletes_are_retried, tu_setup_tmpdir,
                                    tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(abort_removes_the_checkpoint, tu_setup_tmpdir, tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(reopening_adopts_complete_checkpoints, tu_setup_tmpdir,
                                    tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(latest_by_job_name_across_job_ids, tu_setup_tmpdir, tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(latest_falls_back_over_bad_metadata, tu_setup_tmpdir, tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(explicit_paths_resolve_and_never_fall_back, tu_setup_tmpdir,
                                    tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(each_fault_fails_completion_cleanly, tu_setup_tmpdir, tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(a_fault_at_every_call_is_all_or_nothing, tu_setup_tmpdir,
                                    tu_teardown_tmpdir),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "checkpoint_store");
}
