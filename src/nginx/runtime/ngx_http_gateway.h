/*
 * Helpers shared by the gateway's nginx modules.
 */

#ifndef _NGX_HTTP_GATEWAY_H_INCLUDED_
#define _NGX_HTTP_GATEWAY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_gateway_args.h"
#include "ngx_http_gateway_shm.h"
#include "ngx_http_gateway_wait.h"
#include "ngx_http_gateway_link.h"
#include "ngx_http_gateway_stats.h"


/* the module's version, in gateway_status */
#define NGX_HTTP_GATEWAY_VERSION  "0.1.0"


/*
 * The gateway's per-request steps, in the order they run (see
 * ngx_http_gateway_phases.c): the access steps in the access phase, where
 * "satisfy any" may grant access by another way, the others in the
 * precontent phase, which every admitted request goes through.
 */
typedef enum {
    NGX_HTTP_GATEWAY_STEP_JWT = 0,
    NGX_HTTP_GATEWAY_STEP_RBAC,
    NGX_HTTP_GATEWAY_STEP_RATE_LIMIT,
    NGX_HTTP_GATEWAY_STEP_CACHE,       /* a hit is served even if no peer is */
    NGX_HTTP_GATEWAY_STEP_FAIL_FAST,
    NGX_HTTP_GATEWAY_STEPS
} ngx_http_gateway_step_e;

#define NGX_HTTP_GATEWAY_LAST_ACCESS_STEP  NGX_HTTP_GATEWAY_STEP_RBAC

/*
 * NGX_DECLINED: go on; NGX_OK (access steps): the request authenticated
 * itself; NGX_AGAIN: parked, the phase runs again once it is woken; or an
 * HTTP status that ends it.
 */
typedef ngx_int_t (*ngx_http_gateway_step_pt)(ngx_http_request_t *r);

/*
 * What the gateway's features decide for a request, by the names their
 * variables show; spans read them too. Each feature keeps its decision in
 * its own request state and registers a reader for it, so a request pays
 * nothing twice.
 */
typedef enum {
    NGX_HTTP_GATEWAY_DECISION_JWT = 0,
    NGX_HTTP_GATEWAY_DECISION_RATE_LIMIT,
    NGX_HTTP_GATEWAY_DECISION_CIRCUIT,
    NGX_HTTP_GATEWAY_DECISION_CACHE,
    NGX_HTTP_GATEWAY_DECISIONS
} ngx_http_gateway_decision_e;

/* The decision made for the request, NULL when none was. */
typedef ngx_str_t *(*ngx_http_gateway_decision_pt)(ngx_http_request_t *r);


typedef struct {
    ngx_array_t                   links;     /* ngx_http_gateway_link_t * */
    ngx_http_gateway_stats_t     *stats;
    ngx_uint_t                    stats_size_set;
    ngx_http_gateway_stats_family_t  *requests;
    ngx_http_gateway_stats_family_t  *durations;
    ngx_http_gateway_stat_t      *in_flight;
    ngx_uint_t                    rendered;  /* the requests' series are */
    ngx_http_gateway_step_pt      steps[NGX_HTTP_GATEWAY_STEPS];
    ngx_http_gateway_step_pt      access[NGX_HTTP_GATEWAY_STEPS + 1];
    ngx_http_gateway_step_pt      precontent[NGX_HTTP_GATEWAY_STEPS + 1];
    ngx_http_gateway_decision_pt  decisions[NGX_HTTP_GATEWAY_DECISIONS];
} ngx_http_gateway_main_conf_t;


extern ngx_module_t  ngx_http_gateway_module;


/*
 * A feature in use asks for its step from its postconfiguration; phases
 * without steps get no handler.
 */
ngx_int_t ngx_http_gateway_add_step(ngx_conf_t *cf, ngx_uint_t step,
    ngx_http_gateway_step_pt handler);

/*
 * The route label of the location being merged (gateway_route, or the
 * location as written), for a feature's series: valid in the merge of any
 * module that comes after ngx_http_gateway_module.
 */
ngx_str_t *ngx_http_gateway_route_label(ngx_conf_t *cf);

/*
 * Per main request state of a module that survives internal redirects
 * (which clear r->ctx), so work is done once per client request.
 * Returns the zeroed state on first use, NULL when out of memory.
 */
void *ngx_http_gateway_request_state_make(ngx_http_request_t *r,
    ngx_module_t *module, size_t size);
void *ngx_http_gateway_request_state_scan(ngx_http_request_t *r,
    ngx_module_t *module);

static ngx_inline void *
ngx_http_gateway_request_state(ngx_http_request_t *r, ngx_module_t *module,
    size_t size)
{
    void  *state = r->main->ctx[module->ctx_index];

    return state ? state
                 : ngx_http_gateway_request_state_make(r, module, size);
}

/* The same state if it was made, else NULL; never allocates. */
static ngx_inline void *
ngx_http_gateway_request_state_find(ngx_http_request_t *r,
    ngx_module_t *module)
{
    void  *state = r->main->ctx[module->ctx_index];

    return state ? state : ngx_http_gateway_request_state_scan(r, module);
}

/* The main request's state for the main request, a subrequest's own. */
void *ngx_http_gateway_request_state_own(ngx_http_request_t *r,
    ngx_module_t *module, size_t size);

/* Registers the feature's reader of a decision. */
void ngx_http_gateway_decision_reader(ngx_conf_t *cf,
    ngx_http_gateway_decision_e decision, ngx_http_gateway_decision_pt reader);

/* The decision made for the request, NULL when none was. */
ngx_str_t *ngx_http_gateway_decision(ngx_http_request_t *r,
    ngx_http_gateway_decision_e decision);

/*
 * A variable that shows a decision (data: its ngx_http_gateway_decision_e),
 * not found when none was made.
 */
ngx_int_t ngx_http_gateway_decision_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);

/*
 * The route of the location the request is in, as http.route and the span's
 * name want it: gateway_route, else the location as written; empty for a
 * request no location took (unless gateway_route names the server's).
 */
ngx_str_t *ngx_http_gateway_route(ngx_http_request_t *r);

/*
 * The main request's id, made when first asked for ($gateway_request_id);
 * NULL when out of memory.
 */
ngx_str_t *ngx_http_gateway_request_id(ngx_http_request_t *r);

/* Adds a ngx_http_null_variable terminated list of variables. */
ngx_int_t ngx_http_gateway_register_variables(ngx_conf_t *cf,
    ngx_http_variable_t *vars);

/* A directive's value that may hold variables, compiled; NULL on error. */
ngx_http_complex_value_t *ngx_http_gateway_compile_complex_value(
    ngx_conf_t *cf, ngx_str_t *value);

/* A key with variables, made on every request (ngx_http_gateway_key.c). */
typedef struct {
    ngx_http_complex_value_t     *value;     /* as written, for the engine */
    ngx_array_t                  *parts;     /* NULL: not text and plain
                                                variables only */
    ngx_int_t                     variable;  /* a variable alone, else -1 */
} ngx_http_gateway_key_t;

/* The key compiled; NULL on error. */
ngx_http_gateway_key_t *ngx_http_gateway_key_compile(ngx_conf_t *cf,
    ngx_str_t *value);

/*
 * Blocks of one size a worker keeps for the next request, up to max,
 * instead of giving them back to malloc, which misses its small caches
 * when many requests are in flight (two to three hundred instructions a
 * block): the cache's request states and fills, the Redis client's
 * commands and replies. Each spare's first word links the next. None are
 * kept under AddressSanitizer, which then sees every use after free.
 */
typedef struct {
    void                         *first;
    ngx_uint_t                    n;
    ngx_uint_t                    max;
} ngx_http_gateway_spares_t;

#if defined(__SANITIZE_ADDRESS__)
#define ngx_http_gateway_spares(max)  { NULL, 0, 0 }
#else
#define ngx_http_gateway_spares(max)  { NULL, 0, max }
#endif

/* size: the same for every call with these spares (inline: per request) */
static ngx_inline void *
ngx_http_gateway_spare_alloc(ngx_http_gateway_spares_t *spares, size_t size)
{
    void  **spare;

    spare = spares->first;

    if (spare == NULL) {
        return ngx_alloc(size, ngx_cycle->log);
    }

    spares->first = *spare;
    spares->n--;

    return spare;
}

static ngx_inline void
ngx_http_gateway_spare_free(ngx_http_gateway_spares_t *spares, void *p)
{
    if (spares->n >= spares->max) {
        ngx_free(p);
        return;
    }

    *(void **) p = spares->first;
    spares->first = p;
    spares->n++;
}

/* A key that is not a variable alone: in buf when it fits, else the pool. */
ngx_int_t ngx_http_gateway_key_build(ngx_http_request_t *r,
    ngx_http_gateway_key_t *key, u_char *buf, size_t size, ngx_str_t *value);

/*
 * The key's value: a variable alone where the variable keeps it (inline:
 * the usual rate limit key, read on every request), else put together in
 * buf when it fits in size, else in the request's pool. A variable that is
 * not found is empty, as in nginx's complex values.
 */
static ngx_inline ngx_int_t
ngx_http_gateway_key_value(ngx_http_request_t *r, ngx_http_gateway_key_t *key,
    u_char *buf, size_t size, ngx_str_t *value)
{
    ngx_http_variable_value_t  *vv;

    if (key->variable == NGX_ERROR) {
        return ngx_http_gateway_key_build(r, key, buf, size, value);
    }

    vv = ngx_http_get_flushed_variable(r, key->variable);
    if (vv == NULL) {
        return NGX_ERROR;
    }

    value->data = vv->data;
    value->len = vv->not_found ? 0 : vv->len;

    return NGX_OK;
}

/*
 * 1 at most once per interval (ms) for *last (0: never): for messages that
 * would otherwise come with every request while something stays wrong.
 */
static ngx_inline ngx_uint_t
ngx_http_gateway_log_due(ngx_msec_t *last, ngx_msec_t interval)
{
    if (*last != 0 && ngx_current_msec - *last < interval) {
        return 0;
    }

    *last = ngx_current_msec ? ngx_current_msec : 1;

    return 1;
}

/*
 * text with every byte below 0x20 and 0x7f written as \xHH (the way
 * nginx's access log escapes), for client, token or peer data in a
 * variable or an error log line, which nginx writes as it is. escaped is
 * text itself when it has no such byte (the common case costs a scan), and
 * may be text. NGX_ERROR: out of memory, escaped is "-".
 */
ngx_int_t ngx_http_gateway_escape_controls(ngx_pool_t *pool, ngx_str_t *text,
    ngx_str_t *escaped);

/*
 * Copies len bytes of a peer's words (a Consul refusal, a collector's
 * message) to dst for an error log line, any byte that is not printable
 * ASCII as '?'. Returns the end of what was written.
 */
u_char *ngx_http_gateway_printable(u_char *dst, u_char *src, size_t len);

/* Fills buf with unpredictable bytes. */
void ngx_http_gateway_random(u_char *buf, size_t len);

/*
 * A header name the gateway reads or writes; the lower-case form and its
 * hash let request headers be matched the way nginx parsed them.
 */
typedef struct {
    ngx_str_t    name;
    u_char      *lowcase;
    ngx_uint_t   hash;           /* computed on first use */
} ngx_http_gateway_header_t;

#define ngx_http_gateway_header(name, lowcase)                               \
    { ngx_string(name), (u_char *) lowcase, 0 }


/* The first request header called header->name, and how many there are. */
ngx_table_elt_t *ngx_http_gateway_find_request_header(ngx_http_request_t *r,
    ngx_http_gateway_header_t *header, ngx_uint_t *count);

/*
 * For each of n names, the first request header of that name and how many
 * there are (first[k], count[k]), in one pass over the headers.
 */
void ngx_http_gateway_scan_request_headers(ngx_http_request_t *r,
    ngx_http_gateway_header_t **headers, ngx_uint_t n, ngx_table_elt_t **first,
    ngx_uint_t *count);

/* Drops every request header of the n names, rebuilding the list once. */
ngx_int_t ngx_http_gateway_remove_request_headers(ngx_http_request_t *r,
    ngx_http_gateway_header_t **headers, ngx_uint_t n);

/* Adds a request header (the caller removed any of that name). */
ngx_int_t ngx_http_gateway_add_request_header(ngx_http_request_t *r,
    ngx_http_gateway_header_t *header, ngx_str_t *value);

/*
 * Replaces every request header called header->name with one holding value
 * (none when value is NULL), so what goes upstream cannot be spoofed.
 */
ngx_int_t ngx_http_gateway_set_request_header(ngx_http_request_t *r,
    ngx_http_gateway_header_t *header, ngx_str_t *value);

/* Replaces every response header called header->name with one holding value. */
ngx_int_t ngx_http_gateway_set_response_header(ngx_http_request_t *r,
    ngx_http_gateway_header_t *header, ngx_str_t *value);

/* The same for n names and their values, in one pass. */
ngx_int_t ngx_http_gateway_set_response_headers(ngx_http_request_t *r,
    ngx_http_gateway_header_t **headers, ngx_str_t *values, ngx_uint_t n);

/* Sets the challenge of a 401 or 403 (r->headers_out.www_authenticate). */
ngx_int_t ngx_http_gateway_set_www_authenticate(ngx_http_request_t *r,
    ngx_str_t *value);


/*
 * The main request's trace context, begun when first asked for; NULL when
 * gateway_trace is off where the request ended (or out of memory).
 */
struct gw_trace_s *ngx_http_gateway_trace_context(ngx_http_request_t *r);

/*
 * 1 when the trace's flags say sampled: the low bit of their second
 * lower-case hex digit, which is the character's own low bit for '0'-'9'
 * and its opposite for 'a'-'f' (0x61 is 10).
 */
#define ngx_http_gateway_trace_is_sampled(trace)                              \
    (((trace)->flags[1] ^ ((trace)->flags[1] >> 6)) & 1)

/*
 * The token gateway_jwt verified for the location the main request is in
 * (NULL when there is none); *exempt is set when gateway_jwt evaluated to
 * "off" there.
 */
struct gw_jwt_s *ngx_http_gateway_jwt_token(ngx_http_request_t *r,
    ngx_uint_t *exempt);

/*
 * The token gateway_jwt verified for the main request, in whichever
 * location it decided (what $gateway_jwt_claim_* read); NULL when none.
 */
struct gw_jwt_s *ngx_http_gateway_jwt_verified(ngx_http_request_t *r);

/* Whether gateway_jwt refused the main request (its error page is served). */
ngx_uint_t ngx_http_gateway_jwt_refused(ngx_http_request_t *r);


#endif /* _NGX_HTTP_GATEWAY_H_INCLUDED_ */
