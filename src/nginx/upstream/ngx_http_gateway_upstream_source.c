/*
 * Peer sets published at run time by a peer source (Consul discovery, see
 * ngx_http_gateway_upstream_peers.h): which set the table starts from at
 * a (re)load, and the one function that replaces the primaries, used by
 * both, under the zone's mutex.
 */

#include "ngx_http_gateway_upstream.h"


char *
ngx_http_gateway_upstream_add_source(ngx_conf_t *cf, ngx_str_t *key,
    ngx_uint_t max_peers, ngx_http_gateway_upstream_peer_t *bootstrap,
    ngx_uint_t nbootstrap)
{
    ngx_http_gateway_upstream_srv_conf_t  *gcf;

    gcf = ngx_http_conf_get_module_srv_conf(cf,
                                            ngx_http_gateway_upstream_module);

    if (gcf->source.len) {
        return "is duplicate";
    }

    gcf->source = *key;
    gcf->source_hash = ngx_crc32_long(key->data, key->len);
    gcf->source_peers = max_peers;
    gcf->bootstrap = bootstrap;
    gcf->nbootstrap = nbootstrap;

    return ngx_http_gateway_upstream_enable(cf, gcf);
}


/*
 * The peers to reconcile the table with: set[0..n) as primaries, then the
 * configured backups. Allocated with ngx_alloc.
 */

static ngx_http_gateway_peer_conf_t *
ngx_http_gateway_upstream_source_set(ngx_http_gateway_upstream_srv_conf_t *gcf,
    ngx_http_gateway_peer_conf_t *set, ngx_uint_t n, ngx_uint_t *total,
    ngx_log_t *log)
{
    ngx_uint_t                     i, k;
    ngx_http_gateway_peer_conf_t  *pc, *conf;

    conf = gcf->peers.elts;

    pc = ngx_alloc((n + gcf->peers.nelts + 1) * sizeof(*pc), log);
    if (pc == NULL) {
        return NULL;
    }

    ngx_memcpy(pc, set, n * sizeof(*pc));
    k = n;

    for (i = 0; i < gcf->peers.nelts; i++) {
        if (conf[i].backup) {
            pc[k++] = conf[i];
        }
    }

    *total = k;

    return pc;
}


/* a published peer, as the table's reconcile takes it */

static void
ngx_http_gateway_upstream_source_peer(ngx_http_gateway_peer_conf_t *pc,
    ngx_http_gateway_upstream_peer_t *peer)
{
    ngx_memzero(pc, sizeof(ngx_http_gateway_peer_conf_t));

    pc->name = peer->name;
    pc->sockaddr = peer->sockaddr;
    pc->socklen = peer->socklen;

    /* weight 0 keeps the peer (and its breaker) but sends it nothing */
    pc->weight = peer->weight ? peer->weight : 1;
    pc->down = peer->weight == 0;
}


/* the slots of configured peers that are in the table, for the map */

static void
ngx_http_gateway_upstream_locate(ngx_http_gateway_upstream_srv_conf_t *gcf)
{
    ngx_uint_t                          i, s;
    ngx_http_gateway_peer_conf_t       *pc;
    ngx_http_gateway_upstream_shctx_t  *sh;

    sh = gcf->sh;
    pc = gcf->peers.elts;

    for (i = 0; i < gcf->peers.nelts; i++) {
        s = ngx_http_gateway_upstream_find_slot(sh, NULL, &pc[i]);

        pc[i].slot = (s < sh->nslots) ? s : NGX_HTTP_GATEWAY_NO_SLOT;
        pc[i].slot_generation = (s < sh->nslots)
                                ? sh->peers[s].slot_generation : 0;
    }
}


/*
 * The primaries a source published before a reload, copied from the table
 * (they keep their slots). Allocated with ngx_alloc.
 */

static ngx_http_gateway_peer_conf_t *
ngx_http_gateway_upstream_live_primaries(ngx_http_gateway_upstream_shctx_t *sh,
    ngx_uint_t *n, ngx_log_t *log)
{
    ngx_uint_t                     s, k;
    ngx_http_gateway_peer_addr_t  *a, *copy;
    ngx_http_gateway_peer_conf_t  *pc;

    pc = ngx_alloc((sh->nslots + 1) * (sizeof(*pc) + sizeof(*a)), log);
    if (pc == NULL) {
        return NULL;
    }

    copy = (ngx_http_gateway_peer_addr_t *) (pc + sh->nslots + 1);
    k = 0;

    for (s = 0; s < sh->nslots; s++) {
        if (!(sh->peers[s].flags & GW_PEER_LIVE)
            || (sh->peers[s].flags & GW_PEER_BACKUP))
        {
            continue;
        }

        a = &copy[k];
        *a = sh->addrs[s];

        ngx_memzero(&pc[k], sizeof(*pc));
        pc[k].name.data = a->name;
        pc[k].name.len = a->name_len;
        pc[k].sockaddr = (struct sockaddr *) &a->sockaddr;
        pc[k].socklen = a->socklen;
        pc[k].dup = a->dup;
        pc[k].weight = sh->peers[s].weight;
        pc[k].max_conns = sh->peers[s].max_conns;
        pc[k].down = (sh->peers[s].flags & GW_PEER_DOWN) ? 1 : 0;
        k++;
    }

    *n = k;

    return pc;
}


/*
 * At every (re)load, under the zone's mutex: the table gets the configured
 * peers, or, for an upstream fed by a source, the set the source published
 * last (the same source), else the set saved earlier (bootstrap), else the
 * configured peers; configured backups are always there.
 */

ngx_int_t
ngx_http_gateway_upstream_load(ngx_http_gateway_upstream_srv_conf_t *gcf,
    ngx_log_t *log)
{
    ngx_int_t                           rc;
    ngx_uint_t                          i, n, total;
    ngx_http_gateway_peer_conf_t       *set, *pc;
    ngx_http_gateway_upstream_shctx_t  *sh;

    sh = gcf->sh;

    if (gcf->source.len && sh->published && sh->source == gcf->source_hash) {
        set = ngx_http_gateway_upstream_live_primaries(sh, &n, log);

    } else if (gcf->source.len && gcf->nbootstrap) {
        n = gcf->nbootstrap;
        set = ngx_alloc(n * sizeof(*set), log);

        for (i = 0; set && i < n; i++) {
            ngx_http_gateway_upstream_source_peer(&set[i], &gcf->bootstrap[i]);
        }

        sh->published = 0;

    } else {
        sh->published = 0;
        return ngx_http_gateway_upstream_reconcile(gcf, gcf->peers.elts,
                                                   gcf->peers.nelts, log);
    }

    if (set == NULL) {
        return NGX_ERROR;
    }

    pc = ngx_http_gateway_upstream_source_set(gcf, set, n, &total, log);
    if (pc == NULL) {
        ngx_free(set);
        return NGX_ERROR;
    }

    rc = ngx_http_gateway_upstream_reconcile(gcf, pc, total, log);

    ngx_free(pc);
    ngx_free(set);

    if (rc == NGX_OK) {
        ngx_http_gateway_upstream_locate(gcf);
    }

    return rc;
}


ngx_int_t
ngx_http_gateway_upstream_publish(ngx_http_upstream_srv_conf_t *us,
    ngx_http_gateway_upstream_peer_t *peers, ngx_uint_t n, ngx_log_t *log)
{
    ngx_int_t                              rc;
    ngx_uint_t                             i, total;
    ngx_http_gateway_peer_conf_t          *set, *pc;
    ngx_http_gateway_upstream_srv_conf_t  *gcf;

    gcf = ngx_http_conf_upstream_srv_conf(us, ngx_http_gateway_upstream_module);

    if (gcf->sh == NULL || gcf->source.len == 0) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "upstream \"%V\" takes no published peers", &us->host);
        return NGX_ERROR;
    }

    set = ngx_alloc((n + 1) * sizeof(*set), log);
    if (set == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        ngx_http_gateway_upstream_source_peer(&set[i], &peers[i]);

        if (set[i].name.len > NGX_SOCKADDR_STRLEN
            || set[i].socklen > (socklen_t) sizeof(ngx_sockaddr_t))
        {
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "peer \"%V\" cannot be published in upstream "
                          "\"%V\"", &set[i].name, &us->host);
            ngx_free(set);
            return NGX_ERROR;
        }
    }

    pc = ngx_http_gateway_upstream_source_set(gcf, set, n, &total, log);
    if (pc == NULL) {
        ngx_free(set);
        return NGX_ERROR;
    }

    ngx_shmtx_lock(&gcf->shpool->mutex);

    rc = ngx_http_gateway_upstream_reconcile(gcf, pc, total, log);

    if (rc == NGX_OK) {
        gcf->sh->source = gcf->source_hash;
        gcf->sh->published++;
    }

    ngx_shmtx_unlock(&gcf->shpool->mutex);

    ngx_free(pc);
    ngx_free(set);

    return rc;
}
