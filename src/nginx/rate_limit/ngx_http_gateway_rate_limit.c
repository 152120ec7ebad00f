/*
 * ngx_http_gateway_rate_limit_module: rate limits in shared memory.
 *
 *   gateway_rate_limit_zone NAME key=VALUE rate=Nr/s|Nr/m size=SIZE
 *                           [burst=N] [algorithm=token_bucket|sliding_window]
 *                           [redis=NAME];
 *   gateway_rate_limit ZONE [cost=N] [dry_run];
 *   gateway_rate_limit_status CODE;
 *   gateway_rate_limit_headers ietf|legacy|off;
 *   $gateway_rate_limit_status
 *
 * Each zone is an rbtree of compact nodes (src/core/include/gw_rate_limit.h)
 * keyed by a hash of the key, with an LRU list, in a slab pool guarded by
 * the pool's own mutex. The arithmetic is the core's. The module's files:
 *
 *   ngx_http_gateway_rate_limit.c            directives, configuration
 *   ngx_http_gateway_rate_limit_zone.c       a zone's shared memory
 *   ngx_http_gateway_rate_limit_check.c      the access check, all or nothing
 *   ngx_http_gateway_rate_limit_redis.c      zones kept in Redis, fallback
 *   ngx_http_gateway_rate_limit_headers.c    Retry-After, RateLimit headers
 *   ngx_http_gateway_rate_limit_variables.c  request state, variables
 *   ngx_http_gateway_rate_limit_status.c     the "rate_limits" status section
 */

#include "ngx_http_gateway_rate_limit.h"


/* a gateway_rate_limit naming a zone, checked once the http block is read */
typedef struct {
    ngx_shm_zone_t              *shm_zone;
    u_char                      *file;
    ngx_uint_t                   line;
} ngx_http_gateway_rl_ref_t;


typedef struct {
    ngx_array_t                  refs;      /* ngx_http_gateway_rl_ref_t */
    ngx_array_t                  zones;     /* ngx_http_gateway_rl_zone_t * */
    ngx_http_gateway_stats_family_t  *results;
} ngx_http_gateway_rl_main_conf_t;


/* what gateway_rate_limit_zone's options say */
typedef struct {
    ngx_str_t                    key;
    uint32_t                     count;
    uint32_t                     period;
    size_t                       size;
    ngx_int_t                    burst;
    ngx_uint_t                   algorithm;
    ngx_str_t                    redis;
} ngx_http_gateway_rl_options_t;


/* what gateway_rate_limit's options say */
typedef struct {
    ngx_int_t                    cost;
    ngx_flag_t                   dry_run;
} ngx_http_gateway_rl_limit_options_t;


static char *ngx_http_gateway_rl_zone_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_gateway_rl_rate_arg(ngx_conf_t *cf,
    ngx_http_gateway_arg_t *arg, ngx_str_t *value, void *conf);
static char *ngx_http_gateway_rl_size_arg(ngx_conf_t *cf,
    ngx_http_gateway_arg_t *arg, ngx_str_t *value, void *conf);
static char *ngx_http_gateway_rl_limit_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_gateway_rl_status_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static void *ngx_http_gateway_rl_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_gateway_rl_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_gateway_rl_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_gateway_rl_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_gateway_rl_init(ngx_conf_t *cf);


static ngx_conf_enum_t  ngx_http_gateway_rl_headers_values[] = {
    { ngx_string("off"), NGX_HTTP_GATEWAY_RL_HEADERS_OFF },
    { ngx_string("ietf"), NGX_HTTP_GATEWAY_RL_HEADERS_IETF },
    { ngx_string("legacy"), NGX_HTTP_GATEWAY_RL_HEADERS_LEGACY },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_gateway_rl_algorithms[] = {
    { ngx_string("token_bucket"), GW_RL_TOKEN_BUCKET },
    { ngx_string("sliding_window"), GW_RL_SLIDING_WINDOW },
    { ngx_null_string, 0 }
};


static ngx_http_gateway_arg_bounds_t  ngx_http_gateway_rl_count_bounds = {
    1, GW_RL_MAX_COUNT
};


static ngx_http_gateway_arg_t  ngx_http_gateway_rl_zone_args[] = {

    { ngx_string("key"), ngx_http_gateway_arg_str,
      offsetof(ngx_http_gateway_rl_options_t, key), NULL },

    { ngx_string("rate"), ngx_http_gateway_rl_rate_arg, 0, NULL },

    { ngx_string("size"), ngx_http_gateway_rl_size_arg, 0, NULL },

    { ngx_string("burst"), ngx_http_gateway_arg_number,
      offsetof(ngx_http_gateway_rl_options_t, burst),
      &ngx_http_gateway_rl_count_bounds },

    { ngx_string("algorithm"), ngx_http_gateway_arg_enum,
      offsetof(ngx_http_gateway_rl_options_t, algorithm),
      ngx_http_gateway_rl_algorithms },

    { ngx_string("redis"), ngx_http_gateway_arg_str,
      offsetof(ngx_http_gateway_rl_options_t, redis), NULL },

      ngx_http_gateway_null_arg
};


static ngx_http_gateway_arg_t  ngx_http_gateway_rl_limit_args[] = {

    { ngx_string("cost"), ngx_http_gateway_arg_number,
      offsetof(ngx_http_gateway_rl_limit_options_t, cost),
      &ngx_http_gateway_rl_count_bounds },

    { ngx_string("dry_run"), ngx_http_gateway_arg_flag,
      offsetof(ngx_http_gateway_rl_limit_options_t, dry_run), NULL },

      ngx_http_gateway_null_arg
};


/* gateway_rate_limit_results_total{zone,result} */

static ngx_str_t  ngx_http_gateway_rl_zone_label[] = {
    ngx_string("zone"),
    ngx_null_string
};

static ngx_str_t  ngx_http_gateway_rl_results[] = {
    ngx_string("passed"),                /* NGX_HTTP_GATEWAY_RL_RESULT_* */
    ngx_string("rejected"),
    ngx_string("rejected_dry_run"),
    ngx_string("full"),
    ngx_null_string
};

static ngx_http_gateway_stats_dim_t  ngx_http_gateway_rl_results_dims[] = {
    { ngx_string("result"), ngx_http_gateway_rl_results },
    { ngx_null_string, NULL }
};

static ngx_http_gateway_stats_def_t  ngx_http_gateway_rl_results_def = {
    ngx_string("gateway_rate_limit_results_total"),
    ngx_string("Rate-limit decisions by zone: passed, rejected, rejected in "
               "dry run, rejected as the zone had no room for the key."),
    GW_METRIC_COUNTER,
    ngx_http_gateway_rl_zone_label,
    ngx_http_gateway_rl_results_dims,
    0, NULL, NULL
};


/* the levels limit_req_log_level takes */
static ngx_conf_enum_t  ngx_http_gateway_rl_log_levels[] = {
    { ngx_string("info"), NGX_LOG_INFO },
    { ngx_string("notice"), NGX_LOG_NOTICE },
    { ngx_string("warn"), NGX_LOG_WARN },
    { ngx_string("error"), NGX_LOG_ERR },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_gateway_rl_commands[] = {

    { ngx_string("gateway_rate_limit_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_gateway_rl_zone_directive,
      0,
      0,
      NULL },

    { ngx_string("gateway_rate_limit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE123,
      ngx_http_gateway_rl_limit_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gateway_rate_limit_status"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_gateway_rl_status_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gateway_rl_loc_conf_t, status),
      NULL },

    { ngx_string("gateway_rate_limit_headers"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gateway_rl_loc_conf_t, headers),
      &ngx_http_gateway_rl_headers_values },

    { ngx_string("gateway_rate_limit_log_level"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gateway_rl_loc_conf_t, log_level),
      &ngx_http_gateway_rl_log_levels },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_gateway_rate_limit_module_ctx = {
    ngx_http_gateway_rl_add_variables,     /* preconfiguration */
    ngx_http_gateway_rl_init,              /* postconfiguration */

    ngx_http_gateway_rl_create_main_conf,  /* create main configuration */
    ngx_http_gateway_rl_init_main_conf,    /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_gateway_rl_create_loc_conf,   /* create location configuration */
    ngx_http_gateway_rl_merge_loc_conf     /* merge location configuration */
};


ngx_module_t  ngx_http_gateway_rate_limit_module = {
    NGX_MODULE_V1,
    &ngx_http_gateway_rate_limit_module_ctx, /* module context */
    ngx_http_gateway_rl_commands,          /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static char *
ngx_http_gateway_rl_zone_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    u_char                            *p;
    ngx_str_t                         *value, name;
    ngx_http_gateway_rl_zone_t        *zone, **slot;
    ngx_http_gateway_rl_options_t      opt;
    ngx_http_gateway_rl_main_conf_t   *lrmcf;

    value = cf->args->elts;
    name = value[1];

    if (name.len == 0 || ngx_strlchr(name.data, name.data + name.len, '=')) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone name \"%V\"", &name);
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&opt, sizeof(ngx_http_gateway_rl_options_t));
    opt.algorithm = GW_RL_TOKEN_BUCKET;

    if (ngx_http_gateway_conf_args(cf, 2, ngx_http_gateway_rl_zone_args, &opt)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (opt.key.len == 0 || opt.count == 0 || opt.size == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"key=\", \"rate=\" and "
                           "\"size=\" parameters", &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (opt.burst && opt.algorithm == GW_RL_SLIDING_WINDOW) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"burst=\" is ignored by the sliding_window "
                           "algorithm of zone \"%V\"", &name);
    }

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_gateway_rl_zone_t));
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    zone->name = name;
    zone->conf_file = cf->conf_file->file.name.data;
    zone->conf_line = cf->conf_file->line;
    zone->size = opt.size;
    zone->redis_name = opt.redis;

    zone->key = ngx_http_gateway_key_compile(cf, &opt.key);
    if (zone->key == NULL) {
        return NGX_CONF_ERROR;
    }

    if (gw_rl_policy_init(&zone->policy, (uint32_t) opt.algorithm, opt.count,
                          opt.period, (uint32_t) opt.burst)
        != GW_RL_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid rate limit of zone \"%V\"", &name);
        return NGX_CONF_ERROR;
    }

    zone->redis_prefix.len = sizeof("gw:rl::") - 1 + name.len;
    p = ngx_pnalloc(cf->pool, zone->redis_prefix.len);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    zone->redis_prefix.data = p;
    ngx_sprintf(p, "gw:rl:%V:", &name);

    if (ngx_http_gateway_rl_add_zone(cf, zone) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    lrmcf = ngx_http_conf_get_module_main_conf(cf,
                                           ngx_http_gateway_rate_limit_module);

    if (lrmcf->results == NULL) {
        lrmcf->results = ngx_http_gateway_stats_family(cf,
                                            &ngx_http_gateway_rl_results_def);
        if (lrmcf->results == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    zone->results = ngx_http_gateway_stats_series(cf, lrmcf->results, &name);
    if (zone->results == NULL) {
        return NGX_CONF_ERROR;
    }

    slot = ngx_array_push(&lrmcf->zones);
    if (slot == NULL) {
        return NGX_CONF_ERROR;
    }

    *slot = zone;

    return NGX_CONF_OK;
}


static char *
ngx_http_gateway_rl_rate_arg(ngx_conf_t *cf, ngx_http_gateway_arg_t *arg,
    ngx_str_t *value, void *conf)
{
    ngx_http_gateway_rl_options_t *opt = conf;

    if (gw_rl_parse_rate((char *) value->data, value->len, &opt->count,
                         &opt->period)
        != GW_RL_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid rate \"rate=%V\", expected \"Nr/s\" or "
                           "\"Nr/m\" with N from 1 to %ui",
                           value, (ngx_uint_t) GW_RL_MAX_COUNT);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_gateway_rl_size_arg(ngx_conf_t *cf, ngx_http_gateway_arg_t *arg,
    ngx_str_t *value, void *conf)
{
    ngx_http_gateway_rl_options_t *opt = conf;

    ssize_t  n;

    n = ngx_parse_size(value);

    if (n == NGX_ERROR) {
        return NGX_HTTP_GATEWAY_ARG_INVALID;
    }

    if (n < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small",
                           &((ngx_str_t *) cf->args->elts)[1]);
        return NGX_CONF_ERROR;
    }

    /* LRU links are 32-bit offsets in 8-byte units */
    if ((uint64_t) n > ((uint64_t) 1 << 35)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too large",
                           &((ngx_str_t *) cf->args->elts)[1]);
        return NGX_CONF_ERROR;
    }

    opt->size = n;

    return NGX_CONF_OK;
}


static char *
ngx_http_gateway_rl_limit_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_gateway_rl_loc_conf_t *lrcf = conf;

    ngx_str_t                            *value;
    ngx_uint_t                            i;
    ngx_shm_zone_t                       *shm_zone;
    ngx_http_gateway_rl_ref_t            *ref;
    ngx_http_gateway_rl_limit_t          *limit, *limits;
    ngx_http_gateway_rl_main_conf_t      *lrmcf;
    ngx_http_gateway_rl_limit_options_t   opt;

    value = cf->args->elts;

    opt.cost = 1;
    opt.dry_run = 0;

    if (ngx_http_gateway_conf_args(cf, 2, ngx_http_gateway_rl_limit_args, &opt)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    shm_zone = ngx_shared_memory_add(cf, &value[1], 0,
                                     &ngx_http_gateway_rate_limit_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (lrcf->limits == NULL) {
        lrcf->limits = ngx_array_create(cf->pool, 1,
                                        sizeof(ngx_http_gateway_rl_limit_t));
        if (lrcf->limits == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    limits = lrcf->limits->elts;

    for (i = 0; i < lrcf->limits->nelts; i++) {
        if (limits[i].shm_zone == shm_zone) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate %V \"%V\"", &cmd->name, &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    limit = ngx_array_push(lrcf->limits);
    if (limit == NULL) {
        return NGX_CONF_ERROR;
    }

    limit->shm_zone = shm_zone;
    limit->cost = opt.cost;
    limit->dry_run = opt.dry_run;

    /* the zone may be declared further on; checked at the end of http{} */

    lrmcf = ngx_http_conf_get_module_main_conf(cf,
                                           ngx_http_gateway_rate_limit_module);

    ref = ngx_array_push(&lrmcf->refs);
    if (ref == NULL) {
        return NGX_CONF_ERROR;
    }

    ref->shm_zone = shm_zone;
    ref->file = cf->conf_file->file.name.data;
    ref->line = cf->conf_file->line;

    return NGX_CONF_OK;
}


static char *
ngx_http_gateway_rl_status_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_gateway_rl_loc_conf_t *lrcf = conf;

    ngx_int_t   status;
    ngx_str_t  *value;

    if (lrcf->status != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    status = ngx_atoi(value[1].data, value[1].len);

    if (status < 400 || status > 599) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid status \"%V\", expected 400 to 599",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    lrcf->status = status;

    return NGX_CONF_OK;
}


static void *
ngx_http_gateway_rl_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_gateway_rl_main_conf_t  *lrmcf;

    lrmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_gateway_rl_main_conf_t));
    if (lrmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&lrmcf->refs, cf->pool, 4,
                       sizeof(ngx_http_gateway_rl_ref_t))
        != NGX_OK
        || ngx_array_init(&lrmcf->zones, cf->pool, 4,
                          sizeof(ngx_http_gateway_rl_zone_t *))
           != NGX_OK)
    {
        return NULL;
    }

    return lrmcf;
}


static char *
ngx_http_gateway_rl_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_gateway_rl_main_conf_t *lrmcf = conf;

    ngx_uint_t                    i;
    ngx_http_gateway_rl_ref_t    *ref;
    ngx_http_gateway_rl_zone_t  **zones;

    zones = lrmcf->zones.elts;

    for (i = 0; i < lrmcf->zones.nelts; i++) {
        if (zones[i]->redis_name.len == 0) {
            continue;
        }

        zones[i]->redis = ngx_http_gateway_redis_find(cf,
                                                      &zones[i]->redis_name);

        if (zones[i]->redis == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "gateway_rate_limit_zone \"%V\" uses an unknown "
                          "gateway_redis \"%V\" in %s:%ui",
                          &zones[i]->name, &zones[i]->redis_name,
                          zones[i]->conf_file, zones[i]->conf_line);
            return NGX_CONF_ERROR;
        }

        ngx_http_gateway_redis_use(zones[i]->redis);
    }

    ref = lrmcf->refs.elts;

    for (i = 0; i < lrmcf->refs.nelts; i++) {
        if (ngx_http_gateway_shm_data(ref[i].shm_zone) == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "unknown gateway_rate_limit_zone \"%V\" "
                          "in gateway_rate_limit in %s:%ui",
                          &ref[i].shm_zone->shm.name, ref[i].file,
                          ref[i].line);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_gateway_rl_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_gateway_rl_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_gateway_rl_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->limits = NULL;
     */

    conf->status = NGX_CONF_UNSET_UINT;
    conf->headers = NGX_CONF_UNSET_UINT;
    conf->log_level = NGX_CONF_UNSET_UINT;

    return conf;
}


static char *
ngx_http_gateway_rl_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_gateway_rl_loc_conf_t *prev = parent;
    ngx_http_gateway_rl_loc_conf_t *conf = child;

    ngx_uint_t                    i;
    ngx_http_gateway_rl_zone_t   *zone;
    ngx_http_gateway_rl_limit_t  *limits;

    /* like limit_req: inherited only when a level declares none */
    if (conf->limits == NULL) {
        conf->limits = prev->limits;
    }

    conf->redis = 0;

    if (conf->limits) {
        limits = conf->limits->elts;

        for (i = 0; i < conf->limits->nelts; i++) {
            zone = ngx_http_gateway_shm_data(limits[i].shm_zone);
            limits[i].zone = zone;

            if (zone != NULL && zone->redis_name.len) {
                conf->redis = 1;
            }
        }
    }

    ngx_conf_merge_uint_value(conf->status, prev->status,
                              NGX_HTTP_TOO_MANY_REQUESTS);
    ngx_conf_merge_uint_value(conf->headers, prev->headers,
                              NGX_HTTP_GATEWAY_RL_HEADERS_IETF);
    ngx_conf_merge_uint_value(conf->log_level, prev->log_level, NGX_LOG_ERR);

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_gateway_rl_init(ngx_conf_t *cf)
{
    ngx_http_gateway_rl_main_conf_t  *lrmcf;

    lrmcf = ngx_http_conf_get_module_main_conf(cf,
                                           ngx_http_gateway_rate_limit_module);

    if (ngx_http_gateway_rl_status_add(cf, &lrmcf->zones) != NGX_OK) {
        return NGX_ERROR;
    }

    if (lrmcf->refs.nelts == 0) {
        return NGX_OK;
    }

    ngx_http_gateway_rl_redis_init();
    ngx_http_gateway_rl_header_filter_init();

    return ngx_http_gateway_add_step(cf, NGX_HTTP_GATEWAY_STEP_RATE_LIMIT,
                                     ngx_http_gateway_rate_limit_check);
}
