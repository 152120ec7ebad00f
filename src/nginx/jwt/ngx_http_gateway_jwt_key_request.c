/*
 * gateway_jwt_key_request: a JWKS fetched by subrequest from a local URI
 * and shared by the workers. The document's text is kept in the shared
 * zone "gateway_jwt_keys", each worker parses it once per version. It
 * belongs to one directive in one server{} of one configuration, never to
 * the URI's text: two servers whose "/_jwks" lead to different providers
 * never trust each other's keys, and a reload fetches them anew.
 *
 * When the keys are missing or stale one request fetches them. Without
 * keys, the requests of the same worker wait for that fetch (parked, woken
 * as soon as it ends, however it ends); a worker never waits on another's
 * fetch, which it could not hear end: it fetches once for itself, unless
 * the keys are already in the zone. With stale keys the others go on with
 * the old ones. A token naming an unknown kid refetches at most every
 * NGX_HTTP_GATEWAY_JWT_REFETCH seconds.
 */

#include "ngx_http_gateway_jwt.h"


#define NGX_HTTP_GATEWAY_JWT_REFETCH     30      /* s, unknown kid */
#define NGX_HTTP_GATEWAY_JWT_RETRY       5       /* s, failed or stale keys */
#define NGX_HTTP_GATEWAY_JWT_WAIT        10000   /* ms, most a request waits */
#define NGX_HTTP_GATEWAY_JWT_KEYS_SIZE   (1024 * 1024)

/* what a request does about key_request keys */
#define NGX_HTTP_GATEWAY_JWT_KEYS_USE    0       /* go on with the keys there are */
#define NGX_HTTP_GATEWAY_JWT_KEYS_FETCH  1       /* fetch them itself */


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
} ngx_http_gateway_jwt_keys_node_t;


static ngx_int_t ngx_http_gateway_jwt_init_keys_zone(
    ngx_http_gateway_shm_t *shm);
static void ngx_http_gateway_jwt_keys_forget(ngx_http_gateway_shm_t *shm,
    uint64_t generation);
static ngx_http_gateway_jwt_keys_node_t *ngx_http_gateway_jwt_keys_find(
    ngx_http_gateway_shm_t *shm, ngx_http_gateway_jwt_remote_t *remote);
static ngx_http_gateway_jwt_keys_node_t *ngx_http_gateway_jwt_keys_node(
    ngx_http_gateway_shm_t *shm, ngx_http_gateway_jwt_remote_t *remote);
static void ngx_http_gateway_jwt_keys_sync(ngx_http_request_t *r,
    ngx_http_gateway_shm_t *shm, ngx_http_gateway_jwt_remote_t *remote);
static ngx_uint_t ngx_http_gateway_jwt_keys_should_fetch(
    ngx_http_gateway_shm_t *shm, ngx_http_gateway_jwt_remote_t *remote,
    time_t key_cache, ngx_uint_t unknown_kid);
static void ngx_http_gateway_jwt_keys_end(ngx_http_gateway_jwt_ctx_t *ctx,
    ngx_http_gateway_jwt_remote_t *remote);
static void ngx_http_gateway_jwt_keys_abandoned(void *data);
static ngx_int_t ngx_http_gateway_jwt_keys_clean_headers(
    ngx_http_request_t *sr);
static ngx_int_t ngx_http_gateway_jwt_keys_fetch(ngx_http_request_t *r,
    ngx_http_gateway_jwt_ctx_t *ctx, ngx_http_gateway_jwt_remote_t *remote);
static ngx_int_t ngx_http_gateway_jwt_keys_done(ngx_http_request_t *r,
    void *data, ngx_int_t rc);
static void ngx_http_gateway_jwt_keys_publish(ngx_http_request_t *r,
    ngx_http_gateway_shm_t *shm, ngx_http_gateway_jwt_remote_t *remote,
    u_char *data, size_t len);
static void ngx_http_gateway_jwt_keys_fetched(ngx_http_gateway_shm_t *shm,
    ngx_http_gateway_jwt_remote_t *remote, ngx_int_t rc);


static ngx_str_t  ngx_http_gateway_jwt_keys_name =
    ngx_string("gateway_jwt_keys");


static ngx_http_gateway_shm_type_t  ngx_http_gateway_jwt_keys_shm_type = {
    "gateway_jwt_keys zone",
    ngx_http_gateway_jwt_init_keys_zone,
    NULL,
    0,
    0
};


char *
ngx_http_gateway_jwt_key_request(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_gateway_jwt_loc_conf_t *jlcf = conf;

    u_char                            *p;
    ngx_str_t                         *value;
    ngx_http_gateway_jwt_remote_t    **slot;
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

    slot = ngx_array_push(&jmcf->key_requests);
    if (slot == NULL) {
        return NGX_CONF_ERROR;
    }

    *slot = jlcf->remote;
    ngx_queue_init(&jlcf->remote->waiters);
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
        jmcf->keys = ngx_http_gateway_shm_add(cf,
                                            &ngx_http_gateway_jwt_keys_name,
                                            NGX_HTTP_GATEWAY_JWT_KEYS_SIZE,
                                            &ngx_http_gateway_jwt_module,
                                            &ngx_http_gateway_jwt_keys_shm_type,
                                            jmcf);
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
    ngx_queue_init(&copy->waiters);

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
ngx_http_gateway_jwt_init_keys_zone(ngx_http_gateway_shm_t *shm)
{
    ngx_http_gateway_jwt_keys_sh_t    *sh;
    ngx_http_gateway_jwt_main_conf_t  *jmcf;

    jmcf = shm->data;

    if (shm->sh == NULL) {
        sh = ngx_slab_calloc(shm->shpool,
                             sizeof(ngx_http_gateway_jwt_keys_sh_t));
        if (sh == NULL) {
            return NGX_ERROR;
        }

        ngx_queue_init(&sh->queue);
        shm->sh = sh;
    }

    sh = shm->sh;

    ngx_shmtx_lock(&shm->shpool->mutex);

    jmcf->keys_generation = ++sh->generation;
    ngx_http_gateway_jwt_keys_forget(shm, jmcf->keys_generation);

    ngx_shmtx_unlock(&shm->shpool->mutex);

    return NGX_OK;
}


static void
ngx_http_gateway_jwt_keys_forget(ngx_http_gateway_shm_t *shm,
    uint64_t generation)
{
    ngx_queue_t                       *q, *next;
    ngx_http_gateway_jwt_keys_sh_t    *sh;
    ngx_http_gateway_jwt_keys_node_t  *kn;

    sh = shm->sh;

    for (q = ngx_queue_head(&sh->queue);
         q != ngx_queue_sentinel(&sh->queue);
         q = next)
    {
        next = ngx_queue_next(q);
        kn = ngx_queue_data(q, ngx_http_gateway_jwt_keys_node_t, queue);

        if (kn->generation + 1 >= generation) {
            continue;
        }

        ngx_queue_remove(q);

        if (kn->text) {
            ngx_slab_free_locked(shm->shpool, kn->text);
        }

        ngx_slab_free_locked(shm->shpool, kn);
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

    /* no keys, and this worker fetches them: wait for that */

    if (remote->keys == NULL && remote->fetcher && !ctx->wait.timedout) {
        return ngx_http_gateway_park(r, &ctx->wait, &remote->waiters,
                                     NGX_HTTP_GATEWAY_JWT_WAIT);
    }

    if (ngx_http_gateway_jwt_keys_should_fetch(jmcf->keys, remote,
                                               jlcf->key_cache, 0)
        == NGX_HTTP_GATEWAY_JWT_KEYS_FETCH)
    {
        ctx->fetch_tried = 1;
        return ngx_http_gateway_jwt_keys_fetch(r, ctx, remote);
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


/* The shared node of a key_request, or NULL; under the mutex. */

static ngx_http_gateway_jwt_keys_node_t *
ngx_http_gateway_jwt_keys_find(ngx_http_gateway_shm_t *shm,
    ngx_http_gateway_jwt_remote_t *remote)
{
    uint64_t                           generation;
    ngx_queue_t                       *q;
    ngx_http_gateway_jwt_keys_sh_t    *sh;
    ngx_http_gateway_jwt_keys_node_t  *kn;

    sh = shm->sh;
    generation = ((ngx_http_gateway_jwt_main_conf_t *) shm->data)
                 ->keys_generation;

    for (q = ngx_queue_head(&sh->queue);
         q != ngx_queue_sentinel(&sh->queue);
         q = ngx_queue_next(q))
    {
        kn = ngx_queue_data(q, ngx_http_gateway_jwt_keys_node_t, queue);

        if (kn->generation == generation
            && kn->serial == remote->serial)
        {
            return kn;
        }
    }

    return NULL;
}


/* The shared node of a key_request, added when missing; under the mutex. */

static ngx_http_gateway_jwt_keys_node_t *
ngx_http_gateway_jwt_keys_node(ngx_http_gateway_shm_t *shm,
    ngx_http_gateway_jwt_remote_t *remote)
{
    ngx_http_gateway_jwt_keys_sh_t    *sh;
    ngx_http_gateway_jwt_keys_node_t  *kn;

    kn = ngx_http_gateway_jwt_keys_find(shm, remote);
    if (kn) {
        return kn;
    }

    kn = ngx_slab_calloc_locked(shm->shpool,
                                sizeof(ngx_http_gateway_jwt_keys_node_t));
    if (kn == NULL) {
        return NULL;
    }

    sh = shm->sh;

    kn->generation = ((ngx_http_gateway_jwt_main_conf_t *) shm->data)
                     ->keys_generation;
    kn->serial = remote->serial;

    ngx_queue_insert_tail(&sh->queue, &kn->queue);

    return kn;
}


/* Picks up a JWKS another worker fetched. */

static void
ngx_http_gateway_jwt_keys_sync(ngx_http_request_t *r,
    ngx_http_gateway_shm_t *shm, ngx_http_gateway_jwt_remote_t *remote)
{
    u_char                            *text;
    size_t                             len;
    uint64_t                           version;
    gw_jwt_keyset_t                   *ks;
    ngx_http_gateway_jwt_keys_node_t  *kn;
    char                               err[GW_JWT_ERRLEN];

    text = NULL;
    len = 0;
    version = 0;

    ngx_shmtx_lock(&shm->shpool->mutex);

    kn = ngx_http_gateway_jwt_keys_node(shm, remote);

    if (kn && kn->version != remote->version && kn->text) {
        text = ngx_alloc(kn->len, r->connection->log);
        if (text) {
            ngx_memcpy(text, kn->text, kn->len);
            len = kn->len;
            version = kn->version;
        }
    }

    ngx_shmtx_unlock(&shm->shpool->mutex);

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
ngx_http_gateway_jwt_keys_should_fetch(ngx_http_gateway_shm_t *shm,
    ngx_http_gateway_jwt_remote_t *remote, time_t key_cache,
    ngx_uint_t unknown_kid)
{
    time_t                             now, retry;
    ngx_uint_t                         rc;
    ngx_http_gateway_jwt_keys_node_t  *kn;

    now = ngx_time();
    rc = NGX_HTTP_GATEWAY_JWT_KEYS_USE;
    retry = ngx_min(key_cache, NGX_HTTP_GATEWAY_JWT_RETRY);

    ngx_shmtx_lock(&shm->shpool->mutex);

    kn = ngx_http_gateway_jwt_keys_node(shm, remote);

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
         * nothing to verify with: fetch (the worker's other requests wait
         * for it); after a failure nobody tries again for a few seconds
         */

        if (now - kn->failed >= retry) {
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
    }

    ngx_shmtx_unlock(&shm->shpool->mutex);

    return rc;
}


static ngx_int_t
ngx_http_gateway_jwt_keys_fetch(ngx_http_request_t *r,
    ngx_http_gateway_jwt_ctx_t *ctx, ngx_http_gateway_jwt_remote_t *remote)
{
    ngx_pool_cleanup_t          *cln;
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

    /* if this request ends first, its fetch ends with it */

    if (!ctx->abandon) {
        cln = ngx_pool_cleanup_add(r->main->pool, 0);
        if (cln == NULL) {
            return NGX_ERROR;
        }

        cln->handler = ngx_http_gateway_jwt_keys_abandoned;
        cln->data = ctx;
        ctx->abandon = 1;
    }

    ctx->waiting = 1;
    ctx->fetching = remote;
    remote->fetcher = ctx;

    return NGX_AGAIN;
}


/* The fetch is over, however it went: the worker's waiting requests go on. */

static void
ngx_http_gateway_jwt_keys_end(ngx_http_gateway_jwt_ctx_t *ctx,
    ngx_http_gateway_jwt_remote_t *remote)
{
    if (remote->fetcher == ctx) {
        remote->fetcher = NULL;
    }

    ngx_http_gateway_wake_all(&remote->waiters);
}


static void
ngx_http_gateway_jwt_keys_abandoned(void *data)
{
    ngx_http_gateway_jwt_ctx_t *ctx = data;

    ngx_http_gateway_jwt_remote_t     *remote;
    ngx_http_gateway_jwt_main_conf_t  *jmcf;

    if (!ctx->waiting) {
        return;
    }

    ctx->waiting = 0;
    remote = ctx->fetching;
    ctx->fetching = NULL;

    jmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_gateway_jwt_module);

    ngx_http_gateway_jwt_keys_fetched(jmcf->keys, remote, NGX_DECLINED);
    ngx_http_gateway_jwt_keys_end(ctx, remote);
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
    ngx_str_t                          why;
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
        ngx_http_gateway_jwt_keys_end(ctx, remote);

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

        /* the reason may quote the provider's Content-Encoding */

        why.data = (u_char *) err;
        why.len = ngx_strlen(err);
        (void) ngx_http_gateway_escape_controls(r->pool, &why, &why);

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "gateway jwt: fetching keys from \"%V\" failed: %V; "
                      "%s", &remote->uri, &why,
                      remote->keys ? "keeping the old keys" : "no keys yet");

        ngx_http_gateway_jwt_keys_fetched(jmcf->keys, remote, NGX_ERROR);
        ngx_http_gateway_jwt_keys_end(ctx, remote);

        return rc;
    }

    if (remote->keys) {
        gw_jwt_keyset_free(remote->keys);
    }

    remote->keys = ks;
    gw_jwt_keyset_fingerprint(ks, remote->fingerprint);

    ngx_http_gateway_jwt_keys_publish(r, jmcf->keys, remote, b->pos,
                                      b->last - b->pos);

    ngx_http_gateway_jwt_keys_fetched(jmcf->keys, remote, NGX_OK);
    ngx_http_gateway_jwt_keys_end(ctx, remote);

    return rc;
}


/* Gives the fetched text to the other workers, as a new version. */

static void
ngx_http_gateway_jwt_keys_publish(ngx_http_request_t *r,
    ngx_http_gateway_shm_t *shm, ngx_http_gateway_jwt_remote_t *remote,
    u_char *data, size_t len)
{
    u_char                            *text;
    ngx_http_gateway_jwt_keys_sh_t    *sh;
    ngx_http_gateway_jwt_keys_node_t  *kn;

    sh = shm->sh;

    ngx_shmtx_lock(&shm->shpool->mutex);

    kn = ngx_http_gateway_jwt_keys_node(shm, remote);

    if (kn) {
        text = ngx_slab_alloc_locked(shm->shpool, len);

        if (text) {
            ngx_memcpy(text, data, len);

            if (kn->text) {
                ngx_slab_free_locked(shm->shpool, kn->text);
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

    ngx_shmtx_unlock(&shm->shpool->mutex);
}


/* rc: NGX_OK fetched, NGX_ERROR failed, NGX_DECLINED abandoned */

static void
ngx_http_gateway_jwt_keys_fetched(ngx_http_gateway_shm_t *shm,
    ngx_http_gateway_jwt_remote_t *remote, ngx_int_t rc)
{
    ngx_http_gateway_jwt_keys_node_t  *kn;

    ngx_shmtx_lock(&shm->shpool->mutex);

    kn = ngx_http_gateway_jwt_keys_node(shm, remote);

    if (kn) {
        if (rc == NGX_ERROR) {
            kn->failed = ngx_time();

        } else if (rc == NGX_DECLINED) {
            /* not the provider's fault: the next request may try at once */
            kn->attempted = 0;
        }
    }

    ngx_shmtx_unlock(&shm->shpool->mutex);
}


/*
 * A key_request in the status document: its URI and what the shared copy
 * holds (written while this worker holds a copy of the JWKS it parsed, not
 * the zone's lock).
 */

void
ngx_http_gateway_jwt_key_request_status(gw_json_writer_t *w,
    ngx_http_gateway_jwt_main_conf_t *jmcf,
    ngx_http_gateway_jwt_remote_t *remote)
{
    u_char                            *text;
    size_t                             len;
    time_t                             fetched, failed;
    uint64_t                           version;
    gw_jwt_keyset_t                   *keys;
    ngx_http_gateway_shm_t            *shm;
    ngx_http_gateway_jwt_keys_node_t  *kn;
    char                               err[GW_JWT_ERRLEN];

    text = NULL;
    len = 0;
    fetched = 0;
    failed = 0;
    version = 0;

    shm = jmcf->keys;

    if (shm && shm->sh) {
        ngx_shmtx_lock(&shm->shpool->mutex);

        kn = ngx_http_gateway_jwt_keys_find(shm, remote);

        if (kn) {
            fetched = kn->fetched;
            failed = kn->failed;
            version = kn->version;

            if (kn->len) {
                text = ngx_alloc(kn->len, ngx_cycle->log);
                if (text) {
                    len = kn->len;
                    ngx_memcpy(text, kn->text, len);
                }
            }
        }

        ngx_shmtx_unlock(&shm->shpool->mutex);
    }

    gw_json_object_begin(w);

    ngx_http_gateway_json_key(w, "uri");
    gw_json_string(w, (char *) remote->uri.data, remote->uri.len);
    ngx_http_gateway_json_key(w, "version");
    gw_json_uint(w, version);

    ngx_http_gateway_json_key(w, "fetched");
    if (fetched) {
        gw_json_int(w, fetched);
    } else {
        gw_json_null(w);
    }

    ngx_http_gateway_json_key(w, "failed");
    if (failed) {
        gw_json_int(w, failed);
    } else {
        gw_json_null(w);
    }

    keys = NULL;

    if (text) {
        keys = gw_jwt_keyset_new();
        if (keys && gw_jwt_keyset_add(keys, (char *) text, len, err,
                                      sizeof(err))
                    < 0)
        {
            gw_jwt_keyset_free(keys);
            keys = NULL;
        }

        ngx_free(text);
    }

    ngx_http_gateway_jwt_status_kids(w, keys);

    if (keys) {
        gw_jwt_keyset_free(keys);
    }

    gw_json_object_end(w);
}
