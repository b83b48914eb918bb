#include "util/json.h"

#include "util/timeutil.h"

#include <cjson/cJSON.h>
#include <stdio.h>

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

cJSON *
json_add_str(cJSON *o, const char *k, const char *v)
{
    return v && *v ? cJSON_AddStringToObject(o, k, v) : NULL;
}

void
json_patch_str(cJSON *o, const char *k, const char *v, bool stored)
{
    if (v && *v)
        cJSON_AddStringToObject(o, k, v);
    else if (stored)
        cJSON_AddNullToObject(o, k);
}

void
json_add_time(cJSON *o, const char *k, int64_t ms)
{
    if (ms > 0) {
        char t[TIME_RFC3339_MAX];
        time_fmt_rfc3339(t, ms, 0);
        cJSON_AddStringToObject(o, k, t);
    }
}

void
json_add_delete(cJSON *o, const char *k)
{
    cJSON_AddNullToObject(o, k);
}

void
json_strip_nulls(cJSON *v)
{
    cJSON *c = v ? v->child : NULL;
    while (c) {
        cJSON *next = c->next;
        if (cJSON_IsNull(c) && cJSON_IsObject(v))
            cJSON_Delete(cJSON_DetachItemViaPointer(v, c));
        else
            json_strip_nulls(c);
        c = next;
    }
}

static bool
find_empty(const cJSON *v, bool nulls_ok, char *where, size_t n, size_t len, int depth)
{
    if ((cJSON_IsString(v) && !*v->valuestring) || (!nulls_ok && cJSON_IsNull(v)))
        return true;
    if (depth > 64)
        return false;
    int i = 0;
    for (const cJSON *c = (cJSON_IsObject(v) || cJSON_IsArray(v)) ? v->child : NULL; c;
         c = c->next, i++) {
        int w = cJSON_IsObject(v) ? snprintf(where + len, n - len, "%s%s", len ? "." : "", c->string)
                                  : snprintf(where + len, n - len, "[%d]", i);
        size_t l2 = w < 0 || (size_t)w >= n - len ? n - 1 : len + (size_t)w;
        if (find_empty(c, nulls_ok, where, n, l2, depth + 1))
            return true;
        where[len] = '\0';
    }
    return false;
}

bool
json_find_empty(const cJSON *v, bool nulls_ok, char *where, size_t n)
{
    char scratch[2];
    if (!where || n < 2) {
        where = scratch;
        n = sizeof scratch;
    }
    where[0] = '\0';
    return find_empty(v, nulls_ok, where, n, 0, 0);
}
