/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The mover's requests to the manager: StartTransientUnit with the scope's
 * properties for the manager's version, and AttachProcessesToUnit. */
#ifndef KS_SCOPEMSG_H
#define KS_SCOPEMSG_H

#include <stdbool.h>
#include <systemd/sd-bus.h>

#include "ks_mover.h"

/* StartTransientUnit(r->unit, "fail", properties) in slice, for a manager
 * of the given major version (0: unknown); the processes as PIDFDs where
 * r has them and use_pidfds, else as PIDs. Returns 0 or -errno. */
int ks_scope_message_start(sd_bus *bus, unsigned version, const struct ks_scope_request *r,
			   const char *slice, bool use_pidfds, sd_bus_message **ret);

/* AttachProcessesToUnit(unit, "", pids). Returns 0 or -errno. */
int ks_scope_message_attach(sd_bus *bus, const char *unit, const pid_t *pids, size_t n,
			    sd_bus_message **ret);

#endif
