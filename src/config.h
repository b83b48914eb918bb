/* Operator configuration: every setting has a --flag and an environment variable
 * (the Java operator's names where one existed). Flags win over the environment. */
#ifndef OMJ_CONFIG_H
#define OMJ_CONFIG_H

#include <stdbool.h>

struct config {
    const char *kubeconfig;       /* NULL: in-cluster, else KUBECONFIG, else ~/.kube/config */
    const char *context;          /* kubeconfig context, NULL = current-context */
    const char *operator_namespace;
    const char *watch_namespaces; /* comma list, NULL or "" = all namespaces */
    const char *controllers;      /* comma list of omjob,cronomjob,observatory,seqjob */
    const char *log_level;
    const char *bind_address;
    long health_port;
    long metrics_port;
    long reconciliation_threads; /* accepted for compatibility; ignored */
    long requeue_delay_s;
    bool leader_elect;
    const char *lease_name;
    long lease_duration_s;
    long renew_deadline_s;
    long retry_period_s;
    long qps;
    long burst;
    long node_lost_grace_s;
    bool watch_nodes;
    long watch_timeout_s;
    long clock_offset_s; /* test only: shifts time_now_ms() */
    bool show_version;
    bool show_help;
};

/* Fills cfg from defaults, then the environment, then argv. On a bad value writes a
 * message naming the flag (and its variable) into err and returns -1.
 * Strings point into argv/environ or static storage: nothing to free. */
int config_load(struct config *cfg, int argc, const char *const *argv, char *err,
                unsigned long errlen);

/* Writes the --help text (every flag with its environment variable and default). */
void config_usage(const char *prog);

#endif
