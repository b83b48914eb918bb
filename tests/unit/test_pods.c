#include "t.h"

#include "ctl/pods.h"
#include "kube/cache.h"
#include "util/timeutil.h"

#include <cjson/cJSON.h>
#include <stdlib.h>

/* ---- fixtures modelled on ../shared/k8s-wire (33-39, 113) --------------------------------- */

/* A pod as a watch event's object: metadata extras (deletionTimestamp...), spec extras
 * (nodeName) and the status, verbatim shapes from the transcripts (managedFields and the
 * token volume dropped). */
struct fx {
    struct kobj *k;
    struct pod_state *ps;
};

static int
load(struct fx *f, const char *meta_extra, const char *spec_extra, const char *status)
{
    char json[4096];
    int n = snprintf(
        json, sizeof json,
        "{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"ingest-main\","
        "\"namespace\":\"wire\",\"uid\":\"6ea5e92b-cb55-4ee4-9648-6a784dd091d1\","
        "\"resourceVersion\":\"676\",\"creationTimestamp\":\"2026-11-22T03:39:01Z\","
        "\"labels\":{\"omjob.pipelines.openmetadata.org/pod-type\":\"main\"}%s},"
        "\"spec\":{\"containers\":[{\"name\":\"main\",\"image\":\"docker.io/library/"
        "busybox:1.36\"}],\"restartPolicy\":\"Never\",\"terminationGracePeriodSeconds\":30%s},"
        "\"status\":%s}",
        meta_extra, spec_extra, status);
    if (n < 0 || (size_t)n >= sizeof json) return -1;
    cJSON *pod = cJSON_Parse(json);
    if (!pod) return -1;
    f->k = kobj_from_json(pod, NULL);
    f->ps = pod_trim(pod);
    cJSON_Delete(pod);
    return f->k && f->ps ? 0 : -1;
}

static void
unload(struct fx *f)
{
    kobj_free(NULL, f->k);
    pod_state_free(f->ps);
    f->k = NULL;
    f->ps = NULL;
}

#define NODE ",\"nodeName\":\"rig-node\""

/* 33: exit 0 */
static const char st_exit0[] =
    "{\"phase\":\"Succeeded\",\"conditions\":[{\"type\":\"Initialized\",\"status\":\"True\","
    "\"lastProbeTime\":null,\"lastTransitionTime\":\"2026-11-22T03:39:01Z\",\"reason\":"
    "\"PodCompleted\"},{\"type\":\"Ready\",\"status\":\"False\",\"lastProbeTime\":null,"
    "\"lastTransitionTime\":\"2026-11-22T03:39:01Z\",\"reason\":\"PodCompleted\"}],\"hostIP\":"
    "\"192.0.2.2\",\"startTime\":\"2026-11-22T03:39:01Z\",\"containerStatuses\":[{\"name\":"
    "\"main\",\"state\":{\"terminated\":{\"exitCode\":0,\"reason\":\"Completed\",\"startedAt\":"
    "\"2026-11-22T03:39:01Z\",\"finishedAt\":\"2026-11-22T03:39:01Z\"}},\"lastState\":{},"
    "\"ready\":false,\"restartCount\":0,\"started\":false}],\"qosClass\":\"BestEffort\"}";

/* 34: exit 3 */
static const char st_exit3[] =
    "{\"phase\":\"Failed\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\","
    "\"lastTransitionTime\":\"2026-11-22T03:37:36Z\",\"reason\":\"ContainersNotReady\","
    "\"message\":\"containers with unready status: [main]\"}],\"startTime\":"
    "\"2026-11-22T03:37:36Z\",\"containerStatuses\":[{\"name\":\"main\",\"state\":{"
    "\"terminated\":{\"exitCode\":3,\"reason\":\"Error\",\"startedAt\":\"2026-11-22T03:37:37Z\","
    "\"finishedAt\":\"2026-11-22T03:37:37Z\"}},\"lastState\":{},\"ready\":false,"
    "\"restartCount\":0}],\"qosClass\":\"BestEffort\"}";

/* 35: OOMKilled */
static const char st_oom[] =
    "{\"phase\":\"Failed\",\"startTime\":\"2026-11-22T03:39:01Z\",\"containerStatuses\":[{"
    "\"name\":\"main\",\"state\":{\"terminated\":{\"exitCode\":137,\"reason\":\"OOMKilled\","
    "\"startedAt\":\"2026-11-22T03:39:01Z\",\"finishedAt\":\"2026-11-22T03:39:01Z\"}},"
    "\"lastState\":{},\"ready\":false,\"restartCount\":0}],\"qosClass\":\"Burstable\"}";

/* 36: DeadlineExceeded, container still "running", no conditions */
static const char st_deadline[] =
    "{\"phase\":\"Failed\",\"message\":\"Pod was active on the node longer than the specified "
    "deadline\",\"reason\":\"DeadlineExceeded\",\"podIP\":\"10.88.0.26\",\"startTime\":"
    "\"2026-11-22T03:39:01Z\",\"containerStatuses\":[{\"name\":\"main\",\"state\":{\"running\":"
    "{\"startedAt\":\"2026-11-22T03:39:01Z\"}},\"lastState\":{},\"ready\":false,"
    "\"restartCount\":0}],\"qosClass\":\"BestEffort\"}";

/* 37: ErrImageNeverPull; %s = the waiting reason */
static const char st_waiting_fmt[] =
    "{\"phase\":\"Pending\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\","
    "\"lastTransitionTime\":\"2026-11-22T03:39:01Z\",\"reason\":\"ContainersNotReady\"},"
    "{\"type\":\"PodScheduled\",\"status\":\"True\",\"lastTransitionTime\":"
    "\"2026-11-22T03:39:01Z\"}],\"startTime\":\"2026-11-22T03:39:01Z\",\"containerStatuses\":[{"
    "\"name\":\"main\",\"state\":{\"waiting\":{\"reason\":\"%s\",\"message\":\"Container image "
    "\\\"docker.io/library/does-not-exist:0.1\\\" is not present with pull policy of Never\"}},"
    "\"lastState\":{},\"ready\":false,\"restartCount\":0,\"image\":"
    "\"docker.io/library/does-not-exist:0.1\",\"imageID\":\"\",\"started\":false}],"
    "\"qosClass\":\"BestEffort\"}";

/* 38: running, then killed by a delete (exit 137, Error) */
static const char st_running[] =
    "{\"phase\":\"Running\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\","
    "\"lastTransitionTime\":\"2026-11-22T03:39:26Z\"}],\"startTime\":\"2026-11-22T03:39:25Z\","
    "\"containerStatuses\":[{\"name\":\"main\",\"state\":{\"running\":{\"startedAt\":"
    "\"2026-11-22T03:39:26Z\"}},\"ready\":true,\"restartCount\":0,\"started\":true}]}";
static const char st_killed137[] =
    "{\"phase\":\"Failed\",\"startTime\":\"2026-11-22T03:39:25Z\",\"containerStatuses\":[{"
    "\"name\":\"main\",\"state\":{\"terminated\":{\"exitCode\":137,\"reason\":\"Error\","
    "\"startedAt\":\"2026-11-22T03:39:26Z\",\"finishedAt\":\"2026-11-22T03:40:00Z\"}},"
    "\"ready\":false,\"restartCount\":0}]}";
#define DEL_GRACEFUL                                                                               \
    ",\"deletionTimestamp\":\"2026-11-22T03:40:00Z\",\"deletionGracePeriodSeconds\":30"
#define DEL_FINAL ",\"deletionTimestamp\":\"2026-11-22T03:39:30Z\",\"deletionGracePeriodSeconds\":0"

/* 113: node loss: pod Ready False, phase still Running */
static const char st_nodeloss[] =
    "{\"phase\":\"Running\",\"conditions\":[{\"type\":\"Initialized\",\"status\":\"True\"},"
    "{\"type\":\"Ready\",\"status\":\"False\",\"lastTransitionTime\":\"2026-11-22T04:26:04Z\","
    "\"reason\":\"NodeStatusUnknown\"},{\"type\":\"PodScheduled\",\"status\":\"True\"}],"
    "\"startTime\":\"2026-11-22T04:20:40Z\",\"containerStatuses\":[{\"name\":\"main\",\"state\":"
    "{\"running\":{\"startedAt\":\"2026-11-22T04:20:41Z\"}},\"ready\":true,\"restartCount\":0}]}";
static const char node_lost_json[] =
    "{\"kind\":\"Node\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"rig-node\",\"uid\":"
    "\"3bcf3652-1ac1-4183-b250-4f631b22db0e\",\"resourceVersion\":\"17456\"},\"spec\":{\"taints\":"
    "[{\"key\":\"node.kubernetes.io/unreachable\",\"effect\":\"NoSchedule\",\"timeAdded\":"
    "\"2026-11-22T04:26:04Z\"}]},\"status\":{\"conditions\":[{\"type\":\"MemoryPressure\","
    "\"status\":\"Unknown\",\"lastTransitionTime\":\"2026-11-22T04:26:04Z\",\"reason\":"
    "\"NodeStatusUnknown\"},{\"type\":\"Ready\",\"status\":\"Unknown\",\"lastHeartbeatTime\":"
    "\"2026-11-22T04:25:20Z\",\"lastTransitionTime\":\"2026-11-22T04:26:04Z\",\"reason\":"
    "\"NodeStatusUnknown\",\"message\":\"Kubelet stopped posting node status.\"}]}}";

static int64_t
ts(const char *s)
{
    int64_t ms = 0;
    time_parse_rfc3339(s, &ms);
    return ms;
}

#define GRACE_MS (60 * 1000)
#define NOW ts("2026-11-22T03:45:00Z")

static struct pod_outcome
classify(const char *meta, const char *spec, const char *status)
{
    struct fx f = {0};
    struct pod_outcome o = {.kind = POD_PENDING, .reason = "(load failed)"};
    if (load(&f, meta, spec, status) == 0) o = pod_classify(f.k, f.ps, NULL, NOW, GRACE_MS, 0);
    unload(&f);
    return o;
}

/* ---- trimming -------------------------------------------------------------------------- */

TEST(pods_trim_terminated_oom)
{
    struct fx f = {0};
    T_EQ_INT(load(&f, "", NODE, st_oom), 0);
    T_EQ_STR(f.ps->phase, "Failed");
    T_EQ_STR(f.ps->node_name, "rig-node");
    T_EQ_STR(f.ps->pod_type, "main");
    T_ASSERT(f.ps->terminated);
    T_EQ_INT(f.ps->exit_code, 137);
    T_EQ_STR(f.ps->term_reason, "OOMKilled");
    T_EQ_INT(f.ps->finished_ms, ts("2026-11-22T03:39:01Z"));
    T_EQ_INT(f.ps->start_time_ms, ts("2026-11-22T03:39:01Z"));
    T_EQ_INT(f.ps->deletion_grace_s, -1);
    unload(&f);
}

TEST(pods_trim_deadline_running_container_and_reason)
{
    struct fx f = {0};
    T_EQ_INT(load(&f, "", NODE, st_deadline), 0);
    T_ASSERT(!f.ps->terminated);
    T_EQ_STR(f.ps->reason, "DeadlineExceeded");
    T_CONTAINS(pod_message(f.ps), "longer than the specified deadline");
    T_EQ_INT(f.ps->started_ms, ts("2026-11-22T03:39:01Z"));
    unload(&f);
}

TEST(pods_trim_waiting_unschedulable_and_main_by_name)
{
    struct fx f = {0};
    char st[2048];
    snprintf(st, sizeof st, st_waiting_fmt, "ErrImageNeverPull");
    T_EQ_INT(load(&f, DEL_GRACEFUL, NODE, st), 0);
    T_EQ_STR(f.ps->waiting_reason, "ErrImageNeverPull");
    T_CONTAINS(pod_message(f.ps), "is not present with pull policy of Never"); /* waiting msg */
    T_EQ_INT(f.ps->deletion_grace_s, 30);
    T_ASSERT(f.k->deletion_ms == ts("2026-11-22T03:40:00Z"));
    unload(&f);

    T_EQ_INT(load(&f, "", "",
                  "{\"phase\":\"Pending\",\"conditions\":[{\"type\":\"PodScheduled\",\"status\":"
                  "\"False\",\"reason\":\"Unschedulable\",\"message\":\"0/1 nodes are available: 1 "
                  "Insufficient cpu.\"}]}"),
             0);
    T_ASSERT(f.ps->unschedulable);
    T_ASSERT(f.ps->node_name == NULL);
    T_CONTAINS(pod_message(f.ps), "Insufficient cpu");
    unload(&f);

    T_EQ_INT(load(&f, "", NODE,
                  "{\"phase\":\"Failed\",\"containerStatuses\":[{\"name\":\"sidecar\",\"state\":{"
                  "\"terminated\":{\"exitCode\":0,\"reason\":\"Completed\"}}},{\"name\":\"main\","
                  "\"state\":{\"terminated\":{\"exitCode\":2,\"reason\":\"Error\"}}}]}"),
             0);
    T_EQ_INT(f.ps->exit_code, 2);
    unload(&f);
}

TEST(pods_trim_bad_input_is_harmless)
{
    cJSON *j = cJSON_Parse("{\"metadata\":5,\"spec\":[],\"status\":{\"phase\":7,"
                           "\"containerStatuses\":{\"x\":1},\"conditions\":\"no\"}}");
    struct pod_state *ps = pod_trim(j);
    T_ASSERT(ps != NULL);
    T_EQ_STR(ps->phase, "");
    T_ASSERT(!ps->terminated && !ps->node_name);
    pod_state_free(ps);
    ps = pod_trim(NULL);
    T_ASSERT(ps != NULL);
    pod_state_free(ps);
    cJSON_Delete(j);
}

TEST(pods_node_trim_113)
{
    cJSON *j = cJSON_Parse(node_lost_json);
    struct node_state *ns = node_trim(j);
    T_ASSERT(ns != NULL);
    T_EQ_INT(ns->ready, -1);
    T_EQ_INT(ns->ready_since_ms, ts("2026-11-22T04:26:04Z"));
    T_ASSERT(ns->unreachable_taint);
    node_state_free(ns);
    cJSON_Delete(j);
    j = cJSON_Parse("{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\","
                    "\"lastTransitionTime\":\"2026-11-22T03:21:47Z\"}]}}");
    ns = node_trim(j);
    T_EQ_INT(ns->ready, 1);
    T_ASSERT(!ns->unreachable_taint);
    node_state_free(ns);
    cJSON_Delete(j);
    j = cJSON_Parse("{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\"}]}}");
    ns = node_trim(j);
    T_EQ_INT(ns->ready, 0);
    T_EQ_INT(ns->ready_since_ms, 0);
    node_state_free(ns);
    cJSON_Delete(j);
}

/* ---- classification: one test per table row --------------------------------------------- */

TEST(pods_row1_gone_without_payload_is_lost_deleted)
{
    struct pod_outcome o = pod_classify(NULL, NULL, NULL, NOW, GRACE_MS, 0);
    T_EQ_INT(o.kind, POD_LOST);
    T_EQ_STR(o.reason, "Deleted");
    T_EQ_INT(o.exit_code, -1);
    T_ASSERT(pod_outcome_is_final(o.kind));
}

TEST(pods_row2_deadline_exceeded)
{
    struct pod_outcome o = classify("", NODE, st_deadline);
    T_EQ_INT(o.kind, POD_FAILED);
    T_EQ_STR(o.reason, "DeadlineExceeded");
    T_EQ_INT(o.exit_code, -1);
    T_CONTAINS(o.message, "longer than the specified deadline");
    /* deadline wins over a later deletion (the operator cleaning up) */
    o = classify(DEL_FINAL, NODE, st_deadline);
    T_EQ_STR(o.reason, "DeadlineExceeded");
}

TEST(pods_row3_evicted)
{
    struct pod_outcome o =
        classify("", NODE,
                 "{\"phase\":\"Failed\",\"message\":\"The node was low on resource: memory. "
                 "Container main was using 1Gi, which exceeds its request of 0.\",\"reason\":"
                 "\"Evicted\",\"startTime\":\"2026-11-22T03:39:01Z\"}");
    T_EQ_INT(o.kind, POD_FAILED);
    T_EQ_STR(o.reason, "Evicted");
    T_EQ_INT(o.exit_code, -1);
    T_CONTAINS(o.message, "low on resource: memory");
    o = classify("", NODE,
                 "{\"phase\":\"Failed\",\"reason\":\"Evicted\",\"containerStatuses\":[{\"name\":"
                 "\"main\",\"state\":{\"terminated\":{\"exitCode\":137,\"reason\":\"Error\"}}}]}");
    T_EQ_STR(o.reason, "Evicted");
    T_EQ_INT(o.exit_code, 137);
}

TEST(pods_row4_deleted_while_running_38)
{
    /* the MODIFIED after SIGKILL (deletionTimestamp in the future, grace 30) */
    struct pod_outcome o = classify(DEL_GRACEFUL, NODE, st_killed137);
    T_EQ_INT(o.kind, POD_FAILED);
    T_EQ_STR(o.reason, "Deleted");
    T_EQ_INT(o.exit_code, 137);
    T_CONTAINS(o.message, "deleted");
    /* the next MODIFIED / DELETED (timestamp moved back, grace 0) */
    o = classify(DEL_FINAL, NODE, st_killed137);
    T_EQ_STR(o.reason, "Deleted");
    T_EQ_INT(o.exit_code, 137);
    /* a SIGTERM handler that exits 0 within the grace period is still a deletion */
    o = classify(DEL_GRACEFUL, NODE,
                 "{\"phase\":\"Succeeded\",\"containerStatuses\":[{\"name\":\"main\",\"state\":{"
                 "\"terminated\":{\"exitCode\":0,\"reason\":\"Completed\",\"finishedAt\":"
                 "\"2026-11-22T03:39:35Z\"}}}]}");
    T_EQ_INT(o.kind, POD_FAILED);
    T_EQ_STR(o.reason, "Deleted");
    T_EQ_INT(o.exit_code, 0);
    /* without the deletionTimestamp the same bytes are a plain crash/kill */
    o = classify("", NODE, st_killed137);
    T_EQ_STR(o.reason, "Error");
    T_EQ_INT(o.exit_code, 137);
}

TEST(pods_row4_finished_before_delete_keeps_own_outcome)
{
    /* exit 3 at 03:37:37, then deleted (grace 0) at 03:39:30: the crash is the outcome */
    struct pod_outcome o = classify(DEL_FINAL, NODE, st_exit3);
    T_EQ_INT(o.kind, POD_FAILED);
    T_EQ_STR(o.reason, "Error");
    T_EQ_INT(o.exit_code, 3);
    o = classify(",\"deletionTimestamp\":\"2026-11-22T03:42:00Z\",\"deletionGracePeriodSeconds\":0",
                 NODE, st_exit0);
    T_EQ_INT(o.kind, POD_SUCCEEDED);
}

TEST(pods_row5_succeeded)
{
    struct pod_outcome o = classify("", NODE, st_exit0);
    T_EQ_INT(o.kind, POD_SUCCEEDED);
    T_EQ_STR(o.reason, "Completed");
    T_EQ_INT(o.exit_code, 0);
    T_ASSERT(pod_outcome_is_final(o.kind));
}

TEST(pods_row6_failed_with_terminated)
{
    struct pod_outcome o = classify("", NODE, st_exit3);
    T_EQ_INT(o.kind, POD_FAILED);
    T_EQ_STR(o.reason, "Error");
    T_EQ_INT(o.exit_code, 3);
    T_CONTAINS(o.message, "exited 3");
    o = classify("", NODE, st_oom);
    T_EQ_STR(o.reason, "OOMKilled");
    T_EQ_INT(o.exit_code, 137);
    o = classify("", NODE,
                 "{\"phase\":\"Failed\",\"containerStatuses\":[{\"name\":\"main\",\"state\":{"
                 "\"terminated\":{\"exitCode\":128,\"reason\":\"ContainerCannotRun\",\"message\":"
                 "\"exec: python: not found\"}}}]}");
    T_EQ_STR(o.reason, "ContainerCannotRun");
    T_EQ_INT(o.exit_code, 128);
    /* an unfamiliar reason is reported as Error, the raw one kept in the message */
    o = classify("", NODE,
                 "{\"phase\":\"Failed\",\"containerStatuses\":[{\"name\":\"main\",\"state\":{"
                 "\"terminated\":{\"exitCode\":1,\"reason\":\"SomethingNew\"}}}]}");
    T_EQ_STR(o.reason, "Error");
    T_CONTAINS(o.message, "SomethingNew");
}

TEST(pods_row7_failed_without_terminated)
{
    struct pod_outcome o =
        classify("", NODE,
                 "{\"phase\":\"Failed\",\"reason\":\"NodeShutdown\",\"message\":"
                 "\"Pod was terminated in response to imminent node shutdown.\"}");
    T_EQ_INT(o.kind, POD_FAILED);
    T_EQ_STR(o.reason, "NodeShutdown");
    T_EQ_INT(o.exit_code, -1);
    o = classify("", NODE, "{\"phase\":\"Failed\",\"reason\":\"Weird\"}");
    T_EQ_STR(o.reason, "Error");
    T_CONTAINS(o.message, "Weird");
}

TEST(pods_row8_gone_with_last_payload)
{
    struct fx f = {0};
    T_EQ_INT(load(&f, "", NODE, st_running), 0);
    struct pod_outcome o = pod_classify(NULL, f.ps, NULL, NOW, GRACE_MS, 0);
    T_EQ_INT(o.kind, POD_LOST);
    T_EQ_STR(o.reason, "Deleted");
    unload(&f);
    /* 38's DELETED object as the last payload: still a deletion */
    T_EQ_INT(load(&f, DEL_FINAL, NODE, st_killed137), 0);
    o = pod_classify(NULL, f.ps, NULL, NOW, GRACE_MS, 0);
    T_EQ_INT(o.kind, POD_FAILED);
    T_EQ_STR(o.reason, "Deleted");
    T_EQ_INT(o.exit_code, 137);
    unload(&f);
    /* a terminal last payload keeps its outcome */
    T_EQ_INT(load(&f, "", NODE, st_exit3), 0);
    o = pod_classify(NULL, f.ps, NULL, NOW, GRACE_MS, 0);
    T_EQ_INT(o.kind, POD_FAILED);
    T_EQ_INT(o.exit_code, 3);
    unload(&f);
}

TEST(pods_row9_node_lost_after_grace_113)
{
    struct fx f = {0};
    cJSON *nj = cJSON_Parse(node_lost_json);
    struct node_state *node = node_trim(nj);
    cJSON_Delete(nj);
    T_EQ_INT(load(&f, "", NODE, st_nodeloss), 0);
    int64_t since = ts("2026-11-22T04:26:04Z");
    struct pod_outcome o = pod_classify(f.k, f.ps, node, since + GRACE_MS - 1, GRACE_MS, 0);
    T_EQ_INT(o.kind, POD_RUNNING);
    o = pod_classify(f.k, f.ps, node, since + GRACE_MS, GRACE_MS, 0);
    T_EQ_INT(o.kind, POD_LOST);
    T_EQ_STR(o.reason, "NodeLost");
    T_EQ_INT(o.exit_code, -1);
    T_CONTAINS(o.message, "rig-node");
    T_CONTAINS(o.message, "partitioned");
    /* Terminating on a lost node (eviction after the toleration) is lost too */
    unload(&f);
    T_EQ_INT(load(&f, DEL_GRACEFUL, NODE, st_nodeloss), 0);
    o = pod_classify(f.k, f.ps, node, since + 10 * GRACE_MS, GRACE_MS, 0);
    T_EQ_STR(o.reason, "NodeLost");
    /* a Ready node, or one without a transition time, is not lost */
    node->ready = 1;
    o = pod_classify(f.k, f.ps, node, since + 10 * GRACE_MS, GRACE_MS, 0);
    T_EQ_INT(o.kind, POD_RUNNING);
    T_EQ_STR(o.reason, "Terminating");
    node->ready = 0;
    node->ready_since_ms = 0;
    o = pod_classify(f.k, f.ps, node, since + 10 * GRACE_MS, GRACE_MS, 0);
    T_EQ_INT(o.kind, POD_RUNNING);
    /* a Pending pod on a lost node as well */
    unload(&f);
    char st[2048];
    snprintf(st, sizeof st, st_waiting_fmt, "ContainerCreating");
    T_EQ_INT(load(&f, "", NODE, st), 0);
    node->ready_since_ms = since;
    o = pod_classify(f.k, f.ps, node, since + GRACE_MS, GRACE_MS, 0);
    T_EQ_INT(o.kind, POD_LOST);
    T_EQ_STR(o.reason, "NodeLost");
    unload(&f);
    node_state_free(node);
}

TEST(pods_row10_phase_unknown)
{
    struct fx f = {0};
    T_EQ_INT(load(&f, "", NODE,
                  "{\"phase\":\"Unknown\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\","
                  "\"lastTransitionTime\":\"2026-11-22T04:26:04Z\"}]}"),
             0);
    int64_t since = ts("2026-11-22T04:26:04Z");
    struct pod_outcome o = pod_classify(f.k, f.ps, NULL, since + 1000, GRACE_MS, 0);
    T_EQ_INT(o.kind, POD_RUNNING);
    T_EQ_STR(o.reason, "Unknown");
    o = pod_classify(f.k, f.ps, NULL, since + GRACE_MS, GRACE_MS, 0);
    T_EQ_INT(o.kind, POD_LOST);
    T_EQ_STR(o.reason, "NodeLost");
    struct node_state gone = {.ready = -1, .ready_since_ms = since - GRACE_MS};
    o = pod_classify(f.k, f.ps, &gone, since + 1000, GRACE_MS, 0);
    T_EQ_STR(o.reason, "NodeLost");
    unload(&f);
}

TEST(pods_row11_12_never_started_until_the_deadline)
{
    static const char *const reasons[] = {"ErrImageNeverPull", "ErrImagePull", "ImagePullBackOff",
                                          "InvalidImageName", "CreateContainerConfigError"};
    int64_t deadline = NOW + 1000;
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
        struct fx f = {0};
        char st[2048];
        snprintf(st, sizeof st, st_waiting_fmt, reasons[i]);
        T_EQ_INT(load(&f, "", NODE, st), 0);
        struct pod_outcome o = pod_classify(f.k, f.ps, NULL, NOW, GRACE_MS, deadline);
        T_EQ_INT(o.kind, POD_PENDING);
        T_ASSERT(!pod_outcome_is_final(o.kind));
        T_CONTAINS(o.message, reasons[i]);
        o = pod_classify(f.k, f.ps, NULL, deadline, GRACE_MS, deadline);
        T_EQ_INT(o.kind, POD_STUCK);
        T_EQ_STR(o.reason, "StartFailed");
        T_EQ_INT(o.exit_code, -1);
        T_CONTAINS(o.message, reasons[i]);
        T_ASSERT(pod_outcome_is_final(o.kind));
        /* no deadline: pending forever (the transcript's behaviour) */
        o = pod_classify(f.k, f.ps, NULL, NOW + 86400000, GRACE_MS, 0);
        T_EQ_INT(o.kind, POD_PENDING);
        unload(&f);
    }
}

TEST(pods_row11_12_unschedulable_and_fresh)
{
    const char *unsched =
        "{\"phase\":\"Pending\",\"conditions\":[{\"type\":\"PodScheduled\","
        "\"status\":\"False\",\"reason\":\"Unschedulable\",\"message\":\"0/1 "
        "nodes are available: 1 Insufficient cpu.\"}],\"qosClass\":\"Burstable\"}";
    struct fx f = {0};
    T_EQ_INT(load(&f, "", "", unsched), 0);
    struct pod_outcome o = pod_classify(f.k, f.ps, NULL, NOW, GRACE_MS, NOW + 1);
    T_EQ_INT(o.kind, POD_PENDING);
    T_CONTAINS(o.message, "Unschedulable");
    o = pod_classify(f.k, f.ps, NULL, NOW + 1, GRACE_MS, NOW + 1);
    T_EQ_INT(o.kind, POD_STUCK);
    T_CONTAINS(o.message, "Insufficient cpu");
    unload(&f);
    /* 07: the create response's status */
    T_EQ_INT(load(&f, "", "", "{\"phase\":\"Pending\",\"qosClass\":\"BestEffort\"}"), 0);
    o = pod_classify(f.k, f.ps, NULL, NOW, GRACE_MS, NOW + 1);
    T_EQ_INT(o.kind, POD_PENDING);
    T_EQ_STR(o.reason, "Pending");
    o = pod_classify(f.k, f.ps, NULL, NOW + 1, GRACE_MS, NOW + 1);
    T_EQ_INT(o.kind, POD_STUCK);
    T_CONTAINS(o.message, "not started");
    /* metadata known, payload missing: pending */
    o = pod_classify(f.k, NULL, NULL, NOW, GRACE_MS, 0);
    T_EQ_INT(o.kind, POD_PENDING);
    unload(&f);
    /* empty status (a brand-new ADDED) */
    T_EQ_INT(load(&f, "", "", "{}"), 0);
    o = pod_classify(f.k, f.ps, NULL, NOW, GRACE_MS, 0);
    T_EQ_INT(o.kind, POD_PENDING);
    unload(&f);
}

TEST(pods_row13_running_and_terminating)
{
    struct pod_outcome o = classify("", NODE, st_running);
    T_EQ_INT(o.kind, POD_RUNNING);
    T_EQ_STR(o.reason, "Running");
    T_ASSERT(!pod_outcome_is_final(o.kind));
    /* 38's MODIFIED with deletionTimestamp, still running: wait for the termination */
    o = classify(DEL_GRACEFUL, NODE, st_running);
    T_EQ_INT(o.kind, POD_RUNNING);
    T_EQ_STR(o.reason, "Terminating");
    /* the start deadline does not apply to a started pod */
    struct fx f = {0};
    T_EQ_INT(load(&f, "", NODE, st_running), 0);
    o = pod_classify(f.k, f.ps, NULL, NOW, GRACE_MS, NOW - 1);
    T_EQ_INT(o.kind, POD_RUNNING);
    unload(&f);
    T_EQ_STR(pod_outcome_kind_name(POD_STUCK), "Stuck");
}

/* ---- the pod builder ------------------------------------------------------------------- */

/* tests/examples/omjob-openmetadata.yaml as JSON (plus a uid), generated with python3 + yaml */
static const char example_omjob[] =
    "{\"apiVersion\":\"pipelines.openmetadata.org/v1\",\"kind\":\"OMJob\",\"metadata\":{\"nam"
    "e\":\"om-job-mysql-metadata-7f3c2a\",\"namespace\":\"openmetadata-pipelines\",\"labels\""
    ":{\"app.kubernetes.io/name\":\"openmetadata\",\"app.kubernetes.io/component\":\"ingestio"
    "n\",\"app.kubernetes.io/managed-by\":\"openmetadata\",\"app.kubernetes.io/pipeline\":\"m"
    "ysql-metadata\",\"app.kubernetes.io/run-id\":\"7f3c2a9e-4b1d-4c8e-9a57-2d1e0b6f8c31\"},\""
    "uid\":\"5d0f6a1e-2c3b-4f7a-9e8d-1a2b3c4d5e6f\"},\"spec\":{\"mainPodSpec\":{\"image\":\"d"
    "ocker.getcollate.io/openmetadata/ingestion-base:1.5.0\",\"imagePullPolicy\":\"IfNotPrese"
    "nt\",\"serviceAccountName\":\"openmetadata-ingestion\",\"command\":[\"python\",\"main.py"
    "\"],\"env\":[{\"name\":\"MYSQL_PASSWORD\",\"valueFrom\":{\"secretKeyRef\":{\"name\":\"my"
    "sql-ingestion-credentials\",\"key\":\"password\"}}},{\"name\":\"OM_JWT_TOKEN\",\"valueFr"
    "om\":{\"secretKeyRef\":{\"name\":\"openmetadata-ingestion-bot\",\"key\":\"token\"}}},{\""
    "name\":\"config\",\"value\":\"source:\\n  type: mysql\\n  serviceName: mysql_prod\\n  se"
    "rviceConnection:\\n    config:\\n      type: Mysql\\n      username: openmetadata_user\\n"
    "      authType:\\n        password: $(MYSQL_PASSWORD)\\n      hostPort: mysql.databases."
    "svc.cluster.local:3306\\n  sourceConfig:\\n    config:\\n      type: DatabaseMetadata\\n"
    "      markDeletedTables: true\\n      includeTables: true\\n      includeViews: true\\ns"
    "ink:\\n  type: metadata-rest\\n  config: {}\\nworkflowConfig:\\n  loggerLevel: INFO\\n  "
    "openMetadataServerConfig:\\n    hostPort: http://openmetadata.openmetadata.svc.cluster.l"
    "ocal:8585/api\\n    authProvider: openmetadata\\n    securityConfig:\\n      jwtToken: $"
    "(OM_JWT_TOKEN)\\n\"},{\"name\":\"pipelineType\",\"value\":\"metadata\"},{\"name\":\"pipe"
    "lineRunId\",\"value\":\"7f3c2a9e-4b1d-4c8e-9a57-2d1e0b6f8c31\"}],\"resources\":{\"reques"
    "ts\":{\"cpu\":\"500m\",\"memory\":\"1Gi\"},\"limits\":{\"cpu\":\"2\",\"memory\":\"4Gi\"}"
    "},\"labels\":{\"app.kubernetes.io/pipeline\":\"mysql-metadata\",\"app.kubernetes.io/run-"
    "id\":\"7f3c2a9e-4b1d-4c8e-9a57-2d1e0b6f8c31\"}},\"exitHandlerSpec\":{\"image\":\"docker."
    "getcollate.io/openmetadata/ingestion-base:1.5.0\",\"imagePullPolicy\":\"IfNotPresent\",\""
    "serviceAccountName\":\"openmetadata-ingestion\",\"command\":[\"python\",\"exit_handler.p"
    "y\"],\"env\":[{\"name\":\"OM_JWT_TOKEN\",\"valueFrom\":{\"secretKeyRef\":{\"name\":\"ope"
    "nmetadata-ingestion-bot\",\"key\":\"token\"}}},{\"name\":\"config\",\"value\":\"workflow"
    "Config:\\n  openMetadataServerConfig:\\n    hostPort: http://openmetadata.openmetadata.s"
    "vc.cluster.local:8585/api\\n    authProvider: openmetadata\\n    securityConfig:\\n     "
    " jwtToken: $(OM_JWT_TOKEN)\\n\"},{\"name\":\"pipelineRunId\",\"value\":\"7f3c2a9e-4b1d-4"
    "c8e-9a57-2d1e0b6f8c31\"}],\"resources\":{\"requests\":{\"cpu\":\"100m\",\"memory\":\"256"
    "Mi\"},\"limits\":{\"cpu\":\"500m\",\"memory\":\"512Mi\"}}},\"ttlSecondsAfterFinished\":3"
    "600}}";

static const cJSON *
at(const cJSON *o, const char *path)
{
    /* "a.b.0.c": object keys and array indexes separated by dots; keys with dots can't be
     * reached this way (use label() for labels). */
    char buf[256], *save = NULL;
    snprintf(buf, sizeof buf, "%s", path);
    for (char *tok = strtok_r(buf, ".", &save); tok && o; tok = strtok_r(NULL, ".", &save))
        o = cJSON_IsArray(o) ? cJSON_GetArrayItem(o, atoi(tok))
                             : cJSON_GetObjectItemCaseSensitive(o, tok);
    return o;
}

static const char *
sat(const cJSON *o, const char *path)
{
    const cJSON *v = at(o, path);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const char *
label(const cJSON *pod, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(at(pod, "metadata.labels"), key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The value of env var `name` and how many entries carry that name. */
static const char *
env_of(const cJSON *pod, const char *name, int *count)
{
    const char *value = NULL;
    const cJSON *e;
    *count = 0;
    cJSON_ArrayForEach(e, at(pod, "spec.containers.0.env"))
    {
        if (!strcmp(sat(e, "name"), name)) {
            (*count)++;
            value = sat(e, "value");
            if (!value) value = "(valueFrom)";
        }
    }
    return value;
}

static cJSON *
build(const char *omjob_json, const char *stage, const struct exit_env *env, char *err)
{
    cJSON *j = cJSON_Parse(omjob_json);
    if (!j) return NULL;
    cJSON *pod =
        pod_build(j, stage, strcmp(stage, "main") ? "om-job-exit" : "om-job-main", env, err, 256);
    cJSON_Delete(j);
    return pod;
}

TEST(pods_build_example_main)
{
    char err[256];
    cJSON *pod = build(example_omjob, "main", NULL, err);
    T_ASSERT(pod != NULL);
    T_EQ_STR(sat(pod, "apiVersion"), "v1");
    T_EQ_STR(sat(pod, "kind"), "Pod");
    T_EQ_STR(sat(pod, "metadata.name"), "om-job-main");
    T_EQ_STR(sat(pod, "metadata.namespace"), "openmetadata-pipelines");
    T_EQ_STR(label(pod, "omjob.pipelines.openmetadata.org/name"), "om-job-mysql-metadata-7f3c2a");
    T_EQ_STR(label(pod, "omjob.pipelines.openmetadata.org/pod-type"), "main");
    T_EQ_STR(label(pod, "app.kubernetes.io/managed-by"), "omjob-operator");
    T_EQ_STR(label(pod, "app.kubernetes.io/pipeline"), "mysql-metadata");
    T_EQ_STR(label(pod, "app.kubernetes.io/run-id"), "7f3c2a9e-4b1d-4c8e-9a57-2d1e0b6f8c31");
    T_EQ_STR(sat(pod, "metadata.ownerReferences.0.apiVersion"), "pipelines.openmetadata.org/v1");
    T_EQ_STR(sat(pod, "metadata.ownerReferences.0.kind"), "OMJob");
    T_EQ_STR(sat(pod, "metadata.ownerReferences.0.name"), "om-job-mysql-metadata-7f3c2a");
    T_EQ_STR(sat(pod, "metadata.ownerReferences.0.uid"), "5d0f6a1e-2c3b-4f7a-9e8d-1a2b3c4d5e6f");
    T_ASSERT(cJSON_IsTrue(at(pod, "metadata.ownerReferences.0.controller")));
    T_ASSERT(cJSON_IsTrue(at(pod, "metadata.ownerReferences.0.blockOwnerDeletion")));
    T_EQ_STR(sat(pod, "spec.restartPolicy"), "Never");
    T_EQ_STR(sat(pod, "spec.serviceAccountName"), "openmetadata-ingestion");
    T_EQ_INT(cJSON_GetArraySize(at(pod, "spec.containers")), 1);
    T_EQ_STR(sat(pod, "spec.containers.0.name"), "main");
    T_EQ_STR(sat(pod, "spec.containers.0.image"),
             "docker.getcollate.io/openmetadata/ingestion-base:1.5.0");
    T_EQ_STR(sat(pod, "spec.containers.0.imagePullPolicy"), "IfNotPresent");
    T_EQ_STR(sat(pod, "spec.containers.0.command.0"), "python");
    T_EQ_STR(sat(pod, "spec.containers.0.command.1"), "main.py");
    int n;
    T_CONTAINS(env_of(pod, "config", &n), "workflowConfig:\n  loggerLevel: INFO\n");
    T_EQ_INT(n, 1);
    T_EQ_STR(env_of(pod, "pipelineType", &n), "metadata");
    T_EQ_STR(sat(pod, "spec.containers.0.env.0.valueFrom.secretKeyRef.key"), "password");
    T_ASSERT(env_of(pod, "pipelineStatus", &n) == NULL); /* main gets no injection */
    T_EQ_STR(sat(pod, "spec.containers.0.resources.requests.cpu"), "500m");
    T_EQ_STR(sat(pod, "spec.containers.0.resources.limits.memory"), "4Gi");
    T_ASSERT(cJSON_IsFalse(at(pod, "spec.containers.0.securityContext.allowPrivilegeEscalation")));
    T_EQ_STR(sat(pod, "spec.containers.0.securityContext.capabilities.drop.0"), "ALL");
    T_ASSERT(at(pod, "spec.containers.0.securityContext.runAsNonRoot") == NULL); /* not defaulted */
    T_EQ_STR(sat(pod, "spec.containers.0.securityContext.seccompProfile.type"), "RuntimeDefault");
    T_EQ_STR(sat(pod, "spec.securityContext.seccompProfile.type"), "RuntimeDefault");
    T_ASSERT(at(pod, "spec.activeDeadlineSeconds") == NULL);
    char *s = cJSON_PrintUnformatted(pod); /* what the controller POSTs */
    T_ASSERT(s && strlen(s) > 1000);
    free(s);
    cJSON_Delete(pod);
}

TEST(pods_build_example_exit_handler_env)
{
    char err[256];
    struct exit_env ee = {.pipeline_status = "failed",
                          .main_pod = "om-job-main",
                          .main_reason = "OOMKilled",
                          .main_exit_code = 137};
    cJSON *pod = build(example_omjob, "exit-handler", &ee, err);
    T_ASSERT(pod != NULL);
    T_EQ_STR(label(pod, "omjob.pipelines.openmetadata.org/pod-type"), "exit-handler");
    T_EQ_STR(sat(pod, "spec.containers.0.command.1"), "exit_handler.py");
    T_EQ_STR(sat(pod, "spec.containers.0.resources.limits.memory"), "512Mi");
    int n;
    T_EQ_STR(env_of(pod, "pipelineStatus", &n), "failed");
    T_EQ_STR(env_of(pod, "OMJOB_NAME", &n), "om-job-mysql-metadata-7f3c2a");
    T_EQ_STR(env_of(pod, "OMJOB_NAMESPACE", &n), "openmetadata-pipelines");
    T_EQ_STR(env_of(pod, "OMJOB_MAIN_POD", &n), "om-job-main");
    T_EQ_STR(env_of(pod, "OMJOB_MAIN_EXIT_CODE", &n), "137");
    T_EQ_STR(env_of(pod, "OMJOB_MAIN_REASON", &n), "OOMKilled");
    T_EQ_STR(env_of(pod, "pipelineRunId", &n), "7f3c2a9e-4b1d-4c8e-9a57-2d1e0b6f8c31");
    T_CONTAINS(env_of(pod, "config", &n), "openMetadataServerConfig");
    /* injected entries come last, after the spec's own */
    int size = cJSON_GetArraySize(at(pod, "spec.containers.0.env"));
    T_EQ_STR(sat(pod, "spec.containers.0.env.0.name"), "OM_JWT_TOKEN");
    T_EQ_INT(size, 3 + 6);
    T_EQ_STR(sat(cJSON_GetArrayItem(at(pod, "spec.containers.0.env"), size - 1), "name"),
             "OMJOB_MAIN_REASON");
    cJSON_Delete(pod);
}

/* A minimal OMJob around a mainPodSpec / exitHandlerSpec / extra spec fields. */
static char *
omjob(const char *main_spec, const char *exit_spec, const char *spec_extra)
{
    static char buf[8192];
    snprintf(buf, sizeof buf,
             "{\"apiVersion\":\"pipelines.openmetadata.org/v1\",\"kind\":\"OMJob\",\"metadata\":{"
             "\"name\":\"j1\",\"namespace\":\"ns\",\"uid\":\"uid-1\",\"labels\":{"
             "\"app.kubernetes.io/pipeline\":\"from-omjob\"}},\"spec\":{\"mainPodSpec\":%s,"
             "\"exitHandlerSpec\":%s%s}}",
             main_spec, exit_spec, spec_extra);
    return buf;
}

static const struct exit_env ok_env = {"success", "j1-main", "Completed", 0};

TEST(pods_build_labels_precedence)
{
    char err[256];
    cJSON *pod = build(omjob("{\"image\":\"x\",\"labels\":{\"team\":\"data\","
                             "\"app.kubernetes.io/managed-by\":\"me\","
                             "\"omjob.pipelines.openmetadata.org/pod-type\":\"exit-handler\","
                             "\"omjob.pipelines.openmetadata.org/name\":\"other\","
                             "\"app.kubernetes.io/pipeline\":\"from-spec\"},"
                             "\"annotations\":{\"example.com/note\":\"any text: ok\"}}",
                             "{}", ""),
                       "main", NULL, err);
    T_ASSERT(pod != NULL);
    T_EQ_STR(label(pod, "team"), "data");
    T_EQ_STR(label(pod, "app.kubernetes.io/managed-by"), "omjob-operator");
    T_EQ_STR(label(pod, "omjob.pipelines.openmetadata.org/pod-type"), "main");
    T_EQ_STR(label(pod, "omjob.pipelines.openmetadata.org/name"), "j1");
    T_EQ_STR(label(pod, "app.kubernetes.io/pipeline"), "from-omjob");
    T_ASSERT(label(pod, "app.kubernetes.io/run-id") == NULL);
    const cJSON *note =
        cJSON_GetObjectItemCaseSensitive(at(pod, "metadata.annotations"), "example.com/note");
    T_ASSERT(cJSON_IsString(note) && !strcmp(note->valuestring, "any text: ok"));
    cJSON_Delete(pod);
}

TEST(pods_build_long_omjob_name_label_is_hashed)
{
    char err[256], json[2048], name[260];
    memset(name, 'n', 200);
    name[200] = '\0';
    snprintf(json, sizeof json,
             "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"ns\",\"uid\":\"u\"},"
             "\"spec\":{\"mainPodSpec\":{\"image\":\"x\"}}}",
             name);
    cJSON *pod = build(json, "main", NULL, err);
    T_ASSERT(pod != NULL);
    const char *v = label(pod, "omjob.pipelines.openmetadata.org/name");
    T_ASSERT(v && strlen(v) <= 63 && strncmp(v, "nnnn", 4) == 0);
    T_EQ_STR(sat(pod, "metadata.ownerReferences.0.name"), name);
    cJSON_Delete(pod);
}

TEST(pods_build_security_context_merge)
{
    char err[256];
    /* the user's keys win; privileged drops the default allowPrivilegeEscalation: false */
    cJSON *pod = build(omjob("{\"image\":\"x\",\"securityContext\":{\"runAsNonRoot\":false,"
                             "\"privileged\":true,\"runAsUser\":0,\"fsGroup\":1000,"
                             "\"capabilities\":{\"add\":[\"NET_ADMIN\"]},"
                             "\"seccompProfile\":{\"type\":\"Unconfined\"}}}",
                             "{}", ""),
                       "main", NULL, err);
    T_ASSERT(pod != NULL);
    const cJSON *csc = at(pod, "spec.containers.0.securityContext");
    T_ASSERT(cJSON_IsFalse(at(csc, "runAsNonRoot")));
    T_ASSERT(cJSON_IsTrue(at(csc, "privileged")));
    T_ASSERT(at(csc, "allowPrivilegeEscalation") == NULL);
    T_EQ_INT(at(csc, "runAsUser")->valueint, 0);
    T_EQ_STR(sat(csc, "capabilities.add.0"), "NET_ADMIN");
    T_ASSERT(at(csc, "capabilities.drop") == NULL);
    T_EQ_STR(sat(csc, "seccompProfile.type"), "Unconfined");
    T_ASSERT(at(csc, "fsGroup") == NULL);
    T_EQ_INT(at(pod, "spec.securityContext.fsGroup")->valueint, 1000);
    T_EQ_STR(sat(pod, "spec.securityContext.seccompProfile.type"), "Unconfined");
    cJSON_Delete(pod);
    /* partial: one user key, the other defaults stay */
    pod = build(omjob("{\"image\":\"x\",\"securityContext\":{\"runAsUser\":1000,"
                      "\"readOnlyRootFilesystem\":true}}",
                      "{}", ""),
                "main", NULL, err);
    T_ASSERT(pod != NULL);
    csc = at(pod, "spec.containers.0.securityContext");
    T_EQ_INT(at(csc, "runAsUser")->valueint, 1000);
    T_ASSERT(cJSON_IsTrue(at(csc, "readOnlyRootFilesystem")));
    T_ASSERT(at(csc, "runAsNonRoot") == NULL);
    T_ASSERT(cJSON_IsFalse(at(csc, "allowPrivilegeEscalation")));
    T_EQ_STR(sat(csc, "capabilities.drop.0"), "ALL");
    T_EQ_STR(sat(csc, "seccompProfile.type"), "RuntimeDefault");
    T_EQ_STR(sat(pod, "spec.securityContext.seccompProfile.type"), "RuntimeDefault");
    /* explicit allowPrivilegeEscalation true with privileged is kept */
    cJSON_Delete(pod);
    pod = build(omjob("{\"image\":\"x\",\"securityContext\":{\"privileged\":true,"
                      "\"allowPrivilegeEscalation\":true}}",
                      "{}", ""),
                "main", NULL, err);
    T_ASSERT(cJSON_IsTrue(at(pod, "spec.containers.0.securityContext.allowPrivilegeEscalation")));
    cJSON_Delete(pod);
}

TEST(pods_build_exit_env_replaces_and_unknown_code_is_empty)
{
    char err[256];
    struct exit_env ee = {.pipeline_status = "failed",
                          .main_pod = "j1-main",
                          .main_reason = "Deleted",
                          .main_exit_code = -1};
    cJSON *pod = build(omjob("{\"image\":\"main-img\",\"imagePullPolicy\":\"Never\","
                             "\"imagePullSecrets\":[{\"name\":\"regcred\"}]}",
                             "{\"command\":[\"python\",\"exit_handler.py\"],\"env\":["
                             "{\"name\":\"pipelineStatus\",\"value\":\"success\"},"
                             "{\"name\":\"keep\",\"value\":\"1\"},"
                             "{\"name\":\"OMJOB_MAIN_REASON\",\"value\":\"spoofed\"}]}",
                             ""),
                       "exit-handler", &ee, err);
    T_ASSERT(pod != NULL);
    int n;
    T_EQ_STR(env_of(pod, "pipelineStatus", &n), "failed");
    T_EQ_INT(n, 1);
    T_EQ_STR(env_of(pod, "OMJOB_MAIN_REASON", &n), "Deleted");
    T_EQ_INT(n, 1);
    T_EQ_STR(env_of(pod, "OMJOB_MAIN_EXIT_CODE", &n), "");
    T_EQ_STR(env_of(pod, "keep", &n), "1");
    T_EQ_STR(sat(pod, "spec.containers.0.env.0.name"), "keep");
    /* no image of its own: inherited from mainPodSpec with its pull policy and secrets */
    T_EQ_STR(sat(pod, "spec.containers.0.image"), "main-img");
    T_EQ_STR(sat(pod, "spec.containers.0.imagePullPolicy"), "Never");
    T_EQ_STR(sat(pod, "spec.imagePullSecrets.0.name"), "regcred");
    cJSON_Delete(pod);
    /* NULL strings read as "" */
    struct exit_env blank = {.main_exit_code = 0};
    pod = build(omjob("{\"image\":\"x\"}", "{}", ""), "exit-handler", &blank, err);
    T_ASSERT(pod != NULL);
    T_EQ_STR(env_of(pod, "pipelineStatus", &n), "");
    T_EQ_STR(env_of(pod, "OMJOB_MAIN_EXIT_CODE", &n), "0");
    cJSON_Delete(pod);
}

TEST(pods_build_deadlines_and_optional_fields)
{
    char err[256];
    const char *main_spec = "{\"image\":\"x\",\"activeDeadlineSeconds\":100,\"args\":[\"--v\"],"
                            "\"nodeSelector\":{\"disk\":\"ssd\"},\"tolerations\":[{\"key\":\"k\","
                            "\"operator\":\"Exists\"}],\"resources\":{\"requests\":{\"cpu\":2,"
                            "\"memory\":\"1Gi\"}},\"env\":[{\"name\":\"POD\",\"valueFrom\":{"
                            "\"fieldRef\":{\"fieldPath\":\"metadata.name\"}}},{\"name\":\"E\","
                            "\"value\":\"\",\"valueFrom\":{\"configMapKeyRef\":{\"name\":\"c\","
                            "\"key\":\"k\"}}}]}";
    cJSON *pod = build(omjob(main_spec, "{\"image\":\"y\",\"activeDeadlineSeconds\":30}",
                             ",\"activeDeadlineSeconds\":600"),
                       "main", NULL, err);
    T_ASSERT(pod != NULL);
    T_EQ_INT(at(pod, "spec.activeDeadlineSeconds")->valuedouble, 600); /* spec-level wins */
    T_EQ_STR(sat(pod, "spec.containers.0.args.0"), "--v");
    T_EQ_STR(sat(pod, "spec.nodeSelector.disk"), "ssd");
    T_EQ_STR(sat(pod, "spec.tolerations.0.operator"), "Exists");
    T_EQ_STR(sat(pod, "spec.containers.0.resources.requests.cpu"), "2");
    T_EQ_STR(sat(pod, "spec.containers.0.env.0.valueFrom.fieldRef.fieldPath"), "metadata.name");
    T_EQ_STR(sat(pod, "spec.containers.0.env.1.valueFrom.configMapKeyRef.key"), "k");
    T_ASSERT(at(pod, "spec.containers.0.imagePullPolicy") == NULL);
    cJSON_Delete(pod);
    pod = build(omjob(main_spec, "{}", ""), "main", NULL, err);
    T_EQ_INT(at(pod, "spec.activeDeadlineSeconds")->valuedouble, 100);
    cJSON_Delete(pod);
    pod = build(omjob(main_spec, "{\"image\":\"y\",\"activeDeadlineSeconds\":30}",
                      ",\"activeDeadlineSeconds\":600"),
                "exit-handler", &ok_env, err);
    T_EQ_INT(at(pod, "spec.activeDeadlineSeconds")->valuedouble, 30);
    T_EQ_STR(sat(pod, "spec.containers.0.image"), "y");
    T_ASSERT(at(pod, "spec.nodeSelector") == NULL);
    cJSON_Delete(pod);
}

struct reject_case {
    const char *main_spec, *spec_extra, *want;
};

TEST(pods_build_rejections_name_the_field)
{
    static const struct reject_case cases[] = {
        {"{}", "", "spec.mainPodSpec.image: required"},
        {"\"notanobject\"", "", "spec.mainPodSpec: required (an object)"},
        {"{\"image\":5}", "", "spec.mainPodSpec.image: must be a non-empty string"},
        {"{\"image\":\"\"}", "", "spec.mainPodSpec.image: must be a non-empty string"},
        {"{\"image\":\"x\",\"imagePullPolicy\":\"Sometimes\"}", "",
         "spec.mainPodSpec.imagePullPolicy: \"Sometimes\" is not Always"},
        {"{\"image\":\"x\",\"env\":[{\"value\":\"v\"}]}", "",
         "spec.mainPodSpec.env[0].name: required"},
        {"{\"image\":\"x\",\"env\":[{\"name\":\"\"}]}", "",
         "spec.mainPodSpec.env[0].name: required"},
        {"{\"image\":\"x\",\"env\":[{\"name\":\"A\",\"value\":\"v\",\"valueFrom\":{"
         "\"secretKeyRef\":"
         "{\"name\":\"s\",\"key\":\"k\"}}}]}",
         "", "spec.mainPodSpec.env[0] (A): value and valueFrom are both set"},
        {"{\"image\":\"x\",\"env\":[{\"name\":\"1A\"}]}", "",
         "env[0].name: \"1A\" is not a valid environment variable name"},
        {"{\"image\":\"x\",\"env\":[{\"name\":\"A=B\"}]}", "",
         "is not a valid environment variable"},
        {"{\"image\":\"x\",\"env\":[{\"name\":\"A\",\"valueFrom\":{}}]}", "",
         "env[0].valueFrom: needs exactly one of"},
        {"{\"image\":\"x\",\"env\":[{\"name\":\"A\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":"
         "\"a\"},"
         "\"secretKeyRef\":{\"key\":\"k\"}}}]}",
         "", "env[0].valueFrom: needs exactly one of"},
        {"{\"image\":\"x\",\"env\":[{\"name\":\"A\",\"valueFrom\":{\"secretKeyRef\":{\"name\":"
         "\"s\"}}}]}",
         "", "env[0].valueFrom.secretKeyRef.key: required"},
        {"{\"image\":\"x\",\"env\":[{\"name\":\"A\",\"valueFrom\":\"x\"}]}", "",
         "env[0].valueFrom: must be an object"},
        {"{\"image\":\"x\",\"env\":{\"A\":\"b\"}}", "", "spec.mainPodSpec.env: must be an array"},
        {"{\"image\":\"x\",\"env\":[\"A=b\"]}", "", "spec.mainPodSpec.env[0]: must be an object"},
        {"{\"image\":\"x\",\"env\":[{\"name\":\"A\",\"value\":5}]}", "",
         "spec.mainPodSpec.env[0].value (A): must be a string"},
        {"{\"image\":\"x\",\"command\":\"python main.py\"}", "",
         "spec.mainPodSpec.command: must be an array of strings"},
        {"{\"image\":\"x\",\"args\":[1]}", "", "spec.mainPodSpec.args[0]: must be a string"},
        {"{\"image\":\"x\",\"labels\":{\"a\":\"b c\"}}", "",
         "spec.mainPodSpec.labels[a]: \"b c\" is not a valid label value"},
        {"{\"image\":\"x\",\"labels\":{\"bad key!\":\"v\"}}", "",
         "spec.mainPodSpec.labels: \"bad key!\" is not a valid key"},
        {"{\"image\":\"x\",\"labels\":[]}", "",
         "spec.mainPodSpec.labels: must be a map of strings"},
        {"{\"image\":\"x\",\"annotations\":{\"a\":1}}", "",
         "spec.mainPodSpec.annotations[a]: must be a string"},
        {"{\"image\":\"x\",\"resources\":{\"limits\":{\"memory\":true}}}", "",
         "spec.mainPodSpec.resources.limits.memory: must be a quantity"},
        {"{\"image\":\"x\",\"resources\":[]}", "", "spec.mainPodSpec.resources: must be an object"},
        {"{\"image\":\"x\",\"securityContext\":[]}", "",
         "spec.mainPodSpec.securityContext: must be an object"},
        {"{\"image\":\"x\",\"tolerations\":[1]}", "",
         "spec.mainPodSpec.tolerations: every entry must be an object"},
        {"{\"image\":\"x\",\"imagePullSecrets\":[{}]}", "",
         "spec.mainPodSpec.imagePullSecrets[0].name: must be a secret name"},
        {"{\"image\":\"x\",\"serviceAccountName\":\"Bad_SA\"}", "",
         "spec.mainPodSpec.serviceAccountName: \"Bad_SA\" is not a valid name"},
        {"{\"image\":\"x\",\"activeDeadlineSeconds\":0}", "",
         "spec.mainPodSpec.activeDeadlineSeconds: must be an integer >= 1"},
        {"{\"image\":\"x\"}", ",\"activeDeadlineSeconds\":1.5",
         "spec.activeDeadlineSeconds: must be an integer >= 1"},
        {"{\"image\":\"x\",\"nodeSelector\":{\"a\":1}}", "",
         "spec.mainPodSpec.nodeSelector[a]: must be a string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256] = "unset";
        cJSON *pod = build(omjob(cases[i].main_spec, "{}", cases[i].spec_extra), "main", NULL, err);
        if (pod) t_fail(__FILE__, __LINE__, "case %zu (%s) was accepted", i, cases[i].want);
        cJSON_Delete(pod);
        T_CONTAINS(err, cases[i].want);
    }
}

TEST(pods_build_rejects_bad_calls_and_metadata)
{
    char err[256];
    cJSON *j = cJSON_Parse(omjob("{\"image\":\"x\"}", "{}", ""));
    T_ASSERT(pod_build(j, "main", "Bad_Name", NULL, err, sizeof err) == NULL);
    T_CONTAINS(err, "pod name \"Bad_Name\" is not a DNS-1123 label");
    T_ASSERT(pod_build(j, "sidecar", "p", NULL, err, sizeof err) == NULL);
    T_CONTAINS(err, "stage must be");
    T_ASSERT(pod_build(j, "exit-handler", "p", NULL, err, sizeof err) == NULL);
    T_CONTAINS(err, "exit_env");
    cJSON_Delete(j);
    static const struct {
        const char *json, *want;
    } bad[] = {
        {"{\"metadata\":{\"namespace\":\"ns\",\"uid\":\"u\"},\"spec\":{}}", "metadata.name"},
        {"{\"metadata\":{\"name\":\"a\",\"uid\":\"u\"},\"spec\":{}}", "metadata.namespace"},
        {"{\"metadata\":{\"name\":\"a\",\"namespace\":\"ns\"},\"spec\":{}}", "metadata.uid"},
        {"{\"metadata\":{\"name\":\"a\",\"namespace\":\"ns\",\"uid\":\"u\"}}", "spec: required"},
        {"{\"metadata\":{\"name\":\"a\",\"namespace\":\"ns\",\"uid\":\"u\"},\"spec\":"
         "{\"mainPodSpec\":{\"image\":\"x\"}}}",
         "spec.exitHandlerSpec: required"},
        {"{\"metadata\":{\"name\":\"a\",\"namespace\":\"ns\",\"uid\":\"u\"},\"spec\":"
         "{\"mainPodSpec\":{},\"exitHandlerSpec\":{}}}",
         "spec.mainPodSpec.image: required"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        j = cJSON_Parse(bad[i].json);
        cJSON *pod = pod_build(j, "exit-handler", "p", &ok_env, err, sizeof err);
        cJSON_Delete(j);
        T_ASSERT(pod == NULL);
        T_CONTAINS(err, bad[i].want);
    }
    /* a NULL err buffer is allowed */
    T_ASSERT(pod_build(NULL, "main", "p", NULL, NULL, 0) == NULL);
}

static cJSON *
omjob_with_env(int entries, size_t value_bytes)
{
    cJSON *j = cJSON_Parse(omjob("{\"image\":\"x\",\"env\":[]}", "{}", ""));
    cJSON *env = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "spec"),
                                         "mainPodSpec"),
        "env");
    char *value = malloc(value_bytes + 1);
    memset(value, 'v', value_bytes);
    value[value_bytes] = '\0';
    for (int i = 0; i < entries; i++) {
        char name[16];
        snprintf(name, sizeof name, "V%d", i);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", name);
        cJSON_AddStringToObject(e, "value", value);
        cJSON_AddItemToArray(env, e);
    }
    free(value);
    return j;
}

TEST(pods_build_bounds)
{
    char err[256];
    cJSON *j = omjob_with_env(POD_MAX_ENV, 8);
    cJSON *pod = pod_build(j, "main", "p", NULL, err, sizeof err);
    T_ASSERT(pod != NULL);
    cJSON_Delete(pod);
    cJSON_Delete(j);
    j = omjob_with_env(POD_MAX_ENV + 1, 8);
    T_ASSERT(pod_build(j, "main", "p", NULL, err, sizeof err) == NULL);
    T_CONTAINS(err, "spec.mainPodSpec.env: 257 entries, at most 256");
    cJSON_Delete(j);
    j = omjob_with_env(1, POD_MAX_VALUE_BYTES);
    pod = pod_build(j, "main", "p", NULL, err, sizeof err);
    T_ASSERT(pod != NULL);
    cJSON_Delete(pod);
    cJSON_Delete(j);
    j = omjob_with_env(1, POD_MAX_VALUE_BYTES + 1);
    T_ASSERT(pod_build(j, "main", "p", NULL, err, sizeof err) == NULL);
    T_CONTAINS(err, "spec.mainPodSpec.env[0].value (V0): longer than 65536 bytes");
    cJSON_Delete(j);
    j = omjob_with_env(20, 60 * 1024);
    T_ASSERT(pod_build(j, "main", "p", NULL, err, sizeof err) == NULL);
    T_CONTAINS(err, "exceed 1048576 bytes in total");
    cJSON_Delete(j);
}

/* ---- a lost node comes back (issue 18) --------------------------------------------------- */

/* exited 0 at 03:40:00 on its own, on a partitioned node; deleted (grace 30) at 03:39:50,
 * which the away kubelet could not see: the timestamps alone read "deleted while it ran" */
static const char st_late_exit0[] =
    "{\"phase\":\"Succeeded\",\"containerStatuses\":[{\"name\":\"main\",\"state\":{"
    "\"terminated\":{\"exitCode\":0,\"reason\":\"Completed\",\"startedAt\":"
    "\"2026-11-22T03:39:26Z\",\"finishedAt\":\"2026-11-22T03:40:00Z\"}}}]}";
#define DEL_AFTER ",\"deletionTimestamp\":\"2026-11-22T03:40:20Z\",\"deletionGracePeriodSeconds\":30"

TEST(pods_late_outcome_replaces_only_node_lost)
{
    struct fx f = {0};
    struct pod_outcome o = {.reason = ""};
    T_EQ_INT(load(&f, "", NODE, st_late_exit0), 0);
    T_ASSERT(pod_late_outcome("NodeLost", f.k, f.ps, NULL, &o));
    T_EQ_INT(o.kind, POD_SUCCEEDED);
    T_EQ_STR(o.reason, "Completed");
    T_CONTAINS(o.message, POD_LATE_MARK " rig-node");
    T_ASSERT(!pod_late_outcome("Error", f.k, f.ps, NULL, &o));     /* only NodeLost is reopened */
    T_ASSERT(!pod_late_outcome("Completed", f.k, f.ps, NULL, &o));
    T_ASSERT(!pod_late_outcome("NodeLost", f.k, NULL, NULL, &o));
    unload(&f);
    /* still running (the node is back, the pod not yet terminal): nothing to correct */
    T_EQ_INT(load(&f, "", NODE, st_running), 0);
    T_ASSERT(!pod_late_outcome("NodeLost", f.k, f.ps, NULL, &o));
    unload(&f);
    /* a failure of its own counts as well */
    T_EQ_INT(load(&f, "", NODE, st_exit3), 0);
    T_ASSERT(pod_late_outcome("NodeLost", NULL, f.ps, NULL, &o));
    T_EQ_INT(o.kind, POD_FAILED);
    T_EQ_INT(o.exit_code, 3);
    unload(&f);
}

TEST(pods_late_outcome_after_a_deletion_asks_the_node)
{
    struct fx f = {0};
    struct pod_outcome o = {.reason = ""};
    struct node_state back = {.ready = 1, .ready_since_ms = ts("2026-11-22T03:39:50Z")};
    /* deleted while away, killed (03:40:00) by the kubelet back since 03:39:50 */
    T_EQ_INT(load(&f, DEL_GRACEFUL, NODE, st_killed137), 0);
    T_ASSERT(!pod_late_outcome("NodeLost", f.k, f.ps, &back, &o));
    back.ready_since_ms = ts("2026-11-22T03:40:00Z"); /* the same instant: not before */
    T_ASSERT(!pod_late_outcome("NodeLost", f.k, f.ps, &back, &o));
    unload(&f);
    /* finished (exit 0) before the deletion's grace window can tell: the node decides */
    T_EQ_INT(load(&f, DEL_AFTER, NODE, st_late_exit0), 0);
    T_EQ_STR(pod_classify(f.k, f.ps, NULL, NOW, GRACE_MS, 0).reason, "Deleted");
    T_ASSERT(!pod_late_outcome("NodeLost", f.k, f.ps, NULL, &o)); /* node unknown */
    struct node_state away = {.ready = -1, .ready_since_ms = ts("2026-11-22T03:41:00Z")};
    T_EQ_INT(pod_late_outcome("NodeLost", f.k, f.ps, &away, &o), -1); /* not read back yet */
    T_EQ_INT(pod_late_outcome("NodeLost", f.k, f.ps, &pod_node_deleted, &o), 0);
    back.ready_since_ms = ts("2026-11-22T03:44:00Z");
    T_ASSERT(pod_late_outcome("NodeLost", f.k, f.ps, &back, &o));
    T_EQ_INT(o.kind, POD_SUCCEEDED);
    T_EQ_STR(o.reason, "Completed");
    /* the same as the last payload of a pod gone from the cache */
    T_ASSERT(pod_late_outcome("NodeLost", NULL, f.ps, &back, &o));
    T_EQ_INT(o.kind, POD_SUCCEEDED);
    unload(&f);
}

TEST(pods_may_still_run_until_certain)
{
    struct fx f = {0};
    cJSON *nj = cJSON_Parse(node_lost_json);
    struct node_state *node = node_trim(nj);
    cJSON_Delete(nj);
    T_EQ_INT(load(&f, "", NODE, st_nodeloss), 0);
    int64_t since = ts("2026-11-22T04:26:04Z");
    struct pod_outcome o = pod_classify(f.k, f.ps, node, since + GRACE_MS, GRACE_MS, 0);
    T_EQ_STR(o.reason, "NodeLost");
    T_ASSERT(pod_may_still_run(&o, f.k, node));  /* partitioned: it may still run */
    T_ASSERT(!pod_may_still_run(&o, NULL, node)); /* gone from the API server (force-deleted) */
    /* the node object deleted: lost at once, and certain */
    o = pod_classify(f.k, f.ps, &pod_node_deleted, since, GRACE_MS, 0);
    T_EQ_INT(o.kind, POD_LOST);
    T_EQ_STR(o.reason, "NodeLost");
    T_CONTAINS(o.message, "deleted");
    T_ASSERT(!pod_may_still_run(&o, f.k, &pod_node_deleted));
    /* other failures never hold a retry */
    struct pod_outcome crash = {.kind = POD_FAILED, .reason = "Error"};
    T_ASSERT(!pod_may_still_run(&crash, f.k, node));
    struct pod_state *copy = pod_state_dup(f.ps);
    T_ASSERT(copy != NULL);
    T_EQ_STR(copy->node_name, "rig-node");
    T_ASSERT(copy->node_name == f.ps->node_name); /* shared from the pool */
    pod_state_free(copy);
    T_EQ_STR(f.ps->node_name, "rig-node");
    unload(&f);
    node_state_free(node);
}

#include "util/intern.h"

/* This fills the process's string pool: every pod the tests after it load owns its strings,
 * which nothing may notice (and LeakSanitizer checks they are freed). */
TEST(pods_strings_past_a_full_pool_are_the_pods_own)
{
    char s[32];
    const char *first = intern("pool-0");
    T_ASSERT(first != NULL && first == intern("pool-0"));
    for (int i = 1; i < INTERN_MAX_STRINGS + 10; i++) {
        snprintf(s, sizeof s, "pool-%d", i);
        intern(s);
    }
    T_ASSERT(intern("never-seen-before") == NULL); /* full: refused */
    T_ASSERT(intern("pool-0") == first);          /* what it holds is still shared */
    char big[INTERN_MAX_LEN + 2];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    T_ASSERT(intern(big) == NULL); /* too long */
    struct fx f = {0};
    T_EQ_INT(load(&f, "", ",\"nodeName\":\"node-past-the-pool\"",
                  "{\"phase\":\"Failed\",\"reason\":\"AReasonNobodyKnows\"}"),
             0);
    T_EQ_STR(f.ps->node_name, "node-past-the-pool");
    T_EQ_STR(f.ps->reason, "AReasonNobodyKnows");
    struct pod_state *copy = pod_state_dup(f.ps);
    T_ASSERT(copy != NULL);
    T_ASSERT(copy->reason != f.ps->reason); /* its own copy of its own copy */
    T_EQ_STR(copy->reason, "AReasonNobodyKnows");
    unload(&f); /* LeakSanitizer: every own copy freed */
    T_EQ_STR(copy->node_name, "node-past-the-pool");
    pod_state_free(copy);
    /* a node name longer than the pool takes is kept whole (node lookups compare it) */
    char spec[160], node[101];
    memset(node, 'n', 100);
    node[100] = '\0';
    snprintf(spec, sizeof spec, ",\"nodeName\":\"%s\"", node);
    T_EQ_INT(load(&f, "", spec, "{\"phase\":\"Running\"}"), 0);
    T_EQ_STR(f.ps->node_name, node);
    unload(&f);
}

/* ctl's last payloads of deleted pods: by key and owner uid, replaced per key, bounded */
#include "ctl/ctl.h"

TEST(pods_ctl_keeps_last_payloads_bounded)
{
    static struct ctl ctl; /* large: not on the stack */
    struct fx f = {0};
    char meta[160];
    snprintf(meta, sizeof meta,
             ",\"ownerReferences\":[{\"apiVersion\":\"v1\",\"kind\":\"OMJob\",\"name\":\"o\","
             "\"uid\":\"owner-1\",\"controller\":true}]");
    T_EQ_INT(load(&f, meta, NODE, st_exit0), 0);
    ctl_pod_keep_last(&ctl, f.k); /* no payload: nothing kept */
    T_ASSERT(!ctl_pod_last(&ctl, "wire", "ingest-main", "owner-1"));
    f.k->payload = f.ps; /* as in the cache (unload frees ps itself) */
    ctl_pod_keep_last(&ctl, f.k);
    const struct pod_state *ps = ctl_pod_last(&ctl, "wire", "ingest-main", "owner-1");
    T_ASSERT(ps != NULL && ps != f.ps);
    T_EQ_STR(ps->phase, "Succeeded");
    T_ASSERT(!ctl_pod_last(&ctl, "wire", "ingest-main", "owner-2")); /* another incarnation */
    T_ASSERT(!ctl_pod_last(&ctl, "wire", "other", "owner-1"));
    ctl_pod_keep_last(&ctl, f.k); /* the same key again: one entry */
    size_t n = 0;
    for (size_t i = 0; i < CTL_LAST_MAX; i++)
        n += ctl.last[i].key != NULL;
    T_EQ_INT((int)n, 1);
    unload(&f);
    /* CTL_LAST_MAX more pods push the first one out */
    for (int i = 0; i < CTL_LAST_MAX; i++) {
        char name_meta[200];
        T_EQ_INT(load(&f, meta, NODE, st_exit3), 0);
        snprintf(name_meta, sizeof name_meta, "wire/p%d", i);
        f.k->key = name_meta; /* kobj_free frees the kobj's one allocation, not its key */
        f.k->payload = f.ps;
        ctl_pod_keep_last(&ctl, f.k);
        unload(&f);
    }
    T_ASSERT(!ctl_pod_last(&ctl, "wire", "ingest-main", "owner-1"));
    T_ASSERT(ctl_pod_last(&ctl, "wire", "p0", "owner-1") != NULL);
    ctl_last_free(&ctl);
    T_ASSERT(!ctl_pod_last(&ctl, "wire", "p0", "owner-1"));
}
