/*
 * The "key=value" options of the gateway's directives, parsed by one
 * function from a table, as ngx_command_t tables describe directives:
 * every option once ("duplicate parameter"), nothing unknown ("invalid
 * parameter"), each value read by a slot function.
 */

#ifndef _NGX_HTTP_GATEWAY_ARGS_H_INCLUDED_
#define _NGX_HTTP_GATEWAY_ARGS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


typedef struct ngx_http_gateway_arg_s  ngx_http_gateway_arg_t;

/*
 * Stores value (the text after "name=", or the whole word of a flag) at
 * arg->offset in conf. Returns NGX_CONF_OK, NGX_CONF_ERROR after logging
 * its own message, or NGX_HTTP_GATEWAY_ARG_INVALID for the parser to say
 * "invalid parameter".
 */
typedef char *(*ngx_http_gateway_arg_set_pt)(ngx_conf_t *cf,
    ngx_http_gateway_arg_t *arg, ngx_str_t *value, void *conf);

struct ngx_http_gateway_arg_s {
    ngx_str_t                     name;    /* "rate" for rate=..., or a flag */
    ngx_http_gateway_arg_set_pt   set;
    ngx_uint_t                    offset;
    void                         *post;    /* the slot's bounds or values */
};

#define ngx_http_gateway_null_arg  { ngx_null_string, NULL, 0, NULL }

#define NGX_HTTP_GATEWAY_ARG_INVALID  ((char *) -2)


/* Inclusive bounds of ngx_http_gateway_arg_number/_size/_msec. */
typedef struct {
    ngx_int_t                     min;
    ngx_int_t                     max;
} ngx_http_gateway_arg_bounds_t;


/*
 * Parses cf->args from index "from" on against the table (terminated by
 * ngx_http_gateway_null_arg) into conf; errors name the directive's file
 * and line.
 */
char *ngx_http_gateway_conf_args(ngx_conf_t *cf, ngx_uint_t from,
    ngx_http_gateway_arg_t *args, void *conf);


/* slots */

/* a non-empty ngx_str_t */
char *ngx_http_gateway_arg_str(ngx_conf_t *cf, ngx_http_gateway_arg_t *arg,
    ngx_str_t *value, void *conf);
/* a word without "=", sets an ngx_flag_t */
char *ngx_http_gateway_arg_flag(ngx_conf_t *cf, ngx_http_gateway_arg_t *arg,
    ngx_str_t *value, void *conf);
/* an ngx_int_t within post's bounds (default: 0 and above) */
char *ngx_http_gateway_arg_number(ngx_conf_t *cf, ngx_http_gateway_arg_t *arg,
    ngx_str_t *value, void *conf);
/* a size_t such as "10m" within post's bounds */
char *ngx_http_gateway_arg_size(ngx_conf_t *cf, ngx_http_gateway_arg_t *arg,
    ngx_str_t *value, void *conf);
/* an ngx_msec_t such as "500ms" or "5m", above zero */
char *ngx_http_gateway_arg_msec(ngx_conf_t *cf, ngx_http_gateway_arg_t *arg,
    ngx_str_t *value, void *conf);
/* an ngx_uint_t from post's ngx_conf_enum_t list */
char *ngx_http_gateway_arg_enum(ngx_conf_t *cf, ngx_http_gateway_arg_t *arg,
    ngx_str_t *value, void *conf);
/* repeatable: each value pushed onto an ngx_array_t * of ngx_str_t */
char *ngx_http_gateway_arg_list(ngx_conf_t *cf, ngx_http_gateway_arg_t *arg,
    ngx_str_t *value, void *conf);


#endif /* _NGX_HTTP_GATEWAY_ARGS_H_INCLUDED_ */
