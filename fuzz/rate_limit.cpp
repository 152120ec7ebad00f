// libFuzzer target: rate parsing, and both algorithms driven by arbitrary
// sequences of clock moves (forwards, backwards, huge) and costs. Checks
// what must hold whatever happens: remaining never above the limit, a
// rejection's retry_ms exact (one millisecond earlier still rejected, at
// retry_ms admitted) while the clock runs forwards, and a token bucket never
// admitting more than burst + rate x elapsed.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "gw_rate_limit.h"

namespace {

struct Input {
    const std::uint8_t *p;
    std::size_t n;

    std::uint64_t take(std::size_t bytes)
    {
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < bytes && n; ++i, ++p, --n) v = v << 8 | *p;
        return v;
    }
};

void check(bool ok)
{
    if (!ok) __builtin_trap();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    std::uint32_t count, period;
    gw_rl_parse_rate(reinterpret_cast<const char *>(data), size, &count, &period);

    Input in{data, size};
    std::uint32_t algorithm = in.take(1) & 1;
    count = static_cast<std::uint32_t>(in.take(3) % 200000) + 1;
    period = (in.take(1) & 1) ? 60000 : 1000;
    std::uint32_t burst = static_cast<std::uint32_t>(in.take(2) % 1000);

    gw_rl_policy_t policy;
    if (gw_rl_policy_init(&policy, algorithm, count, period, burst) != GW_RL_OK) return 0;

    gw_rl_state_t state{0, 0};
    std::uint64_t now = in.take(6);
    std::uint64_t start = now, admitted = 0;
    bool monotonic = true;

    while (in.n) {
        std::uint64_t op = in.take(2);
        std::uint32_t cost = static_cast<std::uint32_t>(op & 0x7) + 1;
        std::uint64_t move = op >> 3;

        if (move & 0x1000) {
            now -= std::min<std::uint64_t>(now, move & 0xfff);   // backwards
            monotonic = false;
        } else if (move & 0x800) {
            now += (move & 0x7ff) * 1000003;                      // far ahead
        } else {
            now += move & 0x7ff;
        }

        gw_rl_result_t r;
        gw_rl_state_t next;

        if (gw_rl_take(&policy, &state, now, cost, &next, &r)) {
            state = next;
            admitted += cost;
        } else if (monotonic && cost <= policy.burst) {
            check(r.retry_ms >= 1);
            gw_rl_state_t probe;
            gw_rl_result_t r2;
            if (r.retry_ms > 1 && now >= state.stamp) {
                check(!gw_rl_take(&policy, &state, now + r.retry_ms - 1, cost, &probe, &r2));
            }
            check(gw_rl_take(&policy, &state, now + r.retry_ms, cost, &probe, &r2) == 1);
        }

        check(r.remaining <= r.limit);
        check(r.limit == policy.burst);

        if (monotonic && algorithm == GW_RL_TOKEN_BUCKET && now - start < (1ull << 40)) {
            check(admitted <= policy.burst + (now - start) * count / period + 1);
        }

        if (gw_rl_is_idle(&policy, &state, now)) {
            // forgetting an idle key changes nothing: a fresh state answers alike
            gw_rl_state_t fresh{0, 0}, a, b;
            gw_rl_result_t ra, rb;
            int x = gw_rl_take(&policy, &state, now, cost, &a, &ra);
            int y = gw_rl_take(&policy, &fresh, now, cost, &b, &rb);
            check(x == y && ra.remaining == rb.remaining);
        }
    }

    return 0;
}
