/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* systemd's units by state and name pattern, and their stop, for the stop
 * guard and keepsession: bounded calls on the caller's bus. */
#ifndef KS_UNITLIST_H
#define KS_UNITLIST_H

#include <stdint.h>
#include <systemd/sd-bus.h>

/* Called once per unit listed; a value < 0 ends the walk and is returned. */
typedef int (*ks_unit_visit)(void *ctx, const char *name, const char *object_path);

/* ListUnitsByPatterns(states (NULL-terminated), [pattern]) within the
 * deadline, then visit for each unit in the reply. Returns 0 or -errno. */
int ks_unit_list(sd_bus *bus, uint64_t deadline, const char *const *states, const char *pattern,
		 ks_unit_visit visit, void *ctx);

/* StopUnit(unit, "replace") within the deadline: the job is queued, not
 * waited for. Returns 0 or -errno; error (may be NULL) gets systemd's. */
int ks_unit_stop(sd_bus *bus, uint64_t deadline, const char *unit, sd_bus_error *error);

#endif
