#include "ctl/pods.h"

#include "ctl/naming.h"
#include "kube/cache.h"
#include "util/intern.h"
#include "util/timeutil.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- small JSON readers --------------------------------------------------------------- */

static const cJSON *
item(const cJSON *obj, const char *key)
{
    return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
}

static const char *
str_of(const cJSON *obj, const char *key)
{
    const cJSON *v = item(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The pod's short strings (struct pod_state): shared from the pool, else its own copy (the
 * bit of its index here in ps->owned). One table for trimming, copying and freeing. */
enum { W_PHASE, W_REASON, W_POD_TYPE, W_WAITING, W_TERM, W_NODE, W_COUNT };
static const size_t word_at[W_COUNT] = {
    offsetof(struct pod_state, phase),          offsetof(struct pod_state, reason),
    offsetof(struct pod_state, pod_type),       offsetof(struct pod_state, waiting_reason),
    offsetof(struct pod_state, term_reason),    offsetof(struct pod_state, node_name)};

static const char **
word(struct pod_state *ps, int w)
{
    return (const char **)(void *)((char *)ps + word_at[w]);
}

static const char *
word_of(const struct pod_state *ps, int w)
{
    return *(const char *const *)(const void *)((const char *)ps + word_at[w]);
}

/* Stores at most max bytes of src (absent: "") as word w. Returns false when out of memory. */
static bool
set_word(struct pod_state *ps, int w, const char *src, size_t max)
{
    bool owned;
    if (!(*word(ps, w) = intern_cut(src, max, &owned))) return false;
    if (owned) ps->owned |= 1u << w;
    return true;
}

static void
free_words(struct pod_state *ps)
{
    for (int w = 0; w < W_COUNT; w++)
        if (ps->owned & (1u << w)) free((char *)(uintptr_t)word_of(ps, w));
    ps->owned = 0;
}

static int64_t
time_of(const cJSON *obj, const char *key)
{
    int64_t ms = 0;
    const char *s = str_of(obj, key);
    if (!s || time_parse_rfc3339(s, &ms)) return 0;
    return ms;
}

/* An integral JSON number within [min, max]. */
static bool
int_in(const cJSON *v, int64_t min, int64_t max, int64_t *out)
{
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return false;
    double d = v->valuedouble;
    if (d != floor(d) || d < (double)min || d > (double)max) return false;
    *out = (int64_t)d;
    return true;
}

/* ---- trimming ------------------------------------------------------------------------- */

static const cJSON *
main_container_status(const cJSON *status)
{
    const cJSON *list = item(status, "containerStatuses"), *c;
    cJSON_ArrayForEach(c, list)
    {
        const char *name = str_of(c, "name");
        if (name && !strcmp(name, POD_CONTAINER)) return c;
    }
    return cJSON_GetArrayItem(list, 0);
}

/* Sets *wait_msg to the waiting message (or NULL) for the message fallback. Returns false
 * when out of memory. */
static bool
trim_container(struct pod_state *ps, const cJSON *cs, const char **wait_msg)
{
    const cJSON *state = item(cs, "state");
    const cJSON *waiting = item(state, "waiting"), *term = item(state, "terminated");
    *wait_msg = str_of(waiting, "message");
    if (!set_word(ps, W_WAITING, str_of(waiting, "reason"), 39))
        return false;
    ps->started_ms = time_of(item(state, "running"), "startedAt");
    if (cJSON_IsObject(term)) {
        int64_t code = -1;
        ps->terminated = true;
        ps->exit_code =
            int_in(item(term, "exitCode"), -2147483647 - 1, 2147483647, &code) ? (int)code : -1;
        if (!set_word(ps, W_TERM, str_of(term, "reason"), 39))
            return false;
        ps->started_ms = time_of(term, "startedAt");
        ps->finished_ms = time_of(term, "finishedAt");
    }
    return true;
}

/* Returns the PodScheduled=False message (or NULL) for the message fallback. */
static const char *
trim_conditions(struct pod_state *ps, const cJSON *status)
{
    const char *sched_msg = NULL;
    const cJSON *c;
    cJSON_ArrayForEach(c, item(status, "conditions"))
    {
        const char *type = str_of(c, "type"), *st = str_of(c, "status");
        if (!type || !st) continue;
        if (!strcmp(type, "Ready")) {
            ps->ready = !strcmp(st, "True");
            ps->ready_changed_ms = time_of(c, "lastTransitionTime");
        } else if (!strcmp(type, "PodScheduled") && !strcmp(st, "False")) {
            const char *reason = str_of(c, "reason");
            ps->unschedulable = reason && !strcmp(reason, "Unschedulable");
            sched_msg = str_of(c, "message");
        }
    }
    return sched_msg;
}

void *
pod_trim(const cJSON *pod)
{
    struct pod_state *ps = calloc(1, sizeof *ps);
    if (!ps) return NULL;
    ps->phase = ps->reason = ps->pod_type = ps->waiting_reason = ps->term_reason = "";
    const cJSON *meta = item(pod, "metadata"), *spec = item(pod, "spec");
    const cJSON *status = item(pod, "status");
    const char *node = str_of(spec, "nodeName");
    if ((node && *node && !set_word(ps, W_NODE, node, SIZE_MAX)) || /* a name: never cut */
        !set_word(ps, W_POD_TYPE, str_of(item(meta, "labels"), POD_LABEL_TYPE), 15) ||
        !set_word(ps, W_PHASE, str_of(status, "phase"), 11) ||
        !set_word(ps, W_REASON, str_of(status, "reason"), 39))
        goto fail;
    if (str_of(meta, "deletionTimestamp")) {
        ps->deletion_ms = time_of(meta, "deletionTimestamp");
        if (!ps->deletion_ms) /* unparsable but present: still being deleted */
            ps->deletion_ms = 1;
    }
    if (!int_in(item(meta, "deletionGracePeriodSeconds"), 0, INT32_MAX, &ps->deletion_grace_s))
        ps->deletion_grace_s = -1;
    ps->start_time_ms = time_of(status, "startTime");
    ps->created_ms = time_of(meta, "creationTimestamp");
    const char *sched_msg = trim_conditions(ps, status);
    const char *wait_msg;
    if (!trim_container(ps, main_container_status(status), &wait_msg))
        goto fail;
    const char *msg = str_of(status, "message");
    const char *m = msg ? msg : wait_msg ? wait_msg : sched_msg;
    if (m && *m)
        ps->message = strndup(m, 159); /* no memory: no message, the pod is still usable */
    return ps;
fail:
    pod_state_free(ps);
    return NULL;
}

void
pod_state_free(void *p)
{
    struct pod_state *ps = p;
    if (!ps) return;
    free_words(ps);
    free(ps->message);
    free(ps);
}

void *
node_trim(const cJSON *node)
{
    struct node_state *ns = calloc(1, sizeof *ns);
    if (!ns) return NULL;
    ns->ready = -1;
    const cJSON *c;
    cJSON_ArrayForEach(c, item(item(node, "status"), "conditions"))
    {
        const char *type = str_of(c, "type"), *st = str_of(c, "status");
        if (!type || strcmp(type, "Ready") || !st) continue;
        ns->ready = !strcmp(st, "True") ? 1 : !strcmp(st, "False") ? 0 : -1;
        ns->ready_since_ms = time_of(c, "lastTransitionTime");
    }
    const cJSON *t;
    cJSON_ArrayForEach(t, item(item(node, "spec"), "taints"))
    {
        const char *key = str_of(t, "key");
        if (key && !strcmp(key, "node.kubernetes.io/unreachable")) ns->unreachable_taint = true;
    }
    return ns;
}

void
node_state_free(void *p)
{
    free(p);
}

const struct node_state pod_node_deleted = {.ready = -1, .ready_since_ms = 1, .deleted = true};

struct pod_state *
pod_state_dup(const struct pod_state *ps)
{
    struct pod_state *d = malloc(sizeof *d);
    if (!d) return NULL;
    *d = *ps;
    d->owned = 0; /* the copy shares only pooled strings; the pod's own ones are copied */
    d->message = NULL;
    for (int w = 0; w < W_COUNT; w++) {
        if (!(ps->owned & (1u << w))) continue;
        if (!(*word(d, w) = strdup(word_of(ps, w)))) goto fail;
        d->owned |= 1u << w;
    }
    if (ps->message && !(d->message = strdup(ps->message))) goto fail;
    return d;
fail:
    pod_state_free(d); /* frees only what it owns */
    return NULL;
}

/* ---- classification ------------------------------------------------------------------- */

bool
pod_outcome_is_final(enum pod_outcome_kind kind)
{
    return kind == POD_SUCCEEDED || kind == POD_FAILED || kind == POD_LOST || kind == POD_STUCK;
}

const char *
pod_outcome_kind_name(enum pod_outcome_kind kind)
{
    switch (kind) {
    case POD_PENDING:
        return "Pending";
    case POD_RUNNING:
        return "Running";
    case POD_SUCCEEDED:
        return "Succeeded";
    case POD_FAILED:
        return "Failed";
    case POD_LOST:
        return "Lost";
    case POD_STUCK:
        return "Stuck";
    }
    return "Unknown";
}

/* Reasons are static strings so an outcome outlives the payload it came from. */
static const char *
static_reason(const char *raw, const char *const *known, const char *fallback)
{
    for (; raw && *known; known++)
        if (!strcmp(raw, *known)) return *known;
    return fallback;
}

static const char *const term_reasons[] = {"Completed",          "Error",      "OOMKilled",
                                           "ContainerCannotRun", "StartError", NULL};
static const char *const pod_reasons[] = {
    "NodeLost", "NodeShutdown", "Shutdown", "Terminated", "UnexpectedAdmissionError", NULL};

static struct pod_outcome
outcome(enum pod_outcome_kind kind, const char *reason, int exit_code)
{
    struct pod_outcome o = {.kind = kind, .exit_code = exit_code, .reason = reason};
    return o;
}

static void set_msg(struct pod_outcome *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
set_msg(struct pod_outcome *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->message, sizeof o->message, fmt, ap);
    va_end(ap);
}

/* Deleted before the container finished on its own: the deletion request time is
 * deletionTimestamp - deletionGracePeriodSeconds in every snapshot of a real delete. */
static int64_t
deletion_of(const struct kobj *pod, const struct pod_state *ps)
{
    return pod && pod->deletion_ms ? pod->deletion_ms : ps->deletion_ms;
}

static bool
deleted_before_finish(const struct kobj *pod, const struct pod_state *ps)
{
    int64_t deletion_ms = deletion_of(pod, ps);
    if (!deletion_ms) return false;
    if (!ps->terminated || !ps->finished_ms) return true;
    int64_t grace_ms = ps->deletion_grace_s > 0 ? ps->deletion_grace_s * 1000 : 0;
    return ps->finished_ms >= deletion_ms - grace_ms;
}

static struct pod_outcome
classify_terminal(const struct kobj *pod, const struct pod_state *ps)
{
    bool failed = !strcmp(ps->phase, "Failed");
    int term_exit = ps->terminated ? ps->exit_code : -1;
    struct pod_outcome o;
    if (failed && !strcmp(ps->reason, "DeadlineExceeded")) {
        o = outcome(POD_FAILED, "DeadlineExceeded", term_exit);
        set_msg(&o, "deadline exceeded: %s",
                *pod_message(ps) ? pod_message(ps) : "the pod ran longer than activeDeadlineSeconds");
    } else if (failed && !strcmp(ps->reason, "Evicted")) {
        o = outcome(POD_FAILED, "Evicted", term_exit);
        set_msg(&o, "evicted: %s", *pod_message(ps) ? pod_message(ps) : "(no message)");
    } else if (deleted_before_finish(pod, ps)) {
        o = outcome(POD_FAILED, "Deleted", term_exit);
        if (ps->terminated)
            set_msg(&o, "the pod was deleted while it ran; container exited %d (%s)", ps->exit_code,
                    *ps->term_reason ? ps->term_reason : "no reason");
        else
            set_msg(&o, "the pod was deleted while it ran");
    } else if (!failed) {
        o = outcome(POD_SUCCEEDED, "Completed", 0);
        set_msg(&o, "container %s exited 0", POD_CONTAINER);
    } else if (ps->terminated) {
        const char *r = static_reason(ps->term_reason, term_reasons, "Error");
        o = outcome(POD_FAILED, r, ps->exit_code);
        set_msg(&o, "container %s exited %d (%s)%s%s", POD_CONTAINER, ps->exit_code,
                *ps->term_reason ? ps->term_reason : "no reason", *pod_message(ps) ? ": " : "",
                pod_message(ps));
    } else {
        o = outcome(POD_FAILED, static_reason(ps->reason, pod_reasons, "Error"), -1);
        set_msg(&o, "the pod failed without a container exit status%s%s%s%s",
                *ps->reason ? ": " : "", ps->reason, *pod_message(ps) ? ": " : "", pod_message(ps));
    }
    return o;
}

static bool
node_is_lost(const struct node_state *node, int64_t now_ms, int64_t grace_ms)
{
    return node && node->ready != 1 && node->ready_since_ms > 0 &&
           now_ms - node->ready_since_ms >= grace_ms;
}

static struct pod_outcome
classify_pending(const struct kobj *pod, const struct pod_state *ps, int64_t now_ms,
                 int64_t start_deadline_ms)
{
    char why[224];
    if (*ps->waiting_reason)
        snprintf(why, sizeof why, "%s%s%s", ps->waiting_reason, *pod_message(ps) ? ": " : "",
                 pod_message(ps));
    else if (ps->unschedulable)
        snprintf(why, sizeof why, "Unschedulable%s%s", *pod_message(ps) ? ": " : "", pod_message(ps));
    else
        snprintf(why, sizeof why, "not started (phase %s)", *ps->phase ? ps->phase : "unset");
    struct pod_outcome o;
    if (start_deadline_ms > 0 && now_ms >= start_deadline_ms) {
        o = outcome(POD_STUCK, "StartFailed", -1);
        set_msg(&o, "the pod did not start before its deadline: %s", why);
    } else {
        o = outcome(POD_PENDING, deletion_of(pod, ps) ? "Terminating" : "Pending", -1);
        set_msg(&o, "%s", why);
    }
    return o;
}

struct pod_outcome
pod_classify(const struct kobj *pod, const struct pod_state *ps, const struct node_state *node,
             int64_t now_ms, int64_t node_lost_grace_ms, int64_t start_deadline_ms)
{
    static const struct pod_state nothing_known = {
        .phase = "", .reason = "", .pod_type = "", .waiting_reason = "", .term_reason = ""};
    struct pod_outcome o;
    if (!ps && !pod) {
        o = outcome(POD_LOST, "Deleted", -1);
        set_msg(&o, "the pod disappeared before it reached a terminal state");
        return o;
    }
    if (!ps) ps = &nothing_known;
    if (!strcmp(ps->phase, "Succeeded") || !strcmp(ps->phase, "Failed"))
        return classify_terminal(pod, ps);
    if (!pod) {
        o = outcome(POD_LOST, "Deleted", -1);
        set_msg(&o, "the pod disappeared before it reached a terminal state (last phase %s)",
                *ps->phase ? ps->phase : "unset");
        return o;
    }
    bool unknown = !strcmp(ps->phase, "Unknown");
    if (node_is_lost(node, now_ms, node_lost_grace_ms)) {
        o = outcome(POD_LOST, "NodeLost", -1);
        if (node->deleted) {
            set_msg(&o, "node %s was deleted", ps->node_name ? ps->node_name : "(unknown)");
            return o;
        }
        set_msg(&o,
                "node %s has been %s for %lld s; the container may still run if the node is "
                "only partitioned",
                ps->node_name ? ps->node_name : "(unknown)",
                node->ready == 0 ? "NotReady" : "unreachable",
                (long long)((now_ms - node->ready_since_ms) / 1000));
        return o;
    }
    if (unknown && !node && ps->ready_changed_ms > 0 &&
        now_ms - ps->ready_changed_ms >= node_lost_grace_ms) {
        o = outcome(POD_LOST, "NodeLost", -1);
        set_msg(&o, "pod phase Unknown for %lld s (node %s unreachable)",
                (long long)((now_ms - ps->ready_changed_ms) / 1000),
                ps->node_name ? ps->node_name : "(unknown)");
        return o;
    }
    if (unknown || !strcmp(ps->phase, "Running")) {
        o = outcome(POD_RUNNING,
                    deletion_of(pod, ps) ? "Terminating"
                    : unknown            ? "Unknown"
                                         : "Running",
                    -1);
        set_msg(&o, "%s", unknown ? "pod phase Unknown" : "running");
        return o;
    }
    return classify_pending(pod, ps, now_ms, start_deadline_ms);
}

/* The node's kubelet came back at its Ready transition and only then saw a deletion made
 * while it was away; both times are stamped by that kubelet (no clock skew with finishedAt). */
static bool
finished_before_return(const struct pod_state *ps, const struct node_state *node)
{
    return node && node->ready == 1 && node->ready_since_ms > 0 && ps->terminated &&
           ps->finished_ms > 0 && ps->finished_ms < node->ready_since_ms;
}

int
pod_late_outcome(const char *recorded_reason, const struct kobj *pod, const struct pod_state *ps,
                 const struct node_state *node, struct pod_outcome *late)
{
    if (!recorded_reason || strcmp(recorded_reason, "NodeLost") || !ps) return 0;
    if (strcmp(ps->phase, "Succeeded") && strcmp(ps->phase, "Failed")) return 0;
    struct pod_outcome o = classify_terminal(pod, ps);
    if (o.kind != POD_SUCCEEDED && !strcmp(o.reason, "Deleted")) {
        /* a terminal report means its kubelet is back; the node's Ready may not be read yet */
        if (node && !node->deleted && node->ready != 1) return -1;
        if (!finished_before_return(ps, node)) return 0; /* stopped by the deletion */
        struct pod_state own = *ps;                        /* it ended on its own */
        own.deletion_ms = 0;
        o = classify_terminal(NULL, &own);
    }
    char first[sizeof o.message];
    memcpy(first, o.message, sizeof first);
    set_msg(&o, "%.180s (" POD_LATE_MARK " %.40s)", first,
            ps->node_name ? ps->node_name : "(unknown)");
    *late = o;
    return 1;
}

bool
pod_may_still_run(const struct pod_outcome *o, const struct kobj *pod,
                  const struct node_state *node)
{
    return o->kind == POD_LOST && !strcmp(o->reason, "NodeLost") && pod && !(node && node->deleted);
}

/* ---- the pod builder ------------------------------------------------------------------- */

#define POD_MAX_TOTAL_BYTES (1024 * 1024) /* env values + command + args of one stage */

struct bctx {
    char *err;
    size_t errlen;
    const char *path;   /* "spec.mainPodSpec" or "spec.exitHandlerSpec" */
    size_t total_bytes; /* against POD_MAX_TOTAL_BYTES */
    bool oom;
};

static int bfail(struct bctx *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
bfail(struct bctx *b, const char *fmt, ...)
{
    if (b->errlen && !*b->err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(b->err, b->errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Every constructor result goes through here: NULL marks the build as out of memory. */
static cJSON *
add(struct bctx *b, cJSON *obj, const char *key, cJSON *v)
{
    if (!v || !obj) {
        b->oom = true;
        cJSON_Delete(v);
        return NULL;
    }
    if (key) {
        cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
        if (!cJSON_AddItemToObject(obj, key, v)) {
            b->oom = true;
            cJSON_Delete(v);
            return NULL;
        }
    } else if (!cJSON_AddItemToArray(obj, v)) {
        b->oom = true;
        cJSON_Delete(v);
        return NULL;
    }
    return v;
}

static void
add_str(struct bctx *b, cJSON *obj, const char *key, const char *s)
{
    add(b, obj, key, cJSON_CreateString(s ? s : ""));
}

static bool
absent(const cJSON *v)
{
    return !v || cJSON_IsNull(v);
}

/* An optional string field: 0 with *out NULL when absent, -1 when not a non-empty string
 * of at most max bytes. */
static int
opt_string(struct bctx *b, const cJSON *obj, const char *path, const char *key, size_t max,
           const char **out)
{
    const cJSON *v = item(obj, key);
    *out = NULL;
    if (absent(v)) return 0;
    if (!cJSON_IsString(v) || !*v->valuestring)
        return bfail(b, "%s.%s: must be a non-empty string", path, key);
    if (strlen(v->valuestring) > max)
        return bfail(b, "%s.%s: longer than %zu bytes", path, key, max);
    *out = v->valuestring;
    return 0;
}

static int
charge(struct bctx *b, size_t n)
{
    b->total_bytes += n;
    if (b->total_bytes > POD_MAX_TOTAL_BYTES)
        return bfail(b, "%s: env values, command and args exceed %d bytes in total", b->path,
                     POD_MAX_TOTAL_BYTES);
    return 0;
}

/* command/args: an array of strings, copied into the container. */
static int
copy_string_list(struct bctx *b, const cJSON *sp, const char *key, cJSON *container)
{
    const cJSON *src = item(sp, key), *s;
    if (absent(src)) return 0;
    if (!cJSON_IsArray(src)) return bfail(b, "%s.%s: must be an array of strings", b->path, key);
    int n = cJSON_GetArraySize(src), i = 0;
    if (n > POD_MAX_ARGS)
        return bfail(b, "%s.%s: %d entries, at most %d", b->path, key, n, POD_MAX_ARGS);
    cJSON *dst = add(b, container, key, cJSON_CreateArray());
    cJSON_ArrayForEach(s, src)
    {
        if (!cJSON_IsString(s)) return bfail(b, "%s.%s[%d]: must be a string", b->path, key, i);
        size_t len = strlen(s->valuestring);
        if (len > POD_MAX_VALUE_BYTES)
            return bfail(b, "%s.%s[%d]: longer than %d bytes", b->path, key, i,
                         POD_MAX_VALUE_BYTES);
        if (charge(b, len)) return -1;
        add_str(b, dst, NULL, s->valuestring);
        i++;
    }
    return 0;
}

enum map_kind { MAP_LABELS, MAP_ANNOTATIONS, MAP_SELECTOR };

/* A map of strings (labels, annotations, nodeSelector): validated, copied into dst. */
static int
copy_string_map(struct bctx *b, const cJSON *sp, const char *key, enum map_kind kind, cJSON *dst)
{
    const cJSON *src = item(sp, key), *v;
    if (absent(src)) return 0;
    if (!cJSON_IsObject(src)) return bfail(b, "%s.%s: must be a map of strings", b->path, key);
    if (cJSON_GetArraySize(src) > POD_MAX_MAP)
        return bfail(b, "%s.%s: more than %d entries", b->path, key, POD_MAX_MAP);
    size_t bytes = 0;
    cJSON_ArrayForEach(v, src)
    {
        if (!cJSON_IsString(v))
            return bfail(b, "%s.%s[%s]: must be a string", b->path, key, v->string);
        if (kind != MAP_SELECTOR && !naming_is_qualified_name(v->string))
            return bfail(b, "%s.%s: \"%.80s\" is not a valid key", b->path, key, v->string);
        if (kind == MAP_LABELS && !naming_is_label_value(v->valuestring))
            return bfail(b, "%s.%s[%s]: \"%.80s\" is not a valid label value", b->path, key,
                         v->string, v->valuestring);
        bytes += strlen(v->string) + strlen(v->valuestring);
        if (bytes > POD_MAX_ANNOTATION_BYTES)
            return bfail(b, "%s.%s: larger than %d bytes", b->path, key, POD_MAX_ANNOTATION_BYTES);
        add_str(b, dst, v->string, v->valuestring);
    }
    return 0;
}

/* Kubernetes' env var name rule: [-._a-zA-Z][-._a-zA-Z0-9]* */
static bool
env_name_ok(const char *s)
{
    if (!*s || (*s >= '0' && *s <= '9')) return false;
    for (; *s; s++) {
        char c = *s;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.' || c == '_';
        if (!ok) return false;
    }
    return true;
}

/* valueFrom: exactly one source, with its required field. */
static int
check_value_from(struct bctx *b, const cJSON *vf, int i)
{
    static const struct {
        const char *source, *required;
    } sources[] = {{"configMapKeyRef", "key"},
                   {"secretKeyRef", "key"},
                   {"fieldRef", "fieldPath"},
                   {"resourceFieldRef", "resource"}};
    if (!cJSON_IsObject(vf)) return bfail(b, "%s.env[%d].valueFrom: must be an object", b->path, i);
    int found = 0;
    for (size_t k = 0; k < sizeof sources / sizeof sources[0]; k++) {
        const cJSON *src = item(vf, sources[k].source);
        if (absent(src)) continue;
        found++;
        const char *req = str_of(src, sources[k].required);
        if (!cJSON_IsObject(src) || !req || !*req)
            return bfail(b, "%s.env[%d].valueFrom.%s.%s: required", b->path, i, sources[k].source,
                         sources[k].required);
    }
    if (found != 1)
        return bfail(b,
                     "%s.env[%d].valueFrom: needs exactly one of configMapKeyRef, secretKeyRef, "
                     "fieldRef, resourceFieldRef",
                     b->path, i);
    return 0;
}

/* One user env entry: validated and returned as a fresh {name, value|valueFrom}. */
static int
check_env_entry(struct bctx *b, const cJSON *e, int i, const char **name)
{
    if (!cJSON_IsObject(e)) return bfail(b, "%s.env[%d]: must be an object", b->path, i);
    *name = str_of(e, "name");
    if (!*name || !**name) return bfail(b, "%s.env[%d].name: required", b->path, i);
    if (strlen(*name) > 256 || !env_name_ok(*name))
        return bfail(b, "%s.env[%d].name: \"%.80s\" is not a valid environment variable name",
                     b->path, i, *name);
    const cJSON *value = item(e, "value"), *vf = item(e, "valueFrom");
    if (!absent(value) && !cJSON_IsString(value))
        return bfail(b, "%s.env[%d].value (%s): must be a string", b->path, i, *name);
    size_t len = cJSON_IsString(value) ? strlen(value->valuestring) : 0;
    if (len > POD_MAX_VALUE_BYTES)
        return bfail(b, "%s.env[%d].value (%s): longer than %d bytes", b->path, i, *name,
                     POD_MAX_VALUE_BYTES);
    if (len && !absent(vf))
        return bfail(b, "%s.env[%d] (%s): value and valueFrom are both set", b->path, i, *name);
    if (!absent(vf) && check_value_from(b, vf, i)) return -1;
    return charge(b, len);
}

/* Is name one of the injected pairs' names? */
static bool
is_injected(const char *const *inject, const char *name)
{
    for (size_t i = 0; inject && inject[i]; i += 2)
        if (!strcmp(inject[i], name))
            return true;
    return false;
}

static void
add_env(struct bctx *b, cJSON *env, const char *name, const char *value)
{
    cJSON *e = add(b, env, NULL, cJSON_CreateObject());
    if (e) {
        add_str(b, e, "name", name);
        add_str(b, e, "value", value);
    }
}

/* The spec's env, then the injected name/value pairs, which replace same-named entries. */
static int
build_env(struct bctx *b, const cJSON *sp, const char *const *inject, cJSON *container)
{
    const cJSON *src = item(sp, "env"), *e;
    if (!absent(src) && !cJSON_IsArray(src)) return bfail(b, "%s.env: must be an array", b->path);
    int n = cJSON_GetArraySize(src), i = 0;
    if (n > POD_MAX_ENV) return bfail(b, "%s.env: %d entries, at most %d", b->path, n, POD_MAX_ENV);
    if (n == 0 && !inject) return 0;
    cJSON *env = add(b, container, "env", cJSON_CreateArray());
    cJSON_ArrayForEach(e, src)
    {
        const char *ename = NULL;
        if (check_env_entry(b, e, i++, &ename)) return -1;
        if (is_injected(inject, ename)) continue; /* ours replace the spec's */
        cJSON *copy = add(b, env, NULL, cJSON_CreateObject());
        add_str(b, copy, "name", ename);
        const cJSON *value = item(e, "value"), *vf = item(e, "valueFrom");
        if (cJSON_IsString(value)) add_str(b, copy, "value", value->valuestring);
        if (!absent(vf)) add(b, copy, "valueFrom", cJSON_Duplicate(vf, 1));
    }
    for (size_t k = 0; inject && inject[k]; k += 2)
        add_env(b, env, inject[k], inject[k + 1] ? inject[k + 1] : "");
    return 0;
}

static int
copy_quantities(struct bctx *b, const cJSON *res, const char *key, cJSON *dst_res)
{
    const cJSON *src = item(res, key), *q;
    if (absent(src)) return 0;
    if (!cJSON_IsObject(src) || cJSON_GetArraySize(src) > POD_MAX_MAP)
        return bfail(b, "%s.resources.%s: must be a map of quantities (at most %d)", b->path, key,
                     POD_MAX_MAP);
    cJSON *dst = add(b, dst_res, key, cJSON_CreateObject());
    cJSON_ArrayForEach(q, src)
    {
        char num[32];
        if (cJSON_IsString(q) && *q->valuestring && strlen(q->valuestring) < 64) {
            add_str(b, dst, q->string, q->valuestring);
        } else if (cJSON_IsNumber(q) && isfinite(q->valuedouble) && q->valuedouble >= 0) {
            snprintf(num, sizeof num, "%.15g", q->valuedouble);
            add_str(b, dst, q->string, num);
        } else {
            return bfail(b, "%s.resources.%s.%s: must be a quantity (\"500m\", \"1Gi\", 2)",
                         b->path, key, q->string);
        }
    }
    return 0;
}

static int
build_resources(struct bctx *b, const cJSON *sp, cJSON *container)
{
    const cJSON *res = item(sp, "resources");
    if (absent(res)) return 0;
    if (!cJSON_IsObject(res)) return bfail(b, "%s.resources: must be an object", b->path);
    cJSON *dst = add(b, container, "resources", cJSON_CreateObject());
    if (copy_quantities(b, res, "requests", dst) || copy_quantities(b, res, "limits", dst))
        return -1;
    return 0;
}

/* Keys only a PodSecurityContext has; everything else belongs to the container. */
static const char *const pod_only_sc[] = {"fsGroup", "fsGroupChangePolicy", "supplementalGroups",
                                          "sysctls", NULL};

/* Restricted-by-default container securityContext, then the user's keys on top (user keys
 * win); pod-only keys go to the pod's securityContext, which gets RuntimeDefault seccomp
 * unless the user chose a profile. runAsNonRoot is NOT defaulted: images whose USER is a
 * name (OpenMetadata's ingestion images among them) would then fail to start with
 * CreateContainerConfigError, and a drop-in replacement must run the pods it ran before.
 * Users on "restricted" namespaces set runAsNonRoot/runAsUser in securityContext. */
static int
build_security(struct bctx *b, const cJSON *sp, cJSON *container, cJSON *podspec)
{
    const cJSON *user = item(sp, "securityContext"), *k;
    if (!absent(user) && !cJSON_IsObject(user))
        return bfail(b, "%s.securityContext: must be an object", b->path);
    cJSON *csc = add(b, container, "securityContext", cJSON_CreateObject());
    cJSON *psc = add(b, podspec, "securityContext", cJSON_CreateObject());
    add(b, csc, "allowPrivilegeEscalation", cJSON_CreateFalse());
    cJSON *caps = add(b, csc, "capabilities", cJSON_CreateObject());
    cJSON *drop = add(b, caps, "drop", cJSON_CreateArray());
    add_str(b, drop, NULL, "ALL");
    cJSON *seccomp = add(b, csc, "seccompProfile", cJSON_CreateObject());
    add_str(b, seccomp, "type", "RuntimeDefault");
    add(b, psc, "seccompProfile", cJSON_Duplicate(seccomp, 1));
    bool sets_ape = !absent(item(user, "allowPrivilegeEscalation"));
    cJSON_ArrayForEach(k, user)
    {
        bool pod_only = static_reason(k->string, pod_only_sc, NULL) != NULL;
        add(b, pod_only ? psc : csc, k->string, cJSON_Duplicate(k, 1));
        if (!strcmp(k->string, "seccompProfile")) add(b, psc, k->string, cJSON_Duplicate(k, 1));
    }
    /* privileged implies escalation; the API server rejects privileged + false. */
    if (cJSON_IsTrue(item(user, "privileged")) && !sets_ape)
        cJSON_DeleteItemFromObjectCaseSensitive(csc, "allowPrivilegeEscalation");
    return 0;
}

static int
build_pull_secrets(struct bctx *b, const cJSON *sp, const char *path, cJSON *podspec)
{
    const cJSON *src = item(sp, "imagePullSecrets"), *s;
    if (absent(src)) return 0;
    if (!cJSON_IsArray(src) || cJSON_GetArraySize(src) > POD_MAX_LIST)
        return bfail(b, "%s.imagePullSecrets: must be an array of {name} (at most %d)", path,
                     POD_MAX_LIST);
    cJSON *dst = add(b, podspec, "imagePullSecrets", cJSON_CreateArray());
    int i = 0;
    cJSON_ArrayForEach(s, src)
    {
        const char *name = str_of(s, "name");
        if (!name || !naming_is_dns1123_subdomain(name))
            return bfail(b, "%s.imagePullSecrets[%d].name: must be a secret name", path, i);
        cJSON *ref = add(b, dst, NULL, cJSON_CreateObject());
        add_str(b, ref, "name", name);
        i++;
    }
    return 0;
}

static int
build_tolerations(struct bctx *b, const cJSON *sp, cJSON *podspec)
{
    const cJSON *src = item(sp, "tolerations"), *t;
    if (absent(src)) return 0;
    if (!cJSON_IsArray(src) || cJSON_GetArraySize(src) > POD_MAX_LIST)
        return bfail(b, "%s.tolerations: must be an array of objects (at most %d)", b->path,
                     POD_MAX_LIST);
    cJSON *dst = add(b, podspec, "tolerations", cJSON_CreateArray());
    cJSON_ArrayForEach(t, src)
    {
        if (!cJSON_IsObject(t))
            return bfail(b, "%s.tolerations: every entry must be an object", b->path);
        add(b, dst, NULL, cJSON_Duplicate(t, 1));
    }
    return 0;
}

static const char *const pull_policies[] = {"Always", "IfNotPresent", "Never", NULL};

/* image, imagePullPolicy, imagePullSecrets: from the stage's spec, or, when it has no
 * image, from the stage it inherits them from (an OMJob's exit handler: mainPodSpec). */
static int
build_image(struct bctx *b, const struct pod_stage *st, cJSON *container, cJSON *podspec)
{
    const cJSON *sp = st->spec;
    const char *path = b->path, *image, *policy;
    if (st->image_from && absent(item(sp, "image"))) {
        sp = st->image_from;
        path = st->image_path;
    }
    if (opt_string(b, sp, path, "image", 1024, &image)) return -1;
    if (!image) return bfail(b, "%s.image: required", path);
    add_str(b, container, "image", image);
    if (opt_string(b, sp, path, "imagePullPolicy", 32, &policy)) return -1;
    if (policy && !static_reason(policy, pull_policies, NULL))
        return bfail(b, "%s.imagePullPolicy: \"%s\" is not Always, IfNotPresent or Never", path,
                     policy);
    if (policy) add_str(b, container, "imagePullPolicy", policy);
    return build_pull_secrets(b, sp, path, podspec);
}

/* activeDeadlineSeconds of a stage: an integer >= 1 at obj.key, if present. */
static int
deadline_of(struct bctx *b, const cJSON *obj, const char *path, int64_t *out)
{
    const cJSON *v = item(obj, "activeDeadlineSeconds");
    if (absent(v)) return 0;
    if (!int_in(v, 1, INT32_MAX, out))
        return bfail(b, "%s.activeDeadlineSeconds: must be an integer >= 1", path);
    return 0;
}

static int
build_podspec(struct bctx *b, const struct pod_stage *st, cJSON *podspec)
{
    const cJSON *sp = st->spec;
    add_str(b, podspec, "restartPolicy", "Never");
    cJSON *containers = add(b, podspec, "containers", cJSON_CreateArray());
    cJSON *c = add(b, containers, NULL, cJSON_CreateObject());
    add_str(b, c, "name", POD_CONTAINER);
    if (build_image(b, st, c, podspec) || copy_string_list(b, sp, "command", c) ||
        copy_string_list(b, sp, "args", c) || build_env(b, sp, st->inject_env, c) ||
        build_resources(b, sp, c) || build_security(b, sp, c, podspec) ||
        build_tolerations(b, sp, podspec))
        return -1;
    const char *sa;
    if (opt_string(b, sp, b->path, "serviceAccountName", 253, &sa)) return -1;
    if (sa && !naming_is_dns1123_subdomain(sa))
        return bfail(b, "%s.serviceAccountName: \"%.80s\" is not a valid name", b->path, sa);
    if (sa) add_str(b, podspec, "serviceAccountName", sa);
    if (!absent(item(sp, "nodeSelector")) &&
        copy_string_map(b, sp, "nodeSelector", MAP_SELECTOR,
                        add(b, podspec, "nodeSelector", cJSON_CreateObject())))
        return -1;
    int64_t deadline = 0;
    if (deadline_of(b, sp, b->path, &deadline)) return -1;
    if (st->deadline_s > 0) deadline = st->deadline_s; /* the workflow-level bound wins */
    if (deadline) add(b, podspec, "activeDeadlineSeconds", cJSON_CreateNumber((double)deadline));
    return 0;
}

static void
build_owner(struct bctx *b, cJSON *meta, const struct pod_owner *o)
{
    cJSON *refs = add(b, meta, "ownerReferences", cJSON_CreateArray());
    cJSON *ref = add(b, refs, NULL, cJSON_CreateObject());
    add_str(b, ref, "apiVersion", o->api_version);
    add_str(b, ref, "kind", o->kind);
    add_str(b, ref, "name", o->name);
    add_str(b, ref, "uid", o->uid);
    add(b, ref, "controller", cJSON_CreateTrue());
    add(b, ref, "blockOwnerDeletion", cJSON_CreateTrue());
}

/* Spec labels, then the owner's pipeline/run-id labels, then ours (not overridable). */
static int
build_metadata(struct bctx *b, const struct pod_owner *o, const cJSON *sp, const char *pod_name,
               cJSON *meta)
{
    add_str(b, meta, "name", pod_name);
    add_str(b, meta, "namespace", o->namespace);
    cJSON *labels = add(b, meta, "labels", cJSON_CreateObject());
    if (copy_string_map(b, sp, "labels", MAP_LABELS, labels)) return -1;
    static const char *const copied[] = {"app.kubernetes.io/pipeline", "app.kubernetes.io/run-id"};
    for (size_t i = 0; i < 2; i++) {
        const char *v = str_of(o->labels, copied[i]);
        if (v && naming_is_label_value(v)) add_str(b, labels, copied[i], v);
    }
    char value[NAMING_LABEL_MAX + 1];
    naming_label_value(value, o->name);
    add_str(b, labels, o->name_label, value);
    if (o->type_label) add_str(b, labels, o->type_label, o->type);
    for (size_t i = 0; o->extra_labels && o->extra_labels[i]; i += 2) {
        naming_label_value(value, o->extra_labels[i + 1] ? o->extra_labels[i + 1] : "");
        add_str(b, labels, o->extra_labels[i], value);
    }
    add_str(b, labels, POD_LABEL_MANAGED_BY, POD_MANAGED_BY);
    if (!absent(item(sp, "annotations")) &&
        copy_string_map(b, sp, "annotations", MAP_ANNOTATIONS,
                        add(b, meta, "annotations", cJSON_CreateObject())))
        return -1;
    build_owner(b, meta, o);
    return 0;
}

static int
check_owner(struct bctx *b, const struct pod_owner *o, const char *pod_name)
{
    const char *name = o->name, *ns = o->namespace, *uid = o->uid;
    if (!name || !naming_is_dns1123_subdomain(name))
        return bfail(b, "metadata.name: missing or not a DNS-1123 subdomain");
    if (!ns || !naming_is_dns1123_label(ns))
        return bfail(b, "metadata.namespace: missing or not a DNS-1123 label");
    if (!uid || !*uid) return bfail(b, "metadata.uid: missing");
    if (!pod_name || !naming_is_dns1123_label(pod_name))
        return bfail(b, "pod name \"%.80s\" is not a DNS-1123 label", pod_name ? pod_name : "");
    return 0;
}

cJSON *
pod_build_stage(const struct pod_owner *o, const struct pod_stage *st, const char *pod_name,
                char *err, size_t errlen)
{
    struct bctx b = {.err = err, .errlen = errlen, .path = st->path};
    if (errlen) err[0] = '\0';
    if (check_owner(&b, o, pod_name)) return NULL;
    if (!cJSON_IsObject(st->spec)) {
        bfail(&b, "%s: required (an object)", b.path);
        return NULL;
    }
    cJSON *pod = cJSON_CreateObject();
    add_str(&b, pod, "apiVersion", "v1");
    add_str(&b, pod, "kind", "Pod");
    cJSON *meta = add(&b, pod, "metadata", cJSON_CreateObject());
    cJSON *podspec = add(&b, pod, "spec", cJSON_CreateObject());
    int rc = build_metadata(&b, o, st->spec, pod_name, meta);
    if (!rc) rc = build_podspec(&b, st, podspec);
    if (!rc && b.oom) rc = bfail(&b, "out of memory building the pod %s", pod_name);
    if (rc) {
        cJSON_Delete(pod);
        return NULL;
    }
    return pod;
}

cJSON *
pod_build(const cJSON *omjob, const char *stage, const char *pod_name, const struct exit_env *env,
          char *err, size_t errlen)
{
    struct bctx b = {.err = err, .errlen = errlen, .path = "spec"};
    if (errlen) err[0] = '\0';
    if (!stage || (strcmp(stage, "main") && strcmp(stage, "exit-handler"))) {
        bfail(&b, "stage must be \"main\" or \"exit-handler\"");
        return NULL;
    }
    bool is_main = !strcmp(stage, "main");
    if (!is_main && !env) {
        bfail(&b, "exit-handler pod needs the main stage's outcome (exit_env)");
        return NULL;
    }
    const cJSON *spec = item(omjob, "spec"), *ometa = item(omjob, "metadata");
    if (!cJSON_IsObject(spec)) {
        bfail(&b, "spec: required (an object)");
        return NULL;
    }
    struct pod_owner o = {"pipelines.openmetadata.org/v1", "OMJob", str_of(ometa, "name"),
                          str_of(ometa, "namespace"), str_of(ometa, "uid"), item(ometa, "labels"),
                          POD_LABEL_NAME, POD_LABEL_TYPE, is_main ? "main" : "exit-handler", NULL};
    struct pod_stage st = {.spec = item(spec, is_main ? "mainPodSpec" : "exitHandlerSpec"),
                           .path = is_main ? "spec.mainPodSpec" : "spec.exitHandlerSpec"};
    int64_t deadline = 0;
    if (is_main && deadline_of(&b, spec, "spec", &deadline)) return NULL;
    st.deadline_s = deadline; /* spec.activeDeadlineSeconds bounds the main stage */
    char code[16] = "";
    const char *inject[13];
    if (!is_main) {
        st.image_from = item(spec, "mainPodSpec");
        st.image_path = "spec.mainPodSpec";
        if (env->main_exit_code >= 0) snprintf(code, sizeof code, "%d", env->main_exit_code);
        const char *pairs[] = {"pipelineStatus",       env->pipeline_status ? env->pipeline_status : "",
                               "OMJOB_NAME",           o.name ? o.name : "",
                               "OMJOB_NAMESPACE",      o.namespace ? o.namespace : "",
                               "OMJOB_MAIN_POD",       env->main_pod ? env->main_pod : "",
                               "OMJOB_MAIN_EXIT_CODE", code,
                               "OMJOB_MAIN_REASON",    env->main_reason ? env->main_reason : "",
                               NULL};
        memcpy(inject, pairs, sizeof pairs);
        st.inject_env = inject;
    }
    return pod_build_stage(&o, &st, pod_name, err, errlen);
}
