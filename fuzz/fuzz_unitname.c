/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit names are built from the user name and the program's file name,
 * which the user chooses (a binary can be called anything): whatever the
 * bytes, the name must be one systemd takes, fit KS_UNIT_NAME_MAX, and
 * unescape back to what was escaped.
 *
 * Input: 4 bytes of pid, then "user\0program", then the rest is tried as
 * a slice name and as a slice template (the pid's bytes as its uid).
 */
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "ks_unitname.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool is_plain(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == ':' || c == '_' || c == '.';
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * Undoes ks_unit_name_escape() on s[0..len): asserts that it holds only
 * plain characters, '-' and whole \xNN, and that \xNN is used only where
 * escaping was needed. Returns the unescaped length written to out.
 */
static size_t unescape(const char *s, size_t len, char *out)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '-') {
			out[n++] = '/';
		} else if (s[i] == '\\') {
			int hi, lo;
			char c;

			assert(i + 3 < len);
			assert(s[i + 1] == 'x');
			hi = hex_value(s[i + 2]);
			lo = hex_value(s[i + 3]);
			assert(hi >= 0 && lo >= 0);
			c = (char)(hi * 16 + lo);
			/* Canonical: kept characters are never escaped, except
			 * a leading '.'. */
			assert(!(is_plain(c) && !(n == 0 && c == '.')) && c != '/');
			out[n++] = c;
			i += 3;
		} else {
			assert(is_plain(s[i]));
			assert(!(n == 0 && s[i] == '.'));
			out[n++] = s[i];
		}
	}
	out[n] = '\0';
	return n;
}

static void fuzz_escape(const char *s)
{
	static char buf[4 * 4096 + 1], back[4 * 4096 + 1];
	size_t len = strlen(s);
	int r;

	r = ks_unit_name_escape(s, buf, sizeof(buf));
	if (len * 4 < sizeof(buf))
		assert(r >= 0);
	if (r < 0) {
		assert(r == -ENAMETOOLONG);
		return;
	}
	assert((size_t)r == strlen(buf));
	assert(unescape(buf, (size_t)r, back) == len);
	assert(memcmp(back, s, len) == 0);

	/* One byte short of room must fail, not cut. */
	if (r > 0)
		assert(ks_unit_name_escape(s, buf, (size_t)r) == -ENAMETOOLONG);
}

static size_t escaped_len(const char *s)
{
	static char buf[4 * 4096 + 1];
	int r = ks_unit_name_escape(s, buf, sizeof(buf));

	return r < 0 ? SIZE_MAX : (size_t)r;
}

/* Is a a prefix of b? */
static bool is_prefix(const char *a, size_t a_len, const char *b)
{
	return a_len <= strlen(b) && memcmp(a, b, a_len) == 0;
}

static void fuzz_scope(const char *user, const char *program, pid_t pid)
{
	static char name[KS_UNIT_NAME_MAX + 1], back[KS_UNIT_NAME_MAX + 1];
	const char *base = strrchr(program, '/'), *p, *dash, *dot;
	char digits[24];
	size_t len, user_len, prog_len, user_esc, prog_esc;
	int r;

	base = base ? base + 1 : program;
	r = ks_scope_name(user, program, pid, name, sizeof(name));
	if (pid <= 0) {
		assert(r == -EINVAL);
		return;
	}
	/* Always fits: over-long parts are shortened, never refused. */
	assert(r > 0 && (size_t)r <= KS_UNIT_NAME_MAX);
	len = (size_t)r;
	assert(strlen(name) == len);
	assert(strncmp(name, "keepsession-", 12) == 0);
	assert(len > 6 && strcmp(name + len - 6, ".scope") == 0);

	/* From the right: "-PID.scope", then the program, which is a file
	 * name and so never escapes to a '-'; the rest is the user. */
	dot = name + len - 6;
	for (dash = dot; dash[-1] != '-'; dash--)
		;
	(void)snprintf(digits, sizeof(digits), "%d", (int)pid);
	assert((size_t)(dot - dash) == strlen(digits) && memcmp(dash, digits, strlen(digits)) == 0);
	dot = dash - 1; /* the '-' before the pid */
	for (p = dot; p[-1] != '-'; p--)
		;
	prog_len = unescape(p, (size_t)(dot - p), back);
	assert(!strchr(back, '/'));
	assert(is_prefix(back, prog_len, base));
	assert(p - 1 >= name + 12);
	user_len = unescape(name + 12, (size_t)(p - 1 - (name + 12)), back);
	assert(is_prefix(back, user_len, user));
	/* Shortened only when it had to be. */
	user_esc = escaped_len(user);
	prog_esc = escaped_len(base);
	if (user_esc != SIZE_MAX && prog_esc != SIZE_MAX &&
	    user_esc + prog_esc <= KS_UNIT_NAME_MAX - 20 - strlen(digits))
		assert(user_len == strlen(user) && prog_len == strlen(base));
}

/* Would systemd take s as a slice name? The rule, written out again. */
static bool slice_ok(const char *s)
{
	size_t len = strlen(s);

	if (len <= 6 || len > KS_UNIT_NAME_MAX || strcmp(s + len - 6, ".slice") != 0)
		return false;
	for (size_t i = 0; i < len - 6; i++) {
		if (!is_plain(s[i]) && s[i] != '-' && s[i] != '\\')
			return false;
		if (s[i] == '-' && (i == 0 || s[i - 1] == '-' || i == len - 7))
			return false;
	}
	return true;
}

/* The slice rule has one owner: what ks_slice_template_valid() accepts
 * (what config takes) expands for every uid to a name systemd takes, and
 * what it refuses never expands. */
static void fuzz_slice_template(const char *s, uint32_t uid)
{
	char buf[KS_UNIT_NAME_MAX + 1];
	int n = ks_slice_expand(s, (uid_t)uid, buf, sizeof(buf));

	if (!ks_slice_template_valid(s)) {
		assert(n < 0);
		return;
	}
	assert(n > 0 && (size_t)n == strlen(buf) && slice_ok(buf));
	assert(ks_slice_expand(s, (uid_t)UINT32_MAX, buf, sizeof(buf)) > 0 && slice_ok(buf));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy, *user, *program, *rest;
	int32_t pid = 0;
	size_t n;
	int r;

	if (size < sizeof(pid))
		return -1;
	memcpy(&pid, data, sizeof(pid));
	data += sizeof(pid);
	size -= sizeof(pid);

	/* Three NUL-terminated strings out of the rest. */
	copy = malloc(size + 3);
	assert(copy);
	memcpy(copy, data, size);
	copy[size] = copy[size + 1] = copy[size + 2] = '\0';
	user = copy;
	n = strlen(user);
	program = user + n + (n < size ? 1 : 0);
	n = strlen(program);
	rest = program + n + (program + n < copy + size ? 1 : 0);

	fuzz_escape(user);
	fuzz_escape(program);
	fuzz_scope(user, program, (pid_t)pid);

	r = ks_slice_name_valid(rest);
	assert(r == 0 || r == 1);
	assert((r == 1) == slice_ok(rest));
	fuzz_slice_template(rest, (uint32_t)pid);

	free(copy);
	return 0;
}
