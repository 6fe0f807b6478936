/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The configuration's keys and values: ks_config_set() checks one
 * "key = value" setting and applies it, wherever it comes from (the file or
 * a module argument); config.c reads those sources.
 *
 * No value of ours needs a '#', but "tmux#" could be a program name, so a
 * '#' is refused only where it would start a trailing comment (first in the
 * value or after a blank or comma): that setting is logged and ignored as a
 * whole, rather than half read as programs or users.
 *
 * Every problem is one log line naming where ("module argument" or
 * "FILE:LINE") and the key; the rest of the configuration still applies.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ks_config.h"
#include "ks_failpolicy.h"
#include "ks_optin.h" /* ks_program_valid(), until the program unit has it */
#include "ks_unitname.h"

#define KS_NAME_MAX 255 /* a user or group entry, '@' included */

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
		ks_fail_log(o->log, KS_FAIL_CONFIG_BAD_SETTING, "%s:%u: %.64s: %s", o->name,
			    o->line, o->key, msg);
	else
		ks_fail_log(o->log, KS_FAIL_CONFIG_BAD_SETTING, "%s: %.64s: %s", o->name, o->key,
			    msg);
}

static bool is_space(char c)
{
	return c != '\0' && strchr(KS_CONFIG_BLANKS, c);
}

static bool is_printable(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
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

/* An empty value means the default slice (NULL), so that a module argument
 * can undo a slice set in the file. */
static int set_slice(const struct origin *o, const char *value, char **dst)
{
	char *copy = NULL;

	if (*value != '\0') {
		if (!ks_slice_template_valid(value)) {
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
