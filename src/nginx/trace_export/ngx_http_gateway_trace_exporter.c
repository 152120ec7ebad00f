/*
 * A worker's span exporter: spans wait in the worker's queue (bounded:
 * a full queue drops and counts) and go to the collector as OTLP/HTTP
 * POSTs, one batch at a time on the background link (kept alive between
 * batches), never on the request's time:
 *
 *   - a batch goes when it is full, or when the oldest span has waited
 *     "interval";
 *   - 2xx: the batch is delivered (a partial_success is counted and
 *     logged); 429, 502, 503, 504, a refused or broken connection and a
 *     timeout keep it for another try after a backoff that doubles up to
 *     NGX_HTTP_GATEWAY_TRACE_MAX_BACKOFF; any other status drops it (OTLP
 *     says those are not to be retried) and also backs off;
 *   - the link logs what goes wrong with the connection once per interval;
 *     the collector's answers are logged at once when they change, else at
 *     most once per NGX_HTTP_GATEWAY_TRACE_LOG_EVERY;
 *   - on "nginx -s quit" (or a reload) the worker sends what it holds, one
 *     try per batch, for at most NGX_HTTP_GATEWAY_TRACE_EXIT_TIME, and
 *     counts what it could not deliver.
 *
 * While spans are held a non-cancelable timer ticks at most a second
 * apart, so a worker that is asked to quit does not leave before it has
 * tried to send them; with nothing held no timer runs.
 */

#include "ngx_http_gateway_trace_export.h"
#include "gw_http.h"

#include <nginx.h>


#define NGX_HTTP_GATEWAY_TRACE_CONNECT_TIMEOUT  5000
#define NGX_HTTP_GATEWAY_TRACE_SEND_TIMEOUT     10000
#define NGX_HTTP_GATEWAY_TRACE_MAX_BACKOFF      30000
#define NGX_HTTP_GATEWAY_TRACE_TICK             1000
#define NGX_HTTP_GATEWAY_TRACE_EXIT_TIME        5000
#define NGX_HTTP_GATEWAY_TRACE_LOG_EVERY        10000
#define NGX_HTTP_GATEWAY_TRACE_ANSWER_MAX       1024


typedef struct {
    ngx_http_gateway_trace_export_main_conf_t  *conf;
    gw_otlp_batcher_t                          *batcher;
    gw_http_response_t                         *response;

    ngx_http_gateway_link_t                    *link;
    ngx_event_t                                 tick;
    ngx_event_t                                 kick;
    ngx_log_t                                   log;

    /* the request in flight and its answer */
    size_t                                      spans;
    u_char                                      answer[NGX_HTTP_GATEWAY_TRACE_ANSWER_MAX];
    size_t                                      answer_len;
    unsigned                                    sending:1;
    unsigned                                    reused:1;
    unsigned                                    received:1;
    unsigned                                    exiting:1;

    ngx_msec_t                                  oldest;     /* first span held */
    ngx_msec_t                                  not_before; /* backoff */
    ngx_msec_t                                  backoff;
    ngx_msec_t                                  exit_deadline;

    ngx_atomic_uint_t                           exported;
    ngx_atomic_uint_t                           dropped;
    ngx_atomic_uint_t                           errors;

    ngx_msec_t                                  logged;     /* last error log */
    ngx_uint_t                                  unlogged;   /* errors since */
    const char                                 *last_what;
    u_char                                      last_detail[16];
    size_t                                      last_detail_len;
    ngx_msec_t                                  logged_drop;
    ngx_uint_t                                  unlogged_drops;
} ngx_http_gateway_trace_exporter_t;


static void ngx_http_gateway_trace_tick(ngx_event_t *ev);
static void ngx_http_gateway_trace_kick(ngx_event_t *ev);
static void ngx_http_gateway_trace_schedule(
    ngx_http_gateway_trace_exporter_t *ex);
static void ngx_http_gateway_trace_send(ngx_http_gateway_trace_exporter_t *ex);
static void ngx_http_gateway_trace_connected(ngx_http_gateway_link_t *link);
static ngx_int_t ngx_http_gateway_trace_recv(ngx_http_gateway_link_t *link,
    u_char *data, size_t len);
static ngx_int_t ngx_http_gateway_trace_eof(ngx_http_gateway_link_t *link);
static void ngx_http_gateway_trace_closed(ngx_http_gateway_link_t *link);
static void ngx_http_gateway_trace_rejected(
    ngx_http_gateway_trace_exporter_t *ex, gw_otlp_str_t *message);
static void ngx_http_gateway_trace_done(ngx_http_gateway_trace_exporter_t *ex,
    ngx_int_t status);
static int ngx_http_gateway_trace_answer(void *data, const char *buf,
    size_t len);


static ngx_http_gateway_link_handlers_t  ngx_http_gateway_trace_link_handlers = {
    ngx_http_gateway_trace_connected,
    ngx_http_gateway_trace_recv,
    ngx_http_gateway_trace_eof,
    ngx_http_gateway_trace_closed
};


/* Counts spans in the worker's tally (for the log) and in the registry. */
#define ngx_http_gateway_trace_count(ex, result, n)                           \
    ngx_http_gateway_stats_add((ex)->conf->spans,                             \
                               NGX_HTTP_GATEWAY_TRACE_ ## result, n)


/* one per worker */
static ngx_http_gateway_trace_exporter_t  *ngx_http_gateway_trace_exporter;


ngx_int_t
ngx_http_gateway_trace_exporter_start(ngx_cycle_t *cycle,
    ngx_http_gateway_trace_export_main_conf_t *tmcf)
{
    gw_otlp_attr_t                      service;
    gw_otlp_str_t                       scope, version;
    ngx_http_gateway_trace_exporter_t  *ex;

    ex = ngx_pcalloc(cycle->pool, sizeof(ngx_http_gateway_trace_exporter_t));
    if (ex == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(&service, sizeof(gw_otlp_attr_t));
    service.key.data = "service.name";
    service.key.len = sizeof("service.name") - 1;
    service.str.data = (const char *) tmcf->service.data;
    service.str.len = tmcf->service.len;

    scope.data = "ngx_http_gateway_module";
    scope.len = sizeof("ngx_http_gateway_module") - 1;
    version.data = NGINX_VERSION;
    version.len = sizeof(NGINX_VERSION) - 1;

    ex->batcher = gw_otlp_batcher_create(&service, 1, scope, version,
                                         tmcf->batch, tmcf->queue);
    ex->response = gw_http_response_new(8192);

    if (ex->batcher == NULL || ex->response == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "gateway_trace_export: out of memory");
        return NGX_ERROR;
    }

    ex->conf = tmcf;

    ex->log = *cycle->log;
    ex->log.handler = NULL;
    ex->log.data = NULL;

    ex->tick.handler = ngx_http_gateway_trace_tick;
    ex->tick.data = ex;
    ex->tick.log = &ex->log;

    ex->kick.handler = ngx_http_gateway_trace_kick;
    ex->kick.data = ex;
    ex->kick.log = &ex->log;

    ex->link = tmcf->link;
    ex->link->data = ex;
    ex->link->handlers = &ngx_http_gateway_trace_link_handlers;

    ngx_http_gateway_trace_exporter = ex;

    return NGX_OK;
}


void
ngx_http_gateway_trace_exporter_stop(ngx_cycle_t *cycle)
{
    size_t                              held;
    ngx_http_gateway_trace_exporter_t  *ex;

    ex = ngx_http_gateway_trace_exporter;
    if (ex == NULL) {
        return;
    }

    held = gw_otlp_batcher_held(ex->batcher);
    if (held) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "gateway_trace_export: %uz spans to %V not delivered "
                      "before the worker exited", held, &ex->conf->collector);
    }

    if (ex->link->state > NGX_HTTP_GATEWAY_LINK_DOWN) {
        ngx_http_gateway_link_close(ex->link);
    }

    ex->link->data = NULL;

    if (ex->tick.timer_set) {
        ngx_del_timer(&ex->tick);
    }

    if (ex->kick.posted) {
        ngx_delete_posted_event(&ex->kick);
    }

    gw_otlp_batcher_destroy(ex->batcher);
    gw_http_response_free(ex->response);
    ngx_http_gateway_trace_exporter = NULL;
}


/*
 * Logs a problem with the collector: at most once per
 * NGX_HTTP_GATEWAY_TRACE_LOG_EVERY while it stays the same, at once when
 * it changes (tries are at least a backoff apart).
 */
static void
ngx_http_gateway_trace_report(ngx_http_gateway_trace_exporter_t *ex,
    const char *what, ngx_str_t *detail)
{
    ngx_msec_t  now;
    ngx_uint_t  same;

    ex->unlogged++;

    now = ngx_current_msec;
    same = what == ex->last_what
           && detail->len == ex->last_detail_len
           && ngx_strncmp(detail->data, ex->last_detail,
                          ngx_min(detail->len, sizeof(ex->last_detail)))
              == 0;

    if (ex->logged && same
        && now - ex->logged < NGX_HTTP_GATEWAY_TRACE_LOG_EVERY)
    {
        return;
    }

    ngx_log_error(NGX_LOG_ERR, &ex->log, 0,
                  "gateway_trace_export: collector %V %s%V (%ui problems "
                  "since the last report; %uz spans waiting, %uA dropped, "
                  "%uA delivered so far)",
                  &ex->conf->collector, what, detail, ex->unlogged,
                  gw_otlp_batcher_held(ex->batcher), ex->dropped,
                  ex->exported);

    ex->logged = now;
    ex->unlogged = 0;
    ex->last_what = what;
    ex->last_detail_len = detail->len;
    ngx_memcpy(ex->last_detail, detail->data,
               ngx_min(detail->len, sizeof(ex->last_detail)));
}


void
ngx_http_gateway_trace_exporter_add(ngx_http_request_t *r)
{
    ngx_int_t                           rc;
    gw_trace_t                         *trace;
    ngx_http_gateway_trace_exporter_t  *ex;

    ex = ngx_http_gateway_trace_exporter;
    if (ex == NULL) {
        return;
    }

    /* tracing is off, or the trace is not sampled: nothing more to do */

    trace = ngx_http_gateway_trace_context(r);

    if (trace == NULL || !ngx_http_gateway_trace_is_sampled(trace)) {
        return;
    }

    rc = ngx_http_gateway_trace_span_end(r, trace, ex->conf, ex->batcher);

    if (rc == NGX_BUSY) {
        ex->dropped++;
        ngx_http_gateway_trace_count(ex, DROPPED, 1);
        ex->unlogged_drops++;

        if (ex->logged_drop == 0
            || ngx_current_msec - ex->logged_drop
               >= NGX_HTTP_GATEWAY_TRACE_LOG_EVERY)
        {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "gateway_trace_export: the span queue is full "
                          "(%ui spans dropped since the last report), "
                          "collector %V", ex->unlogged_drops,
                          &ex->conf->collector);
            ex->logged_drop = ngx_current_msec;
            ex->unlogged_drops = 0;
        }

        return;
    }

    if (rc == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "gateway_trace_export: the span could not be encoded");
        return;
    }

    if (gw_otlp_batcher_held(ex->batcher) == 1) {
        ex->oldest = ngx_current_msec;
    }

    ngx_http_gateway_trace_schedule(ex);
}


/* A timer's time, cut to what is left of the exit time while exiting. */
static ngx_msec_t
ngx_http_gateway_trace_timeout(ngx_http_gateway_trace_exporter_t *ex,
    ngx_msec_t timeout)
{
    ngx_msec_int_t  left;

    if (!ex->exiting) {
        return timeout;
    }

    left = ex->exit_deadline - ngx_current_msec;

    return left <= 0 ? 1 : ngx_min(timeout, (ngx_msec_t) left);
}


/* The worker begins to quit: what is in flight gets what is left. */
static void
ngx_http_gateway_trace_exit(ngx_http_gateway_trace_exporter_t *ex)
{
    ex->exiting = 1;
    ex->exit_deadline = ngx_current_msec + NGX_HTTP_GATEWAY_TRACE_EXIT_TIME;

    if (ex->sending && ex->link->state >= NGX_HTTP_GATEWAY_LINK_CONNECTED) {
        ngx_http_gateway_link_expect(ex->link,
                                     NGX_HTTP_GATEWAY_TRACE_EXIT_TIME);
    }
}


/* Sends now if there is something to send, and keeps the tick running. */
static void
ngx_http_gateway_trace_schedule(ngx_http_gateway_trace_exporter_t *ex)
{
    size_t      pending;
    ngx_msec_t  now, tick;

    pending = gw_otlp_batcher_pending(ex->batcher);
    now = ngx_current_msec;

    if (ngx_exiting && !ex->exiting) {
        ngx_http_gateway_trace_exit(ex);
    }

    if (!ex->sending && pending
        && (ex->exiting || (ngx_msec_int_t) (now - ex->not_before) >= 0)
        && (ex->exiting || pending >= ex->conf->batch
            || now - ex->oldest >= ex->conf->interval))
    {
        if (!ex->kick.posted) {
            ngx_post_event(&ex->kick, &ngx_posted_events);
        }
    }

    if (gw_otlp_batcher_held(ex->batcher) == 0) {
        if (ex->tick.timer_set) {
            ngx_del_timer(&ex->tick);
        }
        return;
    }

    if (!ex->tick.timer_set) {
        tick = ngx_min(ex->conf->interval, NGX_HTTP_GATEWAY_TRACE_TICK);
        ngx_add_timer(&ex->tick, tick);
    }
}


static void
ngx_http_gateway_trace_tick(ngx_event_t *ev)
{
    ngx_http_gateway_trace_exporter_t  *ex = ev->data;

    ngx_http_gateway_trace_schedule(ex);
}


static void
ngx_http_gateway_trace_kick(ngx_event_t *ev)
{
    ngx_http_gateway_trace_exporter_t  *ex = ev->data;

    if (!ex->sending) {
        ngx_http_gateway_trace_send(ex);
    }
}


static void
ngx_http_gateway_trace_give_up(ngx_http_gateway_trace_exporter_t *ex)
{
    size_t         len, n, lost;
    const u_char  *body;

    /* the worker is exiting and its time is up: count what is left */

    lost = 0;

    while ((n = gw_otlp_batcher_take(ex->batcher, &body, &len)) != 0) {
        lost += n;
        gw_otlp_batcher_release(ex->batcher, 1);
    }

    if (lost) {
        ex->dropped += lost;
        ngx_http_gateway_trace_count(ex, DROPPED, lost);
        ngx_log_error(NGX_LOG_WARN, &ex->log, 0,
                      "gateway_trace_export: %uz spans for %V dropped: the "
                      "worker exits", lost, &ex->conf->collector);
    }
}


static void
ngx_http_gateway_trace_send(ngx_http_gateway_trace_exporter_t *ex)
{
    size_t         len;
    const u_char  *body;

    if (ex->exiting
        && (ngx_msec_int_t) (ngx_current_msec - ex->exit_deadline) >= 0)
    {
        ngx_http_gateway_trace_give_up(ex);
        ngx_http_gateway_trace_schedule(ex);
        return;
    }

    ex->spans = gw_otlp_batcher_take(ex->batcher, &body, &len);
    if (ex->spans == 0) {
        return;
    }

    ex->sending = 1;
    ex->answer_len = 0;
    gw_http_response_reset(ex->response, ngx_http_gateway_trace_answer, ex);

    if (ex->link->state >= NGX_HTTP_GATEWAY_LINK_CONNECTED) {
        /* the kept-alive connection */
        ex->reused = 1;
        ngx_http_gateway_trace_connected(ex->link);
        return;
    }

    ex->reused = 0;
    ex->link->connect_timeout = ngx_http_gateway_trace_timeout(ex,
                                        NGX_HTTP_GATEWAY_TRACE_CONNECT_TIMEOUT);

    ngx_http_gateway_link_connect(ex->link);
}


/* The connection is up (or kept): the POST of the batch taken. */
static void
ngx_http_gateway_trace_connected(ngx_http_gateway_link_t *link)
{
    size_t                              len;
    u_char                             *p;
    const u_char                       *body;
    ngx_http_gateway_trace_exporter_t  *ex = link->data;
    u_char                              length[NGX_SIZE_T_LEN + 4];

    if (ex == NULL || !ex->sending) {
        return;
    }

    link->peer.connection->idle = 0;
    ex->received = 0;

    gw_otlp_batcher_body(ex->batcher, &body, &len);

    p = ngx_sprintf(length, "%uz" CRLF CRLF, len);

    if (ngx_http_gateway_link_send(link, ex->conf->request_head.data,
                                   ex->conf->request_head.len)
        != NGX_OK
        || ngx_http_gateway_link_send(link, length, p - length) != NGX_OK
        || ngx_http_gateway_link_send(link, (u_char *) body, len) != NGX_OK)
    {
        ngx_http_gateway_link_fail(link, "cannot send", "out of memory");
        return;
    }

    ngx_http_gateway_link_expect(link, ngx_http_gateway_trace_timeout(ex,
                                         NGX_HTTP_GATEWAY_TRACE_SEND_TIMEOUT));
}


static int
ngx_http_gateway_trace_answer(void *data, const char *buf, size_t len)
{
    ngx_http_gateway_trace_exporter_t  *ex = data;

    /* only the start of a long answer is read (partial_success is short) */

    len = ngx_min(len, NGX_HTTP_GATEWAY_TRACE_ANSWER_MAX - ex->answer_len);
    ngx_memcpy(ex->answer + ex->answer_len, buf, len);
    ex->answer_len += len;

    return 0;
}


static ngx_int_t
ngx_http_gateway_trace_recv(ngx_http_gateway_link_t *link, u_char *data,
    size_t len)
{
    size_t                              used;
    gw_http_rc_t                        rc;
    ngx_http_gateway_trace_exporter_t  *ex = link->data;

    if (ex == NULL || !ex->sending) {
        ngx_cpystrn(link->error, (u_char *) "data nobody asked for",
                    NGX_HTTP_GATEWAY_LINK_ERRLEN);
        return NGX_ERROR;
    }

    ex->received = 1;

    rc = gw_http_response_feed(ex->response, (char *) data, len, &used);

    if (rc == GW_HTTP_ERROR) {
        ngx_cpystrn(link->error,
                    (u_char *) gw_http_response_error(ex->response),
                    NGX_HTTP_GATEWAY_LINK_ERRLEN);
        return NGX_ERROR;
    }

    if (rc == GW_HTTP_DONE) {
        ngx_http_gateway_link_expect(link, 0);
        ngx_http_gateway_link_ready(link);
        ngx_http_gateway_trace_done(ex, gw_http_response_status(ex->response));
    }

    return NGX_OK;
}


/* The collector closed the connection: the end of an answer, or of idling. */
static ngx_int_t
ngx_http_gateway_trace_eof(ngx_http_gateway_link_t *link)
{
    ngx_http_gateway_trace_exporter_t  *ex = link->data;

    if (ex == NULL || !ex->sending) {
        return NGX_OK;
    }

    if (ex->received && gw_http_response_eof(ex->response) == GW_HTTP_DONE) {
        ngx_http_gateway_link_ready(link);
        ngx_http_gateway_trace_done(ex, gw_http_response_status(ex->response));
        return NGX_OK;
    }

    return NGX_ERROR;
}


/*
 * The connection is gone: a try that failed, or a kept-alive connection the
 * collector (or a quitting worker) closed.
 */
static void
ngx_http_gateway_trace_closed(ngx_http_gateway_link_t *link)
{
    ngx_http_gateway_trace_exporter_t  *ex = link->data;

    if (ex == NULL) {
        return;
    }

    if (link->exiting) {
        /* the worker is gone: what was in flight stays held and is counted */
        if (ex->sending) {
            ex->sending = 0;
            gw_otlp_batcher_release(ex->batcher, 0);
        }

        return;
    }

    if (ex->sending) {
        ngx_http_gateway_trace_done(ex, 0);
        return;
    }

    ngx_http_gateway_trace_schedule(ex);
}


/* The collector's words on the spans it refused, short and escaped. */
static void
ngx_http_gateway_trace_rejected(ngx_http_gateway_trace_exporter_t *ex,
    gw_otlp_str_t *message)
{
    ngx_str_t    text, escaped;
    ngx_pool_t  *pool;

    text.data = (u_char *) message->data;
    text.len = ngx_min(message->len, 128);

    pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, &ex->log);

    if (pool == NULL) {
        ngx_str_set(&escaped, "-");

    } else {
        (void) ngx_http_gateway_escape_controls(pool, &text, &escaped);
    }

    ngx_http_gateway_trace_report(ex, "rejected spans: ", &escaped);

    if (pool) {
        ngx_destroy_pool(pool);
    }
}


/*
 * The end of a try: status is the collector's answer, 0 when there was
 * none (the link said why).
 */
static void
ngx_http_gateway_trace_done(ngx_http_gateway_trace_exporter_t *ex,
    ngx_int_t status)
{
    int64_t            rejected;
    ngx_str_t          text;
    ngx_uint_t         retry;
    gw_otlp_str_t      message;
    ngx_connection_t  *c;
    u_char             buf[NGX_INT_T_LEN];

    ex->sending = 0;

    /* a kept-alive connection the collector had closed: try a new one */

    if (status == 0 && ex->reused && !ex->received) {
        gw_otlp_batcher_release(ex->batcher, 0);
        ex->not_before = ngx_current_msec;
        ngx_http_gateway_trace_schedule(ex);
        return;
    }

    if (status) {
        c = ex->link->peer.connection;

        if (!gw_http_response_keep_alive(ex->response) || ex->exiting) {
            ngx_http_gateway_link_close(ex->link);

        } else if (c) {
            c->idle = 1;   /* so that a quitting worker tells us at once */
        }
    }

    if (status >= 200 && status < 300) {
        ex->exported += ex->spans;
        ngx_http_gateway_trace_count(ex, EXPORTED, ex->spans);
        ex->backoff = 0;
        gw_otlp_batcher_release(ex->batcher, 1);

        if (gw_otlp_parse_response(ex->answer, ex->answer_len, &rejected,
                                   &message)
            == 0 && rejected > 0)
        {
            ex->dropped += rejected;
            ngx_http_gateway_trace_count(ex, REJECTED, rejected);
            ngx_http_gateway_trace_rejected(ex, &message);
        }

    } else {
        /* OTLP/HTTP: only these are worth another try */

        retry = (status == 0 || status == 429 || status == 502
                 || status == 503 || status == 504)
                && !ex->exiting;

        if (!retry) {
            ex->dropped += ex->spans;
            ngx_http_gateway_trace_count(ex, DROPPED, ex->spans);
        }

        gw_otlp_batcher_release(ex->batcher, !retry);
        ex->errors++;
        ngx_http_gateway_stats_add(ex->conf->errors, 0, 1);

        ex->backoff = ex->backoff ? ngx_min(ex->backoff * 2,
                                            NGX_HTTP_GATEWAY_TRACE_MAX_BACKOFF)
                                  : 1000;
        ex->not_before = ngx_current_msec + ex->backoff;

        /* the link logged what went wrong with the connection itself */

        if (status) {
            text.data = buf;
            text.len = ngx_sprintf(buf, "%i", status) - buf;
            ngx_http_gateway_trace_report(ex, "answered ", &text);
        }
    }

    ngx_http_gateway_trace_schedule(ex);
}
