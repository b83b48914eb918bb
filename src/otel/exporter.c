#include "otel/exporter.h"

#include "http/metrics.h"
#include "kube/client.h"
#include "loop.h"
#include "otel/otel.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RESPONSE_MAX_BYTES 65536
#define LOG_EVERY_MS 60000
#define TAG_MAX 256

struct item {
    struct item *next;
    const char *tag; /* after the spans, in the same allocation */
    size_t nspans, len;
    char json[]; /* comma-separated spans, then the tag */
};

struct otel_exporter {
    struct loop *loop;
    struct kube_client *client;
    struct otel_config cfg;
    char version[64];
    otel_item_done_fn done;
    void *arg;
    struct curl_slist *headers, *resolve;
    struct item *head, *tail;     /* waiting, FIFO */
    struct item *batch;           /* in flight (or waiting for its retry), a list */
    CURL *easy;                   /* while the batch is on the wire */
    struct buf body, resp;
    int64_t retry_after_ms;
    uint64_t timer;               /* flush or retry */
    int attempt;                  /* of the current batch */
    int64_t last_log_ms[4];       /* rate limit of the failure lines, per kind */
    uint64_t suppressed[4];
    struct otel_exporter_stats st;
    struct metric *m_spans, *m_requests, *m_queue;
};

static void schedule(struct otel_exporter *x, int64_t delay_ms);

enum { LINE_RETRY, LINE_DROP, LINE_PARTIAL, LINE_FULL }; /* each kind rate-limited on its own */

/* --- bookkeeping ------------------------------------------------------------------------ */

static void
free_list(struct item *it)
{
    while (it) {
        struct item *n = it->next;
        free(it);
        it = n;
    }
}

static void
count_spans(struct otel_exporter *x, const char *result, uint64_t n, uint64_t *stat)
{
    *stat += n;
    metrics_add(x->m_spans, (double)n, result);
}

static void
unqueue(struct otel_exporter *x, const struct item *it)
{
    x->st.queued_spans -= it->nspans;
    x->st.queued_bytes -= it->len;
    metrics_set(x->m_queue, (double)x->st.queued_spans);
}

/* Ends the batch: every item's callback, then frees them. */
static void
finish_batch(struct otel_exporter *x, bool exported)
{
    struct item *batch = x->batch;
    x->batch = NULL;
    x->attempt = 0;
    for (struct item *it = batch; it; it = it->next) {
        unqueue(x, it);
        if (exported)
            count_spans(x, "exported", it->nspans, &x->st.exported_spans);
        else
            count_spans(x, "dropped", it->nspans, &x->st.dropped_spans);
        if (x->done)
            x->done(x->arg, it->tag, exported);
    }
    free_list(batch);
}

/* One line a minute at most: an unreachable collector must not flood the log. */
static void
log_failure(struct otel_exporter *x, int kind, const char *what, long status, const char *detail)
{
    int64_t now = time_mono_ms();
    if (x->last_log_ms[kind] && now - x->last_log_ms[kind] < LOG_EVERY_MS) {
        x->suppressed[kind]++;
        return;
    }
    char st[16], sup[24];
    snprintf(st, sizeof st, "%ld", status);
    snprintf(sup, sizeof sup, "%llu", (unsigned long long)x->suppressed[kind]);
    log_warn(what, "endpoint", x->cfg.url, "status", st, "error", detail,
             "suppressed_since_last", sup);
    x->last_log_ms[kind] = now;
    x->suppressed[kind] = 0;
}

/* --- the request ----------------------------------------------------------------------- */

static size_t
on_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct otel_exporter *x = arg;
    size_t n = size * nmemb;
    if (buf_append(&x->resp, ptr, n) != BUF_OK)
        return n; /* keep the head of a huge answer; the status decides */
    return n;
}

static size_t
on_header(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct otel_exporter *x = arg;
    size_t n = size * nmemb;
    int64_t ms = kube_retry_after_header(ptr, n);
    if (ms != -2)
        x->retry_after_ms = ms;
    return n;
}

static void
after_answer(struct otel_exporter *x, long status, const char *transport_error)
{
    enum otel_verdict v = otel_classify(status);
    if (v == OTEL_DONE) {
        x->st.requests_ok++;
        metrics_add(x->m_requests, 1, "ok");
        char msg[256];
        int64_t rejected = otel_partial_success(x->resp.data, x->resp.len, msg, sizeof msg);
        if (rejected > 0) {
            count_spans(x, "rejected", (uint64_t)rejected, &x->st.rejected_spans);
            log_failure(x, LINE_PARTIAL, "OTLP collector rejected some spans (partial success)", status,
                        msg[0] ? msg : "no message");
        } else if (msg[0]) {
            log_failure(x, LINE_PARTIAL, "OTLP collector answered with a warning", status, msg);
        }
        finish_batch(x, true);
        schedule(x, 0);
        return;
    }
    char detail[300];
    if (transport_error)
        snprintf(detail, sizeof detail, "%s", transport_error);
    else
        snprintf(detail, sizeof detail, "%.200s", buf_str(&x->resp)); /* the collector's Status */
    if (v == OTEL_DROP) {
        x->st.requests_drop++;
        metrics_add(x->m_requests, 1, "drop");
        log_failure(x, LINE_DROP, "OTLP export refused: batch dropped", status, detail);
        finish_batch(x, false);
        schedule(x, 0);
        return;
    }
    x->st.requests_retry++;
    metrics_add(x->m_requests, 1, "retry");
    log_failure(x, LINE_RETRY, "OTLP export failed: will retry", status, detail);
    int64_t d = OTEL_EXPORTER_BACKOFF_MIN_MS;
    for (int i = 0; i < x->attempt && d < OTEL_EXPORTER_BACKOFF_MAX_MS; i++)
        d *= 2;
    x->attempt++;
    if (x->retry_after_ms > d)
        d = x->retry_after_ms;
    if (d > OTEL_EXPORTER_BACKOFF_MAX_MS)
        d = OTEL_EXPORTER_BACKOFF_MAX_MS;
    schedule(x, d);
}

static void
on_done(void *arg, void *easy, int cc)
{
    struct otel_exporter *x = arg;
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(easy);
    x->easy = NULL;
    buf_free(&x->body); /* rebuilt for each send; a full batch is ~300 KiB to keep idle */
    after_answer(x, cc == CURLE_OK ? status : 0,
                 cc == CURLE_OK ? NULL : curl_easy_strerror((CURLcode)cc));
    buf_free(&x->resp);
}

/* Moves up to max_batch spans (at least one item) from the queue into the batch. */
static void
take_batch(struct otel_exporter *x)
{
    size_t spans = 0;
    struct item **tail = &x->batch;
    while (x->head && (!spans || spans + x->head->nspans <= (size_t)x->cfg.max_batch)) {
        struct item *it = x->head;
        x->head = it->next;
        if (!x->head)
            x->tail = NULL;
        it->next = NULL;
        *tail = it;
        tail = &it->next;
        spans += it->nspans;
    }
}

static int
build_body(struct otel_exporter *x)
{
    struct buf spans;
    buf_init(&spans, OTEL_EXPORTER_MAX_BYTES + 1024);
    int rc = 0;
    for (struct item *it = x->batch; it && !rc; it = it->next) {
        if (it != x->batch)
            rc |= buf_appends(&spans, ",");
        rc |= buf_append(&spans, it->json, it->len);
    }
    buf_reset(&x->body);
    if (!rc)
        rc = otel_request_json(&x->body, &x->cfg, x->version, spans.data ? spans.data : "",
                               spans.len);
    buf_free(&spans);
    return rc;
}

static int
send_batch(struct otel_exporter *x)
{
    if (!x->batch)
        take_batch(x);
    if (!x->batch)
        return 0;
    if (build_body(x)) {
        log_failure(x, LINE_DROP, "OTLP export: the request could not be built", 0, "out of memory");
        finish_batch(x, false);
        return -1;
    }
    CURL *e = curl_easy_init();
    if (!e)
        return -1;
    buf_reset(&x->resp);
    x->retry_after_ms = -1;
    curl_easy_setopt(e, CURLOPT_URL, x->cfg.url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body.data);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->body.len);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, x->cfg.timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, x->cfg.timeout_ms);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_USERAGENT, "omjob-operator-otlp");
    if (x->resolve)
        curl_easy_setopt(e, CURLOPT_RESOLVE, x->resolve);
    if (x->cfg.https && x->cfg.ca_pem) {
        struct curl_blob ca = {x->cfg.ca_pem, x->cfg.ca_len, CURL_BLOB_NOCOPY};
        curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &ca);
    }
    if (kube_client_add_easy(x->client, e, on_done, x)) {
        curl_easy_cleanup(e);
        return -1;
    }
    x->easy = e;
    return 0;
}

static void
on_timer(struct loop *l, void *arg)
{
    (void)l;
    struct otel_exporter *x = arg;
    x->timer = 0;
    if (x->easy)
        return;
    if (send_batch(x)) /* no handle free: the batch again soon; a dropped one: the next */
        schedule(x, x->batch ? OTEL_EXPORTER_BACKOFF_MIN_MS : 0);
}

/* Arms the flush (or retry) timer: delay_ms 0 = the batch delay, or now when a full batch
 * waits; nothing while a request is on the wire or a timer is armed. */
static void
schedule(struct otel_exporter *x, int64_t delay_ms)
{
    if (x->easy || x->timer || (!x->head && !x->batch))
        return;
    if (!delay_ms)
        delay_ms = x->st.queued_spans >= (uint64_t)x->cfg.max_batch ? 0 : x->cfg.schedule_delay_ms;
    x->timer = loop_timer_add(x->loop, delay_ms, on_timer, x);
}

/* --- public ------------------------------------------------------------------------------ */

static int
pin(struct otel_exporter *x)
{
    if (x->cfg.host_is_ip)
        return 0;
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    /* Once, at start-up, like the API server's host: libcurl has no threaded resolver, a
     * lookup later would block the loop. */
    int rc = getaddrinfo(x->cfg.host, NULL, &hints, &res);
    if (rc || !res) {
        log_warn("OTLP collector host does not resolve: exports will fail until a restart",
                 "host", x->cfg.host, "error", gai_strerror(rc));
        return 0;
    }
    char ip[INET_ADDRSTRLEN], entry[400];
    inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)res->ai_addr)->sin_addr, ip, sizeof ip);
    freeaddrinfo(res);
    snprintf(entry, sizeof entry, "%s:%d:%s", x->cfg.host, x->cfg.port, ip);
    x->resolve = curl_slist_append(NULL, entry);
    return x->resolve ? 0 : -1;
}

static int
build_headers(struct otel_exporter *x)
{
    x->headers = curl_slist_append(NULL, "Content-Type: application/json");
    for (size_t i = 0; x->headers && i < x->cfg.nheaders; i++) {
        char h[sizeof x->cfg.headers[i].key + sizeof x->cfg.headers[i].value + 4];
        snprintf(h, sizeof h, "%s: %s", x->cfg.headers[i].key, x->cfg.headers[i].value);
        struct curl_slist *n = curl_slist_append(x->headers, h);
        explicit_bzero(h, sizeof h);
        if (!n)
            return -1;
        x->headers = n;
    }
    return x->headers ? 0 : -1;
}

struct otel_exporter *
otel_exporter_new(struct loop *l, struct kube_client *c, const struct otel_config *cfg,
                  const char *version, otel_item_done_fn done, void *arg)
{
    struct otel_exporter *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    x->loop = l;
    x->client = c;
    x->cfg = *cfg;
    x->cfg.ca_pem = NULL;
    if (cfg->ca_pem && !(x->cfg.ca_pem = malloc(cfg->ca_len + 1)))
        goto err;
    if (cfg->ca_pem)
        memcpy(x->cfg.ca_pem, cfg->ca_pem, cfg->ca_len + 1);
    snprintf(x->version, sizeof x->version, "%s", version ? version : "");
    x->done = done;
    x->arg = arg;
    buf_init(&x->body, OTEL_EXPORTER_MAX_BYTES + 65536);
    buf_init(&x->resp, RESPONSE_MAX_BYTES);
    if (build_headers(x) || pin(x))
        goto err;
    static const char *const l_result[] = {"result", NULL};
    x->m_spans = metrics_counter("omjob_otel_spans_total",
                                 "Trace spans by what became of them (exported, rejected by the "
                                 "collector, dropped: queue full or refused)", l_result);
    x->m_requests = metrics_counter("omjob_otel_export_requests_total",
                                    "OTLP export requests by outcome (ok, retry, drop)", l_result);
    x->m_queue = metrics_gauge("omjob_otel_queue_spans", "Spans waiting to be exported", NULL);
    return x;
err:
    otel_exporter_free(x);
    return NULL;
}

void
otel_exporter_free(struct otel_exporter *x)
{
    if (!x)
        return;
    if (x->easy) {
        kube_client_remove_easy(x->client, x->easy);
        curl_easy_cleanup(x->easy);
    }
    loop_timer_cancel(x->loop, x->timer);
    free_list(x->head);
    free_list(x->batch);
    curl_slist_free_all(x->headers); /* holds secrets: curl's copies, freed */
    curl_slist_free_all(x->resolve);
    buf_free(&x->body);
    buf_free(&x->resp);
    free(x->cfg.ca_pem);
    explicit_bzero(x->cfg.headers, sizeof x->cfg.headers);
    free(x);
}

int
otel_exporter_submit(struct otel_exporter *x, const char *tag, const char *spans_json, size_t len,
                     size_t nspans)
{
    if (!x || !nspans)
        return -1;
    if (x->st.queued_spans + nspans > (uint64_t)x->cfg.max_queue ||
        x->st.queued_bytes + len > OTEL_EXPORTER_MAX_BYTES) {
        count_spans(x, "dropped", nspans, &x->st.dropped_spans);
        log_failure(x, LINE_FULL, "OTLP export queue full: trace dropped", 0, "the collector is behind");
        return -1;
    }
    size_t tlen = tag ? strnlen(tag, TAG_MAX - 1) : 0;
    struct item *it = malloc(sizeof *it + len + 1 + tlen + 1);
    if (!it) {
        count_spans(x, "dropped", nspans, &x->st.dropped_spans);
        return -1;
    }
    it->next = NULL;
    it->nspans = nspans;
    it->len = len;
    memcpy(it->json, spans_json, len);
    it->json[len] = 0;
    char *t = it->json + len + 1;
    memcpy(t, tag ? tag : "", tlen);
    t[tlen] = 0;
    it->tag = t;
    if (x->tail)
        x->tail->next = it;
    else
        x->head = it;
    x->tail = it;
    x->st.queued_spans += nspans;
    x->st.queued_bytes += len;
    metrics_set(x->m_queue, (double)x->st.queued_spans);
    if (x->timer && !x->batch && x->st.queued_spans >= (uint64_t)x->cfg.max_batch) {
        loop_timer_cancel(x->loop, x->timer); /* a full batch goes now */
        x->timer = 0;
    }
    schedule(x, 0);
    return 0;
}

bool
otel_exporter_has(const struct otel_exporter *x, const char *tag)
{
    if (!x || !tag)
        return false;
    for (const struct item *it = x->batch; it; it = it->next)
        if (!strcmp(it->tag, tag))
            return true;
    for (const struct item *it = x->head; it; it = it->next)
        if (!strcmp(it->tag, tag))
            return true;
    return false;
}

void
otel_exporter_get_stats(const struct otel_exporter *x, struct otel_exporter_stats *out)
{
    *out = x->st;
}
