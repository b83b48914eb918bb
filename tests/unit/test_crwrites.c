/* Every custom-resource write the controllers build carries no "" and no null outside a
 * merge patch's deletions (util/json.h, kubernetes/kubernetes#99804, 1.19's nulls).
 *
 * The four controllers run for real, on a loop, against a small in-process API server
 * (kube_client_new_fake): it lists, watches, creates, merge-patches, JSON-patches and
 * deletes objects, and the test plays kubelet and Job controller by changing pod and Job
 * status. Each scenario is driven to its end state (asserted, so the check cannot pass on
 * writes that never happened), and every write body is checked as it arrives. */
#include "t.h"

#include "config.h"
#include "ctl/ctl.h"
#include "ctl/cronomjob.h"
#include "ctl/observatory.h"
#include "ctl/omjob.h"
#include "ctl/omjspec.h"
#include "ctl/pods.h"
#include "ctl/seqjob.h"
#include "kube/client.h"
#include "kube/event.h"
#include "kube/status.h"
#include "kube/watch.h"
#include "loop.h"
#include "util/json.h"
#include "util/timeutil.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdlib.h>

#define F_OBJS 512
#define F_QUEUE 4096
#define F_WATCHES 64
#define NS "t"

struct target {
    char prefix[128], ns[64], plural[64], name[128], sub[32];
    bool watch;
};

struct fobj {
    struct target t; /* prefix, ns, plural, name */
    cJSON *o;
};

struct freq {
    uint64_t id;
    char method[8], ctype[64];
    struct target t;
    char *body;
    kube_done_fn done;
    void *arg;
    bool cancelled;
};

struct fwatch {
    uint64_t id;
    struct target t;
    kube_data_fn data;
    void *arg;
    bool cancelled;
};

static struct {
    struct fobj objs[F_OBJS];
    size_t nobjs;
    struct freq q[F_QUEUE];
    size_t qhead, qtail;
    struct fwatch w[F_WATCHES];
    size_t nw;
    long rv;
    uint64_t next_id;
    int cr_writes, bad;
    char bad_what[700];
} F;

/* --- the fake API server --------------------------------------------------------------- */

static void
parse_target(const char *path, struct target *t)
{
    memset(t, 0, sizeof *t);
    char p[1024];
    snprintf(p, sizeof p, "%s", path);
    char *q = strchr(p, '?');
    if (q) {
        *q++ = '\0';
        t->watch = strstr(q, "watch=1") != NULL;
    }
    char *seg[10] = {0};
    int n = 0;
    for (char *save = NULL, *s = strtok_r(p, "/", &save); s && n < 10; s = strtok_r(NULL, "/", &save))
        seg[n++] = s;
    int i = 0;
    if (n && !strcmp(seg[0], "api")) {
        snprintf(t->prefix, sizeof t->prefix, "/api/%s", n > 1 ? seg[1] : "");
        i = 2;
    } else if (n > 2) {
        snprintf(t->prefix, sizeof t->prefix, "/apis/%s/%s", seg[1], seg[2]);
        i = 3;
    }
    if (i < n && !strcmp(seg[i], "namespaces") && i + 2 < n) {
        snprintf(t->ns, sizeof t->ns, "%s", seg[i + 1]);
        i += 2;
    }
    if (i < n) snprintf(t->plural, sizeof t->plural, "%s", seg[i++]);
    if (i < n) snprintf(t->name, sizeof t->name, "%s", seg[i++]);
    if (i < n) snprintf(t->sub, sizeof t->sub, "%s", seg[i]);
}

static bool
same_coll(const struct target *a, const struct target *b)
{
    return !strcmp(a->prefix, b->prefix) && !strcmp(a->plural, b->plural) &&
           (!a->ns[0] || !b->ns[0] || !strcmp(a->ns, b->ns));
}

static struct fobj *
find(const struct target *t)
{
    for (size_t i = 0; i < F.nobjs; i++)
        if (same_coll(&F.objs[i].t, t) && !strcmp(F.objs[i].t.ns, t->ns) &&
            !strcmp(F.objs[i].t.name, t->name))
            return &F.objs[i];
    return NULL;
}

static void
bump(cJSON *o)
{
    char rv[24];
    snprintf(rv, sizeof rv, "%ld", ++F.rv);
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(o, "metadata");
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "resourceVersion");
    cJSON_AddStringToObject(meta, "resourceVersion", rv);
}

static void
notify(const char *type, const struct fobj *f)
{
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "type", type);
    cJSON_AddItemToObject(ev, "object", cJSON_Duplicate(f->o, 1));
    char *s = cJSON_PrintUnformatted(ev);
    cJSON_Delete(ev);
    size_t n = strlen(s);
    char *line = malloc(n + 2);
    memcpy(line, s, n);
    line[n] = '\n';
    line[n + 1] = '\0';
    for (size_t i = 0; i < F.nw; i++)
        if (!F.w[i].cancelled && same_coll(&F.w[i].t, &f->t))
            F.w[i].data(F.w[i].arg, line, n + 1);
    free(line);
    free(s);
}

static void
remove_obj(struct fobj *f)
{
    notify("DELETED", f);
    cJSON_Delete(f->o);
    *f = F.objs[--F.nobjs];
}

/* Puts obj (consumed) into the store under collection path coll; returns it. */
static struct fobj *
store_put(const char *coll, cJSON *obj)
{
    struct target t;
    parse_target(coll, &t);
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    snprintf(t.name, sizeof t.name, "%s", json_str(meta, "name"));
    if (t.ns[0] && !json_str(meta, "namespace")) cJSON_AddStringToObject(meta, "namespace", t.ns);
    char uid[32], now[TIME_RFC3339_MAX];
    snprintf(uid, sizeof uid, "uid-%ld", F.rv + 1);
    if (!json_str(meta, "uid")) cJSON_AddStringToObject(meta, "uid", uid);
    time_fmt_rfc3339(now, time_now_ms(), 0);
    if (!json_str(meta, "creationTimestamp")) cJSON_AddStringToObject(meta, "creationTimestamp", now);
    if (!cJSON_GetObjectItemCaseSensitive(meta, "generation")) cJSON_AddNumberToObject(meta, "generation", 1);
    bump(obj);
    struct fobj *f = &F.objs[F.nobjs++];
    f->t = t;
    f->o = obj;
    notify("ADDED", f);
    return f;
}

static cJSON *
merge(cJSON *target, const cJSON *patch)
{
    if (!cJSON_IsObject(patch)) {
        cJSON_Delete(target);
        return cJSON_Duplicate(patch, 1);
    }
    if (!cJSON_IsObject(target)) {
        cJSON_Delete(target);
        target = cJSON_CreateObject();
    }
    const cJSON *p;
    cJSON_ArrayForEach(p, patch)
    {
        cJSON *cur = cJSON_DetachItemFromObjectCaseSensitive(target, p->string);
        if (cJSON_IsNull(p))
            cJSON_Delete(cur);
        else
            cJSON_AddItemToObject(target, p->string, merge(cur, p));
    }
    return target;
}

/* The custom-resource write rule, checked on every write to one of the operator's groups. */
static void
check_body(const struct freq *r)
{
    if (strncmp(r->t.prefix, "/apis/", 6) || !strncmp(r->t.prefix, "/apis/batch/", 12) ||
        !r->body || (strcmp(r->method, "POST") && strcmp(r->method, "PUT") && strcmp(r->method, "PATCH")))
        return;
    F.cr_writes++;
    cJSON *b = cJSON_Parse(r->body);
    char where[256];
    bool merge_patch = strstr(r->ctype, "merge-patch") != NULL; /* null = delete */
    if (!b || json_find_empty(b, merge_patch, where, sizeof where)) {
        if (!F.bad++)
            snprintf(F.bad_what, sizeof F.bad_what, "%s %s/%s/%s at %s: %.400s", r->method,
                     r->t.plural, r->t.name, r->t.sub, b ? where : "(not JSON)", r->body);
    }
    cJSON_Delete(b);
}

static int
json_patch(cJSON *o, const cJSON *ops)
{
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(o, "metadata");
    const cJSON *op;
    cJSON_ArrayForEach(op, ops)
    {
        const char *kind = json_str(op, "op"), *path = json_str(op, "path");
        const cJSON *val = cJSON_GetObjectItemCaseSensitive(op, "value");
        if (!kind || !path) return 400;
        cJSON *fins = cJSON_GetObjectItemCaseSensitive(meta, "finalizers");
        if (!strcmp(kind, "test")) {
            const char *rv = json_str(meta, "resourceVersion");
            if (!cJSON_IsString(val) || !rv || strcmp(rv, val->valuestring)) return 422;
        } else if (!strcmp(kind, "add") && !strcmp(path, "/metadata/finalizers")) {
            cJSON_DeleteItemFromObjectCaseSensitive(meta, "finalizers");
            cJSON_AddItemToObject(meta, "finalizers", cJSON_Duplicate(val, 1));
        } else if (!strcmp(kind, "add") && !strcmp(path, "/metadata/finalizers/-")) {
            cJSON_AddItemToArray(fins, cJSON_Duplicate(val, 1));
        } else if (!strcmp(kind, "remove") && !strncmp(path, "/metadata/finalizers/", 21)) {
            cJSON_DeleteItemFromArray(fins, atoi(path + 21));
        } else {
            return 422;
        }
    }
    return 200;
}

static long
handle(struct freq *r, char **out)
{
    struct fobj *f = r->t.name[0] ? find(&r->t) : NULL;
    cJSON *body = r->body ? cJSON_Parse(r->body) : NULL;
    long code = 200;
    *out = NULL;
    if (!strcmp(r->method, "GET") && !r->t.name[0]) {
        cJSON *list = cJSON_CreateObject(), *items = cJSON_AddArrayToObject(list, "items");
        char rv[24];
        snprintf(rv, sizeof rv, "%ld", F.rv);
        cJSON_AddStringToObject(cJSON_AddObjectToObject(list, "metadata"), "resourceVersion", rv);
        for (size_t i = 0; i < F.nobjs; i++)
            if (same_coll(&F.objs[i].t, &r->t))
                cJSON_AddItemToArray(items, cJSON_Duplicate(F.objs[i].o, 1));
        *out = cJSON_PrintUnformatted(list);
        cJSON_Delete(list);
    } else if (!strcmp(r->method, "POST")) {
        struct target t = r->t;
        snprintf(t.name, sizeof t.name, "%s",
                 json_str(cJSON_GetObjectItemCaseSensitive(body, "metadata"), "name"));
        if (find(&t)) {
            code = 409;
        } else {
            char coll[300];
            snprintf(coll, sizeof coll, "%s/namespaces/%s/%s", r->t.prefix, r->t.ns, r->t.plural);
            f = store_put(coll, body);
            body = NULL;
            code = 201;
        }
    } else if (!f) {
        code = 404;
    } else if (!strcmp(r->method, "PATCH") && strstr(r->ctype, "json-patch")) {
        code = json_patch(f->o, body);
        cJSON *fins = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(f->o, "metadata"), "finalizers");
        if (code == 200) {
            bump(f->o);
            bool gone = json_str(cJSON_GetObjectItemCaseSensitive(f->o, "metadata"),
                                 "deletionTimestamp") &&
                        cJSON_GetArraySize(fins) == 0;
            *out = cJSON_PrintUnformatted(f->o);
            if (gone)
                remove_obj(f);
            else
                notify("MODIFIED", f);
            f = NULL;
        }
    } else if (!strcmp(r->method, "PATCH")) {
        if (!strcmp(r->t.sub, "status")) {
            cJSON *st = cJSON_DetachItemFromObjectCaseSensitive(f->o, "status");
            cJSON_AddItemToObject(f->o, "status",
                                  merge(st, cJSON_GetObjectItemCaseSensitive(body, "status")));
        } else {
            f->o = merge(f->o, body);
        }
        bump(f->o);
        notify("MODIFIED", f);
    } else if (!strcmp(r->method, "DELETE")) {
        cJSON *meta = cJSON_GetObjectItemCaseSensitive(f->o, "metadata");
        if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(meta, "finalizers")) > 0) {
            char now[TIME_RFC3339_MAX];
            time_fmt_rfc3339(now, time_now_ms(), 0);
            if (!json_str(meta, "deletionTimestamp"))
                cJSON_AddStringToObject(meta, "deletionTimestamp", now);
            bump(f->o);
            notify("MODIFIED", f);
        } else {
            remove_obj(f);
            *out = strdup("{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Success\"}");
            f = NULL;
        }
    }
    if (!*out && f && code < 300) *out = cJSON_PrintUnformatted(f->o);
    cJSON_Delete(body);
    if (code >= 300) {
        char s[300];
        snprintf(s, sizeof s,
                 "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":"
                 "\"fake: %ld\",\"reason\":\"%s\",\"code\":%ld}",
                 code, code == 404 ? "NotFound" : code == 409 ? "AlreadyExists" : "Invalid", code);
        free(*out);
        *out = strdup(s);
    }
    return code;
}

/* Answers the oldest queued request; false when none is queued. */
static bool
pump_one(void)
{
    if (F.qhead == F.qtail) return false;
    struct freq *r = &F.q[F.qhead++ % F_QUEUE];
    if (!r->cancelled) {
        check_body(r);
        char *out;
        long code = handle(r, &out);
        struct kube_status st;
        kube_status_parse(&st, code, out, strlen(out));
        struct kube_response resp = {.status = code,
                                     .body = out,
                                     .body_len = strlen(out),
                                     .error = code < 300 ? NULL : st.text,
                                     .reason = code < 300 ? "" : st.reason,
                                     .cause = "",
                                     .cls = (int)kube_classify(code, st.reason)};
        r->cancelled = true; /* answered: no cancel after this */
        r->done(r->arg, &resp);
        free(out);
    }
    free(r->body);
    r->body = NULL;
    return true;
}

static uint64_t
fake_submit(void *arg, const struct kube_req_spec *spec)
{
    (void)arg;
    uint64_t id = ++F.next_id;
    struct target t;
    parse_target(spec->path, &t);
    if (t.watch) {
        if (F.nw == F_WATCHES) return 0;
        F.w[F.nw++] = (struct fwatch){.id = id, .t = t, .data = spec->data, .arg = spec->arg};
        return id;
    }
    if (F.qtail - F.qhead == F_QUEUE) return 0;
    struct freq *r = &F.q[F.qtail++ % F_QUEUE];
    *r = (struct freq){.id = id, .t = t, .done = spec->done, .arg = spec->arg};
    snprintf(r->method, sizeof r->method, "%s", spec->method);
    snprintf(r->ctype, sizeof r->ctype, "%s", spec->content_type ? spec->content_type : "");
    r->body = spec->body ? strndup(spec->body, spec->body_len) : NULL;
    return id;
}

static void
fake_cancel(void *arg, uint64_t id)
{
    (void)arg;
    for (size_t i = 0; i < F.nw; i++)
        if (F.w[i].id == id) F.w[i].cancelled = true;
    for (size_t i = F.qhead; i < F.qtail; i++)
        if (F.q[i % F_QUEUE].id == id) F.q[i % F_QUEUE].cancelled = true;
}

/* --- the operator around the controllers ------------------------------------------------- */

static struct {
    struct loop *loop;
    struct kube_client *client;
    struct config cfg;
    struct ctl ctl;
    struct omjob_ctl *omjob;
    struct observatory_ctl *obs;
    struct cronomjob_ctl *cron;
    struct seqjob_ctl *seq;
} O;

static const struct informer_kind kind_pods = {"pods", NULL, pod_trim, pod_state_free};

static void
on_pod(void *arg, enum informer_event ev, const struct kobj *o)
{
    (void)arg;
    bool gone = ev == INFORMER_DELETE;
    if (!o->owner_ref) return;
    if (!strncmp(o->owner_ref, "OMJob/", 6))
        omjob_ctl_pod_changed(O.omjob, o->ns, o->owner_ref + 6, o, gone);
    if (!strncmp(o->owner_ref, "Observatory/", 12))
        observatory_ctl_pod_changed(O.obs, o->ns, o->owner_ref + 12, o, gone);
}

/* Runs loop and server until nothing is left to do (or rounds run out). */
static void
settle(int rounds)
{
    int idle = 0;
    for (int i = 0; i < rounds && idle < 30; i++) {
        bool busy = false;
        while (pump_one())
            busy = true;
        loop_run_once(O.loop, busy ? 0 : 5);
        idle = busy ? 0 : idle + 1;
    }
}

static int
start_operator(void)
{
    memset(&F, 0, sizeof F);
    memset(&O, 0, sizeof O);
    O.loop = loop_new();
    O.client = kube_client_new_fake(O.loop, fake_submit, fake_cancel, NULL);
    O.cfg.node_lost_grace_s = 40;
    O.cfg.watch_timeout_s = 300;
    O.ctl = (struct ctl){.loop = O.loop, .client = O.client, .cfg = &O.cfg};
    O.ctl.events = event_recorder_new(O.loop, O.client, "omjob-operator", "unit");
    if (!O.loop || !O.client || !O.ctl.events ||
        nswatch_init(&O.ctl.pods, O.loop, O.client, NULL, "/api/v1", "pods", NULL, &kind_pods, 300,
                     on_pod, NULL))
        return -1;
    O.omjob = omjob_ctl_new(&O.ctl);
    O.obs = observatory_ctl_new(&O.ctl);
    O.cron = cronomjob_ctl_new(&O.ctl);
    O.seq = seqjob_ctl_new(&O.ctl);
    if (!O.omjob || !O.obs || !O.cron || !O.seq) return -1;
    nswatch_start(&O.ctl.pods);
    omjob_ctl_start(O.omjob);
    observatory_ctl_start(O.obs);
    cronomjob_ctl_start(O.cron);
    seqjob_ctl_start(O.seq);
    settle(50);
    return 0;
}

static void
stop_operator(void)
{
    seqjob_ctl_free(O.seq);
    cronomjob_ctl_free(O.cron);
    observatory_ctl_free(O.obs);
    omjob_ctl_free(O.omjob);
    nswatch_free(&O.ctl.pods);
    event_recorder_free(O.ctl.events);
    kube_client_free(O.client);
    loop_free(O.loop);
    while (F.qhead != F.qtail) {
        free(F.q[F.qhead % F_QUEUE].body);
        F.qhead++;
    }
    for (size_t i = 0; i < F.nobjs; i++)
        cJSON_Delete(F.objs[i].o);
    F.nobjs = 0;
    time_set_offset_ms(0);
}

/* --- scenario helpers --------------------------------------------------------------------- */

#define OMJ "/apis/pipelines.openmetadata.org/v1/namespaces/" NS
#define OBS "/apis/" OBSERVATORY_GROUP "/v1alpha1/namespaces/" NS
#define SEQ "/apis/" SEQJOB_API_VERSION "/namespaces/" NS
#define PODS "/api/v1/namespaces/" NS "/pods"
#define JOBS "/apis/batch/v1/namespaces/" NS "/jobs"

static void
create(const char *coll, const char *json)
{
    cJSON *o = cJSON_Parse(json);
    if (o) store_put(coll, o);
}

static cJSON *
get(const char *coll, const char *name)
{
    struct target t;
    parse_target(coll, &t);
    snprintf(t.name, sizeof t.name, "%s", name);
    struct fobj *f = find(&t);
    return f ? f->o : NULL;
}

static const char *
phase_of(const char *coll, const char *name)
{
    return json_str(cJSON_GetObjectItemCaseSensitive(get(coll, name), "status"), "phase");
}

/* Plays the kubelet: the pod's container ends with exit_code (-1: running). */
static bool
pod_to(const char *name, int exit_code)
{
    struct target t;
    parse_target(PODS, &t);
    snprintf(t.name, sizeof t.name, "%s", name);
    struct fobj *f = find(&t);
    if (!f) return false;
    char now[TIME_RFC3339_MAX], st[1024];
    time_fmt_rfc3339(now, time_now_ms(), 0);
    if (exit_code < 0)
        snprintf(st, sizeof st,
                 "{\"phase\":\"Running\",\"startTime\":\"%s\",\"conditions\":[{\"type\":\"Ready\","
                 "\"status\":\"True\"}],\"containerStatuses\":[{\"name\":\"main\",\"state\":{"
                 "\"running\":{\"startedAt\":\"%s\"}}}]}",
                 now, now);
    else
        snprintf(st, sizeof st,
                 "{\"phase\":\"%s\",\"startTime\":\"%s\",\"containerStatuses\":[{\"name\":"
                 "\"main\",\"state\":{\"terminated\":{\"exitCode\":%d,\"reason\":\"%s\","
                 "\"startedAt\":\"%s\",\"finishedAt\":\"%s\"}}}]}",
                 exit_code ? "Failed" : "Succeeded", now, exit_code,
                 exit_code ? "Error" : "Completed", now, now);
    cJSON_DeleteItemFromObjectCaseSensitive(f->o, "status");
    cJSON_AddItemToObject(f->o, "status", cJSON_Parse(st));
    bump(f->o);
    notify("MODIFIED", f);
    return true;
}

/* Plays the Job controller. */
static bool
job_to(const char *name, bool ok)
{
    struct target t;
    parse_target(JOBS, &t);
    snprintf(t.name, sizeof t.name, "%s", name);
    struct fobj *f = find(&t);
    if (!f) return false;
    char st[512];
    snprintf(st, sizeof st,
             "{\"%s\":1,\"conditions\":[{\"type\":\"%s\",\"status\":\"True\",\"reason\":\"%s\"}]}",
             ok ? "succeeded" : "failed", ok ? "Complete" : "Failed",
             ok ? "Completed" : "BackoffLimitExceeded");
    cJSON_DeleteItemFromObjectCaseSensitive(f->o, "status");
    cJSON_AddItemToObject(f->o, "status", cJSON_Parse(st));
    bump(f->o);
    notify("MODIFIED", f);
    return true;
}

#define T_NO_BAD_WRITES()                                                                          \
    do {                                                                                           \
        if (F.bad) {                                                                               \
            t_fail(__FILE__, __LINE__, "%d CR writes with \"\" or null, first: %s", F.bad,        \
                   F.bad_what);                                                                    \
            stop_operator();                                                                       \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define T_STEP(c)                                                                                  \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            t_fail(__FILE__, __LINE__, "scenario step failed: %s", #c);                           \
            stop_operator();                                                                       \
            return;                                                                                \
        }                                                                                          \
    } while (0)

static const char *
str_or(const char *s)
{
    return s ? s : "(none)";
}

/* --- the scenarios -------------------------------------------------------------------------- */

TEST(crwrites_omjob_every_state)
{
    T_ASSERT(start_operator() == 0);
    create(OMJ "/omjobs", "{\"apiVersion\":\"pipelines.openmetadata.org/v1\",\"kind\":\"OMJob\","
                          "\"metadata\":{\"name\":\"ok\"},\"spec\":{\"mainPodSpec\":{\"image\":"
                          "\"i\"},\"exitHandlerSpec\":{\"image\":\"i\"}}}");
    create(OMJ "/omjobs", "{\"apiVersion\":\"pipelines.openmetadata.org/v1\",\"kind\":\"OMJob\","
                          "\"metadata\":{\"name\":\"bad\"},\"spec\":{\"mainPodSpec\":{\"image\":"
                          "\"i\"},\"exitHandlerSpec\":{\"image\":\"i\"},\"exitHandlerRetries\":1}}");
    create(OMJ "/omjobs", "{\"apiVersion\":\"pipelines.openmetadata.org/v1\",\"kind\":\"OMJob\","
                          "\"metadata\":{\"name\":\"noimage\"},\"spec\":{\"mainPodSpec\":{}}}");
    create(OMJ "/omjobs", "{\"apiVersion\":\"pipelines.openmetadata.org/v1\",\"kind\":\"OMJob\","
                          "\"metadata\":{\"name\":\"gone\"},\"spec\":{\"mainPodSpec\":{\"image\":"
                          "\"i\"},\"exitHandlerSpec\":{\"image\":\"i\"}}}");
    settle(400);
    T_STEP(pod_to("ok-main", -1) && pod_to("bad-main", -1) && pod_to("gone-main", -1));
    settle(400);
    T_EQ_STR(str_or(phase_of(OMJ "/omjobs", "ok")), "Running");
    /* deleted while running: the main pod is stopped, the exit handler runs */
    struct target t;
    parse_target(OMJ "/omjobs/gone", &t);
    struct freq del = {.t = t, .method = "DELETE"};
    char *out = NULL;
    handle(&del, &out);
    free(out);
    settle(400);
    T_STEP(pod_to("ok-main", 0) && pod_to("bad-main", 1));
    settle(400);
    T_EQ_STR(str_or(phase_of(OMJ "/omjobs", "ok")), "ExitHandlerRunning");
    T_STEP(pod_to("ok-exit", 0) && pod_to("bad-exit", 2));
    settle(400);
    T_STEP(pod_to("bad-exit-1", 0));
    if (get(PODS, "gone-exit")) T_STEP(pod_to("gone-exit", 0));
    settle(400);
    T_EQ_STR(str_or(phase_of(OMJ "/omjobs", "ok")), "Succeeded");
    T_EQ_STR(str_or(phase_of(OMJ "/omjobs", "bad")), "Failed");
    T_EQ_STR(str_or(phase_of(OMJ "/omjobs", "noimage")), "Failed");
    T_ASSERT(F.cr_writes >= 12);
    T_NO_BAD_WRITES();
    stop_operator();
}

TEST(crwrites_observatory_runs_and_reruns)
{
    /* The clock starts 5 s into a minute, and moves on by exactly one minute below: one slot
     * passes, whatever second the test happens to run at (it used to pass a second slot now
     * and then, when the real clock was late in its minute). */
    int64_t off = 60000 - time_now_ms() % 60000 + 5000;
    time_set_offset_ms(off);
    T_ASSERT(start_operator() == 0);
    create(OBS "/observatories",
           "{\"apiVersion\":\"" OBSERVATORY_GROUP "/v1alpha1\",\"kind\":\"Observatory\","
           "\"metadata\":{\"name\":\"dag\"},\"spec\":{\"tasks\":[{\"name\":\"a\",\"image\":\"i\"},"
           "{\"name\":\"b\",\"image\":\"i\",\"dependencies\":[\"a\"]}],\"onExit\":{\"image\":\"i\"}}}");
    create(OBS "/observatories",
           "{\"apiVersion\":\"" OBSERVATORY_GROUP "/v1alpha1\",\"kind\":\"Observatory\","
           "\"metadata\":{\"name\":\"bad\"},\"spec\":{\"tasks\":[{\"name\":\"A_\",\"image\":\"i\"}]}}");
    /* scheduled, created two minutes ago: its slot is due at once */
    char created[TIME_RFC3339_MAX], json[1024];
    time_fmt_rfc3339(created, time_now_ms() - 150000, 0);
    snprintf(json, sizeof json,
             "{\"apiVersion\":\"" OBSERVATORY_GROUP "/v1alpha1\",\"kind\":\"Observatory\","
             "\"metadata\":{\"name\":\"cron\",\"creationTimestamp\":\"%s\"},\"spec\":{\"schedule\":"
             "\"* * * * *\",\"tasks\":[{\"name\":\"a\",\"image\":\"i\"}]}}",
             created);
    create(OBS "/observatories", json);
    settle(400);
    T_STEP(pod_to("dag-a", 0));
    settle(400);
    T_STEP(pod_to("dag-b", 1));
    settle(400);
    T_STEP(pod_to("dag-on-exit", 0));
    T_STEP(pod_to("cron-r1-a", 0));
    settle(400);
    T_EQ_STR(str_or(phase_of(OBS "/observatories", "dag")), "Failed");
    T_EQ_STR(str_or(phase_of(OBS "/observatories", "bad")), "Failed");
    T_EQ_STR(str_or(phase_of(OBS "/observatories", "cron")), "Succeeded");
    /* the next slot: a fresh run, which deletes the first run's times */
    char first_done[TIME_RFC3339_MAX];
    snprintf(first_done, sizeof first_done, "%s",
             str_or(json_str(cJSON_GetObjectItemCaseSensitive(get(OBS "/observatories", "cron"),
                                                              "status"),
                             "completionTime")));
    time_set_offset_ms(off + 60000);
    observatory_ctl_resync(O.obs);
    settle(400);
    T_STEP(pod_to("cron-r2-a", 0));
    settle(400);
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(get(OBS "/observatories", "cron"), "status");
    T_EQ_INT(json_int(st, "run", 0), 2);
    T_EQ_STR(str_or(json_str(st, "phase")), "Succeeded");
    T_ASSERT(json_str(st, "completionTime") && strcmp(json_str(st, "completionTime"), first_done));
    T_ASSERT(F.cr_writes >= 8);
    T_NO_BAD_WRITES();
    stop_operator();
}

TEST(crwrites_cronomjob_runs_and_bad_template)
{
    T_ASSERT(start_operator() == 0);
    char created[TIME_RFC3339_MAX], json[1024];
    time_fmt_rfc3339(created, time_now_ms() - 150000, 0);
    /* the template has a null (v1.19 refuses it in the OMJob) and an unknown field */
    snprintf(json, sizeof json,
             "{\"apiVersion\":\"pipelines.openmetadata.org/v1\",\"kind\":\"CronOMJob\","
             "\"metadata\":{\"name\":\"c\",\"creationTimestamp\":\"%s\"},\"spec\":{\"schedule\":"
             "\"* * * * *\",\"omJobSpec\":{\"mainPodSpec\":{\"image\":\"i\",\"nodeSelector\":null,"
             "\"env\":[{\"name\":\"A\",\"value\":null}]},\"exitHandlerSpec\":{\"image\":\"i\"},"
             "\"ttlSecondsAfterFinished\":null}}}",
             created);
    create(OMJ "/cronomjobs", json);
    snprintf(json, sizeof json,
             "{\"apiVersion\":\"pipelines.openmetadata.org/v1\",\"kind\":\"CronOMJob\","
             "\"metadata\":{\"name\":\"bad\",\"creationTimestamp\":\"%s\"},\"spec\":{\"schedule\":"
             "\"* * * * *\",\"omJobSpec\":{\"mainPodSpec\":{\"imagePullPolicy\":\"Sometimes\"}}}}",
             created);
    create(OMJ "/cronomjobs", json);
    settle(400);
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(get(OMJ "/cronomjobs", "c"), "status");
    T_STEP(json_str(st, "lastOMJobName") != NULL);
    char run[64];
    snprintf(run, sizeof run, "%s", json_str(st, "lastOMJobName"));
    T_STEP(get(OMJ "/omjobs", run) != NULL);
    /* the run goes through its states too (its status is the OMJob controller's) */
    char pod[80];
    snprintf(pod, sizeof pod, "%s-main", run);
    T_STEP(pod_to(pod, 0));
    settle(400);
    snprintf(pod, sizeof pod, "%s-exit", run);
    T_STEP(pod_to(pod, 0));
    settle(400);
    T_EQ_STR(str_or(phase_of(OMJ "/omjobs", run)), "Succeeded");
    /* the bad template: Ready=False naming the field, and no OMJob */
    st = cJSON_GetObjectItemCaseSensitive(get(OMJ "/cronomjobs", "bad"), "status");
    const cJSON *cond = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(st, "conditions"), 0);
    T_EQ_STR(str_or(json_str(cond, "status")), "False");
    T_EQ_STR(str_or(json_str(cond, "reason")), "InvalidOMJobSpec");
    T_ASSERT(strstr(str_or(json_str(cond, "message")), "spec.omJobSpec.mainPodSpec") != NULL);
    for (size_t i = 0; i < F.nobjs; i++)
        T_ASSERT(strncmp(F.objs[i].t.name, "bad-", 4) || strcmp(F.objs[i].t.plural, "omjobs"));
    T_ASSERT(F.cr_writes >= 5);
    T_NO_BAD_WRITES();
    stop_operator();
}

TEST(crwrites_seqjob_success_and_failure)
{
    T_ASSERT(start_operator() == 0);
    create(SEQ "/sequentialjobs",
           "{\"apiVersion\":\"" SEQJOB_API_VERSION "\",\"kind\":\"SequentialJob\",\"metadata\":{"
           "\"name\":\"s\"},\"spec\":{\"containers\":[{\"name\":\"one\",\"image\":\"i\"},{\"name\":"
           "\"two\",\"image\":\"i\"}]}}");
    create(SEQ "/sequentialjobs",
           "{\"apiVersion\":\"" SEQJOB_API_VERSION "\",\"kind\":\"SequentialJob\",\"metadata\":{"
           "\"name\":\"f\"},\"spec\":{\"containers\":[{\"name\":\"one\",\"image\":\"i\"},{\"name\":"
           "\"two\",\"image\":\"i\"}]}}");
    create(SEQ "/sequentialjobs",
           "{\"apiVersion\":\"" SEQJOB_API_VERSION "\",\"kind\":\"SequentialJob\",\"metadata\":{"
           "\"name\":\"empty\"},\"spec\":{\"containers\":[]}}");
    settle(400);
    T_STEP(job_to("s-0-one", true) && job_to("f-0-one", false));
    settle(400);
    T_STEP(job_to("s-1-two", true));
    settle(400);
    T_EQ_STR(str_or(phase_of(SEQ "/sequentialjobs", "s")), "Succeeded");
    T_EQ_STR(str_or(phase_of(SEQ "/sequentialjobs", "f")), "Failed");
    T_EQ_STR(str_or(phase_of(SEQ "/sequentialjobs", "empty")), "Failed");
    T_ASSERT(F.cr_writes >= 6);
    T_NO_BAD_WRITES();
    stop_operator();
}

TEST(crwrites_json_helpers)
{
    char where[128];
    cJSON *o = cJSON_Parse("{\"a\":{\"b\":[1,{\"c\":\"\"}]},\"d\":null}");
    T_ASSERT(json_find_empty(o, true, where, sizeof where));
    T_EQ_STR(where, "a.b[1].c");
    cJSON_Delete(o);
    o = cJSON_Parse("{\"a\":{\"b\":[null,{\"c\":null}]},\"d\":null,\"e\":\"x\"}");
    T_ASSERT(!json_find_empty(o, true, where, sizeof where));
    T_ASSERT(json_find_empty(o, false, where, sizeof where));
    T_EQ_STR(where, "a.b[0]");
    json_strip_nulls(o);
    char *s = cJSON_PrintUnformatted(o);
    T_EQ_STR(s, "{\"a\":{\"b\":[null,{}]},\"e\":\"x\"}"); /* array elements are kept */
    free(s);
    cJSON_Delete(o);
    o = cJSON_CreateObject();
    T_ASSERT(json_add_str(o, "x", "") == NULL && json_add_str(o, "y", NULL) == NULL);
    json_patch_str(o, "m", "", false);
    json_patch_str(o, "n", "", true);
    json_patch_str(o, "p", "v", true);
    s = cJSON_PrintUnformatted(o);
    T_EQ_STR(s, "{\"n\":null,\"p\":\"v\"}");
    free(s);
    cJSON_Delete(o);
}

/* --- the OMJob schema check of CronOMJob templates (ctl/omjspec.h) ----------------------- */

static int
spec_err(const char *json, char *err, size_t n)
{
    cJSON *spec = cJSON_Parse(json);
    int rc = omjspec_validate(spec, "spec.omJobSpec", err, n);
    cJSON_Delete(spec);
    return rc;
}

TEST(omjspec_accepts_what_the_schema_accepts)
{
    char err[512];
    T_EQ_INT(spec_err("{\"mainPodSpec\":{\"image\":\"i\",\"imagePullPolicy\":\"Never\",\"env\":[{"
                      "\"name\":\"A\",\"valueFrom\":{\"secretKeyRef\":{\"key\":\"k\"}}}],"
                      "\"resources\":{\"limits\":{\"cpu\":\"500m\",\"memory\":\"1.5Gi\"},"
                      "\"requests\":{\"cpu\":2,\"memory\":\"1e3\"}},\"tolerations\":[{\"any\":1}],"
                      "\"securityContext\":{\"x\":[1]},\"unknownField\":5},"
                      "\"exitHandlerSpec\":{},\"ttlSecondsAfterFinished\":0,"
                      "\"exitHandlerRetries\":10,\"activeDeadlineSeconds\":1,\"extra\":null}",
                      err, sizeof err),
             0);
}

TEST(omjspec_names_the_field_of_each_rule)
{
    static const struct {
        const char *spec, *want;
    } cases[] = {
        {"{}", "spec.omJobSpec.mainPodSpec: Required value"},
        {"{\"mainPodSpec\":{}}", "spec.omJobSpec.mainPodSpec.image: Required value"},
        {"{\"mainPodSpec\":{\"image\":1}}", "spec.omJobSpec.mainPodSpec.image: Invalid value: must be of type string"},
        {"{\"mainPodSpec\":{\"image\":\"i\",\"imagePullPolicy\":\"Sometimes\"}}",
         "spec.omJobSpec.mainPodSpec.imagePullPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"IfNotPresent\", \"Never\""},
        {"{\"mainPodSpec\":{\"image\":\"i\",\"env\":[{\"value\":\"v\"}]}}", "spec.omJobSpec.mainPodSpec.env[0].name: Required value"},
        {"{\"mainPodSpec\":{\"image\":\"i\",\"env\":[{\"name\":\"a\",\"valueFrom\":{\"fieldRef\":{}}}]}}",
         "spec.omJobSpec.mainPodSpec.env[0].valueFrom.fieldRef.fieldPath: Required value"},
        {"{\"mainPodSpec\":{\"image\":\"i\",\"resources\":{\"limits\":{\"cpu\":\"lots\"}}}}",
         "spec.omJobSpec.mainPodSpec.resources.limits.cpu: Invalid value: \"lots\": must be a quantity (e.g. 500m, 2Gi)"},
        {"{\"mainPodSpec\":{\"image\":\"i\",\"resources\":{\"limits\":{\"cpu\":0.5}}}}",
         "spec.omJobSpec.mainPodSpec.resources.limits.cpu: Invalid value: must be of type integer or string"},
        {"{\"mainPodSpec\":{\"image\":\"i\",\"nodeSelector\":{\"a\":true}}}", "spec.omJobSpec.mainPodSpec.nodeSelector.a: Invalid value: must be of type string"},
        {"{\"mainPodSpec\":{\"image\":\"i\",\"command\":\"sh\"}}", "spec.omJobSpec.mainPodSpec.command: Invalid value: must be of type array"},
        {"{\"mainPodSpec\":{\"image\":\"i\",\"activeDeadlineSeconds\":0}}",
         "spec.omJobSpec.mainPodSpec.activeDeadlineSeconds: Invalid value: 0: should be greater than or equal to 1"},
        {"{\"mainPodSpec\":{\"image\":\"i\"},\"exitHandlerRetries\":11}",
         "spec.omJobSpec.exitHandlerRetries: Invalid value: 11: should be less than or equal to 10"},
        {"{\"mainPodSpec\":{\"image\":\"i\"},\"ttlSecondsAfterFinished\":1.5}",
         "spec.omJobSpec.ttlSecondsAfterFinished: Invalid value: must be of type integer"},
        {"{\"mainPodSpec\":{\"image\":\"i\"},\"ttlSecondsAfterFinished\":3000000000}",
         "spec.omJobSpec.ttlSecondsAfterFinished: Invalid value: out of range for int32"},
        {"{\"mainPodSpec\":{\"image\":\"i\"},\"exitHandlerSpec\":[]}", "spec.omJobSpec.exitHandlerSpec: Invalid value: must be of type object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[512];
        T_EQ_INT(spec_err(cases[i].spec, err, sizeof err), -1);
        T_EQ_STR(err, cases[i].want);
    }
    char small[16];
    T_EQ_INT(spec_err("{}", small, sizeof small), -1); /* truncated, still terminated */
    T_ASSERT(strlen(small) == sizeof small - 1);
}
