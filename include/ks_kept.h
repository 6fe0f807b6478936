/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef KS_KEPT_H
#define KS_KEPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

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

/* ListUnitsByPatterns(["active", "activating", "deactivating"],
 * [KS_KEPT_PATTERN]), then each unit's Description, ControlGroup,
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
