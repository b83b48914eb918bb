/* Leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics (lease
 * duration 15 s, renew deadline 10 s, retry period 2 s by default), safe by the local clock.
 *
 * Standby: reads the Lease every retry period; it counts as expired when its (holder,
 * renewTime) pair has not changed for leaseDurationSeconds of *local* observation time (no
 * trust in remote clocks); then it takes it with an optimistic-concurrency PUT.
 * Leader: renews every retry period with a PUT on the resourceVersion it holds (a read only
 * after a conflict). Its leadership is valid until the *send* time of its last successful
 * write + the renew deadline: lease_is_leader() turns false at that instant by the clock, and
 * a timer armed there runs on_lost, whether or not a renewal could be sent or answered. A
 * standby cannot take over before lease duration after it saw that write, so the two never
 * overlap (lease duration > renew deadline, checked at start-up).
 * After on_lost it campaigns again as a standby (no restart): if nobody else took the Lease
 * it renews it and on_started runs again.
 * Lease requests are KUBE_PRIORITY writes: never queued behind controller writes nor the
 * limiter. A failing request is logged once per change of outcome (status and reason), with
 * the API server's message; a success after failures is logged once too.
 * On shutdown the leader releases the lease (empty holder) so a successor starts at once. */
#ifndef OMJ_KUBE_LEASE_H
#define OMJ_KUBE_LEASE_H

#include <stdbool.h>
#include <stdint.h>

struct loop;
struct kube_client;
struct lease;

struct lease_opts {
    const char *namespace, *name, *identity;
    int64_t duration_ms, renew_deadline_ms, retry_period_ms;
    void (*on_started)(void *arg); /* became leader */
    void (*on_lost)(void *arg);    /* was leader, lost it (deadline passed or taken) */
    void *arg;
};

struct lease *lease_new(struct loop *l, struct kube_client *c, const struct lease_opts *o);
void lease_start(struct lease *ls);
/* Leader, and the last successful renewal was sent less than the renew deadline ago. */
bool lease_is_leader(const struct lease *ls);
/* Healthy standby or leader: the last attempt reached the API server recently. */
bool lease_healthy(const struct lease *ls);
/* Releases the lease if held (asynchronous; done() runs when finished or at once). */
void lease_release(struct lease *ls, void (*done)(void *arg), void *arg);
void lease_free(struct lease *ls);

/* The decision, pure (tested): what to do after reading the lease. */
enum lease_action { LEASE_RENEW, LEASE_TAKE, LEASE_WAIT };
struct lease_view {
    const char *holder;       /* "" or NULL when free */
    int64_t observed_at_ms;   /* local time the (holder, renewTime) pair last changed */
    int64_t duration_ms;      /* from the lease, or ours when absent */
};
enum lease_action lease_decide(const struct lease_view *v, const char *me, int64_t now_ms);

#endif
