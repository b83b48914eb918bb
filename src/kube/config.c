#include "kube/config.h"

#include "util/base64.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

/* Files in one KUBECONFIG list, and YAML nodes in one file (far above any real one). */
#define KC_MAX_FILES 64
#define KC_MAX_NODES 100000
#define KC_WHY_MAX 512

/* ---- small helpers ------------------------------------------------------------------ */

static void
wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;
    while (n--)
        *v++ = 0;
}

static void
wipe_free(void *p, size_t n)
{
    if (p)
        wipe(p, n);
    free(p);
}

static void
wipe_free_str(char *s)
{
    if (s)
        wipe_free(s, strlen(s));
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (errlen)
        vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static char *
dup_str(const char *s, char *err, size_t errlen)
{
    char *d = strdup(s);
    if (!d)
        fail(err, errlen, "out of memory");
    return d;
}

/* "dir/name", or `name` itself when it is absolute or dir is NULL. */
static char *
path_resolve(const char *dir, const char *name)
{
    if (name[0] == '/' || !dir)
        return strdup(name);
    size_t len = strlen(dir) + 1 + strlen(name) + 1;
    char *p = malloc(len);
    if (p)
        snprintf(p, len, "%s/%s", dir, name);
    return p;
}

/* The directory part of path ("." when there is none). */
static char *
path_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* Reads up to cap bytes from fd; returns the count, or -1 with errno. */
static ssize_t
read_full(int fd, unsigned char *buf, size_t cap)
{
    size_t got = 0;
    while (got < cap) {
        ssize_t n = read(fd, buf + got, cap - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/* Reads the regular file on fd (at most max_bytes) into a NUL-terminated allocation. */
static int
read_fd_bounded(int fd, size_t max_bytes, unsigned char **data, size_t *len, char *why,
                size_t whylen)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return fail(why, whylen, "cannot stat: %s", strerror(errno));
    if (!S_ISREG(st.st_mode))
        return fail(why, whylen, "not a regular file");
    if (st.st_size < 0 || (uintmax_t)st.st_size > max_bytes)
        return fail(why, whylen, "larger than %zu bytes", max_bytes);
    size_t size = (size_t)st.st_size;
    /* One byte more than expected detects a file growing under us, plus the NUL. */
    unsigned char *buf = malloc(size + 2);
    if (!buf)
        return fail(why, whylen, "out of memory");
    ssize_t got = read_full(fd, buf, size + 1);
    if (got < 0 || (size_t)got > size) {
        int saved = errno;
        wipe_free(buf, size + 2);
        if (got < 0)
            return fail(why, whylen, "read failed: %s", strerror(saved));
        return fail(why, whylen, "changed while being read");
    }
    buf[got] = '\0';
    *data = buf;
    *len = (size_t)got;
    return 0;
}

/* Reads a regular file of at most max_bytes into a NUL-terminated allocation. On failure
 * returns -1 with the reason (without the path) in why. The caller wipes secrets. */
static int
read_file_bounded(const char *path, size_t max_bytes, unsigned char **data, size_t *len, char *why,
                  size_t whylen)
{
    *data = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(why, whylen, "cannot open: %s", strerror(errno));
    int rc = read_fd_bounded(fd, max_bytes, data, len, why, whylen);
    close(fd);
    return rc;
}

/* A bearer token goes into an HTTP header: only visible ASCII is acceptable. */
static int
token_is_valid(const char *t, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)t[i] < 0x21 || (unsigned char)t[i] > 0x7e)
            return 0;
    return 1;
}

static bool
is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* A namespace name goes into URL paths: an RFC 1123 label, as Kubernetes requires. */
static bool
namespace_is_valid(const char *ns)
{
    size_t len = strlen(ns);
    if (len == 0 || len > 63 || ns[0] == '-' || ns[len - 1] == '-')
        return false;
    for (size_t i = 0; i < len; i++)
        if (!(ns[i] >= 'a' && ns[i] <= 'z') && !(ns[i] >= '0' && ns[i] <= '9') && ns[i] != '-')
            return false;
    return true;
}

/* Reads a token file: bounded, surrounding whitespace trimmed, validated. */
static int
read_token_file(const char *path, char **token, char *why, size_t whylen)
{
    unsigned char *data;
    size_t len;
    if (read_file_bounded(path, KUBE_CONFIG_MAX_TOKEN_BYTES, &data, &len, why, whylen) != 0)
        return -1;
    /* Surrounding whitespace is trimmed, as client-go's strings.TrimSpace does. */
    size_t size = len, lead = 0;
    while (len > 0 && is_space(data[len - 1]))
        data[--len] = '\0';
    while (lead < len && is_space(data[lead]))
        lead++;
    memmove(data, data + lead, len - lead + 1);
    wipe(data + len - lead + 1, lead);
    len -= lead;
    if (len == 0) {
        wipe_free(data, size);
        return fail(why, whylen, "is empty");
    }
    if (!token_is_valid((const char *)data, len)) {
        wipe_free(data, size);
        return fail(why, whylen, "contains whitespace, control or non-ASCII characters");
    }
    *token = (char *)data;
    return 0;
}

/* ---- a small YAML tree built from libyaml events ------------------------------------ */

enum ynode_kind { YN_SCALAR, YN_MAP, YN_SEQ };

struct ynode {
    enum ynode_kind kind;
    bool plain;           /* a plain (unquoted) scalar: may be null or a bool */
    char *text;           /* scalar value, NUL-terminated */
    size_t len;           /* scalar length (may differ from strlen with "\0" escapes) */
    struct ynode **items; /* map: key, value, key, value...; sequence: elements */
    size_t n, cap;
    size_t line, col; /* 1-based */
};

struct ytree_builder {
    struct ynode *root;
    struct ynode *stack[KUBE_CONFIG_MAX_DEPTH];
    size_t depth;
    size_t nodes;
};

static void
ynode_free(struct ynode *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++)
        ynode_free(n->items[i]);
    free(n->items);
    wipe_free(n->text, n->len); /* scalars may be tokens or keys */
    free(n);
}

static struct ynode *
ynode_new(enum ynode_kind kind, const yaml_mark_t *mark)
{
    struct ynode *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->kind = kind;
    n->line = mark->line + 1;
    n->col = mark->column + 1;
    return n;
}

/* Attaches n to the open collection (or makes it the root); takes n in all cases. */
static int
ytree_attach(struct ytree_builder *b, struct ynode *n, char *why, size_t whylen)
{
    if (b->depth == 0) {
        ynode_free(b->root);
        b->root = n;
        return 0;
    }
    struct ynode *parent = b->stack[b->depth - 1];
    if (parent->n == parent->cap) {
        size_t ncap = parent->cap ? parent->cap * 2 : 4;
        struct ynode **items = realloc(parent->items, ncap * sizeof *items);
        if (!items) {
            ynode_free(n);
            return fail(why, whylen, "out of memory");
        }
        parent->items = items;
        parent->cap = ncap;
    }
    parent->items[parent->n++] = n;
    return 0;
}

static int
ytree_scalar(struct ytree_builder *b, const yaml_event_t *ev, char *why, size_t whylen)
{
    struct ynode *n = ynode_new(YN_SCALAR, &ev->start_mark);
    if (!n)
        return fail(why, whylen, "out of memory");
    n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    n->len = ev->data.scalar.length;
    n->text = malloc(n->len + 1);
    if (!n->text) {
        free(n);
        return fail(why, whylen, "out of memory");
    }
    memcpy(n->text, ev->data.scalar.value, n->len);
    n->text[n->len] = '\0';
    return ytree_attach(b, n, why, whylen);
}

static int
ytree_open(struct ytree_builder *b, enum ynode_kind kind, const yaml_event_t *ev, char *why,
           size_t whylen)
{
    if (b->depth == KUBE_CONFIG_MAX_DEPTH)
        return fail(why, whylen, "YAML nested deeper than %d levels at line %zu, column %zu",
                    KUBE_CONFIG_MAX_DEPTH, ev->start_mark.line + 1, ev->start_mark.column + 1);
    struct ynode *n = ynode_new(kind, &ev->start_mark);
    if (!n)
        return fail(why, whylen, "out of memory");
    if (ytree_attach(b, n, why, whylen) != 0)
        return -1;
    b->stack[b->depth++] = n;
    return 0;
}

/* Handles one event: 1 when the first document is complete, 0 to go on, -1 on error. */
static int
ytree_event(struct ytree_builder *b, const yaml_event_t *ev, char *why, size_t whylen)
{
    if (++b->nodes > KC_MAX_NODES)
        return fail(why, whylen, "more than %d YAML nodes", KC_MAX_NODES);
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        return ytree_scalar(b, ev, why, whylen);
    case YAML_MAPPING_START_EVENT:
        return ytree_open(b, YN_MAP, ev, why, whylen);
    case YAML_SEQUENCE_START_EVENT:
        return ytree_open(b, YN_SEQ, ev, why, whylen);
    case YAML_MAPPING_END_EVENT:
    case YAML_SEQUENCE_END_EVENT:
        if (b->depth > 0)
            b->depth--;
        return 0;
    case YAML_ALIAS_EVENT:
        /* Refused rather than expanded: no "billion laughs". */
        return fail(why, whylen, "YAML aliases (*%s) are not supported, at line %zu, column %zu",
                    (const char *)ev->data.alias.anchor, ev->start_mark.line + 1,
                    ev->start_mark.column + 1);
    case YAML_DOCUMENT_END_EVENT:
    case YAML_STREAM_END_EVENT:
        return 1;
    default:
        return 0;
    }
}

static int
yaml_syntax_error(const yaml_parser_t *p, char *why, size_t whylen)
{
    const char *problem = p->problem ? p->problem : "syntax error";
    if (p->error == YAML_READER_ERROR)
        return fail(why, whylen, "not valid YAML: %s at byte %zu", problem, p->problem_offset);
    if (p->context)
        return fail(why, whylen, "not valid YAML: %s at line %zu, column %zu (%s at line %zu)",
                    problem, p->problem_mark.line + 1, p->problem_mark.column + 1, p->context,
                    p->context_mark.line + 1);
    return fail(why, whylen, "not valid YAML: %s at line %zu, column %zu", problem,
                p->problem_mark.line + 1, p->problem_mark.column + 1);
}

/* Parses the first document of data into a tree (NULL *root for an empty document). */
static int
ytree_parse(const unsigned char *data, size_t len, struct ynode **root, char *why, size_t whylen)
{
    struct ytree_builder b = {0};
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return fail(why, whylen, "out of memory");
    yaml_parser_set_input_string(&parser, data, len);
    int rc = 0;
    while (rc == 0) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = yaml_syntax_error(&parser, why, whylen);
            break;
        }
        rc = ytree_event(&b, &ev, why, whylen);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    if (rc < 0) {
        ynode_free(b.root);
        return -1;
    }
    *root = b.root;
    return 0;
}

/* The value of `key` in a mapping, or NULL. */
static const struct ynode *
ymap_get(const struct ynode *map, const char *key)
{
    if (!map || map->kind != YN_MAP)
        return NULL;
    for (size_t i = 0; i + 1 < map->n; i += 2) {
        const struct ynode *k = map->items[i];
        if (k->kind == YN_SCALAR && strcmp(k->text, key) == 0)
            return map->items[i + 1];
    }
    return NULL;
}

/* null, ~, an empty plain scalar, or an empty string: all mean "not set" (as in Go). */
static bool
ynode_is_unset(const struct ynode *n)
{
    if (!n)
        return true;
    if (n->kind != YN_SCALAR)
        return false;
    if (n->len == 0)
        return true;
    return n->plain && (strcmp(n->text, "~") == 0 || strcmp(n->text, "null") == 0 ||
                        strcmp(n->text, "Null") == 0 || strcmp(n->text, "NULL") == 0);
}

static const char *
ynode_kind_name(const struct ynode *n)
{
    return n->kind == YN_MAP ? "a mapping" : n->kind == YN_SEQ ? "a list" : "a scalar";
}

/* ---- server URLs -------------------------------------------------------------------- */

static bool
hostname_is_valid(const char *h, size_t len)
{
    if (len == 0 || len > 253)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)h[i];
        if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9') &&
            c != '-' && c != '.' && c != '_')
            return false;
    }
    return true;
}

static int
parse_port(const char *s, size_t len, int *port)
{
    if (len == 0 || len > 5)
        return -1;
    int v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < 1 || v > 65535)
        return -1;
    *port = v;
    return 0;
}

/* Splits "host[:port]" or "[v6][:port]" into c->host, c->port, c->host_is_ip. */
static int
parse_authority(const char *a, size_t len, struct kube_config *c, char *why, size_t whylen)
{
    const char *host = a, *port = NULL;
    size_t hlen = len, plen = 0;
    if (len > 0 && a[0] == '[') {
        const char *close = memchr(a, ']', len);
        if (!close)
            return fail(why, whylen, "unterminated [IPv6] address");
        host = a + 1;
        hlen = (size_t)(close - host);
        const char *rest = close + 1;
        if (rest < a + len && *rest != ':')
            return fail(why, whylen, "unexpected characters after ]");
        if (rest < a + len) {
            port = rest + 1;
            plen = (size_t)(a + len - port);
        }
    } else {
        const char *colon = memchr(a, ':', len);
        if (colon && memchr(colon + 1, ':', (size_t)(a + len - colon - 1)))
            return fail(why, whylen, "an IPv6 address must be in brackets");
        if (colon) {
            hlen = (size_t)(colon - a);
            port = colon + 1;
            plen = (size_t)(a + len - port);
        }
    }
    c->port = 443;
    if (port && parse_port(port, plen, &c->port) != 0)
        return fail(why, whylen, "bad port \"%.*s\" (1-65535)", (int)plen, port);
    c->host = strndup(host, hlen);
    if (!c->host)
        return fail(why, whylen, "out of memory");
    unsigned char addr[16];
    bool bracketed = host != a;
    if (bracketed) {
        if (inet_pton(AF_INET6, c->host, addr) != 1)
            return fail(why, whylen, "bad IPv6 address \"%s\"", c->host);
        c->host_is_ip = true;
        return 0;
    }
    if (!hostname_is_valid(c->host, hlen))
        return fail(why, whylen, "bad host name \"%s\"", c->host);
    c->host_is_ip = inet_pton(AF_INET, c->host, addr) == 1;
    return 0;
}

/* Parses an https URL into c->server (trailing slashes removed), host, port, host_is_ip. */
static int
parse_server(const char *url, struct kube_config *c, char *why, size_t whylen)
{
    static const char scheme[] = "https://";
    if (strncasecmp(url, "http://", 7) == 0)
        return fail(why, whylen, "http:// is not supported: the server must be https://");
    if (strncasecmp(url, scheme, sizeof scheme - 1) != 0)
        return fail(why, whylen, "not an https:// URL");
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return fail(why, whylen, "contains whitespace, control or non-ASCII characters");
    const char *auth = url + sizeof scheme - 1;
    size_t alen = strcspn(auth, "/?#");
    if (strpbrk(auth, "?#"))
        return fail(why, whylen, "a query or fragment is not allowed");
    if (memchr(auth, '@', alen))
        return fail(why, whylen, "user information in the URL is not supported");
    if (alen == 0)
        return fail(why, whylen, "no host");
    if (parse_authority(auth, alen, c, why, whylen) != 0)
        return -1;
    size_t len = strlen(url);
    while (len > 0 && url[len - 1] == '/')
        len--;
    c->server = strndup(url, len);
    if (!c->server)
        return fail(why, whylen, "out of memory");
    return 0;
}

/* ---- kubeconfig files --------------------------------------------------------------- */

struct kc_file {
    char *path;
    char *dir; /* relative paths inside the file resolve against it */
    struct ynode *root;
};

struct kc_set {
    struct kc_file files[KC_MAX_FILES];
    size_t n;
    const char *spec; /* the path or list as given, for messages */
};

/* A named entry of clusters/users/contexts, and where it comes from (for messages). */
struct kc_entry {
    const struct kc_file *file;
    const char *kind; /* "cluster", "user", "context" */
    const char *name;
    const char *context;      /* the context that refers to it */
    const struct ynode *body; /* the cluster:/user:/context: mapping, NULL when empty */
};

static int entry_fail(char *err, size_t errlen, const struct kc_entry *e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
entry_fail(char *err, size_t errlen, const struct kc_entry *e, const char *fmt, ...)
{
    char msg[KC_WHY_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return fail(err, errlen, "kubeconfig %s: %s \"%s\": %s", e->file->path, e->kind, e->name, msg);
}

/* A feature we do not implement: say which, where, and what to use instead. */
static int
entry_refuse(char *err, size_t errlen, const struct kc_entry *e, const char *what, const char *hint)
{
    return fail(err, errlen, "kubeconfig %s: %s (%s \"%s\" of context \"%s\"): %s", e->file->path,
                what, e->kind, e->name, e->context, hint);
}

/* A string field of the entry: 1 and *out when set, 0 when unset, -1 on a wrong type. */
static int
entry_str(const struct kc_entry *e, const char *key, const char **out, char *err, size_t errlen)
{
    *out = NULL;
    const struct ynode *v = ymap_get(e->body, key);
    if (!v || ynode_is_unset(v))
        return 0;
    if (v->kind != YN_SCALAR)
        return entry_fail(err, errlen, e, "%s must be a string, not %s (line %zu)", key,
                          ynode_kind_name(v), v->line);
    if (strlen(v->text) != v->len)
        return entry_fail(err, errlen, e, "%s contains a NUL character (line %zu)", key, v->line);
    *out = v->text;
    return 1;
}

static int
entry_bool(const struct kc_entry *e, const char *key, bool *out, char *err, size_t errlen)
{
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes",
                                      "YES",  "on",   "On",   "ON"};
    static const char *const no[] = {"false", "False", "FALSE", "no", "No",
                                     "NO",    "off",   "Off",   "OFF"};
    *out = false;
    const struct ynode *v = ymap_get(e->body, key);
    if (!v || ynode_is_unset(v))
        return 0;
    for (size_t i = 0; v->kind == YN_SCALAR && v->plain && i < sizeof yes / sizeof yes[0]; i++) {
        if (strcmp(v->text, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcmp(v->text, no[i]) == 0)
            return 0;
    }
    return entry_fail(err, errlen, e, "%s must be true or false (line %zu)", key, v->line);
}

/* A file path field, resolved against the directory of the entry's kubeconfig. */
static int
entry_path(const struct kc_entry *e, const char *key, char **out, char *err, size_t errlen)
{
    const char *s;
    *out = NULL;
    int rc = entry_str(e, key, &s, err, errlen);
    if (rc <= 0)
        return rc;
    *out = path_resolve(e->file->dir, s);
    if (!*out)
        return fail(err, errlen, "out of memory");
    return 1;
}

static int
entry_pem_data(const struct kc_entry *e, const char *key, const char *b64, unsigned char **out,
               size_t *outlen, char *err, size_t errlen)
{
    int rc;
    *out = base64_decode_alloc(b64, strlen(b64), KUBE_CONFIG_MAX_FILE_BYTES, outlen, &rc);
    if (rc == BASE64_INVALID)
        return entry_fail(err, errlen, e, "%s is not valid base64", key);
    if (rc == BASE64_TOO_BIG)
        return entry_fail(err, errlen, e, "%s decodes to more than %d bytes", key,
                          KUBE_CONFIG_MAX_FILE_BYTES);
    if (rc != BASE64_OK)
        return fail(err, errlen, "out of memory");
    return 0;
}

static int
entry_pem_file(const struct kc_entry *e, const char *key, const char *path, unsigned char **out,
               size_t *outlen, char *err, size_t errlen)
{
    char why[KC_WHY_MAX];
    if (read_file_bounded(path, KUBE_CONFIG_MAX_FILE_BYTES, out, outlen, why, sizeof why) != 0)
        return entry_fail(err, errlen, e, "%s %s: %s", key, path, why);
    if (*outlen == 0)
        return entry_fail(err, errlen, e, "%s %s: the file is empty", key, path);
    return 0;
}

/* field-data (base64, wins as in client-go) or field (a file): PEM bytes or NULL. */
static int
entry_pem(const struct kc_entry *e, const char *field, unsigned char **out, size_t *outlen,
          char *err, size_t errlen)
{
    char key[64];
    const char *b64;
    *out = NULL;
    *outlen = 0;
    snprintf(key, sizeof key, "%s-data", field);
    int rc = entry_str(e, key, &b64, err, errlen);
    if (rc < 0)
        return -1;
    if (rc > 0 && entry_pem_data(e, key, b64, out, outlen, err, errlen) != 0)
        return -1;
    if (*out && *outlen > 0)
        return 0;
    free(*out); /* decoded to nothing: unset, as an empty []byte is in Go */
    *out = NULL;
    char *path;
    rc = entry_path(e, field, &path, err, errlen);
    if (rc <= 0)
        return rc;
    rc = entry_pem_file(e, field, path, out, outlen, err, errlen);
    free(path);
    return rc;
}

static void
kc_file_free(struct kc_file *f)
{
    free(f->path);
    free(f->dir);
    ynode_free(f->root);
    memset(f, 0, sizeof *f);
}

/* Reads and parses one file: 1 loaded, 0 skipped (missing and missing_ok), -1 error. */
static int
kc_file_load(struct kc_file *f, const char *path, bool missing_ok, char *err, size_t errlen)
{
    struct stat st;
    if (missing_ok && stat(path, &st) != 0 && errno == ENOENT)
        return 0;
    char why[KC_WHY_MAX];
    unsigned char *data;
    size_t len;
    if (read_file_bounded(path, KUBE_CONFIG_MAX_FILE_BYTES, &data, &len, why, sizeof why) != 0)
        return fail(err, errlen, "kubeconfig %s: %s", path, why);
    int rc = ytree_parse(data, len, &f->root, why, sizeof why);
    wipe_free(data, len);
    if (rc != 0)
        return fail(err, errlen, "kubeconfig %s: %s", path, why);
    if (f->root && f->root->kind != YN_MAP && !ynode_is_unset(f->root))
        return fail(err, errlen,
                    "kubeconfig %s: not a kubeconfig: the top level is %s, not a mapping", path,
                    ynode_kind_name(f->root));
    f->path = strdup(path);
    f->dir = path_dir(path);
    if (!f->path || !f->dir)
        return fail(err, errlen, "out of memory");
    return 1;
}

/* Loads `spec`: one file, or (split) a colon-separated list in which missing files are
 * skipped. */
static int
kc_set_load(struct kc_set *set, const char *spec, bool split, char *err, size_t errlen)
{
    set->spec = spec;
    bool list = split && strchr(spec, ':') != NULL;
    char *copy = dup_str(spec, err, errlen);
    if (!copy)
        return -1;
    int rc = 0;
    char *save = NULL;
    for (char *p = list ? strtok_r(copy, ":", &save) : copy; p && rc >= 0;
         p = list ? strtok_r(NULL, ":", &save) : NULL) {
        if (set->n == KC_MAX_FILES) {
            rc = fail(err, errlen, "kubeconfig %s: more than %d files", spec, KC_MAX_FILES);
            break;
        }
        rc = kc_file_load(&set->files[set->n], p, list, err, errlen);
        if (rc > 0)
            set->n++;
        else
            kc_file_free(&set->files[set->n]);
    }
    free(copy);
    if (rc >= 0 && set->n == 0)
        rc = fail(err, errlen, "kubeconfig %s: none of the listed files exists", spec);
    return rc < 0 ? -1 : 0;
}

static void
kc_set_free(struct kc_set *set)
{
    for (size_t i = 0; i < set->n; i++)
        kc_file_free(&set->files[i]);
    set->n = 0;
}

/* Looks `name` up in one file's `list_key` list: 1 found, 0 not there, -1 malformed. */
static int
kc_file_find(const struct kc_file *f, const char *list_key, const char *name,
             const struct ynode **item, char *err, size_t errlen)
{
    const struct ynode *seq = ymap_get(f->root, list_key);
    if (!seq || ynode_is_unset(seq))
        return 0;
    if (seq->kind != YN_SEQ)
        return fail(err, errlen, "kubeconfig %s: %s must be a list, not %s (line %zu)", f->path,
                    list_key, ynode_kind_name(seq), seq->line);
    for (size_t i = 0; i < seq->n; i++) {
        const struct ynode *it = seq->items[i];
        if (it->kind != YN_MAP)
            return fail(err, errlen, "kubeconfig %s: %s[%zu] must be a mapping (line %zu)", f->path,
                        list_key, i, it->line);
        const struct ynode *nm = ymap_get(it, "name");
        if (nm && nm->kind == YN_SCALAR && strcmp(nm->text, name) == 0) {
            *item = it;
            return 1;
        }
    }
    return 0;
}

/* Finds the named entry in the first file that defines it: 1 found, 0 not, -1 error. */
static int
kc_find(const struct kc_set *set, const char *kind, const char *list_key, const char *name,
        struct kc_entry *e, char *err, size_t errlen)
{
    for (size_t i = 0; i < set->n; i++) {
        const struct ynode *item = NULL;
        int rc = kc_file_find(&set->files[i], list_key, name, &item, err, errlen);
        if (rc < 0)
            return -1;
        if (rc == 0)
            continue;
        e->file = &set->files[i];
        e->kind = kind;
        e->name = name;
        e->body = ymap_get(item, kind);
        if (e->body && ynode_is_unset(e->body))
            e->body = NULL;
        if (e->body && e->body->kind != YN_MAP)
            return entry_fail(err, errlen, e, "%s must be a mapping, not %s (line %zu)", kind,
                              ynode_kind_name(e->body), e->body->line);
        return 1;
    }
    return 0;
}

/* current-context from the first file that sets it: 1 found, 0 none, -1 error. */
static int
kc_current_context(const struct kc_set *set, const char **name, char *err, size_t errlen)
{
    for (size_t i = 0; i < set->n; i++) {
        const struct ynode *v = ymap_get(set->files[i].root, "current-context");
        if (!v || ynode_is_unset(v))
            continue;
        if (v->kind != YN_SCALAR)
            return fail(err, errlen, "kubeconfig %s: current-context must be a string (line %zu)",
                        set->files[i].path, v->line);
        *name = v->text;
        return 1;
    }
    return 0;
}

static int
kc_apply_server(const struct kc_entry *cl, struct kube_config *c, char *err, size_t errlen)
{
    const char *server, *sni;
    int rc = entry_str(cl, "server", &server, err, errlen);
    if (rc < 0)
        return -1;
    if (rc == 0)
        return entry_fail(err, errlen, cl, "server is not set");
    char why[KC_WHY_MAX];
    if (parse_server(server, c, why, sizeof why) != 0)
        return entry_fail(err, errlen, cl, "server \"%s\": %s", server, why);
    rc = entry_str(cl, "tls-server-name", &sni, err, errlen);
    if (rc < 0)
        return -1;
    if (rc > 0 && !hostname_is_valid(sni, strlen(sni)))
        return entry_fail(err, errlen, cl, "tls-server-name \"%s\" is not a valid host name", sni);
    if (rc > 0 && !(c->tls_server_name = dup_str(sni, err, errlen)))
        return -1;
    return 0;
}

static int
kc_apply_cluster(const struct kc_set *set, const struct kc_entry *ctx, const char *name,
                 struct kube_config *c, char *err, size_t errlen)
{
    struct kc_entry cl = {.context = ctx->name};
    int rc = kc_find(set, "cluster", "clusters", name, &cl, err, errlen);
    if (rc < 0)
        return -1;
    if (rc == 0)
        return fail(err, errlen, "kubeconfig %s: cluster \"%s\" (of context \"%s\") not found",
                    set->spec, name, ctx->name);
    if (!ynode_is_unset(ymap_get(cl.body, "proxy-url")))
        return entry_refuse(err, errlen, &cl, "proxy-url is not supported",
                            "remove it and connect to the API server directly");
    if (kc_apply_server(&cl, c, err, errlen) != 0)
        return -1;
    if (entry_bool(&cl, "insecure-skip-tls-verify", &c->insecure_skip_tls_verify, err, errlen))
        return -1;
    if (entry_pem(&cl, "certificate-authority", &c->ca_pem, &c->ca_pem_len, err, errlen) != 0)
        return -1;
    if (c->insecure_skip_tls_verify && c->ca_pem)
        return entry_fail(err, errlen, &cl,
                          "insecure-skip-tls-verify and certificate-authority(-data) cannot both "
                          "be set");
    return 0;
}

/* users[].user fields we do not implement, refused rather than silently ignored. */
static int
kc_refuse_user_features(const struct kc_entry *u, char *err, size_t errlen)
{
    static const char hint[] = "use a token, tokenFile or client certificate";
    static const struct {
        const char *key, *what;
    } unsupported[] = {
        {"exec", "exec credential plugins are not supported"},
        {"auth-provider", "auth-provider plugins are not supported"},
        {"username", "basic authentication (username/password) is not supported"},
        {"password", "basic authentication (username/password) is not supported"},
        {"as", "impersonation (as) is not supported"},
        {"as-uid", "impersonation (as-uid) is not supported"},
        {"as-groups", "impersonation (as-groups) is not supported"},
        {"as-user-extra", "impersonation (as-user-extra) is not supported"},
    };
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++)
        if (!ynode_is_unset(ymap_get(u->body, unsupported[i].key)))
            return entry_refuse(err, errlen, u, unsupported[i].what, hint);
    return 0;
}

static int
kc_apply_token(const struct kc_entry *u, struct kube_config *c, char *err, size_t errlen)
{
    const char *token;
    int rc = entry_str(u, "token", &token, err, errlen);
    if (rc < 0)
        return -1;
    if (rc > 0 && !token_is_valid(token, strlen(token)))
        return entry_fail(err, errlen, u,
                          "token contains whitespace, control or non-ASCII "
                          "characters");
    if (rc > 0 && !(c->token = dup_str(token, err, errlen)))
        return -1;
    rc = entry_path(u, "tokenFile", &c->token_file, err, errlen);
    if (rc <= 0 || c->token)
        return rc < 0 ? -1 : 0; /* an inline token wins; the file is kept for re-reads */
    char why[KC_WHY_MAX];
    if (read_token_file(c->token_file, &c->token, why, sizeof why) != 0)
        return entry_fail(err, errlen, u, "tokenFile %s: %s", c->token_file, why);
    return 0;
}

static int
kc_apply_user(const struct kc_set *set, const struct kc_entry *ctx, const char *name,
              struct kube_config *c, char *err, size_t errlen)
{
    struct kc_entry u = {.context = ctx->name};
    int rc = kc_find(set, "user", "users", name, &u, err, errlen);
    if (rc < 0)
        return -1;
    if (rc == 0)
        return fail(err, errlen, "kubeconfig %s: user \"%s\" (of context \"%s\") not found",
                    set->spec, name, ctx->name);
    if (kc_refuse_user_features(&u, err, errlen) != 0)
        return -1;
    if (entry_pem(&u, "client-certificate", &c->cert_pem, &c->cert_pem_len, err, errlen) != 0 ||
        entry_pem(&u, "client-key", &c->key_pem, &c->key_pem_len, err, errlen) != 0)
        return -1;
    if (c->cert_pem && !c->key_pem)
        return entry_fail(err, errlen, &u,
                          "client-certificate(-data) is set without client-key(-data)");
    if (c->key_pem && !c->cert_pem)
        return entry_fail(err, errlen, &u,
                          "client-key(-data) is set without client-certificate(-data)");
    return kc_apply_token(&u, c, err, errlen);
}

/* The context's own fields, then its cluster and user. */
static int
kc_apply_context(const struct kc_set *set, const struct kc_entry *ctx, struct kube_config *c,
                 char *err, size_t errlen)
{
    const char *cluster, *user, *ns;
    int rc = entry_str(ctx, "cluster", &cluster, err, errlen);
    if (rc < 0)
        return -1;
    if (rc == 0)
        return entry_fail(err, errlen, ctx, "cluster is not set");
    if (entry_str(ctx, "user", &user, err, errlen) < 0 ||
        entry_str(ctx, "namespace", &ns, err, errlen) < 0)
        return -1;
    if (ns && !namespace_is_valid(ns))
        return entry_fail(err, errlen, ctx, "namespace \"%s\" is not a valid namespace name", ns);
    if (!(c->namespace = dup_str(ns ? ns : "default", err, errlen)))
        return -1;
    if (kc_apply_cluster(set, ctx, cluster, c, err, errlen) != 0)
        return -1;
    return user ? kc_apply_user(set, ctx, user, c, err, errlen) : 0;
}

static int
kc_build(const struct kc_set *set, const char *context, struct kube_config *c, char *err,
         size_t errlen)
{
    if (!context || !*context) {
        int rc = kc_current_context(set, &context, err, errlen);
        if (rc < 0)
            return -1;
        if (rc == 0)
            return fail(err, errlen,
                        "kubeconfig %s: current-context is not set and no context "
                        "was given (--context)",
                        set->spec);
    }
    struct kc_entry ctx = {.context = context};
    int rc = kc_find(set, "context", "contexts", context, &ctx, err, errlen);
    if (rc < 0)
        return -1;
    if (rc == 0)
        return fail(err, errlen, "kubeconfig %s: context \"%s\" not found", set->spec, context);
    if (!(c->context = dup_str(context, err, errlen)) ||
        !(c->source = dup_str(set->spec, err, errlen)))
        return -1;
    return kc_apply_context(set, &ctx, c, err, errlen);
}

static int
kc_load(const char *spec, bool split, const char *context, struct kube_config *out, char *err,
        size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!spec || !*spec)
        return fail(err, errlen, "kubeconfig: no path given");
    struct kc_set set = {0};
    struct kube_config c = {0};
    int rc = kc_set_load(&set, spec, split, err, errlen);
    if (rc == 0)
        rc = kc_build(&set, context, &c, err, errlen);
    kc_set_free(&set);
    if (rc != 0) {
        kube_config_free(&c);
        return -1;
    }
    *out = c;
    return 0;
}

int
kube_config_load_kubeconfig(const char *path, const char *context, struct kube_config *out,
                            char *err, size_t errlen)
{
    return kc_load(path, true, context, out, err, errlen);
}

/* ---- in-cluster --------------------------------------------------------------------- */

static int
ic_server(const char *host, const char *port, struct kube_config *c, char *err, size_t errlen)
{
    char url[600], why[KC_WHY_MAX];
    int n = snprintf(url, sizeof url, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host,
                     port);
    if (n < 0 || (size_t)n >= sizeof url)
        return fail(err, errlen, "in-cluster config: KUBERNETES_SERVICE_HOST is too long");
    if (parse_server(url, c, why, sizeof why) != 0)
        return fail(err, errlen,
                    "in-cluster config: KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT give a "
                    "bad server URL \"%s\": %s",
                    url, why);
    return 0;
}

/* The namespace file is optional: "default" when missing or empty. */
static int
ic_namespace(const char *sa_dir, struct kube_config *c, char *err, size_t errlen)
{
    char *path = path_resolve(sa_dir, "namespace");
    if (!path)
        return fail(err, errlen, "out of memory");
    char why[KC_WHY_MAX];
    unsigned char *data = NULL;
    size_t len = 0;
    int rc = 0;
    if (access(path, F_OK) == 0 &&
        read_file_bounded(path, KUBE_CONFIG_MAX_TOKEN_BYTES, &data, &len, why, sizeof why) != 0)
        rc = fail(err, errlen, "in-cluster config: namespace file %s: %s", path, why);
    while (len > 0 && is_space(data[len - 1]))
        data[--len] = '\0';
    if (rc == 0 && len && !namespace_is_valid((char *)data))
        rc = fail(err, errlen,
                  "in-cluster config: namespace file %s: \"%s\" is not a valid "
                  "namespace name",
                  path, (char *)data);
    if (rc == 0 && !(c->namespace = dup_str(len ? (char *)data : "default", err, errlen)))
        rc = -1;
    free(data);
    free(path);
    return rc;
}

static int
ic_build(const char *sa_dir, const char *host, const char *port, struct kube_config *c, char *err,
         size_t errlen)
{
    char why[KC_WHY_MAX];
    if (ic_server(host, port, c, err, errlen) != 0)
        return -1;
    if (!(c->source = dup_str("in-cluster", err, errlen)))
        return -1;
    c->token_file = path_resolve(sa_dir, "token");
    char *ca = path_resolve(sa_dir, "ca.crt");
    int rc = c->token_file && ca ? 0 : fail(err, errlen, "out of memory");
    if (rc == 0 && read_token_file(c->token_file, &c->token, why, sizeof why) != 0)
        rc = fail(err, errlen, "in-cluster config: service account token %s: %s", c->token_file,
                  why);
    if (rc == 0 && read_file_bounded(ca, KUBE_CONFIG_MAX_FILE_BYTES, &c->ca_pem, &c->ca_pem_len,
                                     why, sizeof why) != 0)
        rc = fail(err, errlen, "in-cluster config: CA certificate %s: %s", ca, why);
    if (rc == 0 && c->ca_pem_len == 0)
        rc = fail(err, errlen, "in-cluster config: CA certificate %s: the file is empty", ca);
    free(ca);
    return rc == 0 ? ic_namespace(sa_dir, c, err, errlen) : -1;
}

int
kube_config_load_in_cluster(const char *sa_dir, struct kube_config *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    if (!host || !*host)
        return fail(err, errlen,
                    "in-cluster config: KUBERNETES_SERVICE_HOST is not set "
                    "(not running in a pod?)");
    if (!port || !*port)
        return fail(err, errlen, "in-cluster config: KUBERNETES_SERVICE_PORT is not set");
    struct kube_config c = {0};
    if (ic_build(sa_dir ? sa_dir : KUBE_CONFIG_SA_DIR, host, port, &c, err, errlen) != 0) {
        kube_config_free(&c);
        return -1;
    }
    *out = c;
    return 0;
}

/* ---- the rest of the API ------------------------------------------------------------ */

int
kube_config_load(const char *kubeconfig, const char *context, struct kube_config *out, char *err,
                 size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (kubeconfig && *kubeconfig)
        return kc_load(kubeconfig, true, context, out, err, errlen);
    const char *in_cluster = getenv("KUBERNETES_SERVICE_HOST");
    if (in_cluster && *in_cluster)
        return kube_config_load_in_cluster(NULL, out, err, errlen);
    const char *home = getenv("HOME");
    if (!home || !*home)
        return fail(err, errlen,
                    "no API server configuration: no --kubeconfig or KUBECONFIG, "
                    "KUBERNETES_SERVICE_HOST is not set, and neither is HOME");
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/.kube/config", home);
    if (n < 0 || (size_t)n >= sizeof path)
        return fail(err, errlen, "HOME is too long");
    if (access(path, F_OK) != 0 && errno == ENOENT)
        return fail(err, errlen,
                    "no API server configuration: no --kubeconfig or KUBECONFIG, "
                    "KUBERNETES_SERVICE_HOST is not set, and %s does not exist",
                    path);
    return kc_load(path, false, context, out, err, errlen);
}

void
kube_config_free(struct kube_config *c)
{
    free(c->server);
    free(c->host);
    free(c->tls_server_name);
    free(c->ca_pem);
    free(c->cert_pem);
    wipe_free(c->key_pem, c->key_pem_len);
    wipe_free_str(c->token);
    free(c->token_file);
    free(c->namespace);
    free(c->source);
    free(c->context);
    memset(c, 0, sizeof *c);
}

int
kube_config_reload_token(struct kube_config *c, char *err, size_t errlen)
{
    if (!c->token_file)
        return fail(err, errlen, "no token file to re-read");
    char why[KC_WHY_MAX];
    char *token;
    if (read_token_file(c->token_file, &token, why, sizeof why) != 0)
        return fail(err, errlen, "token file %s: %s", c->token_file, why);
    wipe_free_str(c->token);
    c->token = token;
    return 0;
}
