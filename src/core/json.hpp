// A small strict JSON (RFC 8259) parser shared by the gateway's core:
// JWT headers and claims, JWKS documents, Consul replies.
//
// Strict on purpose: duplicate object keys, invalid UTF-8, lone surrogates,
// leading zeros, trailing garbage and anything nested deeper than the limit
// are errors, so two parsers can never read one document differently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gw::json {

enum class Type : std::uint8_t { null, boolean, number, string, array, object };

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

    // A string's decoded UTF-8 bytes, or a number's text as written.
    std::string_view text() const noexcept { return text_; }

    // A number that is an integer as written (no fraction, no exponent)
    // and fits; nullopt otherwise.
    std::optional<std::int64_t> as_int64() const noexcept;
    std::optional<std::uint64_t> as_uint64() const noexcept;
    std::optional<double> as_double() const noexcept;

    // Array elements, or object member values.
    const std::vector<Value> &items() const noexcept { return items_; }
    // Object member names, parallel to items().
    const std::vector<std::string> &keys() const noexcept { return keys_; }
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
    std::string text_;
    std::vector<Value> items_;
    std::vector<std::string> keys_;
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

Result parse(std::string_view text, const Limits &limits = {});

const char *error_text(Error e) noexcept;

// Appends s as a JSON string literal (quotes and escapes) to out.
void quote(std::string_view s, std::string &out);

} // namespace gw::json
