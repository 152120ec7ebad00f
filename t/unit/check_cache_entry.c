/* Check unit tests: the cache entry format, written and read back. */

#include <stdlib.h>
#include <string.h>

#include "unit.h"

#include "cache_unit.h"


static gw_cache_entry_meta_t
meta(void)
{
    gw_cache_entry_meta_t  m;

    memset(&m, 0, sizeof(m));
    m.status = 200;
    m.stored_at = NOW;
    m.initial_age = 5;
    m.lifetime = 60;

    return m;
}


/* Writes an entry with these headers and body into a fresh allocation. */
static unsigned char *
encode(const gw_cache_entry_meta_t *m, const gw_cache_str_t *headers,
    size_t n, const void *body, size_t body_len, size_t *len)
{
    size_t          head;
    unsigned char  *out;

    head = gw_cache_entry_head_size(m, headers, n);
    ck_assert_uint_gt(head, 0);

    out = malloc(head + body_len);
    ck_assert_ptr_nonnull(out);

    ck_assert_uint_eq(gw_cache_entry_write_head(out, head, m, headers, n,
                                                body_len),
                      head);
    memcpy(out + head, body, body_len);
    *len = head + body_len;

    return out;
}


static unsigned char *
sample(size_t *len)
{
    gw_cache_entry_meta_t  m = meta();
    gw_cache_str_t         h[] = {
        str("Content-Type"), str("application/octet-stream"),
        str("Server"), str("upstream/1.0"),                /* not stored */
        str("ETag"), str("\"v1\""),
        str("X-Empty"), str(""),
    };

    return encode(&m, h, 4, "\0body\r\n\xff", 8, len);
}


START_TEST(round_trip)
{
    size_t            len, cursor = 0;
    unsigned char    *data = sample(&len);
    gw_cache_entry_t  e;
    gw_cache_str_t    name, value;

    ck_assert_int_eq(gw_cache_entry_decode(data, len, NOW + 10, &e),
                     GW_CACHE_ENTRY_FRESH);
    ck_assert_uint_eq(e.meta.status, 200);
    ck_assert_int_eq(e.meta.stored_at, NOW);
    ck_assert_uint_eq(e.meta.lifetime, 60);
    ck_assert_uint_eq(e.age, 15);
    ck_assert(!e.meta.varies);
    ck_assert_uint_eq(e.header_count, 3);

    /* the body is the value's tail: sent from where it was read */
    ck_assert_uint_eq(e.body_len, 8);
    ck_assert_ptr_eq(e.body, data + len - 8);
    ck_assert(memcmp(e.body, "\0body\r\n\xff", 8) == 0);

    ck_assert(gw_cache_entry_next_header(&e, &cursor, &name, &value));
    ck_assert(name.len == 12 && memcmp(name.data, "Content-Type", 12) == 0);
    ck_assert(value.len == 24
              && memcmp(value.data, "application/octet-stream", 24) == 0);
    ck_assert(gw_cache_entry_next_header(&e, &cursor, &name, &value));
    ck_assert(name.len == 4 && memcmp(name.data, "ETag", 4) == 0);
    ck_assert(gw_cache_entry_next_header(&e, &cursor, &name, &value));
    ck_assert(name.len == 7 && value.len == 0);
    ck_assert(!gw_cache_entry_next_header(&e, &cursor, &name, &value));

    free(data);
}
END_TEST


START_TEST(empty_body_and_no_headers)
{
    gw_cache_entry_meta_t  m = meta();
    size_t                 len;
    unsigned char         *data;
    gw_cache_entry_t       e;

    m.status = 404;
    data = encode(&m, NULL, 0, "", 0, &len);

    ck_assert_uint_eq(len, GW_CACHE_ENTRY_FIXED);
    ck_assert_int_eq(gw_cache_entry_decode(data, len, NOW, &e),
                     GW_CACHE_ENTRY_FRESH);
    ck_assert_uint_eq(e.meta.status, 404);
    ck_assert_uint_eq(e.body_len, 0);
    ck_assert_uint_eq(e.header_count, 0);

    free(data);
}
END_TEST


START_TEST(age_and_expiry)
{
    size_t            len;
    unsigned char    *data = sample(&len);
    gw_cache_entry_t  e;

    /* stored with Age 5 and a lifetime of 60: fresh for 55 more seconds */
    ck_assert_int_eq(gw_cache_entry_decode(data, len, NOW + 54, &e),
                     GW_CACHE_ENTRY_FRESH);
    ck_assert_uint_eq(e.age, 59);
    ck_assert_int_eq(gw_cache_entry_decode(data, len, NOW + 55, &e),
                     GW_CACHE_ENTRY_EXPIRED);

    /* a reader whose clock is behind the writer's */
    ck_assert_int_eq(gw_cache_entry_decode(data, len, NOW - 100, &e),
                     GW_CACHE_ENTRY_FRESH);
    ck_assert_uint_eq(e.age, 5);

    free(data);
}
END_TEST


START_TEST(variants)
{
    gw_cache_entry_meta_t  m = meta();
    size_t                 len;
    unsigned char         *data;
    gw_cache_entry_t       e;

    m.varies = 1;
    m.variant = str("gzip, br");
    data = encode(&m, NULL, 0, "zz", 2, &len);

    ck_assert_int_eq(gw_cache_entry_decode(data, len, NOW, &e),
                     GW_CACHE_ENTRY_FRESH);
    ck_assert(e.meta.varies);
    ck_assert(gw_cache_entry_variant_matches(&e, str("gzip, br")));
    ck_assert(!gw_cache_entry_variant_matches(&e, str("gzip")));
    ck_assert(!gw_cache_entry_variant_matches(&e, (gw_cache_str_t) { 0 }));
    ck_assert(memcmp(e.body, "zz", 2) == 0);
    free(data);

    /* made for a request without Accept-Encoding */
    m.variant = (gw_cache_str_t) { 0 };
    data = encode(&m, NULL, 0, "x", 1, &len);
    ck_assert_int_eq(gw_cache_entry_decode(data, len, NOW, &e),
                     GW_CACHE_ENTRY_FRESH);
    ck_assert(gw_cache_entry_variant_matches(&e, (gw_cache_str_t) { 0 }));
    ck_assert(!gw_cache_entry_variant_matches(&e, str("gzip")));
    free(data);

    /* an entry that does not vary answers any request */
    m.varies = 0;
    data = encode(&m, NULL, 0, "x", 1, &len);
    ck_assert_int_eq(gw_cache_entry_decode(data, len, NOW, &e),
                     GW_CACHE_ENTRY_FRESH);
    ck_assert(gw_cache_entry_variant_matches(&e, str("gzip")));
    free(data);
}
END_TEST


START_TEST(refuses_what_it_cannot_store)
{
    gw_cache_entry_meta_t  m = meta();
    gw_cache_str_t         h[2];
    unsigned char          buf[256];
    char                  *big;

    h[0] = str("X-Split");
    h[1] = str("a\r\nSet-Cookie: x");
    ck_assert_uint_eq(gw_cache_entry_head_size(&m, h, 1), 0);

    h[1] = (gw_cache_str_t) { "a\0b", 3 };
    ck_assert_uint_eq(gw_cache_entry_head_size(&m, h, 1), 0);

    h[0] = str("Bad Name");
    h[1] = str("v");
    ck_assert_uint_eq(gw_cache_entry_head_size(&m, h, 1), 0);

    h[0] = str("");
    ck_assert_uint_eq(gw_cache_entry_head_size(&m, h, 1), 0);

    big = malloc(GW_CACHE_ENTRY_MAX_FIELD + 1);
    memset(big, 'v', GW_CACHE_ENTRY_MAX_FIELD + 1);
    h[0] = str("X-Big");
    h[1] = (gw_cache_str_t) { big, GW_CACHE_ENTRY_MAX_FIELD + 1 };
    ck_assert_uint_eq(gw_cache_entry_head_size(&m, h, 1), 0);
    h[1].len--;
    ck_assert_uint_gt(gw_cache_entry_head_size(&m, h, 1), 0);
    free(big);

    m.varies = 1;
    m.variant = str("gzip\n");
    ck_assert_uint_eq(gw_cache_entry_head_size(&m, NULL, 0), 0);

    /* a head that does not fit, or meta that would not read back */
    m = meta();
    ck_assert_uint_eq(gw_cache_entry_write_head(buf, GW_CACHE_ENTRY_FIXED - 1,
                                                &m, NULL, 0, 0), 0);
    h[0] = str("ETag");
    h[1] = str("\"v1\"");
    ck_assert_uint_eq(gw_cache_entry_head_size(&m, h, 1),
                      GW_CACHE_ENTRY_FIXED + 4 + 4 + 4);
    ck_assert_uint_eq(gw_cache_entry_write_head(buf, GW_CACHE_ENTRY_FIXED + 11,
                                                &m, h, 1, 0), 0);
    ck_assert_uint_eq(gw_cache_entry_write_head(buf, GW_CACHE_ENTRY_FIXED + 13,
                                                &m, h, 1, 0), 0);
    ck_assert_uint_eq(gw_cache_entry_write_head(buf, GW_CACHE_ENTRY_FIXED + 12,
                                                &m, h, 1, 0),
                      GW_CACHE_ENTRY_FIXED + 12);
    m.status = 302;
    ck_assert_uint_eq(gw_cache_entry_write_head(buf, sizeof(buf), &m, NULL, 0,
                                                0), 0);
    m = meta();
    m.initial_age = m.lifetime;
    ck_assert_uint_eq(gw_cache_entry_write_head(buf, sizeof(buf), &m, NULL, 0,
                                                0), 0);
}
END_TEST


START_TEST(too_many_headers)
{
    gw_cache_entry_meta_t  m = meta();
    gw_cache_str_t         h[2 * (GW_CACHE_ENTRY_MAX_HEADERS + 1)];
    size_t                 i;

    for (i = 0; i < GW_CACHE_ENTRY_MAX_HEADERS + 1; i++) {
        h[2 * i] = str("X-H");
        h[2 * i + 1] = str("v");
    }

    ck_assert_uint_gt(gw_cache_entry_head_size(&m, h,
                                               GW_CACHE_ENTRY_MAX_HEADERS), 0);
    ck_assert_uint_eq(gw_cache_entry_head_size(&m, h,
                                               GW_CACHE_ENTRY_MAX_HEADERS + 1),
                      0);

    /* headers that are not stored do not count */
    for (i = 0; i < GW_CACHE_ENTRY_MAX_HEADERS + 1; i++) {
        h[2 * i] = str("Date");
    }
    ck_assert_uint_eq(gw_cache_entry_head_size(&m, h,
                                               GW_CACHE_ENTRY_MAX_HEADERS + 1),
                      GW_CACHE_ENTRY_FIXED);
}
END_TEST


START_TEST(body_length_set_afterwards)
{
    gw_cache_entry_meta_t  m = meta();
    unsigned char          buf[GW_CACHE_ENTRY_FIXED + 3];
    gw_cache_entry_t       e;

    /* written before the body's length is known, then completed */
    ck_assert_uint_eq(gw_cache_entry_write_head(buf, GW_CACHE_ENTRY_FIXED, &m,
                                                NULL, 0, 0),
                      GW_CACHE_ENTRY_FIXED);
    memcpy(buf + GW_CACHE_ENTRY_FIXED, "abc", 3);
    ck_assert_int_eq(gw_cache_entry_decode(buf, sizeof(buf), NOW, &e),
                     GW_CACHE_ENTRY_CORRUPT);

    gw_cache_entry_set_body_len(buf, 3);
    ck_assert_int_eq(gw_cache_entry_decode(buf, sizeof(buf), NOW, &e),
                     GW_CACHE_ENTRY_FRESH);
    ck_assert_uint_eq(e.body_len, 3);
}
END_TEST


/* Every truncation and every single-byte change of the fixed part and the
 * headers either decodes to the same layout or is refused. */
START_TEST(corruption_is_refused)
{
    size_t            len, cut, i;
    unsigned char    *data = sample(&len), *copy;
    gw_cache_entry_t  e, good;

    ck_assert_int_eq(gw_cache_entry_decode(data, len, NOW, &good),
                     GW_CACHE_ENTRY_FRESH);

    for (cut = 0; cut < len; cut++) {
        ck_assert_int_eq(gw_cache_entry_decode(data, cut, NOW, &e),
                         GW_CACHE_ENTRY_CORRUPT);
    }

    copy = malloc(len + 1);
    memcpy(copy, data, len);
    copy[len] = 'x';
    ck_assert_int_eq(gw_cache_entry_decode(copy, len + 1, NOW, &e),
                     GW_CACHE_ENTRY_CORRUPT);

    for (i = 0; i < len - good.body_len; i++) {
        unsigned  bit;

        for (bit = 0; bit < 8; bit++) {
            gw_cache_entry_status_t  st;

            memcpy(copy, data, len);
            copy[i] ^= (unsigned char) (1u << bit);
            st = gw_cache_entry_decode(copy, len, NOW, &e);

            if (st == GW_CACHE_ENTRY_CORRUPT) {
                continue;
            }

            /* a change that still decodes never moves the body */
            ck_assert_uint_eq(e.body_len, good.body_len);
            ck_assert_ptr_eq(e.body, copy + (good.body - data));
        }
    }

    free(copy);
    free(data);
}
END_TEST


START_TEST(rejects_other_formats)
{
    static const char  *values[] = {
        "",
        "GWCE",
        "hello world, this is not a cache entry at all!!",
        "GWCE\x02\x00\x00\xc8"
            "\0\0\0\0\0\0\0\0" "\0\0\0\0" "\0\0\0\x3c" "\0\0\0\0" "\0\0\0\0"
            "\0\0\0\0\0\0\0\0",
    };
    gw_cache_entry_t    e;
    size_t              i;

    for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        size_t  len = i == 3 ? GW_CACHE_ENTRY_FIXED : strlen(values[i]);

        ck_assert_int_eq(gw_cache_entry_decode((const unsigned char *) values[i],
                                               len, NOW, &e),
                         GW_CACHE_ENTRY_CORRUPT);
    }
}
END_TEST


int
main(void)
{
    Suite  *s = suite_create("cache_entry");
    TCase  *tc = tcase_create("core");

    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, empty_body_and_no_headers);
    tcase_add_test(tc, age_and_expiry);
    tcase_add_test(tc, variants);
    tcase_add_test(tc, refuses_what_it_cannot_store);
    tcase_add_test(tc, too_many_headers);
    tcase_add_test(tc, body_length_set_afterwards);
    tcase_add_test(tc, corruption_is_refused);
    tcase_add_test(tc, rejects_other_formats);
    suite_add_tcase(s, tc);

    return gw_unit_run(s);
}
