/* A tiny unit-test harness. Each test file uses TEST(name) { ... } with the T_* checks;
 * tests register themselves at start-up and tests/unit/main.c runs them, printing
 * "N passed, N failed" as its last line and exiting non-zero on any failure. */
#ifndef OMJ_T_H
#define OMJ_T_H

#include <stdio.h>
#include <string.h>

typedef void (*t_fn)(void);
void t_register(const char *name, const char *file, t_fn fn);
void t_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Path of tests/unit/data/<name> (resolved against the source tree). */
const char *t_data(const char *name);
/* A fresh temporary directory for this test (removed at exit). */
const char *t_tmpdir(void);

#define TEST(name)                                                                                 \
    static void test_##name(void);                                                                 \
    __attribute__((constructor)) static void reg_##name(void)                                      \
    {                                                                                              \
        t_register(#name, __FILE__, test_##name);                                                  \
    }                                                                                              \
    static void test_##name(void)

#define T_ASSERT(c)                                                                                \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            t_fail(__FILE__, __LINE__, "assertion failed: %s", #c);                                \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define T_EQ_INT(a, b)                                                                             \
    do {                                                                                           \
        long long t_a_ = (long long)(a), t_b_ = (long long)(b);                                    \
        if (t_a_ != t_b_) {                                                                        \
            t_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, t_a_, t_b_);              \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define T_EQ_STR(a, b)                                                                             \
    do {                                                                                           \
        const char *t_a_ = (a), *t_b_ = (b);                                                       \
        if (!t_a_ || !t_b_ || strcmp(t_a_, t_b_) != 0) {                                           \
            t_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b,                       \
                   t_a_ ? t_a_ : "(null)", t_b_ ? t_b_ : "(null)");                                \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define T_CONTAINS(hay, needle)                                                                    \
    do {                                                                                           \
        const char *t_h_ = (hay), *t_n_ = (needle);                                                \
        if (!t_h_ || !strstr(t_h_, t_n_)) {                                                        \
            t_fail(__FILE__, __LINE__, "%s contains \"%s\": got \"%s\"", #hay, t_n_,               \
                   t_h_ ? t_h_ : "(null)");                                                        \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#endif
