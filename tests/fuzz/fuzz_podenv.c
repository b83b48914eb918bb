/* OMJob stage specs and the exit handler's env (ctl/pods.c pod_build): what the operator
 * copies from a user's OMJob into its pods, and the OMJOB_* / pipelineStatus variables it
 * injects into the exit-handler pod.
 * Input: an OMJob as JSON. Invariants: a refusal carries a message naming a field; a built
 * pod has the given name, a container "main" and no more than the spec's bounds allow; in
 * the exit-handler pod each injected variable appears exactly once, with the operator's
 * value (it replaces a same-named one from the spec); the main pod gets none of them unless
 * the spec set them. */
#include "fuzz.h"

#include "ctl/pods.h"

#include <cjson/cJSON.h>
#include <string.h>

static const char *const injected[][2] = {
    {"pipelineStatus", "failed"}, {"OMJOB_NAME", NULL},        {"OMJOB_NAMESPACE", NULL},
    {"OMJOB_MAIN_POD", "om-main-1"}, {"OMJOB_MAIN_EXIT_CODE", "3"}, {"OMJOB_MAIN_REASON", "Error"},
};

static const cJSON *
main_container(const cJSON *pod, const char *pod_name)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(pod, "metadata");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(meta, "name");
    FUZZ_CHECK(cJSON_IsString(name) && !strcmp(name->valuestring, pod_name), "pod name");
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(pod, "spec");
    const cJSON *cs = cJSON_GetObjectItemCaseSensitive(spec, "containers");
    const cJSON *c0 = cJSON_GetArrayItem(cs, 0);
    const cJSON *cname = cJSON_GetObjectItemCaseSensitive(c0, "name");
    FUZZ_CHECK(cJSON_IsString(cname) && !strcmp(cname->valuestring, "main"), "no main container");
    return c0;
}

static int
count_env(const cJSON *c, const char *name, const char **value)
{
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(c, "env"))
    {
        const cJSON *en = cJSON_GetObjectItemCaseSensitive(e, "name");
        if (cJSON_IsString(en) && !strcmp(en->valuestring, name)) {
            n++;
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, "value");
            *value = cJSON_IsString(v) ? v->valuestring : NULL;
        }
    }
    return n;
}

static int
spec_sets(const cJSON *omjob, const char *stage, const char *name)
{
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(omjob, "spec"), stage);
    const char *v;
    return count_env(sp, name, &v);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *omjob = cJSON_ParseWithLength((const char *)data, size);
    if (!omjob) return 0;
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(omjob, "metadata");
    const cJSON *jn = cJSON_GetObjectItemCaseSensitive(meta, "name");
    const cJSON *jns = cJSON_GetObjectItemCaseSensitive(meta, "namespace");
    const char *oname = cJSON_IsString(jn) ? jn->valuestring : "";
    const char *ons = cJSON_IsString(jns) ? jns->valuestring : "";
    char err[512];

    err[0] = '\0';
    cJSON *pod = pod_build(omjob, "main", "om-main-1", NULL, err, sizeof err);
    if (!pod) {
        FUZZ_CHECK(err[0] != '\0', "main refused without a message");
    } else {
        const cJSON *c = main_container(pod, "om-main-1");
        for (size_t i = 0; i < sizeof injected / sizeof injected[0]; i++) {
            const char *v;
            FUZZ_CHECK(count_env(c, injected[i][0], &v) == spec_sets(omjob, "mainPodSpec", injected[i][0]),
                       "main pod: %s not as the spec says", injected[i][0]);
        }
        char *printed = cJSON_PrintUnformatted(pod);
        FUZZ_CHECK(printed && strlen(printed) < 4u << 20, "main pod of %zu bytes",
                   printed ? strlen(printed) : 0);
        free(printed);
        cJSON_Delete(pod);
    }

    struct exit_env env = {"failed", "om-main-1", "Error", 3};
    err[0] = '\0';
    pod = pod_build(omjob, "exit-handler", "om-exit-1", &env, err, sizeof err);
    if (!pod) {
        FUZZ_CHECK(err[0] != '\0', "exit handler refused without a message");
    } else {
        const cJSON *c = main_container(pod, "om-exit-1");
        for (size_t i = 0; i < sizeof injected / sizeof injected[0]; i++) {
            const char *want = injected[i][1];
            if (!want) want = !strcmp(injected[i][0], "OMJOB_NAME") ? oname : ons;
            const char *got = NULL;
            FUZZ_CHECK(count_env(c, injected[i][0], &got) == 1, "exit pod: %s not exactly once",
                       injected[i][0]);
            FUZZ_CHECK(got && !strcmp(got, want), "exit pod: %s=%s, want %s", injected[i][0],
                       got ? got : "(none)", want);
        }
        cJSON_Delete(pod);
    }
    cJSON_Delete(omjob);
    return 0;
}
