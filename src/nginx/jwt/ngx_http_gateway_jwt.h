/*
 * Private to ngx_http_gateway_jwt_module (JWT authentication): the types
 * and functions its files share.
 *
 *   ngx_http_gateway_jwt_module.c       directives, configuration, zones
 *   ngx_http_gateway_jwt_keys.c         key files, secrets, the key sets
 *   ngx_http_gateway_jwt_key_request.c  JWKS fetched by subrequest, shared
 *   ngx_http_gateway_jwt_cache.c        the verified-token cache
 *   ngx_http_gateway_jwt_access.c       the access check and its answers
 *   ngx_http_gateway_jwt_variables.c    claim and header variables
 *   ngx_http_gateway_jwt_status.c       the "jwt" status section
 */

#ifndef _NGX_HTTP_GATEWAY_JWT_H_INCLUDED_
#define _NGX_HTTP_GATEWAY_JWT_H_INCLUDED_


#include "ngx_http_gateway.h"
#include "gw_jwt.h"


#define NGX_HTTP_GATEWAY_JWT_FP_LEN      GW_JWT_FINGERPRINT_LEN
/* what verified a token: the static keys' and key_request's fingerprints */
#define NGX_HTTP_GATEWAY_JWT_SCOPE_LEN   (2 * NGX_HTTP_GATEWAY_JWT_FP_LEN)

/* key sets a token is verified with: the static ones, then key_request's */
#define NGX_HTTP_GATEWAY_JWT_MAX_SETS    16

/* parsed tokens each worker keeps for reuse rather than allocating */
#define NGX_HTTP_GATEWAY_JWT_SPARES      64

/* tokens each worker remembers in front of the verified-token cache */
#define NGX_HTTP_GATEWAY_JWT_RECENT      512

/* gateway_jwt_results_total's result= */
#define NGX_HTTP_GATEWAY_JWT_RESULT_OK         0
#define NGX_HTTP_GATEWAY_JWT_RESULT_MISSING    1
#define NGX_HTTP_GATEWAY_JWT_RESULT_INVALID    2
#define NGX_HTTP_GATEWAY_JWT_RESULT_EXPIRED    3
#define NGX_HTTP_GATEWAY_JWT_RESULT_FORBIDDEN  4

/* what the verified-token cache did for a request */
#define NGX_HTTP_GATEWAY_JWT_CACHE_NONE  0
#define NGX_HTTP_GATEWAY_JWT_CACHE_MISS  1
#define NGX_HTTP_GATEWAY_JWT_CACHE_HIT   2


typedef struct {
    ngx_array_t                   *values;     /* ngx_http_complex_value_t * */
    ngx_uint_t                     status;     /* 401 or 403 */
} ngx_http_gateway_jwt_require_t;


typedef struct ngx_http_gateway_jwt_remote_s  ngx_http_gateway_jwt_remote_t;

/*
 * A gateway_jwt_key_request in one server{} (where its URI is resolved),
 * and its JWKS as this worker last parsed it from shared memory. The
 * shared copy belongs to this directive of this configuration only.
 */
struct ngx_http_gateway_jwt_remote_s {
    ngx_str_t                      uri;        /* as configured */
    ngx_str_t                      path;       /* the subrequest's URI */
    ngx_str_t                      args;
    ngx_uint_t                     serial;     /* in this configuration */
    void                          *server;     /* its core srv_conf */
    ngx_http_gateway_jwt_remote_t *copies;     /* for other servers */
    ngx_queue_t                    waiters;    /* parked for this worker's */
    void                          *fetcher;    /* fetch, run by this ctx */
    gw_jwt_keyset_t               *keys;
    uint64_t                       version;
    u_char                         fingerprint[NGX_HTTP_GATEWAY_JWT_FP_LEN];
};


typedef struct {
    ngx_http_complex_value_t      *realm;      /* NULL: off */
    ngx_http_complex_value_t      *token;
    ngx_array_t                   *keys;       /* gw_jwt_keyset_t * */
    ngx_http_complex_value_t      *secret;     /* a secret with variables */
    gw_jwt_keyset_t               *secret_keys; /* a constant secret */
    ngx_http_gateway_jwt_remote_t *remote;
    ngx_uint_t                     algorithms;
    ngx_array_t                   *issuers;    /* ngx_str_t */
    ngx_array_t                   *audiences;  /* ngx_str_t */
    ngx_array_t                   *requires;   /* require_t */
    time_t                         leeway;
    time_t                         key_cache;
    size_t                         max_size;
    ngx_flag_t                     require_exp;

    /* made at merge */
    gw_jwt_str_t                  *iss;
    gw_jwt_str_t                  *aud;
    const gw_jwt_keyset_t        **sets;       /* keys, then secret_keys */
    ngx_uint_t                     nsets;
    u_char                         fingerprint[NGX_HTTP_GATEWAY_JWT_FP_LEN];
    ngx_http_gateway_stat_t       *results;    /* of this route */

    unsigned                       secret_set:1;
} ngx_http_gateway_jwt_loc_conf_t;


typedef struct {
    ngx_http_gateway_shm_t        *cache;
    gw_jwt_recent_t               *recent;     /* this worker's front of it */
    gw_jwt_spares_t               *spares;
    ngx_http_gateway_shm_t        *keys;
    uint64_t                       keys_generation; /* this configuration's */
    ngx_uint_t                     remotes;    /* key_request serials */
    ngx_int_t                      request_id_index;
    ngx_uint_t                     used;       /* some gateway_jwt REALM */

    /* for the status document */
    ngx_array_t                    key_files;  /* ngx_http_gateway_jwt_file_t */
    ngx_array_t                    key_requests; /* remote_t *, by serial */
} ngx_http_gateway_jwt_main_conf_t;


/* a gateway_jwt_key_file as loaded */
typedef struct {
    ngx_str_t                      name;
    gw_jwt_keyset_t               *keys;
} ngx_http_gateway_jwt_file_t;


/*
 * Per main request, surviving internal redirects. The decision is the
 * location's in conf: a request entering another location is decided
 * again there, reusing jwt when it was verified with the same keys.
 */
typedef struct {
    ngx_http_gateway_jwt_loc_conf_t *conf;
    gw_jwt_t                      *jwt;
    ngx_str_t                      token;      /* the text jwt was made of */
    gw_jwt_spares_t               *spares;     /* where jwt goes when done */
    ngx_str_t                      realm;
    ngx_int_t                      status;     /* NGX_OK or the HTTP status */
    const char                    *error;      /* error_description */
    ngx_http_gateway_jwt_remote_t *fetching;

    unsigned                       done:1;
    unsigned                       trusted:1;  /* jwt's signature is good */
    unsigned                       verified:1; /* and conf accepted it */
    unsigned                       cleanup:1;  /* releases jwt with the pool */
    unsigned                       exempt:1;
    unsigned                       realm_set:1;
    unsigned                       waiting:1;  /* a JWKS subrequest runs */
    unsigned                       refetched:1;
    unsigned                       fetch_tried:1;
    unsigned                       cache:2;    /* NGX_HTTP_GATEWAY_JWT_CACHE_* */
    unsigned                       recent:1;   /* jwt is a recent token */
    unsigned                       unmet:1;    /* gateway_jwt_require */
    unsigned                       abandon:1;  /* its pool ends a fetch */
    ngx_http_gateway_wait_t        wait;       /* for another's fetch */
    uint64_t                       keys_version; /* key_request's, then */
} ngx_http_gateway_jwt_ctx_t;


extern ngx_module_t  ngx_http_gateway_jwt_module;


/* module: gateway_jwt_results_total{route,result}, RBAC's too */
ngx_http_gateway_stat_t *ngx_http_gateway_jwt_results(ngx_conf_t *cf);


/* keys */
char *ngx_http_gateway_jwt_key_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_gateway_jwt_secret(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_gateway_jwt_merge_key_sets(ngx_conf_t *cf,
    ngx_http_gateway_jwt_loc_conf_t *conf);
ngx_int_t ngx_http_gateway_jwt_request_keys(ngx_http_request_t *r,
    ngx_http_gateway_jwt_loc_conf_t *jlcf, gw_jwt_keys_t *keys,
    const gw_jwt_keyset_t **sets);

/* key_request */
char *ngx_http_gateway_jwt_key_request(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_http_gateway_jwt_remote_t *ngx_http_gateway_jwt_server_remote(
    ngx_conf_t *cf, ngx_http_gateway_jwt_remote_t *remote);
ngx_int_t ngx_http_gateway_jwt_remote_keys(ngx_http_request_t *r,
    ngx_http_gateway_jwt_loc_conf_t *jlcf, ngx_http_gateway_jwt_ctx_t *ctx);
ngx_int_t ngx_http_gateway_jwt_remote_refetch(ngx_http_request_t *r,
    ngx_http_gateway_jwt_loc_conf_t *jlcf, ngx_http_gateway_jwt_ctx_t *ctx);

/* cache */
char *ngx_http_gateway_jwt_cache(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
size_t ngx_http_gateway_jwt_cache_scope(ngx_http_gateway_jwt_loc_conf_t *jlcf,
    u_char *scope);
void ngx_http_gateway_jwt_cache_key(u_char *scope, size_t len,
    ngx_str_t *token, u_char *key);
int64_t ngx_http_gateway_jwt_cache_expire(gw_jwt_t *jwt, int64_t now);
ngx_int_t ngx_http_gateway_jwt_cache_lookup(ngx_http_gateway_shm_t *shm,
    u_char *key, int64_t now);
void ngx_http_gateway_jwt_cache_insert(ngx_http_gateway_shm_t *shm,
    u_char *key, int64_t expire, int64_t now);

/* access */
ngx_int_t ngx_http_gateway_jwt_check(ngx_http_request_t *r);
ngx_http_gateway_jwt_ctx_t *ngx_http_gateway_jwt_ctx(ngx_http_request_t *r);

/* status */
ngx_int_t ngx_http_gateway_jwt_status_add(ngx_conf_t *cf,
    ngx_http_gateway_jwt_main_conf_t *jmcf);
void ngx_http_gateway_jwt_status_kids(gw_json_writer_t *w,
    gw_jwt_keyset_t *keys);
void ngx_http_gateway_jwt_key_request_status(gw_json_writer_t *w,
    ngx_http_gateway_jwt_main_conf_t *jmcf,
    ngx_http_gateway_jwt_remote_t *remote);

/* variables */
ngx_int_t ngx_http_gateway_jwt_add_variables(ngx_conf_t *cf);
char *ngx_http_gateway_jwt_claim_set(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


#endif /* _NGX_HTTP_GATEWAY_JWT_H_INCLUDED_ */
