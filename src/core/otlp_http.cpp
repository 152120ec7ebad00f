// What an OTLP/HTTP exporter needs beyond the messages it sends: the value
// of http.request.method, and the collector's answer.
#include <array>
#include <cstdint>
#include <string_view>

#include "gw_otlp.h"
#include "protobuf.hpp"

namespace gw::otlp {

namespace {

// The methods of RFC 9110 and PATCH (RFC 5789), as the HTTP semantic
// conventions list them; any other is "_OTHER".
constexpr std::array<std::string_view, 9> known_methods = {"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                                           "CONNECT", "OPTIONS", "TRACE", "PATCH"};

// ExportTraceServiceResponse { partial_success = 1 } and
// ExportTracePartialSuccess { rejected_spans = 1; error_message = 2 }.
constexpr std::uint32_t response_partial_success = 1;
constexpr std::uint32_t partial_rejected_spans = 1, partial_error_message = 2;

bool parse_partial_success(std::span<const std::uint8_t> message, std::int64_t &rejected, std::string_view &text)
{
    protobuf::Reader r(message);
    while (auto f = r.next()) {
        if (f->number == partial_rejected_spans) {
            if (f->type != protobuf::WireType::varint) return false;
            rejected = static_cast<std::int64_t>(f->value);
        } else if (f->number == partial_error_message) {
            if (f->type != protobuf::WireType::length_delimited) return false;
            text = {reinterpret_cast<const char *>(f->bytes.data()), f->bytes.size()};
        }
    }
    return !r.failed();
}

} // namespace

} // namespace gw::otlp

extern "C" {

const char *gw_otlp_known_method(const char *method, size_t len)
{
    std::string_view m(method ? method : "", method ? len : 0);
    for (auto known : gw::otlp::known_methods) {
        if (m == known) return known.data();
    }
    return nullptr;
}

int gw_otlp_parse_response(const unsigned char *body, size_t len, int64_t *rejected, gw_otlp_str_t *message)
{
    std::int64_t count = 0;
    std::string_view text;
    gw::protobuf::Reader r({body, body ? len : 0});
    while (auto f = r.next()) {
        if (f->number != gw::otlp::response_partial_success) continue;
        if (f->type != gw::protobuf::WireType::length_delimited
            || !gw::otlp::parse_partial_success(f->bytes, count, text)) {
            return -1;
        }
    }
    if (r.failed()) return -1;
    *rejected = count;
    *message = {text.data(), text.size()};
    return 0;
}

} // extern "C"
