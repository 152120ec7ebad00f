/*
 * Control bytes written as \xHH (nginx's escaping in its access log), for
 * text from clients, tokens or peers that goes into a variable or a log
 * line: nginx writes error log text as it is, so a decoded %0D%0A in a URI
 * or a claim would start a line of the sender's choosing.
 */

#include "ngx_http_gateway.h"


#define ngx_http_gateway_bytes(b)  (0x0101010101010101ULL * (b))

#define ngx_http_gateway_is_control(c)  ((c) < 0x20 || (c) == 0x7f)


/*
 * Eight bytes at a time: a byte below n makes (x - n) borrow into a high
 * bit x does not have; DEL is the byte that x ^ 0x7f turns into 0.
 */

static ngx_inline ngx_uint_t
ngx_http_gateway_word_has_controls(u_char *p)
{
    uint64_t  x, del;

    ngx_memcpy(&x, p, 8);
    del = x ^ ngx_http_gateway_bytes(0x7f);

    return ((((x - ngx_http_gateway_bytes(0x20)) & ~x)
             | ((del - ngx_http_gateway_bytes(0x01)) & ~del))
            & ngx_http_gateway_bytes(0x80))
           != 0;
}


/* The last eight bytes overlap those before them. */

static ngx_uint_t
ngx_http_gateway_has_controls(u_char *p, size_t len)
{
    u_char  *last;

    if (len < 8) {
        for ( /* void */ ; len; p++, len--) {
            if (ngx_http_gateway_is_control(*p)) {
                return 1;
            }
        }

        return 0;
    }

    last = p + len - 8;

    for ( /* void */ ; p < last; p += 8) {
        if (ngx_http_gateway_word_has_controls(p)) {
            return 1;
        }
    }

    return ngx_http_gateway_word_has_controls(last);
}


ngx_int_t
ngx_http_gateway_escape_controls(ngx_pool_t *pool, ngx_str_t *text,
    ngx_str_t *escaped)
{
    u_char      c, *p, *src;
    size_t      i, len, controls;

    static u_char  hex[] = "0123456789ABCDEF";

    src = text->data;
    len = text->len;

    if (!ngx_http_gateway_has_controls(src, len)) {
        escaped->data = src;
        escaped->len = len;
        return NGX_OK;
    }

    controls = 0;

    for (i = 0; i < len; i++) {
        if (ngx_http_gateway_is_control(src[i])) {
            controls++;
        }
    }

    p = ngx_pnalloc(pool, len + 3 * controls);
    if (p == NULL) {
        ngx_str_set(escaped, "-");
        return NGX_ERROR;
    }

    escaped->data = p;

    for (i = 0; i < len; i++) {
        c = src[i];

        if (ngx_http_gateway_is_control(c)) {
            *p++ = '\\';
            *p++ = 'x';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 0xf];

        } else {
            *p++ = c;
        }
    }

    escaped->len = p - escaped->data;

    return NGX_OK;
}


u_char *
ngx_http_gateway_printable(u_char *dst, u_char *src, size_t len)
{
    u_char  c;

    while (len--) {
        c = *src++;
        *dst++ = (c >= 0x20 && c < 0x7f) ? c : '?';
    }

    return dst;
}
