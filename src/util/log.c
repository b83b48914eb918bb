#include "util/log.h"

#include "util/buf.h"
#include "util/timeutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static enum log_level g_level = LOG_INFO;
static int g_fd = 2;

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
    for (;;) {
        const char *key = va_arg(ap, const char *);
        if (!key)
            break;
        append_field(&b, key, va_arg(ap, const char *));
    }
    va_end(ap);
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
