/* TZif files (util/tz.c tz_load): the zone of every CronOMJob with spec.timeZone.
 * The input is written as the zone file "Fuzz/Zone" of a private ZONEINFO directory.
 * Invariants: a refused file comes with a message; for a loaded zone, at every transition
 * and around it: offsets are within +-26 h, tz_next_transition moves strictly forward,
 * and the wall-clock time of an instant maps back to a set of instants that contains it
 * (tz_local_to_utc: 1 or 2 results, out[0] <= t <= out[1]); a gap's answer is an instant
 * whose wall clock is later than the asked time. */
#include "fuzz.h"

#include "util/tz.h"

#include <string.h>
#include <sys/stat.h>

static char zonedir[300];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(zonedir, sizeof zonedir, "%s/zi", fuzz_tmpdir());
    mkdir(zonedir, 0700);
    char sub[320];
    snprintf(sub, sizeof sub, "%s/Fuzz", zonedir);
    mkdir(sub, 0700);
    setenv("ZONEINFO", zonedir, 1);
    return 0;
}

static void
check_instant(const struct tz *z, int64_t t)
{
    int off = tz_offset_at(z, t);
    FUZZ_CHECK(off >= -26 * 3600 && off <= 26 * 3600, "offset %d at %lld", off, (long long)t);
    int64_t out[2] = {0, 0};
    int n = tz_local_to_utc(z, t + off, out);
    FUZZ_CHECK(n == 1 || n == 2, "wall clock of %lld (offset %d) never occurs (%d)",
               (long long)t, off, n);
    FUZZ_CHECK(out[0] <= t && t <= out[1], "%lld not in [%lld, %lld]", (long long)t,
               (long long)out[0], (long long)out[1]);
    FUZZ_CHECK(n == 2 || out[0] == out[1], "one answer but out[0] %lld != out[1] %lld",
               (long long)out[0], (long long)out[1]);
    /* an arbitrary wall-clock time nearby */
    int64_t local = t + off + 1800;
    n = tz_local_to_utc(z, local, out);
    FUZZ_CHECK(n >= 0 && n <= 2 && out[0] <= out[1], "n %d", n);
    if (n == 0)
        FUZZ_CHECK(out[0] + tz_offset_at(z, out[0]) > local,
                   "gap answer %lld shows %lld, not later than %lld", (long long)out[0],
                   (long long)(out[0] + tz_offset_at(z, out[0])), (long long)local);
    else
        for (int i = 0; i < 2; i++)
            FUZZ_CHECK(out[i] + tz_offset_at(z, out[i]) == local,
                       "answer %lld shows %lld, not %lld", (long long)out[i],
                       (long long)(out[i] + tz_offset_at(z, out[i])), (long long)local);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[400];
    snprintf(path, sizeof path, "%s/Fuzz/Zone", zonedir);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    fwrite(data, 1, size, f);
    fclose(f);
    char err[512];
    err[0] = '\0';
    struct tz *z = tz_load("Fuzz/Zone", err, sizeof err);
    if (!z) {
        FUZZ_CHECK(err[0] != '\0', "refused without a message");
        return 0;
    }
    FUZZ_CHECK(!strcmp(tz_name(z), "Fuzz/Zone"), "name %s", tz_name(z));
    static const int64_t fixed[] = {-2208988800LL, 0, 1000000000, 1774746000, 1792540800,
                                    4102444800LL, 32503680000LL};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        check_instant(z, fixed[i]);
    int64_t cur = -2208988800LL, at = 0;
    int next_off = 0;
    for (int i = 0; i < 64 && tz_next_transition(z, cur, &at, &next_off) == 0; i++) {
        FUZZ_CHECK(at > cur, "next transition %lld not after %lld", (long long)at,
                   (long long)cur);
        FUZZ_CHECK(tz_offset_at(z, at) == next_off, "offset at %lld: %d, transition says %d",
                   (long long)at, tz_offset_at(z, at), next_off);
        check_instant(z, at - 1);
        check_instant(z, at);
        cur = at;
    }
    tz_free(z);
    return 0;
}
