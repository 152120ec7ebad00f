// Prometheus text exposition format 0.0.4 (see gw_prometheus.h).
//
// Escaping follows the format: in label values a backslash, a double quote
// and a line feed are escaped; in HELP text a backslash and a line feed.
// Bytes that start no valid UTF-8 character become U+FFFD, since
// Prometheus rejects label values that are not UTF-8.

#include "gw_prometheus.h"

#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <span>
#include <string_view>
#include <type_traits>

#include "sink.hpp"
#include "escape.hpp"

namespace gw::prometheus {

namespace {

static_assert(std::is_trivially_copyable_v<gw_prom_writer_t>);

std::string_view view(gw_metric_str_t s) noexcept
{
    return s.len ? std::string_view(s.data, s.len) : std::string_view();
}

bool name_start(char c, bool colon) noexcept
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
}

bool name_char(char c, bool colon) noexcept
{
    return name_start(c, colon) || (c >= '0' && c <= '9');
}

// [a-zA-Z_:][a-zA-Z0-9_:]* for metric names, the same without ':' for labels
bool valid_name(std::string_view s, bool colon) noexcept
{
    if (s.empty() || !name_start(s[0], colon)) return false;
    for (char c : s.substr(1)) {
        if (!name_char(c, colon)) return false;
    }
    return true;
}

gw_metric_check_t check_labels(const gw_metric_family_t &f) noexcept
{
    if (f.nlabels > GW_METRIC_MAX_LABELS) return GW_METRIC_TOO_MANY_LABELS;
    if (f.nlabels && f.labels == nullptr) return GW_METRIC_BAD_LABEL;
    for (std::size_t i = 0; i < f.nlabels; ++i) {
        std::string_view label = view(f.labels[i]);
        if (!valid_name(label, false) || label.starts_with("__")) return GW_METRIC_BAD_LABEL;
        if (f.type == GW_METRIC_HISTOGRAM && label == "le") return GW_METRIC_RESERVED_LABEL;
        for (std::size_t j = 0; j < i; ++j) {
            if (view(f.labels[j]) == label) return GW_METRIC_DUPLICATE_LABEL;
        }
    }
    return GW_METRIC_OK;
}

gw_metric_check_t check_bounds(const gw_metric_family_t &f) noexcept
{
    if (f.nbounds > GW_METRIC_MAX_BOUNDS || (f.nbounds && f.bounds == nullptr)) {
        return GW_METRIC_BAD_BOUNDS;
    }
    for (std::size_t i = 0; i < f.nbounds; ++i) {
        if (!std::isfinite(f.bounds[i]) || (i && f.bounds[i] <= f.bounds[i - 1])) {
            return GW_METRIC_BAD_BOUNDS;
        }
    }
    return GW_METRIC_OK;
}

gw_metric_check_t check(const gw_metric_family_t &f) noexcept
{
    std::string_view name = view(f.name);
    if (!valid_name(name, true)) return GW_METRIC_BAD_NAME;

    switch (f.type) {
    case GW_METRIC_COUNTER:
        if (!name.ends_with("_total") || name.size() == 6) return GW_METRIC_BAD_SUFFIX;
        break;
    case GW_METRIC_GAUGE:
        break;
    case GW_METRIC_HISTOGRAM:
        for (std::string_view suffix : {"_total", "_bucket", "_count", "_sum"}) {
            if (name.ends_with(suffix)) return GW_METRIC_BAD_SUFFIX;
        }
        if (auto c = check_bounds(f); c != GW_METRIC_OK) return c;
        break;
    default:
        return GW_METRIC_BAD_TYPE;
    }
    return check_labels(f);
}

void write_label_value(Out &out, std::string_view s) noexcept
{
    write_escaped(
        out, s, [](unsigned char b) { return b == '\\' || b == '"' || b == '\n'; },
        [](Out &o, char c) { o.write(c == '\n' ? "\\n" : c == '"' ? "\\\"" : "\\\\"); });
}

void write_help(Out &out, std::string_view s) noexcept
{
    write_escaped(
        out, s, [](unsigned char b) { return b == '\\' || b == '\n'; },
        [](Out &o, char c) { o.write(c == '\n' ? "\\n" : "\\\\"); });
}

void write_value(Out &out, double v) noexcept
{
    if (std::isnan(v)) {
        out.write("NaN");
    } else if (std::isinf(v)) {
        out.write(v > 0 ? "+Inf" : "-Inf");
    } else {
        out.number(v);
    }
}

std::string_view type_name(std::uint32_t type) noexcept
{
    switch (type) {
    case GW_METRIC_COUNTER: return "counter";
    case GW_METRIC_GAUGE: return "gauge";
    case GW_METRIC_HISTOGRAM: return "histogram";
    }
    return "untyped";
}

class Writer {
public:
    Writer(gw_prom_writer_t &w, const gw_metric_family_t &f) noexcept
        : w_(w), f_(f), out_(*w.sink), name_(view(f.name))
    {
    }

    void series(const gw_metric_series_t &s) noexcept
    {
        if (w_.family != &f_) {
            header();
            w_.family = &f_;
        }
        if (f_.type != GW_METRIC_HISTOGRAM) {
            sample({}, s, {}, [&] { write_value(out_, s.value); });
            return;
        }
        // cumulative counts; +Inf and _count are the same total
        std::uint64_t total = 0;
        for (std::size_t i = 0; i < f_.nbounds; ++i) {
            total += s.buckets[i];
            sample("_bucket", s, {w_.le[i], w_.le_len[i]}, [&] { out_.integer(total); });
        }
        total += s.buckets[f_.nbounds];
        sample("_bucket", s, "+Inf", [&] { out_.integer(total); });
        sample("_sum", s, {}, [&] { write_value(out_, s.sum); });
        sample("_count", s, {}, [&] { out_.integer(total); });
    }

private:
    void header() noexcept
    {
        out_.write("# HELP ");
        out_.write(name_);
        if (f_.help.len) {
            out_.put(' ');
            write_help(out_, view(f_.help));
        }
        out_.write("\n# TYPE ");
        out_.write(name_);
        out_.put(' ');
        out_.write(type_name(f_.type));
        out_.put('\n');

        for (std::size_t i = 0; f_.type == GW_METRIC_HISTOGRAM && i < f_.nbounds; ++i) {
            auto r = std::to_chars(w_.le[i], w_.le[i] + GW_METRIC_BOUND_TEXT, f_.bounds[i]);
            w_.le_len[i] = static_cast<unsigned char>(r.ptr - w_.le[i]);
        }
    }

    // name[suffix]{labels[,le="le"]} value
    template <class Value>
    void sample(std::string_view suffix, const gw_metric_series_t &s, std::string_view le,
                Value value) noexcept
    {
        out_.write(name_);
        out_.write(suffix);
        if (f_.nlabels || !le.empty()) {
            char sep = '{';
            for (std::size_t i = 0; i < f_.nlabels; ++i) {
                out_.put(sep);
                out_.write(view(f_.labels[i]));
                out_.write("=\"");
                write_label_value(out_, view(s.values[i]));
                out_.put('"');
                sep = ',';
            }
            if (!le.empty()) {
                out_.put(sep);
                out_.write("le=\"");
                out_.write(le);
                out_.put('"');
            }
            out_.put('}');
        }
        out_.put(' ');
        value();
        out_.put('\n');
    }

    gw_prom_writer_t &w_;
    const gw_metric_family_t &f_;
    Out out_;
    std::string_view name_;
};

} // namespace

} // namespace gw::prometheus

extern "C" {

gw_metric_check_t gw_metric_family_check(const gw_metric_family_t *family)
{
    return family ? gw::prometheus::check(*family) : GW_METRIC_BAD_NAME;
}

const char *gw_metric_check_text(gw_metric_check_t check)
{
    switch (check) {
    case GW_METRIC_OK: return "ok";
    case GW_METRIC_BAD_NAME: return "invalid metric name";
    case GW_METRIC_BAD_SUFFIX: return "a counter's name must end in _total, a histogram's must not end in "
                                      "_total, _bucket, _count or _sum";
    case GW_METRIC_BAD_LABEL: return "invalid label name";
    case GW_METRIC_DUPLICATE_LABEL: return "duplicate label name";
    case GW_METRIC_RESERVED_LABEL: return "the label \"le\" is reserved for histogram buckets";
    case GW_METRIC_TOO_MANY_LABELS: return "too many labels";
    case GW_METRIC_BAD_BOUNDS: return "histogram bounds must be finite and ascending";
    case GW_METRIC_BAD_TYPE: return "unknown metric type";
    }
    return "unknown error";
}

int gw_metric_parse_bound(const char *text, size_t len, double *bound)
{
    double v;
    if (text == nullptr || len == 0 || bound == nullptr) return -1;
    auto r = std::from_chars(text, text + len, v);
    if (r.ec != std::errc() || r.ptr != text + len || !std::isfinite(v)) return -1;
    *bound = v;
    return 0;
}

void gw_prom_write_series(gw_prom_writer_t *writer, const gw_metric_family_t *family,
                          const gw_metric_series_t *series)
{
    if (writer == nullptr || writer->sink == nullptr || family == nullptr || series == nullptr) return;
    gw::prometheus::Writer(*writer, *family).series(*series);
}

} // extern "C"

size_t gw_prom_series_samples(const gw_metric_family_t *family)
{
    if (family == nullptr) return 0;
    return family->type == GW_METRIC_HISTOGRAM ? family->nbounds + 4 : 1;
}

size_t gw_prom_write_part(gw_prom_writer_t *writer, const gw_metric_family_t *family,
                          const gw_metric_series_t *series, size_t n, size_t from,
                          size_t max_samples)
{
    if (writer == nullptr || writer->sink == nullptr || family == nullptr
        || (n && series == nullptr)) {
        return n;
    }

    gw::prometheus::Writer w(*writer, *family);
    const std::size_t per_series = gw_prom_series_samples(family);
    std::size_t samples = 0;
    std::size_t i = from;

    while (i < n && (i == from || samples < max_samples) && !writer->sink->failed) {
        w.series(series[i++]);
        samples += per_series;
    }

    return writer->sink->failed ? n : i;
}
