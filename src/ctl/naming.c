#include "ctl/naming.h"

#include <stdio.h>
#include <string.h>

#define HASH_HEX 8

uint64_t
naming_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ull;
    }
    return h;
}

static bool
is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool
is_alnum(char c)
{
    return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* One DNS-1123 label of length n starting at s (no length cap: subdomains check the total). */
static bool
label_chars_ok(const char *s, size_t n)
{
    if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1])) return false;
    for (size_t i = 1; i + 1 < n; i++)
        if (!is_lower_alnum(s[i]) && s[i] != '-') return false;
    return true;
}

bool
naming_is_dns1123_label(const char *s)
{
    if (!s) return false;
    size_t n = strlen(s);
    return n <= NAMING_LABEL_MAX && label_chars_ok(s, n);
}

bool
naming_is_dns1123_subdomain(const char *s)
{
    if (!s) return false;
    size_t n = strlen(s);
    if (n == 0 || n > NAMING_SUBDOMAIN_MAX) return false;
    const char *p = s;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (!label_chars_ok(p, len)) return false;
        if (!dot) return true;
        p = dot + 1;
    }
}

static bool
value_chars_ok(const char *s, size_t n)
{
    if (n == 0) return false;
    if (!is_alnum(s[0]) || !is_alnum(s[n - 1])) return false;
    for (size_t i = 1; i + 1 < n; i++)
        if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.') return false;
    return true;
}

bool
naming_is_label_value(const char *s)
{
    if (!s) return false;
    size_t n = strlen(s);
    return n == 0 || (n <= NAMING_LABEL_MAX && value_chars_ok(s, n));
}

bool
naming_is_qualified_name(const char *s)
{
    if (!s) return false;
    const char *slash = strchr(s, '/');
    const char *name = slash ? slash + 1 : s;
    if (slash) {
        char prefix[NAMING_SUBDOMAIN_MAX + 1];
        size_t pl = (size_t)(slash - s);
        if (pl == 0 || pl > NAMING_SUBDOMAIN_MAX) return false;
        memcpy(prefix, s, pl);
        prefix[pl] = '\0';
        if (!naming_is_dns1123_subdomain(prefix)) return false;
    }
    size_t n = strlen(name);
    return n <= NAMING_LABEL_MAX && value_chars_ok(name, n);
}

/* Copies at most max characters of src into dst, mapping each through keep() or to '-',
 * then trims non-alphanumerics at both ends. Returns the length written. */
static size_t
sanitized_prefix(char *dst, const char *src, size_t max, bool lower)
{
    size_t n = 0;
    for (; n < max && src[n]; n++) {
        char c = src[n];
        if (lower && c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        bool ok = lower ? is_lower_alnum(c) : (is_alnum(c) || c == '-' || c == '_' || c == '.');
        dst[n] = ok ? c : '-';
    }
    size_t start = 0;
    while (start < n && !is_alnum(dst[start]))
        start++;
    while (n > start && !is_alnum(dst[n - 1]))
        n--;
    memmove(dst, dst + start, n - start);
    n -= start;
    dst[n] = '\0';
    return n;
}

static unsigned
hash32(const char *s)
{
    uint64_t h = naming_hash(s);
    return (unsigned)((h ^ (h >> 32)) & 0xffffffffu);
}

/* out = the non-empty parts joined with '-'; callers keep the total within 63. */
static void
join(char out[static NAMING_LABEL_MAX + 1], const char *a, const char *b, const char *c)
{
    const char *parts[3] = {a, b, c};
    size_t len = 0;
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(parts[i]);
        if (!n) continue;
        if (len && len < NAMING_LABEL_MAX) out[len++] = '-';
        if (n > NAMING_LABEL_MAX - len) n = NAMING_LABEL_MAX - len;
        memcpy(out + len, parts[i], n);
        len += n;
    }
    out[len] = '\0';
}

int
naming_child(char out[static NAMING_LABEL_MAX + 1], const char *parent, const char *suffix)
{
    out[0] = '\0';
    if (!parent || !*parent || !suffix) return -1;
    size_t pl = strlen(parent), sl = strlen(suffix);
    if (sl > NAMING_SUFFIX_MAX || !label_chars_ok(suffix, sl)) return -1;
    if (pl + 1 + sl <= NAMING_LABEL_MAX && naming_is_dns1123_label(parent)) {
        snprintf(out, NAMING_LABEL_MAX + 1, "%s-%s", parent, suffix);
        return 0;
    }
    char prefix[NAMING_LABEL_MAX + 1];
    size_t room = NAMING_LABEL_MAX - sl - 1 - HASH_HEX - 1;
    sanitized_prefix(prefix, parent, room, true);
    char hex[HASH_HEX + 1];
    snprintf(hex, sizeof hex, "%08x", hash32(parent));
    join(out, prefix, hex, suffix);
    return 1;
}

int
naming_label_value(char out[static NAMING_LABEL_MAX + 1], const char *value)
{
    out[0] = '\0';
    if (!value) return -1;
    if (naming_is_label_value(value)) {
        snprintf(out, NAMING_LABEL_MAX + 1, "%s", value);
        return 0;
    }
    char prefix[NAMING_LABEL_MAX + 1];
    sanitized_prefix(prefix, value, NAMING_LABEL_MAX - HASH_HEX - 1, false);
    char hex[HASH_HEX + 1];
    snprintf(hex, sizeof hex, "%08x", hash32(value));
    join(out, prefix, hex, "");
    return 1;
}
