/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pam_keepsession: keep terminal multiplexers alive across logout on hosts
 * where logind kills the processes of a closing session.
 *
 * This file is the PAM glue only: it loads the configuration, decides who
 * is kept (the opt-in file read by a child with the user's privileges), and
 * hands the close_session work to the keeper. Neither hook ever fails a
 * login or a logout: PAM_SUCCESS when the work was done or there was none,
 * PAM_IGNORE where the module does not apply.
 */
#include <errno.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <security/pam_modutil.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-login.h>

#include "ks_cleanup.h"
#include "ks_config.h"
#include "ks_eligibility.h"
#include "ks_failpolicy.h"
#include "ks_keeper.h"
#include "ks_log.h"
#include "ks_bus.h"
#include "ks_optin.h"
#include "ks_optin_fork.h"
#include "ks_policy.h"
#include "ks_cgroup.h"
#include "ks_procfs.h"
#include "ks_proctree.h"
#include "ks_record.h"

/* Where make install puts the stop guard (the Makefile passes its path). */
#ifndef KS_GUARD_PROGRAM
#define KS_GUARD_PROGRAM "/usr/libexec/pam_keepsession/keepsession-guard"
#endif

/* Everything is built with -fvisibility=hidden; only the PAM entry points
 * are exported (the version script pam_keepsession.map says the same). */
#define KS_EXPORT __attribute__((visibility("default")))

/* What open_session found, for close_session (pam_set_data). */
#define KS_DATA_STATE "pam_keepsession_state"

enum open_state {
	STATE_FRESH = 1, /* this handle opened a new logind session: ours to act on */
	STATE_NESTED,    /* already inside a session (su, sudo in an ssh login) */
	STATE_MISPLACED, /* pam_systemd ran before us: cannot work */
};

static void pam_sink(void *ctx, int priority, const char *message)
{
	pam_syslog(ctx, priority, "%s", message);
}

/* Whether the configuration may be acted on. Out of memory, nothing may,
 * not even a half-loaded configuration: one line, and false. */
static bool load_config(pam_handle_t *pamh, int argc, const char **argv, struct ks_config *c,
			struct ks_log *log)
{
	*log = (struct ks_log){ .sink = pam_sink, .ctx = pamh };
	if (ks_config_init(c) < 0 || ks_config_load(c, argc, argv, 0, log) < 0) {
		ks_config_free(c);
		ks_fail_log(log, KS_FAIL_CONFIG_NOMEM,
			    "out of memory loading the configuration: nothing kept");
		return false;
	}
	log->debug = c->debug;
	return true;
}

static int lookup_user(void *ctx, const char *name, struct ks_user *u)
{
	const struct passwd *pw = pam_modutil_getpwnam(ctx, name);

	if (!pw)
		return -ENOENT;
	*u = (struct ks_user){
		.name = pw->pw_name,
		.uid = pw->pw_uid,
		.gid = pw->pw_gid,
		.home = pw->pw_dir,
	};
	return 0;
}

static enum ks_membership in_group(void *ctx, const struct ks_user *u, const char *group)
{
	return ks_policy_membership(pam_modutil_getgrnam(ctx, group), u);
}

/* Is the stop guard installed? Without it only logouts are covered; said
 * once per process, at debug level: a host may well not want it. */
static bool guard_installed(const struct ks_log *log)
{
	static bool said;

	if (access(KS_GUARD_PROGRAM, X_OK) == 0)
		return true;
	if (!said && log)
		ks_log(log, LOG_DEBUG,
		       "the stop guard %s is not installed: only logouts are covered",
		       KS_GUARD_PROGRAM);
	said = true;
	return false;
}

/* Leaves the session's record for the stop guard (ks_record.h): this
 * process is about to become the session's leader when pam_systemd, after
 * us, creates it. */
static void leave_record(pam_handle_t *pamh, int argc, const char **argv, const struct ks_log *log)
{
	struct ks_record rec = { .leader = getpid(), .created_usec = ks_now_usec() };
	const char *user = NULL;
	struct ks_user u;
	uid_t owner;
	int r;

	if (pam_get_item(pamh, PAM_USER, (const void **)&user) != PAM_SUCCESS || !user || !*user)
		return;
	if (lookup_user(pamh, user, &u) < 0) {
		ks_fail_log(log, KS_FAIL_USER_LOOKUP, "cannot look up user %s", user);
		return;
	}
	rec.uid = u.uid;
	r = ks_proc_identity("/proc", rec.leader, &rec.starttime, &owner);
	for (int i = 0; r >= 0 && i < argc; i++)
		r = ks_strlist_add(&rec.args, argv[i], strlen(argv[i]));
	if (r >= 0)
		r = ks_record_write(KS_RECORD_DIR, &rec, 0);
	if (r < 0)
		ks_fail_log(log, KS_FAIL_RECORD_UNWRITABLE,
			    "cannot leave the record for the stop guard, only a logout keeps: %s",
			    strerror(-r));
	ks_record_free(&rec);
}

/* Tells the stop guard how many trees this logout kept, so that the two
 * together keep at most max_trees of the session (ks_record.h). A
 * failure leaves the count at 0: the guard may then keep max_trees more. */
static void note_kept(const char *session_id, unsigned kept, const struct ks_log *log)
{
	int r = ks_record_set_kept(KS_RECORD_DIR, getpid(), 0, kept);

	if (r < 0 && r != -ENOENT)
		ks_fail_log(
			log, KS_FAIL_KEPT_UNNOTED,
			"cannot note the %u tree(s) kept from session %s for the stop guard: %s",
			kept, session_id, strerror(-r));
}

KS_EXPORT int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	enum open_state state = STATE_FRESH;
	char *outer = NULL;
	struct ks_config c;
	struct ks_log log;

	(void)flags;
	if (sd_booted() <= 0)
		return PAM_IGNORE;

	/* Loading here is what validates the configuration at login, so an
	 * admin sees a broken line before the first logout that needs it. */
	if (!load_config(pamh, argc, argv, &c, &log))
		return PAM_IGNORE;

	if (pam_getenv(pamh, "XDG_SESSION_ID")) {
		ks_fail_log(&log, KS_FAIL_MISPLACED,
			    "pam_systemd ran before pam_keepsession: nothing can be kept; "
			    "place pam_keepsession before the line that brings in pam_systemd");
		state = STATE_MISPLACED;
	} else if (sd_pid_get_session(0, &outer) >= 0) {
		ks_log(&log, LOG_DEBUG, "already inside session %s: nested, nothing kept", outer);
		state = STATE_NESTED;
	}
	free(outer);
	if (state == STATE_FRESH && guard_installed(&log))
		leave_record(pamh, argc, argv, &log);
	ks_config_free(&c);

	if (pam_set_data(pamh, KS_DATA_STATE, (void *)(uintptr_t)state, NULL) != PAM_SUCCESS) {
		ks_fail_log(&log, KS_FAIL_STATE_UNRECORDED,
			    "cannot record the session state: the logout keeps nothing");
		return PAM_IGNORE;
	}
	return PAM_SUCCESS;
}

/* Where the closing session's processes are, found once when first
 * needed: by the cheap check before the opt-in read, or by keep(). */
struct session_place {
	enum ks_cgroup_mode mode;
	char root[4096];
	char *cgroup;
	bool located;
	int r;
	const char *failed; /* what could not be found, when r < 0 */
	uint64_t deadline;  /* of the cheap check */
};

/* sshd runs the close inside the session's own scope. Returns 0 or the
 * -errno of p->failed, the same on every call. */
static int locate_session(struct session_place *p)
{
	if (p->located)
		return p->r;
	p->located = true;
	p->r = ks_cgroup_mode_detect("/sys/fs/cgroup", &p->mode, p->root, sizeof(p->root));
	if (p->r < 0) {
		p->failed = "cannot tell how systemd tracks processes";
		return p->r;
	}
	p->r = ks_proc_cgroup("/proc", "self", p->mode, &p->cgroup);
	if (p->r < 0)
		p->failed = "cannot read the session's cgroup";
	return p->r;
}

/* A ks_may_hold_fn: a session that cannot be located may hold anything;
 * keep() reports it. */
static int session_may_hold(void *ctx, const struct ks_strlist *programs)
{
	struct session_place *p = ctx;

	if (locate_session(p) < 0)
		return 1;
	const struct ks_scan scan = {
		.proc_root = "/proc",
		.cgroup_root = p->root,
		.cgroup = p->cgroup,
		.programs = programs,
		.deadline = p->deadline,
	};
	return ks_session_may_hold(&scan);
}

/* What a close decides and keeps with: where the session is, and the
 * connections to systemd begun while the opt-in file is read. */
struct close_run {
	struct ks_config *c;
	const struct ks_log *log;
	const char *session_id;
	struct session_place place;
	const struct ks_user *likely; /* the user, once may_hold said so */
	struct ks_keep_early *early;
};

/* The buses a keep opens; its session and target come from the run. */
static const struct ks_keep_io bus_io = {
	.open_manager = ks_bus_open_manager_io,
	.open_logind = ks_bus_open_logind_io,
};

static struct ks_keep_target keep_target(const struct close_run *run, const struct ks_user *u,
					 const struct ks_strlist *programs)
{
	return (struct ks_keep_target){
		.user = u->name,
		.uid = u->uid,
		.session_id = run->session_id,
		.programs = programs,
		.logind_kills = ks_policy_logind_kills,
	};
}

/* The session runs one of the admin's programs: the keep is likely. */
static void note_likely(void *ctx, const struct ks_user *u)
{
	struct close_run *run = ctx;

	run->likely = u;
}

/* While the opt-in file is read, when the keep is likely: systemd is asked
 * meanwhile. A failure here is met again, and said, by the keep, which
 * then connects after its scan. */
static void begin_early(void *ctx, uint64_t until)
{
	struct close_run *run = ctx;

	if (!run->likely || run->early)
		return;
	const struct ks_keep_target t = keep_target(run, run->likely, NULL);

	(void)ks_keep_early(run->c, &t, &bus_io, run->log, run->place.deadline, until, &run->early);
}

/* Who is kept, with which programs (*programs, *u). The opt-in read takes
 * its share of timeout: c->timeout_usec is left with what remains, since
 * timeout bounds the whole close. */
static bool decide(pam_handle_t *pamh, struct close_run *run, const char *user, struct ks_user *u,
		   struct ks_strlist *programs)
{
	struct ks_config *c = run->c;
	const struct ks_optin_fork reader = {
		.timeout_usec = c->timeout_usec,
		.meanwhile = begin_early,
		.meanwhile_ctx = run,
	};
	const struct ks_eligibility_io eio = {
		.lookup_user = lookup_user,
		.in_group = in_group,
		.ctx = pamh,
		.read_optin = ks_optin_read_forked,
		.optin_ctx = (void *)&reader,
		.may_hold = session_may_hold,
		.hold_ctx = &run->place,
		.likely = note_likely,
		.likely_ctx = run,
	};
	uint64_t start = ks_now_usec(), spent;

	run->place.deadline = start + c->timeout_usec;
	if (!ks_eligible(c, user, &eio, u, programs, run->log))
		return false;
	spent = ks_now_usec() - start;
	c->timeout_usec = spent < c->timeout_usec ? c->timeout_usec - spent : 1;
	return true;
}

/* Moves the user's programs out of the session this process runs in.
 * Returns the number of trees kept; every failure is logged, once. */
static unsigned keep(struct close_run *run, const struct ks_user *u,
		     const struct ks_strlist *programs)
{
	struct session_place *place = &run->place;
	struct ks_keep_io io = bus_io;
	int r;

	r = locate_session(place);
	if (r < 0) {
		ks_fail_log(run->log, KS_FAIL_CGROUP_UNKNOWN, "%s: %s", place->failed,
			    strerror(-r));
		return 0;
	}
	io.proc_root = "/proc";
	io.cgroup_root = place->root;
	io.cgroup_mode = place->mode;
	io.session_cgroup = place->cgroup;
	io.early = TAKE_PTR(run->early);
	const struct ks_keep_target target = keep_target(run, u, programs);

	/* ks_keep() logs its failures and returns them; only the count
	 * matters here. */
	r = ks_keep(run->c, &target, &io, run->log);
	return r > 0 ? (unsigned)r : 0;
}

/* The logind session this close may act on, or NULL: only one this
 * handle opened, past our own open_session. */
static char *session_to_close(pam_handle_t *pamh)
{
	const void *state = NULL;
	char *session_id = NULL;

	if (pam_get_data(pamh, KS_DATA_STATE, &state) != PAM_SUCCESS ||
	    (uintptr_t)state != STATE_FRESH)
		return NULL;
	/* With the guard installed and a session, the record is the guard's
	 * to remove when the scope stops (it may outlive this logout:
	 * KillUserProcesses=no leaves the session closing); else nobody would. */
	if (sd_pid_get_session(0, &session_id) < 0) {
		(void)ks_record_remove(KS_RECORD_DIR, getpid());
		return NULL; /* no logind session: pam_systemd did not register one */
	}
	if (!guard_installed(NULL))
		(void)ks_record_remove(KS_RECORD_DIR, getpid());
	return session_id;
}

KS_EXPORT int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	_cleanup_(freep) char *session_id = NULL;
	struct ks_strlist programs = { 0 };
	const char *user = NULL;
	struct close_run run = { 0 };
	struct ks_config c;
	struct ks_user u;
	struct ks_log log;

	(void)flags;
	if (sd_booted() <= 0)
		return PAM_IGNORE;
	session_id = session_to_close(pamh);
	if (!session_id)
		return PAM_IGNORE;
	if (!load_config(pamh, argc, argv, &c, &log))
		return PAM_SUCCESS;
	run = (struct close_run){ .c = &c, .log = &log, .session_id = session_id };

	if (pam_get_item(pamh, PAM_USER, (const void **)&user) != PAM_SUCCESS || !user || !*user)
		ks_log(&log, LOG_DEBUG, "no user for session %s", session_id);
	/* From here on, u.name: the canonical name, not PAM_USER. */
	else if (decide(pamh, &run, user, &u, &programs)) {
		unsigned kept = keep(&run, &u, &programs);

		if (kept > 0 && guard_installed(NULL))
			note_kept(session_id, kept, &log);
	}
	ks_keep_early_free(run.early);
	free(run.place.cgroup);
	ks_strlist_clear(&programs);
	ks_config_free(&c);
	return PAM_SUCCESS;
}
