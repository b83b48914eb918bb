/* The controller work queue. One entry per tracked key, in a chained hash table; the ready
 * keys form an intrusive FIFO, the delayed ones a min-heap on their deadline served by one
 * shared loop timer. */
#include "kube/queue.h"

#include "loop.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NOT_DELAYED SIZE_MAX
#define MIN_BUCKETS 64

struct qent {
    struct qent *hnext; /* hash chain */
    struct qent *fnext; /* ready FIFO */
    uint64_t hash;
    int64_t deadline_ms; /* when delayed (time_mono_ms clock) */
    size_t heap_idx;     /* NOT_DELAYED unless in the heap */
    unsigned failures;
    int64_t ready_ns;    /* when it became ready (monotonic), for the wait metric */
    bool queued, processing, dirty;
    char key[];
};

struct workqueue {
    struct loop *loop;
    workqueue_process_fn process;
    void *arg;
    struct qent **tab;
    size_t nbuckets, nkeys, max_keys;
    struct qent *head, *tail; /* ready FIFO */
    size_t ready;
    struct qent **heap;
    size_t nheap, heap_cap;
    uint64_t drain_timer, delay_timer;
    int64_t delay_timer_at;
    struct workqueue_stats st;
    const char *log_kind; /* static; NULL: no log context */
    struct workqueue *next_named; /* the named queues, for their metrics */
};

static struct workqueue *g_named;
static workqueue_observer_fn g_observer;
static void *g_observer_arg;

static int64_t
mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t
key_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* --- the key table ---------------------------------------------------------------------- */

static struct qent *
find(const struct workqueue *q, const char *key, uint64_t h)
{
    for (struct qent *e = q->tab[h & (q->nbuckets - 1)]; e; e = e->hnext)
        if (e->hash == h && strcmp(e->key, key) == 0) return e;
    return NULL;
}

/* Doubles the table once it holds more keys than buckets; on allocation failure the
 * chains just grow longer. */
static void
maybe_grow(struct workqueue *q)
{
    if (q->nkeys < q->nbuckets || q->nbuckets > SIZE_MAX / 2 / sizeof *q->tab) return;
    size_t n = q->nbuckets * 2;
    struct qent **tab = calloc(n, sizeof *tab);
    if (!tab) return;
    for (size_t i = 0; i < q->nbuckets; i++) {
        struct qent *e = q->tab[i];
        while (e) {
            struct qent *next = e->hnext;
            e->hnext = tab[e->hash & (n - 1)];
            tab[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(q->tab);
    q->tab = tab;
    q->nbuckets = n;
}

/* Finds key, or starts tracking it. NULL when over the cap or out of memory. */
static struct qent *
get_or_create(struct workqueue *q, const char *key)
{
    uint64_t h = key_hash(key);
    struct qent *e = find(q, key, h);
    if (e) return e;
    if (q->nkeys >= q->max_keys) {
        if (q->st.dropped++ % 10000 == 0) log_warn("work queue full, dropping keys", "key", key);
        return NULL;
    }
    size_t len = strlen(key);
    e = calloc(1, sizeof *e + len + 1);
    if (!e) {
        q->st.dropped++;
        log_error("work queue: out of memory, dropping key", "key", key);
        return NULL;
    }
    memcpy(e->key, key, len + 1);
    e->hash = h;
    e->heap_idx = NOT_DELAYED;
    e->hnext = q->tab[h & (q->nbuckets - 1)];
    q->tab[h & (q->nbuckets - 1)] = e;
    q->nkeys++;
    maybe_grow(q);
    return e;
}

/* Forgets an entry nobody waits for any more. A failure count keeps its entry until
 * workqueue_forget(): a controller whose write fails asynchronously processes the key (and
 * so releases it) before the failure is known, and the backoff must still grow. */
static void
maybe_release(struct workqueue *q, struct qent *e)
{
    if (e->queued || e->processing || e->dirty || e->heap_idx != NOT_DELAYED || e->failures)
        return;
    struct qent **pp = &q->tab[e->hash & (q->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    q->nkeys--;
    free(e);
}

/* --- the ready FIFO and its drain ------------------------------------------------------- */

static void on_drain(struct loop *l, void *arg);

static void
schedule_drain(struct workqueue *q)
{
    if (q->drain_timer || !q->head) return;
    q->drain_timer = loop_timer_add(q->loop, 0, on_drain, q);
    if (!q->drain_timer) log_error("work queue: cannot schedule processing (out of memory)");
}

static void
push_ready(struct workqueue *q, struct qent *e)
{
    e->queued = true;
    e->ready_ns = g_observer ? mono_ns() : 0;
    e->fnext = NULL;
    if (q->tail)
        q->tail->fnext = e;
    else
        q->head = e;
    q->tail = e;
    q->ready++;
    schedule_drain(q);
}

static struct qent *
pop_ready(struct workqueue *q)
{
    struct qent *e = q->head;
    q->head = e->fnext;
    if (!q->head) q->tail = NULL;
    e->fnext = NULL;
    e->queued = false;
    q->ready--;
    return e;
}

/* Marks an entry ready: queued once, or again after the processing now under way. */
static void
make_ready(struct workqueue *q, struct qent *e)
{
    if (e->queued || e->dirty) return;
    q->st.adds++;
    if (e->processing)
        e->dirty = true;
    else
        push_ready(q, e);
}

void
workqueue_set_log_kind(struct workqueue *q, const char *kind)
{
    if (!q->log_kind && kind) {
        q->next_named = g_named;
        g_named = q;
    }
    q->log_kind = kind;
}

void
workqueue_set_observer(workqueue_observer_fn fn, void *arg)
{
    g_observer = fn;
    g_observer_arg = arg;
}

void
workqueue_foreach_named(void (*fn)(void *arg, const char *kind, const struct workqueue *q),
                        void *arg)
{
    for (struct workqueue *q = g_named; q; q = q->next_named)
        fn(arg, q->log_kind, q);
}

static void
unlink_named(struct workqueue *q)
{
    for (struct workqueue **p = &g_named; *p; p = &(*p)->next_named)
        if (*p == q) {
            *p = q->next_named;
            return;
        }
}

static void
process_one(struct workqueue *q, struct qent *e)
{
    e->processing = true;
    q->st.processed++;
    size_t mark = log_ctx_mark();
    if (q->log_kind)
        log_ctx_object(q->log_kind, e->key);
    bool timed = g_observer && q->log_kind;
    int64_t t0 = timed ? mono_ns() : 0;
    q->process(q->arg, e->key);
    if (timed)
        g_observer(g_observer_arg, q->log_kind, e->ready_ns ? (double)(t0 - e->ready_ns) / 1e9 : -1,
                   (double)(mono_ns() - t0) / 1e9);
    log_ctx_restore(mark);
    e->processing = false;
    if (e->dirty) {
        e->dirty = false;
        push_ready(q, e);
    } else {
        maybe_release(q, e);
    }
}

static void
on_drain(struct loop *l, void *arg)
{
    (void)l;
    struct workqueue *q = arg;
    q->drain_timer = 0;
    for (int n = 0; n < WORKQUEUE_MAX_PER_ITERATION && q->head; n++)
        process_one(q, pop_ready(q));
    schedule_drain(q); /* the rest waits for the next loop iteration */
}

/* --- the delayed heap ------------------------------------------------------------------- */

static void
heap_set(struct workqueue *q, size_t i, struct qent *e)
{
    q->heap[i] = e;
    e->heap_idx = i;
}

static void
heap_up(struct workqueue *q, size_t i)
{
    struct qent *e = q->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (q->heap[parent]->deadline_ms <= e->deadline_ms) break;
        heap_set(q, i, q->heap[parent]);
        i = parent;
    }
    heap_set(q, i, e);
}

static void
heap_down(struct workqueue *q, size_t i)
{
    struct qent *e = q->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= q->nheap) break;
        if (c + 1 < q->nheap && q->heap[c + 1]->deadline_ms < q->heap[c]->deadline_ms) c++;
        if (q->heap[c]->deadline_ms >= e->deadline_ms) break;
        heap_set(q, i, q->heap[c]);
        i = c;
    }
    heap_set(q, i, e);
}

static int
heap_push(struct workqueue *q, struct qent *e)
{
    if (q->nheap == q->heap_cap) {
        size_t cap = q->heap_cap ? q->heap_cap * 2 : 64;
        struct qent **h = realloc(q->heap, cap * sizeof *h);
        if (!h) return -1;
        q->heap = h;
        q->heap_cap = cap;
    }
    q->heap[q->nheap++] = e;
    heap_up(q, q->nheap - 1);
    return 0;
}

static struct qent *
heap_pop(struct workqueue *q)
{
    struct qent *top = q->heap[0];
    top->heap_idx = NOT_DELAYED;
    if (--q->nheap > 0) {
        heap_set(q, 0, q->heap[q->nheap]);
        heap_down(q, 0);
    }
    return top;
}

static void on_delay_timer(struct loop *l, void *arg);

/* Keeps the one shared timer armed for the earliest deadline. */
static void
arm_delay_timer(struct workqueue *q)
{
    if (q->nheap == 0) {
        loop_timer_cancel(q->loop, q->delay_timer);
        q->delay_timer = 0;
        return;
    }
    int64_t at = q->heap[0]->deadline_ms;
    if (q->delay_timer && q->delay_timer_at == at) return;
    loop_timer_cancel(q->loop, q->delay_timer);
    q->delay_timer = loop_timer_add(q->loop, at - time_mono_ms(), on_delay_timer, q);
    q->delay_timer_at = at;
    if (!q->delay_timer) log_error("work queue: cannot schedule a delayed add (out of memory)");
}

static void
on_delay_timer(struct loop *l, void *arg)
{
    (void)l;
    struct workqueue *q = arg;
    q->delay_timer = 0;
    int64_t now = time_mono_ms();
    while (q->nheap && q->heap[0]->deadline_ms <= now)
        make_ready(q, heap_pop(q));
    arm_delay_timer(q);
}

/* --- public ----------------------------------------------------------------------------- */

struct workqueue *
workqueue_new_capped(struct loop *l, workqueue_process_fn process, void *arg, size_t max_keys)
{
    struct workqueue *q = calloc(1, sizeof *q);
    if (!q) return NULL;
    q->tab = calloc(MIN_BUCKETS, sizeof *q->tab);
    if (!q->tab) {
        free(q);
        return NULL;
    }
    q->nbuckets = MIN_BUCKETS;
    q->max_keys = max_keys ? max_keys : WORKQUEUE_MAX_KEYS;
    q->loop = l;
    q->process = process;
    q->arg = arg;
    return q;
}

struct workqueue *
workqueue_new(struct loop *l, workqueue_process_fn process, void *arg)
{
    return workqueue_new_capped(l, process, arg, 0);
}

void
workqueue_free(struct workqueue *q)
{
    if (!q) return;
    unlink_named(q);
    loop_timer_cancel(q->loop, q->drain_timer);
    loop_timer_cancel(q->loop, q->delay_timer);
    for (size_t i = 0; i < q->nbuckets; i++) {
        struct qent *e = q->tab[i];
        while (e) {
            struct qent *next = e->hnext;
            free(e);
            e = next;
        }
    }
    free(q->tab);
    free(q->heap);
    free(q);
}

void
workqueue_add(struct workqueue *q, const char *key)
{
    struct qent *e = get_or_create(q, key);
    if (e) make_ready(q, e);
}

void
workqueue_add_after(struct workqueue *q, const char *key, int64_t delay_ms)
{
    if (delay_ms <= 0) {
        workqueue_add(q, key);
        return;
    }
    struct qent *e = get_or_create(q, key);
    if (!e) return;
    int64_t at = time_mono_ms() + delay_ms;
    if (e->heap_idx != NOT_DELAYED) {
        if (at < e->deadline_ms) { /* the earlier deadline wins */
            e->deadline_ms = at;
            heap_up(q, e->heap_idx);
            arm_delay_timer(q);
        }
        return;
    }
    e->deadline_ms = at;
    if (heap_push(q, e) != 0) {
        log_error("work queue: out of memory, adding now instead of later", "key", key);
        make_ready(q, e);
        return;
    }
    arm_delay_timer(q);
}

int64_t
workqueue_backoff_ms(unsigned failures)
{
    if (failures >= 32) return WORKQUEUE_BACKOFF_CAP_MS;
    int64_t ms = (int64_t)WORKQUEUE_BACKOFF_BASE_MS << failures;
    return ms < WORKQUEUE_BACKOFF_CAP_MS ? ms : WORKQUEUE_BACKOFF_CAP_MS;
}

void
workqueue_add_rate_limited(struct workqueue *q, const char *key)
{
    struct qent *e = get_or_create(q, key);
    if (!e) return;
    q->st.retries++;
    int64_t delay = workqueue_backoff_ms(e->failures);
    if (e->failures < UINT_MAX) e->failures++;
    workqueue_add_after(q, key, delay);
}

void
workqueue_forget(struct workqueue *q, const char *key)
{
    struct qent *e = find(q, key, key_hash(key));
    if (!e) return;
    e->failures = 0;
    maybe_release(q, e);
}

unsigned
workqueue_num_requeues(const struct workqueue *q, const char *key)
{
    const struct qent *e = find(q, key, key_hash(key));
    return e ? e->failures : 0;
}

size_t
workqueue_len(const struct workqueue *q)
{
    return q->ready;
}

void
workqueue_get_stats(const struct workqueue *q, struct workqueue_stats *out)
{
    *out = q->st;
    out->depth = q->ready;
    out->delayed = q->nheap;
    out->keys = q->nkeys;
}
