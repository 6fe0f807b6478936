/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ks_bus.h"
#include "ks_busget.h"
#include "ks_cleanup.h"

int ks_bus_get(sd_bus *bus, uint64_t deadline, const char *destination, const char *path,
	       const char *interface, const char *property, const char *contents,
	       sd_bus_message **reply)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *answer = NULL;
	int r;

	*reply = NULL;
	r = ks_bus_get_property(bus, deadline, destination, path, interface, property, &answer);
	if (r < 0)
		return r;
	if (sd_bus_message_enter_container(answer, 'v', contents) <= 0)
		return -EBADMSG;
	*reply = TAKE_PTR(answer);
	return 0;
}

int ks_bus_get_basic(sd_bus *bus, uint64_t deadline, const char *destination, const char *path,
		     const char *interface, const char *property, char type, void *value)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	const char contents[2] = { type, '\0' };
	int r;

	r = ks_bus_get(bus, deadline, destination, path, interface, property, contents, &reply);
	if (r < 0)
		return r;
	return sd_bus_message_read_basic(reply, type, value) > 0 ? 0 : -EBADMSG;
}

int ks_bus_get_bool(sd_bus *bus, uint64_t deadline, const char *destination, const char *path,
		    const char *interface, const char *property, int *value)
{
	return ks_bus_get_basic(bus, deadline, destination, path, interface, property, 'b', value);
}

int ks_bus_get_u64(sd_bus *bus, uint64_t deadline, const char *destination, const char *path,
		   const char *interface, const char *property, uint64_t *value)
{
	return ks_bus_get_basic(bus, deadline, destination, path, interface, property, 't', value);
}

int ks_bus_get_string(sd_bus *bus, uint64_t deadline, const char *destination, const char *path,
		      const char *interface, const char *property, char **value)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	const char *s;
	int r;

	*value = NULL;
	r = ks_bus_get(bus, deadline, destination, path, interface, property, "s", &reply);
	if (r < 0)
		return r;
	if (sd_bus_message_read_basic(reply, 's', &s) <= 0)
		return -EBADMSG;
	*value = strdup(s);
	return *value ? 0 : -ENOMEM;
}
