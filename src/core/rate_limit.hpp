#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "gw_rate_limit.h"

namespace gw::rl {

struct Rate {
    std::uint32_t count;
    std::uint32_t period_ms;
};

// "Nr/s" or "Nr/m", N in 1..GW_RL_MAX_COUNT.
std::optional<Rate> parse_rate(std::string_view text) noexcept;

gw_rl_status_t make_policy(gw_rl_policy_t &policy, std::uint32_t algorithm, Rate rate,
                           std::uint32_t burst) noexcept;

// Both algorithms share this interface; the policy picks one.
gw_rl_result_t take(const gw_rl_policy_t &policy, gw_rl_state_t &state, std::uint64_t now,
                    std::uint32_t cost) noexcept;
std::uint32_t window_seconds(const gw_rl_policy_t &policy) noexcept;
void refund(const gw_rl_policy_t &policy, gw_rl_state_t &state, const gw_rl_state_t &taken,
            std::uint32_t cost) noexcept;
bool is_idle(const gw_rl_policy_t &policy, const gw_rl_state_t &state, std::uint64_t now) noexcept;

std::uint64_t key_hash(std::string_view key) noexcept;

} // namespace gw::rl
