/*
 * ngx_http_gateway_consul_module: upstream peers from Consul.
 *
 *   http {
 *       gateway_consul_server 10.0.0.1:8500 10.0.0.2:8500;
 *
 *       upstream api {
 *           gateway_consul web tag=v2 token=... dump=consul/web.peers;
 *           server 127.0.0.1:8081;     # until Consul answers
 *       }
 *   }
 *
 * One worker at a time (holding a lease in the upstream's Consul zone)
 * polls /v1/health/service/SERVICE?passing with blocking queries and
 * publishes the passing instances into the upstream's shared peer table,
 * where every worker's balancer finds them on its next request. This file
 * holds the directives, the configuration and the zones; the other parts
 * are listed in ngx_http_gateway_consul.h.
 */

#include "ngx_http_gateway_consul.h"


/* Consul's own default agent address, and the blocking wait's default */
#define NGX_HTTP_GATEWAY_CONSUL_DEFAULT_SERVER  "127.0.0.1:8500"
#define NGX_HTTP_GATEWAY_CONSUL_DEFAULT_WAIT    300000
#define NGX_HTTP_GATEWAY_CONSUL_MAX_PEERS       4096


typedef struct {
    ngx_array_t                       *servers;     /* ngx_str_t */
    ngx_str_t                          tag;
    ngx_str_t                          dc;
    ngx_str_t                          token;
    ngx_msec_t                         wait;
    ngx_str_t                          dump;
    ngx_int_t                          max_peers;
    ngx_uint_t                         empty;
} ngx_http_gateway_consul_options_t;


static char *ngx_http_gateway_consul_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_gateway_consul_server_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_gateway_consul_wait_arg(ngx_conf_t *cf,
    ngx_http_gateway_arg_t *arg, ngx_str_t *value, void *conf);
static ngx_int_t ngx_http_gateway_consul_add_zone(ngx_conf_t *cf,
    ngx_http_gateway_consul_conf_t *ccf);
static ngx_int_t ngx_http_gateway_consul_init_zone(
    ngx_http_gateway_shm_t *shm);
static ngx_int_t ngx_http_gateway_consul_add_links(ngx_conf_t *cf,
    ngx_http_gateway_consul_main_conf_t *cmcf,
    ngx_http_gateway_consul_conf_t *ccf);
static ngx_int_t ngx_http_gateway_consul_add_stats(ngx_conf_t *cf,
    ngx_http_gateway_consul_conf_t *ccf);
static void *ngx_http_gateway_consul_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_gateway_consul_create_srv_conf(ngx_conf_t *cf);
static char *ngx_http_gateway_consul_init_main_conf(ngx_conf_t *cf,
    void *conf);
static ngx_int_t ngx_http_gateway_consul_init_process(ngx_cycle_t *cycle);
static void ngx_http_gateway_consul_exit_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_gateway_consul_commands[] = {

    { ngx_string("gateway_consul"),
      NGX_HTTP_UPS_CONF|NGX_CONF_1MORE,
      ngx_http_gateway_consul_directive,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gateway_consul_server"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_gateway_consul_server_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_gateway_consul_module_ctx = {
    NULL,                                        /* preconfiguration */
    NULL,                                        /* postconfiguration */

    ngx_http_gateway_consul_create_main_conf,    /* create main configuration */
    ngx_http_gateway_consul_init_main_conf,      /* init main configuration */

    ngx_http_gateway_consul_create_srv_conf,     /* create server configuration */
    NULL,                                        /* merge server configuration */

    NULL,                                        /* create location configuration */
    NULL                                         /* merge location configuration */
};


ngx_module_t  ngx_http_gateway_consul_module = {
    NGX_MODULE_V1,
    &ngx_http_gateway_consul_module_ctx,         /* module context */
    ngx_http_gateway_consul_commands,            /* module directives */
    NGX_HTTP_MODULE,                             /* module type */
    NULL,                                        /* init master */
    NULL,                                        /* init module */
    ngx_http_gateway_consul_init_process,        /* init process */
    NULL,                                        /* init thread */
    NULL,                                        /* exit thread */
    ngx_http_gateway_consul_exit_process,        /* exit process */
    NULL,                                        /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_conf_enum_t  ngx_http_gateway_consul_empty_values[] = {
    { ngx_string("allow"), 1 },
    { ngx_null_string, 0 }
};


static ngx_http_gateway_arg_bounds_t  ngx_http_gateway_consul_peers_bounds = {
    1, NGX_HTTP_GATEWAY_CONSUL_MAX_PEERS
};


static ngx_http_gateway_arg_t  ngx_http_gateway_consul_args[] = {

    { ngx_string("server"), ngx_http_gateway_arg_list,
      offsetof(ngx_http_gateway_consul_options_t, servers), NULL },

    { ngx_string("tag"), ngx_http_gateway_arg_str,
      offsetof(ngx_http_gateway_consul_options_t, tag), NULL },

    { ngx_string("dc"), ngx_http_gateway_arg_str,
      offsetof(ngx_http_gateway_consul_options_t, dc), NULL },

    { ngx_string("token"), ngx_http_gateway_arg_str,
      offsetof(ngx_http_gateway_consul_options_t, token), NULL },

    { ngx_string("wait"), ngx_http_gateway_consul_wait_arg,
      offsetof(ngx_http_gateway_consul_options_t, wait), NULL },

    { ngx_string("dump"), ngx_http_gateway_arg_str,
      offsetof(ngx_http_gateway_consul_options_t, dump), NULL },

    { ngx_string("max_peers"), ngx_http_gateway_arg_number,
      offsetof(ngx_http_gateway_consul_options_t, max_peers),
      &ngx_http_gateway_consul_peers_bounds },

    { ngx_string("empty"), ngx_http_gateway_arg_enum,
      offsetof(ngx_http_gateway_consul_options_t, empty),
      ngx_http_gateway_consul_empty_values },

      ngx_http_gateway_null_arg
};


/* gateway_consul_*{upstream,service}: what each gateway_consul counts */

static ngx_str_t  ngx_http_gateway_consul_labels[] = {
    ngx_string("upstream"),
    ngx_string("service"),
    ngx_null_string
};


static ngx_http_gateway_stats_def_t  ngx_http_gateway_consul_stats_defs[] = {

    { ngx_string("gateway_consul_updates_total"),
      ngx_string("Peer sets published from Consul into an upstream."),
      GW_METRIC_COUNTER, ngx_http_gateway_consul_labels, NULL, 0, NULL,
      NULL },

    { ngx_string("gateway_consul_errors_total"),
      ngx_string("Consul queries that failed (no connection, a status "
                 "other than 200, a malformed or late reply)."),
      GW_METRIC_COUNTER, ngx_http_gateway_consul_labels, NULL, 0, NULL,
      NULL },

    { ngx_string("gateway_consul_index"),
      ngx_string("The X-Consul-Index of Consul's last good reply."),
      GW_METRIC_GAUGE, ngx_http_gateway_consul_labels, NULL, 0, NULL, NULL },

    { ngx_string("gateway_consul_peers"),
      ngx_string("Peers in the set last published from Consul."),
      GW_METRIC_GAUGE, ngx_http_gateway_consul_labels, NULL, 0, NULL, NULL }
};


static ngx_http_gateway_shm_type_t  ngx_http_gateway_consul_shm_type = {
    "gateway Consul zone",
    ngx_http_gateway_consul_init_zone,
    NULL,
    0,
    0
};


static char *
ngx_http_gateway_consul_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_gateway_consul_conf_t  *ccf = conf;

    u_char                               *p;
    char                                 *rv;
    ngx_str_t                            *value, key, host;
    ngx_uint_t                            nbootstrap;
    const char                           *why;
    gw_consul_query_t                     query;
    ngx_http_gateway_consul_conf_t      **slot;
    ngx_http_gateway_consul_options_t     opt;
    ngx_http_gateway_upstream_peer_t     *bootstrap;
    ngx_http_gateway_consul_main_conf_t  *cmcf;

    if (ccf->service.len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    ngx_memzero(&opt, sizeof(ngx_http_gateway_consul_options_t));
    opt.wait = NGX_HTTP_GATEWAY_CONSUL_DEFAULT_WAIT;
    opt.max_peers = GW_CONSUL_DEFAULT_MAX_PEERS;

    if (ngx_http_gateway_conf_args(cf, 2, ngx_http_gateway_consul_args, &opt)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    ccf->service = value[1];
    ccf->servers = opt.servers;
    ccf->tag = opt.tag;
    ccf->dc = opt.dc;
    ccf->token = opt.token;
    ccf->wait = opt.wait;
    ccf->max_peers = opt.max_peers;
    ccf->empty_allow = opt.empty;
    ccf->upstream = ngx_http_conf_get_module_srv_conf(cf,
                                                      ngx_http_upstream_module);
    ccf->file = cf->conf_file->file.name.data;
    ccf->line = cf->conf_file->line;

    /* what goes into the request is checked now, not at the first poll */

    ngx_str_set(&host, "consul");
    ngx_http_gateway_consul_query(ccf, &host, &query);

    why = gw_consul_query_check(&query);
    if (why) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s in \"%V\"", why,
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    if (opt.dump.len) {
        ccf->dump = opt.dump;

        if (ngx_conf_full_name(cf->cycle, &ccf->dump, 0) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

#if (NGX_THREADS)
        ccf->thread_pool = ngx_thread_pool_add(cf, NULL);
        if (ccf->thread_pool == NULL) {
            return NGX_CONF_ERROR;
        }
#endif
    }

    if (ngx_http_gateway_consul_dump_load(cf, ccf, &bootstrap, &nbootstrap)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    /* the source's key: another service, tag or datacenter is another set */

    key.len = ccf->service.len + ccf->tag.len + ccf->dc.len + 2;
    key.data = ngx_pnalloc(cf->pool, key.len);
    if (key.data == NULL) {
        return NGX_CONF_ERROR;
    }

    /* (an absent tag or dc has no data to copy, not even nothing) */

    p = ngx_cpymem(key.data, ccf->service.data, ccf->service.len);
    *p++ = '\0';

    if (ccf->tag.len) {
        p = ngx_cpymem(p, ccf->tag.data, ccf->tag.len);
    }

    *p++ = '\0';

    if (ccf->dc.len) {
        ngx_memcpy(p, ccf->dc.data, ccf->dc.len);
    }

    ccf->key_hash = ngx_crc32_long(key.data, key.len);

    rv = ngx_http_gateway_upstream_add_source(cf, &key, ccf->max_peers,
                                              bootstrap, nbootstrap);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (ngx_http_gateway_consul_add_zone(cf, ccf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_gateway_consul_module);

    slot = ngx_array_push(&cmcf->consuls);
    if (slot == NULL) {
        return NGX_CONF_ERROR;
    }

    *slot = ccf;

    return NGX_CONF_OK;
}


/* wait=TIME: 1s to Consul's limit of 10m, in whole seconds */

static char *
ngx_http_gateway_consul_wait_arg(ngx_conf_t *cf, ngx_http_gateway_arg_t *arg,
    ngx_str_t *value, void *conf)
{
    ngx_msec_t  *wait = (ngx_msec_t *) ((char *) conf + arg->offset);
    ngx_int_t    s;

    s = ngx_parse_time(value, 1);

    if (s == NGX_ERROR || s < 1 || s > GW_CONSUL_MAX_WAIT_S) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"wait=%V\", it must be from 1s "
                           "to 10m", value);
        return NGX_CONF_ERROR;
    }

    *wait = (ngx_msec_t) s * 1000;

    return NGX_CONF_OK;
}


static char *
ngx_http_gateway_consul_server_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_gateway_consul_main_conf_t  *cmcf = conf;

    ngx_str_t   *value, *server;
    ngx_uint_t   i;

    if (cmcf->servers) {
        return "is duplicate";
    }

    cmcf->servers = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                     sizeof(ngx_str_t));
    if (cmcf->servers == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        server = ngx_array_push(cmcf->servers);
        if (server == NULL) {
            return NGX_CONF_ERROR;
        }

        *server = value[i];
    }

    return NGX_CONF_OK;
}


/* the upstream's Consul zone, "gateway_consul:NAME": the poll and the set */

static ngx_int_t
ngx_http_gateway_consul_add_zone(ngx_conf_t *cf,
    ngx_http_gateway_consul_conf_t *ccf)
{
    u_char     *p;
    size_t      size;
    ngx_str_t   name, *host;

    host = &ccf->upstream->host;

    name.len = sizeof("gateway_consul:") - 1 + host->len;
    name.data = ngx_pnalloc(cf->pool, name.len);
    if (name.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(name.data, "gateway_consul:", sizeof("gateway_consul:") - 1);
    ngx_memcpy(p, host->data, host->len);

    size = 8 * ngx_pagesize + sizeof(ngx_http_gateway_consul_shctx_t)
           + ccf->max_peers * sizeof(gw_consul_peer_t);

    ccf->shm = ngx_http_gateway_shm_add(cf, &name, size,
                                        &ngx_http_gateway_consul_module,
                                        &ngx_http_gateway_consul_shm_type,
                                        ccf);

    return ccf->shm ? NGX_OK : NGX_ERROR;
}


/*
 * A new zone starts with no set and a fresh poll; a reload keeps both
 * while the service, tag and datacenter stay the same (the upstream's
 * table keeps the set it was given).
 */

static ngx_int_t
ngx_http_gateway_consul_init_zone(ngx_http_gateway_shm_t *shm)
{
    ngx_http_gateway_consul_conf_t    *ccf;
    ngx_http_gateway_consul_shctx_t   *sh;

    ccf = shm->data;
    ccf->shpool = shm->shpool;

    if (shm->sh) {
        sh = shm->sh;

    } else {
        sh = ngx_slab_calloc(shm->shpool,
                             sizeof(ngx_http_gateway_consul_shctx_t)
                             + ccf->max_peers * sizeof(gw_consul_peer_t));
        if (sh == NULL) {
            return NGX_ERROR;
        }

        gw_consul_poll_init(&sh->poll);
        shm->sh = sh;
    }

    ccf->sh = sh;

    ngx_shmtx_lock(&shm->shpool->mutex);

    if (sh->max_peers != ccf->max_peers || sh->key_hash != ccf->key_hash) {
        /* another query: what was learnt of the old one does not apply */
        gw_consul_poll_init(&sh->poll);
        sh->npeers = 0;
        sh->has_set = 0;
        sh->max_peers = ccf->max_peers;
        sh->key_hash = ccf->key_hash;
    }

    ngx_shmtx_unlock(&shm->shpool->mutex);

    return NGX_OK;
}


/* one link per Consul server: its own, else http's, else the local agent */

static ngx_int_t
ngx_http_gateway_consul_add_links(ngx_conf_t *cf,
    ngx_http_gateway_consul_main_conf_t *cmcf,
    ngx_http_gateway_consul_conf_t *ccf)
{
    ngx_str_t                 *servers, name, local;
    ngx_uint_t                 i, n;
    ngx_http_gateway_link_t  **link;

    if (ccf->servers) {
        servers = ccf->servers->elts;
        n = ccf->servers->nelts;

    } else if (cmcf->servers) {
        servers = cmcf->servers->elts;
        n = cmcf->servers->nelts;

    } else {
        ngx_str_set(&local, NGX_HTTP_GATEWAY_CONSUL_DEFAULT_SERVER);
        servers = &local;
        n = 1;
    }

    if (ngx_array_init(&ccf->links, cf->pool, n,
                       sizeof(ngx_http_gateway_link_t *))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    name.len = sizeof("gateway_consul \"\" of upstream \"\"") - 1
               + ccf->service.len + ccf->upstream->host.len;
    name.data = ngx_pnalloc(cf->pool, name.len);
    if (name.data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(name.data, "gateway_consul \"%V\" of upstream \"%V\"",
                &ccf->service, &ccf->upstream->host);

    for (i = 0; i < n; i++) {
        link = ngx_array_push(&ccf->links);
        if (link == NULL) {
            return NGX_ERROR;
        }

        *link = ngx_http_gateway_link_add(cf, &name, &servers[i], 8500);
        if (*link == NULL) {
            return NGX_ERROR;
        }

        ngx_http_gateway_consul_poller_link(ccf, *link);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_gateway_consul_add_stats(ngx_conf_t *cf,
    ngx_http_gateway_consul_conf_t *ccf)
{
    ngx_str_t                          labels[2];
    ngx_uint_t                         i;
    ngx_http_gateway_stat_t          **stat[4];
    ngx_http_gateway_stats_family_t   *family;

    stat[0] = &ccf->stats.updates;
    stat[1] = &ccf->stats.errors;
    stat[2] = &ccf->stats.index;
    stat[3] = &ccf->stats.peers;

    labels[0] = ccf->upstream->host;
    labels[1] = ccf->service;

    for (i = 0; i < 4; i++) {
        family = ngx_http_gateway_stats_family(cf,
                                        &ngx_http_gateway_consul_stats_defs[i]);
        if (family == NULL) {
            return NGX_ERROR;
        }

        *stat[i] = ngx_http_gateway_stats_series(cf, family, labels);
        if (*stat[i] == NULL) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static void *
ngx_http_gateway_consul_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_gateway_consul_main_conf_t  *cmcf;

    cmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_gateway_consul_main_conf_t));
    if (cmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     cmcf->servers = NULL;
     */

    if (ngx_array_init(&cmcf->consuls, cf->pool, 4,
                       sizeof(ngx_http_gateway_consul_conf_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return cmcf;
}


static void *
ngx_http_gateway_consul_create_srv_conf(ngx_conf_t *cf)
{
    ngx_http_gateway_consul_conf_t  *ccf;

    ccf = ngx_pcalloc(cf->pool, sizeof(ngx_http_gateway_consul_conf_t));
    if (ccf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc(): every field; a conf without a service is an
     * upstream (or server) without gateway_consul
     */

    return ccf;
}


/*
 * Once http{} is read (http-level servers may come after the upstreams
 * that use them), and before the gateway's links are set up in its
 * postconfiguration: the links, and the resolver for host names.
 */

static char *
ngx_http_gateway_consul_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_gateway_consul_main_conf_t  *cmcf = conf;

    ngx_uint_t                        i;
    ngx_http_core_loc_conf_t         *clcf;
    ngx_http_gateway_consul_conf_t  **ccf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    ccf = cmcf->consuls.elts;

    for (i = 0; i < cmcf->consuls.nelts; i++) {
        if (ngx_http_gateway_consul_add_links(cf, cmcf, ccf[i]) != NGX_OK
            || ngx_http_gateway_consul_add_stats(cf, ccf[i]) != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        /* http{}'s own resolver values are not merged */
        ccf[i]->resolver = clcf->resolver;
        ccf[i]->resolver_timeout =
                                 clcf->resolver_timeout == NGX_CONF_UNSET_MSEC
                                 ? 30000 : clcf->resolver_timeout;
    }

    if (ngx_http_gateway_consul_status_add(cf, cmcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* this cycle's gateway_consul directives */

static ngx_http_gateway_consul_conf_t **
ngx_http_gateway_consul_confs(ngx_cycle_t *cycle, ngx_uint_t *n)
{
    ngx_http_gateway_consul_main_conf_t  *cmcf;

    cmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_gateway_consul_module);
    if (cmcf == NULL) {
        *n = 0;
        return NULL;
    }

    *n = cmcf->consuls.nelts;

    return cmcf->consuls.elts;
}


static ngx_int_t
ngx_http_gateway_consul_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                        i, n;
    ngx_http_gateway_consul_conf_t  **ccf;

    /* workers poll; cache managers and loaders do not */

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    ccf = ngx_http_gateway_consul_confs(cycle, &n);

    for (i = 0; i < n; i++) {
        if (ngx_http_gateway_consul_poller_start(cycle, ccf[i]) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static void
ngx_http_gateway_consul_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                        i, n;
    ngx_http_gateway_consul_conf_t  **ccf;

    ccf = ngx_http_gateway_consul_confs(cycle, &n);

    for (i = 0; i < n; i++) {
        ngx_http_gateway_consul_poller_stop(ccf[i]);
    }
}
