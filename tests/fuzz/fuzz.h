/* Shared helpers of the fuzz targets (tests/fuzz/fuzz_*.c).
 *
 * Each target defines LLVMFuzzerTestOneInput (and optionally LLVMFuzzerInitialize). Built
 * with clang's libFuzzer it explores; built with gcc and replay.c it replays the inputs kept
 * under tests/fuzz/regressions/<target>/ (make fuzz-replay, part of make test).
 *
 * FUZZ_CHECK states an invariant: when it does not hold the target prints it and aborts, so
 * libFuzzer keeps the input as a crash. */
#ifndef OMJ_FUZZ_H
#define OMJ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s: ", __FILE__, __LINE__, #cond);          \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* A private directory for the targets that must read files (created once, per process). */
const char *fuzz_tmpdir(void);
/* Writes data to fuzz_tmpdir()/name (replacing it) and returns the full path (static). */
const char *fuzz_write_file(const char *name, const uint8_t *data, size_t size);
/* Is s[0..len) valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF)? */
int fuzz_utf8_valid(const char *s, size_t len);
/* Silences the operator's log (targets feed it garbage on purpose). */
void fuzz_quiet(void);

#endif
