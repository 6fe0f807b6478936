/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ks_unitname.h"

#define SCOPE_PREFIX "keepsession-"
#define SCOPE_SUFFIX ".scope"
#define SLICE_SUFFIX ".slice"

/* Bytes systemd keeps as they are in an escaped name component. */
static bool is_plain_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == ':' || c == '_' || c == '.';
}

/* Characters systemd allows in the prefix of a plain unit name. */
static bool is_unit_char(unsigned char c)
{
	return is_plain_char(c) || c == '-' || c == '\\';
}

/* Length of one byte once escaped: 1 if kept or '/', else 4 (\xNN). */
static size_t escaped_char_len(unsigned char c, bool first)
{
	if (c == '/' || (is_plain_char(c) && !(first && c == '.')))
		return 1;
	return 4;
}

static char *escape_char(unsigned char c, bool first, char *out)
{
	static const char hex[] = "0123456789abcdef";

	if (c == '/') {
		*out++ = '-';
	} else if (is_plain_char(c) && !(first && c == '.')) {
		*out++ = (char)c;
	} else {
		*out++ = '\\';
		*out++ = 'x';
		*out++ = hex[c >> 4];
		*out++ = hex[c & 0xf];
	}
	return out;
}

static size_t escaped_len(const char *s)
{
	size_t len = 0;

	for (size_t i = 0; s[i]; i++)
		len += escaped_char_len((unsigned char)s[i], i == 0);
	return len;
}

static bool is_utf8_continuation(unsigned char c)
{
	return (c & 0xc0) == 0x80;
}

/*
 * Escapes as much of s as fits in limit bytes (no NUL written), cutting
 * only between whole escape sequences and, when it has to cut, never
 * inside a UTF-8 character, so that the shortened part still unescapes
 * to a valid prefix of the name. Returns the length written.
 */
static size_t escape_bounded(const char *s, char *buf, size_t limit)
{
	size_t len = 0, cut = 0, run = 0;

	for (size_t i = 0; s[i]; i++) {
		unsigned char c = (unsigned char)s[i];
		size_t n = escaped_char_len(c, i == 0);

		/* A character starts here, unless this continues one; more
		 * than 3 continuation bytes in a row are no UTF-8 anyway. */
		run = is_utf8_continuation(c) ? run + 1 : 0;
		if (run == 0 || run > 3)
			cut = len;
		if (len + n > limit)
			return cut;
		escape_char(c, i == 0, buf + len);
		len += n;
	}
	return len;
}

int ks_unit_name_escape(const char *s, char *buf, size_t size)
{
	size_t len;

	if (!s || !buf)
		return -EINVAL;
	len = escaped_len(s);
	if (len >= size || len > INT_MAX)
		return -ENAMETOOLONG;
	(void)escape_bounded(s, buf, len);
	buf[len] = '\0';
	return (int)len;
}

int ks_scope_name(const char *user, const char *program, pid_t pid, char *buf, size_t size)
{
	char name[KS_UNIT_NAME_MAX + 1];
	char digits[24];
	const char *base;
	size_t fixed, budget, user_len, prog_len, user_lim, prog_lim, len;
	int n;

	if (!user || !program || !buf || pid <= 0)
		return -EINVAL;

	base = strrchr(program, '/');
	base = base ? base + 1 : program;

	n = snprintf(digits, sizeof(digits), "%d", (int)pid);
	if (n < 0 || (size_t)n >= sizeof(digits))
		return -EINVAL;

	/* "keepsession-" USER "-" PROGRAM "-" PID ".scope" */
	fixed = strlen(SCOPE_PREFIX) + 1 + 1 + (size_t)n + strlen(SCOPE_SUFFIX);
	budget = KS_UNIT_NAME_MAX - fixed;
	user_len = escaped_len(user);
	prog_len = escaped_len(base);

	/* Shorten only what is too long: a part under half the budget is
	 * kept whole and the other part gets the rest. */
	if (user_len + prog_len <= budget) {
		user_lim = user_len;
		prog_lim = prog_len;
	} else if (user_len <= budget / 2) {
		user_lim = user_len;
		prog_lim = budget - user_len;
	} else if (prog_len <= budget - budget / 2) {
		prog_lim = prog_len;
		user_lim = budget - prog_len;
	} else {
		user_lim = budget / 2;
		prog_lim = budget - user_lim;
	}

	len = strlen(SCOPE_PREFIX);
	memcpy(name, SCOPE_PREFIX, len);
	len += escape_bounded(user, name + len, user_lim);
	name[len++] = '-';
	len += escape_bounded(base, name + len, prog_lim);
	name[len++] = '-';
	memcpy(name + len, digits, (size_t)n);
	len += (size_t)n;
	memcpy(name + len, SCOPE_SUFFIX, strlen(SCOPE_SUFFIX));
	len += strlen(SCOPE_SUFFIX);
	name[len] = '\0';

	if (len >= size)
		return -ENAMETOOLONG;
	memcpy(buf, name, len + 1);
	return (int)len;
}

/*
 * As systemd's slice_name_is_valid(), except that the root slice "-.slice"
 * is refused: kept processes belong below a user slice, never in the
 * root. '%' is not a unit name character, so "%U" must be expanded first.
 */
int ks_slice_name_valid(const char *s)
{
	size_t len, prefix_len, suffix_len = strlen(SLICE_SUFFIX);
	bool dash = false;

	if (!s)
		return 0;
	len = strnlen(s, KS_UNIT_NAME_MAX + 1);
	if (len > KS_UNIT_NAME_MAX || len <= suffix_len)
		return 0;
	prefix_len = len - suffix_len;
	if (strcmp(s + prefix_len, SLICE_SUFFIX) != 0)
		return 0;

	for (size_t i = 0; i < prefix_len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!is_unit_char(c))
			return 0;
		if (c == '-') {
			/* No leading dash, no empty component ("a--b"). */
			if (i == 0 || dash)
				return 0;
			dash = true;
		} else {
			dash = false;
		}
	}
	/* Nor a trailing one: "a-.slice" names no parent. */
	return !dash;
}

/* Copies template into buf, each "%U" replaced by uid_text. Returns the
 * length, -EINVAL (another '%', a '\\'), or -ENAMETOOLONG (longer than a
 * unit name may be, or than buf). */
static int expand_template(const char *template, const char *uid_text, char *buf, size_t size)
{
	size_t n = 0;

	for (const char *p = template; *p; p++) {
		const char *piece = p;
		size_t len = 1;

		if (*p == '%') {
			if (p[1] != 'U')
				return -EINVAL;
			piece = uid_text;
			len = strlen(uid_text);
			p++;
		} else if (*p == '\\') {
			return -EINVAL;
		}
		if (len > KS_UNIT_NAME_MAX - n || len >= size - n)
			return -ENAMETOOLONG;
		memcpy(buf + n, piece, len);
		n += len;
	}
	buf[n] = '\0';
	return (int)n;
}

/* The template with the longest uid in place of "%U": 0, or -errno. */
static int check_template(const char *template)
{
	char expanded[KS_UNIT_NAME_MAX + 1];
	int n;

	if (!template)
		return -EINVAL;
	n = expand_template(template, "4294967295", expanded, sizeof(expanded));
	if (n < 0)
		return n;
	return ks_slice_name_valid(expanded) == 1 ? 0 : -EINVAL;
}

bool ks_slice_template_valid(const char *template)
{
	return check_template(template) == 0;
}

int ks_slice_expand(const char *template, uid_t uid, char *buf, size_t size)
{
	char digits[16];
	int r;

	if (!buf || size == 0)
		return -EINVAL;
	r = check_template(template);
	if (r < 0)
		return r;
	(void)snprintf(digits, sizeof(digits), "%" PRIu32, (uint32_t)uid);
	return expand_template(template, digits, buf, size);
}
