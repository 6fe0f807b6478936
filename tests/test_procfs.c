/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fakeproc.h"
#include "ks_procfs.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

#define USER_UID 1000
#define SESSION_CG "/user.slice/user-1000.slice/session-3.scope"

struct fx {
	struct fakeproc fp;
	int procfd; /* fp.proc, open */
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	fakeproc_init(&fx->fp, SESSION_CG);
	fx->procfd = open(fx->fp.proc, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fx->procfd >= 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	close(fx->procfd);
	fakeproc_remove(&fx->fp);
	free(fx);
	return 0;
}

/* stat's session and tty_nr, read in the same parse as the rest; tty_nr
 * is printed with %d and may be negative for large pty numbers. */
static void test_stat_fields(void **state)
{
	static const char line[] = "42 (a) b) S 7 42 40 -2147450624 -1 4194560 100 0 0 0 10 5 0 "
				   "0 20 0 1 0 777 1234567\n";
	struct ks_proc_stat st;

	(void)state;
	assert_int_equal(ks_parse_proc_stat_fields(line, sizeof(line) - 1, 42, &st), 0);
	assert_int_equal(st.ppid, 7);
	assert_int_equal(st.session, 40);
	assert_int_equal(st.tty_nr, -2147450624);
	assert_int_equal(st.starttime, 777);
	assert_int_equal(
		ks_parse_proc_stat_fields("42 (a) S 7 42 x 0 -1 4194560 100 0 0 0 10 5 0 "
					  "0 20 0 1 0 777 1\n",
					  strlen("42 (a) S 7 42 x 0 -1 4194560 100 0 0 0 10 "
						 "5 0 0 20 0 1 0 777 1\n"),
					  42, &st),
		-EINVAL);
}

static void test_proc_identity_fake(void **state)
{
	struct fx *fx = *state;
	unsigned long long starttime = 0;
	uid_t uid = 0;

	fake_proc(&fx->fp, 200, 1, USER_UID, "/usr/bin/tmux");
	fake_proc_ex(&fx->fp, &(struct fake){ .pid = 201,
					      .ppid = 1,
					      .uid = USER_UID,
					      .status = "Uid:\t1000\t0\t0\t0\n" });
	fake_proc_ex(&fx->fp, &(struct fake){ .pid = 202, .ppid = 1, .stat = "202 (x) S\n" });
	fake_proc_ex(&fx->fp, &(struct fake){ .pid = 203, .ppid = 1, .no_status = true });

	assert_int_equal(ks_proc_identity(fx->fp.proc, 200, &starttime, &uid), 0);
	assert_int_equal(starttime, FAKE_STARTTIME(200));
	assert_int_equal(uid, USER_UID);
	assert_int_equal(ks_proc_identity(fx->fp.proc, 201, &starttime, &uid), 0);
	assert_int_equal(uid, USER_UID);
	assert_int_equal(ks_proc_identity(fx->fp.proc, 202, &starttime, &uid), -EINVAL);
	assert_int_equal(ks_proc_identity(fx->fp.proc, 203, &starttime, &uid), -ESRCH);
	assert_int_equal(ks_proc_identity(fx->fp.proc, 204, &starttime, &uid), -ESRCH);
	assert_int_equal(ks_proc_identity(fx->fp.proc, 0, &starttime, &uid), -ESRCH);
	assert_int_equal(ks_proc_identity(fx->fp.proc, -1, &starttime, &uid), -ESRCH);
	assert_int_equal(ks_proc_identity("/nonexistent", 1, &starttime, &uid), -ENOENT);
}

static bool have_pidfd_open(void)
{
	int fd = (int)syscall(SYS_pidfd_open, getpid(), 0);

	if (fd >= 0) {
		close(fd);
		return true;
	}
	return errno != ENOSYS;
}

/* Pinning real processes: a live child, a reused pid, a dead child. */
static void test_proc_pin_real(void **state)
{
	unsigned long long starttime;
	struct ks_proc_id id;
	uid_t uid;
	pid_t child;
	int fd, held, procfd, status;

	(void)state;
	procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(procfd >= 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;)
			pause();
	}

	assert_int_equal(ks_proc_identity("/proc", child, &starttime, &uid), 0);
	assert_int_equal(uid, getuid());
	id = (struct ks_proc_id){ child, starttime };

	fd = ks_proc_pin(procfd, &id);
	if (!have_pidfd_open()) {
		print_message("pidfd_open(2) missing: checking the -ENOSYS answer only\n");
		assert_int_equal(fd, -ENOSYS);
	} else {
		assert_true(fd >= 0);
		assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
		assert_int_equal(close(fd), 0);

		/* Same pid, another start time: a reused pid, never pinned. */
		id.starttime = starttime + 1;
		assert_int_equal(ks_proc_pin(procfd, &id), -ESRCH);
		id.starttime = starttime;
	}
	/* Held (by pidfd, or by identity without one), then gone. */
	assert_int_equal(ks_proc_hold(procfd, &id, &held), 0);
	assert_false(ks_proc_gone(procfd, &id, held));
	id.starttime = starttime + 1;
	assert_int_equal(ks_proc_hold(procfd, &id, &fd), -ESRCH);
	assert_int_equal(fd, -1);
	id.starttime = starttime;

	assert_int_equal(kill(child, SIGKILL), 0);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(ks_proc_gone(procfd, &id, held));
	if (held >= 0)
		close(held);
	assert_int_equal(ks_proc_identity("/proc", child, &starttime, &uid), -ESRCH);
	assert_int_equal(ks_proc_hold(procfd, &id, &fd), -ESRCH);
	if (have_pidfd_open())
		assert_int_equal(ks_proc_pin(procfd, &id), -ESRCH);

	id.pid = 0;
	assert_int_equal(ks_proc_pin(procfd, &id), -ESRCH);
	id.pid = -1;
	assert_int_equal(ks_proc_pin(procfd, &id), -ESRCH);
	assert_int_equal(ks_proc_pin(procfd, NULL), -EINVAL);
	/* A proc_root that could not be opened: its error. */
	assert_int_equal(ks_proc_pin(-ENOENT, &id), -ENOENT);
	assert_int_equal(ks_proc_hold(-ENOENT, &id, &fd), -ENOENT);
	close(procfd);
}

/* In a child: a seccomp filter that answers EPERM to pidfd_open(), as
 * container runtimes with an old profile do. Exits 0 when ks_proc_pin()
 * took that like a kernel without pidfds (-ENOSYS, so that the caller
 * falls back to the identity check), 2 when it did not, 3 without a filter. */
static int pin_under_seccomp(void)
{
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_pidfd_open, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(filter) / sizeof(filter[0]), .filter = filter };
	struct ks_proc_id id = { .pid = getpid() };
	uid_t uid;
	int procfd;

	if (ks_proc_identity("/proc", id.pid, &id.starttime, &uid) < 0)
		return 3;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		return 3;
	if (syscall(SYS_pidfd_open, id.pid, 0) >= 0 || errno != EPERM)
		return 3;
	procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (procfd < 0)
		return 3;
	return ks_proc_pin(procfd, &id) == -ENOSYS ? 0 : 2;
}

static void test_proc_pin_seccomp_eperm(void **state)
{
	pid_t child;
	int status;

	(void)state;
	if (!have_pidfd_open()) {
		print_message("pidfd_open(2) missing: nothing for seccomp to refuse\n");
		return;
	}
	child = fork();
	assert_true(child >= 0);
	if (child == 0)
		_exit(pin_under_seccomp());
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 3) {
		print_message("no seccomp filter here: skipped\n");
		return;
	}
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* The identity check reads proc_root, not the process's own /proc; it
 * reads stat alone: the uid is the scan's (status is not read again). */
static void test_proc_pin_checks_proc_root(void **state)
{
	struct fx *fx = *state;
	pid_t self = getpid();
	struct ks_proc_id id = { self, FAKE_STARTTIME(self) };
	char path[PATH_MAX];
	int fd, rootfd;

	if (!have_pidfd_open()) {
		print_message("pidfd_open(2) missing: pinning not checked\n");
		assert_int_equal(ks_proc_pin(fx->procfd, &id), -ENOSYS);
		return;
	}
	fake_proc(&fx->fp, self, 1, USER_UID, "/usr/bin/tmux");
	fd = ks_proc_pin(fx->procfd, &id);
	assert_true(fd >= 0);
	close(fd);
	id.starttime++;
	assert_int_equal(ks_proc_pin(fx->procfd, &id), -ESRCH);
	id.starttime--;
	fp_path_join(path, sizeof(path), "%s/%d/status", fx->fp.proc, (int)self);
	assert_int_equal(unlink(path), 0);
	fd = ks_proc_pin(fx->procfd, &id);
	assert_true(fd >= 0);
	close(fd);
	/* Gone from proc_root: gone. */
	rootfd = open(fx->fp.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(rootfd >= 0);
	assert_int_equal(ks_proc_pin(rootfd, &id), -ESRCH);
	close(rootfd);
}

/* A stat line for pid, with start time starttime, of exactly total bytes
 * (its newline included), padded after the last field read. */
static void write_stat_of_size(const struct fakeproc *fp, pid_t pid, unsigned long long starttime,
			       size_t total)
{
	char path[PATH_MAX], *line = malloc(total + 1);
	int n;

	assert_non_null(line);
	n = snprintf(line, total + 1, "%d (x) S 1 %d %d 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 %llu 0",
		     (int)pid, (int)pid, (int)pid, starttime);
	assert_true(n > 0 && (size_t)n < total);
	memset(line + n, 'x', total - (size_t)n);
	line[total - 1] = '\n';
	fp_path_join(path, sizeof(path), "%s/%d", fp->proc, (int)pid);
	fp_mkdir_p(path);
	fp_path_join(path, sizeof(path), "%s/%d/stat", fp->proc, (int)pid);
	fp_write_bytes(path, line, total, false);
	free(line);
}

/* A status of total bytes: filler lines, the Uid: line first or last. */
static void write_status_of_size(const struct fakeproc *fp, pid_t pid, bool uid_first, size_t total)
{
	static const char uid_line[] = "Uid:\t1000\t1000\t1000\t1000\n";
	const size_t uid_len = sizeof(uid_line) - 1;
	char path[PATH_MAX], *text = malloc(total);
	size_t at = uid_first ? 0 : total - uid_len;

	assert_non_null(text);
	assert_true(total > uid_len + 1);
	memset(text, 'x', total);
	for (size_t i = 63; i < total; i += 64)
		text[i] = '\n';
	memcpy(text + at, uid_line, uid_len);
	if (at > 0)
		text[at - 1] = '\n';
	fp_path_join(path, sizeof(path), "%s/%d", fp->proc, (int)pid);
	fp_mkdir_p(path);
	fp_path_join(path, sizeof(path), "%s/%d/status", fp->proc, (int)pid);
	fp_write_bytes(path, text, total, false);
	free(text);
}

/* stat is refused past KS_PROC_STAT_MAX and read up to it exactly;
 * status is cut at KS_PROC_STATUS_MAX, so a Uid: line past it is not
 * found; a short file is read whole. */
static void test_read_bounds(void **state)
{
	struct fx *fx = *state;
	struct ks_proc_stat st;
	uid_t uid = 0;

	write_stat_of_size(&fx->fp, 300, 301, KS_PROC_STAT_MAX);
	assert_int_equal(ks_proc_read_stat(fx->procfd, 300, &st), 0);
	assert_int_equal(st.starttime, 301);
	write_stat_of_size(&fx->fp, 302, 303, KS_PROC_STAT_MAX + 1);
	assert_int_equal(ks_proc_read_stat(fx->procfd, 302, &st), -EINVAL);
	write_stat_of_size(&fx->fp, 304, 305, 80);
	assert_int_equal(ks_proc_read_stat(fx->procfd, 304, &st), 0);
	assert_int_equal(st.starttime, 305);

	write_status_of_size(&fx->fp, 310, true, 4 * KS_PROC_STATUS_MAX);
	assert_int_equal(ks_proc_read_uid(fx->procfd, 310, &uid), 0);
	assert_int_equal(uid, 1000);
	uid = 0;
	write_status_of_size(&fx->fp, 311, false, KS_PROC_STATUS_MAX);
	assert_int_equal(ks_proc_read_uid(fx->procfd, 311, &uid), 0);
	assert_int_equal(uid, 1000);
	write_status_of_size(&fx->fp, 312, false, KS_PROC_STATUS_MAX + 64);
	assert_int_equal(ks_proc_read_uid(fx->procfd, 312, &uid), -EINVAL);
	uid = 0;
	write_status_of_size(&fx->fp, 313, false, 100);
	assert_int_equal(ks_proc_read_uid(fx->procfd, 313, &uid), 0);
	assert_int_equal(uid, 1000);
}

/* Moves <proc>/<pid>/<name> to real_<name> and puts a symlink to it there. */
static void behind_symlink(const struct fakeproc *fp, pid_t pid, const char *name)
{
	char path[PATH_MAX], real[PATH_MAX], target[64];

	fp_path_join(path, sizeof(path), "%s/%d/%s", fp->proc, (int)pid, name);
	fp_path_join(real, sizeof(real), "%s/%d/real_%s", fp->proc, (int)pid, name);
	fp_path_join(target, sizeof(target), "real_%s", name);
	assert_int_equal(rename(path, real), 0);
	assert_int_equal(symlink(target, path), 0);
}

/* A symlink where stat or status should be is refused, even to a file
 * that parses. */
static void test_read_symlink(void **state)
{
	struct fx *fx = *state;
	struct ks_proc_stat st;
	uid_t uid = 0;

	write_stat_of_size(&fx->fp, 320, 321, 100);
	write_status_of_size(&fx->fp, 320, true, 100);
	assert_int_equal(ks_proc_read_stat(fx->procfd, 320, &st), 0);
	assert_int_equal(ks_proc_read_uid(fx->procfd, 320, &uid), 0);
	behind_symlink(&fx->fp, 320, "stat");
	behind_symlink(&fx->fp, 320, "status");
	assert_int_equal(ks_proc_read_stat(fx->procfd, 320, &st), -EINVAL);
	assert_int_equal(ks_proc_read_uid(fx->procfd, 320, &uid), -EINVAL);
}

/* A FIFO where stat or status should be, with no writer (an open without
 * O_NONBLOCK would wait for one) and with a silent one (a blocking read
 * would wait for data): refused at once. SIGALRM ends the test if not. */
static void test_read_fifo(void **state)
{
	struct fx *fx = *state;
	char stat_path[PATH_MAX], status_path[PATH_MAX];
	struct ks_proc_stat st;
	uid_t uid;
	int w1, w2;

	fp_path_join(stat_path, sizeof(stat_path), "%s/330", fx->fp.proc);
	fp_mkdir_p(stat_path);
	fp_path_join(stat_path, sizeof(stat_path), "%s/330/stat", fx->fp.proc);
	fp_path_join(status_path, sizeof(status_path), "%s/330/status", fx->fp.proc);
	assert_int_equal(mkfifo(stat_path, 0644), 0);
	assert_int_equal(mkfifo(status_path, 0644), 0);
	alarm(30);
	assert_int_equal(ks_proc_read_stat(fx->procfd, 330, &st), -EINVAL);
	assert_int_equal(ks_proc_read_uid(fx->procfd, 330, &uid), -EINVAL);
	/* O_RDWR: a writer that never writes, opened without waiting. */
	w1 = open(stat_path, O_RDWR | O_CLOEXEC);
	w2 = open(status_path, O_RDWR | O_CLOEXEC);
	assert_true(w1 >= 0 && w2 >= 0);
	assert_int_equal(ks_proc_read_stat(fx->procfd, 330, &st), -EINVAL);
	assert_int_equal(ks_proc_read_uid(fx->procfd, 330, &uid), -EINVAL);
	alarm(0);
	close(w1);
	close(w2);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stat_fields),
		T(test_proc_identity_fake),
		cmocka_unit_test(test_proc_pin_real),
		cmocka_unit_test(test_proc_pin_seccomp_eperm),
		T(test_proc_pin_checks_proc_root),
		T(test_read_bounds),
		T(test_read_symlink),
		T(test_read_fifo),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
