/* The reactor: one poll() loop owning every file descriptor, timer and signal.
 *
 * Single-threaded. Callbacks run on the loop; they must not block. A callback may add or
 * remove fd watchers and timers, including its own, at any time: removal takes effect at once
 * (a removed watcher's callback is not called again, even later in the same iteration). */
#ifndef OMJ_LOOP_H
#define OMJ_LOOP_H

#include <stdint.h>

struct loop;

enum { LOOP_READ = 1, LOOP_WRITE = 2, LOOP_ERROR = 4 /* reported only: POLLERR/POLLHUP/POLLNVAL */ };

typedef void (*loop_fd_cb)(struct loop *l, int fd, unsigned events, void *arg);
typedef void (*loop_timer_cb)(struct loop *l, void *arg);
typedef void (*loop_signal_cb)(struct loop *l, int signo, void *arg);

struct loop *loop_new(void);
/* Frees the loop. Watchers and timers still registered are dropped without callbacks;
 * closing their fds and freeing their args stays the owner's job. */
void loop_free(struct loop *l);

/* Adds a watcher, or changes the events and callback of the watcher already on fd.
 * events 0 keeps the fd registered but quiet. Returns 0, or -1 on allocation failure. */
int loop_fd_watch(struct loop *l, int fd, unsigned events, loop_fd_cb cb, void *arg);
/* Removes the watcher of fd (no-op if none). Does not close fd. */
void loop_fd_unwatch(struct loop *l, int fd);

/* Calls cb once after delay_ms (clamped to >= 0). Returns a non-zero id for
 * loop_timer_cancel, or 0 on allocation failure. Timers with equal deadlines fire in
 * the order they were added. */
uint64_t loop_timer_add(struct loop *l, int64_t delay_ms, loop_timer_cb cb, void *arg);
/* Cancels a pending timer; a no-op for 0, fired or unknown ids. */
void loop_timer_cancel(struct loop *l, uint64_t id);
/* Milliseconds until the timer fires, or -1 if it is not pending. */
int64_t loop_timer_remaining(struct loop *l, uint64_t id);

/* Routes signo through the loop (signalfd): cb runs on the loop, never in a handler.
 * The signal is blocked for the process. Returns 0 or -1. */
int loop_signal(struct loop *l, int signo, loop_signal_cb cb, void *arg);

/* Runs until loop_stop(). Returns 0, or -1 if poll() fails for a reason other than EINTR. */
int loop_run(struct loop *l);
/* Runs at most one iteration, waiting at most max_wait_ms (tests). */
int loop_run_once(struct loop *l, int max_wait_ms);
void loop_stop(struct loop *l);

/* Monotonic time in ms, sampled once per iteration (cheap). */
int64_t loop_now_ms(const struct loop *l);

struct loop_stats {
    uint64_t iterations;
    uint64_t timers_fired;
    uint64_t timers_pending;
    uint64_t fds_watched;
};
void loop_get_stats(const struct loop *l, struct loop_stats *out);

#endif
