#include "kube/watch.h"

#include "kube/client.h"
#include "loop.h"
#include "util/buf.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_PAGE 200 /* objects per LIST page: a page is parsed whole, so this bounds the peak */
#define MAX_EVENT_BYTES (4u << 20)
#define BACKOFF_BASE_MS 500
#define BACKOFF_CAP_MS 30000
#define SHORT_WATCH_MS 1000
#define PATH_MAX_BYTES 4096 /* a LIST or watch request line's path and query */

/* --- framer -------------------------------------------------------------------------- */

void
framer_init(struct watch_framer *f, size_t max_event_bytes)
{
    buf_init(&f->line, max_event_bytes);
    f->skipping = false;
    f->oversized = 0;
}

void
framer_free(struct watch_framer *f)
{
    buf_free(&f->line);
}

int
framer_feed(struct watch_framer *f, const char *data, size_t len,
            int (*fn)(void *arg, const char *event, size_t len), void *arg)
{
    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        size_t chunk = nl ? (size_t)(nl - data) : len;
        if (!f->skipping && buf_append(&f->line, data, chunk) != BUF_OK) {
            f->skipping = true;
            f->oversized++;
            buf_reset(&f->line);
        }
        if (!nl)
            return 0;
        data += chunk + 1;
        len -= chunk + 1;
        if (f->skipping) {
            f->skipping = false;
            continue;
        }
        if (f->line.len > 0) {
            int rc = fn(arg, f->line.data, f->line.len);
            buf_reset(&f->line);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* --- informer ------------------------------------------------------------------------ */

enum inf_state { ST_IDLE, ST_LISTING, ST_WATCHING, ST_BACKOFF };

#define TOMBSTONES 1024 /* recent deletes, for informer_apply */

static uint64_t g_event_seq;

uint64_t
informer_event_seq(void)
{
    return g_event_seq;
}

struct informer {
    struct loop *loop;
    struct kube_client *client;
    char *path, *selector;
    const struct informer_kind *kind;
    long watch_timeout_s;
    informer_fn fn;
    void *arg;

    struct cache *cache;
    enum inf_state state;
    bool synced;
    char *rv;            /* last resourceVersion seen (list or event), opaque */
    char *cont;          /* list continue token */
    uint32_t list_mark;  /* relist: objects not seen in this LIST are deleted */
    uint64_t req_id;
    uint64_t timer;
    int failures;
    int64_t watch_started_ms;
    unsigned long watch_events;
    bool expired;        /* this watch ended with 410: relist */
    struct watch_framer framer;
    struct informer_stats stats;
    struct {
        uint64_t key_hash, seq;
    } tomb[TOMBSTONES];
    size_t ntomb;
};

static void inf_list(struct informer *inf);
static void inf_watch(struct informer *inf);

static void
set_str(char **dst, const char *src)
{
    char *n = src ? strdup(src) : NULL;
    free(*dst);
    *dst = n;
}

static void
on_backoff_timer(struct loop *l, void *arg)
{
    (void)l;
    struct informer *inf = arg;
    inf->timer = 0;
    if (inf->rv && !inf->expired)
        inf_watch(inf);
    else
        inf_list(inf);
}

static void
inf_backoff_status(struct informer *inf, const char *why, long status)
{
    inf->stats.errors++;
    int64_t d = kube_backoff_ms(inf->failures, BACKOFF_BASE_MS, BACKOFF_CAP_MS,
                                (double)(time_mono_ms() % 1000) / 1000.0);
    inf->failures++;
    inf->state = ST_BACKOFF;
    char ms[24];
    snprintf(ms, sizeof ms, "%lld", (long long)d);
    char code[16];
    snprintf(code, sizeof code, "%ld", status);
    log_warn("watch interrupted, retrying", "resource", inf->path, "status", status ? code : NULL,
             "error", why, "backoff_ms", ms);
    inf->timer = loop_timer_add(inf->loop, d, on_backoff_timer, inf);
}

static void
inf_backoff(struct informer *inf, const char *why)
{
    inf_backoff_status(inf, why, 0);
}

static void
remember_delete(struct informer *inf, const char *key)
{
    size_t i = inf->ntomb++ % TOMBSTONES;
    inf->tomb[i].key_hash = hash_str(key);
    inf->tomb[i].seq = ++g_event_seq;
}

/* Was key deleted after seq (as far as the bounded memory of deletes reaches)? */
static bool
deleted_since(const struct informer *inf, const char *key, uint64_t seq)
{
    uint64_t h = hash_str(key);
    size_t n = inf->ntomb < TOMBSTONES ? inf->ntomb : TOMBSTONES;
    for (size_t i = 0; i < n; i++)
        if (inf->tomb[i].key_hash == h && inf->tomb[i].seq > seq)
            return true;
    /* older deletes were forgotten: if the ring wrapped since seq, assume the worst */
    return inf->ntomb > TOMBSTONES && n && inf->tomb[inf->ntomb % TOMBSTONES].seq > seq;
}

/* The resourceVersion as a number, or 0 when it is not a plain decimal (then it is only
 * compared for equality). Every real API server serves etcd revisions here. */
static uint64_t
rv_number(const char *rv)
{
    if (!rv || !*rv || strlen(rv) > 19)
        return 0;
    uint64_t n = 0;
    for (const char *p = rv; *p; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        n = n * 10 + (uint64_t)(*p - '0');
    }
    return n;
}

/* An event or LIST item older than what the cache holds: the cache has our own write's
 * answer (write-through) and the watch, or a LIST served before that write, is catching up.
 * Applying it would move the cache back to a state this process has already changed (a
 * status not yet written, a finalizer not yet added), and a controller would act on it
 * again. */
static bool
older_than_cached(const struct kobj *cached, const struct kobj *o)
{
    uint64_t have = cached ? rv_number(cached->rv) : 0, got = rv_number(o->rv);
    return have && got && got < have;
}

/* Applies one object (from a list or an ADDED/MODIFIED event) to the cache. */
static void
apply_object(struct informer *inf, const cJSON *obj, bool from_list)
{
    struct kobj *o = kobj_from_json(obj, inf->kind->finalizer);
    if (!o)
        return;
    struct kobj *cached = cache_get(inf->cache, o->key);
    if (older_than_cached(cached, o)) {
        if (from_list)
            cache_mark(cached, inf->list_mark);
        kobj_free(NULL, o);
        return;
    }
    o->payload = inf->kind->trim ? inf->kind->trim(obj) : NULL;
    o->seq = ++g_event_seq;
    struct kobj *old = cache_put(inf->cache, o);
    if (from_list)
        cache_mark(o, inf->list_mark);
    bool changed = !old || strcmp(old->rv, o->rv) != 0;
    kobj_free(inf->cache, old);
    if (changed)
        inf->fn(inf->arg, old ? INFORMER_UPDATE : INFORMER_ADD, o);
}

static void
delete_object(struct informer *inf, const cJSON *obj)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *ns = cJSON_GetObjectItemCaseSensitive(meta, "namespace");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(meta, "name");
    if (!cJSON_IsString(name))
        return;
    char key[400];
    if (cJSON_IsString(ns) && *ns->valuestring)
        snprintf(key, sizeof key, "%s/%s", ns->valuestring, name->valuestring);
    else
        snprintf(key, sizeof key, "%s", name->valuestring);
    remember_delete(inf, key);
    struct kobj *o = cache_remove(inf->cache, key);
    if (o) {
        inf->fn(inf->arg, INFORMER_DELETE, o);
        kobj_free(inf->cache, o);
    }
}

/* --- LIST ---------------------------------------------------------------------------- */

static void
list_done(void *arg, const struct kube_response *r)
{
    struct informer *inf = arg;
    inf->req_id = 0;
    if (r->status == 404 && !inf->cont) {
        /* The resource is not served: its CRD is not installed (yet). Nothing can exist, so
         * the (empty) cache counts as synced — the operator becomes ready and runs the kinds
         * that are installed — and the LIST is retried with backoff until the CRD appears. */
        if (!inf->synced)
            log_warn("resource not found on the API server: is its CRD installed?", "resource",
                     inf->path);
        inf->synced = true;
        inf_backoff_status(inf, "resource not found", 404);
        return;
    }
    if (r->status != 200) {
        set_str(&inf->cont, NULL);
        inf_backoff_status(inf, r->error ? r->error : "list failed", r->status);
        return;
    }
    cJSON *doc = cJSON_ParseWithLength(r->body, r->body_len);
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(doc, "metadata");
    const cJSON *rv = cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion");
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(doc, "items");
    if (!doc || !cJSON_IsString(rv) || !cJSON_IsArray(items)) {
        cJSON_Delete(doc);
        set_str(&inf->cont, NULL);
        inf_backoff(inf, "malformed list response");
        return;
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, items)
    {
        apply_object(inf, item, true);
    }
    const cJSON *cont = cJSON_GetObjectItemCaseSensitive(meta, "continue");
    if (cJSON_IsString(cont) && *cont->valuestring) {
        set_str(&inf->cont, cont->valuestring);
        cJSON_Delete(doc);
        inf_list(inf);
        return;
    }
    /* The last page: whatever the cache holds that this LIST did not return is gone. */
    set_str(&inf->rv, rv->valuestring);
    set_str(&inf->cont, NULL);
    cJSON_Delete(doc);
    struct kobj *gone;
    while ((gone = cache_take_unmarked(inf->cache, inf->list_mark))) {
        remember_delete(inf, gone->key);
        inf->fn(inf->arg, INFORMER_DELETE, gone);
        kobj_free(inf->cache, gone);
    }
    inf->synced = true;
    inf->expired = false;
    inf_watch(inf);
}

static void
inf_list(struct informer *inf)
{
    struct buf path;
    buf_init(&path, PATH_MAX_BYTES);
    int rc = buf_printf(&path, "%s?limit=%d", inf->path, LIST_PAGE);
    if (inf->selector && rc == BUF_OK)
        rc = buf_printf(&path, "&labelSelector=%s", inf->selector);
    if (inf->cont && rc == BUF_OK && (rc = buf_appends(&path, "&continue=")) == BUF_OK)
        rc = buf_append_url_escaped(&path, inf->cont); /* the server's token: never raw */
    if (rc != BUF_OK) {
        buf_free(&path);
        set_str(&inf->cont, NULL); /* a token too long for a URL: start the list over */
        inf_backoff(inf, "list request path too long");
        return;
    }
    if (!inf->cont) {
        inf->list_mark = cache_mark_begin(inf->cache);
        inf->stats.lists++;
        if (inf->synced)
            inf->stats.relists++;
    }
    inf->state = ST_LISTING;
    struct kube_req_spec spec = {.method = "GET", .path = buf_str(&path), .flags = KUBE_RETRY,
                                 .done = list_done, .arg = inf};
    inf->req_id = kube_submit(inf->client, &spec);
    buf_free(&path);
    if (!inf->req_id)
        inf_backoff(inf, "could not submit the list request");
}

/* --- WATCH --------------------------------------------------------------------------- */

static int
on_event(void *arg, const char *ev, size_t len)
{
    struct informer *inf = arg;
    cJSON *doc = cJSON_ParseWithLength(ev, len);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(doc, "type");
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(doc, "object");
    if (!cJSON_IsString(type) || !cJSON_IsObject(obj)) {
        cJSON_Delete(doc);
        log_warn("malformed watch event ignored", "resource", inf->path);
        return 0;
    }
    inf->stats.events++;
    inf->watch_events++;
    const char *t = type->valuestring;
    if (!strcmp(t, "ERROR")) {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(obj, "code");
        if (cJSON_IsNumber(code) && code->valueint == 410) {
            inf->expired = true;
            inf->stats.expired_410++;
        }
        cJSON_Delete(doc);
        return 1; /* the server ends the stream after an ERROR */
    }
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *rv = cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion");
    if (!strcmp(t, "ADDED") || !strcmp(t, "MODIFIED"))
        apply_object(inf, obj, false);
    else if (!strcmp(t, "DELETED"))
        delete_object(inf, obj);
    if (cJSON_IsString(rv)) /* BOOKMARK carries only this */
        set_str(&inf->rv, rv->valuestring);
    cJSON_Delete(doc);
    return 0;
}

static int
watch_data(void *arg, const char *data, size_t len)
{
    struct informer *inf = arg;
    int rc = framer_feed(&inf->framer, data, len, on_event, inf);
    if (inf->framer.oversized > inf->stats.oversized) {
        inf->stats.oversized = inf->framer.oversized;
        log_error("watch event over the size cap dropped; relisting", "resource", inf->path);
        inf->expired = true; /* we missed an object: only a relist can repair the cache */
        return 1;
    }
    return rc;
}

static void
watch_done(void *arg, const struct kube_response *r)
{
    struct informer *inf = arg;
    inf->req_id = 0;
    buf_reset(&inf->framer.line);
    inf->framer.skipping = false;
    int64_t lasted = time_mono_ms() - inf->watch_started_ms;
    if (r->status == 410)
        inf->expired = true;
    if (inf->expired) {
        inf->failures = 0;
        log_info("watch expired (410), relisting", "resource", inf->path);
        inf_list(inf);
        return;
    }
    if (r->status != 200 || (lasted < SHORT_WATCH_MS && inf->watch_events == 0)) {
        /* an error, or a stream that ended at once without events: back off */
        inf_backoff_status(inf, r->error ? r->error : "watch ended at once", r->status);
        return;
    }
    inf->failures = 0;
    inf->stats.watch_restarts++;
    inf_watch(inf);
}

static void
inf_watch(struct informer *inf)
{
    struct buf path;
    buf_init(&path, PATH_MAX_BYTES);
    int rc = buf_printf(&path, "%s?watch=1&allowWatchBookmarks=true&timeoutSeconds=%ld&resourceVersion=",
                        inf->path, inf->watch_timeout_s);
    if (rc == BUF_OK) rc = buf_append_url_escaped(&path, inf->rv); /* the server's: never raw */
    if (inf->selector && rc == BUF_OK) rc = buf_printf(&path, "&labelSelector=%s", inf->selector);
    if (rc != BUF_OK) {
        buf_free(&path);
        inf->expired = true; /* a resourceVersion too long for a URL: list again */
        inf_backoff(inf, "watch request path too long");
        return;
    }
    inf->state = ST_WATCHING;
    inf->watch_started_ms = time_mono_ms();
    inf->watch_events = 0;
    inf->stats.watches++;
    /* A watch silent past its server timeout plus a margin is dead: curl ends it. */
    struct kube_req_spec spec = {.method = "GET", .path = buf_str(&path), .flags = KUBE_STREAM,
                                 .timeout_s = inf->watch_timeout_s + 30,
                                 .done = watch_done, .data = watch_data, .arg = inf};
    inf->req_id = kube_submit(inf->client, &spec);
    buf_free(&path);
    if (!inf->req_id)
        inf_backoff(inf, "could not submit the watch request");
}

/* --- lifecycle ----------------------------------------------------------------------- */

struct informer *
informer_new(struct loop *l, struct kube_client *c, const char *path, const char *label_selector,
             const struct informer_kind *kind, long watch_timeout_s, informer_fn fn, void *arg)
{
    struct informer *inf = calloc(1, sizeof *inf);
    if (!inf)
        return NULL;
    inf->loop = l;
    inf->client = c;
    inf->kind = kind;
    inf->watch_timeout_s = watch_timeout_s;
    inf->fn = fn;
    inf->arg = arg;
    inf->path = strdup(path);
    inf->selector = label_selector ? strdup(label_selector) : NULL;
    inf->cache = cache_new(kind->free_payload);
    framer_init(&inf->framer, MAX_EVENT_BYTES);
    if (!inf->path || (label_selector && !inf->selector) || !inf->cache) {
        informer_free(inf);
        return NULL;
    }
    return inf;
}

void
informer_free(struct informer *inf)
{
    if (!inf)
        return;
    if (inf->req_id)
        kube_cancel(inf->client, inf->req_id);
    loop_timer_cancel(inf->loop, inf->timer);
    framer_free(&inf->framer);
    cache_free(inf->cache);
    free(inf->path);
    free(inf->selector);
    free(inf->rv);
    free(inf->cont);
    free(inf);
}

void
informer_start(struct informer *inf)
{
    if (inf->state == ST_IDLE)
        inf_list(inf);
}

bool
informer_synced(const struct informer *inf)
{
    return inf->synced;
}

void
informer_apply(struct informer *inf, const cJSON *obj, uint64_t base_seq)
{
    struct kobj *probe = kobj_from_json(obj, NULL);
    if (!probe)
        return;
    struct kobj *cached = cache_get(inf->cache, probe->key);
    bool newer_known = cached ? cached->seq > base_seq : deleted_since(inf, probe->key, base_seq);
    /* The cache changed since the write was sent, but to an older revision than the answer
     * (the watch telling of our previous write, or anyone's, while this one was on the
     * wire): the answer is still news. Decidable only with plain revisions (rv_number). */
    uint64_t have = cached ? rv_number(cached->rv) : 0, got = rv_number(probe->rv);
    if (newer_known && have && got > have)
        newer_known = false;
    kobj_free(NULL, probe);
    if (!newer_known)
        apply_object(inf, obj, false);
}

struct cache *
informer_cache(struct informer *inf)
{
    return inf->cache;
}

void
informer_get_stats(const struct informer *inf, struct informer_stats *out)
{
    *out = inf->stats;
    out->oversized = inf->framer.oversized;
}
