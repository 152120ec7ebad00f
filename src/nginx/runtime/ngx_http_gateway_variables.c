/*
 * Registration of the gateway's variables, the readers of the decisions
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
ngx_http_gateway_decision_reader(ngx_conf_t *cf,
    ngx_http_gateway_decision_e decision, ngx_http_gateway_decision_pt reader)
{
    ngx_http_gateway_main_conf_t  *gmcf;

    gmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_gateway_module);
    gmcf->decisions[decision] = reader;
}


ngx_str_t *
ngx_http_gateway_decision(ngx_http_request_t *r,
    ngx_http_gateway_decision_e decision)
{
    ngx_http_gateway_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gateway_module);

    return gmcf->decisions[decision] ? gmcf->decisions[decision](r) : NULL;
}


ngx_int_t
ngx_http_gateway_decision_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t  *name;

    name = ngx_http_gateway_decision(r, data);

    if (name == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = name->len;
    v->data = name->data;
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
