/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Bounded D-Bus property reads (Properties.Get) for the keepsession command
 * and the stop guard: one CLOCK_MONOTONIC deadline for every call. */
#ifndef KS_BUSGET_H
#define KS_BUSGET_H

#include <stdint.h>
#include <systemd/sd-bus.h>

#include "ks_bus.h"

/*
 * Bounded property reads for the keepsession command and the stop guard:
 * the connection is completed and every call answered within one
 * CLOCK_MONOTONIC deadline (ks_now_usec()), never sd-bus's 25 s default.
 */

/* org.freedesktop.DBus.Properties.Get: *reply is left inside the variant
 * of the given contents signature ("b", "t", "s", "as"); a variant of
 * another type is -EBADMSG. The caller exits the container (or just
 * unrefs the reply). */
int ks_bus_get(sd_bus *bus, uint64_t deadline, const char *destination, const char *path,
	       const char *interface, const char *property, const char *contents,
	       sd_bus_message **reply);

/* A property of a basic type ('u', 't', 'b'...) into value. */
int ks_bus_get_basic(sd_bus *bus, uint64_t deadline, const char *destination, const char *path,
		     const char *interface, const char *property, char type, void *value);
int ks_bus_get_bool(sd_bus *bus, uint64_t deadline, const char *destination, const char *path,
		    const char *interface, const char *property, int *value);
int ks_bus_get_u64(sd_bus *bus, uint64_t deadline, const char *destination, const char *path,
		   const char *interface, const char *property, uint64_t *value);
/* *value is malloc'd. */
int ks_bus_get_string(sd_bus *bus, uint64_t deadline, const char *destination, const char *path,
		      const char *interface, const char *property, char **value);

#endif
