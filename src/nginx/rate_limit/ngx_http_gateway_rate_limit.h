/*
 * Private to ngx_http_gateway_rate_limit_module: the types and functions
 * its files share (see ngx_http_gateway_rate_limit.c for the list).
 */

#ifndef _NGX_HTTP_GATEWAY_RATE_LIMIT_H_INCLUDED_
#define _NGX_HTTP_GATEWAY_RATE_LIMIT_H_INCLUDED_


#include "ngx_http_gateway.h"
#include "ngx_http_gateway_redis.h"
#include "gw_rate_limit.h"


#define NGX_HTTP_GATEWAY_RL_PASSED            1
#define NGX_HTTP_GATEWAY_RL_REJECTED          2
#define NGX_HTTP_GATEWAY_RL_REJECTED_DRY_RUN  3

/* a zone's verdicts, as gateway_rate_limit_results_total counts them */
#define NGX_HTTP_GATEWAY_RL_RESULT_PASSED     0
#define NGX_HTTP_GATEWAY_RL_RESULT_REJECTED   1
#define NGX_HTTP_GATEWAY_RL_RESULT_DRY_RUN    2
#define NGX_HTTP_GATEWAY_RL_RESULT_FULL       3

#define NGX_HTTP_GATEWAY_RL_HEADERS_OFF       0
#define NGX_HTTP_GATEWAY_RL_HEADERS_IETF      1
#define NGX_HTTP_GATEWAY_RL_HEADERS_LEGACY    2


/* What a zone keeps in shared memory, under its slab pool's mutex. */
typedef struct {
    ngx_rbtree_t                 rbtree;
    ngx_rbtree_node_t            sentinel;
    gw_rl_lru_t                  lru;
    uint64_t                     epoch;      /* ngx_current_msec at creation */
    uint32_t                     algorithm;
    ngx_msec_t                   full_logged;
    ngx_uint_t                   nodes;
} ngx_http_gateway_rl_shctx_t;


/* A gateway_rate_limit_zone (the data of its shm zone). */
typedef struct {
    ngx_str_t                    name;
    ngx_http_gateway_key_t      *key;
    gw_rl_policy_t               policy;
    size_t                       size;
    ngx_http_gateway_shm_t      *shm;
    ngx_slab_pool_t             *shpool;    /* shm's, at hand */
    ngx_http_gateway_rl_shctx_t *sh;

    ngx_str_t                    redis_name;
    ngx_http_gateway_redis_t    *redis;
    ngx_str_t                    redis_prefix;   /* "gw:rl:NAME:" */
    ngx_msec_t                   fallback_logged; /* per worker */
    u_char                      *conf_file;
    ngx_uint_t                   conf_line;
    ngx_http_gateway_stat_t     *results;   /* by NGX_HTTP_GATEWAY_RL_RESULT_* */
} ngx_http_gateway_rl_zone_t;


typedef struct {
    ngx_shm_zone_t              *shm_zone;
    ngx_http_gateway_rl_zone_t  *zone;      /* known once http{} is read */
    ngx_uint_t                   cost;
    ngx_uint_t                   dry_run;
} ngx_http_gateway_rl_limit_t;


typedef struct {
    ngx_array_t                 *limits;    /* ngx_http_gateway_rl_limit_t */
    ngx_uint_t                   status;
    ngx_uint_t                   headers;
    ngx_uint_t                   log_level; /* of rejections, dry run too */
    ngx_uint_t                   redis;     /* some zone is kept in Redis */
} ngx_http_gateway_rl_loc_conf_t;


typedef struct ngx_http_gateway_rl_ctx_s    ngx_http_gateway_rl_ctx_t;
typedef struct ngx_http_gateway_rl_group_s  ngx_http_gateway_rl_group_t;


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
    gw_rl_state_t                state;    /* what the take made (a refund
                                              needs its window) */
} ngx_http_gateway_rl_item_t;


/* Per main request; survives internal redirects. */
struct ngx_http_gateway_rl_ctx_s {
    ngx_http_request_t          *request;
    ngx_http_gateway_rl_item_t  *items;
    ngx_uint_t                   nitems;
    ngx_uint_t                   status;    /* PASSED, REJECTED, ... or 0 */
    ngx_int_t                    rc;
    uint64_t                     retry_after;
    ngx_http_gateway_rl_group_t *groups;    /* one per Redis asked */
    ngx_uint_t                   ngroups;
    ngx_uint_t                   pending;   /* Redis answers still due */
    ngx_http_gateway_wait_t      wait;      /* parked for Redis */
    unsigned                     done:1;
    ngx_http_gateway_rl_item_t   one;       /* the item of a single limit */
};


/* the core's node lies over the rbtree node from its color byte on */

#define ngx_http_gateway_rl_node(n)                                          \
    ((gw_rl_node_t *) &(n)->color)

#define ngx_http_gateway_rl_rbnode(gn)                                       \
    ((ngx_rbtree_node_t *) ((u_char *) (gn)                                  \
                            - offsetof(ngx_rbtree_node_t, color)))

_Static_assert(offsetof(ngx_rbtree_node_t, color) % 8 == 0,
               "gw_rl_node_t needs 8-byte alignment");

/*
 * The tree key is the whole gw_rl_key_hash(): equal tree keys, lengths and
 * stored bytes mean equal keys. A narrower key would let keys share counters.
 */
_Static_assert(sizeof(ngx_rbtree_key_t) >= sizeof(uint64_t),
               "gateway rate limits need a 64-bit ngx_rbtree_key_t");


/* the zone's clock: milliseconds since the zone was made */

static ngx_inline uint64_t
ngx_http_gateway_rl_now(ngx_http_gateway_rl_zone_t *zone)
{
    uint64_t  now = ngx_current_msec;

    return now > zone->sh->epoch ? now - zone->sh->epoch : 0;
}


extern ngx_module_t  ngx_http_gateway_rate_limit_module;


/* the zone (ngx_http_gateway_rate_limit_zone.c), under its pool's mutex */
ngx_int_t ngx_http_gateway_rl_add_zone(ngx_conf_t *cf,
    ngx_http_gateway_rl_zone_t *zone);
ngx_rbtree_node_t *ngx_http_gateway_rl_lookup(
    ngx_http_gateway_rl_zone_t *zone, ngx_str_t *key, uint64_t hash);
ngx_rbtree_node_t *ngx_http_gateway_rl_create(ngx_http_request_t *r,
    ngx_http_gateway_rl_item_t *item, ngx_http_gateway_rl_item_t **items,
    ngx_uint_t n);
void ngx_http_gateway_rl_delete(ngx_http_gateway_rl_zone_t *zone,
    ngx_rbtree_node_t *node);

/* the check (ngx_http_gateway_rate_limit_check.c) */
ngx_int_t ngx_http_gateway_rate_limit_check(ngx_http_request_t *r);
ngx_uint_t ngx_http_gateway_rl_transaction(ngx_http_request_t *r,
    ngx_http_gateway_rl_item_t **items, ngx_uint_t n);
void ngx_http_gateway_rl_refund(ngx_http_gateway_rl_item_t *item);
ngx_int_t ngx_http_gateway_rl_finish(ngx_http_request_t *r,
    ngx_http_gateway_rl_ctx_t *ctx);

/* zones kept in Redis (ngx_http_gateway_rate_limit_redis.c) */
void ngx_http_gateway_rl_redis_init(void);
ngx_int_t ngx_http_gateway_rl_check_redis(ngx_http_request_t *r,
    ngx_http_gateway_rl_ctx_t *ctx, ngx_http_gateway_rl_item_t **local);

/* the answer (ngx_http_gateway_rate_limit_headers.c) */
void ngx_http_gateway_rl_header_filter_init(void);

/* the status section (ngx_http_gateway_rate_limit_status.c) */
ngx_int_t ngx_http_gateway_rl_status_add(ngx_conf_t *cf, ngx_array_t *zones);

/* request state, variables (ngx_http_gateway_rate_limit_variables.c) */
ngx_http_gateway_rl_ctx_t *ngx_http_gateway_rl_get_ctx(ngx_http_request_t *r);
ngx_int_t ngx_http_gateway_rl_add_variables(ngx_conf_t *cf);

#endif /* _NGX_HTTP_GATEWAY_RATE_LIMIT_H_INCLUDED_ */
