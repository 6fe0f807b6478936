/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ks_config.h"
#include "logcap.h"

#define SEC KS_USEC_PER_SEC
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)

struct fixture {
	struct scratch_log s;
	char *noconf; /* "conf=" naming a file that does not exist */
	struct ks_config c;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || scratch_log_setup(&f->s) < 0) {
		free(f);
		return -1;
	}
	if (asprintf(&f->noconf, "conf=%s/none.conf", f->s.dir) < 0)
		f->noconf = NULL;
	if (!f->noconf || ks_config_init(&f->c) < 0) {
		free(f->noconf);
		scratch_log_teardown(&f->s);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ks_config_free(&f->c);
	free(f->noconf);
	scratch_log_teardown(&f->s);
	free(f);
	return 0;
}

/* Clears the log between steps of one test. */
static void relog(struct fixture *f)
{
	scratch_log_relog(&f->s);
}

static void assert_list(const struct ks_strlist *l, const char *const *want, size_t n)
{
	assert_int_equal(l->n, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(l->v[i], want[i]);
}

#define ASSERT_LIST(l, ...)                                                                        \
	do {                                                                                       \
		static const char *const want_[] = { __VA_ARGS__ };                                \
		assert_list((l), want_, sizeof(want_) / sizeof(want_[0]));                         \
	} while (0)

static int parse(struct fixture *f, const char *text)
{
	return ks_config_parse_text(&f->c, text, strlen(text), "test.conf", &f->s.log);
}

static char *write_conf(struct fixture *f, const char *name, const char *text, mode_t mode)
{
	char *path = scratch_write(f->s.dir, name, text, strlen(text), mode);

	assert_non_null(path);
	return path;
}

/* ---- value parsers ---- */

static void test_timespan_table(void **state)
{
	static const struct {
		const char *s;
		int r;
		uint64_t usec;
	} cases[] = {
		{ "0", 0, 0 },
		{ "1", 0, SEC },
		{ "90", 0, 90 * SEC },
		{ "90min", 0, 90 * MIN },
		{ "12h", 0, 12 * HOUR },
		{ "7d", 0, 7 * DAY },
		{ "1h30min", 0, 90 * MIN },
		{ "1h 30min", 0, 90 * MIN },
		{ "  2 min  ", 0, 2 * MIN },
		{ "5 s", 0, 5 * SEC },
		{ "1 2", 0, 3 * SEC },
		{ "1h1m1s1ms1us", 0, HOUR + MIN + SEC + 1000 + 1 },
		{ "1us", 0, 1 },
		{ "1usec", 0, 1 },
		{ "1ms", 0, 1000 },
		{ "1msec", 0, 1000 },
		{ "1s", 0, SEC },
		{ "1sec", 0, SEC },
		{ "1second", 0, SEC },
		{ "2seconds", 0, 2 * SEC },
		{ "1m", 0, MIN },
		{ "1min", 0, MIN },
		{ "1minute", 0, MIN },
		{ "2minutes", 0, 2 * MIN },
		{ "1h", 0, HOUR },
		{ "1hr", 0, HOUR },
		{ "1hour", 0, HOUR },
		{ "2hours", 0, 2 * HOUR },
		{ "1d", 0, DAY },
		{ "1day", 0, DAY },
		{ "2days", 0, 2 * DAY },
		{ "1w", 0, 7 * DAY },
		{ "1week", 0, 7 * DAY },
		{ "2weeks", 0, 14 * DAY },
		/* systemd: a month is 30.44 days, a year 365.25 days */
		{ "1M", 0, 2629800 * SEC },
		{ "1month", 0, 2629800 * SEC },
		{ "2months", 0, 2 * 2629800 * SEC },
		{ "1y", 0, 31557600 * SEC },
		{ "1year", 0, 31557600 * SEC },
		{ "2years", 0, 2 * 31557600 * SEC },
		/* fractions, as systemd accepts them */
		{ "1.5h", 0, 90 * MIN },
		{ "0.5s", 0, SEC / 2 },
		{ "0.25", 0, SEC / 4 },
		{ "1.0000001s", 0, SEC },
		{ "1.5us", 0, 1 },
		{ "18446744073709551615us", 0, UINT64_MAX },
		{ "584542y", 0, 584542ULL * 31557600 * SEC },
		{ "", -EINVAL, 0 },
		{ "   ", -EINVAL, 0 },
		{ "abc", -EINVAL, 0 },
		{ "s", -EINVAL, 0 },
		{ "min5", -EINVAL, 0 },
		{ "5x", -EINVAL, 0 },
		{ "5S", -EINVAL, 0 },
		{ "5 sec garbage", -EINVAL, 0 },
		{ "1e3", -EINVAL, 0 },
		{ "1.", -EINVAL, 0 },
		{ ".5", -EINVAL, 0 },
		{ "1.5.5s", -EINVAL, 0 },
		{ "+5", -EINVAL, 0 },
		{ "5,5", -EINVAL, 0 },
		{ "infinity", -EINVAL, 0 },
		{ "-1", -ERANGE, 0 },
		{ "-5min", -ERANGE, 0 },
		{ "1h -5min", -ERANGE, 0 },
		{ "18446744073709551616us", -ERANGE, 0 },
		{ "18446744073709551616", -ERANGE, 0 },
		{ "99999999999999999999999999", -ERANGE, 0 },
		{ "584543y", -ERANGE, 0 },
		{ "584542y 584542y", -ERANGE, 0 },
		{ "18446744073709551615us 1us", -ERANGE, 0 },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t usec = 0xdeadbeef;
		int r = ks_parse_timespan(cases[i].s, &usec);

		if (r != cases[i].r)
			fprintf(stderr, "\"%s\": got %d\n", cases[i].s, r);
		assert_int_equal(r, cases[i].r);
		if (r == 0)
			assert_int_equal(usec, cases[i].usec);
		else
			assert_int_equal(usec, 0xdeadbeef);
	}
	assert_int_equal(ks_parse_timespan(NULL, &(uint64_t){ 0 }), -EINVAL);
}

static void test_bool_table(void **state)
{
	static const char *const yes[] = { "yes", "true", "on", "1", "YES", "True", "On" };
	static const char *const no[] = { "no", "false", "off", "0", "NO", "False", "OFF" };
	static const char *const bad[] = { "", "2", "y", "n", "yess", "nope", " yes", "yes " };
	(void)state;

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		bool b = false;

		assert_int_equal(ks_parse_bool(yes[i], &b), 0);
		assert_true(b);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		bool b = true;

		assert_int_equal(ks_parse_bool(no[i], &b), 0);
		assert_false(b);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bool b = true;

		assert_int_equal(ks_parse_bool(bad[i], &b), -EINVAL);
		assert_true(b);
	}
}

/* ---- keys ---- */

static void test_defaults(void **state)
{
	struct fixture *f = *state;

	assert_false(f->c.debug);
	assert_null(f->c.conf_path);
	ASSERT_LIST(&f->c.commands, "tmux", "screen", "zellij", "dtach", "abduco", "mosh-server",
		    "tmate", "shpool");
	assert_int_equal(f->c.users.n, 0);
	assert_int_equal(f->c.deny.n, 0);
	assert_true(f->c.optin);
	assert_false(f->c.user_commands);
	assert_int_equal(f->c.max_age_usec, 0);
	assert_null(f->c.slice);
	assert_int_equal(f->c.when, KS_WHEN_KILL);
	assert_int_equal(f->c.timeout_usec, KS_DEFAULT_TIMEOUT_USEC);
	assert_int_equal(f->c.max_trees, KS_DEFAULT_MAX_TREES);
}

static void test_every_key(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(parse(f, "commands = tmux, /opt/bin/screen\n"
				  "users = alice, @wheel, bob\n"
				  "optin = no\n"
				  "deny = mallory, @guests\n"
				  "user_commands = yes\n"
				  "max_age = 12h\n"
				  "slice = user-%U.slice\n"
				  "when = always\n"
				  "timeout = 500ms\n"
				  "max_trees = 3\n"
				  "debug = yes\n"),
			 0);
	assert_int_equal(f->s.cap.n, 0);
	ASSERT_LIST(&f->c.commands, "tmux", "/opt/bin/screen");
	ASSERT_LIST(&f->c.users, "alice", "@wheel", "bob");
	assert_false(f->c.optin);
	ASSERT_LIST(&f->c.deny, "mallory", "@guests");
	assert_true(f->c.user_commands);
	assert_int_equal(f->c.max_age_usec, 12 * HOUR);
	assert_string_equal(f->c.slice, "user-%U.slice");
	assert_int_equal(f->c.when, KS_WHEN_ALWAYS);
	assert_int_equal(f->c.timeout_usec, 500 * 1000);
	assert_int_equal(f->c.max_trees, 3);
	assert_true(f->c.debug);

	/* and back */
	assert_int_equal(parse(f, "optin=yes\nuser_commands=no\nwhen=kill\nmax_age=0\n"
				  "users=*\ndeny=\n"),
			 0);
	assert_true(f->c.optin);
	assert_false(f->c.user_commands);
	assert_int_equal(f->c.when, KS_WHEN_KILL);
	assert_int_equal(f->c.max_age_usec, 0);
	ASSERT_LIST(&f->c.users, "*");
	assert_int_equal(f->c.deny.n, 0);
}

/* A bad value: one line naming the origin and the key; the old value stays. */
static void test_bad_values_keep_default(void **state)
{
	static const struct {
		const char *key, *value;
	} bad[] = {
		{ "optin", "maybe" },
		{ "user_commands", "2" },
		{ "debug", "" },
		{ "max_age", "soon" },
		{ "max_age", "-1h" },
		{ "timeout", "0" },
		{ "timeout", "61s" },
		{ "timeout", "infinity" },
		{ "timeout", "1x" },
		{ "when", "never" },
		{ "when", "KILL" },
		{ "slice", "user.scope" },
		{ "max_trees", "0" },
		{ "max_trees", "4097" },
		{ "max_trees", "-1" },
		{ "max_trees", "1x" },
		{ "max_trees", "99999999999" },
		{ "nosuchkey", "1" },
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char prefix[128];

		relog(f);
		assert_int_equal(
			ks_config_set(&f->c, bad[i].key, bad[i].value, "test.conf", 7, &f->s.log),
			1);
		assert_int_equal(f->s.cap.n, 1);
		assert_int_equal(f->s.cap.prio[0], LOG_ERR);
		snprintf(prefix, sizeof(prefix), "test.conf:7: %s: ", bad[i].key);
		assert_ptr_equal(strstr(f->s.cap.line[0], prefix), f->s.cap.line[0]);
	}
	relog(f);
	assert_true(f->c.optin);
	assert_false(f->c.user_commands);
	assert_false(f->c.debug);
	assert_int_equal(f->c.max_age_usec, 0);
	assert_int_equal(f->c.timeout_usec, KS_DEFAULT_TIMEOUT_USEC);
	assert_int_equal(f->c.when, KS_WHEN_KILL);
	assert_null(f->c.slice);
	assert_int_equal(f->c.max_trees, KS_DEFAULT_MAX_TREES);

	/* A module argument is named as such, without a line number. */
	assert_int_equal(
		ks_config_set(&f->c, "timeout", "forever", "module argument", 0, &f->s.log), 1);
	assert_int_equal(f->s.cap.n, 1);
	assert_string_equal(f->s.cap.line[0],
			    "module argument: timeout: not a time span (like 3s or 500ms)");
	relog(f);
}

static void test_timeout_bounds(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(parse(f, "timeout = 60s\n"), 0);
	assert_int_equal(f->c.timeout_usec, KS_MAX_TIMEOUT_USEC);
	assert_int_equal(parse(f, "timeout = 1us\n"), 0);
	assert_int_equal(f->c.timeout_usec, 1);
	assert_int_equal(parse(f, "timeout = 1min 1us\n"), 1);
	assert_int_equal(f->c.timeout_usec, 1);
	assert_int_equal(parse(f, "timeout = 1.5s\n"), 0);
	assert_int_equal(f->c.timeout_usec, 1500 * 1000);
	assert_int_equal(logcap_count(&f->s.cap, "test.conf:1: timeout: must be more than 0"), 1);
	relog(f);
}

static void test_max_trees_bounds(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(parse(f, "max_trees = 1\n"), 0);
	assert_int_equal(f->c.max_trees, 1);
	assert_int_equal(parse(f, "max_trees = 4096\n"), 0);
	assert_int_equal(f->c.max_trees, KS_MAX_MAX_TREES);
	assert_int_equal(parse(f, "max_trees = 0\n"), 1);
	assert_int_equal(f->c.max_trees, KS_MAX_MAX_TREES);
	assert_int_equal(
		logcap_count(&f->s.cap, "test.conf:1: max_trees: must be a number from 1 to 4096"),
		1);
	relog(f);
}

static void test_max_age(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(parse(f, "max_age = 7d\n"), 0);
	assert_int_equal(f->c.max_age_usec, 7 * DAY);
	assert_int_equal(parse(f, "max_age = infinity\n"), 0);
	assert_int_equal(f->c.max_age_usec, 0);
	assert_int_equal(parse(f, "max_age = 1h 30min\n"), 0);
	assert_int_equal(f->c.max_age_usec, 90 * MIN);
	assert_int_equal(parse(f, "max_age = 0\n"), 0);
	assert_int_equal(f->c.max_age_usec, 0);
	assert_int_equal(parse(f, "max_age = 1h\nmax_age = forever\n"), 1);
	assert_int_equal(f->c.max_age_usec, HOUR);
	assert_int_equal(parse(f, "max_age = 99999999999y\n"), 1);
	assert_int_equal(f->c.max_age_usec, HOUR);
	assert_int_equal(f->s.cap.n, 2);
	relog(f);
}

static void test_slice(void **state)
{
	static const char *const good[] = {
		"user-%U.slice", "keep.slice",        "a-b-%U.slice",
		"%U.slice",      "my_keep:x.y.slice", "user-%U-keep.slice",
	};
	static const char *const bad[] = {
		"keep",         ".slice",         "-.slice",    "a--b.slice",   "a-.slice",
		"-a.slice",     "%u.slice",       "a%.slice",   "a%%.slice",    "a b.slice",
		"a\\x2d.slice", "\xc3\xbc.slice", "keep.scope", "keep.slice.d", "a/b.slice",
	};
	struct fixture *f = *state;
	char long_name[300];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(ks_config_set(&f->c, "slice", good[i], "t", 1, &f->s.log), 0);
		assert_string_equal(f->c.slice, good[i]);
	}
	assert_int_equal(f->s.cap.n, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (ks_config_set(&f->c, "slice", bad[i], "t", 1, &f->s.log) != 1)
			fail_msg("slice \"%s\" accepted", bad[i]);
		assert_string_equal(f->c.slice, good[5]);
	}
	assert_int_equal(f->s.cap.n, sizeof(bad) / sizeof(bad[0]));
	relog(f);

	/* 255 bytes fit, 256 do not; "%U" counts as the longest uid. */
	memset(long_name, 'a', sizeof(long_name));
	strcpy(long_name + 249, ".slice");
	assert_int_equal(ks_config_set(&f->c, "slice", long_name, "t", 1, &f->s.log), 0);
	strcpy(long_name + 250, ".slice");
	assert_int_equal(ks_config_set(&f->c, "slice", long_name, "t", 1, &f->s.log), 1);
	memcpy(long_name + 240, "%U.slice", 9); /* 240 + 10 + 6 = 256 */
	assert_int_equal(ks_config_set(&f->c, "slice", long_name, "t", 1, &f->s.log), 1);
	memcpy(long_name + 239, "%U.slice", 9); /* 239 + 10 + 6 = 255 */
	assert_int_equal(ks_config_set(&f->c, "slice", long_name, "t", 1, &f->s.log), 0);
	assert_string_equal(f->c.slice, long_name);

	/* An empty value goes back to the default. */
	assert_int_equal(ks_config_set(&f->c, "slice", "", "t", 1, &f->s.log), 0);
	assert_null(f->c.slice);
	relog(f);
}

static void test_commands_entries(void **state)
{
	struct fixture *f = *state;

	/* Replaces the default list; bad entries are dropped one line each. */
	assert_int_equal(parse(f, "commands = tmux, a/b,,/usr/bin/screen . .. / /usr/ /a//b "
				  "/a/./b /a/../b tmux byobu,\n"),
			 10);
	ASSERT_LIST(&f->c.commands, "tmux", "/usr/bin/screen", "byobu");
	assert_int_equal(f->s.cap.n, 10);
	assert_int_equal(logcap_count(&f->s.cap, "test.conf:1: commands: entry 2 \"a/b\" dropped"),
			 1);
	assert_int_equal(logcap_count(&f->s.cap, "entry 3 dropped: empty entry"), 1);
	assert_int_equal(logcap_count(&f->s.cap, "entry 14 dropped: empty entry"), 1);
	assert_int_equal(logcap_count(&f->s.cap, "neither a base name nor an absolute path"), 8);
	relog(f);

	/* The exact limit of a program entry. */
	{
		char line[400] = "commands = ";
		size_t off = strlen(line);

		memset(line + off, 'x', 255);
		strcpy(line + off + 255, "\n");
		assert_int_equal(parse(f, line), 0);
		assert_int_equal(f->c.commands.n, 1);
		assert_int_equal(strlen(f->c.commands.v[0]), 255);
		memset(line + off, 'x', 256);
		strcpy(line + off + 256, "\n");
		assert_int_equal(parse(f, line), 1);
		assert_int_equal(f->c.commands.n, 0);
		relog(f);
	}

	/* A blank value is an empty list, not a problem. */
	assert_int_equal(parse(f, "commands =\n"), 0);
	assert_int_equal(f->c.commands.n, 0);
	/* Blank- and comma-separated, duplicates once. */
	assert_int_equal(parse(f, "commands = tmux screen\ttmux,dtach\n"), 0);
	ASSERT_LIST(&f->c.commands, "tmux", "screen", "dtach");
	/* Given twice: the last wins, no append. */
	assert_int_equal(parse(f, "commands = zellij\n"), 0);
	ASSERT_LIST(&f->c.commands, "zellij");
	assert_int_equal(f->s.cap.n, 0);
}

static void test_user_lists(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(parse(f, "users = alice, @wheel, *, @, bob\ndeny = @, eve\n"), 2);
	ASSERT_LIST(&f->c.users, "alice", "@wheel", "*", "bob");
	ASSERT_LIST(&f->c.deny, "eve");
	assert_int_equal(logcap_count(&f->s.cap, "test.conf:1: users: entry 4 \"@\" dropped"), 1);
	assert_int_equal(logcap_count(&f->s.cap, "test.conf:2: deny: entry 1 \"@\" dropped"), 1);
	relog(f);

	assert_int_equal(parse(f, "users = alice\nusers = bob\ndeny = x\ndeny = y, z\n"), 0);
	ASSERT_LIST(&f->c.users, "bob");
	ASSERT_LIST(&f->c.deny, "y", "z");
}

/* ---- file syntax ---- */

static void test_syntax(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(parse(f, "# a comment\n"
				  "\n"
				  "   \t\n"
				  "   # indented comment with = sign\n"
				  "timeout=5s\n"
				  "  when   =   always  \n"
				  "optin\t=\tno\r\n"
				  "user_commands = yes"),
			 0);
	assert_int_equal(f->s.cap.n, 0);
	assert_int_equal(f->c.timeout_usec, 5 * SEC);
	assert_int_equal(f->c.when, KS_WHEN_ALWAYS);
	assert_false(f->c.optin);        /* CRLF: the '\r' is not part of the value */
	assert_true(f->c.user_commands); /* last line without '\n' */
}

static void test_syntax_errors(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(parse(f, "timeout 5s\n"
				  "= 5s\n"
				  "nosuch = 1\n"
				  "conf = /etc/other\n"
				  "timeout = 7s\n"
				  "Timeout = 8s # keys are case-sensitive\n"),
			 5);
	assert_int_equal(f->c.timeout_usec, 7 * SEC);
	assert_int_equal(f->s.cap.n, 5);
	assert_string_equal(f->s.cap.line[0], "test.conf:1: expected \"key = value\"");
	assert_string_equal(f->s.cap.line[1], "test.conf:2: missing key before '='");
	assert_string_equal(f->s.cap.line[2], "test.conf:3: nosuch: unknown key");
	assert_string_equal(f->s.cap.line[3], "test.conf:4: conf: unknown key");
	assert_string_equal(f->s.cap.line[4], "test.conf:6: Timeout: unknown key");
	relog(f);
}

/* '#' starts a comment only at the start of a line. Where a value holds
 * what looks like a trailing comment, the whole setting is reported and
 * ignored, never half applied. */
static void test_hash_inside_value(void **state)
{
	static const char *const texts[] = {
		"when = always # comment\n", "commands = tmux # keep tmux\n",
		"commands = tmux,#screen\n", "users = #alice\n",
		"users = alice\t#bob\n",
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		relog(f);
		assert_int_equal(parse(f, texts[i]), 1);
		assert_int_equal(f->s.cap.n, 1);
		assert_non_null(strstr(f->s.cap.line[0], "'#' starts a comment only at the"));
	}
	relog(f);
	assert_int_equal(f->c.when, KS_WHEN_KILL);
	assert_int_equal(f->c.commands.n, 8);
	assert_int_equal(f->c.users.n, 0);

	/* Inside a name it is just a character. */
	assert_int_equal(parse(f, "commands = tmux#, scr#een\n"), 0);
	ASSERT_LIST(&f->c.commands, "tmux#", "scr#een");
}

static void test_long_lines_and_nul(void **state)
{
	struct fixture *f = *state;
	size_t n = 4096 + 200;
	char *text = malloc(n);
	size_t len;

	assert_non_null(text);
	/* A 4096-byte line is read; 4097 bytes are skipped; the next applies. */
	len = (size_t)sprintf(text, "timeout = %4086s\n", "4s");
	assert_int_equal(len, 4096 + 1);
	assert_int_equal(parse(f, text), 0);
	assert_int_equal(f->c.timeout_usec, 4 * SEC);
	len = (size_t)sprintf(text, "timeout = 3s%4085s\nwhen = always\n", "");
	assert_int_equal(ks_config_parse_text(&f->c, text, len, "test.conf", &f->s.log), 1);
	assert_int_equal(f->s.cap.n, 1);
	assert_string_equal(f->s.cap.line[0], "test.conf:1: line longer than 4096 bytes ignored");
	assert_int_equal(f->c.when, KS_WHEN_ALWAYS);
	relog(f);
	free(text);

	/* Text with a NUL (not from a file, where it refuses all): that line only. */
	{
		static const char nul[] = "timeout = 9s\0 garbage\nwhen = kill\n";

		assert_int_equal(ks_config_parse_text(&f->c, nul, sizeof(nul) - 1, "t", &f->s.log),
				 1);
		assert_int_equal(f->c.timeout_usec, 4 * SEC); /* the 9s line is out */
		assert_int_equal(f->c.when, KS_WHEN_KILL);
		assert_string_equal(f->s.cap.line[0], "t:1: line with a NUL byte ignored");
		relog(f);
	}
}

/* ---- the file ---- */

static void test_file_applies(void **state)
{
	struct fixture *f = *state;
	char *path = write_conf(f, "ok.conf", "timeout = 5s\nbogus = 1\nusers = alice\n", 0644);

	assert_int_equal(ks_config_parse_file(&f->c, path, getuid(), &f->s.log), 1);
	assert_int_equal(f->c.timeout_usec, 5 * SEC);
	ASSERT_LIST(&f->c.users, "alice");
	assert_int_equal(f->s.cap.n, 1);
	assert_non_null(strstr(f->s.cap.line[0], "ok.conf:2: bogus: unknown key"));
	relog(f);

	/* 0600 and 0444 are fine too. */
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(ks_config_parse_file(&f->c, path, getuid(), &f->s.log), 1);
	assert_int_equal(chmod(path, 0444), 0);
	assert_int_equal(ks_config_parse_file(&f->c, path, getuid(), &f->s.log), 1);
	relog(f);
	free(path);
}

static void test_file_missing(void **state)
{
	struct fixture *f = *state;
	char *path = scratch_path(f->s.dir, "absent.conf");

	assert_int_equal(ks_config_parse_file(&f->c, path, getuid(), &f->s.log), 0);
	assert_int_equal(f->s.cap.n, 0);
	free(path);
}

/* A refused file: one line, and nothing of it applies. */
static void assert_refused(struct fixture *f, const char *path, uid_t owner, const char *why)
{
	relog(f);
	assert_int_equal(ks_config_parse_file(&f->c, path, owner, &f->s.log), 1);
	assert_int_equal(f->s.cap.n, 1);
	assert_int_equal(f->s.cap.prio[0], LOG_ERR);
	if (!strstr(f->s.cap.line[0], why) || !strstr(f->s.cap.line[0], path))
		fail_msg("expected \"%s\" about %s, got \"%s\"", why, path, f->s.cap.line[0]);
	assert_int_equal(f->c.timeout_usec, KS_DEFAULT_TIMEOUT_USEC);
	assert_int_equal(f->c.users.n, 0);
	relog(f);
}

#define EVIL "timeout = 9s\nusers = *\n"

static void test_file_refused_mode(void **state)
{
	struct fixture *f = *state;
	char *path = write_conf(f, "mode.conf", EVIL, 0666);

	assert_refused(f, path, getuid(), "writable by group or others");
	assert_int_equal(chmod(path, 0664), 0);
	assert_refused(f, path, getuid(), "writable by group or others");
	assert_int_equal(chmod(path, 0642), 0);
	assert_refused(f, path, getuid(), "writable by group or others");
	free(path);
}

/* trusted_owner is not us: works as root and as a user. */
static void test_file_refused_owner(void **state)
{
	struct fixture *f = *state;
	char *path = write_conf(f, "owner.conf", EVIL, 0644);

	assert_refused(f, path, getuid() + 1, "not owned by the trusted owner");
	free(path);
}

static void test_file_refused_fifo(void **state)
{
	struct fixture *f = *state;
	char *path = scratch_path(f->s.dir, "fifo.conf");

	assert_int_equal(mkfifo(path, 0644), 0);
	hang_guard(10);
	assert_refused(f, path, getuid(), "not a regular file");
	alarm(0);
	free(path);
}

static void test_file_refused_special(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	assert_int_equal(stat("/dev/null", &st), 0);
	assert_refused(f, "/dev/null", st.st_uid, "not a regular file");
	assert_refused(f, f->s.dir, getuid(), "not a regular file");
}

static void test_file_symlinks(void **state)
{
	struct fixture *f = *state;
	char *target = write_conf(f, "target.conf", "timeout = 4s\n", 0644);
	char *link = scratch_path(f->s.dir, "link.conf");
	char *loop = scratch_path(f->s.dir, "loop.conf");

	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(ks_config_parse_file(&f->c, link, getuid(), &f->s.log), 0);
	assert_int_equal(f->c.timeout_usec, 4 * SEC);
	assert_int_equal(f->s.cap.n, 0);
	f->c.timeout_usec = KS_DEFAULT_TIMEOUT_USEC;

	assert_int_equal(symlink(loop, loop), 0);
	assert_refused(f, loop, getuid(), "cannot open");
	free(target);
	free(link);
	free(loop);
}

/* Comment lines up to size bytes, then optionally one setting. */
static char *filler(size_t size, const char *tail)
{
	size_t tail_len = strlen(tail);
	char *text = malloc(size + 1);

	assert_non_null(text);
	assert_true(size >= tail_len);
	memset(text, ' ', size - tail_len);
	for (size_t i = 0; i + 100 <= size - tail_len; i += 100) {
		text[i] = '#';
		text[i + 99] = '\n';
	}
	memcpy(text + size - tail_len, tail, tail_len);
	text[size] = '\0';
	return text;
}

static void test_file_size_limit(void **state)
{
	struct fixture *f = *state;
	char *text = filler(KS_CONFIG_MAX_SIZE, "\ntimeout = 6s\n");
	char *path = write_conf(f, "big.conf", text, 0644);

	assert_int_equal(ks_config_parse_file(&f->c, path, getuid(), &f->s.log), 0);
	assert_int_equal(f->c.timeout_usec, 6 * SEC);
	f->c.timeout_usec = KS_DEFAULT_TIMEOUT_USEC;
	free(path);
	free(text);

	text = filler(KS_CONFIG_MAX_SIZE + 1, "\ntimeout = 6s\n");
	path = write_conf(f, "bigger.conf", text, 0644);
	assert_refused(f, path, getuid(), "larger than the size limit");
	free(path);
	free(text);
}

static void test_file_nul_refused(void **state)
{
	struct fixture *f = *state;
	static const char text[] = "timeout = 9s\nusers = *\n# \0\n";
	char *path = scratch_write(f->s.dir, "nul.conf", text, sizeof(text) - 1, 0644);

	assert_non_null(path);
	assert_refused(f, path, getuid(), "contains a NUL byte");
	free(path);
}

static void test_file_crlf(void **state)
{
	struct fixture *f = *state;
	char *path = write_conf(f, "crlf.conf",
				"# dos\r\n\r\ncommands = tmux, screen\r\ntimeout = 2s\r\n", 0644);

	assert_int_equal(ks_config_parse_file(&f->c, path, getuid(), &f->s.log), 0);
	ASSERT_LIST(&f->c.commands, "tmux", "screen");
	assert_int_equal(f->c.timeout_usec, 2 * SEC);
	free(path);
}

/* ---- the whole load ---- */

static int load(struct fixture *f, const char **argv, int argc)
{
	return ks_config_load(&f->c, argc, argv, getuid(), &f->s.log);
}

static void test_load_args_override_file(void **state)
{
	struct fixture *f = *state;
	char *path = write_conf(f, "load.conf",
				"timeout = 5s\nusers = alice\nwhen = always\ndebug = no\n"
				"commands = tmux\n",
				0644);
	char *conf;
	const char *argv[6];

	assert_true(asprintf(&conf, "conf=%s", path) > 0);
	argv[0] = conf;
	argv[1] = "users=bob,@staff";
	argv[2] = "timeout=10s";
	argv[3] = "debug";
	argv[4] = "commands=screen,dtach";
	argv[5] = "max_age=1d";
	assert_int_equal(load(f, argv, 6), 0);
	assert_int_equal(f->s.cap.n, 0);
	assert_string_equal(f->c.conf_path, path);
	ASSERT_LIST(&f->c.users, "bob", "@staff");
	assert_int_equal(f->c.timeout_usec, 10 * SEC);
	assert_int_equal(f->c.when, KS_WHEN_ALWAYS); /* from the file */
	assert_true(f->c.debug);                     /* the argument wins over the file */
	ASSERT_LIST(&f->c.commands, "screen", "dtach");
	assert_int_equal(f->c.max_age_usec, DAY);
	free(conf);
	free(path);
}

static void test_load_debug_forms(void **state)
{
	struct fixture *f = *state;
	const char *argv[3] = { f->noconf, "debug", "debug=no" };

	/* In order: the last one wins. */
	assert_int_equal(load(f, argv, 3), 0);
	assert_false(f->c.debug);
	argv[1] = "debug=no";
	argv[2] = "debug";
	assert_int_equal(load(f, argv, 3), 0);
	assert_true(f->c.debug);
	argv[1] = "debug=off";
	assert_int_equal(load(f, argv, 2), 0);
	assert_false(f->c.debug);
	argv[1] = "debug=yes";
	assert_int_equal(load(f, argv, 2), 0);
	assert_true(f->c.debug);
	argv[1] = "debug=perhaps";
	f->c.debug = false;
	assert_int_equal(load(f, argv, 2), 1);
	assert_false(f->c.debug);
	assert_int_equal(f->s.cap.n, 1);
	assert_string_equal(f->s.cap.line[0], "module argument: debug: not a boolean (yes or no)");
	relog(f);
}

static void test_load_missing_conf(void **state)
{
	struct fixture *f = *state;
	const char *argv[] = { f->noconf };

	assert_int_equal(load(f, argv, 1), 0);
	assert_int_equal(f->s.cap.n, 0);
	assert_int_equal(f->c.commands.n, 8);
	assert_int_equal(f->c.timeout_usec, KS_DEFAULT_TIMEOUT_USEC);
	assert_string_equal(f->c.conf_path, f->noconf + 5);
}

/* Unknown and bad arguments: one line each, the rest applies. */
static void test_load_bad_args(void **state)
{
	struct fixture *f = *state;
	const char *argv[] = {
		f->noconf,     "nodebug",     "colour=blue",
		"timeout=abc", "when=always", "commands=tmux,../x",
		"=5",          NULL,
	};

	assert_int_equal(load(f, argv, 8), 5);
	assert_int_equal(f->s.cap.n, 5);
	assert_string_equal(f->s.cap.line[0], "module argument: nodebug: unknown option");
	assert_string_equal(f->s.cap.line[1], "module argument: colour: unknown key");
	assert_string_equal(f->s.cap.line[2],
			    "module argument: timeout: not a time span (like 3s or 500ms)");
	assert_string_equal(f->s.cap.line[3],
			    "module argument: commands: entry 2 \"../x\" dropped: "
			    "neither a base name nor an absolute path");
	assert_string_equal(f->s.cap.line[4], "module argument: : unknown key");
	assert_int_equal(f->c.when, KS_WHEN_ALWAYS);
	ASSERT_LIST(&f->c.commands, "tmux");
	assert_int_equal(f->c.timeout_usec, KS_DEFAULT_TIMEOUT_USEC);
	relog(f);
}

static void test_load_conf_not_absolute(void **state)
{
	struct fixture *f = *state;
	const char *argv[] = { "conf=relative.conf", "conf=" };

	/* The default file is read instead; whatever it holds on this host,
	 * both arguments are reported. */
	assert_true(load(f, argv, 2) >= 2);
	assert_int_equal(logcap_count(&f->s.cap, "module argument: conf: not an absolute path"), 2);
	assert_null(f->c.conf_path);
	relog(f);
}

/* A refused file changes nothing, the arguments still apply. */
static void test_load_refused_file(void **state)
{
	struct fixture *f = *state;
	char *path = write_conf(f, "open.conf", EVIL, 0666);
	char *conf;
	const char *argv[2];

	assert_true(asprintf(&conf, "conf=%s", path) > 0);
	argv[0] = conf;
	argv[1] = "deny=eve";
	assert_int_equal(load(f, argv, 2), 1);
	assert_int_equal(f->s.cap.n, 1);
	assert_non_null(strstr(f->s.cap.line[0], "writable by group or others"));
	assert_int_equal(f->c.timeout_usec, KS_DEFAULT_TIMEOUT_USEC);
	assert_int_equal(f->c.users.n, 0);
	ASSERT_LIST(&f->c.deny, "eve");
	relog(f);
	free(conf);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timespan_table),
		cmocka_unit_test(test_bool_table),
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_defaults),
		T(test_every_key),
		T(test_bad_values_keep_default),
		T(test_timeout_bounds),
		T(test_max_trees_bounds),
		T(test_max_age),
		T(test_slice),
		T(test_commands_entries),
		T(test_user_lists),
		T(test_syntax),
		T(test_syntax_errors),
		T(test_hash_inside_value),
		T(test_long_lines_and_nul),
		T(test_file_applies),
		T(test_file_missing),
		T(test_file_refused_mode),
		T(test_file_refused_owner),
		T(test_file_refused_fifo),
		T(test_file_refused_special),
		T(test_file_symlinks),
		T(test_file_size_limit),
		T(test_file_nul_refused),
		T(test_file_crlf),
		T(test_load_args_override_file),
		T(test_load_debug_forms),
		T(test_load_missing_conf),
		T(test_load_bad_args),
		T(test_load_conf_not_absolute),
		T(test_load_refused_file),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
