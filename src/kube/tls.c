#include "kube/tls.h"

#include "util/buf.h"
#include "util/timeutil.h"

#include <arpa/inet.h>
#include <bearssl.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PEM_BYTES (1u << 20)
#define MAX_CERT_DER 65536
#define MAX_OBJECTS 64
#define HANDSHAKE_STALE_MS 120000 /* far beyond curl's connect timeout */

struct der {
    unsigned char *data;
    size_t len;
};

/* Per-handshake state of the wrapping X.509 engine. BearSSL keeps a pointer to it for the
 * whole handshake and libcurl offers no hook when a connection ends, so these live in a
 * list and are recycled once their handshake is over or certainly dead. */
struct x509_slot {
    const br_x509_class *vtable; /* must be first: BearSSL passes &slot->vtable */
    br_x509_minimal_context minimal;
    struct tls *tls;
    unsigned cert_index;
    struct buf leaf; /* DER of the first certificate, for the IP SAN check */
    bool done;
    int64_t started_ms;
    struct x509_slot *next;
};

struct tls {
    br_x509_trust_anchor *anchors;
    size_t nanchors;
    br_x509_certificate *chain; /* client certificate chain */
    size_t nchain;
    br_skey_decoder_context *key;
    char *name;              /* DNS name to verify, or NULL in IP mode */
    unsigned char ip[16];    /* IP mode: the address to find in the SANs */
    size_t iplen;
    struct x509_slot *slots;
};

/* --- PEM ---------------------------------------------------------------------------- */

struct pem_obj {
    char name[128];
    struct der der;
};

static void
pem_append(void *ctx, const void *data, size_t len)
{
    buf_append(ctx, data, len); /* a failure shows as a short object, rejected by the parser */
}

/* Decodes every PEM object of the input. Returns the count, or -1. */
static int
pem_decode(const unsigned char *in, size_t len, struct pem_obj *objs, int max, char *err,
           size_t errlen, const char *what)
{
    br_pem_decoder_context pc;
    br_pem_decoder_init(&pc);
    struct buf b;
    buf_init(&b, MAX_CERT_DER);
    int n = 0, inobj = 0;
    static const unsigned char nl = '\n';
    const unsigned char *p = in;
    size_t left = len;
    int extra_newline = 1; /* a final newline flushes a last line without one */
    while (left > 0 || extra_newline) {
        size_t used;
        if (left > 0) {
            used = br_pem_decoder_push(&pc, p, left);
            p += used;
            left -= used;
        } else {
            br_pem_decoder_push(&pc, &nl, 1);
            extra_newline = 0;
        }
        switch (br_pem_decoder_event(&pc)) {
        case BR_PEM_BEGIN_OBJ:
            if (n == max) {
                snprintf(err, errlen, "%s: more than %d PEM objects", what, max);
                goto fail;
            }
            snprintf(objs[n].name, sizeof objs[n].name, "%s", br_pem_decoder_name(&pc));
            buf_reset(&b);
            br_pem_decoder_setdest(&pc, pem_append, &b);
            inobj = 1;
            break;
        case BR_PEM_END_OBJ:
            if (inobj) {
                objs[n].der.len = b.len;
                objs[n].der.data = (unsigned char *)buf_take(&b);
                if (!objs[n].der.data)
                    goto fail;
                n++;
                inobj = 0;
            }
            break;
        case BR_PEM_ERROR:
            snprintf(err, errlen, "%s: malformed PEM", what);
            goto fail;
        default:
            break;
        }
    }
    buf_free(&b);
    if (inobj) {
        snprintf(err, errlen, "%s: unterminated PEM object", what);
        goto fail_objs;
    }
    return n;
fail:
    buf_free(&b);
fail_objs:
    for (int i = 0; i < n; i++)
        free(objs[i].der.data);
    return -1;
}

/* --- trust anchors ------------------------------------------------------------------ */

static void
dn_append(void *ctx, const void *data, size_t len)
{
    buf_append(ctx, data, len);
}

static unsigned char *
memdup(const void *p, size_t n)
{
    unsigned char *q = malloc(n ? n : 1);
    if (q && n)
        memcpy(q, p, n);
    return q;
}

static int
anchor_from_der(br_x509_trust_anchor *ta, const struct der *d)
{
    br_x509_decoder_context dc;
    struct buf dn;
    buf_init(&dn, 8192);
    br_x509_decoder_init(&dc, dn_append, &dn);
    br_x509_decoder_push(&dc, d->data, d->len);
    const br_x509_pkey *pk = br_x509_decoder_get_pkey(&dc);
    if (!pk || br_x509_decoder_last_error(&dc)) {
        buf_free(&dn);
        return -1;
    }
    memset(ta, 0, sizeof *ta);
    ta->dn.len = dn.len;
    ta->dn.data = (unsigned char *)buf_take(&dn);
    ta->flags = br_x509_decoder_isCA(&dc) ? BR_X509_TA_CA : 0;
    ta->pkey.key_type = pk->key_type;
    if (pk->key_type == BR_KEYTYPE_RSA) {
        ta->pkey.key.rsa.n = memdup(pk->key.rsa.n, pk->key.rsa.nlen);
        ta->pkey.key.rsa.nlen = pk->key.rsa.nlen;
        ta->pkey.key.rsa.e = memdup(pk->key.rsa.e, pk->key.rsa.elen);
        ta->pkey.key.rsa.elen = pk->key.rsa.elen;
        if (!ta->pkey.key.rsa.n || !ta->pkey.key.rsa.e)
            return -1;
    } else if (pk->key_type == BR_KEYTYPE_EC) {
        ta->pkey.key.ec.curve = pk->key.ec.curve;
        ta->pkey.key.ec.q = memdup(pk->key.ec.q, pk->key.ec.qlen);
        ta->pkey.key.ec.qlen = pk->key.ec.qlen;
        if (!ta->pkey.key.ec.q)
            return -1;
    } else {
        return -1;
    }
    return 0;
}

static void
anchor_free(br_x509_trust_anchor *ta)
{
    free(ta->dn.data);
    if (ta->pkey.key_type == BR_KEYTYPE_RSA) {
        free(ta->pkey.key.rsa.n);
        free(ta->pkey.key.rsa.e);
    } else if (ta->pkey.key_type == BR_KEYTYPE_EC) {
        free(ta->pkey.key.ec.q);
    }
}

static int
load_anchors(struct tls *t, const unsigned char *pem, size_t len, char *err, size_t errlen)
{
    struct pem_obj objs[MAX_OBJECTS];
    int n = pem_decode(pem, len, objs, MAX_OBJECTS, err, errlen, "certificate authority");
    if (n < 0)
        return -1;
    t->anchors = calloc((size_t)(n ? n : 1), sizeof *t->anchors);
    int rc = t->anchors ? 0 : -1;
    for (int i = 0; i < n; i++) {
        if (rc == 0 && !strcmp(objs[i].name, "CERTIFICATE")) {
            if (anchor_from_der(&t->anchors[t->nanchors], &objs[i].der)) {
                anchor_free(&t->anchors[t->nanchors]);
                snprintf(err, errlen, "certificate authority: certificate %d cannot be decoded",
                         i + 1);
                rc = -1;
            } else {
                t->nanchors++;
            }
        }
        free(objs[i].der.data);
    }
    if (rc == 0 && t->nanchors == 0) {
        snprintf(err, errlen, "certificate authority: no CERTIFICATE in the PEM data");
        rc = -1;
    }
    return rc;
}

/* --- client certificate ------------------------------------------------------------- */

static int
load_client_cert(struct tls *t, const unsigned char *cert, size_t cert_len,
                 const unsigned char *key, size_t key_len, char *err, size_t errlen)
{
    struct pem_obj objs[MAX_OBJECTS];
    int n = pem_decode(cert, cert_len, objs, MAX_OBJECTS, err, errlen, "client certificate");
    if (n < 0)
        return -1;
    t->chain = calloc((size_t)(n ? n : 1), sizeof *t->chain);
    for (int i = 0; i < n; i++) {
        if (t->chain && !strcmp(objs[i].name, "CERTIFICATE")) {
            t->chain[t->nchain].data = objs[i].der.data;
            t->chain[t->nchain++].data_len = objs[i].der.len;
        } else {
            free(objs[i].der.data);
        }
    }
    if (!t->chain || t->nchain == 0) {
        snprintf(err, errlen, "client certificate: no CERTIFICATE in the PEM data");
        return -1;
    }
    n = pem_decode(key, key_len, objs, MAX_OBJECTS, err, errlen, "client key");
    if (n < 0)
        return -1;
    int rc = -1;
    for (int i = 0; i < n; i++) {
        if (rc != 0 && strstr(objs[i].name, "PRIVATE KEY")) {
            t->key = calloc(1, sizeof *t->key);
            if (t->key) {
                br_skey_decoder_init(t->key);
                br_skey_decoder_push(t->key, objs[i].der.data, objs[i].der.len);
                int kt = br_skey_decoder_key_type(t->key);
                rc = (!br_skey_decoder_last_error(t->key) &&
                      (kt == BR_KEYTYPE_RSA || kt == BR_KEYTYPE_EC))
                         ? 0
                         : -1;
            }
        }
        explicit_bzero(objs[i].der.data, objs[i].der.len);
        free(objs[i].der.data);
    }
    if (rc)
        snprintf(err, errlen, "client key: no RSA or EC private key could be decoded");
    return rc;
}

/* --- IP SAN check: a minimal DER walk ------------------------------------------------ */

struct tlv {
    unsigned tag;
    const unsigned char *val;
    size_t len;
};

/* Reads one DER TLV at *p (< end). Returns 0 and advances *p, or -1 if malformed. */
static int
der_next(const unsigned char **p, const unsigned char *end, struct tlv *out)
{
    const unsigned char *q = *p;
    if (end - q < 2)
        return -1;
    out->tag = *q++;
    if ((out->tag & 0x1f) == 0x1f)
        return -1; /* multi-byte tags do not occur where we look */
    size_t len = *q++;
    if (len & 0x80) {
        unsigned nb = len & 0x7f;
        if (nb == 0 || nb > 4 || (size_t)(end - q) < nb)
            return -1;
        len = 0;
        while (nb--)
            len = (len << 8) | *q++;
    }
    if ((size_t)(end - q) < len)
        return -1;
    out->val = q;
    out->len = len;
    *p = q + len;
    return 0;
}

static const unsigned char OID_SAN[] = {0x55, 0x1d, 0x11}; /* 2.5.29.17 */

/* Scans GeneralNames for iPAddress [7] entries. */
static int
san_has_ip(const unsigned char *p, size_t len, const unsigned char *ip, size_t iplen)
{
    const unsigned char *end = p + len;
    struct tlv seq, gn;
    if (der_next(&p, end, &seq) || seq.tag != 0x30)
        return -1;
    const unsigned char *q = seq.val, *qend = seq.val + seq.len;
    while (q < qend) {
        if (der_next(&q, qend, &gn))
            return -1;
        if (gn.tag == 0x87 && gn.len == iplen && !memcmp(gn.val, ip, iplen))
            return 1;
    }
    return 0;
}

int
tls_cert_has_ip_san(const unsigned char *der, size_t len, const unsigned char *ip, size_t iplen)
{
    const unsigned char *p = der, *end = der + len;
    struct tlv cert, tbs, item;
    if (der_next(&p, end, &cert) || cert.tag != 0x30)
        return -1;
    p = cert.val;
    if (der_next(&p, cert.val + cert.len, &tbs) || tbs.tag != 0x30)
        return -1;
    const unsigned char *q = tbs.val, *qend = tbs.val + tbs.len;
    while (q < qend) {
        if (der_next(&q, qend, &item))
            return -1;
        if (item.tag != 0xa3) /* extensions [3] */
            continue;
        const unsigned char *e = item.val, *eend = item.val + item.len;
        struct tlv exts, ext, f;
        if (der_next(&e, eend, &exts) || exts.tag != 0x30)
            return -1;
        const unsigned char *x = exts.val, *xend = exts.val + exts.len;
        while (x < xend) {
            if (der_next(&x, xend, &ext) || ext.tag != 0x30)
                return -1;
            const unsigned char *y = ext.val, *yend = ext.val + ext.len;
            if (der_next(&y, yend, &f) || f.tag != 0x06)
                return -1;
            if (f.len != sizeof OID_SAN || memcmp(f.val, OID_SAN, sizeof OID_SAN))
                continue;
            if (der_next(&y, yend, &f)) /* critical BOOLEAN, or the OCTET STRING */
                return -1;
            if (f.tag == 0x01 && der_next(&y, yend, &f))
                return -1;
            if (f.tag != 0x04)
                return -1;
            return san_has_ip(f.val, f.len, ip, iplen);
        }
        return 0;
    }
    return 0;
}

/* --- the wrapping X.509 engine ------------------------------------------------------ */

static struct x509_slot *
slot_of(const br_x509_class **ctx)
{
    return (struct x509_slot *)(void *)ctx;
}

static void
x_start_chain(const br_x509_class **ctx, const char *server_name)
{
    struct x509_slot *s = slot_of(ctx);
    (void)server_name; /* curl passes NULL for IPs; we know the name to check */
    s->cert_index = 0;
    buf_reset(&s->leaf);
    s->minimal.vtable->start_chain(&s->minimal.vtable, s->tls->name);
}

static void
x_start_cert(const br_x509_class **ctx, uint32_t length)
{
    struct x509_slot *s = slot_of(ctx);
    s->minimal.vtable->start_cert(&s->minimal.vtable, length);
}

static void
x_append(const br_x509_class **ctx, const unsigned char *buf, size_t len)
{
    struct x509_slot *s = slot_of(ctx);
    if (s->cert_index == 0 && s->tls->iplen)
        buf_append(&s->leaf, buf, len); /* over the cap: the check below fails closed */
    s->minimal.vtable->append(&s->minimal.vtable, buf, len);
}

static void
x_end_cert(const br_x509_class **ctx)
{
    struct x509_slot *s = slot_of(ctx);
    s->cert_index++;
    s->minimal.vtable->end_cert(&s->minimal.vtable);
}

static unsigned
x_end_chain(const br_x509_class **ctx)
{
    struct x509_slot *s = slot_of(ctx);
    unsigned r = s->minimal.vtable->end_chain(&s->minimal.vtable);
    if (r == 0 && s->tls->iplen &&
        tls_cert_has_ip_san((const unsigned char *)buf_str(&s->leaf), s->leaf.len, s->tls->ip,
                            s->tls->iplen) != 1)
        r = BR_ERR_X509_BAD_SERVER_NAME;
    if (r)
        s->done = true;
    return r;
}

static const br_x509_pkey *
x_get_pkey(const br_x509_class *const *ctx, unsigned *usages)
{
    struct x509_slot *s = (struct x509_slot *)(void *)(uintptr_t)ctx;
    s->done = true; /* the last call BearSSL makes into the engine in a handshake */
    return s->minimal.vtable->get_pkey(&s->minimal.vtable, usages);
}

static const br_x509_class x509_wrapper_vtable = {
    sizeof(struct x509_slot), x_start_chain, x_start_cert, x_append,
    x_end_cert,               x_end_chain,   x_get_pkey,
};

static struct x509_slot *
slot_get(struct tls *t)
{
    int64_t now = time_mono_ms();
    for (struct x509_slot *s = t->slots; s; s = s->next) {
        if (s->done || now - s->started_ms > HANDSHAKE_STALE_MS) {
            s->done = false;
            s->started_ms = now;
            return s;
        }
    }
    struct x509_slot *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    buf_init(&s->leaf, MAX_CERT_DER);
    s->tls = t;
    s->started_ms = now;
    s->next = t->slots;
    t->slots = s;
    return s;
}

int
tls_ssl_ctx_cb(void *curl, void *ssl_ctx, void *arg)
{
    (void)curl;
    struct tls *t = arg;
    br_ssl_client_context *cc = ssl_ctx;
    struct x509_slot *s = slot_get(t);
    if (!s)
        return CURLE_OUT_OF_MEMORY;
    br_x509_minimal_init_full(&s->minimal, t->anchors, t->nanchors);
    s->vtable = &x509_wrapper_vtable;
    br_ssl_engine_set_x509(&cc->eng, &s->vtable);
    br_ssl_engine_add_flags(&cc->eng, BR_OPT_NO_RENEGOTIATION);
    if (t->key && br_skey_decoder_key_type(t->key) == BR_KEYTYPE_RSA)
        br_ssl_client_set_single_rsa(cc, t->chain, t->nchain, br_skey_decoder_get_rsa(t->key),
                                     br_rsa_pkcs1_sign_get_default());
    else if (t->key)
        br_ssl_client_set_single_ec(cc, t->chain, t->nchain, br_skey_decoder_get_ec(t->key),
                                    BR_KEYTYPE_SIGN, 0, br_ec_get_default(),
                                    br_ecdsa_sign_asn1_get_default());
    return CURLE_OK;
}

/* --- lifecycle ---------------------------------------------------------------------- */

bool
tls_checks_name_itself(const struct tls *t)
{
    return t->iplen != 0;
}

struct tls *
tls_new(const unsigned char *ca_pem, size_t ca_len, const unsigned char *cert_pem,
        size_t cert_len, const unsigned char *key_pem, size_t key_len, const char *host,
        const char *server_name, char *err, size_t errlen)
{
    struct tls *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (!ca_pem || !ca_len || ca_len > MAX_PEM_BYTES) {
        snprintf(err, errlen, "no usable certificate authority data");
        goto fail;
    }
    if (load_anchors(t, ca_pem, ca_len, err, errlen))
        goto fail;
    if ((cert_pem || key_pem) &&
        (!cert_pem || !key_pem || cert_len > MAX_PEM_BYTES || key_len > MAX_PEM_BYTES)) {
        snprintf(err, errlen, "a client certificate needs both the certificate and its key");
        goto fail;
    }
    if (cert_pem && load_client_cert(t, cert_pem, cert_len, key_pem, key_len, err, errlen))
        goto fail;
    const char *name = server_name && *server_name ? server_name : host;
    if (inet_pton(AF_INET, name, t->ip) == 1)
        t->iplen = 4;
    else if (inet_pton(AF_INET6, name, t->ip) == 1)
        t->iplen = 16;
    else if (!(t->name = strdup(name)))
        goto fail;
    return t;
fail:
    tls_free(t);
    return NULL;
}

void
tls_free(struct tls *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nanchors; i++)
        anchor_free(&t->anchors[i]);
    free(t->anchors);
    for (size_t i = 0; i < t->nchain; i++)
        free(t->chain[i].data);
    free(t->chain);
    if (t->key) {
        explicit_bzero(t->key, sizeof *t->key);
        free(t->key);
    }
    for (struct x509_slot *s = t->slots, *next; s; s = next) {
        next = s->next;
        buf_free(&s->leaf);
        free(s);
    }
    free(t->name);
    free(t);
}
