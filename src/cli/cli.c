/* The pipeline client's synchronous API session (see cli.h). */
#include "cli/cli.h"

#include "kube/status.h"
#include "loop.h"

#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wait {
    int done;
    long status;
    char *body;
    char error[KUBE_STATUS_TEXT_MAX];
};

static void
on_done(void *arg, const struct kube_response *r)
{
    struct wait *w = arg;
    w->done = 1;
    w->status = r->status;
    w->body = strdup(r->body ? r->body : "");
    if (r->error) snprintf(w->error, sizeof w->error, "%s", r->error);
}

int
cli_open(struct cli *c, const char *kubeconfig, const char *context, long timeout_s)
{
    memset(c, 0, sizeof *c);
    c->timeout_s = timeout_s > 0 ? timeout_s : 30;
    signal(SIGPIPE, SIG_IGN);
    c->loop = loop_new();
    if (!c->loop) {
        snprintf(c->err, sizeof c->err, "out of memory");
        return -1;
    }
    if (kube_config_load(kubeconfig, context, &c->kcfg, c->err, sizeof c->err)) return -1;
    struct kube_client_opts o = {.qps = 50,
                                 .burst = 100,
                                 .connect_timeout_s = 10,
                                 .request_timeout_s = c->timeout_s,
                                 .max_body_bytes = 64u << 20,
                                 .max_retries = 4};
    c->client = kube_client_new(c->loop, &c->kcfg, &o, c->err, sizeof c->err);
    return c->client ? 0 : -1;
}

void
cli_close(struct cli *c)
{
    if (c->client) kube_client_free(c->client);
    kube_config_free(&c->kcfg);
    if (c->loop) loop_free(c->loop);
    c->client = NULL;
    c->loop = NULL;
}

/* Runs the loop until w is done or timeout_s passes (then the request is cancelled). */
static int
run_until_done(struct cli *c, uint64_t id, struct wait *w, long timeout_s)
{
    int64_t deadline = loop_now_ms(c->loop) + timeout_s * 1000 + 5000;
    while (!w->done) {
        if (loop_run_once(c->loop, 200) < 0 || loop_now_ms(c->loop) > deadline) {
            kube_cancel(c->client, id);
            snprintf(c->err, sizeof c->err, "no answer from %s within %ld s", c->kcfg.server,
                     timeout_s);
            return -1;
        }
    }
    return 0;
}

static int
finish(struct cli *c, struct wait *w, long *status, char **resp_body)
{
    *status = w->status;
    if (resp_body)
        *resp_body = w->body;
    else
        free(w->body);
    if (w->status == 0) {
        snprintf(c->err, sizeof c->err, "cannot reach the API server %s (%s)", c->kcfg.server,
                 w->error[0] ? w->error : "request failed");
        return -1;
    }
    /* what the API server said (kube/status.h), for the caller's message */
    snprintf(c->err, sizeof c->err, "%s", w->status < 300 ? "" : w->error);
    return 0;
}

int
cli_request(struct cli *c, const char *method, const char *path, const char *ctype,
            const char *body, long *status, char **resp_body)
{
    struct wait w = {0};
    *status = 0;
    if (resp_body) *resp_body = NULL;
    int idempotent = !strcmp(method, "GET") || !strcmp(method, "DELETE");
    struct kube_req_spec s = {.method = method,
                              .path = path,
                              .content_type = ctype,
                              .body = body,
                              .body_len = body ? strlen(body) : 0,
                              .flags = idempotent ? KUBE_RETRY : 0u,
                              .done = on_done,
                              .arg = &w};
    uint64_t id = kube_submit(c->client, &s);
    if (!id) {
        snprintf(c->err, sizeof c->err, "cannot submit %s %s", method, path);
        return -1;
    }
    if (run_until_done(c, id, &w, c->timeout_s * 5)) {
        free(w.body);
        return -1;
    }
    return finish(c, &w, status, resp_body);
}

/* A stream's data and done callbacks share one arg: the wait plus the caller's sink. */
struct stream_ctx {
    struct wait w;
    kube_data_fn data;
    void *arg;
};

static int
on_stream_data(void *arg, const char *data, size_t len)
{
    struct stream_ctx *s = arg;
    return s->data(s->arg, data, len);
}

static void
on_stream_done(void *arg, const struct kube_response *r)
{
    struct stream_ctx *s = arg;
    on_done(&s->w, r);
}

int
cli_stream(struct cli *c, const char *path, kube_data_fn data, void *arg, long *status,
           char **resp_body)
{
    struct stream_ctx sc = {.data = data, .arg = arg};
    *status = 0;
    if (resp_body) *resp_body = NULL;
    long timeout_s = 3600;
    struct kube_req_spec s = {.method = "GET",
                              .path = path,
                              .flags = KUBE_STREAM,
                              .timeout_s = timeout_s,
                              .done = on_stream_done,
                              .data = on_stream_data,
                              .arg = &sc};
    uint64_t id = kube_submit(c->client, &s);
    if (!id) {
        snprintf(c->err, sizeof c->err, "cannot submit GET %s", path);
        return -1;
    }
    if (run_until_done(c, id, &sc.w, timeout_s)) {
        free(sc.w.body);
        return -1;
    }
    return finish(c, &sc.w, status, resp_body);
}

