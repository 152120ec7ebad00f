/*
 * Private to ngx_http_gateway_metrics_module (the metrics and status
 * endpoints): the types and functions its files share.
 *
 *   ngx_http_gateway_metrics_module.c    directives
 *   ngx_http_gateway_metrics_scrape.c    gateway_metrics, part by part
 *   ngx_http_gateway_metrics_upstream.c  upstream response times
 *   ngx_http_gateway_status.c            gateway_status
 */

#ifndef _NGX_HTTP_GATEWAY_METRICS_H_INCLUDED_
#define _NGX_HTTP_GATEWAY_METRICS_H_INCLUDED_


#include "ngx_http_gateway.h"


/* an upstream block and its series, in a table sorted by the block */
typedef struct {
    ngx_http_upstream_srv_conf_t      *upstream;
    ngx_http_gateway_stat_t           *responses;
} ngx_http_gateway_metrics_upstream_t;


typedef struct {
    ngx_uint_t                         buckets_set;
    ngx_http_gateway_metrics_upstream_t *upstreams;
    ngx_uint_t                         nupstreams;
} ngx_http_gateway_metrics_main_conf_t;


extern ngx_module_t  ngx_http_gateway_metrics_module;


ngx_int_t ngx_http_gateway_metrics_handler(ngx_http_request_t *r);
void ngx_http_gateway_metrics_content_type(ngx_http_request_t *r,
    ngx_str_t *type);
ngx_int_t ngx_http_gateway_metrics_send(ngx_http_request_t *r,
    ngx_str_t *type, ngx_chain_t *out);
ngx_int_t ngx_http_gateway_metrics_upstream_init(ngx_conf_t *cf);
ngx_int_t ngx_http_gateway_status_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_GATEWAY_METRICS_H_INCLUDED_ */
