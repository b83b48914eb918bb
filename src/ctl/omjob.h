/* The OMJob controller: a main pod, then an exit-handler pod that always runs.
 *
 * Level-triggered: each reconcile derives the two steps' states from the cached OMJob, its
 * pods and their nodes, asks the engine what may start, and makes at most one write (create,
 * delete, patch); the write's completion requeues the OMJob. Pod names are deterministic
 * (<omjob>-main, <omjob>-exit, <omjob>-exit-N) and AlreadyExists means adopt, so a restart
 * or a stale cache can never create a pod twice. See README "OMJob" for the guarantee. */
#ifndef OMJ_CTL_OMJOB_H
#define OMJ_CTL_OMJOB_H

#include <stdbool.h>

struct ctl;
struct kobj;
struct omjob_ctl;

#define OMJOB_GROUP "pipelines.openmetadata.org"
#define OMJOB_FINALIZER "pipelines.openmetadata.org/exit-handler"
/* Set to "true" on an OMJob to let its deletion skip the exit handler. */
#define OMJOB_SKIP_EXIT_ANNOTATION "pipelines.openmetadata.org/skip-exit-handler-on-delete"

struct omjob_ctl *omjob_ctl_new(struct ctl *ctl);
void omjob_ctl_free(struct omjob_ctl *c);
void omjob_ctl_start(struct omjob_ctl *c);
int omjob_ctl_synced(const struct omjob_ctl *c);
/* Routing from the shared informers: pod (owned by OMJob omjob_name) changed, or has just
 * left the cache (gone) - then its last payload is kept while the OMJob may still need it
 * (README "What final means"). */
void omjob_ctl_pod_changed(struct omjob_ctl *c, const char *ns, const char *omjob_name,
                           const struct kobj *pod, bool gone);
/* Re-examine everything (after becoming leader). */
void omjob_ctl_resync(struct omjob_ctl *c);

#endif
