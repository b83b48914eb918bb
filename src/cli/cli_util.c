/* Pure helpers of the pipeline client (see cli_util.h). */
#include "cli/cli_util.h"

#include "ctl/naming.h"
#include "util/strset.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

/* --- names ------------------------------------------------------------------------- */

static int
is_alnum_lower(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* Lower-cases s into out (at most cap-1 characters), everything outside [a-z0-9] → '-',
 * runs of '-' collapsed, no leading/trailing '-'. */
static void
sanitise(char *out, size_t cap, const char *s)
{
    size_t n = 0;
    for (; *s && n + 1 < cap; s++) {
        int c = (unsigned char)*s;
        if (c >= 'A' && c <= 'Z') c += 'a' - 'A';
        if (!is_alnum_lower(c)) {
            if (n == 0 || out[n - 1] == '-') continue;
            c = '-';
        }
        out[n++] = (char)c;
    }
    while (n > 0 && out[n - 1] == '-')
        n--;
    out[n] = '\0';
}

int
cli_object_name(char out[static CLI_NAME_MAX + 1], const char *prefix, const char *pipeline,
                const char *suffix)
{
    out[0] = '\0';
    if (!prefix || !*prefix || !pipeline || !*pipeline || (suffix && !*suffix)) return -1;
    char plain[512];
    int n = snprintf(plain, sizeof plain, "%s-%s%s%s", prefix, pipeline, suffix ? "-" : "",
                     suffix ? suffix : "");
    if (n > 0 && (size_t)n < sizeof plain && naming_is_dns1123_label(plain)) {
        memcpy(out, plain, (size_t)n + 1);
        return 0;
    }
    char clean[CLI_NAME_MAX + 1];
    sanitise(clean, sizeof clean, pipeline);
    char h[9];
    snprintf(h, sizeof h, "%08x", (unsigned)(naming_hash(pipeline) & 0xffffffffu));
    size_t fixed = strlen(prefix) + 1 + 8 + (suffix ? strlen(suffix) + 1 : 0);
    if (fixed + 1 > CLI_NAME_MAX) return -1;
    size_t room = CLI_NAME_MAX - fixed - 1; /* one '-' between clean and h */
    size_t cl = strlen(clean);
    if (cl > room) cl = room;
    while (cl > 0 && clean[cl - 1] == '-')
        cl--;
    clean[cl] = '\0';
    n = snprintf(out, CLI_NAME_MAX + 1, "%s-%s%s%s%s%s", prefix, clean, cl ? "-" : "", h,
                 suffix ? "-" : "", suffix ? suffix : "");
    if (n < 0 || n > CLI_NAME_MAX || !naming_is_dns1123_label(out)) {
        out[0] = '\0';
        return -1;
    }
    return 1;
}

void
cli_run_suffix(char out[static 9], const char *run_id)
{
    size_t n = 0;
    for (const char *p = run_id ? run_id : ""; *p && n < 8; p++) {
        int c = (unsigned char)*p;
        if (c >= 'A' && c <= 'Z') c += 'a' - 'A';
        if (is_alnum_lower(c)) out[n++] = (char)c;
    }
    out[n] = '\0';
    if (n == 0)
        snprintf(out, 9, "%08x", (unsigned)(naming_hash(run_id ? run_id : "") & 0xffffffffu));
}

/* --- states and task keys ------------------------------------------------------------ */

const char *
cli_state_name(enum cli_state s)
{
    switch (s) {
    case CLI_RUNNING:
        return "RUNNING";
    case CLI_SUCCESS:
        return "SUCCESS";
    case CLI_FAILED:
        return "FAILED";
    case CLI_QUEUED:
        break;
    }
    return "QUEUED";
}

enum cli_state
cli_state_from_phase(const char *phase)
{
    if (!phase) return CLI_QUEUED;
    if (!strcmp(phase, "Running") || !strcmp(phase, "ExitHandlerRunning")) return CLI_RUNNING;
    if (!strcmp(phase, "Succeeded")) return CLI_SUCCESS;
    if (!strcmp(phase, "Failed")) return CLI_FAILED;
    return CLI_QUEUED;
}

enum cli_state
cli_state_from_job(bool complete, bool failed, bool pod_running)
{
    if (failed) return CLI_FAILED;
    if (complete) return CLI_SUCCESS;
    return pod_running ? CLI_RUNNING : CLI_QUEUED;
}

static const struct {
    const char *type, *key;
} task_keys[] = {
    {"metadata", "ingestion_task"},
    {"profiler", "profiler_task"},
    {"usage", "usage_task"},
    {"lineage", "lineage_task"},
    {"dbt", "dbt_task"},
    {"TestSuite", "test_suite_task"},
    {"dataInsight", "data_insight_task"},
    {"elasticSearchReindex", "elasticsearch_reindex_task"},
    {"application", "application_task"},
};

const char *
cli_task_key(const char *pipeline_type)
{
    for (size_t i = 0; pipeline_type && i < sizeof task_keys / sizeof task_keys[0]; i++)
        if (!strcasecmp(pipeline_type, task_keys[i].type)) return task_keys[i].key;
    return "ingestion_task";
}

/* The sourceConfig.config.type values of OpenMetadata's workflows, by pipeline type. */
static const struct {
    const char *config_type, *pipeline_type;
} config_types[] = {
    {"DatabaseMetadata", "metadata"},  {"DashboardMetadata", "metadata"},
    {"MessagingMetadata", "metadata"}, {"PipelineMetadata", "metadata"},
    {"MlModelMetadata", "metadata"},   {"StorageMetadata", "metadata"},
    {"SearchMetadata", "metadata"},    {"ApiMetadata", "metadata"},
    {"DatabaseUsage", "usage"},        {"DatabaseLineage", "lineage"},
    {"Profiler", "profiler"},          {"DBT", "dbt"},
    {"TestSuite", "TestSuite"},        {"MetadataToElasticSearch", "elasticSearchReindex"},
    {"dataInsight", "dataInsight"},    {"Application", "application"},
};

const char *
cli_pipeline_type_of(const cJSON *workflow)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(workflow, "source");
    t = cJSON_GetObjectItemCaseSensitive(t, "sourceConfig");
    t = cJSON_GetObjectItemCaseSensitive(t, "config");
    t = cJSON_GetObjectItemCaseSensitive(t, "type");
    if (!cJSON_IsString(t)) return NULL;
    for (size_t i = 0; i < sizeof config_types / sizeof config_types[0]; i++)
        if (!strcasecmp(t->valuestring, config_types[i].config_type))
            return config_types[i].pipeline_type;
    return NULL;
}

/* --- UTF-8 chunking ------------------------------------------------------------------- */

/* Length a sequence starting with lead byte c claims (1 for invalid leads). */
static size_t
utf8_seq_len(unsigned char c)
{
    if (c >= 0xf0 && c <= 0xf4) return 4;
    if (c >= 0xe0) return c <= 0xef ? 3 : 1;
    if (c >= 0xc2) return 2;
    return 1;
}

size_t
cli_utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max) return len;
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t n = utf8_seq_len(u[i]);
        /* a truncated or malformed sequence counts byte by byte */
        for (size_t k = 1; k < n && i + k < len; k++)
            if ((u[i + k] & 0xc0) != 0x80) {
                n = 1;
                break;
            }
        /* a sequence cut short by the end of the data still claims its full length, so
         * that a chunk never ends inside a character whose tail has not arrived yet */
        if (i + n > max) return i ? i : (n < len ? n : len);
        i += n;
    }
    return i < len ? i : len;
}

int
cli_chunker_init(struct cli_chunker *k, size_t chunk_bytes, cli_chunk_fn emit, void *arg)
{
    memset(k, 0, sizeof *k);
    if (chunk_bytes < 4 || chunk_bytes > CLI_LOG_CHUNK_MAX) return -1;
    k->buf = malloc(chunk_bytes + 4);
    if (!k->buf) return -1;
    k->chunk_bytes = chunk_bytes;
    k->emit = emit;
    k->arg = arg;
    return 0;
}

/* Emits full chunks while more than chunk_bytes are held (a sequence that may continue
 * in the next feed stays held). */
static int
drain(struct cli_chunker *k, int final)
{
    while (!k->stopped && k->len > 0 && (final || k->len > k->chunk_bytes)) {
        size_t n = cli_utf8_cut(k->buf, k->len, k->chunk_bytes);
        if (k->emit(k->arg, k->buf, n)) k->stopped = 1;
        memmove(k->buf, k->buf + n, k->len - n);
        k->len -= n;
    }
    return k->stopped;
}

int
cli_chunker_feed(struct cli_chunker *k, const char *data, size_t len)
{
    while (len > 0 && !k->stopped) {
        size_t room = k->chunk_bytes + 3 - k->len;
        size_t n = len < room ? len : room;
        memcpy(k->buf + k->len, data, n);
        k->len += n;
        data += n;
        len -= n;
        drain(k, 0);
    }
    return k->stopped;
}

int
cli_chunker_finish(struct cli_chunker *k)
{
    return drain(k, 1);
}

void
cli_chunker_free(struct cli_chunker *k)
{
    free(k->buf);
    k->buf = NULL;
}

/* --- YAML → cJSON ---------------------------------------------------------------------- */

struct yctx {
    yaml_parser_t p;
    char *err;
    size_t errlen;
};

static cJSON *parse_node(struct yctx *y, yaml_event_t *ev, int depth);

static int
next_event(struct yctx *y, yaml_event_t *ev)
{
    if (yaml_parser_parse(&y->p, ev)) return 0;
    snprintf(y->err, y->errlen, "YAML error at line %lu: %s",
             (unsigned long)y->p.problem_mark.line + 1, y->p.problem ? y->p.problem : "?");
    return -1;
}

static int
is_number(const char *s, double *out)
{
    if (!*s || strchr(s, '_') || !strpbrk(s, "0123456789")) return 0;
    for (const char *p = s; *p; p++)
        if (!strchr("0123456789+-.eE", *p)) return 0;
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (*end || errno || !isfinite(d)) return 0;
    *out = d;
    return 1;
}

static cJSON *
scalar(const yaml_event_t *ev)
{
    const char *v = (const char *)ev->data.scalar.value;
    const char *tag = (const char *)ev->data.scalar.tag;
    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || (tag && strstr(tag, ":str")))
        return cJSON_CreateString(v);
    if (!*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL"))
        return cJSON_CreateNull();
    if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "TRUE")) return cJSON_CreateTrue();
    if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "FALSE"))
        return cJSON_CreateFalse();
    double d;
    if (is_number(v, &d)) return cJSON_CreateNumber(d);
    return cJSON_CreateString(v);
}

/* Keeps the last of same-named keys (at its place), in one pass from the end: deleting
 * the earlier one at each repeat cost O(keys) per key, minutes for a 1 MiB mapping (found by
 * tests/fuzz/fuzz_cli_yaml). Returns 0, or -1 out of memory. */
static int
drop_repeated_keys(cJSON *obj)
{
    struct strset *seen = strset_new();
    if (!seen) return -1;
    cJSON *c = obj->child ? obj->child->prev : NULL; /* cJSON: child->prev is the tail */
    while (c) {
        cJSON *before = c == obj->child ? NULL : c->prev;
        int added = strset_add(seen, c->string);
        if (added < 0) {
            strset_free(seen);
            return -1;
        }
        if (added == 0) cJSON_Delete(cJSON_DetachItemViaPointer(obj, c));
        c = before;
    }
    strset_free(seen);
    return 0;
}

static cJSON *
parse_mapping(struct yctx *y, int depth)
{
    cJSON *obj = cJSON_CreateObject();
    for (;;) {
        yaml_event_t ev;
        if (!obj || next_event(y, &ev)) goto fail;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            if (drop_repeated_keys(obj) < 0) {
                snprintf(y->err, y->errlen, "out of memory");
                goto fail;
            }
            return obj;
        }
        if (ev.type != YAML_SCALAR_EVENT) {
            yaml_event_delete(&ev);
            snprintf(y->err, y->errlen, "YAML: only scalar mapping keys are supported");
            goto fail;
        }
        char *key = strdup((const char *)ev.data.scalar.value);
        yaml_event_delete(&ev);
        if (!key || next_event(y, &ev)) {
            free(key);
            goto fail;
        }
        cJSON *val = parse_node(y, &ev, depth + 1);
        yaml_event_delete(&ev);
        if (!val) {
            free(key);
            goto fail;
        }
        cJSON_AddItemToObject(obj, key, val); /* the last one wins: drop_repeated_keys */
        free(key);
    }
fail:
    cJSON_Delete(obj);
    return NULL;
}

static cJSON *
parse_sequence(struct yctx *y, int depth)
{
    cJSON *arr = cJSON_CreateArray();
    for (;;) {
        yaml_event_t ev;
        if (!arr || next_event(y, &ev)) goto fail;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return arr;
        }
        cJSON *val = parse_node(y, &ev, depth + 1);
        yaml_event_delete(&ev);
        if (!val) goto fail;
        cJSON_AddItemToArray(arr, val);
    }
fail:
    cJSON_Delete(arr);
    return NULL;
}

static cJSON *
parse_node(struct yctx *y, yaml_event_t *ev, int depth)
{
    if (depth > CLI_YAML_MAX_DEPTH) {
        snprintf(y->err, y->errlen, "YAML nested deeper than %d levels", CLI_YAML_MAX_DEPTH);
        return NULL;
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        return scalar(ev);
    case YAML_MAPPING_START_EVENT:
        return parse_mapping(y, depth);
    case YAML_SEQUENCE_START_EVENT:
        return parse_sequence(y, depth);
    case YAML_ALIAS_EVENT:
        snprintf(y->err, y->errlen, "YAML aliases are not supported");
        break;
    default:
        snprintf(y->err, y->errlen, "YAML: unexpected event %d", (int)ev->type);
        break;
    }
    return NULL;
}

/* Skips to the first node of the first document; returns 1 with it in ev, 0 when the
 * stream is empty, -1 on error. */
static int
first_node(struct yctx *y, yaml_event_t *ev)
{
    for (;;) {
        if (next_event(y, ev)) return -1;
        if (ev->type == YAML_STREAM_END_EVENT) {
            yaml_event_delete(ev);
            return 0;
        }
        if (ev->type != YAML_STREAM_START_EVENT && ev->type != YAML_DOCUMENT_START_EVENT) return 1;
        yaml_event_delete(ev);
    }
}

/* After the root: the document end, then the stream end (no second document). */
static int
expect_end(struct yctx *y)
{
    yaml_event_t ev;
    for (int i = 0; i < 2; i++) {
        if (next_event(y, &ev)) return -1;
        yaml_event_type_t t = ev.type;
        yaml_event_delete(&ev);
        if (t == YAML_STREAM_END_EVENT) return 0;
        if (t != YAML_DOCUMENT_END_EVENT) {
            snprintf(y->err, y->errlen, "YAML: only one document is supported");
            return -1;
        }
    }
    return 0;
}

static int
json_depth(const cJSON *j, int depth)
{
    int max = depth;
    const cJSON *c;
    if (depth > CLI_YAML_MAX_DEPTH) return depth;
    cJSON_ArrayForEach(c, j)
    {
        if (cJSON_IsObject(c) || cJSON_IsArray(c)) {
            int d = json_depth(c, depth + 1);
            max = d > max ? d : max;
        }
    }
    return max;
}

cJSON *
cli_yaml_to_json(const char *text, size_t len, char *err, size_t errlen)
{
    struct yctx y = {.err = err, .errlen = errlen};
    if (len > CLI_YAML_MAX_BYTES) {
        snprintf(err, errlen, "larger than %d bytes", CLI_YAML_MAX_BYTES);
        return NULL;
    }
    /* JSON first when it looks like JSON: libyaml refuses the \uD83D\uDE00 surrogate-pair
     * escapes JSON encoders write for characters outside the BMP. */
    size_t lead = 0;
    while (lead < len && strchr(" \t\r\n", text[lead]))
        lead++;
    if (lead < len && (text[lead] == '{' || text[lead] == '[')) {
        cJSON *j = cJSON_ParseWithLength(text, len);
        if (j && json_depth(j, 1) > CLI_YAML_MAX_DEPTH) {
            cJSON_Delete(j);
            snprintf(err, errlen, "JSON nested deeper than %d levels", CLI_YAML_MAX_DEPTH);
            return NULL;
        }
        if (j) return j;
    }
    if (!yaml_parser_initialize(&y.p)) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    yaml_parser_set_input_string(&y.p, (const unsigned char *)text, len);
    yaml_event_t ev;
    cJSON *root = NULL;
    int r = first_node(&y, &ev);
    if (r == 0)
        root = cJSON_CreateNull();
    else if (r > 0) {
        root = parse_node(&y, &ev, 1);
        yaml_event_delete(&ev);
        if (root && expect_end(&y)) {
            cJSON_Delete(root);
            root = NULL;
        }
    }
    yaml_parser_delete(&y.p);
    return root;
}

/* --- run ids ------------------------------------------------------------------------- */

int
cli_uuid(char out[static 37])
{
    unsigned char b[16];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, b, sizeof b);
    close(fd);
    if (n != (ssize_t)sizeof b) return -1;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
    return 0;
}
