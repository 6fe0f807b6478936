/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ks_keep(), the whole close_session work, against a fake /proc, a fake
 * cgroup tree and the fake systemd manager (and logind). The keeper pins
 * each multiplexer with pidfd_open() on its real pid, so each fake process
 * is a real child of the test that just pauses; identities (start time,
 * real uid) are read from the fake /proc only, so the fake says uid 1000
 * whoever runs the tests, and nothing is ever setuid'ed.
 *
 * What the keeper asks for: StartTransientUnit with the multiplexer alone,
 * then AttachProcessesToUnit for the rest of its tree, rescanned. The fake
 * manager moves nothing, so the fake cgroup still lists every process.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_manager.h"
#include "fakeproc.h"
#include "ks_config.h"
#include "ks_keeper.h"
#include "ks_clock.h"
#include "ks_mover.h"
#include "ks_policy.h"
#include "logcap.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

#define USER "alice"
#define USER_UID 1000
#define SESSION_ID "3"
#define SESSION_CG "/user.slice/user-1000.slice/session-3.scope"
#define MAX_CHILDREN 64

#define MSEC 1000ULL
#define SEC (1000 * MSEC)
/* Generous: the fake manager may run under valgrind. */
#define LONG (30 * SEC)
/* Hang checks, not speed assertions: a deadline of SHORT must be honoured
 * within BOUND, however slow the machine (valgrind included). */
#define SHORT (300 * MSEC)
#define BOUND (10 * SEC)

/*
 * Does pidfd_open() work here? valgrind 3.19 does not know the syscall and
 * answers ENOSYS: ks_proc_pin() then returns -ENOSYS, the keeper checks
 * the identity alone and passes PIDs. Probed once in main().
 */
static bool real_pidfds;

struct fx {
	struct fakeproc fp;
	struct ks_config c;
	struct ks_keep_target target;
	struct ks_keep_io io;
	struct logcap cap;
	struct ks_log log;

	pid_t children[MAX_CHILDREN]; /* 0 once reaped */
	size_t n_children;

	struct fake_script manager_script;
	struct fake_script logind_script;
	struct fake_manager manager;
	struct fake_manager logind;
	unsigned manager_opens;
	unsigned logind_opens;
	int manager_open_error; /* returned instead of a bus, when set */
	int logind_open_error;

	/* Runs in open_manager(), before the bus exists: what happens
	 * between the scan and the pinning of the processes. */
	void (*between)(struct fx *fx);
	pid_t victim;    /* for between() */
	pid_t straggler; /* set by between() */
};

/* ---- real child processes behind the fake ones ---- */

static pid_t spawn(struct fx *fx)
{
	pid_t parent = getpid(), pid;

	assert_true(fx->n_children < MAX_CHILDREN);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* Never outlive a test that died. */
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(0);
		for (;;)
			pause();
	}
	fx->children[fx->n_children++] = pid;
	return pid;
}

static void reap(struct fx *fx, pid_t pid)
{
	int status;

	for (size_t i = 0; i < fx->n_children; i++) {
		if (fx->children[i] != pid)
			continue;
		assert_int_equal(kill(pid, SIGKILL), 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		fx->children[i] = 0;
		return;
	}
	fail_msg("pid %d is not a child of the test", (int)pid);
}

static unsigned long long real_starttime(pid_t pid)
{
	unsigned long long starttime = 0;
	uid_t uid;

	assert_int_equal(ks_proc_identity("/proc", pid, &starttime, &uid), 0);
	return starttime;
}

/* A real child, listed in the fake /proc and session cgroup as a process of
 * uid running exe, below ppid (which need not be real: 1 is outside). */
static pid_t add_proc(struct fx *fx, pid_t ppid, uid_t uid, const char *exe)
{
	pid_t pid = spawn(fx);

	fake_proc_ex(&fx->fp, &(struct fake){ .pid = pid,
					      .ppid = ppid,
					      .uid = uid,
					      .starttime = real_starttime(pid),
					      .exe = exe });
	return pid;
}

/* Takes pid out of the fake /proc (it stays in cgroup.procs). */
static void remove_fake_proc(struct fx *fx, pid_t pid)
{
	static const char *const files[] = { "stat", "status", "exe" };
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		fp_path_join(path, sizeof(path), "%s/%d/%s", fx->fp.proc, (int)pid, files[i]);
		assert_int_equal(unlink(path), 0);
	}
	fp_path_join(path, sizeof(path), "%s/%d", fx->fp.proc, (int)pid);
	assert_int_equal(rmdir(path), 0);
}

/* ---- the seams: buses to the fakes ---- */

static int open_fake(struct fake_manager *fm, const struct fake_script *script, int error,
		     sd_bus **bus)
{
	if (error)
		return error;
	/* Opened twice: refused here, and the counts fail the test. */
	if (fm->rec)
		return -EBUSY;
	return fake_manager_start(fm, script, bus);
}

static int open_manager(void *ctx, sd_bus **bus)
{
	struct fx *fx = ctx;

	fx->manager_opens++;
	if (fx->between)
		fx->between(fx);
	return open_fake(&fx->manager, &fx->manager_script, fx->manager_open_error, bus);
}

/* The system bus: logind's answers, and the manager's, as the keeper asks
 * the manager there too when it asks logind. */
static int open_logind(void *ctx, sd_bus **bus)
{
	struct fx *fx = ctx;
	struct fake_script both = fx->manager_script;

	fx->logind_opens++;
	both.broker_hang_hello = fx->logind_script.broker_hang_hello;
	both.broker = fx->logind_script.broker;
	both.broker_no_manager = fx->logind_script.broker_no_manager;
	both.logind_mode = fx->logind_script.logind_mode;
	both.logind_bad = fx->logind_script.logind_bad;
	both.kill_user_processes = fx->logind_script.kill_user_processes;
	both.kill_only_users = fx->logind_script.kill_only_users;
	both.kill_exclude_users = fx->logind_script.kill_exclude_users;
	return open_fake(&fx->logind, &both, fx->logind_open_error, bus);
}

/* The fake that served the manager: its own, or the system bus's. */
static const struct fake_record *manager_rec(const struct fx *fx)
{
	return fx->manager.rec ? fx->manager.rec : fx->logind.rec;
}

/* Waits for a fake that was started; it must have served cleanly (which
 * also means ks_keep() closed its bus: else it would wait for EOF). */
static void stop_fake(struct fake_manager *fm, const char *what)
{
	int status;

	if (!fm->rec)
		return;
	status = fake_manager_stop(fm);
	if (status != 0)
		fail_msg("fake %s exited with %d: %s", what, status, fm->rec->error);
}

static int keep(struct fx *fx)
{
	int r = ks_keep(&fx->c, &fx->target, &fx->io, &fx->log);

	stop_fake(&fx->manager, "manager");
	stop_fake(&fx->logind, "logind");
	return r;
}

/* ---- fixture ---- */

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	fakeproc_init(&fx->fp, SESSION_CG);
	assert_int_equal(ks_config_init(&fx->c), 0);
	fx->c.when = KS_WHEN_ALWAYS;
	fx->c.timeout_usec = LONG;
	fx->log = logcap_log(&fx->cap);
	fx->target = (struct ks_keep_target){
		.user = USER,
		.uid = USER_UID,
		.session_id = SESSION_ID,
		.programs = &fx->c.commands,
		.logind_kills = ks_policy_logind_kills,
	};
	fx->io = (struct ks_keep_io){
		.proc_root = fx->fp.proc,
		.cgroup_root = fx->fp.cgroot,
		.cgroup_mode = KS_CGROUP_UNIFIED,
		.session_cgroup = SESSION_CG,
		.open_manager = open_manager,
		.open_logind = open_logind,
		.ctx = fx,
	};
	fx->manager_script.version = "252.1";
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	int status;

	fake_manager_free(&fx->manager);
	fake_manager_free(&fx->logind);
	for (size_t i = 0; i < fx->n_children; i++) {
		if (fx->children[i] <= 0)
			continue;
		(void)kill(fx->children[i], SIGKILL);
		(void)waitpid(fx->children[i], &status, 0);
	}
	ks_config_free(&fx->c);
	fakeproc_remove(&fx->fp);
	free(fx);
	return 0;
}

/* ---- assertions ---- */

/* Lines above LOG_DEBUG: what an admin sees by default. */
static unsigned loud_lines(const struct fx *fx)
{
	unsigned n = 0;

	for (unsigned i = 0; i < fx->cap.n && i < LOGCAP_LINES; i++)
		if (fx->cap.prio[i] != LOG_DEBUG)
			n++;
	return n;
}

static unsigned lines_at(const struct fx *fx, int prio)
{
	unsigned n = 0;

	for (unsigned i = 0; i < fx->cap.n && i < LOGCAP_LINES; i++)
		if (fx->cap.prio[i] == prio)
			n++;
	return n;
}

/* The nth line logged at prio, or NULL. */
static const char *line_at(const struct fx *fx, int prio, unsigned nth)
{
	for (unsigned i = 0; i < fx->cap.n && i < LOGCAP_LINES; i++)
		if (fx->cap.prio[i] == prio && nth-- == 0)
			return fx->cap.line[i];
	return NULL;
}

static void assert_line(const struct fx *fx, int prio, unsigned nth, const char *expected)
{
	const char *line = line_at(fx, prio, nth);

	if (!line || strcmp(line, expected) != 0) {
		logcap_dump(&fx->cap);
		fail_msg("want <%d> \"%s\"", prio, expected);
	}
}

/* Exactly one line at prio, and it contains needle. */
static void assert_one_line_with(const struct fx *fx, int prio, const char *needle)
{
	const char *line = line_at(fx, prio, 0);

	if (lines_at(fx, prio) != 1 || !strstr(line, needle)) {
		logcap_dump(&fx->cap);
		fail_msg("want one line <%d> with \"%s\"", prio, needle);
	}
}

static void assert_quiet(const struct fx *fx)
{
	if (loud_lines(fx) != 0) {
		logcap_dump(&fx->cap);
		fail_msg("logged above LOG_DEBUG");
	}
}

static size_t starts(const struct fx *fx)
{
	return manager_rec(fx) ? fake_call_count(manager_rec(fx), "StartTransientUnit") : 0;
}

static const struct fake_call *start_call(const struct fx *fx, size_t nth)
{
	const struct fake_call *call;

	assert_non_null(manager_rec(fx));
	call = fake_call_find(manager_rec(fx), "StartTransientUnit", nth);
	assert_non_null(call);
	return call;
}

static const struct fake_property *prop(const struct fake_call *call, const char *name)
{
	static const struct fake_property none;
	const struct fake_property *p = fake_call_property(call, name);

	if (!p) {
		fail_msg("property %s not sent", name);
		return &none; /* not reached: for the analyzer */
	}
	return p;
}

/* Each of want (n pids) exactly once in got (n_got), and nothing else. */
static void assert_same_pids(const uint32_t *got, size_t n_got, const pid_t *want, size_t n)
{
	if (n_got != n)
		fail_msg("%zu pid(s) sent, want %zu", n_got, n);
	for (size_t i = 0; i < n; i++) {
		size_t seen = 0;

		for (size_t j = 0; j < n_got; j++)
			if (got[j] == (uint32_t)want[i])
				seen++;
		if (seen != 1)
			fail_msg("pid %d sent %zu times", (int)want[i], seen);
	}
}

/* The multiplexer a StartTransientUnit carries, alone: by pidfd where real
 * pidfds exist (and the manager takes them), else by PID. */
static void assert_start_pid(const struct fake_call *call, bool pidfds, pid_t root)
{
	const struct fake_property *p;

	if (pidfds && real_pidfds) {
		p = prop(call, "PIDFDs");
		assert_string_equal(p->signature, "ah");
		assert_null(fake_call_property(call, "PIDs"));
	} else {
		p = prop(call, "PIDs");
		assert_string_equal(p->signature, "au");
		assert_null(fake_call_property(call, "PIDFDs"));
	}
	assert_same_pids(p->pids, p->n_pids, &root, 1);
}

/* What every AttachProcessesToUnit for unit carried, together, is exactly
 * the n pids of want. Returns how many calls there were for unit. */
static size_t assert_attached(const struct fx *fx, const char *unit, const pid_t *want, size_t n)
{
	uint32_t got[FAKE_MAX_CALLS * FAKE_MAX_PIDS];
	const struct fake_call *call;
	size_t n_got = 0, calls = 0;

	assert_non_null(manager_rec(fx));
	for (size_t i = 0; (call = fake_call_find(manager_rec(fx), "AttachProcessesToUnit", i));
	     i++) {
		assert_string_equal(call->arg1, "");
		if (strcmp(call->arg0, unit) != 0)
			continue;
		calls++;
		for (size_t j = 0; j < call->n_pids; j++)
			got[n_got++] = call->pids[j];
	}
	assert_same_pids(got, n_got, want, n);
	return calls;
}

static size_t attaches(const struct fx *fx)
{
	return fake_call_count(manager_rec(fx), "AttachProcessesToUnit");
}

static void scope_name(char *buf, size_t size, const char *program, pid_t pid)
{
	fp_path_join(buf, size, "keepsession-" USER "-%s-%d.scope", program, (int)pid);
}

static void kept_line(char *buf, size_t size, const char *program, pid_t pid, size_t n)
{
	char unit[128];

	scope_name(unit, sizeof(unit), program, pid);
	fp_path_join(buf, size,
		     "kept %s (pid %d, %zu process(es)) of user " USER " from session " SESSION_ID
		     " in %s",
		     program, (int)pid, n, unit);
}

/* The one line above debug: "could not keep" the tree rooted at root, at
 * err, why following (its %s the tree's scope); prefix: why starts what
 * follows. */
static void assert_not_kept(const struct fx *fx, pid_t root, const char *why, bool prefix)
{
	char unit[128], line[512];
	const char *got = line_at(fx, LOG_ERR, 0);
	size_t n;

	scope_name(unit, sizeof(unit), "tmux", root);
	n = (size_t)snprintf(line, sizeof(line),
			     "could not keep tmux (pid %d) of user " USER
			     " from session " SESSION_ID ": ",
			     (int)root);
	assert_true(n < sizeof(line));
	{
		const char *at = strstr(why, "%s");
		int len = at ? (int)(at - why) : (int)strlen(why);

		(void)snprintf(line + n, sizeof(line) - n, "%.*s%s%s", len, why, at ? unit : "",
			       at ? at + 2 : "");
	}
	if (!got || (prefix ? strncmp(got, line, strlen(line)) : strcmp(got, line)) != 0 ||
	    loud_lines(fx) != 1) {
		logcap_dump(&fx->cap);
		fail_msg("want one line <%d> \"%s\"%s", LOG_ERR, line, prefix ? "..." : "");
	}
}

/* One StartTransientUnit for a tree rooted at root. */
static void assert_start(const struct fake_call *call, const char *program, pid_t root,
			 const char *slice)
{
	const struct fake_property *p;
	char unit[128];

	scope_name(unit, sizeof(unit), program, root);
	assert_string_equal(call->arg0, unit);
	assert_string_equal(call->arg1, "fail");
	p = prop(call, "Description");
	assert_string_equal(p->signature, "s");
	assert_non_null(strstr(p->value, program));
	assert_non_null(strstr(p->value, "user " USER));
	assert_non_null(strstr(p->value, "session " SESSION_ID));
	p = prop(call, "Slice");
	assert_string_equal(p->value, slice);
	/* AttachProcessesToUnit works on delegated units only. */
	p = prop(call, "Delegate");
	assert_string_equal(p->signature, "b");
	assert_string_equal(p->value, "yes");
}

/* ---- scenarios ---- */

/* A tmux server (its parent outside the session: it daemonized), a shell
 * pane, a program in it; around them a root sudo in the pane and a user
 * process that is no multiplexer. */
struct tmux_tree {
	pid_t server, pane, child;
	pid_t root_sudo, sleeper;
};

static void add_tmux(struct fx *fx, struct tmux_tree *t)
{
	t->server = add_proc(fx, 1, USER_UID, "/usr/bin/tmux");
	t->pane = add_proc(fx, t->server, USER_UID, "/usr/bin/bash");
	t->child = add_proc(fx, t->pane, USER_UID, "/usr/bin/vim");
	t->root_sudo = add_proc(fx, t->pane, 0, "/usr/bin/sudo");
	t->sleeper = add_proc(fx, 1, USER_UID, "/usr/bin/sleep");
}

/* With when = kill: t's tmux kept, asked for on the system bus alone (no
 * connection of the manager's own), its server started alone, one line. */
static void assert_kept_on_system_bus(struct fx *fx, const struct tmux_tree *t)
{
	char line[512];

	assert_int_equal(fx->logind_opens, 1);
	assert_int_equal(fx->manager_opens, 0);
	assert_int_equal(starts(fx), 1);
	assert_start_pid(start_call(fx, 0), false, t->server);
	kept_line(line, sizeof(line), "tmux", t->server, 3);
	assert_int_equal(loud_lines(fx), 1);
	assert_line(fx, LOG_INFO, 0, line);
}

/* One scope started, for server alone, and want[] attached to it: returns
 * the number of attach calls. */
static size_t assert_one_scope(struct fx *fx, pid_t server, const pid_t *want, size_t n)
{
	char unit[128];

	assert_int_equal(starts(fx), 1);
	assert_start_pid(start_call(fx, 0), false, server);
	scope_name(unit, sizeof(unit), "tmux", server);
	return assert_attached(fx, unit, want, n);
}

/* Nothing to keep: no bus is opened, not even logind's, and nothing is
 * said at the default level. */
static void test_nothing_to_keep(void **state)
{
	struct fx *fx = *state;

	fx->c.when = KS_WHEN_KILL;
	(void)add_proc(fx, 1, USER_UID, "/usr/bin/sleep");
	(void)add_proc(fx, 1, USER_UID, "/usr/bin/bash");
	/* root's tmux in the session is not the user's to keep */
	(void)add_proc(fx, 1, 0, "/usr/bin/tmux");

	assert_int_equal(keep(fx), 0);
	assert_int_equal(fx->manager_opens, 0);
	assert_int_equal(fx->logind_opens, 0);
	assert_quiet(fx);
	assert_int_equal(logcap_count(&fx->cap, "nothing to keep"), 1);
}

static void check_keep_tmux(struct fx *fx, const char *version, bool pidfds)
{
	struct tmux_tree t;
	const struct fake_call *call;
	char line[512], unit[128];
	int fds_before;

	fx->manager_script.version = version;
	add_tmux(fx, &t);
	fds_before = fake_count_fds();
	assert_true(fds_before > 0);

	assert_int_equal(keep(fx), 1);
	assert_int_equal(fx->manager_opens, 1);
	assert_int_equal(fx->logind_opens, 0);
	assert_int_equal(starts(fx), 1);
	call = start_call(fx, 0);
	assert_start(call, "tmux", t.server, "user-1000.slice");
	assert_start_pid(call, pidfds, t.server);
	assert_null(fake_call_property(call, "RuntimeMaxUSec"));
	/* The rest of the tree in one batch, after the start: not the root
	 * sudo in the pane, not the sleep. The next round found nothing new. */
	scope_name(unit, sizeof(unit), "tmux", t.server);
	assert_int_equal(assert_attached(fx, unit, (const pid_t[]){ t.pane, t.child }, 2), 1);
	assert_int_equal(attaches(fx), 1);
	assert_true(fake_call_find(manager_rec(fx), "AttachProcessesToUnit", 0) >
		    fake_call_find(manager_rec(fx), "StartTransientUnit", 0));
	/* Whether the user is being stopped was asked first. */
	assert_int_equal(fake_call_count(manager_rec(fx), "ListJobs"), 1);
	assert_true(fake_call_find(manager_rec(fx), "ListJobs", 0) <
		    fake_call_find(manager_rec(fx), "StartTransientUnit", 0));

	kept_line(line, sizeof(line), "tmux", t.server, 3);
	assert_int_equal(loud_lines(fx), 1);
	assert_line(fx, LOG_INFO, 0, line);
	/* Every pidfd is closed, every bus gone. */
	assert_int_equal(fake_count_fds(), fds_before);
}

static void test_keep_tmux(void **state)
{
	check_keep_tmux(*state, "252.1", false);
}

/* systemd 255 takes PIDFDs (where pidfd_open() works). */
static void test_keep_tmux_pidfds(void **state)
{
	check_keep_tmux(*state, "255.4-1", true);
}

/* terminate-user: a stop job on one of the user's units. Nothing is kept
 * (no StartTransientUnit), one line says why. */
static void check_user_stopping(struct fx *fx, const char *unit)
{
	/* Another of the user's units loaded with no job (the first match
	 * is the one GetUnit answers). */
	const struct fake_loaded_unit loaded[] = {
		{ .name = unit, .job_type = "stop" },
		{ .name = "user@1000.service" },
	};
	struct tmux_tree t;
	char line[256];

	fx->manager_script.loaded = loaded;
	fx->manager_script.n_loaded = 2;
	add_tmux(fx, &t);

	assert_int_equal(keep(fx), 0);
	assert_int_equal(starts(fx), 0);
	assert_int_equal(attaches(fx), 0);
	/* One ListJobs, sent with the manager's setup. */
	assert_int_equal(fake_call_count(manager_rec(fx), "ListJobs"), 1);
	assert_int_equal(fake_call_count(manager_rec(fx), "GetUnit"), 0);
	(void)snprintf(line, sizeof(line),
		       "user alice is being stopped (stop job on %s): nothing kept from session 3",
		       unit);
	assert_line(fx, LOG_NOTICE, 0, line);
	assert_int_equal(loud_lines(fx), 1);
}

/* systemd 247, 252: the stop job is on user@UID.service. */
static void test_user_stopping_service(void **state)
{
	check_user_stopping(*state, "user@1000.service");
}

/* systemd 257: on user-runtime-dir@UID.service. */
static void test_user_stopping_runtime_dir(void **state)
{
	check_user_stopping(*state, "user-runtime-dir@1000.service");
}

/* An admin stopping the user's slice. */
static void test_user_stopping_slice(void **state)
{
	check_user_stopping(*state, "user-1000.slice");
}

/* A start job, no job, no such unit: an ordinary logout, kept. */
static void test_user_not_stopping(void **state)
{
	const struct fake_loaded_unit loaded[] = {
		{ .name = "user@1000.service", .job_type = "start" },
		{ .name = "user-runtime-dir@1000.service" },
	};
	struct fx *fx = *state;
	struct tmux_tree t;
	char line[512];

	fx->manager_script.loaded = loaded;
	fx->manager_script.n_loaded = 2;
	add_tmux(fx, &t);

	assert_int_equal(keep(fx), 1);
	assert_int_equal(starts(fx), 1);
	assert_int_equal(fake_call_count(manager_rec(fx), "ListJobs"), 1);
	assert_true(fake_call_find(manager_rec(fx), "ListJobs", 0) <
		    fake_call_find(manager_rec(fx), "StartTransientUnit", 0));
	kept_line(line, sizeof(line), "tmux", t.server, 3);
	assert_line(fx, LOG_INFO, 0, line);
	assert_int_equal(loud_lines(fx), 1);
}

/* The manager cannot tell: kept as the guard does, with one warning. */
static void test_user_stopping_unknown(void **state)
{
	struct fx *fx = *state;
	struct tmux_tree t;
	char line[512];

	fx->manager_script.get_unit_error = "org.freedesktop.DBus.Error.AccessDenied";
	add_tmux(fx, &t);

	assert_int_equal(keep(fx), 1);
	assert_int_equal(starts(fx), 1);
	assert_one_line_with(fx, LOG_WARNING,
			     "cannot tell whether user alice is being stopped (Permission denied), "
			     "keeping as for a logout");
	kept_line(line, sizeof(line), "tmux", t.server, 3);
	assert_line(fx, LOG_INFO, 0, line);
	assert_int_equal(loud_lines(fx), 2);
}

/* The stop guard asked already: not asked again. */
static void test_user_stop_checked(void **state)
{
	const struct fake_loaded_unit loaded[] = {
		{ .name = "user@1000.service", .job_type = "stop" },
	};
	struct fx *fx = *state;
	struct tmux_tree t;

	fx->io.user_stop_checked = true;
	fx->manager_script.loaded = loaded;
	fx->manager_script.n_loaded = 1;
	add_tmux(fx, &t);

	assert_int_equal(keep(fx), 1);
	assert_int_equal(starts(fx), 1);
	assert_int_equal(fake_call_count(manager_rec(fx), "ListJobs"), 0);
}

static void test_two_trees(void **state)
{
	struct fx *fx = *state;
	struct tmux_tree t;
	pid_t screen, window;
	const struct fake_call *tmux_call, *screen_call;
	char line[512], unit[128];

	add_tmux(fx, &t);
	screen = add_proc(fx, 1, USER_UID, "/usr/bin/screen");
	window = add_proc(fx, screen, USER_UID, "/usr/bin/bash");

	assert_int_equal(keep(fx), 2);
	assert_int_equal(fx->manager_opens, 1);
	assert_int_equal(starts(fx), 2);
	/* Trees go in the order of their root's pid. */
	tmux_call = start_call(fx, t.server < screen ? 0 : 1);
	screen_call = start_call(fx, t.server < screen ? 1 : 0);
	assert_start(tmux_call, "tmux", t.server, "user-1000.slice");
	assert_start_pid(tmux_call, false, t.server);
	assert_start(screen_call, "screen", screen, "user-1000.slice");
	assert_start_pid(screen_call, false, screen);
	scope_name(unit, sizeof(unit), "tmux", t.server);
	assert_int_equal(assert_attached(fx, unit, (const pid_t[]){ t.pane, t.child }, 2), 1);
	scope_name(unit, sizeof(unit), "screen", screen);
	assert_int_equal(assert_attached(fx, unit, (const pid_t[]){ window }, 1), 1);
	assert_int_equal(attaches(fx), 2);

	assert_int_equal(loud_lines(fx), 2);
	assert_int_equal(lines_at(fx, LOG_INFO), 2);
	kept_line(line, sizeof(line), "tmux", t.server, 3);
	assert_int_equal(logcap_count(&fx->cap, line), 1);
	kept_line(line, sizeof(line), "screen", screen, 2);
	assert_int_equal(logcap_count(&fx->cap, line), 1);
}

/* when=kill: logind is asked, and only its "no" stops the keeping. The
 * manager is asked on the same connection meanwhile (so that both work at
 * once), but only its Version. */
static void test_when_kill_logind_spares(void **state)
{
	struct fx *fx = *state;
	struct tmux_tree t;

	fx->c.when = KS_WHEN_KILL;
	fx->logind_script.kill_user_processes = false;
	add_tmux(fx, &t);

	assert_int_equal(keep(fx), 0);
	assert_int_equal(fx->logind_opens, 1);
	assert_int_equal(fx->manager_opens, 0);
	assert_int_equal(starts(fx), 0);
	assert_non_null(fake_call_find(fx->logind.rec, "Get", 0));
	assert_string_equal(fake_call_find(fx->logind.rec, "Get", 0)->arg1, "KillUserProcesses");
	assert_int_equal(fake_call_count(fx->logind.rec, "Get"), 4);
	assert_string_equal(fake_call_find(fx->logind.rec, "Get", 3)->arg1, "Version");
	assert_quiet(fx);
	assert_int_equal(logcap_count(&fx->cap, "logind does not kill"), 1);
}

static void test_when_kill_logind_kills(void **state)
{
	struct fx *fx = *state;
	struct tmux_tree t;

	fx->c.when = KS_WHEN_KILL;
	fx->logind_script.kill_user_processes = true;
	add_tmux(fx, &t);

	assert_int_equal(keep(fx), 1);
	assert_kept_on_system_bus(fx, &t);
}

/* ks_keep_early() with the whole timeout ahead. */
static struct ks_keep_early *begin_early(struct fx *fx)
{
	struct ks_keep_early *early = NULL;

	assert_int_equal(ks_keep_early(&fx->c, &fx->target, &fx->io, &fx->log, ks_now_usec() + LONG,
				       ks_now_usec() + LONG, &early),
			 0);
	assert_non_null(early);
	return early;
}

/* ks_keep() with a keep begun early, as the glue does before the opt-in
 * read; io.early is taken over. */
static int keep_early(struct fx *fx, struct ks_keep_early *early)
{
	int r;

	fx->io.early = early;
	r = keep(fx);
	fx->io.early = NULL;
	return r;
}

/* Begun early, the system bus is opened and logind and the manager asked
 * before the scan; the keep uses that connection and opens no other. */
static void test_early_keeps(void **state)
{
	struct fx *fx = *state;
	struct ks_keep_early *early = NULL;
	struct tmux_tree t;
	int fds_before;

	fx->c.when = KS_WHEN_KILL;
	fx->logind_script.kill_user_processes = true;
	add_tmux(fx, &t);
	fds_before = fake_count_fds();
	early = begin_early(fx);
	assert_int_equal(fx->logind_opens, 1);

	assert_int_equal(keep_early(fx, early), 1);
	assert_kept_on_system_bus(fx, &t);
	assert_int_equal(fake_call_count(fx->logind.rec, "ListJobs"), 1);
	assert_int_equal(fake_count_fds(), fds_before);
}

/* The keep's time counts from ks_keep_early(), not from ks_keep(): the
 * close's deadline, given early, is the keep's (timeout bounds the whole
 * close, the opt-in read included). */
static void test_early_deadline_is_the_keeps(void **state)
{
	struct fx *fx = *state;
	struct ks_keep_early *early = NULL;
	struct ks_keep_stats stats = { 0 };
	struct tmux_tree t;
	uint64_t deadline;

	fx->io.stats = &stats;
	add_tmux(fx, &t);
	/* Under timeout from here: the keep's deadline is this one. */
	deadline = ks_now_usec() + fx->c.timeout_usec - 1;
	assert_int_equal(
		ks_keep_early(&fx->c, &fx->target, &fx->io, &fx->log, deadline, deadline, &early),
		0);
	assert_int_equal(keep_early(fx, early), 1);
	assert_int_equal(stats.deadline, deadline);
	assert_int_equal(stats.late_calls, 0);
}

/* Begun early for nothing (the scan finds no tree of the user's): no
 * start, the connection closed, nothing said, and no second connection:
 * with when = always the manager's own socket is the one opened early,
 * with when = kill the system bus, whose logind reads are dropped
 * unanswered. */
static void check_early_nothing(struct fx *fx, enum ks_when when)
{
	const unsigned *opened = when == KS_WHEN_KILL ? &fx->logind_opens : &fx->manager_opens;
	const unsigned *other = when == KS_WHEN_KILL ? &fx->manager_opens : &fx->logind_opens;
	struct ks_keep_early *early;
	int fds_before;

	fx->c.when = when;
	(void)add_proc(fx, 1, 0, "/usr/bin/tmux");
	fds_before = fake_count_fds();
	early = begin_early(fx);
	assert_int_equal(*opened, 1);
	assert_int_equal(keep_early(fx, early), 0);
	assert_int_equal(*opened, 1);
	assert_int_equal(*other, 0);
	assert_int_equal(starts(fx), 0);
	assert_quiet(fx);
	assert_int_equal(fake_count_fds(), fds_before);
}

static void test_early_nothing_to_keep(void **state)
{
	check_early_nothing(*state, KS_WHEN_ALWAYS);
}

static void test_early_nothing_to_keep_kill(void **state)
{
	check_early_nothing(*state, KS_WHEN_KILL);
}

/* Dropped when the user turns out not to be kept; and not begun at all
 * past the close's deadline. */
static void test_early_dropped(void **state)
{
	struct fx *fx = *state;
	struct ks_keep_early *early = NULL;
	int fds_before = fake_count_fds();

	fx->c.when = KS_WHEN_KILL;
	early = begin_early(fx);
	assert_int_equal(fx->logind_opens, 1);
	ks_keep_early_free(early);
	stop_fake(&fx->logind, "logind");
	assert_int_equal(fake_count_fds(), fds_before);

	early = (struct ks_keep_early *)&fx->io; /* must be reset */
	assert_int_equal(ks_keep_early(&fx->c, &fx->target, &fx->io, &fx->log, ks_now_usec(),
				       ks_now_usec(), &early),
			 -ETIMEDOUT);
	assert_null(early);
	assert_int_equal(fx->logind_opens, 1);
	assert_quiet(fx);
}

/* KillExcludeUsers wins over KillUserProcesses, as in logind. */
static void test_when_kill_user_excluded(void **state)
{
	static const char *const exclude[] = { "root", USER, NULL };
	struct fx *fx = *state;
	struct tmux_tree t;

	fx->c.when = KS_WHEN_KILL;
	fx->logind_script.kill_user_processes = true;
	fx->logind_script.kill_exclude_users = exclude;
	add_tmux(fx, &t);

	assert_int_equal(keep(fx), 0);
	assert_int_equal(fx->logind_opens, 1);
	assert_int_equal(fx->manager_opens, 0);
	assert_int_equal(starts(fx), 0);
	assert_quiet(fx);
}

/* An answer logind does not give counts as "it kills": kept anyway. */
static void test_when_kill_logind_error(void **state)
{
	struct fx *fx = *state;
	struct tmux_tree t;

	fx->c.when = KS_WHEN_KILL;
	fx->logind_script.logind_mode = FAKE_LOGIND_ERROR;
	fx->logind_script.logind_bad = "KillUserProcesses";
	add_tmux(fx, &t);

	assert_int_equal(keep(fx), 1);
	assert_int_equal(fx->logind_opens, 1);
	assert_int_equal(fx->manager_opens, 0);
	assert_int_equal(starts(fx), 1);
	assert_one_line_with(fx, LOG_WARNING, "cannot read logind's KillUserProcesses");
	assert_int_equal(logcap_count(&fx->cap, "keeping anyway"), 1);
	assert_int_equal(lines_at(fx, LOG_INFO), 1);
}

static void test_when_kill_logind_unreachable(void **state)
{
	struct fx *fx = *state;
	struct tmux_tree t;

	fx->c.when = KS_WHEN_KILL;
	fx->logind_open_error = -ENOENT;
	add_tmux(fx, &t);

	assert_int_equal(keep(fx), 1);
	assert_int_equal(fx->logind_opens, 1);
	assert_int_equal(fx->manager_opens, 1);
	assert_one_line_with(fx, LOG_WARNING, strerror(ENOENT));
	assert_int_equal(lines_at(fx, LOG_INFO), 1);
}

static void test_job_failed(void **state)
{
	struct fx *fx = *state;
	struct tmux_tree t;
	char line[512];

	fx->manager_script.steps[0] = (struct fake_start_step){ .result = "failed" };
	fx->manager_script.n_steps = 1;
	add_tmux(fx, &t);

	assert_int_equal(keep(fx), 0);
	assert_int_equal(starts(fx), 1);
	fp_path_join(line, sizeof(line),
		     "could not keep tmux (pid %d) of user " USER " from session " SESSION_ID
		     ": failed",
		     (int)t.server);
	assert_int_equal(loud_lines(fx), 1);
	assert_line(fx, LOG_ERR, 0, line);
	/* Nothing is attached to a scope that does not run. */
	assert_int_equal(attaches(fx), 0);
}

/* The manager cannot be reached: an error, and nothing else happens. */
static void test_manager_unreachable(void **state)
{
	struct fx *fx = *state;
	struct tmux_tree t;

	fx->manager_open_error = -ECONNREFUSED;
	add_tmux(fx, &t);

	assert_int_equal(keep(fx), -ECONNREFUSED);
	assert_int_equal(fx->manager_opens, 1);
	assert_int_equal(loud_lines(fx), 1);
	assert_one_line_with(fx, LOG_ERR, "cannot reach the systemd manager");
}

/* Runs ks_keep() with a timeout against a manager that stops answering
 * somewhere; returns ks_keep()'s result. */
static int keep_bounded_in(struct fx *fx, uint64_t timeout)
{
	uint64_t start;
	int r;

	fx->c.timeout_usec = timeout;
	start = ks_now_usec();
	r = ks_keep(&fx->c, &fx->target, &fx->io, &fx->log);
	if (ks_now_usec() - start >= BOUND)
		fail_msg("ks_keep() took %llu ms with a %llu ms timeout",
			 (unsigned long long)((ks_now_usec() - start) / MSEC),
			 (unsigned long long)(timeout / MSEC));
	stop_fake(&fx->manager, "manager");
	stop_fake(&fx->logind, "logind");
	return r;
}

static int keep_bounded(struct fx *fx)
{
	return keep_bounded_in(fx, SHORT);
}

static void test_manager_hangs_on_start(void **state)
{
	struct fx *fx = *state;
	struct tmux_tree t;

	fx->manager_script.steps[0] = (struct fake_start_step){ .action = FAKE_START_HANG };
	fx->manager_script.n_steps = 1;
	add_tmux(fx, &t);

	assert_int_equal(keep_bounded(fx), 0);
	assert_int_equal(starts(fx), 1);
	assert_not_kept(fx, t.server,
			"StartTransientUnit(%s): no answer in time; systemd may still carry it out",
			false);
}

/* A start that fails is said once, by the keeper, through the table
 * (scope-failed): the tree, then what the mover found, unit named. */
static void check_start_fails(struct fx *fx, const struct fake_start_step *step, const char *why,
			      bool prefix)
{
	struct tmux_tree t;

	fx->manager_script.steps[0] = *step;
	fx->manager_script.n_steps = 1;
	add_tmux(fx, &t);

	assert_int_equal(keep(fx), 0);
	assert_int_equal(starts(fx), 1);
	assert_not_kept(fx, t.server, why, prefix);
	assert_int_equal(attaches(fx), 0);
}

static void test_start_refused(void **state)
{
	check_start_fails(*state,
			  &(struct fake_start_step){ .action = FAKE_START_ERROR,
						     .error_name = SD_BUS_ERROR_ACCESS_DENIED,
						     .error_message = "Access denied" },
			  "StartTransientUnit(%s) failed: org.freedesktop.DBus.Error.AccessDenied: "
			  "Access denied",
			  false);
}

static void test_start_wrong_signature(void **state)
{
	check_start_fails(*state, &(struct fake_start_step){ .action = FAKE_START_WRONG_SIGNATURE },
			  "StartTransientUnit(%s): unexpected reply signature \"s\"", false);
}

/* The connection drops while the job runs: the job ends failed, and the
 * one line says why. */
static void test_start_connection_lost(void **state)
{
	check_start_fails(*state,
			  &(struct fake_start_step){ .action = FAKE_START_DISCONNECT_AFTER_REPLY },
			  "lost the connection to the systemd manager: ", true);
}

/* A slice the manager would refuse is not asked for: the one line names
 * it and the scope. */
static void test_start_invalid_slice(void **state)
{
	struct fx *fx = *state;
	struct tmux_tree t;

	free(fx->c.slice);
	fx->c.slice = strdup("no\nslice");
	assert_non_null(fx->c.slice);
	add_tmux(fx, &t);

	assert_int_equal(keep(fx), 0);
	assert_int_equal(starts(fx), 0);
	assert_not_kept(fx, t.server, "invalid slice \"no?slice\" for %s", false);
}

static void test_job_never_ends(void **state)
{
	struct fx *fx = *state;
	struct tmux_tree t;
	char line[512];

	fx->manager_script.steps[0] = (struct fake_start_step){ .action = FAKE_START_NO_SIGNAL };
	fx->manager_script.n_steps = 1;
	add_tmux(fx, &t);

	assert_int_equal(keep_bounded(fx), 0);
	assert_int_equal(starts(fx), 1);
	fp_path_join(line, sizeof(line),
		     "could not keep tmux (pid %d) of user " USER " from session " SESSION_ID
		     ": no answer from systemd in time (PID 1 may still start the scope)",
		     (int)t.server);
	assert_int_equal(lines_at(fx, LOG_INFO), 0);
	assert_int_equal(lines_at(fx, LOG_ERR), 1);
	assert_line(fx, LOG_ERR, 0, line);
}

static void test_manager_hangs_on_version(void **state)
{
	struct fx *fx = *state;
	struct tmux_tree t;

	fx->manager_script.version_mode = FAKE_VERSION_HANG;
	add_tmux(fx, &t);

	assert_int_equal(keep_bounded(fx), -ETIMEDOUT);
	assert_int_equal(starts(fx), 0);
	assert_int_equal(lines_at(fx, LOG_INFO), 0);
	assert_int_equal(logcap_count(&fx->cap, "cannot talk to the systemd manager"), 1);
	/* A frozen manager is one line, not "cannot connect" and then
	 * "cannot talk". */
	assert_int_equal(loud_lines(fx), 1);
}

/* A silent logind must not hold the logout either, nor eat the whole
 * deadline: it gets a third of it, and the tree is kept anyway, as the
 * warning says. */
static void test_logind_hangs(void **state)
{
	struct fx *fx = *state;
	struct tmux_tree t;

	fx->c.when = KS_WHEN_KILL;
	fx->logind_script.logind_mode = FAKE_LOGIND_HANG;
	fx->logind_script.logind_bad = "KillUserProcesses";
	add_tmux(fx, &t);

	/* logind has a third of the timeout; the rest keeps the tree. A
	 * timeout long enough for the fake manager to start under valgrind:
	 * what is checked is that logind's silence leaves the rest. */
	assert_int_equal(keep_bounded_in(fx, 3 * SEC), 1);
	assert_int_equal(fx->logind_opens, 1);
	assert_int_equal(starts(fx), 1);
	assert_int_equal(lines_at(fx, LOG_INFO), 1);
	assert_one_line_with(fx, LOG_WARNING, "cannot read logind's KillUserProcesses");
	assert_int_equal(logcap_count(&fx->cap, "nothing kept for " USER), 0);
}

/* The system bus is a broker: the manager is asked there as a bus client
 * (Subscribe, JobRemoved from the unique name that answered), on the
 * connection logind answered on, and no private socket is opened. */
static void test_when_kill_one_connection(void **state)
{
	struct fx *fx = *state;
	struct tmux_tree t;

	fx->c.when = KS_WHEN_KILL;
	fx->logind_script.broker = true;
	fx->logind_script.kill_user_processes = true;
	add_tmux(fx, &t);

	assert_int_equal(keep(fx), 1);
	assert_int_equal(fx->logind_opens, 1);
	assert_int_equal(fx->manager_opens, 0);
	assert_int_equal(fake_call_count(fx->logind.rec, "Subscribe"), 1);
	assert_int_equal(starts(fx), 1);
	assert_int_equal(attaches(fx), 1);
	assert_int_equal(lines_at(fx, LOG_INFO), 1);
	assert_int_equal(loud_lines(fx), 1);
}

/* The way out when the system bus is no way to the manager: the manager
 * asked on its own socket, within the timeout, and the tree kept there,
 * said in one line; logind_lost: logind's answer was lost with the bus. */
static void check_fell_back(struct fx *fx, bool logind_lost)
{
	struct tmux_tree t;

	fx->c.when = KS_WHEN_KILL;
	add_tmux(fx, &t);

	assert_int_equal(keep_bounded_in(fx, 3 * SEC), 1);
	assert_int_equal(fx->logind_opens, 1);
	assert_int_equal(fx->manager_opens, 1);
	assert_int_equal(fake_call_count(fx->manager.rec, "StartTransientUnit"), 1);
	assert_int_equal(fake_call_count(fx->logind.rec, "StartTransientUnit"), 0);
	assert_int_equal(logcap_count(&fx->cap, "trying its private socket"), 1);
	assert_int_equal(lines_at(fx, LOG_INFO), 1);
	assert_int_equal(loud_lines(fx), logind_lost ? 2 : 1);
	if (logind_lost)
		assert_one_line_with(fx, LOG_WARNING, "cannot read logind's KillUserProcesses");
}

/* dbus-daemon accepts the connection but never answers Hello: logind's
 * third of the timeout passes, then the manager is asked on its own
 * socket, and the tree is kept, within the timeout. */
static void test_system_bus_hello_hangs(void **state)
{
	struct fx *fx = *state;

	fx->logind_script.broker = true;
	fx->logind_script.broker_hang_hello = true;
	check_fell_back(fx, true);
}

/* The system bus drops the connection mid-call: the same way out. */
static void test_system_bus_drops(void **state)
{
	struct fx *fx = *state;

	fx->logind_script.logind_mode = FAKE_LOGIND_DISCONNECT;
	fx->logind_script.logind_bad = "KillUserProcesses";
	check_fell_back(fx, true);
}

/* The system bus is up, but the manager is not on it (dbus restarted,
 * PID 1 not back yet): the broker refuses the calls to it, sent without
 * auto-start (with it, dbus-daemon would hold them until PID 1 comes).
 * No answer came from the manager, whose JobRemoved could then never be
 * believed: it is asked on its own socket, and the tree is kept. */
static void test_system_bus_without_manager(void **state)
{
	struct fx *fx = *state;

	fx->logind_script.broker = true;
	fx->logind_script.broker_no_manager = true;
	fx->logind_script.kill_user_processes = true;
	check_fell_back(fx, false);
}

/* Not in the session's scope (a module stacked in the wrong place, or
 * run from a service): nothing is touched, whatever the session holds. */
static void test_not_in_session_scope(void **state)
{
	struct fx *fx = *state;
	struct tmux_tree t;

	fx->io.session_cgroup = "/system.slice/sshd.service";
	add_tmux(fx, &t);

	assert_int_equal(keep(fx), 0);
	assert_int_equal(fx->manager_opens, 0);
	assert_int_equal(fx->logind_opens, 0);
	assert_int_equal(loud_lines(fx), 1);
	assert_one_line_with(fx, LOG_WARNING, "sshd.service");
	assert_int_equal(logcap_count(&fx->cap, "not running in the scope of session 3"), 1);
}

/* Another session's scope is not this session's either. */
static void test_other_session_scope(void **state)
{
	struct fx *fx = *state;
	struct tmux_tree t;

	fx->io.session_cgroup = "/user.slice/user-1000.slice/session-33.scope";
	add_tmux(fx, &t);

	assert_int_equal(keep(fx), 0);
	assert_int_equal(fx->manager_opens, 0);
	assert_one_line_with(fx, LOG_WARNING, "session-33.scope");
}

/* A caller that could not tell the session's cgroup: nothing is touched. */
static void test_no_session_cgroup(void **state)
{
	struct fx *fx = *state;
	struct tmux_tree t;

	fx->io.session_cgroup = NULL;
	add_tmux(fx, &t);

	assert_int_equal(keep(fx), 0);
	assert_int_equal(fx->manager_opens, 0);
	assert_int_equal(fx->logind_opens, 0);
	assert_int_equal(loud_lines(fx), 1);
	assert_one_line_with(fx, LOG_WARNING, "not running in the scope of session 3");
}

/* The session's cgroup cannot be read: nothing is touched, and the one
 * line says which cgroup and why (ks_cgroup_pids() says nothing itself). */
static void test_session_cgroup_unreadable(void **state)
{
	struct fx *fx = *state;
	struct tmux_tree t;

	add_tmux(fx, &t);
	fx->io.cgroup_root = "/nonexistent-cgroup-root";

	assert_int_equal(keep(fx), -ENOENT);
	assert_int_equal(fx->manager_opens, 0);
	assert_int_equal(fx->logind_opens, 0);
	assert_int_equal(loud_lines(fx), 1);
	assert_one_line_with(fx, LOG_ERR,
			     "cannot list the processes of session 3 (cgroup " SESSION_CG
			     "): No such file or directory");
}

/* Without pidfds the keeper's only witness for the multiplexer is
 * proc_root: one that exited is gone from it, between the scan and the pin. */
static void drop_victim_without_pidfds(struct fx *fx)
{
	if (!real_pidfds)
		remove_fake_proc(fx, fx->victim);
}

/*
 * The tmux server exits after the scan: the fake /proc still lists it, but
 * the real process is gone, so pidfd_open() fails. The tree is skipped
 * without a word: nothing left to keep is not a problem.
 */
static void test_root_gone(void **state)
{
	struct fx *fx = *state;
	struct tmux_tree t;

	add_tmux(fx, &t);
	reap(fx, t.server);
	fx->victim = t.server;
	fx->between = drop_victim_without_pidfds;

	assert_int_equal(keep(fx), 0);
	assert_int_equal(fx->manager_opens, 1);
	assert_int_equal(starts(fx), 0);
	assert_int_equal(attaches(fx), 0);
	assert_quiet(fx);
}

/* The rest of a tree is found by a rescan after the start: what exited
 * meanwhile (gone from /proc) is not asked for. */
static void drop_victim(struct fx *fx)
{
	remove_fake_proc(fx, fx->victim);
}

static void test_member_gone(void **state)
{
	struct fx *fx = *state;
	struct tmux_tree t;
	char line[512];

	add_tmux(fx, &t);
	reap(fx, t.child);
	fx->victim = t.child;
	fx->between = drop_victim;

	assert_int_equal(keep(fx), 1);
	assert_int_equal(assert_one_scope(fx, t.server, (const pid_t[]){ t.pane }, 1), 1);
	kept_line(line, sizeof(line), "tmux", t.server, 2);
	assert_int_equal(loud_lines(fx), 1);
	assert_line(fx, LOG_INFO, 0, line);
}

/* Between the scan and the pin, the victim's pid comes to name another
 * process: another start time, another parent. */
static void reuse_victim_pid(struct fx *fx)
{
	fake_proc_ex(&fx->fp, &(struct fake){ .pid = fx->victim,
					      .ppid = 1,
					      .uid = USER_UID,
					      .starttime = real_starttime(fx->victim) + 100,
					      .outside = true });
}

/* A reused pid below the multiplexer is not part of its tree any more. */
static void test_pid_reused(void **state)
{
	struct fx *fx = *state;
	struct tmux_tree t;
	char line[512], unit[128];

	add_tmux(fx, &t);
	fx->victim = t.child;
	fx->between = reuse_victim_pid;

	assert_int_equal(keep(fx), 1);
	assert_int_equal(starts(fx), 1);
	scope_name(unit, sizeof(unit), "tmux", t.server);
	assert_int_equal(assert_attached(fx, unit, (const pid_t[]){ t.pane }, 1), 1);
	kept_line(line, sizeof(line), "tmux", t.server, 2);
	assert_line(fx, LOG_INFO, 0, line);
}

/* The multiplexer's own pid reused: the pin refuses it (pidfd or not), and
 * its tree is not kept at all. */
static void test_root_pid_reused(void **state)
{
	struct fx *fx = *state;
	struct tmux_tree t;

	add_tmux(fx, &t);
	fx->victim = t.server;
	fx->between = reuse_victim_pid;

	assert_int_equal(keep(fx), 0);
	assert_int_equal(starts(fx), 0);
	assert_int_equal(attaches(fx), 0);
	assert_quiet(fx);
}

/* Between the scan and the pin, proc_root goes away. */
static void hide_proc_root(struct fx *fx)
{
	char hidden[PATH_MAX];

	fp_path_join(hidden, sizeof(hidden), "%s.hidden", fx->fp.proc);
	assert_int_equal(rename(fx->fp.proc, hidden), 0);
}

static void unhide_proc_root(struct fx *fx)
{
	char hidden[PATH_MAX];

	fp_path_join(hidden, sizeof(hidden), "%s.hidden", fx->fp.proc);
	assert_int_equal(rename(hidden, fx->fp.proc), 0);
}

/*
 * The multiplexer cannot be pinned for another reason than its exit (here
 * proc_root is gone; in life pidfd_open() out of fds, or refused by a
 * seccomp filter): the tree is lost, and that is said, not taken for an
 * exit.
 */
static void test_pin_error_said(void **state)
{
	struct fx *fx = *state;
	struct tmux_tree t;

	add_tmux(fx, &t);
	fx->between = hide_proc_root;

	assert_int_equal(keep(fx), 0);
	unhide_proc_root(fx);
	assert_int_equal(fx->manager_opens, 1);
	assert_int_equal(starts(fx), 0);
	assert_one_line_with(fx, LOG_ERR, strerror(ENOENT));
	assert_int_equal(logcap_count(&fx->cap, "could not keep tmux"), 1);
	assert_int_equal(logcap_count(&fx->cap, "cannot pin it"), 1);
	assert_int_equal(loud_lines(fx), 1);
}

static void check_max_age(struct fx *fx, const char *version, bool sent)
{
	const struct fake_call *call;
	const struct fake_property *p;
	struct tmux_tree t;

	fx->manager_script.version = version;
	fx->c.max_age_usec = 2 * 3600 * SEC;
	add_tmux(fx, &t);

	assert_int_equal(keep(fx), 1);
	call = start_call(fx, 0);
	p = fake_call_property(call, "RuntimeMaxUSec");
	if (sent) {
		assert_non_null(p);
		assert_string_equal(p->signature, "t");
		assert_string_equal(p->value, "7200000000");
		assert_int_equal(logcap_count(&fx->cap, "max_age"), 0);
		assert_int_equal(loud_lines(fx), 1);
	} else {
		assert_null(p);
		assert_line(fx, LOG_NOTICE, 0, "max_age needs systemd >= 244; no limit");
		assert_int_equal(logcap_count(&fx->cap, "max_age"), 1);
		assert_int_equal(loud_lines(fx), 2);
	}
	assert_int_equal(lines_at(fx, LOG_INFO), 1);
}

static void test_max_age(void **state)
{
	check_max_age(*state, "252.1", true);
}

static void test_max_age_old_systemd(void **state)
{
	check_max_age(*state, "243", false);
}

/* Two trees, one close: the notice is said once, by the keeper. */
static void test_max_age_said_once(void **state)
{
	struct fx *fx = *state;
	struct tmux_tree t;
	pid_t screen;

	fx->manager_script.version = "243";
	fx->c.max_age_usec = 2 * 3600 * SEC;
	add_tmux(fx, &t);
	screen = add_proc(fx, 1, USER_UID, "/usr/bin/screen");
	(void)add_proc(fx, screen, USER_UID, "/usr/bin/bash");

	assert_int_equal(keep(fx), 2);
	assert_int_equal(starts(fx), 2);
	assert_int_equal(lines_at(fx, LOG_NOTICE), 1);
	assert_line(fx, LOG_NOTICE, 0, "max_age needs systemd >= 244; no limit");
	assert_int_equal(lines_at(fx, LOG_INFO), 2);
	assert_int_equal(loud_lines(fx), 3);
}

static void test_slice_setting(void **state)
{
	struct fx *fx = *state;
	struct tmux_tree t;

	fx->c.slice = strdup("keep-%U.slice");
	assert_non_null(fx->c.slice);
	add_tmux(fx, &t);

	assert_int_equal(keep(fx), 1);
	assert_start(start_call(fx, 0), "tmux", t.server, "keep-1000.slice");
}

/* The pane forks between the scan and the move: the child is found by the
 * rescan and attached after the rest. A root process forked there is not. */
static void fork_in_pane(struct fx *fx)
{
	fx->straggler = add_proc(fx, fx->victim, USER_UID, "/usr/bin/make");
	(void)add_proc(fx, fx->victim, 0, "/usr/bin/sudo");
}

static void test_forked_meanwhile(void **state)
{
	struct fx *fx = *state;
	struct tmux_tree t;
	char line[512], unit[128];

	add_tmux(fx, &t);
	fx->victim = t.pane;
	fx->between = fork_in_pane;

	assert_int_equal(keep(fx), 1);
	assert_start_pid(start_call(fx, 0), false, t.server);
	scope_name(unit, sizeof(unit), "tmux", t.server);
	/* Two calls: the selected descendants in round 0, without a rescan,
	 * then the child forked meanwhile, found by the round 1 rescan. */
	assert_int_equal(
		assert_attached(fx, unit, (const pid_t[]){ t.pane, t.child, fx->straggler }, 3), 2);
	kept_line(line, sizeof(line), "tmux", t.server, 4);
	assert_int_equal(loud_lines(fx), 1);
	assert_line(fx, LOG_INFO, 0, line);
}

/*
 * A tree's first batch is a quarter of the others: PID 1 starts moving
 * after 32 pins, not 128, and the rest follows in the next batch. A pane
 * of 39 processes: the pane and 31 of them first, then the other 8.
 */
static void test_first_batch_small(void **state)
{
	struct fx *fx = *state;
	const struct fake_call *first, *second;
	pid_t server, pane, want[40];
	char unit[128];

	server = add_proc(fx, 1, USER_UID, "/usr/bin/tmux");
	pane = add_proc(fx, server, USER_UID, "/usr/bin/bash");
	want[0] = pane;
	for (size_t i = 1; i < 40; i++)
		want[i] = add_proc(fx, pane, USER_UID, "/usr/bin/sleep");

	assert_int_equal(keep(fx), 1);
	scope_name(unit, sizeof(unit), "tmux", server);
	assert_int_equal(assert_attached(fx, unit, want, 40), 2);
	first = fake_call_find(manager_rec(fx), "AttachProcessesToUnit", 0);
	second = fake_call_find(manager_rec(fx), "AttachProcessesToUnit", 1);
	assert_non_null(first);
	assert_non_null(second);
	assert_int_equal(first->n_pids, 32);
	assert_int_equal(second->n_pids, 8);
}

/* The pane turns into another uid's (a su in it) after the scan. */
static void pane_changes_uid(struct fx *fx)
{
	char path[PATH_MAX], status[256];

	fp_path_join(path, sizeof(path), "%s/%d/status", fx->fp.proc, (int)fx->victim);
	fp_path_join(status, sizeof(status), "Name:\tbash\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n");
	fp_write_file(path, status);
}

/*
 * The members' real uids are read once the roots' scopes are asked for,
 * while systemd moves the roots, not with the selection: a pane that is
 * another uid's by the time the connection is up is not attached, and its
 * child of the user's uid is.
 */
static void test_members_read_after_start(void **state)
{
	struct fx *fx = *state;
	struct tmux_tree t;

	add_tmux(fx, &t);
	fx->victim = t.pane;
	fx->between = pane_changes_uid;

	assert_int_equal(keep(fx), 1);
	assert_int_equal(assert_one_scope(fx, t.server, (const pid_t[]){ t.child }, 1), 1);
}

/*
 * One pass: the selection's descendants are attached in round 0 without a
 * rescan, and a single rescan (round 1, from the table) finds nothing
 * new: two scans in all, one attach call. The root sudo in the pane, of
 * another uid, is never asked for.
 */
static void test_first_round_from_selection(void **state)
{
	struct fx *fx = *state;
	struct ks_keep_stats stats = { 0 };
	struct tmux_tree t;
	char unit[128];

	fx->io.stats = &stats;
	add_tmux(fx, &t);
	assert_int_equal(keep(fx), 1);
	assert_int_equal(stats.scans, 2);
	scope_name(unit, sizeof(unit), "tmux", t.server);
	assert_int_equal(assert_attached(fx, unit, (const pid_t[]){ t.pane, t.child }, 2), 1);
	assert_int_equal(attaches(fx), 1);
}

/* A pane's child exits during the attach: systemd refuses the whole batch
 * (it checks every pid first); the keeper drops the process its pidfd (or,
 * without pidfds, /proc) shows exited and asks again for the rest in one
 * call, not one call per process. Normal at a logout: nothing loud. */
static void test_attach_member_gone(void **state)
{
	struct fx *fx = *state;
	const struct fake_call *batch, *retry;
	struct tmux_tree t;
	char line[512], unit[128], dir[PATH_MAX];

	add_tmux(fx, &t);
	fp_path_join(dir, sizeof(dir), "%s/%d", fx->fp.proc, (int)t.child);
	fx->manager_script.attach_kill_pid = (uint32_t)t.child;
	fx->manager_script.attach_kill_dir = dir;

	assert_int_equal(keep(fx), 1);
	scope_name(unit, sizeof(unit), "tmux", t.server);
	assert_int_equal(attaches(fx), 2);
	batch = fake_call_find(manager_rec(fx), "AttachProcessesToUnit", 0);
	assert_string_equal(batch->arg0, unit);
	assert_same_pids(batch->pids, batch->n_pids, (const pid_t[]){ t.pane, t.child }, 2);
	retry = fake_call_find(manager_rec(fx), "AttachProcessesToUnit", 1);
	assert_string_equal(retry->arg0, unit);
	assert_same_pids(retry->pids, retry->n_pids, (const pid_t[]){ t.pane }, 1);
	kept_line(line, sizeof(line), "tmux", t.server, 2);
	assert_int_equal(loud_lines(fx), 1);
	assert_line(fx, LOG_INFO, 0, line);
}

/* systemd says a process of the batch is gone and none shows it: the
 * batch is halved, oldest first, so that the one it refuses does not take
 * the others along, in a bounded number of calls; the kept line says what
 * did not follow. (A pane forking short-lived children makes every large
 * batch fail this way, while its shell lives on.) */
static void test_attach_gone_unseen(void **state)
{
	struct fx *fx = *state;
	struct tmux_tree t;
	const struct fake_call *call;

	add_tmux(fx, &t);
	fx->manager_script.attach_gone_pid = (uint32_t)t.child;

	assert_int_equal(keep(fx), 1);
	/* The batch once (nothing to drop), then each half once. */
	assert_int_equal(attaches(fx), 3);
	call = fake_call_find(manager_rec(fx), "AttachProcessesToUnit", 1);
	assert_same_pids(call->pids, call->n_pids, (const pid_t[]){ t.pane }, 1);
	assert_int_equal(lines_at(fx, LOG_INFO), 0);
	assert_one_line_with(fx, LOG_WARNING, "2 process(es)) of user alice");
	assert_int_equal(logcap_count(&fx->cap, "; 1 more could not be attached"), 1);
	assert_int_equal(loud_lines(fx), 1);
}

/* Any other refusal would refuse each process alike: said once, in the
 * kept line with systemd's error, not retried; the multiplexer alone is
 * kept, and the line says so. */
static void test_attach_refused(void **state)
{
	struct fx *fx = *state;
	struct tmux_tree t;
	char line[512];

	fx->manager_script.attach_mode = FAKE_VERSION_ERROR;
	add_tmux(fx, &t);

	assert_int_equal(keep(fx), 1);
	assert_int_equal(attaches(fx), 1);
	kept_line(line, sizeof(line), "tmux", t.server, 1);
	strcat(line, "; 2 more could not be attached: AttachProcessesToUnit failed: "
		     "org.freedesktop.DBus.Error.AccessDenied: no");
	assert_int_equal(lines_at(fx, LOG_INFO), 0);
	assert_line(fx, LOG_WARNING, 0, line);
	assert_int_equal(logcap_count(&fx->cap, "AttachProcessesToUnit"), 1);
	assert_int_equal(loud_lines(fx), 1);
}

/* A manager that stops answering attaches: bounded too, and the scope,
 * which did start, is still reported. */
static void test_attach_hangs(void **state)
{
	struct fx *fx = *state;
	struct tmux_tree t;

	fx->manager_script.attach_mode = FAKE_VERSION_HANG;
	add_tmux(fx, &t);

	assert_int_equal(keep_bounded(fx), 1);
	assert_int_equal(starts(fx), 1);
	assert_true(attaches(fx) >= 1);
	assert_int_equal(lines_at(fx, LOG_INFO), 0);
	assert_one_line_with(fx, LOG_WARNING,
			     "2 more could not be attached in time: AttachProcessesToUnit: no "
			     "answer in time; systemd may still carry it out");
	assert_int_equal(loud_lines(fx), 1);
}

/* A tmux tree whose pane's program has a child with a child: a chain, so
 * that the order of the descendants, parents first, is known. */
struct tmux_chain {
	struct tmux_tree t;
	pid_t make, cc;
};

static void add_tmux_chain(struct fx *fx, struct tmux_chain *c, struct ks_keep_stats *stats)
{
	add_tmux(fx, &c->t);
	c->make = add_proc(fx, c->t.child, USER_UID, "/usr/bin/make");
	c->cc = add_proc(fx, c->make, USER_UID, "/usr/bin/cc");
	/* Two processes a batch: {pane, vim}, then {make, cc}. */
	fx->io.attach_batch_max = 2;
	fx->io.stats = stats;
}

static void assert_attach_call(const struct fx *fx, size_t nth, const pid_t *want, size_t n)
{
	const struct fake_call *call =
		fake_call_find(fx->manager.rec, "AttachProcessesToUnit", nth);

	assert_non_null(call);
	assert_same_pids(call->pids, call->n_pids, want, n);
}

/* The batches go one after the other, the second sent (and pinned)
 * while the first is in flight; each answered in order. */
static void test_attach_pipelined(void **state)
{
	struct fx *fx = *state;
	struct ks_keep_stats stats = { 0 };
	struct tmux_chain c;
	char line[512];

	add_tmux_chain(fx, &c, &stats);

	assert_int_equal(keep(fx), 1);
	assert_int_equal(attaches(fx), 2);
	assert_attach_call(fx, 0, (const pid_t[]){ c.t.pane, c.t.child }, 2);
	assert_attach_call(fx, 1, (const pid_t[]){ c.make, c.cc }, 2);
	assert_int_equal(stats.late_calls, 0);
	kept_line(line, sizeof(line), "tmux", c.t.server, 5);
	assert_int_equal(loud_lines(fx), 1);
	assert_line(fx, LOG_INFO, 0, line);
}

/* gone exits as systemd gets the batch naming it (the fake kills it):
 * systemd refuses that batch whole, and it is asked again without gone
 * (retry), after the other batch's call: both calls were sent before
 * either answer was taken. */
static void check_pipelined_exit(struct fx *fx, const struct tmux_chain *c, pid_t gone, pid_t retry)
{
	char line[512], dir[PATH_MAX];

	fp_path_join(dir, sizeof(dir), "%s/%d", fx->fp.proc, (int)gone);
	fx->manager_script.attach_kill_pid = (uint32_t)gone;
	fx->manager_script.attach_kill_dir = dir;

	assert_int_equal(keep(fx), 1);
	assert_int_equal(attaches(fx), 3);
	assert_attach_call(fx, 0, (const pid_t[]){ c->t.pane, c->t.child }, 2);
	assert_attach_call(fx, 1, (const pid_t[]){ c->make, c->cc }, 2);
	assert_attach_call(fx, 2, &retry, 1);
	assert_int_equal(fx->io.stats->late_calls, 0);
	kept_line(line, sizeof(line), "tmux", c->t.server, 4);
	assert_int_equal(loud_lines(fx), 1);
	assert_line(fx, LOG_INFO, 0, line);
}

/* The first batch is refused (vim exits) while the second is in flight. */
static void test_attach_pipelined_first_refused(void **state)
{
	struct fx *fx = *state;
	struct ks_keep_stats stats = { 0 };
	struct tmux_chain c;

	add_tmux_chain(fx, &c, &stats);
	check_pipelined_exit(fx, &c, c.t.child, c.t.pane);
}

/* A process of the second batch (cc) exits between its pin and the call. */
static void test_attach_pipelined_second_exits(void **state)
{
	struct fx *fx = *state;
	struct ks_keep_stats stats = { 0 };
	struct tmux_chain c;

	add_tmux_chain(fx, &c, &stats);
	check_pipelined_exit(fx, &c, c.cc, c.make);
}

/* The deadline passes with both batches in flight: the kept line says
 * they went unanswered, once; none is retried, no call begins past the
 * deadline. */
static void test_attach_pipelined_deadline(void **state)
{
	struct fx *fx = *state;
	struct ks_keep_stats stats = { 0 };
	struct tmux_chain c;

	add_tmux_chain(fx, &c, &stats);
	fx->manager_script.attach_mode = FAKE_VERSION_HANG;

	assert_int_equal(keep_bounded_in(fx, SEC), 1);
	assert_int_equal(attaches(fx), 2);
	assert_int_equal(stats.late_calls, 0);
	assert_int_equal(logcap_count(&fx->cap, "systemd may still carry it out"), 1);
	assert_one_line_with(fx, LOG_WARNING,
			     "4 more could not be attached in time: AttachProcessesToUnit: no "
			     "answer in time; systemd may still carry it out");
	assert_int_equal(loud_lines(fx), 1);
}

/* ---- selection at the close, the bound, and hostile shapes ---- */

#define PTS0 (136 << 8)

/* A real child listed as given: session and terminal too. */
static pid_t add_proc_ex(struct fx *fx, pid_t ppid, pid_t sid, int tty, const char *exe)
{
	pid_t pid = spawn(fx);

	fake_proc_ex(&fx->fp, &(struct fake){ .pid = pid,
					      .ppid = ppid,
					      .uid = USER_UID,
					      .sid = sid,
					      .tty = tty,
					      .starttime = real_starttime(pid),
					      .exe = exe });
	return pid;
}

/* Rewrites a fake process's stat with another parent (a re-parenting). */
static void reparent_fake(struct fx *fx, pid_t pid, pid_t ppid, const char *exe)
{
	remove_fake_proc(fx, pid);
	fake_proc_ex(&fx->fp, &(struct fake){ .pid = pid,
					      .ppid = ppid,
					      .uid = USER_UID,
					      .starttime = real_starttime(pid),
					      .exe = exe,
					      .outside = true });
}

/* The client dies between the scan and the pin (SIGHUP at a dropped
 * connection), and SCREEN is re-parented: the lost tree's SCREEN is
 * re-rooted by one rescan and kept, not dropped in silence. */
static void client_dies(struct fx *fx)
{
	reap(fx, fx->victim);
	remove_fake_proc(fx, fx->victim);
	reparent_fake(fx, fx->straggler, 1, "/usr/bin/screen");
}

static void test_screen_client_dies(void **state)
{
	struct fx *fx = *state;
	pid_t client, server, window;
	char line[512];

	/* After a hang-up tty_nr is 0: the client is the tree's root. */
	client = add_proc(fx, 1, USER_UID, "/usr/bin/screen");
	server = add_proc(fx, client, USER_UID, "/usr/bin/screen");
	window = add_proc(fx, server, USER_UID, "/usr/bin/bash");
	fx->victim = client;
	fx->straggler = server;
	fx->between = client_dies;

	assert_int_equal(keep(fx), 1);
	assert_int_equal(starts(fx), 1);
	assert_start(start_call(fx, 0), "screen", server, "user-1000.slice");
	kept_line(line, sizeof(line), "screen", server, 2);
	assert_int_equal(loud_lines(fx), 1);
	assert_line(fx, LOG_INFO, 0, line);
	(void)window;
}

/* The client exits after its pin, as systemd takes it: systemd >= 255
 * fails the job ("resources": no PIDs left), older ones refuse the call.
 * Either way its tree is re-rooted and SCREEN kept, and the loss of the
 * client is no error. */
static void check_client_dies_at_start(struct fx *fx, const struct fake_start_step *step)
{
	pid_t client, server;
	char line[512], dir[PATH_MAX];

	client = add_proc(fx, 1, USER_UID, "/usr/bin/screen");
	server = add_proc(fx, client, USER_UID, "/usr/bin/screen");
	(void)add_proc(fx, server, USER_UID, "/usr/bin/bash");
	fp_path_join(dir, sizeof(dir), "%s/%d", fx->fp.proc, (int)client);
	fx->manager_script.start_kill_pid = (uint32_t)client;
	fx->manager_script.start_kill_dir = dir;
	fx->manager_script.steps[0] = *step;
	fx->manager_script.n_steps = 1;

	assert_int_equal(keep(fx), 1);
	assert_int_equal(starts(fx), 2);
	assert_start(start_call(fx, 0), "screen", client, "user-1000.slice");
	assert_start(start_call(fx, 1), "screen", server, "user-1000.slice");
	kept_line(line, sizeof(line), "screen", server, 2);
	assert_line(fx, LOG_INFO, 0, line);
	assert_int_equal(loud_lines(fx), 1);
}

static void test_client_dies_job_fails(void **state)
{
	check_client_dies_at_start(*state, &(struct fake_start_step){ .action = FAKE_START_OK,
								      .result = "resources" });
}

static void test_client_dies_call_refused(void **state)
{
	check_client_dies_at_start(
		*state,
		&(struct fake_start_step){ .action = FAKE_START_ERROR,
					   .error_name = "org.freedesktop.systemd1.NoSuchProcess",
					   .error_message = "No such process" });
}

/* systemd refuses the start for another reason while the client exits:
 * SCREEN is re-rooted and kept, and the refusal is still said, once. */
static void test_client_dies_call_denied(void **state)
{
	struct fx *fx = *state;
	pid_t client, server;
	char line[512], unit[128], dir[PATH_MAX];

	client = add_proc(fx, 1, USER_UID, "/usr/bin/screen");
	server = add_proc(fx, client, USER_UID, "/usr/bin/screen");
	(void)add_proc(fx, server, USER_UID, "/usr/bin/bash");
	fp_path_join(dir, sizeof(dir), "%s/%d", fx->fp.proc, (int)client);
	fx->manager_script.start_kill_pid = (uint32_t)client;
	fx->manager_script.start_kill_dir = dir;
	fx->manager_script.steps[0] =
		(struct fake_start_step){ .action = FAKE_START_ERROR,
					  .error_name = SD_BUS_ERROR_ACCESS_DENIED,
					  .error_message = "no" };
	fx->manager_script.n_steps = 1;

	assert_int_equal(keep(fx), 1);
	assert_int_equal(starts(fx), 2);
	kept_line(line, sizeof(line), "screen", server, 2);
	assert_line(fx, LOG_INFO, 0, line);
	scope_name(unit, sizeof(unit), "screen", client);
	fp_path_join(line, sizeof(line),
		     "could not keep screen (pid %d) of user " USER " from session " SESSION_ID
		     ": StartTransientUnit(%s) failed: org.freedesktop.DBus.Error.AccessDenied: no",
		     (int)client, unit);
	assert_line(fx, LOG_ERR, 0, line);
	assert_int_equal(loud_lines(fx), 2);
}

/* max_trees = 1 and the one tree's root exits as systemd takes it: its
 * start counted, so SCREEN is not started in its place (PID 1 is never
 * asked for more scopes than max_trees), and one line says so. */
static void test_reroot_within_max_trees(void **state)
{
	struct fx *fx = *state;
	pid_t client, server;
	char dir[PATH_MAX];

	fx->c.max_trees = 1;
	client = add_proc(fx, 1, USER_UID, "/usr/bin/screen");
	server = add_proc(fx, client, USER_UID, "/usr/bin/screen");
	(void)add_proc(fx, server, USER_UID, "/usr/bin/bash");
	fp_path_join(dir, sizeof(dir), "%s/%d", fx->fp.proc, (int)client);
	fx->manager_script.start_kill_pid = (uint32_t)client;
	fx->manager_script.start_kill_dir = dir;
	fx->manager_script.steps[0] =
		(struct fake_start_step){ .action = FAKE_START_OK, .result = "resources" };
	fx->manager_script.n_steps = 1;

	assert_int_equal(keep(fx), 0);
	assert_int_equal(starts(fx), 1);
	assert_start(start_call(fx, 0), "screen", client, "user-1000.slice");
	assert_one_line_with(fx, LOG_WARNING, "1 tree(s) over max_trees = 1");
	assert_int_equal(loud_lines(fx), 1);
}

/* The client dies before its pin; SCREEN, re-parented, has meanwhile
 * started screens of its own (after the scan). */
#define LATE_SCREENS 8
static void client_dies_screens_fork(struct fx *fx)
{
	client_dies(fx);
	for (size_t i = 0; i < LATE_SCREENS; i++)
		(void)add_proc(fx, fx->straggler, USER_UID, "/usr/bin/screen");
}

/*
 * Re-rooted twice: the client exits before its pin, SCREEN (re-rooted in
 * its place) as systemd takes it, and the screens SCREEN started after
 * the scan are re-rooted in turn. More trees than the first scan saw
 * processes: the keeper's room for them is max_trees, not a count taken
 * from that scan (a heap overflow under ASan before).
 */
static void test_reroot_twice_new_screens(void **state)
{
	struct fx *fx = *state;
	pid_t client, server;
	char dir[PATH_MAX];

	client = add_proc(fx, 1, USER_UID, "/usr/bin/screen");
	server = add_proc(fx, client, USER_UID, "/usr/bin/screen");
	fx->victim = client;
	fx->straggler = server;
	fx->between = client_dies_screens_fork;
	fp_path_join(dir, sizeof(dir), "%s/%d", fx->fp.proc, (int)server);
	fx->manager_script.start_kill_pid = (uint32_t)server;
	fx->manager_script.start_kill_dir = dir;
	fx->manager_script.steps[0] =
		(struct fake_start_step){ .action = FAKE_START_OK, .result = "resources" };
	fx->manager_script.n_steps = 1;

	assert_int_equal(keep(fx), LATE_SCREENS);
	assert_int_equal(starts(fx), 1 + LATE_SCREENS);
	assert_start(start_call(fx, 0), "screen", server, "user-1000.slice");
}

/* An attached tmux client on the login shell's terminal is no tree: one
 * scope, the server's, and no "kept tmux" line for the client. */
static void test_tmux_client_not_kept(void **state)
{
	struct fx *fx = *state;
	pid_t shell, client, server;
	char line[512];

	shell = add_proc_ex(fx, 1, 0, PTS0, "/usr/bin/bash");
	client = add_proc_ex(fx, shell, shell, PTS0, "/usr/bin/tmux");
	server = add_proc(fx, 1, USER_UID, "/usr/bin/tmux");
	(void)add_proc(fx, server, USER_UID, "/usr/bin/bash");

	assert_int_equal(keep(fx), 1);
	assert_int_equal(starts(fx), 1);
	assert_start(start_call(fx, 0), "tmux", server, "user-1000.slice");
	kept_line(line, sizeof(line), "tmux", server, 2);
	assert_line(fx, LOG_INFO, 0, line);
	assert_int_equal(loud_lines(fx), 1);
	(void)client;
}

/* More trees than max_trees: the cap holds before any StartTransientUnit,
 * and the rest is one line. */
static void test_max_trees(void **state)
{
	struct fx *fx = *state;

	fx->c.max_trees = 2;
	for (int i = 0; i < 5; i++)
		(void)add_proc(fx, 1, USER_UID, "/usr/bin/tmux");

	assert_int_equal(keep(fx), 2);
	assert_int_equal(starts(fx), 2);
	assert_int_equal(lines_at(fx, LOG_INFO), 2);
	assert_one_line_with(fx, LOG_WARNING, "3 tree(s) over max_trees = 2");
	assert_int_equal(loud_lines(fx), 3);
}

/*
 * The case: hundreds of matching processes and thousands of
 * others. The close makes max_trees scopes, scans the session a bounded
 * number of times (not once per tree), begins no call past its deadline,
 * and says what it left out in one line.
 */
#define FLOOD_FAKE_BASE 3000000 /* above any real pid here: never pinnable */
static void test_flood(void **state)
{
	struct fx *fx = *state;
	struct ks_keep_stats stats = { 0 };

	fx->io.stats = &stats;
	fx->manager_script.many_calls = true;
	fx->log.debug = false; /* a debug line per tree would fill the capture */
	for (int i = 0; i < 20; i++)
		(void)add_proc(fx, 1, USER_UID, "/home/alice/bin/tmux");
	for (int i = 0; i < 280; i++)
		fake_proc(&fx->fp, FLOOD_FAKE_BASE + i, 1, USER_UID, "/home/alice/bin/tmux");
	for (int i = 0; i < 3000; i++)
		fake_proc(&fx->fp, FLOOD_FAKE_BASE + 1000 + i, 1, USER_UID, "/usr/bin/sleep");

	if (keep(fx) != KS_DEFAULT_MAX_TREES) {
		logcap_dump(&fx->cap);
		fail_msg("want %d trees kept", KS_DEFAULT_MAX_TREES);
	}
	assert_int_equal(fx->manager.rec->n_start_calls, KS_DEFAULT_MAX_TREES);
	assert_int_equal(stats.scopes, KS_DEFAULT_MAX_TREES);
	assert_int_equal(stats.selected, 300);
	/* The first scan and one straggler round (it finds nothing). */
	assert_int_equal(stats.scans, 2);
	assert_int_equal(fx->manager.rec->n_attach_calls, 0);
	assert_int_equal(stats.late_calls, 0);
	assert_int_equal(lines_at(fx, LOG_INFO), KS_DEFAULT_MAX_TREES);
	assert_one_line_with(fx, LOG_WARNING, "284 tree(s) over max_trees = 16");
	assert_int_equal(loud_lines(fx), KS_DEFAULT_MAX_TREES + 1);
}

/* The same flood with no time left: the scan gives up at its first look
 * at the clock; no bus is opened, no call made, one line. */
static void test_flood_no_time(void **state)
{
	struct fx *fx = *state;
	struct ks_keep_stats stats = { 0 };

	fx->io.stats = &stats;
	fx->c.timeout_usec = 1;
	for (int i = 0; i < 100; i++)
		fake_proc(&fx->fp, FLOOD_FAKE_BASE + i, 1, USER_UID, "/home/alice/bin/tmux");
	for (int i = 0; i < 1000; i++)
		fake_proc(&fx->fp, FLOOD_FAKE_BASE + 1000 + i, 1, USER_UID, "/usr/bin/sleep");

	assert_int_equal(keep(fx), -ETIMEDOUT);
	assert_int_equal(fx->manager_opens, 0);
	assert_int_equal(stats.calls, 0);
	assert_int_equal(stats.scans, 1);
	assert_one_line_with(fx, LOG_ERR, "no time left");
	assert_int_equal(loud_lines(fx), 1);
}

/* A program name that is not UTF-8 (from ~/.keepsession with
 * user_commands): the Description sent is printable ASCII, so sd-bus
 * takes it, and the tree is kept. */
static void test_description_not_utf8(void **state)
{
	struct fx *fx = *state;
	const struct fake_property *p;
	struct ks_strlist programs = { 0 };
	char expected[256];
	pid_t pid;

	assert_int_equal(ks_strlist_add(&programs, "scr\xe9\xff", 6), 0);
	fx->target.programs = &programs;
	pid = add_proc(fx, 1, USER_UID, "/home/alice/bin/scr\xe9\xff");

	assert_int_equal(keep(fx), 1);
	p = fake_call_property(start_call(fx, 0), "Description");
	assert_non_null(p);
	fp_path_join(expected, sizeof(expected),
		     "scr?? of user " USER " kept from session " SESSION_ID " by pam_keepsession");
	assert_string_equal(p->value, expected);
	(void)pid;
	ks_strlist_clear(&programs);
}

/* ---- a property test over the keeper ---- */

static unsigned long long rng_state;

static unsigned rnd(unsigned n)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (unsigned)((rng_state >> 33) % n);
}

/* Between the scan and the pin: some processes exit. */
static void random_exits(struct fx *fx)
{
	for (size_t i = 0; i < fx->n_children; i++) {
		if (fx->children[i] <= 0 || rnd(4) != 0)
			continue;
		remove_fake_proc(fx, fx->children[i]);
		reap(fx, fx->children[i]);
	}
}

/* Is pid one of the test's processes listed with the user's uid? */
static bool users_process(const pid_t *users, size_t n, uint32_t pid)
{
	for (size_t i = 0; i < n; i++)
		if ((uint32_t)users[i] == pid)
			return true;
	return false;
}

/*
 * Seeded random sessions: trees of multiplexers with descendants of the
 * user and of other uids, processes exiting between the scan and the pin,
 * a manager that answers late, tight timeouts and caps. Whatever the
 * draw: no call is begun past its deadline, no more scopes than
 * max_trees, a bounded number of scans, and every pid sent to systemd is
 * one of the user's.
 */
static void test_property_bound(void **state)
{
	(void)state;
	for (unsigned seed = 1; seed <= 24; seed++) {
		struct fx *fx;
		struct ks_keep_stats stats = { 0 };
		pid_t users[MAX_CHILDREN];
		size_t n_users = 0, n_procs;
		const struct fake_record *rec;

		rng_state = seed;
		assert_int_equal(setup((void **)&fx), 0);
		fx->io.stats = &stats;
		fx->c.max_trees = 1 + rnd(4);
		fx->c.timeout_usec = (50 + rnd(400)) * MSEC;
		fx->manager_script.start_delay_usec = rnd(3) == 0 ? rnd(200) * MSEC : 0;
		if (rnd(3) == 0)
			fx->between = random_exits;
		n_procs = 4 + rnd(12);
		for (size_t i = 0; i < n_procs; i++) {
			pid_t parent = 1;
			uid_t uid = rnd(5) == 0 ? 0 : USER_UID;
			const char *exe = rnd(3) == 0 ? "/usr/bin/tmux" : "/usr/bin/bash";
			pid_t pid;

			if (fx->n_children > 0 && rnd(3) != 0)
				parent = fx->children[rnd((unsigned)fx->n_children)];
			pid = add_proc(fx, parent, uid, exe);
			if (uid == USER_UID)
				users[n_users++] = pid;
		}

		(void)keep(fx);
		assert_int_equal(stats.late_calls, 0);
		assert_true(stats.scopes <= fx->c.max_trees);
		assert_true(stats.scans <= 2 + KS_MAX_ATTACH_ROUNDS);
		rec = fx->manager.rec;
		for (size_t i = 0; rec && i < rec->n_calls && i < FAKE_MAX_CALLS; i++) {
			const struct fake_call *call = &rec->calls[i];

			for (size_t k = 0; k < call->n_pids; k++)
				assert_true(users_process(users, n_users, call->pids[k]));
			for (size_t p = 0; p < call->n_props; p++)
				for (size_t k = 0; k < call->props[p].n_pids; k++)
					assert_true(users_process(users, n_users,
								  call->props[p].pids[k]));
		}
		assert_int_equal(teardown((void **)&fx), 0);
	}
}

static bool have_pidfds(void)
{
	int fd = (int)syscall(SYS_pidfd_open, getpid(), 0);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_nothing_to_keep),
		T(test_keep_tmux),
		T(test_keep_tmux_pidfds),
		T(test_two_trees),
		T(test_when_kill_logind_spares),
		T(test_when_kill_logind_kills),
		T(test_when_kill_user_excluded),
		T(test_when_kill_logind_error),
		T(test_when_kill_logind_unreachable),
		T(test_job_failed),
		T(test_manager_unreachable),
		T(test_manager_hangs_on_start),
		T(test_job_never_ends),
		T(test_start_refused),
		T(test_start_wrong_signature),
		T(test_start_connection_lost),
		T(test_start_invalid_slice),
		T(test_manager_hangs_on_version),
		T(test_logind_hangs),
		T(test_when_kill_one_connection),
		T(test_system_bus_hello_hangs),
		T(test_system_bus_drops),
		T(test_system_bus_without_manager),
		T(test_not_in_session_scope),
		T(test_other_session_scope),
		T(test_no_session_cgroup),
		T(test_session_cgroup_unreadable),
		T(test_root_gone),
		T(test_member_gone),
		T(test_pid_reused),
		T(test_root_pid_reused),
		T(test_pin_error_said),
		T(test_max_age),
		T(test_max_age_old_systemd),
		T(test_max_age_said_once),
		T(test_slice_setting),
		T(test_forked_meanwhile),
		T(test_members_read_after_start),
		T(test_first_batch_small),
		T(test_early_keeps),
		T(test_early_deadline_is_the_keeps),
		T(test_early_nothing_to_keep),
		T(test_early_nothing_to_keep_kill),
		T(test_early_dropped),
		T(test_first_round_from_selection),
		T(test_attach_member_gone),
		T(test_attach_pipelined),
		T(test_attach_pipelined_first_refused),
		T(test_attach_pipelined_second_exits),
		T(test_attach_pipelined_deadline),
		T(test_attach_gone_unseen),
		T(test_screen_client_dies),
		T(test_client_dies_job_fails),
		T(test_reroot_twice_new_screens),
		T(test_client_dies_call_refused),
		T(test_client_dies_call_denied),
		T(test_tmux_client_not_kept),
		T(test_max_trees),
		T(test_user_stopping_service),
		T(test_user_stopping_runtime_dir),
		T(test_user_stopping_slice),
		T(test_user_not_stopping),
		T(test_user_stopping_unknown),
		T(test_user_stop_checked),
		T(test_reroot_within_max_trees),
		T(test_flood),
		T(test_flood_no_time),
		T(test_description_not_utf8),
		cmocka_unit_test(test_property_bound),
		T(test_attach_refused),
		T(test_attach_hangs),
	};

	real_pidfds = have_pidfds();
	if (!real_pidfds)
		print_message("pidfd_open(2) missing (valgrind?): the keeper's identity-only "
			      "path is tested\n");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
