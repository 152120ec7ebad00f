/* Check unit tests: peer selection and the circuit breaker, simulated time. */

#include <string.h>

#include "unit.h"

#include "gw_balancer.h"


#define MAXP  8

static gw_breaker_conf_t  no_breaker = { 0, 1, 30000, 300000 };
static gw_breaker_conf_t  breaker = { 3, 1, 1000, 8000 };


static void
table(gw_peer_t *p, size_t n, const uint32_t *weights)
{
    memset(p, 0, n * sizeof(gw_peer_t));

    for (size_t i = 0; i < n; i++) {
        gw_peer_init(&p[i], weights[i], 0, GW_PEER_LIVE, 0);
    }
}


static int
pick(gw_peer_t *p, size_t n, gw_balance_method_t m,
    const gw_breaker_conf_t *conf, const uint64_t *tried, int64_t now,
    gw_pick_t *out)
{
    gw_pick_t        tmp;
    gw_transition_t  t;

    if (out == NULL) {
        out = &tmp;
    }

    if (gw_balancer_pick(p, n, m, conf, tried, tried ? 1 : 0, now, out, &t)
        != GW_PICK_OK)
    {
        return -1;
    }

    return (int) out->index;
}


/* a pick that is released at once with the outcome given */
static int
request(gw_peer_t *p, size_t n, const gw_breaker_conf_t *conf, int64_t now,
    gw_outcome_t outcome)
{
    gw_pick_t  k;
    int        i;

    i = pick(p, n, GW_BALANCE_ROUND_ROBIN, conf, NULL, now, &k);
    if (i >= 0) {
        gw_balancer_release(p, n, conf, &k, outcome, now);
    }

    return i;
}


START_TEST(wrr_5_1_1_every_window_of_7)
{
    static const uint32_t  w[] = { 5, 1, 1 };
    gw_peer_t              p[3];
    int                    seq[700];

    table(p, 3, w);

    for (int i = 0; i < 700; i++) {
        gw_pick_t  k;

        seq[i] = pick(p, 3, GW_BALANCE_ROUND_ROBIN, &no_breaker, NULL, i, &k);
        ck_assert_int_ge(seq[i], 0);
        /* requests overlap a little: release the previous one now */
        gw_balancer_release(p, 3, &no_breaker, &k, GW_OUTCOME_SUCCESS, i);
    }

    for (int start = 0; start + 7 <= 700; start++) {
        int  count[3] = { 0, 0, 0 };

        for (int i = start; i < start + 7; i++) {
            count[seq[i]]++;
        }

        ck_assert_msg(count[0] == 5 && count[1] == 1 && count[2] == 1,
                      "window at %d: %d,%d,%d", start,
                      count[0], count[1], count[2]);
    }

    /* nginx's smooth sequence: a a b a c a a */
    static const int  expect[] = { 0, 0, 1, 0, 2, 0, 0 };

    for (int i = 0; i < 7; i++) {
        ck_assert_int_eq(seq[i], expect[i]);
    }
}
END_TEST


START_TEST(wrr_is_deterministic)
{
    static const uint32_t  w[] = { 3, 2, 4, 1 };
    gw_peer_t              a[4], b[4];

    table(a, 4, w);
    table(b, 4, w);

    for (int i = 0; i < 100; i++) {
        ck_assert_int_eq(request(a, 4, &no_breaker, i, GW_OUTCOME_SUCCESS),
                         request(b, 4, &no_breaker, i, GW_OUTCOME_SUCCESS));
    }
}
END_TEST


START_TEST(wrr_equal_weights_alternate)
{
    static const uint32_t  w[] = { 1, 1, 1 };
    gw_peer_t              p[3];

    table(p, 3, w);

    for (int i = 0; i < 30; i++) {
        ck_assert_int_eq(request(p, 3, &no_breaker, i, GW_OUTCOME_SUCCESS),
                         i % 3);
    }
}
END_TEST


START_TEST(skips_tried_down_and_dead_slots)
{
    static const uint32_t  w[] = { 1, 1, 1, 1 };
    gw_peer_t              p[4];
    uint64_t               tried;

    table(p, 4, w);
    p[1].flags |= GW_PEER_DOWN;
    p[3].flags &= ~GW_PEER_LIVE;

    for (int i = 0; i < 10; i++) {
        int  got = request(p, 4, &no_breaker, i, GW_OUTCOME_SUCCESS);

        ck_assert(got == 0 || got == 2);
    }

    tried = 1;   /* peer 0 already tried by this request */

    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(pick(p, 4, GW_BALANCE_ROUND_ROBIN, &no_breaker,
                              &tried, i, NULL), 2);
    }

    tried = 1 | 4;
    ck_assert_int_eq(pick(p, 4, GW_BALANCE_ROUND_ROBIN, &no_breaker, &tried,
                          0, NULL), -1);
}
END_TEST


START_TEST(max_conns_is_respected)
{
    static const uint32_t  w[] = { 1, 1 };
    gw_peer_t              p[2];

    table(p, 2, w);
    p[0].max_conns = 1;

    /* nothing released: peer 0 holds one request and is then full */
    ck_assert_int_eq(pick(p, 2, GW_BALANCE_ROUND_ROBIN, &no_breaker, NULL, 0,
                          NULL), 0);

    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(pick(p, 2, GW_BALANCE_ROUND_ROBIN, &no_breaker, NULL,
                              0, NULL), 1);
    }

    ck_assert_uint_eq(p[0].conns, 1);
    ck_assert_uint_eq(p[1].conns, 5);
}
END_TEST


START_TEST(backup_only_when_primaries_cannot)
{
    static const uint32_t  w[] = { 1, 1, 1 };
    gw_peer_t              p[3];
    uint64_t               tried;

    table(p, 3, w);
    p[2].flags |= GW_PEER_BACKUP;

    for (int i = 0; i < 10; i++) {
        ck_assert_int_ne(request(p, 3, &no_breaker, i, GW_OUTCOME_SUCCESS), 2);
    }

    tried = 1 | 2;
    ck_assert_int_eq(pick(p, 3, GW_BALANCE_ROUND_ROBIN, &no_breaker, &tried,
                          0, NULL), 2);

    tried = 1;
    p[1].flags |= GW_PEER_DOWN;
    ck_assert_int_eq(pick(p, 3, GW_BALANCE_LEAST_CONN, &no_breaker, &tried,
                          0, NULL), 2);
}
END_TEST


START_TEST(least_conn_weighted)
{
    static const uint32_t  w[] = { 1, 2, 1 };
    gw_peer_t              p[3];
    gw_pick_t              k[8];

    table(p, 3, w);

    /* a slow peer keeps its requests: the others take the new ones */
    p[0].conns = 3;

    for (int i = 0; i < 4; i++) {
        int  got = pick(p, 3, GW_BALANCE_LEAST_CONN, &no_breaker, NULL, 0,
                        &k[i]);
        ck_assert_int_ne(got, 0);
    }

    ck_assert_uint_eq(p[1].conns, 2);
    ck_assert_uint_eq(p[2].conns, 2);

    /* now 3/1, 2/2, 2/1: weight 2 takes twice the connections */
    ck_assert_int_eq(pick(p, 3, GW_BALANCE_LEAST_CONN, &no_breaker, NULL, 0,
                          &k[4]), 1);

    for (int i = 0; i < 5; i++) {
        gw_balancer_release(p, 3, &no_breaker, &k[i], GW_OUTCOME_SUCCESS, 0);
    }

    ck_assert_uint_eq(p[1].conns, 0);
    ck_assert_uint_eq(p[2].conns, 0);
}
END_TEST


START_TEST(least_conn_ties_go_round_robin)
{
    static const uint32_t  w[] = { 2, 1 };
    gw_peer_t              p[2];
    int                    count[2] = { 0, 0 };

    table(p, 2, w);

    for (int i = 0; i < 30; i++) {
        gw_pick_t  k;
        int        got;

        got = pick(p, 2, GW_BALANCE_LEAST_CONN, &no_breaker, NULL, i, &k);
        gw_balancer_release(p, 2, &no_breaker, &k, GW_OUTCOME_SUCCESS, i);
        count[got]++;
    }

    ck_assert_int_eq(count[0], 20);
    ck_assert_int_eq(count[1], 10);
}
END_TEST


START_TEST(breaker_opens_after_consecutive_failures)
{
    static const uint32_t  w[] = { 1 };
    gw_peer_t              p[1];

    table(p, 1, w);

    request(p, 1, &breaker, 0, GW_OUTCOME_FAILURE);
    request(p, 1, &breaker, 1, GW_OUTCOME_FAILURE);
    request(p, 1, &breaker, 2, GW_OUTCOME_SUCCESS);   /* resets the count */
    request(p, 1, &breaker, 3, GW_OUTCOME_FAILURE);
    request(p, 1, &breaker, 4, GW_OUTCOME_NEUTRAL);   /* does not */
    request(p, 1, &breaker, 5, GW_OUTCOME_FAILURE);
    ck_assert_int_eq(gw_breaker_state(&p[0].breaker, &breaker, 5),
                     GW_CIRCUIT_CLOSED);
    ck_assert_int_eq(gw_balancer_available(p, 1, &breaker, 5), 1);

    ck_assert_int_eq(request(p, 1, &breaker, 6, GW_OUTCOME_FAILURE), 0);
    ck_assert_int_eq(gw_breaker_state(&p[0].breaker, &breaker, 6),
                     GW_CIRCUIT_OPEN);

    /* open for 1000 ms: nothing goes to it */
    ck_assert_int_eq(gw_balancer_available(p, 1, &breaker, 1005), 0);
    ck_assert_int_eq(request(p, 1, &breaker, 1005, GW_OUTCOME_SUCCESS), -1);
    ck_assert_int_eq(gw_breaker_state(&p[0].breaker, &breaker, 1006),
                     GW_CIRCUIT_HALF_OPEN);
    ck_assert_int_eq(gw_balancer_available(p, 1, &breaker, 1006), 1);
}
END_TEST


START_TEST(half_open_admits_the_limit_and_success_closes)
{
    static const uint32_t  w[] = { 1 };
    gw_breaker_conf_t      c = { 1, 2, 1000, 8000 };
    gw_peer_t              p[1];
    gw_pick_t              t1, t2, t3;
    gw_transition_t        tr;

    table(p, 1, w);
    request(p, 1, &c, 0, GW_OUTCOME_FAILURE);

    ck_assert_int_eq(gw_balancer_pick(p, 1, GW_BALANCE_ROUND_ROBIN, &c, NULL,
                                      0, 1000, &t1, &tr), GW_PICK_OK);
    ck_assert_int_eq(tr, GW_TRANSITION_HALF_OPENED);
    ck_assert(t1.trial);
    ck_assert_int_eq(t1.state, GW_CIRCUIT_HALF_OPEN);

    ck_assert_int_eq(gw_balancer_pick(p, 1, GW_BALANCE_ROUND_ROBIN, &c, NULL,
                                      0, 1001, &t2, &tr), GW_PICK_OK);
    ck_assert_int_eq(tr, GW_TRANSITION_NONE);

    /* the two trials hang: a third request is refused */
    ck_assert_int_eq(gw_balancer_pick(p, 1, GW_BALANCE_ROUND_ROBIN, &c, NULL,
                                      0, 5000, &t3, &tr), GW_PICK_NONE);
    ck_assert_int_eq(gw_balancer_available(p, 1, &c, 5000), 0);

    ck_assert_int_eq(gw_balancer_release(p, 1, &c, &t2, GW_OUTCOME_SUCCESS,
                                         5001), GW_TRANSITION_CLOSED);
    ck_assert_int_eq(gw_breaker_state(&p[0].breaker, &c, 5001),
                     GW_CIRCUIT_CLOSED);

    /* the other trial started before the change: its failure is ignored */
    ck_assert_int_eq(gw_balancer_release(p, 1, &c, &t1, GW_OUTCOME_FAILURE,
                                         5002), GW_TRANSITION_NONE);
    ck_assert_int_eq(gw_breaker_state(&p[0].breaker, &c, 5002),
                     GW_CIRCUIT_CLOSED);
    ck_assert_uint_eq(p[0].conns, 0);
}
END_TEST


START_TEST(trial_failure_reopens_with_growing_period)
{
    static const uint32_t  w[] = { 1 };
    gw_breaker_conf_t      c = { 1, 1, 1000, 5000 };
    gw_peer_t              p[1];
    int64_t                now = 0;

    table(p, 1, w);

    request(p, 1, &c, now, GW_OUTCOME_FAILURE);               /* open 1 s */
    ck_assert_int_eq(p[0].breaker.open_until, 1000);

    now = 1000;
    ck_assert_int_eq(request(p, 1, &c, now, GW_OUTCOME_FAILURE), 0);
    ck_assert_int_eq(p[0].breaker.open_until, now + 2000);     /* 2 s */

    now += 2000;
    request(p, 1, &c, now, GW_OUTCOME_FAILURE);
    ck_assert_int_eq(p[0].breaker.open_until, now + 4000);     /* 4 s */

    now += 4000;
    request(p, 1, &c, now, GW_OUTCOME_FAILURE);
    ck_assert_int_eq(p[0].breaker.open_until, now + 5000);     /* capped */

    now += 5000;
    request(p, 1, &c, now, GW_OUTCOME_FAILURE);
    ck_assert_int_eq(p[0].breaker.open_until, now + 5000);

    /* a success closes; failing again soon keeps the long period */
    now += 5000;
    request(p, 1, &c, now, GW_OUTCOME_SUCCESS);
    ck_assert_int_eq(gw_breaker_state(&p[0].breaker, &c, now),
                     GW_CIRCUIT_CLOSED);
    now += 10;
    request(p, 1, &c, now, GW_OUTCOME_FAILURE);
    ck_assert_int_eq(p[0].breaker.open_until, now + 5000);

    /* closed for max_open: the growth is forgotten */
    now += 5000;
    request(p, 1, &c, now, GW_OUTCOME_SUCCESS);
    now += 5000;
    request(p, 1, &c, now, GW_OUTCOME_FAILURE);
    ck_assert_int_eq(p[0].breaker.open_until, now + 1000);

    ck_assert_int_eq(gw_breaker_open_period(&c, 0), 1000);
    ck_assert_int_eq(gw_breaker_open_period(&c, 1), 2000);
    ck_assert_int_eq(gw_breaker_open_period(&c, 63), 5000);
}
END_TEST


START_TEST(neutral_trial_frees_its_slot)
{
    static const uint32_t  w[] = { 1 };
    gw_breaker_conf_t      c = { 1, 1, 1000, 1000 };
    gw_peer_t              p[1];
    gw_pick_t              t;

    table(p, 1, w);
    request(p, 1, &c, 0, GW_OUTCOME_FAILURE);

    ck_assert_int_eq(pick(p, 1, GW_BALANCE_ROUND_ROBIN, &c, NULL, 1000, &t), 0);
    ck_assert_int_eq(pick(p, 1, GW_BALANCE_ROUND_ROBIN, &c, NULL, 1000, NULL),
                     -1);

    /* the client went away: the trial slot is given back, still half-open */
    gw_balancer_release(p, 1, &c, &t, GW_OUTCOME_NEUTRAL, 1001);
    ck_assert_int_eq(gw_breaker_state(&p[0].breaker, &c, 1001),
                     GW_CIRCUIT_HALF_OPEN);
    ck_assert_int_eq(pick(p, 1, GW_BALANCE_ROUND_ROBIN, &c, NULL, 1002, &t), 0);
}
END_TEST


START_TEST(stale_results_are_discarded)
{
    static const uint32_t  w[] = { 1 };
    gw_peer_t              p[1];
    gw_pick_t              slow[5];

    table(p, 1, w);

    /* five requests start while closed */
    for (int i = 0; i < 5; i++) {
        pick(p, 1, GW_BALANCE_ROUND_ROBIN, &breaker, NULL, 0, &slow[i]);
    }

    /* three failures open the circuit; the other two end while open */
    for (int i = 0; i < 3; i++) {
        gw_balancer_release(p, 1, &breaker, &slow[i], GW_OUTCOME_FAILURE, 10);
    }

    ck_assert_int_eq(gw_breaker_state(&p[0].breaker, &breaker, 10),
                     GW_CIRCUIT_OPEN);

    ck_assert_int_eq(gw_balancer_release(p, 1, &breaker, &slow[3],
                                         GW_OUTCOME_SUCCESS, 20),
                     GW_TRANSITION_NONE);
    ck_assert_int_eq(gw_breaker_state(&p[0].breaker, &breaker, 20),
                     GW_CIRCUIT_OPEN);

    /* half-open: an old success must not close it */
    ck_assert_int_eq(gw_balancer_release(p, 1, &breaker, &slow[4],
                                         GW_OUTCOME_SUCCESS, 2000),
                     GW_TRANSITION_NONE);
    ck_assert_int_eq(gw_breaker_state(&p[0].breaker, &breaker, 2000),
                     GW_CIRCUIT_HALF_OPEN);
    ck_assert_uint_eq(p[0].conns, 0);
}
END_TEST


START_TEST(open_peers_are_skipped)
{
    static const uint32_t  w[] = { 5, 1, 1 };
    gw_peer_t              p[3];

    table(p, 3, w);

    /* break peer 0 */
    while (gw_breaker_state(&p[0].breaker, &breaker, 0) == GW_CIRCUIT_CLOSED) {
        gw_pick_t  k;

        if (pick(p, 3, GW_BALANCE_ROUND_ROBIN, &breaker, NULL, 0, &k) == 0) {
            gw_balancer_release(p, 3, &breaker, &k, GW_OUTCOME_FAILURE, 0);
        } else {
            gw_balancer_release(p, 3, &breaker, &k, GW_OUTCOME_SUCCESS, 0);
        }
    }

    for (int i = 0; i < 20; i++) {
        int  got = request(p, 3, &breaker, 100, GW_OUTCOME_SUCCESS);

        ck_assert(got == 1 || got == 2);
    }

    /* all open: nothing, and available() says so */
    p[1].breaker.state = GW_CIRCUIT_OPEN;
    p[1].breaker.open_until = 5000;
    p[2].flags |= GW_PEER_DOWN;
    ck_assert_int_eq(gw_balancer_available(p, 3, &breaker, 200), 0);
    ck_assert_int_eq(request(p, 3, &breaker, 200, GW_OUTCOME_SUCCESS), -1);
}
END_TEST


START_TEST(disabled_breaker_never_opens)
{
    static const uint32_t  w[] = { 1 };
    gw_peer_t              p[1];

    table(p, 1, w);

    for (int i = 0; i < 100; i++) {
        ck_assert_int_eq(request(p, 1, &no_breaker, i, GW_OUTCOME_FAILURE), 0);
    }

    ck_assert_int_eq(gw_breaker_state(&p[0].breaker, &no_breaker, 100),
                     GW_CIRCUIT_CLOSED);
}
END_TEST


START_TEST(reused_slot_ignores_old_requests)
{
    static const uint32_t  w[] = { 1 };
    gw_peer_t              p[1];
    gw_pick_t              old;

    table(p, 1, w);
    pick(p, 1, GW_BALANCE_ROUND_ROBIN, &breaker, NULL, 0, &old);

    /* the slot gets another peer (only done when drained; forced here) */
    gw_peer_init(&p[0], 1, 0, GW_PEER_LIVE, 0);
    ck_assert_uint_eq(p[0].slot_generation, 2);

    gw_balancer_release(p, 1, &breaker, &old, GW_OUTCOME_FAILURE, 1);
    ck_assert_uint_eq(p[0].breaker.failures, 0);
    ck_assert_uint_eq(p[0].conns, 0);
}
END_TEST


START_TEST(early_report_then_neutral_release)
{
    static const uint32_t  w[] = { 1 };
    gw_breaker_conf_t      c = { 1, 1, 1000, 1000 };
    gw_peer_t              p[1];
    gw_pick_t              t, u;

    table(p, 1, w);
    request(p, 1, &c, 0, GW_OUTCOME_FAILURE);

    /* a trial whose response header says success closes the circuit ... */
    ck_assert_int_eq(pick(p, 1, GW_BALANCE_ROUND_ROBIN, &c, NULL, 1000, &t), 0);
    ck_assert_int_eq(gw_balancer_report(p, 1, &c, &t, GW_OUTCOME_SUCCESS, 1001),
                     GW_TRANSITION_CLOSED);
    ck_assert_uint_eq(p[0].conns, 1);

    /* ... while its body still streams: others get the peer meanwhile */
    ck_assert_int_eq(pick(p, 1, GW_BALANCE_ROUND_ROBIN, &c, NULL, 1002, &u), 0);
    gw_balancer_release(p, 1, &c, &u, GW_OUTCOME_SUCCESS, 1003);

    ck_assert_int_eq(gw_balancer_release(p, 1, &c, &t, GW_OUTCOME_NEUTRAL, 9000),
                     GW_TRANSITION_NONE);
    ck_assert_uint_eq(p[0].conns, 0);
    ck_assert_int_eq(gw_breaker_state(&p[0].breaker, &c, 9000),
                     GW_CIRCUIT_CLOSED);
}
END_TEST


/* a pick and its release in a process that keeps its holdings */
static int
held_pick(gw_peer_t *p, gw_holding_t *h, size_t n,
    const gw_breaker_conf_t *conf, int64_t now, gw_pick_t *out)
{
    int  i;

    i = pick(p, n, GW_BALANCE_ROUND_ROBIN, conf, NULL, now, out);
    if (i >= 0) {
        gw_balancer_hold(h, n, out);
    }

    return i;
}


static void
held_release(gw_peer_t *p, gw_holding_t *h, size_t n,
    const gw_breaker_conf_t *conf, const gw_pick_t *k, gw_outcome_t outcome,
    int64_t now)
{
    gw_balancer_release(p, n, conf, k, outcome, now);
    gw_balancer_unhold(h, n, k);
}


/* one peer whose circuit opened at time 0; holdings of two processes */
static void
open_peer(gw_peer_t *p, const gw_breaker_conf_t *conf, gw_holding_t *dead,
    gw_holding_t *live)
{
    static const uint32_t  w[] = { 1 };

    table(p, 1, w);
    memset(dead, 0, sizeof(gw_holding_t));
    memset(live, 0, sizeof(gw_holding_t));

    for (uint32_t i = 0; i < conf->failures; i++) {
        request(p, 1, conf, 0, GW_OUTCOME_FAILURE);
    }
}


START_TEST(dead_process_requests_are_given_back)
{
    static const uint32_t  w[] = { 1, 1 };
    gw_peer_t              p[2];
    gw_holding_t           dead[2], live[2];
    gw_pick_t              k[4];

    table(p, 2, w);
    memset(dead, 0, sizeof(dead));
    memset(live, 0, sizeof(live));
    p[0].max_conns = 1;
    p[1].max_conns = 2;

    /* the dead process held peer 0 and one place on peer 1 */
    ck_assert_int_eq(held_pick(p, dead, 2, &no_breaker, 0, &k[0]), 0);
    ck_assert_int_eq(held_pick(p, dead, 2, &no_breaker, 0, &k[1]), 1);
    ck_assert_int_eq(held_pick(p, live, 2, &no_breaker, 0, &k[2]), 1);
    ck_assert_int_eq(held_pick(p, live, 2, &no_breaker, 0, &k[3]), -1);

    /* a live process's finished requests leave nothing behind */
    held_release(p, live, 2, &no_breaker, &k[2], GW_OUTCOME_SUCCESS, 1);
    ck_assert_uint_eq(live[1].conns, 0);

    ck_assert_uint_eq(gw_balancer_reclaim(p, dead, 2), 2);
    ck_assert_uint_eq(p[0].conns, 0);
    ck_assert_uint_eq(p[1].conns, 0);
    ck_assert_uint_eq(dead[0].conns, 0);
    ck_assert_uint_eq(dead[1].conns, 0);

    /* every place is free again: three picks, not a fourth */
    for (int i = 0; i < 3; i++) {
        ck_assert_int_ge(held_pick(p, live, 2, &no_breaker, 2, &k[i]), 0);
    }
    ck_assert_int_eq(held_pick(p, live, 2, &no_breaker, 2, &k[3]), -1);
    ck_assert_uint_eq(gw_balancer_reclaim(p, dead, 2), 0);
}
END_TEST


START_TEST(dead_process_trial_is_given_back)
{
    gw_peer_t     p[1];
    gw_holding_t  dead[1], live[1];
    gw_pick_t     t, u;

    open_peer(p, &breaker, dead, live);

    /* half-open: the only trial went to a process that died */
    ck_assert_int_eq(held_pick(p, dead, 1, &breaker, 1000, &t), 0);
    ck_assert(t.trial);
    ck_assert_int_eq(held_pick(p, live, 1, &breaker, 1001, &u), -1);

    gw_balancer_reclaim(p, dead, 1);

    ck_assert_int_eq(held_pick(p, live, 1, &breaker, 1002, &u), 0);
    ck_assert(u.trial);
    held_release(p, live, 1, &breaker, &u, GW_OUTCOME_SUCCESS, 1003);
    ck_assert_int_eq(gw_breaker_state(&p[0].breaker, &breaker, 1003),
                     GW_CIRCUIT_CLOSED);
    ck_assert_uint_eq(live[0].conns, 0);
    ck_assert_uint_eq(live[0].trials, 0);
}
END_TEST


START_TEST(reclaim_leaves_newer_state_alone)
{
    gw_breaker_conf_t  two = { 3, 2, 1000, 8000 };
    gw_peer_t          p[1];
    gw_holding_t       dead[1], live[1];
    gw_pick_t          t, u, v;

    open_peer(p, &two, dead, live);

    /* two trials; the live one fails and reopens, a later one is in flight */
    ck_assert_int_eq(held_pick(p, dead, 1, &two, 1000, &t), 0);
    ck_assert_int_eq(held_pick(p, live, 1, &two, 1000, &u), 0);
    held_release(p, live, 1, &two, &u, GW_OUTCOME_FAILURE, 1001);
    ck_assert_int_eq(held_pick(p, live, 1, &two, 9000, &v), 0);
    ck_assert(v.trial);
    ck_assert_uint_eq(p[0].breaker.trials, 1);

    /* the dead trial was of the older generation: the new one still counts */
    gw_balancer_reclaim(p, dead, 1);
    ck_assert_uint_eq(p[0].breaker.trials, 1);
    ck_assert_uint_eq(p[0].conns, 1);

    /* a slot given to another peer keeps its own count */
    ck_assert_int_eq(held_pick(p, dead, 1, &two, 9001, &t), 0);
    gw_peer_init(&p[0], 1, 0, GW_PEER_LIVE, 9002);
    ck_assert_int_eq(held_pick(p, live, 1, &two, 9003, &u), 0);
    gw_balancer_reclaim(p, dead, 1);
    ck_assert_uint_eq(p[0].conns, 1);
}
END_TEST


START_TEST(state_names)
{
    ck_assert_str_eq(gw_circuit_state_name(GW_CIRCUIT_CLOSED), "closed");
    ck_assert_str_eq(gw_circuit_state_name(GW_CIRCUIT_OPEN), "open");
    ck_assert_str_eq(gw_circuit_state_name(GW_CIRCUIT_HALF_OPEN), "half_open");
}
END_TEST


int
main(void)
{
    Suite  *s = suite_create("balancer");
    TCase  *tc = tcase_create("core");

    tcase_add_test(tc, wrr_5_1_1_every_window_of_7);
    tcase_add_test(tc, wrr_is_deterministic);
    tcase_add_test(tc, wrr_equal_weights_alternate);
    tcase_add_test(tc, skips_tried_down_and_dead_slots);
    tcase_add_test(tc, max_conns_is_respected);
    tcase_add_test(tc, backup_only_when_primaries_cannot);
    tcase_add_test(tc, least_conn_weighted);
    tcase_add_test(tc, least_conn_ties_go_round_robin);
    tcase_add_test(tc, breaker_opens_after_consecutive_failures);
    tcase_add_test(tc, half_open_admits_the_limit_and_success_closes);
    tcase_add_test(tc, trial_failure_reopens_with_growing_period);
    tcase_add_test(tc, neutral_trial_frees_its_slot);
    tcase_add_test(tc, stale_results_are_discarded);
    tcase_add_test(tc, open_peers_are_skipped);
    tcase_add_test(tc, disabled_breaker_never_opens);
    tcase_add_test(tc, reused_slot_ignores_old_requests);
    tcase_add_test(tc, early_report_then_neutral_release);
    tcase_add_test(tc, dead_process_requests_are_given_back);
    tcase_add_test(tc, dead_process_trial_is_given_back);
    tcase_add_test(tc, reclaim_leaves_newer_state_alone);
    tcase_add_test(tc, state_names);
    suite_add_tcase(s, tc);

    return gw_unit_run(s);
}
