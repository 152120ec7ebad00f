/*
 * OTLP/HTTP span export: server spans encoded as protobuf
 * (opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest) and
 * batched per worker.
 */
#ifndef GW_OTLP_H
#define GW_OTLP_H

#include <stddef.h>
#include <stdint.h>

#include "gw_trace.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest attribute value exported; longer values are cut (on a UTF-8
 * character boundary). */
#define GW_OTLP_VALUE_MAX  512

typedef struct {
    const char  *data;
    size_t       len;
} gw_otlp_str_t;

/* An attribute: a string value, or an integer when is_int is set. */
typedef struct {
    gw_otlp_str_t  key;
    gw_otlp_str_t  str;
    int64_t        integer;
    int            is_int;
} gw_otlp_attr_t;

/* One SERVER span. The ids come from the request's trace context. */
typedef struct {
    const gw_trace_t      *trace;
    gw_otlp_str_t          name;
    gw_otlp_str_t          trace_state;     /* the incoming tracestate, if any */
    uint64_t               start_ns;        /* unix nanoseconds */
    uint64_t               end_ns;
    int                    error;           /* status ERROR (a 5xx) */
    const gw_otlp_attr_t  *attrs;
    size_t                 nattrs;
} gw_otlp_span_t;

typedef struct gw_otlp_batcher_s  gw_otlp_batcher_t;

typedef enum {
    GW_OTLP_OK = 0,
    GW_OTLP_DROPPED,      /* the queue is full */
    GW_OTLP_INVALID,      /* ids that are not lower-case hex */
    GW_OTLP_NOMEM
} gw_otlp_rc_e;

/*
 * A worker's span queue: at most queue spans are held (in flight included),
 * and each request body carries at most batch spans. resource_attrs are the
 * Resource's (service.name first); scope is the InstrumentationScope.
 * Returns NULL when out of memory or batch/queue are 0.
 */
gw_otlp_batcher_t *gw_otlp_batcher_create(const gw_otlp_attr_t *resource_attrs,
    size_t nresource_attrs, gw_otlp_str_t scope_name,
    gw_otlp_str_t scope_version, size_t batch, size_t queue);

void gw_otlp_batcher_destroy(gw_otlp_batcher_t *b);

/* Encodes a span into the queue. */
gw_otlp_rc_e gw_otlp_batcher_add(gw_otlp_batcher_t *b,
    const gw_otlp_span_t *span);

/*
 * An attribute key encoded once (at configuration time), so a span's
 * attribute costs the copy of its bytes: the memory is
 * gw_otlp_key_room(len) bytes, and gw_otlp_key_encode() gives len (0 for
 * an empty key, whose attributes are left out).
 */
typedef struct {
    const unsigned char  *data;
    size_t                len;
} gw_otlp_key_t;

size_t gw_otlp_key_room(size_t len);
size_t gw_otlp_key_encode(const char *key, size_t len, unsigned char *out);

/*
 * A span written straight into the queue, without a list of attributes:
 * open (its fields up to its attributes, and span->attrs if any), any
 * number of gw_otlp_span_str() and gw_otlp_span_int() (an empty string
 * adds nothing), then close. span->trace stays valid until close.
 * gw_otlp_span_open() gives GW_OTLP_OK (the span is open), GW_OTLP_DROPPED,
 * GW_OTLP_INVALID or GW_OTLP_NOMEM; gw_otlp_span_close() GW_OTLP_OK or
 * GW_OTLP_NOMEM (the span is dropped). gw_otlp_batcher_add() is the same
 * with no attribute added.
 */
gw_otlp_rc_e gw_otlp_span_open(gw_otlp_batcher_t *b, const gw_otlp_span_t *span);
void gw_otlp_span_str(gw_otlp_batcher_t *b, const gw_otlp_key_t *key,
    const char *value, size_t len);
void gw_otlp_span_int(gw_otlp_batcher_t *b, const gw_otlp_key_t *key,
    int64_t value);
gw_otlp_rc_e gw_otlp_span_close(gw_otlp_batcher_t *b);

/*
 * n string attributes in one call, values[i] under keys[i] (an empty value
 * adds nothing): the span's usual attributes cost the copy of their bytes.
 */
void gw_otlp_span_strs(gw_otlp_batcher_t *b, const gw_otlp_key_t *keys,
    const gw_otlp_str_t *values, size_t n);

/*
 * Attributes encoded ahead, for values many spans share (a connection's
 * client address): gw_otlp_str_encode() and gw_otlp_int_encode() write one
 * at out, which has gw_otlp_attr_room(key, len) bytes (len 0 for an
 * integer), and return the bytes it takes (0 for an empty string or key);
 * gw_otlp_span_encoded() adds such bytes to the open span as they are.
 */
size_t gw_otlp_attr_room(const gw_otlp_key_t *key, size_t len);
size_t gw_otlp_str_encode(const gw_otlp_key_t *key, const char *value,
    size_t len, unsigned char *out);
size_t gw_otlp_int_encode(const gw_otlp_key_t *key, int64_t value,
    unsigned char *out);
void gw_otlp_span_encoded(gw_otlp_batcher_t *b, const unsigned char *bytes,
    size_t len);

/* Spans queued and not in flight; spans held in all (in flight included). */
size_t gw_otlp_batcher_pending(const gw_otlp_batcher_t *b);
size_t gw_otlp_batcher_held(const gw_otlp_batcher_t *b);

/*
 * Takes the oldest batch (even a partial one) as a request body that stays
 * valid until gw_otlp_batcher_release(). Returns the number of spans in it,
 * 0 when nothing is pending or a batch is already in flight.
 */
size_t gw_otlp_batcher_take(gw_otlp_batcher_t *b, const unsigned char **body,
    size_t *len);

/* The body of the batch in flight again (empty when none is). */
void gw_otlp_batcher_body(const gw_otlp_batcher_t *b,
    const unsigned char **body, size_t *len);

/*
 * Ends the batch in flight: done (delivered, or refused for good) frees its
 * spans; otherwise it stays first in line and the next take sends it again.
 */
void gw_otlp_batcher_release(gw_otlp_batcher_t *b, int done);


/*
 * The value of http.request.method: the method when it is one of HTTP's
 * (RFC 9110, PATCH), else NULL: the span then carries "_OTHER" and the
 * method as http.request.method_original.
 */
const char *gw_otlp_known_method(const char *method, size_t len);

/*
 * Parses the protobuf body of an OTLP/HTTP answer
 * (ExportTraceServiceResponse): *rejected gets partial_success's
 * rejected_spans and *message its error_message (a view into body).
 * Returns 0, or -1 when the body is not such a message.
 */
int gw_otlp_parse_response(const unsigned char *body, size_t len,
    int64_t *rejected, gw_otlp_str_t *message);

#ifdef __cplusplus
}
#endif

#endif
