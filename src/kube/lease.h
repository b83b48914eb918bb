/* Leader election on a coordination.k8s.io/v1 Lease, as client-go does it.
 *
 * Standby replicas try every retry period; a lease counts as expired when it has not changed
 * for leaseDurationSeconds of *local* observation time (no trust in remote clocks). The
 * leader renews every retry period; if no renewal succeeds within the renew deadline it has
 * lost the lease: on_lost runs (the operator stops writing and exits non-zero). On shutdown
 * the leader releases the lease (empty holder) so a successor starts at once. */
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
    void (*on_lost)(void *arg);    /* was leader, lost it */
    void *arg;
};

struct lease *lease_new(struct loop *l, struct kube_client *c, const struct lease_opts *o);
void lease_start(struct lease *ls);
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
