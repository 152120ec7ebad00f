// Time and size of one Prometheus scrape's rendering in the core alone, for
// 1,000 and 10,000 series (or the counts given): eight in ten are request
// counters {route,method,status}, one in ten duration histograms {route}
// with the default eleven buckets, one in ten peer gauges {upstream,peer}.
// The output goes into 16 KB pieces, as the nginx handler hands them out.
//
//   make build/libgateway_core.a
//   g++ -std=c++20 -O2 -Isrc/core/include bench/metrics_render_speed.cpp build/libgateway_core.a
//       -o build/metrics_render_speed
//   build/metrics_render_speed [SERIES ...]
//
// METRICS_DUMP=FILE writes the last rendering to FILE (promtool check metrics FILE).

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "gw_prometheus.h"

namespace {

constexpr std::size_t piece = 16384;

gw_metric_str_t str(const std::string &s)
{
    return {s.data(), s.size()};
}

const gw_metric_str_t route_method_status[] = {{"route", 5}, {"method", 6}, {"status", 6}};
const gw_metric_str_t route_label[] = {{"route", 5}};
const gw_metric_str_t upstream_peer[] = {{"upstream", 8}, {"peer", 4}};
const double bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

const gw_metric_family_t families[] = {
    {{"gateway_http_requests_total", 27}, {"HTTP requests answered.", 23}, GW_METRIC_COUNTER, 3,
     route_method_status, 0, nullptr},
    {{"gateway_http_request_duration_seconds", 37}, {"Time to answer a request.", 25}, GW_METRIC_HISTOGRAM,
     1, route_label, 11, bounds},
    {{"gateway_upstream_peer_up", 24}, {"1 when the peer takes requests.", 31}, GW_METRIC_GAUGE, 2,
     upstream_peer, 0, nullptr},
};

struct Registry {
    std::vector<std::string> text;                 // label values
    std::vector<std::vector<gw_metric_str_t>> values;
    std::vector<gw_metric_series_t> series[3];
    std::vector<std::uint64_t> buckets;
    std::size_t input_bytes = 0;
};

Registry make(std::size_t n)
{
    static const char *methods[] = {"GET", "POST", "PUT", "DELETE"};
    static const char *statuses[] = {"2xx", "4xx", "5xx"};
    Registry r;
    r.text.reserve(3 * n);
    r.values.reserve(n);
    r.buckets.resize(n * 12);
    for (std::size_t i = 0; i < n; ++i) {
        std::size_t kind = i % 10 < 8 ? 0 : i % 10 == 8 ? 1 : 2;
        std::vector<gw_metric_str_t> v;
        if (kind == 0) {
            r.text.push_back("route_" + std::to_string(i / 12));
            v.push_back(str(r.text.back()));
            r.text.push_back(methods[i % 4]);
            v.push_back(str(r.text.back()));
            r.text.push_back(statuses[i / 4 % 3]);
            v.push_back(str(r.text.back()));
        } else if (kind == 1) {
            r.text.push_back("route_" + std::to_string(i));
            v.push_back(str(r.text.back()));
        } else {
            r.text.push_back("upstream_" + std::to_string(i / 50));
            v.push_back(str(r.text.back()));
            r.text.push_back("10.0." + std::to_string(i / 256 % 256) + "." + std::to_string(i % 256) + ":8080");
            v.push_back(str(r.text.back()));
        }
        for (auto &s : v) r.input_bytes += s.len;
        r.values.push_back(std::move(v));
        std::uint64_t *b = &r.buckets[i * 12];
        for (int k = 0; k < 12; ++k) b[k] = (i * 7 + k * 13) % 1000;
        r.series[kind].push_back({r.values.back().data(), double(i * 31 % 100000), b, double(i) * 0.0137});
        r.input_bytes += kind == 1 ? 12 * 8 + 8 : 8;
    }
    return r;
}

struct Pieces {
    gw_sink_t sink{};
    std::vector<char> buf;
    std::size_t used = 0;

    static int refill(gw_sink_t *s)
    {
        auto *p = static_cast<Pieces *>(s->data);
        if (s->pos) p->used = std::size_t(s->pos - p->buf.data());
        if (p->used + piece > p->buf.size()) p->buf.resize((p->used + piece) * 2);
        s->pos = p->buf.data() + p->used;
        s->end = s->pos + piece;
        return 0;
    }
};

std::size_t render(const Registry &r, Pieces &out)
{
    out.sink = {nullptr, nullptr, Pieces::refill, &out, 0};
    out.used = 0;
    gw_prom_writer_t w{};
    w.sink = &out.sink;
    for (int f = 0; f < 3; ++f) {
        for (const auto &s : r.series[f]) gw_prom_write_series(&w, &families[f], &s);
    }
    return std::size_t(out.sink.pos - out.buf.data());
}

} // namespace

int main(int argc, char **argv)
{
    std::vector<std::size_t> counts;
    for (int i = 1; i < argc; ++i) counts.push_back(std::strtoul(argv[i], nullptr, 10));
    if (counts.empty()) counts = {1000, 10000};

    for (auto &f : families) {
        if (gw_metric_family_check(&f) != GW_METRIC_OK) return 1;
    }

    for (std::size_t n : counts) {
        Registry r = make(n);
        Pieces out;
        std::size_t bytes = 0;
        double best = 1e30;
        int rounds = n >= 10000 ? 50 : 500;
        for (int k = 0; k < rounds; ++k) {
            auto t0 = std::chrono::steady_clock::now();
            bytes = render(r, out);
            auto t1 = std::chrono::steady_clock::now();
            best = std::min(best, std::chrono::duration<double, std::micro>(t1 - t0).count());
        }
        std::printf("%6zu series: %8.0f us per scrape, %5.0f ns per series, output %8zu bytes "
                    "(%zu lines), label values and counts %zu bytes\n",
                    n, best, best * 1000 / double(n), bytes,
                    std::size_t(std::count(out.buf.data(), out.buf.data() + bytes, '\n')), r.input_bytes);
        if (const char *dump = std::getenv("METRICS_DUMP")) {
            if (FILE *f = std::fopen(dump, "w")) {
                std::fwrite(out.buf.data(), 1, bytes, f);
                std::fclose(f);
            }
        }
    }
    return 0;
}
