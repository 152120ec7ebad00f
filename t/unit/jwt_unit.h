/* Helpers shared by the JWT Check suites: key files and HS256 minting. */
#ifndef GW_JWT_UNIT_H
#define GW_JWT_UNIT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "gw_base64url.h"
#include "gw_jwt.h"


/* Reads t/keys/NAME (the suites run from the repository's top). */
static inline char *
read_key(const char *name, size_t *len)
{
    char    path[256];
    char   *buf;
    FILE   *f;
    long    n;

    snprintf(path, sizeof(path), "t/keys/%s", name);
    f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s (run from the repository top)", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t) n + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_int_eq(fread(buf, 1, (size_t) n, f), (size_t) n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t) n;
    return buf;
}


static inline gw_jwt_keyset_t *
keyset_of(const char *name)
{
    char              err[GW_JWT_ERRLEN];
    size_t            len;
    char             *text = read_key(name, &len);
    gw_jwt_keyset_t  *ks = gw_jwt_keyset_new();

    ck_assert_msg(gw_jwt_keyset_add(ks, text, len, err, sizeof(err)) > 0,
                  "%s: %s", name, err);
    free(text);
    return ks;
}


/* base64url(header) "." base64url(payload) "." HMAC signature (OpenSSL's). */
static inline char *
mint_hs(const EVP_MD *md, const char *header, const char *payload,
    const char *secret)
{
    static char     token[16384];
    unsigned char   mac[EVP_MAX_MD_SIZE];
    unsigned int    maclen;
    size_t          n;

    n = gw_base64url_encode((const unsigned char *) header, strlen(header),
                            token, sizeof(token));
    token[n++] = '.';
    n += gw_base64url_encode((const unsigned char *) payload, strlen(payload),
                             token + n, sizeof(token) - n);
    HMAC(md, secret, (int) strlen(secret), (unsigned char *) token, n,
         mac, &maclen);
    token[n++] = '.';
    n += gw_base64url_encode(mac, maclen, token + n, sizeof(token) - n);
    token[n] = '\0';
    return token;
}


static inline char *
mint_hs256(const char *header, const char *payload, const char *secret)
{
    return mint_hs(EVP_sha256(), header, payload, secret);
}


/* Parses, verifies with one key set (and a secret), returns the status. */
static inline gw_jwt_status_t
verify_with(const char *token, const gw_jwt_keyset_t *ks, const char *secret,
    unsigned allowed, gw_jwt_t **out)
{
    gw_jwt_t         *jwt;
    gw_jwt_status_t   rc;
    gw_jwt_keys_t     keys;

    rc = gw_jwt_parse(token, strlen(token), 8192, &jwt);
    if (rc != GW_JWT_OK) {
        return rc;
    }

    keys.sets = &ks;
    keys.nsets = ks ? 1 : 0;
    keys.secret = (const unsigned char *) secret;
    keys.secret_len = secret ? strlen(secret) : 0;
    keys.allowed = allowed;

    rc = gw_jwt_verify(jwt, &keys);

    if (out && rc == GW_JWT_OK) {
        *out = jwt;
    } else {
        gw_jwt_free(jwt);
    }

    return rc;
}

#endif
