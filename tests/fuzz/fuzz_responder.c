/* HTTP requests to the responder (http/responder.c responder_handle): /healthz, /readyz,
 * /metrics and /info, reachable by anything on the pod network.
 * Input: 1 flags byte (bit 0: tight limits, bit 1: keep-alive not allowed) then the bytes a
 * client sent; requests are served one after the other as on one connection.
 * Invariants: each answer is one well-formed response whose status line carries the code
 * returned, with Content-Length equal to the body sent (none for HEAD) and a Connection
 * header that agrees with keep_alive; consumed never exceeds the input and a kept-alive
 * request consumes something (no loop without progress); a request head over the limit is
 * refused with 431, never buffered past it. */
#include "fuzz.h"

#include "http/responder.h"
#include "util/buf.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static struct responder *wide, *tight;

static int
h_ok(void *arg, struct buf *body, const char **content_type)
{
    (void)arg;
    *content_type = "text/plain; version=0.0.4";
    return buf_appends(body, "ok\n") == BUF_OK ? 200 : 500;
}

static int
h_unready(void *arg, struct buf *body, const char **content_type)
{
    (void)arg;
    (void)content_type;
    buf_appends(body, "not ready\n");
    return 503;
}

static int
h_big(void *arg, struct buf *body, const char **content_type)
{
    (void)arg;
    (void)content_type;
    for (int i = 0; i < 100; i++)
        if (buf_appends(body, "0123456789abcdef0123456789abcdef0123456789abcdef\n") != BUF_OK)
            return 500;
    return 200;
}

static void
routes(struct responder *r)
{
    responder_route(r, "/healthz", h_ok, NULL);
    responder_route(r, "/readyz", h_unready, NULL);
    responder_route(r, "/metrics", h_big, NULL);
    responder_route(r, "/info", h_ok, NULL);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet();
    wide = responder_new(NULL, NULL);
    struct responder_limits lim;
    responder_limits_default(&lim);
    lim.max_head_bytes = 200;
    lim.max_headers = 4;
    lim.max_body_bytes = 1000; /* /metrics exceeds it: 500 */
    tight = responder_new(NULL, &lim);
    if (!wide || !tight) abort();
    routes(wide);
    routes(tight);
    return 0;
}

static void
check_response(const char *req, size_t reqlen, const struct buf *out, int code, int keep_alive,
               size_t max_head)
{
    FUZZ_CHECK(code >= 200 && code <= 599, "code %d", code);
    FUZZ_CHECK(out->len > 12 && !memcmp(out->data, "HTTP/1.1 ", 9), "status line");
    char want[16];
    snprintf(want, sizeof want, "%d ", code);
    FUZZ_CHECK(!memcmp(out->data + 9, want, 4), "status line says %.3s, returned %d",
               out->data + 9, code);
    const char *end = memmem(out->data, out->len, "\r\n\r\n", 4);
    FUZZ_CHECK(end != NULL, "no end of head");
    size_t head = (size_t)(end - out->data) + 4, body = out->len - head;
    FUZZ_CHECK(memchr(out->data, '\0', head) == NULL, "NUL in the response head");
    for (const char *p = out->data; p < end; p++)
        FUZZ_CHECK(*p != '\n' || p[-1] == '\r', "bare LF in the response head");
    const char *cl = memmem(out->data, head, "\r\nContent-Length: ", 18);
    FUZZ_CHECK(cl != NULL, "no Content-Length");
    size_t n = strtoul(cl + 18, NULL, 10);
    while (reqlen > 0 && (*req == '\r' || *req == '\n')) { /* empty lines before a request */
        req++;
        reqlen--;
    }
    int is_head = reqlen >= 5 && !memcmp(req, "HEAD ", 5) && code != 405 && code != 400 &&
                  code != 431 && code != 505 && code != 501;
    FUZZ_CHECK(body == n || (is_head && body == 0), "Content-Length %zu, body %zu", n, body);
    int says_close = memmem(out->data, head, "\r\nConnection: close\r\n", 21) != NULL;
    int says_keep = memmem(out->data, head, "\r\nConnection: keep-alive\r\n", 26) != NULL;
    FUZZ_CHECK(says_close + says_keep == 1, "one Connection header");
    FUZZ_CHECK(says_keep == (keep_alive != 0), "Connection header vs keep_alive %d", keep_alive);
    if (code == 431) FUZZ_CHECK(!keep_alive, "431 kept the connection");
    (void)max_head;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    struct responder *r = data[0] & 1 ? tight : wide;
    size_t max_head = data[0] & 1 ? 200 : 8192;
    int allow = !(data[0] & 2);
    const char *in = (const char *)data + 1;
    size_t len = size - 1;
    struct buf out;
    buf_init(&out, 1 << 20);
    for (int served = 0; served < 1000; served++) {
        size_t consumed = 12345;
        int keep = 7;
        buf_reset(&out);
        int code = responder_handle(r, in, len, allow, &consumed, &out, &keep);
        FUZZ_CHECK(code != -1, "the response did not fit 1 MiB");
        FUZZ_CHECK(consumed <= len, "consumed %zu of %zu", consumed, len);
        if (code == 0) {
            FUZZ_CHECK(out.len == 0 && consumed == 0, "incomplete request produced output");
            FUZZ_CHECK(len < max_head, "%zu bytes without a head end still buffered", len);
            break;
        }
        check_response(in, len, &out, code, keep, max_head);
        if (!keep) break;
        FUZZ_CHECK(consumed > 0, "kept alive without consuming");
        FUZZ_CHECK(allow, "kept alive when not allowed");
        in += consumed;
        len -= consumed;
    }
    buf_free(&out);
    return 0;
}
