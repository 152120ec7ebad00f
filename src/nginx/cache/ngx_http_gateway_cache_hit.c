/*
 * A hit: the stored status and headers, an Age, and the body sent from
 * where the value read from Redis lies (no copy). The rest of the filter
 * chain runs as for any response: conditional requests get their 304,
 * ranges are served from the body, HEAD gets the headers alone.
 */

#include "ngx_http_gateway_cache.h"


static ngx_int_t ngx_http_gateway_cache_set_header(ngx_http_request_t *r,
    gw_cache_str_t *name, gw_cache_str_t *value);
static void ngx_http_gateway_cache_content_type(ngx_http_request_t *r,
    gw_cache_str_t *value);


#define ngx_http_gateway_cache_name_is(name, text)                           \
    ((name)->len == sizeof(text) - 1                                          \
     && ngx_strncasecmp((u_char *) (name)->data, (u_char *) text,             \
                        sizeof(text) - 1) == 0)


ngx_int_t
ngx_http_gateway_cache_serve(ngx_http_request_t *r)
{
    u_char                        *p;
    size_t                         cursor;
    ngx_int_t                      rc;
    ngx_buf_t                     *b;
    ngx_chain_t                    out;
    gw_cache_str_t                 name, value;
    gw_cache_entry_t              *e;
    ngx_http_gateway_cache_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_gateway_cache_module);
    e = &ctx->entry;

    r->headers_out.status = e->meta.status;
    r->headers_out.content_length_n = e->body_len;

    cursor = 0;

    while (gw_cache_entry_next_header(e, &cursor, &name, &value)) {
        if (ngx_http_gateway_cache_set_header(r, &name, &value) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    name.data = "Age";
    name.len = sizeof("Age") - 1;
    value.data = (const char *) p;
    value.len = ngx_sprintf(p, "%uL", e->age) - p;

    if (ngx_http_gateway_cache_set_header(r, &name, &value) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the body is whole in memory: ranges can be cut from it */
    r->allow_ranges = 1;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = (u_char *) e->body;
    b->last = b->pos + e->body_len;
    b->memory = e->body_len != 0;
    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * A stored header, pointing into the value read from Redis, which lives as
 * long as the request. Those nginx keeps track of are set where its
 * filters look for them, as ngx_http_upstream does for a proxied response.
 */

static ngx_int_t
ngx_http_gateway_cache_set_header(ngx_http_request_t *r, gw_cache_str_t *name,
    gw_cache_str_t *value)
{
    ngx_table_elt_t   *h, **cc;

    if (ngx_http_gateway_cache_name_is(name, "Content-Type")) {
        ngx_http_gateway_cache_content_type(r, value);
        return NGX_OK;
    }

    if (ngx_http_gateway_cache_name_is(name, "Accept-Ranges")) {
        return NGX_OK;   /* the range filter says it, as for any hit */
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(h, sizeof(ngx_table_elt_t));

    h->hash = 1;
    h->key.len = name->len;
    h->key.data = (u_char *) name->data;
    h->value.len = value->len;
    h->value.data = (u_char *) value->data;

    if (ngx_http_gateway_cache_name_is(name, "Last-Modified")) {
        r->headers_out.last_modified = h;
        r->headers_out.last_modified_time = ngx_parse_http_time(h->value.data,
                                                                h->value.len);

    } else if (ngx_http_gateway_cache_name_is(name, "ETag")) {
        r->headers_out.etag = h;

    } else if (ngx_http_gateway_cache_name_is(name, "Location")) {
        r->headers_out.location = h;

    } else if (ngx_http_gateway_cache_name_is(name, "Content-Encoding")) {
        r->headers_out.content_encoding = h;

    } else if (ngx_http_gateway_cache_name_is(name, "Expires")) {
        r->headers_out.expires = h;

    } else if (ngx_http_gateway_cache_name_is(name, "Cache-Control")) {
        if (r->headers_out.cache_control.elts == NULL
            && ngx_array_init(&r->headers_out.cache_control, r->pool, 1,
                              sizeof(ngx_table_elt_t *))
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        cc = ngx_array_push(&r->headers_out.cache_control);
        if (cc == NULL) {
            return NGX_ERROR;
        }

        *cc = h;
    }

    return NGX_OK;
}


/* As ngx_http_upstream does: the charset parameter is known apart. */

static void
ngx_http_gateway_cache_content_type(ngx_http_request_t *r,
    gw_cache_str_t *value)
{
    u_char  *start, *end, *p, *q, *last;

    start = (u_char *) value->data;
    end = start + value->len;

    r->headers_out.content_type.data = start;
    r->headers_out.content_type.len = value->len;
    r->headers_out.content_type_len = value->len;
    r->headers_out.content_type_lowcase = NULL;

    for (p = start; p < end; p++) {
        if (*p != ';') {
            continue;
        }

        for (q = p + 1; q < end && *q == ' '; q++) { /* void */ }

        if ((size_t) (end - q) < sizeof("charset=") - 1
            || ngx_strncasecmp(q, (u_char *) "charset=",
                               sizeof("charset=") - 1)
               != 0)
        {
            continue;
        }

        q += sizeof("charset=") - 1;

        if (q < end && *q == '"') {
            q++;
        }

        last = end;

        if (last > q && *(last - 1) == '"') {
            last--;
        }

        r->headers_out.content_type_len = p - start;
        r->headers_out.charset.len = last - q;
        r->headers_out.charset.data = q;

        return;
    }
}
