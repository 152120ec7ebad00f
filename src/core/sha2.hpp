// SHA-2 and HMAC-SHA-2 on OpenSSL's low-level digest functions.
//
// OpenSSL 3's EVP layer fetches an implementation and takes locks on every
// one-shot call, which costs more than hashing a short token; the
// low-level SHA256/SHA512 contexts (deprecated in 3.0, still shipped) do
// only the work, and an HMAC key's inner and outer states can be computed
// once per key and copied per use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include <openssl/sha.h>

namespace gw::sha2 {

enum class Kind : std::uint8_t { sha256, sha384, sha512 };

constexpr std::size_t size(Kind k) noexcept
{
    return k == Kind::sha256 ? 32 : k == Kind::sha384 ? 48 : 64;
}

// A running digest of one of the three kinds.
class Digest {
public:
    explicit Digest(Kind k) noexcept;
    void update(const void *data, std::size_t len) noexcept;
    void update(std::string_view s) noexcept { update(s.data(), s.size()); }
    // Writes size(kind) bytes.
    void final(unsigned char *out) noexcept;

private:
    Kind kind_;
    union {
        SHA256_CTX s256;
        SHA512_CTX s512;
    } ctx_;
};

// HMAC with the key's padded states prepared once.
class Hmac {
public:
    Hmac(Kind k, std::string_view key) noexcept;
    ~Hmac();
    Hmac(const Hmac &) = delete;
    Hmac &operator=(const Hmac &) = delete;

    // Writes size(kind) bytes of HMAC(key, message).
    void compute(std::string_view message, unsigned char *out) const noexcept;

private:
    Kind kind_;
    Digest inner_;
    Digest outer_;
};

} // namespace gw::sha2
