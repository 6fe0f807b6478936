/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef KS_OPTIN_H
#define KS_OPTIN_H

#include <stddef.h>
#include <sys/types.h>

#include "ks_log.h"
#include "ks_strlist.h"

#define KS_OPTIN_FILE ".keepsession"
#define KS_OPTIN_MAX_SIZE (64 * 1024)

enum ks_optin_status {
	KS_OPTIN_ABSENT,  /* no such file: not opted in, nothing logged */
	KS_OPTIN_OK,      /* opted in; programs holds its lines (maybe none) */
	KS_OPTIN_REFUSED, /* exists but unusable: not opted in, one line logged */
};

/*
 * Opens and validates the user's opt-in file. The caller must already have
 * dropped to the user's privileges (pam_modutil_drop_priv): the file is
 * opened with O_NONBLOCK|O_NOCTTY|O_CLOEXEC (a FIFO never blocks), then
 * fstat()ed: it must be a regular file owned by owner, at most
 * KS_OPTIN_MAX_SIZE bytes. A symlink the user can follow is fine. Its
 * content never reaches a log.
 */
enum ks_optin_status ks_optin_read(const char *path, uid_t owner,
				   struct ks_strlist *programs,
				   const struct ks_log *log);

/* Parses the content: one program per line, '#' comments, blanks. Lines
 * that cannot be a program (too long, control characters) are skipped and
 * logged by line number only. Returns 0 or -ENOMEM. */
int ks_optin_parse(const char *text, size_t len, struct ks_strlist *programs,
		   const char *origin, const struct ks_log *log);

#endif
