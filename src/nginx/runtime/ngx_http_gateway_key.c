/*
 * Keys (the cache's, rate limits'), made on every request: into the
 * caller's buffer, not the request's pool, when they fit. A key made only
 * of text and plain variables ($name, ${name}), as nearly every key is, is
 * put together in one pass (nginx's script engine runs a complex value
 * twice, its length then its bytes, through a code per part); a variable
 * alone is not copied at all; anything else (regex captures) is left to
 * the engine.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_gateway.h"


/* text, then the variable's value; the last part has text alone */
typedef struct {
    ngx_str_t                      text;
    ngx_int_t                      index;   /* NGX_ERROR: the end */
} ngx_http_gateway_key_part_t;


static ngx_array_t *ngx_http_gateway_key_parts(ngx_conf_t *cf,
    ngx_str_t *value);
static ngx_int_t ngx_http_gateway_key_part(ngx_conf_t *cf,
    ngx_array_t *parts, ngx_str_t *text, u_char *name, size_t len);
static ngx_int_t ngx_http_gateway_key_flat(ngx_http_request_t *r,
    ngx_array_t *parts, u_char *buf, size_t size, ngx_str_t *value);
static ngx_int_t ngx_http_gateway_key_engine(ngx_http_request_t *r,
    ngx_http_complex_value_t *cv, u_char *buf, size_t size, ngx_str_t *value);


#define ngx_http_gateway_is_name_char(c)                                     \
    ((c) == '_' || ((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z')   \
     || ((c) >= '0' && (c) <= '9'))


ngx_http_gateway_key_t *
ngx_http_gateway_key_compile(ngx_conf_t *cf, ngx_str_t *value)
{
    ngx_http_gateway_key_t       *key;
    ngx_http_gateway_key_part_t  *part;

    key = ngx_pcalloc(cf->pool, sizeof(ngx_http_gateway_key_t));
    if (key == NULL) {
        return NULL;
    }

    key->value = ngx_http_gateway_compile_complex_value(cf, value);
    if (key->value == NULL) {
        return NULL;
    }

    key->parts = ngx_http_gateway_key_parts(cf, value);
    if (key->parts == NGX_CONF_ERROR) {
        return NULL;
    }

    key->variable = NGX_ERROR;

    if (key->parts != NULL && key->parts->nelts == 2) {
        part = key->parts->elts;

        if (part[0].text.len == 0 && part[1].text.len == 0) {
            key->variable = part[0].index;
        }
    }

    return key;
}


/* NULL: more than text and plain variables */

static ngx_array_t *
ngx_http_gateway_key_parts(ngx_conf_t *cf, ngx_str_t *value)
{
    u_char                        *p, *last, *name;
    size_t                         len;
    ngx_int_t                      rc;
    ngx_str_t                      text;
    ngx_array_t                   *parts;
    ngx_http_gateway_key_part_t  *part;

    parts = ngx_array_create(cf->pool, 4,
                             sizeof(ngx_http_gateway_key_part_t));
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

        rc = ngx_http_gateway_key_part(cf, parts, &text, name, len);

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
ngx_http_gateway_key_part(ngx_conf_t *cf, ngx_array_t *parts,
    ngx_str_t *text, u_char *name, size_t len)
{
    ngx_str_t                      var;
    ngx_uint_t                     i;
    ngx_http_gateway_key_part_t  *part;

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
 * The parts into buf, as the engine would put them together (a variable
 * that is not found is empty); NGX_DECLINED when they do not fit in size.
 */

static ngx_int_t
ngx_http_gateway_key_flat(ngx_http_request_t *r, ngx_array_t *parts,
    u_char *buf, size_t size, ngx_str_t *value)
{
    u_char                        *p, *end;
    ngx_uint_t                     i;
    ngx_http_variable_value_t     *vv;
    ngx_http_gateway_key_part_t  *part;

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


ngx_int_t
ngx_http_gateway_key_build(ngx_http_request_t *r, ngx_http_gateway_key_t *key,
    u_char *buf, size_t size, ngx_str_t *value)
{
    if (key->parts != NULL
        && ngx_http_gateway_key_flat(r, key->parts, buf, size, value)
           == NGX_OK)
    {
        return NGX_OK;
    }

    return ngx_http_gateway_key_engine(r, key->value, buf, size, value);
}


/*
 * The value as ngx_http_complex_value() makes it, but put together in buf
 * when it fits, leaving the request's pool alone.
 */

static ngx_int_t
ngx_http_gateway_key_engine(ngx_http_request_t *r,
    ngx_http_complex_value_t *cv, u_char *buf, size_t size, ngx_str_t *value)
{
    size_t                        len;
    ngx_http_script_code_pt       code;
    ngx_http_script_engine_t      e;
    ngx_http_script_len_code_pt   lcode;

    if (cv->lengths == NULL) {
        *value = cv->value;
        return NGX_OK;
    }

    ngx_http_script_flush_complex_value(r, cv);

    ngx_memzero(&e, sizeof(ngx_http_script_engine_t));

    e.ip = cv->lengths;
    e.request = r;
    e.flushed = 1;

    for (len = 0; *(uintptr_t *) e.ip; len += lcode(&e)) {
        lcode = *(ngx_http_script_len_code_pt *) e.ip;
    }

    if (len > size) {
        return ngx_http_complex_value(r, cv, value);
    }

    e.ip = cv->values;
    e.pos = buf;
    e.buf.data = buf;
    e.buf.len = len;

    while (*(uintptr_t *) e.ip) {
        code = *(ngx_http_script_code_pt *) e.ip;
        code((ngx_http_script_engine_t *) &e);
    }

    if (e.status) {
        return NGX_ERROR;
    }

    value->data = buf;
    value->len = e.pos - buf;

    return NGX_OK;
}
