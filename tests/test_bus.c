/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The bus unit: opening connections without blocking, bounded calls
 * sent one at a time or together, the manager's version, bus text. */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "busenv.h"
#include "ks_bus.h"
#include "ks_logind.h"

static void test_version_parse(void **state)
{
	static const struct {
		const char *s;
		int r;
		unsigned major;
	} cases[] = {
		{ "252.39-1~deb12u2", 0, 252 },
		{ "systemd 247 (247.3-7)", 0, 247 },
		{ "v255-stable", 0, 255 },
		{ "257", 0, 257 },
		{ "256~rc3", 0, 256 },
		{ "239 (239-78.el8)", 0, 239 },
		{ "4294967295", 0, 4294967295U },
		{ "4294967296", -ERANGE, 0 },
		{ "99999999999999999999999", -ERANGE, 0 },
		{ "", -EINVAL, 0 },
		{ "systemd", -EINVAL, 0 },
		{ "systemd ", -EINVAL, 0 },
		{ "v", -EINVAL, 0 },
		{ "garbage", -EINVAL, 0 },
		{ "25x", -EINVAL, 0 },
		{ " 252", -EINVAL, 0 },
		{ "-252", -EINVAL, 0 },
		{ "0", -EINVAL, 0 },
		{ "vv252", -EINVAL, 0 },
	};
	unsigned major;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		major = 7;
		int r = ks_manager_version_parse(cases[i].s, &major);

		if (r != cases[i].r)
			fail_msg("\"%s\": got %d, want %d", cases[i].s, r, cases[i].r);
		assert_int_equal(major, cases[i].r == 0 ? cases[i].major : 7);
	}
	assert_int_equal(ks_manager_version_parse(NULL, &major), -EINVAL);
}

static void test_now_monotonic(void **state)
{
	uint64_t a, b;

	(void)state;
	a = ks_now_usec();
	b = ks_now_usec();
	assert_true(a > 0);
	assert_true(b >= a);
}

static void test_open_invalid_arguments(void **state)
{
	(void)state;
	assert_int_equal(ks_bus_open_system(NULL), -EINVAL);
	assert_int_equal(ks_bus_open_manager(NULL), -EINVAL);
}

/* ---- opening the system bus does not block ---- */

/* A socket that accepts connections (the kernel's backlog does) but never
 * speaks: the worst a wedged dbus-daemon can do. */
static void test_system_bus_silent_bounded(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[] = "/tmp/test_mover.XXXXXX", address[sizeof(sa.sun_path) + 16];
	const char *saved = getenv("DBUS_SYSTEM_BUS_ADDRESS");
	char *saved_copy = saved ? strdup(saved) : NULL;
	struct ks_mover *m = NULL;
	struct capture cap = { 0 };
	struct ks_log log = { capture_sink, &cap, true };
	sd_bus *bus = NULL;
	uint64_t t0;
	int fd, r;

	(void)state;
	assert_non_null(mkdtemp(dir));
	(void)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/bus", dir);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 8), 0);
	(void)snprintf(address, sizeof(address), "unix:path=%s", sa.sun_path);
	assert_int_equal(setenv("DBUS_SYSTEM_BUS_ADDRESS", address, 1), 0);

	t0 = ks_now_usec();
	assert_int_equal(ks_bus_open_system(&bus), 0);
	assert_true(ks_now_usec() - t0 < BOUND);
	assert_int_equal(sd_bus_is_bus_client(bus), 1);
	assert_int_equal(ks_mover_open(bus, ks_now_usec() + SHORT, &log, &m), -ETIMEDOUT);
	assert_true(ks_now_usec() - t0 < BOUND);
	ks_mover_free(m);
	m = NULL;
	bus = sd_bus_close_unref(bus);

	/* Nothing listening: an error, at once. */
	assert_int_equal(unlink(sa.sun_path), 0);
	t0 = ks_now_usec();
	r = ks_bus_open_system(&bus);
	if (r >= 0) {
		assert_true(ks_mover_open(bus, ks_now_usec() + LONG, &log, &m) < 0);
		ks_mover_free(m);
		m = NULL;
		bus = sd_bus_close_unref(bus);
	}
	assert_true(ks_now_usec() - t0 < BOUND);

	/* Unprivileged, or without systemd, the manager is reached through
	 * the system bus; as root on a systemd host it would be the real
	 * private socket, which this test leaves alone. */
	if (geteuid() != 0 || access("/run/systemd/private", F_OK) != 0) {
		assert_int_equal(ks_bus_open_manager(&bus), r >= 0 ? 0 : r);
		bus = sd_bus_close_unref(bus);
	}
	assert_true(ks_now_usec() - t0 < BOUND);

	close(fd);
	assert_int_equal(rmdir(dir), 0);
	if (saved_copy)
		assert_int_equal(setenv("DBUS_SYSTEM_BUS_ADDRESS", saved_copy, 1), 0);
	else
		assert_int_equal(unsetenv("DBUS_SYSTEM_BUS_ADDRESS"), 0);
	free(saved_copy);
}

/* A call queued on a connection still authenticating: sd-bus holds it
 * back until the answer. */
static sd_bus *queued_call(const struct fake_script *script, struct fake_manager *fm,
			   sd_bus_slot **slot)
{
	sd_bus *bus = NULL;
	uint64_t queued = 0;

	assert_int_equal(fake_manager_start(fm, script, &bus), 0);
	assert_true(sd_bus_call_method_async(
			    bus, slot, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
			    "org.freedesktop.DBus.Peer", "Ping", NULL, NULL, "") >= 0);
	assert_int_equal(sd_bus_get_n_queued_write(bus, &queued), 0);
	assert_true(queued > 0);
	return bus;
}

/* ks_bus_push() writes what waits for the authentication, once it is
 * answered. */
static void test_push_writes_queue(void **state)
{
	const struct fake_script script = { 0 };
	struct fake_manager fm;
	sd_bus_slot *slot = NULL;
	uint64_t queued = 1;
	sd_bus *bus;

	(void)state;
	alarm(30);
	bus = queued_call(&script, &fm, &slot);
	assert_int_equal(ks_bus_push(bus, ks_now_usec() + LONG), 0);
	assert_int_equal(sd_bus_get_n_queued_write(bus, &queued), 0);
	assert_int_equal(queued, 0);
	slot = sd_bus_slot_unref(slot);
	(void)sd_bus_close_unref(bus);
	assert_int_equal(fake_manager_stop(&fm), 0);
	alarm(0);
	fake_manager_free(&fm);
}

/* A peer that never authenticates us: ks_bus_push() gives up at its
 * deadline, the call still queued. */
static void test_push_silent_peer_bounded(void **state)
{
	const struct fake_script script = { .no_auth = true };
	struct fake_manager fm;
	sd_bus_slot *slot = NULL;
	uint64_t queued = 0, t0;
	sd_bus *bus;

	(void)state;
	alarm(30);
	bus = queued_call(&script, &fm, &slot);
	t0 = ks_now_usec();
	assert_int_equal(ks_bus_push(bus, t0 + SHORT), -ETIMEDOUT);
	assert_true(ks_now_usec() - t0 < BOUND);
	assert_int_equal(sd_bus_get_n_queued_write(bus, &queued), 0);
	assert_true(queued > 0);
	slot = sd_bus_slot_unref(slot);
	(void)sd_bus_close_unref(bus);
	(void)fake_manager_stop(&fm);
	alarm(0);
	fake_manager_free(&fm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version_parse),
		cmocka_unit_test(test_now_monotonic),
		cmocka_unit_test(test_open_invalid_arguments),
		cmocka_unit_test(test_system_bus_silent_bounded),
		cmocka_unit_test(test_push_writes_queue),
		cmocka_unit_test(test_push_silent_peer_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
