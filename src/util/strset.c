#include "util/strset.h"

#include "util/hash.h"

#include <stdlib.h>
#include <string.h>

struct node {
    struct node *next;
    char key[];
};

struct strset {
    struct node **b;
    size_t nb, count;
};

struct strset *
strset_new(void)
{
    struct strset *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->nb = 64;
    s->b = calloc(s->nb, sizeof *s->b);
    if (!s->b) {
        free(s);
        return NULL;
    }
    return s;
}

void
strset_free(struct strset *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nb; i++)
        for (struct node *n = s->b[i], *next; n; n = next) {
            next = n->next;
            free(n);
        }
    free(s->b);
    free(s);
}

static struct node **
slot(const struct strset *s, const char *key)
{
    struct node **pp = &s->b[(size_t)hash_str(key) & (s->nb - 1)];
    while (*pp && strcmp((*pp)->key, key))
        pp = &(*pp)->next;
    return pp;
}

static void
grow(struct strset *s)
{
    size_t nb = s->nb * 2;
    struct node **b = calloc(nb, sizeof *b);
    if (!b)
        return;
    for (size_t i = 0; i < s->nb; i++)
        for (struct node *n = s->b[i], *next; n; n = next) {
            next = n->next;
            struct node **head = &b[(size_t)hash_str(n->key) & (nb - 1)];
            n->next = *head;
            *head = n;
        }
    free(s->b);
    s->b = b;
    s->nb = nb;
}

int
strset_add(struct strset *s, const char *key)
{
    if (*slot(s, key))
        return 0;
    if (s->count + 1 > s->nb)
        grow(s);
    size_t len = strlen(key);
    struct node *n = malloc(sizeof *n + len + 1);
    if (!n)
        return -1;
    memcpy(n->key, key, len + 1);
    struct node **head = &s->b[(size_t)hash_str(key) & (s->nb - 1)];
    n->next = *head;
    *head = n;
    s->count++;
    return 1;
}

bool
strset_has(const struct strset *s, const char *key)
{
    return *slot(s, key) != NULL;
}

bool
strset_del(struct strset *s, const char *key)
{
    struct node **pp = slot(s, key), *n = *pp;
    if (!n)
        return false;
    *pp = n->next;
    free(n);
    s->count--;
    return true;
}

size_t
strset_count(const struct strset *s)
{
    return s->count;
}
