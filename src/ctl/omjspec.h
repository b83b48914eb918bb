/* The OMJob spec schema (crds/omjob.yaml), as the API server applies it, for specs the
 * server has not checked yet: a CronOMJob's omJobSpec is x-kubernetes-preserve-unknown-fields,
 * so a template the OMJob schema refuses is only found out when each run is created.
 *
 * What is checked, from a table that mirrors the CRD: required fields, types (object, array,
 * string, boolean, integer with its int32/int64 range, int-or-string quantities), enums,
 * minimum/maximum and the quantity pattern. Unknown fields are not errors (the server prunes
 * them). Nulls must be stripped first (util/json.h json_strip_nulls): a 1.20+ server prunes
 * them, and the operator strips them before it creates the OMJob. Keep the table in step
 * with the CRD. */
#ifndef OMJ_CTL_OMJSPEC_H
#define OMJ_CTL_OMJSPEC_H

#include <stddef.h>

struct cJSON;

/* Validates spec (an OMJob's .spec) against the OMJob schema. Returns 0, or -1 with the
 * first violation in err, in the API server's words and prefixed by its field path under
 * path (e.g. "spec.omJobSpec": "spec.omJobSpec.mainPodSpec.image: Required value"). */
int omjspec_validate(const struct cJSON *spec, const char *path, char *err, size_t errlen);

#endif
