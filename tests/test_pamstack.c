/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ks_pamstack.h"
#include "logcap.h"

struct fixture {
	struct scratch_log s;
	struct ks_pamstack stack;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || scratch_log_setup(&f->s) < 0) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ks_pamstack_free(&f->stack);
	scratch_log_teardown(&f->s);
	free(f);
	return 0;
}

static void put(struct fixture *f, const char *name, const char *text)
{
	char *path = scratch_write(f->s.dir, name, text, strlen(text), 0644);

	assert_non_null(path);
	free(path);
}

static int resolve(struct fixture *f, const char *service)
{
	ks_pamstack_free(&f->stack);
	return ks_pamstack_resolve(f->s.dir, service, &f->stack, &f->s.log);
}

/* "<base name of file>:<line> <module>" of stack line i. */
static void assert_line(const struct fixture *f, size_t i, const char *file, unsigned line,
			const char *module)
{
	const struct ks_pam_line *l;
	const char *base;

	assert_true(i < f->stack.n);
	l = &f->stack.lines[i];
	base = strrchr(l->file, '/');
	assert_string_equal(base ? base + 1 : l->file, file);
	assert_int_equal(l->line, line);
	assert_string_equal(l->module, module);
}

static const char common_session[] = "# common-session\n"
				     "session [default=1] pam_permit.so\n"
				     "session requisite pam_deny.so\n"
				     "session required pam_permit.so\n"
				     "session required pam_unix.so\n"
				     "session optional pam_systemd.so\n";

static void test_readme_placement(void **state)
{
	struct fixture *f = *state;
	const struct ks_pam_line *keep, *sd;

	put(f, "common-session", common_session);
	put(f, "sshd",
	    "# sshd\n"
	    "auth required pam_env.so\n"
	    "session optional pam_keepsession.so users=alice,@k  max_age=7d \n"
	    "@include common-session\n"
	    "session optional pam_motd.so\n");
	assert_int_equal(resolve(f, "sshd"), 0);
	assert_int_equal(f->stack.problems, 0);
	assert_int_equal(f->stack.n, 7);
	assert_line(f, 0, "sshd", 3, "pam_keepsession.so");
	assert_string_equal(f->stack.lines[0].args, "users=alice,@k  max_age=7d");
	assert_line(f, 1, "common-session", 2, "pam_permit.so");
	assert_string_equal(f->stack.lines[1].control, "[default=1]");
	assert_line(f, 5, "common-session", 6, "pam_systemd.so");
	assert_line(f, 6, "sshd", 5, "pam_motd.so");
	/* The systemd line came in through sshd:4. */
	assert_int_equal(f->stack.lines[5].top_line, 4);
	assert_non_null(strstr(f->stack.lines[5].top_file, "/sshd"));
	assert_int_equal(ks_pamstack_placement(&f->stack, &keep, &sd), KS_PLACEMENT_OK);
	assert_ptr_equal(keep, &f->stack.lines[0]);
	assert_ptr_equal(sd, &f->stack.lines[5]);
	assert_int_equal(f->s.cap.n, 0);
}

static void test_after_include(void **state)
{
	struct fixture *f = *state;
	const struct ks_pam_line *keep, *sd;

	put(f, "common-session", common_session);
	put(f, "sshd",
	    "@include common-session\n"
	    "session optional pam_keepsession.so\n");
	assert_int_equal(resolve(f, "sshd"), 0);
	assert_int_equal(ks_pamstack_placement(&f->stack, &keep, &sd), KS_PLACEMENT_AFTER);
	assert_int_equal(keep->line, 2);
	assert_int_equal(sd->line, 6);
	assert_int_equal(sd->top_line, 1);
}

static void test_include_and_substack(void **state)
{
	struct fixture *f = *state;
	const struct ks_pam_line *keep, *sd;

	/* Fedora-like: only the session lines of an "include" count. */
	put(f, "password-auth",
	    "auth required pam_env.so\n"
	    "session optional pam_keyinit.so revoke\n"
	    "-session optional pam_systemd.so\n");
	put(f, "sub", "session required pam_limits.so\n");
	put(f, "sshd",
	    "session optional pam_keepsession.so\n"
	    "session substack sub\n"
	    "session include password-auth\n"
	    "account include password-auth\n");
	assert_int_equal(resolve(f, "sshd"), 0);
	assert_int_equal(f->stack.problems, 0);
	assert_int_equal(f->stack.n, 4);
	assert_line(f, 1, "sub", 1, "pam_limits.so");
	assert_int_equal(f->stack.lines[1].top_line, 2);
	assert_line(f, 3, "password-auth", 3, "pam_systemd.so");
	assert_true(f->stack.lines[3].dash);
	assert_int_equal(ks_pamstack_placement(&f->stack, &keep, &sd), KS_PLACEMENT_OK);
	assert_int_equal(sd->top_line, 3);
}

static void test_comments_and_continuations(void **state)
{
	struct fixture *f = *state;

	put(f, "svc",
	    "   # indented comment\n"
	    "\n"
	    "session optional pam_keepsession.so # session required pam_systemd.so\n"
	    "session \\\n"
	    "    [success=ok  default=ignore] \\\n"
	    "    pam_systemd.so arg\n"
	    "session optional pam_x.so \\# continued? no: the comment ends it\n"
	    "session optional pam_y.so\n"
	    "SESSION optional pam_z.so\n"
	    "session optional [not-a-control] x\n");
	assert_int_equal(resolve(f, "svc"), 0);
	assert_int_equal(f->stack.problems, 0);
	assert_int_equal(f->stack.n, 6);
	assert_line(f, 0, "svc", 3, "pam_keepsession.so");
	assert_line(f, 1, "svc", 4, "pam_systemd.so");
	assert_string_equal(f->stack.lines[1].control, "[success=ok  default=ignore]");
	assert_string_equal(f->stack.lines[1].args, "arg");
	assert_string_equal(f->stack.lines[0].args, "");
	assert_line(f, 2, "svc", 7, "pam_x.so");
	assert_line(f, 3, "svc", 8, "pam_y.so");
	assert_line(f, 4, "svc", 9, "pam_z.so");
	/* Brackets group only in the control field. */
	assert_line(f, 5, "svc", 10, "[not-a-control]");
}

static void test_missing_files(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(resolve(f, "nosuch"), -ENOENT);
	assert_int_equal(f->stack.n, 0);
	assert_int_equal(logcap_count(&f->s.cap, "nosuch: cannot read"), 1);

	scratch_log_relog(&f->s);
	put(f, "svc",
	    "@include gone\n"
	    "session include /nonexistent/also-gone\n"
	    "session optional pam_keepsession.so\n");
	assert_int_equal(resolve(f, "svc"), 0);
	assert_int_equal(f->stack.problems, 2);
	assert_int_equal(f->stack.n, 1);
	assert_int_equal(logcap_count(&f->s.cap, "svc:1: cannot include"), 1);
	assert_int_equal(logcap_count(&f->s.cap, "svc:2: cannot include /nonexistent/also-gone"),
			 1);
	scratch_log_relog(&f->s);
}

static void test_loops_and_depth(void **state)
{
	struct fixture *f = *state;
	char name[32], text[64];

	put(f, "a", "session optional pam_a.so\n@include b\n");
	put(f, "b", "session include a\nsession optional pam_b.so\n");
	assert_int_equal(resolve(f, "a"), 0);
	assert_int_equal(f->stack.problems, 1);
	assert_int_equal(f->stack.n, 2);
	assert_int_equal(logcap_count(&f->s.cap, "b:1: include loop"), 1);

	/* A chain deeper than libpam would go: cut, logged once. */
	for (int i = 0; i < KS_PAMSTACK_MAX_DEPTH + 5; i++) {
		(void)snprintf(name, sizeof(name), "d%d", i);
		(void)snprintf(text, sizeof(text), "session optional pam_%d.so\n@include d%d\n", i,
			       i + 1);
		put(f, name, text);
	}
	scratch_log_relog(&f->s);
	assert_int_equal(resolve(f, "d0"), 0);
	assert_int_equal(f->stack.problems, 1);
	assert_int_equal(f->stack.n, KS_PAMSTACK_MAX_DEPTH + 1);
	assert_int_equal(logcap_count(&f->s.cap, "nested deeper than"), 1);
	scratch_log_relog(&f->s);
}

static void test_bad_lines_and_sizes(void **state)
{
	struct fixture *f = *state;
	char *big;
	size_t n = KS_PAMSTACK_MAX_FILE_SIZE + 10;

	big = malloc(n);
	assert_non_null(big);
	memset(big, '#', n);
	free(scratch_write(f->s.dir, "big", big, n, 0644));
	free(big);
	put(f, "svc",
	    "session optional\n"
	    "session [default=bad pam_x.so\n"
	    "@include\n"
	    "@include big\n"
	    "session optional pam_keepsession.so\n");
	assert_int_equal(resolve(f, "svc"), 0);
	assert_int_equal(f->stack.problems, 4);
	assert_int_equal(f->stack.n, 1);
	assert_int_equal(logcap_count(&f->s.cap, "svc:1: session line without"), 1);
	assert_int_equal(logcap_count(&f->s.cap, "svc:2: unclosed"), 1);
	assert_int_equal(logcap_count(&f->s.cap, "svc:3: @include without"), 1);
	assert_int_equal(logcap_count(&f->s.cap, "larger than 256 KiB"), 1);
	scratch_log_relog(&f->s);

	/* A directory where a file should be. */
	{
		char *dir = scratch_path(f->s.dir, "dir");

		assert_non_null(dir);
		assert_int_equal(mkdir(dir, 0755), 0);
		free(dir);
	}
	put(f, "svc2", "@include dir\nsession optional pam_keepsession.so\n");
	assert_int_equal(resolve(f, "svc2"), 0);
	assert_int_equal(f->stack.problems, 1);
	assert_int_equal(logcap_count(&f->s.cap, "svc2:1: cannot include"), 1);
	assert_int_equal(logcap_count(&f->s.cap, "not a regular file"), 1);
	scratch_log_relog(&f->s);
}

/* A tree of includes, levels deep, each level's file including the next
 * fan_out times; the last one holds leaf_lines session lines. */
static void put_tree(struct fixture *f, int levels, int fan_out, int leaf_lines)
{
	char name[32], *text;
	size_t size = 64 * (size_t)(fan_out > leaf_lines ? fan_out : leaf_lines) + 1;

	text = malloc(size);
	assert_non_null(text);
	for (int i = 0; i <= levels; i++) {
		size_t len = 0;

		for (int k = 0; i < levels && k < fan_out; k++)
			len += (size_t)snprintf(text + len, size - len, "session include l%d\n",
						i + 1);
		for (int k = 0; i == levels && k < leaf_lines; k++)
			len += (size_t)snprintf(text + len, size - len,
						"session optional pam_keepsession.so\n");
		text[len] = '\0';
		(void)snprintf(name, sizeof(name), "l%d", i);
		put(f, name, text);
	}
	free(text);
}

static void test_budget_wide_tree(void **state)
{
	struct fixture *f = *state;

	/* 8 includes a level, l1 to l17 within depth and free of loops: 8^16
	 * files to open without a total budget. The walk stops at the cap of
	 * files opened, says so once, and keeps what it found. */
	put_tree(f, 17, 8, 1);
	hang_guard(120);
	assert_int_equal(resolve(f, "l1"), 0);
	alarm(0);
	assert_int_equal(f->stack.files, KS_PAMSTACK_MAX_FILES);
	assert_true(f->stack.parsed <= KS_PAMSTACK_MAX_LINES);
	assert_int_equal(f->stack.problems, 1);
	assert_int_equal(f->s.cap.n, 1);
	assert_int_equal(logcap_count(&f->s.cap, ": more than 256 files read for one service"), 1);
	assert_true(f->stack.n > 0);
	assert_line(f, 0, "l17", 1, "pam_keepsession.so");
	scratch_log_relog(&f->s);

	/* From l0, l17 is one level too deep, under each of 8^16 branches:
	 * that cut is reported once too, then the cap of files. */
	hang_guard(120);
	assert_int_equal(resolve(f, "l0"), 0);
	alarm(0);
	assert_int_equal(f->stack.files, KS_PAMSTACK_MAX_FILES);
	assert_int_equal(f->stack.n, 0);
	assert_int_equal(f->stack.problems, 2);
	assert_int_equal(f->s.cap.n, 2);
	assert_int_equal(logcap_count(&f->s.cap, "l16:1: includes nested deeper than 16"), 1);
	assert_int_equal(logcap_count(&f->s.cap, "more than 256 files"), 1);
	scratch_log_relog(&f->s);

	/* 2 a level (the session lines would number 2^16): one line too. */
	put_tree(f, 17, 2, 1);
	assert_int_equal(resolve(f, "l1"), 0);
	assert_int_equal(f->stack.files, KS_PAMSTACK_MAX_FILES);
	assert_int_equal(f->stack.problems, 1);
	assert_int_equal(f->s.cap.n, 1);
	assert_int_equal(logcap_count(&f->s.cap, "more than 256 files"), 1);
	scratch_log_relog(&f->s);

	/* Each line includes the file itself: the loop is reported once. */
	put(f, "self", "@include self\n@include self\n@include self\n");
	assert_int_equal(resolve(f, "self"), 0);
	assert_int_equal(f->stack.problems, 1);
	assert_int_equal(f->s.cap.n, 1);
	assert_int_equal(logcap_count(&f->s.cap, "self:1: include loop"), 1);
	scratch_log_relog(&f->s);
}

static void test_budget_lines(void **state)
{
	struct fixture *f = *state;
	size_t size = 40 * (KS_PAMSTACK_MAX_LINES + 100), len = 0;
	char *text = malloc(size);

	/* Fewer files, many lines each: the cap of lines parsed stops it. */
	put_tree(f, 4, 2, 600);
	assert_int_equal(resolve(f, "l0"), 0);
	assert_true(f->stack.files < KS_PAMSTACK_MAX_FILES);
	assert_int_equal(f->stack.parsed, KS_PAMSTACK_MAX_LINES);
	assert_true(f->stack.n < KS_PAMSTACK_MAX_LINES);
	assert_int_equal(f->stack.problems, 1);
	assert_int_equal(f->s.cap.n, 1);
	assert_int_equal(logcap_count(&f->s.cap, ": more than 4096 lines read for one service"), 1);
	scratch_log_relog(&f->s);

	/* One file: the lines up to the cap are kept, then one line. */
	assert_non_null(text);
	for (int i = 0; i < KS_PAMSTACK_MAX_LINES + 100; i++)
		len += (size_t)snprintf(text + len, size - len, "session optional pam_%d.so\n", i);
	put(f, "svc", text);
	free(text);
	assert_int_equal(resolve(f, "svc"), 0);
	assert_int_equal(f->stack.files, 1);
	assert_int_equal(f->stack.n, KS_PAMSTACK_MAX_LINES);
	assert_int_equal(f->stack.problems, 1);
	assert_int_equal(f->s.cap.n, 1);
	assert_int_equal(logcap_count(&f->s.cap, "svc:4097: more than 4096 lines read"), 1);
	scratch_log_relog(&f->s);
}

static void test_placement_verdicts(void **state)
{
	struct fixture *f = *state;
	const struct ks_pam_line *keep, *sd;

	put(f, "none", "session optional pam_unix.so\n");
	assert_int_equal(resolve(f, "none"), 0);
	assert_int_equal(ks_pamstack_placement(&f->stack, &keep, &sd), KS_PLACEMENT_ABSENT);
	assert_null(keep);

	put(f, "nosd", "session optional /lib/security/pam_keepsession.so\n");
	assert_int_equal(resolve(f, "nosd"), 0);
	assert_int_equal(ks_pamstack_placement(&f->stack, &keep, &sd), KS_PLACEMENT_NO_SYSTEMD);
	assert_non_null(keep);
	assert_null(sd);
	assert_true(ks_pam_module_is("/usr/lib/x86_64-linux-gnu/security/pam_systemd.so",
				     "pam_systemd.so"));
	assert_false(ks_pam_module_is("pam_systemd_home.so", "pam_systemd.so"));
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_readme_placement),     T(test_after_include),
		T(test_include_and_substack), T(test_comments_and_continuations),
		T(test_missing_files),        T(test_loops_and_depth),
		T(test_bad_lines_and_sizes),  T(test_placement_verdicts),
		T(test_budget_wide_tree),     T(test_budget_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
