/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * scan_bench: the process selection (src/proctree.c) over a fake /proc and
 * cgroup tree, for an instruction count that does not depend on the
 * machine's load (bench/scan-count runs it under callgrind).
 *
 *   scan_bench build DIR N   writes DIR/proc and DIR/cgroup: a session of
 *                            N processes (N >= 200) of uid 1000
 *   scan_bench scan DIR      ks_select_trees() once, then one straggler
 *                            rescan (ks_select_stragglers()) with the whole
 *                            selected tree as kept, as the keeper does after
 *                            its last attach round, both with one table
 *                            (ks_scan.known) as the keeper holds it;
 *                            prints what it found
 *
 * The session: an sshd process (uid 0), the login shell, a tmux server
 * (daemonized, parent 1) with 10 pane shells of 9 children each, and
 * sleeps started by the login shell for the rest. Each process has a stat
 * line, a status file of the kernel's layout and size, and an exe link.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ks_log.h"
#include "ks_proctree.h"
#include "ks_strlist.h"

#define SESSION_CG "/user.slice/user-1000.slice/session-1.scope"
#define FIRST_PID 1000
#define UID 1000
#define PANES 10
#define PANE_CHILDREN 9

__attribute__((noreturn)) static void die(const char *what)
{
	fprintf(stderr, "scan_bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void write_file(const char *path, const char *text, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || write(fd, text, len) != (ssize_t)len || close(fd) < 0)
		die(path);
}

/* What the kernel writes, with the fields the scan reads set per process. */
static void write_proc(const char *root, pid_t pid, pid_t ppid, uid_t uid, const char *exe)
{
	const char *comm = strrchr(exe, '/') + 1;
	char dir[PATH_MAX], path[PATH_MAX + 16], text[2048];
	unsigned long long starttime = 5000000ULL + (unsigned long long)pid * 3;
	int n;

	(void)snprintf(dir, sizeof(dir), "%s/proc/%d", root, (int)pid);
	if (mkdir(dir, 0755) < 0)
		die(dir);

	n = snprintf(text, sizeof(text),
		     "%d (%s) S %d %d %d 0 -1 4194560 120 0 0 0 0 0 0 0 20 0 1 0 %llu "
		     "8704000 230 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 "
		     "0 0 0 0 0 0 0\n",
		     (int)pid, comm, (int)ppid, (int)ppid, (int)ppid, starttime);
	(void)snprintf(path, sizeof(path), "%s/stat", dir);
	write_file(path, text, (size_t)n);

	n = snprintf(text, sizeof(text),
		     "Name:\t%s\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t%d\nNgid:\t0\n"
		     "Pid:\t%d\nPPid:\t%d\nTracerPid:\t0\nUid:\t%u\t%u\t%u\t%u\n"
		     "Gid:\t%u\t%u\t%u\t%u\nFDSize:\t64\nGroups:\t%u \nNStgid:\t%d\nNSpid:\t%d\n"
		     "NSpgid:\t%d\nNSsid:\t%d\nVmPeak:\t    8500 kB\nVmSize:\t    8500 kB\n"
		     "VmLck:\t       0 kB\nVmPin:\t       0 kB\nVmHWM:\t     920 kB\n"
		     "VmRSS:\t     920 kB\nRssAnon:\t      88 kB\nRssFile:\t     832 kB\n"
		     "RssShmem:\t       0 kB\nVmData:\t     360 kB\nVmStk:\t     132 kB\n"
		     "VmExe:\t      16 kB\nVmLib:\t    1644 kB\nVmPTE:\t      52 kB\n"
		     "VmSwap:\t       0 kB\nHugetlbPages:\t       0 kB\nCoreDumping:\t0\n"
		     "THP_enabled:\t1\nThreads:\t1\nSigQ:\t0/95000\nSigPnd:\t0000000000000000\n"
		     "ShdPnd:\t0000000000000000\nSigBlk:\t0000000000000000\n"
		     "SigIgn:\t0000000000000000\nSigCgt:\t0000000000000000\n"
		     "CapInh:\t0000000000000000\nCapPrm:\t0000000000000000\n"
		     "CapEff:\t0000000000000000\nCapBnd:\t000001ffffffffff\n"
		     "CapAmb:\t0000000000000000\nNoNewPrivs:\t0\nSeccomp:\t0\n"
		     "Seccomp_filters:\t0\nSpeculation_Store_Bypass:\tthread vulnerable\n"
		     "SpeculationIndirectBranch:\tconditional enabled\nCpus_allowed:\t3\n"
		     "Cpus_allowed_list:\t0-1\nMems_allowed:\t00000000,00000001\n"
		     "Mems_allowed_list:\t0\nvoluntary_ctxt_switches:\t2\n"
		     "nonvoluntary_ctxt_switches:\t0\n",
		     comm, (int)pid, (int)pid, (int)ppid, uid, uid, uid, uid, uid, uid, uid, uid,
		     uid, (int)pid, (int)pid, (int)ppid, (int)ppid);
	(void)snprintf(path, sizeof(path), "%s/status", dir);
	write_file(path, text, (size_t)n);

	(void)snprintf(path, sizeof(path), "%s/exe", dir);
	if (symlink(exe, path) < 0)
		die(path);
}

static void mkdir_p(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			die(path);
		*p = '/';
	}
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		die(path);
}

static int build(const char *root, long n)
{
	char path[PATH_MAX], *procs;
	size_t len = 0, size;
	pid_t pid = FIRST_PID, sshd, shell, tmux;

	if (n < 200 || n > 1000000) {
		fprintf(stderr, "scan_bench: N must be between 200 and 1000000\n");
		return 1;
	}
	size = (size_t)n * 12;
	procs = malloc(size);
	if (!procs)
		die("malloc");
	(void)snprintf(path, sizeof(path), "%s/proc", root);
	mkdir_p(path);
	(void)snprintf(path, sizeof(path), "%s/cgroup%s", root, SESSION_CG);
	mkdir_p(path);

#define ADD(pid_, ppid_, uid_, exe_)                                                               \
	do {                                                                                       \
		write_proc(root, (pid_), (ppid_), (uid_), (exe_));                                 \
		len += (size_t)snprintf(procs + len, size - len, "%d\n", (int)(pid_));             \
	} while (0)

	sshd = pid++;
	ADD(sshd, 1, 0, "/usr/sbin/sshd");
	shell = pid++;
	ADD(shell, sshd, UID, "/usr/bin/bash");
	tmux = pid++;
	ADD(tmux, 1, UID, "/usr/bin/tmux");
	for (int p = 0; p < PANES; p++) {
		pid_t pane = pid++;

		ADD(pane, tmux, UID, "/usr/bin/bash");
		for (int c = 0; c < PANE_CHILDREN; c++, pid++)
			ADD(pid, pane, UID, "/usr/bin/sleep");
	}
	while (pid < FIRST_PID + n) {
		ADD(pid, shell, UID, "/usr/bin/sleep");
		pid++;
	}
#undef ADD
	(void)snprintf(path, sizeof(path), "%s/cgroup%s/cgroup.procs", root, SESSION_CG);
	write_file(path, procs, len);
	free(procs);
	return 0;
}

static void quiet(void *ctx, int priority, const char *message)
{
	(void)ctx;
	if (priority <= LOG_WARNING)
		fprintf(stderr, "scan_bench: %s\n", message);
}

static int scan(const char *root)
{
	struct ks_strlist programs = { 0 };
	struct ks_selection sel = { 0 };
	struct ks_proc_id *found = NULL;
	size_t n_found = 0, n_kept = 0;
	char proc[PATH_MAX], cgroot[PATH_MAX];
	const struct ks_log log = { .sink = quiet };
	struct ks_scan s = {
		.proc_root = proc,
		.cgroup_root = cgroot,
		.cgroup = SESSION_CG,
		.uid = UID,
		.programs = &programs,
		.known = ks_proc_table_new(),
	};
	int r;

	(void)snprintf(proc, sizeof(proc), "%s/proc", root);
	(void)snprintf(cgroot, sizeof(cgroot), "%s/cgroup", root);
	if (ks_strlist_add_split(&programs, "tmux,screen,zellij,dtach,abduco,mosh-server") < 0)
		die("ks_strlist_add_split");
	if (!s.known)
		die("ks_proc_table_new");

	r = ks_select_trees(&s, &sel, &log);
	if (r < 0) {
		fprintf(stderr, "scan_bench: ks_select_trees: %s\n", strerror(-r));
		return 1;
	}
	for (size_t t = 0; t < sel.n; t++)
		n_kept += sel.trees[t].n;
	r = sel.n ? ks_select_stragglers(&s, sel.trees[0].procs, sel.trees[0].n, &found, &n_found) :
		    0;
	if (r < 0) {
		fprintf(stderr, "scan_bench: ks_select_stragglers: %s\n", strerror(-r));
		return 1;
	}
	printf("selected %zu tree(s), %zu process(es); stragglers %zu\n", sel.n, n_kept, n_found);
	free(found);
	ks_selection_free(&sel);
	ks_proc_table_free(s.known);
	ks_strlist_clear(&programs);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "build") == 0)
		return build(argv[2], strtol(argv[3], NULL, 10));
	if (argc == 3 && strcmp(argv[1], "scan") == 0)
		return scan(argv[2]);
	fprintf(stderr, "usage: scan_bench build DIR N | scan_bench scan DIR\n");
	return 2;
}
