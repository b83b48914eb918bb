/* The CronOMJob controller: OMJobs created on a cron schedule in an IANA time zone.
 *
 * Timer-driven and level-triggered: each reconcile derives, from the cached CronOMJob, its
 * OMJobs and the clock, the one slot that may start now (cronomjob_decide, pure), and makes
 * at most one write (create an OMJob, delete an OMJob, patch the status); the write's
 * completion requeues the CronOMJob, and a delayed requeue wakes it at its next slot.
 * The OMJob of a slot is named <cronomjob>-<slot in unix minutes>: the name is the lock, so
 * AlreadyExists means "this slot already ran" (adopt it) and no restart, stale cache or
 * second replica can start a slot twice. See README "CronOMJob" for every rule. */
#ifndef OMJ_CTL_CRONOMJOB_H
#define OMJ_CTL_CRONOMJOB_H

#include <stdbool.h>
#include <stdint.h>

struct ctl;
struct cronomjob_ctl;
struct cron_expr;
struct tz;

/* On the OMJobs a CronOMJob creates. */
#define CRONOMJOB_SCHEDULED_AT_ANNOTATION "pipelines.openmetadata.org/scheduled-at"
#define CRONOMJOB_LABEL "pipelines.openmetadata.org/cronomjob" /* the CronOMJob's name */
#define CRONOMJOB_PIPELINE_LABEL "app.kubernetes.io/pipeline"
#define CRONOMJOB_RUN_ID_LABEL "app.kubernetes.io/run-id"

/* A slot older than this is "missed" even with startingDeadlineSeconds 0: the operator's
 * reaction time (timer, cache, one write in flight). startingDeadlineSeconds below it
 * counts as it. */
#define CRONOMJOB_ON_TIME_S 5
/* More missed slots than this: one Warning event, and only the latest is evaluated. */
#define CRONOMJOB_MAX_MISSED 100
/* The longest sleep between two looks at a CronOMJob (guards against wall-clock steps). */
#define CRONOMJOB_MAX_SLEEP_S 900

struct cronomjob_ctl *cronomjob_ctl_new(struct ctl *ctl);
void cronomjob_ctl_free(struct cronomjob_ctl *c);
void cronomjob_ctl_start(struct cronomjob_ctl *c);
int cronomjob_ctl_synced(const struct cronomjob_ctl *c);
/* Re-examine everything (after becoming leader). */
void cronomjob_ctl_resync(struct cronomjob_ctl *c);
/* An OMJob whose controller owner is the CronOMJob ns/cronomjob_name changed. */
void cronomjob_ctl_omjob_changed(struct cronomjob_ctl *c, const char *ns,
                                 const char *cronomjob_name);

/* --- the pure part (unit-tested) ---------------------------------------------------------- */

struct cronomjob_slot_in {
    const struct cron_expr *expr;
    const struct tz *zone; /* NULL: UTC */
    int64_t now_s;
    int64_t since_s;             /* status.lastScheduleTime, else creationTimestamp */
    int64_t starting_deadline_s; /* < 0: unset (no deadline) */
};

struct cronomjob_slot {
    int64_t due_s;   /* the latest slot in (since, now], 0 when none */
    bool in_window;  /* due_s may still start (inside the starting deadline) */
    unsigned missed; /* slots in (since, now], capped at CRONOMJOB_MAX_MISSED + 1 */
    int64_t next_s;  /* the first slot after now, 0 when none */
    int64_t wake_s;  /* when to look again: next slot (or the window's end), capped */
};

/* Which slot, if any, may start now. Uses cron_prev for the latest slot and never walks
 * more than CRONOMJOB_MAX_MISSED + 1 slots. The window of a due slot is
 * max(startingDeadlineSeconds, CRONOMJOB_ON_TIME_S) seconds, unbounded when unset.
 * Returns 0, or -1 when the schedule has no slot at all (e.g. "0 0 30 2 *"). */
int cronomjob_decide(const struct cronomjob_slot_in *in, struct cronomjob_slot *out);

/* The OMJob name of a slot: naming_child(cronomjob, "<slot_s / 60>"). */
void cronomjob_run_name(char out[static 64], const char *cronomjob, int64_t slot_s);

/* Replaces "{{ omjob.name }}" and "{{ omjob.uid }}" (blanks inside the braces optional) in
 * s. Returns a new string the caller frees, or NULL on allocation failure. */
char *cronomjob_substitute(const char *s, const char *omjob_name, const char *omjob_uid);

#endif
