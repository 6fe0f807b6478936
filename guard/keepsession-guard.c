/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * keepsession-guard SESSION_ID: the ExecStop= of keepsession-guard@.service,
 * which the drop-in session-.scope.d/keepsession-guard.conf pulls in for
 * every logind session. systemd stops the guard before the session's scope
 * however the scope is stopped (a logout, an idle stop, terminate-session,
 * a dead sshd), so this runs while every process of the session is still
 * in it. The decision is ks_guard_run(); this file is the outside world:
 * logind and the manager over D-Bus, the password and group databases, the
 * journal. It always exits 0: a scope stop is never failed by us.
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-login.h>

#include "ks_busget.h"
#include "ks_cleanup.h"
#include "ks_fileio.h"
#include "ks_failpolicy.h"
#include "ks_guard.h"
#include "ks_bus.h"
#include "ks_logind.h"
#include "ks_number.h"
#include "ks_optin.h"
#include "ks_optin_fork.h"
#include "ks_policy.h"
#include "ks_cgroup.h"
#include "ks_proctree.h"
#include "ks_record.h"
#include "ks_unitlist.h"

#define LOGIND_SERVICE "org.freedesktop.login1"
#define LOGIND_SESSION_PATH "/org/freedesktop/login1/session"
#define LOGIND_SESSION_IFACE "org.freedesktop.login1.Session"
#define SYSTEMD_SERVICE "org.freedesktop.systemd1"
#define SYSTEMD_PATH "/org/freedesktop/systemd1"
#define SYSTEMD_MANAGER_IFACE "org.freedesktop.systemd1.Manager"
#define SYSTEMD_UNIT_PATH "/org/freedesktop/systemd1/unit"
#define SYSTEMD_SCOPE_IFACE "org.freedesktop.systemd1.Scope"
#define LOGIND_SESSIONS_DIR "/run/systemd/sessions"
/* getpwnam_r()/getgrnam_r() buffers grow up to this (a large group). */
#define MAX_DB_BUFFER (1024 * 1024)

static void journal_sink(void *ctx, int priority, const char *message)
{
	(void)ctx;
	syslog(priority, "%s", message);
}

/* The last resort past every bound of ours (the unit's TimeoutStopSec is
 * the next one): end quietly, with success. */
static void on_alarm(int sig)
{
	(void)sig;
	_exit(0);
}

/* Leader, TimestampMonotonic and Scope over the bus: not in sd-login
 * before 254. */
static int session_properties(const char *id, uint64_t deadline, struct ks_session_info *s)
{
	_cleanup_(sd_bus_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(freep) char *path = NULL;
	uint32_t leader = 0;
	int r;

	r = ks_bus_open_system(&bus);
	if (r >= 0)
		r = sd_bus_path_encode(LOGIND_SESSION_PATH, id, &path);
	if (r >= 0)
		r = ks_bus_get_basic(bus, deadline, LOGIND_SERVICE, path, LOGIND_SESSION_IFACE,
				     "Leader", 'u', &leader);
	if (r >= 0)
		r = ks_bus_get_basic(bus, deadline, LOGIND_SERVICE, path, LOGIND_SESSION_IFACE,
				     "TimestampMonotonic", 't', &s->timestamp_usec);
	if (r >= 0)
		r = ks_bus_get_string(bus, deadline, LOGIND_SERVICE, path, LOGIND_SESSION_IFACE,
				      "Scope", &s->scope);
	if (r >= 0 && (!s->scope[0] || leader > (uint32_t)INT32_MAX))
		r = -EBADMSG;
	if (r < 0) {
		free(s->scope);
		s->scope = NULL;
		return r;
	}
	s->leader = (pid_t)leader;
	return 0;
}

static int lookup_session(void *ctx, const char *id, uint64_t deadline, struct ks_session_info *s)
{
	uid_t uid;
	int r;

	(void)ctx;
	*s = (struct ks_session_info){ 0 };
	/* From logind's state file, without the bus. */
	r = sd_session_get_uid(id, &s->uid);
	if (r < 0)
		return r;
	r = session_properties(id, deadline, s);
	/* Whatever the bus said, a session gone meanwhile is gone. */
	if (r < 0 && sd_session_get_uid(id, &uid) == -ENXIO)
		r = -ENXIO;
	return r;
}

static int scope_cgroup(void *ctx, const char *scope, uint64_t deadline, char **cgroup)
{
	_cleanup_(sd_bus_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(freep) char *path = NULL, *value = NULL;
	int r;

	(void)ctx;
	r = ks_bus_open_manager(&bus);
	if (r >= 0)
		r = sd_bus_path_encode(SYSTEMD_UNIT_PATH, scope, &path);
	if (r >= 0)
		r = ks_bus_get_string(bus, deadline, SYSTEMD_SERVICE, path, SYSTEMD_SCOPE_IFACE,
				      "ControlGroup", &value);
	if (r < 0)
		return r;
	/* "": the scope emptied and systemd released its cgroup. */
	if (value[0] == '\0')
		return -ENOENT;
	if (value[0] != '/')
		return -EBADMSG;
	*cgroup = TAKE_PTR(value);
	return 0;
}

static bool system_stopping(void *ctx, uint64_t deadline)
{
	_cleanup_(sd_bus_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(freep) char *state = NULL;

	(void)ctx;
	return ks_bus_open_manager(&bus) >= 0 &&
	       ks_bus_get_string(bus, deadline, SYSTEMD_SERVICE, SYSTEMD_PATH,
				 SYSTEMD_MANAGER_IFACE, "SystemState", &state) >= 0 &&
	       strcmp(state, "stopping") == 0;
}

/* The guard's seam over ks_user_stopping(): one ListJobs, on a
 * connection of its own. */
static int user_stopping(void *ctx, uid_t uid, uint64_t deadline, char *unit, size_t size)
{
	_cleanup_(sd_bus_close_unrefp) sd_bus *bus = NULL;
	int r;

	(void)ctx;
	r = ks_bus_open_manager(&bus);
	if (r < 0)
		return r;
	return ks_user_stopping(bus, uid, deadline, unit, size);
}

/* The units ListUnitsByPatterns named, at most KS_GUARD_MAX_SCOPE_STOPS. */
struct unit_names {
	char *v[KS_GUARD_MAX_SCOPE_STOPS];
	size_t n;
};

static int add_unit_name(void *ctx, const char *name, const char *object_path)
{
	struct unit_names *names = ctx;

	(void)object_path;
	if (names->n >= KS_GUARD_MAX_SCOPE_STOPS)
		return -E2BIG;
	names->v[names->n] = strdup(name);
	if (!names->v[names->n])
		return -ENOMEM;
	names->n++;
	return 0;
}

static void unit_names_free(struct unit_names *names)
{
	for (size_t i = 0; i < names->n; i++)
		free(names->v[i]);
}

/* StopUnit(unit, "replace") when the unit's Slice is slice. Returns 1 when
 * a stop job was queued, 0 for a unit in another slice. */
static int stop_unit_in_slice(sd_bus *bus, uint64_t deadline, const char *unit, const char *slice)
{
	_cleanup_(freep) char *path = NULL, *value = NULL;
	int r;

	r = sd_bus_path_encode(SYSTEMD_UNIT_PATH, unit, &path);
	if (r >= 0)
		r = ks_bus_get_string(bus, deadline, SYSTEMD_SERVICE, path, SYSTEMD_SCOPE_IFACE,
				      "Slice", &value);
	if (r < 0)
		return r;
	if (strcmp(value, slice) != 0)
		return 0; /* another slice: not the user's kept scope */
	r = ks_unit_stop(bus, deadline, unit, NULL);
	return r < 0 ? r : 1;
}

static int stop_units(void *ctx, const char *pattern, const char *slice, const char *prefix,
		      uint64_t deadline, unsigned *stopped, unsigned *skipped)
{
	static const char *const states[] = { "active", "activating", "reloading", NULL };
	_cleanup_(sd_bus_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(unit_names_free) struct unit_names names = { .n = 0 };
	int r, first;

	(void)ctx;
	*stopped = 0;
	*skipped = 0;
	r = ks_bus_open_manager(&bus);
	if (r >= 0)
		r = ks_unit_list(bus, deadline, states, pattern, add_unit_name, &names);
	first = r < 0 ? r : 0; /* E2BIG: stop those listed */
	for (size_t i = 0; i < names.n; i++) {
		/* In a shared slice only the name can tell whose it is. */
		if (!ks_guard_unit_owned(names.v[i], prefix)) {
			(*skipped)++;
			continue;
		}
		/* Past the deadline the rest is left, and said so. */
		r = ks_now_usec() < deadline ?
			    stop_unit_in_slice(bus, deadline, names.v[i], slice) :
			    -ETIMEDOUT;
		if (r > 0)
			(*stopped)++;
		if (r < 0 && first == 0)
			first = r;
	}
	return first;
}

static int user_name(void *ctx, uid_t uid, char *buf, size_t size)
{
	struct passwd pw, *found = NULL;
	char pwbuf[16384];
	int r;

	(void)ctx;
	r = getpwuid_r(uid, &pw, pwbuf, sizeof(pwbuf), &found);
	if (r != 0)
		return -r;
	if (!found || !pw.pw_name || !pw.pw_name[0])
		return -ENOENT;
	if (snprintf(buf, size, "%s", pw.pw_name) >= (int)size)
		return -ENAMETOOLONG;
	return 0;
}

/* The password entry the decision works with: its strings stay valid
 * for the whole run. */
struct guard_ctx {
	struct passwd pw;
	char pwbuf[16384];
};

static int lookup_user(void *ctx, const char *name, struct ks_user *u)
{
	struct guard_ctx *g = ctx;
	struct passwd *found = NULL;
	int r;

	r = getpwnam_r(name, &g->pw, g->pwbuf, sizeof(g->pwbuf), &found);
	if (r != 0)
		return -r;
	if (!found)
		return -ENOENT;
	*u = (struct ks_user){
		.name = g->pw.pw_name,
		.uid = g->pw.pw_uid,
		.gid = g->pw.pw_gid,
		.home = g->pw.pw_dir,
	};
	return 0;
}

/* The group's entry, its buffer grown for large groups; membership as the
 * module decides it. */
static enum ks_membership in_group(void *ctx, const struct ks_user *u, const char *group)
{
	struct group gr, *found = NULL;
	enum ks_membership member;
	size_t size = 4096;
	char *buf = NULL;
	int r;

	(void)ctx;
	for (;;) {
		char *grown = realloc(buf, size);

		if (!grown) {
			free(buf);
			return KS_MEMBER_UNKNOWN;
		}
		buf = grown;
		r = getgrnam_r(group, &gr, buf, size, &found);
		if (r != ERANGE || size >= MAX_DB_BUFFER)
			break;
		size *= 2;
	}
	member = ks_policy_membership(r == 0 ? found : NULL, u);
	free(buf);
	return member;
}

/* The LEADER= of one of logind's session state files; 0 when it names
 * none (a session without a leader, a file not of a session). */
static pid_t state_file_leader(int dfd, const char *name)
{
	char buf[4096];
	unsigned long long v;
	const char *p;
	size_t len;

	buf[0] = '\n';
	if (ks_read_file_at(dfd, name, O_NOFOLLOW, buf + 1, sizeof(buf) - 1, false, &len) < 0)
		return 0;
	p = strstr(buf, "\nLEADER=");
	if (!p || p[8] < '1' || p[8] > '9')
		return 0;
	p += 8;
	len = strspn(p, "0123456789");
	if ((p[len] != '\n' && p[len] != '\0') || ks_parse_decimal(p, len, INT32_MAX, &v) < 0)
		return 0;
	return (pid_t)v;
}

static void closedirp(DIR **d)
{
	if (*d)
		(void)closedir(*d);
}

/* The leaders named by logind's session state files, in one pass. */
static int session_leaders(void *ctx, pid_t *leaders, size_t max, size_t *n)
{
	_cleanup_(closedirp) DIR *d = NULL;
	struct dirent *de;

	(void)ctx;
	*n = 0;
	d = opendir(LOGIND_SESSIONS_DIR);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		pid_t leader;

		if (de->d_name[0] == '.')
			continue;
		leader = state_file_leader(dirfd(d), de->d_name);
		if (leader == 0)
			continue;
		if (*n >= max)
			return -E2BIG;
		leaders[(*n)++] = leader;
	}
	return 0;
}

static int keep(void *ctx, const struct ks_config *c, const struct ks_keep_target *t,
		const char *cgroup, const struct ks_log *log)
{
	enum ks_cgroup_mode mode;
	char root[4096];
	int r;

	(void)ctx;
	r = ks_cgroup_mode_detect("/sys/fs/cgroup", &mode, root, sizeof(root));
	if (r < 0) {
		ks_fail_log(log, KS_FAIL_CGROUP_UNKNOWN,
			    "cannot tell how systemd tracks processes: %s", strerror(-r));
		return r;
	}
	{
		const struct ks_keep_io io = {
			.proc_root = "/proc",
			.cgroup_root = root,
			.cgroup_mode = mode,
			.session_cgroup = cgroup,
			.open_manager = ks_bus_open_manager_io,
			.open_logind = ks_bus_open_logind_io,
			.user_stop_checked = true, /* by ks_guard_run() */
		};

		return ks_keep(c, t, &io, log);
	}
}

/* The cheap check before the opt-in read: cannot tell is "may". */
static int may_hold(void *ctx, const char *cgroup, const struct ks_strlist *programs,
		    uint64_t deadline)
{
	enum ks_cgroup_mode mode;
	char root[4096];

	(void)ctx;
	if (ks_cgroup_mode_detect("/sys/fs/cgroup", &mode, root, sizeof(root)) < 0)
		return 1;
	const struct ks_scan scan = {
		.proc_root = "/proc",
		.cgroup_root = root,
		.cgroup = cgroup,
		.programs = programs,
		.deadline = deadline,
	};
	return ks_session_may_hold(&scan);
}

/* logind's session ids: "7", "c3". */
static bool session_id_valid(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'z') ||
		      (id[i] >= 'A' && id[i] <= 'Z')))
			return false;
	return true;
}

int main(int argc, char **argv)
{
	const struct ks_log log = { .sink = journal_sink };
	static struct guard_ctx ctx;
	const struct ks_guard_io io = {
		.record_dir = KS_RECORD_DIR,
		.proc_root = "/proc",
		.trusted_owner = 0,
		.lookup_session = lookup_session,
		.scope_cgroup = scope_cgroup,
		.system_stopping = system_stopping,
		.user_stopping = user_stopping,
		.stop_units = stop_units,
		.user_name = user_name,
		.session_leaders = session_leaders,
		.lookup_user = lookup_user,
		.in_group = in_group,
		.read_optin = ks_optin_read_forked,
		.may_hold = may_hold,
		.keep = keep,
		.ctx = &ctx,
	};
	uint64_t start = ks_now_usec();

	openlog("keepsession-guard", LOG_PID, LOG_AUTHPRIV);
	(void)signal(SIGALRM, on_alarm);
	(void)alarm((unsigned)((KS_GUARD_LOOKUP_USEC + KS_MAX_TIMEOUT_USEC) / KS_USEC_PER_SEC) + 2);
	if (argc != 2 || !session_id_valid(argv[1])) {
		ks_log(&log, LOG_ERR, "usage: keepsession-guard SESSION_ID");
		return 0;
	}
	(void)ks_guard_run(argv[1], start, &io, &log);
	return 0;
}
