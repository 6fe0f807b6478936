/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ~/.keepsession is read from sshd (root) or from the stop guard (root).
 * Reading it as root would let a symlink name any file; reading it with a
 * changed fsuid in the root process (pam_modutil_drop_priv) still lets the
 * user hang that process forever on a FUSE mount of their own. So a child
 * drops every privilege for good and does the read, and the parent only
 * waits on a pipe, up to a deadline, and kills what does not answer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

#include "ks_cleanup.h"
#include "ks_clock.h"
#include "ks_failpolicy.h"
#include "ks_fileio.h"
#include "ks_optin_fork.h"

#define USEC_PER_SEC 1000000ULL
#define KS_OPTIN_FORK_MAX_USEC USEC_PER_SEC
/* The answer: a header, then at most the file's cap; one byte more shows
 * a child that says more than it may. */
#define ANSWER_MAX (sizeof(struct ks_optin_fetched) + KS_OPTIN_MAX_SIZE)

enum answer_end {
	ANSWER_DONE,     /* the child closed the pipe */
	ANSWER_LATE,     /* the deadline passed first */
	ANSWER_TOO_LONG, /* more than ANSWER_MAX bytes */
	ANSWER_BROKEN,   /* poll() or read() failed: err */
};

uint64_t ks_optin_fork_bound_usec(uint64_t timeout_usec)
{
	uint64_t third = timeout_usec / 3;

	return third < KS_OPTIN_FORK_MAX_USEC ? third : KS_OPTIN_FORK_MAX_USEC;
}

/* ---- the child ---- */

int ks_optin_child_answer(int out_fd, const struct ks_optin_fetched *f, const char *buf)
{
	int r = ks_write_all(out_fd, f, sizeof(*f));

	if (r == 0 && f->check == KS_OPTIN_CHECK_OK)
		r = ks_write_all(out_fd, buf, f->len);
	return r;
}

static bool runs_as(const struct ks_user *u)
{
	uid_t ruid, euid, suid;
	gid_t rgid, egid, sgid;

	if (getresuid(&ruid, &euid, &suid) < 0 || getresgid(&rgid, &egid, &sgid) < 0)
		return false;
	return ruid == u->uid && euid == u->uid && suid == u->uid && rgid == u->gid &&
	       egid == u->gid && sgid == u->gid;
}

/* For good: real, effective and saved ids, no supplementary group, and a
 * check that root cannot be had back. No groups, as pam_modutil_drop_priv()
 * does: the user's own file needs none, and initgroups() would be an NSS
 * lookup (nss-systemd's varlink call, or LDAP) in every logout's path.
 * Returns 0 or -errno. */
static int become(const struct ks_user *u)
{
	if (runs_as(u))
		return 0; /* already the user: tests, a guard started as the user */
	if (setgroups(0, NULL) < 0 || setresgid(u->gid, u->gid, u->gid) < 0 ||
	    setresuid(u->uid, u->uid, u->uid) < 0)
		return -errno;
	if (!runs_as(u) || getgroups(0, NULL) != 0)
		return -EPERM;
	/* Without CAP_SETUID/CAP_SETGID (gone with the uid change) these
	 * fail; if one works, the drop was not complete. */
	if (u->uid != 0 && setresuid((uid_t)-1, 0, (uid_t)-1) == 0)
		return -EPERM;
	if (u->uid != 0 && u->gid != 0 && setresgid((gid_t)-1, 0, (gid_t)-1) == 0)
		return -EPERM;
	return 0;
}

int ks_optin_child(const struct ks_user *u, const char *path, int out_fd)
{
	/* Static: the child allocates nothing. */
	static char buf[KS_OPTIN_MAX_SIZE + 1];
	struct ks_optin_fetched f = { .check = KS_OPTIN_CHECK_CANNOT_DROP };
	pid_t parent = getppid();
	int r = become(u);

	/* It holds a copy of its parent's memory (sshd's): the user it now
	 * runs as must not be able to read it (no ptrace, no core), which the
	 * uid change already set unless suid_dumpable says otherwise. And it
	 * must not outlive the parent. */
	if (prctl(PR_SET_DUMPABLE, 0) < 0 || prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 ||
	    getppid() != parent)
		return 2;
	if (r < 0)
		f.err = -r;
	else
		f = ks_optin_fetch(path, u->uid, buf);
	return ks_optin_child_answer(out_fd, &f, buf) < 0 ? 1 : 0;
}

/* The parent's signal handlers (sshd's) must not run in the child, which
 * the user may signal once it runs as them. */
static void reset_signals(void)
{
	struct sigaction sa = { .sa_handler = SIG_DFL };
	sigset_t none;

	for (int sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &sa, NULL);
	(void)sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
}

/* The child runs as the user with a copy of sshd's descriptors (the
 * client's socket, the monitor's pipes): it keeps the standard three and
 * its answer pipe, moved to fd 3, and closes the rest. Returns the pipe's
 * descriptor. */
static int keep_only(int out_fd)
{
	const int answer_fd = STDERR_FILENO + 1;

	if (out_fd != answer_fd) {
		if (dup2(out_fd, answer_fd) < 0)
			return out_fd; /* the rest stays open, the answer still goes */
		out_fd = answer_fd;
	}
	/* close_range(2) has no glibc wrapper before 2.34 (Debian 11); a
	 * kernel before 5.9 has none at all: then one by one. */
	if (syscall(SYS_close_range, answer_fd + 1, ~0U, 0) < 0)
		for (int fd = answer_fd + 1; fd < 1024; fd++)
			(void)close(fd);
	return out_fd;
}

/* ---- the parent ---- */

static enum answer_end read_answer(int fd, char *buf, size_t *len, uint64_t deadline, int *err)
{
	*len = 0;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint64_t now = ks_now_usec();
		ssize_t n;

		if (now >= deadline)
			return ANSWER_LATE;
		n = poll(&p, 1, (int)((deadline - now + 999) / 1000));
		if (n == 0 || (n < 0 && errno == EINTR))
			continue;
		if (n < 0) {
			*err = errno;
			return ANSWER_BROKEN;
		}
		n = read(fd, buf + *len, ANSWER_MAX + 1 - *len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			*err = errno;
			return ANSWER_BROKEN;
		}
		if (n == 0)
			return ANSWER_DONE;
		*len += (size_t)n;
		if (*len > ANSWER_MAX)
			return ANSWER_TOO_LONG;
	}
}

/* Waits, until `until` at the latest, for the child to exit: on a pidfd
 * (kernel >= 5.3), which wakes the moment it does, or else in short
 * naps. An answered child is exiting already, and a fixed nap would
 * cost the logout a millisecond each time it has not quite finished. */
static void await_exit(int pidfd, uint64_t until)
{
	uint64_t now = ks_now_usec();

	if (now >= until)
		return;
	if (pidfd >= 0) {
		struct pollfd p = { .fd = pidfd, .events = POLLIN };

		(void)poll(&p, 1, (int)((until - now + 999) / 1000));
		return;
	}
	{
		const struct timespec nap = { .tv_nsec = 100 * 1000 };

		(void)nanosleep(&nap, NULL);
	}
}

/* Kills the child unless it is gone, and reaps it, waiting until `until`
 * at the latest: a child stuck where SIGKILL cannot reach it is left
 * behind rather than waited for. Returns whether it is gone. */
static bool end_child(pid_t pid, uint64_t until)
{
	pid_t r = waitpid(pid, NULL, WNOHANG);
	_cleanup_(closep) int pidfd = -1;

	/* ECHILD: reaped by someone else (a SIGCHLD handler of the
	 * application), or SIGCHLD is ignored. Then the pid may be another
	 * process's already: no kill. */
	if (r == pid || (r < 0 && errno == ECHILD))
		return true;
	(void)kill(pid, SIGKILL);
	/* Unreaped, so still ours: the pidfd is the child's. */
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	for (;;) {
		r = waitpid(pid, NULL, WNOHANG);
		if (r == pid || (r < 0 && errno == ECHILD))
			return true;
		if (r < 0 && errno != EINTR)
			return false;
		if (ks_now_usec() >= until)
			return false;
		await_exit(pidfd, until);
	}
}

/* What the child said: its fetch and content, or NULL when the answer is
 * not one (a child that died, or that the user made lie). */
static const struct ks_optin_fetched *parse_answer(const char *buf, size_t len,
						   struct ks_optin_fetched *f)
{
	if (len < sizeof(*f))
		return NULL;
	memcpy(f, buf, sizeof(*f));
	if (f->check < 0 || f->check > KS_OPTIN_CHECK_LAST)
		return NULL;
	if (f->check != KS_OPTIN_CHECK_OK)
		return len == sizeof(*f) ? f : NULL;
	if (f->len > KS_OPTIN_MAX_SIZE || len != sizeof(*f) + f->len)
		return NULL;
	return f;
}

static enum ks_optin_status judge_answer(const char *path, enum answer_end end, int err,
					 const char *buf, size_t len, uint64_t bound,
					 struct ks_strlist *lines, const struct ks_log *log)
{
	struct ks_optin_fetched f;

	switch (end) {
	case ANSWER_LATE:
		ks_fail_log(log, KS_FAIL_OPTIN_READER_TIMEOUT,
			    "%s ignored: no answer within %" PRIu64 " ms", path, bound / 1000);
		return KS_OPTIN_REFUSED;
	case ANSWER_BROKEN:
		ks_fail_log(log, KS_FAIL_OPTIN_UNREADABLE,
			    "%s ignored: cannot read the reader's answer: %s", path, strerror(err));
		return KS_OPTIN_REFUSED;
	case ANSWER_TOO_LONG:
	case ANSWER_DONE:
	default:
		break;
	}
	if (end != ANSWER_DONE || !parse_answer(buf, len, &f)) {
		ks_fail_log(log, KS_FAIL_OPTIN_UNREADABLE,
			    "%s ignored: the reader ended without an answer", path);
		return KS_OPTIN_REFUSED;
	}
	return ks_optin_judge(path, &f, buf + sizeof(f), lines, log);
}

/* Forks the reader; the child never returns. Returns its pid or -errno,
 * with *fd the read end of its pipe. */
static pid_t start_child(const struct ks_optin_fork *o, const struct ks_user *u, const char *path,
			 int *fd)
{
	int fds[2];
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int r = -errno;

		(void)close(fds[0]);
		(void)close(fds[1]);
		return r;
	}
	if (pid == 0) {
		int out = keep_only(fds[1]);

		reset_signals();
		_exit(o->child ? o->child(u, path, out) : ks_optin_child(u, path, out));
	}
	(void)close(fds[1]);
	/* Should this fail, poll() still says when a read will not block. */
	(void)fcntl(fds[0], F_SETFL, O_NONBLOCK);
	*fd = fds[0];
	return pid;
}

enum ks_optin_status ks_optin_read_forked(void *ctx, const struct ks_user *u, const char *path,
					  struct ks_strlist *lines, const struct ks_log *log)
{
	const struct ks_optin_fork *o = ctx;
	uint64_t start = ks_now_usec(), bound = ks_optin_fork_bound_usec(o->timeout_usec);
	enum ks_optin_status status;
	enum answer_end end;
	size_t len = 0;
	int fd = -1, err = 0;
	char *buf;
	pid_t pid;

	ks_strlist_clear(lines);
	pid = start_child(o, u, path, &fd);
	if (pid < 0) {
		ks_fail_log(log, KS_FAIL_OPTIN_READER_FAILED,
			    "%s ignored: cannot start its reader: %s", path, strerror((int)-pid));
		return KS_OPTIN_REFUSED;
	}
	/* Allocated after the fork: the child, which ends in _exit(), never
	 * holds a copy of it (valgrind saw each child leak it). */
	buf = malloc(ANSWER_MAX + 1);
	if (!buf) {
		(void)close(fd);
		(void)end_child(pid, start + bound);
		ks_fail_log(log, KS_FAIL_OPTIN_NOMEM, "%s ignored: out of memory", path);
		return KS_OPTIN_REFUSED;
	}
	if (o->meanwhile)
		o->meanwhile(o->meanwhile_ctx, start + bound / 2);
	end = read_answer(fd, buf, &len, start + bound / 10 * 9, &err);
	(void)close(fd);
	if (!end_child(pid, start + bound) && end != ANSWER_LATE)
		ks_fail_log(log, KS_FAIL_OPTIN_READER_LEFT,
			    "the reader of %s (pid %d) is left behind", path, (int)pid);
	status = judge_answer(path, end, err, buf, len, bound, lines, log);
	free(buf);
	return status;
}
