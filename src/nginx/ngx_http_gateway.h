/*
 * Helpers shared by the gateway's nginx modules.
 */

#ifndef _NGX_HTTP_GATEWAY_H_INCLUDED_
#define _NGX_HTTP_GATEWAY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


typedef ngx_int_t (*ngx_http_gateway_access_pt)(ngx_http_request_t *r);

/* The access phase handler running the gateway's checks in order. */
ngx_int_t ngx_http_gateway_access_handler(ngx_http_request_t *r);

/* The checks, in the order they run. */
ngx_int_t ngx_http_gateway_rate_limit_check(ngx_http_request_t *r);

/*
 * Per main request state of a module that survives internal redirects
 * (which clear r->ctx), so work is done once per client request.
 * Returns the zeroed state on first use, NULL when out of memory.
 */
void *ngx_http_gateway_request_state(ngx_http_request_t *r,
    ngx_module_t *module, size_t size);

/* Adds a ngx_http_null_variable terminated list of variables. */
ngx_int_t ngx_http_gateway_register_variables(ngx_conf_t *cf,
    ngx_http_variable_t *vars);

/* Fills buf with unpredictable bytes. */
void ngx_http_gateway_random(u_char *buf, size_t len);

/* The first request header called name, and how many there are. */
ngx_table_elt_t *ngx_http_gateway_find_request_header(ngx_http_request_t *r,
    ngx_str_t *name, ngx_uint_t *count);

/*
 * Replaces every request header called name with one holding value (none
 * when value is NULL), so what goes upstream cannot be spoofed by a client.
 */
ngx_int_t ngx_http_gateway_set_request_header(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *value);

/* Replaces every response header called name with one holding value. */
ngx_int_t ngx_http_gateway_set_response_header(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *value);


#endif /* _NGX_HTTP_GATEWAY_H_INCLUDED_ */
