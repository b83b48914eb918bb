/* The Prometheus metrics registry, rendered as text exposition format 0.0.4.
 *
 * One global registry (one process, one loop, one thread). A family is registered once with
 * its name, help, type and label names (0 to METRICS_MAX_LABELS); its series ("children") are
 * created on first use by their label values. A family holds at most METRICS_MAX_SERIES series:
 * a sample for a new series past the cap is dropped and counted in
 * omjob_metrics_dropped_series_total (always rendered last), so memory stays bounded whatever
 * the label values are. A family without labels has its one series from registration on.
 *
 * Every update function is a no-op for a NULL family, so a failed registration (logged once)
 * never has to be checked at each call site. Strings passed in are copied.
 *
 *   static struct metric *reqs;
 *   reqs = metrics_counter("omjob_api_requests_total", "API requests.",
 *                          (const char *const[]){"verb", "code", NULL});
 *   metrics_add(reqs, 1, "GET", "200");            // exactly as many values as label names
 */
#ifndef OMJ_METRICS_H
#define OMJ_METRICS_H

#include <stddef.h>

struct buf;
struct metric;

enum {
    METRICS_MAX_LABELS = 4,
    METRICS_MAX_SERIES = 512,    /* per family */
    METRICS_MAX_BUCKETS = 32,    /* per histogram, +Inf not counted */
    METRICS_MAX_VALUE_LEN = 256, /* bytes in one label value; longer ones are dropped */
    METRICS_MAX_HOOKS = 16,
};

/* Content type of metrics_render()'s output. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Register a family. label_names is NULL-terminated, or NULL for none. Returns NULL (and
 * logs a warning) for an invalid or already registered name, invalid or too many label
 * names, or allocation failure. Histogram bounds must be finite and strictly increasing
 * (1 to METRICS_MAX_BUCKETS of them); the +Inf bucket is implicit. The label name "le" is
 * reserved for histograms, names starting with "__" for Prometheus. */
struct metric *metrics_counter(const char *name, const char *help, const char *const *label_names);
struct metric *metrics_gauge(const char *name, const char *help, const char *const *label_names);
struct metric *metrics_histogram(const char *name, const char *help,
                                 const char *const *label_names, const double *bounds,
                                 size_t nbounds);

/* A label-less gauge or counter whose value fn(arg) computes at each render. fn must not
 * touch the registry. */
struct metric *metrics_gauge_fn(const char *name, const char *help, double (*fn)(void *arg),
                                void *arg);
struct metric *metrics_counter_fn(const char *name, const char *help, double (*fn)(void *arg),
                                  void *arg);

/* Updates. The variadic forms take exactly as many `const char *` label values as the family
 * has label names; the array forms take an array of that many (NULL when there are none).
 * add: counters and gauges; a counter ignores negative and NaN increments.
 * set: gauges, and counters that mirror a monotonic value kept elsewhere (scrape hooks).
 * observe: histograms. A NULL label value is treated as "". */
void metrics_add(struct metric *m, double v, ...);
void metrics_set(struct metric *m, double v, ...);
void metrics_observe(struct metric *m, double v, ...);
void metrics_addv(struct metric *m, double v, const char *const *values);
void metrics_setv(struct metric *m, double v, const char *const *values);
void metrics_observev(struct metric *m, double v, const char *const *values);

/* The current value of a series (a histogram's count), or NaN if the series does not exist.
 * For tests and for code that needs to read back what it exported. */
double metrics_value(const struct metric *m, const char *const *values);

/* Called at the start of every metrics_render(), in registration order, so a module can copy
 * its own counters into the registry (metrics_set) only when someone scrapes. Returns 0, or
 * -1 when METRICS_MAX_HOOKS are registered. */
int metrics_on_scrape(void (*fn)(void *arg), void *arg);
void metrics_on_scrape_remove(void (*fn)(void *arg), void *arg);

/* Standard process metrics read from /proc/self at scrape time: process_cpu_seconds_total,
 * process_open_fds, process_max_fds, process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_start_time_seconds. Returns 0, or -1 if any
 * registration failed. */
int metrics_register_process(void);

/* Appends every family in registration order, then omjob_metrics_dropped_series_total.
 * Returns BUF_OK or the buf error (out then holds a truncated text: do not serve it). */
int metrics_render(struct buf *out);

/* Frees every family, series and hook; struct metric pointers held anywhere become invalid.
 * For tests and shutdown. */
void metrics_reset_all(void);

#endif
