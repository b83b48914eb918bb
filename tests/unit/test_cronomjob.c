/* The CronOMJob controller's pure parts: which slot may start now, run names, and the
 * env placeholders. Expected instants are written from the zone rules, not computed. */
#include "t.h"

#include "ctl/cronomjob.h"
#include "ctl/naming.h"
#include "util/cron.h"
#include "util/timeutil.h"
#include "util/tz.h"

#include <stdlib.h>

/* UTC instant of a civil UTC time. */
static int64_t
utc(int y, unsigned mo, unsigned d, int h, int mi, int s)
{
    return time_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

static int
decide(const char *spec, const struct tz *z, int64_t now, int64_t since, int64_t deadline,
       struct cronomjob_slot *out)
{
    struct cron_expr e;
    char err[256];
    if (cron_parse(spec, &e, err, sizeof err)) return -2;
    struct cronomjob_slot_in in = {
        .expr = &e, .zone = z, .now_s = now, .since_s = since, .starting_deadline_s = deadline};
    return cronomjob_decide(&in, out);
}

TEST(cronomjob_nothing_due_sleeps_until_next_slot_capped)
{
    struct cronomjob_slot s;
    int64_t now = utc(2026, 11, 22, 10, 30, 0);
    T_EQ_INT(decide("0 * * * *", NULL, now, now - 10, -1, &s), 0);
    T_EQ_INT(s.due_s, 0);
    T_EQ_INT(s.next_s, utc(2026, 11, 22, 11, 0, 0));
    T_EQ_INT(s.wake_s, now + CRONOMJOB_MAX_SLEEP_S); /* 10:45: never sleeps past 15 min */
    T_EQ_INT(decide("40 * * * *", NULL, now, now - 10, -1, &s), 0);
    T_EQ_INT(s.wake_s, utc(2026, 11, 22, 10, 40, 0));
}

TEST(cronomjob_slot_on_time_runs_with_deadline_zero)
{
    struct cronomjob_slot s;
    int64_t slot = utc(2026, 11, 22, 11, 0, 0);
    T_EQ_INT(decide("0 * * * *", NULL, slot + 1, slot - 3600, 0, &s), 0);
    T_EQ_INT(s.due_s, slot);
    T_EQ_INT(s.missed, 1);
    T_ASSERT(s.in_window); /* 0 is "on time", not "never" */
    T_EQ_INT(s.next_s, slot + 3600);
    T_EQ_INT(s.wake_s, slot + CRONOMJOB_ON_TIME_S + 1);
    T_EQ_INT(decide("0 * * * *", NULL, slot + CRONOMJOB_ON_TIME_S, slot - 3600, 0, &s), 0);
    T_ASSERT(s.in_window);
}

TEST(cronomjob_late_slot_respects_starting_deadline)
{
    struct cronomjob_slot s;
    int64_t slot = utc(2026, 11, 22, 11, 0, 0), now = slot + 52;
    T_EQ_INT(decide("* * * * *", NULL, now, slot - 600, 0, &s), 0);
    T_EQ_INT(s.due_s, slot);
    T_EQ_INT(s.missed, 10);
    T_ASSERT(!s.in_window);
    T_EQ_INT(s.wake_s, slot + 60);
    T_EQ_INT(decide("* * * * *", NULL, now, slot - 600, 30, &s), 0);
    T_ASSERT(!s.in_window);
    T_EQ_INT(decide("* * * * *", NULL, now, slot - 600, 52, &s), 0);
    T_ASSERT(s.in_window);
    T_EQ_INT(decide("* * * * *", NULL, now, slot - 600, -1, &s), 0); /* unset: catch up */
    T_ASSERT(s.in_window);
    T_EQ_INT(s.due_s, slot);                                        /* only the latest */
    T_EQ_INT(decide("* * * * *", NULL, now, slot - 600, 3, &s), 0); /* below 5 counts as 5 */
    T_ASSERT(!s.in_window);
    T_EQ_INT(decide("* * * * *", NULL, slot + 4, slot - 600, 3, &s), 0);
    T_ASSERT(s.in_window);
}

TEST(cronomjob_more_than_100_missed_is_capped_and_latest_only)
{
    struct cronomjob_slot s;
    int64_t slot = utc(2026, 11, 22, 11, 0, 0);
    /* a year of minutes: the count stops at 101 */
    T_EQ_INT(decide("* * * * *", NULL, slot + 10, slot - 365 * 86400, -1, &s), 0);
    T_EQ_INT(s.missed, CRONOMJOB_MAX_MISSED + 1);
    T_EQ_INT(s.due_s, slot);
    T_EQ_INT(decide("* * * * *", NULL, slot + 10, slot - 100 * 60, -1, &s), 0);
    T_EQ_INT(s.missed, 100);
    T_EQ_INT(decide("* * * * *", NULL, slot + 10, slot - 101 * 60, -1, &s), 0);
    T_EQ_INT(s.missed, 101);
}

TEST(cronomjob_slot_already_run_is_not_due)
{
    struct cronomjob_slot s;
    int64_t slot = utc(2026, 11, 22, 11, 0, 0);
    T_EQ_INT(decide("0 * * * *", NULL, slot + 30, slot, -1, &s), 0);
    T_EQ_INT(s.due_s, 0);
    T_EQ_INT(s.missed, 0);
}

TEST(cronomjob_impossible_schedule_is_an_error)
{
    struct cronomjob_slot s;
    T_EQ_INT(decide("0 0 30 2 *", NULL, utc(2026, 1, 1, 0, 0, 0), 0, -1, &s), -1);
}

static struct tz *
zone(const char *name)
{
    char err[256];
    struct tz *z = tz_load(name, err, sizeof err);
    if (!z) fprintf(stderr, "  zone %s: %s\n", name, err);
    return z;
}

/* Europe/Berlin, 2026-03-29: 02:00 CET -> 03:00 CEST at 01:00Z. A 02:30 daily slot does not
 * exist that day: it runs once, at the transition instant. */
TEST(cronomjob_dst_gap_north_runs_once_at_transition)
{
    struct tz *z = zone("Europe/Berlin");
    T_ASSERT(z);
    struct cronomjob_slot s;
    int64_t transition = utc(2026, 3, 29, 1, 0, 0);
    int64_t prev_day = utc(2026, 3, 28, 1, 30, 0); /* 02:30 CET on the 28th */
    T_EQ_INT(decide("30 2 * * *", z, transition + 30, prev_day, -1, &s), 0);
    T_EQ_INT(s.due_s, transition);
    T_EQ_INT(s.missed, 1);
    T_EQ_INT(s.next_s, utc(2026, 3, 30, 0, 30, 0)); /* 02:30 CEST */
    /* once run, nothing more is due that day */
    T_EQ_INT(decide("30 2 * * *", z, transition + 3600, transition, -1, &s), 0);
    T_EQ_INT(s.due_s, 0);
    char a[64], b[64];
    cronomjob_run_name(a, "p", transition);
    T_EQ_STR(a, "p-29579100"); /* 1774746000 / 60 */
    cronomjob_run_name(b, "p", utc(2026, 3, 30, 0, 30, 0));
    T_ASSERT(strcmp(a, b) != 0);
    tz_free(z);
}

/* Europe/Berlin, 2026-10-25: 03:00 CEST -> 02:00 CET at 01:00Z; 02:30 occurs at 00:30Z and
 * again at 01:30Z. It runs at the first; the second pass is not a slot. */
TEST(cronomjob_dst_overlap_north_runs_once)
{
    struct tz *z = zone("Europe/Berlin");
    T_ASSERT(z);
    struct cronomjob_slot s;
    int64_t first = utc(2026, 10, 25, 0, 30, 0), second = utc(2026, 10, 25, 1, 30, 0);
    T_EQ_INT(decide("30 2 * * *", z, first + 2, first - 86400, -1, &s), 0);
    T_EQ_INT(s.due_s, first);
    T_EQ_INT(decide("30 2 * * *", z, second + 2, first, -1, &s), 0);
    T_EQ_INT(s.due_s, 0);
    T_EQ_INT(s.next_s, utc(2026, 10, 26, 1, 30, 0)); /* 02:30 CET next day */
    tz_free(z);
}

/* Australia/Sydney, 2026-10-04: 02:00 AEST -> 03:00 AEDT at 2026-10-03T16:00Z (southern
 * spring). 02:30 is in the gap: runs once at 16:00Z. In April it falls back: 2026-04-05
 * 03:00 AEDT -> 02:00 AEST at 2026-04-04T16:00Z, 02:30 first at 15:30Z, again at 16:30Z. */
TEST(cronomjob_dst_south_gap_and_overlap)
{
    struct tz *z = zone("Australia/Sydney");
    T_ASSERT(z);
    struct cronomjob_slot s;
    int64_t transition = utc(2026, 10, 3, 16, 0, 0);
    T_EQ_INT(decide("30 2 * * *", z, transition + 1, transition - 86400, 0, &s), 0);
    T_EQ_INT(s.due_s, transition);
    T_ASSERT(s.in_window);
    T_EQ_INT(s.next_s, utc(2026, 10, 4, 15, 30, 0)); /* 02:30 AEDT = 15:30Z */
    int64_t first = utc(2026, 4, 4, 15, 30, 0), second = utc(2026, 4, 4, 16, 30, 0);
    T_EQ_INT(decide("30 2 * * *", z, first + 1, first - 86400, 0, &s), 0);
    T_EQ_INT(s.due_s, first);
    T_EQ_INT(decide("30 2 * * *", z, second + 1, first, 0, &s), 0);
    T_EQ_INT(s.due_s, 0);
    tz_free(z);
}

TEST(cronomjob_run_names_are_deterministic_and_valid)
{
    char out[64], again[64];
    int64_t slot = utc(2026, 11, 22, 11, 0, 0);
    cronomjob_run_name(out, "nightly", slot);
    T_EQ_STR(out, "nightly-29922420");
    cronomjob_run_name(again, "nightly", slot + 59); /* same minute, same lock */
    T_EQ_STR(out, again);
    char longname[120];
    memset(longname, 'x', 100);
    longname[100] = '\0';
    cronomjob_run_name(out, longname, slot);
    T_ASSERT(naming_is_dns1123_label(out));
    T_ASSERT(strlen(out) <= 63);
    T_ASSERT(strstr(out, "-29922420") != NULL);
    longname[99] = 'y';
    cronomjob_run_name(again, longname, slot);
    T_ASSERT(strcmp(out, again) != 0);
}

TEST(cronomjob_substitutes_placeholders)
{
    char *s =
        cronomjob_substitute("{{ omjob.name }}/{{omjob.uid}}/{{   omjob.name\t}}", "run-1", "u-2");
    T_EQ_STR(s, "run-1/u-2/run-1");
    free(s);
    s = cronomjob_substitute("{{ omjob.other }} {{ omjob.name }", "n", "u");
    T_EQ_STR(s, "{{ omjob.other }} {{ omjob.name }");
    free(s);
    s = cronomjob_substitute("", "n", "u");
    T_EQ_STR(s, "");
    free(s);
    s = cronomjob_substitute("x{{", "n", "u");
    T_EQ_STR(s, "x{{");
    free(s);
}
