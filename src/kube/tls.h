/* TLS for the API client: trust anchors, client certificates and server-name checks on top
 * of libcurl's BearSSL backend.
 *
 * Two facts of libcurl 7.88.1 + BearSSL shape this module (see BUILDING.md):
 *  - CURLOPT_SSLCERT/SSLKEY are ignored: the client certificate is installed here, through
 *    CURLOPT_SSL_CTX_FUNCTION, which hands over BearSSL's client context;
 *  - BearSSL matches server names against DNS SANs only and curl refuses host verification
 *    of IP addresses: for an IP server this module installs its own X.509 engine that wraps
 *    BearSSL's validator and checks the leaf certificate's IP-address SANs itself.
 * Verification is never disabled here; insecure-skip-tls-verify is the caller's explicit
 * choice and bypasses this module. */
#ifndef OMJ_KUBE_TLS_H
#define OMJ_KUBE_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tls;

/* ca_pem: one or more PEM certificates (required). cert_pem/key_pem: optional client
 * certificate chain and its RSA or EC private key (PKCS#1, SEC1 or PKCS#8). host: the server
 * host as connected to (IP literal or DNS name); server_name: a name to verify instead of
 * host (kubeconfig tls-server-name), or NULL. Returns NULL with a message in err. */
struct tls *tls_new(const unsigned char *ca_pem, size_t ca_len, const unsigned char *cert_pem,
                    size_t cert_len, const unsigned char *key_pem, size_t key_len,
                    const char *host, const char *server_name, char *err, size_t errlen);
void tls_free(struct tls *t);

/* True when curl must be told CURLOPT_SSL_VERIFYHOST=0 because this module checks the
 * name itself (an IP address). Peer verification stays on either way. */
bool tls_checks_name_itself(const struct tls *t);

/* The CURLOPT_SSL_CTX_FUNCTION callback; pass the struct tls as CURLOPT_SSL_CTX_DATA.
 * Installs trust anchors, the name check and the client certificate. Returns a CURLcode. */
int tls_ssl_ctx_cb(void *curl, void *ssl_ctx, void *tls);

/* Exposed for tests: does the DER certificate carry this IP (4 or 16 bytes) in its SANs?
 * Returns 1 yes, 0 no, -1 malformed. */
int tls_cert_has_ip_san(const unsigned char *der, size_t len, const unsigned char *ip,
                        size_t iplen);

#endif
