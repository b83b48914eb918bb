#include "util/log.h"

#include "util/buf.h"
#include "util/timeutil.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static enum log_level g_level = LOG_INFO;
static int g_fd = 2;

static struct {
    char key[LOG_CTX_KEY_MAX];
    char val[LOG_CTX_VAL_MAX];
} g_ctx[LOG_CTX_MAX];
static size_t g_ctx_n;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int
log_level_parse(const char *s)
{
    if (!s)
        return -1;
    if (!strcasecmp(s, "debug") || !strcasecmp(s, "trace"))
        return LOG_DEBUG;
    if (!strcasecmp(s, "info"))
        return LOG_INFO;
    if (!strcasecmp(s, "warn") || !strcasecmp(s, "warning"))
        return LOG_WARN;
    if (!strcasecmp(s, "error"))
        return LOG_ERROR;
    return -1;
}

void
log_set_level(enum log_level level)
{
    g_level = level;
}

enum log_level
log_get_level(void)
{
    return g_level;
}

void
log_set_fd(int fd)
{
    g_fd = fd < 0 ? 2 : fd;
}

size_t
log_ctx_mark(void)
{
    return g_ctx_n;
}

void
log_ctx_restore(size_t mark)
{
    if (mark < g_ctx_n)
        g_ctx_n = mark;
}

/* The innermost field named key (later ones shadow earlier ones), or -1. */
static int
ctx_find(const char *key)
{
    for (size_t i = g_ctx_n; i-- > 0;)
        if (!strcmp(g_ctx[i].key, key))
            return (int)i;
    return -1;
}

void
log_ctx_add(const char *key, const char *val)
{
    if (!key || !*key || !val || !*val)
        return;
    if (g_ctx_n == LOG_CTX_MAX)
        return;
    size_t i = g_ctx_n++;
    snprintf(g_ctx[i].key, sizeof g_ctx[i].key, "%s", key);
    snprintf(g_ctx[i].val, sizeof g_ctx[i].val, "%s", val);
}

const char *
log_ctx_get(const char *key)
{
    int i = key ? ctx_find(key) : -1;
    return i < 0 ? NULL : g_ctx[i].val;
}

void
log_ctx_object(const char *kind, const char *key)
{
    if (!kind || !key)
        return;
    char k[LOG_CTX_KEY_MAX], ns[LOG_CTX_VAL_MAX];
    const char *slash = strchr(key, '/');
    if (slash) {
        size_t n = (size_t)(slash - key);
        snprintf(ns, sizeof ns, "%.*s", (int)(n < sizeof ns ? n : sizeof ns - 1), key);
        snprintf(k, sizeof k, "%s.namespace", kind);
        log_ctx_add(k, ns);
    }
    snprintf(k, sizeof k, "%s.name", kind);
    log_ctx_add(k, slash ? slash + 1 : key);
}

static void
append_field(struct buf *b, const char *key, const char *val)
{
    buf_appends(b, ",\"");
    buf_append_json_escaped(b, key);
    if (!val) {
        buf_appends(b, "\":null");
        return;
    }
    buf_appends(b, "\":\"");
    buf_append_json_escaped(b, val);
    buf_appends(b, "\"");
}

void
log_msg(enum log_level level, const char *msg, ...)
{
    if (level < g_level)
        return;
    char when[TIME_RFC3339_MAX];
    time_fmt_rfc3339(when, time_now_ms(), 3);

    /* A log line is bounded: past 16 KiB the fields are dropped, not the process. */
    struct buf b;
    buf_init(&b, 16384);
    buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"", when, level_names[level]);
    buf_append_json_escaped(&b, msg);
    buf_appends(&b, "\"");
    va_list ap;
    va_start(ap, msg);
    bool shadowed[LOG_CTX_MAX] = {false};
    for (;;) {
        const char *key = va_arg(ap, const char *);
        if (!key)
            break;
        int i = ctx_find(key);
        if (i >= 0)
            shadowed[i] = true;
        append_field(&b, key, va_arg(ap, const char *));
    }
    va_end(ap);
    for (size_t i = 0; i < g_ctx_n; i++)
        if (!shadowed[i] && ctx_find(g_ctx[i].key) == (int)i)
            append_field(&b, g_ctx[i].key, g_ctx[i].val);
    if (buf_appends(&b, "}\n") != BUF_OK) { /* over the cap: say so rather than cut JSON */
        buf_reset(&b);
        buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"log line too long\"}\n",
                   when, level_names[level]);
    }
    if (b.len) {
        ssize_t w = write(g_fd, b.data, b.len);
        (void)w;
    }
    buf_free(&b);
}
