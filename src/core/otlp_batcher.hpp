// A worker's queue of encoded spans, cut into request bodies of at most
// `batch` spans. Each span is encoded once, when it ends, into a chunk that
// keeps room in front for the request's header, so a body is sent from
// where its spans lie without copying them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "gw_otlp.h"
#include "otlp_encode.hpp"

namespace gw::otlp {

// A growable byte array whose new bytes are left uninitialised: a span's
// room is written over at once, so zeroing it first would be wasted.
//
// Its memory is pages of its own (mmap), not malloc's: a batch lives for
// seconds among requests whose pools malloc hands out and takes back many
// times a second, and a long-lived block in malloc's heap (or the hole it
// leaves when it grows) sends every pool allocation down malloc's slower
// paths. Under AddressSanitizer it is new[] memory, which ASan watches.
class Bytes {
public:
    Bytes() = default;
    Bytes(Bytes &&other) noexcept
        : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)),
          capacity_(std::exchange(other.capacity_, 0))
    {
    }
    Bytes &operator=(Bytes &&other) noexcept
    {
        if (this != &other) {
            release();
            data_ = std::exchange(other.data_, nullptr);
            size_ = std::exchange(other.size_, 0);
            capacity_ = std::exchange(other.capacity_, 0);
        }
        return *this;
    }
    ~Bytes() { release(); }

    std::uint8_t *data() noexcept { return data_; }
    std::uint8_t *limit() noexcept { return data_ + capacity_; }
    std::size_t size() const noexcept { return size_; }
    std::size_t capacity() const noexcept { return capacity_; }
    void clear() noexcept { size_ = 0; }
    // The end, with at least n bytes of capacity after it (std::bad_alloc,
    // the bytes unchanged, when out of memory); set_end() then says how
    // far they were written.
    std::uint8_t *room(std::size_t n);
    void set_end(const std::uint8_t *end) noexcept { size_ = static_cast<std::size_t>(end - data_); }
    // Sets the size; growing keeps the bytes held and leaves the new ones
    // unset (std::bad_alloc, the bytes unchanged, when out of memory).
    void resize(std::size_t n);

private:
    void release() noexcept;

    std::uint8_t *data_ = nullptr;
    std::size_t size_ = 0;
    std::size_t capacity_ = 0;
};

class Batcher {
public:
    Batcher(std::span<const gw_otlp_attr_t> resource, gw_otlp_str_t scope_name, gw_otlp_str_t scope_version,
            std::size_t batch, std::size_t queue);

    // A span written in steps into the newest batch: open() writes its
    // first fields and the attributes of its list, str() and integer() add
    // attributes (a key of encode_key()), close() ends it. span.trace stays
    // valid until close(). Until then, take() does not take that batch.
    // open() may give GW_OTLP_DROPPED or GW_OTLP_INVALID (no span is open
    // then); close() gives GW_OTLP_NOMEM, the span dropped, when memory
    // ran out on the way (std::bad_alloc from open()).
    gw_otlp_rc_e open(const gw_otlp_span_t &span);
    gw_otlp_rc_e close() noexcept;

    // An attribute costs a few dozen instructions: the usual one (see
    // short_string_attribute()) is written at once when short_room bytes
    // are left, any other takes the long way.
    [[gnu::always_inline]] void str(std::span<const std::uint8_t> key, std::string_view value) noexcept
    {
        if (key.empty() || value.empty()) return;
        if (static_cast<std::size_t>(limit_ - end_) >= short_room) {
            protobuf::Writer w(end_);
            if (short_string_attribute(w, span_attributes, key, value)) {
                end_ = w.end();
                return;
            }
        }
        long_str(key, value);
    }

    // With room for n short attributes at once, the room is checked once;
    // after a long one (which may move the span) each is checked again.
    [[gnu::always_inline]] void strs(const gw_otlp_key_t *keys, const gw_otlp_str_t *values, std::size_t n) noexcept
    {
        std::size_t i = 0;
        if (static_cast<std::size_t>(limit_ - end_) >= n * short_room) {
            protobuf::Writer w(end_);
            for (; i < n; ++i) {
                if (keys[i].len == 0 || values[i].len == 0) continue;
                if (!short_string_attribute(w, span_attributes, {keys[i].data, keys[i].len},
                                            {values[i].data, values[i].len})) {
                    break;
                }
            }
            end_ = w.end();
        }
        for (; i < n; ++i) str({keys[i].data, keys[i].len}, {values[i].data, values[i].len});
    }

    [[gnu::always_inline]] void integer(std::span<const std::uint8_t> key, std::int64_t value) noexcept
    {
        if (key.empty()) return;
        if (static_cast<std::size_t>(limit_ - end_) >= short_room) {
            protobuf::Writer w(end_);
            if (short_int_attribute(w, span_attributes, key, value)) {
                end_ = w.end();
                return;
            }
        }
        long_integer(key, value);
    }

    // Attributes encoded ahead (string_attribute(), int_attribute()).
    void encoded(std::span<const std::uint8_t> bytes) noexcept
    {
        if (bytes.empty()) return;
        if (static_cast<std::size_t>(limit_ - end_) < bytes.size() && !span_room(bytes.size())) return;
        std::memcpy(end_, bytes.data(), bytes.size());
        end_ += bytes.size();
    }

    gw_otlp_rc_e add(const gw_otlp_span_t &span)
    {
        gw_otlp_rc_e rc = open(span);
        return rc == GW_OTLP_OK ? close() : rc;
    }

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
    // Room for n more bytes of the open span (nullptr when no span is
    // open, or memory ran out: the span failed).
    bool span_room(std::size_t n) noexcept;
    void long_str(std::span<const std::uint8_t> key, std::string_view value) noexcept;
    void long_integer(std::span<const std::uint8_t> key, std::int64_t value) noexcept;
    void abandon() noexcept;

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

    // the span being written: its chunk, where its record starts, its head,
    // where it ends and the end of the room it has (both null when no
    // span is open or it failed: every attribute then takes the long way)
    Chunk *open_ = nullptr;
    std::size_t open_mark_ = 0;
    bool open_failed_ = false;
    gw_otlp_span_t open_span_{};
    std::uint8_t *end_ = nullptr;
    std::uint8_t *limit_ = nullptr;
};

} // namespace gw::otlp
