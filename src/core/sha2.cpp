// the low-level digest functions are deprecated in OpenSSL 3.0, on purpose used
#define OPENSSL_SUPPRESS_DEPRECATED
#include "sha2.hpp"

#include <cstring>

#include <string.h>

#include <openssl/crypto.h>

namespace gw::sha2 {

Digest::Digest(Kind k) noexcept : kind_(k)
{
    switch (k) {
    case Kind::sha256: SHA256_Init(&ctx_.s256); break;
    case Kind::sha384: SHA384_Init(&ctx_.s512); break;
    case Kind::sha512: SHA512_Init(&ctx_.s512); break;
    }
}

void Digest::update(const void *data, std::size_t len) noexcept
{
    if (kind_ == Kind::sha256) {
        SHA256_Update(&ctx_.s256, data, len);
    } else if (kind_ == Kind::sha384) {
        SHA384_Update(&ctx_.s512, data, len);
    } else {
        SHA512_Update(&ctx_.s512, data, len);
    }
}

void Digest::final(unsigned char *out) noexcept
{
    if (kind_ == Kind::sha256) {
        SHA256_Final(out, &ctx_.s256);
    } else if (kind_ == Kind::sha384) {
        SHA384_Final(out, &ctx_.s512);
    } else {
        SHA512_Final(out, &ctx_.s512);
    }
}

Hmac::Hmac(Kind k, std::string_view key) noexcept : kind_(k), inner_(k), outer_(k)
{
    // RFC 2104: keys longer than the block are hashed first
    std::size_t block = k == Kind::sha256 ? 64 : 128;
    unsigned char k0[128] = {};
    if (key.size() > block) {
        Digest d(k);
        d.update(key);
        d.final(k0);
    } else {
        std::memcpy(k0, key.data(), key.size());
    }
    unsigned char pad[128];
    for (std::size_t i = 0; i < block; ++i) pad[i] = k0[i] ^ 0x36;
    inner_.update(pad, block);
    for (std::size_t i = 0; i < block; ++i) pad[i] = k0[i] ^ 0x5c;
    outer_.update(pad, block);
    OPENSSL_cleanse(k0, sizeof(k0));
    OPENSSL_cleanse(pad, sizeof(pad));
}

Hmac::~Hmac()
{
    OPENSSL_cleanse(static_cast<void *>(&inner_), sizeof(inner_));
    OPENSSL_cleanse(static_cast<void *>(&outer_), sizeof(outer_));
}

void Hmac::compute(std::string_view message, unsigned char *out) const noexcept
{
    unsigned char ih[64];
    Digest in = inner_;
    in.update(message);
    in.final(ih);
    Digest o = outer_;
    o.update(ih, size(kind_));
    o.final(out);
    // per request: glibc's explicit_bzero is a vector store, OpenSSL's
    // cleanse a byte loop; neither is optimised away
    explicit_bzero(ih, sizeof(ih));
    explicit_bzero(static_cast<void *>(&in), sizeof(in));
}

} // namespace gw::sha2
