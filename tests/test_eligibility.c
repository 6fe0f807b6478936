/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one decision: the name as the password database spells it, the
 * admin's lists on that name, then the opt-in file read as that user.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <strings.h>

#include <cmocka.h>

#include "ks_eligibility.h"
#include "logcap.h"

/* A case-insensitive NSS (SSSD, winbind): any spelling finds the entry,
 * whose pw_name is the canonical one. */
static const struct ks_user passwd[] = {
	{ .name = "alice", .uid = 1000, .gid = 1000, .home = "/home/alice" },
	{ .name = "bob", .uid = 1001, .gid = 1001, .home = "/home/bob" },
	{ .name = "nohome", .uid = 1002, .gid = 1002, .home = "" },
};

struct world {
	int lookup_error; /* returned by the lookup for "broken" */
	unsigned reads;
	char read_user[32], read_path[64];
	uid_t read_uid;
	enum ks_optin_status optin;
	const char *lines; /* what the file says, comma-separated */
};

static int fake_lookup(void *ctx, const char *name, struct ks_user *u)
{
	const struct world *w = ctx;

	if (strcmp(name, "broken") == 0)
		return w->lookup_error;
	for (size_t i = 0; i < sizeof(passwd) / sizeof(passwd[0]); i++)
		if (strcasecmp(passwd[i].name, name) == 0) {
			*u = passwd[i];
			return 0;
		}
	return -ENOENT;
}

/* wheel: bob only; ghost: cannot be looked up. Compared exactly, on the
 * name the lookup gave. */
static enum ks_membership fake_in_group(void *ctx, const struct ks_user *u, const char *group)
{
	(void)ctx;
	if (strcmp(group, "ghost") == 0)
		return KS_MEMBER_UNKNOWN;
	if (strcmp(group, "wheel") == 0 && strcmp(u->name, "bob") == 0)
		return KS_MEMBER_YES;
	return KS_MEMBER_NO;
}

static enum ks_optin_status fake_read(void *ctx, const struct ks_user *u, const char *path,
				      struct ks_strlist *lines, const struct ks_log *log)
{
	struct world *w = ctx;

	(void)log;
	w->reads++;
	(void)snprintf(w->read_user, sizeof(w->read_user), "%s", u->name);
	(void)snprintf(w->read_path, sizeof(w->read_path), "%s", path);
	w->read_uid = u->uid;
	ks_strlist_clear(lines);
	if (w->optin == KS_OPTIN_OK && w->lines)
		assert_int_equal(ks_strlist_add_split(lines, w->lines), 0);
	return w->optin;
}

struct fixture {
	struct ks_config c;
	struct world w;
	struct ks_eligibility_io io;
	struct ks_user u;
	struct ks_strlist programs;
	struct logcap cap;
	struct ks_log log;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || ks_config_init(&f->c) < 0) {
		free(f);
		return -1;
	}
	f->io = (struct ks_eligibility_io){
		.lookup_user = fake_lookup,
		.in_group = fake_in_group,
		.ctx = &f->w,
		.read_optin = fake_read,
		.optin_ctx = &f->w,
	};
	f->w.optin = KS_OPTIN_ABSENT;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->cap.n > 0)
		logcap_dump(&f->cap);
	ks_strlist_clear(&f->programs);
	ks_config_free(&f->c);
	free(f);
	return 0;
}

static void set(struct ks_strlist *l, const char *value)
{
	ks_strlist_clear(l);
	if (value)
		assert_int_equal(ks_strlist_add_split(l, value), 0);
}

static bool eligible(struct fixture *f, const char *name)
{
	f->log = logcap_log(&f->cap);
	f->log.debug = false; /* the debug "not kept" line is not counted */
	f->w.reads = 0;
	return ks_eligible(&f->c, name, &f->io, &f->u, &f->programs, &f->log);
}

/* ALICE is alice: `deny = alice` holds whatever the spelling at login. */
static void test_canonical_name_denied(void **state)
{
	struct fixture *f = *state;

	set(&f->c.users, "*");
	set(&f->c.deny, "alice");
	assert_false(eligible(f, "ALICE"));
	assert_string_equal(f->u.name, "alice");
	assert_int_equal(f->programs.n, 0);
	assert_int_equal(f->w.reads, 0);
	assert_false(eligible(f, "Alice"));
	assert_true(eligible(f, "BOB"));
	assert_string_equal(f->u.name, "bob");
	assert_int_equal(f->cap.n, 0);
}

/* users = alice lists ALICE too; the caller gets the canonical entry to
 * pass on (logind's KillOnlyUsers/KillExcludeUsers, unit names), and the
 * opt-in file is read as that user. */
static void test_canonical_name_listed(void **state)
{
	struct fixture *f = *state;

	set(&f->c.users, "alice");
	f->c.optin = false;
	f->w.optin = KS_OPTIN_OK;
	f->w.lines = "screen";
	assert_true(eligible(f, "ALICE"));
	assert_string_equal(f->u.name, "alice");
	assert_int_equal(f->u.uid, 1000);
	assert_int_equal(f->w.reads, 1);
	assert_string_equal(f->w.read_user, "alice");
	assert_int_equal(f->w.read_uid, 1000);
	assert_string_equal(f->w.read_path, "/home/alice/.keepsession");
	assert_int_equal(f->programs.n, 1);
	assert_string_equal(f->programs.v[0], "screen");
	assert_int_equal(f->cap.n, 0);

	/* Groups are asked with the canonical name as well. */
	set(&f->c.users, "@wheel");
	assert_true(eligible(f, "Bob"));
	assert_string_equal(f->u.name, "bob");
}

static void test_lookup_fails(void **state)
{
	struct fixture *f = *state;

	set(&f->c.users, "*");
	assert_false(eligible(f, "mallory"));
	assert_int_equal(f->cap.n, 1);
	assert_int_equal(f->cap.prio[0], LOG_ERR);
	assert_string_equal(f->cap.line[0], "cannot look up user mallory: no such user");

	f->w.lookup_error = -EIO;
	assert_false(eligible(f, "broken"));
	assert_int_equal(f->cap.n, 1);
	assert_string_equal(f->cap.line[0], "cannot look up user broken: Input/output error");
	assert_int_equal(f->w.reads, 0);
	assert_int_equal(f->programs.n, 0);
	f->log = logcap_log(&f->cap);
}

/* A deny group that cannot be looked up denies (one line); a users group
 * that cannot is no membership (one line), the opt-in still counts. */
static void test_unknown_group(void **state)
{
	struct fixture *f = *state;

	set(&f->c.users, "*");
	set(&f->c.deny, "@ghost");
	assert_false(eligible(f, "alice"));
	assert_int_equal(f->cap.n, 1);
	assert_string_equal(f->cap.line[0],
			    "deny = @ghost: cannot look up the group; alice is treated as denied");
	assert_int_equal(f->w.reads, 0);

	set(&f->c.deny, NULL);
	set(&f->c.users, "@ghost");
	f->c.optin = true;
	assert_false(eligible(f, "alice")); /* no opt-in file */
	assert_int_equal(f->cap.n, 1);
	assert_int_equal(f->w.reads, 1);
	f->w.optin = KS_OPTIN_OK;
	assert_true(eligible(f, "alice"));
	assert_int_equal(f->cap.n, 1);
	assert_non_null(strstr(f->cap.line[0], "alice is treated as not a member"));
	f->log = logcap_log(&f->cap);
}

/* A file whose lines are all invalid keeps nothing, even for a user the
 * admin lists (who would be kept with no file at all). */
static void test_none_valid_keeps_nothing(void **state)
{
	struct fixture *f = *state;

	set(&f->c.users, "alice");
	f->w.optin = KS_OPTIN_ABSENT;
	assert_true(eligible(f, "alice"));
	f->w.optin = KS_OPTIN_NONE_VALID;
	assert_false(eligible(f, "alice"));
	assert_int_equal(f->w.reads, 1);
	assert_int_equal(f->programs.n, 0);
}

static void test_no_usable_home(void **state)
{
	struct fixture *f = *state;

	f->c.optin = true;
	f->w.optin = KS_OPTIN_OK;
	assert_false(eligible(f, "nohome"));
	assert_int_equal(f->w.reads, 0);
	assert_int_equal(f->cap.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_canonical_name_denied),
		T(test_canonical_name_listed),
		T(test_lookup_fails),
		T(test_unknown_group),
		T(test_none_valid_keeps_nothing),
		T(test_no_usable_home),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
