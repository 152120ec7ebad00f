/* Check unit tests: the incremental HTTP/1.1 response reader. */

#include <stdlib.h>
#include <string.h>

#include "unit.h"

#include "gw_http.h"


typedef struct {
    char    body[8192];
    size_t  len;
    int     refuse_after;       /* > 0: refuse once this many bytes came */
} sink_t;


static int
collect(void *ctx, const char *data, size_t len)
{
    sink_t  *s = ctx;

    ck_assert_uint_le(s->len + len, sizeof(s->body) - 1);
    memcpy(s->body + s->len, data, len);
    s->len += len;
    s->body[s->len] = '\0';
    return s->refuse_after > 0 && s->len >= (size_t) s->refuse_after;
}


/* Reads text in pieces of step bytes (0: at once); *used in total. */
static gw_http_rc_t
read_response(gw_http_response_t *r, sink_t *sink, const char *text,
    size_t step, size_t *consumed)
{
    gw_http_rc_t  rc = GW_HTTP_AGAIN;
    size_t        len = strlen(text), i = 0, n, used;

    memset(sink, 0, sizeof(*sink));
    gw_http_response_reset(r, collect, sink);
    if (step == 0) {
        step = len ? len : 1;
    }
    while (i < len && rc == GW_HTTP_AGAIN) {
        n = len - i < step ? len - i : step;
        rc = gw_http_response_feed(r, text + i, n, &used);
        ck_assert_uint_le(used, n);
        if (rc == GW_HTTP_AGAIN) {
            ck_assert_uint_eq(used, n);
        }
        i += used;
    }
    if (consumed) {
        *consumed = i;
    }
    return rc;
}


static const char *
header(gw_http_response_t *r, const char *name)
{
    static char  buf[256];
    size_t       len;
    const char  *v = gw_http_response_header(r, name, &len);

    if (v == NULL) {
        return NULL;
    }
    memcpy(buf, v, len);
    buf[len] = '\0';
    return buf;
}


START_TEST(reads_content_length_in_any_pieces)
{
    static const char  *text =
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: application/json\r\n"
        "X-Consul-Index: 4242\r\n"
        "x-consul-index:  4243 \r\n"
        "Content-Length: 10\r\n"
        "\r\n"
        "[{\"a\":1} ]HTTP/1.1 200 OK\r\n";
    gw_http_response_t  *r = gw_http_response_new(4096);
    sink_t               sink;
    size_t               step, used;

    for (step = 0; step < 60; step++) {
        ck_assert_int_eq(read_response(r, &sink, text, step, &used), GW_HTTP_DONE);
        ck_assert_str_eq(sink.body, "[{\"a\":1} ]");
        ck_assert_uint_eq(used, strstr(text, "]HTTP") + 1 - text);
        ck_assert_int_eq(gw_http_response_status(r), 200);
        ck_assert_int_eq(gw_http_response_keep_alive(r), 1);
        ck_assert_int_eq(gw_http_response_has_headers(r), 1);
        /* the last of a repeated header, without its whitespace */
        ck_assert_str_eq(header(r, "X-CONSUL-INDEX"), "4243");
        ck_assert_ptr_null(header(r, "X-Missing"));
    }
    gw_http_response_free(r);
}
END_TEST


START_TEST(reads_chunked_bodies)
{
    static const char  *text =
        "HTTP/1.1 200 OK\n"
        "Transfer-Encoding: Chunked\n"
        "\n"
        "5;name=value\r\n[{\"a\"\r\n"
        "A\r\n:1},{\"b\":2\r\n"
        "00000002 \r\n}]\r\n"
        "0\r\n"
        "X-Trailer: yes\r\n"
        "\r\n";
    gw_http_response_t  *r = gw_http_response_new(4096);
    sink_t               sink;
    size_t               step, used;

    for (step = 0; step < 40; step++) {
        ck_assert_int_eq(read_response(r, &sink, text, step, &used), GW_HTTP_DONE);
        ck_assert_str_eq(sink.body, "[{\"a\":1},{\"b\":2}]");
        ck_assert_uint_eq(used, strlen(text));
        ck_assert_int_eq(gw_http_response_keep_alive(r), 1);
    }
    gw_http_response_free(r);
}
END_TEST


START_TEST(reads_to_the_end_of_the_connection)
{
    gw_http_response_t  *r = gw_http_response_new(4096);
    sink_t               sink;

    ck_assert_int_eq(read_response(r, &sink, "HTTP/1.0 200 OK\r\n\r\nabc", 0,
                                   NULL), GW_HTTP_AGAIN);
    ck_assert_int_eq(gw_http_response_eof(r), GW_HTTP_DONE);
    ck_assert_str_eq(sink.body, "abc");
    ck_assert_int_eq(gw_http_response_keep_alive(r), 0);

    /* a length-framed body cut short is an error */
    ck_assert_int_eq(read_response(r, &sink, "HTTP/1.1 200 OK\r\n"
                                   "Content-Length: 5\r\n\r\nabc", 0, NULL),
                     GW_HTTP_AGAIN);
    ck_assert_int_eq(gw_http_response_eof(r), GW_HTTP_ERROR);
    ck_assert_str_eq(gw_http_response_error(r),
                     "the connection closed before the response ended");

    /* so is a header cut short */
    ck_assert_int_eq(read_response(r, &sink, "HTTP/1.1 200 OK\r\nX-A:", 0,
                                   NULL), GW_HTTP_AGAIN);
    ck_assert_int_eq(gw_http_response_has_headers(r), 0);
    ck_assert_int_eq(gw_http_response_eof(r), GW_HTTP_ERROR);
    gw_http_response_free(r);
}
END_TEST


START_TEST(connection_reuse)
{
    static const struct {
        const char  *text;
        int          keep_alive;
    } cases[] = {
        { "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 1 },
        { "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 0 },
        { "HTTP/1.1 200 OK\r\nConnection: Upgrade, CLOSE\r\nContent-Length: 0\r\n\r\n", 0 },
        { "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", 1 },
        { "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 0 },
        { "HTTP/1.1 204 No Content\r\n\r\n", 1 },
        { "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", 1 },
    };
    gw_http_response_t  *r = gw_http_response_new(4096);
    sink_t               sink;
    size_t               i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_int_eq(read_response(r, &sink, cases[i].text, 0, NULL),
                         GW_HTTP_DONE);
        ck_assert_msg(gw_http_response_keep_alive(r) == cases[i].keep_alive,
                      "%s", cases[i].text);
        ck_assert_uint_eq(sink.len, 0);
    }
    gw_http_response_free(r);
}
END_TEST


START_TEST(skips_interim_responses)
{
    gw_http_response_t  *r = gw_http_response_new(4096);
    sink_t               sink;

    ck_assert_int_eq(read_response(r, &sink, "HTTP/1.1 100 Continue\r\n\r\n"
                                   "HTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\n"
                                   "HTTP/1.1 500 Internal Server Error\r\n"
                                   "Content-Length: 2\r\n\r\nno", 3, NULL),
                     GW_HTTP_DONE);
    ck_assert_int_eq(gw_http_response_status(r), 500);
    ck_assert_ptr_null(header(r, "Link"));
    ck_assert_str_eq(sink.body, "no");
    gw_http_response_free(r);
}
END_TEST


START_TEST(refuses_malformed_responses)
{
    static const char  *bad[] = {
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 099 Low\r\n\r\n",
        "HTTP/1.1  200 OK\r\n\r\n",
        "ICY 200 OK\r\n\r\n",
        "HTTP/1.1 200 OK\rX: y\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\n\r\n",
        "HTTP/1.1 200 OK\r\n folded: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n",
        "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\n: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nNo-Colon\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: a\x01z\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nx\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1 x\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            "10000000000000000\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n folded\r\n",
    };
    gw_http_response_t  *r = gw_http_response_new(4096);
    sink_t               sink;
    size_t               i, step;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        for (step = 0; step < 3; step++) {
            ck_assert_msg(read_response(r, &sink, bad[i], step, NULL)
                          == GW_HTTP_ERROR, "accepted %s", bad[i]);
            ck_assert_str_ne(gw_http_response_error(r), "");
        }
    }
    gw_http_response_free(r);
}
END_TEST


START_TEST(bounds_the_header)
{
    gw_http_response_t  *r = gw_http_response_new(64);
    sink_t               sink;
    char                 text[4096];

    ck_assert_int_eq(read_response(r, &sink, "HTTP/1.1 200 OK\r\n"
                                   "Content-Length: 0\r\n\r\n", 0, NULL),
                     GW_HTTP_DONE);

    strcpy(text, "HTTP/1.1 200 OK\r\nX-Long: ");
    memset(text + strlen(text), 'a', 100);
    strcpy(text + 26 + 100, "\r\n\r\n");
    ck_assert_int_eq(read_response(r, &sink, text, 7, NULL), GW_HTTP_ERROR);
    ck_assert_str_eq(gw_http_response_error(r), "the response header is too long");

    /* many short lines count together */
    strcpy(text, "HTTP/1.1 200 OK\r\n");
    while (strlen(text) < 200) {
        strcat(text, "A: b\r\n");
    }
    strcat(text, "\r\n");
    ck_assert_int_eq(read_response(r, &sink, text, 0, NULL), GW_HTTP_ERROR);
    gw_http_response_free(r);
}
END_TEST


START_TEST(a_refused_body_stops_reading)
{
    gw_http_response_t  *r = gw_http_response_new(4096);
    sink_t               sink;
    size_t               used, len;
    const char          *text = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
                                "0123456789";

    memset(&sink, 0, sizeof(sink));
    sink.refuse_after = 4;
    gw_http_response_reset(r, collect, &sink);
    len = strlen(text);
    ck_assert_int_eq(gw_http_response_feed(r, text, len - 6, &used), GW_HTTP_ERROR);
    ck_assert_str_eq(gw_http_response_error(r), "the body was refused");
    ck_assert_int_eq(gw_http_response_feed(r, text + len - 6, 6, &used),
                     GW_HTTP_ERROR);
    ck_assert_int_eq(gw_http_response_keep_alive(r), 0);
    gw_http_response_free(r);
}
END_TEST


int
main(void)
{
    Suite  *s = suite_create("http_response");
    TCase  *tc = tcase_create("http_response");

    tcase_add_test(tc, reads_content_length_in_any_pieces);
    tcase_add_test(tc, reads_chunked_bodies);
    tcase_add_test(tc, reads_to_the_end_of_the_connection);
    tcase_add_test(tc, connection_reuse);
    tcase_add_test(tc, skips_interim_responses);
    tcase_add_test(tc, refuses_malformed_responses);
    tcase_add_test(tc, bounds_the_header);
    tcase_add_test(tc, a_refused_body_stops_reading);
    suite_add_tcase(s, tc);

    return gw_unit_run(s);
}
