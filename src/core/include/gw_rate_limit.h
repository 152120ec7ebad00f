/*
 * Rate-limit arithmetic: token bucket and sliding window on state the
 * caller owns, with the time passed in (milliseconds, any origin), plus
 * the compact node layout the nginx glue keeps in shared memory.
 */
#ifndef GW_RATE_LIMIT_H
#define GW_RATE_LIMIT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * One token in the bucket's fixed-point units. 60000 is divisible by both
 * periods (1000 and 60000 ms), so the refill per millisecond is an exact
 * integer: no rounding, no drift however long the bucket runs.
 */
#define GW_RL_UNIT             60000

/* Largest rate count and burst accepted. */
#define GW_RL_MAX_COUNT        100000000u

/*
 * A clock that goes back by more than this is taken as a step (the state
 * is re-based on the new time, without refill); smaller steps are workers
 * whose cached clocks differ, and the state keeps its later time.
 */
#define GW_RL_MAX_BACKSTEP_MS  2000

typedef enum {
    GW_RL_TOKEN_BUCKET = 0,
    GW_RL_SLIDING_WINDOW = 1
} gw_rl_algorithm_t;

typedef enum {
    GW_RL_OK = 0,
    GW_RL_BAD_RATE,          /* count 0, too large, or not "Nr/s" / "Nr/m" */
    GW_RL_BAD_PERIOD,
    GW_RL_BAD_BURST,
    GW_RL_BAD_ALGORITHM
} gw_rl_status_t;

typedef struct {
    uint32_t  algorithm;     /* gw_rl_algorithm_t */
    uint32_t  count;         /* requests per period */
    uint32_t  period_ms;     /* 1000 (r/s) or 60000 (r/m) */
    uint32_t  burst;         /* token bucket capacity; the window's limit otherwise */
    uint32_t  window_s;      /* derived: what headers call the window */
} gw_rl_policy_t;

/*
 * token bucket:   stamp = time of the last refill,
 *                 value = tokens taken out, in 1/GW_RL_UNIT of a token;
 * sliding window: stamp = start of the current fixed window,
 *                 value = previous window's count << 32 | current count.
 * All zeros is a fresh key (full bucket, empty windows).
 */
typedef struct {
    uint64_t  stamp;
    uint64_t  value;
} gw_rl_state_t;

typedef struct {
    uint64_t  limit;         /* quota: the bucket's capacity or the window's limit */
    uint64_t  remaining;     /* whole requests left (after this one when admitted) */
    uint64_t  reset_ms;      /* until the whole quota is available again */
    uint64_t  retry_ms;      /* rejected: until this request could be admitted */
    uint32_t  window_s;      /* the policy's window in seconds, at least 1 */
    uint32_t  admitted;      /* 1 admitted, 0 rejected */
} gw_rl_result_t;

/*
 * Parses "Nr/s" or "Nr/m". Returns GW_RL_OK and sets count and period_ms.
 */
gw_rl_status_t gw_rl_parse_rate(const char *text, size_t len,
                                uint32_t *count, uint32_t *period_ms);

/* Fills a policy; burst 0 means the default (the rate's count). */
gw_rl_status_t gw_rl_policy_init(gw_rl_policy_t *policy, uint32_t algorithm,
                                 uint32_t count, uint32_t period_ms,
                                 uint32_t burst);

/*
 * Takes cost requests at now_ms. Writes the state to keep into *out (only
 * meaningful when admitted: a rejected request consumes nothing) and the
 * answer into *result. in and out may be the same. Returns result->admitted.
 */
int gw_rl_take(const gw_rl_policy_t *policy, const gw_rl_state_t *in,
               uint64_t now_ms, uint32_t cost, gw_rl_state_t *out,
               gw_rl_result_t *result);

/* Fills the policy's limit and window_s into *result (the rest zeroed). */
void gw_rl_describe(const gw_rl_policy_t *policy, gw_rl_result_t *result);

/*
 * Gives back cost requests taken earlier (all-or-nothing rollbacks); taken
 * is the state that take stored. A sliding window that moved on since
 * holds the cost in its previous window, or nowhere once that one passed.
 */
void gw_rl_refund(const gw_rl_policy_t *policy, gw_rl_state_t *state,
                  const gw_rl_state_t *taken, uint32_t cost);

/* 1 when the state holds nothing a fresh key would not (safe to forget). */
int gw_rl_is_idle(const gw_rl_policy_t *policy, const gw_rl_state_t *state,
                  uint64_t now_ms);

/* Whole seconds for Retry-After: rounded up, at least 1. */
uint64_t gw_rl_retry_after_seconds(uint64_t retry_ms);

/* Whole seconds for a reset: rounded up, 0 when nothing is used. */
uint64_t gw_rl_reset_seconds(uint64_t reset_ms);


/*
 * The Lua script that runs the same arithmetic in Redis, atomically, on
 * Redis's clock. KEYS: one per limit; ARGV, six per key: algorithm, count,
 * period_ms, burst, cost, dry_run (0|1). Reply: {pass, then per key:
 * admitted, remaining, reset_ms, retry_ms}; nothing is stored unless every
 * enforced limit admits. With ARGV "refund", then two per key (algorithm,
 * cost), it gives back what an admitted request took (when a zone in
 * another Redis refused the request); reply {1}.
 */
#define GW_RL_SCRIPT_ARGS  6

const char *gw_rl_redis_script(size_t *len);


/*
 * Shared-memory node.
 *
 * The glue lays gw_rl_node_t over nginx's rbtree node from its color byte
 * on (the 32 bytes of tree links and key come first), so a key of up to 16
 * bytes takes 64 bytes in all. The tree key is gw_rl_key_hash(): a hash of
 * the whole key from which, given the key's length and its bytes past the
 * first 8 (kept in the node), the first 8 bytes can be recovered; so equal
 * hash, length and stored bytes mean equal keys, and the first 8 bytes are
 * never stored. LRU links are 32-bit offsets, in 8-byte units, from a base
 * the caller chooses (its shared memory), 0 meaning none.
 */

#define GW_RL_KEY_INLINE   8     /* key bytes folded into the hash */

typedef struct {
    unsigned char  color;        /* owned by the rbtree */
    unsigned char  stamp_hi;     /* state stamp, bits 32..39 */
    uint16_t       len;          /* key length */
    uint32_t       lru_prev;     /* towards the most recently used */
    uint32_t       lru_next;     /* towards the least recently used */
    uint32_t       stamp_lo;     /* state stamp, bits 0..31 */
    uint64_t       value;        /* state value */
    /* key bytes GW_RL_KEY_INLINE.. follow (gw_rl_node_rest) */
} gw_rl_node_t;

#define GW_RL_NODE_STAMP_MAX  ((((uint64_t) 1) << 40) - 1)
#define GW_RL_NODE_KEY_MAX    0xffff

typedef struct {
    uint32_t  head;              /* most recently used */
    uint32_t  tail;              /* least recently used */
} gw_rl_lru_t;

uint64_t gw_rl_key_hash(const unsigned char *key, size_t len);

/* Bytes of the key stored in the node (past the first GW_RL_KEY_INLINE). */
size_t gw_rl_node_rest_len(size_t len);
unsigned char *gw_rl_node_rest(gw_rl_node_t *node);

/* Sets len and the stored key bytes; the state is fresh, links are 0. */
void gw_rl_node_init(gw_rl_node_t *node, const unsigned char *key, size_t len);

/* 1 when the node holds key (whose hash the caller already matched). */
int gw_rl_node_is(const gw_rl_node_t *node, const unsigned char *key,
                  size_t len);

/*
 * Orders two keys with equal hashes: negative, 0 or positive as the key is
 * before, equal to, or after the node's.
 */
int gw_rl_node_compare(const gw_rl_node_t *node, const unsigned char *key,
                       size_t len);

/* The same order between two nodes with equal hashes (tree insertion). */
int gw_rl_node_order(const gw_rl_node_t *a, const gw_rl_node_t *b);

/* The state, stamp relative to the caller's epoch (clamped to 40 bits). */
void gw_rl_node_load(const gw_rl_node_t *node, gw_rl_state_t *state);
void gw_rl_node_store(gw_rl_node_t *node, const gw_rl_state_t *state);

/* LRU of nodes inside one memory block starting at base (8-byte aligned). */
void gw_rl_lru_push_head(gw_rl_lru_t *lru, void *base, gw_rl_node_t *node);
void gw_rl_lru_remove(gw_rl_lru_t *lru, void *base, gw_rl_node_t *node);
void gw_rl_lru_touch(gw_rl_lru_t *lru, void *base, gw_rl_node_t *node);
gw_rl_node_t *gw_rl_lru_tail(const gw_rl_lru_t *lru, void *base);
gw_rl_node_t *gw_rl_lru_newer(void *base, const gw_rl_node_t *node);

#ifdef __cplusplus
}
#endif

#endif
