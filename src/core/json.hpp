// A small strict JSON (RFC 8259) parser shared by the gateway's core:
// JWT headers and claims, JWKS documents, Consul replies.
//
// Strict on purpose: duplicate object keys, invalid UTF-8, lone surrogates,
// leading zeros, trailing garbage and anything nested deeper than the limit
// are errors, so two parsers can never read one document differently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gw::json {

enum class Type : std::uint8_t { null, boolean, number, string, array, object };

// Values allocate from a memory resource (the default one unless a caller
// passes its own to parse(), e.g. an arena that lives as long as a token).
class Value {
public:
    using allocator_type = std::pmr::polymorphic_allocator<std::byte>;

    Value() = default;
    explicit Value(const allocator_type &a) : text_(a), items_(a), keys_(a) {}
    Value(const Value &o, const allocator_type &a)
        : type_(o.type_), flag_(o.flag_), text_(o.text_, a), items_(o.items_, a), keys_(o.keys_, a) {}
    Value(Value &&o, const allocator_type &a)
        : type_(o.type_), flag_(o.flag_), text_(std::move(o.text_), a), items_(std::move(o.items_), a),
          keys_(std::move(o.keys_), a) {}
    Value(const Value &) = default;
    Value(Value &&) noexcept = default;
    Value &operator=(const Value &) = default;
    Value &operator=(Value &&) = default;

    Type type() const noexcept { return type_; }
    bool is_null() const noexcept { return type_ == Type::null; }
    bool is_bool() const noexcept { return type_ == Type::boolean; }
    bool is_number() const noexcept { return type_ == Type::number; }
    bool is_string() const noexcept { return type_ == Type::string; }
    bool is_array() const noexcept { return type_ == Type::array; }
    bool is_object() const noexcept { return type_ == Type::object; }

    bool as_bool() const noexcept { return flag_; }

    // A string's decoded UTF-8 bytes, or a number's text as written.
    std::string_view text() const noexcept { return text_; }

    // A number that is an integer as written (no fraction, no exponent)
    // and fits; nullopt otherwise.
    std::optional<std::int64_t> as_int64() const noexcept;
    std::optional<std::uint64_t> as_uint64() const noexcept;
    std::optional<double> as_double() const noexcept;

    // Array elements, or object member values.
    const std::pmr::vector<Value> &items() const noexcept { return items_; }
    // Object member names, parallel to items().
    const std::pmr::vector<std::pmr::string> &keys() const noexcept { return keys_; }
    std::size_t size() const noexcept { return items_.size(); }

    // The member called key of an object, else nullptr.
    const Value *find(std::string_view key) const noexcept;

    // Compact JSON text of this value.
    std::string serialize() const;
    void serialize_to(std::string &out) const;

private:
    friend class Parser;

    Type type_ = Type::null;
    bool flag_ = false;
    std::pmr::string text_;
    std::pmr::vector<Value> items_;
    std::pmr::vector<std::pmr::string> keys_;
};

struct Limits {
    std::size_t max_size = 1 << 20;     // bytes of input
    std::size_t max_depth = 32;         // nested arrays and objects
    std::size_t max_items = 1 << 16;    // values in the whole document
};

enum class Error : std::uint8_t {
    ok,
    too_large,
    too_deep,
    too_many,
    syntax,
    bad_string,
    bad_number,
    duplicate_key,
    trailing_data,
};

struct Result {
    Error error = Error::ok;
    std::size_t offset = 0;             // where the error was found
    Value value;

    explicit operator bool() const noexcept { return error == Error::ok; }
};

// The value is allocated from memory (the default resource if null).
Result parse(std::string_view text, const Limits &limits = {},
             std::pmr::memory_resource *memory = nullptr);

const char *error_text(Error e) noexcept;

// Appends s as a JSON string literal (quotes and escapes) to out.
void quote(std::string_view s, std::string &out);

} // namespace gw::json
