/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fakeproc.h"

void fp_path_join(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < size);
}

void fp_mkdir_p(const char *path)
{
	char tmp[PATH_MAX];

	fp_path_join(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		assert_true(mkdir(tmp, 0755) == 0 || errno == EEXIST);
		*p = '/';
	}
	assert_true(mkdir(tmp, 0755) == 0 || errno == EEXIST);
}

void fp_write_bytes(const char *path, const char *data, size_t len, bool append)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

void fp_write_file(const char *path, const char *content)
{
	fp_write_bytes(path, content, strlen(content), false);
}

void fakeproc_init(struct fakeproc *fp, const char *session_cg)
{
	const char *tmp = getenv("TMPDIR");
	char path[PATH_MAX];

	memset(fp, 0, sizeof(*fp));
	fp_path_join(fp->root, sizeof(fp->root), "%s/ks-fakeproc-XXXXXX",
		     tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(fp->root));
	fp_path_join(fp->proc, sizeof(fp->proc), "%s/proc", fp->root);
	fp_path_join(fp->cgroot, sizeof(fp->cgroot), "%s/cgroup", fp->root);
	fp_path_join(fp->session_cg, sizeof(fp->session_cg), "%s", session_cg);
	fp_mkdir_p(fp->proc);
	cgroup_dir(fp, NULL, path, sizeof(path));
	fp_mkdir_p(path);
	fp_path_join(path, sizeof(path), "%s%s/cgroup.procs", fp->cgroot, fp->session_cg);
	fp_write_file(path, "");
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void fakeproc_remove(struct fakeproc *fp)
{
	if (!fp->root[0])
		return;
	assert_int_equal(nftw(fp->root, remove_entry, 32, FTW_DEPTH | FTW_PHYS), 0);
	fp->root[0] = '\0';
}

void cgroup_dir(const struct fakeproc *fp, const char *sub, char *buf, size_t size)
{
	if (sub)
		fp_path_join(buf, size, "%s%s/%s", fp->cgroot, fp->session_cg, sub);
	else
		fp_path_join(buf, size, "%s%s", fp->cgroot, fp->session_cg);
}

void cgroup_add_line(const struct fakeproc *fp, const char *sub, const char *line)
{
	char dir[PATH_MAX], path[PATH_MAX];

	cgroup_dir(fp, sub, dir, sizeof(dir));
	fp_mkdir_p(dir);
	fp_path_join(path, sizeof(path), "%s/cgroup.procs", dir);
	fp_write_bytes(path, line, strlen(line), true);
}

void fake_proc_ex(const struct fakeproc *fp, const struct fake *f)
{
	char dir[PATH_MAX], path[PATH_MAX], buf[8192], line[32];
	const char *comm = f->comm;
	unsigned long long starttime = f->starttime ? f->starttime : FAKE_STARTTIME(f->pid);

	snprintf(line, sizeof(line), "%d\n", (int)f->pid);
	if (!f->outside)
		cgroup_add_line(fp, f->cgroup, line);
	if (f->no_dir)
		return;

	fp_path_join(dir, sizeof(dir), "%s/%d", fp->proc, (int)f->pid);
	fp_mkdir_p(dir);
	if (!comm) {
		comm = f->exe ? strrchr(f->exe, '/') : NULL;
		comm = comm ? comm + 1 : "x";
	}
	if (!f->no_stat) {
		if (f->stat)
			fp_path_join(buf, sizeof(buf), "%s", f->stat);
		else
			fp_path_join(
				buf, sizeof(buf),
				"%d (%.15s) %c %d %d %d %d -1 4194560 100 0 0 0 10 5 0 0 20 0 1 0 "
				"%llu 1234567 89 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 "
				"17 0 0 0 0 0 0\n",
				(int)f->pid, comm, f->state ? f->state : 'S', (int)f->ppid,
				(int)f->pid, (int)(f->sid ? f->sid : f->pid), f->tty, starttime);
		fp_path_join(path, sizeof(path), "%s/stat", dir);
		fp_write_file(path, buf);
	}
	if (!f->no_status) {
		if (f->status)
			fp_path_join(buf, sizeof(buf), "%s", f->status);
		else
			fp_path_join(buf, sizeof(buf),
				     "Name:\t%.15s\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t%d\n"
				     "Ngid:\t0\nPid:\t%d\nPPid:\t%d\nTracerPid:\t0\n"
				     "Uid:\t%u\t%u\t%u\t%u\nGid:\t%u\t%u\t%u\t%u\nFDSize:\t64\n",
				     comm, (int)f->pid, (int)f->pid, (int)f->ppid, f->uid, f->uid,
				     f->uid, f->uid, f->uid, f->uid, f->uid, f->uid);
		fp_path_join(path, sizeof(path), "%s/status", dir);
		fp_write_file(path, buf);
	}
	if (f->exe) {
		fp_path_join(path, sizeof(path), "%s/exe", dir);
		/* Dangling, as /proc's links are outside of /proc. */
		assert_int_equal(symlink(f->exe, path), 0);
	}
}

void fake_proc(const struct fakeproc *fp, pid_t pid, pid_t ppid, uid_t uid, const char *exe)
{
	fake_proc_ex(fp, &(struct fake){ .pid = pid, .ppid = ppid, .uid = uid, .exe = exe });
}

void write_proc_cgroup(const struct fakeproc *fp, const char *pid, const char *content)
{
	char path[PATH_MAX];

	fp_path_join(path, sizeof(path), "%s/%s", fp->proc, pid);
	fp_mkdir_p(path);
	fp_path_join(path, sizeof(path), "%s/%s/cgroup", fp->proc, pid);
	fp_write_file(path, content);
}
