#include "loop.h"

#include "util/timeutil.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

struct watcher {
    int fd;
    unsigned events;
    loop_fd_cb cb;
    void *arg;
    uint64_t serial; /* distinguishes a re-added fd from the one poll() reported */
};

struct timer {
    int64_t deadline_ms;
    uint64_t id; /* also the FIFO order among equal deadlines */
    loop_timer_cb cb;
    void *arg;
    size_t heap_index;
    struct timer *next_in_bucket;
};

struct sigwatch {
    int signo;
    loop_signal_cb cb;
    void *arg;
};

struct loop {
    struct watcher *w;
    size_t nw, capw;
    uint64_t next_serial;

    struct timer **heap;
    size_t nheap, capheap;
    struct timer **buckets; /* id -> timer, chained */
    size_t nbuckets;
    uint64_t next_timer_id;

    struct pollfd *pfds;
    uint64_t *pserial;
    size_t cappfds;

    int sigfd;
    sigset_t sigmask;
    struct sigwatch sigs[8];
    size_t nsigs;

    bool stop;
    int64_t now_ms;
    uint64_t iterations, timers_fired;
};

struct loop *
loop_new(void)
{
    struct loop *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->sigfd = -1;
    l->next_timer_id = 1;
    l->next_serial = 1;
    sigemptyset(&l->sigmask);
    l->nbuckets = 64;
    l->buckets = calloc(l->nbuckets, sizeof *l->buckets);
    if (!l->buckets) {
        free(l);
        return NULL;
    }
    l->now_ms = time_mono_ms();
    return l;
}

void
loop_free(struct loop *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->nheap; i++)
        free(l->heap[i]);
    free(l->heap);
    free(l->buckets);
    free(l->w);
    free(l->pfds);
    free(l->pserial);
    if (l->sigfd >= 0)
        close(l->sigfd);
    free(l);
}

static int
grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 16;
    while (ncap < need)
        ncap *= 2;
    void *np = realloc(*p, ncap * elem);
    if (!np)
        return -1;
    *p = np;
    *cap = ncap;
    return 0;
}

static struct watcher *
find_watcher(struct loop *l, int fd)
{
    for (size_t i = 0; i < l->nw; i++)
        if (l->w[i].fd == fd)
            return &l->w[i];
    return NULL;
}

int
loop_fd_watch(struct loop *l, int fd, unsigned events, loop_fd_cb cb, void *arg)
{
    struct watcher *w = find_watcher(l, fd);
    if (!w) {
        if (grow((void **)&l->w, &l->capw, l->nw + 1, sizeof *l->w))
            return -1;
        w = &l->w[l->nw++];
        w->fd = fd;
        w->serial = l->next_serial++;
    }
    w->events = events;
    w->cb = cb;
    w->arg = arg;
    return 0;
}

void
loop_fd_unwatch(struct loop *l, int fd)
{
    for (size_t i = 0; i < l->nw; i++) {
        if (l->w[i].fd == fd) {
            l->w[i] = l->w[--l->nw];
            return;
        }
    }
}

/* --- timers: a binary min-heap ordered by (deadline, id) plus an id hash ------------- */

static bool
timer_before(const struct timer *a, const struct timer *b)
{
    return a->deadline_ms < b->deadline_ms || (a->deadline_ms == b->deadline_ms && a->id < b->id);
}

static void
heap_set(struct loop *l, size_t i, struct timer *t)
{
    l->heap[i] = t;
    t->heap_index = i;
}

static void
heap_up(struct loop *l, size_t i)
{
    struct timer *t = l->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!timer_before(t, l->heap[parent]))
            break;
        heap_set(l, i, l->heap[parent]);
        i = parent;
    }
    heap_set(l, i, t);
}

static void
heap_down(struct loop *l, size_t i)
{
    struct timer *t = l->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= l->nheap)
            break;
        if (c + 1 < l->nheap && timer_before(l->heap[c + 1], l->heap[c]))
            c++;
        if (!timer_before(l->heap[c], t))
            break;
        heap_set(l, i, l->heap[c]);
        i = c;
    }
    heap_set(l, i, t);
}

static void
heap_remove(struct loop *l, struct timer *t)
{
    size_t i = t->heap_index;
    struct timer *last = l->heap[--l->nheap];
    if (last == t)
        return;
    heap_set(l, i, last);
    heap_up(l, i);
    heap_down(l, last->heap_index);
}

static size_t
bucket_of(const struct loop *l, uint64_t id)
{
    return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 40) & (l->nbuckets - 1);
}

static void
bucket_rehash(struct loop *l)
{
    size_t n = l->nbuckets * 2;
    struct timer **nb = calloc(n, sizeof *nb);
    if (!nb)
        return; /* keep the old, longer chains */
    struct timer **old = l->buckets;
    size_t oldn = l->nbuckets;
    l->buckets = nb;
    l->nbuckets = n;
    for (size_t i = 0; i < oldn; i++) {
        for (struct timer *t = old[i], *next; t; t = next) {
            next = t->next_in_bucket;
            size_t b = bucket_of(l, t->id);
            t->next_in_bucket = nb[b];
            nb[b] = t;
        }
    }
    free(old);
}

static struct timer *
bucket_take(struct loop *l, uint64_t id, bool unlink)
{
    struct timer **pp = &l->buckets[bucket_of(l, id)];
    for (; *pp; pp = &(*pp)->next_in_bucket) {
        if ((*pp)->id == id) {
            struct timer *t = *pp;
            if (unlink)
                *pp = t->next_in_bucket;
            return t;
        }
    }
    return NULL;
}

uint64_t
loop_timer_add(struct loop *l, int64_t delay_ms, loop_timer_cb cb, void *arg)
{
    if (grow((void **)&l->heap, &l->capheap, l->nheap + 1, sizeof *l->heap))
        return 0;
    struct timer *t = calloc(1, sizeof *t);
    if (!t)
        return 0;
    if (l->nheap + 1 > l->nbuckets * 2)
        bucket_rehash(l);
    t->deadline_ms = time_mono_ms() + (delay_ms > 0 ? delay_ms : 0);
    t->id = l->next_timer_id++;
    t->cb = cb;
    t->arg = arg;
    size_t b = bucket_of(l, t->id);
    t->next_in_bucket = l->buckets[b];
    l->buckets[b] = t;
    heap_set(l, l->nheap++, t);
    heap_up(l, t->heap_index);
    return t->id;
}

void
loop_timer_cancel(struct loop *l, uint64_t id)
{
    if (!id)
        return;
    struct timer *t = bucket_take(l, id, true);
    if (!t)
        return;
    heap_remove(l, t);
    free(t);
}

int64_t
loop_timer_remaining(struct loop *l, uint64_t id)
{
    struct timer *t = id ? bucket_take(l, id, false) : NULL;
    if (!t)
        return -1;
    int64_t left = t->deadline_ms - time_mono_ms();
    return left > 0 ? left : 0;
}

/* Fires every timer due now. A timer added by a callback with delay 0 waits for the
 * next iteration, so a callback that re-arms itself cannot starve the fds. */
static void
run_timers(struct loop *l)
{
    int64_t now = time_mono_ms();
    uint64_t limit_id = l->next_timer_id;
    while (l->nheap && l->heap[0]->deadline_ms <= now && l->heap[0]->id < limit_id) {
        struct timer *t = l->heap[0];
        bucket_take(l, t->id, true);
        heap_remove(l, t);
        loop_timer_cb cb = t->cb;
        void *arg = t->arg;
        free(t);
        l->timers_fired++;
        cb(l, arg);
    }
}

/* --- signals ------------------------------------------------------------------------ */

static void
on_signalfd(struct loop *l, int fd, unsigned events, void *arg)
{
    (void)events;
    (void)arg;
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof si) == (ssize_t)sizeof si) {
        for (size_t i = 0; i < l->nsigs; i++)
            if (l->sigs[i].signo == (int)si.ssi_signo)
                l->sigs[i].cb(l, (int)si.ssi_signo, l->sigs[i].arg);
    }
}

int
loop_signal(struct loop *l, int signo, loop_signal_cb cb, void *arg)
{
    if (l->nsigs == sizeof l->sigs / sizeof l->sigs[0])
        return -1;
    sigaddset(&l->sigmask, signo);
    if (sigprocmask(SIG_BLOCK, &l->sigmask, NULL))
        return -1;
    int fd = signalfd(l->sigfd, &l->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        return -1;
    if (l->sigfd < 0 && loop_fd_watch(l, fd, LOOP_READ, on_signalfd, NULL)) {
        close(fd);
        return -1;
    }
    l->sigfd = fd;
    l->sigs[l->nsigs].signo = signo;
    l->sigs[l->nsigs].cb = cb;
    l->sigs[l->nsigs].arg = arg;
    l->nsigs++;
    return 0;
}

/* --- the loop ----------------------------------------------------------------------- */

static int
next_timeout(struct loop *l, int max_wait_ms)
{
    if (!l->nheap)
        return max_wait_ms;
    int64_t left = l->heap[0]->deadline_ms - time_mono_ms();
    if (left < 0)
        left = 0;
    if (max_wait_ms >= 0 && left > max_wait_ms)
        left = max_wait_ms;
    return left > 0x7fffffff ? 0x7fffffff : (int)left;
}

int
loop_run_once(struct loop *l, int max_wait_ms)
{
    if (grow((void **)&l->pfds, &l->cappfds, l->nw + 1, sizeof *l->pfds))
        return -1;
    uint64_t *ps = realloc(l->pserial, l->cappfds * sizeof *ps);
    if (!ps)
        return -1;
    l->pserial = ps;
    size_t n = 0;
    for (size_t i = 0; i < l->nw; i++) {
        short ev = (short)(((l->w[i].events & LOOP_READ) ? POLLIN : 0) |
                           ((l->w[i].events & LOOP_WRITE) ? POLLOUT : 0));
        l->pfds[n].fd = l->w[i].fd;
        l->pfds[n].events = ev;
        l->pfds[n].revents = 0;
        l->pserial[n] = l->w[i].serial;
        n++;
    }
    int rc = poll(l->pfds, (nfds_t)n, next_timeout(l, max_wait_ms));
    l->iterations++;
    l->now_ms = time_mono_ms();
    if (rc < 0 && errno != EINTR)
        return -1;
    for (size_t i = 0; rc > 0 && i < n; i++) {
        short re = l->pfds[i].revents;
        if (!re)
            continue;
        struct watcher *w = find_watcher(l, l->pfds[i].fd);
        if (!w || w->serial != l->pserial[i]) /* removed (or replaced) by an earlier callback */
            continue;
        unsigned ev = ((re & POLLIN) ? LOOP_READ : 0) | ((re & POLLOUT) ? LOOP_WRITE : 0) |
                      ((re & (POLLERR | POLLHUP | POLLNVAL)) ? LOOP_ERROR : 0);
        w->cb(l, w->fd, ev, w->arg);
    }
    run_timers(l);
    return 0;
}

int
loop_run(struct loop *l)
{
    l->stop = false;
    while (!l->stop)
        if (loop_run_once(l, -1))
            return -1;
    return 0;
}

void
loop_stop(struct loop *l)
{
    l->stop = true;
}

int64_t
loop_now_ms(const struct loop *l)
{
    return l->now_ms;
}

void
loop_get_stats(const struct loop *l, struct loop_stats *out)
{
    out->iterations = l->iterations;
    out->timers_fired = l->timers_fired;
    out->timers_pending = l->nheap;
    out->fds_watched = l->nw;
}
