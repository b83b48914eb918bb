#include "ctl/cronomjob.h"

#include "config.h"
#include "ctl/ctl.h"
#include "ctl/naming.h"
#include "ctl/omjob.h"
#include "ctl/omjspec.h"
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

#define API_PREFIX "/apis/" OMJOB_GROUP "/v1"
#define API_VERSION OMJOB_GROUP "/v1"
#define RUN_SELECTOR "pipelines.openmetadata.org%2Fcronomjob"
#define NOTED_MAX 10000 /* reported slot outcomes remembered */
#define MAX_ZONES 64    /* loaded zones kept for reuse (least recently loaded evicted) */

/* --- the pure part ------------------------------------------------------------------------ */

int
cronomjob_decide(const struct cronomjob_slot_in *in, struct cronomjob_slot *out)
{
    memset(out, 0, sizeof *out);
    int64_t next = 0, due = 0;
    bool has_next = cron_next(in->expr, in->zone, in->now_s, &next) == 0;
    bool has_due = cron_prev(in->expr, in->zone, in->now_s, &due) == 0 && due > in->since_s;
    if (!has_next && !has_due) return -1;
    out->next_s = has_next ? next : 0;
    int64_t wake = in->now_s + CRONOMJOB_MAX_SLEEP_S;
    if (has_next && next < wake) wake = next;
    if (has_due) {
        out->due_s = due;
        /* Count the slots in (since, due], but never walk more than MAX_MISSED + 1. */
        int64_t t = in->since_s, s;
        while (out->missed <= CRONOMJOB_MAX_MISSED && cron_next(in->expr, in->zone, t, &s) == 0 &&
               s <= due) {
            out->missed++;
            t = s;
        }
        int64_t window = in->starting_deadline_s;
        if (window >= 0 && window < CRONOMJOB_ON_TIME_S) window = CRONOMJOB_ON_TIME_S;
        out->in_window = window < 0 || in->now_s - due <= window;
        if (out->in_window && window >= 0 && due + window + 1 < wake)
            wake = due + window + 1; /* to report the slot missed if it cannot start */
    }
    out->wake_s = wake;
    return 0;
}

void
cronomjob_run_name(char out[static 64], const char *cronomjob, int64_t slot_s)
{
    char suffix[24];
    snprintf(suffix, sizeof suffix, "%lld", (long long)(slot_s / 60));
    naming_child(out, cronomjob, suffix);
}

/* Length of a "{{ omjob.<field> }}" placeholder at s, or 0. */
static size_t
placeholder(const char *s, const char *field)
{
    const char *p = s;
    if (strncmp(p, "{{", 2)) return 0;
    p += 2;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t n = strlen(field);
    if (strncmp(p, "omjob.", 6) || strncmp(p + 6, field, n)) return 0;
    p += 6 + n;
    while (*p == ' ' || *p == '\t')
        p++;
    return strncmp(p, "}}", 2) ? 0 : (size_t)(p + 2 - s);
}

char *
cronomjob_substitute(const char *s, const char *omjob_name, const char *omjob_uid)
{
    struct buf b;
    buf_init(&b, 1u << 20);
    int rc = BUF_OK;
    while (*s && rc == BUF_OK) {
        size_t n;
        if ((n = placeholder(s, "name")) != 0) {
            rc = buf_appends(&b, omjob_name);
            s += n;
        } else if ((n = placeholder(s, "uid")) != 0) {
            rc = buf_appends(&b, omjob_uid);
            s += n;
        } else {
            rc = buf_append(&b, s, 1);
            s++;
        }
    }
    if (rc != BUF_OK) {
        buf_free(&b);
        return NULL;
    }
    return buf_take(&b);
}

/* --- the cached objects ---------------------------------------------------------------------- */

enum policy { POLICY_FORBID, POLICY_ALLOW, POLICY_REPLACE };

struct comj_obj {
    char *schedule, *time_zone;
    char *labels;      /* metadata.labels as compact JSON, or NULL */
    char *annotations; /* metadata.annotations (without kubectl's last-applied copy), or NULL */
    char *template;    /* spec.omJobSpec as compact JSON, nulls stripped; NULL when missing */
    char *template_err; /* why the OMJob schema refuses the template, or NULL */
    bool suspend;
    enum policy policy;
    int64_t deadline_s; /* -1: unset */
    int64_t keep_succeeded, keep_failed;
    int64_t created_s;
    int64_t last_schedule_s, last_success_s; /* status, 0 when unset */
    char last_omjob[64];
    char ready[8], ready_reason[32];
    int64_t ready_since_ms;
    char *status_sig; /* what the recorded status says (see status_sig) */
};

enum run_state { RUN_ACTIVE, RUN_SUCCEEDED, RUN_FAILED };

struct run_obj { /* an OMJob created by a CronOMJob */
    int64_t scheduled_s;
    int64_t completion_s;
    enum run_state state;
};

static char *
print_or_null(const cJSON *v)
{
    return v ? cJSON_PrintUnformatted(v) : NULL;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* One line that changes whenever a status field we write changes. active: names, sorted. */
static char *
status_sig(int64_t last_schedule_s, int64_t last_success_s, const char *last_omjob,
           const char **active, size_t nactive, const char *message, const char *ready,
           const char *reason, int64_t gen)
{
    struct buf b;
    buf_init(&b, 1u << 20);
    buf_printf(&b, "%lld|%lld|%s|", (long long)last_schedule_s, (long long)last_success_s,
               last_omjob);
    if (nactive > 1) qsort(active, nactive, sizeof *active, cmp_str);
    for (size_t i = 0; i < nactive; i++)
        buf_printf(&b, "%s,", active[i]);
    buf_printf(&b, "|%s|%s|%s|%lld", message, ready, reason, (long long)gen);
    return buf_take(&b);
}

static char *
recorded_sig(const cJSON *st, const struct comj_obj *j)
{
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(st, "active"), *a;
    size_t n = 0, cap = (size_t)cJSON_GetArraySize(act);
    const char **names = cap ? calloc(cap, sizeof *names) : NULL;
    cJSON_ArrayForEach(a, act)
    {
        const char *nm = json_str(a, "name");
        if (nm && names && n < cap) names[n++] = nm;
    }
    const char *msg = json_str(st, "message");
    char *sig =
        status_sig(j->last_schedule_s, j->last_success_s, j->last_omjob, names, n, msg ? msg : "",
                   j->ready, j->ready_reason, json_int(st, "observedGeneration", 0));
    free(names);
    return sig;
}

static void
trim_ready(const cJSON *st, struct comj_obj *j)
{
    const cJSON *conds = cJSON_GetObjectItemCaseSensitive(st, "conditions"), *cd;
    cJSON_ArrayForEach(cd, conds)
    {
        const char *type = json_str(cd, "type");
        if (!type || strcmp(type, "Ready")) continue;
        snprintf(j->ready, sizeof j->ready, "%s", json_str(cd, "status") ? json_str(cd, "status") : "");
        snprintf(j->ready_reason, sizeof j->ready_reason, "%s",
                 json_str(cd, "reason") ? json_str(cd, "reason") : "");
        j->ready_since_ms = json_time_ms(cd, "lastTransitionTime");
    }
}

static enum policy
policy_of(const char *s)
{
    if (s && !strcmp(s, "Allow")) return POLICY_ALLOW;
    if (s && !strcmp(s, "Replace")) return POLICY_REPLACE;
    return POLICY_FORBID;
}

static void comj_free_payload(void *p);

/* The template as OMJobs will be created from it: nulls stripped (1.19 refuses them where
 * the OMJob schema does not say nullable; 1.20+ prunes them), checked against the OMJob
 * schema here, once per change of the CronOMJob, rather than refused at every slot. */
static void
trim_template(const cJSON *tmpl, struct comj_obj *j)
{
    if (!cJSON_IsObject(tmpl)) return;
    cJSON *copy = cJSON_Duplicate(tmpl, 1);
    json_strip_nulls(copy);
    char err[512];
    if (copy && omjspec_validate(copy, "spec.omJobSpec", err, sizeof err))
        j->template_err = strdup(err);
    j->template = print_or_null(copy);
    cJSON_Delete(copy);
}

/* The annotations a run inherits (as the Java operator does), minus kubectl's copy of the
 * whole applied object. */
static char *
copied_annotations(const cJSON *meta)
{
    const cJSON *ann = cJSON_GetObjectItemCaseSensitive(meta, "annotations");
    if (!cJSON_IsObject(ann) || !ann->child) return NULL;
    cJSON *copy = cJSON_Duplicate(ann, 1);
    cJSON_DeleteItemFromObjectCaseSensitive(copy,
                                            "kubectl.kubernetes.io/last-applied-configuration");
    char *s = copy && copy->child ? cJSON_PrintUnformatted(copy) : NULL;
    cJSON_Delete(copy);
    return s;
}

static void *
comj_trim(const cJSON *obj)
{
    struct comj_obj *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(obj, "status");
    const char *tz = json_str(spec, "timeZone");
    j->schedule = strdup(json_str(spec, "schedule") ? json_str(spec, "schedule") : "");
    j->time_zone = strdup(tz && *tz ? tz : "UTC");
    j->labels = print_or_null(cJSON_GetObjectItemCaseSensitive(meta, "labels"));
    j->annotations = copied_annotations(meta);
    trim_template(cJSON_GetObjectItemCaseSensitive(spec, "omJobSpec"), j);
    j->suspend = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(spec, "suspend"));
    j->policy = policy_of(json_str(spec, "concurrencyPolicy"));
    j->deadline_s = json_int(spec, "startingDeadlineSeconds", -1);
    j->keep_succeeded = json_int(spec, "successfulJobsHistoryLimit", 3);
    j->keep_failed = json_int(spec, "failedJobsHistoryLimit", 1);
    j->created_s = (json_time_ms(meta, "creationTimestamp") / 1000);
    j->last_schedule_s = (json_time_ms(st, "lastScheduleTime") / 1000);
    j->last_success_s = (json_time_ms(st, "lastSuccessfulTime") / 1000);
    const char *last = json_str(st, "lastOMJobName");
    snprintf(j->last_omjob, sizeof j->last_omjob, "%s", last ? last : "");
    trim_ready(st, j);
    j->status_sig = recorded_sig(st, j);
    if (!j->schedule || !j->time_zone || !j->status_sig) {
        comj_free_payload(j);
        return NULL;
    }
    return j;
}

static void
comj_free_payload(void *p)
{
    struct comj_obj *j = p;
    if (!j) return;
    free(j->schedule);
    free(j->time_zone);
    free(j->labels);
    free(j->annotations);
    free(j->template);
    free(j->template_err);
    free(j->status_sig);
    free(j);
}

static void *
run_trim(const cJSON *obj)
{
    struct run_obj *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(obj, "status");
    const char *at = json_str(cJSON_GetObjectItemCaseSensitive(meta, "annotations"),
                          CRONOMJOB_SCHEDULED_AT_ANNOTATION);
    int64_t ms;
    r->scheduled_s =
        at && !time_parse_rfc3339(at, &ms) ? ms / 1000 : (json_time_ms(meta, "creationTimestamp") / 1000);
    r->completion_s = (json_time_ms(st, "completionTime") / 1000);
    const char *phase = json_str(st, "phase");
    r->state = phase && !strcmp(phase, "Succeeded") ? RUN_SUCCEEDED
               : phase && !strcmp(phase, "Failed")  ? RUN_FAILED
                                                    : RUN_ACTIVE;
    return r;
}

/* --- the controller ------------------------------------------------------------------------ */

struct zone_ent {
    struct zone_ent *next;
    struct tz *zone;
};

struct cronomjob_ctl {
    struct ctl *ctl;
    struct nswatch cronomjobs, runs;
    struct workqueue *queue;
    struct writer *writer;   /* one write in flight per CronOMJob */
    struct strset *deleted;  /* OMJob keys whose DELETE succeeded, until the watch says so */
    struct strset *noted;    /* slot outcomes already reported (first_time) */
    struct zone_ent *zones;
    size_t nzones;
    struct metric *m_reconciles, *m_runs;
};

enum { OP_CREATE, OP_ADOPT, OP_DELETE_RUN, OP_REPLACE, OP_STATUS };
static const char *const op_names[] = {"create_omjob", "adopt_omjob", "delete_omjob",
                                       "replace_omjob", "status"};

/* A write_op here: key the CronOMJob, target the OMJob (run), n the slot (creates and
 * adoptions). */

struct child {
    const struct kobj *o;
    const struct run_obj *r;
};

struct view {
    const struct kobj *o;
    const struct comj_obj *j;
    struct child *kids;
    size_t nkids, cap;
    size_t nactive;
    bool oom;
};

/* A loaded zone, shared; NULL with err set when it cannot be loaded. */
static const struct tz *
zone_get(struct cronomjob_ctl *c, const char *name, char *err, size_t errlen)
{
    for (struct zone_ent *e = c->zones; e; e = e->next)
        if (!strcmp(tz_name(e->zone), name)) return e->zone;
    if (c->nzones >= MAX_ZONES) { /* evict the oldest: no zone pointer outlives a reconcile */
        struct zone_ent **pp = &c->zones;
        while ((*pp)->next)
            pp = &(*pp)->next;
        tz_free((*pp)->zone);
        free(*pp);
        *pp = NULL;
        c->nzones--;
    }
    struct zone_ent *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    e->zone = tz_load(name, err, errlen);
    if (!e->zone) {
        free(e);
        return NULL;
    }
    e->next = c->zones;
    c->zones = e;
    c->nzones++;
    return e->zone;
}

static void
add_child(void *arg, struct kobj *o)
{
    struct view *v = arg;
    if (!o->payload || !o->owner_ref || strncmp(o->owner_ref, "CronOMJob/", 10)) return;
    if (v->nkids == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        struct child *k = realloc(v->kids, cap * sizeof *k);
        if (!k) {
            v->oom = true;
            return;
        }
        v->kids = k;
        v->cap = cap;
    }
    v->kids[v->nkids++] = (struct child){o, o->payload};
    if (((const struct run_obj *)o->payload)->state == RUN_ACTIVE) v->nactive++;
}

static int
cmp_child(const void *a, const void *b)
{
    const struct child *x = a, *y = b;
    if (x->r->scheduled_s != y->r->scheduled_s)
        return x->r->scheduled_s < y->r->scheduled_s ? -1 : 1;
    return strcmp(x->o->name, y->o->name);
}

static bool
is_deleting(const struct cronomjob_ctl *c, const struct kobj *o)
{
    return o->deletion_ms || strset_has(c->deleted, o->key);
}

static const struct ctl_kind cronomjob_kind = {API_VERSION, "CronOMJob", "cronomjob"};

static struct event_ref
ref_of(const struct kobj *o)
{
    return ctl_ref(&cronomjob_kind, o);
}

static void
record(struct cronomjob_ctl *c, const struct kobj *o, const char *type, const char *reason,
       const char *msg)
{
    struct event_ref r = ref_of(o);
    event_record(c->ctl->events, &r, type, reason, "%s", msg);
}

/* Starts a write for the CronOMJob key (one at a time). Takes ownership of body. */
static int
submit_slot(struct cronomjob_ctl *c, const char *key, const char *ns, int kind, const char *run,
            int64_t slot_s, const char *method, const char *path, const char *ctype, char *body)
{
    struct write_op op = {.kind = kind, .n = slot_s};
    snprintf(op.key, sizeof op.key, "%s", key);
    snprintf(op.ns, sizeof op.ns, "%s", ns);
    snprintf(op.target, sizeof op.target, "%s", run);
    return writer_submit_op(c->writer, &op, method, path, ctype, body);
}

static int
submit(struct cronomjob_ctl *c, const char *key, const char *ns, int kind, const char *run,
       const char *method, const char *path, const char *ctype, char *body)
{
    return submit_slot(c, key, ns, kind, run, 0, method, path, ctype, body);
}

static void
omjob_path(char *out, size_t n, const char *ns, const char *name)
{
    snprintf(out, n, API_PREFIX "/namespaces/%s/omjobs%s%s", ns, name ? "/" : "", name ? name : "");
}

static int
random_uuid(char out[static 37])
{
    unsigned char b[16];
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f) return -1;
    size_t got = fread(b, 1, sizeof b, f);
    fclose(f);
    if (got != sizeof b) return -1;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
    return 0;
}

/* Substitutes the placeholders in the value of every env entry, at any depth. */
static int
substitute_env(cJSON *node, const char *name, const char *uid)
{
    cJSON *child;
    cJSON_ArrayForEach(child, node)
    {
        if (child->string && !strcmp(child->string, "env") && cJSON_IsArray(child)) {
            cJSON *e;
            cJSON_ArrayForEach(e, child)
            {
                const char *val = json_str(e, "value");
                if (!val || !strstr(val, "{{")) continue;
                char *s = cronomjob_substitute(val, name, uid);
                if (!s ||
                    !cJSON_ReplaceItemInObjectCaseSensitive(e, "value", cJSON_CreateString(s))) {
                    free(s);
                    return -1;
                }
                free(s);
            }
        } else if ((cJSON_IsObject(child) || cJSON_IsArray(child)) &&
                   substitute_env(child, name, uid)) {
            return -1;
        }
    }
    return 0;
}

static cJSON *
owner_refs(const struct kobj *o)
{
    cJSON *refs = cJSON_CreateArray(), *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "apiVersion", API_VERSION);
    cJSON_AddStringToObject(r, "kind", "CronOMJob");
    cJSON_AddStringToObject(r, "name", o->name);
    json_add_str(r, "uid", o->uid);
    cJSON_AddBoolToObject(r, "controller", 1);
    cJSON_AddBoolToObject(r, "blockOwnerDeletion", 1);
    cJSON_AddItemToArray(refs, r);
    return refs;
}

/* The OMJob for slot_s, or NULL (err set). */
static char *
build_run(const struct view *v, const char *name, int64_t slot_s, char *err, size_t errlen)
{
    char run_id[37], owner_label[NAMING_LABEL_MAX + 1], at[TIME_RFC3339_MAX];
    if (random_uuid(run_id)) {
        snprintf(err, errlen, "cannot read /dev/urandom for the run id");
        return NULL;
    }
    cJSON *spec = cJSON_Parse(v->j->template);
    cJSON *labels = v->j->labels ? cJSON_Parse(v->j->labels) : cJSON_CreateObject();
    if (!cJSON_IsObject(labels)) {
        cJSON_Delete(labels);
        labels = cJSON_CreateObject();
    }
    if (!spec || !labels || substitute_env(spec, name, run_id)) {
        cJSON_Delete(spec);
        cJSON_Delete(labels);
        snprintf(err, errlen, "cannot build the OMJob (out of memory, or an env value over 1 MiB "
                              "after substituting placeholders)");
        return NULL;
    }
    naming_label_value(owner_label, v->o->name);
    cJSON_DeleteItemFromObjectCaseSensitive(labels, CRONOMJOB_RUN_ID_LABEL);
    cJSON_DeleteItemFromObjectCaseSensitive(labels, CRONOMJOB_LABEL);
    cJSON_AddStringToObject(labels, CRONOMJOB_RUN_ID_LABEL, run_id);
    cJSON_AddStringToObject(labels, CRONOMJOB_LABEL, owner_label);
    time_fmt_rfc3339(at, slot_s * 1000, 0);
    cJSON *ann = v->j->annotations ? cJSON_Parse(v->j->annotations) : NULL;
    if (!cJSON_IsObject(ann)) {
        cJSON_Delete(ann);
        ann = cJSON_CreateObject();
    }
    cJSON_DeleteItemFromObjectCaseSensitive(ann, CRONOMJOB_SCHEDULED_AT_ANNOTATION);
    cJSON *doc = cJSON_CreateObject(), *meta = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "apiVersion", API_VERSION);
    cJSON_AddStringToObject(doc, "kind", "OMJob");
    cJSON_AddItemToObject(doc, "metadata", meta);
    cJSON_AddStringToObject(meta, "name", name);
    cJSON_AddStringToObject(meta, "namespace", v->o->ns);
    cJSON_AddItemToObject(meta, "labels", labels);
    cJSON_AddStringToObject(ann, CRONOMJOB_SCHEDULED_AT_ANNOTATION, at);
    cJSON_AddItemToObject(meta, "annotations", ann);
    cJSON_AddItemToObject(meta, "ownerReferences", owner_refs(v->o));
    cJSON_AddItemToObject(doc, "spec", spec);
    char *body = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    if (!body) snprintf(err, errlen, "cannot build the OMJob (out of memory)");
    return body;
}

static int
create_run(struct cronomjob_ctl *c, const struct view *v, int64_t slot_s, const char *name)
{
    char err[256], path[256];
    char *body = build_run(v, name, slot_s, err, sizeof err);
    if (!body) {
        log_warn("cannot create the OMJob", "cronomjob", v->o->key, "error", err);
        workqueue_add_rate_limited(c->queue, v->o->key);
        return -1;
    }
    omjob_path(path, sizeof path, v->o->ns, NULL);
    return submit_slot(c, v->o->key, v->o->ns, OP_CREATE, name, slot_s, "POST", path,
                       "application/json", body);
}

static int
delete_run(struct cronomjob_ctl *c, const struct view *v, const struct kobj *run, int kind)
{
    char path[256];
    omjob_path(path, sizeof path, run->ns, run->name);
    return submit(c, v->o->key, v->o->ns, kind, run->name, "DELETE", path, "application/json",
                  strdup("{\"propagationPolicy\":\"Background\"}"));
}

/* --- desired status -------------------------------------------------------------------------- */

struct desired {
    int64_t last_schedule_s, last_success_s;
    char last_omjob[64];
    char message[512];
    const char *ready, *reason;
};

static void
derive_history(const struct view *v, struct desired *d)
{
    d->last_schedule_s = v->j->last_schedule_s;
    d->last_success_s = v->j->last_success_s;
    snprintf(d->last_omjob, sizeof d->last_omjob, "%s", v->j->last_omjob);
    for (size_t i = 0; i < v->nkids; i++) {
        const struct run_obj *r = v->kids[i].r;
        if (r->scheduled_s >= d->last_schedule_s) {
            d->last_schedule_s = r->scheduled_s;
            snprintf(d->last_omjob, sizeof d->last_omjob, "%s", v->kids[i].o->name);
        }
        if (r->state == RUN_SUCCEEDED && r->completion_s > d->last_success_s)
            d->last_success_s = r->completion_s;
    }
}

/* Both times only move forward (derive_history starts from the recorded ones): an unset
 * one is left out, never sent as null. */
static void
add_time(cJSON *st, const char *k, int64_t s)
{
    json_add_time(st, k, s * 1000);
}

/* The status patch body, or NULL when the recorded status already says it all. */
static char *
status_patch(const struct view *v, const struct desired *d)
{
    const char **names = v->nactive ? calloc(v->nactive, sizeof *names) : NULL;
    size_t n = 0;
    for (size_t i = 0; i < v->nkids && names; i++)
        if (v->kids[i].r->state == RUN_ACTIVE) names[n++] = v->kids[i].o->name;
    char *sig = status_sig(d->last_schedule_s, d->last_success_s, d->last_omjob, names, n,
                           d->message, d->ready, d->reason, v->o->generation);
    free(names);
    if (!sig || !strcmp(sig, v->j->status_sig)) {
        free(sig);
        return NULL;
    }
    free(sig);
    cJSON *root = cJSON_CreateObject(), *st = cJSON_AddObjectToObject(root, "status");
    add_time(st, "lastScheduleTime", d->last_schedule_s);
    add_time(st, "lastSuccessfulTime", d->last_success_s);
    if (d->last_omjob[0]) cJSON_AddStringToObject(st, "lastOMJobName", d->last_omjob);
    cJSON *active = cJSON_AddArrayToObject(st, "active");
    for (size_t i = 0; i < v->nkids; i++) {
        const struct kobj *o = v->kids[i].o;
        if (v->kids[i].r->state != RUN_ACTIVE) continue;
        cJSON *ref = cJSON_CreateObject();
        cJSON_AddStringToObject(ref, "apiVersion", API_VERSION);
        cJSON_AddStringToObject(ref, "kind", "OMJob");
        cJSON_AddStringToObject(ref, "name", o->name);
        cJSON_AddStringToObject(ref, "namespace", o->ns);
        json_add_str(ref, "uid", o->uid);
        cJSON_AddItemToArray(active, ref);
    }
    json_add_str(st, "message", d->message);
    cJSON_AddNumberToObject(st, "observedGeneration", (double)v->o->generation);
    char now[TIME_RFC3339_MAX];
    bool same = !strcmp(v->j->ready, d->ready) && !strcmp(v->j->ready_reason, d->reason) &&
                v->j->ready_since_ms;
    time_fmt_rfc3339(now, same ? v->j->ready_since_ms : time_now_ms(), 0);
    cJSON *conds = cJSON_AddArrayToObject(st, "conditions"), *cd = cJSON_CreateObject();
    cJSON_AddStringToObject(cd, "type", "Ready");
    cJSON_AddStringToObject(cd, "status", d->ready);
    cJSON_AddStringToObject(cd, "reason", d->reason && *d->reason ? d->reason : "Unknown");
    json_add_str(cd, "message", d->message);
    cJSON_AddStringToObject(cd, "lastTransitionTime", now);
    cJSON_AddNumberToObject(cd, "observedGeneration", (double)v->o->generation);
    cJSON_AddItemToArray(conds, cd);
    char *body = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return body;
}

static bool
write_status(struct cronomjob_ctl *c, const struct view *v, const struct desired *d)
{
    char *body = status_patch(v, d);
    if (!body) return false;
    char path[256];
    snprintf(path, sizeof path, API_PREFIX "/namespaces/%s/cronomjobs/%s/status", v->o->ns,
             v->o->name);
    return submit(c, v->o->key, v->o->ns, OP_STATUS, "", "PATCH", path,
                  "application/merge-patch+json", body) == 0;
}

/* --- reconcile ------------------------------------------------------------------------------- */

static void
requeue_at_s(struct cronomjob_ctl *c, const char *key, int64_t at_s)
{
    if (at_s <= 0) return;
    int64_t d = at_s * 1000 - time_now_ms();
    workqueue_add_after(c->queue, key, d > 0 ? d + 50 : 50);
}

/* An invalid spec: Ready=False with the reason, a Warning event when it is new. */
static bool
report_invalid(struct cronomjob_ctl *c, const struct view *v, struct desired *d, const char *reason,
               const char *msg)
{
    d->ready = "False";
    d->reason = reason;
    snprintf(d->message, sizeof d->message, "%s", msg);
    if (strcmp(v->j->ready_reason, reason)) {
        record(c, v->o, "Warning", reason, msg);
        log_warn("invalid CronOMJob", "cronomjob", v->o->key, "reason", reason, "error", msg);
    }
    return write_status(c, v, d);
}

/* Deletes the oldest finished OMJob beyond the history limits; true if a write started. */
static bool
prune_history(struct cronomjob_ctl *c, const struct view *v)
{
    int64_t left[2] = {v->j->keep_succeeded, v->j->keep_failed};
    size_t total[2] = {0, 0};
    for (size_t i = 0; i < v->nkids; i++)
        if (v->kids[i].r->state != RUN_ACTIVE && !is_deleting(c, v->kids[i].o))
            total[v->kids[i].r->state == RUN_SUCCEEDED ? 0 : 1]++;
    /* kids are sorted oldest first: delete while more than the limit remain */
    for (size_t i = 0; i < v->nkids; i++) {
        const struct child *k = &v->kids[i];
        if (k->r->state == RUN_ACTIVE || is_deleting(c, k->o)) continue;
        int t = k->r->state == RUN_SUCCEEDED ? 0 : 1;
        int64_t limit = left[t] < 0 ? 0 : left[t];
        if ((int64_t)total[t] > limit) {
            log_info("history limit: deleting OMJob", "cronomjob", v->o->key, "omjob", k->o->name);
            return delete_run(c, v, k->o, OP_DELETE_RUN) == 0;
        }
    }
    return false;
}

static void
fmt_time(char out[static TIME_RFC3339_MAX], int64_t s)
{
    time_fmt_rfc3339(out, s * 1000, 0);
}

/* True the first time (reason, object, slot) is seen, so that an outcome re-derived by every
 * later look (resyncs, run changes) is reported once. Forgetting (the set is cleared when
 * it grows past NOTED_MAX, or by a restart) only repeats a report. */
static bool
first_time(struct cronomjob_ctl *c, const char *reason, const struct kobj *o, int64_t slot_s)
{
    char key[400];
    snprintf(key, sizeof key, "%s|%s|%s|%lld", reason, o->key, o->uid ? o->uid : "",
             (long long)slot_s);
    if (c->noted && strset_has(c->noted, key)) return false;
    if (!c->noted || strset_count(c->noted) >= NOTED_MAX) {
        strset_free(c->noted);
        c->noted = strset_new();
    }
    if (c->noted) strset_add(c->noted, key);
    return true;
}

/* The due slot: start it (or replace/skip); true if a write started. */
static bool
handle_due(struct cronomjob_ctl *c, struct view *v, const struct cronomjob_slot *s,
           struct desired *d)
{
    char name[64], at[TIME_RFC3339_MAX], msg[512];
    cronomjob_run_name(name, v->o->name, s->due_s);
    fmt_time(at, s->due_s);
    const struct kobj *taken = nswatch_get(&c->runs, v->o->ns, name);
    if (taken) { /* the name is the lock: this slot already ran */
        if (s->due_s > d->last_schedule_s) {
            d->last_schedule_s = s->due_s;
            snprintf(d->last_omjob, sizeof d->last_omjob, "%s", name);
        }
        return false;
    }
    if (s->missed > CRONOMJOB_MAX_MISSED && first_time(c, "TooManyMissedSlots", v->o, s->due_s)) {
        snprintf(msg, sizeof msg,
                 "more than %d slots were missed since the last run; only the latest (%s) is "
                 "evaluated",
                 CRONOMJOB_MAX_MISSED, at);
        record(c, v->o, "Warning", "TooManyMissedSlots", msg);
    }
    /* Forbid first: a slot skipped for an active run is reported as skipped, not missed. */
    if (v->nactive && v->j->policy == POLICY_FORBID) {
        snprintf(msg, sizeof msg,
                 "slot %s skipped: a previous OMJob is still active (concurrencyPolicy Forbid)",
                 at);
        snprintf(d->message, sizeof d->message, "%s", msg);
        if (first_time(c, "SlotSkipped", v->o, s->due_s)) {
            record(c, v->o, "Normal", "SlotSkipped", msg);
            metrics_add(c->m_runs, 1, "skipped");
        }
        return false;
    }
    if (!s->in_window) {
        if (first_time(c, "MissedSchedule", v->o, s->due_s)) {
            snprintf(msg, sizeof msg, "slot %s missed: past startingDeadlineSeconds, not started",
                     at);
            record(c, v->o, "Warning", "MissedSchedule", msg);
            metrics_add(c->m_runs, 1, "missed");
        }
        return false;
    }
    if (v->nactive && v->j->policy == POLICY_REPLACE) {
        for (size_t i = 0; i < v->nkids; i++) {
            const struct child *k = &v->kids[i];
            if (k->r->state != RUN_ACTIVE || is_deleting(c, k->o)) continue;
            snprintf(msg, sizeof msg, "replacing active OMJob %s for slot %s", k->o->name, at);
            record(c, v->o, "Normal", "ReplacingOMJob", msg);
            return delete_run(c, v, k->o, OP_REPLACE) == 0;
        }
    }
    return create_run(c, v, s->due_s, name) == 0;
}

static struct kobj *
find_by_key(const struct nswatch *w, const char *key)
{
    char ns[64];
    const char *slash = strchr(key, '/');
    if (!slash || (size_t)(slash - key) >= sizeof ns) return NULL;
    memcpy(ns, key, (size_t)(slash - key));
    ns[slash - key] = '\0';
    return nswatch_get(w, ns, slash + 1);
}

static bool
reconcile_view(struct cronomjob_ctl *c, struct view *v)
{
    const struct comj_obj *j = v->j;
    struct desired d = {.ready = "True", .reason = "Scheduled"};
    derive_history(v, &d);
    char err[512];
    struct cron_expr expr;
    if (cron_parse(j->schedule, &expr, err, sizeof err))
        return report_invalid(c, v, &d, "InvalidSchedule", err);
    const struct tz *zone = zone_get(c, j->time_zone, err, sizeof err);
    if (!zone) return report_invalid(c, v, &d, "UnknownTimeZone", err);
    if (!j->template) return report_invalid(c, v, &d, "InvalidSpec", "spec.omJobSpec is required");
    if (j->template_err) return report_invalid(c, v, &d, "InvalidOMJobSpec", j->template_err);
    struct cronomjob_slot_in in = {.expr = &expr,
                                   .zone = zone,
                                   .now_s = time_now_ms() / 1000,
                                   .since_s = d.last_schedule_s ? d.last_schedule_s : j->created_s,
                                   .starting_deadline_s = j->deadline_s};
    struct cronomjob_slot s;
    if (cronomjob_decide(&in, &s))
        return report_invalid(c, v, &d, "InvalidSchedule",
                              "the schedule has no slot in the next years");
    char next[TIME_RFC3339_MAX];
    fmt_time(next, s.next_s);
    if (j->suspend) {
        d.reason = "Suspended";
        snprintf(d.message, sizeof d.message, "suspended: no new OMJobs are started");
    } else {
        snprintf(d.message, sizeof d.message, "next slot %s (%s)", s.next_s ? next : "none",
                 tz_name(zone));
        requeue_at_s(c, v->o->key, s.wake_s);
        if (s.due_s && handle_due(c, v, &s, &d)) return true;
    }
    if (prune_history(c, v)) return true;
    return write_status(c, v, &d);
}

static void
reconcile(void *arg, const char *key)
{
    struct cronomjob_ctl *c = arg;
    if (c->ctl->may_write && !c->ctl->may_write(c->ctl->may_write_arg)) return;
    if (writer_busy(c->writer, key)) return; /* the write's completion requeues it */
    if (!cronomjob_ctl_synced(c)) {
        workqueue_add_after(c->queue, key, 200);
        return;
    }
    struct kobj *o = find_by_key(&c->cronomjobs, key);
    if (!o || !o->payload || o->deletion_ms) return;
    struct view v = {.o = o, .j = o->payload};
    struct informer *inf = nswatch_for(&c->runs, o->ns);
    if (inf && o->uid) cache_foreach_owned(informer_cache(inf), o->uid, add_child, &v);
    if (v.oom) {
        free(v.kids);
        workqueue_add_rate_limited(c->queue, key);
        return;
    }
    if (v.nkids) qsort(v.kids, v.nkids, sizeof *v.kids, cmp_child);
    bool wrote = reconcile_view(c, &v);
    free(v.kids);
    metrics_add(c->m_reconciles, 1, wrote ? "write" : "noop");
}

/* --- completions ------------------------------------------------------------------------------ */

static void
apply_to(struct nswatch *w, const char *ns, const struct kube_response *r, uint64_t base_seq)
{
    cJSON *obj = cJSON_ParseWithLength(r->body, r->body_len);
    struct informer *inf = nswatch_for(w, ns);
    const char *kind = json_str(obj, "kind");
    if (obj && inf && kind && strcmp(kind, "Status"))
        informer_apply(inf, obj, base_seq); /* write-through: the next reconcile sees it */
    cJSON_Delete(obj);
}

static void
report_api_error(struct cronomjob_ctl *c, const struct write_op *op, const struct kube_response *r)
{
    ctl_report_write(c->ctl, &cronomjob_kind, find_by_key(&c->cronomjobs, op->key),
                     op_names[op->kind], op, r);
}

static void
created(struct cronomjob_ctl *c, const struct write_op *op, const struct kube_response *r)
{
    struct kobj *o = find_by_key(&c->cronomjobs, op->key);
    if (r->status == 201) {
        apply_to(&c->runs, op->ns, r, op->base_seq);
        metrics_add(c->m_runs, 1, "created");
        log_info("OMJob created", "cronomjob", op->key, "omjob", op->target);
        if (o) {
            struct event_ref ref = ref_of(o);
            event_record(c->ctl->events, &ref, "Normal", "OMJobCreated", "created OMJob %s",
                         op->target);
        }
        return;
    }
    /* 409 AlreadyExists: the slot already ran (a restart, a stale cache, another replica).
     * Read it so the cache knows the name is taken; never create it again. */
    char path[256];
    omjob_path(path, sizeof path, op->ns, op->target);
    log_info("OMJob already exists: slot adopted", "cronomjob", op->key, "omjob", op->target);
    metrics_add(c->m_runs, 1, "adopted");
    if (submit_slot(c, op->key, op->ns, OP_ADOPT, op->target, op->n, "GET", path, NULL, NULL))
        workqueue_add_rate_limited(c->queue, op->key);
}

/* The OMJob holding a slot's name, read after a 409. It is adopted as the slot's run either
 * way (the name is the lock); one that this CronOMJob does not own is worth a warning. */
static void
adopted(struct cronomjob_ctl *c, const struct write_op *op, const struct kube_response *r)
{
    if (r->status == 200) apply_to(&c->runs, op->ns, r, op->base_seq);
    struct kobj *o = find_by_key(&c->cronomjobs, op->key);
    const struct kobj *run = nswatch_get(&c->runs, op->ns, op->target);
    if (o && r->status != 200) {
        /* Gone again already: the slot still counts as run; put it on record directly so
         * that it is never created a second time. */
        const struct comj_obj *j = o->payload;
        char at[TIME_RFC3339_MAX], path[256], body[400];
        if (j && j->last_schedule_s >= op->n) return;
        fmt_time(at, op->n);
        snprintf(body, sizeof body,
                 "{\"status\":{\"lastScheduleTime\":\"%s\",\"lastOMJobName\":\"%s\"}}", at,
                 op->target);
        snprintf(path, sizeof path, API_PREFIX "/namespaces/%s/cronomjobs/%s/status", o->ns,
                 o->name);
        submit(c, o->key, o->ns, OP_STATUS, "", "PATCH", path, "application/merge-patch+json",
               strdup(body));
        return;
    }
    if (o && run && (!run->owner_uid || !o->uid || strcmp(run->owner_uid, o->uid))) {
        struct event_ref ref = ref_of(o);
        event_record(c->ctl->events, &ref, "Warning", "SlotNameTaken",
                     "OMJob %s already exists and is not owned by this CronOMJob: the slot is "
                     "counted as run, nothing was started",
                     op->target);
    }
}

static void
deleted(struct cronomjob_ctl *c, const struct write_op *op, const struct kube_response *r)
{
    char key[200];
    snprintf(key, sizeof key, "%s/%s", op->ns, op->target);
    cJSON *obj = cJSON_ParseWithLength(r->body, r->body_len);
    const char *kind = json_str(obj, "kind");
    struct informer *inf = nswatch_for(&c->runs, op->ns);
    if (r->status == 404 || !kind || !strcmp(kind, "Status"))
        strset_add(c->deleted, key); /* gone: wait for the watch */
    else if (inf)
        informer_apply(inf, obj, op->base_seq); /* still there, deletionTimestamp set */
    cJSON_Delete(obj);
    if (op->kind == OP_DELETE_RUN && r->status != 404) {
        struct kobj *o = find_by_key(&c->cronomjobs, op->key);
        if (o) {
            struct event_ref ref = ref_of(o);
            event_record(c->ctl->events, &ref, "Normal", "OMJobDeleted",
                         "deleted finished OMJob %s (history limit)", op->target);
        }
    }
}

static void
op_done(void *arg, const struct write_op *op, const struct kube_response *r)
{
    struct cronomjob_ctl *c = arg;
    bool ok = r->status >= 200 && r->status < 300;
    switch (op->kind) {
    case OP_CREATE:
        if (ok || r->status == 409) {
            created(c, op, r);
            if (r->status == 409 && writer_busy(c->writer, op->key))
                return; /* the GET's completion requeues */
            ok = true;
        }
        break;
    case OP_ADOPT:
        if (ok || r->status == 404) {
            adopted(c, op, r);
            ok = true;
        }
        if (writer_busy(c->writer, op->key))
            return; /* the status write's completion requeues */
        break;
    case OP_DELETE_RUN:
    case OP_REPLACE:
        if (ok || r->status == 404) {
            deleted(c, op, r);
            ok = true;
        }
        break;
    case OP_STATUS:
        if (ok)
            apply_to(&c->cronomjobs, op->ns, r, op->base_seq);
        else if (r->status == 404)
            ok = true; /* the CronOMJob is gone */
        break;
    }
    if (!ok)
        report_api_error(c, op, r);
    writer_settle(c->queue, op, r, ok);
}

static struct kobj *
op_lookup(void *arg, const char *key)
{
    struct cronomjob_ctl *c = arg;
    return nswatch_get_key(&c->cronomjobs, key);
}

/* --- informer events ------------------------------------------------------------------------- */

static void
on_cronomjob(void *arg, enum informer_event ev, const struct kobj *o)
{
    struct cronomjob_ctl *c = arg;
    if (ev == INFORMER_DELETE) {
        ctl_forget(c->ctl, c->queue, c->writer, o);
    } else
        workqueue_add(c->queue, o->key);
}

static void
on_run(void *arg, enum informer_event ev, const struct kobj *o)
{
    struct cronomjob_ctl *c = arg;
    if (ev != INFORMER_UPDATE) strset_del(c->deleted, o->key);
    if (o->owner_ref && !strncmp(o->owner_ref, "CronOMJob/", 10))
        cronomjob_ctl_omjob_changed(c, o->ns, o->owner_ref + 10);
}

void
cronomjob_ctl_omjob_changed(struct cronomjob_ctl *c, const char *ns, const char *cronomjob_name)
{
    char key[320];
    if (snprintf(key, sizeof key, "%s/%s", ns, cronomjob_name) < (int)sizeof key)
        workqueue_add(c->queue, key);
}

static void
enqueue(void *arg, struct kobj *o)
{
    struct cronomjob_ctl *c = arg;
    workqueue_add(c->queue, o->key);
}

void
cronomjob_ctl_resync(struct cronomjob_ctl *c)
{
    nswatch_foreach(&c->cronomjobs, enqueue, c);
}

static void
free_run(void *p)
{
    free(p);
}

static const struct informer_kind kind_cronomjob = {"cronomjobs", NULL, comj_trim,
                                                    comj_free_payload};
static const struct informer_kind kind_run = {"cronomjob-omjobs", NULL, run_trim, free_run};

struct cronomjob_ctl *
cronomjob_ctl_new(struct ctl *ctl)
{
    struct cronomjob_ctl *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->ctl = ctl;
    c->queue = workqueue_new(ctl->loop, reconcile, c);
    c->writer = writer_new(ctl->client, op_done, op_lookup, c);
    ctl_log_kind(c->queue, c->writer, "cronomjob");
    c->deleted = strset_new();
    c->noted = strset_new();
    static const char *const l_status[] = {"status", NULL};
    static const char *const l_result[] = {"result", NULL};
    c->m_reconciles = metrics_counter("omjob_cronomjob_reconciliations_total",
                                      "CronOMJob reconciliations by result", l_status);
    c->m_runs =
        metrics_counter("omjob_cronomjob_slots_total",
                        "CronOMJob slots by outcome (created, adopted, skipped, missed)", l_result);
    if (!c->queue || !c->writer || !c->deleted || !c->noted ||
        nswatch_init(&c->cronomjobs, ctl->loop, ctl->client, ctl->cfg->watch_namespaces, API_PREFIX,
                     "cronomjobs", NULL, &kind_cronomjob, ctl->cfg->watch_timeout_s, on_cronomjob,
                     c) ||
        nswatch_init(&c->runs, ctl->loop, ctl->client, ctl->cfg->watch_namespaces, API_PREFIX,
                     "omjobs", RUN_SELECTOR, &kind_run, ctl->cfg->watch_timeout_s, on_run, c)) {
        cronomjob_ctl_free(c);
        return NULL;
    }
    return c;
}

void
cronomjob_ctl_start(struct cronomjob_ctl *c)
{
    nswatch_start(&c->runs);
    nswatch_start(&c->cronomjobs);
}

int
cronomjob_ctl_synced(const struct cronomjob_ctl *c)
{
    return nswatch_synced(&c->cronomjobs) && nswatch_synced(&c->runs);
}

void
cronomjob_ctl_free(struct cronomjob_ctl *c)
{
    if (!c) return;
    writer_free(c->writer);
    nswatch_free(&c->cronomjobs);
    nswatch_free(&c->runs);
    workqueue_free(c->queue);
    strset_free(c->deleted);
    strset_free(c->noted);
    while (c->zones) {
        struct zone_ent *e = c->zones;
        c->zones = e->next;
        tz_free(e->zone);
        free(e);
    }
    free(c);
}
