/* Shared runner for the Check unit tests: one suite per executable. */
#ifndef GW_UNIT_H
#define GW_UNIT_H

#include <check.h>
#include <stdlib.h>

static inline int
gw_unit_run(Suite *s)
{
    SRunner  *sr = srunner_create(s);
    int       failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
