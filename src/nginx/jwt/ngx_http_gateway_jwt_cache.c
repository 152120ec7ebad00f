/*
 * The verified-token cache (gateway_jwt_cache): an LRU in the shared zone
 * "gateway_jwt_cache" of tokens whose signature was verified, keyed by a
 * SHA-256 of the key sets' fingerprint and the token, so a change of keys
 * makes old entries unreachable. An entry ends at the token's exp, and
 * after NGX_HTTP_GATEWAY_JWT_CACHE_TTL at most. In front of it, each worker
 * remembers the tokens it verified last (gw_jwt_recent_t) by their exact
 * text, so a token seen again costs neither a hash nor a parse.
 */

#include "ngx_http_gateway_jwt.h"


#define NGX_HTTP_GATEWAY_JWT_CACHE_TTL   600000  /* ms, most an entry lives */


typedef struct {
    ngx_rbtree_t                   rbtree;
    ngx_rbtree_node_t              sentinel;
    ngx_queue_t                    queue;
} ngx_http_gateway_jwt_cache_sh_t;


typedef struct {
    ngx_rbtree_node_t              node;
    ngx_queue_t                    queue;
    int64_t                        expire;     /* ms */
    u_char                         hash[NGX_HTTP_GATEWAY_JWT_FP_LEN];
} ngx_http_gateway_jwt_cache_node_t;


static ngx_int_t ngx_http_gateway_jwt_init_cache_zone(
    ngx_http_gateway_shm_t *shm);
static ngx_http_gateway_jwt_cache_node_t *ngx_http_gateway_jwt_cache_find(
    ngx_http_gateway_jwt_cache_sh_t *sh, u_char *key);
static void ngx_http_gateway_jwt_cache_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static void ngx_http_gateway_jwt_free_recent(void *data);
static void ngx_http_gateway_jwt_cache_delete(ngx_http_gateway_shm_t *shm,
    ngx_http_gateway_jwt_cache_node_t *cn);


/* a cache: a new size simply starts empty */
static ngx_http_gateway_shm_type_t  ngx_http_gateway_jwt_cache_shm_type = {
    "gateway_jwt_cache zone",
    ngx_http_gateway_jwt_init_cache_zone,
    NULL,
    0,
    1                                    /* full: the oldest entry goes */
};


static ngx_str_t  ngx_http_gateway_jwt_cache_name =
    ngx_string("gateway_jwt_cache");


char *
ngx_http_gateway_jwt_cache(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gateway_jwt_main_conf_t *jmcf = conf;

    ssize_t              size;
    ngx_str_t           *value;
    ngx_pool_cleanup_t  *cln;

    if (jmcf->cache != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        jmcf->cache = NULL;
        return NGX_CONF_OK;
    }

    size = ngx_parse_size(&value[1]);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid size \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "cache \"%V\" is too small", &value[1]);
        return NGX_CONF_ERROR;
    }

    jmcf->cache = ngx_http_gateway_shm_add(cf,
                                      &ngx_http_gateway_jwt_cache_name, size,
                                      &ngx_http_gateway_jwt_module,
                                      &ngx_http_gateway_jwt_cache_shm_type,
                                      NULL);
    if (jmcf->cache == NULL) {
        return NGX_CONF_ERROR;
    }

    /* made empty here, so every worker starts with its own empty copy */

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    jmcf->recent = gw_jwt_recent_new(NGX_HTTP_GATEWAY_JWT_RECENT);
    if (jmcf->recent == NULL) {
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_gateway_jwt_free_recent;
    cln->data = jmcf->recent;

    return NGX_CONF_OK;
}


static void
ngx_http_gateway_jwt_free_recent(void *data)
{
    gw_jwt_recent_free(data);
}


static ngx_int_t
ngx_http_gateway_jwt_init_cache_zone(ngx_http_gateway_shm_t *shm)
{
    ngx_http_gateway_jwt_cache_sh_t  *sh;

    if (shm->sh) {
        return NGX_OK;
    }

    sh = ngx_slab_alloc(shm->shpool, sizeof(ngx_http_gateway_jwt_cache_sh_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    ngx_rbtree_init(&sh->rbtree, &sh->sentinel,
                    ngx_http_gateway_jwt_cache_rbtree_insert);
    ngx_queue_init(&sh->queue);

    shm->sh = sh;

    return NGX_OK;
}


/* What verifies a token here: the fingerprints of the location's key sets. */

size_t
ngx_http_gateway_jwt_cache_scope(ngx_http_gateway_jwt_loc_conf_t *jlcf,
    u_char *scope)
{
    size_t  len;

    ngx_memcpy(scope, jlcf->fingerprint, NGX_HTTP_GATEWAY_JWT_FP_LEN);
    len = NGX_HTTP_GATEWAY_JWT_FP_LEN;

    if (jlcf->remote && jlcf->remote->keys) {
        ngx_memcpy(scope + len, jlcf->remote->fingerprint,
                   NGX_HTTP_GATEWAY_JWT_FP_LEN);
        len += NGX_HTTP_GATEWAY_JWT_FP_LEN;
    }

    return len;
}


/* The cache key: which key sets verified the token, and the token. */

void
ngx_http_gateway_jwt_cache_key(u_char *scope, size_t len, ngx_str_t *token,
    u_char *key)
{
    gw_jwt_cache_key(scope, len, (char *) token->data, token->len, key);
}


/* A verified token is remembered until its exp, and not too long. */

int64_t
ngx_http_gateway_jwt_cache_expire(gw_jwt_t *jwt, int64_t now)
{
    int64_t  expire;

    if (!gw_jwt_exp_ms(jwt, &expire)
        || expire > now + NGX_HTTP_GATEWAY_JWT_CACHE_TTL)
    {
        expire = now + NGX_HTTP_GATEWAY_JWT_CACHE_TTL;
    }

    return expire;
}


/* NGX_OK: the token was verified with these keys and has not expired. */

ngx_int_t
ngx_http_gateway_jwt_cache_lookup(ngx_http_gateway_shm_t *shm, u_char *key,
    int64_t now)
{
    ngx_int_t                           rc;
    ngx_http_gateway_jwt_cache_sh_t    *sh;
    ngx_http_gateway_jwt_cache_node_t  *cn;

    sh = shm->sh;
    rc = NGX_DECLINED;

    ngx_shmtx_lock(&shm->shpool->mutex);

    cn = ngx_http_gateway_jwt_cache_find(sh, key);

    if (cn) {
        if (cn->expire > now) {
            ngx_queue_remove(&cn->queue);
            ngx_queue_insert_head(&sh->queue, &cn->queue);
            rc = NGX_OK;

        } else {
            ngx_http_gateway_jwt_cache_delete(shm, cn);
        }
    }

    ngx_shmtx_unlock(&shm->shpool->mutex);

    return rc;
}


/* Remembers a verified token until expire. */

void
ngx_http_gateway_jwt_cache_insert(ngx_http_gateway_shm_t *shm, u_char *key,
    int64_t expire, int64_t now)
{
    ngx_uint_t                          n;
    ngx_queue_t                        *q;
    ngx_http_gateway_jwt_cache_sh_t    *sh;
    ngx_http_gateway_jwt_cache_node_t  *cn;

    sh = shm->sh;

    ngx_shmtx_lock(&shm->shpool->mutex);

    /* drop a couple of expired entries from the cold end */

    for (n = 0; n < 2 && !ngx_queue_empty(&sh->queue); n++) {
        q = ngx_queue_last(&sh->queue);
        cn = ngx_queue_data(q, ngx_http_gateway_jwt_cache_node_t, queue);

        if (cn->expire > now) {
            break;
        }

        ngx_http_gateway_jwt_cache_delete(shm, cn);
    }

    cn = ngx_http_gateway_jwt_cache_find(sh, key);

    if (cn) {
        cn->expire = expire;
        ngx_queue_remove(&cn->queue);
        ngx_queue_insert_head(&sh->queue, &cn->queue);
        goto done;
    }

    for ( ;; ) {
        cn = ngx_slab_alloc_locked(shm->shpool,
                                   sizeof(ngx_http_gateway_jwt_cache_node_t));
        if (cn != NULL) {
            break;
        }

        /* full: the least recently used entry makes room */

        if (ngx_queue_empty(&sh->queue)) {
            goto done;
        }

        q = ngx_queue_last(&sh->queue);
        ngx_http_gateway_jwt_cache_delete(shm,
                ngx_queue_data(q, ngx_http_gateway_jwt_cache_node_t, queue));
    }

    ngx_memcpy(cn->hash, key, NGX_HTTP_GATEWAY_JWT_FP_LEN);
    ngx_memcpy(&cn->node.key, key, sizeof(ngx_rbtree_key_t));
    cn->expire = expire;

    ngx_rbtree_insert(&sh->rbtree, &cn->node);
    ngx_queue_insert_head(&sh->queue, &cn->queue);

done:

    ngx_shmtx_unlock(&shm->shpool->mutex);
}


static ngx_http_gateway_jwt_cache_node_t *
ngx_http_gateway_jwt_cache_find(ngx_http_gateway_jwt_cache_sh_t *sh,
    u_char *key)
{
    ngx_int_t                           rc;
    ngx_rbtree_key_t                    k;
    ngx_rbtree_node_t                  *node, *sentinel;
    ngx_http_gateway_jwt_cache_node_t  *cn;

    ngx_memcpy(&k, key, sizeof(ngx_rbtree_key_t));

    node = sh->rbtree.root;
    sentinel = sh->rbtree.sentinel;

    while (node != sentinel) {

        if (k != node->key) {
            node = (k < node->key) ? node->left : node->right;
            continue;
        }

        cn = (ngx_http_gateway_jwt_cache_node_t *) node;

        rc = ngx_memcmp(key, cn->hash, NGX_HTTP_GATEWAY_JWT_FP_LEN);

        if (rc == 0) {
            return cn;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


static void
ngx_http_gateway_jwt_cache_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t                  **p;
    ngx_http_gateway_jwt_cache_node_t   *cn, *cnt;

    for ( ;; ) {

        if (node->key != temp->key) {
            p = (node->key < temp->key) ? &temp->left : &temp->right;

        } else {
            cn = (ngx_http_gateway_jwt_cache_node_t *) node;
            cnt = (ngx_http_gateway_jwt_cache_node_t *) temp;

            p = (ngx_memcmp(cn->hash, cnt->hash, NGX_HTTP_GATEWAY_JWT_FP_LEN)
                 < 0) ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


static void
ngx_http_gateway_jwt_cache_delete(ngx_http_gateway_shm_t *shm,
    ngx_http_gateway_jwt_cache_node_t *cn)
{
    ngx_http_gateway_jwt_cache_sh_t  *sh = shm->sh;

    ngx_queue_remove(&cn->queue);
    ngx_rbtree_delete(&sh->rbtree, &cn->node);
    ngx_slab_free_locked(shm->shpool, cn);
}
