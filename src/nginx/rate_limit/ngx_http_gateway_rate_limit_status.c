/*
 * The "rate_limits" section of the gateway's status document: per
 * gateway_rate_limit_zone, its policy and how full its shared memory is.
 *
 *   "rate_limits": {
 *     "per_ip": {"algorithm": "token_bucket", "rate": 10, "period_ms": 1000,
 *                "burst": 20, "redis": null, "size": 1048576,
 *                "keys": 42, "capacity": 8120}
 *   }
 *
 * "keys" is the keys the zone holds now; "capacity" how many it could hold
 * in all, counting the free pages as filled with keys that fit in a node
 * (longer keys take more): an estimate of the room left.
 */

#include "ngx_http_gateway_rate_limit.h"


static ngx_int_t ngx_http_gateway_rl_status(gw_json_writer_t *w, void *data);
static void ngx_http_gateway_rl_status_zone(gw_json_writer_t *w,
    ngx_http_gateway_rl_zone_t *zone);


ngx_int_t
ngx_http_gateway_rl_status_add(ngx_conf_t *cf, ngx_array_t *zones)
{
    static ngx_str_t  section = ngx_string("rate_limits");

    if (zones->nelts == 0) {
        return NGX_OK;
    }

    return ngx_http_gateway_status_add(cf, &section,
                                       ngx_http_gateway_rl_status, zones);
}


static ngx_int_t
ngx_http_gateway_rl_status(gw_json_writer_t *w, void *data)
{
    ngx_array_t *zones = data;

    ngx_uint_t                    i;
    ngx_http_gateway_rl_zone_t  **zone;

    zone = zones->elts;

    gw_json_object_begin(w);

    for (i = 0; i < zones->nelts; i++) {
        gw_json_key(w, (char *) zone[i]->name.data, zone[i]->name.len);
        ngx_http_gateway_rl_status_zone(w, zone[i]);
    }

    gw_json_object_end(w);

    return NGX_OK;
}


static void
ngx_http_gateway_rl_status_zone(gw_json_writer_t *w,
    ngx_http_gateway_rl_zone_t *zone)
{
    size_t       node;
    ngx_uint_t   keys, free_pages, chunk;

    gw_json_object_begin(w);

    ngx_http_gateway_json_key(w, "algorithm");

    if (zone->policy.algorithm == GW_RL_SLIDING_WINDOW) {
        gw_json_string(w, "sliding_window", sizeof("sliding_window") - 1);

    } else {
        gw_json_string(w, "token_bucket", sizeof("token_bucket") - 1);
    }

    ngx_http_gateway_json_key(w, "rate");
    gw_json_uint(w, zone->policy.count);
    ngx_http_gateway_json_key(w, "period_ms");
    gw_json_uint(w, zone->policy.period_ms);
    ngx_http_gateway_json_key(w, "burst");
    gw_json_uint(w, zone->policy.burst);

    ngx_http_gateway_json_key(w, "redis");

    if (zone->redis_name.len) {
        gw_json_string(w, (char *) zone->redis_name.data,
                       zone->redis_name.len);
    } else {
        gw_json_null(w);
    }

    ngx_http_gateway_json_key(w, "size");
    gw_json_uint(w, zone->size);

    keys = 0;
    free_pages = 0;

    if (zone->sh) {
        ngx_shmtx_lock(&zone->shpool->mutex);
        keys = zone->sh->nodes;
        free_pages = zone->shpool->pfree;
        ngx_shmtx_unlock(&zone->shpool->mutex);
    }

    /* the slab's chunk for a node whose key fits in it */

    node = offsetof(ngx_rbtree_node_t, color) + sizeof(gw_rl_node_t)
           + gw_rl_node_rest_len(0);

    for (chunk = 8; chunk < node; chunk <<= 1) { /* void */ }

    ngx_http_gateway_json_key(w, "keys");
    gw_json_uint(w, keys);
    ngx_http_gateway_json_key(w, "capacity");
    gw_json_uint(w, keys + free_pages * (ngx_pagesize / chunk));

    gw_json_object_end(w);
}
