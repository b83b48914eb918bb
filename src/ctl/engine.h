/* The step engine: pure decisions over a graph of steps, shared by every workflow kind.
 *
 * A workflow is an array of steps. Each has dependencies (indexes of earlier-declared or any
 * other steps) and a state derived by the controller from the cluster (pods, Jobs) and the
 * recorded status. Exit steps (OMJob's exit handler, Observatory's onExit) run after every
 * normal step is final, whatever the outcome. The engine answers three questions and does no
 * I/O: which steps may start now, is the workflow finished, and what is its phase.
 *
 * OMJob is [main, exit(exit)]; SequentialJob is a chain; Observatory is a DAG. */
#ifndef OMJ_CTL_ENGINE_H
#define OMJ_CTL_ENGINE_H

#include <stdbool.h>
#include <stddef.h>

#define ENGINE_MAX_STEPS 256
#define ENGINE_MAX_DEPS 32

enum step_state {
    STEP_WAITING,   /* not started, dependencies not all succeeded (or not yet startable) */
    STEP_RUNNING,   /* created, not final */
    STEP_SUCCEEDED,
    STEP_FAILED,    /* final failure (retries exhausted) */
    STEP_RETRYING,  /* this attempt failed, another attempt is allowed */
    STEP_SKIPPED,   /* will never run: a dependency failed (fail-fast) */
};

struct step {
    const char *name;
    bool exit_step;
    size_t ndeps;
    size_t deps[ENGINE_MAX_DEPS];
    enum step_state state;
};

enum workflow_phase { PHASE_PENDING, PHASE_RUNNING, PHASE_EXIT_RUNNING, PHASE_SUCCEEDED, PHASE_FAILED };

/* Fills start[] with the indexes of steps that may be started now (at most
 * max_concurrent - running, 0 = unlimited) in declaration order; returns how many. Normal
 * steps: WAITING with every dependency SUCCEEDED, or RETRYING; none once any normal step has
 * FAILED (fail fast). Exit steps: once every normal step is final (SUCCEEDED, FAILED or
 * SKIPPED), in the same way among themselves. */
size_t engine_ready(const struct step *s, size_t n, size_t max_concurrent, size_t *start);

/* Marks WAITING normal steps that can no longer run as SKIPPED: after a failure (fail
 * fast), or when a dependency is FAILED or SKIPPED. Returns how many changed. */
size_t engine_skip_blocked(struct step *s, size_t n);

/* Pending (nothing started), Running, ExitRunning (normal steps final, an exit step not),
 * Succeeded (every step succeeded), Failed (everything final, something failed). */
enum workflow_phase engine_phase(const struct step *s, size_t n);

/* Every normal step is final. */
bool engine_main_done(const struct step *s, size_t n);
/* No normal step failed (meaningful once engine_main_done). */
bool engine_main_succeeded(const struct step *s, size_t n);

/* Validates the graph: unique non-empty names, dependency indexes in range, no self
 * dependency, no cycle. Returns 0, or -1 with a message naming the step or the cycle. */
int engine_validate(const struct step *s, size_t n, char *err, size_t errlen);

const char *engine_phase_name(enum workflow_phase p);

#endif
