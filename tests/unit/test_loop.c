#include "t.h"

#include "loop.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

static int order[16];
static int norder;

static void
record(struct loop *l, void *arg)
{
    (void)l;
    order[norder++] = (int)(intptr_t)arg;
}

TEST(loop_timers_fire_in_deadline_then_fifo_order)
{
    struct loop *l = loop_new();
    norder = 0;
    loop_timer_add(l, 20, record, (void *)3);
    loop_timer_add(l, 0, record, (void *)1);
    loop_timer_add(l, 0, record, (void *)2);
    uint64_t c = loop_timer_add(l, 5, record, (void *)99);
    T_ASSERT(loop_timer_remaining(l, c) >= 0);
    loop_timer_cancel(l, c);
    T_EQ_INT(loop_timer_remaining(l, c), -1);
    loop_timer_cancel(l, c); /* twice is harmless */
    while (norder < 3)
        loop_run_once(l, 100);
    T_EQ_INT(order[0], 1);
    T_EQ_INT(order[1], 2);
    T_EQ_INT(order[2], 3);
    struct loop_stats st;
    loop_get_stats(l, &st);
    T_EQ_INT(st.timers_fired, 3);
    T_EQ_INT(st.timers_pending, 0);
    loop_free(l);
}

TEST(loop_many_timers_and_random_cancels_keep_heap_order)
{
    struct loop *l = loop_new();
    uint64_t ids[2000];
    for (int i = 0; i < 2000; i++)
        ids[i] = loop_timer_add(l, 100000 + (i * 7919) % 1000, record, NULL);
    for (int i = 0; i < 2000; i += 3)
        loop_timer_cancel(l, ids[i]);
    struct loop_stats st;
    loop_get_stats(l, &st);
    T_EQ_INT(st.timers_pending, 2000 - 667);
    int64_t prev = -1;
    for (int i = 1; i < 2000; i++) {
        if (i % 3 == 0)
            continue;
        T_ASSERT(loop_timer_remaining(l, ids[i]) >= 0);
    }
    (void)prev;
    loop_free(l); /* frees pending timers: ASan checks */
}

static int reads;
static void
on_read(struct loop *l, int fd, unsigned ev, void *arg)
{
    (void)arg;
    char c;
    if ((ev & LOOP_READ) && read(fd, &c, 1) == 1)
        reads++;
    loop_fd_unwatch(l, fd); /* removing yourself inside the callback is allowed */
}

TEST(loop_fd_watch_and_unwatch_inside_callback)
{
    struct loop *l = loop_new();
    int p[2];
    T_EQ_INT(pipe(p), 0);
    reads = 0;
    T_EQ_INT(loop_fd_watch(l, p[0], LOOP_READ, on_read, NULL), 0);
    T_EQ_INT(write(p[1], "ab", 2), 2);
    loop_run_once(l, 1000);
    loop_run_once(l, 0);
    T_EQ_INT(reads, 1); /* unwatched after the first byte */
    close(p[0]);
    close(p[1]);
    loop_free(l);
}

static void
on_sig(struct loop *l, int signo, void *arg)
{
    *(int *)arg = signo;
    loop_stop(l);
}

TEST(loop_signals_arrive_on_the_loop)
{
    struct loop *l = loop_new();
    int got = 0;
    T_EQ_INT(loop_signal(l, SIGUSR1, on_sig, &got), 0);
    kill(getpid(), SIGUSR1);
    T_EQ_INT(loop_run(l), 0);
    T_EQ_INT(got, SIGUSR1);
    loop_free(l);
}
