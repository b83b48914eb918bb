/* The controller work queue: string keys ("namespace/name") waiting to be reconciled.
 *
 * After client-go's workqueue: a key waiting is not queued twice; a key is never processed
 * twice at once (an add while it is being processed is remembered and the key comes back
 * after); delayed requeues (add_after, earliest deadline wins); per-key exponential backoff
 * for failures (add_rate_limited, reset with forget).
 *
 * Processing runs on the loop: process() is called from a timer callback, for at most
 * WORKQUEUE_MAX_PER_ITERATION keys per loop iteration, in FIFO order of readiness.
 * process() may call any workqueue_ function except workqueue_free.
 *
 * Memory is bounded: at most max_keys distinct keys are tracked (new keys past it are
 * dropped with a log line and counted); a key's entry, with its failure count, is released
 * as soon as it is neither waiting, delayed nor being processed. So failure counts survive
 * only while the key stays queued (the usual "process, fail, add_rate_limited" cycle).
 *
 * Keys are copied; the key handed to process() is valid only during the call. */
#ifndef OMJ_KUBE_QUEUE_H
#define OMJ_KUBE_QUEUE_H

#include <stddef.h>
#include <stdint.h>

struct loop;
struct workqueue;

typedef void (*workqueue_process_fn)(void *arg, const char *key);

#define WORKQUEUE_MAX_PER_ITERATION 256
#define WORKQUEUE_MAX_KEYS 1000000
#define WORKQUEUE_BACKOFF_BASE_MS 5
#define WORKQUEUE_BACKOFF_CAP_MS 300000 /* 5 min */

/* Returns NULL on allocation failure. */
struct workqueue *workqueue_new(struct loop *l, workqueue_process_fn process, void *arg);
/* Like workqueue_new with a different cap on distinct keys (0: WORKQUEUE_MAX_KEYS). */
struct workqueue *workqueue_new_capped(struct loop *l, workqueue_process_fn process, void *arg,
                                       size_t max_keys);
/* Drops every key and cancels the queue's timers. Not from inside process(). */
void workqueue_free(struct workqueue *q);

/* Every log line written while process() runs for a key carries "<kind>.namespace" and
 * "<kind>.name" (util/log.h, log_ctx_object). kind must outlive the queue (a literal). */
void workqueue_set_log_kind(struct workqueue *q, const char *kind);

/* Called after every process() of a named queue (one with a log kind) while set:
 * wait_s is how long the key waited ready (-1 if unknown), work_s how long process() took.
 * One observer for the process (the operator's metrics); NULL removes it. */
typedef void (*workqueue_observer_fn)(void *arg, const char *kind, double wait_s, double work_s);
void workqueue_set_observer(workqueue_observer_fn fn, void *arg);
/* Calls fn for every live named queue (metrics at scrape time). */
void workqueue_foreach_named(void (*fn)(void *arg, const char *kind, const struct workqueue *q),
                             void *arg);

/* Makes key ready. A key already waiting keeps its place; a key being processed is
 * processed again once process() returns. */
void workqueue_add(struct workqueue *q, const char *key);
/* Makes key ready after delay_ms (<= 0: now). If the key already has a pending delayed
 * add, the earlier deadline wins. Independent of whether the key is waiting now. */
void workqueue_add_after(struct workqueue *q, const char *key, int64_t delay_ms);
/* add_after with the key's backoff, then counts one more failure for it. */
void workqueue_add_rate_limited(struct workqueue *q, const char *key);
/* Resets the key's failure count (after a successful reconcile). */
void workqueue_forget(struct workqueue *q, const char *key);
/* Failures counted for key since the last forget (0 when unknown). */
unsigned workqueue_num_requeues(const struct workqueue *q, const char *key);
/* Keys ready now (not counting delayed keys or the key being processed). */
size_t workqueue_len(const struct workqueue *q);

/* Backoff after `failures` failures: min(cap, 5 ms * 2^failures). Exposed for tests. */
int64_t workqueue_backoff_ms(unsigned failures);

struct workqueue_stats {
    uint64_t adds;      /* adds that made a key ready (deduplicated adds are not counted) */
    uint64_t processed; /* process() calls */
    uint64_t retries;   /* add_rate_limited calls */
    uint64_t dropped;   /* adds refused because max_keys distinct keys were tracked */
    uint64_t depth;     /* keys ready now (workqueue_len) */
    uint64_t delayed;   /* keys with a pending delayed add */
    uint64_t keys;      /* distinct keys tracked */
};
void workqueue_get_stats(const struct workqueue *q, struct workqueue_stats *out);

#endif
