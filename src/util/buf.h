/* A size-capped growable byte buffer (after curl's dynbuf).
 *
 * Every append fails with BUF_TOO_BIG once the content would exceed the cap, and with
 * BUF_NOMEM when allocation fails; on failure the buffer is left unchanged (not freed),
 * so the caller decides. The content is always NUL-terminated (the NUL is not counted). */
#ifndef OMJ_BUF_H
#define OMJ_BUF_H

#include <stddef.h>

enum buf_err { BUF_OK = 0, BUF_NOMEM = -1, BUF_TOO_BIG = -2 };

struct buf {
    char *data; /* NULL until the first append */
    size_t len;
    size_t cap;   /* allocated bytes */
    size_t limit; /* maximum len */
};

void buf_init(struct buf *b, size_t limit);
void buf_free(struct buf *b);
void buf_reset(struct buf *b); /* len = 0, keeps the allocation */
int buf_append(struct buf *b, const void *data, size_t len);
int buf_appends(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Appends s as the inside of a JSON string (no quotes), escaping as RFC 8259 requires. */
int buf_append_json_escaped(struct buf *b, const char *s);
/* Appends s percent-encoded for a URL query value: all but RFC 3986's unreserved
 * characters (A-Z a-z 0-9 - . _ ~) become %XX. All or nothing, like buf_append. */
int buf_append_url_escaped(struct buf *b, const char *s);
/* Removes the first n bytes. */
void buf_consume(struct buf *b, size_t n);
/* Hands the content over: the caller frees the returned pointer; b is empty afterwards.
 * Returns an empty allocated string when b is empty (NULL only on allocation failure). */
char *buf_take(struct buf *b);
/* "" when empty; never NULL. */
const char *buf_str(const struct buf *b);

#endif
