/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fake_manager.h"
#include "ks_config.h"
#include "ks_kept.h"
#include "ks_mover.h"
#include "ks_unitname.h"
#include "logcap.h"

static void test_unit_names(void **state)
{
	char name[KS_UNIT_NAME_MAX + 1], longname[400];

	(void)state;
	assert_true(ks_kept_unit_name_valid("keepsession-alice-tmux-1234.scope"));
	assert_true(ks_kept_unit_name_valid("keepsession-j\\x2edoe-tmux-1.scope"));
	assert_false(ks_kept_unit_name_valid("keepsession-.scope"));
	assert_false(ks_kept_unit_name_valid("session-3.scope"));
	assert_false(ks_kept_unit_name_valid("keepsession-alice-tmux-1234.service"));
	assert_false(ks_kept_unit_name_valid("keepsession-a b.scope"));
	assert_false(ks_kept_unit_name_valid("keepsession-a/b.scope"));
	assert_false(ks_kept_unit_name_valid("xkeepsession-a.scope"));
	assert_false(ks_kept_unit_name_valid(""));
	(void)snprintf(longname, sizeof(longname), "keepsession-%0300d.scope", 1);
	assert_false(ks_kept_unit_name_valid(longname));

	/* What the module names is ours, and carries its pid. */
	assert_true(ks_scope_name("alice", "tmux", 4321, name, sizeof(name)) > 0);
	assert_true(ks_kept_unit_name_valid(name));
	assert_int_equal(ks_kept_unit_pid(name), 4321);
	assert_int_equal(ks_kept_unit_pid("keepsession-alice-tmux-1234.scope"), 1234);
	assert_int_equal(ks_kept_unit_pid("keepsession-alice-tmux.scope"), 0);
	assert_int_equal(ks_kept_unit_pid("keepsession-1234.scope"), 0);
	assert_int_equal(ks_kept_unit_pid("keepsession-a-99999999999.scope"), 0);
	assert_int_equal(ks_kept_unit_pid("keepsession-a-0.scope"), 0);
	assert_int_equal(ks_kept_unit_pid("session-1234.scope"), 0);
}

static void test_description(void **state)
{
	char *program, *user, *session;

	(void)state;
	assert_int_equal(ks_kept_parse_description(
				 "tmux of user alice kept from session 3 by pam_keepsession",
				 &program, &user, &session),
			 0);
	assert_string_equal(program, "tmux");
	assert_string_equal(user, "alice");
	assert_string_equal(session, "3");
	free(program);
	free(user);
	free(session);

	assert_int_equal(ks_kept_parse_description("/usr/bin/screen of user j.doe kept from "
						   "session c12 by pam_keepsession",
						   &program, &user, &session),
			 0);
	assert_string_equal(program, "/usr/bin/screen");
	assert_string_equal(user, "j.doe");
	assert_string_equal(session, "c12");
	free(program);
	free(user);
	free(session);

	static const char *const bad[] = {
		"",
		"tmux",
		"keepsession-alice-tmux-1.scope",
		" of user alice kept from session 3 by pam_keepsession",
		"tmux of user  kept from session 3 by pam_keepsession",
		"tmux of user alice kept from session  by pam_keepsession",
		"tmux of user alice kept from session 3",
		"tmux of user alice kept from session 3 by pam_keepsession!",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(ks_kept_parse_description(bad[i], &program, &user, &session),
				 -EINVAL);
		assert_null(program);
		assert_null(user);
		assert_null(session);
	}
}

static void test_count_procs(void **state)
{
	char *dir = scratch_dir(), *sub, *procs;

	(void)state;
	assert_non_null(dir);
	sub = scratch_path(dir, "k.scope");
	assert_non_null(sub);
	assert_int_equal(mkdir(sub, 0755), 0);
	procs = scratch_write(sub, "cgroup.procs", "12\n13\n14\n", 9, 0644);
	assert_non_null(procs);
	assert_int_equal(ks_kept_count_procs(dir, "/k.scope"), 3);
	assert_int_equal(ks_kept_count_procs(dir, "/gone.scope"), -ENOENT);
	assert_int_equal(ks_kept_count_procs(dir, "k.scope"), -EINVAL);
	assert_int_equal(ks_kept_count_procs(dir, "/x/../k.scope"), -EINVAL);
	free(procs);
	free(sub);
	scratch_remove(dir);
}

#define BOUND (10 * KS_USEC_PER_SEC)

static const struct fake_unit kept_units[] = {
	{
		.name = "keepsession-alice-tmux-1234.scope",
		.description = "tmux of user alice kept from session 7 by pam_keepsession",
		.cgroup = "/user.slice/user-1000.slice/keepsession-alice-tmux-1234.scope",
		.since_usec = 1700000000000000ULL,
		.runtime_max_usec = 3600 * KS_USEC_PER_SEC,
	},
	/* systemd's glob matched it, but the name is not one the module makes. */
	{ .name = "keepsession-bad name.scope", .description = "x" },
	/* Ours by name, with a description someone else wrote, no limit. */
	{
		.name = "keepsession-bob-screen-99.scope",
		.description = "something else",
		.cgroup = "",
		.runtime_max_usec = UINT64_MAX,
	},
};

static void test_list_from_manager(void **state)
{
	const struct fake_script script = { .units = kept_units, .n_units = 3 };
	struct fake_manager fm;
	struct ks_kept_list l;
	const struct fake_call *call;
	sd_bus *bus = NULL;

	(void)state;
	hang_guard(30);
	assert_int_equal(fake_manager_start(&fm, &script, &bus), 0);
	assert_int_equal(ks_kept_list(bus, ks_now_usec() + BOUND, &l), 2);
	bus = sd_bus_close_unref(bus);
	assert_int_equal(fake_manager_stop(&fm), 0);
	alarm(0);

	call = fake_call_find(fm.rec, "ListUnitsByPatterns", 0);
	assert_non_null(call);
	assert_string_equal(call->arg0, "keepsession-*.scope");
	assert_string_equal(call->arg1, "active,activating,deactivating");

	assert_string_equal(l.v[0].unit, "keepsession-alice-tmux-1234.scope");
	assert_string_equal(l.v[0].user, "alice");
	assert_string_equal(l.v[0].program, "tmux");
	assert_string_equal(l.v[0].session, "7");
	assert_int_equal(l.v[0].pid, 1234);
	assert_string_equal(l.v[0].cgroup, kept_units[0].cgroup);
	assert_int_equal(l.v[0].since_usec, kept_units[0].since_usec);
	assert_int_equal(l.v[0].runtime_max_usec, 3600 * KS_USEC_PER_SEC);

	assert_string_equal(l.v[1].unit, "keepsession-bob-screen-99.scope");
	assert_null(l.v[1].user);
	assert_null(l.v[1].program);
	assert_null(l.v[1].cgroup);
	assert_int_equal(l.v[1].pid, 99);
	assert_int_equal(l.v[1].since_usec, 0);
	assert_int_equal(l.v[1].runtime_max_usec, UINT64_MAX);
	ks_kept_list_free(&l);
	fake_manager_free(&fm);
}

static void test_list_manager_hangs(void **state)
{
	/* No authentication at all: the list gives up at its deadline. */
	const struct fake_script script = { .no_auth = true };
	struct fake_manager fm;
	struct ks_kept_list l;
	sd_bus *bus = NULL;

	(void)state;
	hang_guard(30);
	assert_int_equal(fake_manager_start(&fm, &script, &bus), 0);
	assert_int_equal(ks_kept_list(bus, ks_now_usec() + KS_USEC_PER_SEC / 5, &l), -ETIMEDOUT);
	assert_int_equal(l.n, 0);
	bus = sd_bus_close_unref(bus);
	(void)fake_manager_stop(&fm);
	alarm(0);
	fake_manager_free(&fm);
}

static void test_stop(void **state)
{
	const struct fake_script ok = { 0 };
	const struct fake_script refuse = { .stop_error =
						    "org.freedesktop.DBus.Error.AccessDenied" };
	sd_bus_error err = SD_BUS_ERROR_NULL;
	struct fake_manager fm;
	const struct fake_call *call;
	sd_bus *bus = NULL;

	(void)state;
	hang_guard(30);
	assert_int_equal(fake_manager_start(&fm, &ok, &bus), 0);
	/* Never a unit that is not ours: refused before any call. */
	assert_int_equal(ks_kept_stop(bus, ks_now_usec() + BOUND, "session-3.scope", &err),
			 -EINVAL);
	assert_int_equal(ks_kept_stop(bus, ks_now_usec() + BOUND, "sshd.service", &err), -EINVAL);
	assert_int_equal(
		ks_kept_stop(bus, ks_now_usec() + BOUND, "keepsession-alice-tmux-1234.scope", &err),
		0);
	bus = sd_bus_close_unref(bus);
	assert_int_equal(fake_manager_stop(&fm), 0);
	assert_int_equal(fake_call_count(fm.rec, "StopUnit"), 1);
	call = fake_call_find(fm.rec, "StopUnit", 0);
	assert_string_equal(call->arg0, "keepsession-alice-tmux-1234.scope");
	assert_string_equal(call->arg1, "replace");
	fake_manager_free(&fm);

	assert_int_equal(fake_manager_start(&fm, &refuse, &bus), 0);
	assert_true(ks_kept_stop(bus, ks_now_usec() + BOUND, "keepsession-a-b-1.scope", &err) < 0);
	assert_true(sd_bus_error_has_name(&err, "org.freedesktop.DBus.Error.AccessDenied"));
	sd_bus_error_free(&err);
	bus = sd_bus_close_unref(bus);
	assert_int_equal(fake_manager_stop(&fm), 0);
	alarm(0);
	fake_manager_free(&fm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unit_names),         cmocka_unit_test(test_description),
		cmocka_unit_test(test_count_procs),        cmocka_unit_test(test_list_from_manager),
		cmocka_unit_test(test_list_manager_hangs), cmocka_unit_test(test_stop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
