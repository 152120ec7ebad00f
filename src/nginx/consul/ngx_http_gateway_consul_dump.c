/*
 * The dump file of a Consul-fed upstream: the last set published, so that
 * a restart while Consul is down starts from it rather than from the
 * configured servers. Written by the polling worker after each change to
 * a temporary file renamed into place (never half a file), in a thread of
 * nginx's default pool when nginx has threads, so the event loop does not
 * wait for the disk; read at configuration time. The format is in
 * src/core/consul_dump.cpp.
 */

#include "ngx_http_gateway_consul.h"


struct ngx_http_gateway_consul_dump_s {
    ngx_http_gateway_consul_conf_t  *ccf;
    ngx_log_t                       *log;

    u_char                          *path;        /* NUL terminated */
    u_char                          *temp;        /* path.tmp.PID */

    u_char                          *text;        /* being written */
    size_t                           len;
    u_char                          *next;        /* to write after it */
    size_t                           next_len;
    size_t                           size;        /* of each buffer */

    ngx_err_t                        err;
    const char                      *failed;      /* the call that failed */

#if (NGX_THREADS)
    ngx_thread_task_t               *task;
#endif
    unsigned                         busy:1;
    unsigned                         pending:1;
};


static ngx_http_gateway_consul_dump_t *ngx_http_gateway_consul_dump_state(
    ngx_http_gateway_consul_conf_t *ccf);
static void ngx_http_gateway_consul_dump_start(
    ngx_http_gateway_consul_dump_t *d);
static void ngx_http_gateway_consul_dump_write(void *data, ngx_log_t *log);
static void ngx_http_gateway_consul_dump_done(ngx_http_gateway_consul_dump_t *d);
#if (NGX_THREADS)
static void ngx_http_gateway_consul_dump_event(ngx_event_t *ev);
#endif


ngx_int_t
ngx_http_gateway_consul_dump_load(ngx_conf_t *cf,
    ngx_http_gateway_consul_conf_t *ccf,
    ngx_http_gateway_upstream_peer_t **peers, ngx_uint_t *n)
{
    char               err[128];
    size_t             max, got;
    ssize_t            len;
    u_char            *text;
    uint64_t           index;
    unsigned           truncated;
    ngx_fd_t           fd;
    ngx_uint_t         i, k;
    ngx_file_info_t    dump_fi, conf_fi;
    gw_consul_peer_t  *set;
    gw_consul_status_t rc;

    *peers = NULL;
    *n = 0;

    if (ccf->dump.len == 0 || ngx_process == NGX_PROCESS_SIGNALLER) {
        return NGX_OK;
    }

    if (ngx_file_info(ccf->dump.data, &dump_fi) == NGX_FILE_ERROR) {
        if (ngx_errno != NGX_ENOENT) {
            ngx_conf_log_error(NGX_LOG_WARN, cf, ngx_errno,
                               ngx_file_info_n " \"%s\" failed, the dump "
                               "file is not used", ccf->dump.data);
        }

        return NGX_OK;
    }

    /* a configuration edited since the dump was written wins */

    if (ngx_file_info(ccf->file, &conf_fi) != NGX_FILE_ERROR
        && ngx_file_mtime(&dump_fi) <= ngx_file_mtime(&conf_fi))
    {
        ngx_conf_log_error(NGX_LOG_NOTICE, cf, 0,
                           "dump file \"%s\" is older than the configuration, "
                           "upstream \"%V\" starts with its servers",
                           ccf->dump.data, &ccf->upstream->host);
        return NGX_OK;
    }

    max = gw_consul_dump_size(ccf->service.len, ccf->max_peers);

    if (ngx_file_size(&dump_fi) > (off_t) max) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "dump file \"%s\" is larger than a dump of %ui "
                           "peers, it is not used", ccf->dump.data,
                           ccf->max_peers);
        return NGX_OK;
    }

    text = ngx_pnalloc(cf->temp_pool, max);
    set = ngx_palloc(cf->temp_pool, ccf->max_peers * sizeof(gw_consul_peer_t));
    *peers = ngx_palloc(cf->pool, ccf->max_peers
                                  * sizeof(ngx_http_gateway_upstream_peer_t));
    if (text == NULL || set == NULL || *peers == NULL) {
        return NGX_ERROR;
    }

    fd = ngx_open_file(ccf->dump.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, ngx_errno,
                           ngx_open_file_n " \"%s\" failed, the dump file is "
                           "not used", ccf->dump.data);
        return NGX_OK;
    }

    len = ngx_read_fd(fd, text, max);
    ngx_close_file(fd);

    if (len < 0) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, ngx_errno,
                           ngx_read_fd_n " \"%s\" failed, the dump file is "
                           "not used", ccf->dump.data);
        return NGX_OK;
    }

    rc = gw_consul_dump_read((char *) text, len, (char *) ccf->service.data,
                             ccf->service.len, set, ccf->max_peers, &got,
                             &truncated, &index, err, sizeof(err));
    if (rc != GW_CONSUL_OK) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "dump file \"%s\" is not used: %s",
                           ccf->dump.data, err);
        return NGX_OK;
    }

    k = 0;

    for (i = 0; i < got; i++) {
        switch (ngx_http_gateway_consul_ip_peer(cf->pool, &set[i],
                                                &(*peers)[k]))
        {
        case NGX_OK:
            k++;
            break;

        case NGX_DECLINED:
            /* a name would need resolving: not at configuration time */
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "dump file \"%s\": peer \"%s\" is not an IP "
                               "address, it is left out", ccf->dump.data,
                               set[i].host);
            break;

        default:
            return NGX_ERROR;
        }
    }

    if (truncated) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "dump file \"%s\" holds more than max_peers=%ui "
                           "peers, the %ui lowest addresses are used",
                           ccf->dump.data, ccf->max_peers, ccf->max_peers);
    }

    if (k == 0) {
        *peers = NULL;
        return NGX_OK;
    }

    ngx_conf_log_error(NGX_LOG_NOTICE, cf, 0,
                       "upstream \"%V\" starts with the %ui peers of dump "
                       "file \"%s\" (Consul index %uL)", &ccf->upstream->host,
                       k, ccf->dump.data, index);
    *n = k;

    return NGX_OK;
}


void
ngx_http_gateway_consul_dump_save(ngx_http_gateway_consul_conf_t *ccf,
    const gw_consul_peer_t *peers, size_t n, uint64_t index, ngx_log_t *log)
{
    size_t                           len;
    ngx_http_gateway_consul_dump_t  *d;

    if (ccf->dump.len == 0) {
        return;
    }

    d = ngx_http_gateway_consul_dump_state(ccf);
    if (d == NULL) {
        return;
    }

    len = gw_consul_dump_write((char *) ccf->service.data, ccf->service.len,
                               index, peers, n,
                               (char *) (d->busy ? d->next : d->text),
                               d->size);
    if (len == 0) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "the dump of upstream \"%V\" does not fit its buffer",
                      &ccf->upstream->host);
        return;
    }

    if (d->busy) {
        /* written once the write under way is done */
        d->next_len = len;
        d->pending = 1;
        return;
    }

    d->len = len;
    ngx_http_gateway_consul_dump_start(d);
}


/* this process's writer of ccf's dump, made on first use */

static ngx_http_gateway_consul_dump_t *
ngx_http_gateway_consul_dump_state(ngx_http_gateway_consul_conf_t *ccf)
{
    ngx_pool_t                      *pool;
    ngx_http_gateway_consul_dump_t  *d;

    if (ccf->dump_state) {
        return ccf->dump_state;
    }

    pool = ngx_cycle->pool;

    d = ngx_pcalloc(pool, sizeof(ngx_http_gateway_consul_dump_t));
    if (d == NULL) {
        return NULL;
    }

    d->ccf = ccf;
    d->log = ngx_cycle->log;
    d->size = gw_consul_dump_size(ccf->service.len, ccf->max_peers);
    d->text = ngx_pnalloc(pool, d->size);
    d->next = ngx_pnalloc(pool, d->size);
    d->path = ccf->dump.data;
    d->temp = ngx_pnalloc(pool, ccf->dump.len + sizeof(".tmp.") + NGX_INT_T_LEN);
    if (d->text == NULL || d->next == NULL || d->temp == NULL) {
        return NULL;
    }

    /* one temporary name per process: two gateways may share a dump */
    ngx_sprintf(d->temp, "%V.tmp.%P%Z", &ccf->dump, ngx_pid);

#if (NGX_THREADS)
    if (ccf->thread_pool) {
        d->task = ngx_thread_task_alloc(pool, 0);
        if (d->task == NULL) {
            return NULL;
        }

        d->task->ctx = d;
        d->task->handler = ngx_http_gateway_consul_dump_write;
        d->task->event.handler = ngx_http_gateway_consul_dump_event;
        d->task->event.data = d;
    }
#endif

    ccf->dump_state = d;

    return d;
}


static void
ngx_http_gateway_consul_dump_start(ngx_http_gateway_consul_dump_t *d)
{
    d->busy = 1;
    d->err = 0;
    d->failed = NULL;

#if (NGX_THREADS)
    if (d->task) {
        if (ngx_thread_task_post(d->ccf->thread_pool, d->task) == NGX_OK) {
            return;
        }

        /* the queue is full: write it here rather than lose it */
    }
#endif

    ngx_http_gateway_consul_dump_write(d, d->log);
    ngx_http_gateway_consul_dump_done(d);
}


/* in a thread (or the worker): nothing here may log or allocate */

static void
ngx_http_gateway_consul_dump_write(void *data, ngx_log_t *log)
{
    ngx_http_gateway_consul_dump_t  *d = data;

    u_char    *p;
    size_t     left;
    ssize_t    n;
    ngx_fd_t   fd;

    fd = ngx_open_file(d->temp, NGX_FILE_WRONLY, NGX_FILE_TRUNCATE,
                       NGX_FILE_DEFAULT_ACCESS);
    if (fd == NGX_INVALID_FILE) {
        d->err = ngx_errno;
        d->failed = ngx_open_file_n;
        return;
    }

    for (p = d->text, left = d->len; left; p += n, left -= n) {
        n = write(fd, p, left);

        if (n == -1 && ngx_errno == NGX_EINTR) {
            n = 0;
            continue;
        }

        if (n <= 0) {
            d->err = ngx_errno;
            d->failed = "write()";
            break;
        }
    }

    /* the new file's data reaches the disk before its name replaces the old */
    if (d->failed == NULL && fsync(fd) == -1) {
        d->err = ngx_errno;
        d->failed = "fsync()";
    }

    if (ngx_close_file(fd) == NGX_FILE_ERROR && d->failed == NULL) {
        d->err = ngx_errno;
        d->failed = ngx_close_file_n;
    }

    if (d->failed == NULL && ngx_rename_file(d->temp, d->path) == NGX_FILE_ERROR)
    {
        d->err = ngx_errno;
        d->failed = ngx_rename_file_n;
    }

    if (d->failed) {
        (void) ngx_delete_file(d->temp);
    }
}


#if (NGX_THREADS)

static void
ngx_http_gateway_consul_dump_event(ngx_event_t *ev)
{
    ngx_http_gateway_consul_dump_done(ev->data);
}

#endif


static void
ngx_http_gateway_consul_dump_done(ngx_http_gateway_consul_dump_t *d)
{
    u_char  *text;

    d->busy = 0;

    if (d->failed) {
        ngx_log_error(NGX_LOG_ERR, d->log, d->err,
                      "%s \"%s\" failed, the dump of upstream \"%V\" is not "
                      "written", d->failed, d->temp, &d->ccf->upstream->host);
    }

    if (!d->pending) {
        return;
    }

    d->pending = 0;

    text = d->text;
    d->text = d->next;
    d->next = text;
    d->len = d->next_len;

    ngx_http_gateway_consul_dump_start(d);
}
