/* Where and how to reach the API server: loaded from a kubeconfig file (or a KUBECONFIG
 * list of them) or from the in-cluster service account. No TLS or HTTP happens here: the
 * result is plain data for the HTTP client.
 *
 * Ownership: every pointer in struct kube_config is owned by the struct and released by
 * kube_config_free(), which also wipes the secrets (token, key_pem). A struct handed to a
 * loader is overwritten; on failure it is left zeroed (nothing to free, freeing is safe).
 *
 * Supported kubeconfig fields:
 *   clusters[].cluster: server (https:// only), certificate-authority(-data),
 *     insecure-skip-tls-verify, tls-server-name
 *   users[].user: client-certificate(-data), client-key(-data), token, tokenFile
 *   contexts[].context: cluster, user, namespace;  current-context
 * X-data wins over X when both are set (as in client-go). Relative file paths resolve
 * against the directory of the kubeconfig file that defines the entry.
 * Refused with an error naming the feature and the entry: users[].user.exec,
 * auth-provider, username/password, impersonation (as, as-groups, as-uid,
 * as-user-extra), clusters[].cluster.proxy-url, http:// servers, YAML aliases. */
#ifndef OMJ_KUBE_CONFIG_H
#define OMJ_KUBE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

/* Largest kubeconfig file, and largest file it references (CA, certificate, key). */
#define KUBE_CONFIG_MAX_FILE_BYTES (1024 * 1024)
/* Largest token file (kube_config_reload_token and tokenFile). */
#define KUBE_CONFIG_MAX_TOKEN_BYTES (64 * 1024)
/* Deepest YAML nesting accepted in a kubeconfig. */
#define KUBE_CONFIG_MAX_DEPTH 32
/* The service account directory of a pod. */
#define KUBE_CONFIG_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

struct kube_config {
    /* "https://127.0.0.1:6443" as given, less trailing slashes (a path prefix is kept) */
    char *server;
    char *host;      /* "127.0.0.1", "kubernetes.example.com", IPv6 without brackets */
    int port;        /* 443 if the URL has none */
    bool host_is_ip; /* IPv4 or IPv6 literal */
    /* clusters[].cluster.tls-server-name, or NULL */
    char *tls_server_name;
    /* PEM bytes, NUL-terminated (not counted in _len), NULL if none; X-data or file X */
    unsigned char *ca_pem; /* certificate-authority(-data) / in-cluster ca.crt */
    size_t ca_pem_len;
    unsigned char *cert_pem; /* client-certificate(-data) */
    size_t cert_pem_len;
    unsigned char *key_pem; /* client-key(-data). SECRET */
    size_t key_pem_len;
    char *token;      /* bearer token, or NULL. SECRET: never log it */
    char *token_file; /* users[].user.tokenFile (resolved) or the in-cluster token path */
    bool insecure_skip_tls_verify; /* the caller logs a warning when set */
    char *namespace; /* context namespace / in-cluster namespace file / "default" */
    char *source;    /* "in-cluster" or the kubeconfig path (list) as given: for messages */
    char *context;   /* the context used (kubeconfig only), else NULL */
};

/* Loads a kubeconfig. `path` may be a colon-separated list (KUBECONFIG semantics: for each
 * cluster/user/context name the first file that defines it wins, current-context comes
 * from the first file that sets it; missing files in a list are skipped, but a single
 * missing file is an error). `context` NULL or "" selects current-context.
 * Returns 0, or -1 with a message in err naming the file and the field. */
int kube_config_load_kubeconfig(const char *path, const char *context, struct kube_config *out,
                                char *err, size_t errlen);

/* In-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT from the environment,
 * token, ca.crt and namespace (optional, else "default") from sa_dir (NULL =
 * KUBE_CONFIG_SA_DIR). The token is read now and its path kept in token_file for
 * rotation. An IPv6 host gives server "https://[h]:p". Returns 0 or -1 with err. */
int kube_config_load_in_cluster(const char *sa_dir, struct kube_config *out, char *err,
                                size_t errlen);

/* controller-runtime's order: `kubeconfig` when non-empty (the caller passes --kubeconfig
 * or $KUBECONFIG), else in-cluster when KUBERNETES_SERVICE_HOST is set, else
 * $HOME/.kube/config. `context` applies to kubeconfig files only. */
int kube_config_load(const char *kubeconfig, const char *context, struct kube_config *out,
                     char *err, size_t errlen);

/* Wipes the secrets, frees every field and zeroes *c. Safe on a zeroed struct. */
void kube_config_free(struct kube_config *c);

/* Re-reads token_file into token (rotation of bound service-account tokens): at most
 * KUBE_CONFIG_MAX_TOKEN_BYTES, surrounding whitespace trimmed (as client-go does); an empty
 * token or one with inner whitespace, control or non-ASCII bytes is rejected. Returns 0
 * when read (changed or not); -1 with err (token unchanged) when there is no token_file
 * or it cannot be used. */
int kube_config_reload_token(struct kube_config *c, char *err, size_t errlen);

#endif
