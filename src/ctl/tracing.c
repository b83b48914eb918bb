#include "ctl/tracing.h"

#include "ctl/ctl.h"
#include "ctl/naming.h"
#include "ctl/pods.h"
#include "kube/cache.h"
#include "kube/client.h"
#include "loop.h"
#include "otel/exporter.h"
#include "otel/otel.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/strset.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STAGES 12        /* the main pod and up to 11 exit-handler attempts */
#define RECENT_ROTATE_MS 60000 /* a settled run is remembered 1-2 minutes */
#define OMJOB_API "/apis/pipelines.openmetadata.org/v1"

/* What keeps a run from being submitted twice by this process: pending from the submit to
 * the answer to its annotation patch (bounded by the exporter's queue and the client's);
 * then recent, two generations dropped in turn, long enough for the informer to deliver
 * the annotated object (so a reconcile in between does not see it unmarked). */
static struct {
    struct loop *loop;
    struct otel_exporter *x;
    struct kube_client *client;
    struct strset *pending, *recent[2];
    uint64_t rotate_timer;
} g;

static bool
known(const char *tag)
{
    return strset_has(g.pending, tag) || strset_has(g.recent[0], tag) ||
           strset_has(g.recent[1], tag);
}

static void
settle(const char *tag)
{
    strset_del(g.pending, tag);
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

static void
on_exported(void *arg, const char *tag, bool exported)
{
    (void)arg;
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
    g.rotate_timer = loop_timer_add(l, RECENT_ROTATE_MS, on_rotate, NULL);
    if (g.pending && g.recent[0] && g.recent[1] && g.rotate_timer)
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
    memset(&g, 0, sizeof g);
}

bool
tracing_on(void)
{
    return g.x != NULL;
}

void
tracing_log_run(const char *uid, long run)
{
    if (!g.x || !uid)
        return;
    uint8_t t[16], s[8];
    char th[33], sh[17];
    otel_trace_id(t, uid, run);
    otel_span_id(s, uid, run, "run", 0);
    otel_hex(th, t, 16);
    otel_hex(sh, s, 8);
    log_ctx_add("trace_id", th);
    log_ctx_add("span_id", sh);
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
                const char *stage, long attempt)
{
    if (!g.x || !pod || !o || !o->uid)
        return;
    uint8_t t[16], s[8];
    otel_trace_id(t, o->uid, run);
    otel_span_id(s, o->uid, run, stage, attempt);
    char tp[OTEL_TRACEPARENT_LEN], attrs[512];
    otel_traceparent(tp, t, s);
    /* names are DNS labels: nothing to percent-encode */
    snprintf(attrs, sizeof attrs, "k8s.namespace.name=%s,%s.name=%s,%s.uid=%s,%s.task=%s",
             o->ns, kind_key, o->name, kind_key, o->uid, kind_key, stage);
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

/* --- the OMJob trace ------------------------------------------------------------------------ */

struct stage {
    char pod[NAMING_LABEL_MAX + 1];
    const char *stage;
    long attempt;
    int64_t start_ms, end_ms;
    const char *node, *reason;
    int exit_code;
    bool failed;
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
stages_of(const struct ctl *ctl, const struct tracing_omjob *t, struct stage st[MAX_STAGES])
{
    const struct kobj *o = t->o;
    int n = 0;
    struct stage *m = &st[n++];
    *m = (struct stage){.stage = "main", .start_ms = t->start_ms, .end_ms = t->end_ms,
                        .reason = t->main_reason, .exit_code = t->main_exit};
    if (t->main_pod && *t->main_pod)
        snprintf(m->pod, sizeof m->pod, "%s", t->main_pod);
    else
        naming_child(m->pod, o->name, "main");
    m->failed = !t->main_reason || strcmp(t->main_reason, "Completed") || t->main_exit != 0;
    stage_from_pod(ctl, o->ns, m);
    for (int i = 0; i < t->exit_attempts && n < MAX_STAGES; i++) {
        struct stage *e = &st[n++];
        *e = (struct stage){.stage = "exit", .attempt = i, .start_ms = m->end_ms,
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
    return n;
}

static int
stage_span(struct buf *b, const struct tracing_omjob *t, const struct stage *s,
           const uint8_t trace[16], const uint8_t root[8])
{
    struct otel_span sp = {.name = strcmp(s->stage, "main") ? "omjob.exit_handler" : "omjob.main",
                           .has_parent = true, .start_ms = s->start_ms, .end_ms = s->end_ms,
                           .status = s->failed ? OTEL_STATUS_ERROR : OTEL_STATUS_OK,
                           .status_message = s->reason};
    memcpy(sp.trace_id, trace, 16);
    memcpy(sp.parent_id, root, 8);
    otel_span_id(sp.span_id, t->o->uid, 0, s->stage, s->attempt);
    const struct otel_attr attrs[] = {
        {"k8s.namespace.name", OTEL_STR, t->o->ns, 0},
        {"k8s.pod.name", OTEL_STR, s->pod, 0},
        {"k8s.node.name", OTEL_STR, s->node, 0},
        {"omjob.name", OTEL_STR, t->o->name, 0},
        {"omjob.stage", OTEL_STR, s->stage, 0},
        {"omjob.reason", OTEL_STR, s->reason, 0},
        {"omjob.retries", OTEL_INT, NULL, s->attempt},
        {s->exit_code >= 0 ? "omjob.exit_code" : "omjob.exit_code_unknown",
         s->exit_code >= 0 ? OTEL_INT : OTEL_BOOL, NULL, s->exit_code >= 0 ? s->exit_code : 1},
    };
    sp.attrs = attrs;
    sp.nattrs = sizeof attrs / sizeof attrs[0];
    return otel_span_json(b, &sp);
}

static int
omjob_spans(struct buf *b, const struct ctl *ctl, const struct tracing_omjob *t, size_t *nspans)
{
    struct stage st[MAX_STAGES];
    int n = stages_of(ctl, t, st);
    struct otel_span root = {.name = "omjob.run", .start_ms = t->start_ms, .end_ms = t->end_ms,
                             .status = t->failed ? OTEL_STATUS_ERROR : OTEL_STATUS_OK,
                             .status_message = t->failed ? t->main_reason : NULL};
    otel_trace_id(root.trace_id, t->o->uid, 0);
    otel_span_id(root.span_id, t->o->uid, 0, "run", 0);
    for (int i = 0; i < n; i++) { /* the root covers its children */
        if (st[i].start_ms && (!root.start_ms || st[i].start_ms < root.start_ms))
            root.start_ms = st[i].start_ms;
        if (st[i].end_ms > root.end_ms)
            root.end_ms = st[i].end_ms;
    }
    const struct otel_attr attrs[] = {
        {"k8s.namespace.name", OTEL_STR, t->o->ns, 0},
        {"omjob.name", OTEL_STR, t->o->name, 0},
        {"omjob.uid", OTEL_STR, t->o->uid, 0},
        {"omjob.phase", OTEL_STR, t->failed ? "Failed" : "Succeeded", 0},
        {"omjob.exit_handler.attempts", OTEL_INT, NULL, t->exit_attempts},
    };
    root.attrs = attrs;
    root.nattrs = sizeof attrs / sizeof attrs[0];
    int rc = otel_span_json(b, &root);
    for (int i = 0; i < n && !rc; i++) {
        rc |= buf_appends(b, ",");
        rc |= stage_span(b, t, &st[i], root.trace_id, root.span_id);
    }
    *nspans = (size_t)n + 1;
    return rc;
}

void
tracing_omjob_finished(const struct ctl *ctl, const struct tracing_omjob *t)
{
    if (!g.x || !t->o || !t->o->uid)
        return;
    uint8_t trace[16];
    char hex[33], tag[400];
    otel_trace_id(trace, t->o->uid, 0);
    otel_hex(hex, trace, 16);
    snprintf(tag, sizeof tag, OMJOB_API "/namespaces/%s/omjobs/%s|%s", t->o->ns, t->o->name, hex);
    if (known(tag))
        return;
    struct buf b;
    buf_init(&b, 64 * 1024);
    size_t nspans = 0;
    if (omjob_spans(&b, ctl, t, &nspans) == BUF_OK &&
        strset_add(g.pending, tag) >= 0 &&
        otel_exporter_submit(g.x, tag, b.data, b.len, nspans) == 0)
        log_info("run trace queued for export", "trace_id", hex);
    else
        settle(tag); /* not queued (full): another reconcile may try again later */
    buf_free(&b);
}
