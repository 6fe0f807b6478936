/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Who is kept, and with which programs: the admin's users/deny lists and
 * group membership, narrowed by the opt-in file; logind's kill settings. */
#ifndef KS_POLICY_H
#define KS_POLICY_H

#include <grp.h>
#include <stdbool.h>
#include <sys/types.h>

#include "ks_config.h"
#include "ks_log.h"
#include "ks_optin.h"
#include "ks_strlist.h"

/* The user as the password database names them: pw_name, never the raw
 * PAM_USER (a case-insensitive NSS answers "ALICE" with "alice"). */
struct ks_user {
	const char *name;
	uid_t uid;
	gid_t gid;
	const char *home;
};

enum ks_membership {
	KS_MEMBER_NO,
	KS_MEMBER_YES,
	KS_MEMBER_UNKNOWN, /* the group could not be looked up */
};

/* Group membership, a seam: the PAM glue looks the group up with
 * pam_modutil_getgrnam(), the guard with getgrnam_r(), both then ask
 * ks_policy_membership(); tests pass a table. */
typedef enum ks_membership (*ks_in_group_fn)(void *ctx, const struct ks_user *u, const char *group);

enum ks_who {
	KS_WHO_DENIED,      /* matched by deny: never kept */
	KS_WHO_LISTED,      /* matched by users: kept without opting in */
	KS_WHO_MAY_OPT_IN,  /* kept if ~/.keepsession opts in */
	KS_WHO_NOT_ALLOWED, /* not listed and optin = no */
};

/* Is u in gr (its primary group, or listed as a member)? gr NULL: the
 * lookup failed (no such group, NSS error), KS_MEMBER_UNKNOWN. */
enum ks_membership ks_policy_membership(const struct group *gr, const struct ks_user *u);

/* Does a list of names, @groups and "*" match the user? KS_MEMBER_UNKNOWN
 * when nothing matched and a group could not be looked up (*unknown_group
 * then names the first such entry, without its '@'); no in_group: every
 * group is unknown. */
enum ks_membership ks_policy_list_matches(const struct ks_strlist *list, const struct ks_user *u,
					  ks_in_group_fn in_group, void *ctx,
					  const char **unknown_group);

/* Who is this user to the admin's configuration? deny wins over all. A
 * group that cannot be looked up fails closed: in deny it denies, in
 * users it does not list; one line says so. */
enum ks_who ks_policy_who(const struct ks_config *c, const struct ks_user *u,
			  ks_in_group_fn in_group, void *ctx, const struct ks_log *log);
/* ks_policy_who() of any user, when the lists cannot tell users apart (no
 * deny; users empty or "*"): true and *who. False when the user decides. */
bool ks_policy_who_of_anyone(const struct ks_config *c, enum ks_who *who);

/*
 * The final decision, once the opt-in file has been read (or not, for a
 * user who is not allowed anyway). On keep, *programs is filled with the
 * effective program list: the admin's commands; narrowed to the user's
 * lines when the opt-in file has any; with user_commands = yes, the user's
 * lines as they are; nothing when it has lines but no valid one
 * (KS_OPTIN_NONE_VALID). Returns 1 to keep, 0 not to, -ENOMEM (nothing
 * kept).
 */
int ks_policy_decide(const struct ks_config *c, enum ks_who who, enum ks_optin_status optin,
		     const struct ks_strlist *user_lines, struct ks_strlist *programs);

/* Would logind kill this user's processes at logout? The same rule as
 * logind's manager_shall_kill(): KillExcludeUsers (empty means "root")
 * wins, a non-empty KillOnlyUsers decides alone, else KillUserProcesses. */
bool ks_policy_logind_kills(const char *user, bool kill_user_processes,
			    const struct ks_strlist *kill_only_users,
			    const struct ks_strlist *kill_exclude_users);

#endif
