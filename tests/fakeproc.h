/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef KS_TEST_FAKEPROC_H
#define KS_TEST_FAKEPROC_H

/*
 * A fake /proc and a fake cgroup tree under one mkdtemp() directory, for
 * the units that read both below roots passed in (proctree, keeper). Every
 * helper fails the running cmocka test on an error, so callers do not check.
 */

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* A fake process's default start time: distinct per pid, so tests can check it. */
#define FAKE_STARTTIME(pid) (1000000ULL + (unsigned long long)(pid)*7)

struct fakeproc {
	char root[PATH_MAX];       /* the mkdtemp() directory holding both trees */
	char proc[PATH_MAX];       /* <root>/proc: the fake proc_root */
	char cgroot[PATH_MAX];     /* <root>/cgroup: the fake cgroup_root */
	char session_cg[PATH_MAX]; /* the session's cgroup, below cgroot */
};

/* What a fake process looks like; zero fields take defaults. */
struct fake {
	pid_t pid;
	pid_t ppid;
	uid_t uid;
	unsigned long long starttime; /* 0: FAKE_STARTTIME(pid) */
	char state;                   /* stat field 3; 0: 'S' */
	pid_t sid;                    /* session (stat field 6); 0: pid, a session leader */
	int tty;                      /* controlling terminal (stat field 7); 0: none */
	const char *comm;             /* default: the exe's base name */
	const char *exe;              /* NULL: no exe link */
	const char *cgroup;           /* below the session cgroup; NULL: the session cgroup */
	const char *stat;             /* raw stat content instead of a generated one */
	const char *status;           /* raw status content instead of a generated one */
	bool outside;                 /* in /proc only: not in the session cgroup */
	bool no_dir;                  /* listed in cgroup.procs only: gone from /proc */
	bool no_stat;
	bool no_status;
};

/* snprintf() into buf; the result must fit. */
void fp_path_join(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* mkdir -p, mode 0755. */
void fp_mkdir_p(const char *path);
/* Writes (or appends) len bytes to path, creating it with mode 0644. */
void fp_write_bytes(const char *path, const char *data, size_t len, bool append);
void fp_write_file(const char *path, const char *content);

/* Creates the temporary root with proc/ and the session cgroup (with an
 * empty cgroup.procs) below cgroup/. */
void fakeproc_init(struct fakeproc *fp, const char *session_cg);
/* Removes the whole temporary root. */
void fakeproc_remove(struct fakeproc *fp);

/* The directory of a cgroup below the session one (NULL: the session's). */
void cgroup_dir(const struct fakeproc *fp, const char *sub, char *buf, size_t size);
/* Appends line (its '\n' included by the caller) to that cgroup's cgroup.procs. */
void cgroup_add_line(const struct fakeproc *fp, const char *sub, const char *line);

/* Creates one fake process: its /proc entry and its line in cgroup.procs. */
void fake_proc_ex(const struct fakeproc *fp, const struct fake *f);
void fake_proc(const struct fakeproc *fp, pid_t pid, pid_t ppid, uid_t uid, const char *exe);

/* Writes <proc>/<pid>/cgroup ("self" allowed). */
void write_proc_cgroup(const struct fakeproc *fp, const char *pid, const char *content);

#endif
