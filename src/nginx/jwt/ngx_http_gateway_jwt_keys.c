/*
 * The keys configured in place: key files (PEM, JWK, JWKS) and HMAC
 * secrets, parsed into key sets at configuration load, and the sets a
 * request's token is verified with.
 */

#include "ngx_http_gateway_jwt.h"

#include <openssl/evp.h>


#define NGX_HTTP_GATEWAY_JWT_MAX_FILE    (1024 * 1024)


static gw_jwt_keyset_t *ngx_http_gateway_jwt_new_keyset(ngx_conf_t *cf);
static void ngx_http_gateway_jwt_free_keyset(void *data);


char *
ngx_http_gateway_jwt_key_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gateway_jwt_loc_conf_t *jlcf = conf;

    u_char                            *buf;
    ssize_t                            n;
    ngx_fd_t                           fd;
    ngx_str_t                         *value, name;
    ngx_file_info_t                    fi;
    gw_jwt_keyset_t                   *ks, **slot;
    ngx_http_gateway_jwt_file_t       *file;
    ngx_http_gateway_jwt_main_conf_t  *jmcf;
    char                               err[GW_JWT_ERRLEN];

    value = cf->args->elts;
    name = value[1];

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%s\" failed", name.data);
        return NGX_CONF_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > NGX_HTTP_GATEWAY_JWT_MAX_FILE)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "key file \"%s\" is unreadable or larger than 1m",
                           name.data);
        ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    buf = ngx_pnalloc(cf->temp_pool, ngx_file_size(&fi) + 1);
    if (buf == NULL) {
        ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    n = ngx_read_fd(fd, buf, ngx_file_size(&fi));
    ngx_close_file(fd);

    if (n != (ssize_t) ngx_file_size(&fi)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "reading key file \"%s\" failed", name.data);
        return NGX_CONF_ERROR;
    }

    ks = ngx_http_gateway_jwt_new_keyset(cf);
    if (ks == NULL) {
        return NGX_CONF_ERROR;
    }

    if (gw_jwt_keyset_add(ks, (char *) buf, n, err, sizeof(err)) <= 0) {
        ngx_explicit_memzero(buf, n);
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid key file \"%s\": %s", name.data, err);
        return NGX_CONF_ERROR;
    }

    ngx_explicit_memzero(buf, n);

    if (jlcf->keys == NGX_CONF_UNSET_PTR) {
        jlcf->keys = ngx_array_create(cf->pool, 2, sizeof(gw_jwt_keyset_t *));
        if (jlcf->keys == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    slot = ngx_array_push(jlcf->keys);
    if (slot == NULL) {
        return NGX_CONF_ERROR;
    }

    *slot = ks;

    jmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_gateway_jwt_module);

    file = ngx_array_push(&jmcf->key_files);
    if (file == NULL) {
        return NGX_CONF_ERROR;
    }

    file->name = name;
    file->keys = ks;

    return NGX_CONF_OK;
}


char *
ngx_http_gateway_jwt_secret(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gateway_jwt_loc_conf_t *jlcf = conf;

    ngx_str_t        *value;
    gw_jwt_keyset_t  *ks;
    char              err[GW_JWT_ERRLEN];

    if (jlcf->secret_set) {
        return "is duplicate";
    }

    jlcf->secret_set = 1;
    value = cf->args->elts;

    if (value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "empty secret in \"%V\"", &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_script_variables_count(&value[1]) == 0) {
        ks = ngx_http_gateway_jwt_new_keyset(cf);
        if (ks == NULL) {
            return NGX_CONF_ERROR;
        }

        if (gw_jwt_keyset_add_secret(ks, value[1].data, value[1].len, err,
                                     sizeof(err)) < 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid secret: %s", err);
            return NGX_CONF_ERROR;
        }

        jlcf->secret_keys = ks;
        return NGX_CONF_OK;
    }

    jlcf->secret = ngx_http_gateway_compile_complex_value(cf, &value[1]);
    if (jlcf->secret == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* A key set that lives as long as the configuration. */

static gw_jwt_keyset_t *
ngx_http_gateway_jwt_new_keyset(ngx_conf_t *cf)
{
    gw_jwt_keyset_t     *ks;
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    ks = gw_jwt_keyset_new();
    if (ks == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_gateway_jwt_free_keyset;
    cln->data = ks;

    return ks;
}


static void
ngx_http_gateway_jwt_free_keyset(void *data)
{
    gw_jwt_keyset_free(data);
}


/*
 * The static key sets in one array, and a fingerprint of them and the
 * algorithms: the verified-token cache's entries of other keys are never
 * reached.
 */

char *
ngx_http_gateway_jwt_merge_key_sets(ngx_conf_t *cf,
    ngx_http_gateway_jwt_loc_conf_t *conf)
{
    unsigned int       len;
    EVP_MD_CTX        *md;
    ngx_uint_t         i, n;
    gw_jwt_keyset_t  **ks;
    u_char             fp[GW_JWT_FINGERPRINT_LEN];

    n = (conf->keys ? conf->keys->nelts : 0) + (conf->secret_keys ? 1 : 0);

    if (n > NGX_HTTP_GATEWAY_JWT_MAX_SETS - 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "too many gateway_jwt_key_file directives");
        return NGX_CONF_ERROR;
    }

    conf->sets = ngx_palloc(cf->pool, (n + 1) * sizeof(gw_jwt_keyset_t *));
    if (conf->sets == NULL) {
        return NGX_CONF_ERROR;
    }

    conf->nsets = 0;

    if (conf->keys) {
        ks = conf->keys->elts;

        for (i = 0; i < conf->keys->nelts; i++) {
            conf->sets[conf->nsets++] = ks[i];
        }
    }

    if (conf->secret_keys) {
        conf->sets[conf->nsets++] = conf->secret_keys;
    }

    md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        return NGX_CONF_ERROR;
    }

    EVP_DigestUpdate(md, &conf->algorithms, sizeof(conf->algorithms));

    for (i = 0; i < conf->nsets; i++) {
        gw_jwt_keyset_fingerprint(conf->sets[i], fp);
        EVP_DigestUpdate(md, fp, sizeof(fp));
    }

    EVP_DigestFinal_ex(md, conf->fingerprint, &len);
    EVP_MD_CTX_free(md);

    return NGX_CONF_OK;
}


/* The keys a request's token is verified with (sets has MAX_SETS room). */

ngx_int_t
ngx_http_gateway_jwt_request_keys(ngx_http_request_t *r,
    ngx_http_gateway_jwt_loc_conf_t *jlcf, gw_jwt_keys_t *keys,
    const gw_jwt_keyset_t **sets)
{
    ngx_str_t                       secret;
    ngx_uint_t                      i;
    ngx_http_gateway_jwt_remote_t  *remote;

    remote = jlcf->remote;

    /* merge left room for key_request's set */

    keys->nsets = 0;

    for (i = 0; i < jlcf->nsets; i++) {
        sets[keys->nsets++] = jlcf->sets[i];
    }

    if (remote && remote->keys) {
        sets[keys->nsets++] = remote->keys;
    }

    keys->sets = sets;
    keys->secret = NULL;
    keys->secret_len = 0;
    keys->allowed = jlcf->algorithms;

    if (jlcf->secret) {
        if (ngx_http_complex_value(r, jlcf->secret, &secret) != NGX_OK) {
            return NGX_ERROR;
        }

        if (secret.len == 0) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "gateway jwt: gateway_jwt_secret is empty");
        }

        keys->secret = secret.data;
        keys->secret_len = secret.len;
    }

    if (keys->nsets == 0 && jlcf->secret == NULL && remote == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "gateway jwt: no keys to verify tokens with");
    }

    return NGX_OK;
}
