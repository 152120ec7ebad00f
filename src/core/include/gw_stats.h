/*
 * The arithmetic of the stats registry's histograms: observations are
 * integers in a family's unit (microseconds, say), bucket bounds are given
 * in the rendered unit (seconds) and converted once; a value falls in the
 * first bucket whose bound it does not exceed ("le"), or above them all.
 */
#ifndef GW_STATS_H
#define GW_STATS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Prometheus's usual buckets, in seconds. */
#define GW_STATS_DEFAULT_BUCKETS  11
extern const double gw_stats_default_buckets[GW_STATS_DEFAULT_BUCKETS];

/*
 * The bucket of value among n ascending bounds: the first bound it does
 * not exceed, or n when it exceeds them all.
 */
size_t gw_stats_bucket(const uint64_t *bounds, size_t n, uint64_t value);

/*
 * Bounds (finite, at least 0, ascending) as whole units of unit, into out;
 * 0 on success, -1 when a bound is out of range or two bounds round to the
 * same unit (a unit too coarse for them).
 */
int gw_stats_bounds(const double *bounds, size_t n, double unit,
                    uint64_t *out);

#ifdef __cplusplus
}
#endif

#endif
