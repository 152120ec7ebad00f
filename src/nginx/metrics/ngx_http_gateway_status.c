/*
 * gateway_status: the state of the gateway's features as one JSON object,
 * written by the core's JSON writer. The module's own members come first,
 * then each feature's section (the runtime's status providers) in the
 * order the features registered them:
 *
 *   {"version": "0.1.0", "nginx": "1.22.1", "time": 1733440000,
 *    "metrics": {"dropped": 0},
 *    "upstreams": {...}, "rate_limits": {...}, "redis": {...}, ...}
 *
 * The schema is in the README.
 */

#include "ngx_http_gateway_metrics.h"


static ngx_str_t  ngx_http_gateway_status_type =
    ngx_string("application/json");


ngx_int_t
ngx_http_gateway_status_handler(ngx_http_request_t *r)
{
    ngx_uint_t                      i;
    ngx_chain_t                    *out;
    ngx_array_t                    *sections;
    gw_json_writer_t                w;
    ngx_http_gateway_status_t      *st;
    ngx_http_gateway_chain_sink_t   cs;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    ngx_http_gateway_chain_sink_init(&cs, r->pool);
    gw_json_writer_init(&w, &cs.sink);

    gw_json_object_begin(&w);

    gw_json_key(&w, "version", 7);
    gw_json_string(&w, NGX_HTTP_GATEWAY_VERSION,
                   sizeof(NGX_HTTP_GATEWAY_VERSION) - 1);
    gw_json_key(&w, "nginx", 5);
    gw_json_string(&w, NGINX_VERSION, sizeof(NGINX_VERSION) - 1);
    gw_json_key(&w, "time", 4);
    gw_json_int(&w, ngx_time());

    gw_json_key(&w, "metrics", 7);
    gw_json_object_begin(&w);
    gw_json_key(&w, "dropped", 7);
    gw_json_uint(&w, ngx_http_gateway_stats_dropped(r));
    gw_json_object_end(&w);

    sections = ngx_http_gateway_status_sections(r);
    st = sections->elts;

    for (i = 0; i < sections->nelts; i++) {
        gw_json_key(&w, (char *) st[i].section.data, st[i].section.len);

        if (st[i].handler(&w, st[i].data) != NGX_OK) {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "gateway_status: the \"%V\" section failed",
                          &st[i].section);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    gw_json_object_end(&w);

    gw_sink_write(&cs.sink, "\n", 1);

    out = ngx_http_gateway_chain_sink_finish(&cs);

    if (out == NULL || !gw_json_writer_complete(&w)) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_gateway_metrics_send(r, &ngx_http_gateway_status_type,
                                         out);
}
