/*
 * Per request state that survives internal redirects, and randomness.
 */

#include "ngx_http_gateway.h"

#include <openssl/rand.h>


typedef struct {
    ngx_module_t  *module;
    /* the module's state follows */
} ngx_http_gateway_state_link_t;


/* Marks our entries in the pool's cleanup list; there is nothing to free. */
static void
ngx_http_gateway_state_cleanup(void *data)
{
}


/*
 * The main request's state once r->ctx lost it: an internal redirect or a
 * jump to a named location (which does not set r->internal) cleared r->ctx,
 * but the pool still holds the state. NULL when it was never made.
 */

void *
ngx_http_gateway_request_state_scan(ngx_http_request_t *r,
    ngx_module_t *module)
{
    void                           *state;
    ngx_pool_cleanup_t             *cln;
    ngx_http_gateway_state_link_t  *link;

    r = r->main;

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler != ngx_http_gateway_state_cleanup) {
            continue;
        }

        link = cln->data;

        if (link->module == module) {
            state = link + 1;
            ngx_http_set_ctx(r, state, (*module));
            return state;
        }
    }

    return NULL;
}


void *
ngx_http_gateway_request_state_make(ngx_http_request_t *r,
    ngx_module_t *module, size_t size)
{
    void                           *state;
    ngx_pool_cleanup_t             *cln;
    ngx_http_gateway_state_link_t  *link;

    state = ngx_http_gateway_request_state_scan(r, module);
    if (state != NULL) {
        return state;
    }

    r = r->main;

    /* the cleanup entry, the link and the state in one allocation */

    cln = ngx_palloc(r->pool, sizeof(ngx_pool_cleanup_t)
                              + sizeof(ngx_http_gateway_state_link_t) + size);
    if (cln == NULL) {
        return NULL;
    }

    link = (ngx_http_gateway_state_link_t *) (cln + 1);
    ngx_memzero(link, sizeof(ngx_http_gateway_state_link_t) + size);
    link->module = module;

    cln->handler = ngx_http_gateway_state_cleanup;
    cln->data = link;
    cln->next = r->pool->cleanup;
    r->pool->cleanup = cln;

    state = link + 1;
    ngx_http_set_ctx(r, state, (*module));

    return state;
}


/* Subrequests run side by side: each has its own state. */

void *
ngx_http_gateway_request_state_own(ngx_http_request_t *r,
    ngx_module_t *module, size_t size)
{
    void  *state;

    if (r == r->main) {
        return ngx_http_gateway_request_state(r, module, size);
    }

    state = ngx_http_get_module_ctx(r, (*module));

    if (state == NULL) {
        state = ngx_pcalloc(r->pool, size);
        if (state == NULL) {
            return NULL;
        }

        ngx_http_set_ctx(r, state, (*module));
    }

    return state;
}


/*
 * Random bytes are drawn from OpenSSL in blocks: one RAND_bytes() call per
 * request costs more than the rest of the request id and trace work, and
 * OpenSSL's generator costs a third as much per byte in 16k draws as in
 * 1k ones. The block belongs to the process that drew it, so a forked
 * worker never hands out bytes its parent or a sibling also holds.
 */
#define NGX_HTTP_GATEWAY_RANDOM_BLOCK  16384

static u_char     ngx_http_gateway_random_block[NGX_HTTP_GATEWAY_RANDOM_BLOCK];
static size_t     ngx_http_gateway_random_left;
static ngx_pid_t  ngx_http_gateway_random_owner;


void
ngx_http_gateway_random(u_char *buf, size_t len)
{
    size_t    i;
    uint32_t  n;
    u_char   *block;

    block = ngx_http_gateway_random_block;

    if (len > NGX_HTTP_GATEWAY_RANDOM_BLOCK) {
        goto direct;
    }

    if (ngx_http_gateway_random_owner != ngx_pid
        || ngx_http_gateway_random_left < len)
    {
        if (RAND_bytes(block, NGX_HTTP_GATEWAY_RANDOM_BLOCK) != 1) {
            goto direct;
        }

        ngx_http_gateway_random_owner = ngx_pid;
        ngx_http_gateway_random_left = NGX_HTTP_GATEWAY_RANDOM_BLOCK;
    }

    ngx_http_gateway_random_left -= len;
    block += ngx_http_gateway_random_left;

    ngx_memcpy(buf, block, len);

    return;

direct:

    ngx_http_gateway_random_left = 0;

    if (RAND_bytes(buf, (int) len) == 1) {
        return;
    }

    /* not expected after OpenSSL's start-up seeding; never leave zeros */

    for (i = 0; i < len; i++) {
        n = (uint32_t) ngx_random();
        buf[i] = (u_char) (n >> 8);
    }
}
