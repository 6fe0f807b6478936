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
#include "ks_clock.h"
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

/* The unit the module names for user's program, pid. */
static const char *unit_of(const char *user, const char *program, pid_t pid)
{
	static char name[KS_UNIT_NAME_MAX + 1];

	assert_true(ks_scope_name(user, program, pid, name, sizeof(name)) > 0);
	return name;
}

static void test_owner_by_name(void **state)
{
	static const char jorg[] = "j\xc3\xb6rg", jurg[] = "j\xc3\xbcrg";
	char alice[80], bob[80];

	(void)state;
	/* The Description makes both "j??rg": the name tells them apart. */
	assert_int_equal(ks_kept_unit_owner(unit_of(jorg, "tmux", 100), jorg), KS_KEPT_OWNED);
	assert_int_equal(ks_kept_unit_owner(unit_of(jorg, "tmux", 100), jurg), KS_KEPT_NOT_OWNED);
	assert_int_equal(ks_kept_unit_owner(unit_of(jurg, "tmux", 101), jurg), KS_KEPT_OWNED);
	assert_int_equal(ks_kept_unit_owner(unit_of(jorg, "tmux", 100), "j??rg"),
			 KS_KEPT_NOT_OWNED);
	assert_int_equal(ks_kept_unit_owner(unit_of(jurg, "tmux", 101), "j??rg"),
			 KS_KEPT_NOT_OWNED);
	assert_int_equal(ks_kept_unit_owner(unit_of("j??rg", "tmux", 102), "j??rg"), KS_KEPT_OWNED);

	/* The Description cuts users at 63 bytes: the name does not. */
	(void)snprintf(alice, sizeof(alice), "%063d_alice", 0);
	(void)snprintf(bob, sizeof(bob), "%063d_bob", 0);
	assert_int_equal(ks_kept_unit_owner(unit_of(alice, "tmux", 102), alice), KS_KEPT_OWNED);
	assert_int_equal(ks_kept_unit_owner(unit_of(alice, "tmux", 102), bob), KS_KEPT_NOT_OWNED);
	assert_int_equal(ks_kept_unit_owner(unit_of(bob, "tmux", 103), alice), KS_KEPT_NOT_OWNED);

	/* Whole parts only: a user is no prefix of another. */
	assert_int_equal(ks_kept_unit_owner(unit_of("ab", "tmux", 1), "a"), KS_KEPT_NOT_OWNED);
	assert_int_equal(ks_kept_unit_owner(unit_of("a", "tmux", 1), "ab"), KS_KEPT_NOT_OWNED);
	assert_int_equal(ks_kept_unit_owner(unit_of("a-b", "tmux", 1), "a"), KS_KEPT_NOT_OWNED);
	/* The program part has no '-': a user's '/' (escaped '-') and a
	 * program's '-' (escaped \x2d) still split right. */
	assert_int_equal(ks_kept_unit_owner(unit_of("a", "b-c", 1), "a"), KS_KEPT_OWNED);
	assert_int_equal(ks_kept_unit_owner(unit_of("a", "b-c", 1), "a-b"), KS_KEPT_NOT_OWNED);
	assert_int_equal(ks_kept_unit_owner(unit_of("a/b", "tmux", 1), "a/b"), KS_KEPT_OWNED);
	assert_int_equal(ks_kept_unit_owner(unit_of("a/b", "tmux", 1), "a"), KS_KEPT_NOT_OWNED);
	assert_int_equal(ks_kept_unit_owner(unit_of("a", "b/tmux", 1), "a"), KS_KEPT_OWNED);
	assert_int_equal(ks_kept_unit_owner(unit_of(".a", "tmux", 1), ".a"), KS_KEPT_OWNED);

	/* Not a name the module gives, or no user. */
	assert_int_equal(ks_kept_unit_owner("keepsession-alice-tmux.scope", "alice"),
			 KS_KEPT_NOT_OWNED);
	assert_int_equal(ks_kept_unit_owner("keepsession-alice-1.scope", "alice"),
			 KS_KEPT_NOT_OWNED);
	assert_int_equal(ks_kept_unit_owner("keepsession--tmux-1.scope", "alice"),
			 KS_KEPT_NOT_OWNED);
	assert_int_equal(ks_kept_unit_owner("session-3.scope", "alice"), KS_KEPT_NOT_OWNED);
	assert_int_equal(ks_kept_unit_owner(unit_of("alice", "tmux", 1), ""), KS_KEPT_NOT_OWNED);
}

static void test_owner_of_shortened_names(void **state)
{
	static const char *const pieces[] = { "x", "\xc3\xb6", "\xf0\x9f\x98\x80", "a-" };
	static const pid_t pids[] = { 1, 4194304, 2147483647 };
	char first[600], second[sizeof(first) + 8], unit[KS_UNIT_NAME_MAX + 1];
	struct ks_kept_scope s = { .unit = unit };

	(void)state;
	/* Two users alike for longer than a unit name holds: their names are
	 * cut to the same user part, and only the slice tells them apart. */
	for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++)
		for (size_t k = 0; k < sizeof(pids) / sizeof(pids[0]); k++) {
			size_t len = 0;

			/* One ASCII byte first shifts where multi-byte ones
			 * start, so cuts fall short by different amounts. */
			first[len++] = 'a';
			while (len + strlen(pieces[i]) < 300) {
				memcpy(first + len, pieces[i], strlen(pieces[i]));
				len += strlen(pieces[i]);
			}
			first[len] = '\0';
			(void)snprintf(second, sizeof(second), "%s_bob", first);
			(void)snprintf(first + len, sizeof(first) - len, "_alice");
			(void)snprintf(unit, sizeof(unit), "%s",
				       unit_of(first, i % 2 ? "tmux" : first, pids[k]));
			assert_true(strlen(unit) >= KS_KEPT_SHORTENED_MIN);
			assert_int_equal(ks_kept_unit_owner(unit, first), KS_KEPT_OWNED_UNSURE);
			assert_int_equal(ks_kept_unit_owner(unit, second), KS_KEPT_OWNED_UNSURE);
			assert_int_equal(ks_kept_unit_owner(unit, "alice"), KS_KEPT_NOT_OWNED);

			s.slice = "user-1001.slice";
			assert_int_equal(ks_kept_scope_owner(&s, first, 1001), KS_KEPT_OWNED);
			assert_int_equal(ks_kept_scope_owner(&s, second, 1002),
					 KS_KEPT_OWNED_UNSURE);
			assert_int_equal(ks_kept_scope_owner(&s, first, (uid_t)-1),
					 KS_KEPT_OWNED_UNSURE);
			s.slice = "user.slice"; /* systemd < 240: shared by all */
			assert_int_equal(ks_kept_scope_owner(&s, first, 1001),
					 KS_KEPT_OWNED_UNSURE);
			s.slice = NULL;
			assert_int_equal(ks_kept_scope_owner(&s, first, 1001),
					 KS_KEPT_OWNED_UNSURE);
		}

	/* A short user stays whole when a long program is cut. */
	memset(first, 'p', 300);
	first[300] = '\0';
	(void)snprintf(unit, sizeof(unit), "%s", unit_of("alice", first, 2147483647));
	assert_true(strlen(unit) >= KS_KEPT_SHORTENED_MIN);
	assert_int_equal(ks_kept_unit_owner(unit, "alice"), KS_KEPT_OWNED);
	assert_int_equal(ks_kept_unit_owner(unit, "alicea"), KS_KEPT_NOT_OWNED);

	/* The slice never makes another user's name the user's. */
	(void)snprintf(unit, sizeof(unit), "%s", unit_of("j\xc3\xb6rg", "tmux", 5));
	s.slice = "user-1000.slice";
	assert_int_equal(ks_kept_scope_owner(&s, "j\xc3\xb6rg", 1000), KS_KEPT_OWNED);
	assert_int_equal(ks_kept_scope_owner(&s, "j\xc3\xbcrg", 1000), KS_KEPT_NOT_OWNED);
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
		cmocka_unit_test(test_unit_names),
		cmocka_unit_test(test_description),
		cmocka_unit_test(test_count_procs),
		cmocka_unit_test(test_list_from_manager),
		cmocka_unit_test(test_list_manager_hangs),
		cmocka_unit_test(test_stop),
		cmocka_unit_test(test_owner_by_name),
		cmocka_unit_test(test_owner_of_shortened_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
