/* Status bodies of API errors (kube/status.c kube_status_parse): the text of every log line,
 * event and condition that quotes the API server.
 * Input: 2 bytes pick the HTTP code, the rest is the body.
 * Invariants: text, reason and cause are NUL-terminated within their arrays, valid UTF-8,
 * free of control characters; the text is never empty; code is kept; kube_classify gives one
 * of its three classes, OK exactly for 2xx. */
#include "fuzz.h"

#include "kube/status.h"

#include <string.h>

static void
check_text(const char *what, const char *s, size_t cap)
{
    size_t len = strnlen(s, cap);
    FUZZ_CHECK(len < cap, "%s not terminated", what);
    FUZZ_CHECK(fuzz_utf8_valid(s, len), "%s is not valid UTF-8: \"%s\"", what, s);
    for (size_t i = 0; i < len; i++)
        FUZZ_CHECK((unsigned char)s[i] >= 0x20 && s[i] != 0x7f, "%s has control byte 0x%02x",
                   what, (unsigned char)s[i]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    static const long codes[] = {0, 200, 201, 400, 401, 403, 404, 409, 410, 415, 422, 429, 500, 503, 504};
    long code = data[0] < 16 * 15 ? codes[data[0] % 15] : (long)(data[0] << 8 | data[1]) - 1000;
    struct kube_status st;
    memset(&st, 0x41, sizeof st); /* garbage before: parse must set everything */
    kube_status_parse(&st, code, (const char *)data + 2, size - 2);
    FUZZ_CHECK(st.code == code, "code %ld != %ld", st.code, code);
    check_text("text", st.text, sizeof st.text);
    check_text("reason", st.reason, sizeof st.reason);
    check_text("cause", st.cause, sizeof st.cause);
    FUZZ_CHECK(st.text[0] != '\0', "empty text");
    enum kube_class c = kube_classify(code, st.reason);
    FUZZ_CHECK(c == KUBE_OK || c == KUBE_TRANSIENT || c == KUBE_PERMANENT, "class %d", (int)c);
    FUZZ_CHECK((c == KUBE_OK) == (code >= 200 && code < 300), "code %ld class %d", code, (int)c);
    return 0;
}
