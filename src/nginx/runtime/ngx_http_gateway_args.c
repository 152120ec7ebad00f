/*
 * The "key=value" options of the gateway's directives.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_gateway_args.h"


char *
ngx_http_gateway_conf_args(ngx_conf_t *cf, ngx_uint_t from,
    ngx_http_gateway_arg_t *args, void *conf)
{
    char                    *rv;
    uint64_t                 seen;
    ngx_str_t               *word, value;
    ngx_uint_t               i, n;
    ngx_http_gateway_arg_t  *arg;

    word = cf->args->elts;
    seen = 0;

    for (i = from; i < cf->args->nelts; i++) {

        for (n = 0, arg = args; arg->name.len; n++, arg++) {

            if (arg->set == ngx_http_gateway_arg_flag) {
                if (word[i].len == arg->name.len
                    && ngx_strncmp(word[i].data, arg->name.data,
                                   arg->name.len)
                       == 0)
                {
                    value = word[i];
                    break;
                }

                continue;
            }

            if (word[i].len > arg->name.len
                && word[i].data[arg->name.len] == '='
                && ngx_strncmp(word[i].data, arg->name.data, arg->name.len)
                   == 0)
            {
                value.data = word[i].data + arg->name.len + 1;
                value.len = word[i].len - arg->name.len - 1;
                break;
            }
        }

        if (arg->name.len == 0) {
            goto invalid;
        }

        if (arg->set != ngx_http_gateway_arg_list) {
            if (n < 64 && (seen & ((uint64_t) 1 << n))) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "duplicate parameter \"%V\"", &word[i]);
                return NGX_CONF_ERROR;
            }

            seen |= (n < 64) ? (uint64_t) 1 << n : 0;
        }

        rv = arg->set(cf, arg, &value, conf);

        if (rv == NGX_CONF_OK) {
            continue;
        }

        if (rv == NGX_HTTP_GATEWAY_ARG_INVALID) {
            goto invalid;
        }

        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &word[i]);
    return NGX_CONF_ERROR;
}


char *
ngx_http_gateway_arg_str(ngx_conf_t *cf, ngx_http_gateway_arg_t *arg,
    ngx_str_t *value, void *conf)
{
    ngx_str_t  *field;

    if (value->len == 0) {
        return NGX_HTTP_GATEWAY_ARG_INVALID;
    }

    field = (ngx_str_t *) ((u_char *) conf + arg->offset);
    *field = *value;

    return NGX_CONF_OK;
}


char *
ngx_http_gateway_arg_flag(ngx_conf_t *cf, ngx_http_gateway_arg_t *arg,
    ngx_str_t *value, void *conf)
{
    ngx_flag_t  *field;

    field = (ngx_flag_t *) ((u_char *) conf + arg->offset);
    *field = 1;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_gateway_arg_in_bounds(ngx_http_gateway_arg_t *arg, ngx_int_t n)
{
    ngx_http_gateway_arg_bounds_t  *bounds = arg->post;

    if (n < 0) {
        return 0;
    }

    return bounds == NULL || (n >= bounds->min && n <= bounds->max);
}


char *
ngx_http_gateway_arg_number(ngx_conf_t *cf, ngx_http_gateway_arg_t *arg,
    ngx_str_t *value, void *conf)
{
    ngx_int_t  n, *field;

    n = ngx_atoi(value->data, value->len);

    if (n == NGX_ERROR || !ngx_http_gateway_arg_in_bounds(arg, n)) {
        return NGX_HTTP_GATEWAY_ARG_INVALID;
    }

    field = (ngx_int_t *) ((u_char *) conf + arg->offset);
    *field = n;

    return NGX_CONF_OK;
}


char *
ngx_http_gateway_arg_size(ngx_conf_t *cf, ngx_http_gateway_arg_t *arg,
    ngx_str_t *value, void *conf)
{
    size_t   *field;
    ssize_t   n;

    n = ngx_parse_size(value);

    if (n == NGX_ERROR || !ngx_http_gateway_arg_in_bounds(arg, n)) {
        return NGX_HTTP_GATEWAY_ARG_INVALID;
    }

    field = (size_t *) ((u_char *) conf + arg->offset);
    *field = (size_t) n;

    return NGX_CONF_OK;
}


char *
ngx_http_gateway_arg_msec(ngx_conf_t *cf, ngx_http_gateway_arg_t *arg,
    ngx_str_t *value, void *conf)
{
    ngx_int_t    ms;
    ngx_msec_t  *field;

    ms = ngx_parse_time(value, 0);

    if (ms == NGX_ERROR || ms == 0 || !ngx_http_gateway_arg_in_bounds(arg, ms))
    {
        return NGX_HTTP_GATEWAY_ARG_INVALID;
    }

    field = (ngx_msec_t *) ((u_char *) conf + arg->offset);
    *field = (ngx_msec_t) ms;

    return NGX_CONF_OK;
}


char *
ngx_http_gateway_arg_enum(ngx_conf_t *cf, ngx_http_gateway_arg_t *arg,
    ngx_str_t *value, void *conf)
{
    u_char            *p, *last;
    ngx_uint_t        *field;
    ngx_conf_enum_t   *e;
    u_char             expected[256];

    for (e = arg->post; e->name.len; e++) {
        if (e->name.len == value->len
            && ngx_strncmp(e->name.data, value->data, value->len) == 0)
        {
            field = (ngx_uint_t *) ((u_char *) conf + arg->offset);
            *field = e->value;
            return NGX_CONF_OK;
        }
    }

    /* invalid algorithm "x", expected "a", "b" or "c" */

    p = expected;
    last = expected + sizeof(expected);

    for (e = arg->post; e->name.len; e++) {
        p = ngx_slprintf(p, last, "%s\"%V\"",
                         e == arg->post ? ""
                                        : e[1].name.len ? ", " : " or ",
                         &e->name);
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid %V \"%V\", expected %*s",
                       &arg->name, value, p - expected, expected);

    return NGX_CONF_ERROR;
}


char *
ngx_http_gateway_arg_list(ngx_conf_t *cf, ngx_http_gateway_arg_t *arg,
    ngx_str_t *value, void *conf)
{
    ngx_str_t     *s;
    ngx_array_t  **field;

    if (value->len == 0) {
        return NGX_HTTP_GATEWAY_ARG_INVALID;
    }

    field = (ngx_array_t **) ((u_char *) conf + arg->offset);

    if (*field == NULL || *field == NGX_CONF_UNSET_PTR) {
        *field = ngx_array_create(cf->pool, 2, sizeof(ngx_str_t));
        if (*field == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    s = ngx_array_push(*field);
    if (s == NULL) {
        return NGX_CONF_ERROR;
    }

    *s = *value;

    return NGX_CONF_OK;
}
