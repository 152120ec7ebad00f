/*
 * Parking a request until something wakes it (see the header), the way
 * limit_req delays one: the request watches its client meanwhile
 * (ngx_http_test_reading) and runs its phases again when woken.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_gateway_wait.h"


static void ngx_http_gateway_wait_handler(ngx_event_t *ev);
static void ngx_http_gateway_unpark(ngx_http_gateway_wait_t *w);
static void ngx_http_gateway_wait_cleanup(void *data);


ngx_int_t
ngx_http_gateway_park(ngx_http_request_t *r, ngx_http_gateway_wait_t *w,
    ngx_queue_t *queue, ngx_msec_t timeout)
{
    ngx_pool_cleanup_t  *cln;

    r = r->main;

    if (!w->cleanup) {
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NGX_ERROR;
        }

        cln->handler = ngx_http_gateway_wait_cleanup;
        cln->data = w;
        w->cleanup = 1;
    }

    w->request = r;
    w->event.handler = ngx_http_gateway_wait_handler;
    w->event.data = w;
    w->event.log = r->connection->log;
    w->parked = 1;
    w->timedout = 0;

    if (queue) {
        ngx_queue_insert_tail(queue, &w->queue);

    } else {
        ngx_queue_init(&w->queue);
    }

    if (timeout) {
        ngx_add_timer(&w->event, timeout);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "gateway: request parked, timeout %M", timeout);

    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_request_empty_handler;

    /*
     * A client that closed as it sent the request had its (edge) event
     * consumed by the reading of the request: look once more, after the
     * step has returned.
     */

#if (NGX_HTTP_V2)
    if (r->stream == NULL)
#endif
    {
        if (r->connection->read->ready || r->connection->read->pending_eof) {
            ngx_post_event(r->connection->read, &ngx_posted_events);
        }
    }

    return NGX_AGAIN;
}


void
ngx_http_gateway_wake(ngx_http_gateway_wait_t *w)
{
    if (!w->parked) {
        return;
    }

    ngx_http_gateway_unpark(w);

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, w->request->connection->log, 0,
                   "gateway: parked request woken");

    /* posted, not run here: the waker may be deep in a callback */

    ngx_post_event(&w->event, &ngx_posted_events);
}


void
ngx_http_gateway_wake_now(ngx_http_gateway_wait_t *w)
{
    if (!w->parked) {
        return;
    }

    ngx_http_gateway_unpark(w);

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, w->request->connection->log, 0,
                   "gateway: parked request run");

    ngx_http_gateway_wait_handler(&w->event);
}


void
ngx_http_gateway_wake_all(ngx_queue_t *queue)
{
    ngx_queue_t              *q;
    ngx_http_gateway_wait_t  *w;

    while (!ngx_queue_empty(queue)) {
        q = ngx_queue_head(queue);
        w = ngx_queue_data(q, ngx_http_gateway_wait_t, queue);

        ngx_http_gateway_wake(w);
    }
}


static void
ngx_http_gateway_unpark(ngx_http_gateway_wait_t *w)
{
    w->parked = 0;

    ngx_queue_remove(&w->queue);
    ngx_queue_init(&w->queue);

    if (w->event.timer_set) {
        ngx_del_timer(&w->event);
    }
}


static void
ngx_http_gateway_wait_handler(ngx_event_t *ev)
{
    ngx_connection_t         *c;
    ngx_http_request_t       *r;
    ngx_http_gateway_wait_t  *w;

    w = ev->data;
    r = w->request;
    c = r->connection;

    if (ev->timedout) {
        ev->timedout = 0;
        ngx_http_gateway_unpark(w);
        w->timedout = 1;
    }

    ngx_http_set_log_request(c->log, r);

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        ngx_http_run_posted_requests(c);
        return;
    }

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}


/* The request ends (its client went away, say): nothing may wake it now. */

static void
ngx_http_gateway_wait_cleanup(void *data)
{
    ngx_http_gateway_wait_done(data);
}


void
ngx_http_gateway_wait_done(ngx_http_gateway_wait_t *w)
{
    if (w->parked) {
        ngx_http_gateway_unpark(w);
    }

    if (w->event.timer_set) {
        ngx_del_timer(&w->event);
    }

    if (w->event.posted) {
        ngx_delete_posted_event(&w->event);
    }
}
