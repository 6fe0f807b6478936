/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit names: escaping a user's and a program's name into a scope's, and
 * the one rule for a slice template ("user-%U.slice"), checked and expanded. */
#ifndef KS_UNITNAME_H
#define KS_UNITNAME_H

#include <stdbool.h>
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

/*
 * A slice template: a slice name in which "%U" stands for the uid. No other
 * '%' and no '\\' escape: admins name slices plainly. It is valid when it
 * expands to a valid slice name for every uid, i.e. with the longest one
 * (4294967295) in place of each "%U"; since digits never make a name
 * invalid, a valid template then expands validly for any uid.
 */
bool ks_slice_template_valid(const char *template);

/* Expands "%U" in a template to uid, into buf. Returns the length, or
 * -EINVAL / -ENAMETOOLONG (too long for a unit name, or for buf) for a
 * template ks_slice_template_valid() refuses or a buf too small. */
int ks_slice_expand(const char *template, uid_t uid, char *buf, size_t size);

#endif
