/* base64 (util/base64.c), used for kubeconfig *-data fields and Secret data.
 * Invariants: decode never writes past outcap and its length is within base64_decoded_max;
 * whatever decodes re-encodes to a string that decodes to the same bytes; any bytes encode to
 * exactly base64_encoded_len characters and decode back unchanged; decode_alloc honours its
 * cap (TOO_BIG, never a longer result). */
#include "fuzz.h"

#include "util/base64.h"

#include <string.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    size_t cap = base64_decoded_max(size);
    unsigned char *out = malloc(cap + 1);
    size_t outlen = 99;
    int rc = base64_decode(in, size, out, cap, &outlen);
    FUZZ_CHECK(rc == BASE64_OK || rc == BASE64_INVALID, "rc %d with the max capacity", rc);
    if (rc == BASE64_OK) {
        FUZZ_CHECK(outlen <= cap, "outlen %zu > cap %zu", outlen, cap);
        size_t elen = base64_encoded_len(outlen);
        char *enc = malloc(elen + 1);
        FUZZ_CHECK(base64_encode(out, outlen, enc, elen + 1) == BASE64_OK, "re-encode");
        FUZZ_CHECK(strlen(enc) == elen, "encoded length %zu != %zu", strlen(enc), elen);
        unsigned char *back = malloc(outlen + 1);
        size_t blen = 0;
        FUZZ_CHECK(base64_decode(enc, elen, back, outlen + 1, &blen) == BASE64_OK &&
                       blen == outlen && !memcmp(back, out, outlen),
                   "decode(encode(decode(x))) != decode(x)");
        /* a capacity one short of the result must fail, not overflow */
        if (outlen > 0) {
            unsigned char *tight = malloc(outlen - 1 + 1);
            size_t tl = 7;
            int trc = base64_decode(in, size, tight, outlen - 1, &tl);
            FUZZ_CHECK(trc != BASE64_OK && tl == 0, "decode into %zu bytes gave %d len %zu",
                       outlen - 1, trc, tl);
            free(tight);
        }
        free(back);
        free(enc);
    } else {
        FUZZ_CHECK(outlen == 0, "failed decode left outlen %zu", outlen);
    }
    /* decode_alloc with a cap taken from the input */
    size_t max = size ? data[0] : 0;
    size_t alen = 0;
    int err = 0;
    unsigned char *a = base64_decode_alloc(in, size, max, &alen, &err);
    if (a) {
        FUZZ_CHECK(rc == BASE64_OK && alen == outlen && alen <= max && !memcmp(a, out, alen) &&
                       a[alen] == 0,
                   "decode_alloc disagrees with decode");
        free(a);
    } else {
        /* an input both invalid and too long may report either */
        FUZZ_CHECK(err == BASE64_INVALID ? rc != BASE64_OK
                                         : (err == BASE64_TOO_BIG && (rc != BASE64_OK || outlen > max)),
                   "decode_alloc err %d, decode rc %d len %zu max %zu", err, rc, outlen, max);
    }
    free(out);

    /* any bytes: encode then decode is the identity */
    size_t elen = base64_encoded_len(size);
    char *enc = malloc(elen + 1);
    FUZZ_CHECK(base64_encode(data, size, enc, elen + 1) == BASE64_OK, "encode");
    FUZZ_CHECK(elen == 0 || base64_encode(data, size, enc, elen) == BASE64_TOO_BIG,
               "encode into a short buffer");
    unsigned char *back = malloc(size + 1);
    size_t blen = 0;
    FUZZ_CHECK(base64_decode(enc, elen, back, size + 1, &blen) == BASE64_OK && blen == size &&
                   !memcmp(back, data, size),
               "decode(encode(x)) != x");
    free(back);
    free(enc);
    return 0;
}
