/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef KS_CGROUP_H
#define KS_CGROUP_H

/* How systemd tracks processes in cgroups: the hierarchy to read, a
 * process's cgroup, and the bounded walk of a session cgroup's pids. */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ks_log.h"

enum ks_cgroup_mode {
	KS_CGROUP_UNIFIED, /* cgroup v2 only: "0::" lines */
	KS_CGROUP_LEGACY,  /* hybrid or v1: systemd's "name=systemd" lines */
};

/* Bounds against a hostile session: deeper cgroup trees and larger
 * sessions are cut off with a log line, never scanned without end. */
#define KS_MAX_CGROUP_DEPTH 16
#define KS_MAX_SESSION_PROCS 65536

/* Detects how systemd tracks processes, from statfs() below sysfs_cgroup
 * ("/sys/fs/cgroup"), and writes the mount point of the hierarchy to read
 * into cgroup_root (size bytes). Returns 0, -ENOMEDIUM when no cgroup
 * hierarchy of systemd's is mounted there, or -ENAMETOOLONG. */
int ks_cgroup_mode_detect(const char *sysfs_cgroup, enum ks_cgroup_mode *mode, char *cgroup_root,
			  size_t size);

/* The systemd cgroup path of pid ("self" allowed) from
 * <proc_root>/<pid>/cgroup. Returns 0 and a malloc'd *path, or -errno. */
int ks_proc_cgroup(const char *proc_root, const char *pid, enum ks_cgroup_mode mode, char **path);

/*
 * The pids in cgroup (below cgroup_root, following no symlink) and its
 * sub-cgroups, sorted, each once, at most KS_MAX_SESSION_PROCS of them,
 * KS_MAX_CGROUP_DEPTH deep (a bound hit is logged, the rest ignored).
 * Returns 0 and a malloc'd array, -ETIMEDOUT past deadline (CLOCK_MONOTONIC
 * usec, 0: none), or -errno when the cgroup itself cannot be read (not
 * logged: the caller decides what that costs and says it).
 */
int ks_cgroup_pids(const char *cgroup_root, const char *cgroup, uint64_t deadline,
		   const struct ks_log *log, pid_t **pids, size_t *n);

/* The same walk for a caller that only wants small sessions: it stops
 * reading at the first pid past max (1..KS_MAX_SESSION_PROCS) and returns
 * -E2BIG, not logged, without the pids. Lines are counted as read, before
 * duplicates are dropped. */
int ks_cgroup_pids_max(const char *cgroup_root, const char *cgroup, uint64_t deadline, size_t max,
		       const struct ks_log *log, pid_t **pids, size_t *n);

/* /proc/PID/cgroup: the path in the hierarchy of mode, pointing into buf.
 * Returns 0, -ENODATA when there is no such line, or -EINVAL (a NUL byte,
 * two such lines, a path that is not absolute). Fuzzed (fuzz/fuzz_proc.c). */
int ks_parse_proc_cgroup(const char *buf, size_t len, enum ks_cgroup_mode mode, const char **path,
			 size_t *path_len);

/* One line of cgroup.procs, without its '\n': a pid in plain decimal.
 * Returns 0, -ENODATA for an empty line, or -EINVAL. */
int ks_parse_pid_line(const char *line, size_t len, pid_t *pid);

#endif
