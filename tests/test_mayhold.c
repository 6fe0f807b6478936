/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The cheap check before the opt-in read: a session that runs none of the
 * admin's programs keeps nothing whatever ~/.keepsession says, so the
 * file (a forked read) is not read; every doubt reads it, as before.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fakeproc.h"
#include "ks_clock.h"
#include "ks_eligibility.h"
#include "ks_proctree.h"
#include "logcap.h"

#define USER_UID 1000
#define SESSION_CG "/user.slice/user-1000.slice/session-3.scope"

/* What the code under test reads while counting is on (link-time --wrap,
 * see the Makefile): bytes of any cgroup.procs, and exe links. */
static bool counting;
static size_t procs_bytes;
static unsigned exe_reads;

ssize_t __real_read(int fd, void *buf, size_t size);
ssize_t __wrap_read(int fd, void *buf, size_t size);
ssize_t __real___read_chk(int fd, void *buf, size_t size, size_t buflen);
ssize_t __wrap___read_chk(int fd, void *buf, size_t size, size_t buflen);
ssize_t __real_readlinkat(int dirfd, const char *path, char *buf, size_t size);
ssize_t __wrap_readlinkat(int dirfd, const char *path, char *buf, size_t size);
ssize_t __real___readlinkat_chk(int dirfd, const char *path, char *buf, size_t size, size_t buflen);
ssize_t __wrap___readlinkat_chk(int dirfd, const char *path, char *buf, size_t size, size_t buflen);

static bool is_cgroup_procs(int fd)
{
	char link[64], target[PATH_MAX];
	ssize_t k;

	(void)snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	k = readlink(link, target, sizeof(target) - 1);
	if (k <= 0)
		return false;
	target[k] = '\0';
	return k >= 13 && strcmp(target + k - 13, "/cgroup.procs") == 0;
}

static ssize_t count_read(int fd, ssize_t k)
{
	if (counting && k > 0 && is_cgroup_procs(fd))
		procs_bytes += (size_t)k;
	return k;
}

ssize_t __wrap_read(int fd, void *buf, size_t size)
{
	return count_read(fd, __real_read(fd, buf, size));
}

ssize_t __wrap___read_chk(int fd, void *buf, size_t size, size_t buflen)
{
	return count_read(fd, __real___read_chk(fd, buf, size, buflen));
}

static void count_readlink(const char *path)
{
	size_t len = strlen(path);

	if (counting && len >= 4 && strcmp(path + len - 4, "/exe") == 0)
		exe_reads++;
}

ssize_t __wrap_readlinkat(int dirfd, const char *path, char *buf, size_t size)
{
	count_readlink(path);
	return __real_readlinkat(dirfd, path, buf, size);
}

ssize_t __wrap___readlinkat_chk(int dirfd, const char *path, char *buf, size_t size, size_t buflen)
{
	count_readlink(path);
	return __real___readlinkat_chk(dirfd, path, buf, size, buflen);
}

/* ks_session_may_hold() with the counters on. */
static int may_hold_counted(const struct ks_scan *scan)
{
	int r;

	procs_bytes = 0;
	exe_reads = 0;
	counting = true;
	r = ks_session_may_hold(scan);
	counting = false;
	return r;
}

static const struct ks_user alice = {
	.name = "alice", .uid = USER_UID, .gid = USER_UID, .home = "/home/alice"
};

struct fx {
	struct fakeproc fp;
	struct ks_config c;
	struct ks_scan scan;
	struct ks_eligibility_io io;
	struct ks_strlist programs;
	struct ks_user u;
	struct logcap cap;
	struct ks_log log;
	unsigned reads, checks, likely, lookups;
	unsigned lookups_at_check; /* user lookups done when may_hold was asked */
	unsigned reads_at_likely;  /* opt-in reads done when likely was called */
	enum ks_optin_status optin;
	const char *lines;
};

static int lookup(void *ctx, const char *name, struct ks_user *u)
{
	struct fx *fx = ctx;

	fx->lookups++;
	if (strcmp(name, alice.name) != 0)
		return -ENOENT;
	*u = alice;
	return 0;
}

static enum ks_optin_status counting_read(void *ctx, const struct ks_user *u, const char *path,
					  struct ks_strlist *lines, const struct ks_log *log)
{
	struct fx *fx = ctx;

	(void)u;
	(void)path;
	(void)log;
	fx->reads++;
	ks_strlist_clear(lines);
	if (fx->optin == KS_OPTIN_OK && fx->lines)
		assert_int_equal(ks_strlist_add_split(lines, fx->lines), 0);
	return fx->optin;
}

/* The glue's and the guard's may_hold, on the fake session. */
static int fake_may_hold(void *ctx, const struct ks_strlist *programs)
{
	struct fx *fx = ctx;
	struct ks_scan scan = fx->scan;

	fx->checks++;
	fx->lookups_at_check = fx->lookups;
	scan.programs = programs;
	return ks_session_may_hold(&scan);
}

/* The glue begins reaching systemd here. */
static void count_likely(void *ctx, const struct ks_user *u)
{
	struct fx *fx = ctx;

	assert_string_equal(u->name, "alice");
	fx->likely++;
	fx->reads_at_likely = fx->reads;
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	assert_int_equal(ks_config_init(&fx->c), 0);
	fakeproc_init(&fx->fp, SESSION_CG);
	ks_strlist_clear(&fx->c.commands);
	assert_int_equal(ks_strlist_add_split(&fx->c.commands, "tmux,/usr/bin/screen"), 0);
	assert_int_equal(ks_strlist_add_split(&fx->c.users, "*"), 0);
	fx->scan = (struct ks_scan){
		.proc_root = fx->fp.proc,
		.cgroup_root = fx->fp.cgroot,
		.cgroup = SESSION_CG,
		.uid = USER_UID,
		.programs = &fx->c.commands,
	};
	fx->io = (struct ks_eligibility_io){
		.lookup_user = lookup,
		.ctx = fx,
		.read_optin = counting_read,
		.optin_ctx = fx,
		.may_hold = fake_may_hold,
		.hold_ctx = fx,
		.likely = count_likely,
		.likely_ctx = fx,
	};
	fx->optin = KS_OPTIN_ABSENT;
	/* The login shell and sshd's session process: in every session. */
	fake_proc(&fx->fp, 100, 1, 0, "/usr/sbin/sshd");
	fake_proc(&fx->fp, 101, 100, USER_UID, "/bin/bash");
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	if (fx->cap.n > 0)
		logcap_dump(&fx->cap);
	ks_strlist_clear(&fx->programs);
	ks_config_free(&fx->c);
	fakeproc_remove(&fx->fp);
	free(fx);
	return 0;
}

static bool eligible(struct fx *fx)
{
	fx->log = logcap_log(&fx->cap);
	fx->reads = fx->checks = fx->likely = fx->lookups = 0;
	return ks_eligible(&fx->c, "alice", &fx->io, &fx->u, &fx->programs, &fx->log);
}

/* Nothing of the admin's list runs: not kept, and the file is not read. */
static void test_nothing_running_no_read(void **state)
{
	struct fx *fx = *state;

	fx->optin = KS_OPTIN_OK; /* what it would say: never asked */
	fx->lines = "tmux";
	assert_int_equal(ks_session_may_hold(&fx->scan), 0);
	assert_false(eligible(fx));
	assert_int_equal(fx->checks, 1);
	assert_int_equal(fx->reads, 0);
	assert_int_equal(fx->programs.n, 0);
	assert_int_equal(logcap_count(&fx->cap, "alice is not kept"), 1);
	fx->cap.n = 0;

	/* May opt in, not listed: the same. */
	ks_strlist_clear(&fx->c.users);
	fx->c.optin = true;
	assert_false(eligible(fx));
	assert_int_equal(fx->checks, 1);
	assert_int_equal(fx->reads, 0);
	fx->cap.n = 0;
}

/* A tmux runs: the file is read, and decides as it always did. */
static void test_match_reads(void **state)
{
	struct fx *fx = *state;

	fake_proc(&fx->fp, 200, 1, USER_UID, "/usr/bin/tmux");
	fx->optin = KS_OPTIN_OK;
	fx->lines = "tmux";
	assert_int_equal(ks_session_may_hold(&fx->scan), 1);
	assert_true(eligible(fx));
	assert_int_equal(fx->reads, 1);
	assert_int_equal(fx->programs.n, 1);
	assert_string_equal(fx->programs.v[0], "tmux");
	fx->cap.n = 0;

	/* The file still narrows: screen only, and tmux is what runs. */
	fx->lines = "/usr/bin/screen";
	assert_true(eligible(fx));
	assert_int_equal(fx->reads, 1);
	assert_string_equal(fx->programs.v[0], "/usr/bin/screen");
	fx->cap.n = 0;
}

/* What counts as a match: the full scan's rule, whatever the uid (an
 * over-approximation only costs the read), in a sub-cgroup too. */
static void test_match_rules(void **state)
{
	struct fx *fx = *state;

	/* A path entry matches that path only. */
	fake_proc(&fx->fp, 300, 1, USER_UID, "/opt/bin/screen");
	assert_int_equal(ks_session_may_hold(&fx->scan), 0);
	/* No exe link (a kernel thread, a zombie): no program. */
	fake_proc(&fx->fp, 301, 1, USER_UID, NULL);
	assert_int_equal(ks_session_may_hold(&fx->scan), 0);
	/* Replaced by an upgrade: still the program. */
	fake_proc_ex(&fx->fp, &(struct fake){ .pid = 302,
					      .ppid = 1,
					      .uid = 0,
					      .exe = "/usr/bin/screen (deleted)",
					      .cgroup = "sub" });
	assert_int_equal(ks_session_may_hold(&fx->scan), 1);
}

/* A large session is not read through: the check gives up, and the file
 * is read as before. KS_MAY_HOLD_MAX_PROCS processes are still checked. */
static void test_give_up_bound(void **state)
{
	struct fx *fx = *state;

	for (pid_t pid = 1000; pid < 1000 + KS_MAY_HOLD_MAX_PROCS - 2; pid++)
		fake_proc(&fx->fp, pid, 101, USER_UID, "/bin/sleep");
	assert_int_equal(ks_session_may_hold(&fx->scan), 0);
	assert_false(eligible(fx));
	assert_int_equal(fx->reads, 0);
	fx->cap.n = 0;

	fake_proc(&fx->fp, 5000, 101, USER_UID, "/bin/sleep");
	assert_int_equal(ks_session_may_hold(&fx->scan), 1);
	assert_true(eligible(fx)); /* listed, no file: the admin's list, as before */
	assert_int_equal(fx->reads, 1);
	fx->cap.n = 0;
}

/* A session of thousands of processes: the check stops reading its
 * cgroup.procs at the cut (one 4 KiB read of the walk holds it, of a
 * 34 KiB file), looks at no exe link, and cannot tell. The counters are
 * shown to count first, on a small session read through. */
static void test_large_session_not_read_through(void **state)
{
	enum { FIRST = 100000, MANY = 5000 }; /* 7 bytes a line */
	struct fx *fx = *state;
	char dir[PATH_MAX], path[PATH_MAX];
	size_t len = 0, small;
	struct stat st;
	char *lines = malloc(MANY * 8);

	assert_non_null(lines);
	cgroup_dir(&fx->fp, NULL, dir, sizeof(dir));
	fp_path_join(path, sizeof(path), "%s/cgroup.procs", dir);
	assert_int_equal(stat(path, &st), 0);
	small = (size_t)st.st_size;
	assert_int_equal(may_hold_counted(&fx->scan), 0);
	assert_int_equal(procs_bytes, small);
	assert_int_equal(exe_reads, 2); /* sshd's and bash's */

	/* Past the cut, tmux: were its exe link read, the answer would
	 * still be 1, but exe_reads would say so. */
	for (pid_t pid = FIRST; pid < FIRST + MANY; pid++)
		len += (size_t)sprintf(lines + len, "%d\n", (int)pid);
	fp_write_bytes(path, lines, len, true);
	free(lines);
	for (pid_t pid = 1000 + KS_MAY_HOLD_MAX_PROCS; pid < 1000 + KS_MAY_HOLD_MAX_PROCS + 4;
	     pid++)
		fake_proc_ex(&fx->fp, &(struct fake){ .pid = pid,
						      .ppid = 101,
						      .uid = USER_UID,
						      .exe = "/usr/bin/tmux",
						      .outside = true });
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(may_hold_counted(&fx->scan), 1);
	assert_true(procs_bytes > 0);
	assert_true(procs_bytes <= 4096);
	assert_true(procs_bytes < (size_t)st.st_size / 8);
	assert_int_equal(exe_reads, 0);
	/* Cannot tell: the file is read, as for any doubt. */
	assert_true(eligible(fx));
	assert_int_equal(fx->reads, 1);
	fx->cap.n = 0;
}

/* Cannot tell: the file is read, as before. */
static void test_unreadable_cgroup_reads(void **state)
{
	struct fx *fx = *state;

	fx->scan.cgroup = "/user.slice/user-1000.slice/session-9.scope";
	assert_int_equal(ks_session_may_hold(&fx->scan), 1);
	fx->optin = KS_OPTIN_OK;
	fx->lines = "tmux";
	assert_true(eligible(fx));
	assert_int_equal(fx->reads, 1);
	fx->cap.n = 0;

	fx->scan.cgroup = SESSION_CG;
	fx->scan.proc_root = "/nonexistent/proc";
	assert_int_equal(ks_session_may_hold(&fx->scan), 1);
}

static void test_past_deadline_may(void **state)
{
	struct fx *fx = *state;

	fx->scan.deadline = 1; /* long past */
	assert_int_equal(ks_session_may_hold(&fx->scan), 1);
}

/* user_commands: the user's lines are kept as they are, not among the
 * admin's programs; only the file can tell, so it is always read. */
static void test_user_commands_always_read(void **state)
{
	struct fx *fx = *state;

	fx->c.user_commands = true;
	fx->optin = KS_OPTIN_OK;
	fx->lines = "zellij";
	fake_proc(&fx->fp, 200, 1, USER_UID, "/usr/bin/zellij");
	assert_true(eligible(fx));
	assert_int_equal(fx->checks, 0);
	assert_int_equal(fx->reads, 1);
	assert_string_equal(fx->programs.v[0], "zellij");
	fx->cap.n = 0;
}

/* The cheap part first: a denied or not allowed user is not scanned. */
static void test_not_allowed_not_scanned(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(ks_strlist_add_split(&fx->c.deny, "alice"), 0);
	assert_false(eligible(fx));
	assert_int_equal(fx->checks, 0);
	assert_int_equal(fx->reads, 0);
	fx->cap.n = 0;

	ks_strlist_clear(&fx->c.deny);
	ks_strlist_clear(&fx->c.users);
	fx->c.optin = false;
	assert_false(eligible(fx));
	assert_int_equal(fx->checks, 0);
	assert_int_equal(fx->reads, 0);
	fx->cap.n = 0;
}

/* Without the seam (keepsession explain), the file is always read. */
static void test_no_seam_reads(void **state)
{
	struct fx *fx = *state;

	fx->io.may_hold = NULL;
	assert_true(eligible(fx)); /* listed, no file: the admin's list */
	assert_int_equal(fx->reads, 1);
	assert_int_equal(fx->programs.n, 2);
	fx->cap.n = 0;
}

/*
 * The full selection reads the exe link only where a match can change it:
 * not below a matched process, whose tree takes whatever runs there. Here
 * sshd's, bash's and tmux's, not those of the 40 processes in its pane;
 * a client on the session's terminal is transparent, so what runs below
 * it is read.
 */
static void test_selection_reads_exe_above_trees(void **state)
{
	struct fx *fx = *state;
	struct ks_selection sel = { 0 };

	fake_proc(&fx->fp, 200, 1, USER_UID, "/usr/bin/tmux");
	fake_proc(&fx->fp, 201, 200, USER_UID, "/bin/bash");
	for (pid_t pid = 202; pid < 242; pid++)
		fake_proc(&fx->fp, pid, 201, USER_UID, "/usr/bin/tmux");
	exe_reads = 0;
	counting = true;
	assert_int_equal(ks_select_trees(&fx->scan, &sel, NULL), 0);
	counting = false;
	assert_int_equal(exe_reads, 3);
	assert_int_equal(sel.n, 1);
	assert_int_equal(sel.trees[0].procs[0].pid, 200);
	assert_int_equal(sel.trees[0].n, 42);
	ks_selection_free(&sel);

	/* A tmux client on a login shell's terminal, with a child. */
	fake_proc_ex(&fx->fp, &(struct fake){ .pid = 300,
					      .ppid = 100,
					      .uid = USER_UID,
					      .tty = 34816,
					      .exe = "/bin/bash" });
	fake_proc_ex(&fx->fp, &(struct fake){ .pid = 301,
					      .ppid = 300,
					      .uid = USER_UID,
					      .sid = 300,
					      .tty = 34816,
					      .exe = "/usr/bin/tmux" });
	fake_proc_ex(&fx->fp, &(struct fake){ .pid = 302,
					      .ppid = 301,
					      .uid = USER_UID,
					      .sid = 300,
					      .exe = "/usr/bin/tmux" });
	exe_reads = 0;
	counting = true;
	assert_int_equal(ks_select_trees(&fx->scan, &sel, NULL), 0);
	counting = false;
	/* sshd, bash, tmux 200, the second shell, the client; then, as
	 * the client is transparent, the server below it. */
	assert_int_equal(exe_reads, 6);
	assert_int_equal(sel.n, 2);
	assert_int_equal(sel.trees[0].procs[0].pid, 200);
	assert_int_equal(sel.trees[1].procs[0].pid, 302);
	ks_selection_free(&sel);
}

/*
 * "likely" (where the glue begins reaching systemd) is called once, before
 * the opt-in read, when the session runs one of the admin's programs;
 * never when it runs none, nor when the user's own commands count
 * (may_hold is not asked), nor for a user the lists do not let through.
 */
static void test_likely_before_read(void **state)
{
	struct fx *fx = *state;

	assert_false(eligible(fx));
	assert_int_equal(fx->likely, 0);

	fake_proc(&fx->fp, 200, 1, USER_UID, "/usr/bin/tmux");
	fx->optin = KS_OPTIN_OK;
	fx->lines = "tmux";
	assert_true(eligible(fx));
	assert_int_equal(fx->likely, 1);
	assert_int_equal(fx->reads, 1);
	assert_int_equal(fx->reads_at_likely, 0);

	fx->c.user_commands = true;
	assert_true(eligible(fx));
	assert_int_equal(fx->likely, 0);

	fx->c.user_commands = false;
	ks_strlist_clear(&fx->c.users);
	fx->c.optin = false;
	assert_false(eligible(fx));
	assert_int_equal(fx->checks, 0);
	assert_int_equal(fx->likely, 0);
	fx->cap.n = 0;
}

/*
 * Lists that cannot tell users apart (none, or users = *): the session is
 * looked at before the user is, and a logout with none of the programs
 * running costs no lookup (NSS). Not even an unknown user is an error
 * then: nothing was to be kept.
 */
static void test_no_lists_no_lookup(void **state)
{
	struct fx *fx = *state;

	/* users = * (the fixture's): listed whoever logs out. */
	assert_false(eligible(fx));
	assert_int_equal(fx->checks, 1);
	assert_int_equal(fx->lookups, 0);
	assert_int_equal(logcap_count(&fx->cap, "alice is not kept: the session runs none"), 1);
	fx->cap.n = 0;

	/* No list, optin = yes: anyone may opt in. */
	ks_strlist_clear(&fx->c.users);
	fx->c.optin = true;
	assert_false(eligible(fx));
	assert_int_equal(fx->checks, 1);
	assert_int_equal(fx->lookups, 0);
	fx->cap.n = 0;

	fx->log = logcap_log(&fx->cap);
	assert_false(ks_eligible(&fx->c, "nobody-here", &fx->io, &fx->u, &fx->programs, &fx->log));
	assert_int_equal(logcap_count(&fx->cap, "cannot look up"), 0);
	fx->cap.n = 0;

	/* A tmux runs: the user is looked up once, after the session. */
	fake_proc(&fx->fp, 200, 1, USER_UID, "/usr/bin/tmux");
	fx->optin = KS_OPTIN_OK;
	assert_true(eligible(fx));
	assert_int_equal(fx->checks, 1);
	assert_int_equal(fx->lookups_at_check, 0);
	assert_int_equal(fx->lookups, 1);
	assert_int_equal(fx->likely, 1);
	fx->cap.n = 0;
}

/* Lists that name users: the user first, the session after. */
static void test_lists_lookup_first(void **state)
{
	struct fx *fx = *state;

	ks_strlist_clear(&fx->c.users);
	assert_int_equal(ks_strlist_add_split(&fx->c.users, "alice,@staff"), 0);
	assert_false(eligible(fx));
	assert_int_equal(fx->lookups, 1);
	assert_int_equal(fx->checks, 1);
	assert_int_equal(fx->lookups_at_check, 1);
	fx->cap.n = 0;

	/* A deny list alone, users = *: the user decides too. */
	ks_strlist_clear(&fx->c.users);
	assert_int_equal(ks_strlist_add_split(&fx->c.users, "*"), 0);
	assert_int_equal(ks_strlist_add_split(&fx->c.deny, "bob"), 0);
	assert_false(eligible(fx));
	assert_int_equal(fx->lookups_at_check, 1);
	fx->cap.n = 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_nothing_running_no_read),
		T(test_likely_before_read),
		T(test_no_lists_no_lookup),
		T(test_lists_lookup_first),
		T(test_match_reads),
		T(test_match_rules),
		T(test_give_up_bound),
		T(test_large_session_not_read_through),
		T(test_unreadable_cgroup_reads),
		T(test_past_deadline_may),
		T(test_user_commands_always_read),
		T(test_not_allowed_not_scanned),
		T(test_no_seam_reads),
		T(test_selection_reads_exe_above_trees),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
