#include "otlp_batcher.hpp"

#include <algorithm>
#include <cstring>
#include <new>

#include <sys/mman.h>
#include <unistd.h>
#include <string_view>

#include "otlp_encode.hpp"

namespace gw::otlp {

namespace {

// Chunks kept for reuse after a burst; the rest give their memory back.
constexpr std::size_t max_spare_chunks = 2;

// A chunk is made with room for its batch of spans of this size, the
// usual span's, so that it seldom grows.
constexpr std::size_t usual_span = 512;
constexpr std::size_t max_chunk_room = 1 << 20;

} // namespace

#if defined(__SANITIZE_ADDRESS__)
#define GW_OTLP_WATCHED_MEMORY 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GW_OTLP_WATCHED_MEMORY 1
#endif
#endif

#if defined(GW_OTLP_WATCHED_MEMORY)

void Bytes::resize(std::size_t n)
{
    if (n > capacity_) {
        std::size_t capacity = std::max(n, 2 * capacity_);
        auto *grown = new std::uint8_t[capacity];
        if (size_) std::memcpy(grown, data_, size_);
        delete[] data_;
        data_ = grown;
        capacity_ = capacity;
    }
    size_ = n;
}

void Bytes::release() noexcept
{
    delete[] data_;
}

#else

void Bytes::resize(std::size_t n)
{
    if (n > capacity_) {
        static const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
        std::size_t capacity = (std::max(n, 2 * capacity_) + page - 1) / page * page;
        void *grown = data_ ? mremap(data_, capacity_, capacity, MREMAP_MAYMOVE)
                            : mmap(nullptr, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (grown == MAP_FAILED) throw std::bad_alloc();
        data_ = static_cast<std::uint8_t *>(grown);
        capacity_ = capacity;
    }
    size_ = n;
}

void Bytes::release() noexcept
{
    if (data_) munmap(data_, capacity_);
}

#endif

std::uint8_t *Bytes::room(std::size_t n)
{
    std::size_t end = size_;
    if (n > capacity_ - size_) {
        resize(size_ + n);
        size_ = end;
    }
    return data_ + end;
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
    chunk.bytes.room(std::min(header_room_ + batch_ * usual_span, max_chunk_room));
    chunk.bytes.resize(header_room_);
    chunks_.push_back(std::move(chunk));
    return chunks_.back();
}

// A span record: its tag, then two bytes of length (a span takes 128
// bytes to 16 KB; close() moves the rare longer one).
constexpr std::size_t span_record_head = 3;

gw_otlp_rc_e Batcher::open(const gw_otlp_span_t &span)
{
    if (open_) abandon();
    if (held_ >= queue_) return GW_OTLP_DROPPED;

    Chunk &chunk = open_chunk();
    std::size_t mark = chunk.bytes.size();
    protobuf::Writer w(chunk.bytes.room(span_record_head + span_head_room(span) + span_attributes_room(span)));
    w.tag(scope_spans_spans, protobuf::WireType::length_delimited);
    w.skip(span_record_head - 1);
    if (!encode_span_head(span, w)) return GW_OTLP_INVALID;
    encode_span_attributes(span, w);

    open_ = &chunk;
    open_mark_ = mark;
    open_failed_ = false;
    open_span_ = span;
    end_ = w.end();
    limit_ = chunk.bytes.limit();
    return GW_OTLP_OK;
}

bool Batcher::span_room(std::size_t n) noexcept
{
    if (!open_ || open_failed_) return false;
    if (static_cast<std::size_t>(limit_ - end_) >= n) return true;
    Bytes &bytes = open_->bytes;
    try {
        bytes.set_end(end_);
        end_ = bytes.room(n);
        limit_ = bytes.limit();
        return true;
    } catch (const std::bad_alloc &) {
        open_failed_ = true;
        end_ = limit_ = nullptr;
        return false;
    }
}

void Batcher::long_str(std::span<const std::uint8_t> key, std::string_view value) noexcept
{
    if (!span_room(attribute_room(key.size(), value.size()))) return;
    protobuf::Writer w(end_);
    string_attribute(w, span_attributes, key, value);
    end_ = w.end();
}

void Batcher::long_integer(std::span<const std::uint8_t> key, std::int64_t value) noexcept
{
    if (!span_room(attribute_room(key.size(), 0))) return;
    protobuf::Writer w(end_);
    int_attribute(w, span_attributes, key, value);
    end_ = w.end();
}

gw_otlp_rc_e Batcher::close() noexcept
{
    if (!open_) return GW_OTLP_INVALID;
    // the tail, and the bytes a longer length would add
    if (!span_room(span_tail_room + protobuf::max_varint_size)) {
        abandon();
        return GW_OTLP_NOMEM;
    }
    protobuf::Writer w(end_);
    encode_span_tail(open_span_, w);

    Bytes &bytes = open_->bytes;
    std::uint8_t *record = bytes.data() + open_mark_;
    std::uint8_t *content = record + span_record_head;
    auto len = static_cast<std::size_t>(w.end() - content);
    std::size_t width = protobuf::varint_size(len);
    if (width != span_record_head - 1) {
        std::memmove(record + 1 + width, content, len);
    }
    protobuf::put_varint(record + 1, len);
    bytes.set_end(record + 1 + width + len);

    ++open_->spans;
    ++held_;
    open_ = nullptr;
    end_ = limit_ = nullptr;
    return GW_OTLP_OK;
}

void Batcher::abandon() noexcept
{
    open_->bytes.set_end(open_->bytes.data() + open_mark_);
    open_ = nullptr;
    end_ = limit_ = nullptr;
}

std::span<const std::uint8_t> Batcher::take()
{
    if (in_flight_ || chunks_.empty() || chunks_.front().spans == 0 || open_ == &chunks_.front()) return {};
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

gw_otlp_rc_e gw_otlp_span_open(gw_otlp_batcher_t *b, const gw_otlp_span_t *span)
{
    if (span == nullptr || span->trace == nullptr || (span->nattrs && span->attrs == nullptr)) {
        return GW_OTLP_INVALID;
    }
    try {
        return b->batcher.open(*span);
    } catch (...) {
        return GW_OTLP_NOMEM;
    }
}

void gw_otlp_span_str(gw_otlp_batcher_t *b, const gw_otlp_key_t *key, const char *value, size_t len)
{
    b->batcher.str({key->data, key->len}, {value, len});
}

void gw_otlp_span_strs(gw_otlp_batcher_t *b, const gw_otlp_key_t *keys, const gw_otlp_str_t *values, size_t n)
{
    b->batcher.strs(keys, values, n);
}

void gw_otlp_span_int(gw_otlp_batcher_t *b, const gw_otlp_key_t *key, int64_t value)
{
    b->batcher.integer({key->data, key->len}, value);
}

gw_otlp_rc_e gw_otlp_span_close(gw_otlp_batcher_t *b)
{
    return b->batcher.close();
}

size_t gw_otlp_key_room(size_t len)
{
    return gw::otlp::key_room(len);
}

size_t gw_otlp_key_encode(const char *key, size_t len, unsigned char *out)
{
    return gw::otlp::encode_key({key, len}, out);
}

size_t gw_otlp_attr_room(const gw_otlp_key_t *key, size_t len)
{
    return gw::otlp::attribute_room(key->len, len);
}

size_t gw_otlp_str_encode(const gw_otlp_key_t *key, const char *value, size_t len, unsigned char *out)
{
    gw::protobuf::Writer w(out);
    gw::otlp::string_attribute(w, gw::otlp::span_attributes, {key->data, key->len}, {value, len});
    return static_cast<size_t>(w.end() - out);
}

size_t gw_otlp_int_encode(const gw_otlp_key_t *key, int64_t value, unsigned char *out)
{
    gw::protobuf::Writer w(out);
    gw::otlp::int_attribute(w, gw::otlp::span_attributes, {key->data, key->len}, value);
    return static_cast<size_t>(w.end() - out);
}

void gw_otlp_span_encoded(gw_otlp_batcher_t *b, const unsigned char *bytes, size_t len)
{
    b->batcher.encoded({bytes, len});
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
