/*
 * Rate limiting: the request's state once decided, and
 * $gateway_rate_limit_status.
 */

#include "ngx_http_gateway_rate_limit.h"


static ngx_str_t *ngx_http_gateway_rl_status(ngx_http_request_t *r);


static ngx_http_variable_t  ngx_http_gateway_rl_vars[] = {

    { ngx_string("gateway_rate_limit_status"), NULL,
      ngx_http_gateway_decision_variable, NGX_HTTP_GATEWAY_DECISION_RATE_LIMIT,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_str_t  ngx_http_gateway_rl_status_names[] = {
    ngx_null_string,
    ngx_string("PASSED"),
    ngx_string("REJECTED"),
    ngx_string("REJECTED_DRY_RUN")
};


/* The request's state, if rate limiting looked at it. */

ngx_http_gateway_rl_ctx_t *
ngx_http_gateway_rl_get_ctx(ngx_http_request_t *r)
{
    ngx_http_gateway_rl_ctx_t  *ctx;

    ctx = ngx_http_gateway_request_state_find(r,
                                          &ngx_http_gateway_rate_limit_module);

    if (ctx == NULL || !ctx->done || ctx->nitems == 0) {
        return NULL;
    }

    return ctx;
}


static ngx_str_t *
ngx_http_gateway_rl_status(ngx_http_request_t *r)
{
    ngx_http_gateway_rl_ctx_t  *ctx;

    ctx = ngx_http_gateway_rl_get_ctx(r);

    if (ctx == NULL || ctx->status == 0) {
        return NULL;
    }

    return &ngx_http_gateway_rl_status_names[ctx->status];
}


ngx_int_t
ngx_http_gateway_rl_add_variables(ngx_conf_t *cf)
{
    ngx_http_gateway_decision_reader(cf, NGX_HTTP_GATEWAY_DECISION_RATE_LIMIT,
                                     ngx_http_gateway_rl_status);

    return ngx_http_gateway_register_variables(cf, ngx_http_gateway_rl_vars);
}
