/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memrchr */
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ks_cleanup.h"
#include "ks_fileio.h"
#include "ks_number.h"
#include "ks_procfs.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

static bool is_gone(int err)
{
	return err == ENOENT || err == ESRCH;
}

/* A signed decimal (tty_nr is printed with %d). */
static int parse_signed(const char *s, size_t len, long long *out)
{
	unsigned long long v;

	if (len > 0 && s[0] == '-') {
		if (ks_parse_decimal(s + 1, len - 1, (unsigned long long)INT_MAX + 1, &v) < 0)
			return -EINVAL;
		*out = -(long long)v;
		return 0;
	}
	if (ks_parse_decimal(s, len, INT_MAX, &v) < 0)
		return -EINVAL;
	*out = (long long)v;
	return 0;
}

/* Stores field number field of a stat line, when it is one we read. */
static int stat_field(unsigned field, const char *tok, size_t len, struct ks_proc_stat *st)
{
	unsigned long long v;
	long long tty;

	switch (field) {
	case 3:
		if (len != 1)
			return -EINVAL;
		st->state = tok[0];
		return 0;
	case 4:
	case 6:
		if (ks_parse_decimal(tok, len, INT_MAX, &v) < 0)
			return -EINVAL;
		if (field == 4)
			st->ppid = (pid_t)v;
		else
			st->session = (pid_t)v;
		return 0;
	case 7:
		if (parse_signed(tok, len, &tty) < 0)
			return -EINVAL;
		st->tty_nr = (int)tty;
		return 0;
	case 22:
		return ks_parse_decimal(tok, len, ULLONG_MAX, &st->starttime);
	default:
		return 0;
	}
}

/*
 * "PID (COMM) S PPID PGRP SESSION TTY_NR ... STARTTIME ...": COMM may hold
 * blanks and ')', so the fields after it are counted from the last ')'.
 */
int ks_parse_proc_stat_fields(const char *buf, size_t len, pid_t pid, struct ks_proc_stat *st)
{
	const char *open_paren, *close_paren, *p, *end = buf + len;
	struct ks_proc_stat out = { 0 };
	unsigned long long v;

	if (memchr(buf, '\0', len))
		return -EINVAL;
	open_paren = memchr(buf, '(', len);
	close_paren = memrchr(buf, ')', len);
	if (!open_paren || !close_paren || close_paren < open_paren || open_paren == buf ||
	    open_paren[-1] != ' ')
		return -EINVAL;
	if (ks_parse_decimal(buf, (size_t)(open_paren - 1 - buf), INT_MAX, &v) < 0 ||
	    v != (unsigned long long)pid)
		return -EINVAL;

	p = close_paren + 1;
	for (unsigned field = 3; field <= 22; field++) {
		const char *tok;

		if (p >= end || *p != ' ')
			return -EINVAL;
		tok = ++p;
		while (p < end && *p != ' ' && *p != '\n')
			p++;
		if (p == tok || stat_field(field, tok, (size_t)(p - tok), &out) < 0)
			return -EINVAL;
	}
	*st = out;
	return 0;
}

int ks_parse_proc_stat(const char *buf, size_t len, pid_t pid, pid_t *ppid,
		       unsigned long long *starttime)
{
	struct ks_proc_stat st;
	int r;

	r = ks_parse_proc_stat_fields(buf, len, pid, &st);
	if (r < 0)
		return r;
	*ppid = st.ppid;
	*starttime = st.starttime;
	return 0;
}

/* The first number of the "Uid:" line: the real uid. */
int ks_parse_status_uid(const char *buf, size_t len, uid_t *uid)
{
	const char *p = buf, *end = buf + len;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *q, *tok;
		unsigned long long v;

		if (!eol)
			return -EINVAL; /* a cut line, or no Uid: line at all */
		if ((size_t)(eol - p) < 4 || memcmp(p, "Uid:", 4) != 0) {
			p = eol + 1;
			continue;
		}
		q = p + 4;
		if (q >= eol || (*q != '\t' && *q != ' '))
			return -EINVAL;
		while (q < eol && (*q == '\t' || *q == ' '))
			q++;
		tok = q;
		while (q < eol && *q != '\t' && *q != ' ')
			q++;
		/* (uid_t)-1 is no uid. */
		if (ks_parse_decimal(tok, (size_t)(q - tok), (uid_t)-1 - 1, &v) < 0)
			return -EINVAL;
		*uid = (uid_t)v;
		return 0;
	}
	return -EINVAL;
}

/*
 * Reads <procfd>/<pid>/<name> into buf; the errors as the readers return
 * them. One open and one read: stat and status are seq_files, which give
 * their whole content in the first read() when the buffer is larger, so a
 * short first read is the end and no read to EOF is needed; nor an fstat,
 * as O_NONBLOCK keeps a FIFO or tty in a fake tree from blocking us.
 */
static int read_proc_file(int procfd, pid_t pid, const char *name, char *buf, size_t size,
			  bool must_fit, size_t *len)
{
	char path[32];
	int r;

	if (pid <= 0)
		return -ESRCH;
	(void)snprintf(path, sizeof(path), "%d/%s", (int)pid, name);
	r = ks_read_once_at(procfd, path, O_NOFOLLOW, buf, size, must_fit, len);
	if (r < 0 && is_gone(-r))
		return -ESRCH;
	/* No regular file, a symlink or an oversized file where a /proc
	 * file should be: garbage, like an unparsable one. */
	if (r == -ELOOP || r == -EFBIG)
		return -EINVAL;
	return r;
}

int ks_proc_read_stat(int procfd, pid_t pid, struct ks_proc_stat *st)
{
	char buf[KS_PROC_STAT_MAX + 1];
	size_t len = 0;
	int r = read_proc_file(procfd, pid, "stat", buf, sizeof(buf), true, &len);

	return r < 0 ? r : ks_parse_proc_stat_fields(buf, len, pid, st);
}

int ks_proc_read_uid(int procfd, pid_t pid, uid_t *uid)
{
	/* Uid: comes early; a longer status is cut, not refused. */
	char buf[KS_PROC_STATUS_MAX + 1];
	size_t len = 0;
	int r = read_proc_file(procfd, pid, "status", buf, sizeof(buf), false, &len);

	return r < 0 ? r : ks_parse_status_uid(buf, len, uid);
}

int ks_proc_read_exe(int procfd, pid_t pid, char *buf, size_t size)
{
	char path[32];
	ssize_t k;

	if (pid <= 0)
		return -ESRCH;
	(void)snprintf(path, sizeof(path), "%d/exe", (int)pid);
	k = readlinkat(procfd, path, buf, size);
	if (k < 0)
		return is_gone(errno) ? -ESRCH : -errno;
	if (k == 0 || (size_t)k >= size)
		return -ENAMETOOLONG;
	buf[k] = '\0';
	return 0;
}

/*
 * status first, then stat: after a pidfd_open() a matching start time
 * proves that both reads were of the pinned process.
 */
int ks_proc_identity(const char *proc_root, pid_t pid, unsigned long long *starttime, uid_t *uid)
{
	_cleanup_(closep) int procfd = -1;
	struct ks_proc_stat st;
	int r;

	if (!proc_root || !starttime || !uid)
		return -EINVAL;
	procfd = open(proc_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (procfd < 0)
		return -errno;
	r = ks_proc_read_uid(procfd, pid, uid);
	if (r < 0)
		return r;
	r = ks_proc_read_stat(procfd, pid, &st);
	if (r < 0)
		return r;
	*starttime = st.starttime;
	return 0;
}

/*
 * Is pid still the process of id? -ESRCH when not, or gone. pid and start
 * time are the identity, so stat alone is read; the uid is not read again.
 * The scan that selected the process read its stat, then its status (the
 * real uid it was selected for): a pid reused between those two reads has
 * another start time here, and is refused. A process that changed its own
 * real uid since (su) was in the session's cgroup all along; moving it
 * keeps it where the session had it.
 */
static int same_identity(int procfd, const struct ks_proc_id *id)
{
	struct ks_proc_stat st;
	int r;

	if (procfd < 0)
		return procfd; /* the error proc_root's open failed with */
	r = ks_proc_read_stat(procfd, id->pid, &st);
	if (r == -EINVAL || (r == 0 && st.starttime != id->starttime))
		return -ESRCH;
	return r;
}

int ks_proc_pin(int procfd, const struct ks_proc_id *id)
{
	_cleanup_(closep) int fd = -1;
	int r;

	if (!id)
		return -EINVAL;
	if (procfd < 0)
		return procfd;
	if (id->pid <= 0)
		return -ESRCH;

	/* pidfds are always close-on-exec. */
	fd = (int)syscall(SYS_pidfd_open, id->pid, 0);
	if (fd < 0) {
		/* EPERM is a seccomp filter's refusal (pidfd_open checks no
		 * permission): like a kernel without it. */
		if (errno == EPERM)
			return -ENOSYS;
		return errno == EINVAL ? -ESRCH : -errno;
	}
	/* After pidfd_open: a matching start time proves the pidfd is of
	 * the scanned process, not of one that took its pid. */
	r = same_identity(procfd, id);
	if (r < 0)
		return r;
	return TAKE_FD(fd);
}

int ks_proc_hold(int procfd, const struct ks_proc_id *id, int *pidfd)
{
	int r;

	*pidfd = -1;
	r = ks_proc_pin(procfd, id);
	if (r >= 0) {
		*pidfd = r;
		return 0;
	}
	if (r != -ENOSYS)
		return r;
	return same_identity(procfd, id);
}

bool ks_proc_gone(int procfd, const struct ks_proc_id *id, int pidfd)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };

	if (pidfd < 0)
		return same_identity(procfd, id) == -ESRCH;
	return poll(&p, 1, 0) > 0;
}
