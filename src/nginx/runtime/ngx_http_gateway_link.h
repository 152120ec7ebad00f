/*
 * A background link: one TCP connection per worker to a HOST:PORT that
 * the gateway itself talks to (Redis, Consul, an OTLP collector), on nginx
 * events. The host is an IP address, "localhost", or a name resolved with
 * nginx's resolver at each connect (never a blocking getaddrinfo). The
 * link connects (ngx_event_connect_peer, connect_timeout), writes what its
 * owner sends (in one write per turn of the event loop, keeping what the
 * socket does not take), hands the owner what arrives, fails when an answer it expects is late, and on failure
 * closes, tells its owner, logs once per interval and backs off (100 ms
 * doubling to 5 s) before a persistent link reconnects by itself.
 *
 * Its owner (the Redis client, the Consul poller, the span exporter) speaks
 * the protocol: it sends from connected(), reads in recv(), calls
 * ngx_http_gateway_link_ready() once the peer proved usable, and fails
 * whatever waited on the link in closed().
 */

#ifndef _NGX_HTTP_GATEWAY_LINK_H_INCLUDED_
#define _NGX_HTTP_GATEWAY_LINK_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_gateway_stats.h"


typedef struct ngx_http_gateway_link_s  ngx_http_gateway_link_t;


typedef enum {
    NGX_HTTP_GATEWAY_LINK_IDLE = 0,      /* not connected, nothing wrong */
    NGX_HTTP_GATEWAY_LINK_DOWN,          /* failed; retried after backoff */
    NGX_HTTP_GATEWAY_LINK_RESOLVING,
    NGX_HTTP_GATEWAY_LINK_CONNECTING,
    NGX_HTTP_GATEWAY_LINK_CONNECTED,     /* the owner's handshake runs */
    NGX_HTTP_GATEWAY_LINK_READY
} ngx_http_gateway_link_state_e;


typedef struct {
    /* the connection is up: send the handshake or the request */
    void        (*connected)(ngx_http_gateway_link_t *link);

    /*
     * Bytes arrived (all of them must be taken; they are not kept).
     * NGX_ERROR: the owner failed the link (ngx_http_gateway_link_fail()
     * with its reason), or the link fails as "invalid answer".
     */
    ngx_int_t   (*recv)(ngx_http_gateway_link_t *link, u_char *data,
                        size_t len);

    /*
     * The peer closed the connection: NGX_OK when that ends the owner's
     * exchange (a body read to the end, an idle keep-alive closed), else
     * the link fails. NULL: always a failure.
     */
    ngx_int_t   (*eof)(ngx_http_gateway_link_t *link);

    /* the connection is gone (a failure, or closed): fail what waited */
    void        (*closed)(ngx_http_gateway_link_t *link);
} ngx_http_gateway_link_handlers_t;


/*
 * Where the next read lands (*size bytes at most), for an owner that keeps
 * what arrives anyway (a parser's buffer): recv() is then called with data
 * pointing there, and a copy is saved. A NULL return fails the link (no
 * memory).
 */
typedef u_char *(*ngx_http_gateway_link_buffer_pt)(
    ngx_http_gateway_link_t *link, size_t *size);


#define NGX_HTTP_GATEWAY_LINK_ERRLEN  128


struct ngx_http_gateway_link_s {
    /* set at configuration time */
    ngx_str_t                          name;     /* gateway_redis "limits" */
    ngx_str_t                          host;
    in_port_t                          port;
    ngx_addr_t                        *addr;     /* NULL: resolve host */
    ngx_msec_t                         connect_timeout;
    ngx_resolver_t                    *resolver;
    ngx_msec_t                         resolver_timeout;
    u_char                            *file;     /* where it was declared */
    ngx_uint_t                         line;

    /* the owner's */
    void                              *data;
    ngx_http_gateway_link_handlers_t  *handlers;
    ngx_http_gateway_link_buffer_pt    buffer;   /* NULL: the link's own */
    const char                        *effect;   /* "its users fall back" */
    ngx_http_gateway_stat_t           *failures_stat; /* counts each failure */
    unsigned                           persistent:1; /* reconnects itself */
    unsigned                           cancelable:1; /* timers do not hold
                                                        a worker that exits */

    /* per worker */
    ngx_uint_t                         state;
    ngx_peer_connection_t              peer;
    ngx_resolver_ctx_t                *resolving;
    ngx_event_t                        retry;
    ngx_msec_t                         backoff;
    ngx_msec_t                         logged;   /* last failure logged */
    ngx_uint_t                         failures; /* since the worker began */
    ngx_uint_t                         down;     /* failed, not healed */
    ngx_uint_t                         generation; /* connections dropped */
    ngx_buf_t                          out;      /* what the socket refused */
    ngx_log_t                         *log;
    ngx_uint_t                         exiting;
    u_char                             error[NGX_HTTP_GATEWAY_LINK_ERRLEN];
    ngx_sockaddr_t                     sockaddr; /* resolved */
    socklen_t                          socklen;
    ngx_str_t                          addr_text;
    u_char                             addr_data[NGX_SOCKADDR_STRLEN];
};


/*
 * A link to url ("HOST[:PORT]") for the owner named name (used in logs),
 * registered so that workers start and stop it. NULL on error, logged.
 */
ngx_http_gateway_link_t *ngx_http_gateway_link_add(ngx_conf_t *cf,
    ngx_str_t *name, ngx_str_t *url, in_port_t default_port);

/* Starts connecting now, if not connected or connecting already. */
void ngx_http_gateway_link_connect(ngx_http_gateway_link_t *link);

/*
 * Sends data: what is sent during one turn of the event loop goes out in
 * one write at its end; 16 KB or more at once, uncopied (what the socket
 * does not take is kept). NGX_ERROR when not connected or out of memory.
 */
ngx_int_t ngx_http_gateway_link_send(ngx_http_gateway_link_t *link,
    u_char *data, size_t len);

/*
 * An answer is due within timeout ms (0: none is, the timer stops);
 * without data by then the link fails with "no answer within timeout".
 */
void ngx_http_gateway_link_expect(ngx_http_gateway_link_t *link,
    ngx_msec_t timeout);

/* The peer proved usable (a handshake, a first answer): resets backoff. */
void ngx_http_gateway_link_ready(ngx_http_gateway_link_t *link);

/*
 * Fails the link: closes it, calls closed(), logs "reason: detail" once
 * per interval, counts the failure, and backs off before reconnecting.
 */
void ngx_http_gateway_link_fail(ngx_http_gateway_link_t *link,
    const char *reason, const char *detail);

/* Closes the link without blame (its work is done); closed() is called. */
void ngx_http_gateway_link_close(ngx_http_gateway_link_t *link);

/* "down", "resolving", "connecting", "connected", "ready" or "idle". */
const char *ngx_http_gateway_link_state_name(ngx_http_gateway_link_t *link);

/*
 * The link as this worker sees it, as a status object: host, port, state,
 * failures, the last error.
 */
void ngx_http_gateway_link_status(ngx_http_gateway_link_t *link,
    gw_json_writer_t *w);

/* the workers' side: every link is started and stopped here */
ngx_int_t ngx_http_gateway_links_init(ngx_conf_t *cf, ngx_array_t *links);
void ngx_http_gateway_links_start(ngx_cycle_t *cycle, ngx_array_t *links);
void ngx_http_gateway_links_stop(ngx_array_t *links);


#endif /* _NGX_HTTP_GATEWAY_LINK_H_INCLUDED_ */
