/*
 * A value made only of text and plain variables ($name, ${name}), as
 * nearly every cache or rate limit key is, put together in one pass:
 * nginx's script engine runs a complex value twice (its length, then its
 * bytes) through a code per part, which a key pays on every request.
 * Anything else (regex captures) is left to the engine.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_gateway.h"


static ngx_int_t ngx_http_gateway_flat_part(ngx_conf_t *cf,
    ngx_array_t *parts, ngx_str_t *text, u_char *name, size_t len);


#define ngx_http_gateway_is_name_char(c)                                     \
    ((c) == '_' || ((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z')   \
     || ((c) >= '0' && (c) <= '9'))


ngx_array_t *
ngx_http_gateway_flat_compile(ngx_conf_t *cf, ngx_str_t *value)
{
    u_char                        *p, *last, *name;
    size_t                         len;
    ngx_int_t                      rc;
    ngx_str_t                      text;
    ngx_array_t                   *parts;
    ngx_http_gateway_flat_part_t  *part;

    parts = ngx_array_create(cf->pool, 4,
                             sizeof(ngx_http_gateway_flat_part_t));
    if (parts == NULL) {
        return NGX_CONF_ERROR;
    }

    p = value->data;
    last = p + value->len;
    text.data = p;

    while (p < last) {
        if (*p != '$') {
            p++;
            continue;
        }

        text.len = p - text.data;
        p++;

        if (p < last && *p == '{') {
            name = ++p;

            while (p < last && *p != '}') {
                p++;
            }

            if (p == last) {
                return NULL;
            }

            len = p++ - name;

        } else {
            name = p;

            while (p < last && ngx_http_gateway_is_name_char(*p)) {
                p++;
            }

            len = p - name;
        }

        rc = ngx_http_gateway_flat_part(cf, parts, &text, name, len);

        if (rc != NGX_OK) {
            return rc == NGX_DECLINED ? NULL : NGX_CONF_ERROR;
        }

        text.data = p;
    }

    part = ngx_array_push(parts);
    if (part == NULL) {
        return NGX_CONF_ERROR;
    }

    part->text.data = text.data;
    part->text.len = last - text.data;
    part->index = NGX_ERROR;

    return parts;
}


/* NGX_DECLINED: a name that is not plain (a capture, $1), for the engine */

static ngx_int_t
ngx_http_gateway_flat_part(ngx_conf_t *cf, ngx_array_t *parts,
    ngx_str_t *text, u_char *name, size_t len)
{
    ngx_str_t                      var;
    ngx_uint_t                     i;
    ngx_http_gateway_flat_part_t  *part;

    if (len == 0 || (name[0] >= '0' && name[0] <= '9')) {
        return NGX_DECLINED;
    }

    for (i = 0; i < len; i++) {
        if (!ngx_http_gateway_is_name_char(name[i])) {
            return NGX_DECLINED;
        }
    }

    part = ngx_array_push(parts);
    if (part == NULL) {
        return NGX_ERROR;
    }

    var.data = name;
    var.len = len;

    part->text = *text;
    part->index = ngx_http_get_variable_index(cf, &var);

    return part->index == NGX_ERROR ? NGX_ERROR : NGX_OK;
}


/*
 * The value into buf, as the engine would make it (a variable that is not
 * found is empty); NGX_DECLINED when it does not fit in size.
 */

ngx_int_t
ngx_http_gateway_flat_value(ngx_http_request_t *r, ngx_array_t *parts,
    u_char *buf, size_t size, ngx_str_t *value)
{
    u_char                        *p, *end;
    ngx_uint_t                     i;
    ngx_http_variable_value_t     *vv;
    ngx_http_gateway_flat_part_t  *part;

    p = buf;
    end = buf + size;
    part = parts->elts;

    for (i = 0; i < parts->nelts; i++) {
        if ((size_t) (end - p) < part[i].text.len) {
            return NGX_DECLINED;
        }

        p = ngx_cpymem(p, part[i].text.data, part[i].text.len);

        if (part[i].index == NGX_ERROR) {
            break;
        }

        vv = ngx_http_get_flushed_variable(r, part[i].index);

        if (vv == NULL || vv->not_found) {
            continue;
        }

        if ((size_t) (end - p) < vv->len) {
            return NGX_DECLINED;
        }

        p = ngx_cpymem(p, vv->data, vv->len);
    }

    value->data = buf;
    value->len = p - buf;

    return NGX_OK;
}


/* The variable's index when the parts are one variable alone. */

ngx_int_t
ngx_http_gateway_flat_variable(ngx_array_t *parts)
{
    ngx_http_gateway_flat_part_t  *part;

    part = parts->elts;

    if (parts->nelts != 2 || part[0].text.len || part[1].text.len) {
        return NGX_ERROR;
    }

    return part[0].index;
}
