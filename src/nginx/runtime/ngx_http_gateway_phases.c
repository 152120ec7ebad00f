/*
 * The gateway's per-request steps in nginx's phases, in the order the
 * design fixes, whatever order nginx initialises the modules in:
 *
 *   access      JWT, RBAC: checks that "satisfy any" may grant by another
 *               way (allow, auth_basic, auth_request), as nginx's own
 *   precontent  rate limits, then failing fast on open circuits: they run
 *               for every request that was let in, however it was let in
 *
 * A step returns NGX_DECLINED to pass the request on, NGX_OK (access
 * steps) when it authenticated the request, NGX_AGAIN while the request is
 * parked (the phase runs again from its first step once it is woken, so a
 * step remembers its result in its request state), or an HTTP status.
 */

#include "ngx_http_gateway.h"


static ngx_int_t ngx_http_gateway_access_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_gateway_precontent_handler(ngx_http_request_t *r);


/*
 * A feature in use asks for its step from its postconfiguration; a phase
 * gets its handler with its first step, so a phase without steps costs
 * nothing, and the steps run in their order whatever asked first.
 */

ngx_int_t
ngx_http_gateway_add_step(ngx_conf_t *cf, ngx_uint_t step,
    ngx_http_gateway_step_pt handler)
{
    ngx_uint_t                     i, n, access;
    ngx_http_handler_pt           *h;
    ngx_http_gateway_step_pt      *list;
    ngx_http_core_main_conf_t     *cmcf;
    ngx_http_gateway_main_conf_t  *gmcf;

    gmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_gateway_module);
    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    gmcf->steps[step] = handler;

    access = (step <= NGX_HTTP_GATEWAY_LAST_ACCESS_STEP);
    list = access ? gmcf->access : gmcf->precontent;

    if (list[0] == NULL) {
        h = ngx_array_push(&cmcf->phases[access ? NGX_HTTP_ACCESS_PHASE
                                                : NGX_HTTP_PRECONTENT_PHASE]
                                .handlers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        *h = access ? ngx_http_gateway_access_handler
                    : ngx_http_gateway_precontent_handler;
    }

    n = 0;

    for (i = 0; i < NGX_HTTP_GATEWAY_STEPS; i++) {
        if (gmcf->steps[i] && (i <= NGX_HTTP_GATEWAY_LAST_ACCESS_STEP) == access)
        {
            list[n++] = gmcf->steps[i];
        }
    }

    list[n] = NULL;

    return NGX_OK;
}


/*
 * NGX_OK when some step authenticated the request and none refused it:
 * under "satisfy any" that grants access as a passed auth_basic does;
 * under "satisfy all" nginx goes on to the other checks either way.
 */

static ngx_int_t
ngx_http_gateway_access_handler(ngx_http_request_t *r)
{
    ngx_int_t                      rc, granted;
    ngx_http_gateway_step_pt      *step;
    ngx_http_gateway_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gateway_module);
    granted = 0;

    for (step = gmcf->access; *step; step++) {
        rc = (*step)(r);

        if (rc == NGX_OK) {
            granted = 1;

        } else if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    return granted ? NGX_OK : NGX_DECLINED;
}


static ngx_int_t
ngx_http_gateway_precontent_handler(ngx_http_request_t *r)
{
    ngx_int_t                      rc;
    ngx_http_gateway_step_pt      *step;
    ngx_http_gateway_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gateway_module);

    for (step = gmcf->precontent; *step; step++) {
        rc = (*step)(r);

        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    return NGX_DECLINED;
}
