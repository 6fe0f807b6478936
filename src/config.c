/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Loading the admin's configuration: defaults, then
 * /etc/security/keepsession.conf (or conf=), then key=value module
 * arguments on top; each setting goes through ks_config_set() (configkey.c).
 *
 * File syntax, kept as simple as pam_env.conf's:
 *	key = value	blanks around '=' are optional
 *	# comment	only where '#' is the first non-blank character
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ks_cleanup.h"
#include "ks_config.h"
#include "ks_failpolicy.h"
#include "ks_fileio.h"

#define KS_CONFIG_LINE_MAX 4096

int ks_config_init(struct ks_config *c)
{
	*c = (struct ks_config){
		.optin = true,
		.when = KS_WHEN_KILL,
		.timeout_usec = KS_DEFAULT_TIMEOUT_USEC,
		.max_trees = KS_DEFAULT_MAX_TREES,
	};
	if (ks_strlist_add_split(&c->commands, KS_DEFAULT_COMMANDS) < 0) {
		ks_config_free(c);
		return -ENOMEM;
	}
	return 0;
}

void ks_config_free(struct ks_config *c)
{
	ks_strlist_clear(&c->commands);
	ks_strlist_clear(&c->users);
	ks_strlist_clear(&c->deny);
	free(c->conf_path);
	c->conf_path = NULL;
	free(c->slice);
	c->slice = NULL;
}

/* Cuts the blanks at the end of s. */
static void trim_end(char *s, char *end)
{
	while (end > s && strchr(KS_CONFIG_BLANKS, end[-1]))
		end--;
	*end = '\0';
}

/* One line, without its '\n'. Returns 0, the number of problems, or -ENOMEM. */
static int parse_line(struct ks_config *c, const char *text, size_t len, const char *origin,
		      unsigned line, const struct ks_log *log)
{
	char buf[KS_CONFIG_LINE_MAX + 1];
	char *key, *value, *eq;

	if (memchr(text, '\0', len)) {
		ks_fail_log(log, KS_FAIL_CONFIG_BAD_SETTING, "%s:%u: line with a NUL byte ignored",
			    origin, line);
		return 1;
	}
	memcpy(buf, text, len);
	buf[len] = '\0';

	key = buf + strspn(buf, KS_CONFIG_BLANKS);
	if (*key == '\0' || *key == '#')
		return 0;
	eq = strchr(key, '=');
	if (!eq) {
		ks_fail_log(log, KS_FAIL_CONFIG_BAD_SETTING, "%s:%u: expected \"key = value\"",
			    origin, line);
		return 1;
	}
	value = eq + 1;
	trim_end(key, eq);
	if (*key == '\0') {
		ks_fail_log(log, KS_FAIL_CONFIG_BAD_SETTING, "%s:%u: missing key before '='",
			    origin, line);
		return 1;
	}
	value += strspn(value, KS_CONFIG_BLANKS);
	trim_end(value, value + strlen(value));
	return ks_config_set(c, key, value, origin, line, log);
}

int ks_config_parse_text(struct ks_config *c, const char *text, size_t len, const char *origin,
			 const struct ks_log *log)
{
	unsigned line = 0;
	int problems = 0;

	while (len > 0) {
		const char *nl = memchr(text, '\n', len);
		size_t n = nl ? (size_t)(nl - text) : len;

		line++;
		if (n > KS_CONFIG_LINE_MAX) {
			ks_fail_log(log, KS_FAIL_CONFIG_BAD_SETTING,
				    "%s:%u: line longer than %d bytes ignored", origin, line,
				    KS_CONFIG_LINE_MAX);
			problems++;
		} else {
			int r = parse_line(c, text, n, origin, line, log);

			if (r < 0)
				return r;
			problems += r;
		}
		if (!nl)
			break;
		text += n + 1;
		len -= n + 1;
	}
	return problems;
}

/* Why a config file is not used: the step that failed with its errno, or
 * the trust check that refused it. */
struct refusal {
	const char *step; /* "open", "stat": with err */
	int err;
	enum ks_file_trust trust;
};

/* Opens the file and checks it. Returns the fd, or -errno with *why said
 * (-ENOENT: no file, defaults silently). Logs nothing. */
static int open_trusted(const char *path, uid_t trusted_owner, struct refusal *why)
{
	_cleanup_(closep) int fd = -1;
	struct stat st;

	*why = (struct refusal){ .trust = KS_FILE_TRUSTED };
	/* Never blocks: a FIFO planted here must not hang the login. */
	fd = ks_open_regular_at(AT_FDCWD, path, 0);
	if (fd == -EINVAL)
		why->trust = KS_FILE_NOT_REGULAR;
	else if (fd < 0)
		*why = (struct refusal){ .step = "open", .err = -fd };
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0) {
		*why = (struct refusal){ .step = "stat", .err = errno };
		return -why->err;
	}
	why->trust = ks_file_trust(&st, trusted_owner, S_IWGRP | S_IWOTH, KS_CONFIG_MAX_SIZE);
	if (why->trust != KS_FILE_TRUSTED)
		return -EPERM;
	return TAKE_FD(fd);
}

/* The one line for a file that is not used. */
static void log_refusal(const char *path, const struct refusal *why, const struct ks_log *log)
{
	if (why->step)
		ks_fail_log(log, KS_FAIL_CONFIG_UNREADABLE, "%s: cannot %s, defaults used: %s",
			    path, why->step, strerror(why->err));
	else
		ks_fail_log(log, KS_FAIL_CONFIG_UNTRUSTED, "%s: refused, defaults used: %s", path,
			    ks_file_trust_text(why->trust));
}

int ks_config_parse_file(struct ks_config *c, const char *path, uid_t trusted_owner,
			 const struct ks_log *log)
{
	_cleanup_(freep) char *text = NULL;
	_cleanup_(closep) int fd = -1;
	struct refusal why;
	size_t len = 0;
	int r;

	fd = open_trusted(path, trusted_owner, &why);
	if (fd == -ENOENT)
		return 0;
	if (fd < 0) {
		log_refusal(path, &why, log);
		return 1;
	}
	text = malloc(KS_CONFIG_MAX_SIZE + 1);
	if (!text)
		return -ENOMEM;
	r = ks_read_bounded(fd, text, KS_CONFIG_MAX_SIZE + 1, true, &len);
	if (r < 0) {
		ks_fail_log(log, r == -EFBIG ? KS_FAIL_CONFIG_UNTRUSTED : KS_FAIL_CONFIG_UNREADABLE,
			    "%s: refused, defaults used: %s", path,
			    r == -EFBIG ? "grew past the size limit while read" : strerror(-r));
		return 1;
	}
	if (memchr(text, '\0', len)) {
		ks_fail_log(log, KS_FAIL_CONFIG_UNTRUSTED,
			    "%s: refused, defaults used: contains a NUL byte", path);
		return 1;
	}
	return ks_config_parse_text(c, text, len, path, log);
}

/* "key=value" module argument: splits at the first '='. Returns 0, the
 * number of problems, or -ENOMEM. */
static int apply_argument(struct ks_config *c, const char *arg, const struct ks_log *log)
{
	const char *eq = strchr(arg, '=');
	char *key;
	int r;

	if (strcmp(arg, "debug") == 0) {
		c->debug = true;
		return 0;
	}
	if (!eq) {
		ks_fail_log(log, KS_FAIL_CONFIG_BAD_SETTING,
			    "module argument: %.64s: unknown option", arg);
		return 1;
	}
	key = strndup(arg, (size_t)(eq - arg));
	if (!key)
		return -ENOMEM;
	r = ks_config_set(c, key, eq + 1, "module argument", 0, log);
	free(key);
	return r;
}

/* After a failed load, whatever was applied so far must not be acted on
 * (users read, deny not yet): a configuration that keeps no one. */
static void keep_nothing(struct ks_config *c)
{
	ks_strlist_clear(&c->commands);
	ks_strlist_clear(&c->users);
	c->optin = false;
	c->user_commands = false;
}

static int load(struct ks_config *c, int argc, const char **argv, uid_t trusted_owner,
		const struct ks_log *log)
{
	int problems = 0, r;

	/* The defaults are already there: c comes from ks_config_init(). */

	/* conf= and debug first: they decide what is read and how loudly. */
	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];
		bool b;

		if (!arg)
			continue;
		if (strcmp(arg, "debug") == 0) {
			c->debug = true;
		} else if (strncmp(arg, "debug=", 6) == 0) {
			if (ks_parse_bool(arg + 6, &b) == 0)
				c->debug = b;
		} else if (strncmp(arg, "conf=", 5) == 0) {
			if (arg[5] != '/') {
				ks_fail_log(log, KS_FAIL_CONFIG_BAD_SETTING,
					    "module argument: conf: not an absolute path, "
					    "%s used",
					    KS_DEFAULT_CONF);
				problems++;
				continue;
			}
			free(c->conf_path);
			c->conf_path = strdup(arg + 5);
			if (!c->conf_path)
				return -ENOMEM;
		}
	}

	r = ks_config_parse_file(c, c->conf_path ? c->conf_path : KS_DEFAULT_CONF, trusted_owner,
				 log);
	if (r < 0)
		return r;
	problems += r;

	/* Then every argument again, in order, on top of the file. */
	for (int i = 0; i < argc; i++) {
		if (!argv[i] || strncmp(argv[i], "conf=", 5) == 0)
			continue;
		r = apply_argument(c, argv[i], log);
		if (r < 0)
			return r;
		problems += r;
	}
	return problems;
}

int ks_config_load(struct ks_config *c, int argc, const char **argv, uid_t trusted_owner,
		   const struct ks_log *log)
{
	int r = load(c, argc, argv, trusted_owner, log);

	if (r < 0)
		keep_nothing(c);
	return r;
}
