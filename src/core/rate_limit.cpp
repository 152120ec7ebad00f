#include "rate_limit.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <type_traits>

namespace gw::rl {

static_assert(std::is_trivially_copyable_v<gw_rl_state_t>);
static_assert(std::is_trivially_copyable_v<gw_rl_node_t>);
static_assert(std::is_standard_layout_v<gw_rl_node_t>);
static_assert(sizeof(gw_rl_node_t) == 24, "the node must stay compact");
static_assert(alignof(gw_rl_node_t) == 8);
static_assert(offsetof(gw_rl_node_t, value) == 16);

namespace {

constexpr std::uint64_t unit = GW_RL_UNIT;

constexpr std::uint64_t ceil_div(std::uint64_t a, std::uint64_t b) noexcept
{
    return a / b + (a % b != 0);
}

// Clock handling shared by both algorithms: how far the state's time is
// ahead of now (0 when now is not behind it).
std::uint64_t ahead(const gw_rl_state_t &s, std::uint64_t now) noexcept
{
    return s.stamp > now ? s.stamp - now : 0;
}


// Token bucket. value = tokens taken out, in 1/unit of a token; the bucket
// refills count * unit / period_ms units every millisecond, exactly.

struct Bucket {
    std::uint64_t per_ms;      // refill per millisecond
    std::uint64_t capacity;    // burst, in units

    explicit Bucket(const gw_rl_policy_t &p) noexcept
        : per_ms(std::uint64_t{p.count} * (unit / p.period_ms)),
          capacity(std::uint64_t{p.burst} * unit)
    {
    }

    // Milliseconds until used units have flowed back in.
    std::uint64_t refill_ms(std::uint64_t used) const noexcept { return ceil_div(used, per_ms); }

    void advance(gw_rl_state_t &s, std::uint64_t now) const noexcept
    {
        if (now >= s.stamp) {
            std::uint64_t elapsed = now - s.stamp;
            // elapsed < refill_ms(value) keeps elapsed * per_ms below value + per_ms
            s.value = elapsed >= refill_ms(s.value) ? 0 : s.value - elapsed * per_ms;
            s.stamp = now;
        } else if (s.stamp - now > GW_RL_MAX_BACKSTEP_MS) {
            s.stamp = now;   // the clock was stepped back: re-base, no refill
        }
    }

    gw_rl_result_t take(gw_rl_state_t &s, std::uint64_t now, std::uint32_t cost) const noexcept
    {
        advance(s, now);

        gw_rl_result_t r{};
        std::uint64_t need = std::uint64_t{cost} * unit;
        std::uint64_t wait = ahead(s, now);

        r.limit = capacity / unit;
        r.admitted = need <= capacity && s.value <= capacity - need;

        if (r.admitted) {
            s.value += need;
        } else if (need > capacity) {
            r.retry_ms = wait + refill_ms(capacity);   // never fits: a whole window
        } else {
            r.retry_ms = wait + refill_ms(s.value + need - capacity);
        }

        r.remaining = (capacity - std::min(capacity, s.value)) / unit;
        r.reset_ms = s.value ? wait + refill_ms(s.value) : 0;
        return r;
    }

    bool is_idle(const gw_rl_state_t &s, std::uint64_t now) const noexcept
    {
        return s.value == 0 || (now >= s.stamp && now - s.stamp >= refill_ms(s.value));
    }
};


// Sliding window: fixed windows of period_ms, the previous one weighted by
// how much of it the sliding window still covers. Arithmetic is scaled by
// the window length so it stays in integers.

struct Window {
    std::uint64_t length;
    std::uint64_t limit;

    explicit Window(const gw_rl_policy_t &p) noexcept : length(p.period_ms), limit(p.burst) {}

    static std::uint64_t previous(const gw_rl_state_t &s) noexcept { return s.value >> 32; }
    static std::uint64_t current(const gw_rl_state_t &s) noexcept { return s.value & 0xffffffffu; }

    static void set(gw_rl_state_t &s, std::uint64_t prev, std::uint64_t cur) noexcept
    {
        s.value = std::min<std::uint64_t>(prev, 0xffffffffu) << 32 | std::min<std::uint64_t>(cur, 0xffffffffu);
    }

    void advance(gw_rl_state_t &s, std::uint64_t now) const noexcept
    {
        std::uint64_t start = now - now % length;

        if (s.value == 0) {
            s.stamp = start;
        } else if (start >= s.stamp) {
            if (start - s.stamp == length) {
                set(s, current(s), 0);
            } else if (start != s.stamp) {
                s.value = 0;
            }
            s.stamp = start;
        } else if (s.stamp - now > GW_RL_MAX_BACKSTEP_MS) {
            s.stamp = start;   // the clock was stepped back: keep the counts, re-base
        }
    }

    // The sliding count at elapsed ms into the current window, times length.
    std::uint64_t weighted(const gw_rl_state_t &s, std::uint64_t elapsed) const noexcept
    {
        return previous(s) * (length - elapsed) + current(s) * length;
    }

    gw_rl_result_t take(gw_rl_state_t &s, std::uint64_t now, std::uint32_t cost) const noexcept
    {
        advance(s, now);

        gw_rl_result_t r{};
        std::uint64_t wait = ahead(s, now);
        std::uint64_t elapsed = now > s.stamp ? std::min(now - s.stamp, length - 1) : 0;
        std::uint64_t quota = limit * length;
        std::uint64_t prev = previous(s), cur = current(s);

        r.limit = limit;
        r.admitted = weighted(s, elapsed) + std::uint64_t{cost} * length <= quota;

        if (r.admitted) {
            set(s, prev, cur + cost);
            cur += cost;
        } else if (cur + cost <= limit) {
            // later in this window, once the previous one weighs little enough
            std::uint64_t until = length - (limit - cur - cost) * length / prev;
            r.retry_ms = wait + (until - elapsed);
        } else if (cost <= limit) {
            // in the next window, where this window becomes the previous one
            std::uint64_t spare = (limit - cost) * length / cur;
            std::uint64_t until = spare >= length ? 0 : length - spare;
            r.retry_ms = wait + (length - elapsed) + until;
        }

        std::uint64_t used = prev * (length - elapsed) + cur * length;
        r.remaining = used >= quota ? 0 : (quota - used) / length;

        if (cur) {
            r.reset_ms = wait + (length - elapsed) + length;
        } else if (prev) {
            r.reset_ms = wait + (length - elapsed);
        }

        if (!r.admitted && cost > limit) {
            r.retry_ms = std::max(r.reset_ms, length);   // never fits
        }

        return r;
    }

    bool is_idle(const gw_rl_state_t &s, std::uint64_t now) const noexcept
    {
        if (s.value == 0 || now >= s.stamp + 2 * length) return true;
        return current(s) == 0 && now >= s.stamp + length;
    }
};


// A bijection of 64-bit words (the splitmix64 finaliser).
constexpr std::uint64_t mix(std::uint64_t x) noexcept
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

// The first 8 bytes as a word, zero-padded (in the host's byte order: the
// hash only ever meets hashes made on the same machine).
std::uint64_t load_inline(std::string_view key) noexcept
{
    std::uint64_t word = 0;
    std::memcpy(&word, key.data(), std::min<std::size_t>(key.size(), GW_RL_KEY_INLINE));
    return word;
}

} // namespace


std::optional<Rate> parse_rate(std::string_view text) noexcept
{
    if (text.size() < 4) return std::nullopt;

    std::string_view unit_part = text.substr(text.size() - 3);
    std::string_view digits = text.substr(0, text.size() - 3);
    std::uint32_t period;

    if (unit_part == "r/s") {
        period = 1000;
    } else if (unit_part == "r/m") {
        period = 60000;
    } else {
        return std::nullopt;
    }

    std::uint64_t count = 0;
    for (char c : digits) {
        if (c < '0' || c > '9') return std::nullopt;
        count = count * 10 + static_cast<std::uint64_t>(c - '0');
        if (count > GW_RL_MAX_COUNT) return std::nullopt;
    }

    if (count == 0) return std::nullopt;
    return Rate{static_cast<std::uint32_t>(count), period};
}


gw_rl_status_t make_policy(gw_rl_policy_t &p, std::uint32_t algorithm, Rate rate,
                           std::uint32_t burst) noexcept
{
    if (algorithm != GW_RL_TOKEN_BUCKET && algorithm != GW_RL_SLIDING_WINDOW) return GW_RL_BAD_ALGORITHM;
    if (rate.count == 0 || rate.count > GW_RL_MAX_COUNT) return GW_RL_BAD_RATE;
    if (rate.period_ms == 0 || unit % rate.period_ms != 0) return GW_RL_BAD_PERIOD;
    if (burst > GW_RL_MAX_COUNT) return GW_RL_BAD_BURST;

    p.algorithm = algorithm;
    p.count = rate.count;
    p.period_ms = rate.period_ms;
    // a sliding window admits exactly the rate's count per window
    p.burst = (burst == 0 || algorithm == GW_RL_SLIDING_WINDOW) ? rate.count : burst;
    p.window_s = window_seconds(p);
    return GW_RL_OK;
}


std::uint32_t window_seconds(const gw_rl_policy_t &p) noexcept
{
    // a sliding window's length; the time a full bucket takes to refill
    std::uint64_t ms = p.algorithm == GW_RL_SLIDING_WINDOW ? p.period_ms
                                                            : ceil_div(std::uint64_t{p.burst} * p.period_ms, p.count);
    return static_cast<std::uint32_t>(std::max<std::uint64_t>(ceil_div(ms, 1000), 1));
}


gw_rl_result_t take(const gw_rl_policy_t &p, gw_rl_state_t &s, std::uint64_t now,
                    std::uint32_t cost) noexcept
{
    gw_rl_result_t r = p.algorithm == GW_RL_SLIDING_WINDOW ? Window(p).take(s, now, cost)
                                                           : Bucket(p).take(s, now, cost);
    r.window_s = p.window_s;
    return r;
}


void refund(const gw_rl_policy_t &p, gw_rl_state_t &s, const gw_rl_state_t &taken,
            std::uint32_t cost) noexcept
{
    if (p.algorithm == GW_RL_SLIDING_WINDOW) {
        // the cost went into the window taken.stamp starts
        std::uint64_t prev = Window::previous(s), cur = Window::current(s);
        if (s.stamp == taken.stamp) {
            cur -= std::min<std::uint64_t>(cur, cost);
        } else if (s.stamp == taken.stamp + p.period_ms) {
            prev -= std::min<std::uint64_t>(prev, cost);
        }
        Window::set(s, prev, cur);
    } else {
        s.value -= std::min<std::uint64_t>(s.value, std::uint64_t{cost} * unit);
    }
}


bool is_idle(const gw_rl_policy_t &p, const gw_rl_state_t &s, std::uint64_t now) noexcept
{
    return p.algorithm == GW_RL_SLIDING_WINDOW ? Window(p).is_idle(s, now) : Bucket(p).is_idle(s, now);
}


// mix(first 8 bytes ^ mix(hash of the rest and the length)): for a given
// length and rest this is a bijection of the first 8 bytes, which is what
// lets the node leave them out.
std::uint64_t key_hash(std::string_view key) noexcept
{
    std::uint64_t h = 0xcbf29ce484222325ull ^ key.size();   // FNV-1a
    if (key.size() > GW_RL_KEY_INLINE) {
        for (unsigned char c : key.substr(GW_RL_KEY_INLINE)) {
            h ^= c;
            h *= 0x100000001b3ull;
        }
    }
    return mix(load_inline(key) ^ mix(h));
}

} // namespace gw::rl


namespace {

std::uint32_t lru_offset(void *base, gw_rl_node_t *node) noexcept
{
    if (node == nullptr) return 0;
    return static_cast<std::uint32_t>((reinterpret_cast<unsigned char *>(node) - static_cast<unsigned char *>(base)) / 8);
}

gw_rl_node_t *lru_node(void *base, std::uint32_t offset) noexcept
{
    if (offset == 0) return nullptr;
    return reinterpret_cast<gw_rl_node_t *>(static_cast<unsigned char *>(base) + std::size_t{offset} * 8);
}

} // namespace


extern "C" {

gw_rl_status_t gw_rl_parse_rate(const char *text, size_t len, uint32_t *count, uint32_t *period_ms)
{
    if (text == nullptr) return GW_RL_BAD_RATE;
    auto rate = gw::rl::parse_rate({text, len});
    if (!rate) return GW_RL_BAD_RATE;
    *count = rate->count;
    *period_ms = rate->period_ms;
    return GW_RL_OK;
}

gw_rl_status_t gw_rl_policy_init(gw_rl_policy_t *policy, uint32_t algorithm, uint32_t count,
                                 uint32_t period_ms, uint32_t burst)
{
    return gw::rl::make_policy(*policy, algorithm, {count, period_ms}, burst);
}

int gw_rl_take(const gw_rl_policy_t *policy, const gw_rl_state_t *in, uint64_t now_ms, uint32_t cost,
               gw_rl_state_t *out, gw_rl_result_t *result)
{
    gw_rl_state_t state = *in;
    *result = gw::rl::take(*policy, state, now_ms, cost);
    *out = state;
    return static_cast<int>(result->admitted);
}

void gw_rl_describe(const gw_rl_policy_t *policy, gw_rl_result_t *result)
{
    *result = gw_rl_result_t{};
    result->limit = policy->burst;
    result->window_s = policy->window_s;
}

void gw_rl_refund(const gw_rl_policy_t *policy, gw_rl_state_t *state, const gw_rl_state_t *taken,
                  uint32_t cost)
{
    gw::rl::refund(*policy, *state, *taken, cost);
}

int gw_rl_is_idle(const gw_rl_policy_t *policy, const gw_rl_state_t *state, uint64_t now_ms)
{
    return gw::rl::is_idle(*policy, *state, now_ms);
}

uint64_t gw_rl_retry_after_seconds(uint64_t retry_ms)
{
    return std::max<uint64_t>(retry_ms / 1000 + (retry_ms % 1000 != 0), 1);
}

uint64_t gw_rl_reset_seconds(uint64_t reset_ms)
{
    return reset_ms / 1000 + (reset_ms % 1000 != 0);
}

uint64_t gw_rl_key_hash(const unsigned char *key, size_t len)
{
    return gw::rl::key_hash({reinterpret_cast<const char *>(key), len});
}

size_t gw_rl_node_rest_len(size_t len)
{
    return len > GW_RL_KEY_INLINE ? len - GW_RL_KEY_INLINE : 0;
}

unsigned char *gw_rl_node_rest(gw_rl_node_t *node)
{
    return reinterpret_cast<unsigned char *>(node + 1);
}

void gw_rl_node_init(gw_rl_node_t *node, const unsigned char *key, size_t len)
{
    node->stamp_hi = 0;
    node->len = static_cast<uint16_t>(len);
    node->lru_prev = 0;
    node->lru_next = 0;
    node->stamp_lo = 0;
    node->value = 0;
    if (len > GW_RL_KEY_INLINE) std::memcpy(gw_rl_node_rest(node), key + GW_RL_KEY_INLINE, len - GW_RL_KEY_INLINE);
}

int gw_rl_node_compare(const gw_rl_node_t *node, const unsigned char *key, size_t len)
{
    if (len != node->len) return len < node->len ? -1 : 1;
    size_t rest = gw_rl_node_rest_len(len);
    if (rest == 0) return 0;
    return std::memcmp(key + GW_RL_KEY_INLINE, reinterpret_cast<const unsigned char *>(node + 1), rest);
}

int gw_rl_node_order(const gw_rl_node_t *a, const gw_rl_node_t *b)
{
    if (a->len != b->len) return a->len < b->len ? -1 : 1;
    size_t rest = gw_rl_node_rest_len(a->len);
    if (rest == 0) return 0;
    return std::memcmp(reinterpret_cast<const unsigned char *>(a + 1), reinterpret_cast<const unsigned char *>(b + 1),
                       rest);
}

int gw_rl_node_is(const gw_rl_node_t *node, const unsigned char *key, size_t len)
{
    return gw_rl_node_compare(node, key, len) == 0;
}

void gw_rl_node_load(const gw_rl_node_t *node, gw_rl_state_t *state)
{
    state->stamp = uint64_t{node->stamp_hi} << 32 | node->stamp_lo;
    state->value = node->value;
}

void gw_rl_node_store(gw_rl_node_t *node, const gw_rl_state_t *state)
{
    uint64_t stamp = std::min<uint64_t>(state->stamp, GW_RL_NODE_STAMP_MAX);
    node->stamp_hi = static_cast<unsigned char>(stamp >> 32);
    node->stamp_lo = static_cast<uint32_t>(stamp);
    node->value = state->value;
}

void gw_rl_lru_push_head(gw_rl_lru_t *lru, void *base, gw_rl_node_t *node)
{
    uint32_t self = lru_offset(base, node);
    node->lru_prev = 0;
    node->lru_next = lru->head;
    if (lru->head) {
        lru_node(base, lru->head)->lru_prev = self;
    } else {
        lru->tail = self;
    }
    lru->head = self;
}

void gw_rl_lru_remove(gw_rl_lru_t *lru, void *base, gw_rl_node_t *node)
{
    if (node->lru_prev) {
        lru_node(base, node->lru_prev)->lru_next = node->lru_next;
    } else {
        lru->head = node->lru_next;
    }
    if (node->lru_next) {
        lru_node(base, node->lru_next)->lru_prev = node->lru_prev;
    } else {
        lru->tail = node->lru_prev;
    }
    node->lru_prev = 0;
    node->lru_next = 0;
}

void gw_rl_lru_touch(gw_rl_lru_t *lru, void *base, gw_rl_node_t *node)
{
    if (lru->head == lru_offset(base, node)) return;
    gw_rl_lru_remove(lru, base, node);
    gw_rl_lru_push_head(lru, base, node);
}

gw_rl_node_t *gw_rl_lru_tail(const gw_rl_lru_t *lru, void *base)
{
    return lru_node(base, lru->tail);
}

gw_rl_node_t *gw_rl_lru_newer(void *base, const gw_rl_node_t *node)
{
    return lru_node(base, node->lru_prev);
}

} // extern "C"
