/* The pipeline client's pure parts: names, states, task keys, UTF-8 chunking, YAML → JSON,
 * client config defaults and the objects' shape (no secrets or inline config in specs). */
#include "t.h"
#include "util/timeutil.h"

#include "cli/build.h"
#include "cli/cli_util.h"
#include "ctl/naming.h"

#include <cjson/cJSON.h>
#include <stdlib.h>

TEST(cli_name_plain_when_valid)
{
    char out[64];
    T_EQ_INT(cli_object_name(out, "om-config", "daily-ingest", NULL), 0);
    T_EQ_STR(out, "om-config-daily-ingest");
    T_EQ_INT(cli_object_name(out, "om-job", "daily-ingest", "0f0e0d0c"), 0);
    T_EQ_STR(out, "om-job-daily-ingest-0f0e0d0c");
}

TEST(cli_name_sanitised_with_hash)
{
    char a[64], b[64];
    T_EQ_INT(cli_object_name(a, "om-config", "Sales.Warehouse_Daily", NULL), 1);
    T_ASSERT(naming_is_dns1123_label(a));
    T_ASSERT(strncmp(a, "om-config-sales-warehouse-daily-", 32) == 0);
    /* names that sanitise alike still differ: the hash is of the original */
    T_EQ_INT(cli_object_name(b, "om-config", "sales-warehouse-daily!", NULL), 1);
    T_ASSERT(strcmp(a, b) != 0);
    T_EQ_INT(cli_object_name(b, "om-config", "Sales.Warehouse_Daily", NULL), 1);
    T_EQ_STR(a, b); /* stable */
}

TEST(cli_name_long_names_never_collide)
{
    char n1[200], n2[200], a[64], b[64];
    memset(n1, 'p', 150);
    n1[150] = '\0';
    memcpy(n2, n1, 151);
    n2[149] = 'q';
    T_EQ_INT(cli_object_name(a, "om-job", n1, "12345678"), 1);
    T_EQ_INT(cli_object_name(b, "om-job", n2, "12345678"), 1);
    T_ASSERT(strlen(a) <= 63 && strlen(b) <= 63);
    T_ASSERT(naming_is_dns1123_label(a) && naming_is_dns1123_label(b));
    T_ASSERT(strcmp(a, b) != 0);
    T_ASSERT(strcmp(a + strlen(a) - 9, "-12345678") == 0);
}

TEST(cli_name_nothing_usable_left)
{
    char a[64];
    T_EQ_INT(cli_object_name(a, "om-config", "___", NULL), 1);
    T_ASSERT(naming_is_dns1123_label(a));
    T_EQ_INT(strlen(a), strlen("om-config-") + 8);
    T_EQ_INT(cli_object_name(a, "om-config", "", NULL), -1);
}

TEST(cli_run_suffix_first_8)
{
    char s[9];
    cli_run_suffix(s, "0F0E0D0C-1111-2222");
    T_EQ_STR(s, "0f0e0d0c");
    cli_run_suffix(s, "ab-cd");
    T_EQ_STR(s, "abcd");
    cli_run_suffix(s, "--__");
    T_EQ_INT(strlen(s), 8);
}

TEST(cli_state_mapping)
{
    T_EQ_STR(cli_state_name(cli_state_from_phase(NULL)), "QUEUED");
    T_EQ_STR(cli_state_name(cli_state_from_phase("Pending")), "QUEUED");
    T_EQ_STR(cli_state_name(cli_state_from_phase("Weird")), "QUEUED");
    T_EQ_STR(cli_state_name(cli_state_from_phase("Running")), "RUNNING");
    T_EQ_STR(cli_state_name(cli_state_from_phase("ExitHandlerRunning")), "RUNNING");
    T_EQ_STR(cli_state_name(cli_state_from_phase("Succeeded")), "SUCCESS");
    T_EQ_STR(cli_state_name(cli_state_from_phase("Failed")), "FAILED");
    T_EQ_STR(cli_state_name(cli_state_from_job(false, false, false)), "QUEUED");
    T_EQ_STR(cli_state_name(cli_state_from_job(false, false, true)), "RUNNING");
    T_EQ_STR(cli_state_name(cli_state_from_job(true, false, false)), "SUCCESS");
    T_EQ_STR(cli_state_name(cli_state_from_job(false, true, true)), "FAILED");
}

TEST(cli_task_keys)
{
    T_EQ_STR(cli_task_key("metadata"), "ingestion_task");
    T_EQ_STR(cli_task_key("profiler"), "profiler_task");
    T_EQ_STR(cli_task_key("usage"), "usage_task");
    T_EQ_STR(cli_task_key("lineage"), "lineage_task");
    T_EQ_STR(cli_task_key("dbt"), "dbt_task");
    T_EQ_STR(cli_task_key("TestSuite"), "test_suite_task");
    T_EQ_STR(cli_task_key("dataInsight"), "data_insight_task");
    T_EQ_STR(cli_task_key("elasticSearchReindex"), "elasticsearch_reindex_task");
    T_EQ_STR(cli_task_key("application"), "application_task");
    T_EQ_STR(cli_task_key("somethingNew"), "ingestion_task");
    T_EQ_STR(cli_task_key(NULL), "ingestion_task");
}

TEST(cli_utf8_cut_backs_off_to_boundaries)
{
    const char *s = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"; /* a é € 😀: 1+2+3+4 */
    size_t len = strlen(s);
    T_EQ_INT(cli_utf8_cut(s, len, 100), len);
    T_EQ_INT(cli_utf8_cut(s, len, 1), 1);
    T_EQ_INT(cli_utf8_cut(s, len, 2), 1);
    T_EQ_INT(cli_utf8_cut(s, len, 3), 3);
    T_EQ_INT(cli_utf8_cut(s, len, 5), 3);
    T_EQ_INT(cli_utf8_cut(s, len, 6), 6);
    T_EQ_INT(cli_utf8_cut(s, len, 9), 6);
    /* a lone continuation byte or a bad lead counts as one character */
    T_EQ_INT(cli_utf8_cut("\x80\x80\x80", 3, 2), 2);
    /* a sequence whose tail has not arrived yet is not split */
    T_EQ_INT(cli_utf8_cut("abc\xe2\x82", 5, 4), 3);
    /* progress even when the first character is longer than max */
    T_EQ_INT(cli_utf8_cut("\xf0\x9f\x98\x80z", 5, 2), 4);
}

struct collect {
    char out[256];
    size_t len;
    int chunks, max_len, bad;
};

static int
collect_chunk(void *arg, const char *chunk, size_t len)
{
    struct collect *c = arg;
    memcpy(c->out + c->len, chunk, len);
    c->len += len;
    c->chunks++;
    if ((int)len > c->max_len) c->max_len = (int)len;
    /* a chunk must not end or start inside a character */
    if (len && ((unsigned char)chunk[0] & 0xc0) == 0x80) c->bad++;
    return 0;
}

TEST(cli_chunker_byte_by_byte_feed)
{
    const char *s = "x\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80y\xf0\x9f\x98\x80\xc3\xa9z";
    for (size_t chunk = 4; chunk <= 9; chunk++) {
        struct cli_chunker k;
        struct collect c = {.len = 0};
        T_EQ_INT(cli_chunker_init(&k, chunk, collect_chunk, &c), 0);
        for (size_t i = 0; s[i]; i++)
            cli_chunker_feed(&k, s + i, 1);
        cli_chunker_finish(&k);
        cli_chunker_free(&k);
        c.out[c.len] = '\0';
        T_EQ_STR(c.out, s);
        T_ASSERT(c.max_len <= (int)chunk);
        T_EQ_INT(c.bad, 0);
    }
}

TEST(cli_chunker_rejects_bad_sizes)
{
    struct cli_chunker k;
    T_EQ_INT(cli_chunker_init(&k, 3, collect_chunk, NULL), -1);
    T_EQ_INT(cli_chunker_init(&k, CLI_LOG_CHUNK_MAX + 1, collect_chunk, NULL), -1);
}

static char *
to_json(const char *yaml)
{
    char err[256];
    cJSON *j = cli_yaml_to_json(yaml, strlen(yaml), err, sizeof err);
    char *s = j ? cJSON_PrintUnformatted(j) : strdup(err);
    cJSON_Delete(j);
    return s;
}

#define T_YAML(in, want)                                                                           \
    do {                                                                                           \
        char *got_ = to_json(in);                                                                  \
        int ok_ = got_ && !strcmp(got_, want);                                                     \
        if (!ok_)                                                                                  \
            t_fail(__FILE__, __LINE__, "yaml %s: got %s want %s", in, got_ ? got_ : "(null)",      \
                   want);                                                                          \
        free(got_);                                                                                \
        if (!ok_) return;                                                                          \
    } while (0)

TEST(cli_yaml_scalars_and_nesting)
{
    T_YAML("a: 1\nb: true\nc: ~\nd: \"1\"\ne: x y\nf: 1.5\ng: '0x10'\nh: !!str 7\n",
           "{\"a\":1,\"b\":true,\"c\":null,\"d\":\"1\",\"e\":\"x y\",\"f\":1.5,\"g\":\"0x10\","
           "\"h\":\"7\"}");
    T_YAML("l:\n  - a\n  - {k: v}\n  - [1, 2]\n", "{\"l\":[\"a\",{\"k\":\"v\"},[1,2]]}");
    T_YAML("{\"json\": [1, \"\\ud83d\\ude00\"]}", "{\"json\":[1,\"\xf0\x9f\x98\x80\"]}");
    T_YAML("", "null");
    T_YAML("a: 1\na: 2\n", "{\"a\":2}");
    T_YAML("a: 1\nb: 2\na: 3\nc: 4\nb: 5\n", "{\"a\":3,\"c\":4,\"b\":5}");
    T_YAML("version: 1.2.3\nport: 08\n", "{\"version\":\"1.2.3\",\"port\":8}");
}

TEST(cli_yaml_large_mapping_is_linear)
{
    /* ~90,000 keys in 1 MiB: repeated-key handling used to cost O(keys) per key (minutes;
     * found by tests/fuzz/fuzz_cli_yaml); now one pass. Bound: 100x what it takes. */
    size_t cap = CLI_YAML_MAX_BYTES, n = 0;
    char *text = malloc(cap);
    T_ASSERT(text != NULL);
    int keys = 0;
    while (n + 32 < cap)
        n += (size_t)snprintf(text + n, cap - n, "k%d: %d\n", keys, keys), keys++;
    n += (size_t)snprintf(text + n, cap - n, "k0: last\n");
    char err[256];
    int64_t t0 = time_mono_ms();
    cJSON *j = cli_yaml_to_json(text, n, err, sizeof err);
    int64_t took = time_mono_ms() - t0;
    free(text);
    if (!j) T_EQ_STR(err, "");
    T_ASSERT(j != NULL);
    T_EQ_INT(cJSON_GetArraySize(j), keys);
    T_EQ_STR(cJSON_GetObjectItemCaseSensitive(j, "k0")->valuestring, "last");
    cJSON_Delete(j);
    T_ASSERT(took < 10000);
}

TEST(cli_yaml_refuses_oversized_input)
{
    size_t n = CLI_YAML_MAX_BYTES + 1;
    char *text = malloc(n);
    T_ASSERT(text != NULL);
    memset(text, ' ', n);
    memcpy(text, "a: b", 4);
    char err[256] = "";
    T_ASSERT(!cli_yaml_to_json(text, n, err, sizeof err));
    T_CONTAINS(err, "larger than 1048576 bytes");
    cJSON *at_limit = cli_yaml_to_json(text, n - 1, err, sizeof err); /* exactly the limit */
    T_ASSERT(at_limit != NULL);
    T_EQ_STR(cJSON_GetObjectItemCaseSensitive(at_limit, "a")->valuestring, "b");
    cJSON_Delete(at_limit);
    free(text);
}

TEST(cli_yaml_refuses_aliases_docs_depth)
{
    char err[256];
    const char *alias = "a: &x 1\nb: *x\n";
    T_ASSERT(!cli_yaml_to_json(alias, strlen(alias), err, sizeof err));
    T_CONTAINS(err, "alias");
    const char *two = "a: 1\n---\nb: 2\n";
    T_ASSERT(!cli_yaml_to_json(two, strlen(two), err, sizeof err));
    T_CONTAINS(err, "one document");
    char deep[400];
    size_t n = 0;
    for (int i = 0; i < 70; i++)
        deep[n++] = '[';
    for (int i = 0; i < 70; i++)
        deep[n++] = ']';
    deep[n] = '\0';
    T_ASSERT(!cli_yaml_to_json(deep, n, err, sizeof err));
    T_CONTAINS(err, "deeper");
    deep[0] = ' '; /* not JSON any more: the YAML reader bounds it too */
    deep[n - 1] = ' ';
    T_ASSERT(!cli_yaml_to_json(deep, n, err, sizeof err));
    const char *broken = "a: [1, 2\n";
    T_ASSERT(!cli_yaml_to_json(broken, strlen(broken), err, sizeof err));
    T_CONTAINS(err, "line");
}

TEST(cli_config_defaults_are_openmetadatas)
{
    struct cli_config c;
    char err[256];
    T_EQ_INT(cli_config_load(&c, NULL, err, sizeof err), 0);
    T_EQ_STR(cli_config_str(&c, "namespace"), "openmetadata-pipelines");
    T_EQ_INT(cli_config_long(&c, "ttlSecondsAfterFinished"), 604800);
    T_EQ_INT(cli_config_long(&c, "activeDeadlineSeconds"), 7200);
    T_EQ_INT(cli_config_long(&c, "backoffLimit"), 3);
    T_EQ_INT(cli_config_long(&c, "successfulJobsHistoryLimit"), 3);
    T_EQ_INT(cli_config_long(&c, "failedJobsHistoryLimit"), 3);
    T_EQ_INT(cli_config_long(&c, "runAsUser"), 1000);
    T_EQ_INT(cli_config_long(&c, "runAsGroup"), 1000);
    T_EQ_INT(cli_config_long(&c, "fsGroup"), 1000);
    T_ASSERT(cli_config_bool(&c, "runAsNonRoot"));
    T_ASSERT(cli_config_bool(&c, "useOMJobOperator"));
    cli_config_free(&c);
}

static const char *
write_tmp(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", t_tmpdir(), name);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return path;
}

TEST(cli_config_file_overrides_and_checks)
{
    struct cli_config c;
    char err[256];
    const char *p =
        write_tmp("cc.yaml", "namespace: ingest\nbackoffLimit: \"5\"\nrunAsNonRoot: false\n"
                             "imagePullSecrets: reg1, reg2\n"
                             "extraEnvVars: [\"A=1\", \"B:two\"]\n");
    T_EQ_INT(cli_config_load(&c, p, err, sizeof err), 0);
    T_EQ_STR(cli_config_str(&c, "namespace"), "ingest");
    T_EQ_INT(cli_config_long(&c, "backoffLimit"), 5);
    T_ASSERT(!cli_config_bool(&c, "runAsNonRoot"));
    char *s = cJSON_PrintUnformatted(c.v);
    T_CONTAINS(s, "\"imagePullSecrets\":[{\"name\":\"reg1\"},{\"name\":\"reg2\"}]");
    T_CONTAINS(s, "{\"name\":\"B\",\"value\":\"two\"}");
    free(s);
    cli_config_free(&c);
    p = write_tmp("bad.yaml", "backofLimit: 3\n");
    T_EQ_INT(cli_config_load(&c, p, err, sizeof err), -1);
    T_CONTAINS(err, "unknown parameter backofLimit");
    p = write_tmp("bad2.yaml", "ttlSecondsAfterFinished: soon\n");
    T_EQ_INT(cli_config_load(&c, p, err, sizeof err), -1);
    T_CONTAINS(err, "bad value");
}

TEST(cli_objects_reference_config_never_inline)
{
    struct cli_config c;
    struct cli_pipeline p = {.namespace = "ns", .pipeline_type = "usage", .fqn = "svc.p"};
    char err[256];
    T_EQ_INT(cli_config_load(&c, NULL, err, sizeof err), 0);
    T_EQ_INT(cli_pipeline_names(&p, "Usage_Pipe", "ABCDEF12-0000"), 0);
    p.has_secret = true;
    cJSON *cm = cli_build_configmap(&p, "secret: BOT-TOKEN\n", "operator");
    cJSON *omj = cli_build_omjob(&c, &p), *job = cli_build_job(&c, &p);
    cJSON *cron = cli_build_cronomjob(&c, &p, "@daily", "UTC");
    char *s_cm = cJSON_PrintUnformatted(cm), *s_omj = cJSON_PrintUnformatted(omj);
    char *s_job = cJSON_PrintUnformatted(job), *s_cron = cJSON_PrintUnformatted(cron);
    int ok = s_cm && s_omj && s_job && s_cron && strstr(s_cm, "BOT-TOKEN") &&
             !strstr(s_omj, "BOT-TOKEN") && !strstr(s_job, "BOT-TOKEN") &&
             !strstr(s_cron, "BOT-TOKEN");
    T_ASSERT(ok);
    T_CONTAINS(s_omj, "\"configMapKeyRef\":{\"name\":\"om-config-usage-pipe-");
    T_CONTAINS(s_omj, "\"secretKeyRef\":{\"name\":\"om-secret-usage-pipe-");
    T_CONTAINS(s_omj, "\"name\":\"om-job-usage-pipe-");
    T_CONTAINS(s_omj, "-abcdef12\"");
    T_CONTAINS(s_omj, "\"app.kubernetes.io/run-id\":\"ABCDEF12-0000\"");
    T_CONTAINS(s_job, "\"restartPolicy\":\"Never\"");
    T_CONTAINS(s_job, "\"preStop\":{\"exec\":{\"command\":[\"python\",\"exit_handler.py\"]}}");
    T_CONTAINS(s_job, "\"fsGroup\":1000");
    T_CONTAINS(s_cron, "\"concurrencyPolicy\":\"Forbid\"");
    T_CONTAINS(s_cron, "{{ omjob.uid }}");
    free(s_cm);
    free(s_omj);
    free(s_job);
    free(s_cron);
    cJSON_Delete(cm);
    cJSON_Delete(omj);
    cJSON_Delete(job);
    cJSON_Delete(cron);
    cli_config_free(&c);
}

struct big {
    long chunks, bytes;
    size_t max_len;
    int bad;
};

static int
big_chunk(void *arg, const char *chunk, size_t len)
{
    struct big *b = arg;
    b->chunks++;
    b->bytes += (long)len;
    if (len > b->max_len) b->max_len = len;
    if (len && ((unsigned char)chunk[0] & 0xc0) == 0x80) b->bad++;
    return 0;
}

TEST(cli_chunker_default_size_multi_mib)
{
    /* 2.5 MiB of 2- and 3-byte characters: 1 MiB chunks at most, each starting on a
     * character */
    static const char unit[] = "\xc3\xa9\xe2\x82\xac"; /* é€ */
    char piece[4099];
    for (size_t i = 0; i < sizeof piece; i++)
        piece[i] = unit[i % 5];
    struct cli_chunker k;
    struct big b = {0};
    T_EQ_INT(cli_chunker_init(&k, CLI_LOG_CHUNK_MAX, big_chunk, &b), 0);
    long fed = 0;
    while (fed < 5L * 512 * 1024) { /* 819 whole units a piece; 1 MiB is not a multiple of 5 */
        cli_chunker_feed(&k, piece, 4095);
        fed += 4095;
    }
    cli_chunker_finish(&k);
    cli_chunker_free(&k);
    T_EQ_INT(b.bytes, fed);
    T_EQ_INT(b.chunks, 3);
    T_ASSERT(b.max_len <= CLI_LOG_CHUNK_MAX);
    T_EQ_INT(b.bad, 0);
}
