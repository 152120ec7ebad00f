/*
 * gateway_metrics: a scrape sent part by part.
 *
 * The exposition of thousands of series takes milliseconds to read and
 * write; made in one go it would stall every other request of the worker
 * meanwhile. So the handler sends the header and a first part, and each
 * later part is written on a later turn of the event loop: the write event
 * is posted to ngx_posted_next_events, which runs after the events that
 * are ready now (other clients' requests) have been handled. A part is a
 * bounded number of sample lines; each family is still read at once, so
 * its counts agree among themselves (+Inf is _count). While the client
 * does not take what was sent, nothing more is made: the write event
 * waits for it (send_timeout), and sent buffers are reused.
 *
 * The body's length is not known in advance: HTTP/1.1 clients get it
 * chunked, HTTP/1.0 ones until the connection closes. A subrequest (SSI,
 * say) gets the whole text at once, since it may not own the connection's
 * events.
 */

#include "ngx_http_gateway_metrics.h"


/* sample lines in a part: about 50 KB of text, a fraction of a millisecond */
#define NGX_HTTP_GATEWAY_METRICS_PART  512


typedef struct {
    ngx_http_gateway_stats_scrape_t  *scrape;
    ngx_chain_t                      *free;
    ngx_chain_t                      *busy;
} ngx_http_gateway_metrics_ctx_t;


static void ngx_http_gateway_metrics_write(ngx_http_request_t *r);
static ngx_int_t ngx_http_gateway_metrics_part(ngx_http_request_t *r,
    ngx_http_gateway_metrics_ctx_t *ctx);


static ngx_str_t  ngx_http_gateway_metrics_type =
    ngx_string("text/plain; version=0.0.4; charset=utf-8");


ngx_int_t
ngx_http_gateway_metrics_handler(ngx_http_request_t *r)
{
    ngx_int_t                        rc;
    ngx_chain_t                     *text;
    ngx_http_gateway_metrics_ctx_t  *ctx;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    if (r != r->main) {
        text = ngx_http_gateway_stats_prometheus(r);
        if (text == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_gateway_metrics_send(r, &ngx_http_gateway_metrics_type,
                                             text);
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_gateway_metrics_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->scrape = ngx_http_gateway_stats_scrape_create(r);
    if (ctx->scrape == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_set_ctx(r, ctx, ngx_http_gateway_metrics_module);

    r->headers_out.status = NGX_HTTP_OK;
    ngx_http_gateway_metrics_content_type(r, &ngx_http_gateway_metrics_type);
    ngx_http_clear_content_length(r);

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    /* the request lives on until the last part is sent */

    r->main->count++;
    r->write_event_handler = ngx_http_gateway_metrics_write;

    ngx_http_gateway_metrics_write(r);

    return NGX_DONE;
}


/* The write event: the client took what was sent, or it is our turn again */

static void
ngx_http_gateway_metrics_write(ngx_http_request_t *r)
{
    ngx_int_t                        rc;
    ngx_chain_t                     *sent;
    ngx_event_t                     *wev;
    ngx_connection_t                *c;
    ngx_http_core_loc_conf_t        *clcf;
    ngx_http_gateway_metrics_ctx_t  *ctx;

    c = r->connection;
    wev = c->write;
    ctx = ngx_http_get_module_ctx(r, ngx_http_gateway_metrics_module);
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (wev->timedout) {
        ngx_log_error(NGX_LOG_INFO, c->log, NGX_ETIMEDOUT,
                      "client timed out");
        c->timedout = 1;
        ngx_http_finalize_request(r, NGX_HTTP_REQUEST_TIME_OUT);
        return;
    }

    if (!wev->delayed) {
        rc = ngx_http_output_filter(r, NULL);

        if (rc == NGX_ERROR) {
            ngx_http_finalize_request(r, NGX_ERROR);
            return;
        }

        sent = NULL;
        ngx_chain_update_chains(r->pool, &ctx->free, &ctx->busy, &sent,
                                (ngx_buf_tag_t) &ngx_http_gateway_module);
    }

    if (wev->delayed || r->buffered || c->buffered || r->postponed) {

        /* the client has not taken the last part yet (or limit_rate) */

        if (!wev->delayed) {
            ngx_add_timer(wev, clcf->send_timeout);
        }

        if (ngx_handle_write_event(wev, clcf->send_lowat) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_ERROR);
        }

        return;
    }

    if (wev->timer_set) {
        ngx_del_timer(wev);
    }

    rc = ngx_http_gateway_metrics_part(r, ctx);

    if (ctx->scrape->done || rc == NGX_ERROR) {
        if (wev->posted) {
            ngx_delete_posted_event(wev);   /* a turn we no longer need */
        }

        r->write_event_handler = ngx_http_request_empty_handler;
        ngx_http_finalize_request(r, rc);
        return;
    }

    /* the next part on the next turn, after the requests ready now */

    ngx_post_event(wev, &ngx_posted_next_events);
}


/* The next part of the scrape, sent; the last one ends the body. */

static ngx_int_t
ngx_http_gateway_metrics_part(ngx_http_request_t *r,
    ngx_http_gateway_metrics_ctx_t *ctx)
{
    ngx_int_t                      rc;
    ngx_buf_t                     *b;
    ngx_chain_t                   *out;
    ngx_http_gateway_chain_sink_t  cs;

    ngx_http_gateway_chain_sink_init(&cs, r->pool);
    cs.free = ctx->free;

    rc = ngx_http_gateway_stats_scrape_write(ctx->scrape, &cs.sink,
                                             NGX_HTTP_GATEWAY_METRICS_PART);

    ctx->free = cs.free;
    out = ngx_http_gateway_chain_sink_finish(&cs);

    if (rc != NGX_OK || out == NULL) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "gateway_metrics: out of memory, the scrape is cut");
        return NGX_ERROR;
    }

    b = cs.last->buf;

    if (ctx->scrape->done) {
        b->last_buf = 1;
        b->last_in_chain = 1;

    } else {
        b->flush = 1;
    }

    rc = ngx_http_output_filter(r, out);

    ngx_chain_update_chains(r->pool, &ctx->free, &ctx->busy, &out,
                            (ngx_buf_tag_t) &ngx_http_gateway_module);

    return rc;
}
