#include "kube/lease.h"

#include "kube/client.h"
#include "loop.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lease {
    struct loop *loop;
    struct kube_client *client;
    struct lease_opts o;
    char *ns, *name, *identity;
    char path[512];
    bool leader;
    bool need_read;      /* renew from a fresh read: after a conflict, or as a standby */
    char *rv;            /* of the lease as last read or written */
    char *holder;        /* as last read */
    char *renew_time;    /* as last read: a change means the holder is alive */
    int64_t observed_at_ms;
    int64_t duration_ms;
    long transitions;
    char *acquire_time;
    int64_t last_renew_ms; /* when our last successful write was sent, as leader */
    int64_t last_contact_ms;
    int64_t sent_ms;       /* of the request in flight */
    uint64_t timer, deadline_timer, req;
    struct {               /* outcome last logged, of reads [0] and writes [1] */
        long status;       /* -1 none yet, 200 success, else the failure */
        char reason[64];
    } said[2];
    void (*release_done)(void *arg);
    void *release_arg;
};

enum lease_action
lease_decide(const struct lease_view *v, const char *me, int64_t now_ms)
{
    if (!v->holder || !*v->holder)
        return LEASE_TAKE;
    if (!strcmp(v->holder, me))
        return LEASE_RENEW;
    if (now_ms - v->observed_at_ms > v->duration_ms)
        return LEASE_TAKE; /* nobody renewed it for a whole lease duration, as we saw it */
    return LEASE_WAIT;
}

static void lease_tick(struct loop *l, void *arg);

static void
schedule(struct lease *ls, int64_t ms)
{
    loop_timer_cancel(ls->loop, ls->timer);
    ls->timer = loop_timer_add(ls->loop, ms, lease_tick, ls);
}

static void
set(char **dst, const char *v)
{
    free(*dst);
    *dst = v ? strdup(v) : NULL;
}

static const char *
jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Logs a request's outcome when it differs from the last one logged for reads (write: for
 * writes) by status and reason: a failure that repeats on every retry is said once, with the
 * API server's own words, even when reads succeed and writes fail in turn (RBAC granting get
 * but not update). */
static void
report(struct lease *ls, bool write, const struct kube_response *r, bool ok)
{
    const char *op = write ? "write" : "read";
    long st = ok ? 200 : r->status;
    const char *reason = ok || !r->reason ? "" : r->reason;
    if (st == ls->said[write].status && !strcmp(reason, ls->said[write].reason))
        return;
    bool first = ls->said[write].status == -1;
    ls->said[write].status = st;
    snprintf(ls->said[write].reason, sizeof ls->said[write].reason, "%s", reason);
    if (ok) {
        if (!first)
            log_info("lease requests succeed again", "lease", ls->path, "op", op);
        return;
    }
    char code[16];
    snprintf(code, sizeof code, "%ld", r->status);
    log_error("lease request failed (said once until the outcome changes)", "lease", ls->path,
              "op", op, "status", code, "reason", *reason ? reason : NULL, "error",
              r->error ? r->error : "request failed");
}

/* Records what a read or write returned. */
static void
observe(struct lease *ls, const cJSON *obj)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
    const char *holder = jstr(spec, "holderIdentity"), *renew = jstr(spec, "renewTime");
    bool changed = !ls->holder != !holder || (holder && strcmp(ls->holder, holder)) ||
                   !ls->renew_time != !renew || (renew && strcmp(ls->renew_time, renew));
    if (changed || !ls->observed_at_ms)
        ls->observed_at_ms = time_mono_ms();
    set(&ls->holder, holder);
    set(&ls->renew_time, renew);
    set(&ls->rv, jstr(meta, "resourceVersion"));
    set(&ls->acquire_time, jstr(spec, "acquireTime"));
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(spec, "leaseDurationSeconds");
    ls->duration_ms = cJSON_IsNumber(d) && d->valuedouble > 0 ? (int64_t)d->valuedouble * 1000
                                                               : ls->o.duration_ms;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(spec, "leaseTransitions");
    ls->transitions = cJSON_IsNumber(t) ? (long)t->valuedouble : 0;
}

static char *
lease_body(struct lease *ls, const char *holder, bool take, long duration_s)
{
    char now[TIME_RFC3339_MAX];
    time_fmt_rfc3339(now, time_now_ms(), 6);
    cJSON *o = cJSON_CreateObject(), *meta = cJSON_AddObjectToObject(o, "metadata"),
          *spec = cJSON_AddObjectToObject(o, "spec");
    cJSON_AddStringToObject(o, "apiVersion", "coordination.k8s.io/v1");
    cJSON_AddStringToObject(o, "kind", "Lease");
    cJSON_AddStringToObject(meta, "name", ls->name);
    cJSON_AddStringToObject(meta, "namespace", ls->ns);
    if (ls->rv)
        cJSON_AddStringToObject(meta, "resourceVersion", ls->rv);
    cJSON_AddStringToObject(spec, "holderIdentity", holder);
    cJSON_AddNumberToObject(spec, "leaseDurationSeconds", (double)duration_s);
    cJSON_AddStringToObject(spec, "acquireTime", take || !ls->acquire_time ? now : ls->acquire_time);
    cJSON_AddStringToObject(spec, "renewTime", now);
    cJSON_AddNumberToObject(spec, "leaseTransitions",
                            (double)(ls->transitions + (take && ls->holder && *ls->holder ? 1 : 0)));
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

bool
lease_is_leader(const struct lease *ls)
{
    return ls->leader && time_mono_ms() - ls->last_renew_ms < ls->o.renew_deadline_ms;
}

/* Leadership ends: the deadline passed without a successful renewal, or another holds it. */
static void
step_down(struct lease *ls, const char *why)
{
    loop_timer_cancel(ls->loop, ls->deadline_timer);
    ls->deadline_timer = 0;
    if (!ls->leader)
        return;
    ls->leader = false;
    ls->need_read = true;
    char ago[32];
    snprintf(ago, sizeof ago, "%" PRId64, time_mono_ms() - ls->last_renew_ms);
    log_error("leader lease lost: writes stopped, campaigning again as a standby", "lease",
              ls->path, "why", why, "last_renewal_ms_ago", ago, "holder",
              ls->holder && *ls->holder && strcmp(ls->holder, ls->identity) ? ls->holder : NULL);
    if (ls->o.on_lost)
        ls->o.on_lost(ls->o.arg);
}

static void
on_deadline(struct loop *l, void *arg)
{
    (void)l;
    struct lease *ls = arg;
    ls->deadline_timer = 0;
    step_down(ls, "not renewed within the renew deadline");
}

/* A write of ours (sent at sent_ms) succeeded: we hold the lease until sent_ms + deadline. */
static void
renewed(struct lease *ls, int64_t sent_ms)
{
    ls->last_renew_ms = sent_ms;
    ls->need_read = false;
    loop_timer_cancel(ls->loop, ls->deadline_timer);
    int64_t left = sent_ms + ls->o.renew_deadline_ms - time_mono_ms();
    if (left <= 0) { /* answered too late to count */
        ls->deadline_timer = 0;
        step_down(ls, "renewal answered after the renew deadline");
        return;
    }
    ls->deadline_timer = loop_timer_add(ls->loop, left, on_deadline, ls);
    if (!ls->leader) {
        ls->leader = true;
        log_info("became leader", "lease", ls->path, "identity", ls->identity);
        if (ls->o.on_started)
            ls->o.on_started(ls->o.arg);
    }
}

/* Request timeout: a leader's request is no use past its deadline; a standby's past the
 * renew deadline either. At least 1 s (curl counts whole seconds here). */
static long
timeout_s(const struct lease *ls)
{
    int64_t ms = ls->o.renew_deadline_ms;
    if (ls->leader)
        ms = ls->last_renew_ms + ls->o.renew_deadline_ms - time_mono_ms();
    return ms < 1000 ? 1 : (long)((ms + 999) / 1000);
}

static void
write_done(void *arg, const struct kube_response *r)
{
    struct lease *ls = arg;
    ls->req = 0;
    report(ls, true, r, r->status == 200 || r->status == 201);
    if (r->status == 200 || r->status == 201) {
        ls->last_contact_ms = time_mono_ms();
        cJSON *obj = cJSON_ParseWithLength(r->body, r->body_len);
        observe(ls, obj);
        cJSON_Delete(obj);
        renewed(ls, ls->sent_ms);
    } else if (r->status == 409 || r->status == 404) {
        /* someone else wrote first, or the Lease is gone: read it again */
        ls->last_contact_ms = time_mono_ms();
        ls->need_read = true;
    }
    schedule(ls, ls->o.retry_period_ms);
}

static void
write_lease(struct lease *ls, bool take, bool create)
{
    char *body = lease_body(ls, ls->identity, take, ls->o.duration_ms / 1000);
    char path[600];
    snprintf(path, sizeof path, "/apis/coordination.k8s.io/v1/namespaces/%s/leases%s%s", ls->ns,
             create ? "" : "/", create ? "" : ls->name);
    struct kube_req_spec spec = {.method = create ? "POST" : "PUT", .path = path,
                                 .content_type = "application/json", .body = body,
                                 .body_len = body ? strlen(body) : 0, .flags = KUBE_PRIORITY,
                                 .timeout_s = timeout_s(ls), .done = write_done, .arg = ls};
    ls->sent_ms = time_mono_ms();
    ls->req = body ? kube_submit(ls->client, &spec) : 0;
    free(body);
    if (!ls->req)
        schedule(ls, ls->o.retry_period_ms);
}

static void
read_done(void *arg, const struct kube_response *r)
{
    struct lease *ls = arg;
    ls->req = 0;
    report(ls, false, r, r->status == 200 || r->status == 404); /* 404: not created yet */
    if (r->status == 404) { /* the create that follows tells whether we can work with it */
        set(&ls->rv, NULL);
        set(&ls->holder, NULL);
        write_lease(ls, true, true);
        return;
    }
    if (r->status != 200) {
        schedule(ls, ls->o.retry_period_ms);
        return;
    }
    ls->last_contact_ms = time_mono_ms();
    cJSON *obj = cJSON_ParseWithLength(r->body, r->body_len);
    observe(ls, obj);
    cJSON_Delete(obj);
    struct lease_view v = {ls->holder, ls->observed_at_ms, ls->duration_ms};
    enum lease_action a = lease_decide(&v, ls->identity, time_mono_ms());
    if (a == LEASE_WAIT) {
        step_down(ls, "another replica holds the lease"); /* no-op unless we led */
        /* look again when it would expire if that is sooner than the retry period: a
         * takeover then comes at most lease duration + retry period after the last renewal */
        int64_t delay = ls->o.retry_period_ms,
                expiry = ls->observed_at_ms + ls->duration_ms + 1 - time_mono_ms();
        schedule(ls, expiry > 0 && expiry < delay ? expiry : delay);
        return;
    }
    write_lease(ls, a == LEASE_TAKE, false);
}

static void
lease_tick(struct loop *l, void *arg)
{
    (void)l;
    struct lease *ls = arg;
    ls->timer = 0;
    if (ls->req)
        return; /* a request is still out: its answer schedules the next tick */
    if (ls->leader && ls->rv && !ls->need_read) {
        write_lease(ls, false, false); /* renew on the version we hold: one request */
        return;
    }
    char path[600];
    snprintf(path, sizeof path, "/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s", ls->ns,
             ls->name);
    struct kube_req_spec spec = {.method = "GET", .path = path, .timeout_s = timeout_s(ls),
                                 .done = read_done, .arg = ls};
    ls->req = kube_submit(ls->client, &spec);
    if (!ls->req)
        schedule(ls, ls->o.retry_period_ms);
}

struct lease *
lease_new(struct loop *l, struct kube_client *c, const struct lease_opts *o)
{
    struct lease *ls = calloc(1, sizeof *ls);
    if (!ls)
        return NULL;
    ls->loop = l;
    ls->client = c;
    ls->o = *o;
    ls->ns = strdup(o->namespace);
    ls->name = strdup(o->name);
    ls->identity = strdup(o->identity);
    ls->duration_ms = o->duration_ms;
    ls->said[0].status = ls->said[1].status = -1;
    ls->need_read = true;
    if (!ls->ns || !ls->name || !ls->identity) {
        lease_free(ls);
        return NULL;
    }
    snprintf(ls->path, sizeof ls->path, "%s/%s", ls->ns, ls->name);
    return ls;
}

void
lease_start(struct lease *ls)
{
    schedule(ls, 0);
}

bool
lease_healthy(const struct lease *ls)
{
    return ls->last_contact_ms &&
           time_mono_ms() - ls->last_contact_ms < ls->o.retry_period_ms * 3 + ls->o.renew_deadline_ms;
}

static void
release_done(void *arg, const struct kube_response *r)
{
    struct lease *ls = arg;
    ls->req = 0;
    if (r->status == 200) {
        log_info("leader lease released", "lease", ls->path);
    } else {
        char code[16];
        snprintf(code, sizeof code, "%ld", r->status);
        log_warn("could not release the leader lease: a successor waits for it to expire",
                 "lease", ls->path, "status", code, "reason",
                 r->reason && *r->reason ? r->reason : NULL, "error",
                 r->error ? r->error : "request failed");
    }
    if (ls->release_done)
        ls->release_done(ls->release_arg);
}

void
lease_release(struct lease *ls, void (*done)(void *arg), void *arg)
{
    loop_timer_cancel(ls->loop, ls->timer);
    loop_timer_cancel(ls->loop, ls->deadline_timer);
    ls->timer = ls->deadline_timer = 0;
    if (ls->req)
        kube_cancel(ls->client, ls->req);
    ls->req = 0;
    ls->release_done = done;
    ls->release_arg = arg;
    if (!ls->leader) {
        if (done)
            done(arg);
        return;
    }
    ls->leader = false;
    char *body = lease_body(ls, "", false, 1);
    char path[600];
    snprintf(path, sizeof path, "/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s", ls->ns,
             ls->name);
    struct kube_req_spec spec = {.method = "PUT", .path = path, .content_type = "application/json",
                                 .body = body, .body_len = body ? strlen(body) : 0,
                                 .flags = KUBE_PRIORITY, .timeout_s = 5, .done = release_done, .arg = ls};
    ls->req = body ? kube_submit(ls->client, &spec) : 0;
    free(body);
    if (!ls->req && done)
        done(arg);
}

void
lease_free(struct lease *ls)
{
    if (!ls)
        return;
    loop_timer_cancel(ls->loop, ls->timer);
    loop_timer_cancel(ls->loop, ls->deadline_timer);
    if (ls->req)
        kube_cancel(ls->client, ls->req);
    free(ls->ns);
    free(ls->name);
    free(ls->identity);
    free(ls->rv);
    free(ls->holder);
    free(ls->renew_time);
    free(ls->acquire_time);
    free(ls);
}
