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
 * core (gw_balancer.h).
 *
 * This file holds the directives and the configuration; the other parts
 * are listed in ngx_http_gateway_upstream.h.
 */

#include "ngx_http_gateway_upstream.h"


static ngx_int_t ngx_http_gateway_upstream_init(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us);
static char *ngx_http_gateway_balancer(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_gateway_circuit_breaker(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
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
    ngx_http_gateway_upstream_init_process,      /* init process */
    NULL,                                        /* init thread */
    NULL,                                        /* exit thread */
    NULL,                                        /* exit process */
    NULL,                                        /* exit master */
    NGX_MODULE_V1_PADDING
};


/*
 * Circuit breaker defaults; max_open is 10 times open, as Envoy's outlier
 * ejection (30s base, 300s at most).
 */
#define NGX_HTTP_GATEWAY_BREAKER_FAILURES   5
#define NGX_HTTP_GATEWAY_BREAKER_HALF_OPEN  1
#define NGX_HTTP_GATEWAY_BREAKER_OPEN       30000
#define NGX_HTTP_GATEWAY_BREAKER_MAX_OPEN   10

#define NGX_HTTP_GATEWAY_BREAKER_MAX_COUNT  1000000


static ngx_uint_t  ngx_http_gateway_default_statuses[] = {
    500, 502, 503, 504, 0
};


/* what gateway_circuit_breaker's options say */
typedef struct {
    ngx_int_t                          failures;
    ngx_int_t                          half_open;
    ngx_msec_t                         open;
    ngx_msec_t                         max_open;
    uint64_t                          *statuses;
} ngx_http_gateway_breaker_options_t;


static char *ngx_http_gateway_breaker_statuses(ngx_conf_t *cf,
    ngx_http_gateway_arg_t *arg, ngx_str_t *value, void *conf);


static ngx_http_gateway_arg_bounds_t  ngx_http_gateway_breaker_count_bounds = {
    1, NGX_HTTP_GATEWAY_BREAKER_MAX_COUNT
};


static ngx_http_gateway_arg_t  ngx_http_gateway_breaker_args[] = {

    { ngx_string("failures"), ngx_http_gateway_arg_number,
      offsetof(ngx_http_gateway_breaker_options_t, failures),
      &ngx_http_gateway_breaker_count_bounds },

    { ngx_string("half_open"), ngx_http_gateway_arg_number,
      offsetof(ngx_http_gateway_breaker_options_t, half_open),
      &ngx_http_gateway_breaker_count_bounds },

    { ngx_string("open"), ngx_http_gateway_arg_msec,
      offsetof(ngx_http_gateway_breaker_options_t, open), NULL },

    { ngx_string("max_open"), ngx_http_gateway_arg_msec,
      offsetof(ngx_http_gateway_breaker_options_t, max_open), NULL },

    { ngx_string("statuses"), ngx_http_gateway_breaker_statuses, 0, NULL },

      ngx_http_gateway_null_arg
};


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


/* statuses=500,502,...: the breaker's own slot for the argument parser */

static char *
ngx_http_gateway_breaker_statuses(ngx_conf_t *cf, ngx_http_gateway_arg_t *arg,
    ngx_str_t *value, void *conf)
{
    ngx_http_gateway_breaker_options_t  *opt = conf;

    if (ngx_http_gateway_parse_statuses(cf, value, opt->statuses) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_gateway_circuit_breaker(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_gateway_upstream_srv_conf_t  *gcf = conf;

    ngx_uint_t                              i;
    ngx_http_gateway_breaker_options_t      opt;
    ngx_http_gateway_upstream_main_conf_t  *gmcf;

    if (gcf->breaker_set) {
        return "is duplicate";
    }

    gcf->breaker_set = 1;

    opt.failures = NGX_HTTP_GATEWAY_BREAKER_FAILURES;
    opt.half_open = NGX_HTTP_GATEWAY_BREAKER_HALF_OPEN;
    opt.open = NGX_HTTP_GATEWAY_BREAKER_OPEN;
    opt.max_open = NGX_CONF_UNSET_MSEC;
    opt.statuses = gcf->statuses;

    for (i = 0; ngx_http_gateway_default_statuses[i]; i++) {
        ngx_http_gateway_bit_set(gcf->statuses,
                                 ngx_http_gateway_default_statuses[i]);
    }

    if (ngx_http_gateway_conf_args(cf, 1, ngx_http_gateway_breaker_args, &opt)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    gcf->breaker.failures = (uint32_t) opt.failures;
    gcf->breaker.half_open = (uint32_t) opt.half_open;
    gcf->breaker.open_ms = (int64_t) opt.open;

    if (opt.max_open == NGX_CONF_UNSET_MSEC) {
        gcf->breaker.max_open_ms = gcf->breaker.open_ms
                                   * NGX_HTTP_GATEWAY_BREAKER_MAX_OPEN;

    } else if ((int64_t) opt.max_open < gcf->breaker.open_ms) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"max_open\" must not be shorter than \"open\"");
        return NGX_CONF_ERROR;

    } else {
        gcf->breaker.max_open_ms = (int64_t) opt.max_open;
    }

    gmcf = ngx_http_conf_get_module_main_conf(cf,
                                             ngx_http_gateway_upstream_module);
    gmcf->breakers = 1;

    return ngx_http_gateway_upstream_enable(cf, gcf);
}


/*
 * Either directive (or a peer source, gateway_consul) turns the gateway
 * balancer on for the upstream, once.
 */

char *
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


/*
 * The upstream's init, once its block is read: round robin builds the
 * peers and our per request hook wraps its own; the defaults are settled
 * (as a merge would) and the upstream's zone is added.
 */

static ngx_int_t
ngx_http_gateway_upstream_init(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us)
{
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
        /* no breaker: the core admits every request */
        gcf->breaker.failures = 0;
        gcf->breaker.half_open = NGX_HTTP_GATEWAY_BREAKER_HALF_OPEN;
        gcf->breaker.open_ms = NGX_HTTP_GATEWAY_BREAKER_OPEN;
        gcf->breaker.max_open_ms = NGX_HTTP_GATEWAY_BREAKER_OPEN
                                   * NGX_HTTP_GATEWAY_BREAKER_MAX_OPEN;
    }

    if (ngx_http_gateway_upstream_add_zone(cf, us, gcf) != NGX_OK) {
        return NGX_ERROR;
    }

    gcf->initialized = 1;

    return NGX_OK;
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
     */

    gcf->method = NGX_CONF_UNSET_UINT;

    return gcf;
}


static ngx_int_t
ngx_http_gateway_upstream_postconfiguration(ngx_conf_t *cf)
{
    ngx_uint_t                               i;
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

    if (ngx_http_gateway_upstream_stats_init(cf, gmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (!gmcf->breakers) {
        return NGX_OK;
    }

    if (ngx_http_gateway_upstream_fail_fast_init(cf, gmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_gateway_upstream_header_filter_init();

    return NGX_OK;
}
