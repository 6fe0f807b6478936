/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The stop guard's decision when a session scope stops: whether the
 * module's session is kept, handed to the keeper, or left to stop. */
#ifndef KS_GUARD_H
#define KS_GUARD_H

#include <pwd.h>
#include <stdint.h>
#include <sys/types.h>

#include "ks_config.h"
#include "ks_eligibility.h"
#include "ks_keeper.h"
#include "ks_log.h"
#include "ks_logind.h"
#include "ks_mover.h"

/*
 * The stop guard's decision: systemd runs keepsession-guard SESSION_ID
 * while it stops the session's scope (idle stop, terminate-session, a dead
 * sshd, a logout), with every process of the session still inside. The
 * guard acts only for a session whose PAM stack ran the module (its
 * record, ks_record.h), with the module's arguments, the same eligibility
 * and the same keeper; `when` does not apply: the scope is being stopped,
 * everything in it dies. Admins keep the last word: when the user is
 * stopped as a whole (loginctl terminate-user), nothing is kept and the
 * user's kept scopes are stopped too. Every outside thing is a seam, so
 * that this runs in tests without root, logind or a manager.
 */

/* What logind says about the session. */
struct ks_session_info {
	uid_t uid;
	pid_t leader;            /* 0: none */
	uint64_t timestamp_usec; /* creation, CLOCK_MONOTONIC */
	char *scope;             /* "session-N.scope" */
};

void ks_session_info_free(struct ks_session_info *s);

/* Bound on the session and scope look-ups, before the configuration (and
 * its timeout) is known: they are two or three bus round trips. */
#define KS_GUARD_LOOKUP_USEC (2 * KS_USEC_PER_SEC)

/* Kept scopes of one user stopped by one guard run, at most: a bound on
 * a hostile number of units, far above any real user's. */
#define KS_GUARD_MAX_SCOPE_STOPS 4096

/* Sessions' leaders read for one sweep of stale records; a host has far
 * fewer sessions. With more, no record is judged stale by its session. */
#define KS_GUARD_MAX_SESSIONS 4096

struct ks_guard_io {
	const char *record_dir; /* KS_RECORD_DIR */
	const char *proc_root;  /* "/proc" */
	uid_t trusted_owner;    /* of the records and the config file: root */
	/* logind's view of the session, within deadline; -ENXIO when logind
	 * knows no such session (any more). */
	int (*lookup_session)(void *ctx, const char *id, uint64_t deadline,
			      struct ks_session_info *s);
	/* The scope's cgroup path (ControlGroup), within deadline; -ENOENT
	 * when it has none (emptied: systemd released it). */
	int (*scope_cgroup)(void *ctx, const char *scope, uint64_t deadline, char **cgroup);
	/* Is the system shutting down (the manager's SystemState is
	 * "stopping")? Then nothing is kept: every scope goes. false when it
	 * cannot tell. */
	bool (*system_stopping)(void *ctx, uint64_t deadline);
	/* Is the user stopped as a whole: a stop job queued on one of its
	 * units? 1 with that unit in unit, 0, or -errno: ks_user_stopping()
	 * (ks_logind.h) on the manager in production. */
	int (*user_stopping)(void *ctx, uid_t uid, uint64_t deadline, char *unit, size_t size);
	/* StopUnit(name, "replace") of every active, activating or reloading
	 * unit matching the glob pattern (PID 1's, FNM_NOESCAPE) whose Slice
	 * is slice and, unless prefix is NULL, which ks_guard_unit_owned()
	 * (a shared slice: the name must prove the owner), at most
	 * KS_GUARD_MAX_SCOPE_STOPS, without waiting for the jobs; *stopped
	 * counts the stop jobs queued, *skipped the units matching the
	 * pattern left for their name. 0, or the first -errno (the others
	 * are still tried). Within deadline. */
	int (*stop_units)(void *ctx, const char *pattern, const char *slice, const char *prefix,
			  uint64_t deadline, unsigned *stopped, unsigned *skipped);
	/* The name of uid (getpwuid_r) into buf: 0, or -errno (-ENOENT: no
	 * such user). */
	int (*user_name)(void *ctx, uid_t uid, char *buf, size_t size);
	/* The leaders of logind's sessions, at most max of them, into
	 * leaders (*n of them), for the sweep of stale records: read once
	 * per sweep. 0, -E2BIG when there are more, or -errno. */
	int (*session_leaders)(void *ctx, pid_t *leaders, size_t max, size_t *n);
	/* The decision's seams (ks_eligibility.h), with ctx. read_optin gets
	 * a const struct ks_optin_fork * bound by the configured timeout as
	 * its ctx: ks_optin_read_forked() in production. */
	ks_user_lookup_fn lookup_user;
	ks_in_group_fn in_group;
	ks_optin_reader_fn read_optin;
	/* May the scope's cgroup hold a process running one of programs,
	 * within deadline? ks_session_may_hold() in production: 1 (or cannot
	 * tell), 0 (certainly not: the opt-in file is not read). NULL: it
	 * is always read. */
	int (*may_hold)(void *ctx, const char *cgroup, const struct ks_strlist *programs,
			uint64_t deadline);
	/* ks_keep() over the scope's cgroup. */
	int (*keep)(void *ctx, const struct ks_config *c, const struct ks_keep_target *t,
		    const char *cgroup, const struct ks_log *log);
	void *ctx;
};

enum ks_guard_outcome {
	KS_GUARD_NO_RECORD, /* not a session of the module: nothing done */
	KS_GUARD_NOT_OURS,  /* a record, but not this session's */
	KS_GUARD_NOT_KEPT,  /* the module's session; nobody kept */
	KS_GUARD_KEPT,      /* the keeper ran (it logs what it kept) */
	KS_GUARD_FAILED,    /* logged; nothing kept */
};

/* The guard's whole run for session id, bounded by the configured timeout
 * from start (CLOCK_MONOTONIC usec). The matched record is removed however
 * it ends, and stale ones are swept until KS_GUARD_LOOKUP_USEC from start
 * (the rest on a later run). */
/* Is unit surely the kept scope of the user whose unshortened name
 * prefix ("keepsession-<escaped user>-") is prefix? true for a NULL
 * prefix: the slice is the user's own. */
bool ks_guard_unit_owned(const char *unit, const char *prefix);

enum ks_guard_outcome ks_guard_run(const char *id, uint64_t start, const struct ks_guard_io *io,
				   const struct ks_log *log);

#endif
