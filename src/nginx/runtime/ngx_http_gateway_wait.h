/*
 * Parking a request: a step of the access or precontent phase that must
 * wait for something (an answer from Redis, a key fetch another request
 * runs, a timer) parks the request and returns NGX_AGAIN; whoever it waits
 * for wakes it, and the phase runs again from its first step, which finds
 * its result in its request state. A client that goes away meanwhile ends
 * the request as usual: the pool cleanup unhooks the waiter, so a late
 * wake is harmless.
 */

#ifndef _NGX_HTTP_GATEWAY_WAIT_H_INCLUDED_
#define _NGX_HTTP_GATEWAY_WAIT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* Kept in the step's request state (zeroed memory is a waiter at rest). */
typedef struct {
    ngx_event_t           event;      /* the wake (posted) or the timeout */
    ngx_queue_t           queue;      /* in a wait queue, while parked */
    ngx_http_request_t   *request;
    unsigned              parked:1;
    unsigned              timedout:1; /* woken by its timeout */
    unsigned              cleanup:1;  /* its pool cleanup is registered, or
                                         the step's own calls
                                         ngx_http_gateway_wait_done() */
} ngx_http_gateway_wait_t;


/*
 * Parks the main request of r: woken by ngx_http_gateway_wake(), by
 * ngx_http_gateway_wake_all() on queue (when not NULL), or after timeout
 * ms (0: no timeout; then whoever it waits for must always wake it).
 * Returns NGX_AGAIN for the step to return, or NGX_ERROR.
 */
ngx_int_t ngx_http_gateway_park(ngx_http_request_t *r,
    ngx_http_gateway_wait_t *w, ngx_queue_t *queue, ngx_msec_t timeout);

/*
 * The request ends: nothing may wake it now. For a step whose request
 * state has a pool cleanup of its own, which calls this, and which sets
 * w->cleanup before parking so that the waiter registers none.
 */
void ngx_http_gateway_wait_done(ngx_http_gateway_wait_t *w);

/* Wakes a parked request (from a callback, timer or another request). */
void ngx_http_gateway_wake(ngx_http_gateway_wait_t *w);

/*
 * Wakes a parked request and runs its phases at once, sparing it a turn
 * through the posted events: for a waker that is an event handler of its
 * own (a reply read from a link) that holds nothing the request may free
 * and is ready for the request to do anything meanwhile, even end.
 */
void ngx_http_gateway_wake_now(ngx_http_gateway_wait_t *w);

/* Wakes every request parked on queue. */
void ngx_http_gateway_wake_all(ngx_queue_t *queue);


#endif /* _NGX_HTTP_GATEWAY_WAIT_H_INCLUDED_ */
