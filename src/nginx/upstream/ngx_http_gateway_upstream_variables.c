/*
 * Per request state of the gateway balancer and the variables that show
 * it: $gateway_upstream_peer and $gateway_circuit_state.
 */

#include "ngx_http_gateway_upstream.h"


static ngx_int_t ngx_http_gateway_upstream_peer_variable(
    ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t data);
static ngx_str_t *ngx_http_gateway_upstream_state(ngx_http_request_t *r);


static ngx_http_variable_t  ngx_http_gateway_upstream_vars[] = {

    { ngx_string("gateway_upstream_peer"), NULL,
      ngx_http_gateway_upstream_peer_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("gateway_circuit_state"), NULL,
      ngx_http_gateway_decision_variable, NGX_HTTP_GATEWAY_DECISION_CIRCUIT,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


/* gw_circuit_state_name()'s words by state */
static ngx_str_t  ngx_http_gateway_circuit_names[GW_CIRCUIT_HALF_OPEN + 1];


ngx_http_gateway_upstream_ctx_t *
ngx_http_gateway_upstream_ctx(ngx_http_request_t *r)
{
    return ngx_http_gateway_request_state_own(r,
                                     &ngx_http_gateway_upstream_module,
                                     sizeof(ngx_http_gateway_upstream_ctx_t));
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


/* $gateway_circuit_state: the state the request met, its state not made */

static ngx_str_t *
ngx_http_gateway_upstream_state(ngx_http_request_t *r)
{
    ngx_http_gateway_upstream_ctx_t  *ctx;

    ctx = (r == r->main)
          ? ngx_http_gateway_request_state_find(r,
                                           &ngx_http_gateway_upstream_module)
          : ngx_http_get_module_ctx(r, ngx_http_gateway_upstream_module);

    if (ctx == NULL || !ctx->set || ctx->state > GW_CIRCUIT_HALF_OPEN) {
        return NULL;
    }

    return &ngx_http_gateway_circuit_names[ctx->state];
}


ngx_int_t
ngx_http_gateway_upstream_add_variables(ngx_conf_t *cf)
{
    ngx_uint_t  i;

    for (i = 0; i <= GW_CIRCUIT_HALF_OPEN; i++) {
        ngx_http_gateway_circuit_names[i].data =
                                      (u_char *) gw_circuit_state_name((int) i);
        ngx_http_gateway_circuit_names[i].len =
                            ngx_strlen(ngx_http_gateway_circuit_names[i].data);
    }

    ngx_http_gateway_decision_reader(cf, NGX_HTTP_GATEWAY_DECISION_CIRCUIT,
                                     ngx_http_gateway_upstream_state);

    return ngx_http_gateway_register_variables(cf,
                                               ngx_http_gateway_upstream_vars);
}
