#include "kube/nsterm.h"

#include <stdio.h>
#include <string.h>

static struct {
    char ns[64];
    int64_t at;
} marks[NSTERM_MAX];

static int
find(const char *ns)
{
    for (int i = 0; i < NSTERM_MAX; i++)
        if (marks[i].ns[0] && !strcmp(marks[i].ns, ns))
            return i;
    return -1;
}

void
nsterm_mark(const char *ns, int64_t now)
{
    if (!ns || !*ns || strlen(ns) >= sizeof marks[0].ns)
        return;
    int i = find(ns);
    if (i < 0) { /* a free slot, else the oldest mark */
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
}

void
nsterm_clear(const char *ns)
{
    int i = ns ? find(ns) : -1;
    if (i >= 0)
        marks[i].ns[0] = '\0';
}

bool
nsterm_is(const char *ns, int64_t now)
{
    int i = ns ? find(ns) : -1;
    if (i < 0)
        return false;
    if (now - marks[i].at > NSTERM_TTL_MS) {
        marks[i].ns[0] = '\0';
        return false;
    }
    return true;
}

void
nsterm_reset(void)
{
    memset(marks, 0, sizeof marks);
}
