/* OpenTelemetry traces, the pure part: configuration from the SDK environment variables,
 * deterministic trace and span ids, W3C traceparent, and the OTLP/HTTP JSON encoding of
 * spans and of the export request and response (opentelemetry-proto, JSON mapping: ids as
 * hex strings, enums as numbers, 64-bit integers as decimal strings).
 *
 * No I/O here but reading the CA file named by OTEL_EXPORTER_OTLP_CERTIFICATE in
 * otel_config_from_env; src/otel/exporter.h sends what this encodes. */
#ifndef OMJ_OTEL_H
#define OMJ_OTEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

#define OTEL_MAX_HEADERS 16
#define OTEL_MAX_RESOURCE_ATTRS 32
#define OTEL_VALUE_MAX 256
#define OTEL_DEFAULT_ENDPOINT "http://localhost:4318"

struct otel_kv {
    char key[64];
    char value[OTEL_VALUE_MAX];
};

struct otel_config {
    bool enabled;
    char url[512];     /* the traces endpoint, whole: http(s)://host[:port]/v1/traces */
    bool https;
    char host[256];    /* from url, for pinning its address */
    int port;
    bool host_is_ip;
    size_t nheaders;
    struct otel_kv headers[OTEL_MAX_HEADERS]; /* values are secrets: never log them */
    size_t nresource;
    struct otel_kv resource[OTEL_MAX_RESOURCE_ATTRS]; /* service.name first */
    char *ca_pem;      /* OTEL_EXPORTER_OTLP_CERTIFICATE's content, or NULL (owned) */
    size_t ca_len;
    long timeout_ms;         /* OTEL_EXPORTER_OTLP_TIMEOUT, default 10000 */
    long schedule_delay_ms;  /* OTEL_BSP_SCHEDULE_DELAY, default 5000 */
    long max_queue;          /* OTEL_BSP_MAX_QUEUE_SIZE (spans), default 2048 */
    long max_batch;          /* OTEL_BSP_MAX_EXPORT_BATCH_SIZE (spans), default 512 */
};

/* Reads the OTEL_* variables through get (getenv, or a test's table): export is on when
 * OTEL_TRACES_EXPORTER names otlp, or is unset and an OTLP endpoint variable is set; it is
 * off for OTEL_TRACES_EXPORTER=none, OTEL_SDK_DISABLED=true, or nothing set. Returns 0, or
 * -1 with err for a value that cannot be used (bad URL, unreadable certificate, malformed
 * header list): the caller reports it and runs without traces. warn, if set, gets each
 * setting that is accepted but ignored (gzip, grpc, other exporters). Free with
 * otel_config_free. */
int otel_config_from_env(struct otel_config *c, const char *(*get)(const char *name),
                         void (*warn)(const char *what), char *err, size_t errlen);
void otel_config_free(struct otel_config *c);
/* Parses "k=v,k2=v2" (W3C baggage-like, values percent-decoded, blanks trimmed) into out.
 * Returns the number of pairs, or -1 if malformed or more than max. */
int otel_parse_kv_list(const char *s, struct otel_kv *out, size_t max);

/* Ids derived from the object's uid and run, so a restarted operator exports the same ones:
 * the first bytes of SHA-256("otel-trace\0" uid "\0" run) and of SHA-256("otel-span\0" uid
 * "\0" run "\0" name "\0" index). Never all zero. */
void otel_trace_id(uint8_t out[16], const char *uid, long run);
void otel_span_id(uint8_t out[8], const char *uid, long run, const char *name, long index);
/* Lower-case hex of n bytes into out (2n+1 bytes). */
void otel_hex(char *out, const uint8_t *b, size_t n);
/* "00-<trace>-<span>-01" into out (56 bytes). */
#define OTEL_TRACEPARENT_LEN 56
void otel_traceparent(char out[OTEL_TRACEPARENT_LEN], const uint8_t trace[16],
                      const uint8_t span[8]);

enum otel_attr_type { OTEL_STR, OTEL_INT, OTEL_BOOL };
struct otel_attr {
    const char *key;
    enum otel_attr_type type;
    const char *s; /* OTEL_STR: NULL or "" attributes are left out */
    int64_t i;     /* OTEL_INT, OTEL_BOOL */
};

enum otel_status { OTEL_STATUS_UNSET = 0, OTEL_STATUS_OK = 1, OTEL_STATUS_ERROR = 2 };
enum { OTEL_KIND_INTERNAL = 1 };

struct otel_span {
    uint8_t trace_id[16], span_id[8], parent_id[8];
    bool has_parent;
    const char *name;
    int64_t start_ms, end_ms; /* epoch ms; end >= start is enforced when encoding */
    enum otel_status status;
    const char *status_message;
    const struct otel_attr *attrs;
    size_t nattrs;
};

/* Appends one Span as OTLP JSON. Returns the buf's status (BUF_OK). */
int otel_span_json(struct buf *b, const struct otel_span *s);
/* The ExportTraceServiceRequest around spans_json (comma-separated Span objects): one
 * ResourceSpans with the config's resource attributes and one ScopeSpans. */
int otel_request_json(struct buf *b, const struct otel_config *c, const char *scope_version,
                      const char *spans_json, size_t spans_len);

/* What an answer means for a batch (OTLP/HTTP "Failures" and "Retryable response codes"). */
enum otel_verdict { OTEL_DONE, OTEL_RETRY, OTEL_DROP };
/* status 0 = no HTTP answer (connection refused, timeout): retry. 2xx: done (a partial
 * success is still done: the rejected spans must not be sent again). 429, 502, 503, 504:
 * retry (honouring Retry-After). Any other status: drop. */
enum otel_verdict otel_classify(long status);
/* Reads an ExportTraceServiceResponse's partialSuccess: rejected spans (0 when none or the
 * body is not one) and its errorMessage into msg (may be ""). */
int64_t otel_partial_success(const char *body, size_t len, char *msg, size_t msglen);

#endif
