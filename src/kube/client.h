/* The Kubernetes API client: HTTP requests over libcurl's multi interface, driven by the
 * loop (socket and timer callbacks), with bearer-token or client-certificate auth, token
 * file rotation, a write rate limiter, and retries with backoff on 5xx/429/connection errors.
 *
 * Ownership: the client copies everything in a kube_req_spec; a response handed to a
 * callback is valid only during the callback. After kube_cancel(id) no callback runs. */
#ifndef OMJ_KUBE_CLIENT_H
#define OMJ_KUBE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct kube_config;
struct kube_client;

struct kube_client_opts {
    long qps, burst;          /* write limiter (POST/PUT/PATCH/DELETE) */
    long connect_timeout_s;   /* TCP + TLS handshake */
    long request_timeout_s;   /* whole request, non-streaming */
    size_t max_body_bytes;    /* cap on one response body */
    int max_retries;          /* for KUBE_RETRY requests */
    size_t max_queued_writes; /* writes waiting for the limiter; 0: KUBE_MAX_QUEUED_WRITES */
    const char *user_agent;   /* NULL: "omjob-operator/<version>"; copied (truncated to 200) */
};

/* Past this many waiting writes kube_submit refuses a write (returns 0): the callers
 * requeue the object with backoff, so nothing is lost and memory stays bounded. */
#define KUBE_MAX_QUEUED_WRITES 10000
/* Writes handed to curl at once (the Lease aside); the rest wait in the queue. Each handed
 * over holds an easy handle with its 16 KiB buffer while it waits for one of the 32
 * connections: a burst of 1000 OMJobs held ~500 of them (8 MiB that the allocator then kept;
 * massif, issue 16's RSS across bursts). */
#define KUBE_MAX_WRITES_ON_WIRE 24

struct kube_response {
    long status;            /* HTTP status; 0 when the request failed below HTTP */
    const char *body;       /* NUL-terminated; "" when none (streams: "") */
    size_t body_len;
    const char *error;      /* NULL on 2xx; else what went wrong, never empty: the API
                               server's Status message with its causes, or the transport
                               error (see kube/status.h) */
    const char *reason;     /* Status.reason ("Forbidden", "AlreadyExists", ...) or "" */
    const char *cause;      /* the first details.causes[].reason or "" */
    int cls;                /* enum kube_class of the answer (kube/status.h) */
    int dropped;            /* 1: never sent, because still_needed() said no */
};

typedef void (*kube_done_fn)(void *arg, const struct kube_response *r);
/* Streaming body data (watch, logs). Return non-zero to abort the request. */
typedef int (*kube_data_fn)(void *arg, const char *data, size_t len);

enum {
    KUBE_RETRY = 1,  /* retry 5xx, 429 and connection errors with backoff (Retry-After honoured) */
    KUBE_STREAM = 2, /* body goes to `data` as it arrives, not buffered */
    KUBE_LOW = 4,    /* a write that repeats one that failed: sent after first attempts */
    KUBE_RELEASE = 8, /* a write that lets the server finish a deletion (a finalizer
                         removal: one per object): its own lane and bucket, at 5x --qps */
    KUBE_PRIORITY = 16, /* the leader Lease: a write sent at once, ahead of every queue and
                           without waiting for a limiter (it takes a token when one is there,
                           so the budget still counts it), never closed by the write gate */
};

struct kube_req_spec {
    const char *method; /* GET POST PUT PATCH DELETE */
    const char *path;   /* "/api/v1/namespaces/x/pods?limit=500" */
    const char *content_type;
    const char *body;
    size_t body_len;
    unsigned flags;
    long timeout_s; /* 0: the client's default; streams: the stream's whole lifetime */
    kube_done_fn done;
    kube_data_fn data;
    void *arg;
    /* Writes only. queue_key: the fairness key (the namespace): the write queue serves one
     * write per key in turn, first attempts before KUBE_LOW ones. still_needed, if set, is
     * asked just before each attempt is sent; 0 completes the request unsent (dropped). */
    const char *queue_key;
    int (*still_needed)(void *arg);
};

struct kube_client_stats {
    uint64_t requests, responses_2xx, responses_4xx, responses_5xx, transport_errors;
    uint64_t retries, throttled_429, unauthorized_401, token_reloads;
    uint64_t inflight, queued_writes;
    uint64_t dropped_writes, refused_writes; /* not needed any more; queue full */
    uint64_t gated_writes; /* refused or dropped because the write gate was closed */
};

/* cfg is copied as needed; it must outlive the client only for its token_file path. */
struct kube_client *kube_client_new(struct loop *l, struct kube_config *cfg,
                                    const struct kube_client_opts *opts, char *err,
                                    size_t errlen);
void kube_client_free(struct kube_client *c); /* cancels everything without callbacks */

/* Tests: a client whose requests are handed to submit/cancel (with arg) instead of the
 * network: no TLS, limiter, write queue or retries. submit returns the request's id (> 0)
 * or 0, as kube_submit does. */
typedef uint64_t (*kube_fake_submit_fn)(void *arg, const struct kube_req_spec *spec);
typedef void (*kube_fake_cancel_fn)(void *arg, uint64_t id);
struct kube_client *kube_client_new_fake(struct loop *l, kube_fake_submit_fn submit,
                                         kube_fake_cancel_fn cancel, void *arg);

/* Starts (or queues, for writes over the rate) a request. Returns an id > 0, or 0 if the
 * request could not even be queued (no memory, KUBE_MAX_QUEUED_WRITES writes waiting, or a
 * write while the write gate is closed; then no callback runs). A write retried after a transient failure goes back into the
 * queue as KUBE_LOW, so retries never take the turn of first attempts. */
/* Connections: TLS sessions are shared between requests, and the client's very first request
 * goes alone — requests started while its connection has not answered yet wait for it (then
 * resume its session instead of a full handshake each). */
uint64_t kube_submit(struct kube_client *c, const struct kube_req_spec *spec);
void kube_cancel(struct kube_client *c, uint64_t id);

/* The write gate (leader election): while open(arg) is false, kube_submit refuses every
 * write but KUBE_PRIORITY ones (returns 0), and a queued or retried write completes unsent
 * (r->dropped, error "not sent: not the leader") when its turn comes. Writes already on the
 * wire are not recalled. NULL (the default) opens it for good. */
void kube_client_set_write_gate(struct kube_client *c, bool (*open)(void *arg), void *arg);

/* The answer to a create in a namespace being deleted (403, cause NamespaceTerminating). */
bool kube_ns_terminating(const struct kube_response *r);

/* Another module's request (the OTLP exporter) on the client's curl multi, so it shares
 * the loop, the connection pool and the TLS build: easy is a CURL * the caller has set up
 * completely (URL, body, TLS options; CURLOPT_PRIVATE stays the caller's). done runs once
 * when it finishes, with the CURLcode; the handle is off the multi by then and the caller
 * still owns it. kube_client_remove_easy takes it off without a callback (call it before
 * freeing the handle early; kube_client_free does it for what is left). At most
 * KUBE_MAX_EASY at a time: returns 0, or -1 (none free, or curl refused). */
#define KUBE_MAX_EASY 4
typedef void (*kube_easy_done_fn)(void *arg, void *easy, int curlcode);
int kube_client_add_easy(struct kube_client *c, void *easy, kube_easy_done_fn done, void *arg);
void kube_client_remove_easy(struct kube_client *c, void *easy);

void kube_client_get_stats(const struct kube_client *c, struct kube_client_stats *out);

/* Backoff for attempt n (0-based): min(cap, base * 2^n) with +-20% jitter from rnd in
 * [0,1). Exposed for tests. */
int64_t kube_backoff_ms(int attempt, int64_t base_ms, int64_t cap_ms, double rnd);
/* Parses a Retry-After header value (delta seconds). Returns ms, or -1. */
int64_t kube_parse_retry_after(const char *v);
/* The same for one header line of n bytes (curl's header callback): -2 when the line is
 * not a Retry-After header. */
int64_t kube_retry_after_header(const char *line, size_t n);



/* A token bucket: `burst` tokens, refilled at `qps` per second. */
struct rate_limiter {
    double tokens, qps, burst;
    int64_t last_ms;
};
void limiter_init(struct rate_limiter *rl, double qps, double burst, int64_t now_ms);
/* Takes a token if one is available (returns 0), else returns the ms until one will be. */
int64_t limiter_take(struct rate_limiter *rl, int64_t now_ms);
/* Returns a token taken for a request that was not sent after all. */
void limiter_give_back(struct rate_limiter *rl);
#endif
