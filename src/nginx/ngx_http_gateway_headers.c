/*
 * Setting and removing request and response headers.
 */

#include "ngx_http_gateway.h"


static ngx_uint_t ngx_http_gateway_header_is(ngx_table_elt_t *h,
    ngx_str_t *name);


ngx_table_elt_t *
ngx_http_gateway_find_request_header(ngx_http_request_t *r, ngx_str_t *name,
    ngx_uint_t *count)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *found;

    found = NULL;
    *count = 0;

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (ngx_http_gateway_header_is(&h[i], name)) {
                if (found == NULL) {
                    found = &h[i];
                }

                (*count)++;
            }
        }
    }

    return found;
}


ngx_int_t
ngx_http_gateway_set_request_header(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value)
{
    u_char           *lowcase;
    ngx_uint_t        i, count;
    ngx_list_t        old;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *copy;

    if (ngx_http_gateway_find_request_header(r, name, &count) != NULL) {

        /*
         * ngx_list_t cannot drop elements, so the list is rebuilt in place
         * from a copy of its head; pointers in r->headers_in still see
         * unchanged elements of the old list.
         */

        old = r->headers_in.headers;

        if (ngx_list_init(&r->headers_in.headers, r->pool, old.nalloc,
                          sizeof(ngx_table_elt_t))
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        for (part = &old.part; part; part = part->next) {
            h = part->elts;

            for (i = 0; i < part->nelts; i++) {
                if (ngx_http_gateway_header_is(&h[i], name)) {
                    continue;
                }

                copy = ngx_list_push(&r->headers_in.headers);
                if (copy == NULL) {
                    return NGX_ERROR;
                }

                *copy = h[i];
            }
        }
    }

    if (value == NULL) {
        return NGX_OK;
    }

    lowcase = ngx_pnalloc(r->pool, name->len);
    if (lowcase == NULL) {
        return NGX_ERROR;
    }

    h = ngx_list_push(&r->headers_in.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(h, sizeof(ngx_table_elt_t));

    h->key = *name;
    h->value = *value;
    h->lowcase_key = lowcase;
    h->hash = ngx_hash_strlow(lowcase, name->data, name->len);

    return NGX_OK;
}


ngx_int_t
ngx_http_gateway_set_response_header(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    for (part = &r->headers_out.headers.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (h[i].hash != 0 && ngx_http_gateway_header_is(&h[i], name)) {
                h[i].hash = 0;
            }
        }
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(h, sizeof(ngx_table_elt_t));

    h->hash = 1;
    h->key = *name;
    h->value = *value;

    return NGX_OK;
}


static ngx_uint_t
ngx_http_gateway_header_is(ngx_table_elt_t *h, ngx_str_t *name)
{
    return h->key.len == name->len
           && ngx_strncasecmp(h->key.data, name->data, name->len) == 0;
}
