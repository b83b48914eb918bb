#include "t.h"

#include "otel/otel.h"
#include "util/buf.h"

#include <cjson/cJSON.h>
#include <stdlib.h>

static const char *const *g_env;

static const char *
fake_env(const char *name)
{
    for (const char *const *e = g_env; e && *e; e += 2)
        if (!strcmp(e[0], name))
            return e[1];
    return NULL;
}

static int
config_of(const char *const *env, struct otel_config *c, char *err, size_t n)
{
    g_env = env;
    return otel_config_from_env(c, fake_env, NULL, err, n);
}

TEST(otel_off_by_default_and_with_none)
{
    struct otel_config c;
    char err[256];
    static const char *const nothing[] = {NULL};
    T_EQ_INT(config_of(nothing, &c, err, sizeof err), 0);
    T_ASSERT(!c.enabled);
    static const char *const none[] = {"OTEL_TRACES_EXPORTER", "none", "OTEL_EXPORTER_OTLP_ENDPOINT",
                                       "http://c:4318", NULL};
    T_EQ_INT(config_of(none, &c, err, sizeof err), 0);
    T_ASSERT(!c.enabled);
    static const char *const disabled[] = {"OTEL_SDK_DISABLED", "true", "OTEL_TRACES_EXPORTER", "otlp", NULL};
    T_EQ_INT(config_of(disabled, &c, err, sizeof err), 0);
    T_ASSERT(!c.enabled);
}

TEST(otel_endpoints_headers_and_resource_follow_the_sdk_variables)
{
    struct otel_config c;
    char err[256];
    static const char *const base[] = {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector.mon:4318/",
                                       "OTEL_EXPORTER_OTLP_HEADERS", "api-key=s%3Dcret , x-team=data",
                                       "OTEL_SERVICE_NAME", "ingest-op",
                                       "OTEL_RESOURCE_ATTRIBUTES", "service.name=ignored,deployment.environment=prod",
                                       NULL};
    T_EQ_INT(config_of(base, &c, err, sizeof err), 0);
    T_ASSERT(c.enabled);
    T_EQ_STR(c.url, "http://collector.mon:4318/v1/traces");
    T_EQ_STR(c.host, "collector.mon");
    T_EQ_INT(c.port, 4318);
    T_ASSERT(!c.https && !c.host_is_ip);
    T_EQ_INT(c.nheaders, 2);
    T_EQ_STR(c.headers[0].key, "api-key");
    T_EQ_STR(c.headers[0].value, "s=cret");
    T_EQ_STR(c.resource[0].value, "ingest-op");
    T_EQ_INT(c.nresource, 2);
    T_EQ_STR(c.resource[1].key, "deployment.environment");
    T_EQ_INT(c.timeout_ms, 10000);
    otel_config_free(&c);

    static const char *const specific[] = {"OTEL_TRACES_EXPORTER", "otlp",
                                           "OTEL_EXPORTER_OTLP_ENDPOINT", "http://ignored:1",
                                           "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://10.0.0.7/custom/path",
                                           NULL};
    T_EQ_INT(config_of(specific, &c, err, sizeof err), 0);
    T_EQ_STR(c.url, "https://10.0.0.7/custom/path"); /* used as it is */
    T_EQ_INT(c.port, 443);
    T_ASSERT(c.https && c.host_is_ip);
    otel_config_free(&c);

    static const char *const dflt[] = {"OTEL_TRACES_EXPORTER", "otlp", NULL};
    T_EQ_INT(config_of(dflt, &c, err, sizeof err), 0);
    T_EQ_STR(c.url, "http://localhost:4318/v1/traces");
    otel_config_free(&c);
}

TEST(otel_bad_settings_are_errors_that_never_quote_header_values)
{
    struct otel_config c;
    char err[256];
    static const char *const bad_url[] = {"OTEL_EXPORTER_OTLP_ENDPOINT", "grpc://x:4317", NULL};
    T_EQ_INT(config_of(bad_url, &c, err, sizeof err), -1);
    T_CONTAINS(err, "only http:// and https://");
    static const char *const bad_hdr[] = {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://x:4318",
                                          "OTEL_EXPORTER_OTLP_HEADERS", "Authorization%zzBearer-topsecret", NULL};
    T_EQ_INT(config_of(bad_hdr, &c, err, sizeof err), -1);
    T_ASSERT(!strstr(err, "topsecret"));
    static const char *const bad_ca[] = {"OTEL_EXPORTER_OTLP_ENDPOINT", "https://x:4318",
                                         "OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem", NULL};
    T_EQ_INT(config_of(bad_ca, &c, err, sizeof err), -1);
    T_CONTAINS(err, "/nonexistent/ca.pem");
}

TEST(otel_ids_are_deterministic_distinct_and_w3c_shaped)
{
    uint8_t t1[16], t2[16], t3[16], s1[8], s2[8], s3[8];
    otel_trace_id(t1, "uid-1", 0);
    otel_trace_id(t2, "uid-1", 0);
    otel_trace_id(t3, "uid-1", 1);
    T_ASSERT(!memcmp(t1, t2, 16));
    T_ASSERT(memcmp(t1, t3, 16));
    otel_span_id(s1, "uid-1", 0, "exit", 1);
    otel_span_id(s2, "uid-1", 0, "exit", 2);
    otel_span_id(s3, "uid-1", 0, "exit", 1);
    T_ASSERT(memcmp(s1, s2, 8) && !memcmp(s1, s3, 8));
    char tp[OTEL_TRACEPARENT_LEN], th[33], sh[17];
    otel_traceparent(tp, t1, s1);
    otel_hex(th, t1, 16);
    otel_hex(sh, s1, 8);
    T_EQ_INT(strlen(tp), 55);
    T_ASSERT(!strncmp(tp, "00-", 3) && !strncmp(tp + 3, th, 32) && !strncmp(tp + 36, sh, 16));
    T_EQ_STR(tp + 52, "-01");
}

TEST(otel_span_json_is_the_otlp_json_mapping)
{
    struct otel_span s = {.name = "omjob.main", .has_parent = true, .start_ms = 1700000000123,
                          .end_ms = 1700000000100, .status = OTEL_STATUS_ERROR,
                          .status_message = "OOMKilled"};
    otel_trace_id(s.trace_id, "u", 0);
    otel_span_id(s.span_id, "u", 0, "main", 0);
    otel_span_id(s.parent_id, "u", 0, "run", 0);
    const struct otel_attr attrs[] = {{"k8s.pod.name", OTEL_STR, "p \"q\"", 0},
                                      {"empty", OTEL_STR, "", 0},
                                      {"omjob.exit_code", OTEL_INT, NULL, 137},
                                      {"flag", OTEL_BOOL, NULL, 1}};
    s.attrs = attrs;
    s.nattrs = 4;
    struct buf b;
    buf_init(&b, 65536);
    T_EQ_INT(otel_span_json(&b, &s), BUF_OK);
    cJSON *j = cJSON_Parse(buf_str(&b));
    T_ASSERT(j);
    char th[33];
    otel_hex(th, s.trace_id, 16);
    T_EQ_STR(cJSON_GetObjectItem(j, "traceId")->valuestring, th);
    T_EQ_INT(strlen(cJSON_GetObjectItem(j, "parentSpanId")->valuestring), 16);
    T_EQ_STR(cJSON_GetObjectItem(j, "startTimeUnixNano")->valuestring, "1700000000123000000");
    /* an end before the start is clamped to the start */
    T_EQ_STR(cJSON_GetObjectItem(j, "endTimeUnixNano")->valuestring, "1700000000123000000");
    cJSON *a = cJSON_GetObjectItem(j, "attributes");
    T_EQ_INT(cJSON_GetArraySize(a), 3);
    T_EQ_STR(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(a, 0), "value"), "stringValue")->valuestring,
             "p \"q\"");
    T_EQ_STR(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(a, 1), "value"), "intValue")->valuestring,
             "137");
    T_ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(a, 2), "value"), "boolValue")));
    cJSON *st = cJSON_GetObjectItem(j, "status");
    T_EQ_INT(cJSON_GetObjectItem(st, "code")->valueint, 2);
    T_EQ_STR(cJSON_GetObjectItem(st, "message")->valuestring, "OOMKilled");
    T_EQ_INT(cJSON_GetObjectItem(j, "kind")->valueint, 1);
    cJSON_Delete(j);

    struct otel_config c = {.nresource = 1};
    snprintf(c.resource[0].key, sizeof c.resource[0].key, "service.name");
    snprintf(c.resource[0].value, sizeof c.resource[0].value, "svc");
    struct buf req;
    buf_init(&req, 65536);
    T_EQ_INT(otel_request_json(&req, &c, "1.2", b.data, b.len), BUF_OK);
    cJSON *r = cJSON_Parse(buf_str(&req));
    T_ASSERT(r);
    cJSON *rs = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "resourceSpans"), 0);
    cJSON *ss = cJSON_GetArrayItem(cJSON_GetObjectItem(rs, "scopeSpans"), 0);
    T_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(ss, "spans")), 1);
    T_EQ_STR(cJSON_GetObjectItem(cJSON_GetObjectItem(ss, "scope"), "version")->valuestring, "1.2");
    cJSON_Delete(r);
    buf_free(&req);
    buf_free(&b);
}

TEST(otel_answers_follow_the_otlp_retry_rules)
{
    T_EQ_INT(otel_classify(200), OTEL_DONE);
    T_EQ_INT(otel_classify(0), OTEL_RETRY);
    T_EQ_INT(otel_classify(429), OTEL_RETRY);
    T_EQ_INT(otel_classify(502), OTEL_RETRY);
    T_EQ_INT(otel_classify(503), OTEL_RETRY);
    T_EQ_INT(otel_classify(504), OTEL_RETRY);
    T_EQ_INT(otel_classify(500), OTEL_DROP);
    T_EQ_INT(otel_classify(400), OTEL_DROP);
    T_EQ_INT(otel_classify(401), OTEL_DROP);
    char msg[64];
    const char *partial = "{\"partialSuccess\":{\"rejectedSpans\":\"3\",\"errorMessage\":\"too old\"}}";
    T_EQ_INT(otel_partial_success(partial, strlen(partial), msg, sizeof msg), 3);
    T_EQ_STR(msg, "too old");
    T_EQ_INT(otel_partial_success("{}", 2, msg, sizeof msg), 0);
    T_EQ_STR(msg, "");
    T_EQ_INT(otel_partial_success("not json", 8, msg, sizeof msg), 0);
}

TEST(otel_kv_lists_are_bounded)
{
    struct otel_kv kv[2];
    T_EQ_INT(otel_parse_kv_list("a=1,b=2,c=3", kv, 2), -1);
    T_EQ_INT(otel_parse_kv_list(" a = x%20y ,", kv, 2), 1);
    T_EQ_STR(kv[0].value, "x y");
    T_EQ_INT(otel_parse_kv_list("novalue", kv, 2), -1);
    T_EQ_INT(otel_parse_kv_list("", kv, 2), 0);
}

#include "ctl/tracing.h"

TEST(tracing_reads_the_exported_run_from_its_annotation)
{
    T_EQ_INT(tracing_exported_run(NULL), -1);
    T_EQ_INT(tracing_exported_run("3/0123456789abcdef0123456789abcdef"), 3);
    T_EQ_INT(tracing_exported_run("0/ab"), 0);
    T_EQ_INT(tracing_exported_run("0123456789abcdef0123456789abcdef"), -1); /* an OMJob's value */
    T_EQ_INT(tracing_exported_run("x/1"), -1);
    char key[48];
    tracing_task_key(key, "extract");
    T_EQ_STR(key, "task:extract");
    T_ASSERT(!tracing_on()); /* off unless started */
}
