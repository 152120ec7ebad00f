/*
 * A streaming JSON writer for the status API: values go straight to a
 * sink, strings are escaped (invalid UTF-8 becomes U+FFFD), commas and
 * nesting are tracked, and misuse (a value where a key is due, a close
 * that does not match) stops the output instead of writing bad JSON.
 */
#ifndef GW_JSON_WRITER_H
#define GW_JSON_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "gw_sink.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GW_JSON_WRITER_MAX_DEPTH  64

typedef struct {
    gw_sink_t  *sink;
    uint32_t    depth;        /* containers open */
    uint32_t    done;         /* a whole top-level value was written */
    uint64_t    objects;      /* bit d: the container at depth d is an object */
    uint64_t    nonempty;     /* bit d: it has a member or element already */
    uint64_t    keyed;        /* bit d: its key is written, its value due */
} gw_json_writer_t;

/* Starts a document: the writer's state is reset. */
void gw_json_writer_init(gw_json_writer_t *w, gw_sink_t *sink);

void gw_json_object_begin(gw_json_writer_t *w);
void gw_json_object_end(gw_json_writer_t *w);
void gw_json_array_begin(gw_json_writer_t *w);
void gw_json_array_end(gw_json_writer_t *w);

/* A member name; its value comes next. */
void gw_json_key(gw_json_writer_t *w, const char *key, size_t len);

void gw_json_string(gw_json_writer_t *w, const char *s, size_t len);
void gw_json_uint(gw_json_writer_t *w, uint64_t v);
void gw_json_int(gw_json_writer_t *w, int64_t v);
void gw_json_double(gw_json_writer_t *w, double v);   /* not finite: null */
void gw_json_bool(gw_json_writer_t *w, int v);
void gw_json_null(gw_json_writer_t *w);

/* 1 when one complete value was written and nothing failed. */
int gw_json_writer_complete(const gw_json_writer_t *w);

#ifdef __cplusplus
}
#endif

#endif
