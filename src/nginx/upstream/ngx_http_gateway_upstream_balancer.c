/*
 * The gateway balancer's per request hooks. Round robin's per request data
 * is kept (for TLS session reuse and nginx's upstream "zone") and wrapped;
 * get/free choose and release peers in the shared table under its mutex,
 * and classify how each try went for the peer's breaker; a header filter
 * judges a half-open trial as soon as its response header arrives.
 */

#include "ngx_http_gateway_upstream.h"


static ngx_int_t ngx_http_gateway_upstream_get_peer(ngx_peer_connection_t *pc,
    void *data);
static void ngx_http_gateway_upstream_free_peer(ngx_peer_connection_t *pc,
    void *data, ngx_uint_t state);
#if (NGX_HTTP_SSL)
static ngx_int_t ngx_http_gateway_upstream_set_session(
    ngx_peer_connection_t *pc, void *data);
static void ngx_http_gateway_upstream_save_session(ngx_peer_connection_t *pc,
    void *data);
#endif
static ngx_uint_t ngx_http_gateway_upstream_take_reserved(
    ngx_http_gateway_upstream_peer_data_t *bp, gw_pick_t *pick);
static ngx_http_upstream_rr_peer_t *ngx_http_gateway_upstream_rr_peer(
    ngx_http_gateway_upstream_srv_conf_t *gcf, gw_pick_t *pick);
static ngx_int_t ngx_http_gateway_upstream_table_peer(
    ngx_http_gateway_upstream_peer_data_t *bp, ngx_peer_connection_t *pc,
    ngx_uint_t index);
static gw_outcome_t ngx_http_gateway_upstream_classify(
    ngx_http_gateway_upstream_peer_data_t *bp, ngx_peer_connection_t *pc,
    ngx_uint_t state);
static ngx_uint_t ngx_http_gateway_upstream_failure_status(
    ngx_http_gateway_upstream_srv_conf_t *gcf, ngx_uint_t status);
static void ngx_http_gateway_upstream_report(
    ngx_http_gateway_upstream_peer_data_t *bp, ngx_log_t *log,
    gw_outcome_t outcome, ngx_uint_t release);
static ngx_int_t ngx_http_gateway_upstream_header_filter(
    ngx_http_request_t *r);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;


ngx_int_t
ngx_http_gateway_upstream_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us)
{
    size_t                                  words;
    ngx_http_upstream_t                    *u;
    ngx_http_gateway_upstream_srv_conf_t   *gcf;
    ngx_http_gateway_upstream_peer_data_t  *bp;

    gcf = ngx_http_conf_upstream_srv_conf(us,
                                          ngx_http_gateway_upstream_module);

    if (gcf->original_init_peer(r, us) != NGX_OK) {
        return NGX_ERROR;
    }

    u = r->upstream;

    bp = ngx_pcalloc(r->pool, sizeof(ngx_http_gateway_upstream_peer_data_t));
    if (bp == NULL) {
        return NGX_ERROR;
    }

    bp->rrp = u->peer.data;
    bp->conf = gcf;
    bp->request = r;

    if (gcf->map_peers != bp->rrp->peers
        && ngx_http_gateway_upstream_build_map(gcf, bp->rrp->peers) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the table may grow while this request runs: unset bits are untried */

    words = (gcf->sh->capacity + 63) / 64;

    bp->tried = ngx_pcalloc(r->pool, words * sizeof(uint64_t));
    if (bp->tried == NULL) {
        return NGX_ERROR;
    }

    bp->tried_words = words;

    u->peer.data = bp;
    u->peer.get = ngx_http_gateway_upstream_get_peer;
    u->peer.free = ngx_http_gateway_upstream_free_peer;

#if (NGX_HTTP_SSL)
    bp->original_set_session = u->peer.set_session;
    bp->original_save_session = u->peer.save_session;
    u->peer.set_session = ngx_http_gateway_upstream_set_session;
    u->peer.save_session = ngx_http_gateway_upstream_save_session;
#endif

    return NGX_OK;
}


static ngx_int_t
ngx_http_gateway_upstream_get_peer(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_gateway_upstream_peer_data_t  *bp = data;

    int64_t                                 now;
    ngx_uint_t                              locked, reserved, failed;
    gw_pick_t                               pick;
    gw_pick_rc_t                            rc;
    gw_transition_t                         tr;
    ngx_http_gateway_stat_t                 transitions;
    ngx_http_upstream_rr_peer_t            *rr;
    ngx_http_gateway_upstream_ctx_t        *ctx;
    ngx_http_gateway_upstream_shctx_t      *sh;
    ngx_http_gateway_upstream_srv_conf_t   *gcf;

    pc->cached = 0;
    pc->connection = NULL;

    gcf = bp->conf;
    sh = gcf->sh;
    now = (int64_t) ngx_current_msec;
    rr = NULL;
    tr = GW_TRANSITION_NONE;
    rc = GW_PICK_OK;
    locked = 0;
    failed = 0;

    /*
     * nginx gives a try back when a kept-alive connection failed (the peer
     * had closed it, e.g. on its reload): that try did not really reach the
     * peer, so the peer may be chosen again, on a fresh connection, as
     * round robin does with a single peer
     */

    if (bp->freed && pc->tries > bp->tries_left
        && bp->pick.index / 64 < bp->tried_words)
    {
        ngx_http_gateway_bit_clear(bp->tried, bp->pick.index);
    }

    bp->freed = 0;

    reserved = !bp->started
               && ngx_http_gateway_upstream_take_reserved(bp, &pick);

    bp->started = 1;

    if (!reserved) {
        ngx_shmtx_lock(&gcf->shpool->mutex);
        locked = 1;

        rc = gw_balancer_pick(sh->peers, sh->nslots,
                              (gw_balance_method_t) gcf->method,
                              &gcf->breaker, bp->tried, bp->tried_words, now,
                              &pick, &tr);

        if (rc == GW_PICK_OK) {
            gw_balancer_hold(ngx_http_gateway_upstream_holdings(gcf),
                             sh->nslots, &pick);
        }

        if (rc == GW_PICK_OK && tr != GW_TRANSITION_NONE) {
            transitions = sh->addrs[pick.index].transitions;
        }
    }

    if (rc == GW_PICK_OK) {
        rr = ngx_http_gateway_upstream_rr_peer(gcf, &pick);

        if (rr == NULL) {
            if (!locked) {
                ngx_shmtx_lock(&gcf->shpool->mutex);
                locked = 1;
            }

            if (ngx_http_gateway_upstream_table_peer(bp, pc, pick.index)
                != NGX_OK)
            {
                (void) gw_balancer_release(sh->peers, sh->nslots,
                                           &gcf->breaker, &pick,
                                           GW_OUTCOME_NEUTRAL, now);
                gw_balancer_unhold(ngx_http_gateway_upstream_holdings(gcf),
                                   sh->nslots, &pick);
                failed = 1;
            }
        }
    }

    if (locked) {
        ngx_shmtx_unlock(&gcf->shpool->mutex);
    }

    if (rc != GW_PICK_OK) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                       "gateway balancer: no peer can be chosen");

        pc->name = bp->rrp->peers->name;
        return NGX_BUSY;
    }

    if (failed) {
        return NGX_ERROR;
    }

    if (rr) {
        pc->sockaddr = rr->sockaddr;
        pc->socklen = rr->socklen;
        pc->name = &rr->name;
    }

    bp->rrp->current = rr;
    bp->pick = pick;
    bp->name = pc->name;
    bp->picked = 1;
    bp->reported = 0;

    if (pick.index / 64 < bp->tried_words) {
        ngx_http_gateway_bit_set(bp->tried, pick.index);
    }

    if (tr != GW_TRANSITION_NONE) {
        ngx_http_gateway_upstream_log_transition(pc->log, gcf, pc->name,
                                                 &transitions, tr, 0);
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                   "gateway balancer: peer %V, slot %uD, circuit %s%s",
                   pc->name, pick.index, gw_circuit_state_name(pick.state),
                   reserved ? ", reserved" : "");

    ctx = ngx_http_gateway_upstream_ctx(bp->request);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ctx->peer = *pc->name;
    ctx->state = pick.state;
    ctx->set = 1;
    ctx->attempt = bp;

    return NGX_OK;
}


/*
 * The first try takes the peer the fail-fast check chose, under the lock
 * of its check, for the request's upstream.
 */

static ngx_uint_t
ngx_http_gateway_upstream_take_reserved(
    ngx_http_gateway_upstream_peer_data_t *bp, gw_pick_t *pick)
{
    ngx_http_gateway_upstream_ctx_t  *ctx;

    if (!bp->conf->breaker.failures) {
        return 0;
    }

    ctx = ngx_http_gateway_upstream_ctx(bp->request);

    if (ctx == NULL || !ctx->reserved || ctx->reserved_conf != bp->conf) {
        return 0;
    }

    *pick = ctx->reserved_pick;
    ctx->reserved = 0;

    return 1;
}


/*
 * Round robin's peer for a picked slot, or NULL when this worker's
 * configuration does not hold the slot's current peer.
 */

static ngx_http_upstream_rr_peer_t *
ngx_http_gateway_upstream_rr_peer(ngx_http_gateway_upstream_srv_conf_t *gcf,
    gw_pick_t *pick)
{
    ngx_int_t                      j;
    ngx_http_gateway_peer_conf_t  *pcf;

    j = (pick->index < gcf->map_size) ? gcf->map[pick->index] : -1;

    if (j < 0) {
        return NULL;
    }

    pcf = gcf->peers.elts;

    if (pcf[j].slot_generation != pick->slot_generation) {
        return NULL;
    }

    return gcf->rr[j];
}


/*
 * A peer this worker's configuration does not know (a newer cycle put it
 * in the table): its address is copied from the table into the request's
 * pool. Called under the zone's mutex.
 */

static ngx_int_t
ngx_http_gateway_upstream_table_peer(ngx_http_gateway_upstream_peer_data_t *bp,
    ngx_peer_connection_t *pc, ngx_uint_t index)
{
    u_char                        *p;
    ngx_str_t                     *name;
    ngx_http_gateway_peer_addr_t  *a;

    a = &bp->conf->sh->addrs[index];

    p = ngx_palloc(bp->request->pool,
                   sizeof(ngx_str_t) + a->socklen + a->name_len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    name = (ngx_str_t *) p;
    p += sizeof(ngx_str_t);

    ngx_memcpy(p, &a->sockaddr, a->socklen);
    pc->sockaddr = (struct sockaddr *) p;
    pc->socklen = a->socklen;
    p += a->socklen;

    ngx_memcpy(p, a->name, a->name_len);
    name->data = p;
    name->len = a->name_len;
    pc->name = name;

    return NGX_OK;
}


static gw_outcome_t
ngx_http_gateway_upstream_classify(ngx_http_gateway_upstream_peer_data_t *bp,
    ngx_peer_connection_t *pc, ngx_uint_t state)
{
    ngx_uint_t            status, timedout;
    ngx_connection_t     *c;
    ngx_http_upstream_t  *u;

    u = bp->request->upstream;
    c = pc->connection;

    timedout = c && (c->read->timedout || c->write->timedout);

    /*
     * nginx reports NGX_PEER_FAILED only when it may try another peer, so
     * the status is read here: a listed status on the last try counts too
     */

    status = u ? u->headers_in.status_n : 0;

    if (status) {
        if (ngx_http_gateway_upstream_failure_status(bp->conf, status)) {
            return GW_OUTCOME_FAILURE;
        }

        /* the peer answered, then stalled or broke in the body */

        if (timedout || (c && c->read->error)) {
            return GW_OUTCOME_FAILURE;
        }

        return GW_OUTCOME_SUCCESS;
    }

    if (state & NGX_PEER_FAILED) {

        /* a kept-alive connection the peer had closed says nothing */

        if (pc->cached && !timedout) {
            return GW_OUTCOME_NEUTRAL;
        }

        return GW_OUTCOME_FAILURE;
    }

    /* the client went away (499) or the request failed here */

    return GW_OUTCOME_NEUTRAL;
}


static ngx_uint_t
ngx_http_gateway_upstream_failure_status(
    ngx_http_gateway_upstream_srv_conf_t *gcf, ngx_uint_t status)
{
    return status < 64 * NGX_HTTP_GATEWAY_STATUS_WORDS
           && ngx_http_gateway_bit_test(gcf->statuses, status);
}


static void
ngx_http_gateway_upstream_free_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state)
{
    ngx_http_gateway_upstream_peer_data_t  *bp = data;

    gw_outcome_t                      outcome;
    ngx_http_gateway_upstream_ctx_t  *ctx;

    if (pc->tries) {
        pc->tries--;
    }

    if (!bp->picked) {
        return;
    }

    bp->picked = 0;
    bp->freed = 1;
    bp->tries_left = pc->tries;

    ctx = ngx_http_gateway_upstream_ctx(bp->request);
    if (ctx && ctx->attempt == bp) {
        ctx->attempt = NULL;
    }

    /* a trial already decided by its response header only ends here */

    outcome = bp->reported ? GW_OUTCOME_NEUTRAL
                           : ngx_http_gateway_upstream_classify(bp, pc, state);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                   "gateway balancer: free peer %V, state %ui, outcome %d",
                   pc->name, state, (int) outcome);

    ngx_http_gateway_upstream_report(bp, pc->log, outcome, 1);
}


/*
 * Tells the peer's breaker how the try went: when the try ends (release,
 * which also frees its place on the peer), or before, for a half-open
 * trial judged by its response header.
 */

static void
ngx_http_gateway_upstream_report(ngx_http_gateway_upstream_peer_data_t *bp,
    ngx_log_t *log, gw_outcome_t outcome, ngx_uint_t release)
{
    int64_t                                now, period;
    gw_transition_t                        tr;
    ngx_http_gateway_stat_t                transitions;
    ngx_http_gateway_upstream_shctx_t     *sh;
    ngx_http_gateway_upstream_srv_conf_t  *gcf;

    gcf = bp->conf;
    sh = gcf->sh;
    now = (int64_t) ngx_current_msec;
    period = 0;

    ngx_shmtx_lock(&gcf->shpool->mutex);

    if (release) {
        tr = gw_balancer_release(sh->peers, sh->nslots, &gcf->breaker,
                                 &bp->pick, outcome, now);
        gw_balancer_unhold(ngx_http_gateway_upstream_holdings(gcf),
                           sh->nslots, &bp->pick);

    } else {
        tr = gw_balancer_report(sh->peers, sh->nslots, &gcf->breaker,
                                &bp->pick, outcome, now);
    }

    if (tr == GW_TRANSITION_OPENED || tr == GW_TRANSITION_REOPENED) {
        period = sh->peers[bp->pick.index].breaker.open_until - now;
    }

    if (tr != GW_TRANSITION_NONE) {
        transitions = sh->addrs[bp->pick.index].transitions;
    }

    ngx_shmtx_unlock(&gcf->shpool->mutex);

    if (tr != GW_TRANSITION_NONE) {
        ngx_http_gateway_upstream_log_transition(log, gcf, bp->name,
                                                 &transitions, tr, period);
    }
}


/* a transition's end, as gateway_circuit_transitions_total's to= */
static ngx_uint_t  ngx_http_gateway_transition_to[] = {
    0,                                   /* GW_TRANSITION_NONE */
    NGX_HTTP_GATEWAY_TO_OPEN,            /* GW_TRANSITION_OPENED */
    NGX_HTTP_GATEWAY_TO_HALF_OPEN,       /* GW_TRANSITION_HALF_OPENED */
    NGX_HTTP_GATEWAY_TO_CLOSED,          /* GW_TRANSITION_CLOSED */
    NGX_HTTP_GATEWAY_TO_OPEN             /* GW_TRANSITION_REOPENED */
};


/*
 * Logs and counts a transition; transitions is the peer's series, taken
 * from its slot under the zone's lock (the table may be reallocated).
 */

void
ngx_http_gateway_upstream_log_transition(ngx_log_t *log,
    ngx_http_gateway_upstream_srv_conf_t *gcf, ngx_str_t *peer,
    ngx_http_gateway_stat_t *transitions, gw_transition_t t, int64_t period)
{
    ngx_str_t  *host;

    host = &gcf->upstream->host;

    if (t != GW_TRANSITION_NONE) {
        ngx_http_gateway_stats_add(transitions,
                                   ngx_http_gateway_transition_to[t], 1);
    }

    switch (t) {

    case GW_TRANSITION_OPENED:
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "gateway circuit of peer %V in upstream \"%V\" opened "
                      "after %uD failures, for %L ms",
                      peer, host, gcf->breaker.failures, period);
        break;

    case GW_TRANSITION_REOPENED:
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "gateway circuit of peer %V in upstream \"%V\" reopened "
                      "after a failed trial, for %L ms", peer, host, period);
        break;

    case GW_TRANSITION_HALF_OPENED:
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "gateway circuit of peer %V in upstream \"%V\" is "
                      "half-open", peer, host);
        break;

    case GW_TRANSITION_CLOSED:
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "gateway circuit of peer %V in upstream \"%V\" closed "
                      "after a successful trial", peer, host);
        break;

    default:
        break;
    }
}


#if (NGX_HTTP_SSL)

static ngx_int_t
ngx_http_gateway_upstream_set_session(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_gateway_upstream_peer_data_t  *bp = data;

    if (bp->rrp->current == NULL) {
        return NGX_OK;
    }

    return bp->original_set_session(pc, bp->rrp);
}


static void
ngx_http_gateway_upstream_save_session(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_gateway_upstream_peer_data_t  *bp = data;

    if (bp->rrp->current == NULL) {
        return;
    }

    bp->original_save_session(pc, bp->rrp);
}

#endif


/*
 * A half-open trial is decided by its response header: a peer that answers
 * a long stream (or switches protocols) must not keep its circuit half-open
 * and every other request away until the stream ends.
 */

static ngx_int_t
ngx_http_gateway_upstream_header_filter(ngx_http_request_t *r)
{
    ngx_uint_t                              status;
    gw_outcome_t                            outcome;
    ngx_http_gateway_upstream_ctx_t        *ctx;
    ngx_http_gateway_upstream_peer_data_t  *bp;

    ctx = ngx_http_get_module_ctx(r, ngx_http_gateway_upstream_module);

    if (ctx == NULL || ctx->attempt == NULL || r->upstream == NULL) {
        return ngx_http_next_header_filter(r);
    }

    bp = ctx->attempt;
    status = r->upstream->headers_in.status_n;

    if (!bp->picked || !bp->pick.trial || bp->reported || status == 0
        || bp->request != r)
    {
        return ngx_http_next_header_filter(r);
    }

    outcome = ngx_http_gateway_upstream_failure_status(bp->conf, status)
              ? GW_OUTCOME_FAILURE : GW_OUTCOME_SUCCESS;

    ngx_http_gateway_upstream_report(bp, r->connection->log, outcome, 0);

    bp->reported = 1;

    return ngx_http_next_header_filter(r);
}


void
ngx_http_gateway_upstream_header_filter_init(void)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_gateway_upstream_header_filter;
}
