/*
 * Private to ngx_http_gateway_upstream_module (upstream balancing and
 * circuit breaking): the types and functions its files share.
 *
 *   ngx_http_gateway_upstream_module.c     directives, configuration
 *   ngx_http_gateway_upstream_zone.c       the shared peer table
 *   ngx_http_gateway_upstream_source.c     peer sets published at run time
 *   ngx_http_gateway_upstream_balancer.c   get/free peer, failures
 *   ngx_http_gateway_upstream_fail_fast.c  503 when every circuit is open
 *   ngx_http_gateway_upstream_variables.c  per request state, variables
 *   ngx_http_gateway_upstream_status.c     the "upstreams" status section
 */

#ifndef _NGX_HTTP_GATEWAY_UPSTREAM_H_INCLUDED_
#define _NGX_HTTP_GATEWAY_UPSTREAM_H_INCLUDED_


#include "ngx_http_gateway.h"
#include "ngx_http_gateway_upstream_peers.h"
#include "gw_balancer.h"


/* gateway_circuit_transitions_total's to= */
#define NGX_HTTP_GATEWAY_TO_OPEN       0
#define NGX_HTTP_GATEWAY_TO_HALF_OPEN  1
#define NGX_HTTP_GATEWAY_TO_CLOSED     2

/* bitmaps of 64-bit words: the failure statuses, the slots a request tried */
#define NGX_HTTP_GATEWAY_STATUS_WORDS  10        /* codes 0..639 */

#define ngx_http_gateway_bit_test(map, i)                                   \
    (((map)[(i) / 64] >> ((i) % 64)) & 1)
#define ngx_http_gateway_bit_set(map, i)                                    \
    ((map)[(i) / 64] |= (uint64_t) 1 << ((i) % 64))
#define ngx_http_gateway_bit_clear(map, i)                                  \
    ((map)[(i) / 64] &= ~((uint64_t) 1 << ((i) % 64)))


/* a configured peer (round robin's view, primaries then backups) */
typedef struct {
    ngx_str_t                          name;
    ngx_uint_t                         weight;
    ngx_uint_t                         max_conns;
    ngx_uint_t                         dup;      /* same address seen before */
    unsigned                           down:1;
    unsigned                           backup:1;

    /*
     * where it sits in the shared table, set when the zone is initialized
     * (NGX_HTTP_GATEWAY_NO_SLOT: a peer source's set holds the table)
     */
    ngx_uint_t                         slot;
    uint64_t                           slot_generation;

    ngx_http_gateway_stat_t           *transitions;

    struct sockaddr                   *sockaddr;
    socklen_t                          socklen;
} ngx_http_gateway_peer_conf_t;


#define NGX_HTTP_GATEWAY_NO_SLOT  ((ngx_uint_t) -1)


/* the address of a slot, next to the core's table */
typedef struct {
    ngx_sockaddr_t                     sockaddr;
    socklen_t                          socklen;
    uint16_t                           dup;
    uint16_t                           name_len;
    u_char                             name[NGX_SOCKADDR_STRLEN];

    /* gateway_circuit_transitions_total of the slot's peer, by to= */
    ngx_http_gateway_stat_t            transitions;
} ngx_http_gateway_peer_addr_t;


/*
 * The shared table of an upstream, in its zone, and per process slot
 * (ngx_process_slot) what its process holds in the table, so that the next
 * process in a slot gives back what a dead one held.
 */
typedef struct {
    ngx_uint_t                         capacity;
    ngx_uint_t                         nslots;
    int64_t                            warned;       /* last all-open warning */
    uint32_t                           source;       /* key hash of the set */
    ngx_uint_t                         published;    /* sets of that source */
    gw_peer_t                         *peers;
    ngx_http_gateway_peer_addr_t      *addrs;
    gw_holding_t                      *holdings[NGX_MAX_PROCESSES];
} ngx_http_gateway_upstream_shctx_t;


typedef struct {
    ngx_flag_t                         enabled;     /* by either directive */
    ngx_uint_t                         method;
    ngx_int_t                          breaker_set;
    gw_breaker_conf_t                  breaker;
    uint64_t                           statuses[NGX_HTTP_GATEWAY_STATUS_WORDS];

    /* unset when a balancing method declared after ours replaced it */
    ngx_uint_t                         initialized;
    ngx_http_upstream_init_peer_pt     original_init_peer;

    /* the upstream block, and where our first directive in it is */
    ngx_http_upstream_srv_conf_t      *upstream;
    u_char                            *file;
    ngx_uint_t                         line;

    ngx_array_t                        peers;       /* peer_conf_t */

    /* a peer source (Consul) feeding the primaries, see _peers.h */
    ngx_str_t                          source;
    uint32_t                           source_hash;
    ngx_uint_t                         source_peers;
    ngx_http_gateway_upstream_peer_t  *bootstrap;
    ngx_uint_t                         nbootstrap;

    ngx_slab_pool_t                   *shpool;
    ngx_http_gateway_upstream_shctx_t *sh;

    /* per process: slot -> configured peer -> round robin peer */
    ngx_http_upstream_rr_peers_t      *map_peers;   /* built for */
    ngx_uint_t                         map_size;
    ngx_int_t                         *map;
    ngx_http_upstream_rr_peer_t      **rr;
} ngx_http_gateway_upstream_srv_conf_t;


typedef struct {
    ngx_array_t                        upstreams;   /* srv_conf_t * */
    ngx_http_gateway_stats_family_t   *transitions;
    ngx_uint_t                         breakers;    /* any upstream has one */
    ngx_array_t                        pass_modules; /* their ctx_index */
} ngx_http_gateway_upstream_main_conf_t;


/* per request, wraps round robin's data */
typedef struct {
    ngx_http_upstream_rr_peer_data_t  *rrp;
    ngx_http_gateway_upstream_srv_conf_t *conf;
    ngx_http_request_t                *request;

    uint64_t                          *tried;
    size_t                             tried_words;

    gw_pick_t                          pick;
    ngx_str_t                         *name;
    ngx_uint_t                         tries_left;  /* when last freed */
    unsigned                           picked:1;
    unsigned                           freed:1;
    unsigned                           started:1;
    unsigned                           reported:1;

#if (NGX_HTTP_SSL)
    ngx_event_set_peer_session_pt      original_set_session;
    ngx_event_save_peer_session_pt     original_save_session;
#endif
} ngx_http_gateway_upstream_peer_data_t;


/*
 * Per request (the main request's survives internal redirects): what the
 * variables show, and the peer reserved by the fail-fast check for the
 * first try, so checking and choosing happen under one lock.
 */
typedef struct {
    ngx_str_t                          peer;
    ngx_uint_t                         state;

    ngx_http_gateway_upstream_srv_conf_t *reserved_conf;
    gw_pick_t                          reserved_pick;

    /* the try in progress, for the header filter */
    ngx_http_gateway_upstream_peer_data_t *attempt;

    unsigned                           set:1;       /* peer and state */
    unsigned                           reserved:1;
    unsigned                           cleanup:1;   /* releases the reserved */
} ngx_http_gateway_upstream_ctx_t;


extern ngx_module_t  ngx_http_gateway_upstream_module;


char *ngx_http_gateway_upstream_enable(ngx_conf_t *cf,
    ngx_http_gateway_upstream_srv_conf_t *gcf);
ngx_int_t ngx_http_gateway_upstream_add_zone(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us,
    ngx_http_gateway_upstream_srv_conf_t *gcf);
gw_holding_t *ngx_http_gateway_upstream_holdings(
    ngx_http_gateway_upstream_srv_conf_t *gcf);
ngx_int_t ngx_http_gateway_upstream_init_process(ngx_cycle_t *cycle);
ngx_int_t ngx_http_gateway_upstream_load(
    ngx_http_gateway_upstream_srv_conf_t *gcf, ngx_log_t *log);
ngx_int_t ngx_http_gateway_upstream_reconcile(
    ngx_http_gateway_upstream_srv_conf_t *gcf,
    ngx_http_gateway_peer_conf_t *pc, ngx_uint_t n, ngx_log_t *log);
ngx_uint_t ngx_http_gateway_upstream_find_slot(
    ngx_http_gateway_upstream_shctx_t *sh, u_char *claimed,
    ngx_http_gateway_peer_conf_t *pc);
ngx_int_t ngx_http_gateway_upstream_stats_init(ngx_conf_t *cf,
    ngx_http_gateway_upstream_main_conf_t *gmcf);
ngx_int_t ngx_http_gateway_upstream_status_add(ngx_conf_t *cf,
    ngx_http_gateway_upstream_main_conf_t *gmcf);
ngx_int_t ngx_http_gateway_upstream_build_map(
    ngx_http_gateway_upstream_srv_conf_t *gcf,
    ngx_http_upstream_rr_peers_t *peers);

ngx_int_t ngx_http_gateway_upstream_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us);
void ngx_http_gateway_upstream_log_transition(ngx_log_t *log,
    ngx_http_gateway_upstream_srv_conf_t *gcf, ngx_str_t *peer,
    ngx_http_gateway_stat_t *transitions, gw_transition_t t, int64_t period);
void ngx_http_gateway_upstream_header_filter_init(void);

ngx_int_t ngx_http_gateway_upstream_fail_fast_init(ngx_conf_t *cf,
    ngx_http_gateway_upstream_main_conf_t *gmcf);

ngx_http_gateway_upstream_ctx_t *ngx_http_gateway_upstream_ctx(
    ngx_http_request_t *r);
ngx_int_t ngx_http_gateway_upstream_add_variables(ngx_conf_t *cf);


#endif /* _NGX_HTTP_GATEWAY_UPSTREAM_H_INCLUDED_ */
