/*
 * The stats registry as Prometheus text (version 0.0.4), written by the
 * core's writer into nginx buffers: a scrape, part by part (what
 * gateway_metrics sends, a part per event-loop turn), or all at once
 * (what $gateway_stats shows, for a quick look and for tests). Also the
 * chain sink: the core's renderers writing into nginx buffers.
 */

#include "ngx_http_gateway.h"


static gw_metric_family_t  ngx_http_gateway_stats_dropped_family = {
    { "gateway_metrics_dropped_total",
      sizeof("gateway_metrics_dropped_total") - 1 },
    { "Series not counted: the gateway_stats zone was full.",
      sizeof("Series not counted: the gateway_stats zone was full.") - 1 },
    GW_METRIC_COUNTER, 0, NULL, 0, NULL
};


static void ngx_http_gateway_stats_scrape_cleanup(void *data);


ngx_http_gateway_stats_scrape_t *
ngx_http_gateway_stats_scrape_create(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t               *cln;
    ngx_http_gateway_stats_scrape_t  *scrape;

    scrape = ngx_pcalloc(r->pool, sizeof(ngx_http_gateway_stats_scrape_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);

    if (scrape == NULL || cln == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     scrape->family = 0;
     *     scrape->pool = NULL;
     *     scrape->next = 0;
     *     scrape->done = 0;
     */

    scrape->request = r;

    cln->handler = ngx_http_gateway_stats_scrape_cleanup;
    cln->data = scrape;

    return scrape;
}


ngx_int_t
ngx_http_gateway_stats_scrape_write(ngx_http_gateway_stats_scrape_t *scrape,
    gw_sink_t *sink, size_t max_samples)
{
    size_t               from, per_series, written;
    ngx_http_request_t  *r;
    gw_metric_series_t   dropped;

    r = scrape->request;
    scrape->writer.sink = sink;
    written = 0;

    while (!scrape->done && (written == 0 || written < max_samples)) {

        if (scrape->pool == NULL) {

            if (scrape->family == ngx_http_gateway_stats_nfamilies(r)) {
                ngx_memzero(&dropped, sizeof(gw_metric_series_t));
                dropped.value = (double) ngx_http_gateway_stats_dropped(r);

                gw_prom_write_series(&scrape->writer,
                                     &ngx_http_gateway_stats_dropped_family,
                                     &dropped);
                scrape->done = 1;
                break;
            }

            scrape->pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE,
                                           r->connection->log);
            if (scrape->pool == NULL) {
                return NGX_ERROR;
            }

            if (ngx_http_gateway_stats_read(r, scrape->family, scrape->pool,
                                            &scrape->read)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            scrape->next = 0;

            /* every family is read into the same place: its own header */
            scrape->writer.family = NULL;
        }

        per_series = gw_prom_series_samples(&scrape->read.family);

        if (scrape->next == scrape->read.nseries) {

            /* the batch is written: the next one */

            if (ngx_http_gateway_stats_read_more(&scrape->read, scrape->pool,
                                                 max_samples - written)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            scrape->next = 0;

            if (scrape->read.nseries == 0) {
                ngx_destroy_pool(scrape->pool);
                scrape->pool = NULL;
                scrape->family++;

                /* a family without series is work too: a part ends */
                written++;
                continue;
            }
        }

        from = scrape->next;

        scrape->next = gw_prom_write_part(&scrape->writer,
                                          &scrape->read.family,
                                          scrape->read.series,
                                          scrape->read.nseries, from,
                                          max_samples - written);

        written += (scrape->next - from) * per_series;
    }

    return sink->failed ? NGX_ERROR : NGX_OK;
}


static void
ngx_http_gateway_stats_scrape_cleanup(void *data)
{
    ngx_http_gateway_stats_scrape_t  *scrape = data;

    if (scrape->pool) {
        ngx_destroy_pool(scrape->pool);
        scrape->pool = NULL;
    }
}


ngx_chain_t *
ngx_http_gateway_stats_prometheus(ngx_http_request_t *r)
{
    ngx_http_gateway_chain_sink_t     text;
    ngx_http_gateway_stats_scrape_t  *scrape;

    scrape = ngx_http_gateway_stats_scrape_create(r);
    if (scrape == NULL) {
        return NULL;
    }

    ngx_http_gateway_chain_sink_init(&text, r->pool);

    if (ngx_http_gateway_stats_scrape_write(scrape, &text.sink, (size_t) -1)
        != NGX_OK)
    {
        return NULL;
    }

    return ngx_http_gateway_chain_sink_finish(&text);
}


ngx_int_t
ngx_http_gateway_stats_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char       *p;
    size_t        len;
    ngx_chain_t  *cl, *text;

    text = ngx_http_gateway_stats_prometheus(r);
    if (text == NULL) {
        return NGX_ERROR;
    }

    len = 0;

    for (cl = text; cl; cl = cl->next) {
        len += cl->buf->last - cl->buf->pos;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->data = p;
    v->len = len;

    for (cl = text; cl; cl = cl->next) {
        p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


/* --- the core's renderers into a chain of buffers ---------------------- */

#define NGX_HTTP_GATEWAY_CHAIN_SINK_BUF  16384


static int ngx_http_gateway_chain_sink_refill(gw_sink_t *sink);


void
ngx_http_gateway_chain_sink_init(ngx_http_gateway_chain_sink_t *cs,
    ngx_pool_t *pool)
{
    ngx_memzero(cs, sizeof(ngx_http_gateway_chain_sink_t));

    cs->pool = pool;
    cs->sink.refill = ngx_http_gateway_chain_sink_refill;
    cs->sink.data = cs;
}


ngx_chain_t *
ngx_http_gateway_chain_sink_finish(ngx_http_gateway_chain_sink_t *cs)
{
    if (cs->sink.failed || cs->last == NULL) {
        return NULL;
    }

    cs->last->buf->last = (u_char *) cs->sink.pos;

    return cs->first;
}


/* The sink's space is used up: on to a new buffer in the chain. */

static int
ngx_http_gateway_chain_sink_refill(gw_sink_t *sink)
{
    ngx_buf_t                      *b;
    ngx_chain_t                    *cl;
    ngx_http_gateway_chain_sink_t  *cs = sink->data;

    if (cs->last) {
        cs->last->buf->last = (u_char *) sink->pos;
    }

    if (cs->free) {
        cl = cs->free;
        cs->free = cl->next;
        b = cl->buf;

        b->pos = b->start;
        b->last = b->start;
        b->last_buf = 0;
        b->last_in_chain = 0;
        b->flush = 0;

    } else {
        b = ngx_create_temp_buf(cs->pool, NGX_HTTP_GATEWAY_CHAIN_SINK_BUF);
        cl = ngx_alloc_chain_link(cs->pool);

        if (b == NULL || cl == NULL) {
            return -1;
        }

        cl->buf = b;
        b->tag = (ngx_buf_tag_t) &ngx_http_gateway_module;
    }

    cl->next = NULL;

    if (cs->last) {
        cs->last->next = cl;

    } else {
        cs->first = cl;
    }

    cs->last = cl;

    sink->pos = (char *) b->pos;
    sink->end = (char *) b->end;

    return 0;
}
