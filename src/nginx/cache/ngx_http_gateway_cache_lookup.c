/*
 * The lookup, the gateway's cache step: the core's plan for the request,
 * the key, one Redis GET while the request is parked (at most the Redis
 * timeout), then a hit answered by ngx_http_gateway_cache_hit.c or a miss
 * that goes upstream and may fill the cache (ngx_http_gateway_cache_store.c).
 */

#include "ngx_http_gateway_cache.h"


static ngx_http_gateway_cache_ctx_t *ngx_http_gateway_cache_ctx_create(
    ngx_http_request_t *r, ngx_http_gateway_cache_loc_conf_t *conf);
static void ngx_http_gateway_cache_request_done(void *data);
static ngx_int_t ngx_http_gateway_cache_plan(ngx_http_request_t *r,
    ngx_http_gateway_cache_loc_conf_t *conf, gw_cache_request_plan_t *plan);
static ngx_int_t ngx_http_gateway_cache_keys(ngx_http_request_t *r,
    ngx_http_gateway_cache_ctx_t *ctx);
static ngx_int_t ngx_http_gateway_cache_decide(ngx_http_request_t *r,
    ngx_http_gateway_cache_ctx_t *ctx);
static ngx_int_t ngx_http_gateway_cache_content_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_gateway_cache_get(ngx_http_gateway_cache_ctx_t *ctx);
static void ngx_http_gateway_cache_got(void *data,
    ngx_http_gateway_redis_reply_t *reply);
static ngx_uint_t ngx_http_gateway_cache_found(
    ngx_http_gateway_cache_ctx_t *ctx, ngx_http_gateway_redis_reply_t *reply);


/* a key this long is put together on the stack, a longer one in the pool */
#define NGX_HTTP_GATEWAY_CACHE_KEY_STACK  256

/* nginx lower-cased every request header's name while parsing */
#define ngx_http_gateway_cache_header_is(h, name)                            \
    ((h)->key.len == sizeof(name) - 1                                         \
     && ngx_strncmp((h)->lowcase_key, name, sizeof(name) - 1) == 0)

static ngx_str_t  ngx_http_gateway_cache_get_method = ngx_string("GET");

static ngx_http_gateway_spares_t  ngx_http_gateway_cache_states =
    ngx_http_gateway_spares(NGX_HTTP_GATEWAY_CACHE_SPARES);


ngx_int_t
ngx_http_gateway_cache_lookup_handler(ngx_http_request_t *r)
{
    gw_cache_request_plan_t             plan;
    ngx_http_gateway_cache_ctx_t       *ctx;
    ngx_http_gateway_cache_loc_conf_t  *conf;

    if (r != r->main) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_gateway_cache_module);

    if (ctx != NULL) {
        if (ctx->wait.parked) {
            return NGX_AGAIN;
        }

        return ctx->looked_up ? ngx_http_gateway_cache_decide(r, ctx)
                              : NGX_DECLINED;
    }

    conf = ngx_http_get_module_loc_conf(r, ngx_http_gateway_cache_module);

    if (!conf->enable) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_gateway_cache_ctx_create(r, conf);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_gateway_cache_plan(r, conf, &plan) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "gateway cache: lookup:%d store:%d reason:%d",
                   plan.lookup, plan.store, plan.reason);

    if (!plan.lookup) {
        ngx_http_gateway_cache_result(ctx, NGX_HTTP_GATEWAY_CACHE_BYPASS);

        if (!plan.store) {
            return NGX_DECLINED;
        }
    }

    if (ngx_http_gateway_cache_keys(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->may_store = plan.store;

    if (!plan.lookup) {
        /* a bypass, the client's no-cache: fetched afresh, may refresh */
        return NGX_DECLINED;
    }

    if (ngx_http_gateway_cache_get(ctx) != NGX_OK) {
        ngx_http_gateway_cache_result(ctx, NGX_HTTP_GATEWAY_CACHE_ERROR);
        ctx->may_store = 0;
        ngx_http_gateway_cache_log_trouble(r->connection->log, conf,
                                           "is not available, requests go "
                                           "to the upstream", NULL);
        return NGX_DECLINED;
    }

    return ngx_http_gateway_park(r, &ctx->wait, NULL, 0);
}


static ngx_http_gateway_cache_ctx_t *
ngx_http_gateway_cache_ctx_create(ngx_http_request_t *r,
    ngx_http_gateway_cache_loc_conf_t *conf)
{
    ngx_pool_cleanup_t            *cln;
    ngx_http_gateway_cache_ctx_t  *ctx;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    ctx = ngx_http_gateway_spare_alloc(&ngx_http_gateway_cache_states,
                                       sizeof(ngx_http_gateway_cache_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    ngx_memzero(ctx, offsetof(ngx_http_gateway_cache_ctx_t, entry));

    ctx->request = r;
    ctx->conf = conf;
    ctx->wait.cleanup = 1;   /* ngx_http_gateway_cache_request_done() */

    cln->handler = ngx_http_gateway_cache_request_done;
    cln->data = ctx;

    ngx_http_set_ctx(r, ctx, ngx_http_gateway_cache_module);

    return ctx;
}


/* The request ends: its state goes now, or with the GET's answer. */

static void
ngx_http_gateway_cache_request_done(void *data)
{
    ngx_http_gateway_cache_ctx_t *ctx = data;

    ngx_http_gateway_wait_done(&ctx->wait);

    /* a fill that completed, or ended, is no longer the request's */

    if (ctx->fill) {
        ngx_http_gateway_cache_fill_abandon(ctx->fill);
    }

    if (ctx->reply) {
        ngx_http_gateway_redis_reply_free(ctx->reply);
    }

    ctx->request = NULL;

    if (!ctx->asking) {
        ngx_http_gateway_spare_free(&ngx_http_gateway_cache_states, ctx);
    }
}


static ngx_int_t
ngx_http_gateway_cache_plan(ngx_http_request_t *r,
    ngx_http_gateway_cache_loc_conf_t *conf, gw_cache_request_plan_t *plan)
{
    ngx_uint_t           i;
    ngx_array_t          cc, pragma, *lines;
    ngx_list_part_t     *part;
    ngx_table_elt_t     *h;
    gw_cache_str_t      *line;
    gw_cache_request_t   request;

    ngx_memzero(&request, sizeof(gw_cache_request_t));

    request.method_cached = (r->method & conf->methods) != 0;
    request.head = r->method == NGX_HTTP_HEAD;
    request.authorization = r->headers_in.authorization != NULL;
    request.cookie = r->headers_in.cookies.nelts != 0;
    request.authorized = conf->authorized;

    if (conf->bypass != NULL) {
        switch (ngx_http_test_predicates(r, conf->bypass)) {

        case NGX_ERROR:
            return NGX_ERROR;

        case NGX_DECLINED:
            request.bypass = 1;
            break;

        default: /* NGX_OK */
            break;
        }
    }

    if (!request.method_cached
        || ((request.authorization || request.cookie) && !conf->authorized))
    {
        gw_cache_request_plan(&request, plan);
        return NGX_OK;
    }

    /* Cache-Control and Pragma lines, in one pass over the headers */

    ngx_memzero(&cc, sizeof(ngx_array_t));
    ngx_memzero(&pragma, sizeof(ngx_array_t));

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (ngx_http_gateway_cache_header_is(&h[i], "cache-control")) {
                lines = &cc;

            } else if (ngx_http_gateway_cache_header_is(&h[i], "pragma")) {
                lines = &pragma;

            } else {
                continue;
            }

            if (lines->elts == NULL
                && ngx_array_init(lines, r->pool, 2, sizeof(gw_cache_str_t))
                   != NGX_OK)
            {
                return NGX_ERROR;
            }

            line = ngx_array_push(lines);
            if (line == NULL) {
                return NGX_ERROR;
            }

            line->data = (const char *) h[i].value.data;
            line->len = h[i].value.len;
        }
    }

    request.cache_control = cc.elts;
    request.cache_control_n = cc.nelts;
    request.pragma = pragma.elts;
    request.pragma_n = pragma.nelts;

    gw_cache_request_plan(&request, plan);

    return NGX_OK;
}


/*
 * The key is evaluated as if a HEAD request were a GET, so that HEAD is
 * answered from the GET's entry whatever the key holds ($request_method
 * is not cacheable: it is read again after the method is put back).
 */

static ngx_int_t
ngx_http_gateway_cache_keys(ngx_http_request_t *r,
    ngx_http_gateway_cache_ctx_t *ctx)
{
    u_char     *p;
    ngx_int_t   rc;
    ngx_str_t   key, method;
    ngx_uint_t  m;
    u_char      buf[NGX_HTTP_GATEWAY_CACHE_KEY_STACK];

    method = r->method_name;
    m = r->method;

    if (m == NGX_HTTP_HEAD) {
        r->method_name = ngx_http_gateway_cache_get_method;
        r->method = NGX_HTTP_GET;
    }

    rc = ngx_http_gateway_key_value(r, ctx->conf->key, buf, sizeof(buf),
                                    &key);

    r->method_name = method;
    r->method = m;

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "gateway cache: key \"%V\"", &key);

    /* a key that may hold an identity is hashed */

    ctx->key_len = gw_cache_entry_key((const char *) key.data, key.len,
                                      ctx->conf->authorized,
                                      (char *) ngx_http_gateway_cache_key(ctx));

    /* the GET around it: "*2\r\n$3\r\nGET\r\n$NN\r\nKEY\r\n" */

    p = ngx_cpymem(ctx->get, "*2\r\n$3\r\nGET\r\n$",
                   sizeof("*2\r\n$3\r\nGET\r\n$") - 1);
    *p++ = (u_char) ('0' + ctx->key_len / 10);
    *p++ = (u_char) ('0' + ctx->key_len % 10);
    *p++ = '\r';
    *p++ = '\n';

    p += ctx->key_len;
    *p++ = '\r';
    *p = '\n';

    return NGX_OK;
}


/* Redis answered (or did not): a hit is served, anything else goes on. */

static ngx_int_t
ngx_http_gateway_cache_decide(ngx_http_request_t *r,
    ngx_http_gateway_cache_ctx_t *ctx)
{
    if (ctx->status == NGX_HTTP_GATEWAY_CACHE_HIT) {
        /* past the other precontent handlers (try_files, fail-fast) */
        ctx->may_store = 0;
        r->content_handler = ngx_http_gateway_cache_content_handler;
        return NGX_OK;
    }

    ctx->looked_up = 0;   /* decided once */

    if (ctx->status == NGX_HTTP_GATEWAY_CACHE_ERROR) {
        ctx->may_store = 0;
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_gateway_cache_content_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_gateway_cache_serve(r);
}


ngx_table_elt_t *
ngx_http_gateway_cache_accept_encoding(ngx_http_request_t *r)
{
#if (NGX_HTTP_GZIP || NGX_HTTP_HEADERS)

    return r->headers_in.accept_encoding;

#else

    ngx_uint_t  n;

    static ngx_http_gateway_header_t  accept_encoding =
        ngx_http_gateway_header("Accept-Encoding", "accept-encoding");

    return ngx_http_gateway_find_request_header(r, &accept_encoding, &n);

#endif
}


static ngx_int_t
ngx_http_gateway_cache_get(ngx_http_gateway_cache_ctx_t *ctx)
{
    /*
     * The client answers exactly once (NULL when late): no timeout here.
     * Without a pool, the command is never detached: ctx waits for it.
     */

    if (ngx_http_gateway_redis_command_encoded(ctx->conf->redis, NULL,
                                       ngx_http_gateway_cache_got, ctx,
                                       ctx->get,
                                       NGX_HTTP_GATEWAY_CACHE_GET_HEAD
                                       + ctx->key_len + 2)
        == NULL)
    {
        return NGX_ERROR;
    }

    ctx->asking = 1;

    return NGX_OK;
}


static void
ngx_http_gateway_cache_got(void *data, ngx_http_gateway_redis_reply_t *reply)
{
    ngx_http_gateway_cache_ctx_t *ctx = data;

    ctx->asking = 0;

    if (ctx->request == NULL) {
        /* the request went away meanwhile */
        ngx_http_gateway_spare_free(&ngx_http_gateway_cache_states, ctx);
        return;
    }

    ngx_http_gateway_cache_result(ctx,
                                  ngx_http_gateway_cache_found(ctx, reply));

    ctx->looked_up = 1;

    /*
     * A miss goes on from here, in the link's read handler. A hit waits
     * for its turn: the request may end at once and free the reply the
     * client still looks at; and so does a failure, which the link reports
     * from deep in its own teardown.
     */

    if (ctx->status == NGX_HTTP_GATEWAY_CACHE_MISS
        || ctx->status == NGX_HTTP_GATEWAY_CACHE_EXPIRED)
    {
        ngx_http_gateway_wake_now(&ctx->wait);

    } else {
        ngx_http_gateway_wake(&ctx->wait);
    }
}


/* What Redis answered means for the request: its $gateway_cache_status. */

static ngx_uint_t
ngx_http_gateway_cache_found(ngx_http_gateway_cache_ctx_t *ctx,
    ngx_http_gateway_redis_reply_t *reply)
{
    gw_cache_str_t            accept_encoding;
    ngx_table_elt_t          *ae;
    ngx_http_request_t       *r;
    gw_cache_entry_status_t   st;

    r = ctx->request;

    if (reply == NULL) {
        ngx_http_gateway_cache_log_trouble(r->connection->log, ctx->conf,
                                           "did not answer in time, "
                                           "requests go to the upstream",
                                           NULL);
        return NGX_HTTP_GATEWAY_CACHE_ERROR;
    }

    switch (reply->type) {

    case NGX_HTTP_GATEWAY_REDIS_STRING:
        break;

    case NGX_HTTP_GATEWAY_REDIS_NIL:
        return NGX_HTTP_GATEWAY_CACHE_MISS;

    default:
        if (reply->type == NGX_HTTP_GATEWAY_REDIS_ERROR
            && reply->str.len >= 9
            && ngx_strncmp(reply->str.data, "WRONGTYPE", 9) == 0)
        {
            /* not an entry: overwritten by the fill */
            return NGX_HTTP_GATEWAY_CACHE_MISS;
        }

        ngx_http_gateway_cache_log_trouble(r->connection->log, ctx->conf,
                                           "answered with an error, requests "
                                           "go to the upstream",
                                           reply->type
                                           == NGX_HTTP_GATEWAY_REDIS_ERROR
                                           ? (char *) reply->str.data : NULL);
        return NGX_HTTP_GATEWAY_CACHE_ERROR;
    }

    st = gw_cache_entry_decode(reply->str.data, reply->str.len, ngx_time(),
                               &ctx->entry);

    switch (st) {

    case GW_CACHE_ENTRY_FRESH:
        ae = ngx_http_gateway_cache_accept_encoding(r);

        accept_encoding.data = ae ? (const char *) ae->value.data : NULL;
        accept_encoding.len = ae ? ae->value.len : 0;

        if (!gw_cache_entry_variant_matches(&ctx->entry, accept_encoding)) {
            /* made for another Accept-Encoding: this one's may replace it */
            return NGX_HTTP_GATEWAY_CACHE_MISS;
        }

        /* a hit is served from the reply itself: kept, not copied */

        ngx_http_gateway_redis_reply_keep(reply);
        ctx->reply = reply;

        return NGX_HTTP_GATEWAY_CACHE_HIT;

    case GW_CACHE_ENTRY_EXPIRED:
        return NGX_HTTP_GATEWAY_CACHE_EXPIRED;

    default: /* GW_CACHE_ENTRY_CORRUPT */
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "gateway cache: the value in gateway_redis \"%V\" is "
                      "not a cache entry, it will be replaced",
                      &ctx->conf->name);
        return NGX_HTTP_GATEWAY_CACHE_MISS;
    }
}
