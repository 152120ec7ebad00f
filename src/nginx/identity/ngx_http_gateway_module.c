/*
 * ngx_http_gateway_module: request identity.
 *
 * Keeps a valid incoming X-Request-ID or makes a 128-bit one, exposes it as
 * $gateway_request_id, sends it upstream as X-Gateway-Request-ID and returns
 * it to the client.
 */

#include "ngx_http_gateway.h"
#include "gw_request_id.h"


typedef struct {
    ngx_flag_t  enable;
} ngx_http_gateway_loc_conf_t;


typedef struct {
    ngx_str_t   id;
    u_char      generated[GW_REQUEST_ID_LEN];
} ngx_http_gateway_request_id_t;


static ngx_http_gateway_request_id_t *ngx_http_gateway_request_id(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_gateway_request_id_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_gateway_request_id_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_gateway_request_id_header_filter(
    ngx_http_request_t *r);
static void *ngx_http_gateway_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_gateway_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_gateway_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_gateway_init(ngx_conf_t *cf);


static ngx_http_gateway_header_t  ngx_http_gateway_incoming_header =
    ngx_http_gateway_header("X-Request-ID", "x-request-id");
static ngx_http_gateway_header_t  ngx_http_gateway_upstream_header =
    ngx_http_gateway_header("X-Gateway-Request-ID", "x-gateway-request-id");


static ngx_command_t  ngx_http_gateway_commands[] = {

    { ngx_string("gateway_request_id"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gateway_loc_conf_t, enable),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_gateway_module_ctx = {
    ngx_http_gateway_add_variables,        /* preconfiguration */
    ngx_http_gateway_init,                 /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_gateway_create_loc_conf,      /* create location configuration */
    ngx_http_gateway_merge_loc_conf        /* merge location configuration */
};


ngx_module_t  ngx_http_gateway_module = {
    NGX_MODULE_V1,
    &ngx_http_gateway_module_ctx,          /* module context */
    ngx_http_gateway_commands,             /* module directives */
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


static ngx_http_variable_t  ngx_http_gateway_vars[] = {

    { ngx_string("gateway_request_id"), NULL,
      ngx_http_gateway_request_id_variable, 0, 0, 0 },

      ngx_http_null_variable
};


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;


static ngx_http_gateway_request_id_t *
ngx_http_gateway_request_id(ngx_http_request_t *r)
{
    ngx_uint_t                      count;
    ngx_table_elt_t                *h;
    ngx_http_gateway_request_id_t  *rid;
    u_char                          random[GW_REQUEST_ID_RANDOM];

    rid = ngx_http_gateway_request_state(r, &ngx_http_gateway_module,
                                         sizeof(ngx_http_gateway_request_id_t));
    if (rid == NULL || rid->id.len) {
        return rid;
    }

    h = ngx_http_gateway_find_request_header(r->main,
                                             &ngx_http_gateway_incoming_header,
                                             &count);

    if (h && gw_request_id_is_valid((char *) h->value.data, h->value.len)) {
        rid->id = h->value;
        return rid;
    }

    ngx_http_gateway_random(random, sizeof(random));
    gw_request_id_generate(random, (char *) rid->generated);

    rid->id.data = rid->generated;
    rid->id.len = GW_REQUEST_ID_LEN;

    return rid;
}


static ngx_int_t
ngx_http_gateway_request_id_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_gateway_request_id_t  *rid;

    rid = ngx_http_gateway_request_id(r);
    if (rid == NULL) {
        return NGX_ERROR;
    }

    v->len = rid->id.len;
    v->data = rid->id.data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_gateway_request_id_handler(ngx_http_request_t *r)
{
    ngx_http_gateway_loc_conf_t    *glcf;
    ngx_http_gateway_request_id_t  *rid;

    if (r != r->main) {
        return NGX_DECLINED;
    }

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_gateway_module);

    if (!glcf->enable) {
        return NGX_DECLINED;
    }

    rid = ngx_http_gateway_request_id(r);
    if (rid == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_gateway_set_request_header(r,
                                            &ngx_http_gateway_upstream_header,
                                            &rid->id)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_gateway_request_id_header_filter(ngx_http_request_t *r)
{
    ngx_http_gateway_loc_conf_t    *glcf;
    ngx_http_gateway_request_id_t  *rid;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_gateway_module);

    if (!glcf->enable) {
        return ngx_http_next_header_filter(r);
    }

    rid = ngx_http_gateway_request_id(r);
    if (rid == NULL) {
        return NGX_ERROR;
    }

    /* the client gets the id under the name it may have sent, and ours */

    if (ngx_http_gateway_set_response_header(r,
                                             &ngx_http_gateway_incoming_header,
                                             &rid->id)
        != NGX_OK
        || ngx_http_gateway_set_response_header(r,
                                             &ngx_http_gateway_upstream_header,
                                             &rid->id)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_next_header_filter(r);
}


static void *
ngx_http_gateway_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_gateway_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_gateway_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->enable = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_http_gateway_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_gateway_loc_conf_t *prev = parent;
    ngx_http_gateway_loc_conf_t *conf = child;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_gateway_add_variables(ngx_conf_t *cf)
{
    return ngx_http_gateway_register_variables(cf, ngx_http_gateway_vars);
}


static ngx_int_t
ngx_http_gateway_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PREACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_gateway_request_id_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_gateway_access_handler;

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_gateway_request_id_header_filter;

    return NGX_OK;
}
