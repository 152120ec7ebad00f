#include "json.hpp"

#include <algorithm>
#include <charconv>
#include <numeric>

namespace gw::json {

class Parser {
public:
    Parser(std::string_view text, const Limits &limits, std::pmr::memory_resource *memory) noexcept
        : s_(text), limits_(limits), memory_(memory ? memory : std::pmr::get_default_resource()) {}

    Result run()
    {
        Result r{Error::ok, 0, Value(Value::allocator_type(memory_))};
        if (s_.size() > limits_.max_size) {
            r.error = Error::too_large;
            return r;
        }
        skip_ws();
        if (!value(r.value, 0)) {
            r.error = error_;
            r.offset = pos_;
            return r;
        }
        skip_ws();
        if (pos_ != s_.size()) {
            r.error = Error::trailing_data;
            r.offset = pos_;
        }
        return r;
    }

private:
    std::string_view s_;
    const Limits &limits_;
    std::pmr::memory_resource *memory_;
    std::size_t pos_ = 0;
    std::size_t count_ = 0;
    Error error_ = Error::ok;

    bool fail(Error e) noexcept
    {
        error_ = e;
        return false;
    }

    bool at_end() const noexcept { return pos_ >= s_.size(); }
    char peek() const noexcept { return at_end() ? '\0' : s_[pos_]; }

    void skip_ws() noexcept
    {
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
            return string(v.text_);
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
            return number(v.text_);
        }
    }

    bool object(Value &v, std::size_t depth)
    {
        if (depth > limits_.max_depth) return fail(Error::too_deep);
        v.type_ = Type::object;
        v.keys_.reserve(8);
        v.items_.reserve(8);
        ++pos_;
        skip_ws();
        if (peek() == '}') {
            ++pos_;
            return true;
        }
        for (;;) {
            skip_ws();
            if (peek() != '"') return fail(Error::syntax);
            std::pmr::string key(memory_);
            if (!string(key)) return false;
            skip_ws();
            if (peek() != ':') return fail(Error::syntax);
            ++pos_;
            skip_ws();
            v.keys_.push_back(std::move(key));
            v.items_.emplace_back();
            if (!value(v.items_.back(), depth)) return false;
            skip_ws();
            char c = peek();
            ++pos_;
            if (c == '}') break;
            if (c != ',') {
                --pos_;
                return fail(Error::syntax);
            }
        }
        return unique_keys(v.keys_) || fail(Error::duplicate_key);
    }

    static bool unique_keys(const std::pmr::vector<std::pmr::string> &keys)
    {
        if (keys.size() <= 8) {
            for (std::size_t i = 1; i < keys.size(); ++i) {
                for (std::size_t j = 0; j < i; ++j) {
                    if (keys[i] == keys[j]) return false;
                }
            }
            return true;
        }
        std::vector<std::string_view> sorted(keys.begin(), keys.end());
        std::ranges::sort(sorted);
        return std::ranges::adjacent_find(sorted) == sorted.end();
    }

    bool array(Value &v, std::size_t depth)
    {
        if (depth > limits_.max_depth) return fail(Error::too_deep);
        v.type_ = Type::array;
        ++pos_;
        skip_ws();
        if (peek() == ']') {
            ++pos_;
            return true;
        }
        for (;;) {
            skip_ws();
            v.items_.emplace_back();
            if (!value(v.items_.back(), depth)) return false;
            skip_ws();
            char c = peek();
            ++pos_;
            if (c == ']') return true;
            if (c != ',') {
                --pos_;
                return fail(Error::syntax);
            }
        }
    }

    static bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

    bool number(std::pmr::string &out)
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
        out.assign(s_.substr(start, pos_ - start));
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

    static void put_utf8(std::uint32_t cp, std::pmr::string &out)
    {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xc0 | cp >> 6);
            out += static_cast<char>(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xe0 | cp >> 12);
            out += static_cast<char>(0x80 | (cp >> 6 & 0x3f));
            out += static_cast<char>(0x80 | (cp & 0x3f));
        } else {
            out += static_cast<char>(0xf0 | cp >> 18);
            out += static_cast<char>(0x80 | (cp >> 12 & 0x3f));
            out += static_cast<char>(0x80 | (cp >> 6 & 0x3f));
            out += static_cast<char>(0x80 | (cp & 0x3f));
        }
    }

    bool escape(std::pmr::string &out)
    {
        char c = peek();
        ++pos_;
        switch (c) {
        case '"': out += '"'; return true;
        case '\\': out += '\\'; return true;
        case '/': out += '/'; return true;
        case 'b': out += '\b'; return true;
        case 'f': out += '\f'; return true;
        case 'n': out += '\n'; return true;
        case 'r': out += '\r'; return true;
        case 't': out += '\t'; return true;
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
        put_utf8(cp, out);
        return true;
    }

    // One UTF-8 encoded character starting at pos_, validated (no overlong
    // forms, no surrogates, nothing above U+10FFFF).
    bool utf8(std::pmr::string &out) noexcept
    {
        auto b0 = static_cast<unsigned char>(s_[pos_]);
        std::size_t n;
        std::uint32_t cp, min;
        if (b0 >= 0xc2 && b0 <= 0xdf) {
            n = 2; cp = b0 & 0x1f; min = 0x80;
        } else if (b0 >= 0xe0 && b0 <= 0xef) {
            n = 3; cp = b0 & 0x0f; min = 0x800;
        } else if (b0 >= 0xf0 && b0 <= 0xf4) {
            n = 4; cp = b0 & 0x07; min = 0x10000;
        } else {
            return false;
        }
        if (s_.size() - pos_ < n) return false;
        for (std::size_t i = 1; i < n; ++i) {
            auto b = static_cast<unsigned char>(s_[pos_ + i]);
            if ((b & 0xc0) != 0x80) return false;
            cp = cp << 6 | (b & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        out.append(s_.substr(pos_, n));
        pos_ += n;
        return true;
    }

    bool string(std::pmr::string &out)
    {
        ++pos_;                                   // the opening quote
        for (;;) {
            if (at_end()) return fail(Error::bad_string);
            char c = s_[pos_];
            if (c == '"') {
                ++pos_;
                return true;
            }
            if (c == '\\') {
                ++pos_;
                if (!escape(out)) return fail(Error::bad_string);
            } else if (static_cast<unsigned char>(c) < 0x20) {
                return fail(Error::bad_string);
            } else if (static_cast<unsigned char>(c) < 0x80) {
                // copy a run of plain ASCII at once
                std::size_t start = pos_;
                while (!at_end()) {
                    auto b = static_cast<unsigned char>(s_[pos_]);
                    if (b < 0x20 || b >= 0x80 || b == '"' || b == '\\') break;
                    ++pos_;
                }
                out.append(s_.substr(start, pos_ - start));
            } else if (!utf8(out)) {
                return fail(Error::bad_string);
            }
        }
    }
};

Result parse(std::string_view text, const Limits &limits, std::pmr::memory_resource *memory)
{
    return Parser(text, limits, memory).run();
}

std::optional<std::int64_t> Value::as_int64() const noexcept
{
    if (type_ != Type::number) return std::nullopt;
    std::int64_t v;
    auto [end, ec] = std::from_chars(text_.data(), text_.data() + text_.size(), v);
    if (ec != std::errc{} || end != text_.data() + text_.size()) return std::nullopt;
    return v;
}

std::optional<std::uint64_t> Value::as_uint64() const noexcept
{
    if (type_ != Type::number || text_.empty() || text_[0] == '-') return std::nullopt;
    std::uint64_t v;
    auto [end, ec] = std::from_chars(text_.data(), text_.data() + text_.size(), v);
    if (ec != std::errc{} || end != text_.data() + text_.size()) return std::nullopt;
    return v;
}

std::optional<double> Value::as_double() const noexcept
{
    if (type_ != Type::number) return std::nullopt;
    double v;
    auto [end, ec] = std::from_chars(text_.data(), text_.data() + text_.size(), v);
    if (ec != std::errc{} || end != text_.data() + text_.size()) return std::nullopt;
    return v;
}

const Value *Value::find(std::string_view key) const noexcept
{
    if (type_ != Type::object) return nullptr;
    for (std::size_t i = 0; i < keys_.size(); ++i) {
        if (keys_[i] == key) return &items_[i];
    }
    return nullptr;
}

void quote(std::string_view s, std::string &out)
{
    static constexpr char hex[] = "0123456789abcdef";
    out += '"';
    for (char c : s) {
        auto b = static_cast<unsigned char>(c);
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (b < 0x20) {
                out += "\\u00";
                out += hex[b >> 4];
                out += hex[b & 0xf];
            } else {
                out += c;
            }
        }
    }
    out += '"';
}

void Value::serialize_to(std::string &out) const
{
    switch (type_) {
    case Type::null: out += "null"; break;
    case Type::boolean: out += flag_ ? "true" : "false"; break;
    case Type::number: out += text_; break;
    case Type::string: quote(text_, out); break;
    case Type::array:
        out += '[';
        for (std::size_t i = 0; i < items_.size(); ++i) {
            if (i) out += ',';
            items_[i].serialize_to(out);
        }
        out += ']';
        break;
    case Type::object:
        out += '{';
        for (std::size_t i = 0; i < items_.size(); ++i) {
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
