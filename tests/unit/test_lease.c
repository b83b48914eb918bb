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
