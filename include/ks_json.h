/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The JSON writer of keepsession --json: nesting, commas and string
 * escaping, always valid output. */
#ifndef KS_JSON_H
#define KS_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/*
 * A small JSON writer for keepsession --json: objects and arrays nest up
 * to KS_JSON_MAX_DEPTH, commas are placed by the writer, strings are
 * escaped (quotes, backslash, control characters as \u00XX; bytes that
 * are not valid UTF-8 become U+FFFD, so the output is always valid JSON).
 */

#define KS_JSON_MAX_DEPTH 8

struct ks_json {
	FILE *f;
	unsigned depth;
	bool first[KS_JSON_MAX_DEPTH + 1]; /* nothing written yet at this level */
};

void ks_json_init(struct ks_json *j, FILE *f);

/* Containers: key is NULL inside an array or at the top. */
void ks_json_open(struct ks_json *j, const char *key, char bracket);
void ks_json_close(struct ks_json *j, char bracket);

void ks_json_str(struct ks_json *j, const char *key, const char *value); /* NULL: null */
void ks_json_int(struct ks_json *j, const char *key, int64_t value);
void ks_json_uint(struct ks_json *j, const char *key, uint64_t value);
void ks_json_bool(struct ks_json *j, const char *key, bool value);
void ks_json_null(struct ks_json *j, const char *key);
/* The value when known, else null: a setting or count that could not be read. */
void ks_json_int_or_null(struct ks_json *j, const char *key, bool known, int64_t value);
void ks_json_uint_or_null(struct ks_json *j, const char *key, bool known, uint64_t value);
void ks_json_bool_or_null(struct ks_json *j, const char *key, bool known, bool value);

/* Writes s as a JSON string literal, quotes included. */
void ks_json_escape(FILE *f, const char *s);

#endif
