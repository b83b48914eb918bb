#include "otel/otel.h"

#include "util/buf.h"
#include "util/json.h"

#include <arpa/inet.h>
#include <bearssl_hash.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CA_MAX_BYTES (1024 * 1024)

/* --- configuration -------------------------------------------------------------------- */

static void
trim(char *s)
{
    size_t n = strlen(s), i = 0;
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = 0;
    while (isspace((unsigned char)s[i]))
        i++;
    memmove(s, s + i, n - i + 1);
}

static int
hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decodes s in place; -1 on a bad escape. */
static int
pct_decode(char *s)
{
    char *w = s;
    for (const char *r = s; *r; r++) {
        if (*r != '%') {
            *w++ = *r;
            continue;
        }
        int hi = hexval((unsigned char)r[1]), lo = hi < 0 ? -1 : hexval((unsigned char)r[2]);
        if (lo < 0)
            return -1;
        *w++ = (char)(hi * 16 + lo);
        r += 2;
    }
    *w = 0;
    return 0;
}

int
otel_parse_kv_list(const char *s, struct otel_kv *out, size_t max)
{
    size_t n = 0;
    const char *p = s ? s : "";
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char item[sizeof out->key + sizeof out->value + 2];
        if (len >= sizeof item)
            return -1;
        memcpy(item, p, len);
        item[len] = 0;
        p += len + (end ? 1 : 0);
        trim(item);
        if (!item[0])
            continue; /* "a=1,,b=2" */
        char *eq = strchr(item, '=');
        if (!eq || n == max)
            return -1;
        *eq = 0;
        char *k = item, *v = eq + 1;
        trim(k);
        trim(v);
        if (!*k || pct_decode(k) || pct_decode(v) || strlen(k) >= sizeof out->key ||
            strlen(v) >= sizeof out->value)
            return -1;
        memcpy(out[n].key, k, strlen(k) + 1); /* lengths checked above */
        memcpy(out[n].value, v, strlen(v) + 1);
        n++;
    }
    return (int)n;
}

static const char *
env2(const char *(*get)(const char *), const char *specific, const char *general)
{
    const char *v = get(specific);
    if (v && *v)
        return v;
    v = general ? get(general) : NULL;
    return v && *v ? v : NULL;
}

static long
env_long(const char *(*get)(const char *), const char *a, const char *b, long dflt, long min,
         long max)
{
    const char *v = env2(get, a, b);
    if (!v)
        return dflt;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    return errno || *end || x < min || x > max ? dflt : x;
}

/* Splits url into scheme/host/port; -1 if it is not http(s)://host[:port][/path]. */
static int
parse_url(struct otel_config *c, char *err, size_t errlen)
{
    const char *u = c->url, *rest;
    if (!strncasecmp(u, "http://", 7)) {
        c->https = false;
        rest = u + 7;
    } else if (!strncasecmp(u, "https://", 8)) {
        c->https = true;
        rest = u + 8;
    } else {
        snprintf(err, errlen, "OTLP endpoint %s: only http:// and https:// are supported", u);
        return -1;
    }
    size_t hl = strcspn(rest, ":/?#");
    if (!hl || hl >= sizeof c->host || rest[0] == '[') {
        snprintf(err, errlen, "OTLP endpoint %s: no usable host", u);
        return -1;
    }
    memcpy(c->host, rest, hl);
    c->host[hl] = 0;
    c->port = c->https ? 443 : 80;
    if (rest[hl] == ':') {
        char *end;
        long p = strtol(rest + hl + 1, &end, 10);
        if (p < 1 || p > 65535 || (*end && *end != '/')) {
            snprintf(err, errlen, "OTLP endpoint %s: bad port", u);
            return -1;
        }
        c->port = (int)p;
    }
    struct in_addr a;
    c->host_is_ip = inet_pton(AF_INET, c->host, &a) == 1;
    return 0;
}

static int
read_ca(struct otel_config *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "OTEL_EXPORTER_OTLP_CERTIFICATE %s: %s", path, strerror(errno));
        return -1;
    }
    c->ca_pem = malloc(CA_MAX_BYTES + 1);
    size_t n = c->ca_pem ? fread(c->ca_pem, 1, CA_MAX_BYTES + 1, f) : 0;
    fclose(f);
    if (!n || n > CA_MAX_BYTES) {
        snprintf(err, errlen, "OTEL_EXPORTER_OTLP_CERTIFICATE %s: empty, unreadable or over 1 MiB",
                 path);
        return -1;
    }
    c->ca_pem[n] = 0;
    c->ca_len = n;
    return 0;
}

static bool
exporter_on(const char *(*get)(const char *), void (*warn)(const char *))
{
    const char *dis = get("OTEL_SDK_DISABLED");
    if (dis && !strcasecmp(dis, "true"))
        return false;
    const char *ex = get("OTEL_TRACES_EXPORTER");
    if (!ex || !*ex)
        return env2(get, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT");
    bool otlp = false;
    char list[256];
    snprintf(list, sizeof list, "%s", ex);
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        trim(t);
        if (!strcasecmp(t, "none"))
            return false;
        if (!strcasecmp(t, "otlp"))
            otlp = true;
        else if (warn)
            warn("OTEL_TRACES_EXPORTER: only otlp (and none) are supported");
    }
    return otlp;
}

static int
build_resource(struct otel_config *c, const char *(*get)(const char *), char *err, size_t errlen)
{
    struct otel_kv attrs[OTEL_MAX_RESOURCE_ATTRS];
    int n = otel_parse_kv_list(get("OTEL_RESOURCE_ATTRIBUTES"), attrs, OTEL_MAX_RESOURCE_ATTRS - 1);
    if (n < 0) {
        snprintf(err, errlen, "OTEL_RESOURCE_ATTRIBUTES: not a list of key=value pairs (at most %d)",
                 OTEL_MAX_RESOURCE_ATTRS - 1);
        return -1;
    }
    const char *svc = get("OTEL_SERVICE_NAME");
    const char *from_attrs = NULL;
    for (int i = 0; i < n; i++)
        if (!strcmp(attrs[i].key, "service.name"))
            from_attrs = attrs[i].value;
    snprintf(c->resource[0].key, sizeof c->resource[0].key, "service.name");
    snprintf(c->resource[0].value, sizeof c->resource[0].value, "%s",
             svc && *svc ? svc : from_attrs ? from_attrs : "omjob-operator");
    c->nresource = 1;
    for (int i = 0; i < n; i++)
        if (strcmp(attrs[i].key, "service.name"))
            c->resource[c->nresource++] = attrs[i];
    return 0;
}

int
otel_config_from_env(struct otel_config *c, const char *(*get)(const char *),
                     void (*warn)(const char *), char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    if (!exporter_on(get, warn))
        return 0;
    const char *tr = get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    const char *base = get("OTEL_EXPORTER_OTLP_ENDPOINT");
    if (tr && *tr) {
        snprintf(c->url, sizeof c->url, "%s", tr); /* used as it is */
    } else {
        const char *b = base && *base ? base : OTEL_DEFAULT_ENDPOINT;
        size_t bl = strlen(b);
        snprintf(c->url, sizeof c->url, "%s%sv1/traces", b, bl && b[bl - 1] == '/' ? "" : "/");
    }
    if (parse_url(c, err, errlen))
        goto fail;
    c->nheaders = 0;
    static const char *const hvars[] = {"OTEL_EXPORTER_OTLP_HEADERS",
                                        "OTEL_EXPORTER_OTLP_TRACES_HEADERS"};
    for (size_t i = 0; i < 2; i++) {
        int n = otel_parse_kv_list(get(hvars[i]), c->headers + c->nheaders,
                                   OTEL_MAX_HEADERS - c->nheaders);
        if (n < 0) { /* the text is never quoted: it holds secrets */
            snprintf(err, errlen, "%s: not a list of key=value pairs (at most %d)", hvars[i],
                     OTEL_MAX_HEADERS);
            goto fail;
        }
        c->nheaders += (size_t)n;
    }
    if (build_resource(c, get, err, errlen))
        goto fail;
    const char *ca = env2(get, "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "OTEL_EXPORTER_OTLP_CERTIFICATE");
    if (ca && read_ca(c, ca, err, errlen))
        goto fail;
    const char *proto = env2(get, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL");
    if (proto && strcmp(proto, "http/json") && warn)
        warn("OTEL_EXPORTER_OTLP_PROTOCOL: only http/json is supported; sending http/json");
    const char *gz = env2(get, "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION");
    if (gz && strcmp(gz, "none") && warn)
        warn("OTEL_EXPORTER_OTLP_COMPRESSION: not supported; sending uncompressed");
    c->timeout_ms = env_long(get, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT",
                             10000, 1, 600000);
    c->schedule_delay_ms = env_long(get, "OTEL_BSP_SCHEDULE_DELAY", NULL, 5000, 0, 3600000);
    c->max_queue = env_long(get, "OTEL_BSP_MAX_QUEUE_SIZE", NULL, 2048, 1, 65536);
    c->max_batch = env_long(get, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", NULL, 512, 1, 65536);
    if (c->max_batch > c->max_queue)
        c->max_batch = c->max_queue;
    c->enabled = true;
    return 0;
fail:
    otel_config_free(c);
    return -1;
}

void
otel_config_free(struct otel_config *c)
{
    free(c->ca_pem);
    c->ca_pem = NULL;
    c->ca_len = 0;
    c->enabled = false;
}

/* --- ids ------------------------------------------------------------------------------ */

static void
digest(uint8_t out[32], const char *kind, const char *uid, long run, const char *name, long index)
{
    br_sha256_context h;
    br_sha256_init(&h);
    char tail[64];
    br_sha256_update(&h, kind, strlen(kind) + 1);
    br_sha256_update(&h, uid ? uid : "", strlen(uid ? uid : "") + 1);
    int n = snprintf(tail, sizeof tail, "%ld", run);
    br_sha256_update(&h, tail, (size_t)n + 1);
    if (name) {
        br_sha256_update(&h, name, strlen(name) + 1);
        n = snprintf(tail, sizeof tail, "%ld", index);
        br_sha256_update(&h, tail, (size_t)n);
    }
    br_sha256_out(&h, out);
}

static void
not_zero(uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return;
    b[n - 1] = 1; /* an all-zero id is invalid (W3C, OTLP) */
}

void
otel_trace_id(uint8_t out[16], const char *uid, long run)
{
    uint8_t d[32];
    digest(d, "otel-trace", uid, run, NULL, 0);
    memcpy(out, d, 16);
    not_zero(out, 16);
}

void
otel_span_id(uint8_t out[8], const char *uid, long run, const char *name, long index)
{
    uint8_t d[32];
    digest(d, "otel-span", uid, run, name ? name : "", index);
    memcpy(out, d, 8);
    not_zero(out, 8);
}

void
otel_hex(char *out, const uint8_t *b, size_t n)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[b[i] >> 4];
        out[2 * i + 1] = hx[b[i] & 15];
    }
    out[2 * n] = 0;
}

void
otel_traceparent(char out[OTEL_TRACEPARENT_LEN], const uint8_t trace[16], const uint8_t span[8])
{
    char t[33], s[17];
    otel_hex(t, trace, 16);
    otel_hex(s, span, 8);
    snprintf(out, OTEL_TRACEPARENT_LEN, "00-%s-%s-01", t, s);
}

/* --- encoding ------------------------------------------------------------------------- */

static int
str_field(struct buf *b, const char *k, const char *v, bool comma)
{
    int rc = buf_appends(b, comma ? ",\"" : "\"");
    rc |= buf_appends(b, k);
    rc |= buf_appends(b, "\":\"");
    rc |= buf_append_json_escaped(b, v ? v : "");
    rc |= buf_appends(b, "\"");
    return rc;
}

static int
attr_json(struct buf *b, const char *key, enum otel_attr_type t, const char *s, int64_t i)
{
    int rc = buf_appends(b, "{");
    rc |= str_field(b, "key", key, false);
    switch (t) {
    case OTEL_STR:
        rc |= buf_appends(b, ",\"value\":{");
        rc |= str_field(b, "stringValue", s, false);
        rc |= buf_appends(b, "}}");
        break;
    case OTEL_INT:
        rc |= buf_printf(b, ",\"value\":{\"intValue\":\"%lld\"}}", (long long)i);
        break;
    case OTEL_BOOL:
        rc |= buf_printf(b, ",\"value\":{\"boolValue\":%s}}", i ? "true" : "false");
        break;
    }
    return rc;
}

int
otel_span_json(struct buf *b, const struct otel_span *s)
{
    char tid[33], sid[17], pid[17];
    otel_hex(tid, s->trace_id, 16);
    otel_hex(sid, s->span_id, 8);
    int64_t start = s->start_ms > 0 ? s->start_ms : 0;
    int64_t end = s->end_ms > start ? s->end_ms : start;
    int rc = buf_printf(b, "{\"traceId\":\"%s\",\"spanId\":\"%s\"", tid, sid);
    if (s->has_parent) {
        otel_hex(pid, s->parent_id, 8);
        rc |= buf_printf(b, ",\"parentSpanId\":\"%s\"", pid);
    }
    rc |= str_field(b, "name", s->name, true);
    rc |= buf_printf(b, ",\"kind\":%d,\"startTimeUnixNano\":\"%lld000000\","
                        "\"endTimeUnixNano\":\"%lld000000\",\"attributes\":[",
                     OTEL_KIND_INTERNAL, (long long)start, (long long)end);
    bool first = true;
    for (size_t i = 0; i < s->nattrs; i++) {
        const struct otel_attr *a = &s->attrs[i];
        if (a->type == OTEL_STR && (!a->s || !*a->s))
            continue;
        if (!first)
            rc |= buf_appends(b, ",");
        first = false;
        rc |= attr_json(b, a->key, a->type, a->s, a->i);
    }
    rc |= buf_printf(b, "],\"status\":{\"code\":%d", (int)s->status);
    if (s->status == OTEL_STATUS_ERROR && s->status_message && *s->status_message)
        rc |= str_field(b, "message", s->status_message, true);
    rc |= buf_appends(b, "}}");
    return rc ? BUF_TOO_BIG : BUF_OK;
}

int
otel_request_json(struct buf *b, const struct otel_config *c, const char *scope_version,
                  const char *spans_json, size_t spans_len)
{
    int rc = buf_appends(b, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
    for (size_t i = 0; i < c->nresource; i++) {
        if (i)
            rc |= buf_appends(b, ",");
        rc |= attr_json(b, c->resource[i].key, OTEL_STR, c->resource[i].value, 0);
    }
    rc |= buf_appends(b, "]},\"scopeSpans\":[{\"scope\":{\"name\":\"omjob-operator\"");
    rc |= str_field(b, "version", scope_version, true);
    rc |= buf_appends(b, "},\"spans\":[");
    rc |= buf_append(b, spans_json, spans_len);
    rc |= buf_appends(b, "]}]}]}");
    return rc ? BUF_TOO_BIG : BUF_OK;
}

enum otel_verdict
otel_classify(long status)
{
    if (status >= 200 && status < 300)
        return OTEL_DONE;
    if (status == 0 || status == 429 || status == 502 || status == 503 || status == 504)
        return OTEL_RETRY;
    return OTEL_DROP;
}

int64_t
otel_partial_success(const char *body, size_t len, char *msg, size_t msglen)
{
    if (msglen)
        msg[0] = 0;
    cJSON *r = body && len ? cJSON_ParseWithLength(body, len) : NULL;
    const cJSON *ps = cJSON_GetObjectItemCaseSensitive(r, "partialSuccess");
    const cJSON *rej = cJSON_GetObjectItemCaseSensitive(ps, "rejectedSpans");
    int64_t n = 0;
    if (cJSON_IsNumber(rej))
        n = (int64_t)rej->valuedouble;
    else if (cJSON_IsString(rej))
        n = strtoll(rej->valuestring, NULL, 10);
    const char *m = json_str(ps, "errorMessage");
    if (m && msglen)
        snprintf(msg, msglen, "%s", m);
    cJSON_Delete(r);
    return n < 0 ? 0 : n;
}
