/*
 * The request's SERVER span: its ids from the trace context, its name and
 * times, and the attributes of OpenTelemetry's HTTP semantic conventions,
 * the gateway's decisions and the location's gateway_trace_attr.
 */

#include "ngx_http_gateway_trace_export.h"
#include "gw_jwt.h"


/* the attributes' keys, encoded once (tmcf->keys), in trace_key_e order */
static ngx_str_t  ngx_http_gateway_trace_keys[] = {
    ngx_string("http.route"),
    ngx_string("gateway.request_id"),
    ngx_string("gateway.jwt.status"),
    ngx_string("gateway.rate_limit.status"),
    ngx_string("gateway.circuit.state"),
    ngx_string("gateway.cache.status"),
    ngx_string("gateway.jwt.sub"),
    ngx_string("http.request.method"),
    ngx_string("http.request.method_original"),
    ngx_string("url.path"),
    ngx_string("network.protocol.version"),
    ngx_string("server.address"),
    ngx_string("user_agent.original"),
    ngx_string("network.peer.address"),
    ngx_string("http.response.status_code"),
    ngx_string("network.peer.port"),
    ngx_string("url.scheme"),
    ngx_string("client.address"),
    ngx_string("server.port"),
};


/* the methods that are their own http.request.method */
#define NGX_HTTP_GATEWAY_TRACE_KNOWN_METHODS                                  \
    (NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_POST|NGX_HTTP_PUT|NGX_HTTP_DELETE    \
     |NGX_HTTP_OPTIONS|NGX_HTTP_PATCH|NGX_HTTP_TRACE|NGX_HTTP_CONNECT)


/* the span's string attributes, by key, and its integer ones (-1: none) */
typedef struct {
    gw_otlp_str_t   str[NGX_HTTP_GATEWAY_TRACE_STRS];
    int64_t         integer[NGX_HTTP_GATEWAY_TRACE_REQUEST_KEYS
                            - NGX_HTTP_GATEWAY_TRACE_STRS];
} ngx_http_gateway_trace_values_t;


static ngx_http_gateway_header_t  ngx_http_gateway_tracestate =
    ngx_http_gateway_header("tracestate", "tracestate");


#define ngx_http_gateway_trace_set(a, key, text, n)                           \
    (a)->str[NGX_HTTP_GATEWAY_TRACE_KEY_##key].data = (const char *) (text);  \
    (a)->str[NGX_HTTP_GATEWAY_TRACE_KEY_##key].len = (n)


#define ngx_http_gateway_trace_set_int(a, key, value)                         \
    (a)->integer[NGX_HTTP_GATEWAY_TRACE_KEY_##key                             \
                 - NGX_HTTP_GATEWAY_TRACE_STRS] = (value)


ngx_int_t
ngx_http_gateway_trace_key(ngx_conf_t *cf, ngx_str_t *name, gw_otlp_key_t *key)
{
    u_char  *p;

    p = ngx_pnalloc(cf->pool, gw_otlp_key_room(name->len));
    if (p == NULL) {
        return NGX_ERROR;
    }

    key->data = p;
    key->len = gw_otlp_key_encode((const char *) name->data, name->len, p);

    return NGX_OK;
}


ngx_int_t
ngx_http_gateway_trace_span_keys(ngx_conf_t *cf,
    ngx_http_gateway_trace_export_main_conf_t *tmcf)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_GATEWAY_TRACE_KEYS; i++) {
        if (ngx_http_gateway_trace_key(cf, &ngx_http_gateway_trace_keys[i],
                                       &tmcf->keys[i])
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* "host:port", "[v6]:port" or "unix:path" of the peer nginx chose last */
static void
ngx_http_gateway_trace_peer(ngx_http_gateway_trace_values_t *a,
    ngx_http_request_t *r)
{
    u_char                     *first, *last, *stop, *p;
    ngx_int_t                   port, unit;
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

    first = name->data;
    last = first + name->len;

    if (name->len > 5 && ngx_memcmp(first, "unix:", 5) == 0) {
        ngx_http_gateway_trace_set(a, PEER_ADDRESS, first + 5, name->len - 5);
        return;
    }

    /* the port: 1 to 5 digits after a colon, read from the end */

    port = 0;
    unit = 1;
    stop = last - ngx_min(name->len, 5);

    for (p = last; p > stop && (ngx_uint_t) (p[-1] - '0') < 10; p--) {
        port += (p[-1] - '0') * unit;
        unit *= 10;
    }

    if (p == last || p - 1 <= first || p[-1] != ':' || port > 65535) {
        ngx_http_gateway_trace_set(a, PEER_ADDRESS, first, name->len);
        return;
    }

    last = p - 1;

    if (first[0] == '[' && last[-1] == ']') {
        ngx_http_gateway_trace_set(a, PEER_ADDRESS, first + 1,
                                   last - first - 2);
    } else {
        ngx_http_gateway_trace_set(a, PEER_ADDRESS, first, last - first);
    }

    ngx_http_gateway_trace_set_int(a, PEER_PORT, port);
}


static void
ngx_http_gateway_trace_http(ngx_http_gateway_trace_values_t *a,
    ngx_http_request_t *r)
{
    u_char                    *q;
    size_t                     len;
    ngx_uint_t                 status;
    const char                *known;
    ngx_http_core_srv_conf_t  *cscf;

    known = (r->method & NGX_HTTP_GATEWAY_TRACE_KNOWN_METHODS)
            ? (const char *) r->method_name.data
            : gw_otlp_known_method((char *) r->method_name.data,
                                   r->method_name.len);
    if (known) {
        ngx_http_gateway_trace_set(a, METHOD, known, r->method_name.len);
    } else {
        ngx_http_gateway_trace_set(a, METHOD, "_OTHER", 6);
        ngx_http_gateway_trace_set(a, METHOD_ORIGINAL, r->method_name.data,
                                   r->method_name.len);
    }

    status = r->err_status ? r->err_status : r->headers_out.status;
    if (status) {
        ngx_http_gateway_trace_set_int(a, STATUS, status);
    }

    /* the path as the client sent it; the query may hold secrets */

    len = r->unparsed_uri.len;
    q = ngx_strlchr(r->unparsed_uri.data, r->unparsed_uri.data + len, '?');
    if (q) {
        len = q - r->unparsed_uri.data;
    }

    ngx_http_gateway_trace_set(a, URL_PATH, r->unparsed_uri.data, len);

    if (r->http_protocol.len > 5) {     /* "HTTP/1.1" */
        ngx_http_gateway_trace_set(a, PROTOCOL, r->http_protocol.data + 5,
                                   r->http_protocol.len - 5);
    }

    if (r->headers_in.server.len) {
        ngx_http_gateway_trace_set(a, SERVER_ADDRESS,
                                   r->headers_in.server.data,
                                   r->headers_in.server.len);
    } else {
        cscf = ngx_http_get_module_srv_conf(r, ngx_http_core_module);
        ngx_http_gateway_trace_set(a, SERVER_ADDRESS, cscf->server_name.data,
                                   cscf->server_name.len);
    }

    if (r->headers_in.user_agent) {
        ngx_http_gateway_trace_set(a, USER_AGENT,
                                   r->headers_in.user_agent->value.data,
                                   r->headers_in.user_agent->value.len);
    }

    ngx_http_gateway_trace_peer(a, r);
}


/*
 * The request id, the gateway's decisions (each read where its feature
 * keeps it) and the token's sub: attributes after the conventions'.
 */
static void
ngx_http_gateway_trace_gateway(ngx_http_gateway_trace_values_t *a,
    ngx_http_request_t *r)
{
    ngx_str_t                     *id, *name;
    ngx_uint_t                     i;
    gw_jwt_t                      *jwt;
    gw_jwt_str_t                   sub;

    static gw_jwt_str_t            sub_claim = { "sub", 3 };

    id = ngx_http_gateway_request_id(r);

    if (id) {
        ngx_http_gateway_trace_set(a, REQUEST_ID, id->data, id->len);
    }

    for (i = 0; i < NGX_HTTP_GATEWAY_DECISIONS; i++) {
        name = ngx_http_gateway_decision(r, i);

        if (name) {
            a->str[NGX_HTTP_GATEWAY_TRACE_KEY_DECISIONS + i].data =
                                                   (const char *) name->data;
            a->str[NGX_HTTP_GATEWAY_TRACE_KEY_DECISIONS + i].len = name->len;
        }
    }

    jwt = ngx_http_gateway_jwt_verified(r);

    if (jwt && gw_jwt_claim(jwt, &sub_claim, 1, &sub)) {
        ngx_http_gateway_trace_set(a, JWT_SUB, sub.data, sub.len);
    }
}


/*
 * The attributes a connection's requests share (scheme, client address,
 * server port), encoded at its first span and kept for the next ones in a
 * slot of this worker's (the connection number tells whose they are, an
 * HTTP/2 stream's being its connection's, and the client address is
 * compared: the realip module gives each request its own); those too long
 * for a slot are encoded each time. After them the slot keeps the request
 * line's method and protocol version as its last request had them: the
 * next request copies the whole slot at once when its line has the same.
 */
#define NGX_HTTP_GATEWAY_TRACE_CONNECTION_SLOTS  64
#define NGX_HTTP_GATEWAY_TRACE_CONNECTION_ROOM   512

typedef struct {
    ngx_atomic_uint_t   number;              /* 0: empty */
    size_t              connection_len;      /* the connection's attributes */
    size_t              len;                 /* with the request line's */
    ngx_uint_t          method;              /* 0: no request line's */
    uint64_t            protocol;            /* "HTTP/1.1" */
    size_t              addr_len;
    u_char              addr[NGX_SOCKADDR_STRLEN];
    u_char              bytes[NGX_HTTP_GATEWAY_TRACE_CONNECTION_ROOM];
} ngx_http_gateway_trace_connection_t;

static ngx_http_gateway_trace_connection_t
    ngx_http_gateway_trace_connections[NGX_HTTP_GATEWAY_TRACE_CONNECTION_SLOTS];


/* into the slot, or (too long for it) straight into the span */
static ngx_int_t
ngx_http_gateway_trace_connection_encode(gw_otlp_batcher_t *b,
    ngx_http_request_t *r, ngx_http_gateway_trace_export_main_conf_t *tmcf,
    ngx_http_gateway_trace_connection_t *slot)
{
    u_char            *p;
    size_t             room;
    ngx_str_t          scheme;
    gw_otlp_key_t     *keys;
    ngx_connection_t  *c;

    c = r->connection;
    keys = &tmcf->keys[NGX_HTTP_GATEWAY_TRACE_REQUEST_KEYS];

#if (NGX_HTTP_SSL)
    if (c->ssl) {
        ngx_str_set(&scheme, "https");
    } else
#endif
    {
        ngx_str_set(&scheme, "http");
    }

    room = gw_otlp_attr_room(&keys[0], scheme.len)
           + gw_otlp_attr_room(&keys[1], c->addr_text.len)
           + gw_otlp_attr_room(&keys[2], 0);

    if (room <= NGX_HTTP_GATEWAY_TRACE_CONNECTION_ROOM
        && c->addr_text.len <= sizeof(slot->addr))
    {
        p = slot->bytes;

    } else {
        p = ngx_pnalloc(r->pool, room);
        if (p == NULL) {
            return NGX_DECLINED;
        }
    }

    room = gw_otlp_str_encode(&keys[0], (char *) scheme.data, scheme.len, p);
    room += gw_otlp_str_encode(&keys[1], (char *) c->addr_text.data,
                               c->addr_text.len, p + room);

    /* a wildcard listen's address has the port the connection came to */

    room += gw_otlp_int_encode(&keys[2], ngx_inet_get_port(c->local_sockaddr),
                               p + room);

    if (p != slot->bytes) {
        gw_otlp_span_encoded(b, p, room);
        return NGX_DECLINED;
    }

    slot->number = c->number;
    slot->addr_len = ngx_cpymem(slot->addr, c->addr_text.data,
                                c->addr_text.len)
                     - slot->addr;
    slot->connection_len = room;
    slot->len = room;
    slot->method = 0;

    return NGX_OK;
}


static void
ngx_http_gateway_trace_connection(gw_otlp_batcher_t *b, ngx_http_request_t *r,
    ngx_http_gateway_trace_export_main_conf_t *tmcf,
    ngx_http_gateway_trace_values_t *a)
{
    u_char                               *p;
    size_t                                room;
    uint64_t                              protocol;
    ngx_uint_t                            line;
    gw_otlp_str_t                        *method, *version;
    ngx_connection_t                     *c;
    ngx_http_gateway_trace_connection_t  *slot;

    c = r->connection;
    slot = &ngx_http_gateway_trace_connections[
                c->number % NGX_HTTP_GATEWAY_TRACE_CONNECTION_SLOTS];

    if ((slot->number != c->number
         || slot->addr_len != c->addr_text.len
         || ngx_memcmp(slot->addr, c->addr_text.data, c->addr_text.len) != 0)
        && ngx_http_gateway_trace_connection_encode(b, r, tmcf, slot) != NGX_OK)
    {
        return;
    }

    /* a method of HTTP's, its name its value, and "HTTP/x.y" */

    line = (r->method & NGX_HTTP_GATEWAY_TRACE_KNOWN_METHODS)
           && r->http_protocol.len == sizeof(uint64_t);
    protocol = 0;

    if (line) {
        ngx_memcpy(&protocol, r->http_protocol.data, sizeof(uint64_t));
    }

    method = &a->str[NGX_HTTP_GATEWAY_TRACE_KEY_METHOD];
    version = &a->str[NGX_HTTP_GATEWAY_TRACE_KEY_PROTOCOL];

    if (line && (slot->method != r->method || slot->protocol != protocol)) {
        room = gw_otlp_attr_room(&tmcf->keys[NGX_HTTP_GATEWAY_TRACE_KEY_METHOD],
                                 method->len)
               + gw_otlp_attr_room(
                           &tmcf->keys[NGX_HTTP_GATEWAY_TRACE_KEY_PROTOCOL],
                           version->len);

        if (slot->connection_len + room <= NGX_HTTP_GATEWAY_TRACE_CONNECTION_ROOM)
        {
            p = slot->bytes + slot->connection_len;
            p += gw_otlp_str_encode(
                           &tmcf->keys[NGX_HTTP_GATEWAY_TRACE_KEY_METHOD],
                           method->data, method->len, p);
            p += gw_otlp_str_encode(
                           &tmcf->keys[NGX_HTTP_GATEWAY_TRACE_KEY_PROTOCOL],
                           version->data, version->len, p);

            slot->len = p - slot->bytes;
            slot->method = r->method;
            slot->protocol = protocol;

        } else {
            line = 0;
        }
    }

    if (line) {
        method->len = 0;
        version->len = 0;
        gw_otlp_span_encoded(b, slot->bytes, slot->len);

    } else {
        gw_otlp_span_encoded(b, slot->bytes, slot->connection_len);
    }
}


static void
ngx_http_gateway_trace_location(gw_otlp_batcher_t *b, ngx_http_request_t *r)
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

        gw_otlp_span_str(b, &attr[i].key, (const char *) value.data,
                         value.len);
    }
}


/*
 * "GET /api/users": the method and the route (the method alone without
 * one, as OpenTelemetry's HTTP conventions name such a span), into buf:
 * the encoder keeps GW_OTLP_VALUE_MAX bytes of it, and what it keeps does
 * not depend on what follows the first GW_OTLP_VALUE_MAX + 3 (a character
 * that starts before the cut is whole in it).
 */
#define NGX_HTTP_GATEWAY_TRACE_NAME_MAX  (GW_OTLP_VALUE_MAX + 3)

static size_t
ngx_http_gateway_trace_name(ngx_http_request_t *r, ngx_str_t *route,
    u_char *buf)
{
    u_char  *p, *last;
    size_t   n;

    last = buf + NGX_HTTP_GATEWAY_TRACE_NAME_MAX;

    n = ngx_min(r->method_name.len, NGX_HTTP_GATEWAY_TRACE_NAME_MAX);
    p = ngx_cpymem(buf, r->method_name.data, n);

    if (route->len && p < last) {
        *p++ = ' ';
        n = ngx_min(route->len, (size_t) (last - p));
        p = ngx_cpymem(p, route->data, n);
    }

    return p - buf;
}


ngx_int_t
ngx_http_gateway_trace_span_end(ngx_http_request_t *r, gw_trace_t *trace,
    ngx_http_gateway_trace_export_main_conf_t *tmcf, gw_otlp_batcher_t *b)
{
    u_char                            name[NGX_HTTP_GATEWAY_TRACE_NAME_MAX];
    ngx_str_t                        *route;
    ngx_uint_t                        i, count;
    ngx_table_elt_t                  *h;
    ngx_time_t                       *now;
    gw_otlp_span_t                    span;
    ngx_http_gateway_trace_values_t   a;

    ngx_memzero(&span, sizeof(gw_otlp_span_t));

    if (trace->continued) {
        h = ngx_http_gateway_find_request_header(r, &ngx_http_gateway_tracestate,
                                                 &count);
        if (h && count == 1) {
            span.trace_state.data = (const char *) h->value.data;
            span.trace_state.len = h->value.len;
        }
    }

    route = ngx_http_gateway_route(r);

    now = ngx_timeofday();

    span.trace = trace;
    span.name.data = (const char *) name;
    span.name.len = ngx_http_gateway_trace_name(r, route, name);
    span.start_ns = ((uint64_t) r->start_sec * 1000 + r->start_msec) * 1000000;
    span.end_ns = ((uint64_t) now->sec * 1000 + now->msec) * 1000000;
    span.error = r->headers_out.status >= NGX_HTTP_INTERNAL_SERVER_ERROR
                 || r->err_status >= NGX_HTTP_INTERNAL_SERVER_ERROR;

    switch (gw_otlp_span_open(b, &span)) {
    case GW_OTLP_OK:
        break;
    case GW_OTLP_DROPPED:
        return NGX_BUSY;
    default:
        return NGX_ERROR;
    }

    ngx_memzero(&a.str, sizeof(a.str));
    ngx_memset(&a.integer, 0xff, sizeof(a.integer));

    ngx_http_gateway_trace_set(&a, ROUTE, route->data, route->len);

    ngx_http_gateway_trace_gateway(&a, r);
    ngx_http_gateway_trace_http(&a, r);
    ngx_http_gateway_trace_connection(b, r, tmcf, &a);

    gw_otlp_span_strs(b, tmcf->keys, a.str, NGX_HTTP_GATEWAY_TRACE_STRS);

    for (i = 0;
         i < NGX_HTTP_GATEWAY_TRACE_REQUEST_KEYS - NGX_HTTP_GATEWAY_TRACE_STRS;
         i++)
    {
        if (a.integer[i] >= 0) {
            gw_otlp_span_int(b, &tmcf->keys[NGX_HTTP_GATEWAY_TRACE_STRS + i],
                             a.integer[i]);
        }
    }

    ngx_http_gateway_trace_location(b, r);

    return gw_otlp_span_close(b) == GW_OTLP_OK ? NGX_OK : NGX_ERROR;
}
