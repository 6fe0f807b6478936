/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef KS_PROCTREE_H
#define KS_PROCTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ks_log.h"
#include "ks_strlist.h"

/*
 * Process-tree selection. Everything is read below two roots passed in, so
 * tests can fake both: proc_root ("/proc") and cgroup_root, the mount point
 * of the hierarchy systemd tracks processes in ("/sys/fs/cgroup" on
 * unified systems, "/sys/fs/cgroup/systemd" on hybrid and legacy ones).
 * Only the closing session's cgroup is read (cgroup.procs, sub-cgroups
 * included), so the cost grows with the session, not with the host.
 */

enum ks_cgroup_mode {
	KS_CGROUP_UNIFIED, /* cgroup v2 only: "0::" lines */
	KS_CGROUP_LEGACY,  /* hybrid or v1: systemd's "name=systemd" lines */
};

/* Bounds against a hostile session: deeper cgroup trees and larger
 * sessions are cut off with a log line, never scanned without end. */
#define KS_MAX_CGROUP_DEPTH 16
#define KS_MAX_SESSION_PROCS 65536

struct ks_proc_id {
	pid_t pid;
	unsigned long long starttime; /* field 22 of /proc/PID/stat: with pid, an identity */
};

struct ks_tree {
	char *program;            /* the matched entry of the program list */
	struct ks_proc_id *procs; /* procs[0] is the matched process, then descendants */
	size_t n;
};

struct ks_selection {
	struct ks_tree *trees;
	size_t n;
};

struct ks_scan {
	const char *proc_root;
	const char *cgroup_root;
	const char *cgroup; /* the session's cgroup path, e.g.
			       /user.slice/user-1000.slice/session-3.scope */
	uid_t uid;          /* only processes whose real uid is this are ever selected */
	const struct ks_strlist *programs;
	uint64_t deadline; /* CLOCK_MONOTONIC usec; a scan past it is -ETIMEDOUT. 0: none */
};

/* Detects how systemd tracks processes, from statfs() below sysfs_cgroup
 * ("/sys/fs/cgroup"), and writes the mount point of the hierarchy to read
 * into cgroup_root (size bytes). Returns 0, -ENOMEDIUM when no cgroup
 * hierarchy of systemd's is mounted there, or -ENAMETOOLONG. */
int ks_cgroup_mode_detect(const char *sysfs_cgroup, enum ks_cgroup_mode *mode, char *cgroup_root,
			  size_t size);

/* The systemd cgroup path of pid ("self" allowed) from
 * <proc_root>/<pid>/cgroup. Returns 0 and a malloc'd *path, or -errno. */
int ks_proc_cgroup(const char *proc_root, const char *pid, enum ks_cgroup_mode mode, char **path);

/* Does exe (a /proc/PID/exe target, maybe ending in " (deleted)") match an
 * entry: an absolute path exactly, or a base name? Returns the entry or NULL. */
const char *ks_program_match(const struct ks_strlist *programs, const char *exe);

/*
 * Selects, among the processes in the session cgroup, each one of the
 * user's uid whose executable matches, with all its descendants in the
 * cgroup of that uid. A matched process below another one belongs to the
 * outer tree. A matched process whose controlling terminal is one of the
 * closing session's (an attached screen or tmux client) is a client: no
 * tree of its own, and transparent, so that the server below it is a
 * root. The session's terminals are those of the session leaders that
 * are not below a matched process. Processes that vanish mid-scan are
 * skipped silently.
 * Returns 0 (maybe with no tree), or -errno when the cgroup cannot be read.
 */
int ks_select_trees(const struct ks_scan *scan, struct ks_selection *out, const struct ks_log *log);

/*
 * After a move: the processes still in the session cgroup, of the user's
 * uid, that descend from one of kept (which have left the cgroup by now):
 * children forked while the move was under way. Returns 0 and a malloc'd
 * array (maybe empty), or -errno.
 */
int ks_select_stragglers(const struct ks_scan *scan, const struct ks_proc_id *kept, size_t n_kept,
			 struct ks_proc_id **out, size_t *n_out);

/* The same, and owners[i] the index in kept of the nearest kept process
 * above out[i] (malloc'd alongside, when owners is not NULL). */
int ks_select_stragglers_owned(const struct ks_scan *scan, const struct ks_proc_id *kept,
			       size_t n_kept, struct ks_proc_id **out, size_t **owners,
			       size_t *n_out);

void ks_selection_free(struct ks_selection *s);

/* Reads pid's start time and real uid from <proc_root>/<pid>/stat and
 * /status. Returns 0, -ESRCH when gone, -EINVAL when unparsable. */
int ks_proc_identity(const char *proc_root, pid_t pid, unsigned long long *starttime, uid_t *uid);

/*
 * Pins a selected process: opens a pidfd, then checks through proc_root
 * that pid still has the scanned start time and uid, so a reused pid is
 * never moved. Returns the pidfd (O_CLOEXEC), or -ESRCH when the process
 * is gone or not the same, or -ENOSYS without pidfd_open (kernel < 5.3),
 * in which case the caller checks the identity alone and passes the pid;
 * a seccomp filter's EPERM is taken as -ENOSYS as well.
 */
int ks_proc_pin(const char *proc_root, const struct ks_proc_id *id, uid_t uid);

/*
 * The parsers behind the functions above, without I/O, so that they can be
 * fuzzed (fuzz/fuzz_proc.c). Each reads len bytes at buf, which need not
 * be NUL-terminated, and returns -EINVAL for what the kernel never writes.
 */

struct ks_proc_stat {
	pid_t ppid;                   /* field 4 */
	pid_t session;                /* field 6 */
	int tty_nr;                   /* field 7: controlling terminal, 0 for none */
	unsigned long long starttime; /* field 22 */
};

/* /proc/PID/stat of pid, in one parse. COMM may hold blanks and parens, so
 * the fields are counted from the last ')'. */
int ks_parse_proc_stat_fields(const char *buf, size_t len, pid_t pid, struct ks_proc_stat *st);

/* The same, ppid and start time only. */
int ks_parse_proc_stat(const char *buf, size_t len, pid_t pid, pid_t *ppid,
		       unsigned long long *starttime);

/* /proc/PID/status: the real uid, the first number of the "Uid:" line. */
int ks_parse_status_uid(const char *buf, size_t len, uid_t *uid);

/* /proc/PID/cgroup: the path in the hierarchy of mode, pointing into buf.
 * Returns 0, -ENODATA when there is no such line, or -EINVAL (a NUL byte,
 * two such lines, a path that is not absolute). */
int ks_parse_proc_cgroup(const char *buf, size_t len, enum ks_cgroup_mode mode, const char **path,
			 size_t *path_len);

/* One line of cgroup.procs, without its '\n': a pid in plain decimal.
 * Returns 0, -ENODATA for an empty line, or -EINVAL. */
int ks_parse_pid_line(const char *line, size_t len, pid_t *pid);

#endif
