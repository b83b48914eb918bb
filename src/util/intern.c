#include "util/intern.h"

#include "util/hash.h"

#include <stdlib.h>
#include <string.h>

/* Open addressing, linear probing; twice as many slots as strings, so probes stay short.
 * Allocated on first use: a process that never interns pays nothing. */
#define SLOTS (2 * INTERN_MAX_STRINGS)

static char **slots;
static size_t count;

const char *
intern(const char *s)
{
    size_t len = strlen(s);
    if (len > INTERN_MAX_LEN)
        return NULL;
    if (!slots && !(slots = calloc(SLOTS, sizeof *slots)))
        return NULL;
    size_t i = (size_t)(hash_str(s) % SLOTS);
    for (; slots[i]; i = (i + 1) % SLOTS)
        if (strcmp(slots[i], s) == 0)
            return slots[i];
    if (count >= INTERN_MAX_STRINGS)
        return NULL;
    char *copy = malloc(len + 1);
    if (!copy)
        return NULL;
    memcpy(copy, s, len + 1);
    slots[i] = copy;
    count++;
    return copy;
}

const char *
intern_cut(const char *s, size_t max, bool *owned)
{
    if (!s)
        s = "";
    size_t len = strnlen(s, max);
    *owned = false;
    if (len <= INTERN_MAX_LEN) {
        char cut[INTERN_MAX_LEN + 1];
        memcpy(cut, s, len);
        cut[len] = '\0';
        const char *shared = intern(cut);
        if (shared)
            return shared;
    }
    char *own = strndup(s, len);
    *owned = own != NULL;
    return own;
}
