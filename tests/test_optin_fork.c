/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The forked opt-in reader: whatever its child does (hangs, dies, lies,
 * lingers), the parent returns within the bound, with one line, and never
 * changes its own ids.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ks_clock.h"
#include "ks_optin_fork.h"
#include "logcap.h"

#define SECRET "s3cr3t"

struct fixture {
	struct scratch_log s;
	struct ks_user user;
	struct ks_strlist lines;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || scratch_log_setup(&f->s) < 0) {
		free(f);
		return -1;
	}
	/* We are the user already: the child needs no id change. */
	f->user = (struct ks_user){
		.name = "tester", .uid = getuid(), .gid = getgid(), .home = f->s.dir
	};
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ks_strlist_clear(&f->lines);
	scratch_log_teardown(&f->s);
	free(f);
	return 0;
}

static uint64_t mono_usec(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

static enum ks_optin_status read_with(struct fixture *f, const char *path, uint64_t timeout_usec,
				      ks_optin_child_fn child)
{
	const struct ks_optin_fork o = { .timeout_usec = timeout_usec, .child = child };
	uid_t ruid, euid, suid, r2, e2, s2;
	enum ks_optin_status status;

	scratch_log_relog(&f->s);
	assert_int_equal(getresuid(&ruid, &euid, &suid), 0);
	(void)ks_strlist_add(&f->lines, "stale", 5);
	status = ks_optin_read_forked((void *)&o, &f->user, path, &f->lines, &f->s.log);
	/* The parent never changes its own ids. */
	assert_int_equal(getresuid(&r2, &e2, &s2), 0);
	assert_true(r2 == ruid && e2 == euid && s2 == suid);
	assert_int_equal(logcap_count(&f->s.cap, SECRET), 0);
	return status;
}

static void assert_one_line(const struct fixture *f, const char *want)
{
	assert_int_equal(f->s.cap.n, 1);
	assert_int_equal(f->s.cap.prio[0], LOG_WARNING);
	if (!strstr(f->s.cap.line[0], want))
		fail_msg("expected \"%s\", got \"%s\"", want, f->s.cap.line[0]);
}

static void done(struct fixture *f)
{
	scratch_log_relog(&f->s);
}

/* ---- seams: children that misbehave ---- */

static int child_hangs(const struct ks_user *u, const char *path, int out_fd)
{
	(void)u;
	(void)path;
	(void)out_fd;
	for (;;)
		(void)pause();
	return 0; /* not reached */
}

static int child_says_nothing(const struct ks_user *u, const char *path, int out_fd)
{
	(void)u;
	(void)path;
	(void)out_fd;
	return 0;
}

static int child_killed(const struct ks_user *u, const char *path, int out_fd)
{
	(void)u;
	(void)path;
	(void)out_fd;
	(void)raise(SIGKILL);
	return 0;
}

/* Says 100 bytes follow, sends 5. */
static int child_short(const struct ks_user *u, const char *path, int out_fd)
{
	const struct ks_optin_fetched fetched = { .check = KS_OPTIN_CHECK_OK, .len = 100 };

	(void)u;
	(void)path;
	return write(out_fd, &fetched, sizeof(fetched)) != sizeof(fetched) ||
	       write(out_fd, "tmux\n", 5) != 5;
}

static int child_bad_check(const struct ks_user *u, const char *path, int out_fd)
{
	const struct ks_optin_fetched fetched = { .check = KS_OPTIN_CHECK_LAST + 1 };

	(void)u;
	(void)path;
	return ks_optin_child_answer(out_fd, &fetched, NULL) < 0 ? 1 : 0;
}

/* A refusal with content after it. */
static int child_refusal_and_more(const struct ks_user *u, const char *path, int out_fd)
{
	const struct ks_optin_fetched fetched = { .check = KS_OPTIN_CHECK_NOT_OWNED };

	(void)u;
	(void)path;
	return ks_optin_child_answer(out_fd, &fetched, NULL) < 0 || write(out_fd, "x", 1) != 1;
}

/* More than any file may hold. */
static int child_floods(const struct ks_user *u, const char *path, int out_fd)
{
	static char junk[4096];

	(void)u;
	(void)path;
	memset(junk, '#', sizeof(junk));
	for (;;)
		if (write(out_fd, junk, sizeof(junk)) < 0)
			return 1;
	return 0; /* not reached */
}

/* Answers properly, then lingers: killed and reaped, the answer stands. */
static int child_answers_then_hangs(const struct ks_user *u, const char *path, int out_fd)
{
	if (ks_optin_child(u, path, out_fd) != 0)
		return 1;
	(void)close(out_fd);
	for (;;)
		(void)pause();
	return 0; /* not reached */
}

/* ---- tests ---- */

/* Answers only when nothing but the standard three and its pipe, as fd 3,
 * is open: what the real child would hand the user otherwise. */
static int child_checks_fds(const struct ks_user *u, const char *path, int out_fd)
{
	if (out_fd != 3)
		return 3;
	for (int fd = 4; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			return 3;
	return ks_optin_child(u, path, out_fd);
}

static void test_bound(void **state)
{
	(void)state;
	assert_int_equal(ks_optin_fork_bound_usec(3000000), 1000000);
	assert_int_equal(ks_optin_fork_bound_usec(60000000), 1000000);
	assert_int_equal(ks_optin_fork_bound_usec(600000), 200000);
	assert_int_equal(ks_optin_fork_bound_usec(0), 0);
}

static void test_reads_file(void **state)
{
	struct fixture *f = *state;
	static const char text[] = "# mine\ntmux\n/usr/bin/screen\n";
	char *path = scratch_write(f->s.dir, ".keepsession", text, sizeof(text) - 1, 0644);

	assert_non_null(path);
	assert_int_equal(read_with(f, path, 3000000, NULL), KS_OPTIN_OK);
	assert_int_equal(f->lines.n, 2);
	assert_string_equal(f->lines.v[0], "tmux");
	assert_string_equal(f->lines.v[1], "/usr/bin/screen");
	assert_int_equal(f->s.cap.n, 0);
	free(path);
}

/* The parent's work while the child reads: one call, once the child
 * runs, with half the bound left to the read. */
struct meanwhile_seen {
	unsigned calls;
	uint64_t called_at, until;
	pid_t children; /* of the caller, counted at the call */
};

static void count_meanwhile(void *ctx, uint64_t until)
{
	struct meanwhile_seen *m = ctx;

	m->calls++;
	m->called_at = ks_now_usec();
	m->until = until;
	/* The child was forked already: there is one to wait for (looked at,
	 * not reaped: WNOWAIT). */
	siginfo_t si = { 0 };

	m->children = waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == 0;
}

static void test_meanwhile(void **state)
{
	struct fixture *f = *state;
	static const char text[] = "tmux\n";
	char *path = scratch_write(f->s.dir, ".keepsession", text, sizeof(text) - 1, 0644);
	struct meanwhile_seen seen = { 0 };
	const uint64_t timeout = 3000000;
	const struct ks_optin_fork o = {
		.timeout_usec = timeout,
		.meanwhile = count_meanwhile,
		.meanwhile_ctx = &seen,
	};
	uint64_t start = ks_now_usec();

	assert_non_null(path);
	assert_int_equal(ks_optin_read_forked((void *)&o, &f->user, path, &f->lines, &f->s.log),
			 KS_OPTIN_OK);
	assert_int_equal(seen.calls, 1);
	assert_int_equal(seen.children, 1);
	assert_true(seen.until > seen.called_at);
	assert_true(seen.until <= start + ks_optin_fork_bound_usec(timeout) / 2 + 1000);
	assert_int_equal(f->lines.n, 1);
	assert_string_equal(f->lines.v[0], "tmux");
	free(path);
}

/* The largest file there may be crosses the pipe whole (more than a
 * pipe's default 64 KiB buffer with the header). */
static void test_reads_largest_file(void **state)
{
	struct fixture *f = *state;
	char *text = malloc(KS_OPTIN_MAX_SIZE);
	char *path;

	assert_non_null(text);
	memset(text, '#', KS_OPTIN_MAX_SIZE);
	for (size_t i = 99; i < KS_OPTIN_MAX_SIZE; i += 100)
		text[i] = '\n';
	/* A sized buffer, no string: no NUL wanted. */
	// NOLINTNEXTLINE(bugprone-not-null-terminated-result)
	memcpy(text + KS_OPTIN_MAX_SIZE - 6, "\ntmux\n", 6);
	path = scratch_write(f->s.dir, ".keepsession", text, KS_OPTIN_MAX_SIZE, 0644);
	assert_non_null(path);
	assert_int_equal(read_with(f, path, 3000000, NULL), KS_OPTIN_OK);
	assert_int_equal(f->lines.n, 1);
	assert_string_equal(f->lines.v[0], "tmux");
	assert_int_equal(f->s.cap.n, 0);
	free(text);
	free(path);
}

static void test_absent_and_refused(void **state)
{
	struct fixture *f = *state;
	char *missing = scratch_path(f->s.dir, ".keepsession");
	char *other = scratch_write(f->s.dir, "other", SECRET "\n", 7, 0644);

	assert_non_null(missing);
	assert_int_equal(read_with(f, missing, 3000000, NULL), KS_OPTIN_ABSENT);
	assert_int_equal(f->lines.n, 0);
	assert_int_equal(f->s.cap.n, 0);

	/* The child's reason comes back as the same one line. */
	assert_int_equal(read_with(f, f->s.dir, 3000000, NULL), KS_OPTIN_REFUSED);
	assert_int_equal(f->lines.n, 0);
	assert_one_line(f, " ignored: not a regular file");
	assert_non_null(strstr(f->s.cap.line[0], f->s.dir));
	done(f);
	free(missing);
	free(other);
}

/* The FUSE case: a child that never answers costs the bound, one line. */
static void test_child_hangs(void **state)
{
	struct fixture *f = *state;
	char *path = scratch_path(f->s.dir, ".keepsession");
	uint64_t start = mono_usec();

	hang_guard(60);
	assert_int_equal(read_with(f, path, 600000, child_hangs), KS_OPTIN_REFUSED);
	alarm(0);
	/* Not a timing test: only that it did not wait for ever. */
	assert_true(mono_usec() - start < 30000000);
	assert_int_equal(f->lines.n, 0);
	assert_one_line(f, " ignored: no answer within 200 ms");
	/* The child is gone and reaped: no child of ours is left. */
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	done(f);
	free(path);
}

static void test_child_answers_then_lingers(void **state)
{
	struct fixture *f = *state;
	char *path = scratch_write(f->s.dir, ".keepsession", "tmux\n", 5, 0644);

	assert_non_null(path);
	hang_guard(60);
	assert_int_equal(read_with(f, path, 3000000, child_answers_then_hangs), KS_OPTIN_OK);
	alarm(0);
	assert_int_equal(f->lines.n, 1);
	assert_int_equal(f->s.cap.n, 0);
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	free(path);
}

/* A child that dies or lies (the user can signal it once it runs as
 * them): refused, one line, nothing of what it said used. */
static void test_child_dies_or_lies(void **state)
{
	struct fixture *f = *state;
	const ks_optin_child_fn bad[] = {
		child_says_nothing, child_killed,           child_short,
		child_bad_check,    child_refusal_and_more, child_floods,
	};
	char *path = scratch_path(f->s.dir, ".keepsession");

	hang_guard(60);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(read_with(f, path, 3000000, bad[i]), KS_OPTIN_REFUSED);
		assert_int_equal(f->lines.n, 0);
		assert_one_line(f, " ignored: the reader ended without an answer");
	}
	alarm(0);
	done(f);
	free(path);
}

/* An application that ignores SIGCHLD (or reaps every child itself): the
 * reader finds its child gone (ECHILD), and that is fine. */
static void test_child_reaped_elsewhere(void **state)
{
	struct fixture *f = *state;
	char *path = scratch_write(f->s.dir, ".keepsession", "tmux\n", 5, 0644);
	struct sigaction ign = { .sa_handler = SIG_IGN }, old;

	assert_non_null(path);
	assert_int_equal(sigaction(SIGCHLD, &ign, &old), 0);
	assert_int_equal(read_with(f, path, 3000000, NULL), KS_OPTIN_OK);
	assert_int_equal(sigaction(SIGCHLD, &old, NULL), 0);
	assert_int_equal(f->lines.n, 1);
	assert_int_equal(f->s.cap.n, 0);
	free(path);
}

/* sshd's descriptors (the client's socket, the monitor's pipes) do not
 * reach the child that runs as the user. */
static void test_child_keeps_no_descriptors(void **state)
{
	struct fixture *f = *state;
	char *path = scratch_write(f->s.dir, ".keepsession", "tmux\n", 5, 0644);
	int inherited = open("/dev/null", O_RDONLY); /* no O_CLOEXEC: a fork keeps it */

	assert_non_null(path);
	assert_true(inherited >= 0);
	assert_int_equal(read_with(f, path, 3000000, child_checks_fds), KS_OPTIN_OK);
	assert_int_equal(f->lines.n, 1);
	assert_int_equal(f->s.cap.n, 0);
	(void)close(inherited);
	free(path);
}

/*
 * The child drops to the user for real. As root: to nobody, who cannot
 * enter our 0700 scratch directory, so the open fails with EACCES. As a
 * user: another uid cannot be had, so the child refuses instead of
 * reading with the wrong ids.
 */
static void test_child_drops_privileges(void **state)
{
	struct fixture *f = *state;
	char *path = scratch_write(f->s.dir, ".keepsession", SECRET "\n", 7, 0644);

	assert_non_null(path);
	assert_int_equal(chmod(f->s.dir, 0700), 0);
	if (geteuid() == 0) {
		f->user = (struct ks_user){ .name = "nobody", .uid = 65534, .gid = 65534 };
		assert_int_equal(read_with(f, path, 3000000, NULL), KS_OPTIN_REFUSED);
		assert_one_line(f, " ignored: cannot open: Permission denied");
	} else {
		f->user.uid = getuid() + 1;
		assert_int_equal(read_with(f, path, 3000000, NULL), KS_OPTIN_REFUSED);
		assert_one_line(f, " ignored: cannot drop privileges to the user: ");
	}
	assert_int_equal(f->lines.n, 0);
	done(f);
	free(path);
}

/*
 * As root: the child keeps none of its parent's supplementary groups. The
 * file and its directory are open to a group the test process holds, not
 * to nobody: with a group left over, the child would read it.
 */
static void test_child_drops_groups(void **state)
{
	struct fixture *f = *state;
	const gid_t group = 4242;
	char *path;

	if (geteuid() != 0) {
		/* As a user, no group can be given and none dropped: the
		 * refusal is test_child_drops_privileges()'s. */
		done(f);
		skip();
	}
	path = scratch_write(f->s.dir, ".keepsession", SECRET "\n", 7, 0640);
	assert_non_null(path);
	assert_int_equal(chown(f->s.dir, 0, group), 0);
	assert_int_equal(chmod(f->s.dir, 0750), 0);
	assert_int_equal(chown(path, 0, group), 0);
	assert_int_equal(setgroups(1, &group), 0);
	f->user = (struct ks_user){ .name = "nobody", .uid = 65534, .gid = 65534 };
	assert_int_equal(read_with(f, path, 3000000, NULL), KS_OPTIN_REFUSED);
	assert_int_equal(setgroups(0, NULL), 0);
	assert_one_line(f, " ignored: cannot open: Permission denied");
	assert_int_equal(f->lines.n, 0);
	done(f);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bound),
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_reads_file),
		T(test_meanwhile),
		T(test_reads_largest_file),
		T(test_absent_and_refused),
		T(test_child_hangs),
		T(test_child_answers_then_lingers),
		T(test_child_dies_or_lies),
		T(test_child_reaped_elsewhere),
		T(test_child_keeps_no_descriptors),
		T(test_child_drops_privileges),
		T(test_child_drops_groups),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
