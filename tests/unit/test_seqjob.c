#include "t.h"

#include "ctl/engine.h"
#include "ctl/naming.h"
#include "ctl/seqjob.h"

#include <cjson/cJSON.h>
#include <stdlib.h>

static const char *
sget(const cJSON *o, const char *path)
{
    /* "a.b.c" walk over objects; array items as numbers ("containers.0.name") */
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    const cJSON *cur = o;
    for (char *save = NULL, *k = strtok_r(buf, ".", &save); k && cur;
         k = strtok_r(NULL, ".", &save))
        cur = cJSON_IsArray(cur) ? cJSON_GetArrayItem(cur, atoi(k))
                                 : cJSON_GetObjectItemCaseSensitive(cur, k);
    return cJSON_IsString(cur) ? cur->valuestring : NULL;
}

TEST(seqjob_job_names_are_deterministic_and_valid)
{
    char out[64];
    T_EQ_INT(seqjob_job_name(out, "etl", 0, "extract"), 0);
    T_EQ_STR(out, "etl-0-extract");
    seqjob_job_name(out, "etl", 12, "Load_Data..x");
    T_EQ_STR(out, "etl-12-load-data-x");
    seqjob_job_name(out, "etl", 3, "--");
    T_EQ_STR(out, "etl-3");
    /* a long container name is shortened so the suffix fits naming_child's limit */
    seqjob_job_name(out, "p", 7, "a-very-long-container-name-that-goes-on-and-on-and-on");
    T_ASSERT(naming_is_dns1123_label(out));
    T_ASSERT(strlen(out) <= 2 + NAMING_SUFFIX_MAX);
    T_ASSERT(!strncmp(out, "p-7-a-very-long", 15));
    /* a long parent is hashed, and the result is still a DNS-1123 label */
    char a[64], b[64];
    T_EQ_INT(seqjob_job_name(a, "an-extremely-long-sequential-job-name-that-fills-the-label-x", 1,
                             "transform"),
             1);
    seqjob_job_name(b, "an-extremely-long-sequential-job-name-that-fills-the-label-y", 1,
                    "transform");
    T_ASSERT(naming_is_dns1123_label(a));
    T_ASSERT(strcmp(a, b) != 0);
    /* stable: the same input gives the same name */
    seqjob_job_name(b, "an-extremely-long-sequential-job-name-that-fills-the-label-x", 1,
                    "transform");
    T_EQ_STR(a, b);
}

static int
validate(const char *spec_json, char *err, size_t n)
{
    cJSON *spec = cJSON_Parse(spec_json);
    int rc = seqjob_validate_spec(spec, err, n);
    cJSON_Delete(spec);
    return rc;
}

TEST(seqjob_validation_names_the_problem)
{
    char err[256];
    T_EQ_INT(
        validate(
            "{\"containers\":[{\"name\":\"a\",\"image\":\"x\"},{\"name\":\"b\",\"image\":\"y\"}]}",
            err, sizeof err),
        2);
    T_EQ_INT(validate("{\"containers\":[]}", err, sizeof err), -1);
    T_CONTAINS(err, "at least one container");
    T_EQ_INT(validate("{}", err, sizeof err), -1);
    T_EQ_INT(validate("{\"containers\":[{\"name\":\"a\"}]}", err, sizeof err), -1);
    T_CONTAINS(err, "(a) has no image");
    T_EQ_INT(validate("{\"containers\":[{\"name\":\"A_b\",\"image\":\"x\"}]}", err, sizeof err),
             -1);
    T_CONTAINS(err, "containers[0].name");
    T_EQ_INT(
        validate(
            "{\"containers\":[{\"name\":\"a\",\"image\":\"x\"},{\"name\":\"a\",\"image\":\"y\"}]}",
            err, sizeof err),
        -1);
    T_CONTAINS(err, "duplicate step name \"a\"");
    T_EQ_INT(validate("{\"containers\":[{\"name\":\"a\",\"image\":\"x\"}],\"template\":[]}", err,
                      sizeof err),
             -1);
    T_CONTAINS(err, "spec.template");
    T_EQ_INT(
        validate("{\"containers\":[{\"name\":\"a\",\"image\":\"x\"}],\"template\":{\"spec\":1}}",
                 err, sizeof err),
        -1);
}

TEST(seqjob_build_job_uses_the_template_and_only_the_steps_container)
{
    cJSON *sj = cJSON_Parse(
        "{\"metadata\":{\"name\":\"etl\",\"namespace\":\"ns\",\"uid\":\"u-1\"},"
        "\"spec\":{\"template\":{\"metadata\":{\"labels\":{\"app\":\"etl\"}},"
        "\"spec\":{\"restartPolicy\":\"Always\",\"serviceAccountName\":\"sa\","
        "\"containers\":[{\"name\":\"ignored\",\"image\":\"x\"}],"
        "\"volumes\":[{\"name\":\"d\",\"persistentVolumeClaim\":{\"claimName\":\"c\"}}]}},"
        "\"containers\":[{\"name\":\"extract\",\"image\":\"a\"},"
        "{\"name\":\"load\",\"image\":\"b\",\"env\":[{\"name\":\"P\",\"valueFrom\":"
        "{\"secretKeyRef\":{\"name\":\"s\",\"key\":\"k\"}}}]}]}}");
    T_ASSERT(sj);
    cJSON *job = seqjob_build_job(sj, 1);
    T_ASSERT(job);
    T_EQ_STR(sget(job, "apiVersion"), "batch/v1");
    T_EQ_STR(sget(job, "metadata.name"), "etl-1-load");
    T_EQ_STR(sget(job, "metadata.namespace"), "ns");
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(job, "metadata"), "labels");
    T_EQ_STR(cJSON_GetObjectItemCaseSensitive(labels, "app.kubernetes.io/managed-by")->valuestring,
             "omjob-operator");
    T_EQ_STR(cJSON_GetObjectItemCaseSensitive(labels, SEQJOB_LABEL_STEP)->valuestring, "1");
    T_EQ_STR(sget(job, "metadata.ownerReferences.0.kind"), "SequentialJob");
    T_EQ_STR(sget(job, "metadata.ownerReferences.0.uid"), "u-1");
    const cJSON *ref = cJSON_GetArrayItem(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(job, "metadata"),
                                         "ownerReferences"),
        0);
    T_ASSERT(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ref, "controller")));
    T_ASSERT(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ref, "blockOwnerDeletion")));
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(job, "spec");
    T_EQ_INT(cJSON_GetObjectItemCaseSensitive(spec, "backoffLimit")->valueint, 0);
    T_EQ_STR(sget(spec, "template.spec.restartPolicy"), "Never");
    T_EQ_STR(sget(spec, "template.spec.serviceAccountName"), "sa");
    T_EQ_STR(sget(spec, "template.spec.volumes.0.persistentVolumeClaim.claimName"), "c");
    T_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
                 cJSON_GetObjectItemCaseSensitive(
                     cJSON_GetObjectItemCaseSensitive(spec, "template"), "spec"),
                 "containers")),
             1);
    T_EQ_STR(sget(spec, "template.spec.containers.0.name"), "load");
    T_EQ_STR(sget(spec, "template.spec.containers.0.env.0.valueFrom.secretKeyRef.name"), "s");
    T_EQ_STR(sget(spec, "template.metadata.labels.app"), "etl");
    cJSON_Delete(job);
    T_ASSERT(seqjob_build_job(sj, 2) == NULL); /* no such step */
    cJSON_Delete(sj);
}

static struct seqjob_job *
trim(const char *json)
{
    cJSON *o = cJSON_Parse(json);
    struct seqjob_job *j = seqjob_job_trim(o);
    cJSON_Delete(o);
    return j;
}

TEST(seqjob_job_state_follows_the_job_conditions)
{
    struct seqjob_job *j =
        trim("{\"status\":{\"active\":1,\"startTime\":\"2026-01-01T00:00:00Z\"}}");
    T_EQ_INT(seqjob_job_state(j), STEP_RUNNING);
    T_EQ_INT(j->active, 1);
    T_ASSERT(j->start_ms > 0);
    free(j);
    j = trim("{\"status\":{\"succeeded\":1,\"conditions\":[{\"type\":\"Complete\",\"status\":"
             "\"True\"}]}}");
    T_EQ_INT(seqjob_job_state(j), STEP_SUCCEEDED);
    free(j);
    j = trim("{\"status\":{\"failed\":1,\"conditions\":[{\"type\":\"Failed\",\"status\":\"True\","
             "\"reason\":\"BackoffLimitExceeded\",\"message\":\"limit\"}]}}");
    T_EQ_INT(seqjob_job_state(j), STEP_FAILED);
    T_EQ_STR(j->reason, "BackoffLimitExceeded");
    T_EQ_STR(j->message, "limit");
    free(j);
    j = trim("{\"status\":{\"conditions\":[{\"type\":\"Failed\",\"status\":\"False\"}]}}");
    T_EQ_INT(seqjob_job_state(j), STEP_RUNNING);
    free(j);
}

static uint64_t
fp(const char *json)
{
    cJSON *o = cJSON_Parse(json);
    uint64_t h = seqjob_status_fingerprint(o);
    cJSON_Delete(o);
    return h;
}

TEST(seqjob_status_fingerprint_ignores_order_and_times)
{
    uint64_t a = fp("{\"phase\":\"Running\",\"state\":{\"active\":1,\"failed\":0},"
                    "\"startTime\":\"2026-01-01T00:00:00Z\",\"conditions\":[{\"type\":\"Failed\","
                    "\"status\":\"False\",\"lastTransitionTime\":\"2026-01-01T00:00:00Z\"}]}");
    uint64_t b =
        fp("{\"conditions\":[{\"lastTransitionTime\":\"2026-02-02T00:00:00Z\","
           "\"status\":\"False\",\"type\":\"Failed\"}],\"startTime\":\"2026-03-03T00:00:00Z\","
           "\"state\":{\"failed\":0,\"active\":1},\"phase\":\"Running\"}");
    T_EQ_INT(a == b, 1);
    T_ASSERT(
        a !=
        fp("{\"phase\":\"Running\",\"state\":{\"active\":0,\"failed\":0},"
           "\"startTime\":\"x\",\"conditions\":[{\"type\":\"Failed\",\"status\":\"False\"}]}"));
    T_ASSERT(a != fp("{\"phase\":\"Running\",\"state\":{\"active\":1,\"failed\":0},"
                     "\"conditions\":[{\"type\":\"Failed\",\"status\":\"False\"}]}"));
    T_ASSERT(fp("{\"a\":[1,2]}") != fp("{\"a\":[2,1]}"));
    T_ASSERT(fp("{\"a\":\"1\"}") != fp("{\"a\":1}"));
    T_EQ_INT(seqjob_status_fingerprint(NULL), 0);
}

TEST(seqjob_chain_on_the_engine_fails_fast_and_skips_the_rest)
{
    struct step s[3] = {{.name = "a"},
                        {.name = "b", .ndeps = 1, .deps = {0}},
                        {.name = "c", .ndeps = 1, .deps = {1}}};
    size_t start[1];
    T_EQ_INT(engine_ready(s, 3, 1, start), 1);
    T_EQ_INT(start[0], 0);
    s[0].state = STEP_SUCCEEDED;
    T_EQ_INT(engine_ready(s, 3, 1, start), 1);
    T_EQ_INT(start[0], 1);
    s[1].state = STEP_RUNNING;
    T_EQ_INT(engine_ready(s, 3, 1, start), 0); /* one at a time */
    s[1].state = STEP_FAILED;
    T_EQ_INT(engine_skip_blocked(s, 3), 1);
    T_EQ_INT(s[2].state, STEP_SKIPPED);
    T_EQ_INT(engine_ready(s, 3, 1, start), 0);
    T_EQ_INT(engine_phase(s, 3), PHASE_FAILED);
}
