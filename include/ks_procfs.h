/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef KS_PROCFS_H
#define KS_PROCFS_H

/* Everything read from /proc/PID (stat, status, exe) and what it proves:
 * the parsers, a process's identity, and its pin by pidfd or identity. */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The most read of stat (longer is refused: a stat line is ~300 bytes)
 * and of status (longer is cut: it is ~1.5 KiB, Uid: near the top). */
#define KS_PROC_STAT_MAX (4 * 1024)
#define KS_PROC_STATUS_MAX (16 * 1024)

struct ks_proc_id {
	pid_t pid;
	unsigned long long starttime; /* field 22 of /proc/PID/stat: with pid, an identity */
};

struct ks_proc_stat {
	char state;                   /* field 3: 'Z' a zombie, 'X' dead */
	pid_t ppid;                   /* field 4 */
	pid_t session;                /* field 6 */
	int tty_nr;                   /* field 7: controlling terminal, 0 for none */
	unsigned long long starttime; /* field 22 */
};

/*
 * Readers of one file of <procfd>/<pid>, procfd an open proc_root. Each
 * returns 0, -ESRCH when the process is gone, -EINVAL for what the kernel
 * never writes (unparsable, a symlink or oversized file in a fake tree),
 * or another -errno.
 */
int ks_proc_read_stat(int procfd, pid_t pid, struct ks_proc_stat *st);
int ks_proc_read_uid(int procfd, pid_t pid, uid_t *uid);
/* The exe link's target, NUL-terminated; a cut one is -ENAMETOOLONG, one
 * that cannot be read (a kernel thread, no permission) -EACCES or so. */
int ks_proc_read_exe(int procfd, pid_t pid, char *buf, size_t size);

/* Reads pid's start time and real uid from <proc_root>/<pid>/stat and
 * /status. Returns 0, -ESRCH when gone, -EINVAL when unparsable. */
int ks_proc_identity(const char *proc_root, pid_t pid, unsigned long long *starttime, uid_t *uid);

/*
 * Pins a selected process: opens a pidfd, then checks through procfd (an
 * open proc_root) that pid still has the scanned start time, so a reused
 * pid is never moved (the uid is the scan's: see same_identity()). A
 * negative procfd is the -errno proc_root's open failed with: returned.
 * Returns the pidfd (O_CLOEXEC), or -ESRCH when the process is gone or
 * not the same, or -ENOSYS without pidfd_open (kernel < 5.3); a seccomp
 * filter's EPERM is taken as -ENOSYS as well.
 */
int ks_proc_pin(int procfd, const struct ks_proc_id *id);

/*
 * ks_proc_pin() with its fallback: without pidfds, the identity check
 * alone. Returns 0 with *pidfd the pidfd, or -1 when pidfds are not to be
 * had and the identity matched; -ESRCH when the process exited or is
 * another one now; another -errno when it cannot be checked.
 */
int ks_proc_hold(int procfd, const struct ks_proc_id *id, int *pidfd);

/* Has a held process exited, or been replaced? A pidfd polls readable
 * once it has; without one (pidfd -1), its identity is read again. A
 * process that cannot be checked is not taken for gone. */
bool ks_proc_gone(int procfd, const struct ks_proc_id *id, int pidfd);

/*
 * The parsers behind the readers, without I/O, so that they can be fuzzed
 * (fuzz/fuzz_proc.c). Each reads len bytes at buf, which need not be
 * NUL-terminated, and returns -EINVAL for what the kernel never writes.
 */

/* /proc/PID/stat of pid, in one parse. COMM may hold blanks and parens, so
 * the fields are counted from the last ')'. */
int ks_parse_proc_stat_fields(const char *buf, size_t len, pid_t pid, struct ks_proc_stat *st);

/* The same, ppid and start time only. */
int ks_parse_proc_stat(const char *buf, size_t len, pid_t pid, pid_t *ppid,
		       unsigned long long *starttime);

/* /proc/PID/status: the real uid, the first number of the "Uid:" line. */
int ks_parse_status_uid(const char *buf, size_t len, uid_t *uid);

#endif
