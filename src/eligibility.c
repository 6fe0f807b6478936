/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ks_eligibility.h"
#include "ks_failpolicy.h"

/* The opt-in file's lines, for a user the admin's lists let through. */
static enum ks_optin_status read_optin(const struct ks_user *u, enum ks_who who,
				       const struct ks_eligibility_io *io, struct ks_strlist *lines,
				       const struct ks_log *log)
{
	char path[4096];

	if (who != KS_WHO_LISTED && who != KS_WHO_MAY_OPT_IN)
		return KS_OPTIN_ABSENT;
	if (!u->home || u->home[0] != '/' ||
	    snprintf(path, sizeof(path), "%s/%s", u->home, KS_OPTIN_FILE) >= (int)sizeof(path))
		return KS_OPTIN_ABSENT;
	return io->read_optin(io->optin_ctx, u, path, lines, log);
}

/* Can the session keep nothing whatever the opt-in file says? Without
 * user_commands, what is kept is among the admin's programs: when the
 * session runs none of them, the file (a fork) need not be read. 1 when
 * it may hold one, 0 when not, -1 when not asked. */
static int may_hold(const struct ks_config *c, enum ks_who who, const struct ks_eligibility_io *io)
{
	if (who != KS_WHO_LISTED && who != KS_WHO_MAY_OPT_IN)
		return -1;
	if (c->user_commands || !io->may_hold)
		return -1;
	return io->may_hold(io->hold_ctx, &c->commands) != 0;
}

/* The session runs none of the programs: nothing to keep, said at debug. */
static bool none_running(const char *name, const struct ks_log *log)
{
	ks_log(log, LOG_DEBUG, "%s is not kept: the session runs none of the programs", name);
	return false;
}

bool ks_eligible(const struct ks_config *c, const char *name, const struct ks_eligibility_io *io,
		 struct ks_user *u, struct ks_strlist *programs, const struct ks_log *log)
{
	struct ks_strlist lines = { 0 };
	enum ks_optin_status optin;
	enum ks_who who;
	int r, held = -1;

	ks_strlist_clear(programs);
	*u = (struct ks_user){ 0 };
	/* When the admin's lists cannot tell users apart, the session is
	 * looked at first: a logout with none of the programs running costs
	 * no user lookup (NSS: a network round trip with LDAP or sssd). With
	 * lists, the user first: a denied user's session is never read. */
	if (ks_policy_who_of_anyone(c, &who)) {
		held = may_hold(c, who, io);
		if (held == 0)
			return none_running(name, log);
	}
	r = io->lookup_user(io->ctx, name, u);
	if (r < 0 || !u->name || !*u->name) {
		ks_fail_log(log, KS_FAIL_USER_LOOKUP, "cannot look up user %s: %s", name,
			    r == -ENOENT || r >= 0 ? "no such user" : strerror(-r));
		return false;
	}
	who = ks_policy_who(c, u, io->in_group, io->ctx, log);
	if (held < 0)
		held = may_hold(c, who, io);
	if (held == 0)
		return none_running(u->name, log);
	if (held == 1 && io->likely)
		io->likely(io->likely_ctx, u);
	optin = read_optin(u, who, io, &lines, log);
	r = ks_policy_decide(c, who, optin, &lines, programs);
	ks_strlist_clear(&lines);
	if (r < 0)
		ks_fail_log(log, KS_FAIL_DECIDE_NOMEM,
			    "out of memory deciding what to keep of %s: nothing kept", u->name);
	else if (r == 0)
		ks_log(log, LOG_DEBUG, "%s is not kept", u->name);
	return r > 0;
}
