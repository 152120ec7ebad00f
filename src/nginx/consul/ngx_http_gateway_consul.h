/*
 * Private to ngx_http_gateway_consul_module (Consul service discovery):
 * the types and functions its files share.
 *
 *   ngx_http_gateway_consul_module.c   directives, configuration, zones
 *   ngx_http_gateway_consul_peers.c    Consul's peers as upstream peers
 *   ngx_http_gateway_consul_dump.c     the dump file, read and written
 */

#ifndef _NGX_HTTP_GATEWAY_CONSUL_H_INCLUDED_
#define _NGX_HTTP_GATEWAY_CONSUL_H_INCLUDED_


#include "ngx_http_gateway.h"
#include "ngx_http_gateway_upstream_peers.h"
#include "gw_consul.h"


typedef struct ngx_http_gateway_consul_conf_s  ngx_http_gateway_consul_conf_t;
typedef struct ngx_http_gateway_consul_dump_s  ngx_http_gateway_consul_dump_t;


/* one gateway_consul, inside an upstream{} */
struct ngx_http_gateway_consul_conf_s {
    ngx_str_t                          service;
    ngx_str_t                          tag;
    ngx_str_t                          dc;
    ngx_str_t                          token;
    ngx_msec_t                         wait;
    ngx_str_t                          dump;        /* full path, or empty */
    ngx_uint_t                         max_peers;
    ngx_flag_t                         empty_allow;

    ngx_http_upstream_srv_conf_t      *upstream;
    u_char                            *file;        /* where it is declared */
    ngx_uint_t                         line;

#if (NGX_THREADS)
    ngx_thread_pool_t                 *thread_pool; /* writes the dump */
#endif
    ngx_http_gateway_consul_dump_t    *dump_state;  /* per process */
};


/* Consul's peers as the upstream takes them */

/*
 * The upstream peer of an IP peer (its name is the address as nginx
 * prints it), allocated in pool; NGX_DECLINED for a host name.
 */
ngx_int_t ngx_http_gateway_consul_ip_peer(ngx_pool_t *pool,
    const gw_consul_peer_t *peer, ngx_http_gateway_upstream_peer_t *out);


/* the dump file */

/*
 * At configuration time: the set saved in ccf->dump when the file is newer
 * than the configuration file that declares it (*n = 0 otherwise); a file
 * that cannot be used is reported at warn and ignored.
 */
ngx_int_t ngx_http_gateway_consul_dump_load(ngx_conf_t *cf,
    ngx_http_gateway_consul_conf_t *ccf,
    ngx_http_gateway_upstream_peer_t **peers, ngx_uint_t *n);

/*
 * In the polling worker, after a set was published: writes it to
 * ccf->dump (a temporary file renamed into place), in a thread of nginx's
 * default pool when nginx has threads. A set given while a write is under
 * way is written after it.
 */
void ngx_http_gateway_consul_dump_save(ngx_http_gateway_consul_conf_t *ccf,
    const gw_consul_peer_t *peers, size_t n, uint64_t index, ngx_log_t *log);


#endif /* _NGX_HTTP_GATEWAY_CONSUL_H_INCLUDED_ */
