#include "operator.h"

#include "config.h"
#include "http/metrics.h"
#include "http/responder.h"
#include "kube/client.h"
#include "kube/config.h"
#include "kube/lease.h"
#include "kube/watch.h"
#include "loop.h"
#include "util/buf.h"
#include "util/log.h"
#include "version.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_INFORMERS 64
#define MANAGED_SELECTOR "app.kubernetes.io%2Fmanaged-by%3Domjob-operator"

struct operator {
    const struct config *cfg;
    struct loop *loop;
    struct kube_config kcfg;
    struct kube_client *client;
    struct responder *responder;
    struct lease *lease;
    uint64_t shutdown_timer;
    struct informer *inf[MAX_INFORMERS];
    const char *inf_resource[MAX_INFORMERS];
    size_t ninf;
    int exit_code;
};

/* --- what is watched ------------------------------------------------------------------ */

static const struct informer_kind kind_pods = {"pods", NULL, NULL, NULL};
static const struct informer_kind kind_nodes = {"nodes", NULL, NULL, NULL};

static void
on_cache_change(void *arg, enum informer_event ev, const struct kobj *o)
{
    const char *resource = arg;
    static const char *const names[] = {"add", "update", "delete"};
    log_debug("cache change", "resource", resource, "event", names[ev], "key", o->key, "rv",
              o->rv);
}

static int
add_informer(struct operator *op, const char *resource, const char *path, const char *selector,
             const struct informer_kind *kind)
{
    if (op->ninf == MAX_INFORMERS) {
        log_error("too many watches: reduce WATCH_NAMESPACES");
        return -1;
    }
    struct informer *inf = informer_new(op->loop, op->client, path, selector, kind,
                                        op->cfg->watch_timeout_s, on_cache_change,
                                        (void *)(uintptr_t)resource);
    if (!inf)
        return -1;
    op->inf_resource[op->ninf] = resource;
    op->inf[op->ninf++] = inf;
    return 0;
}

/* One informer per namespace in WATCH_NAMESPACES (every one of them), or one for all. */
static int
add_namespaced(struct operator *op, const char *resource, const char *prefix, const char *plural,
               const char *selector, const struct informer_kind *kind)
{
    char path[512];
    const char *list = op->cfg->watch_namespaces;
    if (!list || !*list) {
        snprintf(path, sizeof path, "%s/%s", prefix, plural);
        return add_informer(op, resource, path, selector, kind);
    }
    char *copy = strdup(list), *save = NULL;
    if (!copy)
        return -1;
    int rc = 0;
    for (char *ns = strtok_r(copy, ", ", &save); ns && !rc; ns = strtok_r(NULL, ", ", &save)) {
        snprintf(path, sizeof path, "%s/namespaces/%s/%s", prefix, ns, plural);
        rc = add_informer(op, resource, path, selector, kind);
    }
    free(copy);
    return rc;
}

/* --- health and metrics ----------------------------------------------------------------- */

static bool
all_synced(const struct operator *op)
{
    for (size_t i = 0; i < op->ninf; i++)
        if (!informer_synced(op->inf[i]))
            return false;
    return true;
}

static int
h_healthz(void *arg, struct buf *body, const char **ct)
{
    (void)arg;
    *ct = "text/plain; charset=utf-8";
    buf_appends(body, "ok\n");
    return 200;
}

static int
h_readyz(void *arg, struct buf *body, const char **ct)
{
    struct operator *op = arg;
    *ct = "text/plain; charset=utf-8";
    if (!all_synced(op)) {
        buf_appends(body, "caches not synced\n");
        return 503;
    }
    if (op->lease && !lease_healthy(op->lease)) {
        buf_appends(body, "leader election cannot reach the API server\n");
        return 503;
    }
    buf_appends(body, "ok\n");
    return 200;
}

static int
h_metrics(void *arg, struct buf *body, const char **ct)
{
    (void)arg;
    *ct = "text/plain; version=0.0.4; charset=utf-8";
    return metrics_render(body) ? 500 : 200;
}

static int
h_info(void *arg, struct buf *body, const char **ct)
{
    (void)arg;
    *ct = "application/json";
    return version_json(body) ? 500 : 200;
}

static struct metric *m_api_requests, *m_api_retries, *m_watch, *m_cache;

static void
scrape(void *arg)
{
    struct operator *op = arg;
    struct kube_client_stats cs;
    kube_client_get_stats(op->client, &cs);
    metrics_set(m_api_requests, (double)cs.responses_2xx, "2xx");
    metrics_set(m_api_requests, (double)cs.responses_4xx, "4xx");
    metrics_set(m_api_requests, (double)cs.responses_5xx, "5xx");
    metrics_set(m_api_requests, (double)cs.transport_errors, "error");
    metrics_set(m_api_retries, (double)cs.retries, "retry");
    metrics_set(m_api_retries, (double)cs.throttled_429, "throttled_429");
    metrics_set(m_api_retries, (double)cs.token_reloads, "token_reload");
    for (size_t i = 0; i < op->ninf; i++) {
        struct informer_stats st;
        informer_get_stats(op->inf[i], &st);
        const char *r = op->inf_resource[i];
        metrics_set(m_watch, (double)st.watch_restarts, r, "watch_restart");
        metrics_set(m_watch, (double)st.relists, r, "relist");
        metrics_set(m_watch, (double)st.expired_410, r, "expired_410");
        metrics_set(m_watch, (double)st.errors, r, "error");
        metrics_set(m_watch, (double)st.events, r, "event");
        metrics_set(m_cache, (double)cache_count(informer_cache(op->inf[i])), r);
    }
}

static int
setup_metrics(struct operator *op)
{
    static const char *const l_class[] = {"class", NULL};
    static const char *const l_kind[] = {"kind", NULL};
    static const char *const l_watch[] = {"resource", "kind", NULL};
    static const char *const l_res[] = {"resource", NULL};
    /* The client and informers keep plain counters; they are copied into gauges-shaped
     * counters at scrape time (monotonic, so exposed as counters). */
    m_api_requests = metrics_counter("omjob_api_responses_total",
                                     "API server responses by status class", l_class);
    m_api_retries = metrics_counter("omjob_api_client_events_total",
                                    "API client retries, 429s and token re-reads", l_kind);
    m_watch = metrics_counter("omjob_watch_events_total",
                              "Watch events, restarts, relists, 410s and errors", l_watch);
    m_cache = metrics_gauge("omjob_cache_objects", "Objects in the trimmed cache", l_res);
    if (!m_api_requests || !m_api_retries || !m_watch || !m_cache)
        return -1;
    if (metrics_register_process())
        return -1;
    return metrics_on_scrape(scrape, op);
}

static int
setup_responder(struct operator *op)
{
    const struct config *cfg = op->cfg;
    struct responder_limits lim;
    responder_limits_default(&lim);
    op->responder = responder_new(op->loop, &lim);
    if (!op->responder)
        return -1;
    int port;
    char p[16];
    if (cfg->health_port) {
        if (responder_listen(op->responder, cfg->bind_address, (int)cfg->health_port, &port))
            return -1;
        snprintf(p, sizeof p, "%d", port);
        log_info("health endpoints listening", "address", cfg->bind_address, "port", p);
    }
    if (cfg->metrics_port && cfg->metrics_port != cfg->health_port) {
        if (responder_listen(op->responder, cfg->bind_address, (int)cfg->metrics_port, &port))
            return -1;
        snprintf(p, sizeof p, "%d", port);
        log_info("metrics endpoint listening", "address", cfg->bind_address, "port", p);
    }
    /* Both listeners serve every route: simpler for probes, nothing secret on either. */
    if (responder_route(op->responder, "/healthz", h_healthz, op) ||
        responder_route(op->responder, "/health", h_healthz, op) ||
        responder_route(op->responder, "/readyz", h_readyz, op) ||
        responder_route(op->responder, "/ready", h_readyz, op) ||
        responder_route(op->responder, "/metrics", h_metrics, op) ||
        responder_route(op->responder, "/info", h_info, op))
        return -1;
    return 0;
}

/* --- lifecycle ------------------------------------------------------------------------- */

static void
stop_now(void *arg)
{
    struct operator *op = arg;
    loop_stop(op->loop);
}

static void
on_shutdown_timer(struct loop *l, void *arg)
{
    (void)l;
    log_warn("shutdown: the lease release did not finish in time");
    stop_now(arg);
}

/* SIGTERM/SIGINT: stop taking work, release the lease (bounded), exit 0. */
static void
on_term(struct loop *l, int signo, void *arg)
{
    struct operator *op = arg;
    if (op->shutdown_timer)
        return;
    log_info("signal received, shutting down", "signal", signo == SIGTERM ? "SIGTERM" : "SIGINT");
    op->exit_code = 0;
    for (size_t i = 0; i < op->ninf; i++)
        informer_free(op->inf[i]);
    op->ninf = 0;
    op->shutdown_timer = loop_timer_add(l, 5000, on_shutdown_timer, op);
    if (op->lease)
        lease_release(op->lease, stop_now, op);
    else
        stop_now(op);
}

static void
on_lease_lost(void *arg)
{
    struct operator *op = arg;
    /* Stop every write at once and restart clean: exit non-zero. */
    op->exit_code = 3;
    loop_stop(op->loop);
}

static int
setup_lease(struct operator *op)
{
    const struct config *cfg = op->cfg;
    if (!cfg->leader_elect)
        return 0;
    char host[128] = "omjob-operator", identity[200];
    const char *pod = getenv("POD_NAME");
    if (pod && *pod)
        snprintf(host, sizeof host, "%s", pod);
    else
        gethostname(host, sizeof host - 1);
    unsigned char rnd[6] = {0};
    FILE *f = fopen("/dev/urandom", "rb");
    if (f) {
        if (fread(rnd, 1, sizeof rnd, f) != sizeof rnd)
            memset(rnd, 0, sizeof rnd);
        fclose(f);
    }
    snprintf(identity, sizeof identity, "%s_%02x%02x%02x%02x%02x%02x", host, rnd[0], rnd[1],
             rnd[2], rnd[3], rnd[4], rnd[5]);
    const char *ns = cfg->operator_namespace && *cfg->operator_namespace ? cfg->operator_namespace
                                                                          : op->kcfg.namespace;
    struct lease_opts lo = {.namespace = ns ? ns : "default", .name = cfg->lease_name,
                            .identity = identity, .duration_ms = cfg->lease_duration_s * 1000,
                            .renew_deadline_ms = cfg->renew_deadline_s * 1000,
                            .retry_period_ms = cfg->retry_period_s * 1000,
                            .on_lost = on_lease_lost, .arg = op};
    op->lease = lease_new(op->loop, op->client, &lo);
    if (!op->lease)
        return -1;
    lease_start(op->lease);
    return 0;
}

static void
on_hup(struct loop *l, int signo, void *arg)
{
    (void)l;
    (void)signo;
    (void)arg;
    log_info("SIGHUP ignored: configuration is read at start-up");
}

static int
setup_watches(struct operator *op)
{
    if (add_namespaced(op, "pods", "/api/v1", "pods", MANAGED_SELECTOR, &kind_pods) ||
        add_informer(op, "nodes", "/api/v1/nodes", NULL, &kind_nodes))
        return -1;
    for (size_t i = 0; i < op->ninf; i++)
        informer_start(op->inf[i]);
    return 0;
}

static void
teardown(struct operator *op)
{
    for (size_t i = 0; i < op->ninf; i++)
        informer_free(op->inf[i]);
    lease_free(op->lease);
    loop_timer_cancel(op->loop, op->shutdown_timer);
    responder_free(op->responder);
    kube_client_free(op->client);
    kube_config_free(&op->kcfg);
    metrics_reset_all();
    loop_free(op->loop);
}

int
operator_run(const struct config *cfg)
{
    struct operator op = {.cfg = cfg, .exit_code = 1};
    char err[512];
    signal(SIGPIPE, SIG_IGN);
    if (cfg->reconciliation_threads != 1)
        log_info("RECONCILIATION_THREADS is ignored: the operator runs on one event loop");
    log_info("starting", "version", version_string());
    op.loop = loop_new();
    if (!op.loop)
        return 1;
    if (kube_config_load(cfg->kubeconfig, cfg->context, &op.kcfg, err, sizeof err)) {
        log_error("cannot load the API server configuration", "error", err);
        goto out;
    }
    struct kube_client_opts copts = {.qps = cfg->qps, .burst = cfg->burst,
                                     .connect_timeout_s = 10, .request_timeout_s = 60,
                                     .max_body_bytes = 64u << 20, .max_retries = 8};
    op.client = kube_client_new(op.loop, &op.kcfg, &copts, err, sizeof err);
    if (!op.client) {
        log_error("cannot set up the API client", "error", err, "server", op.kcfg.server);
        goto out;
    }
    log_info("API server", "server", op.kcfg.server, "source", op.kcfg.source);
    if (loop_signal(op.loop, SIGTERM, on_term, &op) || loop_signal(op.loop, SIGINT, on_term, &op) ||
        loop_signal(op.loop, SIGHUP, on_hup, &op) || setup_metrics(&op) ||
        setup_responder(&op) || setup_lease(&op) || setup_watches(&op)) {
        log_error("start-up failed");
        goto out;
    }
    if (loop_run(op.loop))
        log_error("event loop failed");
out:
    teardown(&op);
    return op.exit_code;
}
