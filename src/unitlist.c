/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>

#include "ks_cleanup.h"
#include "ks_bus.h"
#include "ks_unitlist.h"

#define SYSTEMD_SERVICE "org.freedesktop.systemd1"
#define SYSTEMD_PATH "/org/freedesktop/systemd1"
#define MANAGER_IFACE "org.freedesktop.systemd1.Manager"

static int list_call(sd_bus *bus, uint64_t deadline, const char *const *states, const char *pattern,
		     sd_bus_message **reply)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
	const char *const patterns[] = { pattern, NULL };
	int r;

	r = sd_bus_message_new_method_call(bus, &msg, SYSTEMD_SERVICE, SYSTEMD_PATH, MANAGER_IFACE,
					   "ListUnitsByPatterns");
	if (r >= 0)
		r = sd_bus_message_append_strv(msg, (char **)states);
	if (r >= 0)
		r = sd_bus_message_append_strv(msg, (char **)patterns);
	if (r >= 0)
		r = ks_bus_call(bus, deadline, msg, NULL, reply);
	return r < 0 ? r : 0;
}

int ks_unit_list(sd_bus *bus, uint64_t deadline, const char *const *states, const char *pattern,
		 ks_unit_visit visit, void *ctx)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	int r;

	r = list_call(bus, deadline, states, pattern, &reply);
	if (r < 0)
		return r;
	r = sd_bus_message_enter_container(reply, 'a', "(ssssssouso)");
	if (r < 0)
		return r;
	for (;;) {
		const char *name, *path;

		r = sd_bus_message_read(reply, "(ssssssouso)", &name, NULL, NULL, NULL, NULL, NULL,
					&path, NULL, NULL, NULL);
		if (r <= 0)
			return r;
		r = visit(ctx, name, path);
		if (r < 0)
			return r;
	}
}

int ks_unit_stop(sd_bus *bus, uint64_t deadline, const char *unit, sd_bus_error *error)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL, *reply = NULL;
	int r;

	r = sd_bus_message_new_method_call(bus, &msg, SYSTEMD_SERVICE, SYSTEMD_PATH, MANAGER_IFACE,
					   "StopUnit");
	if (r >= 0)
		r = sd_bus_message_append(msg, "ss", unit, "replace");
	if (r >= 0)
		r = ks_bus_call(bus, deadline, msg, error, &reply);
	return r < 0 ? r : 0;
}
