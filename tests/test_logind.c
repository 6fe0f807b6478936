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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_logind),
		cmocka_unit_test(test_logind_empty_lists),
		cmocka_unit_test(test_logind_wrong_types),
		cmocka_unit_test(test_logind_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
