/*
 * ngx_http_gateway_identity_module: request identity and W3C trace context.
 *
 *   gateway_request_id on|off;   $gateway_request_id
 *   gateway_trace on|off;        $gateway_trace_id, $gateway_span_id,
 *                                $gateway_parent_span_id, $gateway_traceparent
 *   gateway_trace_sample RATIO|parent;   $gateway_trace_sampled
 *
 * Keeps a valid incoming X-Request-ID or makes a 128-bit one, sends it
 * upstream as X-Gateway-Request-ID and returns it to the client; continues
 * a valid incoming traceparent with a new span, or starts a trace, and
 * sends the child traceparent upstream (tracestate only with a valid
 * parent). Both read the request headers in one pass and change them with
 * at most one rebuild of the header list. gateway_trace_sample decides
 * whether a trace the gateway starts is sampled (by a ratio of trace ids),
 * or always is ("parent"): a continued trace keeps its parent's decision.
 */

#include "ngx_http_gateway.h"
#include "gw_request_id.h"
#include "gw_trace.h"


typedef struct {
    ngx_uint_t                  used;   /* some level turns a directive on */
} ngx_http_gateway_identity_main_conf_t;


/* gateway_trace_sample parent: no ratio, a new trace is sampled */
#define NGX_HTTP_GATEWAY_TRACE_SAMPLE_PARENT  ((uint64_t) -1)
#define NGX_HTTP_GATEWAY_TRACE_SAMPLE_UNSET   ((uint64_t) -2)


typedef struct {
    ngx_flag_t                  request_id;
    ngx_flag_t                  trace;
    uint64_t                    sample;  /* a ratio's threshold, or PARENT */
} ngx_http_gateway_identity_loc_conf_t;


/* the request headers identity reads and writes, in scan order */
enum {
    ngx_http_gateway_x_request_id = 0,
    ngx_http_gateway_x_gateway_request_id,
    ngx_http_gateway_traceparent,
    ngx_http_gateway_tracestate,
    ngx_http_gateway_identity_headers
};


/* Per main request, surviving internal redirects. */
typedef struct {
    ngx_str_t                   incoming_id;     /* a valid X-Request-ID */
    ngx_str_t                   incoming_parent; /* the one traceparent */
    ngx_str_t                   id;
    u_char                      generated[GW_REQUEST_ID_LEN];
    gw_trace_t                  trace;
    u_char                      traceparent[GW_TRACEPARENT_LEN];

    unsigned                    scanned:1;
    unsigned                    id_made:1;
    unsigned                    trace_begun:1;
    unsigned                    id_sent:1;       /* upstream headers set */
    unsigned                    trace_sent:1;
} ngx_http_gateway_identity_t;


static ngx_http_gateway_identity_t *ngx_http_gateway_identity(
    ngx_http_request_t *r, ngx_uint_t id, ngx_uint_t trace);
static void ngx_http_gateway_identity_scan(ngx_http_request_t *r,
    ngx_http_gateway_identity_t *st, ngx_table_elt_t **first,
    ngx_uint_t *count);
static ngx_int_t ngx_http_gateway_request_id_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_gateway_trace_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_gateway_identity_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_gateway_identity_header_filter(
    ngx_http_request_t *r);
static char *ngx_http_gateway_trace_sample(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_gateway_identity_flag(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static void *ngx_http_gateway_identity_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_gateway_identity_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_gateway_identity_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static ngx_int_t ngx_http_gateway_identity_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_gateway_identity_init(ngx_conf_t *cf);


static ngx_http_gateway_header_t  ngx_http_gateway_identity_names[] = {
    ngx_http_gateway_header("X-Request-ID", "x-request-id"),
    ngx_http_gateway_header("X-Gateway-Request-ID", "x-gateway-request-id"),
    ngx_http_gateway_header("traceparent", "traceparent"),
    ngx_http_gateway_header("tracestate", "tracestate")
};


static ngx_command_t  ngx_http_gateway_identity_commands[] = {

    { ngx_string("gateway_request_id"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_http_gateway_identity_flag,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gateway_identity_loc_conf_t, request_id),
      NULL },

    { ngx_string("gateway_trace"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_http_gateway_identity_flag,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gateway_identity_loc_conf_t, trace),
      NULL },

    { ngx_string("gateway_trace_sample"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_gateway_trace_sample,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_gateway_identity_module_ctx = {
    ngx_http_gateway_identity_add_variables, /* preconfiguration */
    ngx_http_gateway_identity_init,        /* postconfiguration */

    ngx_http_gateway_identity_create_main_conf, /* create main conf */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_gateway_identity_create_loc_conf, /* create location conf */
    ngx_http_gateway_identity_merge_loc_conf   /* merge location conf */
};


ngx_module_t  ngx_http_gateway_identity_module = {
    NGX_MODULE_V1,
    &ngx_http_gateway_identity_module_ctx, /* module context */
    ngx_http_gateway_identity_commands,    /* module directives */
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


static ngx_http_variable_t  ngx_http_gateway_identity_vars[] = {

    { ngx_string("gateway_request_id"), NULL,
      ngx_http_gateway_request_id_variable, 0, 0, 0 },

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


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;


/*
 * The main request's identity, with the request id (id) and the trace
 * (trace) made when asked for; the ids are fixed once per client request.
 */

static ngx_http_gateway_identity_t *
ngx_http_gateway_identity(ngx_http_request_t *r, ngx_uint_t id,
    ngx_uint_t trace)
{
    ngx_uint_t                     count[ngx_http_gateway_identity_headers];
    ngx_table_elt_t               *first[ngx_http_gateway_identity_headers];
    ngx_http_gateway_identity_t   *st;
    ngx_http_gateway_identity_loc_conf_t  *ilcf;
    u_char                        random[GW_REQUEST_ID_RANDOM
                                         + GW_TRACE_RANDOM];

    st = ngx_http_gateway_request_state(r,
                                        &ngx_http_gateway_identity_module,
                                        sizeof(ngx_http_gateway_identity_t));
    if (st == NULL) {
        return NULL;
    }

    id = id && !st->id_made;
    trace = trace && !st->trace_begun;

    if (!id && !trace) {
        return st;
    }

    if (!st->scanned) {
        ngx_http_gateway_identity_scan(r->main, st, first, count);
    }

    if (id) {
        if (st->incoming_id.len) {
            st->id = st->incoming_id;

        } else {
            ngx_http_gateway_random(random, GW_REQUEST_ID_RANDOM);
            gw_request_id_generate(random, (char *) st->generated);

            st->id.data = st->generated;
            st->id.len = GW_REQUEST_ID_LEN;
        }

        st->id_made = 1;
    }

    if (trace) {
        ngx_http_gateway_random(random, GW_TRACE_RANDOM);

        gw_trace_begin((char *) st->incoming_parent.data,
                       st->incoming_parent.len, random, &st->trace);

        ilcf = ngx_http_get_module_loc_conf(r, ngx_http_gateway_identity_module);

        if (ilcf->sample != NGX_HTTP_GATEWAY_TRACE_SAMPLE_PARENT) {
            gw_trace_sample_new(&st->trace, ilcf->sample);
        }

        gw_trace_format_child(&st->trace, (char *) st->traceparent);

        st->trace_begun = 1;
    }

    return st;
}


/* One pass over the request headers; what came in is kept the first time. */

static void
ngx_http_gateway_identity_scan(ngx_http_request_t *r,
    ngx_http_gateway_identity_t *st, ngx_table_elt_t **first,
    ngx_uint_t *count)
{
    ngx_table_elt_t             *h;
    ngx_http_gateway_header_t   *names[ngx_http_gateway_identity_headers];
    ngx_uint_t                   k;

    for (k = 0; k < ngx_http_gateway_identity_headers; k++) {
        names[k] = &ngx_http_gateway_identity_names[k];
    }

    ngx_http_gateway_scan_request_headers(r, names,
                                          ngx_http_gateway_identity_headers,
                                          first, count);

    if (st->scanned) {
        return;
    }

    st->scanned = 1;

    h = first[ngx_http_gateway_x_request_id];

    if (h && gw_request_id_is_valid((char *) h->value.data, h->value.len)) {
        st->incoming_id = h->value;
    }

    /* several traceparent headers are ambiguous: no valid parent */

    if (count[ngx_http_gateway_traceparent] == 1) {
        st->incoming_parent = first[ngx_http_gateway_traceparent]->value;
    }
}


ngx_str_t *
ngx_http_gateway_request_id(ngx_http_request_t *r)
{
    ngx_http_gateway_identity_t  *st;

    /* made already: what most callers find, without the making's frame */

    st = ngx_http_gateway_request_state_find(r,
                                             &ngx_http_gateway_identity_module);

    if (st == NULL || !st->id_made) {
        st = ngx_http_gateway_identity(r, 1, 0);
    }

    return st ? &st->id : NULL;
}


static ngx_int_t
ngx_http_gateway_request_id_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t  *id;

    id = ngx_http_gateway_request_id(r);
    if (id == NULL) {
        return NGX_ERROR;
    }

    v->len = id->len;
    v->data = id->data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_gateway_trace_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_gateway_identity_t  *st;

    st = ngx_http_gateway_identity(r, 0, 1);
    if (st == NULL) {
        return NGX_ERROR;
    }

    switch (data) {

    case ngx_http_gateway_trace_id_var:
        v->data = (u_char *) st->trace.trace_id;
        v->len = GW_TRACE_ID_LEN;
        break;

    case ngx_http_gateway_span_id_var:
        v->data = (u_char *) st->trace.span_id;
        v->len = GW_SPAN_ID_LEN;
        break;

    case ngx_http_gateway_parent_id_var:
        if (!st->trace.continued) {
            v->not_found = 1;
            return NGX_OK;
        }

        v->data = (u_char *) st->trace.parent_id;
        v->len = GW_SPAN_ID_LEN;
        break;

    case ngx_http_gateway_sampled_var:
        v->data = (u_char *) (ngx_http_gateway_trace_is_sampled(&st->trace)
                              ? "1" : "0");
        v->len = 1;
        break;

    default: /* ngx_http_gateway_traceparent_var */
        v->data = st->traceparent;
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
    ngx_http_gateway_identity_t           *st;
    ngx_http_gateway_identity_loc_conf_t  *ilcf;

    ilcf = ngx_http_get_module_loc_conf(r->main,
                                        ngx_http_gateway_identity_module);

    if (!ilcf->trace) {
        return NULL;
    }

    st = ngx_http_gateway_request_state_find(r,
                                             &ngx_http_gateway_identity_module);

    if (st == NULL || !st->trace_begun) {
        st = ngx_http_gateway_identity(r->main, 0, 1);
    }

    return st ? &st->trace : NULL;
}


/*
 * What goes upstream: our X-Gateway-Request-ID and traceparent replace any
 * the client sent (one header is overwritten in place, several are
 * dropped), and tracestate goes only with a valid parent.
 */

static ngx_int_t
ngx_http_gateway_identity_handler(ngx_http_request_t *r)
{
    ngx_str_t                              value[2];
    ngx_uint_t                             id, trace, k, ndrop, nadd;
    ngx_uint_t                             count[ngx_http_gateway_identity_headers];
    ngx_table_elt_t                       *first[ngx_http_gateway_identity_headers];
    ngx_http_gateway_header_t             *drop[3], *add[2];
    ngx_http_gateway_identity_t           *st;
    ngx_http_gateway_identity_loc_conf_t  *ilcf;

    if (r != r->main) {
        return NGX_DECLINED;
    }

    ilcf = ngx_http_get_module_loc_conf(r, ngx_http_gateway_identity_module);

    if (!ilcf->request_id && !ilcf->trace) {
        return NGX_DECLINED;
    }

    st = ngx_http_gateway_identity(r, 0, 0);
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* once per client request, also across internal redirects */

    id = ilcf->request_id && !st->id_sent;
    trace = ilcf->trace && !st->trace_sent;

    if (!id && !trace) {
        return NGX_DECLINED;
    }

    /* the pass that finds our headers also finds what came in */

    ngx_http_gateway_identity_scan(r, st, first, count);

    if (ngx_http_gateway_identity(r, id, trace) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ndrop = 0;
    nadd = 0;

    if (id) {
        k = ngx_http_gateway_x_gateway_request_id;

        if (count[k] == 1) {
            first[k]->value = st->id;

        } else {
            if (count[k]) {
                drop[ndrop++] = &ngx_http_gateway_identity_names[k];
            }

            value[nadd] = st->id;
            add[nadd++] = &ngx_http_gateway_identity_names[k];
        }

        st->id_sent = 1;
    }

    if (trace) {
        k = ngx_http_gateway_traceparent;

        if (count[k] == 1) {
            first[k]->value.data = st->traceparent;
            first[k]->value.len = GW_TRACEPARENT_LEN;

        } else {
            if (count[k]) {
                drop[ndrop++] = &ngx_http_gateway_identity_names[k];
            }

            value[nadd].data = st->traceparent;
            value[nadd].len = GW_TRACEPARENT_LEN;
            add[nadd++] = &ngx_http_gateway_identity_names[k];
        }

        /* vendor state belongs to the parent's trace: dropped with it */

        k = ngx_http_gateway_tracestate;

        if (!st->trace.continued && count[k]) {
            drop[ndrop++] = &ngx_http_gateway_identity_names[k];
        }

        st->trace_sent = 1;
    }

    /* values set in place above are copied by the rebuild */

    if (ndrop
        && ngx_http_gateway_remove_request_headers(r, drop, ndrop) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (k = 0; k < nadd; k++) {
        if (ngx_http_gateway_add_request_header(r, add[k], &value[k])
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return NGX_DECLINED;
}


/* The client gets the id under the name it may have sent, and ours. */

static ngx_int_t
ngx_http_gateway_identity_header_filter(ngx_http_request_t *r)
{
    ngx_str_t                              value[2];
    ngx_http_gateway_header_t             *names[2];
    ngx_http_gateway_identity_t           *st;
    ngx_http_gateway_identity_loc_conf_t  *ilcf;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    ilcf = ngx_http_get_module_loc_conf(r, ngx_http_gateway_identity_module);

    if (!ilcf->request_id) {
        return ngx_http_next_header_filter(r);
    }

    st = ngx_http_gateway_identity(r, 1, 0);
    if (st == NULL) {
        return NGX_ERROR;
    }

    names[0] = &ngx_http_gateway_identity_names[ngx_http_gateway_x_request_id];
    names[1] = &ngx_http_gateway_identity_names[
                                        ngx_http_gateway_x_gateway_request_id];
    value[0] = st->id;
    value[1] = st->id;

    if (ngx_http_gateway_set_response_headers(r, names, value, 2) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_next_header_filter(r);
}


/* on|off, noting that the handlers are needed */

static char *
ngx_http_gateway_identity_flag(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    char                                   *rv;
    ngx_flag_t                             *flag;
    ngx_http_gateway_identity_main_conf_t  *imcf;

    rv = ngx_conf_set_flag_slot(cf, cmd, conf);

    flag = (ngx_flag_t *) ((u_char *) conf + cmd->offset);

    if (rv == NGX_CONF_OK && *flag) {
        imcf = ngx_http_conf_get_module_main_conf(cf,
                                            ngx_http_gateway_identity_module);
        imcf->used = 1;
    }

    return rv;
}


static void *
ngx_http_gateway_identity_create_main_conf(ngx_conf_t *cf)
{
    return ngx_pcalloc(cf->pool,
                       sizeof(ngx_http_gateway_identity_main_conf_t));
}


static void *
ngx_http_gateway_identity_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_gateway_identity_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool,
                       sizeof(ngx_http_gateway_identity_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->request_id = NGX_CONF_UNSET;
    conf->trace = NGX_CONF_UNSET;
    conf->sample = NGX_HTTP_GATEWAY_TRACE_SAMPLE_UNSET;

    return conf;
}


static char *
ngx_http_gateway_identity_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_gateway_identity_loc_conf_t *prev = parent;
    ngx_http_gateway_identity_loc_conf_t *conf = child;

    ngx_conf_merge_value(conf->request_id, prev->request_id, 0);
    ngx_conf_merge_value(conf->trace, prev->trace, 0);

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
    ngx_http_gateway_identity_loc_conf_t *ilcf = conf;

    ngx_str_t  *value;

    if (ilcf->sample != NGX_HTTP_GATEWAY_TRACE_SAMPLE_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 6 && ngx_strncmp(value[1].data, "parent", 6) == 0) {
        ilcf->sample = NGX_HTTP_GATEWAY_TRACE_SAMPLE_PARENT;
        return NGX_CONF_OK;
    }

    if (gw_trace_ratio_threshold((char *) value[1].data, value[1].len,
                                 &ilcf->sample)
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
ngx_http_gateway_identity_add_variables(ngx_conf_t *cf)
{
    return ngx_http_gateway_register_variables(cf,
                                               ngx_http_gateway_identity_vars);
}


static ngx_int_t
ngx_http_gateway_identity_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt                    *h;
    ngx_http_core_main_conf_t              *cmcf;
    ngx_http_gateway_identity_main_conf_t  *imcf;

    imcf = ngx_http_conf_get_module_main_conf(cf,
                                            ngx_http_gateway_identity_module);

    /* the variables work alone; the headers only where a directive is on */

    if (!imcf->used) {
        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PREACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_gateway_identity_handler;

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_gateway_identity_header_filter;

    return NGX_OK;
}
