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
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	fakeproc_init(&fx->fp, SESSION_CG);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

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

/* Pinning real processes: a live child, a wrong identity, a dead child. */
static void test_proc_pin_real(void **state)
{
	unsigned long long starttime;
	struct ks_proc_id id;
	uid_t uid;
	pid_t child;
	int fd, status;

	(void)state;
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

	fd = ks_proc_pin("/proc", &id, getuid());
	if (!have_pidfd_open()) {
		print_message("pidfd_open(2) missing: checking the -ENOSYS answer only\n");
		assert_int_equal(fd, -ENOSYS);
	} else {
		assert_true(fd >= 0);
		assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
		assert_int_equal(close(fd), 0);

		/* Same pid, another start time: a reused pid, never pinned. */
		id.starttime = starttime + 1;
		assert_int_equal(ks_proc_pin("/proc", &id, getuid()), -ESRCH);
		id.starttime = starttime;
		assert_int_equal(ks_proc_pin("/proc", &id, getuid() + 1), -ESRCH);
	}

	assert_int_equal(kill(child, SIGKILL), 0);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_int_equal(ks_proc_identity("/proc", child, &starttime, &uid), -ESRCH);
	if (have_pidfd_open())
		assert_int_equal(ks_proc_pin("/proc", &id, getuid()), -ESRCH);

	id.pid = 0;
	assert_int_equal(ks_proc_pin("/proc", &id, getuid()), -ESRCH);
	id.pid = -1;
	assert_int_equal(ks_proc_pin("/proc", &id, getuid()), -ESRCH);
	assert_int_equal(ks_proc_pin("/proc", NULL, getuid()), -EINVAL);
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

	if (ks_proc_identity("/proc", id.pid, &id.starttime, &uid) < 0)
		return 3;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		return 3;
	if (syscall(SYS_pidfd_open, id.pid, 0) >= 0 || errno != EPERM)
		return 3;
	return ks_proc_pin("/proc", &id, uid) == -ENOSYS ? 0 : 2;
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

/* The identity check reads proc_root, not the process's own /proc. */
static void test_proc_pin_checks_proc_root(void **state)
{
	struct fx *fx = *state;
	pid_t self = getpid();
	struct ks_proc_id id = { self, FAKE_STARTTIME(self) };
	int fd;

	if (!have_pidfd_open()) {
		print_message("pidfd_open(2) missing: pinning not checked\n");
		assert_int_equal(ks_proc_pin(fx->fp.proc, &id, USER_UID), -ENOSYS);
		return;
	}
	fake_proc(&fx->fp, self, 1, USER_UID, "/usr/bin/tmux");
	fd = ks_proc_pin(fx->fp.proc, &id, USER_UID);
	assert_true(fd >= 0);
	close(fd);
	id.starttime++;
	assert_int_equal(ks_proc_pin(fx->fp.proc, &id, USER_UID), -ESRCH);
	id.starttime--;
	assert_int_equal(ks_proc_pin(fx->fp.proc, &id, 0), -ESRCH);
	/* Gone from proc_root: gone. */
	assert_int_equal(ks_proc_pin(fx->fp.root, &id, USER_UID), -ESRCH);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stat_fields),   T(test_proc_identity_fake),
		cmocka_unit_test(test_proc_pin_real), cmocka_unit_test(test_proc_pin_seccomp_eperm),
		T(test_proc_pin_checks_proc_root),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
