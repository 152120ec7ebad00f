/*
 * The "upstreams" section of the gateway's status document: per upstream
 * balanced by the gateway, its method, breaker and every live peer of its
 * shared table as the balancer sees it now.
 *
 *   "upstreams": {
 *     "backend": {"method": "round_robin", "source": null,
 *                 "breaker": {"failures": 5, "open_ms": 30000,
 *                             "half_open": 1},
 *                 "peers": [{"peer": "127.0.0.1:8081", "weight": 1,
 *                            "max_conns": 0, "backup": false,
 *                            "down": false, "state": "closed",
 *                            "failures": 0, "in_flight": 0, "up": true}]}
 *   }
 */

#include "ngx_http_gateway_upstream.h"


static ngx_int_t ngx_http_gateway_upstream_status(gw_json_writer_t *w,
    void *data);
static void ngx_http_gateway_upstream_status_one(gw_json_writer_t *w,
    ngx_http_gateway_upstream_srv_conf_t *gcf);
static void ngx_http_gateway_upstream_status_peer(gw_json_writer_t *w,
    ngx_http_gateway_upstream_srv_conf_t *gcf, ngx_uint_t slot, int64_t now);


ngx_int_t
ngx_http_gateway_upstream_status_add(ngx_conf_t *cf,
    ngx_http_gateway_upstream_main_conf_t *gmcf)
{
    static ngx_str_t  section = ngx_string("upstreams");

    return ngx_http_gateway_status_add(cf, &section,
                                       ngx_http_gateway_upstream_status, gmcf);
}


static ngx_int_t
ngx_http_gateway_upstream_status(gw_json_writer_t *w, void *data)
{
    ngx_http_gateway_upstream_main_conf_t *gmcf = data;

    ngx_uint_t                              i;
    ngx_http_gateway_upstream_srv_conf_t  **gcfp;

    gcfp = gmcf->upstreams.elts;

    gw_json_object_begin(w);

    for (i = 0; i < gmcf->upstreams.nelts; i++) {
        gw_json_key(w, (char *) gcfp[i]->upstream->host.data,
                    gcfp[i]->upstream->host.len);
        ngx_http_gateway_upstream_status_one(w, gcfp[i]);
    }

    gw_json_object_end(w);

    return NGX_OK;
}


static void
ngx_http_gateway_upstream_status_one(gw_json_writer_t *w,
    ngx_http_gateway_upstream_srv_conf_t *gcf)
{
    int64_t                             now;
    ngx_uint_t                          s;
    ngx_http_gateway_upstream_shctx_t  *sh;

    gw_json_object_begin(w);

    ngx_http_gateway_json_key(w, "method");

    if (gcf->method == GW_BALANCE_LEAST_CONN) {
        gw_json_string(w, "least_conn", sizeof("least_conn") - 1);

    } else {
        gw_json_string(w, "round_robin", sizeof("round_robin") - 1);
    }

    ngx_http_gateway_json_key(w, "source");

    if (gcf->source.len) {
        gw_json_string(w, (char *) gcf->source.data, gcf->source.len);

    } else {
        gw_json_null(w);
    }

    ngx_http_gateway_json_key(w, "breaker");

    if (gcf->breaker.failures) {
        gw_json_object_begin(w);
        ngx_http_gateway_json_key(w, "failures");
        gw_json_uint(w, gcf->breaker.failures);
        ngx_http_gateway_json_key(w, "open_ms");
        gw_json_int(w, gcf->breaker.open_ms);
        ngx_http_gateway_json_key(w, "max_open_ms");
        gw_json_int(w, gcf->breaker.max_open_ms);
        ngx_http_gateway_json_key(w, "half_open");
        gw_json_uint(w, gcf->breaker.half_open);
        gw_json_object_end(w);

    } else {
        gw_json_null(w);
    }

    ngx_http_gateway_json_key(w, "peers");
    gw_json_array_begin(w);

    sh = gcf->sh;

    if (sh) {
        now = (int64_t) ngx_current_msec;

        /* a few hundred bytes per peer written under the lock, no I/O */

        ngx_shmtx_lock(&gcf->shpool->mutex);

        for (s = 0; s < sh->nslots; s++) {
            if (sh->peers[s].flags & GW_PEER_LIVE) {
                ngx_http_gateway_upstream_status_peer(w, gcf, s, now);
            }
        }

        ngx_shmtx_unlock(&gcf->shpool->mutex);
    }

    gw_json_array_end(w);

    gw_json_object_end(w);
}


static void
ngx_http_gateway_upstream_status_peer(gw_json_writer_t *w,
    ngx_http_gateway_upstream_srv_conf_t *gcf, ngx_uint_t slot, int64_t now)
{
    int                                 state;
    gw_peer_t                          *peer;
    ngx_http_gateway_peer_addr_t       *addr;

    static ngx_str_t  states[] = {
        ngx_string("closed"),                /* GW_CIRCUIT_CLOSED */
        ngx_string("open"),                  /* GW_CIRCUIT_OPEN */
        ngx_string("half_open")              /* GW_CIRCUIT_HALF_OPEN */
    };

    peer = &gcf->sh->peers[slot];
    addr = &gcf->sh->addrs[slot];

    state = gw_breaker_state(&peer->breaker, &gcf->breaker, now);
    if (state < GW_CIRCUIT_CLOSED || state > GW_CIRCUIT_HALF_OPEN) {
        state = GW_CIRCUIT_CLOSED;
    }

    gw_json_object_begin(w);

    ngx_http_gateway_json_key(w, "peer");
    gw_json_string(w, (char *) addr->name, addr->name_len);
    ngx_http_gateway_json_key(w, "weight");
    gw_json_uint(w, peer->weight);
    ngx_http_gateway_json_key(w, "max_conns");
    gw_json_uint(w, peer->max_conns);
    ngx_http_gateway_json_key(w, "backup");
    gw_json_bool(w, (peer->flags & GW_PEER_BACKUP) != 0);
    ngx_http_gateway_json_key(w, "down");
    gw_json_bool(w, (peer->flags & GW_PEER_DOWN) != 0);
    ngx_http_gateway_json_key(w, "state");
    gw_json_string(w, (char *) states[state].data, states[state].len);
    ngx_http_gateway_json_key(w, "failures");
    gw_json_uint(w, peer->breaker.failures);
    ngx_http_gateway_json_key(w, "in_flight");
    gw_json_uint(w, peer->conns);
    ngx_http_gateway_json_key(w, "up");
    gw_json_bool(w, !(peer->flags & GW_PEER_DOWN)
                    && state != GW_CIRCUIT_OPEN);

    gw_json_object_end(w);
}
