/*
 * The gateway's Redis client: named Redis servers (gateway_redis), one
 * pipelined connection per worker to each, hiredis's async API on nginx
 * events, nginx timers for connect and command timeouts, reconnection with
 * backoff, AUTH and SELECT on connect.
 *
 * A command is sent with a pool (the request's): if that pool goes away
 * first, the command is detached and its answer dropped. Every command gets
 * exactly one call of its handler: the reply, or NULL when Redis failed,
 * was too slow (timeout=) or the link went down.
 */

#ifndef _NGX_HTTP_GATEWAY_REDIS_H_INCLUDED_
#define _NGX_HTTP_GATEWAY_REDIS_H_INCLUDED_


#include "ngx_http_gateway.h"

#include <hiredis/hiredis.h>


typedef struct ngx_http_gateway_redis_s      ngx_http_gateway_redis_t;
typedef struct ngx_http_gateway_redis_cmd_s  ngx_http_gateway_redis_cmd_t;

/* reply is NULL on failure; it is freed when the handler returns */
typedef void (*ngx_http_gateway_redis_handler_pt)(void *data,
    redisReply *reply);


/* A Lua script run with EVALSHA, and EVAL when Redis does not know it. */
typedef struct {
    ngx_str_t                         text;
    u_char                            sha1[40];
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

/* EVALSHA script nkeys argv..., falling back to EVAL on NOSCRIPT. */
ngx_http_gateway_redis_cmd_t *ngx_http_gateway_redis_eval(
    ngx_http_gateway_redis_t *redis, ngx_pool_t *pool,
    ngx_http_gateway_redis_script_t *script,
    ngx_http_gateway_redis_handler_pt handler, void *data,
    ngx_uint_t nkeys, ngx_uint_t argc, ngx_str_t *argv);


#endif /* _NGX_HTTP_GATEWAY_REDIS_H_INCLUDED_ */
