#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum opt_type { OPT_STR, OPT_LONG, OPT_BOOL };

struct opt {
    const char *flag; /* without the leading "--" */
    const char *env;  /* NULL: flag only */
    enum opt_type type;
    size_t offset;
    const char *def;
    long min, max;
    const char *help;
};

#define O(f) offsetof(struct config, f)
static const struct opt opts[] = {
    {"kubeconfig", "KUBECONFIG", OPT_STR, O(kubeconfig), NULL, 0, 0,
     "kubeconfig file (default: in-cluster config, else ~/.kube/config)"},
    {"context", "KUBE_CONTEXT", OPT_STR, O(context), NULL, 0, 0,
     "kubeconfig context (default: current-context)"},
    {"operator-namespace", "OPERATOR_NAMESPACE", OPT_STR, O(operator_namespace), NULL, 0, 0,
     "namespace of the leader lease (default: the pod's namespace, else \"default\")"},
    {"watch-namespaces", "WATCH_NAMESPACES", OPT_STR, O(watch_namespaces), "", 0, 0,
     "comma-separated namespaces to watch (default: all)"},
    {"controllers", "CONTROLLERS", OPT_STR, O(controllers), "omjob,cronomjob,observatory,seqjob", 0,
     0, "controllers to run"},
    {"log-level", "LOG_LEVEL", OPT_STR, O(log_level), "INFO", 0, 0, "DEBUG, INFO, WARN or ERROR"},
    {"bind-address", "BIND_ADDRESS", OPT_STR, O(bind_address), "0.0.0.0", 0, 0,
     "address of the health and metrics listeners"},
    {"health-port", "HEALTH_CHECK_PORT", OPT_LONG, O(health_port), "8080", 0, 65535,
     "port of /healthz /readyz /info (0 disables)"},
    {"metrics-port", "METRICS_PORT", OPT_LONG, O(metrics_port), "8081", 0, 65535,
     "port of /metrics (0 disables; may equal the health port)"},
    {"reconciliation-threads", "RECONCILIATION_THREADS", OPT_LONG, O(reconciliation_threads), "1",
     0, 1024, "accepted for compatibility with the Java operator; ignored (single-threaded)"},
    {"requeue-delay-seconds", "REQUEUE_DELAY_SECONDS", OPT_LONG, O(requeue_delay_s), "60", 1, 86400,
     "safety-net resync of objects that are still running"},
    {"leader-elect", "LEADER_ELECT", OPT_BOOL, O(leader_elect), "true", 0, 0,
     "elect a leader on a coordination.k8s.io Lease"},
    {"lease-name", "LEASE_NAME", OPT_STR, O(lease_name), "omjob-operator-leader", 0, 0,
     "name of the leader Lease"},
    {"lease-duration-seconds", "LEASE_DURATION_SECONDS", OPT_LONG, O(lease_duration_s), "15", 2,
     3600, "leader lease duration"},
    {"renew-deadline-seconds", "RENEW_DEADLINE_SECONDS", OPT_LONG, O(renew_deadline_s), "10", 1,
     3600, "give up leadership when not renewed within this"},
    {"retry-period-seconds", "RETRY_PERIOD_SECONDS", OPT_LONG, O(retry_period_s), "2", 1, 600,
     "lease acquire/renew retry period"},
    {"qps", "KUBE_API_QPS", OPT_LONG, O(qps), "20", 1, 100000, "sustained write requests per second"},
    {"burst", "KUBE_API_BURST", OPT_LONG, O(burst), "30", 1, 100000, "write request burst"},
    {"node-lost-grace-seconds", "NODE_LOST_GRACE_SECONDS", OPT_LONG, O(node_lost_grace_s), "120", 0,
     86400, "a main pod whose node is NotReady/Unknown this long is treated as lost"},
    {"watch-nodes", "WATCH_NODES", OPT_BOOL, O(watch_nodes), "true", 0, 0,
     "watch Nodes to detect node loss (needs list/watch on nodes; false: node loss is seen "
     "only when the pod itself fails or is evicted)"},
    {"watch-timeout-seconds", "WATCH_TIMEOUT_SECONDS", OPT_LONG, O(watch_timeout_s), "300", 10,
     3600, "server-side timeout of each watch request"},
    {"clock-offset-seconds", "OMJ_CLOCK_OFFSET_SECONDS", OPT_LONG, O(clock_offset_s), "0",
     -315576000, 315576000, "test only: shift the operator's wall clock"},
    {"version", NULL, OPT_BOOL, O(show_version), "false", 0, 0, "print version and dependencies"},
    {"help", NULL, OPT_BOOL, O(show_help), "false", 0, 0, "print this help"},
};
#undef O

static int
parse_bool(const char *s, bool *out)
{
    if (!strcasecmp(s, "true") || !strcmp(s, "1") || !strcasecmp(s, "yes")) {
        *out = true;
        return 0;
    }
    if (!strcasecmp(s, "false") || !strcmp(s, "0") || !strcasecmp(s, "no")) {
        *out = false;
        return 0;
    }
    return -1;
}

static int
set_opt(struct config *cfg, const struct opt *o, const char *val, const char *origin, char *err,
        unsigned long errlen)
{
    void *field = (char *)cfg + o->offset;
    switch (o->type) {
    case OPT_STR:
        *(const char **)field = val;
        return 0;
    case OPT_BOOL:
        if (parse_bool(val, (bool *)field) == 0)
            return 0;
        snprintf(err, errlen, "%s: \"%s\" is not a boolean (true/false)", origin, val);
        return -1;
    case OPT_LONG: {
        char *end;
        errno = 0;
        long v = strtol(val, &end, 10);
        if (errno || end == val || *end || v < o->min || v > o->max) {
            snprintf(err, errlen, "%s: \"%s\" is not an integer in [%ld, %ld]", origin, val, o->min,
                     o->max);
            return -1;
        }
        *(long *)field = v;
        return 0;
    }
    }
    return -1;
}

static const struct opt *
find_flag(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        if (strlen(opts[i].flag) == len && !strncmp(opts[i].flag, name, len))
            return &opts[i];
    return NULL;
}

static int
load_defaults_and_env(struct config *cfg, char *err, unsigned long errlen)
{
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        const struct opt *o = &opts[i];
        if (o->def && set_opt(cfg, o, o->def, o->flag, err, errlen))
            return -1;
        const char *v = o->env ? getenv(o->env) : NULL;
        if (v && *v && set_opt(cfg, o, v, o->env, err, errlen))
            return -1;
    }
    return 0;
}

int
config_load(struct config *cfg, int argc, const char *const *argv, char *err, unsigned long errlen)
{
    memset(cfg, 0, sizeof *cfg);
    if (load_defaults_and_env(cfg, err, errlen))
        return -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h"))
            a = "--help";
        if (strncmp(a, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument \"%s\" (see --help)", a);
            return -1;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const struct opt *o = find_flag(name, len);
        if (!o) {
            snprintf(err, errlen, "unknown flag \"%s\" (see --help)", a);
            return -1;
        }
        const char *val = eq ? eq + 1 : NULL;
        if (!val && o->type == OPT_BOOL)
            val = "true";
        if (!val && i + 1 < argc)
            val = argv[++i];
        if (!val) {
            snprintf(err, errlen, "--%s needs a value", o->flag);
            return -1;
        }
        char origin[64];
        snprintf(origin, sizeof origin, "--%s", o->flag);
        if (set_opt(cfg, o, val, origin, err, errlen))
            return -1;
    }
    /* client-go's rule (NewLeaderElector): a leader gives up before a standby may take over,
     * and gets more than one try within its deadline (the retry period with 20% jitter). */
    if (cfg->leader_elect && (cfg->lease_duration_s <= cfg->renew_deadline_s ||
                              cfg->renew_deadline_s * 5 <= cfg->retry_period_s * 6)) {
        snprintf(err, errlen, "leader election needs lease duration (%lds) > renew deadline "
                              "(%lds) > 1.2 x retry period (%lds)",
                 cfg->lease_duration_s, cfg->renew_deadline_s, cfg->retry_period_s);
        return -1;
    }
    return 0;
}

void
config_usage(const char *prog)
{
    printf("Usage: %s [flags]\n"
           "       %s pipeline COMMAND ... (see %s pipeline --help)\n\n"
           "Runs the OMJob, CronOMJob, Observatory and SequentialJob controllers.\n\nFlags:\n",
           prog, prog, prog);
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        const struct opt *o = &opts[i];
        printf("  --%-26s %s\n", o->flag, o->help);
        if (o->env || o->def)
            printf("  %-28s %s%s%s%s%s\n", "", o->env ? "env " : "", o->env ? o->env : "",
                   o->env && o->def ? ", " : "", o->def ? "default " : "", o->def ? o->def : "");
    }
}
