/*
 * The request's SERVER span: its ids from the trace context, its name and
 * times, and the attributes of OpenTelemetry's HTTP semantic conventions,
 * the gateway's decisions and the location's gateway_trace_attr.
 */

#include "ngx_http_gateway_trace_export.h"


/* conventions' attributes, the gateway's and the location's */
#define NGX_HTTP_GATEWAY_TRACE_SPAN_ATTRS                                    \
    (16 + NGX_HTTP_GATEWAY_TRACE_VARS + NGX_HTTP_GATEWAY_TRACE_MAX_ATTRS)


typedef struct {
    gw_otlp_attr_t      attr[NGX_HTTP_GATEWAY_TRACE_SPAN_ATTRS];
    size_t              n;
} ngx_http_gateway_trace_attrs_t;


static ngx_http_gateway_header_t  ngx_http_gateway_tracestate =
    ngx_http_gateway_header("tracestate", "tracestate");


static ngx_str_t  ngx_http_gateway_trace_var_attrs[] = {
    ngx_string("http.route"),
    ngx_string("gateway.request_id"),
    ngx_string("gateway.jwt.status"),
    ngx_string("gateway.jwt.sub"),
    ngx_string("gateway.rate_limit.status"),
    ngx_string("gateway.circuit.state"),
    ngx_string("gateway.cache.status"),
};


/* a string attribute; key is a literal */
#define ngx_http_gateway_trace_str(a, key, data, len)                         \
    ngx_http_gateway_trace_add(a, (u_char *) key, sizeof(key) - 1, data, len)

#define ngx_http_gateway_trace_int(a, key, value)                             \
    ngx_http_gateway_trace_add_int(a, key, sizeof(key) - 1, value)


static void
ngx_http_gateway_trace_add(ngx_http_gateway_trace_attrs_t *a, u_char *key,
    size_t key_len, u_char *data, size_t len)
{
    gw_otlp_attr_t  *attr;

    if (len == 0 || a->n == NGX_HTTP_GATEWAY_TRACE_SPAN_ATTRS) {
        return;
    }

    attr = &a->attr[a->n++];
    attr->key.data = (const char *) key;
    attr->key.len = key_len;
    attr->str.data = (const char *) data;
    attr->str.len = len;
    attr->is_int = 0;
}


static void
ngx_http_gateway_trace_add_int(ngx_http_gateway_trace_attrs_t *a,
    const char *key, size_t key_len, int64_t value)
{
    gw_otlp_attr_t  *attr;

    if (a->n == NGX_HTTP_GATEWAY_TRACE_SPAN_ATTRS) {
        return;
    }

    attr = &a->attr[a->n++];
    attr->key.data = key;
    attr->key.len = key_len;
    attr->str.data = NULL;
    attr->str.len = 0;
    attr->integer = value;
    attr->is_int = 1;
}


/* "host:port", "[v6]:port" or "unix:path" of the peer nginx chose last */
static void
ngx_http_gateway_trace_peer(ngx_http_gateway_trace_attrs_t *a,
    ngx_http_request_t *r)
{
    u_char                     *colon, *last;
    ngx_int_t                   port;
    ngx_str_t                  *name;
    ngx_http_upstream_state_t  *state;

    if (r->upstream_states == NULL || r->upstream_states->nelts == 0) {
        return;
    }

    state = r->upstream_states->elts;
    name = state[r->upstream_states->nelts - 1].peer;

    if (name == NULL || name->len == 0) {
        return;
    }

    last = name->data + name->len;

    if (name->len > 5 && ngx_memcmp(name->data, "unix:", 5) == 0) {
        ngx_http_gateway_trace_str(a, "network.peer.address", name->data + 5,
                                   name->len - 5);
        return;
    }

    for (colon = last; colon > name->data && colon[-1] != ':'; colon--) {
        /* void */
    }

    port = colon > name->data ? ngx_atoi(colon, last - colon) : NGX_ERROR;

    if (port == NGX_ERROR) {
        ngx_http_gateway_trace_str(a, "network.peer.address", name->data,
                                   name->len);
        return;
    }

    last = colon - 1;

    if (name->data[0] == '[' && last[-1] == ']') {
        ngx_http_gateway_trace_str(a, "network.peer.address", name->data + 1,
                                   last - name->data - 2);
    } else {
        ngx_http_gateway_trace_str(a, "network.peer.address", name->data,
                                   last - name->data);
    }

    ngx_http_gateway_trace_int(a, "network.peer.port", port);
}


static void
ngx_http_gateway_trace_http(ngx_http_gateway_trace_attrs_t *a,
    ngx_http_request_t *r)
{
    u_char                    *q;
    size_t                     len;
    ngx_uint_t                 status;
    const char                *known;
    ngx_http_core_srv_conf_t  *cscf;

    known = gw_otlp_known_method((char *) r->method_name.data,
                                 r->method_name.len);
    if (known) {
        ngx_http_gateway_trace_str(a, "http.request.method", (u_char *) known,
                                   r->method_name.len);
    } else {
        ngx_http_gateway_trace_str(a, "http.request.method",
                                   (u_char *) "_OTHER", 6);
        ngx_http_gateway_trace_str(a, "http.request.method_original",
                                   r->method_name.data, r->method_name.len);
    }

    status = r->err_status ? r->err_status : r->headers_out.status;
    if (status) {
        ngx_http_gateway_trace_int(a, "http.response.status_code", status);
    }

    /* the path as the client sent it; the query may hold secrets */

    len = r->unparsed_uri.len;
    q = ngx_strlchr(r->unparsed_uri.data, r->unparsed_uri.data + len, '?');
    if (q) {
        len = q - r->unparsed_uri.data;
    }

    ngx_http_gateway_trace_str(a, "url.path", r->unparsed_uri.data, len);

#if (NGX_HTTP_SSL)
    if (r->connection->ssl) {
        ngx_http_gateway_trace_str(a, "url.scheme", (u_char *) "https", 5);
    } else
#endif
    {
        ngx_http_gateway_trace_str(a, "url.scheme", (u_char *) "http", 4);
    }

    if (r->http_protocol.len > 5) {     /* "HTTP/1.1" */
        ngx_http_gateway_trace_str(a, "network.protocol.version",
                                   r->http_protocol.data + 5,
                                   r->http_protocol.len - 5);
    }

    if (r->headers_in.server.len) {
        ngx_http_gateway_trace_str(a, "server.address",
                                   r->headers_in.server.data,
                                   r->headers_in.server.len);
    } else {
        cscf = ngx_http_get_module_srv_conf(r, ngx_http_core_module);
        ngx_http_gateway_trace_str(a, "server.address",
                                   cscf->server_name.data,
                                   cscf->server_name.len);
    }

    if (ngx_connection_local_sockaddr(r->connection, NULL, 0) == NGX_OK) {
        ngx_http_gateway_trace_int(a, "server.port",
                             ngx_inet_get_port(r->connection->local_sockaddr));
    }

    ngx_http_gateway_trace_str(a, "client.address",
                               r->connection->addr_text.data,
                               r->connection->addr_text.len);

    if (r->headers_in.user_agent) {
        ngx_http_gateway_trace_str(a, "user_agent.original",
                                   r->headers_in.user_agent->value.data,
                                   r->headers_in.user_agent->value.len);
    }

    ngx_http_gateway_trace_peer(a, r);
}


/* the gateway's decisions; *route gets $gateway_route when it is set */
static void
ngx_http_gateway_trace_gateway(ngx_http_gateway_trace_attrs_t *a,
    ngx_http_request_t *r, ngx_http_gateway_trace_export_main_conf_t *tmcf,
    ngx_str_t *route)
{
    ngx_uint_t                  i;
    ngx_http_variable_value_t  *v;

    for (i = 0; i < NGX_HTTP_GATEWAY_TRACE_VARS; i++) {
        if (tmcf->vars[i] == NGX_ERROR) {
            continue;
        }

        v = ngx_http_get_indexed_variable(r, tmcf->vars[i]);
        if (v == NULL || v->not_found) {
            continue;
        }

        ngx_http_gateway_trace_add(a, ngx_http_gateway_trace_var_attrs[i].data,
                                   ngx_http_gateway_trace_var_attrs[i].len,
                                   v->data, v->len);

        if (i == NGX_HTTP_GATEWAY_TRACE_ROUTE) {
            route->data = v->data;
            route->len = v->len;
        }
    }
}


static void
ngx_http_gateway_trace_location(ngx_http_gateway_trace_attrs_t *a,
    ngx_http_request_t *r)
{
    ngx_str_t                                  value;
    ngx_uint_t                                 i;
    ngx_http_gateway_trace_attr_t             *attr;
    ngx_http_gateway_trace_export_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_gateway_trace_export_module);

    if (tlcf->attrs == NULL) {
        return;
    }

    attr = tlcf->attrs->elts;

    for (i = 0; i < tlcf->attrs->nelts; i++) {
        if (ngx_http_complex_value(r, attr[i].value, &value) != NGX_OK) {
            continue;
        }

        ngx_http_gateway_trace_add(a, attr[i].name.data, attr[i].name.len,
                                   value.data, value.len);
    }
}


/* "GET /api/users": the method and the route, else the location's name */
static ngx_int_t
ngx_http_gateway_trace_name(ngx_http_request_t *r, ngx_str_t *route,
    ngx_str_t *name)
{
    u_char                    *p;
    ngx_http_core_loc_conf_t  *clcf;

    if (route->len == 0) {
        clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
        route = &clcf->name;
    }

    name->len = r->method_name.len + 1 + route->len;
    name->data = ngx_pnalloc(r->pool, name->len);
    if (name->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(name->data, r->method_name.data, r->method_name.len);

    if (route->len) {
        *p++ = ' ';
        ngx_memcpy(p, route->data, route->len);
    } else {
        name->len--;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_gateway_trace_span_end(ngx_http_request_t *r,
    ngx_http_gateway_trace_export_main_conf_t *tmcf, gw_otlp_batcher_t *b)
{
    ngx_str_t                        name, state, route;
    ngx_uint_t                       count;
    ngx_table_elt_t                 *h;
    ngx_time_t                      *now;
    gw_trace_t                      *trace;
    gw_otlp_span_t                   span;
    ngx_http_gateway_trace_attrs_t   a;

    trace = ngx_http_gateway_trace_context(r);

    /* tracing is off, or the trace is not sampled */

    if (trace == NULL || !ngx_http_gateway_trace_is_sampled(trace)) {
        return NGX_DECLINED;
    }

    ngx_str_null(&state);

    if (trace->continued) {
        h = ngx_http_gateway_find_request_header(r, &ngx_http_gateway_tracestate,
                                                 &count);
        if (h && count == 1) {
            state = h->value;
        }
    }

    ngx_str_null(&route);

    a.n = 0;
    ngx_http_gateway_trace_http(&a, r);
    ngx_http_gateway_trace_gateway(&a, r, tmcf, &route);
    ngx_http_gateway_trace_location(&a, r);

    if (ngx_http_gateway_trace_name(r, &route, &name) != NGX_OK) {
        return NGX_ERROR;
    }

    now = ngx_timeofday();

    span.trace = trace;
    span.name.data = (const char *) name.data;
    span.name.len = name.len;
    span.trace_state.data = (const char *) state.data;
    span.trace_state.len = state.len;
    span.start_ns = ((uint64_t) r->start_sec * 1000 + r->start_msec) * 1000000;
    span.end_ns = ((uint64_t) now->sec * 1000 + now->msec) * 1000000;
    span.error = r->headers_out.status >= NGX_HTTP_INTERNAL_SERVER_ERROR
                 || r->err_status >= NGX_HTTP_INTERNAL_SERVER_ERROR;
    span.attrs = a.attr;
    span.nattrs = a.n;

    switch (gw_otlp_batcher_add(b, &span)) {
    case GW_OTLP_OK:
        return NGX_OK;
    case GW_OTLP_DROPPED:
        return NGX_BUSY;
    default:
        return NGX_ERROR;
    }
}
