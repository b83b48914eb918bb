#include "kube/status.h"

#include "util/json.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

/* A bounded text being built: appends sanitised bytes, never splits a UTF-8 sequence. */
struct text {
    char *s;
    size_t len, cap;
};

/* Length of the well-formed UTF-8 sequence at s[0..n) (RFC 3629: no overlong forms, no
 * surrogates, nothing past U+10FFFF), or 1 for a byte that does not start one. */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 1;
    if (len == 1 || len > n)
        return 1;
    for (size_t k = 1; k < len; k++)
        if ((s[k] & 0xc0) != 0x80)
            return 1;
    if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) || (c == 0xf0 && s[1] < 0x90) ||
        (c == 0xf4 && s[1] > 0x8f))
        return 1;
    return len;
}

static void
text_add(struct text *t, const char *src, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)src[i];
        size_t seq = utf8_seq((const unsigned char *)src + i, n - i);
        if (t->len + seq >= t->cap)
            return;
        if (seq == 1) {
            t->s[t->len++] = c < 0x20 || c == 0x7f || c >= 0x80 ? ' ' : (char)c;
        } else {
            memcpy(t->s + t->len, src + i, seq);
            t->len += seq;
        }
        i += seq;
    }
    t->s[t->len] = '\0';
}

static void
text_str(struct text *t, const char *s)
{
    if (s)
        text_add(t, s, strlen(s));
}

static void
copy_field(char *dst, size_t cap, const char *s)
{
    struct text t = {dst, 0, cap};
    dst[0] = '\0';
    text_str(&t, s);
}

static const char *
phrase(long code)
{
    switch (code) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 413: return "Request Entity Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "";
    }
}

void
kube_status_parse(struct kube_status *st, long code, const char *body, size_t len)
{
    memset(st, 0, sizeof *st);
    st->code = code;
    if (code >= 200 && code < 300) {
        /* a success answer is the object itself (a whole pod, say), not a Status: not read */
        snprintf(st->text, sizeof st->text, "HTTP %ld", code);
        return;
    }
    struct text t = {st->text, 0, sizeof st->text};
    cJSON *root = body && len ? cJSON_ParseWithLength(body, len) : NULL;
    const char *kind = json_str(root, "kind"), *msg = json_str(root, "message");
    if (kind && !strcmp(kind, "Status") && msg && *msg) {
        copy_field(st->reason, sizeof st->reason, json_str(root, "reason"));
        text_str(&t, msg);
        bool opened = false;
        const cJSON *causes = cJSON_GetObjectItemCaseSensitive(json_obj(root, "details"), "causes");
        const cJSON *cause;
        bool first = true;
        cJSON_ArrayForEach(cause, causes)
        {
            const char *field = json_str(cause, "field"), *cmsg = json_str(cause, "message");
            if (first)
                copy_field(st->cause, sizeof st->cause, json_str(cause, "reason"));
            first = false;
            /* name a cause only when the message does not already carry it */
            if (!cmsg || !*cmsg || strstr(msg, cmsg))
                continue;
            text_str(&t, opened ? "; " : " (");
            opened = true;
            if (field && *field) {
                text_str(&t, field);
                text_str(&t, ": ");
            }
            text_str(&t, cmsg);
        }
        if (opened)
            text_str(&t, ")");
    } else {
        char head[48];
        snprintf(head, sizeof head, "HTTP %ld%s%s", code, *phrase(code) ? " " : "", phrase(code));
        text_str(&t, head);
        /* a short non-JSON body (a proxy's error page) says something; a long one does not */
        if (!root && body && len && len <= 200) {
            text_str(&t, ": ");
            text_add(&t, body, len);
        }
        if (code == 409 && root)
            copy_field(st->reason, sizeof st->reason, json_str(root, "reason"));
    }
    cJSON_Delete(root);
}

enum kube_class
kube_classify(long code, const char *reason)
{
    if (code >= 200 && code < 300)
        return KUBE_OK;
    if (code == 0 || code == 401 || code == 408 || code == 429 || code >= 500)
        return KUBE_TRANSIENT;
    if (code == 409)
        return reason && !strcmp(reason, "AlreadyExists") ? KUBE_PERMANENT : KUBE_TRANSIENT;
    return KUBE_PERMANENT;
}
