/*
 * Per request state of the gateway balancer and the variables that show
 * it: $gateway_upstream_peer and $gateway_circuit_state.
 */

#include "ngx_http_gateway_upstream.h"


static ngx_int_t ngx_http_gateway_upstream_peer_variable(
    ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_gateway_upstream_state_variable(
    ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t  ngx_http_gateway_upstream_vars[] = {

    { ngx_string("gateway_upstream_peer"), NULL,
      ngx_http_gateway_upstream_peer_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("gateway_circuit_state"), NULL,
      ngx_http_gateway_upstream_state_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_http_gateway_upstream_ctx_t *
ngx_http_gateway_upstream_ctx(ngx_http_request_t *r)
{
    return ngx_http_gateway_request_state_own(r,
                                     &ngx_http_gateway_upstream_module,
                                     sizeof(ngx_http_gateway_upstream_ctx_t));
}


void
ngx_http_gateway_upstream_decided(ngx_http_request_t *r,
    ngx_http_gateway_upstream_ctx_t *ctx)
{
    ngx_str_t  name;

    if (r != r->main) {
        return;
    }

    name.data = (u_char *) gw_circuit_state_name((int) ctx->state);
    name.len = ngx_strlen(name.data);

    ngx_http_gateway_decide(r, NGX_HTTP_GATEWAY_DECISION_CIRCUIT, &name);
}


static ngx_int_t
ngx_http_gateway_upstream_peer_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_gateway_upstream_ctx_t  *ctx;

    ctx = ngx_http_gateway_upstream_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    if (!ctx->set || ctx->peer.len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = ctx->peer.len;
    v->data = ctx->peer.data;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_gateway_upstream_state_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    const char                       *name;
    ngx_http_gateway_upstream_ctx_t  *ctx;

    ctx = ngx_http_gateway_upstream_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    if (!ctx->set) {
        v->not_found = 1;
        return NGX_OK;
    }

    name = gw_circuit_state_name((int) ctx->state);

    v->len = ngx_strlen(name);
    v->data = (u_char *) name;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


ngx_int_t
ngx_http_gateway_upstream_add_variables(ngx_conf_t *cf)
{
    return ngx_http_gateway_register_variables(cf,
                                               ngx_http_gateway_upstream_vars);
}
