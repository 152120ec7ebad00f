#include "otlp_batcher.hpp"

#include <algorithm>
#include <cstring>
#include <new>
#include <string_view>

#include "otlp_encode.hpp"

namespace gw::otlp {

namespace {

// Chunks kept for reuse after a burst; the rest give their memory back.
constexpr std::size_t max_spare_chunks = 2;

} // namespace

void Bytes::resize(std::size_t n)
{
    if (n > capacity_) {
        std::size_t capacity = std::max(n, 2 * capacity_);
        auto grown = std::make_unique_for_overwrite<std::uint8_t[]>(capacity);
        if (size_) std::memcpy(grown.get(), data_.get(), size_);
        data_ = std::move(grown);
        capacity_ = capacity;
    }
    size_ = n;
}

Batcher::Batcher(std::span<const gw_otlp_attr_t> resource, gw_otlp_str_t scope_name, gw_otlp_str_t scope_version,
                 std::size_t batch, std::size_t queue)
    : resource_field_(encode_resource_field(resource)), scope_field_(encode_scope_field(scope_name, scope_version)),
      // the two lengths in the header grow from 1 byte to at most 10
      header_room_(request_header_size(resource_field_.size(), scope_field_.size(), 0)
                   + 2 * (protobuf::max_varint_size - 1)),
      batch_(batch), queue_(queue)
{
}

Batcher::Chunk &Batcher::open_chunk()
{
    bool front_only_in_flight = in_flight_ && chunks_.size() == 1;
    if (!chunks_.empty() && !front_only_in_flight && chunks_.back().spans < batch_) return chunks_.back();

    Chunk chunk;
    if (!spare_.empty()) {
        chunk = std::move(spare_.back());
        spare_.pop_back();
    }
    chunk.bytes.resize(header_room_);
    chunks_.push_back(std::move(chunk));
    return chunks_.back();
}

gw_otlp_rc_e Batcher::add(const gw_otlp_span_t &span)
{
    if (held_ >= queue_) return GW_OTLP_DROPPED;

    Chunk &chunk = open_chunk();
    std::size_t mark = chunk.bytes.size();
    // the span's tag and length, then its fields; most spans fit in the
    // chunk's room left without counting their attributes' lengths
    constexpr std::size_t head = 1 + protobuf::delimited_overhead;
    std::size_t left = chunk.bytes.capacity() - mark;
    std::size_t fields = span_room_bound(span);
    if (left < head || fields > left - head) fields = span_room(span);
    chunk.bytes.resize(mark + head + fields);

    protobuf::Writer w(chunk.bytes.data() + mark);
    bool valid = true;
    // a span takes 128 bytes to 16 KB: two bytes of length
    w.delimited(scope_spans_spans, [&] { valid = encode_span(span, w); }, 2);
    chunk.bytes.resize(valid ? static_cast<std::size_t>(w.end() - chunk.bytes.data()) : mark);
    if (!valid) return GW_OTLP_INVALID;

    ++chunk.spans;
    ++held_;
    return GW_OTLP_OK;
}

std::span<const std::uint8_t> Batcher::take()
{
    if (in_flight_ || chunks_.empty() || chunks_.front().spans == 0) return {};
    in_flight_ = true;
    auto &bytes = chunks_.front().bytes;
    std::size_t spans_size = bytes.size() - header_room_;
    std::uint8_t *end = bytes.data() + header_room_;
    std::uint8_t *start = write_request_header(end, resource_field_, scope_field_, spans_size);
    body_ = {start, static_cast<std::size_t>(bytes.data() + bytes.size() - start)};
    return body_;
}

void Batcher::release(bool done)
{
    if (!in_flight_) return;
    in_flight_ = false;
    if (!done) return;

    Chunk &front = chunks_.front();
    held_ -= front.spans;
    front.spans = 0;
    if (spare_.size() < max_spare_chunks) {
        try {
            spare_.push_back(std::move(front));
        } catch (const std::bad_alloc &) {
            // the chunk is freed below instead
        }
    }
    chunks_.pop_front();
}

} // namespace gw::otlp

extern "C" {

struct gw_otlp_batcher_s {
    gw::otlp::Batcher batcher;
};

gw_otlp_batcher_t *gw_otlp_batcher_create(const gw_otlp_attr_t *resource_attrs, size_t nresource_attrs,
                                          gw_otlp_str_t scope_name, gw_otlp_str_t scope_version, size_t batch,
                                          size_t queue)
{
    if (batch == 0 || queue == 0 || (nresource_attrs && resource_attrs == nullptr)) return nullptr;
    try {
        return new gw_otlp_batcher_s{gw::otlp::Batcher({resource_attrs, nresource_attrs}, scope_name,
                                                       scope_version, batch, queue)};
    } catch (...) {
        return nullptr;
    }
}

void gw_otlp_batcher_destroy(gw_otlp_batcher_t *b)
{
    delete b;
}

gw_otlp_rc_e gw_otlp_batcher_add(gw_otlp_batcher_t *b, const gw_otlp_span_t *span)
{
    if (span == nullptr || span->trace == nullptr || (span->nattrs && span->attrs == nullptr)) {
        return GW_OTLP_INVALID;
    }
    try {
        return b->batcher.add(*span);
    } catch (...) {
        return GW_OTLP_NOMEM;
    }
}

size_t gw_otlp_batcher_pending(const gw_otlp_batcher_t *b)
{
    return b->batcher.pending();
}

size_t gw_otlp_batcher_held(const gw_otlp_batcher_t *b)
{
    return b->batcher.held();
}

size_t gw_otlp_batcher_take(gw_otlp_batcher_t *b, const unsigned char **body, size_t *len)
{
    auto taken = b->batcher.take();
    *body = taken.data();
    *len = taken.size();
    return taken.empty() ? 0 : b->batcher.batch_spans();
}

void gw_otlp_batcher_body(const gw_otlp_batcher_t *b, const unsigned char **body, size_t *len)
{
    auto in_flight = b->batcher.body();
    *body = in_flight.data();
    *len = in_flight.size();
}

void gw_otlp_batcher_release(gw_otlp_batcher_t *b, int done)
{
    b->batcher.release(done != 0);
}

} // extern "C"
