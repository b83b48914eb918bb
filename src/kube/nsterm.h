/* Namespaces the API server has said are being deleted.
 *
 * A create in a terminating namespace is answered 403 with the cause NamespaceTerminating
 * (kube_status_ns_terminating). Whoever sees that answer marks the namespace; writers that
 * would only create things there (Events, pods of an object being deleted) skip it while it
 * is marked. Learning it from answers needs no RBAC on namespaces. A mark lapses
 * NSTERM_TTL_MS after the last answer that confirmed it (a namespace of the same name may
 * be created again) or when a create there succeeds. Process-wide, single-threaded, at most
 * NSTERM_MAX namespaces (the oldest mark is forgotten first). */
#ifndef OMJ_KUBE_NSTERM_H
#define OMJ_KUBE_NSTERM_H

#include <stdbool.h>
#include <stdint.h>

#define NSTERM_TTL_MS 60000
#define NSTERM_MAX 256

void nsterm_mark(const char *ns, int64_t now_mono_ms);
void nsterm_clear(const char *ns);
bool nsterm_is(const char *ns, int64_t now_mono_ms);
void nsterm_reset(void); /* tests */

#endif
