/* Check unit tests: Consul health replies, peers, the dump file, requests. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

#include "gw_consul.h"


#define SAMPLE  "t/consul/health-service-sample.json"


static char *
read_file(const char *path, size_t *len)
{
    FILE  *f = fopen(path, "rb");
    char  *text;
    long   n;

    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    text = malloc(n + 1);
    ck_assert_uint_eq(fread(text, 1, n, f), (size_t) n);
    text[n] = '\0';
    fclose(f);
    *len = n;
    return text;
}


/* Reads a whole reply (in pieces of step bytes, 0: at once). */
static gw_consul_status_t
read_reply(gw_consul_reader_t *r, const char *text, size_t len, size_t step,
    gw_consul_result_t *res)
{
    gw_consul_status_t  rc = GW_CONSUL_OK;
    size_t              i, n;

    gw_consul_reader_reset(r);
    if (step == 0) {
        step = len ? len : 1;
    }
    for (i = 0; i < len && rc == GW_CONSUL_OK; i += n) {
        n = len - i < step ? len - i : step;
        rc = gw_consul_reader_feed(r, text + i, n);
    }
    if (rc != GW_CONSUL_OK) {
        return rc;
    }
    return gw_consul_reader_finish(r, res);
}


static gw_consul_reader_t *
reader(size_t max_peers)
{
    gw_consul_limits_t   limits = { max_peers, 4096 };
    gw_consul_reader_t  *r = gw_consul_reader_new(&limits);

    ck_assert_ptr_nonnull(r);
    return r;
}


static gw_consul_status_t
parse(gw_consul_reader_t *r, const char *text, gw_consul_result_t *res)
{
    return read_reply(r, text, strlen(text), 0, res);
}


static const char *
peer_text(const gw_consul_peer_t *p)
{
    static char  buf[GW_CONSUL_PEER_TEXT_MAX];

    gw_consul_peer_format(p, buf, sizeof(buf));
    return buf;
}


/*
 * Appends one entry to the reply in out (started with "[" if empty, closed
 * with "]"): a Service with an address (NULL: none), port and weights.
 */
static char *
add(char *out, const char *service_addr, const char *node_addr,
    const char *port, const char *weights, const char *checks)
{
    size_t   len = strlen(out);
    char    *p = out + len;

    if (len == 0) {
        *p++ = '[';
    } else {
        p[-1] = ',';                                    /* over the "]" */
    }
    p += sprintf(p, "{\"Node\":{\"Node\":\"n\",\"Address\":\"%s\"},"
                 "\"Service\":{\"ID\":\"web\",\"Service\":\"web\"",
                 node_addr);
    if (service_addr) {
        p += sprintf(p, ",\"Address\":\"%s\"", service_addr);
    }
    if (port) {
        p += sprintf(p, ",\"Port\":%s", port);
    }
    if (weights) {
        p += sprintf(p, ",\"Weights\":%s", weights);
    }
    p += sprintf(p, "}");
    if (checks) {
        p += sprintf(p, ",\"Checks\":%s", checks);
    }
    strcpy(p, "}]");
    return out;
}


static const char *passing = "[{\"CheckID\":\"serfHealth\",\"Status\":\"passing\"}]";


START_TEST(reads_the_documented_sample)
{
    gw_consul_reader_t  *r = reader(128);
    gw_consul_result_t   res;
    size_t               len, step;
    char                *text = read_file(SAMPLE, &len);

    for (step = 0; step < 40; step++) {
        ck_assert_int_eq(read_reply(r, text, len, step, &res), GW_CONSUL_OK);
        ck_assert_uint_eq(res.npeers, 1);
        ck_assert_uint_eq(res.entries, 1);
        ck_assert_uint_eq(res.skipped, 0);
        ck_assert_uint_eq(res.names, 0);
        ck_assert_uint_eq(res.truncated, 0);
        ck_assert_int_eq(res.peers[0].kind, GW_CONSUL_IPV4);
        ck_assert_str_eq(peer_text(&res.peers[0]), "10.1.10.12:8000");
        ck_assert_uint_eq(res.peers[0].weight, 10);
    }
    free(text);
    gw_consul_reader_free(r);
}
END_TEST


START_TEST(address_falls_back_to_the_node)
{
    gw_consul_reader_t  *r = reader(128);
    gw_consul_result_t   res;
    char                 text[4096] = "";

    add(text, "", "10.0.0.1", "80", NULL, passing);
    add(text, NULL, "10.0.0.2", "80", NULL, NULL);
    ck_assert_int_eq(parse(r, text, &res), GW_CONSUL_OK);
    ck_assert_uint_eq(res.npeers, 2);
    ck_assert_str_eq(peer_text(&res.peers[0]), "10.0.0.1:80");
    ck_assert_str_eq(peer_text(&res.peers[1]), "10.0.0.2:80");
    ck_assert_uint_eq(res.peers[0].weight, 1);

    /* the service's own address wins over the node's */
    text[0] = '\0';
    add(text, "192.168.1.9", "10.0.0.1", "81", NULL, passing);
    ck_assert_int_eq(parse(r, text, &res), GW_CONSUL_OK);
    ck_assert_uint_eq(res.npeers, 1);
    ck_assert_str_eq(peer_text(&res.peers[0]), "192.168.1.9:81");

    /* neither: skipped with a reason */
    text[0] = '\0';
    add(text, "", "", "81", NULL, passing);
    ck_assert_int_eq(parse(r, text, &res), GW_CONSUL_OK);
    ck_assert_uint_eq(res.npeers, 0);
    ck_assert_uint_eq(res.skipped, 1);
    ck_assert_ptr_nonnull(strstr(res.skip_reason, "Node.Address"));
    gw_consul_reader_free(r);
}
END_TEST


START_TEST(classifies_addresses)
{
    static const struct {
        const char  *address;
        int          kind;           /* 0: refused */
        const char  *text;
    } cases[] = {
        { "10.1.2.3", GW_CONSUL_IPV4, "10.1.2.3:80" },
        { "2001:DB8:0:0:0:0:0:1", GW_CONSUL_IPV6, "[2001:db8::1]:80" },
        { "::1", GW_CONSUL_IPV6, "[::1]:80" },
        { "::ffff:10.0.0.1", GW_CONSUL_IPV6, "[::ffff:10.0.0.1]:80" },
        { "Web-1.Service.Consul", GW_CONSUL_NAME, "web-1.service.consul:80" },
        { "api.internal.", GW_CONSUL_NAME, "api.internal:80" },
        { "_svc.example", GW_CONSUL_NAME, "_svc.example:80" },
        { "localhost", GW_CONSUL_NAME, "localhost:80" },
        { "10.0.0", 0, NULL },
        { "10.0.0.256", 0, NULL },
        { "010.0.0.1", 0, NULL },
        { "a b", 0, NULL },
        { "-bad.example", 0, NULL },
        { "bad-.example", 0, NULL },
        { "a..b", 0, NULL },
        { "fe80::1%eth0", 0, NULL },
        { "[::1]", 0, NULL },
        { "10.0.0.1:80", 0, NULL },
        { "unix:///run/web.sock", 0, NULL },
        { "caf\xc3\xa9.example", 0, NULL },
        { ".", 0, NULL },
        { "", 0, NULL },
    };
    gw_consul_peer_t  peer;
    const char       *why;
    size_t            i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        why = gw_consul_peer_make(cases[i].address, strlen(cases[i].address),
                                  80, 1, &peer);
        if (cases[i].kind == 0) {
            ck_assert_msg(why != NULL, "accepted \"%s\"", cases[i].address);
            continue;
        }
        ck_assert_msg(why == NULL, "refused \"%s\": %s", cases[i].address, why);
        ck_assert_int_eq(peer.kind, cases[i].kind);
        ck_assert_str_eq(peer_text(&peer), cases[i].text);
    }

    /* a name of the longest length, and one byte more */
    {
        char  name[300];

        memset(name, 'a', sizeof(name));
        for (i = 63; i < 253; i += 64) {
            name[i] = '.';
        }
        ck_assert_ptr_null(gw_consul_peer_make(name, 253, 80, 1, &peer));
        ck_assert_int_eq(peer.host_len, 253);
        ck_assert_ptr_nonnull(gw_consul_peer_make(name, 254, 80, 1, &peer));
        ck_assert_ptr_nonnull(gw_consul_peer_make("a\0b", 3, 80, 1, &peer));
    }
}
END_TEST


START_TEST(reads_ports_and_weights)
{
    static const struct {
        const char  *port;
        const char  *weights;
        long         weight;         /* -1: skipped */
    } cases[] = {
        { "8080", NULL, 1 },
        { "8080", "{\"Passing\":10,\"Warning\":1}", 10 },
        { "8080", "{\"Passing\":0,\"Warning\":1}", 0 },
        { "8080", "{\"Warning\":3}", 1 },
        { "8080", "{\"Passing\":null}", 1 },
        { "8080", "null", 1 },
        { "8080", "{\"Passing\":4294967295}", 4294967295L },
        { "8080", "{\"Passing\":4294967296}", -1 },
        { "8080", "{\"Passing\":-1}", -1 },
        { "8080", "{\"Passing\":1.5}", -1 },
        { "8080", "{\"Passing\":\"2\"}", -1 },
        { "65535", NULL, 1 },
        { "0", NULL, -1 },
        { "65536", NULL, -1 },
        { "-80", NULL, -1 },
        { "\"80\"", NULL, -1 },
        { "80.0", NULL, -1 },
        { NULL, NULL, -1 },
    };
    gw_consul_reader_t  *r = reader(8);
    gw_consul_result_t   res;
    char                 text[1024];
    size_t               i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        text[0] = '\0';
        add(text, "10.0.0.1", "10.0.0.2", cases[i].port, cases[i].weights,
            passing);
        ck_assert_int_eq(parse(r, text, &res), GW_CONSUL_OK);
        if (cases[i].weight < 0) {
            ck_assert_msg(res.npeers == 0 && res.skipped == 1, "used %s", text);
            ck_assert_ptr_nonnull(res.skip_reason);
        } else {
            ck_assert_msg(res.npeers == 1, "skipped %s: %s", text,
                          res.skip_reason);
            ck_assert_uint_eq(res.peers[0].weight, (uint32_t) cases[i].weight);
        }
    }
    gw_consul_reader_free(r);
}
END_TEST


START_TEST(checks_decide_and_may_be_missing)
{
    static const struct {
        const char  *checks;
        int          used;
    } cases[] = {
        { NULL, 1 },
        { "null", 1 },
        { "[]", 1 },
        { "[{\"Status\":\"passing\"},{\"Status\":\"passing\"}]", 1 },
        { "[{\"Status\":\"passing\"},{\"Status\":\"critical\"}]", 0 },
        { "[{\"Status\":\"warning\"}]", 0 },
        { "[{\"Name\":\"no status\"}]", 0 },
        { "[{\"Status\":1}]", 0 },
        { "[\"passing\"]", 0 },
        { "{}", 0 },
    };
    gw_consul_reader_t  *r = reader(8);
    gw_consul_result_t   res;
    char                 text[1024];
    size_t               i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        text[0] = '\0';
        add(text, "10.0.0.1", "", "80", NULL, cases[i].checks);
        ck_assert_int_eq(parse(r, text, &res), GW_CONSUL_OK);
        ck_assert_msg(res.npeers == (size_t) cases[i].used, "%s", text);
    }
    gw_consul_reader_free(r);
}
END_TEST


START_TEST(merges_duplicates)
{
    gw_consul_reader_t  *r = reader(8);
    gw_consul_result_t   res;
    char                 text[4096] = "";

    add(text, "10.0.0.1", "", "80", "{\"Passing\":3}", NULL);
    add(text, "10.0.0.1", "", "80", "{\"Passing\":5}", NULL);
    add(text, "10.0.0.1", "", "81", NULL, NULL);
    add(text, "2001:db8::1", "", "80", NULL, NULL);
    add(text, "2001:DB8:0::1", "", "80", "{\"Passing\":2}", NULL);
    add(text, "Api.Example", "", "80", NULL, NULL);
    add(text, "api.example.", "", "80", NULL, NULL);

    ck_assert_int_eq(parse(r, text, &res), GW_CONSUL_OK);
    ck_assert_uint_eq(res.entries, 7);
    ck_assert_uint_eq(res.npeers, 4);
    ck_assert_uint_eq(res.names, 1);
    ck_assert_str_eq(peer_text(&res.peers[0]), "10.0.0.1:80");
    ck_assert_uint_eq(res.peers[0].weight, 5);        /* the higher weight */
    ck_assert_str_eq(peer_text(&res.peers[1]), "10.0.0.1:81");
    ck_assert_str_eq(peer_text(&res.peers[2]), "[2001:db8::1]:80");
    ck_assert_uint_eq(res.peers[2].weight, 2);
    ck_assert_str_eq(peer_text(&res.peers[3]), "api.example:80");
    gw_consul_reader_free(r);
}
END_TEST


/* A reply with n entries at 10.0.x.y:80, in the order of perm. */
static char *
many(size_t n, int reversed, size_t *len)
{
    char    *text = malloc(n * 200 + 16), *p = text;
    size_t   i, k;

    *p++ = '[';
    for (i = 0; i < n; i++) {
        k = reversed ? n - 1 - i : (i * 7919) % n;
        if (i) {
            *p++ = ',';
        }
        p += sprintf(p, "{\"Node\":{\"Address\":\"10.9.9.9\"},\"Service\":"
                     "{\"Address\":\"10.%zu.%zu.%zu\",\"Port\":80},"
                     "\"Checks\":[]}", k >> 16, (k >> 8) & 255, k & 255);
    }
    *p++ = ']';
    *len = p - text;
    return text;
}


START_TEST(keeps_the_lowest_peers_past_max_peers)
{
    gw_consul_reader_t  *r = reader(10);
    gw_consul_result_t   res;
    gw_consul_peer_t     first[10];
    size_t               len, i;
    char                *text;

    text = many(1000, 0, &len);
    ck_assert_int_eq(read_reply(r, text, len, 0, &res), GW_CONSUL_OK);
    ck_assert_uint_eq(res.entries, 1000);
    ck_assert_uint_eq(res.npeers, 10);
    ck_assert_uint_eq(res.truncated, 1);
    for (i = 0; i < 10; i++) {
        char  want[32];

        sprintf(want, "10.0.0.%zu:80", i);
        ck_assert_str_eq(peer_text(&res.peers[i]), want);
    }
    memcpy(first, res.peers, sizeof(first));
    free(text);

    /* the same set whatever the order */
    text = many(1000, 1, &len);
    ck_assert_int_eq(read_reply(r, text, len, 7, &res), GW_CONSUL_OK);
    ck_assert_int_eq(gw_consul_peers_equal(first, 10, res.peers, res.npeers), 1);
    free(text);

    /* exactly max_peers is not truncated */
    text = many(10, 0, &len);
    ck_assert_int_eq(read_reply(r, text, len, 0, &res), GW_CONSUL_OK);
    ck_assert_uint_eq(res.npeers, 10);
    ck_assert_uint_eq(res.truncated, 0);
    free(text);
    gw_consul_reader_free(r);
}
END_TEST


START_TEST(reads_a_large_catalog_in_bounded_memory)
{
    gw_consul_reader_t  *r = reader(128);
    gw_consul_result_t   res;
    size_t               len;
    char                *text = many(100000, 0, &len);

    /* about 10 MB, fed in 16 KB reads as a socket would give it */
    ck_assert_uint_gt(len, 8 * 1024 * 1024);
    ck_assert_int_eq(read_reply(r, text, len, 16384, &res), GW_CONSUL_OK);
    ck_assert_uint_eq(res.entries, 100000);
    ck_assert_uint_eq(res.npeers, 128);
    ck_assert_uint_eq(res.truncated, 1);
    free(text);
    gw_consul_reader_free(r);
}
END_TEST


START_TEST(refuses_malformed_replies)
{
    static const struct {
        const char          *text;
        gw_consul_status_t   status;
    } cases[] = {
        { "", GW_CONSUL_TRUNCATED },
        { "   ", GW_CONSUL_TRUNCATED },
        { "[", GW_CONSUL_TRUNCATED },
        { "[{\"Service\":{}}", GW_CONSUL_TRUNCATED },
        { "[{\"Service\":{}},", GW_CONSUL_TRUNCATED },
        { "[{\"Service\":{\"Address\":\"x]}\"", GW_CONSUL_TRUNCATED },
        { "{}", GW_CONSUL_SYNTAX },
        { "null", GW_CONSUL_SYNTAX },
        { "[1]", GW_CONSUL_SYNTAX },
        { "[[]]", GW_CONSUL_SYNTAX },
        { "[{},]", GW_CONSUL_SYNTAX },
        { "[,{}]", GW_CONSUL_SYNTAX },
        { "[{}{}]", GW_CONSUL_SYNTAX },
        { "[{}] x", GW_CONSUL_SYNTAX },
        { "[{}][]", GW_CONSUL_SYNTAX },
        { "\xef\xbb\xbf[]", GW_CONSUL_SYNTAX },
        { "[{\"a\":1,\"a\":2}]", GW_CONSUL_BAD_ENTRY },
        { "[{\"a\":[1}]", GW_CONSUL_BAD_ENTRY },
        { "[{\"a\":\"\xff\"}]", GW_CONSUL_BAD_ENTRY },
        { "[{\"a\":01}]", GW_CONSUL_BAD_ENTRY },
        { "[{\"a\":\"\\ud800\"}]", GW_CONSUL_BAD_ENTRY },
        { "[{\"a\" 1}]", GW_CONSUL_BAD_ENTRY },
    };
    gw_consul_reader_t  *r = reader(8);
    gw_consul_result_t   res;
    size_t               i, step;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (step = 0; step < 4; step++) {
            gw_consul_status_t rc = read_reply(r, cases[i].text,
                                               strlen(cases[i].text), step,
                                               &res);
            ck_assert_msg(rc == cases[i].status, "%s: %s (%s)", cases[i].text,
                          gw_consul_status_text(rc), gw_consul_reader_error(r));
        }
        ck_assert_str_ne(gw_consul_reader_error(r), "");
    }

    /* the error says where */
    ck_assert_int_eq(parse(r, "[{\"a\":1},{\"b\":1,\"b\":2}]", &res),
                     GW_CONSUL_BAD_ENTRY);
    ck_assert_str_eq(gw_consul_reader_error(r),
                     "byte 22 of the reply: entry 2: duplicate key");

    /* an empty array is a valid (empty) set */
    ck_assert_int_eq(parse(r, " [ ] \r\n", &res), GW_CONSUL_OK);
    ck_assert_uint_eq(res.npeers, 0);
    ck_assert_uint_eq(res.entries, 0);

    /* and an error stays until the reset */
    gw_consul_reader_reset(r);
    ck_assert_int_eq(gw_consul_reader_feed(r, "x", 1), GW_CONSUL_SYNTAX);
    ck_assert_int_eq(gw_consul_reader_feed(r, "[]", 2), GW_CONSUL_SYNTAX);
    ck_assert_int_eq(gw_consul_reader_finish(r, &res), GW_CONSUL_SYNTAX);
    gw_consul_reader_free(r);
}
END_TEST


START_TEST(bounds_entries_and_nesting)
{
    gw_consul_reader_t  *r = reader(8);
    gw_consul_result_t   res;
    char                 text[8192];
    size_t               i;

    /* max_entry is 4096 here */
    strcpy(text, "[{\"Service\":{\"Address\":\"10.0.0.1\",\"Port\":80},\"x\":\"");
    for (i = strlen(text); i < 5000; i++) {
        text[i] = 'a';
    }
    strcpy(text + i, "\"}]");
    ck_assert_int_eq(parse(r, text, &res), GW_CONSUL_ENTRY_TOO_LARGE);
    ck_assert_int_eq(read_reply(r, text, strlen(text), 100, &res),
                     GW_CONSUL_ENTRY_TOO_LARGE);

    /* 64 levels are taken, 65 are not */
    strcpy(text, "[{\"x\":");
    for (i = 0; i < 63; i++) {
        strcat(text, "[");
    }
    for (i = 0; i < 63; i++) {
        strcat(text, "]");
    }
    strcat(text, "}]");
    ck_assert_int_eq(parse(r, text, &res), GW_CONSUL_OK);
    ck_assert_uint_eq(res.skipped, 1);
    strcpy(text, "[{\"x\":");
    for (i = 0; i < 64; i++) {
        strcat(text, "[");
    }
    for (i = 0; i < 64; i++) {
        strcat(text, "]");
    }
    strcat(text, "}]");
    ck_assert_int_eq(parse(r, text, &res), GW_CONSUL_BAD_ENTRY);
    gw_consul_reader_free(r);
}
END_TEST


START_TEST(reads_the_same_in_any_pieces)
{
    static const char  *text =
        "[ {\"Node\":{\"Address\":\"10.0.0.9\"},\"Service\":{\"Address\":"
        "\"a\\\"]}\\\\\",\"Port\":1},\"Checks\":null} ,\n"
        "{\"Node\":{\"Address\":\"10.0.0.9\"},\"Service\":{\"Address\":\"\","
        "\"Port\":9,\"Tags\":[\"}]\",\"{[\"],\"Meta\":{\"k\":\"\\u005d\"}}},"
        "{\"Service\":{\"Address\":\"fd00::1\",\"Port\":2,\"Weights\":"
        "{\"Passing\":7}}} ]";
    gw_consul_reader_t  *r = reader(8);
    gw_consul_result_t   res;
    gw_consul_peer_t     whole[8];
    size_t               n, step, len = strlen(text);

    ck_assert_int_eq(read_reply(r, text, len, 0, &res), GW_CONSUL_OK);
    ck_assert_uint_eq(res.entries, 3);
    ck_assert_uint_eq(res.skipped, 1);             /* the quoted address */
    ck_assert_uint_eq(res.npeers, 2);
    ck_assert_str_eq(peer_text(&res.peers[0]), "10.0.0.9:9");
    ck_assert_str_eq(peer_text(&res.peers[1]), "[fd00::1]:2");
    ck_assert_uint_eq(res.peers[1].weight, 7);
    n = res.npeers;
    memcpy(whole, res.peers, n * sizeof(whole[0]));

    for (step = 1; step <= len; step++) {
        ck_assert_int_eq(read_reply(r, text, len, step, &res), GW_CONSUL_OK);
        ck_assert_int_eq(gw_consul_peers_equal(whole, n, res.peers, res.npeers), 1);
        ck_assert_uint_eq(res.skipped, 1);
    }
    gw_consul_reader_free(r);
}
END_TEST


START_TEST(parses_peer_text)
{
    static const struct {
        const char  *text;
        const char  *canonical;      /* NULL: refused */
    } cases[] = {
        { "10.0.0.1:80", "10.0.0.1:80" },
        { "[::1]:8080", "[::1]:8080" },
        { "[2001:DB8::0:1]:1", "[2001:db8::1]:1" },
        { "Consul.Service:8500", "consul.service:8500" },
        { "localhost:65535", "localhost:65535" },
        { "::1:80", NULL },
        { "host", NULL },
        { "host:", NULL },
        { "host:0", NULL },
        { "host:65536", NULL },
        { "host:+1", NULL },
        { "host:8x", NULL },
        { "[::1]80", NULL },
        { "[::1]", NULL },
        { "[10.0.0.1]:80", NULL },
        { ":80", NULL },
    };
    gw_consul_peer_t  peer;
    const char       *why;
    size_t            i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        why = gw_consul_peer_parse(cases[i].text, strlen(cases[i].text), 3,
                                   &peer);
        if (cases[i].canonical == NULL) {
            ck_assert_msg(why != NULL, "accepted %s", cases[i].text);
        } else {
            ck_assert_msg(why == NULL, "refused %s: %s", cases[i].text, why);
            ck_assert_str_eq(peer_text(&peer), cases[i].canonical);
            ck_assert_uint_eq(peer.weight, 3);
        }
    }
}
END_TEST


START_TEST(compares_sets)
{
    gw_consul_peer_t  a[2], b[2];

    ck_assert_ptr_null(gw_consul_peer_parse("10.0.0.1:80", 11, 1, &a[0]));
    ck_assert_ptr_null(gw_consul_peer_parse("10.0.0.2:80", 11, 1, &a[1]));
    memcpy(b, a, sizeof(a));
    ck_assert_int_eq(gw_consul_peers_equal(a, 2, b, 2), 1);
    ck_assert_int_eq(gw_consul_peers_equal(a, 2, b, 1), 0);
    b[1].weight = 2;
    ck_assert_int_eq(gw_consul_peers_equal(a, 2, b, 2), 0);
    ck_assert_int_eq(gw_consul_peer_compare(&a[1], &b[1]), 0);
    ck_assert_int_lt(gw_consul_peer_compare(&a[0], &a[1]), 0);
    ck_assert_int_gt(gw_consul_peer_compare(&a[1], &a[0]), 0);
    ck_assert_int_eq(gw_consul_peers_equal(NULL, 0, NULL, 0), 1);
}
END_TEST


/* ---- the dump file ---- */

static size_t
sample_set(gw_consul_peer_t *peers)
{
    ck_assert_ptr_null(gw_consul_peer_parse("10.0.0.1:8080", 13, 10, &peers[0]));
    ck_assert_ptr_null(gw_consul_peer_parse("[2001:db8::1]:8080", 18, 1, &peers[1]));
    ck_assert_ptr_null(gw_consul_peer_parse("api.internal:8080", 17, 0, &peers[2]));
    return 3;
}


START_TEST(dump_round_trip)
{
    gw_consul_peer_t  peers[3], back[3];
    char              text[4096], err[128];
    size_t            n = sample_set(peers), len, got;
    unsigned          truncated;
    uint64_t          index;

    len = gw_consul_dump_write("web", 3, 1234, peers, n, text, sizeof(text));
    ck_assert_uint_gt(len, 0);
    ck_assert_uint_le(len, gw_consul_dump_size(3, n));
    text[len] = '\0';
    ck_assert_ptr_nonnull(strstr(text, "\ngateway_consul_dump 1\nservice web\n"
                                 "index 1234\npeer 10.0.0.1:8080 10\n"
                                 "peer [2001:db8::1]:8080 1\n"
                                 "peer api.internal:8080 0\nend 3\n"));

    ck_assert_int_eq(gw_consul_dump_read(text, len, "web", 3, back, 3, &got,
                                         &truncated, &index, err, sizeof(err)),
                     GW_CONSUL_OK);
    ck_assert_uint_eq(got, 3);
    ck_assert_uint_eq(truncated, 0);
    ck_assert_uint_eq(index, 1234);
    ck_assert_int_eq(gw_consul_peers_equal(peers, n, back, got), 1);

    /* fewer slots: the lowest addresses */
    ck_assert_int_eq(gw_consul_dump_read(text, len, "web", 3, back, 2, &got,
                                         &truncated, &index, err, sizeof(err)),
                     GW_CONSUL_OK);
    ck_assert_uint_eq(got, 2);
    ck_assert_uint_eq(truncated, 1);

    /* an empty set */
    len = gw_consul_dump_write("web", 3, 7, peers, 0, text, sizeof(text));
    ck_assert_int_eq(gw_consul_dump_read(text, len, "web", 3, back, 3, &got,
                                         &truncated, &index, err, sizeof(err)),
                     GW_CONSUL_OK);
    ck_assert_uint_eq(got, 0);

    /* no room, or a service that cannot be written */
    ck_assert_uint_eq(gw_consul_dump_write("web", 3, 1, peers, n, text, 40), 0);
    ck_assert_uint_eq(gw_consul_dump_write("a b", 3, 1, peers, n, text,
                                           sizeof(text)), 0);
}
END_TEST


START_TEST(dump_cut_short_is_refused)
{
    gw_consul_peer_t  peers[3], back[3];
    char              text[4096], err[128];
    size_t            n = sample_set(peers), len, cut, got;
    unsigned          truncated;
    uint64_t          index;

    len = gw_consul_dump_write("web", 3, 1234, peers, n, text, sizeof(text));
    for (cut = 0; cut < len - 1; cut++) {
        ck_assert_msg(gw_consul_dump_read(text, cut, "web", 3, back, 3, &got,
                                          &truncated, &index, err,
                                          sizeof(err)) == GW_CONSUL_BAD_DUMP,
                      "accepted %zu of %zu bytes", cut, len);
    }
    /* only the last newline may be missing */
    ck_assert_int_eq(gw_consul_dump_read(text, len - 1, "web", 3, back, 3, &got,
                                         &truncated, &index, err, sizeof(err)),
                     GW_CONSUL_OK);
}
END_TEST


START_TEST(dump_is_read_strictly)
{
    static const struct {
        const char  *text;
        const char  *error;
    } cases[] = {
        { "", "line 1: the file ends before its \"end\" line" },
        { "hello\n", "line 1: not a gateway_consul dump" },
        { "gateway_consul_dump 2\n", "line 1: unsupported version" },
        { "gateway_consul_dump 1\nservice api\n",
          "line 2: the dump is of another service" },
        { "gateway_consul_dump 1\nservice web\nindex x\n",
          "line 3: expected \"index N\"" },
        { "gateway_consul_dump 1\nservice web\nindex 01\n",
          "line 3: expected \"index N\"" },
        { "gateway_consul_dump 1\nservice web\nindex 1\nend 1\n",
          "line 4: the number of peers does not match \"end\"" },
        { "gateway_consul_dump 1\nservice web\nindex 1\npeer 10.0.0.1:80\n",
          "line 4: expected \"peer ADDRESS WEIGHT\"" },
        { "gateway_consul_dump 1\nservice web\nindex 1\npeer 10.0.0.1:80 -1\n",
          "line 4: expected \"peer ADDRESS WEIGHT\"" },
        { "gateway_consul_dump 1\nservice web\nindex 1\npeer 10.0.0.1:80 4294967296\n",
          "line 4: expected \"peer ADDRESS WEIGHT\"" },
        { "gateway_consul_dump 1\nservice web\nindex 1\npeer 10.0.0.1:0 1\n",
          "line 4: port out of range" },
        { "gateway_consul_dump 1\nservice web\nindex 1\npeer a b:80 1\n",
          "line 4: expected \"peer ADDRESS WEIGHT\"" },
        { "gateway_consul_dump 1\nservice web\nindex 1\nend 0\nend 0\n",
          "line 5: data after the \"end\" line" },
        { "gateway_consul_dump 1\r\nservice web\r\n",
          "line 1: not a gateway_consul dump" },
        { "gateway_consul_dump 1\nservice web\nindex 1\nend 0\n\n# fine\n",
          NULL },
        { "# x\n\ngateway_consul_dump 1\n# y\nservice web\nindex 0\n"
          "peer 10.0.0.1:80 1\npeer 10.0.0.1:80 2\nend 2\n", NULL },
    };
    gw_consul_peer_t  back[4];
    char              err[128];
    size_t            i, got;
    unsigned          truncated;
    uint64_t          index;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        gw_consul_status_t rc = gw_consul_dump_read(cases[i].text,
                                                    strlen(cases[i].text),
                                                    "web", 3, back, 4, &got,
                                                    &truncated, &index, err,
                                                    sizeof(err));
        if (cases[i].error == NULL) {
            ck_assert_msg(rc == GW_CONSUL_OK, "%s: %s", cases[i].text, err);
        } else {
            ck_assert_int_eq(rc, GW_CONSUL_BAD_DUMP);
            ck_assert_str_eq(err, cases[i].error);
        }
    }
    /* duplicates merge as in a reply: the higher weight */
    ck_assert_uint_eq(got, 1);
    ck_assert_uint_eq(back[0].weight, 2);
}
END_TEST


/* ---- the request ---- */

static gw_consul_query_t
query(const char *service, const char *tag, const char *dc, const char *token)
{
    gw_consul_query_t  q;

    memset(&q, 0, sizeof(q));
    q.service = service;
    q.service_len = strlen(service);
    q.tag = tag;
    q.tag_len = tag ? strlen(tag) : 0;
    q.dc = dc;
    q.dc_len = dc ? strlen(dc) : 0;
    q.token = token;
    q.token_len = token ? strlen(token) : 0;
    q.host = "127.0.0.1:8500";
    q.host_len = 14;
    q.wait_s = 300;
    return q;
}


START_TEST(builds_requests)
{
    gw_consul_query_t  q = query("web", NULL, NULL, NULL);
    char               out[1024];
    size_t             len;

    len = gw_consul_request(&q, 0, out, sizeof(out));
    out[len] = '\0';
    ck_assert_str_eq(out, "GET /v1/health/service/web?passing=true HTTP/1.1\r\n"
                     "Host: 127.0.0.1:8500\r\n"
                     "User-Agent: ngx_http_gateway_module\r\n"
                     "Accept: application/json\r\n\r\n");

    q = query("my-web/1", "v=1&x", "dc#2", "s3cr3t-t0ken");
    len = gw_consul_request(&q, 42, out, sizeof(out));
    out[len] = '\0';
    ck_assert_str_eq(out, "GET /v1/health/service/my-web%2F1?passing=true"
                     "&index=42&wait=300s&tag=v%3D1%26x&dc=dc%232 HTTP/1.1\r\n"
                     "Host: 127.0.0.1:8500\r\n"
                     "User-Agent: ngx_http_gateway_module\r\n"
                     "Accept: application/json\r\n"
                     "X-Consul-Token: s3cr3t-t0ken\r\n\r\n");
    ck_assert_uint_eq(gw_consul_request(&q, 42, out, len - 1), 0);
}
END_TEST


START_TEST(refuses_what_cannot_be_sent)
{
    gw_consul_query_t  q;
    char               out[1024];

    q = query("web", NULL, NULL, "tok\r\nX-Evil: 1");
    ck_assert_str_eq(gw_consul_query_check(&q), "invalid token");
    ck_assert_uint_eq(gw_consul_request(&q, 1, out, sizeof(out)), 0);

    q = query("web", NULL, NULL, "tok en");
    ck_assert_ptr_nonnull(gw_consul_query_check(&q));
    q = query("", NULL, NULL, NULL);
    ck_assert_str_eq(gw_consul_query_check(&q), "invalid service name");
    q = query("web\n", NULL, NULL, NULL);
    ck_assert_ptr_nonnull(gw_consul_query_check(&q));
    q = query("web", "a\x7f", NULL, NULL);
    ck_assert_str_eq(gw_consul_query_check(&q), "invalid tag");
    q = query("web", NULL, "\xc3\xa9", NULL);
    ck_assert_str_eq(gw_consul_query_check(&q), "invalid datacenter");
    q = query("web", NULL, NULL, NULL);
    q.wait_s = 0;
    ck_assert_str_eq(gw_consul_query_check(&q), "wait out of range");
    q.wait_s = 601;
    ck_assert_ptr_nonnull(gw_consul_query_check(&q));
    q.wait_s = 600;
    ck_assert_ptr_null(gw_consul_query_check(&q));
}
END_TEST


int
main(void)
{
    Suite  *s = suite_create("consul");
    TCase  *tc = tcase_create("consul");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, reads_the_documented_sample);
    tcase_add_test(tc, address_falls_back_to_the_node);
    tcase_add_test(tc, classifies_addresses);
    tcase_add_test(tc, reads_ports_and_weights);
    tcase_add_test(tc, checks_decide_and_may_be_missing);
    tcase_add_test(tc, merges_duplicates);
    tcase_add_test(tc, keeps_the_lowest_peers_past_max_peers);
    tcase_add_test(tc, reads_a_large_catalog_in_bounded_memory);
    tcase_add_test(tc, refuses_malformed_replies);
    tcase_add_test(tc, bounds_entries_and_nesting);
    tcase_add_test(tc, reads_the_same_in_any_pieces);
    tcase_add_test(tc, parses_peer_text);
    tcase_add_test(tc, compares_sets);
    tcase_add_test(tc, dump_round_trip);
    tcase_add_test(tc, dump_cut_short_is_refused);
    tcase_add_test(tc, dump_is_read_strictly);
    tcase_add_test(tc, builds_requests);
    tcase_add_test(tc, refuses_what_cannot_be_sent);
    suite_add_tcase(s, tc);

    return gw_unit_run(s);
}
