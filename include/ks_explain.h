/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Why a user is kept or not, for keepsession status: the module's own
 * decision, replayed with each step and problem recorded. */
#ifndef KS_EXPLAIN_H
#define KS_EXPLAIN_H

#include <stdbool.h>

#include "ks_config.h"
#include "ks_eligibility.h"
#include "ks_proctree.h"
#include "ks_strlist.h"

/*
 * Why a user is kept or not, for keepsession status: the module's own
 * decision (ks_eligible(), which reads the opt-in file through the reader
 * passed in), with what led to it recorded on the way.
 */

enum ks_reason {
	KS_REASON_DENIED,        /* matched by deny */
	KS_REASON_LISTED,        /* named in users */
	KS_REASON_GROUP,         /* member of an @group in users */
	KS_REASON_ALL,           /* users = * */
	KS_REASON_OPTED_IN,      /* ~/.keepsession */
	KS_REASON_NOT_OPTED_IN,  /* optin = yes, no ~/.keepsession */
	KS_REASON_OPTIN_REFUSED, /* ~/.keepsession exists but was ignored */
	KS_REASON_NO_PROGRAMS,   /* its lines name none of the admin's commands */
	KS_REASON_OPTIN_OFF,     /* not in users, and optin = no */
};

struct ks_explanation {
	bool kept;
	enum ks_reason reason;
	char *name;                       /* the canonical name (the lookup's), or NULL */
	char entry[256];                  /* the users/deny entry that matched, if any */
	struct ks_strlist programs;       /* what would be kept */
	struct ks_strlist optin_problems; /* the reader's lines about ~/.keepsession */
	struct ks_strlist problems;       /* every other line of the decision (lookups, groups) */
};

/* Looks name up and decides as ks_eligible() does, through io (its
 * reader wrapped to see what the opt-in file gave). Returns 0, -ENOENT
 * when the user cannot be looked up (e->problems says why), or -ENOMEM. */
int ks_explain(const struct ks_config *c, const char *name, const struct ks_eligibility_io *io,
	       struct ks_explanation *e);

void ks_explanation_free(struct ks_explanation *e);

/* "denied", "listed", "group", "all", "opted-in", "not-opted-in",
 * "optin-refused", "no-programs", "optin-off". */
const char *ks_reason_name(enum ks_reason r);

/*
 * What the module would keep if the session ended now: the very selection
 * it runs (ks_select_trees) over the session's scope, which logind names
 * <cgroup_root>/user.slice/user-UID.slice/session-ID.scope. Reads only;
 * nothing is moved. Returns 0, -EINVAL for a session id that cannot name a
 * scope, or what ks_select_trees() returns.
 */
int ks_dry_run(const char *proc_root, const char *cgroup_root, uid_t uid, const char *session_id,
	       const struct ks_strlist *programs, struct ks_selection *out, char *cgroup,
	       size_t cgroup_size);

#endif
