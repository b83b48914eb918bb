#include "kube/fairq.h"

#include "util/hash.h"

#include <stdlib.h>
#include <string.h>

#define NBUCKETS 256

struct bucket {
    struct bucket *hnext;          /* hash chain */
    struct bucket *rprev, *rnext;  /* the class's ring of keys with items */
    struct fairq_node *head, *tail;
    unsigned cls;
    char key[];
};

struct fairq_node {
    struct fairq_node *prev, *next;
    struct bucket *b;
    void *item;
};

struct fairq {
    struct bucket *hash[NBUCKETS];
    struct bucket *ring[FAIRQ_CLASSES]; /* the key served next */
    size_t len, max, class_len[FAIRQ_CLASSES];
};

struct fairq *
fairq_new(size_t max_items)
{
    struct fairq *q = calloc(1, sizeof *q);
    if (q)
        q->max = max_items;
    return q;
}

static size_t
slot(unsigned cls, const char *key)
{
    return (size_t)((hash_str(key) + cls) % NBUCKETS);
}

static void
bucket_drop(struct fairq *q, struct bucket *b)
{
    struct bucket **pp = &q->hash[slot(b->cls, b->key)];
    while (*pp != b)
        pp = &(*pp)->hnext;
    *pp = b->hnext;
    if (b->rnext == b) {
        q->ring[b->cls] = NULL;
    } else {
        b->rprev->rnext = b->rnext;
        b->rnext->rprev = b->rprev;
        if (q->ring[b->cls] == b)
            q->ring[b->cls] = b->rnext;
    }
    free(b);
}

void
fairq_free(struct fairq *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < NBUCKETS; i++) {
        while (q->hash[i]) {
            struct bucket *b = q->hash[i];
            q->hash[i] = b->hnext;
            for (struct fairq_node *n = b->head, *next; n; n = next) {
                next = n->next;
                free(n);
            }
            free(b);
        }
    }
    free(q);
}

struct fairq_node *
fairq_push(struct fairq *q, unsigned cls, const char *key, void *item)
{
    if (cls >= FAIRQ_CLASSES || q->len >= q->max)
        return NULL;
    if (!key)
        key = "";
    size_t s = slot(cls, key);
    struct bucket *b = q->hash[s];
    while (b && (b->cls != cls || strcmp(b->key, key)))
        b = b->hnext;
    struct fairq_node *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    if (!b) {
        size_t kl = strlen(key);
        b = calloc(1, sizeof *b + kl + 1);
        if (!b) {
            free(n);
            return NULL;
        }
        memcpy(b->key, key, kl + 1);
        b->cls = cls;
        b->hnext = q->hash[s];
        q->hash[s] = b;
        struct bucket *r = q->ring[cls];
        if (!r) {
            b->rprev = b->rnext = b;
            q->ring[cls] = b;
        } else { /* a new key goes last in the round */
            b->rnext = r;
            b->rprev = r->rprev;
            r->rprev->rnext = b;
            r->rprev = b;
        }
    }
    n->b = b;
    n->item = item;
    n->prev = b->tail;
    if (b->tail)
        b->tail->next = n;
    else
        b->head = n;
    b->tail = n;
    q->len++;
    q->class_len[cls]++;
    return n;
}

static void
unlink_node(struct fairq *q, struct fairq_node *n)
{
    struct bucket *b = n->b;
    if (n->prev)
        n->prev->next = n->next;
    else
        b->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        b->tail = n->prev;
    q->len--;
    q->class_len[b->cls]--;
    free(n);
    if (!b->head)
        bucket_drop(q, b);
}

void *
fairq_pop(struct fairq *q)
{
    for (unsigned c = 0; c < FAIRQ_CLASSES; c++) {
        struct bucket *b = q->ring[c];
        if (!b)
            continue;
        struct fairq_node *n = b->head;
        void *item = n->item;
        q->ring[c] = b->rnext; /* the next key's turn */
        unlink_node(q, n);
        return item;
    }
    return NULL;
}

void
fairq_remove(struct fairq *q, struct fairq_node *n)
{
    if (n)
        unlink_node(q, n);
}

size_t
fairq_len(const struct fairq *q)
{
    return q->len;
}

size_t
fairq_class_len(const struct fairq *q, unsigned cls)
{
    return cls < FAIRQ_CLASSES ? q->class_len[cls] : 0;
}
