/* Five-field cron schedules as Kubernetes CronJob accepts them, and slot computation in
 * an IANA time zone.
 *
 * Syntax: "minute hour day-of-month month day-of-week", fields separated by blanks.
 * Each field is a comma list of items; an item is `*`, a value `5`, a range `1-5`, any
 * of those with a step (`* /15` written without the blank, `10-40/10`), or `5/15`
 * meaning 5-max/15. Months take JAN-DEC and days of week SUN-SAT (case-insensitive, also
 * in ranges: MON-FRI); day-of-week 7 is Sunday; `?` is `*` in the two day fields.
 * Macros: @yearly/@annually, @monthly, @weekly, @daily/@midnight, @hourly (@every is not
 * supported). The TZ= and CRON_TZ= prefixes are rejected: the zone comes from
 * spec.timeZone. A step may not exceed the field's span (`* /60` is the most for minutes).
 * Errors name the field and quote it: `hour field "5-1": range 5-1 is reversed (start
 * after end)`, `day-of-week field "FOO": unknown name`, `expected 5 fields, got 6`.
 *
 * Day matching (Vixie cron, as Kubernetes/robfig-cron): when both day-of-month and
 * day-of-week are restricted, a day matches if EITHER matches; when one of them is
 * unrestricted, both must match (so only the restricted one counts). A field is
 * unrestricted when one of its items is `*` or `?` without a step (or with step 1), so
 * `* /2` (no blank) in day-of-month counts as restricted, as in robfig/cron.
 *
 * Time zones and DST: a schedule names wall-clock slots in the zone. Each slot runs at
 * the earliest instant whose wall clock reads the slot time or later:
 *   - a slot that falls in a DST gap (02:30 where clocks jump 02:00 -> 03:00) runs once,
 *     at the transition instant (03:00 new local time). Several slots in one gap (02:00,
 *     02:15, ... and 03:00 itself) collapse into that single instant, which runs once;
 *   - a slot that occurs twice (fall-back overlap) runs once, at its first occurrence.
 *     This includes hourly and minutely schedules: during a repeated hour, "* /15 * * * *"
 *     runs once per distinct wall-clock slot (at the first occurrence), so the repeated
 *     hour's second pass runs nothing and the next run after 02:45 (first pass) is 03:00.
 * With this rule slot instants never go backwards, and each instant runs at most once.
 * cron_next and cron_prev agree: cron_prev(cron_next(t)) == cron_next(t). */
#ifndef OMJ_CRON_H
#define OMJ_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tz;

/* Longest schedule string accepted, in bytes. */
#define CRON_SPEC_MAX 256
/* How far cron_next/cron_prev search before giving up ("0 0 29 2 *" finds nothing
 * after 2096-02-29: 2100 is not a leap year and 2104 is eight years away). */
#define CRON_SEARCH_YEARS 5

/* Bitsets: bit n set when value n matches. dow uses 0-6 (Sunday = 0). */
struct cron_expr {
    uint64_t minute; /* bits 0-59 */
    uint32_t hour;   /* bits 0-23 */
    uint32_t dom;    /* bits 1-31 */
    uint16_t month;  /* bits 1-12 */
    uint8_t dow;     /* bits 0-6 */
    bool dom_star, dow_star;
};

/* Parses spec into *out. Returns 0, or -1 with a message in err naming the bad field,
 * e.g. `minute field "61": value 61 out of range 0-59`, `expected 5 fields, got 6`. */
int cron_parse(const char *spec, struct cron_expr *out, char *err, size_t errlen);

/* The first slot instant strictly after after_s in zone z (NULL means UTC), following
 * the DST rules above. Returns 0 and sets *next_s, or -1 if there is none within
 * CRON_SEARCH_YEARS (e.g. "0 0 30 2 *"). Bounded: skips non-matching months and days. */
int cron_next(const struct cron_expr *e, const struct tz *z, int64_t after_s, int64_t *next_s);

/* The latest slot instant at or before at_s (same rules). Returns 0 and sets *prev_s,
 * or -1 if there is none within the previous CRON_SEARCH_YEARS. */
int cron_prev(const struct cron_expr *e, const struct tz *z, int64_t at_s, int64_t *prev_s);

#endif
