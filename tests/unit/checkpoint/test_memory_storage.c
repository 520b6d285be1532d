/*
 * test_memory_storage.c — checkpoint storage in memory behaves as the local
 * file system does for the store: directories, files that need their
 * parent, atomic replacement, sorted listing, recursive removal, missing
 * paths; and a store on it completes, retains and finds checkpoints.
 */
#include "test_main.h"

#include <string.h>

#include "checkpoint/store.h"

static void files_and_directories(void **state)
{
    (void)state;
    sp_ckpt_storage_t *st = sp_ckpt_memory_storage_create();
    sp_error_t err = { 0 };
    sp_ckpt_file_t *f;
    assert_int_equal(sp_ckpt_file_open(st, "/m/a/x", &f, &err), SPATE_ENOENT); /* no parent */
    assert_non_null(strstr(err.message, "/m/a/x"));
    err = (sp_error_t){ 0 };
    assert_int_equal(sp_ckpt_storage_mkdirs(st, "/m/a", &err), SPATE_OK);
    assert_int_equal(sp_ckpt_storage_write_atomic(st, "/m/a", "x", "hello", 5, &err), SPATE_OK);
    assert_int_equal(sp_ckpt_storage_write_atomic(st, "/m/a", "x", "bye", 3, &err), SPATE_OK); /* replaced */
    assert_int_equal(sp_ckpt_storage_write_atomic(st, "/m/a", "b", "1", 1, &err), SPATE_OK);
    assert_int_equal(sp_ckpt_storage_mkdirs(st, "/m/a/sub/deeper", &err), SPATE_OK);
    uint8_t *data;
    size_t len;
    assert_int_equal(sp_ckpt_storage_read(st, "/m/a/x", 100, &data, &len, &err), SPATE_OK);
    assert_int_equal(len, 3);
    assert_string_equal((char *)data, "bye");
    free(data);
    assert_int_equal(sp_ckpt_storage_read(st, "/m/a/x", 2, &data, &len, &err), SPATE_EIO);
    err = (sp_error_t){ 0 };
    sp_ckpt_names_t names;
    assert_int_equal(sp_ckpt_storage_list(st, "/m/a", &names, &err), SPATE_OK);
    assert_int_equal(names.n, 3); /* b, sub, x: no temp file left */
    assert_string_equal(names.v[0], "b");
    assert_string_equal(names.v[1], "sub");
    assert_string_equal(names.v[2], "x");
    sp_ckpt_names_free(&names);
    assert_int_equal(sp_ckpt_storage_remove_tree(st, "/m/a/sub", &err), SPATE_OK);
    assert_int_equal(sp_ckpt_storage_list(st, "/m/a/sub/deeper", &names, &err), SPATE_ENOENT);
    err = (sp_error_t){ 0 };
    assert_int_equal(sp_ckpt_storage_remove(st, "/m/a/b", &err), SPATE_OK);
    assert_int_equal(sp_ckpt_storage_read(st, "/m/a/b", 100, &data, &len, &err), SPATE_ENOENT);
    sp_ckpt_storage_destroy(st);
}

static void a_store_works_on_it(void **state)
{
    (void)state;
    sp_ckpt_storage_t *st = sp_ckpt_memory_storage_create();
    uint8_t job[SP_CKPT_JOB_ID_LEN] = { 1, 2, 3 };
    sp_ckpt_store_t *store;
    sp_error_t err = { 0 };
    assert_int_equal(sp_ckpt_store_create(st, "/ckpt", job, 2, &store, &err), SPATE_OK);
    for (uint64_t id = 1; id <= 3; id++) {
        assert_int_equal(sp_ckpt_store_begin(store, id, &err), SPATE_OK);
        sp_ckpt_meta_t m;
        sp_ckpt_meta_init(&m);
        m.checkpoint_id = id;
        memcpy(m.job_id, job, sizeof job);
        sp_ckpt_meta_set_job_name(&m, "mem-job");
        m.max_parallelism = 128;
        m.completion_ms = (int64_t)id * 1000;
        sp_ckpt_meta_add_operator(&m, "op", "Op", 1, 128);
        assert_int_equal(sp_ckpt_store_complete(store, &m, &err), SPATE_OK);
        sp_ckpt_meta_fini(&m);
    }
    assert_int_equal(sp_ckpt_store_count(store), 2); /* retention */
    assert_true(sp_ckpt_store_id_at(store, 0) == 2);
    bool found;
    sp_ckpt_found_t f;
    assert_int_equal(sp_ckpt_find_latest(st, "/ckpt", "mem-job", &found, &f, &err), SPATE_OK);
    assert_true(found);
    assert_true(f.meta.checkpoint_id == 3);
    sp_ckpt_found_fini(&f);
    sp_ckpt_store_destroy(store);
    sp_ckpt_storage_destroy(st);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(files_and_directories),
    cmocka_unit_test(a_store_works_on_it),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "checkpoint_memory_storage");
}
