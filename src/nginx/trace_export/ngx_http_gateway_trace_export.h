/*
 * Span export over OTLP/HTTP: one SERVER span per sampled client request,
 * ended in the log phase, batched per worker and posted to a collector on
 * a background link.
 */

#ifndef _NGX_HTTP_GATEWAY_TRACE_EXPORT_H_INCLUDED_
#define _NGX_HTTP_GATEWAY_TRACE_EXPORT_H_INCLUDED_


#include "ngx_http_gateway.h"
#include "gw_otlp.h"


/* Most gateway_trace_attr a location may add to its spans. */
#define NGX_HTTP_GATEWAY_TRACE_MAX_ATTRS  32


typedef struct {
    ngx_str_t                   name;
    gw_otlp_key_t               key;          /* name, encoded */
    ngx_http_complex_value_t   *value;
} ngx_http_gateway_trace_attr_t;


/*
 * The keys of the span's attributes: the route, the request id and the
 * gateway's decisions (in ngx_http_gateway_decision_e order), the JWT's
 * sub (from the token: its variable escapes control bytes for logs and
 * headers, a span carries the claim as it is), the conventions' strings,
 * then its integers; last the connection's, encoded once per connection.
 */
typedef enum {
    NGX_HTTP_GATEWAY_TRACE_KEY_ROUTE = 0,
    NGX_HTTP_GATEWAY_TRACE_KEY_REQUEST_ID,
    NGX_HTTP_GATEWAY_TRACE_KEY_DECISIONS,
    NGX_HTTP_GATEWAY_TRACE_KEY_JWT_SUB = NGX_HTTP_GATEWAY_TRACE_KEY_DECISIONS
                                         + NGX_HTTP_GATEWAY_DECISIONS,
    NGX_HTTP_GATEWAY_TRACE_KEY_METHOD,
    NGX_HTTP_GATEWAY_TRACE_KEY_METHOD_ORIGINAL,
    NGX_HTTP_GATEWAY_TRACE_KEY_URL_PATH,
    NGX_HTTP_GATEWAY_TRACE_KEY_PROTOCOL,
    NGX_HTTP_GATEWAY_TRACE_KEY_SERVER_ADDRESS,
    NGX_HTTP_GATEWAY_TRACE_KEY_USER_AGENT,
    NGX_HTTP_GATEWAY_TRACE_KEY_PEER_ADDRESS,
    NGX_HTTP_GATEWAY_TRACE_STRS,
    NGX_HTTP_GATEWAY_TRACE_KEY_STATUS = NGX_HTTP_GATEWAY_TRACE_STRS,
    NGX_HTTP_GATEWAY_TRACE_KEY_PEER_PORT,
    NGX_HTTP_GATEWAY_TRACE_REQUEST_KEYS,
    NGX_HTTP_GATEWAY_TRACE_KEY_URL_SCHEME = NGX_HTTP_GATEWAY_TRACE_REQUEST_KEYS,
    NGX_HTTP_GATEWAY_TRACE_KEY_CLIENT_ADDRESS,
    NGX_HTTP_GATEWAY_TRACE_KEY_SERVER_PORT,
    NGX_HTTP_GATEWAY_TRACE_KEYS
} ngx_http_gateway_trace_key_e;


typedef struct {
    ngx_str_t                   collector;    /* HOST:PORT; empty: no export */
    ngx_http_gateway_link_t    *link;
    ngx_str_t                   path;
    ngx_uint_t                  batch;
    ngx_uint_t                  queue;
    ngx_msec_t                  interval;
    ngx_array_t                *headers;      /* of ngx_str_t "Name: value" */
    ngx_str_t                   service;
    gw_otlp_key_t               keys[NGX_HTTP_GATEWAY_TRACE_KEYS];
    ngx_str_t                   request_head; /* the POST up to Content-Length */
    ngx_http_gateway_stat_t    *spans;        /* gateway_trace_spans_total */
    ngx_http_gateway_stat_t    *errors;       /* gateway_trace_export_errors_total */
} ngx_http_gateway_trace_export_main_conf_t;


typedef struct {
    ngx_array_t                *attrs;        /* of ngx_http_gateway_trace_attr_t */
} ngx_http_gateway_trace_export_loc_conf_t;


/* the cells of gateway_trace_spans_total{result} */
enum {
    NGX_HTTP_GATEWAY_TRACE_EXPORTED = 0,
    NGX_HTTP_GATEWAY_TRACE_DROPPED,
    NGX_HTTP_GATEWAY_TRACE_REJECTED
};


extern ngx_module_t  ngx_http_gateway_trace_export_module;


/*
 * Ends the span of a request whose trace is sampled: encodes it into this
 * worker's queue. NGX_OK, NGX_BUSY (the queue is full) or NGX_ERROR.
 */
ngx_int_t ngx_http_gateway_trace_span_end(ngx_http_request_t *r,
    gw_trace_t *trace, ngx_http_gateway_trace_export_main_conf_t *tmcf,
    gw_otlp_batcher_t *b);

/* The span's attribute keys, encoded into tmcf->keys. */
ngx_int_t ngx_http_gateway_trace_span_keys(ngx_conf_t *cf,
    ngx_http_gateway_trace_export_main_conf_t *tmcf);

/* An attribute key, encoded in cf's pool. */
ngx_int_t ngx_http_gateway_trace_key(ngx_conf_t *cf, ngx_str_t *name,
    gw_otlp_key_t *key);

/* The worker's exporter (ngx_http_gateway_trace_exporter.c). */
ngx_int_t ngx_http_gateway_trace_exporter_start(ngx_cycle_t *cycle,
    ngx_http_gateway_trace_export_main_conf_t *tmcf);
void ngx_http_gateway_trace_exporter_stop(ngx_cycle_t *cycle);
void ngx_http_gateway_trace_exporter_add(ngx_http_request_t *r);


#endif /* _NGX_HTTP_GATEWAY_TRACE_EXPORT_H_INCLUDED_ */
