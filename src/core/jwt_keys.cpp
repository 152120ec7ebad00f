// Keys (PEM, JWKS) and signature verification with OpenSSL's EVP API.
//
// libjwt is not used here: its 1.10.2 verifier re-reads the PEM key on
// every call and compares HMACs with strcmp (see docs/jwt.md). Keys are
// parsed once into EVP_PKEYs; verification contexts are prepared once per
// key and algorithm and reused.

#include <algorithm>
#include <cstring>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "base64url.hpp"
#include "jwt.hpp"

namespace gw::jwt {

namespace {

constexpr AlgInfo algs_table[alg_count] = {
    {GW_JWT_HS256, "HS256", Family::hmac, "SHA256", sha2::Kind::sha256, 0, nullptr},
    {GW_JWT_HS384, "HS384", Family::hmac, "SHA384", sha2::Kind::sha384, 0, nullptr},
    {GW_JWT_HS512, "HS512", Family::hmac, "SHA512", sha2::Kind::sha512, 0, nullptr},
    {GW_JWT_RS256, "RS256", Family::rsa, "SHA256", sha2::Kind::sha256, 0, nullptr},
    {GW_JWT_RS384, "RS384", Family::rsa, "SHA384", sha2::Kind::sha384, 0, nullptr},
    {GW_JWT_RS512, "RS512", Family::rsa, "SHA512", sha2::Kind::sha512, 0, nullptr},
    {GW_JWT_PS256, "PS256", Family::pss, "SHA256", sha2::Kind::sha256, 0, nullptr},
    {GW_JWT_PS384, "PS384", Family::pss, "SHA384", sha2::Kind::sha384, 0, nullptr},
    {GW_JWT_PS512, "PS512", Family::pss, "SHA512", sha2::Kind::sha512, 0, nullptr},
    {GW_JWT_ES256, "ES256", Family::ecdsa, "SHA256", sha2::Kind::sha256, 32, "P-256"},
    {GW_JWT_ES384, "ES384", Family::ecdsa, "SHA384", sha2::Kind::sha384, 48, "P-384"},
    {GW_JWT_ES512, "ES512", Family::ecdsa, "SHA512", sha2::Kind::sha512, 66, "P-521"},
    {GW_JWT_EDDSA, "EdDSA", Family::eddsa, nullptr, sha2::Kind::sha512, 0, nullptr},
};

std::size_t alg_index(const AlgInfo &alg) noexcept
{
    return static_cast<std::size_t>(&alg - algs_table);
}

// RSA keys shorter than this cannot sign JWTs (RFC 7518 section 3.3).
constexpr int min_rsa_bits = 2048;

constexpr unsigned rsa_algs = GW_JWT_RS256 | GW_JWT_RS384 | GW_JWT_RS512
                              | GW_JWT_PS256 | GW_JWT_PS384 | GW_JWT_PS512;
constexpr unsigned pss_algs = GW_JWT_PS256 | GW_JWT_PS384 | GW_JWT_PS512;

unsigned type_algs(KeyType t) noexcept
{
    switch (t) {
    case KeyType::oct: return GW_JWT_HMAC;
    case KeyType::rsa: return rsa_algs;
    case KeyType::rsa_pss: return pss_algs;
    case KeyType::ec_p256: return GW_JWT_ES256;
    case KeyType::ec_p384: return GW_JWT_ES384;
    case KeyType::ec_p521: return GW_JWT_ES512;
    case KeyType::ed25519:
    case KeyType::ed448: return GW_JWT_EDDSA;
    }
    return 0;
}

struct BioFree {
    void operator()(BIO *b) const noexcept { BIO_free(b); }
};
struct BnFree {
    void operator()(BIGNUM *b) const noexcept { BN_free(b); }
};
struct CtxFree {
    void operator()(EVP_PKEY_CTX *c) const noexcept { EVP_PKEY_CTX_free(c); }
};
struct MdCtxFree {
    void operator()(EVP_MD_CTX *c) const noexcept { EVP_MD_CTX_free(c); }
};
struct ParamFree {
    void operator()(OSSL_PARAM *p) const noexcept { OSSL_PARAM_free(p); }
};
struct BldFree {
    void operator()(OSSL_PARAM_BLD *b) const noexcept { OSSL_PARAM_BLD_free(b); }
};
struct X509Free {
    void operator()(X509 *x) const noexcept { X509_free(x); }
};
struct SigFree {
    void operator()(ECDSA_SIG *s) const noexcept { ECDSA_SIG_free(s); }
};
struct OpenSslFree {
    void operator()(void *p) const noexcept { OPENSSL_free(p); }
};

// The key type of an OpenSSL key, or nullopt with a reason.
std::optional<KeyType> classify(EVP_PKEY *pkey, std::string &error)
{
    switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_RSA:
    case EVP_PKEY_RSA_PSS:
        if (EVP_PKEY_get_bits(pkey) < min_rsa_bits) {
            error = "RSA key shorter than 2048 bits";
            return std::nullopt;
        }
        return EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA ? KeyType::rsa : KeyType::rsa_pss;
    case EVP_PKEY_EC: {
        char group[64];
        std::size_t len = 0;
        if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), &len) != 1) break;
        std::string_view g(group, len);
        if (g == "prime256v1" || g == "P-256") return KeyType::ec_p256;
        if (g == "secp384r1" || g == "P-384") return KeyType::ec_p384;
        if (g == "secp521r1" || g == "P-521") return KeyType::ec_p521;
        error = "EC key on an unsupported curve";
        return std::nullopt;
    }
    case EVP_PKEY_ED25519: return KeyType::ed25519;
    case EVP_PKEY_ED448: return KeyType::ed448;
    default: break;
    }
    error = "unsupported key type";
    return std::nullopt;
}

const json::Value *string_member(const json::Value &obj, std::string_view name)
{
    const json::Value *v = obj.find(name);
    return v && v->is_string() ? v : nullptr;
}

std::optional<std::string> b64_member(const json::Value &obj, std::string_view name)
{
    const json::Value *v = string_member(obj, name);
    if (v == nullptr) return std::nullopt;
    auto bytes = base64url::decode_padded(v->text());
    if (!bytes || bytes->empty()) return std::nullopt;
    return bytes;
}

PkeyPtr pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
    std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld));
    std::unique_ptr<EVP_PKEY_CTX, CtxFree> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
    EVP_PKEY *pkey = nullptr;
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1
        || EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
    {
        return nullptr;
    }
    return PkeyPtr(pkey);
}

bool public_key_is_valid(EVP_PKEY *pkey)
{
    std::unique_ptr<EVP_PKEY_CTX, CtxFree> ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
    return ctx && EVP_PKEY_public_check(ctx.get()) == 1;
}

PkeyPtr rsa_from_jwk(const json::Value &jwk, std::string &error)
{
    auto n = b64_member(jwk, "n");
    auto e = b64_member(jwk, "e");
    if (!n || !e) {
        error = "RSA JWK without valid \"n\" and \"e\"";
        return nullptr;
    }
    auto to_bn = [](const std::string &b) {
        return std::unique_ptr<BIGNUM, BnFree>(
            BN_bin2bn(reinterpret_cast<const unsigned char *>(b.data()), static_cast<int>(b.size()), nullptr));
    };
    auto bn_n = to_bn(*n);
    auto bn_e = to_bn(*e);
    std::unique_ptr<OSSL_PARAM_BLD, BldFree> bld(OSSL_PARAM_BLD_new());
    if (!bn_n || !bn_e || !bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1
        || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1)
    {
        error = "out of memory";
        return nullptr;
    }
    auto pkey = pkey_fromdata("RSA", bld.get());
    if (!pkey) error = "invalid RSA JWK";
    return pkey;
}

PkeyPtr ec_from_jwk(const json::Value &jwk, std::string &error)
{
    const json::Value *crv = string_member(jwk, "crv");
    std::size_t size;
    const char *group;
    if (crv && crv->text() == "P-256") {
        size = 32; group = "P-256";
    } else if (crv && crv->text() == "P-384") {
        size = 48; group = "P-384";
    } else if (crv && crv->text() == "P-521") {
        size = 66; group = "P-521";
    } else {
        error = "EC JWK with an unsupported \"crv\"";
        return nullptr;
    }
    auto x = b64_member(jwk, "x");
    auto y = b64_member(jwk, "y");
    if (!x || !y || x->size() != size || y->size() != size) {
        error = "EC JWK without valid \"x\" and \"y\"";
        return nullptr;
    }
    std::string point = "\x04" + *x + *y;
    std::unique_ptr<OSSL_PARAM_BLD, BldFree> bld(OSSL_PARAM_BLD_new());
    if (!bld || OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1
        || OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1)
    {
        error = "out of memory";
        return nullptr;
    }
    auto pkey = pkey_fromdata("EC", bld.get());
    if (!pkey || !public_key_is_valid(pkey.get())) {
        error = "invalid EC JWK (point not on the curve)";
        return nullptr;
    }
    return pkey;
}

PkeyPtr okp_from_jwk(const json::Value &jwk, std::string &error)
{
    const json::Value *crv = string_member(jwk, "crv");
    int type;
    std::size_t size;
    if (crv && crv->text() == "Ed25519") {
        type = EVP_PKEY_ED25519; size = 32;
    } else if (crv && crv->text() == "Ed448") {
        type = EVP_PKEY_ED448; size = 57;
    } else {
        error = "OKP JWK with an unsupported \"crv\"";
        return nullptr;
    }
    auto x = b64_member(jwk, "x");
    if (!x || x->size() != size) {
        error = "OKP JWK without a valid \"x\"";
        return nullptr;
    }
    PkeyPtr pkey(EVP_PKEY_new_raw_public_key(type, nullptr,
                                             reinterpret_cast<const unsigned char *>(x->data()), x->size()));
    if (!pkey) error = "invalid OKP JWK";
    return pkey;
}

} // namespace

const AlgInfo *find_alg(std::string_view name) noexcept
{
    for (const auto &a : algs_table) {
        if (a.name == name) return &a;
    }
    return nullptr;
}

const AlgInfo *alg_by_bit(unsigned bit) noexcept
{
    for (const auto &a : algs_table) {
        if (a.bit == bit) return &a;
    }
    return nullptr;
}

Key::Key(KeyType type, PkeyPtr pkey, std::string secret, std::string kid, unsigned pinned)
    : type_(type), pkey_(std::move(pkey)), secret_(std::move(secret)), kid_(std::move(kid)),
      has_kid_(!kid_.empty()), pinned_(pinned)
{
}

Key::Key(Key &&o) noexcept
    : type_(o.type_), pkey_(std::move(o.pkey_)), secret_(std::move(o.secret_)), kid_(std::move(o.kid_)),
      has_kid_(o.has_kid_), pinned_(o.pinned_), pkey_ctx_(o.pkey_ctx_), hmac_(std::move(o.hmac_))
{
    o.pkey_ctx_.fill(nullptr);
}

Key::~Key()
{
    for (auto *c : pkey_ctx_) EVP_PKEY_CTX_free(c);
    if (!secret_.empty()) OPENSSL_cleanse(secret_.data(), secret_.size());
}

unsigned Key::algs() const noexcept
{
    unsigned a = type_algs(type_);
    return pinned_ ? a & pinned_ : a;
}

std::string Key::material() const
{
    std::string m;
    m += static_cast<char>(type_);
    m += std::to_string(pinned_);
    m += ':';
    m += std::to_string(kid_.size());
    m += ':';
    m += kid_;
    if (pkey_) {
        unsigned char *der = nullptr;
        int len = i2d_PUBKEY(pkey_.get(), &der);
        if (len > 0) {
            m.append(reinterpret_cast<char *>(der), static_cast<std::size_t>(len));
            OPENSSL_free(der);
        }
    } else {
        m += secret_;
    }
    return m;
}

EVP_PKEY_CTX *Key::prepared(const AlgInfo &alg) const
{
    std::size_t i = alg_index(alg);
    if (pkey_ctx_[i]) return pkey_ctx_[i];

    std::unique_ptr<EVP_PKEY_CTX, CtxFree> ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey_.get(), nullptr));
    if (!ctx || EVP_PKEY_verify_init(ctx.get()) != 1) return nullptr;
    const EVP_MD *md = EVP_get_digestbyname(alg.digest);
    if (md == nullptr || EVP_PKEY_CTX_set_signature_md(ctx.get(), md) != 1) return nullptr;
    if (alg.family == Family::rsa && type_ == KeyType::rsa) {
        if (EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) != 1) return nullptr;
    } else if (alg.family == Family::pss) {
        // RFC 7518 3.5: MGF1 with the same hash, salt as long as the hash
        if (EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PSS_PADDING) != 1
            || EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), md) != 1
            || EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx.get(), RSA_PSS_SALTLEN_DIGEST) != 1)
        {
            return nullptr;
        }
    }
    pkey_ctx_[i] = ctx.release();
    return pkey_ctx_[i];
}

namespace {

gw_jwt_status_t hmac_check(const sha2::Hmac &hmac, const AlgInfo &alg, std::string_view input,
                           std::span<const unsigned char> sig)
{
    unsigned char mac[64];
    std::size_t len = sha2::size(alg.kind);
    hmac.compute(input, mac);
    // the length is public (it is the algorithm's); the bytes are compared
    // in constant time
    bool ok = sig.size() == len && CRYPTO_memcmp(mac, sig.data(), len) == 0;
    explicit_bzero(mac, sizeof(mac));
    return ok ? GW_JWT_OK : GW_JWT_BAD_SIGNATURE;
}

// ECDSA's JOSE form is r || s, each exactly as long as the curve order.
std::optional<std::vector<unsigned char>> ecdsa_der(const AlgInfo &alg, std::span<const unsigned char> sig)
{
    if (sig.size() != 2 * alg.ec_size) return std::nullopt;
    std::unique_ptr<ECDSA_SIG, SigFree> es(ECDSA_SIG_new());
    if (!es) return std::nullopt;
    BIGNUM *r = BN_bin2bn(sig.data(), static_cast<int>(alg.ec_size), nullptr);
    BIGNUM *s = BN_bin2bn(sig.data() + alg.ec_size, static_cast<int>(alg.ec_size), nullptr);
    if (r == nullptr || s == nullptr || ECDSA_SIG_set0(es.get(), r, s) != 1) {
        BN_free(r);
        BN_free(s);
        return std::nullopt;
    }
    unsigned char *der = nullptr;
    int len = i2d_ECDSA_SIG(es.get(), &der);
    if (len <= 0) return std::nullopt;
    std::vector<unsigned char> out(der, der + len);
    OPENSSL_free(der);
    return out;
}

} // namespace

gw_jwt_status_t verify_hmac(const AlgInfo &alg, std::string_view secret, std::string_view input,
                            std::span<const unsigned char> sig)
{
    if (secret.empty()) return GW_JWT_NO_KEY;
    sha2::Hmac hmac(alg.kind, secret);
    return hmac_check(hmac, alg, input, sig);
}

gw_jwt_status_t Key::verify(const AlgInfo &alg, std::string_view input, std::span<const unsigned char> sig) const
{
    if (!(algs() & alg.bit)) return GW_JWT_NO_KEY;

    switch (alg.family) {
    case Family::hmac: {
        auto &hmac = hmac_[alg_index(alg)];
        if (!hmac) hmac = std::make_unique<sha2::Hmac>(alg.kind, secret_);
        return hmac_check(*hmac, alg, input, sig);
    }

    case Family::eddsa: {
        std::unique_ptr<EVP_MD_CTX, MdCtxFree> md(EVP_MD_CTX_new());
        if (!md || EVP_DigestVerifyInit(md.get(), nullptr, nullptr, nullptr, pkey_.get()) != 1) {
            return GW_JWT_ERROR;
        }
        int rc = EVP_DigestVerify(md.get(), sig.data(), sig.size(),
                                  reinterpret_cast<const unsigned char *>(input.data()), input.size());
        return rc == 1 ? GW_JWT_OK : GW_JWT_BAD_SIGNATURE;
    }

    case Family::rsa:
    case Family::pss:
    case Family::ecdsa: {
        EVP_PKEY_CTX *ctx = prepared(alg);
        if (ctx == nullptr) return GW_JWT_ERROR;

        unsigned char digest[64];
        std::size_t dlen = sha2::size(alg.kind);
        sha2::Digest md(alg.kind);
        md.update(input);
        md.final(digest);

        std::vector<unsigned char> der;
        std::span<const unsigned char> s = sig;
        if (alg.family == Family::ecdsa) {
            auto d = ecdsa_der(alg, sig);
            if (!d) return GW_JWT_BAD_SIGNATURE;
            der = std::move(*d);
            s = der;
        } else if (sig.size() != static_cast<std::size_t>(EVP_PKEY_get_size(pkey_.get()))) {
            return GW_JWT_BAD_SIGNATURE;
        }
        int rc = EVP_PKEY_verify(ctx, s.data(), s.size(), digest, dlen);
        return rc == 1 ? GW_JWT_OK : GW_JWT_BAD_SIGNATURE;
    }
    }
    return GW_JWT_ERROR;
}

unsigned KeySet::algs() const noexcept
{
    unsigned a = 0;
    for (const auto &k : keys_) a |= k.algs();
    return a;
}

std::array<unsigned char, GW_JWT_FINGERPRINT_LEN> KeySet::fingerprint() const
{
    std::array<unsigned char, GW_JWT_FINGERPRINT_LEN> out{};
    std::unique_ptr<EVP_MD_CTX, MdCtxFree> md(EVP_MD_CTX_new());
    unsigned int len = 0;
    if (!md || EVP_DigestInit_ex(md.get(), EVP_sha256(), nullptr) != 1) return out;
    for (const auto &k : keys_) {
        std::string m = k.material();
        std::string frame = std::to_string(m.size()) + ":";
        EVP_DigestUpdate(md.get(), frame.data(), frame.size());
        EVP_DigestUpdate(md.get(), m.data(), m.size());
        OPENSSL_cleanse(m.data(), m.size());
    }
    EVP_DigestFinal_ex(md.get(), out.data(), &len);
    return out;
}

bool KeySet::add_secret(std::string_view secret, std::string &error)
{
    if (secret.empty()) {
        error = "empty HMAC secret";
        return false;
    }
    keys_.emplace_back(KeyType::oct, nullptr, std::string(secret), std::string(), 0);
    return true;
}

std::optional<std::size_t> KeySet::add(std::string_view text, std::string &error)
{
    std::size_t i = 0;
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n')) ++i;
    if (i < text.size() && text[i] == '{') return add_jwks(text, error);
    return add_pem(text, error);
}

std::optional<std::size_t> KeySet::add_jwks(std::string_view text, std::string &error)
{
    json::Limits limits;
    limits.max_depth = 8;
    auto doc = json::parse(text, limits);
    if (!doc) {
        error = std::string("invalid JSON: ") + json::error_text(doc.error) + " at offset "
                + std::to_string(doc.offset);
        return std::nullopt;
    }
    if (!doc.value.is_object()) {
        error = "a JWKS must be a JSON object";
        return std::nullopt;
    }

    std::vector<const json::Value *> jwks;
    if (const json::Value *keys = doc.value.find("keys")) {
        if (!keys->is_array()) {
            error = "\"keys\" is not an array";
            return std::nullopt;
        }
        for (const auto &k : keys->items()) jwks.push_back(&k);
    } else if (doc.value.find("kty")) {
        jwks.push_back(&doc.value);
    } else {
        error = "no \"keys\" array";
        return std::nullopt;
    }

    std::size_t added = 0;
    std::string skipped;
    for (const json::Value *jwk : jwks) {
        std::string why;
        if (!jwk->is_object()) {
            skipped = "a key that is not an object";
            continue;
        }
        const json::Value *kty = string_member(*jwk, "kty");
        const json::Value *use = jwk->find("use");
        const json::Value *alg = jwk->find("alg");
        const json::Value *kid = jwk->find("kid");
        if (kty == nullptr) {
            skipped = "a key without \"kty\"";
            continue;
        }
        if (use && !(use->is_string() && use->text() == "sig")) {
            skipped = "a key not for signatures";
            continue;
        }
        if (kid && !kid->is_string()) {
            skipped = "a key with a \"kid\" that is not a string";
            continue;
        }
        unsigned pinned = 0;
        if (alg) {
            const AlgInfo *a = alg->is_string() ? find_alg(alg->text()) : nullptr;
            if (a == nullptr) {
                skipped = "a key for an unsupported \"alg\"";
                continue;
            }
            pinned = a->bit;
        }

        PkeyPtr pkey;
        std::string secret;
        KeyType type = KeyType::oct;
        if (kty->text() == "oct") {
            auto k = b64_member(*jwk, "k");
            if (!k) {
                skipped = "an oct key without a valid non-empty \"k\"";
                continue;
            }
            secret = std::move(*k);
        } else {
            if (kty->text() == "RSA") {
                pkey = rsa_from_jwk(*jwk, why);
            } else if (kty->text() == "EC") {
                pkey = ec_from_jwk(*jwk, why);
            } else if (kty->text() == "OKP") {
                pkey = okp_from_jwk(*jwk, why);
            } else {
                why = "a key of an unsupported \"kty\"";
            }
            std::optional<KeyType> t;
            if (pkey) t = classify(pkey.get(), why);
            if (!t) {
                skipped = why;
                continue;
            }
            type = *t;
        }
        if (pinned && !(type_algs(type) & pinned)) {
            skipped = "a key whose \"alg\" does not fit its type";
            continue;
        }
        keys_.emplace_back(type, std::move(pkey), std::move(secret),
                           kid ? std::string(kid->text()) : std::string(), pinned);
        keys_.back().set_has_kid(kid != nullptr);
        ++added;
    }

    if (added == 0) {
        error = skipped.empty() ? "no keys in the JWKS" : "no usable key in the JWKS (skipped " + skipped + ")";
        return std::nullopt;
    }
    return added;
}

std::optional<std::size_t> KeySet::add_pem(std::string_view text, std::string &error)
{
    std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
    if (!bio) {
        error = "out of memory";
        return std::nullopt;
    }

    std::size_t added = 0;
    for (;;) {
        char *name_p = nullptr, *header_p = nullptr;
        unsigned char *data_p = nullptr;
        long len = 0;
        if (PEM_read_bio(bio.get(), &name_p, &header_p, &data_p, &len) != 1) break;
        std::unique_ptr<char, OpenSslFree> name(name_p), header(header_p);
        std::unique_ptr<unsigned char, OpenSslFree> data(data_p);

        std::string_view n(name.get());
        const unsigned char *p = data.get();
        PkeyPtr pkey;
        if (n == "PUBLIC KEY") {
            pkey.reset(d2i_PUBKEY(nullptr, &p, len));
        } else if (n == "RSA PUBLIC KEY") {
            pkey.reset(d2i_PublicKey(EVP_PKEY_RSA, nullptr, &p, len));
        } else if (n == "CERTIFICATE") {
            std::unique_ptr<X509, X509Free> cert(d2i_X509(nullptr, &p, len));
            if (cert) pkey.reset(X509_get_pubkey(cert.get()));
        } else if (n.find("PRIVATE KEY") != std::string_view::npos) {
            OPENSSL_cleanse(data.get(), static_cast<std::size_t>(len));
            error = "a private key was given where a public key is expected";
            return std::nullopt;
        } else {
            error = "unsupported PEM block \"" + std::string(n) + "\"";
            return std::nullopt;
        }
        if (!pkey || p != data.get() + len) {
            error = "invalid PEM " + std::string(n);
            return std::nullopt;
        }
        auto type = classify(pkey.get(), error);
        if (!type) return std::nullopt;
        keys_.emplace_back(*type, std::move(pkey), std::string(), std::string(), 0);
        ++added;
    }
    ERR_clear_error();

    if (added == 0) {
        error = "neither a JWKS nor a PEM public key";
        return std::nullopt;
    }
    return added;
}

} // namespace gw::jwt
