/* Cron expressions (util/cron.c): the schedule of every CronOMJob.
 * Input: the schedule, optionally followed by '\n' and bytes that pick the search start.
 * Invariants: a parsed schedule has only in-range bits, a `*` field is full; printing it
 * (as explicit value lists) and parsing again gives the same schedule; in UTC, cron_next(t)
 * is after t, matches the schedule by the Vixie day rule, no slot lies between t and it
 * (cron_prev(next - 1) <= t), and cron_prev(next) == next; in a DST zone cron_next is after t
 * and cron_prev(cron_next(t)) == cron_next(t), as cron.h promises. */
#include "fuzz.h"

#include "util/cron.h"
#include "util/tz.h"

#include <string.h>
#include <time.h>

static struct tz *berlin;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (!getenv("ZONEINFO")) setenv("ZONEINFO", "build/vendor/zoneinfo", 1);
    char err[256];
    berlin = tz_load("Europe/Berlin", err, sizeof err); /* NULL: the DST checks are skipped */
    return 0;
}

static void
print_field(char *out, size_t cap, uint64_t bits, unsigned lo, unsigned hi, int star)
{
    size_t n = 0;
    out[0] = '\0';
    if (star) {
        snprintf(out, cap, "*");
        return;
    }
    for (unsigned v = lo; v <= hi; v++)
        if (bits & (UINT64_C(1) << v))
            n += (size_t)snprintf(out + n, cap - n, "%s%u", n ? "," : "", v);
}

static int
matches_utc(const struct cron_expr *e, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    if (tm.tm_sec != 0) return 0;
    if (!(e->minute >> tm.tm_min & 1) || !(e->hour >> tm.tm_hour & 1) ||
        !(e->month >> (tm.tm_mon + 1) & 1))
        return 0;
    int dom = (int)(e->dom >> tm.tm_mday & 1), dow = (int)(e->dow >> tm.tm_wday & 1);
    if (e->dom_star || e->dow_star) return dom && dow;
    return dom || dow;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char spec[1024];
    size_t n = 0;
    while (n < size && n < sizeof spec - 1 && data[n] != '\n') {
        spec[n] = (char)data[n];
        n++;
    }
    spec[n] = '\0';
    uint64_t pick = 0;
    for (size_t i = n + 1; i < size && i < n + 9; i++)
        pick = pick << 8 | data[i];
    /* 1970 .. ~2096: cron_next/prev may search 5 years around it */
    int64_t t = (int64_t)(pick % UINT64_C(4000000000));

    struct cron_expr e, e2;
    char err[256];
    err[0] = '\0';
    if (cron_parse(spec, &e, err, sizeof err) < 0) {
        FUZZ_CHECK(err[0] != '\0', "an error without a message");
        return 0;
    }
    FUZZ_CHECK(!(e.minute >> 60), "minute bits past 59");
    FUZZ_CHECK(!(e.hour >> 24), "hour bits past 23");
    FUZZ_CHECK(!(e.dom & 1), "day-of-month 0");
    FUZZ_CHECK(!(e.month & 1) && !(e.month >> 13), "month bits out of 1-12");
    FUZZ_CHECK(!(e.dow >> 7), "day-of-week bits past 6");
    FUZZ_CHECK(e.minute && e.hour && e.dom && e.month && e.dow, "a field matches nothing");
    FUZZ_CHECK(!e.dom_star || e.dom == 0xfffffffeu, "* day-of-month not full");
    FUZZ_CHECK(!e.dow_star || e.dow == 0x7f, "* day-of-week not full");

    char f[5][200], printed[1024];
    print_field(f[0], sizeof f[0], e.minute, 0, 59, e.minute == (UINT64_C(1) << 60) - 1);
    print_field(f[1], sizeof f[1], e.hour, 0, 23, e.hour == (1u << 24) - 1);
    print_field(f[2], sizeof f[2], e.dom, 1, 31, e.dom_star);
    print_field(f[3], sizeof f[3], e.month, 1, 12, e.month == 0x1ffe);
    print_field(f[4], sizeof f[4], e.dow, 0, 6, e.dow_star);
    snprintf(printed, sizeof printed, "%s %s %s %s %s", f[0], f[1], f[2], f[3], f[4]);
    if (strlen(printed) <= CRON_SPEC_MAX) {
        FUZZ_CHECK(cron_parse(printed, &e2, err, sizeof err) == 0, "\"%s\" (from \"%s\"): %s",
                   printed, spec, err);
        FUZZ_CHECK(e.minute == e2.minute && e.hour == e2.hour && e.dom == e2.dom &&
                       e.month == e2.month && e.dow == e2.dow && e.dom_star == e2.dom_star &&
                       e.dow_star == e2.dow_star,
                   "\"%s\" reparsed as \"%s\" differs", spec, printed);
    }

    int64_t next = 0, prev = 0;
    if (cron_next(&e, NULL, t, &next) == 0) {
        FUZZ_CHECK(next > t, "next %lld <= after %lld", (long long)next, (long long)t);
        FUZZ_CHECK(matches_utc(&e, next), "\"%s\": next %lld does not match", spec,
                   (long long)next);
        FUZZ_CHECK(cron_prev(&e, NULL, next, &prev) == 0 && prev == next,
                   "\"%s\": prev(next=%lld) = %lld", spec, (long long)next, (long long)prev);
        if (cron_prev(&e, NULL, next - 1, &prev) == 0)
            FUZZ_CHECK(prev <= t, "\"%s\": slot %lld between %lld and next %lld", spec,
                       (long long)prev, (long long)t, (long long)next);
    }
    if (cron_prev(&e, NULL, t, &prev) == 0) {
        FUZZ_CHECK(prev <= t && matches_utc(&e, prev), "\"%s\": prev %lld of %lld", spec,
                   (long long)prev, (long long)t);
    }
    if (berlin && cron_next(&e, berlin, t, &next) == 0) {
        FUZZ_CHECK(next > t, "Berlin next %lld <= after %lld", (long long)next, (long long)t);
        FUZZ_CHECK(cron_prev(&e, berlin, next, &prev) == 0 && prev == next,
                   "\"%s\" Berlin: prev(next=%lld) = %lld", spec, (long long)next,
                   (long long)prev);
    }
    return 0;
}
