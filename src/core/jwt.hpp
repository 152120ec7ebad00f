// JWS/JWT verification: keys, signatures, claims, roles.
#pragma once

#include <array>
#include <cstdint>
#include <list>
#include <memory>
#include <memory_resource>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <openssl/evp.h>

#include "gw_jwt.h"
#include "json.hpp"
#include "sha2.hpp"

namespace gw::jwt {

enum class Family : std::uint8_t { hmac, rsa, pss, ecdsa, eddsa };

struct AlgInfo {
    unsigned bit;
    std::string_view name;
    Family family;
    const char *digest;          // nullptr for EdDSA
    sha2::Kind kind;             // the same, for the low-level digests
    std::size_t ec_size;         // bytes of r and of s for ECDSA
    const char *curve;           // OpenSSL group name for ECDSA
};

// The algorithm named exactly name (case-sensitive, as RFC 7515 says);
// nullptr for "none" in any spelling and for unknown names.
const AlgInfo *find_alg(std::string_view name) noexcept;
const AlgInfo *alg_by_bit(unsigned bit) noexcept;
constexpr std::size_t alg_count = 13;

enum class KeyType : std::uint8_t { oct, rsa, rsa_pss, ec_p256, ec_p384, ec_p521, ed25519, ed448 };

struct PkeyFree {
    void operator()(EVP_PKEY *p) const noexcept { EVP_PKEY_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

// One verification key, ready to use: a parsed OpenSSL key or an HMAC
// secret, with verification contexts prepared on first use per algorithm.
class Key {
public:
    Key(KeyType type, PkeyPtr pkey, std::string secret, std::string kid, unsigned pinned);
    ~Key();
    Key(Key &&other) noexcept;
    Key &operator=(Key &&) = delete;
    Key(const Key &) = delete;
    Key &operator=(const Key &) = delete;

    KeyType type() const noexcept { return type_; }
    const std::string &kid() const noexcept { return kid_; }
    bool has_kid() const noexcept { return has_kid_; }
    void set_has_kid(bool v) noexcept { has_kid_ = v; }

    // The algorithms this key may verify (its type, narrowed by a JWK alg).
    unsigned algs() const noexcept;

    // Digest input for the key set fingerprint.
    std::string material() const;

    gw_jwt_status_t verify(const AlgInfo &alg, std::string_view input,
                           std::span<const unsigned char> sig) const;

private:
    KeyType type_;
    PkeyPtr pkey_;
    std::string secret_;
    std::string kid_;
    bool has_kid_ = false;
    unsigned pinned_;
    mutable std::array<EVP_PKEY_CTX *, alg_count> pkey_ctx_{};
    mutable std::array<std::unique_ptr<sha2::Hmac>, 3> hmac_{};

    EVP_PKEY_CTX *prepared(const AlgInfo &alg) const;
};

// HMAC with a secret given at request time (gateway_jwt_secret $var).
gw_jwt_status_t verify_hmac(const AlgInfo &alg, std::string_view secret,
                            std::string_view input, std::span<const unsigned char> sig);

class KeySet {
public:
    // Adds the keys of a JWKS, JWK or PEM document; the count, or an error.
    std::optional<std::size_t> add(std::string_view text, std::string &error);
    bool add_secret(std::string_view secret, std::string &error);

    const std::vector<Key> &keys() const noexcept { return keys_; }
    unsigned algs() const noexcept;
    std::array<unsigned char, GW_JWT_FINGERPRINT_LEN> fingerprint() const;

private:
    std::vector<Key> keys_;

    std::optional<std::size_t> add_jwks(std::string_view text, std::string &error);
    std::optional<std::size_t> add_pem(std::string_view text, std::string &error);
};

// NumericDate text to milliseconds (rounded down); nullopt if negative,
// not a number, or past the year 9999.
std::optional<std::int64_t> numeric_date_ms(std::string_view text) noexcept;

// A token and everything decoded from it live in one arena: parsing a
// token costs one allocation (the Token) in the common case. Once
// verified, a token is read only (but for memoised renderings) and may be
// shared: by the request that verified it and by RecentTokens.
class Token {
public:
    Token() = default;
    Token(const Token &) = delete;
    Token &operator=(const Token &) = delete;

    // Parses text into this (fresh) token.
    gw_jwt_status_t parse(std::string_view text, std::size_t max_size);

    const AlgInfo &alg() const noexcept { return *alg_; }
    const std::optional<std::string_view> &kid() const noexcept { return kid_; }

    gw_jwt_status_t verify(const gw_jwt_keys_t &keys);
    gw_jwt_status_t trust();
    bool verified() const noexcept { return verified_; }

    gw_jwt_status_t check_claims(const gw_jwt_policy_t &policy) const;
    std::optional<std::int64_t> exp_ms() const;

    const json::Value &header() const noexcept { return header_; }
    const json::Value &payload() const noexcept { return payload_; }

    // The text of a value as variables show it, rendered once per value
    // (kind tells renderings of one value apart) and kept with the token.
    template <class Render>
    std::string_view rendered(const void *value, int kind, Render &&render)
    {
        for (const auto &r : renderings_) {
            if (r.value == value && r.kind == kind) return r.text;
        }
        renderings_.push_back({value, kind, std::pmr::string(render(), &arena_)});
        return renderings_.back().text;
    }

    // References: the token is deleted when the last one is released.
    void retain() noexcept { ++refs_; }
    bool release() noexcept { return --refs_ == 0; }

private:
    static constexpr std::size_t arena_size = 2048;

    struct Rendering {
        const void *value;
        int kind;
        std::pmr::string text;
    };

    alignas(std::max_align_t) std::byte arena_buf_[arena_size];
    std::pmr::monotonic_buffer_resource arena_{arena_buf_, arena_size, std::pmr::new_delete_resource()};

    std::string_view input_;          // header.payload, the caller's memory until verified
    std::string_view sig64_;          // the signature segment, likewise
    std::pmr::string payload_bytes_{&arena_};   // decoded, parsed once verified
    json::Value header_;                        // in arena_
    json::Value payload_;
    const AlgInfo *alg_ = nullptr;
    std::optional<std::string_view> kid_;       // in header_
    bool verified_ = false;
    unsigned refs_ = 1;
    std::pmr::list<Rendering> renderings_{&arena_};     // stable addresses

    gw_jwt_status_t check_header();
    gw_jwt_status_t decode_payload();
};

// Tokens whose last reference went, kept for reuse: a worker parsing a
// token per request then allocates none in the steady state.
class SpareTokens {
public:
    explicit SpareTokens(std::size_t keep) : keep_(keep) {}
    ~SpareTokens();
    SpareTokens(const SpareTokens &) = delete;
    SpareTokens &operator=(const SpareTokens &) = delete;

    // A fresh token: a spare one made new, or a new one.
    std::unique_ptr<Token> take();
    // Keeps (or deletes) a token nobody references any more.
    void give(Token *token) noexcept;

private:
    std::size_t keep_;
    std::vector<Token *> spare_;
};

// Tokens this worker verified recently, found again by their exact text
// without hashing, decoding or parsing anything: a per-process front of
// the shared verified-token cache. A token is found only with the same
// scope (the key sets' fingerprints) it was verified with, and only
// before its expiry.
class RecentTokens {
public:
    explicit RecentTokens(std::size_t capacity) : capacity_(capacity) {}
    ~RecentTokens();
    RecentTokens(const RecentTokens &) = delete;
    RecentTokens &operator=(const RecentTokens &) = delete;

    // A retained token, or nullptr.
    Token *find(std::span<const unsigned char> scope, std::string_view text, std::int64_t now_ms);
    // Remembers a verified token (retaining it) under its text.
    void add(std::span<const unsigned char> scope, std::string_view text, Token *token, std::int64_t expire_ms);

    std::size_t size() const noexcept { return index_.size(); }

private:
    static constexpr std::size_t max_scope = 2 * GW_JWT_FINGERPRINT_LEN;
    // longer tokens are not remembered: the memory stays bounded
    static constexpr std::size_t max_text = 8192;

    struct Entry {
        std::string text;
        std::array<unsigned char, max_scope> scope{};
        std::size_t scope_len = 0;
        Token *token = nullptr;
        std::int64_t expire_ms = 0;
    };
    using Lru = std::list<Entry>;       // most recently used first

    std::size_t capacity_;
    Lru lru_;
    std::unordered_map<std::string_view, Lru::iterator> index_;

    void drop(Lru::iterator it) noexcept;
};

// Renders a claim value as variables show it.
std::string render(const json::Value &v);

// The value at a dotted path ("realm_access.roles").
const json::Value *at_path(const json::Value &root, std::string_view dotted) noexcept;

// Calls f(role) for each role held in a claim (an array of strings, or a
// space separated string) until f returns true; whether one did.
template <class F>
bool any_role(const json::Value *claim, F &&f)
{
    if (claim == nullptr) return false;
    if (claim->is_array()) {
        for (const auto &r : claim->items()) {
            if (r.is_string() && !r.text().empty() && f(r.text())) return true;
        }
    } else if (claim->is_string()) {
        std::string_view s = claim->text();
        while (!s.empty()) {
            auto sp = s.find(' ');
            if (sp != 0 && f(s.substr(0, sp))) return true;
            if (sp == std::string_view::npos) break;
            s.remove_prefix(sp + 1);
        }
    }
    return false;
}

// Roles held in a claim: an array of strings, or a space separated string.
std::vector<std::string_view> roles_of(const json::Value *claim);

class Rbac {
public:
    bool grant(std::string_view role, std::string_view permission, std::string &error);
    bool allows(std::span<const std::string_view> roles, std::string_view resource,
                std::string_view action) const;
    // The same, for the roles held in a claim.
    bool allows(const json::Value *claim, std::string_view resource, std::string_view action) const;

private:
    struct Permission {
        std::string resource;
        std::string action;
    };
    // looked up by string_view, without making a string per request
    struct Hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };
    std::unordered_map<std::string, std::vector<Permission>, Hash, std::equal_to<>> roles_;

    bool role_allows(std::string_view role, std::string_view resource, std::string_view action) const;
};

} // namespace gw::jwt
