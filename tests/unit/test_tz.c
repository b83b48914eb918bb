/* Time-zone engine tests. Expected instants are written by hand from the zone rules
 * (the EU, Australian and US DST laws and the POSIX TZ strings under test) as literal
 * RFC 3339 UTC timestamps; they are never derived from tz.c or libc's localtime. */
#include "t.h"

#include "util/timeutil.h"
#include "util/tz.h"

#include <stdint.h>
#include <stdlib.h>

/* Epoch seconds of a literal UTC timestamp "YYYY-MM-DDThh:mm:ssZ". */
static int64_t
Z(const char *rfc3339)
{
    int64_t ms = 0;
    if (time_parse_rfc3339(rfc3339, &ms) < 0) abort(); /* a typo in a test */
    return ms / 1000;
}

/* A civil wall-clock time "YYYY-MM-DDThh:mm:ss", as tz_local_to_utc takes it. */
static int64_t
L(const char *civil)
{
    char buf[40];
    snprintf(buf, sizeof buf, "%sZ", civil);
    return Z(buf);
}

/* Loads `name` with ZONEINFO pointed at dir, restoring the environment afterwards. */
static struct tz *
load_in(const char *dir, const char *name, char *err, size_t errlen)
{
    const char *old = getenv("ZONEINFO");
    char saved[1024];
    int had = old != NULL;
    snprintf(saved, sizeof saved, "%s", old ? old : "");
    setenv("ZONEINFO", dir, 1);
    struct tz *z = tz_load(name, err, errlen);
    if (had)
        setenv("ZONEINFO", saved, 1);
    else
        unsetenv("ZONEINFO");
    return z;
}

static int
write_file(const char *dir, const char *name, const void *data, size_t len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t n = fwrite(data, 1, len, f);
    return fclose(f) == 0 && n == len ? 0 : -1;
}

/* ---- a tiny TZif writer ------------------------------------------------------------- */

struct tzif_out {
    uint8_t b[4096];
    size_t n;
};

static void
put8(struct tzif_out *o, unsigned v)
{
    o->b[o->n++] = (uint8_t)v;
}

static void
put32(struct tzif_out *o, uint32_t v)
{
    for (int s = 24; s >= 0; s -= 8)
        put8(o, (v >> s) & 0xff);
}

static void
put64(struct tzif_out *o, int64_t v)
{
    put32(o, (uint32_t)((uint64_t)v >> 32));
    put32(o, (uint32_t)v);
}

struct tzif_spec {
    char version; /* 0, '2', '3' */
    int ntrans;
    const int64_t *trans;
    const uint8_t *idx;
    int ntypes;
    const int32_t *utoff;
    const char *footer; /* v2+ only */
};

static void
put_header(struct tzif_out *o, const struct tzif_spec *s)
{
    memcpy(o->b + o->n, "TZif", 4);
    o->n += 4;
    put8(o, (unsigned char)s->version);
    for (int i = 0; i < 15; i++)
        put8(o, 0);
    put32(o, 0);                   /* isutcnt */
    put32(o, 0);                   /* isstdcnt */
    put32(o, 0);                   /* leapcnt */
    put32(o, (uint32_t)s->ntrans); /* timecnt */
    put32(o, (uint32_t)s->ntypes); /* typecnt */
    put32(o, 4);                   /* charcnt: "XXX\0" */
}

static void
put_block(struct tzif_out *o, const struct tzif_spec *s, int timesize)
{
    for (int i = 0; i < s->ntrans; i++) {
        if (timesize == 8)
            put64(o, s->trans[i]);
        else
            put32(o, (uint32_t)(int32_t)s->trans[i]);
    }
    for (int i = 0; i < s->ntrans; i++)
        put8(o, s->idx[i]);
    for (int i = 0; i < s->ntypes; i++) {
        put32(o, (uint32_t)s->utoff[i]);
        put8(o, 0);
        put8(o, 0);
    }
    memcpy(o->b + o->n, "XXX", 4);
    o->n += 4;
}

static void
build_tzif(struct tzif_out *o, const struct tzif_spec *s)
{
    o->n = 0;
    put_header(o, s);
    put_block(o, s, 4);
    if (s->version == 0) return;
    put_header(o, s);
    put_block(o, s, 8);
    size_t len = strlen(s->footer);
    put8(o, '\n');
    memcpy(o->b + o->n, s->footer, len);
    o->n += len;
    put8(o, '\n');
}

/* A zone with no transitions, ruled entirely by the POSIX TZ string `footer`. */
static struct tz *
load_footer_zone(const char *footer, int32_t std_off, char *err, size_t errlen)
{
    struct tzif_spec s = {'2', 0, NULL, NULL, 1, &std_off, footer};
    struct tzif_out o;
    build_tzif(&o, &s);
    if (write_file(t_tmpdir(), "Footer", o.b, o.n) < 0) return NULL;
    return load_in(t_tmpdir(), "Footer", err, errlen);
}

/* ---- loading ------------------------------------------------------------------------ */

TEST(tz_utc_works_without_files)
{
    char err[256] = "";
    struct tz *z = load_in("/nonexistent-zoneinfo", "UTC", err, sizeof err);
    T_ASSERT(z != NULL);
    T_EQ_STR(tz_name(z), "UTC");
    T_EQ_INT(tz_offset_at(z, Z("2026-07-01T00:00:00Z")), 0);
    int64_t out[2];
    T_EQ_INT(tz_local_to_utc(z, L("2026-03-29T02:30:00"), out), 1);
    T_EQ_INT(out[0], Z("2026-03-29T02:30:00Z"));
    int64_t at;
    int off;
    T_EQ_INT(tz_next_transition(z, 0, &at, &off), -1);
    tz_free(z);
    z = load_in("/nonexistent-zoneinfo", "", err, sizeof err);
    T_ASSERT(z != NULL);
    T_EQ_STR(tz_name(z), "UTC");
    tz_free(z);
    T_EQ_INT(tz_offset_at(NULL, 12345), 0);
    tz_free(NULL);
}

TEST(tz_unknown_zone_is_a_clear_error)
{
    char err[256] = "";
    T_ASSERT(tz_load("Mars/Base", err, sizeof err) == NULL);
    T_EQ_STR(err, "unknown time zone \"Mars/Base\"");
    T_ASSERT(tz_load("Europe", err, sizeof err) == NULL); /* a directory */
    T_EQ_STR(err, "unknown time zone \"Europe\"");
    T_ASSERT(tz_load("Europe/Berlin/x", err, sizeof err) == NULL);
    T_CONTAINS(err, "unknown time zone");
}

TEST(tz_hostile_names_rejected)
{
    static const char *const bad[] = {
        "/etc/passwd",
        "../../etc/passwd",
        "Europe/../../../etc/passwd",
        "..",
        ".",
        "Europe/Berlin\n",
        "Europe Berlin",
        "Europe//Berlin",
        "Europe/",
        "Europe/Berlin.tab",
        "Europe\\Berlin",
        "~root",
        "$HOME",
        "Europe/Berlin;rm",
    };
    char err[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        T_ASSERT(tz_load(bad[i], err, sizeof err) == NULL);
        T_CONTAINS(err, "invalid time zone name");
    }
    char longname[300];
    memset(longname, 'A', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    T_ASSERT(tz_load(longname, err, sizeof err) == NULL);
    T_CONTAINS(err, "invalid time zone name");
    T_CONTAINS(err, "longer than 255 bytes");
    T_ASSERT(strlen(err) < 140); /* the name is shortened in the message */
    T_ASSERT(tz_load("../../etc/passwd", err, sizeof err) == NULL);
    T_EQ_STR(err, "invalid time zone name \"../../etc/passwd\": contains \"..\"");
    T_ASSERT(tz_load("/etc/localtime", err, sizeof err) == NULL);
    T_EQ_STR(err, "invalid time zone name \"/etc/localtime\": absolute path");
    T_ASSERT(tz_load("Europe/Berlin\n", err, sizeof err) == NULL);
    T_EQ_STR(err, "invalid time zone name \"Europe/Berlin?\": characters other than A-Z a-z "
                  "0-9 _ + - /");
}

TEST(tz_load_names_and_fixed_zones)
{
    char err[256] = "";
    struct tz *z = tz_load("Etc/GMT+3", err, sizeof err);
    T_ASSERT(z != NULL);
    T_EQ_STR(tz_name(z), "Etc/GMT+3");
    /* POSIX sign convention: Etc/GMT+3 is three hours WEST of UTC. */
    T_EQ_INT(tz_offset_at(z, Z("2026-01-01T00:00:00Z")), -3 * 3600);
    T_EQ_INT(tz_offset_at(z, Z("2090-07-01T00:00:00Z")), -3 * 3600);
    int64_t out[2];
    T_EQ_INT(tz_local_to_utc(z, L("2026-03-29T02:30:00"), out), 1);
    T_EQ_INT(out[0], Z("2026-03-29T05:30:00Z"));
    tz_free(z);
    z = tz_load("Asia/Kolkata", err, sizeof err);
    T_ASSERT(z != NULL);
    T_EQ_INT(tz_offset_at(z, Z("2026-01-01T00:00:00Z")), 5 * 3600 + 1800); /* IST, no DST */
    tz_free(z);
}

/* ---- Europe/Berlin: EU rules, last Sunday of March / October at 01:00 UTC ----------- */

TEST(tz_berlin_offsets)
{
    char err[256] = "";
    struct tz *z = tz_load("Europe/Berlin", err, sizeof err);
    T_ASSERT(z != NULL);
    /* 2026-03-29 (last Sunday of March) 01:00 UTC: 02:00 CET (+1) -> 03:00 CEST (+2). */
    T_EQ_INT(Z("2026-03-29T01:00:00Z"), 1774746000); /* sanity check of the helper */
    T_EQ_INT(tz_offset_at(z, Z("2026-03-29T00:59:59Z")), 3600);
    T_EQ_INT(tz_offset_at(z, Z("2026-03-29T01:00:00Z")), 7200);
    /* 2026-10-25 (last Sunday of October) 01:00 UTC: 03:00 CEST -> 02:00 CET. */
    T_EQ_INT(tz_offset_at(z, Z("2026-10-25T00:59:59Z")), 7200);
    T_EQ_INT(tz_offset_at(z, Z("2026-10-25T01:00:00Z")), 3600);
    T_EQ_INT(tz_offset_at(z, Z("2026-01-15T00:00:00Z")), 3600);
    T_EQ_INT(tz_offset_at(z, Z("2026-07-01T00:00:00Z")), 7200);
    /* West Germany had no DST 1950-1979; it returned 1980-04-06 (first Sunday of April). */
    T_EQ_INT(tz_offset_at(z, Z("1975-07-01T00:00:00Z")), 3600);
    T_EQ_INT(tz_offset_at(z, Z("1980-01-01T00:00:00Z")), 3600);
    T_EQ_INT(tz_offset_at(z, Z("1980-07-01T00:00:00Z")), 7200);
    /* 1945: "double summer time" CEMT (+3) from 24 May; mid-June is in it. */
    T_EQ_INT(tz_offset_at(z, Z("1945-06-15T12:00:00Z")), 3 * 3600);
    /* Before 1893-04-01 Berlin kept local mean time, +0:53:28. */
    T_EQ_INT(tz_offset_at(z, Z("1880-01-01T00:00:00Z")), 53 * 60 + 28);
    tz_free(z);
}

TEST(tz_berlin_after_2037_uses_the_footer_rule)
{
    char err[256] = "";
    struct tz *z = tz_load("Europe/Berlin", err, sizeof err);
    T_ASSERT(z != NULL);
    /* 2040: last Sunday of March is the 25th, of October the 28th; changes at 01:00 UTC. */
    T_EQ_INT(tz_offset_at(z, Z("2040-03-25T00:59:59Z")), 3600);
    T_EQ_INT(tz_offset_at(z, Z("2040-03-25T01:00:00Z")), 7200);
    T_EQ_INT(tz_offset_at(z, Z("2040-10-28T00:59:59Z")), 7200);
    T_EQ_INT(tz_offset_at(z, Z("2040-10-28T01:00:00Z")), 3600);
    /* 2100: last Sunday of March is the 28th. */
    T_EQ_INT(tz_offset_at(z, Z("2100-03-28T00:59:59Z")), 3600);
    T_EQ_INT(tz_offset_at(z, Z("2100-03-28T01:00:00Z")), 7200);
    int64_t at, out[2];
    int off;
    T_EQ_INT(tz_next_transition(z, Z("2040-01-01T00:00:00Z"), &at, &off), 0);
    T_EQ_INT(at, Z("2040-03-25T01:00:00Z"));
    T_EQ_INT(off, 7200);
    T_EQ_INT(tz_next_transition(z, at, &at, &off), 0);
    T_EQ_INT(at, Z("2040-10-28T01:00:00Z"));
    T_EQ_INT(off, 3600);
    /* 02:30 on 2040-03-25 does not exist; the gap ends at 01:00 UTC (03:00 CEST). */
    T_EQ_INT(tz_local_to_utc(z, L("2040-03-25T02:30:00"), out), 0);
    T_EQ_INT(out[0], Z("2040-03-25T01:00:00Z"));
    /* 02:30 on 2040-10-28 happens at 00:30 UTC (CEST) and 01:30 UTC (CET). */
    T_EQ_INT(tz_local_to_utc(z, L("2040-10-28T02:30:00"), out), 2);
    T_EQ_INT(out[0], Z("2040-10-28T00:30:00Z"));
    T_EQ_INT(out[1], Z("2040-10-28T01:30:00Z"));
    tz_free(z);
}

TEST(tz_berlin_next_transition)
{
    char err[256] = "";
    struct tz *z = tz_load("Europe/Berlin", err, sizeof err);
    T_ASSERT(z != NULL);
    int64_t at;
    int off;
    T_EQ_INT(tz_next_transition(z, Z("2026-01-01T00:00:00Z"), &at, &off), 0);
    T_EQ_INT(at, Z("2026-03-29T01:00:00Z"));
    T_EQ_INT(off, 7200);
    /* strictly after: from the transition instant itself, the next one */
    T_EQ_INT(tz_next_transition(z, at, &at, &off), 0);
    T_EQ_INT(at, Z("2026-10-25T01:00:00Z"));
    T_EQ_INT(off, 3600);
    tz_free(z);
}

TEST(tz_berlin_local_to_utc)
{
    char err[256] = "";
    struct tz *z = tz_load("Europe/Berlin", err, sizeof err);
    T_ASSERT(z != NULL);
    int64_t out[2];
    /* Ordinary summer time: 12:00 CEST = 10:00 UTC. */
    T_EQ_INT(tz_local_to_utc(z, L("2026-07-01T12:00:00"), out), 1);
    T_EQ_INT(out[0], Z("2026-07-01T10:00:00Z"));
    T_EQ_INT(out[1], out[0]);
    /* Spring forward 2026-03-29: local 02:00:00-02:59:59 never happens. */
    T_EQ_INT(tz_local_to_utc(z, L("2026-03-29T01:59:59"), out), 1);
    T_EQ_INT(out[0], Z("2026-03-29T00:59:59Z"));
    T_EQ_INT(tz_local_to_utc(z, L("2026-03-29T02:00:00"), out), 0);
    T_EQ_INT(out[0], Z("2026-03-29T01:00:00Z"));
    T_EQ_INT(tz_local_to_utc(z, L("2026-03-29T02:30:00"), out), 0);
    T_EQ_INT(out[0], Z("2026-03-29T01:00:00Z"));
    T_EQ_INT(tz_local_to_utc(z, L("2026-03-29T02:59:59"), out), 0);
    T_EQ_INT(out[0], Z("2026-03-29T01:00:00Z"));
    T_EQ_INT(tz_local_to_utc(z, L("2026-03-29T03:00:00"), out), 1);
    T_EQ_INT(out[0], Z("2026-03-29T01:00:00Z"));
    /* Fall back 2026-10-25: local 02:00:00-02:59:59 happens twice (CEST, then CET). */
    T_EQ_INT(tz_local_to_utc(z, L("2026-10-25T01:59:59"), out), 1);
    T_EQ_INT(out[0], Z("2026-10-24T23:59:59Z"));
    T_EQ_INT(tz_local_to_utc(z, L("2026-10-25T02:00:00"), out), 2);
    T_EQ_INT(out[0], Z("2026-10-25T00:00:00Z"));
    T_EQ_INT(out[1], Z("2026-10-25T01:00:00Z"));
    T_EQ_INT(tz_local_to_utc(z, L("2026-10-25T02:30:00"), out), 2);
    T_EQ_INT(out[0], Z("2026-10-25T00:30:00Z"));
    T_EQ_INT(out[1], Z("2026-10-25T01:30:00Z"));
    T_EQ_INT(tz_local_to_utc(z, L("2026-10-25T02:59:59"), out), 2);
    T_EQ_INT(out[1], Z("2026-10-25T01:59:59Z"));
    T_EQ_INT(tz_local_to_utc(z, L("2026-10-25T03:00:00"), out), 1);
    T_EQ_INT(out[0], Z("2026-10-25T02:00:00Z"));
    tz_free(z);
}

/* ---- Australia/Sydney: AEST +10, AEDT +11; DST ends 1st Sunday of April 03:00 AEDT,
 *      starts 1st Sunday of October 02:00 AEST ------------------------------------------ */

TEST(tz_sydney_southern_hemisphere)
{
    char err[256] = "";
    struct tz *z = tz_load("Australia/Sydney", err, sizeof err);
    T_ASSERT(z != NULL);
    /* 2026-04-05 03:00 AEDT = 2026-04-04 16:00 UTC: back to 02:00 AEST. */
    T_EQ_INT(tz_offset_at(z, Z("2026-04-04T15:59:59Z")), 11 * 3600);
    T_EQ_INT(tz_offset_at(z, Z("2026-04-04T16:00:00Z")), 10 * 3600);
    /* 2026-10-04 02:00 AEST = 2026-10-03 16:00 UTC: forward to 03:00 AEDT. */
    T_EQ_INT(tz_offset_at(z, Z("2026-10-03T15:59:59Z")), 10 * 3600);
    T_EQ_INT(tz_offset_at(z, Z("2026-10-03T16:00:00Z")), 11 * 3600);
    /* January is summer (DST) there. */
    T_EQ_INT(tz_offset_at(z, Z("2026-01-15T00:00:00Z")), 11 * 3600);
    T_EQ_INT(tz_offset_at(z, Z("2026-07-01T00:00:00Z")), 10 * 3600);
    int64_t out[2];
    /* 02:30 on 2026-04-05 happens at 02:30 AEDT (15:30 UTC) and 02:30 AEST (16:30 UTC). */
    T_EQ_INT(tz_local_to_utc(z, L("2026-04-05T02:30:00"), out), 2);
    T_EQ_INT(out[0], Z("2026-04-04T15:30:00Z"));
    T_EQ_INT(out[1], Z("2026-04-04T16:30:00Z"));
    /* 02:30 on 2026-10-04 never happens; the gap ends at 16:00 UTC (03:00 AEDT). */
    T_EQ_INT(tz_local_to_utc(z, L("2026-10-04T02:30:00"), out), 0);
    T_EQ_INT(out[0], Z("2026-10-03T16:00:00Z"));
    /* 2045: 1st Sunday of April is the 2nd, of October the 1st (footer rule). */
    T_EQ_INT(tz_offset_at(z, Z("2045-04-01T15:59:59Z")), 11 * 3600);
    T_EQ_INT(tz_offset_at(z, Z("2045-04-01T16:00:00Z")), 10 * 3600);
    T_EQ_INT(tz_offset_at(z, Z("2045-09-30T15:59:59Z")), 10 * 3600);
    T_EQ_INT(tz_offset_at(z, Z("2045-09-30T16:00:00Z")), 11 * 3600);
    tz_free(z);
}

/* ---- America/New_York: EST -5, EDT -4; 2nd Sunday of March 02:00 EST, 1st Sunday of
 *      November 02:00 EDT ---------------------------------------------------------------- */

TEST(tz_new_york)
{
    char err[256] = "";
    struct tz *z = tz_load("America/New_York", err, sizeof err);
    T_ASSERT(z != NULL);
    /* 2026-03-08 02:00 EST = 07:00 UTC. */
    T_EQ_INT(tz_offset_at(z, Z("2026-03-08T06:59:59Z")), -5 * 3600);
    T_EQ_INT(tz_offset_at(z, Z("2026-03-08T07:00:00Z")), -4 * 3600);
    /* 2026-11-01 02:00 EDT = 06:00 UTC. */
    T_EQ_INT(tz_offset_at(z, Z("2026-11-01T05:59:59Z")), -4 * 3600);
    T_EQ_INT(tz_offset_at(z, Z("2026-11-01T06:00:00Z")), -5 * 3600);
    int64_t out[2];
    T_EQ_INT(tz_local_to_utc(z, L("2026-03-08T02:30:00"), out), 0);
    T_EQ_INT(out[0], Z("2026-03-08T07:00:00Z"));
    T_EQ_INT(tz_local_to_utc(z, L("2026-11-01T01:30:00"), out), 2);
    T_EQ_INT(out[0], Z("2026-11-01T05:30:00Z"));
    T_EQ_INT(out[1], Z("2026-11-01T06:30:00Z"));
    T_EQ_INT(tz_local_to_utc(z, L("2026-11-01T02:00:00"), out), 1);
    T_EQ_INT(out[0], Z("2026-11-01T07:00:00Z"));
    /* Before 2007 the US changed on the 1st Sunday of April: 2006-04-02 07:00 UTC. */
    T_EQ_INT(tz_offset_at(z, Z("2006-04-02T06:59:59Z")), -5 * 3600);
    T_EQ_INT(tz_offset_at(z, Z("2006-04-02T07:00:00Z")), -4 * 3600);
    tz_free(z);
}

/* ---- POSIX TZ footer forms ---------------------------------------------------------- */

TEST(tz_posix_negative_transition_times)
{
    /* America/Nuuk since 2023: -02 standard, -01 summer, starting the last Sunday of
     * March at -1:00 (Saturday 23:00 local) and ending the last Sunday of October at
     * 0:00 summer time. 2026: both at 01:00 UTC, on March 29 and October 25. */
    char err[256] = "";
    struct tz *z = load_footer_zone("<-02>2<-01>,M3.5.0/-1,M10.5.0/0", -7200, err, sizeof err);
    T_ASSERT(z != NULL);
    T_EQ_INT(tz_offset_at(z, Z("2026-03-29T00:59:59Z")), -7200);
    T_EQ_INT(tz_offset_at(z, Z("2026-03-29T01:00:00Z")), -3600);
    T_EQ_INT(tz_offset_at(z, Z("2026-10-25T00:59:59Z")), -3600);
    T_EQ_INT(tz_offset_at(z, Z("2026-10-25T01:00:00Z")), -7200);
    tz_free(z);
}

TEST(tz_posix_all_year_dst)
{
    /* RFC 8536 3.3.1: DST from Jan 1 00:00 to Dec 31 24:00 + 1h is DST all year. */
    char err[256] = "";
    struct tz *z = load_footer_zone("EST5EDT4,0/0,J365/25", -5 * 3600, err, sizeof err);
    T_ASSERT(z != NULL);
    T_EQ_INT(tz_offset_at(z, Z("2026-01-01T00:00:00Z")), -4 * 3600);
    T_EQ_INT(tz_offset_at(z, Z("2026-07-01T00:00:00Z")), -4 * 3600);
    T_EQ_INT(tz_offset_at(z, Z("2026-12-31T23:59:59Z")), -4 * 3600);
    T_EQ_INT(tz_offset_at(z, Z("2027-01-01T05:00:00Z")), -4 * 3600); /* end == next start */
    tz_free(z);
}

TEST(tz_posix_negative_dst_and_reversed_year)
{
    /* Europe/Dublin's footer: IST (+1) is "standard", GMT (0) the winter "DST", which
     * starts the last Sunday of October at 02:00 IST (01:00 UTC) and ends the last
     * Sunday of March at 01:00 GMT (01:00 UTC). */
    char err[256] = "";
    struct tz *z = load_footer_zone("IST-1GMT0,M10.5.0,M3.5.0/1", 3600, err, sizeof err);
    T_ASSERT(z != NULL);
    T_EQ_INT(tz_offset_at(z, Z("2026-01-15T00:00:00Z")), 0);
    T_EQ_INT(tz_offset_at(z, Z("2026-03-29T00:59:59Z")), 0);
    T_EQ_INT(tz_offset_at(z, Z("2026-03-29T01:00:00Z")), 3600);
    T_EQ_INT(tz_offset_at(z, Z("2026-07-01T00:00:00Z")), 3600);
    T_EQ_INT(tz_offset_at(z, Z("2026-10-25T00:59:59Z")), 3600);
    T_EQ_INT(tz_offset_at(z, Z("2026-10-25T01:00:00Z")), 0);
    tz_free(z);
}

TEST(tz_posix_julian_forms)
{
    /* Iran until 2022: +03:30, +04:30 from J79 (March 20, never counting Feb 29) at 24:00
     * to J263 (September 20) at 24:00. Start: 2026-03-21 00:00 +03:30 = 03-20 20:30 UTC,
     * also in leap year 2028 (J ignores Feb 29). End: 2026-09-21 00:00 +04:30 = 09-20
     * 19:30 UTC. */
    char err[256] = "";
    struct tz *z = load_footer_zone("<+0330>-3:30<+0430>,J79/24,J263/24", 12600, err, sizeof err);
    T_ASSERT(z != NULL);
    int64_t at;
    int off;
    T_EQ_INT(tz_next_transition(z, Z("2026-01-01T00:00:00Z"), &at, &off), 0);
    T_EQ_INT(at, Z("2026-03-20T20:30:00Z"));
    T_EQ_INT(off, 16200);
    T_EQ_INT(tz_next_transition(z, at, &at, &off), 0);
    T_EQ_INT(at, Z("2026-09-20T19:30:00Z"));
    T_EQ_INT(off, 12600);
    T_EQ_INT(tz_next_transition(z, Z("2028-01-01T00:00:00Z"), &at, &off), 0);
    T_EQ_INT(at, Z("2028-03-20T20:30:00Z"));
    tz_free(z);
    /* Zero-based day numbers count Feb 29: day 59 is March 1 in 2027 but February 29
     * in 2028; day 303 is October 31 in 2027, October 30 in 2028. Changes at 02:00
     * local: start 02:00 +02 = 00:00 UTC, end 02:00 +03 = 23:00 UTC the day before. */
    z = load_footer_zone("<+02>-2<+03>,59,303", 7200, err, sizeof err);
    T_ASSERT(z != NULL);
    T_EQ_INT(tz_next_transition(z, Z("2027-01-01T00:00:00Z"), &at, &off), 0);
    T_EQ_INT(at, Z("2027-03-01T00:00:00Z"));
    T_EQ_INT(off, 3 * 3600);
    T_EQ_INT(tz_next_transition(z, at, &at, &off), 0);
    T_EQ_INT(at, Z("2027-10-30T23:00:00Z"));
    T_EQ_INT(tz_next_transition(z, at, &at, &off), 0);
    T_EQ_INT(at, Z("2028-02-29T00:00:00Z"));
    T_EQ_INT(tz_next_transition(z, at, &at, &off), 0);
    T_EQ_INT(at, Z("2028-10-29T23:00:00Z"));
    tz_free(z);
}

TEST(tz_posix_default_dst_offset_and_rules)
{
    /* No DST offset: one hour ahead of standard. No rules: the US M3.2.0,M11.1.0. */
    char err[256] = "";
    struct tz *z = load_footer_zone("<+03>-3<+04>,M3.5.0,M10.5.0/3", 3 * 3600, err, sizeof err);
    T_ASSERT(z != NULL);
    T_EQ_INT(tz_offset_at(z, Z("2026-07-01T00:00:00Z")), 4 * 3600);
    tz_free(z);
    z = load_footer_zone("EST5EDT", -5 * 3600, err, sizeof err);
    T_ASSERT(z != NULL);
    T_EQ_INT(tz_offset_at(z, Z("2026-03-08T06:59:59Z")), -5 * 3600);
    T_EQ_INT(tz_offset_at(z, Z("2026-03-08T07:00:00Z")), -4 * 3600);
    tz_free(z);
}

TEST(tz_posix_bad_footers_rejected)
{
    static const char *const bad[] = {
        "EST",                        /* no offset */
        "E5",                         /* name too short */
        "<AB>5",                      /* quoted name too short */
        "<EST5",                      /* unterminated */
        "EST5EDT,M13.1.0,M11.1.0",    /* month 13 */
        "EST5EDT,M3.6.0,M11.1.0",     /* week 6 */
        "EST5EDT,M3.2.7,M11.1.0",     /* weekday 7 */
        "EST5EDT,M3.2.0",             /* no end */
        "EST5EDT,M3.2.0/168,M11.1.0", /* time over 167h */
        "EST5EDT,J0,J365",            /* J starts at 1 */
        "EST5EDT,366,300",            /* n over 365 */
        "EST25",                      /* offset over 24h */
        "EST5 ",                      /* trailing garbage */
    };
    char err[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        struct tz *z = load_footer_zone(bad[i], 0, err, sizeof err);
        if (z) {
            tz_free(z);
            t_fail(__FILE__, __LINE__, "footer \"%s\" accepted", bad[i]);
            return;
        }
        T_CONTAINS(err, "time zone \"Footer\": malformed TZif file");
    }
}

/* ---- TZif structure ----------------------------------------------------------------- */

TEST(tz_version1_file_with_transitions)
{
    /* A version 1 file (32-bit data, no footer): +1 until 2000-01-01, then +2. */
    int64_t trans[] = {Z("2000-01-01T00:00:00Z")};
    uint8_t idx[] = {1};
    int32_t off[] = {3600, 7200};
    struct tzif_spec s = {0, 1, trans, idx, 2, off, NULL};
    struct tzif_out o;
    build_tzif(&o, &s);
    T_EQ_INT(write_file(t_tmpdir(), "V1", o.b, o.n), 0);
    char err[256] = "";
    struct tz *z = load_in(t_tmpdir(), "V1", err, sizeof err);
    T_ASSERT(z != NULL);
    T_EQ_INT(tz_offset_at(z, Z("1999-12-31T23:59:59Z")), 3600);
    T_EQ_INT(tz_offset_at(z, Z("2000-01-01T00:00:00Z")), 7200);
    T_EQ_INT(tz_offset_at(z, Z("2090-01-01T00:00:00Z")), 7200); /* no footer: last type */
    int64_t at;
    int o2;
    T_EQ_INT(tz_next_transition(z, Z("2000-01-01T00:00:00Z"), &at, &o2), -1);
    /* At 00:00 UTC the clock jumps from 01:00 (+1) to 02:00 (+2): 01:xx never happens. */
    int64_t out[2];
    T_EQ_INT(tz_local_to_utc(z, L("2000-01-01T01:30:00"), out), 0);
    T_EQ_INT(out[0], Z("2000-01-01T00:00:00Z"));
    tz_free(z);
}

static int
read_berlin(uint8_t *buf, size_t cap, size_t *len)
{
    char path[1024];
    const char *dir = getenv("ZONEINFO");
    snprintf(path, sizeof path, "%s/Europe/Berlin", dir && *dir ? dir : "/usr/share/zoneinfo");
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    *len = fread(buf, 1, cap, f);
    fclose(f);
    return *len > 0 && *len < cap ? 0 : -1;
}

TEST(tz_truncated_files_rejected_at_every_length)
{
    static uint8_t data[8192];
    size_t len;
    T_EQ_INT(read_berlin(data, sizeof data, &len), 0);
    char err[256];
    for (size_t cut = 0; cut < len; cut++) {
        T_EQ_INT(write_file(t_tmpdir(), "Cut", data, cut), 0);
        err[0] = '\0';
        struct tz *z = load_in(t_tmpdir(), "Cut", err, sizeof err);
        if (z) {
            tz_free(z);
            t_fail(__FILE__, __LINE__, "file cut at %zu of %zu bytes accepted", cut, len);
            return;
        }
        T_CONTAINS(err, "time zone \"Cut\": malformed TZif file");
    }
    T_EQ_INT(write_file(t_tmpdir(), "Cut", data, len), 0);
    struct tz *z = load_in(t_tmpdir(), "Cut", err, sizeof err);
    T_ASSERT(z != NULL);
    tz_free(z);
}

/* Overwrites the big-endian 32-bit count at `field` (0 = isutcnt ... 5 = charcnt) of the
 * version 2 header of a Berlin copy, and loads it. */
static struct tz *
load_with_lying_count(unsigned field, uint32_t value, char *err, size_t errlen)
{
    static uint8_t data[8192];
    size_t len;
    if (read_berlin(data, sizeof data, &len) < 0) return NULL;
    uint32_t c[6];
    for (int i = 0; i < 6; i++)
        c[i] = (uint32_t)data[20 + 4 * i] << 24 | (uint32_t)data[21 + 4 * i] << 16 |
               (uint32_t)data[22 + 4 * i] << 8 | data[23 + 4 * i];
    size_t v1 = (size_t)c[3] * 5 + (size_t)c[4] * 6 + c[5] + (size_t)c[2] * 8 + c[1] + c[0];
    uint8_t *p = data + 44 + v1 + 20 + 4 * field;
    p[0] = (uint8_t)(value >> 24);
    p[1] = (uint8_t)(value >> 16);
    p[2] = (uint8_t)(value >> 8);
    p[3] = (uint8_t)value;
    if (write_file(t_tmpdir(), "Liar", data, len) < 0) return NULL;
    snprintf(err, errlen, "not loaded");
    return load_in(t_tmpdir(), "Liar", err, errlen);
}

TEST(tz_lying_counts_rejected)
{
    static const struct {
        unsigned field;
        uint32_t value;
    } lies[] = {
        {3, 0xffffffffu}, {3, 0x10000000u}, {3, 5000}, {4, 0}, {4, 0xffffffffu},
        {5, 0},           {5, 0x7fffffffu}, {2, 1000}, {0, 1}, {1, 0x80000000u},
    };
    char err[256];
    for (size_t i = 0; i < sizeof lies / sizeof lies[0]; i++) {
        struct tz *z = load_with_lying_count(lies[i].field, lies[i].value, err, sizeof err);
        if (z) {
            tz_free(z);
            t_fail(__FILE__, __LINE__, "count %u = %u accepted", lies[i].field, lies[i].value);
            return;
        }
        T_CONTAINS(err, "time zone \"Liar\": malformed TZif file");
    }
}

TEST(tz_bad_structure_rejected)
{
    char err[256] = "";
    struct tzif_out o;
    /* transitions out of order */
    int64_t trans[] = {1000, 500};
    uint8_t idx[] = {0, 0};
    int32_t off[] = {3600, 7200};
    struct tzif_spec s = {'2', 2, trans, idx, 2, off, "CET-1"};
    build_tzif(&o, &s);
    T_EQ_INT(write_file(t_tmpdir(), "Bad", o.b, o.n), 0);
    T_ASSERT(load_in(t_tmpdir(), "Bad", err, sizeof err) == NULL);
    T_CONTAINS(err, "transitions out of order");
    /* type index beyond the type count */
    int64_t trans2[] = {500, 1000};
    uint8_t idx2[] = {0, 2};
    struct tzif_spec s2 = {'2', 2, trans2, idx2, 2, off, "CET-1"};
    build_tzif(&o, &s2);
    T_EQ_INT(write_file(t_tmpdir(), "Bad", o.b, o.n), 0);
    T_ASSERT(load_in(t_tmpdir(), "Bad", err, sizeof err) == NULL);
    T_CONTAINS(err, "type index out of range");
    /* absurd UTC offset */
    int32_t off3[] = {3600, 200000};
    struct tzif_spec s3 = {'2', 2, trans2, idx, 2, off3, "CET-1"};
    build_tzif(&o, &s3);
    T_EQ_INT(write_file(t_tmpdir(), "Bad", o.b, o.n), 0);
    T_ASSERT(load_in(t_tmpdir(), "Bad", err, sizeof err) == NULL);
    T_CONTAINS(err, "offset out of range");
    /* wrong magic, unknown version */
    struct tzif_spec s4 = {'2', 2, trans2, idx, 2, off, "CET-1"};
    build_tzif(&o, &s4);
    o.b[0] = 'X';
    T_EQ_INT(write_file(t_tmpdir(), "Bad", o.b, o.n), 0);
    T_ASSERT(load_in(t_tmpdir(), "Bad", err, sizeof err) == NULL);
    T_CONTAINS(err, "not a TZif file");
    o.b[0] = 'T';
    o.b[4] = '9';
    T_EQ_INT(write_file(t_tmpdir(), "Bad", o.b, o.n), 0);
    T_ASSERT(load_in(t_tmpdir(), "Bad", err, sizeof err) == NULL);
    T_CONTAINS(err, "unsupported TZif version");
    /* footer without its closing newline */
    o.b[4] = '2';
    T_EQ_INT(write_file(t_tmpdir(), "Bad", o.b, o.n - 1), 0);
    T_ASSERT(load_in(t_tmpdir(), "Bad", err, sizeof err) == NULL);
    T_CONTAINS(err, "truncated footer");
    /* and the intact file loads */
    T_EQ_INT(write_file(t_tmpdir(), "Bad", o.b, o.n), 0);
    struct tz *z = load_in(t_tmpdir(), "Bad", err, sizeof err);
    T_ASSERT(z != NULL);
    tz_free(z);
}

TEST(tz_version3_file_loads)
{
    /* Version 3 only extends the footer syntax (hours up to 167, as in J365/25). */
    int32_t off[] = {-3 * 3600};
    struct tzif_spec s = {'3', 0, NULL, NULL, 1, off, "<-03>3<-02>,M3.2.0/-1,J365/25"};
    struct tzif_out o;
    build_tzif(&o, &s);
    T_EQ_INT(write_file(t_tmpdir(), "V3", o.b, o.n), 0);
    char err[256] = "";
    struct tz *z = load_in(t_tmpdir(), "V3", err, sizeof err);
    T_ASSERT(z != NULL);
    /* Starts the 2nd Sunday of March (2026-03-08) at -1:00 -03, i.e. Saturday 23:00
     * local = 2026-03-08 02:00 UTC. */
    T_EQ_INT(tz_offset_at(z, Z("2026-03-08T01:59:59Z")), -3 * 3600);
    T_EQ_INT(tz_offset_at(z, Z("2026-03-08T02:00:00Z")), -2 * 3600);
    /* Ends Dec 31 at 25:00 -02 = 2027-01-01 01:00 local -02 = 03:00 UTC. */
    T_EQ_INT(tz_offset_at(z, Z("2027-01-01T02:59:59Z")), -2 * 3600);
    T_EQ_INT(tz_offset_at(z, Z("2027-01-01T03:00:00Z")), -3 * 3600);
    tz_free(z);
}

TEST(tz_oversized_file_rejected)
{
    static uint8_t big[TZ_FILE_MAX_BYTES + 16];
    memcpy(big, "TZif2", 5);
    T_EQ_INT(write_file(t_tmpdir(), "Big", big, sizeof big), 0);
    char err[256] = "";
    T_ASSERT(load_in(t_tmpdir(), "Big", err, sizeof err) == NULL);
    T_EQ_STR(err, "time zone \"Big\": file too large");
}

TEST(tz_extreme_instants_do_not_overflow)
{
    char err[256] = "";
    struct tz *z = tz_load("Europe/Berlin", err, sizeof err);
    T_ASSERT(z != NULL);
    int64_t out[2], at;
    int off;
    (void)tz_offset_at(z, INT64_MAX);
    (void)tz_offset_at(z, INT64_MIN);
    (void)tz_local_to_utc(z, INT64_MAX, out);
    (void)tz_local_to_utc(z, INT64_MIN, out);
    (void)tz_next_transition(z, INT64_MAX, &at, &off);
    (void)tz_next_transition(z, INT64_MIN, &at, &off);
    tz_free(z);
}

/* Deterministic xorshift, so failures reproduce. */
static uint32_t
next_rand(uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

TEST(tz_mutated_files_never_crash)
{
    /* Each byte of a real file replaced by a few values: whatever loads must answer
     * queries without reading out of bounds (the sanitizer build checks). */
    static uint8_t data[8192], copy[8192];
    static const uint8_t values[] = {0x00, 0x01, 0x7f, 0x80, 0xff, '\n', ','};
    size_t len;
    T_EQ_INT(read_berlin(data, sizeof data, &len), 0);
    uint32_t seed = 12345;
    char err[256];
    for (size_t i = 0; i < len; i++) {
        uint8_t v = values[next_rand(&seed) % sizeof values];
        memcpy(copy, data, len);
        copy[i] = v;
        T_EQ_INT(write_file(t_tmpdir(), "Mutant", copy, len), 0);
        struct tz *z = load_in(t_tmpdir(), "Mutant", err, sizeof err);
        if (!z) {
            T_CONTAINS(err, "malformed TZif file");
            continue;
        }
        int64_t out[2], at;
        int off;
        (void)tz_offset_at(z, Z("2026-03-29T01:00:00Z"));
        (void)tz_offset_at(z, Z("1900-01-01T00:00:00Z"));
        (void)tz_local_to_utc(z, L("2026-10-25T02:30:00"), out);
        (void)tz_next_transition(z, Z("2040-01-01T00:00:00Z"), &at, &off);
        tz_free(z);
    }
}
