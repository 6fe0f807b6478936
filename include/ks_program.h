/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef KS_PROGRAM_H
#define KS_PROGRAM_H

/* The one rule for program entries: which names an admin or a user may
 * list (config, ~/.keepsession), and which executables they match. */

#include <stdbool.h>
#include <stddef.h>

#include "ks_strlist.h"

#define KS_PROGRAM_MAX 255 /* bytes in one program entry */

/* Can s (len bytes, not NUL-terminated) name a program: a base name or an
 * absolute path without empty, "." or ".." components, at most
 * KS_PROGRAM_MAX bytes, no blanks or control characters? The admin's
 * commands and the opt-in file's lines use the same rule, so they compare. */
bool ks_program_valid(const char *s, size_t len);

/* Does exe (a /proc/PID/exe target, maybe ending in " (deleted)") match an
 * entry: an absolute path exactly, or a base name? Returns the entry or NULL. */
const char *ks_program_match(const struct ks_strlist *programs, const char *exe);

/* An entry's name for a log line or a listing: the part after its last '/'. */
const char *ks_program_base_name(const char *program);

#endif
