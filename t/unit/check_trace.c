/* Check unit tests: W3C traceparent parsing and child spans. */

#include <string.h>

#include "unit.h"

#include "gw_trace.h"


#define PARENT "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


static int
valid(const char *tp)
{
    return gw_traceparent_is_valid(tp, strlen(tp));
}


static void
fill(unsigned char *random, unsigned char value)
{
    memset(random, value, GW_TRACE_RANDOM);
}


START_TEST(accepts_version_00)
{
    ck_assert(valid(PARENT));
    ck_assert(valid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"));
    ck_assert(valid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff"));
}
END_TEST


START_TEST(rejects_malformed)
{
    static const char *bad[] = {
        "",
        "00",
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e47366-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01",
        " 0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\nX: 1",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01,00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(!valid(bad[i]), "accepted \"%s\"", bad[i]);
    }

    ck_assert(!gw_traceparent_is_valid(NULL, 0));
    ck_assert(!gw_traceparent_is_valid(PARENT "\0", sizeof(PARENT)));
}
END_TEST


START_TEST(continues_a_valid_parent)
{
    gw_trace_t     t;
    unsigned char  random[GW_TRACE_RANDOM];
    char           child[GW_TRACEPARENT_LEN + 1] = {0};

    fill(random, 0xab);
    gw_trace_begin(PARENT, strlen(PARENT), random, &t);

    ck_assert(t.continued);
    ck_assert(memcmp(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736", 32) == 0);
    ck_assert(memcmp(t.parent_id, "00f067aa0ba902b7", 16) == 0);
    ck_assert(memcmp(t.span_id, "abababababababab", 16) == 0);
    ck_assert(memcmp(t.flags, "01", 2) == 0);

    gw_trace_format_child(&t, child);
    ck_assert_str_eq(child,
                     "00-4bf92f3577b34da6a3ce929d0e0e4736-abababababababab-01");
}
END_TEST


START_TEST(keeps_the_parent_flags)
{
    gw_trace_t     t;
    unsigned char  random[GW_TRACE_RANDOM];
    const char    *tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    char           child[GW_TRACEPARENT_LEN + 1] = {0};

    fill(random, 1);
    gw_trace_begin(tp, strlen(tp), random, &t);
    gw_trace_format_child(&t, child);

    ck_assert_str_eq(child + 53, "00");
}
END_TEST


START_TEST(starts_a_trace_without_a_valid_parent)
{
    gw_trace_t     t;
    unsigned char  random[GW_TRACE_RANDOM];
    char           child[GW_TRACEPARENT_LEN + 1] = {0};

    for (int i = 0; i < GW_TRACE_RANDOM; i++) {
        random[i] = (unsigned char) i;
    }

    gw_trace_begin("garbage", 7, random, &t);

    ck_assert(!t.continued);
    gw_trace_format_child(&t, child);
    ck_assert_str_eq(child,
                     "00-000102030405060708090a0b0c0d0e0f-1011121314151617-01");
    ck_assert(valid(child));

    gw_trace_begin(NULL, 0, random, &t);
    ck_assert(!t.continued);
}
END_TEST


START_TEST(never_makes_zero_ids)
{
    gw_trace_t     t;
    unsigned char  random[GW_TRACE_RANDOM];
    char           child[GW_TRACEPARENT_LEN + 1] = {0};

    fill(random, 0);
    gw_trace_begin(NULL, 0, random, &t);
    gw_trace_format_child(&t, child);

    ck_assert(valid(child));
}
END_TEST


int
main(void)
{
    Suite  *s = suite_create("trace");
    TCase  *tc = tcase_create("core");

    tcase_add_test(tc, accepts_version_00);
    tcase_add_test(tc, rejects_malformed);
    tcase_add_test(tc, continues_a_valid_parent);
    tcase_add_test(tc, keeps_the_parent_flags);
    tcase_add_test(tc, starts_a_trace_without_a_valid_parent);
    tcase_add_test(tc, never_makes_zero_ids);
    suite_add_tcase(s, tc);

    return gw_unit_run(s);
}
