/* Cron parser and slot computation tests. Expected instants are written by hand from
 * the schedule and the zone's DST law, as literal RFC 3339 UTC timestamps; they are
 * never derived from cron.c/tz.c or libc's localtime. */
#include "t.h"

#include "util/cron.h"
#include "util/timeutil.h"
#include "util/tz.h"

#include <stdint.h>
#include <stdlib.h>

static int64_t
Z(const char *rfc3339)
{
    int64_t ms = 0;
    if (time_parse_rfc3339(rfc3339, &ms) < 0) abort(); /* a typo in a test */
    return ms / 1000;
}

static uint64_t
bits(const int *v, size_t n)
{
    uint64_t b = 0;
    for (size_t i = 0; i < n; i++)
        b |= UINT64_C(1) << v[i];
    return b;
}
#define BITS(...) bits((const int[]){__VA_ARGS__}, sizeof((const int[]){__VA_ARGS__}) / sizeof(int))

static uint64_t
range_bits(int lo, int hi)
{
    uint64_t b = 0;
    for (int v = lo; v <= hi; v++)
        b |= UINT64_C(1) << v;
    return b;
}

/* ---- parsing ------------------------------------------------------------------------ */

TEST(cron_parse_star_and_values)
{
    struct cron_expr e;
    char err[256] = "";
    T_EQ_INT(cron_parse("* * * * *", &e, err, sizeof err), 0);
    T_ASSERT(e.minute == range_bits(0, 59));
    T_ASSERT(e.hour == range_bits(0, 23));
    T_ASSERT(e.dom == range_bits(1, 31));
    T_ASSERT(e.month == range_bits(1, 12));
    T_ASSERT(e.dow == range_bits(0, 6));
    T_ASSERT(e.dom_star && e.dow_star);
    T_EQ_INT(cron_parse("  5\t4  3 2 1  ", &e, err, sizeof err), 0);
    T_ASSERT(e.minute == BITS(5) && e.hour == BITS(4) && e.dom == BITS(3));
    T_ASSERT(e.month == BITS(2) && e.dow == BITS(1));
    T_ASSERT(!e.dom_star && !e.dow_star);
    T_EQ_INT(cron_parse("59 23 31 12 6", &e, err, sizeof err), 0);
    T_ASSERT(e.minute == BITS(59) && e.hour == BITS(23) && e.dom == BITS(31));
    T_ASSERT(e.month == BITS(12) && e.dow == BITS(6));
}

TEST(cron_parse_lists_ranges_steps)
{
    struct cron_expr e;
    char err[256] = "";
    T_EQ_INT(cron_parse("1,5 1-5 */10 * *", &e, err, sizeof err), 0);
    T_ASSERT(e.minute == BITS(1, 5));
    T_ASSERT(e.hour == range_bits(1, 5));
    T_ASSERT(e.dom == BITS(1, 11, 21, 31));
    T_EQ_INT(cron_parse("*/15 10-20/5 5/10 */5 *", &e, err, sizeof err), 0);
    T_ASSERT(e.minute == BITS(0, 15, 30, 45));
    T_ASSERT(e.hour == BITS(10, 15, 20));
    T_ASSERT(e.dom == BITS(5, 15, 25));
    T_ASSERT(e.month == BITS(1, 6, 11));
    T_EQ_INT(cron_parse("10-40/10 5/15 * * *", &e, err, sizeof err), 0);
    T_ASSERT(e.minute == BITS(10, 20, 30, 40));
    T_ASSERT(e.hour == BITS(5, 20)); /* 5/15 = 5-23/15 */
    T_EQ_INT(cron_parse("5/15 * * * *", &e, err, sizeof err), 0);
    T_ASSERT(e.minute == BITS(5, 20, 35, 50));
    T_EQ_INT(cron_parse("0-4,10,50-59/3 * * * *", &e, err, sizeof err), 0);
    T_ASSERT(e.minute == BITS(0, 1, 2, 3, 4, 10, 50, 53, 56, 59));
    T_EQ_INT(cron_parse("*/60 * * * *", &e, err, sizeof err), 0);
    T_ASSERT(e.minute == BITS(0));
}

TEST(cron_parse_names)
{
    struct cron_expr e;
    char err[256] = "";
    T_EQ_INT(cron_parse("0 0 * JAN-MAR MON-FRI", &e, err, sizeof err), 0);
    T_ASSERT(e.month == BITS(1, 2, 3));
    T_ASSERT(e.dow == range_bits(1, 5));
    T_EQ_INT(cron_parse("0 0 * jan,Jun,DEC sun,Sat", &e, err, sizeof err), 0);
    T_ASSERT(e.month == BITS(1, 6, 12));
    T_ASSERT(e.dow == BITS(0, 6));
    T_EQ_INT(cron_parse("0 0 * FEB-NOV/3 TUE-THU", &e, err, sizeof err), 0);
    T_ASSERT(e.month == BITS(2, 5, 8, 11));
    T_ASSERT(e.dow == BITS(2, 3, 4));
    T_EQ_INT(cron_parse("0 0 * 1-JUN WED-5", &e, err, sizeof err), 0);
    T_ASSERT(e.month == range_bits(1, 6));
    T_ASSERT(e.dow == BITS(3, 4, 5));
}

TEST(cron_parse_sunday_is_0_and_7)
{
    struct cron_expr e;
    char err[256] = "";
    T_EQ_INT(cron_parse("0 0 * * 7", &e, err, sizeof err), 0);
    T_ASSERT(e.dow == BITS(0));
    T_EQ_INT(cron_parse("0 0 * * 5-7", &e, err, sizeof err), 0);
    T_ASSERT(e.dow == BITS(0, 5, 6));
    T_EQ_INT(cron_parse("0 0 * * FRI-7", &e, err, sizeof err), 0);
    T_ASSERT(e.dow == BITS(0, 5, 6));
    T_EQ_INT(cron_parse("0 0 * * 0,7", &e, err, sizeof err), 0);
    T_ASSERT(e.dow == BITS(0));
    T_EQ_INT(cron_parse("0 0 * * */2", &e, err, sizeof err), 0);
    T_ASSERT(e.dow == BITS(0, 2, 4, 6));
}

TEST(cron_parse_question_mark_and_star_flags)
{
    struct cron_expr e;
    char err[256] = "";
    T_EQ_INT(cron_parse("0 0 ? * MON", &e, err, sizeof err), 0);
    T_ASSERT(e.dom_star && !e.dow_star);
    T_ASSERT(e.dom == range_bits(1, 31));
    T_EQ_INT(cron_parse("0 0 15 * ?", &e, err, sizeof err), 0);
    T_ASSERT(!e.dom_star && e.dow_star);
    T_ASSERT(e.dow == range_bits(0, 6));
    /* A stepped star restricts the field (robfig/cron, which Kubernetes uses). */
    T_EQ_INT(cron_parse("0 0 */2 * *", &e, err, sizeof err), 0);
    T_ASSERT(!e.dom_star && e.dow_star);
    T_EQ_INT(cron_parse("0 0 */1 * *", &e, err, sizeof err), 0);
    T_ASSERT(e.dom_star);
}

TEST(cron_parse_macros)
{
    static const struct {
        const char *macro, *same_as;
    } m[] = {
        {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"}, {" @Daily ", "0 0 * * *"},
    };
    char err[256] = "";
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        struct cron_expr a, b;
        T_EQ_INT(cron_parse(m[i].macro, &a, err, sizeof err), 0);
        T_EQ_INT(cron_parse(m[i].same_as, &b, err, sizeof err), 0);
        T_ASSERT(a.minute == b.minute && a.hour == b.hour && a.dom == b.dom);
        T_ASSERT(a.month == b.month && a.dow == b.dow);
        T_ASSERT(a.dom_star == b.dom_star && a.dow_star == b.dow_star);
    }
}

/* Expects spec to be rejected with exactly `want` as the message. */
static int
rejects_with(const char *spec, const char *want, char *got, size_t gotlen)
{
    struct cron_expr e;
    snprintf(got, gotlen, "(accepted)");
    if (cron_parse(spec, &e, got, gotlen) == 0) return 0;
    return strcmp(got, want) == 0;
}
#define T_REJECTS(spec, want)                                                                      \
    do {                                                                                           \
        char got_[512];                                                                            \
        if (!rejects_with(spec, want, got_, sizeof got_)) {                                        \
            t_fail(__FILE__, __LINE__, "\"%s\": want '%s', got '%s'", spec, want, got_);           \
            return;                                                                                \
        }                                                                                          \
    } while (0)

TEST(cron_rejects_out_of_range_values)
{
    T_REJECTS("61 * * * *", "minute field \"61\": value 61 out of range 0-59");
    T_REJECTS("60 * * * *", "minute field \"60\": value 60 out of range 0-59");
    T_REJECTS("* 24 * * *", "hour field \"24\": value 24 out of range 0-23");
    T_REJECTS("* * 0 * *", "day-of-month field \"0\": value 0 out of range 1-31");
    T_REJECTS("* * 32 * *", "day-of-month field \"32\": value 32 out of range 1-31");
    T_REJECTS("* * * 0 *", "month field \"0\": value 0 out of range 1-12");
    T_REJECTS("* * * 13 *", "month field \"13\": value 13 out of range 1-12");
    T_REJECTS("* * * * 8", "day-of-week field \"8\": value 8 out of range 0-7");
    T_REJECTS("1,2,99 * * * *", "minute field \"1,2,99\": value 99 out of range 0-59");
    T_REJECTS("0-70 * * * *", "minute field \"0-70\": value 70 out of range 0-59");
    T_REJECTS("99999999999 * * * *",
              "minute field \"99999999999\": value 99999999999 out of range 0-59");
}

TEST(cron_rejects_field_counts)
{
    T_REJECTS("* * * * * *", "expected 5 fields, got 6");
    T_REJECTS("0 0 * * * 2026", "expected 5 fields, got 6");
    T_REJECTS("* * * *", "expected 5 fields, got 4");
    T_REJECTS("", "expected 5 fields, got 0");
    T_REJECTS("   ", "expected 5 fields, got 0");
}

TEST(cron_rejects_bad_names)
{
    T_REJECTS("* * * * FOO", "day-of-week field \"FOO\": unknown name");
    T_REJECTS("* * * * MONDAY", "day-of-week field \"MONDAY\": unknown name");
    T_REJECTS("* * * JANUARY *", "month field \"JANUARY\": unknown name");
    T_REJECTS("* * * MON *", "month field \"MON\": unknown name");
    T_REJECTS("* * * * JAN", "day-of-week field \"JAN\": unknown name");
    T_REJECTS("MON * * * *", "minute field \"MON\": names are not allowed here");
    T_REJECTS("* * X * *", "day-of-month field \"X\": names are not allowed here");
}

TEST(cron_rejects_bad_steps_ranges_lists)
{
    T_REJECTS("*/0 * * * *", "minute field \"*/0\": step must be at least 1");
    T_REJECTS("* */ * * *", "hour field \"*/\": step must be a number");
    T_REJECTS("* */x * * *", "hour field \"*/x\": step must be a number");
    T_REJECTS("*/61 * * * *", "minute field \"*/61\": step larger than the field's range");
    T_REJECTS("5-1 * * * *", "minute field \"5-1\": range 5-1 is reversed (start after end)");
    T_REJECTS("* * * * FRI-MON",
              "day-of-week field \"FRI-MON\": range 5-1 is reversed (start after end)");
    T_REJECTS("1,,2 * * * *", "minute field \"1,,2\": empty item in list");
    T_REJECTS(",1 * * * *", "minute field \",1\": empty item in list");
    T_REJECTS("1, * * * *", "minute field \"1,\": empty item in list");
    T_REJECTS("* 1- * * *", "hour field \"1-\": missing value");
    T_REJECTS("* -1 * * *", "hour field \"-1\": unexpected character '-'");
}

TEST(cron_rejects_garbage)
{
    T_REJECTS("5x * * * *", "minute field \"5x\": invalid number");
    T_REJECTS("1-5-7 * * * *", "minute field \"1-5-7\": unexpected character '-'");
    T_REJECTS("1/2/3 * * * *", "minute field \"1/2/3\": unexpected character '/'");
    T_REJECTS("? * * * *", "minute field \"?\": unexpected character '?'");
    T_REJECTS("* * * ? *", "month field \"?\": unexpected character '?'");
    T_REJECTS("** * * * *", "minute field \"**\": unexpected character '*'");
    T_REJECTS("1.5 * * * *", "minute field \"1.5\": unexpected character '.'");
    T_REJECTS("0 0 * * 1#2", "day-of-week field \"1#2\": unexpected character '#'");
    T_REJECTS("0 0 L * *", "day-of-month field \"L\": names are not allowed here");
    T_REJECTS("0 0 * *\n*", "schedule contains control characters");
}

TEST(cron_rejects_macros_prefixes_and_long_input)
{
    T_REJECTS("@every 5m", "unknown macro \"@every\" (use @yearly, @annually, @monthly, "
                           "@weekly, @daily, @midnight or @hourly)");
    T_REJECTS("@daily 5", "unexpected text after @daily: \"5\"");
    T_REJECTS("TZ=Europe/Berlin 0 0 * * *", "TZ= and CRON_TZ= prefixes are not supported in the "
                                            "schedule; set spec.timeZone instead");
    T_REJECTS("CRON_TZ=UTC 0 0 * * *", "TZ= and CRON_TZ= prefixes are not supported in the "
                                       "schedule; set spec.timeZone instead");
    char spec[400];
    memset(spec, ' ', sizeof spec);
    memcpy(spec, "* * * * *", 9);
    spec[257] = '\0';
    T_REJECTS(spec, "schedule is too long (over 256 bytes)");
    spec[256] = '\0'; /* exactly the cap: accepted */
    struct cron_expr e;
    char err[256];
    T_EQ_INT(cron_parse(spec, &e, err, sizeof err), 0);
    T_EQ_INT(cron_parse(NULL, &e, err, sizeof err), -1);
    T_EQ_STR(err, "schedule is missing");
}

TEST(cron_error_message_truncates_safely)
{
    struct cron_expr e;
    char small[16];
    T_EQ_INT(cron_parse("61 * * * *", &e, small, sizeof small), -1);
    T_EQ_STR(small, "minute field \"6");
}

/* ---- next / prev in UTC ------------------------------------------------------------- */

static int
next_in(const char *spec, const struct tz *z, const char *after, int64_t *out)
{
    struct cron_expr e;
    char err[256];
    if (cron_parse(spec, &e, err, sizeof err) < 0) return -2;
    return cron_next(&e, z, Z(after), out);
}

static int
prev_in(const char *spec, const struct tz *z, const char *at, int64_t *out)
{
    struct cron_expr e;
    char err[256];
    if (cron_parse(spec, &e, err, sizeof err) < 0) return -2;
    return cron_prev(&e, z, Z(at), out);
}

#define T_NEXT(spec, z, after, want)                                                               \
    do {                                                                                           \
        int64_t got_ = 0;                                                                          \
        T_EQ_INT(next_in(spec, z, after, &got_), 0);                                               \
        T_EQ_INT(got_, Z(want));                                                                   \
    } while (0)
#define T_PREV(spec, z, at, want)                                                                  \
    do {                                                                                           \
        int64_t got_ = 0;                                                                          \
        T_EQ_INT(prev_in(spec, z, at, &got_), 0);                                                  \
        T_EQ_INT(got_, Z(want));                                                                   \
    } while (0)

TEST(cron_next_utc_basics)
{
    T_NEXT("*/15 * * * *", NULL, "2026-01-01T00:07:00Z", "2026-01-01T00:15:00Z");
    T_NEXT("*/15 * * * *", NULL, "2026-01-01T00:15:00Z", "2026-01-01T00:30:00Z"); /* strictly */
    T_NEXT("*/15 * * * *", NULL, "2026-01-01T00:14:59Z", "2026-01-01T00:15:00Z");
    T_NEXT("* * * * *", NULL, "2026-01-01T00:00:30Z", "2026-01-01T00:01:00Z");
    T_NEXT("30 4 1,15 * *", NULL, "2026-01-01T04:30:00Z", "2026-01-15T04:30:00Z");
    T_NEXT("59 23 31 12 *", NULL, "2026-12-31T23:59:00Z", "2027-12-31T23:59:00Z");
    T_NEXT("0 0 1 1 *", NULL, "1969-06-01T00:00:00Z", "1970-01-01T00:00:00Z");
    /* 2026-01-02 is a Friday; the next weekday 09:00 is Monday the 5th. */
    T_NEXT("0 9 * * MON-FRI", NULL, "2026-01-02T10:00:00Z", "2026-01-05T09:00:00Z");
    T_NEXT("0 9 * * 1-5", NULL, "2026-01-02T08:00:00Z", "2026-01-02T09:00:00Z");
    T_NEXT("0 12 31 * *", NULL, "2026-04-01T00:00:00Z", "2026-05-31T12:00:00Z"); /* no Apr 31 */
    T_NEXT("0 0 * * 7", NULL, "2026-01-01T00:00:00Z", "2026-01-04T00:00:00Z");   /* Sunday */
}

TEST(cron_next_macros_utc)
{
    T_NEXT("@yearly", NULL, "2026-06-01T00:00:00Z", "2027-01-01T00:00:00Z");
    T_NEXT("@monthly", NULL, "2026-06-01T00:00:00Z", "2026-07-01T00:00:00Z");
    T_NEXT("@weekly", NULL, "2026-01-01T00:00:00Z", "2026-01-04T00:00:00Z"); /* Thu -> Sun */
    T_NEXT("@daily", NULL, "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z");
    T_NEXT("@hourly", NULL, "2026-01-01T00:59:59Z", "2026-01-01T01:00:00Z");
}

TEST(cron_vixie_day_of_month_or_day_of_week)
{
    /* Both restricted: the 13th OR any Friday. 2026-01-02, -09, -16 are Fridays. */
    T_NEXT("0 0 13 * FRI", NULL, "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z");
    T_NEXT("0 0 13 * FRI", NULL, "2026-01-09T00:00:00Z", "2026-01-13T00:00:00Z");
    T_NEXT("0 0 13 * FRI", NULL, "2026-01-13T00:00:00Z", "2026-01-16T00:00:00Z");
    /* One of them unrestricted: only the other counts. */
    T_NEXT("0 0 13 * *", NULL, "2026-01-01T00:00:00Z", "2026-01-13T00:00:00Z");
    T_NEXT("0 0 ? * FRI", NULL, "2026-01-02T00:00:00Z", "2026-01-09T00:00:00Z");
    T_NEXT("0 0 13 * ?", NULL, "2026-01-01T00:00:00Z", "2026-01-13T00:00:00Z");
    /* Friday the 13th needs... nothing cron can say: 1-31 with FRI is "any day". */
    T_NEXT("0 0 1-31 * FRI", NULL, "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z");
    T_NEXT("0 0 1-31 * FRI", NULL, "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z");
}

TEST(cron_prev_utc_basics)
{
    T_PREV("*/15 * * * *", NULL, "2026-01-01T00:15:00Z", "2026-01-01T00:15:00Z"); /* at */
    T_PREV("*/15 * * * *", NULL, "2026-01-01T00:14:59Z", "2026-01-01T00:00:00Z");
    T_PREV("0 0 1 1 *", NULL, "1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z");
    T_PREV("0 0 1 1 *", NULL, "1969-12-31T23:59:59Z", "1969-01-01T00:00:00Z");
    T_PREV("0 9 * * MON-FRI", NULL, "2026-01-05T08:59:00Z", "2026-01-02T09:00:00Z");
    T_PREV("@yearly", NULL, "2026-06-01T00:00:00Z", "2026-01-01T00:00:00Z");
    T_PREV("0 12 31 * *", NULL, "2026-05-01T00:00:00Z", "2026-03-31T12:00:00Z");
}

TEST(cron_leap_day_is_fast_and_impossible_dates_end)
{
    T_NEXT("0 0 29 2 *", NULL, "2026-01-01T00:00:00Z", "2028-02-29T00:00:00Z");
    T_PREV("0 0 29 2 *", NULL, "2026-01-01T00:00:00Z", "2024-02-29T00:00:00Z");
    /* 2100 is not a leap year: after 2096 the next Feb 29 is in 2104, just inside the
     * five-year search window from 2099-03-01. */
    T_NEXT("0 0 29 2 *", NULL, "2099-03-01T00:00:00Z", "2104-02-29T00:00:00Z");
    int64_t t;
    T_EQ_INT(next_in("0 0 30 2 *", NULL, "2026-01-01T00:00:00Z", &t), -1);
    T_EQ_INT(prev_in("0 0 30 2 *", NULL, "2026-01-01T00:00:00Z", &t), -1);
    T_EQ_INT(next_in("0 0 31 4,6,9,11 *", NULL, "2026-01-01T00:00:00Z", &t), -1);
    struct cron_expr e;
    char err[256];
    T_EQ_INT(cron_parse("0 0 29 2 *", &e, err, sizeof err), 0);
    int64_t start = time_mono_ms();
    for (int round = 0; round < 20; round++) {
        int64_t at = Z("1990-01-01T00:00:00Z"), next;
        for (int i = 0; i < 27; i++) { /* the 27 leap days 1992 .. 2096 */
            T_EQ_INT(cron_next(&e, NULL, at, &next), 0);
            T_ASSERT(next > at);
            at = next;
        }
        T_EQ_INT(at, Z("2096-02-29T00:00:00Z"));
        /* 2100 is not a leap year: 2104-02-29 is 8 years away, beyond the window. */
        T_EQ_INT(cron_next(&e, NULL, at, &next), -1);
    }
    T_EQ_INT(cron_parse("0 0 30 2 *", &e, err, sizeof err), 0);
    for (int i = 0; i < 300; i++) {
        int64_t next;
        T_EQ_INT(cron_next(&e, NULL, Z("2026-01-01T00:00:00Z"), &next), -1);
    }
    T_ASSERT(time_mono_ms() - start < 2000); /* generous for sanitizer builds */
}

TEST(cron_next_and_prev_handle_null_and_empty)
{
    struct cron_expr e;
    int64_t t;
    memset(&e, 0, sizeof e);
    T_EQ_INT(cron_next(&e, NULL, 0, &t), -1);
    T_EQ_INT(cron_prev(&e, NULL, 0, &t), -1);
    T_EQ_INT(cron_next(NULL, NULL, 0, &t), -1);
    char err[256];
    T_EQ_INT(cron_parse("* * * * *", &e, err, sizeof err), 0);
    T_EQ_INT(cron_next(&e, NULL, INT64_MAX, &t), 0); /* clamped, no overflow */
    T_EQ_INT(cron_prev(&e, NULL, INT64_MIN, &t), 0);
}

/* ---- DST ---------------------------------------------------------------------------- */

static struct tz *
zone(const char *name)
{
    char err[256];
    struct tz *z = tz_load(name, err, sizeof err);
    if (!z) fprintf(stderr, "  %s\n", err);
    return z;
}

/* Europe/Berlin: CET +1 / CEST +2. 2026-03-29 01:00 UTC clocks jump 02:00 -> 03:00;
 * 2026-10-25 01:00 UTC clocks fall 03:00 -> 02:00. */
TEST(cron_berlin_daily_0230_spring_forward)
{
    struct tz *z = zone("Europe/Berlin");
    T_ASSERT(z != NULL);
    /* 2026-03-28 02:30 CET = 01:30 UTC (an ordinary day). */
    T_NEXT("30 2 * * *", z, "2026-03-27T12:00:00Z", "2026-03-28T01:30:00Z");
    /* 2026-03-29 02:30 does not exist: runs once, at the transition, 03:00 CEST. */
    T_NEXT("30 2 * * *", z, "2026-03-28T12:00:00Z", "2026-03-29T01:00:00Z");
    /* and not again that day: next is 2026-03-30 02:30 CEST = 00:30 UTC. */
    T_NEXT("30 2 * * *", z, "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z");
    T_PREV("30 2 * * *", z, "2026-03-29T01:00:00Z", "2026-03-29T01:00:00Z");
    T_PREV("30 2 * * *", z, "2026-03-29T00:59:59Z", "2026-03-28T01:30:00Z");
    T_PREV("30 2 * * *", z, "2026-03-30T00:29:59Z", "2026-03-29T01:00:00Z");
    tz_free(z);
}

TEST(cron_berlin_daily_0230_fall_back)
{
    struct tz *z = zone("Europe/Berlin");
    T_ASSERT(z != NULL);
    /* 2026-10-25 02:30 happens at 00:30 UTC (CEST) and 01:30 UTC (CET): first only. */
    T_NEXT("30 2 * * *", z, "2026-10-24T12:00:00Z", "2026-10-25T00:30:00Z");
    /* next is 2026-10-26 02:30 CET = 01:30 UTC, not the repeat at 2026-10-25 01:30 UTC. */
    T_NEXT("30 2 * * *", z, "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z");
    T_NEXT("30 2 * * *", z, "2026-10-25T01:15:00Z", "2026-10-26T01:30:00Z");
    T_PREV("30 2 * * *", z, "2026-10-25T01:45:00Z", "2026-10-25T00:30:00Z");
    T_PREV("30 2 * * *", z, "2026-10-26T01:29:59Z", "2026-10-25T00:30:00Z");
    tz_free(z);
}

TEST(cron_berlin_every_30_minutes_across_both)
{
    struct tz *z = zone("Europe/Berlin");
    T_ASSERT(z != NULL);
    /* Spring: 01:30 CET = 00:30 UTC; 02:00, 02:30 (gap) and 03:00 CEST all fall on the
     * transition instant 01:00 UTC, which runs once; then 03:30 CEST = 01:30 UTC. */
    T_NEXT("*/30 * * * *", z, "2026-03-29T00:00:00Z", "2026-03-29T00:30:00Z");
    T_NEXT("*/30 * * * *", z, "2026-03-29T00:30:00Z", "2026-03-29T01:00:00Z");
    T_NEXT("*/30 * * * *", z, "2026-03-29T01:00:00Z", "2026-03-29T01:30:00Z");
    T_PREV("*/30 * * * *", z, "2026-03-29T01:29:59Z", "2026-03-29T01:00:00Z");
    T_PREV("*/30 * * * *", z, "2026-03-29T00:59:59Z", "2026-03-29T00:30:00Z");
    /* Fall: 02:00 CEST = 00:00 UTC, 02:30 CEST = 00:30 UTC; the repeated 02:00 and 02:30
     * CET (01:00, 01:30 UTC) do not run again; 03:00 CET = 02:00 UTC. */
    T_NEXT("*/30 * * * *", z, "2026-10-24T23:45:00Z", "2026-10-25T00:00:00Z");
    T_NEXT("*/30 * * * *", z, "2026-10-25T00:00:00Z", "2026-10-25T00:30:00Z");
    T_NEXT("*/30 * * * *", z, "2026-10-25T00:30:00Z", "2026-10-25T02:00:00Z");
    T_NEXT("*/30 * * * *", z, "2026-10-25T01:10:00Z", "2026-10-25T02:00:00Z");
    T_NEXT("*/30 * * * *", z, "2026-10-25T02:00:00Z", "2026-10-25T02:30:00Z");
    T_PREV("*/30 * * * *", z, "2026-10-25T01:59:59Z", "2026-10-25T00:30:00Z");
    T_PREV("*/30 * * * *", z, "2026-10-25T02:00:00Z", "2026-10-25T02:00:00Z");
    tz_free(z);
}

TEST(cron_berlin_after_2037_footer)
{
    struct tz *z = zone("Europe/Berlin");
    T_ASSERT(z != NULL);
    /* 2040-03-25 (last Sunday of March): 02:30 is in the gap, the jump is 01:00 UTC. */
    T_NEXT("30 2 * * *", z, "2040-03-24T12:00:00Z", "2040-03-25T01:00:00Z");
    /* 2040-10-28 (last Sunday of October): 02:30 CEST = 00:30 UTC, once. */
    T_NEXT("30 2 * * *", z, "2040-10-27T12:00:00Z", "2040-10-28T00:30:00Z");
    T_NEXT("30 2 * * *", z, "2040-10-28T00:30:00Z", "2040-10-29T01:30:00Z");
    /* Midsummer 2050: 12:00 CEST = 10:00 UTC. */
    T_NEXT("0 12 21 6 *", z, "2050-01-01T00:00:00Z", "2050-06-21T10:00:00Z");
    tz_free(z);
}

/* Australia/Sydney: AEST +10 / AEDT +11. 2026-04-05 03:00 AEDT (16:00 UTC on the 4th)
 * back to 02:00; 2026-10-04 02:00 AEST (16:00 UTC on the 3rd) forward to 03:00. */
TEST(cron_sydney_southern_transitions)
{
    struct tz *z = zone("Australia/Sydney");
    T_ASSERT(z != NULL);
    /* Fall back: 02:30 on the 5th first happens at 02:30 AEDT = 15:30 UTC on the 4th. */
    T_NEXT("30 2 * * *", z, "2026-04-04T00:00:00Z", "2026-04-04T15:30:00Z");
    /* next: 2026-04-06 02:30 AEST = 16:30 UTC on the 5th (the repeat is skipped). */
    T_NEXT("30 2 * * *", z, "2026-04-04T15:30:00Z", "2026-04-05T16:30:00Z");
    /* Spring forward: 2026-10-03 02:30 AEST = 16:30 UTC on the 2nd; on the 4th 02:30
     * does not exist and runs at the jump, 16:00 UTC on the 3rd; then 2026-10-05
     * 02:30 AEDT = 15:30 UTC on the 4th. */
    T_NEXT("30 2 * * *", z, "2026-10-02T00:00:00Z", "2026-10-02T16:30:00Z");
    T_NEXT("30 2 * * *", z, "2026-10-02T16:30:00Z", "2026-10-03T16:00:00Z");
    T_NEXT("30 2 * * *", z, "2026-10-03T16:00:00Z", "2026-10-04T15:30:00Z");
    T_PREV("30 2 * * *", z, "2026-10-04T15:29:59Z", "2026-10-03T16:00:00Z");
    /* Every 30 minutes across the jump: 01:30 AEST = 15:30 UTC, then the jump at 16:00
     * UTC (02:00, 02:30, 03:00 collapse), then 03:30 AEDT = 16:30 UTC. */
    T_NEXT("*/30 * * * *", z, "2026-10-03T15:15:00Z", "2026-10-03T15:30:00Z");
    T_NEXT("*/30 * * * *", z, "2026-10-03T15:30:00Z", "2026-10-03T16:00:00Z");
    T_NEXT("*/30 * * * *", z, "2026-10-03T16:00:00Z", "2026-10-03T16:30:00Z");
    /* Every 30 minutes across the fall back: 02:30 AEDT = 15:30 UTC, the repeated 02:00
     * and 02:30 AEST (16:00, 16:30 UTC) skipped, 03:00 AEST = 17:00 UTC. */
    T_NEXT("*/30 * * * *", z, "2026-04-04T15:30:00Z", "2026-04-04T17:00:00Z");
    tz_free(z);
}

/* America/New_York: EST -5 / EDT -4. 2026-03-08 02:00 EST (07:00 UTC) -> 03:00 EDT;
 * 2026-11-01 02:00 EDT (06:00 UTC) -> 01:00 EST. */
TEST(cron_new_york_transitions)
{
    struct tz *z = zone("America/New_York");
    T_ASSERT(z != NULL);
    T_NEXT("30 2 * * *", z, "2026-03-07T12:00:00Z", "2026-03-08T07:00:00Z");
    T_NEXT("30 2 * * *", z, "2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"); /* EDT */
    /* 01:30 on Nov 1 happens at 05:30 UTC (EDT) and 06:30 UTC (EST): first only. */
    T_NEXT("30 1 * * *", z, "2026-10-31T12:00:00Z", "2026-11-01T05:30:00Z");
    T_NEXT("30 1 * * *", z, "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z");
    /* 02:00 on Nov 1 happens once, in EST: 07:00 UTC. */
    T_NEXT("0 2 * * *", z, "2026-10-31T12:00:00Z", "2026-11-01T07:00:00Z");
    /* 09:00 weekdays: Friday 2026-03-06 is EST (14:00 UTC), Monday 03-09 EDT (13:00). */
    T_NEXT("0 9 * * MON-FRI", z, "2026-03-06T15:00:00Z", "2026-03-09T13:00:00Z");
    T_PREV("0 9 * * MON-FRI", z, "2026-03-09T12:59:59Z", "2026-03-06T14:00:00Z");
    tz_free(z);
}

/* Walks next() across a year and checks prev() agrees with it at every step. */
static int
check_next_prev_agree(const char *spec, const char *zname, const char *from, int steps)
{
    struct cron_expr e;
    char err[256];
    struct tz *z = tz_load(zname, err, sizeof err);
    if (!z || cron_parse(spec, &e, err, sizeof err) < 0) {
        tz_free(z);
        return 0;
    }
    int ok = 1;
    int64_t prev = Z(from), next, back;
    for (int i = 0; i < steps && ok; i++) {
        ok = cron_next(&e, z, prev, &next) == 0 && next > prev;
        ok = ok && cron_prev(&e, z, next, &back) == 0 && back == next;
        ok = ok && (i == 0 || (cron_prev(&e, z, next - 1, &back) == 0 && back == prev));
        if (!ok)
            t_fail(__FILE__, __LINE__, "%s in %s: step %d at %lld", spec, zname, i,
                   (long long)next);
        prev = next;
    }
    tz_free(z);
    return ok;
}

TEST(cron_next_and_prev_are_consistent)
{
    T_ASSERT(check_next_prev_agree("30 2 * * *", "Europe/Berlin", "2026-01-01T00:00:00Z", 400));
    T_ASSERT(
        check_next_prev_agree("*/20 1-3 * * *", "Europe/Berlin", "2026-01-01T00:00:00Z", 3000));
    T_ASSERT(
        check_next_prev_agree("0,30 2,3 * * *", "Australia/Sydney", "2026-01-01T00:00:00Z", 1500));
    T_ASSERT(check_next_prev_agree("15 1 * * SUN", "America/New_York", "2026-01-01T00:00:00Z", 60));
    T_ASSERT(check_next_prev_agree("0 0 29 2 *", "UTC", "2000-01-01T00:00:00Z", 10));
}

static uint32_t
next_rand(uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

/* A random spec: five fields of random items (values, ranges, steps, stars,
 * names), with an occasional stray character. */
static void
random_spec(char *spec, size_t cap, uint32_t *seed)
{
    static const char *const pieces[] = {"*", "?", "MON", "jan", "SUN", "DEC", "FRI", "7",
                                         "L", "x", "",    "-",   ",",   "/",   "@",   "#"};
    static const unsigned span[5] = {62, 26, 33, 14, 9}; /* a little past each maximum */
    size_t n = 0;
    for (int f = 0; f < 5; f++) {
        int items = 1 + (int)(next_rand(seed) % 3);
        for (int i = 0; i < items; i++) {
            uint32_t r = next_rand(seed);
            const char *sep = i + 1 < items ? "," : "";
            const char *piece = pieces[(r >> 8) % 16];
            int w;
            if (r % 16 == 0)
                w = snprintf(spec + n, cap - n, "%s%s", piece, sep);
            else if (r % 8 < 3)
                w = snprintf(spec + n, cap - n, "%u%s", (r >> 4) % span[f], sep);
            else if (r % 8 < 5)
                w = snprintf(spec + n, cap - n, "%u-%u%s", (r >> 4) % (span[f] / 2),
                             span[f] / 3 + (r >> 12) % span[f], sep);
            else if (r % 8 < 7)
                w = snprintf(spec + n, cap - n, "*/%u%s", (r >> 4) % 12, sep);
            else
                w = snprintf(spec + n, cap - n, "*%s", sep);
            if (w < 0 || (size_t)w >= cap - n) return;
            n += (size_t)w;
        }
        if (n + 1 < cap && f < 4) spec[n++] = ' ';
        spec[n] = '\0';
    }
}

TEST(cron_random_input_never_crashes)
{
    /* Parse must either fail with a message or yield an expression whose next/prev
     * searches terminate and agree. */
    uint32_t seed = 2026;
    char spec[160], err[256];
    int accepted = 0;
    for (int i = 0; i < 20000; i++) {
        random_spec(spec, sizeof spec, &seed);
        struct cron_expr e;
        err[0] = '\0';
        if (cron_parse(spec, &e, err, sizeof err) < 0) {
            T_ASSERT(err[0] != '\0');
            continue;
        }
        accepted++;
        int64_t t, back;
        if (cron_next(&e, NULL, Z("2026-01-01T00:00:00Z"), &t) == 0) {
            T_EQ_INT(cron_prev(&e, NULL, t, &back), 0);
            T_EQ_INT(back, t);
        }
    }
    T_ASSERT(accepted > 1000);
}
