/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>

#include "ks_eligibility.h"

int ks_eligible(const struct ks_config *c, const struct ks_user *u,
		const struct ks_eligibility_io *io, struct ks_strlist *programs,
		const struct ks_log *log)
{
	struct ks_strlist lines = { 0 };
	enum ks_optin_status optin = KS_OPTIN_ABSENT;
	enum ks_who who;
	char path[4096];
	int r;

	ks_strlist_clear(programs);
	who = ks_policy_who(c, u->name, io->in_group, io->ctx);
	if ((who == KS_WHO_LISTED || who == KS_WHO_MAY_OPT_IN) && u->home && u->home[0] == '/' &&
	    snprintf(path, sizeof(path), "%s/%s", u->home, KS_OPTIN_FILE) < (int)sizeof(path)) {
		optin = io->read_optin(io->optin_ctx, u, path, &lines, log);
	}
	r = ks_policy_decide(c, who, optin, &lines, programs) ? 1 : 0;
	ks_strlist_clear(&lines);
	if (r == 0)
		ks_log(log, LOG_DEBUG, "%s is not kept", u->name);
	return r;
}
