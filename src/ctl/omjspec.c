#include "ctl/omjspec.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* --- the schema, as a table ------------------------------------------------------------- */

enum sch_type { S_OBJ, S_ANY_OBJ, S_STR, S_INT32, S_INT64, S_BOOL, S_ARR, S_MAP, S_QTY };

struct sch;
struct prop {
    const char *name;
    const struct sch *s;
};

struct sch {
    enum sch_type type;
    const struct prop *props;      /* S_OBJ: NULL-name terminated */
    const char *const *required;   /* S_OBJ: NULL terminated, or NULL */
    const struct sch *items;       /* S_ARR: the items; S_MAP: the values */
    const char *const *enums;      /* S_STR: NULL terminated, or NULL */
    bool has_min, has_max;         /* S_INT32/S_INT64 */
    int64_t min, max;
};

static const struct sch s_str = {.type = S_STR};
static const struct sch s_bool = {.type = S_BOOL};
static const struct sch s_any_obj = {.type = S_ANY_OBJ};
static const struct sch s_qty = {.type = S_QTY};
static const char *const pull_policies[] = {"Always", "IfNotPresent", "Never", NULL};
static const struct sch s_pull_policy = {.type = S_STR, .enums = pull_policies};
static const struct sch s_str_list = {.type = S_ARR, .items = &s_str};
static const struct sch s_str_map = {.type = S_MAP, .items = &s_str};
static const struct sch s_qty_map = {.type = S_MAP, .items = &s_qty};
static const struct sch s_deadline = {.type = S_INT64, .has_min = true, .min = 1};

static const struct prop p_name_only[] = {{"name", &s_str}, {NULL, NULL}};
static const struct sch s_name_obj = {.type = S_OBJ, .props = p_name_only};
static const struct sch s_secrets = {.type = S_ARR, .items = &s_name_obj};

static const struct prop p_key_ref[] = {
    {"name", &s_str}, {"key", &s_str}, {"optional", &s_bool}, {NULL, NULL}};
static const char *const r_key[] = {"key", NULL};
static const struct sch s_key_ref = {.type = S_OBJ, .props = p_key_ref, .required = r_key};
static const struct prop p_field_ref[] = {{"apiVersion", &s_str}, {"fieldPath", &s_str}, {NULL, NULL}};
static const char *const r_field_path[] = {"fieldPath", NULL};
static const struct sch s_field_ref = {.type = S_OBJ, .props = p_field_ref, .required = r_field_path};
static const struct prop p_res_ref[] = {
    {"containerName", &s_str}, {"resource", &s_str}, {"divisor", &s_qty}, {NULL, NULL}};
static const char *const r_resource[] = {"resource", NULL};
static const struct sch s_res_ref = {.type = S_OBJ, .props = p_res_ref, .required = r_resource};
static const struct prop p_value_from[] = {{"configMapKeyRef", &s_key_ref},
                                           {"secretKeyRef", &s_key_ref},
                                           {"fieldRef", &s_field_ref},
                                           {"resourceFieldRef", &s_res_ref},
                                           {NULL, NULL}};
static const struct sch s_value_from = {.type = S_OBJ, .props = p_value_from};
static const struct prop p_env[] = {
    {"name", &s_str}, {"value", &s_str}, {"valueFrom", &s_value_from}, {NULL, NULL}};
static const char *const r_name[] = {"name", NULL};
static const struct sch s_env_var = {.type = S_OBJ, .props = p_env, .required = r_name};
static const struct sch s_env = {.type = S_ARR, .items = &s_env_var};

static const struct prop p_resources[] = {{"requests", &s_qty_map}, {"limits", &s_qty_map}, {NULL, NULL}};
static const struct sch s_resources = {.type = S_OBJ, .props = p_resources};
static const struct sch s_tolerations = {.type = S_ARR, .items = &s_any_obj};

/* mainPodSpec and exitHandlerSpec have the same shape; only the main pod needs an image. */
static const struct prop p_pod[] = {{"image", &s_str},
                                    {"imagePullPolicy", &s_pull_policy},
                                    {"imagePullSecrets", &s_secrets},
                                    {"serviceAccountName", &s_str},
                                    {"command", &s_str_list},
                                    {"args", &s_str_list},
                                    {"env", &s_env},
                                    {"resources", &s_resources},
                                    {"nodeSelector", &s_str_map},
                                    {"tolerations", &s_tolerations},
                                    {"securityContext", &s_any_obj},
                                    {"labels", &s_str_map},
                                    {"annotations", &s_str_map},
                                    {"activeDeadlineSeconds", &s_deadline},
                                    {NULL, NULL}};
static const char *const r_image[] = {"image", NULL};
static const struct sch s_main_pod = {.type = S_OBJ, .props = p_pod, .required = r_image};
static const struct sch s_exit_pod = {.type = S_OBJ, .props = p_pod};

static const struct sch s_ttl = {.type = S_INT32, .has_min = true, .min = 0};
static const struct sch s_retries = {
    .type = S_INT32, .has_min = true, .min = 0, .has_max = true, .max = 10};
static const struct prop p_spec[] = {{"mainPodSpec", &s_main_pod},
                                     {"exitHandlerSpec", &s_exit_pod},
                                     {"ttlSecondsAfterFinished", &s_ttl},
                                     {"activeDeadlineSeconds", &s_deadline},
                                     {"exitHandlerRetries", &s_retries},
                                     {NULL, NULL}};
static const char *const r_spec[] = {"mainPodSpec", NULL};
static const struct sch s_spec = {.type = S_OBJ, .props = p_spec, .required = r_spec};

/* --- checking ---------------------------------------------------------------------------- */

#define MAX_DEPTH 16

struct vctx {
    char *err;
    size_t errlen;
};

/* ^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$ */
static const char *
decimal(const char *s)
{
    const char *d = s;
    while (*s >= '0' && *s <= '9')
        s++;
    bool lead = s > d;
    if (*s == '.') {
        const char *f = ++s;
        while (*s >= '0' && *s <= '9')
            s++;
        if (!lead && s == f) return NULL;
    } else if (!lead) {
        return NULL;
    }
    return s;
}

static bool
is_quantity(const char *s)
{
    if (*s == '+' || *s == '-') s++;
    if (!(s = decimal(s))) return false;
    if (!*s) return true;
    if (strchr("KMGTPE", *s) && s[1] == 'i' && !s[2]) return true;
    if (strchr("numkMGTPE", *s) && !s[1]) return true;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-') s++;
        s = decimal(s);
        return s && !*s;
    }
    return false;
}

static const char *
type_name(enum sch_type t)
{
    switch (t) {
    case S_OBJ:
    case S_ANY_OBJ:
    case S_MAP: return "object";
    case S_STR: return "string";
    case S_INT32:
    case S_INT64: return "integer";
    case S_BOOL: return "boolean";
    case S_ARR: return "array";
    case S_QTY: return "integer or string";
    }
    return "?";
}

static bool
is_integer(const cJSON *v, double lo, double hi)
{
    return cJSON_IsNumber(v) && v->valuedouble >= lo && v->valuedouble <= hi &&
           v->valuedouble == (double)(int64_t)v->valuedouble;
}

static int fail(struct vctx *x, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(struct vctx *x, const char *path, const char *fmt, ...)
{
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(x->err, x->errlen, "%s: %s", path, what);
    return -1;
}

static int check(struct vctx *x, const cJSON *v, const struct sch *s, const char *path, int depth);

static int
check_children(struct vctx *x, const cJSON *v, const struct sch *s, const char *path, int depth)
{
    char sub[512];
    if (s->type == S_OBJ) {
        for (const char *const *r = s->required; r && *r; r++)
            if (!cJSON_GetObjectItemCaseSensitive(v, *r)) {
                snprintf(sub, sizeof sub, "%s.%s", path, *r);
                return fail(x, sub, "Required value");
            }
        for (const struct prop *p = s->props; p->name; p++) {
            const cJSON *c = cJSON_GetObjectItemCaseSensitive(v, p->name);
            snprintf(sub, sizeof sub, "%s.%s", path, p->name);
            if (c && check(x, c, p->s, sub, depth + 1)) return -1;
        }
        return 0; /* unknown fields are pruned by the server, not refused */
    }
    int i = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, v)
    {
        if (s->type == S_ARR)
            snprintf(sub, sizeof sub, "%s[%d]", path, i++);
        else
            snprintf(sub, sizeof sub, "%s.%s", path, c->string);
        if (check(x, c, s->items, sub, depth + 1)) return -1;
    }
    return 0;
}

static int
check_enum(struct vctx *x, const cJSON *v, const struct sch *s, const char *path)
{
    char list[256] = "";
    size_t n = 0;
    for (const char *const *e = s->enums; *e; e++) {
        if (!strcmp(*e, v->valuestring)) return 0;
        int w = snprintf(list + n, sizeof list - n, "%s\"%s\"", n ? ", " : "", *e);
        if (w > 0 && (size_t)w < sizeof list - n) n += (size_t)w;
    }
    char val[80];
    snprintf(val, sizeof val, "%.70s", v->valuestring);
    return fail(x, path, "Unsupported value: \"%s\": supported values: %s", val, list);
}

static int
check_int(struct vctx *x, const cJSON *v, const struct sch *s, const char *path)
{
    double lo = s->type == S_INT32 ? -2147483648.0 : -9.2e18;
    double hi = s->type == S_INT32 ? 2147483647.0 : 9.2e18;
    if (!is_integer(v, -9.2e18, 9.2e18)) return fail(x, path, "Invalid value: must be of type integer");
    if (!is_integer(v, lo, hi)) return fail(x, path, "Invalid value: out of range for int32");
    char bound[32], val[32];
    snprintf(val, sizeof val, "%lld", (long long)v->valuedouble);
    if (s->has_min && v->valuedouble < (double)s->min) {
        snprintf(bound, sizeof bound, "%lld", (long long)s->min);
        return fail(x, path, "Invalid value: %s: should be greater than or equal to %s", val, bound);
    }
    if (s->has_max && v->valuedouble > (double)s->max) {
        snprintf(bound, sizeof bound, "%lld", (long long)s->max);
        return fail(x, path, "Invalid value: %s: should be less than or equal to %s", val, bound);
    }
    return 0;
}

static bool
type_ok(const cJSON *v, enum sch_type t)
{
    switch (t) {
    case S_OBJ:
    case S_ANY_OBJ:
    case S_MAP: return cJSON_IsObject(v);
    case S_STR: return cJSON_IsString(v);
    case S_INT32:
    case S_INT64: return cJSON_IsNumber(v);
    case S_BOOL: return cJSON_IsBool(v);
    case S_ARR: return cJSON_IsArray(v);
    case S_QTY: return cJSON_IsString(v) || is_integer(v, -9.2e18, 9.2e18);
    }
    return false;
}

static int
check(struct vctx *x, const cJSON *v, const struct sch *s, const char *path, int depth)
{
    if (depth > MAX_DEPTH) return fail(x, path, "Invalid value: nested too deep");
    if (!type_ok(v, s->type))
        return fail(x, path, "Invalid value: must be of type %s", type_name(s->type));
    switch (s->type) {
    case S_OBJ:
    case S_ARR:
    case S_MAP: return check_children(x, v, s, path, depth);
    case S_STR: return s->enums ? check_enum(x, v, s, path) : 0;
    case S_INT32:
    case S_INT64: return check_int(x, v, s, path);
    case S_QTY:
        if (cJSON_IsString(v) && !is_quantity(v->valuestring)) {
            char val[80];
            snprintf(val, sizeof val, "%.70s", v->valuestring);
            return fail(x, path, "Invalid value: \"%s\": must be a quantity (e.g. 500m, 2Gi)",
                        val);
        }
        return 0;
    default: return 0;
    }
}

int
omjspec_validate(const cJSON *spec, const char *path, char *err, size_t errlen)
{
    struct vctx x = {err, errlen};
    if (errlen) err[0] = '\0';
    if (!spec) return fail(&x, path, "Required value");
    return check(&x, spec, &s_spec, path, 0);
}
