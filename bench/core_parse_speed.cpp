// ns/op of the core's JSON parser and base64url decoder on what one JWT
// request costs them: the header and the payload of the benchmark tokens
// (bench/cases/jwt_hs256_rbac.wrk, jwt_rs256_cache.wrk), the lookups
// jwt.cpp makes in them, and the three base64url segments.
//
//   make build/libgateway_core.a &&
//   g++ -std=c++20 -O2 -Isrc/core -Isrc/core/include bench/core_parse_speed.cpp \
//       build/libgateway_core.a -o build/core_parse_speed && build/core_parse_speed [SECONDS]
//
// Each line is the best of five rounds of about SECONDS/5 (default 2 s in all
// per item); compare runs on an otherwise idle core.
//
// Instructions per op instead: run each item exactly N times, optionally only
// the items whose name contains WORD, under callgrind, and divide:
//   valgrind --tool=callgrind build/core_parse_speed -n N [WORD]

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory_resource>
#include <string>
#include <string_view>

#include "base64url.hpp"
#include "json.hpp"

namespace {

// the segments of the two benchmark tokens
constexpr std::string_view hs_header = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";
constexpr std::string_view rs_header = "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYTEiLCJ0eXAiOiJKV1QifQ";
constexpr std::string_view payload =
    "eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJyb2xlcyI6WyJ2aWV3ZXIiXSwic3ViIjoiYmVuY2gtdXNlciJ9";
constexpr std::string_view hs_sig = "knRKd50JUzv2XnO2A5aLbT3ZErdoHrsj-tpzA62p1Ms";
constexpr std::string_view rs_sig =
    "hlRTW9qVacwu1NJfsDi_UskEqByPhPhPTaAl-FqM8ZlH-dP4SXzxWvHsFQ4aOSQ8G_cQewADXuBUHoMLTkWbaDKx4CtBQDnDLRfIo8LmDAUFiAIPywVC_1opWZh_rMPQ_79ypFPt1XWr4ilxg0IWObiudWdWz-Tpv7709AtJsWYsXAU-2iupo6jk4noDAWxCijHnywDyoyqRbPTOnXdeVH303vFzw6kGkxXkIyicOUIFDsQIrDqIluP8dM9zqU3aYxIV0IAVFIJZMuhNBmOTA-xLHPvUEPQU-_2vISnvb0FyWzSB7tR8yM_UQ6gH02y-891wG6Ir1GHMa-P4OUSQlw";

template <class T>
inline void keep(T const &v)
{
    asm volatile("" : : "r,m"(v) : "memory");
}

double seconds_per_item = 2.0;
std::size_t fixed_count = 0;        // -n N: run each item N times, untimed
const char *only = nullptr;

template <class F>
void bench(const char *name, F &&f)
{
    using clock = std::chrono::steady_clock;
    if (only && !std::strstr(name, only)) return;
    if (fixed_count) {
        for (std::size_t i = 0; i < fixed_count; ++i) f();
        std::printf("%-28s %zu times\n", name, fixed_count);
        return;
    }
    // calibrate: iterations for one round
    std::size_t n = 1000;
    for (;;) {
        auto t0 = clock::now();
        for (std::size_t i = 0; i < n; ++i) f();
        double s = std::chrono::duration<double>(clock::now() - t0).count();
        if (s > 0.02) {
            n = static_cast<std::size_t>(static_cast<double>(n) * (seconds_per_item / 5) / s) + 1;
            break;
        }
        n *= 4;
    }
    double best = 1e30;
    for (int round = 0; round < 5; ++round) {
        auto t0 = clock::now();
        for (std::size_t i = 0; i < n; ++i) f();
        double ns = std::chrono::duration<double, std::nano>(clock::now() - t0).count() / static_cast<double>(n);
        if (ns < best) best = ns;
    }
    std::printf("%-28s %8.1f ns/op\n", name, best);
}

std::string must_decode(std::string_view s)
{
    auto d = gw::base64url::decode(s);
    if (!d) {
        std::fprintf(stderr, "bad segment %.*s\n", static_cast<int>(s.size()), s.data());
        std::exit(2);
    }
    return *d;
}

// parse as jwt.cpp does: into an arena on the stack, with its limits
template <std::size_t Depth, std::size_t Items>
void parse_doc(std::string_view doc)
{
    alignas(std::max_align_t) std::byte buf[2048];
    std::pmr::monotonic_buffer_resource arena(buf, sizeof(buf), std::pmr::null_memory_resource());
    gw::json::Limits limits;
    limits.max_depth = Depth;
    limits.max_items = Items;
    auto r = gw::json::parse(doc, limits, &arena);
    if (!r) std::abort();
    keep(r.value);
}

} // namespace

int main(int argc, char **argv)
{
    if (argc > 2 && std::strcmp(argv[1], "-n") == 0) {
        fixed_count = std::strtoul(argv[2], nullptr, 10);
        if (argc > 3) only = argv[3];
    } else if (argc > 1) {
        seconds_per_item = std::atof(argv[1]);
    }

    std::string hs_json = must_decode(hs_header), rs_json = must_decode(rs_header), pl_json = must_decode(payload);
    std::printf("header %zu bytes: %s\nheader %zu bytes: %s\npayload %zu bytes: %s\n", hs_json.size(),
                hs_json.c_str(), rs_json.size(), rs_json.c_str(), pl_json.size(), pl_json.c_str());

    bench("parse hs256 header", [&] { parse_doc<4, 256>(hs_json); });
    bench("parse rs256 header", [&] { parse_doc<4, 256>(rs_json); });
    bench("parse payload", [&] { parse_doc<16, 1 << 16>(pl_json); });

    // the lookups Token::parse and the claim checks make
    auto h = gw::json::parse(rs_json);
    auto p = gw::json::parse(pl_json);
    static constexpr std::string_view header_names[] = {"alg", "typ", "cty", "crit", "b64", "kid"};
    static constexpr std::string_view claim_names[] = {"exp", "nbf", "iat", "iss", "aud", "roles", "sub"};
    bench("find x6 in header", [&] {
        for (auto k : header_names) keep(h.value.find(k));
    });
    bench("find x7 in payload", [&] {
        for (auto k : claim_names) keep(p.value.find(k));
    });

    char out[512];
    auto decode = [&](std::string_view s) {
        keep(s);
        if (!gw::base64url::decode_raw(s, out)) std::abort();
        keep(out);
    };
    bench("decode hs256 header (36)", [&] { decode(hs_header); });
    bench("decode payload (128)", [&] { decode(payload); });
    bench("decode hs256 sig (43)", [&] { decode(hs_sig); });
    bench("decode rs256 sig (342)", [&] { decode(rs_sig); });
    return 0;
}
