/*
 * The Redis client on its background link: commands are encoded in RESP
 * here (with nginx's formatting, cheaper than hiredis's printf) and
 * pipelined on the link's connection, replies are parsed by hiredis's
 * reader, straight from where the link reads, into
 * ngx_http_gateway_redis_reply_t (its
 * reply functions are ours, so no hiredis type leaves this file) and
 * matched to the commands in order. AUTH, SELECT and PING go first on every
 * connection; the link is ready once PING is answered. The reply to the
 * oldest command is due within its timeout (connect_timeout for the
 * handshake): a timer watches it, and a late one fails the link, which
 * answers every pending command with NULL.
 */

#include "ngx_http_gateway_redis_client.h"

#include <openssl/sha.h>
#include <hiredis/hiredis.h>


/*
 * One read's worth, the reader's buffer kept between replies (at most),
 * and the longest bulk string Redis sends (512m).
 */
#define NGX_HTTP_GATEWAY_REDIS_READ      16384
#define NGX_HTTP_GATEWAY_REDIS_KEEP      (4 * 1024 * 1024)
#define NGX_HTTP_GATEWAY_REDIS_MAX_BULK  (512 * 1024 * 1024)

/* a bulk string this long is handed over in the buffer it was read into */
#define NGX_HTTP_GATEWAY_REDIS_LARGE     16384

/*
 * No command of ours is answered with a longer array: a table (8 bytes an
 * element) is not allocated and zeroed for whatever length a server
 * announces (hiredis lets through 2^31 - 1 with 0.14, 2^32 - 1 with 1.x).
 */
#define NGX_HTTP_GATEWAY_REDIS_MAX_ELEMENTS  (1024 * 1024)

/*
 * Commands and replies up to this size (most of them: a GET, a SET NX, nil,
 * OK, a number) are recycled rather than given back to malloc, which under
 * many requests in flight misses its small caches every time.
 */
#define NGX_HTTP_GATEWAY_REDIS_BLOCK     512
#define NGX_HTTP_GATEWAY_REDIS_BLOCKS    256

/* what a command is for */
#define NGX_HTTP_GATEWAY_REDIS_USER    0
#define NGX_HTTP_GATEWAY_REDIS_AUTH    1
#define NGX_HTTP_GATEWAY_REDIS_SELECT  2
#define NGX_HTTP_GATEWAY_REDIS_PING    3


/*
 * hiredis 0.14 (Debian 12) and 1.x (Debian 13) differ in what this file
 * touches: 1.x passes an array's length as size_t, has reply functions for
 * RESP3's doubles and booleans, and keeps the reader's tasks as pointers.
 * 1.x also parses RESP3 and nests arrays without limit: we speak RESP2, so
 * what 0.14 refuses as a protocol error (a RESP3 type, "_" its nil, arrays
 * nested deeper than 7) is refused by our reply functions, never misread,
 * nor freed by recursing as deep as a server likes.
 */
#if (HIREDIS_MAJOR >= 1)

typedef size_t  ngx_http_gateway_redis_length_t;

#define ngx_http_gateway_redis_first_type(reader)  (reader)->task[0]->type

#define ngx_http_gateway_redis_resp3(task)                                    \
    ((task)->type > REDIS_REPLY_ERROR || (task)->type == REDIS_REPLY_NIL)

#define ngx_http_gateway_redis_too_deep(task)                                 \
    (((redisReader *) (task)->privdata)->ridx > 7)

#else

typedef int     ngx_http_gateway_redis_length_t;

#define ngx_http_gateway_redis_first_type(reader)  (reader)->rstack[0].type
#define ngx_http_gateway_redis_resp3(task)         0
#define ngx_http_gateway_redis_too_deep(task)      0

#endif


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
    u_char                            *text;      /* encoded by the caller */
    size_t                             len;
    size_t                             size;      /* as allocated */
};


static ngx_http_gateway_redis_cmd_t *ngx_http_gateway_redis_send(
    ngx_http_gateway_redis_t *redis, ngx_pool_t *pool,
    ngx_http_gateway_redis_script_t *script,
    ngx_http_gateway_redis_handler_pt handler, void *data,
    ngx_uint_t nkeys, ngx_uint_t argc, ngx_str_t *argv);
static ngx_http_gateway_redis_cmd_t *ngx_http_gateway_redis_start(
    ngx_http_gateway_redis_cmd_t *cmd, ngx_pool_t *pool);
static ngx_http_gateway_redis_cmd_t *ngx_http_gateway_redis_alloc(
    ngx_http_gateway_redis_t *redis, ngx_uint_t kind, ngx_uint_t argc,
    size_t size);
static ngx_int_t ngx_http_gateway_redis_write(
    ngx_http_gateway_redis_cmd_t *cmd);

#define ngx_http_gateway_redis_free_cmd(cmd)                                  \
    ngx_http_gateway_redis_block_free(cmd, (cmd)->size)
static void ngx_http_gateway_redis_handshake(ngx_http_gateway_redis_t *redis);
static ngx_uint_t ngx_http_gateway_redis_ndigits(uint64_t n);
static void ngx_http_gateway_redis_digits(u_char *end, uint64_t n);
static void ngx_http_gateway_redis_expect(ngx_http_gateway_redis_t *redis);
static void ngx_http_gateway_redis_deadline_handler(ngx_event_t *ev);
static void ngx_http_gateway_redis_answer(ngx_http_gateway_redis_t *redis,
    ngx_http_gateway_redis_cmd_t *cmd, ngx_http_gateway_redis_reply_t *reply);
static void ngx_http_gateway_redis_detach(void *data);

static void ngx_http_gateway_redis_connected(ngx_http_gateway_link_t *link);
static ngx_int_t ngx_http_gateway_redis_recv(ngx_http_gateway_link_t *link,
    u_char *data, size_t len);
static void ngx_http_gateway_redis_closed(ngx_http_gateway_link_t *link);
static size_t ngx_http_gateway_redis_pending(redisReader *reader);
static ngx_http_gateway_redis_reply_t *ngx_http_gateway_redis_next_short(
    redisReader *reader);

static void *ngx_http_gateway_redis_string(const redisReadTask *task,
    char *str, size_t len);
static void *ngx_http_gateway_redis_array(const redisReadTask *task,
    ngx_http_gateway_redis_length_t elements);
static void *ngx_http_gateway_redis_integer(const redisReadTask *task,
    long long value);
static void *ngx_http_gateway_redis_nil(const redisReadTask *task);
#if (HIREDIS_MAJOR >= 1)
static void *ngx_http_gateway_redis_double(const redisReadTask *task,
    double value, char *str, size_t len);
static void *ngx_http_gateway_redis_bool(const redisReadTask *task,
    int value);
#endif
static void *ngx_http_gateway_redis_refuse(const char *why);
static void ngx_http_gateway_redis_free_reply(void *reply);
static void ngx_http_gateway_redis_recycle(sds buf);
static void *ngx_http_gateway_redis_block(size_t size);
static void ngx_http_gateway_redis_block_free(void *block, size_t size);
static sds ngx_http_gateway_redis_spare(void);


ngx_http_gateway_link_handlers_t  ngx_http_gateway_redis_link_handlers = {
    ngx_http_gateway_redis_connected,
    ngx_http_gateway_redis_recv,
    NULL,
    ngx_http_gateway_redis_closed
};


/*
 * Readers' buffers large replies took away and gave back when freed, up to
 * NGX_HTTP_GATEWAY_REDIS_KEEP bytes in all: the next replies are read into
 * memory already mapped (a buffer the kernel maps afresh for every large
 * reply costs more in page faults than a copy would).
 */
#define NGX_HTTP_GATEWAY_REDIS_SPARES  16

static sds     ngx_http_gateway_redis_spares[NGX_HTTP_GATEWAY_REDIS_SPARES];
static size_t  ngx_http_gateway_redis_nspares;
static size_t  ngx_http_gateway_redis_spare_bytes;

static ngx_http_gateway_spares_t  ngx_http_gateway_redis_blocks =
    ngx_http_gateway_spares(NGX_HTTP_GATEWAY_REDIS_BLOCKS);


/* named: the two versions order them differently */
static redisReplyObjectFunctions  ngx_http_gateway_redis_replies = {
    .createString = ngx_http_gateway_redis_string,
    .createArray = ngx_http_gateway_redis_array,
    .createInteger = ngx_http_gateway_redis_integer,
    .createNil = ngx_http_gateway_redis_nil,
#if (HIREDIS_MAJOR >= 1)
    .createDouble = ngx_http_gateway_redis_double,
    .createBool = ngx_http_gateway_redis_bool,
#endif
    .freeObject = ngx_http_gateway_redis_free_reply
};

/*
 * Why a reply function refused a reply: hiredis reports any refusal as
 * "Out of memory".
 */
static const char  *ngx_http_gateway_redis_refusal;


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
    ngx_http_gateway_redis_cmd_t  *cmd;
    u_char                         buf[NGX_INT_T_LEN];

    if (!ngx_http_gateway_redis_available(redis)) {
        return NULL;
    }

    /* EVALSHA sha nkeys args..., or the plain command */

    nlen = script ? ngx_sprintf(buf, "%ui", nkeys) - buf : 0;
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

    return ngx_http_gateway_redis_start(cmd, pool);
}


ngx_http_gateway_redis_cmd_t *
ngx_http_gateway_redis_command_encoded(ngx_http_gateway_redis_t *redis,
    ngx_pool_t *pool, ngx_http_gateway_redis_handler_pt handler, void *data,
    u_char *text, size_t len)
{
    ngx_uint_t                     queued;
    ngx_http_gateway_redis_cmd_t  *cmd;

    if (!ngx_http_gateway_redis_available(redis)) {
        return NULL;
    }

    /* the text is copied only to wait for the connection */

    queued = redis->link->state < NGX_HTTP_GATEWAY_LINK_CONNECTED;

    cmd = ngx_http_gateway_redis_alloc(redis, NGX_HTTP_GATEWAY_REDIS_USER, 0,
                                       queued ? len : 0);
    if (cmd == NULL) {
        return NULL;
    }

    cmd->handler = handler;
    cmd->data = data;
    cmd->text = queued ? (u_char *) ngx_cpymem(cmd->lens, text, len) - len
                       : text;
    cmd->len = len;

    return ngx_http_gateway_redis_start(cmd, pool);
}


/* A command made: sent now, or queued behind the handshake to come. */

static ngx_http_gateway_redis_cmd_t *
ngx_http_gateway_redis_start(ngx_http_gateway_redis_cmd_t *cmd,
    ngx_pool_t *pool)
{
    ngx_pool_cleanup_t        *cln;
    ngx_http_gateway_redis_t  *redis;

    redis = cmd->redis;
    cln = NULL;

    if (pool) {
        cln = ngx_pool_cleanup_add(pool, 0);
        if (cln == NULL) {
            ngx_http_gateway_redis_free_cmd(cmd);
            return NULL;
        }
    }

    cmd->deadline = ngx_current_msec + redis->timeout;

    /* on a connection that is not up yet, it follows the handshake */

    if (redis->link->state < NGX_HTTP_GATEWAY_LINK_CONNECTED) {
        ngx_queue_insert_tail(&redis->queued, &cmd->queue);

    } else if (ngx_http_gateway_redis_write(cmd) != NGX_OK) {
        ngx_http_gateway_redis_free_cmd(cmd);
        return NULL;
    }

    if (cln) {
        cln->handler = ngx_http_gateway_redis_detach;
        cln->data = cmd;
        cmd->cln = cln;
    }

    return cmd;
}


/* A command with room for argc arguments and size bytes of their text. */

static ngx_http_gateway_redis_cmd_t *
ngx_http_gateway_redis_alloc(ngx_http_gateway_redis_t *redis, ngx_uint_t kind,
    ngx_uint_t argc, size_t size)
{
    ngx_http_gateway_redis_cmd_t  *cmd;

    size += sizeof(ngx_http_gateway_redis_cmd_t)
            + argc * (sizeof(char *) + sizeof(size_t));

    cmd = ngx_http_gateway_redis_block(size);
    if (cmd == NULL) {
        return NULL;
    }

    ngx_memzero(cmd, sizeof(ngx_http_gateway_redis_cmd_t));

    cmd->size = size;
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
    int                        i;
    u_char                    *p, *text;
    size_t                     size;
    ngx_int_t                  rc;
    ngx_uint_t                 first;
    ngx_http_gateway_redis_t  *redis;
    u_char                     small[1024];

    redis = cmd->redis;

    if (cmd->text) {
        /* encoded by the caller; its memory is not kept past this */
        rc = ngx_http_gateway_link_send(redis->link, cmd->text, cmd->len);
        cmd->text = NULL;

        if (rc != NGX_OK) {
            return NGX_ERROR;
        }

        goto sent;
    }

    /* *ARGC, then $LEN and the bytes of each argument */

    size = NGX_INT_T_LEN + 3;

    for (i = 0; i < cmd->argc; i++) {
        size += NGX_SIZE_T_LEN + 5 + cmd->lens[i];
    }

    text = small;

    if (size > sizeof(small)) {
        text = ngx_alloc(size, redis->link->log);
        if (text == NULL) {
            return NGX_ERROR;
        }
    }

    p = ngx_http_gateway_redis_encode_len(text, '*', cmd->argc);

    for (i = 0; i < cmd->argc; i++) {
        p = ngx_http_gateway_redis_encode_len(p, '$', cmd->lens[i]);
        p = ngx_cpymem(p, cmd->argv[i], cmd->lens[i]);
        *p++ = '\r';
        *p++ = '\n';
    }

    rc = ngx_http_gateway_link_send(redis->link, text, p - text);

    if (text != small) {
        ngx_free(text);
    }

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

sent:

    first = ngx_queue_empty(&redis->sent);

    ngx_queue_insert_tail(&redis->sent, &cmd->queue);

    if (first) {
        ngx_http_gateway_redis_expect(redis);
    }

    return NGX_OK;
}


/*
 * RESP's "*N" and "$N" lines, written by hand: ngx_sprintf() costs more
 * than the rest of a command's encoding. The digits are counted first and
 * written backwards into their place: no copy.
 */

u_char *
ngx_http_gateway_redis_encode_len(u_char *p, u_char type, uint64_t n)
{
    *p++ = type;

    p += ngx_http_gateway_redis_ndigits(n);
    ngx_http_gateway_redis_digits(p, n);

    *p++ = '\r';
    *p++ = '\n';

    return p;
}


u_char *
ngx_http_gateway_redis_encode_uint(u_char *p, uint64_t n)
{
    ngx_uint_t  len;

    len = ngx_http_gateway_redis_ndigits(n);

    p = ngx_http_gateway_redis_encode_len(p, '$', len);

    p += len;
    ngx_http_gateway_redis_digits(p, n);

    *p++ = '\r';
    *p++ = '\n';

    return p;
}


/* how many decimal digits n takes: compared four at a time, not divided */

static ngx_uint_t
ngx_http_gateway_redis_ndigits(uint64_t n)
{
    ngx_uint_t  len;

    for (len = 1; n >= 10000; n /= 10000) {
        len += 4;
    }

    return len + (n >= 10) + (n >= 100) + (n >= 1000);
}


/* every two-digit number's digits, "00" to "99" */

static const u_char  ngx_http_gateway_redis_pairs[] =
    "00010203040506070809"
    "10111213141516171819"
    "20212223242526272829"
    "30313233343536373839"
    "40414243444546474849"
    "50515253545556575859"
    "60616263646566676869"
    "70717273747576777879"
    "80818283848586878889"
    "90919293949596979899";


/* n in decimal, written backwards to end, two digits per division */

static void
ngx_http_gateway_redis_digits(u_char *end, uint64_t n)
{
    const u_char  *pair;

    while (n >= 100) {
        pair = &ngx_http_gateway_redis_pairs[(n % 100) * 2];
        n /= 100;
        *--end = pair[1];
        *--end = pair[0];
    }

    if (n >= 10) {
        pair = &ngx_http_gateway_redis_pairs[n * 2];
        *--end = pair[1];
        *--end = pair[0];

    } else {
        *--end = (u_char) ('0' + n);
    }
}


/*
 * The oldest command's reply is due by its deadline. One timer watches the
 * deadlines and is left armed when nothing is awaited: it fires at the
 * earliest deadline a command may have, and is armed again for the oldest
 * command's when that is later. Commands that come and go meanwhile cost it
 * nothing, where arming it for each and disarming it when the link is idle
 * would cost two operations on the timer tree per command.
 */

static void
ngx_http_gateway_redis_expect(ngx_http_gateway_redis_t *redis)
{
    ngx_event_t                   *ev;
    ngx_msec_int_t                 left;
    ngx_http_gateway_redis_cmd_t  *cmd;

    if (ngx_queue_empty(&redis->sent)) {
        return;
    }

    cmd = ngx_queue_data(ngx_queue_head(&redis->sent),
                         ngx_http_gateway_redis_cmd_t, queue);

    ev = &redis->deadline;

    if (ev->timer_set
        && (ngx_msec_int_t) (ev->timer.key - cmd->deadline) <= 0)
    {
        return;
    }

    if (ev->handler == NULL) {
        ev->handler = ngx_http_gateway_redis_deadline_handler;
        ev->data = redis;
        ev->log = redis->link->log;
        ev->cancelable = 1;   /* a worker going away does not wait for it */
    }

    left = (ngx_msec_int_t) (cmd->deadline - ngx_current_msec);

    ngx_add_timer(ev, left > 0 ? left : 1);
}


static void
ngx_http_gateway_redis_deadline_handler(ngx_event_t *ev)
{
    ngx_http_gateway_redis_t      *redis;
    ngx_http_gateway_redis_cmd_t  *cmd;

    redis = ev->data;
    ev->timedout = 0;

    if (ngx_queue_empty(&redis->sent)) {
        return;
    }

    cmd = ngx_queue_data(ngx_queue_head(&redis->sent),
                         ngx_http_gateway_redis_cmd_t, queue);

    if ((ngx_msec_int_t) (cmd->deadline - ngx_current_msec) > 0) {
        ngx_http_gateway_redis_expect(redis);
        return;
    }

    ngx_http_gateway_link_fail(redis->link, "no answer within timeout", NULL);
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

    ((redisReader *) redis->reader)->privdata = redis->reader;

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
            ngx_http_gateway_redis_free_cmd(cmd);
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
    redisReader                     *reader;
    ngx_http_gateway_redis_t        *redis;
    ngx_http_gateway_redis_cmd_t    *cmd;
    ngx_http_gateway_redis_reply_t  *reply;

    redis = link->data;
    generation = link->generation;
    reader = redis->reader;

    if (data == (u_char *) reader->buf + sdslen(reader->buf)) {
        /* read in place (ngx_http_gateway_redis_buffer) */
        sdsIncrLen(reader->buf, (int) len);
        reader->len = sdslen(reader->buf);

    } else if (redisReaderFeed(reader, (char *) data, len) != REDIS_OK) {
        ngx_http_gateway_link_fail(link, "invalid answer", "no memory");
        return NGX_ERROR;
    }

    for ( ;; ) {
        reply = ngx_http_gateway_redis_next_short(reader);

        if (reply == NULL) {
            if (reader->pos == reader->len) {
                /* all read: the buffer starts over */
                sdsclear(reader->buf);
                reader->pos = 0;
                reader->len = 0;
                break;
            }

            if (redisReaderGetReply(reader, &r) != REDIS_OK) {
                ngx_http_gateway_link_fail(link, "invalid answer",
                                           ngx_http_gateway_redis_refusal
                                           ? ngx_http_gateway_redis_refusal
                                           : reader->errstr);
                ngx_http_gateway_redis_refusal = NULL;
                return NGX_ERROR;
            }

            if (r == NULL) {
                break;
            }

            reply = r;
        }

        if (reply->borrowed) {
            /* the reply takes the buffer it lies in; the reader gets another */
            reply->buffer = reader->buf;
            reply->borrowed = 0;

            reader->buf = ngx_http_gateway_redis_spare();
            reader->pos = 0;
            reader->len = 0;

            if (reader->buf == NULL) {
                ngx_http_gateway_redis_free_reply(reply);
                ngx_http_gateway_link_fail(link, "invalid answer",
                                           "no memory");
                return NGX_ERROR;
            }
        }

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
            ngx_http_gateway_redis_free_cmd(cmd);

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

        if (!reply->kept) {
            ngx_http_gateway_redis_free_reply(reply);
        }

        /* a handler may have done anything, the link is checked again */

        if (link->generation != generation) {
            return NGX_OK;
        }
    }

    ngx_http_gateway_redis_expect(redis);

    return NGX_OK;
}


/*
 * The link reads straight into the reader's buffer, where
 * redisReaderFeed() would copy what it read. Room is made for the whole of
 * a bulk reply whose length is known, so a large value is read without the
 * buffer being grown (and copied) on the way.
 */

u_char *
ngx_http_gateway_redis_buffer(ngx_http_gateway_link_t *link, size_t *size)
{
    sds                        buf;
    size_t                     want;
    redisReader               *reader;
    ngx_http_gateway_redis_t  *redis;

    redis = link->data;
    reader = redis->reader;

    if (reader == NULL) {
        return NULL;
    }

    /*
     * A buffer left empty is kept for the next replies up to a size
     * (hiredis frees it above 16k): memory the kernel maps afresh for every
     * large reply costs more in page faults than the reply's copy.
     */

    if (reader->len == 0 && sdsavail(reader->buf) > NGX_HTTP_GATEWAY_REDIS_KEEP)
    {
        sdsfree(reader->buf);
        reader->pos = 0;

        reader->buf = sdsempty();
        if (reader->buf == NULL) {
            return NULL;
        }
    }

    want = ngx_http_gateway_redis_pending(reader);

    if (sdsavail(reader->buf) < ngx_max(want, NGX_HTTP_GATEWAY_REDIS_READ)) {
        buf = sdsMakeRoomFor(reader->buf,
                             ngx_max(want, NGX_HTTP_GATEWAY_REDIS_READ));
        if (buf == NULL) {
            return NULL;
        }

        reader->buf = buf;
    }

    /*
     * A large bulk string is read to its end and no further, so that it
     * ends the buffer and is handed over without a copy; other reads take
     * one read's worth, so that what Redis pipelined behind a reply is not
     * read along with it (and moved, and copied).
     */

    *size = (want >= NGX_HTTP_GATEWAY_REDIS_LARGE)
            ? want : ngx_min(sdsavail(reader->buf), NGX_HTTP_GATEWAY_REDIS_READ);

    return (u_char *) reader->buf + sdslen(reader->buf);
}


/*
 * How much more the reply being read needs, when it is a bulk string
 * whose length has arrived ("$LEN\r\n", the '$' already taken when the
 * reader is in the middle of it); else 0. A hint only: a wrong one costs a
 * read of another size, or a copy, never a wrong reply.
 */

static size_t
ngx_http_gateway_redis_pending(redisReader *reader)
{
    char    *p, *start, *last;
    size_t   n, total;

    start = reader->buf + reader->pos;
    last = reader->buf + reader->len;
    p = start;

    if (reader->ridx == -1 && p < last && *p == '$') {
        p++;

    } else if (reader->ridx != 0
               || ngx_http_gateway_redis_first_type(reader)
                  != REDIS_REPLY_STRING)
    {
        return 0;
    }

    for (n = 0; p < last && *p >= '0' && *p <= '9'; p++) {
        n = n * 10 + (*p - '0');

        if (n > NGX_HTTP_GATEWAY_REDIS_MAX_BULK) {
            return 0;
        }
    }

    if (last - p < 2 || p[0] != '\r' || p[1] != '\n') {
        return 0;
    }

    /* what the reply takes from its start, less what is there */

    total = (p + 2 - start) + n + 2;

    return total > (size_t) (last - start) ? total - (last - start) : 0;
}


/*
 * The short replies of a cache miss (nil for its GET; OK for a SET, 1 or 0
 * for a DEL when it fills), taken without hiredis when one comes next,
 * between replies. Bytes before the reader's position are never read
 * again, so taking them is all.
 */

static ngx_http_gateway_redis_reply_t *
ngx_http_gateway_redis_next_short(redisReader *reader)
{
    u_char                          *p;
    size_t                           n, used, extra;
    ngx_uint_t                       type;
    ngx_http_gateway_redis_reply_t  *reply;

    if (!(reader->ridx == -1
          || (reader->ridx == 0
              && ngx_http_gateway_redis_first_type(reader) < 0)))
    {
        return NULL;
    }

    p = (u_char *) reader->buf + reader->pos;
    n = reader->len - reader->pos;
    extra = 0;

    if (n >= 5 && ngx_memcmp(p, "$-1\r\n", 5) == 0) {
        type = NGX_HTTP_GATEWAY_REDIS_NIL;
        used = 5;

    } else if (n >= 5 && ngx_memcmp(p, "+OK\r\n", 5) == 0) {
        type = NGX_HTTP_GATEWAY_REDIS_STATUS;
        used = 5;
        extra = sizeof("OK");

    } else if (n >= 4 && p[0] == ':' && (p[1] == '0' || p[1] == '1')
               && p[2] == '\r' && p[3] == '\n')
    {
        type = NGX_HTTP_GATEWAY_REDIS_INTEGER;
        used = 4;

    } else {
        return NULL;
    }

    reply = ngx_http_gateway_redis_block(sizeof(ngx_http_gateway_redis_reply_t)
                                         + extra);
    if (reply == NULL) {
        return NULL;   /* hiredis tries, and fails the same way */
    }

    ngx_memzero(reply, sizeof(ngx_http_gateway_redis_reply_t));
    reply->type = type;
    reply->size = sizeof(ngx_http_gateway_redis_reply_t) + extra;

    if (type == NGX_HTTP_GATEWAY_REDIS_STATUS) {
        /* terminated, as the reader's are */
        reply->str.data = ngx_cpymem(reply + 1, "OK", sizeof("OK"))
                          - sizeof("OK");
        reply->str.len = sizeof("OK") - 1;

    } else if (type == NGX_HTTP_GATEWAY_REDIS_INTEGER) {
        reply->integer = p[1] - '0';
    }

    reader->pos += used;

    return reply;
}


void
ngx_http_gateway_redis_reply_keep(ngx_http_gateway_redis_reply_t *reply)
{
    reply->kept = 1;
}


void
ngx_http_gateway_redis_reply_free(ngx_http_gateway_redis_reply_t *reply)
{
    ngx_http_gateway_redis_free_reply(reply);
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

    ngx_http_gateway_redis_free_cmd(cmd);
}


/* The connection is gone: every command still waiting gets NULL. */

static void
ngx_http_gateway_redis_closed(ngx_http_gateway_link_t *link)
{
    ngx_queue_t                   *q;
    ngx_http_gateway_redis_t      *redis;
    ngx_http_gateway_redis_cmd_t  *cmd;

    redis = link->data;

    if (redis->deadline.timer_set) {
        ngx_del_timer(&redis->deadline);
    }

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
            ngx_http_gateway_redis_free_cmd(cmd);
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

    reply = ngx_http_gateway_redis_block(sizeof(ngx_http_gateway_redis_reply_t)
                                         + extra);
    if (reply == NULL) {
        return NULL;
    }

    ngx_memzero(reply, sizeof(ngx_http_gateway_redis_reply_t));
    reply->type = type;
    reply->size = sizeof(ngx_http_gateway_redis_reply_t) + extra;

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
    redisReader                     *reader;
    ngx_http_gateway_redis_reply_t  *reply;

    if (ngx_http_gateway_redis_resp3(task)) {
        return ngx_http_gateway_redis_refuse("a RESP3 reply");
    }

    type = (task->type == REDIS_REPLY_ERROR) ? NGX_HTTP_GATEWAY_REDIS_ERROR
           : (task->type == REDIS_REPLY_STATUS) ? NGX_HTTP_GATEWAY_REDIS_STATUS
           : NGX_HTTP_GATEWAY_REDIS_STRING;

    /*
     * A large value that ends the reader's buffer is not copied: the reply
     * takes that buffer once the reader is done with it (in recv()). The
     * reader then only records that it is consumed (sdsrange() moves
     * nothing and writes its first byte, the '$'), so the value stays in
     * place.
     */

    reader = task->privdata;

    if (type == NGX_HTTP_GATEWAY_REDIS_STRING
        && task->parent == NULL
        && len >= NGX_HTTP_GATEWAY_REDIS_LARGE
        && str + len + 2 == reader->buf + reader->len)
    {
        reply = ngx_http_gateway_redis_reply(task, type, 0);
        if (reply == NULL) {
            return NULL;
        }

        reply->str.data = (u_char *) str;
        reply->str.len = len;
        reply->borrowed = 1;

        return reply;
    }

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
ngx_http_gateway_redis_array(const redisReadTask *task,
    ngx_http_gateway_redis_length_t elements)
{
    ngx_http_gateway_redis_reply_t  *reply;

    if (ngx_http_gateway_redis_resp3(task)) {
        return ngx_http_gateway_redis_refuse("a RESP3 reply");
    }

    if (ngx_http_gateway_redis_too_deep(task)) {
        return ngx_http_gateway_redis_refuse("arrays nested deeper than 7");
    }

    if (elements > NGX_HTTP_GATEWAY_REDIS_MAX_ELEMENTS) {
        return ngx_http_gateway_redis_refuse("an array of over 1048576");
    }

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
    if (ngx_http_gateway_redis_resp3(task)) {
        return ngx_http_gateway_redis_refuse("a RESP3 reply");
    }

    return ngx_http_gateway_redis_reply(task, NGX_HTTP_GATEWAY_REDIS_NIL, 0);
}


#if (HIREDIS_MAJOR >= 1)

static void *
ngx_http_gateway_redis_double(const redisReadTask *task, double value,
    char *str, size_t len)
{
    return ngx_http_gateway_redis_refuse("a RESP3 reply");
}


static void *
ngx_http_gateway_redis_bool(const redisReadTask *task, int value)
{
    return ngx_http_gateway_redis_refuse("a RESP3 reply");
}

#endif


/* NULL fails the reader, which frees what it has of the reply */

static void *
ngx_http_gateway_redis_refuse(const char *why)
{
    ngx_http_gateway_redis_refusal = why;

    return NULL;
}


/* A buffer a reply took: kept for a reader, or freed. */

static void
ngx_http_gateway_redis_recycle(sds buf)
{
    size_t  size;

    size = sdsalloc(buf);

    if (ngx_http_gateway_redis_nspares < NGX_HTTP_GATEWAY_REDIS_SPARES
        && ngx_http_gateway_redis_spare_bytes + size
           <= NGX_HTTP_GATEWAY_REDIS_KEEP)
    {
        sdsclear(buf);
        ngx_http_gateway_redis_spares[ngx_http_gateway_redis_nspares++] = buf;
        ngx_http_gateway_redis_spare_bytes += size;
        return;
    }

    sdsfree(buf);
}


/* A buffer for a reader whose buffer a reply took. */

static sds
ngx_http_gateway_redis_spare(void)
{
    sds  buf;

    if (ngx_http_gateway_redis_nspares == 0) {
        return sdsempty();
    }

    buf = ngx_http_gateway_redis_spares[--ngx_http_gateway_redis_nspares];
    ngx_http_gateway_redis_spare_bytes -= sdsalloc(buf);

    return buf;
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

    if (reply->buffer) {
        ngx_http_gateway_redis_recycle(reply->buffer);
    }

    ngx_http_gateway_redis_block_free(reply, reply->size);
}


/* Memory for a command or a reply: a recycled block when it is small. */

static void *
ngx_http_gateway_redis_block(size_t size)
{
    if (size > NGX_HTTP_GATEWAY_REDIS_BLOCK) {
        return ngx_alloc(size, ngx_cycle->log);
    }

    return ngx_http_gateway_spare_alloc(&ngx_http_gateway_redis_blocks,
                                        NGX_HTTP_GATEWAY_REDIS_BLOCK);
}


static void
ngx_http_gateway_redis_block_free(void *block, size_t size)
{
    if (size <= NGX_HTTP_GATEWAY_REDIS_BLOCK) {
        ngx_http_gateway_spare_free(&ngx_http_gateway_redis_blocks, block);
        return;
    }

    ngx_free(block);
}
