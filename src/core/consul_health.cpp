// The /v1/health/service/:service reply, read as it arrives.
//
// A reply is a JSON array with one object per service instance, and a
// catalog can make it megabytes long. The reader never holds the whole of
// it: a small scanner follows the array's punctuation (outside strings) to
// find where each entry ends, and each entry alone goes through the strict
// parser (gw::json) into an arena that is emptied before the next. So the
// memory used is one entry (max_entry bytes at most) plus the peer set
// (twice max_peers peers at most, see PeerSet), and the reply as a whole
// is still checked strictly: the scanner takes nothing but whitespace,
// brackets and commas between entries, and every entry must parse alone.

#include <cstdio>
#include <memory>
#include <memory_resource>
#include <new>
#include <string>

#include "consul.hpp"
#include "json.hpp"

namespace gw::consul {

namespace {

// Connect proxies carry free-form configuration, so entries may nest
// deeper than JWT claims do.
constexpr std::size_t entry_depth = 64;

bool json_ws(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

const json::Value *member(const json::Value *object, std::string_view key) noexcept
{
    return object != nullptr ? object->find(key) : nullptr;
}

bool has_text(const json::Value *v) noexcept { return v != nullptr && v->is_string() && !v->text().empty(); }

} // namespace

class Reader {
public:
    explicit Reader(const gw_consul_limits_t &limits)
        : max_entry_(limits.max_entry ? limits.max_entry : GW_CONSUL_DEFAULT_MAX_ENTRY),
          peers_(limits.max_peers ? limits.max_peers : GW_CONSUL_DEFAULT_MAX_PEERS),
          arena_(arena_buf_.get(), arena_size)
    {
    }

    void reset() noexcept
    {
        state_ = State::before_array;
        status_ = GW_CONSUL_OK;
        offset_ = 0;
        entry_.clear();
        depth_ = 0;
        in_string_ = escaped_ = false;
        entries_ = skipped_ = names_ = 0;
        skip_reason_ = nullptr;
        error_.clear();
        peers_.clear();
    }

    gw_consul_status_t feed(std::string_view data)
    {
        std::size_t i = 0;
        while (status_ == GW_CONSUL_OK && i < data.size()) {
            if (state_ == State::in_entry) {
                i = scan_entry(data, i);
                continue;
            }
            char c = data[i];
            if (!json_ws(c)) step(c);
            ++i;
            ++offset_;
        }
        return status_;
    }

    gw_consul_status_t finish(gw_consul_result_t &result)
    {
        result = gw_consul_result_t{};
        if (status_ == GW_CONSUL_OK && state_ != State::after_array) {
            fail(GW_CONSUL_TRUNCATED, "the reply ends before its array does");
        }
        if (status_ != GW_CONSUL_OK) return status_;
        const auto &set = peers_.finish();
        names_ = 0;
        for (const auto &p : set) names_ += p.kind == GW_CONSUL_NAME;
        result.peers = set.data();
        result.npeers = set.size();
        result.entries = entries_;
        result.skipped = skipped_;
        result.names = names_;
        result.truncated = peers_.truncated();
        result.skip_reason = skip_reason_;
        return GW_CONSUL_OK;
    }

    const char *error() const noexcept { return error_.c_str(); }

private:
    enum class State : std::uint8_t { before_array, first_entry, in_entry, after_entry, next_entry, after_array };

    static constexpr std::size_t arena_size = 64 * 1024;

    // One byte outside entries (not whitespace).
    void step(char c)
    {
        switch (state_) {
        case State::before_array:
            if (c != '[') return fail(GW_CONSUL_SYNTAX, "the reply is not a JSON array");
            state_ = State::first_entry;
            return;
        case State::first_entry:
            if (c == ']') {
                state_ = State::after_array;
                return;
            }
            [[fallthrough]];
        case State::next_entry:
            if (c != '{') return fail(GW_CONSUL_SYNTAX, "an entry of the array is not an object");
            state_ = State::in_entry;
            entry_start_ = offset_;
            entry_.assign(1, '{');
            depth_ = 1;
            return;
        case State::after_entry:
            if (c == ',') {
                state_ = State::next_entry;
            } else if (c == ']') {
                state_ = State::after_array;
            } else {
                fail(GW_CONSUL_SYNTAX, "expected ',' or ']' after an entry");
            }
            return;
        case State::after_array:
            return fail(GW_CONSUL_SYNTAX, "data after the array");
        case State::in_entry:
            return;
        }
    }

    // Copies bytes of the current entry from data[i], following strings and
    // nesting to find its closing brace; returns where it stopped.
    std::size_t scan_entry(std::string_view data, std::size_t i)
    {
        std::size_t start = i;
        bool done = false;
        for (; i < data.size(); ++i) {
            char c = data[i];
            if (in_string_) {
                if (escaped_) {
                    escaped_ = false;
                } else if (c == '\\') {
                    escaped_ = true;
                } else if (c == '"') {
                    in_string_ = false;
                }
            } else if (c == '"') {
                in_string_ = true;
            } else if (c == '{' || c == '[') {
                ++depth_;
            } else if (c == '}' || c == ']') {
                if (--depth_ == 0) {
                    ++i;
                    done = true;
                    break;
                }
            }
        }
        std::size_t n = i - start;
        offset_ += n;
        if (entry_.size() + n > max_entry_) {
            fail(GW_CONSUL_ENTRY_TOO_LARGE, "entry " + std::to_string(entries_ + 1) + " is longer than "
                                                + std::to_string(max_entry_) + " bytes");
            return data.size();
        }
        entry_.append(data.substr(start, n));
        if (done) {
            state_ = State::after_entry;
            entry();
        }
        return i;
    }

    // A complete entry: parsed strictly, then read.
    void entry()
    {
        ++entries_;
        json::Limits limits;
        limits.max_size = max_entry_;
        limits.max_depth = entry_depth;
        {
            auto parsed = json::parse(entry_, limits, &arena_);
            if (!parsed) {
                offset_ = entry_start_ + parsed.offset;
                fail(GW_CONSUL_BAD_ENTRY,
                     "entry " + std::to_string(entries_) + ": " + json::error_text(parsed.error));
            } else if (const char *why = use(parsed.value)) {
                ++skipped_;
                if (skip_reason_ == nullptr) skip_reason_ = why;
            }
        }
        arena_.release();
        entry_.clear();
    }

    // Adds the entry's peer; nullptr, or why it is not used.
    const char *use(const json::Value &e)
    {
        const json::Value *service = e.find("Service");
        if (service == nullptr || !service->is_object()) return "an entry has no Service";

        // ?passing=true filters on the server; an entry that still shows a
        // check not passing (a proxy, an old agent) is left out here too
        if (const json::Value *checks = e.find("Checks"); checks != nullptr && !checks->is_null()) {
            if (!checks->is_array()) return "an entry's Checks is not an array";
            for (const auto &check : checks->items()) {
                const json::Value *status = member(&check, "Status");
                if (status == nullptr || !status->is_string() || status->text() != "passing") {
                    return "an entry has a check that is not passing";
                }
            }
        }

        const json::Value *address = service->find("Address");
        if (!has_text(address)) address = member(e.find("Node"), "Address");
        if (!has_text(address)) return "an entry has neither Service.Address nor Node.Address";

        const json::Value *port = service->find("Port");
        auto port_number = port != nullptr ? port->as_uint64() : std::nullopt;
        if (!port_number) return "an entry has no valid Service.Port";

        std::uint32_t weight = 1;
        if (const json::Value *passing = member(service->find("Weights"), "Passing");
            passing != nullptr && !passing->is_null())
        {
            auto w = passing->as_uint64();
            if (!w || *w > UINT32_MAX) return "an entry's Service.Weights.Passing is not a valid weight";
            weight = static_cast<std::uint32_t>(*w);
        }

        Peer peer;
        if (const char *why = make_peer(address->text(), *port_number, weight, peer)) return why;
        peers_.add(peer);
        return nullptr;
    }

    void fail(gw_consul_status_t status, std::string what)
    {
        status_ = status;
        error_ = "byte " + std::to_string(offset_) + " of the reply: " + what;
    }

    std::size_t max_entry_;
    PeerSet peers_;
    std::unique_ptr<std::byte[]> arena_buf_ = std::make_unique<std::byte[]>(arena_size);
    std::pmr::monotonic_buffer_resource arena_;

    State state_ = State::before_array;
    gw_consul_status_t status_ = GW_CONSUL_OK;
    std::size_t offset_ = 0;            // bytes of the body taken so far
    std::size_t entry_start_ = 0;
    std::string entry_;
    std::size_t depth_ = 0;
    bool in_string_ = false, escaped_ = false;
    std::size_t entries_ = 0, skipped_ = 0, names_ = 0;
    const char *skip_reason_ = nullptr;
    std::string error_;
};

} // namespace gw::consul

struct gw_consul_reader_s {
    gw::consul::Reader reader;
};

extern "C" {

gw_consul_reader_t *gw_consul_reader_new(const gw_consul_limits_t *limits)
{
    try {
        return new gw_consul_reader_s{gw::consul::Reader(limits ? *limits : gw_consul_limits_t{})};
    } catch (...) {
        return nullptr;
    }
}

void gw_consul_reader_free(gw_consul_reader_t *reader)
{
    delete reader;
}

void gw_consul_reader_reset(gw_consul_reader_t *reader)
{
    reader->reader.reset();
}

gw_consul_status_t gw_consul_reader_feed(gw_consul_reader_t *reader, const char *data, size_t len)
{
    try {
        return reader->reader.feed({data, len});
    } catch (...) {
        return GW_CONSUL_NO_MEMORY;
    }
}

gw_consul_status_t gw_consul_reader_finish(gw_consul_reader_t *reader, gw_consul_result_t *result)
{
    try {
        return reader->reader.finish(*result);
    } catch (...) {
        *result = gw_consul_result_t{};
        return GW_CONSUL_NO_MEMORY;
    }
}

const char *gw_consul_reader_error(const gw_consul_reader_t *reader)
{
    return reader->reader.error();
}

const char *gw_consul_status_text(gw_consul_status_t status)
{
    switch (status) {
    case GW_CONSUL_OK: return "ok";
    case GW_CONSUL_SYNTAX: return "not a JSON array of objects";
    case GW_CONSUL_BAD_ENTRY: return "invalid JSON";
    case GW_CONSUL_ENTRY_TOO_LARGE: return "entry too large";
    case GW_CONSUL_TRUNCATED: return "truncated reply";
    case GW_CONSUL_BAD_DUMP: return "invalid dump file";
    case GW_CONSUL_NO_MEMORY: return "out of memory";
    }
    return "unknown error";
}

}
