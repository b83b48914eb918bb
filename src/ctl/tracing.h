/* Traces of workflow runs (OTLP): what the controllers call, in small hooks.
 *
 * One trace per run: trace id = otel_trace_id(uid, run), so every replica and every restart
 * names the same run the same way; the root span "omjob.run" and one child per stage
 * ("omjob.main", "omjob.exit_handler" for each attempt) with ids otel_span_id(uid, run,
 * stage, attempt). The pods the operator creates get that span's W3C TRACEPARENT, so
 * instrumented ingestion code joins the trace, and OTEL_RESOURCE_ATTRIBUTES naming the
 * workflow and the task. Span times are the pods' own (status.startTime, the container's
 * finishedAt), not the operator's clock, so a trace exported after a restart is the same.
 *
 * Exactly once: a run's trace is built when the controller sees it final without the
 * TRACING_EXPORTED_ANNOTATION and submitted unless this process has it pending (queued, or
 * its annotation being written) or settled it in the last 1-2 minutes; once the collector
 * accepted it the annotation (value: the trace id) is merge-patched onto the object. A crash
 * between the two exports the same ids again (at least once, identical spans). A trace the
 * collector refused, or that found the queue full, may be submitted again after that window
 * when the object is reconciled again (every restart does).
 *
 * Off (every function a no-op) unless tracing_start() succeeded. */
#ifndef OMJ_CTL_TRACING_H
#define OMJ_CTL_TRACING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct kube_client;
struct otel_config;
struct cJSON;
struct kobj;
struct ctl;

#define TRACING_EXPORTED_ANNOTATION "otel.pipelines.openmetadata.org/trace-exported"
#define TRACING_EXPORTED_POINTER "otel.pipelines.openmetadata.org~1trace-exported" /* RFC 6901 */

/* Starts the exporter. Returns 0, or -1 (out of memory). */
int tracing_start(struct loop *l, struct kube_client *c, const struct otel_config *cfg,
                  const char *version);
void tracing_stop(void);
bool tracing_on(void);

/* Adds trace_id and span_id (the run's root span) to the current log context. */
void tracing_log_run(const char *uid, long run);

/* Gives every container of pod (a pod object being built) TRACEPARENT for the span
 * (span_key, index) of the run, and OTEL_RESOURCE_ATTRIBUTES naming the object
 * (<kind_key>.name, .uid, k8s.namespace.name) and the task (<kind_key>.task); a variable the
 * spec sets itself is left alone. */
void tracing_pod_env(struct cJSON *pod, const char *kind_key, const struct kobj *o, long run,
                     const char *span_key, long index, const char *task);

/* A finished OMJob, as its status records it. */
struct tracing_omjob {
    const struct kobj *o;
    bool failed;
    const char *main_pod;       /* status.mainPodName */
    const char *main_reason;    /* status.mainPodReason */
    int main_exit;              /* < 0 unknown */
    int exit_attempts;          /* status.exitHandlerAttempts */
    int exit_exit;              /* status.exitHandlerExitCode of the last attempt; < 0 unknown */
    int64_t start_ms, end_ms;   /* status.startTime, completionTime */
};
/* Exports the OMJob's trace unless it is marked exported, queued already, or tracing is
 * off. Pods are looked up in ctl's pod cache for their real times, node and exit code. */
void tracing_omjob_finished(const struct ctl *ctl, const struct tracing_omjob *t);

/* The exported-trace annotation on the OMJob's finalizer release, instead of a write of
 * its own (issue 15: tracing's cost): a run exported while ours is the OMJob's only
 * finalizer is "carried". Before releasing, the controller asks tracing_omjob_carry:
 * WAIT (the collector has not answered; requeue at *wait_until_ms, at most the batch delay
 * plus TRACING_CARRY_SLACK_MS after completion_ms), MARK (accepted: add the annotation with
 * value mark to the release, then tracing_omjob_carried once it landed, or the OMJob is
 * gone), NONE (nothing to carry: release as usual; a trace still pending annotates itself
 * when accepted). The wake callback requeues an OMJob whose carried trace was accepted. */
#define TRACING_CARRY_SLACK_MS 10000
enum tracing_carry { TRACING_CARRY_NONE, TRACING_CARRY_WAIT, TRACING_CARRY_MARK };
typedef void (*tracing_wake_fn)(void *arg, const char *ns, const char *name);
void tracing_set_omjob_wake(tracing_wake_fn fn, void *arg);
enum tracing_carry tracing_omjob_carry(const struct kobj *o, int64_t completion_ms,
                                       char mark[33], int64_t *wait_until_ms);
void tracing_omjob_carried(const struct kobj *o);
/* The OMJob left the cache: nothing is carried for it any more. */
void tracing_omjob_forget(const struct kobj *o);

/* Workflow runs (Observatory, SequentialJob): a root "<kind>.run" per run (trace id from uid
 * and run) and one "<kind>.task" span per task that started (span id from uid, run,
 * "task:<name>"; every attempt's pod carries it). Exported once per run: the annotation's
 * value is "<run>/<trace id>". */
struct tracing_task {
    const char *name, *unit, *reason; /* unit: the last attempt's pod, or the step's Job */
    int attempts, exit_code;          /* exit_code < 0 unknown */
    bool failed;
    int64_t start_ms, end_ms;
};
struct tracing_workflow {
    const struct kobj *o;
    const char *kind;   /* "observatory", "sequentialjob": span names and attribute prefix */
    const char *path;   /* the object's API path, for the annotation */
    bool units_are_jobs; /* k8s.job.name instead of k8s.pod.name (no node, no exit code) */
    long run;
    bool failed;
    const char *message;
    int64_t start_ms, end_ms;
    const struct tracing_task *tasks;
    size_t ntasks;
};
void tracing_workflow_finished(const struct ctl *ctl, const struct tracing_workflow *t);
/* The task span's key for tracing_pod_env: "task:<name>" into out. */
void tracing_task_key(char out[48], const char *task);
/* The run an Observatory's TRACING_EXPORTED_ANNOTATION says was exported, or -1. */
long tracing_exported_run(const char *annotation);

#endif
