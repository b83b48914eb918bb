/* Small typed readers over cJSON: a missing or mistyped field reads as the default.
 * And the writers every custom-resource write body is built with. */
#ifndef OMJ_JSON_H
#define OMJ_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON;

/* The string at o[k], or NULL. */
const char *json_str(const struct cJSON *o, const char *k);
/* The number at o[k] as an integer, or dflt. */
int64_t json_int(const struct cJSON *o, const char *k, int64_t dflt);
/* The RFC 3339 time at o[k] in epoch ms, or 0. */
int64_t json_time_ms(const struct cJSON *o, const char *k);
/* o[k] if it is an object, else NULL. */
const struct cJSON *json_obj(const struct cJSON *o, const char *k);

/* --- writing custom resources ---------------------------------------------------------
 * API servers built from 1.16-1.20 sources with Go >= 1.16 refuse "" in any schema-typed
 * string of a custom resource (kubernetes/kubernetes#99804), and 1.19 refuses null where
 * the schema does not say nullable (1.20+ prunes it first). So a CR write body carries
 * neither: an empty value is left out, and null appears only in a merge patch, where it
 * deletes a field (json_add_delete). */

/* Adds o[k] = v unless v is NULL or "". Returns the new item, or NULL when nothing was
 * added. */
struct cJSON *json_add_str(struct cJSON *o, const char *k, const char *v);
/* Merge patch of a string field whose stored value may be stale: v when non-empty; when v
 * is empty, null if the stored object has a value (stored), which deletes it, else
 * nothing. */
void json_patch_str(struct cJSON *o, const char *k, const char *v, bool stored);
/* Adds the RFC 3339 time ms at o[k] when ms > 0. */
void json_add_time(struct cJSON *o, const char *k, int64_t ms);
/* Merge patch: an explicit null at o[k], which deletes the stored field. The one place a
 * write body carries null. */
void json_add_delete(struct cJSON *o, const char *k);
/* Removes, at any depth, the object members whose value is null (as a >= 1.20 server
 * prunes them before validation). Array elements are kept. For bodies built from what
 * users wrote (a CronOMJob's omJobSpec, the CLI's YAML). NULL is a no-op. */
void json_strip_nulls(struct cJSON *v);
/* Looks for "" (anywhere: members and array elements) and, unless nulls_ok, null. Returns
 * true when one is found, with its path ("status.conditions[0].message") in where. */
bool json_find_empty(const struct cJSON *v, bool nulls_ok, char *where, size_t n);

#endif
