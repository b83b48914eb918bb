/* The Observatory controller (workflow.seventh-horizon.io/v1alpha1): a DAG of task pods with
 * retries, maxConcurrent, fail-fast, an always-run onExit task, and an optional cron schedule
 * where every slot is a fresh run of the graph. Decisions come from the step engine
 * (ctl/engine.h); this file translates spec → steps and steps → status. */
#ifndef OMJ_CTL_OBSERVATORY_H
#define OMJ_CTL_OBSERVATORY_H

#include <stdbool.h>

struct ctl;
struct kobj;
struct observatory_ctl;

#define OBSERVATORY_GROUP "workflow.seventh-horizon.io"

struct observatory_ctl *observatory_ctl_new(struct ctl *ctl);
void observatory_ctl_free(struct observatory_ctl *c);
void observatory_ctl_start(struct observatory_ctl *c);
int observatory_ctl_synced(const struct observatory_ctl *c);
/* As omjob_ctl_pod_changed. */
void observatory_ctl_pod_changed(struct observatory_ctl *c, const char *ns, const char *name,
                                 const struct kobj *pod, bool gone);
void observatory_ctl_resync(struct observatory_ctl *c);

#endif
