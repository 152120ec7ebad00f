// A worker's queue of encoded spans, cut into request bodies of at most
// `batch` spans. Each span is encoded once, when it ends, into a chunk that
// keeps room in front for the request's header, so a body is sent from
// where its spans lie without copying them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <vector>

#include "gw_otlp.h"

namespace gw::otlp {

// A growable byte array whose new bytes are left uninitialised: a span's
// room is written over at once, so zeroing it first would be wasted.
class Bytes {
public:
    std::uint8_t *data() noexcept { return data_.get(); }
    std::size_t size() const noexcept { return size_; }
    std::size_t capacity() const noexcept { return capacity_; }
    void clear() noexcept { size_ = 0; }
    // Sets the size; growing keeps the bytes held and leaves the new ones
    // unset (std::bad_alloc, the bytes unchanged, when out of memory).
    void resize(std::size_t n);

private:
    std::unique_ptr<std::uint8_t[]> data_;
    std::size_t size_ = 0;
    std::size_t capacity_ = 0;
};

class Batcher {
public:
    Batcher(std::span<const gw_otlp_attr_t> resource, gw_otlp_str_t scope_name, gw_otlp_str_t scope_version,
            std::size_t batch, std::size_t queue);

    gw_otlp_rc_e add(const gw_otlp_span_t &span);

    // The oldest batch as a request body (empty when none is waiting or one
    // is in flight); it stays valid until release().
    std::span<const std::uint8_t> take();
    std::span<const std::uint8_t> body() const noexcept { return in_flight_ ? body_ : std::span<const std::uint8_t>(); }
    void release(bool done);

    std::size_t batch_spans() const noexcept { return in_flight_ ? chunks_.front().spans : 0; }
    std::size_t held() const noexcept { return held_; }
    std::size_t pending() const noexcept { return held_ - batch_spans(); }

private:
    struct Chunk {
        Bytes bytes;                       // header room, then span records
        std::size_t spans = 0;
    };

    Chunk &open_chunk();

    std::vector<std::uint8_t> resource_field_;
    std::vector<std::uint8_t> scope_field_;
    std::size_t header_room_;
    std::size_t batch_;
    std::size_t queue_;

    std::deque<Chunk> chunks_;   // oldest first; the first may be in flight
    std::vector<Chunk> spare_;   // emptied chunks kept for their capacity
    std::size_t held_ = 0;
    bool in_flight_ = false;
    std::span<const std::uint8_t> body_;   // of the batch in flight
};

} // namespace gw::otlp
