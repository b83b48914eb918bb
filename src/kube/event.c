/* The event recorder. Two bounded LRU tables: series (one per distinct object + type +
 * reason + message, each mapped to one Event on the server) and spam-filter buckets (one
 * per object). A series has at most one request in flight; occurrences arriving meanwhile
 * are counted as pending and written by the next PATCH. */
#include "kube/event.h"

#include "kube/client.h"
#include "kube/nsterm.h"
#include "kube/status.h"
#include "loop.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PATH_MAX_BYTES 640
#define KEY_MAX_BYTES 4096
#define REPORTING_INSTANCE_MAX 128

/* --- a bounded LRU hash table of intrusive nodes ---------------------------------------- */

struct lnode {
    struct lnode *hnext;
    struct lnode *newer, *older;
    uint64_t hash;
    int64_t used_ms; /* last use, time_mono_ms */
};

struct ltab {
    struct lnode **slots;
    size_t nslots, count, max;
    struct lnode *newest, *oldest;
};

static int
ltab_init(struct ltab *t, size_t max)
{
    size_t n = 16;
    while (n < max && n < ((size_t)1 << 24))
        n *= 2;
    t->slots = calloc(n, sizeof *t->slots);
    t->nslots = n;
    t->count = 0;
    t->max = max;
    t->newest = t->oldest = NULL;
    return t->slots ? 0 : -1;
}

static struct lnode **
ltab_slot(const struct ltab *t, uint64_t hash)
{
    return &t->slots[hash & (t->nslots - 1)];
}

static void
ltab_link(struct ltab *t, struct lnode *n, uint64_t hash, int64_t now_ms)
{
    n->hash = hash;
    n->used_ms = now_ms;
    n->hnext = *ltab_slot(t, hash);
    *ltab_slot(t, hash) = n;
    n->older = t->newest;
    n->newer = NULL;
    if (t->newest)
        t->newest->newer = n;
    else
        t->oldest = n;
    t->newest = n;
    t->count++;
}

static void
ltab_unlink(struct ltab *t, struct lnode *n)
{
    struct lnode **pp = ltab_slot(t, n->hash);
    while (*pp != n)
        pp = &(*pp)->hnext;
    *pp = n->hnext;
    if (n->newer)
        n->newer->older = n->older;
    else
        t->newest = n->older;
    if (n->older)
        n->older->newer = n->newer;
    else
        t->oldest = n->newer;
    t->count--;
}

static void
ltab_touch(struct ltab *t, struct lnode *n, int64_t now_ms)
{
    ltab_unlink(t, n);
    ltab_link(t, n, n->hash, now_ms);
}

static uint64_t
fnv1a(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (h ^ 0x1f) * 1099511628211ull; /* field separator */
}

/* --- types ------------------------------------------------------------------------------ */

struct ev_req;

struct series {
    struct lnode node; /* first: a series is its node */
    struct event_recorder *rec;
    struct ev_req *inflight;
    uint64_t flush_timer;
    int64_t last_sent_ms;       /* mono: when the last write went out */
    int64_t pending_first_wall; /* wall ms of the first unreported occurrence */
    int64_t last_wall;          /* wall ms of the latest occurrence */
    uint64_t count_sent;        /* the count the server holds */
    uint64_t pending;           /* occurrences not yet written */
    bool created;
    bool object_gone; /* event_forget_object: remove once nothing is left to write */
    const char *objkey, *api_version, *kind, *obj_ns, *name, *uid, *rv;
    const char *type, *reason, *message;
    char event_name[EVENT_NAME_MAX + 1];
    char strings[];
};

struct bucket {
    struct lnode node;
    struct rate_limiter rl;
    uint64_t dropped; /* new series refused since the last log line */
    char key[];
};

struct ev_req {
    struct ev_req *prev, *next; /* the recorder's in-flight list, once linked */
    struct event_recorder *rec;
    struct series *s; /* NULL once the series is gone */
    uint64_t id;
    uint64_t count;   /* the count this request writes */
    uint64_t covered; /* pending occurrences it reports */
    bool is_patch, linked, finished;
};

struct event_recorder {
    struct loop *loop;
    struct kube_client *client;
    struct event_recorder_opts o;
    char *component, *host;
    struct ltab series, buckets;
    struct ev_req *reqs;
    uint64_t sweep_timer;
    int64_t sweep_at;
    uint64_t last_name_ns;
    struct event_recorder_stats st;
};

static void flush(struct series *s);
static void send_create(struct series *s);
static void schedule_sweep(struct event_recorder *r);

/* --- small helpers ---------------------------------------------------------------------- */

static const char *
nz(const char *s)
{
    return s ? s : "";
}

static const char *
event_ns(const struct series *s)
{
    return s->obj_ns[0] ? s->obj_ns : "default";
}

/* Cuts msg (of length len) to at most max bytes without splitting a UTF-8 sequence. */
static void
truncate_utf8(char *msg, size_t len, size_t max)
{
    if (len <= max) return;
    size_t cut = max;
    while (cut > 0 && ((unsigned char)msg[cut] & 0xC0) == 0x80)
        cut--;
    msg[cut] = '\0';
}

/* `<object name>.<16 hex>`: unique per series (a strictly increasing wall-clock ns
 * stamp, like client-go's), with the object name shortened to fit 253 bytes. */
static void
make_event_name(struct event_recorder *r, const char *obj_name, char out[EVENT_NAME_MAX + 1])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    if (ns <= r->last_name_ns) ns = r->last_name_ns + 1;
    r->last_name_ns = ns;
    size_t keep = strlen(obj_name);
    if (keep > EVENT_NAME_MAX - 17) keep = EVENT_NAME_MAX - 17;
    while (keep > 0 && (obj_name[keep - 1] == '-' || obj_name[keep - 1] == '.'))
        keep--; /* a DNS label may not end in either */
    snprintf(out, EVENT_NAME_MAX + 1, "%.*s.%016" PRIx64, (int)keep, obj_name, ns);
}

/* apiVersion, kind, namespace, name, uid joined by 0x1f: the spam filter's object key. */
static char *
object_key(const struct event_ref *obj)
{
    struct buf b;
    buf_init(&b, KEY_MAX_BYTES);
    const char *parts[] = {obj->api_version, obj->kind, obj->namespace, obj->name, obj->uid};
    int rc = 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0] && rc == 0; i++)
        rc = buf_printf(&b, "%s%s", i ? "\x1f" : "", nz(parts[i]));
    if (rc != 0) {
        buf_free(&b);
        return NULL;
    }
    return buf_take(&b);
}

/* --- the spam filter -------------------------------------------------------------------- */

/* The object key for a log line: apiVersion/kind/namespace/name/uid. */
static void
printable_key(const char *key, char out[static 512])
{
    snprintf(out, 512, "%s", key);
    for (char *p = out; *p; p++)
        if (*p == '\x1f') *p = '/';
}

static void
log_drops(const struct bucket *b)
{
    char n[24], obj[512];
    snprintf(n, sizeof n, "%" PRIu64, b->dropped);
    printable_key(b->key, obj);
    log_warn("events dropped by the per-object rate limit", "dropped", n, "object", obj);
}

static struct bucket *
bucket_find(struct event_recorder *r, const char *key, uint64_t h)
{
    for (struct lnode *n = *ltab_slot(&r->buckets, h); n; n = n->hnext) {
        struct bucket *b = (struct bucket *)n;
        if (n->hash == h && strcmp(b->key, key) == 0) return b;
    }
    return NULL;
}

static void
bucket_remove(struct event_recorder *r, struct bucket *b)
{
    if (b->dropped) log_drops(b);
    ltab_unlink(&r->buckets, &b->node);
    free(b);
}

static struct bucket *
bucket_get(struct event_recorder *r, const char *key, int64_t now)
{
    uint64_t h = fnv1a(1469598103934665603ull, key);
    struct bucket *b = bucket_find(r, key, h);
    if (b) {
        ltab_touch(&r->buckets, &b->node, now);
        return b;
    }
    if (r->buckets.count >= r->buckets.max) /* evicting resets an object's budget */
        bucket_remove(r, (struct bucket *)r->buckets.oldest);
    size_t len = strlen(key);
    b = calloc(1, sizeof *b + len + 1);
    if (!b) return NULL;
    memcpy(b->key, key, len + 1);
    limiter_init(&b->rl, 1000.0 / (double)r->o.spam_refill_ms, r->o.spam_burst, now);
    ltab_link(&r->buckets, &b->node, h, now);
    schedule_sweep(r);
    return b;
}

/* Takes a token for the object. Returns 0, or the ms until one is available. A refused
 * new series (is_new) is counted for the drop log line. */
static int64_t
spam_take(struct event_recorder *r, const char *objkey, bool is_new, const char *reason)
{
    int64_t now = time_mono_ms();
    struct bucket *b = bucket_get(r, objkey, now);
    if (!b) return 0; /* no memory for a bucket: let it through rather than lose it */
    int64_t wait = limiter_take(&b->rl, now);
    if (wait == 0 && b->dropped) {
        log_drops(b);
        b->dropped = 0;
    } else if (wait > 0 && is_new && b->dropped++ == 0) {
        char obj[512];
        printable_key(objkey, obj);
        log_warn("events rate limited for an object, dropping", "object", obj, "reason", reason);
    }
    return wait;
}

/* --- series ----------------------------------------------------------------------------- */

static uint64_t
series_hash(const char *objkey, const char *type, const char *reason, const char *msg)
{
    uint64_t h = 1469598103934665603ull;
    h = fnv1a(h, objkey);
    h = fnv1a(h, type);
    h = fnv1a(h, reason);
    return fnv1a(h, msg);
}

static struct series *
series_find(struct event_recorder *r, uint64_t h, const char *objkey, const char *type,
            const char *reason, const char *msg)
{
    for (struct lnode *n = *ltab_slot(&r->series, h); n; n = n->hnext) {
        struct series *s = (struct series *)n;
        if (n->hash == h && strcmp(s->objkey, objkey) == 0 && strcmp(s->type, type) == 0 &&
            strcmp(s->reason, reason) == 0 && strcmp(s->message, msg) == 0)
            return s;
    }
    return NULL;
}

/* Forgets a series: its timer is cancelled, its request (if any) finishes detached. */
static void
series_remove(struct event_recorder *r, struct series *s)
{
    r->st.dropped += s->pending;
    loop_timer_cancel(r->loop, s->flush_timer);
    if (s->inflight) s->inflight->s = NULL;
    ltab_unlink(&r->series, &s->node);
    free(s);
}

/* Copies the strings after the struct; returns where the next one goes. */
static char *
put(char *at, const char **field, const char *v)
{
    size_t n = strlen(v) + 1;
    memcpy(at, v, n);
    *field = at;
    return at + n;
}

static struct series *
series_new(struct event_recorder *r, uint64_t h, const char *objkey, const struct event_ref *obj,
           const char *type, const char *reason, const char *msg, int64_t now)
{
    const char *v[] = {objkey,
                       nz(obj->api_version),
                       nz(obj->kind),
                       nz(obj->namespace),
                       obj->name,
                       nz(obj->uid),
                       nz(obj->resource_version),
                       type,
                       reason,
                       msg};
    size_t total = 0;
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        total += strlen(v[i]) + 1;
    if (r->series.count >= r->series.max) series_remove(r, (struct series *)r->series.oldest);
    struct series *s = calloc(1, sizeof *s + total);
    if (!s) return NULL;
    char *at = s->strings;
    at = put(at, &s->objkey, v[0]);
    at = put(at, &s->api_version, v[1]);
    at = put(at, &s->kind, v[2]);
    at = put(at, &s->obj_ns, v[3]);
    at = put(at, &s->name, v[4]);
    at = put(at, &s->uid, v[5]);
    at = put(at, &s->rv, v[6]);
    at = put(at, &s->type, v[7]);
    at = put(at, &s->reason, v[8]);
    put(at, &s->message, v[9]);
    s->rec = r;
    ltab_link(&r->series, &s->node, h, now);
    schedule_sweep(r);
    return s;
}

/* --- expiry ----------------------------------------------------------------------------- */

static void
on_sweep(struct loop *l, void *arg)
{
    (void)l;
    struct event_recorder *r = arg;
    r->sweep_timer = 0;
    int64_t now = time_mono_ms();
    int64_t bucket_idle_ms = (int64_t)r->o.spam_burst * r->o.spam_refill_ms; /* full again */
    while (r->series.oldest && now - r->series.oldest->used_ms >= r->o.series_ttl_ms)
        series_remove(r, (struct series *)r->series.oldest);
    while (r->buckets.oldest && now - r->buckets.oldest->used_ms >= bucket_idle_ms)
        bucket_remove(r, (struct bucket *)r->buckets.oldest);
    schedule_sweep(r);
}

/* Arms the sweep timer for the earliest expiry (an entry used since just makes it early). */
static void
schedule_sweep(struct event_recorder *r)
{
    if (!r->series.oldest && !r->buckets.oldest) return;
    int64_t at = INT64_MAX;
    if (r->series.oldest) at = r->series.oldest->used_ms + r->o.series_ttl_ms;
    if (r->buckets.oldest) {
        int64_t b = r->buckets.oldest->used_ms + (int64_t)r->o.spam_burst * r->o.spam_refill_ms;
        at = b < at ? b : at;
    }
    if (r->sweep_timer && r->sweep_at <= at) return;
    loop_timer_cancel(r->loop, r->sweep_timer);
    r->sweep_timer = loop_timer_add(r->loop, at - time_mono_ms(), on_sweep, r);
    r->sweep_at = at;
}

/* --- requests --------------------------------------------------------------------------- */

/* Names the Event and its reason, never the message. */
static void
log_failure(const char *what, const struct series *s, const struct kube_response *resp)
{
    char status[24];
    snprintf(status, sizeof status, "%ld", resp->status);
    if (resp->dropped) { /* never sent (not the leader, or no longer needed): nothing failed */
        log_debug(what, "namespace", event_ns(s), "event", s->event_name, "reason", s->reason,
                  "error", resp->error);
        return;
    }
    log_warn(what, "namespace", event_ns(s), "event", s->event_name, "reason", s->reason, "status",
             status, "error", resp->error);
}

/* Handles a response. Never frees ctx. */
static void
finish(struct ev_req *ctx, const struct kube_response *resp)
{
    struct event_recorder *r = ctx->rec;
    struct series *s = ctx->s;
    bool ok = resp->status >= 200 && resp->status < 300;
    if (!ok)
        r->st.failed++;
    else if (ctx->is_patch)
        r->st.patched++;
    else
        r->st.created++;
    if (!s) return;
    s->inflight = NULL;
    if (ok) {
        s->created = true;
        s->count_sent = ctx->count;
        s->pending -= ctx->covered;
        if (s->pending)
            flush(s);
        else if (s->object_gone)
            series_remove(r, s);
        return;
    }
    if (ctx->is_patch && resp->status == 404) { /* expired or deleted: start a new Event */
        log_info("event gone, creating it again", "namespace", event_ns(s), "event", s->event_name,
                 "reason", s->reason);
        s->created = false;
        s->count_sent = 0;
        send_create(s);
        return;
    }
    if (kube_ns_terminating(resp))
        nsterm_mark(event_ns(s), time_mono_ms()); /* no more Events there: all would fail */
    log_failure(ctx->is_patch ? "event update failed" : "event create failed", s, resp);
    if (!s->created) /* the next occurrence starts over */
        series_remove(r, s);
    /* a failed PATCH keeps its occurrences pending for the next one; no retry of ours */
}

static void
on_done(void *arg, const struct kube_response *resp)
{
    struct ev_req *ctx = arg;
    if (!ctx->linked) { /* answered inside submit(): submit_req() frees it */
        ctx->finished = true;
        finish(ctx, resp);
        return;
    }
    struct event_recorder *r = ctx->rec;
    if (ctx->prev)
        ctx->prev->next = ctx->next;
    else
        r->reqs = ctx->next;
    if (ctx->next) ctx->next->prev = ctx->prev;
    finish(ctx, resp);
    free(ctx);
}

/* Sends body for s (consumes nothing of the caller's). */
static void
submit_req(struct series *s, const char *method, const char *path, const char *ctype,
           const char *body, uint64_t count)
{
    struct event_recorder *r = s->rec;
    struct ev_req *ctx = calloc(1, sizeof *ctx);
    struct kube_response fail = {0, "", 0, "out of memory", "", "", KUBE_TRANSIENT, 0};
    if (!ctx || !body) {
        free(ctx);
        struct ev_req tmp = {.rec = r, .s = s, .is_patch = strcmp(method, "PATCH") == 0};
        finish(&tmp, &fail);
        return;
    }
    ctx->rec = r;
    ctx->s = s;
    ctx->count = count;
    ctx->covered = s->pending;
    ctx->is_patch = strcmp(method, "PATCH") == 0;
    s->inflight = ctx;
    s->last_sent_ms = time_mono_ms();
    struct kube_req_spec spec = {.method = method,
                                 .path = path,
                                 .content_type = ctype,
                                 .body = body,
                                 .body_len = strlen(body),
                                 .flags = KUBE_RETRY,
                                 .done = on_done,
                                 .arg = ctx,
                                 .queue_key = event_ns(s)};
    uint64_t id = r->o.submit(r->client, &spec);
    if (!ctx->finished && id == 0) {
        fail.error = "request not queued";
        finish(ctx, &fail);
    } else if (!ctx->finished) {
        ctx->id = id;
        ctx->linked = true;
        ctx->next = r->reqs;
        if (r->reqs) r->reqs->prev = ctx;
        r->reqs = ctx;
        return;
    }
    free(ctx);
}

/* --- bodies ----------------------------------------------------------------------------- */

static void
add_str(cJSON *o, const char *k, const char *v, bool *ok)
{
    if (!cJSON_AddStringToObject(o, k, v)) *ok = false;
}

static cJSON *
add_obj(cJSON *o, const char *k, bool *ok)
{
    cJSON *c = cJSON_AddObjectToObject(o, k);
    if (!c) *ok = false;
    return c ? c : o; /* on failure fields land in the parent; the body is discarded */
}

static void
add_involved(cJSON *root, const struct series *s, bool *ok)
{
    cJSON *io = add_obj(root, "involvedObject", ok);
    add_str(io, "apiVersion", s->api_version, ok);
    add_str(io, "kind", s->kind, ok);
    if (s->obj_ns[0]) add_str(io, "namespace", s->obj_ns, ok);
    add_str(io, "name", s->name, ok);
    add_str(io, "uid", s->uid, ok);
    if (s->rv[0]) add_str(io, "resourceVersion", s->rv, ok);
}

static char *
create_body(const struct series *s, uint64_t count)
{
    const struct event_recorder *r = s->rec;
    char first[TIME_RFC3339_MAX], last[TIME_RFC3339_MAX];
    time_fmt_rfc3339(first, s->pending_first_wall, 0);
    time_fmt_rfc3339(last, s->last_wall, 0);
    bool ok = true;
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    add_str(root, "apiVersion", "v1", &ok);
    add_str(root, "kind", "Event", &ok);
    cJSON *md = add_obj(root, "metadata", &ok);
    add_str(md, "name", s->event_name, &ok);
    add_str(md, "namespace", event_ns(s), &ok);
    add_involved(root, s, &ok);
    add_str(root, "reason", s->reason, &ok);
    add_str(root, "message", s->message, &ok);
    add_str(root, "type", s->type, &ok);
    cJSON *src = add_obj(root, "source", &ok);
    add_str(src, "component", r->component, &ok);
    if (r->host) add_str(src, "host", r->host, &ok);
    add_str(root, "firstTimestamp", first, &ok);
    add_str(root, "lastTimestamp", last, &ok);
    if (!cJSON_AddNumberToObject(root, "count", (double)count)) ok = false;
    add_str(root, "reportingComponent", r->component, &ok);
    if (r->host) add_str(root, "reportingInstance", r->host, &ok);
    char *out = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return out;
}

static char *
patch_body(const struct series *s, uint64_t count)
{
    char last[TIME_RFC3339_MAX];
    time_fmt_rfc3339(last, s->last_wall, 0);
    bool ok = true;
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    if (!cJSON_AddNumberToObject(root, "count", (double)count)) ok = false;
    add_str(root, "lastTimestamp", last, &ok);
    add_str(root, "message", s->message, &ok);
    char *out = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return out;
}

/* Creates the series' Event (again, after a 404) for its pending occurrences. */
static void
send_create(struct series *s)
{
    char path[PATH_MAX_BYTES];
    make_event_name(s->rec, s->name, s->event_name);
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/events", event_ns(s));
    char *body = create_body(s, s->pending);
    submit_req(s, "POST", path, "application/json", body, s->pending);
    cJSON_free(body);
}

static void
send_patch(struct series *s)
{
    char path[PATH_MAX_BYTES];
    int n =
        snprintf(path, sizeof path, "/api/v1/namespaces/%s/events/%s", event_ns(s), s->event_name);
    uint64_t count = s->count_sent + s->pending;
    char *body = n > 0 && (size_t)n < sizeof path ? patch_body(s, count) : NULL;
    submit_req(s, "PATCH", path, "application/merge-patch+json", body, count);
    cJSON_free(body);
}

static void
on_flush_timer(struct loop *l, void *arg)
{
    (void)l;
    struct series *s = arg;
    s->flush_timer = 0;
    flush(s);
}

static void
flush_later(struct series *s, int64_t delay_ms)
{
    if (s->flush_timer) return;
    s->flush_timer = loop_timer_add(s->rec->loop, delay_ms, on_flush_timer, s);
}

/* Writes the pending occurrences if the series may write now, else arranges to. */
static void
flush(struct series *s)
{
    if (s->inflight || s->pending == 0 || s->flush_timer) return;
    if (!s->created) {
        send_create(s);
        return;
    }
    int64_t wait = s->last_sent_ms + s->rec->o.batch_ms - time_mono_ms();
    if (wait <= 0) wait = spam_take(s->rec, s->objkey, false, s->reason);
    if (wait > 0) {
        flush_later(s, wait);
        return;
    }
    send_patch(s);
}

/* --- public ----------------------------------------------------------------------------- */

static void
set_defaults(struct event_recorder_opts *o)
{
    if (!o->submit) o->submit = kube_submit;
    if (!o->cancel) o->cancel = kube_cancel;
    if (o->batch_ms <= 0) o->batch_ms = 1000;
    if (o->series_ttl_ms <= 0) o->series_ttl_ms = 600000;
    if (!o->max_series) o->max_series = 4096;
    if (!o->max_objects) o->max_objects = 4096;
    if (o->spam_burst < 1) o->spam_burst = 25;
    if (o->spam_refill_ms <= 0) o->spam_refill_ms = 5000;
}

struct event_recorder *
event_recorder_new_opts(struct loop *l, struct kube_client *c, const char *component,
                        const char *host, const struct event_recorder_opts *opts)
{
    struct event_recorder *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->loop = l;
    r->client = c;
    if (opts) r->o = *opts;
    set_defaults(&r->o);
    r->component = strdup(component ? component : "omjob-operator");
    if (host) {
        r->host = strndup(host, REPORTING_INSTANCE_MAX);
        if (!r->host) goto err;
    }
    if (!r->component || ltab_init(&r->series, r->o.max_series) ||
        ltab_init(&r->buckets, r->o.max_objects))
        goto err;
    return r;
err:
    event_recorder_free(r);
    return NULL;
}

struct event_recorder *
event_recorder_new(struct loop *l, struct kube_client *c, const char *component, const char *host)
{
    return event_recorder_new_opts(l, c, component, host, NULL);
}

void
event_recorder_free(struct event_recorder *r)
{
    if (!r) return;
    while (r->reqs) {
        struct ev_req *ctx = r->reqs;
        r->reqs = ctx->next;
        r->o.cancel(r->client, ctx->id);
        if (ctx->s) ctx->s->inflight = NULL;
        free(ctx);
    }
    while (r->series.oldest)
        series_remove(r, (struct series *)r->series.oldest);
    while (r->buckets.oldest) {
        struct bucket *b = (struct bucket *)r->buckets.oldest;
        ltab_unlink(&r->buckets, &b->node);
        free(b);
    }
    if (r->loop) loop_timer_cancel(r->loop, r->sweep_timer);
    free(r->series.slots);
    free(r->buckets.slots);
    free(r->component);
    free(r->host);
    free(r);
}

/* One occurrence with its final message. */
static void
occur(struct event_recorder *r, const struct event_ref *obj, const char *type, const char *reason,
      const char *msg)
{
    char *objkey = object_key(obj);
    if (!objkey) {
        r->st.dropped++;
        return;
    }
    int64_t now = time_mono_ms(), wall = time_now_ms();
    uint64_t h = series_hash(objkey, type, reason, msg);
    struct series *s = series_find(r, h, objkey, type, reason, msg);
    if (s && now - s->node.used_ms >= r->o.series_ttl_ms) {
        series_remove(r, s); /* too old to be the same series */
        s = NULL;
    }
    if (s) {
        if (s->pending++ == 0) s->pending_first_wall = wall;
        s->last_wall = wall;
        ltab_touch(&r->series, &s->node, now);
        flush(s);
    } else if (spam_take(r, objkey, true, reason) > 0) {
        r->st.dropped++;
    } else if (!(s = series_new(r, h, objkey, obj, type, reason, msg, now))) {
        r->st.dropped++;
    } else {
        s->pending = 1;
        s->pending_first_wall = s->last_wall = wall;
        send_create(s);
    }
    free(objkey);
}

static event_observer_fn g_observer;
static void *g_observer_arg;

void
event_set_observer(event_observer_fn fn, void *arg)
{
    g_observer = fn;
    g_observer_arg = arg;
}

void
event_record(struct event_recorder *r, const struct event_ref *obj, const char *type,
             const char *reason, const char *fmt, ...)
{
    if (!r || !obj || !obj->name || !type || !reason || !fmt) return;
    if (g_observer) g_observer(g_observer_arg, obj->kind ? obj->kind : "", type, reason);
    if (nsterm_is(obj->namespace && *obj->namespace ? obj->namespace : "default", time_mono_ms())) {
        r->st.dropped++; /* the namespace is being deleted: the server refuses new Events */
        return;
    }
    char msg[EVENT_MESSAGE_MAX + 2]; /* one byte past the limit shows a split sequence */
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0) msg[0] = '\0';
    truncate_utf8(msg, n < 0 ? 0 : (size_t)n, EVENT_MESSAGE_MAX);
    occur(r, obj, type, reason, msg);
}

/* The uid is the last field of a bucket's object key. */
static bool
key_has_uid(const char *key, const char *uid)
{
    const char *sep = strrchr(key, '\x1f');
    return sep && strcmp(sep + 1, uid) == 0;
}

void
event_forget_object(struct event_recorder *r, const char *uid)
{
    if (!r || !uid || !*uid) return;
    for (struct lnode *n = r->series.oldest, *next; n; n = next) {
        next = n->newer;
        struct series *s = (struct series *)n;
        if (strcmp(s->uid, uid) != 0) continue;
        if (s->pending == 0)
            series_remove(r, s);
        else
            s->object_gone = true;
    }
    for (struct lnode *n = r->buckets.oldest, *next; n; n = next) {
        next = n->newer;
        struct bucket *b = (struct bucket *)n;
        if (key_has_uid(b->key, uid)) bucket_remove(r, b);
    }
}

void
event_recorder_get_stats(const struct event_recorder *r, struct event_recorder_stats *out)
{
    *out = r->st;
    out->series = r->series.count;
}
