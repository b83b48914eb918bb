/* What every controller shares: the loop, the API client, events, the shared informers
 * (pods the operator manages, nodes), leadership, and the clock. */
#ifndef OMJ_CTL_CTL_H
#define OMJ_CTL_CTL_H

#include "kube/cache.h"
#include "kube/watch.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct kube_client;
struct event_recorder;
struct config;

#define CTL_MAX_NAMESPACES 32

/* One resource watched in every namespace of WATCH_NAMESPACES (or once for all). */
struct nswatch {
    size_t n;
    char *ns[CTL_MAX_NAMESPACES]; /* "" = all namespaces */
    struct informer *inf[CTL_MAX_NAMESPACES];
};

/* The informer whose cache holds namespace ns, or NULL when ns is not watched. */
struct informer *nswatch_for(const struct nswatch *w, const char *ns);
struct kobj *nswatch_get(const struct nswatch *w, const char *ns, const char *name);
/* The same by "namespace/name" key (a workqueue key). */
struct kobj *nswatch_get_key(const struct nswatch *w, const char *key);
/* Write-through: puts the object in a 2xx response body into the cache of its namespace. */
struct kube_response;
void nswatch_apply_response(const struct nswatch *w, const char *ns, const struct kube_response *r,
                            uint64_t base_seq);
bool nswatch_synced(const struct nswatch *w);
void nswatch_foreach(const struct nswatch *w, void (*fn)(void *arg, struct kobj *o), void *arg);
void nswatch_free(struct nswatch *w);
/* Creates one informer per namespace for "<api_prefix>/[namespaces/<ns>/]<plural>". */
int nswatch_init(struct nswatch *w, struct loop *l, struct kube_client *c, const char *namespaces,
                 const char *api_prefix, const char *plural, const char *selector,
                 const struct informer_kind *kind, long watch_timeout_s, informer_fn fn,
                 void *arg);
void nswatch_start(struct nswatch *w);

/* Appends a metav1.Condition (lastTransitionTime = now) to the array conds; an empty
 * message is left out. */
struct cJSON;
void ctl_condition(struct cJSON *conds, const char *type, bool status, const char *reason,
                   const char *message, int64_t generation);

struct workqueue;
/* Wakes key at the wall-clock time at_ms (deadlines, TTLs, slots); nothing when at_ms <= 0. */
void ctl_requeue_at(struct workqueue *q, const char *key, int64_t at_ms);

/* The last payload of managed pods that left the cache, kept for the controllers that asked
 * (ctl_pod_keep_last): a pod's late terminal state may arrive in a MODIFIED immediately
 * followed by its DELETED, before the owner is reconciled. Bounded: the oldest entry goes. */
#define CTL_LAST_MAX 256
struct ctl_last {
    char *key;       /* "namespace/name" */
    char *owner_uid; /* its controller owner's uid ("" when none) */
    struct pod_state *ps;
};

struct ctl {
    struct loop *loop;
    struct kube_client *client;
    struct event_recorder *events;
    const struct config *cfg;
    struct nswatch pods;      /* pods labelled app.kubernetes.io/managed-by=omjob-operator */
    struct informer *nodes;   /* cluster-scoped */
    bool (*may_write)(void *arg); /* leader (or no election) and not shutting down */
    void *may_write_arg;
    struct ctl_last last[CTL_LAST_MAX]; /* a ring, see ctl_pod_keep_last */
    size_t last_next;
};

/* A controller's kind, for what the controllers share about their writes. */
struct ctl_kind {
    const char *api_version, *kind;
    const char *log_key; /* the log field naming the object: "omjob", "observatory", ... */
};
struct event_ref;
struct write_op;
/* The Event reference of a cached object of kind k (borrowed from o). */
struct event_ref ctl_ref(const struct ctl_kind *k, const struct kobj *o);
/* Reports a failed write once, with what the API server said: a log line always; for a
 * permanent refusal also one Warning Event (reason ApiError) on the object, naming the
 * operation, the HTTP code and the server's message. A create refused because the
 * namespace is being deleted marks the namespace (kube/nsterm.h) and writes no Event (it
 * could not be written). o may be NULL (no Event). */
void ctl_report_write(const struct ctl *ctl, const struct ctl_kind *k, const struct kobj *o,
                      const char *op_name, const struct write_op *op,
                      const struct kube_response *r);

struct writer;
/* The controller's object o left its cache (the informer's DELETE): what was kept about
 * it goes, its failure count (q), its writer's memory (w) and its Events' series. */
void ctl_forget(const struct ctl *ctl, struct workqueue *q, struct writer *w, const struct kobj *o);

/* Log context (util/log.h): every line logged while the queue's reconcile or the writer's
 * completion runs for an object carries "<kind>.namespace"/"<kind>.name" ("omjob",
 * "observatory", "sequentialjob", "cronomjob"). q and w may be NULL. */
void ctl_log_kind(struct workqueue *q, struct writer *w, const char *kind);
/* Adds the run of object o to the log context of the current reconcile: "run.id" (the
 * uid, or "<uid>/<run>" when run > 0). */
void ctl_log_run(const struct kobj *o, long run);

/* The cached state of the pod's node, or NULL (unknown, not watched, or unscheduled);
 * &pod_node_deleted when the node informer has synced and the node is not there. */
struct pod_state;
const struct node_state *ctl_node_of(const struct ctl *ctl, const struct pod_state *ps);

/* Keeps a copy of pod's payload (a pod leaving the cache) for ctl_pod_last, replacing an
 * older entry of the same key. Out of memory: nothing is kept. */
void ctl_pod_keep_last(struct ctl *ctl, const struct kobj *pod);
/* The kept last payload of ns/name whose owner had uid owner_uid, or NULL. */
const struct pod_state *ctl_pod_last(const struct ctl *ctl, const char *ns, const char *name,
                                     const char *owner_uid);
/* Frees what ctl_pod_keep_last kept. */
void ctl_last_free(struct ctl *ctl);

#endif
