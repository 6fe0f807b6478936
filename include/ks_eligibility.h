/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef KS_ELIGIBILITY_H
#define KS_ELIGIBILITY_H

#include <sys/types.h>

#include "ks_config.h"
#include "ks_log.h"
#include "ks_optin.h"
#include "ks_policy.h"
#include "ks_strlist.h"

/*
 * Is this user kept at the end of a session, and with which programs? The
 * one decision both the PAM module and the stop guard make: the admin's
 * lists (policy), then the user's ~/.keepsession (optin), read through a
 * seam that runs with the user's privileges.
 */

/* The user as the password database names them (pw_name, not PAM_USER). */
struct ks_user {
	const char *name;
	uid_t uid;
	gid_t gid;
	const char *home;
};

/* Reads the user's opt-in file with the user's privileges (never root's:
 * a symlink would name any file) into *lines. ks_optin_read_forked() is
 * the one both the module and the guard use; tests pass their own. */
typedef enum ks_optin_status (*ks_optin_reader_fn)(void *ctx, const struct ks_user *u,
						   const char *path, struct ks_strlist *lines,
						   const struct ks_log *log);

struct ks_eligibility_io {
	ks_in_group_fn in_group;
	void *ctx; /* for in_group */
	ks_optin_reader_fn read_optin;
	void *optin_ctx; /* for read_optin */
};

/* Returns 1 and fills *programs to keep, 0 when nothing is kept (logged at
 * debug level), or -errno when nothing more may be done. */
int ks_eligible(const struct ks_config *c, const struct ks_user *u,
		const struct ks_eligibility_io *io, struct ks_strlist *programs,
		const struct ks_log *log);

#endif
