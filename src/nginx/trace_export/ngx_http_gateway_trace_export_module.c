/*
 * ngx_http_gateway_trace_export_module: the directives of span export.
 *
 *   gateway_trace_export HOST[:PORT] [path=/v1/traces] [batch=512]
 *                        [interval=5s] [queue=4096] [header=NAME:VALUE]...;
 *   gateway_trace_service NAME;          service.name, "unknown_service:nginx"
 *   gateway_trace_attr NAME VALUE;       an attribute of the location's spans
 *
 * Spans are made for requests whose trace is on (gateway_trace) and
 * sampled (gateway_trace_sample); see ngx_http_gateway_trace_exporter.c.
 */

#include "ngx_http_gateway_trace_export.h"


/* spans per export request, and spans a worker holds at most */
#define NGX_HTTP_GATEWAY_TRACE_BATCH  512
#define NGX_HTTP_GATEWAY_TRACE_QUEUE  4096


static char *ngx_http_gateway_trace_export(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_gateway_trace_export_header(ngx_conf_t *cf,
    ngx_str_t *value);
static char *ngx_http_gateway_trace_attr(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_gateway_trace_export_log(ngx_http_request_t *r);
static void *ngx_http_gateway_trace_export_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_gateway_trace_export_init_main_conf(ngx_conf_t *cf,
    void *conf);
static void *ngx_http_gateway_trace_export_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_gateway_trace_export_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static ngx_int_t ngx_http_gateway_trace_export_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_gateway_trace_export_init_process(
    ngx_cycle_t *cycle);
static void ngx_http_gateway_trace_export_exit_process(ngx_cycle_t *cycle);


static ngx_http_gateway_arg_bounds_t  ngx_http_gateway_trace_batch_bounds =
    { 1, 65536 };
static ngx_http_gateway_arg_bounds_t  ngx_http_gateway_trace_queue_bounds =
    { 1, 1048576 };


static ngx_http_gateway_arg_t  ngx_http_gateway_trace_export_args[] = {

    { ngx_string("path"), ngx_http_gateway_arg_str,
      offsetof(ngx_http_gateway_trace_export_main_conf_t, path), NULL },

    { ngx_string("batch"), ngx_http_gateway_arg_number,
      offsetof(ngx_http_gateway_trace_export_main_conf_t, batch),
      &ngx_http_gateway_trace_batch_bounds },

    { ngx_string("queue"), ngx_http_gateway_arg_number,
      offsetof(ngx_http_gateway_trace_export_main_conf_t, queue),
      &ngx_http_gateway_trace_queue_bounds },

    { ngx_string("interval"), ngx_http_gateway_arg_msec,
      offsetof(ngx_http_gateway_trace_export_main_conf_t, interval), NULL },

    { ngx_string("header"), ngx_http_gateway_arg_list,
      offsetof(ngx_http_gateway_trace_export_main_conf_t, headers), NULL },

    ngx_http_gateway_null_arg
};


static ngx_command_t  ngx_http_gateway_trace_export_commands[] = {

    { ngx_string("gateway_trace_export"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_gateway_trace_export,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gateway_trace_service"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_gateway_trace_export_main_conf_t, service),
      NULL },

    { ngx_string("gateway_trace_attr"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_http_gateway_trace_attr,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_gateway_trace_export_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_gateway_trace_export_init,    /* postconfiguration */

    ngx_http_gateway_trace_export_create_main_conf,
                                           /* create main configuration */
    ngx_http_gateway_trace_export_init_main_conf,
                                           /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_gateway_trace_export_create_loc_conf,
                                           /* create location configuration */
    ngx_http_gateway_trace_export_merge_loc_conf
                                           /* merge location configuration */
};


ngx_module_t  ngx_http_gateway_trace_export_module = {
    NGX_MODULE_V1,
    &ngx_http_gateway_trace_export_module_ctx, /* module context */
    ngx_http_gateway_trace_export_commands,    /* module directives */
    NGX_HTTP_MODULE,                           /* module type */
    NULL,                                      /* init master */
    NULL,                                      /* init module */
    ngx_http_gateway_trace_export_init_process,/* init process */
    NULL,                                      /* init thread */
    NULL,                                      /* exit thread */
    ngx_http_gateway_trace_export_exit_process,/* exit process */
    NULL,                                      /* exit master */
    NGX_MODULE_V1_PADDING
};


/*
 * gateway_trace_spans_total{result="exported|dropped|rejected"}: spans the
 * collector took, spans the gateway let go (a full queue, an answer not to
 * be retried, a quitting worker's time up), spans the collector refused in
 * a partial success; gateway_trace_export_errors_total: export requests
 * that failed.
 */

static ngx_str_t  ngx_http_gateway_trace_results[] = {
    ngx_string("exported"),
    ngx_string("dropped"),
    ngx_string("rejected"),
    ngx_null_string
};

static ngx_http_gateway_stats_dim_t  ngx_http_gateway_trace_result_dim[] = {
    { ngx_string("result"), ngx_http_gateway_trace_results },
    { ngx_null_string, NULL }
};

static ngx_http_gateway_stats_def_t  ngx_http_gateway_trace_spans_def = {
    ngx_string("gateway_trace_spans_total"),
    ngx_string("Spans sent to the OTLP collector, dropped by the gateway, "
               "or rejected by the collector."),
    GW_METRIC_COUNTER,
    NULL,
    ngx_http_gateway_trace_result_dim,
    0, NULL, NULL
};

static ngx_http_gateway_stats_def_t  ngx_http_gateway_trace_errors_def = {
    ngx_string("gateway_trace_export_errors_total"),
    ngx_string("Span export requests that failed (no connection, no "
               "answer, or an answer other than 2xx)."),
    GW_METRIC_COUNTER,
    NULL,
    NULL,
    0, NULL, NULL
};


static char *
ngx_http_gateway_trace_export(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gateway_trace_export_main_conf_t *tmcf = conf;

    ngx_str_t                        *value, *h;
    ngx_uint_t                        i;
    ngx_http_gateway_stats_family_t  *family;

    if (tmcf->collector.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    /* an IP address, localhost, or a name for the http-level resolver */

    tmcf->collector = value[1];
    tmcf->link = ngx_http_gateway_link_add(cf, &cmd->name, &value[1], 4318);
    if (tmcf->link == NULL) {
        return NGX_CONF_ERROR;
    }

    tmcf->link->connect_timeout = 5000;
    tmcf->link->effect = "spans wait in the workers' queues";

    family = ngx_http_gateway_stats_family(cf,
                                          &ngx_http_gateway_trace_spans_def);
    if (family == NULL) {
        return NGX_CONF_ERROR;
    }

    tmcf->spans = ngx_http_gateway_stats_series(cf, family, NULL);

    family = ngx_http_gateway_stats_family(cf,
                                          &ngx_http_gateway_trace_errors_def);
    if (family == NULL) {
        return NGX_CONF_ERROR;
    }

    tmcf->errors = ngx_http_gateway_stats_series(cf, family, NULL);

    if (tmcf->spans == NULL || tmcf->errors == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_gateway_conf_args(cf, 2, ngx_http_gateway_trace_export_args,
                                   tmcf)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    /* checked here, where the error can name the line */

    ngx_conf_init_uint_value(tmcf->batch, NGX_HTTP_GATEWAY_TRACE_BATCH);
    ngx_conf_init_uint_value(tmcf->queue, NGX_HTTP_GATEWAY_TRACE_QUEUE);

    if (tmcf->queue < tmcf->batch) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "queue=%ui is smaller than batch=%ui in \"%V\"",
                           tmcf->queue, tmcf->batch, &cmd->name);
        return NGX_CONF_ERROR;
    }

    h = tmcf->headers ? tmcf->headers->elts : NULL;

    for (i = 0; tmcf->headers && i < tmcf->headers->nelts; i++) {
        if (ngx_http_gateway_trace_export_header(cf, &h[i]) != NGX_CONF_OK) {
            return NGX_CONF_ERROR;
        }
    }

    if (tmcf->path.len && (tmcf->path.data[0] != '/'
                           || ngx_strlchr(tmcf->path.data,
                                          tmcf->path.data + tmcf->path.len,
                                          ' ')))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid path \"%V\" in \"%V\"", &tmcf->path,
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * header=NAME:VALUE, e.g. an API key a hosted collector wants: a token for
 * a name, no control characters in the value, and none of the headers the
 * exporter writes itself. The value becomes "Name: value".
 */
static char *
ngx_http_gateway_trace_export_header(ngx_conf_t *cf, ngx_str_t *value)
{
    u_char     *p, *colon, *last, *out;
    ngx_str_t   name;
    ngx_uint_t  i;

    static ngx_str_t  own[] = {
        ngx_string("host"), ngx_string("content-type"),
        ngx_string("content-length"), ngx_string("transfer-encoding"),
        ngx_string("connection"), ngx_string("user-agent")
    };

    last = value->data + value->len;
    colon = ngx_strlchr(value->data, last, ':');

    if (colon == NULL || colon == value->data) {
        goto invalid;
    }

    for (p = value->data; p < colon; p++) {
        if (*p <= 0x20 || *p >= 0x7f
            || ngx_strchr("\"(),/:;<=>?@[\\]{}", *p) != NULL)
        {
            goto invalid;
        }
    }

    for (p = colon + 1; p < last; p++) {
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f) {
            goto invalid;
        }
    }

    name.data = value->data;
    name.len = colon - value->data;

    for (i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
        if (name.len == own[i].len
            && ngx_strncasecmp(name.data, own[i].data, name.len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "header \"%V\" is set by the exporter", &name);
            return NGX_CONF_ERROR;
        }
    }

    for (p = colon + 1; p < last && (*p == ' ' || *p == '\t'); p++) {
        /* void */
    }

    while (last > p && (last[-1] == ' ' || last[-1] == '\t')) {
        last--;
    }

    out = ngx_pnalloc(cf->pool, name.len + 2 + (last - p));
    if (out == NULL) {
        return NGX_CONF_ERROR;
    }

    value->len = ngx_cpymem(ngx_cpymem(ngx_cpymem(out, name.data, name.len),
                                       ": ", 2),
                            p, last - p)
                 - out;
    value->data = out;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"header=%V\"", value);
    return NGX_CONF_ERROR;
}


static char *
ngx_http_gateway_trace_attr(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gateway_trace_export_loc_conf_t *tlcf = conf;

    ngx_str_t                      *value;
    ngx_uint_t                      i;
    ngx_http_gateway_trace_attr_t  *attr;

    value = cf->args->elts;

    for (i = 0; i < value[1].len; i++) {
        if (value[1].data[i] <= 0x20 || value[1].data[i] >= 0x7f) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid attribute name \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    if (tlcf->attrs == NGX_CONF_UNSET_PTR) {
        tlcf->attrs = ngx_array_create(cf->pool, 4,
                                       sizeof(ngx_http_gateway_trace_attr_t));
        if (tlcf->attrs == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    attr = tlcf->attrs->elts;

    for (i = 0; i < tlcf->attrs->nelts; i++) {
        if (attr[i].name.len == value[1].len
            && ngx_strncmp(attr[i].name.data, value[1].data, value[1].len) == 0)
        {
            return "is duplicate";
        }
    }

    if (tlcf->attrs->nelts == NGX_HTTP_GATEWAY_TRACE_MAX_ATTRS) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "more than %d \"%V\" in one context",
                           NGX_HTTP_GATEWAY_TRACE_MAX_ATTRS, &cmd->name);
        return NGX_CONF_ERROR;
    }

    attr = ngx_array_push(tlcf->attrs);
    if (attr == NULL) {
        return NGX_CONF_ERROR;
    }

    attr->name = value[1];

    if (ngx_http_gateway_trace_key(cf, &value[1], &attr->key) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    attr->value = ngx_http_gateway_compile_complex_value(cf, &value[2]);
    if (attr->value == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_gateway_trace_export_log(ngx_http_request_t *r)
{
    if (r != r->main) {
        return NGX_OK;
    }

    ngx_http_gateway_trace_exporter_add(r);

    return NGX_OK;
}


static void *
ngx_http_gateway_trace_export_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_gateway_trace_export_main_conf_t  *tmcf;

    tmcf = ngx_pcalloc(cf->pool,
                       sizeof(ngx_http_gateway_trace_export_main_conf_t));
    if (tmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     tmcf->url = { 0 };
     *     tmcf->path = { 0, NULL };
     *     tmcf->headers = NULL;
     *     tmcf->service = { 0, NULL };
     */

    tmcf->batch = NGX_CONF_UNSET_UINT;
    tmcf->queue = NGX_CONF_UNSET_UINT;
    tmcf->interval = NGX_CONF_UNSET_MSEC;

    return tmcf;
}


static char *
ngx_http_gateway_trace_export_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_gateway_trace_export_main_conf_t *tmcf = conf;

    if (tmcf->path.len == 0) {
        ngx_str_set(&tmcf->path, "/v1/traces");
    }

    if (tmcf->service.len == 0) {
        ngx_str_set(&tmcf->service, "unknown_service:nginx");
    }

    ngx_conf_init_uint_value(tmcf->batch, NGX_HTTP_GATEWAY_TRACE_BATCH);
    ngx_conf_init_uint_value(tmcf->queue, NGX_HTTP_GATEWAY_TRACE_QUEUE);
    ngx_conf_init_msec_value(tmcf->interval, 5000);

    return NGX_CONF_OK;
}


static void *
ngx_http_gateway_trace_export_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_gateway_trace_export_loc_conf_t  *tlcf;

    tlcf = ngx_palloc(cf->pool,
                      sizeof(ngx_http_gateway_trace_export_loc_conf_t));
    if (tlcf == NULL) {
        return NULL;
    }

    tlcf->attrs = NGX_CONF_UNSET_PTR;

    return tlcf;
}


/* like add_header: a level that adds attributes replaces those it inherits */
static char *
ngx_http_gateway_trace_export_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_gateway_trace_export_loc_conf_t *prev = parent;
    ngx_http_gateway_trace_export_loc_conf_t *conf = child;

    ngx_conf_merge_ptr_value(conf->attrs, prev->attrs, NULL);

    return NGX_CONF_OK;
}


/* The POST's head up to the value of Content-Length, made once. */
static ngx_int_t
ngx_http_gateway_trace_export_head(ngx_conf_t *cf,
    ngx_http_gateway_trace_export_main_conf_t *tmcf)
{
    u_char      *p;
    size_t       len;
    ngx_str_t   *h;
    ngx_uint_t   i, n;

    static u_char  fixed[] = CRLF "Content-Type: application/x-protobuf" CRLF
                             "User-Agent: ngx_http_gateway_module" CRLF;
    static u_char  length[] = "Content-Length: ";

    h = tmcf->headers ? tmcf->headers->elts : NULL;
    n = tmcf->headers ? tmcf->headers->nelts : 0;

    len = sizeof("POST ") - 1 + tmcf->path.len + sizeof(" HTTP/1.1" CRLF) - 1
          + sizeof("Host: ") - 1 + tmcf->collector.len
          + sizeof(fixed) - 1 + sizeof(length) - 1;

    for (i = 0; i < n; i++) {
        len += h[i].len + 2;
    }

    p = ngx_pnalloc(cf->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    tmcf->request_head.data = p;

    p = ngx_cpymem(p, "POST ", 5);
    p = ngx_cpymem(p, tmcf->path.data, tmcf->path.len);
    p = ngx_cpymem(p, " HTTP/1.1" CRLF "Host: ",
                   sizeof(" HTTP/1.1" CRLF "Host: ") - 1);
    p = ngx_cpymem(p, tmcf->collector.data, tmcf->collector.len);
    p = ngx_cpymem(p, fixed, sizeof(fixed) - 1);

    for (i = 0; i < n; i++) {
        p = ngx_cpymem(p, h[i].data, h[i].len);
        *p++ = CR; *p++ = LF;
    }

    p = ngx_cpymem(p, length, sizeof(length) - 1);

    tmcf->request_head.len = p - tmcf->request_head.data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_gateway_trace_export_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt                        *h;
    ngx_http_core_main_conf_t                  *cmcf;
    ngx_http_gateway_trace_export_main_conf_t  *tmcf;

    tmcf = ngx_http_conf_get_module_main_conf(cf,
                                        ngx_http_gateway_trace_export_module);

    if (tmcf->collector.data == NULL) {
        return NGX_OK;
    }

    if (ngx_http_gateway_trace_export_head(cf, tmcf) != NGX_OK
        || ngx_http_gateway_trace_span_keys(cf, tmcf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_gateway_trace_export_log;

    return NGX_OK;
}


static ngx_int_t
ngx_http_gateway_trace_export_init_process(ngx_cycle_t *cycle)
{
    ngx_http_gateway_trace_export_main_conf_t  *tmcf;

    tmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                        ngx_http_gateway_trace_export_module);

    if (tmcf == NULL || tmcf->collector.data == NULL
        || (ngx_process != NGX_PROCESS_WORKER
            && ngx_process != NGX_PROCESS_SINGLE))
    {
        return NGX_OK;
    }

    return ngx_http_gateway_trace_exporter_start(cycle, tmcf);
}


static void
ngx_http_gateway_trace_export_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_gateway_trace_exporter_stop(cycle);
}
