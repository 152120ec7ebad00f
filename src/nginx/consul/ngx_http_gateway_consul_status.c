/*
 * The "consul" section of the gateway's status document: per upstream fed
 * by Consul, the query, Consul's last set and index, the counts and the
 * last error, read from the upstream's Consul zone.
 *
 *   "consul": {
 *     "api": {"service": "web", "tag": "v1", "dc": "", "index": 42,
 *             "peers": [{"address": "10.0.0.1:8080", "weight": 1}],
 *             "updates": 3, "errors": 1, "last_error": "...",
 *             "updated": 1733440000, "poller": 1234}
 *   }
 */

#include "ngx_http_gateway_consul.h"


static ngx_int_t ngx_http_gateway_consul_status(gw_json_writer_t *w,
    void *data);
static void ngx_http_gateway_consul_status_one(gw_json_writer_t *w,
    ngx_http_gateway_consul_conf_t *ccf);


ngx_int_t
ngx_http_gateway_consul_status_add(ngx_conf_t *cf,
    ngx_http_gateway_consul_main_conf_t *cmcf)
{
    ngx_str_t  section = ngx_string("consul");

    if (cmcf->consuls.nelts == 0) {
        return NGX_OK;
    }

    return ngx_http_gateway_status_add(cf, &section,
                                       ngx_http_gateway_consul_status, cmcf);
}


static void
ngx_http_gateway_consul_status_str(gw_json_writer_t *w, const char *key,
    ngx_str_t *value)
{
    gw_json_key(w, key, ngx_strlen(key));
    gw_json_string(w, (char *) value->data, value->len);
}


static ngx_int_t
ngx_http_gateway_consul_status(gw_json_writer_t *w, void *data)
{
    ngx_http_gateway_consul_main_conf_t  *cmcf = data;

    ngx_uint_t                        i;
    ngx_http_gateway_consul_conf_t  **ccf;

    ccf = cmcf->consuls.elts;

    gw_json_object_begin(w);

    for (i = 0; i < cmcf->consuls.nelts; i++) {
        gw_json_key(w, (char *) ccf[i]->upstream->host.data,
                    ccf[i]->upstream->host.len);
        ngx_http_gateway_consul_status_one(w, ccf[i]);
    }

    gw_json_object_end(w);

    return NGX_OK;
}


/* written under the zone's lock: a few hundred bytes per peer, no I/O */

static void
ngx_http_gateway_consul_status_one(gw_json_writer_t *w,
    ngx_http_gateway_consul_conf_t *ccf)
{
    char                              text[GW_CONSUL_PEER_TEXT_MAX];
    size_t                            i, len;
    ngx_http_gateway_consul_shctx_t  *sh;

    sh = ccf->sh;

    gw_json_object_begin(w);

    ngx_http_gateway_consul_status_str(w, "service", &ccf->service);
    ngx_http_gateway_consul_status_str(w, "tag", &ccf->tag);
    ngx_http_gateway_consul_status_str(w, "dc", &ccf->dc);

    ngx_shmtx_lock(&ccf->shpool->mutex);

    gw_json_key(w, "index", 5);
    gw_json_uint(w, sh->poll.index);

    gw_json_key(w, "peers", 5);
    gw_json_array_begin(w);

    for (i = 0; sh->has_set && i < sh->npeers; i++) {
        len = gw_consul_peer_format(&sh->peers[i], text, sizeof(text));

        gw_json_object_begin(w);
        gw_json_key(w, "address", 7);
        gw_json_string(w, text, len);
        gw_json_key(w, "weight", 6);
        gw_json_uint(w, sh->peers[i].weight);
        gw_json_object_end(w);
    }

    gw_json_array_end(w);

    gw_json_key(w, "updates", 7);
    gw_json_uint(w, sh->updates);
    gw_json_key(w, "errors", 6);
    gw_json_uint(w, sh->errors);

    gw_json_key(w, "last_error", 10);
    if (sh->error[0]) {
        gw_json_string(w, (char *) sh->error, ngx_strlen(sh->error));
    } else {
        gw_json_null(w);
    }

    gw_json_key(w, "updated", 7);
    if (sh->updated) {
        gw_json_int(w, sh->updated);
    } else {
        gw_json_null(w);
    }

    gw_json_key(w, "poller", 6);
    if (sh->owner) {
        gw_json_int(w, sh->owner);
    } else {
        gw_json_null(w);
    }

    ngx_shmtx_unlock(&ccf->shpool->mutex);

    gw_json_object_end(w);
}
