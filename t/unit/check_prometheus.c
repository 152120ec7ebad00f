/* Check unit tests: the Prometheus text exposition writer. */

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "unit.h"
#include "sink_unit.h"

#include "gw_prometheus.h"

#define S(text)  { (text), sizeof(text) - 1 }


static const gw_metric_str_t  route_method_status[] = {
    S("route"), S("method"), S("status")
};

static const gw_metric_family_t  requests = {
    S("gateway_http_requests_total"), S("Requests answered."),
    GW_METRIC_COUNTER, 3, route_method_status, 0, NULL
};

static const double  default_bounds[] = { 0.005, 0.01, 0.025, 0.05, 0.1 };

static const gw_metric_str_t  route[] = { S("route") };

static const gw_metric_family_t  duration = {
    S("gateway_http_request_duration_seconds"), S("Time to answer."),
    GW_METRIC_HISTOGRAM, 1, route, 5, default_bounds
};

static const gw_metric_family_t  in_flight = {
    S("gateway_http_requests_in_flight"), S("Requests being served."),
    GW_METRIC_GAUGE, 0, NULL, 0, NULL
};


/* Renders the series of one family (in a fresh writer) through chunk-byte refills. */
static const char *
render(capture_t *c, size_t chunk, const gw_metric_family_t *f,
    const gw_metric_series_t *series, size_t n)
{
    gw_prom_writer_t  w;
    size_t            i;

    capture_init(c, chunk);
    memset(&w, 0, sizeof(w));
    w.sink = &c->sink;

    for (i = 0; i < n; i++) {
        gw_prom_write_series(&w, f, &series[i]);
    }

    ck_assert_int_eq(c->sink.failed, 0);
    return capture_text(c);
}


START_TEST(counter_with_labels)
{
    capture_t               c;
    gw_metric_str_t         a[] = { S("users"), S("GET"), S("2xx") };
    gw_metric_str_t         b[] = { S("users"), S("POST"), S("5xx") };
    gw_metric_series_t      s[2] = { { a, 42, NULL, 0 }, { b, 1, NULL, 0 } };

    ck_assert_str_eq(render(&c, 3, &requests, s, 2),
        "# HELP gateway_http_requests_total Requests answered.\n"
        "# TYPE gateway_http_requests_total counter\n"
        "gateway_http_requests_total{route=\"users\",method=\"GET\",status=\"2xx\"} 42\n"
        "gateway_http_requests_total{route=\"users\",method=\"POST\",status=\"5xx\"} 1\n");
    capture_free(&c);
}
END_TEST


START_TEST(gauge_without_labels)
{
    capture_t           c;
    gw_metric_series_t  s = { NULL, 7, NULL, 0 };

    ck_assert_str_eq(render(&c, 1, &in_flight, &s, 1),
        "# HELP gateway_http_requests_in_flight Requests being served.\n"
        "# TYPE gateway_http_requests_in_flight gauge\n"
        "gateway_http_requests_in_flight 7\n");
    capture_free(&c);
}
END_TEST


START_TEST(histogram_is_cumulative)
{
    capture_t           c;
    gw_metric_str_t     v[] = { S("orders") };
    uint64_t            buckets[] = { 1, 2, 0, 3, 4, 5 };
    gw_metric_series_t  s = { v, 0, buckets, 2.5 };

    ck_assert_str_eq(render(&c, 5, &duration, &s, 1),
        "# HELP gateway_http_request_duration_seconds Time to answer.\n"
        "# TYPE gateway_http_request_duration_seconds histogram\n"
        "gateway_http_request_duration_seconds_bucket{route=\"orders\",le=\"0.005\"} 1\n"
        "gateway_http_request_duration_seconds_bucket{route=\"orders\",le=\"0.01\"} 3\n"
        "gateway_http_request_duration_seconds_bucket{route=\"orders\",le=\"0.025\"} 3\n"
        "gateway_http_request_duration_seconds_bucket{route=\"orders\",le=\"0.05\"} 6\n"
        "gateway_http_request_duration_seconds_bucket{route=\"orders\",le=\"0.1\"} 10\n"
        "gateway_http_request_duration_seconds_bucket{route=\"orders\",le=\"+Inf\"} 15\n"
        "gateway_http_request_duration_seconds_sum{route=\"orders\"} 2.5\n"
        "gateway_http_request_duration_seconds_count{route=\"orders\"} 15\n");
    capture_free(&c);
}
END_TEST


START_TEST(histogram_without_labels)
{
    static const double       bounds[] = { 1, 2.5, 10 };
    static const gw_metric_family_t  f = {
        S("gateway_upstream_response_seconds"), S("Upstream time."),
        GW_METRIC_HISTOGRAM, 0, NULL, 3, bounds
    };
    capture_t           c;
    uint64_t            buckets[] = { 0, 0, 0, 2 };
    gw_metric_series_t  s = { NULL, 0, buckets, 31 };

    ck_assert_str_eq(render(&c, 64, &f, &s, 1),
        "# HELP gateway_upstream_response_seconds Upstream time.\n"
        "# TYPE gateway_upstream_response_seconds histogram\n"
        "gateway_upstream_response_seconds_bucket{le=\"1\"} 0\n"
        "gateway_upstream_response_seconds_bucket{le=\"2.5\"} 0\n"
        "gateway_upstream_response_seconds_bucket{le=\"10\"} 0\n"
        "gateway_upstream_response_seconds_bucket{le=\"+Inf\"} 2\n"
        "gateway_upstream_response_seconds_sum 31\n"
        "gateway_upstream_response_seconds_count 2\n");
    capture_free(&c);
}
END_TEST


START_TEST(escapes_label_values)
{
    capture_t           c;
    gw_metric_str_t     v[] = { S("a\"b\\c\nd"), S("caf\xc3\xa9 \xe2\x82\xac"),
                                S("bad\xff\xc3(\xed\xa0\x80!") };
    gw_metric_series_t  s = { v, 1, NULL, 0 };

    ck_assert_str_eq(render(&c, 2, &requests, &s, 1),
        "# HELP gateway_http_requests_total Requests answered.\n"
        "# TYPE gateway_http_requests_total counter\n"
        "gateway_http_requests_total{route=\"a\\\"b\\\\c\\nd\","
        "method=\"caf\xc3\xa9 \xe2\x82\xac\","
        "status=\"bad\xef\xbf\xbd\xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd!\"} 1\n");
    capture_free(&c);
}
END_TEST


START_TEST(escapes_help)
{
    static const gw_metric_family_t  f = {
        S("x_total"), S("Two\nlines, a back\\slash and \"quotes\"."),
        GW_METRIC_COUNTER, 0, NULL, 0, NULL
    };
    capture_t           c;
    gw_metric_series_t  s = { NULL, 3, NULL, 0 };

    ck_assert_str_eq(render(&c, 4, &f, &s, 1),
        "# HELP x_total Two\\nlines, a back\\\\slash and \"quotes\".\n"
        "# TYPE x_total counter\n"
        "x_total 3\n");
    capture_free(&c);
}
END_TEST


START_TEST(formats_numbers)
{
    static const struct {
        double       value;
        const char  *text;
    } cases[] = {
        { 0, "0" }, { -0.0, "0" }, { 3, "3" }, { -2, "-2" },
        { 123456789012.0, "123456789012" }, { 9007199254740993.0, "9007199254740992" },
        { 0.25, "0.25" }, { 0.1, "0.1" }, { 1e-05, "1e-05" }, { 1e20, "1e+20" },
        { 1.0 / 3, "0.3333333333333333" },
        { INFINITY, "+Inf" }, { -INFINITY, "-Inf" }, { NAN, "NaN" },
    };
    capture_t           c;
    gw_metric_series_t  s = { NULL, 0, NULL, 0 };
    char                expect[256];
    size_t              i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        s.value = cases[i].value;
        snprintf(expect, sizeof(expect),
                 "# HELP gateway_http_requests_in_flight Requests being served.\n"
                 "# TYPE gateway_http_requests_in_flight gauge\n"
                 "gateway_http_requests_in_flight %s\n", cases[i].text);
        ck_assert_str_eq(render(&c, 7, &in_flight, &s, 1), expect);
        capture_free(&c);
    }
}
END_TEST


START_TEST(one_header_per_family)
{
    capture_t           c;
    gw_prom_writer_t    w;
    gw_metric_str_t     a[] = { S("r"), S("GET"), S("200") };
    gw_metric_str_t     r[] = { S("r") };
    uint64_t            buckets[] = { 0, 0, 0, 0, 0, 0 };
    gw_metric_series_t  counter = { a, 1, NULL, 0 };
    gw_metric_series_t  histogram = { r, 0, buckets, 0 };
    const char         *text, *p;
    int                 helps = 0, types = 0;

    capture_init(&c, 16);
    memset(&w, 0, sizeof(w));
    w.sink = &c.sink;

    gw_prom_write_series(&w, &requests, &counter);
    gw_prom_write_series(&w, &requests, &counter);
    gw_prom_write_series(&w, &duration, &histogram);
    gw_prom_write_series(&w, &duration, &histogram);

    text = capture_text(&c);
    for (p = text; (p = strstr(p, "# HELP ")) != NULL; p++) {
        helps++;
    }
    for (p = text; (p = strstr(p, "# TYPE ")) != NULL; p++) {
        types++;
    }
    ck_assert_int_eq(helps, 2);
    ck_assert_int_eq(types, 2);
    ck_assert_ptr_nonnull(strstr(text, "# TYPE gateway_http_request_duration_seconds histogram\n"
                                       "gateway_http_request_duration_seconds_bucket"));
    capture_free(&c);
}
END_TEST


START_TEST(stops_when_space_runs_out)
{
    capture_t           c;
    gw_prom_writer_t    w;
    gw_metric_str_t     a[] = { S("users"), S("GET"), S("2xx") };
    gw_metric_series_t  s = { a, 42, NULL, 0 };
    int                 i;

    capture_init(&c, 10);
    c.limit = 100;
    memset(&w, 0, sizeof(w));
    w.sink = &c.sink;

    for (i = 0; i < 10; i++) {
        gw_prom_write_series(&w, &requests, &s);
    }

    ck_assert_int_eq(c.sink.failed, 1);
    ck_assert_uint_eq(strlen(capture_text(&c)), 100);

    /* a sink without refill holds what fits */
    {
        char        small[8];
        gw_sink_t   sink = { small, small + sizeof(small), NULL, NULL, 0 };

        gw_sink_write(&sink, "0123456789", 10);
        ck_assert_int_eq(sink.failed, 1);
        ck_assert_int_eq(memcmp(small, "01234567", 8), 0);
    }
    capture_free(&c);
}
END_TEST


START_TEST(many_series)
{
    capture_t           c;
    gw_prom_writer_t    w;
    gw_metric_str_t     v[3] = { S("route"), S("GET"), { NULL, 0 } };
    gw_metric_series_t  s = { v, 0, NULL, 0 };
    char                status[16];
    const char         *text, *p;
    size_t              i, lines = 0;

    capture_init(&c, 4096);
    memset(&w, 0, sizeof(w));
    w.sink = &c.sink;

    for (i = 0; i < 10000; i++) {
        v[2].len = (size_t) snprintf(status, sizeof(status), "%zu", i);
        v[2].data = status;
        s.value = (double) i;
        gw_prom_write_series(&w, &requests, &s);
    }

    text = capture_text(&c);
    for (p = text; (p = strchr(p, '\n')) != NULL; p++) {
        lines++;
    }
    ck_assert_uint_eq(lines, 10002);
    ck_assert_ptr_nonnull(strstr(text, "status=\"9999\"} 9999\n"));
    capture_free(&c);
}
END_TEST


START_TEST(checks_families)
{
    static const gw_metric_str_t  le[] = { S("le") };
    static const gw_metric_str_t  reserved[] = { S("__name") };
    static const gw_metric_str_t  bad[] = { S("1route") };
    static const gw_metric_str_t  dash[] = { S("peer-addr") };
    static const gw_metric_str_t  twice[] = { S("route"), S("route") };
    static const gw_metric_str_t  nine[] = {
        S("a"), S("b"), S("c"), S("d"), S("e"), S("f"), S("g"), S("h"), S("i")
    };
    static const double  ascending[] = { 0.5, 1 };
    static const double  descending[] = { 1, 0.5 };
    static const double  equal[] = { 1, 1 };
    static const double  inf[] = { 1, INFINITY };
    static const struct {
        gw_metric_family_t  family;
        gw_metric_check_t   check;
    } cases[] = {
        { { S("a_total"), S(""), GW_METRIC_COUNTER, 0, NULL, 0, NULL }, GW_METRIC_OK },
        { { S("ns:a_total"), S(""), GW_METRIC_COUNTER, 1, le, 0, NULL }, GW_METRIC_OK },
        { { S("a"), S(""), GW_METRIC_GAUGE, 0, NULL, 0, NULL }, GW_METRIC_OK },
        { { S("a_seconds"), S(""), GW_METRIC_HISTOGRAM, 0, NULL, 2, ascending },
          GW_METRIC_OK },
        { { S("a_seconds"), S(""), GW_METRIC_HISTOGRAM, 0, NULL, 0, NULL }, GW_METRIC_OK },

        { { S(""), S(""), GW_METRIC_GAUGE, 0, NULL, 0, NULL }, GW_METRIC_BAD_NAME },
        { { S("9a"), S(""), GW_METRIC_GAUGE, 0, NULL, 0, NULL }, GW_METRIC_BAD_NAME },
        { { S("a-b"), S(""), GW_METRIC_GAUGE, 0, NULL, 0, NULL }, GW_METRIC_BAD_NAME },
        { { S("a b"), S(""), GW_METRIC_GAUGE, 0, NULL, 0, NULL }, GW_METRIC_BAD_NAME },
        { { S("requests"), S(""), GW_METRIC_COUNTER, 0, NULL, 0, NULL }, GW_METRIC_BAD_SUFFIX },
        { { S("_total"), S(""), GW_METRIC_COUNTER, 0, NULL, 0, NULL }, GW_METRIC_BAD_SUFFIX },
        { { S("a_count"), S(""), GW_METRIC_HISTOGRAM, 0, NULL, 0, NULL }, GW_METRIC_BAD_SUFFIX },
        { { S("a_total"), S(""), GW_METRIC_HISTOGRAM, 0, NULL, 0, NULL }, GW_METRIC_BAD_SUFFIX },
        { { S("a"), S(""), GW_METRIC_GAUGE, 1, bad, 0, NULL }, GW_METRIC_BAD_LABEL },
        { { S("a"), S(""), GW_METRIC_GAUGE, 1, dash, 0, NULL }, GW_METRIC_BAD_LABEL },
        { { S("a"), S(""), GW_METRIC_GAUGE, 1, reserved, 0, NULL }, GW_METRIC_BAD_LABEL },
        { { S("a"), S(""), GW_METRIC_GAUGE, 1, NULL, 0, NULL }, GW_METRIC_BAD_LABEL },
        { { S("a"), S(""), GW_METRIC_GAUGE, 2, twice, 0, NULL }, GW_METRIC_DUPLICATE_LABEL },
        { { S("a"), S(""), GW_METRIC_GAUGE, 9, nine, 0, NULL }, GW_METRIC_TOO_MANY_LABELS },
        { { S("a_seconds"), S(""), GW_METRIC_HISTOGRAM, 1, le, 0, NULL },
          GW_METRIC_RESERVED_LABEL },
        { { S("a_seconds"), S(""), GW_METRIC_HISTOGRAM, 0, NULL, 2, descending },
          GW_METRIC_BAD_BOUNDS },
        { { S("a_seconds"), S(""), GW_METRIC_HISTOGRAM, 0, NULL, 2, equal },
          GW_METRIC_BAD_BOUNDS },
        { { S("a_seconds"), S(""), GW_METRIC_HISTOGRAM, 0, NULL, 2, inf },
          GW_METRIC_BAD_BOUNDS },
        { { S("a_seconds"), S(""), GW_METRIC_HISTOGRAM, 0, NULL, 33, inf },
          GW_METRIC_BAD_BOUNDS },
        { { S("a"), S(""), 7, 0, NULL, 0, NULL }, GW_METRIC_BAD_TYPE },
    };
    size_t  i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        gw_metric_check_t  got = gw_metric_family_check(&cases[i].family);

        ck_assert_msg(got == cases[i].check, "case %zu (%.*s): %s", i,
                      (int) cases[i].family.name.len, cases[i].family.name.data,
                      gw_metric_check_text(got));
    }
    ck_assert_int_eq(gw_metric_family_check(NULL), GW_METRIC_BAD_NAME);
}
END_TEST


START_TEST(parses_bounds)
{
    double  b;

    ck_assert_int_eq(gw_metric_parse_bound("0.005", 5, &b), 0);
    ck_assert(b == 0.005);
    ck_assert_int_eq(gw_metric_parse_bound("10", 2, &b), 0);
    ck_assert(b == 10);
    ck_assert_int_eq(gw_metric_parse_bound("2.5e-1", 6, &b), 0);
    ck_assert(b == 0.25);
    ck_assert_int_eq(gw_metric_parse_bound("-1", 2, &b), 0);
    ck_assert(b == -1);

    ck_assert_int_eq(gw_metric_parse_bound("", 0, &b), -1);
    ck_assert_int_eq(gw_metric_parse_bound("1s", 2, &b), -1);
    ck_assert_int_eq(gw_metric_parse_bound("+1", 2, &b), -1);
    ck_assert_int_eq(gw_metric_parse_bound("inf", 3, &b), -1);
    ck_assert_int_eq(gw_metric_parse_bound("nan", 3, &b), -1);
    ck_assert_int_eq(gw_metric_parse_bound("1e999", 5, &b), -1);
    ck_assert_int_eq(gw_metric_parse_bound("0x10", 4, &b), -1);
}
END_TEST


/* A family written in parts (of any size) is the text written whole. */
START_TEST(written_in_parts)
{
    capture_t           whole, parts;
    gw_prom_writer_t    w;
    gw_metric_str_t     v[40][1];
    gw_metric_str_t     a[] = { S("r"), S("GET"), S("2xx") };
    char                names[40][8];
    uint64_t            buckets[6] = { 1, 0, 2, 0, 0, 3 };
    gw_metric_series_t  h[40], c[3];
    size_t              i, next, from, calls, budgets[] = { 0, 1, 8, 9, 10, 100 };
    unsigned            k;

    for (i = 0; i < 40; i++) {
        v[i][0].len = (size_t) snprintf(names[i], sizeof(names[i]), "/r%zu", i);
        v[i][0].data = names[i];
        h[i] = (gw_metric_series_t) { v[i], 0, buckets, (double) i / 10 };
    }
    for (i = 0; i < 3; i++) {
        c[i] = (gw_metric_series_t) { a, (double) i, NULL, 0 };
    }

    ck_assert_uint_eq(gw_prom_series_samples(&duration), 5 + 4);
    ck_assert_uint_eq(gw_prom_series_samples(&requests), 1);

    capture_init(&whole, 64);
    memset(&w, 0, sizeof(w));
    w.sink = &whole.sink;
    for (i = 0; i < 3; i++) {
        gw_prom_write_series(&w, &requests, &c[i]);
    }
    for (i = 0; i < 40; i++) {
        gw_prom_write_series(&w, &duration, &h[i]);
    }

    for (k = 0; k < sizeof(budgets) / sizeof(budgets[0]); k++) {
        capture_init(&parts, 5);
        memset(&w, 0, sizeof(w));
        w.sink = &parts.sink;

        for (from = 0, calls = 0; from < 3; from = next, calls++) {
            next = gw_prom_write_part(&w, &requests, c, 3, from, budgets[k]);
            ck_assert_uint_gt(next, from);           /* always progresses */
        }
        ck_assert_uint_eq(calls, budgets[k] <= 1 ? 3 : 1);

        for (from = 0, calls = 0; from < 40; from = next, calls++) {
            next = gw_prom_write_part(&w, &duration, h, 40, from, budgets[k]);
            ck_assert_uint_gt(next, from);
            /* a part stops once it holds the budget's samples */
            ck_assert_uint_le(next - from, budgets[k] / 9 + 1);
        }

        ck_assert_str_eq(capture_text(&parts), capture_text(&whole));
        capture_free(&parts);
    }

    /* nothing left: nothing written */
    ck_assert_uint_eq(gw_prom_write_part(&w, &duration, h, 40, 40, 100), 40);

    capture_free(&whole);
}
END_TEST


int
main(void)
{
    Suite  *s = suite_create("prometheus");
    TCase  *tc = tcase_create("prometheus");

    tcase_add_test(tc, counter_with_labels);
    tcase_add_test(tc, gauge_without_labels);
    tcase_add_test(tc, histogram_is_cumulative);
    tcase_add_test(tc, histogram_without_labels);
    tcase_add_test(tc, escapes_label_values);
    tcase_add_test(tc, escapes_help);
    tcase_add_test(tc, formats_numbers);
    tcase_add_test(tc, one_header_per_family);
    tcase_add_test(tc, stops_when_space_runs_out);
    tcase_add_test(tc, many_series);
    tcase_add_test(tc, written_in_parts);
    tcase_add_test(tc, checks_families);
    tcase_add_test(tc, parses_bounds);
    suite_add_tcase(s, tc);

    return gw_unit_run(s);
}
