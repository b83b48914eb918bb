/* Internals shared by the pipeline commands (not for other modules). */
#ifndef OMJ_CLI_CMD_H
#define OMJ_CLI_CMD_H

#include <stdbool.h>

#include "cli/build.h"
#include "cli/cli.h"

struct cJSON;

struct cmd_opts {
    const char *command, *name;
    const char *kubeconfig, *context, *client_config, *namespace, *mode;
    const char *config_file, *schedule, *time_zone, *secret_file, *pipeline_type, *fqn;
    const char *run_id;
    long after;       /* -1: every chunk */
    long chunk_bytes; /* logs: at most CLI_LOG_CHUNK_MAX */
    long timeout_s;
    int suspend; /* toggle: 1 suspend, 0 resume, -1 unset */
    bool json;
};

struct cmd {
    struct cmd_opts o;
    struct cli api;
    struct cli_config cfg;
    struct cli_pipeline p;
    const char *ns;
    bool job_mode;
    char pipeline_type[64], fqn[512];
    char cronjob_api[16]; /* "batch/v1" or "batch/v1beta1" once discovered */
};

enum { CMD_OK = 0, CMD_ERR = 1, CMD_USAGE = 2 };

/* Prints "omjob-operator pipeline: <msg>" to stderr. Returns CMD_ERR. */
int cmd_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints what failed with the API server's own message (from the last request). */
int cmd_api_error(struct cmd *x, const char *what, long status);

/* One API call with an optional JSON body; *out (may be NULL) gets the parsed response
 * (NULL if it is not JSON). Returns the HTTP status, or 0 on transport failure (reported). */
long cmd_call(struct cmd *x, const char *method, const char *path, const struct cJSON *body,
              const char *ctype, struct cJSON **out);
/* A collection path: "/api/v1/namespaces/NS/configmaps" etc. kind: configmaps, secrets,
 * pods, omjobs, cronomjobs, jobs, cronjobs. */
void cmd_path(struct cmd *x, char *out, size_t outlen, const char *kind, const char *name);
/* Lists kind with the pipeline's label selector (plus extra, may be NULL). Returns the
 * list object (caller frees; its "items" array), or NULL: *status says why (404 = no such
 * resource kind). */
struct cJSON *cmd_list(struct cmd *x, const char *kind, const char *extra_selector, long *status);
/* The newest item (creationTimestamp, then name) of a list's items, or NULL. */
const struct cJSON *cmd_newest(const struct cJSON *list);
/* Prints a cJSON tree on one line. */
void cmd_print_json(const struct cJSON *j);
const char *cmd_jstr(const struct cJSON *o, const char *path);
/* metadata.annotations[key] (keys hold dots, so not a cmd_jstr path), or NULL. */
const char *cmd_annotation(const struct cJSON *o, const char *key);

/* The CronJob API the server serves: batch/v1 (1.21+), else batch/v1beta1. */
const char *cmd_cronjob_api(struct cmd *x);

int cmd_deploy(struct cmd *x);
int cmd_run(struct cmd *x);
int cmd_toggle(struct cmd *x);
int cmd_delete(struct cmd *x);
int cmd_list_pipelines(struct cmd *x);
int cmd_status(struct cmd *x);
int cmd_kill(struct cmd *x);
int cmd_logs(struct cmd *x);

/* Job mode: deletes the pipeline's finished Jobs (not a CronJob's: its controller keeps its
 * own history) beyond successfulJobsHistoryLimit/failedJobsHistoryLimit, oldest first (a
 * killed run counts as failed). On 1.19/1.20 a Job's ttlSecondsAfterFinished is alpha and
 * off (the TTLAfterFinished feature gate): nothing else would ever remove them. Returns
 * the names deleted (caller frees), or NULL when the runs could not be listed (reported). */
struct cJSON *cmd_prune_job_runs(struct cmd *x);

/* Reads the pipeline's ConfigMap annotations (type, fqn, secret, mode) into x when it
 * exists. Returns 1 found, 0 not deployed, -1 error (reported). */
int cmd_load_pipeline(struct cmd *x);

#endif
