/*
 * The stats registry as Prometheus text (version 0.0.4), written by the
 * core's writer into a chain of buffers from a pool: what gateway_metrics
 * serves, and $gateway_stats shows (for a quick look, and for tests).
 * Also the chain sink: the core's renderers writing into nginx buffers.
 */

#include "ngx_http_gateway.h"


static gw_metric_family_t  ngx_http_gateway_stats_dropped_family = {
    { "gateway_metrics_dropped_total",
      sizeof("gateway_metrics_dropped_total") - 1 },
    { "Series not counted: the gateway_stats zone was full.",
      sizeof("Series not counted: the gateway_stats zone was full.") - 1 },
    GW_METRIC_COUNTER, 0, NULL, 0, NULL
};


ngx_chain_t *
ngx_http_gateway_stats_prometheus(ngx_http_request_t *r, ngx_pool_t *pool)
{
    ngx_uint_t                      i, j;
    ngx_array_t                    *families;
    gw_prom_writer_t                writer;
    gw_metric_series_t              dropped;
    ngx_http_gateway_chain_sink_t   text;
    ngx_http_gateway_stats_read_t  *read;

    families = ngx_http_gateway_stats_read(r, pool);
    if (families == NULL) {
        return NULL;
    }

    ngx_http_gateway_chain_sink_init(&text, pool);
    ngx_memzero(&writer, sizeof(gw_prom_writer_t));
    writer.sink = &text.sink;

    read = families->elts;

    for (i = 0; i < families->nelts; i++) {
        for (j = 0; j < read[i].nseries; j++) {
            gw_prom_write_series(&writer, &read[i].family, &read[i].series[j]);
        }
    }

    ngx_memzero(&dropped, sizeof(gw_metric_series_t));
    dropped.value = (double) ngx_http_gateway_stats_dropped(r);

    gw_prom_write_series(&writer, &ngx_http_gateway_stats_dropped_family,
                         &dropped);

    return ngx_http_gateway_chain_sink_finish(&text);
}


ngx_int_t
ngx_http_gateway_stats_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char       *p;
    size_t        len;
    ngx_chain_t  *cl, *text;

    text = ngx_http_gateway_stats_prometheus(r, r->pool);
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

    b = ngx_create_temp_buf(cs->pool, NGX_HTTP_GATEWAY_CHAIN_SINK_BUF);
    cl = ngx_alloc_chain_link(cs->pool);

    if (b == NULL || cl == NULL) {
        return -1;
    }

    cl->buf = b;
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
