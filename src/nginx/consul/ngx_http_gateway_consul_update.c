/*
 * A good reply's set, published into the upstream's peer table.
 *
 * A set equal to the last one changes nothing. An empty set is not
 * published unless empty=allow: Consul reporting no passing instance is
 * more often an outage of the checks (or an ACL token that reads nothing)
 * than a service truly gone, and the last set still answers. Host names
 * are resolved with nginx's resolver before the set is published (a name
 * that does not resolve, or with no resolver, is left out and logged).
 * Each change is logged at info, counted, and written to the dump file.
 */

#include "ngx_http_gateway_consul.h"


/* peers named in one log line, the rest counted */
#define NGX_HTTP_GATEWAY_CONSUL_LOG_PEERS  8


static void ngx_http_gateway_consul_resolve(ngx_http_gateway_consul_poller_t *p);
static void ngx_http_gateway_consul_resolved(ngx_resolver_ctx_t *ctx);
static ngx_int_t ngx_http_gateway_consul_publish(
    ngx_http_gateway_consul_poller_t *p);
static ngx_uint_t ngx_http_gateway_consul_keep_empty(
    ngx_http_gateway_consul_poller_t *p, uint64_t index);
static void ngx_http_gateway_consul_log_set(ngx_http_gateway_consul_poller_t *p,
    ngx_http_gateway_upstream_peer_t *peers, ngx_uint_t n);
static void ngx_http_gateway_consul_done(ngx_http_gateway_consul_poller_t *p);


ngx_int_t
ngx_http_gateway_consul_update(ngx_http_gateway_consul_poller_t *p,
    const gw_consul_result_t *res, uint64_t index)
{
    ngx_uint_t                        same, skipped;
    ngx_http_gateway_consul_conf_t   *ccf;
    ngx_http_gateway_consul_shctx_t  *sh;

    ccf = p->ccf;
    sh = ccf->sh;

    ngx_shmtx_lock(&ccf->shpool->mutex);

    same = sh->has_set
           && gw_consul_peers_equal(sh->peers, sh->npeers, res->peers,
                                    res->npeers);

    /* entries left out are told when their number changes */
    skipped = res->skipped != sh->skipped;
    sh->skipped = res->skipped;

    ngx_shmtx_unlock(&ccf->shpool->mutex);

    if (skipped && res->skipped) {
        ngx_log_error(NGX_LOG_WARN, p->log, 0,
                      "gateway_consul \"%V\" of upstream \"%V\": %uz of %uz "
                      "entries left out (the first because %s)",
                      &ccf->service, &ccf->upstream->host, res->skipped,
                      res->entries, res->skip_reason);
    }

    if (res->npeers == 0 && ngx_http_gateway_consul_keep_empty(p, index)) {
        return NGX_OK;
    }

    /* names are resolved again: their addresses may have changed */

    if (same && res->names == 0) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, p->log, 0,
                       "gateway_consul \"%V\": set unchanged at index %uL",
                       &ccf->service, index);
        return NGX_OK;
    }

    if (res->truncated) {
        ngx_log_error(NGX_LOG_WARN, p->log, 0,
                      "gateway_consul \"%V\" of upstream \"%V\": Consul "
                      "returned more than max_peers=%ui peers, the %ui "
                      "lowest addresses are used", &ccf->service,
                      &ccf->upstream->host, ccf->max_peers, ccf->max_peers);
    }

    if (res->npeers) {
        ngx_memcpy(p->set, res->peers, res->npeers * sizeof(gw_consul_peer_t));
    }

    p->nset = res->npeers;
    p->set_index = index;

    p->pool = ngx_create_pool(4096, p->log);
    if (p->pool == NULL) {
        return NGX_OK;
    }

    /* names may resolve to several addresses each: room for max_peers */

    p->out = ngx_palloc(p->pool, ccf->max_peers
                                 * sizeof(ngx_http_gateway_upstream_peer_t));
    if (p->out == NULL) {
        ngx_http_gateway_consul_done(p);
        return NGX_OK;
    }

    p->nout = 0;

    if (res->names) {
        ngx_http_gateway_consul_resolve(p);

        if (p->resolving) {
            p->updating = 1;
            return NGX_AGAIN;
        }
    }

    (void) ngx_http_gateway_consul_publish(p);
    ngx_http_gateway_consul_done(p);

    return NGX_OK;
}


/*
 * Consul reports no passing instance: kept out unless empty=allow, with
 * one warning until it reports some again.
 */

static ngx_uint_t
ngx_http_gateway_consul_keep_empty(ngx_http_gateway_consul_poller_t *p,
    uint64_t index)
{
    ngx_uint_t                        warn;
    ngx_http_gateway_consul_conf_t   *ccf;
    ngx_http_gateway_consul_shctx_t  *sh;

    ccf = p->ccf;
    sh = ccf->sh;

    if (ccf->empty_allow) {
        return 0;
    }

    ngx_shmtx_lock(&ccf->shpool->mutex);
    warn = !sh->empty_kept;
    sh->empty_kept = 1;
    ngx_shmtx_unlock(&ccf->shpool->mutex);

    if (warn) {
        ngx_log_error(NGX_LOG_WARN, p->log, 0,
                      "gateway_consul \"%V\" of upstream \"%V\": Consul "
                      "reports no passing instance (index %uL), the last "
                      "peers are kept (\"empty=allow\" would follow it)",
                      &ccf->service, &ccf->upstream->host, index);
    }

    return 1;
}


/* IP peers go as they are; each host name gets a resolution */

static void
ngx_http_gateway_consul_resolve(ngx_http_gateway_consul_poller_t *p)
{
    size_t                            i;
    ngx_resolver_ctx_t               *ctx;
    ngx_http_gateway_consul_conf_t   *ccf;

    ccf = p->ccf;
    p->resolving = 0;

    for (i = 0; i < p->nset; i++) {
        if (p->set[i].kind != GW_CONSUL_NAME) {
            continue;
        }

        if (ccf->resolver == NULL || ccf->resolver->connections.nelts == 0) {
            ngx_log_error(NGX_LOG_ERR, p->log, 0,
                          "gateway_consul \"%V\" of upstream \"%V\": peer "
                          "\"%s\" is a host name and no \"resolver\" is "
                          "defined at http level, it is left out",
                          &ccf->service, &ccf->upstream->host,
                          p->set[i].host);
            continue;
        }

        ctx = ngx_resolve_start(ccf->resolver, NULL);
        if (ctx == NULL || ctx == NGX_NO_RESOLVER) {
            continue;
        }

        ctx->name.data = (u_char *) p->set[i].host;
        ctx->name.len = p->set[i].host_len;
        ctx->handler = ngx_http_gateway_consul_resolved;
        ctx->data = p;
        ctx->timeout = ccf->resolver_timeout;

        /* the port and weight go with it, in the set entry it names */
        p->resolving++;

        if (ngx_resolve_name(ctx) != NGX_OK) {
            p->resolving--;
        }
    }
}


static void
ngx_http_gateway_consul_resolved(ngx_resolver_ctx_t *ctx)
{
    ngx_http_gateway_consul_poller_t  *p = ctx->data;

    size_t                             i;
    ngx_uint_t                         k;
    socklen_t                          len;
    struct sockaddr                   *sa;
    gw_consul_peer_t                  *peer;
    ngx_http_gateway_upstream_peer_t  *out;

    peer = NULL;

    for (i = 0; i < p->nset; i++) {
        if (p->set[i].kind == GW_CONSUL_NAME
            && ctx->name.len == p->set[i].host_len
            && ngx_strncmp(ctx->name.data, p->set[i].host, ctx->name.len) == 0)
        {
            peer = &p->set[i];
            break;
        }
    }

    if (ctx->state || peer == NULL) {
        ngx_log_error(NGX_LOG_ERR, p->log, 0,
                      "gateway_consul \"%V\" of upstream \"%V\": peer \"%V\" "
                      "could not be resolved (%i: %s), it is left out",
                      &p->ccf->service, &p->ccf->upstream->host, &ctx->name,
                      ctx->state, ngx_resolver_strerror(ctx->state));
        goto done;
    }

    for (k = 0; k < ctx->naddrs && p->nout < p->ccf->max_peers; k++) {
        len = ctx->addrs[k].socklen;

        sa = ngx_palloc(p->pool, len);
        out = &p->out[p->nout];
        out->name.data = ngx_pnalloc(p->pool, NGX_SOCKADDR_STRLEN);
        if (sa == NULL || out->name.data == NULL) {
            goto done;
        }

        ngx_memcpy(sa, ctx->addrs[k].sockaddr, len);
        ngx_inet_set_port(sa, peer->port);

        out->sockaddr = sa;
        out->socklen = len;
        out->name.len = ngx_sock_ntop(sa, len, out->name.data,
                                      NGX_SOCKADDR_STRLEN, 1);
        out->weight = peer->weight;
        p->nout++;
    }

done:

    ngx_resolve_name_done(ctx);

    if (--p->resolving) {
        return;
    }

    if (!p->updating) {
        /* cancelled, or answered before ngx_resolve_name() returned */
        if (p->pool && p->nset == 0) {
            ngx_http_gateway_consul_done(p);
        }

        return;
    }

    (void) ngx_http_gateway_consul_publish(p);

    ngx_http_gateway_consul_done(p);
    ngx_http_gateway_consul_poller_resume(p);
}


void
ngx_http_gateway_consul_update_cancel(ngx_http_gateway_consul_poller_t *p)
{
    /* the last resolution still running frees the update */
    p->updating = 0;
    p->nset = 0;

    if (p->resolving == 0) {
        ngx_http_gateway_consul_done(p);
    }
}


static void
ngx_http_gateway_consul_done(ngx_http_gateway_consul_poller_t *p)
{
    p->updating = 0;

    if (p->pool) {
        ngx_destroy_pool(p->pool);
        p->pool = NULL;
    }
}


/* orders upstream peers by name, for merging the same address twice */

static int ngx_libc_cdecl
ngx_http_gateway_consul_cmp(const void *one, const void *two)
{
    const ngx_http_gateway_upstream_peer_t  *a = one, *b = two;

    if (a->name.len != b->name.len) {
        return a->name.len < b->name.len ? -1 : 1;
    }

    return ngx_memcmp(a->name.data, b->name.data, a->name.len);
}


static ngx_int_t
ngx_http_gateway_consul_publish(ngx_http_gateway_consul_poller_t *p)
{
    size_t                             i;
    ngx_int_t                          rc;
    ngx_uint_t                         k, n;
    gw_consul_peer_t                  *dumped;
    ngx_http_gateway_upstream_peer_t  *out;
    ngx_http_gateway_consul_conf_t    *ccf;
    ngx_http_gateway_consul_shctx_t   *sh;

    ccf = p->ccf;
    sh = ccf->sh;
    out = p->out;

    for (i = 0; i < p->nset && p->nout < ccf->max_peers; i++) {
        rc = ngx_http_gateway_consul_ip_peer(p->pool, &p->set[i],
                                             &out[p->nout]);
        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_OK) {
            p->nout++;
        }
    }

    /* two names (or a name and an address) may give one address */

    ngx_qsort(out, p->nout, sizeof(ngx_http_gateway_upstream_peer_t),
              ngx_http_gateway_consul_cmp);

    for (n = 0, k = 0; k < p->nout; k++) {
        if (n && ngx_http_gateway_consul_cmp(&out[n - 1], &out[k]) == 0) {
            out[n - 1].weight = ngx_max(out[n - 1].weight, out[k].weight);
            continue;
        }

        out[n++] = out[k];
    }

    /* no name resolved: each was logged, and an empty set is not taken */

    if (n == 0 && p->nset && !ccf->empty_allow) {
        return NGX_OK;
    }

    if (ngx_http_gateway_upstream_publish(ccf->upstream, out, n, p->log)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_shmtx_lock(&ccf->shpool->mutex);

    ngx_memcpy(sh->peers, p->set, p->nset * sizeof(gw_consul_peer_t));
    sh->npeers = p->nset;
    sh->has_set = 1;
    sh->empty_kept = 0;
    sh->updates++;
    sh->updated = ngx_time();

    ngx_shmtx_unlock(&ccf->shpool->mutex);

    ngx_http_gateway_stats_add(ccf->stats.updates, 0, 1);
    ngx_http_gateway_stats_set(ccf->stats.peers, 0, n);

    ngx_http_gateway_consul_log_set(p, out, n);

    /* the dump holds addresses: it is read back without resolving */

    if (ccf->dump.len) {
        dumped = ngx_palloc(p->pool, (n + 1) * sizeof(gw_consul_peer_t));
        if (dumped == NULL) {
            return NGX_ERROR;
        }

        for (k = 0; k < n; k++) {
            if (gw_consul_peer_parse((char *) out[k].name.data,
                                     out[k].name.len, (uint32_t) out[k].weight,
                                     &dumped[k])
                != NULL)
            {
                return NGX_ERROR;
            }
        }

        ngx_http_gateway_consul_dump_save(ccf, dumped, n, p->set_index,
                                          p->log);
    }

    return NGX_OK;
}


static void
ngx_http_gateway_consul_log_set(ngx_http_gateway_consul_poller_t *p,
    ngx_http_gateway_upstream_peer_t *peers, ngx_uint_t n)
{
    u_char                           *last, *end;
    ngx_uint_t                        i;
    u_char                            text[NGX_MAX_ERROR_STR];
    ngx_http_gateway_consul_conf_t   *ccf;

    ccf = p->ccf;
    last = text;
    end = text + sizeof(text);

    for (i = 0; i < n && i < NGX_HTTP_GATEWAY_CONSUL_LOG_PEERS; i++) {
        last = ngx_slprintf(last, end, "%s%V weight=%ui", i ? ", " : "",
                            &peers[i].name, peers[i].weight);
    }

    if (n > NGX_HTTP_GATEWAY_CONSUL_LOG_PEERS) {
        last = ngx_slprintf(last, end, " and %ui more",
                            n - NGX_HTTP_GATEWAY_CONSUL_LOG_PEERS);
    }

    ngx_log_error(NGX_LOG_INFO, p->log, 0,
                  "gateway_consul \"%V\" of upstream \"%V\": %ui peers at "
                  "index %uL: %*s", &ccf->service, &ccf->upstream->host, n,
                  p->set_index, last - text, text);
}
