/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Test helpers, header-only so that each test binary stays self-contained:
 * a ks_log sink that records lines, a scratch directory, and the fixture
 * part made of both (struct scratch_log).
 */
#ifndef KS_TEST_LOGCAP_H
#define KS_TEST_LOGCAP_H

/* The including file defines _GNU_SOURCE first (asprintf). */
#include <fcntl.h>
#include <signal.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ks_log.h"

#define LOGCAP_LINES 64

struct logcap {
	unsigned n; /* lines seen; only the first LOGCAP_LINES are kept */
	int prio[LOGCAP_LINES];
	char line[LOGCAP_LINES][512];
};

static inline void logcap_sink(void *ctx, int priority, const char *message)
{
	struct logcap *cap = ctx;

	if (cap->n < LOGCAP_LINES) {
		cap->prio[cap->n] = priority;
		(void)snprintf(cap->line[cap->n], sizeof(cap->line[0]), "%s", message);
	}
	cap->n++;
}

static inline struct ks_log logcap_log(struct logcap *cap)
{
	memset(cap, 0, sizeof(*cap));
	return (struct ks_log){ .sink = logcap_sink, .ctx = cap, .debug = true };
}

/* How many kept lines contain needle. */
static inline unsigned logcap_count(const struct logcap *cap, const char *needle)
{
	unsigned hits = 0;

	for (unsigned i = 0; i < cap->n && i < LOGCAP_LINES; i++)
		if (strstr(cap->line[i], needle))
			hits++;
	return hits;
}

/* The priority of the first kept line that contains needle, or -1. */
static inline int logcap_prio(const struct logcap *cap, const char *needle)
{
	for (unsigned i = 0; i < cap->n && i < LOGCAP_LINES; i++)
		if (strstr(cap->line[i], needle))
			return cap->prio[i];
	return -1;
}

/* Prints what was logged, to make a failing assertion readable. */
static inline void logcap_dump(const struct logcap *cap)
{
	for (unsigned i = 0; i < cap->n && i < LOGCAP_LINES; i++)
		fprintf(stderr, "  log[%u] <%d> %s\n", i, cap->prio[i], cap->line[i]);
}

static inline void hang_guard_fired(int sig)
{
	(void)sig;
	_exit(98); /* a hang is a failure, never a stuck test run */
}

/* Turns a hang of the next steps into a failed test run: alarm(0) ends it. */
static inline void hang_guard(unsigned seconds)
{
	signal(SIGALRM, hang_guard_fired);
	alarm(seconds);
}

static inline char *scratch_dir(void)
{
	const char *tmp = getenv("TMPDIR");
	char *dir;

	if (asprintf(&dir, "%s/ks-test-XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0)
		return NULL;
	if (!mkdtemp(dir)) {
		free(dir);
		return NULL;
	}
	return dir;
}

static inline int scratch_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		return rmdir(path);
	return unlink(path);
}

static inline void scratch_remove(char *dir)
{
	if (!dir)
		return;
	(void)nftw(dir, scratch_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

/* dir/name, malloc'd. */
static inline char *scratch_path(const char *dir, const char *name)
{
	char *path;

	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return NULL;
	return path;
}

/* Writes len bytes to dir/name with the given mode (umask ignored).
 * Returns the malloc'd path or NULL. */
static inline char *scratch_write(const char *dir, const char *name, const char *data, size_t len,
				  mode_t mode)
{
	char *path = scratch_path(dir, name);
	int fd;

	if (!path)
		return NULL;
	(void)unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0 || fchmod(fd, mode) < 0 || write(fd, data, len) != (ssize_t)len) {
		if (fd >= 0)
			(void)close(fd);
		free(path);
		return NULL;
	}
	if (close(fd) < 0) {
		free(path);
		return NULL;
	}
	return path;
}

/*
 * The part of a fixture every file-reading test shares: a scratch directory
 * and a log capture. scratch_log_teardown() prints what was logged (the
 * context of a failing assertion) and removes the directory.
 */
struct scratch_log {
	char *dir;
	struct logcap cap;
	struct ks_log log;
};

/* Returns 0, or -1 with nothing to undo. */
static inline int scratch_log_setup(struct scratch_log *s)
{
	s->dir = scratch_dir();
	if (!s->dir)
		return -1;
	s->log = logcap_log(&s->cap);
	return 0;
}

/* Clears the log between steps of one test. */
static inline void scratch_log_relog(struct scratch_log *s)
{
	s->log = logcap_log(&s->cap);
}

static inline void scratch_log_teardown(struct scratch_log *s)
{
	if (s->cap.n > 0)
		logcap_dump(&s->cap);
	scratch_remove(s->dir);
	s->dir = NULL;
}

#endif
