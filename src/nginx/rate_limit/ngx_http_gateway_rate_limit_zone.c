/*
 * Rate limiting: a zone's shared memory. Each zone is an rbtree of compact
 * nodes (src/core/include/gw_rate_limit.h) keyed by a hash of the key,
 * with an LRU list, in a slab pool guarded by the pool's own mutex; this
 * file finds, creates, evicts and deletes nodes, and starts zones.
 */

#include "ngx_http_gateway_rate_limit.h"


/*
 * How far from the LRU tail a full zone looks for an idle key. Busy keys it
 * passes go to the head, so the next look starts past them: keys that
 * drained their quota and sit at the tail cannot keep new clients out.
 */
#define NGX_HTTP_GATEWAY_RL_EVICT_SCAN        256

#define NGX_HTTP_GATEWAY_RL_LOG_INTERVAL      60000


static ngx_uint_t ngx_http_gateway_rl_expire(ngx_http_gateway_rl_zone_t *zone,
    uint64_t now, ngx_http_gateway_rl_item_t **items, ngx_uint_t n,
    ngx_uint_t scan, ngx_uint_t stop_at_busy);
static void ngx_http_gateway_rl_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_int_t ngx_http_gateway_rl_init_zone(ngx_http_gateway_shm_t *shm);
static char *ngx_http_gateway_rl_changed(ngx_conf_t *cf,
    ngx_http_gateway_shm_t *shm, ngx_http_gateway_shm_t *old);


static ngx_http_gateway_shm_type_t  ngx_http_gateway_rl_shm_type = {
    "gateway_rate_limit_zone",
    ngx_http_gateway_rl_init_zone,
    ngx_http_gateway_rl_changed,
    1,                                   /* the size is fixed */
    1                                    /* a full zone is logged here */
};


ngx_rbtree_node_t *
ngx_http_gateway_rl_lookup(ngx_http_gateway_rl_zone_t *zone, ngx_str_t *key,
    uint64_t hash)
{
    ngx_int_t           rc;
    ngx_rbtree_key_t    h;
    ngx_rbtree_node_t  *node, *sentinel;

    h = (ngx_rbtree_key_t) hash;
    node = zone->sh->rbtree.root;
    sentinel = zone->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (h != node->key) {
            node = (h < node->key) ? node->left : node->right;
            continue;
        }

        rc = gw_rl_node_compare(ngx_http_gateway_rl_node(node), key->data,
                                key->len);

        if (rc == 0) {
            return node;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


static ngx_uint_t
ngx_http_gateway_rl_in_use(ngx_rbtree_node_t *node,
    ngx_http_gateway_rl_item_t **items, ngx_uint_t n)
{
    ngx_uint_t  i;

    for (i = 0; i < n; i++) {
        if (items[i]->node == node) {
            return 1;
        }
    }

    return 0;
}


ngx_rbtree_node_t *
ngx_http_gateway_rl_create(ngx_http_request_t *r,
    ngx_http_gateway_rl_item_t *item, ngx_http_gateway_rl_item_t **items,
    ngx_uint_t n)
{
    size_t                       size;
    uint64_t                     now;
    ngx_rbtree_node_t           *node;
    ngx_http_gateway_rl_zone_t  *zone;

    zone = item->zone;
    now = ngx_http_gateway_rl_now(zone);

    size = offsetof(ngx_rbtree_node_t, color) + sizeof(gw_rl_node_t)
           + gw_rl_node_rest_len(item->key.len);

    /* keep the zone tidy: forget up to two idle keys at the LRU tail */
    (void) ngx_http_gateway_rl_expire(zone, now, items, n, 2, 1);

    for ( ;; ) {
        node = ngx_slab_alloc_locked(zone->shpool, size);
        if (node != NULL) {
            break;
        }

        /* full: evict the least recently used idle key, if any */

        if (ngx_http_gateway_rl_expire(zone, now, items, n,
                                       NGX_HTTP_GATEWAY_RL_EVICT_SCAN, 0)
            == 0)
        {
            if (ngx_http_gateway_log_due(&zone->sh->full_logged,
                                         NGX_HTTP_GATEWAY_RL_LOG_INTERVAL))
            {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "gateway_rate_limit_zone \"%V\" is full and "
                              "no key is idle: new keys are rejected",
                              &zone->name);
            }

            return NULL;
        }
    }

    node->key = (ngx_rbtree_key_t) item->hash;

    gw_rl_node_init(ngx_http_gateway_rl_node(node), item->key.data,
                    item->key.len);

    ngx_rbtree_insert(&zone->sh->rbtree, node);
    gw_rl_lru_push_head(&zone->sh->lru, zone->shpool,
                        ngx_http_gateway_rl_node(node));
    zone->sh->nodes++;

    return node;
}


/*
 * Frees idle keys from the LRU tail, looking at up to scan keys; stops at
 * the first busy one when asked, else moves busy ones to the head and
 * stops at the first freed. Returns how many were freed.
 */

static ngx_uint_t
ngx_http_gateway_rl_expire(ngx_http_gateway_rl_zone_t *zone, uint64_t now,
    ngx_http_gateway_rl_item_t **items, ngx_uint_t n, ngx_uint_t scan,
    ngx_uint_t stop_at_busy)
{
    ngx_uint_t          freed;
    gw_rl_node_t       *gn, *newer, *moved;
    gw_rl_state_t       state;
    ngx_rbtree_node_t  *node;

    freed = 0;
    moved = NULL;
    gn = gw_rl_lru_tail(&zone->sh->lru, zone->shpool);

    while (gn != NULL && gn != moved && scan--) {
        newer = gw_rl_lru_newer(zone->shpool, gn);
        node = ngx_http_gateway_rl_rbnode(gn);

        gw_rl_node_load(gn, &state);

        if (!ngx_http_gateway_rl_in_use(node, items, n)
            && gw_rl_is_idle(&zone->policy, &state, now))
        {
            ngx_http_gateway_rl_delete(zone, node);
            freed++;

            if (!stop_at_busy) {
                return freed;   /* one is enough for the caller to retry */
            }

        } else if (stop_at_busy) {
            break;

        } else if (!ngx_http_gateway_rl_in_use(node, items, n)) {
            gw_rl_lru_touch(&zone->sh->lru, zone->shpool, gn);

            if (moved == NULL) {
                moved = gn;     /* the whole list was seen once we are back */
            }
        }

        gn = newer;
    }

    return freed;
}


void
ngx_http_gateway_rl_delete(ngx_http_gateway_rl_zone_t *zone,
    ngx_rbtree_node_t *node)
{
    gw_rl_lru_remove(&zone->sh->lru, zone->shpool,
                     ngx_http_gateway_rl_node(node));
    ngx_rbtree_delete(&zone->sh->rbtree, node);
    ngx_slab_free_locked(zone->shpool, node);
    zone->sh->nodes--;
}


/*
 * Adds the shared memory of a zone being declared; a zone of the same name
 * in the running configuration must keep its size, key and algorithm.
 */

ngx_int_t
ngx_http_gateway_rl_add_zone(ngx_conf_t *cf, ngx_http_gateway_rl_zone_t *zone)
{
    zone->shm = ngx_http_gateway_shm_add(cf, &zone->name, zone->size,
                                         &ngx_http_gateway_rate_limit_module,
                                         &ngx_http_gateway_rl_shm_type, zone);

    return zone->shm ? NGX_OK : NGX_ERROR;
}


/* a running zone keeps counters of one key and one algorithm */

static char *
ngx_http_gateway_rl_changed(ngx_conf_t *cf, ngx_http_gateway_shm_t *shm,
    ngx_http_gateway_shm_t *old)
{
    u_char                      *p;
    size_t                       len;
    ngx_str_t                   *key, *okey;
    ngx_http_gateway_rl_zone_t  *zone, *ozone;

    zone = shm->data;
    ozone = old->data;
    key = &zone->key->value->value;
    okey = &ozone->key->value->value;

    if (okey->len != key->len
        || ngx_strncmp(okey->data, key->data, key->len) != 0)
    {
        len = sizeof("its key from \"\" to \"\"") + okey->len + key->len;

        p = ngx_pnalloc(cf->pool, len);
        if (p == NULL) {
            return "its key";
        }

        ngx_sprintf(p, "its key from \"%V\" to \"%V\"%Z", okey, key);

        return (char *) p;
    }

    if (ozone->policy.algorithm != zone->policy.algorithm) {
        return "its algorithm";
    }

    return NULL;
}


/* Tree order: the hash, then the key's length and stored bytes. */

static void
ngx_http_gateway_rl_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t  **p;

    for ( ;; ) {

        if (node->key != temp->key) {
            p = (node->key < temp->key) ? &temp->left : &temp->right;

        } else {
            p = (gw_rl_node_order(ngx_http_gateway_rl_node(node),
                                  ngx_http_gateway_rl_node(temp))
                 < 0)
                ? &temp->left : &temp->right;
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


/* A new zone's tree and LRU, or the state of the zone it replaces. */

static ngx_int_t
ngx_http_gateway_rl_init_zone(ngx_http_gateway_shm_t *shm)
{
    ngx_http_gateway_rl_zone_t   *zone;
    ngx_http_gateway_rl_shctx_t  *sh;

    zone = shm->data;
    zone->shpool = shm->shpool;

    if (shm->sh) {
        zone->sh = shm->sh;
        return NGX_OK;
    }

    sh = ngx_slab_calloc(shm->shpool, sizeof(ngx_http_gateway_rl_shctx_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    ngx_rbtree_init(&sh->rbtree, &sh->sentinel,
                    ngx_http_gateway_rl_rbtree_insert);

    sh->epoch = ngx_current_msec;
    sh->algorithm = zone->policy.algorithm;

    zone->sh = sh;
    shm->sh = sh;

    return NGX_OK;
}
