/*
 * ngx_http_gateway_rbac_module: role based access on the verified JWT.
 *
 * gateway_rbac_role grants roles "resource:action" permissions (http);
 * gateway_authorize names the permission a location needs, and
 * gateway_roles_claim where the token keeps its roles.
 */

#include "ngx_http_gateway_jwt.h"


typedef struct {
    gw_rbac_t                 *rbac;
    ngx_uint_t                 used;       /* some gateway_authorize */
} ngx_http_gateway_rbac_main_conf_t;


/* Per main request, once a location denied it. */
typedef struct {
    unsigned                   denied:1;
} ngx_http_gateway_rbac_ctx_t;


typedef struct {
    ngx_http_complex_value_t  *resource;   /* NULL: no authorization */
    ngx_http_complex_value_t  *action;
    ngx_str_t                  roles_claim;
    ngx_uint_t                 authorize_set;
    ngx_http_gateway_stat_t   *results;    /* JWT's, of this route */
} ngx_http_gateway_rbac_loc_conf_t;


static ngx_int_t ngx_http_gateway_rbac_check(ngx_http_request_t *r);
static ngx_uint_t ngx_http_gateway_rbac_refused(ngx_http_request_t *r);
static ngx_int_t ngx_http_gateway_rbac_forbid(ngx_http_request_t *r);
static ngx_int_t ngx_http_gateway_action_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static char *ngx_http_gateway_rbac_role(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_gateway_authorize(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void ngx_http_gateway_rbac_cleanup(void *data);
static void *ngx_http_gateway_rbac_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_gateway_rbac_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_gateway_rbac_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static ngx_int_t ngx_http_gateway_rbac_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_gateway_rbac_init(ngx_conf_t *cf);


static ngx_command_t  ngx_http_gateway_rbac_commands[] = {

    { ngx_string("gateway_rbac_role"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_gateway_rbac_role,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gateway_roles_claim"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gateway_rbac_loc_conf_t, roles_claim),
      NULL },

    { ngx_string("gateway_authorize"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_gateway_authorize,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_gateway_rbac_module_ctx = {
    ngx_http_gateway_rbac_add_variables,   /* preconfiguration */
    ngx_http_gateway_rbac_init,            /* postconfiguration */

    ngx_http_gateway_rbac_create_main_conf, /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_gateway_rbac_create_loc_conf, /* create location configuration */
    ngx_http_gateway_rbac_merge_loc_conf   /* merge location configuration */
};


ngx_module_t  ngx_http_gateway_rbac_module = {
    NGX_MODULE_V1,
    &ngx_http_gateway_rbac_module_ctx,     /* module context */
    ngx_http_gateway_rbac_commands,        /* module directives */
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


static ngx_http_variable_t  ngx_http_gateway_rbac_vars[] = {

    { ngx_string("gateway_action"), NULL,
      ngx_http_gateway_action_variable, 0, 0, 0 },

      ngx_http_null_variable
};


static ngx_int_t
ngx_http_gateway_rbac_check(ngx_http_request_t *r)
{
    gw_jwt_t                           *jwt;
    ngx_str_t                           resource, action;
    ngx_uint_t                          exempt;
    ngx_http_gateway_rbac_loc_conf_t   *rlcf;
    ngx_http_gateway_rbac_main_conf_t  *rmcf;

    /* subrequests inherit the main request's decision */

    if (r != r->main) {
        return NGX_DECLINED;
    }

    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_gateway_rbac_module);

    if (rlcf->resource == NULL) {
        return NGX_DECLINED;
    }

    /*
     * Every location the request enters authorizes it anew, error pages
     * too, except the error page of a request the gateway refused
     */

    if (r->error_page && ngx_http_gateway_rbac_refused(r)) {
        return NGX_DECLINED;
    }

    jwt = ngx_http_gateway_jwt_token(r, &exempt);

    if (exempt) {
        /* gateway_jwt evaluated to "off": exempt from authorization too */
        return NGX_DECLINED;
    }

    if (jwt == NULL) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "gateway rbac: no verified token to authorize");
        return ngx_http_gateway_rbac_forbid(r);
    }

    if (ngx_http_complex_value(r, rlcf->resource, &resource) != NGX_OK
        || ngx_http_complex_value(r, rlcf->action, &action) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_gateway_rbac_module);

    if (gw_rbac_allows(rmcf->rbac, jwt, (char *) rlcf->roles_claim.data,
                       rlcf->roles_claim.len, (char *) resource.data,
                       resource.len, (char *) action.data, action.len))
    {
        /* authorized: what "satisfy any" takes as access granted */
        return NGX_OK;
    }

    /* the resource may hold the decoded path: no line breaks in the log */

    if (r->connection->log->log_level >= NGX_LOG_INFO) {
        (void) ngx_http_gateway_escape_controls(r->pool, &resource,
                                                &resource);
        (void) ngx_http_gateway_escape_controls(r->pool, &action, &action);

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "gateway rbac: \"%V:%V\" denied", &resource, &action);
    }

    return ngx_http_gateway_rbac_forbid(r);
}


static ngx_http_gateway_rbac_ctx_t *
ngx_http_gateway_rbac_ctx(ngx_http_request_t *r)
{
    return ngx_http_gateway_request_state(r, &ngx_http_gateway_rbac_module,
                                          sizeof(ngx_http_gateway_rbac_ctx_t));
}


static ngx_uint_t
ngx_http_gateway_rbac_refused(ngx_http_request_t *r)
{
    ngx_http_gateway_rbac_ctx_t  *ctx;

    if (ngx_http_gateway_jwt_refused(r)) {
        return 1;
    }

    ctx = ngx_http_gateway_rbac_ctx(r);

    return ctx && ctx->denied;
}


static ngx_int_t
ngx_http_gateway_rbac_forbid(ngx_http_request_t *r)
{
    ngx_http_gateway_rbac_ctx_t       *ctx;
    ngx_http_gateway_rbac_loc_conf_t  *rlcf;

    static ngx_str_t  challenge =
        ngx_string("Bearer error=\"insufficient_scope\"");

    ctx = ngx_http_gateway_rbac_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->denied = 1;

    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_gateway_rbac_module);
    ngx_http_gateway_stats_add(rlcf->results,
                               NGX_HTTP_GATEWAY_JWT_RESULT_FORBIDDEN, 1);

    if (ngx_http_gateway_set_www_authenticate(r, &challenge) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_HTTP_FORBIDDEN;
}


/*
 * Only the documented methods are actions; any other method is itself, as
 * sent: nginx accepts only upper-case method names, so "READ" or
 * "CREATE" can never pass for "read" or "create".
 */

static ngx_int_t
ngx_http_gateway_action_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    switch (r->method) {

    case NGX_HTTP_GET:
    case NGX_HTTP_HEAD:
        ngx_str_set(v, "read");
        break;

    case NGX_HTTP_POST:
        ngx_str_set(v, "create");
        break;

    case NGX_HTTP_PUT:
    case NGX_HTTP_PATCH:
        ngx_str_set(v, "update");
        break;

    case NGX_HTTP_DELETE:
        ngx_str_set(v, "delete");
        break;

    default:
        v->data = r->method_name.data;
        v->len = r->method_name.len;
    }

    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


static char *
ngx_http_gateway_rbac_role(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gateway_rbac_main_conf_t *rmcf = conf;

    ngx_str_t           *value;
    ngx_uint_t           i;
    ngx_pool_cleanup_t  *cln;
    char                 err[GW_JWT_ERRLEN];

    if (rmcf->rbac == NULL) {
        cln = ngx_pool_cleanup_add(cf->pool, 0);
        if (cln == NULL) {
            return NGX_CONF_ERROR;
        }

        rmcf->rbac = gw_rbac_new();
        if (rmcf->rbac == NULL) {
            return NGX_CONF_ERROR;
        }

        cln->handler = ngx_http_gateway_rbac_cleanup;
        cln->data = rmcf->rbac;
    }

    value = cf->args->elts;

    for (i = 2; i < cf->args->nelts; i++) {
        if (gw_rbac_grant(rmcf->rbac, (char *) value[1].data, value[1].len,
                          (char *) value[i].data, value[i].len, err,
                          sizeof(err))
            != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid permission \"%V\" for role \"%V\": %s",
                               &value[i], &value[1], err);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static void
ngx_http_gateway_rbac_cleanup(void *data)
{
    gw_rbac_free(data);
}


static char *
ngx_http_gateway_authorize(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gateway_rbac_loc_conf_t *rlcf = conf;

    u_char                             *colon;
    ngx_str_t                          *value, part[2];
    ngx_uint_t                          i;
    ngx_http_gateway_rbac_main_conf_t  *rmcf;

    if (rlcf->authorize_set) {
        return "is duplicate";
    }

    rlcf->authorize_set = 1;
    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        rlcf->resource = NULL;
        return NGX_CONF_OK;
    }

    /* split at the last colon: resources may hold colons, actions not */

    colon = NULL;

    for (i = 0; i < value[1].len; i++) {
        if (value[1].data[i] == ':') {
            colon = &value[1].data[i];
        }
    }

    if (colon == NULL || colon == value[1].data
        || colon == value[1].data + value[1].len - 1)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid permission \"%V\", expected "
                           "\"resource:action\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    part[0].data = value[1].data;
    part[0].len = colon - value[1].data;
    part[1].data = colon + 1;
    part[1].len = value[1].data + value[1].len - (colon + 1);

    rlcf->resource = ngx_http_gateway_compile_complex_value(cf, &part[0]);
    if (rlcf->resource == NULL) {
        return NGX_CONF_ERROR;
    }

    rlcf->action = ngx_http_gateway_compile_complex_value(cf, &part[1]);
    if (rlcf->action == NULL) {
        return NGX_CONF_ERROR;
    }

    rmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_gateway_rbac_module);
    rmcf->used = 1;

    return NGX_CONF_OK;
}


static void *
ngx_http_gateway_rbac_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_gateway_rbac_main_conf_t  *rmcf;

    rmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_gateway_rbac_main_conf_t));
    if (rmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     rmcf->rbac = NULL;
     */

    return rmcf;
}


static void *
ngx_http_gateway_rbac_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_gateway_rbac_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_gateway_rbac_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->resource = NULL;
     *     conf->action = NULL;
     *     conf->roles_claim = { 0, NULL };
     *     conf->authorize_set = 0;
     */

    return conf;
}


static char *
ngx_http_gateway_rbac_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_gateway_rbac_loc_conf_t *prev = parent;
    ngx_http_gateway_rbac_loc_conf_t *conf = child;

    if (!conf->authorize_set) {
        conf->authorize_set = prev->authorize_set;
        conf->resource = prev->resource;
        conf->action = prev->action;
    }

    ngx_conf_merge_str_value(conf->roles_claim, prev->roles_claim, "roles");

    if (conf->resource) {
        conf->results = ngx_http_gateway_jwt_results(cf);
        if (conf->results == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (conf->roles_claim.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "empty \"gateway_roles_claim\"");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_gateway_rbac_add_variables(ngx_conf_t *cf)
{
    return ngx_http_gateway_register_variables(cf, ngx_http_gateway_rbac_vars);
}


static ngx_int_t
ngx_http_gateway_rbac_init(ngx_conf_t *cf)
{
    ngx_http_gateway_rbac_main_conf_t  *rmcf;

    rmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_gateway_rbac_module);

    if (!rmcf->used) {
        return NGX_OK;
    }

    return ngx_http_gateway_add_step(cf, NGX_HTTP_GATEWAY_STEP_RBAC,
                                     ngx_http_gateway_rbac_check);
}
