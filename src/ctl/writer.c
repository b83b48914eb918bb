#include "ctl/writer.h"

#include "kube/client.h"
#include "kube/watch.h"
#include "util/strset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pending {
    struct writer *w;
    struct pending *prev, *next;
    uint64_t id;
    struct write_op op;
};

struct writer {
    struct kube_client *client;
    writer_done_fn done;
    void *arg;
    struct strset *busy;
    struct pending *list;
};

struct writer *
writer_new(struct kube_client *c, writer_done_fn done, void *arg)
{
    struct writer *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->client = c;
    w->done = done;
    w->arg = arg;
    w->busy = strset_new();
    if (!w->busy) {
        free(w);
        return NULL;
    }
    return w;
}

static void
unlink_pending(struct writer *w, struct pending *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        w->list = p->next;
    if (p->next)
        p->next->prev = p->prev;
}

void
writer_free(struct writer *w)
{
    if (!w)
        return;
    while (w->list) {
        struct pending *p = w->list;
        unlink_pending(w, p);
        kube_cancel(w->client, p->id);
        free(p);
    }
    strset_free(w->busy);
    free(w);
}

static void
on_done(void *arg, const struct kube_response *r)
{
    struct pending *p = arg;
    struct writer *w = p->w;
    unlink_pending(w, p);
    strset_del(w->busy, p->op.key);
    w->done(w->arg, &p->op, r);
    free(p);
}

int
writer_submit(struct writer *w, const char *key, const char *ns, int kind, const char *target,
              const char *method, const char *path, const char *ctype, char *body)
{
    struct pending *p = calloc(1, sizeof *p);
    if (!p) {
        free(body);
        return -1;
    }
    p->w = w;
    p->op.kind = kind;
    snprintf(p->op.key, sizeof p->op.key, "%s", key);
    snprintf(p->op.ns, sizeof p->op.ns, "%s", ns);
    snprintf(p->op.target, sizeof p->op.target, "%s", target ? target : "");
    p->op.base_seq = informer_event_seq();
    struct kube_req_spec spec = {.method = method, .path = path, .content_type = ctype,
                                 .body = body, .body_len = body ? strlen(body) : 0,
                                 .flags = KUBE_RETRY, .done = on_done, .arg = p};
    p->id = kube_submit(w->client, &spec);
    free(body);
    if (!p->id) {
        free(p);
        return -1;
    }
    p->next = w->list;
    if (w->list)
        w->list->prev = p;
    w->list = p;
    strset_add(w->busy, key);
    return 0;
}

bool
writer_busy(const struct writer *w, const char *key)
{
    return strset_has(w->busy, key);
}
