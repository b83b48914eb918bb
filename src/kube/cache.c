#include "kube/cache.h"

#include "util/timeutil.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include "util/hash.h"

#include <stdlib.h>
#include <string.h>

struct cache {
    struct kobj **by_key;
    struct kobj **by_owner;
    size_t nbuckets;
    size_t count;
    uint32_t mark;
    size_t sweep; /* cache_take_unmarked resumes here: a relist sweep is one pass */
    cache_free_fn free_payload;
};

struct cache *
cache_new(cache_free_fn free_payload)
{
    struct cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->nbuckets = 256;
    c->by_key = calloc(c->nbuckets, sizeof *c->by_key);
    c->by_owner = calloc(c->nbuckets, sizeof *c->by_owner);
    if (!c->by_key || !c->by_owner) {
        free(c->by_key);
        free(c->by_owner);
        free(c);
        return NULL;
    }
    c->free_payload = free_payload;
    return c;
}

void
kobj_free(struct cache *c, struct kobj *o)
{
    if (!o)
        return;
    if (o->payload && c && c->free_payload)
        c->free_payload(o->payload);
    free(o); /* its strings are in o->storage */
}

void
cache_free(struct cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nbuckets; i++)
        for (struct kobj *o = c->by_key[i], *n; o; o = n) {
            n = o->next_key;
            kobj_free(c, o);
        }
    free(c->by_key);
    free(c->by_owner);
    free(c);
}

static struct kobj **
key_slot(const struct cache *c, const char *key)
{
    struct kobj **pp = &c->by_key[(size_t)hash_str(key) & (c->nbuckets - 1)];
    while (*pp && strcmp((*pp)->key, key))
        pp = &(*pp)->next_key;
    return pp;
}

static void
owner_link(struct cache *c, struct kobj *o)
{
    if (!o->owner_uid)
        return;
    struct kobj **head = &c->by_owner[(size_t)hash_str(o->owner_uid) & (c->nbuckets - 1)];
    o->next_owner = *head;
    *head = o;
}

static void
owner_unlink(struct cache *c, struct kobj *o)
{
    if (!o->owner_uid)
        return;
    struct kobj **pp = &c->by_owner[(size_t)hash_str(o->owner_uid) & (c->nbuckets - 1)];
    while (*pp && *pp != o)
        pp = &(*pp)->next_owner;
    if (*pp)
        *pp = o->next_owner;
    o->next_owner = NULL;
}

static void
rehash(struct cache *c)
{
    size_t n = c->nbuckets * 2;
    struct kobj **nk = calloc(n, sizeof *nk), **no = calloc(n, sizeof *no);
    if (!nk || !no) {
        free(nk);
        free(no);
        return; /* longer chains, still correct */
    }
    struct kobj **ok = c->by_key;
    size_t on = c->nbuckets;
    free(c->by_owner);
    c->by_key = nk;
    c->by_owner = no;
    c->nbuckets = n;
    for (size_t i = 0; i < on; i++)
        for (struct kobj *o = ok[i], *next; o; o = next) {
            next = o->next_key;
            struct kobj **head = &nk[(size_t)hash_str(o->key) & (n - 1)];
            o->next_key = *head;
            *head = o;
            owner_link(c, o);
        }
    free(ok);
}

struct kobj *
cache_put(struct cache *c, struct kobj *o)
{
    struct kobj *old = cache_remove(c, o->key);
    if (c->count + 1 > c->nbuckets) {
        rehash(c);
        c->sweep = 0;
    }
    struct kobj **head = &c->by_key[(size_t)hash_str(o->key) & (c->nbuckets - 1)];
    o->next_key = *head;
    *head = o;
    owner_link(c, o);
    o->relist_mark = c->mark;
    c->count++;
    return old;
}

struct kobj *
cache_remove(struct cache *c, const char *key)
{
    struct kobj **pp = key_slot(c, key), *o = *pp;
    if (!o)
        return NULL;
    *pp = o->next_key;
    o->next_key = NULL;
    owner_unlink(c, o);
    c->count--;
    return o;
}

struct kobj *
cache_get(const struct cache *c, const char *key)
{
    return *key_slot(c, key);
}

size_t
cache_count(const struct cache *c)
{
    return c->count;
}

void
cache_foreach(const struct cache *c, void (*fn)(void *arg, struct kobj *o), void *arg)
{
    for (size_t i = 0; i < c->nbuckets; i++)
        for (struct kobj *o = c->by_key[i]; o; o = o->next_key)
            fn(arg, o);
}

void
cache_foreach_owned(const struct cache *c, const char *owner_uid,
                    void (*fn)(void *arg, struct kobj *o), void *arg)
{
    for (struct kobj *o = c->by_owner[(size_t)hash_str(owner_uid) & (c->nbuckets - 1)]; o;
         o = o->next_owner)
        if (!strcmp(o->owner_uid, owner_uid))
            fn(arg, o);
}

uint32_t
cache_mark_begin(struct cache *c)
{
    c->sweep = 0;
    return ++c->mark;
}

void
cache_mark(struct kobj *o, uint32_t mark)
{
    o->relist_mark = mark;
}

struct kobj *
cache_take_unmarked(struct cache *c, uint32_t mark)
{
    /* Buckets before the cursor hold no unmarked object any more (removing one does not
     * move the others), so the whole sweep costs one pass over the table. A rehash during
     * the sweep (only cache_put grows the table) resets the cursor in cache_put. */
    for (; c->sweep < c->nbuckets; c->sweep++)
        for (struct kobj *o = c->by_key[c->sweep]; o; o = o->next_key)
            if (o->relist_mark != mark)
                return cache_remove(c, o->key);
    return NULL;
}

/* --- from JSON ------------------------------------------------------------------------ */

static const char *
str_of(const cJSON *obj, const char *field)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The controller ownerReference (its uid, kind and name), or NULL. */
static const cJSON *
controller_owner(const cJSON *meta)
{
    const cJSON *refs = cJSON_GetObjectItemCaseSensitive(meta, "ownerReferences"), *r;
    cJSON_ArrayForEach(r, refs)
    {
        const char *uid = str_of(r, "uid"), *kind = str_of(r, "kind"), *name = str_of(r, "name");
        if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "controller")) || !uid || !kind ||
            !name || strlen(uid) > 253 || strlen(kind) > 63 || strlen(name) > 253)
            continue;
        return r;
    }
    return NULL;
}

/* Copies s (n bytes and a NUL) to *at, advances *at; returns the copy. */
static char *
put_str(char **at, const char *s, size_t n)
{
    char *d = *at;
    memcpy(d, s, n);
    d[n] = 0;
    *at += n + 1;
    return d;
}

struct kobj *
kobj_from_json(const cJSON *obj, const char *our_finalizer)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const char *name = str_of(meta, "name"), *ns = str_of(meta, "namespace");
    const char *uid = str_of(meta, "uid"), *rv = str_of(meta, "resourceVersion");
    if (!name || !*name || !uid || !rv || strlen(name) > 253 || (ns && strlen(ns) > 63) ||
        strlen(uid) > 253 || strlen(rv) > 253)
        return NULL;
    if (!ns)
        ns = "";
    const cJSON *ref = controller_owner(meta);
    const char *ouid = ref ? str_of(ref, "uid") : NULL, *okind = ref ? str_of(ref, "kind") : NULL;
    const char *oname = ref ? str_of(ref, "name") : NULL;
    size_t nl = strlen(ns), ml = strlen(name), ul = strlen(uid), rl = strlen(rv);
    size_t oul = ouid ? strlen(ouid) : 0, okl = okind ? strlen(okind) : 0;
    size_t onl = oname ? strlen(oname) : 0;
    /* One allocation per cached object (issue 16: 20,000 pods): the strings follow the
     * struct — ns, name, key, uid, rv and the owner's uid and "Kind/name". */
    size_t n = (nl + 1) + (ml + 1) + (nl + ml + 2) + (ul + 1) + (rl + 1) +
               (ref ? (oul + 1) + (okl + onl + 2) : 0);
    struct kobj *o = calloc(1, sizeof *o + n);
    if (!o)
        return NULL;
    char *at = o->storage;
    o->ns = put_str(&at, ns, nl);
    o->name = put_str(&at, name, ml);
    o->key = at;
    if (nl) {
        memcpy(at, ns, nl);
        at[nl] = '/';
        at += nl + 1;
    }
    put_str(&at, name, ml);
    o->uid = put_str(&at, uid, ul);
    o->rv = put_str(&at, rv, rl);
    if (ref) {
        o->owner_uid = put_str(&at, ouid, oul);
        o->owner_ref = at;
        memcpy(at, okind, okl);
        at[okl] = '/';
        at += okl + 1;
        put_str(&at, oname, onl);
    }
    const cJSON *gen = cJSON_GetObjectItemCaseSensitive(meta, "generation");
    o->generation = cJSON_IsNumber(gen) ? (int64_t)gen->valuedouble : 0;
    const char *dts = str_of(meta, "deletionTimestamp");
    if (dts && time_parse_rfc3339(dts, &o->deletion_ms))
        o->deletion_ms = 1; /* unparsable but present: still "being deleted" */
    const cJSON *fins = cJSON_GetObjectItemCaseSensitive(meta, "finalizers"), *f;
    cJSON_ArrayForEach(f, fins)
    {
        o->finalizers |= 1;
        if (our_finalizer && cJSON_IsString(f) && !strcmp(f->valuestring, our_finalizer))
            o->finalizers |= 2;
        else
            o->finalizers |= 4;
    }
    return o;
}
