#include "json.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cstring>
#include <memory>
#include <numeric>
#include <vector>

#include "json_quote.hpp"
#include "utf8.hpp"

namespace gw::json {

namespace {

// Short keys (claim names are mostly three letters) compare faster inline:
// two overlapping loads cover every byte of a key up to 16 bytes.
[[gnu::always_inline]] inline bool same(std::string_view a, std::string_view b) noexcept
{
    std::size_t n = a.size();
    if (n != b.size()) return false;
    const char *x = a.data(), *y = b.data();
    auto eq = [](const char *p, const char *q, auto word) {
        decltype(word) u, v;
        std::memcpy(&u, p, sizeof(u));
        std::memcpy(&v, q, sizeof(v));
        return u == v;
    };
    if (n >= 8) {
        if (n > 16) return std::memcmp(x, y, n) == 0;
        return eq(x, y, std::uint64_t{}) && eq(x + n - 8, y + n - 8, std::uint64_t{});
    }
    if (n >= 4) return eq(x, y, std::uint32_t{}) && eq(x + n - 4, y + n - 4, std::uint32_t{});
    if (n == 0) return true;
    return x[0] == y[0] && x[n / 2] == y[n / 2] && x[n - 1] == y[n - 1];
}

// A key's tag: its first seven bytes (zero beyond its end) and, in the top
// byte, its length (255 for longer keys).  Equal keys have equal tags, and
// equal tags of keys shorter than eight bytes mean equal keys, so most
// comparisons of object keys are one of two words.
constexpr std::uint64_t tag_mask = 0x00ffffffffffffffull;

[[gnu::always_inline]] inline std::uint64_t make_tag(std::uint64_t prefix, std::size_t n) noexcept
{
    // prefix: the key's first min(n, 8) bytes as a little-endian word (any
    // bytes beyond them are masked off here)
    std::uint64_t keep = n >= 7 ? tag_mask : (std::uint64_t{1} << (8 * n)) - 1;
    return (prefix & keep) | static_cast<std::uint64_t>(n < 255 ? n : 255) << 56;
}

[[gnu::always_inline]] inline std::uint64_t load_le(const char *p, std::size_t n) noexcept
{
    std::uint64_t w = 0;
    std::memcpy(&w, p, n);
    if constexpr (std::endian::native == std::endian::big) w = __builtin_bswap64(w) >> (8 * (8 - n));
    return w;
}

// The tag of a key that may end anywhere: reads only its own bytes.
inline std::uint64_t tag_of(std::string_view key) noexcept
{
    std::size_t n = key.size();
    const char *p = key.data();
    std::uint64_t w;
    if (n >= 8) {
        return make_tag(load_le(p, 8), n);
    } else if (n >= 4) {
        w = load_le(p, 4) | load_le(p + n - 4, 4) << (8 * (n - 4));
    } else if (n >= 2) {
        w = load_le(p, 2) | load_le(p + n - 2, 2) << (8 * (n - 2));
    } else {
        w = n ? static_cast<unsigned char>(p[0]) : 0;
    }
    return w | std::uint64_t{n} << 56;           // w has no bytes beyond the key's
}

// Eight bytes of a string's body at once: the bits of the result mark
// (with the lowest one exact) the first byte that a plain copy cannot take:
// a quote, a backslash, a control character or a byte of a multi-byte
// UTF-8 sequence.  The borrows of the subtractions only reach bytes above
// a byte that is itself marked.
[[gnu::always_inline]] inline std::uint64_t special_bytes(std::uint64_t w) noexcept
{
    constexpr std::uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    std::uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
    return (((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w) | w) & high;
}

} // namespace

class Parser {
public:
    Parser(std::string_view text, const Limits &limits, std::pmr::memory_resource *memory) noexcept
        : s_(text), limits_(limits), memory_(memory)
    {
    }

    void run(Result &r)
    {
        if (s_.size() > limits_.max_size) {
            r.error = Error::too_large;
            return;
        }
        // decoded strings and numbers are never longer than their source:
        // they all go, one after another, into one block (with room for
        // the eight-byte copies of string bodies and tag loads)
        out_ = static_cast<char *>(memory_->allocate(s_.size() + 8, 1));
        skip_ws();
        if (!value(r.value, 0)) {
            r.error = error_;
            r.offset = pos_;
            r.value = Value();
            return;
        }
        skip_ws();
        if (pos_ != s_.size()) {
            r.error = Error::trailing_data;
            r.offset = pos_;
        }
    }

private:
    // A member of an array or object being parsed, until it is complete.
    struct Member {
        Value value;
        std::string_view key;
        std::uint64_t tag;
    };
    static constexpr std::size_t inline_members = 32;

    std::string_view s_;
    const Limits &limits_;
    std::pmr::memory_resource *memory_;
    char *out_ = nullptr;
    std::size_t pos_ = 0;
    std::size_t count_ = 0;
    Error error_ = Error::ok;

    // the members of all open arrays and objects, as a stack: on the
    // machine stack for small documents, else on the heap
    alignas(Member) std::byte inline_buf_[inline_members * sizeof(Member)];
    Member *stack_ = reinterpret_cast<Member *>(inline_buf_);
    std::size_t top_ = 0, cap_ = inline_members;
    std::unique_ptr<Member[]> heap_;

    Member &push()
    {
        if (top_ == cap_) [[unlikely]] {
            auto bigger = std::make_unique<Member[]>(cap_ * 2);
            std::memcpy(static_cast<void *>(bigger.get()), stack_, top_ * sizeof(Member));
            heap_ = std::move(bigger);
            stack_ = heap_.get();
            cap_ *= 2;
        }
        return stack_[top_++];
    }

    bool fail(Error e) noexcept
    {
        error_ = e;
        return false;
    }

    bool at_end() const noexcept { return pos_ >= s_.size(); }
    char peek() const noexcept { return at_end() ? '\0' : s_[pos_]; }

    void skip_ws() noexcept
    {
        if (!at_end() && static_cast<unsigned char>(s_[pos_]) > ' ') [[likely]] return;
        while (!at_end()) {
            char c = s_[pos_];
            if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
            ++pos_;
        }
    }

    bool literal(std::string_view word) noexcept
    {
        if (s_.substr(pos_, word.size()) != word) return fail(Error::syntax);
        pos_ += word.size();
        return true;
    }

    bool value(Value &v, std::size_t depth)
    {
        if (++count_ > limits_.max_items) return fail(Error::too_many);
        switch (peek()) {
        case '{':
            return object(v, depth + 1);
        case '[':
            return array(v, depth + 1);
        case '"':
            v.type_ = Type::string;
            return string(v);
        case 't':
            v.type_ = Type::boolean;
            v.flag_ = true;
            return literal("true");
        case 'f':
            v.type_ = Type::boolean;
            return literal("false");
        case 'n':
            v.type_ = Type::null;
            return literal("null");
        default:
            v.type_ = Type::number;
            return number(v);
        }
    }

    // Moves the members parsed since first from the stack into memory, as
    // the items of v (and, for an object, their keys and then the keys'
    // tags): one block holds them all.
    void finish(Value &v, std::size_t first)
    {
        std::size_t n = top_ - first;
        v.len_ = n;
        if (n == 0) return;
        bool object = v.type_ == Type::object;
        static_assert(alignof(Value) >= alignof(std::string_view));
        static_assert(alignof(std::string_view) >= alignof(std::uint64_t));
        std::size_t bytes = n * (sizeof(Value) + (object ? sizeof(std::string_view) + sizeof(std::uint64_t) : 0));
        auto *block = static_cast<std::byte *>(memory_->allocate(bytes, alignof(Value)));
        auto *items = reinterpret_cast<Value *>(block);
        const Member *m = stack_ + first;
        v.items_ = items;
        if (object) {
            auto *keys = reinterpret_cast<std::string_view *>(block + n * sizeof(Value));
            auto *tags = reinterpret_cast<std::uint64_t *>(block + n * (sizeof(Value) + sizeof(std::string_view)));
            for (std::size_t i = 0; i < n; ++i) {
                new (items + i) Value(m[i].value);
                new (keys + i) std::string_view(m[i].key);
                tags[i] = m[i].tag;
            }
            v.keys_ = keys;
        } else {
            for (std::size_t i = 0; i < n; ++i) new (items + i) Value(m[i].value);
        }
        top_ = first;
    }

    bool object(Value &v, std::size_t depth)
    {
        if (depth > limits_.max_depth) return fail(Error::too_deep);
        v.type_ = Type::object;
        std::size_t first = top_;
        ++pos_;
        skip_ws();
        if (peek() == '}') {
            ++pos_;
            return true;
        }
        for (;;) {
            skip_ws();
            if (peek() != '"') return fail(Error::syntax);
            Value key;
            if (!string(key)) return false;
            skip_ws();
            if (peek() != ':') return fail(Error::syntax);
            ++pos_;
            skip_ws();
            Value member;
            if (!value(member, depth)) return false;
            Member &m = push();
            m.value = member;
            m.key = std::string_view(key.text_, key.len_);
            // the key's bytes are followed by at least eight more of the
            // block (see run()), so one load covers any key's prefix
            m.tag = make_tag(load_le(key.text_, 8), key.len_);
            skip_ws();
            char c = peek();
            ++pos_;
            if (c == '}') break;
            if (c != ',') {
                --pos_;
                return fail(Error::syntax);
            }
        }
        if (!unique_keys(first)) return fail(Error::duplicate_key);
        finish(v, first);
        return true;
    }

    bool unique_keys(std::size_t first) const
    {
        const Member *m = stack_ + first;
        std::size_t n = top_ - first;
        if (n <= 8) {
            for (std::size_t i = 1; i < n; ++i) {
                for (std::size_t j = 0; j < i; ++j) {
                    if (m[i].tag == m[j].tag && (m[i].key.size() <= 7 || same(m[i].key, m[j].key))) return false;
                }
            }
            return true;
        }
        std::vector<std::string_view> sorted;
        sorted.reserve(n);
        for (std::size_t i = 0; i < n; ++i) sorted.push_back(m[i].key);
        std::ranges::sort(sorted);
        return std::ranges::adjacent_find(sorted) == sorted.end();
    }

    bool array(Value &v, std::size_t depth)
    {
        if (depth > limits_.max_depth) return fail(Error::too_deep);
        v.type_ = Type::array;
        std::size_t first = top_;
        ++pos_;
        skip_ws();
        if (peek() == ']') {
            ++pos_;
            return true;
        }
        for (;;) {
            skip_ws();
            Value item;
            if (!value(item, depth)) return false;
            push().value = item;
            skip_ws();
            char c = peek();
            ++pos_;
            if (c == ']') break;
            if (c != ',') {
                --pos_;
                return fail(Error::syntax);
            }
        }
        finish(v, first);
        return true;
    }

    static bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

    bool number(Value &v)
    {
        std::size_t start = pos_;
        if (peek() == '-') ++pos_;
        if (peek() == '0') {
            ++pos_;
        } else if (is_digit(peek())) {
            while (is_digit(peek())) ++pos_;
        } else {
            return fail(pos_ == start ? Error::syntax : Error::bad_number);
        }
        if (peek() == '.') {
            ++pos_;
            if (!is_digit(peek())) return fail(Error::bad_number);
            while (is_digit(peek())) ++pos_;
        }
        if (peek() == 'e' || peek() == 'E') {
            ++pos_;
            if (peek() == '+' || peek() == '-') ++pos_;
            if (!is_digit(peek())) return fail(Error::bad_number);
            while (is_digit(peek())) ++pos_;
        }
        std::size_t n = pos_ - start;
        std::memcpy(out_, s_.data() + start, n);
        v.text_ = out_;
        v.len_ = n;
        out_ += n;
        return true;
    }

    static int hex_value(char c) noexcept
    {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    }

    bool hex4(std::uint32_t &cp) noexcept
    {
        if (s_.size() - pos_ < 4) return false;
        cp = 0;
        for (int i = 0; i < 4; ++i) {
            int h = hex_value(s_[pos_++]);
            if (h < 0) return false;
            cp = cp << 4 | static_cast<std::uint32_t>(h);
        }
        return true;
    }

    void put(char c) noexcept { *out_++ = c; }

    void put_utf8(std::uint32_t cp) noexcept
    {
        if (cp < 0x80) {
            put(static_cast<char>(cp));
        } else if (cp < 0x800) {
            put(static_cast<char>(0xc0 | cp >> 6));
            put(static_cast<char>(0x80 | (cp & 0x3f)));
        } else if (cp < 0x10000) {
            put(static_cast<char>(0xe0 | cp >> 12));
            put(static_cast<char>(0x80 | (cp >> 6 & 0x3f)));
            put(static_cast<char>(0x80 | (cp & 0x3f)));
        } else {
            put(static_cast<char>(0xf0 | cp >> 18));
            put(static_cast<char>(0x80 | (cp >> 12 & 0x3f)));
            put(static_cast<char>(0x80 | (cp >> 6 & 0x3f)));
            put(static_cast<char>(0x80 | (cp & 0x3f)));
        }
    }

    bool escape() noexcept
    {
        char c = peek();
        ++pos_;
        switch (c) {
        case '"': put('"'); return true;
        case '\\': put('\\'); return true;
        case '/': put('/'); return true;
        case 'b': put('\b'); return true;
        case 'f': put('\f'); return true;
        case 'n': put('\n'); return true;
        case 'r': put('\r'); return true;
        case 't': put('\t'); return true;
        case 'u': break;
        default: return false;
        }
        std::uint32_t cp;
        if (!hex4(cp)) return false;
        if (cp >= 0xdc00 && cp <= 0xdfff) return false;          // lone low surrogate
        if (cp >= 0xd800 && cp <= 0xdbff) {
            std::uint32_t low;
            if (s_.substr(pos_, 2) != "\\u") return false;
            pos_ += 2;
            if (!hex4(low) || low < 0xdc00 || low > 0xdfff) return false;
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
        }
        put_utf8(cp);
        return true;
    }

    // One UTF-8 encoded character starting at pos_, validated (no overlong
    // forms, no surrogates, nothing above U+10FFFF).
    bool utf8() noexcept
    {
        std::size_t n = utf8::sequence(s_, pos_);
        if (n == 0) return false;
        std::memcpy(out_, s_.data() + pos_, n);
        out_ += n;
        pos_ += n;
        return true;
    }

    // The string at pos_ (its opening quote), decoded into v.
    bool string(Value &v) noexcept
    {
        // the cursors are kept in locals: stores through out_ may alias
        // every member
        const char *base = s_.data();
        const char *p = base + pos_ + 1;          // after the opening quote
        const char *end = base + s_.size();
        char *o = out_;
        v.text_ = o;
        for (;;) {
            // plain runs eight bytes at a time while eight remain; the
            // output never runs ahead of the input, so the copy stays in
            // the block
            while (end - p >= 8) {
                std::uint64_t w = load_le(p, 8);
                std::uint64_t special = special_bytes(w);
                std::memcpy(o, p, 8);
                if (special == 0) {
                    p += 8;
                    o += 8;
                    continue;
                }
                std::size_t k = static_cast<std::size_t>(std::countr_zero(special)) / 8;
                p += k;
                o += k;
                break;
            }
            if (p == end) {
                pos_ = s_.size();
                return fail(Error::bad_string);
            }
            auto c = static_cast<unsigned char>(*p);
            if (c == '"') {
                pos_ = static_cast<std::size_t>(p + 1 - base);
                out_ = o;
                v.len_ = static_cast<std::size_t>(o - v.text_);
                return true;
            }
            if (c >= 0x20 && c < 0x80 && c != '\\') {
                // the last few bytes of the document
                *o++ = static_cast<char>(c);
                ++p;
                continue;
            }
            pos_ = static_cast<std::size_t>(p - base);
            out_ = o;
            if (c == '\\') {
                ++pos_;
                if (!escape()) return fail(Error::bad_string);
            } else if (c < 0x20) {
                return fail(Error::bad_string);
            } else if (!utf8()) {
                return fail(Error::bad_string);
            }
            p = base + pos_;
            o = out_;
        }
    }
};

Result parse(std::string_view text, const Limits &limits, std::pmr::memory_resource *memory)
{
    Result r;
    if (memory == nullptr) {
        r.memory = std::make_unique<std::pmr::monotonic_buffer_resource>();
        memory = r.memory.get();
    }
    Parser(text, limits, memory).run(r);
    return r;
}

std::optional<std::int64_t> Value::as_int64() const noexcept
{
    if (type_ != Type::number) return std::nullopt;
    std::int64_t v;
    auto [end, ec] = std::from_chars(text_, text_ + len_, v);
    if (ec != std::errc{} || end != text_ + len_) return std::nullopt;
    return v;
}

std::optional<std::uint64_t> Value::as_uint64() const noexcept
{
    if (type_ != Type::number || len_ == 0 || text_[0] == '-') return std::nullopt;
    std::uint64_t v;
    auto [end, ec] = std::from_chars(text_, text_ + len_, v);
    if (ec != std::errc{} || end != text_ + len_) return std::nullopt;
    return v;
}

std::optional<double> Value::as_double() const noexcept
{
    if (type_ != Type::number) return std::nullopt;
    double v;
    auto [end, ec] = std::from_chars(text_, text_ + len_, v);
    if (ec != std::errc{} || end != text_ + len_) return std::nullopt;
    return v;
}

namespace {

// find() for keys longer than seven bytes, out of line so that the short
// key path saves no registers
[[gnu::noinline]] const Value *find_long(const Value *items, const std::string_view *keys, std::size_t n,
                                         std::string_view key) noexcept
{
    const auto *tags = reinterpret_cast<const std::uint64_t *>(keys + n);
    std::uint64_t tag = tag_of(key);
    for (std::size_t i = 0; i < n; ++i) {
        if (tags[i] == tag && same(keys[i], key)) return &items[i];
    }
    return nullptr;
}

} // namespace

const Value *Value::find(std::string_view key) const noexcept
{
    if (type_ != Type::object) return nullptr;
    if (key.size() > 7) return find_long(items_, keys_, len_, key);
    // an object's block holds its keys' tags after the keys (see finish());
    // a tag of a key this short is the whole key
    const auto *tags = reinterpret_cast<const std::uint64_t *>(keys_ + len_);
    std::uint64_t tag = tag_of(key);
    for (std::size_t i = 0; i < len_; ++i) {
        if (tags[i] == tag) return &items_[i];
    }
    return nullptr;
}

void quote(std::string_view s, std::string &out)
{
    struct Appender {
        std::string &s;
        void put(char c) { s += c; }
        void write(std::string_view t) { s += t; }
    } appender{out};
    quote_to(s, appender);
}

void Value::serialize_to(std::string &out) const
{
    switch (type_) {
    case Type::null: out += "null"; break;
    case Type::boolean: out += flag_ ? "true" : "false"; break;
    case Type::number: out += text(); break;
    case Type::string: quote(text(), out); break;
    case Type::array:
        out += '[';
        for (std::size_t i = 0; i < len_; ++i) {
            if (i) out += ',';
            items_[i].serialize_to(out);
        }
        out += ']';
        break;
    case Type::object:
        out += '{';
        for (std::size_t i = 0; i < len_; ++i) {
            if (i) out += ',';
            quote(keys_[i], out);
            out += ':';
            items_[i].serialize_to(out);
        }
        out += '}';
        break;
    }
}

std::string Value::serialize() const
{
    std::string out;
    serialize_to(out);
    return out;
}

const char *error_text(Error e) noexcept
{
    switch (e) {
    case Error::ok: return "ok";
    case Error::too_large: return "document too large";
    case Error::too_deep: return "nested too deeply";
    case Error::too_many: return "too many values";
    case Error::syntax: return "syntax error";
    case Error::bad_string: return "invalid string";
    case Error::bad_number: return "invalid number";
    case Error::duplicate_key: return "duplicate key";
    case Error::trailing_data: return "data after the value";
    }
    return "unknown error";
}

} // namespace gw::json

#include "gw_json.h"

static_assert(GW_JSON_OK == static_cast<int>(gw::json::Error::ok));
static_assert(GW_JSON_TRAILING_DATA == static_cast<int>(gw::json::Error::trailing_data));

extern "C" {

gw_json_status_t gw_json_check(const char *text, size_t len, size_t max_depth)
{
    try {
        gw::json::Limits limits;
        limits.max_depth = max_depth;
        return static_cast<gw_json_status_t>(gw::json::parse({text, len}, limits).error);
    } catch (...) {
        return GW_JSON_NO_MEMORY;
    }
}

long gw_json_extract(const char *text, size_t len, const char *path, char *out, size_t cap)
{
    try {
        auto result = gw::json::parse({text, len});
        if (!result) return -1;
        const gw::json::Value *v = &result.value;
        std::string_view rest = path;
        while (!rest.empty()) {
            auto dot = rest.find('.');
            v = v->find(rest.substr(0, dot));
            if (v == nullptr) return -1;
            rest = dot == std::string_view::npos ? std::string_view{} : rest.substr(dot + 1);
        }
        auto s = v->serialize();
        if (s.size() + 1 > cap) return -1;
        std::copy(s.begin(), s.end(), out);
        out[s.size()] = '\0';
        return static_cast<long>(s.size());
    } catch (...) {
        return -1;
    }
}

const char *gw_json_status_text(gw_json_status_t status)
{
    if (status == GW_JSON_NO_MEMORY) return "out of memory";
    return gw::json::error_text(static_cast<gw::json::Error>(status));
}

}
