/* Every controller as the operator drives it: one table instead of four copies of the same
 * wiring (create, start, readiness, resync, routing pod events by owner kind). */
#ifndef OMJ_CTL_CONTROLLERS_H
#define OMJ_CTL_CONTROLLERS_H

#include <stdbool.h>
#include <stddef.h>

struct ctl;
struct kobj;

struct controller_def {
    const char *name; /* its entry in CONTROLLERS */
    void *(*create)(struct ctl *ctl);
    void (*destroy)(void *c);
    void (*start)(void *c);
    int (*synced)(const void *c);
    /* Look at every live object again: after becoming leader, on node changes, and as the
     * periodic safety net. */
    void (*resync)(void *c);
    const char *pod_owner_kind; /* managed pods owned by this kind wake it; NULL: none */
    /* pod: the cached pod (gone: it has just left the cache, with its last payload) */
    void (*pod_changed)(void *c, const char *ns, const char *owner_name, const struct kobj *pod,
                        bool gone);
};

extern const struct controller_def *const controller_defs[];
extern const size_t controller_count;

#endif
