/*
 * ngx_http_gateway_redis_module: named Redis servers.
 *
 *   gateway_redis NAME HOST:PORT [password=P] [db=N] [connect_timeout=T]
 *                 [timeout=T];
 *
 * Each is a background link (connected by the workers when some feature
 * uses it) and the client's per-worker state; the protocol is in
 * ngx_http_gateway_redis.c.
 */

#include "ngx_http_gateway_redis_client.h"


typedef struct {
    ngx_array_t                        redis;   /* ngx_http_gateway_redis_t * */
    ngx_http_gateway_stats_family_t   *errors;
} ngx_http_gateway_redis_main_conf_t;


/* what gateway_redis's options say */
typedef struct {
    ngx_str_t                          password;
    ngx_int_t                          db;
    ngx_msec_t                         connect_timeout;
    ngx_msec_t                         timeout;
} ngx_http_gateway_redis_options_t;


static char *ngx_http_gateway_redis_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_gateway_redis_status(gw_json_writer_t *w,
    void *data);
static void *ngx_http_gateway_redis_create_main_conf(ngx_conf_t *cf);
static ngx_int_t ngx_http_gateway_redis_init(ngx_conf_t *cf);


static ngx_http_gateway_arg_t  ngx_http_gateway_redis_args[] = {

    { ngx_string("password"), ngx_http_gateway_arg_str,
      offsetof(ngx_http_gateway_redis_options_t, password), NULL },

    { ngx_string("db"), ngx_http_gateway_arg_number,
      offsetof(ngx_http_gateway_redis_options_t, db), NULL },

    { ngx_string("connect_timeout"), ngx_http_gateway_arg_msec,
      offsetof(ngx_http_gateway_redis_options_t, connect_timeout), NULL },

    { ngx_string("timeout"), ngx_http_gateway_arg_msec,
      offsetof(ngx_http_gateway_redis_options_t, timeout), NULL },

      ngx_http_gateway_null_arg
};


/* gateway_redis_errors_total{redis} */

static ngx_str_t  ngx_http_gateway_redis_label[] = {
    ngx_string("redis"),
    ngx_null_string
};

static ngx_http_gateway_stats_def_t  ngx_http_gateway_redis_errors_def = {
    ngx_string("gateway_redis_errors_total"),
    ngx_string("Redis failures (connection, timeout, bad answer) and error "
               "replies, by gateway_redis."),
    GW_METRIC_COUNTER,
    ngx_http_gateway_redis_label,
    NULL,
    0, NULL, NULL
};


static ngx_command_t  ngx_http_gateway_redis_commands[] = {

    { ngx_string("gateway_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_gateway_redis_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_gateway_redis_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_gateway_redis_init,           /* postconfiguration */

    ngx_http_gateway_redis_create_main_conf, /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_gateway_redis_module = {
    NGX_MODULE_V1,
    &ngx_http_gateway_redis_module_ctx,    /* module context */
    ngx_http_gateway_redis_commands,       /* module directives */
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


ngx_http_gateway_redis_t *
ngx_http_gateway_redis_find(ngx_conf_t *cf, ngx_str_t *name)
{
    ngx_uint_t                           i;
    ngx_http_gateway_redis_t           **redis;
    ngx_http_gateway_redis_main_conf_t  *rmcf;

    rmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_gateway_redis_module);
    if (rmcf == NULL) {
        return NULL;
    }

    redis = rmcf->redis.elts;

    for (i = 0; i < rmcf->redis.nelts; i++) {
        if (redis[i]->name.len == name->len
            && ngx_strncmp(redis[i]->name.data, name->data, name->len) == 0)
        {
            return redis[i];
        }
    }

    return NULL;
}


void
ngx_http_gateway_redis_use(ngx_http_gateway_redis_t *redis)
{
    redis->link->persistent = 1;
}


ngx_str_t *
ngx_http_gateway_redis_name(ngx_http_gateway_redis_t *redis)
{
    return &redis->name;
}


static char *
ngx_http_gateway_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_gateway_redis_main_conf_t *rmcf = conf;

    ngx_str_t                         *value, name;
    ngx_http_gateway_redis_t          *redis, **slot;
    ngx_http_gateway_redis_options_t   opt;

    value = cf->args->elts;

    if (ngx_http_gateway_redis_find(cf, &value[1]) != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate gateway_redis \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&opt, sizeof(ngx_http_gateway_redis_options_t));
    opt.connect_timeout = 1000;
    opt.timeout = 500;

    if (ngx_http_gateway_conf_args(cf, 3, ngx_http_gateway_redis_args, &opt)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    redis = ngx_pcalloc(cf->pool, sizeof(ngx_http_gateway_redis_t));
    if (redis == NULL) {
        return NGX_CONF_ERROR;
    }

    redis->name = value[1];
    redis->password = opt.password;
    redis->db = opt.db;
    redis->timeout = opt.timeout;

    ngx_queue_init(&redis->sent);
    ngx_queue_init(&redis->queued);

    /* the link's name in logs: gateway_redis "NAME" */

    name.len = sizeof("gateway_redis \"\"") - 1 + value[1].len;
    name.data = ngx_pnalloc(cf->pool, name.len);
    if (name.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_sprintf(name.data, "gateway_redis \"%V\"", &value[1]);

    redis->link = ngx_http_gateway_link_add(cf, &name, &value[2], 6379);
    if (redis->link == NULL) {
        return NGX_CONF_ERROR;
    }

    redis->link->data = redis;
    redis->link->handlers = &ngx_http_gateway_redis_link_handlers;
    redis->link->connect_timeout = opt.connect_timeout;
    redis->link->effect = "its users fall back until it is back";

    if (rmcf->errors == NULL) {
        rmcf->errors = ngx_http_gateway_stats_family(cf,
                                          &ngx_http_gateway_redis_errors_def);
        if (rmcf->errors == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    redis->errors = ngx_http_gateway_stats_series(cf, rmcf->errors,
                                                  &value[1]);
    if (redis->errors == NULL) {
        return NGX_CONF_ERROR;
    }

    redis->link->failures_stat = redis->errors;

    slot = ngx_array_push(&rmcf->redis);
    if (slot == NULL) {
        return NGX_CONF_ERROR;
    }

    *slot = redis;

    return NGX_CONF_OK;
}


static void *
ngx_http_gateway_redis_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_gateway_redis_main_conf_t  *rmcf;

    rmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_gateway_redis_main_conf_t));
    if (rmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&rmcf->redis, cf->pool, 2,
                       sizeof(ngx_http_gateway_redis_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return rmcf;
}


/* "redis": {"NAME": {the link as this worker sees it}, ...} */

static ngx_int_t
ngx_http_gateway_redis_status(gw_json_writer_t *w, void *data)
{
    ngx_http_gateway_redis_main_conf_t *rmcf = data;

    ngx_uint_t                 i;
    ngx_http_gateway_redis_t **redis;

    redis = rmcf->redis.elts;

    gw_json_object_begin(w);

    for (i = 0; i < rmcf->redis.nelts; i++) {
        gw_json_key(w, (char *) redis[i]->name.data, redis[i]->name.len);
        ngx_http_gateway_link_status(redis[i]->link, w);
    }

    gw_json_object_end(w);

    return NGX_OK;
}


static ngx_int_t
ngx_http_gateway_redis_init(ngx_conf_t *cf)
{
    ngx_http_gateway_redis_main_conf_t  *rmcf;

    static ngx_str_t  section = ngx_string("redis");

    rmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_gateway_redis_module);

    if (rmcf->redis.nelts == 0) {
        return NGX_OK;
    }

    return ngx_http_gateway_status_add(cf, &section,
                                       ngx_http_gateway_redis_status, rmcf);
}
