// The blocking-query loop's rules, after Consul's "Blocking Queries"
// implementation notes: reset an index that goes backwards, never block on
// an index below 1, rate limit the loop with a token bucket (a burst of
// quick deliveries, then one request per interval), and back off on errors.

#include <algorithm>
#include <charconv>

#include "consul.hpp"

namespace {

// how far ahead of now the bucket's clock may run: the burst's tokens
std::int64_t burst_span(const gw_consul_poll_conf_t &c) noexcept
{
    return static_cast<std::int64_t>(std::max<std::uint32_t>(c.burst, 1) - 1) * c.interval_ms;
}

} // namespace

extern "C" {

void gw_consul_poll_conf_default(gw_consul_poll_conf_t *conf)
{
    conf->interval_ms = GW_CONSUL_DEFAULT_INTERVAL_MS;
    conf->burst = GW_CONSUL_DEFAULT_BURST;
    conf->backoff_ms = GW_CONSUL_DEFAULT_BACKOFF_MS;
    conf->max_backoff_ms = GW_CONSUL_DEFAULT_MAX_BACKOFF_MS;
}

void gw_consul_poll_init(gw_consul_poll_t *poll)
{
    *poll = gw_consul_poll_t{};
}

int64_t gw_consul_poll_delay(const gw_consul_poll_t *poll, const gw_consul_poll_conf_t *conf, int64_t now)
{
    // a bucket of `burst` tokens, one back per interval: the next request
    // may start once the theoretical arrival time is within the burst
    int64_t bucket = poll->tat - burst_span(*conf) - now;
    int64_t retry = poll->retry_at - now;
    return std::max<int64_t>({0, bucket, retry});
}

uint64_t gw_consul_poll_begin(gw_consul_poll_t *poll, const gw_consul_poll_conf_t *conf, int64_t now,
                              int same_server)
{
    poll->tat = std::max(poll->tat, now) + conf->interval_ms;
    return same_server ? poll->index : 0;
}

gw_consul_index_event_t gw_consul_poll_success(gw_consul_poll_t *poll, uint64_t reply_index)
{
    poll->errors = 0;
    poll->retry_at = 0;

    gw_consul_index_event_t event = GW_CONSUL_INDEX_ADVANCED;
    if (reply_index == 0) {
        // blocking on 0 would never block: 1 always waits for data to exist
        reply_index = 1;
        event = GW_CONSUL_INDEX_INVALID;
    }
    if (reply_index < poll->index) {
        // a restored snapshot, a changed watch: start over with a query
        // that returns at once
        poll->index = 0;
        return GW_CONSUL_INDEX_RESET;
    }
    if (reply_index == poll->index && event != GW_CONSUL_INDEX_INVALID) event = GW_CONSUL_INDEX_SAME;
    poll->index = reply_index;
    return event;
}

int64_t gw_consul_poll_failure(gw_consul_poll_t *poll, const gw_consul_poll_conf_t *conf, uint32_t nservers,
                               int64_t now, uint32_t random)
{
    if (poll->errors < UINT32_MAX) ++poll->errors;
    int64_t delay = std::max<int64_t>(conf->backoff_ms, 1);
    for (uint32_t i = 1; i < poll->errors && delay < conf->max_backoff_ms; ++i) delay *= 2;
    delay = std::min(delay, std::max(conf->max_backoff_ms, conf->backoff_ms));
    // somewhere in the upper half, so that gateways do not retry together
    int64_t half = delay / 2;
    delay = delay - half + static_cast<int64_t>(random % static_cast<uint64_t>(half + 1));
    poll->retry_at = now + delay;
    if (nservers > 0) poll->server = (poll->server + 1) % nservers;
    return delay;
}

uint64_t gw_consul_index_parse(const char *text, size_t len)
{
    std::string_view s(text, len);
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc{} || end != s.data() + s.size()) return 0;
    return v;
}

}
