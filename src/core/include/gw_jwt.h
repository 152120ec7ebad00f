/*
 * JSON Web Tokens (JWS compact serialisation) for the gateway: keys,
 * signature verification, claims, claim values and role based access.
 *
 * Nothing in a token is trusted before its signature has been verified with
 * a key whose type matches the token's algorithm: the payload is not even
 * decoded until then.
 */
#ifndef GW_JWT_H
#define GW_JWT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gw_jwt_keyset_s  gw_jwt_keyset_t;
typedef struct gw_jwt_s         gw_jwt_t;
typedef struct gw_rbac_s        gw_rbac_t;
typedef struct gw_jwt_recent_s  gw_jwt_recent_t;
typedef struct gw_jwt_spares_s  gw_jwt_spares_t;

typedef struct {
    const char  *data;
    size_t       len;
} gw_jwt_str_t;

/* Algorithms, as bits of a mask. "none" has no bit: it is never accepted. */
#define GW_JWT_HS256   0x0001u
#define GW_JWT_HS384   0x0002u
#define GW_JWT_HS512   0x0004u
#define GW_JWT_RS256   0x0008u
#define GW_JWT_RS384   0x0010u
#define GW_JWT_RS512   0x0020u
#define GW_JWT_PS256   0x0040u
#define GW_JWT_PS384   0x0080u
#define GW_JWT_PS512   0x0100u
#define GW_JWT_ES256   0x0200u
#define GW_JWT_ES384   0x0400u
#define GW_JWT_ES512   0x0800u
#define GW_JWT_EDDSA   0x1000u
#define GW_JWT_HMAC    (GW_JWT_HS256|GW_JWT_HS384|GW_JWT_HS512)
#define GW_JWT_ALL     0x1fffu

#define GW_JWT_FINGERPRINT_LEN  32
#define GW_JWT_ERRLEN           256

typedef enum {
    GW_JWT_OK = 0,
    GW_JWT_MALFORMED,          /* not three canonical base64url segments of JSON */
    GW_JWT_TOO_LARGE,          /* longer than the size limit */
    GW_JWT_BAD_HEADER,         /* no alg, a typ or crit we refuse, kid not a string */
    GW_JWT_ALG_NOT_ALLOWED,    /* none, unknown, or outside the allowed set */
    GW_JWT_NO_KEY,             /* no key of the type the algorithm needs */
    GW_JWT_UNKNOWN_KID,        /* kid names no key (keys may need refetching) */
    GW_JWT_BAD_SIGNATURE,
    GW_JWT_BAD_CLAIMS,         /* payload not an object, exp/nbf of a wrong type or range */
    GW_JWT_EXPIRED,
    GW_JWT_NOT_YET_VALID,
    GW_JWT_MISSING_EXP,
    GW_JWT_BAD_ISSUER,
    GW_JWT_BAD_AUDIENCE,
    GW_JWT_NOT_VERIFIED,       /* claims asked for before verification */
    GW_JWT_ERROR               /* out of memory, OpenSSL failure */
} gw_jwt_status_t;

/* A short English description, fit for error_description and logs. */
const char *gw_jwt_status_text(gw_jwt_status_t status);

/* The bit of an algorithm name ("RS256"), 0 for "none" and unknown names. */
unsigned gw_jwt_alg_bit(const char *name, size_t len);
/* The name of one algorithm bit. */
const char *gw_jwt_alg_name(unsigned bit);


/* Key sets: parsed once (configuration load, JWKS fetch), then read only. */

gw_jwt_keyset_t *gw_jwt_keyset_new(void);
void gw_jwt_keyset_free(gw_jwt_keyset_t *ks);

/*
 * Adds the keys of a document: a JWKS ({"keys": [...]}), one JWK, or PEM
 * (public keys, RSA public keys, certificates). JWKs that cannot verify
 * signatures ("use": "enc", unknown kty or alg, RSA under 2048 bits) are
 * skipped; a document without any usable key is an error.
 * Returns the number of keys added, or -1 with a message in err.
 */
int gw_jwt_keyset_add(gw_jwt_keyset_t *ks, const char *text, size_t len,
    char *err, size_t errlen);

/* Adds an HMAC secret (an oct key without kid); an empty one is an error. */
int gw_jwt_keyset_add_secret(gw_jwt_keyset_t *ks, const unsigned char *secret,
    size_t len, char *err, size_t errlen);

size_t gw_jwt_keyset_count(const gw_jwt_keyset_t *ks);

/*
 * The kid of key i (below gw_jwt_keyset_count), valid as long as the set:
 * NULL with *len 0 when the key has none (or i is out of range).
 */
const char *gw_jwt_keyset_kid(const gw_jwt_keyset_t *ks, size_t i,
    size_t *len);

/* The algorithms the keys can verify. */
unsigned gw_jwt_keyset_algs(const gw_jwt_keyset_t *ks);

/* A digest of every key's material, kid and pinned algorithm. */
void gw_jwt_keyset_fingerprint(const gw_jwt_keyset_t *ks,
    unsigned char out[GW_JWT_FINGERPRINT_LEN]);


/* Tokens. */

/*
 * Splits and checks a compact JWS: exactly three non-empty segments of
 * canonical unpadded base64url, a JSON object header with a known alg, an
 * acceptable typ (absent, JWT, at+jwt), no crit, a string kid if any.
 * The payload is left alone until the signature is verified.
 * The token text is not copied: it must stay valid until gw_jwt_verify()
 * has returned (claims and headers are kept in the gw_jwt_t itself).
 */
gw_jwt_status_t gw_jwt_parse(const char *token, size_t len, size_t max_size,
    gw_jwt_t **out);
/* Releases a reference (a verified token may be shared, see below). */
void gw_jwt_free(gw_jwt_t *jwt);

/*
 * Spare tokens of one process: tokens whose last reference is released
 * into them (up to keep) are reused by the next parse instead of
 * allocating. Freeing the spares deletes the tokens they hold.
 */
gw_jwt_spares_t *gw_jwt_spares_new(size_t keep);
void gw_jwt_spares_free(gw_jwt_spares_t *spares);

/* gw_jwt_parse() and gw_jwt_free() with spare tokens (NULL: none). */
gw_jwt_status_t gw_jwt_parse_reusing(gw_jwt_spares_t *spares,
    const char *token, size_t len, size_t max_size, gw_jwt_t **out);
void gw_jwt_release(gw_jwt_spares_t *spares, gw_jwt_t *jwt);

unsigned gw_jwt_alg(const gw_jwt_t *jwt);

typedef struct {
    const gw_jwt_keyset_t *const  *sets;
    size_t                         nsets;
    const unsigned char           *secret;     /* an extra HMAC key, or NULL */
    size_t                         secret_len;
    unsigned                       allowed;    /* 0: what the keys imply */
} gw_jwt_keys_t;

/*
 * Verifies the signature with a key whose type matches the algorithm:
 * with a kid, the keys of that kid (or keys without a kid); without one,
 * every fitting key. Then decodes the payload, which must be a JSON object.
 */
gw_jwt_status_t gw_jwt_verify(gw_jwt_t *jwt, const gw_jwt_keys_t *keys);

/*
 * Accepts the signature as verified earlier (a verified-token cache hit,
 * keyed by the token and the key set) and decodes the payload.
 */
gw_jwt_status_t gw_jwt_trust(gw_jwt_t *jwt);

typedef struct {
    int64_t              now_ms;
    int64_t              leeway_ms;
    int                  require_exp;
    const gw_jwt_str_t  *issuers;     /* iss must be one of them, if any */
    size_t               nissuers;
    const gw_jwt_str_t  *audiences;   /* aud must hold one of them, if any */
    size_t               naudiences;
} gw_jwt_policy_t;

/* exp, nbf, iss and aud of a verified token. */
gw_jwt_status_t gw_jwt_check_claims(const gw_jwt_t *jwt,
    const gw_jwt_policy_t *policy);

/* exp in milliseconds; 0 when the token has none or is not verified. */
int gw_jwt_exp_ms(const gw_jwt_t *jwt, int64_t *exp_ms);

/*
 * The value at a path of member names in the verified payload, as text:
 * strings as they are, numbers as written, true/false, arrays joined with
 * "," (their strings as they are), objects as compact JSON. Returns 1 and
 * points value at storage owned by jwt, or 0 when there is no such claim
 * (or it is null, or the token is not verified).
 */
int gw_jwt_claim(gw_jwt_t *jwt, const gw_jwt_str_t *path, size_t depth,
    gw_jwt_str_t *value);

/* The same for a member of the header (only once verified). */
int gw_jwt_header(gw_jwt_t *jwt, const char *name, size_t len,
    gw_jwt_str_t *value);


/* Role based access. */

gw_rbac_t *gw_rbac_new(void);
void gw_rbac_free(gw_rbac_t *rbac);

/* Grants role a permission "resource:action" ("*" on either side). */
int gw_rbac_grant(gw_rbac_t *rbac, const char *role, size_t role_len,
    const char *permission, size_t len, char *err, size_t errlen);

/*
 * 1 when one of the roles found at the dotted path (an array of strings or
 * a space separated string) in the verified token holds a permission
 * matching resource and action (both non-empty).
 */
int gw_rbac_allows(const gw_rbac_t *rbac, const gw_jwt_t *jwt,
    const char *roles_path, size_t path_len,
    const char *resource, size_t resource_len,
    const char *action, size_t action_len);

/* The roles found at the dotted path, joined with " " (for tests). */
int gw_jwt_roles(gw_jwt_t *jwt, const char *path, size_t len,
    gw_jwt_str_t *value);

/*
 * Tokens this worker verified recently (a per-process front of the shared
 * verified-token cache): found again by their exact text, without
 * hashing, decoding or parsing. capacity 0 remembers nothing.
 */
gw_jwt_recent_t *gw_jwt_recent_new(size_t capacity);
void gw_jwt_recent_free(gw_jwt_recent_t *recent);

/*
 * The verified token whose text is exactly token, verified with the keys
 * of scope (the key sets' fingerprints), if it has not expired by now_ms;
 * a new reference (release it with gw_jwt_free), or NULL. Its claims must
 * still be checked.
 */
gw_jwt_t *gw_jwt_recent_find(gw_jwt_recent_t *recent,
    const unsigned char *scope, size_t scope_len, const char *token,
    size_t len, int64_t now_ms);

/*
 * Remembers a verified token (taking a reference; its text is copied)
 * until expire_ms, dropping the least recently used one when full.
 * Tokens longer than 8 KB are not remembered.
 */
void gw_jwt_recent_add(gw_jwt_recent_t *recent, const unsigned char *scope,
    size_t scope_len, const char *token, size_t len, gw_jwt_t *jwt,
    int64_t expire_ms);

size_t gw_jwt_recent_count(const gw_jwt_recent_t *recent);

/*
 * The verified-token cache key: SHA-256 of scope (the key sets'
 * fingerprints and anything else that changes what verifies) and token.
 */
void gw_jwt_cache_key(const unsigned char *scope, size_t scope_len,
    const char *token, size_t len, unsigned char out[GW_JWT_FINGERPRINT_LEN]);

/*
 * The NumericDate (integer or decimal seconds) in text as milliseconds,
 * rounded down; -1 unless it is a non-negative JSON number below the year
 * 10000.
 */
int64_t gw_jwt_numeric_date_ms(const char *text, size_t len);

#ifdef __cplusplus
}
#endif

#endif
