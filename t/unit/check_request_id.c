/* Check unit tests: request id validation and generation. */

#include <string.h>

#include "unit.h"

#include "gw_request_id.h"


static int
valid(const char *id)
{
    return gw_request_id_is_valid(id, strlen(id));
}


START_TEST(accepts_visible_ascii)
{
    ck_assert(valid("a"));
    ck_assert(valid("0af7651916cd43dd8448eb211c80319c"));
    ck_assert(valid("f058ebd6-02f7-4d3f-942e-904344e8cde5"));
    ck_assert(valid("!~#$%&'*+.^_`|"));
}
END_TEST


START_TEST(rejects_empty_spaces_and_controls)
{
    ck_assert(!valid(""));
    ck_assert(!gw_request_id_is_valid(NULL, 0));
    ck_assert(!valid("a b"));
    ck_assert(!valid("abc\r\nX-Injected: 1"));
    ck_assert(!valid("tab\there"));
    ck_assert(!valid("del\x7f"));
    ck_assert(!valid("caf\xc3\xa9"));
    ck_assert(!gw_request_id_is_valid("a\0b", 3));
}
END_TEST


START_TEST(bounds_the_length)
{
    char id[GW_REQUEST_ID_MAX_LEN + 2];

    memset(id, 'x', sizeof(id));

    ck_assert(gw_request_id_is_valid(id, GW_REQUEST_ID_MAX_LEN));
    ck_assert(!gw_request_id_is_valid(id, GW_REQUEST_ID_MAX_LEN + 1));
}
END_TEST


START_TEST(generates_hex_from_the_given_bytes)
{
    unsigned char random[GW_REQUEST_ID_RANDOM];
    char id[GW_REQUEST_ID_LEN + 1] = {0};

    for (int i = 0; i < GW_REQUEST_ID_RANDOM; i++) {
        random[i] = (unsigned char) (i * 17);
    }

    gw_request_id_generate(random, id);

    ck_assert_str_eq(id, "00112233445566778899aabbccddeeff");
    ck_assert(valid(id));
}
END_TEST


int
main(void)
{
    Suite  *s = suite_create("request_id");
    TCase  *tc = tcase_create("core");

    tcase_add_test(tc, accepts_visible_ascii);
    tcase_add_test(tc, rejects_empty_spaces_and_controls);
    tcase_add_test(tc, bounds_the_length);
    tcase_add_test(tc, generates_hex_from_the_given_bytes);
    suite_add_tcase(s, tc);

    return gw_unit_run(s);
}
