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
#include "ks_clock.h"
#include "ks_strlist.h"
#include "ks_unitlist.h"
#include "logcap.h"

#define BOUND (10 * KS_USEC_PER_SEC)

static const struct fake_unit units[] = {
	{ .name = "keepsession-alice-tmux-1.scope", .description = "a" },
	{ .name = "keepsession-alice-screen-2.scope", .description = "b" },
	{ .name = "keepsession-bob-tmux-3.scope", .description = "c" },
};

/* Collects names until max, then refuses the next one. */
struct collector {
	struct ks_strlist names;
	size_t max;
};

static int collect(void *ctx, const char *name, const char *object_path)
{
	struct collector *c = ctx;

	assert_non_null(object_path);
	assert_true(object_path[0] == '/');
	if (c->names.n >= c->max)
		return -E2BIG;
	return ks_strlist_add(&c->names, name, strlen(name));
}

static void run_list(const struct fake_script *script, struct collector *c, int expected)
{
	static const char *const states[] = { "active", "activating", "reloading", NULL };
	struct fake_manager fm;
	const struct fake_call *call;
	sd_bus *bus = NULL;

	hang_guard(30);
	assert_int_equal(fake_manager_start(&fm, script, &bus), 0);
	assert_int_equal(
		ks_unit_list(bus, ks_now_usec() + BOUND, states, "keepsession-*.scope", collect, c),
		expected);
	bus = sd_bus_close_unref(bus);
	assert_int_equal(fake_manager_stop(&fm), 0);
	alarm(0);
	call = fake_call_find(fm.rec, "ListUnitsByPatterns", 0);
	assert_non_null(call);
	assert_string_equal(call->arg0, "keepsession-*.scope");
	assert_string_equal(call->arg1, "active,activating,reloading");
	fake_manager_free(&fm);
}

static void test_list_visits_each_unit(void **state)
{
	const struct fake_script script = { .units = units, .n_units = 3 };
	struct collector c = { .max = 10 };

	(void)state;
	run_list(&script, &c, 0);
	assert_int_equal(c.names.n, 3);
	assert_string_equal(c.names.v[0], "keepsession-alice-tmux-1.scope");
	assert_string_equal(c.names.v[2], "keepsession-bob-tmux-3.scope");
	ks_strlist_clear(&c.names);
}

static void test_list_visit_error_ends_walk(void **state)
{
	const struct fake_script script = { .units = units, .n_units = 3 };
	struct collector c = { .max = 2 };

	(void)state;
	/* The visitor's error is the walk's, and what it took stays taken. */
	run_list(&script, &c, -E2BIG);
	assert_int_equal(c.names.n, 2);
	ks_strlist_clear(&c.names);
}

static void test_list_empty(void **state)
{
	const struct fake_script script = { 0 };
	struct collector c = { .max = 10 };

	(void)state;
	run_list(&script, &c, 0);
	assert_int_equal(c.names.n, 0);
}

/* The guard stops without asking for systemd's message: a refusal is
 * still an error (test_kept.c checks the call itself, through
 * ks_kept_stop). */
static void test_stop_without_error_message(void **state)
{
	const struct fake_script refuse = { .stop_error =
						    "org.freedesktop.DBus.Error.AccessDenied" };
	struct fake_manager fm;
	sd_bus *bus = NULL;

	(void)state;
	hang_guard(30);
	assert_int_equal(fake_manager_start(&fm, &refuse, &bus), 0);
	assert_int_equal(ks_unit_stop(bus, ks_now_usec() + BOUND, "x.scope", NULL), -EACCES);
	bus = sd_bus_close_unref(bus);
	assert_int_equal(fake_manager_stop(&fm), 0);
	alarm(0);
	assert_int_equal(fake_call_count(fm.rec, "StopUnit"), 1);
	fake_manager_free(&fm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_visits_each_unit),
		cmocka_unit_test(test_list_visit_error_ends_walk),
		cmocka_unit_test(test_list_empty),
		cmocka_unit_test(test_stop_without_error_message),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
