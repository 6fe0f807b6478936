/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The logind client: its kill settings, read in one round trip, and
 * every bad answer leaving the caller's lists as they were. */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "busenv.h"
#include "ks_bus.h"
#include "ks_logind.h"

/* ---- logind ---- */

static const char *const only_users[] = { "alice", "bob", NULL };
static const char *const exclude_users[] = { "root", NULL };

static void test_logind(void **state)
{
	struct fake_script script = {
		.kill_user_processes = true,
		.kill_only_users = only_users,
		.kill_exclude_users = exclude_users,
	};
	struct ks_strlist only = { 0 }, exclude = { 0 };
	const struct fake_call *call;
	bool kill = false;
	struct env e;

	(void)state;
	assert_int_equal(ks_strlist_add(&only, "stale", 5), 0);
	env_start(&e, &script);
	assert_int_equal(
		ks_logind_kill_settings(e.bus, ks_now_usec() + LONG, &kill, &only, &exclude), 0);
	assert_true(kill);
	assert_int_equal(only.n, 2);
	assert_string_equal(only.v[0], "alice");
	assert_string_equal(only.v[1], "bob");
	assert_int_equal(exclude.n, 1);
	assert_string_equal(exclude.v[0], "root");
	env_stop(&e);
	assert_int_equal(fake_call_count(e.fm.rec, "Get"), 3);
	call = fake_call_find(e.fm.rec, "Get", 0);
	assert_string_equal(call->destination, "org.freedesktop.login1");
	assert_string_equal(call->path, "/org/freedesktop/login1");
	assert_string_equal(call->interface, "org.freedesktop.DBus.Properties");
	assert_string_equal(call->arg0, "org.freedesktop.login1.Manager");
	assert_string_equal(call->arg1, "KillUserProcesses");
	assert_string_equal(fake_call_find(e.fm.rec, "Get", 1)->arg1, "KillOnlyUsers");
	assert_string_equal(fake_call_find(e.fm.rec, "Get", 2)->arg1, "KillExcludeUsers");
	env_free(&e);
	ks_strlist_clear(&only);
	ks_strlist_clear(&exclude);
}

static void test_logind_empty_lists(void **state)
{
	struct fake_script script = { .kill_user_processes = false };
	struct ks_strlist only = { 0 }, exclude = { 0 };
	bool kill = true;
	struct env e;

	(void)state;
	env_start(&e, &script);
	assert_int_equal(
		ks_logind_kill_settings(e.bus, ks_now_usec() + LONG, &kill, &only, &exclude), 0);
	assert_false(kill);
	assert_int_equal(only.n, 0);
	assert_int_equal(exclude.n, 0);
	env_stop(&e);
	env_free(&e);
}

/* A bad answer for any one property changes nothing at all. */
static void check_logind_bad(enum fake_logind mode, const char *property, int want)
{
	struct fake_script script = {
		.logind_mode = mode,
		.logind_bad = property,
		.kill_user_processes = true,
		.kill_only_users = only_users,
		.kill_exclude_users = exclude_users,
	};
	struct ks_strlist only = { 0 }, exclude = { 0 };
	bool kill = false;
	uint64_t t0, budget;
	struct env e;

	assert_int_equal(ks_strlist_add(&only, "before", 6), 0);
	env_start(&e, &script);
	t0 = ks_now_usec();
	budget = mode == FAKE_LOGIND_HANG ? SHORT : LONG;
	assert_int_equal(ks_logind_kill_settings(e.bus, t0 + budget, &kill, &only, &exclude), want);
	assert_true(ks_now_usec() - t0 < BOUND);
	assert_false(kill);
	assert_int_equal(only.n, 1);
	assert_string_equal(only.v[0], "before");
	assert_int_equal(exclude.n, 0);
	env_stop(&e);
	env_free(&e);
	ks_strlist_clear(&only);
}

static void test_logind_wrong_types(void **state)
{
	(void)state;
	check_logind_bad(FAKE_LOGIND_WRONG_TYPE, "KillUserProcesses", -EBADMSG);
	check_logind_bad(FAKE_LOGIND_WRONG_TYPE, "KillOnlyUsers", -EBADMSG);
	check_logind_bad(FAKE_LOGIND_WRONG_TYPE, "KillExcludeUsers", -EBADMSG);
}

static void test_logind_errors(void **state)
{
	(void)state;
	check_logind_bad(FAKE_LOGIND_ERROR, "KillExcludeUsers", -EACCES);
	check_logind_bad(FAKE_LOGIND_HANG, "KillOnlyUsers", -ETIMEDOUT);
	/* A logind that closed the connection did not time out. */
	check_logind_bad(FAKE_LOGIND_DISCONNECT, "KillOnlyUsers", -ECONNRESET);
}

/* ---- terminate-user: one ListJobs ---- */

/* What the manager's jobs say about uid 1000, and the unit named. */
static int user_stopping_with(const struct fake_loaded_unit *loaded, size_t n, const char *error,
			      char *unit, size_t size)
{
	struct fake_script script = { .loaded = loaded, .n_loaded = n, .get_unit_error = error };
	struct env e;
	int r;

	env_start(&e, &script);
	r = ks_user_stopping(e.bus, 1000, ks_now_usec() + LONG, unit, size);
	env_stop(&e);
	assert_int_equal(fake_call_count(e.fm.rec, "ListJobs"), 1);
	assert_int_equal(e.fm.rec->n_all_calls, 1);
	env_free(&e);
	return r;
}

/* A stop job on any of the user's three units, among other jobs. */
static void test_user_stopping(void **state)
{
	static const char *const units[] = { "user@1000.service", "user-runtime-dir@1000.service",
					     "user-1000.slice" };
	char unit[64];

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		const struct fake_loaded_unit loaded[] = {
			{ .name = "user@1001.service", .job_type = "stop" },
			{ .name = "session-3.scope", .job_type = "stop" },
			{ .name = "user@1000.service", .job_type = "start" },
			{ .name = units[i], .job_type = "stop" },
		};

		unit[0] = '\0';
		assert_int_equal(user_stopping_with(loaded, 4, NULL, unit, sizeof(unit)), 1);
		assert_string_equal(unit, units[i]);
	}
}

/* Other users' units (a uid that only starts like ours included), other
 * job types, other units: not stopped. */
static void test_user_not_stopping(void **state)
{
	const struct fake_loaded_unit loaded[] = {
		{ .name = "user@10000.service", .job_type = "stop" },
		{ .name = "user-100.slice", .job_type = "stop" },
		{ .name = "user-runtime-dir@1000.service", .job_type = "restart" },
		{ .name = "user@1000.service", .job_type = "start" },
		{ .name = "user-1000.slice.d", .job_type = "stop" },
	};
	char unit[64];

	(void)state;
	assert_int_equal(user_stopping_with(loaded, 5, NULL, unit, sizeof(unit)), 0);
	assert_int_equal(user_stopping_with(NULL, 0, NULL, unit, sizeof(unit)), 0);
}

/* A manager that refuses the list cannot tell. */
static void test_user_stopping_refused(void **state)
{
	char unit[64];

	(void)state;
	assert_int_equal(user_stopping_with(NULL, 0, "org.freedesktop.DBus.Error.AccessDenied",
					    unit, sizeof(unit)),
			 -EACCES);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_logind),
		cmocka_unit_test(test_logind_empty_lists),
		cmocka_unit_test(test_logind_wrong_types),
		cmocka_unit_test(test_logind_errors),
		cmocka_unit_test(test_user_stopping),
		cmocka_unit_test(test_user_not_stopping),
		cmocka_unit_test(test_user_stopping_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
