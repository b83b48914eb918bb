#include "http/responder.h"

#include "http/metrics.h"
#include "loop.h"
#include "util/buf.h"
#include "util/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_CONTENT_TYPE "text/plain; charset=utf-8"
#define ROUTE_PATH_MAX 128
#define RESPONSE_HEAD_MAX 512 /* our own status line and headers */
#define ACCEPTS_PER_WAKEUP 32
#define ACCEPT_PAUSE_MS 100 /* after EMFILE and the like: let fds free up */

struct route {
    char path[ROUTE_PATH_MAX];
    responder_handler fn;
    void *arg;
};

struct listener {
    struct responder *r;
    int fd;
    uint64_t resume_timer; /* non-zero while accepting is paused */
};

/* One client connection. Backpressure: a new request is parsed only once the previous response
 * is fully written, and nothing is read while a response is pending, so `in` never exceeds
 * max_head_bytes and `out` never holds more than one response. */
struct conn {
    struct conn *prev, *next;
    struct responder *r;
    int fd;
    uint64_t timer;
    struct buf in;
    struct buf out;
    size_t out_sent;
    unsigned requests;
    int closing;  /* close once out is written */
    int read_eof; /* the peer will send nothing more */
};

struct responder {
    struct loop *loop;
    struct responder_limits lim;
    struct route routes[RESPONDER_MAX_ROUTES];
    size_t nroutes;
    struct listener listeners[RESPONDER_MAX_LISTENERS];
    size_t nlisteners;
    struct conn *conns;
    struct responder_stats stats;
    struct metric *m_requests, *m_connections, *m_active;
    int scrape_hooked;
};

/* A parsed request head. Pointers point into the caller's input. */
struct request {
    const char *method;
    size_t method_len;
    const char *path; /* without the query string */
    size_t path_len;
    int minor; /* HTTP/1.minor */
    unsigned hosts;
    int conn_close;
    int conn_keep_alive;
};

/* --- limits and routes -------------------------------------------------------------- */

void
responder_limits_default(struct responder_limits *lim)
{
    lim->max_head_bytes = 8192;
    lim->max_headers = 64;
    lim->max_connections = 64;
    lim->max_requests = 100;
    lim->timeout_ms = 5000;
    lim->max_body_bytes = 8u << 20;
}

struct responder *
responder_new(struct loop *l, const struct responder_limits *lim)
{
    struct responder *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    struct responder_limits def;
    responder_limits_default(&def);
    r->loop = l;
    r->lim = lim ? *lim : def;
    if (!r->lim.max_head_bytes)
        r->lim.max_head_bytes = def.max_head_bytes;
    if (!r->lim.max_headers)
        r->lim.max_headers = def.max_headers;
    if (!r->lim.max_connections)
        r->lim.max_connections = def.max_connections;
    if (!r->lim.max_requests)
        r->lim.max_requests = def.max_requests;
    if (r->lim.timeout_ms <= 0)
        r->lim.timeout_ms = def.timeout_ms;
    if (!r->lim.max_body_bytes)
        r->lim.max_body_bytes = def.max_body_bytes;
    return r;
}

int
responder_route(struct responder *r, const char *path, responder_handler fn, void *arg)
{
    if (!path || path[0] != '/' || strlen(path) >= ROUTE_PATH_MAX || !fn)
        return -1;
    size_t i = 0;
    while (i < r->nroutes && strcmp(r->routes[i].path, path) != 0)
        i++;
    if (i == RESPONDER_MAX_ROUTES)
        return -1;
    if (i == r->nroutes) {
        memcpy(r->routes[i].path, path, strlen(path) + 1);
        r->nroutes++;
    }
    r->routes[i].fn = fn;
    r->routes[i].arg = arg;
    return 0;
}

static const struct route *
route_find(const struct responder *r, const char *path, size_t len)
{
    for (size_t i = 0; i < r->nroutes; i++)
        if (strlen(r->routes[i].path) == len && memcmp(r->routes[i].path, path, len) == 0)
            return &r->routes[i];
    return NULL;
}

static void
count_status(struct responder *r, int code)
{
    struct responder_stats *s = &r->stats;
    s->requests_total++;
    for (size_t i = 0; i < s->ncodes; i++) {
        if (s->by_code[i].code == code || (s->by_code[i].code == 0 && i == s->ncodes - 1 &&
                                           s->ncodes == RESPONDER_MAX_CODES)) {
            s->by_code[i].count++;
            return;
        }
    }
    if (s->ncodes == RESPONDER_MAX_CODES)
        return; /* unreachable: the overflow slot matches above */
    s->by_code[s->ncodes].code = s->ncodes == RESPONDER_MAX_CODES - 1 ? 0 : code;
    s->by_code[s->ncodes].count = 1;
    s->ncodes++;
}

void
responder_get_stats(const struct responder *r, struct responder_stats *out)
{
    *out = r->stats;
}

static void
responder_scrape(void *arg)
{
    const struct responder *r = arg;
    const struct responder_stats *s = &r->stats;
    char code[16];
    for (size_t i = 0; i < s->ncodes; i++) {
        if (s->by_code[i].code)
            snprintf(code, sizeof code, "%d", s->by_code[i].code);
        else
            memcpy(code, "other", 6);
        metrics_set(r->m_requests, (double)s->by_code[i].count, code);
    }
    metrics_set(r->m_connections, (double)s->connections_accepted, "accepted");
    metrics_set(r->m_connections, (double)s->connections_rejected, "rejected");
    metrics_set(r->m_connections, (double)s->connections_timed_out, "timed_out");
    metrics_set(r->m_active, (double)s->connections_active);
}

int
responder_register_metrics(struct responder *r)
{
    r->m_requests = metrics_counter("omjob_http_requests_total",
                                    "Requests answered by the health and metrics responder.",
                                    (const char *const[]){"code", NULL});
    r->m_connections = metrics_counter("omjob_http_connections_total",
                                       "Connections to the responder by outcome (accepted, "
                                       "rejected over the limit, timed out).",
                                       (const char *const[]){"result", NULL});
    r->m_active = metrics_gauge("omjob_http_connections_active",
                                "Open connections to the responder.", NULL);
    if (!r->m_requests || !r->m_connections || !r->m_active ||
        metrics_on_scrape(responder_scrape, r) != 0)
        return -1;
    r->scrape_hooked = 1;
    return 0;
}

/* --- parsing: RFC 9112 syntax, strictly ----------------------------------------------- */

static int
is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Visible ASCII, space, tab and obs-text: what a header value may hold. */
static int
is_field_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* Finds the end of the request head (after the empty line). Leading empty lines are allowed
 * (RFC 9112 2.2). Returns the head's length including the terminator, or 0 if incomplete. */
static size_t
head_length(const char *in, size_t len)
{
    size_t line_start = 0;
    int seen_request_line = 0;
    for (size_t i = 0; i < len; i++) {
        if (in[i] != '\n')
            continue;
        size_t line_len = i - line_start;
        if (line_len > 0 && in[i - 1] == '\r')
            line_len--;
        if (line_len == 0 && seen_request_line)
            return i + 1;
        if (line_len > 0)
            seen_request_line = 1;
        line_start = i + 1;
    }
    return 0;
}

/* Takes the next line from [*p, end): sets *line and *line_len, without its CRLF or LF. */
static void
next_line(const char **p, const char *end, const char **line, size_t *line_len)
{
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    if (!nl)
        nl = end;
    *line = *p;
    *line_len = (size_t)(nl - *p);
    if (*line_len > 0 && (*line)[*line_len - 1] == '\r')
        (*line_len)--;
    *p = nl < end ? nl + 1 : end;
}

/* method SP origin-form SP HTTP/1.x. Returns 0, 400 or 505. */
static int
parse_request_line(const char *s, size_t len, struct request *req)
{
    size_t i = 0;
    while (i < len && is_tchar((unsigned char)s[i]))
        i++;
    if (i == 0 || i == len || s[i] != ' ')
        return 400;
    req->method = s;
    req->method_len = i++;
    size_t target = i;
    while (i < len && (unsigned char)s[i] > 0x20 && (unsigned char)s[i] < 0x7f)
        i++;
    if (i == target || i == len || s[i] != ' ' || s[target] != '/')
        return 400;
    req->path = s + target;
    req->path_len = 0;
    while (req->path_len < i - target && req->path[req->path_len] != '?' &&
           req->path[req->path_len] != '#')
        req->path_len++;
    const char *v = s + i + 1;
    size_t vlen = len - i - 1;
    if (vlen != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' || v[6] != '.' ||
        v[7] < '0' || v[7] > '9')
        return 400;
    if (v[5] != '1')
        return 505;
    req->minor = v[7] - '0';
    return 0;
}

static int
token_eq(const char *s, size_t len, const char *word)
{
    return strlen(word) == len && strncasecmp(s, word, len) == 0;
}

/* The comma-separated options of a Connection header. */
static void
parse_connection(const char *v, size_t len, struct request *req)
{
    size_t i = 0;
    while (i < len) {
        while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t start = i;
        while (i < len && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
            i++;
        if (token_eq(v + start, i - start, "close"))
            req->conn_close = 1;
        else if (token_eq(v + start, i - start, "keep-alive"))
            req->conn_keep_alive = 1;
    }
}

/* A Content-Length of 0 is the only one we accept: 1*DIGIT of value zero. */
static int
content_length_is_zero(const char *v, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (v[i] != '0')
            return 0;
    return 1;
}

static int
content_length_is_number(const char *v, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (v[i] < '0' || v[i] > '9')
            return 0;
    return 1;
}

/* name ":" OWS value OWS. Returns 0, 400 (malformed) or 413 (a request body). */
static int
parse_header(const char *s, size_t len, struct request *req)
{
    size_t i = 0;
    while (i < len && is_tchar((unsigned char)s[i]))
        i++;
    if (i == 0 || i == len || s[i] != ':') /* also rejects obs-fold and space before ':' */
        return 400;
    size_t name_len = i++;
    for (size_t j = i; j < len; j++)
        if (!is_field_char((unsigned char)s[j]))
            return 400;
    while (i < len && (s[i] == ' ' || s[i] == '\t'))
        i++;
    while (len > i && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    const char *v = s + i;
    size_t vlen = len - i;
    if (token_eq(s, name_len, "host"))
        req->hosts++;
    else if (token_eq(s, name_len, "connection"))
        parse_connection(v, vlen, req);
    else if (token_eq(s, name_len, "transfer-encoding"))
        return 400;
    else if (token_eq(s, name_len, "content-length"))
        return content_length_is_zero(v, vlen) ? 0 : content_length_is_number(v, vlen) ? 413 : 400;
    return 0;
}

/* Parses a complete head. Returns 0, or the error status to send. */
static int
parse_head(const struct responder *r, const char *head, size_t len, struct request *req)
{
    const char *p = head, *end = head + len, *line = head;
    size_t line_len = 0;
    memset(req, 0, sizeof *req);
    while (p < end && line_len == 0)
        next_line(&p, end, &line, &line_len); /* skips leading empty lines */
    int rc = parse_request_line(line, line_len, req);
    unsigned nheaders = 0;
    while (rc == 0) {
        next_line(&p, end, &line, &line_len);
        if (line_len == 0)
            break;
        if (++nheaders > r->lim.max_headers)
            return 431;
        rc = parse_header(line, line_len, req);
    }
    if (rc == 0 && (req->hosts > 1 || (req->minor >= 1 && req->hosts == 0)))
        rc = 400; /* RFC 9112 3.2 */
    return rc;
}

/* Rejects early what can never become a valid request: a first line whose method holds a
 * non-token byte (binary junk, TLS handshakes), or a complete but malformed request line. */
static int
early_error(const char *in, size_t len)
{
    size_t i = 0;
    while (i < len && (in[i] == '\r' || in[i] == '\n'))
        i++;
    size_t start = i;
    while (i < len && is_tchar((unsigned char)in[i]))
        i++;
    if (i < len && in[i] != ' ')
        return 400;
    const char *nl = memchr(in + start, '\n', len - start);
    if (!nl)
        return 0;
    struct request req;
    size_t line_len = (size_t)(nl - (in + start));
    if (line_len > 0 && nl[-1] == '\r')
        line_len--;
    return parse_request_line(in + start, line_len, &req);
}

/* --- responses ---------------------------------------------------------------------- */

static const char *
reason_phrase(int code)
{
    switch (code) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

/* Appends the whole response, or nothing (out unchanged) if it does not fit. */
static int
append_response(struct buf *out, int code, const char *content_type, const char *body,
                size_t body_len, int send_body, int keep_alive)
{
    size_t start = out->len;
    int rc = buf_printf(out,
                        "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                        "Connection: %s\r\n%s\r\n",
                        code, reason_phrase(code), content_type, body_len,
                        keep_alive ? "keep-alive" : "close",
                        code == 405 ? "Allow: GET, HEAD\r\n" : "");
    if (rc == BUF_OK && send_body)
        rc = buf_append(out, body, body_len);
    if (rc != BUF_OK) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
        return -1;
    }
    return 0;
}

/* An error response with a one-line text body. */
static int
append_error(struct buf *out, int code, int send_body, int keep_alive)
{
    char body[64];
    int n = snprintf(body, sizeof body, "%s\n", reason_phrase(code));
    return append_response(out, code, DEFAULT_CONTENT_TYPE, body, (size_t)n, send_body,
                           keep_alive);
}

/* Runs the route's handler and appends its response. */
static int
append_routed(const struct responder *r, const struct route *route, struct buf *out,
              int send_body, int keep_alive)
{
    struct buf body;
    buf_init(&body, r->lim.max_body_bytes);
    const char *content_type = DEFAULT_CONTENT_TYPE;
    int code = route->fn(route->arg, &body, &content_type);
    int rc;
    if (code < 200 || code > 599 || code == 204 || code == 304 || !content_type ||
        strlen(content_type) > 100 || strpbrk(content_type, "\r\n")) {
        code = 500;
        rc = append_error(out, code, send_body, keep_alive);
    } else {
        rc = append_response(out, code, content_type, buf_str(&body), body.len, send_body,
                             keep_alive);
    }
    buf_free(&body);
    return rc < 0 ? -1 : code;
}

int
responder_handle(struct responder *r, const char *in, size_t len, int allow_keep_alive,
                 size_t *consumed, struct buf *out, int *keep_alive)
{
    struct request req;
    *consumed = 0;
    *keep_alive = 0;
    size_t head_len = head_length(in, len > r->lim.max_head_bytes ? r->lim.max_head_bytes : len);
    int code = 0;
    if (head_len == 0) {
        code = early_error(in, len);
        if (code == 0 && len < r->lim.max_head_bytes)
            return 0;
        if (code == 0)
            code = 431;
    } else {
        code = parse_head(r, in, head_len, &req);
    }
    if (code != 0) { /* the stream cannot be trusted past a bad request: close */
        *consumed = len;
        count_status(r, code);
        return append_error(out, code, 1, 0) < 0 ? -1 : code;
    }
    *consumed = head_len;
    int is_get = req.method_len == 3 && memcmp(req.method, "GET", 3) == 0;
    int is_head = req.method_len == 4 && memcmp(req.method, "HEAD", 4) == 0;
    *keep_alive = allow_keep_alive && !req.conn_close && (req.minor >= 1 || req.conn_keep_alive);
    const struct route *route = route_find(r, req.path, req.path_len);
    if (!is_get && !is_head)
        code = append_error(out, 405, 1, *keep_alive) < 0 ? -1 : 405;
    else if (!route)
        code = append_error(out, 404, !is_head, *keep_alive) < 0 ? -1 : 404;
    else
        code = append_routed(r, route, out, !is_head, *keep_alive);
    if (code > 0)
        count_status(r, code);
    return code;
}

/* --- connections -------------------------------------------------------------------- */

#define LINGER_DRAIN_MAX (64u << 10) /* bytes read and dropped after the last response */

static void conn_on_io(struct loop *l, int fd, unsigned events, void *arg);

static void
conn_close(struct conn *c)
{
    struct responder *r = c->r;
    loop_fd_unwatch(r->loop, c->fd);
    loop_timer_cancel(r->loop, c->timer);
    close(c->fd);
    c->fd = -1;
    if (c->prev)
        c->prev->next = c->next;
    else
        r->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    r->stats.connections_active--;
    buf_free(&c->in);
    buf_free(&c->out);
    free(c);
}

static void
conn_on_timeout(struct loop *l, void *arg)
{
    struct conn *c = arg;
    (void)l;
    c->timer = 0; /* fired */
    c->r->stats.connections_timed_out++;
    conn_close(c);
}

static int
conn_arm_timer(struct conn *c)
{
    loop_timer_cancel(c->r->loop, c->timer);
    c->timer = loop_timer_add(c->r->loop, c->r->lim.timeout_ms, conn_on_timeout, c);
    return c->timer ? 0 : -1;
}

/* Writes what the socket takes. Returns 1 when out is all written, 0 when the socket is full,
 * -1 on error. */
static int
conn_flush(struct conn *c)
{
    while (c->out_sent < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + c->out_sent, c->out.len - c->out_sent,
                         MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (n <= 0)
            return -1;
        c->out_sent += (size_t)n;
    }
    buf_reset(&c->out);
    c->out_sent = 0;
    return 1;
}

/* Reads what is available, never past in's cap. Returns 0, or -1 on error. */
static int
conn_read(struct conn *c)
{
    char chunk[4096];
    size_t room = c->in.limit - c->in.len;
    if (room == 0)
        return 0;
    ssize_t n;
    do
        n = recv(c->fd, chunk, room < sizeof chunk ? room : sizeof chunk, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    if (n == 0) {
        c->read_eof = 1;
        return 0;
    }
    return buf_append(&c->in, chunk, (size_t)n) == BUF_OK ? 0 : -1;
}

/* Answers complete requests for as long as the socket takes the responses.
 * Returns 0 to wait for the socket, 1 when the connection is done (last response written),
 * -1 when it must close at once. */
static int
conn_serve(struct conn *c)
{
    for (;;) {
        int had_response = c->out.len > 0;
        int rc = conn_flush(c);
        if (rc <= 0)
            return rc;
        if (c->closing)
            return 1;
        if (had_response && conn_arm_timer(c) < 0) /* a new request window begins */
            return -1;
        size_t consumed;
        int keep_alive;
        int allow = c->requests + 1 < c->r->lim.max_requests;
        int code = responder_handle(c->r, buf_str(&c->in), c->in.len, allow, &consumed, &c->out,
                                    &keep_alive);
        if (code < 0)
            return -1;
        if (code == 0)
            return c->read_eof ? -1 : 0;
        buf_consume(&c->in, consumed);
        c->requests++;
        c->closing = !keep_alive;
    }
}

/* After the last response: send FIN and drain what the client still sends, so that closing
 * with unread input does not reset the connection before the client reads the response. */
static void
conn_linger_read(struct conn *c)
{
    char scratch[4096];
    for (size_t drained = 0; drained < LINGER_DRAIN_MAX;) {
        ssize_t n = recv(c->fd, scratch, sizeof scratch, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0)
            break;
        drained += (size_t)n;
    }
    conn_close(c);
}

static void
conn_on_linger(struct loop *l, int fd, unsigned events, void *arg)
{
    (void)l;
    (void)fd;
    struct conn *c = arg;
    if (events & LOOP_ERROR)
        conn_close(c);
    else
        conn_linger_read(c);
}

static void
conn_finish(struct conn *c)
{
    if (c->read_eof || shutdown(c->fd, SHUT_WR) != 0 ||
        loop_fd_watch(c->r->loop, c->fd, LOOP_READ, conn_on_linger, c) != 0)
        conn_close(c);
}

static void
conn_on_io(struct loop *l, int fd, unsigned events, void *arg)
{
    (void)fd;
    struct conn *c = arg;
    if ((events & LOOP_ERROR) || ((events & LOOP_READ) && conn_read(c) < 0)) {
        conn_close(c);
        return;
    }
    int rc = conn_serve(c);
    if (rc < 0) {
        conn_close(c);
        return;
    }
    if (rc > 0) {
        conn_finish(c);
        return;
    }
    unsigned want = c->out.len ? LOOP_WRITE : LOOP_READ;
    if (loop_fd_watch(l, c->fd, want, conn_on_io, c) != 0)
        conn_close(c);
}

static void
conn_start(struct responder *r, int fd)
{
    static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\n"
                               "Content-Type: " DEFAULT_CONTENT_TYPE "\r\n"
                               "Content-Length: 20\r\nConnection: close\r\n\r\n"
                               "Service Unavailable\n";
    struct conn *c = NULL;
    if (r->stats.connections_active < r->lim.max_connections)
        c = calloc(1, sizeof *c);
    if (!c) { /* best effort: one non-blocking send, then close */
        ssize_t n = send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)n;
        close(fd);
        r->stats.connections_rejected++;
        return;
    }
    c->r = r;
    c->fd = fd;
    buf_init(&c->in, r->lim.max_head_bytes);
    buf_init(&c->out, r->lim.max_body_bytes + RESPONSE_HEAD_MAX);
    c->next = r->conns;
    if (r->conns)
        r->conns->prev = c;
    r->conns = c;
    r->stats.connections_active++;
    r->stats.connections_accepted++;
    if (conn_arm_timer(c) != 0 || loop_fd_watch(r->loop, fd, LOOP_READ, conn_on_io, c) != 0)
        conn_close(c);
}

/* --- listeners ---------------------------------------------------------------------- */

static void listener_on_accept(struct loop *l, int fd, unsigned events, void *arg);

static void
listener_resume(struct loop *l, void *arg)
{
    struct listener *ls = arg;
    ls->resume_timer = 0;
    if (loop_fd_watch(l, ls->fd, LOOP_READ, listener_on_accept, ls) != 0)
        log_error("responder: cannot resume accepting", "error", "out of memory");
}

/* accept() failing for lack of fds or memory leaves the listener readable: without a pause
 * the loop would spin. */
static void
listener_pause(struct listener *ls, int err)
{
    struct loop *l = ls->r->loop;
    log_warn("responder: accept failed, pausing", "error", strerror(err));
    ls->r->stats.connections_rejected++;
    ls->resume_timer = loop_timer_add(l, ACCEPT_PAUSE_MS, listener_resume, ls);
    if (ls->resume_timer)
        loop_fd_watch(l, ls->fd, 0, listener_on_accept, ls);
}

static void
listener_on_accept(struct loop *l, int fd, unsigned events, void *arg)
{
    (void)l;
    (void)events;
    struct listener *ls = arg;
    for (int i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd >= 0) {
            conn_start(ls->r, cfd);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            listener_pause(ls, errno);
        return;
    }
}

static int
parse_listen_addr(const char *addr, int port, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (!addr || !*addr)
        addr = "0.0.0.0";
    else if (strcmp(addr, "localhost") == 0)
        addr = "127.0.0.1";
    if (inet_pton(AF_INET, addr, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        *len = sizeof *in4;
        return 0;
    }
    if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *len = sizeof *in6;
        return 0;
    }
    return -1;
}

/* A bound, listening, non-blocking socket; its port in *bound_port. Returns the fd or -1. */
static int
listen_socket(const char *addr, int port, int *bound_port)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (port < 0 || port > 65535 || parse_listen_addr(addr, port, &ss, &len) != 0) {
        errno = EINVAL;
        return -1;
    }
    int one = 1;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 128) != 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    *bound_port = ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
                                          : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return fd;
}

int
responder_listen(struct responder *r, const char *addr, int port, int *bound_port)
{
    int bound = 0, fd = -1;
    if (!r->loop || r->nlisteners == RESPONDER_MAX_LISTENERS)
        errno = EINVAL;
    else
        fd = listen_socket(addr, port, &bound);
    if (fd >= 0) {
        struct listener *ls = &r->listeners[r->nlisteners];
        ls->r = r;
        ls->fd = fd;
        ls->resume_timer = 0;
        if (loop_fd_watch(r->loop, fd, LOOP_READ, listener_on_accept, ls) == 0) {
            r->nlisteners++;
            if (bound_port)
                *bound_port = bound;
            return 0;
        }
        close(fd);
        errno = ENOMEM;
    }
    int saved = errno;
    char port_text[16];
    snprintf(port_text, sizeof port_text, "%d", port);
    log_warn("responder: cannot listen", "address", addr ? addr : "", "port", port_text, "error",
             strerror(saved));
    errno = saved;
    return -1;
}

void
responder_free(struct responder *r)
{
    if (!r)
        return;
    if (r->scrape_hooked)
        metrics_on_scrape_remove(responder_scrape, r);
    while (r->conns)
        conn_close(r->conns);
    for (size_t i = 0; i < r->nlisteners; i++) {
        struct listener *ls = &r->listeners[i];
        loop_fd_unwatch(r->loop, ls->fd);
        loop_timer_cancel(r->loop, ls->resume_timer);
        close(ls->fd);
        ls->fd = -1;
    }
    free(r);
}
