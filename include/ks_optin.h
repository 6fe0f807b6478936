/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef KS_OPTIN_H
#define KS_OPTIN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "ks_log.h"
#include "ks_strlist.h"

#define KS_OPTIN_FILE ".keepsession"
#define KS_OPTIN_MAX_SIZE (64 * 1024)
#define KS_PROGRAM_MAX 255 /* bytes in one program entry */

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
enum ks_optin_status ks_optin_read(const char *path, uid_t owner, struct ks_strlist *programs,
				   const struct ks_log *log);

/* Parses the content: one program per line, '#' comments, blanks. Lines
 * that cannot be a program (too long, control characters) are skipped and
 * logged by line number only. Returns 0 or -ENOMEM. */
int ks_optin_parse(const char *text, size_t len, struct ks_strlist *programs, const char *origin,
		   const struct ks_log *log);

/* Can s (len bytes, not NUL-terminated) name a program: a base name or an
 * absolute path without empty, "." or ".." components, at most
 * KS_PROGRAM_MAX bytes, no blanks or control characters? The admin's
 * commands and the opt-in file's lines use the same rule, so they compare. */
bool ks_program_valid(const char *s, size_t len);

#endif
