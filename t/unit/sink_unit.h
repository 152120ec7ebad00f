/*
 * A sink for the renderers' Check suites: it collects everything into one
 * buffer but hands the space out a few bytes at a time, so every write is
 * also tested across refills.
 */
#ifndef GW_SINK_UNIT_H
#define GW_SINK_UNIT_H

#include <stdlib.h>
#include <string.h>

#include "gw_sink.h"

typedef struct {
    gw_sink_t   sink;
    char       *buf;
    size_t      cap;
    size_t      used;       /* bytes handed back by the writer so far */
    size_t      chunk;      /* space given per refill */
    size_t      limit;      /* refuse to refill past this many bytes */
} capture_t;


static inline int
capture_refill(gw_sink_t *sink)
{
    capture_t  *c = sink->data;
    size_t      n;

    if (sink->pos != NULL) {
        c->used = (size_t) (sink->pos - c->buf);
    }

    if (c->used >= c->limit) {
        return -1;
    }

    if (c->used + c->chunk + 1 > c->cap) {
        c->cap = (c->used + c->chunk + 1) * 2;
        c->buf = realloc(c->buf, c->cap);
        ck_assert_ptr_nonnull(c->buf);
    }

    n = c->chunk < c->limit - c->used ? c->chunk : c->limit - c->used;
    sink->pos = c->buf + c->used;
    sink->end = sink->pos + n;
    return 0;
}


static inline void
capture_init(capture_t *c, size_t chunk)
{
    memset(c, 0, sizeof(*c));
    c->chunk = chunk;
    c->limit = (size_t) -1 / 2;
    c->sink.refill = capture_refill;
    c->sink.data = c;
    ck_assert_int_eq(capture_refill(&c->sink), 0);
}


/* Everything written so far, NUL terminated (the buffer stays the owner's). */
static inline const char *
capture_text(capture_t *c)
{
    c->used = (size_t) (c->sink.pos - c->buf);
    c->buf[c->used] = '\0';
    return c->buf;
}


static inline void
capture_free(capture_t *c)
{
    free(c->buf);
    c->buf = NULL;
}

#endif
