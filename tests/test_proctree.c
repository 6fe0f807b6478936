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
#include "ks_cgroup.h"
#include "ks_program.h"
#include "ks_proctree.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

#define USER_UID 1000
#define SESSION_CG "/user.slice/user-1000.slice/session-3.scope"
#define MAX_LINES 64

struct capture {
	char lines[MAX_LINES][512];
	int prio[MAX_LINES];
	size_t n;
};

struct fx {
	struct fakeproc fp;
	struct ks_strlist programs;
	struct ks_scan scan;
	struct capture cap;
	struct ks_log log;
	struct ks_selection sel;
};

static void sink(void *ctx, int priority, const char *message)
{
	struct capture *cap = ctx;

	if (cap->n < MAX_LINES) {
		snprintf(cap->lines[cap->n], sizeof(cap->lines[0]), "%s", message);
		cap->prio[cap->n] = priority;
	}
	cap->n++;
}

static size_t count_lines(const struct fx *fx, const char *needle)
{
	size_t count = 0;

	for (size_t i = 0; i < fx->cap.n && i < MAX_LINES; i++)
		if (strstr(fx->cap.lines[i], needle))
			count++;
	return count;
}

/* Lines above debug: what an admin sees by default. */
static size_t count_loud_lines(const struct fx *fx)
{
	size_t count = 0;

	for (size_t i = 0; i < fx->cap.n && i < MAX_LINES; i++)
		if (fx->cap.prio[i] != LOG_DEBUG)
			count++;
	return count;
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	fakeproc_init(&fx->fp, SESSION_CG);
	assert_int_equal(ks_strlist_add_split(&fx->programs, "tmux,screen"), 0);

	fx->log = (struct ks_log){ .sink = sink, .ctx = &fx->cap, .debug = true };
	fx->scan = (struct ks_scan){
		.proc_root = fx->fp.proc,
		.cgroup_root = fx->fp.cgroot,
		.cgroup = SESSION_CG,
		.uid = USER_UID,
		.programs = &fx->programs,
	};
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	ks_selection_free(&fx->sel);
	ks_proc_table_free(fx->scan.known);
	ks_strlist_clear(&fx->programs);
	fakeproc_remove(&fx->fp);
	free(fx);
	return 0;
}

static const struct ks_tree *find_tree(const struct ks_selection *sel, pid_t root)
{
	for (size_t i = 0; i < sel->n; i++)
		if (sel->trees[i].n > 0 && sel->trees[i].procs[0].pid == root)
			return &sel->trees[i];
	return NULL;
}

static bool tree_has(const struct ks_tree *t, pid_t pid)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->procs[i].pid == pid)
			return true;
	return false;
}

/* Asserts the tree rooted at root: its program and exactly the pids
 * listed (0-terminated, root first), each with its start time. */
static void assert_tree(const struct ks_selection *sel, const char *program, pid_t root, ...)
{
	const struct ks_tree *t = find_tree(sel, root);
	size_t count = 0;
	va_list ap;
	pid_t pid;

	assert_non_null(t);
	assert_string_equal(t->program, program);
	assert_int_equal(t->procs[0].pid, root);
	va_start(ap, root);
	for (pid = root; pid != 0; pid = va_arg(ap, pid_t)) {
		assert_true(tree_has(t, pid));
		count++;
	}
	va_end(ap);
	assert_int_equal(t->n, count);
	for (size_t i = 0; i < t->n; i++)
		assert_int_equal(t->procs[i].starttime, FAKE_STARTTIME(t->procs[i].pid));
}

/* No pid in two trees, and every one after its parent's position. */
static void assert_disjoint(const struct ks_selection *sel)
{
	for (size_t a = 0; a < sel->n; a++)
		for (size_t i = 0; i < sel->trees[a].n; i++)
			for (size_t b = a + 1; b < sel->n; b++)
				assert_false(tree_has(&sel->trees[b], sel->trees[a].procs[i].pid));
}

static int select_trees(struct fx *fx)
{
	ks_selection_free(&fx->sel);
	return ks_select_trees(&fx->scan, &fx->sel, &fx->log);
}

/* pts/0 and pts/3 as the kernel encodes them in stat's tty_nr. */
#define PTS0 (136 << 8)
#define PTS3 ((136 << 8) | 3)

/* An ssh login: sshd privsep parent (root) and child, a login shell on
 * pts/0 running a tmux client, and the daemonized tmux server (ppid 1,
 * its own session, no terminal) with its panes. The client is on the
 * session's terminal: no tree of its own. The server's tree is kept. */
static void test_tmux_login(void **state)
{
	struct fx *fx = *state;

	fake_proc(&fx->fp, 100, 1, 0, "/usr/sbin/sshd");
	fake_proc_ex(&fx->fp, &(struct fake){ .pid = 101,
					      .ppid = 100,
					      .uid = USER_UID,
					      .sid = 100,
					      .exe = "/usr/sbin/sshd" });
	fake_proc_ex(&fx->fp, &(struct fake){ .pid = 102,
					      .ppid = 101,
					      .uid = USER_UID,
					      .tty = PTS0,
					      .exe = "/usr/bin/bash" });
	fake_proc_ex(&fx->fp, &(struct fake){ .pid = 103,
					      .ppid = 102,
					      .uid = USER_UID,
					      .sid = 102,
					      .tty = PTS0,
					      .exe = "/usr/bin/tmux" });
	fake_proc(&fx->fp, 200, 1, USER_UID, "/usr/bin/tmux");
	fake_proc_ex(&fx->fp, &(struct fake){ .pid = 201,
					      .ppid = 200,
					      .uid = USER_UID,
					      .tty = PTS3,
					      .exe = "/usr/bin/bash" });
	fake_proc(&fx->fp, 202, 200, USER_UID, "/usr/bin/bash");
	fake_proc(&fx->fp, 203, 201, USER_UID, "/usr/bin/vim");
	fake_proc(&fx->fp, 204, 202, USER_UID, "/usr/bin/make");
	fake_proc(&fx->fp, 205, 204, USER_UID, "/usr/bin/cc");
	fake_proc(&fx->fp, 300, 1, USER_UID, "/usr/bin/sleep");

	assert_int_equal(select_trees(fx), 0);
	assert_int_equal(fx->sel.n, 1);
	assert_tree(&fx->sel, "tmux", 200, 201, 202, 203, 204, 205, 0);
	assert_int_equal(count_loud_lines(fx), 0);
}

/*
 * An attached screen that sshd started directly (ssh -t host screen): the
 * client is the session leader on pts/0, the SCREEN server its child in a
 * session of its own, and a window's shell below on pts/3. The client is
 * transparent: SCREEN roots the tree, so that the client's death at a
 * dropped connection cannot take the server along. A screen started
 * inside a window is a client on the window's terminal, not the
 * session's: it stays in the outer tree.
 */
/* Many trees and many clients with debug on: eight lines of each, then
 * one count, not a line per process. */
static void test_debug_lines_capped(void **state)
{
	struct fx *fx = *state;

	fake_proc(&fx->fp, 100, 1, 0, "/usr/sbin/sshd");
	fake_proc_ex(&fx->fp, &(struct fake){ .pid = 101,
					      .ppid = 100,
					      .uid = USER_UID,
					      .sid = 101,
					      .tty = PTS0,
					      .exe = "/usr/bin/bash" });
	for (pid_t pid = 200; pid < 220; pid++)
		fake_proc(&fx->fp, pid, 1, USER_UID, "/usr/bin/tmux");
	for (pid_t pid = 300; pid < 320; pid++)
		fake_proc_ex(&fx->fp, &(struct fake){ .pid = pid,
						      .ppid = 101,
						      .uid = USER_UID,
						      .tty = PTS0,
						      .exe = "/usr/bin/tmux" });

	assert_int_equal(select_trees(fx), 0);
	assert_int_equal(fx->sel.n, 20);
	assert_int_equal(count_lines(fx, "selected process"), 8);
	assert_int_equal(count_lines(fx, "selected 12 more processes"), 1);
	assert_int_equal(count_lines(fx, "is a client"), 8);
	assert_int_equal(count_lines(fx, "12 more clients on the session's terminal"), 1);
}

static void test_screen_client_transparent(void **state)
{
	struct fx *fx = *state;

	fake_proc(&fx->fp, 100, 1, 0, "/usr/sbin/sshd");
	fake_proc_ex(&fx->fp, &(struct fake){ .pid = 101,
					      .ppid = 100,
					      .uid = USER_UID,
					      .sid = 100,
					      .exe = "/usr/sbin/sshd" });
	fake_proc_ex(&fx->fp, &(struct fake){ .pid = 102,
					      .ppid = 101,
					      .uid = USER_UID,
					      .tty = PTS0,
					      .exe = "/usr/bin/screen" });
	fake_proc(&fx->fp, 103, 102, USER_UID, "/usr/bin/screen");
	fake_proc_ex(&fx->fp, &(struct fake){ .pid = 104,
					      .ppid = 103,
					      .uid = USER_UID,
					      .tty = PTS3,
					      .exe = "/usr/bin/bash" });
	fake_proc_ex(&fx->fp, &(struct fake){ .pid = 105,
					      .ppid = 104,
					      .uid = USER_UID,
					      .sid = 104,
					      .tty = PTS3,
					      .exe = "/usr/bin/screen" });
	fake_proc(&fx->fp, 106, 105, USER_UID, "/usr/bin/screen");

	assert_int_equal(select_trees(fx), 0);
	assert_int_equal(fx->sel.n, 1);
	assert_tree(&fx->sel, "screen", 103, 104, 105, 106, 0);
	assert_int_equal(count_lines(fx, "is a client"), 1);

	/* The same tree once the pty was hung up (the kernel clears tty_nr
	 * of the session): the client is a root again, SCREEN below it. */
	fakeproc_remove(&fx->fp);
	fakeproc_init(&fx->fp, SESSION_CG);
	fx->scan.proc_root = fx->fp.proc;
	fx->scan.cgroup_root = fx->fp.cgroot;
	fake_proc(&fx->fp, 102, 101, USER_UID, "/usr/bin/screen");
	fake_proc(&fx->fp, 103, 102, USER_UID, "/usr/bin/screen");
	assert_int_equal(select_trees(fx), 0);
	assert_int_equal(fx->sel.n, 1);
	assert_tree(&fx->sel, "screen", 102, 103, 0);
}

/* A scan past its deadline gives up, whatever the session's size. */
static void test_scan_deadline(void **state)
{
	struct fx *fx = *state;
	struct ks_proc_id *out = NULL;
	size_t n_out = 0;

	for (pid_t pid = 100; pid < 200; pid++)
		fake_proc(&fx->fp, pid, 1, USER_UID, "/usr/bin/tmux");
	fx->scan.deadline = 1; /* long past */
	assert_int_equal(select_trees(fx), -ETIMEDOUT);
	assert_int_equal(fx->sel.n, 0);
	assert_int_equal(ks_select_stragglers(&fx->scan, NULL, 0, &out, &n_out), -ETIMEDOUT);
	fx->scan.deadline = 0;
	assert_int_equal(select_trees(fx), 0);
	assert_int_equal(fx->sel.n, 100);
}

/* tmux in a tmux pane, and screen in another: all one tree, the outer. */
static void test_nested_multiplexers(void **state)
{
	struct fx *fx = *state;

	fake_proc(&fx->fp, 200, 1, USER_UID, "/usr/bin/tmux");
	fake_proc(&fx->fp, 201, 200, USER_UID, "/usr/bin/bash");
	fake_proc(&fx->fp, 202, 201, USER_UID, "/usr/bin/tmux");
	fake_proc(&fx->fp, 203, 202, USER_UID, "/usr/bin/tmux");
	fake_proc(&fx->fp, 204, 203, USER_UID, "/usr/bin/bash");
	fake_proc(&fx->fp, 205, 201, USER_UID, "/usr/bin/screen");
	fake_proc(&fx->fp, 206, 205, USER_UID, "/usr/bin/top");

	assert_int_equal(select_trees(fx), 0);
	assert_int_equal(fx->sel.n, 1);
	assert_tree(&fx->sel, "tmux", 200, 201, 202, 203, 204, 205, 206, 0);
}

/* screen's server calls itself SCREEN; only the executable counts. */
static void test_match_by_exe_not_comm(void **state)
{
	struct fx *fx = *state;

	fake_proc_ex(&fx->fp, &(struct fake){ .pid = 400,
					      .ppid = 1,
					      .uid = USER_UID,
					      .comm = "SCREEN",
					      .exe = "/usr/bin/screen" });
	fake_proc(&fx->fp, 401, 400, USER_UID, "/usr/bin/bash");
	fake_proc_ex(&fx->fp, &(struct fake){ .pid = 500,
					      .ppid = 1,
					      .uid = USER_UID,
					      .comm = "tmux",
					      .exe = "/usr/bin/bash" });
	fake_proc(&fx->fp, 600, 1, USER_UID, "/usr/bin/tmux-wrapper");

	assert_int_equal(select_trees(fx), 0);
	assert_int_equal(fx->sel.n, 1);
	assert_tree(&fx->sel, "screen", 400, 401, 0);
}

/*
 * Other uids: root's tmux in the session is never selected; a root sudo in
 * a pane is left out, but the user's process below it is the user's. The
 * real uid decides (a setuid program run by the user is the user's).
 */
static void test_other_uids(void **state)
{
	struct fx *fx = *state;

	fake_proc(&fx->fp, 100, 1, 0, "/usr/bin/tmux");
	fake_proc(&fx->fp, 101, 100, 0, "/usr/bin/bash");
	fake_proc(&fx->fp, 102, 101, USER_UID, "/usr/bin/bash");
	fake_proc(&fx->fp, 200, 1, USER_UID, "/usr/bin/tmux");
	fake_proc(&fx->fp, 201, 200, USER_UID, "/usr/bin/bash");
	fake_proc(&fx->fp, 202, 201, 0, "/usr/bin/sudo");
	fake_proc(&fx->fp, 203, 202, 0, "/usr/bin/bash");
	fake_proc(&fx->fp, 204, 203, USER_UID, "/usr/bin/vim");
	fake_proc(&fx->fp, 205, 201, 1001, "/usr/bin/bash");
	fake_proc_ex(&fx->fp, &(struct fake){ .pid = 206,
					      .ppid = 201,
					      .exe = "/usr/bin/passwd",
					      .status = "Name:\tpasswd\nUid:\t1000\t0\t0\t0\n" });
	fake_proc_ex(&fx->fp, &(struct fake){ .pid = 207,
					      .ppid = 201,
					      .exe = "/usr/bin/x",
					      .status = "Name:\tx\nUid:\t0\t1000\t1000\t1000\n" });
	/* The same user's tmux, but run as another real uid: not ours. */
	fake_proc_ex(&fx->fp, &(struct fake){ .pid = 300,
					      .ppid = 1,
					      .exe = "/usr/bin/tmux",
					      .status = "Name:\ttmux\n"
							"Uid:\t0\t1000\t1000\t1000\n" });

	assert_int_equal(select_trees(fx), 0);
	assert_int_equal(fx->sel.n, 1);
	assert_tree(&fx->sel, "tmux", 200, 201, 204, 206, 0);
}

/* tmux upgraded under a running server, and absolute-path entries. */
static void test_deleted_and_absolute(void **state)
{
	struct fx *fx = *state;

	ks_strlist_clear(&fx->programs);
	assert_int_equal(ks_strlist_add_split(&fx->programs, "tmux,/opt/bin/dtach"), 0);
	fake_proc(&fx->fp, 200, 1, USER_UID, "/usr/bin/tmux (deleted)");
	fake_proc(&fx->fp, 201, 200, USER_UID, "/usr/bin/bash (deleted)");
	fake_proc(&fx->fp, 300, 1, USER_UID, "/opt/bin/dtach");
	fake_proc(&fx->fp, 301, 300, USER_UID, "/usr/bin/bash");
	fake_proc(&fx->fp, 400, 1, USER_UID, "/usr/bin/dtach");

	assert_int_equal(select_trees(fx), 0);
	assert_int_equal(fx->sel.n, 2);
	assert_tree(&fx->sel, "tmux", 200, 201, 0);
	assert_tree(&fx->sel, "/opt/bin/dtach", 300, 301, 0);
}

/*
 * Processes that exit while the scan runs: listed in cgroup.procs but gone
 * from /proc, or gone between two reads. They are skipped without a word.
 */
static void test_vanishing_processes(void **state)
{
	struct fx *fx = *state;

	fake_proc(&fx->fp, 200, 1, USER_UID, "/usr/bin/tmux");
	fake_proc(&fx->fp, 201, 200, USER_UID, "/usr/bin/bash");
	fake_proc_ex(&fx->fp, &(struct fake){ .pid = 202,
					      .ppid = 200,
					      .uid = USER_UID,
					      .exe = "/usr/bin/tmux",
					      .no_dir = true });
	fake_proc_ex(&fx->fp, &(struct fake){ .pid = 203,
					      .ppid = 1,
					      .uid = USER_UID,
					      .exe = "/usr/bin/tmux",
					      .no_status = true });
	fake_proc_ex(&fx->fp, &(struct fake){ .pid = 204,
					      .ppid = 1,
					      .uid = USER_UID,
					      .exe = "/usr/bin/tmux",
					      .no_stat = true });
	/* A zombie (no exe either): nothing left to move. */
	fake_proc_ex(&fx->fp,
		     &(struct fake){ .pid = 205, .ppid = 201, .uid = USER_UID, .state = 'Z' });
	/* Exited between stat and readlink: no exe, no tree of its own. */
	fake_proc_ex(&fx->fp, &(struct fake){ .pid = 206, .ppid = 1, .uid = USER_UID });
	/* Below a tree its exe is not read: a member, whatever it runs. */
	fake_proc_ex(&fx->fp, &(struct fake){ .pid = 207, .ppid = 201, .uid = USER_UID });

	assert_int_equal(select_trees(fx), 0);
	assert_int_equal(fx->sel.n, 1);
	assert_tree(&fx->sel, "tmux", 200, 201, 207, 0);
	for (pid_t pid = 202; pid <= 206; pid++) {
		char needle[32];

		snprintf(needle, sizeof(needle), "%d", (int)pid);
		assert_int_equal(count_lines(fx, needle), 0);
	}
	assert_int_equal(count_loud_lines(fx), 0);
}

/* Unparsable stat and status files: the process is skipped, the scan goes on. */
static void test_garbage_proc_files(void **state)
{
	size_t n_bad;
	char more[96];
	struct fx *fx = *state;
	static const char *const bad_stats[] = {
		/* pid 900 + index; starttime is field 22, the "19" */
		"garbage\n",
		"",
		"902 (tmux) S 1 2 3\n",
		"903 (tmux) S x 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20\n",
		"999 (tmux) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20\n",
		"905 tmux S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20\n",
		"906 (tmux) S  1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20\n",
		"907 (tmux) S -1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20\n",
		"908 (tmux) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 18446744073709551616\n",
		"909 (tmux) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 -5 0\n",
		"+910 (tmux) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20\n",
		"911 (tmux S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20\n",
		"912 (tmux) S 2147483648 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20\n",
	};
	static const char *const bad_statuses[] = {
		"Name:\ttmux\n",
		"Name:\ttmux\nUid:\tabc\t1\t1\t1\n",
		"Name:\ttmux\nUid:\t-1\t1\t1\t1\n",
		"Name:\ttmux\nUid:\t4294967295\t1\t1\t1\n",
		"Name:\ttmux\nUid:\t99999999999999\t1\t1\t1\n",
		"Name:\ttmux\nUid:1000\t1000\t1000\t1000\n",
		"Name:\ttmux\nUid:\t1000", /* cut: the line never ends */
		"Name:\ttmux\nXUid:\t1000\t1000\t1000\t1000\n",
		"",
	};
	char path[PATH_MAX], huge[6000];
	pid_t pid;

	const struct ks_tree *t;

	fake_proc(&fx->fp, 200, 1, USER_UID, "/usr/bin/tmux");
	/* The control: the lines' form parses when nothing is wrong. */
	fake_proc_ex(&fx->fp, &(struct fake){ .pid = 899,
					      .ppid = 1,
					      .uid = USER_UID,
					      .exe = "/usr/bin/tmux",
					      .stat = "899 (tmux) S 1 2 3 4 5 6 "
						      "7 8 9 10 11 12 13 14 15 16 17 18 19 20\n" });
	pid = 900;
	for (size_t i = 0; i < sizeof(bad_stats) / sizeof(bad_stats[0]); i++, pid++)
		fake_proc_ex(&fx->fp, &(struct fake){ .pid = pid,
						      .ppid = 1,
						      .uid = USER_UID,
						      .exe = "/usr/bin/tmux",
						      .stat = bad_stats[i] });
	pid = 950;
	for (size_t i = 0; i < sizeof(bad_statuses) / sizeof(bad_statuses[0]); i++, pid++)
		fake_proc_ex(&fx->fp, &(struct fake){ .pid = pid,
						      .ppid = 1,
						      .uid = USER_UID,
						      .exe = "/usr/bin/tmux",
						      .status = bad_statuses[i] });

	/* A stat over 4 KiB (a comm no kernel makes). */
	memset(huge, 'a', sizeof(huge));
	memcpy(huge, "970 (", 5); /* NOLINT(bugprone-not-null-terminated-result): a prefix */
	(void)snprintf(huge + sizeof(huge) - 64, 64, "%s",
		       ") S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20\n");
	fake_proc_ex(&fx->fp, &(struct fake){ .pid = 970,
					      .ppid = 1,
					      .uid = USER_UID,
					      .exe = "/usr/bin/tmux",
					      .stat = huge });
	/* A NUL inside stat. */
	fake_proc_ex(&fx->fp, &(struct fake){ .pid = 971,
					      .ppid = 1,
					      .uid = USER_UID,
					      .exe = "/usr/bin/tmux",
					      .no_stat = true });
	fp_path_join(path, sizeof(path), "%s/971/stat", fx->fp.proc);
#define NUL_STAT "971 (t\0x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20\n"
	fp_write_bytes(path, NUL_STAT, sizeof(NUL_STAT) - 1, false);
	/* stat a directory, status a symlink. */
	fake_proc_ex(&fx->fp, &(struct fake){ .pid = 972,
					      .ppid = 1,
					      .uid = USER_UID,
					      .exe = "/usr/bin/tmux",
					      .no_stat = true });
	fp_path_join(path, sizeof(path), "%s/972/stat", fx->fp.proc);
	assert_int_equal(mkdir(path, 0755), 0);
	fake_proc_ex(&fx->fp, &(struct fake){ .pid = 973,
					      .ppid = 1,
					      .uid = USER_UID,
					      .exe = "/usr/bin/tmux",
					      .no_status = true });
	fp_path_join(path, sizeof(path), "%s/973/status", fx->fp.proc);
	assert_int_equal(symlink("../200/status", path), 0);
	/* A FIFO would block a reader forever; SIGALRM ends the test if so. */
	fake_proc_ex(&fx->fp, &(struct fake){ .pid = 974,
					      .ppid = 1,
					      .uid = USER_UID,
					      .exe = "/usr/bin/tmux",
					      .no_stat = true });
	fp_path_join(path, sizeof(path), "%s/974/stat", fx->fp.proc);
	assert_int_equal(mkfifo(path, 0644), 0);
	alarm(30);

	assert_int_equal(select_trees(fx), 0);
	assert_int_equal(fx->sel.n, 2);
	assert_tree(&fx->sel, "tmux", 200, 0);
	t = find_tree(&fx->sel, 899);
	assert_non_null(t);
	assert_int_equal(t->n, 1);
	assert_int_equal(t->procs[0].starttime, 19);
	/* One line each for the first 8, then one count for the rest. */
	n_bad = sizeof(bad_stats) / sizeof(bad_stats[0]) +
		sizeof(bad_statuses) / sizeof(bad_statuses[0]) + 5;
	assert_true(n_bad > 8);
	assert_int_equal(count_lines(fx, "unparsable /proc entry, skipped"), 8);
	(void)snprintf(more, sizeof(more), "%zu more unparsable /proc entries skipped", n_bad - 8);
	assert_int_equal(count_lines(fx, more), 1);
	assert_int_equal(count_lines(fx, "unparsable"), 9);
	alarm(0);
	/* Contents are never logged. */
	assert_int_equal(count_lines(fx, "garbage"), 0);
}

/* Each stat line above is garbage; a well-formed one parses from the
 * last ')' so that a comm with blanks and parens cannot shift fields. */
static void test_comm_with_parens(void **state)
{
	struct fx *fx = *state;
	char stat[512];

	fake_proc(&fx->fp, 200, 1, USER_UID, "/usr/bin/tmux");
	fp_path_join(stat, sizeof(stat),
		     "600 (a) b) S 1 (c d) S 200 600 600 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 %llu 0\n",
		     FAKE_STARTTIME(600));
	fake_proc_ex(
		&fx->fp,
		&(struct fake){ .pid = 600, .uid = USER_UID, .exe = "/usr/bin/x", .stat = stat });
	fp_path_join(stat, sizeof(stat),
		     "601 (x)) S 600 601 601 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 %llu 0\n",
		     FAKE_STARTTIME(601));
	fake_proc_ex(
		&fx->fp,
		&(struct fake){ .pid = 601, .uid = USER_UID, .exe = "/usr/bin/x", .stat = stat });
	fp_path_join(stat, sizeof(stat),
		     "602 (new\nline) S 601 602 602 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 %llu\n",
		     FAKE_STARTTIME(602));
	fake_proc_ex(
		&fx->fp,
		&(struct fake){ .pid = 602, .uid = USER_UID, .exe = "/usr/bin/x", .stat = stat });
	/* A comm that looks like a tmux child: "(x) S 200 ..." inside parens. */
	fp_path_join(stat, sizeof(stat),
		     "603 (x) S 200 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 %llu) S 1 603 603 0 -1 0 0 "
		     "0 0 0 0 0 0 0 20 0 1 0 %llu 0\n",
		     FAKE_STARTTIME(603), FAKE_STARTTIME(603));
	fake_proc_ex(
		&fx->fp,
		&(struct fake){ .pid = 603, .uid = USER_UID, .exe = "/usr/bin/x", .stat = stat });

	assert_int_equal(select_trees(fx), 0);
	assert_int_equal(fx->sel.n, 1);
	assert_tree(&fx->sel, "tmux", 200, 600, 601, 602, 0);
}

/* Malformed lines in cgroup.procs are counted and skipped. */
static void test_garbage_cgroup_procs(void **state)
{
	struct fx *fx = *state;
	char line[256], dir[PATH_MAX], path[PATH_MAX];

	fake_proc(&fx->fp, 200, 1, USER_UID, "/usr/bin/tmux");
	fake_proc_ex(&fx->fp, &(struct fake){ .pid = 7,
					      .ppid = 1,
					      .uid = USER_UID,
					      .exe = "/usr/bin/tmux",
					      .outside = true });
	cgroup_add_line(&fx->fp, NULL, "abc\n-5\n+7\n 7\n7 \n0\n007\n99999999999\n2147483648\n");
	cgroup_add_line(&fx->fp, NULL, "12abc\n\n\n");
	memset(line, '7', 200);
	line[200] = '\n';
	line[201] = '\0';
	cgroup_add_line(&fx->fp, NULL, line);
	cgroup_dir(&fx->fp, NULL, dir, sizeof(dir));
	fp_path_join(path, sizeof(path), "%s/cgroup.procs", dir);
	fp_write_bytes(path, "7\0\n", 3, true);
	/* 200 again, as the last line without a newline: still one process. */
	fp_write_bytes(path, "200", 3, true);

	/* 7 is a tmux, but no line names it in the kernel's form. */
	assert_int_equal(select_trees(fx), 0);
	assert_int_equal(fx->sel.n, 1);
	assert_tree(&fx->sel, "tmux", 200, 0);
	assert_int_equal(count_lines(fx, "12 malformed lines"), 1);
}

/* A ppid cycle (only a fake /proc makes one) ends; each pid is in one tree. */
static void test_ppid_cycle(void **state)
{
	struct fx *fx = *state;
	struct ks_proc_id kept[] = { { 720, FAKE_STARTTIME(720) } };
	struct ks_proc_id *out = NULL;
	size_t n_out = 0;
	const struct ks_tree *t;

	fake_proc(&fx->fp, 700, 701, USER_UID, "/usr/bin/tmux");
	fake_proc(&fx->fp, 701, 700, USER_UID, "/usr/bin/tmux");
	fake_proc(&fx->fp, 702, 702, USER_UID, "/usr/bin/tmux");
	fake_proc(&fx->fp, 710, 711, USER_UID, "/usr/bin/bash");
	fake_proc(&fx->fp, 711, 710, USER_UID, "/usr/bin/bash");
	fake_proc(&fx->fp, 712, 711, USER_UID, "/usr/bin/screen");
	fake_proc(&fx->fp, 713, 712, USER_UID, "/usr/bin/bash");
	fake_proc(&fx->fp, 721, 723, USER_UID, "/usr/bin/bash");
	fake_proc(&fx->fp, 722, 721, USER_UID, "/usr/bin/bash");
	fake_proc(&fx->fp, 723, 722, USER_UID, "/usr/bin/bash");
	fake_proc(&fx->fp, 724, 720, USER_UID, "/usr/bin/bash");

	assert_int_equal(select_trees(fx), 0);
	assert_int_equal(fx->sel.n, 3);
	assert_disjoint(&fx->sel);
	t = find_tree(&fx->sel, 700) ? find_tree(&fx->sel, 700) : find_tree(&fx->sel, 701);
	assert_non_null(t);
	assert_int_equal(t->n, 2);
	assert_true(tree_has(t, 700) && tree_has(t, 701));
	assert_tree(&fx->sel, "tmux", 702, 0);
	assert_tree(&fx->sel, "screen", 712, 713, 0);

	/* Stragglers through a cycle: below kept 720 is 724 only. */
	assert_int_equal(ks_select_stragglers(&fx->scan, kept, 1, &out, &n_out), 0);
	assert_int_equal(n_out, 1);
	assert_int_equal(out[0].pid, 724);
	free(out);
}

/* Sub-cgroups are read, symlinks and files below the session are not. */
static void test_sub_cgroups(void **state)
{
	struct fx *fx = *state;
	char dir[PATH_MAX], path[PATH_MAX], target[PATH_MAX];

	fake_proc_ex(&fx->fp, &(struct fake){ .pid = 200,
					      .ppid = 1,
					      .uid = USER_UID,
					      .exe = "/usr/bin/tmux",
					      .cgroup = "a/b" });
	fake_proc_ex(&fx->fp, &(struct fake){ .pid = 201,
					      .ppid = 200,
					      .uid = USER_UID,
					      .exe = "/usr/bin/bash",
					      .cgroup = "a" });
	fake_proc_ex(&fx->fp, &(struct fake){ .pid = 202,
					      .ppid = 201,
					      .uid = USER_UID,
					      .exe = "/usr/bin/vim",
					      .cgroup = "c" });
	fake_proc(&fx->fp, 203, 202, USER_UID, "/usr/bin/less");

	/* Outside the session: a cgroup with a tmux, linked from inside. */
	fp_path_join(target, sizeof(target), "%s/elsewhere", fx->fp.cgroot);
	fp_mkdir_p(target);
	fp_path_join(path, sizeof(path), "%s/cgroup.procs", target);
	fp_write_file(path, "300\n");
	fake_proc_ex(&fx->fp, &(struct fake){ .pid = 300,
					      .ppid = 1,
					      .uid = USER_UID,
					      .exe = "/usr/bin/tmux",
					      .outside = true });
	cgroup_dir(&fx->fp, NULL, dir, sizeof(dir));
	fp_path_join(path, sizeof(path), "%s/link", dir);
	assert_int_equal(symlink(target, path), 0);
	fp_path_join(path, sizeof(path), "%s/a/cgroup.freeze", dir);
	fp_write_file(path, "300\n");
	/* A FIFO for cgroup.procs: skipped, not waited on. */
	fp_path_join(path, sizeof(path), "%s/fifo", dir);
	fp_mkdir_p(path);
	fp_path_join(path, sizeof(path), "%s/fifo/cgroup.procs", dir);
	assert_int_equal(mkfifo(path, 0644), 0);

	alarm(30);
	assert_int_equal(select_trees(fx), 0);
	alarm(0);
	assert_int_equal(fx->sel.n, 1);
	assert_tree(&fx->sel, "tmux", 200, 201, 202, 203, 0);

	/* Nor is the session cgroup's own path followed through a symlink. */
	fp_path_join(path, sizeof(path), "%s/user.slice/user-1000.slice/session-4.scope",
		     fx->fp.cgroot);
	assert_int_equal(symlink(target, path), 0);
	fx->scan.cgroup = "/user.slice/user-1000.slice/session-4.scope";
	assert_true(select_trees(fx) < 0);
	assert_int_equal(fx->sel.n, 0);
	fp_path_join(path, sizeof(path), "%s/user.slice/link", fx->fp.cgroot);
	assert_int_equal(symlink("user-1000.slice", path), 0);
	fx->scan.cgroup = "/user.slice/link/session-3.scope";
	assert_true(select_trees(fx) < 0);

	fx->scan.cgroup = "/user.slice/../elsewhere";
	assert_int_equal(select_trees(fx), -EINVAL);
	fx->scan.cgroup = "user.slice/user-1000.slice/session-3.scope";
	assert_int_equal(select_trees(fx), -EINVAL);
	fx->cap.n = 0;
	fx->scan.cgroup = "/user.slice/user-1000.slice/session-99.scope";
	assert_int_equal(select_trees(fx), -ENOENT);
	/* Not said here: the keeper decides what it costs and says it, once
	 * (test_keeper.c's test_session_cgroup_unreadable). */
	assert_int_equal(fx->cap.n, 0);

	/* A session cgroup without cgroup.procs cannot be read. */
	fp_path_join(path, sizeof(path), "%s/user.slice/user-1000.slice/session-5.scope",
		     fx->fp.cgroot);
	fp_mkdir_p(path);
	fx->scan.cgroup = "/user.slice/user-1000.slice/session-5.scope";
	assert_int_equal(select_trees(fx), -ENOENT);

	fx->scan.cgroup = SESSION_CG;
	fx->scan.proc_root = "/nonexistent-proc-root";
	assert_int_equal(select_trees(fx), -ENOENT);
	assert_int_equal(ks_select_trees(NULL, &fx->sel, &fx->log), -EINVAL);
	assert_int_equal(ks_select_trees(&fx->scan, NULL, &fx->log), -EINVAL);
}

/* Sub-cgroups deeper than KS_MAX_CGROUP_DEPTH are cut off with one line. */
static void test_cgroup_depth_bound(void **state)
{
	struct fx *fx = *state;
	char sub[PATH_MAX] = "";
	char deepest[PATH_MAX];

	for (int depth = 1; depth <= KS_MAX_CGROUP_DEPTH + 3; depth++) {
		char name[16];

		snprintf(name, sizeof(name), "%sd%d", depth > 1 ? "/" : "", depth);
		strcat(sub, name);
		if (depth == KS_MAX_CGROUP_DEPTH)
			fake_proc_ex(&fx->fp, &(struct fake){ .pid = 800,
							      .ppid = 1,
							      .uid = USER_UID,
							      .exe = "/usr/bin/tmux",
							      .cgroup = sub });
		if (depth == KS_MAX_CGROUP_DEPTH + 1)
			fake_proc_ex(&fx->fp, &(struct fake){ .pid = 801,
							      .ppid = 1,
							      .uid = USER_UID,
							      .exe = "/usr/bin/tmux",
							      .cgroup = sub });
	}
	/* A second over-deep branch: still one line. */
	deepest[0] = '\0';
	for (int depth = 1; depth <= KS_MAX_CGROUP_DEPTH + 1; depth++)
		strcat(deepest, depth > 1 ? "/e" : "e");
	cgroup_add_line(&fx->fp, deepest, "");

	assert_int_equal(select_trees(fx), 0);
	assert_int_equal(fx->sel.n, 1);
	assert_tree(&fx->sel, "tmux", 800, 0);
	assert_int_equal(count_lines(fx, "deeper"), 1);
}

/* Past KS_MAX_SESSION_PROCS pids, one line and nothing more is added. */
static void test_session_procs_bound(void **state)
{
	struct fx *fx = *state;
	const size_t total = KS_MAX_SESSION_PROCS + 10;
	char dir[PATH_MAX], path[PATH_MAX];
	char *buf = malloc(total * 8 + 1);
	size_t len = 0;

	assert_non_null(buf);
	for (size_t pid = 1; pid <= total; pid++)
		len += (size_t)sprintf(buf + len, "%zu\n", pid);
	cgroup_dir(&fx->fp, NULL, dir, sizeof(dir));
	fp_path_join(path, sizeof(path), "%s/cgroup.procs", dir);
	fp_write_bytes(path, buf, len, false);
	free(buf);
	/* Lines are pids 1, 2, ...: the last one taken, the first one not. */
	fake_proc_ex(&fx->fp, &(struct fake){ .pid = KS_MAX_SESSION_PROCS,
					      .ppid = 1,
					      .uid = USER_UID,
					      .exe = "/usr/bin/tmux",
					      .outside = true });
	fake_proc_ex(&fx->fp, &(struct fake){ .pid = KS_MAX_SESSION_PROCS + 1,
					      .ppid = 1,
					      .uid = USER_UID,
					      .exe = "/usr/bin/tmux",
					      .outside = true });
	/* A sub-cgroup read after the bound adds nothing either. */
	fake_proc_ex(&fx->fp, &(struct fake){ .pid = 70000,
					      .ppid = 1,
					      .uid = USER_UID,
					      .exe = "/usr/bin/tmux",
					      .cgroup = "sub" });

	assert_int_equal(select_trees(fx), 0);
	assert_int_equal(fx->sel.n, 1);
	assert_tree(&fx->sel, "tmux", KS_MAX_SESSION_PROCS, 0);
	assert_int_equal(count_lines(fx, "more than"), 1);
}

/* The bounded walk: up to max pids, the pids; one more, -E2BIG and no
 * line (the caller decides what a large session costs); a max it cannot
 * honour is refused. */
static void test_cgroup_pids_max(void **state)
{
	struct fx *fx = *state;
	pid_t *pids = NULL;
	size_t n = 0;

	cgroup_add_line(&fx->fp, NULL, "30\n10\n20\n");
	cgroup_add_line(&fx->fp, "sub", "50\n40\n");
	assert_int_equal(ks_cgroup_pids_max(fx->fp.cgroot, SESSION_CG, 0, 5, &fx->log, &pids, &n),
			 0);
	assert_int_equal(n, 5);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(pids[i], (pid_t)(10 * (i + 1)));
	free(pids);
	pids = NULL;

	/* The sixth pid is the one too many, in the sub-cgroup. */
	cgroup_add_line(&fx->fp, "sub", "60\n");
	n = 99;
	assert_int_equal(ks_cgroup_pids_max(fx->fp.cgroot, SESSION_CG, 0, 5, &fx->log, &pids, &n),
			 -E2BIG);
	assert_null(pids);
	assert_int_equal(n, 99);
	assert_int_equal(fx->cap.n, 0);

	assert_int_equal(ks_cgroup_pids_max(fx->fp.cgroot, SESSION_CG, 0, 0, &fx->log, &pids, &n),
			 -EINVAL);
	assert_int_equal(ks_cgroup_pids_max(fx->fp.cgroot, SESSION_CG, 0, KS_MAX_SESSION_PROCS + 1,
					    &fx->log, &pids, &n),
			 -EINVAL);
	/* The unbounded walk still takes them all. */
	assert_int_equal(ks_cgroup_pids(fx->fp.cgroot, SESSION_CG, 0, &fx->log, &pids, &n), 0);
	assert_int_equal(n, 6);
	free(pids);
}

/* After a move: what was forked under the kept processes meanwhile. */
static void test_stragglers(void **state)
{
	struct fx *fx = *state;
	const struct ks_proc_id kept[] = {
		{ 202, FAKE_STARTTIME(202) }, /* unsorted on purpose */
		{ 200, FAKE_STARTTIME(200) },
		{ 201, FAKE_STARTTIME(201) },
		{ 210, 42 }, /* its pid now names another process */
	};
	struct ks_proc_id *out = (struct ks_proc_id *)1;
	size_t n_out = 99;

	/* 200 and 202 have left the cgroup; 201 did not move (yet). */
	fake_proc(&fx->fp, 201, 200, USER_UID, "/usr/bin/bash");
	fake_proc(&fx->fp, 203, 202, USER_UID, "/usr/bin/make");
	fake_proc_ex(&fx->fp, &(struct fake){ .pid = 204,
					      .ppid = 203,
					      .uid = USER_UID,
					      .exe = "/usr/bin/cc",
					      .cgroup = "sub" });
	fake_proc(&fx->fp, 205, 202, 0, "/usr/bin/sudo");
	fake_proc(&fx->fp, 206, 205, USER_UID, "/usr/bin/vim");
	fake_proc(&fx->fp, 207, 201, USER_UID, "/usr/bin/sleep");
	fake_proc(&fx->fp, 210, 1, USER_UID, "/usr/bin/bash");
	fake_proc(&fx->fp, 211, 210, USER_UID, "/usr/bin/sleep");
	fake_proc(&fx->fp, 300, 1, USER_UID, "/usr/bin/sleep");
	fake_proc(&fx->fp, 301, 300, USER_UID, "/usr/bin/sleep");
	fake_proc(&fx->fp, 302, 100, USER_UID, "/usr/bin/sleep");

	assert_int_equal(ks_select_stragglers(&fx->scan, kept, 4, &out, &n_out), 0);
	assert_int_equal(n_out, 4);
	assert_int_equal(out[0].pid, 203);
	assert_int_equal(out[1].pid, 204);
	assert_int_equal(out[2].pid, 206);
	assert_int_equal(out[3].pid, 207);
	for (size_t i = 0; i < n_out; i++)
		assert_int_equal(out[i].starttime, FAKE_STARTTIME(out[i].pid));
	free(out);

	/* Nothing kept: nothing straggles. */
	assert_int_equal(ks_select_stragglers(&fx->scan, NULL, 0, &out, &n_out), 0);
	assert_int_equal(n_out, 0);
	assert_null(out);

	assert_int_equal(ks_select_stragglers(&fx->scan, NULL, 1, &out, &n_out), -EINVAL);
	fx->scan.cgroup = "/nope";
	assert_int_equal(ks_select_stragglers(&fx->scan, kept, 4, &out, &n_out), -ENOENT);
}

/* One rescan for several trees: each straggler names the kept process it
 * descends from (the nearest), as an index in the caller's array. */
static void test_stragglers_owned(void **state)
{
	struct fx *fx = *state;
	const struct ks_proc_id kept[] = {
		{ 300, FAKE_STARTTIME(300) },
		{ 200, FAKE_STARTTIME(200) },
		{ 201, FAKE_STARTTIME(201) },
	};
	struct ks_proc_id *out = NULL;
	size_t *owners = NULL, n_out = 0;

	fake_proc(&fx->fp, 201, 200, USER_UID, "/usr/bin/bash");
	fake_proc(&fx->fp, 202, 201, USER_UID, "/usr/bin/make");
	fake_proc(&fx->fp, 203, 200, USER_UID, "/usr/bin/vim");
	fake_proc(&fx->fp, 301, 300, USER_UID, "/usr/bin/sleep");
	fake_proc(&fx->fp, 302, 301, USER_UID, "/usr/bin/sleep");

	assert_int_equal(ks_select_stragglers_owned(&fx->scan, kept, 3, &out, &owners, &n_out), 0);
	assert_int_equal(n_out, 4);
	assert_int_equal(out[0].pid, 202);
	assert_int_equal(owners[0], 2);
	assert_int_equal(out[1].pid, 203);
	assert_int_equal(owners[1], 1);
	assert_int_equal(out[2].pid, 301);
	assert_int_equal(owners[2], 0);
	assert_int_equal(out[3].pid, 302);
	assert_int_equal(owners[3], 0);
	free(out);
	free(owners);
}

/* 10 000 processes: a wide tree and a deep chain (no recursion, no n^2). */
static void test_many_processes(void **state)
{
	struct fx *fx = *state;
	const pid_t base = 1000, wide = 5000, deep = 5000;
	struct ks_proc_id kept = { base, FAKE_STARTTIME(base) };
	struct ks_proc_id *out = NULL;
	size_t n_out = 0;
	const struct ks_tree *t;

	fake_proc(&fx->fp, base, 1, USER_UID, "/usr/bin/tmux");
	for (pid_t i = 1; i < wide; i++)
		fake_proc(&fx->fp, base + i, base + (i - 1) / 2, USER_UID, "/usr/bin/bash");
	fake_proc(&fx->fp, 20000, 1, USER_UID, "/usr/bin/screen");
	for (pid_t i = 1; i < deep; i++)
		fake_proc(&fx->fp, 20000 + i, 20000 + i - 1, USER_UID, "/usr/bin/bash");

	assert_int_equal(select_trees(fx), 0);
	assert_int_equal(fx->sel.n, 2);
	t = find_tree(&fx->sel, base);
	assert_non_null(t);
	assert_int_equal(t->n, (size_t)wide);
	t = find_tree(&fx->sel, 20000);
	assert_non_null(t);
	assert_int_equal(t->n, (size_t)deep);
	assert_string_equal(t->program, "screen");
	assert_disjoint(&fx->sel);

	/* With the tmux server gone from the cgroup, its whole tree straggles. */
	assert_int_equal(ks_select_stragglers(&fx->scan, &kept, 1, &out, &n_out), 0);
	assert_int_equal(n_out, (size_t)wide - 1);
	free(out);
}

/* Replaces a fake process's file (stat, status) by a directory: no
 * regular file, so a read of it would be an unparsable entry, logged. */
static void proc_file_to_dir(const struct fx *fx, pid_t pid, const char *name)
{
	char path[PATH_MAX];

	fp_path_join(path, sizeof(path), "%s/%d/%s", fx->fp.proc, (int)pid, name);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkdir(path, 0755), 0);
}

/* The session cgroup's cgroup.procs, rewritten: pids (0-terminated). */
static void set_session_procs(const struct fx *fx, ...)
{
	char dir[PATH_MAX], path[PATH_MAX + 16], text[256] = "";
	size_t len = 0;
	va_list ap;
	pid_t pid;

	va_start(ap, fx);
	while ((pid = va_arg(ap, pid_t)) != 0)
		len += (size_t)snprintf(text + len, sizeof(text) - len, "%d\n", (int)pid);
	va_end(ap);
	cgroup_dir(&fx->fp, NULL, dir, sizeof(dir));
	fp_path_join(path, sizeof(path), "%s/cgroup.procs", dir);
	fp_write_file(path, text);
}

/*
 * status is read only for a process that can be selected: a matched one,
 * or a member of a selected tree. Here every other process's status is a
 * directory, which a read would log as unparsable: none is logged, and the
 * selection is the same. A matched process's unreadable status is read,
 * logged, and keeps it out.
 */
static void test_status_read_where_needed(void **state)
{
	struct fx *fx = *state;

	fake_proc(&fx->fp, 100, 1, 0, "/usr/sbin/sshd");
	fake_proc(&fx->fp, 101, 100, USER_UID, "/usr/bin/bash");
	fake_proc(&fx->fp, 102, 101, USER_UID, "/usr/bin/sleep");
	fake_proc(&fx->fp, 200, 1, USER_UID, "/usr/bin/tmux");
	fake_proc(&fx->fp, 201, 200, USER_UID, "/usr/bin/bash");
	proc_file_to_dir(fx, 100, "status");
	proc_file_to_dir(fx, 101, "status");
	proc_file_to_dir(fx, 102, "status");

	assert_int_equal(select_trees(fx), 0);
	assert_int_equal(fx->sel.n, 1);
	assert_tree(&fx->sel, "tmux", 200, 201, 0);
	assert_int_equal(count_lines(fx, "unparsable"), 0);

	fake_proc(&fx->fp, 300, 1, USER_UID, "/usr/bin/tmux");
	proc_file_to_dir(fx, 300, "status");
	assert_int_equal(select_trees(fx), 0);
	assert_int_equal(fx->sel.n, 1);
	assert_tree(&fx->sel, "tmux", 200, 201, 0);
	assert_int_equal(count_lines(fx, "process 300: unparsable"), 1);
	assert_int_equal(count_lines(fx, "unparsable"), 1);
}

/*
 * With a table (ks_scan.known), a rescan reads /proc only for pids it has
 * not seen: pids known from the selection are taken from the table even
 * when their files are gone by now, and a new pid's files are read.
 * Without a table the same rescan reads everything again.
 */
static void test_rescan_reuses_table(void **state)
{
	struct fx *fx = *state;
	const struct ks_proc_id kept[] = { { 200, FAKE_STARTTIME(200) } };
	struct ks_proc_id *out = NULL;
	size_t n_out = 0;

	fx->scan.known = ks_proc_table_new();
	assert_non_null(fx->scan.known);
	fake_proc(&fx->fp, 101, 1, USER_UID, "/usr/bin/bash");
	fake_proc(&fx->fp, 200, 1, USER_UID, "/usr/bin/tmux");
	fake_proc(&fx->fp, 201, 200, USER_UID, "/usr/bin/bash");
	fake_proc(&fx->fp, 202, 201, USER_UID, "/usr/bin/vim");
	assert_int_equal(select_trees(fx), 0);
	assert_tree(&fx->sel, "tmux", 200, 201, 202, 0);

	/* tmux moved out; 201's and 202's files are gone (as if unreadable
	 * now), and 201 forked 203 meanwhile; 101's status was never read,
	 * and is not now: it owns nothing. */
	set_session_procs(fx, 101, 201, 202, 0);
	for (pid_t pid = 201; pid <= 202; pid++) {
		proc_file_to_dir(fx, pid, "stat");
		proc_file_to_dir(fx, pid, "status");
	}
	proc_file_to_dir(fx, 101, "status");
	fake_proc(&fx->fp, 203, 201, USER_UID, "/usr/bin/make");

	assert_int_equal(ks_select_stragglers(&fx->scan, kept, 1, &out, &n_out), 0);
	assert_int_equal(n_out, 3);
	assert_int_equal(out[0].pid, 201);
	assert_int_equal(out[1].pid, 202);
	assert_int_equal(out[2].pid, 203);
	for (size_t i = 0; i < n_out; i++)
		assert_int_equal(out[i].starttime, FAKE_STARTTIME(out[i].pid));
	free(out);

	/* The next rescan knows 203 too: its files can go as well. */
	proc_file_to_dir(fx, 203, "stat");
	assert_int_equal(ks_select_stragglers(&fx->scan, kept, 1, &out, &n_out), 0);
	assert_int_equal(n_out, 3);
	free(out);
	assert_int_equal(count_lines(fx, "unparsable"), 0);

	/* Without the table: 201, 202 and 203 cannot be read now. */
	ks_proc_table_free(fx->scan.known);
	fx->scan.known = NULL;
	assert_int_equal(ks_select_stragglers(&fx->scan, kept, 1, &out, &n_out), 0);
	assert_int_equal(n_out, 0);
	assert_null(out);
}

/* A pid that left the cgroup is dropped from the table: if the pid comes
 * back, it is another process, and it is read afresh. */
static void test_table_drops_departed(void **state)
{
	struct fx *fx = *state;
	const struct ks_proc_id kept[] = { { 200, FAKE_STARTTIME(200) } };
	struct ks_proc_id *out = NULL;
	size_t n_out = 0;
	char dir[PATH_MAX];

	fx->scan.known = ks_proc_table_new();
	assert_non_null(fx->scan.known);
	fake_proc(&fx->fp, 200, 1, USER_UID, "/usr/bin/tmux");
	fake_proc(&fx->fp, 201, 200, USER_UID, "/usr/bin/bash");
	assert_int_equal(select_trees(fx), 0);
	assert_tree(&fx->sel, "tmux", 200, 201, 0);

	set_session_procs(fx, 0);
	assert_int_equal(ks_select_stragglers(&fx->scan, kept, 1, &out, &n_out), 0);
	assert_int_equal(n_out, 0);

	/* pid 201 again, now of root and below another parent. */
	for (size_t i = 0; i < 3; i++) {
		static const char *const files[] = { "stat", "status", "exe" };

		fp_path_join(dir, sizeof(dir), "%s/201/%s", fx->fp.proc, files[i]);
		assert_int_equal(unlink(dir), 0);
	}
	fp_path_join(dir, sizeof(dir), "%s/201", fx->fp.proc);
	assert_int_equal(rmdir(dir), 0);
	fake_proc(&fx->fp, 201, 200, 0, "/usr/bin/bash");
	assert_int_equal(ks_select_stragglers(&fx->scan, kept, 1, &out, &n_out), 0);
	assert_int_equal(n_out, 0);
	assert_null(out);
	ks_proc_table_free(fx->scan.known);
	fx->scan.known = NULL;
}

/*
 * A kept pid seen in the cgroup again after the move is, by its start
 * time, another process that reused the pid: its children are no
 * stragglers, neither of the kept process that had the pid nor of that
 * one's kept parent; no more are the children of a new process under the
 * pid of root's sudo left below the kept tree. The table still holds the
 * old processes' stat under those pids, so it is read again.
 */
static void test_table_kept_pid_reused(void **state)
{
	struct fx *fx = *state;
	const struct ks_proc_id kept[] = {
		{ 200, FAKE_STARTTIME(200) },
		{ 201, FAKE_STARTTIME(201) },
	};
	struct ks_proc_id *out = NULL;
	size_t n_out = 0;

	fx->scan.known = ks_proc_table_new();
	assert_non_null(fx->scan.known);
	fake_proc(&fx->fp, 101, 1, USER_UID, "/usr/bin/bash");
	fake_proc(&fx->fp, 200, 1, USER_UID, "/usr/bin/tmux");
	fake_proc(&fx->fp, 201, 200, USER_UID, "/usr/bin/bash");
	fake_proc(&fx->fp, 205, 200, 0, "/usr/bin/sudo");
	assert_int_equal(select_trees(fx), 0);
	assert_tree(&fx->sel, "tmux", 200, 201, 0);

	/* The tree moved out and its pane's shell exited, and root's sudo
	 * left below it; the login shell forked a new 201 and a new 205
	 * (other start times), which forked 202 and 206. */
	for (pid_t pid = 201; pid <= 205; pid += 4) {
		char exe[PATH_MAX];

		fp_path_join(exe, sizeof(exe), "%s/%d/exe", fx->fp.proc, (int)pid);
		assert_int_equal(unlink(exe), 0);
	}
	fake_proc_ex(&fx->fp, &(struct fake){ .pid = 201,
					      .ppid = 101,
					      .uid = USER_UID,
					      .starttime = 99,
					      .exe = "/usr/bin/bash" });
	fake_proc_ex(&fx->fp, &(struct fake){ .pid = 205,
					      .ppid = 101,
					      .uid = USER_UID,
					      .starttime = 98,
					      .exe = "/usr/bin/bash" });
	fake_proc(&fx->fp, 202, 201, USER_UID, "/usr/bin/sleep");
	fake_proc(&fx->fp, 206, 205, USER_UID, "/usr/bin/sleep");
	set_session_procs(fx, 101, 201, 202, 205, 206, 0);

	assert_int_equal(ks_select_stragglers(&fx->scan, kept, 2, &out, &n_out), 0);
	assert_int_equal(n_out, 0);
	assert_null(out);

	/* The table now holds the new 201 and 205: still no owner. */
	assert_int_equal(ks_select_stragglers(&fx->scan, kept, 2, &out, &n_out), 0);
	assert_int_equal(n_out, 0);
	assert_null(out);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_tmux_login),
		T(test_debug_lines_capped),
		T(test_screen_client_transparent),
		T(test_scan_deadline),
		T(test_nested_multiplexers),
		T(test_match_by_exe_not_comm),
		T(test_other_uids),
		T(test_deleted_and_absolute),
		T(test_vanishing_processes),
		T(test_garbage_proc_files),
		T(test_comm_with_parens),
		T(test_garbage_cgroup_procs),
		T(test_ppid_cycle),
		T(test_sub_cgroups),
		T(test_cgroup_depth_bound),
		T(test_session_procs_bound),
		T(test_cgroup_pids_max),
		T(test_stragglers),
		T(test_stragglers_owned),
		T(test_many_processes),
		T(test_status_read_where_needed),
		T(test_rescan_reuses_table),
		T(test_table_drops_departed),
		T(test_table_kept_pid_reused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
