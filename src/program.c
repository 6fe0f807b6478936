/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include "ks_program.h"

#define DELETED_SUFFIX " (deleted)"

static bool is_component(const char *s, size_t len)
{
	if (len == 0)
		return false;
	if (s[0] == '.' && (len == 1 || (len == 2 && s[1] == '.')))
		return false;
	return true;
}

bool ks_program_valid(const char *s, size_t len)
{
	size_t i = 0;

	if (len == 0 || len > KS_PROGRAM_MAX)
		return false;
	for (size_t j = 0; j < len; j++)
		if ((unsigned char)s[j] <= ' ' || (unsigned char)s[j] == 0x7f)
			return false;
	if (s[0] != '/')
		return !memchr(s, '/', len) && is_component(s, len);
	/* Absolute: every component after a '/' must be a name. */
	while (i < len) {
		size_t j = i + 1;

		while (j < len && s[j] != '/')
			j++;
		if (!is_component(s + i + 1, j - i - 1))
			return false;
		i = j;
	}
	return true;
}

const char *ks_program_match(const struct ks_strlist *programs, const char *exe)
{
	size_t len, suffix = strlen(DELETED_SUFFIX), base;

	if (!programs || !exe)
		return NULL;
	len = strlen(exe);
	/* A binary replaced by a package upgrade is still the program. */
	if (len > suffix && strcmp(exe + len - suffix, DELETED_SUFFIX) == 0)
		len -= suffix;
	base = len;
	while (base > 0 && exe[base - 1] != '/')
		base--;

	for (size_t i = 0; i < programs->n; i++) {
		const char *entry = programs->v[i];
		size_t entry_len = strlen(entry);

		if (entry_len == 0)
			continue;
		if (entry[0] == '/') {
			if (entry_len == len && memcmp(entry, exe, len) == 0)
				return entry;
		} else if (entry_len == len - base && memcmp(entry, exe + base, entry_len) == 0) {
			return entry;
		}
	}
	return NULL;
}

const char *ks_program_base_name(const char *program)
{
	const char *slash = strrchr(program, '/');

	return slash ? slash + 1 : program;
}
