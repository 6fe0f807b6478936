/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

#include "busenv.h"

/* Probed once in main(), so valgrind warns about the syscall only once. */
static bool real_pidfds;

static bool have_pidfds(void)
{
	int fd = (int)syscall(SYS_pidfd_open, getpid(), 0);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* The PID the fake saw behind a passed fd. */
static uint32_t fd_pid(pid_t pid)
{
	return real_pidfds ? (uint32_t)pid : 0;
}

/* A pidfd for pid. Where pidfd_open() is missing (valgrind 3.19 does not
 * know it), a stand-in fd: the mover passes it all the same, the fake then
 * sees no PID behind it, and fd_pid() expects that. */
static int open_pidfd(pid_t pid)
{
	if (!real_pidfds)
		return open("/dev/null", O_RDONLY | O_CLOEXEC);
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static const struct fake_property *prop(const struct fake_call *call, const char *name)
{
	assert_non_null(call);
	return fake_call_property(call, name);
}

static void assert_prop(const struct fake_call *call, const char *name, const char *sig,
			const char *value)
{
	const struct fake_property *p = prop(call, name);

	if (!p)
		fail_msg("property %s not sent", name);
	assert_string_equal(p->signature, sig);
	if (value)
		assert_string_equal(p->value, value);
}

/* ---- the slice ---- */

/* The slice a mover of this manager version picks (NULL: Version
 * unreadable, so unknown). */
static int slice_for_version(const char *version, const struct ks_scope_request *r, char *buf,
			     size_t size)
{
	struct fake_script script = {
		.version_mode = version ? FAKE_VERSION_STRING : FAKE_VERSION_ERROR,
		.version = version,
	};
	struct env e;
	int n;

	env_open(&e, &script, LONG);
	n = ks_mover_slice(e.m, r, buf, size);
	env_stop(&e);
	env_free(&e);
	return n;
}

static void test_slice(void **state)
{
	struct ks_scope_request r = { .uid = 1000 };
	char buf[256], small[8];
	struct env e;
	const struct ks_mover *m;

	(void)state;
	assert_int_equal(slice_for_version("252", &r, buf, sizeof(buf)), 15);
	assert_string_equal(buf, "user-1000.slice");
	assert_int_equal(slice_for_version("240", &r, buf, sizeof(buf)), 15);
	assert_string_equal(buf, "user-1000.slice");
	assert_int_equal(slice_for_version("239", &r, buf, sizeof(buf)), 10);
	assert_string_equal(buf, "user.slice");
	/* unknown: assume a current manager */
	assert_int_equal(slice_for_version(NULL, &r, buf, sizeof(buf)), 15);
	assert_string_equal(buf, "user-1000.slice");
	assert_int_equal(ks_default_slice(&r, buf, sizeof(buf)), 15);
	assert_string_equal(buf, "user-1000.slice");

	env_open(&e, &(struct fake_script){ .version_mode = FAKE_VERSION_ERROR }, LONG);
	m = e.m;
	assert_int_equal(ks_mover_version(m), 0);

	r.uid = 0;
	assert_true(ks_mover_slice(m, &r, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "user-0.slice");
	r.uid = 4294967294U;
	assert_true(ks_mover_slice(m, &r, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "user-4294967294.slice");

	r.uid = 1000;
	r.slice = "keep-%U.slice";
	assert_true(ks_mover_slice(m, &r, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "keep-1000.slice");
	r.slice = "%U-%U.slice";
	assert_true(ks_mover_slice(m, &r, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "1000-1000.slice");
	r.slice = "system-keep.slice";
	assert_true(ks_mover_slice(m, &r, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "system-keep.slice");

	r.slice = "bad-%u.slice";
	assert_int_equal(ks_mover_slice(m, &r, buf, sizeof(buf)), -EINVAL);
	r.slice = "bad-%";
	assert_int_equal(ks_mover_slice(m, &r, buf, sizeof(buf)), -EINVAL);
	r.slice = "a%%b.slice"; /* a literal '%' is not valid in a unit name */
	assert_int_equal(ks_mover_slice(m, &r, buf, sizeof(buf)), -EINVAL);
	r.slice = "no-suffix";
	assert_int_equal(ks_mover_slice(m, &r, buf, sizeof(buf)), -EINVAL);
	r.slice = ".slice";
	assert_int_equal(ks_mover_slice(m, &r, buf, sizeof(buf)), -EINVAL);
	r.slice = "a/b.slice";
	assert_int_equal(ks_mover_slice(m, &r, buf, sizeof(buf)), -EINVAL);
	r.slice = "a\nb.slice";
	assert_int_equal(ks_mover_slice(m, &r, buf, sizeof(buf)), -EINVAL);
	r.slice = "user-%U.slice";
	assert_int_equal(ks_mover_slice(m, &r, small, sizeof(small)), -ENAMETOOLONG);

	char longname[400];

	memset(longname, 'a', sizeof(longname));
	memcpy(longname + 300, ".slice", 7);
	r.slice = longname;
	assert_int_equal(ks_mover_slice(m, &r, buf, sizeof(buf)), -ENAMETOOLONG);
	env_stop(&e);
	env_free(&e);
}

/* ---- properties per manager version ---- */

struct version_case {
	const char *version; /* NULL: Version answers an error */
	unsigned major;
	bool oom_policy;
	bool runtime_max;
	bool pidfds;
	const char *slice;
};

static void check_version(const struct version_case *vc)
{
	struct fake_script script = {
		.version_mode = vc->version ? FAKE_VERSION_STRING : FAKE_VERSION_ERROR,
		.version = vc->version,
	};
	pid_t pids[2] = { getpid(), getppid() };
	int fds[2] = { open_pidfd(pids[0]), open_pidfd(pids[1]) };
	struct ks_scope_request r = {
		.unit = "keepsession-alice-tmux-42.scope",
		.description = "tmux kept from session 7 of alice",
		.uid = 1000,
		.runtime_max_usec = 3600 * SEC,
		.pids = pids,
		.pidfds = fds,
		.n = 2,
	};
	const struct fake_call *call;
	const struct fake_property *p;
	struct env e;

	assert_true(fds[0] >= 0 && fds[1] >= 0);
	env_open(&e, &script, LONG);
	assert_int_equal(ks_mover_version(e.m), vc->major);
	assert_int_equal(ks_mover_start(e.m, &r), 0);
	assert_int_equal(ks_mover_wait(e.m), 0);
	assert_int_equal(ks_mover_job_state(e.m, 0), KS_JOB_DONE);
	assert_string_equal(ks_mover_job_result(e.m, 0), "done");
	assert_string_equal(ks_mover_job_path(e.m, 0), "/org/freedesktop/systemd1/job/100");
	assert_string_equal(ks_mover_job_unit(e.m, 0), r.unit);
	assert_int_equal(ks_mover_drops_max_age(e.m), !vc->runtime_max);
	env_stop(&e);

	/* A direct connection: no broker, no Subscribe needed. */
	assert_int_equal(fake_call_count(e.fm.rec, "Subscribe"), 0);
	assert_int_equal(fake_call_count(e.fm.rec, "Hello"), 0);
	assert_int_equal(fake_call_count(e.fm.rec, "StartTransientUnit"), 1);
	call = fake_call_find(e.fm.rec, "StartTransientUnit", 0);
	assert_string_equal(call->destination, "org.freedesktop.systemd1");
	assert_string_equal(call->path, "/org/freedesktop/systemd1");
	assert_string_equal(call->interface, "org.freedesktop.systemd1.Manager");
	assert_string_equal(call->arg0, r.unit);
	assert_string_equal(call->arg1, "fail");
	assert_int_equal(call->n_aux, 0);

	assert_prop(call, "Description", "s", r.description);
	assert_prop(call, "Slice", "s", vc->slice);
	assert_prop(call, "CollectMode", "s", "inactive-or-failed");
	assert_prop(call, "Delegate", "b", "yes");
	assert_prop(call, "Wants", "as", "user-runtime-dir@1000.service");
	assert_prop(call, "After", "as", "user-runtime-dir@1000.service");
	if (vc->oom_policy)
		assert_prop(call, "OOMPolicy", "s", "continue");
	else
		assert_null(prop(call, "OOMPolicy"));
	if (vc->runtime_max) {
		assert_prop(call, "RuntimeMaxUSec", "t", "3600000000");
	} else {
		assert_null(prop(call, "RuntimeMaxUSec"));
	}
	/* The caller says it, once per close. */
	assert_null(captured(&e.cap, "max_age"));
	if (vc->pidfds) {
		assert_prop(call, "PIDFDs", "ah", NULL);
		p = prop(call, "PIDFDs");
		assert_int_equal(p->n_pids, 2);
		/* The fake resolved each received fd to the process behind it. */
		assert_int_equal(p->pids[0], fd_pid(pids[0]));
		assert_int_equal(p->pids[1], fd_pid(pids[1]));
		assert_null(prop(call, "PIDs"));
	} else {
		assert_prop(call, "PIDs", "au", NULL);
		p = prop(call, "PIDs");
		assert_int_equal(p->n_pids, 2);
		assert_int_equal(p->pids[0], (uint32_t)pids[0]);
		assert_int_equal(p->pids[1], (uint32_t)pids[1]);
		assert_null(prop(call, "PIDFDs"));
	}
	/* Nothing else: an unknown property fails the whole call. */
	assert_int_equal(call->n_props, 7 + vc->oom_policy + vc->runtime_max);
	env_free(&e);
	close(fds[0]);
	close(fds[1]);
}

static void test_properties_v247(void **state)
{
	static const struct version_case vc = { "247.3-7+deb11u4", 247, false, true, false,
						"user-1000.slice" };
	(void)state;
	check_version(&vc);
}

static void test_properties_v252(void **state)
{
	static const struct version_case vc = { "252.39-1~deb12u2", 252, false, true, false,
						"user-1000.slice" };
	(void)state;
	check_version(&vc);
}

static void test_properties_v253(void **state)
{
	static const struct version_case vc = {
		"253.1", 253, true, true, false, "user-1000.slice"
	};
	(void)state;
	check_version(&vc);
}

static void test_properties_v255(void **state)
{
	static const struct version_case vc = {
		"v255-stable", 255, true, true, true, "user-1000.slice",
	};
	(void)state;
	check_version(&vc);
}

static void test_properties_v257(void **state)
{
	static const struct version_case vc = { "systemd 257 (257.5-2)", 257, true, true, true,
						"user-1000.slice" };
	(void)state;
	check_version(&vc);
}

static void test_properties_v243(void **state)
{
	static const struct version_case vc = {
		"243", 243, false, false, false, "user-1000.slice"
	};
	(void)state;
	check_version(&vc);
}

static void test_properties_v239(void **state)
{
	static const struct version_case vc = { "239 (239-78.el8)", 239, false, false, false,
						"user.slice" };
	(void)state;
	check_version(&vc);
}

static void test_properties_unknown_version(void **state)
{
	static const struct version_case vc = { NULL, 0, false, false, false, "user-1000.slice" };
	(void)state;
	check_version(&vc);
}

/* Processes without a pidfd still go by PID next to those with one. */
static void test_pidfds_mixed(void **state)
{
	struct fake_script script = { .version = "256" };
	pid_t pids[3] = { getpid(), getppid(), 1 };
	int fds[3] = { open_pidfd(pids[0]), -1, -1 };
	struct ks_scope_request r = {
		.unit = "keepsession-bob-screen-9.scope",
		.uid = 1001,
		.pids = pids,
		.pidfds = fds,
		.n = 3,
	};
	const struct fake_call *call;
	const struct fake_property *p;
	struct env e;

	(void)state;
	assert_true(fds[0] >= 0);
	env_open(&e, &script, LONG);
	assert_int_equal(ks_mover_start(e.m, &r), 0);
	assert_int_equal(ks_mover_wait(e.m), 0);
	env_stop(&e);
	call = fake_call_find(e.fm.rec, "StartTransientUnit", 0);
	p = prop(call, "PIDFDs");
	assert_non_null(p);
	assert_int_equal(p->n_pids, 1);
	assert_int_equal(p->pids[0], fd_pid(pids[0]));
	p = prop(call, "PIDs");
	assert_non_null(p);
	assert_int_equal(p->n_pids, 2);
	assert_int_equal(p->pids[0], (uint32_t)pids[1]);
	assert_int_equal(p->pids[1], 1);
	/* Description defaults to the unit name. */
	assert_prop(call, "Description", "s", r.unit);
	env_free(&e);
	close(fds[0]);
}

static void check_pidfd_fallback(const char *error_name)
{
	struct fake_script script = { .version = "255.4", .refuse_pidfds_error = error_name };
	pid_t pids[1] = { getpid() };
	int fds[1] = { open_pidfd(pids[0]) };
	struct ks_scope_request r = {
		.unit = "keepsession-a-tmux-1.scope",
		.uid = 1000,
		.pids = pids,
		.pidfds = fds,
		.n = 1,
	};
	const struct fake_call *call;
	struct env e;

	assert_true(fds[0] >= 0);
	env_open(&e, &script, LONG);
	assert_int_equal(ks_mover_start(e.m, &r), 0);
	assert_true(ks_mover_pidfds_refused(e.m));
	r.unit = "keepsession-a-tmux-2.scope";
	assert_int_equal(ks_mover_start(e.m, &r), 1);
	assert_int_equal(ks_mover_wait(e.m), 0);
	env_stop(&e);

	/* PIDFDs refused once, the same unit retried with PIDs, and the
	 * next start goes straight to PIDs. */
	assert_int_equal(fake_call_count(e.fm.rec, "StartTransientUnit"), 3);
	call = fake_call_find(e.fm.rec, "StartTransientUnit", 0);
	assert_string_equal(call->arg0, "keepsession-a-tmux-1.scope");
	assert_non_null(prop(call, "PIDFDs"));
	assert_null(prop(call, "PIDs"));
	call = fake_call_find(e.fm.rec, "StartTransientUnit", 1);
	assert_string_equal(call->arg0, "keepsession-a-tmux-1.scope");
	assert_null(prop(call, "PIDFDs"));
	assert_int_equal(prop(call, "PIDs")->pids[0], (uint32_t)pids[0]);
	call = fake_call_find(e.fm.rec, "StartTransientUnit", 2);
	assert_string_equal(call->arg0, "keepsession-a-tmux-2.scope");
	assert_null(prop(call, "PIDFDs"));
	assert_non_null(prop(call, "PIDs"));
	/* The refusal is not an error worth more than a debug line. */
	assert_non_null(captured(&e.cap, "refused PIDFDs"));
	assert_null(captured(&e.cap, "failed"));
	env_free(&e);
	close(fds[0]);
}

static void test_pidfds_fallback_read_only(void **state)
{
	(void)state;
	check_pidfd_fallback(SD_BUS_ERROR_PROPERTY_READ_ONLY);
}

static void test_pidfds_fallback_invalid_args(void **state)
{
	(void)state;
	check_pidfd_fallback(SD_BUS_ERROR_INVALID_ARGS);
}

static void test_pidfds_fallback_unknown_property(void **state)
{
	(void)state;
	check_pidfd_fallback(SD_BUS_ERROR_UNKNOWN_PROPERTY);
}

/* Lines above debug: the mover logs none; its caller says what failed. */
static size_t loud_lines(const struct capture *cap)
{
	size_t n = 0;

	for (size_t i = 0; i < cap->n; i++)
		if (cap->prio[i] < LOG_DEBUG)
			n++;
	return n;
}

/* A start that failed is a job ended failed, its result saying needle,
 * and no line above debug: said once, by the caller. Returns the
 * result. */
static const char *failed_start(struct env *e, const struct ks_scope_request *r, const char *needle)
{
	size_t n = ks_mover_n_jobs(e->m);
	const char *result;
	int j = ks_mover_start(e->m, r);

	assert_int_equal(j, (int)n);
	assert_int_equal(ks_mover_n_jobs(e->m), n + 1);
	assert_int_equal(ks_mover_job_state(e->m, (size_t)j), KS_JOB_FAILED);
	result = ks_mover_job_result(e->m, (size_t)j);
	assert_non_null(result);
	assert_non_null(strstr(result, needle));
	assert_string_equal(ks_mover_job_unit(e->m, (size_t)j), r->unit);
	assert_int_equal(loud_lines(&e->cap), 0);
	return result;
}

/* Other errors are not about PIDFDs: no retry. */
static void test_pidfds_other_error_no_retry(void **state)
{
	struct fake_script script = {
		.version = "255",
		.refuse_pidfds_error = SD_BUS_ERROR_ACCESS_DENIED,
	};
	pid_t pids[1] = { getpid() };
	int fds[1] = { open_pidfd(pids[0]) };
	struct ks_scope_request r = {
		.unit = "keepsession-a-tmux-1.scope",
		.uid = 1000,
		.pids = pids,
		.pidfds = fds,
		.n = 1,
	};
	struct env e;

	(void)state;
	env_open(&e, &script, LONG);
	(void)failed_start(&e, &r, "org.freedesktop.DBus.Error.AccessDenied");
	assert_false(ks_mover_pidfds_refused(e.m));
	env_stop(&e);
	assert_int_equal(fake_call_count(e.fm.rec, "StartTransientUnit"), 1);
	env_free(&e);
	close(fds[0]);
}

/* ---- failures ---- */

static const pid_t some_pids[2] = { 4242, 4243 };

static struct ks_scope_request simple_request(const char *unit)
{
	struct ks_scope_request r = {
		.unit = unit,
		.uid = 1000,
		.pids = some_pids,
		.n = 2,
	};
	return r;
}

static void test_error_reply(void **state)
{
	struct fake_script script = {
		.version = "252",
		.steps = { { .action = FAKE_START_ERROR,
			     .error_name = SD_BUS_ERROR_ACCESS_DENIED,
			     .error_message = "Access denied" } },
		.n_steps = 1,
	};
	struct ks_scope_request r = simple_request("keepsession-a-tmux-1.scope");
	struct env e;

	(void)state;
	env_open(&e, &script, LONG);
	(void)failed_start(&e, &r,
			   "StartTransientUnit(keepsession-a-tmux-1.scope) failed: "
			   "org.freedesktop.DBus.Error.AccessDenied: Access denied");
	assert_int_equal(ks_mover_wait(e.m), 1);
	assert_int_equal(loud_lines(&e.cap), 0);
	env_stop(&e);
	env_free(&e);
}

/* A hostile or broken reply must not forge log lines or flood them. */
static void test_error_reply_sanitized(void **state)
{
	char message[2000];
	struct fake_script script = {
		.version = "252",
		.steps = { { .action = FAKE_START_ERROR,
			     .error_name = "com.example.Evil",
			     .error_message = message } },
		.n_steps = 1,
	};
	struct ks_scope_request r = simple_request("keepsession-a-tmux-1.scope");
	const char *line;
	struct env e;

	(void)state;
	memset(message, 'x', sizeof(message) - 1);
	message[sizeof(message) - 1] = '\0';
	memcpy(message, "first\nFAKE: root logged in\r\t\x1b[31m", 33);
	env_open(&e, &script, LONG);
	line = failed_start(&e, &r, "com.example.Evil");
	for (const char *p = line; *p; p++)
		assert_true((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
	assert_non_null(strstr(line, "first?FAKE: root logged in???[31m"));
	assert_true(strlen(line) < 400);
	assert_non_null(strstr(line, "xxx..."));
	env_stop(&e);
	env_free(&e);
}

static void test_hang_bounded(void **state)
{
	struct fake_script script = {
		.version = "252",
		.steps = { { .action = FAKE_START_HANG } },
		.n_steps = 1,
	};
	struct ks_scope_request r = simple_request("keepsession-a-tmux-1.scope");
	uint64_t t0;
	struct env e;

	(void)state;
	env_start(&e, &script);
	t0 = ks_now_usec();
	assert_int_equal(ks_mover_open(e.bus, t0 + SHORT, &e.log, &e.m), 0);
	/* Sent and unanswered: PID 1 may still run it, and the result
	 * says so. */
	(void)failed_start(&e, &r,
			   "StartTransientUnit(keepsession-a-tmux-1.scope): no answer "
			   "in time; systemd may still carry it out");
	assert_true(ks_now_usec() - t0 < BOUND);
	/* Past the deadline nothing more is even sent. */
	r.unit = "keepsession-a-tmux-2.scope";
	(void)failed_start(&e, &r, "no answer in time");
	env_stop(&e);
	assert_int_equal(fake_call_count(e.fm.rec, "StartTransientUnit"), 1);
	env_free(&e);
}

static void test_no_job_removed_bounded(void **state)
{
	struct fake_script script = {
		.version = "252",
		.steps = { { .action = FAKE_START_NO_SIGNAL } },
		.n_steps = 1,
	};
	struct ks_scope_request r = simple_request("keepsession-a-tmux-1.scope");
	uint64_t t0;
	struct env e;

	(void)state;
	env_start(&e, &script);
	t0 = ks_now_usec();
	assert_int_equal(ks_mover_open(e.bus, t0 + SHORT, &e.log, &e.m), 0);
	assert_int_equal(ks_mover_start(e.m, &r), 0);
	assert_int_equal(ks_mover_wait(e.m), 1);
	assert_true(ks_now_usec() - t0 < BOUND);
	assert_true(ks_now_usec() - t0 >= SHORT);
	assert_int_equal(ks_mover_job_state(e.m, 0), KS_JOB_TIMEOUT);
	assert_null(ks_mover_job_result(e.m, 0));
	assert_non_null(captured(&e.cap, "keepsession-a-tmux-1.scope: no answer from systemd"));
	env_stop(&e);
	env_free(&e);
}

static void test_version_hang_bounded(void **state)
{
	struct fake_script script = { .version_mode = FAKE_VERSION_HANG };
	uint64_t t0;
	struct env e;

	(void)state;
	env_start(&e, &script);
	t0 = ks_now_usec();
	assert_int_equal(ks_mover_open(e.bus, t0 + SHORT, &e.log, &e.m), -ETIMEDOUT);
	assert_true(ks_now_usec() - t0 < BOUND);
	/* No mover, and so no match left behind. */
	assert_null(e.m);
	env_stop(&e);
	env_free(&e);
}

/* A manager that closes the connection instead of answering is
 * unreachable, not frozen: the answer a synchronous call gives, and what
 * the keeper's line and its failure case say. */
static void test_version_disconnect(void **state)
{
	struct fake_script script = { .version_mode = FAKE_VERSION_DISCONNECT };
	uint64_t t0;
	struct env e;

	(void)state;
	env_start(&e, &script);
	t0 = ks_now_usec();
	assert_int_equal(ks_mover_open(e.bus, t0 + LONG, &e.log, &e.m), -ECONNRESET);
	assert_true(ks_now_usec() - t0 < BOUND);
	assert_null(e.m);
	/* The caller says it, in one line. */
	assert_int_equal(e.cap.n, 0);
	env_stop(&e);
	env_free(&e);
}

/* The peer accepts the connection but never authenticates: sd_bus_call()
 * alone would wait sd-bus's own auth timeout. */
static void test_no_auth_bounded(void **state)
{
	struct fake_script script = { .no_auth = true };
	uint64_t t0;
	struct env e;

	(void)state;
	env_start(&e, &script);
	t0 = ks_now_usec();
	assert_int_equal(ks_mover_open(e.bus, t0 + SHORT, &e.log, &e.m), -ETIMEDOUT);
	assert_true(ks_now_usec() - t0 < BOUND);
	/* The caller says it, in one line. */
	assert_int_equal(e.cap.n, 0);
	env_stop(&e);
	env_free(&e);
}

static void test_broker_hello_hang_bounded(void **state)
{
	struct fake_script script = { .broker = true, .broker_hang_hello = true };
	uint64_t t0;
	struct env e;

	(void)state;
	env_start(&e, &script);
	t0 = ks_now_usec();
	assert_int_equal(ks_mover_open(e.bus, t0 + SHORT, &e.log, &e.m), -ETIMEDOUT);
	assert_true(ks_now_usec() - t0 < BOUND);
	env_stop(&e);
	/* Queued behind Hello, as logind's reads are, and never answered. */
	assert_int_equal(fake_call_count(e.fm.rec, "Subscribe"), 1);
	assert_int_equal(fake_call_count(e.fm.rec, "StartTransientUnit"), 0);
	env_free(&e);
}

/* The manager is not on the bus: the setup calls, sent without
 * auto-start, are refused by the broker at once rather than held until
 * PID 1 connects; no name to believe a JobRemoved from, so no mover, and
 * no notice either (the caller says it, or asks elsewhere). */
static void test_broker_without_manager(void **state)
{
	struct fake_script script = { .broker = true, .broker_no_manager = true };
	struct env e;

	(void)state;
	env_start(&e, &script);
	assert_int_equal(ks_mover_open(e.bus, ks_now_usec() + LONG, &e.log, &e.m), -ENXIO);
	assert_null(e.m);
	assert_null(captured(&e.cap, "Version"));
	env_stop(&e);
	assert_int_equal(fake_call_count(e.fm.rec, "StartTransientUnit"), 0);
	env_free(&e);
}

static void test_expired_deadline(void **state)
{
	struct fake_script script = { .version = "252" };
	struct ks_scope_request r = simple_request("keepsession-a-tmux-1.scope");
	struct env e;

	(void)state;
	env_start(&e, &script);
	assert_int_equal(ks_mover_open(e.bus, ks_now_usec() - 1, &e.log, &e.m), -ETIMEDOUT);
	ks_mover_free(e.m);
	e.m = NULL;
	assert_int_equal(ks_mover_open(e.bus, ks_now_usec() + LONG, &e.log, &e.m), 0);
	ks_mover_set_deadline(e.m, ks_now_usec() - 1);
	(void)failed_start(&e, &r, "StartTransientUnit(keepsession-a-tmux-1.scope): no answer");
	env_stop(&e);
	assert_int_equal(fake_call_count(e.fm.rec, "StartTransientUnit"), 0);
	env_free(&e);
}

static void test_wrong_signature(void **state)
{
	struct fake_script script = {
		.version = "252",
		.steps = { { .action = FAKE_START_WRONG_SIGNATURE } },
		.n_steps = 1,
	};
	struct ks_scope_request r = simple_request("keepsession-a-tmux-1.scope");
	struct env e;

	(void)state;
	env_open(&e, &script, LONG);
	(void)failed_start(&e, &r,
			   "StartTransientUnit(keepsession-a-tmux-1.scope): "
			   "unexpected reply signature \"s\"");
	assert_int_equal(ks_mover_wait(e.m), 1);
	env_stop(&e);
	env_free(&e);
}

static void check_result(const char *result)
{
	struct fake_script script = {
		.version = "252",
		.steps = { { .action = FAKE_START_OK, .result = result } },
		.n_steps = 1,
	};
	struct ks_scope_request r = simple_request("keepsession-a-tmux-1.scope");
	char want[128];
	struct env e;

	env_open(&e, &script, LONG);
	assert_int_equal(ks_mover_start(e.m, &r), 0);
	assert_int_equal(ks_mover_wait(e.m), 1);
	assert_int_equal(ks_mover_job_state(e.m, 0), KS_JOB_FAILED);
	assert_string_equal(ks_mover_job_result(e.m, 0), result);
	(void)snprintf(want, sizeof(want), "keepsession-a-tmux-1.scope: job %s", result);
	assert_non_null(captured(&e.cap, want));
	env_stop(&e);
	env_free(&e);
}

static void test_job_failed(void **state)
{
	(void)state;
	check_result("failed");
}

static void test_job_canceled(void **state)
{
	(void)state;
	check_result("canceled");
}

static void test_job_dependency(void **state)
{
	(void)state;
	check_result("dependency");
}

/* The result string ends up in the caller's log lines. */
static void test_job_result_sanitized(void **state)
{
	char result[300];
	struct fake_script script = {
		.version = "252",
		.steps = { { .result = "done\nforged" }, { .result = result } },
		.n_steps = 2,
	};
	struct ks_scope_request r1 = simple_request("keepsession-a-tmux-1.scope");
	struct ks_scope_request r2 = simple_request("keepsession-a-tmux-2.scope");
	struct env e;

	(void)state;
	memset(result, 'r', sizeof(result) - 1);
	result[sizeof(result) - 1] = '\0';
	env_open(&e, &script, LONG);
	assert_int_equal(ks_mover_start(e.m, &r1), 0);
	assert_int_equal(ks_mover_start(e.m, &r2), 1);
	assert_int_equal(ks_mover_wait(e.m), 2);
	assert_int_equal(ks_mover_job_state(e.m, 0), KS_JOB_FAILED);
	assert_string_equal(ks_mover_job_result(e.m, 0), "done?forged");
	assert_int_equal(ks_mover_job_state(e.m, 1), KS_JOB_FAILED);
	assert_int_equal(strlen(ks_mover_job_result(e.m, 1)), 63);
	assert_string_equal(ks_mover_job_result(e.m, 1) + 60, "...");
	env_stop(&e);
	env_free(&e);
}

/* Three jobs answered, their JobRemoved held and released out of order,
 * after two signals that must not count (a job nobody started; the first
 * job's path under another unit). */
static void test_out_of_order(void **state)
{
	struct fake_script script = {
		.version = "252",
		.steps = { { .result = "failed" }, { .result = "done" }, { .result = "done" } },
		.n_steps = 3,
		.hold_signals_until = 3,
		.signal_order = { 2, 0, 1 },
		.foreign_signals = true,
	};
	struct ks_scope_request r1 = simple_request("keepsession-a-tmux-1.scope");
	struct ks_scope_request r2 = simple_request("keepsession-a-screen-2.scope");
	struct ks_scope_request r3 = simple_request("keepsession-a-zellij-3.scope");
	struct env e;

	(void)state;
	env_open(&e, &script, LONG);
	assert_int_equal(ks_mover_start(e.m, &r1), 0);
	assert_int_equal(ks_mover_start(e.m, &r2), 1);
	assert_int_equal(ks_mover_start(e.m, &r3), 2);
	assert_int_equal(ks_mover_wait(e.m), 1);
	assert_int_equal(ks_mover_job_state(e.m, 0), KS_JOB_FAILED);
	assert_string_equal(ks_mover_job_result(e.m, 0), "failed");
	assert_int_equal(ks_mover_job_state(e.m, 1), KS_JOB_DONE);
	assert_int_equal(ks_mover_job_state(e.m, 2), KS_JOB_DONE);
	assert_string_equal(ks_mover_job_path(e.m, 1), "/org/freedesktop/systemd1/job/101");
	assert_string_equal(ks_mover_job_path(e.m, 2), "/org/freedesktop/systemd1/job/102");
	env_stop(&e);
	env_free(&e);
}

/* Some signals held, one job never answered: the rest still resolve. */
static void test_partial_timeout(void **state)
{
	struct fake_script script = {
		.version = "252",
		.steps = { { .action = FAKE_START_OK }, { .action = FAKE_START_NO_SIGNAL } },
		.n_steps = 2,
	};
	struct ks_scope_request r1 = simple_request("keepsession-a-tmux-1.scope");
	struct ks_scope_request r2 = simple_request("keepsession-a-tmux-2.scope");
	uint64_t t0;
	struct env e;

	(void)state;
	env_start(&e, &script);
	t0 = ks_now_usec();
	assert_int_equal(ks_mover_open(e.bus, t0 + SHORT, &e.log, &e.m), 0);
	assert_int_equal(ks_mover_start(e.m, &r1), 0);
	assert_int_equal(ks_mover_start(e.m, &r2), 1);
	assert_int_equal(ks_mover_wait(e.m), 1);
	assert_true(ks_now_usec() - t0 < BOUND);
	assert_int_equal(ks_mover_job_state(e.m, 0), KS_JOB_DONE);
	assert_int_equal(ks_mover_job_state(e.m, 1), KS_JOB_TIMEOUT);
	env_stop(&e);
	env_free(&e);
}

static void test_disconnect_mid_call(void **state)
{
	struct fake_script script = {
		.version = "252",
		.steps = { { .action = FAKE_START_DISCONNECT } },
		.n_steps = 1,
	};
	struct ks_scope_request r = simple_request("keepsession-a-tmux-1.scope");
	const char *result;
	uint64_t t0;
	struct env e;

	(void)state;
	env_open(&e, &script, LONG);
	t0 = ks_now_usec();
	result = failed_start(&e, &r, "StartTransientUnit(keepsession-a-tmux-1.scope) failed");
	assert_null(strstr(result, "no answer in time"));
	assert_true(ks_now_usec() - t0 < BOUND);
	assert_int_equal(ks_mover_wait(e.m), 1);
	/* Later calls fail at once on the dead connection. */
	r.unit = "keepsession-a-tmux-2.scope";
	(void)failed_start(&e, &r, "StartTransientUnit(keepsession-a-tmux-2.scope) failed");
	assert_true(ks_now_usec() - t0 < BOUND);
	env_stop(&e);
	env_free(&e);
}

static void test_disconnect_while_waiting(void **state)
{
	struct fake_script script = {
		.version = "252",
		.steps = { { .action = FAKE_START_DISCONNECT_AFTER_REPLY } },
		.n_steps = 1,
	};
	struct ks_scope_request r = simple_request("keepsession-a-tmux-1.scope");
	uint64_t t0;
	struct env e;

	(void)state;
	env_open(&e, &script, LONG);
	t0 = ks_now_usec();
	assert_int_equal(ks_mover_start(e.m, &r), 0);
	assert_int_equal(ks_mover_wait(e.m), 1);
	/* Noticed the disconnection, did not sit out the 30 s deadline. */
	assert_true(ks_now_usec() - t0 < BOUND);
	assert_int_equal(ks_mover_job_state(e.m, 0), KS_JOB_FAILED);
	/* Said by the caller, once, from the job's result. */
	assert_non_null(strstr(ks_mover_job_result(e.m, 0),
			       "lost the connection to the systemd manager: "));
	assert_int_equal(loud_lines(&e.cap), 0);
	env_stop(&e);
	env_free(&e);
}

/* A JobRemoved that made it out before the connection dropped counts. */
static void test_signal_then_disconnect(void **state)
{
	struct fake_script script = {
		.version = "252",
		.steps = { { .action = FAKE_START_SIGNAL_THEN_DISCONNECT } },
		.n_steps = 1,
	};
	struct ks_scope_request r = simple_request("keepsession-a-tmux-1.scope");
	struct env e;

	(void)state;
	env_open(&e, &script, LONG);
	assert_int_equal(ks_mover_start(e.m, &r), 0);
	assert_int_equal(ks_mover_wait(e.m), 0);
	assert_int_equal(ks_mover_job_state(e.m, 0), KS_JOB_DONE);
	env_stop(&e);
	env_free(&e);
}

/* ---- Version ---- */

static void check_version_mode(enum fake_version mode, const char *version, unsigned want,
			       const char *log_needle)
{
	struct fake_script script = { .version_mode = mode, .version = version };
	const struct fake_call *call;
	struct env e;

	env_open(&e, &script, LONG);
	assert_int_equal(ks_mover_version(e.m), want);
	if (log_needle)
		assert_non_null(captured(&e.cap, log_needle));
	env_stop(&e);
	call = fake_call_find(e.fm.rec, "Get", 0);
	assert_non_null(call);
	assert_string_equal(call->interface, "org.freedesktop.DBus.Properties");
	assert_string_equal(call->path, "/org/freedesktop/systemd1");
	assert_string_equal(call->destination, "org.freedesktop.systemd1");
	assert_string_equal(call->arg0, "org.freedesktop.systemd1.Manager");
	assert_string_equal(call->arg1, "Version");
	env_free(&e);
}

static void test_version_modes(void **state)
{
	(void)state;
	check_version_mode(FAKE_VERSION_STRING, "252.39-1~deb12u2", 252, NULL);
	check_version_mode(FAKE_VERSION_STRING, "systemd 247 (247.3-7)", 247, NULL);
	check_version_mode(FAKE_VERSION_ERROR, NULL, 0, "cannot read the manager's Version");
	check_version_mode(FAKE_VERSION_WRONG_TYPE, NULL, 0, "Version is not a string");
	check_version_mode(FAKE_VERSION_STRING, "garbage\nline", 0,
			   "cannot parse the manager's Version \"garbage?line\"");
	check_version_mode(FAKE_VERSION_STRING, "", 0, "cannot parse");
}

/* ---- through a broker (the system bus) ---- */

static void test_broker(void **state)
{
	struct fake_script script = { .broker = true, .version = "252" };
	struct ks_scope_request r = simple_request("keepsession-a-tmux-1.scope");
	const struct fake_call *match;
	struct env e;
	size_t hello = SIZE_MAX, add = SIZE_MAX, sub = SIZE_MAX, get = SIZE_MAX, start = SIZE_MAX;

	(void)state;
	env_open(&e, &script, LONG);
	assert_int_equal(ks_mover_start(e.m, &r), 0);
	assert_int_equal(ks_mover_wait(e.m), 0);
	env_stop(&e);

	for (size_t i = 0; i < e.fm.rec->n_calls; i++) {
		const char *member = e.fm.rec->calls[i].member;

		if (strcmp(member, "Hello") == 0 && hello == SIZE_MAX)
			hello = i;
		else if (strcmp(member, "AddMatch") == 0 && add == SIZE_MAX)
			add = i;
		else if (strcmp(member, "Subscribe") == 0 && sub == SIZE_MAX)
			sub = i;
		else if (strcmp(member, "Get") == 0 && get == SIZE_MAX)
			get = i;
		else if (strcmp(member, "StartTransientUnit") == 0 && start == SIZE_MAX)
			start = i;
	}
	/* The match is in place before anything can start a job. */
	assert_true(hello < add && add < sub && sub < get && get < start && start != SIZE_MAX);
	match = fake_call_find(e.fm.rec, "AddMatch", 0);
	assert_non_null(strstr(match->arg0, "sender='org.freedesktop.systemd1'"));
	assert_non_null(strstr(match->arg0, "member='JobRemoved'"));
	assert_non_null(strstr(match->arg0, "path='/org/freedesktop/systemd1'"));
	assert_string_equal(fake_call_find(e.fm.rec, "Subscribe", 0)->destination,
			    "org.freedesktop.systemd1");
	env_free(&e);
}

/* On the system bus another local user can send a JobRemoved too, and a
 * match on the well-known name lets it through: a forged "done" from
 * another unique name, before the manager's own "failed", must not count. */
static void test_broker_forged_job_removed(void **state)
{
	struct fake_script script = {
		.broker = true,
		.version = "252",
		.forged_sender = "done",
		.steps = { { .action = FAKE_START_OK, .result = "failed" } },
		.n_steps = 1,
	};
	struct ks_scope_request r = simple_request("keepsession-a-tmux-1.scope");
	struct env e;

	(void)state;
	env_open(&e, &script, LONG);
	assert_string_equal(ks_mover_manager_unique(e.m), ":1.1");
	assert_int_equal(ks_mover_start(e.m, &r), 0);
	assert_int_equal(ks_mover_wait(e.m), 1);
	assert_int_equal(ks_mover_job_state(e.m, 0), KS_JOB_FAILED);
	assert_string_equal(ks_mover_job_result(e.m, 0), "failed");
	env_stop(&e);
	env_free(&e);
}

/* ---- AttachProcessesToUnit ---- */

static void test_attach(void **state)
{
	struct fake_script script = { .version = "252" };
	pid_t pids[3] = { 11, 22, 33 };
	const struct fake_call *call;
	struct env e;

	(void)state;
	env_open(&e, &script, LONG);
	assert_int_equal(ks_mover_attach(e.m, "keepsession-a-tmux-1.scope", pids, 3), 0);
	assert_int_equal(ks_mover_attach(e.m, "keepsession-a-tmux-1.scope", pids, 0), 0);
	env_stop(&e);
	assert_int_equal(fake_call_count(e.fm.rec, "AttachProcessesToUnit"), 1);
	call = fake_call_find(e.fm.rec, "AttachProcessesToUnit", 0);
	assert_string_equal(call->interface, "org.freedesktop.systemd1.Manager");
	assert_string_equal(call->arg0, "keepsession-a-tmux-1.scope");
	assert_string_equal(call->arg1, "");
	assert_int_equal(call->n_pids, 3);
	assert_int_equal(call->pids[0], 11);
	assert_int_equal(call->pids[1], 22);
	assert_int_equal(call->pids[2], 33);
	env_free(&e);
}

/* A process that exited before systemd moved it: -ESRCH, nothing louder
 * than a debug line, for each name systemd has used for it. */
static void check_attach_gone(const char *error_name)
{
	struct fake_script script = { .version = "252",
				      .attach_gone_pid = 22,
				      .attach_gone_error = error_name };
	pid_t pids[3] = { 11, 22, 33 };
	struct env e;

	env_open(&e, &script, LONG);
	assert_int_equal(ks_mover_attach(e.m, "keepsession-a-tmux-1.scope", pids, 3), -ESRCH);
	assert_int_equal(ks_mover_attach(e.m, "keepsession-a-tmux-1.scope", &pids[2], 1), 0);
	for (size_t i = 0; i < e.cap.n; i++)
		assert_int_equal(e.cap.prio[i], LOG_DEBUG);
	env_stop(&e);
	assert_int_equal(fake_call_count(e.fm.rec, "AttachProcessesToUnit"), 2);
	env_free(&e);
}

static void test_attach_gone(void **state)
{
	(void)state;
	check_attach_gone(NULL); /* org.freedesktop.systemd1.NoSuchProcess, 247-256 */
	check_attach_gone("org.freedesktop.DBus.Error.UnixProcessIdUnknown"); /* 257 */
	check_attach_gone("System.Error.ESRCH");
}

static void test_attach_error(void **state)
{
	struct fake_script script = { .version = "252", .attach_mode = FAKE_VERSION_ERROR };
	pid_t pids[1] = { 11 };
	struct env e;

	(void)state;
	env_open(&e, &script, LONG);
	assert_string_equal(ks_mover_attach_error(e.m), "");
	assert_int_equal(ks_mover_attach(e.m, "keepsession-a-tmux-1.scope", pids, 1), -EACCES);
	/* Returned, not logged: the keeper's kept line says it, once. */
	assert_non_null(strstr(ks_mover_attach_error(e.m),
			       "AttachProcessesToUnit failed: "
			       "org.freedesktop.DBus.Error.AccessDenied"));
	assert_int_equal(loud_lines(&e.cap), 0);
	env_stop(&e);
	env_free(&e);
}

static void test_attach_hang_bounded(void **state)
{
	struct fake_script script = { .version = "252", .attach_mode = FAKE_VERSION_HANG };
	pid_t pids[1] = { 11 };
	uint64_t t0;
	struct env e;

	(void)state;
	env_start(&e, &script);
	t0 = ks_now_usec();
	assert_int_equal(ks_mover_open(e.bus, t0 + SHORT, &e.log, &e.m), 0);
	assert_int_equal(ks_mover_attach(e.m, "keepsession-a-tmux-1.scope", pids, 1), -ETIMEDOUT);
	assert_true(ks_now_usec() - t0 < BOUND);
	env_stop(&e);
	env_free(&e);
}

/* Two attaches in flight at once, answered in order; a third waits for a
 * free slot; a slot with no call is no answer. */
static void test_attach_pipelined(void **state)
{
	struct fake_script script = { .version = "252" };
	pid_t first[2] = { 11, 22 }, second[1] = { 33 };
	const struct fake_call *call;
	struct env e;
	int a, b;

	(void)state;
	env_open(&e, &script, LONG);
	a = ks_mover_attach_send(e.m, "keepsession-a-tmux-1.scope", first, 2);
	b = ks_mover_attach_send(e.m, "keepsession-a-tmux-1.scope", second, 1);
	assert_true(a >= 0 && b >= 0 && a != b);
	assert_int_equal(ks_mover_attach_send(e.m, "keepsession-a-tmux-1.scope", second, 1),
			 -EBUSY);
	assert_int_equal(ks_mover_attach_receive(e.m, a), 0);
	assert_int_equal(ks_mover_attach_receive(e.m, b), 0);
	assert_int_equal(ks_mover_attach_receive(e.m, b), -EINVAL);
	assert_int_equal(ks_mover_attach_receive(e.m, KS_MOVER_ATTACH_SLOTS), -EINVAL);
	assert_int_equal(ks_mover_attach_send(e.m, "keepsession-a-tmux-1.scope", first, 0),
			 -EINVAL);
	for (size_t i = 0; i < e.cap.n; i++)
		assert_int_equal(e.cap.prio[i], LOG_DEBUG);
	env_stop(&e);
	assert_int_equal(fake_call_count(e.fm.rec, "AttachProcessesToUnit"), 2);
	call = fake_call_find(e.fm.rec, "AttachProcessesToUnit", 0);
	assert_int_equal(call->n_pids, 2);
	assert_int_equal(call->pids[0], 11);
	assert_int_equal(call->pids[1], 22);
	call = fake_call_find(e.fm.rec, "AttachProcessesToUnit", 1);
	assert_int_equal(call->n_pids, 1);
	assert_int_equal(call->pids[0], 33);
	env_free(&e);
}

/* The first of two in flight is refused for a process gone (-ESRCH, at
 * debug level) and retried while the second's answer waits; its answer
 * is not lost. */
static void test_attach_pipelined_first_refused(void **state)
{
	struct fake_script script = { .version = "252", .attach_gone_pid = 22 };
	pid_t first[2] = { 11, 22 }, second[1] = { 33 };
	struct env e;
	int a, b;

	(void)state;
	env_open(&e, &script, LONG);
	a = ks_mover_attach_send(e.m, "keepsession-a-tmux-1.scope", first, 2);
	b = ks_mover_attach_send(e.m, "keepsession-a-tmux-2.scope", second, 1);
	assert_true(a >= 0 && b >= 0);
	assert_int_equal(ks_mover_attach_receive(e.m, a), -ESRCH);
	assert_int_equal(ks_mover_attach(e.m, "keepsession-a-tmux-1.scope", first, 1), 0);
	assert_int_equal(ks_mover_attach_receive(e.m, b), 0);
	for (size_t i = 0; i < e.cap.n; i++)
		assert_int_equal(e.cap.prio[i], LOG_DEBUG);
	env_stop(&e);
	assert_int_equal(fake_call_count(e.fm.rec, "AttachProcessesToUnit"), 3);
	assert_string_equal(fake_call_find(e.fm.rec, "AttachProcessesToUnit", 1)->arg0,
			    "keepsession-a-tmux-2.scope");
	env_free(&e);
}

/* The deadline passes with two in flight: each answer is a timeout,
 * within the bound, said once each; a send past it goes nowhere. */
static void test_attach_pipelined_deadline(void **state)
{
	struct fake_script script = { .version = "252", .attach_mode = FAKE_VERSION_HANG };
	pid_t pids[2] = { 11, 22 };
	uint64_t t0;
	struct env e;
	int a, b;

	(void)state;
	env_start(&e, &script);
	t0 = ks_now_usec();
	assert_int_equal(ks_mover_open(e.bus, t0 + SHORT, &e.log, &e.m), 0);
	a = ks_mover_attach_send(e.m, "keepsession-a-tmux-1.scope", pids, 1);
	b = ks_mover_attach_send(e.m, "keepsession-a-tmux-1.scope", pids + 1, 1);
	assert_true(a >= 0 && b >= 0);
	assert_int_equal(ks_mover_attach_receive(e.m, a), -ETIMEDOUT);
	assert_int_equal(ks_mover_attach_receive(e.m, b), -ETIMEDOUT);
	assert_true(ks_now_usec() - t0 < BOUND);
	assert_int_equal(loud_lines(&e.cap), 0);
	assert_string_equal(
		ks_mover_attach_error(e.m),
		"AttachProcessesToUnit: no answer in time; systemd may still carry it out");
	assert_int_equal(ks_mover_attach_send(e.m, "keepsession-a-tmux-1.scope", pids, 1),
			 -ETIMEDOUT);
	env_stop(&e);
	assert_int_equal(fake_call_count(e.fm.rec, "AttachProcessesToUnit"), 2);
	env_free(&e);
}

/* ---- resources ---- */

static void test_no_fd_leak(void **state)
{
	struct fake_script script = { .version = "255" };
	pid_t pids[1] = { getpid() };
	int fds[1];
	struct ks_scope_request r = {
		.unit = "keepsession-a-tmux-1.scope",
		.uid = 1000,
		.pids = pids,
		.pidfds = fds,
		.n = 1,
	};
	int before, after;
	struct env e;

	(void)state;
	before = fake_count_fds();
	assert_true(before > 0);
	fds[0] = open_pidfd(pids[0]);
	assert_true(fds[0] >= 0);
	env_open(&e, &script, LONG);
	assert_int_equal(ks_mover_start(e.m, &r), 0);
	assert_non_null(prop(&e.fm.rec->calls[e.fm.rec->n_calls - 1], "PIDFDs"));
	assert_int_equal(ks_mover_attach(e.m, r.unit, pids, 1), 0);
	assert_int_equal(ks_mover_wait(e.m), 0);
	env_stop(&e);
	env_free(&e);
	close(fds[0]);
	after = fake_count_fds();
	assert_int_equal(before, after);
}

/* Freeing a mover drops its JobRemoved match with it: a mover opened on
 * the same bus afterwards tracks its own jobs (a match left behind would
 * run on freed memory, which the sanitizers and valgrind see). */
static void test_close_idempotent(void **state)
{
	struct fake_script script = { .version = "252" };
	struct ks_scope_request r = simple_request("keepsession-a-tmux-1.scope");
	struct env e;

	(void)state;
	ks_mover_free(NULL);
	env_open(&e, &script, LONG);
	assert_int_equal(ks_mover_start(e.m, &r), 0);
	assert_int_equal(ks_mover_n_jobs(e.m), 1);
	ks_mover_free(e.m);
	e.m = NULL;
	assert_int_equal(ks_mover_open(e.bus, ks_now_usec() + LONG, &e.log, &e.m), 0);
	assert_int_equal(ks_mover_n_jobs(e.m), 0);
	assert_int_equal(ks_mover_wait(e.m), 0);
	env_stop(&e);
	env_free(&e);
}

static void test_invalid_arguments(void **state)
{
	struct fake_script script = { .version = "252" };
	struct ks_scope_request r = simple_request("x.scope");
	struct ks_mover *m = NULL;
	struct env e;

	(void)state;
	assert_int_equal(ks_mover_open(NULL, ks_now_usec() + LONG, NULL, &m), -EINVAL);
	assert_null(m);
	assert_int_equal(ks_mover_start(NULL, &r), -EINVAL);
	assert_int_equal(ks_mover_wait(NULL), -EINVAL);
	assert_int_equal(ks_mover_attach(NULL, "x.scope", NULL, 1), -EINVAL);
	env_open(&e, &script, LONG);
	r.n = 0;
	assert_int_equal(ks_mover_start(e.m, &r), -EINVAL);
	assert_int_equal(ks_mover_wait(e.m), 0);
	assert_int_equal(ks_mover_attach(e.m, "x.scope", NULL, 1), -EINVAL);
	env_stop(&e);
	assert_int_equal(fake_call_count(e.fm.rec, "StartTransientUnit"), 0);
	env_free(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slice),
		cmocka_unit_test(test_invalid_arguments),
		cmocka_unit_test(test_properties_v239),
		cmocka_unit_test(test_properties_v243),
		cmocka_unit_test(test_properties_v247),
		cmocka_unit_test(test_properties_v252),
		cmocka_unit_test(test_properties_v253),
		cmocka_unit_test(test_properties_v255),
		cmocka_unit_test(test_properties_v257),
		cmocka_unit_test(test_properties_unknown_version),
		cmocka_unit_test(test_pidfds_mixed),
		cmocka_unit_test(test_pidfds_fallback_read_only),
		cmocka_unit_test(test_pidfds_fallback_invalid_args),
		cmocka_unit_test(test_pidfds_fallback_unknown_property),
		cmocka_unit_test(test_pidfds_other_error_no_retry),
		cmocka_unit_test(test_error_reply),
		cmocka_unit_test(test_error_reply_sanitized),
		cmocka_unit_test(test_hang_bounded),
		cmocka_unit_test(test_no_job_removed_bounded),
		cmocka_unit_test(test_version_hang_bounded),
		cmocka_unit_test(test_version_disconnect),
		cmocka_unit_test(test_no_auth_bounded),
		cmocka_unit_test(test_broker_hello_hang_bounded),
		cmocka_unit_test(test_broker_without_manager),
		cmocka_unit_test(test_expired_deadline),
		cmocka_unit_test(test_wrong_signature),
		cmocka_unit_test(test_job_failed),
		cmocka_unit_test(test_job_canceled),
		cmocka_unit_test(test_job_dependency),
		cmocka_unit_test(test_job_result_sanitized),
		cmocka_unit_test(test_out_of_order),
		cmocka_unit_test(test_partial_timeout),
		cmocka_unit_test(test_disconnect_mid_call),
		cmocka_unit_test(test_disconnect_while_waiting),
		cmocka_unit_test(test_signal_then_disconnect),
		cmocka_unit_test(test_version_modes),
		cmocka_unit_test(test_broker),
		cmocka_unit_test(test_broker_forged_job_removed),
		cmocka_unit_test(test_attach),
		cmocka_unit_test(test_attach_error),
		cmocka_unit_test(test_attach_gone),
		cmocka_unit_test(test_attach_hang_bounded),
		cmocka_unit_test(test_attach_pipelined),
		cmocka_unit_test(test_attach_pipelined_first_refused),
		cmocka_unit_test(test_attach_pipelined_deadline),
		cmocka_unit_test(test_no_fd_leak),
		cmocka_unit_test(test_close_idempotent),
	};

	real_pidfds = have_pidfds();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
