#include "t.h"

#include "http/metrics.h"
#include "http/responder.h"
#include "loop.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* --- handlers ----------------------------------------------------------------------- */

static int
h_ok(void *arg, struct buf *body, const char **content_type)
{
    (void)arg;
    (void)content_type;
    return buf_appends(body, "ok\n") == BUF_OK ? 200 : 500;
}

static int
h_unready(void *arg, struct buf *body, const char **content_type)
{
    (void)arg;
    (void)content_type;
    buf_appends(body, "caches not synced\n");
    return 503;
}

static int
h_bogus_status(void *arg, struct buf *body, const char **content_type)
{
    (void)arg;
    (void)body;
    (void)content_type;
    return 42;
}

static int
h_metrics(void *arg, struct buf *body, const char **content_type)
{
    (void)arg;
    *content_type = METRICS_CONTENT_TYPE;
    return metrics_render(body) == BUF_OK ? 200 : 500;
}

/* A body of *(size_t *)arg bytes: big enough to need many partial writes. */
static int
h_big(void *arg, struct buf *body, const char **content_type)
{
    (void)content_type;
    size_t n = *(const size_t *)arg;
    for (size_t i = 0; i < n; i += 16) {
        if (buf_append(body, "0123456789abcdef", n - i < 16 ? n - i : 16) != BUF_OK) {
            buf_reset(body); /* no half a body */
            return 500;
        }
    }
    return 200;
}

/* More than a loopback socket buffers (tcp_wmem max is 4 MiB), so writes come back short. */
static size_t big_len = 7u << 20;

static int
h_no_content(void *arg, struct buf *body, const char **content_type)
{
    (void)arg;
    (void)content_type;
    buf_appends(body, "x");
    return 204;
}

static int
h_bad_type(void *arg, struct buf *body, const char **content_type)
{
    (void)arg;
    (void)body;
    *content_type = "text/plain\r\nSet-Cookie: x=y";
    return 200;
}

static struct responder *
new_routed(struct loop *l, const struct responder_limits *lim)
{
    struct responder *r = responder_new(l, lim);
    if (!r)
        return NULL;
    responder_route(r, "/healthz", h_ok, NULL);
    responder_route(r, "/health", h_ok, NULL);
    responder_route(r, "/readyz", h_unready, NULL);
    responder_route(r, "/metrics", h_metrics, NULL);
    responder_route(r, "/bogus", h_bogus_status, NULL);
    responder_route(r, "/big", h_big, &big_len);
    responder_route(r, "/nocontent", h_no_content, NULL);
    responder_route(r, "/badtype", h_bad_type, NULL);
    return r;
}

/* --- the pure core ------------------------------------------------------------------ */

struct exchange {
    int code;
    size_t consumed;
    int keep_alive;
    char out[4096];
};

/* Feeds exactly len bytes (a heap copy, not NUL-terminated: ASan sees any overread). */
static void
exchange_n(struct responder *r, const char *req, size_t len, int allow_ka, struct exchange *x)
{
    char *copy = malloc(len ? len : 1);
    memcpy(copy, req, len);
    struct buf out;
    buf_init(&out, 1 << 20);
    x->code = responder_handle(r, copy, len, allow_ka, &x->consumed, &out, &x->keep_alive);
    snprintf(x->out, sizeof x->out, "%s", buf_str(&out));
    buf_free(&out);
    free(copy);
}

static int
code_of(struct responder *r, const char *req)
{
    struct exchange x;
    exchange_n(r, req, strlen(req), 1, &x);
    return x.code;
}

TEST(responder_get_exact_response)
{
    struct responder *r = new_routed(NULL, NULL);
    struct exchange x;
    const char *req = "GET /healthz HTTP/1.1\r\nHost: localhost\r\nUser-Agent: t\r\n\r\n";
    exchange_n(r, req, strlen(req), 1, &x);
    T_EQ_INT(x.code, 200);
    T_EQ_INT(x.consumed, strlen(req));
    T_EQ_INT(x.keep_alive, 1);
    T_EQ_STR(x.out, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
                    "Content-Length: 3\r\nConnection: keep-alive\r\n\r\nok\n");
    responder_free(r);
}

TEST(responder_head_reports_length_without_body)
{
    struct responder *r = new_routed(NULL, NULL);
    struct exchange x;
    const char *req = "HEAD /readyz HTTP/1.1\r\nHost: h\r\n\r\n";
    exchange_n(r, req, strlen(req), 1, &x);
    T_EQ_INT(x.code, 503);
    T_EQ_STR(x.out, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
                    "Content-Length: 18\r\nConnection: keep-alive\r\n\r\n");
    req = "HEAD /nope HTTP/1.1\r\nHost: h\r\n\r\n";
    exchange_n(r, req, strlen(req), 1, &x);
    T_EQ_INT(x.code, 404);
    T_CONTAINS(x.out, "Content-Length: 10\r\n");
    T_ASSERT(strstr(x.out, "Not Found\n") == NULL);
    responder_free(r);
}

TEST(responder_routing_methods_and_query)
{
    struct responder *r = new_routed(NULL, NULL);
    struct exchange x;
    T_EQ_INT(code_of(r, "GET /healthz?verbose=1&x=%zz HTTP/1.1\r\nHost: h\r\n\r\n"), 200);
    T_EQ_INT(code_of(r, "GET /health#frag HTTP/1.1\r\nHost: h\r\n\r\n"), 200);
    T_EQ_INT(code_of(r, "GET /healthz/ HTTP/1.1\r\nHost: h\r\n\r\n"), 404);
    T_EQ_INT(code_of(r, "GET /HEALTHZ HTTP/1.1\r\nHost: h\r\n\r\n"), 404);
    T_EQ_INT(code_of(r, "GET / HTTP/1.1\r\nHost: h\r\n\r\n"), 404);
    T_EQ_INT(code_of(r, "get /healthz HTTP/1.1\r\nHost: h\r\n\r\n"), 405);
    T_EQ_INT(code_of(r, "DELETE /nope HTTP/1.1\r\nHost: h\r\n\r\n"), 405);
    const char *req = "POST /healthz HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n";
    exchange_n(r, req, strlen(req), 1, &x);
    T_EQ_INT(x.code, 405);
    T_CONTAINS(x.out, "HTTP/1.1 405 Method Not Allowed\r\n");
    T_CONTAINS(x.out, "\r\nAllow: GET, HEAD\r\n");
    T_EQ_INT(code_of(r, "GET /bogus HTTP/1.1\r\nHost: h\r\n\r\n"), 500);
    T_EQ_INT(code_of(r, "GET /nocontent HTTP/1.1\r\nHost: h\r\n\r\n"), 500);
    req = "GET /badtype HTTP/1.1\r\nHost: h\r\n\r\n";
    exchange_n(r, req, strlen(req), 1, &x);
    T_EQ_INT(x.code, 500);
    T_ASSERT(strstr(x.out, "Set-Cookie") == NULL);
    T_EQ_INT(code_of(r, "GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n"), 200);
    responder_free(r);
}

TEST(responder_route_table_rules)
{
    struct responder *r = responder_new(NULL, NULL);
    T_EQ_INT(responder_route(r, "nope", h_ok, NULL), -1);
    T_EQ_INT(responder_route(r, NULL, h_ok, NULL), -1);
    T_EQ_INT(responder_route(r, "/x", NULL, NULL), -1);
    char path[200];
    memset(path, 'a', sizeof path - 1);
    path[0] = '/';
    path[sizeof path - 1] = '\0';
    T_EQ_INT(responder_route(r, path, h_ok, NULL), -1);
    for (int i = 0; i < RESPONDER_MAX_ROUTES; i++) {
        snprintf(path, sizeof path, "/r%d", i);
        T_EQ_INT(responder_route(r, path, h_ok, NULL), 0);
    }
    T_EQ_INT(responder_route(r, "/one-too-many", h_ok, NULL), -1);
    T_EQ_INT(responder_route(r, "/r3", h_unready, NULL), 0); /* re-routing replaces */
    T_EQ_INT(code_of(r, "GET /r3 HTTP/1.1\r\nHost: h\r\n\r\n"), 503);
    int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    log_set_fd(fd);
    T_EQ_INT(responder_listen(r, "127.0.0.1", 0, NULL), -1); /* no loop */
    log_set_fd(-1);
    close(fd);
    responder_free(r);
}

TEST(responder_hostile_requests_get_the_right_status)
{
    static const struct {
        const char *req;
        int code;
    } cases[] = {
        {"GET\r\n\r\n", 400},
        {"GET /healthz\r\n\r\n", 400},                   /* HTTP/0.9 */
        {"GET /healthz HTTP/1.1\r\n\r\n", 400},          /* no Host */
        {"GET  /healthz HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        {"GET /healthz  HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        {"GET healthz HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        {"GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        {"GET http://h/healthz HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        {"GET /healthz HTTP/1.1 \r\nHost: h\r\n\r\n", 400},
        {"GET /healthz HTTP/11\r\nHost: h\r\n\r\n", 400},
        {"GET /healthz http/1.1\r\nHost: h\r\n\r\n", 400},
        {"GET /healthz HTTP/2.0\r\nHost: h\r\n\r\n", 505},
        {"GET /healthz HTTP/0.9\r\nHost: h\r\n\r\n", 505},
        {"GET /he\x7fz HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        {"GET /healthz HTTP/1.1\r\nHost: h\r\nBad Header: y\r\n\r\n", 400},
        {"GET /healthz HTTP/1.1\r\nHost : h\r\n\r\n", 400},
        {"GET /healthz HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", 400},
        {"GET /healthz HTTP/1.1\r\nHost: h\r\n: novalue\r\n\r\n", 400},
        {"GET /healthz HTTP/1.1\r\nHost: h\r\nX: a\x01 b\r\n\r\n", 400},
        {"GET /healthz HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", 400},
        {"GET /healthz HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400},
        {"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
        {"GET /healthz HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello", 413},
        {"GET /healthz HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n", 413},
        {"GET /healthz HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400},
        {"GET /healthz HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 1\r\n\r\n", 400},
        {"GET /healthz HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", 400},
        {"GET /healthz HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
        {"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400}, /* TLS ClientHello, incomplete */
        {"GET /healthz HTTP/1.1\r\n", 0},                      /* incomplete: wait */
        {"GET /heal", 0},
        {"\r\n\r\n", 0},
        /* accepted variations */
        {"GET /healthz HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", 200},
        {"GET /healthz HTTP/1.0\r\n\r\n", 200},
        {"GET /healthz HTTP/1.1\nHost: h\n\n", 200},
        {"\r\n\r\nGET /healthz HTTP/1.1\r\nHost: h\r\n\r\n", 200},
        {"GET /healthz HTTP/1.9\r\nHost: h\r\n\r\n", 200},
        {"GET /healthz HTTP/1.1\r\nhOsT:h\r\nX-Empty:\r\nX-Obs: caf\xc3\xa9\t \r\n\r\n", 200},
    };
    struct responder *r = new_routed(NULL, NULL);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct exchange x;
        exchange_n(r, cases[i].req, strlen(cases[i].req), 1, &x);
        if (x.code != cases[i].code)
            t_fail(__FILE__, __LINE__, "case %zu: got %d, want %d", i, x.code, cases[i].code);
        if (x.code >= 400 && x.code != 404 && x.code != 405) {
            T_EQ_INT(x.keep_alive, 0);
            T_CONTAINS(x.out, "\r\nConnection: close\r\n");
        }
        if (x.code == 0)
            T_EQ_STR(x.out, "");
    }
    responder_free(r);
}

TEST(responder_head_and_header_caps)
{
    struct responder_limits lim = {.max_head_bytes = 1024, .max_headers = 4};
    struct responder *r = new_routed(NULL, &lim);
    char req[2048];
    /* Four headers pass, five do not. */
    T_EQ_INT(code_of(r, "GET /healthz HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"), 200);
    T_EQ_INT(code_of(r, "GET /healthz HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n"),
             431);
    /* A head that reaches the cap without ending. */
    int n = snprintf(req, sizeof req, "GET /healthz HTTP/1.1\r\nHost: h\r\nX: ");
    memset(req + n, 'a', sizeof req - (size_t)n - 1);
    req[sizeof req - 1] = '\0';
    struct exchange x;
    exchange_n(r, req, 1023, 1, &x);
    T_EQ_INT(x.code, 0);
    exchange_n(r, req, 1024, 1, &x);
    T_EQ_INT(x.code, 431);
    T_EQ_INT(x.consumed, 1024);
    T_CONTAINS(x.out, "HTTP/1.1 431 Request Header Fields Too Large\r\n");
    /* A complete head one byte past the cap is refused too. */
    n = snprintf(req, sizeof req, "GET /healthz HTTP/1.1\r\nHost: h\r\nX: ");
    memset(req + n, 'a', 1021 - (size_t)n);
    memcpy(req + 1021, "\r\n\r\n", 5);
    T_EQ_INT(strlen(req), 1025);
    T_EQ_INT(code_of(r, req), 431);
    req[1021 - 1] = '\r'; /* shorten by one: exactly 1024 bytes fits */
    memcpy(req + 1020, "\r\n\r\n", 5);
    T_EQ_INT(code_of(r, req), 200);
    responder_free(r);
}

TEST(responder_keep_alive_rules)
{
    static const struct {
        const char *req;
        int allow, keep;
    } cases[] = {
        {"GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n", 1, 1},
        {"GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n", 0, 0},
        {"GET /healthz HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", 1, 0},
        {"GET /healthz HTTP/1.1\r\nHost: h\r\nConnection: Upgrade,  CLOSE\r\n\r\n", 1, 0},
        {"GET /healthz HTTP/1.1\r\nHost: h\r\nConnection: closed\r\n\r\n", 1, 1},
        {"GET /healthz HTTP/1.0\r\n\r\n", 1, 0},
        {"GET /healthz HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 1, 1},
        {"GET /nope HTTP/1.1\r\nHost: h\r\n\r\n", 1, 1},
        {"PUT /healthz HTTP/1.1\r\nHost: h\r\n\r\n", 1, 1},
    };
    struct responder *r = new_routed(NULL, NULL);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct exchange x;
        exchange_n(r, cases[i].req, strlen(cases[i].req), cases[i].allow, &x);
        if (x.keep_alive != cases[i].keep)
            t_fail(__FILE__, __LINE__, "case %zu: keep_alive %d", i, x.keep_alive);
        T_CONTAINS(x.out, cases[i].keep ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
    }
    responder_free(r);
}

TEST(responder_pipelined_requests_consume_one_at_a_time)
{
    struct responder *r = new_routed(NULL, NULL);
    const char *one = "GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n";
    char both[256];
    snprintf(both, sizeof both, "%sHEAD /health HTTP/1.1\r\nHost: h\r\n\r\n", one);
    struct exchange x;
    exchange_n(r, both, strlen(both), 1, &x);
    T_EQ_INT(x.code, 200);
    T_EQ_INT(x.consumed, strlen(one));
    exchange_n(r, both + x.consumed, strlen(both) - x.consumed, 1, &x);
    T_EQ_INT(x.code, 200);
    T_EQ_INT(x.consumed, strlen(both) - strlen(one));
    struct responder_stats st;
    responder_get_stats(r, &st);
    T_EQ_INT(st.requests_total, 2);
    T_EQ_INT(st.ncodes, 1);
    T_EQ_INT(st.by_code[0].code, 200);
    T_EQ_INT(st.by_code[0].count, 2);
    responder_free(r);
}

TEST(responder_every_prefix_of_a_request_waits)
{
    struct responder *r = new_routed(NULL, NULL);
    const char *req = "GET /healthz?a=b HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n";
    size_t len = strlen(req);
    for (size_t n = 0; n < len; n++) {
        struct exchange x;
        exchange_n(r, req, n, 1, &x);
        if (x.code != 0)
            t_fail(__FILE__, __LINE__, "prefix %zu answered %d", n, x.code);
        T_EQ_INT(x.consumed, 0);
    }
    T_EQ_INT(code_of(r, req), 200);
    responder_free(r);
}

static uint64_t
rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Checks the invariants of one response to arbitrary bytes. Returns 0 if they hold. */
static int
check_any_input(struct responder *r, const char *in, size_t len)
{
    char *copy = malloc(len ? len : 1);
    memcpy(copy, in, len);
    struct buf out;
    buf_init(&out, 1 << 20);
    size_t consumed = 99999;
    int keep = 7;
    int code = responder_handle(r, copy, len, 1, &consumed, &out, &keep);
    int bad = 0;
    if (code == 0)
        bad = out.len != 0 || consumed != 0;
    else if (code < 100 || code > 599)
        bad = 1;
    else
        bad = consumed == 0 || consumed > len || strncmp(buf_str(&out), "HTTP/1.1 ", 9) != 0 ||
              !strstr(buf_str(&out), "\r\nContent-Length: ") ||
              !strstr(buf_str(&out), "\r\n\r\n") || (keep != 0 && keep != 1);
    buf_free(&out);
    free(copy);
    return bad;
}

TEST(responder_fuzz_random_and_mutated_requests)
{
    static const char *const seeds[] = {
        "GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n",
        "HEAD /metrics?x=1 HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
        "POST /readyz HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
    };
    static const char alphabet[] = "\r\n :/?#\t\0\x7f\x80GETHTP1.0";
    struct responder_limits lim = {.max_head_bytes = 256, .max_headers = 8};
    struct responder *r = new_routed(NULL, &lim);
    uint64_t s = 0x9e3779b97f4a7c15ull;
    char in[512];
    for (int iter = 0; iter < 30000; iter++) {
        size_t len;
        if (iter % 3 == 0) { /* random bytes */
            len = rnd(&s) % sizeof in;
            for (size_t i = 0; i < len; i++)
                in[i] = (char)(rnd(&s) & 0xff);
        } else { /* a valid request, mutated and truncated */
            const char *seed = seeds[rnd(&s) % 3];
            len = strlen(seed);
            memcpy(in, seed, len);
            for (int m = (int)(rnd(&s) % 4); m >= 0; m--) {
                size_t at = rnd(&s) % len;
                char c = alphabet[rnd(&s) % (sizeof alphabet - 1)];
                if (rnd(&s) & 1)
                    in[at] = c;
                else if (len < sizeof in - 1) {
                    memmove(in + at + 1, in + at, len - at);
                    in[at] = c;
                    len++;
                }
            }
            len = rnd(&s) % 4 == 0 ? rnd(&s) % (len + 1) : len;
        }
        if (check_any_input(r, in, len) != 0) {
            t_fail(__FILE__, __LINE__, "invariant broken at iteration %d (len %zu)", iter, len);
            break;
        }
    }
    responder_free(r);
}

/* --- over real sockets, driven by the loop ------------------------------------------ */

struct client {
    int fd;
    struct buf in;
    int eof;
    size_t parsed; /* see complete_responses() */
    int nparsed;
};

static int
client_connect(struct client *c, int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    buf_init(&c->in, 16u << 20);
    c->eof = 0;
    c->parsed = 0;
    c->nparsed = 0;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        return -1;
    return fcntl(c->fd, F_SETFL, O_NONBLOCK);
}

static void
client_close(struct client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    buf_free(&c->in);
}

static int
client_send(struct client *c, const char *s)
{
    size_t len = strlen(s);
    return send(c->fd, s, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

static void
client_pump(struct client *c)
{
    char chunk[65536];
    for (;;) {
        ssize_t n = recv(c->fd, chunk, sizeof chunk, 0);
        if (n > 0 && buf_append(&c->in, chunk, (size_t)n) == BUF_OK)
            continue;
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            c->eof = 1;
        return;
    }
}

/* The number of complete responses at the start of the client's input (HEAD: no body).
 * Remembers how far it got, so that polling it while a big body arrives stays cheap. */
static int
complete_responses(struct client *c, int head_only)
{
    const char *start = buf_str(&c->in), *end = start + c->in.len;
    for (;;) {
        const char *p = start + c->parsed;
        const char *hend = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (!hend)
            return c->nparsed;
        const char *cl = memmem(p, (size_t)(hend - p), "Content-Length: ", 16);
        if (!cl)
            return c->nparsed;
        size_t body = head_only ? 0 : strtoul(cl + 16, NULL, 10);
        if ((size_t)(end - (hend + 4)) < body)
            return c->nparsed;
        c->parsed = (size_t)(hend + 4 + body - start);
        c->nparsed++;
    }
}

/* Runs the loop until `want` responses arrived (or, with want < 0, until EOF). 5 s cap. */
static int
drive(struct loop *l, struct client *c, int want, int head_only)
{
    int64_t deadline = time_mono_ms() + 5000;
    while (time_mono_ms() < deadline) {
        loop_run_once(l, 10);
        client_pump(c);
        if (want < 0 ? c->eof : complete_responses(c, head_only) >= want)
            return 0;
    }
    return -1;
}

static int
stat_code(const struct responder *r, int code)
{
    struct responder_stats st;
    responder_get_stats(r, &st);
    for (size_t i = 0; i < st.ncodes; i++)
        if (st.by_code[i].code == code)
            return (int)st.by_code[i].count;
    return 0;
}

/* Runs the loop until the responder has no connection left (the client closed its end). */
static int
drive_until_idle(struct loop *l, const struct responder *r)
{
    struct responder_stats st;
    for (int i = 0; i < 500; i++) {
        responder_get_stats(r, &st);
        if (st.connections_active == 0)
            return 0;
        loop_run_once(l, 10);
    }
    return -1;
}

struct rig {
    struct loop *l;
    struct responder *r;
    int port;
};

static int
rig_start(struct rig *g, const struct responder_limits *lim)
{
    g->l = loop_new();
    g->r = g->l ? new_routed(g->l, lim) : NULL;
    g->port = 0;
    if (!g->r || responder_listen(g->r, "127.0.0.1", 0, &g->port) != 0 || g->port <= 0)
        return -1;
    return 0;
}

static void
rig_stop(struct rig *g)
{
    responder_free(g->r);
    loop_free(g->l);
}

TEST(responder_socket_keep_alive_then_close)
{
    struct rig g;
    struct client c;
    T_EQ_INT(rig_start(&g, NULL), 0);
    T_EQ_INT(client_connect(&c, g.port), 0);
    T_EQ_INT(client_send(&c, "GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    T_EQ_INT(drive(g.l, &c, 1, 0), 0);
    T_CONTAINS(buf_str(&c.in), "HTTP/1.1 200 OK\r\n");
    T_CONTAINS(buf_str(&c.in), "Connection: keep-alive\r\n");
    T_EQ_INT(c.eof, 0);
    T_EQ_INT(client_send(&c, "GET /readyz HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"), 0);
    T_EQ_INT(drive(g.l, &c, -1, 0), 0);
    T_EQ_INT(complete_responses(&c, 0), 2);
    T_CONTAINS(buf_str(&c.in), "HTTP/1.1 503 Service Unavailable\r\n");
    client_close(&c);
    T_EQ_INT(drive_until_idle(g.l, g.r), 0);
    struct responder_stats st;
    responder_get_stats(g.r, &st);
    T_EQ_INT(st.connections_accepted, 1);
    rig_stop(&g);
}

TEST(responder_socket_pipelined_and_split_requests)
{
    struct rig g;
    struct client c;
    T_EQ_INT(rig_start(&g, NULL), 0);
    T_EQ_INT(client_connect(&c, g.port), 0);
    T_EQ_INT(client_send(&c, "GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n"
                             "GET /nope HTTP/1.1\r\nHost: h\r\n\r\n"
                             "GET /health HTTP/1.1\r\nHost: h\r\n\r\n"),
             0);
    T_EQ_INT(drive(g.l, &c, 3, 0), 0);
    const char *p = strstr(buf_str(&c.in), "HTTP/1.1 404");
    T_ASSERT(p && strstr(p, "HTTP/1.1 200"));
    /* One request in three writes, the loop running in between. */
    T_EQ_INT(client_send(&c, "GET /hea"), 0);
    for (int i = 0; i < 3; i++)
        loop_run_once(g.l, 10);
    T_EQ_INT(client_send(&c, "lthz HTTP/1.1\r\nHo"), 0);
    for (int i = 0; i < 3; i++)
        loop_run_once(g.l, 10);
    client_pump(&c);
    T_EQ_INT(complete_responses(&c, 0), 3);
    T_EQ_INT(client_send(&c, "st: h\r\n\r\n"), 0);
    T_EQ_INT(drive(g.l, &c, 4, 0), 0);
    T_EQ_INT(stat_code(g.r, 200), 3);
    T_EQ_INT(stat_code(g.r, 404), 1);
    client_close(&c);
    rig_stop(&g);
}

TEST(responder_socket_head_sends_no_body)
{
    struct rig g;
    struct client c;
    T_EQ_INT(rig_start(&g, NULL), 0);
    T_EQ_INT(client_connect(&c, g.port), 0);
    T_EQ_INT(client_send(&c, "HEAD /healthz HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"), 0);
    T_EQ_INT(drive(g.l, &c, -1, 1), 0);
    T_EQ_STR(buf_str(&c.in), "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
                             "Content-Length: 3\r\nConnection: close\r\n\r\n");
    client_close(&c);
    rig_stop(&g);
}

TEST(responder_socket_oversized_head_and_garbage)
{
    struct rig g;
    struct client c;
    T_EQ_INT(rig_start(&g, NULL), 0);
    T_EQ_INT(client_connect(&c, g.port), 0);
    char big[10000];
    int n = snprintf(big, sizeof big, "GET /healthz HTTP/1.1\r\nHost: h\r\nX-Pad: ");
    memset(big + n, 'p', sizeof big - (size_t)n - 1);
    big[sizeof big - 1] = '\0';
    T_EQ_INT(client_send(&c, big), 0);
    T_EQ_INT(drive(g.l, &c, -1, 0), 0); /* answered, then closed */
    T_ASSERT(strncmp(buf_str(&c.in), "HTTP/1.1 431 ", 13) == 0);
    T_CONTAINS(buf_str(&c.in), "Connection: close\r\n");
    client_close(&c);
    T_EQ_INT(client_connect(&c, g.port), 0);
    T_EQ_INT(client_send(&c, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), 0);
    T_EQ_INT(drive(g.l, &c, -1, 0), 0);
    T_ASSERT(strncmp(buf_str(&c.in), "HTTP/1.1 400 ", 13) == 0);
    client_close(&c);
    /* A body the client sends anyway: answered 413 and closed without a reset. */
    T_EQ_INT(client_connect(&c, g.port), 0);
    T_EQ_INT(client_send(&c, "GET /healthz HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"),
             0);
    T_EQ_INT(drive(g.l, &c, -1, 0), 0);
    T_ASSERT(strncmp(buf_str(&c.in), "HTTP/1.1 413 ", 13) == 0);
    client_close(&c);
    T_EQ_INT(drive_until_idle(g.l, g.r), 0);
    rig_stop(&g);
}

TEST(responder_socket_slow_client_times_out)
{
    struct responder_limits lim = {.timeout_ms = 200};
    struct rig g;
    struct client slow, fast;
    T_EQ_INT(rig_start(&g, &lim), 0);
    T_EQ_INT(client_connect(&slow, g.port), 0);
    int64_t start = time_mono_ms();
    T_EQ_INT(client_send(&slow, "GET /healthz HTTP/1.1\r\n"), 0);
    /* While the slow client dribbles, another is served at once. */
    T_EQ_INT(client_connect(&fast, g.port), 0);
    T_EQ_INT(client_send(&fast, "GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    T_EQ_INT(drive(g.l, &fast, 1, 0), 0);
    struct responder_stats st;
    responder_get_stats(g.r, &st);
    T_EQ_INT(st.connections_timed_out, 0); /* served while the slow one was still held */
    T_EQ_INT(client_send(&slow, "Host: h\r\n"), 0); /* bytes do not extend the deadline */
    T_EQ_INT(drive(g.l, &slow, -1, 0), 0);
    int64_t took = time_mono_ms() - start;
    T_ASSERT(took >= 190 && took < 2000);
    T_EQ_STR(buf_str(&slow.in), "");
    T_EQ_INT(drive(g.l, &fast, -1, 0), 0); /* an idle keep-alive connection times out too */
    responder_get_stats(g.r, &st);
    T_EQ_INT(st.connections_timed_out, 2);
    T_EQ_INT(st.connections_active, 0);
    client_close(&slow);
    client_close(&fast);
    rig_stop(&g);
}

TEST(responder_socket_connection_cap)
{
    struct responder_limits lim = {.max_connections = 2};
    struct rig g;
    struct client a, b, c;
    T_EQ_INT(rig_start(&g, &lim), 0);
    T_EQ_INT(client_connect(&a, g.port), 0);
    T_EQ_INT(client_connect(&b, g.port), 0);
    struct responder_stats st;
    for (int i = 0; i < 100; i++) {
        loop_run_once(g.l, 10);
        responder_get_stats(g.r, &st);
        if (st.connections_active == 2)
            break;
    }
    T_EQ_INT(st.connections_active, 2);
    T_EQ_INT(client_connect(&c, g.port), 0);
    T_EQ_INT(drive(g.l, &c, -1, 0), 0);
    T_ASSERT(strncmp(buf_str(&c.in), "HTTP/1.1 503 ", 13) == 0);
    responder_get_stats(g.r, &st);
    T_EQ_INT(st.connections_rejected, 1);
    /* The held connections still work. */
    T_EQ_INT(client_send(&a, "GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    T_EQ_INT(drive(g.l, &a, 1, 0), 0);
    client_close(&a);
    client_close(&b);
    client_close(&c);
    rig_stop(&g);
}

TEST(responder_socket_requests_per_connection_cap)
{
    struct responder_limits lim = {.max_requests = 2};
    struct rig g;
    struct client c;
    T_EQ_INT(rig_start(&g, &lim), 0);
    T_EQ_INT(client_connect(&c, g.port), 0);
    T_EQ_INT(client_send(&c, "GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n"
                             "GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n"
                             "GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n"),
             0);
    T_EQ_INT(drive(g.l, &c, -1, 0), 0);
    T_EQ_INT(complete_responses(&c, 0), 2);
    const char *second = strstr(buf_str(&c.in) + 1, "HTTP/1.1 200");
    T_ASSERT(second);
    T_CONTAINS(second, "Connection: close\r\n");
    client_close(&c);
    rig_stop(&g);
}

TEST(responder_socket_large_response_partial_writes)
{
    struct rig g;
    struct client c;
    T_EQ_INT(rig_start(&g, NULL), 0);
    T_EQ_INT(client_connect(&c, g.port), 0);
    T_EQ_INT(client_send(&c, "GET /big HTTP/1.1\r\nHost: h\r\n\r\nGET /healthz HTTP/1.1\r\n"
                             "Host: h\r\n\r\n"),
             0);
    for (int i = 0; i < 5; i++) /* the client does not read: the responder must not block */
        loop_run_once(g.l, 10);
    T_EQ_INT(drive(g.l, &c, 2, 0), 0);
    const char *body = strstr(buf_str(&c.in), "\r\n\r\n") + 4;
    T_ASSERT(strncmp(body, "0123456789abcdef0123", 20) == 0);
    T_CONTAINS(body + big_len, "HTTP/1.1 200 OK\r\n");
    T_EQ_INT(complete_responses(&c, 0), 2);
    client_close(&c);
    rig_stop(&g);
}

TEST(responder_socket_several_listeners_and_bad_addresses)
{
    struct rig g;
    int port2 = 0;
    T_EQ_INT(rig_start(&g, NULL), 0);
    T_EQ_INT(responder_listen(g.r, "localhost", 0, &port2), 0);
    T_ASSERT(port2 > 0 && port2 != g.port);
    struct client c;
    T_EQ_INT(client_connect(&c, port2), 0);
    T_EQ_INT(client_send(&c, "GET /metrics HTTP/1.0\r\n\r\n"), 0);
    T_EQ_INT(drive(g.l, &c, -1, 0), 0);
    T_CONTAINS(buf_str(&c.in), "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n");
    T_CONTAINS(buf_str(&c.in), "omjob_metrics_dropped_series_total");
    client_close(&c);
    int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    log_set_fd(fd);
    T_EQ_INT(responder_listen(g.r, "not-an-address", 0, NULL), -1);
    T_EQ_INT(responder_listen(g.r, "127.0.0.1", 70000, NULL), -1);
    T_EQ_INT(responder_listen(g.r, "127.0.0.1", g.port, NULL), -1); /* in use */
    T_EQ_INT(errno, EADDRINUSE);
    log_set_fd(-1);
    close(fd);
    rig_stop(&g);
}

TEST(responder_free_closes_open_connections)
{
    struct rig g;
    struct client c;
    T_EQ_INT(rig_start(&g, NULL), 0);
    T_EQ_INT(client_connect(&c, g.port), 0);
    T_EQ_INT(client_send(&c, "GET /healthz HTTP/1.1\r\nHost: h\r\n\r\nGET /he"), 0);
    T_EQ_INT(drive(g.l, &c, 1, 0), 0);
    responder_free(g.r); /* a connection mid-request and a listener: all closed and freed */
    g.r = NULL;
    for (int i = 0; i < 100 && !c.eof; i++) {
        loop_run_once(g.l, 10);
        client_pump(&c);
    }
    T_EQ_INT(c.eof, 1);
    struct loop_stats ls;
    loop_get_stats(g.l, &ls);
    T_EQ_INT(ls.fds_watched, 0);
    T_EQ_INT(ls.timers_pending, 0);
    client_close(&c);
    loop_free(g.l);
}

TEST(responder_exports_its_counters_as_metrics)
{
    metrics_reset_all();
    struct responder *r = new_routed(NULL, NULL);
    T_EQ_INT(responder_register_metrics(r), 0);
    T_EQ_INT(code_of(r, "GET /nope HTTP/1.1\r\nHost: h\r\n\r\n"), 404);
    struct exchange x;
    const char *req = "GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n";
    exchange_n(r, req, strlen(req), 1, &x);
    T_EQ_INT(x.code, 200);
    T_CONTAINS(x.out, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n");
    /* The scrape sees the counts from before it: the 404 only. */
    T_CONTAINS(x.out, "\nomjob_http_requests_total{code=\"404\"} 1\n");
    T_CONTAINS(x.out, "\nomjob_http_connections_total{result=\"accepted\"} 0\n");
    T_CONTAINS(x.out, "\nomjob_http_connections_active 0\n");
    exchange_n(r, req, strlen(req), 1, &x);
    T_CONTAINS(x.out, "\nomjob_http_requests_total{code=\"200\"} 1\n");
    responder_free(r);
    struct buf b;
    buf_init(&b, 1 << 16);
    T_EQ_INT(metrics_render(&b), BUF_OK); /* the hook left with the responder */
    buf_free(&b);
    metrics_reset_all();
}

static int
h_code(void *arg, struct buf *body, const char **content_type)
{
    (void)body;
    (void)content_type;
    return *(const int *)arg;
}

TEST(responder_status_counts_overflow_into_other)
{
    static int codes[RESPONDER_MAX_ROUTES];
    struct responder *r = responder_new(NULL, NULL);
    char path[32], req[128];
    for (int i = 0; i < RESPONDER_MAX_ROUTES; i++) {
        codes[i] = 201 + i;
        snprintf(path, sizeof path, "/c%d", i);
        T_EQ_INT(responder_route(r, path, h_code, &codes[i]), 0);
    }
    for (int i = 0; i < RESPONDER_MAX_ROUTES + 2; i++) {
        snprintf(req, sizeof req, "GET /c%d HTTP/1.1\r\nHost: h\r\n\r\n",
                 i < RESPONDER_MAX_ROUTES ? i : i - 2);
        T_ASSERT(code_of(r, req) > 200);
    }
    struct responder_stats st;
    responder_get_stats(r, &st);
    T_EQ_INT(st.requests_total, RESPONDER_MAX_ROUTES + 2);
    T_EQ_INT(st.ncodes, RESPONDER_MAX_CODES);
    T_EQ_INT(st.by_code[RESPONDER_MAX_CODES - 1].code, 0); /* "other" */
    T_EQ_INT(st.by_code[RESPONDER_MAX_CODES - 1].count, 2); /* 216 twice */
    T_EQ_INT(st.by_code[RESPONDER_MAX_CODES - 2].count, 2); /* 215 twice: it has its own slot */
    responder_free(r);
}

TEST(responder_body_cap_turns_into_500)
{
    struct responder_limits lim = {.max_body_bytes = 1024};
    struct responder *r = new_routed(NULL, &lim);
    struct exchange x;
    const char *req = "GET /big HTTP/1.1\r\nHost: h\r\n\r\n";
    exchange_n(r, req, strlen(req), 1, &x);
    T_EQ_INT(x.code, 500);
    T_CONTAINS(x.out, "HTTP/1.1 500 Internal Server Error\r\n");
    T_CONTAINS(x.out, "Content-Length: 0\r\n");
    responder_free(r);
}

TEST(responder_socket_half_closed_client_still_answered)
{
    struct rig g;
    struct client c;
    T_EQ_INT(rig_start(&g, NULL), 0);
    T_EQ_INT(client_connect(&c, g.port), 0);
    T_EQ_INT(client_send(&c, "GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n"
                             "GET /health HTTP/1.1\r\nHost: h\r\n\r\n"),
             0);
    T_EQ_INT(shutdown(c.fd, SHUT_WR), 0);
    T_EQ_INT(drive(g.l, &c, -1, 0), 0);
    T_EQ_INT(complete_responses(&c, 0), 2);
    T_EQ_INT(drive_until_idle(g.l, g.r), 0);
    client_close(&c);
    rig_stop(&g);
}

TEST(responder_socket_accept_pauses_when_out_of_fds)
{
    struct rig g;
    struct client c;
    T_EQ_INT(rig_start(&g, NULL), 0);
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    T_EQ_INT(client_connect(&c, g.port), 0);
    /* No fd number is free below the limit: accept() fails with EMFILE. */
    struct rlimit old, low;
    T_EQ_INT(getrlimit(RLIMIT_NOFILE, &old), 0);
    int lowest_free = dup(devnull);
    close(lowest_free);
    low = old;
    low.rlim_cur = (rlim_t)lowest_free;
    log_set_fd(devnull);
    T_EQ_INT(setrlimit(RLIMIT_NOFILE, &low), 0);
    loop_run_once(g.l, 10);
    int64_t t0 = time_mono_ms();
    loop_run_once(g.l, 30); /* the listener is paused: poll() sleeps instead of spinning */
    int64_t waited = time_mono_ms() - t0;
    T_EQ_INT(setrlimit(RLIMIT_NOFILE, &old), 0);
    log_set_fd(-1);
    close(devnull);
    struct responder_stats st;
    responder_get_stats(g.r, &st);
    T_ASSERT(st.connections_rejected >= 1);
    T_EQ_INT(st.connections_accepted, 0);
    T_ASSERT(waited >= 25);
    /* Accepting resumes by itself, and the waiting client is served. */
    T_EQ_INT(client_send(&c, "GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    T_EQ_INT(drive(g.l, &c, 1, 0), 0);
    T_CONTAINS(buf_str(&c.in), "HTTP/1.1 200 OK\r\n");
    client_close(&c);
    rig_stop(&g);
}
