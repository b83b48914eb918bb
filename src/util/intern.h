/* A bounded pool of short immutable strings that many cached objects share: a pod's phase,
 * its reasons, its pod type, its node's name. 20,000 cached pods hold a handful of distinct
 * values; each kept its own copy (issue 16: bytes per cached object).
 *
 * intern() returns the pool's copy of s, adding it when new; the copy lives until the
 * process ends. Bounded against hostile input: strings longer than INTERN_MAX_LEN and any
 * new string once INTERN_MAX_STRINGS are pooled are refused (NULL), and the caller keeps its
 * own copy. Single-threaded, like the rest of the operator. */
#ifndef OMJ_UTIL_INTERN_H
#define OMJ_UTIL_INTERN_H

#define INTERN_MAX_LEN 63
#define INTERN_MAX_STRINGS 1024 /* a cluster with more nodes: the rest keep their own copies */

#include <stdbool.h>
#include <stddef.h>

/* The pooled copy of s, or NULL (too long, pool full, out of memory). */
const char *intern(const char *s);

/* s (NULL: "") cut to at most max bytes: the pool's copy, else (longer than INTERN_MAX_LEN,
 * or the pool full) a malloc'ed one with *owned set (the caller frees it), else NULL (out of
 * memory). SIZE_MAX: never cut. */
const char *intern_cut(const char *s, size_t max, bool *owned);

#endif
