/* W3C Trace Context (traceparent version 00). */
#ifndef GW_TRACE_H
#define GW_TRACE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GW_TRACEPARENT_LEN  55   /* "00-" trace(32) "-" span(16) "-" flags(2) */
#define GW_TRACE_ID_LEN     32
#define GW_SPAN_ID_LEN      16
#define GW_TRACE_FLAGS_LEN  2
#define GW_TRACE_RANDOM     24   /* 16 bytes for a new trace id, 8 for the span id */

/* Ids are kept as the lower-case hex text they travel as. */
typedef struct gw_trace_s {
    char          trace_id[GW_TRACE_ID_LEN];
    char          parent_id[GW_SPAN_ID_LEN];   /* meaningful when continued */
    char          span_id[GW_SPAN_ID_LEN];     /* this hop's span */
    char          flags[GW_TRACE_FLAGS_LEN];
    unsigned char continued;                   /* 1: a valid parent was given */
} gw_trace_t;

/*
 * Continues the incoming traceparent when it is valid, else starts a trace.
 * incoming may be NULL (no header). random holds GW_TRACE_RANDOM bytes.
 */
void gw_trace_begin(const char *incoming, size_t len, const unsigned char *random,
                    gw_trace_t *out);

/* 1 when value is a valid version-00 traceparent. */
int gw_traceparent_is_valid(const char *value, size_t len);

/* Writes the GW_TRACEPARENT_LEN characters of the child traceparent. */
void gw_trace_format_child(const gw_trace_t *trace, char *out);

/*
 * Sampling of new traces by trace id, as OpenTelemetry's TraceIdRatioBased:
 * a trace is sampled when the last 56 bits of its id are at least the
 * threshold (1 - ratio) * 2^56, so every gateway decides alike and a trace
 * kept at one ratio is kept at every higher ratio.
 *
 * Parses a ratio written as 0, 1 or a decimal fraction between them (at most
 * 9 digits after the point); returns 0 and sets *threshold, -1 if invalid.
 */
int gw_trace_ratio_threshold(const char *text, size_t len, uint64_t *threshold);

/* 1 when the trace (32 lower-case hex characters) is sampled. */
int gw_trace_id_sampled(const char *trace_id, uint64_t threshold);

/*
 * Applies a ratio's threshold to a trace the gateway starts: its flags say
 * sampled (01) or not (00). A continued trace keeps its parent's flags.
 */
void gw_trace_sample_new(gw_trace_t *trace, uint64_t threshold);

#ifdef __cplusplus
}
#endif

#endif
