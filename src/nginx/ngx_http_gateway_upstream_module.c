/*
 * ngx_http_gateway_upstream_module: upstream balancing and circuit breaking.
 *
 *   upstream backend {
 *       gateway_balancer round_robin|least_conn;
 *       gateway_circuit_breaker [failures=5] [open=30s] [half_open=1]
 *                               [statuses=500,502,503,504] [max_open=TIME];
 *       server ...;
 *       keepalive 16;
 *   }
 *
 * The balancer chains onto round robin like least_conn does: round robin
 * builds its peers and per-request data (kept for TLS session reuse and for
 * nginx's upstream "zone"), then get/free are ours. Peer state (weights,
 * connections, breakers) lives in a shared zone per upstream, created
 * automatically, and is read and changed under the zone's slab mutex, so
 * every worker picks from one table. Selection and the breaker are in the
 * core (gw_balancer.h); here are the table's upkeep, failure
 * classification, the fail-fast check and the variables.
 *
 * The table's slots are matched to configured peers by address at every
 * (re)load, so breaker state survives a reload; a slot whose peer left the
 * configuration stops being chosen at once and is given to another peer
 * only once no request uses it (its generation then changes, which a
 * worker of an older cycle notices).
 */

#include "ngx_http_gateway.h"
#include "gw_balancer.h"


#define NGX_HTTP_GATEWAY_STATUS_WORDS  10        /* codes 0..639 */

#define ngx_http_gateway_bit_test(map, i)                                   \
    (((map)[(i) / 64] >> ((i) % 64)) & 1)
#define ngx_http_gateway_bit_set(map, i)                                    \
    ((map)[(i) / 64] |= (uint64_t) 1 << ((i) % 64))


/* a configured peer (round robin's view, primaries then backups) */
typedef struct {
    ngx_str_t                          name;
    ngx_uint_t                         weight;
    ngx_uint_t                         max_conns;
    ngx_uint_t                         dup;      /* same address seen before */
    unsigned                           down:1;
    unsigned                           backup:1;

    /* where it sits in the shared table, set when the zone is initialized */
    ngx_uint_t                         slot;
    uint64_t                           slot_generation;

    struct sockaddr                   *sockaddr;
    socklen_t                          socklen;
} ngx_http_gateway_peer_conf_t;


/* the address of a slot, next to the core's table */
typedef struct {
    ngx_sockaddr_t                     sockaddr;
    socklen_t                          socklen;
    uint16_t                           dup;
    uint16_t                           name_len;
    u_char                             name[NGX_SOCKADDR_STRLEN];
} ngx_http_gateway_peer_addr_t;


typedef struct {
    ngx_uint_t                         capacity;
    ngx_uint_t                         nslots;
    uint64_t                           generation;   /* of the peer set */
    int64_t                            warned;       /* last all-open warning */
    gw_peer_t                         *peers;
    ngx_http_gateway_peer_addr_t      *addrs;
} ngx_http_gateway_upstream_shctx_t;


typedef struct {
    ngx_flag_t                         enabled;
    ngx_uint_t                         method;
    ngx_int_t                          breaker_set;
    gw_breaker_conf_t                  breaker;
    uint64_t                           statuses[NGX_HTTP_GATEWAY_STATUS_WORDS];

    ngx_uint_t                         initialized;
    ngx_http_upstream_init_peer_pt     original_init_peer;

    ngx_http_upstream_srv_conf_t      *upstream;
    u_char                            *file;
    ngx_uint_t                         line;

    ngx_array_t                        peers;       /* peer_conf_t */

    ngx_shm_zone_t                    *shm_zone;
    ngx_slab_pool_t                   *shpool;
    ngx_http_gateway_upstream_shctx_t *sh;

    /* per process: slot -> configured peer -> round robin peer */
    void                              *map_data;
    ngx_uint_t                         map_size;
    ngx_int_t                         *map;
    ngx_http_upstream_rr_peer_t      **rr;
} ngx_http_gateway_upstream_srv_conf_t;


typedef struct {
    ngx_array_t                        upstreams;   /* srv_conf_t * */
    ngx_uint_t                         breakers;
    ngx_uint_t                         handlers[8];  /* ctx_index of *_pass */
    ngx_uint_t                         nhandlers;
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
    unsigned                           picked:1;
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
    void                              *attempt;

    unsigned                           set:1;
    unsigned                           reserved:1;
    unsigned                           cleanup:1;
} ngx_http_gateway_upstream_ctx_t;


static ngx_int_t ngx_http_gateway_upstream_init(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_http_gateway_upstream_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_http_gateway_upstream_get_peer(ngx_peer_connection_t *pc,
    void *data);
static void ngx_http_gateway_upstream_free_peer(ngx_peer_connection_t *pc,
    void *data, ngx_uint_t state);
#if (NGX_HTTP_SSL)
static ngx_int_t ngx_http_gateway_upstream_set_session(
    ngx_peer_connection_t *pc, void *data);
static void ngx_http_gateway_upstream_save_session(ngx_peer_connection_t *pc,
    void *data);
#endif
static gw_outcome_t ngx_http_gateway_upstream_classify(
    ngx_http_gateway_upstream_peer_data_t *bp, ngx_peer_connection_t *pc,
    ngx_uint_t state);
static void ngx_http_gateway_upstream_log_transition(ngx_log_t *log,
    ngx_http_gateway_upstream_srv_conf_t *gcf, ngx_str_t *peer,
    gw_transition_t t, int64_t period);
static ngx_int_t ngx_http_gateway_upstream_build_map(
    ngx_http_gateway_upstream_srv_conf_t *gcf,
    ngx_http_upstream_rr_peers_t *peers);
static ngx_int_t ngx_http_gateway_upstream_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_gateway_upstream_reconcile(
    ngx_http_gateway_upstream_srv_conf_t *gcf,
    ngx_http_gateway_peer_conf_t *pc, ngx_uint_t n, ngx_log_t *log);
static ngx_http_gateway_upstream_ctx_t *ngx_http_gateway_upstream_ctx(
    ngx_http_request_t *r);
static void ngx_http_gateway_upstream_release_reserved(void *data);
static ngx_int_t ngx_http_gateway_upstream_check(ngx_http_request_t *r);
static ngx_int_t ngx_http_gateway_upstream_header_filter(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_gateway_upstream_peer_variable(
    ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_gateway_upstream_state_variable(
    ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t data);

static char *ngx_http_gateway_balancer(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_gateway_circuit_breaker(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_gateway_upstream_enable(ngx_conf_t *cf,
    ngx_http_gateway_upstream_srv_conf_t *gcf);
static ngx_int_t ngx_http_gateway_upstream_add_variables(ngx_conf_t *cf);
static void *ngx_http_gateway_upstream_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_gateway_upstream_create_srv_conf(ngx_conf_t *cf);
static ngx_int_t ngx_http_gateway_upstream_postconfiguration(ngx_conf_t *cf);


static ngx_command_t  ngx_http_gateway_upstream_commands[] = {

    { ngx_string("gateway_balancer"),
      NGX_HTTP_UPS_CONF|NGX_CONF_TAKE1,
      ngx_http_gateway_balancer,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gateway_circuit_breaker"),
      NGX_HTTP_UPS_CONF|NGX_CONF_ANY,
      ngx_http_gateway_circuit_breaker,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_gateway_upstream_module_ctx = {
    ngx_http_gateway_upstream_add_variables,     /* preconfiguration */
    ngx_http_gateway_upstream_postconfiguration, /* postconfiguration */

    ngx_http_gateway_upstream_create_main_conf,  /* create main configuration */
    NULL,                                        /* init main configuration */

    ngx_http_gateway_upstream_create_srv_conf,   /* create server configuration */
    NULL,                                        /* merge server configuration */

    NULL,                                        /* create location configuration */
    NULL                                         /* merge location configuration */
};


ngx_module_t  ngx_http_gateway_upstream_module = {
    NGX_MODULE_V1,
    &ngx_http_gateway_upstream_module_ctx,       /* module context */
    ngx_http_gateway_upstream_commands,          /* module directives */
    NGX_HTTP_MODULE,                             /* module type */
    NULL,                                        /* init master */
    NULL,                                        /* init module */
    NULL,                                        /* init process */
    NULL,                                        /* init thread */
    NULL,                                        /* exit thread */
    NULL,                                        /* exit process */
    NULL,                                        /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_variable_t  ngx_http_gateway_upstream_vars[] = {

    { ngx_string("gateway_upstream_peer"), NULL,
      ngx_http_gateway_upstream_peer_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("gateway_circuit_state"), NULL,
      ngx_http_gateway_upstream_state_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;


/* modules whose location conf starts with ngx_http_upstream_conf_t */
static const char  *ngx_http_gateway_pass_modules[] = {
    "ngx_http_proxy_module",
    "ngx_http_grpc_module",
    "ngx_http_fastcgi_module",
    "ngx_http_uwsgi_module",
    "ngx_http_scgi_module",
    "ngx_http_memcached_module",
    NULL
};


static ngx_uint_t  ngx_http_gateway_default_statuses[] = {
    500, 502, 503, 504, 0
};


/* configuration */

static char *
ngx_http_gateway_balancer(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gateway_upstream_srv_conf_t  *gcf = conf;

    ngx_str_t  *value;

    if (gcf->method != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "round_robin") == 0) {
        gcf->method = GW_BALANCE_ROUND_ROBIN;

    } else if (ngx_strcmp(value[1].data, "least_conn") == 0) {
        gcf->method = GW_BALANCE_LEAST_CONN;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid balancing method \"%V\", "
                           "it must be \"round_robin\" or \"least_conn\"",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    return ngx_http_gateway_upstream_enable(cf, gcf);
}


static ngx_int_t
ngx_http_gateway_parse_statuses(ngx_conf_t *cf, ngx_str_t *list,
    uint64_t *map)
{
    u_char     *p, *last, *comma;
    ngx_int_t   code;
    ngx_str_t   s;

    ngx_memzero(map, sizeof(uint64_t) * NGX_HTTP_GATEWAY_STATUS_WORDS);

    p = list->data;
    last = list->data + list->len;

    for ( ;; ) {
        comma = ngx_strlchr(p, last, ',');

        s.data = p;
        s.len = (comma ? comma : last) - p;

        code = (s.len == 3) ? ngx_atoi(s.data, s.len) : NGX_ERROR;

        if (code < 400 || code > 599) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid status \"%V\" in \"statuses=%V\", "
                               "it must be a code from 400 to 599", &s, list);
            return NGX_ERROR;
        }

        if (code == NGX_HTTP_NOT_FOUND || code == 499) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "status %i in \"statuses=%V\" is never "
                               "a peer failure", code, list);
            return NGX_ERROR;
        }

        ngx_http_gateway_bit_set(map, (ngx_uint_t) code);

        if (comma == NULL) {
            return NGX_OK;
        }

        p = comma + 1;
    }
}


static char *
ngx_http_gateway_circuit_breaker(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_gateway_upstream_srv_conf_t  *gcf = conf;

    ngx_int_t    n;
    ngx_msec_t   ms;
    ngx_str_t   *value, s;
    ngx_uint_t   i;
    ngx_int_t    max_open;

    ngx_http_gateway_upstream_main_conf_t  *gmcf;

    if (gcf->breaker_set) {
        return "is duplicate";
    }

    gcf->breaker_set = 1;

    gcf->breaker.failures = 5;
    gcf->breaker.half_open = 1;
    gcf->breaker.open_ms = 30000;
    max_open = -1;

    for (i = 0; ngx_http_gateway_default_statuses[i]; i++) {
        ngx_http_gateway_bit_set(gcf->statuses,
                                 ngx_http_gateway_default_statuses[i]);
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "failures=", 9) == 0) {
            n = ngx_atoi(value[i].data + 9, value[i].len - 9);
            if (n == NGX_ERROR || n == 0 || n > 1000000) {
                goto invalid;
            }

            gcf->breaker.failures = (uint32_t) n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "half_open=", 10) == 0) {
            n = ngx_atoi(value[i].data + 10, value[i].len - 10);
            if (n == NGX_ERROR || n == 0 || n > 1000000) {
                goto invalid;
            }

            gcf->breaker.half_open = (uint32_t) n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "open=", 5) == 0
            || ngx_strncmp(value[i].data, "max_open=", 9) == 0)
        {
            s.data = (u_char *) ngx_strchr(value[i].data, '=') + 1;
            s.len = value[i].data + value[i].len - s.data;

            ms = ngx_parse_time(&s, 0);
            if (ms == (ngx_msec_t) NGX_ERROR || ms == 0) {
                goto invalid;
            }

            if (value[i].data[0] == 'o') {
                gcf->breaker.open_ms = (int64_t) ms;

            } else {
                max_open = (ngx_int_t) ms;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "statuses=", 9) == 0) {
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;

            if (ngx_http_gateway_parse_statuses(cf, &s, gcf->statuses)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (max_open == -1) {
        /* Envoy's defaults: 30s base ejection, 300s max ejection */
        gcf->breaker.max_open_ms = gcf->breaker.open_ms * 10;

    } else if (max_open < gcf->breaker.open_ms) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"max_open\" must not be shorter than \"open\"");
        return NGX_CONF_ERROR;

    } else {
        gcf->breaker.max_open_ms = max_open;
    }

    gmcf = ngx_http_conf_get_module_main_conf(cf,
                                             ngx_http_gateway_upstream_module);
    gmcf->breakers = 1;

    return ngx_http_gateway_upstream_enable(cf, gcf);

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}


static char *
ngx_http_gateway_upstream_enable(ngx_conf_t *cf,
    ngx_http_gateway_upstream_srv_conf_t *gcf)
{
    ngx_uint_t                               i;
    ngx_http_upstream_server_t              *server;
    ngx_http_upstream_srv_conf_t            *uscf;
    ngx_http_gateway_upstream_srv_conf_t   **gcfp;
    ngx_http_gateway_upstream_main_conf_t   *gmcf;

    if (gcf->enabled) {
        return NGX_CONF_OK;
    }

    gmcf = ngx_http_conf_get_module_main_conf(cf,
                                             ngx_http_gateway_upstream_module);
    uscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_upstream_module);

    if (uscf->peer.init_upstream) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must come before \"keepalive\" and "
                           "cannot be combined with another balancing "
                           "method", &((ngx_str_t *) cf->args->elts)[0]);
        return NGX_CONF_ERROR;
    }

    /* server lines read so far cannot have been checked by the flags below */

    if (uscf->servers) {
        server = uscf->servers->elts;

        for (i = 0; i < uscf->servers->nelts; i++) {
            if (server[i].max_fails != 1 || server[i].fail_timeout != 10) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"max_fails\" and \"fail_timeout\" of "
                                   "server \"%V\" are not supported with "
                                   "the gateway balancer, use "
                                   "\"gateway_circuit_breaker\"",
                                   &server[i].name);
                return NGX_CONF_ERROR;
            }
        }
    }

    uscf->peer.init_upstream = ngx_http_gateway_upstream_init;

    uscf->flags = NGX_HTTP_UPSTREAM_CREATE
                  |NGX_HTTP_UPSTREAM_WEIGHT
                  |NGX_HTTP_UPSTREAM_MAX_CONNS
                  |NGX_HTTP_UPSTREAM_DOWN
                  |NGX_HTTP_UPSTREAM_BACKUP;

    gcf->enabled = 1;
    gcf->upstream = uscf;
    gcf->file = cf->conf_file->file.name.data;
    gcf->line = cf->conf_file->line;

    gcfp = ngx_array_push(&gmcf->upstreams);
    if (gcfp == NULL) {
        return NGX_CONF_ERROR;
    }

    *gcfp = gcf;

    return NGX_CONF_OK;
}


/* zone sizes are stable across small changes so reloads reuse the zone */
static size_t
ngx_http_gateway_upstream_zone_size(ngx_uint_t capacity)
{
    size_t  need, size;

    need = 8 * ngx_pagesize
           + 2 * capacity * (sizeof(gw_peer_t)
                             + sizeof(ngx_http_gateway_peer_addr_t));

    for (size = 128 * 1024; size < need; size *= 2) { /* void */ }

    return size;
}


static ngx_uint_t
ngx_http_gateway_upstream_capacity(ngx_uint_t n)
{
    ngx_uint_t  cap;

    for (cap = 16; cap < 2 * n; cap *= 2) { /* void */ }

    return cap;
}


static ngx_int_t
ngx_http_gateway_upstream_add_peers(ngx_http_gateway_upstream_srv_conf_t *gcf,
    ngx_http_upstream_rr_peers_t *peers, ngx_uint_t backup)
{
    ngx_uint_t                     i;
    ngx_http_upstream_rr_peer_t   *peer;
    ngx_http_gateway_peer_conf_t  *pc, *prev;

    if (peers == NULL) {
        return NGX_OK;
    }

    for (peer = peers->peer; peer; peer = peer->next) {
        pc = ngx_array_push(&gcf->peers);
        if (pc == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(pc, sizeof(ngx_http_gateway_peer_conf_t));

        pc->name = peer->name;
        pc->sockaddr = peer->sockaddr;
        pc->socklen = peer->socklen;
        pc->weight = peer->weight;
        pc->max_conns = peer->max_conns;
        pc->down = peer->down ? 1 : 0;
        pc->backup = backup;

        /* the same address twice is two peers: tell them apart */

        prev = gcf->peers.elts;

        for (i = 0; i + 1 < gcf->peers.nelts; i++) {
            if (prev[i].backup == backup
                && prev[i].name.len == pc->name.len
                && ngx_strncmp(prev[i].name.data, pc->name.data,
                               pc->name.len) == 0)
            {
                pc->dup++;
            }
        }

        if (pc->name.len > NGX_SOCKADDR_STRLEN
            || pc->socklen > (socklen_t) sizeof(ngx_sockaddr_t))
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_gateway_upstream_init(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us)
{
    u_char                                *p;
    ngx_str_t                              name;
    ngx_uint_t                             cap;
    ngx_http_upstream_rr_peers_t          *peers;
    ngx_http_gateway_upstream_srv_conf_t  *gcf;

    gcf = ngx_http_conf_upstream_srv_conf(us,
                                          ngx_http_gateway_upstream_module);

    if (ngx_http_upstream_init_round_robin(cf, us) != NGX_OK) {
        return NGX_ERROR;
    }

    gcf->original_init_peer = us->peer.init;
    us->peer.init = ngx_http_gateway_upstream_init_peer;

    if (gcf->method == NGX_CONF_UNSET_UINT) {
        gcf->method = GW_BALANCE_ROUND_ROBIN;
    }

    if (!gcf->breaker_set) {
        gcf->breaker.failures = 0;
        gcf->breaker.half_open = 1;
        gcf->breaker.open_ms = 30000;
        gcf->breaker.max_open_ms = 300000;
    }

    peers = us->peer.data;

    if (ngx_array_init(&gcf->peers, cf->pool, 8,
                       sizeof(ngx_http_gateway_peer_conf_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_gateway_upstream_add_peers(gcf, peers, 0) != NGX_OK
        || ngx_http_gateway_upstream_add_peers(gcf, peers->next, 1) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "cannot set up the gateway balancer of upstream "
                      "\"%V\" in %s:%ui", &us->host, us->file_name, us->line);
        return NGX_ERROR;
    }

    cap = ngx_http_gateway_upstream_capacity(gcf->peers.nelts);

    name.len = sizeof("gateway_upstream:") - 1 + us->host.len;
    name.data = ngx_pnalloc(cf->pool, name.len);
    if (name.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(name.data, "gateway_upstream:",
                   sizeof("gateway_upstream:") - 1);
    ngx_memcpy(p, us->host.data, us->host.len);

    gcf->shm_zone = ngx_shared_memory_add(cf, &name,
                                   ngx_http_gateway_upstream_zone_size(cap),
                                   &ngx_http_gateway_upstream_module);
    if (gcf->shm_zone == NULL) {
        return NGX_ERROR;
    }

    gcf->shm_zone->init = ngx_http_gateway_upstream_init_zone;
    gcf->shm_zone->data = gcf;

    gcf->initialized = 1;

    return NGX_OK;
}


/* shared zone */

static ngx_int_t
ngx_http_gateway_upstream_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_gateway_upstream_srv_conf_t  *ogcf = data;

    size_t                                  len;
    ngx_int_t                               rc;
    ngx_uint_t                              cap;
    ngx_slab_pool_t                        *shpool;
    ngx_http_gateway_upstream_shctx_t      *sh;
    ngx_http_gateway_upstream_srv_conf_t   *gcf;

    gcf = shm_zone->data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (ogcf) {
        /* a reload: the table and its breakers carry over */
        gcf->shpool = ogcf->shpool;
        gcf->sh = ogcf->sh;

    } else if (shm_zone->shm.exists) {
        gcf->shpool = shpool;
        gcf->sh = shpool->data;

    } else {
        gcf->shpool = shpool;

        sh = ngx_slab_alloc(shpool, sizeof(ngx_http_gateway_upstream_shctx_t));
        if (sh == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(sh, sizeof(ngx_http_gateway_upstream_shctx_t));

        cap = ngx_http_gateway_upstream_capacity(gcf->peers.nelts);

        sh->peers = ngx_slab_calloc(shpool, cap * sizeof(gw_peer_t));
        sh->addrs = ngx_slab_calloc(shpool,
                               cap * sizeof(ngx_http_gateway_peer_addr_t));
        if (sh->peers == NULL || sh->addrs == NULL) {
            return NGX_ERROR;
        }

        sh->capacity = cap;
        sh->warned = -1000000000;

        shpool->data = sh;
        gcf->sh = sh;

        len = sizeof(" in gateway upstream zone \"\"") + shm_zone->shm.name.len;

        shpool->log_ctx = ngx_slab_alloc(shpool, len);
        if (shpool->log_ctx == NULL) {
            return NGX_ERROR;
        }

        ngx_sprintf(shpool->log_ctx, " in gateway upstream zone \"%V\"%Z",
                    &shm_zone->shm.name);
    }

    /* workers of the previous cycle may be using the table right now */

    ngx_shmtx_lock(&gcf->shpool->mutex);
    rc = ngx_http_gateway_upstream_reconcile(gcf, gcf->peers.elts,
                                             gcf->peers.nelts,
                                             shm_zone->shm.log);
    ngx_shmtx_unlock(&gcf->shpool->mutex);

    return rc;
}


static ngx_int_t
ngx_http_gateway_upstream_grow(ngx_http_gateway_upstream_srv_conf_t *gcf,
    ngx_uint_t need)
{
    ngx_uint_t                          cap;
    gw_peer_t                          *peers;
    ngx_http_gateway_peer_addr_t       *addrs;
    ngx_http_gateway_upstream_shctx_t  *sh;

    sh = gcf->sh;

    for (cap = sh->capacity; cap < need; cap *= 2) { /* void */ }

    peers = ngx_slab_calloc_locked(gcf->shpool, cap * sizeof(gw_peer_t));
    addrs = ngx_slab_calloc_locked(gcf->shpool,
                               cap * sizeof(ngx_http_gateway_peer_addr_t));

    if (peers == NULL || addrs == NULL) {
        if (peers) {
            ngx_slab_free_locked(gcf->shpool, peers);
        }

        if (addrs) {
            ngx_slab_free_locked(gcf->shpool, addrs);
        }

        return NGX_ERROR;
    }

    /* indexes are kept: requests in flight release by index */

    ngx_memcpy(peers, sh->peers, sh->nslots * sizeof(gw_peer_t));
    ngx_memcpy(addrs, sh->addrs,
               sh->nslots * sizeof(ngx_http_gateway_peer_addr_t));

    ngx_slab_free_locked(gcf->shpool, sh->peers);
    ngx_slab_free_locked(gcf->shpool, sh->addrs);

    sh->peers = peers;
    sh->addrs = addrs;
    sh->capacity = cap;

    return NGX_OK;
}


static ngx_uint_t
ngx_http_gateway_upstream_same(ngx_http_gateway_peer_addr_t *a,
    gw_peer_t *p, ngx_http_gateway_peer_conf_t *pc)
{
    return (p->flags & GW_PEER_LIVE)
           && ((p->flags & GW_PEER_BACKUP) != 0) == pc->backup
           && a->dup == pc->dup
           && a->name_len == pc->name.len
           && ngx_memcmp(a->name, pc->name.data, pc->name.len) == 0;
}


/*
 * Makes the table hold exactly the peers pc[0..n), keeping the state of
 * those already there and writing each one's slot and slot generation back.
 * Called under the zone's mutex: at (re)load with the configured peers, and
 * meant for a peer set that changes at run time (service discovery).
 */

static ngx_int_t
ngx_http_gateway_upstream_reconcile(ngx_http_gateway_upstream_srv_conf_t *gcf,
    ngx_http_gateway_peer_conf_t *pc, ngx_uint_t n, ngx_log_t *log)
{
    u_char                             *claimed;
    int64_t                             now;
    uint32_t                            flags;
    ngx_uint_t                          i, s, changed;
    gw_peer_t                          *p;
    ngx_http_gateway_peer_addr_t       *a;
    ngx_http_gateway_upstream_shctx_t  *sh;

    sh = gcf->sh;
    now = (int64_t) ngx_current_msec;
    changed = 0;

    claimed = ngx_calloc(sh->nslots + n, log);
    if (claimed == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {

        flags = GW_PEER_LIVE
                | (pc[i].down ? GW_PEER_DOWN : 0)
                | (pc[i].backup ? GW_PEER_BACKUP : 0);

        for (s = 0; s < sh->nslots; s++) {
            if (!claimed[s]
                && ngx_http_gateway_upstream_same(&sh->addrs[s],
                                                  &sh->peers[s], &pc[i]))
            {
                break;
            }
        }

        if (s < sh->nslots) {
            /* a known peer: keep its breaker, take the new parameters */
            p = &sh->peers[s];
            p->weight = (uint32_t) pc[i].weight;
            p->max_conns = (uint32_t) pc[i].max_conns;
            p->flags = flags;

        } else {
            /* a drained slot of a former peer, or a new one */

            for (s = 0; s < sh->nslots; s++) {
                if (!claimed[s]
                    && !(sh->peers[s].flags & GW_PEER_LIVE)
                    && sh->peers[s].conns == 0)
                {
                    break;
                }
            }

            if (s == sh->nslots) {
                if (sh->nslots == sh->capacity
                    && ngx_http_gateway_upstream_grow(gcf, sh->nslots + 1)
                       != NGX_OK)
                {
                    ngx_log_error(NGX_LOG_EMERG, log, 0,
                                  "no room for peer %V in gateway upstream "
                                  "zone of \"%V\"", &pc[i].name,
                                  &gcf->upstream->host);
                    ngx_free(claimed);
                    return NGX_ERROR;
                }

                sh->nslots++;
            }

            p = &sh->peers[s];
            gw_peer_init(p, (uint32_t) pc[i].weight,
                         (uint32_t) pc[i].max_conns, flags, now);

            a = &sh->addrs[s];
            ngx_memzero(a, sizeof(ngx_http_gateway_peer_addr_t));
            ngx_memcpy(&a->sockaddr, pc[i].sockaddr, pc[i].socklen);
            a->socklen = pc[i].socklen;
            a->dup = (uint16_t) pc[i].dup;
            a->name_len = (uint16_t) pc[i].name.len;
            ngx_memcpy(a->name, pc[i].name.data, pc[i].name.len);

            changed = 1;
        }

        claimed[s] = 1;
        pc[i].slot = s;
        pc[i].slot_generation = p->slot_generation;
    }

    /* peers gone from the configuration stop being chosen */

    for (s = 0; s < sh->nslots; s++) {
        if (!claimed[s] && (sh->peers[s].flags & GW_PEER_LIVE)) {
            sh->peers[s].flags &= ~GW_PEER_LIVE;
            changed = 1;
        }
    }

    if (changed) {
        sh->generation++;
    }

    ngx_free(claimed);

    return NGX_OK;
}


/* per process: slot -> configured peer -> round robin's peer */

static ngx_int_t
ngx_http_gateway_upstream_build_map(ngx_http_gateway_upstream_srv_conf_t *gcf,
    ngx_http_upstream_rr_peers_t *peers)
{
    ngx_uint_t                     i, n, size;
    ngx_http_upstream_rr_peer_t   *peer, **rr;
    ngx_http_upstream_rr_peers_t  *list;
    ngx_http_gateway_peer_conf_t  *pc;
    ngx_int_t                     *map;

    pc = gcf->peers.elts;
    n = gcf->peers.nelts;

    size = 0;

    for (i = 0; i < n; i++) {
        if (pc[i].slot + 1 > size) {
            size = pc[i].slot + 1;
        }
    }

    map = ngx_palloc(ngx_cycle->pool, size * sizeof(ngx_int_t));
    rr = ngx_pcalloc(ngx_cycle->pool, n * sizeof(ngx_http_upstream_rr_peer_t *));
    if (map == NULL || rr == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < size; i++) {
        map[i] = -1;
    }

    /* round robin lists primaries, then backups, as the configuration does */

    i = 0;

    for (list = peers; list; list = list->next) {
        for (peer = list->peer; peer && i < n; peer = peer->next) {
            rr[i++] = peer;
        }
    }

    if (i == n) {
        for (i = 0; i < n; i++) {
            map[pc[i].slot] = (ngx_int_t) i;
        }
    }

    gcf->map = map;
    gcf->rr = rr;
    gcf->map_size = size;
    gcf->map_data = peers;

    return NGX_OK;
}


/* per request */

static ngx_int_t
ngx_http_gateway_upstream_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us)
{
    size_t                                  words;
    ngx_http_upstream_t                    *u;
    ngx_http_gateway_upstream_srv_conf_t   *gcf;
    ngx_http_gateway_upstream_peer_data_t  *bp;

    gcf = ngx_http_conf_upstream_srv_conf(us,
                                          ngx_http_gateway_upstream_module);

    if (gcf->original_init_peer(r, us) != NGX_OK) {
        return NGX_ERROR;
    }

    u = r->upstream;

    bp = ngx_pcalloc(r->pool, sizeof(ngx_http_gateway_upstream_peer_data_t));
    if (bp == NULL) {
        return NGX_ERROR;
    }

    bp->rrp = u->peer.data;
    bp->conf = gcf;
    bp->request = r;

    if (gcf->map_data != bp->rrp->peers
        && ngx_http_gateway_upstream_build_map(gcf, bp->rrp->peers) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the table may grow while this request runs: unset bits are untried */

    words = (gcf->sh->capacity + 63) / 64;

    bp->tried = ngx_pcalloc(r->pool, words * sizeof(uint64_t));
    if (bp->tried == NULL) {
        return NGX_ERROR;
    }

    bp->tried_words = words;

    u->peer.data = bp;
    u->peer.get = ngx_http_gateway_upstream_get_peer;
    u->peer.free = ngx_http_gateway_upstream_free_peer;

#if (NGX_HTTP_SSL)
    bp->original_set_session = u->peer.set_session;
    bp->original_save_session = u->peer.save_session;
    u->peer.set_session = ngx_http_gateway_upstream_set_session;
    u->peer.save_session = ngx_http_gateway_upstream_save_session;
#endif

    return NGX_OK;
}


static ngx_int_t
ngx_http_gateway_upstream_get_peer(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_gateway_upstream_peer_data_t  *bp = data;

    u_char                                 *p;
    int64_t                                 now;
    ngx_int_t                               j;
    ngx_str_t                              *name;
    ngx_uint_t                              locked, reserved;
    gw_pick_t                               pick;
    gw_pick_rc_t                            rc;
    gw_transition_t                         tr;
    ngx_http_gateway_peer_addr_t           *a;
    ngx_http_gateway_peer_conf_t           *pcf;
    ngx_http_upstream_rr_peer_t            *rr;
    ngx_http_gateway_upstream_ctx_t        *ctx;
    ngx_http_gateway_upstream_shctx_t      *sh;
    ngx_http_gateway_upstream_srv_conf_t   *gcf;

    pc->cached = 0;
    pc->connection = NULL;

    gcf = bp->conf;
    sh = gcf->sh;
    now = (int64_t) ngx_current_msec;
    rr = NULL;
    name = NULL;
    p = NULL;
    tr = GW_TRANSITION_NONE;
    rc = GW_PICK_OK;
    reserved = 0;
    locked = 0;

    /* the first try takes the peer the fail-fast check reserved */

    if (!bp->started && gcf->breaker.failures) {
        ctx = ngx_http_gateway_upstream_ctx(bp->request);

        if (ctx && ctx->reserved && ctx->reserved_conf == gcf) {
            pick = ctx->reserved_pick;
            ctx->reserved = 0;
            reserved = 1;
        }
    }

    bp->started = 1;

    if (!reserved) {
        ngx_shmtx_lock(&gcf->shpool->mutex);
        locked = 1;

        rc = gw_balancer_pick(sh->peers, sh->nslots,
                              (gw_balance_method_t) gcf->method,
                              &gcf->breaker, bp->tried, bp->tried_words, now,
                              &pick, &tr);
    }

    if (rc == GW_PICK_OK) {
        j = (pick.index < gcf->map_size) ? gcf->map[pick.index] : -1;
        pcf = gcf->peers.elts;

        if (j >= 0 && pcf[j].slot_generation == pick.slot_generation) {
            rr = gcf->rr[j];

        } else {
            /* a peer this worker's configuration does not know */

            if (!locked) {
                ngx_shmtx_lock(&gcf->shpool->mutex);
                locked = 1;
            }

            a = &sh->addrs[pick.index];

            p = ngx_pnalloc(bp->request->pool,
                            sizeof(ngx_str_t) + a->socklen + a->name_len);

            if (p != NULL) {
                name = (ngx_str_t *) p;
                name->len = a->name_len;
                name->data = p + sizeof(ngx_str_t) + a->socklen;
                ngx_memcpy(p + sizeof(ngx_str_t), &a->sockaddr, a->socklen);
                ngx_memcpy(name->data, a->name, a->name_len);
                pc->socklen = a->socklen;

            } else {
                (void) gw_balancer_release(sh->peers, sh->nslots,
                                           &gcf->breaker, &pick,
                                           GW_OUTCOME_NEUTRAL, now);
            }
        }
    }

    if (locked) {
        ngx_shmtx_unlock(&gcf->shpool->mutex);
    }

    if (rc != GW_PICK_OK) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                       "gateway balancer: no peer can be chosen");

        pc->name = bp->rrp->peers->name;
        return NGX_BUSY;
    }

    if (rr == NULL && name == NULL) {
        return NGX_ERROR;
    }

    if (rr) {
        pc->sockaddr = rr->sockaddr;
        pc->socklen = rr->socklen;
        pc->name = &rr->name;

    } else {
        pc->sockaddr = (struct sockaddr *) (p + sizeof(ngx_str_t));
        pc->name = name;
    }

    bp->rrp->current = rr;
    bp->pick = pick;
    bp->name = pc->name;
    bp->picked = 1;
    bp->reported = 0;

    if (pick.index / 64 < bp->tried_words) {
        ngx_http_gateway_bit_set(bp->tried, pick.index);
    }

    if (tr != GW_TRANSITION_NONE) {
        ngx_http_gateway_upstream_log_transition(pc->log, gcf, pc->name, tr,
                                                 0);
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                   "gateway balancer: peer %V, slot %uD, circuit %s%s",
                   pc->name, pick.index, gw_circuit_state_name(pick.state),
                   reserved ? ", reserved" : "");

    ctx = ngx_http_gateway_upstream_ctx(bp->request);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ctx->peer = *pc->name;
    ctx->state = pick.state;
    ctx->set = 1;
    ctx->attempt = bp;

    return NGX_OK;
}


static gw_outcome_t
ngx_http_gateway_upstream_classify(ngx_http_gateway_upstream_peer_data_t *bp,
    ngx_peer_connection_t *pc, ngx_uint_t state)
{
    ngx_uint_t            status, timedout;
    ngx_connection_t     *c;
    ngx_http_upstream_t  *u;

    u = bp->request->upstream;
    c = pc->connection;

    timedout = c && (c->read->timedout || c->write->timedout);

    /*
     * nginx reports NGX_PEER_FAILED only when it may try another peer, so
     * the status is read here: a listed status on the last try counts too
     */

    status = u ? u->headers_in.status_n : 0;

    if (status) {
        if (status < 64 * NGX_HTTP_GATEWAY_STATUS_WORDS
            && ngx_http_gateway_bit_test(bp->conf->statuses, status))
        {
            return GW_OUTCOME_FAILURE;
        }

        /* the peer answered, then stalled or broke in the body */

        if (timedout || (c && c->read->error)) {
            return GW_OUTCOME_FAILURE;
        }

        return GW_OUTCOME_SUCCESS;
    }

    if (state & NGX_PEER_FAILED) {

        /* a kept-alive connection the peer had closed says nothing */

        if (pc->cached && !timedout) {
            return GW_OUTCOME_NEUTRAL;
        }

        return GW_OUTCOME_FAILURE;
    }

    /* the client went away (499) or the request failed here */

    return GW_OUTCOME_NEUTRAL;
}


static void
ngx_http_gateway_upstream_free_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state)
{
    ngx_http_gateway_upstream_peer_data_t  *bp = data;

    int64_t                                 now, period;
    gw_outcome_t                            outcome;
    gw_transition_t                         tr;
    ngx_http_gateway_upstream_ctx_t        *ctx;
    ngx_http_gateway_upstream_shctx_t      *sh;
    ngx_http_gateway_upstream_srv_conf_t   *gcf;

    if (pc->tries) {
        pc->tries--;
    }

    if (!bp->picked) {
        return;
    }

    bp->picked = 0;

    gcf = bp->conf;
    sh = gcf->sh;
    now = (int64_t) ngx_current_msec;
    period = 0;

    ctx = ngx_http_gateway_upstream_ctx(bp->request);
    if (ctx && ctx->attempt == bp) {
        ctx->attempt = NULL;
    }

    /* a trial already decided by its response header only ends here */

    outcome = bp->reported ? GW_OUTCOME_NEUTRAL
                           : ngx_http_gateway_upstream_classify(bp, pc, state);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                   "gateway balancer: free peer %V, state %ui, outcome %d",
                   pc->name, state, (int) outcome);

    ngx_shmtx_lock(&gcf->shpool->mutex);

    tr = gw_balancer_release(sh->peers, sh->nslots, &gcf->breaker, &bp->pick,
                             outcome, now);

    if (tr == GW_TRANSITION_OPENED || tr == GW_TRANSITION_REOPENED) {
        period = sh->peers[bp->pick.index].breaker.open_until - now;
    }

    ngx_shmtx_unlock(&gcf->shpool->mutex);

    if (tr != GW_TRANSITION_NONE) {
        ngx_http_gateway_upstream_log_transition(pc->log, gcf, pc->name, tr,
                                                 period);
    }
}


static void
ngx_http_gateway_upstream_log_transition(ngx_log_t *log,
    ngx_http_gateway_upstream_srv_conf_t *gcf, ngx_str_t *peer,
    gw_transition_t t, int64_t period)
{
    ngx_str_t  *host;

    host = &gcf->upstream->host;

    switch (t) {

    case GW_TRANSITION_OPENED:
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "gateway circuit of peer %V in upstream \"%V\" opened "
                      "after %uD failures, for %L ms",
                      peer, host, gcf->breaker.failures, period);
        break;

    case GW_TRANSITION_REOPENED:
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "gateway circuit of peer %V in upstream \"%V\" reopened "
                      "after a failed trial, for %L ms", peer, host, period);
        break;

    case GW_TRANSITION_HALF_OPENED:
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "gateway circuit of peer %V in upstream \"%V\" is "
                      "half-open", peer, host);
        break;

    case GW_TRANSITION_CLOSED:
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "gateway circuit of peer %V in upstream \"%V\" closed "
                      "after a successful trial", peer, host);
        break;

    default:
        break;
    }
}


#if (NGX_HTTP_SSL)

static ngx_int_t
ngx_http_gateway_upstream_set_session(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_gateway_upstream_peer_data_t  *bp = data;

    if (bp->rrp->current == NULL) {
        return NGX_OK;
    }

    return bp->original_set_session(pc, bp->rrp);
}


static void
ngx_http_gateway_upstream_save_session(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_gateway_upstream_peer_data_t  *bp = data;

    if (bp->rrp->current == NULL) {
        return;
    }

    bp->original_save_session(pc, bp->rrp);
}

#endif


/*
 * Every peer open: 503 before anything is read or connected. Otherwise the
 * peer for the first try is chosen here, under the same lock, so a request
 * that passed the check cannot find every peer taken a moment later.
 */

static ngx_int_t
ngx_http_gateway_upstream_check(ngx_http_request_t *r)
{
    int64_t                                 now;
    ngx_int_t                               available, warn;
    ngx_uint_t                              i;
    gw_pick_t                               pick;
    gw_pick_rc_t                            rc;
    ngx_str_t                               name;
    gw_transition_t                         tr;
    ngx_pool_cleanup_t                     *cln;
    ngx_http_upstream_conf_t               *ucf;
    ngx_http_upstream_srv_conf_t           *uscf;
    ngx_http_gateway_upstream_ctx_t        *ctx;
    ngx_http_gateway_upstream_shctx_t      *sh;
    ngx_http_gateway_upstream_srv_conf_t   *gcf;
    ngx_http_gateway_upstream_main_conf_t  *gmcf;
    u_char                                  buf[NGX_SOCKADDR_STRLEN];

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gateway_upstream_module);

    gcf = NULL;
    uscf = NULL;

    for (i = 0; i < gmcf->nhandlers; i++) {

        ucf = r->loc_conf[gmcf->handlers[i]];

        if (ucf == NULL || ucf->upstream == NULL
            || ucf->upstream->srv_conf == NULL)
        {
            continue;
        }

        uscf = ucf->upstream;
        gcf = ngx_http_conf_upstream_srv_conf(uscf,
                                            ngx_http_gateway_upstream_module);

        if (gcf && gcf->initialized && gcf->breaker.failures && gcf->sh) {
            break;
        }

        gcf = NULL;
    }

    if (gcf == NULL) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_gateway_upstream_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->reserved) {
        if (ctx->reserved_conf == gcf) {
            return NGX_DECLINED;
        }

        /* an internal redirect to a location with another upstream */
        ngx_http_gateway_upstream_release_reserved(ctx);
    }

    if (!ctx->cleanup) {
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        cln->handler = ngx_http_gateway_upstream_release_reserved;
        cln->data = ctx;
        ctx->cleanup = 1;
    }

    sh = gcf->sh;
    now = (int64_t) ngx_current_msec;
    warn = 0;
    available = 1;
    name.data = buf;
    name.len = 0;

    ngx_shmtx_lock(&gcf->shpool->mutex);

    rc = gw_balancer_pick(sh->peers, sh->nslots,
                          (gw_balance_method_t) gcf->method, &gcf->breaker,
                          NULL, 0, now, &pick, &tr);

    if (rc == GW_PICK_OK && tr != GW_TRANSITION_NONE) {
        name.len = sh->addrs[pick.index].name_len;
        ngx_memcpy(buf, sh->addrs[pick.index].name, name.len);
    }

    if (rc != GW_PICK_OK) {
        /* nothing free: every peer open, or only max_conns reached */

        available = gw_balancer_available(sh->peers, sh->nslots,
                                          &gcf->breaker, now);

        if (!available && now - sh->warned >= gcf->breaker.open_ms) {
            sh->warned = now;
            warn = 1;
        }
    }

    ngx_shmtx_unlock(&gcf->shpool->mutex);

    if (rc == GW_PICK_OK) {
        ctx->reserved = 1;
        ctx->reserved_conf = gcf;
        ctx->reserved_pick = pick;

        if (tr != GW_TRANSITION_NONE) {
            ngx_http_gateway_upstream_log_transition(r->connection->log, gcf,
                                                     &name, tr, 0);
        }

        return NGX_DECLINED;
    }

    if (available) {
        /* nginx answers 502 "no live upstreams" as it would without us */
        return NGX_DECLINED;
    }

    if (warn) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "every peer of upstream \"%V\" has an open "
                      "gateway circuit, answering 503", &uscf->host);
    }

    ctx->set = 1;
    ctx->state = GW_CIRCUIT_OPEN;
    ngx_str_null(&ctx->peer);

    return NGX_HTTP_SERVICE_UNAVAILABLE;
}


static void
ngx_http_gateway_upstream_release_reserved(void *data)
{
    ngx_http_gateway_upstream_ctx_t  *ctx = data;

    ngx_http_gateway_upstream_shctx_t     *sh;
    ngx_http_gateway_upstream_srv_conf_t  *gcf;

    if (!ctx->reserved) {
        return;
    }

    ctx->reserved = 0;
    gcf = ctx->reserved_conf;
    sh = gcf->sh;

    ngx_shmtx_lock(&gcf->shpool->mutex);
    (void) gw_balancer_release(sh->peers, sh->nslots, &gcf->breaker,
                               &ctx->reserved_pick, GW_OUTCOME_NEUTRAL,
                               (int64_t) ngx_current_msec);
    ngx_shmtx_unlock(&gcf->shpool->mutex);
}


/*
 * A half-open trial is decided by its response header: a peer that answers
 * a long stream (or switches protocols) must not keep its circuit half-open
 * and every other request away until the stream ends.
 */

static ngx_int_t
ngx_http_gateway_upstream_header_filter(ngx_http_request_t *r)
{
    int64_t                                 now, period;
    ngx_uint_t                              status;
    gw_outcome_t                            outcome;
    gw_transition_t                         tr;
    ngx_http_gateway_upstream_ctx_t        *ctx;
    ngx_http_gateway_upstream_shctx_t      *sh;
    ngx_http_gateway_upstream_srv_conf_t   *gcf;
    ngx_http_gateway_upstream_peer_data_t  *bp;

    ctx = ngx_http_get_module_ctx(r, ngx_http_gateway_upstream_module);

    if (ctx == NULL || ctx->attempt == NULL || r->upstream == NULL) {
        return ngx_http_next_header_filter(r);
    }

    bp = ctx->attempt;
    status = r->upstream->headers_in.status_n;

    if (!bp->picked || !bp->pick.trial || bp->reported || status == 0
        || bp->request != r)
    {
        return ngx_http_next_header_filter(r);
    }

    gcf = bp->conf;
    sh = gcf->sh;
    now = (int64_t) ngx_current_msec;
    period = 0;

    outcome = (status < 64 * NGX_HTTP_GATEWAY_STATUS_WORDS
               && ngx_http_gateway_bit_test(gcf->statuses, status))
              ? GW_OUTCOME_FAILURE : GW_OUTCOME_SUCCESS;

    ngx_shmtx_lock(&gcf->shpool->mutex);

    tr = gw_balancer_report(sh->peers, sh->nslots, &gcf->breaker, &bp->pick,
                            outcome, now);

    if (tr == GW_TRANSITION_REOPENED) {
        period = sh->peers[bp->pick.index].breaker.open_until - now;
    }

    ngx_shmtx_unlock(&gcf->shpool->mutex);

    bp->reported = 1;

    if (tr != GW_TRANSITION_NONE) {
        ngx_http_gateway_upstream_log_transition(r->connection->log, gcf,
                                                 bp->name, tr, period);
    }

    return ngx_http_next_header_filter(r);
}


/* variables */

static ngx_http_gateway_upstream_ctx_t *
ngx_http_gateway_upstream_ctx(ngx_http_request_t *r)
{
    ngx_http_gateway_upstream_ctx_t  *ctx;

    if (r == r->main) {
        return ngx_http_gateway_request_state(r,
                                     &ngx_http_gateway_upstream_module,
                                     sizeof(ngx_http_gateway_upstream_ctx_t));
    }

    /* subrequests run side by side: each has its own */

    ctx = ngx_http_get_module_ctx(r, ngx_http_gateway_upstream_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_gateway_upstream_ctx_t));
        if (ctx == NULL) {
            return NULL;
        }

        ngx_http_set_ctx(r, ctx, ngx_http_gateway_upstream_module);
    }

    return ctx;
}


static ngx_int_t
ngx_http_gateway_upstream_peer_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_gateway_upstream_ctx_t  *ctx;

    ctx = ngx_http_gateway_upstream_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    if (!ctx->set || ctx->peer.len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = ctx->peer.len;
    v->data = ctx->peer.data;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_gateway_upstream_state_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    const char                       *name;
    ngx_http_gateway_upstream_ctx_t  *ctx;

    ctx = ngx_http_gateway_upstream_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    if (!ctx->set) {
        v->not_found = 1;
        return NGX_OK;
    }

    name = gw_circuit_state_name((int) ctx->state);

    v->len = ngx_strlen(name);
    v->data = (u_char *) name;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_gateway_upstream_add_variables(ngx_conf_t *cf)
{
    return ngx_http_gateway_register_variables(cf,
                                               ngx_http_gateway_upstream_vars);
}


static void *
ngx_http_gateway_upstream_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_gateway_upstream_main_conf_t  *gmcf;

    gmcf = ngx_pcalloc(cf->pool,
                       sizeof(ngx_http_gateway_upstream_main_conf_t));
    if (gmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&gmcf->upstreams, cf->pool, 4,
                       sizeof(ngx_http_gateway_upstream_srv_conf_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return gmcf;
}


static void *
ngx_http_gateway_upstream_create_srv_conf(ngx_conf_t *cf)
{
    ngx_http_gateway_upstream_srv_conf_t  *gcf;

    gcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_gateway_upstream_srv_conf_t));
    if (gcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     gcf->enabled = 0;
     *     gcf->breaker_set = 0;
     *     gcf->statuses = { 0 };
     *     gcf->shm_zone = NULL;
     */

    gcf->method = NGX_CONF_UNSET_UINT;

    return gcf;
}


static ngx_int_t
ngx_http_gateway_upstream_postconfiguration(ngx_conf_t *cf)
{
    ngx_uint_t                               i, j;
    ngx_module_t                            *m;
    ngx_http_handler_pt                     *h;
    ngx_http_core_main_conf_t               *cmcf;
    ngx_http_gateway_upstream_srv_conf_t   **gcfp;
    ngx_http_gateway_upstream_main_conf_t   *gmcf;

    gmcf = ngx_http_conf_get_module_main_conf(cf,
                                             ngx_http_gateway_upstream_module);

    /* a balancing method declared after ours replaced it */

    gcfp = gmcf->upstreams.elts;

    for (i = 0; i < gmcf->upstreams.nelts; i++) {
        if (!gcfp[i]->initialized) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "the gateway balancer of upstream \"%V\" in %s:%ui "
                          "was replaced by another balancing method",
                          &gcfp[i]->upstream->host, gcfp[i]->file,
                          gcfp[i]->line);
            return NGX_ERROR;
        }
    }

    if (!gmcf->breakers) {
        return NGX_OK;
    }

    for (i = 0; ngx_http_gateway_pass_modules[i]; i++) {
        for (j = 0; cf->cycle->modules[j]; j++) {
            m = cf->cycle->modules[j];

            if (m->type == NGX_HTTP_MODULE
                && ngx_strcmp(m->name, ngx_http_gateway_pass_modules[i]) == 0
                && gmcf->nhandlers < sizeof(gmcf->handlers)
                                     / sizeof(gmcf->handlers[0]))
            {
                gmcf->handlers[gmcf->nhandlers++] = m->ctx_index;
            }
        }
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_gateway_upstream_check;

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_gateway_upstream_header_filter;

    return NGX_OK;
}
