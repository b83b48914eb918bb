/* OMJob placeholders in env values (ctl/cronomjob.c cronomjob_substitute): what a CronOMJob's
 * template says about the OMJob it creates ("{{ omjob.name }}", "{{ omjob.uid }}").
 * Input: 1 byte splits a name/uid prefix from the template text (NUL-terminated copies).
 * Invariants: the result equals a straightforward reference substitution; text without
 * "{{" comes back unchanged. */
#include "fuzz.h"

#include "ctl/cronomjob.h"

#include <string.h>

/* The reference: at each position, "{{", blanks, "omjob.", field, blanks, "}}". */
static size_t
ref_match(const char *s, const char *field)
{
    size_t i = 0;
    if (s[0] != '{' || s[1] != '{') return 0;
    i = 2;
    while (s[i] == ' ' || s[i] == '\t') i++;
    size_t fl = strlen(field);
    if (strncmp(s + i, "omjob.", 6) != 0 || strncmp(s + i + 6, field, fl) != 0) return 0;
    i += 6 + fl;
    while (s[i] == ' ' || s[i] == '\t') i++;
    return s[i] == '}' && s[i + 1] == '}' ? i + 2 : 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 64 * 1024) return 0;
    size_t split = data[0] % 64;
    if (split > size - 1) split = size - 1;
    char *name = strndup((const char *)data + 1, split / 2);
    char *uid = strndup((const char *)data + 1 + split / 2, split - split / 2);
    char *text = strndup((const char *)data + 1 + split, size - 1 - split);
    char *got = cronomjob_substitute(text, name, uid);
    FUZZ_CHECK(got != NULL, "substitution failed");
    size_t cap = strlen(text) * (strlen(name) + strlen(uid) + 1) + 1;
    char *want = malloc(cap), *w = want;
    for (const char *s = text; *s;) {
        size_t n;
        if ((n = ref_match(s, "name")) != 0) {
            w = stpcpy(w, name);
            s += n;
        } else if ((n = ref_match(s, "uid")) != 0) {
            w = stpcpy(w, uid);
            s += n;
        } else {
            *w++ = *s++;
        }
    }
    *w = '\0';
    FUZZ_CHECK(!strcmp(got, want), "got \"%s\", want \"%s\"", got, want);
    if (!strstr(text, "{{")) FUZZ_CHECK(!strcmp(got, text), "changed text without {{");
    free(want);
    free(got);
    free(text);
    free(uid);
    free(name);
    return 0;
}
