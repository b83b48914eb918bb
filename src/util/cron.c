/* Cron expression parsing and slot search. See cron.h. */
#include "util/cron.h"

#include "util/timeutil.h"
#include "util/tz.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define DAY_S 86400
/* Below tz.c's clamp, so slots past the limit still map to distinct instants. */
#define EPOCH_LIMIT_S INT64_C(99000000000000)
#define SEARCH_DAYS (CRON_SEARCH_YEARS * 366 + 2)

struct field_def {
    const char *label;
    unsigned min, max; /* accepted values */
    unsigned star_max; /* upper end of `*` and of `N/step` */
    const char *const *names;
    unsigned names_base; /* value of names[0] */
    bool question_ok;    /* `?` allowed */
};

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL",
                                          "AUG", "SEP", "OCT", "NOV", "DEC", NULL};
static const char *const dow_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", NULL};

enum { F_MINUTE, F_HOUR, F_DOM, F_MONTH, F_DOW, F_COUNT };

static const struct field_def fields[F_COUNT] = {
    {"minute", 0, 59, 59, NULL, 0, false},        {"hour", 0, 23, 23, NULL, 0, false},
    {"day-of-month", 1, 31, 31, NULL, 0, true},   {"month", 1, 12, 12, month_names, 1, false},
    {"day-of-week", 0, 7, 6, dow_names, 0, true},
};

/* Parsing state for one field: the definition, its text for messages, the result. */
struct field_parse {
    const struct field_def *def;
    const char *text;
    uint64_t bits;
    bool star;
    char *err;
    size_t errlen;
};

static int
field_error(struct field_parse *fp, const char *what)
{
    snprintf(fp->err, fp->errlen, "%s field \"%s\": %s", fp->def->label, fp->text, what);
    return -1;
}

static bool
is_alpha(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* A number or (where the field has names) a name, from *sp up to a delimiter. */
static int
parse_value(struct field_parse *fp, const char **sp, unsigned *out)
{
    const char *s = *sp, *start = s;
    char msg[96];
    while (is_alpha(*s) || is_digit(*s))
        s++;
    size_t n = (size_t)(s - start);
    if (n == 0) {
        if (*s == '\0' || *s == ',') return field_error(fp, "missing value");
        snprintf(msg, sizeof msg, "unexpected character '%c'", *s);
        return field_error(fp, msg);
    }
    if (is_digit(*start)) {
        unsigned v = 0;
        for (const char *p = start; p < s; p++) {
            if (!is_digit(*p)) return field_error(fp, "invalid number");
            v = v > 100000 ? v : v * 10 + (unsigned)(*p - '0');
        }
        if (v < fp->def->min || v > fp->def->max) {
            snprintf(msg, sizeof msg, "value %.*s out of range %u-%u", (int)(n > 20 ? 20 : n),
                     start, fp->def->min, fp->def->max);
            return field_error(fp, msg);
        }
        *out = v;
        *sp = s;
        return 0;
    }
    for (unsigned i = 0; fp->def->names && fp->def->names[i]; i++) {
        if (n == 3 && strncasecmp(start, fp->def->names[i], 3) == 0) {
            *out = fp->def->names_base + i;
            *sp = s;
            return 0;
        }
    }
    return field_error(fp, fp->def->names ? "unknown name" : "names are not allowed here");
}

static int
parse_step(struct field_parse *fp, const char **sp, unsigned *step)
{
    const char *s = *sp;
    unsigned v = 0;
    if (!is_digit(*s)) return field_error(fp, "step must be a number");
    for (; is_digit(*s); s++)
        v = v > 100000 ? v : v * 10 + (unsigned)(*s - '0');
    if (v == 0) return field_error(fp, "step must be at least 1");
    if (v > fp->def->max + 1) return field_error(fp, "step larger than the field's range");
    *step = v;
    *sp = s;
    return 0;
}

/* Parses one list item starting at *sp and adds its values to fp->bits. */
static int
parse_item(struct field_parse *fp, const char **sp)
{
    const char *s = *sp;
    unsigned lo, hi, step = 1;
    bool star = false, single = false;
    char msg[96];
    if (*s == '*' || (*s == '?' && fp->def->question_ok)) {
        s++;
        star = true;
        lo = fp->def->min;
        hi = fp->def->star_max;
    } else {
        if (parse_value(fp, &s, &lo) < 0) return -1;
        hi = lo;
        single = true;
        if (*s == '-') {
            s++;
            single = false;
            if (parse_value(fp, &s, &hi) < 0) return -1;
            if (lo > hi) {
                snprintf(msg, sizeof msg, "range %u-%u is reversed (start after end)", lo, hi);
                return field_error(fp, msg);
            }
        }
    }
    if (*s == '/') {
        s++;
        if (parse_step(fp, &s, &step) < 0) return -1;
        if (single) hi = lo > fp->def->star_max ? lo : fp->def->star_max;
    }
    if (*s != '\0' && *s != ',') {
        snprintf(msg, sizeof msg, "unexpected character '%c'", *s);
        return field_error(fp, msg);
    }
    for (unsigned v = lo; v <= hi; v += step)
        fp->bits |= UINT64_C(1) << (v == 7 && fp->def->names == dow_names ? 0 : v);
    if (star && step == 1) fp->star = true;
    *sp = s;
    return 0;
}

static int
parse_field(struct field_parse *fp)
{
    const char *s = fp->text;
    for (;;) {
        if (*s == ',' || *s == '\0') return field_error(fp, "empty item in list");
        if (parse_item(fp, &s) < 0) return -1;
        if (*s == '\0') return 0;
        s++; /* ',' */
    }
}

static const struct {
    const char *name, *expansion;
} macros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

static bool
is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Splits s into blank-separated fields copied into buf; returns the field count
 * (counting past F_COUNT, without storing the extra ones). */
static int
split_fields(const char *s, char buf[static CRON_SPEC_MAX + F_COUNT], const char *f[F_COUNT])
{
    int n = 0;
    size_t used = 0;
    while (*s) {
        while (is_blank(*s))
            s++;
        if (!*s) break;
        if (n < F_COUNT) f[n] = buf + used;
        while (*s && !is_blank(*s)) {
            if (n < F_COUNT) buf[used++] = *s;
            s++;
        }
        if (n < F_COUNT) buf[used++] = '\0';
        n++;
    }
    return n;
}

static int
expand_macro(const char *spec, const char **expanded, char *err, size_t errlen)
{
    size_t n = strcspn(spec, " \t");
    const char *rest = spec + n;
    while (is_blank(*rest))
        rest++;
    for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++) {
        if (strlen(macros[i].name) == n && strncasecmp(spec, macros[i].name, n) == 0) {
            if (*rest) {
                snprintf(err, errlen, "unexpected text after %s: \"%s\"", macros[i].name, rest);
                return -1;
            }
            *expanded = macros[i].expansion;
            return 0;
        }
    }
    snprintf(err, errlen,
             "unknown macro \"%.*s\" (use @yearly, @annually, @monthly, @weekly, "
             "@daily, @midnight or @hourly)",
             (int)(n > 32 ? 32 : n), spec);
    return -1;
}

static bool
has_control_chars(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 && *s != '\t') return true;
    return false;
}

static int
check_spec(const char *spec, char *err, size_t errlen)
{
    if (!spec) {
        snprintf(err, errlen, "schedule is missing");
        return -1;
    }
    if (strnlen(spec, CRON_SPEC_MAX + 1) > CRON_SPEC_MAX) {
        snprintf(err, errlen, "schedule is too long (over %d bytes)", CRON_SPEC_MAX);
        return -1;
    }
    if (has_control_chars(spec) || strchr(spec, 0x7f)) {
        snprintf(err, errlen, "schedule contains control characters");
        return -1;
    }
    while (is_blank(*spec))
        spec++;
    if (strncmp(spec, "TZ=", 3) == 0 || strncmp(spec, "CRON_TZ=", 8) == 0) {
        snprintf(err, errlen,
                 "TZ= and CRON_TZ= prefixes are not supported in the schedule; "
                 "set spec.timeZone instead");
        return -1;
    }
    return 0;
}

int
cron_parse(const char *spec, struct cron_expr *out, char *err, size_t errlen)
{
    char buf[CRON_SPEC_MAX + F_COUNT];
    const char *f[F_COUNT];
    struct field_parse fp[F_COUNT];
    if (check_spec(spec, err, errlen) < 0) return -1;
    while (is_blank(*spec))
        spec++;
    if (*spec == '@' && expand_macro(spec, &spec, err, errlen) < 0) return -1;
    int n = split_fields(spec, buf, f);
    if (n != F_COUNT) {
        snprintf(err, errlen, "expected 5 fields, got %d", n);
        return -1;
    }
    for (int i = 0; i < F_COUNT; i++) {
        fp[i] = (struct field_parse){&fields[i], f[i], 0, false, err, errlen};
        if (parse_field(&fp[i]) < 0) return -1;
    }
    memset(out, 0, sizeof *out);
    out->minute = fp[F_MINUTE].bits;
    out->hour = (uint32_t)fp[F_HOUR].bits;
    out->dom = (uint32_t)fp[F_DOM].bits;
    out->month = (uint16_t)fp[F_MONTH].bits;
    out->dow = (uint8_t)fp[F_DOW].bits;
    out->dom_star = fp[F_DOM].star;
    out->dow_star = fp[F_DOW].star;
    return 0;
}

/* ---- slot search -------------------------------------------------------------------- */


static int64_t
clamp_epoch(int64_t t)
{
    return t > EPOCH_LIMIT_S ? EPOCH_LIMIT_S : t < -EPOCH_LIMIT_S ? -EPOCH_LIMIT_S : t;
}

struct civil {
    int64_t y;
    unsigned m, d;
};

/* Hinnant's civil_from_days. */
static struct civil
civil_from_days(int64_t days)
{
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    struct civil c;
    c.d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    c.m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    c.y = yoe + era * 400 + (c.m <= 2);
    return c;
}

static bool
day_matches(const struct cron_expr *e, int64_t days, unsigned mday)
{
    unsigned wday = (unsigned)(((days % 7) + 11) % 7); /* 1970-01-01 was a Thursday */
    bool dom_ok = (e->dom >> mday) & 1u, dow_ok = (e->dow >> wday) & 1u;
    if (e->dom_star || e->dow_star) return dom_ok && dow_ok;
    return dom_ok || dow_ok;
}

/* The instant a wall-clock slot runs at: its first occurrence, or the end of the gap. */
static int64_t
slot_instant(const struct tz *z, int64_t local_s)
{
    int64_t at[2];
    tz_local_to_utc(z, local_s, at);
    return at[0];
}

/* Search cursor over local wall-clock minutes: a day and, on the first day searched,
 * the minute of day to start from (forward: at or after; backward: at or before). */
struct cursor {
    int64_t day;
    int first_minute;
};

/* The first matching slot at or after the cursor with an instant > after_s. */
static int
search_forward(const struct cron_expr *e, const struct tz *z, struct cursor c, int64_t after_s,
               int64_t *next_s)
{
    for (int64_t end = c.day + SEARCH_DAYS; c.day <= end; c.day++, c.first_minute = 0) {
        struct civil cv = civil_from_days(c.day);
        if (!((e->month >> cv.m) & 1u)) { /* skip to the 1st of next month */
            c.day = time_days_from_civil(cv.y + (cv.m == 12), cv.m == 12 ? 1 : cv.m + 1, 1) - 1;
            continue;
        }
        if (!day_matches(e, c.day, cv.d)) continue;
        for (int m = c.first_minute; m < 24 * 60; m++) {
            if (!((e->hour >> (m / 60)) & 1u)) {
                m = m / 60 * 60 + 59;
                continue;
            }
            if (!((e->minute >> (m % 60)) & 1u)) continue;
            int64_t t = slot_instant(z, c.day * DAY_S + m * 60);
            if (t > after_s) {
                *next_s = t;
                return 0;
            }
        }
    }
    return -1;
}

/* The last matching slot at or before the cursor with an instant <= at_s. */
static int
search_backward(const struct cron_expr *e, const struct tz *z, struct cursor c, int64_t at_s,
                int64_t *prev_s)
{
    for (int64_t end = c.day - SEARCH_DAYS; c.day >= end; c.day--, c.first_minute = 24 * 60 - 1) {
        struct civil cv = civil_from_days(c.day);
        if (!((e->month >> cv.m) & 1u)) { /* skip to the last of the previous month */
            c.day = time_days_from_civil(cv.y, cv.m, 1);
            continue;
        }
        if (!day_matches(e, c.day, cv.d)) continue;
        for (int m = c.first_minute; m >= 0; m--) {
            if (!((e->hour >> (m / 60)) & 1u)) {
                m = m / 60 * 60;
                continue;
            }
            if (!((e->minute >> (m % 60)) & 1u)) continue;
            int64_t t = slot_instant(z, c.day * DAY_S + m * 60);
            if (t <= at_s) {
                *prev_s = t;
                return 0;
            }
        }
    }
    return -1;
}

static struct cursor
cursor_at(int64_t local_minute_s)
{
    struct cursor c;
    c.day = time_floor_div(local_minute_s, DAY_S);
    c.first_minute = (int)((local_minute_s - c.day * DAY_S) / 60);
    return c;
}

int
cron_next(const struct cron_expr *e, const struct tz *z, int64_t after_s, int64_t *next_s)
{
    if (!e || !next_s || !e->minute || !e->hour || !e->month) return -1;
    after_s = clamp_epoch(after_s);
    /* A slot whose instant is after after_s has a wall-clock time after local(after_s). */
    int64_t local = after_s + tz_offset_at(z, after_s);
    return search_forward(e, z, cursor_at(time_floor_div(local, 60) * 60 + 60), after_s, next_s);
}

/* The latest wall-clock time shown at or before at_s: clocks set back within the last
 * few days may have shown later times than local(at_s). */
static int64_t
latest_local_until(const struct tz *z, int64_t at_s)
{
    int64_t cur = at_s - 3 * DAY_S, when;
    int off = tz_offset_at(z, cur), max_off = off;
    for (int i = 0; i < 64 && tz_next_transition(z, cur, &when, &off) == 0 && when <= at_s; i++) {
        max_off = off > max_off ? off : max_off;
        cur = when;
    }
    return at_s + max_off;
}

int
cron_prev(const struct cron_expr *e, const struct tz *z, int64_t at_s, int64_t *prev_s)
{
    if (!e || !prev_s || !e->minute || !e->hour || !e->month) return -1;
    at_s = clamp_epoch(at_s);
    int64_t local = latest_local_until(z, at_s);
    return search_backward(e, z, cursor_at(time_floor_div(local, 60) * 60), at_s, prev_s);
}
