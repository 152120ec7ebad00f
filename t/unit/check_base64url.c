/* Check unit tests: strict base64url. */

#include <string.h>

#include "unit.h"

#include "gw_base64url.h"


static long
dec(const char *text, unsigned char *out)
{
    return gw_base64url_decode(text, strlen(text), out, 64);
}


START_TEST(decodes_canonical)
{
    unsigned char out[64];

    ck_assert_int_eq(dec("", out), 0);
    ck_assert_int_eq(dec("Zg", out), 1);
    ck_assert_int_eq(out[0], 'f');
    ck_assert_int_eq(dec("Zm8", out), 2);
    ck_assert_int_eq(memcmp(out, "fo", 2), 0);
    ck_assert_int_eq(dec("Zm9v", out), 3);
    ck_assert_int_eq(memcmp(out, "foo", 3), 0);
    ck_assert_int_eq(dec("-_-_", out), 3);
    ck_assert_int_eq(out[0], 0xfb);
    ck_assert_int_eq(out[1], 0xff);
    ck_assert_int_eq(out[2], 0xbf);
}
END_TEST


START_TEST(rejects_non_canonical)
{
    unsigned char out[64];
    static const char *bad[] = {
        "Zg==",         /* padding */
        "Zm8=",
        "Z",            /* 4n+1 */
        "Zm9vY",
        "Zh",           /* unused bits set: "Zg" is the canonical form */
        "Zm9",          /* "Zm8" is */
        "Zm9v+A",       /* standard alphabet */
        "Zm9v/w",
        "Zm 9v",        /* stray characters */
        "Zm9v\n",
        "Zm9v.",
    };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(dec(bad[i], out) == -1, "accepted \"%s\"", bad[i]);
    }

    ck_assert_int_eq(gw_base64url_decode("Zm\0v", 4, out, 64), -1);
}
END_TEST


START_TEST(round_trips)
{
    unsigned char bytes[256], back[256];
    char text[400];
    size_t n, len;

    for (n = 0; n < sizeof(bytes); n++) {
        bytes[n] = (unsigned char) (n * 7 + 3);
    }

    for (n = 0; n <= sizeof(bytes); n++) {
        len = gw_base64url_encode(bytes, n, text, sizeof(text));
        ck_assert_uint_eq(len, (n * 4 + 2) / 3);
        ck_assert_int_eq(gw_base64url_decode(text, len, back, sizeof(back)),
                         (long) n);
        ck_assert_int_eq(memcmp(bytes, back, n), 0);
    }
}
END_TEST


START_TEST(respects_capacity)
{
    unsigned char out[2];

    ck_assert_int_eq(gw_base64url_decode("Zm9v", 4, out, sizeof(out)), -1);
}
END_TEST


static int
ref_value(unsigned char c)
{
    static const char  alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char        *p;

    if (c == '\0') {
        return -1;
    }
    p = strchr(alphabet, c);
    return p ? (int) (p - alphabet) : -1;
}


/* a plain bit-by-bit decoder: -1 where the strict one must refuse */
static long
ref_decode(const unsigned char *text, size_t len, unsigned char *out)
{
    unsigned long  acc = 0;
    int            bits = 0, v;
    size_t         i, o = 0;

    if (len % 4 == 1) {
        return -1;
    }
    for (i = 0; i < len; i++) {
        v = ref_value(text[i]);
        if (v < 0) {
            return -1;
        }
        acc = (acc << 6 | (unsigned long) v) & 0xffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char) (acc >> bits);
        }
    }
    if (acc & ((1ul << bits) - 1)) {
        return -1;                      /* unused bits set */
    }
    return (long) o;
}


/*
 * The decoder works on eight characters, then four, then the tail: every
 * byte value at every position of inputs of 0..27 characters, and every
 * last character, against the reference.
 */
START_TEST(every_byte_everywhere)
{
    unsigned char  text[32], out[32], want[32];
    size_t         len, pos;
    long           got, expect;
    int            c;

    for (len = 0; len <= 27; len++) {
        for (pos = 0; pos < len; pos++) {
            text[pos] = (unsigned char) "QUJDZGVmZ2hpamtsbW5vcHFyc3R1"[pos];
        }
        for (pos = 0; pos < len; pos++) {
            unsigned char keep = text[pos];

            for (c = 0; c < 256; c++) {
                text[pos] = (unsigned char) c;
                expect = ref_decode(text, len, want);
                memset(out, 0xa5, sizeof(out));
                got = gw_base64url_decode((const char *) text, len, out, sizeof(out));
                ck_assert_msg(got == expect, "length %zu, byte 0x%02x at %zu: %ld, expected %ld",
                              len, c, pos, got, expect);
                if (expect >= 0) {
                    ck_assert_int_eq(memcmp(out, want, (size_t) expect), 0);
                }
            }
            text[pos] = keep;
        }
    }
}
END_TEST


START_TEST(writes_no_more_than_it_decodes)
{
    /* round trips at every length around the eight-character step, and
       nothing written past the decoded bytes */
    char           text[64];
    unsigned char  bytes[48], out[64];
    size_t         n, len;
    long           got;

    for (n = 0; n < sizeof(bytes); n++) {
        bytes[n] = (unsigned char) (0xff - n);
    }
    for (n = 0; n <= sizeof(bytes); n++) {
        len = gw_base64url_encode(bytes, n, text, sizeof(text));
        memset(out, 0x5a, sizeof(out));
        got = gw_base64url_decode(text, len, out, sizeof(out));
        ck_assert_int_eq(got, (long) n);
        ck_assert_int_eq(memcmp(out, bytes, n), 0);
        ck_assert_int_eq(out[n], 0x5a);
    }
}
END_TEST


int
main(void)
{
    Suite  *s = suite_create("base64url");
    TCase  *tc = tcase_create("base64url");

    tcase_add_test(tc, decodes_canonical);
    tcase_add_test(tc, rejects_non_canonical);
    tcase_add_test(tc, round_trips);
    tcase_add_test(tc, respects_capacity);
    tcase_add_test(tc, every_byte_everywhere);
    tcase_add_test(tc, writes_no_more_than_it_decodes);
    suite_add_tcase(s, tc);

    return gw_unit_run(s);
}
