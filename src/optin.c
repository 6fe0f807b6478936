/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ~/.keepsession: a user opts in by creating it, and may list programs,
 * one per line. Its content is the user's, so it is hostile input: sizes
 * are bounded, bad lines are reported by number only, and nothing of it
 * ever reaches a log line.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

int ks_optin_parse(const char *text, size_t len, struct ks_strlist *programs, const char *origin,
		   const struct ks_log *log)
{
	unsigned line = 0, skipped = 0, dropped = 0;

	while (len > 0) {
		const char *nl = memchr(text, '\n', len);
		size_t n = nl ? (size_t)(nl - text) : len;
		const char *s = text;
		size_t slen = n;

		line++;
		text += n + (nl ? 1 : 0);
		len -= n + (nl ? 1 : 0);

		while (slen > 0 && is_space(s[0])) {
			s++;
			slen--;
		}
		while (slen > 0 && is_space(s[slen - 1]))
			slen--;
		if (slen == 0 || s[0] == '#')
			continue;
		if (!ks_program_valid(s, slen)) {
			if (++skipped <= KS_OPTIN_LOGGED_LINES_MAX)
				ks_log(log, LOG_WARNING, "%s: line %u skipped: %s", origin, line,
				       slen > KS_PROGRAM_MAX ? "too long" :
							       "not a base name or absolute path");
			continue;
		}
		if (contains(programs, s, slen))
			continue;
		if (programs->n >= KS_OPTIN_PROGRAMS_MAX) {
			dropped++;
			continue;
		}
		if (ks_strlist_add(programs, s, slen) < 0)
			return -ENOMEM;
	}
	if (skipped > KS_OPTIN_LOGGED_LINES_MAX)
		ks_log(log, LOG_WARNING, "%s: %u more lines skipped", origin,
		       skipped - KS_OPTIN_LOGGED_LINES_MAX);
	if (dropped > 0)
		ks_log(log, LOG_WARNING, "%s: more than %d programs, %u ignored", origin,
		       KS_OPTIN_PROGRAMS_MAX, dropped);
	return 0;
}

/* Reads fd to its end, at most KS_OPTIN_MAX_SIZE bytes, into buf (one byte
 * more in size, to see a file that grew). Returns the length, -EFBIG, or
 * -errno. */
static ssize_t read_bounded(int fd, char *buf)
{
	size_t len = 0;

	while (len <= KS_OPTIN_MAX_SIZE) {
		ssize_t n = read(fd, buf + len, KS_OPTIN_MAX_SIZE + 1 - len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > KS_OPTIN_MAX_SIZE)
		return -EFBIG;
	return (ssize_t)len;
}

static const char *stat_problem(const struct stat *st, uid_t owner)
{
	if (!S_ISREG(st->st_mode))
		return "not a regular file";
	if (st->st_uid != owner)
		return "not owned by the user";
	if (st->st_size > KS_OPTIN_MAX_SIZE)
		return "larger than 64 KiB";
	return NULL;
}

enum ks_optin_status ks_optin_read(const char *path, uid_t owner, struct ks_strlist *programs,
				   const struct ks_log *log)
{
	const char *why;
	struct stat st;
	char *buf;
	ssize_t len;
	int fd, r;

	ks_strlist_clear(programs);
	/* Symlinks are followed: dotfile managers use them. The caller runs
	 * with the user's privileges, so only what the user can read opens. */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return KS_OPTIN_ABSENT;
		ks_log(log, LOG_WARNING, "%s ignored: cannot open: %s", path, strerror(errno));
		return KS_OPTIN_REFUSED;
	}
	if (fstat(fd, &st) < 0) {
		ks_log(log, LOG_WARNING, "%s ignored: cannot stat: %s", path, strerror(errno));
		(void)close(fd);
		return KS_OPTIN_REFUSED;
	}
	why = stat_problem(&st, owner);
	if (why) {
		ks_log(log, LOG_WARNING, "%s ignored: %s", path, why);
		(void)close(fd);
		return KS_OPTIN_REFUSED;
	}
	buf = malloc(KS_OPTIN_MAX_SIZE + 1);
	if (!buf) {
		ks_log(log, LOG_ERR, "%s ignored: out of memory", path);
		(void)close(fd);
		return KS_OPTIN_REFUSED;
	}
	len = read_bounded(fd, buf);
	(void)close(fd);
	if (len < 0) {
		ks_log(log, LOG_WARNING, "%s ignored: %s", path,
		       len == -EFBIG ? "grew past 64 KiB while read" : strerror((int)-len));
		free(buf);
		return KS_OPTIN_REFUSED;
	}
	r = ks_optin_parse(buf, (size_t)len, programs, path, log);
	free(buf);
	if (r < 0) {
		ks_strlist_clear(programs);
		ks_log(log, LOG_ERR, "%s ignored: out of memory", path);
		return KS_OPTIN_REFUSED;
	}
	return KS_OPTIN_OK;
}
