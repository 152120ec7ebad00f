/* Check unit tests: the stats registry's histogram arithmetic. */

#include "unit.h"

#include "gw_stats.h"


START_TEST(a_value_on_a_bound_is_in_its_bucket)
{
    uint64_t  bounds[] = { 5, 10, 25 };

    ck_assert_uint_eq(gw_stats_bucket(bounds, 3, 0), 0);
    ck_assert_uint_eq(gw_stats_bucket(bounds, 3, 5), 0);
    ck_assert_uint_eq(gw_stats_bucket(bounds, 3, 6), 1);
    ck_assert_uint_eq(gw_stats_bucket(bounds, 3, 10), 1);
    ck_assert_uint_eq(gw_stats_bucket(bounds, 3, 25), 2);
}
END_TEST


START_TEST(above_every_bound_is_the_last_bucket)
{
    uint64_t  bounds[] = { 5, 10, 25 };

    ck_assert_uint_eq(gw_stats_bucket(bounds, 3, 26), 3);
    ck_assert_uint_eq(gw_stats_bucket(bounds, 3, UINT64_MAX), 3);
    ck_assert_uint_eq(gw_stats_bucket(bounds, 0, 7), 0);
}
END_TEST


START_TEST(default_buckets_in_microseconds)
{
    uint64_t  us[GW_STATS_DEFAULT_BUCKETS];

    ck_assert_int_eq(gw_stats_bounds(gw_stats_default_buckets,
                                     GW_STATS_DEFAULT_BUCKETS, 1e-6, us), 0);
    ck_assert_uint_eq(us[0], 5000);
    ck_assert_uint_eq(us[1], 10000);
    ck_assert_uint_eq(us[7], 1000000);
    ck_assert_uint_eq(us[10], 10000000);

    /* 7 ms lands in the 0.01 s bucket, 1 s exactly in the 1 s one */
    ck_assert_uint_eq(gw_stats_bucket(us, GW_STATS_DEFAULT_BUCKETS, 7000), 1);
    ck_assert_uint_eq(gw_stats_bucket(us, GW_STATS_DEFAULT_BUCKETS, 1000000),
                      7);
}
END_TEST


START_TEST(bounds_the_unit_cannot_tell_apart_are_refused)
{
    double    fine[] = { 0.0001, 0.0002 };
    double    same[] = { 1, 1 };
    double    down[] = { 2, 1 };
    double    negative[] = { -1 };
    double    huge[] = { 1e300 };
    double    inf[] = { 1.0 / 0.0 };
    uint64_t  out[2];

    ck_assert_int_eq(gw_stats_bounds(fine, 2, 1e-3, out), -1);
    ck_assert_int_eq(gw_stats_bounds(fine, 2, 1e-6, out), 0);
    ck_assert_uint_eq(out[0], 100);
    ck_assert_uint_eq(out[1], 200);
    ck_assert_int_eq(gw_stats_bounds(same, 2, 1e-6, out), -1);
    ck_assert_int_eq(gw_stats_bounds(down, 2, 1e-6, out), -1);
    ck_assert_int_eq(gw_stats_bounds(negative, 1, 1e-6, out), -1);
    ck_assert_int_eq(gw_stats_bounds(huge, 1, 1e-6, out), -1);
    ck_assert_int_eq(gw_stats_bounds(inf, 1, 1e-6, out), -1);
    ck_assert_int_eq(gw_stats_bounds(fine, 2, 0, out), -1);
    ck_assert_int_eq(gw_stats_bounds(NULL, 0, 1e-6, NULL), 0);
}
END_TEST


int
main(void)
{
    Suite  *s = suite_create("stats");
    TCase  *tc = tcase_create("core");

    tcase_add_test(tc, a_value_on_a_bound_is_in_its_bucket);
    tcase_add_test(tc, above_every_bound_is_the_last_bucket);
    tcase_add_test(tc, default_buckets_in_microseconds);
    tcase_add_test(tc, bounds_the_unit_cannot_tell_apart_are_refused);
    suite_add_tcase(s, tc);

    return gw_unit_run(s);
}
