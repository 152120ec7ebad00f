/*
 * Rate limiting: what the Redis-backed path shares with the local one.
 */

#ifndef _NGX_HTTP_GATEWAY_RATE_LIMIT_H_INCLUDED_
#define _NGX_HTTP_GATEWAY_RATE_LIMIT_H_INCLUDED_


#include "ngx_http_gateway.h"
#include "ngx_http_gateway_redis.h"
#include "gw_rate_limit.h"


/* What a zone keeps in shared memory, under its slab pool's mutex. */
typedef struct {
    ngx_rbtree_t                 rbtree;
    ngx_rbtree_node_t            sentinel;
    gw_rl_lru_t                  lru;
    uint64_t                     epoch;      /* ngx_current_msec at creation */
    uint32_t                     algorithm;
    ngx_msec_t                   full_logged;
    ngx_uint_t                   nodes;
    uint64_t                     passed;
    uint64_t                     rejected;
    uint64_t                     rejected_dry_run;
    uint64_t                     full;
} ngx_http_gateway_rl_shctx_t;


/* A gateway_rate_limit_zone (the data of its shm zone). */
typedef struct {
    ngx_str_t                    name;
    ngx_http_complex_value_t     key;
    ngx_int_t                    key_index; /* key=$var alone, else -1 */
    gw_rl_policy_t               policy;
    size_t                       size;
    ngx_shm_zone_t              *shm_zone;
    ngx_slab_pool_t             *shpool;
    ngx_http_gateway_rl_shctx_t *sh;

    ngx_str_t                    redis_name;
    ngx_http_gateway_redis_t    *redis;
    ngx_str_t                    redis_prefix;   /* "gw:rl:NAME:" */
    ngx_msec_t                   fallback_logged; /* per worker */
    u_char                      *conf_file;
    ngx_uint_t                   conf_line;
} ngx_http_gateway_rl_zone_t;


#endif /* _NGX_HTTP_GATEWAY_RATE_LIMIT_H_INCLUDED_ */
