/* Pods of an OMJob: the trimmed state the informers keep, the outcome classifier and the
 * pod builder. Everything here is pure (no I/O, no clock): the controller passes `now`.
 *
 * Outcome classification (pod_classify), first matching row wins. "terminated" is the
 * main container's terminated state; "deleted" means metadata.deletionTimestamp is set and
 * the container did not finish before the deletion was requested (finishedAt earlier than
 * deletionTimestamp - deletionGracePeriodSeconds, the request time, in both the graceful
 * and the final snapshot of a real delete: k8s-wire 38/39).
 *
 *  #  phase (cache)       evidence                              kind       reason            exit
 *  -- ------------------  ------------------------------------  ---------  ----------------  -----
 *  1  gone, no payload    -                                     LOST       Deleted           -1
 *  2  Failed              status.reason DeadlineExceeded        FAILED     DeadlineExceeded  t|-1
 *  3  Failed              status.reason Evicted                 FAILED     Evicted           t|-1
 *  4  Succeeded/Failed    deleted                               FAILED     Deleted           t|-1
 *  5  Succeeded           -                                     SUCCEEDED  Completed         0
 *  6  Failed              terminated                            FAILED     t.reason (1)      t
 *  7  Failed              not terminated                        FAILED     pod reason|Error  -1
 *  8  gone, payload not terminal (2)                            LOST       Deleted           -1
 *  9  Running/Pending/    node Ready False/Unknown for at       LOST       NodeLost          -1
 *     Unknown             least the grace (3)
 *  10 Unknown             node n/a, pod Ready changed at        LOST       NodeLost          -1
 *                         least the grace ago
 *  11 Pending, or none    now >= start deadline (when set)      STUCK      StartFailed (4)   -1
 *  12 Pending, or none    -                                     PENDING    Pending|Terminating
 *  13 Running/Unknown     -                                     RUNNING    Running|Unknown|
 *                                                                          Terminating
 *  (t = the terminated exitCode; -1 = unknown)
 *
 * (1) Completed, Error, OOMKilled (137), ContainerCannotRun, StartError; any other
 *     terminated reason is reported as Error (the raw one is in the message).
 * (2) A gone pod whose last payload (e.g. the DELETED event's) is terminal is classified
 *     by rows 2-7; the payload carries its own deletionTimestamp for row 4.
 * (3) Node loss keeps phase Running on a real cluster (k8s-wire 113); the node's Ready
 *     lastTransitionTime says since when. A partitioned (not dead) node may still be
 *     running the container (see "a lost node comes back" below). A node without a Ready
 *     transition time is not judged lost; a deleted node (pod_node_deleted) is lost at once.
 * (4) Whatever keeps it pending: ErrImagePull, ImagePullBackOff, ErrImageNeverPull,
 *     InvalidImageName, CreateContainerConfigError, Unschedulable, ContainerCreating...;
 *     the message names it.
 * Deleted-but-not-terminated pods (Terminating) stay RUNNING/PENDING until they terminate,
 * disappear (row 1/8) or their node is lost (row 9). */
#ifndef OMJ_CTL_PODS_H
#define OMJ_CTL_PODS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON;
struct kobj;

#define POD_LABEL_NAME "omjob.pipelines.openmetadata.org/name"
#define POD_LABEL_TYPE "omjob.pipelines.openmetadata.org/pod-type"
#define POD_LABEL_MANAGED_BY "app.kubernetes.io/managed-by"
#define POD_MANAGED_BY "omjob-operator"
#define POD_CONTAINER "main"

/* Bounds on a stage spec; beyond them pod_build rejects the OMJob with a message. */
#define POD_MAX_ENV 256
#define POD_MAX_VALUE_BYTES (64 * 1024)       /* one env value, command/args item */
#define POD_MAX_ARGS 1024                     /* command, args entries */
#define POD_MAX_MAP 64                        /* labels, nodeSelector, resources, ... */
#define POD_MAX_LIST 64                       /* tolerations, imagePullSecrets */
#define POD_MAX_ANNOTATION_BYTES (256 * 1024) /* the API server's total */

/* The informer payload of a pod (main container: the one named "main", else the first). */
struct pod_state {
    /* The short strings are never NULL ("" when absent) and mostly point into the shared
     * pool (util/intern.h); a value the pool refused is the pod's own copy (bit in owned). */
    const char *phase;
    const char *reason;   /* status.reason (Evicted, DeadlineExceeded, ...) */
    const char *pod_type; /* label omjob.pipelines.openmetadata.org/pod-type */
    const char *waiting_reason;
    const char *term_reason;
    const char *node_name; /* spec.nodeName, NULL when unscheduled (shared like the above) */
    char *message;         /* status.message, else the waiting message, else the
                            * PodScheduled=False message (at most 159 bytes); NULL when none:
                            * most pods have none, and 20,000 cached pods must stay small */
    unsigned owned;        /* which strings above are this pod's own copy (pods.c) */
    bool ready;            /* condition Ready=True */
    bool unschedulable;    /* condition PodScheduled=False, reason Unschedulable */
    bool terminated;
    int exit_code; /* valid when terminated */
    int64_t started_ms, finished_ms; /* container running/terminated startedAt, finishedAt */
    int64_t start_time_ms;           /* status.startTime */
    int64_t created_ms;              /* metadata.creationTimestamp */
    int64_t ready_changed_ms;        /* lastTransitionTime of the Ready condition */
    int64_t deletion_ms;             /* metadata.deletionTimestamp, 0 unset (as in kobj) */
    int64_t deletion_grace_s;        /* metadata.deletionGracePeriodSeconds, -1 unset */
};

/* Informer trim function: a malloc'ed struct pod_state (free with pod_state_free), or
 * NULL when out of memory. Missing fields read as empty/0; times are epoch ms, 0 unknown. */
void *pod_trim(const struct cJSON *pod);
void pod_state_free(void *p);
/* ps->message, or "" when there is none. */
static inline const char *
pod_message(const struct pod_state *ps)
{
    return ps && ps->message ? ps->message : "";
}

/* Node readiness. */
struct node_state {
    int ready;              /* Ready condition: 1 True, 0 False, -1 Unknown or absent */
    int64_t ready_since_ms; /* its lastTransitionTime, 0 unknown */
    bool unreachable_taint; /* node.kubernetes.io/unreachable, any effect */
    bool deleted;           /* the Node object is gone (pod_node_deleted) */
};
/* What a pod's node is when its Node object was deleted: lost at once, and certain (a
 * deleted node runs nothing that Kubernetes still accounts for). */
extern const struct node_state pod_node_deleted;
void *node_trim(const struct cJSON *node);
void node_state_free(void *p);

enum pod_outcome_kind { POD_PENDING, POD_RUNNING, POD_SUCCEEDED, POD_FAILED, POD_LOST, POD_STUCK };

struct pod_outcome {
    enum pod_outcome_kind kind;
    int exit_code;      /* -1 unknown */
    const char *reason; /* a static string (see the table); never NULL */
    char message[256];  /* for status.message and events */
};

/* Terminal kinds: SUCCEEDED, FAILED, LOST, STUCK (the step is over; the exit stage follows). */
bool pod_outcome_is_final(enum pod_outcome_kind kind);
const char *pod_outcome_kind_name(enum pod_outcome_kind kind);

/* Classifies by the table above. pod: the cached metadata (NULL = gone from the cache);
 * ps: its payload (NULL = nothing known, or the last payload seen when pod is NULL);
 * node: the pod's node (NULL = unknown); node_lost_grace_ms: how long Ready may be
 * False/Unknown; start_deadline_ms: absolute time by which a never-started pod is given up
 * (0 = never). */
struct pod_outcome pod_classify(const struct kobj *pod, const struct pod_state *ps,
                                const struct node_state *node, int64_t now_ms,
                                int64_t node_lost_grace_ms, int64_t start_deadline_ms);

/* ---- a lost node comes back (README "What final means") --------------------------------
 *
 * NodeLost is a verdict on missing news, not on the container: a partitioned node goes on
 * running it, and when the node returns its kubelet reports what really happened. Every
 * controller that records pod outcomes (OMJob main and exit handler, Observatory tasks) asks
 * the two functions below, so the rules exist once:
 *  - a recorded NodeLost is replaced by the pod's late terminal state (pod_late_outcome) for
 *    POD_LATE_WINDOW_MS after the object finished, while the object exists;
 *  - a lost pod is not retried while it may still run (pod_may_still_run). */
#define POD_LATE_WINDOW_MS (24LL * 3600 * 1000)
#define POD_LATE_MARK "reported late by node"

/* The true outcome of a pod recorded as recorded_reason, when that was NodeLost and the pod's
 * state (pod/ps as for pod_classify; ps may be the last payload of a pod gone from the cache,
 * see ctl_pod_last) is now terminal by the container's own doing: a success, or a failure
 * other than "Deleted". A lost pod deleted meanwhile (by the operator, or the taint manager)
 * that still ran when its node came back is stopped then: that ends it but tells nothing new.
 * The node (its current state, NULL unknown) tells the two apart: its kubelet saw the deletion
 * only once back, at its Ready transition, so a container that finished before that ended on
 * its own, whatever the deletion's timestamps say. Returns 1 and fills *late, its message
 * ending in "(reported late by node N)"; 0 when there is no late outcome; -1 when it cannot
 * be told yet: a deleted pod's terminal report while its node (known, not deleted) is not
 * read back Ready - the kubelet that reported is back, its node status follows (and a node
 * change looks at everything again). A lost pod whose answer is -1 is not retried. */
int pod_late_outcome(const char *recorded_reason, const struct kobj *pod,
                      const struct pod_state *ps, const struct node_state *node,
                      struct pod_outcome *late);

/* Whether a pod with outcome o may still be running, so that starting another attempt could
 * run it twice: o is NodeLost, the pod is still on the API server (pod != NULL, deleting or
 * not) and its node object exists (node is not &pod_node_deleted). A force-deleted pod is
 * gone from the API server; so is one whose returning kubelet finished deleting it. */
bool pod_may_still_run(const struct pod_outcome *o, const struct kobj *pod,
                       const struct node_state *node);

/* A deep copy (for keeping a deleted pod's last payload); NULL when out of memory. */
struct pod_state *pod_state_dup(const struct pod_state *ps);

/* What the exit handler is told about the main stage. NULL strings read as "". */
struct exit_env {
    const char *pipeline_status; /* "success" | "failed" */
    const char *main_pod;
    const char *main_reason;
    int main_exit_code; /* -1 unknown: OMJOB_MAIN_EXIT_CODE="" */
};

/* Who owns a pod and how it is labelled (kind-independent). */
struct pod_owner {
    const char *api_version, *kind, *name, *namespace, *uid;
    const struct cJSON *labels; /* the owner's metadata.labels: pipeline and run-id are copied */
    const char *name_label;     /* label key carrying the owner's name (shortened if needed) */
    const char *type_label, *type; /* an optional pod-type label */
    const char *const *extra_labels; /* more key, value pairs (values shortened), NULL-ended */
};

/* One stage: the stage spec (image, imagePullPolicy, imagePullSecrets, serviceAccountName,
 * command, args, env, resources, nodeSelector, tolerations, securityContext, labels,
 * annotations, activeDeadlineSeconds) and what the kind adds. */
struct pod_stage {
    const struct cJSON *spec;
    const char *path;              /* for messages: "spec.tasks[2]" */
    const struct cJSON *image_from; /* inherit image settings from here when spec has none */
    const char *image_path;
    int64_t deadline_s;            /* activeDeadlineSeconds overriding the stage's own; 0 none */
    const char *const *inject_env; /* name, value pairs replacing same-named env, NULL-ended */
};

/* The kind-independent builder behind pod_build (rules as described there). */
struct cJSON *pod_build_stage(const struct pod_owner *o, const struct pod_stage *st,
                              const char *pod_name, char *err, size_t errlen);

/* Builds the Pod for one stage of an OMJob (a whole object as the API server returned it:
 * metadata.name/namespace/uid, spec). stage: "main" or "exit-handler"; pod_name must be a
 * DNS-1123 label (see naming_child); env: required for "exit-handler", ignored for "main".
 * The exit handler inherits image, imagePullPolicy and imagePullSecrets from mainPodSpec
 * when its own spec has no image.
 * Returns a new tree (the caller deletes it), or NULL with a message naming the offending
 * field in err (e.g. "spec.mainPodSpec.env[2]: value and valueFrom are both set"). */
struct cJSON *pod_build(const struct cJSON *omjob, const char *stage, const char *pod_name,
                        const struct exit_env *env, char *err, size_t errlen);

#endif
