/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ks_strlist.h"

int ks_strlist_add(struct ks_strlist *l, const char *s, size_t len)
{
	char **v;
	char *copy;

	copy = strndup(s, len);
	if (!copy)
		return -ENOMEM;
	v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (!v) {
		free(copy);
		return -ENOMEM;
	}
	v[l->n++] = copy;
	l->v = v;
	return 0;
}

static int is_separator(char c)
{
	return c == ',' || c == ' ' || c == '\t';
}

int ks_strlist_add_split(struct ks_strlist *l, const char *value)
{
	const char *p = value;

	while (*p) {
		size_t len;
		int r;

		while (*p && is_separator(*p))
			p++;
		len = 0;
		while (p[len] && !is_separator(p[len]))
			len++;
		if (len == 0)
			break;
		r = ks_strlist_add(l, p, len);
		if (r < 0)
			return r;
		p += len;
	}
	return 0;
}

bool ks_strlist_contains(const struct ks_strlist *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return true;
	return false;
}

void ks_strlist_clear(struct ks_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int ks_strlist_copy(struct ks_strlist *dst, const struct ks_strlist *src)
{
	ks_strlist_clear(dst);
	for (size_t i = 0; i < src->n; i++) {
		if (ks_strlist_add(dst, src->v[i], strlen(src->v[i])) < 0) {
			ks_strlist_clear(dst);
			return -ENOMEM;
		}
	}
	return 0;
}
