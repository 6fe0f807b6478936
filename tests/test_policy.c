/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ks_policy.h"
#include "logcap.h"

/* The group database of these tests. */
static const struct {
	const char *user, *group;
} members[] = {
	{ "bob", "wheel" },  { "carol", "guests" }, { "mallory", "wheel" },
	{ "erin", "staff" }, { "erin", "wheel" },   { "alice", "alice-grp" },
};

struct groups {
	unsigned calls;
	char last_group[64];
};

/* Groups the database does not answer for (no such group, NSS down). */
static const char *const unknown_groups[] = { "ghost", "ldap-down" };

static enum ks_membership fake_in_group(void *ctx, const struct ks_user *u, const char *group)
{
	struct groups *g = ctx;

	g->calls++;
	(void)snprintf(g->last_group, sizeof(g->last_group), "%s", group);
	for (size_t i = 0; i < sizeof(unknown_groups) / sizeof(unknown_groups[0]); i++)
		if (strcmp(unknown_groups[i], group) == 0)
			return KS_MEMBER_UNKNOWN;
	for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++)
		if (strcmp(members[i].user, u->name) == 0 && strcmp(members[i].group, group) == 0)
			return KS_MEMBER_YES;
	return KS_MEMBER_NO;
}

static enum ks_membership matches(const struct ks_strlist *l, const char *user,
				  ks_in_group_fn in_group, void *ctx)
{
	const struct ks_user u = { .name = user, .uid = 1000, .gid = 1000 };
	const char *unknown = "stale";
	enum ks_membership m = ks_policy_list_matches(l, &u, in_group, ctx, &unknown);

	/* The unknown group is named exactly when the answer is unknown. */
	assert_true((m == KS_MEMBER_UNKNOWN) == (unknown != NULL));
	return m;
}

static void list_set(struct ks_strlist *l, const char *value)
{
	ks_strlist_clear(l);
	if (value)
		assert_int_equal(ks_strlist_add_split(l, value), 0);
}

/* "a,b" for a list, "" for an empty one. */
static void assert_list_is(const struct ks_strlist *l, const char *want)
{
	char got[256] = "";

	for (size_t i = 0; i < l->n; i++) {
		if (i > 0)
			strcat(got, ",");
		strcat(got, l->v[i]);
	}
	assert_string_equal(got, want);
}

static void test_list_matches(void **state)
{
	struct ks_strlist l = { 0 };
	struct groups g = { 0 };
	(void)state;

	assert_int_equal(matches(&l, "alice", fake_in_group, &g), KS_MEMBER_NO);
	list_set(&l, "alice,@wheel");
	assert_int_equal(matches(&l, "alice", fake_in_group, &g), KS_MEMBER_YES);
	assert_int_equal(matches(&l, "bob", fake_in_group, &g), KS_MEMBER_YES);
	assert_string_equal(g.last_group, "wheel"); /* asked without the '@' */
	assert_int_equal(matches(&l, "carol", fake_in_group, &g), KS_MEMBER_NO);
	assert_int_equal(matches(&l, "alic", fake_in_group, &g), KS_MEMBER_NO);
	assert_int_equal(matches(&l, "alicex", fake_in_group, &g), KS_MEMBER_NO);
	assert_int_equal(matches(&l, "Alice", fake_in_group, &g), KS_MEMBER_NO);
	/* "@wheel" is a group, not a user named so */
	assert_int_equal(matches(&l, "@wheel", fake_in_group, &g), KS_MEMBER_NO);
	/* without a group lookup, no group can be known */
	assert_int_equal(matches(&l, "bob", NULL, NULL), KS_MEMBER_UNKNOWN);
	assert_int_equal(matches(&l, "alice", NULL, NULL), KS_MEMBER_YES);

	list_set(&l, "*");
	assert_int_equal(matches(&l, "anyone", fake_in_group, &g), KS_MEMBER_YES);
	assert_int_equal(matches(&l, "root", NULL, NULL), KS_MEMBER_YES);

	/* a bare "@" names no group and is never looked up */
	list_set(&l, "@");
	g.calls = 0;
	assert_int_equal(matches(&l, "bob", fake_in_group, &g), KS_MEMBER_NO);
	assert_int_equal(g.calls, 0);

	/* a group that cannot be looked up: unknown, unless something else
	 * matches, before or after it */
	list_set(&l, "@ghost,@staff");
	assert_int_equal(matches(&l, "bob", fake_in_group, &g), KS_MEMBER_UNKNOWN);
	assert_int_equal(matches(&l, "erin", fake_in_group, &g), KS_MEMBER_YES);
	list_set(&l, "@ghost,@ldap-down,bob");
	assert_int_equal(matches(&l, "bob", fake_in_group, &g), KS_MEMBER_YES);
	{
		const struct ks_user carol = { .name = "carol" };
		const char *unknown = NULL;

		assert_int_equal(ks_policy_list_matches(&l, &carol, fake_in_group, &g, &unknown),
				 KS_MEMBER_UNKNOWN);
		assert_string_equal(unknown, "ghost"); /* the first one */
	}
	ks_strlist_clear(&l);
}

static void test_who_matrix(void **state)
{
	static const struct {
		const char *users, *deny;
		bool optin;
		const char *user;
		enum ks_who who;
	} cases[] = {
		{ "alice,@wheel", "mallory,@guests", true, "alice", KS_WHO_LISTED },
		{ "alice,@wheel", "mallory,@guests", true, "bob", KS_WHO_LISTED },
		{ "alice,@wheel", "mallory,@guests", true, "erin", KS_WHO_LISTED },
		{ "alice,@wheel", "mallory,@guests", true, "mallory", KS_WHO_DENIED },
		{ "alice,@wheel", "mallory,@guests", true, "carol", KS_WHO_DENIED },
		{ "alice,@wheel", "mallory,@guests", true, "dave", KS_WHO_MAY_OPT_IN },
		{ "alice,@wheel", "mallory,@guests", false, "dave", KS_WHO_NOT_ALLOWED },
		{ "alice,@wheel", "mallory,@guests", false, "bob", KS_WHO_LISTED },
		{ "alice,@wheel", "mallory,@guests", false, "carol", KS_WHO_DENIED },
		/* deny wins over a listed name and over "*" */
		{ "carol", "@guests", true, "carol", KS_WHO_DENIED },
		{ "*", "@staff", true, "erin", KS_WHO_DENIED },
		{ "*", "@staff", true, "bob", KS_WHO_LISTED },
		{ "*", NULL, false, "anyone", KS_WHO_LISTED },
		{ "alice", "*", true, "alice", KS_WHO_DENIED },
		{ "*", "*", true, "root", KS_WHO_DENIED },
		{ NULL, "*", true, "dave", KS_WHO_DENIED },
		/* no lists at all: the optin key alone */
		{ NULL, NULL, true, "dave", KS_WHO_MAY_OPT_IN },
		{ NULL, NULL, false, "dave", KS_WHO_NOT_ALLOWED },
		{ "@alice-grp", NULL, false, "alice", KS_WHO_LISTED },
		/* a group that cannot be looked up: denies in deny, does not
		 * list in users */
		{ "*", "@ghost", true, "bob", KS_WHO_DENIED },
		{ "*", "mallory,@ldap-down", false, "bob", KS_WHO_DENIED },
		{ "@ghost", NULL, true, "bob", KS_WHO_MAY_OPT_IN },
		{ "@ghost", NULL, false, "bob", KS_WHO_NOT_ALLOWED },
		{ "@ghost,bob", NULL, false, "bob", KS_WHO_LISTED },
		{ "@ghost,@wheel", NULL, false, "bob", KS_WHO_LISTED },
		{ "@ghost,*", NULL, false, "bob", KS_WHO_LISTED },
	};
	struct ks_config c;
	struct groups g = { 0 };
	size_t n_anyone = 0;
	(void)state;

	assert_int_equal(ks_config_init(&c), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum ks_who who, any;
		const struct ks_user u = { .name = cases[i].user, .uid = 1000, .gid = 1000 };

		list_set(&c.users, cases[i].users);
		list_set(&c.deny, cases[i].deny);
		c.optin = cases[i].optin;
		who = ks_policy_who(&c, &u, fake_in_group, &g, NULL);
		if (who != cases[i].who)
			fail_msg("case %zu (%s): got %d, want %d", i, cases[i].user, who,
				 cases[i].who);
		/* Where the lists cannot tell users apart, the answer without
		 * a user is the answer for this one. */
		if (ks_policy_who_of_anyone(&c, &any)) {
			n_anyone++;
			if (any != who)
				fail_msg("case %zu (%s): anyone %d, user %d", i, cases[i].user, any,
					 who);
		}
	}
	/* users = * (twice, one after a group nobody can look up) and no
	 * lists (twice): the other cases name or deny someone. */
	assert_int_equal(n_anyone, 4);
	ks_config_free(&c);
}

/* A group lookup that fails is one line, in either list, naming it. */
static void test_who_unknown_group_logged(void **state)
{
	const struct ks_user bob = { .name = "bob", .uid = 1000, .gid = 1000 };
	struct groups g = { 0 };
	struct ks_config c;
	struct logcap cap;
	struct ks_log log = logcap_log(&cap);
	(void)state;

	assert_int_equal(ks_config_init(&c), 0);
	list_set(&c.users, "*");
	list_set(&c.deny, "@ghost,@ldap-down");
	assert_int_equal(ks_policy_who(&c, &bob, fake_in_group, &g, &log), KS_WHO_DENIED);
	assert_int_equal(cap.n, 1);
	assert_int_equal(cap.prio[0], LOG_WARNING);
	assert_string_equal(cap.line[0],
			    "deny = @ghost: cannot look up the group; bob is treated as denied");

	log = logcap_log(&cap);
	list_set(&c.users, "@ghost,@ldap-down");
	list_set(&c.deny, NULL);
	assert_int_equal(ks_policy_who(&c, &bob, fake_in_group, &g, &log), KS_WHO_MAY_OPT_IN);
	assert_int_equal(cap.n, 1);
	assert_string_equal(
		cap.line[0],
		"users = @ghost: cannot look up the group; bob is treated as not a member");

	/* Known groups: nothing to say. */
	log = logcap_log(&cap);
	list_set(&c.users, "@wheel");
	list_set(&c.deny, "@guests");
	assert_int_equal(ks_policy_who(&c, &bob, fake_in_group, &g, &log), KS_WHO_LISTED);
	assert_int_equal(cap.n, 0);
	ks_config_free(&c);
}

/* Primary group or member list; no group at all is unknown. */
static void test_membership(void **state)
{
	char alice_name[] = "alice", bob_name[] = "bob", wheel[] = "wheel";
	char *mem[] = { alice_name, bob_name, NULL };
	char *none[] = { NULL };
	struct group gr = { .gr_name = wheel, .gr_gid = 10, .gr_mem = mem };
	const struct ks_user alice = { .name = "alice", .uid = 1000, .gid = 1000 };
	const struct ks_user carol = { .name = "carol", .uid = 1002, .gid = 10 };
	const struct ks_user dave = { .name = "dave", .uid = 1003, .gid = 1003 };
	const struct ks_user upper = { .name = "ALICE", .uid = 1000, .gid = 1000 };
	(void)state;

	assert_int_equal(ks_policy_membership(&gr, &alice), KS_MEMBER_YES);
	assert_int_equal(ks_policy_membership(&gr, &carol), KS_MEMBER_YES); /* primary */
	assert_int_equal(ks_policy_membership(&gr, &dave), KS_MEMBER_NO);
	assert_int_equal(ks_policy_membership(&gr, &upper), KS_MEMBER_NO);
	assert_int_equal(ks_policy_membership(NULL, &alice), KS_MEMBER_UNKNOWN);
	gr.gr_mem = none;
	assert_int_equal(ks_policy_membership(&gr, &alice), KS_MEMBER_NO);
	gr.gr_mem = NULL;
	assert_int_equal(ks_policy_membership(&gr, &alice), KS_MEMBER_NO);
}

#define ADMIN "tmux,screen,dtach"

static void test_decide_matrix(void **state)
{
	static const struct {
		enum ks_who who;
		enum ks_optin_status optin;
		const char *lines; /* NULL: no list passed at all */
		bool user_commands;
		bool keep;
		const char *programs;
	} cases[] = {
		/* never kept */
		{ KS_WHO_DENIED, KS_OPTIN_OK, "tmux", false, false, "" },
		{ KS_WHO_DENIED, KS_OPTIN_OK, "", true, false, "" },
		{ KS_WHO_DENIED, KS_OPTIN_ABSENT, NULL, false, false, "" },
		{ KS_WHO_NOT_ALLOWED, KS_OPTIN_OK, "tmux", false, false, "" },
		{ KS_WHO_NOT_ALLOWED, KS_OPTIN_ABSENT, NULL, true, false, "" },
		/* may opt in: only with a usable file */
		{ KS_WHO_MAY_OPT_IN, KS_OPTIN_ABSENT, NULL, false, false, "" },
		{ KS_WHO_MAY_OPT_IN, KS_OPTIN_REFUSED, "", false, false, "" },
		{ KS_WHO_MAY_OPT_IN, KS_OPTIN_OK, "", false, true, ADMIN },
		{ KS_WHO_MAY_OPT_IN, KS_OPTIN_OK, NULL, false, true, ADMIN },
		/* narrowing: the user's order, only what the admin lists */
		{ KS_WHO_MAY_OPT_IN, KS_OPTIN_OK, "screen,tmux", false, true, "screen,tmux" },
		{ KS_WHO_MAY_OPT_IN, KS_OPTIN_OK, "screen,zellij,tmux,screen", false, true,
		  "screen,tmux" },
		{ KS_WHO_MAY_OPT_IN, KS_OPTIN_OK, "zellij", false, false, "" },
		/* entries compare as they are: a path is not the base name */
		{ KS_WHO_MAY_OPT_IN, KS_OPTIN_OK, "/usr/bin/tmux", false, false, "" },
		/* user_commands = yes: the user's lines as they are */
		{ KS_WHO_MAY_OPT_IN, KS_OPTIN_OK, "zellij,/opt/x", true, true, "zellij,/opt/x" },
		{ KS_WHO_MAY_OPT_IN, KS_OPTIN_OK, "", true, true, ADMIN },
		{ KS_WHO_MAY_OPT_IN, KS_OPTIN_REFUSED, NULL, true, false, "" },
		/* listed: kept whatever the file, which may only narrow */
		{ KS_WHO_LISTED, KS_OPTIN_ABSENT, NULL, false, true, ADMIN },
		{ KS_WHO_LISTED, KS_OPTIN_REFUSED, NULL, false, true, ADMIN },
		{ KS_WHO_LISTED, KS_OPTIN_REFUSED, "zellij", true, true, ADMIN },
		{ KS_WHO_LISTED, KS_OPTIN_ABSENT, "zellij", true, true, ADMIN },
		{ KS_WHO_LISTED, KS_OPTIN_OK, "", false, true, ADMIN },
		{ KS_WHO_LISTED, KS_OPTIN_OK, "dtach", false, true, "dtach" },
		{ KS_WHO_LISTED, KS_OPTIN_OK, "zellij", false, false, "" },
		{ KS_WHO_LISTED, KS_OPTIN_OK, "zellij", true, true, "zellij" },
		/* a file with lines, none valid: nothing, whoever, however */
		{ KS_WHO_LISTED, KS_OPTIN_NONE_VALID, "", false, false, "" },
		{ KS_WHO_LISTED, KS_OPTIN_NONE_VALID, "", true, false, "" },
		{ KS_WHO_MAY_OPT_IN, KS_OPTIN_NONE_VALID, "", false, false, "" },
		{ KS_WHO_MAY_OPT_IN, KS_OPTIN_NONE_VALID, NULL, true, false, "" },
	};
	struct ks_config c;
	struct ks_strlist lines = { 0 }, programs = { 0 };
	(void)state;

	assert_int_equal(ks_config_init(&c), 0);
	list_set(&c.commands, ADMIN);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool keep;

		list_set(&lines, cases[i].lines);
		list_set(&programs, "stale");
		c.user_commands = cases[i].user_commands;
		keep = ks_policy_decide(&c, cases[i].who, cases[i].optin,
					cases[i].lines ? &lines : NULL, &programs) == 1;
		if (keep != cases[i].keep)
			fail_msg("case %zu: keep %d", i, keep);
		if (keep)
			assert_list_is(&programs, cases[i].programs);
		else
			assert_int_equal(programs.n, 0);
	}
	/* The admin's list is never changed by a decision. */
	assert_list_is(&c.commands, ADMIN);

	/* No admin commands: nothing to keep, for anyone. */
	list_set(&c.commands, NULL);
	c.user_commands = false;
	assert_int_equal(ks_policy_decide(&c, KS_WHO_LISTED, KS_OPTIN_ABSENT, NULL, &programs), 0);
	list_set(&lines, "tmux");
	assert_int_equal(ks_policy_decide(&c, KS_WHO_MAY_OPT_IN, KS_OPTIN_OK, &lines, &programs),
			 0);
	c.user_commands = true;
	assert_int_equal(ks_policy_decide(&c, KS_WHO_MAY_OPT_IN, KS_OPTIN_OK, &lines, &programs),
			 1);
	assert_list_is(&programs, "tmux");

	ks_strlist_clear(&lines);
	ks_strlist_clear(&programs);
	ks_config_free(&c);
}

/* logind's manager_shall_kill(), case by case. */
static void test_logind_kills(void **state)
{
	static const struct {
		const char *user;
		bool kill_user_processes;
		const char *only, *exclude; /* NULL: empty */
		bool kills;
	} cases[] = {
		{ "alice", true, NULL, NULL, true },
		{ "alice", false, NULL, NULL, false },
		/* an empty exclude list still spares root */
		{ "root", true, NULL, NULL, false },
		{ "root", false, "root", NULL, false },
		/* a non-empty one replaces "root" */
		{ "root", true, NULL, "alice", true },
		{ "root", false, "root", "bob", true },
		{ "alice", true, NULL, "alice", false },
		{ "alice", true, NULL, "bob,alice", false },
		{ "bob", true, NULL, "alice", true },
		/* only decides alone, whatever KillUserProcesses says */
		{ "alice", true, "bob", NULL, false },
		{ "alice", false, "alice", NULL, true },
		{ "bob", false, "alice,bob", "root", true },
		{ "carol", true, "alice,bob", "root", false },
		/* exclude wins over only */
		{ "alice", true, "alice", "alice", false },
		{ "alice", false, "alice", "root,alice", false },
	};
	struct ks_strlist only = { 0 }, exclude = { 0 };
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		list_set(&only, cases[i].only);
		list_set(&exclude, cases[i].exclude);
		if (ks_policy_logind_kills(cases[i].user, cases[i].kill_user_processes, &only,
					   &exclude) != cases[i].kills)
			fail_msg("case %zu (%s) wrong", i, cases[i].user);
	}
	/* NULL lists are empty lists */
	assert_true(ks_policy_logind_kills("alice", true, NULL, NULL));
	assert_false(ks_policy_logind_kills("root", true, NULL, NULL));
	ks_strlist_clear(&only);
	ks_strlist_clear(&exclude);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_matches),
		cmocka_unit_test(test_who_matrix),
		cmocka_unit_test(test_who_unknown_group_logged),
		cmocka_unit_test(test_membership),
		cmocka_unit_test(test_decide_matrix),
		cmocka_unit_test(test_logind_kills),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
