/*
 * Private to ngx_http_gateway_cache_module, the Redis response cache:
 *
 *   ngx_http_gateway_cache_module.c     directives, configuration, variable
 *   ngx_http_gateway_cache_lookup.c     the lookup before the content phase
 *   ngx_http_gateway_cache_hit.c        a hit answered from the entry
 *   ngx_http_gateway_cache_store.c      the filters that copy a response
 *   ngx_http_gateway_cache_fill.c       a fill: its lock, its entry, its SET
 */

#ifndef _NGX_HTTP_GATEWAY_CACHE_H_INCLUDED_
#define _NGX_HTTP_GATEWAY_CACHE_H_INCLUDED_


#include "ngx_http_gateway.h"
#include "ngx_http_gateway_redis.h"
#include "gw_cache.h"


/* $gateway_cache_status, and the status cell of the results (less one) */
#define NGX_HTTP_GATEWAY_CACHE_NONE      0
#define NGX_HTTP_GATEWAY_CACHE_HIT       1
#define NGX_HTTP_GATEWAY_CACHE_MISS      2
#define NGX_HTTP_GATEWAY_CACHE_BYPASS    3
#define NGX_HTTP_GATEWAY_CACHE_EXPIRED   4
#define NGX_HTTP_GATEWAY_CACHE_ERROR     5


typedef struct {
    ngx_uint_t                         used;    /* some gateway_cache NAME */
    ngx_http_gateway_stats_family_t   *results;
} ngx_http_gateway_cache_main_conf_t;


typedef struct {
    ngx_flag_t                   enable;
    ngx_str_t                    name;        /* the gateway_redis */
    ngx_http_gateway_redis_t    *redis;
    u_char                      *file;        /* where gateway_cache is */
    ngx_uint_t                   line;

    ngx_http_gateway_key_t      *key;
    time_t                       ttl;
    ngx_uint_t                   methods;
    ngx_array_t                 *bypass;
    size_t                       max_size;
    ngx_flag_t                   authorized;

    ngx_http_gateway_stat_t     *results;     /* by route */
} ngx_http_gateway_cache_loc_conf_t;


typedef struct ngx_http_gateway_cache_fill_s  ngx_http_gateway_cache_fill_t;


/* the lookup's GET before the entry's key: "*2 $3 GET $NN", two digits */
#define NGX_HTTP_GATEWAY_CACHE_GET_HEAD  18

#if (GW_CACHE_KEY_LEN > 99)
#error "an entry's key length must take two digits"
#endif


/*
 * Per request (r->ctx: an internal redirect starts over). Not in the
 * request's pool, whose blocks a request that merely misses would
 * otherwise outgrow: allocated apart, with one pool cleanup for all of it
 * (the wait's, the fill's, a hit's reply), and kept past the request while
 * its GET is unanswered.
 */
typedef struct {
    ngx_http_request_t                 *request;    /* NULL once it ended */
    ngx_http_gateway_cache_loc_conf_t  *conf;
    ngx_uint_t                          status;     /* $gateway_cache_status */

    unsigned                            looked_up:1;
    unsigned                            may_store:1;    /* not yet looked at */
    unsigned                            asking:1;       /* the GET is out */

    /* a hit: the reply Redis gave (kept till the end), the entry in it */
    ngx_http_gateway_redis_reply_t     *reply;

    ngx_http_gateway_cache_fill_t      *fill;       /* a miss that may fill */
    ngx_http_gateway_wait_t             wait;       /* for the lookup */

    /* not zeroed: written before they are read */
    gw_cache_entry_t                    entry;      /* decoded from reply */

    /* the lookup's GET, the entry's Redis key written straight into it */
    size_t                              key_len;
    u_char                              get[NGX_HTTP_GATEWAY_CACHE_GET_HEAD
                                            + GW_CACHE_KEY_LEN + 2];
} ngx_http_gateway_cache_ctx_t;

#define ngx_http_gateway_cache_key(ctx)                                       \
    ((ctx)->get + NGX_HTTP_GATEWAY_CACHE_GET_HEAD)


extern ngx_module_t  ngx_http_gateway_cache_module;


/* request states and fills a worker keeps for the next ones */
#define NGX_HTTP_GATEWAY_CACHE_SPARES  64


/* The gateway's cache step (precontent, after the rate limits). */
ngx_int_t ngx_http_gateway_cache_lookup_handler(ngx_http_request_t *r);

/* The request's $gateway_cache_status is known: it is counted. */
void ngx_http_gateway_cache_result(ngx_http_gateway_cache_ctx_t *ctx,
    ngx_uint_t status);

/* The request's Accept-Encoding, the variant a Vary-ing entry is for. */
ngx_table_elt_t *ngx_http_gateway_cache_accept_encoding(ngx_http_request_t *r);

/* A decoded entry in ctx answers the request. */
ngx_int_t ngx_http_gateway_cache_serve(ngx_http_request_t *r);

ngx_int_t ngx_http_gateway_cache_filters_init(ngx_conf_t *cf);

/* Logs a Redis problem at most once per interval in this worker. */
void ngx_http_gateway_cache_log_trouble(ngx_log_t *log,
    ngx_http_gateway_cache_loc_conf_t *conf, const char *what,
    const char *detail);


/*
 * A fill outlives its request when needed: it asks for the lock once the
 * response is known to be storable, and the answer may come after the
 * response has ended; the entry is sent once both are there. Its memory is
 * its own.
 */

/* Asks for the fill lock; NULL when Redis cannot be asked. */
ngx_http_gateway_cache_fill_t *ngx_http_gateway_cache_fill_create(
    ngx_http_gateway_cache_ctx_t *ctx, uint64_t ttl_ms);

/* Room for the entry: head bytes, then body_hint bytes for the body. */
u_char *ngx_http_gateway_cache_fill_start(ngx_http_gateway_cache_fill_t *fill,
    size_t head, size_t body_hint);

/* Appends a body buffer; NGX_DECLINED past gateway_cache_max_size. */
ngx_int_t ngx_http_gateway_cache_fill_append(
    ngx_http_gateway_cache_fill_t *fill, ngx_buf_t *b);

/* The body is complete: the entry goes to Redis once the lock is held. */
void ngx_http_gateway_cache_fill_complete(ngx_http_gateway_cache_fill_t *fill);

/* Nothing will be stored (also called when the request goes away). */
void ngx_http_gateway_cache_fill_abandon(ngx_http_gateway_cache_fill_t *fill);


#endif /* _NGX_HTTP_GATEWAY_CACHE_H_INCLUDED_ */
