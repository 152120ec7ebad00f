/*
 * ngx_http_gateway_jwt_module: JWT authentication in the access phase.
 *
 * Keys come from PEM/JWKS files (parsed at configuration load), an HMAC
 * secret, or a JWKS fetched by subrequest and shared by the workers in
 * shared memory. Verified tokens may be remembered in a shared LRU keyed by
 * a SHA-256 of the key set and the token. Every location a request enters
 * decides by its own rules; subrequests inherit the main request's result.
 *
 * This file holds the directives and the configuration; the other parts
 * are listed in ngx_http_gateway_jwt.h.
 */

#include "ngx_http_gateway_jwt.h"


static char *ngx_http_gateway_jwt(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_gateway_jwt_algorithms(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_gateway_jwt_str_list(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_gateway_jwt_require(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

static void *ngx_http_gateway_jwt_create_main_conf(ngx_conf_t *cf);
static void ngx_http_gateway_jwt_free_spares(void *data);
static void *ngx_http_gateway_jwt_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_gateway_jwt_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_gateway_jwt_init(ngx_conf_t *cf);


/* gateway_jwt_results_total{route,result} */

static ngx_str_t  ngx_http_gateway_jwt_route_label[] = {
    ngx_string("route"),
    ngx_null_string
};

static ngx_str_t  ngx_http_gateway_jwt_result_names[] = {
    ngx_string("ok"),                    /* NGX_HTTP_GATEWAY_JWT_RESULT_* */
    ngx_string("missing"),
    ngx_string("invalid"),
    ngx_string("expired"),
    ngx_string("forbidden"),
    ngx_null_string
};

static ngx_http_gateway_stats_dim_t  ngx_http_gateway_jwt_results_dims[] = {
    { ngx_string("result"), ngx_http_gateway_jwt_result_names },
    { ngx_null_string, NULL }
};

static ngx_http_gateway_stats_def_t  ngx_http_gateway_jwt_results_def = {
    ngx_string("gateway_jwt_results_total"),
    ngx_string("JWT and RBAC decisions by route: ok, missing token, invalid "
               "or expired token, forbidden (claims or permission)."),
    GW_METRIC_COUNTER,
    ngx_http_gateway_jwt_route_label,
    ngx_http_gateway_jwt_results_dims,
    0, NULL, NULL
};


static ngx_command_t  ngx_http_gateway_jwt_commands[] = {

    { ngx_string("gateway_jwt"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_gateway_jwt,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gateway_jwt_key_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_gateway_jwt_key_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gateway_jwt_secret"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_gateway_jwt_secret,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gateway_jwt_key_request"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_gateway_jwt_key_request,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gateway_jwt_algorithms"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_gateway_jwt_algorithms,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gateway_jwt_loc_conf_t, algorithms),
      NULL },

    { ngx_string("gateway_jwt_issuer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_gateway_jwt_str_list,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gateway_jwt_loc_conf_t, issuers),
      NULL },

    { ngx_string("gateway_jwt_audience"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_gateway_jwt_str_list,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gateway_jwt_loc_conf_t, audiences),
      NULL },

    { ngx_string("gateway_jwt_leeway"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gateway_jwt_loc_conf_t, leeway),
      NULL },

    { ngx_string("gateway_jwt_require"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_gateway_jwt_require,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gateway_jwt_claim_set"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_gateway_jwt_claim_set,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gateway_jwt_key_cache"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gateway_jwt_loc_conf_t, key_cache),
      NULL },

    { ngx_string("gateway_jwt_max_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gateway_jwt_loc_conf_t, max_size),
      NULL },

    { ngx_string("gateway_jwt_require_exp"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gateway_jwt_loc_conf_t, require_exp),
      NULL },

    { ngx_string("gateway_jwt_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_gateway_jwt_cache,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_gateway_jwt_module_ctx = {
    ngx_http_gateway_jwt_add_variables,    /* preconfiguration */
    ngx_http_gateway_jwt_init,             /* postconfiguration */

    ngx_http_gateway_jwt_create_main_conf, /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_gateway_jwt_create_loc_conf,  /* create location configuration */
    ngx_http_gateway_jwt_merge_loc_conf    /* merge location configuration */
};


ngx_module_t  ngx_http_gateway_jwt_module = {
    NGX_MODULE_V1,
    &ngx_http_gateway_jwt_module_ctx,      /* module context */
    ngx_http_gateway_jwt_commands,         /* module directives */
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


/* directives */

static char *
ngx_http_gateway_jwt(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gateway_jwt_loc_conf_t *jlcf = conf;

    ngx_str_t                         *value, var;
    ngx_http_gateway_jwt_main_conf_t  *jmcf;

    if (jlcf->realm != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts != 2) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" after \"off\"",
                               &value[2]);
            return NGX_CONF_ERROR;
        }

        jlcf->realm = NULL;
        jlcf->token = NULL;
        return NGX_CONF_OK;
    }

    jlcf->realm = ngx_http_gateway_compile_complex_value(cf, &value[1]);
    if (jlcf->realm == NULL) {
        return NGX_CONF_ERROR;
    }

    jmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_gateway_jwt_module);
    jmcf->used = 1;

    jlcf->token = NULL;

    if (cf->args->nelts == 3) {
        if (ngx_strncmp(value[2].data, "token=", 6) != 0
            || value[2].len < 7 || value[2].data[6] != '$')
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\", expected "
                               "\"token=$variable\"", &value[2]);
            return NGX_CONF_ERROR;
        }

        var.data = value[2].data + 6;
        var.len = value[2].len - 6;

        jlcf->token = ngx_http_gateway_compile_complex_value(cf, &var);
        if (jlcf->token == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_gateway_jwt_algorithms(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_gateway_jwt_loc_conf_t *jlcf = conf;

    unsigned     bit;
    ngx_str_t   *value;
    ngx_uint_t   i;

    if (jlcf->algorithms != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;
    jlcf->algorithms = 0;

    for (i = 1; i < cf->args->nelts; i++) {
        if (value[i].len == 4
            && ngx_strncasecmp(value[i].data, (u_char *) "none", 4) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "algorithm \"none\" is never accepted");
            return NGX_CONF_ERROR;
        }

        bit = gw_jwt_alg_bit((char *) value[i].data, value[i].len);

        if (bit == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid algorithm \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        jlcf->algorithms |= bit;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_gateway_jwt_str_list(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t     *value, *s;
    ngx_uint_t     i;
    ngx_array_t  **a;

    a = (ngx_array_t **) (p + cmd->offset);

    if (*a == NGX_CONF_UNSET_PTR) {
        *a = ngx_array_create(cf->pool, 2, sizeof(ngx_str_t));
        if (*a == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        if (value[i].len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "empty value in \"%V\"",
                               &cmd->name);
            return NGX_CONF_ERROR;
        }

        s = ngx_array_push(*a);
        if (s == NULL) {
            return NGX_CONF_ERROR;
        }

        *s = value[i];
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_gateway_jwt_require(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gateway_jwt_loc_conf_t *jlcf = conf;

    ngx_str_t                        *value;
    ngx_uint_t                        i, n;
    ngx_http_complex_value_t        **cv;
    ngx_http_gateway_jwt_require_t   *req;

    value = cf->args->elts;
    n = cf->args->nelts;

    if (jlcf->requires == NGX_CONF_UNSET_PTR) {
        jlcf->requires = ngx_array_create(cf->pool, 2,
                                       sizeof(ngx_http_gateway_jwt_require_t));
        if (jlcf->requires == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    req = ngx_array_push(jlcf->requires);
    if (req == NULL) {
        return NGX_CONF_ERROR;
    }

    req->status = NGX_HTTP_UNAUTHORIZED;

    if (ngx_strncmp(value[n - 1].data, "error=", 6) == 0) {
        if (value[n - 1].len == 9
            && ngx_strncmp(value[n - 1].data + 6, "401", 3) == 0)
        {
            req->status = NGX_HTTP_UNAUTHORIZED;

        } else if (value[n - 1].len == 9
                   && ngx_strncmp(value[n - 1].data + 6, "403", 3) == 0)
        {
            req->status = NGX_HTTP_FORBIDDEN;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\", expected "
                               "\"error=401\" or \"error=403\"", &value[n - 1]);
            return NGX_CONF_ERROR;
        }

        n--;
    }

    if (n < 2) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "no values in \"%V\"", &cmd->name);
        return NGX_CONF_ERROR;
    }

    req->values = ngx_array_create(cf->pool, n - 1,
                                   sizeof(ngx_http_complex_value_t *));
    if (req->values == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < n; i++) {
        if (ngx_http_script_variables_count(&value[i]) == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" is not a variable", &value[i]);
            return NGX_CONF_ERROR;
        }

        cv = ngx_array_push(req->values);
        if (cv == NULL) {
            return NGX_CONF_ERROR;
        }

        *cv = ngx_http_gateway_compile_complex_value(cf, &value[i]);
        if (*cv == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/* configuration */

static void *
ngx_http_gateway_jwt_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_gateway_jwt_main_conf_t  *jmcf;

    jmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_gateway_jwt_main_conf_t));
    if (jmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     jmcf->keys = NULL;
     */

    if (ngx_array_init(&jmcf->key_files, cf->pool, 1,
                       sizeof(ngx_http_gateway_jwt_file_t))
        != NGX_OK
        || ngx_array_init(&jmcf->key_requests, cf->pool, 1,
                          sizeof(ngx_http_gateway_jwt_remote_t *))
           != NGX_OK)
    {
        return NULL;
    }

    jmcf->cache = NGX_CONF_UNSET_PTR;
    jmcf->request_id_index = NGX_ERROR;

    return jmcf;
}


static void *
ngx_http_gateway_jwt_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_gateway_jwt_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_gateway_jwt_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->token = NULL;
     *     conf->secret = NULL;
     *     conf->secret_keys = NULL;
     *     conf->iss = NULL;
     *     conf->aud = NULL;
     *     conf->sets = NULL;
     *     conf->nsets = 0;
     *     conf->secret_set = 0;
     */

    conf->realm = NGX_CONF_UNSET_PTR;
    conf->keys = NGX_CONF_UNSET_PTR;
    conf->remote = NGX_CONF_UNSET_PTR;
    conf->algorithms = NGX_CONF_UNSET_UINT;
    conf->issuers = NGX_CONF_UNSET_PTR;
    conf->audiences = NGX_CONF_UNSET_PTR;
    conf->requires = NGX_CONF_UNSET_PTR;
    conf->leeway = NGX_CONF_UNSET;
    conf->key_cache = NGX_CONF_UNSET;
    conf->max_size = NGX_CONF_UNSET_SIZE;
    conf->require_exp = NGX_CONF_UNSET;

    return conf;
}


static gw_jwt_str_t *
ngx_http_gateway_jwt_str_array(ngx_conf_t *cf, ngx_array_t *a)
{
    ngx_str_t     *s;
    ngx_uint_t     i;
    gw_jwt_str_t  *out;

    if (a == NULL) {
        return NULL;
    }

    out = ngx_palloc(cf->pool, a->nelts * sizeof(gw_jwt_str_t));
    if (out == NULL) {
        return NULL;
    }

    s = a->elts;

    for (i = 0; i < a->nelts; i++) {
        out[i].data = (char *) s[i].data;
        out[i].len = s[i].len;
    }

    return out;
}


/* The results series of the location being merged. */

ngx_http_gateway_stat_t *
ngx_http_gateway_jwt_results(ngx_conf_t *cf)
{
    ngx_http_gateway_stats_family_t  *family;

    family = ngx_http_gateway_stats_family(cf,
                                           &ngx_http_gateway_jwt_results_def);
    if (family == NULL) {
        return NULL;
    }

    return ngx_http_gateway_stats_series(cf, family,
                                         ngx_http_gateway_route_label(cf));
}


static char *
ngx_http_gateway_jwt_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_gateway_jwt_loc_conf_t *prev = parent;
    ngx_http_gateway_jwt_loc_conf_t *conf = child;

    if (conf->realm == NGX_CONF_UNSET_PTR) {
        conf->realm = (prev->realm == NGX_CONF_UNSET_PTR) ? NULL : prev->realm;
        conf->token = prev->token;
    }

    ngx_conf_merge_ptr_value(conf->keys, prev->keys, NULL);

    if (!conf->secret_set) {
        conf->secret_set = prev->secret_set;
        conf->secret = prev->secret;
        conf->secret_keys = prev->secret_keys;
    }

    ngx_conf_merge_ptr_value(conf->remote, prev->remote, NULL);

    if (conf->remote) {
        conf->remote = ngx_http_gateway_jwt_server_remote(cf, conf->remote);
        if (conf->remote == NULL) {
            return NGX_CONF_ERROR;
        }
    }
    ngx_conf_merge_uint_value(conf->algorithms, prev->algorithms, 0);
    ngx_conf_merge_ptr_value(conf->issuers, prev->issuers, NULL);
    ngx_conf_merge_ptr_value(conf->audiences, prev->audiences, NULL);
    ngx_conf_merge_ptr_value(conf->requires, prev->requires, NULL);
    ngx_conf_merge_sec_value(conf->leeway, prev->leeway, 0);
    ngx_conf_merge_sec_value(conf->key_cache, prev->key_cache, 600);
    ngx_conf_merge_size_value(conf->max_size, prev->max_size, 8192);
    ngx_conf_merge_value(conf->require_exp, prev->require_exp, 1);

    if (conf->issuers) {
        conf->iss = ngx_http_gateway_jwt_str_array(cf, conf->issuers);
        if (conf->iss == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (conf->audiences) {
        conf->aud = ngx_http_gateway_jwt_str_array(cf, conf->audiences);
        if (conf->aud == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (conf->realm) {
        conf->results = ngx_http_gateway_jwt_results(cf);
        if (conf->results == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    return ngx_http_gateway_jwt_merge_key_sets(cf, conf);
}


static ngx_int_t
ngx_http_gateway_jwt_init(ngx_conf_t *cf)
{
    ngx_str_t                          name = ngx_string("gateway_request_id");
    ngx_pool_cleanup_t                *cln;
    ngx_http_gateway_jwt_main_conf_t  *jmcf;

    jmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_gateway_jwt_module);

    if (jmcf->cache == NGX_CONF_UNSET_PTR) {
        jmcf->cache = NULL;
    }

    jmcf->request_id_index = ngx_http_get_variable_index(cf, &name);

    if (ngx_http_gateway_jwt_status_add(cf, jmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    /* made empty here, so every worker starts with its own */

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    jmcf->spares = gw_jwt_spares_new(NGX_HTTP_GATEWAY_JWT_SPARES);
    if (jmcf->spares == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_gateway_jwt_free_spares;
    cln->data = jmcf->spares;

    if (!jmcf->used) {
        return NGX_OK;
    }

    return ngx_http_gateway_add_step(cf, NGX_HTTP_GATEWAY_STEP_JWT,
                                     ngx_http_gateway_jwt_check);
}


static void
ngx_http_gateway_jwt_free_spares(void *data)
{
    gw_jwt_spares_free(data);
}
