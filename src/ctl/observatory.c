#include "ctl/observatory.h"

#include "config.h"
#include "ctl/ctl.h"
#include "ctl/engine.h"
#include "ctl/naming.h"
#include "ctl/pods.h"
#include "ctl/tracing.h"
#include "ctl/writer.h"
#include "http/metrics.h"
#include "kube/client.h"
#include "kube/event.h"
#include "kube/queue.h"
#include "util/buf.h"
#include "util/cron.h"
#include "util/json.h"
#include "util/log.h"
#include "util/strset.h"
#include "util/timeutil.h"
#include "util/tz.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define API_PREFIX "/apis/" OBSERVATORY_GROUP "/v1alpha1"
#define TASK_NAME_MAX 32
#define MAX_RETRIES 10
#define RETRY_BASE_MS 10000
#define RETRY_CAP_MS 300000
#define ON_EXIT_NAME "on-exit"
#define LABEL_NAME OBSERVATORY_GROUP "/observatory"
#define LABEL_TASK OBSERVATORY_GROUP "/task"

/* What status says about one task of the current run. */
struct task_rec {
    char name[TASK_NAME_MAX + 1];
    char phase[16]; /* Pending Running Succeeded Failed Skipped */
    int attempts;   /* pods created */
    int exit_code;  /* -1 unknown */
    char reason[40];
    char *message; /* lost or late only (see pod_late_outcome), else NULL */
    int64_t start_ms, completion_ms;
};

struct obs_obj {
    char *doc; /* metadata + spec as compact JSON: pods are built from it */
    char phase[16];
    long run;                 /* status.run: 0 = the unscheduled single run */
    int64_t last_schedule_ms; /* status.lastScheduleTime */
    int64_t start_ms, completion_ms, created_ms;
    bool has_message; /* status.message is set */
    int64_t observed_gen;
    size_t ntasks;
    struct task_rec *tasks;
    char *fingerprint; /* of the recorded status, to tell whether a patch is needed */
    long trace_run;    /* the run TRACING_EXPORTED_ANNOTATION names, -1 none */
};

/* --- status fingerprints: the same function reads the recorded and the desired status --- */


/* phase, run, observedGeneration and each task's name/phase/podName/attempts/exitCode/reason */
static char *
fingerprint(const cJSON *st)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    buf_printf(&b, "%s|%lld|%lld", json_str(st, "phase") ? json_str(st, "phase") : "",
               (long long)json_int(st, "run", 0), (long long)json_int(st, "observedGeneration", 0));
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(st, "tasks"))
    {
        const char *name = json_str(t, "name"), *phase = json_str(t, "phase"), *pod = json_str(t, "podName");
        const char *reason = json_str(t, "reason");
        buf_printf(&b, "|%s:%s:%s:%lld:%lld:%s", name ? name : "", phase ? phase : "",
                   pod ? pod : "", (long long)json_int(t, "attempts", 0),
                   (long long)json_int(t, "exitCode", -1), reason ? reason : "");
    }
    return buf_take(&b);
}

static char *
obs_doc(const cJSON *obj)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    cJSON *d = cJSON_CreateObject(), *m = cJSON_AddObjectToObject(d, "metadata");
    static const char *const keep[] = {"name", "namespace", "uid", "labels"};
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(meta, keep[i]);
        if (v)
            cJSON_AddItemToObject(m, keep[i], cJSON_Duplicate(v, 1));
    }
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
    cJSON_AddItemToObject(d, "spec", spec ? cJSON_Duplicate(spec, 1) : cJSON_CreateObject());
    char *s = cJSON_PrintUnformatted(d);
    cJSON_Delete(d);
    return s;
}

static void
copy_str(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

static void
obs_free_payload(void *p)
{
    struct obs_obj *o = p;
    if (!o)
        return;
    free(o->doc);
    for (size_t i = 0; o->tasks && i < o->ntasks; i++)
        free(o->tasks[i].message);
    free(o->tasks);
    free(o->fingerprint);
    free(o);
}

static void *
obs_trim(const cJSON *obj)
{
    struct obs_obj *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(obj, "status");
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    copy_str(o->phase, sizeof o->phase, json_str(st, "phase"));
    o->run = (long)json_int(st, "run", 0);
    o->trace_run = tracing_exported_run(json_str(cJSON_GetObjectItemCaseSensitive(meta, "annotations"),
                                                 TRACING_EXPORTED_ANNOTATION));
    o->last_schedule_ms = json_time_ms(st, "lastScheduleTime");
    o->start_ms = json_time_ms(st, "startTime");
    o->completion_ms = json_time_ms(st, "completionTime");
    const char *msg = json_str(st, "message");
    o->has_message = msg && *msg;
    o->created_ms = json_time_ms(meta, "creationTimestamp");
    o->observed_gen = json_int(st, "observedGeneration", 0);
    const cJSON *tasks = cJSON_GetObjectItemCaseSensitive(st, "tasks"), *t;
    int n = cJSON_GetArraySize(tasks);
    if (n > 0 && n <= ENGINE_MAX_STEPS)
        o->tasks = calloc((size_t)n, sizeof *o->tasks);
    cJSON_ArrayForEach(t, tasks)
    {
        if (!o->tasks || o->ntasks == (size_t)n)
            break;
        struct task_rec *r = &o->tasks[o->ntasks++];
        copy_str(r->name, sizeof r->name, json_str(t, "name"));
        copy_str(r->phase, sizeof r->phase, json_str(t, "phase"));
        copy_str(r->reason, sizeof r->reason, json_str(t, "reason"));
        const char *m = json_str(t, "message");
        if (m && *m)
            r->message = strndup(m, 255); /* no memory: the message is only shown */
        r->attempts = (int)json_int(t, "attempts", 0);
        r->exit_code = (int)json_int(t, "exitCode", -1);
        r->start_ms = json_time_ms(t, "startTime");
        r->completion_ms = json_time_ms(t, "completionTime");
    }
    o->fingerprint = fingerprint(st);
    o->doc = obs_doc(obj);
    if (!o->fingerprint || !o->doc) {
        obs_free_payload(o);
        return NULL;
    }
    return o;
}

/* --- the controller ------------------------------------------------------------------ */

struct observatory_ctl {
    struct ctl *ctl;
    struct nswatch obs;
    struct workqueue *queue;
    struct writer *writer;
    struct strset *gone; /* pod keys confirmed absent */
    struct metric *m_pods;
};

enum { OP_CREATE_POD, OP_STATUS, OP_CONFIRM_GONE };

/* One task (or the onExit task) of the current run, as derived from status and pods. */
struct task_view {
    const cJSON *spec;
    char name[TASK_NAME_MAX + 1];
    int retries;
    int attempts;         /* pods known to exist or have existed */
    char pod[64];         /* the current attempt's pod */
    struct kobj *podobj;
    struct pod_outcome out;
    int64_t start_ms, completion_ms, retry_at_ms;
    const struct task_rec *rec;
    bool late; /* a recorded NodeLost corrected by a late report now */
};

struct view {
    struct kobj *o;
    struct obs_obj *j;
    cJSON *doc;
    const cJSON *spec;
    size_t n; /* tasks, plus the onExit task last when there is one */
    struct task_view t[ENGINE_MAX_STEPS + 1];
    struct step steps[ENGINE_MAX_STEPS + 1];
    size_t max_concurrent;
    enum workflow_phase phase;
    bool late; /* some task's recorded NodeLost is corrected now */
    char err[512];
};

static void
pod_name(char out[static 64], const struct view *v, const char *task, int attempt)
{
    char base[300], suffix[48];
    if (v->j->run > 0)
        snprintf(base, sizeof base, "%s-r%ld", v->o->name, v->j->run);
    else
        snprintf(base, sizeof base, "%s", v->o->name);
    if (attempt > 0)
        snprintf(suffix, sizeof suffix, "%s-%d", task, attempt);
    else
        snprintf(suffix, sizeof suffix, "%s", task);
    if (naming_child(out, base, suffix) < 0)
        naming_child(out, base, "task");
}

static const struct task_rec *
find_rec(const struct obs_obj *j, const char *name)
{
    for (size_t i = 0; i < j->ntasks; i++)
        if (!strcmp(j->tasks[i].name, name))
            return &j->tasks[i];
    return NULL;
}

static bool
valid_task_name(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > TASK_NAME_MAX || !strcmp(s, ON_EXIT_NAME))
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || (ch == '-' && i && i < n - 1)))
            return false;
    }
    return true;
}

/* spec → steps. Returns -1 with v->err on an invalid graph. */
static int
build_graph(struct view *v)
{
    const cJSON *tasks = cJSON_GetObjectItemCaseSensitive(v->spec, "tasks"), *t;
    if (!cJSON_IsArray(tasks) || cJSON_GetArraySize(tasks) == 0) {
        snprintf(v->err, sizeof v->err, "spec.tasks: at least one task is required");
        return -1;
    }
    if (cJSON_GetArraySize(tasks) > ENGINE_MAX_STEPS) {
        snprintf(v->err, sizeof v->err, "spec.tasks: at most %d tasks", ENGINE_MAX_STEPS);
        return -1;
    }
    size_t i = 0;
    cJSON_ArrayForEach(t, tasks)
    {
        const char *name = json_str(t, "name");
        if (!name || !valid_task_name(name)) {
            snprintf(v->err, sizeof v->err,
                     "spec.tasks[%zu].name: \"%.40s\" must be 1-%d lower-case letters, digits "
                     "or '-' (and not \"%s\")",
                     i, name ? name : "", TASK_NAME_MAX, ON_EXIT_NAME);
            return -1;
        }
        v->t[i].spec = t;
        copy_str(v->t[i].name, sizeof v->t[i].name, name);
        int64_t retries = json_int(t, "retries", 0);
        v->t[i].retries = retries < 0 ? 0 : retries > MAX_RETRIES ? MAX_RETRIES : (int)retries;
        v->steps[i].name = v->t[i].name;
        i++;
    }
    v->n = i;
    /* dependencies by name, after every name is known */
    i = 0;
    cJSON_ArrayForEach(t, tasks)
    {
        const cJSON *d;
        cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(t, "dependencies"))
        {
            size_t k = 0;
            while (k < v->n && (!cJSON_IsString(d) || strcmp(v->t[k].name, d->valuestring)))
                k++;
            if (k == v->n) {
                snprintf(v->err, sizeof v->err,
                         "spec.tasks[%zu] (%s): dependency \"%.40s\" is not a task", i,
                         v->t[i].name, cJSON_IsString(d) ? d->valuestring : "?");
                return -1;
            }
            if (v->steps[i].ndeps == ENGINE_MAX_DEPS) {
                snprintf(v->err, sizeof v->err, "spec.tasks[%zu]: more than %d dependencies", i,
                         ENGINE_MAX_DEPS);
                return -1;
            }
            v->steps[i].deps[v->steps[i].ndeps++] = k;
        }
        i++;
    }
    if (engine_validate(v->steps, v->n, v->err, sizeof v->err))
        return -1;
    const cJSON *on_exit = cJSON_GetObjectItemCaseSensitive(v->spec, "onExit");
    if (cJSON_IsObject(on_exit)) {
        struct task_view *e = &v->t[v->n];
        e->spec = on_exit;
        copy_str(e->name, sizeof e->name, ON_EXIT_NAME);
        int64_t retries = json_int(on_exit, "retries", 0);
        e->retries = retries < 0 ? 0 : retries > MAX_RETRIES ? MAX_RETRIES : (int)retries;
        v->steps[v->n] = (struct step){.name = e->name, .exit_step = true};
        v->n++;
    }
    int64_t mc = json_int(v->spec, "maxConcurrent", 0);
    v->max_concurrent = mc > 0 ? (size_t)mc : 0;
    return 0;
}

static bool
confirmed_gone(struct observatory_ctl *c, const char *ns, const char *pod)
{
    char key[200];
    snprintf(key, sizeof key, "%s/%s", ns, pod);
    return strset_has(c->gone, key);
}

/* The recorded NodeLost of t's current pod, corrected by its late report (pods.h): 1 done,
 * 0 none, -1 not yet readable (the task stays as recorded, not retried). */
static int
late_report(struct observatory_ctl *c, const struct view *v, struct task_view *t,
            const struct pod_state *ps)
{
    int64_t done = v->j->completion_ms;
    if (!t->rec || t->rec->attempts != t->attempts ||
        (done && time_now_ms() - done >= POD_LATE_WINDOW_MS))
        return 0;
    struct pod_outcome late;
    int rc = pod_late_outcome(t->rec->reason, t->podobj, ps, ctl_node_of(c->ctl, ps), &late);
    if (rc <= 0)
        return rc;
    t->out = late;
    t->late = true;
    t->start_ms = t->rec->start_ms ? t->rec->start_ms : ps->started_ms;
    t->completion_ms = ps->finished_ms ? ps->finished_ms : t->rec->completion_ms;
    return 1;
}

static enum step_state
state_of(const struct pod_outcome *o)
{
    return o->kind == POD_SUCCEEDED ? STEP_SUCCEEDED : STEP_FAILED;
}

/* Derives one task's step state. Returns false when a pod's absence must be confirmed first. */
static bool
view_task(struct observatory_ctl *c, struct view *v, size_t i)
{
    struct task_view *t = &v->t[i];
    struct step *s = &v->steps[i];
    t->rec = find_rec(v->j, t->name);
    int attempts = t->rec ? t->rec->attempts : 0;
    char name[64];
    for (; attempts <= t->retries; attempts++) { /* adopt pods created after the last status write */
        pod_name(name, v, t->name, attempts);
        if (!nswatch_get(&c->ctl->pods, v->o->ns, name))
            break;
    }
    t->attempts = attempts;
    pod_name(t->pod, v, t->name, attempts ? attempts - 1 : 0);
    t->podobj = nswatch_get(&c->ctl->pods, v->o->ns, t->pod);
    t->out.exit_code = -1;
    t->out.reason = "";
    /* the pod's payload: cached, else the last one seen before it left the cache */
    const struct pod_state *ps = t->podobj ? t->podobj->payload
                                           : ctl_pod_last(c->ctl, v->o->ns, t->pod, v->o->uid);
    if (t->rec && (!strcmp(t->rec->phase, "Succeeded") || !strcmp(t->rec->phase, "Failed") ||
                   !strcmp(t->rec->phase, "Skipped"))) {
        s->state = !strcmp(t->rec->phase, "Succeeded") ? STEP_SUCCEEDED
                   : !strcmp(t->rec->phase, "Failed")  ? STEP_FAILED
                                                        : STEP_SKIPPED;
        t->out.exit_code = t->rec->exit_code;
        t->out.reason = t->rec->reason;
        copy_str(t->out.message, sizeof t->out.message, t->rec->message);
        t->start_ms = t->rec->start_ms;
        t->completion_ms = t->rec->completion_ms;
        if (s->state == STEP_FAILED && late_report(c, v, t, ps) > 0) {
            s->state = state_of(&t->out);
            v->late = true;
        }
        return true;
    }
    if (!attempts) {
        s->state = STEP_WAITING;
        return true;
    }
    int64_t now = time_now_ms();
    const struct node_state *node = NULL;
    int late = late_report(c, v, t, ps);
    if (late < 0) { /* its node reported, we cannot read how yet: still lost, no retry */
        s->state = STEP_RUNNING;
        t->out.reason = t->rec->reason;
        copy_str(t->out.message, sizeof t->out.message, t->rec->message);
        return true;
    }
    if (late > 0) {
        /* held as lost, and now its node reported: that outcome, retried if it failed */
    } else if (t->podobj) {
        node = ctl_node_of(c->ctl, ps);
        int64_t deadline = json_int(t->spec, "activeDeadlineSeconds", 0);
        t->out = pod_classify(t->podobj, ps, node, now, c->ctl->cfg->node_lost_grace_s * 1000,
                              deadline > 0 && ps && ps->start_time_ms
                                  ? ps->start_time_ms + deadline * 1000
                                  : 0);
        t->start_ms = ps ? (ps->started_ms ? ps->started_ms : ps->start_time_ms) : 0;
        t->completion_ms = ps ? ps->finished_ms : 0;
    } else {
        if (!ps && !confirmed_gone(c, v->o->ns, t->pod))
            return false;
        t->out = pod_classify(NULL, ps, NULL, now, 0, 0);
        t->completion_ms = ps ? ps->finished_ms : 0;
    }
    switch (t->out.kind) {
    case POD_PENDING:
    case POD_RUNNING:
        s->state = STEP_RUNNING;
        if (t->rec && t->rec->attempts == t->attempts && !strcmp(t->rec->reason, "NodeLost")) {
            /* back from a lost node but not reported yet: the record stays until the report */
            t->out.reason = t->rec->reason;
            copy_str(t->out.message, sizeof t->out.message, t->rec->message);
        }
        break;
    case POD_SUCCEEDED: s->state = STEP_SUCCEEDED; break;
    default:
        if (attempts <= t->retries && pod_may_still_run(&t->out, t->podobj, node)) {
            s->state = STEP_RUNNING; /* lost with its node: retried once it surely stopped */
        } else if (attempts <= t->retries) {
            s->state = STEP_RETRYING;
            int64_t delay = RETRY_BASE_MS;
            for (int k = 1; k < attempts && delay < RETRY_CAP_MS; k++)
                delay *= 2;
            t->retry_at_ms = (t->completion_ms ? t->completion_ms : now) +
                             (delay < RETRY_CAP_MS ? delay : RETRY_CAP_MS);
        } else {
            s->state = STEP_FAILED;
        }
    }
    if (!t->completion_ms && (s->state == STEP_SUCCEEDED || s->state == STEP_FAILED))
        t->completion_ms = now;
    return true;
}

/* --- writes ------------------------------------------------------------------------- */

static const struct ctl_kind observatory_kind = {OBSERVATORY_GROUP "/v1alpha1", "Observatory",
                                                 "observatory"};

static struct event_ref
ref_of(const struct kobj *o)
{
    return ctl_ref(&observatory_kind, o);
}

static const char *
task_phase(const struct task_view *t, enum step_state st)
{
    switch (st) {
    case STEP_WAITING: return "Pending";
    case STEP_RUNNING:
        return t->podobj && t->podobj->payload &&
                       !strcmp(((const struct pod_state *)t->podobj->payload)->phase, "Running")
                   ? "Running"
                   : "Pending";
    case STEP_RETRYING: return "Retrying";
    case STEP_SUCCEEDED: return "Succeeded";
    case STEP_FAILED: return "Failed";
    case STEP_SKIPPED: return "Skipped";
    }
    return "Pending";
}

/* The whole desired status; NULL when the recorded one already says it. */
static char *
status_body(const struct view *v, long run, int64_t last_schedule_ms, bool fresh_run)
{
    cJSON *root = cJSON_CreateObject(), *st = cJSON_AddObjectToObject(root, "status");
    const char *phase = fresh_run ? "Pending" : engine_phase_name(v->phase);
    if (!strcmp(phase, "ExitHandlerRunning"))
        phase = "Running";
    cJSON_AddStringToObject(st, "phase", phase);
    cJSON_AddNumberToObject(st, "run", (double)run);
    cJSON_AddNumberToObject(st, "observedGeneration", (double)v->o->generation);
    json_add_time(st, "lastScheduleTime", last_schedule_ms);
    cJSON *tasks = cJSON_AddArrayToObject(st, "tasks");
    int64_t first_start = 0, last_end = 0;
    char failed[128] = "";
    for (size_t i = 0; !fresh_run && i < v->n; i++) {
        const struct task_view *t = &v->t[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", t->name);
        cJSON_AddStringToObject(o, "phase", task_phase(t, v->steps[i].state));
        if (t->attempts) {
            cJSON_AddStringToObject(o, "podName", t->pod);
            cJSON_AddNumberToObject(o, "attempts", t->attempts);
        }
        if (t->out.exit_code >= 0)
            cJSON_AddNumberToObject(o, "exitCode", t->out.exit_code);
        if (t->out.reason && *t->out.reason)
            cJSON_AddStringToObject(o, "reason", t->out.reason);
        if (!strcmp(t->out.reason ? t->out.reason : "", "NodeLost") ||
            strstr(t->out.message, POD_LATE_MARK))
            json_add_str(o, "message", t->out.message);
        json_add_time(o, "startTime", t->start_ms);
        if (v->steps[i].state == STEP_SUCCEEDED || v->steps[i].state == STEP_FAILED)
            json_add_time(o, "completionTime", t->completion_ms);
        cJSON_AddItemToArray(tasks, o);
        if (t->start_ms && (!first_start || t->start_ms < first_start))
            first_start = t->start_ms;
        if (t->completion_ms > last_end)
            last_end = t->completion_ms;
        if (v->steps[i].state == STEP_FAILED && !failed[0])
            snprintf(failed, sizeof failed, "%s", t->name);
    }
    bool final = !fresh_run && (v->phase == PHASE_SUCCEEDED || v->phase == PHASE_FAILED);
    if (fresh_run) {
        /* A new run: the previous run's times are deleted (a merge patch keeps what it
         * leaves out), or every later run would report the first run's. */
        if (v->j->start_ms)
            json_add_delete(st, "startTime");
        if (v->j->completion_ms)
            json_add_delete(st, "completionTime");
    } else {
        json_add_time(st, "startTime", v->j->start_ms ? v->j->start_ms : first_start);
    }
    if (final)
        json_add_time(st, "completionTime", v->j->completion_ms ? v->j->completion_ms
                                                           : (last_end ? last_end : time_now_ms()));
    char msg[512] = "";
    if (final && failed[0])
        snprintf(msg, sizeof msg, "task %s failed", failed);
    else if (final && v->phase == PHASE_FAILED)
        snprintf(msg, sizeof msg, "tasks were skipped after a failure since corrected");
    else if (final)
        snprintf(msg, sizeof msg, "all tasks succeeded");
    for (size_t i = 0; !fresh_run && i < v->n; i++) {
        size_t len = strlen(msg);
        if (strstr(v->t[i].out.message, POD_LATE_MARK) && len < sizeof msg)
            snprintf(msg + len, sizeof msg - len, "%stask %s: %s", len ? "; " : "", v->t[i].name,
                     v->t[i].out.message);
    }
    json_patch_str(st, "message", msg, v->j->has_message);
    char *fp = fingerprint(st);
    if (fp && v->j->fingerprint && !strcmp(fp, v->j->fingerprint) && !fresh_run) {
        free(fp);
        cJSON_Delete(root);
        return NULL;
    }
    free(fp);
    cJSON *conds = cJSON_AddArrayToObject(st, "conditions");
    ctl_condition(conds, "Ready", v->phase == PHASE_SUCCEEDED && !fresh_run, phase, msg,
                  v->o->generation);
    ctl_condition(conds, "Failed", v->phase == PHASE_FAILED && !fresh_run,
                  failed[0] ? "TaskFailed" : "NoFailure", msg, v->o->generation);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

static int
patch_status(struct observatory_ctl *c, const struct view *v, char *body)
{
    char path[300];
    snprintf(path, sizeof path, API_PREFIX "/namespaces/%s/observatories/%s/status", v->o->ns,
             v->o->name);
    return writer_submit(c->writer, v->o->key, v->o->ns, OP_STATUS, "", "PATCH", path,
                         "application/merge-patch+json", body);
}

static void
fail_invalid(struct observatory_ctl *c, struct view *v)
{
    struct event_ref r = ref_of(v->o);
    event_record(c->ctl->events, &r, "Warning", "InvalidSpec", "%s", v->err);
    log_warn("invalid Observatory", "observatory.name", v->o->name, "namespace", v->o->ns,
             "error", v->err);
    cJSON *root = cJSON_CreateObject(), *st = cJSON_AddObjectToObject(root, "status");
    cJSON_AddStringToObject(st, "phase", "Failed");
    json_add_str(st, "message", v->err);
    cJSON_AddNumberToObject(st, "observedGeneration", (double)v->o->generation);
    json_add_time(st, "completionTime", time_now_ms());
    cJSON *conds = cJSON_AddArrayToObject(st, "conditions");
    ctl_condition(conds, "Failed", true, "InvalidSpec", v->err, v->o->generation);
    char *body = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    patch_status(c, v, body);
}

static int
create_task_pod(struct observatory_ctl *c, struct view *v, size_t i)
{
    struct task_view *t = &v->t[i];
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(v->doc, "metadata");
    char name[64], path[200], status_env[16], run[24];
    pod_name(name, v, t->name, t->attempts);
    bool exit_step = v->steps[i].exit_step;
    const char *extra_labels[] = {LABEL_TASK, t->name, NULL};
    struct pod_owner o = {OBSERVATORY_GROUP "/v1alpha1", "Observatory", v->o->name, v->o->ns,
                          v->o->uid, cJSON_GetObjectItemCaseSensitive(meta, "labels"), LABEL_NAME,
                          NULL, NULL, extra_labels};
    snprintf(status_env, sizeof status_env, "%s",
             engine_main_succeeded(v->steps, v->n) ? "success" : "failed");
    snprintf(run, sizeof run, "%ld", v->j->run);
    const char *inject[] = {"OBSERVATORY_NAME", v->o->name, "OBSERVATORY_TASK", t->name,
                            "OBSERVATORY_RUN", run, exit_step ? "WORKFLOW_STATUS" : NULL,
                            status_env, NULL};
    char where[64];
    if (exit_step)
        snprintf(where, sizeof where, "spec.onExit");
    else
        snprintf(where, sizeof where, "spec.tasks[%zu]", i);
    struct pod_stage st = {.spec = t->spec, .path = where, .inject_env = inject};
    cJSON *pod = pod_build_stage(&o, &st, name, v->err, sizeof v->err);
    if (!pod)
        return -2;
    char span_key[48];
    tracing_task_key(span_key, t->name);
    tracing_pod_env(pod, "observatory", v->o, v->j->run, span_key, 0, t->name);
    char *body = cJSON_PrintUnformatted(pod);
    cJSON_Delete(pod);
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/pods", v->o->ns);
    return writer_submit(c->writer, v->o->key, v->o->ns, OP_CREATE_POD, name, "POST", path,
                         "application/json", body);
}

/* Every task spec must build before anything runs: a typo fails the run up front. */
static int
validate_tasks(struct view *v)
{
    for (size_t i = 0; i < v->n; i++) {
        const char *extra[] = {LABEL_TASK, v->t[i].name, NULL};
        struct pod_owner o = {OBSERVATORY_GROUP "/v1alpha1", "Observatory", v->o->name, v->o->ns,
                              v->o->uid, NULL, LABEL_NAME, NULL, NULL, extra};
        char where[64];
        snprintf(where, sizeof where, v->steps[i].exit_step ? "spec.onExit" : "spec.tasks[%zu]", i);
        struct pod_stage st = {.spec = v->t[i].spec, .path = where};
        cJSON *pod = pod_build_stage(&o, &st, "probe", v->err, sizeof v->err);
        if (!pod)
            return -1;
        cJSON_Delete(pod);
    }
    return 0;
}

/* --- scheduling ------------------------------------------------------------------------ */

/* The slot a new run should start for, or 0. Only the most recent due slot counts (missed
 * slots are not replayed), and only once the current run is final (runs never overlap). */
static int64_t
due_slot(struct view *v, int64_t *next_ms, char *err, size_t errlen)
{
    *next_ms = 0;
    const char *sched = json_str(v->spec, "schedule");
    if (!sched || !*sched || cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v->spec, "suspend")))
        return 0;
    struct cron_expr e;
    if (cron_parse(sched, &e, err, errlen))
        return -1;
    const char *zone = json_str(v->spec, "timeZone");
    struct tz *z = tz_load(zone ? zone : "UTC", err, errlen);
    if (!z)
        return -1;
    int64_t now_s = time_now_ms() / 1000, prev = 0, next = 0;
    int64_t since = (v->j->last_schedule_ms ? v->j->last_schedule_ms : v->j->created_ms) / 1000;
    if (cron_prev(&e, z, now_s, &prev) != 0 || prev <= since)
        prev = 0;
    if (cron_next(&e, z, now_s, &next) == 0)
        *next_ms = next * 1000;
    tz_free(z);
    return prev * 1000;
}

/* --- reconcile ----------------------------------------------------------------------- */

static bool
act(struct observatory_ctl *c, struct view *v)
{
    bool final = !strcmp(v->j->phase, "Succeeded") || !strcmp(v->j->phase, "Failed");
    char err[256];
    int64_t next_ms;
    int64_t slot = due_slot(v, &next_ms, err, sizeof err);
    if (slot < 0) {
        snprintf(v->err, sizeof v->err, "spec.schedule/timeZone: %s", err);
        if (strcmp(v->j->phase, "Failed"))
            fail_invalid(c, v);
        return true;
    }
    ctl_requeue_at(c->queue, v->o->key, next_ms);
    bool scheduled = json_str(v->spec, "schedule") && *json_str(v->spec, "schedule");
    if (scheduled && slot && (final || v->j->run == 0)) {
        char *body = status_body(v, v->j->run + 1, slot, true);
        return body && patch_status(c, v, body) == 0;
    }
    if (scheduled && v->j->run == 0)
        return false; /* waiting for the first slot */
    if (final && v->late) { /* a late report corrects the finished run: status only */
        char *body = status_body(v, v->j->run, v->j->last_schedule_ms, false);
        return body && patch_status(c, v, body) == 0;
    }
    if (final)
        return false;
    if (v->j->ntasks == 0 && validate_tasks(v)) {
        fail_invalid(c, v);
        return true;
    }
    size_t start[ENGINE_MAX_STEPS + 1];
    size_t k = engine_ready(v->steps, v->n, v->max_concurrent, start);
    for (size_t i = 0; i < k; i++) {
        struct task_view *t = &v->t[start[i]];
        if (v->steps[start[i]].state == STEP_RETRYING && time_now_ms() < t->retry_at_ms) {
            ctl_requeue_at(c->queue, v->o->key, t->retry_at_ms);
            continue;
        }
        int rc = create_task_pod(c, v, start[i]);
        if (rc == -2) {
            fail_invalid(c, v);
            return true;
        }
        return rc == 0;
    }
    char *body = status_body(v, v->j->run, v->j->last_schedule_ms, false);
    if (body && v->phase == PHASE_FAILED && strcmp(v->j->phase, "Failed")) {
        struct event_ref r = ref_of(v->o); /* the recorder folds a repeat after a failed patch */
        event_record(c->ctl->events, &r, "Warning", "RunFailed", "run %ld failed", v->j->run);
    }
    return body && patch_status(c, v, body) == 0;
}

static void
confirm_gone(struct observatory_ctl *c, struct view *v, const char *pod)
{
    char path[200];
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/pods/%s", v->o->ns, pod);
    writer_submit(c->writer, v->o->key, v->o->ns, OP_CONFIRM_GONE, pod, "GET", path, NULL, NULL);
}

/* A finished run's trace, once (ctl/tracing.h; a no-op when tracing is off). */
static void
trace_finished(struct observatory_ctl *c, const struct view *v)
{
    const struct obs_obj *j = v->j;
    bool failed = !strcmp(j->phase, "Failed");
    if ((!failed && strcmp(j->phase, "Succeeded")) || j->trace_run >= j->run || !tracing_on())
        return;
    struct tracing_task *tasks = calloc(v->n ? v->n : 1, sizeof *tasks);
    if (!tasks)
        return;
    for (size_t i = 0; i < v->n; i++) {
        const struct task_view *t = &v->t[i];
        tasks[i] = (struct tracing_task){t->name, t->pod, t->out.reason, t->attempts,
                                         t->out.exit_code, v->steps[i].state == STEP_FAILED,
                                         t->start_ms, t->completion_ms};
    }
    char path[300];
    snprintf(path, sizeof path, API_PREFIX "/namespaces/%s/observatories/%s", v->o->ns, v->o->name);
    struct tracing_workflow r = {v->o, "observatory", path, false, j->run, failed,
                                 failed ? "a task failed" : NULL, j->start_ms, j->completion_ms,
                                 tasks, v->n};
    tracing_workflow_finished(c->ctl, &r);
    free(tasks);
}

static void
reconcile(void *arg, const char *key)
{
    struct observatory_ctl *c = arg;
    if (c->ctl->may_write && !c->ctl->may_write(c->ctl->may_write_arg))
        return;
    if (writer_busy(c->writer, key))
        return;
    struct kobj *o = nswatch_get_key(&c->obs, key);
    if (!o || !o->payload || o->deletion_ms)
        return;
    struct view *v = calloc(1, sizeof *v);
    if (!v) {
        workqueue_add_rate_limited(c->queue, key);
        return;
    }
    v->o = o;
    v->j = o->payload;
    ctl_log_run(o, v->j->run);
    tracing_log_run(o->uid, v->j->run);
    v->doc = cJSON_Parse(v->j->doc);
    v->spec = cJSON_GetObjectItemCaseSensitive(v->doc, "spec");
    if (build_graph(v)) {
        if (strcmp(v->j->phase, "Failed"))
            fail_invalid(c, v);
        goto out;
    }
    for (size_t i = 0; i < v->n; i++) {
        if (!view_task(c, v, i)) {
            confirm_gone(c, v, v->t[i].pod);
            goto out;
        }
    }
    engine_skip_blocked(v->steps, v->n);
    v->phase = engine_phase(v->steps, v->n);
    trace_finished(c, v);
    act(c, v);
out:
    cJSON_Delete(v->doc);
    free(v);
}

static void
op_done(void *arg, const struct write_op *op, const struct kube_response *r)
{
    struct observatory_ctl *c = arg;
    bool ok = r->status >= 200 && r->status < 300;
    char key[200];
    snprintf(key, sizeof key, "%s/%s", op->ns, op->target);
    if (op->kind == OP_CREATE_POD && (ok || r->status == 409)) {
        nswatch_apply_response(&c->ctl->pods, op->ns, r, op->base_seq);
        strset_del(c->gone, key);
        if (ok) {
            metrics_add(c->m_pods, 1, "task");
            struct kobj *o = nswatch_get_key(&c->obs, op->key);
            if (o) {
                struct event_ref ref = ref_of(o);
                event_record(c->ctl->events, &ref, "Normal", "TaskStarted", "created pod %s",
                             op->target);
            }
        }
        ok = true;
    } else if (op->kind == OP_CONFIRM_GONE) {
        if (r->status == 404) {
            strset_add(c->gone, key);
            ok = true;
        }
    } else if (op->kind == OP_STATUS && ok) {
        nswatch_apply_response(&c->obs, op->ns, r, op->base_seq);
    } else if (op->kind == OP_STATUS && r->status == 404) {
        ok = true; /* the Observatory is gone */
    } else if (!ok) {
        ctl_report_write(c->ctl, &observatory_kind, nswatch_get_key(&c->obs, op->key),
                         op->kind == OP_STATUS ? "status" : "create_pod", op, r);
    }
    writer_settle(c->queue, op, r, ok);
}

static struct kobj *
op_lookup(void *arg, const char *key)
{
    struct observatory_ctl *c = arg;
    return nswatch_get_key(&c->obs, key);
}

static void
on_obs(void *arg, enum informer_event ev, const struct kobj *o)
{
    struct observatory_ctl *c = arg;
    if (ev == INFORMER_DELETE) {
        ctl_forget(c->ctl, c->queue, c->writer, o);
    } else
        workqueue_add(c->queue, o->key);
}

void
observatory_ctl_pod_changed(struct observatory_ctl *c, const char *ns, const char *name,
                            const struct kobj *pod, bool gone)
{
    char key[320];
    snprintf(key, sizeof key, "%s/%s", ns, name);
    const struct pod_state *ps = pod->payload;
    if (gone && ps && (!strcmp(ps->phase, "Succeeded") || !strcmp(ps->phase, "Failed"))) {
        /* keep its terminal state while the run may still read it (a late report) */
        struct kobj *o = nswatch_get_key(&c->obs, key);
        const struct obs_obj *j = o ? o->payload : NULL;
        bool wanted = j && strcmp(j->phase, "Succeeded") && strcmp(j->phase, "Failed");
        for (size_t i = 0; j && !wanted && i < j->ntasks; i++)
            wanted = !strcmp(j->tasks[i].reason, "NodeLost");
        if (wanted)
            ctl_pod_keep_last(c->ctl, pod);
    }
    workqueue_add(c->queue, key);
}

static void
enqueue(void *arg, struct kobj *o)
{
    struct observatory_ctl *c = arg;
    workqueue_add(c->queue, o->key);
}

void
observatory_ctl_resync(struct observatory_ctl *c)
{
    nswatch_foreach(&c->obs, enqueue, c);
}

static const struct informer_kind kind_obs = {"observatories", NULL, obs_trim, obs_free_payload};

struct observatory_ctl *
observatory_ctl_new(struct ctl *ctl)
{
    struct observatory_ctl *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->ctl = ctl;
    c->queue = workqueue_new(ctl->loop, reconcile, c);
    c->writer = writer_new(ctl->client, op_done, op_lookup, c);
    ctl_log_kind(c->queue, c->writer, "observatory");
    c->gone = strset_new();
    static const char *const l_type[] = {"type", NULL};
    c->m_pods = metrics_counter("observatory_pods_created_total", "Observatory task pods created",
                                l_type);
    if (!c->queue || !c->writer || !c->gone ||
        nswatch_init(&c->obs, ctl->loop, ctl->client, ctl->cfg->watch_namespaces, API_PREFIX,
                     "observatories", NULL, &kind_obs, ctl->cfg->watch_timeout_s, on_obs, c)) {
        observatory_ctl_free(c);
        return NULL;
    }
    return c;
}

void
observatory_ctl_start(struct observatory_ctl *c)
{
    nswatch_start(&c->obs);
}

int
observatory_ctl_synced(const struct observatory_ctl *c)
{
    return nswatch_synced(&c->obs);
}

void
observatory_ctl_free(struct observatory_ctl *c)
{
    if (!c)
        return;
    writer_free(c->writer);
    nswatch_free(&c->obs);
    workqueue_free(c->queue);
    strset_free(c->gone);
    free(c);
}
