/*
 * Background links of the gateway (see the header).
 *
 * nginx's own messages about a link's socket (connect() failed, recv()
 * failed) would come once per attempt; they go to a quiet log, and the
 * link says what went wrong once per interval instead.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>
#include <ngx_http.h>

#include "ngx_http_gateway.h"


#define NGX_HTTP_GATEWAY_LINK_BACKOFF_MIN   100
#define NGX_HTTP_GATEWAY_LINK_BACKOFF_MAX   5000
#define NGX_HTTP_GATEWAY_LINK_LOG_INTERVAL  10000
#define NGX_HTTP_GATEWAY_LINK_READ_SIZE     16384

/* sent at once, not gathered: a copy would cost more than a write of its own */
#define NGX_HTTP_GATEWAY_LINK_GATHER        16384


static void ngx_http_gateway_link_resolved(ngx_resolver_ctx_t *ctx);
static void ngx_http_gateway_link_open(ngx_http_gateway_link_t *link);
static void ngx_http_gateway_link_connect_handler(ngx_event_t *ev);
static void ngx_http_gateway_link_connected(ngx_http_gateway_link_t *link);
static void ngx_http_gateway_link_read_handler(ngx_event_t *ev);
static void ngx_http_gateway_link_write_handler(ngx_event_t *ev);
static ngx_int_t ngx_http_gateway_link_write_out(
    ngx_http_gateway_link_t *link);
static ngx_int_t ngx_http_gateway_link_flush(ngx_http_gateway_link_t *link);
static void ngx_http_gateway_link_drop(ngx_http_gateway_link_t *link);
static void ngx_http_gateway_link_retry_handler(ngx_event_t *ev);
static void ngx_http_gateway_link_fail_errno(ngx_http_gateway_link_t *link,
    const char *reason, ngx_err_t err);


/* where the link's reads land, one read at a time */
static u_char  ngx_http_gateway_link_buffer[NGX_HTTP_GATEWAY_LINK_READ_SIZE];

/* nginx's messages about the links' sockets: only alerts get through */
static ngx_log_t  ngx_http_gateway_link_quiet_log;


ngx_http_gateway_link_t *
ngx_http_gateway_link_add(ngx_conf_t *cf, ngx_str_t *name, ngx_str_t *url,
    in_port_t default_port)
{
    ngx_url_t                      u;
    ngx_str_t                      host;
    ngx_addr_t                    *addr;
    ngx_http_gateway_link_t       *link, **slot;
    ngx_http_gateway_main_conf_t  *gmcf;

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = *url;
    u.default_port = default_port;
    u.no_resolve = 1;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.host.len == 0
        || u.port == 0 || u.uri.len)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s in \"%V\"",
                           u.err ? u.err : "invalid address", url);
        return NULL;
    }

    link = ngx_pcalloc(cf->pool, sizeof(ngx_http_gateway_link_t));
    if (link == NULL) {
        return NULL;
    }

    link->name = *name;
    link->host = u.host;
    link->port = u.port;
    link->connect_timeout = 1000;
    link->file = cf->conf_file->file.name.data;
    link->line = cf->conf_file->line;

    host = u.host;

    if (host.len > 2 && host.data[0] == '[' && host.data[host.len - 1] == ']') {
        host.data++;
        host.len -= 2;
    }

    if (host.len == 9
        && ngx_strncasecmp(host.data, (u_char *) "localhost", 9) == 0)
    {
        ngx_str_set(&host, "127.0.0.1");
    }

    addr = ngx_pcalloc(cf->pool, sizeof(ngx_addr_t));
    if (addr == NULL) {
        return NULL;
    }

    if (ngx_parse_addr(cf->pool, addr, host.data, host.len) == NGX_OK) {
        ngx_inet_set_port(addr->sockaddr, link->port);
        link->addr = addr;

    } else {
        /* a name: needs a resolver, checked once http{} is read */
        link->host = host;
    }

    gmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_gateway_module);

    slot = ngx_array_push(&gmcf->links);
    if (slot == NULL) {
        return NULL;
    }

    *slot = link;

    return link;
}


/* Names need a resolver at http level; the links get it for run time. */

ngx_int_t
ngx_http_gateway_links_init(ngx_conf_t *cf, ngx_array_t *links)
{
    ngx_uint_t                 i;
    ngx_http_gateway_link_t  **link;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    link = links->elts;

    for (i = 0; i < links->nelts; i++) {

        /* http{}'s own values are not merged: resolver_timeout may be unset */

        link[i]->resolver = clcf->resolver;
        link[i]->resolver_timeout =
                                   clcf->resolver_timeout == NGX_CONF_UNSET_MSEC
                                   ? 30000 : clcf->resolver_timeout;

        if (link[i]->addr == NULL
            && (clcf->resolver == NULL
                || clcf->resolver->connections.nelts == 0))
        {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "%V: \"%V\" is not an IP address and no "
                          "\"resolver\" is defined at http level to resolve "
                          "it in %s:%ui", &link[i]->name, &link[i]->host,
                          link[i]->file, link[i]->line);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


void
ngx_http_gateway_links_start(ngx_cycle_t *cycle, ngx_array_t *links)
{
    ngx_uint_t                 i;
    ngx_http_gateway_link_t  **link;

    ngx_http_gateway_link_quiet_log = *cycle->log;
    ngx_http_gateway_link_quiet_log.log_level = NGX_LOG_ALERT;

    link = links->elts;

    for (i = 0; i < links->nelts; i++) {
        link[i]->log = cycle->log;

        link[i]->retry.handler = ngx_http_gateway_link_retry_handler;
        link[i]->retry.data = link[i];
        link[i]->retry.log = cycle->log;
        link[i]->retry.cancelable = 1;

        if (link[i]->persistent) {
            ngx_http_gateway_link_connect(link[i]);
        }
    }
}


void
ngx_http_gateway_links_stop(ngx_array_t *links)
{
    ngx_uint_t                 i;
    ngx_http_gateway_link_t  **link;

    link = links->elts;

    for (i = 0; i < links->nelts; i++) {
        link[i]->exiting = 1;

        if (link[i]->retry.timer_set) {
            ngx_del_timer(&link[i]->retry);
        }

        if (link[i]->state > NGX_HTTP_GATEWAY_LINK_DOWN) {
            ngx_http_gateway_link_close(link[i]);
        }

        if (link[i]->out.start) {
            ngx_free(link[i]->out.start);
            ngx_memzero(&link[i]->out, sizeof(ngx_buf_t));
        }
    }
}


void
ngx_http_gateway_link_connect(ngx_http_gateway_link_t *link)
{
    ngx_resolver_ctx_t  *ctx;

    if (link->exiting || link->state > NGX_HTTP_GATEWAY_LINK_DOWN) {
        return;
    }

    if (link->retry.timer_set) {
        ngx_del_timer(&link->retry);
    }

    if (link->addr) {
        ngx_memcpy(&link->sockaddr, link->addr->sockaddr, link->addr->socklen);
        link->socklen = link->addr->socklen;
        ngx_http_gateway_link_open(link);
        return;
    }

    ctx = ngx_resolve_start(link->resolver, NULL);

    if (ctx == NULL || ctx == NGX_NO_RESOLVER) {
        ngx_http_gateway_link_fail(link, "cannot resolve the host",
                                   ctx ? "no resolver" : "no memory");
        return;
    }

    ctx->name = link->host;
    ctx->handler = ngx_http_gateway_link_resolved;
    ctx->data = link;
    ctx->timeout = link->resolver_timeout;

    link->state = NGX_HTTP_GATEWAY_LINK_RESOLVING;
    link->resolving = ctx;

    if (ngx_resolve_name(ctx) != NGX_OK) {
        link->resolving = NULL;
        ngx_http_gateway_link_fail(link, "cannot resolve the host",
                                   "resolver error");
    }
}


static void
ngx_http_gateway_link_resolved(ngx_resolver_ctx_t *ctx)
{
    ngx_http_gateway_link_t  *link = ctx->data;

    link->resolving = NULL;

    if (ctx->state || ctx->naddrs == 0) {
        ngx_http_gateway_link_fail(link, "cannot resolve the host",
                                   ctx->state
                                   ? ngx_resolver_strerror(ctx->state)
                                   : "no address");
        ngx_resolve_name_done(ctx);
        return;
    }

    ngx_memcpy(&link->sockaddr, ctx->addrs[0].sockaddr,
               ctx->addrs[0].socklen);
    link->socklen = ctx->addrs[0].socklen;
    ngx_inet_set_port(&link->sockaddr.sockaddr, link->port);

    ngx_resolve_name_done(ctx);

    ngx_http_gateway_link_open(link);
}


static void
ngx_http_gateway_link_open(ngx_http_gateway_link_t *link)
{
    ngx_int_t          rc;
    ngx_err_t          err;
    ngx_connection_t  *c;

    link->addr_text.data = link->addr_data;
    link->addr_text.len = ngx_sock_ntop(&link->sockaddr.sockaddr, link->socklen,
                                        link->addr_data, NGX_SOCKADDR_STRLEN,
                                        1);

    ngx_memzero(&link->peer, sizeof(ngx_peer_connection_t));

    link->peer.sockaddr = &link->sockaddr.sockaddr;
    link->peer.socklen = link->socklen;
    link->peer.name = &link->addr_text;
    link->peer.get = ngx_event_get_peer;
    link->peer.log = &ngx_http_gateway_link_quiet_log;
    link->peer.log_error = NGX_ERROR_ERR;

    rc = ngx_event_connect_peer(&link->peer);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        err = ngx_socket_errno;
        link->peer.connection = NULL;
        ngx_http_gateway_link_fail_errno(link, "cannot connect", err);
        return;
    }

    c = link->peer.connection;
    c->data = link;
    c->read->cancelable = link->cancelable;
    c->write->cancelable = link->cancelable;

    if (rc == NGX_OK) {
        ngx_http_gateway_link_connected(link);
        return;
    }

    /* NGX_AGAIN */

    link->state = NGX_HTTP_GATEWAY_LINK_CONNECTING;

    c->read->handler = ngx_http_gateway_link_connect_handler;
    c->write->handler = ngx_http_gateway_link_connect_handler;

    ngx_add_timer(c->write, link->connect_timeout);
}


static void
ngx_http_gateway_link_connect_handler(ngx_event_t *ev)
{
    int                       err;
    socklen_t                 len;
    ngx_connection_t         *c;
    ngx_http_gateway_link_t  *link;

    c = ev->data;
    link = c->data;

    if (ev->timedout) {
        ngx_http_gateway_link_fail(link, "connect timed out", NULL);
        return;
    }

    err = 0;
    len = sizeof(int);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len) == -1) {
        err = ngx_socket_errno;
    }

    if (err) {
        ngx_http_gateway_link_fail_errno(link, "cannot connect", err);
        return;
    }

    ngx_http_gateway_link_connected(link);
}


static void
ngx_http_gateway_link_connected(ngx_http_gateway_link_t *link)
{
    ngx_connection_t  *c;

    c = link->peer.connection;

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    c->read->handler = ngx_http_gateway_link_read_handler;
    c->write->handler = ngx_http_gateway_link_write_handler;

    link->state = NGX_HTTP_GATEWAY_LINK_CONNECTED;

    link->handlers->connected(link);

    /* what arrived with the connection has had its (edge) event already */

    if (link->peer.connection == c && c->read->ready) {
        ngx_post_event(c->read, &ngx_posted_events);
    }
}


/*
 * What the owner sends during one turn of the event loop is gathered and
 * goes out in one write at its end, from the posted write event: requests
 * that each send a command cost the link (and its peer, which then reads
 * them at once and answers in one write) one system call, not one each.
 * Data this long or longer goes out at once, behind what was gathered,
 * rather than being copied.
 */

ngx_int_t
ngx_http_gateway_link_send(ngx_http_gateway_link_t *link, u_char *data,
    size_t len)
{
    u_char            *p;
    size_t             size;
    ssize_t            n;
    ngx_connection_t  *c;

    if (link->state < NGX_HTTP_GATEWAY_LINK_CONNECTED) {
        return NGX_ERROR;
    }

    c = link->peer.connection;

    if (len >= NGX_HTTP_GATEWAY_LINK_GATHER
        && c->write->ready
        && ngx_http_gateway_link_write_out(link) == NGX_OK)
    {
        n = c->send(c, data, len);

        if (n == (ssize_t) len) {
            return NGX_OK;
        }

        if (n > 0) {
            data += n;
            len -= n;
        }
    }

    /* kept until the socket takes it; a write error shows there too */

    if ((size_t) (link->out.end - link->out.last) < len) {
        size = link->out.last - link->out.pos;

        if ((size_t) (link->out.end - link->out.start) >= size + len) {
            ngx_memmove(link->out.start, link->out.pos, size);

        } else {
            p = ngx_alloc(ngx_max(2 * (size + len), 4096), link->log);
            if (p == NULL) {
                return NGX_ERROR;
            }

            if (link->out.start) {
                ngx_memcpy(p, link->out.pos, size);
                ngx_free(link->out.start);
            }

            link->out.start = p;
            link->out.end = p + ngx_max(2 * (size + len), 4096);
        }

        link->out.pos = link->out.start;
        link->out.last = link->out.start + size;
    }

    link->out.last = ngx_cpymem(link->out.last, data, len);

    /*
     * It goes at the end of this turn of the event loop, or when the
     * socket takes more (its event comes then); a write error is found by
     * the write handler, not here in the middle of the owner's work.
     */

    if (c->write->ready || c->write->error) {
        ngx_post_event(c->write, &ngx_posted_events);
    }

    return NGX_OK;
}


/* What was gathered, to the socket: NGX_OK once all of it is sent. */

static ngx_int_t
ngx_http_gateway_link_write_out(ngx_http_gateway_link_t *link)
{
    ssize_t            n;
    ngx_connection_t  *c;

    c = link->peer.connection;

    while (link->out.pos < link->out.last) {
        n = c->send(c, link->out.pos, link->out.last - link->out.pos);

        if (n == NGX_AGAIN || n == NGX_ERROR) {
            return n;
        }

        link->out.pos += n;
    }

    link->out.pos = link->out.start;
    link->out.last = link->out.start;

    return NGX_OK;
}


static ngx_int_t
ngx_http_gateway_link_flush(ngx_http_gateway_link_t *link)
{
    if (ngx_http_gateway_link_write_out(link) == NGX_ERROR) {
        return NGX_ERROR;
    }

    return ngx_handle_write_event(link->peer.connection->write, 0);
}


static void
ngx_http_gateway_link_write_handler(ngx_event_t *ev)
{
    ngx_connection_t         *c;
    ngx_http_gateway_link_t  *link;

    c = ev->data;
    link = c->data;

    if (ngx_http_gateway_link_flush(link) != NGX_OK) {
        ngx_http_gateway_link_fail(link, "connection lost", "write failed");
    }
}


static void
ngx_http_gateway_link_read_handler(ngx_event_t *ev)
{
    u_char                   *buf;
    size_t                    size;
    ssize_t                   n;
    ngx_uint_t                generation;
    ngx_connection_t         *c;
    ngx_http_gateway_link_t  *link;

    c = ev->data;
    link = c->data;

    if (c->close) {
        /* a worker going away closes its idle connections */
        ngx_http_gateway_link_close(link);
        return;
    }

    if (ev->timedout) {
        ngx_http_gateway_link_fail(link, "no answer within timeout", NULL);
        return;
    }

    generation = link->generation;

    for ( ;; ) {
        buf = ngx_http_gateway_link_buffer;
        size = NGX_HTTP_GATEWAY_LINK_READ_SIZE;

        if (link->buffer) {
            buf = link->buffer(link, &size);

            if (buf == NULL) {
                ngx_http_gateway_link_fail(link, "invalid answer",
                                           "no memory");
                return;
            }
        }

        n = c->recv(c, buf, size);

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == NGX_ERROR) {
            ngx_http_gateway_link_fail(link, "connection lost", NULL);
            return;
        }

        if (n == 0) {
            if (link->handlers->eof && link->handlers->eof(link) == NGX_OK) {
                if (link->generation == generation) {
                    ngx_http_gateway_link_close(link);
                }

                return;
            }

            if (link->generation != generation) {
                return;
            }

            ngx_http_gateway_link_fail(link, "connection lost",
                                       "closed by the peer");
            return;
        }

        if (link->handlers->recv(link, buf, n) != NGX_OK)
        {
            /* the owner failed the link with its reason, or left it to us */

            if (link->generation == generation) {
                ngx_http_gateway_link_fail(link, "invalid answer", NULL);
            }

            return;
        }

        /* the owner may have closed the link, or opened another one */

        if (link->generation != generation) {
            return;
        }
    }

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_http_gateway_link_fail(link, "connection lost", NULL);
    }
}


void
ngx_http_gateway_link_expect(ngx_http_gateway_link_t *link,
    ngx_msec_t timeout)
{
    ngx_connection_t  *c;

    c = link->peer.connection;

    if (c == NULL) {
        return;
    }

    if (timeout) {
        ngx_add_timer(c->read, timeout);

    } else if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }
}


void
ngx_http_gateway_link_ready(ngx_http_gateway_link_t *link)
{
    link->state = NGX_HTTP_GATEWAY_LINK_READY;
    link->backoff = 0;

    if (link->down) {
        link->down = 0;
        link->logged = 0;

        ngx_log_error(NGX_LOG_NOTICE, link->log, 0,
                      "%V (%V:%d) is available again",
                      &link->name, &link->host, (int) link->port);
    }
}


static void
ngx_http_gateway_link_fail_errno(ngx_http_gateway_link_t *link,
    const char *reason, ngx_err_t err)
{
    u_char  *p;
    u_char   text[NGX_MAX_ERROR_STR];

    p = ngx_strerror(err, text, sizeof(text) - 1);
    *p = '\0';

    ngx_http_gateway_link_fail(link, reason, err ? (char *) text : NULL);
}


void
ngx_http_gateway_link_fail(ngx_http_gateway_link_t *link, const char *reason,
    const char *detail)
{
    u_char  *p;

    ngx_http_gateway_link_drop(link);

    link->state = NGX_HTTP_GATEWAY_LINK_DOWN;

    if (link->exiting) {
        link->handlers->closed(link);
        return;
    }

    link->failures++;
    link->down = 1;

    ngx_http_gateway_stats_add(link->failures_stat, 0, 1);

    p = ngx_snprintf(link->error, NGX_HTTP_GATEWAY_LINK_ERRLEN - 1,
                     "%s%s%s", reason, detail ? ": " : "",
                     detail ? detail : "");
    *p = '\0';

    if (ngx_http_gateway_log_due(&link->logged,
                                 NGX_HTTP_GATEWAY_LINK_LOG_INTERVAL))
    {
        ngx_log_error(NGX_LOG_ERR, link->log, 0, "%V (%V:%d): %s%s%s",
                      &link->name, &link->host, (int) link->port,
                      link->error, link->effect ? "; " : "",
                      link->effect ? link->effect : "");
    }

    link->backoff = link->backoff
                    ? ngx_min(link->backoff * 2,
                              NGX_HTTP_GATEWAY_LINK_BACKOFF_MAX)
                    : NGX_HTTP_GATEWAY_LINK_BACKOFF_MIN;

    ngx_add_timer(&link->retry, link->backoff);

    link->handlers->closed(link);
}


void
ngx_http_gateway_link_close(ngx_http_gateway_link_t *link)
{
    ngx_http_gateway_link_drop(link);

    link->state = NGX_HTTP_GATEWAY_LINK_IDLE;

    link->handlers->closed(link);
}


/* Lets go of the connection, the resolution and what was not sent. */

static void
ngx_http_gateway_link_drop(ngx_http_gateway_link_t *link)
{
    if (link->resolving) {
        ngx_resolve_name_done(link->resolving);
        link->resolving = NULL;
    }

    if (link->peer.connection) {
        ngx_close_connection(link->peer.connection);
        link->peer.connection = NULL;
    }

    /* tells a read loop that called its owner that this link went away */
    link->generation++;

    link->out.pos = link->out.start;
    link->out.last = link->out.start;
}


static void
ngx_http_gateway_link_retry_handler(ngx_event_t *ev)
{
    ngx_http_gateway_link_t  *link = ev->data;

    if (link->state != NGX_HTTP_GATEWAY_LINK_DOWN) {
        return;
    }

    if (link->persistent && !ngx_exiting && !ngx_terminate) {
        ngx_http_gateway_link_connect(link);
        return;
    }

    link->state = NGX_HTTP_GATEWAY_LINK_IDLE;
}


const char *
ngx_http_gateway_link_state_name(ngx_http_gateway_link_t *link)
{
    static const char  *names[] = {
        "idle", "down", "resolving", "connecting", "connected", "ready"
    };

    return names[link->state];
}


void
ngx_http_gateway_link_status(ngx_http_gateway_link_t *link,
    gw_json_writer_t *w)
{
    const char  *state;

    state = ngx_http_gateway_link_state_name(link);

    gw_json_object_begin(w);

    gw_json_key(w, "host", 4);
    gw_json_string(w, (char *) link->host.data, link->host.len);
    gw_json_key(w, "port", 4);
    gw_json_uint(w, link->port);
    gw_json_key(w, "state", 5);
    gw_json_string(w, state, ngx_strlen(state));
    gw_json_key(w, "failures", 8);
    gw_json_uint(w, link->failures);
    gw_json_key(w, "last_error", 10);

    if (link->failures) {
        gw_json_string(w, (char *) link->error, ngx_strlen(link->error));

    } else {
        gw_json_null(w);
    }

    gw_json_object_end(w);
}
