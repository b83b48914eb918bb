#include "ctl/controllers.h"

#include "ctl/cronomjob.h"
#include "ctl/observatory.h"
#include "ctl/omjob.h"
#include "ctl/seqjob.h"

/* Typed adapters: each controller keeps its own typed API. */
#define ADAPT(prefix)                                                                              \
    static void *prefix##_create(struct ctl *ctl) { return prefix##_ctl_new(ctl); }                \
    static void prefix##_destroy(void *c) { prefix##_ctl_free(c); }                               \
    static void prefix##_start(void *c) { prefix##_ctl_start(c); }                                 \
    static int prefix##_synced(const void *c) { return prefix##_ctl_synced(c); }                   \
    static void prefix##_resync(void *c) { prefix##_ctl_resync(c); }

ADAPT(omjob)
ADAPT(observatory)
ADAPT(cronomjob)
ADAPT(seqjob)

static void
omjob_pod(void *c, const char *ns, const char *name, const struct kobj *pod, bool gone)
{
    omjob_ctl_pod_changed(c, ns, name, pod, gone);
}

static void
observatory_pod(void *c, const char *ns, const char *name, const struct kobj *pod, bool gone)
{
    observatory_ctl_pod_changed(c, ns, name, pod, gone);
}

static const struct controller_def omjob_def = {"omjob", omjob_create, omjob_destroy, omjob_start,
                                                omjob_synced, omjob_resync, "OMJob", omjob_pod};
static const struct controller_def observatory_def = {
    "observatory",      observatory_create, observatory_destroy, observatory_start,
    observatory_synced, observatory_resync, "Observatory",       observatory_pod};
/* CronOMJob watches its OMJobs itself; SequentialJob its Jobs. */
static const struct controller_def cronomjob_def = {
    "cronomjob", cronomjob_create, cronomjob_destroy, cronomjob_start, cronomjob_synced,
    cronomjob_resync, NULL, NULL};
static const struct controller_def seqjob_def = {"seqjob", seqjob_create, seqjob_destroy,
                                                 seqjob_start, seqjob_synced, seqjob_resync,
                                                 NULL, NULL};

const struct controller_def *const controller_defs[] = {&omjob_def, &observatory_def,
                                                        &cronomjob_def, &seqjob_def};
const size_t controller_count = sizeof controller_defs / sizeof controller_defs[0];
