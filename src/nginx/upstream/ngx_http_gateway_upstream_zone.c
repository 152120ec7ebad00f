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


/* the table's size follows the peers: a new size simply starts afresh */
static ngx_http_gateway_shm_type_t  ngx_http_gateway_upstream_shm_type = {
    "gateway upstream zone",
    ngx_http_gateway_upstream_init_zone,
    NULL,
    0,
    0
};


/* gateway_circuit_transitions_total{upstream,peer,to} */

static ngx_str_t  ngx_http_gateway_transitions_labels[] = {
    ngx_string("upstream"),
    ngx_string("peer"),
    ngx_null_string
};

static ngx_str_t  ngx_http_gateway_transitions_to[] = {
    ngx_string("open"),                  /* NGX_HTTP_GATEWAY_TO_* */
    ngx_string("half_open"),
    ngx_string("closed"),
    ngx_null_string
};

static ngx_http_gateway_stats_dim_t  ngx_http_gateway_transitions_dims[] = {
    { ngx_string("to"), ngx_http_gateway_transitions_to },
    { ngx_null_string, NULL }
};

static ngx_http_gateway_stats_def_t  ngx_http_gateway_transitions_def = {
    ngx_string("gateway_circuit_transitions_total"),
    ngx_string("Circuit breaker state changes of upstream peers."),
    GW_METRIC_COUNTER,
    ngx_http_gateway_transitions_labels,
    ngx_http_gateway_transitions_dims,
    0, NULL, NULL
};


/* gateway_circuit_state{upstream,peer}: read from the tables when asked */

static void ngx_http_gateway_upstream_collect_states(
    ngx_http_gateway_stats_emit_t *emit, void *data);

static ngx_http_gateway_stats_def_t  ngx_http_gateway_states_def = {
    ngx_string("gateway_circuit_state"),
    ngx_string("Circuit breaker state of upstream peers: 0 closed, "
               "1 half-open, 2 open."),
    GW_METRIC_GAUGE,
    ngx_http_gateway_transitions_labels,
    NULL,
    0, ngx_http_gateway_upstream_collect_states, NULL
};


/* gateway_upstream_peer_up{upstream,peer}: the same way */

static void ngx_http_gateway_upstream_collect_up(
    ngx_http_gateway_stats_emit_t *emit, void *data);

static ngx_http_gateway_stats_def_t  ngx_http_gateway_up_def = {
    ngx_string("gateway_upstream_peer_up"),
    ngx_string("1 when the balancer may choose the peer (not down, its "
               "circuit not open), else 0."),
    GW_METRIC_GAUGE,
    ngx_http_gateway_transitions_labels,
    NULL,
    0, ngx_http_gateway_upstream_collect_up, NULL
};


/*
 * Zone sizes are stable across small changes so reloads reuse the zone;
 * room for the table to double and for the holdings of 16 processes.
 */
static size_t
ngx_http_gateway_upstream_zone_size(ngx_uint_t capacity)
{
    size_t  need, size;

    need = 8 * ngx_pagesize + sizeof(ngx_http_gateway_upstream_shctx_t)
           + 2 * capacity * (sizeof(gw_peer_t)
                             + sizeof(ngx_http_gateway_peer_addr_t)
                             + 16 * sizeof(gw_holding_t));

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
ngx_http_gateway_upstream_add_peers(ngx_conf_t *cf,
    ngx_http_gateway_upstream_srv_conf_t *gcf,
    ngx_http_upstream_rr_peers_t *peers, ngx_uint_t backup)
{
    ngx_str_t                               labels[2];
    ngx_uint_t                              i;
    ngx_http_upstream_rr_peer_t            *peer;
    ngx_http_gateway_peer_conf_t           *pc, *prev;
    ngx_http_gateway_upstream_main_conf_t  *gmcf;

    if (peers == NULL) {
        return NGX_OK;
    }

    gmcf = ngx_http_conf_get_module_main_conf(cf,
                                             ngx_http_gateway_upstream_module);

    if (gmcf->transitions == NULL) {
        gmcf->transitions = ngx_http_gateway_stats_family(cf,
                                           &ngx_http_gateway_transitions_def);
        if (gmcf->transitions == NULL) {
            return NGX_ERROR;
        }
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

        labels[0] = gcf->upstream->host;
        labels[1] = pc->name;

        pc->transitions = ngx_http_gateway_stats_series(cf, gmcf->transitions,
                                                        labels);
        if (pc->transitions == NULL) {
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

    if (ngx_http_gateway_upstream_add_peers(cf, gcf, peers, 0) != NGX_OK
        || ngx_http_gateway_upstream_add_peers(cf, gcf, peers->next, 1)
           != NGX_OK)
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "cannot set up the gateway balancer of upstream "
                      "\"%V\" in %s:%ui", &us->host, us->file_name, us->line);
        return NGX_ERROR;
    }

    cap = ngx_http_gateway_upstream_capacity(gcf->peers.nelts
                                             + gcf->source_peers);

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
 * loaded with the peers.
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

        cap = ngx_http_gateway_upstream_capacity(gcf->peers.nelts
                                                 + gcf->source_peers);

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
    rc = ngx_http_gateway_upstream_load(gcf, shm->zone->shm.log);
    ngx_shmtx_unlock(&gcf->shpool->mutex);

    return rc;
}


static ngx_int_t
ngx_http_gateway_upstream_grow(ngx_http_gateway_upstream_srv_conf_t *gcf,
    ngx_uint_t need)
{
    ngx_uint_t                          cap, s;
    gw_peer_t                          *peers;
    gw_holding_t                       *holdings;
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

    for (s = 0; s < NGX_MAX_PROCESSES; s++) {
        if (sh->holdings[s] == NULL) {
            continue;
        }

        holdings = ngx_slab_calloc_locked(gcf->shpool,
                                          cap * sizeof(gw_holding_t));
        if (holdings == NULL) {
            ngx_slab_free_locked(gcf->shpool, peers);
            ngx_slab_free_locked(gcf->shpool, addrs);
            return NGX_ERROR;
        }

        ngx_memcpy(holdings, sh->holdings[s],
                   sh->nslots * sizeof(gw_holding_t));
        ngx_slab_free_locked(gcf->shpool, sh->holdings[s]);
        sh->holdings[s] = holdings;
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


/* the slot that holds the peer pc, or sh->nslots */

ngx_uint_t
ngx_http_gateway_upstream_find_slot(ngx_http_gateway_upstream_shctx_t *sh,
    u_char *claimed, ngx_http_gateway_peer_conf_t *pc)
{
    ngx_uint_t                     s;
    gw_peer_t                     *p;
    ngx_http_gateway_peer_addr_t  *a;

    for (s = 0; s < sh->nslots; s++) {
        p = &sh->peers[s];
        a = &sh->addrs[s];

        if ((claimed == NULL || !claimed[s])
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

static ngx_uint_t
ngx_http_gateway_upstream_free_slot(ngx_http_gateway_upstream_shctx_t *sh,
    u_char *claimed)
{
    ngx_uint_t  s;

    for (s = 0; s < sh->nslots; s++) {
        if (!claimed[s]
            && !(sh->peers[s].flags & GW_PEER_LIVE)
            && sh->peers[s].conns == 0)
        {
            return s;
        }
    }

    return sh->nslots++;
}


/* slots that can take a new peer without growing the table */

static ngx_uint_t
ngx_http_gateway_upstream_room(ngx_http_gateway_upstream_shctx_t *sh,
    u_char *claimed)
{
    ngx_uint_t  s, room;

    room = sh->capacity - sh->nslots;

    for (s = 0; s < sh->nslots; s++) {
        if (!claimed[s]
            && !(sh->peers[s].flags & GW_PEER_LIVE)
            && sh->peers[s].conns == 0)
        {
            room++;
        }
    }

    return room;
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
 * Makes the table hold exactly the peers pc[0..n), keeping the state of
 * those already there, and writes each one's slot and slot generation
 * back. Called under the zone's mutex, at every (re)load with the
 * configured peers and whenever a peer source publishes a new set; the
 * table is unchanged when it fails.
 */

ngx_int_t
ngx_http_gateway_upstream_reconcile(ngx_http_gateway_upstream_srv_conf_t *gcf,
    ngx_http_gateway_peer_conf_t *pc, ngx_uint_t n, ngx_log_t *log)
{
    u_char                             *claimed;
    int64_t                             now;
    uint32_t                            flags;
    ngx_uint_t                          i, s, *found, fresh, room;
    gw_peer_t                          *p;
    ngx_http_gateway_upstream_shctx_t  *sh;

    sh = gcf->sh;
    now = (int64_t) ngx_current_msec;

    /* new slots are appended, at most n of them */

    claimed = ngx_calloc(sh->nslots + n, log);
    found = ngx_alloc(n * sizeof(ngx_uint_t) + 1, log);

    if (claimed == NULL || found == NULL) {
        ngx_free(claimed);
        ngx_free(found);
        return NGX_ERROR;
    }

    /* the peers already there, then room for the others, before changing */

    fresh = 0;

    for (i = 0; i < n; i++) {
        s = ngx_http_gateway_upstream_find_slot(sh, claimed, &pc[i]);

        if (s < sh->nslots) {
            claimed[s] = 1;
            found[i] = s;

        } else {
            found[i] = NGX_HTTP_GATEWAY_NO_SLOT;
            fresh++;
        }
    }

    room = ngx_http_gateway_upstream_room(sh, claimed);

    if (fresh > room
        && ngx_http_gateway_upstream_grow(gcf, sh->capacity + fresh - room)
           != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "no room for %ui more peers in the gateway upstream "
                      "zone of \"%V\"", fresh - room, &gcf->upstream->host);
        ngx_free(claimed);
        ngx_free(found);
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {

        flags = GW_PEER_LIVE
                | (pc[i].down ? GW_PEER_DOWN : 0)
                | (pc[i].backup ? GW_PEER_BACKUP : 0);

        s = found[i];

        if (s != NGX_HTTP_GATEWAY_NO_SLOT) {
            /* a known peer: keep its breaker, take the new parameters */
            p = &sh->peers[s];
            p->weight = (uint32_t) pc[i].weight;
            p->max_conns = (uint32_t) pc[i].max_conns;
            p->flags = flags;

        } else {
            s = ngx_http_gateway_upstream_free_slot(sh, claimed);
            ngx_http_gateway_upstream_assign_slot(sh, s, &pc[i], flags, now);
            p = &sh->peers[s];
            claimed[s] = 1;
        }

        pc[i].slot = s;
        pc[i].slot_generation = p->slot_generation;

        /* configured peers' series (the stats zone started first: bound) */

        if (pc[i].transitions) {
            sh->addrs[s].transitions = *pc[i].transitions;
        }
    }

    /* peers gone from the set stop being chosen */

    for (s = 0; s < sh->nslots; s++) {
        if (!claimed[s]) {
            sh->peers[s].flags &= ~GW_PEER_LIVE;
        }
    }

    ngx_free(claimed);
    ngx_free(found);

    return NGX_OK;
}


/*
 * What this process holds in the table (its requests in flight), kept
 * with every pick and release; NULL when the zone has no room for it.
 * Called under the zone's mutex.
 */

gw_holding_t *
ngx_http_gateway_upstream_holdings(ngx_http_gateway_upstream_srv_conf_t *gcf)
{
    ngx_http_gateway_upstream_shctx_t  *sh;

    sh = gcf->sh;

    if (ngx_process_slot < 0 || ngx_process_slot >= NGX_MAX_PROCESSES) {
        return NULL;
    }

    if (sh->holdings[ngx_process_slot] == NULL) {
        sh->holdings[ngx_process_slot] = ngx_slab_calloc_locked(gcf->shpool,
                                       sh->capacity * sizeof(gw_holding_t));
    }

    return sh->holdings[ngx_process_slot];
}


/*
 * nginx gives a process slot to a new process only once the one before
 * has exited: whatever the slot still holds in a table belongs to a
 * process that died in the middle of requests (killed, crashed), and is
 * given back before this one starts.
 */

ngx_int_t
ngx_http_gateway_upstream_init_process(ngx_cycle_t *cycle)
{
    uint32_t                                given;
    ngx_uint_t                              i;
    gw_holding_t                           *holdings;
    ngx_http_gateway_upstream_shctx_t      *sh;
    ngx_http_gateway_upstream_srv_conf_t  **gcfp, *gcf;
    ngx_http_gateway_upstream_main_conf_t  *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_gateway_upstream_module);

    if (gmcf == NULL
        || ngx_process_slot < 0 || ngx_process_slot >= NGX_MAX_PROCESSES)
    {
        return NGX_OK;
    }

    gcfp = gmcf->upstreams.elts;

    for (i = 0; i < gmcf->upstreams.nelts; i++) {
        gcf = gcfp[i];
        sh = gcf->sh;

        if (!gcf->initialized || sh == NULL) {
            continue;
        }

        ngx_shmtx_lock(&gcf->shpool->mutex);

        holdings = sh->holdings[ngx_process_slot];
        given = holdings ? gw_balancer_reclaim(sh->peers, holdings, sh->nslots)
                         : 0;

        ngx_shmtx_unlock(&gcf->shpool->mutex);

        if (given) {
            ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                          "gateway balancer of upstream \"%V\": %uD requests "
                          "of a process that exited abnormally no longer "
                          "count", &gcf->upstream->host, given);
        }
    }

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
        if (pc[i].slot != NGX_HTTP_GATEWAY_NO_SLOT && pc[i].slot + 1 > size) {
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
            if (pc[i].slot != NGX_HTTP_GATEWAY_NO_SLOT) {
                map[pc[i].slot] = (ngx_int_t) i;
            }
        }
    }

    gcf->map = map;
    gcf->rr = rr;
    gcf->map_size = size;
    gcf->map_peers = peers;

    return NGX_OK;
}


/* The collected families, once the upstreams are known. */

ngx_int_t
ngx_http_gateway_upstream_stats_init(ngx_conf_t *cf,
    ngx_http_gateway_upstream_main_conf_t *gmcf)
{
    ngx_http_gateway_stats_family_t  *family;

    if (gmcf->upstreams.nelts == 0) {
        return NGX_OK;
    }

    family = ngx_http_gateway_stats_family(cf, &ngx_http_gateway_states_def);
    if (family == NULL) {
        return NGX_ERROR;
    }

    ngx_http_gateway_stats_collect_data(family, gmcf);

    family = ngx_http_gateway_stats_family(cf, &ngx_http_gateway_up_def);
    if (family == NULL) {
        return NGX_ERROR;
    }

    ngx_http_gateway_stats_collect_data(family, gmcf);

    return ngx_http_gateway_upstream_status_add(cf, gmcf);
}


/*
 * Every live peer of every table now, as the balancer would see it: value()
 * of each, under the table's lock.
 */

static void
ngx_http_gateway_upstream_collect(ngx_http_gateway_stats_emit_t *emit,
    ngx_http_gateway_upstream_main_conf_t *gmcf,
    double (*value)(gw_peer_t *peer, ngx_uint_t state))
{
    int64_t                                 now;
    ngx_str_t                               labels[2];
    ngx_uint_t                              i, s, state;
    ngx_http_gateway_upstream_shctx_t      *sh;
    ngx_http_gateway_upstream_srv_conf_t  **gcfp, *gcf;

    now = (int64_t) ngx_current_msec;
    gcfp = gmcf->upstreams.elts;

    for (i = 0; i < gmcf->upstreams.nelts; i++) {
        gcf = gcfp[i];
        sh = gcf->sh;

        if (sh == NULL) {
            continue;
        }

        labels[0] = gcf->upstream->host;

        ngx_shmtx_lock(&gcf->shpool->mutex);

        for (s = 0; s < sh->nslots; s++) {
            if (!(sh->peers[s].flags & GW_PEER_LIVE)) {
                continue;
            }

            state = gw_breaker_state(&sh->peers[s].breaker, &gcf->breaker,
                                     now);

            labels[1].data = sh->addrs[s].name;
            labels[1].len = sh->addrs[s].name_len;

            /* the labels are copied: the table may change after the lock */

            ngx_http_gateway_stats_emit(emit, labels,
                                        value(&sh->peers[s], state));
        }

        ngx_shmtx_unlock(&gcf->shpool->mutex);
    }
}


/* gateway_circuit_state: 0 closed, 1 half-open, 2 open */

static double
ngx_http_gateway_upstream_state_value(gw_peer_t *peer, ngx_uint_t state)
{
    return state == GW_CIRCUIT_OPEN ? 2
           : state == GW_CIRCUIT_HALF_OPEN ? 1 : 0;
}


static void
ngx_http_gateway_upstream_collect_states(ngx_http_gateway_stats_emit_t *emit,
    void *data)
{
    ngx_http_gateway_upstream_collect(emit, data,
                                      ngx_http_gateway_upstream_state_value);
}


/* gateway_upstream_peer_up: 1 when the balancer may choose the peer */

static double
ngx_http_gateway_upstream_up_value(gw_peer_t *peer, ngx_uint_t state)
{
    return !(peer->flags & GW_PEER_DOWN) && state != GW_CIRCUIT_OPEN;
}


static void
ngx_http_gateway_upstream_collect_up(ngx_http_gateway_stats_emit_t *emit,
    void *data)
{
    ngx_http_gateway_upstream_collect(emit, data,
                                      ngx_http_gateway_upstream_up_value);
}
