/*
 * Upstream peer selection and per-peer circuit breakers.
 *
 * The peer table is an array of gw_peer_t owned by the caller (the nginx
 * glue keeps it in shared memory and calls these functions under its slab
 * mutex, so every worker sees one table). Everything here is deterministic
 * given its inputs: time is passed in as milliseconds of a monotonic clock.
 */
#ifndef GW_BALANCER_H
#define GW_BALANCER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Breaker states, also reported by $gateway_circuit_state. */
#define GW_CIRCUIT_CLOSED     0
#define GW_CIRCUIT_OPEN       1
#define GW_CIRCUIT_HALF_OPEN  2

/* Peer flags. */
#define GW_PEER_LIVE    0x01   /* the slot holds a peer of the current set */
#define GW_PEER_DOWN    0x02   /* "down": never chosen */
#define GW_PEER_BACKUP  0x04   /* chosen only when no primary can be */

typedef enum {
    GW_BALANCE_ROUND_ROBIN = 0,   /* smooth weighted round robin */
    GW_BALANCE_LEAST_CONN  = 1    /* weighted least connections, ties by WRR */
} gw_balance_method_t;

typedef struct {
    uint32_t  failures;      /* consecutive failures that open; 0: no breaker */
    uint32_t  half_open;     /* trial requests admitted while half-open */
    int64_t   open_ms;       /* first open period */
    int64_t   max_open_ms;   /* cap of the growing open period (>= open_ms) */
} gw_breaker_conf_t;

/* Per-peer breaker state; plain data, lives in shared memory. */
typedef struct {
    uint64_t  generation;    /* bumped on every state change */
    int64_t   open_until;    /* OPEN: when the peer may go half-open */
    int64_t   closed_at;     /* when it last closed (backoff decay) */
    uint32_t  failures;      /* consecutive failures while closed */
    uint32_t  trials;        /* half-open trials in flight */
    uint32_t  opens;         /* openings in a row: the backoff exponent */
    uint8_t   state;         /* GW_CIRCUIT_* */
    uint8_t   pad[3];
} gw_breaker_t;

/* One slot of the peer table; plain data, lives in shared memory. */
typedef struct {
    int64_t       current_weight;   /* smooth WRR accumulator */
    uint64_t      slot_generation;  /* bumped when the slot gets a new peer */
    uint32_t      weight;
    uint32_t      conns;            /* requests in flight on this peer */
    uint32_t      max_conns;        /* 0: unlimited */
    uint32_t      flags;            /* GW_PEER_* */
    gw_breaker_t  breaker;
} gw_peer_t;

/* What a request holds between pick and release. */
typedef struct {
    uint64_t  slot_generation;
    uint64_t  breaker_generation;
    uint32_t  index;
    uint8_t   trial;      /* admitted as a half-open trial */
    uint8_t   state;      /* breaker state when chosen */
    uint8_t   pad[2];
} gw_pick_t;

/*
 * What one process holds on one slot of the table: its requests in flight
 * there, and its half-open trials among them (of the breaker generation
 * that admitted them). An array of these per process, next to the table,
 * lets a successor give back what a process that died still held.
 */
typedef struct {
    uint64_t  slot_generation;
    uint64_t  trial_generation;
    uint32_t  conns;
    uint32_t  trials;
} gw_holding_t;

typedef enum {
    GW_PICK_OK = 0,
    GW_PICK_NONE = 1       /* no peer can take the request */
} gw_pick_rc_t;

typedef enum {
    GW_OUTCOME_SUCCESS = 0,  /* the peer answered with a status not listed */
    GW_OUTCOME_FAILURE = 1,  /* connect error, timeout, listed status */
    GW_OUTCOME_NEUTRAL = 2   /* says nothing about the peer (client abort) */
} gw_outcome_t;

typedef enum {
    GW_TRANSITION_NONE = 0,
    GW_TRANSITION_OPENED = 1,      /* closed -> open */
    GW_TRANSITION_HALF_OPENED = 2, /* open -> half-open (at pick time) */
    GW_TRANSITION_CLOSED = 3,      /* half-open -> closed */
    GW_TRANSITION_REOPENED = 4     /* half-open -> open */
} gw_transition_t;

/* Initial state of a slot that receives a new peer. */
void gw_peer_init(gw_peer_t *peer, uint32_t weight, uint32_t max_conns,
                  uint32_t flags, int64_t now);

/*
 * Chooses a peer among peers[0..n) that is live, not down, under max_conns,
 * not marked in tried (a bitmap of tried_words 64-bit words, may be NULL)
 * and admitted by its breaker; primaries first, backups when no primary can
 * be chosen. On GW_PICK_OK the peer's conns is incremented, its breaker has
 * admitted the request (half-opening it when its open period is over) and
 * *transition tells whether that happened.
 */
gw_pick_rc_t gw_balancer_pick(gw_peer_t *peers, size_t n,
                              gw_balance_method_t method,
                              const gw_breaker_conf_t *conf,
                              const uint64_t *tried, size_t tried_words,
                              int64_t now, gw_pick_t *pick,
                              gw_transition_t *transition);

/*
 * Ends a request on the picked peer: conns is decremented and the outcome
 * is reported to the breaker unless the breaker changed state since the
 * pick (a result of an older generation is discarded).
 */
gw_transition_t gw_balancer_release(gw_peer_t *peers, size_t n,
                                    const gw_breaker_conf_t *conf,
                                    const gw_pick_t *pick,
                                    gw_outcome_t outcome, int64_t now);

/*
 * Reports the outcome of a picked request early (a half-open trial is
 * decided by its response header), without ending it: the release that
 * follows should then say GW_OUTCOME_NEUTRAL.
 */
gw_transition_t gw_balancer_report(gw_peer_t *peers, size_t n,
                                   const gw_breaker_conf_t *conf,
                                   const gw_pick_t *pick,
                                   gw_outcome_t outcome, int64_t now);

/*
 * Keeps a process's holdings (an array of at least pick->index + 1) in step
 * with its picks: hold after a successful pick, unhold with its release.
 */
void gw_balancer_hold(gw_holding_t *holdings, size_t n, const gw_pick_t *pick);
void gw_balancer_unhold(gw_holding_t *holdings, size_t n,
                        const gw_pick_t *pick);

/*
 * Gives back what a dead process held (its holdings, which are zeroed):
 * its requests in flight, and its half-open trials while their breaker is
 * still in the generation that admitted them, so neither max_conns, nor
 * least_conn's counts, nor a half-open circuit waits for answers that will
 * never come. Returns the number of requests given back.
 */
uint32_t gw_balancer_reclaim(gw_peer_t *peers, gw_holding_t *holdings,
                             size_t n);

/* 1 when some live peer that is not down would be admitted by its breaker. */
int gw_balancer_available(const gw_peer_t *peers, size_t n,
                          const gw_breaker_conf_t *conf, int64_t now);

/* The state a breaker shows now (OPEN past its period reads HALF_OPEN). */
int gw_breaker_state(const gw_breaker_t *b, const gw_breaker_conf_t *conf,
                     int64_t now);

/* How long the next opening lasts given the openings in a row so far. */
int64_t gw_breaker_open_period(const gw_breaker_conf_t *conf, uint32_t opens);

/* "closed", "open" or "half_open". */
const char *gw_circuit_state_name(int state);

#ifdef __cplusplus
}
#endif

#endif
