/* The client's treatment of Lease writes (KUBE_PRIORITY) and of the write gate. The client
 * points at a closed local port: a request counts as sent when the client starts it
 * (stats.requests), which is all these tests look at; nothing needs to answer. */
#include "t.h"

#include "kube/client.h"
#include "http/metrics.h"
#include "kube/config.h"
#include "loop.h"
#include "util/timeutil.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

struct env {
    struct loop *loop;
    struct kube_config cfg;
    struct kube_client *c;
};

static int
closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof a) &&
        !getsockname(fd, (struct sockaddr *)&a, &len))
        port = ntohs(a.sin_port); /* bound, never listened on: refused */
    if (fd >= 0)
        close(fd);
    return port;
}

/* qps 1, burst 1: the first write takes the only token, later ones wait in the queue. */
static bool
env_init(struct env *e)
{
    static char server[] = "https://127.0.0.1", host[] = "127.0.0.1", src[] = "test";
    memset(e, 0, sizeof *e);
    e->loop = loop_new();
    e->cfg.server = server;
    e->cfg.host = host;
    e->cfg.port = closed_port();
    e->cfg.host_is_ip = true;
    e->cfg.insecure_skip_tls_verify = true;
    e->cfg.source = src;
    struct kube_client_opts o = {.qps = 1, .burst = 1, .connect_timeout_s = 5,
                                 .request_timeout_s = 5, .max_body_bytes = 1 << 20,
                                 .max_retries = 0, .user_agent = "omjob-operator/test (me_1)"};
    char err[256];
    e->c = e->loop ? kube_client_new(e->loop, &e->cfg, &o, err, sizeof err) : NULL;
    return e->c != NULL;
}

static void
env_free(struct env *e)
{
    kube_client_free(e->c);
    loop_free(e->loop);
    metrics_reset_all(); /* the client registers its metrics again next time */
}

struct seen {
    int done, dropped;
    char error[64];
};

static void
on_done(void *arg, const struct kube_response *r)
{
    struct seen *s = arg;
    s->done++;
    if (r->dropped) {
        s->dropped++;
        snprintf(s->error, sizeof s->error, "%s", r->error ? r->error : "");
    }
}

static uint64_t
post(struct env *e, const char *ns, unsigned flags, struct seen *s)
{
    struct kube_req_spec spec = {.method = "POST", .path = "/api/v1/namespaces/x/pods",
                                 .content_type = "application/json", .body = "{}", .body_len = 2,
                                 .flags = flags, .done = on_done, .arg = s, .queue_key = ns};
    return kube_submit(e->c, &spec);
}

static uint64_t
renew(struct env *e, struct seen *s)
{
    struct kube_req_spec spec = {.method = "PUT",
                                 .path = "/apis/coordination.k8s.io/v1/namespaces/o/leases/l",
                                 .content_type = "application/json", .body = "{}", .body_len = 2,
                                 .flags = KUBE_PRIORITY, .done = on_done, .arg = s};
    return kube_submit(e->c, &spec);
}

TEST(lease_write_goes_before_queued_controller_writes_when_the_bucket_is_empty)
{
    struct env e;
    T_ASSERT(env_init(&e));
    struct seen s = {0};
    struct kube_client_stats st;
    T_ASSERT(post(&e, "a", 0, &s)); /* takes the only token: sent */
    for (int i = 0; i < 5; i++)
        T_ASSERT(post(&e, i % 2 ? "a" : "b", i > 2 ? KUBE_LOW : 0, &s));
    kube_client_get_stats(e.c, &st);
    T_EQ_INT(st.requests, 1);
    T_EQ_INT(st.queued_writes, 5); /* the bucket is empty: they wait */
    T_ASSERT(renew(&e, &s));
    kube_client_get_stats(e.c, &st);
    T_EQ_INT(st.requests, 2); /* the renewal went out at once, ahead of all five */
    T_EQ_INT(st.queued_writes, 5);
    T_EQ_INT(s.done, 0); /* and nothing completed inside kube_submit */
    env_free(&e);
}

static bool gate_is_open;

static bool
gate(void *arg)
{
    (void)arg;
    return gate_is_open;
}

TEST(closed_write_gate_refuses_new_writes_and_drops_queued_ones_but_not_the_lease)
{
    struct env e;
    T_ASSERT(env_init(&e));
    gate_is_open = true;
    kube_client_set_write_gate(e.c, gate, NULL);
    struct seen sent = {0}, queued = {0}, lease = {0};
    T_ASSERT(post(&e, "a", 0, &sent));   /* sent: takes the token */
    T_ASSERT(post(&e, "a", 0, &queued)); /* waits for the limiter */
    T_ASSERT(post(&e, "b", KUBE_RETRY, &queued));
    gate_is_open = false; /* leadership lost */
    T_EQ_INT(post(&e, "c", 0, &sent), 0);
    struct kube_client_stats st;
    kube_client_get_stats(e.c, &st);
    T_EQ_INT(st.gated_writes, 1);
    T_ASSERT(renew(&e, &lease));
    kube_client_get_stats(e.c, &st);
    T_EQ_INT(st.requests, 2); /* the first write and the Lease; not the refused one */
    /* the queued writes complete unsent when the limiter would have let them go */
    int64_t deadline = time_mono_ms() + 5000;
    while (queued.done < 2 && time_mono_ms() < deadline)
        loop_run_once(e.loop, 100);
    T_EQ_INT(queued.dropped, 2);
    T_EQ_STR(queued.error, "not sent: not the leader");
    kube_client_get_stats(e.c, &st);
    T_EQ_INT(st.gated_writes, 3);
    T_EQ_INT(st.queued_writes, 0);
    T_EQ_INT(st.requests, 2); /* neither was sent */
    env_free(&e);
}

#include "config.h"

TEST(config_refuses_lease_timings_client_go_refuses)
{
    struct config c;
    char err[256];
    const char *ok[] = {"x", "--lease-duration-seconds", "3", "--renew-deadline-seconds", "2",
                        "--retry-period-seconds", "1", NULL};
    T_EQ_INT(config_load(&c, 7, ok, err, sizeof err), 0);
    const char *equal[] = {"x", "--lease-duration-seconds", "10", NULL}; /* = renew deadline */
    T_EQ_INT(config_load(&c, 3, equal, err, sizeof err), -1);
    T_CONTAINS(err, "lease duration (10s) > renew deadline (10s)");
    const char *jitter[] = {"x", "--renew-deadline-seconds", "6", "--retry-period-seconds", "5",
                            NULL}; /* 6 <= 1.2 x 5 */
    T_EQ_INT(config_load(&c, 5, jitter, err, sizeof err), -1);
    const char *off[] = {"x", "--leader-elect=false", "--lease-duration-seconds", "10", NULL};
    T_EQ_INT(config_load(&c, 4, off, err, sizeof err), 0); /* no election: not checked */
}

/* --- the elector against a scripted API server (kube_client_new_fake) -------------------- */

#include "kube/lease.h"

#include <stdlib.h>

struct script {
    struct kube_req_spec last; /* the request waiting for an answer (strings not kept) */
    char method[8];
    unsigned flags;
    uint64_t id;
    int requests, started, lost;
    bool pending;
};

static uint64_t
script_submit(void *arg, const struct kube_req_spec *spec)
{
    struct script *s = arg;
    s->last = *spec;
    snprintf(s->method, sizeof s->method, "%s", spec->method);
    s->flags = spec->flags;
    s->pending = true;
    s->requests++;
    return ++s->id;
}

static void
script_cancel(void *arg, uint64_t id)
{
    struct script *s = arg;
    if (id == s->id)
        s->pending = false;
}

static void
answer(struct script *s, long status, const char *body)
{
    s->pending = false;
    struct kube_response r = {status, body, strlen(body), status < 300 ? NULL : "refused", "",
                              "", 0, 0};
    s->last.done(s->last.arg, &r);
}

static void on_started(void *arg) { ((struct script *)arg)->started++; }
static void on_lost(void *arg) { ((struct script *)arg)->lost++; }

/* Runs the loop until a request waits for an answer, or until stop() holds. */
static bool
run_until(struct loop *l, struct script *s, bool (*stop)(const struct script *), int64_t max_ms)
{
    int64_t deadline = time_mono_ms() + max_ms;
    while (!(stop ? stop(s) : s->pending) && time_mono_ms() < deadline)
        loop_run_once(l, 10);
    return stop ? stop(s) : s->pending;
}

static bool
has_lost(const struct script *s)
{
    return s->lost > 0;
}

static int64_t late_after;

static bool
late(const struct script *s)
{
    (void)s;
    return time_mono_ms() > late_after;
}

#define MINE "{\"metadata\":{\"resourceVersion\":\"7\"},\"spec\":{\"holderIdentity\":\"me\"," \
             "\"renewTime\":\"2026-12-03T00:00:00.000000Z\",\"leaseDurationSeconds\":1}}"

TEST(lease_leader_stops_at_its_deadline_while_a_renewal_hangs)
{
    struct loop *l = loop_new();
    struct script s = {0};
    struct kube_client *c = kube_client_new_fake(l, script_submit, script_cancel, &s);
    struct lease_opts o = {.namespace = "ops", .name = "leader", .identity = "me",
                           .duration_ms = 600, .renew_deadline_ms = 300, .retry_period_ms = 100,
                           .on_started = on_started, .on_lost = on_lost, .arg = &s};
    struct lease *ls = lease_new(l, c, &o);
    T_ASSERT(ls);
    lease_start(ls);
    T_ASSERT(run_until(l, &s, NULL, 1000));
    T_EQ_STR(s.method, "GET");
    answer(&s, 404, "{}"); /* none yet: created at once */
    T_EQ_STR(s.method, "POST");
    T_EQ_INT(s.flags & KUBE_PRIORITY, KUBE_PRIORITY);
    int64_t sent = time_mono_ms();
    answer(&s, 201, MINE);
    T_EQ_INT(s.started, 1);
    T_ASSERT(lease_is_leader(ls));
    /* the next renewal is one PUT on the version held, and the server never answers it */
    T_ASSERT(run_until(l, &s, NULL, 1000));
    T_EQ_STR(s.method, "PUT");
    T_EQ_INT(s.flags & KUBE_PRIORITY, KUBE_PRIORITY);
    int64_t put_sent = time_mono_ms();
    T_ASSERT(run_until(l, &s, has_lost, 2000));
    int64_t at = time_mono_ms();
    T_EQ_INT(s.lost, 1);
    T_ASSERT(!lease_is_leader(ls));
    /* not before the deadline (counted from the create's send, a moment before `sent`), and
     * promptly after it: by the timer, since nothing was answered */
    T_ASSERT(at - sent >= 300 - 2);
    T_ASSERT(at - sent < 300 + 250);
    T_ASSERT(s.pending);             /* the renewal still hangs */
    /* it answers after all, more than the renew deadline after it was sent: too late to
     * count, still no leader */
    late_after = put_sent + 300 + 20;
    T_ASSERT(run_until(l, &s, late, 1000));
    answer(&s, 200, MINE);
    T_ASSERT(!lease_is_leader(ls));
    T_EQ_INT(s.started, 1);
    /* the next tick reads the lease: still ours, so renewed, and leading again, no restart */
    T_ASSERT(run_until(l, &s, NULL, 1000));
    T_EQ_STR(s.method, "GET");
    answer(&s, 200, MINE);
    T_EQ_STR(s.method, "PUT");
    answer(&s, 200, MINE);
    T_ASSERT(lease_is_leader(ls));
    T_EQ_INT(s.started, 2);
    T_EQ_INT(s.lost, 1);
    lease_free(ls);
    kube_client_free(c);
    loop_free(l);
}
