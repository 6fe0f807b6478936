/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The admin's configuration: defaults, then /etc/security/keepsession.conf
 * (or conf=), then key=value module arguments on top.
 *
 * File syntax, kept as simple as pam_env.conf's:
 *	key = value	blanks around '=' are optional
 *	# comment	only where '#' is the first non-blank character
 * No value of ours needs a '#', but "tmux#" could be a program name, so a
 * '#' is refused only where it would start a trailing comment (first in the
 * value or after a blank or comma): that setting is logged and ignored as a
 * whole, rather than half read as programs or users.
 *
 * Every problem is one log line naming where ("module argument" or
 * "FILE:LINE") and the key; the rest of the configuration still applies.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ks_config.h"
#include "ks_program.h"
#include "ks_unitname.h"

#define KS_CONFIG_LINE_MAX 4096
#define KS_NAME_MAX 255 /* a user or group entry, '@' included */
#define KS_LONGEST_UID "4294967295"

/* Where a setting comes from, for log lines. line 0: a module argument. */
struct origin {
	const char *name;
	unsigned line;
	const char *key;
	const struct ks_log *log;
};

static void __attribute__((format(printf, 2, 3)))
problem(const struct origin *o, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (o->line > 0)
		ks_log(o->log, LOG_ERR, "%s:%u: %.64s: %s", o->name, o->line, o->key, msg);
	else
		ks_log(o->log, LOG_ERR, "%s: %.64s: %s", o->name, o->key, msg);
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_printable(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

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

enum list_kind {
	LIST_PROGRAMS, /* commands */
	LIST_USERS,    /* users, deny */
};

static const char *entry_problem(const char *s, size_t len, enum list_kind kind)
{
	if (len == 0)
		return "empty entry";
	if (kind == LIST_PROGRAMS) {
		if (!ks_program_valid(s, len))
			return "neither a base name nor an absolute path";
		return NULL;
	}
	if (len > KS_NAME_MAX || !is_printable(s, len))
		return "not a user or group name";
	if (len == 1 && s[0] == '@')
		return "'@' without a group name";
	return NULL;
}

/* Adds one entry unless it is bad (logged) or already there (harmless).
 * Returns 0, 1 for a problem, or -ENOMEM. */
static int add_entry(const struct origin *o, struct ks_strlist *l, const char *s, size_t len,
		     enum list_kind kind, unsigned index)
{
	const char *why = entry_problem(s, len, kind);

	if (why) {
		if (len > 0 && len <= 64 && is_printable(s, len))
			problem(o, "entry %u \"%.*s\" dropped: %s", index, (int)len, s, why);
		else
			problem(o, "entry %u dropped: %s", index, why);
		return 1;
	}
	for (size_t i = 0; i < l->n; i++)
		if (strlen(l->v[i]) == len && memcmp(l->v[i], s, len) == 0)
			return 0;
	return ks_strlist_add(l, s, len);
}

/* One comma-separated piece: entries separated by blanks. A piece without
 * any ("a,,b", "a,") is reported as an empty entry, more likely a typo than
 * intended. Returns 0, the number of problems, or -ENOMEM. */
static int add_piece(const struct origin *o, struct ks_strlist *l, const char *p, size_t len,
		     enum list_kind kind, unsigned *index)
{
	size_t i = 0;
	bool empty = true;
	int problems = 0;

	for (;;) {
		size_t n = 0;
		int r;

		while (i < len && is_space(p[i]))
			i++;
		if (i == len)
			break;
		while (i + n < len && !is_space(p[i + n]))
			n++;
		empty = false;
		r = add_entry(o, l, p + i, n, kind, ++*index);
		if (r < 0)
			return r;
		problems += r;
		i += n;
	}
	if (empty)
		problems += add_entry(o, l, p, 0, kind, ++*index);
	return problems;
}

/* Entries are separated by commas and/or blanks, as in ks_strlist_add_split().
 * A blank value is an empty list. The list replaces the previous one: a key
 * given twice means its last value. */
static int set_list(const struct origin *o, const char *value, enum list_kind kind,
		    struct ks_strlist *dst)
{
	struct ks_strlist l = { 0 };
	const char *p = value;
	unsigned index = 0;
	int problems = 0;

	while (is_space(*p))
		p++;
	while (*p) {
		size_t len = strcspn(p, ",");
		int r = add_piece(o, &l, p, len, kind, &index);

		if (r < 0) {
			ks_strlist_clear(&l);
			return r;
		}
		problems += r;
		if (p[len] == '\0')
			break;
		p += len + 1;
		/* after a trailing comma: one more, empty, piece */
		if (*p == '\0')
			problems += add_piece(o, &l, p, 0, kind, &index);
	}
	ks_strlist_clear(dst);
	*dst = l;
	return problems;
}

static int set_bool(const struct origin *o, const char *value, bool *dst)
{
	if (ks_parse_bool(value, dst) < 0) {
		problem(o, "not a boolean (yes or no)");
		return 1;
	}
	return 0;
}

/* "infinity" and 0 both mean no limit. */
static int set_max_age(const struct origin *o, const char *value, uint64_t *dst)
{
	uint64_t usec;

	if (strcmp(value, "infinity") == 0) {
		*dst = 0;
		return 0;
	}
	if (ks_parse_timespan(value, &usec) < 0) {
		problem(o, "not a time span (like 12h or 7d) or infinity");
		return 1;
	}
	*dst = usec;
	return 0;
}

static int set_timeout(const struct origin *o, const char *value, uint64_t *dst)
{
	uint64_t usec;

	if (ks_parse_timespan(value, &usec) < 0) {
		problem(o, "not a time span (like 3s or 500ms)");
		return 1;
	}
	if (usec == 0 || usec > KS_MAX_TIMEOUT_USEC) {
		problem(o, "must be more than 0 and at most %llus",
			(unsigned long long)(KS_MAX_TIMEOUT_USEC / KS_USEC_PER_SEC));
		return 1;
	}
	*dst = usec;
	return 0;
}

static int set_max_trees(const struct origin *o, const char *value, unsigned *dst)
{
	unsigned long v = 0;
	size_t len = strlen(value);

	if (len == 0 || len > 4 || strspn(value, "0123456789") != len ||
	    (v = strtoul(value, NULL, 10)) < 1 || v > KS_MAX_MAX_TREES) {
		problem(o, "must be a number from 1 to %d", KS_MAX_MAX_TREES);
		return 1;
	}
	*dst = (unsigned)v;
	return 0;
}

/*
 * A slice unit name as ks_slice_name_valid() decides ("user-%U.slice"),
 * where "%U" stands for the uid, expanded later. It is checked with the
 * longest uid in its place, so the expanded name always fits. Other '%'
 * and systemd's '\\' escapes are refused: admins name slices plainly.
 */
static bool slice_valid(const char *s)
{
	char expanded[KS_UNIT_NAME_MAX + 1];
	size_t n = 0;

	for (const char *p = s; *p; p++) {
		const char *piece = p;
		size_t len = 1;

		if (*p == '%') {
			if (p[1] != 'U')
				return false;
			piece = KS_LONGEST_UID;
			len = strlen(KS_LONGEST_UID);
			p++;
		} else if (*p == '\\') {
			return false;
		}
		if (len > KS_UNIT_NAME_MAX - n)
			return false;
		memcpy(expanded + n, piece, len);
		n += len;
	}
	expanded[n] = '\0';
	return ks_slice_name_valid(expanded) == 1;
}

/* An empty value means the default slice (NULL), so that a module argument
 * can undo a slice set in the file. */
static int set_slice(const struct origin *o, const char *value, char **dst)
{
	char *copy = NULL;

	if (*value != '\0') {
		if (!slice_valid(value)) {
			problem(o, "not a slice name like user-%%U.slice");
			return 1;
		}
		copy = strdup(value);
		if (!copy)
			return -ENOMEM;
	}
	free(*dst);
	*dst = copy;
	return 0;
}

static int set_when(const struct origin *o, const char *value, enum ks_when *dst)
{
	if (strcmp(value, "kill") == 0)
		*dst = KS_WHEN_KILL;
	else if (strcmp(value, "always") == 0)
		*dst = KS_WHEN_ALWAYS;
	else {
		problem(o, "must be kill or always");
		return 1;
	}
	return 0;
}

/* A '#' where it would start a comment: "a # b", "a,#b", "#a". */
static bool looks_like_comment(const char *value)
{
	for (const char *p = strchr(value, '#'); p; p = strchr(p + 1, '#'))
		if (p == value || is_space(p[-1]) || p[-1] == ',')
			return true;
	return false;
}

enum key {
	KEY_COMMANDS,
	KEY_USERS,
	KEY_DENY,
	KEY_OPTIN,
	KEY_USER_COMMANDS,
	KEY_DEBUG,
	KEY_MAX_AGE,
	KEY_SLICE,
	KEY_WHEN,
	KEY_TIMEOUT,
	KEY_MAX_TREES,
	KEY_COUNT,
};

static const char *const key_names[KEY_COUNT] = {
	[KEY_COMMANDS] = "commands",
	[KEY_USERS] = "users",
	[KEY_DENY] = "deny",
	[KEY_OPTIN] = "optin",
	[KEY_USER_COMMANDS] = "user_commands",
	[KEY_DEBUG] = "debug",
	[KEY_MAX_AGE] = "max_age",
	[KEY_SLICE] = "slice",
	[KEY_WHEN] = "when",
	[KEY_TIMEOUT] = "timeout",
	[KEY_MAX_TREES] = "max_trees",
};

int ks_config_set(struct ks_config *c, const char *key, const char *value, const char *origin,
		  unsigned line, const struct ks_log *log)
{
	const struct origin o = { .name = origin, .line = line, .key = key, .log = log };
	enum key k = 0;

	while (k < KEY_COUNT && strcmp(key, key_names[k]) != 0)
		k++;
	if (k == KEY_COUNT) {
		problem(&o, "unknown key");
		return 1;
	}
	if (looks_like_comment(value)) {
		problem(&o, "'#' starts a comment only at the beginning of a line, ignored");
		return 1;
	}
	switch (k) {
	case KEY_COMMANDS:
		return set_list(&o, value, LIST_PROGRAMS, &c->commands);
	case KEY_USERS:
		return set_list(&o, value, LIST_USERS, &c->users);
	case KEY_DENY:
		return set_list(&o, value, LIST_USERS, &c->deny);
	case KEY_OPTIN:
		return set_bool(&o, value, &c->optin);
	case KEY_USER_COMMANDS:
		return set_bool(&o, value, &c->user_commands);
	case KEY_DEBUG:
		return set_bool(&o, value, &c->debug);
	case KEY_MAX_AGE:
		return set_max_age(&o, value, &c->max_age_usec);
	case KEY_SLICE:
		return set_slice(&o, value, &c->slice);
	case KEY_WHEN:
		return set_when(&o, value, &c->when);
	case KEY_TIMEOUT:
		return set_timeout(&o, value, &c->timeout_usec);
	case KEY_MAX_TREES:
		return set_max_trees(&o, value, &c->max_trees);
	case KEY_COUNT:
		break;
	}
	return 0;
}

/* One line, without its '\n'. Returns 0, the number of problems, or -ENOMEM. */
static int parse_line(struct ks_config *c, const char *text, size_t len, const char *origin,
		      unsigned line, const struct ks_log *log)
{
	char buf[KS_CONFIG_LINE_MAX + 1];
	char *key, *value, *eq, *end;

	if (memchr(text, '\0', len)) {
		ks_log(log, LOG_ERR, "%s:%u: line with a NUL byte ignored", origin, line);
		return 1;
	}
	memcpy(buf, text, len);
	buf[len] = '\0';

	key = buf;
	while (is_space(*key))
		key++;
	if (*key == '\0' || *key == '#')
		return 0;
	eq = strchr(key, '=');
	if (!eq) {
		ks_log(log, LOG_ERR, "%s:%u: expected \"key = value\"", origin, line);
		return 1;
	}
	value = eq + 1;
	for (end = eq; end > key && is_space(end[-1]); end--)
		;
	*end = '\0';
	if (end == key) {
		ks_log(log, LOG_ERR, "%s:%u: missing key before '='", origin, line);
		return 1;
	}
	while (is_space(*value))
		value++;
	for (end = value + strlen(value); end > value && is_space(end[-1]); end--)
		;
	*end = '\0';
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
			ks_log(log, LOG_ERR, "%s:%u: line longer than %d bytes ignored", origin,
			       line, KS_CONFIG_LINE_MAX);
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

/* Reads fd to its end into a malloc'd buffer of at most max bytes.
 * Returns 0, -EFBIG if there is more, or -errno. */
static int read_bounded(int fd, size_t max, char **ret, size_t *ret_len)
{
	char *buf = malloc(max + 1);
	size_t len = 0;

	if (!buf)
		return -ENOMEM;
	while (len <= max) {
		ssize_t n = read(fd, buf + len, max + 1 - len);

		if (n < 0) {
			int r = -errno;

			if (r == -EINTR)
				continue;
			free(buf);
			return r;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max) {
		free(buf);
		return -EFBIG;
	}
	*ret = buf;
	*ret_len = len;
	return 0;
}

/* Why a file may not be trusted, or NULL. */
static const char *file_problem(const struct stat *st, uid_t trusted_owner)
{
	if (!S_ISREG(st->st_mode))
		return "not a regular file";
	if (st->st_uid != trusted_owner)
		return "not owned by the trusted owner";
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return "writable by group or others";
	if (st->st_size > KS_CONFIG_MAX_SIZE)
		return "larger than the size limit";
	return NULL;
}

int ks_config_parse_file(struct ks_config *c, const char *path, uid_t trusted_owner,
			 const struct ks_log *log)
{
	const char *why;
	struct stat st;
	char *text = NULL;
	size_t len = 0;
	int fd, r;

	/* O_NONBLOCK: opening a FIFO planted here must not hang the login. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		ks_log(log, LOG_ERR, "%s: cannot open, defaults used: %s", path, strerror(errno));
		return 1;
	}
	if (fstat(fd, &st) < 0) {
		ks_log(log, LOG_ERR, "%s: cannot stat, defaults used: %s", path, strerror(errno));
		(void)close(fd);
		return 1;
	}
	why = file_problem(&st, trusted_owner);
	if (why) {
		ks_log(log, LOG_ERR, "%s: refused, defaults used: %s", path, why);
		(void)close(fd);
		return 1;
	}
	r = read_bounded(fd, KS_CONFIG_MAX_SIZE, &text, &len);
	(void)close(fd);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		ks_log(log, LOG_ERR, "%s: refused, defaults used: %s", path,
		       r == -EFBIG ? "grew past the size limit while read" : strerror(-r));
		return 1;
	}
	/* read_bounded() sets text whenever it returns 0; the analyzer
	 * thinks -errno may be 0. */
	/* NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker) */
	if (memchr(text, '\0', len)) {
		ks_log(log, LOG_ERR, "%s: refused, defaults used: contains a NUL byte", path);
		free(text);
		return 1;
	}
	r = ks_config_parse_text(c, text, len, path, log);
	free(text);
	return r;
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
		ks_log(log, LOG_ERR, "module argument: %.64s: unknown option", arg);
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
				ks_log(log, LOG_ERR,
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
