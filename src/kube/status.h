/* What the API server said: the metav1.Status body of an error answer, and the one
 * classification of every answer that all controllers, events, the lease and the CLI use.
 *
 *   transient  transport errors (status 0), 408, 429, 5xx, 409 Conflict (stale
 *              resourceVersion), 401 (a rotated token; the client re-reads it): retry the
 *              same request with backoff.
 *   permanent  every other 4xx (400 BadRequest, 403 Forbidden, 404 NotFound, 405, 410,
 *              415, 422 Invalid, 409 AlreadyExists): the same request would get the same
 *              answer; report it once and wait for the object to change. Callers that have
 *              a meaning for one of them (404 on a delete = done, AlreadyExists = adopt)
 *              test for it before classifying.
 *
 * Pure and bounded (tested): the text never exceeds KUBE_STATUS_TEXT_MAX. */
#ifndef OMJ_KUBE_STATUS_H
#define OMJ_KUBE_STATUS_H

#include <stdbool.h>
#include <stddef.h>

#define KUBE_STATUS_TEXT_MAX 768

struct kube_status {
    long code;                          /* the HTTP status */
    char reason[64];                    /* Status.reason: "Forbidden", "Invalid", ... or "" */
    char cause[64];                     /* details.causes[0].reason, e.g. NamespaceTerminating */
    char text[KUBE_STATUS_TEXT_MAX];    /* Status.message plus the causes it does not already
                                           name ("field: message; ..."), else "HTTP 503 ..." */
};

/* Fills st from an answer. body may be anything (not JSON, not a Status, truncated): the
 * text then says the HTTP code and reason phrase, plus a printable excerpt of a short
 * non-JSON body. Control characters are replaced; the text is cut on a UTF-8 boundary.
 * A 2xx body is not read (it is the object, which the caller parses once): the text is
 * then "HTTP <code>", reason and cause are empty. */
void kube_status_parse(struct kube_status *st, long code, const char *body, size_t len);

enum kube_class { KUBE_OK, KUBE_TRANSIENT, KUBE_PERMANENT };
/* code 0 is a transport error. reason disambiguates 409 (AlreadyExists vs Conflict);
 * NULL or "" treats a 409 as a Conflict. */
enum kube_class kube_classify(long code, const char *reason);

#endif
