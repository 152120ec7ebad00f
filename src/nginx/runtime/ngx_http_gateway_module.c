/*
 * ngx_http_gateway_module: what the gateway's features share at run time,
 * as one nginx module (the first of the .so, which is named after it).
 */

#include "ngx_http_gateway.h"


static void *ngx_http_gateway_create_main_conf(ngx_conf_t *cf);
static ngx_int_t ngx_http_gateway_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_gateway_init_process(ngx_cycle_t *cycle);
static void ngx_http_gateway_exit_process(ngx_cycle_t *cycle);


static ngx_http_module_t  ngx_http_gateway_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_gateway_init,                 /* postconfiguration */

    ngx_http_gateway_create_main_conf,     /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_gateway_module = {
    NGX_MODULE_V1,
    &ngx_http_gateway_module_ctx,          /* module context */
    NULL,                                  /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_gateway_init_process,         /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_gateway_exit_process,         /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_gateway_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_gateway_main_conf_t  *gmcf;

    gmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_gateway_main_conf_t));
    if (gmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&gmcf->links, cf->pool, 2,
                       sizeof(ngx_http_gateway_link_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return gmcf;
}


static ngx_int_t
ngx_http_gateway_init(ngx_conf_t *cf)
{
    ngx_http_gateway_main_conf_t  *gmcf;

    gmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_gateway_module);

    return ngx_http_gateway_links_init(cf, &gmcf->links);
}


static ngx_int_t
ngx_http_gateway_init_process(ngx_cycle_t *cycle)
{
    ngx_http_gateway_main_conf_t  *gmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    gmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_gateway_module);
    if (gmcf == NULL) {
        return NGX_OK;
    }

    ngx_http_gateway_links_start(cycle, &gmcf->links);

    return NGX_OK;
}


static void
ngx_http_gateway_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_gateway_main_conf_t  *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_gateway_module);
    if (gmcf == NULL) {
        return;
    }

    ngx_http_gateway_links_stop(&gmcf->links);
}
