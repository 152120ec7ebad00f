// A small strict JSON (RFC 8259) parser shared by the gateway's core:
// JWT headers and claims, JWKS documents, Consul replies.
//
// Strict on purpose: duplicate object keys, invalid UTF-8, lone surrogates,
// leading zeros, trailing garbage and anything nested deeper than the limit
// are errors, so two parsers can never read one document differently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <memory_resource>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

namespace gw::json {

enum class Type : std::uint8_t { null, boolean, number, string, array, object };

// A parsed value is a small view: strings, numbers, and the members of
// arrays and objects live in the memory resource the document was parsed
// into (an arena that lives as long as a token, or the one a Result owns),
// so values are trivially copyable and parsing allocates a few blocks per
// document rather than one per string and container.
class Value {
public:
    Value() = default;

    Type type() const noexcept { return type_; }
    bool is_null() const noexcept { return type_ == Type::null; }
    bool is_bool() const noexcept { return type_ == Type::boolean; }
    bool is_number() const noexcept { return type_ == Type::number; }
    bool is_string() const noexcept { return type_ == Type::string; }
    bool is_array() const noexcept { return type_ == Type::array; }
    bool is_object() const noexcept { return type_ == Type::object; }

    bool as_bool() const noexcept { return flag_; }

    // A string's decoded UTF-8 bytes, or a number's text as written; empty
    // for other values.
    std::string_view text() const noexcept
    {
        return is_string() || is_number() ? std::string_view(text_, len_) : std::string_view();
    }

    // A number that is an integer as written (no fraction, no exponent)
    // and fits; nullopt otherwise.
    std::optional<std::int64_t> as_int64() const noexcept;
    std::optional<std::uint64_t> as_uint64() const noexcept;
    std::optional<double> as_double() const noexcept;

    // Array elements, or object member values.
    std::span<const Value> items() const noexcept
    {
        return is_array() || is_object() ? std::span<const Value>(items_, len_) : std::span<const Value>();
    }
    // Object member names, parallel to items().
    std::span<const std::string_view> keys() const noexcept
    {
        return is_object() ? std::span<const std::string_view>(keys_, len_) : std::span<const std::string_view>();
    }
    std::size_t size() const noexcept { return is_array() || is_object() ? len_ : 0; }

    // The member called key of an object, else nullptr.
    const Value *find(std::string_view key) const noexcept;

    // Compact JSON text of this value.
    std::string serialize() const;
    void serialize_to(std::string &out) const;

private:
    friend class Parser;

    Type type_ = Type::null;
    bool flag_ = false;
    std::size_t len_ = 0;               // bytes of text, or members
    union {
        const char *text_ = nullptr;
        const Value *items_;
    };
    const std::string_view *keys_ = nullptr;
};

static_assert(std::is_trivially_copyable_v<Value>);

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
    // the memory of value when parse() was given none
    std::unique_ptr<std::pmr::monotonic_buffer_resource> memory;

    explicit operator bool() const noexcept { return error == Error::ok; }
};

// The value is allocated from memory, which must outlive it; if null, the
// Result owns the memory.
Result parse(std::string_view text, const Limits &limits = {},
             std::pmr::memory_resource *memory = nullptr);

const char *error_text(Error e) noexcept;

// Appends s as a JSON string literal to out (see json_quote.hpp).
void quote(std::string_view s, std::string &out);

} // namespace gw::json
