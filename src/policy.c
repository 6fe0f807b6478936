/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Who is kept, and which programs: the admin's lists decide who may be
 * kept, ~/.keepsession may only opt in and narrow, unless the admin lets
 * users name their own programs (user_commands = yes).
 */
#include <string.h>

#include "ks_policy.h"

bool ks_policy_list_matches(const struct ks_strlist *list, const char *user,
			    ks_in_group_fn in_group, void *ctx)
{
	for (size_t i = 0; i < list->n; i++) {
		const char *entry = list->v[i];

		if (strcmp(entry, "*") == 0)
			return true;
		if (entry[0] == '@') {
			if (entry[1] != '\0' && in_group && in_group(ctx, user, entry + 1))
				return true;
			continue;
		}
		if (strcmp(entry, user) == 0)
			return true;
	}
	return false;
}

enum ks_who ks_policy_who(const struct ks_config *c, const char *user, ks_in_group_fn in_group,
			  void *ctx)
{
	if (ks_policy_list_matches(&c->deny, user, in_group, ctx))
		return KS_WHO_DENIED;
	if (ks_policy_list_matches(&c->users, user, in_group, ctx))
		return KS_WHO_LISTED;
	if (c->optin)
		return KS_WHO_MAY_OPT_IN;
	return KS_WHO_NOT_ALLOWED;
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
			return -1;
	}
	return 0;
}

bool ks_policy_decide(const struct ks_config *c, enum ks_who who, enum ks_optin_status optin,
		      const struct ks_strlist *user_lines, struct ks_strlist *programs)
{
	bool narrow = optin == KS_OPTIN_OK && user_lines && user_lines->n > 0;
	int r;

	ks_strlist_clear(programs);
	switch (who) {
	case KS_WHO_LISTED:
		break;
	case KS_WHO_MAY_OPT_IN:
		if (optin != KS_OPTIN_OK)
			return false;
		break;
	case KS_WHO_DENIED:
	case KS_WHO_NOT_ALLOWED:
	default:
		return false;
	}

	if (!narrow)
		r = ks_strlist_copy(programs, &c->commands);
	else if (c->user_commands)
		r = ks_strlist_copy(programs, user_lines);
	else
		r = intersect(programs, user_lines, &c->commands);
	if (r < 0) {
		ks_strlist_clear(programs);
		return false;
	}
	/* Nothing to keep (the lines named none of the admin's programs):
	 * the session ends as if the module were not there. */
	return programs->n > 0;
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
