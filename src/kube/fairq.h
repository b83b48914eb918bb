/* A bounded fair queue: items in priority classes, and within a class one FIFO per key
 * (a namespace) served in turn, so one busy key cannot delay the others by more than one
 * item per round.
 *
 * pop() returns the oldest item of the next key in the lowest non-empty class. Items are
 * borrowed pointers (never freed here); a node handle lets the owner remove its item before
 * it is popped. At most max_items items are held: push() past it fails. Keys are copied. */
#ifndef OMJ_KUBE_FAIRQ_H
#define OMJ_KUBE_FAIRQ_H

#include <stddef.h>

#define FAIRQ_CLASSES 3

struct fairq;
struct fairq_node;

struct fairq *fairq_new(size_t max_items);
void fairq_free(struct fairq *q); /* drops the nodes, not the items */
/* Returns the node, or NULL when the queue is full, cls >= FAIRQ_CLASSES or memory ran out. */
struct fairq_node *fairq_push(struct fairq *q, unsigned cls, const char *key, void *item);
/* The next item, or NULL when empty. Its node is freed. */
void *fairq_pop(struct fairq *q);
/* Removes a node that has not been popped yet (and frees it). */
void fairq_remove(struct fairq *q, struct fairq_node *n);
size_t fairq_len(const struct fairq *q);
/* Items of one class waiting. */
size_t fairq_class_len(const struct fairq *q, unsigned cls);

#endif
