/*
 * gateway_jwt_key_request: a JWKS fetched by subrequest from a local URI
 * and shared by the workers. The document's text is kept in the shared
 * zone "gateway_jwt_keys", each worker parses it once per version. It
 * belongs to one directive in one server{} of one configuration, never to
 * the URI's text: two servers whose "/_jwks" lead to different providers
 * never trust each other's keys, and a reload fetches them anew. When the keys are missing or stale one request fetches them:
 * without keys the others poll the zone until it is done, with stale keys
 * they go on with the old ones. A token naming an unknown kid refetches at
 * most every NGX_HTTP_GATEWAY_JWT_REFETCH seconds.
 */

#include "ngx_http_gateway_jwt.h"


#define NGX_HTTP_GATEWAY_JWT_REFETCH     30      /* s, unknown kid */
#define NGX_HTTP_GATEWAY_JWT_RETRY       5       /* s, failed or stale keys */
#define NGX_HTTP_GATEWAY_JWT_INFLIGHT    10000   /* ms, a fetch is trusted to run */
#define NGX_HTTP_GATEWAY_JWT_POLL        20      /* ms, waiting for a fetch */
#define NGX_HTTP_GATEWAY_JWT_KEYS_SIZE   (1024 * 1024)

/* what a request does about key_request keys */
#define NGX_HTTP_GATEWAY_JWT_KEYS_USE    0       /* go on with the keys there are */
#define NGX_HTTP_GATEWAY_JWT_KEYS_FETCH  1       /* fetch them itself */
#define NGX_HTTP_GATEWAY_JWT_KEYS_WAIT   2       /* wait for another's fetch */


typedef struct {
    ngx_queue_t                    queue;
    uint64_t                       version;
    uint64_t                       generation; /* configurations so far */
} ngx_http_gateway_jwt_keys_sh_t;


/* One key_request's JWKS in shared memory. */
typedef struct {
    ngx_queue_t                    queue;
    uint64_t                       generation; /* its configuration */
    ngx_uint_t                     serial;     /* its key_request there */
    u_char                        *text;
    size_t                         len;
    uint64_t                       version;
    time_t                         fetched;    /* last success */
    time_t                         attempted;  /* last fetch started */
    time_t                         refetched;  /* last one for an unknown kid */
    time_t                         failed;     /* last failure */
    ngx_msec_t                     inflight;   /* a fetch runs until then */
} ngx_http_gateway_jwt_keys_node_t;


static ngx_int_t ngx_http_gateway_jwt_init_keys_zone(ngx_shm_zone_t *zone,
    void *data);
static void ngx_http_gateway_jwt_keys_forget(
    ngx_http_gateway_jwt_shctx_t *shctx);
static ngx_http_gateway_jwt_keys_node_t *ngx_http_gateway_jwt_keys_node(
    ngx_http_gateway_jwt_shctx_t *shctx,
    ngx_http_gateway_jwt_remote_t *remote);
static void ngx_http_gateway_jwt_keys_sync(ngx_http_request_t *r,
    ngx_shm_zone_t *zone, ngx_http_gateway_jwt_remote_t *remote);
static ngx_uint_t ngx_http_gateway_jwt_keys_should_fetch(ngx_shm_zone_t *zone,
    ngx_http_gateway_jwt_remote_t *remote, time_t key_cache,
    ngx_uint_t unknown_kid);
static void ngx_http_gateway_jwt_keys_poll(ngx_http_request_t *r);
static ngx_int_t ngx_http_gateway_jwt_keys_clean_headers(
    ngx_http_request_t *sr);
static ngx_int_t ngx_http_gateway_jwt_keys_fetch(ngx_http_request_t *r,
    ngx_http_gateway_jwt_ctx_t *ctx, ngx_http_gateway_jwt_remote_t *remote);
static ngx_int_t ngx_http_gateway_jwt_keys_done(ngx_http_request_t *r,
    void *data, ngx_int_t rc);
static void ngx_http_gateway_jwt_keys_publish(ngx_http_request_t *r,
    ngx_shm_zone_t *zone, ngx_http_gateway_jwt_remote_t *remote,
    u_char *data, size_t len);
static void ngx_http_gateway_jwt_keys_fetched(ngx_shm_zone_t *zone,
    ngx_http_gateway_jwt_remote_t *remote, ngx_int_t rc);


static ngx_str_t  ngx_http_gateway_jwt_keys_name =
    ngx_string("gateway_jwt_keys");


char *
ngx_http_gateway_jwt_key_request(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_gateway_jwt_loc_conf_t *jlcf = conf;

    u_char                            *p;
    ngx_str_t                         *value;
    ngx_http_gateway_jwt_main_conf_t  *jmcf;

    if (jlcf->remote != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        jlcf->remote = NULL;
        return NGX_CONF_OK;
    }

    if (value[1].len == 0 || value[1].data[0] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid URI \"%V\", expected a local URI such as "
                           "\"/_jwks\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    jlcf->remote = ngx_pcalloc(cf->pool, sizeof(ngx_http_gateway_jwt_remote_t));
    if (jlcf->remote == NULL) {
        return NGX_CONF_ERROR;
    }

    jmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_gateway_jwt_module);

    jlcf->remote->uri = value[1];
    jlcf->remote->serial = ++jmcf->remotes;
    jlcf->remote->server = ngx_http_conf_get_module_srv_conf(cf,
                                                         ngx_http_core_module);

    /* "/_jwks?tenant=a": the subrequest takes the arguments apart */

    jlcf->remote->path = value[1];

    p = ngx_strlchr(value[1].data, value[1].data + value[1].len, '?');

    if (p) {
        jlcf->remote->path.len = p - value[1].data;
        jlcf->remote->args.data = p + 1;
        jlcf->remote->args.len = value[1].data + value[1].len - (p + 1);
    }

    /* one zone serves every key_request */

    if (jmcf->keys == NULL) {
        jmcf->keys = ngx_http_gateway_jwt_add_zone(cf,
                                           &ngx_http_gateway_jwt_keys_name,
                                           NGX_HTTP_GATEWAY_JWT_KEYS_SIZE,
                                           ngx_http_gateway_jwt_init_keys_zone);
        if (jmcf->keys == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/*
 * The key_request for the server{} being merged: its URI is resolved in
 * the request's own server, so one inherited from the http{} level gets a
 * copy, and keys of its own, in every server.
 */

ngx_http_gateway_jwt_remote_t *
ngx_http_gateway_jwt_server_remote(ngx_conf_t *cf,
    ngx_http_gateway_jwt_remote_t *remote)
{
    void                              *server;
    ngx_http_gateway_jwt_remote_t     *copy;
    ngx_http_gateway_jwt_main_conf_t  *jmcf;

    server = ngx_http_conf_get_module_srv_conf(cf, ngx_http_core_module);

    for (copy = remote; copy; copy = copy->copies) {
        if (copy->server == server) {
            return copy;
        }
    }

    copy = ngx_palloc(cf->pool, sizeof(ngx_http_gateway_jwt_remote_t));
    if (copy == NULL) {
        return NULL;
    }

    jmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_gateway_jwt_module);

    *copy = *remote;
    copy->serial = ++jmcf->remotes;
    copy->server = server;

    copy->copies = remote->copies;
    remote->copies = copy;

    return copy;
}


/*
 * Every configuration (start, reload) is a new generation: its key_request
 * nodes start empty. Nodes two generations back are freed here; workers of
 * the previous one may still be finishing requests with theirs.
 */

static ngx_int_t
ngx_http_gateway_jwt_init_keys_zone(ngx_shm_zone_t *zone, void *data)
{
    ngx_http_gateway_jwt_shctx_t    *shctx;
    ngx_http_gateway_jwt_keys_sh_t  *sh;

    shctx = zone->data;

    if (ngx_http_gateway_jwt_reuse_zone(zone, data) != NGX_OK) {
        sh = ngx_slab_calloc(shctx->shpool,
                             sizeof(ngx_http_gateway_jwt_keys_sh_t));
        if (sh == NULL) {
            return NGX_ERROR;
        }

        shctx->sh = sh;
        shctx->shpool->data = sh;

        ngx_queue_init(&sh->queue);
    }

    sh = shctx->sh;

    ngx_shmtx_lock(&shctx->shpool->mutex);

    shctx->generation = ++sh->generation;
    ngx_http_gateway_jwt_keys_forget(shctx);

    ngx_shmtx_unlock(&shctx->shpool->mutex);

    return NGX_OK;
}


static void
ngx_http_gateway_jwt_keys_forget(ngx_http_gateway_jwt_shctx_t *shctx)
{
    ngx_queue_t                       *q, *next;
    ngx_http_gateway_jwt_keys_sh_t    *sh;
    ngx_http_gateway_jwt_keys_node_t  *kn;

    sh = shctx->sh;

    for (q = ngx_queue_head(&sh->queue);
         q != ngx_queue_sentinel(&sh->queue);
         q = next)
    {
        next = ngx_queue_next(q);
        kn = ngx_queue_data(q, ngx_http_gateway_jwt_keys_node_t, queue);

        if (kn->generation + 1 >= shctx->generation) {
            continue;
        }

        ngx_queue_remove(q);

        if (kn->text) {
            ngx_slab_free_locked(shctx->shpool, kn->text);
        }

        ngx_slab_free_locked(shctx->shpool, kn);
    }
}


/*
 * Brings the key_request keys up to date before a token is verified.
 * NGX_DECLINED: go on with the keys there are; NGX_AGAIN: this request
 * fetches them or waits for another's fetch; NGX_ERROR.
 */

ngx_int_t
ngx_http_gateway_jwt_remote_keys(ngx_http_request_t *r,
    ngx_http_gateway_jwt_loc_conf_t *jlcf, ngx_http_gateway_jwt_ctx_t *ctx)
{
    ngx_http_gateway_jwt_remote_t     *remote;
    ngx_http_gateway_jwt_main_conf_t  *jmcf;

    jmcf = ngx_http_get_module_main_conf(r, ngx_http_gateway_jwt_module);
    remote = jlcf->remote;

    if (remote == NULL || jmcf->keys == NULL) {
        return NGX_DECLINED;
    }

    ngx_http_gateway_jwt_keys_sync(r, jmcf->keys, remote);

    if (ctx->fetch_tried) {
        return NGX_DECLINED;
    }

    switch (ngx_http_gateway_jwt_keys_should_fetch(jmcf->keys, remote,
                                                   jlcf->key_cache, 0))
    {
    case NGX_HTTP_GATEWAY_JWT_KEYS_FETCH:
        ctx->fetch_tried = 1;
        return ngx_http_gateway_jwt_keys_fetch(r, ctx, remote);

    case NGX_HTTP_GATEWAY_JWT_KEYS_WAIT:

        /* no keys yet and another request fetches them: poll the
         * shared memory for a while rather than pile on */

        if (!ctx->polling) {
            ctx->polling = 1;
            ctx->poll_until = ngx_current_msec + NGX_HTTP_GATEWAY_JWT_INFLIGHT;
        }

        if ((ngx_msec_int_t) (ctx->poll_until - ngx_current_msec) > 0) {
            r->read_event_handler = ngx_http_test_reading;
            r->write_event_handler = ngx_http_gateway_jwt_keys_poll;
            r->connection->write->delayed = 1;
            ngx_add_timer(r->connection->write, NGX_HTTP_GATEWAY_JWT_POLL);
            return NGX_AGAIN;
        }

        break;

    default:
        break;
    }

    return NGX_DECLINED;
}


/*
 * A token named a kid the keys lack: NGX_AGAIN when this request refetches
 * them, NGX_DECLINED when that was done too recently (NGX_ERROR).
 */

ngx_int_t
ngx_http_gateway_jwt_remote_refetch(ngx_http_request_t *r,
    ngx_http_gateway_jwt_loc_conf_t *jlcf, ngx_http_gateway_jwt_ctx_t *ctx)
{
    ngx_http_gateway_jwt_main_conf_t  *jmcf;

    jmcf = ngx_http_get_module_main_conf(r, ngx_http_gateway_jwt_module);

    if (jlcf->remote == NULL || jmcf->keys == NULL || ctx->refetched
        || ngx_http_gateway_jwt_keys_should_fetch(jmcf->keys, jlcf->remote,
                                                  jlcf->key_cache, 1)
           != NGX_HTTP_GATEWAY_JWT_KEYS_FETCH)
    {
        return NGX_DECLINED;
    }

    ctx->refetched = 1;

    return ngx_http_gateway_jwt_keys_fetch(r, ctx, jlcf->remote);
}


/* The shared node of a key_request, added when missing; under the mutex. */

static ngx_http_gateway_jwt_keys_node_t *
ngx_http_gateway_jwt_keys_node(ngx_http_gateway_jwt_shctx_t *shctx,
    ngx_http_gateway_jwt_remote_t *remote)
{
    ngx_queue_t                       *q;
    ngx_http_gateway_jwt_keys_sh_t    *sh;
    ngx_http_gateway_jwt_keys_node_t  *kn;

    sh = shctx->sh;

    for (q = ngx_queue_head(&sh->queue);
         q != ngx_queue_sentinel(&sh->queue);
         q = ngx_queue_next(q))
    {
        kn = ngx_queue_data(q, ngx_http_gateway_jwt_keys_node_t, queue);

        if (kn->generation == shctx->generation
            && kn->serial == remote->serial)
        {
            return kn;
        }
    }

    kn = ngx_slab_calloc_locked(shctx->shpool,
                                sizeof(ngx_http_gateway_jwt_keys_node_t));
    if (kn == NULL) {
        return NULL;
    }

    kn->generation = shctx->generation;
    kn->serial = remote->serial;

    ngx_queue_insert_tail(&sh->queue, &kn->queue);

    return kn;
}


/* Picks up a JWKS another worker fetched. */

static void
ngx_http_gateway_jwt_keys_sync(ngx_http_request_t *r, ngx_shm_zone_t *zone,
    ngx_http_gateway_jwt_remote_t *remote)
{
    u_char                            *text;
    size_t                             len;
    uint64_t                           version;
    gw_jwt_keyset_t                   *ks;
    ngx_http_gateway_jwt_shctx_t      *shctx;
    ngx_http_gateway_jwt_keys_node_t  *kn;
    char                               err[GW_JWT_ERRLEN];

    shctx = zone->data;
    text = NULL;
    len = 0;
    version = 0;

    ngx_shmtx_lock(&shctx->shpool->mutex);

    kn = ngx_http_gateway_jwt_keys_node(shctx, remote);

    if (kn && kn->version != remote->version && kn->text) {
        text = ngx_alloc(kn->len, r->connection->log);
        if (text) {
            ngx_memcpy(text, kn->text, kn->len);
            len = kn->len;
            version = kn->version;
        }
    }

    ngx_shmtx_unlock(&shctx->shpool->mutex);

    if (text == NULL) {
        return;
    }

    ks = gw_jwt_keyset_new();

    if (ks && gw_jwt_keyset_add(ks, (char *) text, len, err, sizeof(err)) > 0) {
        if (remote->keys) {
            gw_jwt_keyset_free(remote->keys);
        }

        remote->keys = ks;
        gw_jwt_keyset_fingerprint(ks, remote->fingerprint);

    } else {
        gw_jwt_keyset_free(ks);
    }

    remote->version = version;

    ngx_free(text);
}


static ngx_uint_t
ngx_http_gateway_jwt_keys_should_fetch(ngx_shm_zone_t *zone,
    ngx_http_gateway_jwt_remote_t *remote, time_t key_cache,
    ngx_uint_t unknown_kid)
{
    time_t                             now, retry;
    ngx_uint_t                         rc;
    ngx_http_gateway_jwt_shctx_t      *shctx;
    ngx_http_gateway_jwt_keys_node_t  *kn;

    shctx = zone->data;
    now = ngx_time();
    rc = NGX_HTTP_GATEWAY_JWT_KEYS_USE;
    retry = ngx_min(key_cache, NGX_HTTP_GATEWAY_JWT_RETRY);

    ngx_shmtx_lock(&shctx->shpool->mutex);

    kn = ngx_http_gateway_jwt_keys_node(shctx, remote);

    if (kn == NULL) {
        /* no room to remember anything: fetch for this request only */
        if (remote->keys == NULL) {
            rc = NGX_HTTP_GATEWAY_JWT_KEYS_FETCH;
        }

    } else if (unknown_kid) {
        if (now - kn->refetched >= NGX_HTTP_GATEWAY_JWT_REFETCH) {
            kn->refetched = now;
            rc = NGX_HTTP_GATEWAY_JWT_KEYS_FETCH;
        }

    } else if (remote->keys == NULL) {

        /*
         * nothing to verify with: one request fetches, the others wait for
         * it; after a failure nobody tries again for a few seconds
         */

        if ((ngx_msec_int_t) (kn->inflight - ngx_current_msec) > 0) {
            rc = NGX_HTTP_GATEWAY_JWT_KEYS_WAIT;

        } else if (now - kn->failed >= retry) {
            rc = NGX_HTTP_GATEWAY_JWT_KEYS_FETCH;
        }

    } else if (now >= kn->fetched + key_cache) {
        /* stale: one request refreshes, the others use the old keys */
        if (now - kn->attempted >= retry) {
            rc = NGX_HTTP_GATEWAY_JWT_KEYS_FETCH;
        }
    }

    if (rc == NGX_HTTP_GATEWAY_JWT_KEYS_FETCH && kn) {
        kn->attempted = now;
        kn->inflight = ngx_current_msec + NGX_HTTP_GATEWAY_JWT_INFLIGHT;
    }

    ngx_shmtx_unlock(&shctx->shpool->mutex);

    return rc;
}


/* The write event timer of a request waiting for another's fetch. */

static void
ngx_http_gateway_jwt_keys_poll(ngx_http_request_t *r)
{
    ngx_event_t  *wev;

    wev = r->connection->write;

    if (wev->delayed) {
        if (ngx_handle_write_event(wev, 0) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }

        return;
    }

    if (ngx_handle_read_event(r->connection->read, 0) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    ngx_http_core_run_phases(r);
}


static ngx_int_t
ngx_http_gateway_jwt_keys_fetch(ngx_http_request_t *r,
    ngx_http_gateway_jwt_ctx_t *ctx, ngx_http_gateway_jwt_remote_t *remote)
{
    ngx_http_request_t          *sr;
    ngx_http_post_subrequest_t  *ps;

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NGX_ERROR;
    }

    ps->handler = ngx_http_gateway_jwt_keys_done;
    ps->data = ctx;

    if (ngx_http_subrequest(r, &remote->path,
                            remote->args.len ? &remote->args : NULL, &sr, ps,
                            NGX_HTTP_SUBREQUEST_WAITED
                            |NGX_HTTP_SUBREQUEST_IN_MEMORY)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* a GET without the client's body and headers */

    sr->method = NGX_HTTP_GET;
    ngx_str_set(&sr->method_name, "GET");

    sr->request_body = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    if (sr->request_body == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_gateway_jwt_keys_clean_headers(sr) != NGX_OK) {
        return NGX_ERROR;
    }

    ctx->waiting = 1;
    ctx->fetching = remote;

    return NGX_AGAIN;
}


/*
 * A subrequest starts with a copy of the client's headers: Range,
 * If-None-Match or Accept-Encoding would let any client make the fetch
 * fail (206, 304, a compressed body), and its cookies and Authorization
 * would go to the identity provider. The fetch sends none of them; only
 * the request's host (nginx's validated $host) is kept.
 */

static ngx_int_t
ngx_http_gateway_jwt_keys_clean_headers(ngx_http_request_t *sr)
{
    ngx_str_t  server;

    server = sr->headers_in.server;

    ngx_memzero(&sr->headers_in, sizeof(ngx_http_headers_in_t));

    if (ngx_list_init(&sr->headers_in.headers, sr->pool, 1,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    sr->headers_in.server = server;
    sr->headers_in.content_length_n = -1;
    sr->headers_in.keep_alive_n = -1;

    return NGX_OK;
}


static ngx_int_t
ngx_http_gateway_jwt_keys_done(ngx_http_request_t *r, void *data,
    ngx_int_t rc)
{
    ngx_http_gateway_jwt_ctx_t *ctx = data;

    ngx_buf_t                         *b;
    ngx_uint_t                         ok, status;
    gw_jwt_keyset_t                   *ks;
    ngx_http_gateway_jwt_remote_t     *remote;
    ngx_http_gateway_jwt_main_conf_t  *jmcf;
    char                               err[GW_JWT_ERRLEN];

    if (!ctx->waiting) {
        return rc;
    }

    ctx->waiting = 0;
    remote = ctx->fetching;
    ctx->fetching = NULL;

    jmcf = ngx_http_get_module_main_conf(r, ngx_http_gateway_jwt_module);

    ok = 0;
    ks = NULL;
    b = r->out ? r->out->buf : NULL;

    status = (rc >= NGX_HTTP_SPECIAL_RESPONSE) ? (ngx_uint_t) rc
                                               : r->headers_out.status;

    if (status == NGX_HTTP_CLIENT_CLOSED_REQUEST || r->connection->error) {

        /* the client went away: not the provider's failure, and the next
         * request may fetch at once */

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "gateway jwt: fetching keys from \"%V\" abandoned, "
                      "the client closed the connection", &remote->uri);

        ngx_http_gateway_jwt_keys_fetched(jmcf->keys, remote, NGX_DECLINED);

        return rc;
    }

    if (rc == NGX_ERROR || rc == NGX_AGAIN) {
        ngx_snprintf((u_char *) err, sizeof(err), "subrequest failed%Z");

    } else if (status != NGX_HTTP_OK) {
        ngx_snprintf((u_char *) err, sizeof(err), "status %ui%Z", status);

    } else if (r->headers_out.content_encoding
               && r->headers_out.content_encoding->hash
               && !(r->headers_out.content_encoding->value.len == 8
                    && ngx_strncasecmp(
                           r->headers_out.content_encoding->value.data,
                           (u_char *) "identity", 8) == 0))
    {
        ngx_snprintf((u_char *) err, sizeof(err),
                     "the body is encoded (Content-Encoding: %V)%Z",
                     &r->headers_out.content_encoding->value);

    } else if (b == NULL || b->last == b->pos) {
        ngx_snprintf((u_char *) err, sizeof(err), "empty response%Z");

    } else {
        ks = gw_jwt_keyset_new();

        if (ks == NULL) {
            ngx_snprintf((u_char *) err, sizeof(err), "out of memory%Z");

        } else if (gw_jwt_keyset_add(ks, (char *) b->pos, b->last - b->pos,
                                     err, sizeof(err)) > 0)
        {
            ok = 1;
        }
    }

    if (!ok) {
        gw_jwt_keyset_free(ks);

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "gateway jwt: fetching keys from \"%V\" failed: %s; "
                      "%s", &remote->uri, err,
                      remote->keys ? "keeping the old keys" : "no keys yet");

        ngx_http_gateway_jwt_keys_fetched(jmcf->keys, remote, NGX_ERROR);

        return rc;
    }

    if (remote->keys) {
        gw_jwt_keyset_free(remote->keys);
    }

    remote->keys = ks;
    gw_jwt_keyset_fingerprint(ks, remote->fingerprint);

    ngx_http_gateway_jwt_keys_publish(r, jmcf->keys, remote, b->pos,
                                      b->last - b->pos);

    /* waiting requests may go on */

    ngx_http_gateway_jwt_keys_fetched(jmcf->keys, remote, NGX_OK);

    return rc;
}


/* Gives the fetched text to the other workers, as a new version. */

static void
ngx_http_gateway_jwt_keys_publish(ngx_http_request_t *r, ngx_shm_zone_t *zone,
    ngx_http_gateway_jwt_remote_t *remote, u_char *data, size_t len)
{
    u_char                            *text;
    ngx_http_gateway_jwt_shctx_t      *shctx;
    ngx_http_gateway_jwt_keys_sh_t    *sh;
    ngx_http_gateway_jwt_keys_node_t  *kn;

    shctx = zone->data;
    sh = shctx->sh;

    ngx_shmtx_lock(&shctx->shpool->mutex);

    kn = ngx_http_gateway_jwt_keys_node(shctx, remote);

    if (kn) {
        text = ngx_slab_alloc_locked(shctx->shpool, len);

        if (text) {
            ngx_memcpy(text, data, len);

            if (kn->text) {
                ngx_slab_free_locked(shctx->shpool, kn->text);
            }

            kn->text = text;
            kn->len = len;
            kn->version = ++sh->version;
            kn->fetched = ngx_time();
            remote->version = kn->version;

        } else {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "gateway jwt: no room for the keys of \"%V\" "
                          "in shared memory", &remote->uri);
        }
    }

    ngx_shmtx_unlock(&shctx->shpool->mutex);
}


/* rc: NGX_OK fetched, NGX_ERROR failed, NGX_DECLINED abandoned */

static void
ngx_http_gateway_jwt_keys_fetched(ngx_shm_zone_t *zone,
    ngx_http_gateway_jwt_remote_t *remote, ngx_int_t rc)
{
    ngx_http_gateway_jwt_shctx_t      *shctx;
    ngx_http_gateway_jwt_keys_node_t  *kn;

    shctx = zone->data;

    ngx_shmtx_lock(&shctx->shpool->mutex);

    kn = ngx_http_gateway_jwt_keys_node(shctx, remote);

    if (kn) {
        kn->inflight = ngx_current_msec;

        if (rc == NGX_ERROR) {
            kn->failed = ngx_time();
        }
    }

    ngx_shmtx_unlock(&shctx->shpool->mutex);
}
