/*
 * A fill: one response copied into one entry and SET in Redis, by the one
 * request holding the key's fill lock.
 *
 *   SET lock 1 NX PX 5000            once the response is known to be
 *                                    storable; nothing waits for it
 *   SET entry VALUE PX TTL           once the body is complete and the
 *                                    lock is held; encoded around the
 *                                    entry where it was put together, so
 *                                    that it goes to the connection with
 *                                    no further copy
 *   DEL lock                         pipelined after the entry, or when
 *                                    the fill is abandoned
 *
 * The lock is released as soon as the entry is in place, so that a bypass
 * or a deleted entry can be filled again at once. It only spares Redis and
 * the workers concurrent copies of one response: a fill slower than the
 * lock's 5s that deletes the next filler's lock lets a third one fill too,
 * which costs one more SET of the same entry and nothing else, so the lock
 * carries no token to check against.
 *
 * The fill has its own memory: a fast upstream can end the response before
 * Redis answers for the lock, and the entry then waits for that answer.
 * The Redis client answers every command exactly once (NULL on failure or
 * timeout), so the fill always ends.
 */

#include "ngx_http_gateway_cache.h"


#define NGX_HTTP_GATEWAY_CACHE_LOCK_ASKED    0
#define NGX_HTTP_GATEWAY_CACHE_LOCK_HELD     1
#define NGX_HTTP_GATEWAY_CACHE_LOCK_REFUSED  2

/*
 * Room before the entry for the SET's head ("*5 $3 SET $73 KEY $LEN", 106
 * bytes at most) and after it for "PX $N TTL".
 */
#define NGX_HTTP_GATEWAY_CACHE_SET_HEAD      128
#define NGX_HTTP_GATEWAY_CACHE_SET_TAIL      64

/*
 * The lock's commands, encoded here around its key: "SET lock 1 NX PX
 * 5000" (a fill slower than 5s lets another request fill), then "DEL lock";
 * their heads are as long ("*6 $3 SET $NN", "*2 $3 DEL $NN": a lock key's
 * length has two digits), the DEL's tail is the SET's first two bytes.
 */
#define NGX_HTTP_GATEWAY_CACHE_LOCK_SET   "*6\r\n$3\r\nSET\r\n$"
#define NGX_HTTP_GATEWAY_CACHE_LOCK_DEL   "*2\r\n$3\r\nDEL\r\n$"
#define NGX_HTTP_GATEWAY_CACHE_LOCK_HEAD  (sizeof(NGX_HTTP_GATEWAY_CACHE_LOCK_SET) + 3)
#define NGX_HTTP_GATEWAY_CACHE_LOCK_TAIL                                      \
    "\r\n$1\r\n1\r\n$2\r\nNX\r\n$2\r\nPX\r\n$4\r\n5000\r\n"

#if (GW_CACHE_LOCK_KEY_LEN > 99)
#error "a lock key's length must take two digits"
#endif

/*
 * A fill is one block of this size, kept by the worker for the next one;
 * an entry that fits in what the fill leaves of it (with its SET around
 * it) is put together there, a larger one in memory of its own.
 */
#define NGX_HTTP_GATEWAY_CACHE_FILL_BLOCK    4096


struct ngx_http_gateway_cache_fill_s {
    ngx_http_gateway_cache_loc_conf_t  *conf;
    ngx_http_gateway_cache_ctx_t       *ctx;      /* NULL: the request ended */

    ngx_uint_t                          lock;
    unsigned                            complete:1;
    unsigned                            abandoned:1;


    u_char                             *data;     /* the block's, or own */
    u_char                             *entry;    /* in it, after SET_HEAD */
    size_t                              head;     /* the entry's head */
    size_t                              len;      /* the entry so far */
    size_t                              size;     /* room for the entry */
    size_t                              max;      /* head and max_size */
    uint64_t                            ttl_ms;

    size_t                              key_len;
    size_t                              lock_key_len;

    /* not zeroed: the keys, and the lock's SET (later its DEL) */
    u_char                              key[GW_CACHE_KEY_LEN];
    u_char                              lock_command[
                                            NGX_HTTP_GATEWAY_CACHE_LOCK_HEAD
                                            + GW_CACHE_LOCK_KEY_LEN
                                            + sizeof(
                                              NGX_HTTP_GATEWAY_CACHE_LOCK_TAIL)];

    /* the rest of the block: room for a small entry */
    u_char                              room[1];
};

#define NGX_HTTP_GATEWAY_CACHE_FILL_ROOM                                      \
    (NGX_HTTP_GATEWAY_CACHE_FILL_BLOCK                                        \
     - offsetof(ngx_http_gateway_cache_fill_t, room))


static void ngx_http_gateway_cache_fill_locked(void *data,
    ngx_http_gateway_redis_reply_t *reply);
static void ngx_http_gateway_cache_fill_store(
    ngx_http_gateway_cache_fill_t *fill);
static void ngx_http_gateway_cache_fill_stored(void *data,
    ngx_http_gateway_redis_reply_t *reply);
static void ngx_http_gateway_cache_fill_unlock(
    ngx_http_gateway_cache_fill_t *fill);
static void ngx_http_gateway_cache_fill_unlocked(void *data,
    ngx_http_gateway_redis_reply_t *reply);
static void ngx_http_gateway_cache_fill_destroy(
    ngx_http_gateway_cache_fill_t *fill);
static void ngx_http_gateway_cache_fill_lock_head(
    ngx_http_gateway_cache_fill_t *fill, const char *head);
static void ngx_http_gateway_cache_fill_free_data(
    ngx_http_gateway_cache_fill_t *fill);


static ngx_http_gateway_spares_t  ngx_http_gateway_cache_fills =
    ngx_http_gateway_spares(NGX_HTTP_GATEWAY_CACHE_SPARES);


ngx_http_gateway_cache_fill_t *
ngx_http_gateway_cache_fill_create(ngx_http_gateway_cache_ctx_t *ctx,
    uint64_t ttl_ms)
{
    u_char                         *p;
    ngx_http_gateway_cache_fill_t  *fill;

    fill = ngx_http_gateway_spare_alloc(&ngx_http_gateway_cache_fills,
                                        NGX_HTTP_GATEWAY_CACHE_FILL_BLOCK);
    if (fill == NULL) {
        return NULL;
    }

    ngx_memzero(fill, offsetof(ngx_http_gateway_cache_fill_t, key));

    fill->conf = ctx->conf;
    fill->ctx = ctx;
    fill->ttl_ms = ttl_ms;
    fill->key_len = ctx->key_len;
    ngx_memcpy(fill->key, ngx_http_gateway_cache_key(ctx), ctx->key_len);

    /* SET lock 1 NX PX 5000 */

    p = fill->lock_command + NGX_HTTP_GATEWAY_CACHE_LOCK_HEAD;
    fill->lock_key_len = gw_cache_lock_key((const char *) fill->key,
                                           fill->key_len, (char *) p);
    ngx_http_gateway_cache_fill_lock_head(fill,
                                          NGX_HTTP_GATEWAY_CACHE_LOCK_SET);
    p = ngx_cpymem(p + fill->lock_key_len, NGX_HTTP_GATEWAY_CACHE_LOCK_TAIL,
                   sizeof(NGX_HTTP_GATEWAY_CACHE_LOCK_TAIL) - 1);

    /* no pool: the answer always comes, and the fill waits for it */

    if (ngx_http_gateway_redis_command_encoded(ctx->conf->redis, NULL,
                                       ngx_http_gateway_cache_fill_locked,
                                       fill, fill->lock_command,
                                       p - fill->lock_command)
        == NULL)
    {
        ngx_http_gateway_spare_free(&ngx_http_gateway_cache_fills, fill);
        return NULL;
    }

    fill->lock = NGX_HTTP_GATEWAY_CACHE_LOCK_ASKED;

    return fill;
}


/* "*6 $3 SET $NN" or "*2 $3 DEL $NN" before the lock's key */

static void
ngx_http_gateway_cache_fill_lock_head(ngx_http_gateway_cache_fill_t *fill,
    const char *head)
{
    u_char  *p;

    p = ngx_cpymem(fill->lock_command, head,
                   NGX_HTTP_GATEWAY_CACHE_LOCK_HEAD - 4);
    *p++ = (u_char) ('0' + fill->lock_key_len / 10);
    *p++ = (u_char) ('0' + fill->lock_key_len % 10);
    *p++ = '\r';
    *p = '\n';
}


u_char *
ngx_http_gateway_cache_fill_start(ngx_http_gateway_cache_fill_t *fill,
    size_t head, size_t body_hint)
{
    size_t  size;

    size = NGX_HTTP_GATEWAY_CACHE_SET_HEAD + head + body_hint
           + NGX_HTTP_GATEWAY_CACHE_SET_TAIL;

    if (size <= NGX_HTTP_GATEWAY_CACHE_FILL_ROOM) {
        fill->data = fill->room;
        size = NGX_HTTP_GATEWAY_CACHE_FILL_ROOM;

    } else {
        fill->data = ngx_alloc(size, ngx_cycle->log);
        if (fill->data == NULL) {
            return NULL;
        }
    }

    fill->entry = fill->data + NGX_HTTP_GATEWAY_CACHE_SET_HEAD;
    fill->head = head;
    fill->len = head;
    fill->size = size - NGX_HTTP_GATEWAY_CACHE_SET_HEAD
                 - NGX_HTTP_GATEWAY_CACHE_SET_TAIL;
    fill->max = head + fill->conf->max_size;

    return fill->entry;
}


/*
 * A buffer's bytes appended to the entry. A proxied body may lie in the
 * upstream's temporary file when the client reads slowly: it is read back
 * as nginx's own output chain does to send it (this worker has just written
 * it: the page cache holds it).
 */

ngx_int_t
ngx_http_gateway_cache_fill_append(ngx_http_gateway_cache_fill_t *fill,
    ngx_buf_t *b)
{
    off_t    size;
    size_t   want;
    u_char  *data;
    ssize_t  n;

    size = ngx_buf_size(b);

    if (size == 0 || ngx_buf_special(b)) {
        return NGX_OK;
    }

    if ((off_t) (fill->max - fill->len) < size) {
        return NGX_DECLINED;
    }

    if ((off_t) (fill->size - fill->len) < size) {
        want = ngx_max(fill->size * 2, fill->len + (size_t) size);
        want = ngx_min(want, fill->max);

        data = ngx_alloc(NGX_HTTP_GATEWAY_CACHE_SET_HEAD + want
                         + NGX_HTTP_GATEWAY_CACHE_SET_TAIL, ngx_cycle->log);
        if (data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(data + NGX_HTTP_GATEWAY_CACHE_SET_HEAD, fill->entry,
                   fill->len);
        ngx_http_gateway_cache_fill_free_data(fill);

        fill->data = data;
        fill->entry = data + NGX_HTTP_GATEWAY_CACHE_SET_HEAD;
        fill->size = want;
    }

    if (ngx_buf_in_memory(b)) {
        ngx_memcpy(fill->entry + fill->len, b->pos, (size_t) size);

    } else {
        n = ngx_read_file(b->file, fill->entry + fill->len, (size_t) size,
                          b->file_pos);
        if (n != size) {
            return NGX_ERROR;
        }
    }

    fill->len += (size_t) size;

    return NGX_OK;
}


void
ngx_http_gateway_cache_fill_complete(ngx_http_gateway_cache_fill_t *fill)
{
    gw_cache_entry_set_body_len(fill->entry, fill->len - fill->head);

    fill->complete = 1;

    switch (fill->lock) {

    case NGX_HTTP_GATEWAY_CACHE_LOCK_HELD:
        ngx_http_gateway_cache_fill_store(fill);
        ngx_http_gateway_cache_fill_destroy(fill);
        break;

    case NGX_HTTP_GATEWAY_CACHE_LOCK_REFUSED:
        ngx_http_gateway_cache_fill_destroy(fill);
        break;

    default: /* asked: the answer completes the fill */
        if (fill->ctx) {
            fill->ctx->fill = NULL;
            fill->ctx = NULL;
        }
    }
}


void
ngx_http_gateway_cache_fill_abandon(ngx_http_gateway_cache_fill_t *fill)
{
    fill->abandoned = 1;

    if (fill->ctx) {
        fill->ctx->fill = NULL;
        fill->ctx = NULL;
    }

    ngx_http_gateway_cache_fill_free_data(fill);

    if (fill->lock == NGX_HTTP_GATEWAY_CACHE_LOCK_ASKED) {
        return;   /* the answer ends the fill */
    }

    ngx_http_gateway_cache_fill_unlock(fill);
    ngx_http_gateway_cache_fill_destroy(fill);
}


static void
ngx_http_gateway_cache_fill_locked(void *data,
    ngx_http_gateway_redis_reply_t *reply)
{
    ngx_http_gateway_cache_fill_t *fill = data;

    /* "OK", or nil when another request fills; NULL: Redis in trouble */

    fill->lock = (reply != NULL
                  && reply->type == NGX_HTTP_GATEWAY_REDIS_STATUS)
                 ? NGX_HTTP_GATEWAY_CACHE_LOCK_HELD
                 : NGX_HTTP_GATEWAY_CACHE_LOCK_REFUSED;

    if (fill->abandoned) {
        ngx_http_gateway_cache_fill_unlock(fill);
        ngx_http_gateway_cache_fill_destroy(fill);

    } else if (fill->complete) {
        if (fill->lock == NGX_HTTP_GATEWAY_CACHE_LOCK_HELD) {
            ngx_http_gateway_cache_fill_store(fill);
        }

        ngx_http_gateway_cache_fill_destroy(fill);
    }
}


static void
ngx_http_gateway_cache_fill_store(ngx_http_gateway_cache_fill_t *fill)
{
    u_char  *p, *start, *last;
    size_t   n;
    u_char   head[NGX_HTTP_GATEWAY_CACHE_SET_HEAD];

    /* SET KEY VALUE PX TTL in RESP, around the entry */

    p = ngx_cpymem(head, "*5\r\n$3\r\nSET\r\n", sizeof("*5\r\n$3\r\nSET\r\n") - 1);
    p = ngx_http_gateway_redis_encode_len(p, '$', fill->key_len);
    p = ngx_cpymem(p, fill->key, fill->key_len);
    *p++ = '\r';
    *p++ = '\n';
    p = ngx_http_gateway_redis_encode_len(p, '$', fill->len);

    n = p - head;
    start = ngx_cpymem(fill->entry - n, head, n) - n;

    last = ngx_cpymem(fill->entry + fill->len, "\r\n$2\r\nPX\r\n",
                      sizeof("\r\n$2\r\nPX\r\n") - 1);
    last = ngx_http_gateway_redis_encode_uint(last, fill->ttl_ms);

    (void) ngx_http_gateway_redis_command_encoded(fill->conf->redis, NULL,
                                          ngx_http_gateway_cache_fill_stored,
                                          fill->conf, start, last - start);

    ngx_http_gateway_cache_fill_unlock(fill);
}


static void
ngx_http_gateway_cache_fill_stored(void *data,
    ngx_http_gateway_redis_reply_t *reply)
{
    ngx_http_gateway_cache_loc_conf_t *conf = data;

    if (reply == NULL || reply->type == NGX_HTTP_GATEWAY_REDIS_ERROR) {
        ngx_http_gateway_cache_log_trouble(ngx_cycle->log, conf,
                                           "did not store an entry",
                                           reply ? (char *) reply->str.data
                                                 : NULL);
    }
}


static void
ngx_http_gateway_cache_fill_unlock(ngx_http_gateway_cache_fill_t *fill)
{
    if (fill->lock != NGX_HTTP_GATEWAY_CACHE_LOCK_HELD) {
        return;
    }

    fill->lock = NGX_HTTP_GATEWAY_CACHE_LOCK_REFUSED;

    /* DEL lock, in the SET's place: sent (copied) before this returns */

    ngx_http_gateway_cache_fill_lock_head(fill,
                                          NGX_HTTP_GATEWAY_CACHE_LOCK_DEL);

    (void) ngx_http_gateway_redis_command_encoded(fill->conf->redis, NULL,
                                          ngx_http_gateway_cache_fill_unlocked,
                                          NULL, fill->lock_command,
                                          NGX_HTTP_GATEWAY_CACHE_LOCK_HEAD
                                          + fill->lock_key_len + 2);
}


static void
ngx_http_gateway_cache_fill_unlocked(void *data,
    ngx_http_gateway_redis_reply_t *reply)
{
    /* nothing waits for it: a lock not released expires */
}


/*
 * The fill goes: the commands still on their way (the entry's SET, the
 * lock's DEL) do not need it.
 */

static void
ngx_http_gateway_cache_fill_destroy(ngx_http_gateway_cache_fill_t *fill)
{
    if (fill->ctx) {
        fill->ctx->fill = NULL;
        fill->ctx = NULL;
    }

    ngx_http_gateway_cache_fill_free_data(fill);
    ngx_http_gateway_spare_free(&ngx_http_gateway_cache_fills, fill);
}


static void
ngx_http_gateway_cache_fill_free_data(ngx_http_gateway_cache_fill_t *fill)
{
    if (fill->data != NULL && fill->data != fill->room) {
        ngx_free(fill->data);
    }

    fill->data = NULL;
}
