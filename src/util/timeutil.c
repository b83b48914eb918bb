#include "util/timeutil.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static int64_t g_offset_ms;

int64_t
time_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
time_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + g_offset_ms;
}

void
time_set_offset_ms(int64_t offset_ms)
{
    g_offset_ms = offset_ms;
}

/* Howard Hinnant's days_from_civil: days since 1970-01-01 of a proleptic Gregorian date. */
int64_t
time_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void
time_fmt_rfc3339(char out[static TIME_RFC3339_MAX], int64_t epoch_ms, int frac_digits)
{
    int64_t secs = epoch_ms >= 0 ? epoch_ms / 1000 : (epoch_ms - 999) / 1000;
    int ms = (int)(epoch_ms - secs * 1000);
    time_t t = (time_t)secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(out, TIME_RFC3339_MAX, "%Y-%m-%dT%H:%M:%S", &tm);
    if (frac_digits == 3)
        snprintf(out + n, TIME_RFC3339_MAX - n, ".%03dZ", ms % 1000);
    else if (frac_digits == 6)
        snprintf(out + n, TIME_RFC3339_MAX - n, ".%03d000Z", ms % 1000);
    else
        snprintf(out + n, TIME_RFC3339_MAX - n, "Z");
}

static int
digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)**p))
            return -1;
        v = v * 10 + (**p - '0');
        (*p)++;
    }
    *out = v;
    return 0;
}

int
time_parse_rfc3339(const char *s, int64_t *epoch_ms)
{
    int Y, M, D, h, m, sec;
    const char *p = s;
    if (!s || digits(&p, 4, &Y) || *p++ != '-' || digits(&p, 2, &M) || *p++ != '-' ||
        digits(&p, 2, &D) || (*p != 'T' && *p != 't' && *p != ' ') || !*p++ ||
        digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &m) || *p++ != ':' ||
        digits(&p, 2, &sec))
        return -1;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        return -1;
    int ms = 0;
    if (*p == '.') {
        p++;
        int nd = 0;
        while (isdigit((unsigned char)*p)) {
            if (nd < 3)
                ms = ms * 10 + (*p - '0');
            nd++;
            p++;
        }
        if (nd == 0)
            return -1;
        for (; nd < 3; nd++)
            ms *= 10;
    }
    int64_t off_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om;
        if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59)
            return -1;
        off_s = sign * (oh * 3600 + om * 60);
    } else {
        return -1;
    }
    if (*p)
        return -1;
    int64_t days = time_days_from_civil(Y, (unsigned)M, (unsigned)D);
    int64_t t = days * 86400 + h * 3600 + m * 60 + sec - off_s;
    *epoch_ms = t * 1000 + ms;
    return 0;
}
