#include "kube/client.h"

#include "kube/config.h"
#include "kube/fairq.h"
#include "kube/status.h"
#include "http/metrics.h"
#include "kube/tls.h"
#include "loop.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "version.h"

#include <curl/curl.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>

#define TOKEN_RELOAD_MS 60000
#define RETRY_BASE_MS 250
#define RETRY_CAP_MS 30000
#define RETRY_AFTER_CAP_MS 60000

/* Writes wait in one of two lanes, each a fair queue behind its own token bucket: the
 * controllers' writes at --qps, and releases (KUBE_RELEASE) at RELEASE_QPS_FACTOR times
 * that, so that neither waits behind the other. */
enum { LANE_WRITES, LANE_RELEASES, LANES };
#define RELEASE_QPS_FACTOR 5

struct lane {
    struct kube_client *c;
    struct fairq *q;
    struct rate_limiter limiter;
    uint64_t timer;
};

struct req {
    struct kube_client *c;
    uint64_t id;
    char *method, *path, *content_type;
    char *body;
    size_t body_len;
    unsigned flags;
    long timeout_s;
    kube_done_fn done;
    kube_data_fn data;
    void *arg;
    char *queue_key;
    int (*still_needed)(void *arg);

    CURL *easy;
    struct curl_slist *headers;
    struct buf resp;
    int attempt;
    int64_t retry_after_ms;
    bool reauthed; /* one retry after a 401 with a re-read token */
    bool too_big;  /* the body passed opts.max_body_bytes: refused, not handed on cut */
    bool is_write;
    int lane;
    int64_t started_ms; /* this attempt, for the latency histogram */
    uint64_t retry_timer;
    struct req *prev, *next; /* all live requests */
    struct fairq_node *qnode; /* waiting in the write queue */
    bool held; /* started while the first connection was being set up: waits for it */
    bool on_wire; /* a write with an easy handle, counted in writes_on_wire */
};

struct kube_client {
    struct loop *loop;
    struct kube_config *cfg;
    struct kube_client_opts opts;
    CURLM *multi;
    CURLSH *share; /* TLS sessions: a new connection resumes one (no full handshake) */
    /* The first request goes alone; the others wait until its connection answers, so
     * that they resume its TLS session (start-up: one full handshake, not one per LIST). */
    enum { WARM_COLD, WARM_WAITING, WARM_DONE } warm;
    uint64_t warm_id;    /* the first request */
    uint64_t warm_timer; /* releases the held requests outside curl's callbacks */
    struct tls *tls;
    struct curl_slist *resolve;
    char base_url[300];
    char user_agent[256];
    uint64_t curl_timer;
    uint64_t token_timer;
    uint64_t next_id;
    struct req *reqs;
    struct lane lanes[LANES];
    size_t writes_on_wire; /* writes handed to curl (KUBE_MAX_WRITES_ON_WIRE) */
    bool (*gate)(void *arg); /* the write gate: NULL is open */
    void *gate_arg;
    struct kube_client_stats stats;
    unsigned rnd;
    struct metric *m_requests, *m_latency;
    kube_fake_submit_fn fake_submit; /* tests: kube_client_new_fake */
    kube_fake_cancel_fn fake_cancel;
    void *fake_arg;
    struct {
        void *easy; /* CURL *, another module's (KUBE_MAX_EASY) */
        kube_easy_done_fn done;
        void *arg;
    } easy[KUBE_MAX_EASY];
};

/* --- small pure helpers (tested) ------------------------------------------------------ */

int64_t
kube_backoff_ms(int attempt, int64_t base_ms, int64_t cap_ms, double rnd)
{
    int64_t d = base_ms;
    for (int i = 0; i < attempt && d < cap_ms; i++)
        d *= 2;
    if (d > cap_ms)
        d = cap_ms;
    return (int64_t)((double)d * (0.8 + 0.4 * rnd));
}

int64_t
kube_retry_after_header(const char *line, size_t n)
{
    if (n <= 12 || strncasecmp(line, "Retry-After:", 12))
        return -2;
    char v[32];
    size_t len = n - 12 < sizeof v - 1 ? n - 12 : sizeof v - 1;
    memcpy(v, line + 12, len);
    v[len] = '\0';
    return kube_parse_retry_after(v);
}

int64_t
kube_parse_retry_after(const char *v)
{
    if (!v)
        return -1;
    while (*v == ' ')
        v++;
    char *end;
    long s = strtol(v, &end, 10);
    if (end == v || s < 0)
        return -1;
    while (*end == ' ' || *end == '\r' || *end == '\n')
        end++;
    if (*end)
        return -1; /* HTTP-dates are not used by the API server */
    return s > 3600 ? 3600000 : (int64_t)s * 1000;
}

void
limiter_init(struct rate_limiter *rl, double qps, double burst, int64_t now_ms)
{
    rl->qps = qps;
    rl->burst = burst;
    rl->tokens = burst;
    rl->last_ms = now_ms;
}

void
limiter_give_back(struct rate_limiter *rl)
{
    rl->tokens = rl->tokens + 1 > rl->burst ? rl->burst : rl->tokens + 1;
}

int64_t
limiter_take(struct rate_limiter *rl, int64_t now_ms)
{
    if (now_ms > rl->last_ms) {
        rl->tokens += (double)(now_ms - rl->last_ms) * rl->qps / 1000.0;
        if (rl->tokens > rl->burst)
            rl->tokens = rl->burst;
        rl->last_ms = now_ms;
    }
    if (rl->tokens >= 1.0) {
        rl->tokens -= 1.0;
        return 0;
    }
    int64_t wait = (int64_t)((1.0 - rl->tokens) * 1000.0 / rl->qps) + 1;
    return wait > 0 ? wait : 1;
}

static double
client_rand(struct kube_client *c)
{
    c->rnd = c->rnd * 1103515245u + 12345u;
    return (double)((c->rnd >> 8) & 0xffff) / 65536.0;
}

/* --- curl multi <-> loop bridge -------------------------------------------------------- */

static void check_done(struct kube_client *c);

static void
on_curl_sock(struct loop *l, int fd, unsigned ev, void *arg)
{
    (void)l;
    struct kube_client *c = arg;
    int flags = ((ev & LOOP_READ) ? CURL_CSELECT_IN : 0) |
                ((ev & LOOP_WRITE) ? CURL_CSELECT_OUT : 0) |
                ((ev & LOOP_ERROR) ? CURL_CSELECT_ERR : 0);
    int running;
    curl_multi_socket_action(c->multi, fd, flags, &running);
    check_done(c);
}

static int
curl_socket_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)e;
    (void)socketp;
    struct kube_client *c = userp;
    if (what == CURL_POLL_REMOVE) {
        loop_fd_unwatch(c->loop, s);
        return 0;
    }
    unsigned ev = ((what & CURL_POLL_IN) ? LOOP_READ : 0) | ((what & CURL_POLL_OUT) ? LOOP_WRITE : 0);
    return loop_fd_watch(c->loop, s, ev, on_curl_sock, c);
}

static void
on_curl_timer(struct loop *l, void *arg)
{
    (void)l;
    struct kube_client *c = arg;
    c->curl_timer = 0;
    int running;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(c);
}

static int
curl_timer_cb(CURLM *m, long timeout_ms, void *userp)
{
    (void)m;
    struct kube_client *c = userp;
    loop_timer_cancel(c->loop, c->curl_timer);
    c->curl_timer = timeout_ms < 0 ? 0 : loop_timer_add(c->loop, timeout_ms, on_curl_timer, c);
    return 0;
}

/* --- requests ------------------------------------------------------------------------ */

static void warm_done(struct kube_client *c, const struct req *r);
static void on_limiter_timer(struct loop *l, void *arg);

/* Ends the request's current attempt on the wire: its easy handle goes, and a write's
 * place under KUBE_MAX_WRITES_ON_WIRE goes to the next queued one (from a timer, outside
 * the callback that may be running). */
static void
drop_easy(struct req *r)
{
    struct kube_client *c = r->c;
    if (r->easy) {
        if (!r->held)
            curl_multi_remove_handle(c->multi, r->easy);
        curl_easy_cleanup(r->easy);
        r->easy = NULL;
    }
    r->held = false;
    if (!r->on_wire)
        return;
    r->on_wire = false;
    c->writes_on_wire--;
    for (int i = 0; i < LANES; i++) {
        struct lane *q = &c->lanes[i];
        if (q->q && fairq_len(q->q) && !q->timer)
            q->timer = loop_timer_add(c->loop, 0, on_limiter_timer, q);
    }
}

static void
req_free(struct req *r)
{
    struct kube_client *c = r->c;
    warm_done(c, r);
    drop_easy(r);
    loop_timer_cancel(c->loop, r->retry_timer);
    curl_slist_free_all(r->headers);
    buf_free(&r->resp);
    if (r->prev)
        r->prev->next = r->next;
    else if (c->reqs == r)
        c->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    free(r->method);
    free(r->path);
    if (r->qnode) {
        fairq_remove(c->lanes[r->lane].q, r->qnode);
        c->stats.queued_writes--;
    }
    free(r->content_type);
    free(r->queue_key);
    free(r->body);
    free(r);
}

static size_t
on_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct req *r = arg;
    size_t n = size * nmemb;
    if (r->flags & KUBE_STREAM) {
        long code = 0;
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
        if (code >= 200 && code < 300)
            return r->data(r->arg, ptr, n) ? 0 : n;
        /* an error status on a stream: keep the (small) Status body for the caller */
    }
    if (buf_append(&r->resp, ptr, n) == BUF_OK)
        return n;
    r->too_big = r->resp.len + n > r->resp.limit;
    return 0;
}

static size_t
on_header(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct req *r = arg;
    size_t n = size * nmemb;
    warm_done(r->c, r);
    int64_t ms = kube_retry_after_header(ptr, n);
    if (ms != -2)
        r->retry_after_ms = ms;
    return n;
}

static int
req_start(struct req *r)
{
    struct kube_client *c = r->c;
    char url[4096];
    if (snprintf(url, sizeof url, "%s%s", c->base_url, r->path) >= (int)sizeof url)
        return -1;
    r->easy = curl_easy_init();
    if (!r->easy)
        return -1;
    buf_reset(&r->resp);
    r->too_big = false;
    r->retry_after_ms = -1;
    curl_slist_free_all(r->headers);
    r->headers = NULL;
    struct buf h;
    buf_init(&h, 65536);
    r->headers = curl_slist_append(r->headers, "Accept: application/json");
    if (r->content_type) {
        buf_printf(&h, "Content-Type: %s", r->content_type);
        r->headers = curl_slist_append(r->headers, buf_str(&h));
        buf_reset(&h);
    }
    if (c->cfg->token && *c->cfg->token) {
        buf_printf(&h, "Authorization: Bearer %s", c->cfg->token);
        r->headers = curl_slist_append(r->headers, buf_str(&h));
        explicit_bzero(h.data, h.len);
    }
    buf_free(&h);
    CURL *e = r->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, c->opts.connect_timeout_s);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, r->timeout_s > 0 ? r->timeout_s : c->opts.request_timeout_s);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    /* curl's default 64 KiB upload buffer, allocated by every handle that sends a request,
     * is held for a watch's whole life; our bodies are small (massif, issue 17's churn) */
    curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, 16384L);
    if (c->share)
        curl_easy_setopt(e, CURLOPT_SHARE, c->share);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
    if (c->resolve)
        curl_easy_setopt(e, CURLOPT_RESOLVE, c->resolve);
    if (c->tls) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, tls_checks_name_itself(c->tls) ? 0L : 2L);
        curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, tls_ssl_ctx_cb);
        curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, c->tls);
        /* curl's own BearSSL setup wants a CA too; ours replaces its X.509 engine */
        struct curl_blob ca = {c->cfg->ca_pem, c->cfg->ca_pem_len, CURL_BLOB_NOCOPY};
        curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &ca);
    } else {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (!strcmp(r->method, "GET")) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
        if (r->body) {
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
        }
    }
    c->stats.requests++;
    r->started_ms = time_mono_ms();
    if (r->is_write && !(r->flags & KUBE_PRIORITY) && !r->on_wire) {
        r->on_wire = true;
        c->writes_on_wire++;
    }
    if (c->share && c->warm == WARM_WAITING) {
        r->held = true;
        return 0;
    }
    if (c->share && c->warm == WARM_COLD) {
        c->warm = WARM_WAITING;
        c->warm_id = r->id;
    }
    if (curl_multi_add_handle(c->multi, e) != CURLM_OK)
        return -1;
    return 0;
}

static void deliver(struct req *r, long status, const char *error);

static void
on_warm_timer(struct loop *l, void *arg)
{
    (void)l;
    struct kube_client *c = arg;
    c->warm_timer = 0;
    for (struct req *r = c->reqs, *next; r; r = next) {
        next = r->next;
        if (!r->held)
            continue;
        r->held = false;
        if (curl_multi_add_handle(c->multi, r->easy) != CURLM_OK)
            deliver(r, 0, "could not start the request");
    }
}

/* The first request's connection answered (or the request ended): the held ones go. */
static void
warm_done(struct kube_client *c, const struct req *r)
{
    if (c->warm != WARM_WAITING || r->id != c->warm_id)
        return;
    c->warm = WARM_DONE;
    c->warm_timer = loop_timer_add(c->loop, 0, on_warm_timer, c);
}

/* Frees the request, then calls its callback with the body it owned. */
static void
deliver(struct req *r, long status, const char *error)
{
    size_t len = r->resp.len;
    char *body = buf_take(&r->resp);
    struct kube_status st;
    kube_status_parse(&st, status, body, body ? len : 0);
    struct kube_response resp = {status, body ? body : "", body ? len : 0, NULL, st.reason,
                                 st.cause, (int)kube_classify(status, st.reason), 0};
    if (resp.cls != KUBE_OK)
        resp.error = status ? st.text : error && *error ? error : "request failed";
    kube_done_fn done = r->done;
    void *arg = r->arg;
    req_free(r);
    if (done)
        done(arg, &resp);
    free(body);
}

static void on_retry_timer(struct loop *l, void *arg);

static bool
should_retry(struct req *r, long status, CURLcode cc)
{
    if (!(r->flags & KUBE_RETRY) || r->attempt >= r->c->opts.max_retries)
        return false;
    if (cc != CURLE_OK)
        return cc != CURLE_WRITE_ERROR && cc != CURLE_PEER_FAILED_VERIFICATION &&
               cc != CURLE_SSL_CACERT_BADFILE && cc != CURLE_URL_MALFORMAT;
    return status == 429 || status >= 500;
}

static void
schedule_retry(struct req *r, long status)
{
    struct kube_client *c = r->c;
    int64_t delay = kube_backoff_ms(r->attempt, RETRY_BASE_MS, RETRY_CAP_MS, client_rand(c));
    if (r->retry_after_ms >= 0)
        delay = r->retry_after_ms > RETRY_AFTER_CAP_MS ? RETRY_AFTER_CAP_MS : r->retry_after_ms;
    if (status == 429)
        c->stats.throttled_429++;
    c->stats.retries++;
    r->attempt++;
    r->flags |= KUBE_LOW; /* its next attempt waits behind first attempts */
    drop_easy(r);
    r->retry_timer = loop_timer_add(c->loop, delay, on_retry_timer, r);
    log_debug("retrying API request", "method", r->method, "path", r->path);
}

static void
reload_token(struct kube_client *c)
{
    if (!c->cfg->token_file)
        return;
    char err[256];
    if (kube_config_reload_token(c->cfg, err, sizeof err))
        log_warn("could not re-read the token file", "error", err);
    else
        c->stats.token_reloads++;
}

/* Requests by verb and code, and the latency of everything but streams. */
static void
observe(struct kube_client *c, const struct req *r, long status)
{
    char code[16];
    snprintf(code, sizeof code, "%ld", status);
    metrics_add(c->m_requests, 1, r->method, status ? code : "error");
    if (!(r->flags & KUBE_STREAM))
        metrics_observe(c->m_latency, (double)(time_mono_ms() - r->started_ms) / 1000.0,
                        r->method);
}

static void
finish(struct req *r, CURLcode cc)
{
    struct kube_client *c = r->c;
    warm_done(c, r);
    long status = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    observe(c, r, cc == CURLE_OK || cc == CURLE_WRITE_ERROR ? status : 0);
    if (cc != CURLE_OK)
        status = cc == CURLE_WRITE_ERROR && status >= 200 && status < 300 ? status : 0;
    if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && status))
        c->stats.transport_errors++;
    else if (status >= 500)
        c->stats.responses_5xx++;
    else if (status >= 400)
        c->stats.responses_4xx++;
    else
        c->stats.responses_2xx++;
    if (status == 401) {
        c->stats.unauthorized_401++;
        if (!r->reauthed && c->cfg->token_file) {
            /* bound tokens rotate: re-read at once and try again, as client-go does */
            reload_token(c);
            r->reauthed = true;
            drop_easy(r);
            if (req_start(r) == 0)
                return;
            deliver(r, 0, "could not restart the request");
            return;
        }
    }
    if (r->too_big) {
        /* A body over the cap is refused whole (a cut one would read as malformed JSON):
         * status 0, a transient error, with a message that names the cap. */
        char msg[96];
        snprintf(msg, sizeof msg, "response body larger than the %zu-byte limit", r->resp.limit);
        buf_reset(&r->resp);
        deliver(r, 0, msg);
        return;
    }
    if (should_retry(r, status, cc)) {
        schedule_retry(r, status);
        return;
    }
    deliver(r, status, cc == CURLE_OK || status ? NULL : curl_easy_strerror(cc));
}

/* A handle added with kube_client_add_easy: hand it back. Returns false if not one. */
static bool
finish_easy(struct kube_client *c, CURL *e, CURLcode cc)
{
    for (size_t i = 0; i < KUBE_MAX_EASY; i++) {
        if (c->easy[i].easy != e)
            continue;
        kube_easy_done_fn done = c->easy[i].done;
        void *arg = c->easy[i].arg;
        curl_multi_remove_handle(c->multi, e);
        c->easy[i].easy = NULL;
        done(arg, e, (int)cc);
        return true;
    }
    return false;
}

int
kube_client_add_easy(struct kube_client *c, void *easy, kube_easy_done_fn done, void *arg)
{
    for (size_t i = 0; i < KUBE_MAX_EASY; i++) {
        if (c->easy[i].easy)
            continue;
        if (curl_multi_add_handle(c->multi, easy) != CURLM_OK)
            return -1;
        c->easy[i].easy = easy;
        c->easy[i].done = done;
        c->easy[i].arg = arg;
        return 0;
    }
    return -1;
}

void
kube_client_remove_easy(struct kube_client *c, void *easy)
{
    for (size_t i = 0; c && easy && i < KUBE_MAX_EASY; i++) {
        if (c->easy[i].easy == easy) {
            curl_multi_remove_handle(c->multi, easy);
            c->easy[i].easy = NULL;
        }
    }
}

static void
check_done(struct kube_client *c)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(c->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        if (finish_easy(c, m->easy_handle, m->data.result))
            continue;
        struct req *r = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        CURLcode cc = m->data.result;
        if (r)
            finish(r, cc);
    }
}

static int enqueue_write(struct req *r);

/* May this write be sent now? The Lease always may; the rest only while the gate is open. */
static bool
gate_open(const struct kube_client *c, const struct req *r)
{
    return (r->flags & KUBE_PRIORITY) || !c->gate || c->gate(c->gate_arg);
}

/* Completes a write that was never sent (r->dropped) and frees it. */
static void
drop_unsent(struct req *r, const char *why)
{
    log_debug("write dropped before sending", "method", r->method, "path", r->path, "why", why);
    struct kube_response resp = {0, "", 0, why, "", "", KUBE_PERMANENT, 1};
    kube_done_fn done = r->done;
    void *arg = r->arg;
    req_free(r);
    if (done)
        done(arg, &resp);
}

#define NOT_LEADER "not sent: not the leader"

static void
on_retry_timer(struct loop *l, void *arg)
{
    (void)l;
    struct req *r = arg;
    r->retry_timer = 0;
    if (r->is_write && !gate_open(r->c, r)) {
        r->c->stats.gated_writes++;
        drop_unsent(r, NOT_LEADER);
        return;
    }
    if (r->is_write) { /* back through the limiter, behind first attempts */
        if (enqueue_write(r))
            deliver(r, 0, "could not queue the retry");
        return;
    }
    if (req_start(r))
        deliver(r, 0, "could not restart the request");
}

/* --- the write limiter queue ---------------------------------------------------------- */

static void drain_writes(struct lane *q);

static void
on_limiter_timer(struct loop *l, void *arg)
{
    (void)l;
    struct lane *q = arg;
    q->timer = 0;
    drain_writes(q);
}

/* Sends queued writes while the limiter has tokens: first attempts before retries, one
 * namespace after the other. A write its owner no longer needs is dropped unsent, and costs
 * no token. */
static void
drain_writes(struct lane *q)
{
    struct kube_client *c = q->c;
    while (fairq_len(q->q)) {
        if (c->writes_on_wire >= KUBE_MAX_WRITES_ON_WIRE)
            return; /* the next write to finish reschedules this */
        int64_t wait = limiter_take(&q->limiter, time_mono_ms());
        if (wait > 0) {
            if (!q->timer)
                q->timer = loop_timer_add(c->loop, wait, on_limiter_timer, q);
            return;
        }
        struct req *r;
        for (;;) {
            r = fairq_pop(q->q);
            if (!r)
                break;
            r->qnode = NULL;
            c->stats.queued_writes--;
            if (!gate_open(c, r)) {
                c->stats.gated_writes++;
                drop_unsent(r, NOT_LEADER);
                continue;
            }
            if (!r->still_needed || r->still_needed(r->arg))
                break;
            c->stats.dropped_writes++;
            drop_unsent(r, "not sent: no longer needed");
        }
        if (!r) {
            limiter_give_back(&q->limiter);
            return;
        }
        if (req_start(r))
            deliver(r, 0, "could not start the request");
    }
}

/* Queues a write (or sends it at once when nothing waits and a token is there). Never runs
 * a callback itself, so kube_submit's caller gets its id before anything completes: a
 * queued write is sent (or dropped) from the limiter timer. */
static int
enqueue_write(struct req *r)
{
    struct kube_client *c = r->c;
    struct lane *q = &c->lanes[r->lane];
    int64_t wait = 0;
    if (r->flags & KUBE_PRIORITY) { /* the Lease: never behind a queue or a limiter */
        (void)limiter_take(&q->limiter, time_mono_ms());
        return req_start(r);
    }
    if (!fairq_len(q->q) && c->writes_on_wire < KUBE_MAX_WRITES_ON_WIRE &&
        (wait = limiter_take(&q->limiter, time_mono_ms())) <= 0)
        return req_start(r);
    r->qnode = fairq_push(q->q, r->flags & KUBE_LOW ? 2u : 1u, r->queue_key, r);
    if (!r->qnode)
        return -1;
    c->stats.queued_writes++;
    if (!q->timer)
        q->timer = loop_timer_add(c->loop, wait > 0 ? wait : 0, on_limiter_timer, q);
    return 0;
}

static char *
dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

uint64_t
kube_submit(struct kube_client *c, const struct kube_req_spec *spec)
{
    if (c->fake_submit)
        return c->fake_submit(c->fake_arg, spec);
    struct req *r = calloc(1, sizeof *r);
    if (!r)
        return 0;
    r->c = c;
    r->id = ++c->next_id;
    r->method = strdup(spec->method);
    r->path = strdup(spec->path);
    r->content_type = dup_or_null(spec->content_type);
    r->flags = spec->flags;
    r->timeout_s = spec->timeout_s;
    r->done = spec->done;
    r->data = spec->data;
    r->arg = spec->arg;
    r->still_needed = spec->still_needed;
    r->queue_key = dup_or_null(spec->queue_key);
    buf_init(&r->resp, c->opts.max_body_bytes);
    if (spec->body) {
        r->body = malloc(spec->body_len + 1);
        if (r->body) {
            memcpy(r->body, spec->body, spec->body_len);
            r->body[spec->body_len] = '\0';
            r->body_len = spec->body_len;
        }
    }
    r->next = c->reqs;
    if (c->reqs)
        c->reqs->prev = r;
    c->reqs = r;
    if (!r->method || !r->path || (spec->body && !r->body) ||
        (spec->content_type && !r->content_type) || (spec->queue_key && !r->queue_key)) {
        req_free(r);
        return 0;
    }
    r->is_write = strcmp(spec->method, "GET") != 0;
    r->lane = spec->flags & KUBE_RELEASE ? LANE_RELEASES : LANE_WRITES;
    if (r->is_write && !gate_open(c, r)) {
        c->stats.gated_writes++;
        log_debug("write refused: not the leader", "method", r->method, "path", r->path);
        req_free(r);
        return 0;
    }
    if (r->is_write) {
        if (enqueue_write(r)) {
            if (fairq_len(c->lanes[r->lane].q) >= (c->opts.max_queued_writes ? c->opts.max_queued_writes
                                                                : KUBE_MAX_QUEUED_WRITES)) {
                c->stats.refused_writes++;
                log_warn("write queue full: write refused, the caller retries later",
                         "method", r->method, "path", r->path);
            }
            req_free(r);
            return 0;
        }
        return r->id;
    }
    if (req_start(r)) {
        req_free(r);
        return 0;
    }
    return r->id;
}

void
kube_cancel(struct kube_client *c, uint64_t id)
{
    if (c->fake_cancel) {
        c->fake_cancel(c->fake_arg, id);
        return;
    }
    for (struct req *r = c->reqs; r; r = r->next) {
        if (r->id != id)
            continue;
        req_free(r); /* out of the write queue too */
        return;
    }
}

void
kube_client_set_write_gate(struct kube_client *c, bool (*open)(void *arg), void *arg)
{
    c->gate = open;
    c->gate_arg = arg;
}

bool
kube_ns_terminating(const struct kube_response *r)
{
    return r->status == 403 && r->cause && !strcmp(r->cause, "NamespaceTerminating");
}

void
kube_client_get_stats(const struct kube_client *c, struct kube_client_stats *out)
{
    *out = c->stats;
    out->inflight = 0;
    for (const struct req *r = c->reqs; r; r = r->next)
        out->inflight += !r->qnode; /* on the wire or waiting to retry; streams included */
}

/* --- set-up ---------------------------------------------------------------------------- */

static void
on_token_timer(struct loop *l, void *arg)
{
    struct kube_client *c = arg;
    reload_token(c);
    c->token_timer = loop_timer_add(l, TOKEN_RELOAD_MS, on_token_timer, c);
}

/* Resolves a DNS host once, before the loop runs, and pins it (libcurl is built without
 * its threaded resolver, so a lookup inside the loop would block it). */
static int
pin_host(struct kube_client *c, char *err, size_t errlen)
{
    const struct kube_config *cfg = c->cfg;
    if (cfg->host_is_ip)
        return 0;
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(cfg->host, NULL, &hints, &res);
    if (rc || !res) {
        snprintf(err, errlen, "cannot resolve API server host \"%s\": %s", cfg->host,
                 gai_strerror(rc));
        return -1;
    }
    char ip[INET_ADDRSTRLEN], entry[512];
    inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)res->ai_addr)->sin_addr, ip, sizeof ip);
    freeaddrinfo(res);
    snprintf(entry, sizeof entry, "%s:%d:%s", cfg->host, cfg->port, ip);
    c->resolve = curl_slist_append(NULL, entry);
    return c->resolve ? 0 : -1;
}

struct kube_client *
kube_client_new(struct loop *l, struct kube_config *cfg, const struct kube_client_opts *opts,
                char *err, size_t errlen)
{
    static bool curl_ready;
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
            snprintf(err, errlen, "curl_global_init failed");
            return NULL;
        }
        curl_ready = true;
    }
    struct kube_client *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->loop = l;
    c->cfg = cfg;
    c->opts = *opts;
    static const char *const l_req[] = {"verb", "code", NULL};
    static const char *const l_verb[] = {"verb", NULL};
    static const double bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                    0.25,  0.5,    1,     2.5,  5,     10};
    c->m_requests = metrics_counter("omjob_api_requests_total",
                                    "API requests by verb and HTTP code (error: no response)", l_req);
    c->m_latency = metrics_histogram("omjob_api_request_duration_seconds",
                                     "API request latency, streams excluded", l_verb, bounds,
                                     sizeof bounds / sizeof bounds[0]);
    c->rnd = (unsigned)time_mono_ms();
    for (int i = 0; i < LANES; i++) {
        struct lane *q = &c->lanes[i];
        double f = i == LANE_RELEASES ? RELEASE_QPS_FACTOR : 1;
        q->c = c;
        limiter_init(&q->limiter, f * (double)opts->qps, f * (double)opts->burst, time_mono_ms());
        q->q = fairq_new(opts->max_queued_writes ? opts->max_queued_writes
                                                 : KUBE_MAX_QUEUED_WRITES);
        if (!q->q) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    if (opts->user_agent && *opts->user_agent)
        snprintf(c->user_agent, sizeof c->user_agent, "%.200s", opts->user_agent);
    else
        snprintf(c->user_agent, sizeof c->user_agent, "omjob-operator/%s", version_string());
    c->opts.user_agent = NULL; /* copied above; the caller's string may go */
    if (strchr(cfg->host, ':'))
        snprintf(c->base_url, sizeof c->base_url, "https://[%s]:%d", cfg->host, cfg->port);
    else
        snprintf(c->base_url, sizeof c->base_url, "https://%s:%d", cfg->host, cfg->port);
    if (cfg->insecure_skip_tls_verify) {
        log_warn("TLS verification of the API server is OFF: the kubeconfig sets "
                 "insecure-skip-tls-verify",
                 "server", cfg->server);
    } else {
        c->tls = tls_new(cfg->ca_pem, cfg->ca_pem_len, cfg->cert_pem, cfg->cert_pem_len,
                         cfg->key_pem, cfg->key_pem_len, cfg->host, cfg->tls_server_name, err,
                         errlen);
        if (!c->tls)
            goto fail;
    }
    if (pin_host(c, err, errlen))
        goto fail;
    c->multi = curl_multi_init();
    if (!c->multi) {
        snprintf(err, errlen, "curl_multi_init failed");
        goto fail;
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, 32L);
    /* The connection cache is left at curl's default (bounded by the 32 above, ~40 KiB of
     * TLS state each): a cache of 16 made a 1000-OMJob burst close and re-open connections
     * with full handshakes, 6x the operator's CPU (make bench, tracing phase). */
    /* Every request has its own easy handle; without a share each new connection would
     * make a full TLS handshake (issue 16: start-up, bursts). One thread: no lock callbacks.
     * Without it (out of memory) every connection just does a full handshake. */
    c->share = curl_share_init();
    if (c->share)
        curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    if (cfg->token_file)
        c->token_timer = loop_timer_add(l, TOKEN_RELOAD_MS, on_token_timer, c);
    return c;
fail:
    kube_client_free(c);
    return NULL;
}

struct kube_client *
kube_client_new_fake(struct loop *l, kube_fake_submit_fn submit, kube_fake_cancel_fn cancel,
                     void *arg)
{
    struct kube_client *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->loop = l;
    c->fake_submit = submit;
    c->fake_cancel = cancel;
    c->fake_arg = arg;
    return c;
}

void
kube_client_free(struct kube_client *c)
{
    if (!c)
        return;
    while (c->reqs)
        req_free(c->reqs);
    for (size_t i = 0; i < KUBE_MAX_EASY; i++)
        kube_client_remove_easy(c, c->easy[i].easy);
    loop_timer_cancel(c->loop, c->curl_timer);
    loop_timer_cancel(c->loop, c->token_timer);
    loop_timer_cancel(c->loop, c->warm_timer);
    if (c->multi)
        curl_multi_cleanup(c->multi);
    if (c->share)
        curl_share_cleanup(c->share);
    for (int i = 0; i < LANES; i++) {
        loop_timer_cancel(c->loop, c->lanes[i].timer);
        fairq_free(c->lanes[i].q);
    }
    curl_slist_free_all(c->resolve);
    tls_free(c->tls);
    free(c);
}
