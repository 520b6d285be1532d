/*
 * test_main.h — shared main() for the cmocka unit tests.
 *
 * Every test program lists its cases in a `tests[]` array and ends with
 *     int main(int argc, char **argv)
 *     { return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "group"); }
 * With no argument all cases run; with one argument only the case of that
 * name runs (ctest registers one entry per case this way, see
 * cmake/SpateTests.cmake).  An unknown name is an error, so a renamed case
 * cannot silently pass.
 */
#ifndef SPATE_TEST_MAIN_H
#define SPATE_TEST_MAIN_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

int sp_test_main(int argc, char **argv, const struct CMUnitTest *tests, size_t n, const char *group);

#endif
