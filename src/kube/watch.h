/* List+watch of one resource into a trimmed cache (the informer equivalent).
 *
 * LIST (paginated) → WATCH from the list's resourceVersion with bookmarks → on a normal end,
 * WATCH again from the last resourceVersion seen; on 410 Gone / Expired, LIST again and
 * deliver the differences (adds, updates and deletes) so no change is missed; on errors,
 * back off with jitter. resourceVersions are opaque strings. */
#ifndef OMJ_KUBE_WATCH_H
#define OMJ_KUBE_WATCH_H

#include "kube/cache.h"
#include "util/buf.h"

#include <stdbool.h>
#include <stddef.h>

struct loop;
struct kube_client;
struct cJSON;

/* --- the stream framer: newline-delimited JSON ------------------------------------- */
struct watch_framer {
    struct buf line;
    bool skipping; /* inside an oversized event: drop bytes until its newline */
    size_t oversized;
};
void framer_init(struct watch_framer *f, size_t max_event_bytes);
void framer_free(struct watch_framer *f);
/* Splits data into events and calls fn for each complete one (without the newline).
 * An event longer than the cap is dropped whole and counted in f->oversized; fn returns
 * non-zero to stop. Returns 0, or the non-zero value fn returned. */
int framer_feed(struct watch_framer *f, const char *data, size_t len,
                int (*fn)(void *arg, const char *event, size_t len), void *arg);

/* --- the informer ------------------------------------------------------------------- */
enum informer_event { INFORMER_ADD, INFORMER_UPDATE, INFORMER_DELETE };

struct informer_kind {
    const char *name;          /* for logs and metrics: "pods" */
    const char *finalizer;     /* the operator's finalizer on this kind, or NULL */
    /* Extracts the kind's cached data from one object; NULL means "nothing to keep". */
    void *(*trim)(const struct cJSON *obj);
    void (*free_payload)(void *payload);
};

/* Called after the cache changed. obj is the new object (for deletes, the last known one,
 * freed right after the call). */
typedef void (*informer_fn)(void *arg, enum informer_event ev, const struct kobj *obj);

struct informer_stats {
    unsigned long lists, watches, watch_restarts, relists, expired_410, events, oversized,
        errors;
};

struct informer;
/* path: collection path without query, e.g. "/api/v1/pods" or
 * "/apis/pipelines.openmetadata.org/v1/namespaces/ns/omjobs". selector: a labelSelector or
 * NULL. The informer owns its cache. */
struct informer *informer_new(struct loop *l, struct kube_client *c, const char *path,
                              const char *label_selector, const struct informer_kind *kind,
                              long watch_timeout_s, informer_fn fn, void *arg);
void informer_free(struct informer *inf);
void informer_start(struct informer *inf);
bool informer_synced(const struct informer *inf); /* the first LIST has completed */
struct cache *informer_cache(struct informer *inf);
/* A process-wide counter of cache changes (every add, update and delete of every informer).
 * Take it when sending a write; pass it to informer_apply with the write's answer. */
uint64_t informer_event_seq(void);
/* Write-through: puts an object the API server just returned (create/patch/get answer) into
 * the cache at once, so the next reconcile does not act on an older view. It is skipped when
 * the watch has already told something newer about this object since base_seq (an update,
 * or a delete): the answer is then older than the cache, and applying it would move the
 * cache backwards with no event left to repair it. An update the watch told meanwhile counts
 * as newer unless both resourceVersions are plain decimals (etcd revisions, as every real
 * API server serves) and the answer's is the greater: then the answer is applied. */
void informer_apply(struct informer *inf, const struct cJSON *obj, uint64_t base_seq);
void informer_get_stats(const struct informer *inf, struct informer_stats *out);

#endif
