/* Check unit tests: rate-limit arithmetic with simulated time, node layout. */

#include <stdint.h>
#include <string.h>

#include "unit.h"

#include "gw_rate_limit.h"


static gw_rl_policy_t
policy(uint32_t algorithm, const char *rate, uint32_t burst)
{
    gw_rl_policy_t  p;
    uint32_t        count, period;

    ck_assert_int_eq(gw_rl_parse_rate(rate, strlen(rate), &count, &period),
                     GW_RL_OK);
    ck_assert_int_eq(gw_rl_policy_init(&p, algorithm, count, period, burst),
                     GW_RL_OK);
    return p;
}


/* Takes as many requests of cost as pass at now; returns how many did. */
static uint64_t
drain(const gw_rl_policy_t *p, gw_rl_state_t *s, uint64_t now, uint32_t cost)
{
    uint64_t        n = 0;
    gw_rl_result_t  r;

    while (gw_rl_take(p, s, now, cost, s, &r)) {
        n++;
    }

    return n;
}


static int
take(const gw_rl_policy_t *p, gw_rl_state_t *s, uint64_t now, uint32_t cost,
    gw_rl_result_t *r)
{
    gw_rl_state_t  out;

    if (gw_rl_take(p, s, now, cost, &out, r)) {
        *s = out;
        return 1;
    }

    return 0;
}


START_TEST(parses_rates)
{
    uint32_t  count, period;

    ck_assert_int_eq(gw_rl_parse_rate("10r/s", 5, &count, &period), GW_RL_OK);
    ck_assert_uint_eq(count, 10);
    ck_assert_uint_eq(period, 1000);

    ck_assert_int_eq(gw_rl_parse_rate("1r/m", 4, &count, &period), GW_RL_OK);
    ck_assert_uint_eq(count, 1);
    ck_assert_uint_eq(period, 60000);

    ck_assert_int_eq(gw_rl_parse_rate("100000r/s", 9, &count, &period),
                     GW_RL_OK);
    ck_assert_uint_eq(count, 100000);

    ck_assert_int_ne(gw_rl_parse_rate("0r/s", 4, &count, &period), GW_RL_OK);
    ck_assert_int_ne(gw_rl_parse_rate("10r/h", 5, &count, &period), GW_RL_OK);
    ck_assert_int_ne(gw_rl_parse_rate("r/s", 3, &count, &period), GW_RL_OK);
    ck_assert_int_ne(gw_rl_parse_rate("10", 2, &count, &period), GW_RL_OK);
    ck_assert_int_ne(gw_rl_parse_rate("-1r/s", 5, &count, &period), GW_RL_OK);
    ck_assert_int_ne(gw_rl_parse_rate("1 r/s", 5, &count, &period), GW_RL_OK);
    ck_assert_int_ne(gw_rl_parse_rate("99999999999r/s", 14, &count, &period),
                     GW_RL_OK);
    ck_assert_int_ne(gw_rl_parse_rate(NULL, 0, &count, &period), GW_RL_OK);
}
END_TEST


START_TEST(validates_policies)
{
    gw_rl_policy_t  p;

    ck_assert_int_eq(gw_rl_policy_init(&p, GW_RL_TOKEN_BUCKET, 10, 1000, 0),
                     GW_RL_OK);
    ck_assert_uint_eq(p.burst, 10);

    ck_assert_int_eq(gw_rl_policy_init(&p, GW_RL_TOKEN_BUCKET, 10, 1000, 25),
                     GW_RL_OK);
    ck_assert_uint_eq(p.burst, 25);

    /* a sliding window's limit is the rate's count */
    ck_assert_int_eq(gw_rl_policy_init(&p, GW_RL_SLIDING_WINDOW, 10, 1000, 25),
                     GW_RL_OK);
    ck_assert_uint_eq(p.burst, 10);

    ck_assert_int_eq(gw_rl_policy_init(&p, 7, 10, 1000, 0),
                     GW_RL_BAD_ALGORITHM);
    ck_assert_int_eq(gw_rl_policy_init(&p, GW_RL_TOKEN_BUCKET, 0, 1000, 0),
                     GW_RL_BAD_RATE);
    ck_assert_int_eq(gw_rl_policy_init(&p, GW_RL_TOKEN_BUCKET, 10, 7, 0),
                     GW_RL_BAD_PERIOD);
    ck_assert_int_eq(gw_rl_policy_init(&p, GW_RL_TOKEN_BUCKET, 10, 1000,
                                       GW_RL_MAX_COUNT + 1),
                     GW_RL_BAD_BURST);
}
END_TEST


START_TEST(bucket_bursts_then_rejects)
{
    gw_rl_policy_t  p = policy(GW_RL_TOKEN_BUCKET, "10r/s", 0);
    gw_rl_state_t   s = {0, 0};
    gw_rl_result_t  r;
    int             i;

    for (i = 0; i < 10; i++) {
        ck_assert(take(&p, &s, 5000, 1, &r));
        ck_assert_uint_eq(r.limit, 10);
        ck_assert_uint_eq(r.remaining, (uint64_t) (9 - i));
        ck_assert_uint_eq(r.window_s, 1);
    }

    /* full again 1s after the last token was taken */
    ck_assert_uint_eq(r.reset_ms, 1000);

    ck_assert(!take(&p, &s, 5000, 1, &r));
    ck_assert_uint_eq(r.remaining, 0);
    ck_assert_uint_eq(r.retry_ms, 100);
    ck_assert_uint_eq(gw_rl_retry_after_seconds(r.retry_ms), 1);

    /* the rejected request took nothing: one token at exactly 100 ms */
    ck_assert(!take(&p, &s, 5099, 1, &r));
    ck_assert_uint_eq(r.retry_ms, 1);
    ck_assert(take(&p, &s, 5100, 1, &r));
    ck_assert(!take(&p, &s, 5100, 1, &r));
}
END_TEST


START_TEST(bucket_refills_while_idle)
{
    gw_rl_policy_t  p = policy(GW_RL_TOKEN_BUCKET, "10r/s", 20);
    gw_rl_state_t   s = {0, 0};

    ck_assert_uint_eq(drain(&p, &s, 1000, 1), 20);
    ck_assert(!gw_rl_is_idle(&p, &s, 2999));

    ck_assert_uint_eq(drain(&p, &s, 1350, 1), 3);
    ck_assert_uint_eq(drain(&p, &s, 1399, 1), 0);

    /* two seconds fill 20 tokens, no more */
    ck_assert(gw_rl_is_idle(&p, &s, 3400));
    ck_assert_uint_eq(drain(&p, &s, 100000, 1), 20);
}
END_TEST


/*
 * From a full bucket, greedy clients get exactly burst + rate x time over
 * any stretch, however long: the arithmetic does not drift.
 */
static void
check_no_drift(uint32_t algorithm, const char *rate, uint32_t burst,
    uint64_t duration, uint64_t step)
{
    gw_rl_policy_t  p = policy(algorithm, rate, burst);
    gw_rl_state_t   s = {0, 0};
    uint64_t        t, admitted = 0, expected;
    uint64_t        start = 1234567;

    for (t = start; t <= start + duration; t += step) {
        admitted += drain(&p, &s, t, 1);
    }

    t -= step;
    expected = p.burst + (t - start) * p.count / p.period_ms;

    ck_assert_msg(admitted == expected, "%s: admitted %llu, expected %llu",
                  rate, (unsigned long long) admitted,
                  (unsigned long long) expected);
}


START_TEST(bucket_does_not_drift)
{
    check_no_drift(GW_RL_TOKEN_BUCKET, "1r/m", 0, 3600 * 1000, 1000);
    check_no_drift(GW_RL_TOKEN_BUCKET, "7r/m", 0, 3600 * 1000, 7);
    check_no_drift(GW_RL_TOKEN_BUCKET, "1r/s", 0, 600 * 1000, 13);
    check_no_drift(GW_RL_TOKEN_BUCKET, "3r/s", 5, 600 * 1000, 1);
    check_no_drift(GW_RL_TOKEN_BUCKET, "333r/s", 0, 60 * 1000, 1);
    check_no_drift(GW_RL_TOKEN_BUCKET, "1000r/s", 1, 60 * 1000, 1);
    check_no_drift(GW_RL_TOKEN_BUCKET, "100000r/s", 0, 10 * 1000, 1);
}
END_TEST


START_TEST(bucket_long_idle_does_not_overflow)
{
    gw_rl_policy_t  p = policy(GW_RL_TOKEN_BUCKET, "100000r/s", 0);
    gw_rl_state_t   s = {0, 0};

    ck_assert_uint_eq(drain(&p, &s, 1, 1), 100000);
    ck_assert_uint_eq(drain(&p, &s, UINT64_MAX / 2, 1), 100000);
    ck_assert_uint_eq(drain(&p, &s, UINT64_MAX - 1, 1), 100000);
}
END_TEST


START_TEST(bucket_cost)
{
    gw_rl_policy_t  p = policy(GW_RL_TOKEN_BUCKET, "10r/s", 0);
    gw_rl_state_t   s = {0, 0};
    gw_rl_result_t  r;

    ck_assert(take(&p, &s, 0, 3, &r));
    ck_assert_uint_eq(r.remaining, 7);
    ck_assert(take(&p, &s, 0, 3, &r));
    ck_assert(take(&p, &s, 0, 3, &r));
    ck_assert_uint_eq(r.remaining, 1);

    /* two more tokens needed: 200 ms */
    ck_assert(!take(&p, &s, 0, 3, &r));
    ck_assert_uint_eq(r.remaining, 1);
    ck_assert_uint_eq(r.retry_ms, 200);

    /* the cheaper request still fits */
    ck_assert(take(&p, &s, 0, 1, &r));
    ck_assert(!take(&p, &s, 299, 3, &r));
    ck_assert(take(&p, &s, 300, 3, &r));
}
END_TEST


START_TEST(bucket_cost_above_capacity)
{
    gw_rl_policy_t  p = policy(GW_RL_TOKEN_BUCKET, "10r/s", 0);
    gw_rl_state_t   s = {0, 0};
    gw_rl_result_t  r;

    ck_assert(!take(&p, &s, 1000, 11, &r));
    ck_assert_uint_eq(r.remaining, 10);
    ck_assert_uint_ge(r.retry_ms, 1);
    ck_assert_uint_eq(gw_rl_retry_after_seconds(r.retry_ms), 1);

    /* it consumed nothing */
    ck_assert(take(&p, &s, 1000, 10, &r));
}
END_TEST


START_TEST(bucket_clock_going_backwards)
{
    gw_rl_policy_t  p = policy(GW_RL_TOKEN_BUCKET, "10r/s", 0);
    gw_rl_state_t   s = {0, 0};
    gw_rl_result_t  r;

    ck_assert_uint_eq(drain(&p, &s, 10000, 1), 10);

    /* another worker's cached clock is a little behind: no refill, and
       the wait counts from the later time */
    ck_assert(!take(&p, &s, 9990, 1, &r));
    ck_assert_uint_eq(r.retry_ms, 110);
    ck_assert_uint_eq(drain(&p, &s, 9000, 1), 0);
    ck_assert_uint_eq(s.stamp, 10000);
    ck_assert_uint_eq(drain(&p, &s, 10100, 1), 1);

    /* a step back: no refill for it, refill from the new time on */
    ck_assert_uint_eq(drain(&p, &s, 1000, 1), 0);
    ck_assert_uint_eq(s.stamp, 1000);
    ck_assert_uint_eq(drain(&p, &s, 1099, 1), 0);
    ck_assert_uint_eq(drain(&p, &s, 1100, 1), 1);
}
END_TEST


START_TEST(window_admits_rate_per_window)
{
    gw_rl_policy_t  p = policy(GW_RL_SLIDING_WINDOW, "10r/s", 0);
    gw_rl_state_t   s = {0, 0};
    gw_rl_result_t  r;
    int             i;

    for (i = 0; i < 10; i++) {
        ck_assert(take(&p, &s, 3000 + i, 1, &r));
        ck_assert_uint_eq(r.remaining, (uint64_t) (9 - i));
        ck_assert_uint_eq(r.limit, 10);
        ck_assert_uint_eq(r.window_s, 1);
    }

    ck_assert(!take(&p, &s, 3999, 1, &r));
    ck_assert_uint_eq(r.retry_ms, 1 + 100);

    /* the previous window weighs 10 at the boundary, 9 after 100 ms */
    ck_assert(!take(&p, &s, 4000, 1, &r));
    ck_assert_uint_eq(r.retry_ms, 100);
    ck_assert(!take(&p, &s, 4099, 1, &r));
    ck_assert(take(&p, &s, 4100, 1, &r));
    ck_assert(!take(&p, &s, 4100, 1, &r));

    /* half way: 5 of the previous window still count */
    ck_assert_uint_eq(drain(&p, &s, 4500, 1), 4);
    ck_assert_uint_eq(s.value >> 32, 10);
    ck_assert_uint_eq(s.value & 0xffffffff, 5);

    /* two windows later everything is forgotten */
    ck_assert(gw_rl_is_idle(&p, &s, 6000));
    ck_assert_uint_eq(drain(&p, &s, 6000, 1), 10);
}
END_TEST


START_TEST(window_never_exceeds_rate_in_a_fixed_window)
{
    const char     *rates[] = { "1r/m", "5r/s", "60r/m", "1000r/s" };
    unsigned        i;

    for (i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
        gw_rl_policy_t  p = policy(GW_RL_SLIDING_WINDOW, rates[i], 0);
        gw_rl_state_t   s = {0, 0};
        uint64_t        t, n, window = 0, in_window = 0, total = 0;
        uint64_t        end = 20 * (uint64_t) p.period_ms;

        for (t = 0; t < end; t += p.period_ms / 100) {
            if (t / p.period_ms != window) {
                window = t / p.period_ms;
                in_window = 0;
            }

            n = drain(&p, &s, t, 1);
            in_window += n;
            total += n;
            ck_assert_uint_le(in_window, p.count);
        }

        /*
         * and greedy clients get nearly all of it; at tiny counts the
         * weighting of the previous window (which assumes its requests
         * were spread evenly) holds a greedy client to about half
         */
        ck_assert_uint_ge(total * 100, (p.count >= 60 ? 95 : 45) * 20
                                       * (uint64_t) p.count);
    }
}
END_TEST


START_TEST(window_cost_and_cost_above_limit)
{
    gw_rl_policy_t  p = policy(GW_RL_SLIDING_WINDOW, "10r/m", 0);
    gw_rl_state_t   s = {0, 0};
    gw_rl_result_t  r;

    ck_assert(take(&p, &s, 0, 4, &r));
    ck_assert(take(&p, &s, 0, 4, &r));
    ck_assert_uint_eq(r.remaining, 2);
    ck_assert(!take(&p, &s, 0, 4, &r));

    /* next window: the previous 8 weigh 6 after 15 s, leaving room for 4 */
    ck_assert_uint_eq(r.retry_ms, 60000 + 15000);
    ck_assert(!take(&p, &s, 74999, 4, &r));
    ck_assert(take(&p, &s, 75000, 4, &r));

    ck_assert(!take(&p, &s, 200000, 11, &r));
    ck_assert_uint_ge(r.retry_ms, 60000);
    ck_assert_uint_eq(r.window_s, 60);
}
END_TEST


START_TEST(window_clock_going_backwards)
{
    gw_rl_policy_t  p = policy(GW_RL_SLIDING_WINDOW, "10r/s", 0);
    gw_rl_state_t   s = {0, 0};

    ck_assert_uint_eq(drain(&p, &s, 10000, 1), 10);
    ck_assert_uint_eq(drain(&p, &s, 9999, 1), 0);
    ck_assert_uint_eq(s.stamp, 10000);

    /* a step back keeps the counts: nothing is handed out again */
    ck_assert_uint_eq(drain(&p, &s, 3500, 1), 0);
    ck_assert_uint_eq(s.stamp, 3000);
    ck_assert_uint_eq(drain(&p, &s, 4500, 1), 5);
}
END_TEST


/*
 * Whatever the history, a rejected request's retry_ms is exact: one
 * millisecond earlier it is still rejected, at retry_ms it passes.
 */
START_TEST(retry_is_exact)
{
    const char     *rates[] = { "3r/s", "10r/s", "7r/m", "1000r/s" };
    uint32_t        algorithm;
    uint64_t        seed = 42;
    unsigned        i, step;

    for (algorithm = 0; algorithm <= 1; algorithm++) {
        for (i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
            gw_rl_policy_t  p = policy(algorithm, rates[i], 0);
            gw_rl_state_t   s = {0, 0}, copy;
            gw_rl_result_t  r, r2;
            uint64_t        now = 100000;
            uint32_t        cost;

            for (step = 0; step < 3000; step++) {
                seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                now += (seed >> 33) % (p.period_ms / 4 + 1);
                cost = 1 + (uint32_t) ((seed >> 20) % 3);

                if (cost > p.burst) {
                    cost = 1;
                }

                if (take(&p, &s, now, cost, &r)) {
                    continue;
                }

                ck_assert_uint_ge(r.retry_ms, 1);

                copy = s;
                ck_assert(!gw_rl_take(&p, &copy, now + r.retry_ms - 1, cost,
                                      &copy, &r2));
                copy = s;
                ck_assert_msg(gw_rl_take(&p, &copy, now + r.retry_ms, cost,
                                         &copy, &r2),
                              "alg %u rate %s: not admitted after retry",
                              algorithm, rates[i]);
            }
        }
    }
}
END_TEST


START_TEST(refund_undoes_a_take)
{
    gw_rl_policy_t  tb = policy(GW_RL_TOKEN_BUCKET, "10r/s", 0);
    gw_rl_policy_t  sw = policy(GW_RL_SLIDING_WINDOW, "10r/s", 0);
    gw_rl_state_t   s = {0, 0}, before;
    gw_rl_result_t  r;

    ck_assert(take(&tb, &s, 500, 4, &r));
    before = s;
    ck_assert(take(&tb, &s, 500, 3, &r));
    gw_rl_refund(&tb, &s, &s, 3);
    ck_assert_uint_eq(s.value, before.value);

    s.stamp = 0;
    s.value = 0;
    ck_assert(take(&sw, &s, 500, 4, &r));
    before = s;
    ck_assert(take(&sw, &s, 500, 3, &r));
    gw_rl_refund(&sw, &s, &s, 3);
    ck_assert_uint_eq(s.value, before.value);

    /* never below empty */
    gw_rl_refund(&sw, &s, &s, 100);
    ck_assert_uint_eq(s.value & 0xffffffff, 0);
}
END_TEST


/*
 * A refund that comes after the sliding window rolled over (a Redis zone
 * of the same request answered late) gives back what is now the previous
 * window's, and leaves the new window's requests alone.
 */
START_TEST(refund_after_a_window_rollover)
{
    gw_rl_policy_t  sw = policy(GW_RL_SLIDING_WINDOW, "10r/s", 0);
    gw_rl_state_t   s = {0, 0}, taken;
    gw_rl_result_t  r;

    ck_assert(take(&sw, &s, 900, 2, &r));
    ck_assert(take(&sw, &s, 950, 3, &r));
    taken = s;                              /* 5 in the window at 0 */

    ck_assert(take(&sw, &s, 1100, 1, &r));  /* the window rolls over */
    ck_assert_uint_eq(s.value >> 32, 5);
    ck_assert_uint_eq(s.value & 0xffffffff, 1);

    gw_rl_refund(&sw, &s, &taken, 3);
    ck_assert_uint_eq(s.value >> 32, 2);
    ck_assert_uint_eq(s.value & 0xffffffff, 1);

    /* two windows later the cost counts nowhere: nothing to give back */
    ck_assert(take(&sw, &s, 2100, 1, &r));
    gw_rl_refund(&sw, &s, &taken, 3);
    ck_assert_uint_eq(s.value >> 32, 1);
    ck_assert_uint_eq(s.value & 0xffffffff, 1);
}
END_TEST


START_TEST(seconds_for_headers)
{
    ck_assert_uint_eq(gw_rl_retry_after_seconds(0), 1);
    ck_assert_uint_eq(gw_rl_retry_after_seconds(1), 1);
    ck_assert_uint_eq(gw_rl_retry_after_seconds(1000), 1);
    ck_assert_uint_eq(gw_rl_retry_after_seconds(1001), 2);
    ck_assert_uint_eq(gw_rl_reset_seconds(0), 0);
    ck_assert_uint_eq(gw_rl_reset_seconds(999), 1);
    ck_assert_uint_eq(gw_rl_reset_seconds(60000), 60);
}
END_TEST


START_TEST(window_seconds_follow_the_bucket)
{
    gw_rl_policy_t  p;
    gw_rl_state_t   s = {0, 0};
    gw_rl_result_t  r;

    p = policy(GW_RL_TOKEN_BUCKET, "10r/s", 20);
    gw_rl_take(&p, &s, 0, 1, &s, &r);
    ck_assert_uint_eq(r.limit, 20);
    ck_assert_uint_eq(r.window_s, 2);

    p = policy(GW_RL_TOKEN_BUCKET, "30r/m", 0);
    gw_rl_take(&p, &s, 0, 1, &s, &r);
    ck_assert_uint_eq(r.window_s, 60);
}
END_TEST


/* Node layout over an 8-byte aligned block standing for shared memory. */

typedef struct {
    unsigned char  links[32];    /* where the rbtree's pointers and key go */
    gw_rl_node_t   node;
    unsigned char  rest[64];
} test_node_t;


START_TEST(key_hash_and_compare)
{
    test_node_t     n;
    const unsigned char  *a = (const unsigned char *) "2001:db8::1:aaaa";
    const unsigned char  *b = (const unsigned char *) "2001:db8::1:aaab";

    ck_assert_uint_ne(gw_rl_key_hash(a, 16), gw_rl_key_hash(b, 16));
    ck_assert_uint_eq(gw_rl_key_hash(a, 16), gw_rl_key_hash(a, 16));

    /* a shorter key is not a zero-padded longer one */
    ck_assert_uint_ne(gw_rl_key_hash((const unsigned char *) "a", 1),
                      gw_rl_key_hash((const unsigned char *) "a\0", 2));

    /* keys sharing their first 8 bytes hash apart */
    ck_assert_uint_ne(gw_rl_key_hash((const unsigned char *) "user-0001", 9),
                      gw_rl_key_hash((const unsigned char *) "user-0002", 9));

    gw_rl_node_init(&n.node, a, 16);
    ck_assert_uint_eq(n.node.len, 16);
    ck_assert_uint_eq(gw_rl_node_rest_len(16), 8);
    ck_assert_uint_eq(gw_rl_node_rest_len(4), 0);
    ck_assert(memcmp(gw_rl_node_rest(&n.node), a + 8, 8) == 0);

    ck_assert(gw_rl_node_is(&n.node, a, 16));
    ck_assert(!gw_rl_node_is(&n.node, b, 16));
    ck_assert(!gw_rl_node_is(&n.node, a, 15));
    ck_assert_int_lt(gw_rl_node_compare(&n.node, a, 15), 0);
    ck_assert_int_gt(gw_rl_node_compare(&n.node, b, 16), 0);

    {
        test_node_t  m;

        gw_rl_node_init(&m.node, b, 16);
        ck_assert_int_lt(gw_rl_node_order(&n.node, &m.node), 0);
        ck_assert_int_gt(gw_rl_node_order(&m.node, &n.node), 0);
        gw_rl_node_init(&m.node, a, 16);
        ck_assert_int_eq(gw_rl_node_order(&n.node, &m.node), 0);
    }

    /* a 16-byte key and the tree's 32 bytes fit a 64-byte slab chunk */
    ck_assert_uint_eq(32 + sizeof(gw_rl_node_t) + gw_rl_node_rest_len(16), 64);
}
END_TEST


START_TEST(node_keeps_state)
{
    test_node_t    n;
    gw_rl_state_t  in = { (((uint64_t) 1) << 39) + 12345, 0x123456789abcdefull };
    gw_rl_state_t  out;

    gw_rl_node_init(&n.node, (const unsigned char *) "k", 1);
    gw_rl_node_load(&n.node, &out);
    ck_assert_uint_eq(out.stamp, 0);
    ck_assert_uint_eq(out.value, 0);

    gw_rl_node_store(&n.node, &in);
    gw_rl_node_load(&n.node, &out);
    ck_assert_uint_eq(out.stamp, in.stamp);
    ck_assert_uint_eq(out.value, in.value);

    /* 40 bits of milliseconds: 34 years; later stamps are clamped */
    in.stamp = UINT64_MAX;
    gw_rl_node_store(&n.node, &in);
    gw_rl_node_load(&n.node, &out);
    ck_assert_uint_eq(out.stamp, GW_RL_NODE_STAMP_MAX);
}
END_TEST


START_TEST(lru_orders_nodes)
{
    test_node_t    block[5];
    gw_rl_lru_t    lru = { 0, 0 };
    void          *base = block;
    gw_rl_node_t  *a = &block[1].node, *b = &block[2].node, *c = &block[3].node;

    ck_assert_ptr_null(gw_rl_lru_tail(&lru, base));

    gw_rl_lru_push_head(&lru, base, a);
    gw_rl_lru_push_head(&lru, base, b);
    gw_rl_lru_push_head(&lru, base, c);

    ck_assert_ptr_eq(gw_rl_lru_tail(&lru, base), a);
    ck_assert_ptr_eq(gw_rl_lru_newer(base, a), b);
    ck_assert_ptr_eq(gw_rl_lru_newer(base, b), c);
    ck_assert_ptr_null(gw_rl_lru_newer(base, c));

    gw_rl_lru_touch(&lru, base, a);
    ck_assert_ptr_eq(gw_rl_lru_tail(&lru, base), b);
    gw_rl_lru_touch(&lru, base, a);
    ck_assert_ptr_eq(gw_rl_lru_newer(base, c), a);

    gw_rl_lru_remove(&lru, base, c);
    ck_assert_ptr_eq(gw_rl_lru_newer(base, b), a);
    gw_rl_lru_remove(&lru, base, b);
    gw_rl_lru_remove(&lru, base, a);
    ck_assert_ptr_null(gw_rl_lru_tail(&lru, base));
    ck_assert_uint_eq(lru.head, 0);
}
END_TEST


int
main(void)
{
    Suite  *s = suite_create("rate_limit");
    TCase  *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);

    tcase_add_test(tc, parses_rates);
    tcase_add_test(tc, validates_policies);
    tcase_add_test(tc, bucket_bursts_then_rejects);
    tcase_add_test(tc, bucket_refills_while_idle);
    tcase_add_test(tc, bucket_does_not_drift);
    tcase_add_test(tc, bucket_long_idle_does_not_overflow);
    tcase_add_test(tc, bucket_cost);
    tcase_add_test(tc, bucket_cost_above_capacity);
    tcase_add_test(tc, bucket_clock_going_backwards);
    tcase_add_test(tc, window_admits_rate_per_window);
    tcase_add_test(tc, window_never_exceeds_rate_in_a_fixed_window);
    tcase_add_test(tc, window_cost_and_cost_above_limit);
    tcase_add_test(tc, window_clock_going_backwards);
    tcase_add_test(tc, retry_is_exact);
    tcase_add_test(tc, refund_undoes_a_take);
    tcase_add_test(tc, refund_after_a_window_rollover);
    tcase_add_test(tc, seconds_for_headers);
    tcase_add_test(tc, window_seconds_follow_the_bucket);
    tcase_add_test(tc, key_hash_and_compare);
    tcase_add_test(tc, node_keeps_state);
    tcase_add_test(tc, lru_orders_nodes);
    suite_add_tcase(s, tc);

    return gw_unit_run(s);
}
