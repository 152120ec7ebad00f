/*
 * ngx_http_gateway_cache_module: responses cached in a gateway_redis.
 *
 *   gateway_cache NAME | off;
 *   gateway_cache_key VALUE;            $scheme$request_method$host$request_uri
 *   gateway_cache_ttl TIME;             5m
 *   gateway_cache_methods GET | HEAD | POST ...;
 *   gateway_cache_bypass VALUE ...;
 *   gateway_cache_max_size SIZE;        1m
 *   gateway_cache_authorized on | off;  off
 *   $gateway_cache_status
 *   gateway_cache_results_total{route,status}
 *
 * The policy and the entry format are the core's (gw_cache.h); the files
 * are listed in ngx_http_gateway_cache.h.
 */

#include "ngx_http_gateway_cache.h"


#define NGX_HTTP_GATEWAY_CACHE_LOG_INTERVAL  10000


static char *ngx_http_gateway_cache_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_gateway_cache_key_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_gateway_cache_set_key(ngx_conf_t *cf,
    ngx_http_gateway_cache_loc_conf_t *conf, ngx_str_t *value);
static char *ngx_http_gateway_cache_max_size_check(ngx_conf_t *cf,
    void *post, void *data);
static ngx_str_t *ngx_http_gateway_cache_status(ngx_http_request_t *r);
static ngx_int_t ngx_http_gateway_cache_add_variables(ngx_conf_t *cf);
static void *ngx_http_gateway_cache_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_gateway_cache_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_gateway_cache_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static ngx_int_t ngx_http_gateway_cache_init(ngx_conf_t *cf);


static ngx_conf_bitmask_t  ngx_http_gateway_cache_methods_mask[] = {
    { ngx_string("GET"), NGX_HTTP_GET },
    { ngx_string("HEAD"), NGX_HTTP_HEAD },
    { ngx_string("POST"), NGX_HTTP_POST },
    { ngx_null_string, 0 }
};


/* Redis refuses a value above its proto-max-bulk-len, 512m by default */
#define NGX_HTTP_GATEWAY_CACHE_MAX_SIZE  (512 * 1024 * 1024 - 65536)

static ngx_conf_post_t  ngx_http_gateway_cache_max_size_post =
    { ngx_http_gateway_cache_max_size_check };


static ngx_command_t  ngx_http_gateway_cache_commands[] = {

    { ngx_string("gateway_cache"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_gateway_cache_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gateway_cache_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_gateway_cache_key_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gateway_cache_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gateway_cache_loc_conf_t, ttl),
      NULL },

    { ngx_string("gateway_cache_methods"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_conf_set_bitmask_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gateway_cache_loc_conf_t, methods),
      &ngx_http_gateway_cache_methods_mask },

    { ngx_string("gateway_cache_bypass"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_set_predicate_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gateway_cache_loc_conf_t, bypass),
      NULL },

    { ngx_string("gateway_cache_max_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gateway_cache_loc_conf_t, max_size),
      &ngx_http_gateway_cache_max_size_post },

    { ngx_string("gateway_cache_authorized"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gateway_cache_loc_conf_t, authorized),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_gateway_cache_module_ctx = {
    ngx_http_gateway_cache_add_variables,  /* preconfiguration */
    ngx_http_gateway_cache_init,           /* postconfiguration */

    ngx_http_gateway_cache_create_main_conf, /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_gateway_cache_create_loc_conf, /* create location configuration */
    ngx_http_gateway_cache_merge_loc_conf  /* merge location configuration */
};


ngx_module_t  ngx_http_gateway_cache_module = {
    NGX_MODULE_V1,
    &ngx_http_gateway_cache_module_ctx,    /* module context */
    ngx_http_gateway_cache_commands,       /* module directives */
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


static ngx_http_variable_t  ngx_http_gateway_cache_vars[] = {

    { ngx_string("gateway_cache_status"), NULL,
      ngx_http_gateway_decision_variable, NGX_HTTP_GATEWAY_DECISION_CACHE,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_str_t  ngx_http_gateway_cache_status_names[] = {
    ngx_null_string,
    ngx_string("HIT"),
    ngx_string("MISS"),
    ngx_string("BYPASS"),
    ngx_string("EXPIRED"),
    ngx_string("ERROR")
};


/* gateway_cache_results_total{route,status} */

static ngx_str_t  ngx_http_gateway_cache_route_label[] = {
    ngx_string("route"),
    ngx_null_string
};

static ngx_str_t  ngx_http_gateway_cache_results[] = {
    ngx_string("hit"),                   /* NGX_HTTP_GATEWAY_CACHE_* - 1 */
    ngx_string("miss"),
    ngx_string("bypass"),
    ngx_string("expired"),
    ngx_string("error"),
    ngx_null_string
};

static ngx_http_gateway_stats_dim_t  ngx_http_gateway_cache_results_dims[] = {
    { ngx_string("status"), ngx_http_gateway_cache_results },
    { ngx_null_string, NULL }
};

static ngx_http_gateway_stats_def_t  ngx_http_gateway_cache_results_def = {
    ngx_string("gateway_cache_results_total"),
    ngx_string("Response cache lookups by route and $gateway_cache_status: "
               "hit, miss, bypass, expired, error (Redis in trouble)."),
    GW_METRIC_COUNTER,
    ngx_http_gateway_cache_route_label,
    ngx_http_gateway_cache_results_dims,
    0, NULL, NULL
};


static ngx_str_t  ngx_http_gateway_cache_default_key =
    ngx_string("$scheme$request_method$host$request_uri");


/* The Redis is found once the http block is read (see the merge). */

static char *
ngx_http_gateway_cache_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_gateway_cache_loc_conf_t *gccf = conf;

    ngx_str_t                           *value;
    ngx_http_gateway_cache_main_conf_t  *gcmcf;

    if (gccf->enable != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        gccf->enable = 0;
        return NGX_CONF_OK;
    }

    gcmcf = ngx_http_conf_get_module_main_conf(cf,
                                               ngx_http_gateway_cache_module);
    gcmcf->used = 1;

    gccf->enable = 1;
    gccf->name = value[1];
    gccf->file = cf->conf_file->file.name.data;
    gccf->line = cf->conf_file->line;

    return NGX_CONF_OK;
}


static char *
ngx_http_gateway_cache_key_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_gateway_cache_loc_conf_t *gccf = conf;

    ngx_str_t  *value;

    if (gccf->key != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid value \"\"");
        return NGX_CONF_ERROR;
    }

    return ngx_http_gateway_cache_set_key(cf, gccf, &value[1]);
}


static char *
ngx_http_gateway_cache_set_key(ngx_conf_t *cf,
    ngx_http_gateway_cache_loc_conf_t *conf, ngx_str_t *value)
{
    conf->key = ngx_http_gateway_key_compile(cf, value);
    if (conf->key == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_gateway_cache_max_size_check(ngx_conf_t *cf, void *post, void *data)
{
    size_t *size = data;

    if (*size > NGX_HTTP_GATEWAY_CACHE_MAX_SIZE) {
        return "must be less than 512m";
    }

    return NGX_CONF_OK;
}


void
ngx_http_gateway_cache_result(ngx_http_gateway_cache_ctx_t *ctx,
    ngx_uint_t status)
{
    ctx->status = status;

    ngx_http_gateway_stats_add(ctx->conf->results, status - 1, 1);
}


static ngx_str_t *
ngx_http_gateway_cache_status(ngx_http_request_t *r)
{
    ngx_http_gateway_cache_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_gateway_cache_module);

    if (ctx == NULL || ctx->status == NGX_HTTP_GATEWAY_CACHE_NONE) {
        return NULL;
    }

    return &ngx_http_gateway_cache_status_names[ctx->status];
}


static ngx_int_t
ngx_http_gateway_cache_add_variables(ngx_conf_t *cf)
{
    ngx_http_gateway_decision_reader(cf, NGX_HTTP_GATEWAY_DECISION_CACHE,
                                     ngx_http_gateway_cache_status);

    return ngx_http_gateway_register_variables(cf,
                                               ngx_http_gateway_cache_vars);
}


void
ngx_http_gateway_cache_log_trouble(ngx_log_t *log,
    ngx_http_gateway_cache_loc_conf_t *conf, const char *what,
    const char *detail)
{
    static ngx_msec_t  logged;

    if (logged
        && ngx_current_msec - logged < NGX_HTTP_GATEWAY_CACHE_LOG_INTERVAL)
    {
        return;
    }

    logged = ngx_current_msec ? ngx_current_msec : 1;

    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "gateway cache: gateway_redis \"%V\" %s%s%s",
                  &conf->name, what, detail ? ": " : "", detail ? detail : "");
}


static void *
ngx_http_gateway_cache_create_main_conf(ngx_conf_t *cf)
{
    /*
     * set by ngx_pcalloc():
     *
     *     gcmcf->used = 0;
     *     gcmcf->results = NULL;
     */

    return ngx_pcalloc(cf->pool, sizeof(ngx_http_gateway_cache_main_conf_t));
}


static void *
ngx_http_gateway_cache_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_gateway_cache_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_gateway_cache_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->name = { 0, NULL };
     *     conf->redis = NULL;
     *     conf->key = NULL;
     *     conf->methods = 0;
     *     conf->results = NULL;
     */

    conf->enable = NGX_CONF_UNSET;
    conf->ttl = NGX_CONF_UNSET;
    conf->bypass = NGX_CONF_UNSET_PTR;
    conf->max_size = NGX_CONF_UNSET_SIZE;
    conf->authorized = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_http_gateway_cache_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_gateway_cache_loc_conf_t *prev = parent;
    ngx_http_gateway_cache_loc_conf_t *conf = child;

    ngx_http_gateway_cache_main_conf_t  *gcmcf;

    if (conf->enable == NGX_CONF_UNSET) {
        conf->enable = prev->enable;
        conf->name = prev->name;
        conf->file = prev->file;
        conf->line = prev->line;
    }

    if (conf->enable == NGX_CONF_UNSET) {
        conf->enable = 0;
    }

    if (conf->enable && conf->redis == NULL) {
        conf->redis = ngx_http_gateway_redis_find(cf, &conf->name);

        if (conf->redis == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "gateway_cache uses an unknown gateway_redis "
                          "\"%V\" in %s:%ui",
                          &conf->name, conf->file, conf->line);
            return NGX_CONF_ERROR;
        }

        ngx_http_gateway_redis_use(conf->redis);

        gcmcf = ngx_http_conf_get_module_main_conf(cf,
                                                ngx_http_gateway_cache_module);

        if (gcmcf->results == NULL) {
            gcmcf->results = ngx_http_gateway_stats_family(cf,
                                          &ngx_http_gateway_cache_results_def);
            if (gcmcf->results == NULL) {
                return NGX_CONF_ERROR;
            }
        }

        conf->results = ngx_http_gateway_stats_series(cf, gcmcf->results,
                                              ngx_http_gateway_route_label(cf));
        if (conf->results == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (conf->key == NULL) {
        conf->key = prev->key;
    }

    if (conf->key == NULL
        && ngx_http_gateway_cache_set_key(cf, conf,
                                          &ngx_http_gateway_cache_default_key)
           != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_value(conf->ttl, prev->ttl, 300);

    /* like proxy_cache_methods: GET and HEAD are always cached */
    ngx_conf_merge_bitmask_value(conf->methods, prev->methods,
                                 (NGX_CONF_BITMASK_SET
                                  |NGX_HTTP_GET|NGX_HTTP_HEAD));
    conf->methods |= NGX_HTTP_GET|NGX_HTTP_HEAD;
    conf->methods &= ~NGX_CONF_BITMASK_SET;   /* it is NGX_HTTP_UNKNOWN's bit */

    ngx_conf_merge_ptr_value(conf->bypass, prev->bypass, NULL);
    ngx_conf_merge_size_value(conf->max_size, prev->max_size, 1024 * 1024);
    ngx_conf_merge_value(conf->authorized, prev->authorized, 0);

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_gateway_cache_init(ngx_conf_t *cf)
{
    ngx_http_gateway_cache_main_conf_t  *gcmcf;

    gcmcf = ngx_http_conf_get_module_main_conf(cf,
                                               ngx_http_gateway_cache_module);

    if (!gcmcf->used) {
        return NGX_OK;
    }

    /*
     * A step of the precontent phase: every access check (the gateway's
     * and nginx's own, whatever "satisfy" says) and the rate limits have
     * let the request through; a hit is served before the upstream's
     * fail-fast check, so even when every peer's circuit is open.
     */

    if (ngx_http_gateway_add_step(cf, NGX_HTTP_GATEWAY_STEP_CACHE,
                                  ngx_http_gateway_cache_lookup_handler)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_gateway_cache_filters_init(cf);
}
