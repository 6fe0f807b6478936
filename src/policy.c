/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Who is kept, and which programs: the admin's lists decide who may be
 * kept, ~/.keepsession may only opt in and narrow, unless the admin lets
 * users name their own programs (user_commands = yes).
 */
#include <errno.h>
#include <string.h>

#include "ks_failpolicy.h"
#include "ks_policy.h"

enum ks_membership ks_policy_membership(const struct group *gr, const struct ks_user *u)
{
	if (!gr)
		return KS_MEMBER_UNKNOWN;
	if (gr->gr_gid == u->gid)
		return KS_MEMBER_YES;
	for (char **m = gr->gr_mem; m && *m; m++)
		if (strcmp(*m, u->name) == 0)
			return KS_MEMBER_YES;
	return KS_MEMBER_NO;
}

enum ks_membership ks_policy_list_matches(const struct ks_strlist *list, const struct ks_user *u,
					  ks_in_group_fn in_group, void *ctx,
					  const char **unknown_group)
{
	const char *unknown = NULL;

	*unknown_group = NULL;
	for (size_t i = 0; i < list->n; i++) {
		const char *entry = list->v[i];
		enum ks_membership m;

		if (entry[0] != '@') {
			if (strcmp(entry, "*") == 0 || strcmp(entry, u->name) == 0)
				return KS_MEMBER_YES;
			continue;
		}
		if (entry[1] == '\0')
			continue;
		m = in_group ? in_group(ctx, u, entry + 1) : KS_MEMBER_UNKNOWN;
		if (m == KS_MEMBER_YES)
			return KS_MEMBER_YES;
		if (m == KS_MEMBER_UNKNOWN && !unknown)
			unknown = entry + 1;
	}
	*unknown_group = unknown;
	return unknown ? KS_MEMBER_UNKNOWN : KS_MEMBER_NO;
}

enum ks_who ks_policy_who(const struct ks_config *c, const struct ks_user *u,
			  ks_in_group_fn in_group, void *ctx, const struct ks_log *log)
{
	const char *group;

	switch (ks_policy_list_matches(&c->deny, u, in_group, ctx, &group)) {
	case KS_MEMBER_YES:
		return KS_WHO_DENIED;
	case KS_MEMBER_UNKNOWN:
		ks_fail_log(log, KS_FAIL_DENY_GROUP_LOOKUP,
			    "deny = @%s: cannot look up the group; %s is treated as denied", group,
			    u->name);
		return KS_WHO_DENIED;
	case KS_MEMBER_NO:
	default:
		break;
	}
	switch (ks_policy_list_matches(&c->users, u, in_group, ctx, &group)) {
	case KS_MEMBER_YES:
		return KS_WHO_LISTED;
	case KS_MEMBER_UNKNOWN:
		ks_fail_log(log, KS_FAIL_USERS_GROUP_LOOKUP,
			    "users = @%s: cannot look up the group; %s is treated as not a member",
			    group, u->name);
		break;
	case KS_MEMBER_NO:
	default:
		break;
	}
	return c->optin ? KS_WHO_MAY_OPT_IN : KS_WHO_NOT_ALLOWED;
}

bool ks_policy_who_of_anyone(const struct ks_config *c, enum ks_who *who)
{
	if (c->deny.n > 0)
		return false;
	if (ks_strlist_contains(&c->users, "*")) {
		/* "*" matches before any @group's lookup can fail. */
		*who = KS_WHO_LISTED;
		return true;
	}
	if (c->users.n > 0)
		return false;
	*who = c->optin ? KS_WHO_MAY_OPT_IN : KS_WHO_NOT_ALLOWED;
	return true;
}

/* The user's lines that the admin also lists, in the user's order. */
static int intersect(struct ks_strlist *dst, const struct ks_strlist *user_lines,
		     const struct ks_strlist *commands)
{
	for (size_t i = 0; i < user_lines->n; i++) {
		const char *s = user_lines->v[i];

		if (!ks_strlist_contains(commands, s) || ks_strlist_contains(dst, s))
			continue;
		if (ks_strlist_add(dst, s, strlen(s)) < 0)
			return -ENOMEM;
	}
	return 0;
}

int ks_policy_decide(const struct ks_config *c, enum ks_who who, enum ks_optin_status optin,
		     const struct ks_strlist *user_lines, struct ks_strlist *programs)
{
	bool narrow = optin == KS_OPTIN_OK && user_lines && user_lines->n > 0;
	int r;

	ks_strlist_clear(programs);
	/* A file whose every program line is invalid narrows to nothing,
	 * for a listed user too: never to the admin's whole list. */
	if (optin == KS_OPTIN_NONE_VALID)
		return 0;
	switch (who) {
	case KS_WHO_LISTED:
		break;
	case KS_WHO_MAY_OPT_IN:
		if (optin != KS_OPTIN_OK)
			return 0;
		break;
	case KS_WHO_DENIED:
	case KS_WHO_NOT_ALLOWED:
	default:
		return 0;
	}

	if (!narrow)
		r = ks_strlist_copy(programs, &c->commands);
	else if (c->user_commands)
		r = ks_strlist_copy(programs, user_lines);
	else
		r = intersect(programs, user_lines, &c->commands);
	if (r < 0) {
		ks_strlist_clear(programs);
		return r;
	}
	/* Nothing to keep (the lines named none of the admin's programs):
	 * the session ends as if the module were not there. */
	return programs->n > 0 ? 1 : 0;
}

bool ks_policy_logind_kills(const char *user, bool kill_user_processes,
			    const struct ks_strlist *kill_only_users,
			    const struct ks_strlist *kill_exclude_users)
{
	bool no_exclude = !kill_exclude_users || kill_exclude_users->n == 0;
	bool has_only = kill_only_users && kill_only_users->n > 0;

	/* KillExcludeUsers= defaults to root; logind stores an emptied one
	 * as none at all, and then still spares root. */
	if (no_exclude && strcmp(user, "root") == 0)
		return false;
	if (!no_exclude && ks_strlist_contains(kill_exclude_users, user))
		return false;
	if (has_only)
		return ks_strlist_contains(kill_only_users, user);
	return kill_user_processes;
}
