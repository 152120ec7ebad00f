// Per-peer circuit breaker: closed -> open -> half-open -> closed | open.
//
// Closed counts consecutive failures; `failures` of them open the circuit.
// Open rejects everything until its period ends; the period grows with each
// opening in a row (doubling, capped at max_open, like Envoy's ejection
// backoff) and the growth is forgotten once the peer has stayed closed for
// max_open. Past the period the circuit is half-open: at most `half_open`
// trial requests are admitted; one success closes it, one failure reopens
// it. Every change bumps the generation, and results carrying an older
// generation are ignored, so requests that started before a transition do
// not count towards the new state.
#pragma once

#include <cstdint>
#include <type_traits>

#include "gw_balancer.h"

namespace gw::breaker {

static_assert(std::is_trivially_copyable_v<gw_breaker_t>);
static_assert(std::is_standard_layout_v<gw_breaker_t>);

enum class State : std::uint8_t {
    closed = GW_CIRCUIT_CLOSED,
    open = GW_CIRCUIT_OPEN,
    half_open = GW_CIRCUIT_HALF_OPEN,
};

struct Admission {
    bool admitted;
    bool trial;
    std::uint64_t generation;
    State state;              // state when admitted (after any half-opening)
    bool half_opened;         // this admission moved open -> half-open
};

void reset(gw_breaker_t &b, std::int64_t now) noexcept;

bool enabled(const gw_breaker_conf_t &conf) noexcept;

// State as seen at `now`, without changing anything.
State current(const gw_breaker_t &b, const gw_breaker_conf_t &conf, std::int64_t now) noexcept;

// Would a request be admitted at `now`? Changes nothing.
bool admissible(const gw_breaker_t &b, const gw_breaker_conf_t &conf, std::int64_t now) noexcept;

// Admits a request when possible, half-opening an expired open circuit.
Admission admit(gw_breaker_t &b, const gw_breaker_conf_t &conf, std::int64_t now) noexcept;

// Records the result of a request admitted with `generation`.
gw_transition_t report(gw_breaker_t &b, const gw_breaker_conf_t &conf, std::uint64_t generation,
                       bool trial, gw_outcome_t outcome, std::int64_t now) noexcept;

// Trials admitted under `generation` that will never report (their process
// died) stop counting, so the circuit admits others in their place.
void abandon_trials(gw_breaker_t &b, std::uint64_t generation, std::uint32_t trials) noexcept;

std::int64_t open_period(const gw_breaker_conf_t &conf, std::uint32_t opens) noexcept;

} // namespace gw::breaker
