#include "ctl/engine.h"

#include <stdio.h>
#include <string.h>

static bool
is_final(enum step_state st)
{
    return st == STEP_SUCCEEDED || st == STEP_FAILED || st == STEP_SKIPPED;
}

bool
engine_main_done(const struct step *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!s[i].exit_step && !is_final(s[i].state))
            return false;
    return true;
}

bool
engine_main_succeeded(const struct step *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!s[i].exit_step && s[i].state != STEP_SUCCEEDED)
            return false;
    return true;
}

static bool
any_failed(const struct step *s, size_t n, bool exit_steps)
{
    for (size_t i = 0; i < n; i++)
        if (s[i].exit_step == exit_steps && s[i].state == STEP_FAILED)
            return true;
    return false;
}

static bool
deps_succeeded(const struct step *s, const struct step *st)
{
    for (size_t d = 0; d < st->ndeps; d++)
        if (s[st->deps[d]].state != STEP_SUCCEEDED)
            return false;
    return true;
}

size_t
engine_ready(const struct step *s, size_t n, size_t max_concurrent, size_t *start)
{
    bool exit_phase = engine_main_done(s, n);
    if (any_failed(s, n, exit_phase))
        return 0; /* fail fast: running steps finish, nothing new starts */
    size_t running = 0, k = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i].state == STEP_RUNNING)
            running++;
    for (size_t i = 0; i < n; i++) {
        if (max_concurrent && running + k >= max_concurrent)
            break;
        if (s[i].exit_step != exit_phase)
            continue;
        if (s[i].state == STEP_RETRYING || (s[i].state == STEP_WAITING && deps_succeeded(s, &s[i])))
            start[k++] = i;
    }
    return k;
}

size_t
engine_skip_blocked(struct step *s, size_t n)
{
    size_t changed = 0;
    bool failed = any_failed(s, n, false);
    for (bool again = true; again;) {
        again = false;
        for (size_t i = 0; i < n; i++) {
            if (s[i].exit_step || s[i].state != STEP_WAITING)
                continue;
            bool blocked = failed;
            for (size_t d = 0; d < s[i].ndeps && !blocked; d++)
                blocked = s[s[i].deps[d]].state == STEP_FAILED ||
                          s[s[i].deps[d]].state == STEP_SKIPPED;
            if (blocked) {
                s[i].state = STEP_SKIPPED;
                changed++;
                again = true;
            }
        }
    }
    return changed;
}

enum workflow_phase
engine_phase(const struct step *s, size_t n)
{
    bool started = false, all_final = true, ok = true;
    for (size_t i = 0; i < n; i++) {
        if (s[i].state != STEP_WAITING)
            started = true;
        if (!is_final(s[i].state))
            all_final = false;
        if (s[i].state != STEP_SUCCEEDED)
            ok = false;
    }
    if (all_final)
        return ok ? PHASE_SUCCEEDED : PHASE_FAILED;
    if (!started)
        return PHASE_PENDING;
    return engine_main_done(s, n) ? PHASE_EXIT_RUNNING : PHASE_RUNNING;
}

/* Depth-first search with colours; on a cycle writes "a -> b -> a" into err. */
static int
dfs(const struct step *s, size_t i, unsigned char *colour, size_t *stack, size_t depth,
    char *err, size_t errlen)
{
    colour[i] = 1;
    stack[depth] = i;
    for (size_t d = 0; d < s[i].ndeps; d++) {
        size_t j = s[i].deps[d];
        if (colour[j] == 1) {
            size_t from = 0;
            while (stack[from] != j)
                from++;
            int off = snprintf(err, errlen, "dependency cycle: ");
            for (size_t k = from; k <= depth && off >= 0 && (size_t)off < errlen; k++)
                off += snprintf(err + off, errlen - (size_t)off, "%s -> ", s[stack[k]].name);
            if (off >= 0 && (size_t)off < errlen)
                snprintf(err + off, errlen - (size_t)off, "%s", s[j].name);
            return -1;
        }
        if (colour[j] == 0 && dfs(s, j, colour, stack, depth + 1, err, errlen))
            return -1;
    }
    colour[i] = 2;
    return 0;
}

int
engine_validate(const struct step *s, size_t n, char *err, size_t errlen)
{
    if (n > ENGINE_MAX_STEPS) {
        snprintf(err, errlen, "too many steps: %zu (at most %d)", n, ENGINE_MAX_STEPS);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (!s[i].name || !*s[i].name) {
            snprintf(err, errlen, "step %zu has no name", i + 1);
            return -1;
        }
        for (size_t j = 0; j < i; j++)
            if (!strcmp(s[i].name, s[j].name)) {
                snprintf(err, errlen, "duplicate step name \"%s\"", s[i].name);
                return -1;
            }
        for (size_t d = 0; d < s[i].ndeps; d++) {
            if (s[i].deps[d] >= n) {
                snprintf(err, errlen, "step \"%s\" depends on a missing step", s[i].name);
                return -1;
            }
            if (s[i].deps[d] == i) {
                snprintf(err, errlen, "step \"%s\" depends on itself", s[i].name);
                return -1;
            }
        }
    }
    unsigned char colour[ENGINE_MAX_STEPS] = {0};
    size_t stack[ENGINE_MAX_STEPS];
    for (size_t i = 0; i < n; i++)
        if (colour[i] == 0 && dfs(s, i, colour, stack, 0, err, errlen))
            return -1;
    return 0;
}

const char *
engine_phase_name(enum workflow_phase p)
{
    static const char *const names[] = {"Pending", "Running", "ExitHandlerRunning", "Succeeded",
                                        "Failed"};
    return names[p];
}
