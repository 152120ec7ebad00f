/*
 * ngx_http_gateway_metrics_module: the gateway's state, served.
 *
 *   gateway_metrics;                     (location) every worker's counters
 *                                        as Prometheus text (0.0.4)
 *   gateway_status;                      (location) the features' state as
 *                                        JSON (ngx_http_gateway_status.c)
 *   gateway_metrics_buckets SECONDS ...; (http) histogram bounds, default
 *                                        .005 .01 .025 .05 .1 .25 .5 1 2.5
 *                                        5 10
 *
 * A scrape is sent part by part (ngx_http_gateway_metrics_scrape.c).
 * It also times each try of an upstream block
 * (gateway_upstream_response_seconds{upstream}, see
 * ngx_http_gateway_metrics_upstream.c). The counting itself is the
 * runtime's stats registry; rendering is the core's.
 */

#include "ngx_http_gateway_metrics.h"


static char *ngx_http_gateway_metrics_endpoint(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_gateway_metrics_buckets(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static void *ngx_http_gateway_metrics_create_main_conf(ngx_conf_t *cf);
static ngx_int_t ngx_http_gateway_metrics_init(ngx_conf_t *cf);


static ngx_command_t  ngx_http_gateway_metrics_commands[] = {

    { ngx_string("gateway_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_gateway_metrics_endpoint,
      0,
      0,
      ngx_http_gateway_metrics_handler },

    { ngx_string("gateway_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_gateway_metrics_endpoint,
      0,
      0,
      ngx_http_gateway_status_handler },

    { ngx_string("gateway_metrics_buckets"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_gateway_metrics_buckets,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_gateway_metrics_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_gateway_metrics_init,         /* postconfiguration */

    ngx_http_gateway_metrics_create_main_conf, /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_gateway_metrics_module = {
    NGX_MODULE_V1,
    &ngx_http_gateway_metrics_module_ctx,  /* module context */
    ngx_http_gateway_metrics_commands,     /* module directives */
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


/* gateway_metrics, gateway_status: the location's content handler */

static char *
ngx_http_gateway_metrics_endpoint(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "is duplicate";
    }

    clcf->handler = (ngx_http_handler_pt) cmd->post;

    if (clcf->handler == ngx_http_gateway_metrics_handler) {
        ngx_http_gateway_stats_rendered(cf);
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_gateway_metrics_buckets(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_gateway_metrics_main_conf_t *mmcf = conf;

    double      *bounds;
    ngx_str_t   *value;
    ngx_uint_t   i, n;

    if (mmcf->buckets_set) {
        return "is duplicate";
    }

    value = cf->args->elts;
    n = cf->args->nelts - 1;

    if (n > GW_METRIC_MAX_BOUNDS) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "too many buckets, at most %d",
                           GW_METRIC_MAX_BOUNDS);
        return NGX_CONF_ERROR;
    }

    bounds = ngx_palloc(cf->pool, n * sizeof(double));
    if (bounds == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < n; i++) {
        if (gw_metric_parse_bound((char *) value[i + 1].data, value[i + 1].len,
                                  &bounds[i])
            != 0
            || bounds[i] < 0
            || (i > 0 && bounds[i] <= bounds[i - 1]))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid value \"%V\", the buckets are "
                               "seconds, ascending", &value[i + 1]);
            return NGX_CONF_ERROR;
        }
    }

    if (ngx_http_gateway_stats_set_buckets(cf, bounds, n) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    mmcf->buckets_set = 1;

    return NGX_CONF_OK;
}


/*
 * The type, and the length of its MIME type alone (without "; version=..."):
 * what gzip_types and the like match.
 */

void
ngx_http_gateway_metrics_content_type(ngx_http_request_t *r, ngx_str_t *type)
{
    u_char  *semicolon;

    semicolon = ngx_strlchr(type->data, type->data + type->len, ';');

    r->headers_out.content_type = *type;
    r->headers_out.content_type_len = type->len;

    if (semicolon) {
        r->headers_out.content_type_len = semicolon - type->data;
    }
}


/* A whole answer made in memory: a scrape, a status document. */

ngx_int_t
ngx_http_gateway_metrics_send(ngx_http_request_t *r, ngx_str_t *type,
    ngx_chain_t *out)
{
    off_t         len;
    ngx_int_t     rc;
    ngx_chain_t  *cl;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    len = 0;

    for (cl = out; cl; cl = cl->next) {
        len += cl->buf->last - cl->buf->pos;

        if (cl->next == NULL) {
            cl->buf->last_buf = (r == r->main) ? 1 : 0;
            cl->buf->last_in_chain = 1;
        }
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = len;
    ngx_http_gateway_metrics_content_type(r, type);

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, out);
}


static void *
ngx_http_gateway_metrics_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_gateway_metrics_main_conf_t  *mmcf;

    mmcf = ngx_pcalloc(cf->pool,
                       sizeof(ngx_http_gateway_metrics_main_conf_t));
    if (mmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     mmcf->buckets_set = 0;
     *     mmcf->upstreams = NULL;
     *     mmcf->nupstreams = 0;
     */

    return mmcf;
}


static ngx_int_t
ngx_http_gateway_metrics_init(ngx_conf_t *cf)
{
    return ngx_http_gateway_metrics_upstream_init(cf);
}
