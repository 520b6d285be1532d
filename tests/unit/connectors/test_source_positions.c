/*
 * test_source_positions.c — sources' checkpointed positions: read part of a
 * source, take its position, read on; a new reader restored to that position
 * reads exactly the rows the first one read after it (collection, text and
 * CSV files with a header, a BOM and skipped records, datagen with random
 * and sequence fields, Nexmark bids and all events); bad positions are
 * rejected with the source named.
 */
#include "test_main.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/connector.h"
#include "test_util.h"

/* All rows of g from row `from` on, one CSV line each. */
static char *rows_text(const tu_got_t *g, size_t from)
{
    size_t cap = 1024, len = 0;
    char *out = malloc(cap);
    out[0] = 0;
    for (size_t i = from; i < g->rows; i++) {
        spate_row_t row = tu_row_at(g, i);
        int nf = spate_schema_field_count(row.batch->schema);
        for (int f = 0; f < nf; f++) {
            char field[512];
            size_t n = sp_format_field(&row, f, field, sizeof field, ',', true);
            if (n >= sizeof field) n = sizeof field - 1;
            while (len + n + 2 >= cap) out = realloc(out, cap *= 2);
            memcpy(out + len, field, n);
            len += n;
            out[len++] = f + 1 < nf ? ',' : '\n';
            out[len] = 0;
        }
    }
    return out;
}

/* Reads src to its end with a snapshot after `at` polls, then from a new reader restored there:
 * the second read must equal the first one's rows after the snapshot. Returns the rows after it. */
static size_t check_replay(const spate_source_t *src, int at, int subtask, int parallelism)
{
    uint8_t *pos = NULL;
    size_t pos_len = 0, at_rows = 0;
    tu_got_t a = { 0 }, b = { 0 };
    sp_error_t err = { 0 };
    tu_drain_opts_t first = { .subtask = subtask,
                              .parallelism = parallelism,
                              .snapshot_at = at,
                              .snapshot = &pos,
                              .snapshot_len = &pos_len,
                              .snapshot_rows = &at_rows };
    assert_int_equal(tu_drain(src, &first, &a, &err), SPATE_OK);
    assert_true(a.ended);
    assert_non_null(pos);
    tu_drain_opts_t second = {
        .subtask = subtask, .parallelism = parallelism, .restore = pos, .restore_len = pos_len
    };
    assert_int_equal(tu_drain(src, &second, &b, &err), SPATE_OK);
    char *want = rows_text(&a, at_rows), *got = rows_text(&b, 0);
    assert_string_equal(got, want);
    assert_int_equal(b.skipped, a.skipped); /* the skipped count is part of the position */
    free(want);
    free(got);
    free(pos);
    size_t rest = b.rows;
    tu_got_free(&a);
    tu_got_free(&b);
    return rest;
}

static void collection_positions_replay(void **state)
{
    (void)state;
    spate_schema_t *schema = spate_schema_of("k STRING, n BIGINT");
    char **rows = malloc(sizeof *rows * 3000);
    for (int i = 0; i < 3000; i++) {
        rows[i] = malloc(32);
        snprintf(rows[i], 32, "k%d,%d", i % 7, i);
    }
    spate_source_t *src = spate_collection_source(schema, (const char *const *)rows, 3000);
    assert_int_equal(check_replay(src, 1, 0, 1), 3000 - 1024); /* after the first batch */
    assert_int_equal(check_replay(src, 2, 0, 1), 3000 - 2048);
    spate_source_destroy(src);
    for (int i = 0; i < 3000; i++) free(rows[i]);
    free(rows);
    spate_schema_release(schema);
}

static void file_positions_replay(void **state)
{
    char *dir = *state;
    char path[512];
    snprintf(path, sizeof path, "%s/in.csv", dir);
    FILE *f = fopen(path, "w");
    fputs("\xEF\xBB\xBFk,n\n", f); /* a BOM and a header */
    for (int i = 0; i < 2500; i++) {
        if (i % 500 == 7) fputs("bad,row,extra\n", f); /* malformed: skipped and counted */
        fprintf(f, "\"k%d\",%d\n", i % 11, i);
    }
    fclose(f);
    spate_schema_t *schema = spate_schema_of("k STRING, n BIGINT");
    spate_csv_options_t o;
    spate_csv_options_init(&o);
    o.skip_header = true;
    o.on_error = SPATE_ON_ERROR_SKIP;
    spate_source_t *src = spate_file_csv_source(path, schema, &o);
    assert_true(check_replay(src, 1, 0, 1) > 0);
    assert_true(check_replay(src, 2, 0, 1) > 0);
    spate_source_destroy(src);
    src = spate_file_text_source(path);
    assert_true(check_replay(src, 1, 0, 1) > 0);
    spate_source_destroy(src);
    spate_schema_release(schema);
}

static void datagen_and_nexmark_positions_replay(void **state)
{
    (void)state;
    spate_schema_t *schema = spate_schema_of("id BIGINT, r INT, s STRING, d DOUBLE");
    spate_datagen_options_t o;
    spate_datagen_options_init(&o);
    o.number_of_rows = 5000;
    spate_source_t *src = spate_datagen_source(schema, &o);
    assert_int_equal(check_replay(src, 2, 1, 2), 2500 - 2048); /* subtask 1 of 2 */
    spate_source_destroy(src);
    spate_schema_release(schema);
    spate_nexmark_options_t n;
    spate_nexmark_options_init(&n);
    n.events_num = 9000;
    src = spate_nexmark_source(&n, SPATE_NEXMARK_BIDS);
    assert_true(check_replay(src, 3, 0, 2) > 0);
    spate_source_destroy(src);
    n.events_num = 300000; /* persons are 2 % of the events: a few batches of them per subtask */
    src = spate_nexmark_source(&n, SPATE_NEXMARK_PERSONS);
    assert_true(check_replay(src, 1, 1, 2) > 0);
    spate_source_destroy(src);
}

static void bad_positions_name_the_source(void **state)
{
    char *dir = *state;
    char path[512];
    snprintf(path, sizeof path, "%s/short.txt", dir);
    FILE *f = fopen(path, "w");
    fputs("a\nb\n", f);
    fclose(f);
    spate_source_t *src = spate_file_text_source(path);
    uint64_t far = 1000;
    size_t len;
    uint8_t *pos = sp_source_pos_encode(SP_POS_FILE, (uint64_t[]){ far, 1, 0, 0, 0 }, 5, &len);
    tu_got_t g = { 0 };
    sp_error_t err = { 0 };
    tu_drain_opts_t o = { .restore = pos, .restore_len = len };
    assert_int_equal(tu_drain(src, &o, &g, &err), SPATE_EPARSE);
    assert_non_null(strstr(err.message, "past the end of the file"));
    assert_non_null(strstr(err.message, path));
    free(pos);
    tu_got_free(&g);
    uint64_t one = 1;
    pos = sp_source_pos_encode(SP_POS_NEXMARK, &one, 1, &len); /* a position of another source */
    memset(&g, 0, sizeof g);
    err = (sp_error_t){ 0 };
    o.restore = pos;
    o.restore_len = len;
    assert_int_equal(tu_drain(src, &o, &g, &err), SPATE_EPARSE);
    assert_non_null(strstr(err.message, "bad checkpointed position"));
    free(pos);
    tu_got_free(&g);
    spate_source_destroy(src);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(collection_positions_replay),
    cmocka_unit_test_setup_teardown(file_positions_replay, tu_setup_tmpdir, tu_teardown_tmpdir),
    cmocka_unit_test(datagen_and_nexmark_positions_replay),
    cmocka_unit_test_setup_teardown(bad_positions_name_the_source, tu_setup_tmpdir, tu_teardown_tmpdir),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "connectors_source_positions");
}
