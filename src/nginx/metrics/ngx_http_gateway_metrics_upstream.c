/*
 * gateway_upstream_response_seconds{upstream}: how long each try of an
 * upstream block took ($upstream_response_time's parts), counted in the log
 * phase. The label is the block's name (an implicit block's host:port, as
 * proxy_pass wrote it), so it is bounded by the configuration; upstreams
 * found at run time (proxy_pass with variables, no block) are not timed.
 * A request that error_page sent on to another block counts all its tries
 * under the last one.
 */

#include "ngx_http_gateway_metrics.h"


static ngx_int_t ngx_http_gateway_metrics_upstream_log(ngx_http_request_t *r);
static int ngx_libc_cdecl ngx_http_gateway_metrics_upstream_cmp(
    const void *a, const void *b);


static ngx_str_t  ngx_http_gateway_upstream_labels[] = {
    ngx_string("upstream"),
    ngx_null_string
};

static ngx_http_gateway_stats_def_t  ngx_http_gateway_responses_def = {
    ngx_string("gateway_upstream_response_seconds"),
    ngx_string("Time of each try of an upstream block, from connecting to "
               "the end of the response."),
    GW_METRIC_HISTOGRAM,
    ngx_http_gateway_upstream_labels,
    NULL,
    1e-6, NULL, NULL                          /* microseconds */
};


ngx_int_t
ngx_http_gateway_metrics_upstream_init(ngx_conf_t *cf)
{
    u_char                                *p;
    ngx_str_t                              name;
    ngx_uint_t                             i;
    ngx_http_handler_pt                   *h;
    ngx_http_core_main_conf_t             *cmcf;
    ngx_http_upstream_srv_conf_t         **uscfp;
    ngx_http_upstream_main_conf_t         *umcf;
    ngx_http_gateway_stats_family_t       *family;
    ngx_http_gateway_metrics_upstream_t   *mu;
    ngx_http_gateway_metrics_main_conf_t  *mmcf;

    umcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_upstream_module);
    mmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_gateway_metrics_module);

    if (umcf == NULL || umcf->upstreams.nelts == 0
        || !ngx_http_gateway_stats_counting(cf))
    {
        return NGX_OK;
    }

    family = ngx_http_gateway_stats_family(cf,
                                           &ngx_http_gateway_responses_def);
    if (family == NULL) {
        return NGX_ERROR;
    }

    mu = ngx_palloc(cf->pool, umcf->upstreams.nelts
                              * sizeof(ngx_http_gateway_metrics_upstream_t));
    if (mu == NULL) {
        return NGX_ERROR;
    }

    uscfp = umcf->upstreams.elts;

    for (i = 0; i < umcf->upstreams.nelts; i++) {
        name = uscfp[i]->host;

        if (uscfp[i]->port) {
            p = ngx_pnalloc(cf->pool, name.len + sizeof(":65535") - 1);
            if (p == NULL) {
                return NGX_ERROR;
            }

            name.len = ngx_sprintf(p, "%V:%d", &uscfp[i]->host,
                                   (int) uscfp[i]->port)
                       - p;
            name.data = p;
        }

        mu[i].upstream = uscfp[i];
        mu[i].responses = ngx_http_gateway_stats_series(cf, family, &name);

        if (mu[i].responses == NULL) {
            return NGX_ERROR;
        }
    }

    ngx_qsort(mu, umcf->upstreams.nelts,
              sizeof(ngx_http_gateway_metrics_upstream_t),
              ngx_http_gateway_metrics_upstream_cmp);

    mmcf->upstreams = mu;
    mmcf->nupstreams = umcf->upstreams.nelts;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_gateway_metrics_upstream_log;

    return NGX_OK;
}


static ngx_int_t
ngx_http_gateway_metrics_upstream_log(ngx_http_request_t *r)
{
    ngx_uint_t                             i, lo, hi, mid;
    ngx_http_upstream_t                   *u;
    ngx_http_upstream_state_t             *state;
    ngx_http_gateway_metrics_upstream_t   *mu;
    ngx_http_gateway_metrics_main_conf_t  *mmcf;

    u = r->upstream;

    if (u == NULL || u->upstream == NULL || r->upstream_states == NULL) {
        return NGX_OK;
    }

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_gateway_metrics_module);
    mu = mmcf->upstreams;

    lo = 0;
    hi = mmcf->nupstreams;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;

        if ((uintptr_t) mu[mid].upstream < (uintptr_t) u->upstream) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    if (lo == mmcf->nupstreams || mu[lo].upstream != u->upstream) {
        return NGX_OK;
    }

    state = r->upstream_states->elts;

    for (i = 0; i < r->upstream_states->nelts; i++) {
        if (state[i].peer == NULL
            || state[i].response_time == (ngx_msec_t) -1)
        {
            continue;                       /* not a try, or not ended */
        }

        ngx_http_gateway_stats_observe(mu[lo].responses, 0,
                                       (uint64_t) state[i].response_time
                                       * 1000);
    }

    return NGX_OK;
}


static int ngx_libc_cdecl
ngx_http_gateway_metrics_upstream_cmp(const void *a, const void *b)
{
    uintptr_t  x, y;

    x = (uintptr_t) ((ngx_http_gateway_metrics_upstream_t *) a)->upstream;
    y = (uintptr_t) ((ngx_http_gateway_metrics_upstream_t *) b)->upstream;

    return (x > y) - (x < y);
}
