/*
 * Filling the cache: the header filter asks the core whether the response
 * may be stored, asks Redis for the fill lock and writes the entry's head
 * (a response that is not stored costs Redis nothing); the body filter
 * copies each
 * buffer into the entry before passing it on unchanged, so the client is
 * never kept waiting; the last buffer completes the entry, which the fill
 * (ngx_http_gateway_cache_fill.c) sends to Redis. A body beyond
 * gateway_cache_max_size stops the copy and is not stored.
 *
 * Both filters are installed last and so run first: they see the upstream's
 * response before add_header, gzip or the gateway's own headers change it,
 * and a hit goes through those filters again.
 */

#include "ngx_http_gateway_cache.h"


#define NGX_HTTP_GATEWAY_CACHE_FIRST_BODY  16384

/* a response with no more headers is looked at without the pool's memory */
#define NGX_HTTP_GATEWAY_CACHE_STACK_HEADERS  24


static ngx_int_t ngx_http_gateway_cache_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_gateway_cache_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_gateway_cache_start(ngx_http_request_t *r,
    ngx_http_gateway_cache_ctx_t *ctx);
static ngx_int_t ngx_http_gateway_cache_response(ngx_http_request_t *r,
    gw_cache_response_t *resp, gw_cache_str_t *stack, gw_cache_str_t **fields,
    ngx_uint_t *nfields);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


#define ngx_http_gateway_cache_name_is(h, text)                              \
    ((h)->key.len == sizeof(text) - 1                                         \
     && ngx_strncasecmp((h)->key.data, (u_char *) text, sizeof(text) - 1)     \
        == 0)


ngx_int_t
ngx_http_gateway_cache_filters_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_gateway_cache_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_gateway_cache_body_filter;

    return NGX_OK;
}


static ngx_int_t
ngx_http_gateway_cache_header_filter(ngx_http_request_t *r)
{
    ngx_http_gateway_cache_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_gateway_cache_module);

    if (r == r->main && ctx != NULL && ctx->may_store && !r->header_only) {
        ctx->may_store = 0;   /* one response per request is looked at */

        if (ngx_http_gateway_cache_start(r, ctx) != NGX_OK
            && ctx->fill != NULL)
        {
            ngx_http_gateway_cache_fill_abandon(ctx->fill);
        }
    }

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_gateway_cache_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_chain_t                   *cl;
    ngx_http_gateway_cache_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_gateway_cache_module);

    if (r != r->main || ctx == NULL || ctx->fill == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    /* copied before the next filters, which may consume the buffers */

    for (cl = in; cl; cl = cl->next) {
        if (ngx_http_gateway_cache_fill_append(ctx->fill, cl->buf) != NGX_OK) {
            ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "gateway cache: not stored, body above max size");

            ngx_http_gateway_cache_fill_abandon(ctx->fill);
            break;
        }

        if (cl->buf->last_buf) {
            ngx_http_gateway_cache_fill_complete(ctx->fill);
            break;
        }
    }

    return ngx_http_next_body_filter(r, in);
}


/* The core's verdict on the response, and the entry's head written. */

static ngx_int_t
ngx_http_gateway_cache_start(ngx_http_request_t *r,
    ngx_http_gateway_cache_ctx_t *ctx)
{
    u_char                 *p;
    size_t                  head, size;
    ngx_uint_t              nfields;
    gw_cache_str_t         *fields;
    gw_cache_str_t          stack[4 * NGX_HTTP_GATEWAY_CACHE_STACK_HEADERS];
    ngx_table_elt_t        *ae;
    gw_cache_limits_t       limits;
    gw_cache_response_t     resp;
    gw_cache_entry_meta_t   meta;
    gw_cache_store_plan_t   plan;

    if (ngx_http_gateway_cache_response(r, &resp, stack, &fields, &nfields)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    limits.default_ttl = (uint32_t) ngx_min(ctx->conf->ttl,
                                            GW_CACHE_MAX_LIFETIME);
    limits.max_size = ctx->conf->max_size;

    if (gw_cache_response_plan(&resp, &limits, ngx_time(), &plan)
        != GW_CACHE_STORE_OK)
    {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "gateway cache: not stored, reason %d", plan.reason);
        return NGX_DECLINED;
    }

    ngx_memzero(&meta, sizeof(gw_cache_entry_meta_t));

    meta.status = resp.status;
    meta.stored_at = ngx_time();
    meta.initial_age = plan.initial_age;
    meta.lifetime = plan.lifetime;
    meta.varies = plan.varies;

    if (plan.varies) {
        ae = ngx_http_gateway_cache_accept_encoding(r);

        if (ae != NULL) {
            meta.variant.data = (const char *) ae->value.data;
            meta.variant.len = ae->value.len;
        }
    }

    head = gw_cache_entry_head_size(&meta, fields, nfields);

    if (head == 0) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "gateway cache: not stored, headers cannot be kept");
        return NGX_DECLINED;
    }

    ctx->fill = ngx_http_gateway_cache_fill_create(ctx, plan.ttl_ms);
    if (ctx->fill == NULL) {
        return NGX_DECLINED;
    }

    size = resp.content_length >= 0
           ? (size_t) resp.content_length
           : ngx_min(ctx->conf->max_size, NGX_HTTP_GATEWAY_CACHE_FIRST_BODY);

    p = ngx_http_gateway_cache_fill_start(ctx->fill, head, size);
    if (p == NULL) {
        return NGX_ERROR;
    }

    if (gw_cache_entry_write_head(p, head, &meta, fields, nfields, 0)
        != head)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * What the core needs to know of the response, and its headers as name
 * and value pairs (Content-Type first), all pointing into nginx's memory;
 * the lists are in stack (4 * NGX_HTTP_GATEWAY_CACHE_STACK_HEADERS) when
 * they fit.
 */

static ngx_int_t
ngx_http_gateway_cache_response(ngx_http_request_t *r,
    gw_cache_response_t *resp, gw_cache_str_t *stack, gw_cache_str_t **fields,
    ngx_uint_t *nfields)
{
    ngx_uint_t          i, n, k, ncc, nvary;
    gw_cache_str_t     *f, *cc, *vary;
    ngx_list_part_t    *part;
    ngx_table_elt_t    *h;

    ngx_memzero(resp, sizeof(gw_cache_response_t));

    resp->status = r->headers_out.status;
    resp->content_length = r->headers_out.content_length_n;
    resp->expires = GW_CACHE_TIME_ABSENT;
    resp->date = GW_CACHE_TIME_ABSENT;

    n = 1;

    for (part = &r->headers_out.headers.part; part; part = part->next) {
        n += part->nelts;
    }

    f = stack;

    if (n > NGX_HTTP_GATEWAY_CACHE_STACK_HEADERS) {
        f = ngx_palloc(r->pool, 4 * n * sizeof(gw_cache_str_t));
        if (f == NULL) {
            return NGX_ERROR;
        }
    }

    cc = f + 2 * n;
    vary = cc + n;
    k = 0;
    ncc = 0;
    nvary = 0;

    if (r->headers_out.content_type.len) {
        f[0].data = "Content-Type";
        f[0].len = sizeof("Content-Type") - 1;
        f[1].data = (const char *) r->headers_out.content_type.data;
        f[1].len = r->headers_out.content_type.len;
        k = 1;
    }

    for (part = &r->headers_out.headers.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (h[i].hash == 0) {
                continue;
            }

            f[2 * k].data = (const char *) h[i].key.data;
            f[2 * k].len = h[i].key.len;
            f[2 * k + 1].data = (const char *) h[i].value.data;
            f[2 * k + 1].len = h[i].value.len;
            k++;

            if (ngx_http_gateway_cache_name_is(&h[i], "Cache-Control")) {
                cc[ncc].data = (const char *) h[i].value.data;
                cc[ncc++].len = h[i].value.len;

            } else if (ngx_http_gateway_cache_name_is(&h[i], "Vary")) {
                vary[nvary].data = (const char *) h[i].value.data;
                vary[nvary++].len = h[i].value.len;

            } else if (ngx_http_gateway_cache_name_is(&h[i], "Age")) {
                if (resp->age.data == NULL) {
                    resp->age.data = (const char *) h[i].value.data;
                    resp->age.len = h[i].value.len;
                }

            } else if (ngx_http_gateway_cache_name_is(&h[i], "Set-Cookie")) {
                resp->set_cookie = 1;

            } else if (ngx_http_gateway_cache_name_is(&h[i], "Expires")) {
                resp->expires = ngx_parse_http_time(h[i].value.data,
                                                    h[i].value.len);
                if (resp->expires == NGX_ERROR) {
                    resp->expires = GW_CACHE_TIME_INVALID;
                }
            }
        }
    }

    /* Date counts only against Expires */

    if (resp->expires != GW_CACHE_TIME_ABSENT
        && r->upstream && r->upstream->headers_in.date)
    {
        h = r->upstream->headers_in.date;
        resp->date = ngx_parse_http_time(h->value.data, h->value.len);

        if (resp->date == NGX_ERROR) {
            resp->date = GW_CACHE_TIME_INVALID;
        }
    }

    resp->cache_control = cc;
    resp->cache_control_n = ncc;
    resp->vary = vary;
    resp->vary_n = nvary;

    *fields = f;
    *nfields = k;

    return NGX_OK;
}
