/*
 * The JWT access check: finds the token, verifies it (with the cache and
 * the key_request keys), checks its claims and gateway_jwt_require, and
 * answers a refusal with WWW-Authenticate as RFC 6750 section 3 spells it.
 * The decision is kept in the main request's state for its location: the
 * access phase run again after a key fetch does not redo the work, and a
 * request that enters another location (try_files, index, error_page,
 * X-Accel-Redirect, a named location) is decided by that location's
 * rules, reusing the verified token when the keys are the same.
 */

#include "ngx_http_gateway_jwt.h"


static void ngx_http_gateway_jwt_enter(ngx_http_gateway_jwt_ctx_t *ctx,
    ngx_http_gateway_jwt_loc_conf_t *jlcf);
static ngx_uint_t ngx_http_gateway_jwt_same_keys(
    ngx_http_gateway_jwt_loc_conf_t *a, ngx_http_gateway_jwt_loc_conf_t *b);
static void ngx_http_gateway_jwt_drop_token(ngx_http_gateway_jwt_ctx_t *ctx);
static ngx_int_t ngx_http_gateway_jwt_find_token(ngx_http_request_t *r,
    ngx_http_gateway_jwt_loc_conf_t *jlcf, ngx_str_t *token);
static ngx_int_t ngx_http_gateway_jwt_verify(ngx_http_request_t *r,
    ngx_http_gateway_jwt_loc_conf_t *jlcf, ngx_http_gateway_jwt_ctx_t *ctx,
    ngx_str_t *token, gw_jwt_status_t *status);
static ngx_uint_t ngx_http_gateway_jwt_cacheable(
    ngx_http_gateway_jwt_loc_conf_t *jlcf, gw_jwt_t *jwt);
static ngx_inline gw_jwt_status_t ngx_http_gateway_jwt_claims(
    ngx_http_gateway_jwt_loc_conf_t *jlcf, gw_jwt_t *jwt, int64_t now);
static ngx_int_t ngx_http_gateway_jwt_requires(ngx_http_request_t *r,
    ngx_http_gateway_jwt_loc_conf_t *jlcf, ngx_uint_t *status);
static ngx_int_t ngx_http_gateway_jwt_reject(ngx_http_request_t *r,
    ngx_http_gateway_jwt_ctx_t *ctx, ngx_int_t status, ngx_uint_t result,
    const char *error);
static ngx_int_t ngx_http_gateway_jwt_answer(ngx_http_request_t *r,
    ngx_http_gateway_jwt_ctx_t *ctx);
static ngx_int_t ngx_http_gateway_jwt_challenge(ngx_http_request_t *r,
    ngx_http_gateway_jwt_ctx_t *ctx, ngx_str_t *challenge);
static void ngx_http_gateway_jwt_free_token(void *data);


ngx_int_t
ngx_http_gateway_jwt_check(ngx_http_request_t *r)
{
    ngx_int_t                         rc;
    ngx_str_t                         realm, token;
    ngx_uint_t                        status;
    gw_jwt_status_t                   st;
    ngx_http_gateway_jwt_ctx_t       *ctx;
    ngx_http_gateway_jwt_loc_conf_t  *jlcf;

    if (r != r->main) {
        return NGX_DECLINED;
    }

    jlcf = ngx_http_get_module_loc_conf(r, ngx_http_gateway_jwt_module);

    if (jlcf->realm == NULL) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_gateway_jwt_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->conf != jlcf) {

        /* the error page of a request refused here is served as it is */

        if (r->error_page && ctx->done && ctx->status != NGX_OK) {
            return NGX_DECLINED;
        }

        ngx_http_gateway_jwt_enter(ctx, jlcf);
    }

    if (ctx->done) {
        if (ctx->status == NGX_OK) {
            return NGX_OK;
        }

        if (r->error_page) {
            return NGX_DECLINED;
        }

        return ngx_http_gateway_jwt_answer(r, ctx);
    }

    if (ctx->waiting || ctx->wait.parked) {
        return NGX_AGAIN;
    }

    if (!ctx->realm_set) {
        if (ngx_http_complex_value(r, jlcf->realm, &realm) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (realm.len == 3 && ngx_strncmp(realm.data, "off", 3) == 0) {
            ctx->exempt = 1;
            return NGX_DECLINED;
        }

        ctx->exempt = 0;
        ctx->realm = realm;
        ctx->realm_set = 1;
    }

    rc = ngx_http_gateway_jwt_find_token(r, jlcf, &token);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_gateway_jwt_reject(r, ctx, NGX_HTTP_UNAUTHORIZED,
                                           NGX_HTTP_GATEWAY_JWT_RESULT_MISSING,
                                           NULL);
    }

    if (ctx->jwt
        && (token.len != ctx->token.len
            || ngx_memcmp(token.data, ctx->token.data, token.len) != 0))
    {
        /* this location takes the token from elsewhere */
        ngx_http_gateway_jwt_drop_token(ctx);
    }

    rc = ngx_http_gateway_jwt_verify(r, jlcf, ctx, &token, &st);

    if (rc == NGX_AGAIN || rc == NGX_ERROR) {
        return rc == NGX_AGAIN ? NGX_AGAIN : NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (st != GW_JWT_OK) {
        return ngx_http_gateway_jwt_reject(r, ctx, NGX_HTTP_UNAUTHORIZED,
                                   st == GW_JWT_EXPIRED
                                   ? NGX_HTTP_GATEWAY_JWT_RESULT_EXPIRED
                                   : NGX_HTTP_GATEWAY_JWT_RESULT_INVALID,
                                   gw_jwt_status_text(st));
    }

    /* claim variables may be used by gateway_jwt_require */

    ctx->verified = 1;

    rc = ngx_http_gateway_jwt_requires(r, jlcf, &status);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        ctx->verified = 0;
        ctx->unmet = 1;
        return ngx_http_gateway_jwt_reject(r, ctx, status,
                                   status == NGX_HTTP_FORBIDDEN
                                   ? NGX_HTTP_GATEWAY_JWT_RESULT_FORBIDDEN
                                   : NGX_HTTP_GATEWAY_JWT_RESULT_INVALID,
                                   "required claims not present");
    }

    ctx->done = 1;
    ctx->status = NGX_OK;

    ngx_http_gateway_stats_add(jlcf->results, NGX_HTTP_GATEWAY_JWT_RESULT_OK,
                               1);

    /* authenticated: what "satisfy any" takes as access granted */

    return NGX_OK;
}


struct gw_jwt_s *
ngx_http_gateway_jwt_token(ngx_http_request_t *r, ngx_uint_t *exempt)
{
    ngx_http_gateway_jwt_ctx_t       *ctx;
    ngx_http_gateway_jwt_loc_conf_t  *jlcf;

    *exempt = 0;

    jlcf = ngx_http_get_module_loc_conf(r, ngx_http_gateway_jwt_module);

    ctx = ngx_http_gateway_jwt_ctx(r);

    /* a decision of another location does not count here */

    if (ctx == NULL || ctx->conf != jlcf) {
        return NULL;
    }

    *exempt = ctx->exempt;

    return ctx->verified ? ctx->jwt : NULL;
}


ngx_uint_t
ngx_http_gateway_jwt_refused(ngx_http_request_t *r)
{
    ngx_http_gateway_jwt_ctx_t  *ctx;

    ctx = ngx_http_gateway_jwt_ctx(r);

    return ctx && ctx->done && ctx->status != NGX_OK;
}


/* The token the request's last decision accepted, for the variables. */

gw_jwt_t *
ngx_http_gateway_jwt_verified(ngx_http_request_t *r)
{
    ngx_http_gateway_jwt_ctx_t  *ctx;

    ctx = ngx_http_gateway_jwt_ctx(r);

    return (ctx && ctx->verified) ? ctx->jwt : NULL;
}


ngx_http_gateway_jwt_ctx_t *
ngx_http_gateway_jwt_ctx(ngx_http_request_t *r)
{
    return ngx_http_gateway_request_state(r, &ngx_http_gateway_jwt_module,
                                          sizeof(ngx_http_gateway_jwt_ctx_t));
}


/*
 * The request is in a location other than the one that decided (or none
 * did yet): realm, claims, gateway_jwt_require and the answer are this
 * location's; the token's signature stands if the keys are the same.
 */

static void
ngx_http_gateway_jwt_enter(ngx_http_gateway_jwt_ctx_t *ctx,
    ngx_http_gateway_jwt_loc_conf_t *jlcf)
{
    ngx_http_gateway_jwt_loc_conf_t  *prev;

    prev = ctx->conf;
    ctx->conf = jlcf;

    if (prev == NULL) {
        return;
    }

    ctx->done = 0;
    ctx->status = NGX_OK;
    ctx->error = NULL;
    ctx->verified = 0;
    ctx->exempt = 0;
    ctx->realm_set = 0;

    if (!ctx->trusted || !ngx_http_gateway_jwt_same_keys(prev, jlcf)) {
        ngx_http_gateway_jwt_drop_token(ctx);
    }

    if (prev->remote != jlcf->remote) {
        ctx->fetch_tried = 0;
        ctx->refetched = 0;
        ctx->wait.timedout = 0;
    }
}


/*
 * What verifies a token: the static key sets and algorithms (their
 * fingerprint), key_request's keys and the size limit. A secret with
 * variables may differ from one location to the next: verified again.
 */

static ngx_uint_t
ngx_http_gateway_jwt_same_keys(ngx_http_gateway_jwt_loc_conf_t *a,
    ngx_http_gateway_jwt_loc_conf_t *b)
{
    return a->remote == b->remote
           && a->secret == NULL && b->secret == NULL
           && a->max_size == b->max_size
           && ngx_memcmp(a->fingerprint, b->fingerprint,
                         NGX_HTTP_GATEWAY_JWT_FP_LEN)
              == 0;
}


static void
ngx_http_gateway_jwt_drop_token(ngx_http_gateway_jwt_ctx_t *ctx)
{
    if (ctx->jwt) {
        gw_jwt_release(ctx->spares, ctx->jwt);
        ctx->jwt = NULL;
    }

    ctx->trusted = 0;
    ctx->recent = 0;
    ctx->cache = NGX_HTTP_GATEWAY_JWT_CACHE_NONE;
}


static ngx_int_t
ngx_http_gateway_jwt_find_token(ngx_http_request_t *r,
    ngx_http_gateway_jwt_loc_conf_t *jlcf, ngx_str_t *token)
{
    u_char           *p, *last;
    ngx_table_elt_t  *h;

    if (jlcf->token) {
        if (ngx_http_complex_value(r, jlcf->token, token) != NGX_OK) {
            return NGX_ERROR;
        }

        return token->len ? NGX_OK : NGX_DECLINED;
    }

    h = r->main->headers_in.authorization;

    if (h == NULL || h->value.len < sizeof("Bearer ") - 1
        || ngx_strncasecmp(h->value.data, (u_char *) "Bearer ",
                           sizeof("Bearer ") - 1) != 0)
    {
        return NGX_DECLINED;
    }

    p = h->value.data + sizeof("Bearer ") - 1;
    last = h->value.data + h->value.len;

    while (p < last && *p == ' ') {
        p++;
    }

    while (last > p && (last[-1] == ' ' || last[-1] == '\t')) {
        last--;
    }

    token->data = p;
    token->len = last - p;

    return token->len ? NGX_OK : NGX_DECLINED;
}


static ngx_int_t
ngx_http_gateway_jwt_verify(ngx_http_request_t *r,
    ngx_http_gateway_jwt_loc_conf_t *jlcf, ngx_http_gateway_jwt_ctx_t *ctx,
    ngx_str_t *token, gw_jwt_status_t *status)
{
    size_t                             scope_len;
    int64_t                            now, expire;
    ngx_int_t                          rc;
    ngx_uint_t                         cached, cacheable;
    ngx_time_t                        *tp;
    gw_jwt_keys_t                      keys;
    ngx_pool_cleanup_t                *cln;
    ngx_http_gateway_jwt_main_conf_t  *jmcf;
    const gw_jwt_keyset_t             *sets[NGX_HTTP_GATEWAY_JWT_MAX_SETS];
    u_char                             key[NGX_HTTP_GATEWAY_JWT_FP_LEN];
    u_char                             scope[NGX_HTTP_GATEWAY_JWT_SCOPE_LEN];

    jmcf = ngx_http_get_module_main_conf(r, ngx_http_gateway_jwt_module);

    tp = ngx_timeofday();
    now = (int64_t) tp->sec * 1000 + tp->msec;

    if (ctx->trusted) {
        /* verified with the same keys in the location before */
        *status = ngx_http_gateway_jwt_claims(jlcf, ctx->jwt, now);
        return NGX_OK;
    }

    if (ctx->jwt == NULL) {
        if (!ctx->cleanup) {
            cln = ngx_pool_cleanup_add(r->main->pool, 0);
            if (cln == NULL) {
                return NGX_ERROR;
            }

            cln->handler = ngx_http_gateway_jwt_free_token;
            cln->data = ctx;
            ctx->spares = jmcf->spares;
            ctx->cleanup = 1;
        }

        ctx->token = *token;

        /* a token this worker verified recently needs no parsing */

        if (jmcf->recent && token->len <= jlcf->max_size) {
            scope_len = ngx_http_gateway_jwt_cache_scope(jlcf, scope);

            ctx->jwt = gw_jwt_recent_find(jmcf->recent, scope, scope_len,
                                          (char *) token->data, token->len,
                                          now);

            if (ctx->jwt && !ngx_http_gateway_jwt_cacheable(jlcf, ctx->jwt)) {
                gw_jwt_free(ctx->jwt);
                ctx->jwt = NULL;
            }

            if (ctx->jwt) {
                ctx->recent = 1;
                ctx->keys_version = jlcf->remote ? jlcf->remote->version : 0;
            }
        }

        if (ctx->jwt == NULL) {
            *status = gw_jwt_parse_reusing(jmcf->spares,
                                           (char *) token->data, token->len,
                                           jlcf->max_size, &ctx->jwt);
            if (*status != GW_JWT_OK) {
                return NGX_OK;
            }
        }
    }

    /* the JWKS of gateway_jwt_key_request, fetched when missing or stale */

    rc = ngx_http_gateway_jwt_remote_keys(r, jlcf, ctx);

    if (rc != NGX_DECLINED) {
        return rc;
    }

    if (ctx->recent
        && ctx->keys_version != (jlcf->remote ? jlcf->remote->version : 0))
    {
        /* the keys changed meanwhile: verify the token with the new ones */

        gw_jwt_free(ctx->jwt);
        ctx->jwt = NULL;
        ctx->recent = 0;

        *status = gw_jwt_parse_reusing(jmcf->spares,
                                       (char *) token->data, token->len,
                                       jlcf->max_size, &ctx->jwt);
        if (*status != GW_JWT_OK) {
            return NGX_OK;
        }
    }

    if (ngx_http_gateway_jwt_request_keys(r, jlcf, &keys, sets) != NGX_OK) {
        return NGX_ERROR;
    }

    /* the verified-token cache: asymmetric signatures only, HMAC is cheap */

    cacheable = jmcf->cache != NULL
                && ngx_http_gateway_jwt_cacheable(jlcf, ctx->jwt);
    cached = ctx->recent;
    scope_len = 0;

    if (cacheable && !cached) {
        scope_len = ngx_http_gateway_jwt_cache_scope(jlcf, scope);
        ngx_http_gateway_jwt_cache_key(scope, scope_len, token, key);

        cached = ngx_http_gateway_jwt_cache_lookup(jmcf->cache, key, now)
                 == NGX_OK;
    }

    ctx->cache = cacheable ? (cached ? NGX_HTTP_GATEWAY_JWT_CACHE_HIT
                                     : NGX_HTTP_GATEWAY_JWT_CACHE_MISS)
                           : NGX_HTTP_GATEWAY_JWT_CACHE_NONE;

    if (cached) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "gateway jwt: verified-token cache hit%s",
                       ctx->recent ? " (this worker's)" : "");

        *status = gw_jwt_trust(ctx->jwt);

    } else {
        *status = gw_jwt_verify(ctx->jwt, &keys);

        if (*status == GW_JWT_UNKNOWN_KID) {
            rc = ngx_http_gateway_jwt_remote_refetch(r, jlcf, ctx);

            if (rc != NGX_DECLINED) {
                return rc;
            }
        }
    }

    if (*status != GW_JWT_OK) {
        return NGX_OK;
    }

    ctx->trusted = 1;

    *status = ngx_http_gateway_jwt_claims(jlcf, ctx->jwt, now);

    if (*status == GW_JWT_OK && cacheable && !ctx->recent) {
        expire = ngx_http_gateway_jwt_cache_expire(ctx->jwt, now);

        if (!cached) {
            ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "gateway jwt: verified-token cache store");

            ngx_http_gateway_jwt_cache_insert(jmcf->cache, key, expire, now);
        }

        gw_jwt_recent_add(jmcf->recent, scope, scope_len,
                          (char *) token->data, token->len, ctx->jwt, expire);
    }

    return NGX_OK;
}


/*
 * Whether the verified-token cache may answer for this token here: not for
 * HMAC (verifying is as cheap as a lookup, and a secret may come from a
 * variable, outside the key sets' fingerprint), and only for an algorithm
 * the location allows.
 */

static ngx_uint_t
ngx_http_gateway_jwt_cacheable(ngx_http_gateway_jwt_loc_conf_t *jlcf,
    gw_jwt_t *jwt)
{
    unsigned  alg;

    alg = gw_jwt_alg(jwt);

    return !(alg & GW_JWT_HMAC)
           && (jlcf->algorithms == 0 || (jlcf->algorithms & alg));
}


/* exp, nbf, iss and aud as the location wants them. */

static ngx_inline gw_jwt_status_t
ngx_http_gateway_jwt_claims(ngx_http_gateway_jwt_loc_conf_t *jlcf,
    gw_jwt_t *jwt, int64_t now)
{
    gw_jwt_policy_t  policy;

    ngx_memzero(&policy, sizeof(gw_jwt_policy_t));
    policy.now_ms = now;
    policy.leeway_ms = (int64_t) jlcf->leeway * 1000;
    policy.require_exp = jlcf->require_exp;

    if (jlcf->issuers != NULL) {
        policy.issuers = jlcf->iss;
        policy.nissuers = jlcf->issuers->nelts;
    }

    if (jlcf->audiences != NULL) {
        policy.audiences = jlcf->aud;
        policy.naudiences = jlcf->audiences->nelts;
    }

    return gw_jwt_check_claims(jwt, &policy);
}


static ngx_int_t
ngx_http_gateway_jwt_requires(ngx_http_request_t *r,
    ngx_http_gateway_jwt_loc_conf_t *jlcf, ngx_uint_t *status)
{
    ngx_str_t                        value;
    ngx_uint_t                       i, j;
    ngx_http_complex_value_t       **cv;
    ngx_http_gateway_jwt_require_t  *req;

    if (jlcf->requires == NULL) {
        return NGX_OK;
    }

    req = jlcf->requires->elts;

    for (i = 0; i < jlcf->requires->nelts; i++) {
        cv = req[i].values->elts;

        for (j = 0; j < req[i].values->nelts; j++) {
            if (ngx_http_complex_value(r, cv[j], &value) != NGX_OK) {
                return NGX_ERROR;
            }

            if (value.len == 0 || (value.len == 1 && value.data[0] == '0')) {
                *status = req[i].status;
                return NGX_DECLINED;
            }
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_gateway_jwt_reject(ngx_http_request_t *r,
    ngx_http_gateway_jwt_ctx_t *ctx, ngx_int_t status, ngx_uint_t result,
    const char *error)
{
    ngx_str_t                          id;
    ngx_http_variable_value_t         *vv;
    ngx_http_gateway_jwt_main_conf_t  *jmcf;

    ctx->done = 1;
    ctx->status = status;
    ctx->error = error;
    ctx->verified = 0;

    ngx_http_gateway_stats_add(ctx->conf->results, result, 1);

    jmcf = ngx_http_get_module_main_conf(r, ngx_http_gateway_jwt_module);

    ngx_str_null(&id);

    if (jmcf->request_id_index != NGX_ERROR) {
        vv = ngx_http_get_indexed_variable(r, jmcf->request_id_index);

        if (vv && !vv->not_found) {
            id.data = vv->data;
            id.len = vv->len;
        }
    }

    /* the reason, never the token */

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "gateway jwt: %s, request id \"%V\"",
                  error ? error : "no token", &id);

    return ngx_http_gateway_jwt_answer(r, ctx);
}


/* WWW-Authenticate as RFC 6750 section 3 spells it. */

static ngx_int_t
ngx_http_gateway_jwt_answer(ngx_http_request_t *r,
    ngx_http_gateway_jwt_ctx_t *ctx)
{
    ngx_str_t  challenge;

    if (ctx->status == NGX_HTTP_FORBIDDEN) {
        ngx_str_set(&challenge, "Bearer error=\"insufficient_scope\"");

    } else if (ngx_http_gateway_jwt_challenge(r, ctx, &challenge) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_gateway_set_www_authenticate(r, &challenge) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ctx->status;
}


/* Bearer realm="..." [, error="invalid_token", error_description="..."] */

static ngx_int_t
ngx_http_gateway_jwt_challenge(ngx_http_request_t *r,
    ngx_http_gateway_jwt_ctx_t *ctx, ngx_str_t *challenge)
{
    u_char      c, *p;
    size_t      len;
    ngx_uint_t  i;

    len = sizeof("Bearer realm=\"\"") - 1 + 2 * ctx->realm.len;

    if (ctx->error) {
        len += sizeof(", error=\"invalid_token\", error_description=\"\"")
               - 1 + ngx_strlen(ctx->error);
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    challenge->data = p;

    p = ngx_cpymem(p, "Bearer realm=\"", sizeof("Bearer realm=\"") - 1);

    /* a quoted-string: escape quotes and backslashes, drop controls */

    for (i = 0; i < ctx->realm.len; i++) {
        c = ctx->realm.data[i];

        if (c < 0x20 || c == 0x7f) {
            continue;
        }

        if (c == '"' || c == '\\') {
            *p++ = '\\';
        }

        *p++ = c;
    }

    *p++ = '"';

    if (ctx->error) {
        p = ngx_sprintf(p, ", error=\"invalid_token\", "
                        "error_description=\"%s\"", ctx->error);
    }

    challenge->len = p - challenge->data;

    return NGX_OK;
}


static void
ngx_http_gateway_jwt_free_token(void *data)
{
    ngx_http_gateway_jwt_drop_token(data);
}
