/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The user's opt-in file ~/.keepsession: opening and checking it as the
 * user, parsing its program lines, and what it means (ks_optin_status). */
#ifndef KS_OPTIN_H
#define KS_OPTIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
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
	/* names programs, none of them valid: nothing kept, one line logged */
	KS_OPTIN_NONE_VALID,
};

/*
 * Opens and validates the user's opt-in file. The caller must already run
 * with the user's privileges (ks_optin_read_forked() does it in a child):
 * the file is opened with O_NONBLOCK|O_NOCTTY|O_CLOEXEC (a FIFO never
 * blocks), then fstat()ed: it must be a regular file owned by owner, not
 * writable by group or others (like sshd's StrictModes), at most
 * KS_OPTIN_MAX_SIZE bytes. A symlink the user can follow is fine. Its
 * content never reaches a log. ks_optin_fetch() then ks_optin_judge().
 */
enum ks_optin_status ks_optin_read(const char *path, uid_t owner, struct ks_strlist *programs,
				   const struct ks_log *log);

/* What opening, checking and reading the file found, before any parsing.
 * Plain data: it crosses the forked reader's pipe as it is. */
enum ks_optin_check {
	KS_OPTIN_CHECK_OK,
	KS_OPTIN_CHECK_ABSENT,      /* ENOENT, ENOTDIR */
	KS_OPTIN_CHECK_CANNOT_OPEN, /* err */
	KS_OPTIN_CHECK_CANNOT_STAT, /* err */
	KS_OPTIN_CHECK_CANNOT_READ, /* err */
	KS_OPTIN_CHECK_CANNOT_DROP, /* err: the privilege drop failed */
	KS_OPTIN_CHECK_NOT_REGULAR,
	KS_OPTIN_CHECK_NOT_OWNED,
	KS_OPTIN_CHECK_WRITABLE, /* by group or others */
	KS_OPTIN_CHECK_TOO_LARGE,
	KS_OPTIN_CHECK_GREW, /* read past KS_OPTIN_MAX_SIZE */
};
#define KS_OPTIN_CHECK_LAST KS_OPTIN_CHECK_GREW

struct ks_optin_fetched {
	int32_t check; /* enum ks_optin_check */
	int32_t err;   /* errno, where the check says so */
	uint32_t len;  /* bytes of content, with KS_OPTIN_CHECK_OK */
};

/* Opens, checks and reads the file into buf (KS_OPTIN_MAX_SIZE + 1
 * bytes). Logs nothing: it may run in a child that cannot. */
struct ks_optin_fetched ks_optin_fetch(const char *path, uid_t owner, char *buf);

/* What the fetch means: logs one line for a refused file, parses the
 * content of a good one (buf, f->len bytes) into programs. */
enum ks_optin_status ks_optin_judge(const char *path, const struct ks_optin_fetched *f,
				    const char *buf, struct ks_strlist *programs,
				    const struct ks_log *log);

/* Parses the content: one program per line, '#' comments, blanks. Lines
 * that cannot be a program (too long, control characters) are skipped and
 * logged by line number only; when no line is valid, one line says that
 * instead. Returns the number of skipped lines, or -ENOMEM. */
int ks_optin_parse(const char *text, size_t len, struct ks_strlist *programs, const char *origin,
		   const struct ks_log *log);

/* Can s (len bytes, not NUL-terminated) name a program: a base name or an
 * absolute path without empty, "." or ".." components, at most
 * KS_PROGRAM_MAX bytes, no blanks or control characters? The admin's
 * commands and the opt-in file's lines use the same rule, so they compare. */
bool ks_program_valid(const char *s, size_t len);

#endif
