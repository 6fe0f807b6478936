/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A growable list of owned strings: config lists, program names, module
 * arguments. */
#ifndef KS_STRLIST_H
#define KS_STRLIST_H

#include <stdbool.h>
#include <stddef.h>

/* A growable list of owned strings (config lists, program names). */
struct ks_strlist {
	char **v;
	size_t n;
};

/* Appends a copy of s (first len bytes). Returns 0 or -ENOMEM. */
int ks_strlist_add(struct ks_strlist *l, const char *s, size_t len);
/* Splits a comma- and/or blank-separated value and appends each item. */
int ks_strlist_add_split(struct ks_strlist *l, const char *value);
bool ks_strlist_contains(const struct ks_strlist *l, const char *s);
void ks_strlist_clear(struct ks_strlist *l);
/* Replaces dst's content by a copy of src. Returns 0 or -ENOMEM (dst then empty). */
int ks_strlist_copy(struct ks_strlist *dst, const struct ks_strlist *src);

#endif
