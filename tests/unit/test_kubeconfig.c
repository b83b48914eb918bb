#include "t.h"

#include "kube/config.h"
#include "util/base64.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------------------ */

static char *
data_path(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof rel, "kubeconfig/%s", name);
    return strdup(t_data(rel));
}

/* A fresh directory under the test temp dir. */
static const char *
sub_tmpdir(const char *name)
{
    static char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", t_tmpdir(), name);
    mkdir(dir, 0700);
    return dir;
}

static int
write_file(const char *dir, const char *name, const char *content)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(content, f);
    return fclose(f);
}

static int
load_fixture(const char *name, const char *context, struct kube_config *c, char *err, size_t errlen)
{
    char *path = data_path(name);
    int rc = kube_config_load_kubeconfig(path, context, c, err, errlen);
    free(path);
    return rc;
}

struct saved_env {
    const char *name;
    char *value;
};

static void
env_save(struct saved_env *s, const char *name)
{
    const char *v = getenv(name);
    s->name = name;
    s->value = v ? strdup(v) : NULL;
}

static void
env_restore(struct saved_env *s)
{
    if (s->value)
        setenv(s->name, s->value, 1);
    else
        unsetenv(s->name);
    free(s->value);
    s->value = NULL;
}

/* Expects a loader to succeed; shows its message otherwise. */
#define T_LOADS(call)                                                                              \
    do {                                                                                           \
        if ((call) != 0) {                                                                         \
            t_fail(__FILE__, __LINE__, "%s failed: %s", #call, err);                               \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define KIND_CA "-----BEGIN CERTIFICATE-----\nRkFLRS1LSU5ELUNB\n-----END CERTIFICATE-----\n"
#define KIND_CERT                                                                                  \
    "-----BEGIN CERTIFICATE-----\nRkFLRS1LSU5ELUNMSUVOVA==\n-----END CERTIFICATE-----\n"
#define KIND_KEY                                                                                   \
    "-----BEGIN EC PRIVATE KEY-----\nRkFLRS1LSU5ELUVDLUtFWQ==\n-----END EC PRIVATE KEY-----\n"
#define FILE_CA "-----BEGIN CERTIFICATE-----\nRkFLRS1GSUxFLUNB\n-----END CERTIFICATE-----\n"

/* ---- base64 ------------------------------------------------------------------------- */

TEST(base64_decodes_with_whitespace_and_padding)
{
    unsigned char out[64];
    size_t n;
    T_EQ_INT(base64_decode("aGVsbG8=", 8, out, sizeof out, &n), BASE64_OK);
    T_EQ_INT(n, 5);
    T_ASSERT(memcmp(out, "hello", 5) == 0);
    const char *wrapped = " aGVs\r\n bG8g\td29y\nbGQh\n";
    T_EQ_INT(base64_decode(wrapped, strlen(wrapped), out, sizeof out, &n), BASE64_OK);
    T_EQ_INT(n, 12);
    T_ASSERT(memcmp(out, "hello world!", 12) == 0);
    T_EQ_INT(base64_decode("YQ==", 4, out, sizeof out, &n), BASE64_OK);
    T_EQ_INT(n, 1);
    T_EQ_INT(base64_decode("", 0, out, sizeof out, &n), BASE64_OK);
    T_EQ_INT(n, 0);
    T_EQ_INT(base64_decode("+/+/", 4, out, sizeof out, &n), BASE64_OK);
    T_EQ_INT(n, 3);
    T_EQ_INT(out[0], 0xfb);
}

TEST(base64_rejects_bad_input)
{
    unsigned char out[64];
    size_t n = 99;
    T_EQ_INT(base64_decode("aGVsbG8", 7, out, sizeof out, &n), BASE64_INVALID); /* unpadded */
    T_EQ_INT(n, 0);
    T_EQ_INT(base64_decode("aGVs*G8=", 8, out, sizeof out, &n), BASE64_INVALID);
    T_EQ_INT(base64_decode("aG=sbG8=", 8, out, sizeof out, &n), BASE64_INVALID);
    T_EQ_INT(base64_decode("Y===", 4, out, sizeof out, &n), BASE64_INVALID);
    T_EQ_INT(base64_decode("YQ==YQ==", 8, out, sizeof out, &n), BASE64_INVALID);
    T_EQ_INT(base64_decode("YQ=a", 4, out, sizeof out, &n), BASE64_INVALID);
    T_EQ_INT(base64_decode("aGVsbG8-", 8, out, sizeof out, &n), BASE64_INVALID); /* url alphabet */
    T_EQ_INT(base64_decode("aGVsbG8=", 8, out, 4, &n), BASE64_TOO_BIG);
    int rc;
    T_ASSERT(base64_decode_alloc("aGVsbG8=", 8, 4, &n, &rc) == NULL);
    T_EQ_INT(rc, BASE64_TOO_BIG);
    unsigned char *p = base64_decode_alloc("aGVsbG8=", 8, 5, &n, &rc);
    T_ASSERT(p != NULL);
    T_EQ_STR((char *)p, "hello");
    free(p);
}

TEST(base64_encode_round_trips)
{
    char enc[64];
    unsigned char dec[64];
    size_t n;
    const char *cases[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *want[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = strlen(cases[i]);
        T_EQ_INT(base64_encoded_len(len), strlen(want[i]));
        T_EQ_INT(base64_encode((const unsigned char *)cases[i], len, enc, sizeof enc), BASE64_OK);
        T_EQ_STR(enc, want[i]);
        T_EQ_INT(base64_decode(enc, strlen(enc), dec, sizeof dec, &n), BASE64_OK);
        T_EQ_INT(n, len);
        T_ASSERT(memcmp(dec, cases[i], len) == 0);
    }
    T_EQ_INT(base64_encode((const unsigned char *)"foo", 3, enc, 4), BASE64_TOO_BIG);
}

/* ---- kubeconfig: supported fields --------------------------------------------------- */

TEST(kubeconfig_kind_style)
{
    struct kube_config c;
    char err[512];
    T_LOADS(load_fixture("kind.yaml", NULL, &c, err, sizeof err));
    T_EQ_STR(c.server, "https://127.0.0.1:41234");
    T_EQ_STR(c.host, "127.0.0.1");
    T_EQ_INT(c.port, 41234);
    T_ASSERT(c.host_is_ip);
    T_ASSERT(c.tls_server_name == NULL);
    T_EQ_STR((char *)c.ca_pem, KIND_CA);
    T_EQ_INT(c.ca_pem_len, strlen(KIND_CA));
    T_EQ_STR((char *)c.cert_pem, KIND_CERT);
    T_EQ_INT(c.cert_pem_len, strlen(KIND_CERT));
    T_EQ_STR((char *)c.key_pem, KIND_KEY);
    T_EQ_INT(c.key_pem_len, strlen(KIND_KEY));
    T_ASSERT(c.token == NULL && c.token_file == NULL);
    T_ASSERT(!c.insecure_skip_tls_verify);
    T_EQ_STR(c.namespace, "default");
    T_EQ_STR(c.context, "kind-kind");
    T_CONTAINS(c.source, "kubeconfig/kind.yaml");
    kube_config_free(&c);
    T_ASSERT(c.server == NULL && c.key_pem == NULL);
    kube_config_free(&c); /* a freed struct is zeroed: freeing again is harmless */
}

TEST(kubeconfig_files_resolve_against_the_kubeconfig_dir)
{
    struct kube_config c;
    char err[512];
    T_LOADS(load_fixture("fields.yaml", NULL, &c, err, sizeof err));
    T_EQ_STR(c.context, "files");
    T_EQ_STR(c.server, "https://kubernetes.example.com:8443");
    T_EQ_STR(c.host, "kubernetes.example.com");
    T_EQ_INT(c.port, 8443);
    T_ASSERT(!c.host_is_ip);
    T_EQ_STR(c.tls_server_name, "api.internal.example.com");
    T_EQ_STR((char *)c.ca_pem, FILE_CA);
    T_CONTAINS((char *)c.cert_pem, "RkFLRS1GSUxFLUNMSUVOVA==");
    T_CONTAINS((char *)c.key_pem, "BEGIN RSA PRIVATE KEY");
    T_EQ_STR(c.namespace, "team-a");
    T_ASSERT(c.token == NULL);
    kube_config_free(&c);
}

TEST(kubeconfig_token_ipv6_insecure)
{
    struct kube_config c;
    char err[512];
    T_LOADS(load_fixture("fields.yaml", "token", &c, err, sizeof err));
    T_EQ_STR(c.server, "https://[fd00::10]:6443");
    T_EQ_STR(c.host, "fd00::10");
    T_EQ_INT(c.port, 6443);
    T_ASSERT(c.host_is_ip);
    T_ASSERT(c.insecure_skip_tls_verify);
    T_ASSERT(c.ca_pem == NULL);
    T_EQ_STR(c.token, "inline-token-abc"); /* a folded block scalar */
    T_ASSERT(c.token_file == NULL);
    T_EQ_STR(c.namespace, "default");
    kube_config_free(&c);
}

TEST(kubeconfig_token_file_is_read_and_kept)
{
    struct kube_config c;
    char err[512];
    T_LOADS(load_fixture("fields.yaml", "tokenfile", &c, err, sizeof err));
    T_EQ_STR(c.token, "file-token-123"); /* trailing newlines trimmed */
    T_CONTAINS(c.token_file, "kubeconfig/token.txt");
    T_EQ_STR(c.namespace, "team-b");
    T_EQ_STR(c.server, "https://k8s.example.org");
    T_EQ_INT(c.port, 443);
    T_ASSERT(!c.insecure_skip_tls_verify);
    /* certificate-authority-data wrapped over lines in a literal block scalar wins over a
     * certificate-authority file that does not exist. */
    T_EQ_STR((char *)c.ca_pem, KIND_CA);
    kube_config_free(&c);

    T_LOADS(load_fixture("fields.yaml", "both-token", &c, err, sizeof err));
    T_EQ_STR(c.token, "inline-wins");
    T_CONTAINS(c.token_file, "kubeconfig/token.txt"); /* kept for re-reads, as client-go does */
    kube_config_free(&c);
}

TEST(kubeconfig_data_wins_over_file)
{
    struct kube_config c;
    char err[512];
    T_LOADS(load_fixture("fields.yaml", "data-wins", &c, err, sizeof err));
    T_EQ_STR((char *)c.cert_pem, KIND_CERT);
    T_EQ_STR((char *)c.key_pem, KIND_KEY);
    kube_config_free(&c);
}

TEST(kubeconfig_server_path_and_no_user)
{
    struct kube_config c;
    char err[512];
    T_LOADS(load_fixture("fields.yaml", "no-user", &c, err, sizeof err));
    T_EQ_STR(c.server, "https://10.0.0.1/k8s/clusters/c-abc");
    T_EQ_STR(c.host, "10.0.0.1");
    T_EQ_INT(c.port, 443);
    T_ASSERT(c.host_is_ip);
    T_ASSERT(c.token == NULL && c.cert_pem == NULL && c.key_pem == NULL && c.ca_pem == NULL);
    kube_config_free(&c);
}

TEST(kubeconfig_context_selection)
{
    struct kube_config c;
    char err[512];
    T_LOADS(load_fixture("kind.yaml", "kind-kind", &c, err, sizeof err));
    kube_config_free(&c);
    T_LOADS(load_fixture("kind.yaml", "", &c, err, sizeof err)); /* "" = current */
    T_EQ_STR(c.context, "kind-kind");
    kube_config_free(&c);
    T_EQ_INT(load_fixture("kind.yaml", "kind-other", &c, err, sizeof err), -1);
    T_CONTAINS(err, "context \"kind-other\" not found");
    T_CONTAINS(err, "kind.yaml");
    T_ASSERT(c.server == NULL); /* left zeroed on failure */

    T_EQ_INT(load_fixture("no-current-context.yaml", NULL, &c, err, sizeof err), -1);
    T_CONTAINS(err, "no-current-context.yaml");
    T_CONTAINS(err, "current-context is not set");
    T_LOADS(load_fixture("no-current-context.yaml", "only", &c, err, sizeof err));
    T_EQ_STR(c.namespace, "picked");
    T_EQ_STR(c.context, "only");
    kube_config_free(&c);
}

TEST(kubeconfig_list_merges_first_wins)
{
    struct kube_config c;
    char err[512], list[2048];
    char *p1 = data_path("merge-1.yaml"), *p2 = data_path("other/merge-2.yaml");
    char *missing = data_path("no-such-file.yaml");
    snprintf(list, sizeof list, "%s::%s:%s", p1, missing, p2);
    int rc = kube_config_load_kubeconfig(list, NULL, &c, err, sizeof err);
    T_EQ_INT(rc, 0);
    T_EQ_STR(c.context, "merged"); /* first file's current-context */
    T_EQ_STR(c.namespace, "from-first");
    T_EQ_STR(c.server, "https://first.example.com:6443");
    T_ASSERT(c.insecure_skip_tls_verify);
    T_EQ_STR(c.token, "other-dir-token"); /* user from the second file, its own dir */
    T_CONTAINS(c.token_file, "kubeconfig/other/token.txt");
    T_EQ_STR(c.source, list);
    kube_config_free(&c);

    T_LOADS(kube_config_load_kubeconfig(list, "second-context", &c, err, sizeof err));
    T_EQ_STR(c.server, "https://second-cluster.example.com");
    T_EQ_STR((char *)c.ca_pem, FILE_CA); /* ../certs/ca.crt from other/ */
    kube_config_free(&c);

    /* A single explicit missing file is an error; a list with none existing too. */
    T_EQ_INT(kube_config_load_kubeconfig(missing, NULL, &c, err, sizeof err), -1);
    T_CONTAINS(err, "no-such-file.yaml");
    T_CONTAINS(err, "No such file");
    snprintf(list, sizeof list, "%s:%s.2", missing, missing);
    T_EQ_INT(kube_config_load_kubeconfig(list, NULL, &c, err, sizeof err), -1);
    T_CONTAINS(err, "none of the listed files exists");
    free(p1);
    free(p2);
    free(missing);
}

TEST(kubeconfig_absolute_paths_and_quoted_styles)
{
    const char *dir = sub_tmpdir("abs");
    char yaml[2048], path[600], err[512];
    T_EQ_INT(write_file(dir, "ca.pem", FILE_CA), 0);
    T_EQ_INT(write_file(dir, "tok", "  abs-token \t\r\n"), 0);
    snprintf(yaml, sizeof yaml,
             "current-context: \"q\"\n"
             "contexts: [{name: q, context: {cluster: 'c', user: \"u\", namespace: ~}}]\n"
             "clusters:\n- name: c\n  cluster:\n    server: \"HTTPS://API.Example.com:443/\"\n"
             "    certificate-authority: %s/ca.pem\n"
             "users:\n- name: u\n  user:\n    tokenFile: \"%s/tok\"\n"
             "---\ncurrent-context: second-document-ignored\n",
             dir, dir);
    T_EQ_INT(write_file(dir, "config", yaml), 0);
    snprintf(path, sizeof path, "%s/config", dir);
    struct kube_config c;
    T_LOADS(kube_config_load_kubeconfig(path, NULL, &c, err, sizeof err));
    T_EQ_STR(c.server, "HTTPS://API.Example.com:443");
    T_EQ_STR(c.host, "API.Example.com");
    T_EQ_INT(c.port, 443);
    T_EQ_STR((char *)c.ca_pem, FILE_CA);
    T_EQ_STR(c.namespace, "default"); /* namespace: ~ is null */
    T_EQ_STR(c.token, "abs-token");   /* surrounding whitespace trimmed */
    kube_config_free(&c);
}

/* ---- kubeconfig: errors name the file and the field --------------------------------- */

TEST(kubeconfig_bad_entries_name_the_field)
{
    static const struct {
        const char *context, *want1, *want2;
    } cases[] = {
        {"no-server", "cluster \"no-server\"", "server is not set"},
        {"bad-url", "cluster \"bad-url\": server \"https://exa mple.com:6443\"", "whitespace"},
        {"bad-port", "server \"https://example.com:99999\"", "bad port"},
        {"http", "cluster \"http\"", "http:// is not supported"},
        {"bad-ca-data", "cluster \"bad-ca-data\"",
         "certificate-authority-data is not valid base64"},
        {"ca-missing", "certificate-authority ", "certs/nope.crt: cannot open: No such file"},
        {"proxy", "proxy-url is not supported (cluster \"proxy\" of context \"proxy\")",
         "directly"},
        {"bad-bool", "cluster \"bad-bool\"", "insecure-skip-tls-verify must be true or false"},
        {"server-list", "cluster \"server-list\"", "server must be a string, not a list (line 45)"},
        {"insecure-with-ca", "cluster \"insecure-with-ca\"",
         "insecure-skip-tls-verify and certificate-authority(-data) cannot both be set"},
        {"key-no-cert", "user \"key-no-cert\"",
         "client-key(-data) is set without client-certificate(-data)"},
        {"bad-namespace", "context \"bad-namespace\"",
         "namespace \"Team_A\" is not a valid namespace name"},
        {"exec",
         "exec credential plugins are not supported (user \"exec-user\" of context \"exec\"): use "
         "a token, tokenFile or client certificate",
         "errors.yaml"},
        {"auth-provider", "auth-provider plugins are not supported (user \"auth-provider-user\"",
         "use a token"},
        {"basic", "basic authentication (username/password) is not supported (user \"basic-user\"",
         "use a token"},
        {"bad-key-data", "user \"bad-key-data\"", "client-key-data is not valid base64"},
        {"cert-no-key", "user \"cert-no-key\"",
         "client-certificate(-data) is set without client-key"},
        {"tokenfile-missing", "user \"tokenfile-missing\": tokenFile ",
         "no-such-token: cannot open"},
        {"impersonate", "impersonation (as) is not supported (user \"impersonate\"", "use a token"},
        {"missing-cluster", "cluster \"nowhere\" (of context \"missing-cluster\") not found",
         "errors.yaml"},
        {"missing-user", "user \"nobody\" (of context \"missing-user\") not found", "errors.yaml"},
        {"no-cluster-field", "context \"no-cluster-field\"", "cluster is not set"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct kube_config c;
        char err[512] = "";
        T_EQ_INT(load_fixture("errors.yaml", cases[i].context, &c, err, sizeof err), -1);
        T_CONTAINS(err, "kubeconfig ");
        T_CONTAINS(err, "kubeconfig/errors.yaml");
        T_CONTAINS(err, cases[i].want1);
        T_CONTAINS(err, cases[i].want2);
        T_ASSERT(strstr(err, "hunter2") == NULL);
        T_ASSERT(c.server == NULL && c.token == NULL); /* left zeroed */
    }
}

TEST(kubeconfig_not_yaml_gives_line_and_column)
{
    struct kube_config c;
    char err[512];
    T_EQ_INT(load_fixture("not-yaml.yaml", NULL, &c, err, sizeof err), -1);
    T_CONTAINS(err, "kubeconfig/not-yaml.yaml: not valid YAML: ");
    T_CONTAINS(err, "line 5, column 1");
    T_EQ_INT(load_fixture("scalar.yaml", NULL, &c, err, sizeof err), -1);
    T_CONTAINS(err, "scalar.yaml: not a kubeconfig: the top level is a scalar, not a mapping");
    T_EQ_INT(load_fixture("empty.yaml", NULL, &c, err, sizeof err), -1);
    T_CONTAINS(err, "empty.yaml: current-context is not set");
}

TEST(kubeconfig_refuses_aliases)
{
    struct kube_config c;
    char err[512];
    T_EQ_INT(load_fixture("alias.yaml", NULL, &c, err, sizeof err), -1);
    T_CONTAINS(err, "alias.yaml: YAML aliases (*a) are not supported, at line 3, column 8");
}

TEST(kubeconfig_bounds_depth_and_size)
{
    const char *dir = sub_tmpdir("bounds");
    char path[600], err[512];
    struct kube_config c;
    /* 10,000 nested flow sequences: refused at the depth bound, no recursion. */
    size_t depth = 10000;
    char *deep = malloc(2 * depth + 32);
    T_ASSERT(deep != NULL);
    strcpy(deep, "a: ");
    memset(deep + 3, '[', depth);
    memset(deep + 3 + depth, ']', depth);
    deep[3 + 2 * depth] = '\0';
    int rc = write_file(dir, "deep.yaml", deep);
    free(deep);
    T_EQ_INT(rc, 0);
    snprintf(path, sizeof path, "%s/deep.yaml", dir);
    T_EQ_INT(kube_config_load_kubeconfig(path, NULL, &c, err, sizeof err), -1);
    T_CONTAINS(err, "deep.yaml: YAML nested deeper than 32 levels at line 1");

    /* Just over 1 MiB of comments: refused before parsing. */
    size_t big_len = KUBE_CONFIG_MAX_FILE_BYTES + 1;
    char *big = malloc(big_len + 1);
    T_ASSERT(big != NULL);
    memset(big, '#', big_len);
    big[big_len] = '\0';
    rc = write_file(dir, "big.yaml", big);
    free(big);
    T_EQ_INT(rc, 0);
    snprintf(path, sizeof path, "%s/big.yaml", dir);
    T_EQ_INT(kube_config_load_kubeconfig(path, NULL, &c, err, sizeof err), -1);
    T_CONTAINS(err, "big.yaml: larger than 1048576 bytes");
}

TEST(kubeconfig_wrong_types_name_the_field)
{
    const char *dir = sub_tmpdir("types");
    char path[600], err[512];
    struct kube_config c;
    T_EQ_INT(write_file(dir, "a.yaml", "current-context: x\ncontexts: {x: y}\n"), 0);
    snprintf(path, sizeof path, "%s/a.yaml", dir);
    T_EQ_INT(kube_config_load_kubeconfig(path, NULL, &c, err, sizeof err), -1);
    T_CONTAINS(err, "a.yaml: contexts must be a list, not a mapping (line 2)");
    T_EQ_INT(write_file(dir, "b.yaml", "current-context: x\ncontexts: [{name: x, context: [1]}]\n"),
             0);
    snprintf(path, sizeof path, "%s/b.yaml", dir);
    T_EQ_INT(kube_config_load_kubeconfig(path, NULL, &c, err, sizeof err), -1);
    T_CONTAINS(err, "b.yaml: context \"x\": context must be a mapping, not a list");
    T_EQ_INT(write_file(dir, "c.yaml", "current-context: [x]\n"), 0);
    snprintf(path, sizeof path, "%s/c.yaml", dir);
    T_EQ_INT(kube_config_load_kubeconfig(path, NULL, &c, err, sizeof err), -1);
    T_CONTAINS(err, "c.yaml: current-context must be a string");
    T_EQ_INT(write_file(dir, "d.yaml",
                        "current-context: x\nclusters: [{name: c, cluster: {server: "
                        "https://h}}]\ncontexts: [{name: x, context: {cluster: c, "
                        "user: u}}]\nusers: [{name: u, user: {token: \"a b\"}}]\n"),
             0);
    snprintf(path, sizeof path, "%s/d.yaml", dir);
    T_EQ_INT(kube_config_load_kubeconfig(path, NULL, &c, err, sizeof err), -1);
    T_CONTAINS(err, "user \"u\": token contains whitespace");
    T_ASSERT(strstr(err, "a b") == NULL); /* never echo a token */
}

/* ---- in-cluster --------------------------------------------------------------------- */

static void
in_cluster_checks(const char *dir)
{
    struct kube_config c;
    char err[512];
    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    T_LOADS(kube_config_load_in_cluster(dir, &c, err, sizeof err));
    T_EQ_STR(c.server, "https://10.96.0.1:443");
    T_EQ_STR(c.host, "10.96.0.1");
    T_EQ_INT(c.port, 443);
    T_ASSERT(c.host_is_ip);
    T_EQ_STR(c.token, "sa-token-1");
    T_CONTAINS(c.token_file, "/incluster/token");
    T_EQ_STR((char *)c.ca_pem, FILE_CA);
    T_EQ_STR(c.namespace, "omjob-system");
    T_EQ_STR(c.source, "in-cluster");
    T_ASSERT(c.context == NULL && !c.insecure_skip_tls_verify);
    kube_config_free(&c);

    /* kube_config_load: no kubeconfig + KUBERNETES_SERVICE_HOST = in-cluster (default
     * sa_dir, absent here), so the error names the default token path. */
    T_EQ_INT(kube_config_load(NULL, NULL, &c, err, sizeof err), -1);
    T_CONTAINS(err, "in-cluster config: service account token " KUBE_CONFIG_SA_DIR "/token");

    setenv("KUBERNETES_SERVICE_HOST", "fd00:10:96::1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
    T_EQ_INT(write_file(dir, "namespace", ""), 0);
    T_LOADS(kube_config_load_in_cluster(dir, &c, err, sizeof err));
    T_EQ_STR(c.server, "https://[fd00:10:96::1]:6443");
    T_EQ_STR(c.host, "fd00:10:96::1");
    T_EQ_INT(c.port, 6443);
    T_ASSERT(c.host_is_ip);
    T_EQ_STR(c.namespace, "default");
    kube_config_free(&c);

    T_EQ_INT(write_file(dir, "namespace", "../../etc\n"), 0);
    T_EQ_INT(kube_config_load_in_cluster(dir, &c, err, sizeof err), -1);
    T_CONTAINS(err, "/incluster/namespace: \"../../etc\" is not a valid namespace name");

    setenv("KUBERNETES_SERVICE_PORT", "https", 1);
    T_EQ_INT(kube_config_load_in_cluster(dir, &c, err, sizeof err), -1);
    T_CONTAINS(err, "bad port \"https\"");
    unsetenv("KUBERNETES_SERVICE_PORT");
    T_EQ_INT(kube_config_load_in_cluster(dir, &c, err, sizeof err), -1);
    T_CONTAINS(err, "KUBERNETES_SERVICE_PORT is not set");
    unsetenv("KUBERNETES_SERVICE_HOST");
    T_EQ_INT(kube_config_load_in_cluster(dir, &c, err, sizeof err), -1);
    T_CONTAINS(err, "KUBERNETES_SERVICE_HOST is not set");

    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    char path[600];
    snprintf(path, sizeof path, "%s/ca.crt", dir);
    T_EQ_INT(unlink(path), 0);
    T_EQ_INT(kube_config_load_in_cluster(dir, &c, err, sizeof err), -1);
    T_CONTAINS(err, "in-cluster config: CA certificate ");
    T_CONTAINS(err, "/incluster/ca.crt: cannot open");
    snprintf(path, sizeof path, "%s/token", dir);
    T_EQ_INT(unlink(path), 0);
    T_EQ_INT(kube_config_load_in_cluster(dir, &c, err, sizeof err), -1);
    T_CONTAINS(err, "/incluster/token: cannot open");
}

TEST(in_cluster_from_env_and_service_account_dir)
{
    const char *dir = sub_tmpdir("incluster");
    T_EQ_INT(write_file(dir, "token", "sa-token-1\n"), 0);
    T_EQ_INT(write_file(dir, "ca.crt", FILE_CA), 0);
    T_EQ_INT(write_file(dir, "namespace", "omjob-system\n"), 0);
    struct saved_env host, port;
    env_save(&host, "KUBERNETES_SERVICE_HOST");
    env_save(&port, "KUBERNETES_SERVICE_PORT");
    in_cluster_checks(dir);
    env_restore(&host);
    env_restore(&port);
}

/* ---- load order and token rotation -------------------------------------------------- */

static void
load_order_checks(const char *dir)
{
    struct kube_config c;
    char err[512], kind[600];
    unsetenv("KUBERNETES_SERVICE_HOST");
    setenv("HOME", dir, 1);
    T_EQ_INT(kube_config_load(NULL, NULL, &c, err, sizeof err), -1);
    T_CONTAINS(err, "/.kube/config does not exist");

    char kube_dir[600];
    snprintf(kube_dir, sizeof kube_dir, "%s/.kube", dir);
    T_EQ_INT(mkdir(kube_dir, 0700), 0);
    T_EQ_INT(write_file(kube_dir, "config",
                        "current-context: home\ncontexts: [{name: home, context: {cluster: h}}]\n"
                        "clusters: [{name: h, cluster: {server: 'https://home.example:1'}}]\n"),
             0);
    T_LOADS(kube_config_load(NULL, NULL, &c, err, sizeof err));
    T_EQ_STR(c.server, "https://home.example:1");
    T_CONTAINS(c.source, "/.kube/config");
    kube_config_free(&c);

    /* An explicit kubeconfig wins over everything, in-cluster included. */
    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    char *p = data_path("kind.yaml");
    snprintf(kind, sizeof kind, "%s", p);
    free(p);
    T_LOADS(kube_config_load(kind, "kind-kind", &c, err, sizeof err));
    T_EQ_STR(c.server, "https://127.0.0.1:41234");
    kube_config_free(&c);

    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("HOME");
    T_EQ_INT(kube_config_load("", NULL, &c, err, sizeof err), -1);
    T_CONTAINS(err, "neither is HOME");
}

TEST(kube_config_load_order)
{
    const char *dir = sub_tmpdir("home");
    struct saved_env host, home;
    env_save(&host, "KUBERNETES_SERVICE_HOST");
    env_save(&home, "HOME");
    load_order_checks(dir);
    env_restore(&host);
    env_restore(&home);
}

TEST(kube_config_reload_token_after_rotation)
{
    const char *dir = sub_tmpdir("rotate");
    char yaml[1024], path[600], err[512];
    T_EQ_INT(write_file(dir, "token", "first-token\n"), 0);
    snprintf(yaml, sizeof yaml,
             "current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
             "clusters: [{name: c, cluster: {server: 'https://h:6443'}}]\n"
             "users: [{name: u, user: {tokenFile: token}}]\n");
    T_EQ_INT(write_file(dir, "config", yaml), 0);
    snprintf(path, sizeof path, "%s/config", dir);
    struct kube_config c;
    T_LOADS(kube_config_load_kubeconfig(path, NULL, &c, err, sizeof err));
    T_EQ_STR(c.token, "first-token");

    T_LOADS(kube_config_reload_token(&c, err, sizeof err)); /* unchanged is fine */
    T_EQ_STR(c.token, "first-token");
    T_EQ_INT(write_file(dir, "token", "second-token"), 0);
    T_LOADS(kube_config_reload_token(&c, err, sizeof err));
    T_EQ_STR(c.token, "second-token");

    /* Bad rotations keep the previous token. */
    T_EQ_INT(write_file(dir, "token", " \n"), 0);
    T_EQ_INT(kube_config_reload_token(&c, err, sizeof err), -1);
    T_CONTAINS(err, "/rotate/token: is empty");
    T_EQ_INT(write_file(dir, "token", "bad\r\ntoken"), 0);
    T_EQ_INT(kube_config_reload_token(&c, err, sizeof err), -1);
    T_CONTAINS(err, "control");
    T_ASSERT(strstr(err, "bad") == NULL);
    char *huge = malloc(KUBE_CONFIG_MAX_TOKEN_BYTES + 2);
    T_ASSERT(huge != NULL);
    memset(huge, 'x', KUBE_CONFIG_MAX_TOKEN_BYTES + 1);
    huge[KUBE_CONFIG_MAX_TOKEN_BYTES + 1] = '\0';
    int rc = write_file(dir, "token", huge);
    free(huge);
    T_EQ_INT(rc, 0);
    T_EQ_INT(kube_config_reload_token(&c, err, sizeof err), -1);
    T_CONTAINS(err, "larger than 65536 bytes");
    snprintf(path, sizeof path, "%s/token", dir);
    T_EQ_INT(unlink(path), 0);
    T_EQ_INT(kube_config_reload_token(&c, err, sizeof err), -1);
    T_CONTAINS(err, "cannot open: No such file");
    T_EQ_STR(c.token, "second-token");
    kube_config_free(&c);

    T_EQ_INT(kube_config_reload_token(&c, err, sizeof err), -1); /* no token_file */
    T_CONTAINS(err, "no token file");
}
