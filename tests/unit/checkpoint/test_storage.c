/*
 * test_storage.c — the storage interface: the local file system (files,
 * directories, listing, reading with a limit, errors naming the path, big
 * files written past the page cache), loads
 * (big files mapped copy-on-write, small ones read; handles at an offset), the
 * atomic write, and the fault-injecting wrapper (each fault kind, counting,
 * persistence, the atomic write failing at every step without touching the
 * file it replaces).
 */
#include "test_main.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoint/savepoint.h"
#include "checkpoint/storage.h"
#include "checkpoint/store.h"
#include "test_util.h"

static bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static void write_file(sp_ckpt_storage_t *st, const char *path, const char *text)
{
    sp_ckpt_file_t *f;
    sp_error_t err = { 0 };
    assert_int_equal(sp_ckpt_file_open(st, path, &f, &err), SPATE_OK);
    assert_int_equal(sp_ckpt_file_write(st, f, text, strlen(text), &err), SPATE_OK);
    assert_int_equal(sp_ckpt_file_sync(st, f, &err), SPATE_OK);
    assert_int_equal(sp_ckpt_file_close(st, f, &err), SPATE_OK);
}

static char *read_text(sp_ckpt_storage_t *st, const char *path)
{
    uint8_t *data;
    size_t len;
    sp_error_t err = { 0 };
    int rc = sp_ckpt_storage_read(st, path, 1 << 20, &data, &len, &err);
    if (rc) fail_msg("read %s: %s", path, err.message);
    assert_int_equal(strlen((char *)data), len);
    return (char *)data;
}

static void expect_error(int rc, const sp_error_t *err, int code, const char *want1, const char *want2)
{
    assert_int_equal(rc, code);
    assert_int_equal(err->code, code);
    if (want1 && !strstr(err->message, want1)) fail_msg("'%s' lacks '%s'", err->message, want1);
    if (want2 && !strstr(err->message, want2)) fail_msg("'%s' lacks '%s'", err->message, want2);
}

static void local_files_and_directories(void **state)
{
    const char *dir = *state;
    sp_ckpt_storage_t *st = sp_ckpt_local_storage_create();
    sp_error_t err = { 0 };
    char *deep = sp_xasprintf("%s/a/b/c", dir);
    assert_int_equal(sp_ckpt_storage_mkdirs(st, deep, &err), SPATE_OK);
    assert_int_equal(sp_ckpt_storage_mkdirs(st, deep, &err), SPATE_OK); /* existing is fine */
    char *f1 = sp_xasprintf("%s/a/b/c/zeta", dir), *f2 = sp_xasprintf("%s/a/b/c/alpha", dir);
    write_file(st, f1, "one");
    write_file(st, f2, "");
    write_file(st, f1, "two, truncating"); /* open truncates */
    char *t = read_text(st, f1);
    assert_string_equal(t, "two, truncating");
    free(t);
    t = read_text(st, f2);
    assert_string_equal(t, "");
    free(t);

    sp_ckpt_names_t names;
    assert_int_equal(sp_ckpt_storage_list(st, deep, &names, &err), SPATE_OK);
    assert_int_equal(names.n, 2);
    assert_string_equal(names.v[0], "alpha");
    assert_string_equal(names.v[1], "zeta");
    sp_ckpt_names_free(&names);

    char *moved = sp_xasprintf("%s/a/b/c/moved", dir);
    assert_int_equal(sp_ckpt_storage_rename(st, f2, moved, &err), SPATE_OK);
    assert_false(exists(f2));
    assert_true(exists(moved));
    assert_int_equal(sp_ckpt_storage_sync_dir(st, deep, &err), SPATE_OK);
    assert_int_equal(sp_ckpt_storage_remove(st, moved, &err), SPATE_OK);
    assert_int_equal(sp_ckpt_storage_remove(st, moved, &err), SPATE_OK); /* missing is fine */
    assert_false(exists(moved));

    char *a = sp_xasprintf("%s/a", dir);
    assert_int_equal(sp_ckpt_storage_remove_tree(st, a, &err), SPATE_OK);
    assert_false(exists(a));
    assert_int_equal(sp_ckpt_storage_remove_tree(st, a, &err), SPATE_OK);
    assert_int_equal(err.code, 0);
    free(a);
    free(moved);
    free(f1);
    free(f2);
    free(deep);
    sp_ckpt_storage_destroy(st);
}

static void local_errors_name_the_path(void **state)
{
    const char *dir = *state;
    sp_ckpt_storage_t *st = sp_ckpt_local_storage_create();
    char *missing = sp_xasprintf("%s/nope/file", dir);
    sp_ckpt_file_t *f;
    sp_error_t err = { 0 };
    expect_error(sp_ckpt_file_open(st, missing, &f, &err), &err, SPATE_ENOENT, missing,
                 "No such file or directory");
    assert_null(f);

    memset(&err, 0, sizeof err);
    uint8_t *data;
    size_t len;
    expect_error(sp_ckpt_storage_read(st, missing, 100, &data, &len, &err), &err, SPATE_ENOENT, missing,
                 NULL);
    assert_null(data);

    char *file = sp_xasprintf("%s/plain", dir), *under = sp_xasprintf("%s/plain/sub", dir);
    write_file(st, file, "0123456789");
    memset(&err, 0, sizeof err);
    expect_error(sp_ckpt_storage_mkdirs(st, under, &err), &err, SPATE_EIO, file, "Not a directory");

    memset(&err, 0, sizeof err);
    expect_error(sp_ckpt_storage_read(st, file, 9, &data, &len, &err), &err, SPATE_EIO, file,
                 "more than the limit of 9");
    memset(&err, 0, sizeof err);
    assert_int_equal(sp_ckpt_storage_read(st, file, 10, &data, &len, &err), SPATE_OK);
    assert_int_equal(len, 10);
    free(data);

    memset(&err, 0, sizeof err);
    expect_error(sp_ckpt_storage_read(st, dir, 100, &data, &len, &err), &err, SPATE_EIO, dir,
                 "Is a directory");

    sp_ckpt_names_t names;
    memset(&err, 0, sizeof err);
    expect_error(sp_ckpt_storage_list(st, missing, &names, &err), &err, SPATE_ENOENT, missing, NULL);
    assert_int_equal(names.n, 0);

    memset(&err, 0, sizeof err);
    char *to = sp_xasprintf("%s/x", dir);
    expect_error(sp_ckpt_storage_rename(st, missing, to, &err), &err, SPATE_ENOENT, missing, to);
    free(to);
    free(file);
    free(under);
    free(missing);
    sp_ckpt_storage_destroy(st);
}

/* A file of n bytes, byte i = (i * 7 + i / 4096) mod 256: pages differ from each other. */
static uint8_t *pattern(size_t n)
{
    uint8_t *p = sp_xmalloc(n);
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(i * 7 + i / 4096);
    return p;
}

static void write_bytes(sp_ckpt_storage_t *st, const char *path, const uint8_t *p, size_t n)
{
    sp_ckpt_file_t *f;
    sp_error_t err = { 0 };
    assert_int_equal(sp_ckpt_file_open(st, path, &f, &err), SPATE_OK);
    assert_int_equal(sp_ckpt_file_write(st, f, p, n, &err), SPATE_OK);
    assert_int_equal(sp_ckpt_file_close(st, f, &err), SPATE_OK);
}

static void local_load_maps_big_files_and_reads_small_ones(void **state)
{
    const char *dir = *state;
    sp_ckpt_storage_t *st = sp_ckpt_local_storage_create();
    sp_ckpt_storage_t *faulty = sp_ckpt_faulty_storage_create(st);
    const size_t big = (3u << 20) + 123;
    uint8_t *want = pattern(big);
    char *path = sp_xasprintf("%s/big", dir), *small = sp_xasprintf("%s/small", dir),
         *missing = sp_xasprintf("%s/missing", dir);
    write_bytes(st, path, want, big);
    write_bytes(st, small, want, 100);
    sp_ckpt_bytes_t b;
    sp_error_t err = { 0 };

    /* big: mapped, every byte as written; writing into it changes memory only, never the file */
    assert_int_equal(sp_ckpt_storage_load(st, path, big, &b, &err), SPATE_OK);
    assert_non_null(b.map);
    assert_int_equal(b.len, big);
    assert_memory_equal(b.data, want, big);
    b.data[0] ^= 0xff;
    b.data[big - 1] ^= 0xff;
    sp_ckpt_bytes_release(&b);
    assert_null(b.data);
    assert_int_equal(sp_ckpt_storage_load(st, path, big, &b, &err), SPATE_OK);
    assert_memory_equal(b.data, want, big);
    sp_ckpt_bytes_release(&b);

    /* small: read into a buffer of its own */
    assert_int_equal(sp_ckpt_storage_load(st, small, 100, &b, &err), SPATE_OK);
    assert_null(b.map);
    assert_int_equal(b.len, 100);
    assert_memory_equal(b.data, want, 100);
    sp_ckpt_bytes_release(&b);

    /* over the limit, missing: the errors of read, naming the path */
    expect_error(sp_ckpt_storage_load(st, path, big - 1, &b, &err), &err, SPATE_EIO, path, "limit");
    assert_null(b.data);
    memset(&err, 0, sizeof err);
    expect_error(sp_ckpt_storage_load(st, missing, big, &b, &err), &err, SPATE_ENOENT, missing, NULL);

    /* through the faulty wrapper: a read fault fails the load; the next one maps */
    memset(&err, 0, sizeof err);
    sp_ckpt_faulty_arm(faulty, &(sp_ckpt_fault_t){ .op = SP_CKPT_OP_READ, .nth = 1, .errnum = EIO });
    expect_error(sp_ckpt_storage_load(faulty, path, big, &b, &err), &err, SPATE_EIO, path, "injected fault");
    assert_int_equal(sp_ckpt_storage_load(faulty, path, big, &b, &err), SPATE_OK);
    assert_non_null(b.map);
    assert_memory_equal(b.data, want, big);
    sp_ckpt_bytes_release(&b);
    assert_int_equal(sp_ckpt_faulty_calls(faulty, SP_CKPT_OP_READ), 2);

    /* a handle at an offset: its bytes only, from the map or the buffer alike */
    sp_ckpt_handle_t h = {
        .location = SP_CKPT_LOC_EXCLUSIVE, .path = "big", .offset = 4097, .length = big - 4097
    };
    assert_int_equal(sp_ckpt_handle_load(st, dir, &h, &b, &err), SPATE_OK);
    assert_non_null(b.map);
    assert_int_equal(b.len, big - 4097);
    assert_memory_equal(b.data, want + 4097, big - 4097);
    sp_ckpt_bytes_release(&b);
    uint8_t *data;
    size_t len;
    assert_int_equal(sp_ckpt_handle_read(st, dir, &h, &data, &len, &err), SPATE_OK);
    assert_int_equal(len, big - 4097);
    assert_memory_equal(data, want + 4097, len);
    free(data);
    /* a handle past the file's end */
    h.length = big;
    memset(&err, 0, sizeof err);
    expect_error(sp_ckpt_handle_load(st, dir, &h, &b, &err), &err, SPATE_EPARSE, path,
                 "shorter than its handle");

    free(want);
    free(path);
    free(small);
    free(missing);
    sp_ckpt_storage_destroy(faulty);
    sp_ckpt_storage_destroy(st);
}

/* Files of more than a staging buffer (4 MiB) are written with O_DIRECT where the file system takes
 * it, the tail buffered: whatever the pieces' sizes and whether closed with or without a sync, the
 * file holds every byte as written, once. */
static void local_big_files_are_written_whole(void **state)
{
    const char *dir = *state;
    sp_ckpt_storage_t *st = sp_ckpt_local_storage_create();
    const size_t mib4 = (size_t)4 << 20;
    const size_t sizes[] = { 100, mib4 - 1, mib4, mib4 + 1, 2 * mib4, (9u << 20) + 123 };
    const size_t pieces[] = { 1, 4095, (3u << 20) + 17, 65536, mib4 };
    uint8_t *want = pattern(sizes[5]);
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        char *path = sp_xasprintf("%s/file%zu", dir, i);
        sp_ckpt_file_t *f;
        sp_error_t err = { 0 };
        assert_int_equal(sp_ckpt_file_open(st, path, &f, &err), SPATE_OK);
        for (size_t at = 0, k = i; at < sizes[i]; k++) {
            size_t n = SP_MIN(pieces[k % 5], sizes[i] - at);
            assert_int_equal(sp_ckpt_file_write(st, f, want + at, n, &err), SPATE_OK);
            at += n;
        }
        if (i % 2) assert_int_equal(sp_ckpt_file_sync(st, f, &err), SPATE_OK);
        assert_int_equal(sp_ckpt_file_close(st, f, &err), SPATE_OK);
        uint8_t *data;
        size_t len;
        assert_int_equal(sp_ckpt_storage_read(st, path, sizes[i], &data, &len, &err), SPATE_OK);
        assert_int_equal(len, sizes[i]);
        assert_memory_equal(data, want, len);
        free(data);
        free(path);
    }
    free(want);
    sp_ckpt_storage_destroy(st);
}

static void atomic_write_replaces_and_leaves_no_temp(void **state)
{
    const char *dir = *state;
    sp_ckpt_storage_t *st = sp_ckpt_local_storage_create();
    sp_error_t err = { 0 };
    assert_int_equal(sp_ckpt_storage_write_atomic(st, dir, "f", "first", 5, &err), SPATE_OK);
    assert_int_equal(sp_ckpt_storage_write_atomic(st, dir, "f", "second", 6, &err), SPATE_OK);
    char *path = sp_xasprintf("%s/f", dir), *tmp = sp_xasprintf("%s/f.inprogress", dir);
    char *t = read_text(st, path);
    assert_string_equal(t, "second");
    free(t);
    assert_false(exists(tmp));
    free(path);
    free(tmp);
    sp_ckpt_storage_destroy(st);
}

static void faults_have_the_asked_effect(void **state)
{
    const char *dir = *state;
    sp_ckpt_storage_t *local = sp_ckpt_local_storage_create();
    sp_ckpt_storage_t *st = sp_ckpt_faulty_storage_create(local);
    char *path = sp_xasprintf("%s/data", dir);
    const char *text = "0123456789abcdef";
    sp_ckpt_file_t *f;
    sp_error_t err = { 0 };

    /* the 2nd write fails with EIO; nothing of it lands */
    sp_ckpt_faulty_arm(st, &(sp_ckpt_fault_t){ .op = SP_CKPT_OP_FILE_WRITE, .nth = 2, .errnum = EIO });
    assert_int_equal(sp_ckpt_file_open(st, path, &f, &err), SPATE_OK);
    assert_int_equal(sp_ckpt_file_write(st, f, text, 4, &err), SPATE_OK);
    expect_error(sp_ckpt_file_write(st, f, text + 4, 4, &err), &err, SPATE_EIO, path,
                 "Input/output error (injected fault)");
    assert_int_equal(sp_ckpt_file_write(st, f, text + 8, 4, &err), SPATE_OK); /* not persistent: passes */
    assert_int_equal(sp_ckpt_faulty_calls(st, SP_CKPT_OP_FILE_WRITE), 3);
    assert_int_equal(sp_ckpt_faulty_fired(st), 1);
    assert_int_equal(sp_ckpt_file_close(st, f, &err), SPATE_OK);
    char *t = read_text(local, path);
    assert_string_equal(t, "012389ab");
    free(t);

    /* short write with ENOSPC: half lands, the call fails and says so */
    memset(&err, 0, sizeof err);
    sp_ckpt_faulty_arm(
        st, &(sp_ckpt_fault_t){ .op = SP_CKPT_OP_FILE_WRITE, .nth = 1, .errnum = ENOSPC, .partial = true });
    assert_int_equal(sp_ckpt_file_open(st, path, &f, &err), SPATE_OK);
    expect_error(sp_ckpt_file_write(st, f, text, 16, &err), &err, SPATE_EIO, "short write, 8 of 16 bytes",
                 "No space left on device");
    assert_non_null(strstr(err.message, path));
    sp_ckpt_file_close(st, f, &err);
    t = read_text(local, path);
    assert_string_equal(t, "01234567");
    free(t);

    /* torn write: half lands, the call says it all did */
    memset(&err, 0, sizeof err);
    sp_ckpt_faulty_arm(st, &(sp_ckpt_fault_t){ .op = SP_CKPT_OP_FILE_WRITE, .nth = 1, .partial = true });
    assert_int_equal(sp_ckpt_file_open(st, path, &f, &err), SPATE_OK);
    assert_int_equal(sp_ckpt_file_write(st, f, text, 16, &err), SPATE_OK);
    assert_int_equal(sp_ckpt_file_close(st, f, &err), SPATE_OK);
    t = read_text(local, path);
    assert_string_equal(t, "01234567");
    free(t);

    /* a full disk stays full: persistent */
    sp_ckpt_faulty_arm(st, &(sp_ckpt_fault_t){
                               .op = SP_CKPT_OP_FILE_WRITE, .nth = 2, .errnum = ENOSPC, .persistent = true });
    assert_int_equal(sp_ckpt_file_open(st, path, &f, &err), SPATE_OK);
    assert_int_equal(sp_ckpt_file_write(st, f, "x", 1, &err), SPATE_OK);
    for (int i = 0; i < 3; i++) {
        memset(&err, 0, sizeof err);
        expect_error(sp_ckpt_file_write(st, f, "y", 1, &err), &err, SPATE_EIO, "No space left on device",
                     path);
    }
    assert_int_equal(sp_ckpt_faulty_fired(st), 3);
    sp_ckpt_faulty_disarm(st);
    assert_int_equal(sp_ckpt_file_write(st, f, "z", 1, &err), SPATE_OK);
    assert_int_equal(sp_ckpt_faulty_fired(st), 3);
    sp_ckpt_file_close(st, f, &err);
    t = read_text(local, path);
    assert_string_equal(t, "xz");
    free(t);

    /* fsync, directory fsync, list, read, mkdirs */
    memset(&err, 0, sizeof err);
    sp_ckpt_faulty_arm(st, &(sp_ckpt_fault_t){ .op = SP_CKPT_OP_FILE_SYNC, .nth = 1, .errnum = EIO });
    assert_int_equal(sp_ckpt_file_open(st, path, &f, &err), SPATE_OK);
    expect_error(sp_ckpt_file_sync(st, f, &err), &err, SPATE_EIO, "fsync '", path);
    sp_ckpt_file_close(st, f, &err);
    memset(&err, 0, sizeof err);
    sp_ckpt_faulty_arm(st, &(sp_ckpt_fault_t){ .op = SP_CKPT_OP_SYNC_DIR, .nth = 1, .errnum = EIO });
    expect_error(sp_ckpt_storage_sync_dir(st, dir, &err), &err, SPATE_EIO, "fsync directory '", dir);
    memset(&err, 0, sizeof err);
    sp_ckpt_faulty_arm(st, &(sp_ckpt_fault_t){ .op = SP_CKPT_OP_READ, .nth = 1, .errnum = EIO });
    uint8_t *data;
    size_t len;
    expect_error(sp_ckpt_storage_read(st, path, 100, &data, &len, &err), &err, SPATE_EIO, "read '", path);
    assert_null(data);
    sp_ckpt_names_t names;
    memset(&err, 0, sizeof err);
    sp_ckpt_faulty_arm(st, &(sp_ckpt_fault_t){ .op = SP_CKPT_OP_LIST, .nth = 1, .errnum = EACCES });
    expect_error(sp_ckpt_storage_list(st, dir, &names, &err), &err, SPATE_EIO, "Permission denied", dir);
    assert_int_equal(names.n, 0);
    sp_ckpt_faulty_disarm(st);
    assert_int_equal(sp_ckpt_storage_list(st, dir, &names, &err), SPATE_OK);
    assert_int_equal(names.n, 1);
    sp_ckpt_names_free(&names);

    free(path);
    sp_ckpt_storage_destroy(st);
    sp_ckpt_storage_destroy(local);
}

static void atomic_write_fails_at_every_step_without_harm(void **state)
{
    const char *dir = *state;
    sp_ckpt_storage_t *local = sp_ckpt_local_storage_create();
    sp_ckpt_storage_t *st = sp_ckpt_faulty_storage_create(local);
    sp_error_t err = { 0 };
    assert_int_equal(sp_ckpt_storage_write_atomic(st, dir, "meta", "old", 3, &err), SPATE_OK);
    char *path = sp_xasprintf("%s/meta", dir), *tmp = sp_xasprintf("%s/meta.inprogress", dir);
    static const struct {
        sp_ckpt_op_t op;
        bool partial;
        int errnum;
        const char *want;
    } steps[] = {
        { SP_CKPT_OP_FILE_OPEN, false, EACCES, "Permission denied" },
        { SP_CKPT_OP_FILE_WRITE, false, EIO, "Input/output error" },
        { SP_CKPT_OP_FILE_WRITE, true, ENOSPC, "short write" },
        { SP_CKPT_OP_FILE_WRITE, false, ENOSPC, "No space left on device" },
        { SP_CKPT_OP_FILE_SYNC, false, EIO, "fsync" },
        { SP_CKPT_OP_FILE_CLOSE, false, EIO, "close" },
        { SP_CKPT_OP_RENAME, false, EXDEV, "rename" },
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(steps); i++) {
        memset(&err, 0, sizeof err);
        sp_ckpt_faulty_arm(
            st, &(sp_ckpt_fault_t){
                    .op = steps[i].op, .nth = 1, .errnum = steps[i].errnum, .partial = steps[i].partial });
        expect_error(sp_ckpt_storage_write_atomic(st, dir, "meta", "a new value", 11, &err), &err, SPATE_EIO,
                     steps[i].want, "meta.inprogress");
        assert_int_equal(sp_ckpt_faulty_fired(st), 1);
        char *t = read_text(local, path);
        assert_string_equal(t, "old");
        free(t);
        assert_false(exists(tmp));
    }
    /* the directory fsync comes after the rename: the new file is there, the call still fails */
    memset(&err, 0, sizeof err);
    sp_ckpt_faulty_arm(st, &(sp_ckpt_fault_t){ .op = SP_CKPT_OP_SYNC_DIR, .nth = 1, .errnum = EIO });
    expect_error(sp_ckpt_storage_write_atomic(st, dir, "meta", "newer", 5, &err), &err, SPATE_EIO,
                 "fsync directory", dir);
    assert_false(exists(tmp));
    free(path);
    free(tmp);
    sp_ckpt_storage_destroy(st);
    sp_ckpt_storage_destroy(local);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(local_files_and_directories, tu_setup_tmpdir, tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(local_errors_name_the_path, tu_setup_tmpdir, tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(local_load_maps_big_files_and_reads_small_ones, tu_setup_tmpdir,
                                    tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(local_big_files_are_written_whole, tu_setup_tmpdir, tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(atomic_write_replaces_and_leaves_no_temp, tu_setup_tmpdir,
                                    tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(faults_have_the_asked_effect, tu_setup_tmpdir, tu_teardown_tmpdir),
    cmocka_unit_test_setup_teardown(atomic_write_fails_at_every_step_without_harm, tu_setup_tmpdir,
                                    tu_teardown_tmpdir),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "checkpoint_storage");
}
