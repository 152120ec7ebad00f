#include "gw_stats.h"

#include <algorithm>
#include <cmath>
#include <span>

extern "C" {

const double gw_stats_default_buckets[GW_STATS_DEFAULT_BUCKETS] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
};

size_t gw_stats_bucket(const uint64_t *bounds, size_t n, uint64_t value)
{
    // a dozen bounds or so: a straight scan beats a search
    for (size_t i = 0; i < n; i++) {
        if (value <= bounds[i]) {
            return i;
        }
    }

    return n;
}

int gw_stats_bounds(const double *bounds, size_t n, double unit,
                    uint64_t *out)
{
    if ((n && (bounds == nullptr || out == nullptr)) || !(unit > 0)
        || !std::isfinite(unit))
    {
        return -1;
    }

    std::span<const double> in(bounds, n);

    for (size_t i = 0; i < in.size(); i++) {
        double units = std::round(in[i] / unit);

        if (!std::isfinite(in[i]) || in[i] < 0 || !(units < 0x1p63)) {
            return -1;
        }

        out[i] = static_cast<uint64_t>(units);

        if (i > 0 && out[i] <= out[i - 1]) {
            return -1;
        }
    }

    return 0;
}

} // extern "C"
