/* Check unit tests: the strict JSON parser. */

#include <string.h>

#include "unit.h"

#include "gw_json.h"


static gw_json_status_t
check(const char *text)
{
    return gw_json_check(text, strlen(text), 32);
}


START_TEST(accepts_documents)
{
    static const char *good[] = {
        "{}", "[]", "0", "-0", "1.5", "-1.5e+10", "1E-3", "\"\"", "true",
        "false", "null", " { \"a\" : [1, 2, {\"b\": null}] } \r\n\t",
        "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\u00e9\\u20ac\"",
        "\"\\ud83d\\ude00\"",                 /* surrogate pair */
        "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"",   /* UTF-8 */
        "{\"a\":1,\"A\":2}",                  /* keys are case-sensitive */
    };
    size_t i;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        ck_assert_msg(check(good[i]) == GW_JSON_OK, "rejected %s: %s", good[i],
                      gw_json_status_text(check(good[i])));
    }
}
END_TEST


START_TEST(rejects_malformed)
{
    static const struct {
        const char        *text;
        gw_json_status_t   status;
    } bad[] = {
        { "", GW_JSON_SYNTAX },
        { "{", GW_JSON_SYNTAX },
        { "{\"a\"}", GW_JSON_SYNTAX },
        { "{\"a\":1,}", GW_JSON_SYNTAX },
        { "[1,]", GW_JSON_SYNTAX },
        { "{'a':1}", GW_JSON_SYNTAX },
        { "{a:1}", GW_JSON_SYNTAX },
        { "tru", GW_JSON_SYNTAX },
        { "NaN", GW_JSON_SYNTAX },
        { "01", GW_JSON_TRAILING_DATA },
        { "1.", GW_JSON_BAD_NUMBER },
        { "1e", GW_JSON_BAD_NUMBER },
        { "-", GW_JSON_BAD_NUMBER },
        { "+1", GW_JSON_SYNTAX },
        { ".5", GW_JSON_SYNTAX },
        { "{} {}", GW_JSON_TRAILING_DATA },
        { "{}x", GW_JSON_TRAILING_DATA },
        { "\"a\nb\"", GW_JSON_BAD_STRING },      /* raw control character */
        { "\"\\x\"", GW_JSON_BAD_STRING },
        { "\"\\u12\"", GW_JSON_BAD_STRING },
        { "\"\\ud83d\"", GW_JSON_BAD_STRING },   /* lone high surrogate */
        { "\"\\ude00\"", GW_JSON_BAD_STRING },   /* lone low surrogate */
        { "\"\\ud83d\\u0041\"", GW_JSON_BAD_STRING },
        { "\"\xc0\xaf\"", GW_JSON_BAD_STRING },  /* overlong */
        { "\"\xed\xa0\x80\"", GW_JSON_BAD_STRING },  /* encoded surrogate */
        { "\"\xf4\x90\x80\x80\"", GW_JSON_BAD_STRING },  /* above U+10FFFF */
        { "\"\xff\"", GW_JSON_BAD_STRING },
        { "\"abc", GW_JSON_BAD_STRING },
        { "{\"a\":1,\"a\":2}", GW_JSON_DUPLICATE_KEY },
        { "{\"a\":1,\"b\":{\"c\":1,\"c\":1}}", GW_JSON_DUPLICATE_KEY },
        { "{\"k1\":1,\"k2\":1,\"k3\":1,\"k4\":1,\"k5\":1,\"k6\":1,\"k7\":1,"
          "\"k8\":1,\"k9\":1,\"k3\":1}", GW_JSON_DUPLICATE_KEY },
        { "{\"a\":1,\"\\u0061\":2}", GW_JSON_DUPLICATE_KEY },  /* same after unescaping */
    };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(check(bad[i].text) == bad[i].status,
                      "\"%s\": expected %s, got %s", bad[i].text,
                      gw_json_status_text(bad[i].status),
                      gw_json_status_text(check(bad[i].text)));
    }

    ck_assert_int_eq(gw_json_check("\"a\0b\"", 5, 32), GW_JSON_BAD_STRING);
}
END_TEST


START_TEST(limits_depth)
{
    char    deep[2100];
    size_t  i;

    for (i = 0; i < 1000; i++) {
        deep[i] = '[';
        deep[1999 - i] = ']';
    }
    deep[2000] = '\0';

    ck_assert_int_eq(check(deep), GW_JSON_TOO_DEEP);
    ck_assert_int_eq(gw_json_check("[[[1]]]", 7, 3), GW_JSON_OK);
    ck_assert_int_eq(gw_json_check("[[[[1]]]]", 9, 3), GW_JSON_TOO_DEEP);
    ck_assert_int_eq(gw_json_check("{\"a\":{\"b\":{\"c\":{}}}}", 20, 3),
                     GW_JSON_TOO_DEEP);
}
END_TEST


START_TEST(extracts_values)
{
    char         out[128];
    const char  *doc = "{\"a\":{\"b\":[1,\"x\",true,null,-2.50e3]},"
                       "\"s\":\"\\u00e9\\n\"}";

    ck_assert_int_eq(gw_json_extract(doc, strlen(doc), "a.b", out, sizeof(out)),
                     25);
    ck_assert_str_eq(out, "[1,\"x\",true,null,-2.50e3]");
    ck_assert_int_gt(gw_json_extract(doc, strlen(doc), "s", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "\"\xc3\xa9\\n\"");
    ck_assert_int_eq(gw_json_extract(doc, strlen(doc), "a.c", out, sizeof(out)),
                     -1);
    ck_assert_int_eq(gw_json_extract(doc, strlen(doc), "a.b", out, 4), -1);
}
END_TEST


int
main(void)
{
    Suite  *s = suite_create("json");
    TCase  *tc = tcase_create("json");

    tcase_add_test(tc, accepts_documents);
    tcase_add_test(tc, rejects_malformed);
    tcase_add_test(tc, limits_depth);
    tcase_add_test(tc, extracts_values);
    suite_add_tcase(s, tc);

    return gw_unit_run(s);
}
