/* Deterministic names for the objects an OMJob owns, and Kubernetes name checks.
 *
 * A child's name is a pure function of its parent's name and a suffix, so a restarted
 * operator computes the same name and an `AlreadyExists` means "adopt" (design invariant 1).
 * Long parents are shortened with a hash of the *whole* parent name, so two parents that
 * share a long prefix never map to the same child. */
#ifndef OMJ_CTL_NAMING_H
#define OMJ_CTL_NAMING_H

#include <stdbool.h>
#include <stdint.h>

#define NAMING_LABEL_MAX 63 /* DNS-1123 label, label value */
#define NAMING_SUBDOMAIN_MAX 253
#define NAMING_SUFFIX_MAX 32 /* longest suffix naming_child accepts */

/* "<parent>-<suffix>" when parent is a DNS-1123 label and the result fits 63 characters;
 * otherwise "<prefix>-<h>-<suffix>", where h is 8 hex digits of naming_hash(parent) and
 * prefix is the start of parent (lower-cased, characters outside [a-z0-9] turned into '-',
 * trimmed so that it starts and ends alphanumeric; omitted when nothing is left).
 * The result is always a DNS-1123 label (so also a valid pod name and label value).
 * suffix must be 1..NAMING_SUFFIX_MAX characters of [a-z0-9-] that start and end
 * alphanumeric. Returns 0 (plain), 1 (hashed) or -1 (empty parent, bad suffix; out = ""). */
int naming_child(char out[static NAMING_LABEL_MAX + 1], const char *parent, const char *suffix);

/* A label value for an arbitrary string: the value itself when it is a valid label value,
 * else "<prefix>-<h>" (prefix: the start of value with characters outside [A-Za-z0-9._-]
 * turned into '-', trimmed to start and end alphanumeric). Returns 0 (as is), 1 (hashed),
 * -1 (value NULL; out = ""). */
int naming_label_value(char out[static NAMING_LABEL_MAX + 1], const char *value);

/* FNV-1a, 64 bits: stable across builds and architectures (part of the naming contract). */
uint64_t naming_hash(const char *s);

/* [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters. */
bool naming_is_dns1123_label(const char *s);
/* Dot-separated DNS-1123 labels, at most 253 characters (as Kubernetes checks it). */
bool naming_is_dns1123_subdomain(const char *s);
/* Empty, or ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], at most 63 characters. */
bool naming_is_label_value(const char *s);
/* A label or annotation key: [prefix/]name, prefix a DNS-1123 subdomain, name 1..63
 * characters of the label-value alphabet that start and end alphanumeric. */
bool naming_is_qualified_name(const char *s);

#endif
