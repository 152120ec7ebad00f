/*
 * The peer table of a gateway upstream, as a peer source (Consul
 * discovery) sees it: it declares itself inside upstream{} at
 * configuration time, then publishes whole peer sets at run time. A
 * published set replaces the upstream's primary peers (its "server"
 * lines are the set until the first one; "backup" servers stay); peers
 * that stay keep their breaker and connection count, removed ones stop
 * being chosen at once and their slots are reused only once no request
 * holds them. The set lives in the upstream's shared zone, so every
 * worker's balancer sees it on its next request, and a reload keeps it
 * while the source's key is the same.
 */

#ifndef _NGX_HTTP_GATEWAY_UPSTREAM_PEERS_H_INCLUDED_
#define _NGX_HTTP_GATEWAY_UPSTREAM_PEERS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


typedef struct {
    ngx_str_t                          name;      /* its address as text */
    struct sockaddr                   *sockaddr;
    socklen_t                          socklen;
    ngx_uint_t                         weight;    /* 0: never chosen */
} ngx_http_gateway_upstream_peer_t;


/*
 * From a directive inside upstream{}: the gateway balancer serves this
 * upstream, and a source with up to max_peers peers feeds it. key names
 * the source: a reload keeps the set last published while the key stays
 * the same. When the zone holds no set of this source yet, the table
 * starts with bootstrap[0..nbootstrap) (a set saved earlier) if there is
 * one, else with the configured servers.
 */
char *ngx_http_gateway_upstream_add_source(ngx_conf_t *cf, ngx_str_t *key,
    ngx_uint_t max_peers, ngx_http_gateway_upstream_peer_t *bootstrap,
    ngx_uint_t nbootstrap);

/*
 * Replaces the upstream's primary peers by peers[0..n) (distinct names),
 * under the zone's mutex. NGX_ERROR, logged, leaves the table unchanged.
 */
ngx_int_t ngx_http_gateway_upstream_publish(ngx_http_upstream_srv_conf_t *us,
    ngx_http_gateway_upstream_peer_t *peers, ngx_uint_t n, ngx_log_t *log);


#endif /* _NGX_HTTP_GATEWAY_UPSTREAM_PEERS_H_INCLUDED_ */
