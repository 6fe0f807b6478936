/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <string.h>

#include "ks_json.h"

void ks_json_init(struct ks_json *j, FILE *f)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
	j->first[0] = true;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and what lies past U+10FFFF. */
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

void ks_json_escape(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', f);
	while (*p) {
		size_t n;

		switch (*p) {
		case '"':
			fputs("\\\"", f);
			p++;
			continue;
		case '\\':
			fputs("\\\\", f);
			p++;
			continue;
		case '\n':
			fputs("\\n", f);
			p++;
			continue;
		case '\t':
			fputs("\\t", f);
			p++;
			continue;
		default:
			break;
		}
		if (*p < 0x20 || *p == 0x7f) {
			fprintf(f, "\\u%04x", *p);
			p++;
			continue;
		}
		n = utf8_len(p);
		if (n == 0) {
			fputs("\\ufffd", f);
			p++;
			continue;
		}
		fwrite(p, 1, n, f);
		p += n;
	}
	fputc('"', f);
}

/* The comma and the key before a value. */
static void prefix(struct ks_json *j, const char *key)
{
	if (!j->first[j->depth])
		fputc(',', j->f);
	j->first[j->depth] = false;
	if (key) {
		ks_json_escape(j->f, key);
		fputc(':', j->f);
	}
}

void ks_json_open(struct ks_json *j, const char *key, char bracket)
{
	prefix(j, key);
	fputc(bracket, j->f);
	if (j->depth < KS_JSON_MAX_DEPTH)
		j->depth++;
	j->first[j->depth] = true;
}

void ks_json_close(struct ks_json *j, char bracket)
{
	fputc(bracket, j->f);
	if (j->depth > 0)
		j->depth--;
	if (j->depth == 0)
		fputc('\n', j->f);
}

void ks_json_str(struct ks_json *j, const char *key, const char *value)
{
	prefix(j, key);
	if (value)
		ks_json_escape(j->f, value);
	else
		fputs("null", j->f);
}

void ks_json_int(struct ks_json *j, const char *key, int64_t value)
{
	prefix(j, key);
	fprintf(j->f, "%" PRId64, value);
}

void ks_json_uint(struct ks_json *j, const char *key, uint64_t value)
{
	prefix(j, key);
	fprintf(j->f, "%" PRIu64, value);
}

void ks_json_bool(struct ks_json *j, const char *key, bool value)
{
	prefix(j, key);
	fputs(value ? "true" : "false", j->f);
}

void ks_json_null(struct ks_json *j, const char *key)
{
	prefix(j, key);
	fputs("null", j->f);
}

void ks_json_int_or_null(struct ks_json *j, const char *key, bool known, int64_t value)
{
	if (known)
		ks_json_int(j, key, value);
	else
		ks_json_null(j, key);
}

void ks_json_uint_or_null(struct ks_json *j, const char *key, bool known, uint64_t value)
{
	if (known)
		ks_json_uint(j, key, value);
	else
		ks_json_null(j, key);
}

void ks_json_bool_or_null(struct ks_json *j, const char *key, bool known, bool value)
{
	if (known)
		ks_json_bool(j, key, value);
	else
		ks_json_null(j, key);
}
