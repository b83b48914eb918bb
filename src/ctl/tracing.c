#include "ctl/tracing.h"

#include "ctl/ctl.h"
#include "ctl/engine.h"
#include "ctl/naming.h"
#include "ctl/pods.h"
#include "kube/cache.h"
#include "kube/client.h"
#include "loop.h"
#include "otel/exporter.h"
#include "otel/otel.h"
#include "util/buf.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/strset.h"
#include "util/timeutil.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STAGES ((int)ENGINE_MAX_STEPS + 1) /* tasks; an OMJob: main + up to 11 exit attempts */
#define RECENT_ROTATE_MS 60000 /* a settled run is remembered 1-2 minutes */
#define OMJOB_API "/apis/pipelines.openmetadata.org/v1"

/* What keeps a run from being submitted twice by this process: pending from the submit to
 * the answer to its annotation patch (bounded by the exporter's queue and the client's);
 * then recent, two generations dropped in turn, long enough for the informer to deliver
 * the annotated object (so a reconcile in between does not see it unmarked). */
/* An OMJob's annotation may instead ride on its finalizer release (tracing_omjob_carry):
 * carried marks a pending run whose controller waits for it; once accepted it moves to
 * acked until that write lands. */
static struct {
    struct loop *loop;
    struct otel_exporter *x;
    struct kube_client *client;
    struct strset *pending, *recent[2], *carried, *acked;
    uint64_t rotate_timer;
    int64_t hold_ms;
    tracing_wake_fn wake;
    void *wake_arg;
} g;

static bool
known(const char *tag)
{
    return strset_has(g.pending, tag) || strset_has(g.acked, tag) ||
           strset_has(g.recent[0], tag) || strset_has(g.recent[1], tag);
}

static void
settle(const char *tag)
{
    strset_del(g.pending, tag);
    strset_del(g.carried, tag);
    strset_del(g.acked, tag);
    strset_add(g.recent[0], tag);
}

static void
on_rotate(struct loop *l, void *arg)
{
    (void)arg;
    struct strset *fresh = strset_new();
    if (fresh) {
        strset_free(g.recent[1]);
        g.recent[1] = g.recent[0];
        g.recent[0] = fresh;
    }
    g.rotate_timer = loop_timer_add(l, RECENT_ROTATE_MS, on_rotate, NULL);
}

/* --- annotation after export --------------------------------------------------------------- */

/* A tag is "<object path>|<trace id hex>". */
static void
on_annotated(void *arg, const struct kube_response *r)
{
    char *tag = arg;
    if (r->status != 200 && r->status != 404) /* 404: deleted meanwhile, nothing to mark */
        log_warn("could not mark the trace as exported", "object", tag, "error", r->error);
    if (g.x)
        settle(tag);
    free(tag);
}

/* The namespace and name in an OMJob tag's path, for the wake-up. */
static void
wake_owner(const char *tag)
{
    const char *ns = strstr(tag, "/namespaces/"), *bar = strrchr(tag, '|');
    const char *kind = ns ? strstr(ns + 12, "/omjobs/") : NULL;
    if (!g.wake || !kind || !bar || bar < kind) return;
    char nsbuf[64], name[256];
    snprintf(nsbuf, sizeof nsbuf, "%.*s", (int)(kind - (ns + 12)), ns + 12);
    snprintf(name, sizeof name, "%.*s", (int)(bar - (kind + 8)), kind + 8);
    g.wake(g.wake_arg, nsbuf, name);
}

static void
on_exported(void *arg, const char *tag, bool exported)
{
    (void)arg;
    if (exported && strset_has(g.carried, tag) && strset_add(g.acked, tag) >= 0) {
        strset_del(g.carried, tag); /* its controller writes the annotation with its release */
        strset_del(g.pending, tag);
        wake_owner(tag);
        return;
    }
    const char *bar = strrchr(tag, '|');
    char *copy = exported ? strdup(tag) : NULL;
    if (!bar || !copy) { /* dropped (counted and logged by the exporter): may go again later */
        settle(tag);
        free(copy);
        return;
    }
    char path[300], body[300];
    snprintf(path, sizeof path, "%.*s", (int)(bar - tag), tag);
    snprintf(body, sizeof body, "{\"metadata\":{\"annotations\":{\"%s\":\"%s\"}}}",
             TRACING_EXPORTED_ANNOTATION, bar + 1);
    const char *ns = strstr(path, "/namespaces/");
    char qkey[80] = "";
    if (ns)
        snprintf(qkey, sizeof qkey, "%.*s", (int)strcspn(ns + 12, "/"), ns + 12);
    struct kube_req_spec spec = {.method = "PATCH",
                                 .path = path,
                                 .content_type = "application/merge-patch+json",
                                 .body = body,
                                 .body_len = strlen(body),
                                 .flags = KUBE_RETRY,
                                 .done = on_annotated,
                                 .arg = copy,
                                 .queue_key = qkey};
    if (!kube_submit(g.client, &spec)) {
        settle(tag);
        free(copy);
    }
}

/* --- public ----------------------------------------------------------------------------- */

int
tracing_start(struct loop *l, struct kube_client *c, const struct otel_config *cfg,
              const char *version)
{
    g.loop = l;
    g.client = c;
    g.pending = strset_new();
    g.recent[0] = strset_new();
    g.recent[1] = strset_new();
    g.carried = strset_new();
    g.acked = strset_new();
    g.hold_ms = cfg->schedule_delay_ms + TRACING_CARRY_SLACK_MS;
    g.rotate_timer = loop_timer_add(l, RECENT_ROTATE_MS, on_rotate, NULL);
    if (g.pending && g.recent[0] && g.recent[1] && g.carried && g.acked && g.rotate_timer)
        g.x = otel_exporter_new(l, c, cfg, version, on_exported, NULL);
    if (!g.x) {
        tracing_stop();
        return -1;
    }
    return 0;
}

void
tracing_stop(void)
{
    otel_exporter_free(g.x);
    if (g.loop)
        loop_timer_cancel(g.loop, g.rotate_timer);
    strset_free(g.pending);
    strset_free(g.recent[0]);
    strset_free(g.recent[1]);
    strset_free(g.carried);
    strset_free(g.acked);
    memset(&g, 0, sizeof g);
}

bool
tracing_on(void)
{
    return g.x != NULL;
}

/* The hex trace and root span ids of recent runs: every reconcile puts them in the log
 * context and the exactly-once bookkeeping names runs by them; two SHA-256 digests each
 * time were a tenth of tracing's cost (callgrind). Direct-mapped by uid and run. */
#define IDS_CACHED 256
static struct run_ids {
    char uid[64];
    long run;
    char trace[33], span[17];
} ids_cache[IDS_CACHED];

static const struct run_ids *
run_ids(const char *uid, long run)
{
    struct run_ids *e = &ids_cache[(hash_str(uid) ^ (uint64_t)run) % IDS_CACHED];
    if (!e->trace[0] || e->run != run || strcmp(e->uid, uid) != 0) {
        uint8_t t[16], s[8];
        otel_trace_id(t, uid, run);
        otel_span_id(s, uid, run, "run", 0);
        otel_hex(e->trace, t, 16);
        otel_hex(e->span, s, 8);
        snprintf(e->uid, sizeof e->uid, "%s", uid); /* a longer uid only misses the cache */
        e->run = run;
    }
    return e;
}

void
tracing_log_run(const char *uid, long run)
{
    if (!g.x || !uid)
        return;
    const struct run_ids *e = run_ids(uid, run);
    log_ctx_add("trace_id", e->trace);
    log_ctx_add("span_id", e->span);
}

static bool
has_env(const cJSON *env, const char *name)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, env)
    {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(e, "name");
        if (cJSON_IsString(n) && !strcmp(n->valuestring, name))
            return true;
    }
    return false;
}

static void
add_env(cJSON *env, const char *name, const char *value)
{
    if (has_env(env, name))
        return;
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "name", name);
    cJSON_AddStringToObject(e, "value", value);
    cJSON_AddItemToArray(env, e);
}

void
tracing_pod_env(cJSON *pod, const char *kind_key, const struct kobj *o, long run,
                const char *span_key, long index, const char *task)
{
    if (!g.x || !pod || !o || !o->uid)
        return;
    uint8_t t[16], s[8];
    otel_trace_id(t, o->uid, run);
    otel_span_id(s, o->uid, run, span_key, index);
    char tp[OTEL_TRACEPARENT_LEN], attrs[512];
    otel_traceparent(tp, t, s);
    /* names are DNS labels: nothing to percent-encode */
    snprintf(attrs, sizeof attrs, "k8s.namespace.name=%s,%s.name=%s,%s.uid=%s,%s.task=%s",
             o->ns, kind_key, o->name, kind_key, o->uid, kind_key, task);
    cJSON *spec = cJSON_GetObjectItemCaseSensitive(pod, "spec");
    static const char *const lists[] = {"initContainers", "containers"};
    for (size_t l = 0; l < 2; l++) {
        cJSON *c;
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(spec, lists[l]))
        {
            cJSON *env = cJSON_GetObjectItemCaseSensitive(c, "env");
            if (!env)
                env = cJSON_AddArrayToObject(c, "env");
            if (!cJSON_IsArray(env))
                continue;
            add_env(env, "TRACEPARENT", tp);
            add_env(env, "OTEL_RESOURCE_ATTRIBUTES", attrs);
        }
    }
}

/* --- a run's trace ------------------------------------------------------------------------ */

struct stage {
    char pod[NAMING_LABEL_MAX + 1];
    const char *span;   /* span name */
    const char *unit_attr; /* "k8s.pod.name" (NULL) or "k8s.job.name" */
    char id_key[48];    /* the span id's stage name (TRACEPARENT of its pods uses the same) */
    long id_index;
    const char *task;   /* <kind>.stage / <kind>.task attribute */
    long retries;
    int64_t start_ms, end_ms;
    const char *node, *reason;
    int exit_code;
    bool failed;
};

struct run {
    const char *kind;      /* "omjob", "observatory": the attribute prefix */
    const char *task_attr; /* "stage" or "task" */
    const struct kobj *o;
    long run;
    bool failed;
    const char *message;
    int64_t start_ms, end_ms;
    char path[300];        /* the object, for the annotation */
    char span[48];         /* the task spans' name */
    char mark[64];         /* the annotation's value */
    struct stage st[MAX_STAGES];
    int n;
};

static void
stage_from_pod(const struct ctl *ctl, const char *ns, struct stage *s)
{
    struct kobj *p = nswatch_get(&ctl->pods, ns, s->pod);
    const struct pod_state *ps = p ? p->payload : NULL;
    if (!ps)
        return;
    s->start_ms = ps->start_time_ms ? ps->start_time_ms : ps->started_ms;
    if (ps->finished_ms)
        s->end_ms = ps->finished_ms;
    s->node = ps->node_name;
    if (ps->terminated) {
        s->exit_code = ps->exit_code;
        s->reason = ps->term_reason[0] ? ps->term_reason : s->reason;
    } else if (ps->reason[0]) {
        s->reason = ps->reason;
    }
    s->failed = !ps->terminated || ps->exit_code != 0 || strcmp(ps->phase, "Succeeded");
}

static int
stage_span(struct buf *b, const struct run *r, const struct stage *s, const uint8_t trace[16],
           const uint8_t root[8])
{
    struct otel_span sp = {.name = s->span, .has_parent = true, .start_ms = s->start_ms,
                           .end_ms = s->end_ms,
                           .status = s->failed ? OTEL_STATUS_ERROR : OTEL_STATUS_OK,
                           .status_message = s->reason};
    memcpy(sp.trace_id, trace, 16);
    memcpy(sp.parent_id, root, 8);
    otel_span_id(sp.span_id, r->o->uid, r->run, s->id_key, s->id_index);
    char k_name[48], k_task[48], k_reason[48], k_retries[48], k_exit[48];
    snprintf(k_name, sizeof k_name, "%s.name", r->kind);
    snprintf(k_task, sizeof k_task, "%s.%s", r->kind, r->task_attr);
    snprintf(k_reason, sizeof k_reason, "%s.reason", r->kind);
    snprintf(k_retries, sizeof k_retries, "%s.retries", r->kind);
    snprintf(k_exit, sizeof k_exit, "%s.exit_code%s", r->kind, s->exit_code >= 0 ? "" : "_unknown");
    const struct otel_attr attrs[] = {
        {"k8s.namespace.name", OTEL_STR, r->o->ns, 0},
        {s->unit_attr ? s->unit_attr : "k8s.pod.name", OTEL_STR, s->pod, 0},
        {"k8s.node.name", OTEL_STR, s->node, 0},
        {k_name, OTEL_STR, r->o->name, 0},
        {k_task, OTEL_STR, s->task, 0},
        {k_reason, OTEL_STR, s->reason, 0},
        {k_retries, OTEL_INT, NULL, s->retries},
        {k_exit, s->exit_code >= 0 ? OTEL_INT : OTEL_BOOL, NULL, s->exit_code >= 0 ? s->exit_code : 1},
    };
    sp.attrs = attrs;
    sp.nattrs = sizeof attrs / sizeof attrs[0];
    return otel_span_json(b, &sp);
}

static int
run_spans(struct buf *b, const struct run *r)
{
    struct otel_span root = {.start_ms = r->start_ms, .end_ms = r->end_ms,
                             .status = r->failed ? OTEL_STATUS_ERROR : OTEL_STATUS_OK,
                             .status_message = r->failed ? r->message : NULL};
    char rname[48], k_name[48], k_uid[48], k_phase[48], k_run[48];
    snprintf(rname, sizeof rname, "%s.run", r->kind);
    root.name = rname;
    otel_trace_id(root.trace_id, r->o->uid, r->run);
    otel_span_id(root.span_id, r->o->uid, r->run, "run", 0);
    for (int i = 0; i < r->n; i++) { /* the root covers its children */
        if (r->st[i].start_ms && (!root.start_ms || r->st[i].start_ms < root.start_ms))
            root.start_ms = r->st[i].start_ms;
        if (r->st[i].end_ms > root.end_ms)
            root.end_ms = r->st[i].end_ms;
    }
    snprintf(k_name, sizeof k_name, "%s.name", r->kind);
    snprintf(k_uid, sizeof k_uid, "%s.uid", r->kind);
    snprintf(k_phase, sizeof k_phase, "%s.phase", r->kind);
    snprintf(k_run, sizeof k_run, "%s.run", r->kind);
    const struct otel_attr attrs[] = {
        {"k8s.namespace.name", OTEL_STR, r->o->ns, 0},
        {k_name, OTEL_STR, r->o->name, 0},
        {k_uid, OTEL_STR, r->o->uid, 0},
        {k_phase, OTEL_STR, r->failed ? "Failed" : "Succeeded", 0},
        {k_run, OTEL_INT, NULL, r->run},
    };
    root.attrs = attrs;
    root.nattrs = sizeof attrs / sizeof attrs[0];
    int rc = otel_span_json(b, &root);
    for (int i = 0; i < r->n && !rc; i++) {
        rc |= buf_appends(b, ",");
        rc |= stage_span(b, r, &r->st[i], root.trace_id, root.span_id);
    }
    return rc;
}

/* "<object path>|<trace id hex>": pending or settled runs are not built again. */
static bool
run_known(const char *path, const char *mark)
{
    char tag[400];
    snprintf(tag, sizeof tag, "%s|%s", path, mark);
    return known(tag);
}

static void
export_run(const struct run *r, bool carry)
{
    char tag[400];
    snprintf(tag, sizeof tag, "%s|%s", r->path, r->mark);
    if (known(tag))
        return;
    if (carry && strset_add(g.carried, tag) < 0)
        carry = false; /* out of memory: the exporter writes the annotation itself */
    struct buf b;
    buf_init(&b, 256 * 1024);
    if (run_spans(&b, r) == BUF_OK && strset_add(g.pending, tag) >= 0 &&
        otel_exporter_submit(g.x, tag, b.data, b.len, (size_t)r->n + 1) == 0)
        log_info("run trace queued for export", "trace_id", run_ids(r->o->uid, r->run)->trace);
    else
        settle(tag); /* not queued (full): another reconcile may try again later */
    buf_free(&b);
}

/* --- OMJob ----------------------------------------------------------------------------------- */

static void
omjob_stages(const struct ctl *ctl, const struct tracing_omjob *t, struct run *r)
{
    const struct kobj *o = t->o;
    struct stage *m = &r->st[r->n++];
    *m = (struct stage){.span = "omjob.main", .id_key = "main", .task = "main",
                        .start_ms = t->start_ms, .end_ms = t->end_ms, .reason = t->main_reason,
                        .exit_code = t->main_exit};
    if (t->main_pod && *t->main_pod)
        snprintf(m->pod, sizeof m->pod, "%s", t->main_pod);
    else
        naming_child(m->pod, o->name, "main");
    m->failed = !t->main_reason || strcmp(t->main_reason, "Completed") || t->main_exit != 0;
    stage_from_pod(ctl, o->ns, m);
    for (int i = 0; i < t->exit_attempts && r->n < MAX_STAGES; i++) {
        struct stage *e = &r->st[r->n++];
        *e = (struct stage){.span = "omjob.exit_handler", .id_key = "exit", .id_index = i,
                            .task = "exit", .retries = i, .start_ms = m->end_ms,
                            .end_ms = t->end_ms, .exit_code = -1};
        char suffix[16];
        snprintf(suffix, sizeof suffix, i ? "exit-%d" : "exit", i); /* omjob.c's names */
        naming_child(e->pod, o->name, suffix);
        if (i == t->exit_attempts - 1) {
            e->exit_code = t->exit_exit;
            e->failed = t->exit_exit != 0;
        } else {
            e->failed = true; /* an attempt followed by another one failed */
        }
        stage_from_pod(ctl, o->ns, e);
    }
}

/* An OMJob run's tag: "<object path>|<trace id hex>", as export_run names it. */
static void
omjob_tag(char tag[400], const struct kobj *o)
{
    snprintf(tag, 400, OMJOB_API "/namespaces/%s/omjobs/%s|%s", o->ns, o->name,
             run_ids(o->uid, 0)->trace);
}

void
tracing_omjob_finished(const struct ctl *ctl, const struct tracing_omjob *t)
{
    if (!g.x || !t->o || !t->o->uid)
        return;
    struct run *r = calloc(1, sizeof *r);
    if (!r)
        return;
    *r = (struct run){.kind = "omjob", .task_attr = "stage", .o = t->o, .failed = t->failed,
                      .message = t->main_reason, .start_ms = t->start_ms, .end_ms = t->end_ms};
    snprintf(r->path, sizeof r->path, OMJOB_API "/namespaces/%s/omjobs/%s", t->o->ns, t->o->name);
    snprintf(r->mark, sizeof r->mark, "%s", run_ids(t->o->uid, 0)->trace);
    char tag[400];
    omjob_tag(tag, t->o);
    if (strset_has(g.acked, tag) && !(t->o->finalizers & 2)) {
        /* accepted, but the release went without it (another finalizer appeared) */
        strset_del(g.acked, tag);
        if (strset_add(g.pending, tag) >= 0)
            on_exported(NULL, tag, true);
        free(r);
        return;
    }
    if (known(tag)) { /* each reconcile until the annotation lands */
        free(r);
        return;
    }
    omjob_stages(ctl, t, r);
    /* ours is the only finalizer: its release (one JSON patch) can carry the annotation */
    export_run(r, (t->o->finalizers & 2) && !(t->o->finalizers & 4));
    free(r);
}

void
tracing_set_omjob_wake(tracing_wake_fn fn, void *arg)
{
    g.wake = fn;
    g.wake_arg = arg;
}

enum tracing_carry
tracing_omjob_carry(const struct kobj *o, int64_t completion_ms, char mark[33], int64_t *wait_until_ms)
{
    if (!g.x || !o->uid)
        return TRACING_CARRY_NONE;
    char tag[400];
    omjob_tag(tag, o);
    if (strset_has(g.acked, tag)) {
        snprintf(mark, 33, "%s", strrchr(tag, '|') + 1);
        return TRACING_CARRY_MARK;
    }
    if (!strset_has(g.carried, tag))
        return TRACING_CARRY_NONE;
    int64_t until = (completion_ms > 0 ? completion_ms : time_now_ms()) + g.hold_ms;
    if (time_now_ms() < until) {
        *wait_until_ms = until;
        return TRACING_CARRY_WAIT;
    }
    strset_del(g.carried, tag); /* waited long enough: the exporter annotates when it can */
    return TRACING_CARRY_NONE;
}

void
tracing_omjob_carried(const struct kobj *o)
{
    if (!g.x || !o->uid)
        return;
    char tag[400];
    omjob_tag(tag, o);
    if (strset_has(g.acked, tag))
        settle(tag);
}

void
tracing_omjob_forget(const struct kobj *o)
{
    if (!g.x || !o->uid)
        return;
    char tag[400];
    omjob_tag(tag, o);
    strset_del(g.carried, tag); /* a pending export annotates (a 404 now) and settles */
    if (strset_has(g.acked, tag))
        settle(tag);
}

/* --- Observatory ------------------------------------------------------------------------------ */

long
tracing_exported_run(const char *annotation)
{
    if (!annotation)
        return -1;
    char *end;
    long n = strtol(annotation, &end, 10);
    return end != annotation && *end == '/' ? n : -1;
}

void
tracing_task_key(char out[48], const char *task)
{
    snprintf(out, 48, "task:%s", task ? task : "");
}

void
tracing_workflow_finished(const struct ctl *ctl, const struct tracing_workflow *t)
{
    if (!g.x || !t->o || !t->o->uid)
        return;
    struct run *r = calloc(1, sizeof *r);
    if (!r)
        return;
    *r = (struct run){.kind = t->kind, .task_attr = "task", .o = t->o, .run = t->run,
                      .failed = t->failed, .message = t->message, .start_ms = t->start_ms,
                      .end_ms = t->end_ms};
    snprintf(r->path, sizeof r->path, "%s", t->path);
    snprintf(r->span, sizeof r->span, "%s.task", t->kind);
    snprintf(r->mark, sizeof r->mark, "%ld/%s", t->run, run_ids(t->o->uid, t->run)->trace);
    if (run_known(r->path, r->mark)) {
        free(r);
        return;
    }
    for (size_t i = 0; i < t->ntasks && r->n < MAX_STAGES; i++) {
        const struct tracing_task *k = &t->tasks[i];
        if (!k->attempts)
            continue; /* skipped or never started: no span */
        struct stage *s = &r->st[r->n++];
        *s = (struct stage){.span = r->span, .task = k->name, .retries = k->attempts - 1,
                            .start_ms = k->start_ms, .end_ms = k->end_ms, .reason = k->reason,
                            .exit_code = k->exit_code,
                            .unit_attr = t->units_are_jobs ? "k8s.job.name" : "k8s.pod.name"};
        tracing_task_key(s->id_key, k->name);
        snprintf(s->pod, sizeof s->pod, "%s", k->unit ? k->unit : "");
        if (!t->units_are_jobs)
            stage_from_pod(ctl, t->o->ns, s); /* the last attempt's pod: node, end, exit code */
        if (k->start_ms) /* the first attempt's start, as status records it */
            s->start_ms = k->start_ms;
        s->failed = k->failed; /* the task's own verdict (retries included) wins */
    }
    export_run(r, false);
    free(r);
}
