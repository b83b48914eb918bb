/* Wall-clock and monotonic time helpers, and Kubernetes timestamp formats. */
#ifndef OMJ_TIMEUTIL_H
#define OMJ_TIMEUTIL_H

#include <stdint.h>
#include <time.h>

/* Milliseconds on CLOCK_MONOTONIC (timers, timeouts). */
int64_t time_mono_ms(void);
/* Wall-clock milliseconds since the epoch. Tests may shift it with time_set_offset_ms
 * (the operator's --clock-offset, used to drive cron schedules). */
int64_t time_now_ms(void);
void time_set_offset_ms(int64_t offset_ms);

/* RFC 3339 in UTC. out must hold TIME_RFC3339_MAX bytes.
 *   time_fmt_rfc3339(out, ms, 0) -> 2026-11-22T05:00:00Z        (metav1.Time)
 *   time_fmt_rfc3339(out, ms, 3) -> 2026-11-22T05:00:00.123Z    (logs)
 *   time_fmt_rfc3339(out, ms, 6) -> 2026-11-22T05:00:00.123000Z (metav1.MicroTime) */
#define TIME_RFC3339_MAX 40
void time_fmt_rfc3339(char out[static TIME_RFC3339_MAX], int64_t epoch_ms, int frac_digits);
/* Parses RFC 3339 (with Z or ±hh:mm, optional fraction). Returns 0 and sets *epoch_ms,
 * or -1 for anything malformed. */
int time_parse_rfc3339(const char *s, int64_t *epoch_ms);
/* a / b rounded towards minus infinity (b != 0): day and minute arithmetic before 1970. */
static inline int64_t
time_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* timegm() for a broken-down UTC time, without the TZ environment. */
int64_t time_days_from_civil(int64_t y, unsigned m, unsigned d);

#endif
