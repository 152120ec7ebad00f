/*
 * Consul service discovery, the parts that need no nginx: reading a
 * /v1/health/service reply into a peer set, the blocking-query loop's
 * rules (index, rate limit, error backoff), the dump file that keeps the
 * last good set, and the request a poller sends.
 *
 * Peers are plain data (they are copied into shared memory by the glue);
 * a set is sorted by address and port with no two peers at the same
 * address and port, so two sets are compared with one loop. Time is passed
 * in as milliseconds of a monotonic clock, randomness as a number.
 */
#ifndef GW_CONSUL_H
#define GW_CONSUL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The longest host name (RFC 1035); IP literals are shorter. */
#define GW_CONSUL_HOST_MAX      253

/* "[" IPv6 "]:" port, or a host name and port, with its NUL. */
#define GW_CONSUL_PEER_TEXT_MAX (GW_CONSUL_HOST_MAX + 8)

/* Longest service name, tag, datacenter and ACL token accepted. */
#define GW_CONSUL_NAME_MAX      255
#define GW_CONSUL_TOKEN_MAX     512

/* Consul caps a blocking query's wait at ten minutes. */
#define GW_CONSUL_MAX_WAIT_S    600

typedef enum {
    GW_CONSUL_IPV4 = 1,
    GW_CONSUL_IPV6 = 2,
    GW_CONSUL_NAME = 3      /* a host name, to be resolved by the caller */
} gw_consul_addr_kind_t;

typedef struct {
    uint8_t   addr[16];     /* IPv4 (first 4 bytes) or IPv6, network order; zero for names */
    uint32_t  weight;       /* Service.Weights.Passing; 0: no traffic */
    uint16_t  port;
    uint8_t   kind;         /* gw_consul_addr_kind_t */
    uint8_t   host_len;
    char      host[GW_CONSUL_HOST_MAX + 1];  /* canonical text, NUL terminated:
                                                inet_ntop's form, or a lower-case name */
} gw_consul_peer_t;

typedef enum {
    GW_CONSUL_OK = 0,
    GW_CONSUL_SYNTAX,            /* the reply is not a JSON array of objects */
    GW_CONSUL_BAD_ENTRY,         /* an entry is not valid JSON */
    GW_CONSUL_ENTRY_TOO_LARGE,   /* an entry is longer than max_entry */
    GW_CONSUL_TRUNCATED,         /* the reply ended inside the array */
    GW_CONSUL_BAD_DUMP,          /* a dump file that does not read back */
    GW_CONSUL_NO_MEMORY
} gw_consul_status_t;

const char *gw_consul_status_text(gw_consul_status_t status);


/* ---- peers ---------------------------------------------------------- */

/*
 * A peer from an address (IPv4, IPv6 without brackets, or a host name) and
 * a port. Returns NULL, or why the address or port cannot be used.
 */
const char *gw_consul_peer_make(const char *address, size_t len,
                                uint64_t port, uint32_t weight,
                                gw_consul_peer_t *peer);

/*
 * A peer from "HOST:PORT" or "[IPv6]:PORT" (a server line, a dump line).
 * Returns NULL, or why it cannot be used.
 */
const char *gw_consul_peer_parse(const char *text, size_t len,
                                 uint32_t weight, gw_consul_peer_t *peer);

/* "HOST:PORT" or "[IPv6]:PORT" into out (NUL terminated); its length. */
size_t gw_consul_peer_format(const gw_consul_peer_t *peer, char *out,
                             size_t cap);

/* Orders peers by address and port (the weight is not compared). */
int gw_consul_peer_compare(const gw_consul_peer_t *a,
                           const gw_consul_peer_t *b);

/* 1 when the two sets hold the same peers with the same weights. */
int gw_consul_peers_equal(const gw_consul_peer_t *a, size_t na,
                          const gw_consul_peer_t *b, size_t nb);


/* ---- the /v1/health/service reply ----------------------------------- */

typedef struct {
    size_t  max_peers;      /* distinct peers kept (the lowest addresses) */
    size_t  max_entry;      /* bytes of one entry of the reply's array */
} gw_consul_limits_t;

#define GW_CONSUL_DEFAULT_MAX_PEERS  128
#define GW_CONSUL_DEFAULT_MAX_ENTRY  (256 * 1024)

typedef struct {
    const gw_consul_peer_t  *peers;    /* sorted and distinct; owned by the
                                          reader until its next reset */
    size_t                   npeers;
    size_t                   entries;  /* entries in the reply */
    size_t                   skipped;  /* entries not used (see skip_reason) */
    size_t                   names;    /* peers whose address is a host name */
    unsigned                 truncated; /* more distinct peers than max_peers */
    const char              *skip_reason; /* why the first skipped entry was,
                                             or NULL */
} gw_consul_result_t;

/*
 * Reads a reply as it arrives, one entry of the array at a time: memory
 * holds the largest entry and at most twice max_peers peers, however long
 * the reply is.
 */
typedef struct gw_consul_reader_s  gw_consul_reader_t;

gw_consul_reader_t *gw_consul_reader_new(const gw_consul_limits_t *limits);
void gw_consul_reader_free(gw_consul_reader_t *reader);

/* Forgets the reply read so far, to read another. */
void gw_consul_reader_reset(gw_consul_reader_t *reader);

/* The next bytes of the body; after an error, that error again. */
gw_consul_status_t gw_consul_reader_feed(gw_consul_reader_t *reader,
                                         const char *data, size_t len);

/* The body has ended: the peer set, or why the reply is unusable. */
gw_consul_status_t gw_consul_reader_finish(gw_consul_reader_t *reader,
                                           gw_consul_result_t *result);

/* What went wrong, with the entry and byte: for the error log. */
const char *gw_consul_reader_error(const gw_consul_reader_t *reader);


/* ---- the blocking-query loop ---------------------------------------- */

/*
 * Rate limit: a token bucket (Consul's advice for blocking loops): up to
 * burst requests follow each other at once, then one per interval. Errors
 * wait backoff, doubling up to max_backoff, scaled down by up to half at
 * random so that many gateways do not retry together.
 */
typedef struct {
    int64_t   interval_ms;
    uint32_t  burst;
    int64_t   backoff_ms;
    int64_t   max_backoff_ms;
} gw_consul_poll_conf_t;

#define GW_CONSUL_DEFAULT_INTERVAL_MS     1000
#define GW_CONSUL_DEFAULT_BURST           3
#define GW_CONSUL_DEFAULT_BACKOFF_MS      500
#define GW_CONSUL_DEFAULT_MAX_BACKOFF_MS  10000

void gw_consul_poll_conf_default(gw_consul_poll_conf_t *conf);

/* Plain data: the glue keeps it in shared memory, where status reads it. */
typedef struct {
    uint64_t  index;        /* the last index seen; 0: none */
    int64_t   tat;          /* rate limit: when the bucket is full again */
    int64_t   retry_at;     /* after errors: no request before */
    uint32_t  errors;       /* consecutive */
    uint32_t  server;       /* which of the configured servers to ask */
} gw_consul_poll_t;

typedef enum {
    GW_CONSUL_INDEX_SAME = 0,      /* no newer state (the wait ran out) */
    GW_CONSUL_INDEX_ADVANCED = 1,
    GW_CONSUL_INDEX_RESET = 2,     /* went backwards: the next query does not block */
    GW_CONSUL_INDEX_INVALID = 3    /* 0, missing or not a number: 1 is used */
} gw_consul_index_event_t;

void gw_consul_poll_init(gw_consul_poll_t *poll);

/* Milliseconds until the next request may start (0: now). */
int64_t gw_consul_poll_delay(const gw_consul_poll_t *poll,
                             const gw_consul_poll_conf_t *conf, int64_t now);

/*
 * A request starts now: takes a token; returns the index to send. Only a
 * connection that already answered (same_server) may block on the last
 * index; on a new one the query returns at once (0): behind it may be a
 * Consul that restarted, or another server, at a lower index, where a
 * blocking query would answer only when its wait runs out. A new
 * connection is the first of a poller (a new worker after a reload, one
 * that takes over), the first after an error or a failover, and the one
 * after Consul closed an idle connection.
 */
uint64_t gw_consul_poll_begin(gw_consul_poll_t *poll,
                              const gw_consul_poll_conf_t *conf, int64_t now,
                              int same_server);

/*
 * A 200 reply carried X-Consul-Index reply_index (0 when it was missing,
 * zero, negative or not a number: see gw_consul_index_parse). Applies
 * Consul's rules: an index that goes backwards resets to 0; one below 1
 * is taken as 1.
 */
gw_consul_index_event_t gw_consul_poll_success(gw_consul_poll_t *poll,
                                               uint64_t reply_index);

/*
 * The request failed (no connection, a non-200 status, a malformed or hung
 * reply): the next one waits, and goes to the next of nservers servers.
 * random is any 32-bit number. Returns the delay chosen.
 */
int64_t gw_consul_poll_failure(gw_consul_poll_t *poll,
                               const gw_consul_poll_conf_t *conf,
                               uint32_t nservers, int64_t now,
                               uint32_t random);

/* An X-Consul-Index header value; 0 when it is not a positive number. */
uint64_t gw_consul_index_parse(const char *text, size_t len);


/* ---- the request ----------------------------------------------------- */

typedef struct {
    const char  *service;  size_t service_len;
    const char  *tag;      size_t tag_len;     /* may be empty */
    const char  *dc;       size_t dc_len;      /* may be empty */
    const char  *token;    size_t token_len;   /* may be empty */
    const char  *host;     size_t host_len;    /* the Host header */
    uint32_t     wait_s;   /* 1 .. GW_CONSUL_MAX_WAIT_S */
} gw_consul_query_t;

/*
 * NULL when a name, tag, datacenter or token can be sent (visible ASCII,
 * not too long), else why not: checked at configuration time.
 */
const char *gw_consul_query_check(const gw_consul_query_t *query);

/*
 * The whole request, "GET /v1/health/service/...?passing=true&index=N
 * &wait=Ws[&tag=T][&dc=D] HTTP/1.1" and its headers (X-Consul-Token when
 * there is a token), into out. Returns its length, or 0 when out is too
 * small or the query does not pass gw_consul_query_check.
 */
size_t gw_consul_request(const gw_consul_query_t *query, uint64_t index,
                         char *out, size_t cap);


/* ---- the dump file ---------------------------------------------------- */

/* An upper bound of a dump's length. */
size_t gw_consul_dump_size(size_t service_len, size_t npeers);

/* Writes the dump of a set into out; its length, or 0 when out is too small. */
size_t gw_consul_dump_write(const char *service, size_t service_len,
                            uint64_t index, const gw_consul_peer_t *peers,
                            size_t npeers, char *out, size_t cap);

/*
 * Reads a dump written for service: the peers (at most cap, the lowest
 * addresses; *truncated says when more were left out) and the index.
 * GW_CONSUL_BAD_DUMP with the line and reason in err otherwise.
 */
gw_consul_status_t gw_consul_dump_read(const char *text, size_t len,
                                       const char *service, size_t service_len,
                                       gw_consul_peer_t *peers, size_t cap,
                                       size_t *npeers, unsigned *truncated,
                                       uint64_t *index,
                                       char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
