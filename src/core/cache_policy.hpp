// Cache policy: HTTP list headers read the way RFC 9110/9111 write them,
// and what they mean for a shared cache.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "gw_cache.h"

namespace gw::cache {

// The statuses a response may be stored with.
constexpr bool is_storable_status(unsigned status) noexcept
{
    return status == 200 || status == 301 || status == 404;
}

// ASCII only: header names and directives are tokens. Inline: it runs for
// every header of every response looked at.
constexpr bool equals_ignoring_case(std::string_view a, std::string_view b) noexcept
{
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + 32);
        if (x != y) return false;
    }
    return true;
}

// delta-seconds: digits only, capped at GW_CACHE_MAX_LIFETIME.
std::optional<std::uint32_t> parse_delta_seconds(std::string_view text) noexcept;

// What a Cache-Control header (all its lines) says to a shared cache.
struct CacheControl {
    bool no_store = false;
    bool no_cache = false;
    bool is_private = false;
    std::optional<std::uint32_t> max_age;
    std::optional<std::uint32_t> s_maxage;
    bool unreadable = false;   // a max-age/s-maxage that cannot be used

    // inline: most requests, and many responses, have no lines to parse
    static CacheControl parse(std::span<const gw_cache_str_t> lines) noexcept
    {
        return lines.empty() ? CacheControl{} : parse_lines(lines);
    }
    static CacheControl parse_lines(std::span<const gw_cache_str_t> lines) noexcept;
};

// Vary: storable when it names nothing but Accept-Encoding.
struct Vary {
    bool storable = true;
    bool accept_encoding = false;

    static Vary parse(std::span<const gw_cache_str_t> lines) noexcept
    {
        return lines.empty() ? Vary{} : parse_lines(lines);
    }
    static Vary parse_lines(std::span<const gw_cache_str_t> lines) noexcept;
};

gw_cache_request_plan_t plan_request(const gw_cache_request_t &request) noexcept;

gw_cache_store_plan_t plan_response(const gw_cache_response_t &response,
                                    const gw_cache_limits_t &limits, std::int64_t now) noexcept;

} // namespace gw::cache
