/*
 * Rate limiting: zones kept in a gateway_redis. A request's items of one
 * Redis go in one script call; a Redis that is down or answers badly
 * leaves its zones to their local counters.
 */

#include "ngx_http_gateway_rate_limit.h"


#define NGX_HTTP_GATEWAY_RL_FALLBACK_INTERVAL 10000


/* The items of one request kept in one Redis: one script call. */
struct ngx_http_gateway_rl_group_s {
    ngx_http_gateway_rl_ctx_t   *ctx;
    ngx_http_gateway_redis_t    *redis;
    ngx_http_gateway_rl_item_t **items;
    ngx_uint_t                   n;
};


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
static ngx_int_t ngx_http_gateway_rl_redis_key(ngx_http_request_t *r,
    ngx_http_gateway_rl_item_t *item, ngx_str_t *arg);
static ngx_int_t ngx_http_gateway_rl_number(ngx_http_request_t *r,
    uint64_t value, ngx_str_t *arg);
static void ngx_http_gateway_rl_redis_done(void *data, ngx_http_gateway_redis_reply_t *reply);
static void ngx_http_gateway_rl_complete(ngx_http_gateway_rl_ctx_t *ctx);
static void ngx_http_gateway_rl_redis_refund(ngx_http_gateway_rl_ctx_t *ctx);
static void ngx_http_gateway_rl_refunded(void *data, ngx_http_gateway_redis_reply_t *reply);


static ngx_http_gateway_redis_script_t  ngx_http_gateway_rl_script;


void
ngx_http_gateway_rl_redis_init(void)
{
    const char  *text;
    size_t       len;

    text = gw_rl_redis_script(&len);

    ngx_http_gateway_rl_script.text.data = (u_char *) text;
    ngx_http_gateway_rl_script.text.len = len;
    ngx_http_gateway_redis_script_init(&ngx_http_gateway_rl_script);
}


/*
 * Zones kept in a Redis that answers go to it, one script call per Redis;
 * the others (and zones whose Redis is down) are counted here, first: when
 * they reject, Redis is not asked at all.
 */

ngx_int_t
ngx_http_gateway_rl_check_redis(ngx_http_request_t *r,
    ngx_http_gateway_rl_ctx_t *ctx, ngx_http_gateway_rl_item_t **local)
{
    ngx_uint_t                    n, ngroups;
    ngx_http_gateway_rl_group_t  *groups;

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
    ngx_uint_t  i;

    ctx->groups = groups;
    ctx->ngroups = ngroups;
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

    /* every command is answered: a reply, or a failure after timeout= */

    return ngx_http_gateway_park(r, &ctx->wait, NULL, 0);
}


/* "zone uses its local counters", once per interval and zone, per worker */

static void
ngx_http_gateway_rl_log_fallback(ngx_http_request_t *r,
    ngx_http_gateway_rl_zone_t *zone, const char *why, const char *detail)
{
    if (!ngx_http_gateway_log_due(&zone->fallback_logged,
                                  NGX_HTTP_GATEWAY_RL_FALLBACK_INTERVAL))
    {
        return;
    }

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "gateway rate limit: zone \"%V\" uses its local counters, "
                  "gateway_redis \"%V\" %s%s%s", &zone->name,
                  ngx_http_gateway_redis_name(zone->redis), why,
                  detail ? ": " : "", detail ? detail : "");
}


/*
 * One script call for the group's keys: "gw:rl:ZONE:" KEY each, and six
 * arguments per key (see gw_rate_limit.h).
 */

static ngx_int_t
ngx_http_gateway_rl_send(ngx_http_request_t *r,
    ngx_http_gateway_rl_group_t *group)
{
    ngx_str_t                   *argv;
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

        if (ngx_http_gateway_rl_redis_key(r, item, &argv[i]) != NGX_OK) {
            return NGX_ERROR;
        }

        values[0] = zone->policy.algorithm;
        values[1] = zone->policy.count;
        values[2] = zone->policy.period_ms;
        values[3] = zone->policy.burst;
        values[4] = item->cost;
        values[5] = item->dry_run;

        for (k = 0; k < GW_RL_SCRIPT_ARGS; k++) {
            if (ngx_http_gateway_rl_number(r, values[k],
                                  &argv[group->n + i * GW_RL_SCRIPT_ARGS + k])
                != NGX_OK)
            {
                return NGX_ERROR;
            }
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


/* An item's key in Redis: "gw:rl:ZONE:" KEY. */

static ngx_int_t
ngx_http_gateway_rl_redis_key(ngx_http_request_t *r,
    ngx_http_gateway_rl_item_t *item, ngx_str_t *arg)
{
    ngx_str_t  *prefix = &item->zone->redis_prefix;

    arg->len = prefix->len + item->key.len;
    arg->data = ngx_pnalloc(r->pool, arg->len);
    if (arg->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ngx_cpymem(arg->data, prefix->data, prefix->len),
               item->key.data, item->key.len);

    return NGX_OK;
}


/* A script argument in decimal. */

static ngx_int_t
ngx_http_gateway_rl_number(ngx_http_request_t *r, uint64_t value,
    ngx_str_t *arg)
{
    arg->data = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (arg->data == NULL) {
        return NGX_ERROR;
    }

    arg->len = ngx_sprintf(arg->data, "%uL", value) - arg->data;

    return NGX_OK;
}


/* A group's answer from Redis, or NULL: then its zones count locally. */

static void
ngx_http_gateway_rl_redis_done(void *data, ngx_http_gateway_redis_reply_t *reply)
{
    ngx_http_gateway_rl_group_t *group = data;

    ngx_uint_t                        i, valid;
    ngx_http_gateway_redis_reply_t  **e;
    ngx_http_request_t          *r;
    ngx_http_gateway_rl_ctx_t   *ctx;
    ngx_http_gateway_rl_item_t  *item;

    ctx = group->ctx;
    r = ctx->request;

    valid = reply != NULL
            && reply->type == NGX_HTTP_GATEWAY_REDIS_ARRAY
            && reply->elements == 1 + 4 * group->n;

    for (i = 0; valid && i < reply->elements; i++) {
        if (reply->element[i]->type != NGX_HTTP_GATEWAY_REDIS_INTEGER
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
                                   && reply->type
                                      == NGX_HTTP_GATEWAY_REDIS_ERROR
                                   ? (char *) reply->str.data : NULL);
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
         * What local zones took is given back here, what a Redis
         * committed (zones of one request in two Redis servers) there.
         */

        for (i = 0; i < ctx->nitems; i++) {
            item = &ctx->items[i];

            if (item->committed && !item->remote) {
                ngx_http_gateway_rl_refund(item);
            }
        }

        ngx_http_gateway_rl_redis_refund(ctx);
    }

    (void) ngx_http_gateway_rl_finish(ctx->request, ctx);

    ngx_http_gateway_wake(&ctx->wait);
}


/*
 * One refund call per Redis that committed items of a refused request
 * (a Redis that did not answer left its items to the local counters,
 * given back above). Nothing waits for it: a refund that does not arrive
 * (Redis down, or its scripts flushed meanwhile) leaves the quota taken.
 */

static void
ngx_http_gateway_rl_redis_refund(ngx_http_gateway_rl_ctx_t *ctx)
{
    ngx_str_t                    *argv;
    ngx_uint_t                    g, i, k, n;
    ngx_http_request_t           *r;
    ngx_http_gateway_rl_item_t   *item;
    ngx_http_gateway_rl_group_t  *group;

    r = ctx->request;

    for (g = 0; g < ctx->ngroups; g++) {
        group = &ctx->groups[g];

        n = 0;

        for (i = 0; i < group->n; i++) {
            n += group->items[i]->committed && group->items[i]->remote;
        }

        if (n == 0) {
            continue;
        }

        /* n keys, then "refund", then algorithm and cost per key */

        argv = ngx_palloc(r->pool, (3 * n + 1) * sizeof(ngx_str_t));
        if (argv == NULL) {
            return;
        }

        ngx_str_set(&argv[n], "refund");

        for (i = 0, k = 0; i < group->n; i++) {
            item = group->items[i];

            if (!item->committed || !item->remote) {
                continue;
            }

            if (ngx_http_gateway_rl_redis_key(r, item, &argv[k]) != NGX_OK
                || ngx_http_gateway_rl_number(r, item->zone->policy.algorithm,
                                              &argv[n + 1 + 2 * k])
                   != NGX_OK
                || ngx_http_gateway_rl_number(r, item->cost,
                                              &argv[n + 2 + 2 * k])
                   != NGX_OK)
            {
                return;
            }

            k++;
        }

        (void) ngx_http_gateway_redis_eval(group->redis, r->main->pool,
                                           &ngx_http_gateway_rl_script,
                                           ngx_http_gateway_rl_refunded, NULL,
                                           n, 3 * n + 1, argv);
    }
}


static void
ngx_http_gateway_rl_refunded(void *data, ngx_http_gateway_redis_reply_t *reply)
{
    /* nothing waits for a refund */
}
