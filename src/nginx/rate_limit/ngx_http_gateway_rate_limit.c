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
} ngx_http_gateway_rl_main_conf_t;


static char *ngx_http_gateway_rl_zone_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_gateway_rl_single_variable(ngx_conf_t *cf,
    ngx_str_t *key);
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
    size_t                             size;
    ssize_t                            n;
    uint32_t                           count, period, algorithm;
    ngx_int_t                          burst;
    ngx_str_t                         *value, name, s;
    ngx_uint_t                         i;
    ngx_http_gateway_rl_zone_t        *zone, **slot;
    ngx_http_gateway_rl_main_conf_t   *lrmcf;

    value = cf->args->elts;
    name = value[1];

    if (name.len == 0 || ngx_strlchr(name.data, name.data + name.len, '=')) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone name \"%V\"", &name);
        return NGX_CONF_ERROR;
    }

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_gateway_rl_zone_t));
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    zone->name = name;
    zone->key_index = NGX_ERROR;
    zone->conf_file = cf->conf_file->file.name.data;
    zone->conf_line = cf->conf_file->line;

    size = 0;
    count = 0;
    period = 0;
    burst = 0;
    algorithm = GW_RL_TOKEN_BUCKET;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "key=", 4) == 0) {

            if (zone->key != NULL) {
                goto duplicate;
            }

            s.data = value[i].data + 4;
            s.len = value[i].len - 4;

            if (s.len == 0) {
                goto invalid;
            }

            zone->key = ngx_http_gateway_compile_complex_value(cf, &s);
            if (zone->key == NULL) {
                return NGX_CONF_ERROR;
            }

            zone->key_index = ngx_http_gateway_rl_single_variable(cf, &s);

            continue;
        }

        if (ngx_strncmp(value[i].data, "rate=", 5) == 0) {

            if (count) {
                goto duplicate;
            }

            if (gw_rl_parse_rate((char *) value[i].data + 5, value[i].len - 5,
                                 &count, &period)
                != GW_RL_OK)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid rate \"%V\", expected "
                                   "\"Nr/s\" or \"Nr/m\" with N from 1 to %ui",
                                   &value[i], (ngx_uint_t) GW_RL_MAX_COUNT);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "size=", 5) == 0) {

            if (size) {
                goto duplicate;
            }

            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            n = ngx_parse_size(&s);

            if (n == NGX_ERROR) {
                goto invalid;
            }

            if (n < (ssize_t) (8 * ngx_pagesize)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "zone \"%V\" is too small", &name);
                return NGX_CONF_ERROR;
            }

            /* LRU links are 32-bit offsets in 8-byte units */
            if ((uint64_t) n > ((uint64_t) 1 << 35)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "zone \"%V\" is too large", &name);
                return NGX_CONF_ERROR;
            }

            size = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "burst=", 6) == 0) {

            if (burst) {
                goto duplicate;
            }

            burst = ngx_atoi(value[i].data + 6, value[i].len - 6);

            if (burst <= 0 || burst > (ngx_int_t) GW_RL_MAX_COUNT) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid burst value \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "algorithm=", 10) == 0) {

            s.data = value[i].data + 10;
            s.len = value[i].len - 10;

            if (s.len == 12 && ngx_strncmp(s.data, "token_bucket", 12) == 0) {
                algorithm = GW_RL_TOKEN_BUCKET;

            } else if (s.len == 14
                       && ngx_strncmp(s.data, "sliding_window", 14) == 0)
            {
                algorithm = GW_RL_SLIDING_WINDOW;

            } else {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid algorithm \"%V\", expected "
                                   "\"token_bucket\" or \"sliding_window\"",
                                   &s);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "redis=", 6) == 0) {

            if (zone->redis_name.data != NULL) {
                goto duplicate;
            }

            zone->redis_name.data = value[i].data + 6;
            zone->redis_name.len = value[i].len - 6;

            if (zone->redis_name.len == 0) {
                goto invalid;
            }

            continue;
        }

        goto invalid;
    }

    if (zone->key == NULL || count == 0 || size == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"key=\", \"rate=\" and "
                           "\"size=\" parameters", &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (burst && algorithm == GW_RL_SLIDING_WINDOW) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"burst=\" is ignored by the sliding_window "
                           "algorithm of zone \"%V\"", &name);
    }

    if (gw_rl_policy_init(&zone->policy, algorithm, count, period,
                          (uint32_t) burst)
        != GW_RL_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid rate limit of zone \"%V\"", &name);
        return NGX_CONF_ERROR;
    }

    zone->size = size;

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

    slot = ngx_array_push(&lrmcf->zones);
    if (slot == NULL) {
        return NGX_CONF_ERROR;
    }

    *slot = zone;

    return NGX_CONF_OK;

duplicate:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "duplicate parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}


/* The index of the variable when a key is "$name" alone, else NGX_ERROR. */

static ngx_int_t
ngx_http_gateway_rl_single_variable(ngx_conf_t *cf, ngx_str_t *key)
{
    ngx_str_t   name;
    ngx_uint_t  i;

    if (key->len < 2 || key->data[0] != '$') {
        return NGX_ERROR;
    }

    for (i = 1; i < key->len; i++) {
        if (!(key->data[i] == '_'
              || (key->data[i] >= 'a' && key->data[i] <= 'z')
              || (key->data[i] >= 'A' && key->data[i] <= 'Z')
              || (key->data[i] >= '0' && key->data[i] <= '9')))
        {
            return NGX_ERROR;
        }
    }

    name.data = key->data + 1;
    name.len = key->len - 1;

    return ngx_http_get_variable_index(cf, &name);
}


static char *
ngx_http_gateway_rl_limit_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_gateway_rl_loc_conf_t *lrcf = conf;

    ngx_int_t                         cost;
    ngx_str_t                        *value;
    ngx_uint_t                        i, dry_run;
    ngx_shm_zone_t                   *shm_zone;
    ngx_http_gateway_rl_ref_t        *ref;
    ngx_http_gateway_rl_limit_t      *limit, *limits;
    ngx_http_gateway_rl_main_conf_t  *lrmcf;

    value = cf->args->elts;

    cost = 1;
    dry_run = 0;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "cost=", 5) == 0) {

            cost = ngx_atoi(value[i].data + 5, value[i].len - 5);

            if (cost <= 0 || cost > (ngx_int_t) GW_RL_MAX_COUNT) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid cost \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (value[i].len == 7 && ngx_strcmp(value[i].data, "dry_run") == 0) {
            dry_run = 1;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
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
    limit->cost = cost;
    limit->dry_run = dry_run;

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
        if (ref[i].shm_zone->data == NULL) {
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
            zone = limits[i].shm_zone->data;

            if (zone != NULL && zone->redis_name.len) {
                conf->redis = 1;
            }
        }
    }

    ngx_conf_merge_uint_value(conf->status, prev->status,
                              NGX_HTTP_TOO_MANY_REQUESTS);
    ngx_conf_merge_uint_value(conf->headers, prev->headers,
                              NGX_HTTP_GATEWAY_RL_HEADERS_IETF);

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_gateway_rl_init(ngx_conf_t *cf)
{
    ngx_http_gateway_rl_redis_init();
    ngx_http_gateway_rl_header_filter_init();

    return NGX_OK;
}
