/* test_main.c — see test_main.h. */
#include "test_main.h"

#include <stdio.h>
#include <string.h>

int sp_test_main(int argc, char **argv, const struct CMUnitTest *tests, size_t n, const char *group)
{
    if (argc < 2) return _cmocka_run_group_tests(group, tests, n, NULL, NULL);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(tests[i].name, argv[1]) == 0)
            return _cmocka_run_group_tests(group, &tests[i], 1, NULL, NULL);
    }
    fprintf(stderr, "%s: no test case named '%s'\n", group, argv[1]);
    return 2;
}
