#include "ctl/omjob.h"

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
#include "kube/nsterm.h"
#include "kube/queue.h"
#include "loop.h"
#include "util/buf.h"
#include "util/intern.h"
#include "util/json.h"
#include "util/log.h"
#include "util/strset.h"
#include "util/timeutil.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define API_PREFIX "/apis/" OMJOB_GROUP "/v1"
#define MAX_EXIT_ATTEMPTS 11          /* exitHandlerRetries is at most 10 */
#define DELETE_BOUND_DEFAULT_S 600    /* how long a deletion waits for the exit handler */
#define EXIT_CODE_UNKNOWN INT_MIN

/* --- the cached OMJob ---------------------------------------------------------------- */

struct omjob_obj {
    char *doc; /* metadata + spec as compact JSON while not final (pods are built from it) */
    const char *phase; /* never NULL; phase and reasons shared from util/intern.h */
    /* status.mainPodName and exitHandlerPodName, kept only when they are not the names this
     * controller gives (naming_child: "<name>-main", the last attempt's exit pod); NULL when
     * they are, or absent (exit_pod_named tells which). */
    char *main_pod, *exit_pod;
    bool exit_pod_named;
    bool started;      /* status.startTime: the main pod's creation was confirmed */
    bool has_message;  /* status.message is set (an empty one is deleted, not sent) */
    int64_t start_ms, completion_ms;
    bool main_recorded; /* status.mainPodReason set: the main outcome is on record */
    int main_exit;
    const char *main_reason;
    char *main_message; /* status.mainPodMessage, NULL when none (most OMJobs) */
    int exit_attempts; /* status.exitHandlerAttempts: exit pods created */
    bool exit_recorded;
    int exit_exit;
    const char *exit_reason; /* status.exitHandlerReason: final, or NodeLost while held */
    char *exit_message;   /* status.exitHandlerMessage (lost or late only), NULL when none */
    int64_t observed_gen;
    int64_t ttl_s, main_deadline_s, exit_deadline_s;
    int exit_retries;
    bool skip_exit_on_delete;
    bool trace_exported; /* TRACING_EXPORTED_ANNOTATION set */
    bool has_annotations; /* metadata.annotations is a map (a JSON patch may add to it) */
    unsigned owned;      /* bits 0-2: phase, main_reason, exit_reason are this object's copy */
};


static void
copy_str(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

static bool
phase_final(const char *phase)
{
    return !strcmp(phase, "Succeeded") || !strcmp(phase, "Failed");
}

/* Metadata and spec, the part pods are built from. */
static char *
omjob_doc(const cJSON *obj)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    cJSON *d = cJSON_CreateObject(), *m = cJSON_AddObjectToObject(d, "metadata");
    static const char *const keep[] = {"name", "namespace", "uid", "labels", "annotations"};
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

static void omjob_free_payload(void *p);
static void exit_pod_name(char out[static 64], const char *omjob, int index);

static void *
omjob_trim(const cJSON *obj)
{
    struct omjob_obj *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(obj, "status");
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    bool own[3];
    j->phase = intern_cut(json_str(st, "phase"), 23, &own[0]);
    j->main_reason = intern_cut(json_str(st, "mainPodReason"), 39, &own[1]);
    j->exit_reason = intern_cut(json_str(st, "exitHandlerReason"), 39, &own[2]);
    j->owned = (own[0] ? 1u : 0) | (own[1] ? 2u : 0) | (own[2] ? 4u : 0);
    if (!j->phase || !j->main_reason || !j->exit_reason)
        goto fail;
    const char *oname = json_str(meta, "name");
    j->start_ms = json_time_ms(st, "startTime");
    j->started = j->start_ms != 0;
    const char *sm = json_str(st, "message");
    j->has_message = sm && *sm;
    j->completion_ms = json_time_ms(st, "completionTime");
    j->main_recorded = json_str(st, "mainPodReason") != NULL;
    const char *mm = json_str(st, "mainPodMessage");
    if (mm && *mm)
        j->main_message = strndup(mm, 255); /* no memory: the message is only shown */
    j->main_exit = (int)json_int(st, "mainPodExitCode", EXIT_CODE_UNKNOWN);
    j->exit_attempts = (int)json_int(st, "exitHandlerAttempts", 0);
    j->exit_exit = (int)json_int(st, "exitHandlerExitCode", EXIT_CODE_UNKNOWN);
    char given[64];
    const char *mp = json_str(st, "mainPodName"), *ep = json_str(st, "exitHandlerPodName");
    naming_child(given, oname ? oname : "", "main");
    if (mp && *mp && strcmp(mp, given) && !(j->main_pod = strndup(mp, 63)))
        goto fail;
    j->exit_pod_named = ep && *ep;
    exit_pod_name(given, oname ? oname : "", j->exit_attempts > 0 ? j->exit_attempts - 1 : 0);
    if (j->exit_pod_named && strcmp(ep, given) && !(j->exit_pod = strndup(ep, 63)))
        goto fail;
    const char *em = json_str(st, "exitHandlerMessage");
    if (em && *em)
        j->exit_message = strndup(em, 255);
    j->exit_recorded = phase_final(j->phase);
    j->observed_gen = json_int(st, "observedGeneration", 0);
    j->ttl_s = json_int(spec, "ttlSecondsAfterFinished", -1);
    j->main_deadline_s = json_int(spec, "activeDeadlineSeconds",
                              json_int(cJSON_GetObjectItemCaseSensitive(spec, "mainPodSpec"),
                                   "activeDeadlineSeconds", -1));
    j->exit_deadline_s =
        json_int(cJSON_GetObjectItemCaseSensitive(spec, "exitHandlerSpec"), "activeDeadlineSeconds", -1);
    int64_t retries = json_int(spec, "exitHandlerRetries", 0);
    j->exit_retries = retries < 0 ? 0 : retries > MAX_EXIT_ATTEMPTS - 1 ? MAX_EXIT_ATTEMPTS - 1
                                                                       : (int)retries;
    const char *skip = json_str(cJSON_GetObjectItemCaseSensitive(meta, "annotations"),
                            OMJOB_SKIP_EXIT_ANNOTATION);
    j->skip_exit_on_delete = skip && !strcmp(skip, "true");
    j->trace_exported = json_str(cJSON_GetObjectItemCaseSensitive(meta, "annotations"),
                                 TRACING_EXPORTED_ANNOTATION) != NULL;
    j->has_annotations = cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(meta, "annotations"));
    if (!phase_final(j->phase))
        j->doc = omjob_doc(obj);
    return j;
fail:
    omjob_free_payload(j);
    return NULL;
}

/* Whether status.exitHandlerPodName is pod (of OMJob name). */
static bool
exit_pod_is(const struct omjob_obj *j, const char *name, const char *pod)
{
    if (!j->exit_pod_named) return false;
    if (j->exit_pod) return !strcmp(j->exit_pod, pod);
    char given[64];
    exit_pod_name(given, name, j->exit_attempts > 0 ? j->exit_attempts - 1 : 0);
    return !strcmp(given, pod);
}

static void
omjob_free_payload(void *p)
{
    struct omjob_obj *j = p;
    if (j) {
        const char *words[] = {j->phase, j->main_reason, j->exit_reason};
        for (unsigned i = 0; i < 3; i++)
            if (j->owned & (1u << i)) free((char *)(uintptr_t)words[i]);
        free(j->doc);
        free(j->main_pod);
        free(j->exit_pod);
        free(j->main_message);
        free(j->exit_message);
    }
    free(j);
}

/* --- the controller ------------------------------------------------------------------- */

struct omjob_ctl {
    struct ctl *ctl;
    struct nswatch omjobs;
    struct workqueue *queue;
    struct writer *writer;   /* one turn of writes in flight per OMJob */
    struct strset *gone;     /* pod keys confirmed absent by a GET (404) */
    struct strset *created;  /* pod keys we created whose creation status does not show yet */
    bool ns_unreadable;      /* namespaces cannot be read (RBAC): learnt from 403s only */
    struct metric *m_reconciles, *m_pods, *m_transitions, *m_active, *m_duration, *m_late;
};

struct step_view {
    char name[64];
    struct kobj *pod;
    struct pod_outcome out;
    enum step_state state;
};

struct view {
    struct kobj *o;
    struct omjob_obj *j;
    bool deleting;
    struct step_view main;
    struct step_view exit; /* the current exit attempt */
    int exit_index;        /* its index: 0 = <name>-exit */
    int exits_created;     /* attempts known to exist: max(status, pods found) */
    struct step steps[2];
    enum workflow_phase phase;
    bool main_late, exit_late; /* a recorded NodeLost is corrected by a late report now */
    bool exit_held;            /* the exit pod is lost but may still run: no retry yet */
    bool exit_was_lost;        /* recorded NodeLost, its node is back, no report yet */
};

enum { OP_CREATE_MAIN, OP_CREATE_EXIT, OP_DELETE_POD, OP_STATUS, OP_FINALIZER, OP_DELETE_OMJOB,
       OP_CONFIRM_GONE, OP_NS_CHECK };

static const char *const op_names[] = {"create_main", "create_exit", "delete_pod", "status",
                                       "finalizer", "delete_omjob", "confirm_gone",
                                       "namespace_check"};

static void
exit_pod_name(char out[static 64], const char *omjob, int index)
{
    char suffix[16];
    if (index == 0)
        snprintf(suffix, sizeof suffix, "exit");
    else
        snprintf(suffix, sizeof suffix, "exit-%d", index);
    naming_child(out, omjob, suffix);
}

static int64_t
main_start_deadline(const struct omjob_obj *j)
{
    return j->main_deadline_s > 0 && j->start_ms ? j->start_ms + j->main_deadline_s * 1000 : 0;
}

static int64_t
exit_start_deadline(const struct kobj *pod, const struct omjob_obj *j)
{
    const struct pod_state *ps = pod ? pod->payload : NULL;
    return j->exit_deadline_s > 0 && ps && ps->start_time_ms
               ? ps->start_time_ms + j->exit_deadline_s * 1000
               : 0;
}

static void
pod_key(char out[static 200], const char *ns, const char *pod)
{
    snprintf(out, 200, "%s/%s", ns, pod);
}

static bool
in_set(const struct strset *set, const char *ns, const char *pod)
{
    char key[200];
    pod_key(key, ns, pod);
    return strset_has(set, key);
}

static bool
confirmed_gone(struct omjob_ctl *c, const char *ns, const char *pod)
{
    return in_set(c->gone, ns, pod);
}

static void
forget_created(struct omjob_ctl *c, const char *ns, const char *pod)
{
    char key[200];
    pod_key(key, ns, pod);
    strset_del(c->created, key);
}

/* The OMJob is gone: nothing about its pods is needed any more. */
static void
forget_pod(struct omjob_ctl *c, const char *ns, const char *pod)
{
    char key[200];
    pod_key(key, ns, pod);
    strset_del(c->gone, key);
    strset_del(c->created, key);
}

/* A pod we created (201) that the OMJob's status does not name yet: should it be gone before
 * its status write lands (writes backed up, the pod deleted at once), it was still created and
 * must not be created again. In memory only: the status write is what survives a restart. */
static bool
created_unrecorded(struct omjob_ctl *c, const char *ns, const char *pod)
{
    return in_set(c->created, ns, pod);
}

static enum step_state
state_of(const struct pod_outcome *out)
{
    switch (out->kind) {
    case POD_PENDING:
    case POD_RUNNING: return STEP_RUNNING;
    case POD_SUCCEEDED: return STEP_SUCCEEDED;
    default: return STEP_FAILED;
    }
}

/* A recorded NodeLost may still be corrected by a late report (README "What final means"). */
static bool
late_open(const struct omjob_obj *j, int64_t now)
{
    return !j->completion_ms || now - j->completion_ms < POD_LATE_WINDOW_MS;
}

static bool
late_possible(const struct omjob_obj *j)
{
    return (!strcmp(j->main_reason, "NodeLost") || !strcmp(j->exit_reason, "NodeLost")) &&
           late_open(j, time_now_ms());
}

/* The step's pod payload: the cached one, else the last one seen before it left the cache. */
static const struct pod_state *
pod_or_last(struct omjob_ctl *c, const struct view *v, const struct step_view *s)
{
    return s->pod ? s->pod->payload : ctl_pod_last(c->ctl, v->o->ns, s->name, v->o->uid);
}

/* Derives the main step. Absent pods are LOST only once a GET confirmed it (a relist that
 * raced with our create must not invent a lost pod). Returns false if a GET is needed. */
/* The status now names what was created: the memory of it is no longer needed. */
static void
forget_recorded(struct omjob_ctl *c, const struct view *v)
{
    char name[64];
    if (v->j->started) {
        naming_child(name, v->o->name, "main");
        forget_created(c, v->o->ns, name);
    }
    for (int i = 0; i < v->j->exit_attempts && i < MAX_EXIT_ATTEMPTS; i++) {
        exit_pod_name(name, v->o->name, i);
        forget_created(c, v->o->ns, name);
    }
}

static bool
view_main(struct omjob_ctl *c, struct view *v)
{
    struct omjob_obj *j = v->j;
    struct step_view *m = &v->main;
    naming_child(m->name, v->o->name, "main");
    m->pod = nswatch_get(&c->ctl->pods, v->o->ns, m->name);
    int64_t now = time_now_ms();
    if (j->main_recorded) {
        m->out.kind = j->main_exit == 0 && !strcmp(j->main_reason, "Completed") ? POD_SUCCEEDED
                                                                                : POD_FAILED;
        m->out.exit_code = j->main_exit == EXIT_CODE_UNKNOWN ? -1 : j->main_exit;
        m->out.reason = j->main_reason;
        copy_str(m->out.message, sizeof m->out.message, j->main_message ? j->main_message : "");
        const struct pod_state *ps = pod_or_last(c, v, m);
        v->main_late = late_open(j, now) && pod_late_outcome(j->main_reason, m->pod, ps,
                                                             ctl_node_of(c->ctl, ps), &m->out) > 0;
    } else if (m->pod) {
        const struct pod_state *ps = m->pod->payload;
        m->out = pod_classify(m->pod, ps, ctl_node_of(c->ctl, ps), now,
                              c->ctl->cfg->node_lost_grace_s * 1000, main_start_deadline(j));
    } else if (j->started || created_unrecorded(c, v->o->ns, m->name)) {
        const struct pod_state *last = pod_or_last(c, v, m);
        if (!last && !confirmed_gone(c, v->o->ns, m->name))
            return false;
        m->out = pod_classify(NULL, last, NULL, now, 0, 0);
    } else {
        m->state = STEP_WAITING;
        return true;
    }
    m->state = state_of(&m->out);
    return true;
}

static bool
view_exit(struct omjob_ctl *c, struct view *v)
{
    struct omjob_obj *j = v->j;
    struct step_view *e = &v->exit;
    /* Adopt exit pods created after the last status write (a crash between the two). */
    int created = j->exit_attempts;
    char name[64];
    for (; created < MAX_EXIT_ATTEMPTS; created++) {
        exit_pod_name(name, v->o->name, created);
        if (!nswatch_get(&c->ctl->pods, v->o->ns, name) &&
            !created_unrecorded(c, v->o->ns, name))
            break;
    }
    v->exits_created = created;
    v->exit_index = created ? created - 1 : 0;
    exit_pod_name(e->name, v->o->name, v->exit_index);
    e->pod = nswatch_get(&c->ctl->pods, v->o->ns, e->name);
    int64_t now = time_now_ms();
    /* the recorded NodeLost of this very pod (final, or held while not final) */
    bool lost_here = !strcmp(j->exit_reason, "NodeLost") && exit_pod_is(j, v->o->name, e->name);
    if (j->exit_recorded) {
        e->out.kind = j->exit_exit == 0 ? POD_SUCCEEDED : POD_FAILED;
        e->out.exit_code = j->exit_exit == EXIT_CODE_UNKNOWN ? -1 : j->exit_exit;
        e->out.reason = j->exit_reason;
        copy_str(e->out.message, sizeof e->out.message, j->exit_message ? j->exit_message : "");
        const struct pod_state *ps = pod_or_last(c, v, e);
        v->exit_late = lost_here && late_open(j, now) &&
                       pod_late_outcome(j->exit_reason, e->pod, ps, ctl_node_of(c->ctl, ps),
                                        &e->out) > 0;
        e->state = e->out.kind == POD_SUCCEEDED ? STEP_SUCCEEDED : STEP_FAILED;
        return true;
    }
    if (!created) {
        e->state = STEP_WAITING;
        return true;
    }
    const struct pod_state *ps = pod_or_last(c, v, e);
    const struct node_state *node = ctl_node_of(c->ctl, ps);
    int late = lost_here ? pod_late_outcome(j->exit_reason, e->pod, ps, node, &e->out) : 0;
    if (late < 0) { /* its node reported, we cannot read how yet: still lost, no retry */
        e->state = STEP_RUNNING;
        v->exit_was_lost = true;
        return true;
    }
    if (late > 0) {
        v->exit_late = true;
    } else if (e->pod) {
        e->out = pod_classify(e->pod, ps, node, now, c->ctl->cfg->node_lost_grace_s * 1000,
                              exit_start_deadline(e->pod, j));
    } else {
        if (!ps && !confirmed_gone(c, v->o->ns, e->name))
            return false;
        e->out = pod_classify(NULL, ps, NULL, now, 0, 0);
    }
    e->state = state_of(&e->out);
    /* back from a lost node but not reported yet: the record stays until the report */
    v->exit_was_lost = lost_here && e->state == STEP_RUNNING;
    if (e->state == STEP_FAILED && created <= j->exit_retries) {
        /* a handler lost with its node is retried only once it surely no longer runs */
        v->exit_held = pod_may_still_run(&e->out, e->pod, node);
        e->state = v->exit_held ? STEP_RUNNING : STEP_RETRYING;
    }
    return true;
}

/* --- writes ------------------------------------------------------------------------- */

static int
submit(struct omjob_ctl *c, const struct view *v, int kind, const char *pod, const char *method,
       const char *path, const char *ctype, char *body)
{
    return writer_submit(c->writer, v->o->key, v->o->ns, kind, pod, method, path, ctype, body);
}

static void
pod_path(char *out, size_t n, const char *ns, const char *pod)
{
    snprintf(out, n, "/api/v1/namespaces/%s/pods%s%s", ns, pod ? "/" : "", pod ? pod : "");
}

static void
omjob_path(char *out, size_t n, const char *ns, const char *name, const char *sub)
{
    snprintf(out, n, API_PREFIX "/namespaces/%s/omjobs/%s%s", ns, name, sub);
}

static const struct ctl_kind omjob_kind = {"pipelines.openmetadata.org/v1", "OMJob", "omjob"};

static struct event_ref
ref_of(const struct kobj *o)
{
    return ctl_ref(&omjob_kind, o);
}

static void
warn_invalid(struct omjob_ctl *c, const struct kobj *o, const char *msg)
{
    struct event_ref r = ref_of(o);
    event_record(c->ctl->events, &r, "Warning", "InvalidSpec", "%s", msg);
    log_warn("invalid OMJob", "omjob.name", o->name, "namespace", o->ns, "error", msg);
}

static int
create_pod(struct omjob_ctl *c, const struct view *v, bool main, char *err, size_t errlen)
{
    cJSON *doc = cJSON_Parse(v->j->doc ? v->j->doc : "{}");
    struct exit_env env = {0};
    char status_buf[16];
    if (!main) {
        bool ok = v->main.state == STEP_SUCCEEDED && !v->deleting;
        snprintf(status_buf, sizeof status_buf, "%s", ok ? "success" : "failed");
        env.pipeline_status = status_buf;
        env.main_pod = v->main.name;
        env.main_reason = v->main.out.reason ? v->main.out.reason : "";
        env.main_exit_code = v->main.out.exit_code;
    }
    const char *name = main ? v->main.name : NULL;
    char exit_name[64];
    int index = v->exits_created;
    if (!main) {
        exit_pod_name(exit_name, v->o->name, index);
        name = exit_name;
    }
    cJSON *pod = doc ? pod_build(doc, main ? "main" : "exit-handler", name, main ? NULL : &env,
                                 err, errlen)
                     : NULL;
    if (pod && main) {
        /* Before anything runs, the exit handler must be buildable too: an OMJob whose exit
         * handler could never start is rejected up front, not after its main pod ran. */
        struct exit_env probe = {"failed", name, "Error", 1};
        char exit_probe_name[64];
        exit_pod_name(exit_probe_name, v->o->name, 0);
        cJSON *exit_pod = pod_build(doc, "exit-handler", exit_probe_name, &probe, err, errlen);
        if (!exit_pod) {
            cJSON_Delete(pod);
            pod = NULL;
        }
        cJSON_Delete(exit_pod);
    }
    cJSON_Delete(doc);
    tracing_pod_env(pod, "omjob", v->o, 0, main ? "main" : "exit", main ? 0 : index,
                    main ? "main" : "exit");
    if (!pod) {
        if (!doc)
            snprintf(err, errlen, "the cached OMJob could not be read");
        return -2; /* invalid spec: not retryable */
    }
    char *body = cJSON_PrintUnformatted(pod);
    cJSON_Delete(pod);
    char path[256];
    pod_path(path, sizeof path, v->o->ns, NULL);
    return submit(c, v, main ? OP_CREATE_MAIN : OP_CREATE_EXIT, name, "POST", path,
                  "application/json", body);
}

static int
delete_pod(struct omjob_ctl *c, const struct view *v, const char *pod)
{
    char path[256];
    pod_path(path, sizeof path, v->o->ns, pod);
    return submit(c, v, OP_DELETE_POD, pod, "DELETE", path, NULL, NULL);
}

static int
confirm_gone(struct omjob_ctl *c, const struct view *v, const char *pod)
{
    char path[256];
    pod_path(path, sizeof path, v->o->ns, pod);
    return submit(c, v, OP_CONFIRM_GONE, pod, "GET", path, NULL, NULL);
}

/* A resourceVersion that can go into a JSON string as it is (the server's: never trusted). */
static bool
plain_rv(const char *rv)
{
    for (; rv && *rv; rv++)
        if (!((*rv >= '0' && *rv <= '9') || (*rv >= 'a' && *rv <= 'z') ||
              (*rv >= 'A' && *rv <= 'Z') || *rv == '-'))
            return false;
    return rv != NULL;
}

/* Adds (add) or releases our finalizer; a release with mark (not NULL) also sets the
 * exported-trace annotation in the same JSON patch (tracing_omjob_carry), unless it cannot
 * (then the trace's own patch annotates it once the finalizer is gone). */
static int
set_finalizer(struct omjob_ctl *c, const struct view *v, bool add, const char *mark)
{
    char path[256], *body;
    omjob_path(path, sizeof path, v->o->ns, v->o->name, "");
    cJSON *ops = cJSON_CreateArray(), *t = cJSON_CreateObject();
    /* test the resourceVersion: the finalizer list we patch is the one we saw */
    cJSON_AddStringToObject(t, "op", "test");
    cJSON_AddStringToObject(t, "path", "/metadata/resourceVersion");
    cJSON_AddStringToObject(t, "value", v->o->rv);
    cJSON_AddItemToArray(ops, t);
    cJSON *p = cJSON_CreateObject();
    if (add) {
        cJSON_AddStringToObject(p, "op", "add");
        if (v->o->finalizers & 1) {
            cJSON_AddStringToObject(p, "path", "/metadata/finalizers/-");
            cJSON_AddStringToObject(p, "value", OMJOB_FINALIZER);
        } else {
            const char *one[] = {OMJOB_FINALIZER};
            cJSON_AddStringToObject(p, "path", "/metadata/finalizers");
            cJSON_AddItemToObject(p, "value", cJSON_CreateStringArray(one, 1));
        }
        cJSON_AddItemToArray(ops, p);
        body = cJSON_PrintUnformatted(ops);
        cJSON_Delete(ops);
        return submit(c, v, OP_FINALIZER, "", "PATCH", path, "application/json-patch+json", body);
    }
    cJSON_Delete(p);
    cJSON_Delete(ops);
    omjob_path(path, sizeof path, v->o->ns, v->o->name, "");
    struct write_op op = {.kind = OP_FINALIZER, .release = true};
    snprintf(op.key, sizeof op.key, "%s", v->o->key);
    snprintf(op.ns, sizeof op.ns, "%s", v->o->ns);
    if (!(v->o->finalizers & 4)) {
        /* Ours is the only one: one PATCH that holds only while that is still so (a test
         * of the whole list), whatever else changed meanwhile. */
        char fin[768], ann[400] = "";
        if (mark && v->j->has_annotations) /* "/" in the key is "~1" in a JSON pointer */
            snprintf(ann, sizeof ann,
                     ",{\"op\":\"add\",\"path\":\"/metadata/annotations/%s\",\"value\":\"%s\"}",
                     TRACING_EXPORTED_POINTER, mark);
        else if (mark && plain_rv(v->o->rv)) /* no map: make one, unless one appeared since */
            snprintf(ann, sizeof ann,
                     ",{\"op\":\"test\",\"path\":\"/metadata/resourceVersion\",\"value\":\"%s\"}"
                     ",{\"op\":\"add\",\"path\":\"/metadata/annotations\","
                     "\"value\":{\"%s\":\"%s\"}}",
                     v->o->rv, TRACING_EXPORTED_ANNOTATION, mark);
        snprintf(fin, sizeof fin,
                 "[{\"op\":\"test\",\"path\":\"/metadata/finalizers\",\"value\":[\"%s\"]},"
                 "{\"op\":\"remove\",\"path\":\"/metadata/finalizers\"}%s]",
                 OMJOB_FINALIZER, ann);
        op.n = ann[0] != '\0'; /* carries the annotation: tracing_omjob_carried once it lands */
        body = strdup(fin);
        return body ? writer_submit_op(c->writer, &op, "PATCH", path,
                                       "application/json-patch+json", body)
                    : -1;
    }
    /* Others too: we do not cache them, and a merge patch of the list is not safe. Read
     * the object, then remove ours by index with a test of the resourceVersion. */
    snprintf(op.target, sizeof op.target, "remove");
    return writer_submit_op(c->writer, &op, "GET", path, NULL, NULL);
}

/* --- desired status ------------------------------------------------------------------ */

static const char *
phase_name(const struct view *v)
{
    if (v->phase == PHASE_RUNNING && v->main.pod) {
        const struct pod_state *ps = v->main.pod->payload;
        if (ps && strcmp(ps->phase, "Running") && v->main.state == STEP_RUNNING)
            return "Pending";
    }
    if (v->phase == PHASE_PENDING && v->j->started)
        return "Pending";
    return engine_phase_name(v->phase);
}

static void
describe(const struct view *v, char *msg, size_t n)
{
    const char *mr = v->main.out.reason ? v->main.out.reason : "";
    switch (v->phase) {
    case PHASE_SUCCEEDED:
        snprintf(msg, n, "main pod and exit handler succeeded");
        break;
    case PHASE_FAILED:
        if (v->main.state != STEP_SUCCEEDED)
            snprintf(msg, n, "main pod failed (%s%s%s), exit handler %s", mr,
                     v->main.out.message[0] ? ": " : "", v->main.out.message,
                     v->exit.state == STEP_SUCCEEDED ? "succeeded" : "failed");
        else
            snprintf(msg, n, "main pod succeeded, exit handler failed (%s)",
                     v->exit.out.reason ? v->exit.out.reason : "");
        break;
    case PHASE_EXIT_RUNNING:
        if (v->exit_held) {
            const struct pod_state *ps = v->exit.pod ? v->exit.pod->payload : NULL;
            snprintf(msg, n,
                     "main pod finished (%s), exit handler pod %s lost with node %s: not retried "
                     "until it is certain it no longer runs (the pod gone from the API server, "
                     "or the node deleted)",
                     mr, v->exit.name, ps && ps->node_name ? ps->node_name : "(unknown)");
        } else {
            snprintf(msg, n, "main pod finished (%s), exit handler running", mr);
        }
        break;
    default:
        snprintf(msg, n, "%s", v->deleting ? "OMJob deleted: stopping the main pod" : "");
    }
    /* an outcome corrected by a late report says so, in the message too */
    size_t len = strlen(msg);
    if (strstr(v->main.out.message, POD_LATE_MARK) && len < n)
        len += (size_t)snprintf(msg + len, n - len, "; main pod: %s", v->main.out.message);
    if (strstr(v->exit.out.message, POD_LATE_MARK) && len < n)
        snprintf(msg + len, n - len, "; exit handler: %s", v->exit.out.message);
}

/* exitHandlerReason as it should be recorded: the outcome once final, NodeLost while held. */
static const char *
exit_reason_of(const struct view *v)
{
    bool final = v->phase == PHASE_SUCCEEDED || v->phase == PHASE_FAILED;
    if (v->exit_was_lost)
        return v->j->exit_reason;
    return (final || v->exit_held) && v->exit.out.reason ? v->exit.out.reason : "";
}

/* Returns the status patch body, or NULL when the recorded status already says it all. */
static char *
status_patch(const struct view *v)
{
    const struct omjob_obj *j = v->j;
    const char *phase = phase_name(v);
    bool main_final = v->main.state == STEP_SUCCEEDED || v->main.state == STEP_FAILED;
    bool final = v->phase == PHASE_SUCCEEDED || v->phase == PHASE_FAILED;
    bool started = j->started || v->main.pod || main_final;
    const char *exit_reason = exit_reason_of(v);
    if (!strcmp(phase, j->phase) && j->started == started && j->main_recorded == main_final &&
        (!main_final || !strcmp(j->main_reason, v->main.out.reason)) &&
        !strcmp(j->exit_reason, exit_reason) &&
        j->exit_attempts == v->exits_created && j->observed_gen == v->o->generation &&
        (!v->exits_created || exit_pod_is(j, v->o->name, v->exit.name)))
        return NULL;
    char now[TIME_RFC3339_MAX], msg[512];
    time_fmt_rfc3339(now, time_now_ms(), 0);
    cJSON *root = cJSON_CreateObject(), *st = cJSON_AddObjectToObject(root, "status");
    cJSON_AddStringToObject(st, "phase", phase);
    cJSON_AddNumberToObject(st, "observedGeneration", (double)v->o->generation);
    if (started) {
        /* the same startTime in every patch of the run: a refused patch stays identical */
        const struct pod_state *mp = v->main.pod ? v->main.pod->payload : NULL;
        int64_t at = j->start_ms ? j->start_ms : mp && mp->created_ms ? mp->created_ms : time_now_ms();
        char t[TIME_RFC3339_MAX];
        time_fmt_rfc3339(t, at, 0);
        cJSON_AddStringToObject(st, "mainPodName", v->main.name);
        cJSON_AddStringToObject(st, "startTime", t);
    }
    if (main_final) {
        if (v->main.out.exit_code >= 0)
            cJSON_AddNumberToObject(st, "mainPodExitCode", v->main.out.exit_code);
        /* never empty: its presence is how a restart knows the outcome is on record */
        const char *mr = v->main.out.reason;
        cJSON_AddStringToObject(st, "mainPodReason", mr && *mr ? mr : "Unknown");
        json_add_str(st, "mainPodMessage", v->main.out.message);
    }
    if (v->exits_created) {
        cJSON_AddStringToObject(st, "exitHandlerPodName", v->exit.name);
        cJSON_AddNumberToObject(st, "exitHandlerAttempts", v->exits_created);
    }
    if (final && v->exit.out.exit_code >= 0)
        cJSON_AddNumberToObject(st, "exitHandlerExitCode", v->exit.out.exit_code);
    /* reason and message of the exit handler: null (removed) when there is none to record */
    bool exit_msg = *exit_reason && (!strcmp(exit_reason, "NodeLost") ||
                                     strstr(v->exit.out.message, POD_LATE_MARK));
    if (*exit_reason)
        cJSON_AddStringToObject(st, "exitHandlerReason", exit_reason);
    else if (*j->exit_reason)
        json_add_delete(st, "exitHandlerReason");
    if (v->exit_was_lost) {
        /* exitHandlerMessage stays as recorded */
    } else if (exit_msg) {
        cJSON_AddStringToObject(st, "exitHandlerMessage", v->exit.out.message);
    } else if (j->exit_message) {
        json_add_delete(st, "exitHandlerMessage");
    }
    if (final) {
        /* a late correction keeps the first completion time; else when the last pod
         * finished, so that a repeated patch is identical */
        const struct pod_state *ep = v->exit.pod ? v->exit.pod->payload : NULL;
        const struct pod_state *mp = v->main.pod ? v->main.pod->payload : NULL;
        int64_t at = j->completion_ms           ? j->completion_ms
                     : ep && ep->finished_ms ? ep->finished_ms
                     : mp && mp->finished_ms ? mp->finished_ms
                                             : time_now_ms();
        char done[TIME_RFC3339_MAX];
        time_fmt_rfc3339(done, at, 0);
        cJSON_AddStringToObject(st, "completionTime", done);
    }
    describe(v, msg, sizeof msg);
    json_patch_str(st, "message", msg, j->has_message);
    cJSON *conds = cJSON_AddArrayToObject(st, "conditions");
    ctl_condition(conds, "MainCompleted", main_final,
                  main_final ? v->main.out.reason : (started ? "Running" : "Pending"),
                  main_final ? msg : "", v->o->generation);
    ctl_condition(conds, "ExitHandlerCompleted", final,
                  final ? (v->exit.state == STEP_SUCCEEDED ? "Succeeded" : "Failed")
                        : (v->exits_created ? "Running" : "Pending"),
                  "", v->o->generation);
    ctl_condition(conds, "Ready", v->phase == PHASE_SUCCEEDED, phase, msg, v->o->generation);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

/* --- reconcile ----------------------------------------------------------------------- */

/* When a deletion stops waiting for the exit handler: its own deadline, or the default. */
static int64_t
delete_bound_ms(const struct view *v)
{
    int64_t s = v->j->exit_deadline_s > 0 ? v->j->exit_deadline_s : DELETE_BOUND_DEFAULT_S;
    return v->o->deletion_ms + s * 1000;
}

/* Timers that must wake the OMJob even if nothing changes in the cluster. */
static void
schedule_wakeups(struct omjob_ctl *c, const struct view *v)
{
    const struct omjob_obj *j = v->j;
    if (v->main.state == STEP_RUNNING) {
        ctl_requeue_at(c->queue, v->o->key, main_start_deadline(j));
        const struct pod_state *ps = v->main.pod ? v->main.pod->payload : NULL;
        const struct node_state *ns = ctl_node_of(c->ctl, ps);
        if (ns && ns->ready != 1)
            ctl_requeue_at(c->queue, v->o->key,
                           ns->ready_since_ms + c->ctl->cfg->node_lost_grace_s * 1000);
    }
    if (v->exit.state == STEP_RUNNING)
        ctl_requeue_at(c->queue, v->o->key, exit_start_deadline(v->exit.pod, j));
    if (v->deleting)
        ctl_requeue_at(c->queue, v->o->key, delete_bound_ms(v));
}

static void
fail_invalid(struct omjob_ctl *c, struct view *v, const char *err)
{
    warn_invalid(c, v->o, err);
    char now[TIME_RFC3339_MAX], path[256];
    time_fmt_rfc3339(now, time_now_ms(), 0);
    cJSON *root = cJSON_CreateObject(), *st = cJSON_AddObjectToObject(root, "status");
    cJSON_AddStringToObject(st, "phase", "Failed");
    json_add_str(st, "message", err);
    cJSON_AddStringToObject(st, "completionTime", now);
    cJSON_AddNumberToObject(st, "observedGeneration", (double)v->o->generation);
    cJSON *conds = cJSON_AddArrayToObject(st, "conditions");
    ctl_condition(conds, "Ready", false, "InvalidSpec", err, v->o->generation);
    char *body = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    omjob_path(path, sizeof path, v->o->ns, v->o->name, "/status");
    submit(c, v, OP_STATUS, "", "PATCH", path, "application/merge-patch+json", body);
}

static double
seconds_between(int64_t from_ms, int64_t to_ms)
{
    return from_ms && to_ms > from_ms ? (double)(to_ms - from_ms) / 1000.0 : -1;
}

/* Events and metrics for what the status patch about to be sent records for the first time.
 * A patch that fails is recomputed and sent again; the recorder folds the repeated event. */
static void
note_transitions(struct omjob_ctl *c, const struct view *v)
{
    const struct omjob_obj *j = v->j;
    const char *to = phase_name(v), *from = j->phase[0] ? j->phase : "Pending";
    struct event_ref ref = ref_of(v->o);
    if (strcmp(from, to))
        metrics_add(c->m_transitions, 1, from, to);
    bool main_final = v->main.state == STEP_SUCCEEDED || v->main.state == STEP_FAILED;
    if (main_final && (!j->main_recorded || v->main_late)) {
        const struct pod_state *ps = v->main.pod ? v->main.pod->payload : NULL;
        double d = ps ? seconds_between(ps->started_ms, ps->finished_ms) : -1;
        if (d >= 0 && !v->main_late)
            metrics_observe(c->m_duration, d, "main");
        /* Only the news a user acts on (issue 16: each Event is a write): a failed main pod
         * or a late correction. A success is told once, by OMJobCompleted. */
        if (v->main.state != STEP_SUCCEEDED || v->main_late)
            event_record(c->ctl->events, &ref,
                         v->main.state == STEP_SUCCEEDED ? "Normal" : "Warning", "MainPodCompleted",
                         "main pod %s ended: %s, exit code %d%s%s", v->main.name,
                         v->main.out.reason ? v->main.out.reason : "", v->main.out.exit_code,
                         v->main_late ? ": " : "", v->main_late ? v->main.out.message : "");
    }
    if (v->main_late) {
        metrics_add(c->m_late, 1, "main");
        log_info("a lost node reported the main pod late: NodeLost corrected", "omjob", v->o->key,
                 "reason", v->main.out.reason, "message", v->main.out.message);
    }
    if (v->exit_late) {
        metrics_add(c->m_late, 1, "exit_handler");
        log_info("a lost node reported the exit handler late: NodeLost corrected", "omjob",
                 v->o->key, "reason", v->exit.out.reason, "message", v->exit.out.message);
    }
    if (v->exit_held && strcmp(j->exit_reason, "NodeLost"))
        log_warn("exit handler lost with its node: not retried while it may still run", "omjob",
                 v->o->key, "pod", v->exit.name, "message", v->exit.out.message);
    bool final = v->phase == PHASE_SUCCEEDED || v->phase == PHASE_FAILED;
    if (final && (!phase_final(j->phase) || v->main_late || v->exit_late)) {
        const struct pod_state *ps = v->exit.pod ? v->exit.pod->payload : NULL;
        double d = ps ? seconds_between(ps->started_ms, ps->finished_ms) : -1;
        if (d >= 0)
            metrics_observe(c->m_duration, d, "exit_handler");
        char msg[512];
        describe(v, msg, sizeof msg);
        if (v->phase == PHASE_SUCCEEDED)
            event_record(c->ctl->events, &ref, "Normal", "OMJobCompleted", "%s", msg);
        else
            event_record(c->ctl->events, &ref, "Warning", "OMJobFailed", "%s", msg);
        const char *er = v->exit.out.reason ? v->exit.out.reason : "";
        if (v->exits_created && v->exit.state == STEP_FAILED) /* alerts count these */
            event_record(c->ctl->events, &ref, "Warning",
                         strstr(er, "Deadline") ? "ExitHandlerTimedOut" : "ExitHandlerFailed",
                         "exit handler %s ended: %s, exit code %d", v->exit.name, er,
                         v->exit.out.exit_code);
    }
}

/* One write at most; returns true if one was started. */
static bool
act(struct omjob_ctl *c, struct view *v)
{
    struct omjob_obj *j = v->j;
    char err[512];
    bool final = phase_final(j->phase);
    bool ours = v->o->finalizers & 2;

    if (v->deleting) {
        bool bound_passed = time_now_ms() > delete_bound_ms(v);
        bool nothing_began = v->main.state == STEP_WAITING;
        /* The server refuses every create in a namespace being deleted: no exit handler
         * can run there, and holding the finalizer would hold the namespace. */
        enum nsterm_state ns = nsterm_get(v->o->ns, time_mono_ms());
        bool ns_ending = ns == NSTERM_TERMINATING;
        if (ours && !final && !nothing_began && !j->skip_exit_on_delete && !bound_passed &&
            !c->ns_unreadable && (ns == NSTERM_UNKNOWN || ns == NSTERM_CHECKING)) {
            /* Before stopping the main pod for an exit handler: is the whole namespace
             * going? One read per namespace; its answer wakes every OMJob there. */
            if (ns == NSTERM_CHECKING) { /* woken by the answer; at the latest, when it lapses */
                workqueue_add_after(c->queue, v->o->key, NSTERM_CHECK_TTL_MS + 1);
                return false;
            }
            char path[256];
            snprintf(path, sizeof path, "/api/v1/namespaces/%s", v->o->ns);
            nsterm_set(v->o->ns, NSTERM_CHECKING, time_mono_ms());
            if (submit(c, v, OP_NS_CHECK, "", "GET", path, NULL, NULL) == 0)
                return true;
            nsterm_set(v->o->ns, NSTERM_UNKNOWN, 0);
            workqueue_add_rate_limited(c->queue, v->o->key);
            return false;
        }
        if (ours && ns_ending && !final)
            log_warn("namespace is being deleted: releasing the OMJob without an exit handler",
                     "omjob", v->o->key);
        if (ours && (final || nothing_began || j->skip_exit_on_delete || bound_passed || ns_ending)) {
            if (bound_passed && !final) {
                struct event_ref r = ref_of(v->o);
                event_record(c->ctl->events, &r, "Warning", "ExitHandlerTimedOut",
                             "the exit handler did not finish in time; releasing the deletion");
            }
            return set_finalizer(c, v, false, NULL) == 0;
        }
        if (!ours)
            return false;
        if (v->main.state == STEP_RUNNING && v->main.pod && !v->main.pod->deletion_ms)
            return delete_pod(c, v, v->main.name) == 0;
    } else if (!final && !ours) {
        /* The main pod in the same round trip: its POST does not wait for the finalizer's
         * answer (issue 16), and goes on the wire first, so that the server answers it
         * first (one write's latency to the main pod). Should the OMJob be deleted before
         * the finalizer is on, the pod, seconds before its container could start, goes with
         * its owner; should the finalizer PATCH fail, the next reconcile sends it again
         * (the pod exists by then: AlreadyExists is not a second run). */
        size_t start[2];
        int rc = 1;
        if (engine_ready(v->steps, 2, 0, start) && start[0] == 0)
            rc = create_pod(c, v, true, err, sizeof err);
        if (set_finalizer(c, v, true, NULL))
            return rc == 0;
        if (rc == -2)
            fail_invalid(c, v, err);
        return true;
    }

    if (!final) {
        size_t start[2];
        size_t n = engine_ready(v->steps, 2, 0, start);
        for (size_t i = 0; i < n; i++) {
            bool main = start[i] == 0;
            if (main && v->deleting)
                continue; /* a deleted OMJob starts no main pod */
            int rc = create_pod(c, v, main, err, sizeof err);
            if (rc == -2) {
                fail_invalid(c, v, err);
                return true;
            }
            return rc == 0;
        }
    }
    char *body = final && !v->main_late && !v->exit_late ? NULL : status_patch(v);
    if (body) {
        char path[256];
        note_transitions(c, v);
        omjob_path(path, sizeof path, v->o->ns, v->o->name, "/status");
        return submit(c, v, OP_STATUS, "", "PATCH", path, "application/merge-patch+json", body) == 0;
    }
    /* A stuck or lost main pod that still exists is stopped — only once its outcome is on
     * record, since our own deletion would otherwise turn it into "Deleted". */
    if (j->main_recorded && v->main.pod && !v->main.pod->deletion_ms &&
        (!strcmp(j->main_reason, "StartFailed") || !strcmp(j->main_reason, "NodeLost")))
        return delete_pod(c, v, v->main.name) == 0;
    if (final && ours) {
        char mark[33];
        int64_t until = 0;
        switch (tracing_omjob_carry(v->o, j->completion_ms, mark, &until)) {
        case TRACING_CARRY_WAIT: /* its trace's answer first, to write both at once */
            ctl_requeue_at(c->queue, v->o->key, until);
            return false;
        case TRACING_CARRY_MARK:
            return set_finalizer(c, v, false, mark) == 0;
        case TRACING_CARRY_NONE:
            break;
        }
        return set_finalizer(c, v, false, NULL) == 0;
    }
    if (final && j->ttl_s >= 0 && j->completion_ms && !v->deleting) {
        int64_t at = j->completion_ms + j->ttl_s * 1000;
        if (time_now_ms() >= at) {
            char path[256];
            omjob_path(path, sizeof path, v->o->ns, v->o->name, "");
            return submit(c, v, OP_DELETE_OMJOB, "", "DELETE", path, "application/json",
                          strdup("{\"propagationPolicy\":\"Background\"}")) == 0;
        }
        ctl_requeue_at(c->queue, v->o->key, at);
    }
    return false;
}

/* The finished run's trace (ctl/tracing.h; a no-op when tracing is off). */
static void
trace_finished(struct omjob_ctl *c, const struct kobj *o, const struct omjob_obj *j)
{
    struct tracing_omjob t = {o, !strcmp(j->phase, "Failed"), j->main_pod, j->main_reason,
                              j->main_exit == EXIT_CODE_UNKNOWN ? -1 : j->main_exit,
                              j->exit_attempts, j->exit_exit == EXIT_CODE_UNKNOWN ? -1 : j->exit_exit,
                              j->start_ms, j->completion_ms};
    tracing_omjob_finished(c->ctl, &t);
}

static void
reconcile(void *arg, const char *key)
{
    struct omjob_ctl *c = arg;
    if (c->ctl->may_write && !c->ctl->may_write(c->ctl->may_write_arg))
        return;
    if (writer_busy(c->writer, key))
        return; /* the write's completion requeues it */
    struct kobj *o = nswatch_get_key(&c->omjobs, key);
    if (!o || !o->payload)
        return;
    struct view v = {.o = o, .j = o->payload, .deleting = o->deletion_ms != 0};
    ctl_log_run(o, 0);
    tracing_log_run(o->uid, 0);
    if (phase_final(v.j->phase) && !v.j->trace_exported && !late_possible(v.j))
        trace_finished(c, o, v.j); /* once a late report can no longer change the outcome */
    if (phase_final(v.j->phase) && !(o->finalizers & 2) && v.j->ttl_s < 0 && !late_possible(v.j))
        return; /* done, nothing left to do */
    forget_recorded(c, &v);
    if (!view_main(c, &v)) {
        confirm_gone(c, &v, v.main.name);
        return;
    }
    if (!view_exit(c, &v)) {
        confirm_gone(c, &v, v.exit.name);
        return;
    }
    v.steps[0] = (struct step){.name = "main", .state = v.main.state};
    v.steps[1] = (struct step){.name = "exit", .exit_step = true, .state = v.exit.state};
    v.phase = engine_phase(v.steps, 2);
    if (v.main_late && v.main.state == STEP_SUCCEEDED && v.exits_created)
        snprintf(v.main.out.message + strlen(v.main.out.message),
                 sizeof v.main.out.message - strlen(v.main.out.message),
                 "; the exit handler was told pipelineStatus=failed");
    schedule_wakeups(c, &v);
    bool wrote = act(c, &v);
    metrics_add(c->m_reconciles, 1, wrote ? "write" : "noop");
}

/* --- completions ---------------------------------------------------------------------- */

static void
record_pod_created(struct omjob_ctl *c, const struct write_op *op, const struct kube_response *r)
{
    bool main = op->kind == OP_CREATE_MAIN;
    if (r->status == 201) {
        nswatch_apply_response(&c->ctl->pods, op->ns, r, op->base_seq); /* the next reconcile sees it */
        metrics_add(c->m_pods, 1, main ? "main" : "exit_handler");
        /* No Event: the pod itself is the record (issue 16, README "Events and metrics"). */
        log_info(main ? "main pod created" : "exit handler created", "omjob", op->key, "pod",
                 op->target);
    }
    char key[200];
    pod_key(key, op->ns, op->target);
    strset_del(c->gone, key);
    strset_add(c->created, key); /* 201 or AlreadyExists: it exists, whatever comes next */
}

static void
report_api_error(struct omjob_ctl *c, const struct write_op *op, const struct kube_response *r)
{
    ctl_report_write(c->ctl, &omjob_kind, nswatch_get_key(&c->omjobs, op->key),
                     op_names[op->kind], op, r);
}

/* A finalizer removal reads the object first, then removes ours by index with a test. */
static void
remove_finalizer_by_index(struct omjob_ctl *c, const struct write_op *op,
                          const struct kube_response *r)
{
    cJSON *obj = cJSON_ParseWithLength(r->body, r->body_len);
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *fins = cJSON_GetObjectItemCaseSensitive(meta, "finalizers"), *f;
    const char *rv = json_str(meta, "resourceVersion"), *name = json_str(meta, "name");
    int idx = -1, i = 0;
    cJSON_ArrayForEach(f, fins)
    {
        if (cJSON_IsString(f) && !strcmp(f->valuestring, OMJOB_FINALIZER))
            idx = i;
        i++;
    }
    if (idx >= 0 && rv && name) {
        char ops[512], path[256];
        snprintf(ops, sizeof ops,
                 "[{\"op\":\"test\",\"path\":\"/metadata/resourceVersion\",\"value\":\"%s\"},"
                 "{\"op\":\"remove\",\"path\":\"/metadata/finalizers/%d\"}]",
                 rv, idx);
        omjob_path(path, sizeof path, op->ns, name, "");
        char *body = strdup(ops);
        struct write_op patch = *op;
        patch.target[0] = '\0';
        patch.release = true;
        if (body && writer_submit_op(c->writer, &patch, "PATCH", path,
                                     "application/json-patch+json", body) == 0) {
            cJSON_Delete(obj);
            return;
        }
    }
    cJSON_Delete(obj);
    workqueue_add(c->queue, op->key);
}

struct ns_wake {
    struct omjob_ctl *c;
    const char *ns;
};

static void
wake_deleting(void *arg, struct kobj *o)
{
    struct ns_wake *w = arg;
    if (o->deletion_ms && !strcmp(o->ns, w->ns))
        workqueue_add(w->c->queue, o->key);
}

/* What a read of the namespace said: gone or terminating (no exit handler can run there),
 * active, or unknown (the OMJob goes on as if active; a refused create would tell). */
static void
ns_checked(struct omjob_ctl *c, const struct write_op *op, const struct kube_response *r)
{
    enum nsterm_state s = NSTERM_ACTIVE;
    char code[16];
    snprintf(code, sizeof code, "%ld", r->status);
    if (r->status == 404) {
        s = NSTERM_TERMINATING;
    } else if (r->status == 200) {
        cJSON *obj = cJSON_ParseWithLength(r->body, r->body_len);
        const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
        const char *phase = json_str(cJSON_GetObjectItemCaseSensitive(obj, "status"), "phase");
        if (json_str(meta, "deletionTimestamp") || (phase && !strcmp(phase, "Terminating")))
            s = NSTERM_TERMINATING;
        cJSON_Delete(obj);
    } else if (r->status == 403 || r->status == 401) {
        c->ns_unreadable = true;
        log_info("cannot read namespaces: a namespace being deleted is learnt from refused "
                 "creates instead",
                 "omjob", op->key, "status", code, "error", r->error);
    } else {
        log_warn("could not read the namespace of a deleted OMJob: going on as if it stays",
                 "omjob", op->key, "status", code, "error", r->error);
    }
    nsterm_set(op->ns, s, time_mono_ms());
    log_info(s == NSTERM_TERMINATING ? "namespace read: it is being deleted"
                                     : "namespace read: it stays",
             "namespace", op->ns, "status", code);
    struct ns_wake w = {c, op->ns};
    nswatch_foreach(&c->omjobs, wake_deleting, &w);
}

static void
op_done(void *arg, const struct write_op *op, const struct kube_response *r)
{
    struct omjob_ctl *c = arg;
    bool ok = r->status >= 200 && r->status < 300;
    switch (op->kind) {
    case OP_NS_CHECK:
        ns_checked(c, op, r);
        ok = true;
        break;
    case OP_CREATE_MAIN:
    case OP_CREATE_EXIT:
        if (ok || r->status == 409) { /* AlreadyExists: adopt */
            record_pod_created(c, op, r);
            ok = true;
        } else {
            report_api_error(c, op, r);
        }
        break;
    case OP_CONFIRM_GONE:
        if (r->status == 404) {
            char key[200];
            pod_key(key, op->ns, op->target);
            strset_add(c->gone, key);
        } else {
            nswatch_apply_response(&c->ctl->pods, op->ns, r, op->base_seq);
        }
        break;
    case OP_FINALIZER:
        if (!strcmp(op->target, "remove") && r->status == 200) {
            remove_finalizer_by_index(c, op, r);
            return;
        }
        if (ok) {
            /* our finalizer is off (or on): no second release from a stale cache */
            struct kobj *o = op->release && op->n ? nswatch_get_key(&c->omjobs, op->key) : NULL;
            if (o) tracing_omjob_carried(o); /* the annotation went with it */
            nswatch_apply_response(&c->omjobs, op->ns, r, op->base_seq);
        } else if (r->status == 404) {
            ok = true; /* the OMJob is gone: nothing to hold or release */
        } else if (r->status == 422 || r->status == 409) {
            /* the resourceVersion test failed: the object changed; read it again */
            workqueue_add_rate_limited(c->queue, op->key);
            return;
        } else if (!ok) {
            report_api_error(c, op, r);
        }
        break;
    case OP_STATUS:
    case OP_DELETE_POD:
    case OP_DELETE_OMJOB:
        if (op->kind == OP_STATUS)
            nswatch_apply_response(&c->omjobs, op->ns, r, op->base_seq);
        if (ok && op->kind == OP_DELETE_OMJOB) {
            struct kobj *o = nswatch_get_key(&c->omjobs, op->key);
            if (o) {
                struct event_ref ref = ref_of(o);
                event_record(c->ctl->events, &ref, "Normal", "ResourcesCleanedUp",
                             "ttlSecondsAfterFinished passed: OMJob and pods deleted");
            }
        }
        if (r->status == 404)
            ok = true; /* deleted already */
        else if (!ok)
            report_api_error(c, op, r);
        break;
    }
    if (op->kind == OP_CONFIRM_GONE && r->status == 404)
        ok = true;
    writer_settle(c->queue, op, r, ok);
}

static struct kobj *
op_lookup(void *arg, const char *key)
{
    struct omjob_ctl *c = arg;
    return nswatch_get_key(&c->omjobs, key);
}

/* --- events from the informers ----------------------------------------------------------- */

static void
on_omjob(void *arg, enum informer_event ev, const struct kobj *o)
{
    struct omjob_ctl *c = arg;
    if (ev == INFORMER_DELETE) {
        ctl_forget(c->ctl, c->queue, c->writer, o);
        tracing_omjob_forget(o);
        char name[64];
        naming_child(name, o->name, "main");
        forget_pod(c, o->ns, name);
        for (int i = 0; i < MAX_EXIT_ATTEMPTS; i++) {
            exit_pod_name(name, o->name, i);
            forget_pod(c, o->ns, name);
        }
        return;
    }
    workqueue_add(c->queue, o->key);
}

void
omjob_ctl_pod_changed(struct omjob_ctl *c, const char *ns, const char *omjob_name,
                      const struct kobj *pod, bool gone)
{
    char key[320];
    snprintf(key, sizeof key, "%s/%s", ns, omjob_name);
    const struct pod_state *ps = pod->payload;
    if (gone && ps && (!strcmp(ps->phase, "Succeeded") || !strcmp(ps->phase, "Failed"))) {
        /* its terminal state may be news the OMJob has not read yet (a late report) */
        struct kobj *o = nswatch_get_key(&c->omjobs, key);
        const struct omjob_obj *j = o ? o->payload : NULL;
        if (j && (!phase_final(j->phase) || late_possible(j)))
            ctl_pod_keep_last(c->ctl, pod);
    }
    workqueue_add(c->queue, key);
}

static void
enqueue_active(void *arg, struct kobj *o)
{
    struct omjob_ctl *c = arg;
    const struct omjob_obj *j = o->payload;
    if (j && (!phase_final(j->phase) || (o->finalizers & 2) || j->ttl_s >= 0 || late_possible(j)))
        workqueue_add(c->queue, o->key);
}


void
omjob_ctl_resync(struct omjob_ctl *c)
{
    nswatch_foreach(&c->omjobs, enqueue_active, c);
}

static const struct informer_kind kind_omjob = {"omjobs", OMJOB_FINALIZER, omjob_trim,
                                                omjob_free_payload};

static void
count_phase(void *arg, struct kobj *o)
{
    struct omjob_ctl *c = arg;
    const struct omjob_obj *j = o->payload;
    if (j)
        metrics_add(c->m_active, 1, j->phase[0] ? j->phase : "Pending");
}

static void
scrape(void *arg)
{
    struct omjob_ctl *c = arg;
    static const char *const phases[] = {"Pending", "Running", "ExitHandlerRunning", "Succeeded",
                                         "Failed"};
    for (size_t i = 0; i < sizeof phases / sizeof phases[0]; i++)
        metrics_set(c->m_active, 0, phases[i]);
    nswatch_foreach(&c->omjobs, count_phase, c);
}

/* Its carried trace was accepted: the finalizer release can go (tracing_omjob_carry). */
static void
wake_omjob(void *arg, const char *ns, const char *name)
{
    struct omjob_ctl *c = arg;
    char key[320];
    snprintf(key, sizeof key, "%s/%s", ns, name);
    workqueue_add(c->queue, key);
}

struct omjob_ctl *
omjob_ctl_new(struct ctl *ctl)
{
    struct omjob_ctl *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->ctl = ctl;
    c->queue = workqueue_new(ctl->loop, reconcile, c);
    c->writer = writer_new(ctl->client, op_done, op_lookup, c);
    ctl_log_kind(c->queue, c->writer, "omjob");
    tracing_set_omjob_wake(wake_omjob, c);
    c->gone = strset_new();
    c->created = strset_new();
    static const char *const l_status[] = {"status", NULL};
    static const char *const l_type[] = {"type", NULL};
    static const char *const l_phase[] = {"phase", NULL};
    c->m_reconciles = metrics_counter("omjob_reconciliations_total",
                                      "OMJob reconciliations by result", l_status);
    c->m_pods = metrics_counter("omjob_pods_created_total", "Pods created by type", l_type);
    c->m_active = metrics_gauge("omjob_active", "OMJobs in the cache by phase", l_phase);
    static const char *const l_trans[] = {"from_phase", "to_phase", NULL};
    static const char *const l_stage[] = {"phase", NULL};
    static const double bounds[] = {1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600};
    c->m_transitions = metrics_counter("omjob_status_transitions_total",
                                       "OMJob phase transitions written", l_trans);
    c->m_duration = metrics_histogram("omjob_duration_seconds",
                                      "How long the main pod and the exit handler ran", l_stage,
                                      bounds, sizeof bounds / sizeof bounds[0]);
    static const char *const l_late[] = {"stage", NULL};
    c->m_late = metrics_counter("omjob_late_reports_total",
                                "Pod outcomes recorded as NodeLost and corrected by a late report",
                                l_late);
    metrics_on_scrape(scrape, c);
    if (!c->queue || !c->writer || !c->gone || !c->created ||
        nswatch_init(&c->omjobs, ctl->loop, ctl->client, ctl->cfg->watch_namespaces, API_PREFIX,
                     "omjobs", NULL, &kind_omjob, ctl->cfg->watch_timeout_s, on_omjob, c)) {
        omjob_ctl_free(c);
        return NULL;
    }
    return c;
}

void
omjob_ctl_start(struct omjob_ctl *c)
{
    nswatch_start(&c->omjobs);
}

int
omjob_ctl_synced(const struct omjob_ctl *c)
{
    return nswatch_synced(&c->omjobs);
}

void
omjob_ctl_free(struct omjob_ctl *c)
{
    if (!c)
        return;
    metrics_on_scrape_remove(scrape, c);
    writer_free(c->writer);
    nswatch_free(&c->omjobs);
    workqueue_free(c->queue);
    strset_free(c->gone);
    strset_free(c->created);
    free(c);
}
