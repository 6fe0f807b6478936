/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The one decision the module and the stop guard both make: look the user
 * up, apply the admin's lists (policy), read the opt-in file (optin). */
#ifndef KS_ELIGIBILITY_H
#define KS_ELIGIBILITY_H

#include <stdbool.h>
#include <sys/types.h>

#include "ks_config.h"
#include "ks_log.h"
#include "ks_optin.h"
#include "ks_policy.h"
#include "ks_strlist.h"

/*
 * Is this user kept at the end of a session, and with which programs? The
 * one decision both the PAM module and the stop guard make: the user's
 * canonical name, the admin's lists (policy), then the user's
 * ~/.keepsession (optin), read through a seam that runs with the user's
 * privileges.
 */

/* Looks a login name up in the password database, a seam: the glue on
 * pam_modutil_getpwnam(), the guard on getpwnam_r(). Fills *u from the
 * entry found (strings owned by the lookup, valid while ctx is). Returns
 * 0, -ENOENT, or -errno. */
typedef int (*ks_user_lookup_fn)(void *ctx, const char *name, struct ks_user *u);

/* Reads the user's opt-in file with the user's privileges (never root's:
 * a symlink would name any file) into *lines. ks_optin_read_forked() is
 * the one both the module and the guard use; tests pass their own. */
typedef enum ks_optin_status (*ks_optin_reader_fn)(void *ctx, const struct ks_user *u,
						   const char *path, struct ks_strlist *lines,
						   const struct ks_log *log);

/* May the closing session hold a process running one of programs? 1 when
 * it may (a match, or it cannot tell), 0 when it certainly does not. The
 * glue and the guard scan the session's cgroup (ks_session_may_hold()). */
typedef int (*ks_may_hold_fn)(void *ctx, const struct ks_strlist *programs);

struct ks_eligibility_io {
	ks_user_lookup_fn lookup_user;
	ks_in_group_fn in_group;
	void *ctx; /* for lookup_user and in_group */
	ks_optin_reader_fn read_optin;
	void *optin_ctx; /* for read_optin */
	/* NULL: the opt-in file is always read (keepsession explain). Else
	 * asked before the read, when what is kept can only be among the
	 * admin's programs (not user_commands): none running, no read. */
	ks_may_hold_fn may_hold;
	void *hold_ctx; /* for may_hold */
	/* NULL, or called once may_hold said the session may hold one of
	 * the admin's programs, right before the opt-in file is read: the
	 * glue then begins reaching systemd while it is read. */
	void (*likely)(void *ctx, const struct ks_user *u);
	void *likely_ctx;
};

/*
 * Looks name up (PAM_USER, or logind's user name of the session) and
 * decides. *u gets the entry found: its name is the canonical one, which
 * every list compares and the caller passes on (never the raw name).
 * Returns true and fills *programs to keep; false when nothing is kept:
 * the ordinary cases at debug level, a failure (lookup, out of memory) in
 * one line.
 */
bool ks_eligible(const struct ks_config *c, const char *name, const struct ks_eligibility_io *io,
		 struct ks_user *u, struct ks_strlist *programs, const struct ks_log *log);

#endif
