/*
 * The shared peer table of a gateway upstream: one zone per upstream,
 * holding every peer's weight, connections and breaker, so that all
 * workers choose from one table.
 *
 * The table's slots are matched to configured peers by address at every
 * (re)load, so breaker state survives a reload; a slot whose peer left the
 * configuration stops being chosen at once and is given to another peer
 * only once no request uses it (its generation then changes, which a
 * worker of an older cycle notices).
 */

#include "ngx_http_gateway_upstream.h"


static ngx_int_t ngx_http_gateway_upstream_init_zone(
    ngx_http_gateway_shm_t *shm);
static ngx_int_t ngx_http_gateway_upstream_reconcile(
    ngx_http_gateway_upstream_srv_conf_t *gcf, ngx_log_t *log);


/* the table's size follows the peers: a new size simply starts afresh */
static ngx_http_gateway_shm_type_t  ngx_http_gateway_upstream_shm_type = {
    "gateway upstream zone",
    ngx_http_gateway_upstream_init_zone,
    NULL,
    0,
    0
};


/* zone sizes are stable across small changes so reloads reuse the zone */
static size_t
ngx_http_gateway_upstream_zone_size(ngx_uint_t capacity)
{
    size_t  need, size;

    need = 8 * ngx_pagesize
           + 2 * capacity * (sizeof(gw_peer_t)
                             + sizeof(ngx_http_gateway_peer_addr_t));

    for (size = 128 * 1024; size < need; size *= 2) { /* void */ }

    return size;
}


static ngx_uint_t
ngx_http_gateway_upstream_capacity(ngx_uint_t n)
{
    ngx_uint_t  cap;

    for (cap = 16; cap < 2 * n; cap *= 2) { /* void */ }

    return cap;
}


static ngx_int_t
ngx_http_gateway_upstream_add_peers(ngx_http_gateway_upstream_srv_conf_t *gcf,
    ngx_http_upstream_rr_peers_t *peers, ngx_uint_t backup)
{
    ngx_uint_t                     i;
    ngx_http_upstream_rr_peer_t   *peer;
    ngx_http_gateway_peer_conf_t  *pc, *prev;

    if (peers == NULL) {
        return NGX_OK;
    }

    for (peer = peers->peer; peer; peer = peer->next) {
        pc = ngx_array_push(&gcf->peers);
        if (pc == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(pc, sizeof(ngx_http_gateway_peer_conf_t));

        pc->name = peer->name;
        pc->sockaddr = peer->sockaddr;
        pc->socklen = peer->socklen;
        pc->weight = peer->weight;
        pc->max_conns = peer->max_conns;
        pc->down = peer->down ? 1 : 0;
        pc->backup = backup;

        /* the same address twice is two peers: tell them apart */

        prev = gcf->peers.elts;

        for (i = 0; i + 1 < gcf->peers.nelts; i++) {
            if (prev[i].backup == backup
                && prev[i].name.len == pc->name.len
                && ngx_strncmp(prev[i].name.data, pc->name.data,
                               pc->name.len) == 0)
            {
                pc->dup++;
            }
        }

        if (pc->name.len > NGX_SOCKADDR_STRLEN
            || pc->socklen > (socklen_t) sizeof(ngx_sockaddr_t))
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * Collects the configured peers (round robin's lists, primaries then
 * backups) and adds the upstream's zone, "gateway_upstream:NAME"; the
 * table is filled when the zone is initialized.
 */

ngx_int_t
ngx_http_gateway_upstream_add_zone(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us, ngx_http_gateway_upstream_srv_conf_t *gcf)
{
    u_char                        *p;
    ngx_str_t                      name;
    ngx_uint_t                     cap;
    ngx_http_upstream_rr_peers_t  *peers;

    peers = us->peer.data;

    if (ngx_array_init(&gcf->peers, cf->pool, 8,
                       sizeof(ngx_http_gateway_peer_conf_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_gateway_upstream_add_peers(gcf, peers, 0) != NGX_OK
        || ngx_http_gateway_upstream_add_peers(gcf, peers->next, 1) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "cannot set up the gateway balancer of upstream "
                      "\"%V\" in %s:%ui", &us->host, us->file_name, us->line);
        return NGX_ERROR;
    }

    cap = ngx_http_gateway_upstream_capacity(gcf->peers.nelts);

    name.len = sizeof("gateway_upstream:") - 1 + us->host.len;
    name.data = ngx_pnalloc(cf->pool, name.len);
    if (name.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(name.data, "gateway_upstream:",
                   sizeof("gateway_upstream:") - 1);
    ngx_memcpy(p, us->host.data, us->host.len);

    if (ngx_http_gateway_shm_add(cf, &name,
                                 ngx_http_gateway_upstream_zone_size(cap),
                                 &ngx_http_gateway_upstream_module,
                                 &ngx_http_gateway_upstream_shm_type, gcf)
        == NULL)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * A new zone gets an empty table; then, and after a reload, the table is
 * made to hold the configured peers.
 */

static ngx_int_t
ngx_http_gateway_upstream_init_zone(ngx_http_gateway_shm_t *shm)
{
    ngx_int_t                               rc;
    ngx_uint_t                              cap;
    ngx_http_gateway_upstream_shctx_t      *sh;
    ngx_http_gateway_upstream_srv_conf_t   *gcf;

    gcf = shm->data;
    gcf->shpool = shm->shpool;

    if (shm->sh == NULL) {
        sh = ngx_slab_calloc(shm->shpool,
                             sizeof(ngx_http_gateway_upstream_shctx_t));
        if (sh == NULL) {
            return NGX_ERROR;
        }

        cap = ngx_http_gateway_upstream_capacity(gcf->peers.nelts);

        sh->peers = ngx_slab_calloc(shm->shpool, cap * sizeof(gw_peer_t));
        sh->addrs = ngx_slab_calloc(shm->shpool,
                               cap * sizeof(ngx_http_gateway_peer_addr_t));
        if (sh->peers == NULL || sh->addrs == NULL) {
            return NGX_ERROR;
        }

        sh->capacity = cap;
        sh->warned = -1000000000;

        shm->sh = sh;
    }

    gcf->sh = shm->sh;

    /* workers of the previous cycle may be using the table right now */

    ngx_shmtx_lock(&gcf->shpool->mutex);
    rc = ngx_http_gateway_upstream_reconcile(gcf, shm->zone->shm.log);
    ngx_shmtx_unlock(&gcf->shpool->mutex);

    return rc;
}


static ngx_int_t
ngx_http_gateway_upstream_grow(ngx_http_gateway_upstream_srv_conf_t *gcf,
    ngx_uint_t need)
{
    ngx_uint_t                          cap;
    gw_peer_t                          *peers;
    ngx_http_gateway_peer_addr_t       *addrs;
    ngx_http_gateway_upstream_shctx_t  *sh;

    sh = gcf->sh;

    for (cap = sh->capacity; cap < need; cap *= 2) { /* void */ }

    peers = ngx_slab_calloc_locked(gcf->shpool, cap * sizeof(gw_peer_t));
    addrs = ngx_slab_calloc_locked(gcf->shpool,
                               cap * sizeof(ngx_http_gateway_peer_addr_t));

    if (peers == NULL || addrs == NULL) {
        if (peers) {
            ngx_slab_free_locked(gcf->shpool, peers);
        }

        if (addrs) {
            ngx_slab_free_locked(gcf->shpool, addrs);
        }

        return NGX_ERROR;
    }

    /* indexes are kept: requests in flight release by index */

    ngx_memcpy(peers, sh->peers, sh->nslots * sizeof(gw_peer_t));
    ngx_memcpy(addrs, sh->addrs,
               sh->nslots * sizeof(ngx_http_gateway_peer_addr_t));

    ngx_slab_free_locked(gcf->shpool, sh->peers);
    ngx_slab_free_locked(gcf->shpool, sh->addrs);

    sh->peers = peers;
    sh->addrs = addrs;
    sh->capacity = cap;

    return NGX_OK;
}


/* the slot that holds the configured peer pc, or sh->nslots */

static ngx_uint_t
ngx_http_gateway_upstream_find_slot(ngx_http_gateway_upstream_shctx_t *sh,
    u_char *claimed, ngx_http_gateway_peer_conf_t *pc)
{
    ngx_uint_t                     s;
    gw_peer_t                     *p;
    ngx_http_gateway_peer_addr_t  *a;

    for (s = 0; s < sh->nslots; s++) {
        p = &sh->peers[s];
        a = &sh->addrs[s];

        if (!claimed[s]
            && (p->flags & GW_PEER_LIVE)
            && ((p->flags & GW_PEER_BACKUP) != 0) == pc->backup
            && a->dup == pc->dup
            && a->name_len == pc->name.len
            && ngx_memcmp(a->name, pc->name.data, pc->name.len) == 0)
        {
            break;
        }
    }

    return s;
}


/* a drained slot of a former peer, or a new one at the end of the table */

static ngx_int_t
ngx_http_gateway_upstream_free_slot(ngx_http_gateway_upstream_srv_conf_t *gcf,
    u_char *claimed)
{
    ngx_uint_t                          s;
    ngx_http_gateway_upstream_shctx_t  *sh;

    sh = gcf->sh;

    for (s = 0; s < sh->nslots; s++) {
        if (!claimed[s]
            && !(sh->peers[s].flags & GW_PEER_LIVE)
            && sh->peers[s].conns == 0)
        {
            return (ngx_int_t) s;
        }
    }

    if (sh->nslots == sh->capacity
        && ngx_http_gateway_upstream_grow(gcf, sh->nslots + 1) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return (ngx_int_t) sh->nslots++;
}


/* a new peer in slot s: a fresh breaker and a new slot generation */

static void
ngx_http_gateway_upstream_assign_slot(ngx_http_gateway_upstream_shctx_t *sh,
    ngx_uint_t s, ngx_http_gateway_peer_conf_t *pc, uint32_t flags,
    int64_t now)
{
    ngx_http_gateway_peer_addr_t  *a;

    gw_peer_init(&sh->peers[s], (uint32_t) pc->weight,
                 (uint32_t) pc->max_conns, flags, now);

    a = &sh->addrs[s];
    ngx_memzero(a, sizeof(ngx_http_gateway_peer_addr_t));
    ngx_memcpy(&a->sockaddr, pc->sockaddr, pc->socklen);
    a->socklen = pc->socklen;
    a->dup = (uint16_t) pc->dup;
    a->name_len = (uint16_t) pc->name.len;
    ngx_memcpy(a->name, pc->name.data, pc->name.len);
}


/*
 * Makes the table hold exactly the configured peers, keeping the state of
 * those already there, and writes each one's slot and slot generation
 * back. Called under the zone's mutex at every (re)load.
 */

static ngx_int_t
ngx_http_gateway_upstream_reconcile(ngx_http_gateway_upstream_srv_conf_t *gcf,
    ngx_log_t *log)
{
    u_char                             *claimed;
    int64_t                             now;
    uint32_t                            flags;
    ngx_int_t                           slot;
    ngx_uint_t                          i, n, s;
    gw_peer_t                          *p;
    ngx_http_gateway_peer_conf_t       *pc;
    ngx_http_gateway_upstream_shctx_t  *sh;

    sh = gcf->sh;
    pc = gcf->peers.elts;
    n = gcf->peers.nelts;
    now = (int64_t) ngx_current_msec;

    claimed = ngx_calloc(sh->nslots + n, log);
    if (claimed == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {

        flags = GW_PEER_LIVE
                | (pc[i].down ? GW_PEER_DOWN : 0)
                | (pc[i].backup ? GW_PEER_BACKUP : 0);

        s = ngx_http_gateway_upstream_find_slot(sh, claimed, &pc[i]);

        if (s < sh->nslots) {
            /* a known peer: keep its breaker, take the new parameters */
            p = &sh->peers[s];
            p->weight = (uint32_t) pc[i].weight;
            p->max_conns = (uint32_t) pc[i].max_conns;
            p->flags = flags;

        } else {
            slot = ngx_http_gateway_upstream_free_slot(gcf, claimed);

            if (slot == NGX_ERROR) {
                ngx_log_error(NGX_LOG_EMERG, log, 0,
                              "no room for peer %V in gateway upstream "
                              "zone of \"%V\"", &pc[i].name,
                              &gcf->upstream->host);
                ngx_free(claimed);
                return NGX_ERROR;
            }

            s = (ngx_uint_t) slot;
            ngx_http_gateway_upstream_assign_slot(sh, s, &pc[i], flags, now);
            p = &sh->peers[s];
        }

        claimed[s] = 1;
        pc[i].slot = s;
        pc[i].slot_generation = p->slot_generation;
    }

    /* peers gone from the configuration stop being chosen */

    for (s = 0; s < sh->nslots; s++) {
        if (!claimed[s]) {
            sh->peers[s].flags &= ~GW_PEER_LIVE;
        }
    }

    ngx_free(claimed);

    return NGX_OK;
}


/*
 * Per process: slot -> configured peer -> round robin's peer. Built on a
 * request, for the peer list round robin uses then: with an upstream
 * "zone" that list is a copy in shared memory, made after configuration.
 */

ngx_int_t
ngx_http_gateway_upstream_build_map(ngx_http_gateway_upstream_srv_conf_t *gcf,
    ngx_http_upstream_rr_peers_t *peers)
{
    ngx_uint_t                     i, n, size;
    ngx_http_upstream_rr_peer_t   *peer, **rr;
    ngx_http_upstream_rr_peers_t  *list;
    ngx_http_gateway_peer_conf_t  *pc;
    ngx_int_t                     *map;

    pc = gcf->peers.elts;
    n = gcf->peers.nelts;

    size = 0;

    for (i = 0; i < n; i++) {
        if (pc[i].slot + 1 > size) {
            size = pc[i].slot + 1;
        }
    }

    map = ngx_palloc(ngx_cycle->pool, size * sizeof(ngx_int_t));
    rr = ngx_pcalloc(ngx_cycle->pool,
                     n * sizeof(ngx_http_upstream_rr_peer_t *));
    if (map == NULL || rr == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < size; i++) {
        map[i] = -1;
    }

    /* round robin lists primaries, then backups, as the configuration does */

    i = 0;

    for (list = peers; list; list = list->next) {
        for (peer = list->peer; peer && i < n; peer = peer->next) {
            rr[i++] = peer;
        }
    }

    if (i == n) {
        for (i = 0; i < n; i++) {
            map[pc[i].slot] = (ngx_int_t) i;
        }
    }

    gcf->map = map;
    gcf->rr = rr;
    gcf->map_size = size;
    gcf->map_peers = peers;

    return NGX_OK;
}
