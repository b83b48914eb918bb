#include "kube/nsterm.h"

#include <stdio.h>
#include <string.h>

static struct {
    char ns[64];
    int64_t at;
    enum nsterm_state s;
} marks[NSTERM_MAX];

static const int64_t ttl_ms[] = {
    [NSTERM_UNKNOWN] = 0,
    [NSTERM_CHECKING] = NSTERM_CHECK_TTL_MS,
    [NSTERM_ACTIVE] = NSTERM_ACTIVE_TTL_MS,
    [NSTERM_TERMINATING] = NSTERM_TTL_MS,
};

static int
find(const char *ns)
{
    for (int i = 0; i < NSTERM_MAX; i++)
        if (marks[i].ns[0] && !strcmp(marks[i].ns, ns))
            return i;
    return -1;
}

void
nsterm_set(const char *ns, enum nsterm_state s, int64_t now)
{
    if (!ns || !*ns || strlen(ns) >= sizeof marks[0].ns)
        return;
    int i = find(ns);
    if (s == NSTERM_UNKNOWN) {
        if (i >= 0)
            marks[i].ns[0] = '\0';
        return;
    }
    if (i < 0) { /* a free slot, else the oldest entry */
        i = 0;
        for (int j = 0; j < NSTERM_MAX; j++) {
            if (!marks[j].ns[0]) {
                i = j;
                break;
            }
            if (marks[j].at < marks[i].at)
                i = j;
        }
        snprintf(marks[i].ns, sizeof marks[i].ns, "%s", ns);
    }
    marks[i].at = now;
    marks[i].s = s;
}

enum nsterm_state
nsterm_get(const char *ns, int64_t now)
{
    int i = ns ? find(ns) : -1;
    if (i < 0)
        return NSTERM_UNKNOWN;
    if (now - marks[i].at > ttl_ms[marks[i].s]) {
        marks[i].ns[0] = '\0';
        return NSTERM_UNKNOWN;
    }
    return marks[i].s;
}

void
nsterm_mark(const char *ns, int64_t now)
{
    nsterm_set(ns, NSTERM_TERMINATING, now);
}

bool
nsterm_is(const char *ns, int64_t now)
{
    return nsterm_get(ns, now) == NSTERM_TERMINATING;
}

void
nsterm_clear(const char *ns)
{
    nsterm_set(ns, NSTERM_UNKNOWN, 0);
}

void
nsterm_reset(void)
{
    memset(marks, 0, sizeof marks);
}
