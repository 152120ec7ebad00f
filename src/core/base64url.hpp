// base64url (RFC 4648 section 5) as JOSE uses it: no padding, and only the
// canonical encoding of each byte string is accepted (the unused low bits
// of the last character must be zero), so one token has one spelling.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gw::base64url {

// Decoded bytes, or nullopt for anything that is not canonical unpadded
// base64url (stray characters, '=' padding, a length of 4n+1, non-zero
// unused bits).
std::optional<std::string> decode(std::string_view text);

// Like decode, but accepts correct '=' padding too (some JWKS publishers
// pad their key material).
std::optional<std::string> decode_padded(std::string_view text);

// Exact length decode would produce for a valid input of n characters.
constexpr std::size_t decoded_size(std::size_t n) noexcept
{
    return n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1);
}

std::string encode(std::string_view bytes);

} // namespace gw::base64url
