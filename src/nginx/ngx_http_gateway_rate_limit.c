/*
 * ngx_http_gateway_rate_limit_module: rate limits in shared memory.
 *
 *   gateway_rate_limit_zone NAME key=VALUE rate=Nr/s|Nr/m size=SIZE
 *                           [burst=N] [algorithm=token_bucket|sliding_window]
 *                           [redis=NAME];
 *   gateway_rate_limit ZONE [cost=N] [dry_run];
 *   gateway_rate_limit_status CODE;
 *   gateway_rate_limit_headers ietf|legacy|off;
 *   $gateway_rate_limit_status
 *
 * Each zone is an rbtree of compact nodes (src/core/include/gw_rate_limit.h)
 * keyed by a hash of the key, with an LRU list, in a slab pool guarded by
 * the pool's own mutex. The arithmetic is the core's; this file finds,
 * creates, evicts and stores nodes, and answers the client.
 */

#include <openssl/sha.h>

#include "ngx_http_gateway_rate_limit.h"


#define NGX_HTTP_GATEWAY_RL_PASSED            1
#define NGX_HTTP_GATEWAY_RL_REJECTED          2
#define NGX_HTTP_GATEWAY_RL_REJECTED_DRY_RUN  3

#define NGX_HTTP_GATEWAY_RL_HEADERS_OFF       0
#define NGX_HTTP_GATEWAY_RL_HEADERS_IETF      1
#define NGX_HTTP_GATEWAY_RL_HEADERS_LEGACY    2

/* longer keys (and keys that could pass for a digest) are kept as SHA-256 */
#define NGX_HTTP_GATEWAY_RL_KEY_MAX           64
#define NGX_HTTP_GATEWAY_RL_DIGEST_MARK       0xff
#define NGX_HTTP_GATEWAY_RL_DIGEST_LEN        (1 + SHA256_DIGEST_LENGTH)

/* how far from the LRU tail a full zone looks for an idle key */
#define NGX_HTTP_GATEWAY_RL_EVICT_SCAN        64

#define NGX_HTTP_GATEWAY_RL_LOG_INTERVAL      60000
#define NGX_HTTP_GATEWAY_RL_FALLBACK_INTERVAL 10000


typedef struct {
    ngx_shm_zone_t              *shm_zone;
    ngx_uint_t                   cost;
    ngx_uint_t                   dry_run;
} ngx_http_gateway_rl_limit_t;


typedef struct {
    ngx_array_t                 *limits;    /* ngx_http_gateway_rl_limit_t */
    ngx_uint_t                   status;
    ngx_uint_t                   headers;
    ngx_uint_t                   redis;     /* some zone is kept in Redis */
} ngx_http_gateway_rl_loc_conf_t;


/* a gateway_rate_limit naming a zone, checked once the http block is read */
typedef struct {
    ngx_shm_zone_t              *shm_zone;
    u_char                      *file;
    ngx_uint_t                   line;
} ngx_http_gateway_rl_ref_t;


typedef struct {
    ngx_array_t                  refs;      /* ngx_http_gateway_rl_ref_t */
    ngx_array_t                  zones;     /* ngx_http_gateway_rl_zone_t * */
} ngx_http_gateway_rl_main_conf_t;


/* One limit applied to one request. */
typedef struct {
    ngx_http_gateway_rl_zone_t  *zone;
    ngx_str_t                    key;
    uint64_t                     hash;
    uint32_t                     cost;
    unsigned                     dry_run:1;
    unsigned                     admitted:1;
    unsigned                     full:1;
    unsigned                     created:1;
    unsigned                     committed:1;
    unsigned                     remote:1;  /* decided by Redis */

    gw_rl_result_t               result;

    /* during a transaction */
    ngx_rbtree_node_t           *node;
    gw_rl_state_t                state;
} ngx_http_gateway_rl_item_t;


typedef struct ngx_http_gateway_rl_ctx_s  ngx_http_gateway_rl_ctx_t;


/* The items of one request kept in one Redis: one script call. */
typedef struct {
    ngx_http_gateway_rl_ctx_t   *ctx;
    ngx_http_gateway_redis_t    *redis;
    ngx_http_gateway_rl_item_t **items;
    ngx_uint_t                   n;
} ngx_http_gateway_rl_group_t;


/* Per main request; survives internal redirects. */
struct ngx_http_gateway_rl_ctx_s {
    ngx_http_request_t          *request;
    ngx_http_gateway_rl_item_t  *items;
    ngx_uint_t                   nitems;
    ngx_uint_t                   status;    /* PASSED, REJECTED, ... or 0 */
    ngx_int_t                    rc;
    uint64_t                     retry_after;
    ngx_uint_t                   pending;   /* Redis answers still due */
    ngx_event_t                 *wake;      /* while waiting for Redis */
    unsigned                     done:1;
    unsigned                     waiting:1;
    ngx_http_gateway_rl_item_t   one;       /* the item of a single limit */
};


static ngx_int_t ngx_http_gateway_rl_prepare(ngx_http_request_t *r,
    ngx_http_gateway_rl_loc_conf_t *lrcf, ngx_http_gateway_rl_ctx_t *ctx);
static ngx_int_t ngx_http_gateway_rl_key(ngx_http_request_t *r,
    ngx_http_gateway_rl_item_t *item);
static ngx_uint_t ngx_http_gateway_rl_transaction(ngx_http_request_t *r,
    ngx_http_gateway_rl_item_t **items, ngx_uint_t n);
static void ngx_http_gateway_rl_refund(ngx_http_gateway_rl_item_t *item);
static ngx_http_gateway_rl_group_t *ngx_http_gateway_rl_split(
    ngx_http_request_t *r, ngx_http_gateway_rl_ctx_t *ctx,
    ngx_http_gateway_rl_item_t **local, ngx_uint_t *n, ngx_uint_t *ngroups);
static ngx_int_t ngx_http_gateway_rl_ask_redis(ngx_http_request_t *r,
    ngx_http_gateway_rl_ctx_t *ctx, ngx_http_gateway_rl_group_t *groups,
    ngx_uint_t ngroups);
static void ngx_http_gateway_rl_log_fallback(ngx_http_request_t *r,
    ngx_http_gateway_rl_zone_t *zone, const char *why, const char *detail);
static ngx_int_t ngx_http_gateway_rl_send(ngx_http_request_t *r,
    ngx_http_gateway_rl_group_t *group);
static void ngx_http_gateway_rl_redis_done(void *data, redisReply *reply);
static void ngx_http_gateway_rl_complete(ngx_http_gateway_rl_ctx_t *ctx);
static void ngx_http_gateway_rl_wake(ngx_event_t *ev);
static void ngx_http_gateway_rl_cleanup(void *data);
static ngx_rbtree_node_t *ngx_http_gateway_rl_lookup(
    ngx_http_gateway_rl_zone_t *zone, ngx_str_t *key, uint64_t hash);
static ngx_rbtree_node_t *ngx_http_gateway_rl_create(ngx_http_request_t *r,
    ngx_http_gateway_rl_item_t *item, ngx_http_gateway_rl_item_t **items,
    ngx_uint_t n);
static ngx_uint_t ngx_http_gateway_rl_expire(ngx_http_gateway_rl_zone_t *zone,
    uint64_t now, ngx_http_gateway_rl_item_t **items, ngx_uint_t n,
    ngx_uint_t scan, ngx_uint_t stop_at_busy);
static void ngx_http_gateway_rl_delete(ngx_http_gateway_rl_zone_t *zone,
    ngx_rbtree_node_t *node);
static ngx_int_t ngx_http_gateway_rl_finish(ngx_http_request_t *r,
    ngx_http_gateway_rl_ctx_t *ctx);
static ngx_http_gateway_rl_ctx_t *ngx_http_gateway_rl_get_ctx(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_gateway_rl_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_gateway_rl_ietf_headers(ngx_http_request_t *r,
    ngx_http_gateway_rl_ctx_t *ctx);
static ngx_int_t ngx_http_gateway_rl_legacy_headers(ngx_http_request_t *r,
    ngx_http_gateway_rl_ctx_t *ctx);
static ngx_int_t ngx_http_gateway_rl_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);

static void ngx_http_gateway_rl_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_int_t ngx_http_gateway_rl_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static char *ngx_http_gateway_rl_zone_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_gateway_rl_single_variable(ngx_conf_t *cf,
    ngx_str_t *key);
static char *ngx_http_gateway_rl_check_reload(ngx_conf_t *cf,
    ngx_http_gateway_rl_zone_t *zone);
static char *ngx_http_gateway_rl_limit_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_gateway_rl_status_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static void *ngx_http_gateway_rl_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_gateway_rl_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_gateway_rl_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_gateway_rl_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_gateway_rl_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_gateway_rl_init(ngx_conf_t *cf);


static ngx_conf_enum_t  ngx_http_gateway_rl_headers_values[] = {
    { ngx_string("off"), NGX_HTTP_GATEWAY_RL_HEADERS_OFF },
    { ngx_string("ietf"), NGX_HTTP_GATEWAY_RL_HEADERS_IETF },
    { ngx_string("legacy"), NGX_HTTP_GATEWAY_RL_HEADERS_LEGACY },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_gateway_rl_commands[] = {

    { ngx_string("gateway_rate_limit_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_gateway_rl_zone_directive,
      0,
      0,
      NULL },

    { ngx_string("gateway_rate_limit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE123,
      ngx_http_gateway_rl_limit_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gateway_rate_limit_status"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_gateway_rl_status_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gateway_rl_loc_conf_t, status),
      NULL },

    { ngx_string("gateway_rate_limit_headers"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gateway_rl_loc_conf_t, headers),
      &ngx_http_gateway_rl_headers_values },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_gateway_rate_limit_module_ctx = {
    ngx_http_gateway_rl_add_variables,     /* preconfiguration */
    ngx_http_gateway_rl_init,              /* postconfiguration */

    ngx_http_gateway_rl_create_main_conf,  /* create main configuration */
    ngx_http_gateway_rl_init_main_conf,    /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_gateway_rl_create_loc_conf,   /* create location configuration */
    ngx_http_gateway_rl_merge_loc_conf     /* merge location configuration */
};


ngx_module_t  ngx_http_gateway_rate_limit_module = {
    NGX_MODULE_V1,
    &ngx_http_gateway_rate_limit_module_ctx, /* module context */
    ngx_http_gateway_rl_commands,          /* module directives */
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


static ngx_http_variable_t  ngx_http_gateway_rl_vars[] = {

    { ngx_string("gateway_rate_limit_status"), NULL,
      ngx_http_gateway_rl_status_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_str_t  ngx_http_gateway_rl_status_names[] = {
    ngx_null_string,
    ngx_string("PASSED"),
    ngx_string("REJECTED"),
    ngx_string("REJECTED_DRY_RUN")
};


static ngx_http_gateway_header_t  ngx_http_gateway_rl_retry_after =
    ngx_http_gateway_header("Retry-After", "retry-after");
static ngx_http_gateway_header_t  ngx_http_gateway_rl_policy_header =
    ngx_http_gateway_header("RateLimit-Policy", "ratelimit-policy");
static ngx_http_gateway_header_t  ngx_http_gateway_rl_ietf_header =
    ngx_http_gateway_header("RateLimit", "ratelimit");
static ngx_http_gateway_header_t  ngx_http_gateway_rl_limit_header =
    ngx_http_gateway_header("RateLimit-Limit", "ratelimit-limit");
static ngx_http_gateway_header_t  ngx_http_gateway_rl_remaining_header =
    ngx_http_gateway_header("RateLimit-Remaining", "ratelimit-remaining");
static ngx_http_gateway_header_t  ngx_http_gateway_rl_reset_header =
    ngx_http_gateway_header("RateLimit-Reset", "ratelimit-reset");


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;

static ngx_http_gateway_redis_script_t  ngx_http_gateway_rl_script;


/* the core's node lies over the rbtree node from its color byte on */

#define ngx_http_gateway_rl_node(n)                                          \
    ((gw_rl_node_t *) &(n)->color)

#define ngx_http_gateway_rl_rbnode(gn)                                       \
    ((ngx_rbtree_node_t *) ((u_char *) (gn)                                  \
                            - offsetof(ngx_rbtree_node_t, color)))

_Static_assert(offsetof(ngx_rbtree_node_t, color) % 8 == 0,
               "gw_rl_node_t needs 8-byte alignment");


/* the zone's clock: milliseconds since the zone was made */

static uint64_t
ngx_http_gateway_rl_now(ngx_http_gateway_rl_zone_t *zone)
{
    uint64_t  now = ngx_current_msec;

    return now > zone->sh->epoch ? now - zone->sh->epoch : 0;
}


ngx_int_t
ngx_http_gateway_rate_limit_check(ngx_http_request_t *r)
{
    ngx_uint_t                        i, n, ngroups;
    ngx_http_gateway_rl_ctx_t        *ctx;
    ngx_http_gateway_rl_item_t      **local, *few[8];
    ngx_http_gateway_rl_group_t      *groups;
    ngx_http_gateway_rl_loc_conf_t   *lrcf;

    lrcf = ngx_http_get_module_loc_conf(r, ngx_http_gateway_rate_limit_module);

    if (lrcf->limits == NULL) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_gateway_request_state(r,
                                         &ngx_http_gateway_rate_limit_module,
                                         sizeof(ngx_http_gateway_rl_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* limits apply once per client request, as limit_req's do */

    if (ctx->done) {
        return ctx->rc;
    }

    if (ctx->waiting) {
        return NGX_AGAIN;
    }

    ctx->request = r->main;

    if (ngx_http_gateway_rl_prepare(r, lrcf, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->nitems <= sizeof(few) / sizeof(few[0])) {
        local = few;

    } else {
        local = ngx_palloc(r->pool, ctx->nitems * sizeof(void *));
        if (local == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (!lrcf->redis) {
        for (i = 0; i < ctx->nitems; i++) {
            local[i] = &ctx->items[i];
        }

        if (ctx->nitems
            && ngx_http_gateway_rl_transaction(r, local, ctx->nitems)
            && ctx->nitems == 1 && ctx->items[0].admitted)
        {
            /* the common case: one limit, passed */
            ctx->done = 1;
            ctx->rc = NGX_DECLINED;
            ctx->status = NGX_HTTP_GATEWAY_RL_PASSED;
            return NGX_DECLINED;
        }

        return ngx_http_gateway_rl_finish(r, ctx);
    }

    /*
     * Zones kept in a Redis that answers go to it, one script call per
     * Redis; the others (and zones whose Redis is down) are counted here,
     * first: when they reject, Redis is not asked at all.
     */

    groups = ngx_http_gateway_rl_split(r, ctx, local, &n, &ngroups);
    if (groups == NULL && ngroups) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (n && !ngx_http_gateway_rl_transaction(r, local, n)) {
        ngroups = 0;
    }

    if (ngroups == 0) {
        return ngx_http_gateway_rl_finish(r, ctx);
    }

    return ngx_http_gateway_rl_ask_redis(r, ctx, groups, ngroups);
}


/*
 * Puts the request's items either in local[] (*n of them) or in one group
 * per Redis that is available (*ngroups); NULL with *ngroups set when out
 * of memory.
 */

static ngx_http_gateway_rl_group_t *
ngx_http_gateway_rl_split(ngx_http_request_t *r,
    ngx_http_gateway_rl_ctx_t *ctx, ngx_http_gateway_rl_item_t **local,
    ngx_uint_t *n, ngx_uint_t *ngroups)
{
    ngx_uint_t                    i, j;
    ngx_http_gateway_rl_item_t   *item;
    ngx_http_gateway_rl_zone_t   *zone;
    ngx_http_gateway_rl_group_t  *groups, *group;

    groups = NULL;
    *n = 0;
    *ngroups = 0;

    for (i = 0; i < ctx->nitems; i++) {
        item = &ctx->items[i];
        zone = item->zone;

        if (zone->redis == NULL) {
            local[(*n)++] = item;
            continue;
        }

        if (!ngx_http_gateway_redis_available(zone->redis)) {
            ngx_http_gateway_rl_log_fallback(r, zone, "is not available",
                                             NULL);
            local[(*n)++] = item;
            continue;
        }

        if (groups == NULL) {
            groups = ngx_pcalloc(r->pool, ctx->nitems
                                          * sizeof(ngx_http_gateway_rl_group_t));
            if (groups == NULL) {
                *ngroups = 1;
                return NULL;
            }
        }

        for (j = 0; j < *ngroups; j++) {
            if (groups[j].redis == zone->redis) {
                break;
            }
        }

        group = &groups[j];

        if (j == *ngroups) {
            (*ngroups)++;
            group->ctx = ctx;
            group->redis = zone->redis;
            group->items = ngx_palloc(r->pool, ctx->nitems * sizeof(void *));
            if (group->items == NULL) {
                return NULL;
            }
        }

        group->items[group->n++] = item;
    }

    return groups;
}


/* Sends the groups' scripts; the request waits until all have answered. */

static ngx_int_t
ngx_http_gateway_rl_ask_redis(ngx_http_request_t *r,
    ngx_http_gateway_rl_ctx_t *ctx, ngx_http_gateway_rl_group_t *groups,
    ngx_uint_t ngroups)
{
    ngx_uint_t           i;
    ngx_pool_cleanup_t  *cln;

    ctx->wake = ngx_pcalloc(r->main->pool, sizeof(ngx_event_t));
    if (ctx->wake == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->main->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_gateway_rl_cleanup;
    cln->data = ctx;

    ctx->wake->handler = ngx_http_gateway_rl_wake;
    ctx->wake->data = r->main;
    ctx->wake->log = r->connection->log;

    ctx->pending = ngroups;

    for (i = 0; i < ngroups; i++) {
        if (ngx_http_gateway_rl_send(r, &groups[i]) != NGX_OK) {
            /* not sent: counted here instead, at once */
            ngx_http_gateway_rl_redis_done(&groups[i], NULL);
        }
    }

    if (ctx->done) {
        return ctx->rc;
    }

    ctx->waiting = 1;

    return NGX_AGAIN;
}


/* "zone uses its local counters", once per interval and zone, per worker */

static void
ngx_http_gateway_rl_log_fallback(ngx_http_request_t *r,
    ngx_http_gateway_rl_zone_t *zone, const char *why, const char *detail)
{
    if (zone->fallback_logged != 0
        && ngx_current_msec - zone->fallback_logged
           < NGX_HTTP_GATEWAY_RL_FALLBACK_INTERVAL)
    {
        return;
    }

    zone->fallback_logged = ngx_current_msec ? ngx_current_msec : 1;

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "gateway rate limit: zone \"%V\" uses its local counters, "
                  "gateway_redis \"%V\" %s%s%s", &zone->name,
                  ngx_http_gateway_redis_name(zone->redis), why,
                  detail ? ": " : "", detail ? detail : "");
}


/* The limits of this location with a non-empty key. */

static ngx_int_t
ngx_http_gateway_rl_prepare(ngx_http_request_t *r,
    ngx_http_gateway_rl_loc_conf_t *lrcf, ngx_http_gateway_rl_ctx_t *ctx)
{
    ngx_int_t                     rc;
    ngx_uint_t                    i;
    ngx_http_gateway_rl_item_t   *item;
    ngx_http_gateway_rl_limit_t  *limits;

    limits = lrcf->limits->elts;

    if (lrcf->limits->nelts == 1) {
        ctx->items = &ctx->one;

    } else {
        ctx->items = ngx_pcalloc(r->pool, lrcf->limits->nelts
                                          * sizeof(ngx_http_gateway_rl_item_t));
        if (ctx->items == NULL) {
            return NGX_ERROR;
        }
    }

    for (i = 0; i < lrcf->limits->nelts; i++) {
        item = &ctx->items[ctx->nitems];

        item->zone = limits[i].shm_zone->data;
        item->cost = (uint32_t) limits[i].cost;
        item->dry_run = limits[i].dry_run ? 1 : 0;

        rc = ngx_http_gateway_rl_key(r, item);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_DECLINED) {
            continue;   /* an empty key is not limited */
        }

        ctx->nitems++;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_gateway_rl_key(ngx_http_request_t *r,
    ngx_http_gateway_rl_item_t *item)
{
    u_char                     *p;
    ngx_str_t                   key;
    ngx_http_variable_value_t  *vv;

    if (item->zone->key_index != NGX_ERROR) {
        /* key=$variable: read it directly, no script to run */

        vv = ngx_http_get_flushed_variable(r, item->zone->key_index);
        if (vv == NULL) {
            return NGX_ERROR;
        }

        if (vv->not_found) {
            return NGX_DECLINED;
        }

        key.data = vv->data;
        key.len = vv->len;

    } else if (ngx_http_complex_value(r, &item->zone->key, &key) != NGX_OK) {
        return NGX_ERROR;
    }

    if (key.len == 0) {
        return NGX_DECLINED;
    }

    /*
     * Long keys are kept as their SHA-256, so a client cannot fill a zone
     * with a few huge keys; a short key that looks like a digest is
     * digested too, so it cannot pose as one.
     */

    if (key.len > NGX_HTTP_GATEWAY_RL_KEY_MAX
        || (key.len == NGX_HTTP_GATEWAY_RL_DIGEST_LEN
            && key.data[0] == NGX_HTTP_GATEWAY_RL_DIGEST_MARK))
    {
        p = ngx_pnalloc(r->pool, NGX_HTTP_GATEWAY_RL_DIGEST_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        p[0] = NGX_HTTP_GATEWAY_RL_DIGEST_MARK;
        SHA256(key.data, key.len, p + 1);

        key.data = p;
        key.len = NGX_HTTP_GATEWAY_RL_DIGEST_LEN;
    }

    item->key = key;
    item->hash = gw_rl_key_hash(key.data, key.len);

    return NGX_OK;
}


/*
 * Takes the items' costs all together or not at all: the zones' mutexes
 * are taken in address order (so two requests never wait on each other),
 * every item is computed, and the new states are stored only when no
 * enforced item was rejected.
 */

static ngx_uint_t
ngx_http_gateway_rl_transaction(ngx_http_request_t *r,
    ngx_http_gateway_rl_item_t **items, ngx_uint_t n)
{
    ngx_uint_t                    i, j, pass;
    uint64_t                      now;
    gw_rl_state_t                 in;
    ngx_slab_pool_t              *pool, *last;
    ngx_rbtree_node_t            *node;
    ngx_http_gateway_rl_item_t   *item;
    ngx_http_gateway_rl_zone_t   *zone;

    /* lock each pool once, lowest address first */

    last = NULL;

    for ( ;; ) {
        if (n == 1) {
            ngx_shmtx_lock(&items[0]->zone->shpool->mutex);
            break;
        }

        pool = NULL;

        for (i = 0; i < n; i++) {
            if (items[i]->zone->shpool > last
                && (pool == NULL || items[i]->zone->shpool < pool))
            {
                pool = items[i]->zone->shpool;
            }
        }

        if (pool == NULL) {
            break;
        }

        ngx_shmtx_lock(&pool->mutex);
        last = pool;
    }

    pass = 1;

    for (i = 0; i < n; i++) {
        item = items[i];
        zone = item->zone;
        now = ngx_http_gateway_rl_now(zone);

        item->admitted = 0;
        item->full = 0;
        item->created = 0;
        item->committed = 0;

        node = ngx_http_gateway_rl_lookup(zone, &item->key, item->hash);

        if (node == NULL) {
            node = ngx_http_gateway_rl_create(r, item, items, n);

            if (node == NULL) {
                item->full = 1;
                item->node = NULL;
                item->result.limit = zone->policy.burst;
                item->result.remaining = 0;
                item->result.reset_ms = 0;
                item->result.retry_ms = 1000;
                item->result.window_s = 1;

                if (!item->dry_run) {
                    pass = 0;
                }

                continue;
            }

            item->created = 1;

        } else {
            gw_rl_lru_touch(&zone->sh->lru, zone->shpool,
                            ngx_http_gateway_rl_node(node));
        }

        item->node = node;

        gw_rl_node_load(ngx_http_gateway_rl_node(node), &in);

        item->admitted = gw_rl_take(&zone->policy, &in, now, item->cost,
                                    &item->state, &item->result) ? 1 : 0;

        if (!item->admitted && !item->dry_run) {
            pass = 0;
        }
    }

    for (i = 0; i < n; i++) {
        item = items[i];
        zone = item->zone;

        if (item->node == NULL) {
            zone->sh->full++;
            continue;
        }

        if (pass && item->admitted) {
            gw_rl_node_store(ngx_http_gateway_rl_node(item->node),
                             &item->state);
            item->committed = 1;

        } else {
            if (item->admitted) {
                /* rolled back: report the quota as it stays */
                gw_rl_node_load(ngx_http_gateway_rl_node(item->node), &in);
                (void) gw_rl_take(&zone->policy, &in,
                                  ngx_http_gateway_rl_now(zone), 0,
                                  &item->state, &item->result);
            }

            if (item->created) {
                /* a rejected request leaves nothing behind */
                ngx_http_gateway_rl_delete(zone, item->node);
            }
        }

        item->node = NULL;

        if (item->admitted) {
            zone->sh->passed++;

        } else if (item->dry_run) {
            zone->sh->rejected_dry_run++;

        } else {
            zone->sh->rejected++;
        }
    }

    /* unlock each pool once */

    for (i = 0; i < n; i++) {
        pool = items[i]->zone->shpool;

        for (j = 0; j < i; j++) {
            if (items[j]->zone->shpool == pool) {
                break;
            }
        }

        if (j == i) {
            ngx_shmtx_unlock(&pool->mutex);
        }
    }

    return pass;
}


/* Gives back what a committed item took (a later part of the request was
 * rejected), and reports the quota as it stays. */

static void
ngx_http_gateway_rl_refund(ngx_http_gateway_rl_item_t *item)
{
    gw_rl_state_t                state;
    ngx_rbtree_node_t           *node;
    ngx_http_gateway_rl_zone_t  *zone;
    
    zone = item->zone;

    ngx_shmtx_lock(&zone->shpool->mutex);

    node = ngx_http_gateway_rl_lookup(zone, &item->key, item->hash);

    if (node != NULL) {
        gw_rl_node_load(ngx_http_gateway_rl_node(node), &state);
        gw_rl_refund(&zone->policy, &state, item->cost);
        gw_rl_node_store(ngx_http_gateway_rl_node(node), &state);

        (void) gw_rl_take(&zone->policy, &state,
                          ngx_http_gateway_rl_now(zone), 0, &state,
                          &item->result);
    }

    zone->sh->passed--;
    zone->sh->rejected++;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    item->committed = 0;
}


/*
 * One script call for the group's keys: "gw:rl:ZONE:" KEY each, and six
 * arguments per key (see gw_rate_limit.h).
 */

static ngx_int_t
ngx_http_gateway_rl_send(ngx_http_request_t *r,
    ngx_http_gateway_rl_group_t *group)
{
    u_char                      *p;
    ngx_str_t                   *argv, *arg;
    ngx_uint_t                   i, k;
    ngx_http_gateway_rl_item_t  *item;
    ngx_http_gateway_rl_zone_t  *zone;
    uint64_t                     values[GW_RL_SCRIPT_ARGS];

    argv = ngx_palloc(r->pool, group->n * (1 + GW_RL_SCRIPT_ARGS)
                               * sizeof(ngx_str_t));
    if (argv == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < group->n; i++) {
        item = group->items[i];
        zone = item->zone;

        arg = &argv[i];
        arg->len = zone->redis_prefix.len + item->key.len;
        arg->data = ngx_pnalloc(r->pool, arg->len);
        if (arg->data == NULL) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(arg->data, zone->redis_prefix.data,
                       zone->redis_prefix.len);
        ngx_memcpy(p, item->key.data, item->key.len);

        values[0] = zone->policy.algorithm;
        values[1] = zone->policy.count;
        values[2] = zone->policy.period_ms;
        values[3] = zone->policy.burst;
        values[4] = item->cost;
        values[5] = item->dry_run;

        for (k = 0; k < GW_RL_SCRIPT_ARGS; k++) {
            arg = &argv[group->n + i * GW_RL_SCRIPT_ARGS + k];

            arg->data = ngx_pnalloc(r->pool, NGX_INT64_LEN);
            if (arg->data == NULL) {
                return NGX_ERROR;
            }

            arg->len = ngx_sprintf(arg->data, "%uL", values[k]) - arg->data;
        }
    }

    if (ngx_http_gateway_redis_eval(group->redis, r->main->pool,
                                    &ngx_http_gateway_rl_script,
                                    ngx_http_gateway_rl_redis_done, group,
                                    group->n,
                                    group->n * (1 + GW_RL_SCRIPT_ARGS), argv)
        == NULL)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* A group's answer from Redis, or NULL: then its zones count locally. */

static void
ngx_http_gateway_rl_redis_done(void *data, redisReply *reply)
{
    ngx_http_gateway_rl_group_t *group = data;

    ngx_uint_t                   i, valid;
    redisReply                 **e;
    ngx_http_request_t          *r;
    ngx_http_gateway_rl_ctx_t   *ctx;
    ngx_http_gateway_rl_item_t  *item;

    ctx = group->ctx;
    r = ctx->request;

    valid = reply != NULL
            && reply->type == REDIS_REPLY_ARRAY
            && reply->elements == 1 + 4 * group->n;

    for (i = 0; valid && i < reply->elements; i++) {
        if (reply->element[i]->type != REDIS_REPLY_INTEGER
            || reply->element[i]->integer < 0)
        {
            valid = 0;
        }
    }

    if (valid) {
        e = reply->element;

        for (i = 0; i < group->n; i++) {
            item = group->items[i];

            gw_rl_describe(&item->zone->policy, &item->result);

            item->remote = 1;
            item->full = 0;
            item->admitted = e[1 + 4 * i]->integer ? 1 : 0;
            item->committed = e[0]->integer && item->admitted;
            item->result.admitted = item->admitted;
            item->result.remaining = e[2 + 4 * i]->integer;
            item->result.reset_ms = e[3 + 4 * i]->integer;
            item->result.retry_ms = e[4 + 4 * i]->integer;
        }

    } else {
        for (i = 0; i < group->n; i++) {
            ngx_http_gateway_rl_log_fallback(r, group->items[i]->zone,
                                   reply == NULL ? "did not answer"
                                                 : "answered with an error",
                                   reply != NULL
                                   && reply->type == REDIS_REPLY_ERROR
                                   ? reply->str : NULL);
        }

        (void) ngx_http_gateway_rl_transaction(r, group->items, group->n);
    }

    if (--ctx->pending == 0) {
        ngx_http_gateway_rl_complete(ctx);
    }
}


/* Every part has answered: all or nothing, then the request goes on. */

static void
ngx_http_gateway_rl_complete(ngx_http_gateway_rl_ctx_t *ctx)
{
    ngx_uint_t                   i, pass;
    ngx_http_gateway_rl_item_t  *item;

    pass = 1;

    for (i = 0; i < ctx->nitems; i++) {
        item = &ctx->items[i];

        if (!item->dry_run && (!item->admitted || item->full)) {
            pass = 0;
        }
    }

    if (!pass) {
        /*
         * What local zones took is given back; what another Redis
         * committed (zones of one request in two Redis servers) stays.
         */

        for (i = 0; i < ctx->nitems; i++) {
            item = &ctx->items[i];

            if (item->committed && !item->remote) {
                ngx_http_gateway_rl_refund(item);
            }
        }
    }

    (void) ngx_http_gateway_rl_finish(ctx->request, ctx);

    if (ctx->waiting) {
        ctx->waiting = 0;
        ngx_post_event(ctx->wake, &ngx_posted_events);
    }
}


static void
ngx_http_gateway_rl_wake(ngx_event_t *ev)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ev->data;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_gateway_rl_cleanup(void *data)
{
    ngx_http_gateway_rl_ctx_t *ctx = data;

    if (ctx->wake->posted) {
        ngx_delete_posted_event(ctx->wake);
    }
}


static ngx_rbtree_node_t *
ngx_http_gateway_rl_lookup(ngx_http_gateway_rl_zone_t *zone, ngx_str_t *key,
    uint64_t hash)
{
    ngx_int_t           rc;
    ngx_rbtree_key_t    h;
    ngx_rbtree_node_t  *node, *sentinel;

    h = (ngx_rbtree_key_t) hash;
    node = zone->sh->rbtree.root;
    sentinel = zone->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (h != node->key) {
            node = (h < node->key) ? node->left : node->right;
            continue;
        }

        rc = gw_rl_node_compare(ngx_http_gateway_rl_node(node), key->data,
                                key->len);

        if (rc == 0) {
            return node;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


static ngx_uint_t
ngx_http_gateway_rl_in_use(ngx_rbtree_node_t *node,
    ngx_http_gateway_rl_item_t **items, ngx_uint_t n)
{
    ngx_uint_t  i;

    for (i = 0; i < n; i++) {
        if (items[i]->node == node) {
            return 1;
        }
    }

    return 0;
}


static ngx_rbtree_node_t *
ngx_http_gateway_rl_create(ngx_http_request_t *r,
    ngx_http_gateway_rl_item_t *item, ngx_http_gateway_rl_item_t **items,
    ngx_uint_t n)
{
    size_t                       size;
    uint64_t                     now;
    ngx_rbtree_node_t           *node;
    ngx_http_gateway_rl_zone_t  *zone;

    zone = item->zone;
    now = ngx_http_gateway_rl_now(zone);

    size = offsetof(ngx_rbtree_node_t, color) + sizeof(gw_rl_node_t)
           + gw_rl_node_rest_len(item->key.len);

    /* keep the zone tidy: forget up to two idle keys at the LRU tail */
    (void) ngx_http_gateway_rl_expire(zone, now, items, n, 2, 1);

    for ( ;; ) {
        node = ngx_slab_alloc_locked(zone->shpool, size);
        if (node != NULL) {
            break;
        }

        /* full: evict the least recently used idle key, if any */

        if (ngx_http_gateway_rl_expire(zone, now, items, n,
                                       NGX_HTTP_GATEWAY_RL_EVICT_SCAN, 0)
            == 0)
        {
            if (ngx_current_msec - zone->sh->full_logged
                    >= NGX_HTTP_GATEWAY_RL_LOG_INTERVAL
                || zone->sh->full_logged == 0)
            {
                zone->sh->full_logged = ngx_current_msec ? ngx_current_msec
                                                         : 1;
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "gateway_rate_limit_zone \"%V\" is full and "
                              "no key is idle: new keys are rejected",
                              &zone->name);
            }

            return NULL;
        }
    }

    node->key = (ngx_rbtree_key_t) item->hash;

    gw_rl_node_init(ngx_http_gateway_rl_node(node), item->key.data,
                    item->key.len);

    ngx_rbtree_insert(&zone->sh->rbtree, node);
    gw_rl_lru_push_head(&zone->sh->lru, zone->shpool,
                        ngx_http_gateway_rl_node(node));
    zone->sh->nodes++;

    return node;
}


/*
 * Frees idle keys from the LRU tail, looking at up to scan keys; stops at
 * the first busy one when asked. Returns how many were freed.
 */

static ngx_uint_t
ngx_http_gateway_rl_expire(ngx_http_gateway_rl_zone_t *zone, uint64_t now,
    ngx_http_gateway_rl_item_t **items, ngx_uint_t n, ngx_uint_t scan,
    ngx_uint_t stop_at_busy)
{
    ngx_uint_t          freed;
    gw_rl_node_t       *gn, *newer;
    gw_rl_state_t       state;
    ngx_rbtree_node_t  *node;

    freed = 0;
    gn = gw_rl_lru_tail(&zone->sh->lru, zone->shpool);

    while (gn != NULL && scan--) {
        newer = gw_rl_lru_newer(zone->shpool, gn);
        node = ngx_http_gateway_rl_rbnode(gn);

        gw_rl_node_load(gn, &state);

        if (!ngx_http_gateway_rl_in_use(node, items, n)
            && gw_rl_is_idle(&zone->policy, &state, now))
        {
            ngx_http_gateway_rl_delete(zone, node);
            freed++;

            if (!stop_at_busy) {
                return freed;   /* one is enough for the caller to retry */
            }

        } else if (stop_at_busy) {
            break;
        }

        gn = newer;
    }

    return freed;
}


static void
ngx_http_gateway_rl_delete(ngx_http_gateway_rl_zone_t *zone,
    ngx_rbtree_node_t *node)
{
    gw_rl_lru_remove(&zone->sh->lru, zone->shpool,
                     ngx_http_gateway_rl_node(node));
    ngx_rbtree_delete(&zone->sh->rbtree, node);
    ngx_slab_free_locked(zone->shpool, node);
    zone->sh->nodes--;
}


/* Decides the request's fate from its items, logs it. */

static ngx_int_t
ngx_http_gateway_rl_finish(ngx_http_request_t *r,
    ngx_http_gateway_rl_ctx_t *ctx)
{
    uint64_t                         retry;
    ngx_uint_t                       i, rejected, dry;
    ngx_http_gateway_rl_item_t      *item;
    ngx_http_gateway_rl_loc_conf_t  *lrcf;

    lrcf = ngx_http_get_module_loc_conf(r, ngx_http_gateway_rate_limit_module);

    ctx->done = 1;
    ctx->rc = NGX_DECLINED;

    if (ctx->nitems == 0) {
        return NGX_DECLINED;
    }

    rejected = 0;
    dry = 0;
    ctx->retry_after = 0;

    for (i = 0; i < ctx->nitems; i++) {
        item = &ctx->items[i];

        if (item->admitted && !item->full) {
            continue;
        }

        retry = gw_rl_retry_after_seconds(item->result.retry_ms);

        if (item->dry_run) {
            dry = 1;
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "gateway rate limit: dry run, would reject by "
                          "zone \"%V\"%s", &item->zone->name,
                          item->full ? " (zone full)" : "");
            continue;
        }

        rejected = 1;

        if (retry > ctx->retry_after) {
            ctx->retry_after = retry;
        }

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "gateway rate limit: rejected by zone \"%V\"%s, "
                      "retry after %uLs", &item->zone->name,
                      item->full ? " (zone full)" : "", retry);
    }

    if (rejected) {
        ctx->status = NGX_HTTP_GATEWAY_RL_REJECTED;
        ctx->rc = lrcf->status;

    } else if (dry) {
        ctx->status = NGX_HTTP_GATEWAY_RL_REJECTED_DRY_RUN;

    } else {
        ctx->status = NGX_HTTP_GATEWAY_RL_PASSED;
    }

    return ctx->rc;
}


/* The request's state, if rate limiting looked at it. */

static ngx_http_gateway_rl_ctx_t *
ngx_http_gateway_rl_get_ctx(ngx_http_request_t *r)
{
    ngx_http_gateway_rl_ctx_t  *ctx;

    r = r->main;

    ctx = ngx_http_get_module_ctx(r, ngx_http_gateway_rate_limit_module);

    if (ctx == NULL && r->internal) {
        /* an internal redirect cleared r->ctx; the state is still there */
        ctx = ngx_http_gateway_request_state(r,
                                          &ngx_http_gateway_rate_limit_module,
                                          sizeof(ngx_http_gateway_rl_ctx_t));
    }

    if (ctx == NULL || !ctx->done || ctx->nitems == 0) {
        return NULL;
    }

    return ctx;
}


static ngx_int_t
ngx_http_gateway_rl_header_filter(ngx_http_request_t *r)
{
    u_char                          *p;
    ngx_str_t                        value;
    ngx_http_gateway_rl_ctx_t       *ctx;
    ngx_http_gateway_rl_loc_conf_t  *lrcf;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_gateway_rl_get_ctx(r);

    if (ctx == NULL) {
        return ngx_http_next_header_filter(r);
    }

    if (ctx->status == NGX_HTTP_GATEWAY_RL_REJECTED) {
        p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        value.data = p;
        value.len = ngx_sprintf(p, "%uL", ctx->retry_after) - p;

        if (ngx_http_gateway_set_response_header(r,
                                            &ngx_http_gateway_rl_retry_after,
                                            &value)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    lrcf = ngx_http_get_module_loc_conf(r, ngx_http_gateway_rate_limit_module);

    switch (lrcf->headers) {

    case NGX_HTTP_GATEWAY_RL_HEADERS_IETF:
        if (ngx_http_gateway_rl_ietf_headers(r, ctx) != NGX_OK) {
            return NGX_ERROR;
        }
        break;

    case NGX_HTTP_GATEWAY_RL_HEADERS_LEGACY:
        if (ngx_http_gateway_rl_legacy_headers(r, ctx) != NGX_OK) {
            return NGX_ERROR;
        }
        break;

    default: /* off */
        break;
    }

    return ngx_http_next_header_filter(r);
}


/* A zone name as a structured-field string (RFC 8941): "name". */

static u_char *
ngx_http_gateway_rl_sf_string(u_char *p, ngx_str_t *name)
{
    ngx_uint_t  i;

    *p++ = '"';

    for (i = 0; i < name->len; i++) {
        if (name->data[i] == '"' || name->data[i] == '\\') {
            *p++ = '\\';
        }

        *p++ = name->data[i];
    }

    *p++ = '"';

    return p;
}


/*
 * draft-ietf-httpapi-ratelimit-headers: one list member per zone,
 *   RateLimit-Policy: "zone";q=10;w=1, "other";q=100;w=60
 *   RateLimit: "zone";r=9;t=1, "other";r=99;t=60
 */

static ngx_int_t
ngx_http_gateway_rl_ietf_headers(ngx_http_request_t *r,
    ngx_http_gateway_rl_ctx_t *ctx)
{
    size_t                       len;
    u_char                      *policy, *state, *pp, *sp;
    ngx_str_t                    value;
    ngx_uint_t                   i;
    ngx_http_gateway_rl_item_t  *item;

    len = 0;

    for (i = 0; i < ctx->nitems; i++) {
        len += 2 * ctx->items[i].zone->name.len + 2
               + sizeof(", ;q=;w=") - 1 + 2 * NGX_INT64_LEN;
    }

    policy = ngx_pnalloc(r->pool, len);
    state = ngx_pnalloc(r->pool, len);
    if (policy == NULL || state == NULL) {
        return NGX_ERROR;
    }

    pp = policy;
    sp = state;

    for (i = 0; i < ctx->nitems; i++) {
        item = &ctx->items[i];

        if (i) {
            pp = ngx_cpymem(pp, ", ", 2);
            sp = ngx_cpymem(sp, ", ", 2);
        }

        pp = ngx_http_gateway_rl_sf_string(pp, &item->zone->name);
        pp = ngx_sprintf(pp, ";q=%uL;w=%uD", item->result.limit,
                         item->result.window_s);

        sp = ngx_http_gateway_rl_sf_string(sp, &item->zone->name);
        sp = ngx_sprintf(sp, ";r=%uL;t=%uL", item->result.remaining,
                         gw_rl_reset_seconds(item->result.reset_ms));
    }

    value.data = policy;
    value.len = pp - policy;

    if (ngx_http_gateway_set_response_header(r,
                                           &ngx_http_gateway_rl_policy_header,
                                           &value)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    value.data = state;
    value.len = sp - state;

    return ngx_http_gateway_set_response_header(r,
                                             &ngx_http_gateway_rl_ietf_header,
                                             &value);
}


/*
 * RateLimit-Limit, -Remaining, -Reset of the zone that decided: the one
 * that rejected (the longest wait), else the one with the least left.
 */

static ngx_int_t
ngx_http_gateway_rl_legacy_headers(ngx_http_request_t *r,
    ngx_http_gateway_rl_ctx_t *ctx)
{
    u_char                      *p;
    ngx_str_t                    value;
    ngx_uint_t                   i;
    ngx_http_gateway_rl_item_t  *item, *pick;

    pick = NULL;

    for (i = 0; i < ctx->nitems; i++) {
        item = &ctx->items[i];

        if (pick == NULL) {
            pick = item;
            continue;
        }

        if (ctx->status == NGX_HTTP_GATEWAY_RL_REJECTED) {
            if (item->admitted || item->dry_run) {
                continue;
            }

            if (pick->admitted || pick->dry_run
                || item->result.retry_ms > pick->result.retry_ms)
            {
                pick = item;
            }

            continue;
        }

        if (item->result.remaining < pick->result.remaining) {
            pick = item;
        }
    }

    p = ngx_pnalloc(r->pool, 3 * NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    value.data = p;
    value.len = ngx_sprintf(p, "%uL", pick->result.limit) - p;
    p += value.len;

    if (ngx_http_gateway_set_response_header(r,
                                            &ngx_http_gateway_rl_limit_header,
                                            &value)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    value.data = p;
    value.len = ngx_sprintf(p, "%uL", pick->result.remaining) - p;
    p += value.len;

    if (ngx_http_gateway_set_response_header(r,
                                        &ngx_http_gateway_rl_remaining_header,
                                        &value)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    value.data = p;
    value.len = ngx_sprintf(p, "%uL",
                            gw_rl_reset_seconds(pick->result.reset_ms))
                - p;

    return ngx_http_gateway_set_response_header(r,
                                            &ngx_http_gateway_rl_reset_header,
                                            &value);
}


static ngx_int_t
ngx_http_gateway_rl_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_gateway_rl_ctx_t  *ctx;

    ctx = ngx_http_gateway_rl_get_ctx(r);

    if (ctx == NULL || ctx->status == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = ngx_http_gateway_rl_status_names[ctx->status].len;
    v->data = ngx_http_gateway_rl_status_names[ctx->status].data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


/* Tree order: the hash, then the key's length and stored bytes. */

static void
ngx_http_gateway_rl_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t  **p;

    for ( ;; ) {

        if (node->key != temp->key) {
            p = (node->key < temp->key) ? &temp->left : &temp->right;

        } else {
            p = (gw_rl_node_order(ngx_http_gateway_rl_node(node),
                                  ngx_http_gateway_rl_node(temp))
                 < 0)
                ? &temp->left : &temp->right;
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


/*
 * The three cases of a zone's start: a reload reusing the previous
 * cycle's zone (its counters kept), memory that already holds our state
 * (Windows), and new memory.
 */

static ngx_int_t
ngx_http_gateway_rl_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_gateway_rl_zone_t  *ozone = data;

    size_t                        len;
    ngx_http_gateway_rl_zone_t   *zone;
    ngx_http_gateway_rl_shctx_t  *sh;

    zone = shm_zone->data;

    if (ozone) {
        if (ozone->key.value.len != zone->key.value.len
            || ngx_strncmp(ozone->key.value.data, zone->key.value.data,
                           zone->key.value.len)
               != 0)
        {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "gateway_rate_limit_zone \"%V\" uses the key "
                          "\"%V\", previously \"%V\": a running zone cannot "
                          "change its key, restart nginx or use a new zone "
                          "name", &zone->name, &zone->key.value,
                          &ozone->key.value);
            return NGX_ERROR;
        }

        if (ozone->policy.algorithm != zone->policy.algorithm) {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "gateway_rate_limit_zone \"%V\" cannot change its "
                          "algorithm on reload, restart nginx or use a new "
                          "zone name", &zone->name);
            return NGX_ERROR;
        }

        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;

        return NGX_OK;
    }

    zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        zone->sh = zone->shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_alloc(zone->shpool, sizeof(ngx_http_gateway_rl_shctx_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(sh, sizeof(ngx_http_gateway_rl_shctx_t));

    ngx_rbtree_init(&sh->rbtree, &sh->sentinel,
                    ngx_http_gateway_rl_rbtree_insert);

    sh->epoch = ngx_current_msec;
    sh->algorithm = zone->policy.algorithm;

    zone->sh = sh;
    zone->shpool->data = sh;

    len = sizeof(" in gateway_rate_limit_zone \"\"") + shm_zone->shm.name.len;

    zone->shpool->log_ctx = ngx_slab_alloc(zone->shpool, len);
    if (zone->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(zone->shpool->log_ctx, " in gateway_rate_limit_zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone is our business to report, once */
    zone->shpool->log_nomem = 0;

    return NGX_OK;
}


static char *
ngx_http_gateway_rl_zone_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    u_char                            *p;
    size_t                             size;
    ssize_t                            n;
    uint32_t                           count, period, algorithm;
    ngx_int_t                          burst;
    ngx_str_t                         *value, name, s;
    ngx_uint_t                         i;
    ngx_shm_zone_t                    *shm_zone;
    ngx_http_gateway_rl_zone_t        *zone, **slot;
    ngx_http_compile_complex_value_t   ccv;
    ngx_http_gateway_rl_main_conf_t   *lrmcf;

    value = cf->args->elts;
    name = value[1];

    if (name.len == 0 || ngx_strlchr(name.data, name.data + name.len, '=')) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone name \"%V\"", &name);
        return NGX_CONF_ERROR;
    }

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_gateway_rl_zone_t));
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    zone->name = name;
    zone->key_index = NGX_ERROR;
    zone->conf_file = cf->conf_file->file.name.data;
    zone->conf_line = cf->conf_file->line;

    size = 0;
    count = 0;
    period = 0;
    burst = 0;
    algorithm = GW_RL_TOKEN_BUCKET;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "key=", 4) == 0) {

            if (zone->key.value.data != NULL) {
                goto duplicate;
            }

            s.data = value[i].data + 4;
            s.len = value[i].len - 4;

            if (s.len == 0) {
                goto invalid;
            }

            ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

            ccv.cf = cf;
            ccv.value = &s;
            ccv.complex_value = &zone->key;

            if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            zone->key_index = ngx_http_gateway_rl_single_variable(cf, &s);

            continue;
        }

        if (ngx_strncmp(value[i].data, "rate=", 5) == 0) {

            if (count) {
                goto duplicate;
            }

            if (gw_rl_parse_rate((char *) value[i].data + 5, value[i].len - 5,
                                 &count, &period)
                != GW_RL_OK)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid rate \"%V\", expected "
                                   "\"Nr/s\" or \"Nr/m\" with N from 1 to %ui",
                                   &value[i], (ngx_uint_t) GW_RL_MAX_COUNT);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "size=", 5) == 0) {

            if (size) {
                goto duplicate;
            }

            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            n = ngx_parse_size(&s);

            if (n == NGX_ERROR) {
                goto invalid;
            }

            if (n < (ssize_t) (8 * ngx_pagesize)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "zone \"%V\" is too small", &name);
                return NGX_CONF_ERROR;
            }

            /* LRU links are 32-bit offsets in 8-byte units */
            if ((uint64_t) n > ((uint64_t) 1 << 35)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "zone \"%V\" is too large", &name);
                return NGX_CONF_ERROR;
            }

            size = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "burst=", 6) == 0) {

            if (burst) {
                goto duplicate;
            }

            burst = ngx_atoi(value[i].data + 6, value[i].len - 6);

            if (burst <= 0 || burst > (ngx_int_t) GW_RL_MAX_COUNT) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid burst value \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "algorithm=", 10) == 0) {

            s.data = value[i].data + 10;
            s.len = value[i].len - 10;

            if (s.len == 12 && ngx_strncmp(s.data, "token_bucket", 12) == 0) {
                algorithm = GW_RL_TOKEN_BUCKET;

            } else if (s.len == 14
                       && ngx_strncmp(s.data, "sliding_window", 14) == 0)
            {
                algorithm = GW_RL_SLIDING_WINDOW;

            } else {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid algorithm \"%V\", expected "
                                   "\"token_bucket\" or \"sliding_window\"",
                                   &s);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "redis=", 6) == 0) {

            if (zone->redis_name.data != NULL) {
                goto duplicate;
            }

            zone->redis_name.data = value[i].data + 6;
            zone->redis_name.len = value[i].len - 6;

            if (zone->redis_name.len == 0) {
                goto invalid;
            }

            continue;
        }

        goto invalid;
    }

    if (zone->key.value.data == NULL || count == 0 || size == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"key=\", \"rate=\" and "
                           "\"size=\" parameters", &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (burst && algorithm == GW_RL_SLIDING_WINDOW) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"burst=\" is ignored by the sliding_window "
                           "algorithm of zone \"%V\"", &name);
    }

    if (gw_rl_policy_init(&zone->policy, algorithm, count, period,
                          (uint32_t) burst)
        != GW_RL_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid rate limit of zone \"%V\"", &name);
        return NGX_CONF_ERROR;
    }

    zone->size = size;

    zone->redis_prefix.len = sizeof("gw:rl::") - 1 + name.len;
    p = ngx_pnalloc(cf->pool, zone->redis_prefix.len);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    zone->redis_prefix.data = p;
    ngx_sprintf(p, "gw:rl:%V:", &name);

    shm_zone = ngx_shared_memory_add(cf, &name, size,
                                     &ngx_http_gateway_rate_limit_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate zone \"%V\"", &name);
        return NGX_CONF_ERROR;
    }

    zone->shm_zone = shm_zone;

    if (ngx_http_gateway_rl_check_reload(cf, zone) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    shm_zone->init = ngx_http_gateway_rl_init_zone;
    shm_zone->data = zone;

    lrmcf = ngx_http_conf_get_module_main_conf(cf,
                                           ngx_http_gateway_rate_limit_module);

    slot = ngx_array_push(&lrmcf->zones);
    if (slot == NULL) {
        return NGX_CONF_ERROR;
    }

    *slot = zone;

    return NGX_CONF_OK;

duplicate:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "duplicate parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}


/* The index of the variable when a key is "$name" alone, else NGX_ERROR. */

static ngx_int_t
ngx_http_gateway_rl_single_variable(ngx_conf_t *cf, ngx_str_t *key)
{
    ngx_str_t   name;
    ngx_uint_t  i;

    if (key->len < 2 || key->data[0] != '$') {
        return NGX_ERROR;
    }

    for (i = 1; i < key->len; i++) {
        if (!(key->data[i] == '_'
              || (key->data[i] >= 'a' && key->data[i] <= 'z')
              || (key->data[i] >= 'A' && key->data[i] <= 'Z')
              || (key->data[i] >= '0' && key->data[i] <= '9')))
        {
            return NGX_ERROR;
        }
    }

    name.data = key->data + 1;
    name.len = key->len - 1;

    return ngx_http_get_variable_index(cf, &name);
}


/*
 * nginx would quietly give a zone whose size changed new, empty memory on
 * reload, and a zone whose key changed would mix counters of different
 * keys: both are refused, naming the directive.
 */

static char *
ngx_http_gateway_rl_check_reload(ngx_conf_t *cf,
    ngx_http_gateway_rl_zone_t *zone)
{
    ngx_uint_t                   i;
    ngx_cycle_t                 *old;
    ngx_list_part_t             *part;
    ngx_shm_zone_t              *oshm;
    ngx_http_gateway_rl_zone_t  *ozone;

    old = cf->cycle->old_cycle;

    if (old == NULL || old->shared_memory.part.elts == NULL) {
        return NGX_CONF_OK;
    }

    part = &old->shared_memory.part;
    oshm = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            oshm = part->elts;
            i = 0;
        }

        if (oshm[i].tag != &ngx_http_gateway_rate_limit_module
            || oshm[i].shm.name.len != zone->name.len
            || ngx_strncmp(oshm[i].shm.name.data, zone->name.data,
                           zone->name.len)
               != 0)
        {
            continue;
        }

        ozone = oshm[i].data;

        if (ozone == NULL) {
            continue;
        }

        if (oshm[i].shm.size != zone->size) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "zone \"%V\" cannot change its size from %uz "
                               "to %uz on reload (its counters would be "
                               "lost): restart nginx or use a new zone name",
                               &zone->name, oshm[i].shm.size, zone->size);
            return NGX_CONF_ERROR;
        }

        if (ozone->key.value.len != zone->key.value.len
            || ngx_strncmp(ozone->key.value.data, zone->key.value.data,
                           zone->key.value.len)
               != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "zone \"%V\" cannot change its key from "
                               "\"%V\" to \"%V\" on reload: restart nginx or "
                               "use a new zone name", &zone->name,
                               &ozone->key.value, &zone->key.value);
            return NGX_CONF_ERROR;
        }

        if (ozone->policy.algorithm != zone->policy.algorithm) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "zone \"%V\" cannot change its algorithm on "
                               "reload: restart nginx or use a new zone name",
                               &zone->name);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_gateway_rl_limit_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_gateway_rl_loc_conf_t *lrcf = conf;

    ngx_int_t                         cost;
    ngx_str_t                        *value;
    ngx_uint_t                        i, dry_run;
    ngx_shm_zone_t                   *shm_zone;
    ngx_http_gateway_rl_ref_t        *ref;
    ngx_http_gateway_rl_limit_t      *limit, *limits;
    ngx_http_gateway_rl_main_conf_t  *lrmcf;

    value = cf->args->elts;

    cost = 1;
    dry_run = 0;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "cost=", 5) == 0) {

            cost = ngx_atoi(value[i].data + 5, value[i].len - 5);

            if (cost <= 0 || cost > (ngx_int_t) GW_RL_MAX_COUNT) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid cost \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (value[i].len == 7 && ngx_strcmp(value[i].data, "dry_run") == 0) {
            dry_run = 1;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    shm_zone = ngx_shared_memory_add(cf, &value[1], 0,
                                     &ngx_http_gateway_rate_limit_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (lrcf->limits == NULL) {
        lrcf->limits = ngx_array_create(cf->pool, 1,
                                        sizeof(ngx_http_gateway_rl_limit_t));
        if (lrcf->limits == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    limits = lrcf->limits->elts;

    for (i = 0; i < lrcf->limits->nelts; i++) {
        if (limits[i].shm_zone == shm_zone) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate %V \"%V\"", &cmd->name, &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    limit = ngx_array_push(lrcf->limits);
    if (limit == NULL) {
        return NGX_CONF_ERROR;
    }

    limit->shm_zone = shm_zone;
    limit->cost = cost;
    limit->dry_run = dry_run;

    /* the zone may be declared further on; checked at the end of http{} */

    lrmcf = ngx_http_conf_get_module_main_conf(cf,
                                           ngx_http_gateway_rate_limit_module);

    ref = ngx_array_push(&lrmcf->refs);
    if (ref == NULL) {
        return NGX_CONF_ERROR;
    }

    ref->shm_zone = shm_zone;
    ref->file = cf->conf_file->file.name.data;
    ref->line = cf->conf_file->line;

    return NGX_CONF_OK;
}


static char *
ngx_http_gateway_rl_status_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_gateway_rl_loc_conf_t *lrcf = conf;

    ngx_int_t   status;
    ngx_str_t  *value;

    if (lrcf->status != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    status = ngx_atoi(value[1].data, value[1].len);

    if (status < 400 || status > 599) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid status \"%V\", expected 400 to 599",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    lrcf->status = status;

    return NGX_CONF_OK;
}


static void *
ngx_http_gateway_rl_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_gateway_rl_main_conf_t  *lrmcf;

    lrmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_gateway_rl_main_conf_t));
    if (lrmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&lrmcf->refs, cf->pool, 4,
                       sizeof(ngx_http_gateway_rl_ref_t))
        != NGX_OK
        || ngx_array_init(&lrmcf->zones, cf->pool, 4,
                          sizeof(ngx_http_gateway_rl_zone_t *))
           != NGX_OK)
    {
        return NULL;
    }

    return lrmcf;
}


static char *
ngx_http_gateway_rl_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_gateway_rl_main_conf_t *lrmcf = conf;

    ngx_uint_t                    i;
    ngx_http_gateway_rl_ref_t    *ref;
    ngx_http_gateway_rl_zone_t  **zones;

    zones = lrmcf->zones.elts;

    for (i = 0; i < lrmcf->zones.nelts; i++) {
        if (zones[i]->redis_name.len == 0) {
            continue;
        }

        zones[i]->redis = ngx_http_gateway_redis_find(cf,
                                                      &zones[i]->redis_name);

        if (zones[i]->redis == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "gateway_rate_limit_zone \"%V\" uses an unknown "
                          "gateway_redis \"%V\" in %s:%ui",
                          &zones[i]->name, &zones[i]->redis_name,
                          zones[i]->conf_file, zones[i]->conf_line);
            return NGX_CONF_ERROR;
        }

        ngx_http_gateway_redis_use(zones[i]->redis);
    }

    ref = lrmcf->refs.elts;

    for (i = 0; i < lrmcf->refs.nelts; i++) {
        if (ref[i].shm_zone->data == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "unknown gateway_rate_limit_zone \"%V\" "
                          "in gateway_rate_limit in %s:%ui",
                          &ref[i].shm_zone->shm.name, ref[i].file,
                          ref[i].line);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_gateway_rl_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_gateway_rl_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_gateway_rl_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->limits = NULL;
     */

    conf->status = NGX_CONF_UNSET_UINT;
    conf->headers = NGX_CONF_UNSET_UINT;

    return conf;
}


static char *
ngx_http_gateway_rl_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_gateway_rl_loc_conf_t *prev = parent;
    ngx_http_gateway_rl_loc_conf_t *conf = child;

    ngx_uint_t                    i;
    ngx_http_gateway_rl_zone_t   *zone;
    ngx_http_gateway_rl_limit_t  *limits;

    /* like limit_req: inherited only when a level declares none */
    if (conf->limits == NULL) {
        conf->limits = prev->limits;
    }

    conf->redis = 0;

    if (conf->limits) {
        limits = conf->limits->elts;

        for (i = 0; i < conf->limits->nelts; i++) {
            zone = limits[i].shm_zone->data;

            if (zone != NULL && zone->redis_name.len) {
                conf->redis = 1;
            }
        }
    }

    ngx_conf_merge_uint_value(conf->status, prev->status,
                              NGX_HTTP_TOO_MANY_REQUESTS);
    ngx_conf_merge_uint_value(conf->headers, prev->headers,
                              NGX_HTTP_GATEWAY_RL_HEADERS_IETF);

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_gateway_rl_add_variables(ngx_conf_t *cf)
{
    return ngx_http_gateway_register_variables(cf, ngx_http_gateway_rl_vars);
}


static ngx_int_t
ngx_http_gateway_rl_init(ngx_conf_t *cf)
{
    const char  *text;
    size_t       len;

    text = gw_rl_redis_script(&len);

    ngx_http_gateway_rl_script.text.data = (u_char *) text;
    ngx_http_gateway_rl_script.text.len = len;
    ngx_http_gateway_redis_script_init(&ngx_http_gateway_rl_script);

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_gateway_rl_header_filter;

    return NGX_OK;
}
