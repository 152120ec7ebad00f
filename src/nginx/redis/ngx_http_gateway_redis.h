/*
 * The gateway's Redis client: named Redis servers (gateway_redis), one
 * pipelined connection per worker to each, on a background link
 * (runtime/ngx_http_gateway_link.h); hiredis encodes the commands and
 * parses the replies.
 *
 * A command is sent with a pool (the request's): if that pool goes away
 * first, the command is detached and its answer dropped. Without a pool
 * (NULL), it is never detached: its data must live until the handler is
 * called. Every command gets exactly one call of its handler: the reply,
 * or NULL when Redis failed, was too slow (timeout=) or the link went down.
 */

#ifndef _NGX_HTTP_GATEWAY_REDIS_H_INCLUDED_
#define _NGX_HTTP_GATEWAY_REDIS_H_INCLUDED_


#include "ngx_http_gateway.h"


typedef struct ngx_http_gateway_redis_s        ngx_http_gateway_redis_t;
typedef struct ngx_http_gateway_redis_cmd_s    ngx_http_gateway_redis_cmd_t;
typedef struct ngx_http_gateway_redis_reply_s  ngx_http_gateway_redis_reply_t;


typedef enum {
    NGX_HTTP_GATEWAY_REDIS_STRING = 1,
    NGX_HTTP_GATEWAY_REDIS_ARRAY,
    NGX_HTTP_GATEWAY_REDIS_INTEGER,
    NGX_HTTP_GATEWAY_REDIS_NIL,
    NGX_HTTP_GATEWAY_REDIS_STATUS,
    NGX_HTTP_GATEWAY_REDIS_ERROR
} ngx_http_gateway_redis_type_e;


/*
 * A reply as Redis gave it; valid until its handler returns, unless the
 * handler keeps it (ngx_http_gateway_redis_reply_keep()). STATUS and ERROR
 * text is NUL-terminated (for logs); a large STRING lies where it was read
 * and is not.
 */
struct ngx_http_gateway_redis_reply_s {
    ngx_uint_t                         type;
    int64_t                            integer;  /* INTEGER */
    ngx_str_t                          str;      /* STRING, STATUS, ERROR */
    size_t                             elements; /* ARRAY */
    ngx_http_gateway_redis_reply_t   **element;

    /* the client's */
    void                              *buffer;   /* str lies in it */
    size_t                             size;     /* as allocated */
    unsigned                           kept:1;
    unsigned                           borrowed:1;
};


/* reply is NULL on failure */
typedef void (*ngx_http_gateway_redis_handler_pt)(void *data,
    ngx_http_gateway_redis_reply_t *reply);


/* A Lua script run with EVALSHA, and EVAL when Redis does not know it. */
typedef struct {
    ngx_str_t                          text;
    u_char                             sha1[40];
} ngx_http_gateway_redis_script_t;


extern ngx_module_t  ngx_http_gateway_redis_module;


/* The named Redis, at configuration time; NULL when there is none. */
ngx_http_gateway_redis_t *ngx_http_gateway_redis_find(ngx_conf_t *cf,
    ngx_str_t *name);

/* Marks a Redis as used, so workers connect to it when they start. */
void ngx_http_gateway_redis_use(ngx_http_gateway_redis_t *redis);

ngx_str_t *ngx_http_gateway_redis_name(ngx_http_gateway_redis_t *redis);

/*
 * 1 when a command sent now is expected to be answered: the link is up,
 * or being set up for the first time.
 */
ngx_uint_t ngx_http_gateway_redis_available(ngx_http_gateway_redis_t *redis);

/*
 * Keeps the reply a handler was given past the handler, so that a large
 * value is used where it was read rather than copied out; it is then the
 * caller's to free with ngx_http_gateway_redis_reply_free().
 */
void ngx_http_gateway_redis_reply_keep(ngx_http_gateway_redis_reply_t *reply);
void ngx_http_gateway_redis_reply_free(ngx_http_gateway_redis_reply_t *reply);

/* Computes the script's SHA-1. */
void ngx_http_gateway_redis_script_init(ngx_http_gateway_redis_script_t *s);

/*
 * Sends a command (argv of argc strings). Returns NULL when the link is
 * not available (the handler is then never called).
 */
ngx_http_gateway_redis_cmd_t *ngx_http_gateway_redis_command(
    ngx_http_gateway_redis_t *redis, ngx_pool_t *pool,
    ngx_http_gateway_redis_handler_pt handler, void *data,
    ngx_uint_t argc, ngx_str_t *argv);

/*
 * Sends a command the caller encoded in RESP itself, so that a large value
 * goes from where it was put together straight to the connection instead
 * of being copied into an argument: text is sent at once (or copied only
 * while the connection is not up yet) and may be freed once this returns.
 */
ngx_http_gateway_redis_cmd_t *ngx_http_gateway_redis_command_encoded(
    ngx_http_gateway_redis_t *redis, ngx_pool_t *pool,
    ngx_http_gateway_redis_handler_pt handler, void *data, u_char *text,
    size_t len);

/*
 * For a command encoded by its caller: RESP's "*N" or "$N" line (type '*'
 * or '$'), and a number as a whole bulk string argument ("$2\r\n10\r\n").
 */
u_char *ngx_http_gateway_redis_encode_len(u_char *p, u_char type, uint64_t n);
u_char *ngx_http_gateway_redis_encode_uint(u_char *p, uint64_t n);

/* EVALSHA script nkeys argv..., falling back to EVAL on NOSCRIPT. */
ngx_http_gateway_redis_cmd_t *ngx_http_gateway_redis_eval(
    ngx_http_gateway_redis_t *redis, ngx_pool_t *pool,
    ngx_http_gateway_redis_script_t *script,
    ngx_http_gateway_redis_handler_pt handler, void *data,
    ngx_uint_t nkeys, ngx_uint_t argc, ngx_str_t *argv);


#endif /* _NGX_HTTP_GATEWAY_REDIS_H_INCLUDED_ */
