#include "request_id.hpp"

#include <algorithm>

#include "hex.hpp"

namespace gw {

bool is_valid_request_id(std::string_view id) noexcept
{
    // Visible ASCII only: no spaces, no control characters, nothing that
    // could split a header or a log line.
    return !id.empty() && id.size() <= GW_REQUEST_ID_MAX_LEN
           && std::ranges::all_of(id, [](char c) { return c > 0x20 && c < 0x7f; });
}

std::array<char, GW_REQUEST_ID_LEN>
make_request_id(std::span<const std::uint8_t, GW_REQUEST_ID_RANDOM> random) noexcept
{
    std::array<char, GW_REQUEST_ID_LEN> id{};
    hex::encode(random, id.data());
    return id;
}

} // namespace gw

extern "C" {

int gw_request_id_is_valid(const char *id, size_t len)
{
    return id != nullptr && gw::is_valid_request_id({id, len});
}

void gw_request_id_generate(const unsigned char *random, char *out)
{
    auto id = gw::make_request_id(std::span<const std::uint8_t, GW_REQUEST_ID_RANDOM>(random, GW_REQUEST_ID_RANDOM));
    std::ranges::copy(id, out);
}

} // extern "C"
