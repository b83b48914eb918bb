#include "t.h"

#include "ctl/engine.h"

static void
chain(struct step *s, size_t n)
{
    static const char *const names[] = {"a", "b", "c", "d", "e", "f"};
    for (size_t i = 0; i < n; i++) {
        s[i] = (struct step){.name = names[i]};
        if (i) {
            s[i].ndeps = 1;
            s[i].deps[0] = i - 1;
        }
    }
}

TEST(engine_omjob_is_main_then_exit_whatever_main_did)
{
    struct step s[2] = {{.name = "main"}, {.name = "exit", .exit_step = true}};
    size_t start[2];
    T_EQ_INT(engine_phase(s, 2), PHASE_PENDING);
    T_EQ_INT(engine_ready(s, 2, 0, start), 1);
    T_EQ_INT(start[0], 0);
    s[0].state = STEP_RUNNING;
    T_EQ_INT(engine_ready(s, 2, 0, start), 0);
    T_EQ_INT(engine_phase(s, 2), PHASE_RUNNING);
    s[0].state = STEP_FAILED;
    T_EQ_INT(engine_ready(s, 2, 0, start), 1); /* the exit step runs after a failure too */
    T_EQ_INT(start[0], 1);
    T_EQ_INT(engine_phase(s, 2), PHASE_EXIT_RUNNING);
    s[1].state = STEP_RUNNING;
    T_EQ_INT(engine_phase(s, 2), PHASE_EXIT_RUNNING);
    s[1].state = STEP_SUCCEEDED;
    T_EQ_INT(engine_phase(s, 2), PHASE_FAILED); /* main failed: the workflow failed */
    s[0].state = STEP_SUCCEEDED;
    T_EQ_INT(engine_phase(s, 2), PHASE_SUCCEEDED);
    s[1].state = STEP_RETRYING;
    T_EQ_INT(engine_ready(s, 2, 0, start), 1);
    T_EQ_INT(start[0], 1);
}

TEST(engine_fail_fast_skips_the_rest_of_a_chain)
{
    struct step s[4];
    chain(s, 4);
    size_t start[4];
    s[0].state = STEP_SUCCEEDED;
    s[1].state = STEP_FAILED;
    T_EQ_INT(engine_ready(s, 4, 0, start), 0);
    T_EQ_INT(engine_skip_blocked(s, 4), 2);
    T_EQ_INT(s[2].state, STEP_SKIPPED);
    T_EQ_INT(s[3].state, STEP_SKIPPED);
    T_EQ_INT(engine_phase(s, 4), PHASE_FAILED);
}

TEST(engine_dag_parallel_up_to_max_concurrent)
{
    /* a; b, c, d depend on a; e depends on b and c */
    struct step s[5] = {{.name = "a"},
                        {.name = "b", .ndeps = 1, .deps = {0}},
                        {.name = "c", .ndeps = 1, .deps = {0}},
                        {.name = "d", .ndeps = 1, .deps = {0}},
                        {.name = "e", .ndeps = 2, .deps = {1, 2}}};
    size_t start[5];
    T_EQ_INT(engine_ready(s, 5, 2, start), 1);
    s[0].state = STEP_SUCCEEDED;
    T_EQ_INT(engine_ready(s, 5, 2, start), 2);
    T_EQ_INT(start[0], 1);
    T_EQ_INT(start[1], 2);
    s[1].state = STEP_RUNNING;
    T_EQ_INT(engine_ready(s, 5, 2, start), 1); /* one slot left of two */
    T_EQ_INT(start[0], 2);
    T_EQ_INT(engine_ready(s, 5, 0, start), 2); /* unlimited: c and d */
    s[1].state = STEP_SUCCEEDED;
    s[2].state = STEP_SUCCEEDED;
    s[3].state = STEP_RUNNING;
    T_EQ_INT(engine_ready(s, 5, 0, start), 1);
    T_EQ_INT(start[0], 4);
    /* a failure while d runs: nothing new starts; e is skipped; d finishes */
    s[4].state = STEP_WAITING;
    s[2].state = STEP_FAILED;
    T_EQ_INT(engine_ready(s, 5, 0, start), 0);
    T_EQ_INT(engine_skip_blocked(s, 5), 1);
    T_EQ_INT(engine_phase(s, 5), PHASE_RUNNING);
    s[3].state = STEP_SUCCEEDED;
    T_EQ_INT(engine_phase(s, 5), PHASE_FAILED);
}

TEST(engine_validate_names_cycles_and_missing_steps)
{
    char err[256];
    struct step s[3];
    chain(s, 3);
    T_EQ_INT(engine_validate(s, 3, err, sizeof err), 0);
    s[0].ndeps = 1;
    s[0].deps[0] = 2; /* a -> c -> b -> a */
    T_EQ_INT(engine_validate(s, 3, err, sizeof err), -1);
    T_CONTAINS(err, "dependency cycle: ");
    T_CONTAINS(err, "a -> c -> b -> a");
    chain(s, 3);
    s[2].name = "a";
    T_EQ_INT(engine_validate(s, 3, err, sizeof err), -1);
    T_CONTAINS(err, "duplicate step name \"a\"");
    chain(s, 3);
    s[1].deps[0] = 7;
    T_EQ_INT(engine_validate(s, 3, err, sizeof err), -1);
    T_CONTAINS(err, "missing step");
    chain(s, 3);
    s[1].deps[0] = 1;
    T_EQ_INT(engine_validate(s, 3, err, sizeof err), -1);
    T_CONTAINS(err, "itself");
}
