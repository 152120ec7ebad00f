/*
 * Rate limiting: what the response tells the client (Retry-After on a
 * rejection, and the IETF or legacy RateLimit headers).
 */

#include "ngx_http_gateway_rate_limit.h"


static ngx_int_t ngx_http_gateway_rl_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_gateway_rl_ietf_headers(ngx_http_request_t *r,
    ngx_http_gateway_rl_ctx_t *ctx);
static ngx_int_t ngx_http_gateway_rl_legacy_headers(ngx_http_request_t *r,
    ngx_http_gateway_rl_ctx_t *ctx);


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


void
ngx_http_gateway_rl_header_filter_init(void)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_gateway_rl_header_filter;
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
