/*
 * ngx_http_gateway_trace_module: W3C Trace Context.
 *
 * Continues a valid incoming traceparent with a new span, or starts a trace,
 * and sends the child traceparent upstream; tracestate goes along only when
 * the parent was valid. gateway_trace_sample decides whether a trace the
 * gateway starts is sampled (by a ratio of trace ids) or always is
 * ("parent": a continued trace always keeps its parent's decision).
 */

#include "ngx_http_gateway.h"
#include "gw_trace.h"


/* gateway_trace_sample parent: no ratio, a new trace is sampled */
#define NGX_HTTP_GATEWAY_TRACE_SAMPLE_PARENT  ((uint64_t) -1)
#define NGX_HTTP_GATEWAY_TRACE_SAMPLE_UNSET   ((uint64_t) -2)


typedef struct {
    ngx_flag_t  enable;
    uint64_t    sample;      /* a ratio's threshold (gw_trace.h), or PARENT */
} ngx_http_gateway_trace_loc_conf_t;


typedef struct {
    gw_trace_t  trace;
    u_char      traceparent[GW_TRACEPARENT_LEN];
    unsigned    begun:1;
} ngx_http_gateway_trace_ctx_t;


static ngx_http_gateway_trace_ctx_t *ngx_http_gateway_trace(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_gateway_trace_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_gateway_trace_handler(ngx_http_request_t *r);
static char *ngx_http_gateway_trace_sample(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void *ngx_http_gateway_trace_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_gateway_trace_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static ngx_int_t ngx_http_gateway_trace_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_gateway_trace_init(ngx_conf_t *cf);


static ngx_http_gateway_header_t  ngx_http_gateway_traceparent =
    ngx_http_gateway_header("traceparent", "traceparent");
static ngx_http_gateway_header_t  ngx_http_gateway_tracestate =
    ngx_http_gateway_header("tracestate", "tracestate");


static ngx_command_t  ngx_http_gateway_trace_commands[] = {

    { ngx_string("gateway_trace"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gateway_trace_loc_conf_t, enable),
      NULL },

    { ngx_string("gateway_trace_sample"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_gateway_trace_sample,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_gateway_trace_module_ctx = {
    ngx_http_gateway_trace_add_variables,  /* preconfiguration */
    ngx_http_gateway_trace_init,           /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_gateway_trace_create_loc_conf, /* create location configuration */
    ngx_http_gateway_trace_merge_loc_conf  /* merge location configuration */
};


ngx_module_t  ngx_http_gateway_trace_module = {
    NGX_MODULE_V1,
    &ngx_http_gateway_trace_module_ctx,    /* module context */
    ngx_http_gateway_trace_commands,       /* module directives */
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


enum {
    ngx_http_gateway_trace_id_var,
    ngx_http_gateway_span_id_var,
    ngx_http_gateway_parent_id_var,
    ngx_http_gateway_traceparent_var,
    ngx_http_gateway_sampled_var
};


static ngx_http_variable_t  ngx_http_gateway_trace_vars[] = {

    { ngx_string("gateway_trace_id"), NULL,
      ngx_http_gateway_trace_variable, ngx_http_gateway_trace_id_var, 0, 0 },

    { ngx_string("gateway_span_id"), NULL,
      ngx_http_gateway_trace_variable, ngx_http_gateway_span_id_var, 0, 0 },

    { ngx_string("gateway_parent_span_id"), NULL,
      ngx_http_gateway_trace_variable, ngx_http_gateway_parent_id_var, 0, 0 },

    { ngx_string("gateway_traceparent"), NULL,
      ngx_http_gateway_trace_variable, ngx_http_gateway_traceparent_var,
      0, 0 },

    { ngx_string("gateway_trace_sampled"), NULL,
      ngx_http_gateway_trace_variable, ngx_http_gateway_sampled_var, 0, 0 },

      ngx_http_null_variable
};


static ngx_http_gateway_trace_ctx_t *
ngx_http_gateway_trace(ngx_http_request_t *r)
{
    ngx_uint_t                          count;
    ngx_table_elt_t                    *h;
    ngx_http_gateway_trace_ctx_t       *ctx;
    ngx_http_gateway_trace_loc_conf_t  *tlcf;
    u_char                              random[GW_TRACE_RANDOM];

    ctx = ngx_http_gateway_request_state(r, &ngx_http_gateway_trace_module,
                                         sizeof(ngx_http_gateway_trace_ctx_t));
    if (ctx == NULL || ctx->begun) {
        return ctx;
    }

    h = ngx_http_gateway_find_request_header(r->main,
                                             &ngx_http_gateway_traceparent,
                                             &count);

    /* several traceparent headers are ambiguous: no valid parent */

    if (count != 1) {
        h = NULL;
    }

    ngx_http_gateway_random(random, sizeof(random));

    gw_trace_begin(h ? (char *) h->value.data : NULL, h ? h->value.len : 0,
                   random, &ctx->trace);

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_gateway_trace_module);

    if (tlcf->sample != NGX_HTTP_GATEWAY_TRACE_SAMPLE_PARENT) {
        gw_trace_sample_new(&ctx->trace, tlcf->sample);
    }

    gw_trace_format_child(&ctx->trace, (char *) ctx->traceparent);

    ctx->begun = 1;

    return ctx;
}


static ngx_int_t
ngx_http_gateway_trace_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_gateway_trace_ctx_t  *ctx;

    ctx = ngx_http_gateway_trace(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    switch (data) {

    case ngx_http_gateway_trace_id_var:
        v->data = (u_char *) ctx->trace.trace_id;
        v->len = GW_TRACE_ID_LEN;
        break;

    case ngx_http_gateway_span_id_var:
        v->data = (u_char *) ctx->trace.span_id;
        v->len = GW_SPAN_ID_LEN;
        break;

    case ngx_http_gateway_parent_id_var:
        if (!ctx->trace.continued) {
            v->not_found = 1;
            return NGX_OK;
        }

        v->data = (u_char *) ctx->trace.parent_id;
        v->len = GW_SPAN_ID_LEN;
        break;

    case ngx_http_gateway_sampled_var:
        v->data = (u_char *) (ngx_http_gateway_trace_is_sampled(&ctx->trace)
                              ? "1" : "0");
        v->len = 1;
        break;

    default: /* ngx_http_gateway_traceparent_var */
        v->data = ctx->traceparent;
        v->len = GW_TRACEPARENT_LEN;
        break;
    }

    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


gw_trace_t *
ngx_http_gateway_trace_context(ngx_http_request_t *r)
{
    ngx_http_gateway_trace_ctx_t       *ctx;
    ngx_http_gateway_trace_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r->main, ngx_http_gateway_trace_module);

    if (!tlcf->enable) {
        return NULL;
    }

    ctx = ngx_http_gateway_trace(r->main);

    return ctx ? &ctx->trace : NULL;
}


static ngx_int_t
ngx_http_gateway_trace_handler(ngx_http_request_t *r)
{
    ngx_str_t                           traceparent;
    ngx_http_gateway_trace_ctx_t       *ctx;
    ngx_http_gateway_trace_loc_conf_t  *tlcf;

    if (r != r->main) {
        return NGX_DECLINED;
    }

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_gateway_trace_module);

    if (!tlcf->enable) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_gateway_trace(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    traceparent.data = ctx->traceparent;
    traceparent.len = GW_TRACEPARENT_LEN;

    if (ngx_http_gateway_set_request_header(r, &ngx_http_gateway_traceparent,
                                            &traceparent)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* vendor state belongs to the parent's trace: drop it with the parent */

    if (!ctx->trace.continued
        && ngx_http_gateway_set_request_header(r, &ngx_http_gateway_tracestate,
                                               NULL)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DECLINED;
}


static void *
ngx_http_gateway_trace_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_gateway_trace_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_gateway_trace_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->enable = NGX_CONF_UNSET;
    conf->sample = NGX_HTTP_GATEWAY_TRACE_SAMPLE_UNSET;

    return conf;
}


static char *
ngx_http_gateway_trace_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_gateway_trace_loc_conf_t *prev = parent;
    ngx_http_gateway_trace_loc_conf_t *conf = child;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);

    if (conf->sample == NGX_HTTP_GATEWAY_TRACE_SAMPLE_UNSET) {
        conf->sample = prev->sample == NGX_HTTP_GATEWAY_TRACE_SAMPLE_UNSET
                       ? NGX_HTTP_GATEWAY_TRACE_SAMPLE_PARENT : prev->sample;
    }

    return NGX_CONF_OK;
}


/* gateway_trace_sample RATIO|parent */
static char *
ngx_http_gateway_trace_sample(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gateway_trace_loc_conf_t *tlcf = conf;

    ngx_str_t  *value;

    if (tlcf->sample != NGX_HTTP_GATEWAY_TRACE_SAMPLE_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 6 && ngx_strncmp(value[1].data, "parent", 6) == 0) {
        tlcf->sample = NGX_HTTP_GATEWAY_TRACE_SAMPLE_PARENT;
        return NGX_CONF_OK;
    }

    if (gw_trace_ratio_threshold((char *) value[1].data, value[1].len,
                                 &tlcf->sample)
        != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\", a ratio from 0 "
                           "to 1 or \"parent\" expected", &value[1],
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_gateway_trace_add_variables(ngx_conf_t *cf)
{
    return ngx_http_gateway_register_variables(cf, ngx_http_gateway_trace_vars);
}


static ngx_int_t
ngx_http_gateway_trace_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PREACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_gateway_trace_handler;

    return NGX_OK;
}
