/*
 * Where the core's renderers (Prometheus text, status JSON) write: space
 * the caller owns, refilled through a callback when it runs out, so output
 * of any size goes straight into the caller's buffers (nginx chain links)
 * without being built and copied once more.
 */
#ifndef GW_SINK_H
#define GW_SINK_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gw_sink_s  gw_sink_t;

/*
 * Called when [pos, end) is used up: must point pos and end at fresh space
 * (the bytes before the old pos are the caller's from now on) and return 0,
 * or return -1 to stop the output.
 */
typedef int (*gw_sink_refill_pt)(gw_sink_t *sink);

struct gw_sink_s {
    char               *pos;      /* next byte to write */
    char               *end;      /* end of the space given */
    gw_sink_refill_pt   refill;   /* NULL: the first space is all there is */
    void               *data;     /* the caller's */
    int                 failed;   /* space ran out or a writer was misused:
                                     nothing more is written */
};

/* Appends len bytes as they are. */
void gw_sink_write(gw_sink_t *sink, const char *data, size_t len);

#ifdef __cplusplus
}
#endif

#endif
