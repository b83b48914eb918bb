/* pipeline deploy, run, toggle, delete, list. */
#include "cli/cli_util.h"
#include "cli/cmd.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CREATED 4

/* What this deploy created, so that a failure part way deletes exactly that. */
struct deploy_log {
    char created[MAX_CREATED][600];
    int n;
    cJSON *objects; /* [{"kind","name","action"}] for the output */
};

static char *
slurp(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        cmd_error("%s: %s", path, strerror(errno));
        return NULL;
    }
    char *data = malloc(max + 2);
    size_t n = data ? fread(data, 1, max + 1, f) : 0;
    int bad = !data || ferror(f);
    fclose(f);
    if (bad || n > max) {
        cmd_error("%s: %s", path, bad ? "cannot read" : "file too large (1 MiB at most)");
        free(data);
        return NULL;
    }
    data[n] = '\0';
    *len = n;
    return data;
}

static void
record(struct deploy_log *d, const char *kind, const char *name, const char *action)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", kind);
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddStringToObject(o, "action", action);
    cJSON_AddItemToArray(d->objects, o);
}

/* Keeps what the cluster owns on an update: a suspended schedule stays suspended. */
static void
keep_from_existing(cJSON *desired, const cJSON *existing)
{
    const cJSON *susp = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(existing, "spec"), "suspend");
    cJSON *spec = cJSON_GetObjectItemCaseSensitive(desired, "spec");
    if (cJSON_IsBool(susp) && cJSON_GetObjectItemCaseSensitive(spec, "suspend"))
        cJSON_ReplaceItemInObjectCaseSensitive(spec, "suspend",
                                               cJSON_CreateBool(cJSON_IsTrue(susp)));
}

/* Creates the object, or replaces it with a PUT carrying the resourceVersion just read (a
 * concurrent change gets 409 and a fresh attempt). Returns 0 or CMD_ERR (reported). */
static int
upsert(struct cmd *x, struct deploy_log *d, const char *kind_path, const char *kind, cJSON *desired)
{
    const char *name = cmd_jstr(desired, "metadata.name");
    char coll[512], path[600], what[300];
    cmd_path(x, coll, sizeof coll, kind_path, NULL);
    cmd_path(x, path, sizeof path, kind_path, name);
    snprintf(what, sizeof what, "%s %s/%s", kind, x->ns, name);
    for (int attempt = 0; attempt < 4; attempt++) {
        cJSON *cur = NULL, *resp = NULL;
        long st = cmd_call(x, "GET", path, NULL, NULL, &cur);
        if (st == 404) {
            st = cmd_call(x, "POST", coll, desired, NULL, &resp);
            if (st == 201 && d->n < MAX_CREATED) {
                snprintf(d->created[d->n++], sizeof d->created[0], "%s", path);
                record(d, kind, name, "created");
            }
        } else if (st == 200) {
            const char *rv = cmd_jstr(cur, "metadata.resourceVersion");
            cJSON *md = cJSON_GetObjectItemCaseSensitive(desired, "metadata");
            cJSON_DeleteItemFromObjectCaseSensitive(md, "resourceVersion");
            cJSON_AddStringToObject(md, "resourceVersion", rv ? rv : "");
            keep_from_existing(desired, cur);
            st = cmd_call(x, "PUT", path, desired, NULL, &resp);
            if (st == 200) record(d, kind, name, "updated");
        }
        cJSON_Delete(cur);
        if (st == 200 || st == 201) {
            cJSON_Delete(resp);
            return 0;
        }
        if (st != 409) {
            char *body = resp ? cJSON_PrintUnformatted(resp) : NULL;
            cmd_api_error(x, what, st);
            free(body);
            cJSON_Delete(resp);
            return CMD_ERR;
        }
        cJSON_Delete(resp); /* conflict or created meanwhile: read again */
    }
    return cmd_error("%s: changed concurrently four times; try again", what);
}

static void
rollback(struct cmd *x, struct deploy_log *d)
{
    cJSON *opts = cJSON_Parse("{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\","
                              "\"propagationPolicy\":\"Background\"}");
    for (int i = d->n - 1; i >= 0; i--) {
        long st = cmd_call(x, "DELETE", d->created[i], opts, NULL, NULL);
        fprintf(stderr, "omjob-operator pipeline: rolled back %s (HTTP %ld)\n", d->created[i], st);
    }
    cJSON_Delete(opts);
}

/* Removes a schedule left from an earlier deploy that had one (either mode). */
static void
drop_old_schedules(struct cmd *x, struct deploy_log *d)
{
    static const char *const kinds[][2] = {{"cronomjobs", "CronOMJob"}, {"cronjobs", "CronJob"}};
    for (size_t i = 0; i < 2; i++) {
        char path[512];
        const char *name = i == 0 ? x->p.cronomjob : x->p.cronjob;
        if (x->o.schedule && (i == 1) == x->job_mode) continue; /* the one this deploy writes */
        cmd_path(x, path, sizeof path, kinds[i][0], name);
        /* orphan: runs already started finish (and report) on their own */
        cJSON *opts = cJSON_Parse("{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\","
                                  "\"propagationPolicy\":\"Orphan\"}");
        long st = cmd_call(x, "DELETE", path, opts, NULL, NULL);
        cJSON_Delete(opts);
        if (st == 200 || st == 202) record(d, kinds[i][1], name, "deleted");
    }
}

static int
deploy_objects(struct cmd *x, struct deploy_log *d, const char *workflow, const char *secret,
               size_t secret_len)
{
    x->p.has_secret = secret != NULL;
    cJSON *cm = cli_build_configmap(&x->p, workflow, x->job_mode ? "job" : "operator");
    int rc = cm ? upsert(x, d, "configmaps", "ConfigMap", cm) : cmd_error("out of memory");
    cJSON_Delete(cm);
    if (!rc && secret) {
        cJSON *s = cli_build_secret(&x->p, (const unsigned char *)secret, secret_len);
        rc = s ? upsert(x, d, "secrets", "Secret", s) : cmd_error("out of memory");
        cJSON_Delete(s);
    }
    if (!rc && x->o.schedule) {
        cJSON *c = x->job_mode ? cli_build_cronjob(&x->cfg, &x->p, x->o.schedule, x->o.time_zone)
                               : cli_build_cronomjob(&x->cfg, &x->p, x->o.schedule, x->o.time_zone);
        if (c && x->job_mode)
            cJSON_ReplaceItemInObjectCaseSensitive(c, "apiVersion",
                                                   cJSON_CreateString(cmd_cronjob_api(x)));
        rc = c ? upsert(x, d, x->job_mode ? "cronjobs" : "cronomjobs",
                        x->job_mode ? "CronJob" : "CronOMJob", c)
               : cmd_error("out of memory");
        cJSON_Delete(c);
    }
    if (!rc) drop_old_schedules(x, d);
    return rc;
}

int
cmd_deploy(struct cmd *x)
{
    size_t len = 0, slen = 0;
    char *workflow = slurp(x->o.config_file, CLI_YAML_MAX_BYTES, &len);
    if (!workflow) return CMD_ERR;
    char err[256] = "";
    cJSON *parsed = cli_yaml_to_json(workflow, len, err, sizeof err);
    if (!parsed || strlen(workflow) != len) {
        free(workflow);
        cJSON_Delete(parsed);
        return cmd_error("%s: %s", x->o.config_file, parsed ? "contains NUL bytes" : err);
    }
    const char *type = cli_pipeline_type_of(parsed);
    if (type && !x->o.pipeline_type)
        snprintf(x->pipeline_type, sizeof x->pipeline_type, "%s", type);
    cJSON_Delete(parsed);
    char *secret = x->o.secret_file ? slurp(x->o.secret_file, CLI_YAML_MAX_BYTES, &slen) : NULL;
    if (x->o.secret_file && !secret) {
        free(workflow);
        return CMD_ERR;
    }
    struct deploy_log d = {.objects = cJSON_CreateArray()};
    int rc = deploy_objects(x, &d, workflow, secret, slen);
    if (rc)
        rollback(x, &d);
    else if (x->o.json) {
        cJSON *out = cJSON_CreateObject();
        cJSON_AddStringToObject(out, "pipeline", x->p.name);
        cJSON_AddStringToObject(out, "namespace", x->ns);
        cJSON_AddStringToObject(out, "mode", x->job_mode ? "job" : "operator");
        cJSON_AddStringToObject(out, "pipelineType", x->pipeline_type);
        cJSON_AddItemReferenceToObject(out, "objects", d.objects);
        cmd_print_json(out);
        cJSON_Delete(out);
    } else {
        const cJSON *o;
        cJSON_ArrayForEach(o, d.objects) printf("%s %s/%s %s\n", cmd_jstr(o, "kind"), x->ns,
                                                cmd_jstr(o, "name"), cmd_jstr(o, "action"));
    }
    cJSON_Delete(d.objects);
    if (secret) {
        memset(secret, 0, slen);
        free(secret);
    }
    free(workflow);
    return rc;
}

static void
print_run(struct cmd *x, const char *run_id, const cJSON *pruned)
{
    const cJSON *p;
    if (x->o.json) {
        cJSON *out = cJSON_CreateObject();
        cJSON_AddStringToObject(out, "pipeline", x->p.name);
        cJSON_AddStringToObject(out, "runId", run_id);
        cJSON_AddStringToObject(out, "kind", x->job_mode ? "Job" : "OMJob");
        cJSON_AddStringToObject(out, "name", x->p.job);
        cJSON_AddStringToObject(out, "namespace", x->ns);
        if (cJSON_GetArraySize(pruned))
            cJSON_AddItemToObject(out, "pruned", cJSON_Duplicate(pruned, 1));
        cmd_print_json(out);
        cJSON_Delete(out);
        return;
    }
    printf("%s %s/%s created (run id %s)\n", x->job_mode ? "Job" : "OMJob", x->ns, x->p.job,
           run_id);
    cJSON_ArrayForEach(p, pruned)
        printf("Job %s/%s deleted (history limit)\n", x->ns, p->valuestring);
}

int
cmd_run(struct cmd *x)
{
    int found = cmd_load_pipeline(x);
    if (found < 0) return CMD_ERR;
    if (!found) return cmd_error("pipeline %s is not deployed in namespace %s", x->p.name, x->ns);
    char uuid[37];
    const char *run_id = x->o.run_id;
    if (!run_id) {
        if (cli_uuid(uuid)) return cmd_error("cannot read /dev/urandom for a run id");
        run_id = uuid;
    }
    if (cli_pipeline_names(&x->p, x->p.name, run_id)) return cmd_error("bad run id %s", run_id);
    cJSON *obj = x->job_mode ? cli_build_job(&x->cfg, &x->p) : cli_build_omjob(&x->cfg, &x->p);
    char coll[512], what[300];
    cmd_path(x, coll, sizeof coll, x->job_mode ? "jobs" : "omjobs", NULL);
    snprintf(what, sizeof what, "creating %s %s/%s", x->job_mode ? "Job" : "OMJob", x->ns,
             x->p.job);
    cJSON *resp = NULL;
    long st = obj ? cmd_call(x, "POST", coll, obj, NULL, &resp) : 0;
    cJSON_Delete(obj);
    int rc = CMD_OK;
    if (st != 201) {
        char *body = resp ? cJSON_PrintUnformatted(resp) : NULL;
        rc = cmd_api_error(x, what, st);
        free(body);
    } else {
        /* operator mode: the operator applies the OMJob's ttlSecondsAfterFinished */
        cJSON *pruned = x->job_mode ? cmd_prune_job_runs(x) : NULL;
        print_run(x, run_id, pruned);
        cJSON_Delete(pruned);
    }
    cJSON_Delete(resp);
    return rc;
}

int
cmd_toggle(struct cmd *x)
{
    if (cmd_load_pipeline(x) < 0) return CMD_ERR;
    char path[512];
    const char *name = x->job_mode ? x->p.cronjob : x->p.cronomjob;
    cmd_path(x, path, sizeof path, x->job_mode ? "cronjobs" : "cronomjobs", name);
    for (int attempt = 0; attempt < 4; attempt++) {
        cJSON *cur = NULL, *resp = NULL;
        long st = cmd_call(x, "GET", path, NULL, NULL, &cur);
        if (st == 404) {
            cJSON_Delete(cur);
            return cmd_error("pipeline %s has no schedule (%s %s/%s not found)", x->p.name,
                             x->job_mode ? "CronJob" : "CronOMJob", x->ns, name);
        }
        if (st != 200) {
            cJSON_Delete(cur);
            return cmd_api_error(x, "reading the schedule", st);
        }
        /* a merge patch carrying resourceVersion is a precondition: 409 if it changed */
        cJSON *patch = cJSON_CreateObject();
        cJSON_AddStringToObject(cJSON_AddObjectToObject(patch, "metadata"), "resourceVersion",
                                cmd_jstr(cur, "metadata.resourceVersion")
                                    ? cmd_jstr(cur, "metadata.resourceVersion")
                                    : "");
        cJSON_AddBoolToObject(cJSON_AddObjectToObject(patch, "spec"), "suspend", x->o.suspend == 1);
        cJSON_Delete(cur);
        st = cmd_call(x, "PATCH", path, patch, "application/merge-patch+json", &resp);
        cJSON_Delete(patch);
        if (st == 200) {
            cJSON_Delete(resp);
            if (x->o.json) {
                cJSON *out = cJSON_CreateObject();
                cJSON_AddStringToObject(out, "pipeline", x->p.name);
                cJSON_AddStringToObject(out, "name", name);
                cJSON_AddBoolToObject(out, "suspend", x->o.suspend == 1);
                cmd_print_json(out);
                cJSON_Delete(out);
            } else
                printf("%s %s/%s %s\n", x->job_mode ? "CronJob" : "CronOMJob", x->ns, name,
                       x->o.suspend == 1 ? "suspended" : "resumed");
            return CMD_OK;
        }
        if (st != 409) {
            char *body = resp ? cJSON_PrintUnformatted(resp) : NULL;
            int rc = cmd_api_error(x, "updating the schedule", st);
            free(body);
            cJSON_Delete(resp);
            return rc;
        }
        cJSON_Delete(resp);
    }
    return cmd_error("the schedule changed concurrently four times; try again");
}

/* Every kind a pipeline may own, deleted in this order (runs before their configuration, so
 * a running exit handler can still read the ConfigMap while its OMJob finalizes). Pods only
 * when a Job left them behind: a Job deleted with batch/v1's default propagation (Orphan)
 * orphans its pods, and nothing else would remove them; every other pod goes with its owner. */
static const struct {
    const char *plural, *kind, *selector;
    bool orphans_only;
} pipeline_kinds[] = {
    {"cronomjobs", "CronOMJob", NULL, false}, {"cronjobs", "CronJob", NULL, false},
    {"omjobs", "OMJob", NULL, false},         {"jobs", "Job", NULL, false},
    {"pods", "Pod", "job-name", true},        {"secrets", "Secret", NULL, false},
    {"configmaps", "ConfigMap", NULL, false},
};

int
cmd_delete(struct cmd *x)
{
    cJSON *deleted = cJSON_CreateArray();
    cJSON *opts = cJSON_Parse("{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\","
                              "\"propagationPolicy\":\"Background\"}");
    int rc = CMD_OK;
    for (size_t k = 0; k < sizeof pipeline_kinds / sizeof pipeline_kinds[0] && !rc; k++) {
        long st;
        cJSON *list = cmd_list(x, pipeline_kinds[k].plural, pipeline_kinds[k].selector, &st);
        if (!list) {
            if (st != 404) /* 404: the kind is not installed (no CRD) */
                rc = cmd_api_error(x, "listing the pipeline's objects", st);
            continue;
        }
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(list, "items"))
        {
            char path[512];
            const char *name = cmd_jstr(it, "metadata.name");
            const cJSON *owners = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(it, "metadata"), "ownerReferences");
            if (pipeline_kinds[k].orphans_only && cJSON_GetArraySize(owners) > 0) continue;
            cmd_path(x, path, sizeof path, pipeline_kinds[k].plural, name);
            st = cmd_call(x, "DELETE", path, opts, NULL, NULL);
            if (st != 200 && st != 202 && st != 404) {
                rc = cmd_api_error(x, "deleting", st);
                break;
            }
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "kind", pipeline_kinds[k].kind);
            cJSON_AddStringToObject(o, "name", name);
            cJSON_AddItemToArray(deleted, o);
        }
        cJSON_Delete(list);
    }
    const cJSON *o;
    if (x->o.json && !rc) {
        cJSON *out = cJSON_CreateObject();
        cJSON_AddStringToObject(out, "pipeline", x->p.name);
        cJSON_AddItemReferenceToObject(out, "deleted", deleted);
        cmd_print_json(out);
        cJSON_Delete(out);
    } else if (!rc) {
        cJSON_ArrayForEach(o, deleted)
            printf("%s %s/%s deleted\n", cmd_jstr(o, "kind"), x->ns, cmd_jstr(o, "name"));
        if (!cJSON_GetArraySize(deleted))
            printf("nothing of pipeline %s found in namespace %s\n", x->p.name, x->ns);
    }
    cJSON_Delete(opts);
    cJSON_Delete(deleted);
    return rc;
}

/* The schedule object of a pipeline label among the cron lists, or NULL. */
static const cJSON *
find_schedule(const cJSON *lists[2], const char *label, const char **kind)
{
    for (int i = 0; i < 2; i++) {
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(lists[i], "items"))
        {
            const cJSON *labels = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(it, "metadata"), "labels");
            const cJSON *pl =
                cJSON_GetObjectItemCaseSensitive(labels, "app.kubernetes.io/pipeline");
            if (cJSON_IsString(pl) && !strcmp(pl->valuestring, label)) {
                *kind = i == 0 ? "CronOMJob" : "CronJob";
                return it;
            }
        }
    }
    return NULL;
}

int
cmd_list_pipelines(struct cmd *x)
{
    long st;
    cJSON *cms = cmd_list(x, "configmaps", NULL, &st);
    if (!cms) return cmd_api_error(x, "listing pipelines", st);
    cJSON *crons[2] = {cmd_list(x, "cronomjobs", NULL, &st), cmd_list(x, "cronjobs", NULL, &st)};
    const cJSON *lists[2] = {crons[0], crons[1]};
    cJSON *out = cJSON_CreateArray();
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(cms, "items"))
    {
        const cJSON *md = cJSON_GetObjectItemCaseSensitive(it, "metadata");
        const cJSON *pl = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(md, "labels"), "app.kubernetes.io/pipeline");
        const char *name = cmd_annotation(it, CLI_ANN_PREFIX "pipeline-name");
        if (!cJSON_IsString(pl) || !name) continue;
        const char *kind = NULL;
        const cJSON *cron = find_schedule(lists, pl->valuestring, &kind);
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "name", name);
        const char *type = cmd_annotation(it, CLI_ANN_PREFIX "pipeline-type");
        const char *mode = cmd_annotation(it, CLI_ANN_PREFIX "mode");
        cJSON_AddStringToObject(p, "pipelineType", type ? type : "");
        cJSON_AddStringToObject(p, "mode", mode ? mode : "operator");
        if (cron) {
            const cJSON *spec = cJSON_GetObjectItemCaseSensitive(cron, "spec");
            cJSON_AddStringToObject(p, "schedule",
                                    cmd_jstr(spec, "schedule") ? cmd_jstr(spec, "schedule") : "");
            cJSON_AddBoolToObject(p, "suspended",
                                  cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(spec, "suspend")));
            cJSON_AddStringToObject(p, "scheduleKind", kind);
        }
        cJSON_AddItemToArray(out, p);
    }
    if (x->o.json)
        cmd_print_json(out);
    else {
        printf("%-40s %-12s %-9s %-20s %s\n", "NAME", "TYPE", "MODE", "SCHEDULE", "SUSPENDED");
        cJSON_ArrayForEach(it, out)
        {
            const cJSON *s = cJSON_GetObjectItemCaseSensitive(it, "suspended");
            printf("%-40s %-12s %-9s %-20s %s\n", cmd_jstr(it, "name"),
                   cmd_jstr(it, "pipelineType"), cmd_jstr(it, "mode"),
                   cmd_jstr(it, "schedule") ? cmd_jstr(it, "schedule") : "-",
                   s ? (cJSON_IsTrue(s) ? "true" : "false") : "-");
        }
    }
    cJSON_Delete(out);
    cJSON_Delete(crons[0]);
    cJSON_Delete(crons[1]);
    cJSON_Delete(cms);
    return CMD_OK;
}
