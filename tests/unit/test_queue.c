#include "t.h"

#include "kube/queue.h"
#include "loop.h"
#include "util/timeutil.h"

#include <stdio.h>
#include <stdlib.h>

/* What process() saw, in order. */
static char seen[64][32];
static int nseen;
static struct workqueue *cur_q;
static int readd_budget;      /* process() re-adds its own key this many times */
static const char *add_other; /* process() adds this key once */

static void
record_key(void *arg, const char *key)
{
    (void)arg;
    if (nseen < 64) snprintf(seen[nseen], sizeof seen[0], "%s", key);
    nseen++;
    if (readd_budget > 0) {
        readd_budget--;
        workqueue_add(cur_q, key);
        workqueue_add(cur_q, key); /* twice: still one more run */
        T_EQ_INT(workqueue_len(cur_q), 0);
    }
    if (add_other) {
        const char *k = add_other;
        add_other = NULL;
        workqueue_add(cur_q, k);
    }
}

static struct workqueue *
fresh(struct loop *l)
{
    nseen = 0;
    readd_budget = 0;
    add_other = NULL;
    cur_q = workqueue_new(l, record_key, NULL);
    return cur_q;
}

/* Runs the loop until n keys were processed or timeout_ms passed. */
static void
run_until(struct loop *l, int n, int64_t timeout_ms)
{
    int64_t end = time_mono_ms() + timeout_ms;
    while (nseen < n && time_mono_ms() < end)
        loop_run_once(l, 10);
}

TEST(queue_dedupes_waiting_keys_and_keeps_fifo_order)
{
    struct loop *l = loop_new();
    struct workqueue *q = fresh(l);
    workqueue_add(q, "ns/a");
    workqueue_add(q, "ns/b");
    workqueue_add(q, "ns/a"); /* keeps its first place */
    workqueue_add(q, "ns/c");
    workqueue_add(q, "ns/b");
    T_EQ_INT(workqueue_len(q), 3);
    T_EQ_INT(nseen, 0); /* nothing runs outside the loop */
    run_until(l, 3, 1000);
    loop_run_once(l, 0);
    T_EQ_INT(nseen, 3);
    T_EQ_STR(seen[0], "ns/a");
    T_EQ_STR(seen[1], "ns/b");
    T_EQ_STR(seen[2], "ns/c");
    T_EQ_INT(workqueue_len(q), 0);
    struct workqueue_stats st;
    workqueue_get_stats(q, &st);
    T_EQ_INT(st.adds, 3);
    T_EQ_INT(st.processed, 3);
    T_EQ_INT(st.keys, 0); /* processed keys are released */
    workqueue_free(q);
    loop_free(l);
}

TEST(queue_keys_are_copied)
{
    struct loop *l = loop_new();
    struct workqueue *q = fresh(l);
    char key[16] = "ns/x";
    workqueue_add(q, key);
    memcpy(key, "ns/y", 5);
    run_until(l, 1, 1000);
    T_EQ_STR(seen[0], "ns/x");
    workqueue_free(q);
    loop_free(l);
}

TEST(queue_readd_during_processing_runs_again_after_never_nested)
{
    struct loop *l = loop_new();
    struct workqueue *q = fresh(l);
    readd_budget = 2;
    workqueue_add(q, "ns/self");
    run_until(l, 3, 1000);
    for (int i = 0; i < 5; i++)
        loop_run_once(l, 0);
    T_EQ_INT(nseen, 3); /* first run + two re-adds, each once */
    T_EQ_STR(seen[2], "ns/self");
    struct workqueue_stats st;
    workqueue_get_stats(q, &st);
    T_EQ_INT(st.keys, 0);
    workqueue_free(q);
    loop_free(l);
}

TEST(queue_add_from_process_of_another_key_queues_it_last)
{
    struct loop *l = loop_new();
    struct workqueue *q = fresh(l);
    add_other = "ns/new";
    workqueue_add(q, "ns/a");
    workqueue_add(q, "ns/b");
    run_until(l, 3, 1000);
    T_EQ_INT(nseen, 3);
    T_EQ_STR(seen[0], "ns/a");
    T_EQ_STR(seen[1], "ns/b");
    T_EQ_STR(seen[2], "ns/new");
    workqueue_free(q);
    loop_free(l);
}

TEST(queue_processes_at_most_the_cap_per_loop_iteration)
{
    struct loop *l = loop_new();
    struct workqueue *q = fresh(l);
    char key[32];
    for (int i = 0; i < 600; i++) {
        snprintf(key, sizeof key, "ns/k%d", i);
        workqueue_add(q, key);
    }
    T_EQ_INT(workqueue_len(q), 600);
    loop_run_once(l, 100);
    T_EQ_INT(nseen, WORKQUEUE_MAX_PER_ITERATION);
    T_EQ_INT(workqueue_len(q), 600 - WORKQUEUE_MAX_PER_ITERATION);
    loop_run_once(l, 100);
    T_EQ_INT(nseen, 2 * WORKQUEUE_MAX_PER_ITERATION);
    loop_run_once(l, 100);
    T_EQ_INT(nseen, 600);
    T_EQ_STR(seen[0], "ns/k0");
    T_EQ_INT(workqueue_len(q), 0);
    workqueue_free(q);
    loop_free(l);
}

TEST(queue_add_after_orders_by_deadline_and_earlier_wins)
{
    struct loop *l = loop_new();
    struct workqueue *q = fresh(l);
    workqueue_add_after(q, "ns/late", 80);
    workqueue_add_after(q, "ns/mid", 40);
    workqueue_add_after(q, "ns/moved", 200);
    workqueue_add_after(q, "ns/moved", 10); /* earlier deadline wins */
    workqueue_add_after(q, "ns/mid", 1000); /* a later one does not postpone */
    T_EQ_INT(workqueue_len(q), 0);
    struct workqueue_stats st;
    workqueue_get_stats(q, &st);
    T_EQ_INT(st.delayed, 3);
    int64_t t0 = time_mono_ms();
    run_until(l, 3, 2000);
    T_ASSERT(time_mono_ms() - t0 < 500);
    T_EQ_INT(nseen, 3);
    T_EQ_STR(seen[0], "ns/moved");
    T_EQ_STR(seen[1], "ns/mid");
    T_EQ_STR(seen[2], "ns/late");
    workqueue_get_stats(q, &st);
    T_EQ_INT(st.delayed, 0);
    T_EQ_INT(st.keys, 0);
    workqueue_free(q);
    loop_free(l);
}

TEST(queue_add_after_zero_is_an_add_and_delayed_key_still_addable_now)
{
    struct loop *l = loop_new();
    struct workqueue *q = fresh(l);
    workqueue_add_after(q, "ns/a", 0);
    T_EQ_INT(workqueue_len(q), 1);
    workqueue_add_after(q, "ns/b", 30);
    workqueue_add(q, "ns/b"); /* ready now, and again once the delay passes */
    T_EQ_INT(workqueue_len(q), 2);
    run_until(l, 3, 2000);
    T_EQ_INT(nseen, 3);
    T_EQ_STR(seen[0], "ns/a");
    T_EQ_STR(seen[1], "ns/b");
    T_EQ_STR(seen[2], "ns/b");
    workqueue_free(q);
    loop_free(l);
}

TEST(queue_backoff_arithmetic_like_client_go)
{
    T_EQ_INT(workqueue_backoff_ms(0), 5);
    T_EQ_INT(workqueue_backoff_ms(1), 10);
    T_EQ_INT(workqueue_backoff_ms(2), 20);
    T_EQ_INT(workqueue_backoff_ms(10), 5120);
    T_EQ_INT(workqueue_backoff_ms(15), 163840);
    T_EQ_INT(workqueue_backoff_ms(16), 300000); /* 327680 capped at 5 min */
    T_EQ_INT(workqueue_backoff_ms(31), 300000);
    T_EQ_INT(workqueue_backoff_ms(64), 300000);
    T_EQ_INT(workqueue_backoff_ms(4000000000u), 300000);
}

static int fail_times;
static void
failing(struct workqueue *q, const char *key)
{
    nseen++;
    if (fail_times > 0) {
        fail_times--;
        workqueue_add_rate_limited(q, key);
    } else {
        workqueue_forget(q, key);
    }
}

/* process() reaches its queue through a static. */
static struct workqueue *rl_q;
static void
failing_shim(void *arg, const char *key)
{
    (void)arg;
    failing(rl_q, key);
}

TEST(queue_rate_limited_failures_count_up_and_are_dropped_after_success)
{
    struct loop *l = loop_new();
    nseen = 0;
    fail_times = 4; /* backoffs 5, 10, 20, 40 ms */
    rl_q = workqueue_new(l, failing_shim, NULL);
    workqueue_add(rl_q, "ns/flaky");
    int64_t t0 = time_mono_ms();
    run_until(l, 1, 1000);
    T_EQ_INT(workqueue_num_requeues(rl_q, "ns/flaky"), 1);
    run_until(l, 2, 1000);
    T_EQ_INT(workqueue_num_requeues(rl_q, "ns/flaky"), 2);
    run_until(l, 5, 2000);
    T_EQ_INT(nseen, 5);
    T_ASSERT(time_mono_ms() - t0 >= 5 + 10 + 20 + 40);
    T_EQ_INT(workqueue_num_requeues(rl_q, "ns/flaky"), 0); /* forgotten */
    struct workqueue_stats st;
    workqueue_get_stats(rl_q, &st);
    T_EQ_INT(st.retries, 4);
    T_EQ_INT(st.keys, 0);
    workqueue_free(rl_q);
    loop_free(l);
}

TEST(queue_forget_resets_backoff_of_a_waiting_key)
{
    struct loop *l = loop_new();
    struct workqueue *q = fresh(l);
    for (int i = 0; i < 6; i++)
        workqueue_add_rate_limited(q, "ns/a"); /* the first deadline (5 ms) wins */
    T_EQ_INT(workqueue_num_requeues(q, "ns/a"), 6);
    workqueue_forget(q, "ns/a");
    T_EQ_INT(workqueue_num_requeues(q, "ns/a"), 0);
    workqueue_forget(q, "ns/unknown"); /* harmless */
    struct workqueue_stats st;
    workqueue_get_stats(q, &st);
    T_EQ_INT(st.keys, 1); /* still delayed */
    run_until(l, 1, 1000);
    T_EQ_INT(nseen, 1);
    workqueue_get_stats(q, &st);
    T_EQ_INT(st.keys, 0);
    workqueue_free(q);
    loop_free(l);
}

TEST(queue_failure_counts_survive_processing_until_forget)
{
    struct loop *l = loop_new();
    struct workqueue *q = fresh(l);
    workqueue_add_rate_limited(q, "ns/a");
    workqueue_add_rate_limited(q, "ns/a");
    T_EQ_INT(workqueue_num_requeues(q, "ns/a"), 2);
    run_until(l, 1, 1000);
    /* processed, but the failure that made it wait is not forgotten: an asynchronous write
     * fails after its key was processed, and the next backoff must be longer */
    T_EQ_INT(workqueue_num_requeues(q, "ns/a"), 2);
    workqueue_forget(q, "ns/a");
    T_EQ_INT(workqueue_num_requeues(q, "ns/a"), 0);
    struct workqueue_stats st;
    workqueue_get_stats(q, &st);
    T_EQ_INT(st.keys, 0); /* forgotten and idle: the entry is gone */
    workqueue_free(q);
    loop_free(l);
}

TEST(queue_distinct_keys_are_capped)
{
    struct loop *l = loop_new();
    nseen = 0;
    struct workqueue *q = workqueue_new_capped(l, record_key, NULL, 3);
    cur_q = q;
    readd_budget = 0;
    add_other = NULL;
    workqueue_add(q, "ns/1");
    workqueue_add(q, "ns/2");
    workqueue_add_after(q, "ns/3", 100000);
    workqueue_add(q, "ns/4"); /* dropped */
    workqueue_add(q, "ns/1"); /* known keys still work */
    struct workqueue_stats st;
    workqueue_get_stats(q, &st);
    T_EQ_INT(st.keys, 3);
    T_EQ_INT(st.dropped, 1);
    T_EQ_INT(workqueue_len(q), 2);
    run_until(l, 2, 1000);
    workqueue_add(q, "ns/4"); /* room again */
    T_EQ_INT(workqueue_len(q), 1);
    workqueue_free(q); /* with a pending delayed key: ASan checks */
    loop_free(l);
}

TEST(queue_many_keys_grow_the_table)
{
    struct loop *l = loop_new();
    struct workqueue *q = fresh(l);
    char key[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "ns/k%d", i);
        workqueue_add_after(q, key, 100000 - i);
    }
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "ns/k%d", i);
        workqueue_add(q, key);
    }
    struct workqueue_stats st;
    workqueue_get_stats(q, &st);
    T_EQ_INT(st.keys, 5000);
    T_EQ_INT(st.delayed, 5000);
    T_EQ_INT(workqueue_len(q), 5000);
    workqueue_free(q);
    loop_free(l);
}
