#include "ctl/seqjob.h"

#include "config.h"
#include "ctl/ctl.h"
#include "ctl/naming.h"
#include "ctl/tracing.h"
#include "ctl/writer.h"
#include "http/metrics.h"
#include "kube/client.h"
#include "kube/event.h"
#include "kube/queue.h"
#include "loop.h"
#include "util/json.h"
#include "util/log.h"
#include "util/strset.h"
#include "util/timeutil.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define API_PREFIX "/apis/" SEQJOB_API_VERSION
#define JOBS_PREFIX "/apis/batch/v1"
#define MANAGED_BY "omjob-operator"
#define MANAGED_SELECTOR "app.kubernetes.io%2Fmanaged-by%3Domjob-operator"
#define OWNER_PREFIX "SequentialJob/"
#define FOREIGN_WAIT_MS 1000 /* a Job of a deleted namesake, waiting for the GC */
#define STATUS_MISMATCH_WAIT_MS 30000

enum { COND_AVAILABLE, COND_PROGRESSING, COND_FAILED, NCOND };
static const char *const cond_types[NCOND] = {"Available", "Progressing", "Failed"};

/* --- small JSON helpers --------------------------------------------------------------- */

static void
copy_str(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

static cJSON *
obj_child(cJSON *parent, const char *k)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(parent, k);
    if (cJSON_IsObject(v)) return v;
    cJSON_DeleteItemFromObjectCaseSensitive(parent, k);
    return cJSON_AddObjectToObject(parent, k);
}

static void
set_item(cJSON *o, const char *k, cJSON *v)
{
    if (cJSON_GetObjectItemCaseSensitive(o, k))
        cJSON_ReplaceItemInObjectCaseSensitive(o, k, v);
    else
        cJSON_AddItemToObject(o, k, v);
}

/* --- Jobs ----------------------------------------------------------------------------- */

struct seqjob_job *
seqjob_job_trim(const cJSON *obj)
{
    struct seqjob_job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(obj, "status"), *c;
    j->active = (int)json_int(st, "active", 0);
    j->succeeded = (int)json_int(st, "succeeded", 0);
    j->failed_pods = (int)json_int(st, "failed", 0);
    j->start_ms = json_time_ms(st, "startTime");
    j->completion_ms = json_time_ms(st, "completionTime");
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(st, "conditions"))
    {
        const char *type = json_str(c, "type"), *status = json_str(c, "status");
        if (!type || !status || strcmp(status, "True")) continue;
        if (!strcmp(type, "Complete")) {
            j->complete = true;
        } else if (!strcmp(type, "Failed")) {
            j->failed = true;
            copy_str(j->reason, sizeof j->reason, json_str(c, "reason"));
            copy_str(j->message, sizeof j->message, json_str(c, "message"));
        }
    }
    return j;
}

static void *
job_trim(const cJSON *obj)
{
    return seqjob_job_trim(obj);
}

enum step_state
seqjob_job_state(const struct seqjob_job *j)
{
    if (j->complete) return STEP_SUCCEEDED;
    return j->failed ? STEP_FAILED : STEP_RUNNING;
}

int
seqjob_job_name(char out[static 64], const char *seqjob, size_t index, const char *container)
{
    char suffix[NAMING_SUFFIX_MAX + 1];
    int n = snprintf(suffix, sizeof suffix, "%zu-", index);
    if (n < 0 || (size_t)n >= sizeof suffix - 1) {
        out[0] = '\0';
        return -1;
    }
    size_t k = (size_t)n;
    for (const char *p = container ? container : ""; *p && k < NAMING_SUFFIX_MAX; p++) {
        char ch = *p >= 'A' && *p <= 'Z' ? (char)(*p - 'A' + 'a') : *p;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
        if (!ok && suffix[k - 1] == '-') continue;
        suffix[k++] = ok ? ch : '-';
    }
    while (suffix[k - 1] == '-')
        k--; /* "<index>-" with nothing usable after it becomes "<index>" */
    suffix[k] = '\0';
    return naming_child(out, seqjob, suffix);
}

/* --- validation and the Job builder ----------------------------------------------------- */

int
seqjob_validate_spec(const cJSON *spec, char *err, size_t errlen)
{
    const cJSON *cs = cJSON_GetObjectItemCaseSensitive(spec, "containers"), *c;
    int n = cJSON_GetArraySize(cs);
    if (!cJSON_IsArray(cs) || n < 1) {
        snprintf(err, errlen, "spec.containers must list at least one container");
        return -1;
    }
    if (n > ENGINE_MAX_STEPS) {
        snprintf(err, errlen, "spec.containers has %d entries (at most %d)", n, ENGINE_MAX_STEPS);
        return -1;
    }
    struct step steps[ENGINE_MAX_STEPS];
    size_t i = 0;
    cJSON_ArrayForEach(c, cs)
    {
        const char *name = json_str(c, "name"), *image = json_str(c, "image");
        if (!name || !naming_is_dns1123_label(name)) {
            snprintf(err, errlen, "spec.containers[%zu].name must be a DNS-1123 label", i);
            return -1;
        }
        if (!image || !*image) {
            snprintf(err, errlen, "spec.containers[%zu] (%s) has no image", i, name);
            return -1;
        }
        steps[i++] = (struct step){.name = name};
    }
    if (engine_validate(steps, i, err, errlen)) /* duplicate names */
        return -1;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(spec, "template");
    if (t && !cJSON_IsObject(t)) {
        snprintf(err, errlen, "spec.template must be an object");
        return -1;
    }
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(t, "spec");
    if (ts && !cJSON_IsObject(ts)) {
        snprintf(err, errlen, "spec.template.spec must be an object");
        return -1;
    }
    return n;
}

static void
add_labels(cJSON *labels, const char *seqjob, size_t index)
{
    char v[NAMING_LABEL_MAX + 1], idx[24];
    naming_label_value(v, seqjob);
    snprintf(idx, sizeof idx, "%zu", index);
    set_item(labels, SEQJOB_LABEL_NAME, cJSON_CreateString(v));
    set_item(labels, SEQJOB_LABEL_STEP, cJSON_CreateString(idx));
}

/* spec.template with the step's container as its only container, restartPolicy Never. */
static cJSON *
pod_template(const cJSON *spec, const cJSON *container, const char *seqjob, size_t index)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(spec, "template");
    cJSON *tmpl = cJSON_IsObject(t) ? cJSON_Duplicate(t, 1) : cJSON_CreateObject();
    if (!tmpl) return NULL;
    cJSON *meta = obj_child(tmpl, "metadata");
    add_labels(obj_child(meta, "labels"), seqjob, index);
    cJSON *ps = obj_child(tmpl, "spec"), *list = cJSON_CreateArray();
    cJSON_AddItemToArray(list, cJSON_Duplicate(container, 1));
    set_item(ps, "containers", list);
    set_item(ps, "restartPolicy", cJSON_CreateString("Never"));
    return tmpl;
}

static cJSON *
owner_refs(const char *name, const char *uid)
{
    cJSON *refs = cJSON_CreateArray(), *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "apiVersion", SEQJOB_API_VERSION);
    cJSON_AddStringToObject(r, "kind", "SequentialJob");
    cJSON_AddStringToObject(r, "name", name);
    cJSON_AddStringToObject(r, "uid", uid);
    cJSON_AddBoolToObject(r, "controller", 1);
    cJSON_AddBoolToObject(r, "blockOwnerDeletion", 1);
    cJSON_AddItemToArray(refs, r);
    return refs;
}

cJSON *
seqjob_build_job(const cJSON *seqjob, size_t index)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(seqjob, "metadata");
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(seqjob, "spec");
    const char *name = json_str(meta, "name"), *ns = json_str(meta, "namespace"), *uid = json_str(meta, "uid");
    const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(spec, "containers"),
                                        index > (size_t)ENGINE_MAX_STEPS ? -1 : (int)index);
    char jname[64];
    if (!name || !ns || !uid || !c || seqjob_job_name(jname, name, index, json_str(c, "name")) < 0)
        return NULL;
    cJSON *job = cJSON_CreateObject();
    cJSON_AddStringToObject(job, "apiVersion", "batch/v1");
    cJSON_AddStringToObject(job, "kind", "Job");
    cJSON *m = cJSON_AddObjectToObject(job, "metadata");
    cJSON_AddStringToObject(m, "name", jname);
    cJSON_AddStringToObject(m, "namespace", ns);
    cJSON *labels = cJSON_AddObjectToObject(m, "labels");
    cJSON_AddStringToObject(labels, "app.kubernetes.io/managed-by", MANAGED_BY);
    add_labels(labels, name, index);
    cJSON_AddItemToObject(m, "ownerReferences", owner_refs(name, uid));
    cJSON *js = cJSON_AddObjectToObject(job, "spec");
    /* One pod per step: a failed step fails the sequence instead of being retried. */
    cJSON_AddNumberToObject(js, "backoffLimit", 0);
    cJSON *tmpl = pod_template(spec, c, name, index);
    if (!tmpl) {
        cJSON_Delete(job);
        return NULL;
    }
    cJSON_AddItemToObject(js, "template", tmpl);
    return job;
}

/* --- status fingerprints ----------------------------------------------------------------- */

static uint64_t
fnv(uint64_t h, const char *s)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

static int
cmp_keys(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    return strcmp(x->string, y->string);
}

static uint64_t
hash_value(uint64_t h, const cJSON *v, const char *key)
{
    char num[40];
    if (key && (!strcmp(key, "lastTransitionTime") || !strcmp(key, "startTime") ||
                !strcmp(key, "completionTime")))
        return fnv(h, "<time>");
    if (cJSON_IsObject(v)) {
        const cJSON *kids[64] = {NULL}; /* a status object has far fewer keys */
        size_t n = 0;
        for (const cJSON *k = v->child; k && n < 64; k = k->next)
            kids[n++] = k;
        qsort(kids, n, sizeof kids[0], cmp_keys);
        h = fnv(h, "{");
        for (size_t i = 0; i < n; i++)
            h = hash_value(fnv(fnv(h, kids[i]->string), ":"), kids[i], kids[i]->string);
        return fnv(h, "}");
    }
    if (cJSON_IsArray(v)) {
        const cJSON *k;
        h = fnv(h, "[");
        cJSON_ArrayForEach(k, v) h = fnv(hash_value(h, k, NULL), ",");
        return fnv(h, "]");
    }
    if (cJSON_IsString(v)) return fnv(fnv(h, "s"), v->valuestring);
    if (cJSON_IsNumber(v)) {
        snprintf(num, sizeof num, "n%.17g", v->valuedouble);
        return fnv(h, num);
    }
    return fnv(h, cJSON_IsTrue(v) ? "t" : cJSON_IsFalse(v) ? "f" : "null");
}

uint64_t
seqjob_status_fingerprint(const cJSON *status)
{
    return status ? hash_value(0xcbf29ce484222325ULL, status, NULL) : 0;
}

/* --- the cached SequentialJob ------------------------------------------------------------ */

struct seqjob_obj {
    char *doc; /* metadata (name, namespace, uid) + spec as compact JSON */
    bool final, invalid;
    int64_t start_ms, observed_gen;
    int current;      /* status.progress.currentIndex: the last step started, -1 none */
    int failed_index; /* status.progress.failedIndex, -1 none */
    unsigned char completed[ENGINE_MAX_STEPS / 8]; /* status.progress.completedIndices */
    char cond_status[NCOND][8];
    char cond_time[NCOND][TIME_RFC3339_MAX];
    uint64_t fingerprint; /* of the recorded status */
    bool trace_exported;  /* TRACING_EXPORTED_ANNOTATION set */
};

static bool
bit(const unsigned char *b, size_t i)
{
    return i < ENGINE_MAX_STEPS && (b[i / 8] >> (i % 8)) & 1;
}

static void
set_bit(unsigned char *b, size_t i)
{
    if (i < ENGINE_MAX_STEPS) b[i / 8] = (unsigned char)(b[i / 8] | (1u << (i % 8)));
}

static char *
seqjob_doc(const cJSON *obj)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    cJSON *d = cJSON_CreateObject(), *m = cJSON_AddObjectToObject(d, "metadata");
    static const char *const keep[] = {"name", "namespace", "uid"};
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(meta, keep[i]);
        if (v) cJSON_AddItemToObject(m, keep[i], cJSON_Duplicate(v, 1));
    }
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
    cJSON_AddItemToObject(d, "spec", spec ? cJSON_Duplicate(spec, 1) : cJSON_CreateObject());
    char *s = cJSON_PrintUnformatted(d);
    cJSON_Delete(d);
    return s;
}

static void
trim_conditions(struct seqjob_obj *j, const cJSON *st)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(st, "conditions"))
    {
        const char *type = json_str(c, "type");
        for (int i = 0; type && i < NCOND; i++) {
            if (strcmp(type, cond_types[i])) continue;
            copy_str(j->cond_status[i], sizeof j->cond_status[i], json_str(c, "status"));
            copy_str(j->cond_time[i], sizeof j->cond_time[i], json_str(c, "lastTransitionTime"));
            if (i == COND_FAILED && !strcmp(j->cond_status[i], "True"))
                j->invalid = !strcmp(json_str(c, "reason") ? json_str(c, "reason") : "", "InvalidSpec");
        }
    }
}

static void *
seqjob_trim(const cJSON *obj)
{
    struct seqjob_obj *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(obj, "status");
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(st, "progress"), *v;
    const char *phase = json_str(st, "phase");
    j->final = phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed"));
    j->start_ms = json_time_ms(st, "startTime");
    j->observed_gen = json_int(st, "observedGeneration", 0);
    j->current = (int)json_int(pr, "currentIndex", -1);
    j->failed_index = (int)json_int(pr, "failedIndex", -1);
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(pr, "completedIndices"))
    {
        if (cJSON_IsNumber(v) && v->valuedouble >= 0) set_bit(j->completed, (size_t)v->valuedouble);
    }
    trim_conditions(j, st);
    j->fingerprint = seqjob_status_fingerprint(st);
    j->trace_exported = json_str(cJSON_GetObjectItemCaseSensitive(
                                     cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "annotations"),
                                 TRACING_EXPORTED_ANNOTATION) != NULL;
    j->doc = seqjob_doc(obj);
    if (!j->doc) {
        free(j);
        return NULL;
    }
    return j;
}

static void
seqjob_free_payload(void *p)
{
    struct seqjob_obj *j = p;
    if (j) free(j->doc);
    free(j);
}

/* --- the controller ------------------------------------------------------------------- */

struct seqjob_ctl {
    struct ctl *ctl;
    struct nswatch seqjobs;
    struct nswatch jobs;
    struct workqueue *queue;
    struct writer *writer;   /* one write in flight per SequentialJob */
    struct strset *gone;     /* Job keys confirmed absent by a GET (404) */
    struct strset *foreign;  /* Job keys whose name is taken by an object not ours */
    struct strset *rejected; /* Job keys whose creation the API server refused (4xx) */
    struct metric *m_reconciles, *m_jobs, *m_active;
};

enum { OP_CREATE_JOB, OP_GET_EXISTING, OP_CONFIRM_GONE, OP_STATUS };
static const char *const op_names[] = {"create_job", "get_existing", "confirm_gone", "status"};

struct step_view {
    char job_name[64];
    const char *container;
    struct kobj *job;
    const char *reason; /* why a step failed (for the Failed condition) */
    char message[300];
};

struct view {
    struct kobj *o;
    struct seqjob_obj *j;
    cJSON *doc;
    size_t n;
    struct step steps[ENGINE_MAX_STEPS];
    struct step_view sv[ENGINE_MAX_STEPS];
    bool wait_foreign; /* a step's Job name is held by a namesake's Job the GC will remove */
    enum workflow_phase phase;
};

static void
key_of(char *out, size_t n, const char *ns, const char *name)
{
    snprintf(out, n, "%s/%s", ns, name);
}

static bool
set_has(const struct strset *s, const char *ns, const char *name)
{
    char key[200];
    key_of(key, sizeof key, ns, name);
    return strset_has(s, key);
}

static const struct ctl_kind seqjob_kind = {SEQJOB_API_VERSION, "SequentialJob", "sequentialjob"};

static struct event_ref
ref_of(const struct kobj *o)
{
    return ctl_ref(&seqjob_kind, o);
}

static void
job_path(char *out, size_t n, const char *ns, const char *job)
{
    snprintf(out, n, JOBS_PREFIX "/namespaces/%s/jobs%s%s", ns, job ? "/" : "", job ? job : "");
}

static int
submit(struct seqjob_ctl *c, const struct kobj *o, int kind, const char *target, const char *method,
       const char *path, const char *ctype, char *body)
{
    return writer_submit(c->writer, o->key, o->ns, kind, target, method, path, ctype, body);
}

/* The state of a step whose Job is not (or no longer) in the cache. Returns false when a
 * GET must first confirm that the Job is really gone. */
static bool
absent_step(struct seqjob_ctl *c, struct view *v, size_t i)
{
    struct step_view *s = &v->sv[i];
    if (set_has(c->rejected, v->o->ns, s->job_name)) {
        v->steps[i].state = STEP_FAILED;
        s->reason = "JobRejected";
        snprintf(s->message, sizeof s->message, "the API server rejected Job %s", s->job_name);
    } else if (set_has(c->foreign, v->o->ns, s->job_name)) {
        v->steps[i].state = STEP_FAILED;
        s->reason = "JobNameConflict";
        snprintf(s->message, sizeof s->message,
                 "Job %s exists and is not owned by this SequentialJob", s->job_name);
    } else if (v->j->current >= (int)i) {
        /* created (status says so) but gone: lost, never re-run (exactly once) */
        if (!set_has(c->gone, v->o->ns, s->job_name)) return false;
        v->steps[i].state = STEP_FAILED;
        s->reason = "JobDeleted";
        snprintf(s->message, sizeof s->message, "Job %s was deleted before it finished",
                 s->job_name);
    } else {
        v->steps[i].state = STEP_WAITING;
    }
    return true;
}

/* Derives step i from the recorded status and the cached Job. */
static bool
view_step(struct seqjob_ctl *c, struct view *v, size_t i)
{
    struct step_view *s = &v->sv[i];
    struct step *st = &v->steps[i];
    *st = (struct step){.name = s->container, .ndeps = i ? 1 : 0, .deps = {i ? i - 1 : 0}};
    if (bit(v->j->completed, i)) {
        st->state = STEP_SUCCEEDED;
        return true;
    }
    if (v->j->failed_index == (int)i) {
        st->state = STEP_FAILED;
        s->reason = "StepFailed";
        snprintf(s->message, sizeof s->message, "%s", "recorded in status");
        return true;
    }
    s->job = nswatch_get(&c->jobs, v->o->ns, s->job_name);
    if (s->job && (!s->job->owner_uid || strcmp(s->job->owner_uid, v->o->uid))) {
        v->wait_foreign = true; /* e.g. a deleted namesake's Job not yet collected */
        s->job = NULL;
        st->state = STEP_WAITING;
        return true;
    }
    if (!s->job || !s->job->payload) return absent_step(c, v, i);
    const struct seqjob_job *jb = s->job->payload;
    st->state = seqjob_job_state(jb);
    if (st->state == STEP_FAILED) {
        s->reason = jb->reason[0] ? jb->reason : "JobFailed";
        snprintf(s->message, sizeof s->message, "Job %s failed%s%s", s->job_name,
                 jb->message[0] ? ": " : "", jb->message);
    }
    return true;
}

/* Builds the view; returns -1 (and sends a GET) when a Job's absence needs confirming. */
static int
build_view(struct seqjob_ctl *c, struct view *v)
{
    const cJSON *cs = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(v->doc, "spec"), "containers");
    for (size_t i = 0; i < v->n; i++) {
        struct step_view *s = &v->sv[i];
        s->container = json_str(cJSON_GetArrayItem(cs, (int)i), "name");
        seqjob_job_name(s->job_name, v->o->name, i, s->container);
        if (!view_step(c, v, i)) {
            char path[256];
            job_path(path, sizeof path, v->o->ns, s->job_name);
            submit(c, v->o, OP_CONFIRM_GONE, s->job_name, "GET", path, NULL, NULL);
            return -1;
        }
    }
    engine_skip_blocked(v->steps, v->n);
    v->phase = engine_phase(v->steps, v->n);
    return 0;
}

/* --- desired status ------------------------------------------------------------------ */

static void
add_condition(cJSON *conds, const struct seqjob_obj *j, int type, bool status, const char *reason,
              const char *msg, const char *now, int64_t gen)
{
    cJSON *c = cJSON_CreateObject();
    const char *s = status ? "True" : "False";
    cJSON_AddStringToObject(c, "type", cond_types[type]);
    cJSON_AddStringToObject(c, "status", s);
    cJSON_AddStringToObject(c, "reason", reason);
    json_add_str(c, "message", msg); /* never "" (util/json.h) */
    bool same = !strcmp(j->cond_status[type], s) && j->cond_time[type][0];
    cJSON_AddStringToObject(c, "lastTransitionTime", same ? j->cond_time[type] : now);
    cJSON_AddNumberToObject(c, "observedGeneration", (double)gen);
    cJSON_AddItemToArray(conds, c);
}

static const char *const step_phases[] = {"Pending", "Running", "Succeeded",
                                          "Failed",  "Running", "Skipped"};

static void
add_progress(cJSON *st, const struct view *v, int current, int failed)
{
    int counts[6] = {0};
    cJSON *pr = cJSON_AddObjectToObject(st, "progress");
    cJSON *done = cJSON_AddArrayToObject(pr, "completedIndices");
    cJSON *steps = cJSON_CreateArray();
    for (size_t i = 0; i < v->n; i++) {
        counts[v->steps[i].state]++;
        if (v->steps[i].state == STEP_SUCCEEDED)
            cJSON_AddItemToArray(done, cJSON_CreateNumber((double)i));
        cJSON *s = cJSON_CreateObject();
        json_add_str(s, "name", v->sv[i].container);
        cJSON_AddStringToObject(s, "jobName", v->sv[i].job_name);
        cJSON_AddStringToObject(s, "phase", step_phases[v->steps[i].state]);
        cJSON_AddItemToArray(steps, s);
    }
    if (current >= 0) cJSON_AddNumberToObject(pr, "currentIndex", current);
    if (failed >= 0) cJSON_AddNumberToObject(pr, "failedIndex", failed);
    cJSON *state = cJSON_AddObjectToObject(st, "state");
    cJSON_AddNumberToObject(state, "active", counts[STEP_RUNNING]);
    cJSON_AddNumberToObject(state, "succeeded", counts[STEP_SUCCEEDED]);
    cJSON_AddNumberToObject(state, "failed", counts[STEP_FAILED]);
    cJSON_AddItemToObject(st, "steps", steps);
}

static void
add_conditions(cJSON *st, const struct view *v, int current, int failed, const char *now)
{
    char msg[512];
    int64_t gen = v->o->generation;
    cJSON *conds = cJSON_AddArrayToObject(st, "conditions");
    bool ok = v->phase == PHASE_SUCCEEDED, final = ok || v->phase == PHASE_FAILED;
    snprintf(msg, sizeof msg, "all %zu steps succeeded", v->n);
    add_condition(conds, v->j, COND_AVAILABLE, ok,
                  ok      ? "Completed"
                  : final ? "Failed"
                          : "Running",
                  ok ? msg : "", now, gen);
    if (current >= 0 && !final)
        snprintf(msg, sizeof msg, "step %d (%s) running as Job %s", current,
                 v->sv[current].container, v->sv[current].job_name);
    else
        snprintf(msg, sizeof msg, "%s", final ? "the sequence has finished" : "starting");
    add_condition(conds, v->j, COND_PROGRESSING, !final,
                  final          ? (ok ? "Completed" : "Failed")
                  : current >= 0 ? "StepRunning"
                                 : "Pending",
                  msg, now, gen);
    if (failed >= 0)
        snprintf(msg, sizeof msg, "step %d (%s) failed (%s): %s", failed, v->sv[failed].container,
                 v->sv[failed].reason ? v->sv[failed].reason : "Failed", v->sv[failed].message);
    add_condition(conds, v->j, COND_FAILED, failed >= 0, failed >= 0 ? "StepFailed" : "NoFailure",
                  failed >= 0 ? msg : "", now, gen);
}

/* The status the cluster says we should have (a whole status object). */
static cJSON *
desired_status(const struct view *v)
{
    int current = -1, failed = -1;
    for (size_t i = 0; i < v->n; i++) {
        if (v->steps[i].state != STEP_WAITING && v->steps[i].state != STEP_SKIPPED)
            current = (int)i;
        if (v->steps[i].state == STEP_FAILED && failed < 0) failed = (int)i;
    }
    char now[TIME_RFC3339_MAX], t[TIME_RFC3339_MAX];
    time_fmt_rfc3339(now, time_now_ms(), 0);
    cJSON *st = cJSON_CreateObject();
    bool final = v->phase == PHASE_SUCCEEDED || v->phase == PHASE_FAILED;
    cJSON_AddStringToObject(st, "phase", engine_phase_name(v->phase));
    cJSON_AddNumberToObject(st, "observedGeneration", (double)v->o->generation);
    if (current >= 0) {
        time_fmt_rfc3339(t, v->j->start_ms ? v->j->start_ms : time_now_ms(), 0);
        cJSON_AddStringToObject(st, "startTime", t);
    }
    if (final) cJSON_AddStringToObject(st, "completionTime", now);
    add_progress(st, v, current, failed);
    add_conditions(st, v, current, failed, now);
    return st;
}

/* Events for outcomes the status does not record yet (status is the record of what was
 * announced, so a restart does not repeat them). */
static void
announce(struct seqjob_ctl *c, const struct view *v)
{
    struct event_ref r = ref_of(v->o);
    for (size_t i = 0; i < v->n; i++) {
        const struct step_view *s = &v->sv[i];
        if (v->steps[i].state == STEP_SUCCEEDED && !bit(v->j->completed, i))
            event_record(c->ctl->events, &r, "Normal", "JobCompleted",
                         "step %zu (%s): Job %s completed", i, s->container, s->job_name);
        else if (v->steps[i].state == STEP_FAILED && v->j->failed_index != (int)i)
            event_record(c->ctl->events, &r, "Warning", "JobFailed", "step %zu (%s): %s: %s", i,
                         s->container, s->reason ? s->reason : "Failed", s->message);
    }
}

static void
status_path(char *out, size_t n, const struct kobj *o)
{
    snprintf(out, n, API_PREFIX "/namespaces/%s/sequentialjobs/%s/status", o->ns, o->name);
}

static void
null_absent(cJSON *o, const char *key)
{
    if (o && !cJSON_GetObjectItemCaseSensitive(o, key)) json_add_delete(o, key);
}

/* Sends a merge patch replacing the status by st (consumed). Fields st leaves out are
 * removed (a merge patch would keep them), so the recorded status equals st; check_stored
 * makes the completion verify that (see status_done). */
static int
patch_status(struct seqjob_ctl *c, const struct kobj *o, cJSON *st, bool final, bool check_stored)
{
    char path[400], target[24] = "";
    if (check_stored)
        snprintf(target, sizeof target, "%016llx",
                 (unsigned long long)seqjob_status_fingerprint(st));
    cJSON *root = cJSON_CreateObject();
    if (!final) null_absent(st, "completionTime"); /* a re-run after a fixed spec */
    null_absent(st, "startTime");
    cJSON *pr = cJSON_GetObjectItemCaseSensitive(st, "progress");
    null_absent(pr, "currentIndex");
    null_absent(pr, "failedIndex");
    cJSON_AddItemToObject(root, "status", st);
    char *body = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    status_path(path, sizeof path, o);
    return body ? submit(c, o, OP_STATUS, target, "PATCH", path, "application/merge-patch+json",
                         body)
                : -1;
}

static void
fail_invalid(struct seqjob_ctl *c, const struct kobj *o, const struct seqjob_obj *j,
             const char *err)
{
    struct event_ref r = ref_of(o);
    event_record(c->ctl->events, &r, "Warning", "InvalidSpec", "%s", err);
    log_warn("invalid SequentialJob", "sequentialjob", o->key, "error", err);
    char now[TIME_RFC3339_MAX];
    time_fmt_rfc3339(now, time_now_ms(), 0);
    cJSON *st = cJSON_CreateObject(), *conds;
    cJSON_AddStringToObject(st, "phase", "Failed");
    cJSON_AddNumberToObject(st, "observedGeneration", (double)o->generation);
    cJSON_AddStringToObject(st, "completionTime", now);
    conds = cJSON_AddArrayToObject(st, "conditions");
    add_condition(conds, j, COND_AVAILABLE, false, "InvalidSpec", "", now, o->generation);
    add_condition(conds, j, COND_PROGRESSING, false, "InvalidSpec", "", now, o->generation);
    add_condition(conds, j, COND_FAILED, true, "InvalidSpec", err, now, o->generation);
    patch_status(c, o, st, true, false);
}

/* --- reconcile ----------------------------------------------------------------------- */

static int
create_job(struct seqjob_ctl *c, const struct view *v, size_t index)
{
    cJSON *job = seqjob_build_job(v->doc, index);
    char key[48];
    tracing_task_key(key, v->sv[index].container);
    tracing_pod_env(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(job, "spec"),
                                                     "template"),
                    "sequentialjob", v->o, 0, key, 0, v->sv[index].container);
    char *body = job ? cJSON_PrintUnformatted(job) : NULL;
    cJSON_Delete(job);
    if (!body) return -1;
    char path[256];
    job_path(path, sizeof path, v->o->ns, NULL);
    return submit(c, v->o, OP_CREATE_JOB, v->sv[index].job_name, "POST", path, "application/json",
                  body);
}

/* One write at most: start the next step, else bring the status up to date. */
static bool
act(struct seqjob_ctl *c, struct view *v)
{
    size_t start[1];
    if (engine_ready(v->steps, v->n, 1, start) && !v->wait_foreign)
        return create_job(c, v, start[0]) == 0;
    if (v->wait_foreign) workqueue_add_after(c->queue, v->o->key, FOREIGN_WAIT_MS);
    cJSON *st = desired_status(v);
    if (seqjob_status_fingerprint(st) == v->j->fingerprint) {
        cJSON_Delete(st);
        return false;
    }
    announce(c, v);
    bool final = v->phase == PHASE_SUCCEEDED || v->phase == PHASE_FAILED;
    if (final)
        log_info(v->phase == PHASE_SUCCEEDED ? "sequence succeeded" : "sequence failed",
                 "sequentialjob", v->o->key);
    return patch_status(c, v->o, st, final, true) == 0;
}

static struct kobj *
find_seqjob(struct seqjob_ctl *c, const char *key)
{
    char ns[64];
    const char *slash = strchr(key, '/');
    if (!slash || (size_t)(slash - key) >= sizeof ns) return NULL;
    memcpy(ns, key, (size_t)(slash - key));
    ns[slash - key] = '\0';
    return nswatch_get(&c->seqjobs, ns, slash + 1);
}

static bool
needs_work(const struct kobj *o, const struct seqjob_obj *j)
{
    /* Finished is final, except a spec rejected as invalid and edited since. */
    return !j->final || (j->invalid && o->generation != j->observed_gen);
}

/* A finished sequence's trace, once (ctl/tracing.h; a no-op when tracing is off): a span per
 * step whose Job ran, from the Jobs' own start and completion times. */
static void
trace_finished(struct seqjob_ctl *c, const struct kobj *o)
{
    const struct seqjob_obj *j = o->payload;
    if (!j->final || j->invalid || j->trace_exported || !tracing_on()) return;
    cJSON *doc = cJSON_Parse(j->doc);
    const cJSON *cs = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(doc, "spec"), "containers");
    int n = cJSON_GetArraySize(cs);
    struct tracing_task *tasks = n > 0 && n <= ENGINE_MAX_STEPS ? calloc((size_t)n, sizeof *tasks) : NULL;
    char (*names)[64] = tasks ? calloc((size_t)n, sizeof *names) : NULL;
    int64_t failed_at = 0, end = j->start_ms;
    if (!names) goto out;
    time_parse_rfc3339(j->cond_time[COND_FAILED], &failed_at);
    for (int i = 0; i < n; i++) {
        const char *cname = json_str(cJSON_GetArrayItem(cs, i), "name");
        seqjob_job_name(names[i], o->name, (size_t)i, cname);
        struct kobj *jo = nswatch_get(&c->jobs, o->ns, names[i]);
        const struct seqjob_job *jb = jo && jo->payload ? jo->payload : NULL;
        bool bad = j->failed_index == i;
        if (!jb && !bad && !bit(j->completed, (size_t)i)) continue; /* never ran */
        int64_t done = jb && jb->completion_ms ? jb->completion_ms : bad ? failed_at : 0;
        tasks[i] = (struct tracing_task){cname, names[i],
                                         bad ? (jb && jb->reason[0] ? jb->reason : "JobFailed") : NULL,
                                         1, -1, bad, jb ? jb->start_ms : 0, done};
        if (done > end) end = done;
    }
    char path[300];
    snprintf(path, sizeof path, API_PREFIX "/namespaces/%s/sequentialjobs/%s", o->ns, o->name);
    struct tracing_workflow r = {o, "sequentialjob", path, true, 0, j->failed_index >= 0,
                                 j->failed_index >= 0 ? "a step failed" : NULL, j->start_ms, end,
                                 tasks, (size_t)n};
    tracing_workflow_finished(c->ctl, &r);
out:
    free(names);
    free(tasks);
    cJSON_Delete(doc);
}

static void
reconcile(void *arg, const char *key)
{
    struct seqjob_ctl *c = arg;
    if (c->ctl->may_write && !c->ctl->may_write(c->ctl->may_write_arg)) return;
    if (writer_busy(c->writer, key)) return; /* the write's completion requeues it */
    struct kobj *o = find_seqjob(c, key);
    if (o && o->payload && !o->deletion_ms) trace_finished(c, o);
    if (!o || !o->payload || o->deletion_ms || !needs_work(o, o->payload)) return;
    struct view *v = calloc(1, sizeof *v); /* ~90 KiB: not on the loop's stack */
    if (!v) {
        workqueue_add_rate_limited(c->queue, key);
        return;
    }
    *v = (struct view){.o = o, .j = o->payload};
    ctl_log_run(o, 0);
    tracing_log_run(o->uid, 0);
    v->doc = cJSON_Parse(v->j->doc);
    char err[512];
    int n = v->doc ? seqjob_validate_spec(cJSON_GetObjectItemCaseSensitive(v->doc, "spec"), err,
                                          sizeof err)
                   : -1;
    bool wrote = false;
    if (n < 0) {
        if (!v->doc) snprintf(err, sizeof err, "the cached SequentialJob could not be read");
        fail_invalid(c, o, v->j, err);
        wrote = true;
    } else {
        v->n = (size_t)n;
        wrote = build_view(c, v) < 0 || act(c, v);
    }
    metrics_add(c->m_reconciles, 1, wrote ? "write" : "noop");
    cJSON_Delete(v->doc);
    free(v);
}

/* --- completions ---------------------------------------------------------------------- */

static void
apply_to(struct nswatch *w, const struct write_op *op, const struct kube_response *r)
{
    cJSON *obj = cJSON_ParseWithLength(r->body, r->body_len);
    struct informer *inf = nswatch_for(w, op->ns);
    if (obj && inf) informer_apply(inf, obj, op->base_seq); /* write-through */
    cJSON_Delete(obj);
}

/* Applies a status write's answer. Returns false when the stored status differs from what
 * was sent (a schema pruning a field...): reconciling at once would write it again and again,
 * so the caller waits before the next attempt. */
static bool
status_done(struct seqjob_ctl *c, const struct write_op *op, const struct kube_response *r)
{
    cJSON *obj = cJSON_ParseWithLength(r->body, r->body_len);
    struct informer *inf = nswatch_for(&c->seqjobs, op->ns);
    if (obj && inf) informer_apply(inf, obj, op->base_seq);
    char got[24];
    snprintf(got, sizeof got, "%016llx",
             (unsigned long long)seqjob_status_fingerprint(
                 cJSON_GetObjectItemCaseSensitive(obj, "status")));
    cJSON_Delete(obj);
    if (!op->target[0] || !strcmp(got, op->target)) return true;
    log_warn("status stored differently from what was written; retrying later", "sequentialjob",
             op->key);
    return false;
}

static void
report_api_error(struct seqjob_ctl *c, const struct write_op *op, const struct kube_response *r)
{
    ctl_report_write(c->ctl, &seqjob_kind, find_seqjob(c, op->key), op_names[op->kind], op, r);
}

static void
job_created(struct seqjob_ctl *c, const struct write_op *op, const struct kube_response *r)
{
    char key[200];
    key_of(key, sizeof key, op->ns, op->target);
    strset_del(c->gone, key);
    apply_to(&c->jobs, op, r);
    metrics_add(c->m_jobs, 1);
    struct kobj *o = find_seqjob(c, op->key);
    if (o) {
        struct event_ref ref = ref_of(o);
        event_record(c->ctl->events, &ref, "Normal", "JobStarted", "created Job %s", op->target);
    }
    log_info("step job created", "sequentialjob", op->key, "job", op->target);
}

/* The API server refused the Job itself (invalid container fields...): the step fails. */
static void
job_rejected(struct seqjob_ctl *c, const struct write_op *op, const struct kube_response *r)
{
    char key[200];
    key_of(key, sizeof key, op->ns, op->target);
    strset_add(c->rejected, key);
    struct kobj *o = find_seqjob(c, op->key);
    if (o) {
        struct event_ref ref = ref_of(o);
        event_record(c->ctl->events, &ref, "Warning", "JobRejected", "Job %s: %s", op->target,
                     r->error ? r->error : "rejected by the API server");
    }
}

/* AlreadyExists: adopt the Job if it is ours (a create whose answer was lost, a stale cache). */
static void
existing_job(struct seqjob_ctl *c, const struct write_op *op, const struct kube_response *r)
{
    cJSON *job = cJSON_ParseWithLength(r->body, r->body_len), *ref;
    struct kobj *o = find_seqjob(c, op->key);
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(job, "metadata");
    bool ours = false, namesake = meta && json_str(meta, "deletionTimestamp");
    cJSON_ArrayForEach(ref, cJSON_GetObjectItemCaseSensitive(meta, "ownerReferences"))
    {
        const char *kind = json_str(ref, "kind"), *name = json_str(ref, "name"), *uid = json_str(ref, "uid");
        if (!o || !kind || !name || strcmp(kind, "SequentialJob") || strcmp(name, o->name))
            continue;
        namesake = true;
        if (uid && !strcmp(uid, o->uid) && cJSON_IsTrue(cJSON_GetObjectItem(ref, "controller")))
            ours = true;
    }
    if (ours) {
        struct informer *inf = nswatch_for(&c->jobs, op->ns);
        if (inf) informer_apply(inf, job, op->base_seq);
    } else if (!namesake && o) {
        char key[200];
        key_of(key, sizeof key, op->ns, op->target);
        strset_add(c->foreign, key);
    } else {
        workqueue_add_after(c->queue, op->key, FOREIGN_WAIT_MS);
    }
    cJSON_Delete(job);
}

static void
op_done(void *arg, const struct write_op *op, const struct kube_response *r)
{
    struct seqjob_ctl *c = arg;
    bool ok = r->status >= 200 && r->status < 300;
    char path[256], key[200];
    switch (op->kind) {
    case OP_CREATE_JOB:
        if (ok) {
            job_created(c, op, r);
        } else if (r->status == 409) {
            job_path(path, sizeof path, op->ns, op->target);
            if (writer_submit(c->writer, op->key, op->ns, OP_GET_EXISTING, op->target, "GET", path,
                              NULL, NULL) == 0)
                return;
        } else if (r->status == 400 || r->status == 422) {
            job_rejected(c, op, r);
            ok = true;
        } else {
            report_api_error(c, op, r);
        }
        break;
    case OP_GET_EXISTING:
        if (ok) existing_job(c, op, r);
        break;
    case OP_CONFIRM_GONE:
        key_of(key, sizeof key, op->ns, op->target);
        if (r->status == 404)
            strset_add(c->gone, key);
        else if (ok)
            apply_to(&c->jobs, op, r);
        break;
    case OP_STATUS:
        if (ok && !status_done(c, op, r)) {
            workqueue_add_after(c->queue, op->key, STATUS_MISMATCH_WAIT_MS);
            return;
        }
        if (r->status == 404)
            ok = true; /* the SequentialJob is gone */
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
    struct seqjob_ctl *c = arg;
    return nswatch_get_key(&c->seqjobs, key);
}

/* --- informer events ---------------------------------------------------------------------- */

static void
forget_jobs(struct seqjob_ctl *c, const struct kobj *o)
{
    const struct seqjob_obj *j = o->payload;
    cJSON *doc = j ? cJSON_Parse(j->doc) : NULL, *ct;
    size_t i = 0;
    char name[64], key[200];
    cJSON_ArrayForEach(ct, cJSON_GetObjectItemCaseSensitive(
                               cJSON_GetObjectItemCaseSensitive(doc, "spec"), "containers"))
    {
        seqjob_job_name(name, o->name, i++, json_str(ct, "name"));
        key_of(key, sizeof key, o->ns, name);
        strset_del(c->gone, key);
        strset_del(c->foreign, key);
        strset_del(c->rejected, key);
    }
    cJSON_Delete(doc);
}

static void
on_seqjob(void *arg, enum informer_event ev, const struct kobj *o)
{
    struct seqjob_ctl *c = arg;
    if (ev == INFORMER_DELETE) {
        forget_jobs(c, o);
        ctl_forget(c->ctl, c->queue, c->writer, o);
    } else
        workqueue_add(c->queue, o->key);
}

static void
on_job(void *arg, enum informer_event ev, const struct kobj *o)
{
    struct seqjob_ctl *c = arg;
    (void)ev;
    size_t plen = sizeof OWNER_PREFIX - 1;
    if (!o->owner_ref || strncmp(o->owner_ref, OWNER_PREFIX, plen)) return;
    char key[320];
    key_of(key, sizeof key, o->ns, o->owner_ref + plen);
    workqueue_add(c->queue, key);
}

static void
enqueue_active(void *arg, struct kobj *o)
{
    struct seqjob_ctl *c = arg;
    if (o->payload && needs_work(o, o->payload)) workqueue_add(c->queue, o->key);
}

void
seqjob_ctl_resync(struct seqjob_ctl *c)
{
    nswatch_foreach(&c->seqjobs, enqueue_active, c);
}

static void
seqjob_job_free(void *p)
{
    free(p);
}

static const struct informer_kind kind_seqjob = {"sequentialjobs", NULL, seqjob_trim,
                                                 seqjob_free_payload};
static const struct informer_kind kind_job = {"jobs", NULL, job_trim, seqjob_job_free};

static void
count_phase(void *arg, struct kobj *o)
{
    struct seqjob_ctl *c = arg;
    const struct seqjob_obj *j = o->payload;
    if (j)
        metrics_add(c->m_active, 1,
                    j->final ? (j->cond_status[COND_FAILED][0] == 'T' ? "Failed" : "Succeeded")
                             : "Active");
}

static void
scrape(void *arg)
{
    struct seqjob_ctl *c = arg;
    static const char *const phases[] = {"Active", "Succeeded", "Failed"};
    for (size_t i = 0; i < sizeof phases / sizeof phases[0]; i++)
        metrics_set(c->m_active, 0, phases[i]);
    nswatch_foreach(&c->seqjobs, count_phase, c);
}

struct seqjob_ctl *
seqjob_ctl_new(struct ctl *ctl)
{
    struct seqjob_ctl *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->ctl = ctl;
    c->queue = workqueue_new(ctl->loop, reconcile, c);
    c->writer = writer_new(ctl->client, op_done, op_lookup, c);
    ctl_log_kind(c->queue, c->writer, "sequentialjob");
    c->gone = strset_new();
    c->foreign = strset_new();
    c->rejected = strset_new();
    static const char *const l_status[] = {"status", NULL};
    static const char *const l_phase[] = {"phase", NULL};
    c->m_reconciles = metrics_counter("omjob_seqjob_reconciliations_total",
                                      "SequentialJob reconciliations by result", l_status);
    c->m_jobs = metrics_counter("omjob_seqjob_jobs_created_total",
                                "Jobs created for SequentialJob steps", NULL);
    c->m_active =
        metrics_gauge("omjob_seqjob_objects", "SequentialJobs in the cache by phase", l_phase);
    metrics_on_scrape(scrape, c);
    const char *nss = ctl->cfg->watch_namespaces;
    long to = ctl->cfg->watch_timeout_s;
    if (!c->queue || !c->writer || !c->gone || !c->foreign || !c->rejected ||
        nswatch_init(&c->seqjobs, ctl->loop, ctl->client, nss, API_PREFIX, "sequentialjobs", NULL,
                     &kind_seqjob, to, on_seqjob, c) ||
        nswatch_init(&c->jobs, ctl->loop, ctl->client, nss, JOBS_PREFIX, "jobs", MANAGED_SELECTOR,
                     &kind_job, to, on_job, c)) {
        seqjob_ctl_free(c);
        return NULL;
    }
    return c;
}

void
seqjob_ctl_start(struct seqjob_ctl *c)
{
    nswatch_start(&c->jobs);
    nswatch_start(&c->seqjobs);
}

int
seqjob_ctl_synced(const struct seqjob_ctl *c)
{
    return nswatch_synced(&c->seqjobs) && nswatch_synced(&c->jobs);
}

void
seqjob_ctl_free(struct seqjob_ctl *c)
{
    if (!c) return;
    metrics_on_scrape_remove(scrape, c);
    writer_free(c->writer);
    nswatch_free(&c->seqjobs);
    nswatch_free(&c->jobs);
    workqueue_free(c->queue);
    strset_free(c->gone);
    strset_free(c->foreign);
    strset_free(c->rejected);
    free(c);
}
