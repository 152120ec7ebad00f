/*
 * An HTTP/1.1 response read as it arrives, for the module's own clients
 * (the Consul poller): status line, headers (bounded), and a body framed by
 * Content-Length, chunked transfer coding or the end of the connection,
 * handed on in pieces without being kept.
 *
 * Strict where a lax reading could be abused (RFC 9112): a response with
 * both Transfer-Encoding and Content-Length, differing Content-Lengths, an
 * unknown transfer coding or a folded header line is an error. Bare LF line
 * ends are accepted, as the RFC allows.
 */
#ifndef GW_HTTP_H
#define GW_HTTP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    GW_HTTP_AGAIN = 0,      /* more input is needed */
    GW_HTTP_DONE = 1,       /* the response is complete */
    GW_HTTP_ERROR = 2       /* malformed, or the body was refused */
} gw_http_rc_t;

/* Takes the next piece of the body; non-zero refuses it (GW_HTTP_ERROR). */
typedef int (*gw_http_body_pt)(void *ctx, const char *data, size_t len);

typedef struct gw_http_response_s  gw_http_response_t;

/* max_header: bytes of the status line and headers together. */
gw_http_response_t *gw_http_response_new(size_t max_header);
void gw_http_response_free(gw_http_response_t *r);

/* Starts reading a response; body pieces go to body(ctx, ...). */
void gw_http_response_reset(gw_http_response_t *r, gw_http_body_pt body,
                            void *ctx);

/*
 * Reads data; *used says how much of it belongs to the response (after
 * GW_HTTP_DONE, what follows is not part of it).
 */
gw_http_rc_t gw_http_response_feed(gw_http_response_t *r, const char *data,
                                   size_t len, size_t *used);

/* The connection closed: completes a body that runs to the end of it. */
gw_http_rc_t gw_http_response_eof(gw_http_response_t *r);

/* The status code, 0 before the status line is read. */
int gw_http_response_status(const gw_http_response_t *r);

/* 1 when the connection may carry another request after this response. */
int gw_http_response_keep_alive(const gw_http_response_t *r);

/* 1 once the headers are read. */
int gw_http_response_has_headers(const gw_http_response_t *r);

/*
 * The value of the last header called name (any case), without the
 * surrounding whitespace, or NULL.
 */
const char *gw_http_response_header(const gw_http_response_t *r,
                                    const char *name, size_t *len);

/* Why the response is malformed, for the error log. */
const char *gw_http_response_error(const gw_http_response_t *r);

#ifdef __cplusplus
}
#endif

#endif
