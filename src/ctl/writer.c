#include "ctl/writer.h"

#include "kube/cache.h"
#include "kube/client.h"
#include "kube/nsterm.h"
#include "kube/queue.h"
#include "kube/status.h"
#include "kube/watch.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/strset.h"
#include "util/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pending {
    struct writer *w;
    struct pending *prev, *next;
    uint64_t id;
    uint64_t hash; /* of the request; 0 for reads, which are not remembered */
    struct write_op op;
};

/* What the writer remembers of a key between writes. */
struct memo {
    struct memo *next;
    uint64_t refused;     /* hash of the request refused permanently, 0: none */
    uint64_t refused_rv;  /* hash of the object's resourceVersion since the refusal */
    int64_t hold_until;   /* mono ms */
    bool failing;         /* the last write failed transiently */
    char key[];
};

#define MEMO_SLOTS 1024

struct writer {
    struct kube_client *client;
    writer_done_fn done;
    writer_lookup_fn lookup;
    void *arg;
    struct strset *busy;
    struct pending *list;
    struct memo *memo[MEMO_SLOTS];
    size_t nmemo;
    const char *log_kind; /* static; NULL: no log context */
};

static struct memo **
memo_find(struct writer *w, const char *key)
{
    struct memo **pp = &w->memo[hash_str(key) % MEMO_SLOTS];
    while (*pp && strcmp((*pp)->key, key))
        pp = &(*pp)->next;
    return pp;
}

static struct memo *
memo_get(struct writer *w, const char *key, bool create)
{
    struct memo **pp = memo_find(w, key);
    if (*pp || !create || w->nmemo >= WRITER_MAX_HOLDS)
        return *pp;
    size_t kl = strlen(key);
    struct memo *m = calloc(1, sizeof *m + kl + 1);
    if (!m)
        return NULL;
    memcpy(m->key, key, kl + 1);
    *pp = m;
    w->nmemo++;
    return m;
}

static void
memo_drop_if_idle(struct writer *w, const char *key)
{
    struct memo **pp = memo_find(w, key), *m = *pp;
    if (!m || m->failing || m->refused)
        return;
    *pp = m->next;
    w->nmemo--;
    free(m);
}

void
writer_forget(struct writer *w, const char *key)
{
    struct memo *m = memo_get(w, key, false);
    if (m) {
        m->failing = false;
        m->refused = 0;
        memo_drop_if_idle(w, key);
    }
}

static uint64_t
request_hash(const char *method, const char *path, const char *body)
{
    uint64_t h = hash_str(method) * 31 + hash_str(path);
    h = h * 31 + (body ? hash_str(body) : 0);
    return h ? h : 1;
}

struct writer *
writer_new(struct kube_client *c, writer_done_fn done, writer_lookup_fn lookup, void *arg)
{
    struct writer *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->client = c;
    w->done = done;
    w->lookup = lookup;
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
    for (size_t i = 0; i < MEMO_SLOTS; i++) {
        while (w->memo[i]) {
            struct memo *m = w->memo[i];
            w->memo[i] = m->next;
            free(m);
        }
    }
    free(w);
}

/* The object's resourceVersion, hashed (0 when it is not cached). */
static uint64_t
object_rv(struct writer *w, const char *key)
{
    const struct kobj *o = w->lookup ? w->lookup(w->arg, key) : NULL;
    return o && o->rv ? hash_str(o->rv) : 0;
}

static void
on_done(void *arg, const struct kube_response *r)
{
    struct pending *p = arg;
    struct writer *w = p->w;
    unlink_pending(w, p);
    bool other = false; /* a second write of the same key still in flight */
    for (const struct pending *q = w->list; q && !other; q = q->next)
        other = !strcmp(q->op.key, p->op.key);
    if (!other)
        strset_del(w->busy, p->op.key);
    struct memo *m = NULL;
    if (!r->dropped && p->hash) { /* remember the outcome for the key's next write */
        m = memo_get(w, p->op.key, r->cls != KUBE_OK);
        if (m) {
            m->failing = r->cls == KUBE_TRANSIENT;
            if (r->cls == KUBE_PERMANENT) {
                m->refused = p->hash;
                m->hold_until = time_mono_ms() + WRITER_HOLD_MS;
                m->refused_rv = object_rv(w, p->op.key);
            } else if (r->cls == KUBE_OK && m->refused == p->hash) {
                m->refused = 0;
            }
            memo_drop_if_idle(w, p->op.key);
        }
    }
    char key[sizeof p->op.key];
    memcpy(key, p->op.key, sizeof key);
    bool ok = r->cls == KUBE_OK;
    size_t mark = log_ctx_mark();
    if (w->log_kind)
        log_ctx_object(w->log_kind, p->op.key);
    w->done(w->arg, &p->op, r);
    log_ctx_restore(mark);
    free(p);
    /* our own successful write may have changed the object: that is no change of the user's */
    if (ok && (m = memo_get(w, key, false)) && m->refused)
        m->refused_rv = object_rv(w, key);
}

static int
still_needed(void *arg)
{
    struct pending *p = arg;
    if (!p->w->lookup)
        return 1;
    if (!p->w->lookup(p->w->arg, p->op.key))
        return 0; /* deleted, or its namespace is gone */
    return !(p->op.create && nsterm_is(p->op.ns, time_mono_ms()));
}

int
writer_submit(struct writer *w, const char *key, const char *ns, int kind, const char *target,
              const char *method, const char *path, const char *ctype, char *body)
{
    struct write_op op = {.kind = kind};
    snprintf(op.key, sizeof op.key, "%s", key);
    snprintf(op.ns, sizeof op.ns, "%s", ns);
    snprintf(op.target, sizeof op.target, "%s", target ? target : "");
    return writer_submit_op(w, &op, method, path, ctype, body);
}

int
writer_submit_op(struct writer *w, const struct write_op *op, const char *method,
                 const char *path, const char *ctype, char *body)
{
    const char *key = op->key, *ns = op->ns;
    uint64_t hash = strcmp(method, "GET") ? request_hash(method, path, body) : 0;
    struct memo *m = memo_get(w, key, false);
    if (hash && m && m->refused == hash && time_mono_ms() < m->hold_until &&
        object_rv(w, key) == m->refused_rv) {
        free(body);
        log_debug("write not sent: the same request was refused and the object has not changed",
                  "key", key, "method", method, "path", path);
        return WRITER_HELD;
    }
    struct pending *p = calloc(1, sizeof *p);
    if (!p) {
        free(body);
        return -1;
    }
    p->w = w;
    p->hash = hash;
    p->op = *op;
    p->op.create = !strcmp(method, "POST");
    p->op.base_seq = informer_event_seq();
    struct kube_req_spec spec = {.method = method, .path = path, .content_type = ctype,
                                 .body = body, .body_len = body ? strlen(body) : 0,
                                 .flags = KUBE_RETRY | (m && m->failing ? KUBE_LOW : 0) |
                                          (op->release ? KUBE_RELEASE : 0),
                                 .done = on_done, .arg = p, .queue_key = ns,
                                 .still_needed = still_needed};
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

void
writer_set_log_kind(struct writer *w, const char *kind)
{
    w->log_kind = kind;
}

bool
writer_busy(const struct writer *w, const char *key)
{
    return strset_has(w->busy, key);
}

void
writer_settle(struct workqueue *q, const struct write_op *op, const struct kube_response *r,
              bool ok)
{
    if (ok || r->dropped) {
        workqueue_forget(q, op->key);
        workqueue_add(q, op->key);
    } else if (r->cls == KUBE_PERMANENT) {
        workqueue_forget(q, op->key);
        workqueue_add_after(q, op->key, WRITER_HOLD_MS);
    } else {
        workqueue_add_rate_limited(q, op->key);
    }
}
