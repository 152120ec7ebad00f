/*
 * Registration of the gateway's variables, the record of its decisions
 * that some of them show, and compiling directive values that hold
 * variables.
 */

#include "ngx_http_gateway.h"


ngx_int_t
ngx_http_gateway_register_variables(ngx_conf_t *cf, ngx_http_variable_t *vars)
{
    ngx_http_variable_t  *var, *v;

    for (v = vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


void
ngx_http_gateway_decide(ngx_http_request_t *r,
    ngx_http_gateway_decision_e decision, ngx_str_t *name)
{
    ngx_http_gateway_decisions_t  *d;

    d = ngx_http_gateway_request_state(r, &ngx_http_gateway_module,
                                       sizeof(ngx_http_gateway_decisions_t));
    if (d == NULL) {
        return;
    }

    if (name) {
        d->name[decision] = *name;

    } else {
        ngx_str_null(&d->name[decision]);
    }
}


ngx_int_t
ngx_http_gateway_decision_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_gateway_decisions_t  *d;

    d = ngx_http_gateway_decisions(r);

    if (d == NULL || d->name[data].len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = d->name[data].len;
    v->data = d->name[data].data;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


ngx_http_complex_value_t *
ngx_http_gateway_compile_complex_value(ngx_conf_t *cf, ngx_str_t *value)
{
    ngx_http_complex_value_t          *cv;
    ngx_http_compile_complex_value_t   ccv;

    cv = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (cv == NULL) {
        return NULL;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = value;
    ccv.complex_value = cv;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NULL;
    }

    return cv;
}
