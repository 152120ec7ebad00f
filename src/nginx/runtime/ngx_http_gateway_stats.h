/*
 * The stats registry: what the gateway's features count, for the metrics
 * and status renderers.
 *
 * At configuration time a feature declares a family (name, help, type,
 * label names, and "dimensions": labels whose few values are known in
 * advance, such as an HTTP method or a result) and its series (one per
 * tuple of the other labels' values, such as a route or a zone), and gets
 * a handle. Every series holds one value cell per combination of the
 * dimensions' values, in the zone "gateway_stats"; on the request path a
 * feature updates a cell of its handle with an atomic add, without a lock
 * and without looking anything up.
 *
 * Series are kept across reloads by family and label values (counters go
 * on counting); those a new configuration no longer declares are removed.
 * A full zone counts the series it could not hold (read with
 * ngx_http_gateway_stats_dropped()) and logs it once per interval: their
 * handles count nothing. Series can also be added and removed at run time
 * (peers that come and go); families may be collected at read time from
 * state their feature keeps anyway.
 */

#ifndef _NGX_HTTP_GATEWAY_STATS_H_INCLUDED_
#define _NGX_HTTP_GATEWAY_STATS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "gw_json_writer.h"
#include "gw_prometheus.h"
#include "gw_stats.h"


typedef struct ngx_http_gateway_stats_s         ngx_http_gateway_stats_t;
typedef struct ngx_http_gateway_stats_family_s  ngx_http_gateway_stats_family_t;
typedef struct ngx_http_gateway_stats_emit_s    ngx_http_gateway_stats_emit_t;
typedef struct ngx_http_gateway_stats_copy_s    ngx_http_gateway_stats_copy_t;


/* A label whose values are known in advance: a value cell each. */
typedef struct {
    ngx_str_t                          name;
    ngx_str_t                         *values;   /* ngx_null_string ends */
} ngx_http_gateway_stats_dim_t;


/* A collector emits its family's series when the registry is read. */
typedef void (*ngx_http_gateway_stats_collect_pt)(
    ngx_http_gateway_stats_emit_t *emit, void *data);


typedef struct {
    ngx_str_t                          name;     /* counters end in _total */
    ngx_str_t                          help;
    ngx_uint_t                         type;     /* GW_METRIC_COUNTER, ... */
    ngx_str_t                         *labels;   /* per series; NULL or
                                                    ngx_null_string ends */
    ngx_http_gateway_stats_dim_t      *dims;     /* NULL or name.len 0 ends */
    double                             unit;     /* histograms: what 1 is in
                                                    the bounds' unit (1e-6:
                                                    microseconds of seconds) */
    ngx_http_gateway_stats_collect_pt  collect;  /* instead of series */
    void                              *data;
} ngx_http_gateway_stats_def_t;


/*
 * A series handle: its cells, and a histogram's bounds in observation
 * units. It may be copied anywhere, shared memory included.
 */
typedef struct {
    ngx_atomic_uint_t                 *values;   /* NULL: not counted */
    uint64_t                          *bounds;   /* in the zone */
    ngx_uint_t                         nbounds;  /* 0: not a histogram */
    void                              *series;   /* the registry's record */
} ngx_http_gateway_stat_t;


/* --- configuration time ------------------------------------------------ */

/*
 * Declares a family, or returns the one of that name and shape; NULL on
 * error, logged (a name or label Prometheus would refuse, or the name
 * declared with another shape).
 */
ngx_http_gateway_stats_family_t *ngx_http_gateway_stats_family(
    ngx_conf_t *cf, ngx_http_gateway_stats_def_t *def);

/* A collector's data of this configuration (instead of def->data). */
void ngx_http_gateway_stats_collect_data(
    ngx_http_gateway_stats_family_t *family, void *data);

/*
 * The series of these label values (one per label name, in order; NULL
 * for none), counted from the start of the configuration's workers.
 */
ngx_http_gateway_stat_t *ngx_http_gateway_stats_series(ngx_conf_t *cf,
    ngx_http_gateway_stats_family_t *family, ngx_str_t *labels);

/* Histogram bounds of every family (default: Prometheus's usual set). */
ngx_int_t ngx_http_gateway_stats_set_buckets(ngx_conf_t *cf, double *bounds,
    ngx_uint_t n);

/* The zone's size (default 1m). */
void ngx_http_gateway_stats_set_size(ngx_conf_t *cf, size_t size);


/* --- run time, any worker ---------------------------------------------- */

/* Adds a series now (a new peer); NGX_DECLINED: the zone is full. */
ngx_int_t ngx_http_gateway_stats_series_add(
    ngx_http_gateway_stats_family_t *family, ngx_str_t *labels,
    ngx_http_gateway_stat_t *stat);

/* Removes a series added at run time; nobody may update it any more. */
void ngx_http_gateway_stats_series_remove(ngx_http_gateway_stat_t *stat);


/* --- the request path --------------------------------------------------- */

/* A cell's index from the dimensions' value indexes, first dimension first */
#define ngx_http_gateway_stats_cell2(i, n2, j)  ((i) * (n2) + (j))


static ngx_inline void
ngx_http_gateway_stats_add(ngx_http_gateway_stat_t *stat, ngx_uint_t cell,
    ngx_atomic_int_t delta)
{
    if (stat && stat->values) {
        (void) ngx_atomic_fetch_add(&stat->values[cell], delta);
    }
}


/* gauges */
static ngx_inline void
ngx_http_gateway_stats_set(ngx_http_gateway_stat_t *stat, ngx_uint_t cell,
    ngx_atomic_uint_t value)
{
    if (stat && stat->values) {
        stat->values[cell] = value;
    }
}


/* histograms: value in the family's unit */
static ngx_inline void
ngx_http_gateway_stats_observe(ngx_http_gateway_stat_t *stat, ngx_uint_t cell,
    uint64_t value)
{
    ngx_atomic_uint_t  *v;

    if (stat && stat->values) {
        v = &stat->values[cell * (stat->nbounds + 2)];

        (void) ngx_atomic_fetch_add(
                  &v[gw_stats_bucket(stat->bounds, stat->nbounds, value)], 1);
        (void) ngx_atomic_fetch_add(&v[stat->nbounds + 1], value);
    }
}


/* --- collectors ---------------------------------------------------------- */

/* One series of a collected family (labels as the family names them). */
void ngx_http_gateway_stats_emit(ngx_http_gateway_stats_emit_t *emit,
    ngx_str_t *labels, double value);


/* --- reading (the renderers) -------------------------------------------- */

/*
 * A family as read (in a pool): its series, handed out a batch at a time,
 * ready for gw_prom_write_part().
 */
typedef struct {
    gw_metric_family_t                 family;
    gw_metric_series_t                *series;   /* the batch */
    ngx_uint_t                         nseries;

    /* the registry's */
    ngx_http_gateway_stats_family_t   *counted;  /* NULL: collected */
    ngx_http_gateway_stats_copy_t     *copies;   /* counted: as read */
    ngx_uint_t                         ncopies;
    gw_metric_series_t                *emitted;  /* collected */
    ngx_uint_t                         nemitted;
    ngx_uint_t                         copy;     /* the next to hand out */
    ngx_uint_t                         cell;     /* and its next cell */
} ngx_http_gateway_stats_read_t;

/* How many families this worker's configuration has. */
ngx_uint_t ngx_http_gateway_stats_nfamilies(ngx_http_request_t *r);

/*
 * Family i as it is now, copied into pool in one go under the zone's
 * mutex (counters are read without stopping anyone), so the family is
 * consistent in itself; NGX_ERROR when out of memory.
 */
ngx_int_t ngx_http_gateway_stats_read(ngx_http_request_t *r, ngx_uint_t i,
    ngx_pool_t *pool, ngx_http_gateway_stats_read_t *read);

/*
 * The next batch of a family read into read->series: whole series holding
 * at least max_samples sample lines, or what is left (none at the end).
 */
ngx_int_t ngx_http_gateway_stats_read_more(
    ngx_http_gateway_stats_read_t *read, ngx_pool_t *pool,
    size_t max_samples);

/* Series the zone could not hold since it was made. */
uint64_t ngx_http_gateway_stats_dropped(ngx_http_request_t *r);

/*
 * A scrape: all of it as Prometheus text (version 0.0.4),
 * gateway_metrics_dropped_total last, written part by part. Each family is
 * read when its turn comes, into a pool of its own that goes once the
 * family is written (or with the request).
 */
typedef struct {
    ngx_http_request_t                *request;
    ngx_uint_t                         family;   /* the next to read */
    ngx_pool_t                        *pool;     /* the family being written */
    ngx_http_gateway_stats_read_t      read;
    size_t                             next;     /* its next series */
    gw_prom_writer_t                   writer;
    unsigned                           done:1;
} ngx_http_gateway_stats_scrape_t;

/* A scrape of the registry now, in r's pool; NULL when out of memory. */
ngx_http_gateway_stats_scrape_t *ngx_http_gateway_stats_scrape_create(
    ngx_http_request_t *r);

/*
 * The next part of the text into sink: series holding at least
 * max_samples sample lines (whole series), or what is left; sets
 * scrape->done with the last. NGX_ERROR: out of memory.
 */
ngx_int_t ngx_http_gateway_stats_scrape_write(
    ngx_http_gateway_stats_scrape_t *scrape, gw_sink_t *sink,
    size_t max_samples);

/* All of it at once: a chain of buffers from r's pool, or NULL. */
ngx_chain_t *ngx_http_gateway_stats_prometheus(ngx_http_request_t *r);

/* The core's renderers (gw_sink_t) writing into buffers from a pool. */
typedef struct {
    gw_sink_t                          sink;
    ngx_pool_t                        *pool;
    ngx_chain_t                       *first;
    ngx_chain_t                       *last;
    ngx_chain_t                       *free;     /* sent buffers to reuse
                                                    (tagged with the
                                                    gateway module) */
} ngx_http_gateway_chain_sink_t;

void ngx_http_gateway_chain_sink_init(ngx_http_gateway_chain_sink_t *cs,
    ngx_pool_t *pool);

/* What was written, or NULL when nothing was or a refill failed. */
ngx_chain_t *ngx_http_gateway_chain_sink_finish(
    ngx_http_gateway_chain_sink_t *cs);

/* $gateway_stats: the same text, as a variable. */
ngx_int_t ngx_http_gateway_stats_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


/* --- status providers ---------------------------------------------------- */

/* Writes one value (an object, usually) of the feature's state. */
typedef ngx_int_t (*ngx_http_gateway_status_pt)(gw_json_writer_t *w,
    void *data);

typedef struct {
    ngx_str_t                          section;  /* "upstreams", "redis" */
    ngx_http_gateway_status_pt         handler;
    void                              *data;
} ngx_http_gateway_status_t;

/* A member name that is a string literal. */
#define ngx_http_gateway_json_key(w, key)                                     \
    gw_json_key(w, key, sizeof(key) - 1)

/* A feature's section of the status document. */
ngx_int_t ngx_http_gateway_status_add(ngx_conf_t *cf, ngx_str_t *section,
    ngx_http_gateway_status_pt handler, void *data);

/* The sections, in the order they were added (ngx_http_gateway_status_t). */
ngx_array_t *ngx_http_gateway_status_sections(ngx_http_request_t *r);


/*
 * Something serves the registry (gateway_metrics; $gateway_stats is seen
 * by itself): requests are counted and timed. Unread, they cost nothing.
 */
void ngx_http_gateway_stats_rendered(ngx_conf_t *cf);

/* Whether requests are counted, from postconfiguration on. */
ngx_uint_t ngx_http_gateway_stats_counting(ngx_conf_t *cf);


/* the registry's life, from ngx_http_gateway_module */
ngx_http_gateway_stats_t *ngx_http_gateway_stats_create(ngx_conf_t *cf);
ngx_int_t ngx_http_gateway_stats_init(ngx_conf_t *cf,
    ngx_http_gateway_stats_t *stats);


#endif /* _NGX_HTTP_GATEWAY_STATS_H_INCLUDED_ */
