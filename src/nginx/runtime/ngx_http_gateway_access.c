/*
 * The gateway's access phase: one handler that runs the checks in the
 * order the design fixes (JWT, then RBAC, then rate limiting), whatever
 * order nginx initialises the modules in.
 */

#include "ngx_http_gateway.h"


/*
 * Each check returns NGX_DECLINED to pass the request on, NGX_AGAIN while
 * it waits for I/O (the phase is run again from the first check once the
 * request is woken, so a check remembers its result in its request state),
 * or an HTTP status to end the request.
 */
static ngx_http_gateway_access_pt  ngx_http_gateway_access_checks[] = {
    ngx_http_gateway_jwt_check,
    ngx_http_gateway_rbac_check,
    ngx_http_gateway_rate_limit_check,
    NULL
};


ngx_int_t
ngx_http_gateway_access_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_http_gateway_access_pt  *check;

    for (check = ngx_http_gateway_access_checks; *check; check++) {
        rc = (*check)(r);

        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    return NGX_DECLINED;
}
