/*
 * The stats registry (see the header).
 *
 * What a configuration declares lives in its pool: families (their shape,
 * and gw_metric_family_t as the renderer wants it) and series handles. The
 * zone "gateway_stats" holds, under its slab mutex, the families' shapes,
 * their series (label values, found by an rbtree of the joined values) and
 * the value cells; when a configuration starts, the zone's init binds each
 * handle to its cells, making or keeping them, and removes the series no
 * configuration declares any more.
 *
 * The cells of a removed series are not given back to the slab allocator:
 * a worker of an older configuration may still add to them until it exits,
 * and such a late add must never land in the registry's own structures.
 * They are kept on a free list and reused for a series of the same size
 * only when the zone is otherwise full.
 */

#include "ngx_http_gateway.h"


#define NGX_HTTP_GATEWAY_STATS_SIZE          (1024 * 1024)
#define NGX_HTTP_GATEWAY_STATS_LOG_INTERVAL  60000
#define NGX_HTTP_GATEWAY_STATS_SHAPE         4096


struct ngx_http_gateway_stats_s {
    ngx_array_t                         families; /* ..._family_t * */
    double                             *buckets;
    ngx_uint_t                          nbuckets;
    size_t                              size;
    ngx_http_gateway_shm_t             *shm;
    ngx_array_t                         status;   /* ngx_http_gateway_status_t */
};


typedef struct ngx_http_gateway_stats_family_sh_s
    ngx_http_gateway_stats_family_sh_t;


/* A series as its configuration declared it. */
typedef struct {
    ngx_str_t                           key;      /* the values joined */
    ngx_str_t                          *labels;
    ngx_http_gateway_stat_t             stat;
} ngx_http_gateway_stats_local_t;


struct ngx_http_gateway_stats_family_s {
    ngx_http_gateway_stats_t           *stats;
    ngx_http_gateway_stats_def_t       *def;
    void                               *data;     /* the collector's */
    gw_metric_family_t                  gw;       /* labels: keyed, dims */
    ngx_uint_t                          nkeyed;
    ngx_uint_t                          ndims;
    ngx_uint_t                          ncells;
    ngx_uint_t                          per_cell; /* values in a cell */
    ngx_array_t                         series;   /* ..._local_t * */
    ngx_http_gateway_stats_family_sh_t *sh;
};


/* the zone */

typedef struct {
    ngx_queue_t                         families;
    ngx_queue_t                         free;     /* cells of removed series */
    uint64_t                            generation;
    ngx_atomic_t                        dropped;
    ngx_msec_t                          logged;
} ngx_http_gateway_stats_sh_t;


struct ngx_http_gateway_stats_family_sh_s {
    ngx_queue_t                         queue;
    ngx_queue_t                         series;   /* in creation order */
    ngx_rbtree_t                        rbtree;
    ngx_rbtree_node_t                   sentinel;
    ngx_str_t                           name;
    ngx_str_t                           shape;    /* all that must match */
    ngx_uint_t                          nvalues;  /* per series */
    uint64_t                           *bounds;   /* in observation units */
    ngx_uint_t                          nbounds;
    ngx_uint_t                          retired;  /* another shape replaced it */
};


typedef struct {
    ngx_str_node_t                      node;     /* str: the values joined */
    ngx_queue_t                         queue;
    ngx_atomic_uint_t                  *values;
    ngx_uint_t                          nvalues;
    uint64_t                            generation;
    ngx_uint_t                          runtime;  /* added at run time */
} ngx_http_gateway_stats_series_sh_t;


typedef struct {
    ngx_queue_t                         queue;
    ngx_atomic_uint_t                  *values;
    ngx_uint_t                          nvalues;
} ngx_http_gateway_stats_cells_t;


/* A series as read: its key and cells, copied out of the zone. */
struct ngx_http_gateway_stats_copy_s {
    ngx_str_t                           key;
    ngx_atomic_uint_t                  *values;
};


struct ngx_http_gateway_stats_emit_s {
    ngx_http_gateway_stats_family_t    *family;
    ngx_pool_t                         *pool;
    ngx_array_t                        *series;   /* gw_metric_series_t */
    ngx_uint_t                          failed;
};


static ngx_int_t ngx_http_gateway_stats_shape(
    ngx_http_gateway_stats_family_t *family, ngx_str_t *shape);
static ngx_int_t ngx_http_gateway_stats_join(ngx_pool_t *pool,
    ngx_uint_t n, ngx_str_t *labels, ngx_str_t *key);
static ngx_int_t ngx_http_gateway_stats_init_zone(ngx_http_gateway_shm_t *shm);
static ngx_int_t ngx_http_gateway_stats_bind(ngx_http_gateway_stats_t *stats,
    ngx_http_gateway_stats_family_t *family, ngx_log_t *log);
static ngx_http_gateway_stats_family_sh_t *ngx_http_gateway_stats_family_sh(
    ngx_http_gateway_stats_t *stats, ngx_http_gateway_stats_family_t *family,
    ngx_str_t *shape);
static ngx_http_gateway_stats_series_sh_t *ngx_http_gateway_stats_find(
    ngx_http_gateway_stats_t *stats, ngx_http_gateway_stats_family_t *family,
    ngx_str_t *key, ngx_uint_t runtime, ngx_log_t *log);
static void ngx_http_gateway_stats_handle(
    ngx_http_gateway_stats_family_t *family,
    ngx_http_gateway_stats_series_sh_t *s, ngx_http_gateway_stat_t *stat);
static void ngx_http_gateway_stats_delete(ngx_slab_pool_t *shpool,
    ngx_http_gateway_stats_sh_t *sh, ngx_http_gateway_stats_family_sh_t *fsh,
    ngx_http_gateway_stats_series_sh_t *s);
static ngx_int_t ngx_http_gateway_stats_copy(ngx_pool_t *pool,
    ngx_http_gateway_stats_family_t *family,
    ngx_http_gateway_stats_read_t *read);
static ngx_int_t ngx_http_gateway_stats_split(
    ngx_http_gateway_stats_family_t *family, ngx_str_t *key,
    gw_metric_str_t *values);


static ngx_http_gateway_shm_type_t  ngx_http_gateway_stats_shm_type = {
    "gateway_stats zone",
    ngx_http_gateway_stats_init_zone,
    NULL,                                /* a new size starts afresh */
    0,
    1                                    /* a full zone is logged here */
};


static ngx_str_t  ngx_http_gateway_stats_zone_name = ngx_string("gateway_stats");


ngx_http_gateway_stats_t *
ngx_http_gateway_stats_create(ngx_conf_t *cf)
{
    ngx_http_gateway_stats_t  *stats;

    stats = ngx_pcalloc(cf->pool, sizeof(ngx_http_gateway_stats_t));
    if (stats == NULL) {
        return NULL;
    }

    if (ngx_array_init(&stats->families, cf->pool, 8, sizeof(void *))
        != NGX_OK
        || ngx_array_init(&stats->status, cf->pool, 4,
                          sizeof(ngx_http_gateway_status_t))
           != NGX_OK)
    {
        return NULL;
    }

    stats->buckets = (double *) gw_stats_default_buckets;
    stats->nbuckets = GW_STATS_DEFAULT_BUCKETS;
    stats->size = NGX_HTTP_GATEWAY_STATS_SIZE;

    /*
     * Named now, sized once http{} is read: zones start in the order they
     * were named, and the features' zones may keep handles of series (the
     * upstream zone's peers do), which must be bound by then.
     */

    if (ngx_shared_memory_add(cf, &ngx_http_gateway_stats_zone_name, 0,
                              &ngx_http_gateway_module)
        == NULL)
    {
        return NULL;
    }

    return stats;
}


static ngx_http_gateway_stats_t *
ngx_http_gateway_stats_conf(ngx_conf_t *cf)
{
    ngx_http_gateway_main_conf_t  *gmcf;

    gmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_gateway_module);

    return gmcf->stats;
}


ngx_int_t
ngx_http_gateway_stats_set_buckets(ngx_conf_t *cf, double *bounds,
    ngx_uint_t n)
{
    ngx_http_gateway_stats_t  *stats;

    stats = ngx_http_gateway_stats_conf(cf);

    if (n == 0 || n > GW_METRIC_MAX_BOUNDS) {
        return NGX_ERROR;
    }

    stats->buckets = bounds;
    stats->nbuckets = n;

    return NGX_OK;
}


void
ngx_http_gateway_stats_set_size(ngx_conf_t *cf, size_t size)
{
    ngx_http_gateway_stats_conf(cf)->size = size;
}


ngx_http_gateway_stats_family_t *
ngx_http_gateway_stats_family(ngx_conf_t *cf,
    ngx_http_gateway_stats_def_t *def)
{
    ngx_str_t                         *s, shape[2];
    ngx_uint_t                         i, n;
    gw_metric_str_t                   *labels;
    gw_metric_check_t                  rc;
    ngx_http_gateway_stats_t          *stats;
    ngx_http_gateway_stats_dim_t      *dim;
    ngx_http_gateway_stats_family_t   *family, **families;
    u_char                             buf[2][NGX_HTTP_GATEWAY_STATS_SHAPE];

    stats = ngx_http_gateway_stats_conf(cf);

    family = ngx_pcalloc(cf->pool, sizeof(ngx_http_gateway_stats_family_t));
    if (family == NULL) {
        return NULL;
    }

    family->stats = stats;
    family->def = def;
    family->data = def->data;
    family->ncells = 1;
    family->per_cell = 1;

    for (s = def->labels; s && s->len; s++) {
        family->nkeyed++;
    }

    for (dim = def->dims; dim && dim->name.len; dim++) {
        for (n = 0; dim->values[n].len; n++) { /* void */ }

        family->ndims++;
        family->ncells *= n;
    }

    labels = ngx_pcalloc(cf->pool, (family->nkeyed + family->ndims + 1)
                                   * sizeof(gw_metric_str_t));
    if (labels == NULL) {
        return NULL;
    }

    for (i = 0; i < family->nkeyed; i++) {
        labels[i].data = (char *) def->labels[i].data;
        labels[i].len = def->labels[i].len;
    }

    for (i = 0; i < family->ndims; i++) {
        labels[family->nkeyed + i].data = (char *) def->dims[i].name.data;
        labels[family->nkeyed + i].len = def->dims[i].name.len;
    }

    family->gw.name.data = (char *) def->name.data;
    family->gw.name.len = def->name.len;
    family->gw.help.data = (char *) def->help.data;
    family->gw.help.len = def->help.len;
    family->gw.type = (uint32_t) def->type;
    family->gw.nlabels = family->nkeyed + family->ndims;
    family->gw.labels = labels;

    /* the configured bounds are known once http{} is read: see bind */

    if (def->type == GW_METRIC_HISTOGRAM) {
        family->gw.bounds = gw_stats_default_buckets;
        family->gw.nbounds = GW_STATS_DEFAULT_BUCKETS;
    }

    rc = gw_metric_family_check(&family->gw);

    if (rc != GW_METRIC_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "stats family \"%V\": %s", &def->name,
                           gw_metric_check_text(rc));
        return NULL;
    }

    /* the same name again: the same family if it has the same shape */

    families = stats->families.elts;

    for (i = 0; i < stats->families.nelts; i++) {
        if (families[i]->def->name.len != def->name.len
            || ngx_strncmp(families[i]->def->name.data, def->name.data,
                           def->name.len)
               != 0)
        {
            continue;
        }

        shape[0].data = buf[0];
        shape[1].data = buf[1];

        if (families[i]->def->collect == NULL && def->collect == NULL
            && ngx_http_gateway_stats_shape(families[i], &shape[0]) == NGX_OK
            && ngx_http_gateway_stats_shape(family, &shape[1]) == NGX_OK
            && shape[0].len == shape[1].len
            && ngx_memcmp(shape[0].data, shape[1].data, shape[0].len) == 0)
        {
            return families[i];
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "stats family \"%V\" is declared twice with "
                           "different labels", &def->name);
        return NULL;
    }

    if (ngx_array_init(&family->series, cf->pool, 4, sizeof(void *))
        != NGX_OK)
    {
        return NULL;
    }

    families = ngx_array_push(&stats->families);
    if (families == NULL) {
        return NULL;
    }

    *families = family;

    return family;
}


void
ngx_http_gateway_stats_collect_data(ngx_http_gateway_stats_family_t *family,
    void *data)
{
    family->data = data;
}


ngx_http_gateway_stat_t *
ngx_http_gateway_stats_series(ngx_conf_t *cf,
    ngx_http_gateway_stats_family_t *family, ngx_str_t *labels)
{
    ngx_str_t                         key;
    ngx_uint_t                        i;
    ngx_http_gateway_stats_local_t   *local, **slot;

    if (ngx_http_gateway_stats_join(cf->pool, family->nkeyed, labels, &key)
        != NGX_OK)
    {
        return NULL;
    }

    slot = family->series.elts;

    for (i = 0; i < family->series.nelts; i++) {
        if (slot[i]->key.len == key.len
            && ngx_memcmp(slot[i]->key.data, key.data, key.len) == 0)
        {
            return &slot[i]->stat;
        }
    }

    local = ngx_pcalloc(cf->pool, sizeof(ngx_http_gateway_stats_local_t));
    if (local == NULL) {
        return NULL;
    }

    local->key = key;

    slot = ngx_array_push(&family->series);
    if (slot == NULL) {
        return NULL;
    }

    *slot = local;

    return &local->stat;
}


/*
 * The label values as one string, each followed by a zero byte (values
 * never hold one): the series' key and, split again, its labels.
 */

static ngx_int_t
ngx_http_gateway_stats_join(ngx_pool_t *pool, ngx_uint_t n, ngx_str_t *labels,
    ngx_str_t *key)
{
    u_char      *p;
    ngx_uint_t   i;

    key->len = 0;

    for (i = 0; i < n; i++) {
        if (ngx_strlchr(labels[i].data, labels[i].data + labels[i].len, '\0')) {
            return NGX_ERROR;
        }

        key->len += labels[i].len + 1;
    }

    key->data = ngx_pnalloc(pool, key->len ? key->len : 1);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    p = key->data;

    for (i = 0; i < n; i++) {
        p = ngx_cpymem(p, labels[i].data, labels[i].len);
        *p++ = '\0';
    }

    return NGX_OK;
}


/* once the http block is read: the zone, sized as configured */

ngx_int_t
ngx_http_gateway_stats_init(ngx_conf_t *cf, ngx_http_gateway_stats_t *stats)
{
    stats->shm = ngx_http_gateway_shm_add(cf, &ngx_http_gateway_stats_zone_name,
                                          stats->size,
                                          &ngx_http_gateway_module,
                                          &ngx_http_gateway_stats_shm_type,
                                          stats);

    return stats->shm ? NGX_OK : NGX_ERROR;
}


/*
 * In the master as a configuration starts: the zone's header when new,
 * every handle bound, and the series no configuration declares removed.
 */

static ngx_int_t
ngx_http_gateway_stats_init_zone(ngx_http_gateway_shm_t *shm)
{
    ngx_int_t                             rc;
    ngx_uint_t                            i;
    ngx_queue_t                          *q, *sq, *next;
    ngx_http_gateway_stats_t             *stats;
    ngx_http_gateway_stats_sh_t          *sh;
    ngx_http_gateway_stats_family_t     **family;
    ngx_http_gateway_stats_family_sh_t   *fsh;
    ngx_http_gateway_stats_series_sh_t   *s;

    stats = shm->data;

    if (shm->sh == NULL) {
        sh = ngx_slab_calloc(shm->shpool, sizeof(ngx_http_gateway_stats_sh_t));
        if (sh == NULL) {
            return NGX_ERROR;
        }

        ngx_queue_init(&sh->families);
        ngx_queue_init(&sh->free);

        shm->sh = sh;
    }

    sh = shm->sh;
    rc = NGX_OK;

    ngx_shmtx_lock(&shm->shpool->mutex);

    sh->generation++;

    family = stats->families.elts;

    for (i = 0; i < stats->families.nelts && rc == NGX_OK; i++) {
        rc = ngx_http_gateway_stats_bind(stats, family[i], shm->zone->shm.log);
    }

    for (q = ngx_queue_head(&sh->families);
         q != ngx_queue_sentinel(&sh->families);
         q = ngx_queue_next(q))
    {
        fsh = ngx_queue_data(q, ngx_http_gateway_stats_family_sh_t, queue);

        for (sq = ngx_queue_head(&fsh->series);
             sq != ngx_queue_sentinel(&fsh->series);
             sq = next)
        {
            next = ngx_queue_next(sq);
            s = ngx_queue_data(sq, ngx_http_gateway_stats_series_sh_t, queue);

            if (!s->runtime && s->generation != sh->generation) {
                ngx_http_gateway_stats_delete(shm->shpool, sh, fsh, s);
            }
        }
    }

    ngx_shmtx_unlock(&shm->shpool->mutex);

    return rc;
}


/* A family's zone record, and its series' cells; under the mutex. */

static ngx_int_t
ngx_http_gateway_stats_bind(ngx_http_gateway_stats_t *stats,
    ngx_http_gateway_stats_family_t *family, ngx_log_t *log)
{
    ngx_str_t                            shape;
    ngx_uint_t                           i;
    ngx_http_gateway_stats_local_t     **local;
    ngx_http_gateway_stats_series_sh_t  *s;
    u_char                               buf[NGX_HTTP_GATEWAY_STATS_SHAPE];

    if (family->def->collect) {
        return NGX_OK;
    }

    if (family->def->type == GW_METRIC_HISTOGRAM) {
        family->gw.bounds = stats->buckets;
        family->gw.nbounds = stats->nbuckets;
        family->per_cell = stats->nbuckets + 2;
    }

    shape.data = buf;

    if (ngx_http_gateway_stats_shape(family, &shape) != NGX_OK) {
        ngx_log_error(NGX_LOG_EMERG, log, 0,
                      "stats family \"%V\" is too large", &family->def->name);
        return NGX_ERROR;
    }

    family->sh = ngx_http_gateway_stats_family_sh(stats, family, &shape);

    if (family->sh == NULL && family->def->type == GW_METRIC_HISTOGRAM
        && gw_stats_bounds(family->gw.bounds, family->gw.nbounds,
                           family->def->unit, (uint64_t *) buf)
           != 0)
    {
        ngx_log_error(NGX_LOG_EMERG, log, 0,
                      "stats family \"%V\": its unit cannot tell the bucket "
                      "bounds apart", &family->def->name);
        return NGX_ERROR;
    }

    local = family->series.elts;

    for (i = 0; i < family->series.nelts; i++) {
        s = family->sh ? ngx_http_gateway_stats_find(stats, family,
                                                     &local[i]->key, 0, log)
                       : NULL;

        ngx_http_gateway_stats_handle(family, s, &local[i]->stat);
    }

    return NGX_OK;
}


/*
 * Everything that must match for counts to go on: the type, the labels,
 * the dimensions' values, the bounds. Written into shape->data
 * (NGX_HTTP_GATEWAY_STATS_SHAPE bytes).
 */

static ngx_int_t
ngx_http_gateway_stats_shape(ngx_http_gateway_stats_family_t *family,
    ngx_str_t *shape)
{
    u_char                        *p, *last;
    ngx_uint_t                     i;
    ngx_str_t                     *v;
    ngx_http_gateway_stats_dim_t  *dim;

    p = shape->data;
    last = p + NGX_HTTP_GATEWAY_STATS_SHAPE;

    p = ngx_slprintf(p, last, "%ui", family->def->type);

    for (i = 0; i < family->gw.nlabels; i++) {
        p = ngx_slprintf(p, last, " %*s", family->gw.labels[i].len,
                         family->gw.labels[i].data);
    }

    for (dim = family->def->dims; dim && dim->name.len; dim++) {
        p = ngx_slprintf(p, last, " |");

        for (v = dim->values; v->len; v++) {
            p = ngx_slprintf(p, last, " %V", v);
        }
    }

    for (i = 0; i < family->gw.nbounds; i++) {
        p = ngx_slprintf(p, last, " %.6f", family->gw.bounds[i]);
    }

    if (p == last) {
        return NGX_ERROR;
    }

    shape->len = p - shape->data;

    return NGX_OK;
}


static ngx_http_gateway_stats_family_sh_t *
ngx_http_gateway_stats_family_sh(ngx_http_gateway_stats_t *stats,
    ngx_http_gateway_stats_family_t *family, ngx_str_t *shape)
{
    ngx_queue_t                         *q;
    ngx_slab_pool_t                     *shpool;
    ngx_http_gateway_stats_sh_t         *sh;
    ngx_http_gateway_stats_family_sh_t  *fsh;

    shpool = stats->shm->shpool;
    sh = stats->shm->sh;

    for (q = ngx_queue_head(&sh->families);
         q != ngx_queue_sentinel(&sh->families);
         q = ngx_queue_next(q))
    {
        fsh = ngx_queue_data(q, ngx_http_gateway_stats_family_sh_t, queue);

        if (fsh->retired
            || fsh->name.len != family->def->name.len
            || ngx_strncmp(fsh->name.data, family->def->name.data,
                           fsh->name.len)
               != 0)
        {
            continue;
        }

        if (fsh->shape.len == shape->len
            && ngx_memcmp(fsh->shape.data, shape->data, shape->len) == 0)
        {
            return fsh;
        }

        /*
         * another shape (new buckets, say): its series end, and workers of
         * the previous configuration keep their cells until they exit
         */

        fsh->retired = 1;
    }

    fsh = ngx_slab_calloc_locked(shpool,
                                 sizeof(ngx_http_gateway_stats_family_sh_t)
                                 + family->def->name.len + shape->len
                                 + family->gw.nbounds * sizeof(uint64_t));
    if (fsh == NULL) {
        return NULL;
    }

    fsh->bounds = (uint64_t *) (fsh + 1);
    fsh->nbounds = family->gw.nbounds;

    if (fsh->nbounds
        && gw_stats_bounds(family->gw.bounds, family->gw.nbounds,
                           family->def->unit, fsh->bounds)
           != 0)
    {
        ngx_slab_free_locked(shpool, fsh);
        return NULL;
    }

    fsh->name.data = (u_char *) (fsh->bounds + fsh->nbounds);
    fsh->name.len = family->def->name.len;
    ngx_memcpy(fsh->name.data, family->def->name.data, fsh->name.len);

    fsh->shape.data = fsh->name.data + fsh->name.len;
    fsh->shape.len = shape->len;
    ngx_memcpy(fsh->shape.data, shape->data, shape->len);

    fsh->nvalues = family->ncells * family->per_cell;

    ngx_rbtree_init(&fsh->rbtree, &fsh->sentinel, ngx_str_rbtree_insert_value);
    ngx_queue_init(&fsh->series);
    ngx_queue_insert_tail(&sh->families, &fsh->queue);

    return fsh;
}


/*
 * The series of key in the family's record, made when missing; NULL when
 * the zone is full (counted, and logged once per interval). Under the
 * mutex.
 */

static ngx_http_gateway_stats_series_sh_t *
ngx_http_gateway_stats_find(ngx_http_gateway_stats_t *stats,
    ngx_http_gateway_stats_family_t *family, ngx_str_t *key,
    ngx_uint_t runtime, ngx_log_t *log)
{
    uint32_t                             hash;
    ngx_queue_t                         *q;
    ngx_slab_pool_t                     *shpool;
    ngx_atomic_uint_t                   *values;
    ngx_http_gateway_stats_sh_t         *sh;
    ngx_http_gateway_stats_cells_t      *cells;
    ngx_http_gateway_stats_family_sh_t  *fsh;
    ngx_http_gateway_stats_series_sh_t  *s;

    shpool = stats->shm->shpool;
    sh = stats->shm->sh;
    fsh = family->sh;
    hash = ngx_crc32_short(key->data, key->len);

    s = (ngx_http_gateway_stats_series_sh_t *)
        ngx_str_rbtree_lookup(&fsh->rbtree, key, hash);

    if (s) {
        s->generation = sh->generation;
        return s;
    }

    s = ngx_slab_alloc_locked(shpool,
                      sizeof(ngx_http_gateway_stats_series_sh_t) + key->len);
    values = NULL;

    if (s) {
        values = ngx_slab_calloc_locked(shpool,
                                     fsh->nvalues * sizeof(ngx_atomic_uint_t));
    }

    if (s && values == NULL) {
        /* the zone is full: cells of a removed series, if some fit */

        for (q = ngx_queue_head(&sh->free);
             q != ngx_queue_sentinel(&sh->free);
             q = ngx_queue_next(q))
        {
            cells = ngx_queue_data(q, ngx_http_gateway_stats_cells_t, queue);

            if (cells->nvalues == fsh->nvalues) {
                ngx_queue_remove(q);
                values = cells->values;
                ngx_memzero((void *) values,
                            fsh->nvalues * sizeof(ngx_atomic_uint_t));
                ngx_slab_free_locked(shpool, cells);
                break;
            }
        }

        if (values == NULL) {
            ngx_slab_free_locked(shpool, s);
            s = NULL;
        }
    }

    if (s == NULL) {
        (void) ngx_atomic_fetch_add(&sh->dropped, 1);

        if (ngx_http_gateway_log_due(&sh->logged,
                                     NGX_HTTP_GATEWAY_STATS_LOG_INTERVAL))
        {
            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "the gateway_stats zone is full: a series of "
                          "\"%V\" is not counted (gateway_metrics_zone "
                          "sets its size)", &family->def->name);
        }

        return NULL;
    }

    ngx_memzero(s, sizeof(ngx_http_gateway_stats_series_sh_t));

    s->node.str.data = (u_char *) (s + 1);
    s->node.str.len = key->len;
    ngx_memcpy(s->node.str.data, key->data, key->len);
    s->node.node.key = hash;

    s->values = values;
    s->nvalues = fsh->nvalues;
    s->generation = sh->generation;
    s->runtime = runtime;

    ngx_rbtree_insert(&fsh->rbtree, &s->node.node);
    ngx_queue_insert_tail(&fsh->series, &s->queue);

    return s;
}


static void
ngx_http_gateway_stats_handle(ngx_http_gateway_stats_family_t *family,
    ngx_http_gateway_stats_series_sh_t *s, ngx_http_gateway_stat_t *stat)
{
    stat->series = s;
    stat->values = s ? s->values : NULL;

    if (family->def->type == GW_METRIC_HISTOGRAM) {
        stat->bounds = family->sh->bounds;
        stat->nbounds = family->sh->nbounds;
    }
}


/* Under the mutex; the cells go to the free list, never to the slab. */

static void
ngx_http_gateway_stats_delete(ngx_slab_pool_t *shpool,
    ngx_http_gateway_stats_sh_t *sh, ngx_http_gateway_stats_family_sh_t *fsh,
    ngx_http_gateway_stats_series_sh_t *s)
{
    ngx_http_gateway_stats_cells_t  *cells;

    ngx_queue_remove(&s->queue);
    ngx_rbtree_delete(&fsh->rbtree, &s->node.node);

    cells = ngx_slab_alloc_locked(shpool,
                                  sizeof(ngx_http_gateway_stats_cells_t));

    if (cells) {
        cells->values = s->values;
        cells->nvalues = s->nvalues;
        ngx_queue_insert_tail(&sh->free, &cells->queue);
    }

    /* with no room even to remember them, the cells are lost: not reused */

    ngx_slab_free_locked(shpool, s);
}


ngx_int_t
ngx_http_gateway_stats_series_add(ngx_http_gateway_stats_family_t *family,
    ngx_str_t *labels, ngx_http_gateway_stat_t *stat)
{
    ngx_str_t                            key;
    ngx_pool_t                          *pool;
    ngx_slab_pool_t                     *shpool;
    ngx_http_gateway_stats_series_sh_t  *s;

    ngx_memzero(stat, sizeof(ngx_http_gateway_stat_t));

    if (family->sh == NULL) {
        return NGX_DECLINED;
    }

    pool = ngx_create_pool(1024, ngx_cycle->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_gateway_stats_join(pool, family->nkeyed, labels, &key)
        != NGX_OK)
    {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    shpool = family->stats->shm->shpool;

    ngx_shmtx_lock(&shpool->mutex);

    s = ngx_http_gateway_stats_find(family->stats, family, &key, 1,
                                    ngx_cycle->log);

    ngx_http_gateway_stats_handle(family, s, stat);

    ngx_shmtx_unlock(&shpool->mutex);

    ngx_destroy_pool(pool);

    return s ? NGX_OK : NGX_DECLINED;
}


void
ngx_http_gateway_stats_series_remove(ngx_http_gateway_stat_t *stat)
{
    ngx_queue_t                         *q;
    ngx_slab_pool_t                     *shpool;
    ngx_http_gateway_stats_t            *stats;
    ngx_http_gateway_stats_sh_t         *sh;
    ngx_http_gateway_stats_family_sh_t  *fsh;
    ngx_http_gateway_stats_series_sh_t  *s;
    ngx_http_gateway_main_conf_t        *gmcf;

    s = stat->series;

    if (s == NULL) {
        return;
    }

    gmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_gateway_module);
    stats = gmcf->stats;
    shpool = stats->shm->shpool;
    sh = stats->shm->sh;

    ngx_shmtx_lock(&shpool->mutex);

    /* the family that holds it */

    for (q = ngx_queue_head(&sh->families);
         q != ngx_queue_sentinel(&sh->families);
         q = ngx_queue_next(q))
    {
        fsh = ngx_queue_data(q, ngx_http_gateway_stats_family_sh_t, queue);

        if (ngx_str_rbtree_lookup(&fsh->rbtree, &s->node.str,
                                  (uint32_t) s->node.node.key)
            == &s->node)
        {
            ngx_http_gateway_stats_delete(shpool, sh, fsh, s);
            break;
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);

    ngx_memzero(stat, sizeof(ngx_http_gateway_stat_t));
}


/* reading */

ngx_uint_t
ngx_http_gateway_stats_nfamilies(ngx_http_request_t *r)
{
    ngx_http_gateway_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gateway_module);

    return gmcf->stats->families.nelts;
}


ngx_int_t
ngx_http_gateway_stats_read(ngx_http_request_t *r, ngx_uint_t i,
    ngx_pool_t *pool, ngx_http_gateway_stats_read_t *read)
{
    ngx_array_t                       series;
    ngx_http_gateway_stats_emit_t     emit;
    ngx_http_gateway_stats_family_t  *family;
    ngx_http_gateway_main_conf_t     *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gateway_module);
    family = ((ngx_http_gateway_stats_family_t **)
              gmcf->stats->families.elts)[i];

    ngx_memzero(read, sizeof(ngx_http_gateway_stats_read_t));
    read->family = family->gw;
    read->counted = family;

    if (family->def->collect) {
        if (ngx_array_init(&series, pool, 8, sizeof(gw_metric_series_t))
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        emit.family = family;
        emit.pool = pool;
        emit.series = &series;
        emit.failed = 0;

        family->def->collect(&emit, family->data);

        if (emit.failed) {
            return NGX_ERROR;
        }

        read->counted = NULL;
        read->emitted = series.elts;
        read->nemitted = series.nelts;

        return NGX_OK;
    }

    if (family->sh == NULL) {
        return NGX_OK;
    }

    return ngx_http_gateway_stats_copy(pool, family, read);
}


/*
 * A family's series as they are now, copied under the mutex and nothing
 * more (their keys and cells): what they mean is worked out afterwards,
 * part by part (ngx_http_gateway_stats_read_more).
 */

static ngx_int_t
ngx_http_gateway_stats_copy(ngx_pool_t *pool,
    ngx_http_gateway_stats_family_t *family,
    ngx_http_gateway_stats_read_t *read)
{
    u_char                              *keys;
    size_t                               nkeys;
    ngx_uint_t                           n, nvalues;
    ngx_queue_t                         *q;
    ngx_slab_pool_t                     *shpool;
    ngx_atomic_uint_t                   *values;
    ngx_http_gateway_stats_copy_t       *copy;
    ngx_http_gateway_stats_family_sh_t  *fsh;
    ngx_http_gateway_stats_series_sh_t  *s;

    fsh = family->sh;
    shpool = family->stats->shm->shpool;
    nvalues = family->ncells * family->per_cell;

    ngx_shmtx_lock(&shpool->mutex);

    n = 0;
    nkeys = 0;

    for (q = ngx_queue_head(&fsh->series);
         q != ngx_queue_sentinel(&fsh->series);
         q = ngx_queue_next(q))
    {
        s = ngx_queue_data(q, ngx_http_gateway_stats_series_sh_t, queue);
        n++;
        nkeys += s->node.str.len;
    }

    copy = ngx_palloc(pool, (n + 1) * sizeof(ngx_http_gateway_stats_copy_t));
    values = ngx_palloc(pool, (n * nvalues + 1) * sizeof(ngx_atomic_uint_t));
    keys = ngx_pnalloc(pool, nkeys + 1);

    if (copy == NULL || values == NULL || keys == NULL) {
        ngx_shmtx_unlock(&shpool->mutex);
        return NGX_ERROR;
    }

    read->copies = copy;
    read->ncopies = n;

    for (q = ngx_queue_head(&fsh->series);
         q != ngx_queue_sentinel(&fsh->series);
         q = ngx_queue_next(q))
    {
        s = ngx_queue_data(q, ngx_http_gateway_stats_series_sh_t, queue);

        copy->key.data = keys;
        copy->key.len = s->node.str.len;
        keys = ngx_cpymem(keys, s->node.str.data, s->node.str.len);

        copy->values = values;
        ngx_memcpy(values, (void *) s->values,
                   nvalues * sizeof(ngx_atomic_uint_t));
        values += nvalues;
        copy++;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return NGX_OK;
}


/*
 * The next series of a family read, one gw_metric_series_t per cell that
 * counted something (or per series without dimensions), until they hold
 * max_samples sample lines; none when the family is done.
 */

ngx_int_t
ngx_http_gateway_stats_read_more(ngx_http_gateway_stats_read_t *read,
    ngx_pool_t *pool, size_t max_samples)
{
    size_t                               per_series, samples;
    uint64_t                            *buckets, count;
    ngx_uint_t                           c, d, i, n, nbounds, cell;
    gw_metric_str_t                     *values, *keyed;
    gw_metric_series_t                  *ms;
    ngx_atomic_uint_t                   *v;
    ngx_http_gateway_stats_dim_t        *dims;
    ngx_http_gateway_stats_copy_t       *copy, *keyed_of;
    ngx_http_gateway_stats_family_t     *family;

    per_series = gw_prom_series_samples(&read->family);
    family = read->counted;
    read->nseries = 0;

    if (family == NULL) {
        /* a collected family: handed out as emitted */

        if (read->copy == read->nemitted) {
            return NGX_OK;
        }

        n = ngx_min(max_samples / per_series, read->nemitted - read->copy - 1)
            + 1;

        read->series = read->emitted + read->copy;
        read->nseries = n;
        read->copy += n;

        return NGX_OK;
    }

    if (read->copy == read->ncopies) {
        return NGX_OK;
    }

    /* at most a series per cell left */

    n = ngx_min(max_samples / per_series,
                (read->ncopies - read->copy) * family->ncells - read->cell - 1)
        + 1;

    read->series = ngx_palloc(pool, n * sizeof(gw_metric_series_t));
    if (read->series == NULL) {
        return NGX_ERROR;
    }

    dims = family->def->dims;
    nbounds = read->family.nbounds;
    samples = 0;
    keyed = NULL;
    keyed_of = NULL;

    while (read->copy < read->ncopies && samples < max_samples
           && read->nseries < n)
    {
        copy = &read->copies[read->copy];
        cell = read->cell;
        v = &copy->values[cell * family->per_cell];

        /* on to the next cell now: "continue" below skips this one */

        if (++read->cell == family->ncells) {
            read->cell = 0;
            read->copy++;
        }

        if (family->def->type == GW_METRIC_HISTOGRAM) {
            count = 0;

            for (i = 0; i <= nbounds; i++) {
                count += v[i];
            }

        } else {
            count = v[0];
        }

        /* cells of dimensions that never counted are left out */

        if (count == 0 && family->ndims
            && family->def->type != GW_METRIC_GAUGE)
        {
            continue;
        }

        if (keyed_of != copy) {
            keyed = ngx_palloc(pool, (family->nkeyed + 1)
                                     * sizeof(gw_metric_str_t));
            if (keyed == NULL
                || ngx_http_gateway_stats_split(family, &copy->key, keyed)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }

            keyed_of = copy;
        }

        values = ngx_palloc(pool, (family->gw.nlabels + 1)
                                  * sizeof(gw_metric_str_t));
        if (values == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(values, keyed, family->nkeyed * sizeof(gw_metric_str_t));

        /* the dimensions' values of this cell, the last varying fastest */

        c = cell;

        for (d = family->ndims; d-- > 0; /* void */) {
            for (i = 0; dims[d].values[i].len; i++) { /* void */ }

            values[family->nkeyed + d].data =
                                          (char *) dims[d].values[c % i].data;
            values[family->nkeyed + d].len = dims[d].values[c % i].len;
            c /= i;
        }

        ms = &read->series[read->nseries++];
        ngx_memzero(ms, sizeof(gw_metric_series_t));
        ms->values = values;

        if (family->def->type == GW_METRIC_HISTOGRAM) {
            buckets = ngx_palloc(pool, (nbounds + 1) * sizeof(uint64_t));
            if (buckets == NULL) {
                return NGX_ERROR;
            }

            for (i = 0; i <= nbounds; i++) {
                buckets[i] = v[i];
            }

            ms->buckets = buckets;
            ms->sum = (double) v[nbounds + 1] * family->def->unit;

        } else if (family->def->type == GW_METRIC_GAUGE) {
            ms->value = (double) (ngx_atomic_int_t) v[0];

        } else {
            ms->value = (double) v[0];
        }

        samples += per_series;
    }

    return NGX_OK;
}


/* The series' keyed label values, pointing into its key (a copy). */

static ngx_int_t
ngx_http_gateway_stats_split(ngx_http_gateway_stats_family_t *family,
    ngx_str_t *key, gw_metric_str_t *values)
{
    u_char      *p, *end;
    ngx_uint_t   i;

    p = key->data;

    for (i = 0; i < family->nkeyed; i++) {
        end = ngx_strlchr(p, key->data + key->len, '\0');
        if (end == NULL) {
            return NGX_ERROR;
        }

        values[i].data = (char *) p;
        values[i].len = end - p;

        p = end + 1;
    }

    return NGX_OK;
}


void
ngx_http_gateway_stats_emit(ngx_http_gateway_stats_emit_t *emit,
    ngx_str_t *labels, double value)
{
    u_char              *p;
    ngx_uint_t           i, n;
    gw_metric_str_t     *values;
    gw_metric_series_t  *ms;

    n = emit->family->nkeyed;

    values = ngx_palloc(emit->pool, (n + 1) * sizeof(gw_metric_str_t));
    ms = ngx_array_push(emit->series);

    if (values == NULL || ms == NULL) {
        emit->failed = 1;
        return;
    }

    for (i = 0; i < n; i++) {
        p = ngx_pnalloc(emit->pool, labels[i].len + 1);
        if (p == NULL) {
            emit->failed = 1;
            return;
        }

        ngx_memcpy(p, labels[i].data, labels[i].len);

        values[i].data = (char *) p;
        values[i].len = labels[i].len;
    }

    ngx_memzero(ms, sizeof(gw_metric_series_t));
    ms->values = values;
    ms->value = value;
}


uint64_t
ngx_http_gateway_stats_dropped(ngx_http_request_t *r)
{
    ngx_http_gateway_stats_sh_t   *sh;
    ngx_http_gateway_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gateway_module);
    sh = gmcf->stats->shm->sh;

    return sh->dropped;
}


/* status providers */

ngx_int_t
ngx_http_gateway_status_add(ngx_conf_t *cf, ngx_str_t *section,
    ngx_http_gateway_status_pt handler, void *data)
{
    ngx_http_gateway_status_t  *st;

    st = ngx_array_push(&ngx_http_gateway_stats_conf(cf)->status);
    if (st == NULL) {
        return NGX_ERROR;
    }

    st->section = *section;
    st->handler = handler;
    st->data = data;

    return NGX_OK;
}


ngx_array_t *
ngx_http_gateway_status_sections(ngx_http_request_t *r)
{
    ngx_http_gateway_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gateway_module);

    return &gmcf->stats->status;
}
