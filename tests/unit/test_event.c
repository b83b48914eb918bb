#include "t.h"

#include "kube/client.h"
#include "kube/event.h"
#include "loop.h"
#include "util/timeutil.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdlib.h>

/* A fake API server side: requests are recorded and answered by the test. */
struct fake_req {
    char method[8];
    char path[512];
    char ctype[64];
    char *body;
    kube_done_fn done;
    void *arg;
    int answered, cancelled;
};
#define FAKE_MAX 64
static struct fake_req reqs[FAKE_MAX];
static int nreqs;
static long sync_status;  /* non-zero: answer inside submit() */
static int refuse_submit; /* submit() returns 0 */

static uint64_t
fake_submit(struct kube_client *c, const struct kube_req_spec *spec)
{
    (void)c;
    if (refuse_submit) return 0;
    int i = nreqs++;
    if (i >= FAKE_MAX) return (uint64_t)i + 1; /* never answered; the recorder cancels it at free */
    struct fake_req *q = &reqs[i];
    memset(q, 0, sizeof *q);
    snprintf(q->method, sizeof q->method, "%s", spec->method);
    snprintf(q->path, sizeof q->path, "%s", spec->path);
    snprintf(q->ctype, sizeof q->ctype, "%s", spec->content_type ? spec->content_type : "");
    q->body = strndup(spec->body, spec->body_len);
    q->done = spec->done;
    q->arg = spec->arg;
    if (sync_status) {
        struct kube_response r = {.status = sync_status, .body = "{}", .body_len = 2};
        q->answered = 1;
        spec->done(spec->arg, &r);
    }
    return (uint64_t)i + 1;
}

static void
fake_cancel(struct kube_client *c, uint64_t id)
{
    (void)c;
    if (id >= 1 && id <= FAKE_MAX) reqs[id - 1].cancelled = 1;
}

static void
answer(int i, long status)
{
    struct kube_response r = {.status = status, .body = "{}", .body_len = 2};
    reqs[i].answered = 1;
    reqs[i].done(reqs[i].arg, &r);
}

static void
fake_reset(void)
{
    for (int i = 0; i < nreqs && i < FAKE_MAX; i++)
        free(reqs[i].body);
    nreqs = 0;
    sync_status = 0;
    refuse_submit = 0;
}

static struct event_recorder *
recorder(struct loop *l, struct event_recorder_opts o)
{
    fake_reset();
    o.submit = fake_submit;
    o.cancel = fake_cancel;
    return event_recorder_new_opts(l, NULL, "omjob-operator", "node-1", &o);
}

static const struct event_ref widget = {"wire.example.com/v1",
                                        "Widget",
                                        "wire",
                                        "w-status",
                                        "fbf15d35-e191-4945-b802-fa84d68e3141",
                                        "1762"};

static void
run_until_reqs(struct loop *l, int n, int64_t timeout_ms)
{
    int64_t end = time_mono_ms() + timeout_ms;
    while (nreqs < n && time_mono_ms() < end)
        loop_run_once(l, 5);
}

static void
run_for(struct loop *l, int64_t ms)
{
    int64_t end = time_mono_ms() + ms;
    while (time_mono_ms() < end)
        loop_run_once(l, 5);
}

static const char *
jstr(const cJSON *o, const char *path1, const char *path2)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, path1);
    if (path2) v = cJSON_GetObjectItemCaseSensitive(v, path2);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double
jnum(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static int
is_rfc3339_seconds(const char *s)
{
    /* 2026-11-22T03:52:00Z */
    if (!s || strlen(s) != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
        s[16] != ':' || s[19] != 'Z')
        return 0;
    return isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[18]);
}

static int
is_series_name(const char *name, const char *prefix)
{
    size_t n = strlen(prefix);
    if (!name || strncmp(name, prefix, n) != 0 || name[n] != '.' || strlen(name + n + 1) != 16)
        return 0;
    for (const char *p = name + n + 1; *p; p++)
        if (!isxdigit((unsigned char)*p) || isupper((unsigned char)*p)) return 0;
    return 1;
}

TEST(event_create_body_has_every_field)
{
    struct loop *l = loop_new();
    struct event_recorder *r = recorder(l, (struct event_recorder_opts){0});
    event_record(r, &widget, "Normal", "Scaled", "size changed to %d", 2);
    T_EQ_INT(nreqs, 1);
    T_EQ_STR(reqs[0].method, "POST");
    T_EQ_STR(reqs[0].path, "/api/v1/namespaces/wire/events");
    T_EQ_STR(reqs[0].ctype, "application/json");
    cJSON *b = cJSON_Parse(reqs[0].body);
    T_ASSERT(b);
    T_EQ_STR(jstr(b, "apiVersion", NULL), "v1");
    T_EQ_STR(jstr(b, "kind", NULL), "Event");
    T_ASSERT(is_series_name(jstr(b, "metadata", "name"), "w-status"));
    T_EQ_STR(jstr(b, "metadata", "namespace"), "wire");
    T_EQ_STR(jstr(b, "involvedObject", "apiVersion"), "wire.example.com/v1");
    T_EQ_STR(jstr(b, "involvedObject", "kind"), "Widget");
    T_EQ_STR(jstr(b, "involvedObject", "namespace"), "wire");
    T_EQ_STR(jstr(b, "involvedObject", "name"), "w-status");
    T_EQ_STR(jstr(b, "involvedObject", "uid"), "fbf15d35-e191-4945-b802-fa84d68e3141");
    T_EQ_STR(jstr(b, "involvedObject", "resourceVersion"), "1762");
    T_EQ_STR(jstr(b, "reason", NULL), "Scaled");
    T_EQ_STR(jstr(b, "message", NULL), "size changed to 2");
    T_EQ_STR(jstr(b, "type", NULL), "Normal");
    T_EQ_STR(jstr(b, "source", "component"), "omjob-operator");
    T_EQ_STR(jstr(b, "source", "host"), "node-1");
    T_ASSERT(is_rfc3339_seconds(jstr(b, "firstTimestamp", NULL)));
    T_EQ_STR(jstr(b, "lastTimestamp", NULL), jstr(b, "firstTimestamp", NULL));
    T_EQ_INT(jnum(b, "count"), 1);
    T_EQ_STR(jstr(b, "reportingComponent", NULL), "omjob-operator");
    T_EQ_STR(jstr(b, "reportingInstance", NULL), "node-1");
    cJSON_Delete(b);
    answer(0, 201);
    struct event_recorder_stats st;
    event_recorder_get_stats(r, &st);
    T_EQ_INT(st.created, 1);
    T_EQ_INT(st.series, 1);
    event_recorder_free(r);
    fake_reset();
    loop_free(l);
}

TEST(event_cluster_scoped_object_goes_to_default_and_long_names_are_shortened)
{
    struct loop *l = loop_new();
    struct event_recorder *r = recorder(l, (struct event_recorder_opts){0});
    char longname[301];
    memset(longname, 'n', 300);
    longname[300] = '\0';
    longname[235] = '-'; /* would end the shortened name */
    struct event_ref node = {"v1", "Node", NULL, longname, "u-1", NULL};
    event_record(r, &node, "Warning", "NodeLost", "gone");
    T_EQ_INT(nreqs, 1);
    T_EQ_STR(reqs[0].path, "/api/v1/namespaces/default/events");
    cJSON *b = cJSON_Parse(reqs[0].body);
    T_ASSERT(b);
    const char *name = jstr(b, "metadata", "name");
    T_ASSERT(name && strlen(name) <= 253);
    T_EQ_INT(strlen(name), 235 + 17);
    char prefix[236];
    memset(prefix, 'n', 235);
    prefix[235] = '\0'; /* cut to 236 bytes, then the trailing '-' dropped */
    T_ASSERT(is_series_name(name, prefix));
    T_EQ_STR(jstr(b, "metadata", "namespace"), "default");
    T_ASSERT(
        !cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItem(b, "involvedObject"), "namespace"));
    T_ASSERT(!cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItem(b, "involvedObject"),
                                               "resourceVersion"));
    cJSON_Delete(b);
    event_recorder_free(r); /* request in flight: cancelled */
    T_EQ_INT(reqs[0].cancelled, 1);
    fake_reset();
    loop_free(l);
}

TEST(event_repeat_is_one_patch_with_count_2_after_the_batch_interval)
{
    struct loop *l = loop_new();
    struct event_recorder *r = recorder(l, (struct event_recorder_opts){.batch_ms = 60});
    int64_t t0 = time_mono_ms();
    event_record(r, &widget, "Normal", "Scaled", "size changed to 2");
    answer(0, 201);
    event_record(r, &widget, "Normal", "Scaled", "size changed to 2");
    T_EQ_INT(nreqs, 1); /* batched, not sent at once */
    run_until_reqs(l, 2, 2000);
    T_EQ_INT(nreqs, 2);
    T_ASSERT(time_mono_ms() - t0 >= 55);
    T_EQ_STR(reqs[1].method, "PATCH");
    cJSON *c = cJSON_Parse(reqs[0].body);
    char path[512];
    snprintf(path, sizeof path, "/api/v1/namespaces/wire/events/%s", jstr(c, "metadata", "name"));
    cJSON_Delete(c);
    T_EQ_STR(reqs[1].path, path);
    T_EQ_STR(reqs[1].ctype, "application/merge-patch+json");
    cJSON *p = cJSON_Parse(reqs[1].body);
    T_ASSERT(p);
    T_EQ_INT(jnum(p, "count"), 2);
    T_ASSERT(is_rfc3339_seconds(jstr(p, "lastTimestamp", NULL)));
    T_EQ_STR(jstr(p, "message", NULL), "size changed to 2");
    cJSON_Delete(p);
    answer(1, 200);
    run_for(l, 100);
    T_EQ_INT(nreqs, 2);
    struct event_recorder_stats st;
    event_recorder_get_stats(r, &st);
    T_EQ_INT(st.created, 1);
    T_EQ_INT(st.patched, 1);
    T_EQ_INT(st.dropped, 0);
    event_recorder_free(r);
    fake_reset();
    loop_free(l);
}

TEST(event_1000_rapid_repeats_cost_two_requests)
{
    struct loop *l = loop_new();
    struct event_recorder *r = recorder(l, (struct event_recorder_opts){.batch_ms = 30});
    for (int i = 0; i < 1000; i++)
        event_record(r, &widget, "Warning", "BackOff", "restarting failed container");
    T_EQ_INT(nreqs, 1);
    answer(0, 201);
    run_for(l, 100);
    T_EQ_INT(nreqs, 2);
    cJSON *p = cJSON_Parse(reqs[1].body);
    T_EQ_INT(jnum(p, "count"), 1000);
    cJSON_Delete(p);
    for (int i = 0; i < 1000; i++)
        event_record(r, &widget, "Warning", "BackOff", "restarting failed container");
    answer(1, 200);
    run_for(l, 100);
    T_EQ_INT(nreqs, 3);
    p = cJSON_Parse(reqs[2].body);
    T_EQ_INT(jnum(p, "count"), 2000);
    cJSON_Delete(p);
    answer(2, 200);
    struct event_recorder_stats st;
    event_recorder_get_stats(r, &st);
    T_EQ_INT(st.created, 1);
    T_EQ_INT(st.patched, 2);
    T_EQ_INT(st.series, 1);
    event_recorder_free(r);
    fake_reset();
    loop_free(l);
}

TEST(event_different_message_type_reason_or_object_is_another_series)
{
    struct loop *l = loop_new();
    struct event_recorder *r = recorder(l, (struct event_recorder_opts){0});
    struct event_ref other = widget;
    other.uid = "another-uid";
    event_record(r, &widget, "Normal", "Scaled", "size changed to 2");
    event_record(r, &widget, "Normal", "Scaled", "size changed to 3");
    event_record(r, &widget, "Warning", "Scaled", "size changed to 3");
    event_record(r, &widget, "Normal", "Resized", "size changed to 3");
    event_record(r, &other, "Normal", "Scaled", "size changed to 2");
    T_EQ_INT(nreqs, 5);
    char names[5][256];
    for (int i = 0; i < 5; i++) {
        T_EQ_STR(reqs[i].method, "POST");
        cJSON *b = cJSON_Parse(reqs[i].body);
        snprintf(names[i], sizeof names[i], "%s", jstr(b, "metadata", "name"));
        cJSON_Delete(b);
        for (int j = 0; j < i; j++)
            T_ASSERT(strcmp(names[i], names[j]) != 0);
        answer(i, 201);
    }
    struct event_recorder_stats st;
    event_recorder_get_stats(r, &st);
    T_EQ_INT(st.series, 5);
    T_EQ_INT(st.created, 5);
    event_recorder_free(r);
    fake_reset();
    loop_free(l);
}

TEST(event_patch_404_creates_a_new_event)
{
    struct loop *l = loop_new();
    struct event_recorder *r = recorder(l, (struct event_recorder_opts){.batch_ms = 20});
    event_record(r, &widget, "Normal", "Scaled", "x");
    answer(0, 201);
    event_record(r, &widget, "Normal", "Scaled", "x");
    run_until_reqs(l, 2, 1000);
    T_EQ_STR(reqs[1].method, "PATCH");
    answer(1, 404);
    T_EQ_INT(nreqs, 3);
    T_EQ_STR(reqs[2].method, "POST");
    cJSON *a = cJSON_Parse(reqs[0].body), *b = cJSON_Parse(reqs[2].body);
    T_ASSERT(strcmp(jstr(a, "metadata", "name"), jstr(b, "metadata", "name")) != 0);
    T_EQ_INT(jnum(b, "count"), 1); /* the repeat the lost Event did not get */
    cJSON_Delete(a);
    cJSON_Delete(b);
    answer(2, 201);
    event_record(r, &widget, "Normal", "Scaled", "x");
    run_until_reqs(l, 4, 1000);
    T_EQ_STR(reqs[3].method, "PATCH");
    T_CONTAINS(reqs[3].body, "\"count\":2");
    answer(3, 200);
    struct event_recorder_stats st;
    event_recorder_get_stats(r, &st);
    T_EQ_INT(st.created, 2);
    T_EQ_INT(st.patched, 1);
    T_EQ_INT(st.failed, 1);
    event_recorder_free(r);
    fake_reset();
    loop_free(l);
}

TEST(event_failed_patch_keeps_its_count_for_the_next_one_and_failed_create_starts_over)
{
    struct loop *l = loop_new();
    struct event_recorder *r = recorder(l, (struct event_recorder_opts){.batch_ms = 20});
    event_record(r, &widget, "Normal", "Scaled", "x");
    answer(0, 201);
    event_record(r, &widget, "Normal", "Scaled", "x");
    run_until_reqs(l, 2, 1000);
    answer(1, 500); /* after the client's retries: no retry of ours */
    run_for(l, 60);
    T_EQ_INT(nreqs, 2);
    event_record(r, &widget, "Normal", "Scaled", "x");
    run_until_reqs(l, 3, 1000);
    T_CONTAINS(reqs[2].body, "\"count\":3");
    answer(2, 200);

    event_record(r, &widget, "Normal", "Other", "y");
    T_EQ_INT(nreqs, 4);
    answer(3, 403);
    event_record(r, &widget, "Normal", "Other", "y");
    T_EQ_INT(nreqs, 5);
    T_EQ_STR(reqs[4].method, "POST");
    answer(4, 201);
    struct event_recorder_stats st;
    event_recorder_get_stats(r, &st);
    T_EQ_INT(st.failed, 2);
    T_EQ_INT(st.created, 2);
    event_recorder_free(r);
    fake_reset();
    loop_free(l);
}

TEST(event_spam_filter_drops_new_series_past_the_burst_per_object)
{
    struct loop *l = loop_new();
    struct event_recorder *r = recorder(
        l,
        (struct event_recorder_opts){.batch_ms = 10, .spam_burst = 3, .spam_refill_ms = 1000000});
    for (int i = 0; i < 5; i++)
        event_record(r, &widget, "Warning", "Flap", "state %d", i);
    T_EQ_INT(nreqs, 3);
    struct event_recorder_stats st;
    event_recorder_get_stats(r, &st);
    T_EQ_INT(st.dropped, 2);
    struct event_ref other = widget;
    other.name = "w-other";
    other.uid = "u-other";
    event_record(r, &other, "Warning", "Flap", "state 0");
    T_EQ_INT(nreqs, 4); /* another object has its own budget */
    for (int i = 0; i < 4; i++)
        answer(i, 201);
    /* a repeat is not dropped: its PATCH waits for a token */
    event_record(r, &widget, "Warning", "Flap", "state 0");
    run_for(l, 50);
    T_EQ_INT(nreqs, 4);
    event_recorder_get_stats(r, &st);
    T_EQ_INT(st.dropped, 2);
    event_recorder_free(r);
    fake_reset();
    loop_free(l);
}

TEST(event_spam_filter_refills_and_patches_wait_for_a_token)
{
    struct loop *l = loop_new();
    struct event_recorder *r = recorder(
        l, (struct event_recorder_opts){.batch_ms = 10, .spam_burst = 1, .spam_refill_ms = 80});
    event_record(r, &widget, "Normal", "A", "a");
    answer(0, 201);
    event_record(r, &widget, "Normal", "B", "b"); /* no token: dropped */
    T_EQ_INT(nreqs, 1);
    event_record(r, &widget, "Normal", "A", "a"); /* waits ~80 ms for a token */
    int64_t t0 = time_mono_ms();
    run_until_reqs(l, 2, 1000);
    T_EQ_INT(nreqs, 2);
    T_ASSERT(time_mono_ms() - t0 >= 50);
    T_EQ_STR(reqs[1].method, "PATCH");
    answer(1, 200);
    struct event_recorder_stats st;
    event_recorder_get_stats(r, &st);
    T_EQ_INT(st.dropped, 1);
    T_EQ_INT(st.patched, 1);
    event_recorder_free(r);
    fake_reset();
    loop_free(l);
}

TEST(event_series_table_is_lru_bounded)
{
    struct loop *l = loop_new();
    struct event_recorder *r = recorder(l, (struct event_recorder_opts){.max_series = 4});
    for (int i = 0; i < 6; i++) {
        event_record(r, &widget, "Normal", "Step", "step %d", i);
        answer(i, 201);
    }
    struct event_recorder_stats st;
    event_recorder_get_stats(r, &st);
    T_EQ_INT(st.series, 4);
    event_record(r, &widget, "Normal", "Step", "step 0"); /* evicted: a new Event */
    T_EQ_INT(nreqs, 7);
    T_EQ_STR(reqs[6].method, "POST");
    answer(6, 201);
    event_record(r, &widget, "Normal", "Step", "step 5"); /* kept: batched into a PATCH */
    T_EQ_INT(nreqs, 7);
    event_recorder_get_stats(r, &st);
    T_EQ_INT(st.series, 4);
    event_recorder_free(r); /* pending repeat and its timer go away */
    fake_reset();
    loop_free(l);
}

TEST(event_forget_object_drops_its_series_and_budget_but_not_unsent_repeats)
{
    struct loop *l = loop_new();
    struct event_recorder *r = recorder(
        l, (struct event_recorder_opts){.batch_ms = 200, .spam_burst = 2, .spam_refill_ms = 1000000});
    struct event_ref other = widget;
    other.name = "w-other";
    other.uid = "u-other";
    event_record(r, &widget, "Normal", "A", "a");
    event_record(r, &widget, "Normal", "B", "b");
    event_record(r, &widget, "Normal", "C", "c"); /* past the burst: dropped */
    event_record(r, &other, "Normal", "A", "a");
    T_EQ_INT(nreqs, 3);
    for (int i = 0; i < 3; i++)
        answer(i, 201);
    event_record(r, &widget, "Normal", "B", "b"); /* a repeat waiting for the batch interval */
    struct event_recorder_stats st;
    event_recorder_get_stats(r, &st);
    T_EQ_INT(st.series, 3);
    event_forget_object(r, widget.uid);
    event_forget_object(r, "no-such-uid");
    event_forget_object(NULL, widget.uid);
    event_recorder_get_stats(r, &st);
    T_EQ_INT(st.series, 2); /* A went; B waits for its unsent repeat; the other object's stays */
    /* the bucket went too: a fresh budget (a deleted object's uid never comes back, this
     * only shows the bucket was dropped) */
    event_record(r, &widget, "Normal", "A", "a");
    event_record(r, &widget, "Normal", "C", "c");
    T_EQ_INT(nreqs, 5);
    T_EQ_STR(reqs[3].method, "POST");
    event_record(r, &other, "Normal", "A", "a"); /* still a series: coalesced, no request */
    T_EQ_INT(nreqs, 5);
    answer(3, 201);
    answer(4, 201);
    event_forget_object(r, widget.uid); /* the two new ones go at once */
    event_recorder_get_stats(r, &st);
    T_EQ_INT(st.series, 2);
    run_until_reqs(l, 6, 1000); /* ... B once its batched repeat is written */
    T_EQ_STR(reqs[5].method, "PATCH");
    answer(5, 200);
    event_recorder_get_stats(r, &st);
    T_EQ_INT(st.series, 1);
    event_recorder_free(r);
    fake_reset();
    loop_free(l);
}

TEST(event_series_expire_after_the_ttl)
{
    struct loop *l = loop_new();
    struct event_recorder *r = recorder(l, (struct event_recorder_opts){.series_ttl_ms = 40});
    event_record(r, &widget, "Normal", "Scaled", "x");
    answer(0, 201);
    run_for(l, 80);
    struct event_recorder_stats st;
    event_recorder_get_stats(r, &st);
    T_EQ_INT(st.series, 0); /* swept */
    event_record(r, &widget, "Normal", "Scaled", "x");
    T_EQ_INT(nreqs, 2);
    T_EQ_STR(reqs[1].method, "POST");
    answer(1, 201);
    event_recorder_free(r);
    fake_reset();
    loop_free(l);
}

static const char *
recorded_message(int i)
{
    static char msg[2048];
    cJSON *b = cJSON_Parse(reqs[i].body);
    snprintf(msg, sizeof msg, "%s", jstr(b, "message", NULL) ? jstr(b, "message", NULL) : "");
    cJSON_Delete(b);
    return msg;
}

TEST(event_message_is_cut_to_1024_bytes_on_a_utf8_boundary)
{
    struct loop *l = loop_new();
    struct event_recorder *r = recorder(l, (struct event_recorder_opts){0});
    char a[2001];
    memset(a, 'a', 2000);
    a[2000] = '\0';
    event_record(r, &widget, "Normal", "Long", "%s", a);
    T_EQ_INT(strlen(recorded_message(0)), 1024);
    event_record(r, &widget, "Normal", "Long", "%.1023s\xc3\xa9", a); /* é straddles */
    T_EQ_INT(strlen(recorded_message(1)), 1023);
    event_record(r, &widget, "Normal", "Long", "%.1020s\xf0\x9f\x98\x80", a); /* fits */
    T_EQ_INT(strlen(recorded_message(2)), 1024);
    event_record(r, &widget, "Normal", "Long", "%.1022s\xf0\x9f\x98\x80!", a);
    T_EQ_INT(strlen(recorded_message(3)), 1022);
    T_EQ_INT(nreqs, 4);
    for (int i = 0; i < 4; i++)
        answer(i, 201);
    event_recorder_free(r);
    fake_reset();
    loop_free(l);
}

TEST(event_synchronous_answers_and_refused_submits_are_safe)
{
    struct loop *l = loop_new();
    struct event_recorder *r = recorder(l, (struct event_recorder_opts){.batch_ms = 10});
    sync_status = 201;
    event_record(r, &widget, "Normal", "Sync", "x");
    T_EQ_INT(nreqs, 1);
    sync_status = 404; /* the PATCH 404s inside submit, and so does the new POST */
    event_record(r, &widget, "Normal", "Sync", "x");
    run_until_reqs(l, 3, 1000);
    T_EQ_INT(nreqs, 3);
    T_EQ_STR(reqs[1].method, "PATCH");
    T_EQ_STR(reqs[2].method, "POST");
    struct event_recorder_stats st;
    event_recorder_get_stats(r, &st);
    T_EQ_INT(st.created, 1);
    T_EQ_INT(st.failed, 2);
    T_EQ_INT(st.series, 0);
    sync_status = 0;
    refuse_submit = 1;
    event_record(r, &widget, "Normal", "Refused", "x");
    event_recorder_get_stats(r, &st);
    T_EQ_INT(st.failed, 3);
    T_EQ_INT(st.series, 0);
    event_record(NULL, &widget, "Normal", "X", "x");
    event_record(r, NULL, "Normal", "X", "x");
    event_recorder_free(r);
    event_recorder_free(NULL);
    fake_reset();
    loop_free(l);
}

TEST(event_without_host_omits_source_host_and_reporting_instance)
{
    struct loop *l = loop_new();
    fake_reset();
    struct event_recorder_opts o = {.submit = fake_submit, .cancel = fake_cancel};
    struct event_recorder *r = event_recorder_new_opts(l, NULL, "omjob-operator", NULL, &o);
    event_record(r, &widget, "Normal", "Scaled", "x");
    T_EQ_INT(nreqs, 1);
    cJSON *b = cJSON_Parse(reqs[0].body);
    T_EQ_STR(jstr(b, "source", "component"), "omjob-operator");
    T_ASSERT(!jstr(b, "source", "host"));
    T_ASSERT(!jstr(b, "reportingInstance", NULL));
    T_EQ_STR(jstr(b, "reportingComponent", NULL), "omjob-operator");
    cJSON_Delete(b);
    answer(0, 201);
    event_recorder_free(r);
    /* the default HTTP side: created and freed without a request */
    r = event_recorder_new(l, NULL, "omjob-operator", "h");
    T_ASSERT(r);
    event_recorder_free(r);
    fake_reset();
    loop_free(l);
}

TEST(event_many_objects_and_series_stay_bounded)
{
    struct loop *l = loop_new();
    struct event_recorder *r =
        recorder(l, (struct event_recorder_opts){.max_series = 256, .max_objects = 64});
    char name[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof name, "obj-%d", i % 300);
        struct event_ref o = {"v1", "Pod", "ns", name, name, NULL};
        event_record(r, &o, "Warning", "Failed", "attempt %d", i / 300);
    }
    struct event_recorder_stats st;
    event_recorder_get_stats(r, &st);
    T_EQ_INT(st.series, 256);
    T_ASSERT((uint64_t)nreqs + st.dropped >= 5000);
    for (int i = 0; i < FAKE_MAX; i++)
        answer(i, 201); /* most of their series are long evicted */
    event_recorder_get_stats(r, &st);
    T_EQ_INT(st.created, FAKE_MAX);
    event_recorder_free(r); /* cancels the rest */
    fake_reset();
    loop_free(l);
}
