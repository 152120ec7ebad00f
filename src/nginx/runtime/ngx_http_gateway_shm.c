/*
 * Shared memory zones of the gateway.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_gateway_shm.h"


static ngx_http_gateway_shm_t *ngx_http_gateway_shm_previous(ngx_conf_t *cf,
    ngx_str_t *name, ngx_module_t *tag);
static ngx_int_t ngx_http_gateway_shm_init(ngx_shm_zone_t *zone, void *data);


ngx_http_gateway_shm_t *
ngx_http_gateway_shm_add(ngx_conf_t *cf, ngx_str_t *name, size_t size,
    ngx_module_t *tag, ngx_http_gateway_shm_type_t *type, void *data)
{
    char                    *what;
    ngx_shm_zone_t          *zone;
    ngx_http_gateway_shm_t  *shm, *old;

    zone = ngx_shared_memory_add(cf, name, size, tag);
    if (zone == NULL) {
        return NULL;
    }

    if (zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate zone \"%V\"", name);
        return NULL;
    }

    shm = ngx_pcalloc(cf->pool, sizeof(ngx_http_gateway_shm_t));
    if (shm == NULL) {
        return NULL;
    }

    shm->zone = zone;
    shm->data = data;
    shm->type = type;

    /*
     * nginx would quietly give a zone of another size new, empty memory,
     * and a zone whose meaning changed would mix old state with new: such
     * a reload is refused while the running configuration goes on
     */

    old = ngx_http_gateway_shm_previous(cf, name, tag);

    if (old) {
        if (type->fixed_size && old->zone->shm.size != size) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%s \"%V\" cannot change its size from %uz "
                               "to %uz on reload (its state would be lost): "
                               "restart nginx or use a new zone name",
                               type->kind, name, old->zone->shm.size, size);
            return NULL;
        }

        what = type->changed ? type->changed(cf, shm, old) : NULL;

        if (what) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%s \"%V\" cannot change %s on reload: "
                               "restart nginx or use a new zone name",
                               type->kind, name, what);
            return NULL;
        }
    }

    zone->init = ngx_http_gateway_shm_init;
    zone->data = shm;

    return shm;
}


void *
ngx_http_gateway_shm_data(ngx_shm_zone_t *zone)
{
    ngx_http_gateway_shm_t  *shm = zone->data;

    return shm ? shm->data : NULL;
}


/* The zone of this name and owner in the running cycle, if any. */

static ngx_http_gateway_shm_t *
ngx_http_gateway_shm_previous(ngx_conf_t *cf, ngx_str_t *name,
    ngx_module_t *tag)
{
    ngx_uint_t        i;
    ngx_cycle_t      *old;
    ngx_list_part_t  *part;
    ngx_shm_zone_t   *zone;

    old = cf->cycle->old_cycle;

    if (old == NULL || old->shared_memory.part.elts == NULL) {
        return NULL;
    }

    part = &old->shared_memory.part;
    zone = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            zone = part->elts;
            i = 0;
        }

        if (zone[i].tag == tag
            && zone[i].init == ngx_http_gateway_shm_init
            && zone[i].shm.name.len == name->len
            && ngx_strncmp(zone[i].shm.name.data, name->data, name->len) == 0)
        {
            return zone[i].data;
        }
    }
}


/*
 * The three cases of a zone's start, as limit_req's: a reload hands over
 * the previous cycle's state, memory that outlived the master already
 * holds it, or the memory is new.
 */

static ngx_int_t
ngx_http_gateway_shm_init(ngx_shm_zone_t *zone, void *data)
{
    ngx_http_gateway_shm_t  *oshm = data;

    size_t                   len;
    ngx_http_gateway_shm_t  *shm;

    shm = zone->data;

    if (oshm) {
        shm->shpool = oshm->shpool;
        shm->sh = oshm->sh;
        return shm->type->init(shm);
    }

    shm->shpool = (ngx_slab_pool_t *) zone->shm.addr;

    if (zone->shm.exists) {
        shm->sh = shm->shpool->data;
        return shm->type->init(shm);
    }

    len = sizeof(" in  \"\"") + ngx_strlen(shm->type->kind)
          + zone->shm.name.len;

    shm->shpool->log_ctx = ngx_slab_alloc(shm->shpool, len);
    if (shm->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(shm->shpool->log_ctx, " in %s \"%V\"%Z", shm->type->kind,
                &zone->shm.name);

    if (shm->type->quiet_nomem) {
        shm->shpool->log_nomem = 0;
    }

    shm->sh = NULL;

    if (shm->type->init(shm) != NGX_OK || shm->sh == NULL) {
        return NGX_ERROR;
    }

    shm->shpool->data = shm->sh;

    return NGX_OK;
}
