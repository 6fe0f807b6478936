/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The scan parses /proc/PID/stat, /proc/PID/status, /proc/PID/cgroup and
 * cgroup.procs. The kernel writes them, but the user picks what is in a
 * comm (prctl(PR_SET_NAME), any file name) and every read races with the
 * process: whatever the bytes, the parsers must stay in bounds and either
 * refuse or return what the line says.
 *
 * Input: the first byte picks a parser, the rest is its input. One more
 * mode matches program entries against an executable's path, which the
 * user names at will.
 */
#define _GNU_SOURCE /* memmem */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ks_cgroup.h"
#include "ks_program.h"
#include "ks_proctree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum mode {
	MODE_STAT,         /* any bytes as /proc/1234/stat */
	MODE_STAT_COMM,    /* any bytes as the comm of a well-formed stat line */
	MODE_STATUS,       /* any bytes as /proc/PID/status */
	MODE_STATUS_NAME,  /* any bytes as the Name: of a well-formed status */
	MODE_CGROUP,       /* any bytes as /proc/PID/cgroup, both modes */
	MODE_CGROUP_PROCS, /* any bytes as cgroup.procs, through the real reader */
	MODE_PROGRAM,      /* program entries against an exe link target */
	MODE_COUNT,
};

#define STAT_PID 1234

/* A number out of the input, so that the fuzzer picks the values too. */
static unsigned long long take_number(const uint8_t **data, size_t *size, size_t bytes)
{
	unsigned long long v = 0;

	for (size_t i = 0; i<bytes && * size> 0; i++) {
		v = v << 8 | **data;
		(*data)++;
		(*size)--;
	}
	return v;
}

/* A copy without the bytes a field cannot hold. */
static char *copy_without(const uint8_t *data, size_t size, const char *reject, size_t *len)
{
	char *s = malloc(size + 1);
	size_t n = 0;

	assert(s);
	for (size_t i = 0; i < size; i++)
		if (!memchr(reject, data[i], strlen(reject) + 1))
			s[n++] = (char)data[i];
	s[n] = '\0';
	*len = n;
	return s;
}

static void fuzz_stat(const uint8_t *data, size_t size)
{
	unsigned long long starttime = 7;
	pid_t ppid = -7;

	if (ks_parse_proc_stat((const char *)data, size, STAT_PID, &ppid, &starttime) == 0) {
		assert(ppid >= 0);
		assert(memchr(data, ')', size));
	}
}

/* "PID (COMM) S PPID ... STARTTIME ...", 52 fields as Linux 6.x writes. */
static void fuzz_stat_comm(const uint8_t *data, size_t size)
{
	pid_t want_ppid = (pid_t)(take_number(&data, &size, 4) & INT_MAX);
	unsigned long long want_start = take_number(&data, &size, 8), starttime = 0;
	char *comm, *line;
	size_t comm_len;
	pid_t ppid = -1;
	int n;

	comm = copy_without(data, size, "", &comm_len);
	n = asprintf(&line,
		     "%d (%s) S %d 4242 4242 34817 4242 4194560 1234 0 0 0 12 3 0 0 20 0 1 0 "
		     "%llu 9547776 1234 18446744073709551615 1 1 0 0 0 0 0 3670020 1266777851 "
		     "0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
		     STAT_PID, comm, (int)want_ppid, want_start);
	assert(n > 0);
	assert(ks_parse_proc_stat(line, (size_t)n, STAT_PID, &ppid, &starttime) == 0);
	assert(ppid == want_ppid && starttime == want_start);
	/* Another pid's line is not this process. */
	assert(ks_parse_proc_stat(line, (size_t)n, STAT_PID + 1, &ppid, &starttime) == -EINVAL);
	free(line);
	free(comm);
}

static void fuzz_status(const uint8_t *data, size_t size)
{
	uid_t uid = 7;

	if (ks_parse_status_uid((const char *)data, size, &uid) == 0) {
		assert(uid != (uid_t)-1);
		assert(memmem(data, size, "Uid:", 4));
	}
}

/* The kernel escapes '\n' in Name:, so no name can forge a Uid: line. */
static void fuzz_status_name(const uint8_t *data, size_t size)
{
	uid_t want = (uid_t)take_number(&data, &size, 4), uid = 0;
	char *name, *text;
	size_t name_len;
	int n;

	if (want == (uid_t)-1)
		want = 0;
	name = copy_without(data, size, "\n", &name_len);
	n = asprintf(&text,
		     "Name:\t%s\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t%d\nNgid:\t0\n"
		     "Pid:\t%d\nPPid:\t1\nTracerPid:\t0\nUid:\t%u\t%u\t%u\t%u\n"
		     "Gid:\t100\t100\t100\t100\nFDSize:\t64\n",
		     name, STAT_PID, STAT_PID, (unsigned)want, 0U, 0U, 0U);
	assert(n > 0);
	assert(ks_parse_status_uid(text, (size_t)n, &uid) == 0);
	assert(uid == want);
	free(text);
	free(name);
}

static void fuzz_cgroup(const uint8_t *data, size_t size)
{
	static const enum ks_cgroup_mode modes[] = { KS_CGROUP_UNIFIED, KS_CGROUP_LEGACY };
	const char *buf = (const char *)data;

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		const char *path = NULL;
		size_t len = 0;
		int r = ks_parse_proc_cgroup(buf, size, modes[i], &path, &len);

		assert(r == 0 || r == -EINVAL || r == -ENODATA);
		if (r < 0)
			continue;
		assert(path > buf && path + len <= buf + size);
		assert(len > 0 && path[0] == '/');
		assert(!memchr(path, '\n', len) && !memchr(path, '\0', len));
		assert(path[-1] == ':');
	}
}

/* ---- cgroup.procs, read by the scan from a scratch cgroup tree ---- */

static char scratch[64];
static char procs_path[128];

static void scratch_remove(void)
{
	char path[128];

	(void)unlink(procs_path);
	(void)snprintf(path, sizeof(path), "%s/cg", scratch);
	(void)rmdir(path);
	(void)snprintf(path, sizeof(path), "%s/proc", scratch);
	(void)rmdir(path);
	(void)rmdir(scratch);
}

/* <scratch>/proc stays empty, so every pid read from cgroup.procs is a
 * process that exited meanwhile; <scratch>/cg is the session cgroup. */
static void scratch_make(void)
{
	char path[128];

	(void)snprintf(scratch, sizeof(scratch), "%s/ks-fuzz-proc-XXXXXX",
		       getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert(mkdtemp(scratch));
	(void)snprintf(path, sizeof(path), "%s/proc", scratch);
	assert(mkdir(path, 0700) == 0);
	(void)snprintf(path, sizeof(path), "%s/cg", scratch);
	assert(mkdir(path, 0700) == 0);
	(void)snprintf(procs_path, sizeof(procs_path), "%s/cg/cgroup.procs", scratch);
	(void)atexit(scratch_remove);
}

struct procs_log {
	long garbage; /* from the "malformed lines" line, -1 if none */
	unsigned other;
};

static void procs_sink(void *ctx, int priority, const char *message)
{
	static const char tail[] = " malformed lines in cgroup.procs below ";
	struct procs_log *l = ctx;
	char *end;
	unsigned long n;

	(void)priority;
	n = strtoul(message, &end, 10);
	if (end != message && strncmp(end, tail, strlen(tail)) == 0) {
		assert(l->garbage < 0);
		l->garbage = (long)n;
	} else {
		l->other++;
	}
}

static void fuzz_cgroup_procs(const uint8_t *data, size_t size)
{
	static const char *const tmux[] = { "tmux" };
	const struct ks_strlist programs = { .v = (char **)tmux, .n = 1 };
	struct procs_log l = { .garbage = -1 };
	const struct ks_log log = { .sink = procs_sink, .ctx = &l, .debug = true };
	char proc_root[128], cgroup_root[128];
	struct ks_selection sel;
	const char *p = (const char *)data, *end = p + size;
	long garbage = 0;
	int fd;

	/* What the scan should count, line by line. */
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		pid_t pid = 0;
		int r = ks_parse_pid_line(p, len, &pid);

		assert(r == 0 || r == -EINVAL || r == -ENODATA);
		assert((r == -ENODATA) == (len == 0));
		if (r == 0)
			assert(pid > 0);
		else if (r == -EINVAL)
			garbage++;
		p += len + (nl ? 1 : 0);
	}

	if (!scratch[0])
		scratch_make();
	fd = open(procs_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert(fd >= 0);
	assert(write(fd, data, size) == (ssize_t)size);
	assert(close(fd) == 0);

	(void)snprintf(proc_root, sizeof(proc_root), "%s/proc", scratch);
	(void)snprintf(cgroup_root, sizeof(cgroup_root), "%s/cg", scratch);
	{
		const struct ks_scan scan = {
			.proc_root = proc_root,
			.cgroup_root = cgroup_root,
			.cgroup = "/",
			.uid = 1000,
			.programs = &programs,
		};

		assert(ks_select_trees(&scan, &sel, &log) == 0);
	}
	assert(sel.n == 0);
	ks_selection_free(&sel);
	/* The streaming reader agrees with the line parser. */
	assert(l.garbage == (garbage ? garbage : -1));
	assert(l.other == 0);
}

/* More entries than any list holds: ~/.keepsession keeps 256, a 4 KiB
 * config line fits 2048. Beyond, the fuzzer would only measure realloc. */
#define MAX_ENTRIES 2048

/* "entry\0entry\0...\0exe": the last string is the /proc/PID/exe target. */
static void fuzz_program(const uint8_t *data, size_t size)
{
	static const char deleted[] = " (deleted)";
	struct ks_strlist programs = { 0 };
	const char *exe, *match, *base;
	char *copy;
	size_t len, start = 0;

	if (memchr(data, '\0', size) && size / 2 > MAX_ENTRIES) {
		size_t nuls = 0;

		for (size_t i = 0; i < size; i++)
			nuls += data[i] == '\0';
		if (nuls > MAX_ENTRIES)
			return;
	}
	copy = malloc(size + 1);
	assert(copy);
	memcpy(copy, data, size);
	copy[size] = '\0';
	for (size_t i = 0; i < size; i++) {
		if (copy[i] != '\0')
			continue;
		assert(ks_strlist_add(&programs, copy + start, i - start) == 0);
		start = i + 1;
	}
	exe = copy + start;
	match = ks_program_match(&programs, exe);

	/* What the entries are compared with: the path without the suffix
	 * of a replaced binary, and its last component. */
	len = strlen(exe);
	if (len > strlen(deleted) && strcmp(exe + len - strlen(deleted), deleted) == 0)
		len -= strlen(deleted);
	base = exe + len;
	while (base > exe && base[-1] != '/')
		base--;

	if (match) {
		bool listed = false;

		for (size_t i = 0; i < programs.n; i++)
			listed = listed || programs.v[i] == match;
		assert(listed);
		if (match[0] == '/')
			assert(strlen(match) == len && memcmp(match, exe, len) == 0);
		else
			assert(strlen(match) == (size_t)(exe + len - base) &&
			       memcmp(match, base, strlen(match)) == 0);
	} else {
		/* Nothing that should match was missed. */
		for (size_t i = 0; i < programs.n; i++) {
			const char *e = programs.v[i];
			size_t n = strlen(e);

			if (n == 0)
				continue;
			if (e[0] == '/')
				assert(!(n == len && memcmp(e, exe, len) == 0));
			else
				assert(!(n == (size_t)(exe + len - base) &&
					 memcmp(e, base, n) == 0));
		}
	}
	ks_strlist_clear(&programs);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return -1;
	switch ((enum mode)(data[0] % MODE_COUNT)) {
	case MODE_STAT:
		fuzz_stat(data + 1, size - 1);
		break;
	case MODE_STAT_COMM:
		fuzz_stat_comm(data + 1, size - 1);
		break;
	case MODE_STATUS:
		fuzz_status(data + 1, size - 1);
		break;
	case MODE_STATUS_NAME:
		fuzz_status_name(data + 1, size - 1);
		break;
	case MODE_CGROUP:
		fuzz_cgroup(data + 1, size - 1);
		break;
	case MODE_CGROUP_PROCS:
		fuzz_cgroup_procs(data + 1, size - 1);
		break;
	case MODE_PROGRAM:
		fuzz_program(data + 1, size - 1);
		break;
	case MODE_COUNT:
		break;
	}
	return 0;
}
