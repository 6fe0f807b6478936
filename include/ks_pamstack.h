/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A PAM service's session stack as libpam resolves it from pam.d, and
 * where pam_keepsession.so sits in it relative to pam_systemd.so. */
#ifndef KS_PAMSTACK_H
#define KS_PAMSTACK_H

#include <stdbool.h>
#include <stddef.h>

#include "ks_log.h"

/*
 * A service's session stack as libpam builds it from a pam.d directory
 * (the root is passed in, so tests use a temporary tree): "@include FILE"
 * brings in every line of FILE, "session include FILE" and "session
 * substack FILE" its session lines. Comments start at '#', a '\' at the
 * end of a line continues it, "[...]" controls may hold blanks, a leading
 * '-' on the type is kept. Bounded: include depth, file size, and files
 * and lines read in all.
 */

#define KS_PAMSTACK_MAX_DEPTH 16               /* libpam's PAM_SUBSTACK_MAX_LEVEL */
#define KS_PAMSTACK_MAX_FILE_SIZE (256 * 1024) /* per file: larger ones are refused */
/* Per resolve, a file included n times counted n times: depth alone lets
 * a tree of includes fan out exponentially. At either cap the walk stops,
 * reported once. */
#define KS_PAMSTACK_MAX_FILES 256  /* files opened (or tried) */
#define KS_PAMSTACK_MAX_LINES 4096 /* lines parsed, of any type */

struct ks_pam_line {
	char *file;        /* path of the file that holds the line */
	unsigned line;     /* its first physical line (1-based) */
	char *module;      /* as written: "pam_systemd.so" or an absolute path */
	char *control;     /* "optional", "[success=ok default=bad]" */
	char *args;        /* the module arguments as written ("" if none) */
	char *top_file;    /* the service file, and the line in it that brought */
	unsigned top_line; /*   this one in (the line itself when direct) */
	bool dash;         /* "-session": a missing module is not an error */
};

struct ks_pamstack {
	struct ks_pam_line *lines;
	size_t n;
	unsigned problems; /* missing files, loops, oversized files, bad lines */
	unsigned files;    /* files opened or tried, at most KS_PAMSTACK_MAX_FILES */
	unsigned parsed;   /* lines parsed, at most KS_PAMSTACK_MAX_LINES */
};

/*
 * Resolves the session stack of service (a file name in pam_d, or an
 * absolute path). Problems are logged one line each with file:line, and
 * counted; the rest of the stack still resolves. Returns 0, -ENOENT when
 * the service file itself cannot be read, or -ENOMEM.
 */
int ks_pamstack_resolve(const char *pam_d, const char *service, struct ks_pamstack *out,
			const struct ks_log *log);

void ks_pamstack_free(struct ks_pamstack *s);

/* Is this module field the named module ("pam_systemd.so"), by base name? */
bool ks_pam_module_is(const char *module, const char *name);

/* The first line of the stack that loads the named module, or NULL. */
const struct ks_pam_line *ks_pamstack_find(const struct ks_pamstack *s, const char *name);

enum ks_placement {
	KS_PLACEMENT_ABSENT,     /* pam_keepsession.so not in the stack */
	KS_PLACEMENT_OK,         /* before the line that brings in pam_systemd.so */
	KS_PLACEMENT_NO_SYSTEMD, /* no pam_systemd.so in the stack: nothing to do there */
	KS_PLACEMENT_AFTER,      /* after it: pam_systemd closes first */
};

/* Where pam_keepsession.so sits relative to pam_systemd.so; *keep and
 * *systemd get the lines found (or NULL). */
enum ks_placement ks_pamstack_placement(const struct ks_pamstack *s,
					const struct ks_pam_line **keep,
					const struct ks_pam_line **systemd);

#endif
