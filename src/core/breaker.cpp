#include "breaker.hpp"

#include <algorithm>

namespace gw::breaker {

namespace {

State state_of(const gw_breaker_t &b) noexcept
{
    return static_cast<State>(b.state);
}

void enter(gw_breaker_t &b, State s) noexcept
{
    b.state = static_cast<std::uint8_t>(s);
    b.generation++;
    b.trials = 0;
    b.failures = 0;
}

void open(gw_breaker_t &b, const gw_breaker_conf_t &conf, std::int64_t now) noexcept
{
    b.open_until = now + open_period(conf, b.opens);
    if (b.opens < 63) b.opens++;
    enter(b, State::open);
}

} // namespace

void reset(gw_breaker_t &b, std::int64_t now) noexcept
{
    b = gw_breaker_t{};
    b.state = static_cast<std::uint8_t>(State::closed);
    b.closed_at = now;
}

bool enabled(const gw_breaker_conf_t &conf) noexcept
{
    return conf.failures > 0;
}

std::int64_t open_period(const gw_breaker_conf_t &conf, std::uint32_t opens) noexcept
{
    std::int64_t base = std::max<std::int64_t>(conf.open_ms, 0);
    std::int64_t cap = std::max(conf.max_open_ms, base);
    std::int64_t period = base;

    // doubling, stopping at the cap before it could overflow
    for (std::uint32_t i = 0; i < opens && period < cap; i++) {
        period *= 2;
    }
    return std::min(period, cap);
}

State current(const gw_breaker_t &b, const gw_breaker_conf_t &conf, std::int64_t now) noexcept
{
    if (!enabled(conf)) return State::closed;
    State s = state_of(b);
    if (s == State::open && now >= b.open_until) return State::half_open;
    return s;
}

bool admissible(const gw_breaker_t &b, const gw_breaker_conf_t &conf, std::int64_t now) noexcept
{
    if (!enabled(conf)) return true;
    switch (state_of(b)) {
    case State::closed:
        return true;
    case State::open:
        return now >= b.open_until && conf.half_open > 0;
    case State::half_open:
        return b.trials < conf.half_open;
    }
    return false;
}

Admission admit(gw_breaker_t &b, const gw_breaker_conf_t &conf, std::int64_t now) noexcept
{
    if (!enabled(conf)) return {true, false, b.generation, State::closed, false};

    bool half_opened = false;

    if (state_of(b) == State::open) {
        if (now < b.open_until) return {false, false, b.generation, State::open, false};
        enter(b, State::half_open);
        half_opened = true;
    }

    if (state_of(b) == State::closed) return {true, false, b.generation, State::closed, false};

    if (b.trials >= conf.half_open) return {false, false, b.generation, State::half_open, half_opened};

    b.trials++;
    return {true, true, b.generation, State::half_open, half_opened};
}

gw_transition_t report(gw_breaker_t &b, const gw_breaker_conf_t &conf, std::uint64_t generation,
                       bool trial, gw_outcome_t outcome, std::int64_t now) noexcept
{
    if (!enabled(conf) || generation != b.generation) return GW_TRANSITION_NONE;

    switch (state_of(b)) {
    case State::closed:
        if (outcome == GW_OUTCOME_SUCCESS) {
            b.failures = 0;
        } else if (outcome == GW_OUTCOME_FAILURE && ++b.failures >= conf.failures) {
            // a peer that stayed healthy for a whole max_open starts over
            if (now - b.closed_at >= std::max(conf.max_open_ms, conf.open_ms)) b.opens = 0;
            open(b, conf, now);
            return GW_TRANSITION_OPENED;
        }
        return GW_TRANSITION_NONE;

    case State::half_open:
        if (!trial) return GW_TRANSITION_NONE;
        if (outcome == GW_OUTCOME_SUCCESS) {
            enter(b, State::closed);
            b.closed_at = now;
            return GW_TRANSITION_CLOSED;
        }
        if (outcome == GW_OUTCOME_FAILURE) {
            open(b, conf, now);
            return GW_TRANSITION_REOPENED;
        }
        if (b.trials > 0) b.trials--;   // the slot goes to another trial
        return GW_TRANSITION_NONE;

    case State::open:
        // nothing is admitted while open, so nothing reports in this generation
        return GW_TRANSITION_NONE;
    }
    return GW_TRANSITION_NONE;
}

void abandon_trials(gw_breaker_t &b, std::uint64_t generation, std::uint32_t trials) noexcept
{
    if (state_of(b) != State::half_open || generation != b.generation) return;
    b.trials -= std::min(trials, b.trials);
}

} // namespace gw::breaker
