#include "ctl/ctl.h"

#include "ctl/pods.h"
#include "ctl/writer.h"
#include "kube/client.h"
#include "kube/event.h"
#include "kube/nsterm.h"
#include "kube/queue.h"
#include "kube/status.h"
#include "util/json.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct informer *
nswatch_for(const struct nswatch *w, const char *ns)
{
    for (size_t i = 0; i < w->n; i++)
        if (!*w->ns[i] || !strcmp(w->ns[i], ns))
            return w->inf[i];
    return NULL;
}

struct kobj *
nswatch_get(const struct nswatch *w, const char *ns, const char *name)
{
    struct informer *inf = nswatch_for(w, ns);
    if (!inf)
        return NULL;
    char key[400];
    if (snprintf(key, sizeof key, "%s/%s", ns, name) >= (int)sizeof key)
        return NULL;
    return cache_get(informer_cache(inf), key);
}

struct kobj *
nswatch_get_key(const struct nswatch *w, const char *key)
{
    char ns[64];
    const char *slash = strchr(key, '/');
    if (!slash || (size_t)(slash - key) >= sizeof ns)
        return NULL;
    memcpy(ns, key, (size_t)(slash - key));
    ns[slash - key] = '\0';
    return nswatch_get(w, ns, slash + 1);
}

void
nswatch_apply_response(const struct nswatch *w, const char *ns, const struct kube_response *r,
                       uint64_t base_seq)
{
    struct informer *inf = nswatch_for(w, ns);
    if (!inf || r->status < 200 || r->status >= 300)
        return;
    cJSON *obj = cJSON_ParseWithLength(r->body, r->body_len);
    if (obj)
        informer_apply(inf, obj, base_seq);
    cJSON_Delete(obj);
}

void
ctl_condition(cJSON *conds, const char *type, bool status, const char *reason,
              const char *message, int64_t generation)
{
    char now[TIME_RFC3339_MAX];
    time_fmt_rfc3339(now, time_now_ms(), 0);
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "type", type);
    cJSON_AddStringToObject(c, "status", status ? "True" : "False");
    cJSON_AddStringToObject(c, "reason", reason && *reason ? reason : "Unknown");
    json_add_str(c, "message", message); /* never "" (util/json.h) */
    cJSON_AddStringToObject(c, "lastTransitionTime", now);
    cJSON_AddNumberToObject(c, "observedGeneration", (double)generation);
    cJSON_AddItemToArray(conds, c);
}

bool
nswatch_synced(const struct nswatch *w)
{
    for (size_t i = 0; i < w->n; i++)
        if (!informer_synced(w->inf[i]))
            return false;
    return true;
}

void
nswatch_foreach(const struct nswatch *w, void (*fn)(void *arg, struct kobj *o), void *arg)
{
    for (size_t i = 0; i < w->n; i++)
        cache_foreach(informer_cache(w->inf[i]), fn, arg);
}

void
nswatch_free(struct nswatch *w)
{
    for (size_t i = 0; i < w->n; i++) {
        informer_free(w->inf[i]);
        free(w->ns[i]);
    }
    w->n = 0;
}

static int
add_one(struct nswatch *w, struct loop *l, struct kube_client *c, const char *ns,
        const char *api_prefix, const char *plural, const char *selector,
        const struct informer_kind *kind, long timeout_s, informer_fn fn, void *arg)
{
    if (w->n == CTL_MAX_NAMESPACES)
        return -1;
    char path[512];
    if (*ns)
        snprintf(path, sizeof path, "%s/namespaces/%s/%s", api_prefix, ns, plural);
    else
        snprintf(path, sizeof path, "%s/%s", api_prefix, plural);
    w->ns[w->n] = strdup(ns);
    w->inf[w->n] = informer_new(l, c, path, selector, kind, timeout_s, fn, arg);
    if (!w->ns[w->n] || !w->inf[w->n]) {
        free(w->ns[w->n]);
        informer_free(w->inf[w->n]);
        return -1;
    }
    w->n++;
    return 0;
}

int
nswatch_init(struct nswatch *w, struct loop *l, struct kube_client *c, const char *namespaces,
             const char *api_prefix, const char *plural, const char *selector,
             const struct informer_kind *kind, long timeout_s, informer_fn fn, void *arg)
{
    w->n = 0;
    if (!namespaces || !*namespaces)
        return add_one(w, l, c, "", api_prefix, plural, selector, kind, timeout_s, fn, arg);
    char *copy = strdup(namespaces), *save = NULL;
    if (!copy)
        return -1;
    int rc = 0;
    for (char *ns = strtok_r(copy, ", ", &save); ns && !rc; ns = strtok_r(NULL, ", ", &save))
        rc = add_one(w, l, c, ns, api_prefix, plural, selector, kind, timeout_s, fn, arg);
    free(copy);
    return rc;
}

void
nswatch_start(struct nswatch *w)
{
    for (size_t i = 0; i < w->n; i++)
        informer_start(w->inf[i]);
}

void
ctl_requeue_at(struct workqueue *q, const char *key, int64_t at_ms)
{
    if (at_ms <= 0)
        return;
    int64_t d = at_ms - time_now_ms();
    workqueue_add_after(q, key, d > 0 ? d + 50 : 50); /* a little after, never before */
}

const struct node_state *
ctl_node_of(const struct ctl *ctl, const struct pod_state *ps)
{
    if (!ps || !ps->node_name || !ctl->nodes)
        return NULL;
    struct kobj *n = cache_get(informer_cache(ctl->nodes), ps->node_name);
    if (!n)
        return informer_synced(ctl->nodes) ? &pod_node_deleted : NULL;
    return n->payload;
}

static void
last_clear(struct ctl_last *e)
{
    free(e->key);
    free(e->owner_uid);
    pod_state_free(e->ps);
    *e = (struct ctl_last){0};
}

void
ctl_pod_keep_last(struct ctl *ctl, const struct kobj *pod)
{
    if (!pod->payload)
        return;
    struct ctl_last *slot = &ctl->last[ctl->last_next];
    for (size_t i = 0; i < CTL_LAST_MAX; i++)
        if (ctl->last[i].key && !strcmp(ctl->last[i].key, pod->key)) {
            slot = &ctl->last[i];
            break;
        }
    if (slot == &ctl->last[ctl->last_next])
        ctl->last_next = (ctl->last_next + 1) % CTL_LAST_MAX;
    last_clear(slot);
    slot->key = strdup(pod->key);
    slot->owner_uid = strdup(pod->owner_uid ? pod->owner_uid : "");
    slot->ps = pod_state_dup(pod->payload);
    if (!slot->key || !slot->owner_uid || !slot->ps)
        last_clear(slot);
}

const struct pod_state *
ctl_pod_last(const struct ctl *ctl, const char *ns, const char *name, const char *owner_uid)
{
    char key[400];
    if (snprintf(key, sizeof key, "%s/%s", ns, name) >= (int)sizeof key)
        return NULL;
    for (size_t i = 0; i < CTL_LAST_MAX; i++) {
        const struct ctl_last *e = &ctl->last[i];
        if (e->key && !strcmp(e->key, key) && !strcmp(e->owner_uid, owner_uid ? owner_uid : ""))
            return e->ps;
    }
    return NULL;
}

void
ctl_last_free(struct ctl *ctl)
{
    for (size_t i = 0; i < CTL_LAST_MAX; i++)
        last_clear(&ctl->last[i]);
}

struct event_ref
ctl_ref(const struct ctl_kind *k, const struct kobj *o)
{
    struct event_ref r = {k->api_version, k->kind, o->ns, o->name, o->uid, o->rv};
    return r;
}

void
ctl_report_write(const struct ctl *ctl, const struct ctl_kind *k, const struct kobj *o,
                 const char *op_name, const struct write_op *op, const struct kube_response *r)
{
    if (r->dropped)
        return;
    char code[16];
    snprintf(code, sizeof code, "%ld", r->status);
    const char *err = r->error ? r->error : "request failed";
    if (kube_ns_terminating(r)) {
        nsterm_mark(op->ns, time_mono_ms());
        log_info("namespace is being deleted: nothing more is created there", k->log_key,
                 op->key, "op", op_name, "target", op->target, "status", code, "error", err);
        return;
    }
    bool permanent = r->cls == KUBE_PERMANENT;
    log_warn(permanent ? "API refused a write: not retried until the object changes"
                       : "API write failed: retrying with backoff",
             k->log_key, op->key, "op", op_name, "target", op->target, "status", code, "reason",
             r->reason && *r->reason ? r->reason : NULL, "error", err);
    if (permanent && o) {
        struct event_ref ref = ctl_ref(k, o);
        event_record(ctl->events, &ref, "Warning", "ApiError", "%s %s refused with HTTP %ld%s%s: %s",
                     op_name, op->target, r->status, r->reason && *r->reason ? " " : "",
                     r->reason ? r->reason : "", err);
    }
}

void
ctl_forget(const struct ctl *ctl, struct workqueue *q, struct writer *w, const struct kobj *o)
{
    workqueue_forget(q, o->key);
    writer_forget(w, o->key);
    event_forget_object(ctl->events, o->uid);
}

void
ctl_log_kind(struct workqueue *q, struct writer *w, const char *kind)
{
    if (q)
        workqueue_set_log_kind(q, kind);
    if (w)
        writer_set_log_kind(w, kind);
}

void
ctl_log_run(const struct kobj *o, long run)
{
    if (!o || !o->uid)
        return;
    char id[LOG_CTX_VAL_MAX];
    if (run > 0)
        snprintf(id, sizeof id, "%s/%ld", o->uid, run);
    else
        snprintf(id, sizeof id, "%s", o->uid);
    log_ctx_add("run.id", id);
}
