/* kubeconfig files (kube/config.c kube_config_load_kubeconfig) and their base64 *-data
 * fields. The input is written as a kubeconfig in a private directory that also holds
 * certs/ca.crt, certs/client.crt, certs/client.key and token.txt (copies of the unit-test
 * fixtures), so relative references resolve.
 * Invariants: a refusal carries a message and leaves the struct zeroed; an accepted config
 * has an https:// server, a non-empty host, a port in 1-65535, a namespace and a source,
 * NUL-terminated PEM blobs whose lengths are right; the host of a bracketed IPv6 server has
 * no brackets; kube_config_free zeroes the struct. */
#include "fuzz.h"

#include "kube/config.h"

#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static int
is_zero(const void *p, size_t n)
{
    const unsigned char *u = p;
    for (size_t i = 0; i < n; i++)
        if (u[i]) return 0;
    return 1;
}

static void
copy_fixture(const char *from, const char *to)
{
    FILE *f = fopen(from, "rb");
    if (!f) return; /* replays from elsewhere: references just do not resolve */
    char buf[65536];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    fuzz_write_file(to, (const uint8_t *)buf, n);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char d[300];
    snprintf(d, sizeof d, "%s/certs", fuzz_tmpdir());
    mkdir(d, 0700);
    copy_fixture("tests/unit/data/kubeconfig/certs/ca.crt", "certs/ca.crt");
    copy_fixture("tests/unit/data/kubeconfig/certs/client.crt", "certs/client.crt");
    copy_fixture("tests/unit/data/kubeconfig/certs/client.key", "certs/client.key");
    copy_fixture("tests/unit/data/kubeconfig/token.txt", "token.txt");
    return 0;
}

static void
check_pem(const char *what, const unsigned char *p, size_t len)
{
    if (!p) {
        FUZZ_CHECK(len == 0, "%s NULL with length %zu", what, len);
        return;
    }
    FUZZ_CHECK(p[len] == '\0', "%s not NUL-terminated at its length %zu", what, len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_file("kubeconfig", data, size);
    char p[400];
    snprintf(p, sizeof p, "%s", path);
    struct kube_config c;
    memset(&c, 0x5a, sizeof c);
    char err[512];
    err[0] = '\0';
    /* every other run names a context: exercises the lookup by name */
    const char *context = size && (data[size - 1] & 1) ? "ctx" : NULL;
    if (kube_config_load_kubeconfig(p, context, &c, err, sizeof err) < 0) {
        FUZZ_CHECK(err[0] != '\0', "refused without a message");
        FUZZ_CHECK(strnlen(err, sizeof err) < sizeof err, "message not terminated");
        FUZZ_CHECK(is_zero(&c, sizeof c), "refused config not zeroed");
        kube_config_free(&c);
        return 0;
    }
    /* the scheme is case-insensitive (RFC 3986 3.1), as in client-go */
    FUZZ_CHECK(c.server && !strncasecmp(c.server, "https://", 8), "server %s",
               c.server ? c.server : "(null)");
    FUZZ_CHECK(c.host && c.host[0], "empty host");
    FUZZ_CHECK(!strchr(c.host, '[') && !strchr(c.host, ']'), "host %s", c.host);
    FUZZ_CHECK(c.port >= 1 && c.port <= 65535, "port %d", c.port);
    FUZZ_CHECK(c.namespace && c.namespace[0], "no namespace");
    FUZZ_CHECK(c.source != NULL, "no source");
    check_pem("ca", c.ca_pem, c.ca_pem_len);
    check_pem("cert", c.cert_pem, c.cert_pem_len);
    check_pem("key", c.key_pem, c.key_pem_len);
    if (c.token) FUZZ_CHECK(c.token[0] != '\0', "empty token");
    if (c.token_file) {
        char rerr[256];
        (void)kube_config_reload_token(&c, rerr, sizeof rerr);
        if (c.token) FUZZ_CHECK(c.token[0] != '\0', "empty token after reload");
    }
    kube_config_free(&c);
    FUZZ_CHECK(is_zero(&c, sizeof c), "freed config not zeroed");
    return 0;
}
