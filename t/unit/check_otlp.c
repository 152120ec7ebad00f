/*
 * Check unit tests: OTLP span encoding and batching, compared byte for
 * byte with protoc's encoding of the same messages (otlp_vectors.h), the
 * collector's answer, and trace-id ratio sampling.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

#include "gw_otlp.h"
#include "gw_trace.h"
#include "otlp_vectors.h"


#define S(text)  { text, sizeof(text) - 1 }
#define INT(key, value)  { S(key), S(""), value, 1 }
#define ATTR(key, value)  { S(key), S(value), 0, 0 }


static const gw_otlp_attr_t  resource[] = { ATTR("service.name", "checkout-gw") };


static gw_otlp_batcher_t *
batcher(size_t batch, size_t queue)
{
    gw_otlp_batcher_t  *b;

    b = gw_otlp_batcher_create(resource, 1, (gw_otlp_str_t) S("ngx_http_gateway_module"),
                               (gw_otlp_str_t) S("1.22.1"), batch, queue);
    ck_assert_ptr_nonnull(b);
    return b;
}


static void
ids(gw_trace_t *t, const char *trace_id, const char *span_id, const char *parent_id)
{
    memset(t, 0, sizeof(*t));
    memcpy(t->trace_id, trace_id, GW_TRACE_ID_LEN);
    memcpy(t->span_id, span_id, GW_SPAN_ID_LEN);
    memcpy(t->flags, "01", GW_TRACE_FLAGS_LEN);
    if (parent_id) {
        memcpy(t->parent_id, parent_id, GW_SPAN_ID_LEN);
        t->continued = 1;
    }
}


/* Span A of make-otlp-vectors.pl: a continued trace answered with a 503. */
static gw_trace_t      trace_a;
static gw_otlp_attr_t  attrs_a[] = {
    ATTR("http.request.method", "GET"), INT("http.response.status_code", 503),
    ATTR("url.path", "/api/x"), INT("zero", 0), ATTR("empty", ""), ATTR("", "no key")
};

static gw_otlp_span_t
span_a(void)
{
    gw_otlp_span_t  s = { &trace_a, S("GET /api"), S("rojo=00f067aa0ba902b7"),
                          1700000000123000000ULL, 1700000000456000000ULL, 1,
                          attrs_a, sizeof(attrs_a) / sizeof(attrs_a[0]) };

    ids(&trace_a, "4bf92f3577b34da6a3ce929d0e0e4736", "b7ad6b7169203331", "00f067aa0ba902b7");
    return s;
}


/* Span B: a new trace, text that is not UTF-8, a value cut at the limit. */
static gw_trace_t      trace_b;
static char            cut[GW_OTLP_VALUE_MAX + 1];
static gw_otlp_attr_t  attrs_b[3];

static gw_otlp_span_t
span_b(void)
{
    static const char  path[] = "/caf\xc3\xa9/\xff\xfe\xe2\x82";
    gw_otlp_span_t     s = { &trace_b, S("POST"), { NULL, 0 },
                             1700000001000000000ULL, 1700000001000000000ULL, 0, attrs_b, 3 };

    ids(&trace_b, "0af7651916cd43dd8448eb211c80319c", "00f067aa0ba902b7", NULL);

    /* 511 ASCII bytes, then a two-byte character that would end past 512 */
    memset(cut, 'a', GW_OTLP_VALUE_MAX - 1);
    memcpy(cut + GW_OTLP_VALUE_MAX - 1, "\xc3\xa9", 2);

    attrs_b[0] = (gw_otlp_attr_t) { S("url.path"), { path, sizeof(path) - 1 }, 0, 0 };
    attrs_b[1] = (gw_otlp_attr_t) { S("cut"), { cut, sizeof(cut) }, 0, 0 };
    attrs_b[2] = (gw_otlp_attr_t) INT("negative", -1);
    return s;
}


/* Span C: 33 values longer than the limit, over 16 KB in all. */
static gw_trace_t      trace_c;
static char            keys_c[33][16];
static char            long_value[600];
static gw_otlp_attr_t  attrs_c[33];

static gw_otlp_span_t
span_c(void)
{
    gw_otlp_span_t  s = { &trace_c, S("GET"), { NULL, 0 }, 1, 2, 0, attrs_c, 33 };

    ids(&trace_c, "0af7651916cd43dd8448eb211c80319d", "0102030405060708", NULL);
    memcpy(trace_c.flags, "00", 2);
    memset(long_value, 'x', sizeof(long_value));

    for (int i = 0; i < 33; i++) {
        snprintf(keys_c[i], sizeof(keys_c[i]), "k%02d", i);
        attrs_c[i] = (gw_otlp_attr_t) { { keys_c[i], 3 }, { long_value, sizeof(long_value) }, 0, 0 };
    }
    return s;
}


/* Span D: shorter than 128 bytes, a key that is not ASCII. */
static gw_trace_t      trace_d;
static gw_otlp_attr_t  attrs_d[] = { ATTR("caf\xc3\xa9", "1") };

static gw_otlp_span_t
span_d(void)
{
    gw_otlp_span_t  s = { &trace_d, S("GET"), { NULL, 0 }, 1, 2, 0, attrs_d, 1 };

    ids(&trace_d, "0af7651916cd43dd8448eb211c80319e", "0102030405060709", NULL);
    return s;
}


/* Span E: KeyValues of 127 and 128 bytes, around the one-byte length. */
static gw_trace_t      trace_e;
static char            v120[120], v121[121];
static char            keys_e[4][121];
static gw_otlp_attr_t  attrs_e[6];

static gw_otlp_span_t
span_e(void)
{
    gw_otlp_span_t  s = { &trace_e, S("GET"), { NULL, 0 }, 1, 2, 0, attrs_e, 6 };

    ids(&trace_e, "0af7651916cd43dd8448eb211c80319f", "010203040506070a", NULL);
    memset(v120, 'v', sizeof(v120));
    memset(v121, 'v', sizeof(v121));
    attrs_e[0] = (gw_otlp_attr_t) { S("k"), { v120, 120 }, 0, 0 };
    attrs_e[1] = (gw_otlp_attr_t) { S("k"), { v121, 121 }, 0, 0 };

    memset(keys_e[0], 'k', 120);
    memset(keys_e[1], 'k', 121);
    memset(keys_e[2], 'i', 120);
    memset(keys_e[3], 'i', 121);
    attrs_e[2] = (gw_otlp_attr_t) { { keys_e[0], 120 }, S("v"), 0, 0 };
    attrs_e[3] = (gw_otlp_attr_t) { { keys_e[1], 121 }, S("v"), 0, 0 };
    attrs_e[4] = (gw_otlp_attr_t) { { keys_e[2], 120 }, { NULL, 0 }, 300, 1 };
    attrs_e[5] = (gw_otlp_attr_t) { { keys_e[3], 121 }, { NULL, 0 }, 300, 1 };
    return s;
}


static void
assert_body(gw_otlp_batcher_t *b, size_t spans, const unsigned char *expected, size_t len)
{
    const unsigned char  *body;
    size_t                body_len;

    ck_assert_uint_eq(gw_otlp_batcher_take(b, &body, &body_len), spans);
    ck_assert_uint_eq(body_len, len);
    for (size_t i = 0; i < len; i++) {
        ck_assert_msg(body[i] == expected[i], "byte %zu: 0x%02x, protoc wrote 0x%02x",
                      i, body[i], expected[i]);
    }
}


static gw_otlp_rc_e
add(gw_otlp_batcher_t *b, gw_otlp_span_t span)
{
    return gw_otlp_batcher_add(b, &span);
}


START_TEST(one_span_as_protoc_encodes_it)
{
    gw_otlp_batcher_t  *b = batcher(1, 4);

    ck_assert_int_eq(add(b, span_a()), GW_OTLP_OK);
    assert_body(b, 1, request_a, request_a_len);
    gw_otlp_batcher_destroy(b);
}
END_TEST


/* An attribute key encoded once, in memory of its own (as the glue does). */
static gw_otlp_key_t
key(const char *name)
{
    gw_otlp_key_t   k;
    unsigned char  *p = malloc(gw_otlp_key_room(strlen(name)));

    ck_assert_ptr_nonnull(p);
    k.data = p;
    k.len = gw_otlp_key_encode(name, strlen(name), p);
    return k;
}


/*
 * Span A written in steps, its attributes one by one and as an array of
 * strings, with keys encoded once: the same bytes as protoc's.
 */
START_TEST(a_span_written_in_steps_as_protoc_encodes_it)
{
    gw_otlp_batcher_t  *b = batcher(1, 4);
    gw_otlp_span_t      s = span_a();
    gw_otlp_key_t       keys[] = { key("http.request.method"), key("http.response.status_code"),
                                   key("url.path"), key("zero"), key("empty"), key("") };
    gw_otlp_str_t       strs[] = { S("/api/x"), S("") };

    s.attrs = NULL;
    s.nattrs = 0;
    ck_assert_uint_eq(keys[5].len, 0);

    ck_assert_int_eq(gw_otlp_span_open(b, &s), GW_OTLP_OK);
    gw_otlp_span_str(b, &keys[0], "GET", 3);
    gw_otlp_span_int(b, &keys[1], 503);
    gw_otlp_span_strs(b, &keys[2], strs, 1);
    gw_otlp_span_int(b, &keys[3], 0);
    gw_otlp_span_strs(b, &keys[4], &strs[1], 1);          /* empty: left out */
    gw_otlp_span_str(b, &keys[5], "no key", 6);           /* no key: left out */
    ck_assert_int_eq(gw_otlp_span_close(b), GW_OTLP_OK);
    assert_body(b, 1, request_a, request_a_len);

    gw_otlp_batcher_destroy(b);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        free((void *) keys[i].data);
    }
}
END_TEST


/* A span being written is not taken; one not closed is dropped at the next. */
START_TEST(an_open_span_is_not_sent)
{
    gw_otlp_batcher_t    *b = batcher(1, 4);
    gw_otlp_span_t        s = span_a();
    const unsigned char  *body;
    size_t                len;

    ck_assert_int_eq(gw_otlp_span_open(b, &s), GW_OTLP_OK);
    ck_assert_uint_eq(gw_otlp_batcher_take(b, &body, &len), 0);
    ck_assert_int_eq(gw_otlp_span_open(b, &s), GW_OTLP_OK);   /* the first is dropped */
    ck_assert_int_eq(gw_otlp_span_close(b), GW_OTLP_OK);
    ck_assert_int_eq(gw_otlp_span_close(b), GW_OTLP_INVALID); /* none is open */
    assert_body(b, 1, request_a, request_a_len);
    gw_otlp_batcher_destroy(b);
}
END_TEST


/* Two spans in one batch come out as protoc encodes the expected request. */
static void
assert_two_spans(gw_otlp_span_t first, gw_otlp_span_t second,
    const unsigned char *expected, size_t len)
{
    gw_otlp_batcher_t  *b = batcher(2, 4);

    ck_assert_int_eq(add(b, first), GW_OTLP_OK);
    ck_assert_int_eq(add(b, second), GW_OTLP_OK);
    assert_body(b, 2, expected, len);
    gw_otlp_batcher_destroy(b);
}


START_TEST(utf8_limits_and_long_lengths_as_protoc_encodes_them)
{
    assert_two_spans(span_b(), span_c(), request_bc, request_bc_len);
}
END_TEST


START_TEST(short_spans_and_one_byte_lengths_as_protoc_encodes_them)
{
    assert_two_spans(span_d(), span_e(), request_de, request_de_len);
}
END_TEST


START_TEST(batches_are_cut_at_batch_spans)
{
    gw_otlp_batcher_t    *b = batcher(1, 4);
    const unsigned char  *body;
    size_t                len;

    ck_assert_int_eq(add(b, span_a()), GW_OTLP_OK);
    ck_assert_int_eq(add(b, span_b()), GW_OTLP_OK);
    ck_assert_int_eq(add(b, span_c()), GW_OTLP_OK);
    ck_assert_uint_eq(gw_otlp_batcher_pending(b), 3);

    assert_body(b, 1, request_a, request_a_len);
    ck_assert_uint_eq(gw_otlp_batcher_pending(b), 2);
    ck_assert_uint_eq(gw_otlp_batcher_held(b), 3);

    /* one batch in flight at a time, whose body can be had again */
    ck_assert_uint_eq(gw_otlp_batcher_take(b, &body, &len), 0);
    gw_otlp_batcher_body(b, &body, &len);
    ck_assert_uint_eq(len, request_a_len);
    ck_assert(memcmp(body, request_a, len) == 0);

    gw_otlp_batcher_release(b, 1);
    ck_assert_uint_eq(gw_otlp_batcher_held(b), 2);
    ck_assert_uint_eq(gw_otlp_batcher_take(b, &body, &len), 1);
    gw_otlp_batcher_release(b, 1);
    ck_assert_uint_eq(gw_otlp_batcher_take(b, &body, &len), 1);
    gw_otlp_batcher_release(b, 1);
    ck_assert_uint_eq(gw_otlp_batcher_held(b), 0);
    ck_assert_uint_eq(gw_otlp_batcher_take(b, &body, &len), 0);
    gw_otlp_batcher_body(b, &body, &len);
    ck_assert_uint_eq(len, 0);
    gw_otlp_batcher_destroy(b);
}
END_TEST


START_TEST(a_failed_batch_is_sent_again_whole)
{
    gw_otlp_batcher_t  *b = batcher(2, 8);

    ck_assert_int_eq(add(b, span_b()), GW_OTLP_OK);
    ck_assert_int_eq(add(b, span_c()), GW_OTLP_OK);
    assert_body(b, 2, request_bc, request_bc_len);

    /* spans that end meanwhile wait in the next batch */
    ck_assert_int_eq(add(b, span_a()), GW_OTLP_OK);
    gw_otlp_batcher_release(b, 0);
    ck_assert_uint_eq(gw_otlp_batcher_held(b), 3);

    assert_body(b, 2, request_bc, request_bc_len);
    gw_otlp_batcher_release(b, 1);
    assert_body(b, 1, request_a, request_a_len);
    gw_otlp_batcher_release(b, 1);
    gw_otlp_batcher_destroy(b);
}
END_TEST


START_TEST(a_partial_batch_goes_when_asked_and_keeps_filling_after)
{
    gw_otlp_batcher_t  *b = batcher(2, 8);

    ck_assert_int_eq(add(b, span_a()), GW_OTLP_OK);
    assert_body(b, 1, request_a, request_a_len);

    /* the taken chunk is closed: new spans go to a new one */
    ck_assert_int_eq(add(b, span_b()), GW_OTLP_OK);
    ck_assert_int_eq(add(b, span_c()), GW_OTLP_OK);
    gw_otlp_batcher_release(b, 1);
    assert_body(b, 2, request_bc, request_bc_len);
    gw_otlp_batcher_release(b, 1);
    gw_otlp_batcher_destroy(b);
}
END_TEST


START_TEST(a_full_queue_drops)
{
    gw_otlp_batcher_t  *b = batcher(2, 3);

    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(add(b, span_a()), GW_OTLP_OK);
    }
    ck_assert_int_eq(add(b, span_a()), GW_OTLP_DROPPED);

    /* spans in flight still count: the queue bounds memory */
    {
        const unsigned char  *body;
        size_t                len;

        ck_assert_uint_eq(gw_otlp_batcher_take(b, &body, &len), 2);
        ck_assert_int_eq(add(b, span_a()), GW_OTLP_DROPPED);
        gw_otlp_batcher_release(b, 1);
    }
    ck_assert_int_eq(add(b, span_a()), GW_OTLP_OK);
    ck_assert_uint_eq(gw_otlp_batcher_held(b), 2);
    gw_otlp_batcher_destroy(b);
}
END_TEST


START_TEST(ids_that_are_not_hex_are_refused)
{
    gw_otlp_batcher_t  *b = batcher(2, 3);
    gw_otlp_span_t      s = span_a();

    trace_a.span_id[3] = 'G';
    ck_assert_int_eq(gw_otlp_batcher_add(b, &s), GW_OTLP_INVALID);
    ck_assert_uint_eq(gw_otlp_batcher_held(b), 0);

    /* in any place of any id, the bytes next to the digits' ranges */
    static const char  near[] = "/:@`gAF\x80\xb0\xe1";

    for (size_t id = 0; id < 3; id++) {
        for (size_t i = 0; i < (id ? GW_SPAN_ID_LEN : GW_TRACE_ID_LEN); i++) {
            for (const char *c = near; *c; c++) {
                s = span_a();
                (id == 0 ? trace_a.trace_id : id == 1 ? trace_a.span_id : trace_a.parent_id)[i] = *c;
                ck_assert_int_eq(gw_otlp_batcher_add(b, &s), GW_OTLP_INVALID);
            }
        }
    }
    ck_assert_uint_eq(gw_otlp_batcher_held(b), 0);

    /* nothing of it is left behind */
    ck_assert_int_eq(add(b, span_a()), GW_OTLP_OK);
    assert_body(b, 1, request_a, request_a_len);
    gw_otlp_batcher_destroy(b);
}
END_TEST


START_TEST(bad_arguments)
{
    ck_assert_ptr_null(gw_otlp_batcher_create(resource, 1, (gw_otlp_str_t) S("x"),
                                              (gw_otlp_str_t) S(""), 0, 1));
    ck_assert_ptr_null(gw_otlp_batcher_create(resource, 1, (gw_otlp_str_t) S("x"),
                                              (gw_otlp_str_t) S(""), 1, 0));
    ck_assert_ptr_null(gw_otlp_batcher_create(NULL, 1, (gw_otlp_str_t) S("x"),
                                              (gw_otlp_str_t) S(""), 1, 1));
}
END_TEST


START_TEST(collector_answers)
{
    int64_t        rejected = -1;
    gw_otlp_str_t  message = S("unset");

    ck_assert_int_eq(gw_otlp_parse_response(response_partial, response_partial_len,
                                            &rejected, &message), 0);
    ck_assert_int_eq(rejected, 3);
    ck_assert_uint_eq(message.len, 13);
    ck_assert(memcmp(message.data, "spans too old", 13) == 0);

    ck_assert_int_eq(gw_otlp_parse_response(response_empty, response_empty_len,
                                            &rejected, &message), 0);
    ck_assert_int_eq(rejected, 0);
    ck_assert_uint_eq(message.len, 0);

    /* an unknown field is skipped */
    {
        static const unsigned char  later[] = { 0x10, 0x05, 0x0a, 0x02, 0x08, 0x07 };

        ck_assert_int_eq(gw_otlp_parse_response(later, sizeof(later), &rejected, &message), 0);
        ck_assert_int_eq(rejected, 7);
    }

    /* truncated, wrong wire type, field 0, a group, an endless varint */
    {
        static const unsigned char  bad[][11] = {
            { 0x0a, 0x05, 0x08 },
            { 0x08, 0x01 },
            { 0x0a, 0x02, 0x0a, 0x00 },
            { 0x00, 0x01 },
            { 0x0b, 0x0c },
            { 0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },
        };
        static const size_t         len[] = { 3, 2, 4, 2, 2, 11 };

        for (size_t i = 0; i < sizeof(len) / sizeof(len[0]); i++) {
            ck_assert_msg(gw_otlp_parse_response(bad[i], len[i], &rejected, &message) == -1,
                          "accepted bad answer %zu", i);
        }
    }
}
END_TEST


START_TEST(http_methods)
{
    ck_assert_str_eq(gw_otlp_known_method("GET", 3), "GET");
    ck_assert_str_eq(gw_otlp_known_method("PATCH", 5), "PATCH");
    ck_assert_ptr_null(gw_otlp_known_method("get", 3));
    ck_assert_ptr_null(gw_otlp_known_method("PROPFIND", 8));
    ck_assert_ptr_null(gw_otlp_known_method("GETX", 3 + 1));
    ck_assert_ptr_null(gw_otlp_known_method("", 0));
}
END_TEST


static uint64_t
threshold(const char *ratio)
{
    uint64_t  t = 0;

    ck_assert_msg(gw_trace_ratio_threshold(ratio, strlen(ratio), &t) == 0, "refused %s", ratio);
    return t;
}


START_TEST(ratio_thresholds)
{
    static const char  *bad[] = { "", "2", "1.5", "1.01", "-0.1", "0.", ".5", "0,5",
                                  "0.1234567890", "0.5 ", "1e-3", "0x1" };
    uint64_t            t;

    ck_assert_uint_eq(threshold("1"), 0);
    ck_assert_uint_eq(threshold("1.000"), 0);
    ck_assert_uint_eq(threshold("0"), 1ULL << 56);
    ck_assert_uint_eq(threshold("0.0"), 1ULL << 56);
    ck_assert_uint_eq(threshold("0.5"), 1ULL << 55);
    ck_assert_uint_eq(threshold("0.25"), 3ULL << 54);
    /* 2^56 - 0.1 * 2^56 (7205759403792793.6, rounded) */
    ck_assert_uint_eq(threshold("0.1"), 64851834634135142ULL);
    ck_assert_uint_eq(threshold("0.000000001"), (1ULL << 56) - 72057594ULL);

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(gw_trace_ratio_threshold(bad[i], strlen(bad[i]), &t) == -1,
                      "accepted \"%s\"", bad[i]);
    }
}
END_TEST


START_TEST(sampling_reads_the_last_56_bits)
{
    /* the first 18 hex digits do not matter */
    ck_assert(gw_trace_id_sampled("ffffffffffffffffff00000000000000", threshold("1")));
    ck_assert(!gw_trace_id_sampled("ffffffffffffffffff7fffffffffffff", threshold("0.5")));
    ck_assert(gw_trace_id_sampled("00000000000000000080000000000000", threshold("0.5")));
    ck_assert(gw_trace_id_sampled("0000000000000000000000000000000f", threshold("1")));
    ck_assert(!gw_trace_id_sampled("00000000000000000000000000000001", threshold("0.5")));
    ck_assert(gw_trace_id_sampled("000000000000000000ffffffffffffff", threshold("0.000000001")));
    ck_assert(!gw_trace_id_sampled("000000000000000000ffffffffffffff", threshold("0")));
    ck_assert(!gw_trace_id_sampled("000000000000000000FFFFFFFFFFFFFF", threshold("0.5")));
}
END_TEST


START_TEST(sampling_keeps_the_ratio_and_is_monotonic)
{
    static const char  *ratios[] = { "0.01", "0.1", "0.5", "0.9" };
    static const int    expected[] = { 200, 2000, 10000, 18000 };
    uint64_t            thresholds[4];
    uint64_t            state = 88172645463325252ULL;
    int                 kept[4] = { 0 }, not_monotonic = 0, disagree = 0;
    char                id[GW_TRACE_ID_LEN + 1];

    for (int r = 0; r < 4; r++) {
        thresholds[r] = threshold(ratios[r]);
    }

    for (int n = 0; n < 20000; n++) {
        int  previous = 0;

        for (int i = 0; i < GW_TRACE_ID_LEN; i++) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            id[i] = "0123456789abcdef"[state & 15];
        }

        for (int r = 0; r < 4; r++) {
            int  sampled = gw_trace_id_sampled(id, thresholds[r]);

            /* kept at a ratio: kept at every higher one */
            not_monotonic += previous && !sampled;
            previous = sampled;
            kept[r] += sampled;

            /* a new trace of the gateway decides alike (its own reading) */
            gw_trace_t  t;
            ids(&t, id, "00f067aa0ba902b7", NULL);
            gw_trace_sample_new(&t, thresholds[r]);
            disagree += (t.flags[1] == '1') != sampled;
        }
    }

    ck_assert_int_eq(not_monotonic, 0);
    ck_assert_int_eq(disagree, 0);

    /* within 5 standard deviations (at most 71 here) of the expected count */
    for (int r = 0; r < 4; r++) {
        ck_assert_msg(abs(kept[r] - expected[r]) < 5 * 71, "ratio %s kept %d of 20000",
                      ratios[r], kept[r]);
    }
}
END_TEST


int
main(void)
{
    Suite  *s = suite_create("otlp");
    TCase  *tc = tcase_create("core");

    tcase_add_test(tc, one_span_as_protoc_encodes_it);
    tcase_add_test(tc, a_span_written_in_steps_as_protoc_encodes_it);
    tcase_add_test(tc, an_open_span_is_not_sent);
    tcase_add_test(tc, utf8_limits_and_long_lengths_as_protoc_encodes_them);
    tcase_add_test(tc, short_spans_and_one_byte_lengths_as_protoc_encodes_them);
    tcase_add_test(tc, batches_are_cut_at_batch_spans);
    tcase_add_test(tc, a_failed_batch_is_sent_again_whole);
    tcase_add_test(tc, a_partial_batch_goes_when_asked_and_keeps_filling_after);
    tcase_add_test(tc, a_full_queue_drops);
    tcase_add_test(tc, ids_that_are_not_hex_are_refused);
    tcase_add_test(tc, bad_arguments);
    tcase_add_test(tc, collector_answers);
    tcase_add_test(tc, http_methods);
    tcase_add_test(tc, ratio_thresholds);
    tcase_add_test(tc, sampling_reads_the_last_56_bits);
    tcase_add_test(tc, sampling_keeps_the_ratio_and_is_monotonic);
    suite_add_tcase(s, tc);

    return gw_unit_run(s);
}
