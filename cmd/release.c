/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * keepsession release UNIT... | --user USER: stops kept scopes (root only).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "keepsession.h"
#include "ks_bus.h"
#include "ks_cleanup.h"
#include "ks_clock.h"

static int stop_one(sd_bus *bus, uint64_t deadline, const char *unit)
{
	_cleanup_(sd_bus_error_free) sd_bus_error err = SD_BUS_ERROR_NULL;
	int r;

	r = ks_kept_stop(bus, deadline, unit, &err);
	if (r < 0)
		return cmd_error(EXIT_PROBLEM, "cannot stop %s: %s", unit,
				 err.message ? err.message : strerror(-r));
	printf("stopped %s\n", unit);
	return 0;
}

int cmd_release(int argc, char **argv, const char *user)
{
	uint64_t deadline = ks_now_usec() + BUS_BOUND_USEC;
	_cleanup_(ks_kept_list_free) struct ks_kept_list l = { 0 };
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	size_t matched = 0;
	uid_t uid = (uid_t)-1;
	int r, ret = 0;

	if (geteuid() != 0)
		return cmd_error(EXIT_PROBLEM, "release: only root may stop kept scopes");
	if (!user && argc == 0)
		return cmd_error(EXIT_USAGE, "release: name a unit or --user USER");
	for (int i = 0; i < argc; i++)
		if (!ks_kept_unit_name_valid(argv[i]))
			return cmd_error(EXIT_USAGE,
					 "release: %s is not a keepsession-*.scope unit", argv[i]);
	if (user) {
		uid = cmd_uid_of_user(user);
		r = cmd_list_scopes(&l, true);
		if (r < 0)
			return cmd_error(EXIT_PROBLEM,
					 "cannot list the kept scopes from systemd: %s",
					 strerror(-r));
	}
	r = ks_bus_open_manager(&bus);
	if (r < 0)
		return cmd_error(EXIT_PROBLEM, "cannot connect to systemd: %s", strerror(-r));
	for (int i = 0; i < argc; i++)
		if (stop_one(bus, deadline, argv[i]))
			ret = EXIT_PROBLEM;
	for (size_t i = 0; i < l.n; i++) {
		if (!cmd_scope_of_user(&l.v[i], user, uid))
			continue;
		matched++;
		if (stop_one(bus, deadline, l.v[i].unit))
			ret = EXIT_PROBLEM;
	}
	if (user && ret == 0 && matched == 0)
		printf("no kept scopes of %s\n", user);
	return ret;
}
