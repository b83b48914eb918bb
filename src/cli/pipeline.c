/* `omjob-operator pipeline …`: arguments, set-up and the helpers every command shares. */
#include "cli/pipeline.h"

#include "cli/cli_util.h"
#include "cli/cmd.h"
#include "util/buf.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
usage(FILE *f)
{
    fputs(
        "usage: omjob-operator pipeline COMMAND NAME [options]\n"
        "commands:\n"
        "  deploy NAME --config FILE [--schedule CRON [--time-zone TZ]] [--secret-file FILE]\n"
        "              [--pipeline-type TYPE] [--fqn FQN]\n"
        "  run NAME [--run-id UUID]\n"
        "  status NAME [--run-id UUID]\n"
        "  kill NAME\n"
        "  toggle NAME --suspend|--resume\n"
        "  delete NAME\n"
        "  list\n"
        "  logs NAME [--run-id UUID] [--after N] [--chunk-bytes N]\n"
        "options:\n"
        "  --kubeconfig FILE, --context NAME   API server (default: $KUBECONFIG, in-cluster,\n"
        "                                      else ~/.kube/config)\n"
        "  --client-config FILE                OpenMetadata k8s client parameters (YAML or JSON)\n"
        "  -n, --namespace NS                  overrides the client config's namespace\n"
        "  --mode operator|job                 OMJob/CronOMJob (default) or Job/CronJob\n"
        "  -o, --output text|json              output format (default text)\n"
        "  --timeout SECONDS                   per API request (default 30)\n",
        f);
}

int
cmd_error(const char *fmt, ...)
{
    va_list ap;
    fputs("omjob-operator pipeline: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CMD_ERR;
}

int
cmd_api_error(struct cmd *x, const char *what, long status)
{
    if (status == 0) return cmd_error("%s: %s", what, x->api.err);
    return cmd_error("%s: HTTP %ld: %s", what, status,
                     x->api.err[0] ? x->api.err : "unexpected answer");
}

long
cmd_call(struct cmd *x, const char *method, const char *path, const cJSON *body, const char *ctype,
         cJSON **out)
{
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    char *resp = NULL;
    long status = 0;
    if (out) *out = NULL;
    if (body && !text) {
        snprintf(x->api.err, sizeof x->api.err, "out of memory");
        return 0;
    }
    int r = cli_request(&x->api, method, path, body ? (ctype ? ctype : "application/json") : NULL,
                        text, &status, &resp);
    if (text) {
        memset(text, 0, strlen(text)); /* may hold a Secret */
        free(text);
    }
    if (r == 0 && out) *out = cJSON_Parse(resp ? resp : "");
    free(resp);
    return r ? 0 : status;
}

void
cmd_path(struct cmd *x, char *out, size_t outlen, const char *kind, const char *name)
{
    const char *prefix = "/api/v1";
    if (!strcmp(kind, "omjobs") || !strcmp(kind, "cronomjobs"))
        prefix = "/apis/pipelines.openmetadata.org/v1";
    else if (!strcmp(kind, "jobs"))
        prefix = "/apis/batch/v1";
    else if (!strcmp(kind, "cronjobs"))
        prefix = !strcmp(cmd_cronjob_api(x), "batch/v1") ? "/apis/batch/v1" : "/apis/batch/v1beta1";
    snprintf(out, outlen, "%s/namespaces/%s/%s%s%s", prefix, x->ns, kind, name ? "/" : "",
             name ? name : "");
}

const char *
cmd_cronjob_api(struct cmd *x)
{
    if (x->cronjob_api[0]) return x->cronjob_api;
    cJSON *res = NULL;
    long st = cmd_call(x, "GET", "/apis/batch/v1", NULL, NULL, &res);
    bool v1 = st != 200; /* cannot tell: assume a current server */
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(res, "resources"))
    {
        const char *n = cmd_jstr(r, "name");
        if (n && !strcmp(n, "cronjobs")) v1 = true;
    }
    cJSON_Delete(res);
    snprintf(x->cronjob_api, sizeof x->cronjob_api, "%s", v1 ? "batch/v1" : "batch/v1beta1");
    return x->cronjob_api;
}

cJSON *
cmd_list(struct cmd *x, const char *kind, const char *extra_selector, long *status)
{
    char sel[512], path[1024];
    if (x->p.name)
        snprintf(sel, sizeof sel,
                 "app.kubernetes.io/name=openmetadata,app.kubernetes.io/pipeline=%s%s%s",
                 x->p.label, extra_selector ? "," : "", extra_selector ? extra_selector : "");
    else
        snprintf(sel, sizeof sel,
                 "app.kubernetes.io/name=openmetadata,"
                 "app.kubernetes.io/component=ingestion");
    cmd_path(x, path, sizeof path, kind, NULL);
    struct buf q; /* sel escaped is at most 3 x 511 bytes */
    buf_init(&q, sizeof path + 3 * sizeof sel);
    cJSON *list = NULL;
    *status = 0;
    if (buf_printf(&q, "%s?labelSelector=", path) == BUF_OK &&
        buf_append_url_escaped(&q, sel) == BUF_OK)
        *status = cmd_call(x, "GET", buf_str(&q), NULL, NULL, &list);
    buf_free(&q);
    if (*status != 200 || !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(list, "items"))) {
        cJSON_Delete(list);
        return NULL;
    }
    return list;
}

const char *
cmd_jstr(const cJSON *o, const char *path)
{
    char key[128];
    while (o && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        if (n >= sizeof key) return NULL;
        memcpy(key, path, n);
        key[n] = '\0';
        o = cJSON_GetObjectItemCaseSensitive(o, key);
        path += n + (dot ? 1 : 0);
    }
    return cJSON_IsString(o) ? o->valuestring : NULL;
}

const char *
cmd_annotation(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "metadata"),
                                         "annotations"),
        key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

const cJSON *
cmd_newest(const cJSON *list)
{
    const cJSON *best = NULL, *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(list, "items"))
    {
        const char *ts = cmd_jstr(it, "metadata.creationTimestamp");
        const char *nm = cmd_jstr(it, "metadata.name");
        if (!best) {
            best = it;
            continue;
        }
        const char *bts = cmd_jstr(best, "metadata.creationTimestamp");
        int c = strcmp(ts ? ts : "", bts ? bts : "");
        if (c > 0 || (c == 0 && strcmp(nm ? nm : "", cmd_jstr(best, "metadata.name")
                                                         ? cmd_jstr(best, "metadata.name")
                                                         : "") > 0))
            best = it;
    }
    return best;
}

void
cmd_print_json(const cJSON *j)
{
    char *s = cJSON_PrintUnformatted(j);
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
}

int
cmd_load_pipeline(struct cmd *x)
{
    char path[512];
    cmd_path(x, path, sizeof path, "configmaps", x->p.configmap);
    cJSON *cm = NULL;
    long st = cmd_call(x, "GET", path, NULL, NULL, &cm);
    if (st == 404) {
        cJSON_Delete(cm);
        return 0;
    }
    if (st != 200) {
        char *body = cm ? cJSON_PrintUnformatted(cm) : NULL;
        cmd_api_error(x, "reading the pipeline's ConfigMap", st);
        free(body);
        cJSON_Delete(cm);
        return -1;
    }
    const char *t = cmd_annotation(cm, CLI_ANN_PREFIX "pipeline-type");
    const char *f = cmd_annotation(cm, CLI_ANN_PREFIX "fqn");
    const char *s = cmd_annotation(cm, CLI_ANN_PREFIX "secret");
    const char *m = cmd_annotation(cm, CLI_ANN_PREFIX "mode");
    if (t && !x->o.pipeline_type) snprintf(x->pipeline_type, sizeof x->pipeline_type, "%s", t);
    if (f && !x->o.fqn) snprintf(x->fqn, sizeof x->fqn, "%s", f);
    x->p.has_secret = s != NULL;
    if (m && !x->o.mode) x->job_mode = !strcmp(m, "job");
    cJSON_Delete(cm);
    return 1;
}

/* --- arguments ------------------------------------------------------------------------- */

static const char *const value_opts[] = {
    "--kubeconfig",
    "--context",
    "--client-config",
    "--namespace",
    "-n",
    "--mode",
    "--output",
    "-o",
    "--config",
    "--schedule",
    "--time-zone",
    "--secret-file",
    "--pipeline-type",
    "--fqn",
    "--run-id",
    "--after",
    "--chunk-bytes",
    "--timeout",
};

static int
parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < min || v > max) return -1;
    *out = v;
    return 0;
}

static int
set_opt(struct cmd_opts *o, const char *k, const char *v)
{
    const char **dst = NULL;
    if (!strcmp(k, "--kubeconfig"))
        dst = &o->kubeconfig;
    else if (!strcmp(k, "--context"))
        dst = &o->context;
    else if (!strcmp(k, "--client-config"))
        dst = &o->client_config;
    else if (!strcmp(k, "--namespace") || !strcmp(k, "-n"))
        dst = &o->namespace;
    else if (!strcmp(k, "--mode"))
        dst = &o->mode;
    else if (!strcmp(k, "--config"))
        dst = &o->config_file;
    else if (!strcmp(k, "--schedule"))
        dst = &o->schedule;
    else if (!strcmp(k, "--time-zone"))
        dst = &o->time_zone;
    else if (!strcmp(k, "--secret-file"))
        dst = &o->secret_file;
    else if (!strcmp(k, "--pipeline-type"))
        dst = &o->pipeline_type;
    else if (!strcmp(k, "--fqn"))
        dst = &o->fqn;
    else if (!strcmp(k, "--run-id"))
        dst = &o->run_id;
    if (dst) {
        *dst = v;
        return 0;
    }
    if (!strcmp(k, "--output") || !strcmp(k, "-o")) {
        if (strcmp(v, "json") && strcmp(v, "text")) return -1;
        o->json = !strcmp(v, "json");
        return 0;
    }
    if (!strcmp(k, "--after")) {
        o->json = true; /* a page only means something in the chunked output */
        return parse_long(v, 0, 1L << 40, &o->after);
    }
    if (!strcmp(k, "--chunk-bytes")) return parse_long(v, 4, CLI_LOG_CHUNK_MAX, &o->chunk_bytes);
    if (!strcmp(k, "--timeout")) return parse_long(v, 1, 3600, &o->timeout_s);
    return -1;
}

static int
takes_value(const char *k)
{
    for (size_t i = 0; i < sizeof value_opts / sizeof value_opts[0]; i++)
        if (!strcmp(value_opts[i], k)) return 1;
    return 0;
}

static int
parse_args(struct cmd_opts *o, int argc, char **argv)
{
    *o = (struct cmd_opts){
        .after = -1, .chunk_bytes = CLI_LOG_CHUNK_MAX, .timeout_s = 30, .suspend = -1};
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (!strcmp(a, "--suspend") || !strcmp(a, "--resume")) {
            o->suspend = !strcmp(a, "--suspend");
            continue;
        }
        if (a[0] == '-' && a[1]) {
            char key[64];
            const char *eq = strchr(a, '='), *val;
            size_t kl = eq ? (size_t)(eq - a) : strlen(a);
            if (kl >= sizeof key) return cmd_error("unknown option %s", a), -1;
            memcpy(key, a, kl);
            key[kl] = '\0';
            if (!takes_value(key)) return cmd_error("unknown option %s", a), -1;
            if (eq)
                val = eq + 1;
            else if (i + 1 < argc)
                val = argv[++i];
            else
                return cmd_error("%s needs a value", key), -1;
            if (set_opt(o, key, val)) return cmd_error("bad value for %s: %s", key, val), -1;
            continue;
        }
        if (!o->command)
            o->command = a;
        else if (!o->name)
            o->name = a;
        else
            return cmd_error("unexpected argument %s", a), -1;
    }
    return 0;
}

static const struct {
    const char *name;
    int (*fn)(struct cmd *);
    bool needs_name;
} commands[] = {
    {"deploy", cmd_deploy, true},        {"run", cmd_run, true},
    {"status", cmd_status, true},        {"kill", cmd_kill, true},
    {"toggle", cmd_toggle, true},        {"delete", cmd_delete, true},
    {"list", cmd_list_pipelines, false}, {"logs", cmd_logs, true},
};

static int
check_usage(const struct cmd_opts *o, int idx)
{
    if (commands[idx].needs_name != (o->name != NULL))
        return cmd_error(o->name ? "%s takes no pipeline name" : "%s needs a pipeline name",
                         o->command);
    if (!strcmp(o->command, "deploy") && !o->config_file)
        return cmd_error("deploy needs --config FILE");
    if (!strcmp(o->command, "toggle") && o->suspend < 0)
        return cmd_error("toggle needs --suspend or --resume");
    if (o->time_zone && !o->schedule) return cmd_error("--time-zone needs --schedule");
    if (o->mode && strcmp(o->mode, "operator") && strcmp(o->mode, "job"))
        return cmd_error("--mode must be operator or job");
    return 0;
}

/* Client config, API session and names. */
static int
setup(struct cmd *x)
{
    char err[512];
    if (cli_config_load(&x->cfg, x->o.client_config, err, sizeof err))
        return cmd_error("client config: %s", err);
    if (x->o.namespace && cli_config_set_str(&x->cfg, "namespace", x->o.namespace))
        return cmd_error("out of memory");
    x->ns = cli_config_str(&x->cfg, "namespace");
    x->job_mode =
        x->o.mode ? !strcmp(x->o.mode, "job") : !cli_config_bool(&x->cfg, "useOMJobOperator");
    if (x->o.name && cli_pipeline_names(&x->p, x->o.name, NULL))
        return cmd_error("bad pipeline name %s", x->o.name);
    x->p.namespace = x->ns;
    snprintf(x->pipeline_type, sizeof x->pipeline_type, "%s",
             x->o.pipeline_type ? x->o.pipeline_type : "metadata");
    snprintf(x->fqn, sizeof x->fqn, "%s", x->o.fqn ? x->o.fqn : (x->o.name ? x->o.name : ""));
    x->p.pipeline_type = x->pipeline_type;
    x->p.fqn = x->fqn;
    /* the operator's precedence: flag, then environment */
    const char *kubeconfig = x->o.kubeconfig ? x->o.kubeconfig : getenv("KUBECONFIG");
    const char *context = x->o.context ? x->o.context : getenv("KUBE_CONTEXT");
    if (cli_open(&x->api, kubeconfig, context, x->o.timeout_s))
        return cmd_error("API server: %s", x->api.err);
    return 0;
}

int
cli_pipeline_main(int argc, char **argv)
{
    struct cmd x;
    memset(&x, 0, sizeof x);
    if (argc > 1 &&
        (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))) {
        usage(stdout);
        return CMD_OK;
    }
    if (parse_args(&x.o, argc, argv) || !x.o.command) {
        usage(stderr);
        return CMD_USAGE;
    }
    int idx = -1;
    for (int i = 0; i < (int)(sizeof commands / sizeof commands[0]); i++)
        if (!strcmp(commands[i].name, x.o.command)) idx = i;
    if (idx < 0) {
        cmd_error("unknown command %s", x.o.command);
        usage(stderr);
        return CMD_USAGE;
    }
    if (check_usage(&x.o, idx)) return CMD_USAGE;
    int rc = setup(&x) ? CMD_ERR : commands[idx].fn(&x);
    cli_close(&x.api);
    cli_config_free(&x.cfg);
    fflush(stdout);
    return rc;
}
