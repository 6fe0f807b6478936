/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The keeper's way to systemd. With when = kill, logind's settings, the
 * manager's setup and the terminate-user check (one ListJobs) go out on
 * one system bus connection, at once: one connection to set up, and none
 * of PID 1's private ones (PID 1 registers its whole object tree on
 * each). A system bus that is not up by the time logind's share of the
 * timeout is over sends the manager's calls to its private socket, which
 * needs no dbus-daemon. With when = always, the private socket alone.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ks_bus.h"
#include "ks_clock.h"
#include "ks_failpolicy.h"
#include "ks_reach.h"

void ks_reach_logind_ask(struct keep_run *run, struct ks_logind_ask *a)
{
	/* logind gets a third of the budget, counted from the start: a
	 * silent logind must leave time to keep what "keeping anyway"
	 * promises. */
	run->stats.calls++;
	a->sent = run->io->open_logind(run->io->ctx, &a->bus);
	if (a->sent >= 0)
		a->sent = ks_logind_kill_send(a->bus, run->start + run->c->timeout_usec / 3, &a->q);
}

/* Does logind kill this user's processes at logout? An answer we cannot
 * get is taken as yes: keeping is what the admin and the user asked for,
 * and the mover will tell whether systemd can be reached at all. */
bool ks_reach_logind_kills(const struct keep_run *run, struct ks_logind_ask *a)
{
	const struct ks_keep_target *t = run->t;
	struct ks_logind_kill k = { 0 };
	bool kills = true;
	int r;

	r = a->bus ? ks_logind_kill_receive(&a->q, a->sent, &k) : a->sent;
	/* Not flushed: sd_bus_flush() would wait, unbounded, for a
	 * connection that never came up. The manager may hold the
	 * connection still (ks_reach_connect()); else this closes it. */
	a->bus = sd_bus_unref(a->bus);
	if (r < 0) {
		ks_fail_log(run->log, KS_FAIL_LOGIND_UNREACHABLE,
			    "cannot read logind's KillUserProcesses settings (%s); keeping anyway",
			    strerror(-r));
		return true;
	}
	if (t->logind_kills)
		kills = t->logind_kills(t->user, k.kill_user_processes, &k.only_users,
					&k.exclude_users);
	ks_logind_kill_clear(&k);
	if (!kills)
		ks_log(run->log, LOG_DEBUG,
		       "logind does not kill the processes of %s; nothing to do", t->user);
	return kills;
}

/*
 * Admins keep the last word: while the user is stopped as a whole
 * (terminate-user), nothing is kept, or a multiplexer that outlived the
 * stop guard's pass (one that ignores SIGTERM) would escape it here, in
 * sshd's close after the guard. When the manager cannot tell, the trees
 * are kept, as the guard does: a missed terminate-user leaves a scope an
 * admin can stop, a wrong answer would take a tmux at an ordinary logout.
 */
bool ks_reach_user_stopping(struct keep_run *run, struct ks_reach *m)
{
	char unit[64];
	int r;

	if (run->io->user_stop_checked)
		return false;
	r = ks_user_stop_receive(&m->user_stop, m->user_stop_sent, run->t->uid, unit, sizeof(unit));
	if (r > 0) {
		ks_fail_log(
			run->log, KS_FAIL_TERMINATE_USER,
			"user %s is being stopped (stop job on %s): nothing kept from session %s",
			run->t->user, unit, run->t->session_id);
		return true;
	}
	if (r < 0)
		ks_fail_log(run->log, KS_FAIL_STOP_UNKNOWN,
			    "cannot tell whether user %s is being stopped (%s), keeping as for a "
			    "logout",
			    run->t->user, strerror(-r));
	return false;
}

/* Starts connecting to the manager: its setup calls are on their way when
 * this returns, answered for ks_reach_ready(). On system_bus (logind's, when
 * logind is asked) they go out together with logind's reads; without it,
 * on a connection of the manager's own (io->open_manager). */
void ks_reach_connect(struct keep_run *run, struct ks_reach *m, sd_bus *system_bus)
{
	ks_bus_pending_clear(&m->user_stop.call);
	m->user_stop_sent = -ECANCELED;
	ks_mover_free(m->mover);
	m->mover = NULL;
	m->bus = sd_bus_close_unref(m->bus);
	m->on_system_bus = system_bus != NULL;
	if (system_bus)
		m->bus = sd_bus_ref(system_bus);
	else
		m->connected = run->io->open_manager(run->io->ctx, &m->bus);
	if (m->connected < 0)
		return;
	run->stats.calls++;
	m->connected = ks_mover_new(m->bus, m->deadline, run->log, &m->mover);
	if (m->connected < 0 || run->io->user_stop_checked)
		return;
	run->stats.calls++;
	m->user_stop_sent = ks_user_stop_send(m->bus, m->deadline, &m->user_stop);
}

/* Is the shared system bus no way to the manager? Not up by the time
 * logind answered (dbus-daemon hung or gone: Hello unanswered), or
 * closed. Asked without waiting. */
static bool system_bus_down(const struct ks_reach *m)
{
	return m->connected < 0 || sd_bus_is_open(m->bus) <= 0 || sd_bus_is_ready(m->bus) <= 0;
}

/* Waits for the manager's setup. On the system bus, any failure but the
 * manager's silence is tried once more on the manager's own socket,
 * which needs no dbus-daemon, within the starts' deadline. */
static int manager_ready(struct keep_run *run, struct ks_reach *m)
{
	int r = m->connected < 0 ? m->connected : -ENOTCONN;

	if (!m->on_system_bus || !system_bus_down(m)) {
		r = m->connected;
		if (r >= 0)
			r = ks_mover_ready(m->mover);
		if (r >= 0 || !m->on_system_bus || r == -ETIMEDOUT)
			return r;
	}
	ks_log(run->log, LOG_DEBUG,
	       "cannot ask the manager on the system bus (%s); trying its private socket",
	       strerror(-r));
	m->connected = 0;
	ks_reach_connect(run, m, NULL);
	r = m->connected;
	if (r >= 0)
		r = ks_mover_ready(m->mover);
	return r;
}

/* A manager that does not answer in time is frozen, any other failure
 * leaves it unreachable. */
static enum ks_failure manager_failure(int r)
{
	return r == -ETIMEDOUT ? KS_FAIL_MANAGER_FROZEN : KS_FAIL_MANAGER_UNREACHABLE;
}

int ks_reach_ready(struct keep_run *run, struct ks_reach *m)
{
	int r = manager_ready(run, m);

	if (r < 0)
		ks_fail_log(run->log, manager_failure(r),
			    "cannot %s the systemd manager, nothing kept for %s: %s",
			    m->bus ? "talk to" : "reach", run->t->user, strerror(-r));
	return r;
}

void ks_reach_init(struct ks_reach *m, uint64_t deadline)
{
	*m = (struct ks_reach){ .deadline = deadline, .user_stop_sent = -ECANCELED };
	ks_bus_pending_init(&m->user_stop.call, -ECANCELED);
}

void ks_reach_done(struct ks_reach *m)
{
	ks_bus_pending_clear(&m->user_stop.call);
	ks_mover_free(m->mover);
	m->mover = NULL;
	m->bus = sd_bus_close_unref(m->bus);
}

void ks_reach_begin(struct keep_run *run, struct ks_keep_early *e)
{
	if (run->c->when == KS_WHEN_KILL)
		ks_reach_logind_ask(run, &e->ask);
	ks_reach_connect(run, &e->reach, e->ask.sent >= 0 ? e->ask.bus : NULL);
}

void ks_reach_end(struct ks_keep_early *e)
{
	/* logind's answers are not awaited when the scan found nothing
	 * (begun early): their calls hold the bus until dropped. */
	for (size_t i = 0; i < 3; i++)
		ks_bus_pending_clear(&e->ask.q.calls[i]);
	e->ask.bus = sd_bus_close_unref(e->ask.bus);
	ks_reach_done(&e->reach);
}

void ks_keep_early_init(struct ks_keep_early *e, uint64_t start, uint64_t deadline,
			uint64_t starts_deadline)
{
	*e = (struct ks_keep_early){
		.start = start,
		.deadline = deadline,
		.ask = { .sent = -ECANCELED },
	};
	ks_reach_init(&e->reach, starts_deadline);
}

/*
 * Begun while the opt-in file is read (a fork, half a millisecond): the
 * connection's setup and the first answers come meanwhile. sd-bus holds
 * the calls back until the authentication is answered, so that much is
 * waited for here, until push_until at most; the answers are read by the
 * keep.
 */
int ks_keep_early(const struct ks_config *c, const struct ks_keep_target *t,
		  const struct ks_keep_io *io, const struct ks_log *log, uint64_t deadline,
		  uint64_t push_until, struct ks_keep_early **out)
{
	struct ks_config bounded = *c; /* shallow: only read here */
	struct keep_run run = { .c = &bounded, .t = t, .io = io, .log = log, .procfd = -EBADF };
	struct ks_keep_early *e;

	*out = NULL;
	run.start = ks_now_usec();
	if (run.start >= deadline)
		return -ETIMEDOUT;
	if (deadline - run.start < bounded.timeout_usec)
		bounded.timeout_usec = deadline - run.start;
	run.deadline = run.start + bounded.timeout_usec;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	ks_keep_early_init(e, run.start, run.deadline, run.deadline - bounded.timeout_usec / 4);
	ks_reach_begin(&run, e);
	e->calls = run.stats.calls;
	if (push_until > run.start + bounded.timeout_usec / 3)
		push_until = run.start + bounded.timeout_usec / 3;
	if (e->reach.bus)
		(void)ks_bus_push(e->reach.bus, push_until);
	if (e->ask.bus && e->ask.bus != e->reach.bus)
		(void)ks_bus_push(e->ask.bus, push_until);
	*out = e;
	return 0;
}

void ks_keep_early_free(struct ks_keep_early *e)
{
	if (!e)
		return;
	ks_reach_end(e);
	free(e);
}
