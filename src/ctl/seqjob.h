/* The SequentialJob controller: containers run one after another, each as a batch/v1 Job.
 *
 * A SequentialJob (batch.example.com/v1alpha1) is a chain of steps on the step engine: step
 * i is one Job running spec.containers[i] in a pod built from spec.template, and it starts
 * once step i-1 succeeded; the first failed step stops the sequence (the rest are Skipped).
 * Level-triggered like the OMJob controller: each reconcile derives the steps' states from
 * the recorded status and the cached Jobs, asks the engine what may start, and makes at most
 * one write. Job names are deterministic (naming_child(<seqjob>, "<index>-<container>")) and
 * AlreadyExists means adopt, so a restart never runs a step twice. Jobs carry a controller
 * ownerReference, so deleting the SequentialJob deletes them (no finalizer: nothing outside
 * the owner tree needs cleaning up). See README "SequentialJob". */
#ifndef OMJ_CTL_SEQJOB_H
#define OMJ_CTL_SEQJOB_H

#include "ctl/engine.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ctl;
struct seqjob_ctl;
struct cJSON;

#define SEQJOB_GROUP "batch.example.com"
#define SEQJOB_API_VERSION SEQJOB_GROUP "/v1alpha1"
#define SEQJOB_LABEL_NAME SEQJOB_GROUP "/sequentialjob" /* on Jobs and their pods */
#define SEQJOB_LABEL_STEP SEQJOB_GROUP "/step-index"

/* Creates the controller and its informers (SequentialJobs, and the operator's Jobs) for
 * the namespaces of ctl->cfg; NULL on failure. ctl must outlive it. */
struct seqjob_ctl *seqjob_ctl_new(struct ctl *ctl);
void seqjob_ctl_free(struct seqjob_ctl *c); /* NULL is a no-op; cancels writes in flight */
void seqjob_ctl_start(struct seqjob_ctl *c);
int seqjob_ctl_synced(const struct seqjob_ctl *c);
/* Re-examine every SequentialJob that is not finished (after becoming leader). */
void seqjob_ctl_resync(struct seqjob_ctl *c);

/* --- pure parts, exposed for the unit tests ------------------------------------------------ */

/* The cached view of one of our Jobs. */
struct seqjob_job {
    bool complete, failed; /* condition Complete / Failed is True */
    int active, succeeded, failed_pods;
    char reason[48]; /* of the Failed condition */
    char message[256];
    int64_t start_ms, completion_ms;
};

/* Extracts the cached view of a batch/v1 Job (never NULL but on allocation failure). */
struct seqjob_job *seqjob_job_trim(const struct cJSON *job);
/* RUNNING until the Job has a Complete (SUCCEEDED) or Failed (FAILED) condition. */
enum step_state seqjob_job_state(const struct seqjob_job *j);

/* The Job name of step index: naming_child(seqjob, "<index>-<container>"), the container
 * name sanitised and shortened so the suffix fits. Returns naming_child's result. */
int seqjob_job_name(char out[static 64], const char *seqjob, size_t index, const char *container);

/* Checks what the CRD schema cannot (or what an older schema let through): 1..ENGINE_MAX_STEPS
 * containers, each an object with a DNS-1123 label `name` and a non-empty `image`, names
 * unique; template and template.spec objects when present. Returns the number of steps, or
 * -1 with a message. */
int seqjob_validate_spec(const struct cJSON *spec, char *err, size_t errlen);

/* Builds step index's Job from a SequentialJob (metadata with name, namespace and uid; a
 * spec that passed seqjob_validate_spec). The caller owns the result; NULL on failure. */
struct cJSON *seqjob_build_job(const struct cJSON *seqjob, size_t index);

/* A hash of a status object that ignores key order, lastTransitionTime values and the
 * values of startTime/completionTime (only their presence counts): equal fingerprints mean
 * "no status write needed". 0 for NULL. */
uint64_t seqjob_status_fingerprint(const struct cJSON *status);

#endif
