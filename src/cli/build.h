/* The pipeline client's configuration (OpenMetadata's Kubernetes pipeline client parameters)
 * and the objects it builds from it: ConfigMap, Secret, OMJob, CronOMJob, Job, CronJob.
 *
 * Builders return fresh cJSON trees the caller frees (cJSON_Delete), or NULL when out of
 * memory. The workflow config never appears in a pod or job spec: containers get it through
 * a configMapKeyRef (and the Secret through a secretKeyRef), so a bot token in it is not
 * copied into objects that many more people can read. */
#ifndef OMJ_CLI_BUILD_H
#define OMJ_CLI_BUILD_H

#include <stdbool.h>
#include <stddef.h>

struct cJSON;

#define CLI_DEFAULT_NAMESPACE "openmetadata-pipelines"
#define CLI_ANN_PREFIX "pipelines.openmetadata.org/"

/* The client configuration with every default filled in: a cJSON object whose keys are
 * OpenMetadata's parameter names (namespace, ingestionImage, …). */
struct cli_config {
    struct cJSON *v;
};

/* Defaults, then the file (YAML or JSON; NULL for none) on top. Unknown keys and wrong types
 * are errors. Returns 0 or -1 with err. */
int cli_config_load(struct cli_config *cfg, const char *path, char *err, size_t errlen);
void cli_config_free(struct cli_config *cfg);
const char *cli_config_str(const struct cli_config *cfg, const char *key);
long cli_config_long(const struct cli_config *cfg, const char *key);
bool cli_config_bool(const struct cli_config *cfg, const char *key);
/* Overrides a string parameter (e.g. --namespace). Returns 0 or -1. */
int cli_config_set_str(struct cli_config *cfg, const char *key, const char *value);

/* Everything the builders need to know about one pipeline (and, for runs, one run). */
struct cli_pipeline {
    const char *name; /* as the user gave it */
    const char *namespace;
    const char *pipeline_type; /* "metadata", "profiler", … */
    const char *fqn;           /* ingestionPipelineFQN */
    char label[64];            /* app.kubernetes.io/pipeline value */
    char configmap[64], secret[64], cronomjob[64], cronjob[64];
    bool has_secret;
    const char *run_id; /* runs only */
    char run_label[64]; /* app.kubernetes.io/run-id value */
    char job[64];       /* om-job-<name>-<8 of run id> */
};

/* Fills the derived names and labels from name (and run_id when not NULL). Returns 0 or -1
 * when the name is empty. */
int cli_pipeline_names(struct cli_pipeline *p, const char *name, const char *run_id);

struct cJSON *cli_build_configmap(const struct cli_pipeline *p, const char *workflow,
                                  const char *mode);
struct cJSON *cli_build_secret(const struct cli_pipeline *p, const unsigned char *data, size_t len);
struct cJSON *cli_build_omjob(const struct cli_config *cfg, const struct cli_pipeline *p);
struct cJSON *cli_build_job(const struct cli_config *cfg, const struct cli_pipeline *p);
struct cJSON *cli_build_cronomjob(const struct cli_config *cfg, const struct cli_pipeline *p,
                                  const char *schedule, const char *time_zone);
struct cJSON *cli_build_cronjob(const struct cli_config *cfg, const struct cli_pipeline *p,
                                const char *schedule, const char *time_zone);

#endif
