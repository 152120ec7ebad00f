#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "gw_request_id.h"

namespace gw {

bool is_valid_request_id(std::string_view id) noexcept;

std::array<char, GW_REQUEST_ID_LEN>
make_request_id(std::span<const std::uint8_t, GW_REQUEST_ID_RANDOM> random) noexcept;

} // namespace gw
