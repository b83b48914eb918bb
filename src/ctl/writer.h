/* One write in flight per object: the controllers' API writes go through here.
 *
 * A controller submits a write for an object key; until its completion callback has run,
 * writer_busy(key) is true and the controller does not reconcile that key (the completion
 * requeues it). Requests still in flight when the writer is freed are cancelled without
 * callbacks. */
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
    uint64_t base_seq; /* informer_event_seq() when it was sent: pass to informer_apply */
};

typedef void (*writer_done_fn)(void *arg, const struct write_op *op,
                               const struct kube_response *r);

struct writer;
struct writer *writer_new(struct kube_client *c, writer_done_fn done, void *arg);
void writer_free(struct writer *w);
/* Sends method path (KUBE_RETRY) with body (owned: freed here). Returns 0, or -1 if it could
 * not be sent (then no callback runs and the key is not busy). */
int writer_submit(struct writer *w, const char *key, const char *ns, int kind,
                  const char *target, const char *method, const char *path, const char *ctype,
                  char *body);
bool writer_busy(const struct writer *w, const char *key);

#endif
