/* Check unit tests: token parsing, signatures, hostile tokens, claims. */

#include "unit.h"
#include "jwt_unit.h"
#include "jwt_vectors.h"


#define NVECTORS  (sizeof(vectors) / sizeof(vectors[0]))
#define SECRET    "unit-test-secret"
#define HS_HEADER "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"


static gw_jwt_keyset_t  *all;


static void
setup(void)
{
    all = keyset_of("all.jwks");
}


static void
teardown(void)
{
    gw_jwt_keyset_free(all);
}


static gw_jwt_status_t
hs(const char *header, const char *payload)
{
    return verify_with(mint_hs256(header, payload, SECRET), NULL, SECRET, 0,
                       NULL);
}


START_TEST(verifies_every_algorithm)
{
    size_t  i;

    for (i = 0; i < NVECTORS; i++) {
        gw_jwt_status_t rc = verify_with(vectors[i].token, all, NULL, 0, NULL);
        ck_assert_msg(rc == GW_JWT_OK, "%s: %s", vectors[i].alg,
                      gw_jwt_status_text(rc));
    }
}
END_TEST


START_TEST(rejects_tampered_signatures)
{
    size_t  i, len;
    char    token[4096];

    for (i = 0; i < NVECTORS; i++) {
        /* flip one bit in the middle of the signature */
        len = strlen(vectors[i].token);
        memcpy(token, vectors[i].token, len + 1);
        token[len - 6] = token[len - 6] == 'A' ? 'B' : 'A';
        ck_assert_msg(verify_with(token, all, NULL, 0, NULL)
                      == GW_JWT_BAD_SIGNATURE, "%s", vectors[i].alg);

        /* and in the payload */
        memcpy(token, vectors[i].token, len + 1);
        token[strchr(token, '.') - token + 3] ^= 1;
        ck_assert_msg(verify_with(token, all, NULL, 0, NULL) != GW_JWT_OK,
                      "%s payload", vectors[i].alg);
    }
}
END_TEST


START_TEST(rejects_non_canonical_signature)
{
    size_t  len;
    char    token[4096];

    /* an HS256 signature is 32 bytes: 43 characters whose last holds
     * 4 unused bits; setting one gives another spelling of the same bytes */
    strcpy(token, mint_hs256(HS_HEADER, "{\"exp\":4102444800}", SECRET));
    len = strlen(token);
    ck_assert_int_eq(hs(HS_HEADER, "{\"exp\":4102444800}"), GW_JWT_OK);
    token[len - 1] = token[len - 1] == 'A' ? 'B' : token[len - 1] ^ 1;
    ck_assert_int_eq(verify_with(token, NULL, SECRET, 0, NULL), GW_JWT_MALFORMED);

    /* padding and trailing garbage */
    strcpy(token, mint_hs256(HS_HEADER, "{\"exp\":4102444800}", SECRET));
    strcat(token, "=");
    ck_assert_int_eq(verify_with(token, NULL, SECRET, 0, NULL), GW_JWT_MALFORMED);
    strcpy(token, mint_hs256(HS_HEADER, "{\"exp\":4102444800}", SECRET));
    strcat(token, "AAAA");
    ck_assert_int_eq(verify_with(token, NULL, SECRET, 0, NULL),
                     GW_JWT_BAD_SIGNATURE);
}
END_TEST


START_TEST(rejects_wrong_segment_counts)
{
    char        buf[16400];
    const char *t = mint_hs256(HS_HEADER, "{}", SECRET);
    gw_jwt_t   *jwt;

    ck_assert_int_eq(gw_jwt_parse("abc", 3, 8192, &jwt), GW_JWT_MALFORMED);
    ck_assert_int_eq(gw_jwt_parse("a.b", 3, 8192, &jwt), GW_JWT_MALFORMED);
    snprintf(buf, sizeof(buf), "%s.", t);
    ck_assert_int_eq(verify_with(buf, NULL, SECRET, 0, NULL), GW_JWT_MALFORMED);
    snprintf(buf, sizeof(buf), "%s.%s", t, "AAAA");
    ck_assert_int_eq(verify_with(buf, NULL, SECRET, 0, NULL), GW_JWT_MALFORMED);
    snprintf(buf, sizeof(buf), "%s.AAAA.AAAA", t);
    ck_assert_int_eq(verify_with(buf, NULL, SECRET, 0, NULL), GW_JWT_MALFORMED);
    ck_assert_int_eq(gw_jwt_parse("..", 2, 8192, &jwt), GW_JWT_MALFORMED);
    ck_assert_int_eq(gw_jwt_parse("eyJ9..", 6, 8192, &jwt), GW_JWT_MALFORMED);
}
END_TEST


START_TEST(never_accepts_none)
{
    static const char *nones[] = { "none", "None", "NONE", "nOnE", "" };
    char               header[64], payload_b64[64], header_b64[128], token[256];
    size_t             i, n;
    gw_jwt_t          *jwt;

    n = gw_base64url_encode((const unsigned char *) "{\"exp\":4102444800}", 18,
                            payload_b64, sizeof(payload_b64));
    payload_b64[n] = '\0';

    for (i = 0; i < sizeof(nones) / sizeof(nones[0]); i++) {
        snprintf(header, sizeof(header), "{\"alg\":\"%s\"}", nones[i]);
        n = gw_base64url_encode((const unsigned char *) header, strlen(header),
                                header_b64, sizeof(header_b64));
        header_b64[n] = '\0';

        /* with an empty signature, and with one */
        snprintf(token, sizeof(token), "%s.%s.", header_b64, payload_b64);
        ck_assert_int_eq(gw_jwt_parse(token, strlen(token), 8192, &jwt),
                         GW_JWT_MALFORMED);
        snprintf(token, sizeof(token), "%s.%s.AAAA", header_b64, payload_b64);
        ck_assert_int_eq(gw_jwt_parse(token, strlen(token), 8192, &jwt),
                         GW_JWT_ALG_NOT_ALLOWED);
    }

    ck_assert_uint_eq(gw_jwt_alg_bit("none", 4), 0);
    ck_assert_uint_eq(gw_jwt_alg_bit("hs256", 5), 0);
    ck_assert_uint_eq(gw_jwt_alg_bit("HS256", 5), GW_JWT_HS256);
}
END_TEST


START_TEST(pins_algorithm_to_key_type)
{
    gw_jwt_keyset_t  *rsa = keyset_of("rsa1.pub");

    /* the classic confusion: HS256 keyed with the RSA public key's PEM */
    ck_assert_int_eq(verify_with(hs256_with_rsa1_pem, rsa, NULL, 0, NULL),
                     GW_JWT_NO_KEY);
    ck_assert_int_eq(verify_with(hs256_with_rsa1_pem, all, NULL, 0, NULL),
                     GW_JWT_UNKNOWN_KID);
    ck_assert_int_eq(verify_with(hs256_with_rsa1_pem, rsa, NULL, GW_JWT_ALL,
                                 NULL), GW_JWT_NO_KEY);

    /* an EdDSA token naming an RSA key's kid */
    ck_assert_int_eq(verify_with(eddsa_kid_rsa1, rsa, NULL, 0, NULL),
                     GW_JWT_NO_KEY);
    ck_assert_int_eq(verify_with(eddsa_kid_rsa1, all, NULL, 0, NULL),
                     GW_JWT_UNKNOWN_KID);

    /* an ES256 token where only ES384 keys exist */
    gw_jwt_keyset_free(rsa);
    rsa = keyset_of("ec384.pub");
    ck_assert_int_eq(verify_with(vectors[6].token, rsa, NULL, 0, NULL),
                     GW_JWT_NO_KEY);
    gw_jwt_keyset_free(rsa);
}
END_TEST


START_TEST(honours_allowed_algorithms)
{
    ck_assert_int_eq(verify_with(vectors[0].token, all, NULL, GW_JWT_RS256, NULL),
                     GW_JWT_OK);
    ck_assert_int_eq(verify_with(vectors[0].token, all, NULL, GW_JWT_ES256, NULL),
                     GW_JWT_ALG_NOT_ALLOWED);
    ck_assert_int_eq(verify_with(vectors[3].token, all, NULL, GW_JWT_RS256, NULL),
                     GW_JWT_ALG_NOT_ALLOWED);
}
END_TEST


START_TEST(selects_keys_by_kid)
{
    gw_jwt_keyset_t  *rot = keyset_of("rotation.jwks");
    gw_jwt_keyset_t  *one = keyset_of("rsa1.jwks");
    gw_jwt_keyset_t  *pem = keyset_of("rsa2.pub");

    /* no kid: every RSA key is tried */
    ck_assert_int_eq(verify_with(rs256_rsa2_nokid, rot, NULL, 0, NULL), GW_JWT_OK);
    ck_assert_int_eq(verify_with(rs256_rsa2_nokid, one, NULL, 0, NULL),
                     GW_JWT_BAD_SIGNATURE);
    /* kid rsa1 with only rsa2 (kid-less PEM) known: tried, then unknown */
    ck_assert_int_eq(verify_with(vectors[0].token, pem, NULL, 0, NULL),
                     GW_JWT_UNKNOWN_KID);
    ck_assert_int_eq(verify_with(vectors[0].token, one, NULL, 0, NULL), GW_JWT_OK);

    gw_jwt_keyset_free(rot);
    gw_jwt_keyset_free(one);
    gw_jwt_keyset_free(pem);
}
END_TEST


START_TEST(checks_header)
{
    const char *p = "{\"exp\":4102444800}";

    ck_assert_int_eq(hs("{\"alg\":\"HS256\"}", p), GW_JWT_OK);
    ck_assert_int_eq(hs("{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}", p), GW_JWT_OK);
    ck_assert_int_eq(hs("{\"alg\":\"HS256\",\"typ\":\"application/at+JWT\"}", p),
                     GW_JWT_OK);
    ck_assert_int_eq(hs("{\"alg\":\"HS256\",\"typ\":\"jwt\"}", p), GW_JWT_OK);
    ck_assert_int_eq(hs("{\"alg\":\"HS256\",\"typ\":\"JOSE\"}", p),
                     GW_JWT_BAD_HEADER);
    ck_assert_int_eq(hs("{\"alg\":\"HS256\",\"typ\":1}", p), GW_JWT_BAD_HEADER);
    ck_assert_int_eq(hs("{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", p),
                     GW_JWT_BAD_HEADER);
    ck_assert_int_eq(hs("{\"alg\":\"HS256\",\"kid\":5}", p), GW_JWT_BAD_HEADER);
    ck_assert_int_eq(hs("{\"alg\":\"HS256\",\"kid\":[\"a\"]}", p),
                     GW_JWT_BAD_HEADER);
    ck_assert_int_eq(hs("{\"alg\":\"HS256\",\"cty\":\"JWT\"}", p),
                     GW_JWT_BAD_HEADER);
    ck_assert_int_eq(hs("{\"typ\":\"JWT\"}", p), GW_JWT_BAD_HEADER);
    ck_assert_int_eq(hs("{\"alg\":256}", p), GW_JWT_BAD_HEADER);
    ck_assert_int_eq(hs("{\"alg\":\"HS256\",\"alg\":\"none\"}", p),
                     GW_JWT_MALFORMED);
    ck_assert_int_eq(hs("[\"HS256\"]", p), GW_JWT_MALFORMED);
    ck_assert_int_eq(hs("{\"alg\":\"HS256\",\"x\":[[[[[[1]]]]]]}", p),
                     GW_JWT_MALFORMED);
    ck_assert_int_eq(hs("{\"alg\":\"HS256\",\"jku\":\"https://evil/\","
                        "\"x5u\":\"https://evil/\",\"jwk\":{\"kty\":\"oct\","
                        "\"k\":\"AAAA\"}}", p), GW_JWT_OK);
}
END_TEST


START_TEST(checks_payload)
{
    char   deep[512];
    size_t i;

    ck_assert_int_eq(hs(HS_HEADER, "{\"exp\":1,\"exp\":4102444800}"),
                     GW_JWT_BAD_CLAIMS);
    ck_assert_int_eq(hs(HS_HEADER, "[1]"), GW_JWT_BAD_CLAIMS);
    ck_assert_int_eq(hs(HS_HEADER, "not json"), GW_JWT_BAD_CLAIMS);

    strcpy(deep, "{\"a\":");
    for (i = 0; i < 100; i++) {
        strcat(deep, "[");
    }
    for (i = 0; i < 100; i++) {
        strcat(deep, "]");
    }
    strcat(deep, "}");
    ck_assert_int_eq(hs(HS_HEADER, deep), GW_JWT_BAD_CLAIMS);
}
END_TEST


START_TEST(hmac_keys_of_every_length)
{
    static const size_t  lengths[] = { 1, 31, 32, 63, 64, 65, 127, 128, 129, 300 };
    static const struct {
        const char  *header;
        const EVP_MD *(*md)(void);
    } algs[] = {
        { "{\"alg\":\"HS256\"}", EVP_sha256 },
        { "{\"alg\":\"HS384\"}", EVP_sha384 },
        { "{\"alg\":\"HS512\"}", EVP_sha512 },
    };
    char    secret[301];
    size_t  i, j;

    /* keys shorter and longer than the hash's block are hashed or padded
     * as RFC 2104 says: compare with OpenSSL's HMAC() */

    for (i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
        memset(secret, 'k' + (int) (i % 7), lengths[i]);
        secret[lengths[i]] = '\0';

        for (j = 0; j < 3; j++) {
            const char *t = mint_hs(algs[j].md(), algs[j].header,
                                    "{\"exp\":4102444800}", secret);
            ck_assert_msg(verify_with(t, NULL, secret, 0, NULL) == GW_JWT_OK,
                          "%s with a %zu byte key", algs[j].header, lengths[i]);
        }
    }
}
END_TEST


START_TEST(limits_size)
{
    const char *t = mint_hs256(HS_HEADER, "{\"exp\":4102444800}", SECRET);
    gw_jwt_t   *jwt;

    ck_assert_int_eq(gw_jwt_parse(t, strlen(t), strlen(t) - 1, &jwt),
                     GW_JWT_TOO_LARGE);
    ck_assert_int_eq(gw_jwt_parse(t, strlen(t), strlen(t), &jwt), GW_JWT_OK);
    gw_jwt_free(jwt);
}
END_TEST


START_TEST(empty_secrets_are_refused)
{
    char              err[GW_JWT_ERRLEN];
    gw_jwt_keyset_t  *ks = gw_jwt_keyset_new();
    const char       *t = mint_hs256(HS_HEADER, "{\"exp\":4102444800}", "");

    ck_assert_int_eq(gw_jwt_keyset_add_secret(ks, (const unsigned char *) "", 0,
                                              err, sizeof(err)), -1);
    ck_assert_int_eq(verify_with(t, ks, "", 0, NULL), GW_JWT_NO_KEY);
    ck_assert_int_eq(verify_with(t, NULL, NULL, 0, NULL), GW_JWT_NO_KEY);
    ck_assert_int_eq(gw_jwt_keyset_add(ks, "{\"keys\":[{\"kty\":\"oct\",\"k\":\"\"}]}",
                                       34, err, sizeof(err)), -1);
    gw_jwt_keyset_free(ks);
}
END_TEST


static gw_jwt_status_t
claims(const char *payload, int64_t now, int64_t leeway, int require_exp)
{
    gw_jwt_t         *jwt;
    gw_jwt_status_t   rc;
    gw_jwt_policy_t   policy;
    gw_jwt_str_t      iss = { "https://idp", 11 };
    gw_jwt_str_t      aud[2] = { { "api", 3 }, { "web", 3 } };

    rc = verify_with(mint_hs256(HS_HEADER, payload, SECRET), NULL, SECRET, 0, &jwt);
    if (rc != GW_JWT_OK) {
        return rc;
    }

    memset(&policy, 0, sizeof(policy));
    policy.now_ms = now * 1000;
    policy.leeway_ms = leeway * 1000;
    policy.require_exp = require_exp;

    if (strstr(payload, "\"iss\"")) {
        policy.issuers = &iss;
        policy.nissuers = 1;
    }

    if (strstr(payload, "\"aud\"")) {
        policy.audiences = aud;
        policy.naudiences = 2;
    }

    rc = gw_jwt_check_claims(jwt, &policy);
    gw_jwt_free(jwt);
    return rc;
}


START_TEST(checks_time_claims)
{
    ck_assert_int_eq(claims("{\"exp\":1000}", 999, 0, 1), GW_JWT_OK);
    ck_assert_int_eq(claims("{\"exp\":1000}", 1000, 0, 1), GW_JWT_EXPIRED);
    ck_assert_int_eq(claims("{\"exp\":1000}", 1009, 10, 1), GW_JWT_OK);
    ck_assert_int_eq(claims("{\"exp\":1000}", 1010, 10, 1), GW_JWT_EXPIRED);
    ck_assert_int_eq(claims("{\"exp\":1000.5}", 1000, 0, 1), GW_JWT_OK);
    ck_assert_int_eq(claims("{\"exp\":1.0005e3}", 1000, 0, 1), GW_JWT_OK);
    ck_assert_int_eq(claims("{\"exp\":1000, \"nbf\":500}", 499, 0, 1),
                     GW_JWT_NOT_YET_VALID);
    ck_assert_int_eq(claims("{\"exp\":1000, \"nbf\":500}", 500, 0, 1), GW_JWT_OK);
    ck_assert_int_eq(claims("{\"exp\":1000, \"nbf\":500}", 495, 5, 1), GW_JWT_OK);
    ck_assert_int_eq(claims("{\"exp\":1000, \"nbf\":500.5}", 500, 0, 1),
                     GW_JWT_NOT_YET_VALID);
    ck_assert_int_eq(claims("{}", 500, 0, 1), GW_JWT_MISSING_EXP);
    ck_assert_int_eq(claims("{}", 500, 0, 0), GW_JWT_OK);
    ck_assert_int_eq(claims("{\"exp\":null}", 500, 0, 1), GW_JWT_BAD_CLAIMS);

    /* hostile values */
    ck_assert_int_eq(claims("{\"exp\":\"4102444800\"}", 500, 0, 1),
                     GW_JWT_BAD_CLAIMS);
    ck_assert_int_eq(claims("{\"exp\":-1}", 500, 0, 1), GW_JWT_BAD_CLAIMS);
    ck_assert_int_eq(claims("{\"exp\":1e300}", 500, 0, 1), GW_JWT_BAD_CLAIMS);
    ck_assert_int_eq(claims("{\"exp\":99999999999999999999999}", 500, 0, 1),
                     GW_JWT_BAD_CLAIMS);
    ck_assert_int_eq(claims("{\"exp\":9223372036854775807}", 500, 0, 1),
                     GW_JWT_BAD_CLAIMS);
    ck_assert_int_eq(claims("{\"exp\":true}", 500, 0, 1), GW_JWT_BAD_CLAIMS);
    ck_assert_int_eq(claims("{\"exp\":[2000]}", 500, 0, 1), GW_JWT_BAD_CLAIMS);
    ck_assert_int_eq(claims("{\"exp\":2000,\"nbf\":\"1\"}", 500, 0, 1),
                     GW_JWT_BAD_CLAIMS);
    ck_assert_int_eq(claims("{\"exp\":2000,\"iat\":\"1\"}", 500, 0, 1),
                     GW_JWT_BAD_CLAIMS);
    /* an absurd leeway does not overflow */
    ck_assert_int_eq(claims("{\"exp\":1000}", 1001, INT64_MAX / 1000, 1),
                     GW_JWT_OK);
}
END_TEST


START_TEST(checks_issuer_and_audience)
{
    ck_assert_int_eq(claims("{\"exp\":9000,\"iss\":\"https://idp\"}", 1, 0, 1),
                     GW_JWT_OK);
    ck_assert_int_eq(claims("{\"exp\":9000,\"iss\":\"https://idp/\"}", 1, 0, 1),
                     GW_JWT_BAD_ISSUER);
    ck_assert_int_eq(claims("{\"exp\":9000,\"iss\":[\"https://idp\"]}", 1, 0, 1),
                     GW_JWT_BAD_ISSUER);
    ck_assert_int_eq(claims("{\"exp\":9000,\"aud\":\"web\"}", 1, 0, 1), GW_JWT_OK);
    ck_assert_int_eq(claims("{\"exp\":9000,\"aud\":[\"x\",\"api\"]}", 1, 0, 1),
                     GW_JWT_OK);
    ck_assert_int_eq(claims("{\"exp\":9000,\"aud\":[\"x\"]}", 1, 0, 1),
                     GW_JWT_BAD_AUDIENCE);
    ck_assert_int_eq(claims("{\"exp\":9000,\"aud\":[]}", 1, 0, 1),
                     GW_JWT_BAD_AUDIENCE);
    ck_assert_int_eq(claims("{\"exp\":9000,\"aud\":\"apiX\"}", 1, 0, 1),
                     GW_JWT_BAD_AUDIENCE);
    ck_assert_int_eq(claims("{\"exp\":9000,\"aud\":[\"api\",1]}", 1, 0, 1),
                     GW_JWT_BAD_AUDIENCE);
}
END_TEST


START_TEST(parses_numeric_dates)
{
    ck_assert_int_eq(gw_jwt_numeric_date_ms("0", 1), 0);
    ck_assert_int_eq(gw_jwt_numeric_date_ms("1700000000", 10), 1700000000000LL);
    ck_assert_int_eq(gw_jwt_numeric_date_ms("1700000000.1239", 15),
                     1700000000123LL);
    ck_assert_int_eq(gw_jwt_numeric_date_ms("1.7e9", 5), 1700000000000LL);
    ck_assert_int_eq(gw_jwt_numeric_date_ms("17E+8", 5), 1700000000000LL);
    ck_assert_int_eq(gw_jwt_numeric_date_ms("5e-4", 4), 0);
    ck_assert_int_eq(gw_jwt_numeric_date_ms("0.0015", 6), 1);
    ck_assert_int_eq(gw_jwt_numeric_date_ms("253402300799", 12), 253402300799000LL);
    ck_assert_int_eq(gw_jwt_numeric_date_ms("253402300800", 12), -1);
    ck_assert_int_eq(gw_jwt_numeric_date_ms("1e99999999999", 13), -1);
    ck_assert_int_eq(gw_jwt_numeric_date_ms("-5", 2), -1);
    ck_assert_int_eq(gw_jwt_numeric_date_ms("abc", 3), -1);
    ck_assert_int_eq(gw_jwt_numeric_date_ms("", 0), -1);
}
END_TEST


/* Leading zeros of a fraction are not significant digits: 0.(70 zeros)17e75
 * is 17000 s, and a date written with hundreds of them is read exactly. */
START_TEST(parses_numeric_dates_with_many_leading_zeros)
{
    char    text[512];
    size_t  len;

    len = (size_t) snprintf(text, sizeof(text), "0.%070d17e75", 0);
    ck_assert_int_eq(gw_jwt_numeric_date_ms(text, len), 17000000LL);

    len = (size_t) snprintf(text, sizeof(text), "0.%0300d17000000001e310", 0);
    ck_assert_int_eq(gw_jwt_numeric_date_ms(text, len), 1700000000100LL);

    len = (size_t) snprintf(text, sizeof(text), "0.%0300d1e200", 0);
    ck_assert_int_eq(gw_jwt_numeric_date_ms(text, len), 0);

    len = (size_t) snprintf(text, sizeof(text), "0.%0300d1e400", 0);
    ck_assert_int_eq(gw_jwt_numeric_date_ms(text, len), -1);
}
END_TEST


START_TEST(exposes_claims_after_verification)
{
    gw_jwt_t      *jwt;
    gw_jwt_str_t   v, path[2] = { { "realm_access", 12 }, { "roles", 5 } };
    gw_jwt_str_t   one[1];

    ck_assert_int_eq(gw_jwt_parse(vectors[0].token, strlen(vectors[0].token),
                                  8192, &jwt), GW_JWT_OK);
    one[0].data = "sub";
    one[0].len = 3;
    ck_assert_int_eq(gw_jwt_claim(jwt, one, 1, &v), 0);   /* not verified */
    ck_assert_int_eq(gw_jwt_header(jwt, "kid", 3, &v), 0);
    gw_jwt_free(jwt);

    ck_assert_int_eq(verify_with(vectors[0].token, all, NULL, 0, &jwt), GW_JWT_OK);

#define CLAIM_IS(name, expect)                                                \
    one[0].data = name;                                                       \
    one[0].len = strlen(name);                                                \
    ck_assert_int_eq(gw_jwt_claim(jwt, one, 1, &v), 1);                       \
    ck_assert_int_eq(v.len, strlen(expect));                                  \
    ck_assert_int_eq(memcmp(v.data, expect, v.len), 0)

    CLAIM_IS("sub", "alice");
    CLAIM_IS("aud", "api,other");
    CLAIM_IS("n", "42");
    CLAIM_IS("ok", "true");
    CLAIM_IS("realm_access", "{\"roles\":[\"admin\"]}");
    one[0].data = "missing";
    one[0].len = 7;
    ck_assert_int_eq(gw_jwt_claim(jwt, one, 1, &v), 0);

    ck_assert_int_eq(gw_jwt_claim(jwt, path, 2, &v), 1);
    ck_assert_int_eq(v.len, 5);
    ck_assert_int_eq(memcmp(v.data, "admin", 5), 0);

    ck_assert_int_eq(gw_jwt_header(jwt, "kid", 3, &v), 1);
    ck_assert_int_eq(memcmp(v.data, "rsa1", 4), 0);

    gw_jwt_free(jwt);
}
END_TEST


START_TEST(trusts_cached_tokens)
{
    gw_jwt_t  *jwt;

    ck_assert_int_eq(gw_jwt_parse(vectors[0].token, strlen(vectors[0].token),
                                  8192, &jwt), GW_JWT_OK);
    ck_assert_int_eq(gw_jwt_trust(jwt), GW_JWT_OK);

    int64_t exp;
    ck_assert_int_eq(gw_jwt_exp_ms(jwt, &exp), 1);
    ck_assert_int_eq(exp, 4102444800000LL);
    gw_jwt_free(jwt);
}
END_TEST


START_TEST(is_verified_once)
{
    gw_jwt_t       *jwt;
    gw_jwt_keys_t   keys = { 0 };

    /* a verified token holds no signature any more: verifying it again
     * (maybe with other keys) is refused, never taken for granted */
    ck_assert_int_eq(verify_with(vectors[0].token, all, NULL, 0, &jwt), GW_JWT_OK);
    keys.sets = (const gw_jwt_keyset_t *const *) &all;
    keys.nsets = 1;
    ck_assert_int_eq(gw_jwt_verify(jwt, &keys), GW_JWT_ERROR);
    gw_jwt_free(jwt);
}
END_TEST


static const unsigned char  scope_a[32] = { 1 };
static const unsigned char  scope_b[32] = { 2 };


START_TEST(recent_tokens_match_exact_text_and_scope)
{
    size_t            len = strlen(vectors[0].token);
    char              text[4096];
    gw_jwt_t         *jwt, *found;
    gw_jwt_str_t      v, sub = { "sub", 3 };
    gw_jwt_recent_t  *recent = gw_jwt_recent_new(4);

    ck_assert_int_eq(verify_with(vectors[0].token, all, NULL, 0, &jwt), GW_JWT_OK);

    /* an unverified token is never remembered */
    {
        gw_jwt_t *raw;
        ck_assert_int_eq(gw_jwt_parse(vectors[1].token, strlen(vectors[1].token),
                                      8192, &raw), GW_JWT_OK);
        gw_jwt_recent_add(recent, scope_a, 32, vectors[1].token,
                          strlen(vectors[1].token), raw, 2000);
        gw_jwt_free(raw);
        ck_assert_int_eq(gw_jwt_recent_count(recent), 0);
    }

    gw_jwt_recent_add(recent, scope_a, 32, vectors[0].token, len, jwt, 2000);
    gw_jwt_free(jwt);           /* the memo keeps its own reference */

    /* found from another copy of the text */
    memcpy(text, vectors[0].token, len + 1);
    found = gw_jwt_recent_find(recent, scope_a, 32, text, len, 1000);
    ck_assert_ptr_nonnull(found);
    ck_assert_int_eq(gw_jwt_claim(found, &sub, 1, &v), 1);
    ck_assert_int_eq(memcmp(v.data, "alice", 5), 0);
    gw_jwt_free(found);

    /* other keys, another byte, a prefix, a longer text: not found */
    ck_assert_ptr_null(gw_jwt_recent_find(recent, scope_b, 32, text, len, 1000));
    ck_assert_ptr_null(gw_jwt_recent_find(recent, scope_a, 31, text, len, 1000));
    text[len - 1] ^= 1;
    ck_assert_ptr_null(gw_jwt_recent_find(recent, scope_a, 32, text, len, 1000));
    text[len - 1] ^= 1;
    ck_assert_ptr_null(gw_jwt_recent_find(recent, scope_a, 32, text, len - 1, 1000));
    text[len] = 'x';
    ck_assert_ptr_null(gw_jwt_recent_find(recent, scope_a, 32, text, len + 1, 1000));

    /* expired: gone */
    ck_assert_ptr_null(gw_jwt_recent_find(recent, scope_a, 32, vectors[0].token,
                                          len, 2000));
    ck_assert_int_eq(gw_jwt_recent_count(recent), 0);

    gw_jwt_recent_free(recent);
}
END_TEST


START_TEST(recent_tokens_drop_the_least_recently_used)
{
    size_t            i;
    gw_jwt_t         *jwt, *held;
    gw_jwt_str_t      v, sub = { "sub", 3 };
    gw_jwt_recent_t  *recent = gw_jwt_recent_new(2);

    ck_assert_uint_ge(NVECTORS, 3);

    for (i = 0; i < 2; i++) {
        ck_assert_int_eq(verify_with(vectors[i].token, all, NULL, 0, &jwt), GW_JWT_OK);
        gw_jwt_recent_add(recent, scope_a, 32, vectors[i].token,
                          strlen(vectors[i].token), jwt, 5000);
        gw_jwt_free(jwt);
    }

    /* using the first makes the second the oldest */
    held = gw_jwt_recent_find(recent, scope_a, 32, vectors[0].token,
                              strlen(vectors[0].token), 0);
    ck_assert_ptr_nonnull(held);

    ck_assert_int_eq(verify_with(vectors[2].token, all, NULL, 0, &jwt), GW_JWT_OK);
    gw_jwt_recent_add(recent, scope_a, 32, vectors[2].token,
                      strlen(vectors[2].token), jwt, 5000);
    gw_jwt_free(jwt);

    ck_assert_int_eq(gw_jwt_recent_count(recent), 2);
    ck_assert_ptr_null(gw_jwt_recent_find(recent, scope_a, 32, vectors[1].token,
                                          strlen(vectors[1].token), 0));

    /* a token in use outlives the memo */
    gw_jwt_recent_free(recent);
    ck_assert_int_eq(gw_jwt_claim(held, &sub, 1, &v), 1);
    ck_assert_int_eq(memcmp(v.data, "alice", 5), 0);
    gw_jwt_free(held);

    /* capacity 0 remembers nothing */
    recent = gw_jwt_recent_new(0);
    ck_assert_int_eq(verify_with(vectors[0].token, all, NULL, 0, &jwt), GW_JWT_OK);
    gw_jwt_recent_add(recent, scope_a, 32, vectors[0].token,
                      strlen(vectors[0].token), jwt, 5000);
    gw_jwt_free(jwt);
    ck_assert_int_eq(gw_jwt_recent_count(recent), 0);
    gw_jwt_recent_free(recent);
}
END_TEST


START_TEST(renders_values_once)
{
    gw_jwt_t      *jwt;
    gw_jwt_str_t   v1, v2, aud = { "aud", 3 };

    /* a shared token renders a non-string claim once, however often asked */
    ck_assert_int_eq(verify_with(vectors[0].token, all, NULL, 0, &jwt), GW_JWT_OK);
    ck_assert_int_eq(gw_jwt_claim(jwt, &aud, 1, &v1), 1);
    ck_assert_int_eq(gw_jwt_claim(jwt, &aud, 1, &v2), 1);
    ck_assert_ptr_eq(v1.data, v2.data);
    ck_assert_int_eq(v1.len, strlen("api,other"));
    gw_jwt_free(jwt);
}
END_TEST


START_TEST(reuses_spare_tokens)
{
    gw_jwt_t         *a, *b;
    gw_jwt_str_t      v, sub = { "sub", 3 };
    gw_jwt_keys_t     keys = { 0 };
    gw_jwt_spares_t  *spares = gw_jwt_spares_new(1);
    const char       *t0 = vectors[0].token, *t1 = vectors[1].token;

    keys.sets = (const gw_jwt_keyset_t *const *) &all;
    keys.nsets = 1;

    ck_assert_int_eq(gw_jwt_parse_reusing(spares, t0, strlen(t0), 8192, &a), GW_JWT_OK);
    ck_assert_int_eq(gw_jwt_verify(a, &keys), GW_JWT_OK);
    ck_assert_int_eq(gw_jwt_claim(a, &sub, 1, &v), 1);
    gw_jwt_release(spares, a);

    /* the same memory, made new: nothing of the verified token is left */
    ck_assert_int_eq(gw_jwt_parse_reusing(spares, t1, strlen(t1), 8192, &b), GW_JWT_OK);
    ck_assert_ptr_eq(a, b);
    ck_assert_int_eq(gw_jwt_claim(b, &sub, 1, &v), 0);
    ck_assert_int_eq(gw_jwt_header(b, "kid", 3, &v), 0);
    ck_assert_int_eq(gw_jwt_verify(b, &keys), GW_JWT_OK);
    gw_jwt_release(spares, b);

    /* a token that fails to parse goes back too */
    ck_assert_int_eq(gw_jwt_parse_reusing(spares, "a.b", 3, 8192, &b), GW_JWT_MALFORMED);
    ck_assert_ptr_null(b);
    ck_assert_int_eq(gw_jwt_parse_reusing(spares, t0, strlen(t0), 8192, &b), GW_JWT_OK);
    ck_assert_ptr_eq(a, b);

    /* beyond keep, a released token is deleted; the spares delete theirs */
    ck_assert_int_eq(gw_jwt_parse_reusing(spares, t1, strlen(t1), 8192, &a), GW_JWT_OK);
    gw_jwt_release(spares, a);
    gw_jwt_release(spares, b);
    gw_jwt_spares_free(spares);
}
END_TEST


START_TEST(recent_tokens_skip_long_ones)
{
    char              payload[7000];
    char             *tok;
    gw_jwt_t         *jwt;
    gw_jwt_keys_t     keys = { 0 };
    gw_jwt_recent_t  *recent = gw_jwt_recent_new(4);

    snprintf(payload, sizeof(payload), "{\"sub\":\"x\",\"pad\":\"%06600d\"}", 0);
    tok = mint_hs256(HS_HEADER, payload, SECRET);
    ck_assert_uint_gt(strlen(tok), 8192);

    keys.secret = (const unsigned char *) SECRET;
    keys.secret_len = strlen(SECRET);
    ck_assert_int_eq(gw_jwt_parse(tok, strlen(tok), 65536, &jwt), GW_JWT_OK);
    ck_assert_int_eq(gw_jwt_verify(jwt, &keys), GW_JWT_OK);

    gw_jwt_recent_add(recent, scope_a, 32, tok, strlen(tok), jwt, 5000);
    ck_assert_int_eq(gw_jwt_recent_count(recent), 0);

    gw_jwt_free(jwt);
    gw_jwt_recent_free(recent);
}
END_TEST


int
main(void)
{
    Suite  *s = suite_create("jwt");
    TCase  *tc = tcase_create("tokens");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, verifies_every_algorithm);
    tcase_add_test(tc, rejects_tampered_signatures);
    tcase_add_test(tc, rejects_non_canonical_signature);
    tcase_add_test(tc, rejects_wrong_segment_counts);
    tcase_add_test(tc, never_accepts_none);
    tcase_add_test(tc, pins_algorithm_to_key_type);
    tcase_add_test(tc, honours_allowed_algorithms);
    tcase_add_test(tc, selects_keys_by_kid);
    tcase_add_test(tc, checks_header);
    tcase_add_test(tc, checks_payload);
    tcase_add_test(tc, hmac_keys_of_every_length);
    tcase_add_test(tc, limits_size);
    tcase_add_test(tc, empty_secrets_are_refused);
    tcase_add_test(tc, checks_time_claims);
    tcase_add_test(tc, checks_issuer_and_audience);
    tcase_add_test(tc, parses_numeric_dates);
    tcase_add_test(tc, parses_numeric_dates_with_many_leading_zeros);
    tcase_add_test(tc, exposes_claims_after_verification);
    tcase_add_test(tc, trusts_cached_tokens);
    tcase_add_test(tc, is_verified_once);
    tcase_add_test(tc, recent_tokens_match_exact_text_and_scope);
    tcase_add_test(tc, recent_tokens_drop_the_least_recently_used);
    tcase_add_test(tc, renders_values_once);
    tcase_add_test(tc, reuses_spare_tokens);
    tcase_add_test(tc, recent_tokens_skip_long_ones);
    suite_add_tcase(s, tc);

    return gw_unit_run(s);
}
