/*
 * test_schema.c — schemas: the DDL parser behind spate_schema_of, field
 * lookup, formatting (which must parse back to an equal schema), equality,
 * reference counting and sp_schema_project.
 */
#include "test_main.h"

#include <stdio.h>
#include <string.h>

#include "types/types.h"

/* Parses ddl, asserting success. */
static spate_schema_t *parse_ok(const char *ddl)
{
    spate_schema_t *s = spate_schema_of(ddl);
    if (!s) fail_msg("spate_schema_of(\"%s\") failed: %s", ddl, spate_last_error());
    return s;
}

/* Parses ddl, asserting failure with a message that contains every string in want (NULL-terminated). */
static void parse_fails(const char *ddl, const char *const *want)
{
    sp_clear_error();
    spate_schema_t *s = spate_schema_of(ddl);
    if (s) {
        spate_schema_release(s);
        fail_msg("spate_schema_of(\"%s\") should have failed", ddl);
    }
    const char *msg = spate_last_error();
    for (; *want; want++)
        if (!strstr(msg, *want))
            fail_msg("error for \"%s\" is \"%s\", expected it to contain \"%s\"", ddl, msg, *want);
}

static void expect_field(const spate_schema_t *s, int i, const char *name, spate_type_id_t type,
                         bool nullable, int precision, int scale)
{
    assert_string_equal(spate_schema_field_name(s, i), name);
    assert_int_equal(spate_schema_field_type(s, i), type);
    assert_int_equal(spate_schema_field_nullable(s, i), nullable);
    assert_int_equal(spate_schema_field_precision(s, i), precision);
    assert_int_equal(spate_schema_field_scale(s, i), scale);
}

static void schema_parses_every_type(void **state)
{
    (void)state;
    spate_schema_t *s = parse_ok("b BOOLEAN, i INT, i2 INTEGER, l BIGINT, d DOUBLE, m DECIMAL(10,2), "
                                 "v VARCHAR, v2 VARCHAR(20), st STRING, y BYTES, y2 VARBINARY(8), dt DATE, "
                                 "ts TIMESTAMP(3), ts2 TIMESTAMP, bo BOOL");
    assert_int_equal(spate_schema_field_count(s), 15);
    expect_field(s, 0, "b", SPATE_TYPE_BOOLEAN, true, 0, 0);
    expect_field(s, 1, "i", SPATE_TYPE_INT, true, 0, 0);
    expect_field(s, 2, "i2", SPATE_TYPE_INT, true, 0, 0);
    expect_field(s, 3, "l", SPATE_TYPE_BIGINT, true, 0, 0);
    expect_field(s, 4, "d", SPATE_TYPE_DOUBLE, true, 0, 0);
    expect_field(s, 5, "m", SPATE_TYPE_DECIMAL, true, 10, 2);
    expect_field(s, 6, "v", SPATE_TYPE_VARCHAR, true, 0, 0);
    expect_field(s, 7, "v2", SPATE_TYPE_VARCHAR, true, 0, 0);
    expect_field(s, 8, "st", SPATE_TYPE_VARCHAR, true, 0, 0);
    expect_field(s, 9, "y", SPATE_TYPE_BYTES, true, 0, 0);
    expect_field(s, 10, "y2", SPATE_TYPE_BYTES, true, 0, 0);
    expect_field(s, 11, "dt", SPATE_TYPE_DATE, true, 0, 0);
    expect_field(s, 12, "ts", SPATE_TYPE_TIMESTAMP, true, 0, 0);
    expect_field(s, 13, "ts2", SPATE_TYPE_TIMESTAMP, true, 0, 0);
    expect_field(s, 14, "bo", SPATE_TYPE_BOOLEAN, true, 0, 0);
    /* internal widths used by the batch layout */
    assert_int_equal(s->fields[1].width, 4);
    assert_int_equal(s->fields[3].width, 8);
    assert_int_equal(s->fields[5].width, 16);
    assert_int_equal(s->fields[6].width, 0);
    assert_int_equal(s->fields[11].width, 4);
    assert_int_equal(s->fields[12].width, 8);
    spate_schema_release(s);
}

static void schema_decimal_defaults_and_limits(void **state)
{
    (void)state;
    spate_schema_t *s = parse_ok("a DECIMAL, b DECIMAL(5), c decimal( 38 , 38 ), d DECIMAL(1,0)");
    expect_field(s, 0, "a", SPATE_TYPE_DECIMAL, true, 10, 0); /* Flink's default */
    expect_field(s, 1, "b", SPATE_TYPE_DECIMAL, true, 5, 0);
    expect_field(s, 2, "c", SPATE_TYPE_DECIMAL, true, 38, 38);
    expect_field(s, 3, "d", SPATE_TYPE_DECIMAL, true, 1, 0);
    spate_schema_release(s);
}

static void schema_keywords_are_case_insensitive(void **state)
{
    (void)state;
    spate_schema_t *s = parse_ok("  a int not null ,b Bigint Null,c sTrInG,d timestamp(3) NOT   NULL  ");
    assert_int_equal(spate_schema_field_count(s), 4);
    expect_field(s, 0, "a", SPATE_TYPE_INT, false, 0, 0);
    expect_field(s, 1, "b", SPATE_TYPE_BIGINT, true, 0, 0);
    expect_field(s, 2, "c", SPATE_TYPE_VARCHAR, true, 0, 0);
    expect_field(s, 3, "d", SPATE_TYPE_TIMESTAMP, false, 0, 0);
    spate_schema_release(s);
}

static void schema_not_null(void **state)
{
    (void)state;
    spate_schema_t *s =
        parse_ok("id BIGINT NOT NULL, name STRING, price DECIMAL(10,2) NOT NULL, ok BOOLEAN NULL");
    assert_false(spate_schema_field_nullable(s, 0));
    assert_true(spate_schema_field_nullable(s, 1));
    assert_false(spate_schema_field_nullable(s, 2));
    assert_true(spate_schema_field_nullable(s, 3));
    spate_schema_release(s);
}

static void schema_backquoted_names(void **state)
{
    (void)state;
    spate_schema_t *s =
        parse_ok("`my field` INT, `select` STRING NOT NULL, `a,b` DOUBLE, `1st` DATE, plain_2 BYTES");
    expect_field(s, 0, "my field", SPATE_TYPE_INT, true, 0, 0);
    expect_field(s, 1, "select", SPATE_TYPE_VARCHAR, false, 0, 0);
    expect_field(s, 2, "a,b", SPATE_TYPE_DOUBLE, true, 0, 0);
    expect_field(s, 3, "1st", SPATE_TYPE_DATE, true, 0, 0);
    expect_field(s, 4, "plain_2", SPATE_TYPE_BYTES, true, 0, 0);
    assert_int_equal(spate_schema_field_index(s, "my field"), 0);
    assert_int_equal(spate_schema_field_index(s, "a,b"), 2);
    spate_schema_release(s);
}

static void schema_errors_name_the_column(void **state)
{
    (void)state;
    /* positions are 1-based columns of the DDL text */
    parse_fails("a INT, b FOO", (const char *const[]){ "unknown type", "column 10", NULL });
    parse_fails("a INT, a BIGINT", (const char *const[]){ "duplicate field name", "column 8", NULL });
    parse_fails("a INT x", (const char *const[]){ "unexpected word", "column 7", NULL });
    parse_fails("a INT;", (const char *const[]){ "expected ',' or end", "column 6", NULL });
    parse_fails("a INT, b STRING )", (const char *const[]){ "column 17", NULL });
    parse_fails("a DECIMAL(39,2)", (const char *const[]){ "precision must be 1..38", NULL });
    parse_fails("a DECIMAL(0)", (const char *const[]){ "precision must be 1..38", NULL });
    parse_fails("a DECIMAL(5,6)", (const char *const[]){ "scale must be 0..precision", NULL });
    parse_fails("a DECIMAL(5,", (const char *const[]){ "expected a number", "column 13", NULL });
    parse_fails("a DECIMAL(5 x", (const char *const[]){ "expected ')'", NULL });
    parse_fails("a DECIMAL(9999999)", (const char *const[]){ "number too large", NULL });
    parse_fails("a TIMESTAMP(6)", (const char *const[]){ "only TIMESTAMP(3)", NULL });
    parse_fails("a TIMESTAMP(3, 1)", (const char *const[]){ "only TIMESTAMP(3)", NULL });
    parse_fails("a VARCHAR(3, 1)", (const char *const[]){ "VARCHAR takes one length", NULL });
    parse_fails("a INT NOT", (const char *const[]){ "expected NULL after NOT", NULL });
    parse_fails("a INT NOT FOO", (const char *const[]){ "expected NULL after NOT", NULL });
    parse_fails("", (const char *const[]){ "expected a name", "column 1", NULL });
    parse_fails("a", (const char *const[]){ "expected a name", "column 2", NULL });
    parse_fails("a INT,", (const char *const[]){ "expected a name", "column 7", NULL });
    parse_fails("a INT,, b INT", (const char *const[]){ "expected a name", "column 7", NULL });
    parse_fails("`a INT", (const char *const[]){ "unterminated", "column 1", NULL });
    parse_fails("`` INT", (const char *const[]){ "bad identifier length", NULL });
    parse_fails("1a INT", (const char *const[]){ "expected a name", "column 1", NULL });
    /* the message quotes the text it read */
    parse_fails("x FOO", (const char *const[]){ "\"x FOO\"", NULL });

    sp_clear_error();
    assert_null(spate_schema_of(NULL));
    assert_true(strlen(spate_last_error()) > 0);
}

static void schema_field_lookup(void **state)
{
    (void)state;
    spate_schema_t *s = parse_ok("a INT, bb STRING, ccc DECIMAL(7,3) NOT NULL");
    assert_int_equal(spate_schema_field_index(s, "a"), 0);
    assert_int_equal(spate_schema_field_index(s, "bb"), 1);
    assert_int_equal(spate_schema_field_index(s, "ccc"), 2);
    assert_int_equal(spate_schema_field_index(s, "b"), -1);
    assert_int_equal(spate_schema_field_index(s, "A"), -1); /* names are case-sensitive */
    assert_int_equal(spate_schema_field_index(s, NULL), -1);
    assert_int_equal(spate_schema_field_index(NULL, "a"), -1);
    /* out of range */
    assert_null(spate_schema_field_name(s, 3));
    assert_null(spate_schema_field_name(s, -1));
    assert_int_equal(spate_schema_field_type(s, 3), 0);
    assert_false(spate_schema_field_nullable(s, 9));
    assert_int_equal(spate_schema_field_precision(s, -1), 0);
    assert_int_equal(spate_schema_field_scale(s, 3), 0);
    assert_int_equal(spate_schema_field_count(NULL), 0);
    spate_schema_release(s);
}

static void schema_format_exact_text(void **state)
{
    (void)state;
    spate_schema_t *s =
        parse_ok("a int not null, b Decimal(10,2), c varchar(5), d TIMESTAMP, e bool, f BYTES, `g h` DATE");
    char buf[256];
    size_t n = spate_schema_format(s, buf, sizeof buf);
    const char *want =
        "a INT NOT NULL, b DECIMAL(10, 2), c STRING, d TIMESTAMP(3), e BOOLEAN, f BYTES, `g h` DATE";
    assert_string_equal(buf, want);
    assert_int_equal(n, strlen(want));

    /* truncation: returns the full length, writes a NUL-terminated prefix */
    char small[8];
    memset(small, 'x', sizeof small);
    assert_int_equal(spate_schema_format(s, small, sizeof small), strlen(want));
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_memory_equal(small, want, sizeof small - 1);
    assert_int_equal(spate_schema_format(s, NULL, 0), strlen(want));
    spate_schema_release(s);
}

static void schema_format_round_trips(void **state)
{
    (void)state;
    const char *ddls[] = {
        "a INT",
        "b BOOLEAN NOT NULL, i INT, l BIGINT NOT NULL, d DOUBLE, m DECIMAL(38,18), v STRING, y BYTES, dt "
        "DATE, "
        "ts TIMESTAMP(3) NOT NULL",
        "m1 DECIMAL(1,0), m2 DECIMAL(38,38) NOT NULL, m3 DECIMAL(12, 4)",
        "`with space` INT, `select` STRING, `x-y` BIGINT NOT NULL, _under DOUBLE",
    };
    for (size_t k = 0; k < SP_ARRAY_LEN(ddls); k++) {
        spate_schema_t *s = parse_ok(ddls[k]);
        char buf[512];
        size_t n = spate_schema_format(s, buf, sizeof buf);
        assert_true(n < sizeof buf);
        spate_schema_t *back = spate_schema_of(buf);
        if (!back) fail_msg("formatted schema \"%s\" does not parse: %s", buf, spate_last_error());
        assert_true(spate_schema_equal(s, back));
        spate_schema_release(back);
        spate_schema_release(s);
    }
    /* a schema built from arrays also formats to parseable text */
    const char *names[] = { "x", "two words", "z" };
    spate_type_id_t types[] = { SPATE_TYPE_DECIMAL, SPATE_TYPE_VARCHAR, SPATE_TYPE_TIMESTAMP };
    bool nullable[] = { true, false, true };
    spate_schema_t *s = sp_schema_create(3, names, types, nullable);
    char buf[256];
    spate_schema_format(s, buf, sizeof buf);
    spate_schema_t *back = parse_ok(buf);
    assert_true(spate_schema_equal(s, back));
    spate_schema_release(back);
    spate_schema_release(s);
}

static void schema_equality(void **state)
{
    (void)state;
    spate_schema_t *a = parse_ok("x INT, y DECIMAL(10,2) NOT NULL");
    spate_schema_t *same = parse_ok("x INTEGER, y DECIMAL(10, 2) NOT NULL");
    const char *other[] = {
        "x INT, y DECIMAL(10,2)",             /* nullability */
        "x INT, y DECIMAL(10,3) NOT NULL",    /* scale */
        "x INT, y DECIMAL(11,2) NOT NULL",    /* precision */
        "x BIGINT, y DECIMAL(10,2) NOT NULL", /* type */
        "X INT, y DECIMAL(10,2) NOT NULL",    /* name */
        "x INT",                              /* field count */
        "y DECIMAL(10,2) NOT NULL, x INT",    /* order */
    };
    assert_true(spate_schema_equal(a, a));
    assert_true(spate_schema_equal(a, same));
    for (size_t k = 0; k < SP_ARRAY_LEN(other); k++) {
        spate_schema_t *o = parse_ok(other[k]);
        if (spate_schema_equal(a, o)) fail_msg("schemas should differ: %s", other[k]);
        spate_schema_release(o);
    }
    assert_false(spate_schema_equal(a, NULL));
    assert_true(spate_schema_equal(NULL, NULL));
    spate_schema_release(same);
    spate_schema_release(a);
}

static void schema_refcount(void **state)
{
    (void)state;
    spate_schema_t *s = parse_ok("a INT");
    assert_ptr_equal(spate_schema_acquire(s), s);
    assert_int_equal(atomic_load(&s->refs), 2);
    spate_schema_release(s);
    assert_int_equal(atomic_load(&s->refs), 1);
    assert_int_equal(spate_schema_field_count(s), 1); /* still alive */
    spate_schema_release(s);
    spate_schema_release(NULL); /* no-op */
    assert_null(spate_schema_acquire(NULL));
}

static void schema_create_from_arrays(void **state)
{
    (void)state;
    const char *names[] = { "k", "price", "note" };
    spate_type_id_t types[] = { SPATE_TYPE_BIGINT, SPATE_TYPE_DECIMAL, SPATE_TYPE_VARCHAR };
    bool nullable[] = { false, true, true };
    spate_schema_t *s = sp_schema_create(3, names, types, nullable);
    expect_field(s, 0, "k", SPATE_TYPE_BIGINT, false, 0, 0);
    expect_field(s, 1, "price", SPATE_TYPE_DECIMAL, true, 38, 18);
    expect_field(s, 2, "note", SPATE_TYPE_VARCHAR, true, 0, 0);
    assert_ptr_not_equal(spate_schema_field_name(s, 0), names[0]); /* copied */
    spate_schema_release(s);
    /* nullable NULL: every field nullable */
    s = sp_schema_create(2, names, types, NULL);
    assert_true(spate_schema_field_nullable(s, 0));
    assert_true(spate_schema_field_nullable(s, 1));
    spate_schema_release(s);
}

static void schema_type_helpers(void **state)
{
    (void)state;
    assert_true(sp_type_is_varlen(SPATE_TYPE_VARCHAR));
    assert_true(sp_type_is_varlen(SPATE_TYPE_BYTES));
    assert_false(sp_type_is_varlen(SPATE_TYPE_INT));
    assert_false(sp_type_is_varlen(SPATE_TYPE_BOOLEAN));
    assert_string_equal(sp_type_name(SPATE_TYPE_BOOLEAN), "BOOLEAN");
    assert_string_equal(sp_type_name(SPATE_TYPE_VARCHAR), "STRING");
    assert_string_equal(sp_type_name(SPATE_TYPE_TIMESTAMP), "TIMESTAMP(3)");
    assert_string_equal(sp_type_name((spate_type_id_t)99), "?");
}

static void schema_project(void **state)
{
    (void)state;
    spate_schema_t *in = parse_ok("a INT NOT NULL, b STRING, c DECIMAL(9,4), d DATE");
    spate_schema_t *out = NULL;
    int idx[8];
    int n = sp_schema_project(in, "c, a,d", &out, idx, 8);
    assert_int_equal(n, 3);
    assert_int_equal(idx[0], 2);
    assert_int_equal(idx[1], 0);
    assert_int_equal(idx[2], 3);
    assert_non_null(out);
    assert_int_equal(spate_schema_field_count(out), 3);
    expect_field(out, 0, "c", SPATE_TYPE_DECIMAL, true, 9, 4);
    expect_field(out, 1, "a", SPATE_TYPE_INT, false, 0, 0);
    expect_field(out, 2, "d", SPATE_TYPE_DATE, true, 0, 0);
    assert_int_equal(out->fields[0].width, 16);
    spate_schema_t *want = parse_ok("c DECIMAL(9,4), a INT NOT NULL, d DATE");
    assert_true(spate_schema_equal(out, want));
    spate_schema_release(want);
    spate_schema_release(out);

    /* without an output schema: only the indexes */
    n = sp_schema_project(in, "  b\t", NULL, idx, 8);
    assert_int_equal(n, 1);
    assert_int_equal(idx[0], 1);

    /* errors */
    out = NULL;
    assert_int_equal(sp_schema_project(in, "a, nope", &out, idx, 8), SPATE_EINVAL);
    assert_non_null(strstr(spate_last_error(), "nope"));
    assert_null(out);
    assert_int_equal(sp_schema_project(in, " , ", &out, idx, 8), SPATE_EINVAL);
    assert_non_null(strstr(spate_last_error(), "empty"));
    assert_int_equal(sp_schema_project(in, "a,b,c", &out, idx, 2), SPATE_EINVAL);
    assert_non_null(strstr(spate_last_error(), "too many"));
    assert_int_equal(sp_schema_project(in, "a,b,a", &out, idx, 8), SPATE_EINVAL);
    assert_non_null(strstr(spate_last_error(), "twice"));
    assert_null(out);
    spate_schema_release(in);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(schema_parses_every_type),
    cmocka_unit_test(schema_decimal_defaults_and_limits),
    cmocka_unit_test(schema_keywords_are_case_insensitive),
    cmocka_unit_test(schema_not_null),
    cmocka_unit_test(schema_backquoted_names),
    cmocka_unit_test(schema_errors_name_the_column),
    cmocka_unit_test(schema_field_lookup),
    cmocka_unit_test(schema_format_exact_text),
    cmocka_unit_test(schema_format_round_trips),
    cmocka_unit_test(schema_equality),
    cmocka_unit_test(schema_refcount),
    cmocka_unit_test(schema_create_from_arrays),
    cmocka_unit_test(schema_type_helpers),
    cmocka_unit_test(schema_project),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "types_schema");
}
