/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memrchr */
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ks_clock.h"
#include "ks_number.h"
#include "ks_proctree.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

#define STAT_MAX (4 * 1024)         /* a stat line is ~300 bytes */
#define STATUS_MAX (16 * 1024)      /* status is ~1.5 KiB; Uid: is near the top */
#define CGROUP_FILE_MAX (64 * 1024) /* one line per v1 hierarchy */
#define PID_LINE_MAX 16             /* "4194304\n" and then some */
#define MAX_CGROUPS 16384           /* sub-cgroups visited per scan */
#define DELETED_SUFFIX " (deleted)"
#define NO_INDEX SIZE_MAX
#define DEADLINE_EVERY 16 /* processes read between two looks at the clock */
/* Per-process debug lines, then one count: a session of thousands of
 * processes must not flood the journal even with debug on. */
#define DEBUG_LINES_MAX 8

/* One process of the session, as read from /proc. */
struct proc {
	pid_t pid;
	pid_t ppid;
	pid_t session;
	int tty_nr; /* the controlling terminal, 0 for none */
	uid_t uid;
	unsigned long long starttime;
	const char *match; /* the matched program entry, for the scan's uid only */
	size_t parent;     /* index of ppid among the session's processes, or NO_INDEX */
};

/* The session's processes, sorted by pid, with parents linked and an
 * order in which every parent comes before its children. */
struct session {
	struct proc *procs;
	size_t n;
	size_t *order;
};

struct cgroup_walk {
	pid_t *pids;
	size_t n, cap;
	size_t n_cgroups;
	unsigned garbage; /* lines of cgroup.procs that were no pid */
	bool full;        /* a bound was hit: add nothing more */
	bool too_deep;    /* logged once per scan */
	const struct ks_log *log;
};

static bool is_gone(int err)
{
	return err == ENOENT || err == ESRCH;
}

/* Opens a file to read below dirfd: a regular one only (what /proc and
 * cgroupfs files are), so a FIFO in a fake tree cannot block the scan. */
static int open_regular_at(int dirfd, const char *path)
{
	struct stat st;
	int fd;

	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	return fd;
}

/*
 * Reads up to size - 1 bytes of path below dirfd and NUL-terminates them.
 * With must_fit, a larger file is -EFBIG instead of being cut.
 */
static int read_file_at(int dirfd, const char *path, char *buf, size_t size, bool must_fit,
			size_t *len)
{
	size_t have = 0;
	int fd, r = 0;

	fd = open_regular_at(dirfd, path);
	if (fd < 0)
		return fd;
	while (have < size - 1) {
		ssize_t k = read(fd, buf + have, size - 1 - have);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (k == 0)
			break;
		have += (size_t)k;
	}
	if (r == 0 && must_fit && have == size - 1) {
		char extra;
		ssize_t k;

		do
			k = read(fd, &extra, 1);
		while (k < 0 && errno == EINTR);
		if (k < 0)
			r = -errno;
		else if (k > 0)
			r = -EFBIG;
	}
	close(fd);
	if (r < 0)
		return r;
	buf[have] = '\0';
	*len = have;
	return 0;
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

/*
 * "PID (COMM) S PPID PGRP SESSION TTY_NR ... STARTTIME ...": COMM may hold
 * blanks and ')', so the fields after it are counted from the last ')'.
 */
int ks_parse_proc_stat_fields(const char *buf, size_t len, pid_t pid, struct ks_proc_stat *st)
{
	const char *open_paren, *close_paren, *p, *end = buf + len;
	struct ks_proc_stat out = { 0 };
	unsigned long long v;
	long long tty;
	unsigned field;

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
	for (field = 3; field <= 22; field++) {
		const char *tok;
		size_t tok_len;

		if (p >= end || *p != ' ')
			return -EINVAL;
		tok = ++p;
		while (p < end && *p != ' ' && *p != '\n')
			p++;
		tok_len = (size_t)(p - tok);
		if (tok_len == 0)
			return -EINVAL;
		switch (field) {
		case 4:
		case 6:
			if (ks_parse_decimal(tok, tok_len, INT_MAX, &v) < 0)
				return -EINVAL;
			if (field == 4)
				out.ppid = (pid_t)v;
			else
				out.session = (pid_t)v;
			break;
		case 7:
			if (parse_signed(tok, tok_len, &tty) < 0)
				return -EINVAL;
			out.tty_nr = (int)tty;
			break;
		case 22:
			if (ks_parse_decimal(tok, tok_len, ULLONG_MAX, &out.starttime) < 0)
				return -EINVAL;
			break;
		default:
			break;
		}
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
 * Reads pid's identity below procfd: status first, then stat, so that
 * after a pidfd_open() a matching start time proves that both reads were
 * of the pinned process. -ESRCH when gone, -EINVAL when unparsable.
 */
static int read_identity(int procfd, pid_t pid, struct ks_proc_stat *st, uid_t *uid)
{
	char path[32];
	char buf[STATUS_MAX + 1];
	size_t len = 0;
	int r;

	if (pid <= 0)
		return -ESRCH;

	(void)snprintf(path, sizeof(path), "%d/status", (int)pid);
	r = read_file_at(procfd, path, buf, sizeof(buf), false, &len);
	if (r < 0)
		goto fail;
	r = ks_parse_status_uid(buf, len, uid);
	if (r < 0)
		return r;

	(void)snprintf(path, sizeof(path), "%d/stat", (int)pid);
	r = read_file_at(procfd, path, buf, STAT_MAX + 1, true, &len);
	if (r < 0)
		goto fail;
	return ks_parse_proc_stat_fields(buf, len, pid, st);
fail:
	if (is_gone(-r))
		return -ESRCH;
	/* No regular file, a symlink or an oversized file where a /proc
	 * file should be: garbage, like an unparsable one. */
	if (r == -ELOOP || r == -EFBIG)
		return -EINVAL;
	return r;
}

int ks_proc_identity(const char *proc_root, pid_t pid, unsigned long long *starttime, uid_t *uid)
{
	struct ks_proc_stat st;
	int procfd, r;

	if (!proc_root || !starttime || !uid)
		return -EINVAL;
	procfd = open(proc_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (procfd < 0)
		return -errno;
	r = read_identity(procfd, pid, &st, uid);
	close(procfd);
	if (r == 0)
		*starttime = st.starttime;
	return r;
}

int ks_proc_pin(const char *proc_root, const struct ks_proc_id *id, uid_t uid)
{
	unsigned long long starttime = 0;
	uid_t now_uid = 0;
	int fd, r;

	if (!proc_root || !id)
		return -EINVAL;
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

	r = ks_proc_identity(proc_root, id->pid, &starttime, &now_uid);
	if (r == -EINVAL || (r == 0 && (starttime != id->starttime || now_uid != uid)))
		r = -ESRCH;
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

int ks_cgroup_mode_detect(const char *sysfs_cgroup, enum ks_cgroup_mode *mode, char *cgroup_root,
			  size_t size)
{
	struct statfs sfs;
	char legacy[PATH_MAX];
	int n;

	if (!sysfs_cgroup || !mode || !cgroup_root)
		return -EINVAL;
	if (statfs(sysfs_cgroup, &sfs) < 0)
		return -errno;
	if (sfs.f_type == (__typeof__(sfs.f_type))CGROUP2_SUPER_MAGIC) {
		if (strlen(sysfs_cgroup) >= size)
			return -ENAMETOOLONG;
		strcpy(cgroup_root, sysfs_cgroup);
		*mode = KS_CGROUP_UNIFIED;
		return 0;
	}

	/* Hybrid and legacy: systemd's own named v1 hierarchy. */
	n = snprintf(legacy, sizeof(legacy), "%s/systemd", sysfs_cgroup);
	if (n < 0 || (size_t)n >= sizeof(legacy))
		return -ENAMETOOLONG;
	if (statfs(legacy, &sfs) < 0)
		return errno == ENOENT || errno == ENOTDIR ? -ENOMEDIUM : -errno;
	if (sfs.f_type != (__typeof__(sfs.f_type))CGROUP_SUPER_MAGIC)
		return -ENOMEDIUM;
	if ((size_t)n >= size)
		return -ENAMETOOLONG;
	memcpy(cgroup_root, legacy, (size_t)n + 1);
	*mode = KS_CGROUP_LEGACY;
	return 0;
}

static bool is_pid_name(const char *pid)
{
	size_t len = strnlen(pid, 11);

	if (strcmp(pid, "self") == 0)
		return true;
	if (len == 0 || len > 10)
		return false;
	for (size_t i = 0; i < len; i++)
		if (pid[i] < '0' || pid[i] > '9')
			return false;
	return true;
}

/* Is name one of the comma-separated controllers of a v1 line? */
static bool has_controller(const char *list, size_t len, const char *name)
{
	size_t name_len = strlen(name);
	const char *p = list, *end = list + len;

	while (p <= end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		size_t item = comma ? (size_t)(comma - p) : (size_t)(end - p);

		if (item == name_len && memcmp(p, name, name_len) == 0)
			return true;
		if (!comma)
			break;
		p = comma + 1;
	}
	return false;
}

/* "ID:CONTROLLERS:PATH" per line; PATH may hold ':' itself. */
int ks_parse_proc_cgroup(const char *buf, size_t len, enum ks_cgroup_mode mode, const char **path,
			 size_t *path_len)
{
	const char *p, *end, *found = NULL;
	size_t found_len = 0;

	if (mode != KS_CGROUP_UNIFIED && mode != KS_CGROUP_LEGACY)
		return -EINVAL;
	if (memchr(buf, '\0', len))
		return -EINVAL;
	for (p = buf, end = buf + len; p < end;) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *c1, *c2, *next;
		bool wanted;

		if (!eol)
			eol = end;
		/* Past a last line without '\n', end: not a pointer beyond it. */
		next = eol < end ? eol + 1 : end;
		c1 = memchr(p, ':', (size_t)(eol - p));
		c2 = c1 ? memchr(c1 + 1, ':', (size_t)(eol - c1 - 1)) : NULL;
		if (!c2) {
			p = next;
			continue;
		}
		if (mode == KS_CGROUP_UNIFIED)
			wanted = c1 - p == 1 && *p == '0' && c2 == c1 + 1;
		else
			wanted = has_controller(c1 + 1, (size_t)(c2 - c1 - 1), "name=systemd");
		if (wanted) {
			if (found || c2 + 1 == eol || c2[1] != '/')
				return -EINVAL; /* twice, or no absolute path */
			found = c2 + 1;
			found_len = (size_t)(eol - found);
		}
		p = next;
	}
	if (!found)
		return -ENODATA;
	*path = found;
	*path_len = found_len;
	return 0;
}

int ks_proc_cgroup(const char *proc_root, const char *pid, enum ks_cgroup_mode mode, char **path)
{
	char file[32];
	const char *found;
	char *buf;
	size_t len, found_len;
	int procfd, r;

	if (!proc_root || !pid || !path || !is_pid_name(pid))
		return -EINVAL;
	if (mode != KS_CGROUP_UNIFIED && mode != KS_CGROUP_LEGACY)
		return -EINVAL;

	buf = malloc(CGROUP_FILE_MAX + 1);
	if (!buf)
		return -ENOMEM;
	procfd = open(proc_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (procfd < 0) {
		r = -errno;
		goto out;
	}
	(void)snprintf(file, sizeof(file), "%s/cgroup", pid);
	r = read_file_at(procfd, file, buf, CGROUP_FILE_MAX + 1, true, &len);
	close(procfd);
	if (r < 0) {
		if (is_gone(-r))
			r = -ESRCH;
		else if (r == -EFBIG)
			r = -EINVAL;
		goto out;
	}
	r = ks_parse_proc_cgroup(buf, len, mode, &found, &found_len);
	if (r == 0) {
		*path = strndup(found, found_len);
		if (!*path)
			r = -ENOMEM;
	}
out:
	free(buf);
	return r;
}

const char *ks_program_match(const struct ks_strlist *programs, const char *exe)
{
	size_t len, suffix = strlen(DELETED_SUFFIX), base;

	if (!programs || !exe)
		return NULL;
	len = strlen(exe);
	/* A binary replaced by a package upgrade is still the program. */
	if (len > suffix && strcmp(exe + len - suffix, DELETED_SUFFIX) == 0)
		len -= suffix;
	base = len;
	while (base > 0 && exe[base - 1] != '/')
		base--;

	for (size_t i = 0; i < programs->n; i++) {
		const char *entry = programs->v[i];
		size_t entry_len = strlen(entry);

		if (entry_len == 0)
			continue;
		if (entry[0] == '/') {
			if (entry_len == len && memcmp(entry, exe, len) == 0)
				return entry;
		} else if (entry_len == len - base && memcmp(entry, exe + base, entry_len) == 0) {
			return entry;
		}
	}
	return NULL;
}

static int walk_add_pid(struct cgroup_walk *w, pid_t pid)
{
	if (w->n >= KS_MAX_SESSION_PROCS) {
		ks_log(w->log, LOG_WARNING,
		       "session cgroup holds more than %d processes; the rest are ignored",
		       KS_MAX_SESSION_PROCS);
		w->full = true;
		return 0;
	}
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 256;
		pid_t *v;

		if (cap > KS_MAX_SESSION_PROCS)
			cap = KS_MAX_SESSION_PROCS;
		v = realloc(w->pids, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		w->pids = v;
		w->cap = cap;
	}
	w->pids[w->n++] = pid;
	return 0;
}

/* Decimal, no leading zero, no blank: anything else is not the kernel's. */
int ks_parse_pid_line(const char *line, size_t len, pid_t *pid)
{
	unsigned long long v;

	if (len == 0)
		return -ENODATA;
	if (line[0] == '0' || ks_parse_decimal(line, len, INT_MAX, &v) < 0)
		return -EINVAL;
	*pid = (pid_t)v;
	return 0;
}

static int walk_line(struct cgroup_walk *w, const char *line, size_t len, bool overlong)
{
	pid_t pid;
	int r;

	r = overlong ? -EINVAL : ks_parse_pid_line(line, len, &pid);
	if (r == -ENODATA)
		return 0;
	if (r < 0) {
		w->garbage++;
		return 0;
	}
	return walk_add_pid(w, pid);
}

/* Adds the pids of dirfd's cgroup.procs. Returns 0, or -errno when it
 * cannot be read. */
static int walk_read_procs(struct cgroup_walk *w, int dirfd)
{
	char buf[4096];
	char line[PID_LINE_MAX];
	size_t line_len = 0;
	bool overlong = false;
	int fd, r = 0;

	fd = open_regular_at(dirfd, "cgroup.procs");
	if (fd < 0)
		return fd;
	while (r == 0 && !w->full) {
		ssize_t k = read(fd, buf, sizeof(buf));

		if (k < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (k == 0) {
			r = walk_line(w, line, line_len, overlong);
			break;
		}
		for (ssize_t i = 0; i < k && r == 0 && !w->full; i++) {
			if (buf[i] == '\n') {
				r = walk_line(w, line, line_len, overlong);
				line_len = 0;
				overlong = false;
			} else if (line_len < sizeof(line)) {
				line[line_len++] = buf[i];
			} else {
				overlong = true;
			}
		}
	}
	close(fd);
	return r;
}

/* Reads the cgroup open at fd (taken over) and its sub-cgroups. Only the
 * session cgroup itself (depth 0) must be readable. */
static int walk_cgroup(struct cgroup_walk *w, int fd, unsigned depth)
{
	struct dirent *de;
	DIR *dir;
	int r;

	r = walk_read_procs(w, fd);
	if (r < 0 && (depth == 0 || r == -ENOMEM)) {
		close(fd);
		return r;
	}
	if (w->full) {
		close(fd);
		return 0;
	}
	dir = fdopendir(fd);
	if (!dir) {
		r = -errno;
		close(fd);
		return depth == 0 ? r : 0;
	}
	while (!w->full && (de = readdir(dir))) {
		int sub;

		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (depth >= KS_MAX_CGROUP_DEPTH) {
			if (!w->too_deep)
				ks_log(w->log, LOG_WARNING,
				       "session cgroup nested deeper than %d levels; "
				       "deeper cgroups are ignored",
				       KS_MAX_CGROUP_DEPTH);
			w->too_deep = true;
			break;
		}
		if (++w->n_cgroups > MAX_CGROUPS) {
			ks_log(w->log, LOG_WARNING,
			       "session cgroup has more than %d sub-cgroups; the rest are ignored",
			       MAX_CGROUPS);
			w->full = true;
			break;
		}
		/* Symlinks and files are no cgroups; a vanished one is skipped. */
		sub = openat(dirfd(dir), de->d_name,
			     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			continue;
		r = walk_cgroup(w, sub, depth + 1);
		if (r < 0) {
			closedir(dir);
			return r;
		}
	}
	closedir(dir);
	return 0;
}

/* Opens cgroup_root + cgroup one component at a time, following no
 * symlink below cgroup_root. */
static int open_cgroup(const char *cgroup_root, const char *cgroup)
{
	const char *p = cgroup;
	int fd;

	if (cgroup[0] != '/' || strnlen(cgroup, PATH_MAX) >= PATH_MAX)
		return -EINVAL;
	fd = open(cgroup_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		char name[NAME_MAX + 1];
		size_t len;
		int sub;

		while (*p == '/')
			p++;
		if (!*p)
			return fd;
		len = strcspn(p, "/");
		if (len > NAME_MAX) {
			close(fd);
			return -ENAMETOOLONG;
		}
		memcpy(name, p, len);
		name[len] = '\0';
		p += len;
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
			close(fd);
			return -EINVAL;
		}
		sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		if (sub < 0)
			return -errno;
		fd = sub;
	}
}

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

static int cmp_proc_id(const void *a, const void *b)
{
	return cmp_pid(&((const struct ks_proc_id *)a)->pid, &((const struct ks_proc_id *)b)->pid);
}

/* The pids in the session cgroup and below, sorted, each once. */
static int session_pids(const struct ks_scan *scan, const struct ks_log *log, pid_t **pids,
			size_t *n)
{
	struct cgroup_walk w = { .log = log };
	size_t unique = 0;
	int fd, r;

	fd = open_cgroup(scan->cgroup_root, scan->cgroup);
	if (fd < 0) {
		ks_log(log, LOG_ERR, "cannot open session cgroup %s: %s", scan->cgroup,
		       strerror(-fd));
		return fd;
	}
	r = walk_cgroup(&w, fd, 0);
	if (r < 0) {
		ks_log(log, LOG_ERR, "cannot read session cgroup %s: %s", scan->cgroup,
		       strerror(-r));
		free(w.pids);
		return r;
	}
	if (w.garbage)
		ks_log(log, LOG_WARNING, "%u malformed lines in cgroup.procs below %s ignored",
		       w.garbage, scan->cgroup);

	if (w.n > 0) {
		qsort(w.pids, w.n, sizeof(*w.pids), cmp_pid);
		for (size_t i = 0; i < w.n; i++)
			if (unique == 0 || w.pids[i] != w.pids[unique - 1])
				w.pids[unique++] = w.pids[i];
	}
	*pids = w.pids;
	*n = unique;
	return 0;
}

static size_t session_find(const struct session *s, pid_t pid)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->procs[mid].pid == pid)
			return mid;
		if (s->procs[mid].pid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NO_INDEX;
}

/*
 * Links each process to its parent and orders them parents first. A ppid
 * cycle (only a fake /proc has them) is cut where the walk meets it, so
 * that every later pass is a single loop over the order.
 */
static int session_link(struct session *s)
{
	unsigned char *state; /* 0 new, 1 on the current path, 2 ordered */
	size_t *path, n_order = 0;

	for (size_t i = 0; i < s->n; i++) {
		struct proc *p = &s->procs[i];

		p->parent = p->ppid > 0 && p->ppid != p->pid ? session_find(s, p->ppid) : NO_INDEX;
	}
	s->order = malloc((s->n ? s->n : 1) * sizeof(*s->order));
	state = calloc(s->n ? s->n : 1, 1);
	path = malloc((s->n ? s->n : 1) * sizeof(*path));
	if (!s->order || !state || !path) {
		free(state);
		free(path);
		return -ENOMEM;
	}
	for (size_t i = 0; i < s->n; i++) {
		size_t depth = 0, cur = i;

		if (state[i] == 2)
			continue;
		/* Up to an ordered process or a top; every process is on
		 * a path once, so this is linear overall. */
		for (;;) {
			size_t parent = s->procs[cur].parent;

			state[cur] = 1;
			path[depth++] = cur;
			if (parent == NO_INDEX || state[parent] == 2)
				break;
			if (state[parent] == 1) {
				s->procs[cur].parent = NO_INDEX;
				break;
			}
			cur = parent;
		}
		while (depth > 0) {
			cur = path[--depth];
			state[cur] = 2;
			s->order[n_order++] = cur;
		}
	}
	free(state);
	free(path);
	return 0;
}

static void session_free(struct session *s)
{
	free(s->procs);
	free(s->order);
	s->procs = NULL;
	s->order = NULL;
	s->n = 0;
}

/* Reads the session's processes; with match, matches the uid's ones
 * against the program list. */
static int session_load(const struct ks_scan *scan, bool match, struct session *s,
			const struct ks_log *log)
{
	char path[32], exe[PATH_MAX];
	pid_t *pids = NULL;
	size_t n_pids = 0, n_unparsable = 0;
	int procfd, r;

	*s = (struct session){ 0 };
	if (!scan || !scan->proc_root || !scan->cgroup_root || !scan->cgroup ||
	    (match && !scan->programs))
		return -EINVAL;

	r = session_pids(scan, log, &pids, &n_pids);
	if (r < 0)
		return r;
	procfd = open(scan->proc_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (procfd < 0) {
		r = -errno;
		ks_log(log, LOG_ERR, "cannot open %s: %s", scan->proc_root, strerror(-r));
		free(pids);
		return r;
	}
	s->procs = calloc(n_pids ? n_pids : 1, sizeof(*s->procs));
	if (!s->procs) {
		r = -ENOMEM;
		goto out;
	}

	for (size_t i = 0; i < n_pids; i++) {
		struct proc *p = &s->procs[s->n];

		struct ks_proc_stat st = { 0 };

		/* The clock is read every few processes: a session of
		 * thousands must not hold the close past its deadline. */
		if (scan->deadline && i % DEADLINE_EVERY == 0 && ks_now_usec() >= scan->deadline) {
			r = -ETIMEDOUT;
			goto out;
		}
		p->pid = pids[i];
		r = read_identity(procfd, p->pid, &st, &p->uid);
		p->ppid = st.ppid;
		p->session = st.session;
		p->tty_nr = st.tty_nr;
		p->starttime = st.starttime;
		if (r == -ESRCH)
			continue; /* gone since the cgroup was read */
		if (r == -EINVAL) {
			if (n_unparsable++ < DEBUG_LINES_MAX)
				ks_log(log, LOG_DEBUG,
				       "process %d: unparsable /proc entry, skipped", (int)p->pid);
			continue;
		}
		if (r < 0) {
			ks_log(log, LOG_ERR, "cannot read process %d: %s", (int)p->pid,
			       strerror(-r));
			goto out;
		}
		p->match = NULL;
		if (match && p->uid == scan->uid) {
			ssize_t k;

			(void)snprintf(path, sizeof(path), "%d/exe", (int)p->pid);
			k = readlinkat(procfd, path, exe, sizeof(exe));
			if (k < 0 && is_gone(errno))
				continue;
			/* Unreadable or cut: a process, but not a program of ours. */
			if (k > 0 && (size_t)k < sizeof(exe)) {
				exe[k] = '\0';
				p->match = ks_program_match(scan->programs, exe);
			}
		}
		s->n++;
	}
	if (n_unparsable > DEBUG_LINES_MAX)
		ks_log(log, LOG_DEBUG, "%zu more unparsable /proc entries skipped",
		       n_unparsable - DEBUG_LINES_MAX);
	r = session_link(s);
out:
	close(procfd);
	free(pids);
	if (r < 0)
		session_free(s);
	return r;
}

void ks_selection_free(struct ks_selection *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		free(s->trees[i].program);
		free(s->trees[i].procs);
	}
	free(s->trees);
	s->trees = NULL;
	s->n = 0;
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/* top[i]: the outermost matched process at or above i, clients (when
 * given) not counted as matched: they are transparent, so that the
 * server below a client is a root of its own. */
static void find_tops(const struct session *s, const bool *client, size_t *top)
{
	for (size_t k = 0; k < s->n; k++) {
		size_t i = s->order[k], parent = s->procs[i].parent;

		if (parent != NO_INDEX && top[parent] != NO_INDEX)
			top[i] = top[parent];
		else if (s->procs[i].match && !(client && client[i]))
			top[i] = i;
		else
			top[i] = NO_INDEX;
	}
}

/*
 * The closing session's terminals, from the scan alone (the stop guard
 * runs this outside the session, where PAM_TTY is unknown): the
 * controlling terminals of session leaders not below a matched process,
 * the login shell's pty, or an attached client's that sshd started
 * directly. Multiplexer servers call setsid() and have none; their
 * windows' shells are below them. Sorted, for bsearch().
 */
static int session_terminals(const struct session *s, const size_t *top, int **out, size_t *n_out)
{
	size_t n = 0, unique = 0;
	int *ttys;

	*out = NULL;
	*n_out = 0;
	ttys = malloc((s->n ? s->n : 1) * sizeof(*ttys));
	if (!ttys)
		return -ENOMEM;
	for (size_t i = 0; i < s->n; i++) {
		const struct proc *p = &s->procs[i];

		if (p->tty_nr == 0 || p->session != p->pid)
			continue;
		if (p->parent != NO_INDEX && top[p->parent] != NO_INDEX)
			continue;
		ttys[n++] = p->tty_nr;
	}
	qsort(ttys, n, sizeof(*ttys), cmp_int);
	for (size_t i = 0; i < n; i++)
		if (unique == 0 || ttys[i] != ttys[unique - 1])
			ttys[unique++] = ttys[i];
	if (unique == 0) {
		free(ttys);
		return 0;
	}
	*out = ttys;
	*n_out = unique;
	return 0;
}

int ks_select_trees(const struct ks_scan *scan, struct ks_selection *out, const struct ks_log *log)
{
	struct session s;
	size_t *top = NULL, *tree_of = NULL, n_trees = 0, n_terminals = 0;
	int *terminals = NULL;
	bool *client = NULL;
	struct ks_selection sel = { 0 };
	int r;

	if (!out)
		return -EINVAL;
	*out = (struct ks_selection){ 0 };
	r = session_load(scan, true, &s, log);
	if (r < 0)
		return r;

	/* top: the outermost matched process above or at each one that is
	 * not a client on the session's terminal. */
	top = malloc((s.n ? s.n : 1) * sizeof(*top));
	tree_of = malloc((s.n ? s.n : 1) * sizeof(*tree_of));
	if (!top || !tree_of) {
		r = -ENOMEM;
		goto out;
	}
	find_tops(&s, NULL, top);
	r = session_terminals(&s, top, &terminals, &n_terminals);
	if (r < 0)
		goto out;
	if (n_terminals > 0) {
		client = calloc(s.n ? s.n : 1, sizeof(*client));
		if (!client) {
			r = -ENOMEM;
			goto out;
		}
		size_t n_clients = 0;

		for (size_t i = 0; i < s.n; i++) {
			int tty = s.procs[i].tty_nr;

			client[i] =
				s.procs[i].match && tty != 0 &&
				bsearch(&tty, terminals, n_terminals, sizeof(*terminals), cmp_int);
			if (client[i] && n_clients++ < DEBUG_LINES_MAX)
				ks_log(log, LOG_DEBUG,
				       "process %d is a client on the session's terminal, "
				       "not a tree of its own",
				       (int)s.procs[i].pid);
		}
		if (n_clients > DEBUG_LINES_MAX)
			ks_log(log, LOG_DEBUG, "%zu more clients on the session's terminal",
			       n_clients - DEBUG_LINES_MAX);
		find_tops(&s, client, top);
	}

	/* Trees in the order of their root's pid. */
	for (size_t i = 0; i < s.n; i++) {
		tree_of[i] = NO_INDEX;
		if (top[i] == i)
			tree_of[i] = n_trees++;
	}
	if (n_trees == 0)
		goto out;
	sel.trees = calloc(n_trees, sizeof(*sel.trees));
	if (!sel.trees) {
		r = -ENOMEM;
		goto out;
	}
	sel.n = n_trees;
	for (size_t i = 0; i < s.n; i++)
		if (top[i] != NO_INDEX && s.procs[i].uid == scan->uid)
			sel.trees[tree_of[top[i]]].n++;
	for (size_t t = 0; t < n_trees; t++) {
		/* n >= 1: every tree holds its root, of the scan's uid. */
		/* NOLINTNEXTLINE(clang-analyzer-optin.portability.UnixAPI) */
		sel.trees[t].procs = calloc(sel.trees[t].n, sizeof(*sel.trees[t].procs));
		if (!sel.trees[t].procs) {
			r = -ENOMEM;
			goto out;
		}
		sel.trees[t].n = 0;
	}
	/* Parents come first in the order, so each root lands in procs[0]. */
	for (size_t k = 0; k < s.n; k++) {
		size_t i = s.order[k];
		struct ks_tree *tree;

		if (top[i] == NO_INDEX || s.procs[i].uid != scan->uid)
			continue;
		tree = &sel.trees[tree_of[top[i]]];
		if (top[i] == i) {
			tree->program = strdup(s.procs[i].match);
			if (!tree->program) {
				r = -ENOMEM;
				goto out;
			}
		}
		tree->procs[tree->n++] = (struct ks_proc_id){
			.pid = s.procs[i].pid,
			.starttime = s.procs[i].starttime,
		};
	}
	for (size_t t = 0; t < sel.n && t < DEBUG_LINES_MAX; t++)
		ks_log(log, LOG_DEBUG, "selected process %d with %zu descendants",
		       (int)sel.trees[t].procs[0].pid, sel.trees[t].n - 1);
	if (sel.n > DEBUG_LINES_MAX)
		ks_log(log, LOG_DEBUG, "selected %zu more processes", sel.n - DEBUG_LINES_MAX);
	*out = sel;
	sel = (struct ks_selection){ 0 };
out:
	ks_selection_free(&sel);
	free(top);
	free(tree_of);
	free(terminals);
	free(client);
	session_free(&s);
	return r;
}

/* Sorts kept by pid into sorted, from[] following along. */
static void sort_kept(const struct ks_proc_id *kept, size_t n, struct ks_proc_id *sorted,
		      size_t *from)
{
	size_t *idx = from;

	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	/* Shell sort of indexes, as qsort() takes no context to compare
	 * through: no allocation, fast enough for a session's processes. */
	for (size_t gap = n / 2; gap > 0; gap /= 2)
		for (size_t i = gap; i < n; i++)
			for (size_t j = i; j >= gap && kept[idx[j - gap]].pid > kept[idx[j]].pid;
			     j -= gap) {
				size_t t = idx[j];

				idx[j] = idx[j - gap];
				idx[j - gap] = t;
			}
	for (size_t i = 0; i < n; i++)
		sorted[i] = kept[idx[i]];
}

static const struct ks_proc_id *kept_find(const struct ks_proc_id *kept, size_t n, pid_t pid)
{
	struct ks_proc_id key = { .pid = pid };

	return n ? bsearch(&key, kept, n, sizeof(*kept), cmp_proc_id) : NULL;
}

int ks_select_stragglers_owned(const struct ks_scan *scan, const struct ks_proc_id *kept,
			       size_t n_kept, struct ks_proc_id **out, size_t **owners,
			       size_t *n_out)
{
	struct ks_proc_id *sorted = NULL, *result = NULL;
	size_t *sorted_from = NULL, *owner = NULL, *result_owner = NULL;
	struct session s;
	size_t n_result = 0;
	int r;

	if (!out || !n_out || (n_kept && !kept))
		return -EINVAL;
	*out = NULL;
	*n_out = 0;
	if (owners)
		*owners = NULL;
	/* No log here: the scan's problems were logged by ks_select_trees(). */
	r = session_load(scan, false, &s, NULL);
	if (r < 0)
		return r;

	sorted = malloc((n_kept ? n_kept : 1) * sizeof(*sorted));
	sorted_from = malloc((n_kept ? n_kept : 1) * sizeof(*sorted_from));
	owner = malloc((s.n ? s.n : 1) * sizeof(*owner));
	result = malloc((s.n ? s.n : 1) * sizeof(*result));
	result_owner = malloc((s.n ? s.n : 1) * sizeof(*result_owner));
	if (!sorted || !sorted_from || !owner || !result || !result_owner) {
		r = -ENOMEM;
		goto out;
	}
	/* Sorted by pid, each remembering its index in the caller's kept. */
	sort_kept(kept, n_kept, sorted, sorted_from);

	for (size_t k = 0; k < s.n; k++) {
		size_t i = s.order[k], parent = s.procs[i].parent;
		const struct ks_proc_id *kp = kept_find(sorted, n_kept, s.procs[i].ppid);

		/* A parent still in the cgroup under a kept pid is the kept
		 * process only with the kept start time: else it is a new
		 * process that reused the pid. */
		if (kp) {
			size_t at = session_find(&s, s.procs[i].ppid);

			if (at != NO_INDEX && s.procs[at].starttime != kp->starttime)
				kp = NULL;
		}
		if (kp)
			owner[i] = sorted_from[kp - sorted];
		else if (parent != NO_INDEX)
			owner[i] = owner[parent];
		else
			owner[i] = NO_INDEX;
	}
	for (size_t i = 0; i < s.n; i++) {
		if (owner[i] == NO_INDEX || s.procs[i].uid != scan->uid ||
		    kept_find(sorted, n_kept, s.procs[i].pid))
			continue;
		result_owner[n_result] = owner[i];
		result[n_result++] = (struct ks_proc_id){
			.pid = s.procs[i].pid,
			.starttime = s.procs[i].starttime,
		};
	}
	if (n_result > 0) {
		*out = result;
		*n_out = n_result;
		result = NULL;
		if (owners) {
			*owners = result_owner;
			result_owner = NULL;
		}
	}
out:
	free(result);
	free(result_owner);
	free(owner);
	free(sorted);
	free(sorted_from);
	session_free(&s);
	return r;
}

int ks_select_stragglers(const struct ks_scan *scan, const struct ks_proc_id *kept, size_t n_kept,
			 struct ks_proc_id **out, size_t *n_out)
{
	return ks_select_stragglers_owned(scan, kept, n_kept, out, NULL, n_out);
}
