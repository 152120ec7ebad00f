/*
 * Private to the Redis client: what its directive file and its client
 * file share.
 *
 *   ngx_http_gateway_redis_module.c   gateway_redis, the named servers
 *   ngx_http_gateway_redis.c          commands and replies on the link
 */

#ifndef _NGX_HTTP_GATEWAY_REDIS_CLIENT_H_INCLUDED_
#define _NGX_HTTP_GATEWAY_REDIS_CLIENT_H_INCLUDED_


#include "ngx_http_gateway_redis.h"


struct ngx_http_gateway_redis_s {
    ngx_str_t                          name;
    ngx_str_t                          password;
    ngx_int_t                          db;
    ngx_msec_t                         timeout;
    ngx_http_gateway_link_t           *link;
    ngx_http_gateway_stat_t           *errors;   /* failures, error replies */

    /* per worker */
    void                              *reader;   /* hiredis's, per connection */
    ngx_queue_t                        sent;     /* awaiting replies, in order */
    ngx_queue_t                        queued;   /* for the connection to come */
    ngx_event_t                        deadline; /* the oldest reply's */
};


/* the link's handlers (ngx_http_gateway_redis.c) */
extern ngx_http_gateway_link_handlers_t  ngx_http_gateway_redis_link_handlers;

/* the link reads into hiredis's reader buffer: no copy on the way in */
u_char *ngx_http_gateway_redis_buffer(ngx_http_gateway_link_t *link,
    size_t *size);


#endif /* _NGX_HTTP_GATEWAY_REDIS_CLIENT_H_INCLUDED_ */
