/* A set of strings (copied), for small bookkeeping such as "keys with a write in flight". */
#ifndef OMJ_STRSET_H
#define OMJ_STRSET_H

#include <stdbool.h>
#include <stddef.h>

struct strset;
struct strset *strset_new(void);
void strset_free(struct strset *s);
/* Returns 1 if added, 0 if present, -1 on allocation failure. */
int strset_add(struct strset *s, const char *key);
bool strset_has(const struct strset *s, const char *key);
/* Returns true if it was present. */
bool strset_del(struct strset *s, const char *key);
size_t strset_count(const struct strset *s);

#endif
