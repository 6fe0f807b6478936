/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ks_unitname.h"

static void assert_escape(const char *in, const char *expected)
{
	char buf[1024];
	int r = ks_unit_name_escape(in, buf, sizeof(buf));

	assert_int_equal(r, (int)strlen(expected));
	assert_string_equal(buf, expected);
}

/* Expected values are what systemd-escape (systemd 252) prints. */
static void test_escape_like_systemd(void **state)
{
	(void)state;
	assert_escape("tmux", "tmux");
	assert_escape("", "");
	assert_escape("Az09:_.", "Az09:_.");
	assert_escape("a/b/c", "a-b-c");
	assert_escape("-a/b.c", "\\x2da-b.c");
	assert_escape(".hidden", "\\x2ehidden");
	assert_escape("a.b.", "a.b.");
	assert_escape("a\\b", "a\\x5cb");
	assert_escape("a b", "a\\x20b");
	assert_escape("a@b%c", "a\\x40b\\x25c");
	assert_escape("\xc3\xa9", "\\xc3\\xa9");
	assert_escape("\x01\x7f\xff", "\\x01\\x7f\\xff");
	assert_escape("\n", "\\x0a");
}

static void test_escape_buffer_bounds(void **state)
{
	char buf[8];

	(void)state;
	/* "a\x2db" is 6 bytes: needs 7 with the NUL. */
	assert_int_equal(ks_unit_name_escape("a-b", buf, 7), 6);
	assert_string_equal(buf, "a\\x2db");
	assert_int_equal(ks_unit_name_escape("a-b", buf, 6), -ENAMETOOLONG);
	assert_int_equal(ks_unit_name_escape("", buf, 1), 0);
	assert_int_equal(ks_unit_name_escape("", buf, 0), -ENAMETOOLONG);
	assert_int_equal(ks_unit_name_escape(NULL, buf, sizeof(buf)), -EINVAL);
}

/*
 * A scope name systemd would take: unit name characters only, every '\'
 * starting a whole \xNN, at most KS_UNIT_NAME_MAX long, ".scope" suffix.
 */
static void assert_valid_scope(const char *s)
{
	size_t len = strlen(s);

	assert_true(len <= KS_UNIT_NAME_MAX);
	assert_true(len > strlen(".scope"));
	assert_string_equal(s + len - strlen(".scope"), ".scope");
	for (size_t i = 0; i < len - strlen(".scope"); i++) {
		char c = s[i];

		if (c == '\\') {
			assert_true(i + 3 < len);
			assert_int_equal(s[i + 1], 'x');
			assert_non_null(strchr("0123456789abcdef", s[i + 2]));
			assert_non_null(strchr("0123456789abcdef", s[i + 3]));
			assert_true(s[i + 2] != '\0' && s[i + 3] != '\0');
			i += 3;
			continue;
		}
		assert_true((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == ':' || c == '_' || c == '.' || c == '-');
	}
}

/* Splits "keepsession-USER-PROGRAM-PID.scope" at its unescaped dashes:
 * escaped parts never hold a '-' of their own. */
static void split_scope(const char *s, char *user, char *program, char *pid)
{
	const char *p = s + strlen("keepsession-");
	const char *d1, *d2, *dot;

	assert_memory_equal(s, "keepsession-", strlen("keepsession-"));
	d1 = strchr(p, '-');
	assert_non_null(d1);
	d2 = strchr(d1 + 1, '-');
	assert_non_null(d2);
	dot = strstr(d2, ".scope");
	assert_non_null(dot);
	assert_null(strchr(d2 + 1, '-'));
	memcpy(user, p, (size_t)(d1 - p));
	user[d1 - p] = '\0';
	memcpy(program, d1 + 1, (size_t)(d2 - d1 - 1));
	program[d2 - d1 - 1] = '\0';
	memcpy(pid, d2 + 1, (size_t)(dot - d2 - 1));
	pid[dot - d2 - 1] = '\0';
}

static void test_scope_name_plain(void **state)
{
	char buf[KS_UNIT_NAME_MAX + 1];

	(void)state;
	assert_int_equal(ks_scope_name("alice", "tmux", 1234, buf, sizeof(buf)),
			 (int)strlen("keepsession-alice-tmux-1234.scope"));
	assert_string_equal(buf, "keepsession-alice-tmux-1234.scope");

	/* An absolute program entry names the scope by its base name. */
	assert_true(ks_scope_name("alice", "/usr/local/bin/tmux", 7, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "keepsession-alice-tmux-7.scope");

	/* Dashes and dots in names are escaped so the parts stay apart. */
	assert_true(ks_scope_name("john-doe", ".mosh-server", 42, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "keepsession-john\\x2ddoe-\\x2emosh\\x2dserver-42.scope");
	assert_valid_scope(buf);

	assert_true(ks_scope_name("bob", "", 5, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "keepsession-bob--5.scope");
	assert_true(ks_scope_name("bob", "/usr/bin/", 5, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "keepsession-bob--5.scope");

	assert_true(ks_scope_name("b\xc3\xb6rje", "t\xc3\xa9rm", INT_MAX, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "keepsession-b\\xc3\\xb6rje-t\\xc3\\xa9rm-2147483647.scope");
	assert_valid_scope(buf);
}

static void test_scope_name_errors(void **state)
{
	char buf[KS_UNIT_NAME_MAX + 1];

	(void)state;
	assert_int_equal(ks_scope_name(NULL, "tmux", 1, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(ks_scope_name("a", NULL, 1, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(ks_scope_name("a", "tmux", 0, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(ks_scope_name("a", "tmux", -5, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(ks_scope_name("a", "tmux", 1, NULL, sizeof(buf)), -EINVAL);
	/* "keepsession-a-tmux-1.scope" is 26 bytes. */
	assert_int_equal(ks_scope_name("a", "tmux", 1, buf, 26), -ENAMETOOLONG);
	assert_int_equal(ks_scope_name("a", "tmux", 1, buf, 27), 26);
}

static void fill(char *s, const char *unit, size_t count)
{
	size_t len = strlen(unit);

	for (size_t i = 0; i < count; i++)
		memcpy(s + i * len, unit, len);
	s[count * len] = '\0';
}

/* 32-byte user names of characters that all need escaping still fit whole. */
static void test_scope_name_weird_user(void **state)
{
	char user[33], expected[200], out[KS_UNIT_NAME_MAX + 1];
	char u[300], p[300], pid[16];

	(void)state;
	fill(user, "-", 32);
	fill(expected, "\\x2d", 32);
	assert_true(ks_scope_name(user, "tmux", 4194304, out, sizeof(out)) > 0);
	assert_valid_scope(out);
	split_scope(out, u, p, pid);
	assert_string_equal(u, expected);
	assert_string_equal(p, "tmux");
	assert_string_equal(pid, "4194304");

	fill(user, "\xff", 32);
	fill(expected, "\\xff", 32);
	assert_true(ks_scope_name(user, "screen", 99, out, sizeof(out)) > 0);
	assert_valid_scope(out);
	split_scope(out, u, p, pid);
	assert_string_equal(u, expected);
	assert_string_equal(p, "screen");
}

static void test_scope_name_long_program(void **state)
{
	char program[256], full[1100], user[200], out[KS_UNIT_NAME_MAX + 1];
	char u[300], p[300], pid[16];
	int r;

	(void)state;
	/* 255 plain characters: cut to what fits, user and pid intact. */
	fill(program, "a", 255);
	r = ks_scope_name("alice", program, 123456, out, sizeof(out));
	assert_int_equal(r, KS_UNIT_NAME_MAX);
	assert_int_equal(strlen(out), KS_UNIT_NAME_MAX);
	assert_valid_scope(out);
	split_scope(out, u, p, pid);
	assert_string_equal(u, "alice");
	assert_string_equal(pid, "123456");
	assert_memory_equal(p, program, strlen(p));

	/* 255 characters that escape to 4 each: cut between escapes only. */
	fill(program, "@", 255);
	fill(full, "\\x40", 255);
	r = ks_scope_name("alice", program, 123456, out, sizeof(out));
	assert_true(r > 0 && r <= KS_UNIT_NAME_MAX);
	assert_int_equal(r, (int)strlen(out));
	assert_valid_scope(out);
	split_scope(out, u, p, pid);
	assert_string_equal(u, "alice");
	assert_int_equal(strlen(p) % 4, 0);
	assert_true(strlen(p) > KS_UNIT_NAME_MAX - 40);
	assert_memory_equal(p, full, strlen(p));

	/* Long user and long program: both shortened, neither to nothing. */
	fill(user, "%", 100);
	r = ks_scope_name(user, program, 1, out, sizeof(out));
	assert_true(r > 0 && r <= KS_UNIT_NAME_MAX);
	assert_valid_scope(out);
	split_scope(out, u, p, pid);
	assert_true(strlen(u) >= 100 && strlen(p) >= 100);
	assert_int_equal(strlen(u) % 4, 0);
	assert_int_equal(strlen(p) % 4, 0);
	assert_string_equal(pid, "1");

	/* A short user keeps its whole name while the program is cut. */
	fill(user, "\\", 20);
	r = ks_scope_name(user, program, 1, out, sizeof(out));
	assert_true(r > 0 && r <= KS_UNIT_NAME_MAX);
	split_scope(out, u, p, pid);
	fill(full, "\\x5c", 20);
	assert_string_equal(u, full);
}

/* Cutting a UTF-8 name never leaves half a character. */
static void test_scope_name_long_utf8(void **state)
{
	char program[400], out[KS_UNIT_NAME_MAX + 1];
	char u[300], p[300], pid[16];

	(void)state;
	fill(program, "\xe2\x82\xac", 85); /* 85 euro signs, 255 bytes */
	assert_true(ks_scope_name("alice", program, 1000, out, sizeof(out)) > 0);
	assert_valid_scope(out);
	split_scope(out, u, p, pid);
	assert_true(strlen(p) > 0);
	assert_int_equal(strlen(p) % 12, 0);
	assert_memory_equal(p, "\\xe2\\x82\\xac", 12);

	fill(program, "\xc3\xa9", 120);
	assert_true(ks_scope_name("alice", program, 1000, out, sizeof(out)) > 0);
	split_scope(out, u, p, pid);
	assert_int_equal(strlen(p) % 8, 0);

	/* Not UTF-8 at all (continuation bytes only): still cut, not emptied. */
	fill(program, "\x80", 255);
	assert_true(ks_scope_name("alice", program, 1000, out, sizeof(out)) > 0);
	assert_valid_scope(out);
	split_scope(out, u, p, pid);
	assert_true(strlen(p) > 100);
}

static void test_slice_name_valid(void **state)
{
	char name[300];

	(void)state;
	assert_true(ks_slice_name_valid("user.slice"));
	assert_true(ks_slice_name_valid("user-1000.slice"));
	assert_true(ks_slice_name_valid("a-b-c.slice"));
	assert_true(ks_slice_name_valid("keep\\x2dme.slice"));
	assert_true(ks_slice_name_valid("a:b_c.d.slice"));

	assert_false(ks_slice_name_valid(NULL));
	assert_false(ks_slice_name_valid(""));
	assert_false(ks_slice_name_valid(".slice"));
	assert_false(ks_slice_name_valid("-.slice"));
	assert_false(ks_slice_name_valid("-user.slice"));
	assert_false(ks_slice_name_valid("user-.slice"));
	assert_false(ks_slice_name_valid("user--1000.slice"));
	assert_false(ks_slice_name_valid("user.service"));
	assert_false(ks_slice_name_valid("user"));
	assert_false(ks_slice_name_valid("user.slice.d"));
	assert_false(ks_slice_name_valid("user-%U.slice"));
	assert_false(ks_slice_name_valid("a b.slice"));
	assert_false(ks_slice_name_valid("a/b.slice"));
	assert_false(ks_slice_name_valid("a@b.slice"));
	assert_false(ks_slice_name_valid("\xc3\xa9.slice"));
	assert_false(ks_slice_name_valid("a\n.slice"));

	/* 255 bytes is the most systemd takes. */
	memset(name, 'a', 249);
	strcpy(name + 249, ".slice");
	assert_int_equal(strlen(name), KS_UNIT_NAME_MAX);
	assert_true(ks_slice_name_valid(name));
	memset(name, 'a', 250);
	strcpy(name + 250, ".slice");
	assert_false(ks_slice_name_valid(name));
}

static void test_slice_template(void **state)
{
	static const char *const good[] = {
		"user-%U.slice", "keep.slice",        "a-b-%U.slice",       "%U.slice",
		"%U-%U.slice",   "my_keep:x.y.slice", "user-%U-keep.slice",
	};
	static const char *const bad[] = {
		"keep",         ".slice",         "-.slice",    "a--b.slice",
		"a-.slice",     "-a.slice",       "%u.slice",   "a%.slice",
		"a%%.slice",    "a%%b.slice",     "a b.slice",  "bad-%",
		"a\\x2d.slice", "\xc3\xbc.slice", "keep.scope", "keep.slice.d",
		"a/b.slice",    "a\nb.slice",     "",
	};
	char buf[KS_UNIT_NAME_MAX + 1];

	(void)state;
	assert_false(ks_slice_template_valid(NULL));
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (!ks_slice_template_valid(good[i]))
			fail_msg("template \"%s\" refused", good[i]);
		/* What is accepted expands, for the smallest and largest uid. */
		assert_true(ks_slice_expand(good[i], 0, buf, sizeof(buf)) > 0);
		assert_true(ks_slice_name_valid(buf));
		assert_true(ks_slice_expand(good[i], 4294967294U, buf, sizeof(buf)) > 0);
		assert_true(ks_slice_name_valid(buf));
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (ks_slice_template_valid(bad[i]))
			fail_msg("template \"%s\" accepted", bad[i]);
		/* What is refused does not expand, for any uid. */
		assert_int_equal(ks_slice_expand(bad[i], 1000, buf, sizeof(buf)), -EINVAL);
	}
}

static void test_slice_expand(void **state)
{
	char buf[KS_UNIT_NAME_MAX + 1], small[8], name[300];

	(void)state;
	assert_int_equal(ks_slice_expand("user-%U.slice", 1000, buf, sizeof(buf)), 15);
	assert_string_equal(buf, "user-1000.slice");
	assert_int_equal(ks_slice_expand("%U-%U.slice", 7, buf, sizeof(buf)), 9);
	assert_string_equal(buf, "7-7.slice");
	assert_int_equal(ks_slice_expand("user-%U.slice", 1000, small, sizeof(small)),
			 -ENAMETOOLONG);
	assert_int_equal(ks_slice_expand("user.slice", 0, NULL, 0), -EINVAL);

	/* "%U" counts as the longest uid: 255 bytes fit, one more does not,
	 * whatever the uid expanded this time. */
	memset(name, 'a', 239);
	strcpy(name + 239, "%U.slice");
	assert_true(ks_slice_template_valid(name));
	assert_int_equal(ks_slice_expand(name, 4294967295U, buf, sizeof(buf)), KS_UNIT_NAME_MAX);
	memset(name, 'a', 240);
	strcpy(name + 240, "%U.slice");
	assert_false(ks_slice_template_valid(name));
	assert_int_equal(ks_slice_expand(name, 0, buf, sizeof(buf)), -ENAMETOOLONG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_like_systemd),
		cmocka_unit_test(test_escape_buffer_bounds),
		cmocka_unit_test(test_scope_name_plain),
		cmocka_unit_test(test_scope_name_errors),
		cmocka_unit_test(test_scope_name_weird_user),
		cmocka_unit_test(test_scope_name_long_program),
		cmocka_unit_test(test_scope_name_long_utf8),
		cmocka_unit_test(test_slice_name_valid),
		cmocka_unit_test(test_slice_template),
		cmocka_unit_test(test_slice_expand),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
