/* Check unit tests: the strict JSON parser. */

#include <stdio.h>
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


/*
 * String bodies are scanned eight bytes at a time: put each kind of byte
 * that stops the scan at every position of a word (and past the words, in
 * the bytes at the end of the document), with runs of 0..17 plain bytes
 * before it and a few after.
 */
START_TEST(string_word_edges)
{
    static const struct {
        const char  *raw;        /* as written in the string */
        size_t       raw_len;
        const char  *decoded;    /* as extract serializes it; NULL: invalid */
    } special[] = {
        { "\\\"", 2, "\\\"" },
        { "\\\\", 2, "\\\\" },
        { "\\n", 2, "\\n" },
        { "\\/", 2, "/" },
        { "\\u0041", 6, "A" },
        { "\\u00e9", 6, "\xc3\xa9" },
        { "\\ud83d\\ude00", 12, "\xf0\x9f\x98\x80" },
        { "\xc3\xa9", 2, "\xc3\xa9" },
        { "\xe2\x82\xac", 3, "\xe2\x82\xac" },
        { "\xf0\x9f\x98\x80", 4, "\xf0\x9f\x98\x80" },
        { "\x7f", 1, "\x7f" },
        { " ", 1, " " },
        { "\x01", 1, NULL },
        { "\x1f", 1, NULL },
        { "\0", 1, NULL },
        { "\t", 1, NULL },
        { "\x80", 1, NULL },
        { "\xff", 1, NULL },
        { "\xc0\xaf", 2, NULL },
        { "\xe0\x80\xaf", 3, NULL },
        { "\xed\xa0\x80", 3, NULL },
        { "\xf4\x90\x80\x80", 4, NULL },
        { "\xe2\x82", 2, NULL },
        { "\\ud83d", 6, NULL },
        { "\\ude00", 6, NULL },
        { "\\x", 2, NULL },
    };
    static const size_t after[] = { 0, 1, 7, 8, 9 };
    static const size_t pad[] = { 0, 12 };
    char    doc[128], want[64], out[128];
    size_t  i, k, a, p, n, w;

    for (i = 0; i < sizeof(special) / sizeof(special[0]); i++) {
        for (k = 0; k <= 17; k++) {
            for (a = 0; a < sizeof(after) / sizeof(after[0]); a++) {
                for (p = 0; p < sizeof(pad) / sizeof(pad[0]); p++) {
                    n = 0;
                    memcpy(doc + n, "{\"s\":\"", 6);
                    n += 6;
                    memset(doc + n, 'a', k);
                    n += k;
                    memcpy(doc + n, special[i].raw, special[i].raw_len);
                    n += special[i].raw_len;
                    memset(doc + n, 'b', after[a]);
                    n += after[a];
                    memcpy(doc + n, "\"}", 2);
                    n += 2;
                    memset(doc + n, ' ', pad[p]);
                    n += pad[p];

                    if (special[i].decoded == NULL) {
                        ck_assert_msg(gw_json_check(doc, n, 32) == GW_JSON_BAD_STRING,
                                      "special %zu after %zu bytes accepted", i, k);
                        continue;
                    }

                    ck_assert_msg(gw_json_check(doc, n, 32) == GW_JSON_OK,
                                  "special %zu after %zu bytes rejected", i, k);
                    w = 0;
                    want[w++] = '"';
                    memset(want + w, 'a', k);
                    w += k;
                    memcpy(want + w, special[i].decoded, strlen(special[i].decoded));
                    w += strlen(special[i].decoded);
                    memset(want + w, 'b', after[a]);
                    w += after[a];
                    want[w++] = '"';
                    want[w] = '\0';
                    ck_assert_int_eq(gw_json_extract(doc, n, "s", out, sizeof(out)), (long) w);
                    ck_assert_str_eq(out, want);
                }
            }
        }
    }
}
END_TEST


START_TEST(plain_string_lengths)
{
    char    doc[64], want[64], out[64];
    size_t  len, n, j;

    /* a bare string ends the document; in an array, a bracket follows */
    for (len = 0; len <= 33; len++) {
        for (j = 0; j < len; j++) {
            want[j + 1] = (char) ('A' + j % 26);
        }
        want[0] = '"';
        want[len + 1] = '"';
        want[len + 2] = '\0';

        n = (size_t) snprintf(doc, sizeof(doc), "{\"s\":%s}", want);
        ck_assert_int_eq(gw_json_extract(doc, n, "s", out, sizeof(out)), (long) len + 2);
        ck_assert_str_eq(out, want);

        ck_assert_int_eq(gw_json_check(want, len + 2, 32), GW_JSON_OK);
        ck_assert_int_eq(gw_json_check(want, len + 1, 32), GW_JSON_BAD_STRING);

        n = (size_t) snprintf(doc, sizeof(doc), "[%s]", want);
        ck_assert_int_eq(gw_json_extract(doc, n, "", out, sizeof(out)), (long) len + 4);
        ck_assert_int_eq(memcmp(out + 1, want, len + 2), 0);
    }
}
END_TEST


/*
 * Object keys are compared by a tag (seven bytes and the length) first:
 * keys that share a tag but differ, and equal keys of every length.
 */
START_TEST(key_tags)
{
    static const struct {
        const char  *a, *b;
        int          dup;
    } pairs[] = {
        { "", "", 1 },
        { "", "\\u0000", 0 },
        { "\\u0000", "\\u0000", 1 },
        { "a", "a\\u0000", 0 },
        { "a\\u0000b", "a\\u0000c", 0 },
        { "abc", "abd", 0 },
        { "abc", "abc", 1 },
        { "abcdefg", "abcdefg", 1 },
        { "abcdefg", "abcdefh", 0 },
        { "abcdefg", "abcdefgh", 0 },
        { "abcdefgh", "abcdefgh", 1 },
        { "abcdefgh", "abcdefgi", 0 },
        { "abcdefgXh", "abcdefgYh", 0 },
        { "abcdefghijklmnopq", "abcdefghijklmnopr", 0 },
        { "abcdefghijklmnopq", "abcdefghijklmnopq", 1 },
        { "\xc3\xa9t\xc3\xa9", "\\u00e9t\\u00e9", 1 },
    };
    static const int others[] = { 0, 1, 9 };
    char    doc[512];
    size_t  i, o, j;
    int     n;

    for (i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        for (o = 0; o < sizeof(others) / sizeof(others[0]); o++) {
            n = snprintf(doc, sizeof(doc), "{\"%s\":1", pairs[i].a);
            for (j = 0; j < (size_t) others[o]; j++) {
                n += snprintf(doc + n, sizeof(doc) - (size_t) n, ",\"o%zu\":1", j);
            }
            n += snprintf(doc + n, sizeof(doc) - (size_t) n, ",\"%s\":2}", pairs[i].b);
            ck_assert_msg(gw_json_check(doc, (size_t) n, 32)
                          == (pairs[i].dup ? GW_JSON_DUPLICATE_KEY : GW_JSON_OK),
                          "%s", doc);
        }
    }
}
END_TEST


START_TEST(finds_keys_of_every_length)
{
    char    doc[4096], key[300], out[16], want[16];
    size_t  len, n, l;

    /* "", "k", "kk", ... all share their first bytes */
    n = 0;
    doc[n++] = '{';
    for (len = 0; len <= 20; len++) {
        n += (size_t) snprintf(doc + n, sizeof(doc) - n, "%s\"%.*s\":%zu",
                               len ? "," : "", (int) len,
                               "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkk", len);
    }
    /* long keys that differ in their last byte only */
    memset(key, 'x', 299);
    key[299] = '\0';
    n += (size_t) snprintf(doc + n, sizeof(doc) - n, ",\"%.298sy\":1,\"%.298sz\":2", key, key);
    n += (size_t) snprintf(doc + n, sizeof(doc) - n, ",\"%.299s\":3}", key);

    for (len = 1; len <= 20; len++) {
        memset(key, 'k', len);
        key[len] = '\0';
        snprintf(want, sizeof(want), "%zu", len);
        ck_assert_int_gt(gw_json_extract(doc, n, key, out, sizeof(out)), 0);
        ck_assert_str_eq(out, want);
    }
    memset(key, 'k', 21);
    key[21] = '\0';
    ck_assert_int_eq(gw_json_extract(doc, n, key, out, sizeof(out)), -1);
    ck_assert_int_eq(gw_json_extract(doc, n, "j", out, sizeof(out)), -1);
    ck_assert_int_eq(gw_json_extract(doc, n, "kkkkkkkj", out, sizeof(out)), -1);

    for (l = 0; l < 3; l++) {
        memset(key, 'x', 299);
        key[299] = '\0';
        if (l < 2) {
            key[298] = l ? 'z' : 'y';
        }
        snprintf(want, sizeof(want), "%zu", l + 1);
        ck_assert_int_gt(gw_json_extract(doc, n, key, out, sizeof(out)), 0);
        ck_assert_str_eq(out, want);
    }
    key[298] = 'w';
    ck_assert_int_eq(gw_json_extract(doc, n, key, out, sizeof(out)), -1);
}
END_TEST


START_TEST(many_members)
{
    /* more members than the parser keeps on the machine stack, nested */
    char    doc[8192], out[16];
    size_t  n = 0, i;

    n += (size_t) snprintf(doc + n, sizeof(doc) - n, "{\"a\":[");
    for (i = 0; i < 100; i++) {
        n += (size_t) snprintf(doc + n, sizeof(doc) - n, "%s{\"x\":%zu,\"y\":[%zu,%zu]}",
                               i ? "," : "", i, i, i);
    }
    n += (size_t) snprintf(doc + n, sizeof(doc) - n, "],\"b\":{");
    for (i = 0; i < 70; i++) {
        n += (size_t) snprintf(doc + n, sizeof(doc) - n, "%s\"k%zu\":%zu", i ? "," : "", i, i);
    }
    n += (size_t) snprintf(doc + n, sizeof(doc) - n, "}}");

    ck_assert_int_eq(gw_json_check(doc, n, 32), GW_JSON_OK);
    ck_assert_int_gt(gw_json_extract(doc, n, "b.k69", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "69");
    ck_assert_int_gt(gw_json_extract(doc, n, "b.k0", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "0");

    /* the same member twice among seventy */
    n -= 2;
    n += (size_t) snprintf(doc + n, sizeof(doc) - n, ",\"k35\":1}}");
    ck_assert_int_eq(gw_json_check(doc, n, 32), GW_JSON_DUPLICATE_KEY);
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
    tcase_add_test(tc, string_word_edges);
    tcase_add_test(tc, plain_string_lengths);
    tcase_add_test(tc, key_tags);
    tcase_add_test(tc, finds_keys_of_every_length);
    tcase_add_test(tc, many_members);
    suite_add_tcase(s, tc);

    return gw_unit_run(s);
}
