/*
 * Fail fast: a request to an upstream whose every peer has an open circuit
 * is answered 503 in the precontent phase, before its body is read or any
 * connection is tried.
 */

#include "ngx_http_gateway_upstream.h"


static ngx_int_t ngx_http_gateway_upstream_fail_fast_handler(
    ngx_http_request_t *r);
static void ngx_http_gateway_upstream_release_reserved(void *data);


/*
 * Modules whose location configuration starts with ngx_http_upstream_conf_t
 * (proxy_pass, grpc_pass...), and the directives that show it: each
 * module's *_connect_timeout and *_read_timeout must write that struct's
 * fields at their offsets from the start of the location configuration,
 * or the module is left alone.
 */

typedef struct {
    const char                *module;
    ngx_str_t                  connect_timeout;
    ngx_str_t                  read_timeout;
} ngx_http_gateway_pass_module_t;


static ngx_http_gateway_pass_module_t  ngx_http_gateway_pass_modules[] = {
    { "ngx_http_proxy_module", ngx_string("proxy_connect_timeout"),
      ngx_string("proxy_read_timeout") },
    { "ngx_http_grpc_module", ngx_string("grpc_connect_timeout"),
      ngx_string("grpc_read_timeout") },
    { "ngx_http_fastcgi_module", ngx_string("fastcgi_connect_timeout"),
      ngx_string("fastcgi_read_timeout") },
    { "ngx_http_uwsgi_module", ngx_string("uwsgi_connect_timeout"),
      ngx_string("uwsgi_read_timeout") },
    { "ngx_http_scgi_module", ngx_string("scgi_connect_timeout"),
      ngx_string("scgi_read_timeout") },
    { "ngx_http_memcached_module", ngx_string("memcached_connect_timeout"),
      ngx_string("memcached_read_timeout") },
    { NULL, ngx_null_string, ngx_null_string }
};


/*
 * The gateway upstream with a circuit breaker that the location passes
 * requests to (proxy_pass, grpc_pass, ...), or NULL.
 */

static ngx_http_gateway_upstream_srv_conf_t *
ngx_http_gateway_upstream_location_breaker(ngx_http_request_t *r)
{
    ngx_uint_t                              i, *index;
    ngx_http_upstream_conf_t               *ucf;
    ngx_http_gateway_upstream_srv_conf_t   *gcf;
    ngx_http_gateway_upstream_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gateway_upstream_module);
    index = gmcf->pass_modules.elts;

    for (i = 0; i < gmcf->pass_modules.nelts; i++) {

        ucf = r->loc_conf[index[i]];

        if (ucf == NULL || ucf->upstream == NULL
            || ucf->upstream->srv_conf == NULL)
        {
            continue;
        }

        gcf = ngx_http_conf_upstream_srv_conf(ucf->upstream,
                                            ngx_http_gateway_upstream_module);

        if (gcf && gcf->initialized && gcf->breaker.failures && gcf->sh) {
            return gcf;
        }
    }

    return NULL;
}


/*
 * Every peer open: 503 before anything is read or connected. Otherwise the
 * peer for the first try is chosen here, under the same lock, so a request
 * that passed the check cannot find every peer taken a moment later.
 */

static ngx_int_t
ngx_http_gateway_upstream_fail_fast_handler(ngx_http_request_t *r)
{
    int64_t                                 now;
    ngx_int_t                               available, warn;
    gw_pick_t                               pick;
    gw_pick_rc_t                            rc;
    ngx_str_t                               name;
    gw_transition_t                         tr;
    ngx_pool_cleanup_t                     *cln;
    ngx_http_gateway_stat_t                 transitions;
    ngx_http_gateway_upstream_ctx_t        *ctx;
    ngx_http_gateway_upstream_shctx_t      *sh;
    ngx_http_gateway_upstream_srv_conf_t   *gcf;
    u_char                                  buf[NGX_SOCKADDR_STRLEN];

    gcf = ngx_http_gateway_upstream_location_breaker(r);

    if (gcf == NULL) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_gateway_upstream_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->reserved) {
        if (ctx->reserved_conf == gcf) {
            return NGX_DECLINED;
        }

        /* an internal redirect to a location with another upstream */
        ngx_http_gateway_upstream_release_reserved(ctx);
    }

    if (!ctx->cleanup) {
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        cln->handler = ngx_http_gateway_upstream_release_reserved;
        cln->data = ctx;
        ctx->cleanup = 1;
    }

    sh = gcf->sh;
    now = (int64_t) ngx_current_msec;
    warn = 0;
    available = 1;
    name.data = buf;
    name.len = 0;

    ngx_shmtx_lock(&gcf->shpool->mutex);

    rc = gw_balancer_pick(sh->peers, sh->nslots,
                          (gw_balance_method_t) gcf->method, &gcf->breaker,
                          NULL, 0, now, &pick, &tr);

    if (rc == GW_PICK_OK) {
        gw_balancer_hold(ngx_http_gateway_upstream_holdings(gcf), sh->nslots,
                         &pick);
    }

    if (rc == GW_PICK_OK && tr != GW_TRANSITION_NONE) {
        name.len = sh->addrs[pick.index].name_len;
        ngx_memcpy(buf, sh->addrs[pick.index].name, name.len);
        transitions = sh->addrs[pick.index].transitions;
    }

    if (rc != GW_PICK_OK) {
        /* nothing free: every peer open, or only max_conns reached */

        available = gw_balancer_available(sh->peers, sh->nslots,
                                          &gcf->breaker, now);

        if (!available && now - sh->warned >= gcf->breaker.open_ms) {
            sh->warned = now;
            warn = 1;
        }
    }

    ngx_shmtx_unlock(&gcf->shpool->mutex);

    if (rc == GW_PICK_OK) {
        ctx->reserved = 1;
        ctx->reserved_conf = gcf;
        ctx->reserved_pick = pick;

        if (tr != GW_TRANSITION_NONE) {
            ngx_http_gateway_upstream_log_transition(r->connection->log, gcf,
                                                     &name, &transitions, tr,
                                                     0);
        }

        return NGX_DECLINED;
    }

    if (available) {
        /* nginx answers 502 "no live upstreams" as it would without us */
        return NGX_DECLINED;
    }

    if (warn) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "every peer of upstream \"%V\" has an open "
                      "gateway circuit, answering 503", &gcf->upstream->host);
    }

    ctx->set = 1;
    ctx->state = GW_CIRCUIT_OPEN;
    ngx_str_null(&ctx->peer);

    return NGX_HTTP_SERVICE_UNAVAILABLE;
}


static void
ngx_http_gateway_upstream_release_reserved(void *data)
{
    ngx_http_gateway_upstream_ctx_t  *ctx = data;

    ngx_http_gateway_upstream_shctx_t     *sh;
    ngx_http_gateway_upstream_srv_conf_t  *gcf;

    if (!ctx->reserved) {
        return;
    }

    ctx->reserved = 0;
    gcf = ctx->reserved_conf;
    sh = gcf->sh;

    ngx_shmtx_lock(&gcf->shpool->mutex);
    (void) gw_balancer_release(sh->peers, sh->nslots, &gcf->breaker,
                               &ctx->reserved_pick, GW_OUTCOME_NEUTRAL,
                               (int64_t) ngx_current_msec);
    gw_balancer_unhold(ngx_http_gateway_upstream_holdings(gcf), sh->nslots,
                       &ctx->reserved_pick);
    ngx_shmtx_unlock(&gcf->shpool->mutex);
}


/* Whether a module's time directive writes ngx_http_upstream_conf_t's. */

static ngx_uint_t
ngx_http_gateway_upstream_writes(ngx_module_t *m, ngx_str_t *name,
    ngx_uint_t offset)
{
    ngx_command_t  *cmd;

    for (cmd = m->commands; cmd && cmd->name.len; cmd++) {
        if (cmd->name.len == name->len
            && ngx_strncmp(cmd->name.data, name->data, name->len) == 0)
        {
            return cmd->conf == NGX_HTTP_LOC_CONF_OFFSET
                   && cmd->offset == offset;
        }
    }

    return 0;
}


ngx_int_t
ngx_http_gateway_upstream_fail_fast_init(ngx_conf_t *cf,
    ngx_http_gateway_upstream_main_conf_t *gmcf)
{
    ngx_uint_t                       i, *index;
    ngx_module_t                    *m;
    ngx_http_gateway_pass_module_t  *pm;

    if (ngx_array_init(&gmcf->pass_modules, cf->pool, 8, sizeof(ngx_uint_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; cf->cycle->modules[i]; i++) {
        m = cf->cycle->modules[i];

        if (m->type != NGX_HTTP_MODULE) {
            continue;
        }

        for (pm = ngx_http_gateway_pass_modules; pm->module; pm++) {
            if (ngx_strcmp(m->name, pm->module) == 0) {
                break;
            }
        }

        if (pm->module == NULL) {
            continue;
        }

        if (!ngx_http_gateway_upstream_writes(m, &pm->connect_timeout,
                           offsetof(ngx_http_upstream_conf_t, connect_timeout))
            || !ngx_http_gateway_upstream_writes(m, &pm->read_timeout,
                           offsetof(ngx_http_upstream_conf_t, read_timeout)))
        {
            ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                          "%s does not keep its upstream settings where "
                          "this gateway module expects them: its locations "
                          "do not fail fast on open circuits (is the module "
                          "built for this nginx?)", m->name);
            continue;
        }

        index = ngx_array_push(&gmcf->pass_modules);
        if (index == NULL) {
            return NGX_ERROR;
        }

        *index = m->ctx_index;
    }

    return ngx_http_gateway_add_step(cf, NGX_HTTP_GATEWAY_STEP_FAIL_FAST,
                                     ngx_http_gateway_upstream_fail_fast_handler);
}
