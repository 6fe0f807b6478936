/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef KS_UNITNAME_H
#define KS_UNITNAME_H

#include <stddef.h>
#include <sys/types.h>

#define KS_UNIT_NAME_MAX 255 /* systemd's limit, without the NUL */

/* Escapes s as systemd-escape does for a unit name component: '/' becomes
 * '-', a leading '.', '-', '\\' and anything outside [A-Za-z0-9:_.] become
 * \xNN. Returns the length written, or -ENAMETOOLONG if it does not fit. */
int ks_unit_name_escape(const char *s, char *buf, size_t size);

/* "keepsession-<user>-<program>-<pid>.scope", escaped. Over-long user or
 * program names are shortened so the result always fits KS_UNIT_NAME_MAX.
 * Returns the length, or a negative errno. */
int ks_scope_name(const char *user, const char *program, pid_t pid, char *buf, size_t size);

/* Is s a valid slice unit name ("foo-bar.slice")? Returns 1 or 0. As
 * systemd decides, except that the root "-.slice" is refused. "%U" must
 * be expanded before: '%' is not a unit name character. */
int ks_slice_name_valid(const char *s);

#endif
