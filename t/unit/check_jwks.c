/* Check unit tests: JWKS and PEM key parsing. */

#include "unit.h"
#include "jwt_unit.h"


static int
add(gw_jwt_keyset_t *ks, const char *text, char *err)
{
    return gw_jwt_keyset_add(ks, text, strlen(text), err, GW_JWT_ERRLEN);
}


START_TEST(parses_every_key_type)
{
    gw_jwt_keyset_t  *ks = keyset_of("all.jwks");

    ck_assert_uint_eq(gw_jwt_keyset_count(ks), 7);
    ck_assert_uint_eq(gw_jwt_keyset_algs(ks), GW_JWT_ALL);
    gw_jwt_keyset_free(ks);
}
END_TEST


START_TEST(parses_pem)
{
    static const struct {
        const char  *file;
        unsigned     algs;
    } pems[] = {
        { "rsa1.pub", GW_JWT_RS256|GW_JWT_RS384|GW_JWT_RS512
                      |GW_JWT_PS256|GW_JWT_PS384|GW_JWT_PS512 },
        { "rsa1.pkcs1.pub", GW_JWT_RS256|GW_JWT_RS384|GW_JWT_RS512
                            |GW_JWT_PS256|GW_JWT_PS384|GW_JWT_PS512 },
        { "ec256.pub", GW_JWT_ES256 },
        { "ec384.pub", GW_JWT_ES384 },
        { "ec521.pub", GW_JWT_ES512 },
        { "ed25519.pub", GW_JWT_EDDSA },
    };
    size_t  i;

    for (i = 0; i < sizeof(pems) / sizeof(pems[0]); i++) {
        gw_jwt_keyset_t *ks = keyset_of(pems[i].file);
        ck_assert_uint_eq(gw_jwt_keyset_count(ks), 1);
        ck_assert_msg(gw_jwt_keyset_algs(ks) == pems[i].algs, "%s", pems[i].file);
        gw_jwt_keyset_free(ks);
    }
}
END_TEST


START_TEST(refuses_bad_pem)
{
    char              err[GW_JWT_ERRLEN];
    size_t            len;
    char             *text;
    gw_jwt_keyset_t  *ks = gw_jwt_keyset_new();

    text = read_key("rsa1.key", &len);
    ck_assert_int_eq(gw_jwt_keyset_add(ks, text, len, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "private key"));
    free(text);

    text = read_key("rsa1024.pub", &len);
    ck_assert_int_eq(gw_jwt_keyset_add(ks, text, len, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "2048"));
    free(text);

    ck_assert_int_eq(add(ks, "", err), -1);
    ck_assert_int_eq(add(ks, "hello", err), -1);
    ck_assert_int_eq(add(ks, "-----BEGIN PUBLIC KEY-----\nAAAA\n"
                             "-----END PUBLIC KEY-----\n", err), -1);
    ck_assert_uint_eq(gw_jwt_keyset_count(ks), 0);
    gw_jwt_keyset_free(ks);
}
END_TEST


START_TEST(skips_unusable_jwks_entries)
{
    char              err[GW_JWT_ERRLEN];
    gw_jwt_keyset_t  *ks = gw_jwt_keyset_new();

    /* one usable oct key among keys for encryption, unknown types/algs */
    ck_assert_int_eq(add(ks, "{\"keys\":["
        "{\"kty\":\"RSA\",\"use\":\"enc\",\"n\":\"AQAB\",\"e\":\"AQAB\"},"
        "{\"kty\":\"XYZ\"},"
        "{\"kty\":\"oct\",\"alg\":\"A128KW\",\"k\":\"AAAA\"},"
        "{\"kty\":\"oct\",\"alg\":\"RS256\",\"k\":\"AAAA\"},"
        "{\"kty\":\"oct\",\"kid\":7,\"k\":\"AAAA\"},"
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAA\",\"y\":\"AAAA\"},"
        "5,"
        "{\"kty\":\"oct\",\"kid\":\"good\",\"alg\":\"HS384\",\"k\":\"c2VjcmV0\"}"
        "]}", err), 1);
    ck_assert_uint_eq(gw_jwt_keyset_algs(ks), GW_JWT_HS384);
    gw_jwt_keyset_free(ks);
}
END_TEST


START_TEST(lists_kids)
{
    char              err[GW_JWT_ERRLEN];
    size_t            len;
    const char       *kid;
    gw_jwt_keyset_t  *ks = gw_jwt_keyset_new();

    ck_assert_int_eq(add(ks, "{\"keys\":["
        "{\"kty\":\"oct\",\"kid\":\"k-1\",\"k\":\"c2VjcmV0\"},"
        "{\"kty\":\"oct\",\"k\":\"b3RoZXI\"},"
        "{\"kty\":\"oct\",\"kid\":\"\",\"k\":\"dGhpcmQ\"}"
        "]}", err), 3);
    ck_assert_uint_eq(gw_jwt_keyset_count(ks), 3);

    kid = gw_jwt_keyset_kid(ks, 0, &len);
    ck_assert_uint_eq(len, 3);
    ck_assert_int_eq(memcmp(kid, "k-1", 3), 0);

    ck_assert_ptr_null(gw_jwt_keyset_kid(ks, 1, &len));
    ck_assert_uint_eq(len, 0);

    /* an empty kid is a kid */
    ck_assert_ptr_nonnull(gw_jwt_keyset_kid(ks, 2, &len));
    ck_assert_uint_eq(len, 0);

    ck_assert_ptr_null(gw_jwt_keyset_kid(ks, 3, &len));
    gw_jwt_keyset_free(ks);
}
END_TEST


START_TEST(refuses_bad_jwks)
{
    char              err[GW_JWT_ERRLEN];
    gw_jwt_keyset_t  *ks = gw_jwt_keyset_new();

    ck_assert_int_eq(add(ks, "{\"keys\":[]}", err), -1);
    ck_assert_int_eq(add(ks, "{\"keys\":{}}", err), -1);
    ck_assert_int_eq(add(ks, "{\"nokeys\":[]}", err), -1);
    ck_assert_int_eq(add(ks, "{\"keys\":[{\"kty\":\"oct\",\"k\":\"AA\"}]", err), -1);
    ck_assert_ptr_nonnull(strstr(err, "invalid JSON"));
    ck_assert_int_eq(add(ks, "{\"keys\":[{\"kty\":\"oct\",\"k\":\"AA\","
                             "\"k\":\"BB\"}]}", err), -1);
    ck_assert_int_eq(add(ks, "{\"keys\":[{\"kty\":\"oct\",\"k\":\"A\"}]}", err), -1);
    /* an EC point that is not on the curve */
    ck_assert_int_eq(add(ks, "{\"kty\":\"EC\",\"crv\":\"P-256\","
        "\"x\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
        "\"y\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\"}", err), -1);
    ck_assert_ptr_nonnull(strstr(err, "curve"));
    ck_assert_uint_eq(gw_jwt_keyset_count(ks), 0);

    /* a single JWK is a key set of one */
    ck_assert_int_eq(add(ks, "{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}", err), 1);
    /* padded key material is tolerated */
    ck_assert_int_eq(add(ks, "{\"kty\":\"oct\",\"k\":\"c2VjcmV0cw==\"}", err), 1);
    gw_jwt_keyset_free(ks);
}
END_TEST


START_TEST(fingerprints_key_material)
{
    unsigned char     a[GW_JWT_FINGERPRINT_LEN], b[GW_JWT_FINGERPRINT_LEN];
    gw_jwt_keyset_t  *k1 = keyset_of("rsa1.jwks");
    gw_jwt_keyset_t  *k2 = keyset_of("rsa1.jwks");
    gw_jwt_keyset_t  *k3 = keyset_of("rotation.jwks");

    gw_jwt_keyset_fingerprint(k1, a);
    gw_jwt_keyset_fingerprint(k2, b);
    ck_assert_int_eq(memcmp(a, b, sizeof(a)), 0);
    gw_jwt_keyset_fingerprint(k3, b);
    ck_assert_int_ne(memcmp(a, b, sizeof(a)), 0);

    gw_jwt_keyset_free(k1);
    gw_jwt_keyset_free(k2);
    gw_jwt_keyset_free(k3);
}
END_TEST


int
main(void)
{
    Suite  *s = suite_create("jwks");
    TCase  *tc = tcase_create("keys");

    tcase_add_test(tc, parses_every_key_type);
    tcase_add_test(tc, parses_pem);
    tcase_add_test(tc, refuses_bad_pem);
    tcase_add_test(tc, skips_unusable_jwks_entries);
    tcase_add_test(tc, lists_kids);
    tcase_add_test(tc, refuses_bad_jwks);
    tcase_add_test(tc, fingerprints_key_material);
    suite_add_tcase(s, tc);

    return gw_unit_run(s);
}
