#include "operator.h"

#include "config.h"
#include "http/metrics.h"
#include "http/responder.h"
#include "kube/client.h"
#include "kube/config.h"
#include "kube/lease.h"
#include "kube/queue.h"
#include "kube/watch.h"
#include "ctl/ctl.h"
#include "ctl/controllers.h"
#include "ctl/pods.h"
#include "ctl/tracing.h"
#include "otel/otel.h"
#include "kube/event.h"
#include "loop.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "version.h"

#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MANAGED_SELECTOR "app.kubernetes.io%2Fmanaged-by%3Domjob-operator"

struct operator {
    const struct config *cfg;
    struct loop *loop;
    struct kube_config kcfg;
    struct kube_client *client;
    struct responder *responder;
    struct lease *lease;
    char identity[200];   /* the Lease holder identity, also in the User-Agent */
    char user_agent[256];
    uint64_t shutdown_timer;
    uint64_t resync_timer;
    bool stopping;
    struct ctl ctl;
    void *controllers[8]; /* by controller_defs index; NULL when disabled */
    int exit_code;
};

/* --- what is watched ------------------------------------------------------------------ */

static const struct informer_kind kind_pods = {"pods", NULL, pod_trim, pod_state_free};
static const struct informer_kind kind_nodes = {"nodes", NULL, node_trim, node_state_free};

static const char *const event_names[] = {"add", "update", "delete"};

/* A managed pod changed: wake the workflow that owns it. */
static void
on_pod(void *arg, enum informer_event ev, const struct kobj *o)
{
    struct operator *op = arg;
    log_debug("cache change", "resource", "pods", "event", event_names[ev], "key", o->key, "rv",
              o->rv);
    const char *slash = o->owner_ref ? strchr(o->owner_ref, '/') : NULL;
    if (!slash)
        return;
    size_t kind_len = (size_t)(slash - o->owner_ref);
    for (size_t i = 0; i < controller_count; i++) {
        const char *kind = controller_defs[i]->pod_owner_kind;
        if (op->controllers[i] && kind && strlen(kind) == kind_len &&
            !strncmp(kind, o->owner_ref, kind_len))
            controller_defs[i]->pod_changed(op->controllers[i], o->ns, slash + 1, o,
                                            ev == INFORMER_DELETE);
    }
}

/* After becoming leader, on node changes, and periodically. */
static void
resync_all(struct operator *op)
{
    for (size_t i = 0; i < controller_count; i++)
        if (op->controllers[i])
            controller_defs[i]->resync(op->controllers[i]);
}

static void
on_node(void *arg, enum informer_event ev, const struct kobj *o)
{
    struct operator *op = arg;
    log_debug("cache change", "resource", "nodes", "event", event_names[ev], "key", o->key);
    resync_all(op);
}

static bool
may_write(void *arg)
{
    struct operator *op = arg;
    return !op->stopping && (!op->lease || lease_is_leader(op->lease));
}

static void
on_leading(void *arg)
{
    resync_all(arg);
}

/* --- health and metrics ----------------------------------------------------------------- */

static bool
all_synced(const struct operator *op)
{
    if (!nswatch_synced(&op->ctl.pods) || (op->ctl.nodes && !informer_synced(op->ctl.nodes)))
        return false;
    for (size_t i = 0; i < controller_count; i++)
        if (op->controllers[i] && !controller_defs[i]->synced(op->controllers[i]))
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

/* Why the operator is not ready, or NULL when it is. */
static const char *
not_ready(const struct operator *op)
{
    if (!all_synced(op))
        return "caches not synced\n";
    if (op->lease && !lease_healthy(op->lease))
        return "leader election cannot reach the API server\n";
    return NULL;
}

static int
h_readyz(void *arg, struct buf *body, const char **ct)
{
    struct operator *op = arg;
    *ct = "text/plain; charset=utf-8";
    const char *why = not_ready(op);
    buf_appends(body, why ? why : "ok\n");
    return why ? 503 : 200;
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

static struct metric *m_api_requests, *m_api_retries, *m_api_queue, *m_watch, *m_cache, *m_loop;
static struct metric *m_ready, *m_events, *m_wq_depth, *m_wq_delayed, *m_wq_adds,
    *m_wq_retries, *m_wq_wait, *m_wq_work;

static void
on_event_recorded(void *arg, const char *kind, const char *type, const char *reason)
{
    (void)arg;
    metrics_add(m_events, 1, kind, type, reason);
}

static void
on_queue_processed(void *arg, const char *kind, double wait_s, double work_s)
{
    (void)arg;
    if (wait_s >= 0)
        metrics_observe(m_wq_wait, wait_s, kind);
    metrics_observe(m_wq_work, work_s, kind);
}

static void
scrape_queue(void *arg, const char *kind, const struct workqueue *q)
{
    (void)arg;
    struct workqueue_stats st;
    workqueue_get_stats(q, &st);
    metrics_set(m_wq_depth, (double)st.depth, kind);
    metrics_set(m_wq_delayed, (double)st.delayed, kind);
    metrics_set(m_wq_adds, (double)st.adds, kind);
    metrics_set(m_wq_retries, (double)st.retries, kind);
}

static void
scrape_informer(struct informer *inf, const char *r)
{
    struct informer_stats st;
    informer_get_stats(inf, &st);
    metrics_add(m_watch, (double)st.watch_restarts, r, "watch_restart");
    metrics_add(m_watch, (double)st.relists, r, "relist");
    metrics_add(m_watch, (double)st.expired_410, r, "expired_410");
    metrics_add(m_watch, (double)st.errors, r, "error");
    metrics_add(m_watch, (double)st.events, r, "event");
    metrics_add(m_cache, (double)cache_count(informer_cache(inf)), r);
}

static void
scrape(void *arg)
{
    struct operator *op = arg;
    struct kube_client_stats cs;
    kube_client_get_stats(op->client, &cs);
    struct loop_stats ls;
    loop_get_stats(op->loop, &ls);
    metrics_set(m_loop, (double)ls.iterations, "iterations");
    metrics_set(m_loop, (double)ls.timers_fired, "timers_fired");
    metrics_set(m_loop, (double)ls.timers_pending, "timers_pending");
    metrics_set(m_loop, (double)ls.fds_watched, "fds_watched");
    static const char *const resources[] = {"pods", "nodes"};
    static const char *const kinds[] = {"watch_restart", "relist", "expired_410", "error", "event"};
    for (size_t i = 0; i < 2; i++) {
        metrics_set(m_cache, 0, resources[i]);
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
            metrics_set(m_watch, 0, resources[i], kinds[k]);
    }
    metrics_set(m_api_requests, (double)cs.responses_2xx, "2xx");
    metrics_set(m_api_requests, (double)cs.responses_4xx, "4xx");
    metrics_set(m_api_requests, (double)cs.responses_5xx, "5xx");
    metrics_set(m_api_requests, (double)cs.transport_errors, "error");
    metrics_set(m_api_retries, (double)cs.retries, "retry");
    metrics_set(m_api_retries, (double)cs.throttled_429, "throttled_429");
    metrics_set(m_api_retries, (double)cs.token_reloads, "token_reload");
    metrics_set(m_api_retries, (double)cs.dropped_writes, "write_dropped");
    metrics_set(m_api_retries, (double)cs.refused_writes, "write_refused");
    metrics_set(m_api_retries, (double)cs.gated_writes, "write_not_leader");
    metrics_set(m_api_queue, (double)cs.queued_writes, "queued");
    metrics_set(m_api_queue, (double)cs.inflight, "inflight");
    metrics_set(m_ready, not_ready(op) ? 0 : 1);
    workqueue_foreach_named(scrape_queue, NULL);
    for (size_t i = 0; i < op->ctl.pods.n; i++)
        scrape_informer(op->ctl.pods.inf[i], "pods");
    if (op->ctl.nodes)
        scrape_informer(op->ctl.nodes, "nodes");
}

static double
leader_gauge(void *arg)
{
    return may_write(arg) ? 1 : 0;
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
                                    "API client retries, 429s, token re-reads, queued writes "
                                    "dropped (no longer needed) or refused (queue full), and "
                                    "writes refused or dropped while not the leader", l_kind);
    static const char *const l_state[] = {"state", NULL};
    m_api_queue = metrics_gauge("omjob_api_writes", "API writes waiting for the rate limiter "
                                                    "(queued) and requests not queued: on the wire, "
                                                    "watches, retry waits (inflight)",
                                l_state);
    m_watch = metrics_counter("omjob_watch_events_total",
                              "Watch events, restarts, relists, 410s and errors", l_watch);
    m_cache = metrics_gauge("omjob_cache_objects", "Objects in the trimmed cache", l_res);
    static const char *const l_what[] = {"what", NULL};
    m_loop = metrics_gauge("omjob_loop", "Event loop: iterations and timers fired (monotonic), "
                                         "timers pending and fds watched (now)", l_what);
    m_ready = metrics_gauge("omjob_ready", "1 when /readyz answers 200", NULL);
    static const char *const l_event[] = {"kind", "type", "reason", NULL};
    m_events = metrics_counter("omjob_events_total",
                               "Kubernetes Events recorded, by object kind, type and reason "
                               "(occurrences, before coalescing)", l_event);
    static const char *const l_ctl[] = {"controller", NULL};
    m_wq_depth = metrics_gauge("omjob_workqueue_depth", "Keys ready to reconcile", l_ctl);
    m_wq_delayed = metrics_gauge("omjob_workqueue_delayed", "Keys waiting for a timer", l_ctl);
    m_wq_adds = metrics_counter("omjob_workqueue_adds_total", "Keys made ready", l_ctl);
    m_wq_retries = metrics_counter("omjob_workqueue_retries_total", "Rate-limited requeues",
                                   l_ctl);
    static const double wq_bounds[] = {0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1,
                                       0.5,    1,      5,     10,    30,   60};
    size_t nb = sizeof wq_bounds / sizeof wq_bounds[0];
    m_wq_wait = metrics_histogram("omjob_workqueue_wait_duration_seconds",
                                  "How long a key waited ready before its reconcile", l_ctl,
                                  wq_bounds, nb);
    m_wq_work = metrics_histogram("omjob_reconcile_duration_seconds",
                                  "How long one reconcile took (the loop is busy meanwhile)",
                                  l_ctl, wq_bounds, nb);
    if (!m_api_requests || !m_api_retries || !m_api_queue || !m_watch || !m_cache || !m_loop ||
        !metrics_gauge_fn("omjob_leader",
                          "1 while this replica may write: it holds the leader Lease "
                          "(or runs without leader election) and is not shutting down",
                          leader_gauge, op) ||
        !m_ready || !m_events || !m_wq_depth || !m_wq_delayed || !m_wq_adds || !m_wq_retries ||
        !m_wq_wait || !m_wq_work)
        return -1;
    event_set_observer(on_event_recorded, NULL);
    workqueue_set_observer(on_queue_processed, NULL);
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
    op->stopping = true; /* no new writes from here on */
    op->shutdown_timer = loop_timer_add(l, 5000, on_shutdown_timer, op);
    if (op->lease)
        lease_release(op->lease, stop_now, op);
    else
        stop_now(op);
}

/* The safety net of a level-triggered operator: every REQUEUE_DELAY_SECONDS the
 * controllers look at their live objects again, whatever the watches said. */
static void
on_resync_timer(struct loop *l, void *arg)
{
    struct operator *op = arg;
    if (may_write(op))
        on_leading(op);
    op->resync_timer = loop_timer_add(l, op->cfg->requeue_delay_s * 1000, on_resync_timer, op);
}

/* <pod name or host name>_<12 random hex digits>: unique per process, as client-go's. */
static void
make_identity(struct operator *op)
{
    char host[128] = "omjob-operator";
    const char *pod = getenv("POD_NAME");
    if (pod && *pod)
        snprintf(host, sizeof host, "%s", pod);
    else
        gethostname(host, sizeof host - 1);
    for (char *p = host; *p; p++) /* it goes into a header: no CR/LF, nothing odd */
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.' && *p != '_')
            *p = '-';
    unsigned char rnd[6] = {0};
    FILE *f = fopen("/dev/urandom", "rb");
    if (f) {
        if (fread(rnd, 1, sizeof rnd, f) != sizeof rnd)
            memset(rnd, 0, sizeof rnd);
        fclose(f);
    }
    snprintf(op->identity, sizeof op->identity, "%s_%02x%02x%02x%02x%02x%02x", host, rnd[0],
             rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
    snprintf(op->user_agent, sizeof op->user_agent, "omjob-operator/%s (%s)", version_string(),
             op->identity);
}

static int
setup_lease(struct operator *op)
{
    const struct config *cfg = op->cfg;
    if (!cfg->leader_elect)
        return 0;
    const char *ns = cfg->operator_namespace && *cfg->operator_namespace ? cfg->operator_namespace
                                                                          : op->kcfg.namespace;
    struct lease_opts lo = {.namespace = ns ? ns : "default", .name = cfg->lease_name,
                            .identity = op->identity, .duration_ms = cfg->lease_duration_s * 1000,
                            .renew_deadline_ms = cfg->renew_deadline_s * 1000,
                            .retry_period_ms = cfg->retry_period_s * 1000,
                            .on_started = on_leading, .arg = op};
    /* No on_lost: when the Lease is lost (its deadline passed, or another holder took it),
     * writes stop at that instant already, since may_write() and the client's write gate
     * follow lease_is_leader(), which goes by the clock. The operator stays up as a standby
     * (caches and watches kept) and campaigns again; becoming leader again resyncs
     * everything. It does not exit: the kubelet's CrashLoopBackOff would keep a replica down
     * for up to 5 minutes after repeated losses. */
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

/* Is item one of the comma-separated entries of list? */
static bool
list_has(const char *list, const char *item)
{
    size_t n = strlen(item);
    for (const char *p = list; p && *p;) {
        while (*p == ',' || *p == ' ')
            p++;
        size_t len = strcspn(p, ", ");
        if (len == n && !strncmp(p, item, n))
            return true;
        p += len;
    }
    return false;
}

/* Every entry of CONTROLLERS must name a controller: a typo must not silently disable one. */
static int
check_controller_list(const char *list)
{
    char *copy = strdup(list ? list : ""), *save = NULL;
    int rc = copy ? 0 : -1;
    for (char *item = copy ? strtok_r(copy, ", ", &save) : NULL; item && !rc;
         item = strtok_r(NULL, ", ", &save)) {
        size_t i = 0;
        while (i < controller_count && strcmp(controller_defs[i]->name, item))
            i++;
        if (i == controller_count) {
            log_error("unknown controller in CONTROLLERS/--controllers (known: omjob, "
                      "cronomjob, observatory, seqjob)",
                      "controller", item);
            rc = -1;
        }
    }
    free(copy);
    return rc;
}

static int
setup_controllers(struct operator *op)
{
    const struct config *cfg = op->cfg;
    struct ctl *ctl = &op->ctl;
    ctl->loop = op->loop;
    ctl->client = op->client;
    ctl->cfg = cfg;
    ctl->may_write = may_write;
    ctl->may_write_arg = op;
    char host[128] = "";
    gethostname(host, sizeof host - 1);
    ctl->events = event_recorder_new(op->loop, op->client, "omjob-operator", host);
    if (!ctl->events)
        return -1;
    if (nswatch_init(&ctl->pods, op->loop, op->client, cfg->watch_namespaces, "/api/v1", "pods",
                     MANAGED_SELECTOR, &kind_pods, cfg->watch_timeout_s, on_pod, op))
        return -1;
    if (cfg->watch_nodes) {
        ctl->nodes = informer_new(op->loop, op->client, "/api/v1/nodes", NULL, &kind_nodes,
                                  cfg->watch_timeout_s, on_node, op);
        if (!ctl->nodes)
            return -1;
    } else {
        log_warn("WATCH_NODES=false: node loss is detected only when pods fail or are evicted");
    }
    if (check_controller_list(cfg->controllers))
        return -1;
    for (size_t i = 0; i < controller_count && i < sizeof op->controllers / sizeof op->controllers[0];
         i++) {
        if (!list_has(cfg->controllers, controller_defs[i]->name))
            continue;
        op->controllers[i] = controller_defs[i]->create(ctl);
        if (!op->controllers[i])
            return -1;
    }
    nswatch_start(&ctl->pods);
    if (ctl->nodes)
        informer_start(ctl->nodes);
    for (size_t i = 0; i < controller_count; i++)
        if (op->controllers[i])
            controller_defs[i]->start(op->controllers[i]);
    op->resync_timer = loop_timer_add(op->loop, cfg->requeue_delay_s * 1000, on_resync_timer, op);
    return 0;
}

static const char *
env_get(const char *name)
{
    return getenv(name);
}

static void
env_warn(const char *what)
{
    log_warn("OpenTelemetry setting ignored", "setting", what);
}

/* Traces (OTEL_* environment, off by default). A setting that cannot be used is reported
 * and the operator runs without traces: tracing must never keep it from working. */
static int
setup_tracing(struct operator *op)
{
    struct otel_config oc;
    char err[512];
    if (otel_config_from_env(&oc, env_get, env_warn, err, sizeof err)) {
        log_error("OpenTelemetry configuration unusable: traces are off", "error", err);
        return 0;
    }
    if (!oc.enabled)
        return 0;
    int rc = tracing_start(op->loop, op->client, &oc, version_string());
    if (!rc) /* the endpoint only: headers hold secrets */
        log_info("exporting traces (OTLP/HTTP JSON)", "endpoint", oc.url, "service.name",
                 oc.resource[0].value);
    otel_config_free(&oc);
    return rc;
}

static void
teardown(struct operator *op)
{
    for (size_t i = 0; i < controller_count; i++)
        if (op->controllers[i])
            controller_defs[i]->destroy(op->controllers[i]);
    nswatch_free(&op->ctl.pods);
    informer_free(op->ctl.nodes);
    event_recorder_free(op->ctl.events);
    tracing_stop(); /* before the client: its request is on the client's multi */
    ctl_last_free(&op->ctl);
    lease_free(op->lease);
    loop_timer_cancel(op->loop, op->shutdown_timer);
    loop_timer_cancel(op->loop, op->resync_timer);
    responder_free(op->responder);
    kube_client_free(op->client);
    kube_config_free(&op->kcfg);
    event_set_observer(NULL, NULL);
    workqueue_set_observer(NULL, NULL);
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
    if (cfg->clock_offset_s) {
        time_set_offset_ms((int64_t)cfg->clock_offset_s * 1000);
        log_warn("test clock offset in effect: schedules use a shifted wall clock");
    }
    op.loop = loop_new();
    if (!op.loop)
        return 1;
    if (kube_config_load(cfg->kubeconfig, cfg->context, &op.kcfg, err, sizeof err)) {
        log_error("cannot load the API server configuration", "error", err);
        goto out;
    }
    make_identity(&op);
    struct kube_client_opts copts = {.qps = cfg->qps, .burst = cfg->burst,
                                     .connect_timeout_s = 10, .request_timeout_s = 60,
                                     .max_body_bytes = 64u << 20, .max_retries = 8,
                                     .user_agent = op.user_agent};
    op.client = kube_client_new(op.loop, &op.kcfg, &copts, err, sizeof err);
    if (!op.client) {
        log_error("cannot set up the API client", "error", err, "server", op.kcfg.server);
        goto out;
    }
    log_info("API server", "server", op.kcfg.server, "source", op.kcfg.source, "user_agent",
             op.user_agent);
    kube_client_set_write_gate(op.client, may_write, &op);
    if (loop_signal(op.loop, SIGTERM, on_term, &op) || loop_signal(op.loop, SIGINT, on_term, &op) ||
        loop_signal(op.loop, SIGHUP, on_hup, &op) || setup_metrics(&op) ||
        setup_responder(&op) || setup_tracing(&op) || setup_lease(&op) ||
        setup_controllers(&op)) {
        log_error("start-up failed");
        goto out;
    }
    if (loop_run(op.loop))
        log_error("event loop failed");
out:
    teardown(&op);
    return op.exit_code;
}
