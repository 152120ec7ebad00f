/* Check unit tests: the status API's JSON writer. */

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "unit.h"
#include "sink_unit.h"

#include "gw_json.h"
#include "gw_json_writer.h"


static void
start(capture_t *c, gw_json_writer_t *w, size_t chunk)
{
    capture_init(c, chunk);
    gw_json_writer_init(w, &c->sink);
}


static void
key(gw_json_writer_t *w, const char *k)
{
    gw_json_key(w, k, strlen(k));
}


static void
string(gw_json_writer_t *w, const char *s)
{
    gw_json_string(w, s, strlen(s));
}


START_TEST(writes_nested_values)
{
    capture_t         c;
    gw_json_writer_t  w;

    start(&c, &w, 3);
    gw_json_object_begin(&w);
    key(&w, "version");
    string(&w, "0.1.0");
    key(&w, "upstreams");
    gw_json_object_begin(&w);
    key(&w, "users");
    gw_json_array_begin(&w);
    gw_json_object_begin(&w);
    key(&w, "peer");
    string(&w, "127.0.0.1:8081");
    key(&w, "weight");
    gw_json_uint(&w, 5);
    key(&w, "up");
    gw_json_bool(&w, 1);
    key(&w, "error");
    gw_json_null(&w);
    gw_json_object_end(&w);
    gw_json_object_begin(&w);
    gw_json_object_end(&w);
    gw_json_array_end(&w);
    key(&w, "empty");
    gw_json_array_begin(&w);
    gw_json_array_end(&w);
    gw_json_object_end(&w);
    key(&w, "ok");
    gw_json_bool(&w, 0);
    gw_json_object_end(&w);

    ck_assert_int_eq(gw_json_writer_complete(&w), 1);
    ck_assert_str_eq(capture_text(&c),
        "{\"version\":\"0.1.0\",\"upstreams\":{\"users\":[{\"peer\":\"127.0.0.1:8081\","
        "\"weight\":5,\"up\":true,\"error\":null},{}],\"empty\":[]},\"ok\":false}");
    ck_assert_int_eq(gw_json_check(c.buf, c.used, 32), GW_JSON_OK);
    capture_free(&c);
}
END_TEST


START_TEST(escapes_strings)
{
    capture_t         c;
    gw_json_writer_t  w;
    char              out[256];
    long              n;

    start(&c, &w, 2);
    gw_json_object_begin(&w);
    key(&w, "k\"ey");
    string(&w, "q\" b\\ nl\n cr\r tab\t \x01\x1f del\x7f caf\xc3\xa9 \xf0\x9f\x98\x80 /");
    key(&w, "bad");
    string(&w, "\xff\xc3(\xed\xa0\x80\xf4\x90\x80\x80.");
    gw_json_object_end(&w);

    ck_assert_str_eq(capture_text(&c),
        "{\"k\\\"ey\":\"q\\\" b\\\\ nl\\n cr\\r tab\\t \\u0001\\u001f del\x7f "
        "caf\xc3\xa9 \xf0\x9f\x98\x80 /\","
        "\"bad\":\"\xef\xbf\xbd\xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
        "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd.\"}");

    /* what the parser reads back is what was written */
    n = gw_json_extract(c.buf, c.used, "k\"ey", out, sizeof(out));
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(gw_json_check(c.buf, c.used, 32), GW_JSON_OK);
    capture_free(&c);
}
END_TEST


START_TEST(writes_numbers)
{
    capture_t         c;
    gw_json_writer_t  w;

    start(&c, &w, 5);
    gw_json_array_begin(&w);
    gw_json_uint(&w, UINT64_MAX);
    gw_json_int(&w, INT64_MIN);
    gw_json_int(&w, -1);
    gw_json_double(&w, 0.5);
    gw_json_double(&w, 3.0);
    gw_json_double(&w, 1e300);
    gw_json_double(&w, NAN);
    gw_json_double(&w, -INFINITY);
    gw_json_array_end(&w);

    ck_assert_str_eq(capture_text(&c),
        "[18446744073709551615,-9223372036854775808,-1,0.5,3,1e+300,null,null]");
    ck_assert_int_eq(gw_json_check(c.buf, c.used, 32), GW_JSON_OK);
    capture_free(&c);
}
END_TEST


START_TEST(refuses_misuse)
{
    capture_t         c;
    gw_json_writer_t  w;
    int               i;

    /* a value where a key is due */
    start(&c, &w, 8);
    gw_json_object_begin(&w);
    gw_json_uint(&w, 1);
    ck_assert_int_eq(c.sink.failed, 1);
    ck_assert_int_eq(gw_json_writer_complete(&w), 0);
    capture_free(&c);

    /* a key in an array */
    start(&c, &w, 8);
    gw_json_array_begin(&w);
    key(&w, "a");
    ck_assert_int_eq(c.sink.failed, 1);
    capture_free(&c);

    /* two keys in a row */
    start(&c, &w, 8);
    gw_json_object_begin(&w);
    key(&w, "a");
    key(&w, "b");
    ck_assert_int_eq(c.sink.failed, 1);
    capture_free(&c);

    /* a close that does not match, or a key left without value */
    start(&c, &w, 8);
    gw_json_object_begin(&w);
    gw_json_array_end(&w);
    ck_assert_int_eq(c.sink.failed, 1);
    capture_free(&c);

    start(&c, &w, 8);
    gw_json_object_begin(&w);
    key(&w, "a");
    gw_json_object_end(&w);
    ck_assert_int_eq(c.sink.failed, 1);
    capture_free(&c);

    /* a close with nothing open, and a second document */
    start(&c, &w, 8);
    gw_json_array_end(&w);
    ck_assert_int_eq(c.sink.failed, 1);
    capture_free(&c);

    start(&c, &w, 8);
    gw_json_null(&w);
    ck_assert_int_eq(gw_json_writer_complete(&w), 1);
    gw_json_null(&w);
    ck_assert_int_eq(c.sink.failed, 1);
    capture_free(&c);

    /* unfinished */
    start(&c, &w, 8);
    gw_json_array_begin(&w);
    ck_assert_int_eq(gw_json_writer_complete(&w), 0);
    capture_free(&c);

    /* nesting is bounded */
    start(&c, &w, 8);
    for (i = 0; i < GW_JSON_WRITER_MAX_DEPTH; i++) {
        gw_json_array_begin(&w);
    }
    ck_assert_int_eq(c.sink.failed, 0);
    gw_json_array_begin(&w);
    ck_assert_int_eq(c.sink.failed, 1);
    capture_free(&c);
}
END_TEST


START_TEST(deep_document_parses)
{
    capture_t         c;
    gw_json_writer_t  w;
    int               i;

    start(&c, &w, 1);
    for (i = 0; i < 20; i++) {
        gw_json_object_begin(&w);
        key(&w, "a");
        gw_json_array_begin(&w);
        gw_json_uint(&w, (uint64_t) i);
    }
    gw_json_null(&w);
    for (i = 0; i < 20; i++) {
        gw_json_array_end(&w);
        gw_json_object_end(&w);
    }
    ck_assert_int_eq(gw_json_writer_complete(&w), 1);
    capture_text(&c);
    ck_assert_int_eq(gw_json_check(c.buf, c.used, 64), GW_JSON_OK);
    capture_free(&c);
}
END_TEST


int
main(void)
{
    Suite  *s = suite_create("json_writer");
    TCase  *tc = tcase_create("json_writer");

    tcase_add_test(tc, writes_nested_values);
    tcase_add_test(tc, escapes_strings);
    tcase_add_test(tc, writes_numbers);
    tcase_add_test(tc, refuses_misuse);
    tcase_add_test(tc, deep_document_parses);
    suite_add_tcase(s, tc);

    return gw_unit_run(s);
}
