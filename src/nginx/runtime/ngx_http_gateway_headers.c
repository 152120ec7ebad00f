/*
 * Setting and removing request and response headers.
 */

#include "ngx_http_gateway.h"


static ngx_uint_t ngx_http_gateway_request_header_is(ngx_table_elt_t *h,
    ngx_http_gateway_header_t *header);


ngx_table_elt_t *
ngx_http_gateway_find_request_header(ngx_http_request_t *r,
    ngx_http_gateway_header_t *header, ngx_uint_t *count)
{
    ngx_table_elt_t  *found;

    ngx_http_gateway_scan_request_headers(r, &header, 1, &found, count);

    return found;
}


void
ngx_http_gateway_scan_request_headers(ngx_http_request_t *r,
    ngx_http_gateway_header_t **headers, ngx_uint_t n, ngx_table_elt_t **first,
    ngx_uint_t *count)
{
    ngx_uint_t        i, k;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    for (k = 0; k < n; k++) {
        if (headers[k]->hash == 0) {
            headers[k]->hash = ngx_hash_key(headers[k]->lowcase,
                                            headers[k]->name.len);
        }

        first[k] = NULL;
        count[k] = 0;
    }

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            for (k = 0; k < n; k++) {
                if (ngx_http_gateway_request_header_is(&h[i], headers[k])) {
                    if (first[k] == NULL) {
                        first[k] = &h[i];
                    }

                    count[k]++;
                    break;
                }
            }
        }
    }
}


ngx_int_t
ngx_http_gateway_set_request_header(ngx_http_request_t *r,
    ngx_http_gateway_header_t *header, ngx_str_t *value)
{
    ngx_uint_t        count;
    ngx_table_elt_t  *h;

    h = ngx_http_gateway_find_request_header(r, header, &count);

    if (count == 1 && value != NULL) {
        h->value = *value;
        return NGX_OK;
    }

    if (count
        && ngx_http_gateway_remove_request_headers(r, &header, 1) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (value == NULL) {
        return NGX_OK;
    }

    return ngx_http_gateway_add_request_header(r, header, value);
}


ngx_int_t
ngx_http_gateway_add_request_header(ngx_http_request_t *r,
    ngx_http_gateway_header_t *header, ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_in.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(h, sizeof(ngx_table_elt_t));

    if (header->hash == 0) {
        header->hash = ngx_hash_key(header->lowcase, header->name.len);
    }

    h->key = header->name;
    h->value = *value;
    h->lowcase_key = header->lowcase;
    h->hash = header->hash;

    return NGX_OK;
}


/*
 * ngx_list_t cannot drop elements, so the list is rebuilt in place from a
 * copy of its head, once for all the names; pointers in r->headers_in
 * still see unchanged elements of the old list.
 */

ngx_int_t
ngx_http_gateway_remove_request_headers(ngx_http_request_t *r,
    ngx_http_gateway_header_t **headers, ngx_uint_t n)
{
    ngx_uint_t        i, k;
    ngx_list_t        old;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *copy;

    for (k = 0; k < n; k++) {
        if (headers[k]->hash == 0) {
            headers[k]->hash = ngx_hash_key(headers[k]->lowcase,
                                            headers[k]->name.len);
        }
    }

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
            for (k = 0; k < n; k++) {
                if (ngx_http_gateway_request_header_is(&h[i], headers[k])) {
                    break;
                }
            }

            if (k < n) {
                continue;
            }

            copy = ngx_list_push(&r->headers_in.headers);
            if (copy == NULL) {
                return NGX_ERROR;
            }

            *copy = h[i];
        }
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_gateway_set_response_header(ngx_http_request_t *r,
    ngx_http_gateway_header_t *header, ngx_str_t *value)
{
    return ngx_http_gateway_set_response_headers(r, &header, value, 1);
}


/* One pass hides what the upstream sent under the names, then ours go. */

ngx_int_t
ngx_http_gateway_set_response_headers(ngx_http_request_t *r,
    ngx_http_gateway_header_t **headers, ngx_str_t *values, ngx_uint_t n)
{
    ngx_uint_t        i, k;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    for (part = &r->headers_out.headers.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (h[i].hash == 0) {
                continue;
            }

            for (k = 0; k < n; k++) {
                if (h[i].key.len == headers[k]->name.len
                    && ngx_strncasecmp(h[i].key.data, headers[k]->name.data,
                                       headers[k]->name.len)
                       == 0)
                {
                    h[i].hash = 0;
                    break;
                }
            }
        }
    }

    for (k = 0; k < n; k++) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(h, sizeof(ngx_table_elt_t));

        h->hash = 1;
        h->key = headers[k]->name;
        h->value = values[k];
    }

    return NGX_OK;
}


/*
 * One WWW-Authenticate, known to nginx as r->headers_out.www_authenticate
 * (which auth_request, for one, copies from a subrequest's answer).
 */

ngx_int_t
ngx_http_gateway_set_www_authenticate(ngx_http_request_t *r,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = r->headers_out.www_authenticate;

    if (h == NULL) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        r->headers_out.www_authenticate = h;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "WWW-Authenticate");
    h->value = *value;

    return NGX_OK;
}


static ngx_uint_t
ngx_http_gateway_request_header_is(ngx_table_elt_t *h,
    ngx_http_gateway_header_t *header)
{
    /* nginx hashed and lower-cased every request header while parsing */

    return h->hash == header->hash
           && h->key.len == header->name.len
           && ngx_strncmp(h->lowcase_key, header->lowcase, header->name.len)
              == 0;
}
