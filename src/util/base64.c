#include "util/base64.h"

#include <stdint.h>
#include <stdlib.h>

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Value of one alphabet character, -1 for whitespace to skip, -2 for '=', -3 otherwise. */
static int
b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
        return -1;
    if (c == '=')
        return -2;
    return -3;
}

size_t
base64_decoded_max(size_t inlen)
{
    return inlen / 4 * 3 + 3;
}

size_t
base64_encoded_len(size_t inlen)
{
    size_t quanta = inlen / 3 + (inlen % 3 != 0);
    if (quanta > SIZE_MAX / 4)
        return 0;
    return quanta * 4;
}

/* Writes the bytes of a full or padded quantum; `npad` is 0, 1 or 2. */
static int
b64_flush(const int q[4], int npad, unsigned char *out, size_t outcap, size_t *outlen)
{
    size_t nbytes = (size_t)(3 - npad);
    if (nbytes > outcap - *outlen)
        return BASE64_TOO_BIG;
    uint32_t v = (uint32_t)q[0] << 18 | (uint32_t)q[1] << 12 | (uint32_t)q[2] << 6 | (uint32_t)q[3];
    unsigned char bytes[3] = {(unsigned char)(v >> 16), (unsigned char)(v >> 8), (unsigned char)v};
    for (size_t i = 0; i < nbytes; i++)
        out[(*outlen)++] = bytes[i];
    return BASE64_OK;
}

int
base64_decode(const char *in, size_t inlen, unsigned char *out, size_t outcap, size_t *outlen)
{
    int q[4];
    int nq = 0, npad = 0;
    int done = 0;
    *outlen = 0;
    for (size_t i = 0; i < inlen; i++) {
        int v = b64_value((unsigned char)in[i]);
        if (v == -1)
            continue;
        if (v == -3 || done)
            goto invalid;
        if (v == -2) {
            /* '=' may only fill the last one or two places of a quantum. */
            if (nq < 2)
                goto invalid;
            npad++;
            v = 0;
        } else if (npad) {
            goto invalid;
        }
        q[nq++] = v;
        if (nq < 4)
            continue;
        int rc = b64_flush(q, npad, out, outcap, outlen);
        if (rc != BASE64_OK) {
            *outlen = 0;
            return rc;
        }
        nq = 0;
        done = npad != 0;
    }
    if (nq != 0)
        goto invalid;
    return BASE64_OK;
invalid:
    *outlen = 0;
    return BASE64_INVALID;
}

unsigned char *
base64_decode_alloc(const char *in, size_t inlen, size_t max_bytes, size_t *outlen, int *errp)
{
    size_t cap = base64_decoded_max(inlen);
    if (cap > max_bytes)
        cap = max_bytes;
    unsigned char *out = malloc(cap + 1);
    if (!out) {
        *errp = BASE64_NOMEM;
        return NULL;
    }
    int rc = base64_decode(in, inlen, out, cap, outlen);
    if (rc != BASE64_OK) {
        /* The input may be a private key: leave no partial copy in freed memory. */
        for (volatile unsigned char *v = out; v < out + cap; v++)
            *v = 0;
        free(out);
        *errp = rc;
        return NULL;
    }
    out[*outlen] = '\0';
    *errp = BASE64_OK;
    return out;
}

int
base64_encode(const unsigned char *in, size_t inlen, char *out, size_t outcap)
{
    size_t need = base64_encoded_len(inlen);
    if ((need == 0 && inlen != 0) || outcap <= need)
        return BASE64_TOO_BIG;
    size_t o = 0;
    for (size_t i = 0; i < inlen; i += 3) {
        size_t left = inlen - i;
        uint32_t v = (uint32_t)in[i] << 16;
        if (left > 1)
            v |= (uint32_t)in[i + 1] << 8;
        if (left > 2)
            v |= in[i + 2];
        out[o++] = b64_alphabet[v >> 18 & 63];
        out[o++] = b64_alphabet[v >> 12 & 63];
        out[o++] = left > 1 ? b64_alphabet[v >> 6 & 63] : '=';
        out[o++] = left > 2 ? b64_alphabet[v & 63] : '=';
    }
    out[o] = '\0';
    return BASE64_OK;
}
