#include "t.h"

#include "kube/fairq.h"
#include "kube/nsterm.h"
#include "kube/status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ../shared/k8s-wire/114: a create in a namespace being deleted */
static const char ns_term[] =
    "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":"
    "\"pods \\\"late-exit\\\" is forbidden: unable to create new content in namespace wire-term "
    "because it is being terminated\",\"reason\":\"Forbidden\",\"details\":{\"name\":\"late-exit\","
    "\"kind\":\"pods\",\"causes\":[{\"reason\":\"NamespaceTerminating\",\"message\":\"namespace "
    "wire-term is being terminated\",\"field\":\"metadata.namespace\"}]},\"code\":403}";

TEST(status_message_reason_and_cause_of_a_403)
{
    struct kube_status st;
    kube_status_parse(&st, 403, ns_term, strlen(ns_term));
    T_EQ_STR(st.reason, "Forbidden");
    T_EQ_STR(st.cause, "NamespaceTerminating");
    T_EQ_STR(st.text, "pods \"late-exit\" is forbidden: unable to create new content in namespace "
                      "wire-term because it is being terminated (metadata.namespace: namespace "
                      "wire-term is being terminated)");
    T_EQ_INT(kube_classify(403, st.reason), KUBE_PERMANENT);
}

TEST(status_causes_already_in_the_message_are_not_repeated)
{
    /* ../shared/k8s-wire/11: a 422 whose message lists every cause */
    const char *b = "{\"kind\":\"Status\",\"message\":\"Pod \\\"p\\\" is invalid: spec.containers[0]."
                    "image: Required value\",\"reason\":\"Invalid\",\"details\":{\"causes\":[{\"reason"
                    "\":\"FieldValueRequired\",\"message\":\"Required value\",\"field\":\"spec."
                    "containers[0].image\"}]},\"code\":422}";
    struct kube_status st;
    kube_status_parse(&st, 422, b, strlen(b));
    T_EQ_STR(st.text, "Pod \"p\" is invalid: spec.containers[0].image: Required value");
    T_EQ_STR(st.cause, "FieldValueRequired");
    T_EQ_INT(kube_classify(422, st.reason), KUBE_PERMANENT);
}

TEST(status_without_a_status_body_names_the_code)
{
    struct kube_status st;
    kube_status_parse(&st, 503, "upstream\tconnect error", 22);
    T_EQ_STR(st.text, "HTTP 503 Service Unavailable: upstream connect error");
    kube_status_parse(&st, 502, NULL, 0);
    T_EQ_STR(st.text, "HTTP 502 Bad Gateway");
    kube_status_parse(&st, 422, "{\"kind\":\"Status\",\"message\":\"\"}", 30);
    T_EQ_STR(st.text, "HTTP 422 Unprocessable Entity");
    char big[4000];
    memset(big, 'x', sizeof big);
    kube_status_parse(&st, 500, big, sizeof big); /* long non-JSON bodies are not quoted */
    T_EQ_STR(st.text, "HTTP 500 Internal Server Error");
}

TEST(status_of_a_success_is_not_read_from_its_body)
{
    /* a 2xx answer carries the object, parsed once by whoever asked for it */
    struct kube_status st;
    const char *b = "{\"kind\":\"Status\",\"message\":\"m\",\"reason\":\"AlreadyExists\"}";
    kube_status_parse(&st, 200, b, strlen(b));
    T_EQ_STR(st.text, "HTTP 200");
    T_EQ_STR(st.reason, "");
    T_EQ_INT(kube_classify(201, st.reason), KUBE_OK);
}

TEST(status_text_is_bounded_and_cut_on_utf8)
{
    char body[3000];
    int n = snprintf(body, sizeof body, "{\"kind\":\"Status\",\"message\":\"");
    while (n < 2900) n += snprintf(body + n, sizeof body - (size_t)n, "\xc3\xa9");
    n += snprintf(body + n, sizeof body - (size_t)n, "\"}");
    struct kube_status st;
    kube_status_parse(&st, 400, body, (size_t)n);
    size_t len = strlen(st.text);
    T_ASSERT(len < KUBE_STATUS_TEXT_MAX);
    T_ASSERT(len % 2 == 0); /* whole two-byte sequences only */
}

TEST(status_text_replaces_malformed_utf8)
{
    /* found by tests/fuzz/fuzz_status: a lead byte without its continuation bytes, an
     * overlong form and a surrogate were copied as they came */
    static const char body[] = "bad \xc3( \xe2\x82 \xc0\xaf \xed\xa0\x80 \xf5\x80\x80\x80 ok \xe2\x98\x83";
    struct kube_status st;
    kube_status_parse(&st, 503, body, sizeof body - 1);
    T_EQ_STR(st.text, "HTTP 503 Service Unavailable: bad  (                ok \xe2\x98\x83");
}

TEST(status_classification)
{
    T_EQ_INT(kube_classify(200, ""), KUBE_OK);
    T_EQ_INT(kube_classify(201, NULL), KUBE_OK);
    T_EQ_INT(kube_classify(0, NULL), KUBE_TRANSIENT);
    T_EQ_INT(kube_classify(429, "TooManyRequests"), KUBE_TRANSIENT);
    T_EQ_INT(kube_classify(500, ""), KUBE_TRANSIENT);
    T_EQ_INT(kube_classify(503, ""), KUBE_TRANSIENT);
    T_EQ_INT(kube_classify(409, "Conflict"), KUBE_TRANSIENT);
    T_EQ_INT(kube_classify(409, NULL), KUBE_TRANSIENT);
    T_EQ_INT(kube_classify(409, "AlreadyExists"), KUBE_PERMANENT);
    T_EQ_INT(kube_classify(400, "BadRequest"), KUBE_PERMANENT);
    T_EQ_INT(kube_classify(403, "Forbidden"), KUBE_PERMANENT);
    T_EQ_INT(kube_classify(404, "NotFound"), KUBE_PERMANENT);
    T_EQ_INT(kube_classify(422, "Invalid"), KUBE_PERMANENT);
}

TEST(fairq_serves_keys_in_turn_and_classes_in_order)
{
    struct fairq *q = fairq_new(100);
    int items[10];
    /* a busy namespace with five writes, then one write each from two others */
    for (int i = 0; i < 5; i++) T_ASSERT(fairq_push(q, 1, "busy", &items[i]));
    T_ASSERT(fairq_push(q, 1, "a", &items[5]));
    T_ASSERT(fairq_push(q, 2, "a", &items[6])); /* a retry */
    T_ASSERT(fairq_push(q, 1, "b", &items[7]));
    T_ASSERT(fairq_push(q, 0, "lease", &items[8]));
    T_EQ_INT(fairq_len(q), 9);
    T_ASSERT(fairq_pop(q) == &items[8]); /* the highest class first */
    T_ASSERT(fairq_pop(q) == &items[0]);
    T_ASSERT(fairq_pop(q) == &items[5]);
    T_ASSERT(fairq_pop(q) == &items[7]);
    T_ASSERT(fairq_pop(q) == &items[1]);
    T_ASSERT(fairq_pop(q) == &items[2]);
    T_ASSERT(fairq_pop(q) == &items[3]);
    T_ASSERT(fairq_pop(q) == &items[4]);
    T_ASSERT(fairq_pop(q) == &items[6]); /* retries after every first attempt */
    T_ASSERT(fairq_pop(q) == NULL);
    fairq_free(q);
}

TEST(fairq_is_bounded_and_removes_by_handle)
{
    struct fairq *q = fairq_new(3);
    int a, b, c, d;
    struct fairq_node *na = fairq_push(q, 1, "x", &a);
    struct fairq_node *nb = fairq_push(q, 1, "x", &b);
    T_ASSERT(fairq_push(q, 1, "y", &c));
    T_ASSERT(!fairq_push(q, 1, "z", &d)); /* full */
    T_ASSERT(!fairq_push(q, FAIRQ_CLASSES, "z", &d));
    fairq_remove(q, nb);
    fairq_remove(q, na); /* key x is empty now and leaves the round */
    T_EQ_INT(fairq_len(q), 1);
    T_EQ_INT(fairq_class_len(q, 1), 1);
    T_ASSERT(fairq_pop(q) == &c);
    T_ASSERT(fairq_push(q, 1, "x", &a));
    fairq_free(q); /* with an item left: no leak */
}

TEST(nsterm_marks_lapse_and_clear)
{
    nsterm_reset();
    T_ASSERT(!nsterm_is("a", 0));
    nsterm_mark("a", 1000);
    T_ASSERT(nsterm_is("a", 1000 + NSTERM_TTL_MS));
    T_ASSERT(!nsterm_is("a", 1001 + NSTERM_TTL_MS));
    nsterm_mark("b", 5);
    nsterm_clear("b");
    T_ASSERT(!nsterm_is("b", 5));
    for (int i = 0; i < NSTERM_MAX + 10; i++) { /* bounded: the oldest are forgotten */
        char ns[16];
        snprintf(ns, sizeof ns, "n%d", i);
        nsterm_mark(ns, i);
    }
    T_ASSERT(nsterm_is("n265", 265 + 1));
    T_ASSERT(nsterm_is("n10", 265 + 1));
    T_ASSERT(!nsterm_is("n0", 1));
    nsterm_reset();
}

TEST(nsterm_checked_states_lapse_by_their_own_ttl)
{
    nsterm_reset();
    T_EQ_INT(nsterm_get("c", 0), NSTERM_UNKNOWN);
    nsterm_set("c", NSTERM_CHECKING, 100);
    T_EQ_INT(nsterm_get("c", 100 + NSTERM_CHECK_TTL_MS), NSTERM_CHECKING);
    T_EQ_INT(nsterm_get("c", 101 + NSTERM_CHECK_TTL_MS), NSTERM_UNKNOWN); /* an answer lost */
    nsterm_set("c", NSTERM_ACTIVE, 200);
    T_EQ_INT(nsterm_get("c", 200 + NSTERM_ACTIVE_TTL_MS), NSTERM_ACTIVE);
    T_ASSERT(!nsterm_is("c", 200));
    T_EQ_INT(nsterm_get("c", 201 + NSTERM_ACTIVE_TTL_MS), NSTERM_UNKNOWN); /* read again */
    nsterm_set("c", NSTERM_CHECKING, 300);
    nsterm_set("c", NSTERM_TERMINATING, 310); /* the answer replaces the check */
    T_ASSERT(nsterm_is("c", 310 + NSTERM_TTL_MS));
    nsterm_set("c", NSTERM_UNKNOWN, 0);
    T_EQ_INT(nsterm_get("c", 320), NSTERM_UNKNOWN);
    nsterm_reset();
}
