/* Check unit tests: which requests use the cache, which responses it keeps. */

#include <string.h>

#include "unit.h"

#include "cache_unit.h"


static gw_cache_request_t
get_request(void)
{
    gw_cache_request_t  r;

    memset(&r, 0, sizeof(r));
    r.method_cached = 1;

    return r;
}


static gw_cache_request_plan_t
plan_request(const gw_cache_request_t *r)
{
    gw_cache_request_plan_t  p;

    gw_cache_request_plan(r, &p);

    return p;
}


/* A plain GET, with one Cache-Control and one Pragma line. */
static gw_cache_request_plan_t
plan_headers(const char *cache_control, const char *pragma)
{
    gw_cache_request_t  r = get_request();
    gw_cache_str_t      cc = str(cache_control ? cache_control : "");
    gw_cache_str_t      pr = str(pragma ? pragma : "");

    r.cache_control = &cc;
    r.cache_control_n = cache_control != NULL;
    r.pragma = &pr;
    r.pragma_n = pragma != NULL;

    return plan_request(&r);
}


static gw_cache_limits_t  limits = { 300, 1048576 };


static gw_cache_response_t
response(unsigned status)
{
    gw_cache_response_t  r;

    memset(&r, 0, sizeof(r));
    r.status = status;
    r.expires = GW_CACHE_TIME_ABSENT;
    r.date = GW_CACHE_TIME_ABSENT;
    r.content_length = -1;

    return r;
}


/* A 200 with one Cache-Control line (NULL: none). */
static gw_cache_store_plan_t
plan_cc(const char *cache_control)
{
    gw_cache_response_t    r = response(200);
    gw_cache_str_t         cc = str(cache_control ? cache_control : "");
    gw_cache_store_plan_t  p;

    r.cache_control = &cc;
    r.cache_control_n = cache_control != NULL;
    gw_cache_response_plan(&r, &limits, NOW, &p);

    return p;
}


static gw_cache_store_plan_t
plan_response(const gw_cache_response_t *r)
{
    gw_cache_store_plan_t  p;

    gw_cache_response_plan(r, &limits, NOW, &p);

    return p;
}


START_TEST(a_plain_get_is_looked_up_and_stored)
{
    gw_cache_request_t       r = get_request();
    gw_cache_request_plan_t  p = plan_request(&r);

    ck_assert(p.lookup && p.store);
    ck_assert_int_eq(p.reason, GW_CACHE_REQUEST_CACHED);
}
END_TEST


START_TEST(methods_and_credentials_skip_both_ways)
{
    gw_cache_request_t       r;
    gw_cache_request_plan_t  p;

    r = get_request();
    r.method_cached = 0;
    p = plan_request(&r);
    ck_assert(!p.lookup && !p.store);
    ck_assert_int_eq(p.reason, GW_CACHE_REQUEST_METHOD);

    r = get_request();
    r.authorization = 1;
    p = plan_request(&r);
    ck_assert(!p.lookup && !p.store);
    ck_assert_int_eq(p.reason, GW_CACHE_REQUEST_AUTHORIZATION);

    r = get_request();
    r.cookie = 1;
    p = plan_request(&r);
    ck_assert(!p.lookup && !p.store);
    ck_assert_int_eq(p.reason, GW_CACHE_REQUEST_COOKIE);

    /* gateway_cache_authorized on: the key carries the identity */
    r.authorization = 1;
    r.authorized = 1;
    p = plan_request(&r);
    ck_assert(p.lookup && p.store);

    /* a bypass does not lift the credentials rule */
    r.authorized = 0;
    r.bypass = 1;
    p = plan_request(&r);
    ck_assert(!p.lookup && !p.store);
    ck_assert_int_eq(p.reason, GW_CACHE_REQUEST_AUTHORIZATION);
}
END_TEST


START_TEST(bypass_skips_the_lookup_but_may_store)
{
    gw_cache_request_t       r = get_request();
    gw_cache_request_plan_t  p;

    r.bypass = 1;
    p = plan_request(&r);
    ck_assert(!p.lookup && p.store);
    ck_assert_int_eq(p.reason, GW_CACHE_REQUEST_BYPASS);

    r.head = 1;
    p = plan_request(&r);
    ck_assert(!p.lookup && !p.store);
}
END_TEST


START_TEST(head_is_looked_up_and_never_stores)
{
    gw_cache_request_t       r = get_request();
    gw_cache_request_plan_t  p;

    r.head = 1;
    p = plan_request(&r);
    ck_assert(p.lookup && !p.store);
    ck_assert_int_eq(p.reason, GW_CACHE_REQUEST_HEAD);
}
END_TEST


START_TEST(client_no_cache_skips_the_lookup_but_may_store)
{
    gw_cache_request_plan_t  p;

    p = plan_headers("no-cache", NULL);
    ck_assert(!p.lookup && p.store);
    ck_assert_int_eq(p.reason, GW_CACHE_REQUEST_NO_CACHE);

    p = plan_headers("max-age=10, No-Cache", NULL);
    ck_assert(!p.lookup && p.store);

    p = plan_headers(NULL, "no-cache");
    ck_assert(!p.lookup && p.store);

    /* Pragma counts only without Cache-Control (RFC 9111 5.4) */
    p = plan_headers("max-age=10", "no-cache");
    ck_assert(p.lookup && p.store);

    p = plan_headers("no-store", NULL);
    ck_assert(p.lookup && !p.store);
    ck_assert_int_eq(p.reason, GW_CACHE_REQUEST_NO_STORE);

    p = plan_headers("no-cache, no-store", NULL);
    ck_assert(!p.lookup && !p.store);

    /* only the directive itself: a value or a longer name is not it */
    p = plan_headers("no-cache-please, x=\"no-cache\"", NULL);
    ck_assert(p.lookup && p.store);

    /* a reload's max-age=0 still reads the cache */
    p = plan_headers("max-age=0", NULL);
    ck_assert(p.lookup && p.store);
}
END_TEST


START_TEST(only_200_301_and_404_are_stored)
{
    static const unsigned  stored[] = { 200, 301, 404 };
    static const unsigned  refused[] = { 100, 201, 204, 206, 302, 304, 307,
                                         400, 401, 403, 410, 500, 502, 503 };
    gw_cache_response_t    r;
    gw_cache_store_plan_t  p;
    size_t                 i;

    for (i = 0; i < sizeof(stored) / sizeof(stored[0]); i++) {
        r = response(stored[i]);
        p = plan_response(&r);
        ck_assert_msg(p.reason == GW_CACHE_STORE_OK, "%u refused", stored[i]);
        ck_assert_uint_eq(p.lifetime, 300);
        ck_assert_uint_eq(p.ttl_ms, 300000);
    }

    for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        r = response(refused[i]);
        p = plan_response(&r);
        ck_assert_msg(p.reason == GW_CACHE_STORE_STATUS, "%u stored", refused[i]);
    }
}
END_TEST


START_TEST(cache_control_forbids_storing)
{
    ck_assert_int_eq(plan_cc("no-store").reason, GW_CACHE_STORE_NO_STORE);
    ck_assert_int_eq(plan_cc("public, max-age=60, NO-STORE").reason,
                     GW_CACHE_STORE_NO_STORE);
    ck_assert_int_eq(plan_cc("private").reason, GW_CACHE_STORE_PRIVATE);
    ck_assert_int_eq(plan_cc("private=\"X-Secret, Y\", max-age=60").reason,
                     GW_CACHE_STORE_PRIVATE);
    ck_assert_int_eq(plan_cc("no-cache").reason, GW_CACHE_STORE_NO_CACHE);
    ck_assert_int_eq(plan_cc("no-cache=\"Set-Cookie\"").reason,
                     GW_CACHE_STORE_NO_CACHE);

    /* a comma inside a quoted value does not start a directive */
    ck_assert_int_eq(plan_cc("ext=\"a, no-store\", max-age=5").reason,
                     GW_CACHE_STORE_OK);
    ck_assert_int_eq(plan_cc("public, must-revalidate").reason,
                     GW_CACHE_STORE_OK);
}
END_TEST


START_TEST(set_cookie_is_never_stored)
{
    gw_cache_response_t  r = response(200);

    r.set_cookie = 1;
    ck_assert_int_eq(plan_response(&r).reason, GW_CACHE_STORE_SET_COOKIE);
}
END_TEST


static gw_cache_store_plan_t
plan_vary(const char *a, const char *b)
{
    gw_cache_response_t  r = response(200);
    gw_cache_str_t       vary[2] = { str(a), str(b ? b : "") };

    r.vary = vary;
    r.vary_n = b ? 2 : 1;

    return plan_response(&r);
}


START_TEST(vary_only_on_accept_encoding)
{
    gw_cache_store_plan_t  p;

    p = plan_vary("Accept-Encoding", NULL);
    ck_assert_int_eq(p.reason, GW_CACHE_STORE_OK);
    ck_assert(p.varies);

    p = plan_vary(" accept-encoding ,ACCEPT-ENCODING", "Accept-Encoding");
    ck_assert_int_eq(p.reason, GW_CACHE_STORE_OK);
    ck_assert(p.varies);

    p = plan_vary("", NULL);
    ck_assert_int_eq(p.reason, GW_CACHE_STORE_OK);
    ck_assert(!p.varies);

    ck_assert_int_eq(plan_vary("*", NULL).reason, GW_CACHE_STORE_VARY);
    ck_assert_int_eq(plan_vary("Accept-Encoding, User-Agent", NULL).reason,
                     GW_CACHE_STORE_VARY);
    ck_assert_int_eq(plan_vary("Accept-Encoding", "Cookie").reason,
                     GW_CACHE_STORE_VARY);
    ck_assert_int_eq(plan_vary("Accept-Encodings", NULL).reason,
                     GW_CACHE_STORE_VARY);
    ck_assert_int_eq(plan_vary("Accept-Encoding=gzip", NULL).reason,
                     GW_CACHE_STORE_VARY);
}
END_TEST


START_TEST(lifetime_from_s_maxage_then_max_age_then_ttl)
{
    gw_cache_store_plan_t  p;

    p = plan_cc("max-age=60, s-maxage=120");
    ck_assert_int_eq(p.reason, GW_CACHE_STORE_OK);
    ck_assert_uint_eq(p.lifetime, 120);

    p = plan_cc("s-maxage=\"30\"");
    ck_assert_uint_eq(p.lifetime, 30);

    p = plan_cc("public, max-age=60");
    ck_assert_uint_eq(p.lifetime, 60);
    ck_assert_uint_eq(p.ttl_ms, 60000);

    p = plan_cc("public");
    ck_assert_uint_eq(p.lifetime, 300);

    p = plan_cc(NULL);
    ck_assert_uint_eq(p.lifetime, 300);

    /* RFC 9111: delta-seconds beyond 2^31 are taken as 2^31 */
    p = plan_cc("max-age=99999999999999999999999");
    ck_assert_int_eq(p.reason, GW_CACHE_STORE_OK);
    ck_assert_uint_eq(p.lifetime, GW_CACHE_MAX_LIFETIME);
}
END_TEST


START_TEST(no_freshness_left_is_not_stored)
{
    ck_assert_int_eq(plan_cc("max-age=0").reason, GW_CACHE_STORE_STALE);
    ck_assert_int_eq(plan_cc("s-maxage=0, max-age=60").reason,
                     GW_CACHE_STORE_STALE);

    /* unreadable or conflicting values make a response stale */
    ck_assert_int_eq(plan_cc("max-age=abc").reason, GW_CACHE_STORE_STALE);
    ck_assert_int_eq(plan_cc("max-age=-1").reason, GW_CACHE_STORE_STALE);
    ck_assert_int_eq(plan_cc("max-age").reason, GW_CACHE_STORE_STALE);
    ck_assert_int_eq(plan_cc("max-age=60 junk").reason, GW_CACHE_STORE_STALE);
    ck_assert_int_eq(plan_cc("max-age=\"60\"junk").reason,
                     GW_CACHE_STORE_STALE);
    ck_assert_int_eq(plan_cc("max-age=60, max-age=120").reason,
                     GW_CACHE_STORE_STALE);
    ck_assert_int_eq(plan_cc("max-age=60, max-age=60").reason,
                     GW_CACHE_STORE_OK);

    /* s-maxage wins: an unreadable max-age does not matter next to it */
    ck_assert_int_eq(plan_cc("max-age=x, s-maxage=10").reason,
                     GW_CACHE_STORE_OK);
}
END_TEST


START_TEST(gateway_cache_ttl_zero_stores_only_explicit_freshness)
{
    gw_cache_limits_t      none = { 0, 1048576 };
    gw_cache_response_t    r = response(200);
    gw_cache_str_t         cc = str("max-age=5");
    gw_cache_store_plan_t  p;

    gw_cache_response_plan(&r, &none, NOW, &p);
    ck_assert_int_eq(p.reason, GW_CACHE_STORE_STALE);

    r.cache_control = &cc;
    r.cache_control_n = 1;
    gw_cache_response_plan(&r, &none, NOW, &p);
    ck_assert_int_eq(p.reason, GW_CACHE_STORE_OK);
    ck_assert_uint_eq(p.lifetime, 5);
}
END_TEST


START_TEST(expires_after_max_age)
{
    gw_cache_response_t    r = response(200);
    gw_cache_str_t         cc = str("max-age=7");
    gw_cache_store_plan_t  p;

    r.expires = NOW + 100;
    p = plan_response(&r);
    ck_assert_int_eq(p.reason, GW_CACHE_STORE_OK);
    ck_assert_uint_eq(p.lifetime, 100);

    /* measured from the response's Date when it has one */
    r.date = NOW - 40;
    p = plan_response(&r);
    ck_assert_uint_eq(p.lifetime, 140);

    r.cache_control = &cc;
    r.cache_control_n = 1;
    ck_assert_uint_eq(plan_response(&r).lifetime, 7);

    r = response(200);
    r.expires = NOW - 1;
    ck_assert_int_eq(plan_response(&r).reason, GW_CACHE_STORE_STALE);

    r.expires = GW_CACHE_TIME_INVALID;
    ck_assert_int_eq(plan_response(&r).reason, GW_CACHE_STORE_STALE);

    r.expires = NOW + 10;
    r.date = GW_CACHE_TIME_INVALID;
    ck_assert_uint_eq(plan_response(&r).lifetime, 10);
}
END_TEST


START_TEST(age_counts_against_the_lifetime)
{
    gw_cache_response_t    r = response(200);
    gw_cache_str_t         cc = str("max-age=60");
    gw_cache_store_plan_t  p;

    r.cache_control = &cc;
    r.cache_control_n = 1;

    r.age = str("45");
    p = plan_response(&r);
    ck_assert_int_eq(p.reason, GW_CACHE_STORE_OK);
    ck_assert_uint_eq(p.lifetime, 60);
    ck_assert_uint_eq(p.initial_age, 45);
    ck_assert_uint_eq(p.ttl_ms, 15000);

    r.age = str("60");
    ck_assert_int_eq(plan_response(&r).reason, GW_CACHE_STORE_STALE);

    /* a list's first member; nonsense is no Age */
    r.age = str(" 10 , 70");
    ck_assert_uint_eq(plan_response(&r).initial_age, 10);

    r.age = str("ten");
    p = plan_response(&r);
    ck_assert_int_eq(p.reason, GW_CACHE_STORE_OK);
    ck_assert_uint_eq(p.initial_age, 0);
}
END_TEST


START_TEST(content_length_above_max_size)
{
    gw_cache_response_t  r = response(200);

    r.content_length = 1048576;
    ck_assert_int_eq(plan_response(&r).reason, GW_CACHE_STORE_OK);

    r.content_length = 1048577;
    ck_assert_int_eq(plan_response(&r).reason, GW_CACHE_STORE_TOO_LARGE);
}
END_TEST


START_TEST(stored_headers)
{
    static const char  *kept[] = { "Content-Type", "ETag", "Last-Modified",
                                   "Location", "Cache-Control", "Vary",
                                   "Content-Encoding", "X-Anything" };
    static const char  *dropped[] = { "Age", "connection", "Content-Length",
                                      "Date", "Keep-Alive", "Server",
                                      "Set-Cookie", "TE", "Trailer",
                                      "Transfer-Encoding", "UPGRADE",
                                      "Proxy-Authenticate" };
    size_t              i;

    for (i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
        ck_assert_msg(gw_cache_header_is_stored(kept[i], strlen(kept[i])),
                      "%s dropped", kept[i]);
    }

    for (i = 0; i < sizeof(dropped) / sizeof(dropped[0]); i++) {
        ck_assert_msg(!gw_cache_header_is_stored(dropped[i],
                                                 strlen(dropped[i])),
                      "%s kept", dropped[i]);
    }
}
END_TEST


START_TEST(redis_keys_short_plain_others_hashed)
{
    size_t  n;
    char    key[GW_CACHE_KEY_LEN + 1], lock[GW_CACHE_LOCK_KEY_LEN + 1];
    char    long_key[GW_CACHE_PLAIN_KEY_MAX + 2];

    /* a short key as it is, its lock apart from every entry */

    memset(key, 0, sizeof(key));
    n = gw_cache_entry_key("abc", 3, 0, key);
    ck_assert_uint_eq(n, 13);
    ck_assert_str_eq(key, "gw:cache:=abc");

    memset(lock, 0, sizeof(lock));
    n = gw_cache_lock_key(key, 13, lock);
    ck_assert_uint_eq(n, 18);
    ck_assert_str_eq(lock, "gw:cache:lock:=abc");

    /* binary safe: a NUL, CR LF */

    n = gw_cache_entry_key("a\0\r\n", 4, 0, key);
    ck_assert_uint_eq(n, 14);
    ck_assert_mem_eq(key, "gw:cache:=a\0\r\n", 14);

    /* hidden (it may hold an identity): SHA-256("abc") */

    memset(key, 0, sizeof(key));
    n = gw_cache_entry_key("abc", 3, 1, key);
    ck_assert_uint_eq(n, GW_CACHE_KEY_LEN);
    ck_assert_str_eq(key, "gw:cache:ba7816bf8f01cfea414140de5dae2223"
                          "b00361a396177a9cb410ff61f20015ad");

    memset(lock, 0, sizeof(lock));
    n = gw_cache_lock_key(key, GW_CACHE_KEY_LEN, lock);
    ck_assert_uint_eq(n, GW_CACHE_LOCK_KEY_LEN);
    ck_assert_str_eq(lock, "gw:cache:lock:ba7816bf8f01cfea414140de5dae2223"
                           "b00361a396177a9cb410ff61f20015ad");

    /* the longest plain key fills the longest entry key; one more is hashed */

    memset(long_key, 'k', sizeof(long_key));

    n = gw_cache_entry_key(long_key, GW_CACHE_PLAIN_KEY_MAX, 0, key);
    ck_assert_uint_eq(n, GW_CACHE_KEY_LEN);
    ck_assert_int_eq(key[9], '=');
    ck_assert_uint_eq(gw_cache_lock_key(key, n, lock), GW_CACHE_LOCK_KEY_LEN);

    n = gw_cache_entry_key(long_key, GW_CACHE_PLAIN_KEY_MAX + 1, 0, key);
    ck_assert_uint_eq(n, GW_CACHE_KEY_LEN);
    ck_assert_int_ne(key[9], '=');
    ck_assert(strchr("0123456789abcdef", key[9]) != NULL);
}
END_TEST


int
main(void)
{
    Suite  *s = suite_create("cache_policy");
    TCase  *tc = tcase_create("core");

    tcase_add_test(tc, a_plain_get_is_looked_up_and_stored);
    tcase_add_test(tc, methods_and_credentials_skip_both_ways);
    tcase_add_test(tc, bypass_skips_the_lookup_but_may_store);
    tcase_add_test(tc, head_is_looked_up_and_never_stores);
    tcase_add_test(tc, client_no_cache_skips_the_lookup_but_may_store);
    tcase_add_test(tc, only_200_301_and_404_are_stored);
    tcase_add_test(tc, cache_control_forbids_storing);
    tcase_add_test(tc, set_cookie_is_never_stored);
    tcase_add_test(tc, vary_only_on_accept_encoding);
    tcase_add_test(tc, lifetime_from_s_maxage_then_max_age_then_ttl);
    tcase_add_test(tc, no_freshness_left_is_not_stored);
    tcase_add_test(tc, gateway_cache_ttl_zero_stores_only_explicit_freshness);
    tcase_add_test(tc, expires_after_max_age);
    tcase_add_test(tc, age_counts_against_the_lifetime);
    tcase_add_test(tc, content_length_above_max_size);
    tcase_add_test(tc, stored_headers);
    tcase_add_test(tc, redis_keys_short_plain_others_hashed);
    suite_add_tcase(s, tc);

    return gw_unit_run(s);
}
