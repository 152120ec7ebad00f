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
static ngx_int_t ngx_http_gateway_rl_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static char *ngx_http_gateway_rl_check_reload(ngx_conf_t *cf,
    ngx_http_gateway_rl_zone_t *zone);


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
            if (ngx_current_msec - zone->sh->full_logged
                    >= NGX_HTTP_GATEWAY_RL_LOG_INTERVAL
                || zone->sh->full_logged == 0)
            {
                zone->sh->full_logged = ngx_current_msec ? ngx_current_msec
                                                         : 1;
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
 * in the previous cycle must keep its size, key and algorithm.
 */

ngx_int_t
ngx_http_gateway_rl_add_zone(ngx_conf_t *cf, ngx_http_gateway_rl_zone_t *zone)
{
    ngx_shm_zone_t  *shm_zone;

    shm_zone = ngx_shared_memory_add(cf, &zone->name, zone->size,
                                     &ngx_http_gateway_rate_limit_module);
    if (shm_zone == NULL) {
        return NGX_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate zone \"%V\"", &zone->name);
        return NGX_ERROR;
    }

    zone->shm_zone = shm_zone;

    if (ngx_http_gateway_rl_check_reload(cf, zone) != NGX_CONF_OK) {
        return NGX_ERROR;
    }

    shm_zone->init = ngx_http_gateway_rl_init_zone;
    shm_zone->data = zone;

    return NGX_OK;
}


/*
 * nginx would quietly give a zone whose size changed new, empty memory on
 * reload, and a zone whose key changed would mix counters of different
 * keys: both are refused, naming the directive.
 */

static char *
ngx_http_gateway_rl_check_reload(ngx_conf_t *cf,
    ngx_http_gateway_rl_zone_t *zone)
{
    ngx_uint_t                   i;
    ngx_cycle_t                 *old;
    ngx_list_part_t             *part;
    ngx_shm_zone_t              *oshm;
    ngx_http_gateway_rl_zone_t  *ozone;

    old = cf->cycle->old_cycle;

    if (old == NULL || old->shared_memory.part.elts == NULL) {
        return NGX_CONF_OK;
    }

    part = &old->shared_memory.part;
    oshm = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            oshm = part->elts;
            i = 0;
        }

        if (oshm[i].tag != &ngx_http_gateway_rate_limit_module
            || oshm[i].shm.name.len != zone->name.len
            || ngx_strncmp(oshm[i].shm.name.data, zone->name.data,
                           zone->name.len)
               != 0)
        {
            continue;
        }

        ozone = oshm[i].data;

        if (ozone == NULL) {
            continue;
        }

        if (oshm[i].shm.size != zone->size) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "zone \"%V\" cannot change its size from %uz "
                               "to %uz on reload (its counters would be "
                               "lost): restart nginx or use a new zone name",
                               &zone->name, oshm[i].shm.size, zone->size);
            return NGX_CONF_ERROR;
        }

        if (ozone->key->value.len != zone->key->value.len
            || ngx_strncmp(ozone->key->value.data, zone->key->value.data,
                           zone->key->value.len)
               != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "zone \"%V\" cannot change its key from "
                               "\"%V\" to \"%V\" on reload: restart nginx or "
                               "use a new zone name", &zone->name,
                               &ozone->key->value, &zone->key->value);
            return NGX_CONF_ERROR;
        }

        if (ozone->policy.algorithm != zone->policy.algorithm) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "zone \"%V\" cannot change its algorithm on "
                               "reload: restart nginx or use a new zone name",
                               &zone->name);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
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


/*
 * The three cases of a zone's start: a reload reusing the previous
 * cycle's zone (its counters kept), memory that already holds our state
 * (Windows), and new memory.
 */

static ngx_int_t
ngx_http_gateway_rl_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_gateway_rl_zone_t  *ozone = data;

    size_t                        len;
    ngx_http_gateway_rl_zone_t   *zone;
    ngx_http_gateway_rl_shctx_t  *sh;

    zone = shm_zone->data;

    if (ozone) {
        if (ozone->key->value.len != zone->key->value.len
            || ngx_strncmp(ozone->key->value.data, zone->key->value.data,
                           zone->key->value.len)
               != 0)
        {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "gateway_rate_limit_zone \"%V\" uses the key "
                          "\"%V\", previously \"%V\": a running zone cannot "
                          "change its key, restart nginx or use a new zone "
                          "name", &zone->name, &zone->key->value,
                          &ozone->key->value);
            return NGX_ERROR;
        }

        if (ozone->policy.algorithm != zone->policy.algorithm) {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "gateway_rate_limit_zone \"%V\" cannot change its "
                          "algorithm on reload, restart nginx or use a new "
                          "zone name", &zone->name);
            return NGX_ERROR;
        }

        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;

        return NGX_OK;
    }

    zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        zone->sh = zone->shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_alloc(zone->shpool, sizeof(ngx_http_gateway_rl_shctx_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(sh, sizeof(ngx_http_gateway_rl_shctx_t));

    ngx_rbtree_init(&sh->rbtree, &sh->sentinel,
                    ngx_http_gateway_rl_rbtree_insert);

    sh->epoch = ngx_current_msec;
    sh->algorithm = zone->policy.algorithm;

    zone->sh = sh;
    zone->shpool->data = sh;

    len = sizeof(" in gateway_rate_limit_zone \"\"") + shm_zone->shm.name.len;

    zone->shpool->log_ctx = ngx_slab_alloc(zone->shpool, len);
    if (zone->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(zone->shpool->log_ctx, " in gateway_rate_limit_zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone is our business to report, once */
    zone->shpool->log_nomem = 0;

    return NGX_OK;
}
