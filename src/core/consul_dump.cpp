// The dump file: the last good peer set of a service, kept across restarts
// and Consul outages. A small line format, read back strictly:
//
//   # comment lines and blank lines are ignored
//   gateway_consul_dump 1
//   service web
//   index 1234
//   peer 10.0.0.1:8080 10
//   peer [2001:db8::1]:8080 1
//   peer api.internal:8080 0
//   end 3
//
// "end" with the number of peers guards against a file cut short (the
// writer renames a complete file into place, but files get copied and
// edited by hand).

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <string>

#include "consul.hpp"

namespace gw::consul {

namespace {

constexpr std::string_view magic = "gateway_consul_dump 1";

template <typename T>
bool number(std::string_view s, T &out) noexcept
{
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return !s.empty() && s.front() != '-' && ec == std::errc{} && end == s.data() + s.size()
           && (s.size() == 1 || s.front() != '0');
}

// "keyword rest": the rest after one space, when the line starts so.
bool keyword(std::string_view line, std::string_view word, std::string_view &rest) noexcept
{
    if (line.size() <= word.size() || !line.starts_with(word) || line[word.size()] != ' ') return false;
    rest = line.substr(word.size() + 1);
    return true;
}

class DumpReader {
public:
    DumpReader(std::string_view service, std::size_t cap) : service_(service), set_(cap) {}

    // nullptr, or why the dump is not usable (err_line_ says where)
    const char *read(std::string_view text)
    {
        std::size_t pos = 0;
        while (pos < text.size()) {
            std::size_t nl = text.find('\n', pos);
            std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
            pos = nl == std::string_view::npos ? text.size() : nl + 1;
            ++line_no_;
            if (line.empty() || line.front() == '#') continue;
            if (const char *why = take(line)) return why;
        }
        if (step_ != Step::done) {
            ++line_no_;
            return "the file ends before its \"end\" line";
        }
        return nullptr;
    }

    std::size_t line() const noexcept { return line_no_; }
    std::uint64_t index() const noexcept { return index_; }
    PeerSet &set() noexcept { return set_; }

private:
    enum class Step : std::uint8_t { magic, service, index, peers, done };

    const char *take(std::string_view line)
    {
        std::string_view rest;
        switch (step_) {
        case Step::magic:
            if (line != magic) {
                std::uint32_t version;
                return keyword(line, "gateway_consul_dump", rest) && number(rest, version)
                           ? "unsupported version"
                           : "not a gateway_consul dump";
            }
            step_ = Step::service;
            return nullptr;
        case Step::service:
            if (!keyword(line, "service", rest)) return "expected \"service NAME\"";
            if (rest != service_) return "the dump is of another service";
            step_ = Step::index;
            return nullptr;
        case Step::index:
            if (!keyword(line, "index", rest) || !number(rest, index_)) return "expected \"index N\"";
            step_ = Step::peers;
            return nullptr;
        case Step::peers:
            if (keyword(line, "end", rest)) {
                std::size_t count = 0;
                if (!number(rest, count)) return "expected \"end N\"";
                if (count != lines_) return "the number of peers does not match \"end\"";
                step_ = Step::done;
                return nullptr;
            }
            return peer(line);
        case Step::done:
            return "data after the \"end\" line";
        }
        return "invalid line";
    }

    const char *peer(std::string_view line)
    {
        std::string_view rest;
        if (!keyword(line, "peer", rest)) return "expected \"peer ADDRESS WEIGHT\" or \"end N\"";
        auto space = rest.find(' ');
        std::uint32_t weight = 0;
        if (space == std::string_view::npos || !number(rest.substr(space + 1), weight)) {
            return "expected \"peer ADDRESS WEIGHT\"";
        }
        Peer p;
        if (const char *why = parse_peer(rest.substr(0, space), weight, p)) return why;
        set_.add(p);
        ++lines_;
        return nullptr;
    }

    std::string_view service_;
    PeerSet set_;
    Step step_ = Step::magic;
    std::size_t line_no_ = 0, lines_ = 0;
    std::uint64_t index_ = 0;
};

std::string write(std::string_view service, std::uint64_t index, const Peer *peers, std::size_t n)
{
    std::string out = "# the last good peer set of a gateway_consul service, written by ngx_http_gateway_module\n";
    out += magic;
    out += "\nservice ";
    out += service;
    out += "\nindex " + std::to_string(index) + '\n';
    char text[GW_CONSUL_PEER_TEXT_MAX];
    for (std::size_t i = 0; i < n; ++i) {
        std::size_t len = gw_consul_peer_format(&peers[i], text, sizeof(text));
        out += "peer ";
        out.append(text, len);
        out += ' ' + std::to_string(peers[i].weight) + '\n';
    }
    out += "end " + std::to_string(n) + '\n';
    return out;
}

void set_error(char *err, std::size_t errlen, std::size_t line, const char *why) noexcept
{
    if (err != nullptr && errlen > 0) std::snprintf(err, errlen, "line %zu: %s", line, why);
}

} // namespace

} // namespace gw::consul

extern "C" {

size_t gw_consul_dump_size(size_t service_len, size_t npeers)
{
    // the comment and fixed lines, then "peer " ADDRESS " " WEIGHT "\n"
    return 256 + service_len + npeers * (5 + GW_CONSUL_PEER_TEXT_MAX + 12);
}

size_t gw_consul_dump_write(const char *service, size_t service_len, uint64_t index, const gw_consul_peer_t *peers,
                            size_t npeers, char *out, size_t cap)
{
    if (!gw::consul::visible_ascii({service, service_len}, GW_CONSUL_NAME_MAX)) return 0;
    try {
        std::string text = gw::consul::write({service, service_len}, index, peers, npeers);
        if (text.size() > cap) return 0;
        text.copy(out, text.size());
        return text.size();
    } catch (...) {
        return 0;
    }
}

gw_consul_status_t gw_consul_dump_read(const char *text, size_t len, const char *service, size_t service_len,
                                       gw_consul_peer_t *peers, size_t cap, size_t *npeers, unsigned *truncated,
                                       uint64_t *index, char *err, size_t errlen)
{
    *npeers = 0;
    *truncated = 0;
    *index = 0;
    if (cap == 0) {
        gw::consul::set_error(err, errlen, 0, "no room for peers");
        return GW_CONSUL_BAD_DUMP;
    }
    try {
        gw::consul::DumpReader reader({service, service_len}, cap);
        if (const char *why = reader.read({text, len})) {
            gw::consul::set_error(err, errlen, reader.line(), why);
            return GW_CONSUL_BAD_DUMP;
        }
        const auto &set = reader.set().finish();
        std::copy(set.begin(), set.end(), peers);
        *npeers = set.size();
        *truncated = reader.set().truncated();
        *index = reader.index();
        return GW_CONSUL_OK;
    } catch (...) {
        gw::consul::set_error(err, errlen, 0, "out of memory");
        return GW_CONSUL_NO_MEMORY;
    }
}

}
