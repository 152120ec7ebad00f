/*
 * The Consul poller of one upstream, in every worker.
 *
 * Exactly one worker polls: each worker looks at the upstream's Consul
 * zone every second, and the worker holding the lease renews it; a lease
 * not renewed for three seconds (its worker died or hangs) is taken by the
 * next worker that looks, and a worker that goes away gives it up. The
 * holder sends blocking queries (GET /v1/health/service/...?index=N
 * &wait=W) over a background link to one Consul server, reads the answer
 * as it arrives (gw_http_response, gw_consul_reader: the body is never
 * kept whole), and hands a good set to the update. The pace and the index
 * follow Consul's rules (gw_consul_poll_*, in the zone): a burst of quick
 * queries then one a second when Consul answers at once; errors back off
 * and move on to the next server. Every timer and the link's own are
 * cancelable, so a blocking query in flight never holds up a worker that
 * exits on reload or quit.
 */

#include "ngx_http_gateway_consul.h"


#define NGX_HTTP_GATEWAY_CONSUL_LEASE_TICK     1000
#define NGX_HTTP_GATEWAY_CONSUL_LEASE_TIMEOUT  3000
/* a query that does not block still gets a bounded answer time */
#define NGX_HTTP_GATEWAY_CONSUL_QUICK_TIMEOUT  10000
#define NGX_HTTP_GATEWAY_CONSUL_MAX_HEADER     16384
#define NGX_HTTP_GATEWAY_CONSUL_REQUEST_SIZE   8192


static void ngx_http_gateway_consul_lease_handler(ngx_event_t *ev);
static void ngx_http_gateway_consul_next_handler(ngx_event_t *ev);
static void ngx_http_gateway_consul_poll(ngx_http_gateway_consul_poller_t *p);
static void ngx_http_gateway_consul_ask(ngx_http_gateway_consul_poller_t *p);
static void ngx_http_gateway_consul_send(ngx_http_gateway_consul_poller_t *p);
static void ngx_http_gateway_consul_answered(
    ngx_http_gateway_consul_poller_t *p, ngx_uint_t keep_alive);
static void ngx_http_gateway_consul_failed(ngx_http_gateway_consul_poller_t *p,
    const char *what, const char *detail);
static void ngx_http_gateway_consul_give_up(
    ngx_http_gateway_consul_poller_t *p);
static int ngx_http_gateway_consul_body(void *ctx, const char *data,
    size_t len);

static void ngx_http_gateway_consul_connected(ngx_http_gateway_link_t *link);
static ngx_int_t ngx_http_gateway_consul_recv(ngx_http_gateway_link_t *link,
    u_char *data, size_t len);
static ngx_int_t ngx_http_gateway_consul_eof(ngx_http_gateway_link_t *link);
static void ngx_http_gateway_consul_closed(ngx_http_gateway_link_t *link);


static ngx_http_gateway_link_handlers_t  ngx_http_gateway_consul_handlers = {
    ngx_http_gateway_consul_connected,
    ngx_http_gateway_consul_recv,
    ngx_http_gateway_consul_eof,
    ngx_http_gateway_consul_closed
};


void
ngx_http_gateway_consul_poller_link(ngx_http_gateway_consul_conf_t *ccf,
    ngx_http_gateway_link_t *link)
{
    link->handlers = &ngx_http_gateway_consul_handlers;
    link->effect = "the last good set of peers is kept";
    link->persistent = 0;
    link->cancelable = 1;
}


ngx_int_t
ngx_http_gateway_consul_poller_start(ngx_cycle_t *cycle,
    ngx_http_gateway_consul_conf_t *ccf)
{
    ngx_uint_t                         i;
    gw_consul_limits_t                 limits;
    ngx_http_gateway_link_t          **link;
    ngx_http_gateway_consul_poller_t  *p;

    p = ngx_pcalloc(cycle->pool, sizeof(ngx_http_gateway_consul_poller_t));
    if (p == NULL) {
        return NGX_ERROR;
    }

    p->ccf = ccf;
    p->log = cycle->log;

    p->request = ngx_pnalloc(cycle->pool, NGX_HTTP_GATEWAY_CONSUL_REQUEST_SIZE);
    p->set = ngx_palloc(cycle->pool, ccf->max_peers * sizeof(gw_consul_peer_t));
    if (p->request == NULL || p->set == NULL) {
        return NGX_ERROR;
    }

    limits.max_peers = ccf->max_peers;
    limits.max_entry = GW_CONSUL_DEFAULT_MAX_ENTRY;

    p->response = gw_http_response_new(NGX_HTTP_GATEWAY_CONSUL_MAX_HEADER);
    p->reader = gw_consul_reader_new(&limits);
    if (p->response == NULL || p->reader == NULL) {
        if (p->response) {
            gw_http_response_free(p->response);
        }

        if (p->reader) {
            gw_consul_reader_free(p->reader);
        }

        return NGX_ERROR;
    }

    gw_consul_poll_conf_default(&p->rules);

    p->lease.handler = ngx_http_gateway_consul_lease_handler;
    p->lease.data = p;
    p->lease.log = cycle->log;
    p->lease.cancelable = 1;

    p->next.handler = ngx_http_gateway_consul_next_handler;
    p->next.data = p;
    p->next.log = cycle->log;
    p->next.cancelable = 1;

    link = ccf->links.elts;

    for (i = 0; i < ccf->links.nelts; i++) {
        link[i]->data = p;
    }

    ccf->poller = p;

    /* the workers look at once, so a new cycle's poller starts quickly */
    ngx_add_timer(&p->lease, 1);

    return NGX_OK;
}


void
ngx_http_gateway_consul_poller_stop(ngx_http_gateway_consul_conf_t *ccf)
{
    ngx_http_gateway_consul_poller_t  *p;

    p = ccf->poller;

    if (p == NULL || p->stopped) {
        return;
    }

    ngx_http_gateway_consul_give_up(p);

    p->stopped = 1;

    if (p->lease.timer_set) {
        ngx_del_timer(&p->lease);
    }

    if (p->response) {
        gw_http_response_free(p->response);
        p->response = NULL;
    }

    if (p->reader) {
        gw_consul_reader_free(p->reader);
        p->reader = NULL;
    }
}


/*
 * Every second: the holder renews the lease; another worker takes a lease
 * that nobody holds or that was not renewed in time.
 */

static void
ngx_http_gateway_consul_lease_handler(ngx_event_t *ev)
{
    ngx_http_gateway_consul_poller_t  *p = ev->data;

    ngx_msec_t                         now;
    ngx_uint_t                         mine;
    ngx_http_gateway_consul_conf_t    *ccf;
    ngx_http_gateway_consul_shctx_t   *sh;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        ngx_http_gateway_consul_poller_stop(p->ccf);
        return;
    }

    ccf = p->ccf;
    sh = ccf->sh;
    now = ngx_current_msec;

    ngx_shmtx_lock(&ccf->shpool->mutex);

    mine = sh->owner == ngx_pid
           || sh->owner == 0
           || now - sh->heartbeat > NGX_HTTP_GATEWAY_CONSUL_LEASE_TIMEOUT;

    if (mine) {
        if (sh->owner != ngx_pid && sh->owner != 0) {
            ngx_log_error(NGX_LOG_NOTICE, p->log, 0,
                          "gateway_consul \"%V\" of upstream \"%V\": worker "
                          "%P takes over from worker %P",
                          &ccf->service, &ccf->upstream->host, ngx_pid,
                          sh->owner);
        }

        sh->owner = ngx_pid;
        sh->heartbeat = now;
    }

    ngx_shmtx_unlock(&ccf->shpool->mutex);

    if (mine && !p->polling) {
        p->polling = 1;
        ngx_http_gateway_consul_poll(p);

    } else if (!mine && p->polling) {
        /* this worker stalled and another took over */
        ngx_http_gateway_consul_give_up(p);
    }

    ngx_add_timer(&p->lease, NGX_HTTP_GATEWAY_CONSUL_LEASE_TICK);
}


/* Stops polling, and gives the lease up when it is this worker's. */

static void
ngx_http_gateway_consul_give_up(ngx_http_gateway_consul_poller_t *p)
{
    ngx_http_gateway_link_t          *link;
    ngx_http_gateway_consul_conf_t   *ccf;

    ccf = p->ccf;

    p->polling = 0;

    if (p->next.timer_set) {
        ngx_del_timer(&p->next);
    }

    if (p->updating) {
        ngx_http_gateway_consul_update_cancel(p);
    }

    link = p->link;
    p->asking = 0;

    if (link && link->state >= NGX_HTTP_GATEWAY_LINK_CONNECTED) {
        ngx_http_gateway_link_close(link);
    }

    ngx_shmtx_lock(&ccf->shpool->mutex);

    if (ccf->sh->owner == ngx_pid) {
        ccf->sh->owner = 0;
    }

    ngx_shmtx_unlock(&ccf->shpool->mutex);
}


static void
ngx_http_gateway_consul_next_handler(ngx_event_t *ev)
{
    ngx_http_gateway_consul_poll(ev->data);
}


void
ngx_http_gateway_consul_poller_resume(ngx_http_gateway_consul_poller_t *p)
{
    ngx_http_gateway_consul_poll(p);
}


/* The next query, now or when the pace allows. */

static void
ngx_http_gateway_consul_poll(ngx_http_gateway_consul_poller_t *p)
{
    ngx_msec_int_t                    delay;
    ngx_http_gateway_consul_conf_t   *ccf;

    if (!p->polling || p->asking || p->updating || p->stopped) {
        return;
    }

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        ngx_http_gateway_consul_poller_stop(p->ccf);
        return;
    }

    ccf = p->ccf;

    ngx_shmtx_lock(&ccf->shpool->mutex);
    delay = (ngx_msec_int_t) gw_consul_poll_delay(&ccf->sh->poll, &p->rules,
                                                  (int64_t) ngx_current_msec);
    ngx_shmtx_unlock(&ccf->shpool->mutex);

    if (delay > 0) {
        ngx_add_timer(&p->next, (ngx_msec_t) delay);
        return;
    }

    ngx_http_gateway_consul_ask(p);
}


static void
ngx_http_gateway_consul_ask(ngx_http_gateway_consul_poller_t *p)
{
    u_char                            host_text[NGX_SOCKADDR_STRLEN + 8];
    ngx_str_t                         host;
    ngx_uint_t                        server;
    gw_consul_query_t                 q;
    ngx_http_gateway_link_t         **links, *link;
    ngx_http_gateway_consul_conf_t   *ccf;

    ccf = p->ccf;
    links = ccf->links.elts;

    ngx_shmtx_lock(&ccf->shpool->mutex);

    server = ccf->sh->poll.server % ccf->links.nelts;
    link = links[server];

    /*
     * a query blocks only on a kept-alive connection, one that answered
     * the last query: behind a new one may be a Consul at a lower index
     */

    p->index = gw_consul_poll_begin(&ccf->sh->poll, &p->rules,
                                    (int64_t) ngx_current_msec,
                                    link == p->link
                                    && link->state
                                       >= NGX_HTTP_GATEWAY_LINK_CONNECTED);

    ngx_shmtx_unlock(&ccf->shpool->mutex);

    /* after a failover the kept-alive connection to the last one goes */

    if (p->link && p->link != link
        && p->link->state >= NGX_HTTP_GATEWAY_LINK_CONNECTED)
    {
        ngx_http_gateway_link_close(p->link);
    }

    p->link = link;

    host.data = host_text;
    host.len = ngx_snprintf(host_text, sizeof(host_text), "%V:%d",
                            &link->host, (int) link->port) - host_text;

    ngx_http_gateway_consul_query(ccf, &host, &q);

    p->request_len = gw_consul_request(&q, p->index, (char *) p->request,
                                       NGX_HTTP_GATEWAY_CONSUL_REQUEST_SIZE);
    if (p->request_len == 0) {
        /* checked at configuration time: cannot happen */
        ngx_log_error(NGX_LOG_ALERT, p->log, 0,
                      "gateway_consul \"%V\": the query cannot be built",
                      &ccf->service);
        return;
    }

    gw_http_response_reset(p->response, ngx_http_gateway_consul_body, p);
    gw_consul_reader_reset(p->reader);
    p->refusal_len = 0;
    p->asking = 1;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, p->log, 0,
                   "gateway_consul \"%V\": query %V, index %uL",
                   &ccf->service, &link->name, p->index);

    if (link->state >= NGX_HTTP_GATEWAY_LINK_CONNECTED) {
        ngx_http_gateway_consul_send(p);
        return;
    }

    ngx_http_gateway_link_connect(link);
}


static void
ngx_http_gateway_consul_send(ngx_http_gateway_consul_poller_t *p)
{
    ngx_msec_t                        timeout, wait;
    ngx_http_gateway_consul_conf_t   *ccf;

    ccf = p->ccf;

    if (ngx_http_gateway_link_send(p->link, p->request, p->request_len)
        != NGX_OK)
    {
        ngx_http_gateway_link_fail(p->link, "cannot send the query", NULL);
        return;
    }

    /* Consul adds up to wait/16 to a blocking query's wait */

    wait = ccf->wait;
    timeout = wait + wait / 14 + 2000;

    if (p->index == 0) {
        timeout = ngx_min(timeout, NGX_HTTP_GATEWAY_CONSUL_QUICK_TIMEOUT);
    }

    ngx_http_gateway_link_expect(p->link, timeout);
}


/* the body of a 200 goes to the reader; of anything else, its start */

static int
ngx_http_gateway_consul_body(void *ctx, const char *data, size_t len)
{
    ngx_http_gateway_consul_poller_t  *p = ctx;

    size_t  n;

    if (gw_http_response_status(p->response) == 200) {
        return gw_consul_reader_feed(p->reader, data, len) != GW_CONSUL_OK;
    }

    n = ngx_min(len, sizeof(p->refusal) - p->refusal_len);
    ngx_memcpy(p->refusal + p->refusal_len, data, n);
    p->refusal_len += n;

    return 0;
}


/* the link's owner: connected, bytes, end of stream, closed */

static void
ngx_http_gateway_consul_connected(ngx_http_gateway_link_t *link)
{
    ngx_http_gateway_consul_poller_t  *p = link->data;

    if (p->asking && p->link == link) {
        ngx_http_gateway_consul_send(p);
        return;
    }

    ngx_http_gateway_link_close(link);
}


static ngx_int_t
ngx_http_gateway_consul_recv(ngx_http_gateway_link_t *link, u_char *data,
    size_t len)
{
    ngx_http_gateway_consul_poller_t  *p = link->data;

    size_t        used;
    u_char       *e;
    gw_http_rc_t  rc;

    if (!p->asking || p->link != link) {
        ngx_cpystrn(link->error, (u_char *) "data nobody asked for",
                    NGX_HTTP_GATEWAY_LINK_ERRLEN);
        return NGX_ERROR;
    }

    rc = gw_http_response_feed(p->response, (char *) data, len, &used);

    if (rc == GW_HTTP_AGAIN) {
        return NGX_OK;
    }

    if (rc == GW_HTTP_ERROR) {
        e = (gw_http_response_status(p->response) == 200
             && gw_http_response_has_headers(p->response))
            ? (u_char *) gw_consul_reader_error(p->reader)
            : (u_char *) gw_http_response_error(p->response);

        if (*e == '\0') {
            e = (u_char *) gw_http_response_error(p->response);
        }

        ngx_cpystrn(link->error, e, NGX_HTTP_GATEWAY_LINK_ERRLEN);
        return NGX_ERROR;
    }

    /* what follows the answer cannot be trusted: no reuse then */

    ngx_http_gateway_consul_answered(p, used == len
                                        && gw_http_response_keep_alive(
                                                               p->response));
    return NGX_OK;
}


static ngx_int_t
ngx_http_gateway_consul_eof(ngx_http_gateway_link_t *link)
{
    ngx_http_gateway_consul_poller_t  *p = link->data;

    if (!p->asking || p->link != link) {
        /* Consul closed a kept-alive connection between queries */
        return NGX_OK;
    }

    if (gw_http_response_eof(p->response) != GW_HTTP_DONE) {
        ngx_cpystrn(link->error,
                    (u_char *) gw_http_response_error(p->response),
                    NGX_HTTP_GATEWAY_LINK_ERRLEN);
        return NGX_ERROR;
    }

    ngx_http_gateway_consul_answered(p, 0);

    return NGX_OK;
}


static void
ngx_http_gateway_consul_closed(ngx_http_gateway_link_t *link)
{
    ngx_http_gateway_consul_poller_t  *p = link->data;

    if (p == NULL || p->stopped || !p->asking || p->link != link) {
        return;
    }

    p->asking = 0;

    if (link->exiting) {
        return;
    }

    /* the link said what went wrong (once per interval) */
    ngx_http_gateway_consul_failed(p, (char *) link->error, NULL);
}


/* A whole answer: a set to update, or a failure. */

static void
ngx_http_gateway_consul_answered(ngx_http_gateway_consul_poller_t *p,
    ngx_uint_t keep_alive)
{
    u_char                            refusal[NGX_INT_T_LEN + 80], *last;
    size_t                            len;
    uint64_t                          index, before;
    const char                       *value;
    ngx_int_t                         code;
    gw_consul_result_t                res;
    gw_consul_status_t                rc;
    gw_consul_index_event_t           event;
    ngx_http_gateway_link_t          *link;
    ngx_http_gateway_consul_conf_t   *ccf;

    ccf = p->ccf;
    link = p->link;
    code = gw_http_response_status(p->response);

    p->asking = 0;
    ngx_http_gateway_link_expect(link, 0);

    if (code != 200) {
        /* "403 ACL not found", "500 No cluster leader": Consul's words */
        last = ngx_snprintf(refusal, NGX_INT_T_LEN + 1, "%i ", code);

        for (len = 0; len < p->refusal_len; len++) {
            if (p->refusal[len] == CR || p->refusal[len] == LF) {
                break;
            }
        }

        last = ngx_http_gateway_printable(last, p->refusal, len);
        *last = '\0';
        ngx_http_gateway_consul_failed(p, "Consul answered", (char *) refusal);
        return;
    }

    rc = gw_consul_reader_finish(p->reader, &res);

    if (rc != GW_CONSUL_OK) {
        ngx_http_gateway_consul_failed(p, "invalid reply",
                                       gw_consul_reader_error(p->reader));
        return;
    }

    ngx_http_gateway_link_ready(link);

    if (!keep_alive) {
        ngx_http_gateway_link_close(link);
    }

    value = gw_http_response_header(p->response, "X-Consul-Index", &len);
    index = value ? gw_consul_index_parse(value, len) : 0;

    ngx_shmtx_lock(&ccf->shpool->mutex);
    before = ccf->sh->poll.index;
    event = gw_consul_poll_success(&ccf->sh->poll, index);
    ngx_shmtx_unlock(&ccf->shpool->mutex);

    ngx_http_gateway_stats_set(ccf->stats.index, 0, (ngx_atomic_uint_t) index);

    switch (event) {

    case GW_CONSUL_INDEX_RESET:
        ngx_log_error(NGX_LOG_NOTICE, p->log, 0,
                      "gateway_consul \"%V\" of upstream \"%V\": the Consul "
                      "index went back from %uL to %uL, starting over",
                      &ccf->service, &ccf->upstream->host, before, index);
        break;

    case GW_CONSUL_INDEX_INVALID:
        if (before != 1) {
            ngx_log_error(NGX_LOG_WARN, p->log, 0,
                          "gateway_consul \"%V\" of upstream \"%V\": Consul "
                          "sent no valid X-Consul-Index, queries block on "
                          "index 1", &ccf->service, &ccf->upstream->host);
        }
        break;

    default:
        break;
    }

    if (ngx_http_gateway_consul_update(p, &res, index) == NGX_AGAIN) {
        return;
    }

    ngx_http_gateway_consul_poll(p);
}


/*
 * A query failed: the link is closed (and said why, once per interval, as
 * the link does), the error is kept for status, and the next query waits.
 */

static void
ngx_http_gateway_consul_failed(ngx_http_gateway_consul_poller_t *p,
    const char *what, const char *detail)
{
    u_char                           *last;
    ngx_http_gateway_link_t          *link;
    ngx_http_gateway_consul_conf_t   *ccf;
    ngx_http_gateway_consul_shctx_t  *sh;

    ccf = p->ccf;
    sh = ccf->sh;
    link = p->link;

    ngx_shmtx_lock(&ccf->shpool->mutex);

    (void) gw_consul_poll_failure(&sh->poll, &p->rules,
                                  (uint32_t) ccf->links.nelts,
                                  (int64_t) ngx_current_msec,
                                  (uint32_t) ngx_random());
    sh->errors++;

    last = ngx_snprintf(sh->error, NGX_HTTP_GATEWAY_LINK_ERRLEN - 1, "%s%s%s",
                        what, detail ? ": " : "", detail ? detail : "");
    *last = '\0';

    ngx_shmtx_unlock(&ccf->shpool->mutex);

    ngx_http_gateway_stats_add(ccf->stats.errors, 0, 1);

    if (detail && link && link->state >= NGX_HTTP_GATEWAY_LINK_CONNECTED) {
        /* an answer that was not good: the link reports it and closes */
        ngx_http_gateway_link_fail(link, what, detail);
    }

    ngx_http_gateway_consul_poll(p);
}
