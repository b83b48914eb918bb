#include "util/json.h"

#include "util/timeutil.h"

#include <cjson/cJSON.h>

const char *
json_str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int64_t
json_int(const cJSON *o, const char *k, int64_t dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v) || v->valuedouble != v->valuedouble || v->valuedouble > 9.0e18 ||
        v->valuedouble < -9.0e18)
        return dflt;
    return (int64_t)v->valuedouble;
}

int64_t
json_time_ms(const cJSON *o, const char *k)
{
    int64_t ms;
    const char *s = json_str(o, k);
    return s && !time_parse_rfc3339(s, &ms) ? ms : 0;
}

const cJSON *
json_obj(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsObject(v) ? v : NULL;
}
