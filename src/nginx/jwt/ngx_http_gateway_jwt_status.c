/*
 * The "jwt" section of the gateway's status document: the key sets tokens
 * are verified with, by kid (secrets are never shown).
 *
 *   "jwt": {
 *     "key_files": [{"file": "/etc/nginx/jwks.json", "keys": 2,
 *                    "kids": ["a", "b"]}],
 *     "key_requests": [{"uri": "/_jwks", "version": 3,
 *                       "fetched": 1733440000, "failed": null,
 *                       "keys": 1, "kids": ["k1"]}]
 *   }
 *
 * A key without a kid shows as null in "kids"; "version" counts the JWKS
 * fetched into shared memory; "fetched" and "failed" are the last fetch
 * that worked and the last one that did not (Unix time).
 */

#include "ngx_http_gateway_jwt.h"


static ngx_int_t ngx_http_gateway_jwt_status(gw_json_writer_t *w, void *data);


ngx_int_t
ngx_http_gateway_jwt_status_add(ngx_conf_t *cf,
    ngx_http_gateway_jwt_main_conf_t *jmcf)
{
    static ngx_str_t  section = ngx_string("jwt");

    if (jmcf->key_files.nelts == 0 && jmcf->key_requests.nelts == 0) {
        return NGX_OK;
    }

    return ngx_http_gateway_status_add(cf, &section,
                                       ngx_http_gateway_jwt_status, jmcf);
}


static ngx_int_t
ngx_http_gateway_jwt_status(gw_json_writer_t *w, void *data)
{
    ngx_http_gateway_jwt_main_conf_t *jmcf = data;

    ngx_uint_t                       i;
    ngx_http_gateway_jwt_file_t     *file;
    ngx_http_gateway_jwt_remote_t  **remote;

    gw_json_object_begin(w);

    ngx_http_gateway_json_key(w, "key_files");
    gw_json_array_begin(w);

    file = jmcf->key_files.elts;

    for (i = 0; i < jmcf->key_files.nelts; i++) {
        gw_json_object_begin(w);
        ngx_http_gateway_json_key(w, "file");
        gw_json_string(w, (char *) file[i].name.data, file[i].name.len);
        ngx_http_gateway_jwt_status_kids(w, file[i].keys);
        gw_json_object_end(w);
    }

    gw_json_array_end(w);

    ngx_http_gateway_json_key(w, "key_requests");
    gw_json_array_begin(w);

    remote = jmcf->key_requests.elts;

    for (i = 0; i < jmcf->key_requests.nelts; i++) {
        ngx_http_gateway_jwt_key_request_status(w, jmcf, remote[i]);
    }

    gw_json_array_end(w);

    gw_json_object_end(w);

    return NGX_OK;
}


/* "keys": N, "kids": [...] of a set (none: 0 and []) */

void
ngx_http_gateway_jwt_status_kids(gw_json_writer_t *w, gw_jwt_keyset_t *keys)
{
    size_t       i, n, len;
    const char  *kid;

    n = keys ? gw_jwt_keyset_count(keys) : 0;

    ngx_http_gateway_json_key(w, "keys");
    gw_json_uint(w, n);

    ngx_http_gateway_json_key(w, "kids");
    gw_json_array_begin(w);

    for (i = 0; i < n; i++) {
        kid = gw_jwt_keyset_kid(keys, i, &len);

        if (kid) {
            gw_json_string(w, kid, len);

        } else {
            gw_json_null(w);
        }
    }

    gw_json_array_end(w);
}
