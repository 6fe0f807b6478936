/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "ks_cgroup.h"
#include "ks_cleanup.h"
#include "ks_clock.h"
#include "ks_fileio.h"
#include "ks_number.h"

#define CGROUP_FILE_MAX (64 * 1024) /* one line per v1 hierarchy */
#define PID_LINE_MAX 16             /* "4194304\n" and then some */
#define MAX_CGROUPS 16384           /* sub-cgroups visited per scan */

struct cgroup_walk {
	pid_t *pids;
	size_t n, cap;
	size_t max; /* pids taken at most: one more ends the walk */
	bool cut;   /* there were more than max */
	size_t n_cgroups;
	uint64_t deadline;
	unsigned garbage; /* lines of cgroup.procs that were no pid */
	bool full;        /* a bound was hit: add nothing more */
	bool too_deep;    /* logged once per scan */
	const struct ks_log *log;
};

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
	r = ks_read_file_at(procfd, file, O_NOFOLLOW, buf, CGROUP_FILE_MAX + 1, true, &len);
	close(procfd);
	if (r < 0) {
		if (r == -ENOENT || r == -ESRCH)
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

static int walk_add_pid(struct cgroup_walk *w, pid_t pid)
{
	if (w->n >= w->max) {
		w->cut = true;
		w->full = true; /* nothing more is read */
		return 0;
	}
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 256;
		pid_t *v;

		if (cap > w->max)
			cap = w->max;
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

	fd = ks_open_regular_at(dirfd, "cgroup.procs", O_NOFOLLOW);
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

static int walk_cgroup(struct cgroup_walk *w, int fd, unsigned depth);

/* Walks the sub-cgroup name of dir, unless a bound says to stop: then
 * *stop. Returns 0, or -errno to end the whole walk. */
static int walk_sub(struct cgroup_walk *w, DIR *dir, const char *name, unsigned depth, bool *stop)
{
	int sub;

	if (depth >= KS_MAX_CGROUP_DEPTH) {
		if (!w->too_deep)
			ks_log(w->log, LOG_WARNING,
			       "session cgroup nested deeper than %d levels; "
			       "deeper cgroups are ignored",
			       KS_MAX_CGROUP_DEPTH);
		w->too_deep = true;
		*stop = true;
		return 0;
	}
	if (++w->n_cgroups > MAX_CGROUPS) {
		ks_log(w->log, LOG_WARNING,
		       "session cgroup has more than %d sub-cgroups; the rest are ignored",
		       MAX_CGROUPS);
		w->full = true;
		return 0;
	}
	/* Symlinks and files are no cgroups; a vanished one is skipped. */
	sub = openat(dirfd(dir), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sub < 0)
		return 0;
	return walk_cgroup(w, sub, depth + 1);
}

/* Reads the cgroup open at fd (taken over) and its sub-cgroups. Only the
 * session cgroup itself (depth 0) must be readable. */
static int walk_cgroup(struct cgroup_walk *w, int fd, unsigned depth)
{
	struct dirent *de;
	bool stop = false;
	DIR *dir;
	int r;

	if (w->deadline && ks_now_usec() >= w->deadline) {
		close(fd);
		return -ETIMEDOUT;
	}
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
	r = 0;
	while (r == 0 && !stop && !w->full && (de = readdir(dir))) {
		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		r = walk_sub(w, dir, de->d_name, depth, &stop);
	}
	closedir(dir);
	return r;
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

/* The walk of cgroup into *w, up to w->max pids. On error nothing is
 * left to free. */
static int walk_pids(const char *cgroup_root, const char *cgroup, struct cgroup_walk *w)
{
	int fd, r;

	/* Errors are the caller's to log: it decides what they cost. */
	fd = open_cgroup(cgroup_root, cgroup);
	if (fd < 0)
		return fd;
	r = walk_cgroup(w, fd, 0);
	if (r < 0) {
		free(w->pids);
		w->pids = NULL;
	}
	return r;
}

/* Says what the walk skipped, then hands its pids over sorted, each
 * once. */
static void walk_done(struct cgroup_walk *w, const char *cgroup, const struct ks_log *log,
		      pid_t **pids, size_t *n)
{
	size_t unique = 0;

	if (w->garbage)
		ks_log(log, LOG_WARNING, "%u malformed lines in cgroup.procs below %s ignored",
		       w->garbage, cgroup);
	if (w->n > 0) {
		qsort(w->pids, w->n, sizeof(*w->pids), cmp_pid);
		for (size_t i = 0; i < w->n; i++)
			if (unique == 0 || w->pids[i] != w->pids[unique - 1])
				w->pids[unique++] = w->pids[i];
	}
	*pids = w->pids;
	*n = unique;
}

int ks_cgroup_pids(const char *cgroup_root, const char *cgroup, uint64_t deadline,
		   const struct ks_log *log, pid_t **pids, size_t *n)
{
	struct cgroup_walk w = { .log = log, .deadline = deadline, .max = KS_MAX_SESSION_PROCS };
	int r;

	if (!cgroup_root || !cgroup || !pids || !n)
		return -EINVAL;
	r = walk_pids(cgroup_root, cgroup, &w);
	if (r < 0)
		return r;
	if (w.cut)
		ks_log(log, LOG_WARNING,
		       "session cgroup holds more than %d processes; the rest are ignored",
		       KS_MAX_SESSION_PROCS);
	walk_done(&w, cgroup, log, pids, n);
	return 0;
}

int ks_cgroup_pids_max(const char *cgroup_root, const char *cgroup, uint64_t deadline, size_t max,
		       const struct ks_log *log, pid_t **pids, size_t *n)
{
	struct cgroup_walk w = { .log = log, .deadline = deadline, .max = max };
	int r;

	if (!cgroup_root || !cgroup || !pids || !n || max == 0 || max > KS_MAX_SESSION_PROCS)
		return -EINVAL;
	r = walk_pids(cgroup_root, cgroup, &w);
	if (r < 0)
		return r;
	if (w.cut) {
		free(w.pids);
		return -E2BIG;
	}
	walk_done(&w, cgroup, log, pids, n);
	return 0;
}
