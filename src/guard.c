/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The stop guard's decision (see ks_guard.h). Order matters for cost: a
 * host where no session ran the module has no record at all and the guard
 * ends before any bus traffic; a session without a record ends after one
 * look-up at logind; the user's opt-in file, the manager and the keeper
 * are reached only for the module's own sessions.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ks_cleanup.h"
#include "ks_failpolicy.h"
#include "ks_guard.h"
#include "ks_mover.h"
#include "ks_optin_fork.h"
#include "ks_procfs.h"
#include "ks_record.h"
#include "ks_unitname.h"

void ks_session_info_free(struct ks_session_info *s)
{
	free(s->scope);
	s->scope = NULL;
}

/* The leader's start time now, or 0 when it is gone. */
static unsigned long long leader_starttime(const struct ks_guard_io *io, pid_t leader)
{
	unsigned long long starttime;
	uid_t owner;

	if (ks_proc_identity(io->proc_root, leader, &starttime, &owner) < 0)
		return 0;
	return starttime;
}

/* One sweep's state: the sessions' leaders are read once, when a record
 * first needs them. */
struct sweep_ctx {
	const struct ks_guard_io *io;
	uint64_t deadline;
	pid_t *leaders; /* sorted */
	size_t n_leaders;
	int leaders_read; /* 0: not yet, 1: read, -1: cannot tell */
};

static int pid_cmp(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

/* Does a session of logind name leader as its leader? true when it cannot
 * tell: a record is removed only when surely stale. */
static bool leader_has_session(struct sweep_ctx *sw, pid_t leader)
{
	if (sw->leaders_read == 0) {
		sw->leaders = calloc(KS_GUARD_MAX_SESSIONS, sizeof(*sw->leaders));
		sw->leaders_read = -1;
		if (sw->leaders &&
		    sw->io->session_leaders(sw->io->ctx, sw->leaders, KS_GUARD_MAX_SESSIONS,
					    &sw->n_leaders) >= 0) {
			qsort(sw->leaders, sw->n_leaders, sizeof(*sw->leaders), pid_cmp);
			sw->leaders_read = 1;
		}
	}
	if (sw->leaders_read < 0)
		return true;
	return bsearch(&leader, sw->leaders, sw->n_leaders, sizeof(*sw->leaders), pid_cmp);
}

/* A record is stale when no session is led by its pid and none ever will
 * be: its writer is gone (the session ended without a guard run: the
 * guard was installed meanwhile, the session was gone before its guard
 * looked, a crash), or it is older than any session it could match. The
 * cheap checks come first: a young record of a running writer is kept
 * without asking about sessions. Past the deadline the sweep stops. */
static int record_stale(void *ctx, const struct ks_record *rec)
{
	struct sweep_ctx *sw = ctx;
	uint64_t now = ks_now_usec();
	bool young;

	if (now >= sw->deadline)
		return -ETIMEDOUT;
	young = rec->created_usec <= now && now - rec->created_usec <= KS_RECORD_MAX_LAG_USEC;
	if (young && leader_starttime(sw->io, rec->leader) == rec->starttime)
		return 0;
	return !leader_has_session(sw, rec->leader);
}

static void sweep(const struct ks_guard_io *io, uint64_t deadline, const struct ks_log *log)
{
	struct sweep_ctx sw = { .io = io, .deadline = deadline };
	int r = ks_record_sweep(io->record_dir, io->trusted_owner, record_stale, &sw);

	free(sw.leaders);
	if (r > 0)
		ks_log(log, LOG_DEBUG, "removed %d stale session record(s)", r);
}

/* Is the user stopped as a whole? Asked through the seam,
 * ks_user_stopping() in production. */
static int user_stopping(const struct ks_guard_io *io, uid_t uid, uint64_t deadline, char *unit,
			 size_t size)
{
	return io->user_stopping(io->ctx, uid, deadline, unit, size);
}

/* Escaped user names longer than this may be shortened in scope names.
 * ks_scope_name() gives a shortened user at least half its budget (255
 * less the fixed parts with a 10-digit pid: 225 / 2 = 112 bytes) and cuts
 * only between whole characters, which loses up to one UTF-8 character
 * of four escapes (15 bytes): at least 97 bytes remain. */
#define KEPT_USER_PREFIX_MAX 96

/* The glob matching the user's kept scopes, "keepsession-<user>-*.scope"
 * with the user escaped as in their names. PID 1 matches with
 * FNM_NOESCAPE, so the escapes' '\' stand for themselves; an escaped name
 * holds no other glob character. */
static int kept_pattern(const char *user, char *buf, size_t size)
{
	/* Escaped whole before it is cut: up to four bytes per byte of a
	 * user name of up to 255 bytes. */
	char escaped[4 * KS_UNIT_NAME_MAX + 1];
	int n;

	n = ks_unit_name_escape(user, escaped, sizeof(escaped));
	if (n < 0)
		return n;
	if (n > KEPT_USER_PREFIX_MAX)
		escaped[KEPT_USER_PREFIX_MAX] = '\0';
	/* A shortened name has no '-' right after the part kept. */
	if (snprintf(buf, size, "keepsession-%s%s", escaped,
		     n > KEPT_USER_PREFIX_MAX ? "*.scope" : "-*.scope") >= (int)size)
		return -ENAMETOOLONG;
	return 0;
}

/* Does the slice setting give every uid its own slice ("%U" in it, or the
 * default user-UID.slice)? Then the Slice of a unit tells whose it is. */
static bool slice_per_user(const char *slice)
{
	if (!slice)
		return true;
	for (const char *p = slice; *p; p++) {
		if (*p != '%')
			continue;
		if (p[1] == 'U')
			return true;
		if (p[1] == '\0')
			break;
		p++; /* "%%": one '%' */
	}
	return false;
}

/* What a unit's name must start with to be surely the user's when the
 * slice is shared: "keepsession-<user>-", the user unshortened. The
 * pattern alone may match another user's scope when the name was cut. */
static int owned_prefix(const char *user, char *buf, size_t size)
{
	char escaped[KS_UNIT_NAME_MAX + 1];
	int n;

	n = ks_unit_name_escape(user, escaped, sizeof(escaped));
	if (n < 0)
		return n;
	if (snprintf(buf, size, "keepsession-%s-", escaped) >= (int)size)
		return -ENAMETOOLONG;
	return 0;
}

bool ks_guard_unit_owned(const char *unit, const char *prefix)
{
	return !prefix || strncmp(unit, prefix, strlen(prefix)) == 0;
}

/* terminate-user: nothing of this session is kept, and the kept scopes of
 * the user (in the slice the module puts them in) are stopped. Every
 * guard of the user's sessions does this; repeated stops merge. */
static void stop_user(const char *id, const struct ks_config *c, const char *user, uid_t uid,
		      const char *unit, uint64_t deadline, const struct ks_guard_io *io,
		      const struct ks_log *log)
{
	const struct ks_scope_request req = { .slice = c->slice, .uid = uid };
	char pattern[KS_UNIT_NAME_MAX + 32], prefix[KS_UNIT_NAME_MAX + 32],
		slice[KS_UNIT_NAME_MAX + 1];
	const bool per_user = slice_per_user(c->slice);
	unsigned stopped = 0, skipped = 0;
	int r;

	r = kept_pattern(user, pattern, sizeof(pattern));
	if (r >= 0 && !per_user)
		r = owned_prefix(user, prefix, sizeof(prefix));
	if (r >= 0)
		r = ks_default_slice(&req, slice, sizeof(slice));
	if (r >= 0)
		r = io->stop_units(io->ctx, pattern, slice, per_user ? NULL : prefix, deadline,
				   &stopped, &skipped);
	ks_fail_log(
		log, KS_FAIL_TERMINATE_USER,
		"user %s is being stopped (stop job on %s): nothing kept from session %s, %u kept "
		"scope(s) stopped, %u left (not surely the user's)",
		user, unit, id, stopped, skipped);
	if (r < 0)
		ks_fail_log(log, KS_FAIL_KEPT_STOP_FAILED,
			    "cannot stop every kept scope of user %s: %s", user, strerror(-r));
}

/* The configuration the session's module loaded, its timeout counted
 * from the guard's start (*deadline). false, said in one line, when
 * nothing can be kept. */
static bool record_config(const char *id, uint64_t start, const struct ks_record *rec,
			  const struct ks_guard_io *io, struct ks_config *c, struct ks_log *l,
			  uint64_t *deadline)
{
	uint64_t now;

	/* The file and the module's arguments, exactly as the module loads
	 * them; problems were already reported at login, once more is fine. */
	if (ks_config_load(c, (int)rec->args.n, (const char **)rec->args.v, io->trusted_owner, l) <
	    0) {
		ks_fail_log(l, KS_FAIL_CONFIG_NOMEM, "out of memory");
		return false;
	}
	l->debug = l->debug || c->debug;
	c->when = KS_WHEN_ALWAYS;
	*deadline = start + c->timeout_usec;
	now = ks_now_usec();
	if (now >= *deadline) {
		ks_fail_log(l, KS_FAIL_NO_TIME_LEFT, "no time left to keep anything of session %s",
			    id);
		return false;
	}
	c->timeout_usec = *deadline - now;
	return true;
}

/* The eligibility seam's may_hold, on the scope's cgroup. */
struct guard_hold {
	const struct ks_guard_io *io;
	const char *cgroup;
	uint64_t deadline;
};

static int guard_may_hold(void *ctx, const struct ks_strlist *programs)
{
	const struct guard_hold *h = ctx;

	return h->io->may_hold(h->io->ctx, h->cgroup, programs, h->deadline);
}

/* The module's decision for the session's user, then the keeper. */
static enum ks_guard_outcome keep_eligible(const char *id, const struct ks_session_info *s,
					   const struct ks_config *c, const char *name,
					   const char *cgroup, uint64_t deadline,
					   const struct ks_guard_io *io, const struct ks_log *l)
{
	_cleanup_(ks_strlist_clear) struct ks_strlist programs = { 0 };
	const struct ks_optin_fork reader = { .timeout_usec = c->timeout_usec };
	struct guard_hold hold = { .io = io, .cgroup = cgroup, .deadline = deadline };
	const struct ks_eligibility_io eio = {
		.lookup_user = io->lookup_user,
		.in_group = io->in_group,
		.ctx = io->ctx,
		.read_optin = io->read_optin,
		.optin_ctx = (void *)&reader,
		.may_hold = io->may_hold ? guard_may_hold : NULL,
		.hold_ctx = &hold,
	};
	struct ks_user u;

	if (!ks_eligible(c, name, &eio, &u, &programs, l))
		return KS_GUARD_NOT_KEPT;
	/* The canonical entry of the name must still be the session's user. */
	if (u.uid != s->uid) {
		ks_fail_log(l, KS_FAIL_USER_CHANGED,
			    "user %s of session %s is uid %u now, not %u: nothing kept", u.name, id,
			    (unsigned)u.uid, (unsigned)s->uid);
		return KS_GUARD_FAILED;
	}
	{
		const struct ks_keep_target t = {
			.user = u.name,
			.uid = u.uid,
			.session_id = id,
			.programs = &programs,
			.logind_kills = ks_policy_logind_kills,
		};

		(void)io->keep(io->ctx, c, &t, cgroup, l);
	}
	return KS_GUARD_KEPT;
}

/* What the stop is (shutdown, terminate-user, a scope already empty) and
 * what the logout kept already, before the decision for the user. */
static enum ks_guard_outcome keep_session_with(const char *id, const struct ks_session_info *s,
					       const struct ks_record *rec, struct ks_config *c,
					       uint64_t deadline, const struct ks_guard_io *io,
					       const struct ks_log *l)
{
	_cleanup_(freep) char *cgroup = NULL;
	char name[256], unit[64];
	int r;

	if (io->system_stopping(io->ctx, deadline)) {
		ks_log(l, LOG_DEBUG, "the system is shutting down: nothing kept from session %s",
		       id);
		return KS_GUARD_NOT_KEPT;
	}
	/* After a logout the module kept what there was and the scope
	 * emptied: systemd has released its cgroup. Nothing to read then. */
	r = io->scope_cgroup(io->ctx, s->scope, deadline, &cgroup);
	if (r == -ENOENT) {
		ks_log(l, LOG_DEBUG, "no process left in %s: nothing to keep", s->scope);
		return KS_GUARD_NOT_KEPT;
	}
	if (r < 0) {
		ks_fail_log(l, KS_FAIL_CGROUP_UNKNOWN,
			    "cannot find the cgroup of %s, nothing kept: %s", s->scope,
			    strerror(-r));
		return KS_GUARD_FAILED;
	}
	r = io->user_name(io->ctx, s->uid, name, sizeof(name));
	if (r < 0) {
		ks_fail_log(l, KS_FAIL_USER_LOOKUP, "cannot look up uid %u of session %s: %s",
			    (unsigned)s->uid, id, strerror(-r));
		return KS_GUARD_FAILED;
	}
	/* Admins keep the last word: terminate-user leaves nothing of the
	 * user. When the manager cannot tell, the session is kept as on any
	 * other stop: a missed terminate-user leaves a scope an admin can
	 * stop, a wrong one would take a tmux at an ordinary logout. */
	r = user_stopping(io, s->uid, deadline, unit, sizeof(unit));
	if (r > 0) {
		stop_user(id, c, name, s->uid, unit, deadline, io, l);
		return KS_GUARD_NOT_KEPT;
	}
	if (r < 0)
		ks_fail_log(l, KS_FAIL_STOP_UNKNOWN,
			    "cannot tell whether user %s is being stopped (%s), keeping as for a "
			    "logout",
			    name, strerror(-r));
	/* max_trees caps the session, not each hook: what the module's
	 * close kept counts (0 when it kept nothing, failed or never ran). */
	if (rec->kept >= c->max_trees) {
		ks_log(l, LOG_DEBUG,
		       "the logout kept %u tree(s) of session %s, max_trees = %u: nothing more "
		       "kept",
		       rec->kept, id, c->max_trees);
		return KS_GUARD_NOT_KEPT;
	}
	c->max_trees -= rec->kept;
	return keep_eligible(id, s, c, name, cgroup, deadline, io, l);
}

/* The module's decision and the keeper, for a session whose record
 * matched. */
static enum ks_guard_outcome keep_session(const char *id, uint64_t start,
					  const struct ks_session_info *s,
					  const struct ks_record *rec, const struct ks_guard_io *io,
					  const struct ks_log *log)
{
	enum ks_guard_outcome outcome = KS_GUARD_FAILED;
	struct ks_log l = *log;
	struct ks_config c;
	uint64_t deadline;

	if (ks_config_init(&c) < 0) {
		ks_fail_log(log, KS_FAIL_CONFIG_NOMEM, "out of memory");
		return KS_GUARD_FAILED;
	}
	if (record_config(id, start, rec, io, &c, &l, &deadline))
		outcome = keep_session_with(id, s, rec, &c, deadline, io, &l);
	ks_config_free(&c);
	return outcome;
}

enum ks_guard_outcome ks_guard_run(const char *id, uint64_t start, const struct ks_guard_io *io,
				   const struct ks_log *log)
{
	enum ks_guard_outcome outcome;
	struct ks_session_info s = { 0 };
	struct ks_record rec;
	int r;

	/* No record at all: no session of the module runs on this host. */
	if (!ks_record_any(io->record_dir, io->trusted_owner))
		return KS_GUARD_NO_RECORD;

	r = io->lookup_session(io->ctx, id, start + KS_GUARD_LOOKUP_USEC, &s);
	if (r == -ENXIO) {
		/* logind finalized it first: its scope emptied (a logout the
		 * module handled), so nothing is left to keep. Its record,
		 * if any, goes with the sweep. */
		ks_log(log, LOG_DEBUG, "session %s is gone: nothing to keep", id);
		sweep(io, start + KS_GUARD_LOOKUP_USEC, log);
		return KS_GUARD_NO_RECORD;
	}
	if (r < 0) {
		ks_fail_log(log, KS_FAIL_SESSION_LOOKUP,
			    "cannot look up session %s, nothing kept: %s", id, strerror(-r));
		return KS_GUARD_FAILED;
	}
	r = ks_record_read(io->record_dir, s.leader, io->trusted_owner, &rec);
	if (r == -ENOENT) {
		outcome = KS_GUARD_NO_RECORD;
		goto out;
	}
	if (r < 0) {
		ks_fail_log(log, KS_FAIL_RECORD_UNUSABLE,
			    "removing the unusable record of session %s (leader %d): %s", id,
			    (int)s.leader, strerror(-r));
		(void)ks_record_remove(io->record_dir, s.leader);
		outcome = KS_GUARD_NOT_OURS;
		goto out;
	}
	if (!ks_record_matches(&rec, s.leader, s.uid, s.timestamp_usec, io->proc_root)) {
		ks_log(log, LOG_DEBUG, "the record of pid %d is not session %s's", (int)s.leader,
		       id);
		outcome = KS_GUARD_NOT_OURS;
	} else {
		outcome = keep_session(id, start, &s, &rec, io, log);
		/* Records never outlive their session: this one ends now. */
		(void)ks_record_remove(io->record_dir, s.leader);
	}
	ks_record_free(&rec);
out:
	sweep(io, start + KS_GUARD_LOOKUP_USEC, log);
	ks_session_info_free(&s);
	return outcome;
}
