/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef KS_POLICY_H
#define KS_POLICY_H

#include <stdbool.h>

#include "ks_config.h"
#include "ks_optin.h"
#include "ks_strlist.h"

/* Group membership lookup, a seam: the PAM glue passes one built on
 * pam_modutil_user_in_group_nam_nam(), tests pass a table. */
typedef bool (*ks_in_group_fn)(void *ctx, const char *user, const char *group);

enum ks_who {
	KS_WHO_DENIED,      /* matched by deny: never kept */
	KS_WHO_LISTED,      /* matched by users: kept without opting in */
	KS_WHO_MAY_OPT_IN,  /* kept if ~/.keepsession opts in */
	KS_WHO_NOT_ALLOWED, /* not listed and optin = no */
};

/* Does a list of names, @groups and "*" match the user? */
bool ks_policy_list_matches(const struct ks_strlist *list, const char *user,
			    ks_in_group_fn in_group, void *ctx);

/* Who is this user to the admin's configuration? deny wins over all. */
enum ks_who ks_policy_who(const struct ks_config *c, const char *user, ks_in_group_fn in_group,
			  void *ctx);

/*
 * The final decision, once the opt-in file has been read (or not, for a
 * user who is not allowed anyway). On keep, *programs is filled with the
 * effective program list: the admin's commands; narrowed to the user's
 * lines when the opt-in file has any; with user_commands = yes, the user's
 * lines as they are. Returns true to keep.
 */
bool ks_policy_decide(const struct ks_config *c, enum ks_who who, enum ks_optin_status optin,
		      const struct ks_strlist *user_lines, struct ks_strlist *programs);

/* Would logind kill this user's processes at logout? The same rule as
 * logind's manager_shall_kill(): KillExcludeUsers (empty means "root")
 * wins, a non-empty KillOnlyUsers decides alone, else KillUserProcesses. */
bool ks_policy_logind_kills(const char *user, bool kill_user_processes,
			    const struct ks_strlist *kill_only_users,
			    const struct ks_strlist *kill_exclude_users);

#endif
