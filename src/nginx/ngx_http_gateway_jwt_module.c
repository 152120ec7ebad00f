/*
 * ngx_http_gateway_jwt_module: JWT authentication in the access phase.
 *
 * Keys come from PEM/JWKS files (parsed at configuration load), an HMAC
 * secret, or a JWKS fetched by subrequest and shared by the workers in
 * shared memory. Verified tokens may be remembered in a shared LRU keyed by
 * a SHA-256 of the key set and the token. The token is validated once per
 * main request; internal redirects and subrequests inherit the result.
 */

#include <openssl/evp.h>

#include "ngx_http_gateway.h"
#include "gw_jwt.h"


#define NGX_HTTP_GATEWAY_JWT_REFETCH     30      /* s, unknown kid */
#define NGX_HTTP_GATEWAY_JWT_RETRY       5       /* s, failed or stale keys */
#define NGX_HTTP_GATEWAY_JWT_INFLIGHT    10000   /* ms, a fetch is trusted to run */
#define NGX_HTTP_GATEWAY_JWT_POLL        20      /* ms, waiting for a fetch */

/* what a request does about key_request keys */
#define NGX_HTTP_GATEWAY_JWT_KEYS_USE    0       /* go on with the keys there are */
#define NGX_HTTP_GATEWAY_JWT_KEYS_FETCH  1       /* fetch them itself */
#define NGX_HTTP_GATEWAY_JWT_KEYS_WAIT   2       /* wait for another's fetch */
#define NGX_HTTP_GATEWAY_JWT_CACHE_TTL   600000  /* ms, most an entry lives */
#define NGX_HTTP_GATEWAY_JWT_MAX_FILE    (1024 * 1024)
#define NGX_HTTP_GATEWAY_JWT_KEYS_SIZE   (1024 * 1024)
#define NGX_HTTP_GATEWAY_JWT_FP_LEN      GW_JWT_FINGERPRINT_LEN


typedef struct {
    ngx_array_t                   *values;     /* ngx_http_complex_value_t */
    ngx_uint_t                     status;     /* 401 or 403 */
} ngx_http_gateway_jwt_require_t;


/* A key_request JWKS as this worker last parsed it from shared memory. */
typedef struct {
    ngx_str_t                      uri;        /* as configured */
    ngx_str_t                      path;       /* the subrequest's URI */
    ngx_str_t                      args;
    uint32_t                       hash;
    gw_jwt_keyset_t               *keys;
    uint64_t                       version;
    u_char                         fingerprint[NGX_HTTP_GATEWAY_JWT_FP_LEN];
} ngx_http_gateway_jwt_remote_t;


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

    unsigned                       secret_set:1;
} ngx_http_gateway_jwt_loc_conf_t;


typedef struct {
    ngx_rbtree_t                   rbtree;
    ngx_rbtree_node_t              sentinel;
    ngx_queue_t                    queue;
} ngx_http_gateway_jwt_cache_sh_t;


typedef struct {
    ngx_rbtree_node_t              node;
    ngx_queue_t                    queue;
    int64_t                        expire;     /* ms */
    u_char                         hash[NGX_HTTP_GATEWAY_JWT_FP_LEN];
} ngx_http_gateway_jwt_cache_node_t;


typedef struct {
    ngx_queue_t                    queue;
    uint64_t                       version;
} ngx_http_gateway_jwt_keys_sh_t;


/* One key_request URI's JWKS in shared memory. */
typedef struct {
    ngx_queue_t                    queue;
    uint32_t                       hash;
    size_t                         uri_len;
    u_char                        *uri;
    u_char                        *text;
    size_t                         len;
    uint64_t                       version;
    time_t                         fetched;    /* last success */
    time_t                         attempted;  /* last fetch started */
    time_t                         refetched;  /* last one for an unknown kid */
    time_t                         failed;     /* last failure */
    ngx_msec_t                     inflight;   /* a fetch runs until then */
} ngx_http_gateway_jwt_keys_node_t;


typedef struct {
    void                          *sh;
    ngx_slab_pool_t               *shpool;
} ngx_http_gateway_jwt_shctx_t;


typedef struct {
    ngx_shm_zone_t                *cache;
    ngx_shm_zone_t                *keys;
    ngx_int_t                      request_id_index;
} ngx_http_gateway_jwt_main_conf_t;


typedef struct {
    gw_jwt_str_t                  *path;
    ngx_uint_t                     depth;
} ngx_http_gateway_jwt_claim_set_t;


typedef struct {
    gw_jwt_t                      *jwt;
    ngx_str_t                      realm;
    ngx_int_t                      status;     /* NGX_OK or the HTTP status */
    const char                    *error;      /* error_description */
    ngx_http_gateway_jwt_remote_t *fetching;

    unsigned                       done:1;
    unsigned                       verified:1;
    unsigned                       exempt:1;
    unsigned                       realm_set:1;
    unsigned                       waiting:1;  /* a JWKS subrequest runs */
    unsigned                       refetched:1;
    unsigned                       fetch_tried:1;
    unsigned                       cache:2;    /* 0 none, 1 MISS, 2 HIT */
    unsigned                       polling:1;  /* for another's fetch */
    ngx_msec_t                     poll_until;
} ngx_http_gateway_jwt_ctx_t;


static ngx_http_gateway_jwt_ctx_t *ngx_http_gateway_jwt_ctx(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_gateway_jwt_find_token(ngx_http_request_t *r,
    ngx_http_gateway_jwt_loc_conf_t *jlcf, ngx_str_t *token);
static ngx_int_t ngx_http_gateway_jwt_verify(ngx_http_request_t *r,
    ngx_http_gateway_jwt_loc_conf_t *jlcf, ngx_http_gateway_jwt_ctx_t *ctx,
    ngx_str_t *token, gw_jwt_status_t *status);
static ngx_int_t ngx_http_gateway_jwt_requires(ngx_http_request_t *r,
    ngx_http_gateway_jwt_loc_conf_t *jlcf, ngx_uint_t *status);
static ngx_int_t ngx_http_gateway_jwt_reject(ngx_http_request_t *r,
    ngx_http_gateway_jwt_ctx_t *ctx, ngx_int_t status, const char *error);
static ngx_int_t ngx_http_gateway_jwt_answer(ngx_http_request_t *r,
    ngx_http_gateway_jwt_ctx_t *ctx);
static void ngx_http_gateway_jwt_free_token(void *data);

static ngx_int_t ngx_http_gateway_jwt_cache_key(ngx_http_request_t *r,
    ngx_http_gateway_jwt_loc_conf_t *jlcf, ngx_str_t *token, u_char *key);
static ngx_int_t ngx_http_gateway_jwt_cache_lookup(ngx_shm_zone_t *zone,
    u_char *key, int64_t now);
static void ngx_http_gateway_jwt_cache_insert(ngx_shm_zone_t *zone,
    u_char *key, int64_t expire, int64_t now);

static void ngx_http_gateway_jwt_keys_sync(ngx_http_request_t *r,
    ngx_shm_zone_t *zone, ngx_http_gateway_jwt_remote_t *remote);
static void ngx_http_gateway_jwt_keys_poll(ngx_http_request_t *r);
static void ngx_http_gateway_jwt_keys_fetched(ngx_shm_zone_t *zone,
    ngx_http_gateway_jwt_remote_t *remote, ngx_int_t rc);
static ngx_uint_t ngx_http_gateway_jwt_keys_should_fetch(ngx_shm_zone_t *zone,
    ngx_http_gateway_jwt_remote_t *remote, time_t key_cache,
    ngx_uint_t unknown_kid);
static ngx_int_t ngx_http_gateway_jwt_keys_fetch(ngx_http_request_t *r,
    ngx_http_gateway_jwt_ctx_t *ctx, ngx_http_gateway_jwt_remote_t *remote);
static ngx_int_t ngx_http_gateway_jwt_keys_done(ngx_http_request_t *r,
    void *data, ngx_int_t rc);

static ngx_int_t ngx_http_gateway_jwt_claim_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_gateway_jwt_header_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_gateway_jwt_claim_set_variable(
    ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_gateway_jwt_cache_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);

static char *ngx_http_gateway_jwt(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_gateway_jwt_key_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_gateway_jwt_secret(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_gateway_jwt_key_request(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_gateway_jwt_algorithms(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_gateway_jwt_str_list(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_gateway_jwt_require(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_gateway_jwt_claim_set(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_gateway_jwt_cache(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

static ngx_int_t ngx_http_gateway_jwt_init_cache_zone(ngx_shm_zone_t *zone,
    void *data);
static ngx_int_t ngx_http_gateway_jwt_init_keys_zone(ngx_shm_zone_t *zone,
    void *data);
static void ngx_http_gateway_jwt_free_keyset(void *data);

static void *ngx_http_gateway_jwt_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_gateway_jwt_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_gateway_jwt_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_gateway_jwt_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_gateway_jwt_init(ngx_conf_t *cf);


static ngx_str_t  ngx_http_gateway_jwt_cache_name =
    ngx_string("gateway_jwt_cache");
static ngx_str_t  ngx_http_gateway_jwt_keys_name =
    ngx_string("gateway_jwt_keys");


static ngx_command_t  ngx_http_gateway_jwt_commands[] = {

    { ngx_string("gateway_jwt"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_gateway_jwt,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gateway_jwt_key_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_gateway_jwt_key_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gateway_jwt_secret"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_gateway_jwt_secret,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gateway_jwt_key_request"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_gateway_jwt_key_request,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gateway_jwt_algorithms"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_gateway_jwt_algorithms,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gateway_jwt_loc_conf_t, algorithms),
      NULL },

    { ngx_string("gateway_jwt_issuer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_gateway_jwt_str_list,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gateway_jwt_loc_conf_t, issuers),
      NULL },

    { ngx_string("gateway_jwt_audience"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_gateway_jwt_str_list,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gateway_jwt_loc_conf_t, audiences),
      NULL },

    { ngx_string("gateway_jwt_leeway"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gateway_jwt_loc_conf_t, leeway),
      NULL },

    { ngx_string("gateway_jwt_require"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_gateway_jwt_require,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gateway_jwt_claim_set"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_gateway_jwt_claim_set,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gateway_jwt_key_cache"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gateway_jwt_loc_conf_t, key_cache),
      NULL },

    { ngx_string("gateway_jwt_max_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gateway_jwt_loc_conf_t, max_size),
      NULL },

    { ngx_string("gateway_jwt_require_exp"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gateway_jwt_loc_conf_t, require_exp),
      NULL },

    { ngx_string("gateway_jwt_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_gateway_jwt_cache,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_gateway_jwt_module_ctx = {
    ngx_http_gateway_jwt_add_variables,    /* preconfiguration */
    ngx_http_gateway_jwt_init,             /* postconfiguration */

    ngx_http_gateway_jwt_create_main_conf, /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_gateway_jwt_create_loc_conf,  /* create location configuration */
    ngx_http_gateway_jwt_merge_loc_conf    /* merge location configuration */
};


ngx_module_t  ngx_http_gateway_jwt_module = {
    NGX_MODULE_V1,
    &ngx_http_gateway_jwt_module_ctx,      /* module context */
    ngx_http_gateway_jwt_commands,         /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_variable_t  ngx_http_gateway_jwt_vars[] = {

    { ngx_string("gateway_jwt_claim_"), NULL,
      ngx_http_gateway_jwt_claim_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_PREFIX, 0 },

    { ngx_string("gateway_jwt_header_"), NULL,
      ngx_http_gateway_jwt_header_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_PREFIX, 0 },

    { ngx_string("gateway_jwt_cache_status"), NULL,
      ngx_http_gateway_jwt_cache_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_str_t  ngx_http_gateway_jwt_claim_prefix =
    ngx_string("gateway_jwt_claim_");
static ngx_str_t  ngx_http_gateway_jwt_header_prefix =
    ngx_string("gateway_jwt_header_");


/* the access check */

ngx_int_t
ngx_http_gateway_jwt_check(ngx_http_request_t *r)
{
    ngx_int_t                         rc;
    ngx_str_t                         realm, token;
    ngx_uint_t                        status;
    gw_jwt_status_t                   st;
    ngx_http_gateway_jwt_ctx_t       *ctx;
    ngx_http_gateway_jwt_loc_conf_t  *jlcf;

    if (r != r->main) {
        return NGX_DECLINED;
    }

    jlcf = ngx_http_get_module_loc_conf(r, ngx_http_gateway_jwt_module);

    if (jlcf->realm == NULL) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_gateway_jwt_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->done) {
        if (ctx->status == NGX_OK || r->error_page) {
            return NGX_DECLINED;
        }

        return ngx_http_gateway_jwt_answer(r, ctx);
    }

    if (ctx->waiting) {
        return NGX_AGAIN;
    }

    if (!ctx->realm_set) {
        if (ngx_http_complex_value(r, jlcf->realm, &realm) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (realm.len == 3 && ngx_strncmp(realm.data, "off", 3) == 0) {
            ctx->exempt = 1;
            return NGX_DECLINED;
        }

        ctx->exempt = 0;
        ctx->realm = realm;
        ctx->realm_set = 1;
    }

    rc = ngx_http_gateway_jwt_find_token(r, jlcf, &token);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_gateway_jwt_reject(r, ctx, NGX_HTTP_UNAUTHORIZED,
                                           NULL);
    }

    rc = ngx_http_gateway_jwt_verify(r, jlcf, ctx, &token, &st);

    if (rc == NGX_AGAIN || rc == NGX_ERROR) {
        return rc == NGX_AGAIN ? NGX_AGAIN : NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (st != GW_JWT_OK) {
        return ngx_http_gateway_jwt_reject(r, ctx, NGX_HTTP_UNAUTHORIZED,
                                           gw_jwt_status_text(st));
    }

    /* claim variables may be used by gateway_jwt_require */

    ctx->verified = 1;

    rc = ngx_http_gateway_jwt_requires(r, jlcf, &status);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        ctx->verified = 0;
        return ngx_http_gateway_jwt_reject(r, ctx, status,
                                           "required claims not present");
    }

    ctx->done = 1;
    ctx->status = NGX_OK;

    return NGX_DECLINED;
}


struct gw_jwt_s *
ngx_http_gateway_jwt_token(ngx_http_request_t *r, ngx_uint_t *exempt)
{
    ngx_http_gateway_jwt_ctx_t  *ctx;

    *exempt = 0;

    ctx = ngx_http_gateway_jwt_ctx(r);
    if (ctx == NULL) {
        return NULL;
    }

    *exempt = ctx->exempt;

    return ctx->verified ? ctx->jwt : NULL;
}


static ngx_http_gateway_jwt_ctx_t *
ngx_http_gateway_jwt_ctx(ngx_http_request_t *r)
{
    return ngx_http_gateway_request_state(r, &ngx_http_gateway_jwt_module,
                                          sizeof(ngx_http_gateway_jwt_ctx_t));
}


static ngx_int_t
ngx_http_gateway_jwt_find_token(ngx_http_request_t *r,
    ngx_http_gateway_jwt_loc_conf_t *jlcf, ngx_str_t *token)
{
    u_char           *p, *last;
    ngx_table_elt_t  *h;

    if (jlcf->token) {
        if (ngx_http_complex_value(r, jlcf->token, token) != NGX_OK) {
            return NGX_ERROR;
        }

        return token->len ? NGX_OK : NGX_DECLINED;
    }

    h = r->main->headers_in.authorization;

    if (h == NULL || h->value.len < sizeof("Bearer ") - 1
        || ngx_strncasecmp(h->value.data, (u_char *) "Bearer ",
                           sizeof("Bearer ") - 1) != 0)
    {
        return NGX_DECLINED;
    }

    p = h->value.data + sizeof("Bearer ") - 1;
    last = h->value.data + h->value.len;

    while (p < last && *p == ' ') {
        p++;
    }

    while (last > p && (last[-1] == ' ' || last[-1] == '\t')) {
        last--;
    }

    token->data = p;
    token->len = last - p;

    return token->len ? NGX_OK : NGX_DECLINED;
}


static ngx_int_t
ngx_http_gateway_jwt_verify(ngx_http_request_t *r,
    ngx_http_gateway_jwt_loc_conf_t *jlcf, ngx_http_gateway_jwt_ctx_t *ctx,
    ngx_str_t *token, gw_jwt_status_t *status)
{
    int64_t                            now, exp;
    ngx_str_t                          secret;
    ngx_uint_t                         i, cached, cacheable;
    ngx_time_t                        *tp;
    gw_jwt_keys_t                      keys;
    gw_jwt_policy_t                    policy;
    ngx_pool_cleanup_t                *cln;
    const gw_jwt_keyset_t             *sets[16];
    ngx_http_gateway_jwt_remote_t     *remote;
    ngx_http_gateway_jwt_main_conf_t  *jmcf;
    u_char                             key[NGX_HTTP_GATEWAY_JWT_FP_LEN];

    jmcf = ngx_http_get_module_main_conf(r, ngx_http_gateway_jwt_module);

    if (ctx->jwt == NULL) {
        cln = ngx_pool_cleanup_add(r->main->pool, 0);
        if (cln == NULL) {
            return NGX_ERROR;
        }

        *status = gw_jwt_parse((char *) token->data, token->len,
                               jlcf->max_size, &ctx->jwt);
        if (*status != GW_JWT_OK) {
            return NGX_OK;
        }

        cln->handler = ngx_http_gateway_jwt_free_token;
        cln->data = ctx->jwt;
    }

    /* the JWKS of gateway_jwt_key_request, fetched when missing or stale */

    remote = jlcf->remote;

    if (remote && jmcf->keys) {
        ngx_http_gateway_jwt_keys_sync(r, jmcf->keys, remote);

        if (!ctx->fetch_tried) {
            switch (ngx_http_gateway_jwt_keys_should_fetch(jmcf->keys, remote,
                                                           jlcf->key_cache, 0))
            {
            case NGX_HTTP_GATEWAY_JWT_KEYS_FETCH:
                ctx->fetch_tried = 1;
                return ngx_http_gateway_jwt_keys_fetch(r, ctx, remote);

            case NGX_HTTP_GATEWAY_JWT_KEYS_WAIT:

                /* no keys yet and another request fetches them: poll the
                 * shared memory for a while rather than pile on */

                if (!ctx->polling) {
                    ctx->polling = 1;
                    ctx->poll_until = ngx_current_msec
                                      + NGX_HTTP_GATEWAY_JWT_INFLIGHT;
                }

                if ((ngx_msec_int_t) (ctx->poll_until - ngx_current_msec) > 0)
                {
                    r->read_event_handler = ngx_http_test_reading;
                    r->write_event_handler = ngx_http_gateway_jwt_keys_poll;
                    r->connection->write->delayed = 1;
                    ngx_add_timer(r->connection->write,
                                  NGX_HTTP_GATEWAY_JWT_POLL);
                    return NGX_AGAIN;
                }

                break;

            default:
                break;
            }
        }
    }

    keys.nsets = 0;

    for (i = 0; i < jlcf->nsets && keys.nsets < 15; i++) {
        sets[keys.nsets++] = jlcf->sets[i];
    }

    if (remote && remote->keys) {
        sets[keys.nsets++] = remote->keys;
    }

    keys.sets = sets;
    keys.secret = NULL;
    keys.secret_len = 0;
    keys.allowed = jlcf->algorithms;

    if (jlcf->secret) {
        if (ngx_http_complex_value(r, jlcf->secret, &secret) != NGX_OK) {
            return NGX_ERROR;
        }

        if (secret.len == 0) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "gateway jwt: gateway_jwt_secret is empty");
        }

        keys.secret = secret.data;
        keys.secret_len = secret.len;
    }

    if (keys.nsets == 0 && jlcf->secret == NULL && remote == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "gateway jwt: no keys to verify tokens with");
    }

    tp = ngx_timeofday();
    now = (int64_t) tp->sec * 1000 + tp->msec;

    /* the verified-token cache: asymmetric signatures only, HMAC is cheap */

    cacheable = jmcf->cache != NULL
                && !(gw_jwt_alg(ctx->jwt) & GW_JWT_HMAC)
                && (jlcf->algorithms == 0
                    || (jlcf->algorithms & gw_jwt_alg(ctx->jwt)));
    cached = 0;

    if (cacheable) {
        if (ngx_http_gateway_jwt_cache_key(r, jlcf, token, key) != NGX_OK) {
            return NGX_ERROR;
        }

        cached = ngx_http_gateway_jwt_cache_lookup(jmcf->cache, key, now)
                 == NGX_OK;
    }

    ctx->cache = cacheable ? (cached ? 2 : 1) : 0;

    if (cached) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "gateway jwt: verified-token cache hit");

        *status = gw_jwt_trust(ctx->jwt);

    } else {
        *status = gw_jwt_verify(ctx->jwt, &keys);

        if (*status == GW_JWT_UNKNOWN_KID && remote && jmcf->keys
            && !ctx->refetched
            && ngx_http_gateway_jwt_keys_should_fetch(jmcf->keys, remote,
                                                      jlcf->key_cache, 1)
               == NGX_HTTP_GATEWAY_JWT_KEYS_FETCH)
        {
            ctx->refetched = 1;
            return ngx_http_gateway_jwt_keys_fetch(r, ctx, remote);
        }
    }

    if (*status != GW_JWT_OK) {
        return NGX_OK;
    }

    ngx_memzero(&policy, sizeof(gw_jwt_policy_t));
    policy.now_ms = now;
    policy.leeway_ms = (int64_t) jlcf->leeway * 1000;
    policy.require_exp = jlcf->require_exp;

    if (jlcf->issuers != NULL) {
        policy.issuers = jlcf->iss;
        policy.nissuers = jlcf->issuers->nelts;
    }

    if (jlcf->audiences != NULL) {
        policy.audiences = jlcf->aud;
        policy.naudiences = jlcf->audiences->nelts;
    }

    *status = gw_jwt_check_claims(ctx->jwt, &policy);

    if (*status == GW_JWT_OK && cacheable && !cached) {
        if (!gw_jwt_exp_ms(ctx->jwt, &exp)
            || exp > now + NGX_HTTP_GATEWAY_JWT_CACHE_TTL)
        {
            exp = now + NGX_HTTP_GATEWAY_JWT_CACHE_TTL;
        }

        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "gateway jwt: verified-token cache store");

        ngx_http_gateway_jwt_cache_insert(jmcf->cache, key, exp, now);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_gateway_jwt_requires(ngx_http_request_t *r,
    ngx_http_gateway_jwt_loc_conf_t *jlcf, ngx_uint_t *status)
{
    ngx_str_t                        value;
    ngx_uint_t                       i, j;
    ngx_http_complex_value_t        *cv;
    ngx_http_gateway_jwt_require_t  *req;

    if (jlcf->requires == NULL) {
        return NGX_OK;
    }

    req = jlcf->requires->elts;

    for (i = 0; i < jlcf->requires->nelts; i++) {
        cv = req[i].values->elts;

        for (j = 0; j < req[i].values->nelts; j++) {
            if (ngx_http_complex_value(r, &cv[j], &value) != NGX_OK) {
                return NGX_ERROR;
            }

            if (value.len == 0 || (value.len == 1 && value.data[0] == '0')) {
                *status = req[i].status;
                return NGX_DECLINED;
            }
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_gateway_jwt_reject(ngx_http_request_t *r,
    ngx_http_gateway_jwt_ctx_t *ctx, ngx_int_t status, const char *error)
{
    ngx_str_t                          id;
    ngx_http_variable_value_t         *vv;
    ngx_http_gateway_jwt_main_conf_t  *jmcf;

    ctx->done = 1;
    ctx->status = status;
    ctx->error = error;
    ctx->verified = 0;

    jmcf = ngx_http_get_module_main_conf(r, ngx_http_gateway_jwt_module);

    ngx_str_null(&id);

    if (jmcf->request_id_index != NGX_ERROR) {
        vv = ngx_http_get_indexed_variable(r, jmcf->request_id_index);

        if (vv && !vv->not_found) {
            id.data = vv->data;
            id.len = vv->len;
        }
    }

    /* the reason, never the token */

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "gateway jwt: %s, request id \"%V\"",
                  error ? error : "no token", &id);

    return ngx_http_gateway_jwt_answer(r, ctx);
}


/* WWW-Authenticate as RFC 6750 section 3 spells it. */

static ngx_int_t
ngx_http_gateway_jwt_answer(ngx_http_request_t *r,
    ngx_http_gateway_jwt_ctx_t *ctx)
{
    u_char           *p;
    size_t            len;
    ngx_uint_t        i;
    ngx_table_elt_t  *h;

    if (ctx->status == NGX_HTTP_FORBIDDEN) {
        len = sizeof("Bearer error=\"insufficient_scope\"") - 1;

    } else {
        len = sizeof("Bearer realm=\"\"") - 1 + 2 * ctx->realm.len;

        if (ctx->error) {
            len += sizeof(", error=\"invalid_token\", error_description=\"\"")
                   - 1 + ngx_strlen(ctx->error);
        }
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h = r->headers_out.www_authenticate;

    if (h == NULL) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        r->headers_out.www_authenticate = h;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "WWW-Authenticate");
    h->value.data = p;

    if (ctx->status == NGX_HTTP_FORBIDDEN) {
        p = ngx_cpymem(p, "Bearer error=\"insufficient_scope\"",
                       sizeof("Bearer error=\"insufficient_scope\"") - 1);

    } else {
        p = ngx_cpymem(p, "Bearer realm=\"", sizeof("Bearer realm=\"") - 1);

        /* a quoted-string: escape quotes and backslashes, drop controls */

        for (i = 0; i < ctx->realm.len; i++) {
            u_char c = ctx->realm.data[i];

            if (c < 0x20 || c == 0x7f) {
                continue;
            }

            if (c == '"' || c == '\\') {
                *p++ = '\\';
            }

            *p++ = c;
        }

        *p++ = '"';

        if (ctx->error) {
            p = ngx_sprintf(p, ", error=\"invalid_token\", "
                            "error_description=\"%s\"", ctx->error);
        }
    }

    h->value.len = p - h->value.data;

    return ctx->status;
}


static void
ngx_http_gateway_jwt_free_token(void *data)
{
    gw_jwt_free(data);
}


/* the verified-token cache */

static ngx_int_t
ngx_http_gateway_jwt_cache_key(ngx_http_request_t *r,
    ngx_http_gateway_jwt_loc_conf_t *jlcf, ngx_str_t *token, u_char *key)
{
    size_t  len;
    u_char  scope[2 * NGX_HTTP_GATEWAY_JWT_FP_LEN];

    ngx_memcpy(scope, jlcf->fingerprint, NGX_HTTP_GATEWAY_JWT_FP_LEN);
    len = NGX_HTTP_GATEWAY_JWT_FP_LEN;

    if (jlcf->remote && jlcf->remote->keys) {
        ngx_memcpy(scope + len, jlcf->remote->fingerprint,
                   NGX_HTTP_GATEWAY_JWT_FP_LEN);
        len += NGX_HTTP_GATEWAY_JWT_FP_LEN;
    }

    gw_jwt_cache_key(scope, len, (char *) token->data, token->len, key);

    return NGX_OK;
}


static ngx_http_gateway_jwt_cache_node_t *
ngx_http_gateway_jwt_cache_find(ngx_http_gateway_jwt_cache_sh_t *sh,
    u_char *key)
{
    ngx_int_t                           rc;
    ngx_rbtree_key_t                    k;
    ngx_rbtree_node_t                  *node, *sentinel;
    ngx_http_gateway_jwt_cache_node_t  *cn;

    ngx_memcpy(&k, key, sizeof(ngx_rbtree_key_t));

    node = sh->rbtree.root;
    sentinel = sh->rbtree.sentinel;

    while (node != sentinel) {

        if (k != node->key) {
            node = (k < node->key) ? node->left : node->right;
            continue;
        }

        cn = (ngx_http_gateway_jwt_cache_node_t *) node;

        rc = ngx_memcmp(key, cn->hash, NGX_HTTP_GATEWAY_JWT_FP_LEN);

        if (rc == 0) {
            return cn;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


static void
ngx_http_gateway_jwt_cache_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t                  **p;
    ngx_http_gateway_jwt_cache_node_t   *cn, *cnt;

    for ( ;; ) {

        if (node->key != temp->key) {
            p = (node->key < temp->key) ? &temp->left : &temp->right;

        } else {
            cn = (ngx_http_gateway_jwt_cache_node_t *) node;
            cnt = (ngx_http_gateway_jwt_cache_node_t *) temp;

            p = (ngx_memcmp(cn->hash, cnt->hash, NGX_HTTP_GATEWAY_JWT_FP_LEN)
                 < 0) ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


static void
ngx_http_gateway_jwt_cache_delete(ngx_http_gateway_jwt_shctx_t *shctx,
    ngx_http_gateway_jwt_cache_node_t *cn)
{
    ngx_http_gateway_jwt_cache_sh_t  *sh = shctx->sh;

    ngx_queue_remove(&cn->queue);
    ngx_rbtree_delete(&sh->rbtree, &cn->node);
    ngx_slab_free_locked(shctx->shpool, cn);
}


static ngx_int_t
ngx_http_gateway_jwt_cache_lookup(ngx_shm_zone_t *zone, u_char *key,
    int64_t now)
{
    ngx_int_t                           rc;
    ngx_http_gateway_jwt_shctx_t       *shctx;
    ngx_http_gateway_jwt_cache_sh_t    *sh;
    ngx_http_gateway_jwt_cache_node_t  *cn;

    shctx = zone->data;
    sh = shctx->sh;
    rc = NGX_DECLINED;

    ngx_shmtx_lock(&shctx->shpool->mutex);

    cn = ngx_http_gateway_jwt_cache_find(sh, key);

    if (cn) {
        if (cn->expire > now) {
            ngx_queue_remove(&cn->queue);
            ngx_queue_insert_head(&sh->queue, &cn->queue);
            rc = NGX_OK;

        } else {
            ngx_http_gateway_jwt_cache_delete(shctx, cn);
        }
    }

    ngx_shmtx_unlock(&shctx->shpool->mutex);

    return rc;
}


static void
ngx_http_gateway_jwt_cache_insert(ngx_shm_zone_t *zone, u_char *key,
    int64_t expire, int64_t now)
{
    ngx_uint_t                          n;
    ngx_queue_t                        *q;
    ngx_http_gateway_jwt_shctx_t       *shctx;
    ngx_http_gateway_jwt_cache_sh_t    *sh;
    ngx_http_gateway_jwt_cache_node_t  *cn;

    shctx = zone->data;
    sh = shctx->sh;

    ngx_shmtx_lock(&shctx->shpool->mutex);

    /* drop a couple of expired entries from the cold end */

    for (n = 0; n < 2 && !ngx_queue_empty(&sh->queue); n++) {
        q = ngx_queue_last(&sh->queue);
        cn = ngx_queue_data(q, ngx_http_gateway_jwt_cache_node_t, queue);

        if (cn->expire > now) {
            break;
        }

        ngx_http_gateway_jwt_cache_delete(shctx, cn);
    }

    cn = ngx_http_gateway_jwt_cache_find(sh, key);

    if (cn) {
        cn->expire = expire;
        ngx_queue_remove(&cn->queue);
        ngx_queue_insert_head(&sh->queue, &cn->queue);
        goto done;
    }

    for ( ;; ) {
        cn = ngx_slab_alloc_locked(shctx->shpool,
                                   sizeof(ngx_http_gateway_jwt_cache_node_t));
        if (cn != NULL) {
            break;
        }

        /* full: the least recently used entry makes room */

        if (ngx_queue_empty(&sh->queue)) {
            goto done;
        }

        q = ngx_queue_last(&sh->queue);
        ngx_http_gateway_jwt_cache_delete(shctx,
                ngx_queue_data(q, ngx_http_gateway_jwt_cache_node_t, queue));
    }

    ngx_memcpy(cn->hash, key, NGX_HTTP_GATEWAY_JWT_FP_LEN);
    ngx_memcpy(&cn->node.key, key, sizeof(ngx_rbtree_key_t));
    cn->expire = expire;

    ngx_rbtree_insert(&sh->rbtree, &cn->node);
    ngx_queue_insert_head(&sh->queue, &cn->queue);

done:

    ngx_shmtx_unlock(&shctx->shpool->mutex);
}


/* gateway_jwt_key_request: JWKS shared by the workers */

static ngx_http_gateway_jwt_keys_node_t *
ngx_http_gateway_jwt_keys_node(ngx_http_gateway_jwt_shctx_t *shctx,
    ngx_http_gateway_jwt_remote_t *remote)
{
    ngx_queue_t                       *q;
    ngx_http_gateway_jwt_keys_sh_t    *sh;
    ngx_http_gateway_jwt_keys_node_t  *kn;

    sh = shctx->sh;

    for (q = ngx_queue_head(&sh->queue);
         q != ngx_queue_sentinel(&sh->queue);
         q = ngx_queue_next(q))
    {
        kn = ngx_queue_data(q, ngx_http_gateway_jwt_keys_node_t, queue);

        if (kn->hash == remote->hash && kn->uri_len == remote->uri.len
            && ngx_memcmp(kn->uri, remote->uri.data, remote->uri.len) == 0)
        {
            return kn;
        }
    }

    kn = ngx_slab_calloc_locked(shctx->shpool,
                                sizeof(ngx_http_gateway_jwt_keys_node_t));
    if (kn == NULL) {
        return NULL;
    }

    kn->uri = ngx_slab_alloc_locked(shctx->shpool, remote->uri.len);
    if (kn->uri == NULL) {
        ngx_slab_free_locked(shctx->shpool, kn);
        return NULL;
    }

    ngx_memcpy(kn->uri, remote->uri.data, remote->uri.len);
    kn->uri_len = remote->uri.len;
    kn->hash = remote->hash;

    ngx_queue_insert_tail(&sh->queue, &kn->queue);

    return kn;
}


/* Picks up a JWKS another worker (or an earlier configuration) fetched. */

static void
ngx_http_gateway_jwt_keys_sync(ngx_http_request_t *r, ngx_shm_zone_t *zone,
    ngx_http_gateway_jwt_remote_t *remote)
{
    u_char                            *text;
    size_t                             len;
    uint64_t                           version;
    gw_jwt_keyset_t                   *ks;
    ngx_http_gateway_jwt_shctx_t      *shctx;
    ngx_http_gateway_jwt_keys_node_t  *kn;
    char                               err[GW_JWT_ERRLEN];

    shctx = zone->data;
    text = NULL;
    len = 0;
    version = 0;

    ngx_shmtx_lock(&shctx->shpool->mutex);

    kn = ngx_http_gateway_jwt_keys_node(shctx, remote);

    if (kn && kn->version != remote->version && kn->text) {
        text = ngx_alloc(kn->len, r->connection->log);
        if (text) {
            ngx_memcpy(text, kn->text, kn->len);
            len = kn->len;
            version = kn->version;
        }
    }

    ngx_shmtx_unlock(&shctx->shpool->mutex);

    if (text == NULL) {
        return;
    }

    ks = gw_jwt_keyset_new();

    if (ks && gw_jwt_keyset_add(ks, (char *) text, len, err, sizeof(err)) > 0) {
        if (remote->keys) {
            gw_jwt_keyset_free(remote->keys);
        }

        remote->keys = ks;
        gw_jwt_keyset_fingerprint(ks, remote->fingerprint);

    } else {
        gw_jwt_keyset_free(ks);
    }

    remote->version = version;

    ngx_free(text);
}


static ngx_uint_t
ngx_http_gateway_jwt_keys_should_fetch(ngx_shm_zone_t *zone,
    ngx_http_gateway_jwt_remote_t *remote, time_t key_cache,
    ngx_uint_t unknown_kid)
{
    time_t                             now, retry;
    ngx_uint_t                         rc;
    ngx_http_gateway_jwt_shctx_t      *shctx;
    ngx_http_gateway_jwt_keys_node_t  *kn;

    shctx = zone->data;
    now = ngx_time();
    rc = NGX_HTTP_GATEWAY_JWT_KEYS_USE;
    retry = ngx_min(key_cache, NGX_HTTP_GATEWAY_JWT_RETRY);

    ngx_shmtx_lock(&shctx->shpool->mutex);

    kn = ngx_http_gateway_jwt_keys_node(shctx, remote);

    if (kn == NULL) {
        /* no room to remember anything: fetch for this request only */
        if (remote->keys == NULL) {
            rc = NGX_HTTP_GATEWAY_JWT_KEYS_FETCH;
        }

    } else if (unknown_kid) {
        if (now - kn->refetched >= NGX_HTTP_GATEWAY_JWT_REFETCH) {
            kn->refetched = now;
            rc = NGX_HTTP_GATEWAY_JWT_KEYS_FETCH;
        }

    } else if (remote->keys == NULL) {

        /*
         * nothing to verify with: one request fetches, the others wait for
         * it; after a failure nobody tries again for a few seconds
         */

        if ((ngx_msec_int_t) (kn->inflight - ngx_current_msec) > 0) {
            rc = NGX_HTTP_GATEWAY_JWT_KEYS_WAIT;

        } else if (now - kn->failed >= retry) {
            rc = NGX_HTTP_GATEWAY_JWT_KEYS_FETCH;
        }

    } else if (now >= kn->fetched + key_cache) {
        /* stale: one request refreshes, the others use the old keys */
        if (now - kn->attempted >= retry) {
            rc = NGX_HTTP_GATEWAY_JWT_KEYS_FETCH;
        }
    }

    if (rc == NGX_HTTP_GATEWAY_JWT_KEYS_FETCH && kn) {
        kn->attempted = now;
        kn->inflight = ngx_current_msec + NGX_HTTP_GATEWAY_JWT_INFLIGHT;
    }

    ngx_shmtx_unlock(&shctx->shpool->mutex);

    return rc;
}


/* The write event timer of a request waiting for another's fetch. */

static void
ngx_http_gateway_jwt_keys_poll(ngx_http_request_t *r)
{
    ngx_event_t  *wev;

    wev = r->connection->write;

    if (wev->delayed) {
        if (ngx_handle_write_event(wev, 0) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }

        return;
    }

    if (ngx_handle_read_event(r->connection->read, 0) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    ngx_http_core_run_phases(r);
}


/* rc: NGX_OK fetched, NGX_ERROR failed, NGX_DECLINED abandoned */

static void
ngx_http_gateway_jwt_keys_fetched(ngx_shm_zone_t *zone,
    ngx_http_gateway_jwt_remote_t *remote, ngx_int_t rc)
{
    ngx_http_gateway_jwt_shctx_t      *shctx;
    ngx_http_gateway_jwt_keys_node_t  *kn;

    shctx = zone->data;

    ngx_shmtx_lock(&shctx->shpool->mutex);

    kn = ngx_http_gateway_jwt_keys_node(shctx, remote);

    if (kn) {
        kn->inflight = ngx_current_msec;

        if (rc == NGX_ERROR) {
            kn->failed = ngx_time();
        }
    }

    ngx_shmtx_unlock(&shctx->shpool->mutex);
}


static ngx_int_t
ngx_http_gateway_jwt_keys_fetch(ngx_http_request_t *r,
    ngx_http_gateway_jwt_ctx_t *ctx, ngx_http_gateway_jwt_remote_t *remote)
{
    ngx_http_request_t          *sr;
    ngx_http_post_subrequest_t  *ps;

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NGX_ERROR;
    }

    ps->handler = ngx_http_gateway_jwt_keys_done;
    ps->data = ctx;

    if (ngx_http_subrequest(r, &remote->path,
                            remote->args.len ? &remote->args : NULL, &sr, ps,
                            NGX_HTTP_SUBREQUEST_WAITED
                            |NGX_HTTP_SUBREQUEST_IN_MEMORY)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* a GET without the client's body */

    sr->method = NGX_HTTP_GET;
    ngx_str_set(&sr->method_name, "GET");

    sr->request_body = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    if (sr->request_body == NULL) {
        return NGX_ERROR;
    }

    ctx->waiting = 1;
    ctx->fetching = remote;

    return NGX_AGAIN;
}


static ngx_int_t
ngx_http_gateway_jwt_keys_done(ngx_http_request_t *r, void *data,
    ngx_int_t rc)
{
    ngx_http_gateway_jwt_ctx_t *ctx = data;

    u_char                            *text;
    size_t                             len;
    ngx_buf_t                         *b;
    ngx_uint_t                         ok, status;
    gw_jwt_keyset_t                   *ks;
    ngx_http_gateway_jwt_shctx_t      *shctx;
    ngx_http_gateway_jwt_remote_t     *remote;
    ngx_http_gateway_jwt_keys_node_t  *kn;
    ngx_http_gateway_jwt_main_conf_t  *jmcf;
    char                               err[GW_JWT_ERRLEN];

    if (!ctx->waiting) {
        return rc;
    }

    ctx->waiting = 0;
    remote = ctx->fetching;
    ctx->fetching = NULL;

    jmcf = ngx_http_get_module_main_conf(r, ngx_http_gateway_jwt_module);
    shctx = jmcf->keys->data;

    ok = 0;
    ks = NULL;
    b = r->out ? r->out->buf : NULL;

    status = (rc >= NGX_HTTP_SPECIAL_RESPONSE) ? (ngx_uint_t) rc
                                               : r->headers_out.status;

    if (status == NGX_HTTP_CLIENT_CLOSED_REQUEST || r->connection->error) {

        /* the client went away: not the provider's failure, and the next
         * request may fetch at once */

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "gateway jwt: fetching keys from \"%V\" abandoned, "
                      "the client closed the connection", &remote->uri);

        ngx_http_gateway_jwt_keys_fetched(jmcf->keys, remote, NGX_DECLINED);

        return rc;
    }

    if (rc == NGX_ERROR || rc == NGX_AGAIN) {
        ngx_snprintf((u_char *) err, sizeof(err), "subrequest failed%Z");

    } else if (status != NGX_HTTP_OK) {
        ngx_snprintf((u_char *) err, sizeof(err), "status %ui%Z", status);

    } else if (b == NULL || b->last == b->pos) {
        ngx_snprintf((u_char *) err, sizeof(err), "empty response%Z");

    } else {
        ks = gw_jwt_keyset_new();

        if (ks == NULL) {
            ngx_snprintf((u_char *) err, sizeof(err), "out of memory%Z");

        } else if (gw_jwt_keyset_add(ks, (char *) b->pos, b->last - b->pos,
                                     err, sizeof(err)) > 0)
        {
            ok = 1;
        }
    }

    if (!ok) {
        gw_jwt_keyset_free(ks);

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "gateway jwt: fetching keys from \"%V\" failed: %s; "
                      "%s", &remote->uri, err,
                      remote->keys ? "keeping the old keys" : "no keys yet");

        ngx_http_gateway_jwt_keys_fetched(jmcf->keys, remote, NGX_ERROR);

        return rc;
    }

    if (remote->keys) {
        gw_jwt_keyset_free(remote->keys);
    }

    remote->keys = ks;
    gw_jwt_keyset_fingerprint(ks, remote->fingerprint);

    /* publish the text to the other workers */

    len = b->last - b->pos;

    ngx_shmtx_lock(&shctx->shpool->mutex);

    kn = ngx_http_gateway_jwt_keys_node(shctx, remote);

    if (kn) {
        text = ngx_slab_alloc_locked(shctx->shpool, len);

        if (text) {
            ngx_memcpy(text, b->pos, len);

            if (kn->text) {
                ngx_slab_free_locked(shctx->shpool, kn->text);
            }

            kn->text = text;
            kn->len = len;
            kn->version = ++((ngx_http_gateway_jwt_keys_sh_t *)
                             shctx->sh)->version;
            kn->fetched = ngx_time();
            remote->version = kn->version;

        } else {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "gateway jwt: no room for the keys of \"%V\" "
                          "in shared memory", &remote->uri);
        }
    }

    ngx_shmtx_unlock(&shctx->shpool->mutex);

    /* waiting requests may go on */

    ngx_http_gateway_jwt_keys_fetched(jmcf->keys, remote, NGX_OK);

    return rc;
}


/* variables */

static ngx_int_t
ngx_http_gateway_jwt_set_value(ngx_http_variable_value_t *v, int found,
    gw_jwt_str_t *value)
{
    if (!found) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->data = (u_char *) value->data;
    v->len = value->len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_gateway_jwt_claim_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t *name = (ngx_str_t *) data;

    gw_jwt_str_t                 path, value;
    ngx_http_gateway_jwt_ctx_t  *ctx;

    ctx = ngx_http_gateway_jwt_ctx(r);

    if (ctx == NULL || !ctx->verified) {
        v->not_found = 1;
        return NGX_OK;
    }

    path.data = (char *) name->data + ngx_http_gateway_jwt_claim_prefix.len;
    path.len = name->len - ngx_http_gateway_jwt_claim_prefix.len;

    return ngx_http_gateway_jwt_set_value(v,
                                          gw_jwt_claim(ctx->jwt, &path, 1,
                                                       &value),
                                          &value);
}


static ngx_int_t
ngx_http_gateway_jwt_header_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t *name = (ngx_str_t *) data;

    gw_jwt_str_t                 value;
    ngx_http_gateway_jwt_ctx_t  *ctx;

    ctx = ngx_http_gateway_jwt_ctx(r);

    if (ctx == NULL || !ctx->verified) {
        v->not_found = 1;
        return NGX_OK;
    }

    return ngx_http_gateway_jwt_set_value(v,
               gw_jwt_header(ctx->jwt,
                   (char *) name->data + ngx_http_gateway_jwt_header_prefix.len,
                   name->len - ngx_http_gateway_jwt_header_prefix.len,
                   &value),
               &value);
}


static ngx_int_t
ngx_http_gateway_jwt_claim_set_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_gateway_jwt_claim_set_t *cs = (void *) data;

    gw_jwt_str_t                 value;
    ngx_http_gateway_jwt_ctx_t  *ctx;

    ctx = ngx_http_gateway_jwt_ctx(r);

    if (ctx == NULL || !ctx->verified) {
        v->not_found = 1;
        return NGX_OK;
    }

    return ngx_http_gateway_jwt_set_value(v,
                                          gw_jwt_claim(ctx->jwt, cs->path,
                                                       cs->depth, &value),
                                          &value);
}


static ngx_int_t
ngx_http_gateway_jwt_cache_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_gateway_jwt_ctx_t  *ctx;

    ctx = ngx_http_gateway_jwt_ctx(r);

    if (ctx == NULL || ctx->cache == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    if (ctx->cache == 2) {
        ngx_str_set(v, "HIT");

    } else {
        ngx_str_set(v, "MISS");
    }

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


/* directives */

static char *
ngx_http_gateway_jwt(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gateway_jwt_loc_conf_t *jlcf = conf;

    ngx_str_t                         *value, var;
    ngx_http_compile_complex_value_t   ccv;

    if (jlcf->realm != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts != 2) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" after \"off\"",
                               &value[2]);
            return NGX_CONF_ERROR;
        }

        jlcf->realm = NULL;
        jlcf->token = NULL;
        return NGX_CONF_OK;
    }

    jlcf->realm = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (jlcf->realm == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value[1];
    ccv.complex_value = jlcf->realm;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    jlcf->token = NULL;

    if (cf->args->nelts == 3) {
        if (ngx_strncmp(value[2].data, "token=", 6) != 0
            || value[2].len < 7 || value[2].data[6] != '$')
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\", expected "
                               "\"token=$variable\"", &value[2]);
            return NGX_CONF_ERROR;
        }

        var.data = value[2].data + 6;
        var.len = value[2].len - 6;

        jlcf->token = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
        if (jlcf->token == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

        ccv.cf = cf;
        ccv.value = &var;
        ccv.complex_value = jlcf->token;

        if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static gw_jwt_keyset_t *
ngx_http_gateway_jwt_new_keyset(ngx_conf_t *cf)
{
    gw_jwt_keyset_t     *ks;
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    ks = gw_jwt_keyset_new();
    if (ks == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_gateway_jwt_free_keyset;
    cln->data = ks;

    return ks;
}


static void
ngx_http_gateway_jwt_free_keyset(void *data)
{
    gw_jwt_keyset_free(data);
}


static char *
ngx_http_gateway_jwt_key_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gateway_jwt_loc_conf_t *jlcf = conf;

    u_char            *buf;
    ssize_t            n;
    ngx_fd_t           fd;
    ngx_str_t         *value, name;
    ngx_file_info_t    fi;
    gw_jwt_keyset_t   *ks, **slot;
    char               err[GW_JWT_ERRLEN];

    value = cf->args->elts;
    name = value[1];

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%s\" failed", name.data);
        return NGX_CONF_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > NGX_HTTP_GATEWAY_JWT_MAX_FILE)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "key file \"%s\" is unreadable or larger than 1m",
                           name.data);
        ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    buf = ngx_pnalloc(cf->temp_pool, ngx_file_size(&fi) + 1);
    if (buf == NULL) {
        ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    n = ngx_read_fd(fd, buf, ngx_file_size(&fi));
    ngx_close_file(fd);

    if (n != (ssize_t) ngx_file_size(&fi)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "reading key file \"%s\" failed", name.data);
        return NGX_CONF_ERROR;
    }

    ks = ngx_http_gateway_jwt_new_keyset(cf);
    if (ks == NULL) {
        return NGX_CONF_ERROR;
    }

    if (gw_jwt_keyset_add(ks, (char *) buf, n, err, sizeof(err)) <= 0) {
        ngx_explicit_memzero(buf, n);
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid key file \"%s\": %s", name.data, err);
        return NGX_CONF_ERROR;
    }

    ngx_explicit_memzero(buf, n);

    if (jlcf->keys == NGX_CONF_UNSET_PTR) {
        jlcf->keys = ngx_array_create(cf->pool, 2, sizeof(gw_jwt_keyset_t *));
        if (jlcf->keys == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    slot = ngx_array_push(jlcf->keys);
    if (slot == NULL) {
        return NGX_CONF_ERROR;
    }

    *slot = ks;

    return NGX_CONF_OK;
}


static char *
ngx_http_gateway_jwt_secret(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gateway_jwt_loc_conf_t *jlcf = conf;

    ngx_str_t                         *value;
    gw_jwt_keyset_t                   *ks;
    ngx_http_compile_complex_value_t   ccv;
    char                               err[GW_JWT_ERRLEN];

    if (jlcf->secret_set) {
        return "is duplicate";
    }

    jlcf->secret_set = 1;
    value = cf->args->elts;

    if (value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "empty secret in \"%V\"", &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_script_variables_count(&value[1]) == 0) {
        ks = ngx_http_gateway_jwt_new_keyset(cf);
        if (ks == NULL) {
            return NGX_CONF_ERROR;
        }

        if (gw_jwt_keyset_add_secret(ks, value[1].data, value[1].len, err,
                                     sizeof(err)) < 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid secret: %s", err);
            return NGX_CONF_ERROR;
        }

        jlcf->secret_keys = ks;
        return NGX_CONF_OK;
    }

    jlcf->secret = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (jlcf->secret == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value[1];
    ccv.complex_value = jlcf->secret;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_gateway_jwt_key_request(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_gateway_jwt_loc_conf_t *jlcf = conf;

    u_char                            *p;
    ngx_str_t                         *value;
    ngx_http_gateway_jwt_shctx_t      *shctx;
    ngx_http_gateway_jwt_main_conf_t  *jmcf;

    if (jlcf->remote != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        jlcf->remote = NULL;
        return NGX_CONF_OK;
    }

    if (value[1].len == 0 || value[1].data[0] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid URI \"%V\", expected a local URI such as "
                           "\"/_jwks\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    jlcf->remote = ngx_pcalloc(cf->pool, sizeof(ngx_http_gateway_jwt_remote_t));
    if (jlcf->remote == NULL) {
        return NGX_CONF_ERROR;
    }

    jlcf->remote->uri = value[1];
    jlcf->remote->hash = ngx_crc32_short(value[1].data, value[1].len);

    /* "/_jwks?tenant=a": the subrequest takes the arguments apart */

    jlcf->remote->path = value[1];

    p = ngx_strlchr(value[1].data, value[1].data + value[1].len, '?');

    if (p) {
        jlcf->remote->path.len = p - value[1].data;
        jlcf->remote->args.data = p + 1;
        jlcf->remote->args.len = value[1].data + value[1].len - (p + 1);
    }

    jmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_gateway_jwt_module);

    if (jmcf->keys == NULL) {
        shctx = ngx_pcalloc(cf->pool, sizeof(ngx_http_gateway_jwt_shctx_t));
        if (shctx == NULL) {
            return NGX_CONF_ERROR;
        }

        jmcf->keys = ngx_shared_memory_add(cf, &ngx_http_gateway_jwt_keys_name,
                                           NGX_HTTP_GATEWAY_JWT_KEYS_SIZE,
                                           &ngx_http_gateway_jwt_module);
        if (jmcf->keys == NULL) {
            return NGX_CONF_ERROR;
        }

        jmcf->keys->init = ngx_http_gateway_jwt_init_keys_zone;
        jmcf->keys->data = shctx;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_gateway_jwt_algorithms(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_gateway_jwt_loc_conf_t *jlcf = conf;

    unsigned     bit;
    ngx_str_t   *value;
    ngx_uint_t   i;

    if (jlcf->algorithms != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;
    jlcf->algorithms = 0;

    for (i = 1; i < cf->args->nelts; i++) {
        if (value[i].len == 4
            && ngx_strncasecmp(value[i].data, (u_char *) "none", 4) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "algorithm \"none\" is never accepted");
            return NGX_CONF_ERROR;
        }

        bit = gw_jwt_alg_bit((char *) value[i].data, value[i].len);

        if (bit == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid algorithm \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        jlcf->algorithms |= bit;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_gateway_jwt_str_list(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t     *value, *s;
    ngx_uint_t     i;
    ngx_array_t  **a;

    a = (ngx_array_t **) (p + cmd->offset);

    if (*a == NGX_CONF_UNSET_PTR) {
        *a = ngx_array_create(cf->pool, 2, sizeof(ngx_str_t));
        if (*a == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        if (value[i].len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "empty value in \"%V\"",
                               &cmd->name);
            return NGX_CONF_ERROR;
        }

        s = ngx_array_push(*a);
        if (s == NULL) {
            return NGX_CONF_ERROR;
        }

        *s = value[i];
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_gateway_jwt_require(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gateway_jwt_loc_conf_t *jlcf = conf;

    ngx_str_t                         *value;
    ngx_uint_t                         i, n;
    ngx_http_complex_value_t          *cv;
    ngx_http_gateway_jwt_require_t    *req;
    ngx_http_compile_complex_value_t   ccv;

    value = cf->args->elts;
    n = cf->args->nelts;

    if (jlcf->requires == NGX_CONF_UNSET_PTR) {
        jlcf->requires = ngx_array_create(cf->pool, 2,
                                       sizeof(ngx_http_gateway_jwt_require_t));
        if (jlcf->requires == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    req = ngx_array_push(jlcf->requires);
    if (req == NULL) {
        return NGX_CONF_ERROR;
    }

    req->status = NGX_HTTP_UNAUTHORIZED;

    if (ngx_strncmp(value[n - 1].data, "error=", 6) == 0) {
        if (value[n - 1].len == 9
            && ngx_strncmp(value[n - 1].data + 6, "401", 3) == 0)
        {
            req->status = NGX_HTTP_UNAUTHORIZED;

        } else if (value[n - 1].len == 9
                   && ngx_strncmp(value[n - 1].data + 6, "403", 3) == 0)
        {
            req->status = NGX_HTTP_FORBIDDEN;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\", expected "
                               "\"error=401\" or \"error=403\"", &value[n - 1]);
            return NGX_CONF_ERROR;
        }

        n--;
    }

    if (n < 2) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "no values in \"%V\"", &cmd->name);
        return NGX_CONF_ERROR;
    }

    req->values = ngx_array_create(cf->pool, n - 1,
                                   sizeof(ngx_http_complex_value_t));
    if (req->values == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < n; i++) {
        if (ngx_http_script_variables_count(&value[i]) == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" is not a variable", &value[i]);
            return NGX_CONF_ERROR;
        }

        cv = ngx_array_push(req->values);
        if (cv == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

        ccv.cf = cf;
        ccv.value = &value[i];
        ccv.complex_value = cv;

        if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_gateway_jwt_claim_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t                         *value, name;
    ngx_uint_t                         i;
    ngx_http_variable_t               *v;
    ngx_http_gateway_jwt_claim_set_t  *cs;

    value = cf->args->elts;
    name = value[1];

    if (name.len < 2 || name.data[0] != '$') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid variable name \"%V\"", &name);
        return NGX_CONF_ERROR;
    }

    name.data++;
    name.len--;

    v = ngx_http_add_variable(cf, &name, NGX_HTTP_VAR_NOCACHEABLE);
    if (v == NULL) {
        return NGX_CONF_ERROR;
    }

    if (v->get_handler) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "variable \"%V\" is already defined", &value[1]);
        return NGX_CONF_ERROR;
    }

    cs = ngx_palloc(cf->pool, sizeof(ngx_http_gateway_jwt_claim_set_t));
    if (cs == NULL) {
        return NGX_CONF_ERROR;
    }

    cs->depth = cf->args->nelts - 2;
    cs->path = ngx_palloc(cf->pool, cs->depth * sizeof(gw_jwt_str_t));
    if (cs->path == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < cs->depth; i++) {
        cs->path[i].data = (char *) value[i + 2].data;
        cs->path[i].len = value[i + 2].len;
    }

    v->get_handler = ngx_http_gateway_jwt_claim_set_variable;
    v->data = (uintptr_t) cs;

    return NGX_CONF_OK;
}


static char *
ngx_http_gateway_jwt_cache(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gateway_jwt_main_conf_t *jmcf = conf;

    ssize_t                        size;
    ngx_str_t                     *value;
    ngx_http_gateway_jwt_shctx_t  *shctx;

    if (jmcf->cache != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        jmcf->cache = NULL;
        return NGX_CONF_OK;
    }

    size = ngx_parse_size(&value[1]);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid size \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "cache \"%V\" is too small", &value[1]);
        return NGX_CONF_ERROR;
    }

    shctx = ngx_pcalloc(cf->pool, sizeof(ngx_http_gateway_jwt_shctx_t));
    if (shctx == NULL) {
        return NGX_CONF_ERROR;
    }

    jmcf->cache = ngx_shared_memory_add(cf, &ngx_http_gateway_jwt_cache_name,
                                        size, &ngx_http_gateway_jwt_module);
    if (jmcf->cache == NULL) {
        return NGX_CONF_ERROR;
    }

    if (jmcf->cache->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" is already defined", &cmd->name);
        return NGX_CONF_ERROR;
    }

    jmcf->cache->init = ngx_http_gateway_jwt_init_cache_zone;
    jmcf->cache->data = shctx;

    return NGX_CONF_OK;
}


/* shared memory zones */

static ngx_int_t
ngx_http_gateway_jwt_init_cache_zone(ngx_shm_zone_t *zone, void *data)
{
    ngx_http_gateway_jwt_shctx_t  *octx = data;

    size_t                            len;
    ngx_http_gateway_jwt_shctx_t     *shctx;
    ngx_http_gateway_jwt_cache_sh_t  *sh;

    shctx = zone->data;

    if (octx) {
        shctx->sh = octx->sh;
        shctx->shpool = octx->shpool;
        return NGX_OK;
    }

    shctx->shpool = (ngx_slab_pool_t *) zone->shm.addr;

    if (zone->shm.exists) {
        shctx->sh = shctx->shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_alloc(shctx->shpool, sizeof(ngx_http_gateway_jwt_cache_sh_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    shctx->sh = sh;
    shctx->shpool->data = sh;

    ngx_rbtree_init(&sh->rbtree, &sh->sentinel,
                    ngx_http_gateway_jwt_cache_rbtree_insert);
    ngx_queue_init(&sh->queue);

    len = sizeof(" in gateway_jwt_cache zone \"\"") + zone->shm.name.len;

    shctx->shpool->log_ctx = ngx_slab_alloc(shctx->shpool, len);
    if (shctx->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(shctx->shpool->log_ctx, " in gateway_jwt_cache zone \"%V\"%Z",
                &zone->shm.name);

    shctx->shpool->log_nomem = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_gateway_jwt_init_keys_zone(ngx_shm_zone_t *zone, void *data)
{
    ngx_http_gateway_jwt_shctx_t  *octx = data;

    ngx_http_gateway_jwt_shctx_t    *shctx;
    ngx_http_gateway_jwt_keys_sh_t  *sh;

    shctx = zone->data;

    if (octx) {
        shctx->sh = octx->sh;
        shctx->shpool = octx->shpool;
        return NGX_OK;
    }

    shctx->shpool = (ngx_slab_pool_t *) zone->shm.addr;

    if (zone->shm.exists) {
        shctx->sh = shctx->shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_calloc(shctx->shpool, sizeof(ngx_http_gateway_jwt_keys_sh_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    shctx->sh = sh;
    shctx->shpool->data = sh;

    ngx_queue_init(&sh->queue);

    return NGX_OK;
}


/* configuration */

static void *
ngx_http_gateway_jwt_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_gateway_jwt_main_conf_t  *jmcf;

    jmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_gateway_jwt_main_conf_t));
    if (jmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     jmcf->keys = NULL;
     */

    jmcf->cache = NGX_CONF_UNSET_PTR;
    jmcf->request_id_index = NGX_ERROR;

    return jmcf;
}


static void *
ngx_http_gateway_jwt_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_gateway_jwt_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_gateway_jwt_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->token = NULL;
     *     conf->secret = NULL;
     *     conf->secret_keys = NULL;
     *     conf->iss = NULL;
     *     conf->aud = NULL;
     *     conf->sets = NULL;
     *     conf->nsets = 0;
     *     conf->secret_set = 0;
     */

    conf->realm = NGX_CONF_UNSET_PTR;
    conf->keys = NGX_CONF_UNSET_PTR;
    conf->remote = NGX_CONF_UNSET_PTR;
    conf->algorithms = NGX_CONF_UNSET_UINT;
    conf->issuers = NGX_CONF_UNSET_PTR;
    conf->audiences = NGX_CONF_UNSET_PTR;
    conf->requires = NGX_CONF_UNSET_PTR;
    conf->leeway = NGX_CONF_UNSET;
    conf->key_cache = NGX_CONF_UNSET;
    conf->max_size = NGX_CONF_UNSET_SIZE;
    conf->require_exp = NGX_CONF_UNSET;

    return conf;
}


static gw_jwt_str_t *
ngx_http_gateway_jwt_str_array(ngx_conf_t *cf, ngx_array_t *a)
{
    ngx_str_t     *s;
    ngx_uint_t     i;
    gw_jwt_str_t  *out;

    if (a == NULL) {
        return NULL;
    }

    out = ngx_palloc(cf->pool, a->nelts * sizeof(gw_jwt_str_t));
    if (out == NULL) {
        return NULL;
    }

    s = a->elts;

    for (i = 0; i < a->nelts; i++) {
        out[i].data = (char *) s[i].data;
        out[i].len = s[i].len;
    }

    return out;
}


static char *
ngx_http_gateway_jwt_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_gateway_jwt_loc_conf_t *prev = parent;
    ngx_http_gateway_jwt_loc_conf_t *conf = child;

    unsigned int       len;
    EVP_MD_CTX        *md;
    ngx_uint_t         i, n;
    gw_jwt_keyset_t  **ks;
    u_char             fp[GW_JWT_FINGERPRINT_LEN];

    if (conf->realm == NGX_CONF_UNSET_PTR) {
        conf->realm = (prev->realm == NGX_CONF_UNSET_PTR) ? NULL : prev->realm;
        conf->token = prev->token;
    }

    ngx_conf_merge_ptr_value(conf->keys, prev->keys, NULL);

    if (!conf->secret_set) {
        conf->secret_set = prev->secret_set;
        conf->secret = prev->secret;
        conf->secret_keys = prev->secret_keys;
    }

    ngx_conf_merge_ptr_value(conf->remote, prev->remote, NULL);
    ngx_conf_merge_uint_value(conf->algorithms, prev->algorithms, 0);
    ngx_conf_merge_ptr_value(conf->issuers, prev->issuers, NULL);
    ngx_conf_merge_ptr_value(conf->audiences, prev->audiences, NULL);
    ngx_conf_merge_ptr_value(conf->requires, prev->requires, NULL);
    ngx_conf_merge_sec_value(conf->leeway, prev->leeway, 0);
    ngx_conf_merge_sec_value(conf->key_cache, prev->key_cache, 600);
    ngx_conf_merge_size_value(conf->max_size, prev->max_size, 8192);
    ngx_conf_merge_value(conf->require_exp, prev->require_exp, 1);

    if (conf->issuers) {
        conf->iss = ngx_http_gateway_jwt_str_array(cf, conf->issuers);
        if (conf->iss == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (conf->audiences) {
        conf->aud = ngx_http_gateway_jwt_str_array(cf, conf->audiences);
        if (conf->aud == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    /* the static key sets, and a fingerprint of them and the algorithms
     * for the verified-token cache */

    n = (conf->keys ? conf->keys->nelts : 0) + (conf->secret_keys ? 1 : 0);

    if (n > 15) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "too many gateway_jwt_key_file directives");
        return NGX_CONF_ERROR;
    }

    conf->sets = ngx_palloc(cf->pool, (n + 1) * sizeof(gw_jwt_keyset_t *));
    if (conf->sets == NULL) {
        return NGX_CONF_ERROR;
    }

    conf->nsets = 0;

    if (conf->keys) {
        ks = conf->keys->elts;

        for (i = 0; i < conf->keys->nelts; i++) {
            conf->sets[conf->nsets++] = ks[i];
        }
    }

    if (conf->secret_keys) {
        conf->sets[conf->nsets++] = conf->secret_keys;
    }

    md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        return NGX_CONF_ERROR;
    }

    EVP_DigestUpdate(md, &conf->algorithms, sizeof(conf->algorithms));

    for (i = 0; i < conf->nsets; i++) {
        gw_jwt_keyset_fingerprint(conf->sets[i], fp);
        EVP_DigestUpdate(md, fp, sizeof(fp));
    }

    EVP_DigestFinal_ex(md, conf->fingerprint, &len);
    EVP_MD_CTX_free(md);

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_gateway_jwt_add_variables(ngx_conf_t *cf)
{
    return ngx_http_gateway_register_variables(cf, ngx_http_gateway_jwt_vars);
}


static ngx_int_t
ngx_http_gateway_jwt_init(ngx_conf_t *cf)
{
    ngx_str_t                          name = ngx_string("gateway_request_id");
    ngx_http_gateway_jwt_main_conf_t  *jmcf;

    jmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_gateway_jwt_module);

    if (jmcf->cache == NGX_CONF_UNSET_PTR) {
        jmcf->cache = NULL;
    }

    jmcf->request_id_index = ngx_http_get_variable_index(cf, &name);

    return NGX_OK;
}
