/* Namespaces the API server has said are being deleted, and namespaces just checked.
 *
 * A create in a terminating namespace is answered 403 with the cause NamespaceTerminating
 * (kube_ns_terminating). Whoever sees that answer marks the namespace; writers that would
 * only create things there (Events, pods of an object being deleted) skip it while it is
 * marked. A controller that needs to know before it writes (an OMJob being deleted: run an
 * exit handler, or release it at once?) reads the namespace and records what it saw:
 * NSTERM_ACTIVE for NSTERM_ACTIVE_TTL_MS, NSTERM_TERMINATING like a 403, NSTERM_CHECKING
 * while its read is on the wire (at most NSTERM_CHECK_TTL_MS). A terminating mark lapses
 * NSTERM_TTL_MS after the last answer that confirmed it (a namespace of the same name may be
 * created again). Process-wide, single-threaded, at most
 * NSTERM_MAX namespaces (the oldest entry is forgotten first). */
#ifndef OMJ_KUBE_NSTERM_H
#define OMJ_KUBE_NSTERM_H

#include <stdbool.h>
#include <stdint.h>

#define NSTERM_TTL_MS 60000
#define NSTERM_ACTIVE_TTL_MS 5000
#define NSTERM_CHECK_TTL_MS 10000
#define NSTERM_MAX 256

enum nsterm_state { NSTERM_UNKNOWN, NSTERM_CHECKING, NSTERM_ACTIVE, NSTERM_TERMINATING };

void nsterm_set(const char *ns, enum nsterm_state s, int64_t now_mono_ms);
enum nsterm_state nsterm_get(const char *ns, int64_t now_mono_ms);
/* nsterm_set(ns, NSTERM_TERMINATING, now) / nsterm_get(ns, now) == NSTERM_TERMINATING */
void nsterm_mark(const char *ns, int64_t now_mono_ms);
bool nsterm_is(const char *ns, int64_t now_mono_ms);
void nsterm_clear(const char *ns);
void nsterm_reset(void); /* tests */

#endif
