/* Version of the operator and of every statically linked dependency. */
#ifndef OMJ_VERSION_H
#define OMJ_VERSION_H

#include <stdio.h>

const char *version_string(void);
/* Writes the multi-line --version text. */
void version_print(FILE *out);
/* Appends a JSON object {"version":..,"dependencies":{..},"build":{..}} (used by /info). */
struct buf;
int version_json(struct buf *out);

#endif
