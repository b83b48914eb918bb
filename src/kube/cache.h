/* The trimmed object cache of one watched resource.
 *
 * A cached object (kobj) keeps only metadata the controllers use plus a kind-specific
 * payload extracted by the informer's trim function — never the whole JSON document.
 * Objects are indexed by "namespace/name" and by their controller owner's UID. */
#ifndef OMJ_KUBE_CACHE_H
#define OMJ_KUBE_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct cJSON;

struct kobj {
    char *key;       /* "namespace/name" ("name" for cluster-scoped objects) */
    const char *ns;  /* points into storage owned by the kobj; "" when cluster-scoped */
    const char *name;
    char *uid;
    char *rv;                 /* opaque: compared for equality only */
    int64_t generation;
    int64_t deletion_ms;      /* metadata.deletionTimestamp, 0 when unset */
    char *owner_uid;          /* the controller ownerReference's uid, or NULL */
    char *owner_ref;          /* and its "Kind/name" (same namespace), or NULL */
    unsigned finalizers;      /* bit 0: has any finalizer; bit 1: has the operator's;
                                 bit 2: has another one */
    uint64_t seq;             /* informer_event_seq() when it was last put in the cache */
    void *payload;            /* the kind's trimmed data (trim function's result) */
    /* private */
    struct kobj *next_key, *next_owner;
    uint32_t relist_mark;
    char storage[];           /* ns, name, key, uid, rv, owner_uid, owner_ref: one allocation */
};

struct cache;
typedef void (*cache_free_fn)(void *payload);

struct cache *cache_new(cache_free_fn free_payload);
void cache_free(struct cache *c); /* frees every object */

/* Builds a kobj from an object's metadata (NULL if metadata is unusable). The payload is
 * attached by the caller. `our_finalizer` sets bit 1 of finalizers when present. */
struct kobj *kobj_from_json(const struct cJSON *obj, const char *our_finalizer);
void kobj_free(struct cache *c, struct kobj *o);

/* Inserts or replaces; returns the replaced object (the caller frees it) or NULL. */
struct kobj *cache_put(struct cache *c, struct kobj *o);
/* Unlinks and returns the object (the caller frees it), or NULL. */
struct kobj *cache_remove(struct cache *c, const char *key);
struct kobj *cache_get(const struct cache *c, const char *key);
size_t cache_count(const struct cache *c);

/* Calls fn for every object; fn must not modify the cache. */
void cache_foreach(const struct cache *c, void (*fn)(void *arg, struct kobj *o), void *arg);
/* Calls fn for every object whose controller owner has this UID. */
void cache_foreach_owned(const struct cache *c, const char *owner_uid,
                         void (*fn)(void *arg, struct kobj *o), void *arg);

/* Relist support: objects not marked since cache_mark_begin() can be collected. */
uint32_t cache_mark_begin(struct cache *c);
void cache_mark(struct kobj *o, uint32_t mark);
/* Removes one unmarked object and returns it (caller frees), or NULL when none is left. */
struct kobj *cache_take_unmarked(struct cache *c, uint32_t mark);

#endif
