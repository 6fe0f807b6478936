/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * keepsession list [USER]: the kept scopes systemd runs, whose they are,
 * since when and for how long still.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-bus.h>

#include "keepsession.h"
#include "ks_bus.h"
#include "ks_cleanup.h"
#include "ks_clock.h"
#include "ks_cgroup.h"
#include "ks_proctree.h"
#include "ks_program.h"

/* ------------------------------------------------------------ list, release */

/* The uid of user, or (uid_t)-1 when it has no passwd entry. */
uid_t cmd_uid_of_user(const char *user)
{
	const struct passwd *pw = getpwnam(user);

	return pw ? pw->pw_uid : (uid_t)-1;
}

/* By the unit name, which holds the user escaped; the Description is
 * display text (sanitized, cut short). A name cut short that only the
 * slice could tell, and does not, is left out with one line saying so. */
bool cmd_scope_of_user(const struct ks_kept_scope *s, const char *user, uid_t uid)
{
	switch (ks_kept_scope_owner(s, user, uid)) {
	case KS_KEPT_OWNED:
		return true;
	case KS_KEPT_OWNED_UNSURE:
		(void)cmd_error(0,
				"%s: not taken as %s's: its name may be cut short from a longer "
				"user name, and it is not in %s's user-UID.slice",
				s->unit, user, user);
		return false;
	default:
		return false;
	}
}

int cmd_list_scopes(struct ks_kept_list *l, bool manager)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	int r;

	r = manager ? ks_bus_open_manager(&bus) : ks_bus_open_system(&bus);
	if (r < 0)
		return r;
	return ks_kept_list(bus, ks_now_usec() + BUS_BOUND_USEC, l);
}

static void format_when(uint64_t usec, char *buf, size_t size)
{
	time_t t = (time_t)(usec / KS_USEC_PER_SEC);
	struct tm tm;

	if (usec == 0 || !localtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%d %H:%M", &tm) == 0)
		(void)snprintf(buf, size, "-");
}

static void time_left(const struct ks_kept_scope *s, uint64_t now, char *buf, size_t size,
		      uint64_t *left)
{
	*left = UINT64_MAX;
	if (s->runtime_max_usec == UINT64_MAX || s->since_usec == 0) {
		(void)snprintf(buf, size, "-");
		return;
	}
	*left = s->since_usec + s->runtime_max_usec > now ?
			s->since_usec + s->runtime_max_usec - now :
			0;
	/* Whole seconds are enough for a listing. */
	cmd_format_span(*left - *left % KS_USEC_PER_SEC, buf, size);
}

/* One listed scope: procs < 0 when its processes could not be counted. */
static void scope_json(struct ks_json *j, const struct ks_kept_scope *s, long procs,
		       uint64_t left_usec)
{
	ks_json_open(j, NULL, '{');
	ks_json_str(j, "unit", s->unit);
	ks_json_str(j, "user", s->user);
	ks_json_str(j, "program", s->program);
	ks_json_int(j, "pid", s->pid);
	ks_json_int_or_null(j, "processes", procs >= 0, procs);
	ks_json_uint_or_null(j, "since_usec", s->since_usec != 0, s->since_usec);
	ks_json_uint_or_null(j, "left_usec", left_usec != UINT64_MAX, left_usec);
	ks_json_str(j, "session", s->session);
	ks_json_str(j, "cgroup", s->cgroup);
	ks_json_close(j, '}');
}

static void scope_human(const struct ks_kept_scope *s, long procs, const char *since,
			const char *left, bool first)
{
	if (first)
		printf("%-10s %-10s %7s %5s  %-16s  %-9s %s\n", "USER", "PROGRAM", "PID", "PROCS",
		       "SINCE", "LEFT", "SESSION");
	printf("%-10.10s %-10.10s %7d %5ld  %-16s  %-9.9s %.10s\n", s->user ? s->user : "?",
	       s->program ? ks_program_base_name(s->program) : "?", (int)s->pid,
	       procs >= 0 ? procs : 0L, since, left, s->session ? s->session : "?");
}

static uint64_t realtime_usec(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * KS_USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

int cmd_list(const struct opts *o, const char *user)
{
	_cleanup_(ks_kept_list_free) struct ks_kept_list l = { 0 };
	char cgroup_root[PATH_MAX], since[32], left[32];
	enum ks_cgroup_mode mode;
	uint64_t now = realtime_usec(), left_usec;
	bool have_root;
	size_t shown = 0;
	struct ks_json j;
	uid_t uid = user ? cmd_uid_of_user(user) : (uid_t)-1;
	int r;

	r = cmd_list_scopes(&l, false);
	if (r < 0)
		return cmd_error(EXIT_PROBLEM, "cannot list the kept scopes from systemd: %s",
				 strerror(-r));
	have_root = ks_cgroup_mode_detect("/sys/fs/cgroup", &mode, cgroup_root,
					  sizeof(cgroup_root)) >= 0;
	ks_json_init(&j, stdout);
	if (o->json)
		ks_json_open(&j, NULL, '[');
	for (size_t i = 0; i < l.n; i++) {
		const struct ks_kept_scope *s = &l.v[i];
		long procs = -1;

		if (user && !cmd_scope_of_user(s, user, uid))
			continue;
		if (have_root && s->cgroup)
			procs = ks_kept_count_procs(cgroup_root, s->cgroup);
		format_when(s->since_usec, since, sizeof(since));
		time_left(s, now, left, sizeof(left), &left_usec);
		if (o->json)
			scope_json(&j, s, procs, left_usec);
		else
			scope_human(s, procs, since, left, shown == 0);
		shown++;
	}
	if (o->json)
		ks_json_close(&j, ']');
	else if (shown == 0)
		printf("no kept scopes%s%s\n", user ? " of " : "", user ? user : "");
	return 0;
}
