/*
 * Rate limiting: the request's state once decided, and
 * $gateway_rate_limit_status.
 */

#include "ngx_http_gateway_rate_limit.h"


static ngx_int_t ngx_http_gateway_rl_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t  ngx_http_gateway_rl_vars[] = {

    { ngx_string("gateway_rate_limit_status"), NULL,
      ngx_http_gateway_rl_status_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

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


static ngx_int_t
ngx_http_gateway_rl_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_gateway_rl_ctx_t  *ctx;

    ctx = ngx_http_gateway_rl_get_ctx(r);

    if (ctx == NULL || ctx->status == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = ngx_http_gateway_rl_status_names[ctx->status].len;
    v->data = ngx_http_gateway_rl_status_names[ctx->status].data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


ngx_int_t
ngx_http_gateway_rl_add_variables(ngx_conf_t *cf)
{
    return ngx_http_gateway_register_variables(cf, ngx_http_gateway_rl_vars);
}
