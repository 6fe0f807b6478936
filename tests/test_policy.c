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

static bool fake_in_group(void *ctx, const char *user, const char *group)
{
	struct groups *g = ctx;

	g->calls++;
	(void)snprintf(g->last_group, sizeof(g->last_group), "%s", group);
	for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++)
		if (strcmp(members[i].user, user) == 0 && strcmp(members[i].group, group) == 0)
			return true;
	return false;
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

	assert_false(ks_policy_list_matches(&l, "alice", fake_in_group, &g));
	list_set(&l, "alice,@wheel");
	assert_true(ks_policy_list_matches(&l, "alice", fake_in_group, &g));
	assert_true(ks_policy_list_matches(&l, "bob", fake_in_group, &g));
	assert_string_equal(g.last_group, "wheel"); /* asked without the '@' */
	assert_false(ks_policy_list_matches(&l, "carol", fake_in_group, &g));
	assert_false(ks_policy_list_matches(&l, "alic", fake_in_group, &g));
	assert_false(ks_policy_list_matches(&l, "alicex", fake_in_group, &g));
	assert_false(ks_policy_list_matches(&l, "Alice", fake_in_group, &g));
	/* "@wheel" is a group, not a user named so */
	assert_false(ks_policy_list_matches(&l, "@wheel", fake_in_group, &g));
	/* without a group lookup, groups match nobody */
	assert_false(ks_policy_list_matches(&l, "bob", NULL, NULL));

	list_set(&l, "*");
	assert_true(ks_policy_list_matches(&l, "anyone", fake_in_group, &g));
	assert_true(ks_policy_list_matches(&l, "root", NULL, NULL));

	/* a bare "@" names no group and is never looked up */
	list_set(&l, "@");
	g.calls = 0;
	assert_false(ks_policy_list_matches(&l, "bob", fake_in_group, &g));
	assert_int_equal(g.calls, 0);
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
	};
	struct ks_config c;
	struct groups g = { 0 };
	(void)state;

	assert_int_equal(ks_config_init(&c), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum ks_who who;

		list_set(&c.users, cases[i].users);
		list_set(&c.deny, cases[i].deny);
		c.optin = cases[i].optin;
		who = ks_policy_who(&c, cases[i].user, fake_in_group, &g);
		if (who != cases[i].who)
			fail_msg("case %zu (%s): got %d, want %d", i, cases[i].user, who,
				 cases[i].who);
	}
	ks_config_free(&c);
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
					cases[i].lines ? &lines : NULL, &programs);
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
	assert_false(ks_policy_decide(&c, KS_WHO_LISTED, KS_OPTIN_ABSENT, NULL, &programs));
	list_set(&lines, "tmux");
	assert_false(ks_policy_decide(&c, KS_WHO_MAY_OPT_IN, KS_OPTIN_OK, &lines, &programs));
	c.user_commands = true;
	assert_true(ks_policy_decide(&c, KS_WHO_MAY_OPT_IN, KS_OPTIN_OK, &lines, &programs));
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
		cmocka_unit_test(test_decide_matrix),
		cmocka_unit_test(test_logind_kills),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
