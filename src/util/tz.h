/* IANA time zones read from TZif files (RFC 8536 versions 1-4), including the POSIX TZ
 * footer that "slim" files rely on for every instant after their last transition.
 *
 * Instants are Unix epoch seconds (leap seconds are not counted; "right/" zones are not
 * supported). A "local" time is a civil wall-clock time written as if it were UTC epoch
 * seconds: 2026-03-29T02:30 local is time_days_from_civil(2026, 3, 29) * 86400 + 9000. */
#ifndef OMJ_TZ_H
#define OMJ_TZ_H

#include <stddef.h>
#include <stdint.h>

/* Longest accepted zone name, and the largest TZif file read. */
#define TZ_NAME_MAX 255
#define TZ_FILE_MAX_BYTES (256 * 1024)

struct tz; /* opaque, immutable once loaded: safe to share between readers */

/* Loads the IANA zone `name` ("Europe/Berlin", "Etc/GMT+3") from the directory in
 * $ZONEINFO if set and non-empty, else /usr/share/zoneinfo. "UTC" and "" always succeed
 * without touching the file system (both are named "UTC").
 * Rejects, with a message in err naming the zone and the reason:
 *   names that are absolute, contain "..", characters outside [A-Za-z0-9_+-/], empty
 *   path components, or are over TZ_NAME_MAX bytes;
 *   zones with no file ("unknown time zone \"Mars/Base\""), non-regular files, files
 *   over TZ_FILE_MAX_BYTES, and malformed data (bad magic, counts larger than the data,
 *   unsorted transitions, out-of-range type indexes or offsets, a bad TZ footer).
 * Returns a zone the caller frees with tz_free(), or NULL. */
struct tz *tz_load(const char *name, char *err, size_t errlen);
/* Frees a zone from tz_load(); NULL is a no-op. */
void tz_free(struct tz *z);
/* The name the zone was loaded with ("UTC" for ""). Valid until tz_free(). */
const char *tz_name(const struct tz *z);

/* UTC offset in seconds (east positive) in effect at the instant epoch_s.
 * A NULL zone is UTC. */
int tz_offset_at(const struct tz *z, int64_t epoch_s);

/* The first offset change strictly after after_s: sets *at_s to the instant and
 * *new_offset_s to the offset from then on, and returns 0; -1 if the zone has no later
 * transition. A transition that changes only the abbreviation or the DST flag may
 * report an unchanged offset. */
int tz_next_transition(const struct tz *z, int64_t after_s, int64_t *at_s, int *new_offset_s);

/* Civil local time -> the instants whose wall clock shows it. Returns
 *   1: out[0] is the instant (out[1] == out[0]);
 *   2: the time occurs twice (a fall-back overlap), out[0] < out[1];
 *   0: the time falls in a gap (spring forward) and never occurs: out[0] (== out[1]) is
 *      set to the end of the gap, the transition instant, i.e. the first instant whose
 *      wall clock is later than local_s.
 * So out[0] is always the earliest instant whose wall clock reads local_s or later. */
int tz_local_to_utc(const struct tz *z, int64_t local_s, int64_t out[2]);

#endif
