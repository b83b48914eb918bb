/* FNV-1a over a NUL-terminated string: the hash of our in-memory tables (not security). */
#ifndef OMJ_HASH_H
#define OMJ_HASH_H

#include <stdint.h>

static inline uint64_t
hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

#endif
