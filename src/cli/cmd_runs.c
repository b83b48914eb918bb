/* pipeline status, kill, logs: the runs of a pipeline. */
#include "cli/cli_util.h"
#include "cli/cmd.h"
#include "ctl/naming.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ANN_KILLED CLI_ANN_PREFIX "killed"

/* The runs of the pipeline (one run with --run-id). Returns the list or NULL (reported). */
static cJSON *
list_runs(struct cmd *x)
{
    char extra[128] = "";
    if (x->o.run_id) {
        char v[NAMING_LABEL_MAX + 1];
        naming_label_value(v, x->o.run_id);
        snprintf(extra, sizeof extra, "app.kubernetes.io/run-id=%s", v);
    }
    long st;
    cJSON *list = cmd_list(x, x->job_mode ? "jobs" : "omjobs", extra[0] ? extra : NULL, &st);
    if (!list) cmd_api_error(x, "listing runs", st);
    return list;
}

/* The newest run, or NULL with "no runs" reported. *list must be freed by the caller. */
static const cJSON *
latest_run(struct cmd *x, cJSON **list)
{
    *list = list_runs(x);
    if (!*list) return NULL;
    const cJSON *run = cmd_newest(*list);
    if (!run)
        cmd_error("pipeline %s has no %s in namespace %s", x->p.name,
                  x->o.run_id ? "run with that id" : "runs", x->ns);
    return run;
}

static bool
cond_true(const cJSON *job, const char *type, const cJSON **cond)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(
                              cJSON_GetObjectItemCaseSensitive(job, "status"), "conditions"))
    {
        const char *t = cmd_jstr(c, "type"), *s = cmd_jstr(c, "status");
        if (t && s && !strcmp(t, type) && !strcmp(s, "True")) {
            if (cond) *cond = c;
            return true;
        }
    }
    return false;
}

static void
add_str(cJSON *o, const char *key, const char *v)
{
    if (v && *v) cJSON_AddStringToObject(o, key, v);
}

static const cJSON *
main_terminated(const cJSON *pod)
{
    const cJSON *cs;
    cJSON_ArrayForEach(
        cs, cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(pod, "status"),
                                             "containerStatuses"))
    {
        const char *n = cmd_jstr(cs, "name");
        if (n && !strcmp(n, "main"))
            return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cs, "state"),
                                                    "terminated");
    }
    return NULL;
}

/* The Job's newest pod (list freed by the caller), or NULL. */
static const cJSON *
job_pod(struct cmd *x, const char *job, cJSON **pods)
{
    char sel[128];
    long st;
    snprintf(sel, sizeof sel, "job-name=%s", job);
    *pods = cmd_list(x, "pods", sel, &st);
    return *pods ? cmd_newest(*pods) : NULL;
}

static void
status_of_job(struct cmd *x, const cJSON *job, cJSON *out)
{
    const cJSON *fc = NULL, *st = cJSON_GetObjectItemCaseSensitive(job, "status");
    bool complete = cond_true(job, "Complete", NULL), failed = cond_true(job, "Failed", &fc);
    bool killed = cmd_annotation(job, ANN_KILLED) != NULL;
    cJSON *pods = NULL;
    const cJSON *pod = job_pod(x, cmd_jstr(job, "metadata.name"), &pods);
    const char *phase = cmd_jstr(pod, "status.phase");
    enum cli_state s =
        cli_state_from_job(complete, failed || killed, phase && !strcmp(phase, "Running"));
    cJSON_AddStringToObject(out, "state", cli_state_name(s));
    add_str(out, "startTime", cmd_jstr(st, "startTime"));
    add_str(out, "endTime", cmd_jstr(st, "completionTime"));
    const cJSON *term = main_terminated(pod);
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(term, "exitCode");
    if (cJSON_IsNumber(code)) cJSON_AddNumberToObject(out, "exitCode", code->valuedouble);
    if (killed)
        cJSON_AddStringToObject(out, "reason", "Killed");
    else if (fc)
        add_str(out, "reason", cmd_jstr(fc, "reason"));
    else
        add_str(out, "reason", cmd_jstr(term, "reason"));
    add_str(out, "message", fc ? cmd_jstr(fc, "message") : NULL);
    add_str(out, "pod", cmd_jstr(pod, "metadata.name"));
    cJSON_Delete(pods);
}

static void
status_of_omjob(const cJSON *omj, cJSON *out)
{
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(omj, "status");
    const char *phase = cmd_jstr(st, "phase");
    cJSON_AddStringToObject(out, "state", cli_state_name(cli_state_from_phase(phase)));
    add_str(out, "phase", phase);
    add_str(out, "startTime", cmd_jstr(st, "startTime"));
    add_str(out, "endTime", cmd_jstr(st, "completionTime"));
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(st, "mainPodExitCode");
    if (cJSON_IsNumber(code)) cJSON_AddNumberToObject(out, "exitCode", code->valuedouble);
    add_str(out, "reason", cmd_jstr(st, "mainPodReason"));
    add_str(out, "message", cmd_jstr(st, "message"));
    add_str(out, "pod", cmd_jstr(st, "mainPodName"));
}

int
cmd_status(struct cmd *x)
{
    if (cmd_load_pipeline(x) < 0) return CMD_ERR;
    cJSON *list;
    const cJSON *run = latest_run(x, &list);
    if (!run) {
        cJSON_Delete(list);
        return CMD_ERR;
    }
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "pipeline", x->p.name);
    add_str(out, "runId", cmd_annotation(run, CLI_ANN_PREFIX "run-id"));
    cJSON_AddStringToObject(out, "kind", x->job_mode ? "Job" : "OMJob");
    add_str(out, "name", cmd_jstr(run, "metadata.name"));
    if (x->job_mode)
        status_of_job(x, run, out);
    else
        status_of_omjob(run, out);
    if (x->o.json)
        cmd_print_json(out);
    else {
        printf("%s %s (run %s, %s %s/%s)\n", x->p.name, cmd_jstr(out, "state"),
               cmd_jstr(out, "runId") ? cmd_jstr(out, "runId") : "-", cmd_jstr(out, "kind"), x->ns,
               cmd_jstr(out, "name"));
        static const char *const keys[] = {"startTime", "endTime", "reason", "message", "pod"};
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            if (cmd_jstr(out, keys[i])) printf("  %-10s %s\n", keys[i], cmd_jstr(out, keys[i]));
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(out, "exitCode");
        if (code) printf("  %-10s %d\n", "exitCode", (int)code->valuedouble);
    }
    cJSON_Delete(out);
    cJSON_Delete(list);
    return CMD_OK;
}

/* Operator mode: deleting an unfinished OMJob lets its finalizer run the exit handler. */
static int
kill_omjob(struct cmd *x, const cJSON *omj, const cJSON *opts)
{
    const char *phase = cmd_jstr(omj, "status.phase");
    if ((phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed"))) ||
        cmd_jstr(omj, "metadata.deletionTimestamp"))
        return 0;
    char path[512];
    cmd_path(x, path, sizeof path, "omjobs", cmd_jstr(omj, "metadata.name"));
    long st = cmd_call(x, "DELETE", path, opts, NULL, NULL);
    if (st != 200 && st != 202 && st != 404)
        return -cmd_api_error(x, "deleting the OMJob", st);
    return 1;
}

/* Job mode: stop the Job from making new pods (parallelism 0, marked killed), then delete
 * its running pods: a graceful pod deletion is what runs the preStop exit handler. */
static int
kill_job(struct cmd *x, const cJSON *job, const cJSON *opts)
{
    if (cond_true(job, "Complete", NULL) || cond_true(job, "Failed", NULL) ||
        cmd_annotation(job, ANN_KILLED))
        return 0;
    const char *name = cmd_jstr(job, "metadata.name");
    char path[512];
    cmd_path(x, path, sizeof path, "jobs", name);
    cJSON *patch = cJSON_Parse("{\"metadata\":{\"annotations\":{\"" ANN_KILLED "\":\"true\"}},"
                               "\"spec\":{\"parallelism\":0}}");
    long st = cmd_call(x, "PATCH", path, patch, "application/merge-patch+json", NULL);
    cJSON_Delete(patch);
    if (st != 200) return -cmd_api_error(x, "stopping the Job", st);
    char sel[128];
    snprintf(sel, sizeof sel, "job-name=%s", name);
    cJSON *pods = cmd_list(x, "pods", sel, &st);
    const cJSON *pod;
    cJSON_ArrayForEach(pod, cJSON_GetObjectItemCaseSensitive(pods, "items"))
    {
        const char *phase = cmd_jstr(pod, "status.phase");
        if (phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed"))) continue;
        cmd_path(x, path, sizeof path, "pods", cmd_jstr(pod, "metadata.name"));
        st = cmd_call(x, "DELETE", path, opts, NULL, NULL);
        if (st != 200 && st != 404) {
            cJSON_Delete(pods);
            return -cmd_api_error(x, "deleting the Job's pod", st);
        }
    }
    cJSON_Delete(pods);
    return 1;
}

int
cmd_kill(struct cmd *x)
{
    if (cmd_load_pipeline(x) < 0) return CMD_ERR;
    cJSON *list = list_runs(x);
    if (!list) return CMD_ERR;
    cJSON *opts = cJSON_Parse("{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\","
                              "\"propagationPolicy\":\"Background\"}");
    cJSON *killed = cJSON_CreateArray();
    const cJSON *run;
    int rc = CMD_OK;
    cJSON_ArrayForEach(run, cJSON_GetObjectItemCaseSensitive(list, "items"))
    {
        int r = x->job_mode ? kill_job(x, run, opts) : kill_omjob(x, run, opts);
        if (r < 0) {
            rc = CMD_ERR;
            break;
        }
        if (r > 0) cJSON_AddItemToArray(killed, cJSON_CreateString(cmd_jstr(run, "metadata.name")));
    }
    if (!rc && x->o.json) {
        cJSON *out = cJSON_CreateObject();
        cJSON_AddStringToObject(out, "pipeline", x->p.name);
        cJSON_AddItemReferenceToObject(out, "killed", killed);
        cmd_print_json(out);
        cJSON_Delete(out);
    } else if (!rc) {
        const cJSON *k;
        cJSON_ArrayForEach(k, killed)
            printf("%s %s/%s killed\n", x->job_mode ? "Job" : "OMJob", x->ns, k->valuestring);
        if (!cJSON_GetArraySize(killed)) printf("pipeline %s has no active run\n", x->p.name);
    }
    cJSON_Delete(killed);
    cJSON_Delete(opts);
    cJSON_Delete(list);
    return rc;
}

/* --- logs --------------------------------------------------------------------------------- */

struct log_pass {
    struct cli_chunker k;
    long index, total, only; /* only: -1 = print every chunk */
    bool print;
    const char *key;
};

static int
on_chunk(void *arg, const char *chunk, size_t len)
{
    struct log_pass *lp = arg;
    if (lp->print && (lp->only < 0 || lp->index == lp->only)) {
        cJSON *o = cJSON_CreateObject();
        char num[32];
        char *text = malloc(len + 1);
        if (!o || !text) {
            free(text);
            cJSON_Delete(o);
            return 1;
        }
        memcpy(text, chunk, len);
        text[len] = '\0';
        cJSON_AddStringToObject(o, lp->key, text);
        free(text);
        snprintf(num, sizeof num, "%ld", lp->total);
        cJSON_AddStringToObject(o, "total", num);
        if (lp->index + 1 < lp->total) {
            snprintf(num, sizeof num, "%ld", lp->index + 1);
            cJSON_AddStringToObject(o, "after", num);
        }
        cmd_print_json(o);
        cJSON_Delete(o);
    }
    lp->index++;
    return 0;
}

static int
on_log_data(void *arg, const char *data, size_t len)
{
    struct log_pass *lp = arg;
    if (!lp->key) /* text output: straight through */
        return fwrite(data, 1, len, stdout) == len ? 0 : 1;
    return cli_chunker_feed(&lp->k, data, len);
}

/* One streamed read of the log through lp. Returns 0 or CMD_ERR (reported). */
static int
log_pass(struct cmd *x, const char *path, struct log_pass *lp)
{
    if (lp->key && cli_chunker_init(&lp->k, (size_t)x->o.chunk_bytes, on_chunk, lp))
        return cmd_error("out of memory");
    long st;
    char *body = NULL;
    int r = cli_stream(&x->api, path, on_log_data, lp, &st, &body);
    if (!r && st == 200 && lp->key) cli_chunker_finish(&lp->k);
    int rc = r || st != 200 ? cmd_api_error(x, "reading the log", st) : CMD_OK;
    free(body);
    if (lp->key) cli_chunker_free(&lp->k);
    return rc;
}

/* The main pod of a run: the OMJob's (status or its deterministic name) or the Job's newest. */
static int
run_pod(struct cmd *x, const cJSON *run, char *out, size_t outlen)
{
    const char *name = cmd_jstr(run, "metadata.name");
    if (x->job_mode) {
        cJSON *pods = NULL;
        const cJSON *pod = job_pod(x, name, &pods);
        if (pod) snprintf(out, outlen, "%s", cmd_jstr(pod, "metadata.name"));
        cJSON_Delete(pods);
        return pod ? 0 : cmd_error("run %s has no pod yet", name);
    }
    const char *p = cmd_jstr(run, "status.mainPodName");
    char child[NAMING_LABEL_MAX + 1];
    if (!p && naming_child(child, name, "main") >= 0) p = child;
    snprintf(out, outlen, "%s", p ? p : "");
    return 0;
}

int
cmd_logs(struct cmd *x)
{
    if (cmd_load_pipeline(x) < 0) return CMD_ERR;
    cJSON *list;
    const cJSON *run = latest_run(x, &list);
    char pod[128], path[512];
    if (!run || run_pod(x, run, pod, sizeof pod)) {
        cJSON_Delete(list);
        return CMD_ERR;
    }
    cJSON_Delete(list);
    cmd_path(x, path, sizeof path, "pods", pod);
    size_t n = strlen(path);
    snprintf(path + n, sizeof path - n, "/log?container=main");
    if (!x->o.json) return log_pass(x, path, &(struct log_pass){.only = -1});
    /* Two streamed passes: the first counts the chunks ("total"), the second prints them.
     * Chunk boundaries are a function of the bytes alone, so both passes agree on a log
     * that is not growing. Memory stays at one chunk. */
    struct log_pass count = {.only = -1, .key = cli_task_key(x->pipeline_type)};
    int rc = log_pass(x, path, &count);
    if (rc) return rc;
    long total = count.index ? count.index : 1;
    if (x->o.after >= total)
        return cmd_error("no log chunk %ld: the log has %ld", x->o.after, total);
    if (count.index == 0) {
        struct log_pass empty = {.total = 1, .only = -1, .print = true, .key = count.key};
        on_chunk(&empty, "", 0);
        return CMD_OK;
    }
    struct log_pass out = {.total = total, .only = x->o.after, .print = true, .key = count.key};
    return log_pass(x, path, &out);
}

/* --- job-mode history ------------------------------------------------------------------- */

static bool
owned_by_cronjob(const cJSON *job)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(
                              cJSON_GetObjectItemCaseSensitive(job, "metadata"), "ownerReferences"))
    {
        const char *k = cmd_jstr(r, "kind");
        if (k && !strcmp(k, "CronJob")) return true;
    }
    return false;
}

static int
cmp_created(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    const char *tx = cmd_jstr(x, "metadata.creationTimestamp"),
               *ty = cmd_jstr(y, "metadata.creationTimestamp");
    int c = strcmp(tx ? tx : "", ty ? ty : ""); /* RFC 3339 in UTC sorts as text */
    if (c) return c;
    const char *nx = cmd_jstr(x, "metadata.name"), *ny = cmd_jstr(y, "metadata.name");
    return strcmp(nx ? nx : "", ny ? ny : "");
}

cJSON *
cmd_prune_job_runs(struct cmd *x)
{
    long st;
    cJSON *list = cmd_list(x, "jobs", NULL, &st);
    if (!list) {
        cmd_api_error(x, "listing runs for the history limits", st);
        return NULL;
    }
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(list, "items"), *j;
    size_t n = 0, cap = (size_t)cJSON_GetArraySize(items);
    const cJSON **done = calloc(cap ? cap : 1, sizeof *done);
    long left[2] = {0, 0}; /* finished runs: succeeded, failed */
    cJSON_ArrayForEach(j, items)
    {
        bool ok = cond_true(j, "Complete", NULL);
        bool bad = cond_true(j, "Failed", NULL) || cmd_annotation(j, ANN_KILLED);
        if (!done || (!ok && !bad) || owned_by_cronjob(j) ||
            cmd_jstr(j, "metadata.deletionTimestamp"))
            continue;
        done[n++] = j;
        left[ok ? 0 : 1]++;
    }
    if (n > 1) qsort(done, n, sizeof *done, cmp_created);
    long keep[2] = {cli_config_long(&x->cfg, "successfulJobsHistoryLimit"),
                    cli_config_long(&x->cfg, "failedJobsHistoryLimit")};
    cJSON *opts = cJSON_Parse("{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\","
                              "\"propagationPolicy\":\"Background\"}");
    cJSON *pruned = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) { /* oldest first */
        int t = cond_true(done[i], "Complete", NULL) ? 0 : 1;
        if (left[t] <= (keep[t] < 0 ? 0 : keep[t])) continue;
        char path[512];
        const char *name = cmd_jstr(done[i], "metadata.name");
        cmd_path(x, path, sizeof path, "jobs", name);
        st = cmd_call(x, "DELETE", path, opts, NULL, NULL);
        if (st != 200 && st != 202 && st != 404) {
            cmd_api_error(x, "deleting a run beyond the history limit", st);
            break;
        }
        left[t]--;
        cJSON_AddItemToArray(pruned, cJSON_CreateString(name));
    }
    cJSON_Delete(opts);
    free(done);
    cJSON_Delete(list);
    return pruned;
}
