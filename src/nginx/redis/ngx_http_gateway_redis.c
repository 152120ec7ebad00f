/*
 * The Redis client on its background link: commands are encoded by hiredis
 * (redisFormatCommandArgv) and pipelined on the link's connection, replies
 * are parsed by hiredis's reader into ngx_http_gateway_redis_reply_t (its
 * reply functions are ours, so no hiredis type leaves this file) and
 * matched to the commands in order. AUTH, SELECT and PING go first on every
 * connection; the link is ready once PING is answered. The reply to the
 * oldest command is due within its timeout (connect_timeout for the
 * handshake): the link's read timer follows it, and a late one fails the
 * link, which answers every pending command with NULL.
 */

#include "ngx_http_gateway_redis_client.h"

#include <openssl/sha.h>
#include <hiredis/hiredis.h>


/* what a command is for */
#define NGX_HTTP_GATEWAY_REDIS_USER    0
#define NGX_HTTP_GATEWAY_REDIS_AUTH    1
#define NGX_HTTP_GATEWAY_REDIS_SELECT  2
#define NGX_HTTP_GATEWAY_REDIS_PING    3


struct ngx_http_gateway_redis_cmd_s {
    ngx_queue_t                        queue;     /* sent or queued */
    ngx_http_gateway_redis_t          *redis;
    ngx_http_gateway_redis_handler_pt  handler;   /* NULL once detached */
    void                              *data;
    ngx_pool_cleanup_t                *cln;
    ngx_http_gateway_redis_script_t   *script;    /* resent with EVAL */
    ngx_uint_t                         kind;
    ngx_msec_t                         deadline;
    int                                argc;
    const char                       **argv;
    size_t                            *lens;
};


static ngx_http_gateway_redis_cmd_t *ngx_http_gateway_redis_send(
    ngx_http_gateway_redis_t *redis, ngx_pool_t *pool,
    ngx_http_gateway_redis_script_t *script,
    ngx_http_gateway_redis_handler_pt handler, void *data,
    ngx_uint_t nkeys, ngx_uint_t argc, ngx_str_t *argv);
static ngx_http_gateway_redis_cmd_t *ngx_http_gateway_redis_alloc(
    ngx_http_gateway_redis_t *redis, ngx_uint_t kind, ngx_uint_t argc,
    size_t size);
static ngx_int_t ngx_http_gateway_redis_write(
    ngx_http_gateway_redis_cmd_t *cmd);
static void ngx_http_gateway_redis_handshake(ngx_http_gateway_redis_t *redis);
static void ngx_http_gateway_redis_expect(ngx_http_gateway_redis_t *redis);
static void ngx_http_gateway_redis_answer(ngx_http_gateway_redis_t *redis,
    ngx_http_gateway_redis_cmd_t *cmd, ngx_http_gateway_redis_reply_t *reply);
static void ngx_http_gateway_redis_detach(void *data);

static void ngx_http_gateway_redis_connected(ngx_http_gateway_link_t *link);
static ngx_int_t ngx_http_gateway_redis_recv(ngx_http_gateway_link_t *link,
    u_char *data, size_t len);
static void ngx_http_gateway_redis_closed(ngx_http_gateway_link_t *link);

static void *ngx_http_gateway_redis_string(const redisReadTask *task,
    char *str, size_t len);
static void *ngx_http_gateway_redis_array(const redisReadTask *task,
    int elements);
static void *ngx_http_gateway_redis_integer(const redisReadTask *task,
    long long value);
static void *ngx_http_gateway_redis_nil(const redisReadTask *task);
static void ngx_http_gateway_redis_free_reply(void *reply);


ngx_http_gateway_link_handlers_t  ngx_http_gateway_redis_link_handlers = {
    ngx_http_gateway_redis_connected,
    ngx_http_gateway_redis_recv,
    NULL,
    ngx_http_gateway_redis_closed
};


static redisReplyObjectFunctions  ngx_http_gateway_redis_replies = {
    ngx_http_gateway_redis_string,
    ngx_http_gateway_redis_array,
    ngx_http_gateway_redis_integer,
    ngx_http_gateway_redis_nil,
    ngx_http_gateway_redis_free_reply
};


static const char  *ngx_http_gateway_redis_handshake_failed[] = {
    NULL, "AUTH failed", "SELECT failed", "PING failed"
};


ngx_uint_t
ngx_http_gateway_redis_available(ngx_http_gateway_redis_t *redis)
{
    ngx_http_gateway_link_t  *link = redis->link;

    if (link->state == NGX_HTTP_GATEWAY_LINK_READY) {
        return 1;
    }

    /*
     * While the first link of a worker is being set up, commands queue
     * behind the handshake; after a failure they wait for the handshake
     * to succeed, so a Redis that accepts but never answers costs at most
     * one timeout per link, not one per request.
     */

    return link->state >= NGX_HTTP_GATEWAY_LINK_RESOLVING
           && link->failures == 0;
}


void
ngx_http_gateway_redis_script_init(ngx_http_gateway_redis_script_t *s)
{
    u_char  md[SHA_DIGEST_LENGTH];

    SHA1(s->text.data, s->text.len, md);
    ngx_hex_dump(s->sha1, md, SHA_DIGEST_LENGTH);
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


static ngx_http_gateway_redis_cmd_t *
ngx_http_gateway_redis_send(ngx_http_gateway_redis_t *redis, ngx_pool_t *pool,
    ngx_http_gateway_redis_script_t *script,
    ngx_http_gateway_redis_handler_pt handler, void *data,
    ngx_uint_t nkeys, ngx_uint_t argc, ngx_str_t *argv)
{
    u_char                        *p;
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
    size = nlen;

    for (i = 0; i < argc; i++) {
        size += argv[i].len;
    }

    cmd = ngx_http_gateway_redis_alloc(redis, NGX_HTTP_GATEWAY_REDIS_USER,
                                       total, size);
    if (cmd == NULL) {
        return NULL;
    }

    cmd->handler = handler;
    cmd->data = data;
    cmd->script = script;

    p = (u_char *) (cmd->lens + total);
    n = 0;

    if (script) {
        cmd->argv[0] = "EVALSHA";
        cmd->lens[0] = sizeof("EVALSHA") - 1;
        cmd->argv[1] = (const char *) script->sha1;
        cmd->lens[1] = sizeof(script->sha1);
        cmd->argv[2] = (const char *) p;
        cmd->lens[2] = nlen;
        p = ngx_cpymem(p, buf, nlen);
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

    cmd->deadline = ngx_current_msec + redis->timeout;

    /* on a connection that is not up yet, it follows the handshake */

    if (redis->link->state < NGX_HTTP_GATEWAY_LINK_CONNECTED) {
        ngx_queue_insert_tail(&redis->queued, &cmd->queue);

    } else if (ngx_http_gateway_redis_write(cmd) != NGX_OK) {
        ngx_free(cmd);
        return NULL;
    }

    cln->handler = ngx_http_gateway_redis_detach;
    cln->data = cmd;
    cmd->cln = cln;

    return cmd;
}


/* A command with room for argc arguments and size bytes of their text. */

static ngx_http_gateway_redis_cmd_t *
ngx_http_gateway_redis_alloc(ngx_http_gateway_redis_t *redis, ngx_uint_t kind,
    ngx_uint_t argc, size_t size)
{
    ngx_http_gateway_redis_cmd_t  *cmd;

    cmd = ngx_alloc(sizeof(ngx_http_gateway_redis_cmd_t)
                    + argc * (sizeof(char *) + sizeof(size_t)) + size,
                    redis->link->log);
    if (cmd == NULL) {
        return NULL;
    }

    ngx_memzero(cmd, sizeof(ngx_http_gateway_redis_cmd_t));

    cmd->redis = redis;
    cmd->kind = kind;
    cmd->argc = (int) argc;
    cmd->argv = (const char **) (cmd + 1);
    cmd->lens = (size_t *) (cmd->argv + argc);

    return cmd;
}


/* Encodes the command onto the connection; its reply is now awaited. */

static ngx_int_t
ngx_http_gateway_redis_write(ngx_http_gateway_redis_cmd_t *cmd)
{
    int                        len;
    char                      *text;
    ngx_int_t                  rc;
    ngx_uint_t                 first;
    ngx_http_gateway_redis_t  *redis;

    redis = cmd->redis;

    len = redisFormatCommandArgv(&text, cmd->argc, cmd->argv, cmd->lens);
    if (len < 0) {
        return NGX_ERROR;
    }

    rc = ngx_http_gateway_link_send(redis->link, (u_char *) text, len);

    redisFreeCommand(text);

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    first = ngx_queue_empty(&redis->sent);

    ngx_queue_insert_tail(&redis->sent, &cmd->queue);

    if (first) {
        ngx_http_gateway_redis_expect(redis);
    }

    return NGX_OK;
}


/* The read timer follows the oldest command's deadline. */

static void
ngx_http_gateway_redis_expect(ngx_http_gateway_redis_t *redis)
{
    ngx_msec_int_t                 left;
    ngx_http_gateway_redis_cmd_t  *cmd;

    if (ngx_queue_empty(&redis->sent)) {
        ngx_http_gateway_link_expect(redis->link, 0);
        return;
    }

    cmd = ngx_queue_data(ngx_queue_head(&redis->sent),
                         ngx_http_gateway_redis_cmd_t, queue);

    left = (ngx_msec_int_t) (cmd->deadline - ngx_current_msec);

    ngx_http_gateway_link_expect(redis->link, left > 0 ? left : 1);
}


/* The command's pool is going away: its answer goes nowhere. */

static void
ngx_http_gateway_redis_detach(void *data)
{
    ngx_http_gateway_redis_cmd_t *cmd = data;

    cmd->handler = NULL;
    cmd->cln = NULL;
}


/* The link's side: the handshake, then what waited for the connection. */

static void
ngx_http_gateway_redis_connected(ngx_http_gateway_link_t *link)
{
    ngx_queue_t                   *q;
    ngx_http_gateway_redis_t      *redis;
    ngx_http_gateway_redis_cmd_t  *cmd;

    redis = link->data;

    redis->reader = redisReaderCreateWithFunctions(
                                             &ngx_http_gateway_redis_replies);
    if (redis->reader == NULL) {
        ngx_http_gateway_link_fail(link, "cannot connect", "no memory");
        return;
    }

    ngx_http_gateway_redis_handshake(redis);

    while (link->state >= NGX_HTTP_GATEWAY_LINK_CONNECTED
           && !ngx_queue_empty(&redis->queued))
    {
        q = ngx_queue_head(&redis->queued);
        ngx_queue_remove(q);
        cmd = ngx_queue_data(q, ngx_http_gateway_redis_cmd_t, queue);

        if (ngx_http_gateway_redis_write(cmd) != NGX_OK) {
            ngx_http_gateway_redis_answer(redis, cmd, NULL);
        }
    }
}


/* AUTH, SELECT and PING, pipelined, due within connect_timeout. */

static void
ngx_http_gateway_redis_handshake(ngx_http_gateway_redis_t *redis)
{
    u_char                        *p;
    ngx_uint_t                     kind;
    ngx_http_gateway_redis_cmd_t  *cmd;

    for (kind = NGX_HTTP_GATEWAY_REDIS_AUTH;
         kind <= NGX_HTTP_GATEWAY_REDIS_PING;
         kind++)
    {
        if ((kind == NGX_HTTP_GATEWAY_REDIS_AUTH && redis->password.len == 0)
            || (kind == NGX_HTTP_GATEWAY_REDIS_SELECT && redis->db == 0))
        {
            continue;
        }

        cmd = ngx_http_gateway_redis_alloc(redis, kind, 2,
                                           redis->password.len
                                           + NGX_INT_T_LEN);
        if (cmd == NULL) {
            ngx_http_gateway_link_fail(redis->link, "cannot connect",
                                       "no memory");
            return;
        }

        p = (u_char *) (cmd->lens + 2);

        switch (kind) {

        case NGX_HTTP_GATEWAY_REDIS_AUTH:
            cmd->argv[0] = "AUTH";
            cmd->argv[1] = (const char *) p;
            cmd->lens[1] = ngx_cpymem(p, redis->password.data,
                                      redis->password.len) - p;
            break;

        case NGX_HTTP_GATEWAY_REDIS_SELECT:
            cmd->argv[0] = "SELECT";
            cmd->argv[1] = (const char *) p;
            cmd->lens[1] = ngx_sprintf(p, "%i", redis->db) - p;
            break;

        default: /* NGX_HTTP_GATEWAY_REDIS_PING */
            cmd->argv[0] = "PING";
            cmd->argc = 1;
            break;
        }

        cmd->lens[0] = ngx_strlen(cmd->argv[0]);
        cmd->deadline = ngx_current_msec + redis->link->connect_timeout;

        if (ngx_http_gateway_redis_write(cmd) != NGX_OK) {
            ngx_free(cmd);
            ngx_http_gateway_link_fail(redis->link, "cannot connect",
                                       "no memory");
            return;
        }
    }
}


/* Replies, in the order of the commands. */

static ngx_int_t
ngx_http_gateway_redis_recv(ngx_http_gateway_link_t *link, u_char *data,
    size_t len)
{
    void                            *r;
    ngx_uint_t                       generation, kind;
    ngx_http_gateway_redis_t        *redis;
    ngx_http_gateway_redis_cmd_t    *cmd;
    ngx_http_gateway_redis_reply_t  *reply;

    redis = link->data;
    generation = link->generation;

    if (redisReaderFeed(redis->reader, (char *) data, len) != REDIS_OK) {
        ngx_http_gateway_link_fail(link, "invalid answer", "no memory");
        return NGX_ERROR;
    }

    for ( ;; ) {
        if (redisReaderGetReply(redis->reader, &r) != REDIS_OK) {
            ngx_http_gateway_link_fail(link, "invalid answer",
                                 ((redisReader *) redis->reader)->errstr);
            return NGX_ERROR;
        }

        if (r == NULL) {
            break;
        }

        reply = r;

        if (ngx_queue_empty(&redis->sent)) {
            ngx_http_gateway_redis_free_reply(reply);
            ngx_http_gateway_link_fail(link, "invalid answer",
                                       "a reply nothing asked for");
            return NGX_ERROR;
        }

        cmd = ngx_queue_data(ngx_queue_head(&redis->sent),
                             ngx_http_gateway_redis_cmd_t, queue);
        ngx_queue_remove(&cmd->queue);

        kind = cmd->kind;

        if (kind != NGX_HTTP_GATEWAY_REDIS_USER) {
            ngx_free(cmd);

            if (reply->type == NGX_HTTP_GATEWAY_REDIS_ERROR) {
                ngx_http_gateway_link_fail(link,
                                   ngx_http_gateway_redis_handshake_failed[kind],
                                   (char *) reply->str.data);
                ngx_http_gateway_redis_free_reply(reply);
                return NGX_ERROR;
            }

            if (kind == NGX_HTTP_GATEWAY_REDIS_PING) {
                ngx_http_gateway_link_ready(link);
            }

            ngx_http_gateway_redis_free_reply(reply);
            continue;
        }

        /* Redis lost its scripts (a restart, SCRIPT FLUSH): send the text */

        if (cmd->handler != NULL
            && cmd->script != NULL
            && reply->type == NGX_HTTP_GATEWAY_REDIS_ERROR
            && reply->str.len >= 8
            && ngx_strncmp(reply->str.data, "NOSCRIPT", 8) == 0)
        {
            cmd->argv[0] = "EVAL";
            cmd->lens[0] = sizeof("EVAL") - 1;
            cmd->argv[1] = (const char *) cmd->script->text.data;
            cmd->lens[1] = cmd->script->text.len;
            cmd->script = NULL;

            ngx_http_gateway_redis_free_reply(reply);

            if (ngx_http_gateway_redis_write(cmd) != NGX_OK) {
                ngx_http_gateway_redis_answer(redis, cmd, NULL);
            }

            continue;
        }

        if (reply->type == NGX_HTTP_GATEWAY_REDIS_ERROR) {
            ngx_http_gateway_stats_add(redis->errors, 0, 1);
        }

        ngx_http_gateway_redis_answer(redis, cmd, reply);
        ngx_http_gateway_redis_free_reply(reply);

        /* a handler may have done anything, the link is checked again */

        if (link->generation != generation) {
            return NGX_OK;
        }
    }

    ngx_http_gateway_redis_expect(redis);

    return NGX_OK;
}


/* Gives the command its answer, once, and frees it. */

static void
ngx_http_gateway_redis_answer(ngx_http_gateway_redis_t *redis,
    ngx_http_gateway_redis_cmd_t *cmd, ngx_http_gateway_redis_reply_t *reply)
{
    if (cmd->cln) {
        cmd->cln->handler = NULL;
        cmd->cln = NULL;
    }

    if (cmd->handler) {
        cmd->handler(cmd->data, reply);
    }

    ngx_free(cmd);
}


/* The connection is gone: every command still waiting gets NULL. */

static void
ngx_http_gateway_redis_closed(ngx_http_gateway_link_t *link)
{
    ngx_queue_t                   *q;
    ngx_http_gateway_redis_t      *redis;
    ngx_http_gateway_redis_cmd_t  *cmd;

    redis = link->data;

    if (redis->reader) {
        redisReaderFree(redis->reader);
        redis->reader = NULL;
    }

    /* what the handlers send meanwhile is refused: the link is down */

    for ( ;; ) {
        if (!ngx_queue_empty(&redis->sent)) {
            q = ngx_queue_head(&redis->sent);

        } else if (!ngx_queue_empty(&redis->queued)) {
            q = ngx_queue_head(&redis->queued);

        } else {
            break;
        }

        ngx_queue_remove(q);
        cmd = ngx_queue_data(q, ngx_http_gateway_redis_cmd_t, queue);

        if (cmd->kind == NGX_HTTP_GATEWAY_REDIS_USER) {
            ngx_http_gateway_redis_answer(redis, cmd, NULL);

        } else {
            ngx_free(cmd);
        }
    }
}


/*
 * hiredis's reader builds our replies: each object, once made, is hung in
 * its parent array at its index, as hiredis's own functions do.
 */

static ngx_http_gateway_redis_reply_t *
ngx_http_gateway_redis_reply(const redisReadTask *task, ngx_uint_t type,
    size_t extra)
{
    ngx_http_gateway_redis_reply_t  *reply, *parent;

    reply = ngx_alloc(sizeof(ngx_http_gateway_redis_reply_t) + extra,
                      ngx_cycle->log);
    if (reply == NULL) {
        return NULL;
    }

    ngx_memzero(reply, sizeof(ngx_http_gateway_redis_reply_t));
    reply->type = type;

    if (task->parent) {
        parent = task->parent->obj;
        parent->element[task->idx] = reply;
    }

    return reply;
}


static void *
ngx_http_gateway_redis_string(const redisReadTask *task, char *str,
    size_t len)
{
    ngx_uint_t                       type;
    ngx_http_gateway_redis_reply_t  *reply;

    type = (task->type == REDIS_REPLY_ERROR) ? NGX_HTTP_GATEWAY_REDIS_ERROR
           : (task->type == REDIS_REPLY_STATUS) ? NGX_HTTP_GATEWAY_REDIS_STATUS
           : NGX_HTTP_GATEWAY_REDIS_STRING;

    /* the text stays terminated, for logs */

    reply = ngx_http_gateway_redis_reply(task, type, len + 1);
    if (reply == NULL) {
        return NULL;
    }

    reply->str.data = (u_char *) (reply + 1);
    reply->str.len = len;
    ngx_memcpy(reply->str.data, str, len);
    reply->str.data[len] = '\0';

    return reply;
}


static void *
ngx_http_gateway_redis_array(const redisReadTask *task, int elements)
{
    ngx_http_gateway_redis_reply_t  *reply;

    reply = ngx_http_gateway_redis_reply(task, NGX_HTTP_GATEWAY_REDIS_ARRAY,
                               elements * sizeof(ngx_http_gateway_redis_reply_t *));
    if (reply == NULL) {
        return NULL;
    }

    reply->elements = elements;
    reply->element = (ngx_http_gateway_redis_reply_t **) (reply + 1);
    ngx_memzero(reply->element,
                elements * sizeof(ngx_http_gateway_redis_reply_t *));

    return reply;
}


static void *
ngx_http_gateway_redis_integer(const redisReadTask *task, long long value)
{
    ngx_http_gateway_redis_reply_t  *reply;

    reply = ngx_http_gateway_redis_reply(task, NGX_HTTP_GATEWAY_REDIS_INTEGER,
                                         0);
    if (reply == NULL) {
        return NULL;
    }

    reply->integer = value;

    return reply;
}


static void *
ngx_http_gateway_redis_nil(const redisReadTask *task)
{
    return ngx_http_gateway_redis_reply(task, NGX_HTTP_GATEWAY_REDIS_NIL, 0);
}


static void
ngx_http_gateway_redis_free_reply(void *data)
{
    size_t                           i;
    ngx_http_gateway_redis_reply_t  *reply = data;

    if (reply == NULL) {
        return;
    }

    for (i = 0; i < reply->elements; i++) {
        ngx_http_gateway_redis_free_reply(reply->element[i]);
    }

    ngx_free(reply);
}
