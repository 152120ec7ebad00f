/*
 * Rate limiting: the request's state once decided, and
 * $gateway_rate_limit_status.
 */

#include "ngx_http_gateway_rate_limit.h"


static ngx_http_variable_t  ngx_http_gateway_rl_vars[] = {

    { ngx_string("gateway_rate_limit_status"), NULL,
      ngx_http_gateway_decision_variable, NGX_HTTP_GATEWAY_DECISION_RATE_LIMIT,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
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


ngx_int_t
ngx_http_gateway_rl_add_variables(ngx_conf_t *cf)
{
    return ngx_http_gateway_register_variables(cf, ngx_http_gateway_rl_vars);
}
