/*
 * Rate limiting: the access check. A request's limits are taken all
 * together or not at all, locally or (zones kept in Redis) through
 * ngx_http_gateway_rate_limit_redis.c; then its fate is decided and logged.
 */

#include "ngx_http_gateway_rate_limit.h"

#include <openssl/sha.h>


/* longer keys (and keys that could pass for a digest) are kept as SHA-256 */
#define NGX_HTTP_GATEWAY_RL_KEY_MAX           64
#define NGX_HTTP_GATEWAY_RL_DIGEST_MARK       0xff
#define NGX_HTTP_GATEWAY_RL_DIGEST_LEN        (1 + SHA256_DIGEST_LENGTH)

/* a key is put together here; a longer one in the request's pool */
#define NGX_HTTP_GATEWAY_RL_KEY_STACK         256


static ngx_int_t ngx_http_gateway_rl_prepare(ngx_http_request_t *r,
    ngx_http_gateway_rl_loc_conf_t *lrcf, ngx_http_gateway_rl_ctx_t *ctx);
static ngx_int_t ngx_http_gateway_rl_key(ngx_http_request_t *r,
    ngx_http_gateway_rl_item_t *item);


ngx_int_t
ngx_http_gateway_rate_limit_check(ngx_http_request_t *r)
{
    ngx_uint_t                        i;
    ngx_http_gateway_rl_ctx_t        *ctx;
    ngx_http_gateway_rl_item_t      **local, *few[8];
    ngx_http_gateway_rl_loc_conf_t   *lrcf;

    /* limits apply once per client request, as limit_req's do */

    if (r != r->main) {
        return NGX_DECLINED;
    }

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

    if (ctx->done) {
        return ctx->rc;
    }

    if (ctx->wait.parked) {
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

            ngx_http_gateway_stats_add(ctx->items[0].zone->results,
                                       NGX_HTTP_GATEWAY_RL_RESULT_PASSED, 1);
            return NGX_DECLINED;
        }

        return ngx_http_gateway_rl_finish(r, ctx);
    }

    return ngx_http_gateway_rl_check_redis(r, ctx, local);
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

        item->zone = limits[i].zone;
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
    u_char     *p;
    ngx_str_t   key;
    u_char      buf[NGX_HTTP_GATEWAY_RL_KEY_STACK];

    if (ngx_http_gateway_key_value(r, item->zone->key, buf, sizeof(buf), &key)
        != NGX_OK)
    {
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

    } else if (key.data == buf) {
        /* the item keeps its key until the request's log phase */

        p = ngx_pnalloc(r->pool, key.len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(p, key.data, key.len);
        key.data = p;
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

ngx_uint_t
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

void
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
        gw_rl_refund(&zone->policy, &state, &item->state, item->cost);
        gw_rl_node_store(ngx_http_gateway_rl_node(node), &state);

        (void) gw_rl_take(&zone->policy, &state,
                          ngx_http_gateway_rl_now(zone), 0, &state,
                          &item->result);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    item->committed = 0;
}


/* Decides the request's fate from its items, logs it. */

ngx_int_t
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

        /* each zone's own verdict, whatever the others said */

        ngx_http_gateway_stats_add(item->zone->results,
                                   item->full
                                   ? NGX_HTTP_GATEWAY_RL_RESULT_FULL
                                   : item->admitted
                                   ? NGX_HTTP_GATEWAY_RL_RESULT_PASSED
                                   : item->dry_run
                                   ? NGX_HTTP_GATEWAY_RL_RESULT_DRY_RUN
                                   : NGX_HTTP_GATEWAY_RL_RESULT_REJECTED,
                                   1);

        if (item->admitted && !item->full) {
            continue;
        }

        retry = gw_rl_retry_after_seconds(item->result.retry_ms);

        if (item->dry_run) {
            dry = 1;
            ngx_log_error(lrcf->log_level, r->connection->log, 0,
                          "gateway rate limit: dry run, would reject by "
                          "zone \"%V\"%s", &item->zone->name,
                          item->full ? " (zone full)" : "");
            continue;
        }

        rejected = 1;

        if (retry > ctx->retry_after) {
            ctx->retry_after = retry;
        }

        ngx_log_error(lrcf->log_level, r->connection->log, 0,
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
