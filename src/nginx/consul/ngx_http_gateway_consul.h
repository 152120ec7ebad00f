/*
 * Private to ngx_http_gateway_consul_module (Consul service discovery):
 * the types and functions its files share.
 *
 *   ngx_http_gateway_consul_module.c   directives, configuration, zones
 *   ngx_http_gateway_consul_poller.c   the lease and the blocking queries
 *   ngx_http_gateway_consul_update.c   a reply's set published (names
 *                                      resolved), logged, dumped
 *   ngx_http_gateway_consul_peers.c    the query; Consul's peers as upstream
 *                                      peers
 *   ngx_http_gateway_consul_dump.c     the dump file, read and written
 *   ngx_http_gateway_consul_status.c   the "consul" section of the status
 */

#ifndef _NGX_HTTP_GATEWAY_CONSUL_H_INCLUDED_
#define _NGX_HTTP_GATEWAY_CONSUL_H_INCLUDED_


#include "ngx_http_gateway.h"
#include "ngx_http_gateway_args.h"
#include "ngx_http_gateway_link.h"
#include "ngx_http_gateway_shm.h"
#include "ngx_http_gateway_stats.h"
#include "ngx_http_gateway_upstream_peers.h"
#include "gw_consul.h"
#include "gw_http.h"


typedef struct ngx_http_gateway_consul_conf_s    ngx_http_gateway_consul_conf_t;
typedef struct ngx_http_gateway_consul_dump_s    ngx_http_gateway_consul_dump_t;
typedef struct ngx_http_gateway_consul_poller_s  ngx_http_gateway_consul_poller_t;


/* the state of one Consul-fed upstream shared by its workers, in its zone */
typedef struct {
    ngx_pid_t                          owner;       /* the worker polling */
    ngx_msec_t                         heartbeat;   /* its last sign of life */
    gw_consul_poll_t                   poll;        /* index, pace, errors */
    uint32_t                           key_hash;    /* service, tag, dc */
    ngx_uint_t                         max_peers;
    ngx_uint_t                         updates;     /* sets published */
    ngx_uint_t                         errors;      /* failed queries */
    size_t                             skipped;     /* entries left out */
    time_t                             updated;     /* the last publish */
    unsigned                           has_set:1;
    unsigned                           empty_kept:1; /* Consul says none */
    u_char                             error[NGX_HTTP_GATEWAY_LINK_ERRLEN];
    size_t                             npeers;
    gw_consul_peer_t                   peers[];     /* Consul's last set */
} ngx_http_gateway_consul_shctx_t;


typedef struct {
    ngx_array_t                       *servers;     /* gateway_consul_server */
    ngx_array_t                        consuls;     /* conf_t * */
} ngx_http_gateway_consul_main_conf_t;


/* what a gateway_consul counts, as gateway_consul_*{upstream,service} */
typedef struct {
    ngx_http_gateway_stat_t           *updates;     /* sets published */
    ngx_http_gateway_stat_t           *errors;      /* queries failed */
    ngx_http_gateway_stat_t           *index;       /* X-Consul-Index */
    ngx_http_gateway_stat_t           *peers;       /* peers published */
} ngx_http_gateway_consul_stats_t;


/* one gateway_consul, inside an upstream{} */
struct ngx_http_gateway_consul_conf_s {
    ngx_str_t                          service;
    ngx_str_t                          tag;
    ngx_str_t                          dc;
    ngx_str_t                          token;
    ngx_msec_t                         wait;
    ngx_str_t                          dump;        /* full path, or empty */
    ngx_uint_t                         max_peers;
    ngx_flag_t                         empty_allow;
    ngx_array_t                       *servers;     /* its own, ngx_str_t */

    ngx_http_upstream_srv_conf_t      *upstream;
    u_char                            *file;        /* where it is declared */
    ngx_uint_t                         line;
    uint32_t                           key_hash;

    ngx_array_t                        links;       /* one per server */
    ngx_resolver_t                    *resolver;    /* for host names */
    ngx_msec_t                         resolver_timeout;
    ngx_http_gateway_shm_t            *shm;
    ngx_slab_pool_t                   *shpool;
    ngx_http_gateway_consul_shctx_t   *sh;
    ngx_http_gateway_consul_stats_t    stats;

#if (NGX_THREADS)
    ngx_thread_pool_t                 *thread_pool; /* writes the dump */
#endif

    /* per process */
    ngx_http_gateway_consul_poller_t  *poller;
    ngx_http_gateway_consul_dump_t    *dump_state;
};


/* this worker's side of one gateway_consul */
struct ngx_http_gateway_consul_poller_s {
    ngx_http_gateway_consul_conf_t    *ccf;
    ngx_log_t                         *log;

    ngx_event_t                        lease;       /* hold or take the lease */
    ngx_event_t                        next;        /* the next query */

    ngx_http_gateway_link_t           *link;        /* the one asked */
    gw_http_response_t                *response;
    gw_consul_reader_t                *reader;
    gw_consul_poll_conf_t              rules;
    uint64_t                           index;       /* the one sent */

    u_char                            *request;
    size_t                             request_len;
    u_char                             refusal[64]; /* a non-200 body */
    size_t                             refusal_len;

    /* a set whose host names are being resolved */
    gw_consul_peer_t                  *set;
    size_t                             nset;
    uint64_t                           set_index;
    ngx_pool_t                        *pool;
    ngx_http_gateway_upstream_peer_t  *out;
    ngx_uint_t                         nout;
    ngx_uint_t                         resolving;

    unsigned                           polling:1;   /* holds the lease */
    unsigned                           asking:1;    /* a query is out */
    unsigned                           updating:1;  /* names resolving */
    unsigned                           stopped:1;
};


extern ngx_module_t  ngx_http_gateway_consul_module;


/* the poller */

/* At configuration time: the link to a Consul server is the poller's. */
void ngx_http_gateway_consul_poller_link(ngx_http_gateway_consul_conf_t *ccf,
    ngx_http_gateway_link_t *link);

/* In each worker: competes for the lease; its holder polls. */
ngx_int_t ngx_http_gateway_consul_poller_start(ngx_cycle_t *cycle,
    ngx_http_gateway_consul_conf_t *ccf);
void ngx_http_gateway_consul_poller_stop(ngx_http_gateway_consul_conf_t *ccf);

/* The update is done (after names were resolved): the next query may go. */
void ngx_http_gateway_consul_poller_resume(ngx_http_gateway_consul_poller_t *p);


/* the update */

/*
 * A good reply's set: published when it changed. NGX_AGAIN while host
 * names are resolved (the poller is resumed then).
 */
ngx_int_t ngx_http_gateway_consul_update(ngx_http_gateway_consul_poller_t *p,
    const gw_consul_result_t *res, uint64_t index);

/* Stops resolving (the worker exits or lost the lease). */
void ngx_http_gateway_consul_update_cancel(
    ngx_http_gateway_consul_poller_t *p);


/* The "consul" section of the status document. */
ngx_int_t ngx_http_gateway_consul_status_add(ngx_conf_t *cf,
    ngx_http_gateway_consul_main_conf_t *cmcf);


/* between the configuration and the core */

/* The query of ccf, sent to host ("HOST:PORT", the Host header). */
void ngx_http_gateway_consul_query(ngx_http_gateway_consul_conf_t *ccf,
    ngx_str_t *host, gw_consul_query_t *q);


/*
 * The upstream peer of an IP peer (its name is the address as nginx
 * prints it), allocated in pool; NGX_DECLINED for a host name.
 */
ngx_int_t ngx_http_gateway_consul_ip_peer(ngx_pool_t *pool,
    const gw_consul_peer_t *peer, ngx_http_gateway_upstream_peer_t *out);


/* the dump file */

/*
 * At configuration time: the set saved in ccf->dump when the file is newer
 * than the configuration file that declares it (*n = 0 otherwise); a file
 * that cannot be used is reported at warn and ignored.
 */
ngx_int_t ngx_http_gateway_consul_dump_load(ngx_conf_t *cf,
    ngx_http_gateway_consul_conf_t *ccf,
    ngx_http_gateway_upstream_peer_t **peers, ngx_uint_t *n);

/*
 * In the polling worker, after a set was published: writes it to
 * ccf->dump (a temporary file renamed into place), in a thread of nginx's
 * default pool when nginx has threads. A set given while a write is under
 * way is written after it.
 */
void ngx_http_gateway_consul_dump_save(ngx_http_gateway_consul_conf_t *ccf,
    const gw_consul_peer_t *peers, size_t n, uint64_t index, ngx_log_t *log);


#endif /* _NGX_HTTP_GATEWAY_CONSUL_H_INCLUDED_ */
