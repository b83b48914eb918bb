/* Small typed readers over cJSON: a missing or mistyped field reads as the default. */
#ifndef OMJ_JSON_H
#define OMJ_JSON_H

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

#endif
