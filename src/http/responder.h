/* A minimal, hardened HTTP/1.1 server on the loop, for /healthz, /readyz, /metrics and /info.
 *
 * Only GET and HEAD of registered paths (exact match; the query string is ignored). No request
 * bodies. Every response carries Content-Length and Connection. Bounded everywhere: request
 * head size and header count, concurrent connections, requests per connection, response body
 * size, and one deadline per request: a request must arrive and its response be written within
 * timeout_ms of the connection becoming idle, or the connection is closed (slow clients cannot
 * hold anything). All sockets are non-blocking; nothing here blocks the loop.
 *
 *   struct responder *r = responder_new(loop, NULL);
 *   responder_route(r, "/healthz", healthz, ctx);
 *   responder_listen(r, "0.0.0.0", 8081, NULL);
 *   ...
 *   responder_free(r);
 */
#ifndef OMJ_RESPONDER_H
#define OMJ_RESPONDER_H

#include <stddef.h>
#include <stdint.h>

struct buf;
struct loop;
struct responder;

/* Writes the response body into body (capped at max_body_bytes; an append that fails should
 * make the handler return 500) and may point *content_type at a static string (default
 * "text/plain; charset=utf-8", at most 100 bytes, no CR or LF). Returns the HTTP status:
 * 200-599 except 204 and 304 (which could carry no body); anything else becomes 500.
 * Runs on the loop: it must not block, nor free the responder. HEAD runs it too (the length
 * is reported, the body not sent). */
typedef int (*responder_handler)(void *arg, struct buf *body, const char **content_type);

struct responder_limits {
    size_t max_head_bytes;     /* request line + headers; past it: 431 (default 8192) */
    unsigned max_headers;      /* past it: 431 (default 64) */
    unsigned max_connections;  /* past it: 503 and close at once (default 64) */
    unsigned max_requests;     /* per connection; the last gets Connection: close (default 100) */
    int64_t timeout_ms;        /* per request, see above (default 5000) */
    size_t max_body_bytes;     /* response body from a handler; past it: 500 (default 8 MiB) */
};

void responder_limits_default(struct responder_limits *lim);

/* A responder on loop l with the given limits (NULL: defaults; zero fields: their default).
 * l may be NULL for a responder that only routes through responder_handle() (tests). Returns
 * NULL on allocation failure. */
struct responder *responder_new(struct loop *l, const struct responder_limits *lim);

/* Listens on addr (numeric IPv4 or IPv6, "localhost", or NULL/"" for every IPv4 address) and
 * port (0: any free port). Several listeners may share one responder; all serve all routes.
 * Sets *bound_port (if not NULL) to the port actually bound. Returns 0, or -1 with errno set
 * (and a warning logged). */
int responder_listen(struct responder *r, const char *addr, int port, int *bound_port);

/* Routes GET/HEAD of path (exact, starting with '/', at most 127 bytes) to fn(arg). A path
 * routed again gets the new handler. Returns 0, or -1 for a bad path or when
 * RESPONDER_MAX_ROUTES are taken. */
enum { RESPONDER_MAX_ROUTES = 16, RESPONDER_MAX_LISTENERS = 8, RESPONDER_MAX_CODES = 16 };
int responder_route(struct responder *r, const char *path, responder_handler fn, void *arg);

/* Closes every listener and connection (each fd exactly once) and frees r. NULL is a no-op. */
void responder_free(struct responder *r);

/* The pure core, without sockets: parses the request at the start of in[0..len) and appends
 * its whole response to out.
 *   Returns 0 when in holds no complete request head yet (nothing appended), or the status
 *   code sent, or -1 if out could not hold the response (the caller closes the connection).
 *   *consumed: bytes of in that the request used (all of them after an error that closes).
 *   *keep_alive: whether the connection may carry another request. On input allow_keep_alive
 *   0 forces Connection: close (the last request allowed on a connection). */
int responder_handle(struct responder *r, const char *in, size_t len, int allow_keep_alive,
                     size_t *consumed, struct buf *out, int *keep_alive);

struct responder_stats {
    uint64_t connections_accepted;
    uint64_t connections_rejected;  /* over max_connections, or accept() out of fds */
    uint64_t connections_timed_out;
    uint64_t connections_active;
    uint64_t requests_total;
    struct {
        int code; /* 0: the overflow slot for codes past RESPONDER_MAX_CODES distinct ones */
        uint64_t count;
    } by_code[RESPONDER_MAX_CODES];
    size_t ncodes;
};

/* Copies the counters. */
void responder_get_stats(const struct responder *r, struct responder_stats *out);

/* Exports the counters to the metrics registry, copied at each scrape:
 * omjob_http_requests_total{code}, omjob_http_connections_total{result="accepted|rejected|
 * timed_out"}, omjob_http_connections_active. Once per process (names are unique): give one
 * responder all listeners rather than making two. Either order of responder_free() and
 * metrics_reset_all() is safe. Returns 0, or -1 if a registration failed. */
int responder_register_metrics(struct responder *r);

#endif
