/* A stand-in for the HTTP client (kube/client.c) that lets fuzz_watch and fuzz_list drive
 * an informer (kube/watch.c) with any LIST answer and any watch stream, split any way.
 * The targets link against the library archive, so these definitions replace client.o's.
 *
 * The informer has at most one request in flight; drv.req holds it. A recorder checks
 * every callback against a model of the cache (ADD of a key not held, UPDATE/DELETE of a
 * key held, the cache agreeing after each one) and writes the sequence to drv.log, so two
 * runs can be compared. */
#ifndef OMJ_FUZZ_INFORMER_DRIVER_H
#define OMJ_FUZZ_INFORMER_DRIVER_H

#include "fuzz.h"

#include "ctl/pods.h"
#include "kube/cache.h"
#include "kube/client.h"
#include "kube/watch.h"
#include "loop.h"
#include "util/buf.h"
#include "util/strset.h"

#include <string.h>

static struct {
    struct {
        int active;
        uint64_t id;
        char path[2048];
        unsigned flags;
        kube_done_fn done;
        kube_data_fn data;
        void *arg;
    } req;
    uint64_t next_id;
    struct strset *model;
    struct informer *inf;
    struct buf log;
} drv;

uint64_t
kube_submit(struct kube_client *c, const struct kube_req_spec *spec)
{
    (void)c;
    FUZZ_CHECK(!drv.req.active, "a second request while %s is in flight", drv.req.path);
    drv.req.active = 1;
    drv.req.id = ++drv.next_id;
    snprintf(drv.req.path, sizeof drv.req.path, "%s", spec->path);
    drv.req.flags = spec->flags;
    drv.req.done = spec->done;
    drv.req.data = spec->data;
    drv.req.arg = spec->arg;
    return drv.req.id;
}

void
kube_cancel(struct kube_client *c, uint64_t id)
{
    (void)c;
    if (drv.req.active && drv.req.id == id) drv.req.active = 0;
}

int64_t
kube_backoff_ms(int attempt, int64_t base_ms, int64_t cap_ms, double rnd)
{
    (void)attempt;
    (void)rnd;
    (void)cap_ms;
    return base_ms;
}

static const struct informer_kind drv_pods = {"pods", NULL, pod_trim, pod_state_free};

static void
drv_on_change(void *arg, enum informer_event ev, const struct kobj *o)
{
    (void)arg;
    struct cache *c = informer_cache(drv.inf);
    switch (ev) {
    case INFORMER_ADD:
        FUZZ_CHECK(strset_add(drv.model, o->key) == 1, "ADD of %s, already held", o->key);
        FUZZ_CHECK(cache_get(c, o->key) == o, "ADD of %s: not the cached object", o->key);
        break;
    case INFORMER_UPDATE:
        FUZZ_CHECK(strset_has(drv.model, o->key), "UPDATE of %s, not held", o->key);
        FUZZ_CHECK(cache_get(c, o->key) == o, "UPDATE of %s: not the cached object", o->key);
        break;
    case INFORMER_DELETE:
        FUZZ_CHECK(strset_del(drv.model, o->key), "DELETE of %s, not held", o->key);
        FUZZ_CHECK(cache_get(c, o->key) == NULL, "DELETE of %s: still cached", o->key);
        break;
    }
    FUZZ_CHECK(cache_count(c) == strset_count(drv.model), "cache %zu objects, model %zu",
               cache_count(c), strset_count(drv.model));
    buf_printf(&drv.log, "%d %s %s\n", (int)ev, o->key, o->rv);
}

static struct loop *drv_loop;

static void
drv_begin(void)
{
    fuzz_quiet();
    if (!drv_loop) drv_loop = loop_new();
    memset(&drv.req, 0, sizeof drv.req);
    drv.model = strset_new();
    buf_init(&drv.log, 64u << 20);
    drv.inf = informer_new(drv_loop, NULL, "/api/v1/pods", NULL, &drv_pods, 60, drv_on_change,
                           NULL);
    FUZZ_CHECK(drv.model && drv.inf, "setup");
    informer_start(drv.inf);
}

static void
drv_end(void)
{
    informer_free(drv.inf);
    drv.inf = NULL;
    strset_free(drv.model);
    buf_free(&drv.log);
    /* timers the informer armed are cancelled by informer_free */
}

static int
drv_pending_is(const char *what)
{
    return drv.req.active && strstr(drv.req.path, what) != NULL;
}

/* Answers the request in flight (a buffered one: LIST). */
static void
drv_answer(long status, const char *body, size_t len)
{
    FUZZ_CHECK(drv.req.active, "no request to answer");
    drv.req.active = 0;
    char *copy = malloc(len + 1); /* the client hands over a NUL-terminated body */
    memcpy(copy, body, len);
    copy[len] = '\0';
    struct kube_response r = {.status = status, .body = copy, .body_len = len,
                              .error = status / 100 == 2 ? NULL : "error", .reason = "",
                              .cause = ""};
    drv.req.done(drv.req.arg, &r);
    free(copy);
}

/* Streams body into the watch in flight in pieces chosen by seed (0: one piece), then ends
 * it with status (as the client does after the data callback asked to stop, too). */
static void
drv_stream(const char *body, size_t len, unsigned seed, long status)
{
    FUZZ_CHECK(drv.req.active && drv.req.data, "no watch in flight");
    kube_data_fn data = drv.req.data;
    void *arg = drv.req.arg;
    size_t off = 0;
    unsigned x = seed * 2654435761u + 1;
    while (off < len) {
        size_t n = len - off;
        if (seed) {
            x = x * 1103515245u + 12345u;
            n = 1 + (x >> 16) % (seed % 64 + 1);
            if (n > len - off) n = len - off;
        }
        char *piece = malloc(n); /* exact size: a read past the piece is caught */
        memcpy(piece, body + off, n);
        int rc = data(arg, piece, n);
        free(piece);
        off += n;
        if (rc) break;
    }
    drv.req.active = 0;
    struct kube_response r = {.status = status, .body = "", .error = status == 200 ? NULL : "x",
                              .reason = "", .cause = ""};
    drv.req.done(drv.req.arg, &r);
}

static const char drv_empty_list[] = "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"1\"},\"items\":[]}";

#endif
