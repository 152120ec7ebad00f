/*
 * Response cache: which requests are looked up and which may fill the
 * cache, which responses may be stored and for how long, the Redis keys of
 * an entry, and the versioned binary entry a response is stored as. Times
 * are Unix seconds passed in by the caller.
 */
#ifndef GW_CACHE_H
#define GW_CACHE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A byte string; data may be NULL when len is 0. */
typedef struct {
    const char  *data;
    size_t       len;
} gw_cache_str_t;


/* ---- requests ------------------------------------------------------- */

typedef enum {
    GW_CACHE_REQUEST_CACHED = 0,         /* looked up; a miss may fill */
    GW_CACHE_REQUEST_METHOD,             /* not in gateway_cache_methods */
    GW_CACHE_REQUEST_BYPASS,             /* gateway_cache_bypass: not read */
    GW_CACHE_REQUEST_AUTHORIZATION,      /* Authorization, not authorized */
    GW_CACHE_REQUEST_COOKIE,             /* Cookie, not authorized */
    GW_CACHE_REQUEST_NO_CACHE,           /* client's no-cache: not looked up */
    GW_CACHE_REQUEST_NO_STORE,           /* client's no-store: not stored */
    GW_CACHE_REQUEST_HEAD                /* answered from a GET entry only */
} gw_cache_request_reason_t;

typedef struct {
    /* the request's Cache-Control and Pragma header lines */
    const gw_cache_str_t  *cache_control;
    size_t                 cache_control_n;
    const gw_cache_str_t  *pragma;
    size_t                 pragma_n;

    unsigned char          method_cached;   /* in gateway_cache_methods */
    unsigned char          head;            /* a HEAD request */
    unsigned char          bypass;          /* gateway_cache_bypass is true */
    unsigned char          authorization;   /* carries Authorization */
    unsigned char          cookie;          /* carries Cookie */
    unsigned char          authorized;      /* gateway_cache_authorized on */
} gw_cache_request_t;

typedef struct {
    unsigned char              lookup;      /* look the entry up */
    unsigned char              store;       /* the response may be stored */
    gw_cache_request_reason_t  reason;      /* the first rule that applied */
} gw_cache_request_plan_t;

/*
 * What to do with a request: a method that is not cached, Authorization
 * or Cookie (unless authorized) skip the cache both ways; a true
 * gateway_cache_bypass (as proxy_cache_bypass) and the client's no-cache
 * (or Pragma: no-cache without Cache-Control) skip the lookup but may
 * store, the client's no-store the reverse; HEAD is looked up but never
 * stores (its response has no body).
 */
void gw_cache_request_plan(const gw_cache_request_t *request,
                           gw_cache_request_plan_t *plan);


/* ---- responses ------------------------------------------------------ */

/* Longest freshness lifetime taken from a response (RFC 9111's 2^31). */
#define GW_CACHE_MAX_LIFETIME  2147483647u

#define GW_CACHE_TIME_ABSENT   INT64_MIN    /* no such header */
#define GW_CACHE_TIME_INVALID  (INT64_MIN + 1)

typedef enum {
    GW_CACHE_STORE_OK = 0,
    GW_CACHE_STORE_STATUS,           /* not 200, 301 or 404 */
    GW_CACHE_STORE_NO_STORE,         /* Cache-Control: no-store */
    GW_CACHE_STORE_PRIVATE,          /* Cache-Control: private */
    GW_CACHE_STORE_NO_CACHE,         /* Cache-Control: no-cache */
    GW_CACHE_STORE_SET_COOKIE,
    GW_CACHE_STORE_VARY,             /* Vary names more than Accept-Encoding */
    GW_CACHE_STORE_STALE,            /* no freshness left, or unreadable */
    GW_CACHE_STORE_TOO_LARGE         /* Content-Length above max_size */
} gw_cache_store_reason_t;

typedef struct {
    unsigned               status;
    const gw_cache_str_t  *cache_control;   /* header lines */
    size_t                 cache_control_n;
    const gw_cache_str_t  *vary;
    size_t                 vary_n;
    gw_cache_str_t         age;             /* data NULL: absent */
    unsigned char          set_cookie;      /* any Set-Cookie */
    int64_t                expires;         /* parsed, or GW_CACHE_TIME_* */
    int64_t                date;            /* parsed, or GW_CACHE_TIME_* */
    int64_t                content_length;  /* -1: unknown */
} gw_cache_response_t;

typedef struct {
    uint32_t               default_ttl;     /* gateway_cache_ttl; 0: none */
    uint64_t               max_size;        /* gateway_cache_max_size */
} gw_cache_limits_t;

typedef struct {
    gw_cache_store_reason_t  reason;
    uint32_t                 lifetime;      /* freshness lifetime, s */
    uint32_t                 initial_age;   /* the Age it arrived with, s */
    uint64_t                 ttl_ms;        /* freshness left: PX in Redis */
    unsigned char            varies;        /* Vary: Accept-Encoding */
} gw_cache_store_plan_t;

/*
 * Whether a response may be stored. The lifetime is s-maxage, else
 * max-age, else Expires - Date (Expires - now without a valid Date), else
 * default_ttl; conflicting or unreadable values make a response stale, as
 * does an Age at or above its lifetime.
 */
gw_cache_store_reason_t gw_cache_response_plan(
    const gw_cache_response_t *response, const gw_cache_limits_t *limits,
    int64_t now, gw_cache_store_plan_t *plan);

/*
 * 1 when a response header is stored with the entry: not hop-by-hop, and
 * not one the gateway sets itself on a hit (Content-Length, Age, Date,
 * Server); the name is matched case-insensitively.
 */
int gw_cache_header_is_stored(const char *name, size_t len);


/* ---- Redis keys ----------------------------------------------------- */

/*
 * A cache key of at most GW_CACHE_PLAIN_KEY_MAX bytes is used as it is,
 * after "gw:cache:=", unless it must not be seen in Redis (hidden: it may
 * hold an identity); any other is "gw:cache:" and the SHA-256 of the key
 * in lower-case hex, which bounds its length. A plain key is never longer
 * than a hashed one. A fill lock is "gw:cache:lock:" and what follows
 * "gw:cache:" in its entry's key. The three forms cannot meet: after
 * "gw:cache:", a digest starts with a hex digit, a plain key with '=', a
 * lock with 'l'; a plain key is the cache key itself and a hashed one its
 * SHA-256, so two cache keys share an entry only if SHA-256 collides.
 */
#define GW_CACHE_PLAIN_KEY_MAX  63
/* the longest entry key and lock key */
#define GW_CACHE_KEY_LEN        (9 + 64)
#define GW_CACHE_LOCK_KEY_LEN   (14 + 64)

/* Writes the entry's key to out; returns its length. */
size_t gw_cache_entry_key(const char *key, size_t len, int hidden,
                          char out[GW_CACHE_KEY_LEN]);

/* Writes the fill lock's key of an entry key to out; returns its length. */
size_t gw_cache_lock_key(const char *entry_key, size_t len,
                         char out[GW_CACHE_LOCK_KEY_LEN]);


/* ---- entries -------------------------------------------------------- */

/*
 * Version 1, integers big-endian:
 *
 *   0  "GWCE"       4   magic
 *   4  version      1   1
 *   5  flags        1   bit 0: the body is a variant (Vary: Accept-Encoding)
 *   6  status       2   200, 301 or 404
 *   8  stored_at    8   Unix seconds
 *  16  initial_age  4   seconds, below lifetime
 *  20  lifetime     4   seconds, at least 1
 *  24  head_len     4   bytes from offset 40 to the body
 *  28  headers      2   how many
 *  30  variant_len  2
 *  32  body_len     8
 *  40  variant      the request's Accept-Encoding the body was made for
 *      headers      each: name_len 2, value_len 2, name, value
 *      body         body_len bytes, to the end of the value
 *
 * The body comes last so a hit can send it from where the value was read.
 * Decoding checks every length against the value's size and every name
 * and value's characters, so a corrupt or hostile entry is refused whole.
 */
#define GW_CACHE_ENTRY_VERSION      1
#define GW_CACHE_ENTRY_FIXED        40
#define GW_CACHE_ENTRY_MAX_HEADERS  256
#define GW_CACHE_ENTRY_MAX_FIELD    65535

typedef struct {
    unsigned        status;
    int64_t         stored_at;
    uint32_t        initial_age;
    uint32_t        lifetime;
    unsigned char   varies;
    gw_cache_str_t  variant;        /* meaningful when varies */
} gw_cache_entry_meta_t;

/*
 * The bytes before the body: headers holds 2 * n strings, name and value
 * in turn; those gw_cache_header_is_stored() refuses are left out. 0 when
 * the entry cannot be made: too many headers, a field too long, a name that
 * is not a token, CR, LF or NUL in a value.
 */
size_t gw_cache_entry_head_size(const gw_cache_entry_meta_t *meta,
                                const gw_cache_str_t *headers, size_t n);

/*
 * Writes the head with body_len into its head bytes at out: head is what
 * gw_cache_entry_head_size() returned for the same meta and headers, whose
 * names and values it checked (they are not checked again, only that they
 * take head bytes). The body follows. Returns head, 0 when the fixed part
 * is not valid or the headers do not take head bytes.
 */
size_t gw_cache_entry_write_head(unsigned char *out, size_t head,
                                 const gw_cache_entry_meta_t *meta,
                                 const gw_cache_str_t *headers, size_t n,
                                 uint64_t body_len);

/* Rewrites the body length of a head already written. */
void gw_cache_entry_set_body_len(unsigned char *head, uint64_t body_len);

typedef enum {
    GW_CACHE_ENTRY_FRESH = 0,
    GW_CACHE_ENTRY_EXPIRED,          /* valid, but its lifetime has passed */
    GW_CACHE_ENTRY_CORRUPT           /* not a version 1 entry */
} gw_cache_entry_status_t;

typedef struct {
    gw_cache_entry_meta_t  meta;
    uint64_t               age;         /* the Age to send now */
    size_t                 header_count;
    const unsigned char   *headers;     /* the encoded headers */
    size_t                 headers_len;
    const unsigned char   *body;        /* inside the decoded value */
    size_t                 body_len;
} gw_cache_entry_t;

/*
 * Validates a value read from Redis. Everything in the entry points into
 * data, which must outlive it.
 */
gw_cache_entry_status_t gw_cache_entry_decode(const unsigned char *data,
    size_t len, int64_t now, gw_cache_entry_t *entry);

/*
 * The next stored header of a decoded entry, from *cursor (0 first).
 * Returns 0 after the last one.
 */
int gw_cache_entry_next_header(const gw_cache_entry_t *entry, size_t *cursor,
                               gw_cache_str_t *name, gw_cache_str_t *value);

/*
 * 1 when a decoded entry may answer a request with this Accept-Encoding
 * (data NULL: none): always when the entry does not vary, else when the
 * values are the same.
 */
int gw_cache_entry_variant_matches(const gw_cache_entry_t *entry,
                                   gw_cache_str_t accept_encoding);

#ifdef __cplusplus
}
#endif

#endif
