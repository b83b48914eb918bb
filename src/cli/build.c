/* Client configuration and object builders of the pipeline client (see build.h). */
#include "cli/build.h"

#include "cli/cli_util.h"
#include "ctl/naming.h"
#include "util/base64.h"
#include "util/json.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- configuration ------------------------------------------------------------------- */

enum ptype { P_STR, P_INT, P_BOOL, P_OBJ, P_LIST, P_SECRETS, P_ENV, P_CMD };

/* OpenMetadata's parameter names and defaults (k8s pipeline client documentation), plus
 * two of ours: the commands of the ingestion and exit-handler containers. */
static const struct param {
    const char *name;
    enum ptype type;
    const char *def; /* JSON */
} params[] = {
    {"namespace", P_STR, "\"" CLI_DEFAULT_NAMESPACE "\""},
    {"ingestionImage", P_STR, "\"docker.getcollate.io/openmetadata/ingestion:1.12.0\""},
    {"imagePullPolicy", P_STR, "\"IfNotPresent\""},
    {"imagePullSecrets", P_SECRETS, "[]"},
    {"serviceAccountName", P_STR, "\"openmetadata-ingestion\""},
    {"resources", P_OBJ,
     "{\"requests\":{\"cpu\":\"500m\",\"memory\":\"1Gi\"},"
     "\"limits\":{\"cpu\":\"2\",\"memory\":\"4Gi\"}}"},
    {"ttlSecondsAfterFinished", P_INT, "604800"},
    {"activeDeadlineSeconds", P_INT, "7200"},
    {"backoffLimit", P_INT, "3"},
    {"successfulJobsHistoryLimit", P_INT, "3"},
    {"failedJobsHistoryLimit", P_INT, "3"},
    {"startingDeadlineSeconds", P_INT, "0"},
    {"nodeSelector", P_OBJ, "{}"},
    {"podAnnotations", P_OBJ, "{}"},
    {"tolerations", P_LIST, "[]"},
    {"runAsUser", P_INT, "1000"},
    {"runAsGroup", P_INT, "1000"},
    {"fsGroup", P_INT, "1000"},
    {"runAsNonRoot", P_BOOL, "true"},
    {"extraEnvVars", P_ENV, "[]"},
    {"useOMJobOperator", P_BOOL, "true"},
    {"command", P_CMD, "[\"python\",\"main.py\"]"},
    {"exitHandlerCommand", P_CMD, "[\"python\",\"exit_handler.py\"]"},
};
#define NPARAMS (sizeof params / sizeof params[0])

static const struct param *
find_param(const char *name)
{
    for (size_t i = 0; i < NPARAMS; i++)
        if (!strcmp(params[i].name, name)) return &params[i];
    return NULL;
}

static char *
read_file(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *data = malloc(max + 2);
    size_t n = data ? fread(data, 1, max + 1, f) : 0;
    int bad = data == NULL || ferror(f);
    fclose(f);
    if (bad || n > max) {
        snprintf(err, errlen, "%s: %s", path, bad ? "cannot read" : "file too large");
        free(data);
        return NULL;
    }
    data[n] = '\0';
    *len = n;
    return data;
}

/* "a,b" or ["a", {"name": "b"}] → [{"name":"a"},{"name":"b"}] */
static cJSON *
norm_secrets(const cJSON *v)
{
    cJSON *out = cJSON_CreateArray();
    if (cJSON_IsString(v)) {
        char *copy = strdup(v->valuestring), *save = NULL;
        for (char *t = copy ? strtok_r(copy, ", ", &save) : NULL; t;
             t = strtok_r(NULL, ", ", &save)) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", t);
            cJSON_AddItemToArray(out, o);
        }
        free(copy);
        return out;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, v)
    {
        const cJSON *n = cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "name") : e;
        if (!cJSON_IsString(n)) {
            cJSON_Delete(out);
            return NULL;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", n->valuestring);
        cJSON_AddItemToArray(out, o);
    }
    return cJSON_IsArray(v) ? out : (cJSON_Delete(out), NULL);
}

static cJSON *
env_var(const char *name, const char *value)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", name);
    json_add_str(o, "value", value); /* "K=": no value, never "" (util/json.h) */
    return o;
}

/* ["K=V", "K:V"], [{"name","value"}] or {"K": "V"} → [{"name","value"}] */
static cJSON *
norm_env(const cJSON *v)
{
    cJSON *out = cJSON_CreateArray();
    const cJSON *e;
    cJSON_ArrayForEach(e, v)
    {
        char name[256];
        const char *value = NULL;
        if (cJSON_IsObject(v) && cJSON_IsString(e)) {
            snprintf(name, sizeof name, "%s", e->string);
            value = e->valuestring;
        } else if (cJSON_IsString(e)) {
            const char *sep = strpbrk(e->valuestring, "=:");
            size_t n = sep ? (size_t)(sep - e->valuestring) : 0;
            if (sep && n > 0 && n < sizeof name) {
                memcpy(name, e->valuestring, n);
                name[n] = '\0';
                value = sep + 1;
            }
        } else if (cJSON_IsObject(e)) {
            const cJSON *n = cJSON_GetObjectItemCaseSensitive(e, "name");
            const cJSON *val = cJSON_GetObjectItemCaseSensitive(e, "value");
            if (cJSON_IsString(n) && cJSON_IsString(val)) {
                snprintf(name, sizeof name, "%s", n->valuestring);
                value = val->valuestring;
            }
        }
        if (!value) {
            cJSON_Delete(out);
            return NULL;
        }
        cJSON_AddItemToArray(out, env_var(name, value));
    }
    return out;
}

/* A boolean also accepted as the strings "true"/"false" (env-style configuration). */
static cJSON *
norm_value(const struct param *p, const cJSON *v)
{
    switch (p->type) {
    case P_STR:
        return cJSON_IsString(v) ? cJSON_Duplicate(v, 0) : NULL;
    case P_INT:
        if (cJSON_IsString(v) && v->valuestring[0]) {
            char *end;
            long n = strtol(v->valuestring, &end, 10);
            return *end ? NULL : cJSON_CreateNumber((double)n);
        }
        return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 2147483647.0 &&
                       v->valuedouble == (double)(long)v->valuedouble
                   ? cJSON_Duplicate(v, 0)
                   : NULL;
    case P_BOOL:
        if (cJSON_IsString(v))
            return !strcmp(v->valuestring, "true")    ? cJSON_CreateTrue()
                   : !strcmp(v->valuestring, "false") ? cJSON_CreateFalse()
                                                      : NULL;
        return cJSON_IsBool(v) ? cJSON_Duplicate(v, 0) : NULL;
    case P_OBJ:
        return cJSON_IsObject(v) ? cJSON_Duplicate(v, 1) : NULL;
    case P_LIST:
        return cJSON_IsArray(v) ? cJSON_Duplicate(v, 1) : NULL;
    case P_SECRETS:
        return norm_secrets(v);
    case P_ENV:
        return cJSON_IsArray(v) || cJSON_IsObject(v) ? norm_env(v) : NULL;
    case P_CMD: {
        const cJSON *e;
        cJSON_ArrayForEach(e, v) if (!cJSON_IsString(e)) return NULL;
        return cJSON_IsArray(v) && cJSON_GetArraySize(v) > 0 ? cJSON_Duplicate(v, 1) : NULL;
    }
    }
    return NULL;
}

static int
apply_file(struct cli_config *cfg, const char *path, char *err, size_t errlen)
{
    size_t len;
    char *text = read_file(path, CLI_YAML_MAX_BYTES, &len, err, errlen);
    if (!text) return -1;
    char perr[256] = "";
    cJSON *file = cli_yaml_to_json(text, len, perr, sizeof perr);
    free(text);
    if (!file || !(cJSON_IsObject(file) || cJSON_IsNull(file))) {
        snprintf(err, errlen, "%s: %s", path, file ? "not a mapping" : perr);
        cJSON_Delete(file);
        return -1;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, file)
    {
        const struct param *p = find_param(e->string);
        cJSON *v = p ? norm_value(p, e) : NULL;
        if (!v) {
            snprintf(err, errlen, "%s: %s parameter %s", path, p ? "bad value for" : "unknown",
                     e->string);
            cJSON_Delete(file);
            return -1;
        }
        cJSON_ReplaceItemInObjectCaseSensitive(cfg->v, e->string, v);
    }
    cJSON_Delete(file);
    return 0;
}

int
cli_config_load(struct cli_config *cfg, const char *path, char *err, size_t errlen)
{
    cfg->v = cJSON_CreateObject();
    for (size_t i = 0; cfg->v && i < NPARAMS; i++) {
        cJSON *d = cJSON_Parse(params[i].def);
        if (!d) break;
        cJSON_AddItemToObject(cfg->v, params[i].name, d);
    }
    if (!cfg->v || cJSON_GetArraySize(cfg->v) != (int)NPARAMS) {
        snprintf(err, errlen, "out of memory");
        cli_config_free(cfg);
        return -1;
    }
    if (path && apply_file(cfg, path, err, errlen)) {
        cli_config_free(cfg);
        return -1;
    }
    return 0;
}

void
cli_config_free(struct cli_config *cfg)
{
    cJSON_Delete(cfg->v);
    cfg->v = NULL;
}

static const cJSON *
cfg_item(const struct cli_config *cfg, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(cfg->v, key);
}

const char *
cli_config_str(const struct cli_config *cfg, const char *key)
{
    const cJSON *v = cfg_item(cfg, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

long
cli_config_long(const struct cli_config *cfg, const char *key)
{
    const cJSON *v = cfg_item(cfg, key);
    return cJSON_IsNumber(v) ? (long)v->valuedouble : 0;
}

bool
cli_config_bool(const struct cli_config *cfg, const char *key)
{
    return cJSON_IsTrue(cfg_item(cfg, key));
}

int
cli_config_set_str(struct cli_config *cfg, const char *key, const char *value)
{
    cJSON *v = cJSON_CreateString(value);
    return v && cJSON_ReplaceItemInObjectCaseSensitive(cfg->v, key, v) ? 0 : -1;
}

/* --- names ------------------------------------------------------------------------- */

int
cli_pipeline_names(struct cli_pipeline *p, const char *name, const char *run_id)
{
    if (!name || !*name) return -1;
    p->name = name;
    if (naming_label_value(p->label, name) < 0 ||
        cli_object_name(p->configmap, "om-config", name, NULL) < 0 ||
        cli_object_name(p->secret, "om-secret", name, NULL) < 0 ||
        cli_object_name(p->cronomjob, "om-cronomjob", name, NULL) < 0 ||
        cli_object_name(p->cronjob, "om-cronjob", name, NULL) < 0)
        return -1;
    p->run_id = run_id;
    p->run_label[0] = p->job[0] = '\0';
    if (run_id) {
        char suffix[9];
        cli_run_suffix(suffix, run_id);
        if (naming_label_value(p->run_label, run_id) < 0 ||
            cli_object_name(p->job, "om-job", name, suffix) < 0)
            return -1;
    }
    return 0;
}

/* --- builders ------------------------------------------------------------------------- */

static cJSON *
labels(const struct cli_pipeline *p, bool with_run)
{
    cJSON *l = cJSON_CreateObject();
    cJSON_AddStringToObject(l, "app.kubernetes.io/name", "openmetadata");
    cJSON_AddStringToObject(l, "app.kubernetes.io/component", "ingestion");
    cJSON_AddStringToObject(l, "app.kubernetes.io/managed-by", "openmetadata");
    cJSON_AddStringToObject(l, "app.kubernetes.io/pipeline", p->label);
    if (with_run && p->run_id) cJSON_AddStringToObject(l, "app.kubernetes.io/run-id", p->run_label);
    return l;
}

static cJSON *
object(const char *api_version, const char *kind, const char *name, const struct cli_pipeline *p,
       bool with_run)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "apiVersion", api_version);
    cJSON_AddStringToObject(o, "kind", kind);
    cJSON *md = cJSON_AddObjectToObject(o, "metadata");
    cJSON_AddStringToObject(md, "name", name);
    cJSON_AddStringToObject(md, "namespace", p->namespace);
    cJSON_AddItemToObject(md, "labels", labels(p, with_run));
    cJSON *ann = cJSON_AddObjectToObject(md, "annotations");
    cJSON_AddStringToObject(ann, CLI_ANN_PREFIX "pipeline-name", p->name);
    cJSON_AddStringToObject(ann, CLI_ANN_PREFIX "pipeline-type", p->pipeline_type);
    cJSON_AddStringToObject(ann, CLI_ANN_PREFIX "fqn", p->fqn);
    if (with_run && p->run_id) cJSON_AddStringToObject(ann, CLI_ANN_PREFIX "run-id", p->run_id);
    return o;
}

cJSON *
cli_build_configmap(const struct cli_pipeline *p, const char *workflow, const char *mode)
{
    cJSON *o = object("v1", "ConfigMap", p->configmap, p, false);
    cJSON *ann = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "metadata"),
                                                  "annotations");
    cJSON_AddStringToObject(ann, CLI_ANN_PREFIX "mode", mode);
    if (p->has_secret) cJSON_AddStringToObject(ann, CLI_ANN_PREFIX "secret", p->secret);
    cJSON *data = cJSON_AddObjectToObject(o, "data");
    cJSON_AddStringToObject(data, "config", workflow);
    return o;
}

cJSON *
cli_build_secret(const struct cli_pipeline *p, const unsigned char *bytes, size_t len)
{
    size_t n = base64_encoded_len(len);
    char *b64 = n ? malloc(n + 1) : NULL;
    if (!b64 || base64_encode(bytes, len, b64, n + 1)) {
        free(b64);
        return NULL;
    }
    cJSON *o = object("v1", "Secret", p->secret, p, false);
    cJSON_AddStringToObject(o, "type", "Opaque");
    cJSON *data = cJSON_AddObjectToObject(o, "data");
    cJSON_AddStringToObject(data, "config", b64);
    memset(b64, 0, n);
    free(b64);
    return o;
}

static cJSON *
env_from(const char *name, const char *ref_kind, const char *obj, const char *key)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", name);
    cJSON *ref = cJSON_AddObjectToObject(cJSON_AddObjectToObject(o, "valueFrom"), ref_kind);
    if (!strcmp(ref_kind, "fieldRef")) {
        cJSON_AddStringToObject(ref, "fieldPath", obj);
        return o;
    }
    cJSON_AddStringToObject(ref, "name", obj);
    cJSON_AddStringToObject(ref, "key", key);
    return o;
}

/* How a container learns its run: literal values for a run, placeholders or field refs for
 * a scheduled template (the CronOMJob controller substitutes {{ omjob.* }}; a CronJob's pod
 * reads its Job's labels). */
enum env_kind { ENV_RUN, ENV_CRONOMJOB, ENV_CRONJOB };

static cJSON *
build_env(const struct cli_config *cfg, const struct cli_pipeline *p, enum env_kind kind)
{
    cJSON *env = cJSON_CreateArray();
    cJSON_AddItemToArray(env, env_from("config", "configMapKeyRef", p->configmap, "config"));
    if (p->has_secret)
        cJSON_AddItemToArray(env, env_from("secretConfig", "secretKeyRef", p->secret, "config"));
    cJSON_AddItemToArray(env, env_var("pipelineType", p->pipeline_type));
    if (kind == ENV_RUN) {
        cJSON_AddItemToArray(env, env_var("pipelineRunId", p->run_id));
        cJSON_AddItemToArray(env, env_var("jobName", p->job));
    } else if (kind == ENV_CRONOMJOB) {
        cJSON_AddItemToArray(env, env_var("pipelineRunId", "{{ omjob.uid }}"));
        cJSON_AddItemToArray(env, env_var("jobName", "{{ omjob.name }}"));
    } else {
        cJSON_AddItemToArray(
            env, env_from("pipelineRunId", "fieldRef", "metadata.labels['controller-uid']", NULL));
        cJSON_AddItemToArray(env,
                             env_from("jobName", "fieldRef", "metadata.labels['job-name']", NULL));
    }
    cJSON_AddItemToArray(env, env_var("ingestionPipelineFQN", p->fqn));
    cJSON_AddItemToArray(env, env_var("namespace", p->namespace));
    const cJSON *e;
    cJSON_ArrayForEach(e, cfg_item(cfg, "extraEnvVars"))
        cJSON_AddItemToArray(env, cJSON_Duplicate(e, 1));
    return env;
}

static void
dup_into(cJSON *dst, const char *key, const cJSON *v)
{
    if (!v || ((cJSON_IsObject(v) || cJSON_IsArray(v)) && cJSON_GetArraySize(v) == 0))
        return; /* leave empty maps and lists out */
    cJSON_AddItemToObject(dst, key, cJSON_Duplicate(v, 1));
}

static cJSON *
security(const struct cli_config *cfg, bool pod_level)
{
    cJSON *s = cJSON_CreateObject();
    cJSON_AddNumberToObject(s, "runAsUser", (double)cli_config_long(cfg, "runAsUser"));
    cJSON_AddNumberToObject(s, "runAsGroup", (double)cli_config_long(cfg, "runAsGroup"));
    cJSON_AddBoolToObject(s, "runAsNonRoot", cli_config_bool(cfg, "runAsNonRoot"));
    if (pod_level) cJSON_AddNumberToObject(s, "fsGroup", (double)cli_config_long(cfg, "fsGroup"));
    return s;
}

/* An OMJob mainPodSpec/exitHandlerSpec. What is copied from the YAML has its nulls
 * stripped (omjob_spec): 1.19 refuses null in a custom resource unless nullable. */
static cJSON *
omjob_pod(const struct cli_config *cfg, const struct cli_pipeline *p, const char *cmd_key,
          enum env_kind kind)
{
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "image", cli_config_str(cfg, "ingestionImage"));
    json_add_str(s, "imagePullPolicy", cli_config_str(cfg, "imagePullPolicy"));
    dup_into(s, "imagePullSecrets", cfg_item(cfg, "imagePullSecrets"));
    if (*cli_config_str(cfg, "serviceAccountName"))
        cJSON_AddStringToObject(s, "serviceAccountName", cli_config_str(cfg, "serviceAccountName"));
    dup_into(s, "command", cfg_item(cfg, cmd_key));
    cJSON_AddItemToObject(s, "env", build_env(cfg, p, kind));
    dup_into(s, "resources", cfg_item(cfg, "resources"));
    dup_into(s, "nodeSelector", cfg_item(cfg, "nodeSelector"));
    dup_into(s, "tolerations", cfg_item(cfg, "tolerations"));
    cJSON_AddItemToObject(s, "securityContext", security(cfg, true));
    cJSON_AddItemToObject(s, "labels", labels(p, kind == ENV_RUN));
    dup_into(s, "annotations", cfg_item(cfg, "podAnnotations"));
    return s;
}

static cJSON *
omjob_spec(const struct cli_config *cfg, const struct cli_pipeline *p, enum env_kind kind)
{
    cJSON *spec = cJSON_CreateObject();
    cJSON_AddItemToObject(spec, "mainPodSpec", omjob_pod(cfg, p, "command", kind));
    cJSON_AddItemToObject(spec, "exitHandlerSpec", omjob_pod(cfg, p, "exitHandlerCommand", kind));
    cJSON_AddNumberToObject(spec, "ttlSecondsAfterFinished",
                            (double)cli_config_long(cfg, "ttlSecondsAfterFinished"));
    cJSON_AddNumberToObject(spec, "activeDeadlineSeconds",
                            (double)cli_config_long(cfg, "activeDeadlineSeconds"));
    json_strip_nulls(spec);
    return spec;
}

cJSON *
cli_build_omjob(const struct cli_config *cfg, const struct cli_pipeline *p)
{
    cJSON *o = object("pipelines.openmetadata.org/v1", "OMJob", p->job, p, true);
    cJSON_AddItemToObject(o, "spec", omjob_spec(cfg, p, ENV_RUN));
    return o;
}

/* The classic Job: one container whose preStop hook is the exit handler. preStop runs only
 * when Kubernetes stops a running container (deletion, deadline, eviction), never when the
 * container exits by itself: that gap is why operator mode exists. */
static cJSON *
job_spec(const struct cli_config *cfg, const struct cli_pipeline *p, enum env_kind kind)
{
    cJSON *spec = cJSON_CreateObject();
    cJSON_AddNumberToObject(spec, "backoffLimit", (double)cli_config_long(cfg, "backoffLimit"));
    cJSON_AddNumberToObject(spec, "activeDeadlineSeconds",
                            (double)cli_config_long(cfg, "activeDeadlineSeconds"));
    cJSON_AddNumberToObject(spec, "ttlSecondsAfterFinished",
                            (double)cli_config_long(cfg, "ttlSecondsAfterFinished"));
    cJSON *tpl = cJSON_AddObjectToObject(spec, "template");
    cJSON *md = cJSON_AddObjectToObject(tpl, "metadata");
    cJSON_AddItemToObject(md, "labels", labels(p, kind == ENV_RUN));
    dup_into(md, "annotations", cfg_item(cfg, "podAnnotations"));
    cJSON *ps = cJSON_AddObjectToObject(tpl, "spec");
    cJSON_AddStringToObject(ps, "restartPolicy", "Never");
    if (*cli_config_str(cfg, "serviceAccountName"))
        cJSON_AddStringToObject(ps, "serviceAccountName",
                                cli_config_str(cfg, "serviceAccountName"));
    dup_into(ps, "imagePullSecrets", cfg_item(cfg, "imagePullSecrets"));
    dup_into(ps, "nodeSelector", cfg_item(cfg, "nodeSelector"));
    dup_into(ps, "tolerations", cfg_item(cfg, "tolerations"));
    cJSON_AddItemToObject(ps, "securityContext", security(cfg, true));
    cJSON *c = cJSON_CreateObject();
    cJSON_AddItemToArray(cJSON_AddArrayToObject(ps, "containers"), c);
    cJSON_AddStringToObject(c, "name", "main");
    cJSON_AddStringToObject(c, "image", cli_config_str(cfg, "ingestionImage"));
    cJSON_AddStringToObject(c, "imagePullPolicy", cli_config_str(cfg, "imagePullPolicy"));
    dup_into(c, "command", cfg_item(cfg, "command"));
    cJSON_AddItemToObject(c, "env", build_env(cfg, p, kind));
    dup_into(c, "resources", cfg_item(cfg, "resources"));
    cJSON *csc = cJSON_AddObjectToObject(c, "securityContext");
    cJSON_AddBoolToObject(csc, "allowPrivilegeEscalation", 0);
    cJSON_AddItemToArray(
        cJSON_AddArrayToObject(cJSON_AddObjectToObject(csc, "capabilities"), "drop"),
        cJSON_CreateString("ALL"));
    cJSON *exec = cJSON_AddObjectToObject(
        cJSON_AddObjectToObject(cJSON_AddObjectToObject(c, "lifecycle"), "preStop"), "exec");
    dup_into(exec, "command", cfg_item(cfg, "exitHandlerCommand"));
    return spec;
}

cJSON *
cli_build_job(const struct cli_config *cfg, const struct cli_pipeline *p)
{
    cJSON *o = object("batch/v1", "Job", p->job, p, true);
    cJSON_AddItemToObject(o, "spec", job_spec(cfg, p, ENV_RUN));
    return o;
}

static void
cron_common(cJSON *spec, const struct cli_config *cfg, const char *schedule, const char *tz)
{
    cJSON_AddStringToObject(spec, "schedule", schedule);
    if (tz && *tz) cJSON_AddStringToObject(spec, "timeZone", tz);
    cJSON_AddBoolToObject(spec, "suspend", 0);
    cJSON_AddStringToObject(spec, "concurrencyPolicy", "Forbid");
    cJSON_AddNumberToObject(spec, "successfulJobsHistoryLimit",
                            (double)cli_config_long(cfg, "successfulJobsHistoryLimit"));
    cJSON_AddNumberToObject(spec, "failedJobsHistoryLimit",
                            (double)cli_config_long(cfg, "failedJobsHistoryLimit"));
}

cJSON *
cli_build_cronomjob(const struct cli_config *cfg, const struct cli_pipeline *p,
                    const char *schedule, const char *time_zone)
{
    cJSON *o = object("pipelines.openmetadata.org/v1", "CronOMJob", p->cronomjob, p, false);
    cJSON *spec = cJSON_AddObjectToObject(o, "spec");
    cron_common(spec, cfg, schedule, time_zone);
    /* 0: run only slots seen on time, never catch up (the CronOMJob's meaning of 0) */
    cJSON_AddNumberToObject(spec, "startingDeadlineSeconds",
                            (double)cli_config_long(cfg, "startingDeadlineSeconds"));
    cJSON_AddItemToObject(spec, "omJobSpec", omjob_spec(cfg, p, ENV_CRONOMJOB));
    return o;
}

cJSON *
cli_build_cronjob(const struct cli_config *cfg, const struct cli_pipeline *p, const char *schedule,
                  const char *time_zone)
{
    cJSON *o = object("batch/v1", "CronJob", p->cronjob, p, false);
    cJSON *spec = cJSON_AddObjectToObject(o, "spec");
    cron_common(spec, cfg, schedule, time_zone);
    /* The built-in controller reads 0 as "never start": a short window is the closest to
     * "no catch-up" it offers. */
    long sd = cli_config_long(cfg, "startingDeadlineSeconds");
    cJSON_AddNumberToObject(spec, "startingDeadlineSeconds", (double)(sd > 0 ? sd : 60));
    cJSON *jt = cJSON_AddObjectToObject(spec, "jobTemplate");
    cJSON_AddItemToObject(cJSON_AddObjectToObject(jt, "metadata"), "labels", labels(p, false));
    cJSON_AddItemToObject(jt, "spec", job_spec(cfg, p, ENV_CRONJOB));
    return o;
}
