/*
 * Shared memory zones of the gateway: added at configuration time, made
 * once, reused with their state across reloads (the three cases of
 * limit_req's zone init), and a reload that would change what a running
 * zone cannot change is refused at configuration time, naming the file
 * and line.
 */

#ifndef _NGX_HTTP_GATEWAY_SHM_H_INCLUDED_
#define _NGX_HTTP_GATEWAY_SHM_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


typedef struct ngx_http_gateway_shm_s  ngx_http_gateway_shm_t;

/*
 * Called in the master once the zone is mapped, shm->shpool set. With
 * shm->sh NULL the memory is new: allocate the state in shm->shpool and
 * set shm->sh. Otherwise shm->sh is the state of the previous cycle (a
 * reload) or already in the memory: adopt it (the previous cycle's
 * workers may still be using it, under the pool's mutex).
 */
typedef ngx_int_t (*ngx_http_gateway_shm_init_pt)(ngx_http_gateway_shm_t *shm);

/*
 * On reload: NULL when the previous cycle's zone can serve the new
 * configuration, else what changed, as "its key from \"A\" to \"B\""
 * (allocated in cf->pool); the reload is then refused.
 */
typedef char *(*ngx_http_gateway_shm_changed_pt)(ngx_conf_t *cf,
    ngx_http_gateway_shm_t *shm, ngx_http_gateway_shm_t *old);


typedef struct {
    const char                       *kind;   /* names the zone in logs */
    ngx_http_gateway_shm_init_pt      init;
    ngx_http_gateway_shm_changed_pt   changed;      /* NULL: all may change */
    unsigned                          fixed_size:1; /* its size too */
    unsigned                          quiet_nomem:1; /* full: the owner logs */
} ngx_http_gateway_shm_type_t;


struct ngx_http_gateway_shm_s {
    ngx_shm_zone_t                   *zone;
    ngx_slab_pool_t                  *shpool;
    void                             *sh;     /* the state, in the zone */
    void                             *data;   /* the owner's configuration */
    ngx_http_gateway_shm_type_t      *type;
};


/*
 * Adds the zone "name" of the owner module tag (data is the owner's
 * configuration, kept in shm->data). NULL on error, logged: a zone of
 * that name declared twice, or a reload that changes what cannot change.
 */
ngx_http_gateway_shm_t *ngx_http_gateway_shm_add(ngx_conf_t *cf,
    ngx_str_t *name, size_t size, ngx_module_t *tag,
    ngx_http_gateway_shm_type_t *type, void *data);

/* The owner's data of a zone added by name (a forward reference), or NULL. */
void *ngx_http_gateway_shm_data(ngx_shm_zone_t *zone);


#endif /* _NGX_HTTP_GATEWAY_SHM_H_INCLUDED_ */
