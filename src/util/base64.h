/* Standard base64 (RFC 4648 section 4, the "+/" alphabet, '=' padding).
 *
 * Decoding skips ASCII whitespace (space, tab, CR, LF) anywhere in the input, as PEM and
 * YAML folding put line breaks inside long values, and otherwise is strict: any other
 * byte outside the alphabet, a significant length that is not a multiple of 4, '=' that
 * is not the last one or two characters of the final quantum, all reject the input.
 * Trailing bits of a padded final quantum are ignored (Go's StdEncoding does the same). */
#ifndef OMJ_BASE64_H
#define OMJ_BASE64_H

#include <stddef.h>

enum base64_err { BASE64_OK = 0, BASE64_INVALID = -1, BASE64_TOO_BIG = -2, BASE64_NOMEM = -3 };

/* Bytes base64_decode() may need for inlen input characters (an upper bound). */
size_t base64_decoded_max(size_t inlen);
/* Characters base64_encode() writes for inlen bytes, not counting the NUL; 0 if the
 * result would overflow size_t. */
size_t base64_encoded_len(size_t inlen);

/* Decodes in[0..inlen) into out (capacity outcap). On BASE64_OK *outlen is the decoded
 * length; on failure the content of out is unspecified and *outlen is 0. */
int base64_decode(const char *in, size_t inlen, unsigned char *out, size_t outcap, size_t *outlen);

/* Like base64_decode() into a fresh allocation of at most max_bytes decoded bytes (plus a
 * NUL terminator, not counted). Returns the buffer (the caller frees it) or NULL with
 * *errp set to a base64_err. */
unsigned char *base64_decode_alloc(const char *in, size_t inlen, size_t max_bytes, size_t *outlen,
                                   int *errp);

/* Encodes in[0..inlen) into out as a NUL-terminated string; BASE64_TOO_BIG when outcap <
 * base64_encoded_len(inlen) + 1 (out is left untouched then). */
int base64_encode(const unsigned char *in, size_t inlen, char *out, size_t outcap);

#endif
