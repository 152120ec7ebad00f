/*
 * Between the configuration and the core: the query a gateway_consul
 * sends, and Consul's peers (gw_consul_peer_t, from a reply or a dump
 * file) as the upstream's peer table takes them.
 */

#include "ngx_http_gateway_consul.h"


ngx_int_t
ngx_http_gateway_consul_ip_peer(ngx_pool_t *pool, const gw_consul_peer_t *peer,
    ngx_http_gateway_upstream_peer_t *out)
{
    socklen_t             len;
    struct sockaddr      *sa;
    struct sockaddr_in   *sin;
#if (NGX_HAVE_INET6)
    struct sockaddr_in6  *sin6;
#endif

    switch (peer->kind) {

    case GW_CONSUL_IPV4:
        len = sizeof(struct sockaddr_in);
        break;

#if (NGX_HAVE_INET6)
    case GW_CONSUL_IPV6:
        len = sizeof(struct sockaddr_in6);
        break;
#endif

    default:
        return NGX_DECLINED;
    }

    sa = ngx_pcalloc(pool, len);
    out->name.data = ngx_pnalloc(pool, NGX_SOCKADDR_STRLEN);
    if (sa == NULL || out->name.data == NULL) {
        return NGX_ERROR;
    }

    if (peer->kind == GW_CONSUL_IPV4) {
        sin = (struct sockaddr_in *) sa;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(peer->port);
        ngx_memcpy(&sin->sin_addr, peer->addr, 4);

#if (NGX_HAVE_INET6)
    } else {
        sin6 = (struct sockaddr_in6 *) sa;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(peer->port);
        ngx_memcpy(&sin6->sin6_addr, peer->addr, 16);
#endif
    }

    /* named as nginx names a server's address, so a peer that is also a
     * "server" line keeps one slot (and one breaker) */
    out->name.len = ngx_sock_ntop(sa, len, out->name.data, NGX_SOCKADDR_STRLEN,
                                  1);
    out->sockaddr = sa;
    out->socklen = len;
    out->weight = peer->weight;

    return NGX_OK;
}


void
ngx_http_gateway_consul_query(ngx_http_gateway_consul_conf_t *ccf,
    ngx_str_t *host, gw_consul_query_t *q)
{
    ngx_memzero(q, sizeof(gw_consul_query_t));

    q->service = (char *) ccf->service.data;
    q->service_len = ccf->service.len;
    q->tag = (char *) ccf->tag.data;
    q->tag_len = ccf->tag.len;
    q->dc = (char *) ccf->dc.data;
    q->dc_len = ccf->dc.len;
    q->token = (char *) ccf->token.data;
    q->token_len = ccf->token.len;
    q->host = (char *) host->data;
    q->host_len = host->len;
    q->wait_s = (uint32_t) (ccf->wait / 1000);
}
