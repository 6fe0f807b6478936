/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The kept scopes (keepsession-*.scope) as systemd knows them: their
 * names, owners and properties, listing and stopping them. */
#ifndef KS_KEPT_H
#define KS_KEPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

#include "ks_unitname.h"

/*
 * The kept scopes, as systemd knows them, for keepsession list and
 * release: only units named keepsession-*.scope, read over a bus the
 * caller opened, every call bounded by one CLOCK_MONOTONIC deadline.
 */

#define KS_KEPT_PATTERN "keepsession-*.scope"
#define KS_KEPT_MAX 4096 /* units listed at most */

struct ks_kept_scope {
	char *unit;
	char *object_path;         /* systemd's D-Bus object of the unit */
	char *user;                /* from the Description the module wrote; NULL if foreign */
	char *program;             /* idem */
	char *session;             /* idem */
	char *cgroup;              /* ControlGroup, or NULL */
	char *slice;               /* Slice, or NULL */
	pid_t pid;                 /* from the unit name; 0 if it has none */
	uint64_t since_usec;       /* ActiveEnterTimestamp, CLOCK_REALTIME; 0: unknown */
	uint64_t runtime_max_usec; /* RuntimeMaxUSec; UINT64_MAX: no limit */
};

struct ks_kept_list {
	struct ks_kept_scope *v;
	size_t n;
};

/* Is name one of ours: "keepsession-" ... ".scope", unit name characters
 * only, at most 255 bytes? */
bool ks_kept_unit_name_valid(const char *name);

/* The pid at the end of "keepsession-<user>-<program>-<pid>.scope", or 0. */
pid_t ks_kept_unit_pid(const char *name);

/* Parses "<program> of user <user> kept from session <id> by
 * pam_keepsession". Returns 0 and malloc'd strings, -EINVAL when the text
 * has another shape, or -ENOMEM. */
int ks_kept_parse_description(const char *desc, char **program, char **user, char **session);

enum ks_kept_owner {
	KS_KEPT_NOT_OWNED,    /* another user's, or not a name the module gives */
	KS_KEPT_OWNED,        /* the user's */
	KS_KEPT_OWNED_UNSURE, /* the name may be the user's, cut short, or that of a
			       * longer name cut to the same part: the uid must tell */
};

/* Names a module gave and shortened (ks_scope_name()) are at least this
 * long: each part cut falls short of its share by less than one escaped
 * 4-byte UTF-8 character (16 bytes). */
#define KS_KEPT_SHORTENED_MIN (KS_UNIT_NAME_MAX - 2 * 15)
/* ... and a user part cut keeps at least half of what the name leaves to
 * user and program (255 - 30 with a 10-digit pid), less 15. */
#define KS_KEPT_SHORTENED_USER_MIN ((KS_UNIT_NAME_MAX - 30) / 2 - 15)

/*
 * Whose is the kept scope unit, by its name "keepsession-<user>-<program>-
 * <pid>.scope" alone: the user part is read from the right (the program
 * part holds no '-') and compared with user escaped as the module escapes
 * it. The Description is display text only: the module sanitizes it.
 */
enum ks_kept_owner ks_kept_unit_owner(const char *unit, const char *user);

/*
 * As ks_kept_unit_owner(), and where the name cannot tell, the scope's
 * Slice can: "user-<uid>.slice" (the default) is user's. uid is
 * (uid_t)-1 for a user without a passwd entry.
 */
enum ks_kept_owner ks_kept_scope_owner(const struct ks_kept_scope *s, const char *user, uid_t uid);

/* ListUnitsByPatterns(["active", "activating", "deactivating"],
 * [KS_KEPT_PATTERN]), then each unit's Description, ControlGroup, Slice,
 * ActiveEnterTimestamp and RuntimeMaxUSec. Units whose name is not ours
 * are skipped. Returns the number listed, or -errno. */
int ks_kept_list(sd_bus *bus, uint64_t deadline, struct ks_kept_list *out);

void ks_kept_list_free(struct ks_kept_list *l);

/* StopUnit(unit, "replace"), refused (-EINVAL) for a name that is not ours.
 * Returns 0 or -errno; *error gets systemd's message on failure. */
int ks_kept_stop(sd_bus *bus, uint64_t deadline, const char *unit, sd_bus_error *error);

/* Processes in <cgroup_root><cgroup>/cgroup.procs, counted up to a bound
 * (65536). Returns the count or -errno. */
long ks_kept_count_procs(const char *cgroup_root, const char *cgroup);

#endif
