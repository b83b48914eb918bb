/* Kubernetes Events (core/v1) for controllers, with client-go-like correlation.
 *
 * event_record() POSTs an Event about an object. A repeat of the same (object, type,
 * reason, message) within the series TTL (10 min) does not create another Event: the
 * recorder merge-PATCHes the existing one with the new count and lastTimestamp, at most
 * once per series per batch interval (1 s), so 1000 repeats cost a request or two. A
 * per-object token bucket (burst 25, one token per 5 s, like client-go's spam filter)
 * guards the API server: a new series past the rate is dropped (counted, logged); a repeat
 * is never dropped, its PATCH just waits for a token. A PATCH answered 404 (the Event
 * expired or was deleted) creates a new Event for the series.
 *
 * Events never block or fail the caller: every error is logged (reason, never the
 * message) and swallowed. Requests use KUBE_RETRY and are not retried beyond it.
 * Memory is bounded: at most max_series series and max_objects buckets (LRU eviction),
 * and idle entries expire. */
#ifndef OMJ_KUBE_EVENT_H
#define OMJ_KUBE_EVENT_H

#include <stddef.h>
#include <stdint.h>

struct loop;
struct kube_client;
struct kube_req_spec;
struct event_recorder;

#define EVENT_MESSAGE_MAX 1024 /* bytes; longer messages are cut on a UTF-8 boundary */
#define EVENT_NAME_MAX 253

/* The HTTP side, replaceable for tests; defaults are kube_submit and kube_cancel. */
typedef uint64_t (*event_submit_fn)(struct kube_client *c, const struct kube_req_spec *spec);
typedef void (*event_cancel_fn)(struct kube_client *c, uint64_t id);

/* Zero fields take the defaults in brackets. */
struct event_recorder_opts {
    event_submit_fn submit; /* [kube_submit] */
    event_cancel_fn cancel; /* [kube_cancel] */
    int64_t batch_ms;       /* [1000] least time between two writes of one series */
    int64_t series_ttl_ms;  /* [600000] a repeat later than this starts a new Event */
    size_t max_series;      /* [4096] */
    size_t max_objects;     /* [4096] spam-filter buckets */
    double spam_burst;      /* [25] */
    int64_t spam_refill_ms; /* [5000] one token per this many ms */
};

/* component is source.component and reportingComponent ("omjob-operator"); host, if not
 * NULL, is source.host and reportingInstance. Both are copied. The client must outlive
 * the recorder. Returns NULL on allocation failure. */
struct event_recorder *event_recorder_new(struct loop *l, struct kube_client *c,
                                          const char *component, const char *host);
/* The same with tunables (opts may be NULL). */
struct event_recorder *event_recorder_new_opts(struct loop *l, struct kube_client *c,
                                               const char *component, const char *host,
                                               const struct event_recorder_opts *opts);
/* Cancels requests in flight (no callbacks) and forgets unsent repeats. NULL is a no-op. */
void event_recorder_free(struct event_recorder *r);

/* The object an event is about. namespace NULL or "" for cluster-scoped objects (the
 * Event then goes to "default"); resource_version may be NULL. All borrowed for the call. */
struct event_ref {
    const char *api_version, *kind, *namespace, *name, *uid, *resource_version;
};

/* Records an event. type "Normal" or "Warning"; reason CamelCase; the message is
 * formatted from fmt and cut to EVENT_MESSAGE_MAX bytes on a UTF-8 boundary. Never fails
 * visibly; NULL r, obj, obj->name, type, reason or fmt make it a no-op. */
void event_record(struct event_recorder *r, const struct event_ref *obj, const char *type,
                  const char *reason, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

/* The object with this uid is gone (its informer's DELETE): its series and its spam-filter
 * bucket are dropped, since no repeat can come; a series with occurrences still to write
 * (a create in flight, a batched repeat) goes once they are written. NULL r or uid is a
 * no-op. */
void event_forget_object(struct event_recorder *r, const char *uid);

/* Called for every event_record() that is not a no-op, before any spam filter or
 * coalescing (so it counts occurrences): the object's kind, the type and the reason. One
 * observer for the process (the operator's metrics); NULL removes it. */
typedef void (*event_observer_fn)(void *arg, const char *kind, const char *type,
                                  const char *reason);
void event_set_observer(event_observer_fn fn, void *arg);

struct event_recorder_stats {
    uint64_t created; /* Events created (201) */
    uint64_t patched; /* repeats written as PATCH (200) */
    uint64_t dropped; /* occurrences never written: spam filter, eviction, no memory */
    uint64_t failed;  /* requests that failed (after the client's retries) */
    uint64_t series;  /* series tracked now */
};
void event_recorder_get_stats(const struct event_recorder *r, struct event_recorder_stats *out);

#endif
