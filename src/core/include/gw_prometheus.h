/*
 * Prometheus text exposition format 0.0.4, written from a plain
 * description of metric families and their series.
 *
 * The caller walks its registry family by family and series by series;
 * each family's HELP and TYPE lines come once, just before its first
 * series, so a family without series renders nothing. Counters and gauges
 * are one sample; a histogram's bucket counts are given per bucket and
 * written cumulatively, with +Inf and _count both the total of the same
 * counts (equal even when the counts were read while still changing).
 */
#ifndef GW_PROMETHEUS_H
#define GW_PROMETHEUS_H

#include <stddef.h>
#include <stdint.h>

#include "gw_sink.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    GW_METRIC_COUNTER = 0,
    GW_METRIC_GAUGE = 1,
    GW_METRIC_HISTOGRAM = 2
} gw_metric_type_t;

typedef struct {
    const char  *data;
    size_t       len;
} gw_metric_str_t;

/* Most labels and histogram bounds a family may have. */
#define GW_METRIC_MAX_LABELS   8
#define GW_METRIC_MAX_BOUNDS   32

typedef struct {
    gw_metric_str_t         name;       /* counters end in _total */
    gw_metric_str_t         help;
    uint32_t                type;       /* gw_metric_type_t */
    size_t                  nlabels;
    const gw_metric_str_t  *labels;     /* label names */
    size_t                  nbounds;
    const double           *bounds;     /* histogram bucket upper bounds:
                                           finite, ascending; +Inf implied */
} gw_metric_family_t;

typedef struct {
    const gw_metric_str_t  *values;     /* one per label name; any bytes */
    double                  value;      /* counter or gauge */
    const uint64_t         *buckets;    /* histogram: nbounds + 1 counts, the
                                           observations in each bucket alone,
                                           the last above every bound */
    double                  sum;        /* histogram: sum of observations */
} gw_metric_series_t;

typedef enum {
    GW_METRIC_OK = 0,
    GW_METRIC_BAD_NAME,          /* not [a-zA-Z_:][a-zA-Z0-9_:]* */
    GW_METRIC_BAD_SUFFIX,        /* counter without _total, histogram with
                                    _total, _bucket, _count or _sum */
    GW_METRIC_BAD_LABEL,         /* not [a-zA-Z_][a-zA-Z0-9_]*, or __ first */
    GW_METRIC_DUPLICATE_LABEL,
    GW_METRIC_RESERVED_LABEL,    /* "le" on a histogram */
    GW_METRIC_TOO_MANY_LABELS,
    GW_METRIC_BAD_BOUNDS,        /* not finite, not ascending, too many */
    GW_METRIC_BAD_TYPE
} gw_metric_check_t;

/* Whether a family can be rendered as declared (registration time). */
gw_metric_check_t gw_metric_family_check(const gw_metric_family_t *family);

const char *gw_metric_check_text(gw_metric_check_t check);

/* Parses and checks bucket bounds such as "0.005" (registration time). */
int gw_metric_parse_bound(const char *text, size_t len, double *bound);

/* Longest text of a bound ("-2.2250738585072014e-308" and the like). */
#define GW_METRIC_BOUND_TEXT   32

typedef struct {
    gw_sink_t                 *sink;
    const gw_metric_family_t  *family;  /* whose HELP and TYPE were last
                                           written; NULL to start */
    /* the family's bounds as le="..." text, made once per family */
    unsigned char              le_len[GW_METRIC_MAX_BOUNDS];
    char                       le[GW_METRIC_MAX_BOUNDS][GW_METRIC_BOUND_TEXT];
} gw_prom_writer_t;

/*
 * Writes one series of a family that passed gw_metric_family_check; the
 * series of a family must come one after another.
 */
void gw_prom_write_series(gw_prom_writer_t *writer,
                          const gw_metric_family_t *family,
                          const gw_metric_series_t *series);

/* Sample lines a series of the family takes (a histogram's: bounds + 4). */
size_t gw_prom_series_samples(const gw_metric_family_t *family);

/*
 * Writes a family's series from index from on, in order, until the series
 * written hold at least max_samples sample lines (a series is never cut,
 * and at least one is written when any is left); returns the index of the
 * next series to write, n when the family is done. A scrape written this
 * way, part by part, is the same text as one written series by series.
 */
size_t gw_prom_write_part(gw_prom_writer_t *writer,
                          const gw_metric_family_t *family,
                          const gw_metric_series_t *series, size_t n,
                          size_t from, size_t max_samples);

#ifdef __cplusplus
}
#endif

#endif
