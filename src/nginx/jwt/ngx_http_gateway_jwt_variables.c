/*
 * The variables of a verified token: $gateway_jwt_claim_NAME,
 * $gateway_jwt_header_NAME, those of gateway_jwt_claim_set, and
 * $gateway_jwt_cache_status; and the check's outcome, $gateway_jwt_status. They are not found until the token's
 * signature and claims have been verified. Control bytes in a value are
 * rendered as \xHH, so no claim can split a header or a log line.
 */

#include "ngx_http_gateway_jwt.h"


typedef struct {
    gw_jwt_str_t                  *path;
    ngx_uint_t                     depth;
} ngx_http_gateway_jwt_claim_set_t;


static ngx_int_t ngx_http_gateway_jwt_claim_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_gateway_jwt_header_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_gateway_jwt_claim_set_variable(
    ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_gateway_jwt_cache_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_str_t *ngx_http_gateway_jwt_status(ngx_http_request_t *r);


static ngx_http_variable_t  ngx_http_gateway_jwt_vars[] = {

    { ngx_string("gateway_jwt_claim_"), NULL,
      ngx_http_gateway_jwt_claim_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_PREFIX, 0 },

    { ngx_string("gateway_jwt_header_"), NULL,
      ngx_http_gateway_jwt_header_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_PREFIX, 0 },

    { ngx_string("gateway_jwt_cache_status"), NULL,
      ngx_http_gateway_jwt_cache_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("gateway_jwt_status"), NULL,
      ngx_http_gateway_decision_variable, NGX_HTTP_GATEWAY_DECISION_JWT,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_str_t  ngx_http_gateway_jwt_claim_prefix =
    ngx_string("gateway_jwt_claim_");
static ngx_str_t  ngx_http_gateway_jwt_header_prefix =
    ngx_string("gateway_jwt_header_");


/* $gateway_jwt_status */
static ngx_str_t  ngx_http_gateway_jwt_valid = ngx_string("VALID");
static ngx_str_t  ngx_http_gateway_jwt_missing = ngx_string("MISSING");
static ngx_str_t  ngx_http_gateway_jwt_denied = ngx_string("DENIED");
static ngx_str_t  ngx_http_gateway_jwt_invalid = ngx_string("INVALID");


ngx_int_t
ngx_http_gateway_jwt_add_variables(ngx_conf_t *cf)
{
    ngx_http_gateway_decision_reader(cf, NGX_HTTP_GATEWAY_DECISION_JWT,
                                     ngx_http_gateway_jwt_status);

    return ngx_http_gateway_register_variables(cf, ngx_http_gateway_jwt_vars);
}


/*
 * VALID, MISSING (no token: 401 without an error), INVALID (401
 * invalid_token) or DENIED (gateway_jwt_require unmet); none when no check
 * ran (no gateway_jwt, or "off" for the request).
 */
static ngx_str_t *
ngx_http_gateway_jwt_status(ngx_http_request_t *r)
{
    ngx_http_gateway_jwt_ctx_t  *ctx;

    ctx = ngx_http_gateway_jwt_ctx(r);

    if (ctx == NULL || !ctx->done) {
        return NULL;
    }

    if (ctx->status == NGX_OK) {
        return &ngx_http_gateway_jwt_valid;
    }

    if (ctx->error == NULL) {
        return &ngx_http_gateway_jwt_missing;
    }

    return ctx->unmet ? &ngx_http_gateway_jwt_denied
                      : &ngx_http_gateway_jwt_invalid;
}


char *
ngx_http_gateway_jwt_claim_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t                         *value, name;
    ngx_uint_t                         i;
    ngx_http_variable_t               *v;
    ngx_http_gateway_jwt_claim_set_t  *cs;

    value = cf->args->elts;
    name = value[1];

    if (name.len < 2 || name.data[0] != '$') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid variable name \"%V\"", &name);
        return NGX_CONF_ERROR;
    }

    name.data++;
    name.len--;

    v = ngx_http_add_variable(cf, &name, NGX_HTTP_VAR_NOCACHEABLE);
    if (v == NULL) {
        return NGX_CONF_ERROR;
    }

    if (v->get_handler) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "variable \"%V\" is already defined", &value[1]);
        return NGX_CONF_ERROR;
    }

    cs = ngx_palloc(cf->pool, sizeof(ngx_http_gateway_jwt_claim_set_t));
    if (cs == NULL) {
        return NGX_CONF_ERROR;
    }

    cs->depth = cf->args->nelts - 2;
    cs->path = ngx_palloc(cf->pool, cs->depth * sizeof(gw_jwt_str_t));
    if (cs->path == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < cs->depth; i++) {
        cs->path[i].data = (char *) value[i + 2].data;
        cs->path[i].len = value[i + 2].len;
    }

    v->get_handler = ngx_http_gateway_jwt_claim_set_variable;
    v->data = (uintptr_t) cs;

    return NGX_CONF_OK;
}


/*
 * found: the verified token has the value (none has nothing). Identity
 * providers let users write their own names: a byte below 0x20 or 0x7f
 * becomes \xHH (nginx's log escaping), everything else stays as it is.
 */

static ngx_int_t
ngx_http_gateway_jwt_set_value(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, int found, gw_jwt_str_t *value)
{
    ngx_str_t  text, escaped;

    if (!found) {
        v->not_found = 1;
        return NGX_OK;
    }

    text.data = (u_char *) value->data;
    text.len = value->len;

    if (ngx_http_gateway_escape_controls(r->pool, &text, &escaped) != NGX_OK) {
        return NGX_ERROR;
    }

    v->data = escaped.data;
    v->len = escaped.len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_gateway_jwt_claim_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t *name = (ngx_str_t *) data;

    gw_jwt_t      *jwt;
    gw_jwt_str_t   path, value;

    jwt = ngx_http_gateway_jwt_verified(r);

    path.data = (char *) name->data + ngx_http_gateway_jwt_claim_prefix.len;
    path.len = name->len - ngx_http_gateway_jwt_claim_prefix.len;

    return ngx_http_gateway_jwt_set_value(r, v,
                                 jwt && gw_jwt_claim(jwt, &path, 1, &value),
                                 &value);
}


static ngx_int_t
ngx_http_gateway_jwt_header_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t *name = (ngx_str_t *) data;

    gw_jwt_t      *jwt;
    gw_jwt_str_t   member, value;

    jwt = ngx_http_gateway_jwt_verified(r);

    member.data = (char *) name->data + ngx_http_gateway_jwt_header_prefix.len;
    member.len = name->len - ngx_http_gateway_jwt_header_prefix.len;

    return ngx_http_gateway_jwt_set_value(r, v,
                jwt && gw_jwt_header(jwt, member.data, member.len, &value),
                &value);
}


static ngx_int_t
ngx_http_gateway_jwt_claim_set_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_gateway_jwt_claim_set_t *cs = (void *) data;

    gw_jwt_t      *jwt;
    gw_jwt_str_t   value;

    jwt = ngx_http_gateway_jwt_verified(r);

    return ngx_http_gateway_jwt_set_value(r, v,
                   jwt && gw_jwt_claim(jwt, cs->path, cs->depth, &value),
                   &value);
}


static ngx_int_t
ngx_http_gateway_jwt_cache_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_gateway_jwt_ctx_t  *ctx;

    ctx = ngx_http_gateway_jwt_ctx(r);

    if (ctx == NULL || ctx->cache == NGX_HTTP_GATEWAY_JWT_CACHE_NONE) {
        v->not_found = 1;
        return NGX_OK;
    }

    if (ctx->cache == NGX_HTTP_GATEWAY_JWT_CACHE_HIT) {
        ngx_str_set(v, "HIT");

    } else {
        ngx_str_set(v, "MISS");
    }

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


