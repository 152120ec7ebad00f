/*
 * ngx_http_gateway_module: what the gateway's features share at run time,
 * as one nginx module (the first of the .so, which is named after it):
 * the per-request steps, the background links, the stats registry and
 * its zone, and the route of each location:
 *
 *   gateway_route NAME;          (server, location) the route label of
 *                                a location's series, default the
 *                                location's name as written ("server
 *                                NAME" at server level);
 *                                $gateway_route
 *   gateway_metrics_zone SIZE;   (http) the stats zone, default 1m
 *   $gateway_stats               the registry as Prometheus text
 *
 * When something serves the registry (gateway_metrics, $gateway_stats),
 * it counts every request it sees end, by route, method and status class
 * (gateway_http_requests_total), times it by route
 * (gateway_http_request_duration_seconds), and keeps the number of client
 * requests begun and not yet ended (gateway_http_requests_in_flight).
 */

#include "ngx_http_gateway.h"


typedef struct {
    ngx_str_t                     route;       /* gateway_route */
    ngx_str_t                     label;       /* route, or the location */
    ngx_str_t                     http_route;  /* label, but none at server
                                                  level without route */
    ngx_http_gateway_stat_t      *requests;
    ngx_http_gateway_stat_t      *durations;
} ngx_http_gateway_loc_conf_t;


static char *ngx_http_gateway_metrics_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_gateway_route_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_gateway_log_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_gateway_begin_handler(ngx_http_request_t *r);
static void ngx_http_gateway_end(void *data);
static ngx_int_t ngx_http_gateway_location_label(ngx_conf_t *cf,
    ngx_str_t *label);
static ngx_int_t ngx_http_gateway_preconfiguration(ngx_conf_t *cf);
static void *ngx_http_gateway_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_gateway_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_gateway_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_gateway_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_gateway_init_process(ngx_cycle_t *cycle);
static void ngx_http_gateway_exit_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_gateway_commands[] = {

    { ngx_string("gateway_route"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gateway_loc_conf_t, route),
      NULL },

    { ngx_string("gateway_metrics_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_gateway_metrics_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_gateway_module_ctx = {
    ngx_http_gateway_preconfiguration,     /* preconfiguration */
    ngx_http_gateway_init,                 /* postconfiguration */

    ngx_http_gateway_create_main_conf,     /* create main configuration */
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
    ngx_http_gateway_init_process,         /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_gateway_exit_process,         /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_variable_t  ngx_http_gateway_vars[] = {

    { ngx_string("gateway_route"), NULL,
      ngx_http_gateway_route_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("gateway_stats"), NULL,
      ngx_http_gateway_stats_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


/* gateway_http_requests_total{route,method,status} */

static ngx_str_t  ngx_http_gateway_route_labels[] = {
    ngx_string("route"),
    ngx_null_string
};

static ngx_str_t  ngx_http_gateway_methods[] = {
    ngx_string("GET"), ngx_string("HEAD"), ngx_string("POST"),
    ngx_string("PUT"), ngx_string("DELETE"), ngx_string("PATCH"),
    ngx_string("OPTIONS"), ngx_string("other"),
    ngx_null_string
};

#define NGX_HTTP_GATEWAY_METHOD_OTHER  7

/* a method's value by the position of its bit in r->method */
_Static_assert(NGX_HTTP_GET == 1 << 1 && NGX_HTTP_HEAD == 1 << 2
               && NGX_HTTP_POST == 1 << 3 && NGX_HTTP_PUT == 1 << 4
               && NGX_HTTP_DELETE == 1 << 5 && NGX_HTTP_OPTIONS == 1 << 9
               && NGX_HTTP_PATCH == 1 << 14, "the methods' bits moved");

static u_char  ngx_http_gateway_method_index[32] = {
    7, 0, 1, 2, 3, 4, 7, 7,              /* -, GET, HEAD, POST, PUT, DELETE */
    7, 6, 7, 7, 7, 7, 5, 7,              /* OPTIONS at 9, PATCH at 14 */
    7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7
};

static ngx_str_t  ngx_http_gateway_status_classes[] = {
    ngx_string("1xx"), ngx_string("2xx"), ngx_string("3xx"),
    ngx_string("4xx"), ngx_string("5xx"), ngx_string("other"),
    ngx_null_string
};

#define NGX_HTTP_GATEWAY_STATUS_CLASSES  6

static ngx_http_gateway_stats_dim_t  ngx_http_gateway_requests_dims[] = {
    { ngx_string("method"), ngx_http_gateway_methods },
    { ngx_string("status"), ngx_http_gateway_status_classes },
    { ngx_null_string, NULL }
};

static ngx_http_gateway_stats_def_t  ngx_http_gateway_requests_def = {
    ngx_string("gateway_http_requests_total"),
    ngx_string("Requests the gateway answered, by route, method and status "
               "class."),
    GW_METRIC_COUNTER,
    ngx_http_gateway_route_labels,
    ngx_http_gateway_requests_dims,
    0, NULL, NULL
};


/* gateway_http_request_duration_seconds{route}, in microseconds */

static ngx_http_gateway_stats_def_t  ngx_http_gateway_durations_def = {
    ngx_string("gateway_http_request_duration_seconds"),
    ngx_string("Time from the first byte read to the log phase, by route."),
    GW_METRIC_HISTOGRAM,
    ngx_http_gateway_route_labels,
    NULL,
    1e-6, NULL, NULL
};


static ngx_http_gateway_stats_def_t  ngx_http_gateway_in_flight_def = {
    ngx_string("gateway_http_requests_in_flight"),
    ngx_string("Client requests begun and not yet ended, in every worker."),
    GW_METRIC_GAUGE,
    NULL, NULL,
    0, NULL, NULL
};


static char *
ngx_http_gateway_metrics_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gateway_main_conf_t *gmcf = conf;

    ssize_t     size;
    ngx_str_t  *value;

    if (gmcf->stats_size_set) {
        return "is duplicate";
    }

    value = cf->args->elts;

    size = ngx_parse_size(&value[1]);

    if (size == NGX_ERROR || size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\", at least %uz",
                           &value[1], 8 * ngx_pagesize);
        return NGX_CONF_ERROR;
    }

    gmcf->stats_size_set = 1;
    ngx_http_gateway_stats_set_size(cf, size);

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_gateway_route_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_gateway_loc_conf_t  *glcf;

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_gateway_module);

    v->len = glcf->label.len;
    v->data = glcf->label.data;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


ngx_str_t *
ngx_http_gateway_route(ngx_http_request_t *r)
{
    ngx_http_gateway_loc_conf_t  *glcf;

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_gateway_module);

    return &glcf->http_route;
}


/* One count per request, in its final location. */

static ngx_int_t
ngx_http_gateway_log_handler(ngx_http_request_t *r)
{
    ngx_time_t                   *tp;
    ngx_uint_t                    method, status;
    ngx_msec_int_t                ms;
    ngx_http_gateway_loc_conf_t  *glcf;

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_gateway_module);

    /* NGX_HTTP_GET and the others are bits: their position is the index */

    method = ngx_http_gateway_method_index[
                              __builtin_ctz((uint32_t) r->method | 0x80000000)];

    /* the status $status shows */

    status = r->err_status ? r->err_status : r->headers_out.status;
    status = (status >= 100 && status < 600) ? status / 100 - 1
                                             : NGX_HTTP_GATEWAY_STATUS_CLASSES
                                               - 1;

    ngx_http_gateway_stats_add(glcf->requests,
                               ngx_http_gateway_stats_cell2(method,
                                      NGX_HTTP_GATEWAY_STATUS_CLASSES, status),
                               1);

    /* what $request_time shows */

    tp = ngx_timeofday();
    ms = (ngx_msec_int_t) ((tp->sec - r->start_sec) * 1000
                           + (tp->msec - r->start_msec));

    ngx_http_gateway_stats_observe(glcf->durations, 0,
                                   (uint64_t) ngx_max(ms, 0) * 1000);

    return NGX_OK;
}


/*
 * A client request begins (the post-read phase runs once per client
 * request, not again after internal redirects); it ends with its pool,
 * whichever way it ends.
 */

static ngx_int_t
ngx_http_gateway_begin_handler(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t            *cln;
    ngx_http_gateway_main_conf_t  *gmcf;

    if (r != r->main) {
        return NGX_DECLINED;
    }

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gateway_module);

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_DECLINED;                 /* not counted, not a failure */
    }

    cln->handler = ngx_http_gateway_end;
    cln->data = gmcf->in_flight;

    ngx_http_gateway_stats_add(gmcf->in_flight, 0, 1);

    return NGX_DECLINED;
}


static void
ngx_http_gateway_end(void *data)
{
    ngx_http_gateway_stats_add(data, 0, -1);
}


static ngx_int_t
ngx_http_gateway_preconfiguration(ngx_conf_t *cf)
{
    ngx_http_gateway_main_conf_t     *gmcf;
    ngx_http_gateway_stats_family_t  *family;

    gmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_gateway_module);

    gmcf->requests = ngx_http_gateway_stats_family(cf,
                                             &ngx_http_gateway_requests_def);
    if (gmcf->requests == NULL) {
        return NGX_ERROR;
    }

    gmcf->durations = ngx_http_gateway_stats_family(cf,
                                             &ngx_http_gateway_durations_def);
    if (gmcf->durations == NULL) {
        return NGX_ERROR;
    }

    family = ngx_http_gateway_stats_family(cf,
                                           &ngx_http_gateway_in_flight_def);
    if (family == NULL) {
        return NGX_ERROR;
    }

    gmcf->in_flight = ngx_http_gateway_stats_series(cf, family, NULL);
    if (gmcf->in_flight == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_gateway_register_variables(cf, ngx_http_gateway_vars);
}


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

    gmcf->stats = ngx_http_gateway_stats_create(cf);
    if (gmcf->stats == NULL) {
        return NULL;
    }

    return gmcf;
}


static void *
ngx_http_gateway_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_gateway_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_gateway_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->route = { 0, NULL };
     *     conf->label = { 0, NULL };
     *     conf->http_route = { 0, NULL };
     *     conf->requests = NULL;
     *     conf->durations = NULL;
     */

    return conf;
}


static char *
ngx_http_gateway_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_gateway_loc_conf_t *prev = parent;
    ngx_http_gateway_loc_conf_t *conf = child;

    ngx_http_core_loc_conf_t      *clcf;
    ngx_http_gateway_main_conf_t  *gmcf;

    if (conf->route.data == NULL) {
        conf->route = prev->route;
    }

    if (conf->route.data) {
        conf->label = conf->route;

    } else if (ngx_http_gateway_location_label(cf, &conf->label) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* "server NAME" labels a series; a span has no route template for it */

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (conf->route.data || clcf->name.len) {
        conf->http_route = conf->label;
    }

    gmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_gateway_module);

    conf->requests = ngx_http_gateway_stats_series(cf, gmcf->requests,
                                                   &conf->label);
    if (conf->requests == NULL) {
        return NGX_CONF_ERROR;
    }

    conf->durations = ngx_http_gateway_stats_series(cf, gmcf->durations,
                                                    &conf->label);
    if (conf->durations == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * The route of the location whose configuration is being merged: the
 * features' merges run after this module's, which made it.
 */

ngx_str_t *
ngx_http_gateway_route_label(ngx_conf_t *cf)
{
    ngx_http_gateway_loc_conf_t  *glcf;

    glcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_gateway_module);

    return &glcf->label;
}


/*
 * The location as written: "/api/", "= /login", "^~ /static/", "~ \.php$",
 * "@fallback". At server level (a request no location took: a server-level
 * return, a bad request, a URI no location matches) "server NAME", NAME
 * the server's first server_name, or "server" when it has none.
 */

static ngx_int_t
ngx_http_gateway_location_label(ngx_conf_t *cf, ngx_str_t *label)
{
    u_char                    *p;
    ngx_str_t                 *name;
    const char                *modifier;
    ngx_http_core_srv_conf_t  *cscf;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    name = &clcf->name;

    if (name->len == 0) {
        cscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_core_module);
        name = &cscf->server_name;
        modifier = name->len ? "server " : "server";

    } else {
        modifier = clcf->exact_match ? "= "
                   : clcf->noregex ? "^~ "
#if (NGX_PCRE)
                   : clcf->regex ? "~ "
#endif
                   : "";
    }

    label->len = ngx_strlen(modifier) + name->len;

    p = ngx_pnalloc(cf->pool, label->len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    label->data = p;
    ngx_sprintf(p, "%s%V", modifier, name);

    return NGX_OK;
}


void
ngx_http_gateway_stats_rendered(ngx_conf_t *cf)
{
    ngx_http_gateway_main_conf_t  *gmcf;

    gmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_gateway_module);
    gmcf->rendered = 1;
}


ngx_uint_t
ngx_http_gateway_stats_counting(ngx_conf_t *cf)
{
    ngx_http_gateway_main_conf_t  *gmcf;

    gmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_gateway_module);

    return gmcf->rendered;
}


static ngx_int_t
ngx_http_gateway_init(ngx_conf_t *cf)
{
    ngx_uint_t                     i;
    ngx_http_variable_t           *v;
    ngx_http_handler_pt           *h;
    ngx_http_core_main_conf_t     *cmcf;
    ngx_http_gateway_main_conf_t  *gmcf;

    static ngx_str_t  stats = ngx_string("gateway_stats");

    gmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_gateway_module);
    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    if (ngx_http_gateway_links_init(cf, &gmcf->links) != NGX_OK
        || ngx_http_gateway_stats_init(cf, gmcf->stats) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the variables the configuration uses are indexed by now */

    v = cmcf->variables.elts;

    for (i = 0; i < cmcf->variables.nelts; i++) {
        if (v[i].name.len == stats.len
            && ngx_strncmp(v[i].name.data, stats.data, stats.len) == 0)
        {
            gmcf->rendered = 1;
        }
    }

    if (!gmcf->rendered) {
        return NGX_OK;
    }

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_gateway_log_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_POST_READ_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_gateway_begin_handler;

    return NGX_OK;
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
