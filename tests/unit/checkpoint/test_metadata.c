/*
 * test_metadata.c — the _metadata format: round trips with several
 * operators, subtasks and handle kinds; every truncation, every flipped
 * bit, trailing bytes, bad magic and another version rejected with a clear
 * message; crafted inputs with a valid checksum but bad content rejected;
 * unknown sections skipped; the encoder refusing what the decoder would.
 */
#include "test_main.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "checkpoint/metadata.h"

/* ---- helpers ---- */

static void job_id_of(uint8_t id[SP_CKPT_JOB_ID_LEN], uint8_t seed)
{
    for (int i = 0; i < SP_CKPT_JOB_ID_LEN; i++) id[i] = (uint8_t)(seed * 17 + i * 13);
}

static void add_file(sp_ckpt_operator_t *op, uint32_t subtask, sp_ckpt_handle_kind_t kind,
                     sp_ckpt_location_t loc, const char *path, uint64_t off, uint64_t len, int kg_first,
                     int kg_last)
{
    sp_ckpt_handle_t h = {
        .kind = kind, .location = loc, .path = (char *)path, .offset = off, .length = len
    };
    if (kg_first >= 0) {
        h.has_key_groups = true;
        h.kg_first = (uint32_t)kg_first;
        h.kg_last = (uint32_t)kg_last;
    }
    sp_ckpt_operator_add_handle(op, subtask, &h);
}

static void add_inline(sp_ckpt_operator_t *op, uint32_t subtask, sp_ckpt_handle_kind_t kind,
                       const char *bytes)
{
    sp_ckpt_handle_t h = {
        .kind = kind, .location = SP_CKPT_LOC_INLINE, .length = strlen(bytes), .data = (uint8_t *)bytes
    };
    sp_ckpt_operator_add_handle(op, subtask, &h);
}

/* A checkpoint with three operators, every handle kind and location, and an empty subtask. */
static void sample(sp_ckpt_meta_t *m)
{
    sp_ckpt_meta_init(m);
    m->checkpoint_id = 7;
    m->kind = SP_CKPT_CHECKPOINT;
    job_id_of(m->job_id, 1);
    sp_ckpt_meta_set_job_name(m, "word count");
    m->trigger_ms = 1700000000000;
    m->completion_ms = 1700000000420;
    m->max_parallelism = 128;

    sp_ckpt_operator_t *src = sp_ckpt_meta_add_operator(m, "c97211f8b7e8b3d5", "lines", 1, 1);
    add_inline(src, 0, SP_CKPT_HANDLE_OPERATOR, "offset=4096");

    sp_ckpt_operator_t *sum = sp_ckpt_meta_add_operator(m, "sum-uid", "Sum(n)", 3, 128);
    add_file(sum, 0, SP_CKPT_HANDLE_KEYED, SP_CKPT_LOC_SHARED, "sst/000012.sst", 0, 8192, 0, 42);
    add_file(sum, 0, SP_CKPT_HANDLE_TIMERS, SP_CKPT_LOC_EXCLUSIVE, "timers-0", 16, 100, 0, 42);
    add_file(sum, 1, SP_CKPT_HANDLE_KEYED, SP_CKPT_LOC_SHARED, "sst/000013.sst", 0, 1, 43, 85);
    add_file(sum, 2, SP_CKPT_HANDLE_KEYED, SP_CKPT_LOC_EXCLUSIVE, "keyed-2", 1ull << 40, 5, 86, 127);
    add_inline(sum, 2, SP_CKPT_HANDLE_BROADCAST, "");

    sp_ckpt_operator_t *sink = sp_ckpt_meta_add_operator(m, "sink-uid", "", 2, 128);
    add_inline(sink, 0, SP_CKPT_HANDLE_SINK_TXN, "txn-7-0");
    add_file(sink, 0, SP_CKPT_HANDLE_IN_FLIGHT, SP_CKPT_LOC_TASKOWNED, "inflight/ch-0", 0, 77, -1, -1);
    /* subtask 1 of the sink: no handles */
}

static uint8_t *encode_ok(const sp_ckpt_meta_t *m, size_t *len)
{
    uint8_t *b;
    sp_error_t err = { 0 };
    assert_int_equal(sp_ckpt_meta_encode(m, &b, len, &err), SPATE_OK);
    assert_int_equal(err.code, 0);
    return b;
}

/* Decodes a private copy of exactly n bytes (so ASan sees any read past them); returns the status. */
static int decode_copy(const uint8_t *b, size_t n, sp_error_t *err)
{
    uint8_t *c = malloc(n ? n : 1);
    if (n) memcpy(c, b, n);
    sp_ckpt_meta_t m;
    int rc = sp_ckpt_meta_decode(c, n, &m, err);
    sp_ckpt_meta_fini(&m);
    free(c);
    return rc;
}

static void put_le(uint8_t *at, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) at[i] = (uint8_t)(v >> (8 * i));
}

/* Rewrites the length field and the checksum, as a writer would: for crafted inputs. */
static void reseal(uint8_t *b, size_t n)
{
    put_le(b + 16, n, 8);
    put_le(b + n - 8, XXH3_64bits(b, n - 8), 8);
}

static void expect_parse_error(const uint8_t *b, size_t n, const char *want)
{
    sp_error_t err = { 0 };
    assert_int_equal(decode_copy(b, n, &err), SPATE_EPARSE);
    if (!strstr(err.message, want)) fail_msg("message '%s' lacks '%s'", err.message, want);
    assert_non_null(strstr(err.message, "checkpoint metadata: "));
}

/* Offset of the first occurrence of `s` in b, which must exist. */
static size_t find_bytes(const uint8_t *b, size_t n, const char *s)
{
    size_t k = strlen(s);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(b + i, s, k) == 0) return i;
    fail_msg("'%s' not in the encoding", s);
    return 0;
}

/* ---- tests ---- */

static void round_trip_keeps_every_field(void **state)
{
    (void)state;
    sp_ckpt_meta_t m, d;
    sample(&m);
    size_t len;
    uint8_t *b = encode_ok(&m, &len);
    assert_memory_equal(b, SP_CKPT_META_MAGIC, 8);
    sp_error_t err = { 0 };
    assert_int_equal(sp_ckpt_meta_decode(b, len, &d, &err), SPATE_OK);

    assert_int_equal(d.checkpoint_id, 7);
    assert_int_equal(d.kind, SP_CKPT_CHECKPOINT);
    assert_memory_equal(d.job_id, m.job_id, SP_CKPT_JOB_ID_LEN);
    assert_string_equal(d.job_name, "word count");
    assert_int_equal(d.trigger_ms, 1700000000000);
    assert_int_equal(d.completion_ms, 1700000000420);
    assert_int_equal(d.max_parallelism, 128);
    assert_int_equal(d.nops, 3);

    const sp_ckpt_operator_t *src = sp_ckpt_meta_find_operator(&d, "c97211f8b7e8b3d5");
    assert_non_null(src);
    assert_string_equal(src->name, "lines");
    assert_int_equal(src->parallelism, 1);
    assert_int_equal(src->max_parallelism, 1);
    assert_int_equal(src->subtasks[0].nhandles, 1);
    const sp_ckpt_handle_t *h = &src->subtasks[0].handles[0];
    assert_int_equal(h->kind, SP_CKPT_HANDLE_OPERATOR);
    assert_int_equal(h->location, SP_CKPT_LOC_INLINE);
    assert_null(h->path);
    assert_int_equal(h->length, 11);
    assert_memory_equal(h->data, "offset=4096", 11);

    const sp_ckpt_operator_t *sum = d.ops[1];
    assert_string_equal(sum->uid, "sum-uid");
    assert_string_equal(sum->name, "Sum(n)");
    assert_int_equal(sum->parallelism, 3);
    assert_int_equal(sum->subtasks[0].nhandles, 2);
    assert_int_equal(sum->subtasks[1].nhandles, 1);
    assert_int_equal(sum->subtasks[2].nhandles, 2);
    h = &sum->subtasks[0].handles[1];
    assert_int_equal(h->kind, SP_CKPT_HANDLE_TIMERS);
    assert_int_equal(h->location, SP_CKPT_LOC_EXCLUSIVE);
    assert_string_equal(h->path, "timers-0");
    assert_int_equal(h->offset, 16);
    assert_int_equal(h->length, 100);
    assert_true(h->has_key_groups);
    assert_int_equal(h->kg_first, 0);
    assert_int_equal(h->kg_last, 42);
    h = &sum->subtasks[2].handles[0];
    assert_string_equal(h->path, "keyed-2");
    assert_int_equal(h->offset, 1ull << 40);
    assert_int_equal(h->kg_first, 86);
    assert_int_equal(h->kg_last, 127);
    h = &sum->subtasks[2].handles[1];
    assert_int_equal(h->kind, SP_CKPT_HANDLE_BROADCAST);
    assert_int_equal(h->length, 0);
    assert_false(h->has_key_groups);

    const sp_ckpt_operator_t *sink = d.ops[2];
    assert_string_equal(sink->name, "");
    assert_int_equal(sink->subtasks[0].nhandles, 2);
    assert_int_equal(sink->subtasks[1].nhandles, 0);
    h = &sink->subtasks[0].handles[1];
    assert_int_equal(h->kind, SP_CKPT_HANDLE_IN_FLIGHT);
    assert_int_equal(h->location, SP_CKPT_LOC_TASKOWNED);
    assert_string_equal(h->path, "inflight/ch-0");
    assert_null(sp_ckpt_meta_find_operator(&d, "nope"));

    /* the decoded value encodes to the same bytes */
    size_t len2;
    uint8_t *b2 = encode_ok(&d, &len2);
    assert_int_equal(len2, len);
    assert_memory_equal(b2, b, len);
    free(b2);
    free(b);
    sp_ckpt_meta_fini(&d);
    sp_ckpt_meta_fini(&m);
}

static void savepoint_without_operators_round_trips(void **state)
{
    (void)state;
    sp_ckpt_meta_t m, d;
    sp_ckpt_meta_init(&m);
    m.checkpoint_id = 1;
    m.kind = SP_CKPT_SAVEPOINT;
    m.max_parallelism = 1;
    m.trigger_ms = -5; /* timestamps are not interpreted */
    size_t len;
    uint8_t *b = encode_ok(&m, &len);
    assert_int_equal(len, SP_CKPT_META_MIN_SIZE + 8 + 8 + 1 + 16 + 4 + 8 + 8 + 4 + 4);
    sp_error_t err = { 0 };
    assert_int_equal(sp_ckpt_meta_decode(b, len, &d, &err), SPATE_OK);
    assert_int_equal(d.kind, SP_CKPT_SAVEPOINT);
    assert_string_equal(d.job_name, "");
    assert_int_equal(d.trigger_ms, -5);
    assert_int_equal(d.nops, 0);
    sp_ckpt_meta_fini(&d);
    free(b);
    sp_ckpt_meta_fini(&m);
}

static void every_truncation_is_rejected(void **state)
{
    (void)state;
    sp_ckpt_meta_t m;
    sample(&m);
    size_t len;
    uint8_t *b = encode_ok(&m, &len);
    for (size_t n = 0; n < len; n++) {
        sp_error_t err = { 0 };
        assert_int_equal(decode_copy(b, n, &err), SPATE_EPARSE);
        if (!strstr(err.message, "truncated")) fail_msg("prefix of %zu bytes: '%s'", n, err.message);
    }
    expect_parse_error(b, 20, "shorter than the 32-byte header and checksum");
    char want[64];
    snprintf(want, sizeof want, "truncated: %zu bytes, the header says %zu", len - 1, len);
    expect_parse_error(b, len - 1, want);
    free(b);
    sp_ckpt_meta_fini(&m);
}

static void every_flipped_bit_is_rejected(void **state)
{
    (void)state;
    sp_ckpt_meta_t m;
    sample(&m);
    size_t len;
    uint8_t *b = encode_ok(&m, &len);
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            b[i] ^= (uint8_t)(1 << bit);
            sp_error_t err = { 0 };
            if (decode_copy(b, len, &err) != SPATE_EPARSE)
                fail_msg("flipping bit %d of byte %zu went unseen", bit, i);
            b[i] ^= (uint8_t)(1 << bit);
        }
    }
    /* a flip in the body is caught by the checksum */
    b[len / 2] ^= 0x40;
    expect_parse_error(b, len, "checksum mismatch");
    b[len / 2] ^= 0x40;
    sp_error_t err = { 0 };
    assert_int_equal(decode_copy(b, len, &err), SPATE_OK);
    free(b);
    sp_ckpt_meta_fini(&m);
}

static void trailing_garbage_bad_magic_and_version_are_named(void **state)
{
    (void)state;
    sp_ckpt_meta_t m;
    sample(&m);
    size_t len;
    uint8_t *b = encode_ok(&m, &len);
    uint8_t *longer = calloc(len + 5, 1);
    memcpy(longer, b, len);
    expect_parse_error(longer, len + 5, "5 bytes of trailing garbage after the checksum");

    memcpy(longer, b, len);
    memcpy(longer, "PK\x03\x04", 4);
    expect_parse_error(longer, len, "bad magic: not a Spate checkpoint _metadata file");
    expect_parse_error((const uint8_t *)"SPX", 3, "bad magic");

    memcpy(longer, b, len);
    put_le(longer + 8, 2, 4);
    reseal(longer, len); /* a valid file of a newer format */
    expect_parse_error(longer, len, "unsupported format version 2 (this build reads version 1)");

    memcpy(longer, b, len);
    put_le(longer + 12, 1, 4);
    reseal(longer, len);
    expect_parse_error(longer, len, "unknown header flags 0x1");
    free(longer);
    free(b);
    sp_ckpt_meta_fini(&m);
}

static void crafted_content_with_a_valid_checksum_is_rejected(void **state)
{
    (void)state;
    sp_ckpt_meta_t m;
    sample(&m);
    size_t len;
    uint8_t *b = encode_ok(&m, &len);
    uint8_t *c = malloc(len);

    /* checkpoint section payload starts at 24 + 8: the id, then the kind */
    memcpy(c, b, len);
    put_le(c + 32, 0, 8);
    reseal(c, len);
    expect_parse_error(c, len, "checkpoint id 0");

    memcpy(c, b, len);
    c[40] = 9;
    reseal(c, len);
    expect_parse_error(c, len, "unknown kind 9");

    memcpy(c, b, len);
    memcpy(c + find_bytes(c, len, "sst/000013"), "../00", 5);
    reseal(c, len);
    expect_parse_error(c, len, "operator 'sum-uid' subtask 1 handle 0: path: path has a '..' component");

    memcpy(c, b, len);
    /* the operator count in the checkpoint section: its last 4 bytes */
    uint32_t sec_len = (uint32_t)(b[28] | b[29] << 8 | b[30] << 16 | (uint32_t)b[31] << 24);
    put_le(c + 32 + sec_len - 4, 4, 4);
    reseal(c, len);
    expect_parse_error(c, len, "3 operator sections, 4 announced");
    put_le(c + 32 + sec_len - 4, 2, 4);
    reseal(c, len);
    expect_parse_error(c, len, "more operator sections than the 2 announced");

    /* a keyed handle's key-group range beyond the operator's max parallelism */
    memcpy(c, b, len);
    size_t at = find_bytes(c, len, "keyed-2");
    /* the range sits before the path's length: [first][last][u32 len]["keyed-2"] */
    put_le(c + at - 4 - 4, 128, 4);
    reseal(c, len);
    expect_parse_error(c, len, "key-group range outside 0..max parallelism - 1");
    free(c);
    free(b);
    sp_ckpt_meta_fini(&m);
}

static void duplicate_uids_are_rejected(void **state)
{
    (void)state;
    sp_ckpt_meta_t m;
    sp_ckpt_meta_init(&m);
    m.checkpoint_id = 3;
    m.max_parallelism = 4;
    sp_ckpt_meta_add_operator(&m, "op-a", "a", 1, 4);
    sp_ckpt_meta_add_operator(&m, "op-b", "b", 1, 4);
    size_t len;
    uint8_t *b = encode_ok(&m, &len);
    memcpy(b + find_bytes(b, len, "op-b"), "op-a", 4);
    reseal(b, len);
    expect_parse_error(b, len, "operator 'op-a': uid appears twice");

    sp_error_t err = { 0 };
    m.ops[1]->uid[3] = 'a';
    uint8_t *none;
    assert_int_equal(sp_ckpt_meta_encode(&m, &none, &len, &err), SPATE_EINVAL);
    assert_null(none);
    assert_non_null(strstr(err.message, "operator uid 'op-a' appears twice"));
    free(b);
    sp_ckpt_meta_fini(&m);
}

static void unknown_sections_are_skipped(void **state)
{
    (void)state;
    sp_ckpt_meta_t m;
    sample(&m);
    size_t len;
    uint8_t *b = encode_ok(&m, &len);
    /* insert [tag 99][len 3]["abc"] right after the checkpoint section */
    uint32_t sec_len = (uint32_t)(b[28] | b[29] << 8 | b[30] << 16 | (uint32_t)b[31] << 24);
    size_t cut = 32 + sec_len, n = len + 11;
    uint8_t *c = malloc(n);
    memcpy(c, b, cut);
    put_le(c + cut, 99, 4);
    put_le(c + cut + 4, 3, 4);
    memcpy(c + cut + 8, "abc", 3);
    memcpy(c + cut + 11, b + cut, len - cut);
    reseal(c, n);
    sp_ckpt_meta_t d;
    sp_error_t err = { 0 };
    assert_int_equal(sp_ckpt_meta_decode(c, n, &d, &err), SPATE_OK);
    assert_int_equal(d.nops, 3);
    sp_ckpt_meta_fini(&d);

    /* but a section longer than what is left is a truncation */
    put_le(c + cut + 4, 100000, 4);
    reseal(c, n);
    expect_parse_error(c, n, "truncated: section 99 of 100000 bytes");
    free(c);
    free(b);
    sp_ckpt_meta_fini(&m);
}

static void encoder_refuses_what_the_decoder_would_reject(void **state)
{
    (void)state;
    static const struct {
        sp_ckpt_handle_t h;
        const char *want;
    } cases[] = {
        { { .kind = SP_CKPT_HANDLE_KEYED, .location = SP_CKPT_LOC_SHARED, .path = "x" },
          "keyed handle without a key-group range" },
        { { .kind = SP_CKPT_HANDLE_OPERATOR,
            .location = SP_CKPT_LOC_SHARED,
            .path = "x",
            .has_key_groups = true },
          "key-group range on a handle that is not keyed" },
        { { .kind = SP_CKPT_HANDLE_OPERATOR, .location = SP_CKPT_LOC_EXCLUSIVE, .path = "/etc/passwd" },
          "absolute path" },
        { { .kind = SP_CKPT_HANDLE_OPERATOR, .location = SP_CKPT_LOC_EXCLUSIVE, .path = "a/../../b" },
          "'..' component" },
        { { .kind = SP_CKPT_HANDLE_OPERATOR, .location = SP_CKPT_LOC_EXCLUSIVE, .path = "" }, "empty path" },
        { { .kind = SP_CKPT_HANDLE_OPERATOR, .location = SP_CKPT_LOC_EXCLUSIVE },
          "file handle without a path" },
        { { .kind = SP_CKPT_HANDLE_OPERATOR,
            .location = SP_CKPT_LOC_SHARED,
            .path = "x",
            .offset = UINT64_MAX,
            .length = 2 },
          "offset + length overflows" },
        { { .kind = 0, .location = SP_CKPT_LOC_INLINE }, "unknown handle kind" },
        { { .kind = SP_CKPT_HANDLE_KEYED,
            .location = SP_CKPT_LOC_SHARED,
            .path = "x",
            .has_key_groups = true,
            .kg_first = 3,
            .kg_last = 2 },
          "key-group range outside" },
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        sp_ckpt_meta_t m;
        sp_ckpt_meta_init(&m);
        m.checkpoint_id = 1;
        m.max_parallelism = 8;
        sp_ckpt_operator_t *op = sp_ckpt_meta_add_operator(&m, "u", "n", 1, 8);
        sp_ckpt_operator_add_handle(op, 0, &cases[i].h);
        uint8_t *b;
        size_t len;
        sp_error_t err = { 0 };
        assert_int_equal(sp_ckpt_meta_encode(&m, &b, &len, &err), SPATE_EINVAL);
        if (!strstr(err.message, cases[i].want)) fail_msg("case %zu: '%s'", i, err.message);
        assert_non_null(strstr(err.message, "operator 'u' subtask 0 handle 0"));
        sp_ckpt_meta_fini(&m);
    }
    sp_ckpt_meta_t m;
    sp_ckpt_meta_init(&m);
    m.checkpoint_id = 1;
    m.max_parallelism = 8;
    sp_ckpt_meta_add_operator(&m, "u", "n", 9, 8);
    uint8_t *b;
    size_t len;
    sp_error_t err = { 0 };
    assert_int_equal(sp_ckpt_meta_encode(&m, &b, &len, &err), SPATE_EINVAL);
    assert_non_null(strstr(err.message, "parallelism outside 1..max parallelism (9, max 8)"));
    sp_ckpt_meta_fini(&m);
    m.checkpoint_id = 0;
    m.max_parallelism = 8;
    memset(&err, 0, sizeof err);
    assert_int_equal(sp_ckpt_meta_encode(&m, &b, &len, &err), SPATE_EINVAL);
    assert_non_null(strstr(err.message, "checkpoint id 0"));
}

static void job_ids_format_and_parse(void **state)
{
    (void)state;
    uint8_t id[SP_CKPT_JOB_ID_LEN], back[SP_CKPT_JOB_ID_LEN];
    for (int i = 0; i < SP_CKPT_JOB_ID_LEN; i++) id[i] = (uint8_t)(i * 16 + 15 - i);
    char hex[33];
    sp_ckpt_job_id_format(id, hex);
    assert_string_equal(hex, "0f1e2d3c4b5a69788796a5b4c3d2e1f0");
    assert_true(sp_ckpt_job_id_parse(hex, back));
    assert_memory_equal(id, back, sizeof id);
    assert_true(sp_ckpt_job_id_parse("0F1E2D3C4B5A69788796A5B4C3D2E1F0", back));
    assert_memory_equal(id, back, sizeof id);
    assert_false(sp_ckpt_job_id_parse("0f1e2d3c4b5a69788796a5b4c3d2e1f", back));
    assert_false(sp_ckpt_job_id_parse("0f1e2d3c4b5a69788796a5b4c3d2e1f00", back));
    assert_false(sp_ckpt_job_id_parse("0f1e2d3c4b5a69788796a5b4c3d2e1fg", back));
    assert_false(sp_ckpt_job_id_parse("shared", back));
    assert_string_equal(sp_ckpt_handle_kind_name(SP_CKPT_HANDLE_SINK_TXN), "sink transaction");
    assert_string_equal(sp_ckpt_handle_kind_name(42), "unknown");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(round_trip_keeps_every_field),
    cmocka_unit_test(savepoint_without_operators_round_trips),
    cmocka_unit_test(every_truncation_is_rejected),
    cmocka_unit_test(every_flipped_bit_is_rejected),
    cmocka_unit_test(trailing_garbage_bad_magic_and_version_are_named),
    cmocka_unit_test(crafted_content_with_a_valid_checksum_is_rejected),
    cmocka_unit_test(duplicate_uids_are_rejected),
    cmocka_unit_test(unknown_sections_are_skipped),
    cmocka_unit_test(encoder_refuses_what_the_decoder_would_reject),
    cmocka_unit_test(job_ids_format_and_parse),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "checkpoint_metadata");
}
