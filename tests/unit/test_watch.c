#include "t.h"

#include "kube/cache.h"
#include "kube/client.h"
#include "kube/watch.h"

#include <cjson/cJSON.h>
#include <stdlib.h>

static char events[8][256];
static int nevents;

static int
collect(void *arg, const char *ev, size_t len)
{
    (void)arg;
    if (nevents < 8 && len < sizeof events[0]) {
        memcpy(events[nevents], ev, len);
        events[nevents][len] = '\0';
    }
    nevents++;
    return 0;
}

static int
feed(struct watch_framer *f, const char *s)
{
    return framer_feed(f, s, strlen(s), collect, NULL);
}

TEST(framer_events_split_across_chunks_and_merged_in_one)
{
    struct watch_framer f;
    framer_init(&f, 1024);
    nevents = 0;
    T_EQ_INT(feed(&f, "{\"type\":\"ADD"), 0);
    T_EQ_INT(nevents, 0);
    T_EQ_INT(feed(&f, "ED\"}\n{\"a\":1}\n{\"b\""), 0);
    T_EQ_INT(nevents, 2);
    T_EQ_STR(events[0], "{\"type\":\"ADDED\"}");
    T_EQ_STR(events[1], "{\"a\":1}");
    T_EQ_INT(feed(&f, ":2}\n\n"), 0);
    T_EQ_INT(nevents, 3); /* the empty line is no event */
    T_EQ_STR(events[2], "{\"b\":2}");
    framer_free(&f);
}

TEST(framer_oversized_event_is_dropped_whole_and_counted)
{
    struct watch_framer f;
    framer_init(&f, 16);
    nevents = 0;
    const char *big = "{\"x\":\"0123456789abcdefghij\"}";
    T_EQ_INT(framer_feed(&f, big, strlen(big), collect, NULL), 0);
    T_EQ_INT(feed(&f, "more-of-it\n{\"ok\":1}\n"), 0);
    T_EQ_INT(f.oversized, 1);
    T_EQ_INT(nevents, 1);
    T_EQ_STR(events[0], "{\"ok\":1}");
    framer_free(&f);
}

static int
stop_at_first(void *arg, const char *ev, size_t len)
{
    (void)ev;
    (void)len;
    ++*(int *)arg;
    return 7;
}

TEST(framer_callback_can_stop_the_stream)
{
    struct watch_framer f;
    framer_init(&f, 64);
    int n = 0;
    T_EQ_INT(framer_feed(&f, "{}\n{}\n", 6, stop_at_first, &n), 7);
    T_EQ_INT(n, 1);
    framer_free(&f);
}

static struct kobj *
obj(const char *ns, const char *name, const char *uid, const char *rv, const char *owner)
{
    char js[512];
    snprintf(js, sizeof js,
             "{\"metadata\":{\"namespace\":\"%s\",\"name\":\"%s\",\"uid\":\"%s\","
             "\"resourceVersion\":\"%s\",\"generation\":3,\"finalizers\":[\"x/y\"],"
             "\"deletionTimestamp\":\"2026-11-22T05:00:00Z\""
             "%s%s%s}}",
             ns, name, uid, rv, owner ? ",\"ownerReferences\":[{\"kind\":\"OMJob\",\"name\":\"j\",\"uid\":\"" : "",
             owner ? owner : "", owner ? "\",\"controller\":true}]" : "");
    cJSON *j = cJSON_Parse(js);
    struct kobj *o = kobj_from_json(j, "x/y");
    cJSON_Delete(j);
    return o;
}

static void
count_cb(void *arg, struct kobj *o)
{
    (void)o;
    ++*(int *)arg;
}

TEST(cache_put_get_replace_owner_index_and_relist_diff)
{
    struct cache *c = cache_new(free);
    struct kobj *a = obj("ns", "a", "u1", "10", "own1");
    T_ASSERT(a != NULL);
    T_EQ_STR(a->key, "ns/a");
    T_EQ_INT(a->generation, 3);
    T_EQ_INT(a->finalizers, 3);
    T_EQ_STR(a->owner_ref, "OMJob/j");
    T_ASSERT(a->deletion_ms > 0);
    a->payload = strdup("payload");
    T_ASSERT(cache_put(c, a) == NULL);
    T_ASSERT(cache_put(c, obj("ns", "b", "u2", "11", "own1")) == NULL);
    T_ASSERT(cache_put(c, obj("ns", "c", "u3", "12", NULL)) == NULL);
    struct kobj *old = cache_put(c, obj("ns", "a", "u1", "13", "own2"));
    T_ASSERT(old == a);
    kobj_free(c, old); /* frees the payload through the cache's free function */
    T_EQ_INT(cache_count(c), 3);
    int n = 0;
    cache_foreach_owned(c, "own1", count_cb, &n);
    T_EQ_INT(n, 1);
    n = 0;
    cache_foreach_owned(c, "own2", count_cb, &n);
    T_EQ_INT(n, 1);
    /* a relist that returns only "b": a and c are collected as deletes */
    uint32_t m = cache_mark_begin(c);
    cache_mark(cache_get(c, "ns/b"), m);
    int gone = 0;
    struct kobj *g;
    while ((g = cache_take_unmarked(c, m))) {
        gone++;
        kobj_free(c, g);
    }
    T_EQ_INT(gone, 2);
    T_EQ_INT(cache_count(c), 1);
    T_ASSERT(cache_get(c, "ns/a") == NULL);
    cache_free(c);
}

TEST(cache_grows_past_its_initial_buckets)
{
    struct cache *c = cache_new(NULL);
    char name[32], uid[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof name, "p%d", i);
        snprintf(uid, sizeof uid, "u%d", i);
        cache_put(c, obj("ns", name, uid, "1", i % 2 ? "o" : NULL));
    }
    T_EQ_INT(cache_count(c), 5000);
    int n = 0;
    cache_foreach_owned(c, "o", count_cb, &n);
    T_EQ_INT(n, 2500);
    T_ASSERT(cache_get(c, "ns/p4999") != NULL);
    cache_free(c);
}

TEST(kobj_rejects_objects_without_identity)
{
    cJSON *j = cJSON_Parse("{\"metadata\":{\"name\":\"x\"}}");
    T_ASSERT(kobj_from_json(j, NULL) == NULL);
    cJSON_Delete(j);
    j = cJSON_Parse("[1,2]");
    T_ASSERT(kobj_from_json(j, NULL) == NULL);
    cJSON_Delete(j);
}

TEST(backoff_and_retry_after_and_limiter_arithmetic)
{
    T_EQ_INT(kube_backoff_ms(0, 250, 30000, 0.5), 250);
    T_EQ_INT(kube_backoff_ms(3, 250, 30000, 0.5), 2000);
    T_EQ_INT(kube_backoff_ms(20, 250, 30000, 0.5), 30000);
    T_EQ_INT(kube_backoff_ms(1, 250, 30000, 0.0), 400);  /* -20% */
    T_EQ_INT(kube_backoff_ms(1, 250, 30000, 0.999), 599); /* under +20% */
    T_EQ_INT(kube_parse_retry_after(" 2\r\n"), 2000);
    T_EQ_INT(kube_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), -1);
    T_EQ_INT(kube_parse_retry_after("-1"), -1);
    T_EQ_INT(kube_parse_retry_after("99999"), 3600000);
    struct rate_limiter rl;
    limiter_init(&rl, 10, 2, 1000);
    T_EQ_INT(limiter_take(&rl, 1000), 0);
    T_EQ_INT(limiter_take(&rl, 1000), 0);
    T_EQ_INT(limiter_take(&rl, 1000), 101); /* 100 ms per token at 10 qps */
    T_EQ_INT(limiter_take(&rl, 1100), 0);
    T_ASSERT(limiter_take(&rl, 1100) > 0);
    T_EQ_INT(limiter_take(&rl, 5000), 0); /* refilled, but never above the burst */
    T_EQ_INT(limiter_take(&rl, 5000), 0);
    T_ASSERT(limiter_take(&rl, 5000) > 0);
}

#include "kube/lease.h"

TEST(lease_decision_follows_local_observation_time)
{
    struct lease_view v = {NULL, 1000, 15000};
    T_EQ_INT(lease_decide(&v, "me", 1000), LEASE_TAKE); /* no holder */
    v.holder = "";
    T_EQ_INT(lease_decide(&v, "me", 1000), LEASE_TAKE); /* released */
    v.holder = "me";
    T_EQ_INT(lease_decide(&v, "me", 99999), LEASE_RENEW);
    v.holder = "other";
    T_EQ_INT(lease_decide(&v, "me", 16000), LEASE_WAIT);  /* exactly one duration: still theirs */
    T_EQ_INT(lease_decide(&v, "me", 16001), LEASE_TAKE);  /* unrenewed past the duration */
}

static void
noop_change(void *arg, enum informer_event ev, const struct kobj *o)
{
    (void)arg;
    (void)ev;
    (void)o;
}

static cJSON *
pod_json(const char *rv)
{
    char js[256];
    snprintf(js, sizeof js,
             "{\"metadata\":{\"namespace\":\"ns\",\"name\":\"p\",\"uid\":\"u\","
             "\"resourceVersion\":\"%s\"}}",
             rv);
    return cJSON_Parse(js);
}

TEST(write_through_never_moves_the_cache_backwards)
{
    static const struct informer_kind kind = {"pods", NULL, NULL, NULL};
    struct informer *inf = informer_new(NULL, NULL, "/api/v1/pods", NULL, &kind, 60, noop_change,
                                        NULL);
    T_ASSERT(inf != NULL);
    uint64_t before_create = informer_event_seq();
    cJSON *v1 = pod_json("10"), *v2 = pod_json("12"), *v0 = pod_json("9");
    informer_apply(inf, v1, before_create); /* absent: the answer is news */
    struct kobj *o = cache_get(informer_cache(inf), "ns/p");
    T_ASSERT(o != NULL);
    T_EQ_STR(o->rv, "10");
    uint64_t before_patch = informer_event_seq();
    informer_apply(inf, v2, before_patch); /* nothing newer since the write was sent */
    T_EQ_STR(cache_get(informer_cache(inf), "ns/p")->rv, "12");
    /* an answer to a write sent before the cache last changed is older than the cache */
    informer_apply(inf, v0, before_create);
    T_EQ_STR(cache_get(informer_cache(inf), "ns/p")->rv, "12");
    /* nor does anything with an older resourceVersion (a lagging watch event, a LIST served
     * before our write): the path watch events and LIST items take too */
    informer_apply(inf, v0, informer_event_seq());
    T_EQ_STR(cache_get(informer_cache(inf), "ns/p")->rv, "12");
    cJSON *v13 = pod_json("13");
    informer_apply(inf, v13, informer_event_seq()); /* newer: applied */
    T_EQ_STR(cache_get(informer_cache(inf), "ns/p")->rv, "13");
    cJSON_Delete(v13);
    cJSON_Delete(v0);
    cJSON_Delete(v1);
    cJSON_Delete(v2);
    informer_free(inf);
}

/* The watch tells of an older change (rv 11: our status write, say) while our finalizer
 * PATCH is on the wire; its answer (rv 12) is newer than that event, and must reach the
 * cache: otherwise the next reconcile sees the finalizer as it was and sends it again
 * (answered 422, an extra write per run in make bench). */
TEST(write_through_applies_an_answer_newer_than_what_the_watch_told_meanwhile)
{
    static const struct informer_kind kind = {"pods", NULL, NULL, NULL};
    struct informer *inf = informer_new(NULL, NULL, "/api/v1/pods", NULL, &kind, 60, noop_change,
                                        NULL);
    T_ASSERT(inf != NULL);
    cJSON *v10 = pod_json("10"), *v11 = pod_json("11"), *v12 = pod_json("12");
    informer_apply(inf, v10, informer_event_seq());
    uint64_t sent = informer_event_seq();            /* the PATCH goes out */
    informer_apply(inf, v11, informer_event_seq());  /* a watch event arrives meanwhile */
    informer_apply(inf, v12, sent);                  /* the PATCH's answer */
    T_EQ_STR(cache_get(informer_cache(inf), "ns/p")->rv, "12");
    /* and a late answer stays older than what the cache holds */
    informer_apply(inf, v11, sent);
    T_EQ_STR(cache_get(informer_cache(inf), "ns/p")->rv, "12");
    cJSON_Delete(v10);
    cJSON_Delete(v11);
    cJSON_Delete(v12);
    informer_free(inf);
}
