/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <strings.h>

#include <cmocka.h>
#include <fnmatch.h>

#include "fakeproc.h"
#include "logcap.h"
#include "ks_failpolicy.h"
#include "ks_guard.h"
#include "ks_mover.h"
#include "ks_optin_fork.h"
#include "ks_record.h"
#include "ks_unitname.h"

#define LEADER 4242
#define ALICE 1000
#define SESSION_CG "/user.slice/user-1000.slice/session-7.scope"

/* The outside world of one guard run. */
struct world;
/* The opt-in reader's ctx is the decision's, so the fakes reach the world
 * through this. */
static struct world *W;

struct world {
	struct fakeproc fp;
	char *scratch, *run;
	struct logcap cap;
	struct ks_log log;
	struct ks_guard_io io;
	/* logind */
	int lookup_result;
	struct ks_session_info session;
	unsigned lookups;
	/* the manager */
	int cgroup_result;
	bool stopping;
	/* unit_stopping's answer per unit: 1 stop job, 0 none, -errno */
	int user_service, runtime_dir, user_slice;
	unsigned unit_asks;
	/* stop_units */
	unsigned stop_calls, stop_count;
	int stop_result;
	char stop_pattern[600], stop_slice[256], stop_prefix[300];
	bool stop_prefix_null;
	/* kept scopes in the (shared) slice, added to stop_count when they
	 * match as PID 1 matches and pass the owner's prefix */
	char units[4][KS_UNIT_NAME_MAX + 1];
	size_t n_units;
	unsigned stop_skipped;
	/* the password database: alice only, uid ALICE unless changed */
	int user_result;
	uid_t alice_uid;
	char name_of_uid[160];
	/* ~/.keepsession */
	enum ks_optin_status optin;
	unsigned optin_reads;
	char optin_path[256];
	uint64_t optin_timeout_usec;
	/* the cheap check before the read: its answer, what it was asked */
	int may_hold;
	unsigned hold_asks;
	char hold_cgroup[256], hold_programs[256];
	uint64_t hold_deadline;
	/* leaders of live sessions, for the sweep: live_leader and
	 * more_sessions others (pids from 100000) */
	pid_t live_leader;
	size_t more_sessions;
	int leaders_result;
	unsigned leader_reads;
	/* what the keeper was asked */
	unsigned keeps;
	enum ks_when when;
	unsigned max_trees;
	uint64_t timeout_usec;
	char user[64], cgroup[256], programs[256], session_id[16];
};

static int fake_lookup_session(void *ctx, const char *id, uint64_t deadline,
			       struct ks_session_info *s)
{
	struct world *w = ctx;

	(void)deadline;
	w->lookups++;
	assert_string_equal(id, "7");
	if (w->lookup_result < 0)
		return w->lookup_result;
	*s = w->session;
	s->scope = strdup("session-7.scope");
	assert_non_null(s->scope);
	return 0;
}

static int fake_scope_cgroup(void *ctx, const char *scope, uint64_t deadline, char **cgroup)
{
	struct world *w = ctx;

	(void)deadline;
	assert_string_equal(scope, "session-7.scope");
	if (w->cgroup_result < 0)
		return w->cgroup_result;
	*cgroup = strdup(SESSION_CG);
	return *cgroup ? 0 : -ENOMEM;
}

static bool fake_system_stopping(void *ctx, uint64_t deadline)
{
	struct world *w = ctx;

	(void)deadline;
	return w->stopping;
}

/* The manager's view of the user's units: what a terminate-user, an
 * ordinary logout or a broken manager leaves there, by unit, as one
 * ListJobs answers it: a stop job on any of them, else an unreadable
 * list when one of them says so. */
static int fake_user_stopping(void *ctx, uid_t uid, uint64_t deadline, char *unit, size_t size)
{
	static const char *const names[] = { "user@1000.service", "user-runtime-dir@1000.service",
					     "user-1000.slice" };
	struct world *w = ctx;
	const int answers[] = { w->user_service, w->runtime_dir, w->user_slice };
	int r = 0;

	(void)deadline;
	assert_int_equal(uid, 1000);
	w->unit_asks++;
	for (size_t i = 0; i < 3; i++) {
		if (answers[i] > 0) {
			(void)snprintf(unit, size, "%s", names[i]);
			return 1;
		}
		if (answers[i] < 0 && r == 0)
			r = answers[i];
	}
	return r;
}

static int fake_stop_units(void *ctx, const char *pattern, const char *slice, const char *prefix,
			   uint64_t deadline, unsigned *stopped, unsigned *skipped)
{
	struct world *w = ctx;

	(void)deadline;
	w->stop_calls++;
	(void)snprintf(w->stop_pattern, sizeof(w->stop_pattern), "%s", pattern);
	(void)snprintf(w->stop_slice, sizeof(w->stop_slice), "%s", slice);
	w->stop_prefix_null = !prefix;
	(void)snprintf(w->stop_prefix, sizeof(w->stop_prefix), "%s", prefix ? prefix : "");
	*stopped = w->stop_count;
	*skipped = 0;
	/* ListUnitsByPatterns matches as fnmatch(FNM_NOESCAPE) does. */
	for (size_t i = 0; i < w->n_units; i++) {
		if (fnmatch(pattern, w->units[i], FNM_NOESCAPE) != 0)
			continue;
		if (ks_guard_unit_owned(w->units[i], prefix))
			(*stopped)++;
		else
			(*skipped)++;
	}
	w->stop_skipped = *skipped;
	return w->stop_result;
}

/* A kept scope of user in the manager, named as the mover names it. */
static void add_unit_of(struct world *w, const char *user, const char *program, pid_t pid)
{
	assert_true(w->n_units < sizeof(w->units) / sizeof(w->units[0]));
	assert_true(ks_scope_name(user, program, pid, w->units[w->n_units], sizeof(w->units[0])) >
		    0);
	w->n_units++;
}

static void add_unit(struct world *w, const char *user, pid_t pid)
{
	add_unit_of(w, user, "/usr/bin/tmux", pid);
}

static int fake_user_name(void *ctx, uid_t uid, char *buf, size_t size)
{
	struct world *w = ctx;

	if (w->user_result < 0)
		return w->user_result;
	if (uid != ALICE)
		return -ENOENT;
	(void)snprintf(buf, size, "%s", w->name_of_uid);
	return 0;
}

/* The password database: alice, also found as ALICE (case-insensitive
 * NSS). */
static int fake_lookup_user(void *ctx, const char *name, struct ks_user *u)
{
	const struct world *w = ctx;

	if (strcasecmp(name, "alice") != 0)
		return -ENOENT;
	*u = (struct ks_user){
		.name = "alice", .uid = w->alice_uid, .gid = ALICE, .home = "/home/alice"
	};
	return 0;
}

static int fake_session_leaders(void *ctx, pid_t *leaders, size_t max, size_t *n)
{
	struct world *w = ctx;

	w->leader_reads++;
	*n = 0;
	if (w->leaders_result < 0)
		return w->leaders_result;
	for (size_t i = 0; i < w->more_sessions; i++) {
		if (*n >= max)
			return -E2BIG;
		leaders[(*n)++] = (pid_t)(100000 + i);
	}
	if (w->live_leader != 0) {
		if (*n >= max)
			return -E2BIG;
		leaders[(*n)++] = w->live_leader;
	}
	return 0;
}

static enum ks_membership fake_in_group(void *ctx, const struct ks_user *u, const char *group)
{
	(void)ctx;
	return strcmp(u->name, "alice") == 0 && strcmp(group, "keepers") == 0 ? KS_MEMBER_YES :
										KS_MEMBER_NO;
}

/* Whoever reads the file gets the decision's bound: a ks_optin_fork. */
static enum ks_optin_status fake_read_optin(void *ctx, const struct ks_user *u, const char *path,
					    struct ks_strlist *lines, const struct ks_log *log)
{
	const struct ks_optin_fork *reader = ctx;

	(void)u;
	(void)lines;
	(void)log;
	W->optin_reads++;
	W->optin_timeout_usec = reader->timeout_usec;
	(void)snprintf(W->optin_path, sizeof(W->optin_path), "%s", path);
	return W->optin;
}

static int fake_may_hold(void *ctx, const char *cgroup, const struct ks_strlist *programs,
			 uint64_t deadline)
{
	struct world *w = ctx;

	w->hold_asks++;
	w->hold_deadline = deadline;
	(void)snprintf(w->hold_cgroup, sizeof(w->hold_cgroup), "%s", cgroup);
	w->hold_programs[0] = '\0';
	for (size_t i = 0; i < programs->n; i++) {
		if (i > 0)
			strcat(w->hold_programs, ",");
		strcat(w->hold_programs, programs->v[i]);
	}
	return w->may_hold;
}

static int fake_keep(void *ctx, const struct ks_config *c, const struct ks_keep_target *t,
		     const char *cgroup, const struct ks_log *log)
{
	struct world *w = ctx;

	(void)log;
	w->keeps++;
	w->when = c->when;
	w->max_trees = c->max_trees;
	w->timeout_usec = c->timeout_usec;
	(void)snprintf(w->user, sizeof(w->user), "%s", t->user);
	(void)snprintf(w->cgroup, sizeof(w->cgroup), "%s", cgroup);
	(void)snprintf(w->session_id, sizeof(w->session_id), "%s", t->session_id);
	w->programs[0] = '\0';
	for (size_t i = 0; i < t->programs->n; i++) {
		if (i > 0)
			strcat(w->programs, ",");
		strcat(w->programs, t->programs->v[i]);
	}
	return 1;
}

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));

	assert_non_null(w);
	fakeproc_init(&w->fp, SESSION_CG);
	w->scratch = scratch_dir();
	assert_non_null(w->scratch);
	w->run = scratch_path(w->scratch, "run");
	assert_non_null(w->run);
	w->log = logcap_log(&w->cap);
	w->session = (struct ks_session_info){
		.uid = ALICE,
		.leader = LEADER,
		.timestamp_usec = 5000000 + 20000,
	};
	w->optin = KS_OPTIN_ABSENT;
	strcpy(w->name_of_uid, "alice");
	w->alice_uid = ALICE;
	w->io = (struct ks_guard_io){
		.record_dir = w->run,
		.proc_root = w->fp.proc,
		.trusted_owner = getuid(),
		.lookup_session = fake_lookup_session,
		.scope_cgroup = fake_scope_cgroup,
		.system_stopping = fake_system_stopping,
		.user_stopping = fake_user_stopping,
		.stop_units = fake_stop_units,
		.user_name = fake_user_name,
		.session_leaders = fake_session_leaders,
		.lookup_user = fake_lookup_user,
		.in_group = fake_in_group,
		.read_optin = fake_read_optin,
		.keep = fake_keep,
		.ctx = w,
	};
	W = w;
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;

	fakeproc_remove(&w->fp);
	free(w->run);
	scratch_remove(w->scratch);
	free(w);
	return 0;
}

/* The record open_session would leave for the leader, with args. */
static void leave_record_at(struct world *w, pid_t leader, const char *args, uint64_t created)
{
	struct ks_record r = {
		.leader = leader,
		.starttime = FAKE_STARTTIME(leader),
		.created_usec = created,
		.uid = ALICE,
	};

	if (args)
		assert_int_equal(ks_strlist_add_split(&r.args, args), 0);
	assert_int_equal(ks_record_write(w->run, &r, getuid()), 0);
	ks_record_free(&r);
}

static void leave_record(struct world *w, pid_t leader, const char *args)
{
	leave_record_at(w, leader, args, 5000000);
}

static bool has_record(struct world *w, pid_t leader)
{
	struct ks_record r;
	int ret = ks_record_read(w->run, leader, getuid(), &r);

	if (ret == 0)
		ks_record_free(&r);
	return ret == 0;
}

/* The session's leader, sshd's [priv] process, still running. */
static void leader_alive(struct world *w)
{
	fake_proc_ex(&w->fp, &(struct fake){ .pid = LEADER,
					     .ppid = 1,
					     .uid = 0,
					     .exe = "/usr/sbin/sshd",
					     .outside = true });
}

static enum ks_guard_outcome run(struct world *w)
{
	return ks_guard_run("7", ks_now_usec(), &w->io, &w->log);
}

static void test_no_record_at_all_no_bus(void **state)
{
	struct world *w = *state;

	assert_int_equal(run(w), KS_GUARD_NO_RECORD);
	assert_int_equal(w->lookups, 0);
	/* An empty directory is no record either. */
	assert_int_equal(mkdir(w->run, 0700), 0);
	assert_int_equal(run(w), KS_GUARD_NO_RECORD);
	assert_int_equal(w->lookups, 0);
	assert_int_equal(w->keeps, 0);
}

static void test_session_without_record(void **state)
{
	struct world *w = *state;

	/* Another session's record, whose leader runs. */
	leave_record(w, 99, "users=alice");
	fake_proc_ex(&w->fp, &(struct fake){ .pid = 99, .ppid = 1, .outside = true });
	w->live_leader = 99;
	assert_int_equal(run(w), KS_GUARD_NO_RECORD);
	assert_int_equal(w->lookups, 1);
	assert_int_equal(w->keeps, 0);
	assert_int_equal(w->optin_reads, 0);
	assert_true(has_record(w, 99));
}

static void test_listed_user_kept_leader_alive(void **state)
{
	struct world *w = *state;

	leader_alive(w);
	leave_record(w, LEADER, "users=alice");
	assert_int_equal(run(w), KS_GUARD_KEPT);
	assert_int_equal(w->keeps, 1);
	assert_int_equal(w->when, KS_WHEN_ALWAYS);
	assert_string_equal(w->user, "alice");
	assert_string_equal(w->cgroup, SESSION_CG);
	assert_string_equal(w->session_id, "7");
	assert_string_equal(w->programs, KS_DEFAULT_COMMANDS);
	assert_true(w->timeout_usec > 0 && w->timeout_usec <= KS_DEFAULT_TIMEOUT_USEC);
	assert_false(has_record(w, LEADER));
}

static void test_opted_in_user_kept_leader_dead(void **state)
{
	struct world *w = *state;

	/* sshd was killed: no leader in /proc, the stamp alone matches. */
	leave_record(w, LEADER, NULL);
	w->optin = KS_OPTIN_OK;
	assert_int_equal(run(w), KS_GUARD_KEPT);
	assert_int_equal(w->optin_reads, 1);
	assert_string_equal(w->optin_path, "/home/alice/.keepsession");
	assert_true(w->optin_timeout_usec > 0 && w->optin_timeout_usec <= KS_DEFAULT_TIMEOUT_USEC);
	assert_int_equal(w->keeps, 1);
	assert_false(has_record(w, LEADER));
}

/* The scope runs none of the admin's programs: the guard asks on the
 * scope's cgroup, and the opt-in file is not read; when it may, it is. */
static void test_nothing_running_no_optin_read(void **state)
{
	struct world *w = *state;
	uint64_t before = ks_now_usec();

	w->io.may_hold = fake_may_hold;
	w->optin = KS_OPTIN_OK;
	leave_record(w, LEADER, NULL);
	assert_int_equal(run(w), KS_GUARD_NOT_KEPT);
	assert_int_equal(w->hold_asks, 1);
	assert_string_equal(w->hold_cgroup, SESSION_CG);
	assert_string_equal(w->hold_programs, KS_DEFAULT_COMMANDS);
	assert_true(w->hold_deadline > before &&
		    w->hold_deadline <= ks_now_usec() + KS_DEFAULT_TIMEOUT_USEC);
	assert_int_equal(w->optin_reads, 0);
	assert_int_equal(w->keeps, 0);
	assert_false(has_record(w, LEADER));

	w->may_hold = 1;
	leave_record(w, LEADER, NULL);
	assert_int_equal(run(w), KS_GUARD_KEPT);
	assert_int_equal(w->hold_asks, 2);
	assert_int_equal(w->optin_reads, 1);
	assert_int_equal(w->keeps, 1);
}

static void test_canonical_user_name(void **state)
{
	struct world *w = *state;

	/* NSS answers the uid with "ALICE"; the lists and the scope use the
	 * entry's own name. */
	strcpy(w->name_of_uid, "ALICE");
	leave_record(w, LEADER, "deny=alice");
	w->optin = KS_OPTIN_OK;
	assert_int_equal(run(w), KS_GUARD_NOT_KEPT);
	leave_record(w, LEADER, "users=alice");
	assert_int_equal(run(w), KS_GUARD_KEPT);
	assert_string_equal(w->user, "alice");
}

static void test_not_opted_in_not_kept(void **state)
{
	struct world *w = *state;

	leader_alive(w);
	leave_record(w, LEADER, NULL);
	assert_int_equal(run(w), KS_GUARD_NOT_KEPT);
	assert_int_equal(w->optin_reads, 1);
	assert_int_equal(w->keeps, 0);
	/* Its session ends: so does its record. */
	assert_false(has_record(w, LEADER));
}

static void test_record_arguments_apply(void **state)
{
	struct world *w = *state;

	leave_record(w, LEADER, "deny=alice");
	w->optin = KS_OPTIN_OK;
	assert_int_equal(run(w), KS_GUARD_NOT_KEPT);
	assert_int_equal(w->keeps, 0);

	leave_record(w, LEADER, "users=@keepers commands=tmux timeout=2s");
	assert_int_equal(run(w), KS_GUARD_KEPT);
	assert_string_equal(w->programs, "tmux");
	assert_true(w->timeout_usec <= 2 * KS_USEC_PER_SEC);
}

static void test_conf_file_from_record(void **state)
{
	struct world *w = *state;
	const char text[] = "users = alice\ncommands = screen\n";
	char *conf = scratch_write(w->scratch, "keepsession.conf", text, strlen(text), 0644);
	char arg[512];

	assert_non_null(conf);
	(void)snprintf(arg, sizeof(arg), "conf=%s", conf);
	leave_record(w, LEADER, arg);
	assert_int_equal(run(w), KS_GUARD_KEPT);
	assert_string_equal(w->programs, "screen");
	free(conf);
}

static void test_leader_pid_reused(void **state)
{
	struct world *w = *state;

	/* sshd died and its pid is free: the stamp decides. */
	leave_record(w, LEADER, "users=alice");
	assert_int_equal(run(w), KS_GUARD_KEPT);
	assert_false(has_record(w, LEADER));

	/* The record of a login that failed after open_session; its pid now
	 * leads a later session (of a stack without the module), created
	 * within the lag: another start time, not that session's. */
	fake_proc_ex(&w->fp, &(struct fake){ .pid = LEADER,
					     .ppid = 1,
					     .outside = true,
					     .starttime = FAKE_STARTTIME(LEADER) + 1 });
	leave_record(w, LEADER, "users=alice");
	assert_int_equal(run(w), KS_GUARD_NOT_OURS);
	assert_int_equal(w->keeps, 1);

	/* That process opened a later session and rewrote the record: not
	 * this session's, and left to the later one. */
	leader_alive(w);
	leave_record(w, LEADER, "users=alice");
	w->session.timestamp_usec = 5000000 - 1000;
	w->live_leader = LEADER;
	assert_int_equal(run(w), KS_GUARD_NOT_OURS);
	assert_int_equal(w->keeps, 1);
	assert_true(has_record(w, LEADER));
}

static void test_other_session_by_stamp_or_uid(void **state)
{
	struct world *w = *state;

	leave_record(w, LEADER, "users=alice");
	w->live_leader = LEADER; /* keeps the sweep off it */
	w->session.timestamp_usec = 5000000 - 1;
	assert_int_equal(run(w), KS_GUARD_NOT_OURS);
	w->session.timestamp_usec = 5000000 + KS_RECORD_MAX_LAG_USEC + 1;
	assert_int_equal(run(w), KS_GUARD_NOT_OURS);
	w->session.timestamp_usec = 5000000 + 10;
	w->session.uid = ALICE + 1;
	assert_int_equal(run(w), KS_GUARD_NOT_OURS);
	assert_int_equal(w->keeps, 0);
	assert_true(has_record(w, LEADER));
}

static void test_hostile_record_removed(void **state)
{
	struct world *w = *state;
	char name[16], *path;

	assert_int_equal(mkdir(w->run, 0700), 0);
	(void)snprintf(name, sizeof(name), "%d", LEADER);
	path = scratch_write(w->run, name, "pam_keepsession-record 1\nleader ", 32, 0600);
	assert_non_null(path);
	assert_int_equal(run(w), KS_GUARD_NOT_OURS);
	assert_int_equal(logcap_count(&w->cap, "removing the unusable record of session 7"), 1);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(w->keeps, 0);
	free(path);
}

static void test_failures_logged_nothing_kept(void **state)
{
	struct world *w = *state;

	leave_record(w, LEADER, "users=alice");
	w->live_leader = LEADER;
	w->lookup_result = -ETIMEDOUT;
	assert_int_equal(run(w), KS_GUARD_FAILED);
	assert_int_equal(logcap_count(&w->cap, "cannot look up session 7"), 1);
	assert_int_equal(logcap_prio(&w->cap, "cannot look up session 7"),
			 ks_fail_policy(KS_FAIL_SESSION_LOOKUP)->level);
	assert_true(has_record(w, LEADER));

	w->lookup_result = 0;
	w->user_result = -EIO;
	assert_int_equal(run(w), KS_GUARD_FAILED);
	assert_int_equal(logcap_count(&w->cap, "cannot look up uid 1000 of session 7"), 1);

	leave_record(w, LEADER, "users=alice");
	w->user_result = 0;
	w->cgroup_result = -ETIMEDOUT;
	assert_int_equal(run(w), KS_GUARD_FAILED);
	assert_int_equal(logcap_count(&w->cap, "cannot find the cgroup of session-7.scope"), 1);
	assert_int_equal(w->keeps, 0);
	assert_false(has_record(w, LEADER));
}

/* The look-ups took the whole timeout: nothing kept, one line, and the
 * record goes with its session. */
static void test_no_time_left(void **state)
{
	struct world *w = *state;
	uint64_t now = ks_now_usec();

	leave_record(w, LEADER, "users=alice timeout=1s");
	assert_true(now > 2 * KS_USEC_PER_SEC);
	/* Started two seconds ago: its 1 s are spent, surely. */
	assert_int_equal(ks_guard_run("7", now - 2 * KS_USEC_PER_SEC, &w->io, &w->log),
			 KS_GUARD_FAILED);
	assert_int_equal(w->keeps, 0);
	assert_int_equal(w->optin_reads, 0);
	assert_int_equal(logcap_count(&w->cap, "no time left to keep anything of session 7"), 1);
	assert_int_equal(logcap_prio(&w->cap, "no time left to keep anything of session 7"),
			 ks_fail_policy(KS_FAIL_NO_TIME_LEFT)->level);
	assert_false(has_record(w, LEADER));
}

/* The session's uid names alice, whose entry now has another uid: the
 * decision was made for someone else, nothing kept. */
static void test_user_changed(void **state)
{
	struct world *w = *state;

	leave_record(w, LEADER, "users=alice");
	w->alice_uid = ALICE + 1;
	assert_int_equal(run(w), KS_GUARD_FAILED);
	assert_int_equal(w->keeps, 0);
	assert_int_equal(logcap_count(&w->cap, "user alice of session 7 is uid 1001 now, not "
					       "1000: nothing kept"),
			 1);
	assert_int_equal(logcap_prio(&w->cap, "user alice of session 7 is uid 1001 now"),
			 ks_fail_policy(KS_FAIL_USER_CHANGED)->level);
	assert_false(has_record(w, LEADER));
}

static void test_emptied_scope(void **state)
{
	struct world *w = *state;

	/* A logout: the module kept the tmux, the scope emptied, systemd
	 * released its cgroup before stopping the guard. */
	leave_record(w, LEADER, NULL);
	w->optin = KS_OPTIN_OK;
	w->cgroup_result = -ENOENT;
	assert_int_equal(run(w), KS_GUARD_NOT_KEPT);
	assert_int_equal(logcap_count(&w->cap, "no process left in session-7.scope"), 1);
	assert_int_equal(w->cap.n, 1);
	assert_int_equal(w->cap.prio[0], LOG_DEBUG);
	assert_int_equal(w->optin_reads, 0);
	assert_int_equal(w->keeps, 0);
	assert_false(has_record(w, LEADER));
}

/* The record as close_session leaves it: open_session's, then the
 * number of trees the module kept at the logout. */
static void leave_record_kept(struct world *w, const char *args, unsigned kept)
{
	leave_record(w, LEADER, args);
	assert_int_equal(ks_record_set_kept(w->run, LEADER, getuid(), kept), 0);
}

/* max_trees caps the session: the guard keeps what the logout left of
 * it, nothing once the logout used it all. */
static void test_budget_left_by_logout(void **state)
{
	struct world *w = *state;

	/* Kept 16 of 16: no opt-in read, no keeper, one debug line. */
	leave_record_kept(w, "users=alice", KS_DEFAULT_MAX_TREES);
	assert_int_equal(run(w), KS_GUARD_NOT_KEPT);
	assert_int_equal(w->keeps, 0);
	assert_int_equal(w->optin_reads, 0);
	assert_int_equal(logcap_count(&w->cap, "the logout kept 16 tree(s) of session 7, "
					       "max_trees = 16: nothing more kept"),
			 1);
	assert_int_equal(w->cap.n, 1);
	assert_int_equal(w->cap.prio[0], LOG_DEBUG);
	assert_false(has_record(w, LEADER));

	/* Kept 3: the keeper may keep the other 13. */
	leave_record_kept(w, "users=alice", 3);
	assert_int_equal(run(w), KS_GUARD_KEPT);
	assert_int_equal(w->keeps, 1);
	assert_int_equal(w->max_trees, KS_DEFAULT_MAX_TREES - 3);
	assert_false(has_record(w, LEADER));

	/* Kept 15: one left. */
	leave_record_kept(w, "users=alice", KS_DEFAULT_MAX_TREES - 1);
	assert_int_equal(run(w), KS_GUARD_KEPT);
	assert_int_equal(w->keeps, 2);
	assert_int_equal(w->max_trees, 1);
}

/* The configured max_trees, and more kept than it allows now (the file
 * changed since the logout): nothing. */
static void test_budget_configured(void **state)
{
	struct world *w = *state;
	unsigned reads;

	leave_record_kept(w, "users=alice max_trees=5", 2);
	assert_int_equal(run(w), KS_GUARD_KEPT);
	assert_int_equal(w->max_trees, 3);

	reads = w->optin_reads;
	leave_record_kept(w, "users=alice max_trees=5", 9);
	assert_int_equal(run(w), KS_GUARD_NOT_KEPT);
	assert_int_equal(w->keeps, 1);
	assert_int_equal(w->optin_reads, reads);
}

/* A module that kept nothing (nothing matched, a frozen manager, an
 * SELinux denial) or never updated the record leaves the whole cap to
 * the guard: only the count matters. */
static void test_budget_whole_when_module_kept_nothing(void **state)
{
	struct world *w = *state;

	leave_record(w, LEADER, "users=alice");
	assert_int_equal(run(w), KS_GUARD_KEPT);
	assert_int_equal(w->max_trees, KS_DEFAULT_MAX_TREES);

	leave_record_kept(w, "users=alice", 0);
	assert_int_equal(run(w), KS_GUARD_KEPT);
	assert_int_equal(w->keeps, 2);
	assert_int_equal(w->max_trees, KS_DEFAULT_MAX_TREES);
}

/* A count no writer makes refuses the record: nothing kept. */
static void test_budget_hostile_count(void **state)
{
	static const char *const counts[] = { "-1", "4097", "99999999999999999999", "many" };
	struct world *w = *state;
	char name[16], text[256];

	assert_int_equal(mkdir(w->run, 0700), 0);
	(void)snprintf(name, sizeof(name), "%d", LEADER);
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		char *path;
		int n = snprintf(text, sizeof(text),
				 "pam_keepsession-record 1\nleader %d\nstarttime %llu\ncreated "
				 "5000000\nuid %d\nkept %s\narg users=alice\n",
				 LEADER, (unsigned long long)FAKE_STARTTIME(LEADER), ALICE,
				 counts[i]);

		path = scratch_write(w->run, name, text, (size_t)n, 0600);
		assert_non_null(path);
		assert_int_equal(run(w), KS_GUARD_NOT_OURS);
		assert_int_equal(access(path, F_OK), -1);
		free(path);
	}
	assert_int_equal(logcap_count(&w->cap, "removing the unusable record of session 7"), 4);
	assert_int_equal(w->keeps, 0);
}

/* terminate-user still stops the user's kept scopes when the logout used
 * the whole cap. */
static void test_budget_spent_terminate_user(void **state)
{
	struct world *w = *state;

	leave_record_kept(w, "users=alice", KS_DEFAULT_MAX_TREES);
	w->user_service = 1;
	w->stop_count = 16;
	assert_int_equal(run(w), KS_GUARD_NOT_KEPT);
	assert_int_equal(w->stop_calls, 1);
	assert_int_equal(w->keeps, 0);
}

static void test_nothing_kept_at_shutdown(void **state)
{
	struct world *w = *state;

	leave_record(w, LEADER, "users=alice");
	w->stopping = true;
	assert_int_equal(run(w), KS_GUARD_NOT_KEPT);
	assert_int_equal(logcap_count(&w->cap, "the system is shutting down"), 1);
	assert_int_equal(w->keeps, 0);
	assert_false(has_record(w, LEADER));
}

/* loginctl terminate-user alice: logind queued a stop job on
 * user@1000.service (247, 252) or user-runtime-dir@1000.service (257)
 * with the session's. Nothing of the session is kept, alice's kept
 * scopes are stopped, and one line says so. */
static void test_terminate_user_keeps_nothing(void **state)
{
	struct world *w = *state;

	leader_alive(w);
	leave_record(w, LEADER, "users=alice");
	w->user_service = 1;
	w->stop_count = 2;
	assert_int_equal(run(w), KS_GUARD_NOT_KEPT);
	assert_int_equal(w->keeps, 0);
	assert_int_equal(w->optin_reads, 0);
	assert_int_equal(w->stop_calls, 1);
	assert_string_equal(w->stop_pattern, "keepsession-alice-*.scope");
	assert_string_equal(w->stop_slice, "user-1000.slice");
	assert_int_equal(w->cap.n, 1);
	assert_int_equal(w->cap.prio[0], LOG_NOTICE);
	assert_int_equal(logcap_count(&w->cap, "user alice is being stopped (stop job on "
					       "user@1000.service): nothing kept from session 7, "
					       "2 kept scope(s) stopped, 0 left"),
			 1);
	assert_false(has_record(w, LEADER));

	/* 257: the stop job is on the runtime directory's service. */
	leave_record(w, LEADER, "users=alice");
	w->user_service = 0;
	w->runtime_dir = 1;
	assert_int_equal(run(w), KS_GUARD_NOT_KEPT);
	assert_int_equal(logcap_count(&w->cap, "(stop job on user-runtime-dir@1000.service)"), 1);
	/* An admin stopping the user's slice. */
	leave_record(w, LEADER, "users=alice");
	w->runtime_dir = 0;
	w->user_slice = 1;
	assert_int_equal(run(w), KS_GUARD_NOT_KEPT);
	assert_int_equal(logcap_count(&w->cap, "(stop job on user-1000.slice)"), 1);
	assert_int_equal(w->stop_calls, 3);
	assert_int_equal(w->keeps, 0);
}

/* Not eligible any more, or never: the kept scopes still go. */
static void test_terminate_user_not_opted_in(void **state)
{
	struct world *w = *state;

	leave_record(w, LEADER, NULL);
	w->runtime_dir = 1;
	assert_int_equal(run(w), KS_GUARD_NOT_KEPT);
	assert_int_equal(w->stop_calls, 1);
	assert_int_equal(w->optin_reads, 0);
	assert_int_equal(w->keeps, 0);
}

/* The scopes are looked for where the module puts them: the configured
 * slice, and the user's name escaped as in their names. */
static void test_terminate_user_configured_slice(void **state)
{
	struct world *w = *state;

	leave_record(w, LEADER, "users=alice slice=kept-%U.slice");
	w->user_service = 1;
	assert_int_equal(run(w), KS_GUARD_NOT_KEPT);
	assert_string_equal(w->stop_slice, "kept-1000.slice");
	assert_string_equal(w->stop_pattern, "keepsession-alice-*.scope");
	/* A slice per uid: its Slice tells whose a unit is. */
	assert_true(w->stop_prefix_null);
}

/* "al-ice" escapes to "al\x2dice": PID 1 matches with FNM_NOESCAPE, so
 * the pattern holds the escape as the scope's name does. */
static void test_terminate_user_escaped_names(void **state)
{
	static const char *const users[] = { "al-ice", "j.doe@corp", "anna_b" };
	struct world *w = *state;

	w->user_service = 1;
	for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
		w->n_units = 0;
		add_unit(w, users[i], 4242);
		add_unit(w, "alice", 4243);
		strcpy(w->name_of_uid, users[i]);
		leave_record(w, LEADER, "users=alice");
		assert_int_equal(run(w), KS_GUARD_NOT_KEPT);
		assert_true(w->stop_prefix_null);
		assert_int_equal(logcap_count(&w->cap, "1 kept scope(s) stopped, 0 left"),
				 (int)i + 1);
	}
	assert_string_equal(w->stop_pattern, "keepsession-anna_b-*.scope");
	strcpy(w->name_of_uid, "al-ice");
	leave_record(w, LEADER, "users=alice");
	assert_int_equal(run(w), KS_GUARD_NOT_KEPT);
	assert_string_equal(w->stop_pattern, "keepsession-al\\x2dice-*.scope");
	assert_string_equal(w->stop_slice, "user-1000.slice");
}

/* A user name long enough to be cut in the pattern: the pattern matches
 * another such user's scopes. In a slice shared by all users only a name
 * with this user's whole prefix is stopped; the others are left and
 * counted. */
static void test_terminate_user_long_name_shared_slice(void **state)
{
	struct world *w = *state;
	char bob[160];

	memset(w->name_of_uid, 'x', 101);
	strcpy(w->name_of_uid + 101, "_alice");
	memset(bob, 'x', 101);
	strcpy(bob + 101, "_bob");
	add_unit(w, w->name_of_uid, 4242);
	add_unit(w, bob, 777);
	w->user_service = 1;
	leave_record(w, LEADER, "users=alice slice=keepsession.slice");
	assert_int_equal(run(w), KS_GUARD_NOT_KEPT);
	assert_false(w->stop_prefix_null);
	assert_int_equal(strncmp(w->stop_prefix, "keepsession-xxx", 15), 0);
	assert_int_equal(w->stop_skipped, 1);
	assert_int_equal(logcap_count(&w->cap, "1 kept scope(s) stopped, 1 left (not surely the "
					       "user's)"),
			 1);

	/* A slice per uid: the manager's Slice check separates them. */
	leave_record(w, LEADER, "users=alice slice=kept-%U.slice");
	assert_int_equal(run(w), KS_GUARD_NOT_KEPT);
	assert_true(w->stop_prefix_null);
}

/* The shortest user part a scope name can keep: one ASCII byte, then
 * four-byte UTF-8 characters (16 bytes escaped each), a long program and
 * pids of 7 to 10 digits, so that the cut falls 15 bytes short of the
 * user's half of the name (97 bytes kept). Every such scope of the user
 * matches the pattern. */
static void test_terminate_user_shortest_cut(void **state)
{
	static const pid_t pids[] = { 1000000, 10000000, 100000000, 1000000000 };
	struct world *w = *state;
	char program[128];

	w->name_of_uid[0] = 'a';
	for (size_t i = 0; i < 30; i++)
		memcpy(w->name_of_uid + 1 + 4 * i, "\xf0\x9f\x98\x80", 4);
	w->name_of_uid[121] = '\0';
	memset(program, 'p', sizeof(program) - 1);
	program[sizeof(program) - 1] = '\0';
	for (size_t i = 0; i < sizeof(pids) / sizeof(pids[0]); i++)
		add_unit_of(w, w->name_of_uid, program, pids[i]);
	w->user_service = 1;
	leave_record(w, LEADER, "users=*");
	assert_int_equal(run(w), KS_GUARD_NOT_KEPT);
	assert_int_equal(logcap_count(&w->cap, "4 kept scope(s) stopped"), 1);
}

static void test_unit_owned(void **state)
{
	(void)state;
	assert_true(ks_guard_unit_owned("keepsession-bob-tmux-1.scope", NULL));
	assert_true(ks_guard_unit_owned("keepsession-alice-tmux-1.scope", "keepsession-alice-"));
	assert_false(ks_guard_unit_owned("keepsession-bob-tmux-1.scope", "keepsession-alice-"));
	assert_false(ks_guard_unit_owned("keepsession-alice", "keepsession-alice-"));
	assert_false(
		ks_guard_unit_owned("keepsession-xxxxxtmux-1.scope", "keepsession-xxxxx_alice-"));
}

/* Stopping the scopes fails: still nothing kept, and the failure said. */
static void test_terminate_user_stop_fails(void **state)
{
	struct world *w = *state;

	leave_record(w, LEADER, "users=alice");
	w->user_service = 1;
	w->stop_count = 1;
	w->stop_result = -ETIMEDOUT;
	assert_int_equal(run(w), KS_GUARD_NOT_KEPT);
	assert_int_equal(w->keeps, 0);
	assert_int_equal(logcap_count(&w->cap, "1 kept scope(s) stopped"), 1);
	assert_int_equal(logcap_count(&w->cap, "cannot stop every kept scope of user alice"), 1);
	assert_int_equal(logcap_prio(&w->cap, "cannot stop every kept scope of user alice"),
			 ks_fail_policy(KS_FAIL_KEPT_STOP_FAILED)->level);
}

/* An ordinary logout, an idle stop, terminate-session, a dead sshd: no
 * job on the user's units (or a start job, as when a kept scope's
 * Wants=user-runtime-dir@ starts it): kept as before. */
static void test_no_stop_job_kept(void **state)
{
	struct world *w = *state;

	leave_record(w, LEADER, "users=alice");
	assert_int_equal(run(w), KS_GUARD_KEPT);
	/* One question for the three units. */
	assert_int_equal(w->unit_asks, 1);
	assert_int_equal(w->keeps, 1);
	assert_int_equal(w->stop_calls, 0);
	assert_int_equal(w->cap.n, 0);
}

/* The manager cannot say (a timeout, a malformed reply): kept as on any
 * other stop, with a warning. A missed terminate-user leaves a scope an
 * admin can stop; a wrong one would take a tmux at an ordinary logout.
 * A stop job on another unit still decides. */
static void test_unreadable_jobs(void **state)
{
	struct world *w = *state;

	leave_record(w, LEADER, "users=alice");
	w->user_service = -ETIMEDOUT;
	w->runtime_dir = -EBADMSG;
	assert_int_equal(run(w), KS_GUARD_KEPT);
	assert_int_equal(w->keeps, 1);
	assert_int_equal(w->stop_calls, 0);
	assert_int_equal(logcap_count(&w->cap, "cannot tell whether user alice is being stopped"),
			 1);
	assert_int_equal(w->cap.prio[0], LOG_WARNING);

	leave_record(w, LEADER, "users=alice");
	w->user_slice = 1;
	assert_int_equal(run(w), KS_GUARD_NOT_KEPT);
	assert_int_equal(w->keeps, 1);
	assert_int_equal(w->stop_calls, 1);
	assert_int_equal(logcap_count(&w->cap, "(stop job on user-1000.slice)"), 1);
}

static void test_stale_records_swept(void **state)
{
	struct world *w = *state;

	leave_record(w, LEADER, "users=alice");
	leave_record(w, 101, NULL); /* leader gone, no session: stale */
	leave_record(w, 102, NULL); /* leader gone, session closing: kept */
	/* Leader runs, its session about to be created: kept. */
	leave_record_at(w, 103, NULL, ks_now_usec());
	/* Leader runs, no session after longer than any could match: stale. */
	leave_record_at(w, 104, NULL, ks_now_usec() - KS_RECORD_MAX_LAG_USEC - 1000000);
	fake_proc_ex(&w->fp, &(struct fake){ .pid = 103, .ppid = 1, .outside = true });
	fake_proc_ex(&w->fp, &(struct fake){ .pid = 104, .ppid = 1, .outside = true });
	w->live_leader = 102;
	assert_int_equal(run(w), KS_GUARD_KEPT);
	assert_false(has_record(w, LEADER));
	assert_false(has_record(w, 101));
	assert_true(has_record(w, 102));
	assert_true(has_record(w, 103));
	assert_false(has_record(w, 104));
}

/* Many records and many sessions: the sessions' leaders are read once per
 * sweep, and not at all when every record is young and its writer runs. */
static void test_sweep_reads_sessions_once(void **state)
{
	struct world *w = *state;
	const uint64_t now = ks_now_usec();

	w->lookup_result = -ENXIO; /* a run that only sweeps */
	w->more_sessions = 3000;
	for (pid_t pid = 1000; pid < 1300; pid++) {
		leave_record_at(w, pid, NULL, now);
		fake_proc_ex(&w->fp, &(struct fake){ .pid = pid, .ppid = 1, .outside = true });
	}
	assert_int_equal(run(w), KS_GUARD_NO_RECORD);
	assert_int_equal(w->leader_reads, 0);
	assert_true(has_record(w, 1000) && has_record(w, 1299));

	/* Half of them led by a session but old, half with the writer gone:
	 * one read for the whole sweep. */
	for (pid_t pid = 2000; pid < 2300; pid++)
		leave_record_at(w, pid, NULL, now - KS_RECORD_MAX_LAG_USEC - 1000000);
	for (pid_t pid = 100000; pid < 100300; pid++)
		leave_record_at(w, pid, NULL, now - KS_RECORD_MAX_LAG_USEC - 1000000);
	assert_int_equal(run(w), KS_GUARD_NO_RECORD);
	assert_int_equal(w->leader_reads, 1);
	assert_false(has_record(w, 2000));
	assert_false(has_record(w, 2299));
	assert_true(has_record(w, 100000));
	assert_true(has_record(w, 100299));
	assert_true(has_record(w, 1000));

	/* More sessions than read: nothing judged stale by its session. */
	leave_record(w, 3000, NULL);
	w->leaders_result = -E2BIG;
	assert_int_equal(run(w), KS_GUARD_NO_RECORD);
	assert_int_equal(w->leader_reads, 2);
	assert_true(has_record(w, 3000));
}

/* Past the guard's bound the sweep stops: no look-up, nothing removed;
 * a later run removes it. */
static void test_sweep_stops_at_deadline(void **state)
{
	struct world *w = *state;

	w->lookup_result = -ENXIO;
	leave_record(w, 101, NULL); /* leader gone, no session: stale */
	assert_int_equal(ks_guard_run("7", ks_now_usec() - KS_GUARD_LOOKUP_USEC, &w->io, &w->log),
			 KS_GUARD_NO_RECORD);
	assert_int_equal(w->leader_reads, 0);
	assert_true(has_record(w, 101));
	assert_int_equal(run(w), KS_GUARD_NO_RECORD);
	assert_int_equal(w->leader_reads, 1);
	assert_false(has_record(w, 101));
}

static void test_session_gone_sweeps(void **state)
{
	struct world *w = *state;

	/* An ordinary logout: the module kept the tmux, the scope emptied
	 * and logind dropped the session before the guard looked. */
	leave_record(w, LEADER, "users=alice");
	w->lookup_result = -ENXIO;
	assert_int_equal(run(w), KS_GUARD_NO_RECORD);
	assert_int_equal(logcap_count(&w->cap, "session 7 is gone"), 1);
	assert_int_equal(w->cap.prio[0], LOG_DEBUG);
	assert_int_equal(w->keeps, 0);
	assert_false(has_record(w, LEADER));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_no_record_at_all_no_bus, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_without_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listed_user_kept_leader_alive, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_opted_in_user_kept_leader_dead, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_canonical_user_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nothing_running_no_optin_read, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_not_opted_in_not_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_record_arguments_apply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conf_file_from_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leader_pid_reused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_session_by_stamp_or_uid, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_hostile_record_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failures_logged_nothing_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_time_left, setup, teardown),
		cmocka_unit_test_setup_teardown(test_user_changed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_emptied_scope, setup, teardown),
		cmocka_unit_test_setup_teardown(test_budget_left_by_logout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_budget_configured, setup, teardown),
		cmocka_unit_test_setup_teardown(test_budget_whole_when_module_kept_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_budget_hostile_count, setup, teardown),
		cmocka_unit_test_setup_teardown(test_budget_spent_terminate_user, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nothing_kept_at_shutdown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_terminate_user_keeps_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_terminate_user_not_opted_in, setup, teardown),
		cmocka_unit_test_setup_teardown(test_terminate_user_configured_slice, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_terminate_user_escaped_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_terminate_user_shortest_cut, setup, teardown),
		cmocka_unit_test_setup_teardown(test_terminate_user_long_name_shared_slice, setup,
						teardown),
		cmocka_unit_test(test_unit_owned),
		cmocka_unit_test_setup_teardown(test_terminate_user_stop_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_stop_job_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreadable_jobs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_records_swept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sweep_reads_sessions_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sweep_stops_at_deadline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_gone_sweeps, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
