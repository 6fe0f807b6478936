/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fakeproc.h"
#include "ks_explain.h"
#include "logcap.h"

/* The fake opt-in file: what the reader answers, and how often it ran. */
struct world {
	enum ks_optin_status status;
	const char *lines[4];
	const char *problem; /* logged by the reader, like ks_optin_read */
	unsigned reads;
	uid_t read_as;
};

static enum ks_membership in_group(void *ctx, const struct ks_user *u, const char *group)
{
	(void)ctx;
	if (strcmp(group, "gone") == 0)
		return KS_MEMBER_UNKNOWN;
	return strcmp(group, "keepers") == 0 && strcmp(u->name, "carol") == 0 ? KS_MEMBER_YES :
										KS_MEMBER_NO;
}

/* Every name is a user with uid 1234 and home /home/u, but "ghost". */
static int lookup_user(void *ctx, const char *name, struct ks_user *u)
{
	(void)ctx;
	if (strcmp(name, "ghost") == 0)
		return -ENOENT;
	*u = (struct ks_user){ .name = name, .uid = 1234, .gid = 1234, .home = "/home/u" };
	return 0;
}

static enum ks_optin_status reader(void *ctx, const struct ks_user *u, const char *path,
				   struct ks_strlist *lines, const struct ks_log *log)
{
	struct world *w = ctx;

	w->reads++;
	w->read_as = u->uid;
	assert_string_equal(path, "/home/u/.keepsession");
	for (size_t i = 0; i < 4 && w->lines[i]; i++)
		assert_int_equal(ks_strlist_add(lines, w->lines[i], strlen(w->lines[i])), 0);
	if (w->problem)
		ks_log(log, LOG_WARNING, "%s", w->problem);
	return w->status;
}

struct fixture {
	struct ks_config c;
	struct world w;
	struct ks_explanation e;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || ks_config_init(&f->c) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ks_explanation_free(&f->e);
	ks_config_free(&f->c);
	free(f);
	return 0;
}

static int explain(struct fixture *f, const char *name)
{
	const struct ks_eligibility_io io = {
		.lookup_user = lookup_user,
		.in_group = in_group,
		.read_optin = reader,
		.optin_ctx = &f->w,
	};

	ks_explanation_free(&f->e);
	return ks_explain(&f->c, name, &io, &f->e);
}

static void set(struct fixture *f, const char *key, const char *value)
{
	assert_int_equal(ks_config_set(&f->c, key, value, "test", 1, NULL), 0);
}

static void test_opted_in(void **state)
{
	struct fixture *f = *state;

	f->w.status = KS_OPTIN_OK;
	assert_int_equal(explain(f, "alice"), 0);
	assert_true(f->e.kept);
	assert_int_equal(f->e.reason, KS_REASON_OPTED_IN);
	assert_string_equal(ks_reason_name(f->e.reason), "opted-in");
	assert_string_equal(f->e.name, "alice");
	assert_true(ks_strlist_contains(&f->e.programs, "tmux"));
	assert_int_equal(f->w.reads, 1);
	assert_int_equal(f->w.read_as, 1234);

	/* Narrowed to the admin's commands it names. */
	f->w.lines[0] = "screen";
	f->w.lines[1] = "vim";
	assert_int_equal(explain(f, "alice"), 0);
	assert_true(f->e.kept);
	assert_int_equal(f->e.programs.n, 1);
	assert_string_equal(f->e.programs.v[0], "screen");

	f->w.lines[0] = "vim";
	f->w.lines[1] = NULL;
	assert_int_equal(explain(f, "alice"), 0);
	assert_false(f->e.kept);
	assert_int_equal(f->e.reason, KS_REASON_NO_PROGRAMS);
}

static void test_not_opted_in_and_refused(void **state)
{
	struct fixture *f = *state;

	f->w.status = KS_OPTIN_ABSENT;
	assert_int_equal(explain(f, "bob"), 0);
	assert_false(f->e.kept);
	assert_int_equal(f->e.reason, KS_REASON_NOT_OPTED_IN);
	assert_int_equal(f->e.programs.n, 0);

	f->w.status = KS_OPTIN_REFUSED;
	f->w.problem = "/home/u/.keepsession ignored: not owned by the user";
	assert_int_equal(explain(f, "bob"), 0);
	assert_false(f->e.kept);
	assert_int_equal(f->e.reason, KS_REASON_OPTIN_REFUSED);
	assert_int_equal(f->e.optin_problems.n, 1);
	assert_string_equal(f->e.optin_problems.v[0], f->w.problem);

	/* Lines, but none a program: nothing kept, and why. */
	f->w.status = KS_OPTIN_NONE_VALID;
	f->w.problem = NULL;
	assert_int_equal(explain(f, "bob"), 0);
	assert_false(f->e.kept);
	assert_int_equal(f->e.reason, KS_REASON_NO_PROGRAMS);

	/* No such user: said, nothing read. */
	f->w.reads = 0;
	assert_int_equal(explain(f, "ghost"), -ENOENT);
	assert_false(f->e.kept);
	assert_null(f->e.name);
	assert_int_equal(f->e.problems.n, 1);
	assert_non_null(strstr(f->e.problems.v[0], "cannot look up user ghost"));
	assert_int_equal(f->w.reads, 0);
}

static void test_lists(void **state)
{
	struct fixture *f = *state;

	f->w.status = KS_OPTIN_OK;
	set(f, "deny", "dave");
	assert_int_equal(explain(f, "dave"), 0);
	assert_false(f->e.kept);
	assert_int_equal(f->e.reason, KS_REASON_DENIED);
	assert_string_equal(f->e.entry, "dave");
	assert_int_equal(f->w.reads, 0); /* denied: the file is never read */

	set(f, "users", "erin, @keepers");
	f->w.status = KS_OPTIN_ABSENT;
	assert_int_equal(explain(f, "carol"), 0);
	assert_true(f->e.kept);
	assert_int_equal(f->e.reason, KS_REASON_GROUP);
	assert_string_equal(f->e.entry, "@keepers");
	assert_int_equal(explain(f, "erin"), 0);
	assert_int_equal(f->e.reason, KS_REASON_LISTED);
	assert_string_equal(f->e.entry, "erin");

	/* A group that cannot be looked up lists no one, and says so. */
	set(f, "users", "@gone");
	assert_int_equal(explain(f, "carol"), 0);
	assert_int_equal(f->e.reason, KS_REASON_NOT_OPTED_IN);
	assert_int_equal(f->e.problems.n, 1);
	assert_non_null(strstr(f->e.problems.v[0], "gone"));

	set(f, "users", "*");
	assert_int_equal(explain(f, "frank"), 0);
	assert_true(f->e.kept);
	assert_int_equal(f->e.reason, KS_REASON_ALL);

	set(f, "users", "erin");
	set(f, "optin", "no");
	f->w.status = KS_OPTIN_OK;
	assert_int_equal(explain(f, "alice"), 0);
	assert_false(f->e.kept);
	assert_int_equal(f->e.reason, KS_REASON_OPTIN_OFF);
	assert_string_equal(ks_reason_name(f->e.reason), "optin-off");
	assert_string_equal(ks_reason_name((enum ks_reason)99), "unknown");
}

/* The dry run reads the session's scope where logind puts it, selects as
 * the module does, and changes nothing it read. */
static void test_dry_run(void **state)
{
	static const char session_cg[] = "/user.slice/user-1000.slice/session-7.scope";
	struct ks_strlist programs = { 0 };
	struct ks_selection sel;
	struct fakeproc fp;
	char cgroup[256], procs[PATH_MAX], before[256] = "", after[256] = "";
	FILE *f;

	(void)state;
	fakeproc_init(&fp, session_cg);
	fake_proc(&fp, 100, 1, 1000, "/usr/bin/bash");    /* the login shell */
	fake_proc(&fp, 200, 1, 1000, "/usr/bin/tmux");    /* the server */
	fake_proc(&fp, 201, 200, 1000, "/usr/bin/bash");  /* its pane */
	fake_proc(&fp, 202, 201, 1000, "/usr/bin/sleep"); /* and a job */
	fake_proc(&fp, 300, 1, 0, "/usr/bin/tmux");       /* root's: never */
	assert_int_equal(ks_strlist_add_split(&programs, "tmux,screen"), 0);
	fp_path_join(procs, sizeof(procs), "%s%s/cgroup.procs", fp.cgroot, session_cg);
	f = fopen(procs, "r");
	assert_non_null(f);
	assert_int_equal(fread(before, 1, sizeof(before) - 1, f) > 0, 1);
	fclose(f);

	assert_int_equal(
		ks_dry_run(fp.proc, fp.cgroot, 1000, "7", &programs, &sel, cgroup, sizeof(cgroup)),
		0);
	assert_string_equal(cgroup, session_cg);
	assert_int_equal(sel.n, 1);
	assert_string_equal(sel.trees[0].program, "tmux");
	assert_int_equal(sel.trees[0].procs[0].pid, 200);
	assert_int_equal(sel.trees[0].n, 3);
	ks_selection_free(&sel);

	f = fopen(procs, "r");
	assert_non_null(f);
	assert_int_equal(fread(after, 1, sizeof(after) - 1, f) > 0, 1);
	fclose(f);
	assert_string_equal(before, after);

	/* Another session of the user: no such scope. */
	assert_true(ks_dry_run(fp.proc, fp.cgroot, 1000, "8", &programs, &sel, cgroup,
			       sizeof(cgroup)) < 0);
	assert_int_equal(sel.n, 0);
	/* Ids that would name another cgroup are refused before any read. */
	assert_int_equal(ks_dry_run(fp.proc, fp.cgroot, 1000, "../../x", &programs, &sel, cgroup,
				    sizeof(cgroup)),
			 -EINVAL);
	assert_int_equal(
		ks_dry_run(fp.proc, fp.cgroot, 1000, "", &programs, &sel, cgroup, sizeof(cgroup)),
		-EINVAL);
	ks_strlist_clear(&programs);
	fakeproc_remove(&fp);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_opted_in),
		T(test_not_opted_in_and_refused),
		T(test_lists),
		cmocka_unit_test(test_dry_run),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
