/* TZif (RFC 8536) reader and POSIX TZ rule evaluation. See tz.h. */
#include "util/tz.h"

#include "util/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DAY_S 86400
/* RFC 8536 3.2: utoff SHOULD lie in [-89999, 93599]; we require it, which bounds every
 * wall clock to within TZ_WINDOW_S of its instant. */
#define UTOFF_MIN (-89999)
#define UTOFF_MAX 93599
#define TZ_WINDOW_S 93600
/* Instants are clamped to about +-3 million years so date arithmetic cannot overflow. */
#define EPOCH_LIMIT_S INT64_C(100000000000000)
/* No real zone has more than a handful of transitions within two days. */
#define WINDOW_TRANSITIONS_MAX 32

struct tz_type {
    int32_t utoff;
    uint8_t isdst;
};

/* One POSIX TZ rule date: Jn (kind 'J'), n (kind 'N') or Mm.w.d (kind 'M'). */
struct tz_rule_date {
    char kind;
    int n, m, w, d;
    int32_t time_s; /* local time of day of the change, -167h..167h */
};

struct tz_rule {
    int32_t std_off, dst_off; /* east-positive UTC offsets */
    bool has_dst;
    struct tz_rule_date start, end;
};

struct tz {
    char name[TZ_NAME_MAX + 1];
    int64_t *trans;      /* ascending transition instants */
    uint8_t *trans_type; /* type index per transition */
    uint32_t timecnt;
    struct tz_type *types;
    uint32_t typecnt;
    bool has_rule; /* footer present: it rules after the last transition */
    struct tz_rule rule;
};

static int64_t
clamp_epoch(int64_t t)
{
    if (t > EPOCH_LIMIT_S) return EPOCH_LIMIT_S;
    if (t < -EPOCH_LIMIT_S) return -EPOCH_LIMIT_S;
    return t;
}


/* Hinnant's civil_from_days, year only. */
static int64_t
year_of_days(int64_t days)
{
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    return yoe + era * 400 + (mp >= 10);
}

static bool
is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
days_in_month(int64_t y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* 0 = Sunday. */
static int
weekday_of_days(int64_t days)
{
    return (int)(((days % 7) + 11) % 7);
}

/* ---- POSIX TZ strings (RFC 8536 3.3, POSIX 8.3) ------------------------------------- */

static int
parse_uint(const char **sp, int max, int *out)
{
    const char *s = *sp;
    int v = 0, digits = 0;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (*s++ - '0');
        if (++digits > 3 || v > max) return -1;
    }
    if (digits == 0) return -1;
    *sp = s;
    *out = v;
    return 0;
}

/* [+-]hh[:mm[:ss]] with hh <= max_h; returns seconds. */
static int
parse_hms(const char **sp, int max_h, int32_t *out)
{
    const char *s = *sp;
    int sign = 1, h, m = 0, sec = 0;
    if (*s == '+' || *s == '-') sign = *s++ == '-' ? -1 : 1;
    if (parse_uint(&s, max_h, &h) < 0) return -1;
    if (*s == ':') {
        s++;
        if (parse_uint(&s, 59, &m) < 0) return -1;
        if (*s == ':') {
            s++;
            if (parse_uint(&s, 59, &sec) < 0) return -1;
        }
    }
    *sp = s;
    *out = sign * (h * 3600 + m * 60 + sec);
    return 0;
}

/* An abbreviation: three or more letters, or <...> of letters, digits, + and -. */
static int
parse_abbr(const char **sp)
{
    const char *s = *sp;
    size_t n = 0;
    if (*s == '<') {
        s++;
        while ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
               *s == '+' || *s == '-') {
            s++;
            n++;
        }
        if (*s != '>') return -1;
        s++;
    } else {
        while ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z')) {
            s++;
            n++;
        }
    }
    if (n < 3) return -1;
    *sp = s;
    return 0;
}

/* POSIX offsets are west-positive ("EST5"); we store east-positive. */
static int
parse_offset(const char **sp, int32_t *east_off)
{
    int32_t west;
    if (parse_hms(sp, 24, &west) < 0) return -1;
    *east_off = -west;
    return 0;
}

static int
parse_rule_date(const char **sp, struct tz_rule_date *d)
{
    const char *s = *sp;
    memset(d, 0, sizeof *d);
    if (*s == 'J') {
        s++;
        d->kind = 'J';
        if (parse_uint(&s, 365, &d->n) < 0 || d->n < 1) return -1;
    } else if (*s == 'M') {
        s++;
        d->kind = 'M';
        if (parse_uint(&s, 12, &d->m) < 0 || d->m < 1 || *s++ != '.') return -1;
        if (parse_uint(&s, 5, &d->w) < 0 || d->w < 1 || *s++ != '.') return -1;
        if (parse_uint(&s, 6, &d->d) < 0) return -1;
    } else {
        d->kind = 'N';
        if (parse_uint(&s, 365, &d->n) < 0) return -1;
    }
    d->time_s = 7200;
    if (*s == '/') {
        s++;
        if (parse_hms(&s, 167, &d->time_s) < 0) /* RFC 8536 3.3.1 extension */
            return -1;
    }
    *sp = s;
    return 0;
}

static int
parse_posix_tz(const char *s, struct tz_rule *r)
{
    memset(r, 0, sizeof *r);
    if (parse_abbr(&s) < 0 || parse_offset(&s, &r->std_off) < 0) return -1;
    r->dst_off = r->std_off;
    if (*s == '\0') return 0;
    if (parse_abbr(&s) < 0) return -1;
    r->has_dst = true;
    r->dst_off = r->std_off + 3600;
    if (*s != ',' && *s != '\0' && parse_offset(&s, &r->dst_off) < 0) return -1;
    if (*s == '\0') /* no rules: the historical US default, as glibc does */
        s = ",M3.2.0,M11.1.0";
    if (*s++ != ',' || parse_rule_date(&s, &r->start) < 0) return -1;
    if (*s++ != ',' || parse_rule_date(&s, &r->end) < 0) return -1;
    return *s == '\0' ? 0 : -1;
}

/* Days since the epoch of a rule date in year y. */
static int64_t
rule_day(const struct tz_rule_date *d, int64_t y)
{
    int64_t jan1 = time_days_from_civil(y, 1, 1);
    if (d->kind == 'J') return jan1 + d->n - 1 + (is_leap(y) && d->n >= 60);
    if (d->kind == 'N') return jan1 + d->n;
    int64_t first = time_days_from_civil(y, (unsigned)d->m, 1);
    int mday = 1 + (d->d - weekday_of_days(first) + 7) % 7 + (d->w - 1) * 7;
    while (mday > days_in_month(y, d->m))
        mday -= 7;
    return first + mday - 1;
}

struct rule_event {
    int64_t at_s;
    bool to_dst;
};

/* The DST start and end instants of years y0..y0+n-1, sorted; at equal instants the end
 * sorts first so that all-year DST ("J1/0,J365/25") stays DST (RFC 8536 3.3.1). */
static size_t
rule_events(const struct tz_rule *r, int64_t y0, int nyears, struct rule_event *ev)
{
    size_t n = 0;
    for (int64_t y = y0; y < y0 + nyears; y++) {
        ev[n].at_s = rule_day(&r->start, y) * DAY_S + r->start.time_s - r->std_off;
        ev[n++].to_dst = true;
        ev[n].at_s = rule_day(&r->end, y) * DAY_S + r->end.time_s - r->dst_off;
        ev[n++].to_dst = false;
    }
    for (size_t i = 1; i < n; i++) {
        struct rule_event e = ev[i];
        size_t j = i;
        while (j > 0 && (ev[j - 1].at_s > e.at_s ||
                         (ev[j - 1].at_s == e.at_s && ev[j - 1].to_dst && !e.to_dst))) {
            ev[j] = ev[j - 1];
            j--;
        }
        ev[j] = e;
    }
    return n;
}

static int64_t
rule_year(const struct tz_rule *r, int64_t t)
{
    return year_of_days(time_floor_div(t + r->std_off, DAY_S));
}

static int
rule_offset_at(const struct tz_rule *r, int64_t t)
{
    struct rule_event ev[8];
    if (!r->has_dst) return r->std_off;
    size_t n = rule_events(r, rule_year(r, t) - 2, 4, ev);
    int off = r->std_off;
    for (size_t i = 0; i < n && ev[i].at_s <= t; i++)
        off = ev[i].to_dst ? r->dst_off : r->std_off;
    return off;
}

static int
rule_next_after(const struct tz_rule *r, int64_t t, int64_t *at_s)
{
    struct rule_event ev[8];
    if (!r->has_dst) return -1;
    size_t n = rule_events(r, rule_year(r, t) - 1, 4, ev);
    for (size_t i = 0; i < n; i++) {
        if (ev[i].at_s > t) {
            *at_s = ev[i].at_s;
            return 0;
        }
    }
    return -1;
}

/* ---- TZif --------------------------------------------------------------------------- */

struct reader {
    const uint8_t *p;
    size_t len, pos;
};

static const uint8_t *
rd_take(struct reader *r, uint64_t n)
{
    if (n > r->len - r->pos) return NULL;
    const uint8_t *p = r->p + r->pos;
    r->pos += (size_t)n;
    return p;
}

static uint32_t
be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t
be64(const uint8_t *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct tzif_header {
    char version;
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

static const char *
read_header(struct reader *r, struct tzif_header *h)
{
    const uint8_t *p = rd_take(r, 44);
    if (!p) return "truncated header";
    if (memcmp(p, "TZif", 4) != 0) return "not a TZif file";
    h->version = (char)p[4];
    if (h->version != 0 && (h->version < '2' || h->version > '4'))
        return "unsupported TZif version";
    h->isutcnt = be32(p + 20);
    h->isstdcnt = be32(p + 24);
    h->leapcnt = be32(p + 28);
    h->timecnt = be32(p + 32);
    h->typecnt = be32(p + 36);
    h->charcnt = be32(p + 40);
    if (h->typecnt == 0 || h->typecnt > 256 || h->charcnt == 0)
        return "bad type or character count";
    if ((h->isutcnt != 0 && h->isutcnt != h->typecnt) ||
        (h->isstdcnt != 0 && h->isstdcnt != h->typecnt))
        return "bad indicator count";
    return NULL;
}

static uint64_t
block_size(const struct tzif_header *h, unsigned timesize)
{
    return (uint64_t)h->timecnt * (timesize + 1) + (uint64_t)h->typecnt * 6 + h->charcnt +
           (uint64_t)h->leapcnt * (timesize + 4) + h->isstdcnt + h->isutcnt;
}

static const char *
read_transitions(struct tz *z, const uint8_t *p, const struct tzif_header *h, unsigned timesize)
{
    z->timecnt = h->timecnt;
    z->trans = calloc(h->timecnt ? h->timecnt : 1, sizeof *z->trans);
    z->trans_type = calloc(h->timecnt ? h->timecnt : 1, 1);
    if (!z->trans || !z->trans_type) return "out of memory";
    for (uint32_t i = 0; i < h->timecnt; i++) {
        const uint8_t *q = p + (size_t)i * timesize;
        z->trans[i] = timesize == 8 ? be64(q) : (int64_t)(int32_t)be32(q);
        if (i > 0 && z->trans[i] <= z->trans[i - 1]) return "transitions out of order";
    }
    p += (size_t)h->timecnt * timesize;
    for (uint32_t i = 0; i < h->timecnt; i++) {
        if (p[i] >= h->typecnt) return "transition type index out of range";
        z->trans_type[i] = p[i];
    }
    return NULL;
}

static const char *
read_types(struct tz *z, const uint8_t *p, const struct tzif_header *h)
{
    z->typecnt = h->typecnt;
    z->types = calloc(h->typecnt, sizeof *z->types);
    if (!z->types) return "out of memory";
    for (uint32_t i = 0; i < h->typecnt; i++, p += 6) {
        int32_t utoff = (int32_t)be32(p);
        if (utoff < UTOFF_MIN || utoff > UTOFF_MAX) return "UTC offset out of range";
        if (p[4] > 1 || p[5] >= h->charcnt) return "bad local time type";
        z->types[i].utoff = utoff;
        z->types[i].isdst = p[4];
    }
    return NULL;
}

static const char *
read_block(struct tz *z, struct reader *r, const struct tzif_header *h, unsigned timesize)
{
    const uint8_t *p = rd_take(r, block_size(h, timesize));
    if (!p) return "truncated data (counts exceed the file)";
    const char *why = read_transitions(z, p, h, timesize);
    if (why) return why;
    return read_types(z, p + (size_t)h->timecnt * (timesize + 1), h);
}

static const char *
read_footer(struct tz *z, struct reader *r)
{
    char tzstr[128];
    const uint8_t *nl = rd_take(r, 1);
    if (!nl || *nl != '\n') return "missing footer";
    size_t start = r->pos;
    while (r->pos < r->len && r->p[r->pos] != '\n')
        r->pos++;
    if (r->pos == r->len) return "truncated footer";
    size_t n = r->pos - start;
    r->pos++;
    if (n == 0) return NULL;
    if (n >= sizeof tzstr) return "footer too long";
    memcpy(tzstr, r->p + start, n);
    tzstr[n] = '\0';
    if (parse_posix_tz(tzstr, &z->rule) < 0) return "bad TZ string in footer";
    z->has_rule = true;
    return NULL;
}

static const char *
parse_tzif(struct tz *z, const uint8_t *data, size_t len)
{
    struct reader r = {data, len, 0};
    struct tzif_header h;
    const char *why = read_header(&r, &h);
    if (why) return why;
    if (h.version == 0) return read_block(z, &r, &h, 4);
    if (!rd_take(&r, block_size(&h, 4))) return "truncated version 1 data";
    if ((why = read_header(&r, &h)) != NULL) return why;
    if ((why = read_block(z, &r, &h, 8)) != NULL) return why;
    return read_footer(z, &r);
}

/* ---- loading ------------------------------------------------------------------------ */

/* NULL if name is a plausible IANA name, else why not. */
static const char *
name_problem(const char *name)
{
    size_t n = strnlen(name, TZ_NAME_MAX + 1);
    if (n > TZ_NAME_MAX) return "longer than 255 bytes";
    if (name[0] == '/') return "absolute path";
    if (strstr(name, "..")) return "contains \"..\"";
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '+' || c == '-' || c == '/';
        if (!ok) return "characters other than A-Z a-z 0-9 _ + - /";
        if (c == '/' && (name[i + 1] == '/' || name[i + 1] == '\0')) return "empty path component";
    }
    return NULL;
}

/* A printable, bounded copy of a name for error messages. */
static void
quote_name(char *out, size_t outlen, const char *name)
{
    size_t i = 0;
    for (; i + 1 < outlen && name[i]; i++)
        out[i] = (name[i] >= 0x20 && name[i] < 0x7f && name[i] != '"') ? name[i] : '?';
    out[i] = '\0';
}

/* Reads fd to its end into buf (cap bytes). Returns the length, or -1 on error or if the
 * file holds more than cap - 1 bytes (so one spare byte detects growth). */
static ssize_t
read_all(int fd, uint8_t *buf, size_t cap)
{
    size_t got = 0;
    while (got < cap) {
        ssize_t n = read(fd, buf + got, cap - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        if (n == 0) return (ssize_t)got;
        got += (size_t)n;
    }
    return -1;
}

/* Reads a whole regular file of at most TZ_FILE_MAX_BYTES. Returns a buffer the caller
 * frees, or NULL with *why set ("unknown" when there is no such zone file). */
static uint8_t *
read_zone_file(const char *path, size_t *len, const char **why)
{
    struct stat st;
    uint8_t *buf = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *why = errno == ENOENT || errno == ENOTDIR ? "unknown" : "cannot open";
        return NULL;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        *why = "unknown";
    else if (st.st_size > TZ_FILE_MAX_BYTES)
        *why = "file too large";
    else if (!(buf = malloc((size_t)st.st_size + 1)))
        *why = "out of memory";
    if (buf) {
        ssize_t n = read_all(fd, buf, (size_t)st.st_size + 1);
        if (n < 0) {
            *why = "read error or file changed while reading";
            free(buf);
            buf = NULL;
        }
        *len = n < 0 ? 0 : (size_t)n;
    }
    close(fd);
    return buf;
}

static struct tz *
tz_new(const char *name)
{
    struct tz *z = calloc(1, sizeof *z);
    if (z) snprintf(z->name, sizeof z->name, "%s", name);
    return z;
}

static struct tz *
tz_builtin_utc(void)
{
    struct tz *z = tz_new("UTC");
    if (!z) return NULL;
    z->types = calloc(1, sizeof *z->types);
    if (!z->types) {
        tz_free(z);
        return NULL;
    }
    z->typecnt = 1;
    return z;
}

struct tz *
tz_load(const char *name, char *err, size_t errlen)
{
    char shown[72], path[4096];
    const char *why = NULL;
    if (!name || name[0] == '\0' || strcmp(name, "UTC") == 0) {
        struct tz *z = tz_builtin_utc();
        if (!z) snprintf(err, errlen, "time zone \"UTC\": out of memory");
        return z;
    }
    quote_name(shown, sizeof shown, name);
    const char *problem = name_problem(name);
    if (problem) {
        snprintf(err, errlen, "invalid time zone name \"%s\": %s", shown, problem);
        return NULL;
    }
    const char *dir = getenv("ZONEINFO");
    if (!dir || !*dir) dir = "/usr/share/zoneinfo";
    int n = snprintf(path, sizeof path, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof path) {
        snprintf(err, errlen, "time zone \"%s\": zoneinfo path too long", shown);
        return NULL;
    }
    size_t len = 0;
    uint8_t *data = read_zone_file(path, &len, &why);
    if (!data) {
        if (strcmp(why, "unknown") == 0)
            snprintf(err, errlen, "unknown time zone \"%s\"", shown);
        else
            snprintf(err, errlen, "time zone \"%s\": %s", shown, why);
        return NULL;
    }
    struct tz *z = tz_new(name);
    why = z ? parse_tzif(z, data, len) : "out of memory";
    free(data);
    if (why) {
        snprintf(err, errlen, "time zone \"%s\": malformed TZif file: %s", shown, why);
        tz_free(z);
        return NULL;
    }
    return z;
}

void
tz_free(struct tz *z)
{
    if (!z) return;
    free(z->trans);
    free(z->trans_type);
    free(z->types);
    free(z);
}

const char *
tz_name(const struct tz *z)
{
    return z ? z->name : "UTC";
}

/* ---- queries ------------------------------------------------------------------------ */

static bool
rule_rules_at(const struct tz *z, int64_t t)
{
    return z->has_rule && (z->timecnt == 0 || t >= z->trans[z->timecnt - 1]);
}

int
tz_offset_at(const struct tz *z, int64_t epoch_s)
{
    if (!z) return 0;
    int64_t t = clamp_epoch(epoch_s);
    if (rule_rules_at(z, t)) return rule_offset_at(&z->rule, t);
    if (z->timecnt == 0 || t < z->trans[0]) return z->types[0].utoff;
    uint32_t lo = 0, hi = z->timecnt; /* last i with trans[i] <= t lies in [lo, hi) */
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (z->trans[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return z->types[z->trans_type[lo]].utoff;
}

int
tz_next_transition(const struct tz *z, int64_t after_s, int64_t *at_s, int *new_offset_s)
{
    if (!z) return -1;
    int64_t t = clamp_epoch(after_s);
    if (z->timecnt > 0 && t < z->trans[z->timecnt - 1]) {
        uint32_t lo = 0, hi = z->timecnt - 1; /* first i with trans[i] > t is in [lo, hi] */
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (z->trans[mid] > t)
                hi = mid;
            else
                lo = mid + 1;
        }
        *at_s = z->trans[lo];
        /* From the last transition on the footer rules (tz_offset_at): report its offset,
         * which real files do not always agree with (America/Ojinaga 2022-10-30) and crafted
         * ones need not (found by tests/fuzz/fuzz_tz). */
        *new_offset_s = rule_rules_at(z, *at_s) ? rule_offset_at(&z->rule, clamp_epoch(*at_s))
                                                : z->types[z->trans_type[lo]].utoff;
        /* tz_offset_at clamps instants to +-EPOCH_LIMIT_S: a transition past it (a crafted
         * file, found by tests/fuzz/fuzz_tz) is never in effect there, so there is none */
        return *at_s > EPOCH_LIMIT_S ? -1 : 0;
    }
    if (!z->has_rule || rule_next_after(&z->rule, t, at_s) < 0) return -1;
    *new_offset_s = rule_offset_at(&z->rule, *at_s);
    return *at_s > EPOCH_LIMIT_S ? -1 : 0; /* past the supported range: as if none */
}

struct local_candidates {
    int64_t at[WINDOW_TRANSITIONS_MAX + 1];
    int n;
};

/* Adds local_s - off if the zone really has offset off then (and it is new). */
static void
consider_offset(const struct tz *z, int64_t local_s, int off, struct local_candidates *c)
{
    int64_t t = local_s - off;
    if (tz_offset_at(z, t) != off) return;
    for (int i = 0; i < c->n; i++)
        if (c->at[i] == t) return;
    if (c->n < WINDOW_TRANSITIONS_MAX + 1) c->at[c->n++] = t;
}

int
tz_local_to_utc(const struct tz *z, int64_t local_s, int64_t out[2])
{
    int64_t local = clamp_epoch(local_s);
    int64_t cur = local - TZ_WINDOW_S, gap_end = INT64_MIN, at;
    struct local_candidates c = {.n = 0};
    int off = tz_offset_at(z, cur), next_off;
    consider_offset(z, local, off, &c);
    /* Every instant showing `local` lies within TZ_WINDOW_S of it, so the offsets in
     * effect over that window are the only candidates. */
    for (int i = 0; i < WINDOW_TRANSITIONS_MAX; i++) {
        if (tz_next_transition(z, cur, &at, &next_off) < 0 || at > local + TZ_WINDOW_S) break;
        if (next_off > off && at + off <= local && local < at + next_off) gap_end = at;
        consider_offset(z, local, next_off, &c);
        off = next_off;
        cur = at;
    }
    if (c.n == 0) {
        out[0] = out[1] = gap_end != INT64_MIN ? gap_end : local - tz_offset_at(z, local);
        return 0;
    }
    int64_t lo = c.at[0], hi = c.at[0];
    for (int i = 1; i < c.n; i++) {
        lo = c.at[i] < lo ? c.at[i] : lo;
        hi = c.at[i] > hi ? c.at[i] : hi;
    }
    out[0] = lo;
    out[1] = hi;
    return c.n == 1 ? 1 : 2;
}
