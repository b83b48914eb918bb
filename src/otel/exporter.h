/* The OTLP/HTTP JSON trace exporter: a batching queue drained over the API client's curl
 * multi (kube_client_add_easy), so it never blocks the loop.
 *
 * Bounded: at most cfg->max_queue spans and OTEL_EXPORTER_MAX_BYTES of encoded spans wait
 * (in flight included); a submit past either is refused and counted. One request at a time,
 * at most cfg->max_batch spans, sent cfg->schedule_delay_ms after the first waiting item
 * (at once when a full batch waits). Answers follow the OTLP rules (otel_classify): 2xx
 * done (a partial success is logged, its rejected spans counted, nothing resent); no answer,
 * 429, 502, 503, 504 retried with exponential backoff (1 s .. 5 min, Retry-After honoured);
 * any other status drops the batch. An unreachable collector costs a counter and one log
 * line a minute; header values are never logged.
 *
 * Metrics: omjob_otel_spans_total{result="exported|rejected|dropped"},
 * omjob_otel_export_requests_total{result="ok|retry|drop"}, omjob_otel_queue_spans. */
#ifndef OMJ_OTEL_EXPORTER_H
#define OMJ_OTEL_EXPORTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct kube_client;
struct otel_config;
struct otel_exporter;

#define OTEL_EXPORTER_MAX_BYTES (4u * 1024 * 1024)
#define OTEL_EXPORTER_BACKOFF_MIN_MS 1000
#define OTEL_EXPORTER_BACKOFF_MAX_MS 300000

/* Called once per submitted item when it leaves the exporter: exported is true when the
 * collector accepted the request carrying it (2xx), false when it was dropped (refused
 * permanently, or the exporter was freed: then not called at all). tag is the submit's. */
typedef void (*otel_item_done_fn)(void *arg, const char *tag, bool exported);

struct otel_exporter_stats {
    uint64_t exported_spans, rejected_spans, dropped_spans;
    uint64_t requests_ok, requests_retry, requests_drop;
    uint64_t queued_spans, queued_bytes;
};

/* cfg is copied (its CA blob too). Returns NULL when out of memory. */
struct otel_exporter *otel_exporter_new(struct loop *l, struct kube_client *c,
                                        const struct otel_config *cfg, const char *version,
                                        otel_item_done_fn done, void *arg);
/* Cancels the request in flight and drops what waits, without callbacks. */
void otel_exporter_free(struct otel_exporter *x);
/* Queues one item: spans_json is nspans comma-separated OTLP Span objects (copied); tag
 * names it in the done callback (copied, at most 255 bytes). Returns 0, or -1 when the
 * queue is full or memory is short (counted as dropped; no callback). */
int otel_exporter_submit(struct otel_exporter *x, const char *tag, const char *spans_json,
                         size_t len, size_t nspans);
/* Whether an item with this tag waits or is in flight. */
bool otel_exporter_has(const struct otel_exporter *x, const char *tag);
void otel_exporter_get_stats(const struct otel_exporter *x, struct otel_exporter_stats *out);

#endif
