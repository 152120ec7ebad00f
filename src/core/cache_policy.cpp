#include "cache_policy.hpp"

#include <algorithm>

namespace gw::cache {

namespace {

constexpr bool is_ows(char c) noexcept
{
    return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) noexcept
{
    while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
    return s;
}

std::string_view view(const gw_cache_str_t &s) noexcept
{
    return s.data == nullptr ? std::string_view{} : std::string_view{s.data, s.len};
}

// One element of a comma-separated list: "max-age=60", "no-cache",
// "private=\"Set-Cookie, X\"" (quotes taken off the value).
struct ListElement {
    std::string_view name;
    std::string_view value;
    bool has_value = false;
};

// The element starting at pos (after commas and spaces); pos moves past
// it. A comma inside a quoted value does not end the element.
ListElement next_element(std::string_view line, std::size_t &pos) noexcept
{
    ListElement e;
    std::size_t start = pos;
    while (pos < line.size() && line[pos] != ',' && line[pos] != '=') ++pos;
    e.name = trim(line.substr(start, pos - start));

    if (pos < line.size() && line[pos] == '=') {
        e.has_value = true;
        ++pos;
        while (pos < line.size() && is_ows(line[pos])) ++pos;
        if (pos < line.size() && line[pos] == '"') {
            std::size_t open = ++pos;
            while (pos < line.size() && line[pos] != '"') pos += line[pos] == '\\' ? 2 : 1;
            e.value = line.substr(open, std::min(pos, line.size()) - open);
            pos = std::min(pos + 1, line.size());
            // anything between the closing quote and the comma spoils it
            std::size_t rest = pos;
            while (pos < line.size() && line[pos] != ',') ++pos;
            if (!trim(line.substr(rest, pos - rest)).empty()) e.value = line.substr(open - 1, pos - open + 1);
        } else {
            std::size_t open = pos;
            while (pos < line.size() && line[pos] != ',') ++pos;
            e.value = trim(line.substr(open, pos - open));
        }
    }
    if (pos < line.size()) ++pos;   // the comma
    return e;
}

template <typename Visit>
void for_each_element(std::span<const gw_cache_str_t> lines, Visit &&visit)
{
    for (const gw_cache_str_t &l : lines) {
        std::string_view line = view(l);
        std::size_t pos = 0;
        while (pos < line.size()) {
            ListElement e = next_element(line, pos);
            if (!e.name.empty() || e.has_value) visit(e);
        }
    }
}

// A max-age or s-maxage: absent, unusable, or a number of seconds.
struct Delta {
    bool present = false;
    bool usable = true;
    std::uint32_t seconds = 0;

    void take(const ListElement &e) noexcept
    {
        auto v = e.has_value ? parse_delta_seconds(e.value) : std::nullopt;
        // RFC 9111 4.2.1: conflicting values make the response stale
        if (!v || (present && *v != seconds)) usable = false;
        if (v) seconds = *v;
        present = true;
    }
};

std::uint32_t expires_lifetime(const gw_cache_response_t &r, std::int64_t now) noexcept
{
    if (r.expires == GW_CACHE_TIME_INVALID) return 0;   // "0" and the like: already expired
    bool dated = r.date != GW_CACHE_TIME_ABSENT && r.date != GW_CACHE_TIME_INVALID;
    std::int64_t base = dated ? r.date : now;
    if (r.expires <= base) return 0;
    std::uint64_t delta = static_cast<std::uint64_t>(r.expires) - static_cast<std::uint64_t>(base);
    return static_cast<std::uint32_t>(std::min<std::uint64_t>(delta, GW_CACHE_MAX_LIFETIME));
}

// The first member of Age; an unreadable Age counts as none.
std::uint32_t initial_age(gw_cache_str_t age) noexcept
{
    std::string_view v = view(age);
    v = trim(v.substr(0, v.find(',')));
    return parse_delta_seconds(v).value_or(0);
}

} // namespace

std::optional<std::uint32_t> parse_delta_seconds(std::string_view text) noexcept
{
    if (text.empty()) return std::nullopt;
    std::uint64_t v = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        v = std::min<std::uint64_t>(v * 10 + static_cast<std::uint64_t>(c - '0'), GW_CACHE_MAX_LIFETIME);
    }
    return static_cast<std::uint32_t>(v);
}

CacheControl CacheControl::parse_lines(std::span<const gw_cache_str_t> lines) noexcept
{
    CacheControl cc;
    Delta max_age, s_maxage;

    for_each_element(lines, [&](const ListElement &e) {
        if (equals_ignoring_case(e.name, "no-store")) {
            cc.no_store = true;
        } else if (equals_ignoring_case(e.name, "no-cache")) {
            cc.no_cache = true;   // with field names too: nothing to revalidate with
        } else if (equals_ignoring_case(e.name, "private")) {
            cc.is_private = true;
        } else if (equals_ignoring_case(e.name, "max-age")) {
            max_age.take(e);
        } else if (equals_ignoring_case(e.name, "s-maxage")) {
            s_maxage.take(e);
        }
    });

    // a shared cache reads s-maxage first; max-age matters only without it
    const Delta &used = s_maxage.present ? s_maxage : max_age;
    if (used.present && !used.usable) cc.unreadable = true;
    if (s_maxage.present && s_maxage.usable) cc.s_maxage = s_maxage.seconds;
    if (max_age.present && max_age.usable) cc.max_age = max_age.seconds;
    return cc;
}

Vary Vary::parse_lines(std::span<const gw_cache_str_t> lines) noexcept
{
    Vary vary;
    for_each_element(lines, [&](const ListElement &e) {
        if (!e.has_value && equals_ignoring_case(e.name, "accept-encoding")) {
            vary.accept_encoding = true;
        } else {
            vary.storable = false;   // "*", another field, or nonsense
        }
    });
    return vary;
}

gw_cache_request_plan_t plan_request(const gw_cache_request_t &r) noexcept
{
    if (!r.method_cached) return {0, 0, GW_CACHE_REQUEST_METHOD};
    if (r.authorization && !r.authorized) return {0, 0, GW_CACHE_REQUEST_AUTHORIZATION};
    if (r.cookie && !r.authorized) return {0, 0, GW_CACHE_REQUEST_COOKIE};

    CacheControl cc = CacheControl::parse({r.cache_control, r.cache_control_n});
    bool no_cache = cc.no_cache;

    // RFC 9111 5.4: Pragma counts only when Cache-Control is absent
    if (r.cache_control_n == 0) {
        for_each_element({r.pragma, r.pragma_n}, [&](const ListElement &e) {
            if (!e.has_value && equals_ignoring_case(e.name, "no-cache")) no_cache = true;
        });
    }

    // like proxy_cache_bypass: not read from the cache, but may refresh it
    gw_cache_request_plan_t plan{!r.bypass && !no_cache, !cc.no_store && !r.head, GW_CACHE_REQUEST_CACHED};
    if (r.bypass) {
        plan.reason = GW_CACHE_REQUEST_BYPASS;
    } else if (no_cache) {
        plan.reason = GW_CACHE_REQUEST_NO_CACHE;
    } else if (cc.no_store) {
        plan.reason = GW_CACHE_REQUEST_NO_STORE;
    } else if (r.head) {
        plan.reason = GW_CACHE_REQUEST_HEAD;
    }
    return plan;
}

gw_cache_store_plan_t plan_response(const gw_cache_response_t &r, const gw_cache_limits_t &limits,
                                    std::int64_t now) noexcept
{
    gw_cache_store_plan_t plan{};
    auto refuse = [&plan](gw_cache_store_reason_t reason) {
        plan.reason = reason;
        return plan;
    };

    if (!is_storable_status(r.status)) return refuse(GW_CACHE_STORE_STATUS);

    CacheControl cc = CacheControl::parse({r.cache_control, r.cache_control_n});
    if (cc.no_store) return refuse(GW_CACHE_STORE_NO_STORE);
    if (cc.is_private) return refuse(GW_CACHE_STORE_PRIVATE);
    if (cc.no_cache) return refuse(GW_CACHE_STORE_NO_CACHE);
    if (r.set_cookie) return refuse(GW_CACHE_STORE_SET_COOKIE);

    Vary vary = Vary::parse({r.vary, r.vary_n});
    if (!vary.storable) return refuse(GW_CACHE_STORE_VARY);
    plan.varies = vary.accept_encoding;

    if (r.content_length >= 0 && static_cast<std::uint64_t>(r.content_length) > limits.max_size) {
        return refuse(GW_CACHE_STORE_TOO_LARGE);
    }

    if (cc.unreadable) return refuse(GW_CACHE_STORE_STALE);
    std::uint32_t lifetime = cc.s_maxage   ? *cc.s_maxage
                             : cc.max_age  ? *cc.max_age
                             : r.expires != GW_CACHE_TIME_ABSENT ? expires_lifetime(r, now)
                                                                 : limits.default_ttl;
    if (lifetime == 0) return refuse(GW_CACHE_STORE_STALE);
    std::uint32_t age = initial_age(r.age);
    if (age >= lifetime) return refuse(GW_CACHE_STORE_STALE);

    plan.reason = GW_CACHE_STORE_OK;
    plan.lifetime = lifetime;
    plan.initial_age = age;
    plan.ttl_ms = std::uint64_t{lifetime - age} * 1000;
    return plan;
}

} // namespace gw::cache

extern "C" {

void gw_cache_request_plan(const gw_cache_request_t *request, gw_cache_request_plan_t *plan)
{
    *plan = gw::cache::plan_request(*request);
}

gw_cache_store_reason_t gw_cache_response_plan(const gw_cache_response_t *response,
                                               const gw_cache_limits_t *limits, int64_t now,
                                               gw_cache_store_plan_t *plan)
{
    *plan = gw::cache::plan_response(*response, *limits, now);
    return plan->reason;
}

} // extern "C"
