// Text that crosses into a protobuf string field must be valid UTF-8
// (collectors reject the whole request otherwise), and values that come
// from clients must be bounded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace gw::utf8 {

// Appends at most limit bytes of text to out as well-formed UTF-8: each
// ill-formed sequence (its maximal subpart, as Unicode recommends) becomes
// U+FFFD, and a cut falls between two characters.
void append_bounded(std::string_view text, std::size_t limit, std::vector<std::uint8_t> &out);

} // namespace gw::utf8
