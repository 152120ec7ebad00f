// Peer selection over a plain peer table: smooth weighted round robin (the
// current/effective-weight scheme nginx uses, without the failure-driven
// effective weight since the breaker takes that role) and weighted least
// connections with round-robin tie breaking.

#include <algorithm>
#include <cstdint>
#include <span>
#include <type_traits>

#include "breaker.hpp"
#include "gw_balancer.h"

namespace gw::balancer {

static_assert(std::is_trivially_copyable_v<gw_peer_t>);
static_assert(std::is_standard_layout_v<gw_peer_t>);
static_assert(std::is_trivially_copyable_v<gw_pick_t>);
static_assert(std::is_trivially_copyable_v<gw_holding_t>);

namespace {

struct Candidates {
    std::span<gw_peer_t> peers;
    const gw_breaker_conf_t &conf;
    const std::uint64_t *tried;
    std::size_t tried_words;
    std::int64_t now;

    bool was_tried(std::size_t i) const noexcept
    {
        std::size_t w = i / 64;
        return tried != nullptr && w < tried_words && (tried[w] >> (i % 64) & 1) != 0;
    }

    bool eligible(std::size_t i, bool backup) const noexcept
    {
        const gw_peer_t &p = peers[i];
        return (p.flags & GW_PEER_LIVE) && !(p.flags & GW_PEER_DOWN)
               && ((p.flags & GW_PEER_BACKUP) != 0) == backup
               && !was_tried(i)
               && (p.max_conns == 0 || p.conns < p.max_conns)
               && p.weight > 0
               && breaker::admissible(p.breaker, conf, now);
    }
};

constexpr std::size_t none = SIZE_MAX;

// One step of smooth WRR among the peers accepted by `in`.
template <typename Pred>
std::size_t smooth_wrr(std::span<gw_peer_t> peers, Pred in) noexcept
{
    std::size_t best = none;
    std::int64_t total = 0;

    for (std::size_t i = 0; i < peers.size(); i++) {
        if (!in(i)) continue;
        peers[i].current_weight += peers[i].weight;
        total += peers[i].weight;
        if (best == none || peers[i].current_weight > peers[best].current_weight) best = i;
    }
    if (best != none) peers[best].current_weight -= total;
    return best;
}

// conns(a) / weight(a) < conns(b) / weight(b), without division.
bool fewer_conns(const gw_peer_t &a, const gw_peer_t &b) noexcept
{
    return std::uint64_t{a.conns} * b.weight < std::uint64_t{b.conns} * a.weight;
}

bool same_conns(const gw_peer_t &a, const gw_peer_t &b) noexcept
{
    return std::uint64_t{a.conns} * b.weight == std::uint64_t{b.conns} * a.weight;
}

std::size_t least_conn(const Candidates &c, bool backup) noexcept
{
    std::size_t best = none;
    bool many = false;

    for (std::size_t i = 0; i < c.peers.size(); i++) {
        if (!c.eligible(i, backup)) continue;
        if (best == none || fewer_conns(c.peers[i], c.peers[best])) {
            best = i;
            many = false;
        } else if (same_conns(c.peers[i], c.peers[best])) {
            many = true;
        }
    }
    if (best == none || !many) return best;

    const gw_peer_t least = c.peers[best];
    return smooth_wrr(c.peers, [&](std::size_t i) {
        return c.eligible(i, backup) && same_conns(c.peers[i], least);
    });
}

std::size_t choose(const Candidates &c, gw_balance_method_t method, bool backup) noexcept
{
    if (method == GW_BALANCE_LEAST_CONN) return least_conn(c, backup);
    return smooth_wrr(c.peers, [&](std::size_t i) { return c.eligible(i, backup); });
}

} // namespace

gw_pick_rc_t pick(std::span<gw_peer_t> peers, gw_balance_method_t method, const gw_breaker_conf_t &conf,
                  const std::uint64_t *tried, std::size_t tried_words, std::int64_t now, gw_pick_t &out,
                  gw_transition_t &transition) noexcept
{
    Candidates c{peers, conf, tried, tried_words, now};
    transition = GW_TRANSITION_NONE;

    std::size_t i = choose(c, method, false);
    if (i == none) i = choose(c, method, true);
    if (i == none) return GW_PICK_NONE;

    gw_peer_t &p = peers[i];
    auto a = breaker::admit(p.breaker, conf, now);
    if (!a.admitted) return GW_PICK_NONE;   // not reached: eligibility checked admissible()

    p.conns++;
    if (a.half_opened) transition = GW_TRANSITION_HALF_OPENED;

    out = gw_pick_t{};
    out.slot_generation = p.slot_generation;
    out.breaker_generation = a.generation;
    out.index = static_cast<std::uint32_t>(i);
    out.trial = a.trial;
    out.state = static_cast<std::uint8_t>(a.state);
    return GW_PICK_OK;
}

gw_transition_t release(std::span<gw_peer_t> peers, const gw_breaker_conf_t &conf, const gw_pick_t &pick,
                        gw_outcome_t outcome, std::int64_t now) noexcept
{
    if (pick.index >= peers.size()) return GW_TRANSITION_NONE;
    gw_peer_t &p = peers[pick.index];
    if (p.slot_generation != pick.slot_generation) return GW_TRANSITION_NONE;

    if (p.conns > 0) p.conns--;
    return breaker::report(p.breaker, conf, pick.breaker_generation, pick.trial != 0, outcome, now);
}

gw_transition_t report(std::span<gw_peer_t> peers, const gw_breaker_conf_t &conf, const gw_pick_t &pick,
                       gw_outcome_t outcome, std::int64_t now) noexcept
{
    if (pick.index >= peers.size()) return GW_TRANSITION_NONE;
    gw_peer_t &p = peers[pick.index];
    if (p.slot_generation != pick.slot_generation) return GW_TRANSITION_NONE;

    return breaker::report(p.breaker, conf, pick.breaker_generation, pick.trial != 0, outcome, now);
}

void hold(std::span<gw_holding_t> holdings, const gw_pick_t &pick) noexcept
{
    if (pick.index >= holdings.size()) return;
    gw_holding_t &h = holdings[pick.index];

    // a slot's peer changes only once nobody holds it
    if (h.slot_generation != pick.slot_generation) h = gw_holding_t{pick.slot_generation, 0, 0, 0};
    h.conns++;

    if (pick.trial) {
        if (h.trial_generation != pick.breaker_generation) {
            h.trial_generation = pick.breaker_generation;
            h.trials = 0;
        }
        h.trials++;
    }
}

void unhold(std::span<gw_holding_t> holdings, const gw_pick_t &pick) noexcept
{
    if (pick.index >= holdings.size()) return;
    gw_holding_t &h = holdings[pick.index];
    if (h.slot_generation != pick.slot_generation) return;

    if (h.conns > 0) h.conns--;
    if (pick.trial && h.trial_generation == pick.breaker_generation && h.trials > 0) h.trials--;
}

std::uint32_t reclaim(std::span<gw_peer_t> peers, std::span<gw_holding_t> holdings) noexcept
{
    std::uint32_t given = 0;

    for (std::size_t i = 0; i < peers.size() && i < holdings.size(); i++) {
        gw_holding_t &h = holdings[i];
        gw_peer_t &p = peers[i];

        if (h.slot_generation == p.slot_generation) {
            std::uint32_t conns = std::min(h.conns, p.conns);
            p.conns -= conns;
            given += conns;
            breaker::abandon_trials(p.breaker, h.trial_generation, h.trials);
        }
        h = gw_holding_t{};
    }
    return given;
}

bool available(std::span<const gw_peer_t> peers, const gw_breaker_conf_t &conf, std::int64_t now) noexcept
{
    for (const gw_peer_t &p : peers) {
        if ((p.flags & GW_PEER_LIVE) && !(p.flags & GW_PEER_DOWN) && p.weight > 0
            && breaker::admissible(p.breaker, conf, now))
        {
            return true;
        }
    }
    return false;
}

} // namespace gw::balancer

extern "C" {

void gw_peer_init(gw_peer_t *peer, uint32_t weight, uint32_t max_conns, uint32_t flags, int64_t now)
{
    std::uint64_t generation = peer->slot_generation;
    *peer = gw_peer_t{};
    peer->slot_generation = generation + 1;
    peer->weight = weight;
    peer->max_conns = max_conns;
    peer->flags = flags;
    gw::breaker::reset(peer->breaker, now);
}

gw_pick_rc_t gw_balancer_pick(gw_peer_t *peers, size_t n, gw_balance_method_t method,
                              const gw_breaker_conf_t *conf, const uint64_t *tried, size_t tried_words,
                              int64_t now, gw_pick_t *pick, gw_transition_t *transition)
{
    gw_transition_t t = GW_TRANSITION_NONE;
    if (peers == nullptr || conf == nullptr || pick == nullptr) return GW_PICK_NONE;
    auto rc = gw::balancer::pick({peers, n}, method, *conf, tried, tried_words, now, *pick, t);
    if (transition != nullptr) *transition = t;
    return rc;
}

gw_transition_t gw_balancer_release(gw_peer_t *peers, size_t n, const gw_breaker_conf_t *conf,
                                    const gw_pick_t *pick, gw_outcome_t outcome, int64_t now)
{
    if (peers == nullptr || conf == nullptr || pick == nullptr) return GW_TRANSITION_NONE;
    return gw::balancer::release({peers, n}, *conf, *pick, outcome, now);
}

gw_transition_t gw_balancer_report(gw_peer_t *peers, size_t n, const gw_breaker_conf_t *conf,
                                   const gw_pick_t *pick, gw_outcome_t outcome, int64_t now)
{
    if (peers == nullptr || conf == nullptr || pick == nullptr) return GW_TRANSITION_NONE;
    return gw::balancer::report({peers, n}, *conf, *pick, outcome, now);
}

void gw_balancer_hold(gw_holding_t *holdings, size_t n, const gw_pick_t *pick)
{
    if (holdings == nullptr || pick == nullptr) return;
    gw::balancer::hold({holdings, n}, *pick);
}

void gw_balancer_unhold(gw_holding_t *holdings, size_t n, const gw_pick_t *pick)
{
    if (holdings == nullptr || pick == nullptr) return;
    gw::balancer::unhold({holdings, n}, *pick);
}

uint32_t gw_balancer_reclaim(gw_peer_t *peers, gw_holding_t *holdings, size_t n)
{
    if (peers == nullptr || holdings == nullptr) return 0;
    return gw::balancer::reclaim({peers, n}, {holdings, n});
}

int gw_balancer_available(const gw_peer_t *peers, size_t n, const gw_breaker_conf_t *conf, int64_t now)
{
    if (peers == nullptr || conf == nullptr) return 0;
    return gw::balancer::available({peers, n}, *conf, now);
}

int gw_breaker_state(const gw_breaker_t *b, const gw_breaker_conf_t *conf, int64_t now)
{
    return static_cast<int>(gw::breaker::current(*b, *conf, now));
}

int64_t gw_breaker_open_period(const gw_breaker_conf_t *conf, uint32_t opens)
{
    return gw::breaker::open_period(*conf, opens);
}

const char *gw_circuit_state_name(int state)
{
    switch (state) {
    case GW_CIRCUIT_OPEN: return "open";
    case GW_CIRCUIT_HALF_OPEN: return "half_open";
    default: return "closed";
    }
}

} // extern "C"
