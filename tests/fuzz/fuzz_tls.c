/* PEM certificates and keys (kube/tls.c tls_new, tls_cert_has_ip_san): the CA bundle, client
 * certificate and key of a kubeconfig or the in-cluster ca.crt.
 * Input: byte 0 picks host and server name; the rest is "CA\0CERT\0KEY" (missing parts are
 * empty). Invariants: a refusal carries a message; an accepted set checks the name itself
 * exactly when the host is an IP literal and no server name is given; the same input gives
 * the same answer twice; the raw input as DER gives -1, 0 or 1 from the SAN check. */
#include "fuzz.h"

#include "kube/tls.h"

#include <string.h>

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    static const char *const hosts[] = {"127.0.0.1", "localhost", "::1", "kubernetes.default.svc"};
    const char *host = hosts[data[0] & 3];
    const char *sni = data[0] & 4 ? "api.internal.example.com" : NULL;
    const unsigned char *part[3] = {NULL, NULL, NULL};
    size_t len[3] = {0, 0, 0};
    /* copies, each of exactly its size, so a read past a part is caught */
    unsigned char *copy[3] = {NULL, NULL, NULL};
    size_t off = 1;
    for (int i = 0; i < 3 && off <= size; i++) {
        const uint8_t *nul = memchr(data + off, 0, size - off);
        size_t n = nul ? (size_t)(nul - (data + off)) : size - off;
        copy[i] = malloc(n ? n : 1);
        memcpy(copy[i], data + off, n);
        part[i] = copy[i];
        len[i] = n;
        off += n + 1;
    }
    char err[512];
    err[0] = '\0';
    struct tls *t = tls_new(part[0], len[0], len[1] ? part[1] : NULL, len[1],
                            len[2] ? part[2] : NULL, len[2], host, sni, err, sizeof err);
    char err2[512] = "";
    struct tls *t2 = tls_new(part[0], len[0], len[1] ? part[1] : NULL, len[1],
                             len[2] ? part[2] : NULL, len[2], host, sni, err2, sizeof err2);
    FUZZ_CHECK((t == NULL) == (t2 == NULL), "two answers for one input");
    if (!t) {
        FUZZ_CHECK(err[0] != '\0' && !strcmp(err, err2), "refusal: \"%s\" / \"%s\"", err, err2);
    } else {
        int ip = host[0] == ':' || (host[0] >= '0' && host[0] <= '9');
        FUZZ_CHECK(tls_checks_name_itself(t) == (ip && !sni), "host %s sni %s: %d", host,
                   sni ? sni : "-", tls_checks_name_itself(t));
    }
    tls_free(t);
    tls_free(t2);
    static const unsigned char ip4[4] = {127, 0, 0, 1};
    int r = tls_cert_has_ip_san(data + 1, size - 1, ip4, sizeof ip4);
    FUZZ_CHECK(r >= -1 && r <= 1, "SAN check %d", r);
    for (int i = 0; i < 3; i++)
        free(copy[i]);
    return 0;
}
