// An HTTP/1.1 response read incrementally (see gw_http.h).

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gw_http.h"

namespace gw::http {

namespace {

// RFC 9110 tchar
bool token_char(unsigned char c) noexcept
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool same_text(std::string_view a, std::string_view b) noexcept
{
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return lower(x) == lower(y);
           });
}

std::string_view trim(std::string_view s) noexcept
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// Does the comma-separated list hold the token (any case)?
bool list_has(std::string_view list, std::string_view token) noexcept
{
    while (!list.empty()) {
        auto comma = list.find(',');
        if (same_text(trim(list.substr(0, comma)), token)) return true;
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
    return false;
}

bool decimal(std::string_view s, std::uint64_t &out) noexcept
{
    if (s.empty() || s.size() > 18) return false;
    out = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        out = out * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return true;
}

constexpr std::size_t max_chunk_line = 4096;

} // namespace

class Response {
public:
    explicit Response(std::size_t max_header) : max_header_(max_header) {}

    void reset(gw_http_body_pt body, void *ctx)
    {
        body_ = body;
        ctx_ = ctx;
        state_ = State::status_line;
        status_ = 0;
        http10_ = false;
        keep_alive_ = true;
        head_bytes_ = 0;
        headers_.clear();
        line_.clear();
        error_.clear();
        remaining_ = 0;
    }

    gw_http_rc_t feed(std::string_view data, std::size_t &used)
    {
        std::size_t i = 0;
        while (i < data.size() && state_ != State::done && state_ != State::error) {
            switch (state_) {
            case State::body_length:
            case State::chunk_data: {
                std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, data.size() - i));
                deliver(data.substr(i, n));
                i += n;
                remaining_ -= n;
                if (remaining_ == 0 && state_ != State::error) {
                    state_ = state_ == State::body_length ? State::done : State::chunk_data_end;
                }
                break;
            }
            case State::body_close:
                deliver(data.substr(i));
                i = data.size();
                break;
            default:
                i = take_line(data, i);
                break;
            }
        }
        used = i;
        return rc();
    }

    gw_http_rc_t eof()
    {
        if (state_ == State::body_close) state_ = State::done;
        if (state_ != State::done && state_ != State::error) fail("the connection closed before the response ended");
        return rc();
    }

    int status() const noexcept { return status_; }
    bool keep_alive() const noexcept { return keep_alive_ && state_ == State::done; }
    bool has_headers() const noexcept { return state_ > State::headers && state_ != State::error; }
    const char *error() const noexcept { return error_.c_str(); }

    const char *header(std::string_view name, std::size_t &len) const noexcept
    {
        for (auto h = headers_.rbegin(); h != headers_.rend(); ++h) {
            if (same_text(h->first, name)) {
                len = h->second.size();
                return h->second.data();
            }
        }
        return nullptr;
    }

private:
    std::optional<std::string_view> header_view(std::string_view name) const noexcept
    {
        std::size_t len = 0;
        const char *v = header(name, len);
        return v != nullptr ? std::optional<std::string_view>({v, len}) : std::nullopt;
    }

    enum class State : std::uint8_t {
        status_line,
        headers,
        body_length,
        chunk_size,
        chunk_data,
        chunk_data_end,
        trailers,
        body_close,
        done,
        error
    };

    gw_http_rc_t rc() const noexcept
    {
        return state_ == State::done ? GW_HTTP_DONE : state_ == State::error ? GW_HTTP_ERROR : GW_HTTP_AGAIN;
    }

    void fail(std::string why)
    {
        state_ = State::error;
        error_ = std::move(why);
    }

    void deliver(std::string_view piece)
    {
        if (!piece.empty() && body_ != nullptr && body_(ctx_, piece.data(), piece.size()) != 0) {
            fail("the body was refused");
        }
    }

    // Collects a line from data[i]; returns where the caller goes on.
    std::size_t take_line(std::string_view data, std::size_t i)
    {
        auto nl = data.find('\n', i);
        std::size_t end = nl == std::string_view::npos ? data.size() : nl;
        std::size_t limit = state_ == State::chunk_size || state_ == State::chunk_data_end
                                ? max_chunk_line
                                : max_header_ - std::min(head_bytes_, max_header_);
        if (line_.size() + (end - i) > limit) {
            fail(state_ == State::chunk_size ? "a chunk size line is too long" : "the response header is too long");
            return data.size();
        }
        line_.append(data.substr(i, end - i));
        if (nl == std::string_view::npos) return data.size();

        std::string_view line = line_;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.find('\r') != std::string_view::npos || line.find('\0') != std::string_view::npos) {
            fail("a bare CR or a NUL in a line");
        } else {
            if (state_ != State::chunk_size && state_ != State::chunk_data_end) head_bytes_ += line_.size() + 1;
            process(line);
        }
        line_.clear();
        return nl + 1;
    }

    void process(std::string_view line)
    {
        switch (state_) {
        case State::status_line:
            return status_line(line);
        case State::headers:
            return line.empty() ? end_of_headers() : header_line(line);
        case State::chunk_size:
            return chunk_size(line);
        case State::chunk_data_end:
            if (!line.empty()) return fail("a chunk does not end with CRLF");
            state_ = State::chunk_size;
            return;
        case State::trailers:
            if (line.empty()) {
                state_ = State::done;
            } else if (line.front() == ' ' || line.front() == '\t') {
                fail("a folded trailer line");
            }
            return;
        default:
            return;
        }
    }

    void status_line(std::string_view line)
    {
        // HTTP/1.x SP 3DIGIT [SP reason]
        if (line.size() < 12 || !line.starts_with("HTTP/1.") || (line[7] != '0' && line[7] != '1') || line[8] != ' ')
        {
            return fail("not an HTTP/1.x status line");
        }
        std::uint64_t code = 0;
        if (!decimal(line.substr(9, 3), code) || code < 100 || (line.size() > 12 && line[12] != ' ')) {
            return fail("invalid status code");
        }
        status_ = static_cast<int>(code);
        http10_ = line[7] == '0';
        headers_.clear();
        state_ = State::headers;
    }

    void header_line(std::string_view line)
    {
        if (line.front() == ' ' || line.front() == '\t') return fail("a folded header line");
        auto colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0) return fail("a header line without a name");
        std::string_view name = line.substr(0, colon);
        if (!std::all_of(name.begin(), name.end(), [](char c) { return token_char(static_cast<unsigned char>(c)); })) {
            return fail("an invalid header name");
        }
        std::string_view value = trim(line.substr(colon + 1));
        for (char c : value) {
            auto b = static_cast<unsigned char>(c);
            if ((b < 0x20 && b != '\t') || b == 0x7f) return fail("a control character in a header value");
        }
        headers_.emplace_back(std::string(name), std::string(value));
    }

    void end_of_headers()
    {
        if (status_ == 101) return fail("an unexpected protocol switch");
        if (status_ < 200) {
            // an interim response: the final one follows
            state_ = State::status_line;
            return;
        }

        keep_alive_ = !http10_ && !list_has(header_view("Connection").value_or(""), "close");
        auto te = header_view("Transfer-Encoding");

        std::uint64_t length = 0;
        bool has_length = false;
        for (const auto &[name, value] : headers_) {
            if (!same_text(name, "Content-Length")) continue;
            std::uint64_t v;
            if (!decimal(value, v)) return fail("an invalid Content-Length");
            if (has_length && v != length) return fail("differing Content-Lengths");
            length = v;
            has_length = true;
        }

        if (status_ == 204 || status_ == 304) {
            state_ = State::done;
        } else if (te) {
            if (has_length) return fail("both Transfer-Encoding and Content-Length");
            if (!same_text(*te, "chunked")) return fail("a transfer coding other than chunked");
            state_ = State::chunk_size;
        } else if (has_length) {
            remaining_ = length;
            state_ = length > 0 ? State::body_length : State::done;
        } else {
            keep_alive_ = false;
            state_ = State::body_close;
        }
    }

    void chunk_size(std::string_view line)
    {
        std::uint64_t size = 0;
        std::size_t i = 0;
        for (; i < line.size(); ++i) {
            char c = lower(line[i]);
            int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (digit < 0) break;
            if (size >> 59) return fail("a chunk size too large");
            size = size * 16 + static_cast<std::uint64_t>(digit);
        }
        std::string_view rest = trim(line.substr(i));
        if (i == 0 || (!rest.empty() && rest.front() != ';')) return fail("an invalid chunk size");
        if (size == 0) {
            state_ = State::trailers;
        } else {
            remaining_ = size;
            state_ = State::chunk_data;
        }
    }

    std::size_t max_header_;
    gw_http_body_pt body_ = nullptr;
    void *ctx_ = nullptr;
    State state_ = State::status_line;
    int status_ = 0;
    bool http10_ = false, keep_alive_ = true;
    std::size_t head_bytes_ = 0;
    std::vector<std::pair<std::string, std::string>> headers_;
    std::string line_;
    std::string error_;
    std::uint64_t remaining_ = 0;
};

} // namespace gw::http

struct gw_http_response_s {
    gw::http::Response response;
};

extern "C" {

gw_http_response_t *gw_http_response_new(size_t max_header)
{
    try {
        return new gw_http_response_s{gw::http::Response(max_header)};
    } catch (...) {
        return nullptr;
    }
}

void gw_http_response_free(gw_http_response_t *r)
{
    delete r;
}

void gw_http_response_reset(gw_http_response_t *r, gw_http_body_pt body, void *ctx)
{
    r->response.reset(body, ctx);
}

gw_http_rc_t gw_http_response_feed(gw_http_response_t *r, const char *data, size_t len, size_t *used)
{
    try {
        return r->response.feed({data, len}, *used);
    } catch (...) {
        *used = len;
        return GW_HTTP_ERROR;
    }
}

gw_http_rc_t gw_http_response_eof(gw_http_response_t *r)
{
    try {
        return r->response.eof();
    } catch (...) {
        return GW_HTTP_ERROR;
    }
}

int gw_http_response_status(const gw_http_response_t *r)
{
    return r->response.status();
}

int gw_http_response_keep_alive(const gw_http_response_t *r)
{
    return r->response.keep_alive();
}

int gw_http_response_has_headers(const gw_http_response_t *r)
{
    return r->response.has_headers();
}

const char *gw_http_response_header(const gw_http_response_t *r, const char *name, size_t *len)
{
    std::size_t n = 0;
    const char *v = r->response.header(name, n);
    *len = n;
    return v;
}

const char *gw_http_response_error(const gw_http_response_t *r)
{
    return r->response.error();
}

}
