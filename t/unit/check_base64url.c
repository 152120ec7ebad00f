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


int
main(void)
{
    Suite  *s = suite_create("base64url");
    TCase  *tc = tcase_create("base64url");

    tcase_add_test(tc, decodes_canonical);
    tcase_add_test(tc, rejects_non_canonical);
    tcase_add_test(tc, round_trips);
    tcase_add_test(tc, respects_capacity);
    suite_add_tcase(s, tc);

    return gw_unit_run(s);
}
