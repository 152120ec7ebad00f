/*
 * ngx_http_gateway_redis_module: the gateway's Redis client.
 *
 *   gateway_redis NAME HOST:PORT [password=P] [db=N] [connect_timeout=T]
 *                 [timeout=T];
 *
 * hiredis 0.14's async context runs on nginx's event loop: its socket is
 * wrapped in an ngx_connection_t, and hiredis's add/del read/write hooks
 * map to level-triggered nginx events (hiredis reads at most 16k per call
 * and relies on being called again). hiredis 0.14 has no timeouts of its
 * own: connect and command timeouts are nginx timers, and a link that
 * misses one is torn down (redisAsyncFree answers every pending command
 * with NULL) and reconnected with backoff. Hosts are IP addresses,
 * "localhost", or names resolved with nginx's resolver (never a blocking
 * getaddrinfo()); hiredis is only ever given an address.
 */

#include "ngx_http_gateway_redis.h"

#include <openssl/sha.h>
#include <hiredis/async.h>


#define NGX_HTTP_GATEWAY_REDIS_DOWN         0
#define NGX_HTTP_GATEWAY_REDIS_RESOLVING    1
#define NGX_HTTP_GATEWAY_REDIS_CONNECTING   2
#define NGX_HTTP_GATEWAY_REDIS_READY        3

#define NGX_HTTP_GATEWAY_REDIS_BACKOFF_MIN  100
#define NGX_HTTP_GATEWAY_REDIS_BACKOFF_MAX  5000
#define NGX_HTTP_GATEWAY_REDIS_LOG_INTERVAL 10000


struct ngx_http_gateway_redis_s {
    ngx_str_t                          name;
    ngx_str_t                          host;
    in_port_t                          port;
    u_char                             addr[NGX_SOCKADDR_STRLEN + 1];
    ngx_uint_t                         resolve;    /* host is a name */
    ngx_str_t                          password;
    ngx_int_t                          db;
    ngx_msec_t                         connect_timeout;
    ngx_msec_t                         timeout;
    ngx_uint_t                         used;
    u_char                            *file;
    ngx_uint_t                         line;

    /* one link per worker */
    ngx_log_t                         *log;
    ngx_resolver_t                    *resolver;
    ngx_msec_t                         resolver_timeout;
    ngx_resolver_ctx_t                *resolving;
    redisAsyncContext                 *ac;
    ngx_uint_t                         state;
    ngx_uint_t                         failed;     /* since the worker began */
    ngx_uint_t                         down;       /* failures not yet healed */
    ngx_msec_t                         backoff;
    ngx_msec_t                         logged;
    ngx_event_t                        reconnect;
    ngx_event_t                        connect_timer;
    ngx_uint_t                         exiting;
};


struct ngx_http_gateway_redis_cmd_s {
    ngx_http_gateway_redis_t          *redis;
    ngx_http_gateway_redis_handler_pt  handler;    /* NULL once answered */
    void                              *data;
    ngx_event_t                        timer;
    ngx_pool_cleanup_t                *cln;
    ngx_uint_t                         refs;       /* hiredis callbacks due */
    ngx_http_gateway_redis_script_t   *script;     /* resend with EVAL */
    int                                argc;
    const char                       **argv;
    size_t                            *lens;
};


typedef struct {
    ngx_array_t                        redis;      /* ngx_http_gateway_redis_t * */
} ngx_http_gateway_redis_main_conf_t;


static void ngx_http_gateway_redis_connect(ngx_http_gateway_redis_t *redis);
static void ngx_http_gateway_redis_resolved(ngx_resolver_ctx_t *ctx);
static void ngx_http_gateway_redis_open(ngx_http_gateway_redis_t *redis);
static void ngx_http_gateway_redis_fail(ngx_http_gateway_redis_t *redis,
    const char *reason, const char *detail);
static void ngx_http_gateway_redis_schedule(ngx_http_gateway_redis_t *redis);
static void ngx_http_gateway_redis_reconnect_handler(ngx_event_t *ev);
static void ngx_http_gateway_redis_connect_timeout(ngx_event_t *ev);
static void ngx_http_gateway_redis_on_connect(const redisAsyncContext *ac,
    int status);
static void ngx_http_gateway_redis_on_disconnect(const redisAsyncContext *ac,
    int status);
static void ngx_http_gateway_redis_handshake(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_http_gateway_redis_reply(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_http_gateway_redis_finish(ngx_http_gateway_redis_cmd_t *cmd,
    redisReply *reply);
static void ngx_http_gateway_redis_free(ngx_http_gateway_redis_cmd_t *cmd);
static void ngx_http_gateway_redis_cmd_timeout(ngx_event_t *ev);
static void ngx_http_gateway_redis_detach(void *data);

static void ngx_http_gateway_redis_add_read(void *privdata);
static void ngx_http_gateway_redis_del_read(void *privdata);
static void ngx_http_gateway_redis_add_write(void *privdata);
static void ngx_http_gateway_redis_del_write(void *privdata);
static void ngx_http_gateway_redis_cleanup(void *privdata);
static void ngx_http_gateway_redis_read_handler(ngx_event_t *ev);
static void ngx_http_gateway_redis_write_handler(ngx_event_t *ev);

static char *ngx_http_gateway_redis_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static void *ngx_http_gateway_redis_create_main_conf(ngx_conf_t *cf);
static ngx_int_t ngx_http_gateway_redis_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_gateway_redis_init_process(ngx_cycle_t *cycle);
static void ngx_http_gateway_redis_exit_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_gateway_redis_commands[] = {

    { ngx_string("gateway_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_gateway_redis_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_gateway_redis_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_gateway_redis_postconfiguration, /* postconfiguration */

    ngx_http_gateway_redis_create_main_conf, /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_gateway_redis_module = {
    NGX_MODULE_V1,
    &ngx_http_gateway_redis_module_ctx,    /* module context */
    ngx_http_gateway_redis_commands,       /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_gateway_redis_init_process,   /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_gateway_redis_exit_process,   /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* markers telling the handshake's replies apart */
static char  ngx_http_gateway_redis_auth[] = "AUTH";
static char  ngx_http_gateway_redis_select[] = "SELECT";
static char  ngx_http_gateway_redis_ping[] = "PING";


ngx_http_gateway_redis_t *
ngx_http_gateway_redis_find(ngx_conf_t *cf, ngx_str_t *name)
{
    ngx_uint_t                           i;
    ngx_http_gateway_redis_t           **redis;
    ngx_http_gateway_redis_main_conf_t  *rmcf;

    rmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_gateway_redis_module);
    if (rmcf == NULL) {
        return NULL;
    }

    redis = rmcf->redis.elts;

    for (i = 0; i < rmcf->redis.nelts; i++) {
        if (redis[i]->name.len == name->len
            && ngx_strncmp(redis[i]->name.data, name->data, name->len) == 0)
        {
            return redis[i];
        }
    }

    return NULL;
}


void
ngx_http_gateway_redis_use(ngx_http_gateway_redis_t *redis)
{
    redis->used = 1;
}


ngx_str_t *
ngx_http_gateway_redis_name(ngx_http_gateway_redis_t *redis)
{
    return &redis->name;
}


ngx_uint_t
ngx_http_gateway_redis_available(ngx_http_gateway_redis_t *redis)
{
    if (redis->state == NGX_HTTP_GATEWAY_REDIS_READY) {
        return 1;
    }

    /*
     * While the first link of a worker is being set up, commands queue
     * behind the handshake; after a failure they wait for the handshake
     * to succeed, so a Redis that accepts but never answers costs at most
     * one timeout per link, not one per request.
     */

    return redis->state == NGX_HTTP_GATEWAY_REDIS_CONNECTING
           && redis->ac != NULL && !redis->failed;
}


void
ngx_http_gateway_redis_script_init(ngx_http_gateway_redis_script_t *s)
{
    u_char  md[SHA_DIGEST_LENGTH];

    SHA1(s->text.data, s->text.len, md);
    ngx_hex_dump(s->sha1, md, SHA_DIGEST_LENGTH);
}


static ngx_http_gateway_redis_cmd_t *
ngx_http_gateway_redis_send(ngx_http_gateway_redis_t *redis, ngx_pool_t *pool,
    ngx_http_gateway_redis_script_t *script,
    ngx_http_gateway_redis_handler_pt handler, void *data,
    ngx_uint_t nkeys, ngx_uint_t argc, ngx_str_t *argv)
{
    u_char                        *p, *nkeys_text;
    size_t                         size, nlen;
    ngx_uint_t                     i, n, total;
    ngx_pool_cleanup_t            *cln;
    ngx_http_gateway_redis_cmd_t  *cmd;
    u_char                         buf[NGX_INT_T_LEN];

    if (!ngx_http_gateway_redis_available(redis)) {
        return NULL;
    }

    /* EVALSHA sha nkeys args..., or the plain command */

    nlen = ngx_sprintf(buf, "%ui", nkeys) - buf;
    total = script ? argc + 3 : argc;

    size = sizeof(ngx_http_gateway_redis_cmd_t)
           + total * (sizeof(char *) + sizeof(size_t)) + nlen;

    for (i = 0; i < argc; i++) {
        size += argv[i].len;
    }

    cmd = ngx_alloc(size, redis->log);
    if (cmd == NULL) {
        return NULL;
    }

    ngx_memzero(cmd, sizeof(ngx_http_gateway_redis_cmd_t));

    cmd->redis = redis;
    cmd->handler = handler;
    cmd->data = data;
    cmd->script = script;
    cmd->argc = (int) total;
    cmd->argv = (const char **) (cmd + 1);
    cmd->lens = (size_t *) (cmd->argv + total);

    p = (u_char *) (cmd->lens + total);
    n = 0;

    if (script) {
        nkeys_text = p;
        p = ngx_cpymem(p, buf, nlen);

        cmd->argv[0] = "EVALSHA";
        cmd->lens[0] = sizeof("EVALSHA") - 1;
        cmd->argv[1] = (const char *) script->sha1;
        cmd->lens[1] = sizeof(script->sha1);
        cmd->argv[2] = (const char *) nkeys_text;
        cmd->lens[2] = nlen;
        n = 3;
    }

    for (i = 0; i < argc; i++, n++) {
        cmd->argv[n] = (const char *) p;
        cmd->lens[n] = argv[i].len;
        p = ngx_cpymem(p, argv[i].data, argv[i].len);
    }

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        ngx_free(cmd);
        return NULL;
    }

    if (redisAsyncCommandArgv(redis->ac, ngx_http_gateway_redis_reply, cmd,
                              cmd->argc, cmd->argv, cmd->lens)
        != REDIS_OK)
    {
        ngx_free(cmd);
        return NULL;
    }

    cmd->refs = 1;

    cln->handler = ngx_http_gateway_redis_detach;
    cln->data = cmd;
    cmd->cln = cln;

    cmd->timer.handler = ngx_http_gateway_redis_cmd_timeout;
    cmd->timer.data = cmd;
    cmd->timer.log = redis->log;

    ngx_add_timer(&cmd->timer, redis->timeout);

    return cmd;
}


ngx_http_gateway_redis_cmd_t *
ngx_http_gateway_redis_command(ngx_http_gateway_redis_t *redis,
    ngx_pool_t *pool, ngx_http_gateway_redis_handler_pt handler, void *data,
    ngx_uint_t argc, ngx_str_t *argv)
{
    return ngx_http_gateway_redis_send(redis, pool, NULL, handler, data, 0,
                                       argc, argv);
}


ngx_http_gateway_redis_cmd_t *
ngx_http_gateway_redis_eval(ngx_http_gateway_redis_t *redis, ngx_pool_t *pool,
    ngx_http_gateway_redis_script_t *script,
    ngx_http_gateway_redis_handler_pt handler, void *data, ngx_uint_t nkeys,
    ngx_uint_t argc, ngx_str_t *argv)
{
    return ngx_http_gateway_redis_send(redis, pool, script, handler, data,
                                       nkeys, argc, argv);
}


static void
ngx_http_gateway_redis_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    ngx_http_gateway_redis_cmd_t *cmd = privdata;

    redisReply                *reply = r;
    ngx_http_gateway_redis_t  *redis;

    cmd->refs--;
    redis = cmd->redis;

    /* Redis lost its scripts (a restart, SCRIPT FLUSH): send the text */

    if (cmd->handler != NULL
        && cmd->script != NULL
        && reply != NULL
        && reply->type == REDIS_REPLY_ERROR
        && ngx_strncmp(reply->str, "NOSCRIPT", 8) == 0
        && ac == redis->ac
        && !(ac->c.flags & (REDIS_DISCONNECTING|REDIS_FREEING)))
    {
        cmd->argv[0] = "EVAL";
        cmd->lens[0] = sizeof("EVAL") - 1;
        cmd->argv[1] = (const char *) cmd->script->text.data;
        cmd->lens[1] = cmd->script->text.len;
        cmd->script = NULL;

        if (redisAsyncCommandArgv(ac, ngx_http_gateway_redis_reply, cmd,
                                  cmd->argc, cmd->argv, cmd->lens)
            == REDIS_OK)
        {
            cmd->refs++;
            return;
        }
    }

    ngx_http_gateway_redis_finish(cmd, reply);

    if (cmd->refs == 0) {
        ngx_http_gateway_redis_free(cmd);
    }
}


/* Gives the command its answer, once. */

static void
ngx_http_gateway_redis_finish(ngx_http_gateway_redis_cmd_t *cmd,
    redisReply *reply)
{
    ngx_http_gateway_redis_handler_pt  handler;

    if (cmd->timer.timer_set) {
        ngx_del_timer(&cmd->timer);
    }

    if (cmd->cln) {
        cmd->cln->handler = NULL;
        cmd->cln = NULL;
    }

    handler = cmd->handler;
    cmd->handler = NULL;

    if (handler) {
        handler(cmd->data, reply);
    }
}


static void
ngx_http_gateway_redis_free(ngx_http_gateway_redis_cmd_t *cmd)
{
    if (cmd->timer.timer_set) {
        ngx_del_timer(&cmd->timer);
    }

    ngx_free(cmd);
}


/* The command's pool is going away: its answer goes nowhere. */

static void
ngx_http_gateway_redis_detach(void *data)
{
    ngx_http_gateway_redis_cmd_t *cmd = data;

    cmd->handler = NULL;
    cmd->cln = NULL;

    if (cmd->timer.timer_set) {
        ngx_del_timer(&cmd->timer);
    }
}


static void
ngx_http_gateway_redis_cmd_timeout(ngx_event_t *ev)
{
    ngx_http_gateway_redis_cmd_t *cmd = ev->data;

    ngx_http_gateway_redis_t  *redis;

    redis = cmd->redis;

    /* the answer is NULL now; the link, too slow, is torn down and redone */

    ngx_http_gateway_redis_finish(cmd, NULL);

    /* cmd may be freed from here on */

    ngx_http_gateway_redis_fail(redis, "no answer within timeout", NULL);
}


static void
ngx_http_gateway_redis_connect(ngx_http_gateway_redis_t *redis)
{
    ngx_resolver_ctx_t  *ctx;

    if (redis->exiting) {
        return;
    }

    if (!redis->resolve) {
        ngx_http_gateway_redis_open(redis);
        return;
    }

    ctx = ngx_resolve_start(redis->resolver, NULL);

    if (ctx == NULL || ctx == NGX_NO_RESOLVER) {
        ngx_http_gateway_redis_fail(redis, "cannot resolve the host",
                                    ctx ? "no resolver" : "no memory");
        return;
    }

    ctx->name = redis->host;
    ctx->handler = ngx_http_gateway_redis_resolved;
    ctx->data = redis;
    ctx->timeout = redis->resolver_timeout;

    redis->state = NGX_HTTP_GATEWAY_REDIS_RESOLVING;
    redis->resolving = ctx;

    if (ngx_resolve_name(ctx) != NGX_OK) {
        redis->resolving = NULL;
        ngx_http_gateway_redis_fail(redis, "cannot resolve the host",
                                    "resolver error");
    }
}


static void
ngx_http_gateway_redis_resolved(ngx_resolver_ctx_t *ctx)
{
    ngx_http_gateway_redis_t *redis = ctx->data;

    size_t  len;

    redis->resolving = NULL;

    if (ctx->state || ctx->naddrs == 0) {
        ngx_http_gateway_redis_fail(redis, "cannot resolve the host",
                                    ctx->state
                                    ? ngx_resolver_strerror(ctx->state)
                                    : "no address");
        ngx_resolve_name_done(ctx);
        return;
    }

    len = ngx_sock_ntop(ctx->addrs[0].sockaddr, ctx->addrs[0].socklen,
                        redis->addr, NGX_SOCKADDR_STRLEN, 0);
    redis->addr[len] = '\0';

    ngx_resolve_name_done(ctx);

    ngx_http_gateway_redis_open(redis);
}


static void
ngx_http_gateway_redis_open(ngx_http_gateway_redis_t *redis)
{
    const char         *argv[2];
    size_t              lens[2];
    u_char              db[NGX_INT_T_LEN];
    ngx_connection_t   *c;
    redisAsyncContext  *ac;

    /* an address: hiredis's getaddrinfo() does not block on it */

    ac = redisAsyncConnect((char *) redis->addr, redis->port);

    if (ac == NULL) {
        ngx_http_gateway_redis_fail(redis, "cannot connect", "no memory");
        return;
    }

    if (ac->err) {
        ngx_http_gateway_redis_fail(redis, "cannot connect", ac->errstr);
        redisAsyncFree(ac);
        return;
    }

    c = ngx_get_connection(ac->c.fd, redis->log);
    if (c == NULL) {
        redisAsyncFree(ac);
        ngx_http_gateway_redis_fail(redis, "cannot connect",
                                    "no free connections");
        return;
    }

    c->data = ac;
    c->log = redis->log;
    c->read->log = redis->log;
    c->write->log = redis->log;
    c->read->handler = ngx_http_gateway_redis_read_handler;
    c->write->handler = ngx_http_gateway_redis_write_handler;

    ac->ev.data = c;
    ac->ev.addRead = ngx_http_gateway_redis_add_read;
    ac->ev.delRead = ngx_http_gateway_redis_del_read;
    ac->ev.addWrite = ngx_http_gateway_redis_add_write;
    ac->ev.delWrite = ngx_http_gateway_redis_del_write;
    ac->ev.cleanup = ngx_http_gateway_redis_cleanup;

    ac->data = redis;

    redisAsyncSetConnectCallback(ac, ngx_http_gateway_redis_on_connect);
    redisAsyncSetDisconnectCallback(ac, ngx_http_gateway_redis_on_disconnect);

    redis->ac = ac;
    redis->state = NGX_HTTP_GATEWAY_REDIS_CONNECTING;

    /* the handshake, pipelined: commands sent meanwhile queue behind it */

    if (redis->password.len) {
        argv[0] = "AUTH";
        lens[0] = 4;
        argv[1] = (const char *) redis->password.data;
        lens[1] = redis->password.len;

        redisAsyncCommandArgv(ac, ngx_http_gateway_redis_handshake,
                              ngx_http_gateway_redis_auth, 2, argv, lens);
    }

    if (redis->db > 0) {
        argv[0] = "SELECT";
        lens[0] = 6;
        argv[1] = (const char *) db;
        lens[1] = ngx_sprintf(db, "%i", redis->db) - db;

        redisAsyncCommandArgv(ac, ngx_http_gateway_redis_handshake,
                              ngx_http_gateway_redis_select, 2, argv, lens);
    }

    argv[0] = "PING";
    lens[0] = 4;

    redisAsyncCommandArgv(ac, ngx_http_gateway_redis_handshake,
                          ngx_http_gateway_redis_ping, 1, argv, lens);

    ngx_add_timer(&redis->connect_timer, redis->connect_timeout);
}


static void
ngx_http_gateway_redis_handshake(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply                *reply = r;
    ngx_http_gateway_redis_t  *redis;

    redis = ac->data;

    if (redis == NULL || redis->ac != ac || reply == NULL) {
        return;   /* an abandoned link, or one going down */
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_http_gateway_redis_fail(redis,
                                    privdata == ngx_http_gateway_redis_auth
                                    ? "AUTH failed"
                                    : privdata == ngx_http_gateway_redis_select
                                      ? "SELECT failed" : "PING failed",
                                    reply->str);
        return;
    }

    if (privdata != ngx_http_gateway_redis_ping) {
        return;
    }

    if (redis->connect_timer.timer_set) {
        ngx_del_timer(&redis->connect_timer);
    }

    redis->state = NGX_HTTP_GATEWAY_REDIS_READY;
    redis->backoff = 0;

    if (redis->down) {
        redis->down = 0;
        redis->logged = 0;
        ngx_log_error(NGX_LOG_NOTICE, redis->log, 0,
                      "gateway_redis \"%V\" (%V:%d) is available again",
                      &redis->name, &redis->host, (int) redis->port);
    }
}


static void
ngx_http_gateway_redis_on_connect(const redisAsyncContext *ac, int status)
{
    ngx_http_gateway_redis_t  *redis;

    redis = ac->data;

    if (status == REDIS_OK || redis == NULL || redis->ac != ac) {
        return;
    }

    /* hiredis frees the context after this: forget it first */

    ((redisAsyncContext *) ac)->data = NULL;
    redis->ac = NULL;

    ngx_http_gateway_redis_fail(redis, "cannot connect", ac->errstr);
}


static void
ngx_http_gateway_redis_on_disconnect(const redisAsyncContext *ac, int status)
{
    ngx_http_gateway_redis_t  *redis;

    redis = ac->data;

    if (redis == NULL || redis->ac != ac) {
        return;
    }

    ((redisAsyncContext *) ac)->data = NULL;
    redis->ac = NULL;

    ngx_http_gateway_redis_fail(redis, "connection lost",
                                ac->err ? ac->errstr : NULL);
}


/*
 * The link failed: forget its context (freeing it, which answers pending
 * commands with NULL), log once per interval, and try again later.
 */

static void
ngx_http_gateway_redis_fail(ngx_http_gateway_redis_t *redis,
    const char *reason, const char *detail)
{
    redisAsyncContext  *ac;

    ac = redis->ac;
    redis->ac = NULL;
    redis->state = NGX_HTTP_GATEWAY_REDIS_DOWN;

    if (redis->connect_timer.timer_set) {
        ngx_del_timer(&redis->connect_timer);
    }

    if (!redis->exiting
        && (redis->logged == 0
            || ngx_current_msec - redis->logged
               >= NGX_HTTP_GATEWAY_REDIS_LOG_INTERVAL))
    {
        redis->logged = ngx_current_msec ? ngx_current_msec : 1;

        ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                      "gateway_redis \"%V\" (%V:%d): %s%s%s; its users fall "
                      "back until it is back",
                      &redis->name, &redis->host, (int) redis->port, reason,
                      detail ? ": " : "", detail ? detail : "");
    }

    redis->failed = 1;
    redis->down = 1;

    if (ac) {
        ac->data = NULL;
        redisAsyncFree(ac);
    }

    ngx_http_gateway_redis_schedule(redis);
}


static void
ngx_http_gateway_redis_schedule(ngx_http_gateway_redis_t *redis)
{
    if (redis->exiting || redis->reconnect.timer_set) {
        return;
    }

    redis->backoff = redis->backoff
                     ? ngx_min(redis->backoff * 2,
                               NGX_HTTP_GATEWAY_REDIS_BACKOFF_MAX)
                     : NGX_HTTP_GATEWAY_REDIS_BACKOFF_MIN;

    ngx_add_timer(&redis->reconnect, redis->backoff);
}


static void
ngx_http_gateway_redis_reconnect_handler(ngx_event_t *ev)
{
    ngx_http_gateway_redis_t *redis = ev->data;

    if (redis->state == NGX_HTTP_GATEWAY_REDIS_DOWN) {
        ngx_http_gateway_redis_connect(redis);
    }
}


static void
ngx_http_gateway_redis_connect_timeout(ngx_event_t *ev)
{
    ngx_http_gateway_redis_t *redis = ev->data;

    ngx_http_gateway_redis_fail(redis, "connect timed out", NULL);
}


/* hiredis's event hooks, level-triggered */

static void
ngx_http_gateway_redis_add_read(void *privdata)
{
    ngx_connection_t *c = privdata;

    if (!c->read->active) {
        (void) ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT);
    }
}


static void
ngx_http_gateway_redis_del_read(void *privdata)
{
    ngx_connection_t *c = privdata;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT);
    }
}


static void
ngx_http_gateway_redis_add_write(void *privdata)
{
    ngx_connection_t *c = privdata;

    if (!c->write->active) {
        (void) ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT);
    }
}


static void
ngx_http_gateway_redis_del_write(void *privdata)
{
    ngx_connection_t *c = privdata;

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT);
    }
}


/* hiredis frees its context and closes the socket right after this */

static void
ngx_http_gateway_redis_cleanup(void *privdata)
{
    ngx_connection_t *c = privdata;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    c->fd = (ngx_socket_t) -1;
    ngx_free_connection(c);
}


static void
ngx_http_gateway_redis_read_handler(ngx_event_t *ev)
{
    ngx_connection_t *c = ev->data;

    redisAsyncHandleRead(c->data);
}


static void
ngx_http_gateway_redis_write_handler(ngx_event_t *ev)
{
    ngx_connection_t *c = ev->data;

    redisAsyncHandleWrite(c->data);
}


static char *
ngx_http_gateway_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_gateway_redis_main_conf_t *rmcf = conf;

    ngx_int_t                   n;
    ngx_str_t                  *value, s;
    ngx_url_t                   u;
    ngx_uint_t                  i;
    ngx_addr_t                  addr;
    ngx_msec_t                  ms;
    ngx_http_gateway_redis_t   *redis, **slot;

    value = cf->args->elts;

    if (ngx_http_gateway_redis_find(cf, &value[1]) != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate gateway_redis \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    redis = ngx_pcalloc(cf->pool, sizeof(ngx_http_gateway_redis_t));
    if (redis == NULL) {
        return NGX_CONF_ERROR;
    }

    redis->name = value[1];
    redis->db = 0;
    redis->connect_timeout = 1000;
    redis->timeout = 500;
    redis->file = cf->conf_file->file.name.data;
    redis->line = cf->conf_file->line;

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = value[2];
    u.default_port = 6379;
    u.no_resolve = 1;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s in gateway_redis \"%V\"",
                           u.err ? u.err : "invalid address", &value[2]);
        return NGX_CONF_ERROR;
    }

    if (u.host.len == 0 || u.port == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid address \"%V\" in gateway_redis",
                           &value[2]);
        return NGX_CONF_ERROR;
    }

    redis->host = u.host;
    redis->port = u.port;

    s = u.host;

    if (s.len > 2 && s.data[0] == '[' && s.data[s.len - 1] == ']') {
        s.data++;
        s.len -= 2;
    }

    if (s.len == 9 && ngx_strncasecmp(s.data, (u_char *) "localhost", 9) == 0) {
        ngx_cpystrn(redis->addr, (u_char *) "127.0.0.1", 10);

    } else if (ngx_parse_addr(cf->pool, &addr, s.data, s.len) == NGX_OK) {
        if (s.len > NGX_SOCKADDR_STRLEN) {
            return NGX_CONF_ERROR;
        }

        ngx_cpystrn(redis->addr, s.data, s.len + 1);

    } else {
        /* a name: resolved by nginx's resolver, checked once http{} is read */
        redis->resolve = 1;
        redis->host = s;
    }

    for (i = 3; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "password=", 9) == 0) {
            redis->password.data = value[i].data + 9;
            redis->password.len = value[i].len - 9;
            continue;
        }

        if (ngx_strncmp(value[i].data, "db=", 3) == 0) {
            n = ngx_atoi(value[i].data + 3, value[i].len - 3);
            if (n == NGX_ERROR) {
                goto invalid;
            }

            redis->db = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "connect_timeout=", 16) == 0) {
            s.data = value[i].data + 16;
            s.len = value[i].len - 16;

            ms = ngx_parse_time(&s, 0);
            if (ms == (ngx_msec_t) NGX_ERROR || ms == 0) {
                goto invalid;
            }

            redis->connect_timeout = ms;
            continue;
        }

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            ms = ngx_parse_time(&s, 0);
            if (ms == (ngx_msec_t) NGX_ERROR || ms == 0) {
                goto invalid;
            }

            redis->timeout = ms;
            continue;
        }

        goto invalid;
    }

    slot = ngx_array_push(&rmcf->redis);
    if (slot == NULL) {
        return NGX_CONF_ERROR;
    }

    *slot = redis;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}


static void *
ngx_http_gateway_redis_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_gateway_redis_main_conf_t  *rmcf;

    rmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_gateway_redis_main_conf_t));
    if (rmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&rmcf->redis, cf->pool, 2,
                       sizeof(ngx_http_gateway_redis_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return rmcf;
}


/* Names need a resolver at http level; the links get it for run time. */

static ngx_int_t
ngx_http_gateway_redis_postconfiguration(ngx_conf_t *cf)
{
    ngx_uint_t                           i;
    ngx_http_core_loc_conf_t            *clcf;
    ngx_http_gateway_redis_t           **redis;
    ngx_http_gateway_redis_main_conf_t  *rmcf;

    rmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_gateway_redis_module);
    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    redis = rmcf->redis.elts;

    for (i = 0; i < rmcf->redis.nelts; i++) {
        /* http{}'s own values are not merged: resolver_timeout may be unset */
        redis[i]->resolver = clcf->resolver;
        redis[i]->resolver_timeout =
                                   clcf->resolver_timeout == NGX_CONF_UNSET_MSEC
                                   ? 30000 : clcf->resolver_timeout;

        if (!redis[i]->resolve) {
            continue;
        }

        if (clcf->resolver == NULL || clcf->resolver->connections.nelts == 0)
        {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "gateway_redis \"%V\": \"%V\" is not an IP address "
                          "and no \"resolver\" is defined at http level to "
                          "resolve it in %s:%ui", &redis[i]->name,
                          &redis[i]->host, redis[i]->file, redis[i]->line);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_gateway_redis_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                           i;
    ngx_http_gateway_redis_t           **redis;
    ngx_http_gateway_redis_main_conf_t  *rmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    rmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_gateway_redis_module);
    if (rmcf == NULL) {
        return NGX_OK;
    }

    redis = rmcf->redis.elts;

    for (i = 0; i < rmcf->redis.nelts; i++) {
        redis[i]->log = cycle->log;

        redis[i]->reconnect.handler = ngx_http_gateway_redis_reconnect_handler;
        redis[i]->reconnect.data = redis[i];
        redis[i]->reconnect.log = cycle->log;
        redis[i]->reconnect.cancelable = 1;

        redis[i]->connect_timer.handler =
                                         ngx_http_gateway_redis_connect_timeout;
        redis[i]->connect_timer.data = redis[i];
        redis[i]->connect_timer.log = cycle->log;
        redis[i]->connect_timer.cancelable = 1;

        if (redis[i]->used) {
            ngx_http_gateway_redis_connect(redis[i]);
        }
    }

    return NGX_OK;
}


static void
ngx_http_gateway_redis_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                           i;
    redisAsyncContext                   *ac;
    ngx_http_gateway_redis_t           **redis;
    ngx_http_gateway_redis_main_conf_t  *rmcf;

    rmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_gateway_redis_module);
    if (rmcf == NULL) {
        return;
    }

    redis = rmcf->redis.elts;

    for (i = 0; i < rmcf->redis.nelts; i++) {
        redis[i]->exiting = 1;

        if (redis[i]->reconnect.timer_set) {
            ngx_del_timer(&redis[i]->reconnect);
        }

        if (redis[i]->connect_timer.timer_set) {
            ngx_del_timer(&redis[i]->connect_timer);
        }

        if (redis[i]->resolving) {
            ngx_resolve_name_done(redis[i]->resolving);
            redis[i]->resolving = NULL;
        }

        ac = redis[i]->ac;

        if (ac) {
            redis[i]->ac = NULL;
            ac->data = NULL;
            redisAsyncFree(ac);
        }
    }
}
