/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ~/.keepsession: a user opts in by creating it, and may list programs,
 * one per line. Its content is the user's, so it is hostile input: sizes
 * are bounded, bad lines are reported by number only, and nothing of it
 * ever reaches a log line.
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ks_cleanup.h"
#include "ks_fileio.h"
#include "ks_failpolicy.h"
#include "ks_optin.h"

/* A few bad lines are worth a log line each; a file full of garbage gets
 * one summary line instead of thousands. */
#define KS_OPTIN_LOGGED_LINES_MAX 5
/* More programs than anyone runs multiplexers; bounds the matching work. */
#define KS_OPTIN_PROGRAMS_MAX 256

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_component(const char *s, size_t len)
{
	if (len == 0)
		return false;
	if (s[0] == '.' && (len == 1 || (len == 2 && s[1] == '.')))
		return false;
	return true;
}

bool ks_program_valid(const char *s, size_t len)
{
	size_t i = 0;

	if (len == 0 || len > KS_PROGRAM_MAX)
		return false;
	for (size_t j = 0; j < len; j++)
		if ((unsigned char)s[j] <= ' ' || (unsigned char)s[j] == 0x7f)
			return false;
	if (s[0] != '/')
		return !memchr(s, '/', len) && is_component(s, len);
	/* Absolute: every component after a '/' must be a name. */
	while (i < len) {
		size_t j = i + 1;

		while (j < len && s[j] != '/')
			j++;
		if (!is_component(s + i + 1, j - i - 1))
			return false;
		i = j;
	}
	return true;
}

static bool contains(const struct ks_strlist *l, const char *s, size_t len)
{
	for (size_t i = 0; i < l->n; i++)
		if (strlen(l->v[i]) == len && memcmp(l->v[i], s, len) == 0)
			return true;
	return false;
}

/* The skipped lines, the first few by number: logged once the whole file
 * is known, since a file with no valid line at all gets one line. */
struct skips {
	unsigned n, dropped;
	unsigned line[KS_OPTIN_LOGGED_LINES_MAX];
	bool too_long[KS_OPTIN_LOGGED_LINES_MAX];
};

static void skip(struct skips *sk, unsigned line, size_t len)
{
	if (sk->n < KS_OPTIN_LOGGED_LINES_MAX) {
		sk->line[sk->n] = line;
		sk->too_long[sk->n] = len > KS_PROGRAM_MAX;
	}
	sk->n++;
}

static void report(const struct skips *sk, const struct ks_strlist *programs, const char *origin,
		   const struct ks_log *log)
{
	if (sk->n > 0 && programs->n == 0) {
		ks_fail_log(log, KS_FAIL_OPTIN_INVALID_LINES,
			    "%s: no valid program line (%u skipped): nothing is kept", origin,
			    sk->n);
		return;
	}
	for (unsigned i = 0; i < sk->n && i < KS_OPTIN_LOGGED_LINES_MAX; i++)
		ks_fail_log(log, KS_FAIL_OPTIN_INVALID_LINES, "%s: line %u skipped: %s", origin,
			    sk->line[i],
			    sk->too_long[i] ? "too long" : "not a base name or absolute path");
	if (sk->n > KS_OPTIN_LOGGED_LINES_MAX)
		ks_fail_log(log, KS_FAIL_OPTIN_INVALID_LINES, "%s: %u more lines skipped", origin,
			    sk->n - KS_OPTIN_LOGGED_LINES_MAX);
	if (sk->dropped > 0)
		ks_fail_log(log, KS_FAIL_OPTIN_INVALID_LINES,
			    "%s: more than %d programs, %u ignored", origin, KS_OPTIN_PROGRAMS_MAX,
			    sk->dropped);
}

/* One line of the file, trimmed: a program to add, or a skip. */
static int take_line(const char *s, size_t slen, unsigned line, struct ks_strlist *programs,
		     struct skips *sk)
{
	while (slen > 0 && is_space(s[0])) {
		s++;
		slen--;
	}
	while (slen > 0 && is_space(s[slen - 1]))
		slen--;
	if (slen == 0 || s[0] == '#')
		return 0;
	if (!ks_program_valid(s, slen)) {
		skip(sk, line, slen);
		return 0;
	}
	if (contains(programs, s, slen))
		return 0;
	if (programs->n >= KS_OPTIN_PROGRAMS_MAX) {
		sk->dropped++;
		return 0;
	}
	return ks_strlist_add(programs, s, slen);
}

int ks_optin_parse(const char *text, size_t len, struct ks_strlist *programs, const char *origin,
		   const struct ks_log *log)
{
	struct skips sk = { 0 };
	unsigned line = 0;

	while (len > 0) {
		const char *nl = memchr(text, '\n', len);
		size_t n = nl ? (size_t)(nl - text) : len;

		if (take_line(text, n, ++line, programs, &sk) < 0)
			return -ENOMEM;
		text += n + (nl ? 1 : 0);
		len -= n + (nl ? 1 : 0);
	}
	report(&sk, programs, origin, log);
	return (int)(sk.n > INT_MAX ? INT_MAX : sk.n);
}

/* ks_file_trust()'s answer as the check that crosses the reader's pipe. */
static enum ks_optin_check trust_check(const struct stat *st, uid_t owner)
{
	/* Like sshd's StrictModes: what others may write is not the user's
	 * word. */
	switch (ks_file_trust(st, owner, S_IWGRP | S_IWOTH, KS_OPTIN_MAX_SIZE)) {
	case KS_FILE_TRUSTED:
		return KS_OPTIN_CHECK_OK;
	case KS_FILE_NOT_REGULAR:
		return KS_OPTIN_CHECK_NOT_REGULAR;
	case KS_FILE_NOT_OWNED:
		return KS_OPTIN_CHECK_NOT_OWNED;
	case KS_FILE_WRITABLE_BY_OTHERS:
		return KS_OPTIN_CHECK_WRITABLE;
	case KS_FILE_TOO_LARGE:
	default:
		return KS_OPTIN_CHECK_TOO_LARGE;
	}
}

/* The check of a failed open. */
static struct ks_optin_fetched open_failed(int fd)
{
	if (fd == -ENOENT || fd == -ENOTDIR)
		return (struct ks_optin_fetched){ .check = KS_OPTIN_CHECK_ABSENT, .err = -fd };
	/* ks_open_regular_at() opens, then refuses what is not a file. */
	if (fd == -EINVAL)
		return (struct ks_optin_fetched){ .check = KS_OPTIN_CHECK_NOT_REGULAR };
	return (struct ks_optin_fetched){ .check = KS_OPTIN_CHECK_CANNOT_OPEN, .err = -fd };
}

struct ks_optin_fetched ks_optin_fetch(const char *path, uid_t owner, char *buf)
{
	/* Symlinks are followed: dotfile managers use them. The caller runs
	 * with the user's privileges, so only what the user can read opens. */
	_cleanup_(closep) int fd = ks_open_regular_at(AT_FDCWD, path, 0);
	struct ks_optin_fetched f = { .check = KS_OPTIN_CHECK_OK };
	struct stat st;
	size_t len = 0;
	int r;

	if (fd < 0)
		return open_failed(fd);
	if (fstat(fd, &st) < 0)
		return (struct ks_optin_fetched){ .check = KS_OPTIN_CHECK_CANNOT_STAT,
						  .err = errno };
	f.check = trust_check(&st, owner);
	if (f.check != KS_OPTIN_CHECK_OK)
		return f;
	r = ks_read_bounded(fd, buf, KS_OPTIN_MAX_SIZE + 1, true, &len);
	if (r == -EFBIG)
		f.check = KS_OPTIN_CHECK_GREW;
	else if (r < 0)
		f = (struct ks_optin_fetched){ .check = KS_OPTIN_CHECK_CANNOT_READ, .err = -r };
	else
		f.len = (uint32_t)len;
	return f;
}

/* Why a fetched file is not used, for the one log line; NULL when it is. */
static const char *check_reason(const struct ks_optin_fetched *f, char *text, size_t size)
{
	switch ((enum ks_optin_check)f->check) {
	case KS_OPTIN_CHECK_OK:
	case KS_OPTIN_CHECK_ABSENT:
		return NULL;
	case KS_OPTIN_CHECK_CANNOT_OPEN:
		(void)snprintf(text, size, "cannot open: %s", strerror(f->err));
		return text;
	case KS_OPTIN_CHECK_CANNOT_STAT:
		(void)snprintf(text, size, "cannot stat: %s", strerror(f->err));
		return text;
	case KS_OPTIN_CHECK_CANNOT_READ:
		(void)snprintf(text, size, "%s", strerror(f->err));
		return text;
	case KS_OPTIN_CHECK_CANNOT_DROP:
		(void)snprintf(text, size, "cannot drop privileges to the user: %s",
			       strerror(f->err));
		return text;
	case KS_OPTIN_CHECK_NOT_REGULAR:
		return "not a regular file";
	case KS_OPTIN_CHECK_NOT_OWNED:
		return "not owned by the user";
	case KS_OPTIN_CHECK_WRITABLE:
		return "writable by group or others";
	case KS_OPTIN_CHECK_TOO_LARGE:
		return "larger than 64 KiB";
	case KS_OPTIN_CHECK_GREW:
		return "grew past 64 KiB while read";
	}
	return "unknown check result";
}

/* Which case of the failure policy a refused file is. */
static enum ks_failure refusal(const struct ks_optin_fetched *f)
{
	switch ((enum ks_optin_check)f->check) {
	case KS_OPTIN_CHECK_NOT_REGULAR:
	case KS_OPTIN_CHECK_NOT_OWNED:
	case KS_OPTIN_CHECK_WRITABLE:
	case KS_OPTIN_CHECK_TOO_LARGE:
	case KS_OPTIN_CHECK_GREW:
		return KS_FAIL_OPTIN_UNTRUSTED;
	default:
		return KS_FAIL_OPTIN_UNREADABLE;
	}
}

enum ks_optin_status ks_optin_judge(const char *path, const struct ks_optin_fetched *f,
				    const char *buf, struct ks_strlist *programs,
				    const struct ks_log *log)
{
	char text[128];
	const char *why;
	int r;

	ks_strlist_clear(programs);
	if (f->check == KS_OPTIN_CHECK_ABSENT)
		return KS_OPTIN_ABSENT;
	why = check_reason(f, text, sizeof(text));
	if (why) {
		ks_fail_log(log, refusal(f), "%s ignored: %s", path, why);
		return KS_OPTIN_REFUSED;
	}
	r = ks_optin_parse(buf, f->len, programs, path, log);
	if (r < 0) {
		ks_strlist_clear(programs);
		ks_fail_log(log, KS_FAIL_OPTIN_NOMEM, "%s ignored: out of memory", path);
		return KS_OPTIN_REFUSED;
	}
	/* Lines meant as programs, none usable: not "no list" (the admin's
	 * whole list), but nothing. */
	return r > 0 && programs->n == 0 ? KS_OPTIN_NONE_VALID : KS_OPTIN_OK;
}

enum ks_optin_status ks_optin_read(const char *path, uid_t owner, struct ks_strlist *programs,
				   const struct ks_log *log)
{
	struct ks_optin_fetched f;
	enum ks_optin_status status;
	char *buf;

	ks_strlist_clear(programs);
	buf = malloc(KS_OPTIN_MAX_SIZE + 1);
	if (!buf) {
		ks_fail_log(log, KS_FAIL_OPTIN_NOMEM, "%s ignored: out of memory", path);
		return KS_OPTIN_REFUSED;
	}
	f = ks_optin_fetch(path, owner, buf);
	status = ks_optin_judge(path, &f, buf, programs, log);
	free(buf);
	return status;
}
