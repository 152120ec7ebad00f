/* Check unit tests: the Consul blocking-query loop's rules. */

#include <string.h>

#include "unit.h"

#include "gw_consul.h"


static gw_consul_poll_conf_t
conf(void)
{
    gw_consul_poll_conf_t  c;

    gw_consul_poll_conf_default(&c);
    return c;
}


START_TEST(first_query_does_not_block)
{
    gw_consul_poll_conf_t  c = conf();
    gw_consul_poll_t       p;

    gw_consul_poll_init(&p);
    ck_assert_int_eq(gw_consul_poll_delay(&p, &c, 1000), 0);
    ck_assert_uint_eq(gw_consul_poll_begin(&p, &c, 1000, 0), 0);
    ck_assert_int_eq(gw_consul_poll_success(&p, 57), GW_CONSUL_INDEX_ADVANCED);
    ck_assert_uint_eq(gw_consul_poll_begin(&p, &c, 1000, 1), 57);

    /*
     * a new connection (a new worker after a reload, a takeover, Consul
     * closed the last one) does not block on the index it has not seen
     */
    ck_assert_uint_eq(gw_consul_poll_begin(&p, &c, 1000, 0), 0);
    ck_assert_uint_eq(p.index, 57);
}
END_TEST


START_TEST(index_rules)
{
    static const struct {
        uint64_t                 reply;
        gw_consul_index_event_t  event;
        uint64_t                 next;
    } steps[] = {
        { 100, GW_CONSUL_INDEX_ADVANCED, 100 },
        { 100, GW_CONSUL_INDEX_SAME, 100 },           /* the wait ran out */
        { 250, GW_CONSUL_INDEX_ADVANCED, 250 },
        /* backwards: reset, so that the next query returns at once */
        { 12, GW_CONSUL_INDEX_RESET, 0 },
        { 12, GW_CONSUL_INDEX_ADVANCED, 12 },
        /* 0 (or missing) is taken as 1, which is below 12: a reset first */
        { 0, GW_CONSUL_INDEX_RESET, 0 },
        { 0, GW_CONSUL_INDEX_INVALID, 1 },
        { 0, GW_CONSUL_INDEX_INVALID, 1 },
        { 1, GW_CONSUL_INDEX_SAME, 1 },
        { UINT64_MAX, GW_CONSUL_INDEX_ADVANCED, UINT64_MAX },
    };
    gw_consul_poll_t  p;
    size_t            i;

    gw_consul_poll_init(&p);
    for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        ck_assert_msg(gw_consul_poll_success(&p, steps[i].reply)
                      == steps[i].event, "step %zu", i);
        ck_assert_msg(p.index == steps[i].next, "step %zu", i);
    }
}
END_TEST


START_TEST(parses_the_index_header)
{
    static const struct {
        const char  *text;
        uint64_t     value;
    } cases[] = {
        { "1", 1 },
        { " 4242 ", 4242 },
        { "18446744073709551615", UINT64_MAX },
        { "18446744073709551616", 0 },
        { "0", 0 },
        { "-5", 0 },
        { "+5", 0 },
        { "5x", 0 },
        { "0x10", 0 },
        { "", 0 },
        { "1 2", 0 },
    };
    size_t  i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_msg(gw_consul_index_parse(cases[i].text, strlen(cases[i].text))
                      == cases[i].value, "\"%s\"", cases[i].text);
    }
}
END_TEST


START_TEST(rate_limit_allows_a_burst_then_one_per_interval)
{
    gw_consul_poll_conf_t  c = conf();
    gw_consul_poll_t       p;
    int64_t                now = 50000;
    int                    i;

    gw_consul_poll_init(&p);

    /* a Consul that answers at once forever */
    for (i = 0; i < 3; i++) {
        ck_assert_int_eq(gw_consul_poll_delay(&p, &c, now), 0);
        gw_consul_poll_begin(&p, &c, now, 1);
        gw_consul_poll_success(&p, 5);
    }
    ck_assert_int_eq(gw_consul_poll_delay(&p, &c, now), 1000);
    ck_assert_int_eq(gw_consul_poll_delay(&p, &c, now + 400), 600);
    for (i = 0; i < 100; i++) {
        int64_t d = gw_consul_poll_delay(&p, &c, now);

        ck_assert_int_eq(d, 1000);
        now += d;
        ck_assert_int_eq(gw_consul_poll_delay(&p, &c, now), 0);
        gw_consul_poll_begin(&p, &c, now, 1);
    }

    /* after a quiet spell (a long blocking query) the burst is back */
    now += 300000;
    for (i = 0; i < 3; i++) {
        ck_assert_int_eq(gw_consul_poll_delay(&p, &c, now), 0);
        gw_consul_poll_begin(&p, &c, now, 1);
    }
    ck_assert_int_gt(gw_consul_poll_delay(&p, &c, now), 0);

    /* one token back per interval */
    now += 2000;
    ck_assert_int_eq(gw_consul_poll_delay(&p, &c, now), 0);
    gw_consul_poll_begin(&p, &c, now, 1);
    ck_assert_int_eq(gw_consul_poll_delay(&p, &c, now), 0);
    gw_consul_poll_begin(&p, &c, now, 1);
    ck_assert_int_eq(gw_consul_poll_delay(&p, &c, now), 1000);
}
END_TEST


START_TEST(errors_back_off_and_rotate_servers)
{
    gw_consul_poll_conf_t  c = conf();
    gw_consul_poll_t       p;
    int64_t                now = 0, d, full;
    uint32_t               r;
    int                    i;

    gw_consul_poll_init(&p);
    gw_consul_poll_success(&p, 9);

    /* the random part only scales the delay down, by half at most */
    full = 500;
    for (i = 0; i < 8; i++) {
        gw_consul_poll_t  lo = p, hi = p;

        d = gw_consul_poll_failure(&lo, &c, 3, now, 0);
        ck_assert_int_eq(d, full - full / 2);
        d = gw_consul_poll_failure(&hi, &c, 3, now, (uint32_t) (full / 2));
        ck_assert_int_eq(d, full);
        for (r = 1; r < 1000; r += 97) {
            gw_consul_poll_t  any = p;

            d = gw_consul_poll_failure(&any, &c, 3, now, r * 7919u);
            ck_assert_int_ge(d, full - full / 2);
            ck_assert_int_le(d, full);
        }
        gw_consul_poll_failure(&p, &c, 3, now, 12345);
        ck_assert_uint_eq(p.errors, (uint32_t) i + 1);
        ck_assert_uint_eq(p.server, (uint32_t) (i + 1) % 3);
        ck_assert_int_eq(gw_consul_poll_delay(&p, &c, now), p.retry_at - now);
        full = full * 2 > 10000 ? 10000 : full * 2;
    }
    ck_assert_int_eq(full, 10000);

    /*
     * the index is kept across errors (to tell one that goes backwards),
     * but the first query after them, on a new connection, does not block:
     * a restarted Consul may sit at a lower index and answer only when the
     * wait runs out
     */
    ck_assert_uint_eq(p.index, 9);
    now += 20000;
    ck_assert_int_eq(gw_consul_poll_delay(&p, &c, now), 0);
    ck_assert_uint_eq(gw_consul_poll_begin(&p, &c, now, 0), 0);
    ck_assert_int_eq(gw_consul_poll_success(&p, 4), GW_CONSUL_INDEX_RESET);
    ck_assert_uint_eq(gw_consul_poll_begin(&p, &c, now, 1), 0);
    gw_consul_poll_success(&p, 10);
    ck_assert_uint_eq(gw_consul_poll_begin(&p, &c, now, 1), 10);
    ck_assert_uint_eq(p.errors, 0);
    ck_assert_int_eq(p.retry_at, 0);
    d = gw_consul_poll_failure(&p, &c, 3, now, 0);
    ck_assert_int_eq(d, 250);

    /* one server: it stays */
    gw_consul_poll_init(&p);
    gw_consul_poll_failure(&p, &c, 1, now, 0);
    ck_assert_uint_eq(p.server, 0);

    /* thousands of errors do not overflow */
    for (i = 0; i < 5000; i++) {
        d = gw_consul_poll_failure(&p, &c, 2, now, 0xffffffffu);
    }
    ck_assert_int_le(d, 10000);
    ck_assert_int_ge(d, 5000);
}
END_TEST


int
main(void)
{
    Suite  *s = suite_create("consul_poll");
    TCase  *tc = tcase_create("consul_poll");

    tcase_add_test(tc, first_query_does_not_block);
    tcase_add_test(tc, index_rules);
    tcase_add_test(tc, parses_the_index_header);
    tcase_add_test(tc, rate_limit_allows_a_burst_then_one_per_interval);
    tcase_add_test(tc, errors_back_off_and_rotate_servers);
    suite_add_tcase(s, tc);

    return gw_unit_run(s);
}
