// Tokens, claims, roles and the C ABI of gw_jwt.h.

#include <algorithm>
#include <cstring>

#include <openssl/err.h>

#include "base64url.hpp"
#include "jwt.hpp"

namespace gw::jwt {

namespace {

// Keys tried for a token without kid (or a kid several keys share).
constexpr std::size_t max_candidates = 16;

bool iequals(std::string_view a, std::string_view b) noexcept
{
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               auto lx = static_cast<char>(x >= 'A' && x <= 'Z' ? x + 32 : x);
               auto ly = static_cast<char>(y >= 'A' && y <= 'Z' ? y + 32 : y);
               return lx == ly;
           });
}

// typ is a media type, compared without case; "application/" may be left out
// (RFC 7515 section 4.1.9).
bool acceptable_typ(std::string_view typ) noexcept
{
    if (typ.size() > 12 && iequals(typ.substr(0, 12), "application/")) typ.remove_prefix(12);
    return iequals(typ, "JWT") || iequals(typ, "at+jwt");
}

} // namespace

gw_jwt_status_t Token::parse(std::string_view text, std::size_t max_size)
{
    if (text.size() > max_size) return GW_JWT_TOO_LARGE;

    auto d1 = text.find('.');
    if (d1 == std::string_view::npos) return GW_JWT_MALFORMED;
    auto d2 = text.find('.', d1 + 1);
    if (d2 == std::string_view::npos || text.find('.', d2 + 1) != std::string_view::npos) return GW_JWT_MALFORMED;

    std::string_view h64 = text.substr(0, d1);
    std::string_view p64 = text.substr(d1 + 1, d2 - d1 - 1);
    std::string_view s64 = text.substr(d2 + 1);
    if (h64.empty() || p64.empty() || s64.empty()) return GW_JWT_MALFORMED;

    // the payload is parsed only after verification, but must be canonical
    // now; the signature is decoded by verify() (a cache hit needs none)
    std::pmr::string header(&arena_);
    if (!base64url::decode_into(h64, header) || !base64url::decode_into(p64, payload_bytes_)) {
        return GW_JWT_MALFORMED;
    }

    json::Limits limits;
    limits.max_depth = 4;
    limits.max_items = 256;
    auto h = json::parse(header, limits, &arena_);
    if (!h || !h.value.is_object()) return GW_JWT_MALFORMED;
    header_ = h.value;

    if (auto rc = check_header(); rc != GW_JWT_OK) return rc;

    input_ = text.substr(0, d2);
    sig64_ = s64;
    return GW_JWT_OK;
}

// alg, typ, cty, crit, b64 and kid: found in one pass over the header's
// members, then checked in that order.
gw_jwt_status_t Token::check_header()
{
    const json::Value *alg = nullptr, *typ = nullptr, *cty = nullptr, *kid = nullptr;
    bool refused = false;
    auto names = header_.keys();
    auto values = header_.items();
    for (std::size_t i = 0; i < names.size(); ++i) {
        std::string_view name = names[i];
        if (name == "alg") {
            alg = &values[i];
        } else if (name == "typ") {
            typ = &values[i];
        } else if (name == "cty") {
            cty = &values[i];
        } else if (name == "kid") {
            kid = &values[i];
        } else if (name == "crit" || name == "b64") {
            refused = true;
        }
        // jku, x5u, jwk and x5c are never followed: keys come from the configuration
    }

    if (alg == nullptr || !alg->is_string()) return GW_JWT_BAD_HEADER;
    alg_ = find_alg(alg->text());
    if (alg_ == nullptr) return GW_JWT_ALG_NOT_ALLOWED;

    if (typ && (!typ->is_string() || !acceptable_typ(typ->text()))) return GW_JWT_BAD_HEADER;
    // nested tokens are not supported
    if (cty && (!cty->is_string() || iequals(cty->text(), "JWT"))) return GW_JWT_BAD_HEADER;
    if (refused) return GW_JWT_BAD_HEADER;
    if (kid) {
        if (!kid->is_string()) return GW_JWT_BAD_HEADER;
        kid_ = kid->text();
    }
    return GW_JWT_OK;
}

gw_jwt_status_t Token::decode_payload()
{
    json::Limits limits;
    limits.max_depth = 16;
    auto p = json::parse(payload_bytes_, limits, &arena_);
    if (!p || !p.value.is_object()) return GW_JWT_BAD_CLAIMS;
    payload_ = p.value;
    verified_ = true;
    // the caller's text may go now
    input_ = {};
    sig64_ = {};
    return GW_JWT_OK;
}

gw_jwt_status_t Token::trust()
{
    if (verified_) return GW_JWT_OK;
    return decode_payload();
}

gw_jwt_status_t Token::verify(const gw_jwt_keys_t &keys)
{
    // once verified, the token no longer holds its signature: it may be
    // shared, and must not be taken as verified by other keys
    if (verified_) return GW_JWT_ERROR;

    const AlgInfo &alg = *alg_;
    std::string_view input = input_;
    std::pmr::string sig_bytes(&arena_);
    if (!base64url::decode_into(sig64_, sig_bytes)) return GW_JWT_MALFORMED;
    std::span<const unsigned char> sig(reinterpret_cast<const unsigned char *>(sig_bytes.data()), sig_bytes.size());

    if (keys.allowed && !(keys.allowed & alg.bit)) return GW_JWT_ALG_NOT_ALLOWED;

    // candidates: keys that may verify this algorithm; with a kid, those of
    // that kid first, else keys that have no kid at all (no more than
    // max_candidates are ever tried, so no more are kept)
    struct Candidates {
        std::array<const Key *, max_candidates> keys;
        std::size_t n = 0;
        void add(const Key *k) noexcept
        {
            if (n < max_candidates) keys[n] = k;
            ++n;
        }
        std::span<const Key *const> kept() const noexcept { return {keys.data(), std::min(n, max_candidates)}; }
    } exact, kidless;
    bool any_fit = false;
    for (std::size_t s = 0; s < keys.nsets; ++s) {
        const auto *set = reinterpret_cast<const KeySet *>(keys.sets[s]);
        if (set == nullptr) continue;
        for (const Key &k : set->keys()) {
            if (!(k.algs() & alg.bit)) continue;
            any_fit = true;
            if (!k.has_kid()) {
                kidless.add(&k);
            } else if (!kid_ || k.kid() == *kid_) {
                exact.add(&k);
            }
        }
    }
    bool secret = keys.secret != nullptr && keys.secret_len > 0 && alg.family == Family::hmac;

    if (kid_ && exact.n == 0 && kidless.n == 0 && !secret) {
        return any_fit ? GW_JWT_UNKNOWN_KID : GW_JWT_NO_KEY;
    }
    if (!any_fit && !secret) return GW_JWT_NO_KEY;

    std::size_t tried = 0;
    gw_jwt_status_t rc = GW_JWT_BAD_SIGNATURE;
    for (const Candidates *list : {&exact, &kidless}) {
        for (const Key *k : list->kept()) {
            if (tried++ == max_candidates) goto done;
            rc = k->verify(alg, input, sig);
            if (rc == GW_JWT_OK) goto done;
        }
    }
    if (secret) {
        rc = verify_hmac(alg, {reinterpret_cast<const char *>(keys.secret), keys.secret_len}, input, sig);
    }
done:
    // a failed verification leaves OpenSSL errors queued: drop them here
    // rather than let them surface in an unrelated caller
    if (rc != GW_JWT_OK) ERR_clear_error();
    if (rc == GW_JWT_NO_KEY) rc = GW_JWT_BAD_SIGNATURE;
    // no key carries this kid: the key set may have to be refetched
    if (rc == GW_JWT_BAD_SIGNATURE && kid_ && exact.n == 0) return GW_JWT_UNKNOWN_KID;
    if (rc != GW_JWT_OK) return rc;
    return decode_payload();
}

std::optional<std::int64_t> numeric_date_ms(std::string_view t) noexcept
{
    // JSON number grammar, already validated by the parser; checked again
    // here so the function stands on its own
    constexpr std::int64_t year_10000_ms = 253402300800000;
    std::size_t i = 0;
    if (t.empty() || t[0] == '-') return std::nullopt;

    // the common case: an integer of up to 13 digits, in milliseconds below
    // 10^16 (the general path below gives the same)
    if (t.size() <= 13) {
        std::int64_t v = 0;
        bool integer = true;
        for (char c : t) {
            if (c < '0' || c > '9') {
                integer = false;
                break;
            }
            v = v * 10 + (c - '0');
        }
        if (integer) {
            v *= 1000;
            if (v >= year_10000_ms) return std::nullopt;
            return v;
        }
    }

    // value = 0.digits * 10^point: digits has no leading zeros (however
    // many a fraction has) and holds the first 64 significant ones
    std::string digits;
    long point = 0;
    auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
    if (i >= t.size() || !is_digit(t[i])) return std::nullopt;
    while (i < t.size() && is_digit(t[i])) {
        if (digits.empty() && t[i] == '0') {
            ++i;
            continue;
        }
        if (digits.size() >= 64) return std::nullopt;   // far beyond any date
        digits += t[i];
        ++point;
        ++i;
    }
    if (i < t.size() && t[i] == '.') {
        ++i;
        if (i >= t.size() || !is_digit(t[i])) return std::nullopt;
        while (i < t.size() && is_digit(t[i])) {
            if (digits.empty() && t[i] == '0') {
                --point;
            } else if (digits.size() < 64) {
                digits += t[i];                 // further digits are below 1 ms
            }
            ++i;
        }
    }
    long exp = 0;
    if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
        ++i;
        bool neg = false;
        if (i < t.size() && (t[i] == '+' || t[i] == '-')) neg = t[i++] == '-';
        if (i >= t.size() || !is_digit(t[i])) return std::nullopt;
        while (i < t.size() && is_digit(t[i])) {
            if (exp < 100000) exp = exp * 10 + (t[i] - '0');
            ++i;
        }
        if (neg) exp = -exp;
    }
    if (i != t.size()) return std::nullopt;
    if (digits.empty()) return 0;

    long ms_point = point + exp + 3;    // digits of the value in milliseconds
    if (ms_point <= 0) return 0;
    if (ms_point > 16) return std::nullopt;

    std::int64_t v = 0;
    for (long k = 0; k < ms_point; ++k) {
        int d = k < static_cast<long>(digits.size()) ? digits[static_cast<std::size_t>(k)] - '0' : 0;
        v = v * 10 + d;
    }
    if (v >= year_10000_ms) return std::nullopt;
    return v;
}

namespace {

// A date claim: absent (nullopt), or valid; false if present but invalid.
bool date_claim(const json::Value *v, std::optional<std::int64_t> &out)
{
    out.reset();
    if (v == nullptr) return true;
    if (!v->is_number()) return false;
    out = numeric_date_ms(v->text());
    return out.has_value();
}

bool one_of(std::string_view value, const gw_jwt_str_t *list, std::size_t n)
{
    for (std::size_t i = 0; i < n; ++i) {
        if (value == std::string_view(list[i].data, list[i].len)) return true;
    }
    return false;
}

// The registered claims the policy looks at, found in one pass.
struct Registered {
    const json::Value *exp = nullptr, *nbf = nullptr, *iat = nullptr, *iss = nullptr, *aud = nullptr;

    explicit Registered(const json::Value &payload) noexcept
    {
        auto names = payload.keys();
        auto values = payload.items();
        for (std::size_t i = 0; i < names.size(); ++i) {
            std::string_view n = names[i];
            if (n.size() != 3) continue;
            if (n == "exp") exp = &values[i];
            else if (n == "nbf") nbf = &values[i];
            else if (n == "iat") iat = &values[i];
            else if (n == "iss") iss = &values[i];
            else if (n == "aud") aud = &values[i];
        }
    }
};

} // namespace

std::optional<std::int64_t> Token::exp_ms() const
{
    std::optional<std::int64_t> exp;
    if (!verified_ || !date_claim(payload_.find("exp"), exp)) return std::nullopt;
    return exp;
}

gw_jwt_status_t Token::check_claims(const gw_jwt_policy_t &p) const
{
    if (!verified_) return GW_JWT_NOT_VERIFIED;

    Registered claims(payload_);
    std::optional<std::int64_t> exp, nbf;
    if (!date_claim(claims.exp, exp) || !date_claim(claims.nbf, nbf)) return GW_JWT_BAD_CLAIMS;
    if (claims.iat && !claims.iat->is_number()) return GW_JWT_BAD_CLAIMS;

    std::int64_t leeway = std::clamp<std::int64_t>(p.leeway_ms, 0, 100LL * 365 * 86400 * 1000);
    // times are below 2^48 ms, so these sums cannot overflow
    if (!exp && p.require_exp) return GW_JWT_MISSING_EXP;
    if (exp && p.now_ms >= *exp + leeway) return GW_JWT_EXPIRED;
    if (nbf && p.now_ms + leeway < *nbf) return GW_JWT_NOT_YET_VALID;

    if (p.nissuers) {
        const json::Value *iss = claims.iss;
        if (iss == nullptr || !iss->is_string() || !one_of(iss->text(), p.issuers, p.nissuers)) {
            return GW_JWT_BAD_ISSUER;
        }
    }
    if (p.naudiences) {
        const json::Value *aud = claims.aud;
        bool ok = false;
        if (aud && aud->is_string()) {
            ok = one_of(aud->text(), p.audiences, p.naudiences);
        } else if (aud && aud->is_array()) {
            for (const auto &a : aud->items()) {
                if (!a.is_string()) return GW_JWT_BAD_AUDIENCE;
                ok = ok || one_of(a.text(), p.audiences, p.naudiences);
            }
        }
        if (!ok) return GW_JWT_BAD_AUDIENCE;
    }
    return GW_JWT_OK;
}

SpareTokens::~SpareTokens()
{
    for (Token *t : spare_) delete t;
}

std::unique_ptr<Token> SpareTokens::take()
{
    if (spare_.empty()) return std::make_unique_for_overwrite<Token>();
    std::unique_ptr<Token> t(spare_.back());
    spare_.pop_back();
    // made new in place; the arena's buffer is not zeroed
    t->~Token();
    new (t.get()) Token;
    return t;
}

void SpareTokens::give(Token *token) noexcept
{
    if (spare_.size() < keep_) {
        try {
            spare_.push_back(token);
            return;
        } catch (...) {
            // no room to remember it: delete it
        }
    }
    delete token;
}

RecentTokens::~RecentTokens()
{
    for (auto it = lru_.begin(); it != lru_.end();) drop(it++);
}

void RecentTokens::drop(Lru::iterator it) noexcept
{
    index_.erase(it->text);
    if (it->token->release()) delete it->token;
    lru_.erase(it);
}

Token *RecentTokens::find(std::span<const unsigned char> scope, std::string_view text, std::int64_t now_ms)
{
    auto found = index_.find(text);
    if (found == index_.end()) return nullptr;
    auto it = found->second;
    if (it->expire_ms <= now_ms) {
        drop(it);
        return nullptr;
    }
    if (scope.size() != it->scope_len || !std::equal(scope.begin(), scope.end(), it->scope.begin())) {
        return nullptr;
    }
    lru_.splice(lru_.begin(), lru_, it);
    it->token->retain();
    return it->token;
}

void RecentTokens::add(std::span<const unsigned char> scope, std::string_view text, Token *token,
                       std::int64_t expire_ms)
{
    if (capacity_ == 0 || scope.size() > max_scope || text.size() > max_text || !token->verified()) return;
    if (auto found = index_.find(text); found != index_.end()) drop(found->second);
    while (lru_.size() >= capacity_) drop(std::prev(lru_.end()));

    lru_.emplace_front();
    Entry &e = lru_.front();
    try {
        e.text.assign(text);
        std::copy(scope.begin(), scope.end(), e.scope.begin());
        e.scope_len = scope.size();
        e.expire_ms = expire_ms;
        index_.emplace(e.text, lru_.begin());
    } catch (...) {
        index_.erase(e.text);
        lru_.pop_front();
        throw;
    }
    token->retain();
    e.token = token;
}

std::string render(const json::Value &v)
{
    switch (v.type()) {
    case json::Type::null: return {};
    case json::Type::boolean: return v.as_bool() ? "true" : "false";
    case json::Type::number:
    case json::Type::string: return std::string(v.text());
    case json::Type::array: {
        std::string out;
        for (std::size_t i = 0; i < v.size(); ++i) {
            if (i) out += ',';
            const auto &e = v.items()[i];
            if (e.is_string() || e.is_number()) {
                out += e.text();
            } else {
                e.serialize_to(out);
            }
        }
        return out;
    }
    case json::Type::object: return v.serialize();
    }
    return {};
}

const json::Value *at_path(const json::Value &root, std::string_view dotted) noexcept
{
    const json::Value *v = &root;
    for (;;) {
        auto dot = dotted.find('.');
        v = v->find(dotted.substr(0, dot));
        if (v == nullptr || dot == std::string_view::npos) return v;
        dotted.remove_prefix(dot + 1);
    }
}

std::vector<std::string_view> roles_of(const json::Value *claim)
{
    std::vector<std::string_view> roles;
    any_role(claim, [&roles](std::string_view r) {
        roles.push_back(r);
        return false;
    });
    return roles;
}

namespace {

// "resource:action", split at the last colon so resources may hold colons.
bool split_permission(std::string_view p, std::string_view &resource, std::string_view &action)
{
    auto colon = p.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == p.size()) return false;
    resource = p.substr(0, colon);
    action = p.substr(colon + 1);
    return true;
}

} // namespace

bool Rbac::grant(std::string_view role, std::string_view permission, std::string &error)
{
    std::string_view resource, action;
    if (role.empty()) {
        error = "empty role name";
        return false;
    }
    if (!split_permission(permission, resource, action)) {
        error = "permission is not \"resource:action\"";
        return false;
    }
    roles_[std::string(role)].push_back({std::string(resource), std::string(action)});
    return true;
}

bool Rbac::role_allows(std::string_view role, std::string_view resource, std::string_view action) const
{
    auto it = roles_.find(role);
    if (it == roles_.end()) return false;
    for (const auto &p : it->second) {
        if ((p.resource == "*" || p.resource == resource) && (p.action == "*" || p.action == action)) {
            return true;
        }
    }
    return false;
}

bool Rbac::allows(std::span<const std::string_view> roles, std::string_view resource,
                  std::string_view action) const
{
    if (resource.empty() || action.empty()) return false;
    for (std::string_view role : roles) {
        if (role_allows(role, resource, action)) return true;
    }
    return false;
}

bool Rbac::allows(const json::Value *claim, std::string_view resource, std::string_view action) const
{
    if (resource.empty() || action.empty()) return false;
    return any_role(claim, [&](std::string_view role) { return role_allows(role, resource, action); });
}

} // namespace gw::jwt

// The C ABI: opaque handles are the C++ objects themselves.
struct gw_jwt_keyset_s : gw::jwt::KeySet {};
// gw_jwt_t is never defined: a handle is a gw::jwt::Token, so tokens
// shared with RecentTokens are deleted as what they are.
struct gw_jwt_recent_s : gw::jwt::RecentTokens {
    using RecentTokens::RecentTokens;
};
struct gw_jwt_spares_s : gw::jwt::SpareTokens {
    using SpareTokens::SpareTokens;
};
struct gw_rbac_s : gw::jwt::Rbac {};

namespace {

void set_error(char *err, std::size_t errlen, std::string_view msg)
{
    if (err == nullptr || errlen == 0) return;
    std::size_t n = std::min(msg.size(), errlen - 1);
    std::memcpy(err, msg.data(), n);
    err[n] = '\0';
}

gw::jwt::Token *token(gw_jwt_t *jwt)
{
    return reinterpret_cast<gw::jwt::Token *>(jwt);
}

const gw::jwt::Token *token(const gw_jwt_t *jwt)
{
    return reinterpret_cast<const gw::jwt::Token *>(jwt);
}

gw_jwt_t *handle(gw::jwt::Token *t)
{
    return reinterpret_cast<gw_jwt_t *>(t);
}

} // namespace

extern "C" {

const char *gw_jwt_status_text(gw_jwt_status_t status)
{
    switch (status) {
    case GW_JWT_OK: return "valid";
    case GW_JWT_MALFORMED: return "malformed token";
    case GW_JWT_TOO_LARGE: return "token too large";
    case GW_JWT_BAD_HEADER: return "unsupported token header";
    case GW_JWT_ALG_NOT_ALLOWED: return "algorithm not allowed";
    case GW_JWT_NO_KEY: return "no key for the algorithm";
    case GW_JWT_UNKNOWN_KID: return "unknown key id";
    case GW_JWT_BAD_SIGNATURE: return "signature verification failed";
    case GW_JWT_BAD_CLAIMS: return "invalid claims";
    case GW_JWT_EXPIRED: return "token expired";
    case GW_JWT_NOT_YET_VALID: return "token not yet valid";
    case GW_JWT_MISSING_EXP: return "token without expiry";
    case GW_JWT_BAD_ISSUER: return "issuer not accepted";
    case GW_JWT_BAD_AUDIENCE: return "audience not accepted";
    case GW_JWT_NOT_VERIFIED: return "token not verified";
    case GW_JWT_ERROR: return "internal error";
    }
    return "unknown status";
}

unsigned gw_jwt_alg_bit(const char *name, size_t len)
{
    const auto *a = gw::jwt::find_alg({name, len});
    return a ? a->bit : 0;
}

const char *gw_jwt_alg_name(unsigned bit)
{
    const auto *a = gw::jwt::alg_by_bit(bit);
    return a ? a->name.data() : nullptr;
}

gw_jwt_keyset_t *gw_jwt_keyset_new(void)
{
    try {
        return new gw_jwt_keyset_t();
    } catch (...) {
        return nullptr;
    }
}

void gw_jwt_keyset_free(gw_jwt_keyset_t *ks)
{
    delete ks;
}

int gw_jwt_keyset_add(gw_jwt_keyset_t *ks, const char *text, size_t len, char *err, size_t errlen)
{
    try {
        std::string error;
        auto n = ks->add({text, len}, error);
        ERR_clear_error();
        if (!n) {
            set_error(err, errlen, error);
            return -1;
        }
        return static_cast<int>(*n);
    } catch (...) {
        ERR_clear_error();
        set_error(err, errlen, "out of memory");
        return -1;
    }
}

int gw_jwt_keyset_add_secret(gw_jwt_keyset_t *ks, const unsigned char *secret, size_t len, char *err,
                             size_t errlen)
{
    try {
        std::string error;
        if (!ks->add_secret({reinterpret_cast<const char *>(secret), len}, error)) {
            set_error(err, errlen, error);
            return -1;
        }
        return 1;
    } catch (...) {
        set_error(err, errlen, "out of memory");
        return -1;
    }
}

size_t gw_jwt_keyset_count(const gw_jwt_keyset_t *ks)
{
    return ks->keys().size();
}

const char *gw_jwt_keyset_kid(const gw_jwt_keyset_t *ks, size_t i, size_t *len)
{
    if (i >= ks->keys().size() || !ks->keys()[i].has_kid()) {
        *len = 0;
        return nullptr;
    }

    const std::string &kid = ks->keys()[i].kid();
    *len = kid.size();
    return kid.data();
}

unsigned gw_jwt_keyset_algs(const gw_jwt_keyset_t *ks)
{
    return ks->algs();
}

void gw_jwt_keyset_fingerprint(const gw_jwt_keyset_t *ks, unsigned char out[GW_JWT_FINGERPRINT_LEN])
{
    try {
        auto fp = ks->fingerprint();
        std::copy(fp.begin(), fp.end(), out);
    } catch (...) {
        std::memset(out, 0, GW_JWT_FINGERPRINT_LEN);
    }
}

gw_jwt_status_t gw_jwt_parse(const char *text, size_t len, size_t max_size, gw_jwt_t **out)
{
    return gw_jwt_parse_reusing(nullptr, text, len, max_size, out);
}

gw_jwt_status_t gw_jwt_parse_reusing(gw_jwt_spares_t *spares, const char *text, size_t len,
                                     size_t max_size, gw_jwt_t **out)
{
    *out = nullptr;
    try {
        // default-initialised: the arena's buffer is not zeroed
        auto t = spares ? spares->take() : std::make_unique_for_overwrite<gw::jwt::Token>();
        auto rc = t->parse({text, len}, max_size);
        if (rc != GW_JWT_OK) {
            if (spares) spares->give(t.release());
            return rc;
        }
        *out = handle(t.release());
        return GW_JWT_OK;
    } catch (...) {
        return GW_JWT_ERROR;
    }
}

void gw_jwt_free(gw_jwt_t *jwt)
{
    gw_jwt_release(nullptr, jwt);
}

void gw_jwt_release(gw_jwt_spares_t *spares, gw_jwt_t *jwt)
{
    if (jwt == nullptr || !token(jwt)->release()) return;
    if (spares) {
        spares->give(token(jwt));
    } else {
        delete token(jwt);
    }
}

gw_jwt_spares_t *gw_jwt_spares_new(size_t keep)
{
    try {
        return new gw_jwt_spares_t(keep);
    } catch (...) {
        return nullptr;
    }
}

void gw_jwt_spares_free(gw_jwt_spares_t *spares)
{
    delete spares;
}

gw_jwt_recent_t *gw_jwt_recent_new(size_t capacity)
{
    try {
        return new gw_jwt_recent_t(capacity);
    } catch (...) {
        return nullptr;
    }
}

void gw_jwt_recent_free(gw_jwt_recent_t *recent)
{
    delete recent;
}

gw_jwt_t *gw_jwt_recent_find(gw_jwt_recent_t *recent, const unsigned char *scope, size_t scope_len,
                             const char *text, size_t len, int64_t now_ms)
{
    try {
        return handle(recent->find({scope, scope_len}, {text, len}, now_ms));
    } catch (...) {
        return nullptr;
    }
}

void gw_jwt_recent_add(gw_jwt_recent_t *recent, const unsigned char *scope, size_t scope_len,
                       const char *text, size_t len, gw_jwt_t *jwt, int64_t expire_ms)
{
    try {
        recent->add({scope, scope_len}, {text, len}, token(jwt), expire_ms);
    } catch (...) {
        // not remembered: the shared cache still has it
    }
}

size_t gw_jwt_recent_count(const gw_jwt_recent_t *recent)
{
    return recent->size();
}

unsigned gw_jwt_alg(const gw_jwt_t *jwt)
{
    return token(jwt)->alg().bit;
}

gw_jwt_status_t gw_jwt_verify(gw_jwt_t *jwt, const gw_jwt_keys_t *keys)
{
    try {
        return token(jwt)->verify(*keys);
    } catch (...) {
        ERR_clear_error();
        return GW_JWT_ERROR;
    }
}

gw_jwt_status_t gw_jwt_trust(gw_jwt_t *jwt)
{
    try {
        return token(jwt)->trust();
    } catch (...) {
        return GW_JWT_ERROR;
    }
}

gw_jwt_status_t gw_jwt_check_claims(const gw_jwt_t *jwt, const gw_jwt_policy_t *policy)
{
    try {
        return token(jwt)->check_claims(*policy);
    } catch (...) {
        return GW_JWT_ERROR;
    }
}

int gw_jwt_exp_ms(const gw_jwt_t *jwt, int64_t *exp_ms)
{
    try {
        auto e = token(jwt)->exp_ms();
        if (!e) return 0;
        *exp_ms = *e;
        return 1;
    } catch (...) {
        return 0;
    }
}

int gw_jwt_claim(gw_jwt_t *jwt, const gw_jwt_str_t *path, size_t depth, gw_jwt_str_t *value)
{
    try {
        auto *t = token(jwt);
        if (!t->verified()) return 0;
        const gw::json::Value *v = &t->payload();
        for (size_t i = 0; i < depth && v; ++i) v = v->find({path[i].data, path[i].len});
        if (v == nullptr || v->is_null()) return 0;
        std::string_view s;
        if (v->is_string() || v->is_number()) {
            s = v->text();
        } else {
            s = t->rendered(v, 0, [v] { return gw::jwt::render(*v); });
        }
        value->data = s.data();
        value->len = s.size();
        return 1;
    } catch (...) {
        return 0;
    }
}

int gw_jwt_header(gw_jwt_t *jwt, const char *name, size_t len, gw_jwt_str_t *value)
{
    try {
        auto *t = token(jwt);
        if (!t->verified()) return 0;
        const gw::json::Value *v = t->header().find({name, len});
        if (v == nullptr || v->is_null()) return 0;
        std::string_view s = v->is_string() || v->is_number()
                                 ? v->text()
                                 : t->rendered(v, 0, [v] { return gw::jwt::render(*v); });
        value->data = s.data();
        value->len = s.size();
        return 1;
    } catch (...) {
        return 0;
    }
}

int gw_jwt_roles(gw_jwt_t *jwt, const char *path, size_t len, gw_jwt_str_t *value)
{
    try {
        auto *t = token(jwt);
        if (!t->verified()) return 0;
        const auto *claim = gw::jwt::at_path(t->payload(), {path, len});
        auto s = t->rendered(claim, 1, [claim] {
            std::string joined;
            for (auto role : gw::jwt::roles_of(claim)) {
                if (!joined.empty()) joined += ' ';
                joined += role;
            }
            return joined;
        });
        value->data = s.data();
        value->len = s.size();
        return 1;
    } catch (...) {
        return 0;
    }
}

gw_rbac_t *gw_rbac_new(void)
{
    try {
        return new gw_rbac_t();
    } catch (...) {
        return nullptr;
    }
}

void gw_rbac_free(gw_rbac_t *rbac)
{
    delete rbac;
}

int gw_rbac_grant(gw_rbac_t *rbac, const char *role, size_t role_len, const char *permission, size_t len,
                  char *err, size_t errlen)
{
    try {
        std::string error;
        if (!rbac->grant({role, role_len}, {permission, len}, error)) {
            set_error(err, errlen, error);
            return -1;
        }
        return 0;
    } catch (...) {
        set_error(err, errlen, "out of memory");
        return -1;
    }
}

int gw_rbac_allows(const gw_rbac_t *rbac, const gw_jwt_t *jwt, const char *roles_path, size_t path_len,
                   const char *resource, size_t resource_len, const char *action, size_t action_len)
{
    try {
        const auto *t = token(jwt);
        if (rbac == nullptr || !t->verified()) return 0;
        return rbac->allows(gw::jwt::at_path(t->payload(), {roles_path, path_len}), {resource, resource_len},
                            {action, action_len})
                   ? 1
                   : 0;
    } catch (...) {
        return 0;
    }
}

void gw_jwt_cache_key(const unsigned char *scope, size_t scope_len, const char *token, size_t len,
                      unsigned char out[GW_JWT_FINGERPRINT_LEN])
{
    gw::sha2::Digest d(gw::sha2::Kind::sha256);
    d.update(scope, scope_len);
    d.update(token, len);
    d.final(out);
}

int64_t gw_jwt_numeric_date_ms(const char *text, size_t len)
{
    try {
        auto v = gw::jwt::numeric_date_ms({text, len});
        return v ? *v : -1;
    } catch (...) {
        return -1;
    }
}

}
