/* One turn of writes in flight per object: the controllers' API writes go through here.
 *
 * A controller submits a write for an object key; until its completion callback has run,
 * writer_busy(key) is true and the controller does not reconcile that key (the completion
 * requeues it). A controller may send independent writes of one key in the same turn (an
 * OMJob's finalizer and its main pod): the key stays busy until the last one completes. Requests still in flight when the writer is freed are cancelled without
 * callbacks.
 *
 * What the writer decides for every controller (kube/status.h has the classification):
 *   - fairness: writes queue by namespace in the client, and a write for a key whose last
 *     write failed transiently goes as KUBE_LOW, behind every first attempt;
 *   - nothing stale: just before a queued write is sent, the object is looked up; a write
 *     for an object no longer cached (deleted, its namespace gone), or a create in a
 *     namespace being deleted (kube/nsterm.h), completes unsent (r->dropped);
 *   - a permanent answer is never repeated unchanged: the same method, path and body for
 *     the same key is not sent again for WRITER_HOLD_MS unless the object changed (another
 *     resourceVersion than after the refusal and our own later writes): writer_submit
 *     returns WRITER_HELD and no callback runs. So fixing the cause elsewhere (creating a
 *     missing ServiceAccount) is picked up after the hold, or at once when the object is
 *     touched. writer_settle() requeues accordingly. */
#ifndef OMJ_CTL_WRITER_H
#define OMJ_CTL_WRITER_H

#include <stdbool.h>
#include <stdint.h>

struct kube_client;
struct kube_response;

struct write_op {
    char key[320]; /* the object's "namespace/name" */
    char ns[64];
    char target[128]; /* what was written (a pod name, a step), for the callback */
    int kind;         /* the controller's operation code */
    bool create;      /* a POST */
    bool release;     /* lets the server finish a deletion (KUBE_RELEASE lane) */
    int64_t n;        /* the controller's own number (CronOMJob: the slot) */
    uint64_t base_seq; /* informer_event_seq() when it was sent: pass to informer_apply */
};

typedef void (*writer_done_fn)(void *arg, const struct write_op *op,
                               const struct kube_response *r);
/* The controller's cached object for a key, or NULL when it is gone. */
struct kobj;
typedef struct kobj *(*writer_lookup_fn)(void *arg, const char *key);

#define WRITER_HOLD_MS 300000 /* a permanently refused request waits this long unchanged */
#define WRITER_HELD 1
#define WRITER_MAX_HOLDS 65536

struct writer;
struct workqueue;
struct writer *writer_new(struct kube_client *c, writer_done_fn done, writer_lookup_fn lookup,
                          void *arg);
void writer_free(struct writer *w);
/* Sends method path (KUBE_RETRY) with body (owned: freed here). Returns 0, WRITER_HELD when
 * the identical request was refused permanently less than WRITER_HOLD_MS ago and the object
 * has not changed since (not sent, no callback), or -1 if it could not be sent (no
 * callback, the key is not busy). */
int writer_submit(struct writer *w, const char *key, const char *ns, int kind,
                  const char *target, const char *method, const char *path, const char *ctype,
                  char *body);
/* The same with the write_op given whole (key, ns, kind, target, n; the rest is set here). */
int writer_submit_op(struct writer *w, const struct write_op *op, const char *method,
                     const char *path, const char *ctype, char *body);
/* The completion callback runs with the log context of its object (see workqueue_set_log_kind). */
void writer_set_log_kind(struct writer *w, const char *kind);
bool writer_busy(const struct writer *w, const char *key);
/* Forgets what the writer remembers of key (its holds): call when the object is deleted. */
void writer_forget(struct writer *w, const char *key);

/* What follows an answer (ok: the caller's own reading of it, e.g. 404 on a delete or
 * AlreadyExists on a create count as done): done → forget the failures and reconcile again;
 * transient → again with the key's backoff; permanent → again after WRITER_HOLD_MS (or at
 * once when the object changes); dropped → reconcile again. */
void writer_settle(struct workqueue *q, const struct write_op *op,
                   const struct kube_response *r, bool ok);

#endif
